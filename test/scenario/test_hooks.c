/*
 * Patroni's callbacks and the pre_promote hook on a real cluster: a script
 * records every call, and the sequence of actions and roles each member
 * went through bootstrap, a switchover and a failover is compared with the
 * expected one.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>
#include <zookeeper/zookeeper.h>

#include "test/harness/harness.h"
#include "test/harness/zk_client.h"
#include "test/scenario/agents.h"
#include "test/scenario/cluster.h"

/* The callback is run by the agent itself: $PPID tells which member. */
static const char *write_script(const char *name, const char *body)
{
	const char *path = harness_write_file(name, body);
	assert_non_null(path);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

/* "action role" lines the script recorded for one agent, joined by ';'. */
static void calls_of(const char *record, pid_t agent, char *out, size_t size)
{
	char line[256];
	FILE *f = fopen(record, "r");
	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		long pid;
		char action[64], role[32], scope[64];
		if (sscanf(line, "%ld %63s %31s %63s", &pid, action, role, scope) == 4 &&
		    pid == (long) agent)
			snprintf(out + strlen(out), size - strlen(out), "%s%s %s", out[0] ? ";" : "",
				 action, role);
	}
	if (f)
		fclose(f);
}

/* Wait until the member's calls are exactly `expected`. */
static void expect_calls(const char *record, const struct cluster *c, int member, pid_t pid,
			 const char *expected)
{
	char calls[1024] = "";
	for (int tries = 0; tries < 200; tries++) {
		calls_of(record, pid, calls, sizeof(calls));
		if (strcmp(calls, expected) == 0)
			return;
		harness_sleep_ms(50);
	}
	fail_msg("node%d's callbacks: got \"%s\", want \"%s\"", member + 1, calls, expected);
	(void) c;
}

static void test_callbacks_follow_each_role_change(void **state)
{
	(void) state;
	struct cluster c;
	char record[300], script[600], yaml[1400], body[256];
	struct test_agent_options options = cluster_default_options("hooks");

	snprintf(record, sizeof(record), "%s/callbacks.log", harness_mkdir("hooks-record"));
	snprintf(script, sizeof(script), "#!/bin/sh\necho \"$PPID $1 $2 $3\" >> %s\n", record);
	const char *path = write_script("callback.sh", script);
	snprintf(yaml, sizeof(yaml),
		 "  callbacks:\n    on_start: %s\n    on_stop: %s\n    on_restart: %s\n"
		 "    on_role_change: %s\n",
		 path, path, path, path);
	options.postgresql_yaml = yaml;
	int primary = cluster_start_options(&c, "hooks", NULL, options);
	pid_t pids[CLUSTER_MEMBERS];
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		pids[i] = c.agent[i].pid;
	int candidate = (primary + 1) % CLUSTER_MEMBERS, third = (primary + 2) % CLUSTER_MEMBERS;

	/* Bootstrap. */
	expect_calls(record, &c, primary, pids[primary], "on_start master");
	expect_calls(record, &c, candidate, pids[candidate], "on_start replica");
	expect_calls(record, &c, third, pids[third], "on_start replica");

	/* A restart of a replica is one on_restart. */
	cluster_expect(&c, third, "POST", "/restart", NULL, 200, "restarted");
	expect_calls(record, &c, third, pids[third], "on_start replica;on_restart replica");

	/* Switchover: the old primary stops and comes back as a replica. */
	snprintf(body, sizeof(body), "{\"leader\":\"%s\",\"candidate\":\"%s\"}", c.agent[primary].name,
		 c.agent[candidate].name);
	cluster_expect(&c, primary, "POST", "/switchover", body, 200, "Successfully switched over");
	expect_calls(record, &c, candidate, pids[candidate], "on_start replica;on_role_change master");
	expect_calls(record, &c, primary, pids[primary],
		     "on_start master;on_stop master;on_role_change replica");

	/* Failover: the new primary's node dies; the survivor that takes over
	 * says so, the other one stays as it was. */
	pid_t postmaster = cluster_postmaster_pid(&c, candidate);
	int64_t elapsed;
	assert_int_equal(harness_kill(c.agent[candidate].pid), 9);
	kill(postmaster, SIGKILL);
	c.agent[candidate].pid = 0;
	int next = cluster_wait_writable(&c, candidate, harness_now_ms(), &elapsed);
	assert_true(next >= 0);
	if (next == primary) {
		expect_calls(record, &c, primary, pids[primary],
			     "on_start master;on_stop master;on_role_change replica;on_role_change master");
		expect_calls(record, &c, third, pids[third], "on_start replica;on_restart replica");
	} else {
		expect_calls(record, &c, third, pids[third],
			     "on_start replica;on_restart replica;on_role_change master");
		expect_calls(record, &c, primary, pids[primary],
			     "on_start master;on_stop master;on_role_change replica");
	}
}

