/*
 * Benchmarks of issue 5: pgherd and Patroni side by side.
 *
 * One run of this program starts one ZooKeeper server and then, one cluster
 * at a time, three-member PostgreSQL clusters managed by pgherd and by
 * Patroni (Debian's patroni 3.0.2 with python3-kazoo, run as the postgres
 * user).  Both read the same generated Patroni YAML (one file per member:
 * write_config() below), with the same PostgreSQL settings and the same
 * bootstrap.dcs; each cluster gets its own scope, so they never meet in
 * ZooKeeper, and only one cluster runs at any time, so the ZooKeeper
 * server's packet counter during an idle window belongs to one system.
 *
 * Everything is measured from a client's side with libpq: which member
 * accepts an INSERT, how long no member did.  The result is printed as a
 * table and, with --out, written as docs/benchmarks.md (machine, settings,
 * the table, every target of the issue marked met or not, raw samples).
 *
 * Processes: agents are harness children (stopped by PID, PDEATHSIG);
 * PostgreSQL servers are found through their data directory's
 * postmaster.pid, checked (their working directory is that data
 * directory) and killed by PID too, also from the fatal-signal and atexit
 * paths, since Patroni detaches its postmaster from itself.
 *
 * Not a cmocka test: `make bench` builds and runs it, `make test` does not.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "test/harness/harness.h"
#include "test/scenario/http_client.h"

#define MAXM 9			/* members of the largest cluster (scale) */
#define MAXRUNS 50
#define BOOT_TIMEOUT_MS 180000
#define SETTLE_TIMEOUT_MS 180000
#define EVENT_TIMEOUT_MS 120000
#define PACE_MS 10		/* the writer commits every 10 ms */
#define MOVED_STREAK_MS 500	/* writes kept on the new primary before a gap ends */

/* ------------------------------------------------------------------------
 * Options, systems, profiles
 * ------------------------------------------------------------------------ */

enum sys { SYS_PGHERD, SYS_PATRONI, NSYS };
static const char *const sys_name[NSYS] = { "pgherd", "Patroni" };

/* The dynamic settings every member of a cluster bootstraps with. */
struct profile {
	const char *label;
	int ttl, loop_wait, retry_timeout;
};
/* Both systems' defaults. */
static const struct profile profile_defaults = { "defaults", 30, 10, 10 };
/* The lowest ttl current Patroni accepts (it enforces ttl >= 20 since 3.1;
 * 3.0.2 does not), retry_timeout lowered to keep Patroni's rule
 * loop_wait + 2 * retry_timeout <= ttl. */
static const struct profile profile_ttl20 = { "ttl 20", 20, 10, 5 };

enum scenario {
	SC_BOOTSTRAP, SC_IDLE, SC_CRASH, SC_SWITCHOVER, SC_STOP, SC_NODELOSS, SC_TTL20, SC_SCALE,
	NSCENARIOS
};
static const char *const scenario_name[NSCENARIOS] = {
	"bootstrap", "idle", "crash", "switchover", "stop", "nodeloss", "ttl20", "scale",
};

static struct {
	int runs;
	bool quick;
	int idle_s;
	bool only[NSCENARIOS];
	bool only_given;
	bool sys[NSYS];
	const char *out;
	const char *note;
	char command[2048];
} opt;

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

enum metric {
	M_BOOT_WRITABLE, M_BOOT_STREAMING, M_IDLE_RSS, M_IDLE_ANON, M_IDLE_PSS, M_IDLE_CPU, M_IDLE_ZK,
	M_CRASH, M_SWITCHOVER, M_STOP, M_REJOIN, M_NODELOSS, M_LOST, M_NODELOSS_TTL20,
	M_LOST_TTL20, M_SCALE2, M_SCALE8, M_SCALE8_BOOT, NMETRICS
};

struct metric_info {
	const char *scenario;
	const char *measure;
	const char *unit;		/* "s", "MB", "%", "/s", "" */
};

static const struct metric_info metric_info[NMETRICS] = {
	[M_BOOT_WRITABLE] = { "bootstrap", "start to a writable primary", "s" },
	[M_BOOT_STREAMING] = { "bootstrap", "start to all replicas streaming", "s" },
	[M_IDLE_RSS] = { "idle cost", "resident memory per agent (largest of the members)", "MB" },
	[M_IDLE_ANON] = { "idle cost", "(of which anonymous: heap and stacks, not mapped files)", "MB" },
	[M_IDLE_PSS] = { "idle cost",
			 "(proportional, PSS: each shared page divided among the processes mapping it)",
			 "MB" },
	[M_IDLE_CPU] = { "idle cost", "CPU per agent (mean of the members, % of one core)", "%" },
	[M_IDLE_ZK] = { "idle cost", "ZooKeeper requests per second per member", "/s" },
	[M_CRASH] = { "postmaster crash", "`kill -9` of the primary's postmaster to writable again", "s" },
	[M_SWITCHOVER] = { "switchover", "write gap", "s" },
	[M_STOP] = { "graceful stop", "SIGTERM to the primary's agent: write gap", "s" },
	[M_REJOIN] = { "graceful stop", "(restart of the stopped agent to it streaming again)", "s" },
	[M_NODELOSS] = { "node loss (ttl 30)", "`kill -9` of agent and postmaster to a write on another member", "s" },
	[M_LOST] = { "writes lost (ttl 30)", "acknowledged commits missing on the new primary, per run", "" },
	[M_NODELOSS_TTL20] = { "node loss (ttl 20)", "the same with ttl 20, loop_wait 10, retry_timeout 5", "s" },
	[M_LOST_TTL20] = { "writes lost (ttl 20)", "acknowledged commits missing on the new primary, per run", "" },
	[M_SCALE2] = { "scale", "node loss with 2 replicas", "s" },
	[M_SCALE8] = { "scale", "node loss with 8 replicas", "s" },
	[M_SCALE8_BOOT] = { "scale", "(bootstrap of 9 members: start to all 8 replicas streaming)", "s" },
};

struct samples {
	double v[MAXRUNS * MAXM];
	int n;
	int failed;
};

static struct samples results[NSYS][NMETRICS];
static char switchover_method[NSYS][160];

static void record(enum sys s, enum metric m, double value)
{
	struct samples *x = &results[s][m];

	if (x->n < (int) (sizeof(x->v) / sizeof(x->v[0])))
		x->v[x->n++] = value;
}

static void record_failure(enum sys s, enum metric m)
{
	results[s][m].failed++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return x < y ? -1 : x > y;
}

struct stats {
	bool ok;
	double median, min, max, sum;
	int n;
};

static struct stats stats_of(enum sys s, enum metric m)
{
	const struct samples *x = &results[s][m];
	double sorted[sizeof(x->v) / sizeof(x->v[0])];
	struct stats st = { .n = x->n };

	if (x->n == 0)
		return st;
	memcpy(sorted, x->v, sizeof(double) * (size_t) x->n);
	qsort(sorted, (size_t) x->n, sizeof(double), cmp_double);
	st.ok = true;
	st.min = sorted[0];
	st.max = sorted[x->n - 1];
	st.median = x->n % 2 ? sorted[x->n / 2] : (sorted[x->n / 2 - 1] + sorted[x->n / 2]) / 2;
	for (int i = 0; i < x->n; i++)
		st.sum += x->v[i];
	return st;
}

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

static char build_dir[PATH_MAX];
static char repo_root[PATH_MAX];
static const char *pgherd_binary;	/* installed copy in the run directory */
static char pgherdctl_path[PATH_MAX + 16];
static struct harness_zk zk;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void locate(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0) {
		fprintf(stderr, "bench: cannot read /proc/self/exe\n");
		exit(2);
	}
	exe[n] = '\0';
	snprintf(build_dir, sizeof(build_dir), "%s", dirname(exe));
	snprintf(exe, sizeof(exe), "%s", build_dir);
	snprintf(repo_root, sizeof(repo_root), "%s", dirname(exe));
}

static bool read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* First line of a command's output ("" on failure). */
static void command_line(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");

	out[0] = '\0';
	if (!p)
		return;
	if (fgets(out, (int) size, p))
		out[strcspn(out, "\n")] = '\0';
	pclose(p);
}

/* ------------------------------------------------------------------------
 * Clusters
 * ------------------------------------------------------------------------ */

struct member {
	char name[16];
	int api_port, pg_port;
	char dir[HARNESS_PATH_MAX + 64];
	char data_dir[HARNESS_PATH_MAX + 80];
	char pidfile[HARNESS_PATH_MAX + 100];
	char config_path[HARNESS_PATH_MAX + 80];
	char log_path[HARNESS_PATH_MAX + 80];
	pid_t pid;			/* the agent, 0 when not running */
	PGconn *conn;			/* the bench's client connection */
};

struct bcluster {
	enum sys sys;
	int n;
	struct profile prof;
	char scope[48];
	char dir[HARNESS_PATH_MAX + 48];
	struct member m[MAXM];
};

static void sample_load(void);

/* The cluster that is up, for the emergency path. */
static struct bcluster *volatile active;

static int alive_members(const struct bcluster *c)
{
	int n = 0;
	for (int i = 0; i < c->n; i++)
		n += c->m[i].pid > 0;
	return n;
}

/*
 * One configuration per member, in Patroni's format, that both systems read
 * as is.  pgherd warns that it ignores postgresql.pgpass; Patroni needs it so
 * that members sharing a home do not share a password file.
 */
