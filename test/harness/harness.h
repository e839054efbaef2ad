/*
 * Scenario test harness: runs real ZooKeeper servers, real PostgreSQL
 * servers and pgherd agents as child processes of a cmocka test binary.
 *
 * Everything a child needs lives under one run directory
 * (/tmp/pgherd-test-XXXXXX) owned by the "service user": `postgres` when the
 * tests run as root (PostgreSQL refuses to run as root), otherwise the
 * current user.  Every child is registered, runs in its own process group,
 * and gets PR_SET_PDEATHSIG(SIGKILL), so nothing outlives the test binary:
 * teardown stops what is left, atexit and fatal-signal handlers do the same
 * when a test fails or crashes, and the kernel does it on kill -9.
 *
 * Typical use:
 *
 *   static void test_x(void **state) {
 *       struct harness_zk zk;
 *       assert_true(harness_zk_start(1, &zk));
 *       ...                              // no explicit stop needed
 *   }
 *   const struct CMUnitTest tests[] = {
 *       cmocka_unit_test_setup_teardown(test_x, harness_test_setup,
 *                                       harness_test_teardown),
 *   };
 *   return cmocka_run_group_tests(tests, harness_group_setup,
 *                                 harness_group_teardown);
 *
 * Errors are reported once, on stderr, in lines starting with "harness:".
 * Strings returned as `const char *` are owned by the harness and stay valid
 * until harness_teardown().
 */
#ifndef PGHERD_TEST_HARNESS_H
#define PGHERD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#define HARNESS_PATH_MAX 256
#define HARNESS_ZK_MAX_SERVERS 5

/* --- Run directory and lifecycle ------------------------------------------ */

/* Create the run directory and install the cleanup handlers.  Idempotent. */
bool harness_setup(void);

/* Stop every child still running (SIGTERM, bounded wait, SIGKILL, reap),
 * close open zk_clients, remove the run directory unless PGHERD_TEST_KEEP=1
 * (then its path is printed).  Idempotent; harness_setup() may follow. */
void harness_teardown(void);

/* cmocka fixtures.  The group pair wraps setup/teardown.  The test pair
 * stops the processes and closes the zk_clients a test started, even when
 * the test failed half-way (cmocka runs teardown after a failed test). */
int harness_group_setup(void **state);
int harness_group_teardown(void **state);
int harness_test_setup(void **state);
int harness_test_teardown(void **state);

const char *harness_run_dir(void);

/* Who the children run as: postgres when we are root, else ourselves. */
uid_t harness_service_uid(void);
gid_t harness_service_gid(void);
const char *harness_service_user(void);

/* "<run dir>/<relpath>". */
const char *harness_path(const char *relpath);

/* Create <run dir>/<relpath> (and missing parents), mode 0755, owned by
 * the service user.  Returns the absolute path or NULL. */
const char *harness_mkdir(const char *relpath);

/* Write a file under the run directory (parents created), owned by the
 * service user, mode 0644.  Returns the absolute path or NULL. */
const char *harness_write_file(const char *relpath, const char *content);

/* Copy a built binary (e.g. build/pgherd) to <run dir>/bin/<name>, mode
 * 0755, so the service user can run it whatever the checkout's
 * permissions.  Returns the copy's path or NULL. */
const char *harness_install_binary(const char *path);

/* --- Processes ---------------------------------------------------------------- */

/* fork/exec (no shell; argv[0] without '/' is searched in PATH), stdout and
 * stderr appended to log_path, stdin from /dev/null, cwd = run dir, own
 * process group, PDEATHSIG.  envp NULL means our environment.  Returns the
 * pid (registered for cleanup) or -1 if the program could not be started. */
pid_t harness_spawn(const char *name, char *const argv[], char *const envp[],
		    const char *log_path, bool as_service_user);

/* Run a program to completion (initdb, pg_basebackup...).  True if it
 * exited with status 0 within timeout_ms (it is killed otherwise).  The
 * raw wait status goes to *status_out when not NULL. */
bool harness_run(const char *name, char *const argv[], char *const envp[],
		 const char *log_path, bool as_service_user, int timeout_ms,
		 int *status_out);

/* Signal used by harness_stop() and teardown; SIGTERM unless changed
 * (PostgreSQL uses SIGINT, the fast shutdown). */
void harness_set_stop_signal(pid_t pid, int sig);

bool harness_signal(pid_t pid, int sig);
/* SIGSTOP, then wait until /proc/<pid>/stat shows state T. */
bool harness_freeze(pid_t pid);
bool harness_resume(pid_t pid);
/* Stop signal (+SIGCONT in case it is frozen), wait up to timeout_ms, then
 * SIGKILL the process group; always reaps.  Returns the raw wait status
 * (use WIFEXITED/WEXITSTATUS/WTERMSIG) or -1 if pid is not ours. */
int harness_stop(pid_t pid, int timeout_ms);
/* SIGKILL the process group and reap.  Returns the raw wait status or -1. */
int harness_kill(pid_t pid);
/* Our child and not yet exited (reaps it if it has). */
bool harness_is_running(pid_t pid);
/* No such process, or only a zombie left (any pid, not just ours). */
bool harness_process_gone(pid_t pid);

/* --- Time and waiting ------------------------------------------------------ */

int64_t harness_now_ms(void);			/* CLOCK_MONOTONIC */
/* Sleep, while keeping open zk_client sessions alive (it drives them). */
void harness_sleep_ms(int ms);
/* Poll cond every 10 ms until it holds (true) or timeout_ms passes. */
bool harness_wait_until(bool (*cond)(void *), void *arg, int timeout_ms);

