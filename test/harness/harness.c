/*
 * Scenario test harness; see harness.h.
 *
 * The process table is a fixed array because the fatal-signal handler
 * walks it: no allocation, only kill() and waitpid(), which are
 * async-signal-safe.
 */
#include "test/harness/harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "test/harness/zk_client.h"

#define MAX_PROCS 256
#define MAX_PORTS 1024
#define TEARDOWN_WAIT_MS 5000

struct proc {
	pid_t pid;
	char name[48];
	int stop_signal;
	uint64_t seq;			/* spawn order, for per-test cleanup */
	bool reaped;
	int status;
};

static struct proc procs[MAX_PROCS];
static volatile size_t nprocs;
static uint64_t proc_seq;

static char run_dir[HARNESS_PATH_MAX];
static char owner_file[HARNESS_PATH_MAX];	/* <run dir>/.owner: our pid */
static bool ready;
static bool keep_run_dir;

static uid_t service_uid;
static gid_t service_gid;
static char service_user[64];
static bool drop_privileges;		/* we are root: children become postgres */

static int ports[MAX_PORTS];
static size_t nports;

/* Strings handed out as const char *: freed at teardown. */
static char **owned;
static size_t nowned;

static uint64_t test_proc_mark;
static uint64_t test_client_mark;

static int zk_cluster_seq;
static int pg_seq;

/* A forked copy of the test binary inherits our tables and atexit
 * handlers: only the process that set up may clean up. */
static pid_t owner_pid;

static bool handlers_installed;
static const int fatal_signals[] = { SIGINT, SIGTERM, SIGSEGV, SIGABRT, SIGBUS, SIGFPE };
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction old_actions[NFATAL];

/* Present only when built with a sanitizer: lets us clean up before it
 * calls _exit() on a report (atexit handlers do not run then). */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void harness_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void harness_error(const char *fmt, ...)
{
	va_list ap;

	/* stdout is a pipe under test/run.sh: keep the two in order. */
	fflush(stdout);
	va_start(ap, fmt);
	fputs("harness: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *own(char *s)
{
	char **grown;

	if (s == NULL) {
		harness_error("out of memory");
		return NULL;
	}
	grown = realloc(owned, (nowned + 1) * sizeof(char *));
	if (grown == NULL) {
		harness_error("out of memory");
		free(s);
		return NULL;
	}
	owned = grown;
	owned[nowned++] = s;
	return s;
}

static const char *own_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *own_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return own(n < 0 ? NULL : s);
}

/* snprintf that reports truncation instead of silently cutting a path. */
static bool format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool format(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= size) {
		harness_error("string too long for %zu bytes: %.40s...", size, buf);
		return false;
	}
	return true;
}

/* --- Time ------------------------------------------------------------------ */

int64_t harness_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int ms)
{
	int64_t deadline = harness_now_ms() + ms;
	int64_t left;

	/* zk_client sessions need their pings: drive them while we wait. */
	while ((left = deadline - harness_now_ms()) > 0)
		zk_client_drive_all((int) left);
}

bool harness_wait_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		if (cond(arg))
			return true;
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(10);
	}
}

/* --- Process table --------------------------------------------------------- */

/* The running entry for pid if any, else the latest reaped one. */
static struct proc *proc_find(pid_t pid)
{
	struct proc *found = NULL;

	for (size_t i = 0; i < nprocs; i++) {
		if (procs[i].pid != pid)
			continue;
		if (!procs[i].reaped)
			return &procs[i];
		if (found == NULL || procs[i].seq > found->seq)
			found = &procs[i];
	}
	return found;
}

static struct proc *proc_add(pid_t pid, const char *name)
{
	struct proc *p = NULL;

	if (nprocs < MAX_PROCS) {
		p = &procs[nprocs];
	} else {
		/* Full: reuse the oldest reaped slot. */
		for (size_t i = 0; i < MAX_PROCS; i++)
			if (procs[i].reaped && (p == NULL || procs[i].seq < p->seq))
				p = &procs[i];
		if (p == NULL)
			return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->stop_signal = SIGTERM;
	p->seq = ++proc_seq;
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (p == &procs[nprocs])
		nprocs = nprocs + 1;
	return p;
}

/* Reap if it has exited (or wait for it when block).  Whatever it left in
 * its process group (postgres backends, say) is killed first, while the
 * leader is still a zombie: until it is reaped its pid, and so the group
 * id, cannot belong to anybody else. */
static bool proc_reap(struct proc *p, bool block)
{
	siginfo_t info;
	int status = -1;
	pid_t r;

	if (p->reaped)
		return true;
	memset(&info, 0, sizeof(info));
	while (waitid(P_PID, (id_t) p->pid, &info, WEXITED | WNOWAIT | (block ? 0 : WNOHANG)) < 0) {
		if (errno == EINTR)
			continue;
		harness_error("waitid(%d, %s): %s", (int) p->pid, p->name, strerror(errno));
		p->reaped = true;
		p->status = -1;
		return true;
	}
	if (info.si_pid == 0)
		return false;		/* still running */
	kill(-p->pid, SIGKILL);
	do {
		r = waitpid(p->pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		harness_error("waitpid(%d, %s): %s", (int) p->pid, p->name, strerror(errno));
	p->reaped = true;
	p->status = status;
	return true;
}

static bool proc_wait(struct proc *p, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (!proc_reap(p, false)) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(5);
	}
	return true;
}

static void proc_kill_now(struct proc *p)
{
	if (p->reaped)
		return;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	proc_reap(p, true);
}

/* Stop several processes at once (they shut down in parallel): stop
 * signal, bounded wait, SIGKILL. */
static void stop_procs_since(uint64_t mark)
{
	int64_t deadline = harness_now_ms() + TEARDOWN_WAIT_MS;
	bool waiting = false;

	for (size_t i = 0; i < nprocs; i++) {
		struct proc *p = &procs[i];

		if (p->seq <= mark || proc_reap(p, false))
			continue;
		kill(p->pid, p->stop_signal);
		kill(p->pid, SIGCONT);
		waiting = true;
	}
	while (waiting && harness_now_ms() < deadline) {
		waiting = false;
		for (size_t i = 0; i < nprocs; i++)
			if (procs[i].seq > mark && !proc_reap(&procs[i], false))
				waiting = true;
		if (waiting)
			harness_sleep_ms(10);
	}
	for (size_t i = 0; i < nprocs; i++) {
		struct proc *p = &procs[i];

		if (p->seq <= mark || p->reaped)
			continue;
		harness_error("%s (pid %d) ignored signal %d for %d ms: killing it",
			      p->name, (int) p->pid, p->stop_signal, TEARDOWN_WAIT_MS);
		proc_kill_now(p);
	}
}

/* --- Emergency cleanup ------------------------------------------------------ */

static void write_str(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));