static bool write_config(struct bcluster *c, int i)
{
	struct member *m = &c->m[i];
	char text[4096], relpath[128];
	const char *path;

	snprintf(text, sizeof(text),
		 "scope: %s\n"
		 "namespace: /service\n"
		 "name: %s\n"
		 "restapi:\n"
		 "  listen: 127.0.0.1:%d\n"
		 "  connect_address: 127.0.0.1:%d\n"
		 "zookeeper:\n"
		 "  hosts: ['%s']\n"
		 "bootstrap:\n"
		 "  dcs:\n"
		 "    ttl: %d\n"
		 "    loop_wait: %d\n"
		 "    retry_timeout: %d\n"
		 "    maximum_lag_on_failover: 1048576\n"
		 "    postgresql:\n"
		 "      use_pg_rewind: true\n"
		 "      parameters:\n"
		 "        fsync: 'off'\n"
		 "        shared_buffers: 16MB\n"
		 "postgresql:\n"
		 "  listen: 127.0.0.1:%d\n"
		 "  connect_address: 127.0.0.1:%d\n"
		 "  data_dir: %s\n"
		 "  bin_dir: %s\n"
		 "  pgpass: %s/pgpass\n"
		 "  authentication:\n"
		 "    superuser: {username: postgres, password: bench-superuser-secret}\n"
		 "    replication: {username: replicator, password: bench-replication-secret}\n"
		 "  pg_hba:\n"
		 "  - local all all trust\n"
		 "  - host all all 127.0.0.1/32 scram-sha-256\n"
		 "  - host replication replicator 127.0.0.1/32 scram-sha-256\n"
		 "log:\n"
		 "  level: INFO\n",
		 c->scope, m->name, m->api_port, m->api_port, zk.connect_string, c->prof.ttl,
		 c->prof.loop_wait, c->prof.retry_timeout, m->pg_port, m->pg_port, m->data_dir,
		 harness_pg_bindir(), m->dir);
	snprintf(relpath, sizeof(relpath), "%s/%s.yml", c->scope, m->name);
	path = harness_write_file(relpath, text);
	if (!path)
		return false;
	snprintf(m->config_path, sizeof(m->config_path), "%s", path);
	return true;
}

static bool cluster_init(struct bcluster *c, enum sys s, int n, const struct profile *prof,
			 const char *label, int run)
{
	static int seq;
	const char *dir;

	sample_load();
	memset(c, 0, sizeof(*c));
	c->sys = s;
	c->n = n;
	c->prof = *prof;
	snprintf(c->scope, sizeof(c->scope), "%s-%s-r%d-%d", s == SYS_PGHERD ? "pgherd" : "patroni",
		 label, run, ++seq);
	dir = harness_mkdir(c->scope);
	if (!dir)
		return false;
	snprintf(c->dir, sizeof(c->dir), "%s", dir);
	for (int i = 0; i < n; i++) {
		struct member *m = &c->m[i];
		char relpath[128];

		snprintf(m->name, sizeof(m->name), "node%d", i + 1);
		m->api_port = harness_free_port();
		m->pg_port = harness_free_port();
		snprintf(relpath, sizeof(relpath), "%s/%s", c->scope, m->name);
		dir = harness_mkdir(relpath);
		if (!dir || !m->api_port || !m->pg_port)
			return false;
		snprintf(m->dir, sizeof(m->dir), "%s", dir);
		snprintf(m->data_dir, sizeof(m->data_dir), "%s/data", dir);
		snprintf(m->pidfile, sizeof(m->pidfile), "%s/postmaster.pid", m->data_dir);
		snprintf(m->log_path, sizeof(m->log_path), "%s/%s.log", c->dir, m->name);
		if (!write_config(c, i))
			return false;
	}
	return true;
}

static bool member_start(struct bcluster *c, int i)
{
	struct member *m = &c->m[i];
	char home[HARNESS_PATH_MAX + 80], name[64];
	char *env[] = { "PATH=/usr/bin:/bin", home, "LANG=C.UTF-8", NULL };
	char *argv[3];

	snprintf(home, sizeof(home), "HOME=%s", m->dir);
	snprintf(name, sizeof(name), "%s-%s", c->sys == SYS_PGHERD ? "pgherd" : "patroni", m->name);
	argv[0] = (char *) (c->sys == SYS_PGHERD ? pgherd_binary : "/usr/bin/patroni");
	argv[1] = m->config_path;
	argv[2] = NULL;
	m->pid = harness_spawn(name, argv, env, m->log_path, true);
	return m->pid > 0;
}

/* The postmaster of a member's data directory, if one runs there now. */
static pid_t postmaster_of(const struct member *m)
{
	char buf[64], proc[64], cwd[sizeof(m->data_dir) + 2];
	long pid;
	ssize_t n;

	if (!read_file(m->pidfile, buf, sizeof(buf)))
		return 0;
	pid = strtol(buf, NULL, 10);
	if (pid <= 1)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/%ld/cwd", pid);
	n = readlink(proc, cwd, sizeof(cwd) - 1);
	if (n <= 0)
		return 0;
	cwd[n] = '\0';
	return strcmp(cwd, m->data_dir) == 0 ? (pid_t) pid : 0;
}

static int children_of(pid_t pid, pid_t *out, int max)
{
	char path[64], buf[4096];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) pid, (int) pid);
	if (!read_file(path, buf, sizeof(buf)))
		return 0;
	for (char *p = buf; *p && n < max;) {
		char *end;
		long child = strtol(p, &end, 10);
		if (end == p)
			break;
		out[n++] = (pid_t) child;
		p = end;
	}
	return n;
}

/* Kill a member's PostgreSQL: the postmaster and every process it forked.
 * With freeze_first, all of them are stopped before any dies, so that none
 * sends another byte of WAL: the node is gone at one instant. */
static void kill_postgres(const struct member *m, bool freeze_first)
{
	pid_t pm = postmaster_of(m);
	pid_t kids[256];
	int nkids;

	if (pm <= 0)
		return;
	nkids = children_of(pm, kids, 256);
	if (freeze_first) {
		kill(pm, SIGSTOP);
		for (int i = 0; i < nkids; i++)
			kill(kids[i], SIGSTOP);
	}
	kill(pm, SIGKILL);
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
}

static void close_conn(struct member *m)
{
	if (m->conn)
		PQfinish(m->conn);
	m->conn = NULL;
}

static void cluster_down(struct bcluster *c)
{
	pid_t pms[MAXM];

	for (int i = 0; i < c->n; i++) {
		close_conn(&c->m[i]);
		if (c->m[i].pid > 0)
			harness_kill(c->m[i].pid);
		c->m[i].pid = 0;
	}
	for (int i = 0; i < c->n; i++) {
		pms[i] = postmaster_of(&c->m[i]);
		kill_postgres(&c->m[i], false);
	}
	for (int i = 0; i < c->n; i++)
		for (int tries = 0; pms[i] > 0 && tries < 500 && !harness_process_gone(pms[i]); tries++)
			harness_sleep_ms(10);
	active = NULL;
	sample_load();
	if (getenv("PGHERD_TEST_KEEP") == NULL) {
		char *const argv[] = { "/bin/rm", "-rf", c->dir, NULL };
		harness_run("rm", argv, NULL, "/dev/null", false, 60000, NULL);
	}
}

/* Emergency path (fatal signal, exit): SIGKILL what the active cluster
 * runs.  Only async-signal-safe calls, through what was prepared. */
static void emergency_kill(void)
{
	struct bcluster *c = active;

	if (!c)
		return;
	for (int i = 0; i < c->n; i++)
		if (c->m[i].pid > 0)
			kill(-c->m[i].pid, SIGKILL), kill(c->m[i].pid, SIGKILL);
	for (int i = 0; i < c->n; i++)
		kill_postgres(&c->m[i], false);
}

static struct sigaction chained[6];
static const int caught[6] = { SIGINT, SIGTERM, SIGSEGV, SIGABRT, SIGBUS, SIGFPE };

static void on_fatal_signal(int sig)
{
	emergency_kill();
	for (int i = 0; i < 6; i++) {
		if (caught[i] != sig)
			continue;
		/* The harness's handler stops its children and re-raises. */
		sigaction(sig, &chained[i], NULL);
		raise(sig);
	}
}

static void at_exit(void)
{
	emergency_kill();
}

static void install_emergency(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 6; i++)
		sigaction(caught[i], &sa, &chained[i]);
	atexit(at_exit);	/* runs before the harness's (registered earlier) */
}

/* ------------------------------------------------------------------------
 * The client: one connection per member
 * ------------------------------------------------------------------------ */

