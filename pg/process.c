/*
 * Child processes on the event loop (see process.h).
 *
 * Life of a process: pg_process_start() forks and waits for the exec through
 * a close-on-exec pipe (it stays open until the exec closes it, or carries
 * the errno of the step that failed), so a missing binary is a start failure
 * and everything after the exec is asynchronous: the output pipe is read by
 * a libevent event, SIGCHLD reaps, timers enforce the deadline and the kill
 * grace.  Once the exit status is known and the pipe is at EOF, a deferred
 * event runs done() and frees the process.
 *
 * Why the deferred event: done() may start, cancel or abandon processes, or
 * even shut the module down.  Calling it from inside the reap loop or the
 * read callback would let it free what those loops are walking.  Running it
 * from its own callback, after unlinking the process, means nothing of ours
 * is on the stack when user code runs.
 *
 * Why waitid(WNOWAIT) before waitpid(): the exited leader stays a zombie
 * while we kill what is left in its group, so the group id cannot have been
 * handed to another process yet.  Then it is reaped.
 *
 * Rejected: posix_spawn() (no way to switch users, which the tests need
 * when run as root), and a shell (quoting bugs, and the agent would learn
 * of the shell's death, not the tool's).
 */
#include "pg/process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "agent/log.h"

extern char **environ;

/*
 * When the leader exits its group is killed, so the pipe normally reaches EOF
 * within one loop iteration.  Only a process that left the group (setsid, as
 * the postmaster's children do) can keep it open; we stop waiting for it
 * after this long.
 */
#define OUTPUT_DRAIN_MS 1000
#define READ_CHUNK 4096
/* Bounds the time one busy child can hold the loop; the event is
 * level-triggered, so the rest is read on the next iteration. */
#define READS_PER_CALLBACK 16
#define COMMAND_LOG_MAX 4096
#define OUTPUT_INITIAL 4096

struct pg_process {
	struct pg_process *prev;
	struct pg_process *next;
	bool listed;
	bool events_assigned;

	char *tool;
	char *command;			/* argv joined, for the logs */
	pid_t pid;
	pg_process_done_fn done;	/* NULL once abandoned */
	void *arg;
	int64_t started_ms;
	int deadline_ms;
	int grace_ms;
	int fd;				/* read end of the output pipe, -1 at EOF */

	struct event read_ev;
	struct event deadline_ev;
	struct event kill_ev;		/* SIGKILL after the grace period */
	struct event drain_ev;		/* stop waiting for EOF after the exit */
	struct event finish_ev;		/* runs done() from its own callback */

	bool exited;
	bool eof;
	bool terminating;		/* SIGTERM sent, SIGKILL pending */
	bool finishing;
	bool timed_out;
	bool cancelled;
	int status;			/* raw wait status */
	int64_t duration_ms;

	char line[PG_PROCESS_LINE_MAX + 1];
	size_t line_len;

	bool keep_output;
	char *output;
	size_t output_len;
	size_t output_cap;
	bool output_truncated;
};

static struct event_base *process_base;
static struct event *sigchld_event;
static struct pg_process *processes;	/* running or not yet finished */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_to_timeval(int ms)
{
	return (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
}

/* --- List ---------------------------------------------------------------------- */

static void link_process(struct pg_process *p)
{
	p->prev = NULL;
	p->next = processes;
	if (processes)
		processes->prev = p;
	processes = p;
	p->listed = true;
}

static void unlink_process(struct pg_process *p)
{
	if (!p->listed)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		processes = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->listed = false;
}

static struct pg_process *find_process(pid_t pid)
{
	for (struct pg_process *p = processes; p; p = p->next)
		if (p->pid == pid && !p->exited)
			return p;
	return NULL;
}

static void free_process(struct pg_process *p)
{
	unlink_process(p);
	if (p->events_assigned) {
		event_del(&p->read_ev);
		event_del(&p->deadline_ev);
		event_del(&p->kill_ev);
		event_del(&p->drain_ev);
		event_del(&p->finish_ev);
	}
	if (p->fd >= 0)
		close(p->fd);
	free(p->tool);
	free(p->command);
	free(p->output);
	free(p);
}

/* --- Command line for the logs -------------------------------------------------- */

static bool needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s; s++)
		if (strchr(" \t\n\r'\"\\$`;&|<>()*?[]{}#~!", *s))
			return true;
	return false;
}

