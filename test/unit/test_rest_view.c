/*
 * What the REST API answers, table by table: the health checks' status
 * codes (reference section 3.3) from named situations (a primary holding
 * the lock, a streaming replica, ...) and a request parsed from its URI,
 * /liveness and /readiness, the status JSON and /cluster compared byte for
 * byte with what Patroni would print, and the metrics text of section 3.5.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/rest_view.h"

/* A row is a named situation followed by the facts it changes. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#define NOW_MS 5000000			/* the agent's monotonic clock */
#define LSN 0x5000000ULL		/* status.optime: 83886080 */
#define SYSID 7300000000000000001ULL

/* ---- PostgreSQL as the monitor saw it ------------------------------------ */

static const struct pg_monitor_status pg_primary = {
	.reachable = true,
	.server_version = 150004,
	.system_identifier = SYSID,
	.postmaster_start_time = "2024-01-02 03:04:05.123456+00:00",
	.timeline = 3,
	.timeline_source = PG_TIMELINE_WAL_INSERT,
	.wal_position = LSN,
	.flush_lsn = LSN,
	.standby_count = 2,
	.standbys_listed = 2,
	.standbys = { { "node2", "streaming", "async", LSN - 100, LSN - 200 },
		      { "node3", "catchup", "potential", LSN - 300, LSN - 400 } },
};

/* 200 bytes behind status.optime in replay, 100 in receive. */
static const struct pg_monitor_status pg_replica = {
	.reachable = true,
	.in_recovery = true,
	.server_version = 150004,
	.system_identifier = SYSID,
	.postmaster_start_time = "2024-01-02 03:04:05+00",
	.timeline = 3,
	.timeline_source = PG_TIMELINE_WAL_RECEIVER,
	.wal_position = LSN - 100,
	.receive_lsn = LSN - 100,
	.replay_lsn = LSN - 200,
	.last_replay_unix_ms = 1704164645123,
	.replication_state = PG_REPLICATION_STREAMING,
};

/* ---- the cluster as read from ZooKeeper ----------------------------------- */

static const struct dcs_cluster led_by_node1 = { .connected = true, .loaded = true,
						 .leader = "node1" };
static const struct dcs_cluster without_leader = { .connected = true, .loaded = true };
static const struct dcs_cluster not_loaded = { .connected = true, .leader = "node1" };

/* ---- named situations ---------------------------------------------------------- */

#define BASE                                                                            \
	.scope = "batman", .version = "0.1.0", .state = "running", .pg_reachable = true, \
	.has_system_identifier = true, .system_identifier = SYSID,                       \
	.dcs_last_seen_s = 1700000000, .now_ms = NOW_MS, .loop_last_run_ms = NOW_MS - 1000, \
	.ttl_s = 30, .cluster = &led_by_node1, .has_last_lsn = true, .last_lsn = LSN,      \
	.zookeeper_state = "connected"

/* node1: its primary runs and it holds the lock. */
#define PRIMARY BASE, .name = "node1", .pg = &pg_primary, .holds_lock = true

/* node2: a streaming replica of node1. */
#define REPLICA BASE, .name = "node2", .pg = &pg_replica

/* ---- health checks -------------------------------------------------------------- */

struct health_case {
	const char *title;
	struct rest_view view;
	const char *tags;		/* the member's tags, JSON; NULL: none */
	const char *uri;
	int status;
};

static int health_of(const struct health_case *row, char *err, size_t err_size)
{
	struct rest_view view = row->view;
	struct rest_request request;
	json_t *tags = NULL;
	int status;

	if (row->tags != NULL) {
		tags = json_loads(row->tags, 0, NULL);
		assert_non_null(tags);
		view.tags = tags;
	}
	status = rest_request_parse("GET", row->uri, false, NULL, 0, &request, err, err_size);
	assert_int_equal(status, 0);
	assert_int_equal(request.endpoint, REST_HEALTH);
	status = rest_health_status(&view, &request);
	rest_request_clear(&request);
	json_decref(tags);
	return status;
}

static void check_health(const char *table, const struct health_case *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		char err[REST_ERROR_MAX];
		int status = health_of(&cases[i], err, sizeof(err));

		if (status == cases[i].status)
			continue;
		print_error("%s, row %zu (%s): GET %s answered %d, want %d\n", table, i,
			    cases[i].title, cases[i].uri, status, cases[i].status);
		failures++;
	}
	if (failures > 0)
		fail_msg("%s: %d of %zu checks answered otherwise", table, failures, n);
}

#define CHECK_HEALTH(cases) check_health(#cases, cases, N_ELEMENTS(cases))

