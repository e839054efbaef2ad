/*
 * Network partitions through cgroup packet filters; see partition.h.
 *
 * The filter is a few BPF instructions written here (no compiler for BPF is
 * needed):
 *
 *     r2 = skb->remote_port >> 16     (network order, in the upper half)
 *     if r2 == htons(p) goto drop      for each remote port p
 *     r3 = skb->local_port             (host order)
 *     if r3 == p goto drop             for each local port p
 *     return 1                         (let it pass)
 *   drop:
 *     return 0
 *
 * Cleanup must also work from a signal handler: it uses only bpf(2),
 * open/write/close and kill, which are async-signal-safe, on tables filled
 * in beforehand.
 */
#include "test/chaos/partition.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#define GROUP_PREFIX "pgherd-chaos-"

struct group {
	char name[32];
	char dir[340];
	char procs[360];
	char kill_path[360];
	int dir_fd;
	int prog_fd;			/* -1: not cut */
};

static char cgroup_root[256];
static char run_group[300];
static struct group groups[PARTITION_MAX_GROUPS];
static volatile int n_groups;
static pid_t owner;
static bool handlers_installed;

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGSEGV, SIGABRT, SIGBUS, SIGFPE };
#define NFATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction previous[NFATAL];

static int sys_bpf(int cmd, union bpf_attr *attr)
{
	return (int) syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static struct group *find(const char *name)
{
	for (int i = 0; i < n_groups; i++)
		if (strcmp(groups[i].name, name) == 0)
			return &groups[i];
	return NULL;
}

/* --- cleanup, async-signal-safe ------------------------------------------ */

static void detach(struct group *g)
{
	union bpf_attr attr;

	if (g->prog_fd < 0)
		return;
	for (int type = BPF_CGROUP_INET_INGRESS; type <= BPF_CGROUP_INET_EGRESS; type++) {
		memset(&attr, 0, sizeof(attr));
		attr.target_fd = (unsigned) g->dir_fd;
		attr.attach_bpf_fd = (unsigned) g->prog_fd;
		attr.attach_type = (unsigned) type;
		(void) sys_bpf(BPF_PROG_DETACH, &attr);
	}
	close(g->prog_fd);
	g->prog_fd = -1;
}

/* Kill every process in a group: cgroup.kill when the kernel has it, else
 * pid by pid from cgroup.procs (not async-signal-safe parsing is avoided:
 * read(2) and a hand-rolled number parser). */
static void kill_group(const char *procs_path, const char *kill_path)
{
	char buf[4096];
	int fd = open(kill_path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd >= 0) {
		n = write(fd, "1", 1);
		close(fd);
		if (n == 1)
			return;
	}
	fd = open(procs_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *p = buf; *p;) {
		long pid = 0;
		while (*p >= '0' && *p <= '9')
			pid = pid * 10 + (*p++ - '0');
		if (pid > 1)
			kill((pid_t) pid, SIGKILL);
		while (*p && (*p < '0' || *p > '9'))
			p++;
	}
}

static void emergency(void)
{
	if (getpid() != owner)
		return;
	for (int i = 0; i < n_groups; i++) {
		detach(&groups[i]);
		kill_group(groups[i].procs, groups[i].kill_path);
	}
}

static void on_fatal_signal(int sig)
{
	emergency();
	for (size_t i = 0; i < NFATAL; i++) {
		if (fatal_signals[i] != sig)
			continue;
		/* The harness's handler (or the default) goes on from here. */
		sigaction(sig, &previous[i], NULL);
		raise(sig);
		return;
	}
}

static void at_exit(void)
{
	partition_teardown();
}

static void install_handlers(void)
{
	static bool registered;
	struct sigaction sa;

	if (!registered) {
		atexit(at_exit);
		registered = true;
	}
	if (handlers_installed)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &sa, &previous[i]);
	handlers_installed = true;
}

static void restore_handlers(void)
{
	if (!handlers_installed)
		return;
	for (size_t i = 0; i < NFATAL; i++)
		sigaction(fatal_signals[i], &previous[i], NULL);
	handlers_installed = false;
}

/* --- groups ------------------------------------------------------------- */

static bool find_cgroup2(char *why, size_t size)
{
	FILE *mounts = fopen("/proc/self/mounts", "re");
	char dev[256], dir[256], type[64];

	if (!mounts) {
		snprintf(why, size, "cannot read /proc/self/mounts: %s", strerror(errno));
		return false;
	}
	cgroup_root[0] = '\0';
	while (fscanf(mounts, "%255s %255s %63s %*[^\n]", dev, dir, type) == 3)
		if (strcmp(type, "cgroup2") == 0 && !cgroup_root[0])
			snprintf(cgroup_root, sizeof(cgroup_root), "%s", dir);
	fclose(mounts);
	if (!cgroup_root[0]) {
		snprintf(why, size, "no cgroup2 file system is mounted");
		return false;
	}
	return true;
}

