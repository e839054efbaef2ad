/*
 * The harness's own scenario test: what every other scenario test relies
 * on.  Real ZooKeeper and PostgreSQL servers; prints what it measured.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/harness/harness.h"
#include "test/harness/zk_client.h"

static void measured(const char *what, int64_t ms)
{
	printf("measured: %-44s %6" PRId64 " ms\n", what, ms);
	fflush(stdout);
}

/* Owner uid of a process, from /proc/<pid>/status ("Uid: real eff ..."). */
static long process_uid(pid_t pid)
{
	char path[64];
	char line[256];
	long uid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Uid: %*d %ld", &uid) == 1)
			break;
	fclose(f);
	return uid;
}

/* Open descriptors of a process.  harness_spawn() returns after the
 * exec, so the CLOEXEC ones are already gone. */
static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *e;
	int count = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			count++;
	closedir(d);
	return count;
}

static void test_zk_standalone_answers(void **state)
{
	struct harness_zk zk;
	char answer[64];
	char mode[32];

	(void) state;
	assert_true(harness_zk_start(1, &zk));
	measured("zookeeper standalone: launch to serving", zk.startup_ms);
	assert_true(harness_is_running(zk.server[0].pid));
	assert_int_equal(process_uid(zk.server[0].pid), (long) harness_service_uid());
	assert_true(harness_zk_4lw(zk.server[0].client_port, "ruok", answer, sizeof(answer), 1000));
	assert_string_equal(answer, "imok");
	assert_true(harness_zk_mode(&zk, 0, mode, sizeof(mode)));
	assert_string_equal(mode, "standalone");
	assert_int_equal(harness_zk_leader_index(&zk), -1);
	assert_true(harness_zk_stop_server(&zk, 0));
	assert_int_equal(zk.server[0].pid, 0);
}

static void test_zk_client_round_trip(void **state)
{
	struct harness_zk zk;
	struct zk_client *c;
	struct zk_client_children kids;
	struct Stat stat;
	char data[64];
	char created[128];
	int64_t t0;

	(void) state;
	assert_true(harness_zk_start(1, &zk));
	t0 = harness_now_ms();
	assert_int_equal(zk_client_connect(zk.connect_string, 2000, 5000, &c), ZOK);
	measured("zk_client: connect", harness_now_ms() - t0);
	assert_true(zk_client_session_id(c) != 0);

	assert_int_equal(zk_client_create(c, "/pgherd/test/a", "one", ZK_CLIENT_PARENTS, NULL, 0), ZOK);
	assert_int_equal(zk_client_create(c, "/pgherd/test/a", "dup", 0, NULL, 0), ZNODEEXISTS);
	assert_int_equal(zk_client_create(c, "/pgherd/test/b", "", 0, NULL, 0), ZOK);
	assert_int_equal(zk_client_create(c, "/pgherd/test/seq-", "s", ZK_CLIENT_SEQUENTIAL,
					  created, sizeof(created)), ZOK);
	assert_string_equal(created, "/pgherd/test/seq-0000000002");

	assert_int_equal(zk_client_get(c, "/pgherd/test/a", data, sizeof(data), &stat), ZOK);
	assert_string_equal(data, "one");
	assert_int_equal(stat.version, 0);
	assert_int_equal(stat.ephemeralOwner, 0);

	assert_int_equal(zk_client_set(c, "/pgherd/test/a", "two", 0, &stat), ZOK);
	assert_int_equal(stat.version, 1);
	assert_int_equal(zk_client_set(c, "/pgherd/test/a", "three", 0, NULL), ZBADVERSION);
	assert_int_equal(zk_client_get(c, "/pgherd/test/a", data, 3, NULL), ZOK);
	assert_string_equal(data, "tw");	/* truncated to the buffer */

	assert_int_equal(zk_client_children(c, "/pgherd/test", &kids), ZOK);
	assert_int_equal(kids.count, 3);
	assert_string_equal(kids.names[0], "a");
	assert_string_equal(kids.names[1], "b");
	assert_string_equal(kids.names[2], "seq-0000000002");
	zk_client_children_free(&kids);

	assert_int_equal(zk_client_delete(c, "/pgherd/test/b", -1), ZOK);
	assert_int_equal(zk_client_exists(c, "/pgherd/test/b", NULL), ZNONODE);
	assert_int_equal(zk_client_get(c, "/pgherd/test/b", data, sizeof(data), NULL), ZNONODE);
	assert_int_equal(zk_client_delete(c, "/pgherd/test", -1), ZNOTEMPTY);
	assert_int_equal(zk_client_delete_recursive(c, "/pgherd"), ZOK);
	assert_int_equal(zk_client_exists(c, "/pgherd", NULL), ZNONODE);
	zk_client_close(c);
}