/* Server messages (a FATAL as a server shuts down, say) are expected here. */
static void quiet_notices(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

static bool member_sql(struct bcluster *c, int i, const char *sql, char *out, size_t size)
{
	struct member *m = &c->m[i];
	PGresult *res;
	bool ok;

	if (!m->conn) {
		char conninfo[256];
		snprintf(conninfo, sizeof(conninfo),
			 "host=127.0.0.1 port=%d user=postgres password=bench-superuser-secret "
			 "dbname=postgres connect_timeout=2 "
			 "application_name=bench",
			 m->pg_port);
		m->conn = PQconnectdb(conninfo);
		if (PQstatus(m->conn) != CONNECTION_OK) {
			close_conn(m);
			return false;
		}
		PQsetNoticeProcessor(m->conn, quiet_notices, NULL);
	}
	res = PQexec(m->conn, sql);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK || PQresultStatus(res) == PGRES_COMMAND_OK;
	if (ok && out && size) {
		out[0] = '\0';
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
			snprintf(out, size, "%s", PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	if (PQstatus(m->conn) != CONNECTION_OK)
		close_conn(m);
	return ok;
}

/* The one member whose PostgreSQL is not in recovery, -1 if none or more. */
static int find_primary(struct bcluster *c)
{
	int primary = -1;

	for (int i = 0; i < c->n; i++) {
		char value[16];
		if (c->m[i].pid <= 0 ||
		    !member_sql(c, i, "SELECT pg_is_in_recovery()::text", value, sizeof(value)))
			continue;
		if (strcmp(value, "false") == 0) {
			if (primary >= 0)
				return -1;
			primary = i;
		}
	}
	return primary;
}

static int streaming_replicas(struct bcluster *c, int primary)
{
	char value[16];

	if (!member_sql(c, primary,
			"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", value,
			sizeof(value)))
		return -1;
	return atoi(value);
}

/* GET /cluster on the primary's agent lists every running member as
 * running (or streaming) and the primary as the leader: what a switchover
 * checks.  Patroni's members publish their state once per loop_wait. */
static bool agents_agree(struct bcluster *c, int primary)
{
	struct http_answer answer;
	json_t *doc, *members;
	json_error_t error;
	int running = 0;
	bool leader_ok = false;

	if (http_request(c->m[primary].api_port, "GET", "/cluster", NULL, NULL, 3000, &answer) != 200) {
		http_answer_clear(&answer);
		return false;
	}
	doc = json_loads(answer.body, 0, &error);
	http_answer_clear(&answer);
	members = json_object_get(doc, "members");
	for (size_t k = 0; json_is_array(members) && k < json_array_size(members); k++) {
		json_t *mem = json_array_get(members, k);
		const char *name = json_string_value(json_object_get(mem, "name"));
		const char *role = json_string_value(json_object_get(mem, "role"));
		const char *state = json_string_value(json_object_get(mem, "state"));
		if (!name || !role || !state)
			continue;
		if (strcmp(state, "running") == 0 || strcmp(state, "streaming") == 0)
			running++;
		if (strcmp(role, "leader") == 0 || strcmp(role, "master") == 0 ||
		    strcmp(role, "primary") == 0)
			leader_ok = strcmp(name, c->m[primary].name) == 0;
	}
	json_decref(doc);
	return leader_ok && running == alive_members(c);
}

/* Wait until one primary has every other running member streaming and the
 * agents agree.  The primary's index, or -1. */
static int settle(struct bcluster *c, int timeout_ms)
{
	int64_t since = harness_now_ms();

	while (harness_now_ms() - since < timeout_ms) {
		int p = find_primary(c);
		if (p >= 0 && streaming_replicas(c, p) == alive_members(c) - 1 && agents_agree(c, p))
			return p;
		harness_sleep_ms(100);
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * The writer: commits ids in a loop on whichever member takes them
 * ------------------------------------------------------------------------ */

struct writer {
	struct bcluster *c;
	int64_t next_id;
	int cur;			/* member of the last commit, -1 */
	int64_t started, last_ok, max_gap, cur_since;
	bool record;			/* keep acknowledged ids */
	int64_t *acked;
	size_t nacked, cap;
	long commits;
};

static int64_t id_base = 1;

static void writer_init(struct writer *w, struct bcluster *c, bool record)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	w->cur = -1;
	w->record = record;
	w->next_id = id_base;
	w->started = w->last_ok = harness_now_ms();
}

static void writer_done(struct writer *w)
{
	id_base = w->next_id + 1;
	free(w->acked);
	w->acked = NULL;
}

static bool writer_try(struct writer *w, int i)
{
	char sql[80];
	int64_t id = w->next_id++;

	snprintf(sql, sizeof(sql), "INSERT INTO bench_w VALUES (%lld)", (long long) id);
	if (!member_sql(w->c, i, sql, NULL, 0))
		return false;
	int64_t now = harness_now_ms();
	if (now - w->last_ok > w->max_gap)
		w->max_gap = now - w->last_ok;
	w->last_ok = now;
	w->commits++;
	if (i != w->cur) {
		w->cur = i;
		w->cur_since = now;
	}
	if (w->record) {
		if (w->nacked == w->cap) {
			size_t cap = w->cap ? w->cap * 2 : 4096;
			int64_t *grown = realloc(w->acked, cap * sizeof(*grown));
			if (!grown)
				return true;
			w->acked = grown;
			w->cap = cap;
		}
		w->acked[w->nacked++] = id;
	}
	return true;
}

/* One commit: on the member of the last commit first, then on the others
 * (never on skip).  The member that took it, or -1. */
static int writer_attempt(struct writer *w, int skip)
{
	if (w->cur >= 0 && w->cur != skip && writer_try(w, w->cur))
		return w->cur;
	for (int i = 0; i < w->c->n; i++)
		if (i != w->cur && i != skip && writer_try(w, i))
			return i;
	w->cur = -1;
	return -1;
}

/* Commit for ms milliseconds, every pace_ms (0: back to back). */
static void writer_run(struct writer *w, int ms, int pace_ms, int skip)
{
	int64_t until = harness_now_ms() + ms;

	while (harness_now_ms() < until) {
		int took = writer_attempt(w, skip);
		if (took < 0 || pace_ms > 0)
			harness_sleep_ms(took < 0 ? PACE_MS : pace_ms);
	}
}

/* ------------------------------------------------------------------------
 * Per-process accounting from /proc
 * ------------------------------------------------------------------------ */

struct procinfo {
	pid_t pid, ppid;
	char comm[32];
	unsigned long long ticks;	/* utime + stime */
};

static bool read_proc(pid_t pid, struct procinfo *out)
{
	char path[64], buf[1024];
	char *lp, *rp;
	unsigned long long utime = 0, stime = 0;
	int ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if (!read_file(path, buf, sizeof(buf)))
		return false;
	lp = strchr(buf, '(');
	rp = strrchr(buf, ')');
	if (!lp || !rp)
		return false;
	out->pid = pid;
	snprintf(out->comm, sizeof(out->comm), "%.*s", (int) (rp - lp - 1), lp + 1);
	/* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime */
	if (sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &utime,
		   &stime) != 3)
		return false;
	out->ppid = ppid;
	out->ticks = utime + stime;
	return true;
}

/* A "Key:   123 kB" line of /proc/<pid>/<file> (status, smaps_rollup);
 * 0 when unreadable. */
static long proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], buf[4096];
	const char *line;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, file);
	if (!read_file(path, buf, sizeof(buf)) || !(line = strstr(buf, key)))
		return 0;
	return strtol(line + strlen(key), NULL, 10);
}

/* Nanoseconds on a CPU of every thread of a process (schedstat: finer
 * than the 10 ms ticks of /proc/<pid>/stat). */
static unsigned long long runtime_ns(pid_t pid)
{
	char path[96], buf[256];
	unsigned long long sum = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int) pid);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char) e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat", (int) pid, e->d_name);
		if (read_file(path, buf, sizeof(buf)))
			sum += strtoull(buf, NULL, 10);
	}
	if (d)
		closedir(d);
	return sum;
}

/*
 * The agent and what it runs besides PostgreSQL (a helper process of
 * Patroni's, say): CPU time (ns) and resident kB summed over them.  PostgreSQL
 * processes (comm "postgres") and what they run are left out.
 */
static void agent_tree(pid_t agent, unsigned long long *cpu_ns, long *rss, long *anon, long *pss)
{
	static struct procinfo all[8192];
	pid_t tree[256];
	int nall = 0, ntree = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;

	*cpu_ns = 0;
	*rss = *anon = *pss = 0;
	while (d && (e = readdir(d)) != NULL && nall < 8192) {
		if (!isdigit((unsigned char) e->d_name[0]))
			continue;
		if (read_proc((pid_t) atoi(e->d_name), &all[nall]))
			nall++;
	}
	if (d)
		closedir(d);
	tree[ntree++] = agent;
	for (int k = 0; k < ntree; k++) {
		for (int j = 0; j < nall; j++) {
			if (all[j].pid == tree[k]) {
				*cpu_ns += runtime_ns(all[j].pid);
				*rss += proc_kb(all[j].pid, "status", "VmRSS:");
				*anon += proc_kb(all[j].pid, "status", "RssAnon:");
				*pss += proc_kb(all[j].pid, "smaps_rollup", "Pss:");
			}
			if (all[j].ppid == tree[k] && strcmp(all[j].comm, "postgres") != 0 && ntree < 256)
				tree[ntree++] = all[j].pid;
		}
	}
}

static long long zk_packets_received(void)
{
	char buf[8192];
	const char *line;

	if (!harness_zk_4lw(zk.server[0].client_port, "mntr", buf, sizeof(buf), 3000))
		return -1;
	line = strstr(buf, "zk_packets_received");
	return line ? strtoll(line + strlen("zk_packets_received"), NULL, 10) : -1;
}

/* ------------------------------------------------------------------------
 * Scenarios
 * ------------------------------------------------------------------------ */

static const char *run_label;		/* "pgherd run 1/5" for progress lines */

static void show_failure(struct bcluster *c, const char *what)
{
	say("  !! %s: %s failed; last lines of each agent's log:\n", run_label, what);
	for (int i = 0; i < c->n; i++) {
		say("  -- %s (%s)\n", c->m[i].name, c->m[i].log_path);
		harness_log_print_tail(c->m[i].log_path, 15);
	}
}

