/*
 * Child processes on the event loop: initdb, pg_basebackup, pg_rewind,
 * pg_ctl, pg_controldata and the postmaster itself, without ever blocking
 * the loop.
 *
 * A child is exec'd directly from an argv array (no shell), with stdin on
 * /dev/null, stdout and stderr on one pipe that the loop reads, every other
 * descriptor closed, and its own process group.  Each output line is logged
 * as pg.tool_output.  The module owns SIGCHLD: one handler reaps every child
 * of the agent process, ours and orphans re-parented to us (when the agent is
 * PID 1 or a subreaper), so a postmaster's death is known at once.  Nothing
 * else in the agent may wait for children.
 *
 * When a child exits, whatever is left in its process group is killed
 * (SIGKILL): the job is over when its leader is, and a helper it left behind
 * must not keep our pipe open.  done() runs once the exit status is known
 * and the output has been read to the end, so every line is logged before
 * it; it always runs from its own loop callback, never from inside a call
 * into this module.
 *
 * The postmaster's children are not in its group (PostgreSQL makes each of
 * them a session leader) but share its stderr: after a crash, done() comes
 * when the last of them has noticed and exited (9 ms after a kill -9 here),
 * so a new postmaster can start.  A process outside the group that keeps the
 * pipe open longer is given up on after one second (pg.tool_output_lost).
 */
#ifndef PGHERD_PG_PROCESS_H
#define PGHERD_PG_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct pg_process;

/* Output kept for the caller (keep_output), combined stdout and stderr. */
#define PG_PROCESS_OUTPUT_MAX (64 * 1024)
/* Longer output lines are logged in pieces of this size. */
#define PG_PROCESS_LINE_MAX 4096
/* Deadline or cancel: SIGTERM to the group, SIGKILL this long after. */
#define PG_PROCESS_KILL_GRACE_MS 5000

struct pg_process_options {
	const char *tool;		/* short name for the logs: "initdb" */
	/* NULL-terminated; argv[0] is an absolute path, exec'd as is.  Copied:
	 * the caller may free it once pg_process_start() returns.  Never put a
	 * password in it: the command is logged (use PGPASSFILE). */
	char *const *argv;
	/* NULL-terminated "NAME=value" entries merged over the agent's
	 * environment; a bare "NAME" removes NAME.  May be NULL. */
	const char *const *env;
	const char *cwd;		/* NULL: the agent's */
	int deadline_ms;		/* 0: none (a postmaster) */
	int kill_grace_ms;		/* 0: PG_PROCESS_KILL_GRACE_MS */
	bool keep_output;		/* keep up to PG_PROCESS_OUTPUT_MAX bytes */
	/* Run as another user (tests running as root).  The agent itself runs
	 * as postgres and never switches. */
	bool switch_user;
	uid_t uid;
	gid_t gid;
	/* Signal the child gets if the agent dies (PR_SET_PDEATHSIG), 0 for
	 * none.  Tests use SIGKILL so nothing outlives a crashed test; the
	 * agent leaves it 0 so that PostgreSQL survives an agent crash. */
	int death_signal;
};

struct pg_process_result {
	const char *tool;
	pid_t pid;
	int exit_code;			/* -1 if killed by a signal */
	int signal;			/* 0 if it exited */
	bool timed_out;			/* the deadline passed and we stopped it */
	bool cancelled;			/* pg_process_cancel() stopped it */
	int64_t duration_ms;		/* start to exit */
	/* Combined output, NUL-terminated, when keep_output was set (else
	 * NULL).  output_truncated: there was more than PG_PROCESS_OUTPUT_MAX. */
	const char *output;
	size_t output_len;
	bool output_truncated;
};

/*
 * Called once per process.  The result and its strings are valid only during
 * the call; the process object is freed right after it returns, so the
 * caller forgets its pointer here.  done() may start, cancel or abandon
 * other processes.
 */
typedef void (*pg_process_done_fn)(void *arg, const struct pg_process_result *result);

/* Install the SIGCHLD handler on base (once; again with the same base is a
 * no-op).  False with a logged error. */
bool pg_process_init(struct event_base *base);

/*
 * Kill every process still running (SIGKILL to its group), reap it and free
 * it without calling its done(), then free the SIGCHLD handler.  Blocks only
 * for those reaps.  Safe to call from a done() callback.
 */
void pg_process_shutdown(void);

/*
 * Start a child.  NULL with a logged pg.tool_start_failed when it cannot be
 * started, including a program that cannot be exec'd (missing binary,
 * permission): start waits for the exec itself, through a close-on-exec
 * pipe, so such failures never reach done().  Otherwise done() runs once.
 */
struct pg_process *pg_process_start(struct event_base *base, const struct pg_process_options *options,
				    pg_process_done_fn done, void *arg);

/*
 * Send sig to the process only, not its group (SIGINT to a postmaster is a
 * fast shutdown; it stops its own children).  False, with errno set, when
 * the process has already exited (its done() is on its way) or kill()
 * failed; nothing is logged.
 */
bool pg_process_signal(struct pg_process *process, int sig);

pid_t pg_process_pid(const struct pg_process *process);

/*
 * Stop the process: SIGTERM to its group, SIGKILL after the grace period.
 * done() still runs once, with cancelled set.  No-op once it has exited.
 */
void pg_process_cancel(struct pg_process *process);

/*
 * For an owner that goes away before its child: stop the process as
 * pg_process_cancel() does, but never call done(); the module reaps and
 * frees it.  The pointer is invalid after this call.
 */
void pg_process_abandon(struct pg_process *process);

#endif
