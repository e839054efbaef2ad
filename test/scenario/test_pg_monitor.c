/*
 * pg/monitor against real PostgreSQL 15 servers: what the agent relies on.
 *
 * Each test runs its own libevent loop with a 5 ms ticker, so the loop
 * always comes back to the test, and the ticker's largest gap shows whether
 * anything blocked it.  The monitor's log goes to a JSON file per test,
 * counted with the harness.  Prints what it measured.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <dirent.h>

#include <event2/event.h>

#include "agent/log.h"
#include "pg/monitor.h"
#include "test/harness/harness.h"

/* What one monitor reported, through its callbacks. */
struct watch {
	struct pg_monitor *m;
	int statuses;
	struct pg_monitor_status last;
	int64_t status_at_ms;
	int lost;
	char reason[256];
	int64_t lost_at_ms;
	bool free_on_status;	/* pg_monitor_free() from inside the callback */
	bool free_on_lost;
	int mark;		/* statuses (or losses) before a wait */
};

static struct event_base *base;
static struct event *ticker;
static int64_t last_tick_ms;
static int64_t max_gap_ms;
static FILE *log_file;
static struct watch *live[4];	/* watches with a monitor, for teardown */
static char log_path[HARNESS_PATH_MAX];

static void measured(const char *what, int64_t ms)
{
	printf("measured: %-52s %6" PRId64 " ms\n", what, ms);
	fflush(stdout);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = harness_now_ms();

	(void) fd;
	(void) what;
	(void) arg;
	if (last_tick_ms > 0 && now - last_tick_ms > max_gap_ms)
		max_gap_ms = now - last_tick_ms;
	last_tick_ms = now;
}

static void reset_gaps(void)
{
	last_tick_ms = 0;
	max_gap_ms = 0;
}

static int setup(void **state)
{
	static int seq;
	struct timeval five_ms = { 0, 5000 };
	char name[64];

	if (harness_test_setup(state) != 0)
		return -1;
	base = event_base_new();
	if (base == NULL)
		return -1;
	ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
	if (ticker == NULL || event_add(ticker, &five_ms) != 0)
		return -1;
	snprintf(name, sizeof(name), "monitor-%d.log", ++seq);
	snprintf(log_path, sizeof(log_path), "%s", harness_path(name));
	log_file = fopen(log_path, "ae");
	if (log_file == NULL)
		return -1;
	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_stream(log_file);
	reset_gaps();
	return 0;
}

/* Free the monitor, unless a callback did. */
static void stop(struct watch *w)
{
	pg_monitor_free(w->m);
	w->m = NULL;
}

static int teardown(void **state)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i] != NULL)
			stop(live[i]);
		live[i] = NULL;
	}
	log_set_stream(NULL);
	log_set_format(LOG_FORMAT_PLAIN);
	log_set_level(LOG_LEVEL_INFO);
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
	event_free(ticker);
	ticker = NULL;
	event_base_free(base);
	base = NULL;
	return harness_test_teardown(state);
}

static void on_status(void *arg, const struct pg_monitor_status *status)
{
	struct watch *w = arg;

	assert_true(status->reachable);
	w->last = *status;
	w->statuses++;
	w->status_at_ms = harness_now_ms();
	if (w->free_on_status) {
		pg_monitor_free(w->m);
		w->m = NULL;
	}
}

static void on_lost(void *arg, const char *reason)
{
	struct watch *w = arg;

	snprintf(w->reason, sizeof(w->reason), "%s", reason);
	w->lost++;
	w->lost_at_ms = harness_now_ms();
	if (w->free_on_lost) {
		pg_monitor_free(w->m);
		w->m = NULL;
	}
}

/* A monitor of pg over TCP, or over its socket directory, as user. */
static struct pg_monitor *monitor_as(struct watch *w, const struct harness_pg *pg, const char *user,
				     bool unix_socket, int interval_ms, int connect_timeout_ms,
				     int query_timeout_ms)
{
	char port[16];
	const char *const keywords[] = { "host", "port", "user", "dbname", "application_name", NULL };
	const char *values[] = { unix_socket ? pg->socket_dir : "127.0.0.1", port, user,
				 "postgres", "pgherd", NULL };
	const struct pg_monitor_settings settings = {
		.keywords = keywords,
		.values = values,
		.interval_ms = interval_ms,
		.connect_timeout_ms = connect_timeout_ms,
		.query_timeout_ms = query_timeout_ms,
	};
	const struct pg_monitor_callbacks callbacks = { on_status, on_lost };

	snprintf(port, sizeof(port), "%d", pg->port);
	assert_null(w->m);	/* the last one was stopped */
	memset(w, 0, sizeof(*w));
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (live[i] == NULL || live[i] == w) {
			live[i] = w;
			break;
		}
	}
	w->m = pg_monitor_new(base, &settings, &callbacks, w);
	assert_non_null(w->m);
	return w->m;
}

