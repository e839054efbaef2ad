/*
 * Synchronous replication on a real three-member cluster: the leader names
 * its synchronous standbys in synchronous_standby_names and in `sync`, only
 * they may be promoted or switched over to, and strict mode makes commits
 * wait rather than go asynchronous.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <zookeeper/zookeeper.h>

#include "test/harness/harness.h"
#include "test/harness/zk_client.h"
#include "test/scenario/agents.h"
#include "test/scenario/cluster.h"
#include "test/scenario/http_client.h"

/* The `sync` znode once it names `count` standbys (and its leader). */
static bool wait_sync(const struct cluster *c, int leader, size_t count, json_t **out)
{
	char path[128], data[512];
	snprintf(path, sizeof(path), "%s/sync", c->base);
	for (int tries = 0; tries < 300; tries++) {
		json_error_t error;
		json_t *sync = NULL;
		if (zk_client_get(c->client, path, data, sizeof(data), NULL) == ZOK)
			sync = json_loads(data, 0, &error);
		const char *who = json_string_value(json_object_get(sync, "leader"));
		const char *standbys = json_string_value(json_object_get(sync, "sync_standby"));
		size_t named = 0;
		for (const char *p = standbys; p && *p; p++)
			named += *p == ',';
		named += standbys && *standbys ? 1 : 0;
		if (who && strcmp(who, c->agent[leader].name) == 0 && named == count) {
			*out = sync;
			return true;
		}
		json_decref(sync);
		harness_sleep_ms(50);
	}
	fail_msg("`sync` never named %zu standbys of node%d: %s", count, leader + 1, data);
	return false;
}

static int member_index(const struct cluster *c, const char *name)
{
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		if (strcmp(c->agent[i].name, name) == 0)
			return i;
	fail_msg("no member %s", name);
	return -1;
}

/* Once synchronous mode is on: the one standby `sync` names, after checking
 * that the primary names it in synchronous_standby_names and that it streams
 * as PostgreSQL's synchronous standby. */
static int sync_standby(struct cluster *c, int primary)
{
	char query[256], value[128], expected[64];
	json_t *sync;

	wait_sync(c, primary, 1, &sync);
	int standby = member_index(c, json_string_value(json_object_get(sync, "sync_standby")));
	json_decref(sync);
	assert_int_not_equal(standby, primary);
	/* Named in synchronous_standby_names before it was published. */
	assert_true(cluster_sql(c, primary, "SHOW synchronous_standby_names", value, sizeof(value)));
	snprintf(expected, sizeof(expected), "1 (\"%s\")", c->agent[standby].name);
	assert_string_equal(value, expected);
	snprintf(query, sizeof(query),
		 "SELECT state || ' ' || sync_state FROM pg_stat_replication WHERE application_name = '%s'",
		 c->agent[standby].name);
	assert_true(cluster_sql(c, primary, query, value, sizeof(value)));
	assert_string_equal(value, "streaming sync");
	return standby;
}

/* Synchronous mode on, one standby: returns the synchronous one. */
static int enable_sync(struct cluster *c, int primary, const char *extra_config)
{
	char body[256];

	snprintf(body, sizeof(body), "{\"synchronous_mode\":true%s}", extra_config ? extra_config : "");
	cluster_expect(c, primary, "PATCH", "/config", body, 200, "\"synchronous_mode\":true");
	return sync_standby(c, primary);
}

/*
 * Synchronous mode as Patroni's users configure it, in bootstrap.dcs: the
 * bootstrapping member writes it into `config`, and the cluster runs
 * synchronously without any PATCH /config (finding F7 in docs/chaos.md:
 * these keys used to be ignored with a warning).
 */
static void test_bootstrap_dcs_enables_synchronous_mode(void **state)
{
	(void) state;
	struct cluster c;
	char path[128], data[4096] = "";
	const char *const dcs = "bootstrap:\n  dcs:\n    synchronous_mode: true\n"
				"    synchronous_node_count: 1\n";
	const char *const extra_yaml[CLUSTER_MEMBERS] = { dcs, dcs, dcs };
	int primary = cluster_start_with(&c, "syncbootstrap", extra_yaml);
	json_t *config;

	snprintf(path, sizeof(path), "%s/config", c.base);
	assert_int_equal(zk_client_get(c.client, path, data, sizeof(data), NULL), ZOK);
	config = json_loads(data, 0, NULL);
	if (!strstr(data, "\"synchronous_mode\":true") ||
	    json_integer_value(json_object_get(config, "synchronous_node_count")) != 1 ||
	    !json_is_false(json_object_get(config, "synchronous_mode_strict")))
		fail_msg("bootstrap.dcs did not reach `config`: %s", data);
	json_decref(config);

	int standby = sync_standby(&c, primary);
	int other = 3 - primary - standby;
	printf("     `config` %s; node%d is node%d's synchronous standby\n", data, standby + 1,
	       primary + 1);
	cluster_expect(&c, standby, "GET", "/sync", NULL, 200, "\"sync_standby\":true");
	cluster_expect(&c, other, "GET", "/async", NULL, 200, NULL);
	/* Commits go on: the synchronous standby acknowledges them. */
	assert_true(cluster_sql(&c, primary, "INSERT INTO probe VALUES (1)", NULL, 0));
}