static const struct health_case primary_cases[] = {
	{ "primary with the lock", { PRIMARY }, NULL, "/", 200 },
	{ "primary with the lock", { PRIMARY }, NULL, "/primary", 200 },
	{ "primary with the lock", { PRIMARY }, NULL, "/master", 200 },
	{ "primary with the lock", { PRIMARY }, NULL, "/read-write", 200 },
	{ "primary with the lock", { PRIMARY }, NULL, "/leader", 200 },
	{ "no standby cluster in pgherd", { PRIMARY }, NULL, "/standby-leader", 503 },
	{ "no standby cluster in pgherd", { PRIMARY }, NULL, "/standby_leader", 503 },
	{ "a primary is no replica", { PRIMARY }, NULL, "/replica", 503 },
	{ "a primary takes reads", { PRIMARY }, NULL, "/read-only", 200 },
	{ "a primary is no sync standby", { PRIMARY }, NULL, "/sync", 503 },
	{ "a primary is no async standby", { PRIMARY }, NULL, "/async", 503 },
	{ "a primary takes sync reads", { PRIMARY }, NULL, "/read-only-sync", 200 },
	{ "a primary takes sync reads", { PRIMARY }, NULL, "/read-only-synchronous", 200 },
	{ "running", { PRIMARY }, NULL, "/health", 200 },
	{ "unknown path", { PRIMARY }, NULL, "/nothing", 503 },
	/* by the lock, not by pg_is_in_recovery() */
	{ "primary without the lock", { PRIMARY, .holds_lock = false }, NULL, "/primary", 503 },
	{ "primary without the lock", { PRIMARY, .holds_lock = false }, NULL, "/leader", 503 },
	{ "primary without the lock", { PRIMARY, .holds_lock = false }, NULL, "/read-only", 503 },
	{ "primary without the lock", { PRIMARY, .holds_lock = false }, NULL, "/health", 200 },
	{ "lock holder whose PostgreSQL is down",
	  { PRIMARY, .pg_reachable = false, .state = "stopped" }, NULL, "/primary", 200 },
	/* in pause without a view, PostgreSQL's role decides */
	{ "paused, no view, primary", { PRIMARY, .holds_lock = false, .paused = true, .cluster = NULL },
	  NULL, "/primary", 200 },
	{ "paused, no view, primary", { PRIMARY, .holds_lock = false, .paused = true, .cluster = NULL },
	  NULL, "/leader", 200 },
	{ "paused, view not loaded, primary",
	  { PRIMARY, .holds_lock = false, .paused = true, .cluster = &not_loaded }, NULL, "/primary",
	  200 },
	{ "paused, no view, replica", { REPLICA, .paused = true, .cluster = NULL }, NULL, "/primary",
	  503 },
	{ "paused, no view, PostgreSQL silent",
	  { PRIMARY, .holds_lock = false, .paused = true, .cluster = NULL, .pg_reachable = false },
	  NULL, "/primary", 503 },
	{ "paused with a view: the lock decides", { PRIMARY, .holds_lock = false, .paused = true },
	  NULL, "/primary", 503 },
	{ "not paused, no view, no lock", { PRIMARY, .holds_lock = false, .cluster = NULL }, NULL,
	  "/primary", 503 },
	/* tags are ignored on the primary/leader checks, not on read-only */
	{ "tags ignored", { PRIMARY }, "{\"zone\":\"eu\"}", "/primary?tag_zone=us", 200 },
	{ "tags ignored", { PRIMARY }, "{\"zone\":\"eu\"}", "/leader?tag_rack=1", 200 },
	{ "tags ignored", { PRIMARY }, NULL, "/?tag_zone=us", 200 },
	{ "tags apply to read-only", { PRIMARY }, "{\"zone\":\"eu\"}", "/read-only?tag_zone=us", 503 },
	{ "tags apply to read-only", { PRIMARY }, "{\"zone\":\"eu\"}", "/read-only?tag_zone=eu", 200 },
	{ "tags apply to health", { PRIMARY }, "{\"zone\":\"eu\"}", "/health?tag_zone=us", 503 },
	{ "lag does not apply to a primary", { PRIMARY }, NULL, "/primary?lag=0", 200 },
};

static const struct health_case replica_cases[] = {
	{ "streaming replica", { REPLICA }, NULL, "/replica", 200 },
	{ "streaming replica", { REPLICA }, NULL, "/read-only", 200 },
	{ "streaming replica", { REPLICA }, NULL, "/async", 200 },
	{ "streaming replica", { REPLICA }, NULL, "/asynchronous", 200 },
	{ "streaming replica", { REPLICA }, NULL, "/health", 200 },
	{ "streaming replica", { REPLICA }, NULL, "/primary", 503 },
	{ "streaming replica", { REPLICA }, NULL, "/leader", 503 },
	{ "streaming replica", { REPLICA }, NULL, "/standby-leader", 503 },
	{ "async replica", { REPLICA }, NULL, "/sync", 503 },
	{ "async replica", { REPLICA }, NULL, "/read-only-sync", 503 },
	{ "unknown path", { REPLICA }, NULL, "/nothing", 503 },
	/* synchronous standby */
	{ "sync replica", { REPLICA, .sync_standby = true }, NULL, "/sync", 200 },
	{ "sync replica", { REPLICA, .sync_standby = true }, NULL, "/synchronous", 200 },
	{ "sync replica", { REPLICA, .sync_standby = true }, NULL, "/read-only-sync", 200 },
	{ "sync replica", { REPLICA, .sync_standby = true }, NULL, "/async", 503 },
	{ "sync replica", { REPLICA, .sync_standby = true }, NULL, "/replica", 200 },
	/* sync/async need a view of the cluster; /replica does not */
	{ "no view", { REPLICA, .sync_standby = true, .cluster = NULL }, NULL, "/sync", 503 },
	{ "no view", { REPLICA, .cluster = NULL }, NULL, "/async", 503 },
	{ "no view", { REPLICA, .cluster = NULL }, NULL, "/read-only-sync", 503 },
	{ "view not loaded", { REPLICA, .cluster = &not_loaded }, NULL, "/async", 503 },
	{ "no view", { REPLICA, .cluster = NULL }, NULL, "/replica", 200 },
	{ "no view", { REPLICA, .cluster = NULL }, NULL, "/read-only", 200 },
	{ "no leader", { REPLICA, .cluster = &without_leader }, NULL, "/replica", 200 },
	/* ?lag=: status.optime - replayed (200 bytes here) <= lag */
	{ "lagging", { REPLICA }, NULL, "/replica?lag=100", 503 },
	{ "lag at the limit", { REPLICA }, NULL, "/replica?lag=200", 200 },
	{ "lag within", { REPLICA }, NULL, "/replica?lag=1kB", 200 },
	{ "lagging", { REPLICA }, NULL, "/async?lag=199", 503 },
	{ "lagging", { REPLICA }, NULL, "/read-only?lag=0", 503 },
	{ "lagging sync", { REPLICA, .sync_standby = true }, NULL, "/sync?lag=0", 503 },
	{ "bad lag: no limit", { REPLICA }, NULL, "/replica?lag=bad", 200 },
	{ "no optime: not lagging", { REPLICA, .has_last_lsn = false }, NULL, "/replica?lag=0",
	  200 },
	{ "optime behind us", { REPLICA, .last_lsn = LSN - 300 }, NULL, "/replica?lag=0", 200 },
	{ "lag is not health", { REPLICA }, NULL, "/health?lag=0", 200 },
	/* noloadbalance: Python truthiness, as Patroni */
	{ "noloadbalance", { REPLICA }, "{\"noloadbalance\":true}", "/replica", 503 },
	{ "noloadbalance", { REPLICA }, "{\"noloadbalance\":true}", "/read-only", 503 },
	{ "noloadbalance", { REPLICA }, "{\"noloadbalance\":true}", "/async", 503 },
	{ "noloadbalance", { REPLICA }, "{\"noloadbalance\":true}", "/health", 200 },
	{ "noloadbalance off", { REPLICA }, "{\"noloadbalance\":false}", "/replica", 200 },
	{ "noloadbalance 0", { REPLICA }, "{\"noloadbalance\":0}", "/replica", 200 },
	{ "noloadbalance \"\"", { REPLICA }, "{\"noloadbalance\":\"\"}", "/replica", 200 },
	{ "noloadbalance \"false\" is truthy", { REPLICA }, "{\"noloadbalance\":\"false\"}",
	  "/replica", 503 },
	/* not running */
	{ "starting", { REPLICA, .state = "starting" }, NULL, "/replica", 503 },
	{ "starting", { REPLICA, .state = "starting" }, NULL, "/health", 503 },
	{ "no state", { REPLICA, .state = NULL }, NULL, "/health", 503 },
	{ "silent PostgreSQL", { REPLICA, .pg_reachable = false, .state = "unknown" }, NULL,
	  "/replica", 503 },
	{ "running, not answering", { REPLICA, .pg_reachable = false }, NULL, "/replica", 503 },
	{ "running, no status", { REPLICA, .pg = NULL }, NULL, "/read-only", 503 },
	{ "a primary without the lock", { PRIMARY, .holds_lock = false }, NULL, "/replica", 503 },
};

