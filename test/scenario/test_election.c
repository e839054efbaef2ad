/*
 * Leader election against a real ZooKeeper: the behaviours the foundation
 * issue promises, checked through what an operator sees (the leader znode,
 * member znodes, and the agents' log events).
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
#include <zookeeper/zookeeper.h>

#include "test/harness/harness.h"
#include "test/harness/zk_client.h"
#include "test/scenario/agents.h"

#define AGENTS 3
#define WAIT_MS 15000

struct cluster {
	struct harness_zk zk;
	struct zk_client *client;
	struct test_agent agent[AGENTS];
	char scope[32];
	char base[64];
	struct test_agent_options options;
};

static void cluster_start(struct cluster *c, const char *scope, double session_timeout,
			  int agents)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->scope, sizeof(c->scope), "%s", scope);
	snprintf(c->base, sizeof(c->base), "/service/%s", scope);
	c->options = (struct test_agent_options){ .scope = c->scope,
						  .session_timeout = session_timeout };
	assert_true(harness_zk_start(1, &c->zk));
	assert_int_equal(zk_client_connect(c->zk.connect_string, 10000, 5000, &c->client), ZOK);
	for (int i = 0; i < agents; i++) {
		char name[16];
		snprintf(name, sizeof(name), "node%d", i + 1);
		assert_true(test_agent_start(&c->agent[i], name, &c->zk, &c->options));
	}
}

/* Wait until some agent logged leader.acquired after line `from[i]`; returns
 * its index and the record. */
static int wait_for_new_leader(struct cluster *c, const size_t *from, int skip, int timeout_ms,
			       json_t **record)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	while (harness_now_ms() < deadline) {
		for (int i = 0; i < AGENTS; i++) {
			if (i == skip || c->agent[i].pid <= 0)
				continue;
			if (test_agent_wait(&c->agent[i], "leader.acquired", from ? from[i] : 0, 0,
					    record))
				return i;
		}
		harness_sleep_ms(5);
	}
	return -1;
}

static void test_three_candidates_elect_exactly_one_leader(void **state)
{
	(void) state;
	struct cluster c;
	json_t *record = NULL;
	int leader;

	cluster_start(&c, "elect", 4.0, AGENTS);
	for (int i = 0; i < AGENTS; i++)
		assert_true(test_agent_wait(&c.agent[i], "election.candidate", 0, WAIT_MS, NULL));
	leader = wait_for_new_leader(&c, NULL, -1, WAIT_MS, &record);
	assert_true(leader >= 0);
	json_decref(record);

	/* Give a second leader every chance to appear before counting. */
	harness_sleep_ms(1500);
	size_t acquired = 0;
	for (int i = 0; i < AGENTS; i++)
		acquired += test_agent_count(&c.agent[i], "leader.acquired");
	assert_int_equal(acquired, 1);
	assert_int_equal(test_leader_index(c.client, c.base, c.agent, AGENTS), leader);

	/* The lock is ephemeral and owned by the leader's session. */
	struct Stat stat;
	char path[128];
	snprintf(path, sizeof(path), "%s/leader", c.base);
	assert_int_equal(zk_client_get(c.client, path, NULL, 0, &stat), ZOK);
	assert_true(stat.ephemeralOwner != 0);

	/* Every member queued once, with its name in its candidate znode. */
	struct zk_client_children children;
	snprintf(path, sizeof(path), "%s/election", c.base);
	assert_int_equal(zk_client_children(c.client, path, &children), ZOK);
	assert_int_equal(children.count, AGENTS);
	for (int i = 0; i < children.count; i++)
		assert_non_null(strstr(children.names[i], "node"));
	zk_client_children_free(&children);
}

static void test_closed_session_hands_the_lock_over_within_100ms(void **state)
{
	(void) state;
	struct cluster c;
	json_t *record = NULL;
	size_t from[AGENTS];
	int leader, next;

	cluster_start(&c, "handover", 4.0, AGENTS);
	leader = wait_for_new_leader(&c, NULL, -1, WAIT_MS, &record);
	assert_true(leader >= 0);
	json_decref(record);
	for (int i = 0; i < AGENTS; i++)
		assert_true(test_agent_wait(&c.agent[i], "election.candidate", 0, WAIT_MS, NULL));
	harness_sleep_ms(300);	/* let every watch settle */

	for (int i = 0; i < AGENTS; i++)
		from[i] = test_agent_lines(&c.agent[i]);
	/* SIGTERM: the agent closes its session, which deletes the lock. */
	assert_true(harness_signal(c.agent[leader].pid, SIGTERM));
	assert_true(test_agent_wait(&c.agent[leader], "agent.stopping", from[leader], WAIT_MS,
				    &record));
	int64_t closed_at = test_record_ms(record);
	json_decref(record);

	next = wait_for_new_leader(&c, from, leader, WAIT_MS, &record);
	assert_true(next >= 0 && next != leader);
	int64_t handover_ms = test_record_ms(record) - closed_at;
	json_decref(record);
	printf("     lock handed over %lld ms after the leader began closing its session\n",
	       (long long) handover_ms);
	if (handover_ms < 0 || handover_ms >= 100)
		fail_msg("the lock was handed over %lld ms after the leader closed its session; "
			 "expected under 100 ms", (long long) handover_ms);
	assert_int_equal(test_leader_index(c.client, c.base, c.agent, AGENTS), next);
	assert_int_equal(harness_stop(c.agent[leader].pid, 5000), 0);
	c.agent[leader].pid = 0;
}