/* Start every member at once; the primary's index once all replicas
 * stream and the agents agree, else -1. */
static int sc_bootstrap(struct bcluster *c, double *writable_s, double *streaming_s)
{
	int64_t t0 = harness_now_ms();
	int64_t writable_at = -1;
	int primary = -1;

	*writable_s = *streaming_s = -1;
	active = c;
	for (int i = 0; i < c->n; i++)
		if (!member_start(c, i))
			return -1;
	while (harness_now_ms() - t0 < BOOT_TIMEOUT_MS) {
		if (primary < 0) {
			for (int i = 0; i < c->n && primary < 0; i++)
				if (member_sql(c, i, "CREATE TABLE IF NOT EXISTS bench_w (id bigint PRIMARY KEY)",
					       NULL, 0)) {
					primary = i;
					writable_at = harness_now_ms();
				}
		} else if (streaming_replicas(c, primary) == c->n - 1) {
			*writable_s = (double) (writable_at - t0) / 1000.0;
			*streaming_s = (double) (harness_now_ms() - t0) / 1000.0;
			break;
		}
		harness_sleep_ms(20);
	}
	if (*streaming_s < 0) {
		show_failure(c, "bootstrap");
		return -1;
	}
	primary = settle(c, SETTLE_TIMEOUT_MS);
	if (primary < 0)
		show_failure(c, "settling after bootstrap");
	return primary;
}

static bool sc_idle(struct bcluster *c, double *rss_mb, double *anon_mb, double *pss_mb,
		    double *cpu_pct, double *zk_rps)
{
	unsigned long long cpu0_ns[MAXM], cpu1_ns;
	long rss, anon, pss, rss_max = 0, anon_max = 0, pss_max = 0;
	double cpu_sum = 0;
	long long zk0, zk1;
	int64_t t0, t1;

	/* Let the bootstrap's aftermath (checkpoints, first loops) pass. */
	harness_sleep_ms(3000);
	for (int i = 0; i < c->n; i++)
		agent_tree(c->m[i].pid, &cpu0_ns[i], &rss, &anon, &pss);
	zk0 = zk_packets_received();
	t0 = harness_now_ms();
	harness_sleep_ms(opt.idle_s * 1000);
	zk1 = zk_packets_received();
	t1 = harness_now_ms();
	for (int i = 0; i < c->n; i++) {
		agent_tree(c->m[i].pid, &cpu1_ns, &rss, &anon, &pss);
		if (rss > rss_max)
			rss_max = rss;
		if (pss > pss_max)
			pss_max = pss;
		if (anon > anon_max)
			anon_max = anon;
		cpu_sum += (double) (cpu1_ns - cpu0_ns[i]) / 1e9 / ((double) (t1 - t0) / 1000.0) * 100.0;
	}
	if (zk0 < 0 || zk1 < 0 || rss_max == 0)
		return false;
	*rss_mb = (double) rss_max * 1024.0 / 1e6;
	*anon_mb = (double) anon_max * 1024.0 / 1e6;
	*pss_mb = (double) pss_max * 1024.0 / 1e6;
	*cpu_pct = cpu_sum / c->n;
	*zk_rps = (double) (zk1 - zk0) / ((double) (t1 - t0) / 1000.0) / c->n;
	return true;
}

/* kill -9 of the primary's postmaster; seconds until a commit succeeds. */
static double sc_crash(struct bcluster *c, int p)
{
	struct writer w;
	pid_t pm = postmaster_of(&c->m[p]);
	int64_t t0;
	double result = -1;

	if (pm <= 0)
		return -1;
	writer_init(&w, c, false);
	writer_run(&w, 1000, PACE_MS, -1);
	/* Only fresh connections count: an orphaned backend could still
	 * commit for a moment after its postmaster died. */
	close_conn(&c->m[p]);
	w.cur = -1;
	t0 = harness_now_ms();
	kill(pm, SIGKILL);
	while (!harness_process_gone(pm) && harness_now_ms() - t0 < 1000)
		;
	while (harness_now_ms() - t0 < EVENT_TIMEOUT_MS) {
		if (writer_attempt(&w, -1) >= 0) {
			result = (double) (w.last_ok - t0) / 1000.0;
			break;
		}
		harness_sleep_ms(PACE_MS);
	}
	if (result >= 0)
		say("    postmaster crash: writable again after %.2f s on %s (%s)\n", result,
		    c->m[w.cur].name, w.cur == p ? "restarted in place" : "failed over");
	else
		show_failure(c, "postmaster crash");
	writer_done(&w);
	return result;
}

/* Write gap of a switchover through pgherdctl or patronictl. */
static double sc_switchover(struct bcluster *c, int p)
{
	struct writer w;
	int cand = (p + 1) % c->n;
	char log_path[sizeof(c->dir) + 32];
	char *argv[12];
	int k = 0, status = -1;
	pid_t ctl;
	bool exited = false, fell_back = false;
	int64_t t_exit = 0, t0;
	double result = -1;

	snprintf(log_path, sizeof(log_path), "%s/ctl.log", c->dir);
	argv[k++] = c->sys == SYS_PGHERD ? pgherdctl_path : "/usr/bin/patronictl";
	argv[k++] = "-c";
	argv[k++] = c->m[p].config_path;
	argv[k++] = "switchover";
	argv[k++] = "--leader";
	argv[k++] = c->m[p].name;
	argv[k++] = "--candidate";
	argv[k++] = c->m[cand].name;
	argv[k++] = "--force";
	argv[k] = NULL;
	if (!switchover_method[c->sys][0])
		snprintf(switchover_method[c->sys], sizeof(switchover_method[0]),
			 "`%s -c <member yml> switchover --leader X --candidate Y --force`",
			 c->sys == SYS_PGHERD ? "pgherdctl" : "patronictl");

	writer_init(&w, c, false);
	writer_run(&w, 1000, PACE_MS, -1);
	t0 = harness_now_ms();
	ctl = harness_spawn(c->sys == SYS_PGHERD ? "pgherdctl" : "patronictl", argv, NULL, log_path,
			    false);
	if (ctl <= 0) {
		writer_done(&w);
		return -1;
	}
	while (harness_now_ms() - t0 < EVENT_TIMEOUT_MS) {
		int took = writer_attempt(&w, -1);
		int64_t now = harness_now_ms();

		if (!exited && !harness_is_running(ctl)) {
			exited = true;
			t_exit = now;
			status = harness_stop(ctl, 0);
		}
		if (exited && took >= 0 && took != p && now - w.cur_since >= MOVED_STREAK_MS)
			break;
		/* pgherdctl could not do it (it is new): ask the leader's REST API
		 * as patronictl does, and say so in the results. */
		if (exited && status != 0 && !fell_back && c->sys == SYS_PGHERD && now - t_exit > 3000 &&
		    w.cur == p) {
			struct http_answer answer;
			char body[128];
			snprintf(body, sizeof(body), "{\"leader\":\"%s\",\"candidate\":\"%s\"}",
				 c->m[p].name, c->m[cand].name);
			say("    pgherdctl exited with status %d (log %s): POST /switchover instead\n",
			    WIFEXITED(status) ? WEXITSTATUS(status) : -1, log_path);
			harness_log_print_tail(log_path, 10);
			fell_back = true;
			snprintf(switchover_method[c->sys], sizeof(switchover_method[0]),
				 "POST /switchover to the leader's REST API (pgherdctl failed in at least one run)");
			w.max_gap = 0;
			w.last_ok = harness_now_ms();
			(void) http_request(c->m[p].api_port, "POST", "/switchover", body, NULL, 30000,
					    &answer);
			http_answer_clear(&answer);
		}
		harness_sleep_ms(PACE_MS);
	}
	if (w.cur >= 0 && w.cur != p) {
		result = (double) w.max_gap / 1000.0;
		say("    switchover %s -> %s: write gap %.3f s (%s exited %d after %.2f s)\n",
		    c->m[p].name, c->m[w.cur].name, result, argv[0],
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1, (double) (t_exit - t0) / 1000.0);
	} else {
		harness_log_print_tail(log_path, 20);
		show_failure(c, "switchover");
	}
	if (!exited)
		harness_kill(ctl);
	writer_done(&w);
	return result;
}

/* SIGTERM to the primary's agent: write gap.  Then the agent starts again
 * and its member rejoins; the time that takes goes to *rejoin_s. */
static double sc_stop(struct bcluster *c, int p, double *rejoin_s)
{
	struct writer w;
	int64_t t0, t1;
	double result = -1;

	*rejoin_s = -1;
	writer_init(&w, c, false);
	writer_run(&w, 1000, PACE_MS, -1);
	t0 = harness_now_ms();
	if (!harness_signal(c->m[p].pid, SIGTERM)) {
		writer_done(&w);
		return -1;
	}
	while (harness_now_ms() - t0 < EVENT_TIMEOUT_MS) {
		int took = writer_attempt(&w, -1);
		if (took >= 0 && took != p && harness_now_ms() - w.cur_since >= MOVED_STREAK_MS)
			break;
		harness_sleep_ms(PACE_MS);
	}
	if (w.cur >= 0 && w.cur != p) {
		result = (double) w.max_gap / 1000.0;
		say("    graceful stop of %s: write gap %.3f s, writes on %s\n", c->m[p].name, result,
		    c->m[w.cur].name);
	} else {
		show_failure(c, "graceful stop");
	}
	writer_done(&w);
	/* The agent stops its PostgreSQL and exits. */
	harness_stop(c->m[p].pid, 60000);
	c->m[p].pid = 0;
	close_conn(&c->m[p]);
	kill_postgres(&c->m[p], false);	/* only if the agent left one behind */
	t1 = harness_now_ms();
	if (member_start(c, p) && settle(c, SETTLE_TIMEOUT_MS) >= 0) {
		*rejoin_s = (double) (harness_now_ms() - t1) / 1000.0;
		say("    %s rejoined %.2f s after its restart\n", c->m[p].name, *rejoin_s);
	} else {
		show_failure(c, "rejoin after the graceful stop");
	}
	return result;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
	return x < y ? -1 : x > y;
}

