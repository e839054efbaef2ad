/*
 * `pgherdctl history`: the lines of /history as patronictl prints them,
 * columns TL, LSN, Reason, Timestamp, New Leader (lines from old Patroni
 * versions without the last two get empty cells).  Pure: no I/O.
 */
#ifndef PGHERD_CTL_HISTORY_H
#define PGHERD_CTL_HISTORY_H

#include "ctl/output.h"
#include "dcs/znode.h"

/* malloc'd, ending with a newline. */
char *history_render(const struct znode_history *history, enum output_format format);

#endif /* PGHERD_CTL_HISTORY_H */