#define TAGS "{\"zone\":\"eu-1\",\"nofailover\":true,\"clonefrom\":false,\"priority\":5," \
	     "\"weight\":1.5,\"big\":100.0,\"list\":[1],\"none\":null}"

static const struct health_case tag_cases[] = {
	{ "tag matches", { REPLICA }, TAGS, "/replica?tag_zone=eu-1", 200 },
	{ "tag differs", { REPLICA }, TAGS, "/replica?tag_zone=eu-2", 503 },
	{ "tag differs in case", { REPLICA }, TAGS, "/replica?tag_zone=EU-1", 503 },
	{ "tag missing", { REPLICA }, TAGS, "/replica?tag_rack=1", 503 },
	{ "tag null is missing", { REPLICA }, TAGS, "/replica?tag_none=None", 503 },
	{ "no tags at all", { REPLICA }, NULL, "/replica?tag_zone=eu-1", 503 },
	{ "percent-encoded", { REPLICA }, TAGS, "/replica?tag_zone=eu%2D1", 200 },
	{ "boolean as lower case", { REPLICA }, TAGS, "/replica?tag_nofailover=true", 200 },
	{ "boolean as lower case", { REPLICA }, TAGS, "/replica?tag_clonefrom=false", 200 },
	{ "boolean not Python's repr", { REPLICA }, TAGS, "/replica?tag_nofailover=True", 503 },
	{ "boolean not 1", { REPLICA }, TAGS, "/replica?tag_nofailover=1", 503 },
	{ "integer", { REPLICA }, TAGS, "/replica?tag_priority=5", 200 },
	{ "integer differs", { REPLICA }, TAGS, "/replica?tag_priority=05", 503 },
	{ "real", { REPLICA }, TAGS, "/replica?tag_weight=1.5", 200 },
	{ "real as Python prints it", { REPLICA }, TAGS, "/replica?tag_big=100.0", 200 },
	{ "real as Python prints it", { REPLICA }, TAGS, "/replica?tag_big=100", 503 },
	{ "a list never matches", { REPLICA }, TAGS, "/replica?tag_list=[1]", 503 },
	{ "every filter must match", { REPLICA }, TAGS, "/replica?tag_zone=eu-1&tag_priority=5",
	  200 },
	{ "every filter must match", { REPLICA }, TAGS, "/replica?tag_zone=eu-1&tag_priority=6",
	  503 },
	{ "first value of a name", { REPLICA }, TAGS, "/replica?tag_zone=eu-1&tag_zone=x", 200 },
	{ "filters on async", { REPLICA }, TAGS, "/async?tag_zone=x", 503 },
	{ "filters on sync", { REPLICA, .sync_standby = true }, TAGS, "/sync?tag_zone=eu-1", 200 },
	{ "filters on read-only-sync", { REPLICA, .sync_standby = true }, TAGS,
	  "/read-only-sync?tag_zone=x", 503 },
	{ "filters do not turn 503 into 200", { REPLICA, .state = "stopped" }, TAGS,
	  "/replica?tag_zone=eu-1", 503 },
	{ "filters on an unknown path", { REPLICA }, TAGS, "/nothing?tag_zone=eu-1", 503 },
	{ "noloadbalance as a filter", { REPLICA }, "{\"noloadbalance\":false}",
	  "/replica?tag_noloadbalance=false", 200 },
	{ "tag_ alone", { REPLICA }, TAGS, "/replica?tag_=x", 503 },
};

static void test_health_primary(void **state)
{
	(void)state;
	CHECK_HEALTH(primary_cases);
}

static void test_health_replica(void **state)
{
	(void)state;
	CHECK_HEALTH(replica_cases);
}

static void test_health_tags(void **state)
{
	(void)state;
	CHECK_HEALTH(tag_cases);
}

/* ---- /liveness and /readiness ---------------------------------------------------- */

struct probe_case {
	const char *title;
	struct rest_view view;
	int liveness;
	int readiness;
};

