/*
 * pg/process against real programs: initdb, the postmaster, pg_ctl and
 * pg_controldata of PostgreSQL 15, plus small shell commands for the
 * corners (deadlines, strays, orphans, output framing).  Everything runs on
 * one libevent loop, as in the agent; the agent's log is captured in memory
 * and the assertions read what an operator would see in it.
 *
 * Children run as the service user (postgres when we are root) through the
 * options' uid/gid, and die with this binary (death_signal) if it crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "agent/log.h"
#include "pg/process.h"
#include "pg/tools.h"
#include "test/harness/harness.h"

static struct event_base *base;
static FILE *log_stream;
static char *log_buf;
static size_t log_len;

/* The cluster initdb'd by the first test and used by the next ones. */
static struct pg_settings cluster;
static char data_dir[HARNESS_PATH_MAX];
static char socket_dir[HARNESS_PATH_MAX];
static bool cluster_ready;

/* --- Fixtures ------------------------------------------------------------------- */

static int setup(void **state)
{
	if (harness_test_setup(state) != 0)
		return -1;
	log_stream = open_memstream(&log_buf, &log_len);
	if (!log_stream)
		return -1;
	log_set_stream(log_stream);
	log_set_level(LOG_LEVEL_INFO);
	base = event_base_new();
	if (!base || !pg_process_init(base))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	FILE *keep;

	pg_process_shutdown();
	(void) prctl(PR_SET_CHILD_SUBREAPER, 0);	/* in case the orphan test failed */
	event_base_free(base);
	base = NULL;
	log_set_stream(NULL);
	fclose(log_stream);
	/* The run directory keeps every test's log (PGHERD_TEST_KEEP=1). */
	keep = fopen(harness_path("pg_process.log"), "ae");
	if (keep) {
		fwrite(log_buf, 1, log_len, keep);
		fclose(keep);
	}
	free(log_buf);
	log_buf = NULL;
	log_len = 0;
	return harness_test_teardown(state);
}

/* --- Loop and results ----------------------------------------------------------- */

struct run {
	bool done;
	int calls;
	pid_t pid;
	int exit_code;
	int signal;
	bool timed_out;
	bool cancelled;
	int64_t duration_ms;
	char *output;
	size_t output_len;
	bool output_truncated;
	int64_t done_at_ms;
};

static void record_done(void *arg, const struct pg_process_result *r)
{
	struct run *run = arg;

	run->done = true;
	run->calls++;
	run->pid = r->pid;
	run->exit_code = r->exit_code;
	run->signal = r->signal;
	run->timed_out = r->timed_out;
	run->cancelled = r->cancelled;
	run->duration_ms = r->duration_ms;
	run->output = r->output ? strndup(r->output, r->output_len) : NULL;
	run->output_len = r->output_len;
	run->output_truncated = r->output_truncated;
	run->done_at_ms = harness_now_ms();
}

static void run_clear(struct run *run)
{
	free(run->output);
	memset(run, 0, sizeof(*run));
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	*(bool *) arg = true;
}

/* Run the loop until *flag or timeout_ms; true if *flag. */
static bool loop_until(const bool *flag, int timeout_ms)
{
	bool expired = false;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	struct event *timer = evtimer_new(base, timeout_cb, &expired);

	assert_non_null(timer);
	assert_int_equal(evtimer_add(timer, &tv), 0);
	while (!*flag && !expired)
		assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
	event_free(timer);
	return *flag;
}

/* Run the loop for ms, whatever happens. */
static void loop_for(int ms)
{
	bool never = false;
	loop_until(&never, ms);
}

static struct pg_process_options options_for(const char *tool, char *const *argv)
{
	return (struct pg_process_options){
		.tool = tool,
		.argv = argv,
		.cwd = harness_run_dir(),
		.deadline_ms = 60000,
		.switch_user = true,	/* to ourselves when not root */
		.uid = harness_service_uid(),
		.gid = harness_service_gid(),
		.death_signal = SIGKILL,
	};
}

static struct pg_process *start(const struct pg_process_options *o, struct run *run)
{
	struct pg_process *p = pg_process_start(base, o, record_done, run);
	assert_non_null(p);
	return p;
}

/* Start, wait for done, and check that done ran once. */
static void run_to_end(const struct pg_process_options *o, struct run *run, int timeout_ms)
{
	start(o, run);
	if (!loop_until(&run->done, timeout_ms))
		fail_msg("%s did not finish in %d ms", o->tool, timeout_ms);
	assert_int_equal(run->calls, 1);
}