static struct pg_monitor *monitor(struct watch *w, const struct harness_pg *pg, bool unix_socket,
				  int interval_ms, int connect_timeout_ms, int query_timeout_ms)
{
	return monitor_as(w, pg, "postgres", unix_socket, interval_ms, connect_timeout_ms,
			  query_timeout_ms);
}

/* Run the loop until cond holds or timeout_ms passes. */
static bool run_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (cond == NULL || !cond(arg)) {
		if (harness_now_ms() >= deadline)
			return cond == NULL;
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			return false;
	}
	return true;
}

static void run_for(int ms)
{
	(void) run_until(NULL, NULL, ms);
}

static bool got_status(void *arg)
{
	struct watch *w = arg;
	return w->statuses > w->mark;
}

static bool got_lost(void *arg)
{
	struct watch *w = arg;
	return w->lost > w->mark;
}

static bool is_connected(void *arg)
{
	struct watch *w = arg;
	return w->m != NULL && pg_monitor_state(w->m) == PG_MONITOR_CONNECTED &&
	       w->statuses > w->mark;
}

static bool is_streaming(void *arg)
{
	struct watch *w = arg;
	return w->statuses > 0 && w->last.replication_state == PG_REPLICATION_STREAMING;
}

static bool not_streaming(void *arg)
{
	struct watch *w = arg;
	return w->statuses > w->mark && w->last.replication_state != PG_REPLICATION_STREAMING;
}

static bool has_streaming_standby(void *arg)
{
	struct watch *w = arg;
	/* flush_lsn comes with the standby's first feedback message. */
	return w->statuses > 0 && w->last.standby_count == 1 &&
	       strcmp(w->last.standbys[0].state, "streaming") == 0 && w->last.standbys[0].flush_lsn > 0;
}

static bool promoted(void *arg)
{
	struct watch *w = arg;
	return w->statuses > 0 && !w->last.in_recovery;
}

/* Wait for the next status, asking for it now. */
static void fresh_status(struct watch *w)
{
	w->mark = w->statuses;
	pg_monitor_refresh(w->m);
	assert_true(run_until(got_status, w, 5000));
}

static uint64_t query_u64(const struct harness_pg *pg, const char *sql)
{
	char value[64];
	char *end;
	unsigned long long v;

	assert_true(harness_pg_query(pg, sql, value, sizeof(value)));
	errno = 0;
	v = strtoull(value, &end, 10);
	assert_true(errno == 0 && end != value && *end == '\0');
	return v;
}

/* Parent pid from /proc/<pid>/stat ("pid (comm) S ppid ..."), -1 if gone. */
static pid_t parent_of(pid_t pid)
{
	char path[64];
	char buf[512];
	FILE *f;
	size_t n;
	char *paren;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	if (paren == NULL || sscanf(paren + 1, " %*c %d", &ppid) != 1)
		return -1;
	return (pid_t) ppid;
}

/*
 * The whole server, as a hung machine or a frozen container would stop it:
 * the postmaster and every child.  Its children call setsid(), so the
 * postmaster's process group is the postmaster alone.  Stopping it first
 * means no child is forked behind our back.
 */
static void signal_server(pid_t postmaster, int sig)
{
	DIR *proc;
	struct dirent *e;

	if (sig == SIGSTOP)
		assert_int_equal(kill(postmaster, sig), 0);
	proc = opendir("/proc");
	assert_non_null(proc);
	while ((e = readdir(proc)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end == '\0' && pid > 0 && parent_of((pid_t) pid) == postmaster)
			(void) kill((pid_t) pid, sig);	/* it may have just exited */
	}
	closedir(proc);
	if (sig != SIGSTOP)
		assert_int_equal(kill(postmaster, sig), 0);
}