/* A bounded string: appends past COMMAND_LOG_MAX are dropped and noted. */
struct command_text {
	char *buf;
	size_t len;
	bool cut;
};

static void command_append(struct command_text *t, const char *s)
{
	for (; *s; s++) {
		if (t->len == COMMAND_LOG_MAX) {
			t->cut = true;
			return;
		}
		t->buf[t->len++] = *s;
	}
}

/* argv as a shell would need it typed (single quotes where needed), so an
 * operator can copy it from the log; cut with "..." past COMMAND_LOG_MAX. */
static char *join_command(char *const *argv)
{
	struct command_text t = { .buf = malloc(COMMAND_LOG_MAX + 4) };

	if (!t.buf)
		return NULL;
	for (size_t i = 0; argv[i] && !t.cut; i++) {
		bool quote = needs_quotes(argv[i]);

		if (i > 0)
			command_append(&t, " ");
		if (quote)
			command_append(&t, "'");
		for (const char *a = argv[i]; *a; a++) {
			char one[2] = { *a, '\0' };
			command_append(&t, *a == '\'' ? "'\\''" : one);
		}
		if (quote)
			command_append(&t, "'");
	}
	memcpy(t.buf + t.len, t.cut ? "..." : "", t.cut ? 4 : 1);
	return t.buf;
}

/* --- Environment ------------------------------------------------------------------ */

static size_t env_name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t) (eq - entry) : strlen(entry);
}

static bool env_same_name(const char *a, const char *b)
{
	size_t n = env_name_len(a);
	return n == env_name_len(b) && strncmp(a, b, n) == 0;
}

/* True if a later entry of extra (from index i + 1) names the same
 * variable: the last mention wins. */
static bool env_named_later(const char *const *extra, size_t i)
{
	for (size_t k = i + 1; extra[k]; k++)
		if (env_same_name(extra[i], extra[k]))
			return true;
	return false;
}

/*
 * The child's environment: ours, minus every name extra mentions, plus
 * extra's NAME=value entries.  An array of borrowed pointers (the child gets
 * a copy of our memory at fork); the caller frees the array only.
 */
static char **build_env(const char *const *extra)
{
	size_t n_env = 0;
	size_t n_extra = 0;
	size_t n = 0;
	char **envp;

	while (environ && environ[n_env])
		n_env++;
	while (extra && extra[n_extra])
		n_extra++;
	envp = calloc(n_env + n_extra + 1, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n_env; i++) {
		bool overridden = false;
		for (size_t k = 0; k < n_extra && !overridden; k++)
			overridden = env_same_name(environ[i], extra[k]);
		if (!overridden)
			envp[n++] = environ[i];
	}
	for (size_t k = 0; k < n_extra; k++)
		if (strchr(extra[k], '=') && !env_named_later(extra, k))
			envp[n++] = (char *) extra[k];
	envp[n] = NULL;
	return envp;
}

/* --- The child, between fork and exec --------------------------------------------- */

/* Only async-signal-safe calls from here to the exec. */

enum spawn_step {
	STEP_DESCRIPTORS,
	STEP_SETPGID,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_DEATH_SIGNAL,
	STEP_DEVNULL,
	STEP_DUP2,
	STEP_CHDIR,
	STEP_EXEC,
};

