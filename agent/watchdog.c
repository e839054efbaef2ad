/*
 * The watchdog process (watchdog.h): one pipe from the agent, fixed-size
 * messages, a poll() with the deadline as its timeout.  The child keeps
 * nothing of the agent but the pipe and the standard streams, so that it
 * never holds a listening socket or the ZooKeeper connection after the
 * agent is gone.
 */
#include "agent/watchdog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"

enum message_kind { MESSAGE_ARM = 1, MESSAGE_DISARM = 2 };

/* Smaller than PIPE_BUF: every write is atomic, every read whole. */
struct message {
	int32_t kind;
	int32_t pid;
	int64_t deadline_ms;
};

struct watchdog {
	pid_t pid;		/* the process, 0 when there is none */
	int fd;			/* write end of its pipe, -1 when none */
	bool armed;
	pid_t armed_pid;
	int64_t armed_deadline_ms;
	bool full_reported;	/* the pipe was full: said once */
	char *pid_file;		/* NULL: none */
	/* The process an agent before us left armed (it was killed), guarding
	 * the postmaster we adopted; relieved once we arm ours.  0: none. */
	pid_t predecessor;
};

#define PROCESS_NAME "pgherd watchdog"

static volatile sig_atomic_t relieved;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the child ------------------------------------------------------------ */

/* Fields of /proc/<pid>/stat after the command name: index 0 is field 3
 * (state), 1 is the parent pid, 19 the start time. */
static bool read_stat(pid_t pid, char *state, pid_t *parent, unsigned long long *start_time)
{
	char path[64];
	char text[1024];
	char *rest;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if ((rest = strrchr(text, ')')) == NULL)
		return false;
	rest++;
	for (int field = 0; field < 20; field++) {
		char *end;
		while (*rest == ' ')
			rest++;
		if (*rest == '\0')
			return false;
		if (field == 0 && state)
			*state = *rest;
		if (field == 1 && parent)
			*parent = (pid_t) strtol(rest, NULL, 10);
		if (field == 19 && start_time)
			*start_time = strtoull(rest, NULL, 10);
		end = strchr(rest, ' ');
		if (!end)
			return field == 19;
		rest = end;
	}
	return true;
}

int watchdog_kill_postmaster(pid_t postmaster)
{
	DIR *proc;
	struct dirent *entry;
	int signalled = 0;

	if (postmaster <= 1)
		return 0;
	/* Frozen first, so that it starts no backend while we look for them.
	 * Backends are in process groups of their own (each calls setsid(), so
	 * that the postmaster can signal it with whatever it started), hence
	 * the scan for children rather than one kill of a group. */
	(void) kill(postmaster, SIGSTOP);
	if ((proc = opendir("/proc")) != NULL) {
		while ((entry = readdir(proc)) != NULL) {
			char *end;
			long pid = strtol(entry->d_name, &end, 10);
			pid_t parent = 0;

			if (*end != '\0' || pid <= 1 || pid == postmaster)
				continue;
			if (!read_stat((pid_t) pid, NULL, &parent, NULL) || parent != postmaster)
				continue;
			(void) kill((pid_t) -pid, SIGKILL);
			if (kill((pid_t) pid, SIGKILL) == 0)
				signalled++;
		}
		closedir(proc);
	}
	(void) kill(-postmaster, SIGKILL);
	if (kill(postmaster, SIGKILL) == 0)
		signalled++;
	return signalled;
}

static void child_close_inherited(int keep)
{
	/* Nothing of the agent's: above all not the REST listener, which a
	 * restarted agent must be able to bind again. */
	if (syscall(SYS_close_range, (unsigned) keep + 1, ~0U, 0) == 0) {
		for (int fd = 3; fd < keep; fd++)
			(void) close(fd);
		return;
	}
	for (int fd = 3; fd < 65536; fd++)
		if (fd != keep)
			(void) close(fd);
}

static void on_relieve(int sig)
{
	(void) sig;
	relieved = 1;
}