static const struct probe_case probe_cases[] = {
	{ "primary, loop ran 1 s ago", { PRIMARY }, 200, 200 },
	{ "primary, loop ran 29.9 s ago", { PRIMARY, .loop_last_run_ms = NOW_MS - 29900 }, 200,
	  200 },
	{ "primary, loop ran 30 s ago", { PRIMARY, .loop_last_run_ms = NOW_MS - 30000 }, 503, 200 },
	{ "replica, loop ran 31 s ago", { REPLICA, .loop_last_run_ms = NOW_MS - 31000 }, 200, 200 },
	{ "replica, loop ran 59 s ago", { REPLICA, .loop_last_run_ms = NOW_MS - 59000 }, 200, 200 },
	{ "replica, loop ran 60 s ago", { REPLICA, .loop_last_run_ms = NOW_MS - 60000 }, 503, 200 },
	{ "primary stopped: a replica's limit",
	  { PRIMARY, .state = "stopped", .pg_reachable = false, .loop_last_run_ms = NOW_MS - 31000 },
	  200, 200 },
	{ "paused, loop stuck", { REPLICA, .paused = true, .loop_last_run_ms = 0 }, 200, 200 },
	{ "ttl 10", { REPLICA, .ttl_s = 10, .loop_last_run_ms = NOW_MS - 21000 }, 503, 200 },
	{ "lock holder, PostgreSQL stopped", { PRIMARY, .state = "stopped" }, 200, 200 },
	{ "replica without a view", { REPLICA, .cluster = NULL }, 200, 503 },
	{ "replica, view not loaded", { REPLICA, .cluster = &not_loaded }, 200, 503 },
	{ "replica starting", { REPLICA, .state = "starting" }, 200, 503 },
	{ "replica in a cluster without leader", { REPLICA, .cluster = &without_leader }, 200,
	  200 },
};

static void test_liveness_readiness(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(probe_cases); i++) {
		const struct probe_case *row = &probe_cases[i];
		int live = rest_liveness_status(&row->view);
		int ready = rest_readiness_status(&row->view);

		if (live == row->liveness && ready == row->readiness)
			continue;
		print_error("row %zu (%s): liveness %d readiness %d, want %d %d\n", i, row->title,
			    live, ready, row->liveness, row->readiness);
		failures++;
	}
	if (failures > 0)
		fail_msg("%d of %zu probes answered otherwise", failures, N_ELEMENTS(probe_cases));
}

/* ---- status JSON -------------------------------------------------------------------- */

/* Compact JSON in insertion order: the keys' order is part of the check. */
static void assert_json(json_t *value, const char *expected)
{
	char *text;
	bool equal;

	assert_non_null(value);
	text = json_dumps(value, JSON_COMPACT);
	json_decref(value);
	assert_non_null(text);
	equal = strcmp(text, expected) == 0;
	if (!equal)
		print_error("got:  %s\nwant: %s\n", text, expected);
	free(text);
	assert_true(equal);
}

static void test_status_primary(void **state)
{
	json_t *tags = json_loads("{\"zone\":\"eu\"}", 0, NULL);
	struct rest_view view = { PRIMARY, .tags = tags };

	(void)state;
	assert_json(rest_status_json(&view),
		    "{\"state\":\"running\","
		    "\"postmaster_start_time\":\"2024-01-02 03:04:05.123456+00:00\","
		    "\"role\":\"master\",\"server_version\":150004,"
		    "\"xlog\":{\"location\":83886080},\"timeline\":3,"
		    "\"replication\":["
		    "{\"application_name\":\"node2\",\"state\":\"streaming\","
		    "\"sync_state\":\"async\",\"sync_priority\":0},"
		    "{\"application_name\":\"node3\",\"state\":\"catchup\","
		    "\"sync_state\":\"potential\",\"sync_priority\":0}],"
		    "\"dcs_last_seen\":1700000000,\"tags\":{\"zone\":\"eu\"},"
		    "\"database_system_identifier\":\"7300000000000000001\","
		    "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"batman\",\"name\":\"node1\"}}");
	json_decref(tags);
}

static void check_replayed_timestamp(const struct rest_view *view, const char *expected)
{
	json_t *status = rest_status_json(view);
	const char *stamp;
	bool equal;

	assert_non_null(status);
	stamp = json_string_value(json_object_get(json_object_get(status, "xlog"),
						  "replayed_timestamp"));
	equal = stamp != NULL && strcmp(stamp, expected) == 0;
	if (!equal)
		print_error("replayed_timestamp %s, want %s\n", stamp != NULL ? stamp : "(none)",
			    expected);
	json_decref(status);
	assert_true(equal);
}

static void test_status_replica(void **state)
{
	struct pg_monitor_status pg = pg_replica;
	struct rest_view view = { REPLICA, .pg = &pg, .has_system_identifier = false };

	(void)state;
	assert_json(rest_status_json(&view),
		    "{\"state\":\"running\",\"postmaster_start_time\":\"2024-01-02 03:04:05+00\","
		    "\"role\":\"replica\",\"server_version\":150004,"
		    "\"xlog\":{\"received_location\":83885980,\"replayed_location\":83885880,"
		    "\"replayed_timestamp\":\"2024-01-02 03:04:05.123000+00:00\",\"paused\":false},"
		    "\"timeline\":3,\"replication_state\":\"streaming\","
		    "\"dcs_last_seen\":1700000000,"
		    "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"batman\",\"name\":\"node2\"}}");

	/* Python's str(): microseconds always six digits, none when zero */
	pg.last_replay_unix_ms = 1704164645005;
	check_replayed_timestamp(&view, "2024-01-02 03:04:05.005000+00:00");
	pg.last_replay_unix_ms = 1704164645000;
	check_replayed_timestamp(&view, "2024-01-02 03:04:05+00:00");

	/* nothing replayed yet, nothing received, paused, in archive recovery,
	 * timeline unknown, sync standby */
	pg.last_replay_unix_ms = 0;
	pg.receive_lsn = 0;
	pg.replay_paused = true;
	pg.replication_state = PG_REPLICATION_ARCHIVE_RECOVERY;
	pg.timeline = 0;
	pg.postmaster_start_time[0] = '\0';
	view.sync_standby = true;
	assert_json(rest_status_json(&view),
		    "{\"state\":\"running\",\"postmaster_start_time\":null,"
		    "\"role\":\"replica\",\"server_version\":150004,"
		    "\"xlog\":{\"received_location\":83885880,\"replayed_location\":83885880,"
		    "\"replayed_timestamp\":null,\"paused\":true},"
		    "\"timeline\":null,\"replication_state\":\"in archive recovery\","
		    "\"sync_standby\":true,\"dcs_last_seen\":1700000000,"
		    "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"batman\",\"name\":\"node2\"}}");
}