static const char *const spawn_step_names[] = {
	[STEP_DESCRIPTORS] = "descriptors",
	[STEP_SETPGID] = "setpgid",
	[STEP_SETGROUPS] = "setgroups",
	[STEP_SETGID] = "setgid",
	[STEP_SETUID] = "setuid",
	[STEP_DEATH_SIGNAL] = "prctl(PR_SET_PDEATHSIG)",
	[STEP_DEVNULL] = "open /dev/null",
	[STEP_DUP2] = "dup2",
	[STEP_CHDIR] = "chdir",
	[STEP_EXEC] = "exec",
};

struct spawn_failure {
	int step;
	int error;
};

static _Noreturn void child_fail(int errfd, enum spawn_step step)
{
	struct spawn_failure f = { (int) step, errno };
	ssize_t r = write(errfd, &f, sizeof(f));

	(void) r;	/* nothing more we can do: the parent then sees exec succeed and exit 127 */
	_exit(127);
}

/* Keep fd clear of 0..2, which are about to be replaced. */
static int above_stdio(int fd)
{
	return fd > STDERR_FILENO ? fd : fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
}

/* Everything above stderr closes at exec.  Marked rather than closed: the
 * error pipe must stay open until the exec succeeds. */
static void close_on_exec_all(void)
{
	struct rlimit rl;
	int max = 65536;

	if (close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	/* Kernels before 5.11: walk the table. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 65536)
		max = (int) rl.rlim_cur;
	for (int fd = STDERR_FILENO + 1; fd < max; fd++) {
		int flags = fcntl(fd, F_GETFD);
		if (flags >= 0)
			(void) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
	}
}

static _Noreturn void child_exec(const struct pg_process_options *o, char **envp, int outfd,
				 int errfd, pid_t parent)
{
	struct sigaction dfl;
	sigset_t none;
	int devnull;

	errfd = above_stdio(errfd);
	if (errfd < 0)
		_exit(127);
	outfd = above_stdio(outfd);
	if (outfd < 0)
		child_fail(errfd, STEP_DESCRIPTORS);
	if (setpgid(0, 0) < 0)
		child_fail(errfd, STEP_SETPGID);
	if (o->switch_user) {
		/* Only root may set groups; a user "switching" to itself skips it. */
		if (geteuid() == 0 && setgroups(1, &o->gid) < 0)
			child_fail(errfd, STEP_SETGROUPS);
		if (setgid(o->gid) < 0)
			child_fail(errfd, STEP_SETGID);
		if (setuid(o->uid) < 0)
			child_fail(errfd, STEP_SETUID);
	}
	/* After setuid: a credential change clears the death signal. */
	if (o->death_signal) {
		if (prctl(PR_SET_PDEATHSIG, o->death_signal) < 0)
			child_fail(errfd, STEP_DEATH_SIGNAL);
		if (getppid() != parent)
			_exit(127);	/* the agent died before prctl */
	}
	/* Exec resets handlers but keeps ignored signals (the agent ignores
	 * SIGPIPE) and the mask, which the parent filled around fork. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void) sigaction(sig, &dfl, NULL);	/* EINVAL for glibc's own */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || (devnull = above_stdio(devnull)) < 0)
		child_fail(errfd, STEP_DEVNULL);
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(outfd, STDOUT_FILENO) < 0 ||
	    dup2(outfd, STDERR_FILENO) < 0)
		child_fail(errfd, STEP_DUP2);
	if (o->cwd && chdir(o->cwd) < 0)
		child_fail(errfd, STEP_CHDIR);
	close_on_exec_all();
	execve(o->argv[0], o->argv, envp);
	child_fail(errfd, STEP_EXEC);
}

/* --- Output ------------------------------------------------------------------------- */