/* The postmaster's children, at most max of them. */
static int children_of(pid_t postmaster, pid_t *pids, int max)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(proc);
	while ((e = readdir(proc)) != NULL && n < max) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end == '\0' && pid > 0 && parent_of((pid_t) pid) == postmaster)
			pids[n++] = (pid_t) pid;
	}
	closedir(proc);
	return n;
}

static bool postmaster_gone(void *arg)
{
	return !harness_is_running(*(pid_t *) arg);
}

struct pid_list {
	pid_t pids[64];
	int count;
};

static bool all_gone(void *arg)
{
	const struct pid_list *l = arg;

	for (int i = 0; i < l->count; i++)
		if (!harness_process_gone(l->pids[i]))
			return false;
	return true;
}

/* "Database system identifier:" of pg_controldata, run as the service user. */
static void controldata_system_identifier(const struct harness_pg *pg, char *out, size_t outlen)
{
	char tool[HARNESS_PATH_MAX];
	const char *path = harness_path("controldata.out");
	char line[256];
	FILE *f;

	snprintf(tool, sizeof(tool), "%s/pg_controldata", harness_pg_bindir());
	{
		char *const argv[] = { tool, (char *) "-D", (char *) pg->data_dir, NULL };
		assert_true(harness_run("pg_controldata", argv, NULL, path, true, 10000, NULL));
	}
	out[0] = '\0';
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		static const char key[] = "Database system identifier:";

		if (strncmp(line, key, sizeof(key) - 1) == 0) {
			const char *v = line + sizeof(key) - 1;

			v += strspn(v, " ");
			snprintf(out, outlen, "%.*s", (int) strcspn(v, "\n"), v);
		}
	}
	fclose(f);
	assert_true(out[0] != '\0');
}

/* A replica of primary: pg_basebackup -R, then the postmaster. */
static void start_replica(const struct harness_pg *primary, struct harness_pg *replica)
{
	char tool[HARNESS_PATH_MAX];
	char port[16];
	const char *dir = harness_mkdir("replica");
	const char *sock = harness_mkdir("replica/sock");

	assert_non_null(dir);
	assert_non_null(sock);
	memset(replica, 0, sizeof(*replica));
	replica->port = harness_free_port();
	assert_true(replica->port > 0);
	snprintf(replica->dir, sizeof(replica->dir), "%s", dir);
	snprintf(replica->socket_dir, sizeof(replica->socket_dir), "%s", sock);
	snprintf(replica->data_dir, sizeof(replica->data_dir), "%s/data", dir);
	snprintf(replica->log_path, sizeof(replica->log_path), "%s/postgres.log", dir);
	snprintf(replica->conninfo, sizeof(replica->conninfo),
		 "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=5", replica->port);
	snprintf(tool, sizeof(tool), "%s/pg_basebackup", harness_pg_bindir());
	snprintf(port, sizeof(port), "%d", primary->port);
	{
		char *const argv[] = {
			tool, (char *) "-D", replica->data_dir, (char *) "-h", (char *) "127.0.0.1",
			(char *) "-p", port, (char *) "-U", (char *) "postgres", (char *) "-R",
			(char *) "-X", (char *) "stream", (char *) "-c", (char *) "fast", NULL,
		};
		int64_t t0 = harness_now_ms();

		assert_true(harness_run("pg_basebackup", argv, NULL, harness_path("replica/basebackup.log"),
					true, 60000, NULL));
		measured("pg_basebackup", harness_now_ms() - t0);
	}
	assert_true(harness_pg_launch(replica));
}

/* --- Tests ------------------------------------------------------------------ */