/* Acknowledged ids in [from, to) that the member does not have. */
static long missing_writes(struct bcluster *c, int member, const int64_t *acked, size_t nacked,
			   int64_t from, int64_t to)
{
	char sql[160];
	PGresult *res;
	int64_t *have;
	int rows;
	long missing = 0;

	snprintf(sql, sizeof(sql), "SELECT id FROM bench_w WHERE id >= %lld AND id < %lld",
		 (long long) from, (long long) to);
	if (!c->m[member].conn)
		(void) member_sql(c, member, "SELECT 1", NULL, 0);
	if (!c->m[member].conn)
		return -1;
	res = PQexec(c->m[member].conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return -1;
	}
	rows = PQntuples(res);
	have = calloc((size_t) rows + 1, sizeof(*have));
	for (int r = 0; r < rows && have; r++)
		have[r] = strtoll(PQgetvalue(res, r, 0), NULL, 10);
	PQclear(res);
	if (!have)
		return -1;
	qsort(have, (size_t) rows, sizeof(*have), cmp_i64);
	for (size_t k = 0; k < nacked; k++)
		if (!bsearch(&acked[k], have, (size_t) rows, sizeof(*have), cmp_i64))
			missing++;
	free(have);
	return missing;
}

/*
 * kill -9 of the primary's agent and of its PostgreSQL (postmaster and every
 * child, frozen first so the node vanishes at one instant) while a client
 * commits back to back.  Seconds until another member takes a commit; the
 * acknowledged commits it lacks go to *lost.
 */
static double sc_nodeloss(struct bcluster *c, int p, long *lost)
{
	struct writer w;
	int64_t t0, first_after;
	size_t acked_before;
	double result = -1;

	*lost = -1;
	writer_init(&w, c, true);
	writer_run(&w, 1500, 0, -1);
	if (w.cur != p || postmaster_of(&c->m[p]) <= 0) {
		writer_done(&w);
		return -1;
	}
	acked_before = w.nacked;
	first_after = w.next_id;
	t0 = harness_now_ms();
	kill_postgres(&c->m[p], true);
	harness_kill(c->m[p].pid);
	c->m[p].pid = 0;
	close_conn(&c->m[p]);
	w.cur = -1;
	w.record = false;
	while (harness_now_ms() - t0 < EVENT_TIMEOUT_MS) {
		if (writer_attempt(&w, p) >= 0) {
			result = (double) (w.last_ok - t0) / 1000.0;
			break;
		}
		harness_sleep_ms(PACE_MS);
	}
	if (result >= 0) {
		*lost = missing_writes(c, w.cur, w.acked, acked_before, id_base, first_after);
		say("    node loss of %s: %s took a write after %.2f s; %ld of %zu acknowledged "
		    "commits missing there\n",
		    c->m[p].name, c->m[w.cur].name, result, *lost, acked_before);
	} else {
		show_failure(c, "node loss");
	}
	writer_done(&w);
	return result;
}

/* ------------------------------------------------------------------------
 * Cycles: one cluster each
 * ------------------------------------------------------------------------ */

static bool want(enum scenario s)
{
	return !opt.only_given || opt.only[s];
}

/* The main cycle: bootstrap, idle, crash, switchover, graceful stop (and
 * rejoin), node loss, on one three-member cluster with the defaults. */
static void main_cycle(enum sys s, int run)
{
	struct bcluster c;
	double writable, streaming, v, rejoin;
	long lost;
	char label[64];
	int p;

	snprintf(label, sizeof(label), "%s run %d/%d", sys_name[s], run, opt.runs);
	run_label = label;
	say("[%s] three members, ttl %d\n", label, profile_defaults.ttl);
	if (!cluster_init(&c, s, 3, &profile_defaults, "main", run)) {
		record_failure(s, M_BOOT_STREAMING);
		return;
	}
	p = sc_bootstrap(&c, &writable, &streaming);
	if (writable >= 0) {
		record(s, M_BOOT_WRITABLE, writable);
		record(s, M_BOOT_STREAMING, streaming);
		say("    bootstrap: writable after %.2f s, all replicas streaming after %.2f s\n",
		    writable, streaming);
	} else {
		record_failure(s, M_BOOT_WRITABLE);
		record_failure(s, M_BOOT_STREAMING);
	}
	if (p >= 0 && want(SC_IDLE)) {
		double rss, anon, pss, cpu, zkr;
		if (sc_idle(&c, &rss, &anon, &pss, &cpu, &zkr)) {
			record(s, M_IDLE_RSS, rss);
			record(s, M_IDLE_ANON, anon);
			record(s, M_IDLE_PSS, pss);
			record(s, M_IDLE_CPU, cpu);
			record(s, M_IDLE_ZK, zkr);
			say("    idle %d s: %.1f MB resident (largest agent; %.1f MB anonymous), %.2f %% CPU "
			    "per agent, %.2f ZooKeeper requests/s per member\n",
			    opt.idle_s, rss, anon, cpu, zkr);
		} else {
			record_failure(s, M_IDLE_RSS);
		}
	}
	if (p >= 0 && want(SC_CRASH)) {
		v = sc_crash(&c, p);
		v >= 0 ? record(s, M_CRASH, v) : record_failure(s, M_CRASH);
		p = settle(&c, SETTLE_TIMEOUT_MS);
	}
	if (p >= 0 && want(SC_SWITCHOVER)) {
		harness_sleep_ms(1000);
		v = sc_switchover(&c, p);
		v >= 0 ? record(s, M_SWITCHOVER, v) : record_failure(s, M_SWITCHOVER);
		p = settle(&c, SETTLE_TIMEOUT_MS);
	}
	if (p >= 0 && want(SC_STOP)) {
		harness_sleep_ms(1000);
		v = sc_stop(&c, p, &rejoin);
		v >= 0 ? record(s, M_STOP, v) : record_failure(s, M_STOP);
		rejoin >= 0 ? record(s, M_REJOIN, rejoin) : record_failure(s, M_REJOIN);
		p = settle(&c, SETTLE_TIMEOUT_MS);
	}
	if (p >= 0 && want(SC_NODELOSS)) {
		harness_sleep_ms(1000);
		v = sc_nodeloss(&c, p, &lost);
		v >= 0 ? record(s, M_NODELOSS, v) : record_failure(s, M_NODELOSS);
		lost >= 0 ? record(s, M_LOST, (double) lost) : record_failure(s, M_LOST);
	}
	if (p < 0) {
		/* What the cycle could not get to counts as failed, not as absent. */
		static const struct { enum scenario sc; enum metric m; } later[] = {
			{ SC_IDLE, M_IDLE_RSS }, { SC_CRASH, M_CRASH }, { SC_SWITCHOVER, M_SWITCHOVER },
			{ SC_STOP, M_STOP }, { SC_NODELOSS, M_NODELOSS }, { SC_NODELOSS, M_LOST },
		};
		show_failure(&c, "the cycle");
		for (size_t k = 0; k < sizeof(later) / sizeof(later[0]); k++)
			if (want(later[k].sc) && results[s][later[k].m].n + results[s][later[k].m].failed < run)
				record_failure(s, later[k].m);
	}
	cluster_down(&c);
}

/* Node loss only, on a cluster of `members` with a profile. */
static void nodeloss_cycle(enum sys s, int run, int members, const struct profile *prof,
			   enum metric m, enum metric m_lost)
{
	struct bcluster c;
	double writable, streaming, v;
	long lost;
	char label[80];
	int p;

	snprintf(label, sizeof(label), "%s run %d/%d, %d members, ttl %d", sys_name[s], run, opt.runs,
		 members, prof->ttl);
	run_label = label;
	say("[%s] node loss\n", label);
	if (!cluster_init(&c, s, members, prof, prof == &profile_ttl20 ? "ttl20" : "scale", run)) {
		record_failure(s, m);
		return;
	}
	p = sc_bootstrap(&c, &writable, &streaming);
	if (p >= 0) {
		say("    bootstrap: writable after %.2f s, all %d replicas streaming after %.2f s\n",
		    writable, members - 1, streaming);
		if (m == M_SCALE8)
			record(s, M_SCALE8_BOOT, streaming);
		harness_sleep_ms(1000);
		v = sc_nodeloss(&c, p, &lost);
		v >= 0 ? record(s, m, v) : record_failure(s, m);
		if (m_lost != NMETRICS)
			lost >= 0 ? record(s, m_lost, (double) lost) : record_failure(s, m_lost);
	} else {
		record_failure(s, m);
	}
	cluster_down(&c);
}

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

static void fmt_value(char *out, size_t size, double v, const char *unit)
{
	if (strcmp(unit, "s") == 0)
		snprintf(out, size, "%.2f s", v);
	else if (strcmp(unit, "MB") == 0)
		snprintf(out, size, "%.1f MB", v);
	else if (strcmp(unit, "%") == 0)
		snprintf(out, size, "%.3f %%", v);
	else if (strcmp(unit, "/s") == 0)
		snprintf(out, size, "%.2f/s", v);
	else
		snprintf(out, size, "%g", v);
}