static void test_zk_ephemeral_vanishes(void **state)
{
	struct harness_zk zk;
	struct zk_client *owner;
	struct zk_client *watcher;
	struct Stat stat;
	int64_t t0;
	int rc = ZOK;

	(void) state;
	assert_true(harness_zk_start(1, &zk));
	assert_int_equal(zk_client_connect(zk.connect_string, 2000, 5000, &owner), ZOK);
	assert_int_equal(zk_client_connect(zk.connect_string, 2000, 5000, &watcher), ZOK);
	assert_int_equal(zk_client_create(owner, "/leader", "me", ZK_CLIENT_EPHEMERAL, NULL, 0), ZOK);
	assert_int_equal(zk_client_exists(watcher, "/leader", &stat), ZOK);
	assert_true(stat.ephemeralOwner == zk_client_session_id(owner));

	/* Idle for longer than the session timeout: harness_sleep_ms keeps
	 * both sessions alive. */
	harness_sleep_ms(2500);
	assert_int_equal(zk_client_exists(watcher, "/leader", NULL), ZOK);

	t0 = harness_now_ms();
	zk_client_close(owner);
	while (harness_now_ms() - t0 < 5000 &&
	       (rc = zk_client_exists(watcher, "/leader", NULL)) == ZOK)
		harness_sleep_ms(10);
	assert_int_equal(rc, ZNONODE);
	measured("ephemeral gone after its client closed", harness_now_ms() - t0);
	zk_client_close(watcher);
}

static void test_zk_freeze_resume(void **state)
{
	struct harness_zk zk;
	struct zk_client *c;
	struct zk_client *fresh;
	char answer[64];
	int64_t t0;

	(void) state;
	assert_true(harness_zk_start(1, &zk));
	assert_int_equal(zk_client_connect(zk.connect_string, 1000, 5000, &c), ZOK);
	zk_client_set_timeout(c, 500);

	t0 = harness_now_ms();
	assert_true(harness_zk_freeze_server(&zk, 0));
	measured("freeze (SIGSTOP until state T)", harness_now_ms() - t0);
	/* A frozen JVM still has its socket: connects succeed, no answer. */
	assert_false(harness_zk_4lw(zk.server[0].client_port, "ruok", answer, sizeof(answer), 300));
	assert_int_equal(zk_client_exists(c, "/", NULL), ZOPERATIONTIMEOUT);
	harness_sleep_ms(1500);
	printf("measured: client with a 1 s session after 1.5 s frozen: %s\n",
	       zk_client_state_name(zk_client_state(c)));
	assert_int_not_equal(zk_client_state(c), ZOO_CONNECTED_STATE);

	t0 = harness_now_ms();
	assert_true(harness_zk_resume_server(&zk, 0));
	assert_true(harness_zk_wait_quorum(&zk, 10000));
	measured("resume to imok/serving", harness_now_ms() - t0);
	assert_true(harness_zk_4lw(zk.server[0].client_port, "ruok", answer, sizeof(answer), 1000));
	assert_string_equal(answer, "imok");
	assert_int_equal(zk_client_connect(zk.connect_string, 2000, 5000, &fresh), ZOK);
	assert_int_equal(zk_client_create(fresh, "/after-freeze", "x", 0, NULL, 0), ZOK);
	zk_client_close(fresh);
	/* The old client is left open on purpose: test teardown closes it. */
	(void) c;
}

/* Retry an operation while the ensemble elects a new leader. */
static int set_with_retry(struct zk_client *c, const char *path, const char *data, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	int rc;

	while ((rc = zk_client_set(c, path, data, -1, NULL)) != ZOK &&
	       harness_now_ms() < deadline)
		harness_sleep_ms(50);
	return rc;
}