static void test_frozen_leader_is_replaced_and_fenced(void **state)
{
	(void) state;
	const double session_timeout = 2.0;
	struct cluster c;
	json_t *record = NULL;
	size_t from[AGENTS];
	int leader, next;

	cluster_start(&c, "frozen", session_timeout, AGENTS);
	leader = wait_for_new_leader(&c, NULL, -1, WAIT_MS, &record);
	assert_true(leader >= 0);
	json_decref(record);
	for (int i = 0; i < AGENTS; i++)
		assert_true(test_agent_wait(&c.agent[i], "election.candidate", 0, WAIT_MS, NULL));
	harness_sleep_ms(500);

	for (int i = 0; i < AGENTS; i++)
		from[i] = test_agent_lines(&c.agent[i]);
	int64_t frozen_at = test_wall_ms();
	assert_true(harness_freeze(c.agent[leader].pid));

	next = wait_for_new_leader(&c, from, leader, WAIT_MS, &record);
	assert_true(next >= 0);
	int64_t takeover_ms = test_record_ms(record) - frozen_at;
	json_decref(record);
	printf("     new leader %lld ms after the old one froze (session timeout %.0f ms)\n",
	       (long long) takeover_ms, session_timeout * 1000);
	if (takeover_ms >= (int64_t) (session_timeout * 1000) + 500)
		fail_msg("new leader %lld ms after the freeze; expected under the session timeout "
			 "plus 500 ms", (long long) takeover_ms);
	assert_int_equal(test_leader_index(c.client, c.base, c.agent, AGENTS), next);

	/* Resumed, the old leader must say it lost the lock and never claim it. */
	harness_sleep_ms(500);
	assert_true(harness_resume(c.agent[leader].pid));
	bool fenced = test_agent_wait(&c.agent[leader], "leader.fenced", from[leader], WAIT_MS, NULL);
	bool lost = test_agent_wait(&c.agent[leader], "leader.lost", from[leader], 0, NULL);
	assert_true(fenced || lost);
	/* It rejoins with a new session and queues again, as a follower. */
	assert_true(test_agent_wait(&c.agent[leader], "dcs.connected", from[leader], WAIT_MS, NULL));
	assert_true(
		test_agent_wait(&c.agent[leader], "election.candidate", from[leader], WAIT_MS, NULL));
	harness_sleep_ms(1000);
	assert_false(test_agent_wait(&c.agent[leader], "leader.acquired", from[leader], 0, NULL));
	assert_int_equal(test_leader_index(c.client, c.base, c.agent, AGENTS), next);
}