static void fmt_stats(char *out, size_t size, enum sys s, enum metric m)
{
	struct stats st = stats_of(s, m);
	char a[32], b[32], c[32];
	const char *unit = metric_info[m].unit;

	if (!st.ok) {
		snprintf(out, size, results[s][m].failed ? "failed (%d)" : "not run", results[s][m].failed);
		return;
	}
	fmt_value(a, sizeof(a), st.median, unit);
	fmt_value(b, sizeof(b), st.min, unit);
	fmt_value(c, sizeof(c), st.max, unit);
	if (m == M_LOST || m == M_LOST_TTL20)
		snprintf(out, size, "%g (%g–%g; %g in all)", st.median, st.min, st.max, st.sum);
	else
		snprintf(out, size, "%s (%s–%s)", a, b, c);
	if (results[s][m].failed)
		snprintf(out + strlen(out), size - strlen(out), ", %d failed", results[s][m].failed);
}

static void fmt_ratio(char *out, size_t size, enum metric m)
{
	struct stats a = stats_of(SYS_PATRONI, m), b = stats_of(SYS_PGHERD, m);

	if (!a.ok || !b.ok || b.median <= 0 || m == M_LOST || m == M_LOST_TTL20)
		snprintf(out, size, "–");
	else
		snprintf(out, size, "%.1f×", a.median / b.median);
}

/* The rows of the side-by-side table, in the order. */
static const enum metric table_rows[] = {
	M_BOOT_WRITABLE, M_BOOT_STREAMING, M_NODELOSS, M_NODELOSS_TTL20, M_CRASH, M_SWITCHOVER,
	M_STOP, M_REJOIN, M_IDLE_RSS, M_IDLE_ANON, M_IDLE_PSS, M_IDLE_CPU, M_IDLE_ZK, M_LOST, M_LOST_TTL20, M_SCALE2,
	M_SCALE8, M_SCALE8_BOOT,
};
#define NROWS (sizeof(table_rows) / sizeof(table_rows[0]))

static bool row_present(enum metric m)
{
	for (int s = 0; s < NSYS; s++)
		if (results[s][m].n || results[s][m].failed)
			return true;
	return false;
}