	(void) r;
}

/* Async-signal-safe: kill, reap, and remove the run directory with a
 * forked rm (nftw is not safe in a signal handler). */
static void emergency_cleanup(void)
{
	if (getpid() != owner_pid)
		return;
	for (size_t i = 0; i < nprocs; i++) {
		if (procs[i].reaped)
			continue;
		kill(-procs[i].pid, SIGKILL);
		kill(procs[i].pid, SIGKILL);
	}
	for (size_t i = 0; i < nprocs; i++) {
		if (procs[i].reaped)
			continue;
		while (waitpid(procs[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		procs[i].reaped = true;
	}
	if (!ready)
		return;
	if (keep_run_dir) {
		unlink(owner_file);	/* kept on purpose: not for the sweep */
		write_str("harness: run directory kept: ");
		write_str(run_dir);
		write_str("\n");
	} else {
		pid_t rm = fork();

		if (rm == 0) {
			char *const argv[] = { (char *) "/bin/rm", (char *) "-rf", run_dir, NULL };
			char *const envp[] = { NULL };

			execve(argv[0], argv, envp);
			_exit(127);
		}
		if (rm > 0)
			while (waitpid(rm, NULL, 0) < 0 && errno == EINTR)
				;
	}
	ready = false;
}

static void fatal_signal_handler(int sig)
{
	struct sigaction dfl;
	sigset_t set;

	emergency_cleanup();
	/* Die of the same signal, so the exit status tells what happened. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

static void at_exit_cleanup(void)
{
	if (getpid() == owner_pid)
		harness_teardown();
}

static void sanitizer_death(void)
{
	emergency_cleanup();
}

static bool install_handlers(void)
{
	static bool registered;
	struct sigaction sa;

	if (!registered) {
		if (atexit(at_exit_cleanup) != 0) {
			harness_error("atexit failed");
			return false;
		}
		if (__sanitizer_set_death_callback != NULL)
			__sanitizer_set_death_callback(sanitizer_death);
		registered = true;
	}
	if (handlers_installed)
		return true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_signal_handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++) {
		if (sigaction(fatal_signals[i], &sa, &old_actions[i]) < 0) {
			harness_error("sigaction(%d): %s", fatal_signals[i], strerror(errno));
			return false;
		}
	}
	handlers_installed = true;
	return true;
}

static void restore_handlers(void)
{
	if (!handlers_installed)
		return;
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &old_actions[i], NULL);
	handlers_installed = false;
}

/* --- Run directory ---------------------------------------------------------- */

static bool find_service_user(void)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		pw = getpwuid(geteuid());
		service_uid = geteuid();
		service_gid = getegid();
		snprintf(service_user, sizeof(service_user), "%s", pw != NULL ? pw->pw_name : "?");
		drop_privileges = false;
		return true;
	}
	/* PostgreSQL refuses to run as root. */
	pw = getpwnam("postgres");
	if (pw == NULL) {
		harness_error("running as root but there is no postgres user");
		return false;
	}
	service_uid = pw->pw_uid;
	service_gid = pw->pw_gid;
	snprintf(service_user, sizeof(service_user), "%s", pw->pw_name);
	drop_privileges = true;
	return true;
}

static bool give_to_service_user(const char *path)
{
	if (!drop_privileges)
		return true;
	if (lchown(path, service_uid, service_gid) < 0) {
		harness_error("chown %s to %s: %s", path, service_user, strerror(errno));
		return false;
	}
	return true;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void) sb;
	(void) ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		harness_error("remove %s: %s", path, strerror(errno));
	return 0;
}

/* A test binary killed with SIGKILL (or by a sanitizer before our death
 * callback existed) leaves its run directory behind; its children died
 * with it (PDEATHSIG).  Remove the directories whose owner is gone.  Kept
 * directories (PGHERD_TEST_KEEP=1) have no owner file and stay. */
static void sweep_stale_run_dirs(void)
{
	glob_t found;

	if (glob("/tmp/pgherd-test-*/.owner", GLOB_NOSORT, NULL, &found) != 0)
		return;
	for (size_t i = 0; i < found.gl_pathc; i++) {
		char dir[HARNESS_PATH_MAX];
		FILE *f = fopen(found.gl_pathv[i], "re");
		long pid = 0;
		bool stale;

		if (f == NULL)
			continue;
		stale = fscanf(f, "%ld", &pid) == 1 && pid > 0 &&
			kill((pid_t) pid, 0) < 0 && errno == ESRCH;
		fclose(f);
		if (!stale || !format(dir, sizeof(dir), "%s", found.gl_pathv[i]))
			continue;
		*strrchr(dir, '/') = '\0';
		printf("harness: removing %s left by pid %ld\n", dir, pid);
		nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	globfree(&found);
}

static bool write_owner_file(void)
{
	char pid[32];
	int fd;
	bool ok;

	if (!format(owner_file, sizeof(owner_file), "%s/.owner", run_dir))
		return false;
	snprintf(pid, sizeof(pid), "%ld\n", (long) getpid());
	fd = open(owner_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		harness_error("open %s: %s", owner_file, strerror(errno));
		return false;
	}
	ok = write(fd, pid, strlen(pid)) == (ssize_t) strlen(pid);
	if (!ok)
		harness_error("write %s: %s", owner_file, strerror(errno));
	close(fd);
	return ok;
}

bool harness_setup(void)
{
	const char *keep = getenv("PGHERD_TEST_KEEP");

	if (ready)
		return true;
	if (!find_service_user())
		return false;
	sweep_stale_run_dirs();
	keep_run_dir = keep != NULL && strcmp(keep, "1") == 0;
	snprintf(run_dir, sizeof(run_dir), "/tmp/pgherd-test-XXXXXX");
	if (mkdtemp(run_dir) == NULL) {
		harness_error("mkdtemp %s: %s", run_dir, strerror(errno));
		return false;
	}
	/* mkdtemp makes it 0700: the service user and readers of logs need
	 * to get in. */
	if (chmod(run_dir, 0755) < 0) {
		harness_error("chmod %s: %s", run_dir, strerror(errno));
		rmdir(run_dir);
		return false;
	}
	if (!give_to_service_user(run_dir) || !write_owner_file()) {
		unlink(owner_file);
		rmdir(run_dir);
		return false;
	}
	owner_pid = getpid();
	nprocs = 0;
	proc_seq = 0;
	nports = 0;
	test_proc_mark = 0;
	test_client_mark = 0;
	ready = true;
	if (!install_handlers()) {
		harness_teardown();
		return false;
	}
	return true;
}

void harness_teardown(void)
{
	if (!ready)
		return;
	zk_client_close_since(0);
	stop_procs_since(0);
	if (keep_run_dir) {
		unlink(owner_file);
		printf("harness: run directory kept: %s\n", run_dir);
	} else if (nftw(run_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
		harness_error("remove %s: %s", run_dir, strerror(errno));
	for (size_t i = 0; i < nowned; i++)
		free(owned[i]);
	free(owned);
	owned = NULL;
	nowned = 0;
	ready = false;
	restore_handlers();
}

int harness_group_setup(void **state)
{
	(void) state;
	return harness_setup() ? 0 : -1;
}

int harness_group_teardown(void **state)
{
	(void) state;
	harness_teardown();
	return 0;
}

int harness_test_setup(void **state)
{
	(void) state;
	if (!harness_setup())
		return -1;
	test_proc_mark = proc_seq;
	test_client_mark = zk_client_mark();
	return 0;
}

int harness_test_teardown(void **state)
{
	(void) state;
	zk_client_close_since(test_client_mark);
	if (ready)
		stop_procs_since(test_proc_mark);
	return 0;
}

const char *harness_run_dir(void)
{
	return ready ? run_dir : NULL;
}

uid_t harness_service_uid(void)
{
	return service_uid;
}

gid_t harness_service_gid(void)
{
	return service_gid;
}

const char *harness_service_user(void)
{
	return service_user;
}

const char *harness_path(const char *relpath)
{
	if (!ready) {
		harness_error("harness_path(%s) before harness_setup()", relpath);
		return NULL;
	}
	return own_printf("%s/%s", run_dir, relpath);
}

/* mkdir -p of an absolute path; what it creates goes to the service user. */
static bool make_dirs(const char *path)
{
	char buf[HARNESS_PATH_MAX];
	size_t len;

	if (!format(buf, sizeof(buf), "%s", path))
		return false;
	len = strlen(buf);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) == 0) {
			if (!give_to_service_user(buf))
				return false;
		} else if (errno != EEXIST) {
			harness_error("mkdir %s: %s", buf, strerror(errno));
			return false;
		}
		if (i < len)
			buf[i] = '/';
	}
	return true;
}

const char *harness_mkdir(const char *relpath)
{
	const char *path = harness_path(relpath);

	if (path == NULL || !make_dirs(path))
		return NULL;
	return path;
}

static bool write_all(int fd, const char *data, size_t len, const char *path)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			harness_error("write %s: %s", path, strerror(errno));
			return false;
		}
		data += n;
		len -= (size_t) n;
	}
	return true;
}