static void test_sync_standby_is_named_and_reported(void **state)
{
	(void) state;
	struct cluster c;
	char body[256], value[128];
	int primary = cluster_start(&c, "syncnamed");
	int standby = enable_sync(&c, primary, NULL);
	int other = 3 - primary - standby;

	cluster_expect(&c, standby, "GET", "/sync", NULL, 200, "\"sync_standby\":true");
	cluster_expect(&c, other, "GET", "/sync", NULL, 503, NULL);
	cluster_expect(&c, other, "GET", "/async", NULL, 200, NULL);
	cluster_expect(&c, standby, "GET", "/async", NULL, 503, NULL);
	cluster_expect(&c, other, "GET", "/cluster", NULL, 200, "\"role\":\"sync_standby\"");

	/* A switchover to the asynchronous member is refused... */
	snprintf(body, sizeof(body), "{\"leader\":\"%s\",\"candidate\":\"%s\"}", c.agent[primary].name,
		 c.agent[other].name);
	cluster_expect(&c, primary, "POST", "/switchover", body, 412,
		       "candidate name does not match with sync_standby");
	/* ... to the synchronous one it succeeds, and the new leader names
	 * its own synchronous standby. */
	snprintf(body, sizeof(body), "{\"leader\":\"%s\",\"candidate\":\"%s\"}", c.agent[primary].name,
		 c.agent[standby].name);
	cluster_expect(&c, primary, "POST", "/switchover", body, 200, "Successfully switched over");
	json_t *sync;
	wait_sync(&c, standby, 1, &sync);
	json_decref(sync);

	/* synchronous_node_count 2: both standbys, in that order of steps. */
	cluster_expect(&c, standby, "PATCH", "/config", "{\"synchronous_node_count\":2}", 200, NULL);
	wait_sync(&c, standby, 2, &sync);
	json_decref(sync);
	assert_true(cluster_sql(&c, standby, "SHOW synchronous_standby_names", value, sizeof(value)));
	char expected[64];
	int a = primary < other ? primary : other, b = primary < other ? other : primary;
	snprintf(expected, sizeof(expected), "2 (\"%s\",\"%s\")", c.agent[a].name, c.agent[b].name);
	assert_string_equal(value, expected);
}

static void test_only_the_sync_standby_is_promoted(void **state)
{
	(void) state;
	struct cluster c;
	char value[64];
	int64_t elapsed;
	/* At equal WAL positions the highest failover_priority would win; the
	 * synchronous standby is chosen by name then, so it is the member the
	 * priorities do not favour. */
	const char *const priorities[CLUSTER_MEMBERS] = {
		"tags: {failover_priority: 1}\n", "tags: {failover_priority: 2}\n",
		"tags: {failover_priority: 3}\n",
	};
	int primary = cluster_start_with(&c, "syncfailover", priorities);
	int standby = enable_sync(&c, primary, NULL);

	assert_true(cluster_sql(&c, primary, "INSERT INTO probe SELECT generate_series(1, 500)", NULL, 0));
	pid_t postmaster = cluster_postmaster_pid(&c, primary);
	size_t from = test_agent_lines(&c.agent[standby]);
	int64_t killed_at = harness_now_ms();
	assert_int_equal(harness_kill(c.agent[primary].pid), 9);
	assert_int_equal(kill(postmaster, SIGKILL), 0);
	c.agent[primary].pid = 0;
	int next = cluster_wait_writable(&c, primary, killed_at, &elapsed);
	printf("     node%d (the synchronous standby is node%d) took over after %lld ms\n", next + 1,
	       standby + 1, (long long) elapsed);
	assert_int_equal(next, standby);
	/* Patroni's order (chaos finding F8): `sync` names the new leader with
	 * no standby before it is promoted, so that it never acknowledges a
	 * commit while `sync` says another member has them all. */
	json_t *published = NULL, *promoted = NULL;
	assert_true(test_agent_wait(&c.agent[next], "ha.sync_published", from, 5000, &published));
	assert_true(test_agent_wait(&c.agent[next], "pg.promoted", from, 5000, &promoted));
	const char *sync = json_string_value(json_object_get(published, "sync"));
	char want[64];
	snprintf(want, sizeof(want), "\"leader\":\"%s\"", c.agent[next].name);
	if (!sync || !strstr(sync, want) || !strstr(sync, "\"sync_standby\":null"))
		fail_msg("the first sync the new leader published: %s", sync ? sync : "(none)");
	if (test_record_ms(published) > test_record_ms(promoted))
		fail_msg("sync was published %lld ms after the promotion",
			 (long long) (test_record_ms(published) - test_record_ms(promoted)));
	json_decref(published);
	json_decref(promoted);
	/* Every acknowledged commit is there. */
	assert_true(cluster_sql(&c, next, "SELECT count(*) FROM probe WHERE id > 0", value, sizeof(value)));
	assert_string_equal(value, "500");
}

