/*
 * pgherdctl's ZooKeeper access, through the blocking client
 * (dcs/zk_blocking.c): read a whole cluster into a cluster_view, and the
 * few writes patronictl makes directly: /config with compare-and-set,
 * /failover, and the recursive delete of `remove`.  The only ctl/ file
 * that sees ZooKeeper's API.
 *
 * Every function returns a ctl exit code after printing what went wrong:
 * UNREACHABLE when ZooKeeper does not answer, NOT_FOUND when the cluster's
 * base path does not exist, REFUSED when a write is refused (a concurrent
 * change, no permission).
 */
#ifndef PGHERD_CTL_DCS_CLIENT_H
#define PGHERD_CTL_DCS_CLIENT_H

#include "ctl/cluster_view.h"
#include "ctl/ctl.h"

/* Connect (once) to ctl->zk_hosts; ctl_load() must have succeeded. */
int dcs_open(struct ctl *ctl);
void dcs_close(struct ctl *ctl);

/* Every znode of cluster `scope` into view (initialised here; clear it
 * with view_clear() whatever the result). */
int dcs_load_cluster(struct ctl *ctl, const char *scope, struct cluster_view *view);

/* /config := text if its version is still view->config_version. */
int dcs_write_config(struct ctl *ctl, const struct cluster_view *view, const char *text);

/* /failover := text (version -1: any), created when absent. */
int dcs_write_failover(struct ctl *ctl, const struct cluster_view *view, const char *text,
		       int version);

/* Delete the cluster's base path and everything under it. */
int dcs_delete_cluster(struct ctl *ctl, const struct cluster_view *view);

/* Wait ms milliseconds while keeping the session alive (watch mode). */
void dcs_idle(struct ctl *ctl, int ms);

#endif /* PGHERD_CTL_DCS_CLIENT_H */