static void test_failing_pre_promote_prevents_the_promotion(void **state)
{
	(void) state;
	struct cluster c;
	char deny[300], script[700], yaml[400], body[256], value[16], text[32];
	struct test_agent_options options = cluster_default_options("prepromote");

	/* pre_promote refuses for the agents whose pid is listed in `deny`. */
	snprintf(deny, sizeof(deny), "%s/deny", harness_mkdir("prepromote-deny"));
	assert_non_null(harness_write_file("prepromote-deny/deny", ""));
	snprintf(script, sizeof(script),
		 "#!/bin/sh\nif grep -qx \"$PPID\" %s; then echo refused; exit 1; fi\nexit 0\n", deny);
	snprintf(yaml, sizeof(yaml), "  pre_promote: %s\n", write_script("pre_promote.sh", script));
	options.postgresql_yaml = yaml;
	int primary = cluster_start_options(&c, "prepromote", NULL, options);
	int refused = (primary + 1) % CLUSTER_MEMBERS;
	FILE *f = fopen(deny, "w");
	assert_non_null(f);
	snprintf(text, sizeof(text), "%d\n", (int) c.agent[refused].pid);
	fputs(text, f);
	fclose(f);

	/* A switchover to the refused member: it takes the lock, its
	 * pre_promote says no, it lets go, and someone else leads. */
	size_t from = test_agent_lines(&c.agent[refused]);
	snprintf(body, sizeof(body), "{\"leader\":\"%s\",\"candidate\":\"%s\"}", c.agent[primary].name,
		 c.agent[refused].name);
	(void) cluster_http(&c, primary, "POST", "/switchover", body, NULL);
	assert_true(test_agent_wait(&c.agent[refused], "pg.pre_promote_failed", from, CLUSTER_WAIT_MS,
				    NULL));
	int64_t elapsed;
	int next = cluster_wait_writable(&c, refused, harness_now_ms(), &elapsed);
	assert_true(next >= 0 && next != refused);
	assert_true(cluster_sql(&c, refused, "SELECT pg_is_in_recovery()::text", value, sizeof(value)));
	assert_string_equal(value, "true");
	assert_int_equal(test_agent_count(&c.agent[refused], "pg.promoted"), 0);
}

/* The application_names streaming from a member, sorted, joined by ','. */
static void streaming_from(const struct cluster *c, int member, char *out, size_t size)
{
	out[0] = '\0';
	(void) cluster_sql(c, member,
			   "SELECT coalesce(string_agg(application_name, ',' ORDER BY application_name), '')"
			   " FROM pg_stat_replication WHERE state = 'streaming'",
			   out, size);
}

static bool wait_streaming_from(const struct cluster *c, int member, const char *expected)
{
	char names[256] = "";
	for (int tries = 0; tries < 400; tries++) {
		streaming_from(c, member, names, sizeof(names));
		if (strcmp(names, expected) == 0)
			return true;
		harness_sleep_ms(50);
	}
	print_error("node%d streams to \"%s\", want \"%s\"\n", member + 1, names, expected);
	return false;
}

/* replicatefrom: a member streams from the named replica (which keeps a
 * slot for it), and from the leader again once that replica is gone. */