static void test_zk_ensemble_failover(void **state)
{
	struct harness_zk zk;
	struct zk_client *c;
	char mode[32];
	char data[32];
	int leaders = 0;
	int leader;
	int new_leader;
	int64_t t0;

	(void) state;
	assert_true(harness_zk_start(3, &zk));
	measured("zookeeper ensemble of 3: launch to quorum", zk.startup_ms);
	for (int i = 0; i < 3; i++) {
		assert_true(harness_zk_mode(&zk, i, mode, sizeof(mode)));
		if (strcmp(mode, "leader") == 0)
			leaders++;
		else
			assert_string_equal(mode, "follower");
	}
	assert_int_equal(leaders, 1);
	leader = harness_zk_leader_index(&zk);
	assert_true(leader >= 0 && leader < 3);

	assert_int_equal(zk_client_connect(zk.connect_string, 4000, 5000, &c), ZOK);
	assert_int_equal(zk_client_create(c, "/config", "v1", 0, NULL, 0), ZOK);

	t0 = harness_now_ms();
	assert_true(harness_zk_stop_server(&zk, leader));
	measured("zookeeper leader SIGTERM to exit", harness_now_ms() - t0);
	assert_true(harness_zk_wait_quorum(&zk, 15000));
	measured("leader stopped to new leader", harness_now_ms() - t0);
	new_leader = harness_zk_leader_index(&zk);
	assert_true(new_leader >= 0 && new_leader != leader);

	assert_int_equal(set_with_retry(c, "/config", "v2", 10000), ZOK);
	measured("leader stopped to client write ok", harness_now_ms() - t0);
	assert_int_equal(zk_client_get(c, "/config", data, sizeof(data), NULL), ZOK);
	assert_string_equal(data, "v2");

	t0 = harness_now_ms();
	assert_true(harness_zk_start_server(&zk, leader));
	assert_true(harness_zk_wait_quorum(&zk, 15000));
	assert_true(harness_zk_mode(&zk, leader, mode, sizeof(mode)));
	assert_string_equal(mode, "follower");
	measured("old leader restarted to following", harness_now_ms() - t0);
	zk_client_close(c);
}