static void test_strict_mode_makes_commits_wait(void **state)
{
	(void) state;
	struct cluster c;
	char value[64], conninfo[512];
	int primary = cluster_start(&c, "syncstrict");
	enable_sync(&c, primary, ",\"synchronous_mode_strict\":true");

	/* Every standby goes away. */
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		if (i == primary)
			continue;
		pid_t postmaster = cluster_postmaster_pid(&c, i);
		assert_int_equal(harness_kill(c.agent[i].pid), 9);
		kill(postmaster, SIGKILL);
		c.agent[i].pid = 0;
	}
	bool waiting = false;
	for (int tries = 0; tries < 200 && !waiting; tries++) {
		waiting = cluster_sql(&c, primary, "SHOW synchronous_standby_names", value, sizeof(value)) &&
			  strcmp(value, "*") == 0;
		harness_sleep_ms(50);
	}
	assert_true(waiting);
	/* A commit now waits for a standby that is not there: never
	 * acknowledged. */
	snprintf(conninfo, sizeof(conninfo),
		 "host=%s/syncstrict/node%d/data.pgherd port=%d user=postgres dbname=postgres",
		 harness_run_dir(), primary + 1, c.agent[primary].pg_port);
	PGconn *conn = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_int_equal(PQsendQuery(conn, "INSERT INTO probe VALUES (42)"), 1);
	int64_t sent_at = harness_now_ms();
	bool answered = false;
	while (!answered && harness_now_ms() - sent_at < 3000) {
		assert_int_equal(PQconsumeInput(conn), 1);
		answered = !PQisBusy(conn);
		harness_sleep_ms(50);
	}
	PQfinish(conn);
	if (answered)
		fail_msg("a commit was acknowledged with no synchronous standby in strict mode");
}

/* The tags of a member's znode: 1 with nosync true, 0 without, -1 unreadable. */
static int member_nosync(const struct cluster *c, int member)
{
	char path[128], data[8192];
	json_error_t error;
	json_t *status;
	int nosync;

	snprintf(path, sizeof(path), "%s/members/%s", c->base, c->agent[member].name);
	if (zk_client_get(c->client, path, data, sizeof(data), NULL) != ZOK ||
	    !(status = json_loads(data, 0, &error)))
		return -1;
	nosync = json_is_true(json_object_get(json_object_get(status, "tags"), "nosync"));
	json_decref(status);
	return nosync;
}

/* One commit on conn, answered within timeout_ms (else cancelled). */
static bool commit_within(PGconn *conn, int timeout_ms)
{
	bool answered = false, ok = true;
	PGresult *result;

	if (!PQsendQuery(conn, "INSERT INTO probe VALUES (7)"))
		return false;
	for (int64_t sent_at = harness_now_ms(); harness_now_ms() - sent_at < timeout_ms;) {
		if (!PQconsumeInput(conn))
			return false;
		if ((answered = !PQisBusy(conn)))
			break;
		harness_sleep_ms(2);
	}
	if (!answered) {
		PGcancel *cancel = PQgetCancel(conn);
		char err[256];
		if (cancel) {
			(void) PQcancel(cancel, err, sizeof(err));
			PQfreeCancel(cancel);
		}
	}
	while ((result = PQgetResult(conn)) != NULL) {
		ok &= PQresultStatus(result) == PGRES_COMMAND_OK;
		PQclear(result);
	}
	return answered && ok;
}

/* When a member's log recorded an event (from line `from`, with field =
 * value), ms since the epoch; fails the test when it did not. */
static int64_t logged_at(const struct cluster *c, int member, const char *event, const char *field,
			 const char *value, size_t from)
{
	json_t *record = NULL;
	int64_t at;

	if (!harness_log_wait(c->agent[member].log_path, event, field, value, from, 5000, &record,
			      NULL))
		fail_msg("node%d never logged %s %s=%s", member + 1, event, field ? field : "",
			 value ? value : "");
	at = test_record_ms(record);
	json_decref(record);
	return at;
}

/*
 * The synchronous standby asked to restart first asks to leave sync duty
 * (nosync in its tags, as Patroni's while_not_sync_standby): the leader
 * names the other replica in `sync` before the standby's PostgreSQL stops,
 * so commits on the primary do not wait for a standby that is down.
 */