static void child_signals(void)
{
	struct sigaction action;
	sigset_t none;

	memset(&action, 0, sizeof(action));
	sigemptyset(&action.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		/* The terminal's and the agent's group signals are for the
		 * agent: it disarms us on its way out. */
		action.sa_handler = sig == SIGINT || sig == SIGTERM || sig == SIGHUP ||
					    sig == SIGQUIT || sig == SIGPIPE || sig == SIGUSR2
				    ? SIG_IGN
				    : SIG_DFL;
		(void) sigaction(sig, &action, NULL);
	}
	/* SIGUSR1: the agent that replaced ours armed its own watchdog. */
	action.sa_handler = on_relieve;
	(void) sigaction(SIGUSR1, &action, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void fence(pid_t pid, unsigned long long start_time, int64_t deadline_ms)
{
	unsigned long long now_start = 0;
	char state = '?';
	int killed;

	if (!read_stat(pid, &state, NULL, &now_start) || now_start != start_time || state == 'Z') {
		log_info("watchdog.expired", LF_INT("postmaster_pid", pid),
			 LF_STR("detail", "the postmaster was already gone"));
		return;
	}
	killed = watchdog_kill_postmaster(pid);
	log_error("watchdog.fired", LF_INT("postmaster_pid", pid), LF_INT("killed", killed),
		  LF_INT("overdue_ms", now_ms() - deadline_ms),
		  LF_STR("detail", "the leader lease ran out and PostgreSQL was still running: "
				   "killed it before another member can be promoted"));
}

static void __attribute__((noreturn)) child_main(int fd)
{
	bool armed = false;
	bool agent_gone = false;
	pid_t pid = 0;
	unsigned long long start_time = 0;
	int64_t deadline_ms = 0;

	(void) prctl(PR_SET_NAME, PROCESS_NAME, 0, 0, 0);
	/* Out of the agent's process group: whoever kills the agent with its
	 * group (a shell's job control, kill -9 -<pgid>) must not take the
	 * guard of its PostgreSQL with it. */
	(void) setsid();
	child_signals();
	child_close_inherited(fd);
	for (;;) {
		struct pollfd poll_fd = { .fd = agent_gone ? -1 : fd, .events = POLLIN };
		int timeout = -1;
		int ready;

		/* Only an orphan takes orders from the agent after ours. */
		if (agent_gone && relieved) {
			if (armed)
				log_info("watchdog.relieved", LF_INT("postmaster_pid", pid),
					 LF_STR("detail", "the next agent guards PostgreSQL now"));
			_exit(0);
		}
		if (armed) {
			int64_t left = deadline_ms - now_ms();
			/* An orphan looks at `relieved` at least every 100 ms. */
			int most = agent_gone ? 100 : 60000;
			timeout = left < 0 ? 0 : left > most ? most : (int) left;
		} else if (agent_gone) {
			_exit(0);
		}
		ready = poll(&poll_fd, 1, timeout);
		if (ready < 0 && errno != EINTR)
			_exit(1);
		if (ready > 0) {
			struct message messages[64];
			ssize_t n = read(fd, messages, sizeof(messages));

			if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN))) {
				agent_gone = true;
				continue;
			}
			for (ssize_t i = 0; n > 0 && i < n / (ssize_t) sizeof(messages[0]); i++) {
				const struct message *m = &messages[i];
				if (m->kind == MESSAGE_DISARM) {
					armed = false;
				} else if (m->kind == MESSAGE_ARM) {
					if (!armed || m->pid != pid) {
						start_time = 0;
						(void) read_stat(m->pid, NULL, NULL, &start_time);
					}
					armed = true;
					pid = m->pid;
					deadline_ms = m->deadline_ms;
				}
			}
			continue;
		}
		if (armed && now_ms() >= deadline_ms) {
			fence(pid, start_time, deadline_ms);
			armed = false;
		}
	}
}

/* ---- the agent's side ----------------------------------------------------- */

/* A watchdog process still running from an earlier agent, as its pid file
 * names it; 0 when there is none. */