/* --- The captured log ------------------------------------------------------------- */

/*
 * The index (0-based) of the first log line from line `from` on that holds
 * every non-NULL needle, or -1.  Lines look like
 *   2026-11-24T01:07:40.123Z INFO pg.tool_output tool=initdb pid=42 line="Success. ..."
 */
static int log_find_from(int from, const char *a, const char *b, const char *c)
{
	const char *line = log_buf;
	int index = 0;

	fflush(log_stream);
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t) (eol - line) : strlen(line);
		char *copy = strndup(line, len);
		bool match = index >= from && (!a || strstr(copy, a)) && (!b || strstr(copy, b)) &&
			     (!c || strstr(copy, c));
		free(copy);
		if (match)
			return index;
		index++;
		line = eol ? eol + 1 : NULL;
	}
	return -1;
}

static int log_find(const char *a, const char *b, const char *c)
{
	return log_find_from(0, a, b, c);
}

static int log_count(const char *a, const char *b, const char *c)
{
	int count = 0;
	for (int i = log_find(a, b, c); i >= 0; i = log_find_from(i + 1, a, b, c))
		count++;
	return count;
}

static void assert_logged(const char *a, const char *b, const char *c)
{
	if (log_find(a, b, c) < 0)
		fail_msg("no log line with [%s] [%s] [%s]; the log:\n%s", a, b ? b : "", c ? c : "",
			 log_buf);
}

static const char *pid_field(pid_t pid)
{
	static char buf[4][32];
	static int next;
	char *s = buf[next++ % 4];
	snprintf(s, 32, " pid=%d ", (int) pid);
	return s;
}

/* The value of line=... in the log's n-th line (no quotes: plain text). */
static char *log_line_value(int index)
{
	const char *line = log_buf;
	for (int i = 0; i < index && line; i++) {
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	assert_non_null(line);
	const char *v = strstr(line, " line=");
	assert_non_null(v);
	v += 6;
	const char *eol = strchr(v, '\n');
	return strndup(v, eol ? (size_t) (eol - v) : strlen(v));
}

/* --- Processes seen from /proc ------------------------------------------------------ */

/* Live (not zombie) processes in process group pgid. */
static int group_members(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int count = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300];
		char stat[512];
		FILE *f;
		char *close_paren;
		char state;
		int ppid, pgrp;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(stat, sizeof(stat), f)) {
			fclose(f);
			continue;
		}
		fclose(f);
		close_paren = strrchr(stat, ')');
		if (close_paren && sscanf(close_paren + 2, "%c %d %d", &state, &ppid, &pgrp) == 3 &&
		    pgrp == pgid && state != 'Z' && state != 'X')
			count++;
	}
	closedir(d);
	return count;
}

static bool gone_or_zombie(pid_t pid)
{
	char path[64];
	char stat[512];
	FILE *f;
	char *close_paren;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	bool ok = fgets(stat, sizeof(stat), f) != NULL;
	fclose(f);
	close_paren = ok ? strrchr(stat, ')') : NULL;
	return !close_paren || close_paren[2] == 'Z' || close_paren[2] == 'X';
}

static bool wait_group_gone(pid_t pgid, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	while (group_members(pgid) > 0) {
		if (harness_now_ms() > deadline)
			return false;
		usleep(10000);
	}
	return true;
}

/* --- PostgreSQL ------------------------------------------------------------------- */

static void setup_cluster_settings(void)
{
	static const struct pg_parameter parameters[] = {
		{ "fsync", "off" },		/* a test cluster: speed over durability */
		{ "max_wal_senders", "2" },
	};

	snprintf(data_dir, sizeof(data_dir), "%s", harness_path("pg/data"));
	snprintf(socket_dir, sizeof(socket_dir), "%s", harness_mkdir("pg/sock"));
	cluster = (struct pg_settings){
		.bin_dir = harness_pg_bindir(),
		.data_dir = data_dir,
		.port = harness_free_port(),
		.socket_dir = socket_dir,
		.listen_addresses = "127.0.0.1",
		.parameters = parameters,
		.parameter_count = 2,
	};
}

static void initdb_cluster(struct run *run)
{
	const char *pwfile;
	char **argv;
	struct pg_initdb_options io;
	struct pg_process_options o;

	assert_non_null(harness_mkdir("pg"));
	setup_cluster_settings();
	pwfile = harness_write_file("pg/superuser.pw", "not-on-the-command-line\n");
	assert_non_null(pwfile);
	io = (struct pg_initdb_options){ .pwfile = pwfile };
	argv = pg_initdb_argv(&cluster, &io);
	assert_non_null(argv);
	o = options_for("initdb", argv);
	o.env = (const char *const[]){ PG_TOOLS_C_LOCALE, NULL };
	run_to_end(&o, run, 60000);
	pg_argv_free(argv);
	cluster_ready = run->exit_code == 0;
}

