/*
 * The agent: owns the configuration, the event loop's long-lived objects
 * and the member status it publishes; gathers facts from dcs/ and carries
 * out what the HA policy (ha.h) decides.
 */
#ifndef PGHERD_AGENT_H
#define PGHERD_AGENT_H

#include <stdbool.h>

struct event_base;
struct pgherd_config;
struct agent;

/* Takes ownership of config. */
struct agent *agent_new(struct event_base *base, struct pgherd_config *config);
/* Graceful stop: leave the election and close the session, so that the
 * lock and our member znode disappear at once. */
void agent_free(struct agent *agent);

#endif