static pid_t find_predecessor(const char *pid_file)
{
	char path[64], name[32] = "";
	long pid = 0;
	FILE *f;

	if (!pid_file || (f = fopen(pid_file, "r")) == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (!fgets(name, sizeof(name), f))
		name[0] = '\0';
	fclose(f);
	name[strcspn(name, "\n")] = '\0';
	return strcmp(name, PROCESS_NAME) == 0 ? (pid_t) pid : 0;
}

static void write_pid_file(const struct watchdog *w)
{
	FILE *f;

	if (!w->pid_file)
		return;
	if ((f = fopen(w->pid_file, "w")) == NULL || fprintf(f, "%d\n", (int) w->pid) < 0 ||
	    fclose(f) != 0) {
		/* The next agent will not find us: an orphaned watchdog then
		 * fences the postmaster that agent adopted at our deadline, a
		 * restart where a takeover would do.  Still safe. */
		log_warning("watchdog.pid_file_unwritable", LF_STR("path", w->pid_file),
			    LF_STR("error", strerror(errno)));
	}
}

static bool start_process(struct watchdog *w)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		log_error("watchdog.start_failed", LF_STR("error", strerror(errno)));
		return false;
	}
	fflush(NULL);	/* nothing buffered may be written twice */
	pid = fork();
	if (pid < 0) {
		log_error("watchdog.start_failed", LF_STR("error", strerror(errno)));
		close(fds[0]);
		close(fds[1]);
		return false;
	}
	if (pid == 0) {
		close(fds[1]);
		child_main(fds[0]);
	}
	close(fds[0]);
	if (fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0)
		log_warning("watchdog.pipe_blocking", LF_STR("error", strerror(errno)));
	w->pid = pid;
	w->fd = fds[1];
	w->full_reported = false;
	log_info("watchdog.started", LF_INT("pid", pid));
	write_pid_file(w);
	return true;
}

static void stop_process(struct watchdog *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->pid = 0;
}

static bool send_message(struct watchdog *w, const struct message *m)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		ssize_t n;

		if (w->fd < 0 && !start_process(w))
			return false;
		do {
			n = write(w->fd, m, sizeof(*m));
		} while (n < 0 && errno == EINTR);
		if (n == (ssize_t) sizeof(*m))
			return true;
		if (n < 0 && errno == EAGAIN) {
			/* It has not read 4096 messages: it is stuck too.  The
			 * deadline it has stays. */
			if (!w->full_reported)
				log_error("watchdog.not_reading", LF_INT("pid", w->pid));
			w->full_reported = true;
			return false;
		}
		log_error("watchdog.lost", LF_INT("pid", w->pid),
			  LF_STR("error", n < 0 ? strerror(errno) : "short write"));
		stop_process(w);
	}
	return false;
}

struct watchdog *watchdog_new(const char *pid_file)
{
	struct watchdog *w = calloc(1, sizeof(*w));

	if (!w || (pid_file && (w->pid_file = strdup(pid_file)) == NULL)) {
		log_error("watchdog.start_failed", LF_STR("error", "out of memory"));
		free(w);
		return NULL;
	}
	w->fd = -1;
	w->predecessor = find_predecessor(pid_file);
	if (w->predecessor)
		log_info("watchdog.predecessor_found", LF_INT("pid", w->predecessor));
	if (!start_process(w)) {
		free(w->pid_file);
		free(w);
		return NULL;
	}
	return w;
}

bool watchdog_arm(struct watchdog *w, pid_t postmaster_pid, int64_t deadline_ms)
{
	struct message m = { .kind = MESSAGE_ARM, .pid = postmaster_pid, .deadline_ms = deadline_ms };
	bool was_armed = w->armed && w->armed_pid == postmaster_pid;

	if (was_armed && w->armed_deadline_ms == deadline_ms)
		return true;
	if (!send_message(w, &m))
		return false;
	w->armed = true;
	w->armed_pid = postmaster_pid;
	w->armed_deadline_ms = deadline_ms;
	/* Ours guards PostgreSQL now, on our own lease. */
	watchdog_relieve_predecessor(w);
	if (!was_armed)
		log_info("watchdog.armed", LF_INT("postmaster_pid", postmaster_pid),
			 LF_INT("deadline_in_ms", deadline_ms - now_ms()));
	return true;
}

void watchdog_disarm(struct watchdog *w)
{
	struct message m = { .kind = MESSAGE_DISARM };

	if (!w->armed)
		return;
	if (send_message(w, &m)) {
		w->armed = false;
		log_info("watchdog.disarmed", LF_INT("postmaster_pid", w->armed_pid));
	}
}

void watchdog_relieve_predecessor(struct watchdog *w)
{
	if (!w->predecessor)
		return;
	(void) kill(w->predecessor, SIGUSR1);
	w->predecessor = 0;
}

bool watchdog_is_armed(const struct watchdog *w)
{
	return w->armed;
}

pid_t watchdog_pid(const struct watchdog *w)
{
	return w->pid;
}

void watchdog_free(struct watchdog *w)
{
	if (!w)
		return;
	if (w->armed)
		log_warning("watchdog.left_armed", LF_INT("postmaster_pid", w->armed_pid),
			    LF_INT("deadline_in_ms", w->armed_deadline_ms - now_ms()));
	stop_process(w);
	free(w->pid_file);
	free(w);
}