/* PostgreSQL silent, no leader, and every key that is there only when set. */
static void test_status_optional_keys(void **state)
{
	json_t *reason = json_loads("{\"max_connections\":{\"old_value\":\"100\","
				    "\"new_value\":\"200\"}}", 0, NULL);
	json_t *restart = json_loads("{\"schedule\":\"2030-01-01T00:00:00+00:00\","
				     "\"postmaster_start_time\":\"x\",\"role\":\"replica\"}", 0, NULL);
	json_t *empty_tags = json_object();
	struct rest_view view = { REPLICA, .state = "stopped", .pg_reachable = false,
				  .cluster = &without_leader, .paused = true, .sync_standby = true,
				  .pending_restart = true, .pending_restart_reason = reason,
				  .scheduled_restart = restart, .tags = empty_tags,
				  .dcs_last_seen_s = 0 };

	(void)state;
	assert_json(rest_status_json(&view),
		    "{\"state\":\"stopped\",\"cluster_unlocked\":true,\"pause\":true,"
		    "\"sync_standby\":true,\"dcs_last_seen\":0,"
		    "\"database_system_identifier\":\"7300000000000000001\","
		    "\"pending_restart\":true,\"pending_restart_reason\":{\"max_connections\":"
		    "{\"old_value\":\"100\",\"new_value\":\"200\"}},"
		    "\"scheduled_restart\":{\"schedule\":\"2030-01-01T00:00:00+00:00\","
		    "\"role\":\"replica\"},"
		    "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"batman\",\"name\":\"node2\"}}");
	/* the view's objects are copied, not changed */
	assert_non_null(json_object_get(restart, "postmaster_start_time"));
	assert_int_equal(restart->refcount, 1);

	/* no view at all: unlocked; no state: "unknown" */
	view.cluster = NULL;
	view.state = NULL;
	view.paused = false;
	view.sync_standby = false;
	view.pending_restart = false;
	view.scheduled_restart = NULL;
	view.has_system_identifier = false;
	assert_json(rest_status_json(&view),
		    "{\"state\":\"unknown\",\"cluster_unlocked\":true,\"dcs_last_seen\":0,"
		    "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"batman\",\"name\":\"node2\"}}");
	json_decref(reason);
	json_decref(restart);
	json_decref(empty_tags);
}

/* Bytes from PostgreSQL that are not UTF-8 do not fail the answer. */
static void test_status_odd_bytes(void **state)
{
	struct pg_monitor_status pg = pg_primary;
	struct rest_view view = { PRIMARY, .pg = &pg, .version = NULL };
	json_t *status;
	char *rows;

	(void)state;
	pg.standbys_listed = 1;
	memcpy(pg.standbys[0].application_name, "n\xff\xfe" "2", 5);
	/* a full field without its NUL */
	memset(pg.standbys[0].sync_state, 'a', sizeof(pg.standbys[0].sync_state));
	status = rest_status_json(&view);
	assert_non_null(status);
	rows = json_dumps(json_object_get(status, "replication"), JSON_COMPACT);
	assert_non_null(rows);
	assert_string_equal(rows, "[{\"application_name\":\"n??2\",\"state\":\"streaming\","
				  "\"sync_state\":\"aaaaaaaaaaaaaaaa\",\"sync_priority\":0}]");
	assert_true(json_is_null(json_object_get(json_object_get(status, "patroni"), "version")));
	free(rows);
	json_decref(status);
}

/* ---- GET /cluster -------------------------------------------------------------------- */

struct cluster_fixture {
	struct dcs_member members[6];
	struct dcs_cluster cluster;
	json_t *objects[5];
};

static struct cluster_fixture *cluster_fixture(void)
{
	struct cluster_fixture *f = calloc(1, sizeof(*f));
	struct dcs_member *m;

	assert_non_null(f);
	f->objects[0] = json_loads("{}", 0, NULL);
	f->objects[1] = json_loads("{\"zone\":\"eu\",\"nofailover\":true}", 0, NULL);
	f->objects[2] = json_loads("{\"shared_buffers\":{\"old_value\":\"128MB\","
				   "\"new_value\":\"1GB\"}}", 0, NULL);
	f->objects[3] = json_loads("{\"schedule\":\"2030-01-01T00:00:00+00:00\"}", 0, NULL);
	f->objects[4] = json_loads("{\"zone\":\"us\"}", 0, NULL);
	for (size_t i = 0; i < N_ELEMENTS(f->objects); i++)
		assert_non_null(f->objects[i]);

