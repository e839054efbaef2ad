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

/* Synchronous mode on, one standby: returns the synchronous one. */
static int enable_sync(struct cluster *c, int primary, const char *extra_config)
{
	char body[256], value[128], expected[64];
	json_t *sync;

	snprintf(body, sizeof(body), "{\"synchronous_mode\":true%s}", extra_config ? extra_config : "");
	cluster_expect(c, primary, "PATCH", "/config", body, 200, "\"synchronous_mode\":true");
	wait_sync(c, primary, 1, &sync);
	int standby = member_index(c, json_string_value(json_object_get(sync, "sync_standby")));
	json_decref(sync);
	/* Named in synchronous_standby_names before it was published. */
	assert_true(cluster_sql(c, primary, "SHOW synchronous_standby_names", value, sizeof(value)));
	snprintf(expected, sizeof(expected), "1 (\"%s\")", c->agent[standby].name);
	assert_string_equal(value, expected);
	snprintf(body, sizeof(body),
		 "SELECT sync_state FROM pg_stat_replication WHERE application_name = '%s'",
		 c->agent[standby].name);
	assert_true(cluster_sql(c, primary, body, value, sizeof(value)));
	assert_string_equal(value, "sync");
	return standby;
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
	int64_t killed_at = harness_now_ms();
	assert_int_equal(harness_kill(c.agent[primary].pid), 9);
	assert_int_equal(kill(postmaster, SIGKILL), 0);
	c.agent[primary].pid = 0;
	int next = cluster_wait_writable(&c, primary, killed_at, &elapsed);
	printf("     node%d (the synchronous standby is node%d) took over after %lld ms\n", next + 1,
	       standby + 1, (long long) elapsed);
	assert_int_equal(next, standby);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync_standby_is_named_and_reported,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_only_the_sync_standby_is_promoted,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_strict_mode_makes_commits_wait,
						harness_test_setup, harness_test_teardown),
	};
	if (getenv("PGHERD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGHERD_TEST_FILTER"));
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
	return failures + test_sanitizer_reports();
}