static void emit_line(struct pg_process *p)
{
	size_t len = p->line_len;

	p->line_len = 0;
	if (len > 0 && p->line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;		/* blank lines say nothing in a log */
	p->line[len] = '\0';
	log_info("pg.tool_output", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
		 LF_STR("line", p->line));
}

static void keep_bytes(struct pg_process *p, const char *data, size_t n)
{
	size_t room;

	if (!p->keep_output || p->output_truncated)
		return;
	if (p->output_len + n + 1 > p->output_cap && p->output_cap < PG_PROCESS_OUTPUT_MAX + 1) {
		size_t cap = p->output_cap ? p->output_cap : OUTPUT_INITIAL;
		while (cap < p->output_len + n + 1 && cap < PG_PROCESS_OUTPUT_MAX + 1)
			cap *= 2;
		if (cap > PG_PROCESS_OUTPUT_MAX + 1)
			cap = PG_PROCESS_OUTPUT_MAX + 1;
		char *grown = realloc(p->output, cap);
		if (!grown) {
			log_error("pg.out_of_memory", LF_STR("context", "tool output"),
				  LF_STR("tool", p->tool));
			p->output_truncated = true;
			return;
		}
		p->output = grown;
		p->output_cap = cap;
	}
	room = p->output_cap - 1 - p->output_len;
	if (n > room) {
		n = room;
		p->output_truncated = true;
	}
	memcpy(p->output + p->output_len, data, n);
	p->output_len += n;
	p->output[p->output_len] = '\0';
}

static void take_output(struct pg_process *p, const char *data, size_t n)
{
	keep_bytes(p, data, n);
	for (size_t i = 0; i < n; i++) {
		char c = data[i];
		if (c == '\n') {
			emit_line(p);
			continue;
		}
		/* A NUL would end the logged string early. */
		p->line[p->line_len++] = c == '\0' ? ' ' : c;
		if (p->line_len == PG_PROCESS_LINE_MAX)
			emit_line(p);
	}
}

static void close_output(struct pg_process *p)
{
	if (p->fd < 0)
		return;
	if (p->line_len > 0)
		emit_line(p);	/* a last line without its newline */
	event_del(&p->read_ev);
	event_del(&p->drain_ev);
	close(p->fd);
	p->fd = -1;
	p->eof = true;
}

/* Read what the pipe has now.  True once it is finished (EOF or an error,
 * which is logged). */
static bool read_available(struct pg_process *p)
{
	char buf[READ_CHUNK];

	for (int i = 0; i < READS_PER_CALLBACK; i++) {
		ssize_t n = read(p->fd, buf, sizeof(buf));
		if (n > 0) {
			take_output(p, buf, (size_t) n);
			continue;
		}
		if (n == 0)
			return true;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return false;
		log_warning("pg.tool_output_lost", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
			    LF_STR("reason", strerror(errno)));
		return true;
	}
	return false;
}

/* --- Completion ------------------------------------------------------------------- */

static void maybe_finish(struct pg_process *p)
{
	if (!p->exited || !p->eof || p->finishing)
		return;
	p->finishing = true;
	event_active(&p->finish_ev, EV_TIMEOUT, 1);
}

static void log_finished(const struct pg_process *p)
{
	if (WIFSIGNALED(p->status))
		log_info("pg.tool_finished", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
			 LF_INT("signal", WTERMSIG(p->status)), LF_INT("duration_ms", p->duration_ms),
			 LF_BOOL("timed_out", p->timed_out), LF_BOOL("cancelled", p->cancelled));
	else
		log_info("pg.tool_finished", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
			 LF_INT("exit_code", WEXITSTATUS(p->status)),
			 LF_INT("duration_ms", p->duration_ms), LF_BOOL("timed_out", p->timed_out),
			 LF_BOOL("cancelled", p->cancelled));
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct pg_process *p = arg;
	struct pg_process_result r = {
		.tool = p->tool,
		.pid = p->pid,
		.exit_code = WIFSIGNALED(p->status) ? -1 : WEXITSTATUS(p->status),
		.signal = WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0,
		.timed_out = p->timed_out,
		.cancelled = p->cancelled,
		.duration_ms = p->duration_ms,
		.output = p->keep_output ? (p->output ? p->output : "") : NULL,
		.output_len = p->output_len,
		.output_truncated = p->output_truncated,
	};

	/* Unlinked first: done() may shut the module down, which must not
	 * free this process under us. */
	unlink_process(p);
	log_finished(p);
	if (p->done)
		p->done(p->arg, &r);
	free_process(p);
}

static void process_exited(struct pg_process *p, int status)
{
	p->exited = true;
	p->status = status;
	p->duration_ms = now_ms() - p->started_ms;
	event_del(&p->deadline_ev);
	event_del(&p->kill_ev);
	if (!p->eof) {
		struct timeval tv = ms_to_timeval(OUTPUT_DRAIN_MS);
		if (event_add(&p->drain_ev, &tv) != 0)
			close_output(p);	/* cannot wait: finish with what we have */
	}
	maybe_finish(p);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct pg_process *p = arg;

	if (read_available(p)) {
		close_output(p);
		maybe_finish(p);
	}
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct pg_process *p = arg;

	if (!read_available(p))
		log_warning("pg.tool_output_lost", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
			    LF_STR("reason", "a process outside the tool's group keeps its output open"));
	close_output(p);
	maybe_finish(p);
}

/* --- Stopping ------------------------------------------------------------------------ */

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct pg_process *p = arg;

	if (p->exited)
		return;
	log_warning("pg.tool_killed", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
		    LF_STR("reason", "grace_expired"), LF_INT("grace_ms", p->grace_ms));
	/* The leader is not reaped yet, so the group id is still its own. */
	if (kill(-p->pid, SIGKILL) < 0)
		log_error("pg.tool_signal_failed", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
			  LF_INT("signal", SIGKILL), LF_STR("error", strerror(errno)));
}