static void test_primary_status(void **state)
{
	struct harness_pg pg;
	static struct watch w;	/* static: teardown frees what a failed test left */
	const struct pg_monitor_status *last;
	char text[64];
	char sysid[32];
	uint64_t before;
	int64_t age = -1;
	int64_t t0;

	(void) state;
	assert_true(harness_pg_start(&pg));
	/* Over the socket directory, as the agent will usually connect. */
	monitor(&w, &pg, true, 300, 2000, 2000);
	assert_null(pg_monitor_status_last(w.m, NULL));
	t0 = harness_now_ms();
	assert_true(run_until(got_status, &w, 5000));
	measured("start to first status", harness_now_ms() - t0);
	assert_int_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTED);

	assert_true(w.last.reachable);
	assert_false(w.last.in_recovery);
	assert_int_equal(w.last.timeline, 1);
	assert_int_equal(w.last.timeline_source, PG_TIMELINE_WAL_INSERT);
	assert_true(w.last.wal_position > 0);
	assert_true(w.last.flush_lsn == w.last.wal_position);
	assert_true(w.last.receive_lsn == 0 && w.last.replay_lsn == 0);
	assert_int_equal(w.last.replication_state, PG_REPLICATION_NONE);
	assert_int_equal(w.last.standby_count, 0);
	assert_int_equal(w.last.server_version, (int) query_u64(&pg, "SHOW server_version_num"));
	assert_true(w.last.server_version >= 150000);
	assert_true(strlen(w.last.postmaster_start_time) == 32);
	assert_string_equal(w.last.postmaster_start_time + 26, "+00:00");

	/* The system identifier as SQL and as pg_controldata print it. */
	snprintf(sysid, sizeof(sysid), "%" PRIu64, w.last.system_identifier);
	assert_true(harness_pg_query(&pg, "SELECT system_identifier FROM pg_control_system()",
				     text, sizeof(text)));
	assert_string_equal(sysid, text);
	controldata_system_identifier(&pg, text, sizeof(text));
	assert_string_equal(sysid, text);

	last = pg_monitor_status_last(w.m, &age);
	assert_non_null(last);
	assert_true(last->reachable);
	assert_true(age >= 0 && age < 1000);

	/* Re-queried every interval_ms on its own. */
	w.mark = w.statuses;
	run_for(1100);
	assert_in_range(w.statuses - w.mark, 3, 5);

	/* Writes move the LSN; a refresh shows it at once. */
	before = w.last.wal_position;
	assert_true(harness_pg_query(&pg, "CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g",
				     NULL, 0));
	t0 = harness_now_ms();
	fresh_status(&w);
	measured("refresh to status", harness_now_ms() - t0);
	assert_true(w.last.wal_position > before);
	assert_true(harness_now_ms() - t0 < 250);
	printf("primary: wal_position %" PRIu64 " -> %" PRIu64 ", query %" PRId64 " ms\n", before,
	       w.last.wal_position, w.last.query_ms);

	assert_int_equal(harness_log_count(log_path, "pg.connected"), 1);
	assert_int_equal(harness_log_count(log_path, "pg.connect_failed"), 0);
	assert_int_equal(harness_log_count(log_path, "pg.query_failed"), 0);
	stop(&w);
}