	/* out of order on purpose: the answer is sorted by name */
	m = &f->members[0];
	*m = (struct dcs_member){ .name = "node3", .valid = true };
	m->status = (struct member_status){ .conn_url = "postgres://[::1]:5434/postgres",
					    .api_url = "http://[::1]:8010/patroni",
					    .state = "stopped", .role = "replica",
					    .version = "3.3.1" };
	m = &f->members[1];
	*m = (struct dcs_member){ .name = "node1", .valid = true };
	m->status = (struct member_status){ .conn_url = "postgres://10.0.0.1:5432/postgres",
					    .api_url = "http://10.0.0.1:8008/patroni",
					    .state = "running", .role = "master", .version = "3.3.1",
					    .tags = f->objects[0], .has_xlog_location = true,
					    .xlog_location = (int64_t)LSN, .has_timeline = true,
					    .timeline = 3,
					    /* the leader's replication_state is not shown */
					    .replication_state = "streaming" };
	m = &f->members[2];
	*m = (struct dcs_member){ .name = "node0", .valid = false };
	m = &f->members[3];
	*m = (struct dcs_member){ .name = "node4", .valid = true };
	m->status = (struct member_status){ .conn_url = "postgres://user:pw@Host4.Example/postgres",
					    .state = "running", .role = "replica",
					    .version = "0.1.0", .has_xlog_location = true,
					    .xlog_location = (int64_t)LSN + 50,
					    .replication_state = "" };
	m = &f->members[4];
	*m = (struct dcs_member){ .name = "node2", .valid = true };
	m->status = (struct member_status){ .conn_url = "postgres://Node2.Example:5433/postgres",
					    .api_url = "http://node2:8009/patroni",
					    .state = "running", .role = "replica", .version = "0.1.0",
					    .tags = f->objects[1], .pending_restart = true,
					    .pending_restart_reason = f->objects[2],
					    .has_xlog_location = true,
					    .xlog_location = (int64_t)LSN - 100,
					    .replication_state = "streaming", .has_timeline = true,
					    .timeline = 3, .scheduled_restart = f->objects[3] };
	m = &f->members[5];
	*m = (struct dcs_member){ .name = "node5", .valid = true };
	m->status = (struct member_status){ .conn_url = "postgres://node5:99999/postgres",
					    .api_url = "http://node5:8008/patroni",
					    .state = "running", .role = "replica", .version = "0.1.0",
					    .tags = f->objects[4], .has_xlog_location = true,
					    .xlog_location = 0,
					    .replication_state = "in archive recovery" };
	f->cluster = (struct dcs_cluster){ .connected = true, .loaded = true, .leader = "node1",
					   .members = f->members,
					   .member_count = N_ELEMENTS(f->members) };
	return f;
}

static void free_cluster_fixture(struct cluster_fixture *f)
{
	for (size_t i = 0; i < N_ELEMENTS(f->objects); i++)
		json_decref(f->objects[i]);
	free(f);
}

static void test_cluster_json(void **state)
{
	struct cluster_fixture *f = cluster_fixture();
	struct rest_view view = { PRIMARY, .cluster = &f->cluster };

	(void)state;
	assert_json(rest_cluster_json(&view),
		    "{\"members\":["
		    /* the leader: no lag, its own state */
		    "{\"name\":\"node1\",\"role\":\"leader\",\"state\":\"running\","
		    "\"api_url\":\"http://10.0.0.1:8008/patroni\",\"host\":\"10.0.0.1\","
		    "\"port\":5432,\"timeline\":3,\"tags\":{}},"
		    /* behind status.optime by 100 bytes */
		    "{\"name\":\"node2\",\"role\":\"replica\",\"state\":\"streaming\","
		    "\"api_url\":\"http://node2:8009/patroni\",\"host\":\"node2.example\","
		    "\"port\":5433,\"timeline\":3,\"pending_restart\":true,"
		    "\"pending_restart_reason\":{\"shared_buffers\":{\"old_value\":\"128MB\","
		    "\"new_value\":\"1GB\"}},"
		    "\"scheduled_restart\":{\"schedule\":\"2030-01-01T00:00:00+00:00\"},"
		    "\"tags\":{\"zone\":\"eu\",\"nofailover\":true},\"lag\":100},"
		    /* no position: "unknown" */
		    "{\"name\":\"node3\",\"role\":\"replica\",\"state\":\"stopped\","
		    "\"api_url\":\"http://[::1]:8010/patroni\",\"host\":\"::1\",\"port\":5434,"
		    "\"lag\":\"unknown\"},"
		    /* ahead of status.optime: 0, as Patroni; no api_url; no port */
		    "{\"name\":\"node4\",\"role\":\"replica\",\"state\":\"running\","
		    "\"api_url\":null,\"host\":\"host4.example\",\"lag\":0},"
		    /* a port that is no port is left out */
		    "{\"name\":\"node5\",\"role\":\"replica\",\"state\":\"in archive recovery\","
		    "\"api_url\":\"http://node5:8008/patroni\",\"host\":\"node5\","
		    "\"tags\":{\"zone\":\"us\"},\"lag\":83886080}],"
		    "\"scope\":\"batman\"}");

	/* no status.optime: every lag unknown; paused; a scheduled switchover */
	view.has_last_lsn = false;
	view.paused = true;
	view.scheduled_switchover_at = "2030-01-01T00:00:00+00:00";
	view.scheduled_switchover_from = "node1";
	f->cluster.leader = "node2";
	f->cluster.member_count = 2;	/* node3 and node1 */
	assert_json(rest_cluster_json(&view),
		    "{\"members\":["
		    "{\"name\":\"node1\",\"role\":\"replica\",\"state\":\"streaming\","
		    "\"api_url\":\"http://10.0.0.1:8008/patroni\",\"host\":\"10.0.0.1\","
		    "\"port\":5432,\"timeline\":3,\"tags\":{},\"lag\":\"unknown\"},"
		    "{\"name\":\"node3\",\"role\":\"replica\",\"state\":\"stopped\","
		    "\"api_url\":\"http://[::1]:8010/patroni\",\"host\":\"::1\",\"port\":5434,"
		    "\"lag\":\"unknown\"}],"
		    "\"scope\":\"batman\",\"pause\":true,"
		    "\"scheduled_switchover\":{\"at\":\"2030-01-01T00:00:00+00:00\",\"from\":\"node1\"}}");

	view.scheduled_switchover_to = "node3";
	view.paused = false;
	f->cluster.member_count = 0;
	assert_json(rest_cluster_json(&view),
		    "{\"members\":[],\"scope\":\"batman\",\"scheduled_switchover\":"
		    "{\"at\":\"2030-01-01T00:00:00+00:00\",\"from\":\"node1\",\"to\":\"node3\"}}");
	free_cluster_fixture(f);

	/* no view at all */
	view = (struct rest_view){ REPLICA, .cluster = NULL };
	assert_json(rest_cluster_json(&view), "{\"members\":[],\"scope\":\"batman\"}");
}

/* ---- GET /metrics -------------------------------------------------------------------- */

