/*
 * The member table of `pgherdctl list` and `topology`, as patronictl's
 * output_members(): columns Member, Host, Role, State, TL, Lag in MB (and
 * Pending restart, Pending restart reason, Scheduled restart, Tags with
 * --extended or when a member has one), a leading Cluster column in tsv,
 * JSON and YAML, and the maintenance / scheduled switchover lines after a
 * framed table.  Pure: no I/O.
 */
#ifndef PGHERD_CTL_LIST_H
#define PGHERD_CTL_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl/cluster_view.h"
#include "ctl/output.h"

/* Python's round(lag_bytes / 1048576): halves go to the even neighbour. */
long long list_lag_mb(int64_t lag_bytes);

/* " Cluster: batman (7277694203142172922) " with "uninitialized" /
 * "initializing" as patronictl.  malloc'd. */
char *list_title(const struct cluster_view *view);

/* The whole output of one cluster in format (OUTPUT_TOPOLOGY: members
 * under their upstream, by the replicatefrom tag).  malloc'd. */
char *list_render(const struct cluster_view *view, enum output_format format, bool extended);

#endif /* PGHERD_CTL_LIST_H */