/* SIGTERM to the group now, SIGKILL after the grace period. */
static void terminate(struct pg_process *p)
{
	struct timeval tv = ms_to_timeval(p->grace_ms);

	if (p->exited || p->terminating)
		return;
	p->terminating = true;
	if (kill(-p->pid, SIGTERM) < 0)
		log_error("pg.tool_signal_failed", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
			  LF_INT("signal", SIGTERM), LF_STR("error", strerror(errno)));
	if (event_add(&p->kill_ev, &tv) != 0)
		kill_cb(-1, 0, p);	/* no timer: do not leave it running */
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct pg_process *p = arg;

	if (p->exited)
		return;
	p->timed_out = true;
	log_warning("pg.tool_deadline", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
		    LF_INT("deadline_ms", p->deadline_ms));
	terminate(p);
}

static void cancel(struct pg_process *p, bool abandon)
{
	if (abandon)
		p->done = NULL;
	if (p->exited || p->terminating)
		return;
	p->cancelled = true;
	log_info("pg.tool_cancelled", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
		 LF_BOOL("abandoned", abandon));
	terminate(p);
}

void pg_process_cancel(struct pg_process *p)
{
	cancel(p, false);
}

void pg_process_abandon(struct pg_process *p)
{
	cancel(p, true);
}

bool pg_process_signal(struct pg_process *p, int sig)
{
	if (p->exited) {
		errno = ESRCH;
		return false;
	}
	return kill(p->pid, sig) == 0;
}

pid_t pg_process_pid(const struct pg_process *p)
{
	return p->pid;
}

/* --- Reaping ------------------------------------------------------------------------ */