/* Make sure a cluster exists even when this test runs alone. */
static void need_cluster(void)
{
	struct run run = { 0 };

	if (cluster_ready)
		return;
	initdb_cluster(&run);
	assert_int_equal(run.exit_code, 0);
	run_clear(&run);
}

struct ping {
	char conninfo[512];
	const struct run *postmaster;	/* stop polling if it died */
	bool ready;
	bool stop;
};

static void ping_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct ping *ping = arg;

	/* PQping blocks, but only for a local socket and only in this test. */
	if (PQping(ping->conninfo) == PQPING_OK)
		ping->ready = true;
	if (ping->ready || ping->postmaster->done)
		ping->stop = true;
}

static bool wait_accepting(const struct run *postmaster, int timeout_ms)
{
	char port[16];
	struct ping ping = { .postmaster = postmaster };
	struct timeval every = { 0, 50000 };
	struct event *timer = event_new(base, -1, EV_PERSIST, ping_cb, &ping);

	snprintf(port, sizeof(port), "%d", cluster.port);
	assert_true(pg_conninfo_build(ping.conninfo, sizeof(ping.conninfo), "host", socket_dir, "port",
				      port, "dbname", "postgres", "connect_timeout", "2",
				      (const char *) NULL));
	assert_non_null(timer);
	assert_int_equal(event_add(timer, &every), 0);
	loop_until(&ping.stop, timeout_ms);
	event_free(timer);
	return ping.ready;
}

static struct pg_process *start_postmaster(struct run *run)
{
	char **argv = pg_postmaster_argv(&cluster);
	struct pg_process_options o;
	struct pg_process *p;

	assert_non_null(argv);
	o = options_for("postgres", argv);
	o.deadline_ms = 0;		/* long-running */
	p = start(&o, run);
	pg_argv_free(argv);
	if (!wait_accepting(run, 20000))
		fail_msg("the postmaster does not accept connections; the log:\n%s", log_buf);
	return p;
}

/* --- Tests: PostgreSQL ------------------------------------------------------------- */

static void test_initdb_as_service_user(void **state)
{
	(void) state;
	struct run run = { 0 };

	initdb_cluster(&run);
	assert_int_equal(run.exit_code, 0);
	assert_int_equal(run.signal, 0);
	assert_false(run.timed_out);
	assert_null(run.output);	/* not asked for */

	/* What an operator sees: the command (the password stays in its
	 * file), initdb's own lines, and the result after the last of them. */
	assert_logged(" pg.tool_started ", "tool=initdb", "--pwfile=");
	assert_int_equal(log_find("not-on-the-command-line", NULL, NULL), -1);
	assert_logged(" pg.tool_output ", "tool=initdb", "Data page checksums are enabled.");
	assert_logged(" pg.tool_output ", "tool=initdb", "Success.");
	int finished = log_find(" pg.tool_finished ", "tool=initdb", " exit_code=0 ");
	assert_true(finished >= 0);
	int last_output = -1;
	for (int i = log_find(" pg.tool_output ", "tool=initdb", NULL); i >= 0;
	     i = log_find_from(i + 1, " pg.tool_output ", "tool=initdb", NULL))
		last_output = i;
	assert_true(last_output >= 0 && last_output < finished);

	char err[256];
	assert_int_equal(pg_data_dir_state(data_dir, err, sizeof(err)), PG_DATA_DIR_CLUSTER);
	run_clear(&run);
}