static bool parent_dirs(const char *path)
{
	char dir[HARNESS_PATH_MAX];
	char *slash;

	if (!format(dir, sizeof(dir), "%s", path))
		return false;
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return true;
	*slash = '\0';
	if (strcmp(dir, run_dir) == 0)
		return true;
	return make_dirs(dir);
}

static bool write_file_mode(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd;
	bool ok;

	if (!parent_dirs(path))
		return false;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		harness_error("open %s: %s", path, strerror(errno));
		return false;
	}
	ok = write_all(fd, data, len, path);
	if (ok && fchmod(fd, mode) < 0) {
		harness_error("chmod %s: %s", path, strerror(errno));
		ok = false;
	}
	if (close(fd) < 0 && ok) {
		harness_error("close %s: %s", path, strerror(errno));
		ok = false;
	}
	return ok && give_to_service_user(path);
}

const char *harness_write_file(const char *relpath, const char *content)
{
	const char *path = harness_path(relpath);

	if (path == NULL || !write_file_mode(path, content, strlen(content), 0644))
		return NULL;
	return path;
}

static char *read_whole_file(const char *path, size_t *len_out)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL;
	size_t len = 0;
	size_t cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t n;

		if (len + 65536 + 1 > cap) {
			char *grown = realloc(buf, cap + 65536 + 1);

			if (grown == NULL) {
				harness_error("out of memory reading %s", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
			cap += 65536 + 1;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		harness_error("read %s: %s", path, strerror(errno));
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	*len_out = len;
	return buf;
}

const char *harness_install_binary(const char *path)
{
	char name[HARNESS_PATH_MAX];
	const char *dest;
	char *data;
	size_t len = 0;
	bool ok;

	if (!format(name, sizeof(name), "%s", path))
		return NULL;
	dest = own_printf("%s/bin/%s", run_dir, basename(name));
	if (dest == NULL)
		return NULL;
	data = read_whole_file(path, &len);
	if (data == NULL) {
		harness_error("cannot read binary %s: %s", path, strerror(errno));
		return NULL;
	}
	ok = write_file_mode(dest, data, len, 0755);
	free(data);
	return ok ? dest : NULL;
}

/* --- Spawning ------------------------------------------------------------- */

struct spawn_failure {
	int step;			/* index into spawn_steps */
	int err;
};

static const char *const spawn_steps[] = {
	"setgroups", "setgid", "setuid", "prctl(PDEATHSIG)", "open /dev/null",
	"dup2", "chdir", "exec",
};

static void child_fail(int errfd, int step)
{
	struct spawn_failure f = { step, errno };
	ssize_t r = write(errfd, &f, sizeof(f));

	(void) r;
	_exit(127);
}

/* In the child, between fork and exec.  Order matters: PDEATHSIG is
 * cleared by a credential change, so it is set after setuid. */
static void child_exec(char *const argv[], char *const envp[], int logfd, int errfd,
		       bool as_service_user, pid_t parent)
{
	sigset_t none;
	int devnull;

	setpgid(0, 0);
	if (as_service_user && drop_privileges) {
		if (setgroups(1, &service_gid) < 0)
			child_fail(errfd, 0);
		if (setgid(service_gid) < 0)
			child_fail(errfd, 1);
		if (setuid(service_uid) < 0)
			child_fail(errfd, 2);
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(errfd, 3);
	/* The parent died before prctl: nobody will clean us up. */
	if (getppid() != parent)
		_exit(127);
	/* Our fatal-signal handlers are reset by exec; the mask is not. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0)
		child_fail(errfd, 4);
	if (dup2(devnull, STDIN_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0 ||
	    dup2(logfd, STDERR_FILENO) < 0)
		child_fail(errfd, 5);
	if (chdir(run_dir) < 0)
		child_fail(errfd, 6);
	/* Descriptors the test holds without CLOEXEC (ZooKeeper client
	 * sockets, say) must not live on in the child: a closed client would
	 * stay connected as far as the server can tell. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (strchr(argv[0], '/') != NULL)
		execve(argv[0], argv, envp != NULL ? envp : environ);
	else
		execvpe(argv[0], argv, envp != NULL ? envp : environ);
	child_fail(errfd, 7);
}

static int open_log(const char *log_path, bool as_service_user)
{
	int fd;

	if (!parent_dirs(log_path))
		return -1;
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		harness_error("open log %s: %s", log_path, strerror(errno));
		return -1;
	}
	if (as_service_user && drop_privileges && fchown(fd, service_uid, service_gid) < 0) {
		harness_error("chown %s: %s", log_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

pid_t harness_spawn(const char *name, char *const argv[], char *const envp[],
		    const char *log_path, bool as_service_user)
{
	struct spawn_failure failure;
	struct proc *p;
	int errpipe[2];
	int logfd;
	pid_t parent = getpid();
	pid_t pid;
	ssize_t n;

	if (!ready) {
		harness_error("spawn %s before harness_setup()", name);
		return -1;
	}
	logfd = open_log(log_path, as_service_user);
	if (logfd < 0)
		return -1;
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		harness_error("pipe: %s", strerror(errno));
		close(logfd);
		return -1;
	}
	fflush(NULL);			/* no buffered output duplicated in the child */
	pid = fork();
	if (pid < 0) {
		harness_error("fork %s: %s", name, strerror(errno));
		close(logfd);
		close(errpipe[0]);
		close(errpipe[1]);
		return -1;
	}
	if (pid == 0)
		child_exec(argv, envp, logfd, errpipe[1], as_service_user, parent);
	/* Both sides set the group, so it exists whichever runs first. */
	setpgid(pid, pid);
	close(logfd);
	close(errpipe[1]);
	p = proc_add(pid, name);
	do {
		n = read(errpipe[0], &failure, sizeof(failure));
	} while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t) sizeof(failure)) {
		harness_error("start %s (%s): %s: %s", name, argv[0],
			      spawn_steps[failure.step], strerror(failure.err));
		if (p != NULL)
			proc_reap(p, true);
		else
			waitpid(pid, NULL, 0);
		return -1;
	}
	if (p == NULL) {
		harness_error("more than %d processes: cannot track %s", MAX_PROCS, name);
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

bool harness_run(const char *name, char *const argv[], char *const envp[],
		 const char *log_path, bool as_service_user, int timeout_ms,
		 int *status_out)
{
	pid_t pid = harness_spawn(name, argv, envp, log_path, as_service_user);
	struct proc *p;

	if (status_out != NULL)
		*status_out = -1;
	if (pid < 0)
		return false;
	p = proc_find(pid);
	if (!proc_wait(p, timeout_ms)) {
		harness_error("%s did not finish in %d ms: stopping it (log %s)", name,
			      timeout_ms, log_path);
		/* Its stop signal first, so that a script's cleanup runs (the
		 * demo stops the PostgreSQL servers its agents started, which
		 * live in sessions of their own); then SIGKILL. */
		kill(p->pid, p->stop_signal);
		if (!proc_wait(p, 15000))
			proc_kill_now(p);
		harness_log_print_tail(log_path, 20);
		return false;
	}
	if (status_out != NULL)
		*status_out = p->status;
	if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
		if (WIFEXITED(p->status))
			harness_error("%s exited with status %d (log %s)", name,
				      WEXITSTATUS(p->status), log_path);
		else
			harness_error("%s died of signal %d (log %s)", name,
				      WTERMSIG(p->status), log_path);
		harness_log_print_tail(log_path, 20);
		return false;
	}
	return true;
}

static struct proc *own_running(pid_t pid, const char *what)
{
	struct proc *p = proc_find(pid);

	if (p == NULL) {
		harness_error("%s: pid %d is not a harness process", what, (int) pid);
		return NULL;
	}
	return p;
}

void harness_set_stop_signal(pid_t pid, int sig)
{
	struct proc *p = own_running(pid, "set_stop_signal");

	if (p != NULL)
		p->stop_signal = sig;
}

bool harness_signal(pid_t pid, int sig)
{
	struct proc *p = own_running(pid, "signal");

	if (p == NULL)
		return false;
	if (proc_reap(p, false)) {
		harness_error("signal %d to %s (pid %d): it has exited", sig, p->name, (int) pid);
		return false;
	}
	if (kill(pid, sig) < 0) {
		harness_error("kill(%d, %d): %s", (int) pid, sig, strerror(errno));
		return false;
	}
	return true;
}

/* State letter from /proc/<pid>/stat ("pid (comm) S ..."), 0 if gone. */
static char proc_state(pid_t pid)
{
	char path[64];
	char buf[512];
	FILE *f;
	size_t n;
	char *paren;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* comm may contain spaces and parentheses: the last ')' ends it. */
	paren = strrchr(buf, ')');
	if (paren == NULL || paren[1] != ' ')
		return 0;
	return paren[2];
}

bool harness_freeze(pid_t pid)
{
	int64_t deadline = harness_now_ms() + 5000;

	if (!harness_signal(pid, SIGSTOP))
		return false;
	while (proc_state(pid) != 'T') {
		if (harness_now_ms() >= deadline) {
			harness_error("pid %d not stopped 5 s after SIGSTOP (state %c)",
				      (int) pid, proc_state(pid));
			return false;
		}
		harness_sleep_ms(1);
	}
	return true;
}

bool harness_resume(pid_t pid)
{
	return harness_signal(pid, SIGCONT);
}

int harness_stop(pid_t pid, int timeout_ms)
{
	struct proc *p = own_running(pid, "stop");

	if (p == NULL)
		return -1;
	if (!proc_reap(p, false)) {
		kill(pid, p->stop_signal);
		kill(pid, SIGCONT);	/* a frozen process must run to exit */
		if (!proc_wait(p, timeout_ms)) {
			harness_error("%s (pid %d) still running %d ms after signal %d: killing it",
				      p->name, (int) pid, timeout_ms, p->stop_signal);
			proc_kill_now(p);
		}
	}
	return p->status;
}

int harness_kill(pid_t pid)
{
	struct proc *p = own_running(pid, "kill");

	if (p == NULL)
		return -1;
	proc_kill_now(p);
	return p->status;
}

bool harness_is_running(pid_t pid)
{
	struct proc *p = proc_find(pid);

	return p != NULL && !proc_reap(p, false);
}

bool harness_process_gone(pid_t pid)
{
	char state;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	/* A zombie whose parent has not reaped it yet is gone for us. */
	state = proc_state(pid);
	return state == 0 || state == 'Z' || state == 'X';
}

/* --- Ports ------------------------------------------------------------------ */

static bool port_handed_out(int port)
{
	for (size_t i = 0; i < nports; i++)
		if (ports[i] == port)
			return true;
	return false;
}

/* The low end of the kernel's ephemeral range (outgoing connections take
 * their local ports from it). */
static int ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int low = 32768, high = 60999;

	if (f) {
		if (fscanf(f, "%d %d", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	return low;
}

/*
 * A port below the ephemeral range that nothing is bound to.  Not one the
 * kernel hands out (bind to port 0 does): a client connection elsewhere on
 * the machine can take an ephemeral port as its local port at any moment
 * and hold it, and the server we start on it then cannot bind ("Address
 * already in use").
 */
int harness_free_port(void)
{
	static unsigned seed;
	int low = ephemeral_low();

	if (low <= 11000)
		low = 32768;	/* an unusual range: stay below the usual one */
	if (seed == 0)
		seed = (unsigned) getpid() ^ (unsigned) time(NULL);
	for (int attempt = 0; attempt < 1000; attempt++) {
		struct sockaddr_in addr;
		int port = 10000 + (int) (rand_r(&seed) % (unsigned) (low - 10000));
		int fd;

		if (port_handed_out(port))
			continue;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			harness_error("socket: %s", strerror(errno));
			return 0;
		}
		memset(&addr, 0, sizeof(addr));
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addr.sin_port = htons((uint16_t) port);
		if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		if (nports < MAX_PORTS)
			ports[nports++] = port;
		return port;
	}
	harness_error("no free port below %d after 1000 attempts", low);
	return 0;
}

/* --- ZooKeeper --------------------------------------------------------------- */

bool harness_zk_4lw(int port, const char *cmd, char *out, size_t outlen, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	struct sockaddr_in addr;
	struct pollfd pfd;
	size_t len = 0;
	int fd;
	bool ok = false;

	if (outlen == 0)
		return false;
	out[0] = '\0';
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t) port);
	if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 && errno != EINPROGRESS)
		goto done;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1 || (pfd.revents & (POLLERR | POLLHUP)))
		goto done;
	/* MSG_NOSIGNAL: a server dying under us must not SIGPIPE the test. */
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t) strlen(cmd))
		goto done;
	/* The server answers and closes: read to EOF. */
	for (;;) {
		int64_t left = deadline - harness_now_ms();
		ssize_t n;

		if (left <= 0)
			goto done;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int) left) != 1)
			goto done;
		n = read(fd, out + len, outlen - 1 - len);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			goto done;
		if (n == 0 || len + (size_t) n >= outlen - 1) {
			len += (size_t) n;
			break;
		}
		len += (size_t) n;
	}
	ok = true;