static void reap_children(void)
{
	for (;;) {
		siginfo_t info;
		struct pg_process *p;
		int status = 0;
		pid_t pid;
		pid_t r;

		memset(&info, 0, sizeof(info));
		if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				log_error("pg.reap_failed", LF_STR("error", strerror(errno)));
			return;
		}
		if (info.si_pid == 0)
			return;
		pid = info.si_pid;
		p = find_process(pid);
		/* What is left of the job dies with its leader (a crashed
		 * postmaster's backends, a tool's stray helper).  Ignoring the
		 * result: the group may hold nothing but the zombie. */
		if (p)
			(void) kill(-pid, SIGKILL);
		do {
			r = waitpid(pid, &status, 0);	/* a zombie: returns at once */
		} while (r < 0 && errno == EINTR);
		if (r < 0) {
			log_error("pg.reap_failed", LF_INT("pid", pid), LF_STR("error", strerror(errno)));
			return;
		}
		if (p) {
			process_exited(p, status);
		} else {
			char text[32];
			if (WIFSIGNALED(status))
				snprintf(text, sizeof(text), "signal %d", WTERMSIG(status));
			else
				snprintf(text, sizeof(text), "exit %d", WEXITSTATUS(status));
			log_debug("pg.orphan_reaped", LF_INT("pid", pid), LF_STR("status", text));
		}
	}
}

static void sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	(void) sig;
	(void) what;
	(void) arg;
	reap_children();
}

bool pg_process_init(struct event_base *base)
{
	if (sigchld_event) {
		if (base == process_base)
			return true;
		log_error("pg.process_init_failed",
			  LF_STR("reason", "already set up on another event loop"));
		return false;
	}
	sigchld_event = evsignal_new(base, SIGCHLD, sigchld_cb, NULL);
	if (!sigchld_event || evsignal_add(sigchld_event, NULL) != 0) {
		log_error("pg.process_init_failed", LF_STR("reason", "cannot watch SIGCHLD"));
		if (sigchld_event)
			event_free(sigchld_event);
		sigchld_event = NULL;
		return false;
	}
	process_base = base;
	/* Zombies from before the handler (an agent that is PID 1) would
	 * otherwise wait for the next SIGCHLD. */
	reap_children();
	return true;
}

void pg_process_shutdown(void)
{
	while (processes) {
		struct pg_process *p = processes;

		unlink_process(p);
		if (!p->exited) {
			int status = 0;
			pid_t r;

			log_warning("pg.tool_killed", LF_STR("tool", p->tool), LF_INT("pid", p->pid),
				    LF_STR("reason", "shutdown"));
			(void) kill(-p->pid, SIGKILL);	/* the leader is not reaped: the group is its own */
			do {
				r = waitpid(p->pid, &status, 0);
			} while (r < 0 && errno == EINTR);
			if (r < 0)
				log_error("pg.reap_failed", LF_INT("pid", p->pid),
					  LF_STR("error", strerror(errno)));
			p->exited = true;
			p->status = status;
			p->duration_ms = now_ms() - p->started_ms;
		}
		/* Its output so far, up to what the pipe holds now; done() is
		 * not called. */
		if (p->fd >= 0)
			(void) read_available(p);
		close_output(p);
		log_finished(p);
		free_process(p);
	}
	if (sigchld_event) {
		reap_children();	/* orphans */
		event_free(sigchld_event);
		sigchld_event = NULL;
	}
	process_base = NULL;
}

/* --- Start ------------------------------------------------------------------------ */

static bool options_valid(struct event_base *base, const struct pg_process_options *o,
			  pg_process_done_fn done, const char **reason)
{
	if (!sigchld_event || base != process_base)
		*reason = "pg_process_init() was not called for this event loop";
	else if (!o->argv || !o->argv[0] || o->argv[0][0] != '/')
		*reason = "argv[0] must be an absolute path";
	else if (!done)
		*reason = "no done callback";
	else if (o->deadline_ms < 0 || o->kill_grace_ms < 0)
		*reason = "negative deadline or grace";
	else
		return true;
	return false;
}

static void start_failed(const char *tool, const char *command, const char *step, const char *error)
{
	log_error("pg.tool_start_failed", LF_STR("tool", tool), LF_STR("command", command ? command : ""),
		  LF_STR("step", step), LF_STR("error", error));
}