static void test_postmaster_lifecycle(void **state)
{
	(void) state;
	struct run postmaster = { 0 };
	struct run promote = { 0 };
	struct run stop = { 0 };
	struct run controldata = { 0 };
	struct run version = { 0 };
	struct pg_process_options o;
	struct pg_controldata cd;
	char err[256];
	char **argv;
	int v;

	need_cluster();
	start_postmaster(&postmaster);
	assert_false(postmaster.done);
	assert_logged(" pg.tool_started ", "tool=postgres", "-c listen_addresses=127.0.0.1 -c fsync=off");

	/* Promoting a primary fails cleanly, and says why. */
	argv = pg_ctl_promote_argv(&cluster, 10);
	o = options_for("pg_ctl", argv);
	o.env = (const char *const[]){ PG_TOOLS_C_LOCALE, NULL };
	run_to_end(&o, &promote, 20000);
	pg_argv_free(argv);
	assert_int_equal(promote.exit_code, 1);
	assert_logged(" pg.tool_output ", pid_field(promote.pid), "not in standby mode");
	assert_false(postmaster.done);

	/* A fast stop: pg_ctl succeeds and the postmaster exits 0. */
	argv = pg_ctl_stop_argv(&cluster, PG_STOP_FAST, 20);
	o = options_for("pg_ctl", argv);
	run_to_end(&o, &stop, 30000);
	pg_argv_free(argv);
	assert_int_equal(stop.exit_code, 0);
	assert_true(loop_until(&postmaster.done, 5000));
	assert_int_equal(postmaster.calls, 1);
	assert_int_equal(postmaster.exit_code, 0);
	assert_int_equal(postmaster.signal, 0);
	assert_false(postmaster.timed_out);
	/* The server's own log went through ours. */
	assert_logged(" pg.tool_output ", pid_field(postmaster.pid), "database system is ready");
	assert_logged(" pg.tool_output ", pid_field(postmaster.pid), "database system is shut down");

	/* pg_controldata in the C locale, parsed. */
	argv = pg_controldata_argv(&cluster);
	o = options_for("pg_controldata", argv);
	o.env = (const char *const[]){ PG_TOOLS_C_LOCALE, NULL };
	o.keep_output = true;
	run_to_end(&o, &controldata, 10000);
	pg_argv_free(argv);
	assert_int_equal(controldata.exit_code, 0);
	assert_non_null(controldata.output);
	if (!pg_controldata_parse(controldata.output, &cd, err, sizeof(err)))
		fail_msg("%s in:\n%s", err, controldata.output);
	assert_int_equal(cd.state, PG_CLUSTER_SHUT_DOWN);
	assert_true(cd.system_identifier > 0);
	assert_int_equal(cd.data_checksum_version, 1);
	assert_int_equal(cd.checkpoint_timeline, 1);
	assert_int_equal(cd.checkpoint_lsn, cd.checkpoint_redo_lsn);	/* a shutdown checkpoint */

	/* postgres --version, parsed. */
	argv = pg_version_argv(&cluster);
	o = options_for("postgres", argv);
	o.keep_output = true;
	run_to_end(&o, &version, 10000);
	pg_argv_free(argv);
	assert_true(pg_version_parse(version.output, &v));
	assert_true(v >= 150000 && v < 160000);

	run_clear(&postmaster);
	run_clear(&promote);
	run_clear(&stop);
	run_clear(&controldata);
	run_clear(&version);
}

static void test_postmaster_kill_9_reported_at_once(void **state)
{
	(void) state;
	struct run first = { 0 };
	struct run second = { 0 };
	struct pg_process *p;
	pid_t pid;
	int64_t killed_at;

	need_cluster();
	p = start_postmaster(&first);
	pid = pg_process_pid(p);

	killed_at = harness_now_ms();
	assert_true(pg_process_signal(p, SIGKILL));
	assert_true(loop_until(&first.done, 2000));
	assert_int_equal(first.signal, SIGKILL);
	assert_int_equal(first.exit_code, -1);
	assert_false(first.timed_out);
	printf("measured: kill -9 to done: %lld ms\n", (long long) (first.done_at_ms - killed_at));
	if (first.done_at_ms - killed_at > 1000)
		fail_msg("done came %lld ms after kill -9", (long long) (first.done_at_ms - killed_at));
	assert_logged(" pg.tool_finished ", pid_field(pid), " signal=9 ");
	/* Its children had closed our pipe, so they are gone: a new postmaster
	 * can start at once. */

	p = start_postmaster(&second);
	assert_true(pg_process_signal(p, SIGINT));	/* fast shutdown */
	assert_true(loop_until(&second.done, 20000));
	assert_int_equal(second.exit_code, 0);
	run_clear(&first);
	run_clear(&second);
}

/* --- Tests: the runner's corners ---------------------------------------------------- */