static void test_replica_status(void **state)
{
	struct harness_pg primary;
	struct harness_pg replica;
	static struct watch wp;	/* static: teardown frees what a failed test left */
	static struct watch wr;
	char value[64];
	uint64_t target;
	int64_t t0;

	(void) state;
	assert_true(harness_pg_start(&primary));
	start_replica(&primary, &replica);
	monitor(&wp, &primary, false, 200, 2000, 2000);
	monitor(&wr, &replica, false, 200, 2000, 2000);

	assert_true(run_until(is_streaming, &wr, 10000));
	assert_true(wr.last.in_recovery);
	assert_int_equal(wr.last.timeline, 1);
	assert_int_equal(wr.last.timeline_source, PG_TIMELINE_WAL_RECEIVER);
	assert_true(wr.last.replay_lsn > 0);
	assert_true(wr.last.receive_lsn >= wr.last.replay_lsn);
	assert_true(wr.last.wal_position == wr.last.receive_lsn);
	assert_true(wr.last.flush_lsn == 0);
	assert_string_equal(pg_replication_state_name(wr.last.replication_state), "streaming");
	assert_true(run_until(has_streaming_standby, &wp, 10000));
	assert_true(wr.last.system_identifier == wp.last.system_identifier);
	assert_true(wp.last.standbys[0].application_name[0] != '\0');
	assert_true(wp.last.standbys[0].flush_lsn > 0);
	printf("primary sees standby '%s' state %s sync_state %s flush %" PRIu64 "\n",
	       wp.last.standbys[0].application_name, wp.last.standbys[0].state,
	       wp.last.standbys[0].sync_state, wp.last.standbys[0].flush_lsn);

	/* A write reaches the replica. */
	assert_true(harness_pg_query(&primary, "CREATE TABLE t AS SELECT 1 AS x", NULL, 0));
	fresh_status(&wp);
	target = wp.last.flush_lsn;
	t0 = harness_now_ms();
	for (;;) {
		fresh_status(&wr);
		if (wr.last.replay_lsn >= target)
			break;
		assert_true(harness_now_ms() - t0 < 5000);
		run_for(20);
	}
	assert_true(wr.last.receive_lsn >= wr.last.replay_lsn);
	measured("primary write to replayed on the replica", harness_now_ms() - t0);

	/* Why a replica's timeline does not come from a WAL file name. */
	assert_false(harness_pg_query(&replica, "SELECT pg_walfile_name(pg_last_wal_replay_lsn())",
				      NULL, 0));

	/* Without its primary the receiver stops: archive recovery. */
	assert_true(harness_pg_stop(&primary, 10000) >= 0);
	wr.mark = wr.statuses;
	t0 = harness_now_ms();
	assert_true(run_until(not_streaming, &wr, 10000));
	measured("primary stopped to replica not streaming", harness_now_ms() - t0);
	assert_true(wr.last.in_recovery);
	assert_int_equal(wr.last.replication_state, PG_REPLICATION_ARCHIVE_RECOVERY);
	assert_int_equal(wr.last.timeline, 1);
	printf("replica without receiver: timeline %u from source %d\n", wr.last.timeline,
	       (int) wr.last.timeline_source);

	/* Promotion: the new timeline shows on the same connection at once,
	 * whatever the checkpoint says. */
	assert_true(harness_pg_query(&replica, "SELECT pg_promote()", value, sizeof(value)));
	assert_string_equal(value, "t");
	t0 = harness_now_ms();
	pg_monitor_refresh(wr.m);
	assert_true(run_until(promoted, &wr, 5000));
	measured("pg_promote() returned to status as primary", harness_now_ms() - t0);
	assert_int_equal(wr.last.timeline, 2);
	assert_int_equal(wr.last.timeline_source, PG_TIMELINE_WAL_INSERT);
	assert_int_equal(wr.last.replication_state, PG_REPLICATION_NONE);
	assert_true(wr.last.flush_lsn > 0);
	assert_true(harness_pg_query(&replica, "SELECT timeline_id FROM pg_control_checkpoint()",
				     value, sizeof(value)));
	printf("after promotion: monitor timeline %u, pg_control_checkpoint() timeline %s\n",
	       wr.last.timeline, value);
	assert_int_equal(wr.lost, 0);	/* the connection lived through it */

	stop(&wp);
	stop(&wr);
}

static void test_kill_9_noticed_at_once(void **state)
{
	struct harness_pg pg;
	static struct watch w;	/* static: teardown frees what a failed test left */
	const struct pg_monitor_status *last;
	struct pid_list children;
	pid_t pid;
	int64_t t0;

	(void) state;
	assert_true(harness_pg_start(&pg));
	/* A long interval: the death must not wait for the next query. */
	monitor(&w, &pg, false, 10000, 1000, 2000);
	assert_true(run_until(got_status, &w, 5000));
	run_for(50);		/* idle, no query in flight */

	pid = pg.pid;
	children.count = children_of(pid, children.pids, 64);
	assert_true(children.count > 0);
	t0 = harness_now_ms();
	assert_true(harness_signal(pid, SIGKILL));	/* the postmaster only */
	w.mark = w.lost;
	assert_true(run_until(got_lost, &w, 2000));
	measured("kill -9 postmaster to lost()", w.lost_at_ms - t0);
	printf("lost: %s\n", w.reason);
	assert_true(w.lost_at_ms - t0 < 200);
	assert_int_equal(w.lost, 1);
	last = pg_monitor_status_last(w.m, NULL);
	assert_non_null(last);
	assert_false(last->reachable);
	assert_true(last->wal_position > 0);	/* the last values stay */

	/* Backends follow their postmaster; then the port is closed. */
	assert_true(run_until(postmaster_gone, &pid, 2000));	/* reaps it */
	assert_true(run_until(all_gone, &children, 5000));
	run_for(1000);
	assert_int_not_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTED);
	/* Many attempts, one record: the message did not change. */
	assert_int_equal(harness_log_count(log_path, "pg.connect_failed"), 1);
	assert_int_equal(harness_log_count(log_path, "pg.connection_lost"), 1);

	/* Back by itself, no wake: the backoff is at most 2 s. */
	pg.pid = 0;
	assert_true(harness_pg_launch(&pg));
	t0 = harness_now_ms();
	w.mark = w.statuses;
	assert_true(run_until(is_connected, &w, 5000));
	measured("restarted to reconnected (backoff, no wake)", harness_now_ms() - t0);
	assert_true(harness_now_ms() - t0 < 2500);
	assert_true(w.last.reachable);
	assert_int_equal(harness_log_count(log_path, "pg.connected"), 2);
	assert_int_equal(w.lost, 1);
	stop(&w);
}