static void test_restart_with_same_name_reclaims_stale_znodes_at_once(void **state)
{
	(void) state;
	/* A long session: waiting for the old one to expire would take 20 s. */
	const double session_timeout = 20.0;
	struct cluster c;
	json_t *record = NULL;
	char path[128];
	struct Stat stat;

	cluster_start(&c, "restart", session_timeout, 1);
	assert_true(test_agent_wait(&c.agent[0], "leader.acquired", 0, WAIT_MS, NULL));
	assert_true(test_agent_wait(&c.agent[0], "election.candidate", 0, WAIT_MS, NULL));
	harness_sleep_ms(300);

	/* kill -9: the old session, and its ephemeral znodes, live on. */
	assert_int_equal(harness_kill(c.agent[0].pid), 9);
	size_t from = test_agent_lines(&c.agent[0]);
	int64_t restarted_at = harness_now_ms();
	assert_true(test_agent_restart(&c.agent[0]));

	assert_true(test_agent_wait(&c.agent[0], "dcs.connected", from, WAIT_MS, &record));
	const char *session_text = json_string_value(json_object_get(record, "session"));
	assert_non_null(session_text);
	int64_t session = (int64_t) strtoull(session_text, NULL, 16);
	json_decref(record);

	assert_true(test_agent_wait(&c.agent[0], "leader.reclaimed", from, 5000, NULL));
	assert_true(test_agent_wait(&c.agent[0], "leader.acquired", from, 5000, NULL));
	int64_t elapsed = harness_now_ms() - restarted_at;
	printf("     stale znodes reclaimed %lld ms after restart (old session would live %.0f s)\n",
	       (long long) elapsed, session_timeout);
	assert_true(elapsed < (int64_t) (session_timeout * 1000) / 2);

	/* Every ephemeral znode of ours now belongs to the new session. */
	snprintf(path, sizeof(path), "%s/leader", c.base);
	assert_int_equal(zk_client_get(c.client, path, NULL, 0, &stat), ZOK);
	assert_true(stat.ephemeralOwner == session);
	snprintf(path, sizeof(path), "%s/members/node1", c.base);
	for (int tries = 0; tries < 200; tries++) {
		assert_int_equal(zk_client_get(c.client, path, NULL, 0, &stat), ZOK);
		if (stat.ephemeralOwner == session)
			break;
		harness_sleep_ms(10);
	}
	assert_true(stat.ephemeralOwner == session);
	assert_true(test_agent_count(&c.agent[0], "dcs.stale_member_removed") >= 1);
	assert_true(test_agent_count(&c.agent[0], "election.stale_candidate_removed") >= 1);

	struct zk_client_children children;
	snprintf(path, sizeof(path), "%s/election", c.base);
	assert_int_equal(zk_client_children(c.client, path, &children), ZOK);
	assert_int_equal(children.count, 1);
	zk_client_children_free(&children);
}

static void test_member_znode_is_patroni_member_json(void **state)
{
	(void) state;
	struct cluster c;
	char path[128];
	char data[4096];
	struct Stat stat;
	json_error_t error;

	cluster_start(&c, "member", 4.0, 1);
	assert_true(test_agent_wait(&c.agent[0], "leader.acquired", 0, WAIT_MS, NULL));
	snprintf(path, sizeof(path), "%s/members/node1", c.base);
	assert_int_equal(zk_client_get(c.client, path, data, sizeof(data), &stat), ZOK);
	assert_true(stat.ephemeralOwner != 0);

	json_t *member = json_loads(data, 0, &error);
	assert_non_null(member);
	assert_true(json_is_object(member));
	const char *conn_url = json_string_value(json_object_get(member, "conn_url"));
	const char *api_url = json_string_value(json_object_get(member, "api_url"));
	assert_non_null(conn_url);
	assert_non_null(api_url);
	assert_int_equal(strncmp(conn_url, "postgres://127.0.0.1:", 21), 0);
	assert_non_null(strstr(conn_url, "/postgres"));
	assert_int_equal(strncmp(api_url, "http://127.0.0.1:", 17), 0);
	assert_non_null(strstr(api_url, "/patroni"));
	assert_true(json_is_string(json_object_get(member, "state")));
	assert_true(json_is_string(json_object_get(member, "role")));
	assert_true(json_is_string(json_object_get(member, "version")));
	json_t *tags = json_object_get(member, "tags");
	assert_true(json_is_object(tags));
	assert_string_equal(json_string_value(json_object_get(tags, "region")), "test");
	/* Patroni writes predefined boolean tags only when true. */
	assert_null(json_object_get(tags, "nofailover"));
	/* Compact, as Patroni writes it: no spaces after separators. */
	assert_null(strstr(data, "\": "));
	assert_null(strstr(data, ", \""));
	json_decref(member);

	/* Written when it changes only: nothing changes, so no new versions. */
	harness_sleep_ms(2000);
	struct Stat later;
	assert_int_equal(zk_client_get(c.client, path, NULL, 0, &later), ZOK);
	assert_int_equal(later.version, stat.version);
}

/* ZooKeeper itself stops answering: the leader cannot know whether the
 * server will expire its session, so it must stop leading before that could
 * happen, i.e. within one session timeout of its last contact. */