static void test_pg_runs_as_service_user(void **state)
{
	struct harness_pg pg;
	char value[64];
	pid_t pid;
	int status;

	(void) state;
	assert_true(harness_pg_init(&pg));
	assert_true(harness_pg_append_conf(&pg, "work_mem = '7MB'"));
	assert_true(harness_pg_launch(&pg));
	measured("initdb", pg.initdb_ms);
	measured("postgres: launch to accepting connections", pg.startup_ms);
	pid = pg.pid;
	assert_int_equal(process_uid(pid), (long) harness_service_uid());
	assert_true(harness_pg_query(&pg, "SELECT current_user", value, sizeof(value)));
	assert_string_equal(value, "postgres");
	assert_true(harness_pg_query(&pg, "SELECT 1", value, sizeof(value)));
	assert_string_equal(value, "1");
	assert_true(harness_pg_query(&pg, "SHOW data_checksums", value, sizeof(value)));
	assert_string_equal(value, "on");
	assert_true(harness_pg_query(&pg, "SHOW work_mem", value, sizeof(value)));
	assert_string_equal(value, "7MB");
	assert_false(harness_pg_query(&pg, "SELECT no_such_column", NULL, 0));

	status = harness_pg_stop(&pg, 10000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(harness_is_running(pid));
	assert_true(harness_process_gone(pid));
}

static void test_processes_and_files(void **state)
{
	const char *log = harness_path("sleeper.log");
	const char *script;
	const char *copy;
	struct stat st;
	pid_t pid;
	int status;

	(void) state;
	/* A binary copied in is runnable by the service user. */
	copy = harness_install_binary("/bin/echo");
	assert_non_null(copy);
	assert_int_equal(stat(copy, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(st.st_uid, harness_service_uid());
	{
		char *const argv[] = { (char *) copy, (char *) "hello from", (char *) "echo", NULL };

		assert_true(harness_run("echo", argv, NULL, log, true, 5000, &status));
	}
	script = harness_write_file("conf/nested/agent.yml", "name: node1\n");
	assert_non_null(script);
	assert_int_equal(stat(script, &st), 0);
	assert_int_equal(st.st_uid, harness_service_uid());
	assert_int_equal(stat(harness_path("conf/nested"), &st), 0);
	assert_int_equal(st.st_uid, harness_service_uid());

	/* A missing program is reported at spawn time. */
	{
		char *const argv[] = { (char *) "/nonexistent/program", NULL };

		assert_int_equal(harness_spawn("missing", argv, NULL, log, true), -1);
	}
	/* Non-zero exit is a failure with its status. */
	{
		char *const argv[] = { (char *) "/bin/false", NULL };

		assert_false(harness_run("false", argv, NULL, log, true, 5000, &status));
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	}
	/* freeze/resume/stop, and SIGKILL for what ignores SIGTERM.  The
	 * child inherits no descriptor but stdin, stdout and stderr. */
	{
		char *const argv[] = { (char *) "/bin/sleep", (char *) "60", NULL };
		int leaky = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC on purpose */

		assert_true(leaky > 2);
		pid = harness_spawn("sleep", argv, NULL, log, true);
		close(leaky);
		assert_true(pid > 0);
		assert_int_equal(count_fds(pid), 3);
		assert_true(harness_freeze(pid));
		assert_true(harness_resume(pid));
		status = harness_stop(pid, 2000);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
		assert_false(harness_is_running(pid));
	}
	{
		char *const argv[] = { (char *) "/bin/sh", (char *) "-c",
				       (char *) "trap '' TERM; sleep 60", NULL };
		int64_t t0;

		pid = harness_spawn("stubborn", argv, NULL, log, true);
		assert_true(pid > 0);
		harness_sleep_ms(100);	/* let the shell install its trap */
		t0 = harness_now_ms();
		status = harness_stop(pid, 300);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		assert_true(harness_now_ms() - t0 < 2000);
	}
	/* Ports are never handed out twice. */
	{
		int a = harness_free_port();
		int b = harness_free_port();

		assert_true(a > 0 && b > 0 && a != b);
	}
	assert_true(harness_log_line_count(log) >= 1);
}

static void test_log_helpers(void **state)
{
	const char *log;
	json_t *record = NULL;
	size_t line = 0;

	(void) state;
	log = harness_write_file("agent.log",
		"{\"ts\":\"2026-11-24T01:07:40.123Z\",\"level\":\"info\",\"event\":\"agent.started\",\"member\":\"n1\"}\n"
		"==12345==ERROR: AddressSanitizer: not json at all\n"
		"{\"ts\":\"2026-11-24T01:07:41.000Z\",\"level\":\"info\",\"event\":\"leader.acquired\",\"member\":\"n1\",\"term\":3}\n"
		"{\"ts\":\"2026-11-24T01:07:42.5Z\",\"level\":\"info\",\"event\":\"leader.acquired\",\"member\":\"n2\",\"term\":4,\"ok\":true}\n"
		"{\"ts\":\"2026-11-24T01:07:43.000Z\",\"event\":\"half");
	assert_non_null(log);
	assert_int_equal(harness_log_line_count(log), 4);	/* the partial line is not one */
	assert_int_equal(harness_log_count(log, "leader.acquired"), 2);
	assert_int_equal(harness_log_count(log, NULL), 3);

	assert_true(harness_log_wait(log, "leader.acquired", NULL, NULL, 0, 100, &record, &line));
	assert_int_equal(line, 2);
	assert_string_equal(json_string_value(json_object_get(record, "member")), "n1");
	assert_int_equal(harness_parse_ts_ms(json_string_value(json_object_get(record, "ts"))),
			 INT64_C(1795482461000));
	json_decref(record);
	assert_true(harness_log_wait(log, "leader.acquired", NULL, NULL, line + 1, 100, NULL, &line));
	assert_int_equal(line, 3);
	assert_true(harness_log_wait(log, "leader.acquired", "term", "4", 0, 100, NULL, &line));
	assert_int_equal(line, 3);
	assert_true(harness_log_wait(log, "leader.acquired", "ok", "true", 0, 100, NULL, NULL));
	assert_false(harness_log_wait(log, "leader.acquired", "member", "n3", 0, 50, NULL, NULL));
	assert_false(harness_log_wait("/nonexistent.log", "x", NULL, NULL, 0, 30, NULL, NULL));

	assert_int_equal(harness_parse_ts_ms("2026-11-24T01:07:40.123Z"), INT64_C(1795482460123));
	assert_int_equal(harness_parse_ts_ms("2026-11-24T02:07:40.123+01:00"), INT64_C(1795482460123));
	assert_int_equal(harness_parse_ts_ms("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(harness_parse_ts_ms("2026-11-24 01:07:40Z"), -1);
	assert_int_equal(harness_parse_ts_ms("2026-11-24T01:07:40"), -1);
}

/* A test binary killed with SIGKILL runs no cleanup at all: PDEATHSIG is
 * what stops its children.  Simulated with a forked copy of ourselves. */
static void test_kill_9_leaves_nothing(void **state)
{
	int fds[2];
	pid_t copy;
	pid_t orphan = -1;
	int64_t t0;

	(void) state;
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	copy = fork();
	assert_true(copy >= 0);
	if (copy == 0) {
		char *const argv[] = { (char *) "/bin/sleep", (char *) "60", NULL };
		pid_t pid;

		close(fds[0]);
		pid = harness_spawn("orphan", argv, NULL, harness_path("orphan.log"), true);
		if (write(fds[1], &pid, sizeof(pid)) != (ssize_t) sizeof(pid))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &orphan, sizeof(orphan)), (ssize_t) sizeof(orphan));
	close(fds[0]);
	assert_true(orphan > 0);
	assert_false(harness_process_gone(orphan));
	kill(copy, SIGKILL);
	assert_int_equal(waitpid(copy, NULL, 0), copy);
	t0 = harness_now_ms();
	while (!harness_process_gone(orphan) && harness_now_ms() - t0 < 2000)
		harness_sleep_ms(5);
	assert_true(harness_process_gone(orphan));
	measured("kill -9 of the parent to its child gone", harness_now_ms() - t0);
}

/* Teardown stops everything and removes the run directory. */
static void test_teardown_leaves_nothing(void **state)
{
	struct harness_zk zk;
	struct harness_pg pg;
	struct zk_client *c;
	char run_dir[HARNESS_PATH_MAX];
	pid_t pids[3];
	struct stat st;
	int64_t t0;

	(void) state;
	assert_true(harness_zk_start(1, &zk));
	assert_true(harness_pg_start(&pg));
	{
		char *const argv[] = { (char *) "/bin/sleep", (char *) "60", NULL };

		pids[2] = harness_spawn("sleep", argv, NULL, harness_path("sleep.log"), true);
		assert_true(pids[2] > 0);
	}
	pids[0] = zk.server[0].pid;
	pids[1] = pg.pid;
	assert_int_equal(zk_client_connect(zk.connect_string, 2000, 5000, &c), ZOK);
	(void) c;			/* teardown closes it */
	snprintf(run_dir, sizeof(run_dir), "%s", harness_run_dir());

	t0 = harness_now_ms();
	harness_teardown();
	measured("teardown (zookeeper, postgres, sleep)", harness_now_ms() - t0);
	for (int i = 0; i < 3; i++)
		assert_true(harness_process_gone(pids[i]));
	if (getenv("PGHERD_TEST_KEEP") == NULL)
		assert_int_equal(stat(run_dir, &st) == 0 ? 0 : errno, ENOENT);
	assert_null(harness_run_dir());
	assert_true(harness_setup());	/* for the group teardown */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_log_helpers, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_processes_and_files, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_kill_9_leaves_nothing, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_zk_standalone_answers, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_zk_client_round_trip, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_zk_ephemeral_vanishes, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_zk_freeze_resume, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_zk_ensemble_failover, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_pg_runs_as_service_user, harness_test_setup, harness_test_teardown),
		cmocka_unit_test_setup_teardown(test_teardown_leaves_nothing, harness_test_setup, harness_test_teardown),
	};
	/* cmocka's summary is the last line: test/run.sh reads it. */
	return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