static void test_stop_then_wake(void **state)
{
	struct harness_pg pg;
	static struct watch w;	/* static: teardown frees what a failed test left */
	int64_t t0;

	(void) state;
	assert_true(harness_pg_start(&pg));
	monitor(&w, &pg, false, 1000, 1000, 2000);
	assert_true(run_until(got_status, &w, 5000));

	/* A fast shutdown: the server says why it ends our session. */
	assert_true(harness_pg_stop(&pg, 10000) >= 0);
	w.mark = w.lost;
	assert_true(run_until(got_lost, &w, 2000));
	printf("lost: %s\n", w.reason);
	assert_non_null(strstr(w.reason, "terminating connection due to administrator command"));

	/* Let the backoff reach its 2 s ceiling, then start the server and
	 * wake the monitor: it connects at once instead of within 2 s. */
	run_for(3300);
	assert_true(harness_pg_launch(&pg));
	t0 = harness_now_ms();
	w.mark = w.statuses;
	pg_monitor_wake(w.m);
	assert_true(run_until(is_connected, &w, 5000));
	measured("wake to reconnected", harness_now_ms() - t0);
	assert_true(harness_now_ms() - t0 < 300);
	assert_int_equal(harness_log_count(log_path, "pg.connected"), 2);
	stop(&w);
}

static void test_frozen_server(void **state)
{
	struct harness_pg pg;
	static struct watch w;	/* static: teardown frees what a failed test left */
	int64_t t0;
	int interval_ms = 200, connect_timeout_ms = 300, query_timeout_ms = 500;

	(void) state;
	assert_true(harness_pg_start(&pg));
	monitor(&w, &pg, false, interval_ms, connect_timeout_ms, query_timeout_ms);
	assert_true(run_until(got_status, &w, 5000));

	/* The postmaster alone: our backend still answers (only new
	 * connections would hang), so the monitor keeps reporting. */
	assert_true(harness_freeze(pg.pid));
	w.mark = w.statuses;
	run_for(600);
	assert_true(w.statuses - w.mark >= 2);
	assert_int_equal(w.lost, 0);
	assert_true(harness_resume(pg.pid));

	/* The whole server: the next query times out. */
	signal_server(pg.pid, SIGSTOP);
	t0 = harness_now_ms();
	reset_gaps();
	w.mark = w.lost;
	assert_true(run_until(got_lost, &w, 3000));
	measured("SIGSTOP of the whole server to lost()", w.lost_at_ms - t0);
	assert_string_equal(w.reason, "not responding");
	assert_true(w.lost_at_ms - t0 <= interval_ms + query_timeout_ms + 150);

	/* Attempts to connect time out too; the loop keeps turning. */
	run_for(1500);
	assert_int_not_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTED);
	assert_true(harness_log_wait(log_path, "pg.connect_failed", "error",
				     "timeout expired after 300 ms", 0, 0, NULL, NULL));
	assert_int_equal(harness_log_count(log_path, "pg.connect_failed"), 1);
	measured("largest loop gap while frozen", max_gap_ms);
	assert_true(max_gap_ms < 50);

	signal_server(pg.pid, SIGCONT);
	t0 = harness_now_ms();
	w.mark = w.statuses;
	assert_true(run_until(is_connected, &w, 5000));
	measured("SIGCONT to reconnected", harness_now_ms() - t0);
	assert_int_equal(w.lost, 1);
	assert_int_equal(harness_log_count(log_path, "pg.connection_lost"), 1);
	stop(&w);
}

/* A query the server refuses: logged once, the connection stays, nothing is
 * lost; and the server's messages reach our log. */
