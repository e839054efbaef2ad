/*
 * One cluster as pgherdctl sees it: the znodes under /<namespace>/<scope>,
 * decoded with dcs/znode.c's codecs.  Built from raw znode bytes by pure
 * functions (ctl/dcs_client.c reads them from ZooKeeper), so that tests can
 * build any cluster, broken ones included, from strings.
 *
 * Nothing read here is trusted: contents that do not decode are recorded
 * as warnings ("members/node2: member JSON: ...") and the value is treated
 * as absent (leader, status, sync, history, failover), empty ({} for
 * config, as Patroni does) or unknown (a member keeps its row, with state
 * "unknown").
 */
#ifndef PGHERD_CTL_CLUSTER_VIEW_H
#define PGHERD_CTL_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dcs/znode.h"

struct view_member {
	char *name;
	struct member_status status; /* zeroed when malformed */
	bool malformed;
	/* From conn_url: host (NULL if none) and port (5432 when the URL
	 * has none, as Patroni's conn_kwargs()). */
	char *host;
	int port;
};

struct cluster_view {
	char *scope;
	char *base; /* "/service/batman" */
	/* NULL: no initialize znode ("uninitialized"); "": bootstrapping
	 * ("initializing"); else the system identifier as text. */
	char *initialize;
	char *leader; /* NULL: no leader */
	/* /config: the object as stored ({} when it does not decode),
	 * with the znode version for compare-and-set. */
	bool has_config;
	json_t *config;
	int config_version;
	bool paused;
	bool synchronous_mode;
	bool standby_cluster;
	long long loop_wait;
	/* Cluster LSN: status optime, else optime/leader, else 0. */
	bool has_last_lsn;
	int64_t last_lsn;
	struct znode_failover failover;
	bool has_failover;
	int failover_version;
	struct znode_sync sync;
	struct znode_history history;
	struct view_member *members; /* sorted by name after view_finish() */
	size_t n_members;
	char **warnings;
	size_t n_warnings;
};

void view_init(struct cluster_view *view, const char *scope, const char *base);
void view_clear(struct cluster_view *view);

/* Each takes a znode's bytes as the ZooKeeper client hands them over
 * (data not NUL-terminated, len -1 or 0 for none). */
void view_set_initialize(struct cluster_view *view, const char *data, int len);
void view_set_leader(struct cluster_view *view, const char *data, int len);
void view_set_config(struct cluster_view *view, const char *data, int len, int version);
void view_set_status(struct cluster_view *view, const char *data, int len);
/* Legacy optime/leader: used only when there is no status. */
void view_set_optime_leader(struct cluster_view *view, const char *data, int len);
void view_set_failover(struct cluster_view *view, const char *data, int len, int version);
void view_set_sync(struct cluster_view *view, const char *data, int len);
void view_set_history(struct cluster_view *view, const char *data, int len);
void view_add_member(struct cluster_view *view, const char *name, const char *data, int len);
/* Sorts the members by name (Patroni's cluster_as_json order). */
void view_finish(struct cluster_view *view);

void view_warn(struct cluster_view *view, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

const struct view_member *view_member(const struct cluster_view *view, const char *name);
bool view_is_leader(const struct cluster_view *view, const struct view_member *member);

/* Patroni's cluster.sync.matches(name) under synchronous_mode. */
bool view_is_sync_standby(const struct cluster_view *view, const char *name);

/*
 * Host and port of a postgres:// or postgresql:// URL, as Python's
 * urlparse: [user[:password]@]host[:port][/dbname][?...], "[v6]" without
 * brackets, host lower-cased, port 5432 when absent.  False when there is
 * no host or the port is not 1-65535.  *host is malloc'd.
 */
bool view_parse_conn_url(const char *url, char **host, int *port);

#endif /* PGHERD_CTL_CLUSTER_VIEW_H */