done:
	out[len] = '\0';
	close(fd);
	return ok;
}

static bool zk_write_config(struct harness_zk *zk, int i)
{
	struct harness_zk_server *s = &zk->server[i];
	char buf[2048];
	char myid[16];
	size_t used;
	const char *data_dir;
	const char *myid_path;

	data_dir = own_printf("%s/data", s->dir);
	if (data_dir == NULL || !make_dirs(data_dir))
		return false;
	snprintf(myid, sizeof(myid), "%d\n", i + 1);
	myid_path = own_printf("%s/myid", data_dir);
	if (myid_path == NULL || !write_file_mode(myid_path, myid, strlen(myid), 0644))
		return false;
	/* tickTime 100 ms keeps elections and session expiry fast; the
	 * server enforces sessions of at least 2 ticks anyway. */
	if (!format(buf, sizeof(buf),
		    "tickTime=100\n"
		    "minSessionTimeout=200\n"
		    "maxSessionTimeout=60000\n"
		    "initLimit=20\n"
		    "syncLimit=10\n"
		    "dataDir=%s\n"
		    "clientPort=%d\n"
		    "clientPortAddress=127.0.0.1\n"
		    "admin.enableServer=false\n"
		    "4lw.commands.whitelist=*\n"
		    "forceSync=no\n",
		    data_dir, s->client_port))
		return false;
	used = strlen(buf);
	for (int j = 0; zk->count > 1 && j < zk->count; j++) {
		if (!format(buf + used, sizeof(buf) - used, "server.%d=127.0.0.1:%d:%d\n",
			    j + 1, zk->server[j].quorum_port, zk->server[j].election_port))
			return false;
		used += strlen(buf + used);
	}
	return write_file_mode(s->config_path, buf, used, 0644);
}