static void test_query_failed_and_notices(void **state)
{
	struct harness_pg pg;
	static struct watch w;	/* static: teardown frees what a failed test left */
	json_t *record = NULL;

	(void) state;
	assert_true(harness_pg_start(&pg));
	assert_true(harness_pg_query(&pg, "CREATE ROLE mon LOGIN", NULL, 0));
	assert_true(harness_pg_query(&pg, "REVOKE EXECUTE ON FUNCTION pg_control_system() FROM public",
				     NULL, 0));
	monitor_as(&w, &pg, "mon", false, 100, 1000, 1000);
	run_for(700);
	assert_int_equal(w.statuses, 0);
	assert_int_equal(w.lost, 0);
	/* Connected, but it has not answered: not "connected" for us. */
	assert_int_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTING);
	assert_int_equal(harness_log_count(log_path, "pg.query_failed"), 1);
	assert_true(harness_log_wait(log_path, "pg.query_failed", "error",
				     "permission denied for function pg_control_system", 0, 0, NULL, NULL));
	assert_true(harness_log_wait(log_path, "pg.query_failed", "sqlstate", "42501", 0, 0, NULL, NULL));
	assert_int_equal(harness_log_count(log_path, "pg.connect_failed"), 0);

	/* Debug messages of the server, sent to its client. */
	assert_true(harness_pg_query(&pg, "ALTER ROLE mon SET client_min_messages = debug5", NULL, 0));
	assert_true(harness_pg_query(&pg, "GRANT EXECUTE ON FUNCTION pg_control_system() TO mon",
				     NULL, 0));
	assert_true(harness_pg_query(&pg, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
					  "WHERE usename = 'mon'", NULL, 0));
	assert_true(run_until(got_status, &w, 5000));
	assert_int_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTED);
	assert_int_equal(w.lost, 0);	/* it had never answered */
	assert_true(harness_log_wait(log_path, "pg.notice", "severity", "DEBUG", 0, 0, &record, NULL));
	printf("pg.notice: %s\n", json_string_value(json_object_get(record, "message")));
	json_decref(record);
	assert_int_equal(harness_log_count(log_path, "pg.connected"), 1);
	stop(&w);
}

/* pg_monitor_free() at every stage: ASan and UBSan check the rest. */
static void test_free_anytime(void **state)
{
	struct harness_pg pg;
	struct harness_pg nobody;
	static struct watch w;	/* static: teardown frees what a failed test left */

	(void) state;
	assert_true(harness_pg_start(&pg));

	/* Before the loop ever ran. */
	monitor(&w, &pg, false, 1000, 1000, 1000);
	stop(&w);
	run_for(50);

	/* In the middle of connecting (the server is frozen and never
	 * answers the startup packet). */
	signal_server(pg.pid, SIGSTOP);
	monitor(&w, &pg, false, 1000, 5000, 5000);
	run_for(100);
	assert_int_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTING);
	stop(&w);
	signal_server(pg.pid, SIGCONT);
	run_for(50);

	/* With a query in flight. */
	monitor(&w, &pg, false, 1000, 5000, 5000);
	assert_true(run_until(got_status, &w, 5000));
	signal_server(pg.pid, SIGSTOP);
	pg_monitor_refresh(w.m);
	run_for(100);
	assert_int_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTED);
	assert_int_equal(w.statuses, 1);
	stop(&w);
	signal_server(pg.pid, SIGCONT);
	run_for(50);

	/* From inside the status callback. */
	monitor(&w, &pg, false, 10, 1000, 1000);
	w.free_on_status = true;
	assert_true(run_until(got_status, &w, 5000));
	assert_null(w.m);
	run_for(100);
	assert_int_equal(w.statuses, 1);

	/* While waiting to retry, nothing listening. */
	memset(&nobody, 0, sizeof(nobody));
	nobody.port = harness_free_port();
	monitor(&w, &nobody, false, 1000, 1000, 1000);
	run_for(300);
	assert_int_not_equal(pg_monitor_state(w.m), PG_MONITOR_CONNECTED);
	assert_null(pg_monitor_status_last(w.m, NULL));
	assert_int_equal(w.lost, 0);	/* never connected: nothing lost */
	stop(&w);

	/* From inside the lost callback. */
	monitor(&w, &pg, false, 1000, 1000, 1000);
	w.free_on_lost = true;
	assert_true(run_until(got_status, &w, 5000));
	harness_kill(pg.pid);
	assert_true(run_until(got_lost, &w, 2000));
	assert_null(w.m);
	run_for(300);
	assert_int_equal(w.lost, 1);

	pg_monitor_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_primary_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replica_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_9_noticed_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_then_wake, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frozen_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_failed_and_notices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_anytime, setup, teardown),
	};

	/* cmocka's summary is the last line: test/run.sh reads it. */
	return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