static void test_leader_fences_itself_before_its_session_can_expire(void **state)
{
	(void) state;
	const double session_timeout = 2.0;
	struct cluster c;
	json_t *record = NULL;
	size_t from[AGENTS];
	int leader;

	cluster_start(&c, "fence", session_timeout, 2);
	leader = wait_for_new_leader(&c, NULL, -1, WAIT_MS, &record);
	assert_true(leader >= 0);
	json_decref(record);
	harness_sleep_ms(1000);

	/* A short stall is not an outage: no fencing. */
	from[leader] = test_agent_lines(&c.agent[leader]);
	assert_true(harness_zk_freeze_server(&c.zk, 0));
	harness_sleep_ms(300);
	assert_true(harness_zk_resume_server(&c.zk, 0));
	harness_sleep_ms(1500);
	assert_false(test_agent_wait(&c.agent[leader], "leader.fenced", from[leader], 0, NULL));

	from[leader] = test_agent_lines(&c.agent[leader]);
	int64_t frozen_at = test_wall_ms();
	assert_true(harness_zk_freeze_server(&c.zk, 0));
	assert_true(test_agent_wait(&c.agent[leader], "leader.at_risk", from[leader], WAIT_MS, NULL));
	assert_true(test_agent_wait(&c.agent[leader], "leader.fenced", from[leader], WAIT_MS, &record));
	int64_t fenced_after = test_record_ms(record) - frozen_at;
	json_decref(record);
	printf("     leader fenced %lld ms after ZooKeeper froze (session timeout %.0f ms)\n",
	       (long long) fenced_after, session_timeout * 1000);
	assert_true(fenced_after < (int64_t) (session_timeout * 1000));

	/* ZooKeeper comes back after the sessions are due: the cluster
	 * converges on exactly one leader again. */
	harness_sleep_ms(1500);
	for (int i = 0; i < 2; i++)
		from[i] = test_agent_lines(&c.agent[i]);
	assert_true(harness_zk_resume_server(&c.zk, 0));
	int next = wait_for_new_leader(&c, from, -1, WAIT_MS, NULL);
	assert_true(next >= 0);
	harness_sleep_ms(1000);
	assert_int_equal(test_leader_index(c.client, c.base, c.agent, 2), next);
}

/* Losing the ZooKeeper ensemble's leader server is not a reason to fail
 * over: the agents reconnect to the new quorum within their sessions. */
static void test_ensemble_leader_loss_keeps_the_same_leader(void **state)
{
	(void) state;
	struct cluster c;
	json_t *record = NULL;
	size_t from[AGENTS];
	char path[128];
	struct Stat before, after;
	int leader;

	memset(&c, 0, sizeof(c));
	snprintf(c.scope, sizeof(c.scope), "ensemble");
	snprintf(c.base, sizeof(c.base), "/service/ensemble");
	c.options = (struct test_agent_options){ .scope = c.scope, .session_timeout = 8.0 };
	assert_true(harness_zk_start(3, &c.zk));
	assert_int_equal(zk_client_connect(c.zk.connect_string, 20000, 5000, &c.client), ZOK);
	for (int i = 0; i < AGENTS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "node%d", i + 1);
		assert_true(test_agent_start(&c.agent[i], name, &c.zk, &c.options));
	}
	leader = wait_for_new_leader(&c, NULL, -1, WAIT_MS, &record);
	assert_true(leader >= 0);
	json_decref(record);
	harness_sleep_ms(1000);
	snprintf(path, sizeof(path), "%s/leader", c.base);
	assert_int_equal(zk_client_get(c.client, path, NULL, 0, &before), ZOK);

	for (int i = 0; i < AGENTS; i++)
		from[i] = test_agent_lines(&c.agent[i]);
	int zk_leader = harness_zk_leader_index(&c.zk);
	assert_true(zk_leader >= 0);
	assert_true(harness_zk_kill_server(&c.zk, zk_leader));
	assert_true(harness_zk_wait_quorum(&c.zk, 20000));
	/* Every agent lost its server or its quorum and must come back. */
	for (int i = 0; i < AGENTS; i++)
		assert_true(test_agent_wait(&c.agent[i], "dcs.reconnected", from[i], WAIT_MS, NULL));
	harness_sleep_ms(1000);

	assert_int_equal(zk_client_get(c.client, path, NULL, 0, &after), ZOK);
	assert_true(after.ephemeralOwner == before.ephemeralOwner);
	for (int i = 0; i < AGENTS; i++) {
		assert_false(test_agent_wait(&c.agent[i], "leader.acquired", from[i], 0, NULL));
		assert_false(test_agent_wait(&c.agent[i], "leader.lost", from[i], 0, NULL));
		assert_false(test_agent_wait(&c.agent[i], "dcs.session_expired", from[i], 0, NULL));
	}
	assert_false(test_agent_wait(&c.agent[leader], "leader.fenced", from[leader], 0, NULL));
}