static bool zk_launch(struct harness_zk *zk, int i)
{
	struct harness_zk_server *s = &zk->server[i];
	const char *java = getenv("PGHERD_JAVA");
	char tmpdir[HARNESS_PATH_MAX + 32];
	char name[32];
	pid_t pid;

	if (!format(tmpdir, sizeof(tmpdir), "-Djava.io.tmpdir=%s", s->dir))
		return false;
	snprintf(name, sizeof(name), "zookeeper-%d", i + 1);
	{
		/* SerialGC and C1-only: three JVMs start faster on 2 cores.
		 * No perf data files in /tmp.  A 1 s election connect timeout
		 * (default 5 s) so a frozen peer does not stall elections. */
		char *const argv[] = {
			(char *) (java != NULL ? java : "java"),
			(char *) "-Xms32m", (char *) "-Xmx128m",
			(char *) "-XX:+UseSerialGC", (char *) "-XX:TieredStopAtLevel=1",
			(char *) "-XX:-UsePerfData", tmpdir,
			(char *) "-Dzookeeper.cnxTimeout=1000",
			(char *) "-cp",
			(char *) "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
			(char *) "org.apache.zookeeper.server.quorum.QuorumPeerMain",
			s->config_path, NULL,
		};

		pid = harness_spawn(name, argv, NULL, s->log_path, true);
	}
	if (pid < 0)
		return false;
	s->pid = pid;
	s->frozen = false;
	return true;
}

static bool zk_answers_ruok(const struct harness_zk_server *s)
{
	char answer[16];

	return harness_zk_4lw(s->client_port, "ruok", answer, sizeof(answer), 500) &&
	       strcmp(answer, "imok") == 0;
}