static bool setup_events(struct event_base *base, struct pg_process *p)
{
	struct timeval deadline = ms_to_timeval(p->deadline_ms);

	if (event_assign(&p->read_ev, base, p->fd, EV_READ | EV_PERSIST, read_cb, p) != 0 ||
	    event_assign(&p->deadline_ev, base, -1, 0, deadline_cb, p) != 0 ||
	    event_assign(&p->kill_ev, base, -1, 0, kill_cb, p) != 0 ||
	    event_assign(&p->drain_ev, base, -1, 0, drain_cb, p) != 0 ||
	    event_assign(&p->finish_ev, base, -1, 0, finish_cb, p) != 0)
		return false;
	p->events_assigned = true;
	if (event_add(&p->read_ev, NULL) != 0)
		return false;
	if (p->deadline_ms > 0 && event_add(&p->deadline_ev, &deadline) != 0) {
		event_del(&p->read_ev);
		return false;
	}
	return true;
}

struct pg_process *pg_process_start(struct event_base *base, const struct pg_process_options *o,
				    pg_process_done_fn done, void *arg)
{
	const char *tool = o->tool ? o->tool : "?";
	const char *reason = NULL;
	struct spawn_failure failure;
	struct pg_process *p;
	int out[2] = { -1, -1 };
	int errp[2] = { -1, -1 };
	sigset_t all, old;
	char **envp = NULL;
	pid_t parent = getpid();
	pid_t pid;
	ssize_t n;

	if (!options_valid(base, o, done, &reason)) {
		start_failed(tool, NULL, "options", reason);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->tool = strdup(tool)) || !(p->command = join_command(o->argv)) ||
	    !(envp = build_env(o->env))) {
		start_failed(tool, p ? p->command : NULL, "memory", strerror(ENOMEM));
		goto fail;
	}
	p->fd = -1;
	p->done = done;
	p->arg = arg;
	p->deadline_ms = o->deadline_ms;
	p->grace_ms = o->kill_grace_ms ? o->kill_grace_ms : PG_PROCESS_KILL_GRACE_MS;
	p->keep_output = o->keep_output;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		start_failed(tool, p->command, "pipe", strerror(errno));
		goto fail;
	}
	/* Our end only: the child writes with ordinary blocking writes. */
	if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
		start_failed(tool, p->command, "pipe", strerror(errno));
		goto fail;
	}
	p->fd = out[0];
	out[0] = -1;
	/* Before the fork, so nothing can fail once a child exists. */
	if (!setup_events(base, p)) {
		start_failed(tool, p->command, "event", "cannot add the output event");
		goto fail;
	}
	p->started_ms = now_ms();

	/* Blocked across fork: the child must not run our handlers (libevent's
	 * would write to the loop's socket) before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(o, envp, out[1], errp[1], parent);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		start_failed(tool, p->command, "fork", strerror(errno));
		goto fail;
	}
	close(out[1]);
	out[1] = -1;
	close(errp[1]);
	errp[1] = -1;
	/* Both sides set the group, so it exists whichever runs first; EACCES
	 * once the child has exec'd is fine. */
	(void) setpgid(pid, pid);
	free(envp);
	envp = NULL;

	/* Returns at the exec (EOF) or with the failed step: bounded by the
	 * exec itself. */
	do {
		n = read(errp[0], &failure, sizeof(failure));
	} while (n < 0 && errno == EINTR);
	close(errp[0]);
	errp[0] = -1;
	if (n != 0) {
		int status;
		if (n == (ssize_t) sizeof(failure) && failure.step >= 0 && failure.step <= STEP_EXEC)
			start_failed(tool, p->command, spawn_step_names[failure.step],
				     strerror(failure.error));
		else
			start_failed(tool, p->command, "exec", n < 0 ? strerror(errno) : "short report");
		(void) kill(pid, SIGKILL);	/* it exits on its own; in case it did not */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		goto fail;
	}
	p->pid = pid;
	link_process(p);
	log_info("pg.tool_started", LF_STR("tool", p->tool), LF_INT("pid", pid),
		 LF_STR("command", p->command));
	return p;

fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	free(envp);
	if (p)
		free_process(p);
	return NULL;
}