static void test_replicatefrom_cascades_and_falls_back(void **state)
{
	(void) state;
	struct cluster c;
	char text[8192], tag[64], slots[128];
	int primary = cluster_start(&c, "cascade");
	int upstream = (primary + 1) % CLUSTER_MEMBERS, cascading = (primary + 2) % CLUSTER_MEMBERS;

	/* Add the tag to the cascading member's file and reload it. */
	FILE *f = fopen(c.agent[cascading].config_path, "r");
	assert_non_null(f);
	size_t length = fread(text, 1, sizeof(text) - 200, f);
	fclose(f);
	text[length] = '\0';
	char *at = strstr(text, "  region: test\n");
	assert_non_null(at);
	snprintf(tag, sizeof(tag), "  replicatefrom: %s\n", c.agent[upstream].name);
	memmove(at + strlen(tag), at, strlen(at) + 1);
	memcpy(at, tag, strlen(tag));
	f = fopen(c.agent[cascading].config_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	cluster_expect(&c, cascading, "POST", "/reload", NULL, 202, NULL);

	assert_true(wait_streaming_from(&c, upstream, c.agent[cascading].name));
	assert_true(wait_streaming_from(&c, primary, c.agent[upstream].name));
	/* The upstream replica holds the cascading member's slot. */
	assert_true(cluster_sql(&c, upstream,
				"SELECT string_agg(slot_name, ',') FROM pg_replication_slots WHERE active",
				slots, sizeof(slots)));
	assert_string_equal(slots, c.agent[cascading].name);

	/* The upstream goes away: back to the leader. */
	assert_true(harness_signal(c.agent[upstream].pid, SIGTERM));
	assert_int_equal(harness_stop(c.agent[upstream].pid, 20000), 0);
	c.agent[upstream].pid = 0;
	assert_true(wait_streaming_from(&c, primary, c.agent[cascading].name));
}

/* Insert lines into a member's configuration file after `anchor`. */
static void insert_config(const struct test_agent *agent, const char *anchor, const char *lines)
{
	char text[8192];
	FILE *f = fopen(agent->config_path, "r");
	assert_non_null(f);
	size_t length = fread(text, 1, sizeof(text) - strlen(lines) - 1, f);
	fclose(f);
	text[length] = '\0';
	char *at = strstr(text, anchor);
	assert_non_null(at);
	at += strlen(anchor);
	memmove(at + strlen(lines), at, strlen(at) + 1);
	memcpy(at, lines, strlen(lines));
	f = fopen(agent->config_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Stop a replica's agent and empty its data directory (kept aside). */
static void wipe_replica(struct cluster *c, int member)
{
	char aside[600];
	assert_true(harness_signal(c->agent[member].pid, SIGTERM));
	assert_int_equal(harness_stop(c->agent[member].pid, 20000), 0);
	c->agent[member].pid = 0;
	snprintf(aside, sizeof(aside), "%s.wiped", cluster_data_dir(c, member));
	assert_int_equal(rename(cluster_data_dir(c, member), aside), 0);
}

/* A custom replica method (a script that copies a base backup the test
 * made) is used before basebackup; basebackup when it fails. */
static void test_custom_replica_method_then_basebackup(void **state)
{
	(void) state;
	struct cluster c;
	char script[900], lines[1200], backup[400], conninfo[600];
	int primary = cluster_start(&c, "replmethod");
	int first = (primary + 1) % CLUSTER_MEMBERS, second = (primary + 2) % CLUSTER_MEMBERS;

	/* The base backup the method restores from. */
	snprintf(backup, sizeof(backup), "%s/base", harness_mkdir("replmethod-backup"));
	snprintf(conninfo, sizeof(conninfo),
		 "host=127.0.0.1 port=%d user=replicator password=test-replication-secret",
		 c.agent[primary].pg_port);
	char program[300];
	snprintf(program, sizeof(program), "%s/pg_basebackup", harness_pg_bindir());
	char *const argv[] = { program, "-D", backup, "-X", "stream", "-d", conninfo, NULL };
	assert_true(harness_run("pg_basebackup", argv, NULL, harness_path("replmethod-backup.log"), true,
				60000, NULL));
	/* Records its arguments; copies the backup, or fails when asked to. */
	snprintf(script, sizeof(script),
		 "#!/bin/sh\necho \"$@\" >> %s/args\n"
		 "for a; do case $a in --datadir=*) d=${a#--datadir=};; --source=*) s=${a#--source=};; esac; done\n"
		 "[ -d \"$s\" ] || exit 3\nmkdir -p \"$d\" && cp -a \"$s\"/. \"$d\"/ && chmod 700 \"$d\"\n",
		 harness_mkdir("replmethod-record"));
	const char *path = write_script("from_backup.sh", script);

	snprintf(lines, sizeof(lines),
		 "  create_replica_methods: [from_backup, basebackup]\n"
		 "  from_backup:\n    command: %s\n    source: %s\n", path, backup);
	wipe_replica(&c, first);
	insert_config(&c.agent[first], "  use_pg_rewind: true\n", lines);
	size_t from = test_agent_lines(&c.agent[first]);
	assert_true(test_agent_restart(&c.agent[first]));
	json_t *record = NULL;
	assert_true(test_agent_wait(&c.agent[first], "pg.cloned", from, CLUSTER_WAIT_MS, &record));
	assert_string_equal(json_string_value(json_object_get(record, "method")), "from_backup");
	json_decref(record);
	/* It was given Patroni's arguments, and its own keys. */
	char args[1024] = "";
	char record_path[400];
	snprintf(record_path, sizeof(record_path), "%s/args", harness_path("replmethod-record"));
	FILE *f = fopen(record_path, "r");
	assert_non_null(f);
	assert_non_null(fgets(args, sizeof(args), f));
	fclose(f);
	assert_non_null(strstr(args, "--scope=replmethod --role=replica --datadir="));
	assert_non_null(strstr(args, "--connstring="));
	assert_non_null(strstr(args, "--source="));
	assert_null(strstr(args, "password"));

	/* The method fails (no backup there): basebackup takes over. */
	snprintf(lines, sizeof(lines),
		 "  create_replica_methods: [from_backup, basebackup]\n"
		 "  from_backup:\n    command: %s\n    source: /nonexistent\n", path);
	wipe_replica(&c, second);
	insert_config(&c.agent[second], "  use_pg_rewind: true\n", lines);
	from = test_agent_lines(&c.agent[second]);
	assert_true(test_agent_restart(&c.agent[second]));
	assert_true(test_agent_wait(&c.agent[second], "pg.replica_method_failed", from, CLUSTER_WAIT_MS,
				    NULL));
	assert_true(test_agent_wait(&c.agent[second], "pg.cloned", from, CLUSTER_WAIT_MS, &record));
	assert_string_equal(json_string_value(json_object_get(record, "method")), "basebackup");
	json_decref(record);
	/* Both stream from the leader again. */
	char names[128];
	snprintf(names, sizeof(names), "%s,%s", c.agent[first < second ? first : second].name,
		 c.agent[first < second ? second : first].name);
	assert_true(wait_streaming_from(&c, primary, names));
}

/* bootstrap.method runs a custom command instead of initdb, and
 * post_bootstrap gets a connection string to the new cluster. */
static void test_custom_bootstrap_and_post_bootstrap(void **state)
{
	(void) state;
	struct cluster c;
	char bootstrap[600], post[400], extra[900], value[16];
	const char *extra_yaml[CLUSTER_MEMBERS];

	snprintf(bootstrap, sizeof(bootstrap),
		 "#!/bin/sh\nfor a; do case $a in --datadir=*) d=${a#--datadir=};; esac; done\n"
		 "exec %s/initdb -D \"$d\" -U postgres --auth-local=trust --data-checksums >/dev/null\n",
		 harness_pg_bindir());
	snprintf(post, sizeof(post), "#!/bin/sh\nexec %s/psql -X -q \"$1\" -c 'CREATE TABLE made_by_post_bootstrap ()'\n",
		 harness_pg_bindir());
	snprintf(extra, sizeof(extra),
		 "bootstrap:\n  method: mine\n  mine:\n    command: %s\n  post_bootstrap: %s\n",
		 write_script("bootstrap.sh", bootstrap), write_script("post_bootstrap.sh", post));
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		extra_yaml[i] = extra;
	int primary = cluster_start_with(&c, "custombootstrap", extra_yaml);
	assert_true(test_agent_wait(&c.agent[primary], "pg.bootstrap_method", 0, 1000, NULL));
	assert_int_equal(test_agent_count(&c.agent[primary], "pg.bootstrap_failed"), 0);
	cluster_wait_replicated(&c, primary);
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		assert_true(cluster_sql(&c, i, "SELECT count(*)::text FROM pg_class WHERE relname = 'made_by_post_bootstrap'",
					value, sizeof(value)));
		assert_string_equal(value, "1");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_callbacks_follow_each_role_change,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_replicatefrom_cascades_and_falls_back,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_custom_replica_method_then_basebackup,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_custom_bootstrap_and_post_bootstrap,
						harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_failing_pre_promote_prevents_the_promotion,
						harness_test_setup, harness_test_teardown),
	};
	if (getenv("PGHERD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGHERD_TEST_FILTER"));
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
	return failures + test_sanitizer_reports();
}