bool harness_zk_mode(const struct harness_zk *zk, int i, char *out, size_t outlen)
{
	char answer[2048];
	const char *mode;
	size_t n;

	if (outlen > 0)
		out[0] = '\0';
	if (i < 0 || i >= zk->count || zk->server[i].pid <= 0 || zk->server[i].frozen)
		return false;
	if (!harness_zk_4lw(zk->server[i].client_port, "srvr", answer, sizeof(answer), 500))
		return false;
	mode = strstr(answer, "Mode: ");
	if (mode == NULL)
		return false;		/* "not currently serving requests" */
	mode += strlen("Mode: ");
	n = strcspn(mode, "\r\n");
	if (outlen > 0)
		snprintf(out, outlen, "%.*s", (int) n, mode);
	return true;
}

int harness_zk_leader_index(const struct harness_zk *zk)
{
	char mode[32];

	for (int i = 0; i < zk->count; i++)
		if (harness_zk_mode(zk, i, mode, sizeof(mode)) && strcmp(mode, "leader") == 0)
			return i;
	return -1;
}

/* Every running, unfrozen server serves; an ensemble has one leader. */
static bool zk_quorum_ok(const struct harness_zk *zk)
{
	int leaders = 0;
	int serving = 0;

	for (int i = 0; i < zk->count; i++) {
		const struct harness_zk_server *s = &zk->server[i];
		char mode[32];

		if (s->pid <= 0 || s->frozen)
			continue;
		if (!zk_answers_ruok(s) || !harness_zk_mode(zk, i, mode, sizeof(mode)))
			return false;
		if (strcmp(mode, "leader") == 0)
			leaders++;
		else if (strcmp(mode, "follower") != 0 && strcmp(mode, "standalone") != 0)
			return false;
		serving++;
	}
	return serving > 0 && (zk->count == 1 || leaders == 1);
}

/* A dead server will never answer: fail now, with its log. */
static bool zk_all_alive(struct harness_zk *zk)
{
	for (int i = 0; i < zk->count; i++) {
		struct harness_zk_server *s = &zk->server[i];

		if (s->pid > 0 && !harness_is_running(s->pid)) {
			harness_error("zookeeper %d (pid %d) exited; log %s", i + 1,
				      (int) s->pid, s->log_path);
			harness_log_print_tail(s->log_path, 30);
			s->pid = 0;
			return false;
		}
	}
	return true;
}

bool harness_zk_wait_quorum(struct harness_zk *zk, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (!zk_quorum_ok(zk)) {
		if (!zk_all_alive(zk))
			return false;
		if (harness_now_ms() >= deadline) {
			harness_error("zookeeper (%s): no quorum after %d ms", zk->connect_string,
				      timeout_ms);
			for (int i = 0; i < zk->count; i++)
				if (zk->server[i].pid > 0)
					harness_log_print_tail(zk->server[i].log_path, 10);
			return false;
		}
		harness_sleep_ms(20);
	}
	return true;
}

bool harness_zk_start(int servers, struct harness_zk *out)
{
	int64_t started;
	size_t used = 0;
	int cluster;

	memset(out, 0, sizeof(*out));
	if (!ready) {
		harness_error("harness_zk_start before harness_setup()");
		return false;
	}
	if (servers != 1 && (servers < 3 || servers > HARNESS_ZK_MAX_SERVERS)) {
		harness_error("harness_zk_start: %d servers (1 or 3..%d)", servers,
			      HARNESS_ZK_MAX_SERVERS);
		return false;
	}
	cluster = ++zk_cluster_seq;
	out->count = servers;
	for (int i = 0; i < servers; i++) {
		struct harness_zk_server *s = &out->server[i];

		s->client_port = harness_free_port();
		s->quorum_port = harness_free_port();
		s->election_port = harness_free_port();
		if (s->client_port == 0 || s->quorum_port == 0 || s->election_port == 0)
			return false;
		if (!format(s->dir, sizeof(s->dir), "%s/zk%d-%d", run_dir, cluster, i + 1) ||
		    !format(s->config_path, sizeof(s->config_path), "%s/zoo.cfg", s->dir) ||
		    !format(s->log_path, sizeof(s->log_path), "%s/zookeeper.log", s->dir) ||
		    !format(out->connect_string + used, sizeof(out->connect_string) - used,
			    "%s127.0.0.1:%d", i > 0 ? "," : "", s->client_port))
			return false;
		used += strlen(out->connect_string + used);
	}
	for (int i = 0; i < servers; i++)
		if (!zk_write_config(out, i))
			return false;
	started = harness_now_ms();
	for (int i = 0; i < servers; i++)
		if (!zk_launch(out, i))
			goto fail;
	if (!harness_zk_wait_quorum(out, 30000))
		goto fail;
	out->startup_ms = harness_now_ms() - started;
	return true;
fail:
	harness_zk_stop(out);
	return false;
}

void harness_zk_stop(struct harness_zk *zk)
{
	/* Signal all first so they shut down in parallel. */
	for (int i = 0; i < zk->count; i++)
		if (zk->server[i].pid > 0 && harness_is_running(zk->server[i].pid)) {
			kill(zk->server[i].pid, SIGTERM);
			kill(zk->server[i].pid, SIGCONT);
		}
	for (int i = 0; i < zk->count; i++)
		harness_zk_stop_server(zk, i);
}

static bool zk_check_index(const struct harness_zk *zk, int i, const char *what)
{
	if (i < 0 || i >= zk->count) {
		harness_error("%s: no zookeeper server %d (have %d)", what, i, zk->count);
		return false;
	}
	return true;
}

bool harness_zk_stop_server(struct harness_zk *zk, int i)
{
	if (!zk_check_index(zk, i, "zk_stop_server"))
		return false;
	if (zk->server[i].pid > 0)
		harness_stop(zk->server[i].pid, 10000);
	zk->server[i].pid = 0;
	zk->server[i].frozen = false;
	return true;
}

bool harness_zk_kill_server(struct harness_zk *zk, int i)
{
	if (!zk_check_index(zk, i, "zk_kill_server"))
		return false;
	if (zk->server[i].pid > 0)
		harness_kill(zk->server[i].pid);
	zk->server[i].pid = 0;
	zk->server[i].frozen = false;
	return true;
}

bool harness_zk_start_server(struct harness_zk *zk, int i)
{
	struct harness_zk_server *s;
	int64_t deadline = harness_now_ms() + 30000;

	if (!zk_check_index(zk, i, "zk_start_server"))
		return false;
	s = &zk->server[i];
	if (s->pid > 0) {
		harness_error("zookeeper %d is already running (pid %d)", i + 1, (int) s->pid);
		return false;
	}
	if (!zk_launch(zk, i))
		return false;
	while (!zk_answers_ruok(s)) {
		if (!zk_all_alive(zk))
			return false;
		if (harness_now_ms() >= deadline) {
			harness_error("zookeeper %d: no imok 30 s after restart", i + 1);
			harness_log_print_tail(s->log_path, 20);
			return false;
		}
		harness_sleep_ms(20);
	}
	return true;
}