/* A free loopback TCP port, never the same twice in one run. 0 on error. */
int harness_free_port(void);

/* --- ZooKeeper ------------------------------------------------------------- */

struct harness_zk_server {
	pid_t pid;			/* 0 while stopped */
	int client_port;
	int quorum_port;
	int election_port;
	bool frozen;
	char dir[HARNESS_PATH_MAX];
	char config_path[HARNESS_PATH_MAX];
	char log_path[HARNESS_PATH_MAX];
};

struct harness_zk {
	int count;
	char connect_string[HARNESS_ZK_MAX_SERVERS * 24];
	struct harness_zk_server server[HARNESS_ZK_MAX_SERVERS];
	int64_t startup_ms;		/* launch to all serving */
};

/* Start 1 (standalone) or 3..5 (ensemble) servers and wait up to 30 s
 * until each answers ruok and, for an ensemble, srvr shows exactly one
 * leader and the rest followers. */
bool harness_zk_start(int servers, struct harness_zk *out);
/* Stop all servers (SIGTERM). */
void harness_zk_stop(struct harness_zk *zk);
bool harness_zk_stop_server(struct harness_zk *zk, int i);	/* SIGTERM */
bool harness_zk_kill_server(struct harness_zk *zk, int i);	/* SIGKILL */
/* Restart a stopped server with its old config; waits for ruok only
 * (it may not serve without a quorum: see harness_zk_wait_quorum). */
bool harness_zk_start_server(struct harness_zk *zk, int i);
bool harness_zk_freeze_server(struct harness_zk *zk, int i);
bool harness_zk_resume_server(struct harness_zk *zk, int i);
/* Index of the server whose srvr says "Mode: leader", or -1. */
int harness_zk_leader_index(const struct harness_zk *zk);
/* Server i's mode ("leader", "follower", "standalone"); false if it does
 * not serve. */
bool harness_zk_mode(const struct harness_zk *zk, int i, char *out, size_t outlen);
/* Wait until every running, unfrozen server serves and, for an ensemble,
 * exactly one of them leads. */
bool harness_zk_wait_quorum(struct harness_zk *zk, int timeout_ms);
/* Send a four-letter word to 127.0.0.1:port, read the answer until EOF. */
bool harness_zk_4lw(int port, const char *cmd, char *out, size_t outlen,
		    int timeout_ms);

/* --- PostgreSQL ------------------------------------------------------------ */

struct harness_pg {
	pid_t pid;			/* postmaster, 0 while stopped */
	int port;
	char dir[HARNESS_PATH_MAX];	/* holds data/, sock/ and the logs */
	char data_dir[HARNESS_PATH_MAX];
	char socket_dir[HARNESS_PATH_MAX];
	char log_path[HARNESS_PATH_MAX];
	char conninfo[HARNESS_PATH_MAX];	/* TCP, user postgres, db postgres */
	int64_t initdb_ms;
	int64_t startup_ms;		/* launch to accepting connections */
};

/* Directory /usr/lib/postgresql/15/bin, or $PGHERD_PG_BINDIR. */
const char *harness_pg_bindir(void);
/* Pick a port and directories, run initdb as the service user. */
bool harness_pg_init(struct harness_pg *out);
/* Start the postmaster directly (not pg_ctl: the pid is ours) and wait up
 * to 30 s until it accepts connections. */
bool harness_pg_launch(struct harness_pg *pg);
/* harness_pg_init + harness_pg_launch. */
bool harness_pg_start(struct harness_pg *out);
bool harness_pg_wait_ready(const struct harness_pg *pg, int timeout_ms);
/* Append settings to data_dir/postgresql.conf (between init and launch,
 * or before a restart). */
bool harness_pg_append_conf(const struct harness_pg *pg, const char *lines);
/* Run sql on a fresh connection; the first value of the first row (if
 * any, and out is not NULL) is copied to out. */
bool harness_pg_query(const struct harness_pg *pg, const char *sql,
		      char *out, size_t outlen);
/* Fast shutdown (SIGINT), then SIGKILL after timeout_ms.  Raw wait status. */
int harness_pg_stop(struct harness_pg *pg, int timeout_ms);

/* --- Agent logs (JSON lines) ----------------------------------------------- */

/*
 * Wait up to timeout_ms for the first record at or after line from_line
 * (0-based) whose "event" equals event and, if field is not NULL, whose
 * field prints as value (strings as is, numbers/booleans as JSON text).
 * Lines that are not JSON objects are skipped.  On success the record
 * (caller json_decref()s it) and its line number go to the optional out
 * parameters; pass *line_out + 1 to find the next one.  On timeout the
 * tail of the log goes to stderr.
 */
bool harness_log_wait(const char *log_path, const char *event,
		      const char *field, const char *value, size_t from_line,
		      int timeout_ms, json_t **record_out, size_t *line_out);
/* Records with this event (any record if event is NULL). */
size_t harness_log_count(const char *log_path, const char *event);
/* Complete lines so far: the from_line that means "from now on". */
size_t harness_log_line_count(const char *log_path);
void harness_log_print_tail(const char *log_path, size_t lines);
/* "2026-11-24T01:07:40.123Z" (or +hh:mm offset) to ms since the epoch;
 * -1 if it does not parse. */
int64_t harness_parse_ts_ms(const char *iso);

#endif