static void test_sync_standby_leaves_sync_before_restart(void **state)
{
	(void) state;
	struct cluster c;
	struct http_answer answer;
	char before[64], after[64], conninfo[512], handed_over[128];
	int primary = cluster_start(&c, "syncrestart");
	int standby = enable_sync(&c, primary, NULL);
	int other = 3 - primary - standby;
	int commits_while_down = 0;

	assert_true(cluster_sql(&c, standby, "SELECT pg_postmaster_start_time()::text", before,
				sizeof(before)));
	snprintf(conninfo, sizeof(conninfo),
		 "host=%s/syncrestart/node%d/data.pgherd port=%d user=postgres dbname=postgres",
		 harness_run_dir(), primary + 1, c.agent[primary].pg_port);
	PGconn *conn = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(conn), CONNECTION_OK);
	assert_true(commit_within(conn, 2000));

	size_t primary_from = test_agent_lines(&c.agent[primary]);
	size_t standby_from = test_agent_lines(&c.agent[standby]);
	int64_t asked_at = harness_now_ms(), asked_wall = test_wall_ms();
	int fd = http_send(c.agent[standby].api_port, "POST", "/restart", NULL);
	assert_true(fd >= 0);
	/* Its PostgreSQL goes down... */
	while (cluster_sql(&c, standby, "SELECT 1", NULL, 0)) {
		if (harness_now_ms() - asked_at > CLUSTER_WAIT_MS)
			fail_msg("node%d's PostgreSQL never went down for its restart", standby + 1);
		harness_sleep_ms(2);
	}
	int64_t down_at = harness_now_ms();
	/* ... and until it is back, commits on the primary go on. */
	for (;;) {
		if (!commit_within(conn, 2000))
			fail_msg("a commit on the primary waited while node%d restarted", standby + 1);
		if (cluster_sql(&c, standby, "SELECT 1", NULL, 0))
			break;
		commits_while_down++;	/* sent and answered while it was down */
		if (harness_now_ms() - down_at > CLUSTER_WAIT_MS)
			fail_msg("node%d did not come back", standby + 1);
	}
	PQfinish(conn);
	int status = http_receive(fd, CLUSTER_WAIT_MS, &answer);
	if (status != 200 || !strstr(answer.body, "restarted successfully"))
		fail_msg("POST /restart on node%d: %d %s", standby + 1, status, answer.body);
	http_answer_clear(&answer);
	assert_true(cluster_sql(&c, standby, "SELECT pg_postmaster_start_time()::text", after,
				sizeof(after)));
	assert_string_not_equal(after, before);
	assert_true(commits_while_down > 0);

	/* The leader wrote `sync` naming the other replica before the standby
	 * stopped PostgreSQL (both logs on this host's clock; the standby
	 * stops only after it read that write, so never earlier). */
	snprintf(handed_over, sizeof(handed_over), "{\"leader\":\"%s\",\"sync_standby\":\"%s\"}",
		 c.agent[primary].name, c.agent[other].name);
	int64_t published_at = logged_at(&c, primary, "ha.sync_published", "sync", handed_over,
					 primary_from);
	int64_t stopped_at = logged_at(&c, standby, "pg.stopping", "reason", "restart", standby_from);
	printf("     `sync` named node%d %lld ms after POST /restart, node%d stopped %lld ms after; "
	       "%d commits while it was down\n", other + 1, (long long) (published_at - asked_wall),
	       standby + 1, (long long) (stopped_at - published_at),
	       commits_while_down);
	if (published_at > stopped_at)
		fail_msg("node%d's PostgreSQL stopped %lld ms before `sync` named node%d", standby + 1,
			 (long long) (published_at - stopped_at), other + 1);
	/* It asked as the synchronous standby, and the leader released it
	 * (not its timeout). */
	(void) logged_at(&c, standby, "sync.leaving", "sync_standby", "true", standby_from);
	(void) logged_at(&c, standby, "sync.left", "reason", "released", standby_from);

	/* The temporary nosync is gone from its member znode. */
	int nosync = 1;
	for (int tries = 0; tries < 200 && nosync != 0; tries++) {
		nosync = member_nosync(&c, standby);
		if (nosync != 0)
			harness_sleep_ms(25);
	}
	if (nosync != 0)
		fail_msg("node%d still publishes nosync after its restart (%d)", standby + 1, nosync);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bootstrap_dcs_enables_synchronous_mode,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_sync_standby_is_named_and_reported,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_only_the_sync_standby_is_promoted,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_strict_mode_makes_commits_wait,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_sync_standby_leaves_sync_before_restart,
						harness_test_setup, harness_test_teardown),
	};
	if (getenv("PGHERD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGHERD_TEST_FILTER"));
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
	return failures + test_sanitizer_reports();
}