static void test_deadline_terminates_and_reports_timed_out(void **state)
{
	(void) state;
	struct run run = { 0 };
	char *argv[] = { "/bin/sleep", "30", NULL };
	struct pg_process_options o = options_for("sleep", argv);

	o.deadline_ms = 300;
	run_to_end(&o, &run, 5000);
	assert_true(run.timed_out);
	assert_false(run.cancelled);
	assert_int_equal(run.signal, SIGTERM);
	assert_int_equal(run.exit_code, -1);
	/* libevent's timers run on a coarse clock: a few ms early is fine. */
	if (run.duration_ms < 250 || run.duration_ms > 2000)
		fail_msg("duration_ms=%lld", (long long) run.duration_ms);
	assert_logged(" pg.tool_deadline ", pid_field(run.pid), "deadline_ms=300");
	assert_logged(" pg.tool_finished ", pid_field(run.pid), "timed_out=true");
	assert_int_equal(log_find(" pg.tool_killed ", NULL, NULL), -1);
	run_clear(&run);
}

static void test_ignored_sigterm_escalates_to_sigkill(void **state)
{
	(void) state;
	struct run run = { 0 };
	char *argv[] = { "/bin/sh", "-c", "trap '' TERM; echo armed; /bin/sleep 30; echo survived", NULL };
	struct pg_process_options o = options_for("sh", argv);

	o.deadline_ms = 200;
	o.kill_grace_ms = 300;
	run_to_end(&o, &run, 5000);
	assert_true(run.timed_out);
	assert_int_equal(run.signal, SIGKILL);
	assert_true(run.duration_ms >= 450 && run.duration_ms < 3000);	/* coarse timers */
	assert_logged(" pg.tool_output ", pid_field(run.pid), "line=armed");
	assert_int_equal(log_find("line=survived", NULL, NULL), -1);
	assert_logged(" pg.tool_killed ", pid_field(run.pid), "reason=grace_expired");
	assert_true(wait_group_gone(run.pid, 2000));
	run_clear(&run);
}