/* The en dash and the multiplication sign as ASCII, for aligned columns. */
static char *ascii(char *s)
{
	char *out = s;

	for (char *in = s; *in;) {
		if (strncmp(in, "\u2013", strlen("\u2013")) == 0) {
			*out++ = '-';
			in += strlen("\u2013");
		} else if (strncmp(in, "\u00d7", strlen("\u00d7")) == 0) {
			*out++ = 'x';
			in += strlen("\u00d7");
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return s;
}

static void print_table(FILE *f, bool markdown)
{
	char a[200], b[200], r[32];

	if (markdown) {
		fprintf(f, "| scenario | what is measured | pgherd | Patroni 3.0.2 | Patroni / pgherd |\n");
		fprintf(f, "|---|---|---|---|---|\n");
	} else {
		fprintf(f, "%-21s %-56s %-30s %-30s %s\n", "scenario", "measure", "pgherd",
			"Patroni 3.0.2", "Patroni/pgherd");
	}
	for (size_t k = 0; k < NROWS; k++) {
		enum metric m = table_rows[k];
		if (!row_present(m))
			continue;
		fmt_stats(a, sizeof(a), SYS_PGHERD, m);
		fmt_stats(b, sizeof(b), SYS_PATRONI, m);
		fmt_ratio(r, sizeof(r), m);
		if (markdown)
			fprintf(f, "| %s | %s | %s | %s | %s |\n", metric_info[m].scenario,
				metric_info[m].measure, a, b, r);
		else
			fprintf(f, "%-21s %-56.56s %-30s %-30s %s\n", metric_info[m].scenario,
				metric_info[m].measure, ascii(a), ascii(b), ascii(r));
	}
}

enum verdict { V_NOT_RUN, V_MET, V_MEDIAN_ONLY, V_NOT_MET };
static const char *const verdict_text[] = {
	"not measured", "**met**", "met by the median, not in every run", "**not met**",
};

struct target {
	const char *text;
	char figure[256];
	enum verdict verdict;
};

/* A target "value <= limit" on every run (the worst), with the median. */
static enum verdict upper_bound(enum sys s, enum metric m, double limit, bool strict, char *figure,
				size_t size)
{
	struct stats st = stats_of(s, m);
	char med[32], worst[32];

	if (!st.ok) {
		snprintf(figure, size, "no sample");
		return V_NOT_RUN;
	}
	fmt_value(med, sizeof(med), st.median, metric_info[m].unit);
	fmt_value(worst, sizeof(worst), st.max, metric_info[m].unit);
	snprintf(figure, size, "median %s, worst %s of %d runs%s", med, worst, st.n,
		 results[s][m].failed ? " (some runs failed)" : "");
	if (results[s][m].failed)
		return V_NOT_MET;
	if (strict ? st.max < limit : st.max <= limit)
		return V_MET;
	if (strict ? st.median < limit : st.median <= limit)
		return V_MEDIAN_ONLY;
	return V_NOT_MET;
}

static int build_targets(struct target *t)
{
	int n = 0;
	struct stats a, b;
	double session_s = profile_defaults.ttl / 3.0;
	double session20_s = profile_ttl20.ttl / 3.0;

	t[n].text = "node loss within the session timeout (ttl/3 = 10 s) plus one second";
	t[n].verdict = upper_bound(SYS_PGHERD, M_NODELOSS, session_s + 1.0, false, t[n].figure,
				   sizeof(t[n].figure));
	n++;

	t[n].text = "node loss at least 2.5 times faster than Patroni's defaults";
	a = stats_of(SYS_PATRONI, M_NODELOSS);
	b = stats_of(SYS_PGHERD, M_NODELOSS);
	if (a.ok && b.ok) {
		double ratio = a.median / b.median;
		snprintf(t[n].figure, sizeof(t[n].figure),
			 "%.1f× (Patroni median %.2f s / pgherd median %.2f s; against Patroni's own "
			 "29 s: %.1f×)",
			 ratio, a.median, b.median, 29.0 / b.median);
		t[n].verdict = ratio >= 2.5 ? V_MET : V_NOT_MET;
	} else {
		snprintf(t[n].figure, sizeof(t[n].figure), "not both measured");
		t[n].verdict = V_NOT_RUN;
	}
	n++;

	for (int k = 0; k < 2; k++) {
		enum metric m = k == 0 ? M_NODELOSS : M_NODELOSS_TTL20;
		t[n].text = k == 0 ? "at an equal ttl (30, both defaults), node loss faster than Patroni in every run"
				   : "at an equal ttl (20), node loss faster than Patroni in every run";
		a = stats_of(SYS_PATRONI, m);
		b = stats_of(SYS_PGHERD, m);
		if (a.ok && b.ok) {
			snprintf(t[n].figure, sizeof(t[n].figure),
				 "pgherd's slowest %.2f s, Patroni's fastest %.2f s", b.max, a.min);
			t[n].verdict = b.max < a.min && !results[SYS_PGHERD][m].failed ? V_MET : V_NOT_MET;
		} else {
			snprintf(t[n].figure, sizeof(t[n].figure), "not both measured");
			t[n].verdict = V_NOT_RUN;
		}
		n++;
	}

	t[n].text = "node loss at ttl 20 within its session timeout (6.67 s) plus one second";
	t[n].verdict = upper_bound(SYS_PGHERD, M_NODELOSS_TTL20, session20_s + 1.0, false,
				   t[n].figure, sizeof(t[n].figure));
	n++;

	t[n].text = "postmaster crash: writable again within 2 s";
	t[n].verdict = upper_bound(SYS_PGHERD, M_CRASH, 2.0, false, t[n].figure, sizeof(t[n].figure));
	n++;
	t[n].text = "switchover write gap under 1 s";
	t[n].verdict = upper_bound(SYS_PGHERD, M_SWITCHOVER, 1.0, true, t[n].figure,
				   sizeof(t[n].figure));
	n++;
	t[n].text = "graceful stop write gap under 1 s";
	t[n].verdict = upper_bound(SYS_PGHERD, M_STOP, 1.0, true, t[n].figure, sizeof(t[n].figure));
	n++;
	t[n].text = "all replicas streaming within 5 s of start";
	t[n].verdict = upper_bound(SYS_PGHERD, M_BOOT_STREAMING, 5.0, false, t[n].figure,
				   sizeof(t[n].figure));
	n++;
	t[n].text = "under 5 MB resident per agent";
	t[n].verdict = upper_bound(SYS_PGHERD, M_IDLE_RSS, 5.0, true, t[n].figure,
				   sizeof(t[n].figure));
	n++;

	t[n].text = "no acknowledged write lost (node-loss runs, ttl 30 and ttl 20)";
	a = stats_of(SYS_PGHERD, M_LOST);
	b = stats_of(SYS_PGHERD, M_LOST_TTL20);
	if (a.ok || b.ok) {
		double total = (a.ok ? a.sum : 0) + (b.ok ? b.sum : 0);
		int runs = a.n + b.n;
		int failed = results[SYS_PGHERD][M_LOST].failed + results[SYS_PGHERD][M_LOST_TTL20].failed;
		snprintf(t[n].figure, sizeof(t[n].figure), "%g lost in %d runs%s", total, runs,
			 failed ? " (some runs could not be checked)" : "");
		t[n].verdict = total == 0 && !failed ? V_MET : V_NOT_MET;
	} else {
		snprintf(t[n].figure, sizeof(t[n].figure), "no sample");
		t[n].verdict = V_NOT_RUN;
	}
	n++;

	t[n].text = "node loss with 8 replicas within 1.2 times that with 2";
	a = stats_of(SYS_PGHERD, M_SCALE8);
	b = stats_of(SYS_PGHERD, M_SCALE2);
	if (a.ok && b.ok) {
		double ratio = a.median / b.median;
		snprintf(t[n].figure, sizeof(t[n].figure), "%.2f× (medians %.2f s and %.2f s)", ratio,
			 a.median, b.median);
		t[n].verdict = ratio <= 1.2 ? V_MET : V_NOT_MET;
	} else {
		snprintf(t[n].figure, sizeof(t[n].figure), "not measured");
		t[n].verdict = V_NOT_RUN;
	}
	n++;
	return n;
}

static void print_raw(FILE *f)
{
	for (int s = 0; s < NSYS; s++)
		for (int m = 0; m < NMETRICS; m++) {
			const struct samples *x = &results[s][m];
			if (!x->n && !x->failed)
				continue;
			fprintf(f, "- %s, %s, %s:", sys_name[s], metric_info[m].scenario,
				metric_info[m].measure);
			for (int i = 0; i < x->n; i++)
				fprintf(f, "%s%.3f", i ? ", " : " ", x->v[i]);
			if (x->failed)
				fprintf(f, "; %d failed", x->failed);
			fprintf(f, "\n");
		}
}

struct machine {
	char date[64], cpu[128], kernel[160], os[128], pg[128], patroni[64], kazoo[64],
	     zookeeper[128], pgherd[64], commit[96], load_start[64], load_end[64];
	long cores;
	double mem_gb;
	int64_t started_ms;
};

static struct machine machine;
static double load_min = -1, load_max = -1;

/* The 1-minute load average, sampled at every cluster's start and end. */
static void sample_load(void)
{
	char buf[128];
	double load;

	if (!read_file("/proc/loadavg", buf, sizeof(buf)))
		return;
	load = strtod(buf, NULL);
	if (load_min < 0 || load < load_min)
		load_min = load;
	if (load > load_max)
		load_max = load;
}

static void machine_info(void)
{
	char buf[8192], cmd[PATH_MAX + 512];
	const char *p;
	struct utsname u;
	time_t now = time(NULL);

	strftime(machine.date, sizeof(machine.date), "%Y-%m-%d %H:%M %Z", localtime(&now));
	if (read_file("/proc/cpuinfo", buf, sizeof(buf)) && (p = strstr(buf, "model name"))) {
		p = strchr(p, ':');
		if (p)
			snprintf(machine.cpu, sizeof(machine.cpu), "%.*s", (int) strcspn(p + 2, "\n"), p + 2);
	}
	machine.cores = sysconf(_SC_NPROCESSORS_ONLN);
	if (read_file("/proc/meminfo", buf, sizeof(buf)) && (p = strstr(buf, "MemTotal:")))
		machine.mem_gb = (double) strtol(p + 9, NULL, 10) / 1024.0 / 1024.0;
	if (uname(&u) == 0)
		snprintf(machine.kernel, sizeof(machine.kernel), "%s %s", u.sysname, u.release);
	if (read_file("/etc/os-release", buf, sizeof(buf)) && (p = strstr(buf, "PRETTY_NAME=\""))) {
		p += strlen("PRETTY_NAME=\"");
		snprintf(machine.os, sizeof(machine.os), "%.*s", (int) strcspn(p, "\"\n"), p);
	}
	snprintf(cmd, sizeof(cmd), "%s/postgres --version 2>/dev/null", harness_pg_bindir());
	command_line(cmd, machine.pg, sizeof(machine.pg));
	command_line("/usr/bin/patroni --version 2>/dev/null", machine.patroni, sizeof(machine.patroni));
	command_line("dpkg-query -W -f='${Version}' python3-kazoo 2>/dev/null", machine.kazoo,
		     sizeof(machine.kazoo));
	snprintf(cmd, sizeof(cmd), "%s/pgherd --version 2>/dev/null", build_dir);
	command_line(cmd, machine.pgherd, sizeof(machine.pgherd));
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && echo \"$(git rev-parse --short HEAD 2>/dev/null)$(test -n \"$(git status "
		 "--porcelain 2>/dev/null)\" && echo ' with uncommitted changes')\"",
		 repo_root);
	command_line(cmd, machine.commit, sizeof(machine.commit));
	if (read_file("/proc/loadavg", buf, sizeof(buf)))
		snprintf(machine.load_start, sizeof(machine.load_start), "%.*s", 14, buf);
}

static void zookeeper_version(void)
{
	char buf[4096];
	const char *p;

	if (harness_zk_4lw(zk.server[0].client_port, "srvr", buf, sizeof(buf), 3000) &&
	    (p = strstr(buf, "Zookeeper version: "))) {
		p += strlen("Zookeeper version: ");
		snprintf(machine.zookeeper, sizeof(machine.zookeeper), "%.*s", (int) strcspn(p, "-,\n"), p);
	}
}

static void write_markdown(const char *path, const char *sample_config)
{
	FILE *f = fopen(path, "w");
	struct target targets[16];
	int ntargets = build_targets(targets);
	int64_t minutes = (harness_now_ms() - machine.started_ms) / 60000;

	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "# Benchmarks: pgherd and Patroni\n\n");
	fprintf(f, "<!-- Written by build/bench (test/bench/bench.c); a new run replaces this file. -->\n\n");
	fprintf(f, "Produced by one run of\n\n    %s\n\n", opt.command);
	fprintf(f, "on %s; it took %lld min. `make bench` builds and runs `$(BUILD)/bench "
		   "$(BENCH_ARGS)`, by default `build/bench --out docs/benchmarks.md`; `--note` only adds "
		   "a line to this file.\n\n", machine.date, (long long) minutes);

	fprintf(f, "## Machine and settings\n\n");
	fprintf(f, "- Machine: %s, %ld cores, %.1f GB RAM; %s; %s.\n", machine.cpu, machine.cores,
		machine.mem_gb, machine.os, machine.kernel);
	fprintf(f, "- Load average (1, 5, 15 min) at the start: %s; at the end: %s; the 1-minute "
		   "load average, sampled as each cluster started and stopped, went from %.2f to %.2f "
		   "(%ld cores).\n",
		machine.load_start, machine.load_end, load_min, load_max, machine.cores);
	if (opt.note)
		fprintf(f, "- %s\n", opt.note);
	fprintf(f, "- %s (commit %s); %s (Debian package) with python3-kazoo %s; %s; "
		   "ZooKeeper %s.\n",
		machine.pgherd, machine.commit, machine.patroni, machine.kazoo, machine.pg,
		machine.zookeeper);
	fprintf(f,
		"- One standalone ZooKeeper server for the whole run, shared by both systems, as the "
		"test harness starts it (`tickTime=100`, `minSessionTimeout=200`, "
		"`maxSessionTimeout=60000`, `forceSync=no`). Each cluster has its own `scope`, and "
		"only one cluster runs at a time: pgherd and Patroni runs alternate.\n");
	fprintf(f,
		"- Every member of every cluster reads one generated Patroni YAML (example below): "
		"pgherd reads it as is (it warns that it ignores `postgresql.pgpass`), Patroni runs as "
		"the `postgres` user (`/usr/bin/patroni <file>`). Same PostgreSQL settings, same "
		"`bootstrap.dcs` on both sides. `ttl 30, loop_wait 10, retry_timeout 10` are both "
		"systems' defaults; pgherd's ZooKeeper session timeout is then its default ttl/3 = 10 s, "
		"Patroni's is ttl = 30 s.\n");
	fprintf(f,
		"- The equal-ttl comparison at a lower ttl uses `ttl 20, loop_wait 10, "
		"retry_timeout 5`: 20 s is the lowest ttl current Patroni accepts (3.1 and later enforce "
		"ttl >= 20; 3.0.2 does not), retry_timeout is lowered to keep Patroni's rule "
		"`loop_wait + 2 * retry_timeout <= ttl`. pgherd's session timeout is then 6.67 s.\n");
	fprintf(f, "- %d run%s of each scenario per system (each figure: median, then min–max), "
		   "idle window %d s.\n\n", opt.runs, opt.runs == 1 ? "" : "s", opt.idle_s);

	fprintf(f, "## Results\n\n");
	print_table(f, true);
	fprintf(f, "\nSwitchover: pgherd through %s; Patroni through %s.\n\n",
		switchover_method[SYS_PGHERD][0] ? switchover_method[SYS_PGHERD] : "(not run)",
		switchover_method[SYS_PATRONI][0] ? switchover_method[SYS_PATRONI] : "(not run)");

	fprintf(f, "## Targets (issue 5)\n\n");
	fprintf(f, "Judged on every run (the worst one) unless the target says otherwise.\n\n");
	fprintf(f, "| target | figure | result |\n|---|---|---|\n");
	for (int i = 0; i < ntargets; i++)
		fprintf(f, "| %s | %s | %s |\n", targets[i].text, targets[i].figure,
			verdict_text[targets[i].verdict]);
	fprintf(f,
		"\nPatroni's own figures quoted in the issue, with its defaults: node loss about 29 s, "
		"postmaster crash 6.6 to 10 s, switchover gap 1.2 to 11.7 s, all replicas streaming 16 "
		"to 18 s after start, about 37 MB per agent.\n\n");

	fprintf(f, "## How each figure is measured\n\n");
	fprintf(f,
		"All from a client's side, with libpq over TCP to each member's PostgreSQL (one "
		"connection per member, re-opened when it breaks; after a postmaster is killed only "
		"fresh connections count). \"Accepts a write\" means an `INSERT` into a table "
		"`bench_w` committed.\n\n"
		"- **bootstrap**: all members' agents start at once on empty data directories; the "
		"time until a member accepts a write (the first write creates `bench_w`), and until "
		"the primary's `pg_stat_replication` shows every other member `streaming`.\n"
		"- **cycle**: after the bootstrap, the same cluster goes through idle cost, postmaster "
		"crash, switchover, graceful stop (then the stopped agent starts again and its member "
		"rejoins) and node loss, in that order. Before each step the cluster is settled: one "
		"primary, every other member streaming from it, and `GET /cluster` on the primary's "
		"agent shows every member running and the primary as leader; then 1 s passes.\n"
		"- **idle cost**: 3 s after the bootstrap settles, over %d s with nothing else "
		"running: resident memory (`VmRSS`) of each agent process (Patroni: the Python process, "
		"plus any helper process either agent runs that is not PostgreSQL, such as pgherd's watchdog; "
		"their `VmRSS` are added, so pages they share count twice), its proportional share (`Pss` of "
		"`/proc/<pid>/smaps_rollup`, the same processes: a page mapped by n processes counts 1/n), CPU "
		"(the time on a CPU of all its threads, `/proc/<pid>/task/*/schedstat`) and ZooKeeper's `zk_packets_received` "
		"(`mntr`) divided by the window and the members (pings included).\n"
		"- **postmaster crash**: a client commits every %d ms; `kill -9` of the primary's "
		"postmaster; the time until a commit succeeds again on any member.\n"
		"- **switchover**: the client commits every %d ms; the switchover command runs; the "
		"write gap is the longest time without a commit, from 1 s before the command until "
		"the commits have stayed %d ms on another member and the command has exited.\n"
		"- **graceful stop**: the same, with SIGTERM to the primary's agent instead of the "
		"command.\n"
		"- **node loss**: a client commits back to back for 1.5 s; then the primary's "
		"PostgreSQL (postmaster and every process it forked) is frozen with SIGSTOP, its agent "
		"gets `kill -9`, then the PostgreSQL processes get `kill -9`: the node is gone at one "
		"instant. The time until another member takes a commit (tried every %d ms).\n"
		"- **writes lost**: after each node loss, the ids whose commit the old primary "
		"acknowledged and that the new primary does not have (asynchronous replication, "
		"as both systems run by default).\n"
		"- **scale**: node loss alone on clusters of 3 and of 9 members (2 and 8 replicas), "
		"each bootstrapped for the run, same settings (ttl 30), both systems.\n\n",
		opt.idle_s, PACE_MS, PACE_MS, MOVED_STREAK_MS, PACE_MS);

	fprintf(f, "## Raw samples (seconds, MB, %%, requests/s or commits; in run order)\n\n");
	print_raw(f);
	fprintf(f, "\n## The generated configuration (member node1 of a three-member cluster)\n\n");
	fprintf(f, "```yaml\n%s```\n", sample_config);
	fclose(f);
	say("wrote %s\n", path);
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench [--runs N] [--quick] [--only SCENARIO[,SCENARIO...]] [--system "
		"pgherd|patroni|both]\n"
		"             [--idle SECONDS] [--note TEXT] [--out FILE]\n"
		"scenarios: bootstrap idle crash switchover stop nodeloss ttl20 scale\n"
		"(bootstrap always runs: every scenario starts from a fresh cluster)\n");
}

