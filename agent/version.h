#ifndef PGHERD_VERSION_H
#define PGHERD_VERSION_H
#define PGHERD_VERSION "0.1.0"
#endif