static const char *const patroni_metrics[] = {
	"patroni_version", "patroni_postgres_running", "patroni_postmaster_start_time",
	"patroni_master", "patroni_primary", "patroni_xlog_location", "patroni_standby_leader",
	"patroni_replica", "patroni_sync_standby", "patroni_xlog_received_location",
	"patroni_xlog_replayed_location", "patroni_xlog_replayed_timestamp",
	"patroni_xlog_paused", "patroni_postgres_streaming",
	"patroni_postgres_in_archive_recovery", "patroni_postgres_server_version",
	"patroni_cluster_unlocked", "patroni_failsafe_mode_is_active",
	"patroni_postgres_timeline", "patroni_dcs_last_seen", "patroni_pending_restart",
	"patroni_is_paused", "pgherd_zookeeper_connected", "pgherd_last_leader_change",
};

static const char *const counters[] = {
	"patroni_xlog_location", "patroni_xlog_received_location",
	"patroni_xlog_replayed_location", "patroni_postgres_timeline",
};

/* Lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
	size_t len = strlen(prefix);
	int n = 0;

	for (const char *line = text; *line != '\0';) {
		const char *end = strchr(line, '\n');

		if (strncmp(line, prefix, len) == 0)
			n++;
		if (end == NULL)
			break;
		line = end + 1;
	}
	return n;
}

static bool is_counter(const char *name)
{
	for (size_t i = 0; i < N_ELEMENTS(counters); i++)
		if (strcmp(name, counters[i]) == 0)
			return true;
	return false;
}

/* Every metric: its HELP, its TYPE, one sample with the label set. */
static void check_metric_lines(const char *text, const char *labels)
{
	char prefix[256];
	int failures = 0;

	for (size_t i = 0; i < N_ELEMENTS(patroni_metrics); i++) {
		const char *name = patroni_metrics[i];
		bool quirk = strcmp(name, "patroni_postgres_server_version") == 0;
		int help, type, sample;

		snprintf(prefix, sizeof(prefix), "# HELP %s ", name);
		help = count_lines(text, prefix);
		snprintf(prefix, sizeof(prefix), "# TYPE %s %s\n", name,
			 is_counter(name) ? "counter" : "gauge");
		type = count_lines(text, prefix);
		snprintf(prefix, sizeof(prefix), "%s%s%s ", name, quirk ? " " : "", labels);
		sample = count_lines(text, prefix);
		if (help == 1 && type == 1 && sample == 1)
			continue;
		print_error("%s: %d HELP, %d TYPE, %d samples \"%s...\"\n", name, help, type,
			    sample, prefix);
		failures++;
	}
	/* nothing else: 3 lines a metric */
	if (count_lines(text, "") != 3 * (int)N_ELEMENTS(patroni_metrics)) {
		print_error("%d lines for %zu metrics\n", count_lines(text, ""),
			    N_ELEMENTS(patroni_metrics));
		failures++;
	}
	if (failures > 0) {
		print_error("%s", text);
		fail_msg("%d metrics not as Patroni prints them", failures);
	}
}

/* The sample line of name, which must be there. */
static void assert_sample(const char *text, const char *line)
{
	char *needle = malloc(strlen(line) + 3);
	bool found;

	assert_non_null(needle);
	sprintf(needle, "\n%s\n", line);
	found = strstr(text, needle) != NULL;
	free(needle);
	if (!found)
		print_error("no line \"%s\" in:\n%s", line, text);
	assert_true(found);
}

#define L "{scope=\"batman\",name=\"node1\"}"
#define L2 "{scope=\"batman\",name=\"node2\"}"

static void test_metrics_primary(void **state)
{
	static const char head[] = "# HELP patroni_version Patroni semver without periods.\n"
				   "# TYPE patroni_version gauge\n"
				   "patroni_version" L " 000100\n";
	struct rest_view view = { PRIMARY, .last_leader_change_s = 1700000123 };
	char *text = rest_metrics_text(&view);

	(void)state;
	assert_non_null(text);
	check_metric_lines(text, L);
	/* Patroni's order starts with its version */
	assert_true(strncmp(text, head, strlen(head)) == 0);
	assert_sample(text, "patroni_postgres_running" L " 1");
	assert_sample(text, "patroni_postmaster_start_time" L " 1704164645.123456");
	assert_sample(text, "patroni_master" L " 1");
	assert_sample(text, "patroni_primary" L " 1");
	assert_sample(text, "patroni_xlog_location" L " 83886080");
	assert_sample(text, "patroni_standby_leader" L " 0");
	assert_sample(text, "patroni_replica" L " 0");
	assert_sample(text, "patroni_sync_standby" L " 0");
	assert_sample(text, "patroni_xlog_received_location" L " 0");
	assert_sample(text, "patroni_xlog_replayed_location" L " 0");
	assert_sample(text, "patroni_xlog_replayed_timestamp" L " 0");
	assert_sample(text, "patroni_xlog_paused" L " 0");
	assert_sample(text, "patroni_postgres_streaming" L " 0");
	assert_sample(text, "patroni_postgres_in_archive_recovery" L " 0");
	assert_sample(text, "patroni_postgres_server_version " L " 150004");
	assert_sample(text, "patroni_cluster_unlocked" L " 0");
	assert_sample(text, "patroni_failsafe_mode_is_active" L " 0");
	assert_sample(text, "patroni_postgres_timeline" L " 3");
	assert_sample(text, "patroni_dcs_last_seen" L " 1700000000");
	assert_sample(text, "patroni_pending_restart" L " 0");
	assert_sample(text, "patroni_is_paused" L " 0");
	assert_sample(text, "pgherd_zookeeper_connected" L " 1");
	assert_sample(text, "pgherd_last_leader_change" L " 1700000123");
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
}