bool harness_zk_freeze_server(struct harness_zk *zk, int i)
{
	if (!zk_check_index(zk, i, "zk_freeze_server") || !harness_freeze(zk->server[i].pid))
		return false;
	zk->server[i].frozen = true;
	return true;
}

bool harness_zk_resume_server(struct harness_zk *zk, int i)
{
	if (!zk_check_index(zk, i, "zk_resume_server") || !harness_resume(zk->server[i].pid))
		return false;
	zk->server[i].frozen = false;
	return true;
}

/* --- PostgreSQL ------------------------------------------------------------- */

const char *harness_pg_bindir(void)
{
	const char *dir = getenv("PGHERD_PG_BINDIR");

	return dir != NULL && dir[0] != '\0' ? dir : "/usr/lib/postgresql/15/bin";
}

bool harness_pg_init(struct harness_pg *out)
{
	char initdb[HARNESS_PATH_MAX];
	char initdb_log[HARNESS_PATH_MAX];
	int64_t started;

	memset(out, 0, sizeof(*out));
	if (!ready) {
		harness_error("harness_pg_init before harness_setup()");
		return false;
	}
	out->port = harness_free_port();
	if (out->port == 0)
		return false;
	if (!format(out->dir, sizeof(out->dir), "%s/pg%d", run_dir, ++pg_seq) ||
	    !format(out->data_dir, sizeof(out->data_dir), "%s/data", out->dir) ||
	    !format(out->socket_dir, sizeof(out->socket_dir), "%s/sock", out->dir) ||
	    !format(out->log_path, sizeof(out->log_path), "%s/postgres.log", out->dir) ||
	    !format(initdb_log, sizeof(initdb_log), "%s/initdb.log", out->dir) ||
	    !format(initdb, sizeof(initdb), "%s/initdb", harness_pg_bindir()) ||
	    !format(out->conninfo, sizeof(out->conninfo),
		    "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=5",
		    out->port))
		return false;
	if (!make_dirs(out->socket_dir))
		return false;
	started = harness_now_ms();
	{
		/* C locale: the same cluster whatever the caller's LANG. */
		char *const argv[] = {
			initdb, (char *) "-D", out->data_dir, (char *) "-U", (char *) "postgres",
			(char *) "--auth=trust", (char *) "--data-checksums", (char *) "-N",
			(char *) "--locale=C", (char *) "--encoding=UTF8", NULL,
		};

		if (!harness_run("initdb", argv, NULL, initdb_log, true, 60000, NULL))
			return false;
	}
	out->initdb_ms = harness_now_ms() - started;
	return true;
}

bool harness_pg_wait_ready(const struct harness_pg *pg, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	for (;;) {
		PGPing ping = PQping(pg->conninfo);

		if (ping == PQPING_OK)
			return true;
		if (pg->pid <= 0 || !harness_is_running(pg->pid)) {
			harness_error("postgres (port %d) exited while starting; log %s",
				      pg->port, pg->log_path);
			harness_log_print_tail(pg->log_path, 20);
			return false;
		}
		if (harness_now_ms() >= deadline) {
			harness_error("postgres (port %d) not accepting connections after %d ms (ping %d)",
				      pg->port, timeout_ms, (int) ping);
			harness_log_print_tail(pg->log_path, 20);
			return false;
		}
		harness_sleep_ms(10);
	}
}

bool harness_pg_launch(struct harness_pg *pg)
{
	char postgres[HARNESS_PATH_MAX];
	char port[16];
	int64_t started;
	pid_t pid;

	if (!format(postgres, sizeof(postgres), "%s/postgres", harness_pg_bindir()))
		return false;
	snprintf(port, sizeof(port), "%d", pg->port);
	started = harness_now_ms();
	{
		char *const argv[] = {
			postgres, (char *) "-D", pg->data_dir, (char *) "-p", port,
			(char *) "-k", pg->socket_dir,
			(char *) "-c", (char *) "listen_addresses=127.0.0.1",
			(char *) "-c", (char *) "fsync=off", NULL,
		};

		pid = harness_spawn("postgres", argv, NULL, pg->log_path, true);
	}
	if (pid < 0)
		return false;
	/* SIGTERM is the smart shutdown, which waits for clients. */
	harness_set_stop_signal(pid, SIGINT);
	pg->pid = pid;
	if (!harness_pg_wait_ready(pg, 30000)) {
		harness_pg_stop(pg, 5000);
		return false;
	}
	pg->startup_ms = harness_now_ms() - started;
	return true;
}

bool harness_pg_start(struct harness_pg *out)
{
	return harness_pg_init(out) && harness_pg_launch(out);
}

bool harness_pg_append_conf(const struct harness_pg *pg, const char *lines)
{
	char path[HARNESS_PATH_MAX];
	int fd;
	bool ok;

	if (!format(path, sizeof(path), "%s/postgresql.conf", pg->data_dir))
		return false;
	/* Appending keeps the file's owner: the service user. */
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		harness_error("open %s: %s", path, strerror(errno));
		return false;
	}
	ok = write_all(fd, "\n", 1, path) && write_all(fd, lines, strlen(lines), path) &&
	     (lines[0] == '\0' || lines[strlen(lines) - 1] == '\n' || write_all(fd, "\n", 1, path));
	if (close(fd) < 0 && ok) {
		harness_error("close %s: %s", path, strerror(errno));
		ok = false;
	}
	return ok;
}

bool harness_pg_query(const struct harness_pg *pg, const char *sql, char *out, size_t outlen)
{
	PGconn *conn = PQconnectdb(pg->conninfo);
	PGresult *res;
	ExecStatusType status;
	bool ok = false;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		const char *msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";

		harness_error("connect to postgres port %d: %.*s", pg->port,
			      (int) strcspn(msg, "\n"), msg);
		PQfinish(conn);
		return false;
	}
	res = PQexec(conn, sql);
	status = PQresultStatus(res);
	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
		ok = true;
		if (out != NULL && outlen > 0 && status == PGRES_TUPLES_OK &&
		    PQntuples(res) > 0 && PQnfields(res) > 0)
			snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	} else {
		const char *msg = PQerrorMessage(conn);

		harness_error("postgres port %d: %s: %.*s", pg->port, sql,
			      (int) strcspn(msg, "\n"), msg);
	}
	PQclear(res);
	PQfinish(conn);
	return ok;
}