/* Wait until a group has no process left and remove it. */
static bool remove_group_dir(const char *dir)
{
	for (int tries = 0; tries < 300; tries++) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };
		if (rmdir(dir) == 0 || errno == ENOENT)
			return true;
		if (errno != EBUSY)
			return false;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "chaos: cannot remove cgroup %s: %s\n", dir, strerror(errno));
	return false;
}

/* Groups of earlier runs whose process is gone (killed with SIGKILL, say):
 * whatever they left in them was started by that run; kill it and remove
 * the groups (their filters go with them). */
static void sweep_stale(void)
{
	DIR *root = opendir(cgroup_root);
	struct dirent *entry;

	while (root && (entry = readdir(root)) != NULL) {
		char dir[512];
		long pid;
		DIR *sub;
		struct dirent *child;

		if (strncmp(entry->d_name, GROUP_PREFIX, strlen(GROUP_PREFIX)) != 0)
			continue;
		pid = strtol(entry->d_name + strlen(GROUP_PREFIX), NULL, 10);
		if (pid <= 0 || pid == getpid() || kill((pid_t) pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", cgroup_root, entry->d_name);
		printf("chaos: removing cgroups left by pid %ld (%s)\n", pid, dir);
		sub = opendir(dir);
		while (sub && (child = readdir(sub)) != NULL) {
			char path[800], procs[820], kill_path[820];
			struct stat st;

			if (child->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, child->d_name);
			if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
			snprintf(kill_path, sizeof(kill_path), "%s/cgroup.kill", path);
			kill_group(procs, kill_path);
			remove_group_dir(path);
		}
		if (sub)
			closedir(sub);
		remove_group_dir(dir);
	}
	if (root)
		closedir(root);
}

/* Load the "drop all" program once to learn whether BPF works here. */
static int load_filter(const int *remote, int n_remote, const int *local, int n_local,
		       char *log, size_t log_size);

bool partition_setup(const char *const *names, int count, char *why, size_t why_size)
{
	char log[512] = "";
	int probe;

	if (n_groups > 0)
		return true;
	if (geteuid() != 0) {
		snprintf(why, why_size, "network partitions need root (cgroups and BPF)");
		return false;
	}
	if (count > PARTITION_MAX_GROUPS) {
		snprintf(why, why_size, "%d groups: at most %d", count, PARTITION_MAX_GROUPS);
		return false;
	}
	if (!find_cgroup2(why, why_size))
		return false;
	probe = load_filter(NULL, 0, NULL, 0, log, sizeof(log));
	if (probe < 0) {
		snprintf(why, why_size, "cannot load a cgroup packet filter: %s %s", strerror(errno),
			 log);
		return false;
	}
	close(probe);
	sweep_stale();
	owner = getpid();
	snprintf(run_group, sizeof(run_group), "%s/" GROUP_PREFIX "%d", cgroup_root, (int) owner);
	if (mkdir(run_group, 0755) < 0 && errno != EEXIST) {
		snprintf(why, why_size, "mkdir %s: %s", run_group, strerror(errno));
		return false;
	}
	install_handlers();
	for (int i = 0; i < count; i++) {
		struct group *g = &groups[i];

		memset(g, 0, sizeof(*g));
		g->prog_fd = -1;
		snprintf(g->name, sizeof(g->name), "%s", names[i]);
		char dir[sizeof(g->dir)];
		snprintf(dir, sizeof(dir), "%s/%s", run_group, names[i]);
		snprintf(g->dir, sizeof(g->dir), "%s", dir);
		snprintf(g->procs, sizeof(g->procs), "%s/cgroup.procs", dir);
		snprintf(g->kill_path, sizeof(g->kill_path), "%s/cgroup.kill", dir);
		if (mkdir(g->dir, 0755) < 0 && errno != EEXIST) {
			snprintf(why, why_size, "mkdir %s: %s", g->dir, strerror(errno));
			partition_teardown();
			return false;
		}
		g->dir_fd = open(g->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (g->dir_fd < 0) {
			snprintf(why, why_size, "open %s: %s", g->dir, strerror(errno));
			partition_teardown();
			return false;
		}
		n_groups = i + 1;
	}
	return true;
}

const char *partition_procs_path(const char *name)
{
	struct group *g = find(name);
	return g ? g->procs : NULL;
}

/* --- the filter --------------------------------------------------------- */

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static int load_filter(const int *remote, int n_remote, const int *local, int n_local,
		       char *log, size_t log_size)
{
	struct bpf_insn prog[8 + 2 * PARTITION_MAX_PORTS];
	union bpf_attr attr;
	int n = 0;
	int jumps[2 * PARTITION_MAX_PORTS];
	int n_jumps = 0;

	if (n_remote > PARTITION_MAX_PORTS || n_local > PARTITION_MAX_PORTS) {
		errno = E2BIG;
		return -1;
	}
	if (n_remote + n_local == 0)
		goto drop;	/* no port at all: drop everything */
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, offsetof(struct __sk_buff, remote_port), 0);
	prog[n++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, 2, 0, 0, 16);
	for (int i = 0; i < n_remote; i++) {
		jumps[n_jumps++] = n;
		prog[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 0, htons((uint16_t) remote[i]));
	}
	prog[n++] = INSN(BPF_LDX | BPF_MEM | BPF_W, 3, 1, offsetof(struct __sk_buff, local_port), 0);
	for (int i = 0; i < n_local; i++) {
		jumps[n_jumps++] = n;
		prog[n++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 3, 0, 0, local[i]);
	}
	prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
	prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	for (int j = 0; j < n_jumps; j++)
		prog[jumps[j]].off = (int16_t) (n - jumps[j] - 1);
drop:
	prog[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0);
	prog[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_CGROUP_SKB;
	attr.insns = (uint64_t) (uintptr_t) prog;
	attr.insn_cnt = (uint32_t) n;
	attr.license = (uint64_t) (uintptr_t) "GPL";
	if (log && log_size) {
		log[0] = '\0';
		attr.log_buf = (uint64_t) (uintptr_t) log;
		attr.log_size = (uint32_t) log_size;
		attr.log_level = 1;
	}
	return sys_bpf(BPF_PROG_LOAD, &attr);
}

bool partition_cut(const char *name, const int *remote_ports, int n_remote,
		   const int *local_ports, int n_local)
{
	struct group *g = find(name);
	char log[2048];
	union bpf_attr attr;
	int fd;

	if (!g) {
		fprintf(stderr, "chaos: no cgroup %s\n", name);
		return false;
	}
	fd = load_filter(remote_ports, n_remote, local_ports, n_local, log, sizeof(log));
	if (fd < 0) {
		fprintf(stderr, "chaos: loading the filter for %s: %s\n%s\n", name, strerror(errno), log);
		return false;
	}
	detach(g);
	for (int type = BPF_CGROUP_INET_INGRESS; type <= BPF_CGROUP_INET_EGRESS; type++) {
		memset(&attr, 0, sizeof(attr));
		attr.target_fd = (unsigned) g->dir_fd;
		attr.attach_bpf_fd = (unsigned) fd;
		attr.attach_type = (unsigned) type;
		attr.attach_flags = BPF_F_ALLOW_MULTI;
		if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) {
			fprintf(stderr, "chaos: attaching the filter to %s: %s\n", g->dir, strerror(errno));
			g->prog_fd = fd;
			detach(g);
			return false;
		}
		g->prog_fd = fd;	/* so that a failure of the second detaches the first */
	}
	return true;
}

bool partition_heal(const char *name)
{
	struct group *g = find(name);

	if (!g)
		return false;
	detach(g);
	return true;
}

void partition_heal_all(void)
{
	for (int i = 0; i < n_groups; i++)
		detach(&groups[i]);
}

const char *partition_describe(void)
{
	static char out[256];
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n_groups; i++)
		if (groups[i].prog_fd >= 0 && used < sizeof(out))
			used += (size_t) snprintf(out + used, sizeof(out) - used, "%s%s",
						  used ? "," : "", groups[i].name);
	return out;
}

int partition_pids(const char *name, int *pids, int max)
{
	struct group *g = find(name);
	FILE *f;
	int n = 0, pid;

	if (!g || !(f = fopen(g->procs, "re")))
		return 0;
	while (n < max && fscanf(f, "%d", &pid) == 1)
		pids[n++] = pid;
	fclose(f);
	return n;
}

void partition_signal_all(int sig)
{
	for (int i = 0; i < n_groups; i++) {
		int pids[256];
		int n = partition_pids(groups[i].name, pids, 256);
		for (int j = 0; j < n; j++)
			kill(pids[j], sig);
	}
}

void partition_teardown(void)
{
	if (n_groups == 0 || getpid() != owner)
		return;
	for (int i = 0; i < n_groups; i++) {
		detach(&groups[i]);
		kill_group(groups[i].procs, groups[i].kill_path);
	}
	for (int i = 0; i < n_groups; i++) {
		remove_group_dir(groups[i].dir);
		if (groups[i].dir_fd >= 0)
			close(groups[i].dir_fd);
	}
	remove_group_dir(run_group);
	n_groups = 0;
	restore_handlers();
}