static void test_metrics_replica(void **state)
{
	struct rest_view view = { REPLICA, .sync_standby = true, .paused = true,
				  .pending_restart = true, .cluster = &without_leader,
				  .last_leader_change_s = 1 };
	char *text = rest_metrics_text(&view);

	(void)state;
	assert_non_null(text);
	check_metric_lines(text, L2);
	assert_sample(text, "patroni_postmaster_start_time" L2 " 1704164645.0");
	assert_sample(text, "patroni_master" L2 " 0");
	assert_sample(text, "patroni_primary" L2 " 0");
	assert_sample(text, "patroni_xlog_location" L2 " 0");
	assert_sample(text, "patroni_replica" L2 " 1");
	assert_sample(text, "patroni_sync_standby" L2 " 1");
	assert_sample(text, "patroni_xlog_received_location" L2 " 83885980");
	assert_sample(text, "patroni_xlog_replayed_location" L2 " 83885880");
	assert_sample(text, "patroni_xlog_replayed_timestamp" L2 " 1704164645.123");
	assert_sample(text, "patroni_postgres_streaming" L2 " 1");
	assert_sample(text, "patroni_postgres_in_archive_recovery" L2 " 0");
	assert_sample(text, "patroni_cluster_unlocked" L2 " 1");
	assert_sample(text, "patroni_pending_restart" L2 " 1");
	assert_sample(text, "patroni_is_paused" L2 " 1");
	free(text);
}

/* PostgreSQL silent: Patroni leaves out the two 9.6+ metrics; pgherd's
 * leader change is left out while unknown. */
static void test_metrics_postgres_down(void **state)
{
	struct rest_view view = { REPLICA, .state = "stopped", .pg_reachable = false,
				  .zookeeper_state = "connecting" };
	char *text = rest_metrics_text(&view);

	(void)state;
	assert_non_null(text);
	assert_int_equal(count_lines(text, "patroni_postgres_streaming"), 0);
	assert_int_equal(count_lines(text, "# HELP patroni_postgres_in_archive_recovery"), 0);
	assert_int_equal(count_lines(text, "pgherd_last_leader_change"), 0);
	assert_int_equal(count_lines(text, "# HELP pgherd_last_leader_change"), 0);
	assert_sample(text, "patroni_postgres_running" L2 " 0");
	assert_sample(text, "patroni_postmaster_start_time" L2 " 0");
	assert_sample(text, "patroni_replica" L2 " 0");
	assert_sample(text, "patroni_postgres_server_version " L2 " 0");
	assert_sample(text, "patroni_postgres_timeline" L2 " 0");
	assert_sample(text, "pgherd_zookeeper_connected" L2 " 0");
	free(text);
}

static void test_metrics_label_escaping(void **state)
{
	struct rest_view view = { PRIMARY, .scope = "bat\"man\\x", .name = "node\n1",
				  .last_leader_change_s = 1 };
	char *text = rest_metrics_text(&view);

	(void)state;
	assert_non_null(text);
	check_metric_lines(text, "{scope=\"bat\\\"man\\\\x\",name=\"node\\n1\"}");
	free(text);

	view.scope = NULL;
	view.name = "";
	text = rest_metrics_text(&view);
	assert_non_null(text);
	assert_sample(text, "patroni_primary{scope=\"\",name=\"\"} 1");
	free(text);
}

struct version_case {
	const char *version;
	const char *padded;
};

static const struct version_case version_cases[] = {
	{ "0.1.0", "000100" }, { "3.3.1", "030301" },   { "10.2.13", "100213" },
	{ "4.0", "0400" },     { "1.0.0-dev", "010000" }, { "", "00" },
	{ NULL, "00" },	       { "1..2", "010002" },
};

struct start_case {
	const char *text;
	const char *seconds;
};

static const struct start_case start_cases[] = {
	{ "2024-01-02 03:04:05.123456+00:00", "1704164645.123456" },
	{ "2024-01-02 03:04:05+00", "1704164645.0" },
	{ "2024-01-02T03:04:05.5+00:00", "1704164645.5" },
	{ "2024-01-02 05:04:05.5+02:00", "1704164645.5" },
	{ "2024-01-01 22:34:05.5-0430", "1704164645.5" },
	{ "2000-02-29 12:00:00+00", "951825600.0" },
	{ "2024-01-02 03:04:05.1234567+00", "1704164645.123456" },
	{ "2024-01-02 03:04:05", "1704164645.0" },
	{ "garbage", "0" },
	{ "", "0" },
	{ "2024-13-02 03:04:05+00", "0" },
	{ "2024-01-02 03:04:05+00 ", "0" },
	{ "2024-01-02 03:04:05.+00", "0" },
	{ "1969-12-31 23:00:00+00", "0" },
};

static void test_metrics_values(void **state)
{
	struct pg_monitor_status pg = pg_primary;
	struct rest_view view = { PRIMARY, .pg = &pg };
	char line[256];
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(version_cases); i++) {
		char *text;

		view.version = version_cases[i].version;
		text = rest_metrics_text(&view);
		assert_non_null(text);
		snprintf(line, sizeof(line), "\npatroni_version" L " %s\n", version_cases[i].padded);
		if (strstr(text, line) == NULL) {
			print_error("version %s: not%s", version_cases[i].version, line);
			failures++;
		}
		free(text);
	}
	for (size_t i = 0; i < N_ELEMENTS(start_cases); i++) {
		char *text;

		snprintf(pg.postmaster_start_time, sizeof(pg.postmaster_start_time), "%s",
			 start_cases[i].text);
		text = rest_metrics_text(&view);
		assert_non_null(text);
		snprintf(line, sizeof(line), "\npatroni_postmaster_start_time" L " %s\n",
			 start_cases[i].seconds);
		if (strstr(text, line) == NULL) {
			print_error("start time \"%s\": not%s", start_cases[i].text, line);
			failures++;
		}
		free(text);
	}
	if (failures > 0)
		fail_msg("%d values printed otherwise", failures);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_primary),
		cmocka_unit_test(test_health_replica),
		cmocka_unit_test(test_health_tags),
		cmocka_unit_test(test_liveness_readiness),
		cmocka_unit_test(test_status_primary),
		cmocka_unit_test(test_status_replica),
		cmocka_unit_test(test_status_optional_keys),
		cmocka_unit_test(test_status_odd_bytes),
		cmocka_unit_test(test_cluster_json),
		cmocka_unit_test(test_metrics_primary),
		cmocka_unit_test(test_metrics_replica),
		cmocka_unit_test(test_metrics_postgres_down),
		cmocka_unit_test(test_metrics_label_escaping),
		cmocka_unit_test(test_metrics_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