int harness_pg_stop(struct harness_pg *pg, int timeout_ms)
{
	int status;

	if (pg->pid <= 0)
		return -1;
	status = harness_stop(pg->pid, timeout_ms);
	pg->pid = 0;
	return status;
}

/* --- Logs ------------------------------------------------------------------- */

/* Reads a growing log line by line; a last line without its newline is
 * being written and is left for the next poll. */
struct log_reader {
	const char *path;
	FILE *f;
	off_t pos;
	size_t line;			/* index of the next line */
	char *buf;
	size_t cap;
};

static bool log_next(struct log_reader *r)
{
	ssize_t n;

	if (r->f == NULL) {
		r->f = fopen(r->path, "re");
		if (r->f == NULL)
			return false;
	}
	clearerr(r->f);
	if (fseeko(r->f, r->pos, SEEK_SET) < 0)
		return false;
	n = getline(&r->buf, &r->cap, r->f);
	if (n <= 0 || r->buf[n - 1] != '\n')
		return false;
	r->buf[n - 1] = '\0';
	r->pos += n;
	r->line++;
	return true;
}

static void log_reader_close(struct log_reader *r)
{
	if (r->f != NULL)
		fclose(r->f);
	free(r->buf);
	r->f = NULL;
	r->buf = NULL;
}

/* Value as text: strings as they are, anything else as JSON. */
static bool json_text_equals(json_t *v, const char *text)
{
	char *dumped;
	bool equal;

	if (v == NULL)
		return false;
	if (json_is_string(v))
		return strcmp(json_string_value(v), text) == 0;
	dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (dumped == NULL)
		return false;
	equal = strcmp(dumped, text) == 0;
	free(dumped);
	return equal;
}

/* The record if the line is a JSON object with this event (any event if
 * NULL) and field, else NULL. */
static json_t *log_match(const char *line, const char *event, const char *field,
			 const char *value)
{
	json_t *record;
	json_t *ev;

	if (line[0] != '{')
		return NULL;		/* sanitizer reports, JVM noise... */
	record = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
	if (record == NULL)
		return NULL;
	if (!json_is_object(record))
		goto no;
	ev = json_object_get(record, "event");
	if (event != NULL && (!json_is_string(ev) || strcmp(json_string_value(ev), event) != 0))
		goto no;
	if (field != NULL && !json_text_equals(json_object_get(record, field),
					       value != NULL ? value : ""))
		goto no;
	return record;
no:
	json_decref(record);
	return NULL;
}

bool harness_log_wait(const char *log_path, const char *event, const char *field,
		      const char *value, size_t from_line, int timeout_ms,
		      json_t **record_out, size_t *line_out)
{
	struct log_reader r = { .path = log_path };
	int64_t deadline = harness_now_ms() + timeout_ms;

	if (record_out != NULL)
		*record_out = NULL;
	for (;;) {
		while (log_next(&r)) {
			json_t *record;

			if (r.line - 1 < from_line)
				continue;
			record = log_match(r.buf, event, field, value);
			if (record == NULL)
				continue;
			if (line_out != NULL)
				*line_out = r.line - 1;
			if (record_out != NULL)
				*record_out = record;
			else
				json_decref(record);
			log_reader_close(&r);
			return true;
		}
		if (harness_now_ms() >= deadline)
			break;
		harness_sleep_ms(10);
	}
	log_reader_close(&r);
	harness_error("no event %s%s%s%s%s in %s from line %zu after %d ms",
		      event != NULL ? event : "(any)",
		      field != NULL ? " with " : "", field != NULL ? field : "",
		      field != NULL ? "=" : "", field != NULL ? (value != NULL ? value : "") : "",
		      log_path, from_line, timeout_ms);
	harness_log_print_tail(log_path, 20);
	return false;
}

size_t harness_log_count(const char *log_path, const char *event)
{
	struct log_reader r = { .path = log_path };
	size_t count = 0;

	while (log_next(&r)) {
		json_t *record = log_match(r.buf, event, NULL, NULL);

		if (record != NULL) {
			count++;
			json_decref(record);
		}
	}
	log_reader_close(&r);
	return count;
}

size_t harness_log_line_count(const char *log_path)
{
	struct log_reader r = { .path = log_path };
	size_t lines;

	while (log_next(&r))
		;
	lines = r.line;
	log_reader_close(&r);
	return lines;
}

void harness_log_print_tail(const char *log_path, size_t lines)
{
	size_t total = harness_log_line_count(log_path);
	struct log_reader r = { .path = log_path };
	size_t first = total > lines ? total - lines : 0;

	fprintf(stderr, "harness: --- last %zu of %zu lines of %s ---\n",
		total - first, total, log_path);
	while (log_next(&r))
		if (r.line - 1 >= first)
			fprintf(stderr, "harness: | %s\n", r.buf);
	log_reader_close(&r);
	fprintf(stderr, "harness: --- end of %s ---\n", log_path);
}

static bool parse_digits(const char **p, int count, int *out)
{
	int v = 0;

	for (int i = 0; i < count; i++) {
		if (!isdigit((unsigned char) (*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += count;
	*out = v;
	return true;
}

static bool expect_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

int64_t harness_parse_ts_ms(const char *iso)
{
	const char *p = iso;
	struct tm tm;
	int year, mon, day, hour, min, sec;
	int ms = 0;
	int offset_min = 0;
	time_t t;

	if (iso == NULL)
		return -1;
	if (!parse_digits(&p, 4, &year) || !expect_char(&p, '-') ||
	    !parse_digits(&p, 2, &mon) || !expect_char(&p, '-') ||
	    !parse_digits(&p, 2, &day) || !expect_char(&p, 'T') ||
	    !parse_digits(&p, 2, &hour) || !expect_char(&p, ':') ||
	    !parse_digits(&p, 2, &min) || !expect_char(&p, ':') ||
	    !parse_digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		int scale = 100;

		p++;
		if (!isdigit((unsigned char) *p))
			return -1;
		for (; isdigit((unsigned char) *p); p++) {
			ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		int oh, om;

		p++;
		if (!parse_digits(&p, 2, &oh) || !expect_char(&p, ':') || !parse_digits(&p, 2, &om))
			return -1;
		offset_min = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (*p != '\0' || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 ||
	    min > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return ((int64_t) t - (int64_t) offset_min * 60) * 1000 + ms;
}
