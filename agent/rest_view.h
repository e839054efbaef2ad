/*
 * What the REST API answers, built from a snapshot of the agent: the
 * status JSON (GET /patroni and every health check's body), the health
 * checks' status codes, GET /cluster and GET /metrics.  Pure: the agent
 * fills struct rest_view, these functions only read it (reference
 * sections 3.2, 3.3 and 3.5 say what each field means).
 */
#ifndef PGHERD_AGENT_REST_VIEW_H
#define PGHERD_AGENT_REST_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/rest_request.h"
#include "dcs/dcs.h"
#include "pg/monitor.h"

struct rest_view {
	/* ---- this member ---- */
	const char *scope;
	const char *name;
	const char *version;		/* pgherd's, "0.1.0" */
	/* Patroni's state word: "running", "stopped", "starting", "crashed",
	 * "creating replica", ... ("unknown" when running but the status
	 * query fails). */
	const char *state;
	/* PostgreSQL answered the monitor: the fields of pg below are valid. */
	bool pg_reachable;
	const struct pg_monitor_status *pg;
	bool holds_lock;		/* dcs_is_leader() */
	bool paused;			/* config "pause" */
	bool has_system_identifier;
	uint64_t system_identifier;
	const json_t *tags;		/* the effective tags, object */
	bool pending_restart;
	const json_t *pending_restart_reason;	/* {param: {old_value, new_value}} or NULL */
	const json_t *scheduled_restart;	/* {"schedule": ISO, ...} or NULL */
	bool sync_standby;		/* listed in `sync` (synchronous mode) */
	/* When we last read the cluster from ZooKeeper, Unix seconds; 0 never. */
	int64_t dcs_last_seen_s;
	/* For /liveness: the HA loop last ran at this monotonic time, and
	 * now_ms is the same clock; ttl_s is the dynamic ttl. */
	int64_t now_ms;
	int64_t loop_last_run_ms;
	int ttl_s;

	/* ---- the cluster, from ZooKeeper (NULL members when not loaded) ---- */
	const struct dcs_cluster *cluster;
	/* status.optime: the leader's last position, for ?lag= and lag. */
	bool has_last_lsn;
	uint64_t last_lsn;
	/* The failover znode when it schedules a switchover, else NULLs. */
	const char *scheduled_switchover_at;
	const char *scheduled_switchover_from;
	const char *scheduled_switchover_to;

	/* ---- pgherd's own metrics ---- */
	const char *zookeeper_state;	/* "connected", "connecting", "expired" */
	/* Unix seconds of the last leader change this agent saw; 0 unknown. */
	int64_t last_leader_change_s;
};

/*
 * The status JSON of reference section 3.2, keys in Patroni's order:
 * state, postmaster_start_time, role ("master"/"replica"; only when
 * PostgreSQL answered), server_version, xlog (primary: {location};
 * replica: {received_location, replayed_location, replayed_timestamp,
 * paused}), timeline, replication_state (replicas), replication (the
 * primary's pg_stat_replication rows: usename is not known and omitted;
 * application_name, client_addr omitted as well, state, sync_state,
 * sync_priority 0), cluster_unlocked (only when true: no leader),
 * pause (only when true), sync_standby (only when true), dcs_last_seen,
 * tags, database_system_identifier (string), pending_restart and
 * pending_restart_reason (only when true), scheduled_restart (when set),
 * patroni {version, scope, name}.  New reference, caller json_decref()s.
 */
json_t *rest_status_json(const struct rest_view *view);

/*
 * The status code of a health check (200 or 503), by the table of
 * reference section 3.3: the primary checks by lock ownership (in pause
 * without a cluster view, by PostgreSQL's role), replica_ok = not
 * noloadbalance, role replica, state running, and when ?lag= is given
 * last_lsn - replayed <= lag; ?tag_ filters apply only where the answer
 * would otherwise be 200 and not on the primary/leader checks: every
 * filter must equal the member's tag (non-string tags compared as
 * lower-case text, "true"), a missing tag fails.
 */
int rest_health_status(const struct rest_view *view, const struct rest_request *request);

/* GET /liveness (200 if paused or the HA loop ran within ttl, 2 x ttl for a
 * replica) and GET /readiness (200 if we hold the lock, or PostgreSQL runs
 * and a cluster view is loaded). */
int rest_liveness_status(const struct rest_view *view);
int rest_readiness_status(const struct rest_view *view);

/*
 * GET /cluster: {"members": [{name, role (leader / sync_standby / replica),
 * state (replication_state for non-leaders when known), api_url, host,
 * port, timeline, pending_restart, pending_restart_reason,
 * scheduled_restart, tags, lag (bytes behind last_lsn, or "unknown";
 * omitted for the leader)}] sorted by name, "scope", "pause" (only when
 * true), "scheduled_switchover" {at, from, to} (when set)}.  Members whose
 * znode did not decode are left out.
 */
json_t *rest_cluster_json(const struct rest_view *view);

/*
 * GET /metrics: Prometheus text, Patroni's metric names of reference
 * section 3.5 each with # HELP and # TYPE and the label set
 * {scope="<scope>",name="<name>"} (label values escaped), then pgherd's
 * own: pgherd_zookeeper_connected (gauge 0/1), pgherd_last_leader_change
 * (Unix seconds, gauge; absent when unknown).  patroni_version is pgherd's
 * version zero-padded as Patroni does (0.1.0 -> 000100).  malloc'd.
 */
char *rest_metrics_text(const struct rest_view *view);

#endif