static const struct {
	const char *key;
	const char *garbage;
	int length;
} garbage_znodes[] = {
	{ "config", "{\"ttl\": \"thirty\"", -1 },
	{ "initialize", "not-a-system-identifier", -1 },
	{ "failover", "[1,2,3]", -1 },
	{ "sync", "\x01\x02\xff\xfe", 4 },
	{ "history", "{\"not\":\"a list\"}", -1 },
	{ "status", "{\"optime\":\"soon\"}", -1 },
	{ "members/intruder", "\xff\x00garbage", 9 },
};

static void test_garbage_in_znodes_is_logged_not_fatal(void **state)
{
	(void) state;
	struct cluster c;
	char path[128];
	size_t count = sizeof(garbage_znodes) / sizeof(garbage_znodes[0]);

	memset(&c, 0, sizeof(c));
	snprintf(c.scope, sizeof(c.scope), "garbage");
	snprintf(c.base, sizeof(c.base), "/service/garbage");
	c.options = (struct test_agent_options){ .scope = c.scope, .session_timeout = 4.0 };
	assert_true(harness_zk_start(1, &c.zk));
	assert_int_equal(zk_client_connect(c.zk.connect_string, 10000, 5000, &c.client), ZOK);

	/* Garbage in the lock and in the queue before anyone starts. */
	snprintf(path, sizeof(path), "%s/leader", c.base);
	assert_int_equal(zk_client_create(c.client, path, "bad\nname\x01", ZK_CLIENT_PARENTS, NULL, 0),
			 ZOK);
	snprintf(path, sizeof(path), "%s/election/zzz-not-a-candidate", c.base);
	assert_int_equal(zk_client_create(c.client, path, "x", ZK_CLIENT_PARENTS, NULL, 0), ZOK);
	for (size_t i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/%s", c.base, garbage_znodes[i].key);
		assert_int_equal(zk_client_create(c.client, path, "", ZK_CLIENT_PARENTS, NULL, 0), ZOK);
	}

	for (int i = 0; i < 2; i++) {
		char name[16];
		snprintf(name, sizeof(name), "node%d", i + 1);
		assert_true(test_agent_start(&c.agent[i], name, &c.zk, &c.options));
	}
	for (int i = 0; i < 2; i++) {
		assert_true(harness_log_wait(c.agent[i].log_path, "dcs.invalid_znode", "path",
					     "/service/garbage/leader", 0, WAIT_MS, NULL, NULL));
		assert_true(harness_log_wait(c.agent[i].log_path, "dcs.invalid_znode", "child",
					     "zzz-not-a-candidate", 0, WAIT_MS, NULL, NULL));
	}

	/* Now fill every znode with garbage while the agents watch. */
	for (size_t i = 0; i < count; i++) {
		char data[64];
		int length = garbage_znodes[i].length >= 0 ? garbage_znodes[i].length
							    : (int) strlen(garbage_znodes[i].garbage);
		memcpy(data, garbage_znodes[i].garbage, (size_t) length);
		data[length] = '\0';
		snprintf(path, sizeof(path), "%s/%s", c.base, garbage_znodes[i].key);
		assert_int_equal(zk_client_set(c.client, path, data, -1, NULL), ZOK);
	}
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < count; k++) {
			snprintf(path, sizeof(path), "%s/%s", c.base, garbage_znodes[k].key);
			if (!harness_log_wait(c.agent[i].log_path, "dcs.invalid_znode", "path", path, 0,
					      WAIT_MS, NULL, NULL))
				fail_msg("agent %d did not report garbage in %s", i + 1, path);
		}

	/* Nobody may lead while the lock holds garbage; both still run. */
	assert_int_equal(test_agent_count(&c.agent[0], "leader.acquired") +
				 test_agent_count(&c.agent[1], "leader.acquired"),
			 0);
	for (int i = 0; i < 2; i++)
		assert_true(harness_is_running(c.agent[i].pid));

	/* Clear the bad lock: the agents elect a leader at once. */
	snprintf(path, sizeof(path), "%s/leader", c.base);
	assert_int_equal(zk_client_delete(c.client, path, -1), ZOK);
	assert_true(wait_for_new_leader(&c, NULL, -1, WAIT_MS, NULL) >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_three_candidates_elect_exactly_one_leader,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_closed_session_hands_the_lock_over_within_100ms,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_frozen_leader_is_replaced_and_fenced,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(
			test_restart_with_same_name_reclaims_stale_znodes_at_once, harness_test_setup,
			harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_member_znode_is_patroni_member_json,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_garbage_in_znodes_is_logged_not_fatal,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_leader_fences_itself_before_its_session_can_expire,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_ensemble_leader_loss_keeps_the_same_leader,
						harness_test_setup, harness_test_teardown),
	};
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
	return failures + test_sanitizer_reports();
}