static void test_start_failures_are_clear(void **state)
{
	(void) state;
	char *missing[] = { "/nonexistent/bin/initdb", "-D", "/x", NULL };
	char *relative[] = { "initdb", NULL };
	struct pg_process_options o = options_for("initdb", missing);
	struct run run = { 0 };
	const char *not_executable = harness_write_file("not-executable", "#!/bin/sh\nexit 0\n");
	char *plain_file[] = { (char *) not_executable, NULL };

	assert_null(pg_process_start(base, &o, record_done, &run));
	assert_logged(" pg.tool_start_failed ", "tool=initdb", "error=\"No such file or directory\"");
	assert_logged(" pg.tool_start_failed ", "step=exec", "/nonexistent/bin/initdb");

	o.argv = relative;
	assert_null(pg_process_start(base, &o, record_done, &run));
	assert_logged(" pg.tool_start_failed ", "step=options", "absolute path");

	o.argv = plain_file;
	o.tool = "script";
	assert_null(pg_process_start(base, &o, record_done, &run));
	assert_logged(" pg.tool_start_failed ", "tool=script", "Permission denied");

	o.argv = missing;
	o.cwd = "/nonexistent/dir";
	o.tool = "cwd";
	assert_null(pg_process_start(base, &o, record_done, &run));
	assert_logged(" pg.tool_start_failed ", "tool=cwd", "step=chdir");

	/* Nothing was left behind to reap, and done never ran. */
	loop_for(100);
	assert_false(run.done);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_output_lines_partial_and_long(void **state)
{
	(void) state;
	struct run framing = { 0 };
	struct run lines = { 0 };
	struct run flood = { 0 };
	char *framing_argv[] = { "/bin/sh", "-c", "printf 'first\\nsecond\\r\\n\\nlast-no-newline'", NULL };
	char *long_argv[] = { "/bin/sh", "-c", "head -c 10000 /dev/zero | tr '\\0' x; echo; echo after",
			      NULL };
	char *flood_argv[] = { "/bin/sh", "-c", "head -c 70000 /dev/zero | tr '\\0' y", NULL };
	struct pg_process_options o = options_for("sh", framing_argv);

	o.keep_output = true;
	run_to_end(&o, &framing, 5000);
	assert_int_equal(framing.exit_code, 0);
	/* The caller gets the bytes; the log gets the lines, blank ones and
	 * carriage returns left out, the last one flushed at the end. */
	assert_string_equal(framing.output, "first\nsecond\r\n\nlast-no-newline");
	assert_int_equal(framing.output_len, strlen(framing.output));
	assert_int_equal(log_count(" pg.tool_output ", pid_field(framing.pid), NULL), 3);
	assert_logged(" pg.tool_output ", pid_field(framing.pid), "line=first");
	assert_logged(" pg.tool_output ", pid_field(framing.pid), "line=second");
	assert_logged(" pg.tool_output ", pid_field(framing.pid), "line=last-no-newline");
	assert_true(log_find(" pg.tool_output ", pid_field(framing.pid), "line=last-no-newline") <
		    log_find(" pg.tool_finished ", pid_field(framing.pid), NULL));

	/* A 10000-byte line is logged in 4 KiB pieces. */
	o.argv = long_argv;
	o.keep_output = false;
	run_to_end(&o, &lines, 5000);
	assert_int_equal(log_count(" pg.tool_output ", pid_field(lines.pid), NULL), 4);
	int i = log_find(" pg.tool_output ", pid_field(lines.pid), NULL);
	size_t expected[] = { 4096, 4096, 1808 };
	for (int k = 0; k < 3; k++) {
		char *value = log_line_value(i);
		assert_int_equal(strlen(value), expected[k]);
		assert_int_equal(strspn(value, "x"), expected[k]);
		free(value);
		i = log_find_from(i + 1, " pg.tool_output ", pid_field(lines.pid), NULL);
	}
	char *value = log_line_value(i);
	assert_string_equal(value, "after");
	free(value);

	/* Kept output stops at 64 KiB and says so. */
	o.argv = flood_argv;
	o.keep_output = true;
	run_to_end(&o, &flood, 5000);
	assert_int_equal(flood.output_len, PG_PROCESS_OUTPUT_MAX);
	assert_true(flood.output_truncated);
	assert_int_equal(strlen(flood.output), PG_PROCESS_OUTPUT_MAX);
	run_clear(&framing);
	run_clear(&lines);
	run_clear(&flood);
}

static void test_child_environment(void **state)
{
	(void) state;
	struct run env = { 0 };
	struct run fds = { 0 };
	struct run group = { 0 };
	struct run cwd = { 0 };
	struct run uid = { 0 };
	struct run stdin_run = { 0 };
	char *env_argv[] = { "/usr/bin/env", NULL };
	char *fds_argv[] = { "/bin/ls", "/proc/self/fd", NULL };
	char *group_argv[] = { "/usr/bin/cut", "-d", " ", "-f", "1,5", "/proc/self/stat", NULL };
	char *cwd_argv[] = { "/bin/pwd", NULL };
	char *uid_argv[] = { "/usr/bin/id", "-u", NULL };
	char *stdin_argv[] = { "/usr/bin/readlink", "/proc/self/fd/0", NULL };
	struct pg_process_options o;
	char expected[64];
	int leaked = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC on purpose */

	assert_true(leaked >= 0);
	setenv("HOME", "/root-or-not", 1);
	setenv("PGHERD_OVERRIDDEN", "old", 1);
	o = options_for("env", env_argv);
	o.env = (const char *const[]){ "PGHERD_TEST_VAR=hello world", "HOME", "PGHERD_OVERRIDDEN=new",
				      "PGHERD_TWICE=1", "PGHERD_TWICE=2", NULL };
	o.keep_output = true;
	run_to_end(&o, &env, 5000);
	assert_non_null(strstr(env.output, "\nPGHERD_TEST_VAR=hello world\n"));
	assert_null(strstr(env.output, "\nHOME="));
	assert_true(strncmp(env.output, "HOME=", 5) != 0);
	assert_non_null(strstr(env.output, "PGHERD_OVERRIDDEN=new\n"));
	assert_null(strstr(env.output, "PGHERD_OVERRIDDEN=old"));
	assert_non_null(strstr(env.output, "PGHERD_TWICE=2\n"));
	assert_null(strstr(env.output, "PGHERD_TWICE=1"));
	assert_non_null(strstr(env.output, "PATH="));	/* the rest is ours */

	/* Only stdin, stdout, stderr (and ls's own directory). */
	o = options_for("ls", fds_argv);
	o.keep_output = true;
	run_to_end(&o, &fds, 5000);
	assert_string_equal(fds.output, "0\n1\n2\n3\n");
	close(leaked);

	o = options_for("readlink", stdin_argv);
	o.keep_output = true;
	run_to_end(&o, &stdin_run, 5000);
	assert_string_equal(stdin_run.output, "/dev/null\n");

	/* Its own process group. */
	o = options_for("cut", group_argv);
	o.keep_output = true;
	run_to_end(&o, &group, 5000);
	snprintf(expected, sizeof(expected), "%d %d\n", (int) group.pid, (int) group.pid);
	assert_string_equal(group.output, expected);

	o = options_for("pwd", cwd_argv);
	o.keep_output = true;
	run_to_end(&o, &cwd, 5000);
	snprintf(expected, sizeof(expected), "%s\n", harness_run_dir());
	assert_string_equal(cwd.output, expected);

	o = options_for("id", uid_argv);
	o.keep_output = true;
	run_to_end(&o, &uid, 5000);
	snprintf(expected, sizeof(expected), "%d\n", (int) harness_service_uid());
	assert_string_equal(uid.output, expected);

	unsetenv("PGHERD_OVERRIDDEN");
	run_clear(&env);
	run_clear(&fds);
	run_clear(&group);
	run_clear(&cwd);
	run_clear(&uid);
	run_clear(&stdin_run);
}

/* A tool that leaves a background helper on our pipe: the helper dies with
 * the tool (its group), so done comes at once. */
static void test_group_killed_when_leader_exits(void **state)
{
	(void) state;
	struct run run = { 0 };
	char *argv[] = { "/bin/sh", "-c", "/bin/sleep 30 & echo $!", NULL };
	struct pg_process_options o = options_for("sh", argv);

	o.keep_output = true;
	run_to_end(&o, &run, 3000);
	assert_int_equal(run.exit_code, 0);
	assert_true(run.duration_ms < 1000);
	pid_t helper = (pid_t) atoi(run.output);
	assert_true(helper > 0);
	int64_t deadline = harness_now_ms() + 2000;
	while (!gone_or_zombie(helper) && harness_now_ms() < deadline)
		usleep(10000);
	assert_true(gone_or_zombie(helper));
	assert_int_equal(log_find(" pg.tool_output_lost ", NULL, NULL), -1);
	run_clear(&run);
}

/* Shell: wait until the background job $! has left our session (setsid
 * runs after the fork), so that it escapes the group kill at our exit.
 * Field 6 of /proc/PID/stat is the session id. */
#define WAIT_FOR_OWN_SESSION \
	"while [ \"$(cut -d' ' -f6 /proc/$!/stat)\" = \"$(cut -d' ' -f6 /proc/$$/stat)\" ]; do :; done; "

/* A helper in its own session keeps the pipe open: done comes after the
 * drain period, with a warning. */
static void test_output_held_open_outside_the_group(void **state)
{
	(void) state;
	struct run run = { 0 };
	char *argv[] = { "/bin/sh", "-c", "/usr/bin/setsid /bin/sleep 5 & " WAIT_FOR_OWN_SESSION "echo $!; exit 3",
			 NULL };
	struct pg_process_options o = options_for("sh", argv);

	o.keep_output = true;
	run_to_end(&o, &run, 4000);
	assert_int_equal(run.exit_code, 3);
	assert_logged(" pg.tool_output_lost ", pid_field(run.pid), "keeps its output open");
	pid_t helper = (pid_t) atoi(run.output);
	assert_true(helper > 0);
	kill(helper, SIGKILL);	/* not ours any more: init reaps it */
	run_clear(&run);
}

struct chain {
	struct run a;
	struct run b;
	struct run c;
	struct pg_process *pa;
	struct pg_process *pb;
	struct pg_process *pc;
	bool signal_after_exit;
	int signal_errno;
};

static void chain_a_done(void *arg, const struct pg_process_result *r)
{
	struct chain *chain = arg;

	record_done(&chain->a, r);
	/* Its own object is still valid here, and it has exited. */
	chain->signal_after_exit = pg_process_signal(chain->pa, SIGTERM);
	chain->signal_errno = errno;
	pg_process_cancel(chain->pa);	/* no-op */
	pg_process_cancel(chain->pb);
	pg_process_abandon(chain->pc);
	chain->pc = NULL;
}

static void test_done_may_cancel_and_abandon_others(void **state)
{
	(void) state;
	struct chain chain = { 0 };
	char *true_argv[] = { "/bin/true", NULL };
	char *sleep_argv[] = { "/bin/sleep", "30", NULL };
	struct pg_process_options o = options_for("true", true_argv);
	pid_t c_pid;

	chain.pa = pg_process_start(base, &o, chain_a_done, &chain);
	assert_non_null(chain.pa);
	o = options_for("sleep", sleep_argv);
	o.kill_grace_ms = 300;
	chain.pb = start(&o, &chain.b);
	chain.pc = start(&o, &chain.c);
	c_pid = pg_process_pid(chain.pc);

	assert_true(loop_until(&chain.b.done, 5000));
	assert_true(chain.a.done);
	assert_false(chain.signal_after_exit);
	assert_int_equal(chain.signal_errno, ESRCH);
	assert_true(chain.b.cancelled);
	assert_false(chain.b.timed_out);
	assert_int_equal(chain.b.signal, SIGTERM);
	assert_logged(" pg.tool_cancelled ", pid_field(chain.b.pid), "abandoned=false");
	assert_logged(" pg.tool_cancelled ", pid_field(c_pid), "abandoned=true");

	/* The abandoned one is reaped and logged, and its done never runs. */
	int64_t deadline = harness_now_ms() + 3000;
	while (log_find(" pg.tool_finished ", pid_field(c_pid), NULL) < 0 && harness_now_ms() < deadline)
		loop_for(20);
	assert_logged(" pg.tool_finished ", pid_field(c_pid), " signal=15 ");
	loop_for(50);
	assert_false(chain.c.done);
	assert_int_equal(waitpid(c_pid, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	run_clear(&chain.a);
	run_clear(&chain.b);
}

static void shutdown_from_done(void *arg, const struct pg_process_result *r)
{
	record_done(arg, r);
	pg_process_shutdown();
}

static void test_shutdown_with_children_running(void **state)
{
	(void) state;
	struct run a = { 0 };
	struct run b = { 0 };
	struct run c = { 0 };
	char *sleep_argv[] = { "/bin/sh", "-c", "echo started; exec /bin/sleep 30", NULL };
	char *true_argv[] = { "/bin/true", NULL };
	struct pg_process_options o = options_for("sleep", sleep_argv);
	pid_t pa, pb;

	pa = pg_process_pid(start(&o, &a));
	o.deadline_ms = 0;
	pb = pg_process_pid(start(&o, &b));
	loop_for(200);		/* let them print */
	pg_process_shutdown();
	assert_false(a.done);
	assert_false(b.done);
	assert_int_equal(waitpid(pa, NULL, WNOHANG), -1);
	assert_int_equal(waitpid(pb, NULL, WNOHANG), -1);
	assert_logged(" pg.tool_killed ", pid_field(pa), "reason=shutdown");
	assert_logged(" pg.tool_killed ", pid_field(pb), "reason=shutdown");
	assert_logged(" pg.tool_output ", pid_field(pb), "line=started");
	assert_logged(" pg.tool_finished ", pid_field(pb), " signal=9 ");
	assert_null(pg_process_start(base, &o, record_done, &c));	/* not set up any more */

	/* From inside a done() callback, with another child running. */
	assert_true(pg_process_init(base));
	o = options_for("sleep", sleep_argv);
	pb = pg_process_pid(start(&o, &b));
	o = options_for("true", true_argv);
	assert_non_null(pg_process_start(base, &o, shutdown_from_done, &c));
	assert_true(loop_until(&c.done, 5000));
	assert_int_equal(c.exit_code, 0);
	assert_int_equal(waitpid(pb, NULL, WNOHANG), -1);
	loop_for(50);		/* nothing of the module is left to run */

	assert_true(pg_process_init(base));	/* for the teardown */
	run_clear(&a);
	run_clear(&b);
	run_clear(&c);
}

/* As PID 1 (or a subreaper) the agent inherits strays: they are reaped. */
static void test_orphans_are_reaped(void **state)
{
	(void) state;
	struct run run = { 0 };
	char *argv[] = { "/bin/sh", "-c",
			 "/usr/bin/setsid /bin/sleep 0.3 >/dev/null 2>&1 & " WAIT_FOR_OWN_SESSION "echo $!",
			 NULL };
	struct pg_process_options o = options_for("sh", argv);
	char needle[32];

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	log_set_level(LOG_LEVEL_DEBUG);
	o.keep_output = true;
	run_to_end(&o, &run, 3000);
	pid_t orphan = (pid_t) atoi(run.output);
	assert_true(orphan > 0);
	snprintf(needle, sizeof(needle), " pid=%d ", (int) orphan);
	int64_t deadline = harness_now_ms() + 3000;
	while (log_find(" pg.orphan_reaped ", needle, NULL) < 0 && harness_now_ms() < deadline)
		loop_for(20);
	assert_logged(" DEBUG pg.orphan_reaped ", needle, "status=\"exit 0\"");
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
	run_clear(&run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_initdb_as_service_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_lifecycle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_postmaster_kill_9_reported_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_terminates_and_reports_timed_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ignored_sigterm_escalates_to_sigkill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_failures_are_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_lines_partial_and_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_child_environment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_killed_when_leader_exits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_held_open_outside_the_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_done_may_cancel_and_abandon_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_with_children_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_orphans_are_reaped, setup, teardown),
	};

	return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