static bool parse_only(const char *list)
{
	char copy[256];
	char *save = NULL;

	snprintf(copy, sizeof(copy), "%s", list);
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		bool found = false;
		for (int s = 0; s < NSCENARIOS; s++)
			if (strcmp(tok, scenario_name[s]) == 0 ||
			    (strcmp(tok, "lost") == 0 && s == SC_NODELOSS))
				opt.only[s] = found = true;
		if (!found) {
			fprintf(stderr, "bench: unknown scenario %s\n", tok);
			return false;
		}
	}
	opt.only_given = true;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'r' }, { "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' }, { "out", required_argument, NULL, 'O' },
		{ "system", required_argument, NULL, 's' }, { "idle", required_argument, NULL, 'i' },
		{ "note", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, runs = 0, idle = 0;
	char sample_config[4096] = "";
	size_t used = 0;

	opt.sys[SYS_PGHERD] = opt.sys[SYS_PATRONI] = true;
	for (int i = 0; i < argc && used < sizeof(opt.command); i++) {
		bool quote = argv[i][0] == '\0' || strpbrk(argv[i], " \t\"'$`\\;&|<>()*?") != NULL;
		used += (size_t) snprintf(opt.command + used, sizeof(opt.command) - used, "%s%s%s%s",
					  i ? " " : "", quote ? "'" : "", argv[i], quote ? "'" : "");
	}
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			runs = atoi(optarg);
			if (runs < 1 || runs > MAXRUNS) {
				fprintf(stderr, "bench: --runs from 1 to %d\n", MAXRUNS);
				return 64;
			}
			break;
		case 'q':
			opt.quick = true;
			break;
		case 'o':
			if (!parse_only(optarg))
				return 64;
			break;
		case 'O':
			opt.out = optarg;
			break;
		case 's':
			opt.sys[SYS_PGHERD] = strcmp(optarg, "patroni") != 0;
			opt.sys[SYS_PATRONI] = strcmp(optarg, "pgherd") != 0;
			break;
		case 'i':
			idle = atoi(optarg);
			break;
		case 'n':
			opt.note = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	opt.runs = runs ? runs : opt.quick ? 2 : 5;
	opt.idle_s = idle > 0 ? idle : opt.quick ? 10 : 60;

	locate();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/usr/bin/patroni", X_OK) != 0 && opt.sys[SYS_PATRONI]) {
		fprintf(stderr, "bench: /usr/bin/patroni is missing (apt-get install patroni "
				"python3-kazoo)\n");
		return 2;
	}
	if (!harness_setup())
		return 2;
	install_emergency();
	machine.started_ms = harness_now_ms();
	machine_info();
	{
		char agent_path[PATH_MAX + 16];
		snprintf(agent_path, sizeof(agent_path), "%s/pgherd", build_dir);
		pgherd_binary = harness_install_binary(agent_path);
		/* Copies: a rebuild during the run must not change what runs. */
		snprintf(agent_path, sizeof(agent_path), "%s/pgherdctl", build_dir);
		const char *ctl = harness_install_binary(agent_path);
		if (!pgherd_binary || !ctl)
			return 2;
		snprintf(pgherdctl_path, sizeof(pgherdctl_path), "%s", ctl);
	}
	if (!harness_zk_start(1, &zk)) {
		fprintf(stderr, "bench: ZooKeeper did not start\n");
		return 2;
	}
	zookeeper_version();
	say("bench: %d runs per scenario, idle window %d s, run directory %s, ZooKeeper %s\n",
	    opt.runs, opt.idle_s, harness_run_dir(), zk.connect_string);

	/* The configuration both systems read, as it looks for one member. */
	{
		struct bcluster c;
		if (cluster_init(&c, SYS_PGHERD, 3, &profile_defaults, "example", 1)) {
			const char *text = NULL;
			char buf[4096];
			if (read_file(c.m[0].config_path, buf, sizeof(buf)))
				text = buf;
			snprintf(sample_config, sizeof(sample_config), "%s", text ? text : "");
		}
	}

	bool main_wanted = want(SC_BOOTSTRAP) || want(SC_IDLE) || want(SC_CRASH) ||
			   want(SC_SWITCHOVER) || want(SC_STOP) || want(SC_NODELOSS);
	for (int run = 1; main_wanted && run <= opt.runs; run++)
		for (int s = 0; s < NSYS; s++)
			if (opt.sys[s])
				main_cycle((enum sys) s, run);
	for (int run = 1; want(SC_TTL20) && run <= opt.runs; run++)
		for (int s = 0; s < NSYS; s++)
			if (opt.sys[s])
				nodeloss_cycle((enum sys) s, run, 3, &profile_ttl20, M_NODELOSS_TTL20,
					       M_LOST_TTL20);
	for (int run = 1; want(SC_SCALE) && run <= opt.runs; run++)
		for (int s = 0; s < NSYS; s++)
			if (opt.sys[s]) {
				nodeloss_cycle((enum sys) s, run, 3, &profile_defaults, M_SCALE2, NMETRICS);
				nodeloss_cycle((enum sys) s, run, 9, &profile_defaults, M_SCALE8, NMETRICS);
			}

	{
		char buf[128];
		if (read_file("/proc/loadavg", buf, sizeof(buf)))
			snprintf(machine.load_end, sizeof(machine.load_end), "%.*s", 14, buf);
	}
	say("\n");
	print_table(stdout, false);
	{
		struct target t[16];
		int n = build_targets(t);
		say("\ntargets:\n");
		for (int i = 0; i < n; i++)
			say("  %-80s %s: %s\n", t[i].text, verdict_text[t[i].verdict], t[i].figure);
	}
	if (opt.out)
		write_markdown(opt.out, sample_config);
	harness_teardown();
	return 0;
}
