/*
 * The chaos suite's engine; see engine.h and docs/chaos.md.
 */
#include "test/chaos/engine.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <zookeeper/zookeeper.h>

#include "test/chaos/partition.h"
#include "test/harness/harness.h"
#include "test/harness/zk_client.h"
#include "test/scenario/agents.h"
#include "test/scenario/http_client.h"

#define MEMBERS 3
#define ZK_SERVERS 3
#define SCOPE "chaos"
#define BASE "/service/" SCOPE
#define SETTLE_MS 90000
/* When the cluster has not settled by then, reset_stragglers(). */
#define RESET_AFTER_MS 20000
#define BOOT_MS 90000
/* A member is "writable now" when its last write attempt succeeded this
 * recently. */
#define FRESH_MS 400
#define MAX_ROUNDS 1000
/* How long the writer waits for a commit, and the detector for a probe,
 * before giving up on it (not acknowledged, not writable). */
#define WRITE_TIMEOUT_MS 1000
#define PROBE_TIMEOUT_MS 700
/* Every session of the writer and the detector: our statements stay out of
 * the server log (a probe of a replica fails every time, and the agent
 * copies the server log into its own), and the server cancels a statement
 * a while after the client gave up on it.  In synchronous mode a commit
 * waits for its standby; one the client abandoned would otherwise hold a
 * backend until a standby answers (forever in strict mode with none left),
 * and a few seconds of those fill max_connections.  A commit whose wait is
 * cancelled returns success with a warning (see watch_notices): later than
 * the client waits, and never counted as acknowledged. */
#define SESSION_SETUP "SET log_min_messages = fatal; SET statement_timeout = 2000"
/* synchronous_node_count in synchronous mode. */
#define SYNC_NODE_COUNT 1

/* --- what the fault names mean ------------------------------------------ */

static const struct {
	const char *name;
	const char *title;
	bool keeps_primary;
} faults[CHAOS_FAULT_COUNT] = {
	[CHAOS_PARTITION_PRIMARY_ZK] = { "partition-primary-zk",
		"the primary's member cut off from ZooKeeper", false },
	[CHAOS_PARTITION_REPLICA] = { "partition-replica",
		"a replica cut off from ZooKeeper and the other members", true },
	[CHAOS_PARTITION_ZK_LEADER] = { "partition-zk-leader",
		"the ZooKeeper leader cut off from its peers and clients", true },
	[CHAOS_ZK_LEADER_LOSS] = { "zk-leader-loss",
		"kill -9 of the ZooKeeper leader, restarted later", true },
	[CHAOS_ZK_MAJORITY_LOSS] = { "zk-majority-loss",
		"kill -9 of 2 of 3 ZooKeeper servers for longer than the session", false },
	[CHAOS_STOP_PRIMARY_AGENT] = { "stop-primary-agent",
		"SIGSTOP of the primary's agent for longer than the session", false },
	[CHAOS_STOP_PRIMARY_POSTMASTER] = { "stop-primary-postmaster",
		"SIGSTOP of the primary's postmaster (a hung primary)", false },
	[CHAOS_STOP_ZOOKEEPER] = { "stop-zookeeper",
		"SIGSTOP of every ZooKeeper server for longer than the session", false },
	[CHAOS_KILL_PRIMARY_AGENT] = { "kill-primary-agent",
		"kill -9 of the primary's agent, restarted 1 s later", true },
	[CHAOS_KILL_PRIMARY_POSTMASTER] = { "kill-primary-postmaster",
		"kill -9 of the primary's postmaster", true },
	[CHAOS_KILL_PRIMARY_NODE] = { "kill-primary-node",
		"kill -9 of the primary's agent and postmaster, restarted later", false },
	[CHAOS_KILL_REPLICA_AGENT] = { "kill-replica-agent",
		"kill -9 of a replica's agent, restarted 1 s later", true },
	[CHAOS_KILL_REPLICA_POSTMASTER] = { "kill-replica-postmaster",
		"kill -9 of a replica's postmaster", true },
	[CHAOS_KILL_REPLICA_NODE] = { "kill-replica-node",
		"kill -9 of a replica's agent and postmaster, restarted later", true },
	[CHAOS_RESTART_MID_FAILOVER] = { "restart-mid-failover",
		"primary's node killed; the member taking over killed and restarted mid-way", false },
};

const char *chaos_fault_name(enum chaos_fault fault)
{
	return fault < CHAOS_FAULT_COUNT ? faults[fault].name : "?";
}

const char *chaos_fault_title(enum chaos_fault fault)
{
	return fault < CHAOS_FAULT_COUNT ? faults[fault].title : "?";
}

int chaos_fault_by_name(const char *name)
{
	for (int i = 0; i < CHAOS_FAULT_COUNT; i++)
		if (strcmp(faults[i].name, name) == 0)
			return i;
	return -1;
}

bool chaos_fault_keeps_primary(enum chaos_fault fault)
{
	return fault < CHAOS_FAULT_COUNT && faults[fault].keeps_primary;
}

/* --- state -------------------------------------------------------------- */

struct observation {
	int64_t start, end;
	bool ok;
};

struct observations {
	struct observation *v;
	size_t n, cap;
};

struct write {
	int64_t start, end;		/* monotonic ms around the statement */
	int member;
	bool acked;
	uint32_t timeline;
	int64_t lsn;			/* pg_current_wal_insert_lsn() in the transaction */
	int lost_round;			/* 0: not (yet) found missing */
};

struct member {
	struct test_agent agent;
	char group[16];			/* cgroup, "node1" */
	char data_dir[HARNESS_PATH_MAX];
	char conninfo[HARNESS_PATH_MAX + 128];
	off_t log_offset;		/* where the current round's records begin */
	bool killed;			/* we killed its agent and have not restarted it */
	/* The detector's latest result. */
	int64_t last_end;
	bool last_ok;
};

struct chaos {
	struct chaos_config config;
	FILE *out;
	struct harness_zk zk;
	char zk_group[ZK_SERVERS][16];
	struct zk_client *client;
	struct member m[MEMBERS];
	const char *agent_binary;
	int session_ms;
	int primary;
	unsigned rng;

	pthread_mutex_t lock;
	atomic_bool stopping;
	bool threads_running;
	pthread_t writer, detector[MEMBERS];
	struct observations obs[MEMBERS];
	struct write *writes;
	size_t n_writes, cap_writes;
	int writer_member;		/* where the writer's connection is, -1 */
	bool synchronous, strict;	/* synchronous mode is on (the `config` znode says so) */
	int sync_standby;		/* the one `sync` named when the last round settled, -1 */

	int64_t window_start;		/* start of the next round */
	struct chaos_round rounds[MAX_ROUNDS];
	int n_rounds;
	long lost_after_rounds;		/* found by chaos_finish() */
	bool finished;
};

/* --- output ------------------------------------------------------------- */

static void say(struct chaos *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct chaos *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
	fflush(c->out);
}

static void step(struct chaos *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void step(struct chaos *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->config.verbose)
		return;
	va_start(ap, fmt);
	fprintf(c->out, "        %7.1f s  ", (double) (harness_now_ms() - c->window_start) / 1000.0);
	vfprintf(c->out, fmt, ap);
	va_end(ap);
	fputc('\n', c->out);
	fflush(c->out);
}

static void add_detail(struct chaos_round *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_detail(struct chaos_round *r, const char *fmt, ...)
{
	size_t used = strlen(r->detail);
	va_list ap;

	if (used + 3 >= sizeof(r->detail))
		return;
	if (used)
		used += (size_t) snprintf(r->detail + used, sizeof(r->detail) - used, "; ");
	va_start(ap, fmt);
	vsnprintf(r->detail + used, sizeof(r->detail) - used, fmt, ap);
	va_end(ap);
}

static unsigned next_random(struct chaos *c)
{
	/* xorshift32: reproducible with the seed on every libc. */
	unsigned x = c->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	c->rng = x ? x : 0x9e3779b9u;
	return c->rng;
}

/* --- libpq with deadlines (any thread) ------------------------------------ */

static bool wait_socket(PGconn *conn, bool for_write, int64_t deadline)
{
	struct pollfd pfd = { .fd = PQsocket(conn), .events = for_write ? POLLOUT : POLLIN };
	int64_t left = deadline - harness_now_ms();

	if (pfd.fd < 0 || left <= 0)
		return false;
	for (;;) {
		int r = poll(&pfd, 1, (int) left);
		if (r > 0)
			return true;
		if (r == 0 || errno != EINTR)
			return false;
		left = deadline - harness_now_ms();
		if (left <= 0)
			return false;
	}
}

/* "terminating connection due to immediate shutdown" and the like are
 * expected here: not for the output. */
static void quiet_notices(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

/* PostgreSQL answers a commit whose wait for a synchronous standby was
 * cancelled (statement_timeout, a cancel request) or cut short (the backend
 * terminated) with this warning: it is committed locally only, perhaps on
 * no standby, so it is no acknowledgement in synchronous mode.  arg: a bool
 * the caller resets before each statement. */
static void watch_notices(void *arg, const char *message)
{
	bool *sync_wait_cancelled = arg;

	if (strstr(message, "wait for synchronous replication"))
		*sync_wait_cancelled = true;
}

static PGconn *connect_deadline(const char *conninfo, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	PGconn *conn = PQconnectStart(conninfo);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!conn)
		return NULL;
	if (PQstatus(conn) == CONNECTION_BAD)
		goto fail;
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED)
			goto fail;
		if (!wait_socket(conn, st == PGRES_POLLING_WRITING, deadline))
			goto fail;
		st = PQconnectPoll(conn);
	}
	PQsetNoticeProcessor(conn, quiet_notices, NULL);
	return conn;
fail:
	PQfinish(conn);
	return NULL;
}

/* The last result of sql, or NULL on error or timeout (*broken then says
 * whether the connection is unusable). */
static PGresult *exec_deadline(PGconn *conn, const char *sql, int timeout_ms, bool *broken)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	PGresult *last = NULL;

	*broken = false;
	if (!PQsendQuery(conn, sql)) {
		*broken = PQstatus(conn) != CONNECTION_OK;
		return NULL;
	}
	for (;;) {
		if (!PQconsumeInput(conn)) {
			*broken = true;
			PQclear(last);
			return NULL;
		}
		while (!PQisBusy(conn)) {
			PGresult *r = PQgetResult(conn);
			if (!r)
				return last;
			PQclear(last);
			last = r;
		}
		if (!wait_socket(conn, false, deadline)) {
			*broken = true;	/* timed out: abandon the connection */
			PQclear(last);
			return NULL;
		}
	}
}

static bool result_ok(const PGresult *r)
{
	return r && (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK);
}

/* One statement on a fresh connection (main thread): the first value of the
 * first row goes to out. */
static bool member_sql(const struct chaos *c, int i, const char *sql, char *out, size_t size,
		       int timeout_ms)
{
	PGconn *conn = connect_deadline(c->m[i].conninfo, timeout_ms);
	PGresult *r;
	bool broken, ok;

	if (out && size)
		out[0] = '\0';
	if (!conn)
		return false;
	r = exec_deadline(conn, sql, timeout_ms, &broken);
	ok = result_ok(r);
	if (ok && out && size && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		snprintf(out, size, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(conn);
	return ok;
}

/* --- observations --------------------------------------------------------- */

/* A growing array with room for one more element (doubling, from
 * `initial`): the array to use from now on, or NULL when out of memory
 * (the old one is then unchanged). */
static void *grow_array(void *array, size_t *cap, size_t n, size_t size, size_t initial)
{
	size_t new_cap;
	void *grown;

	if (n < *cap)
		return array;
	new_cap = *cap ? *cap * 2 : initial;
	if ((grown = realloc(array, new_cap * size)) != NULL)
		*cap = new_cap;
	return grown;
}

static void observe(struct chaos *c, int member, int64_t start, int64_t end, bool ok)
{
	struct observations *o = &c->obs[member];

	pthread_mutex_lock(&c->lock);
	struct observation *v = grow_array(o->v, &o->cap, o->n, sizeof(*o->v), 4096);
	if (!v) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	o->v = v;
	o->v[o->n++] = (struct observation){ start, end, ok };
	pthread_mutex_unlock(&c->lock);
}

/* Members whose last write attempt (writer's or detector's) succeeded
 * within FRESH_MS; their count, and the first in *which. */
static int writable_now(struct chaos *c, int *which)
{
	int64_t now = harness_now_ms();
	int count = 0;

	*which = -1;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < MEMBERS; i++)
		if (c->m[i].last_ok && now - c->m[i].last_end <= FRESH_MS) {
			if (*which < 0)
				*which = i;
			count++;
		}
	pthread_mutex_unlock(&c->lock);
	return count;
}

static void note_result(struct chaos *c, int member, int64_t end, bool ok)
{
	pthread_mutex_lock(&c->lock);
	if (end >= c->m[member].last_end) {
		c->m[member].last_end = end;
		c->m[member].last_ok = ok;
	}
	pthread_mutex_unlock(&c->lock);
}

/* --- the detector ------------------------------------------------------- */

struct detector_arg {
	struct chaos *c;
	int member;
};

static void sleep_until(int64_t when)
{
	int64_t left = when - harness_now_ms();
	if (left > 0)
		usleep((useconds_t) left * 1000);
}

static void *detector_main(void *p)
{
	struct detector_arg *arg = p;
	struct chaos *c = arg->c;
	int i = arg->member;
	PGconn *conn = NULL;
	long seq = 0;
	char sql[128];
	bool sync_wait_cancelled = false;

	while (!atomic_load(&c->stopping)) {
		int64_t start = harness_now_ms();
		bool ok = false, broken = true;

		if (!conn) {
			conn = connect_deadline(c->m[i].conninfo, 500);
			if (conn) {
				PGresult *quiet = exec_deadline(conn, SESSION_SETUP, 500, &broken);
				PQclear(quiet);
				if (broken) {
					PQfinish(conn);
					conn = NULL;
				} else {
					PQsetNoticeProcessor(conn, watch_notices, &sync_wait_cancelled);
				}
			}
		}
		if (conn) {
			PGresult *r;
			snprintf(sql, sizeof(sql), "INSERT INTO chaos_probe VALUES (%d, %ld)", i + 1, ++seq);
			sync_wait_cancelled = false;
			r = exec_deadline(conn, sql, PROBE_TIMEOUT_MS, &broken);
			ok = result_ok(r) && !sync_wait_cancelled;
			PQclear(r);
			if (broken || PQstatus(conn) != CONNECTION_OK) {
				PQfinish(conn);
				conn = NULL;
			}
		}
		int64_t end = harness_now_ms();
		observe(c, i, start, end, ok);
		note_result(c, i, end, ok);
		sleep_until(start + c->config.probe_interval_ms);
	}
	PQfinish(conn);
	return NULL;
}

/* --- the writer ------------------------------------------------------------ */

/* Where to (re)connect: a member the detector sees writable, else the next
 * one after the last. */
static int writer_pick(struct chaos *c, int last)
{
	int which;

	if (writable_now(c, &which) > 0)
		return which;
	return (last + 1) % MEMBERS;
}

static void *writer_main(void *p)
{
	struct chaos *c = p;
	PGconn *conn = NULL;
	int member = -1;
	char sql[256];
	bool sync_wait_cancelled = false;

	while (!atomic_load(&c->stopping)) {
		if (!conn) {
			member = writer_pick(c, member);
			conn = connect_deadline(c->m[member].conninfo, 500);
			if (!conn) {
				usleep(20 * 1000);
				continue;
			}
			bool broken;
			PQclear(exec_deadline(conn, SESSION_SETUP, 500, &broken));
			if (broken) {
				PQfinish(conn);
				conn = NULL;
				continue;
			}
			PQsetNoticeProcessor(conn, watch_notices, &sync_wait_cancelled);
			pthread_mutex_lock(&c->lock);
			c->writer_member = member;
			pthread_mutex_unlock(&c->lock);
		}
		pthread_mutex_lock(&c->lock);
		struct write *grown = grow_array(c->writes, &c->cap_writes, c->n_writes,
						 sizeof(*c->writes), 65536);
		if (!grown) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		c->writes = grown;
		size_t id = c->n_writes++;
		int64_t start = harness_now_ms();
		c->writes[id] = (struct write){ .start = start, .member = member };
		pthread_mutex_unlock(&c->lock);

		/* The id is the index: every id is tried once, in order. */
		snprintf(sql, sizeof(sql),
			 "INSERT INTO chaos_writes VALUES (%zu) RETURNING "
			 "substr(pg_walfile_name(pg_current_wal_insert_lsn()), 1, 8), "
			 "(pg_current_wal_insert_lsn() - '0/0')::bigint",
			 id);
		/* Acknowledged: the statement's row and then ReadyForQuery (which
		 * PostgreSQL sends after the commit, and in synchronous mode after
		 * the standby confirmed it) within WRITE_TIMEOUT_MS.  A commit
		 * still waiting then, for a standby that is gone or for `sync` to
		 * move, is abandoned: not acknowledged, whatever becomes of it. */
		bool broken;
		sync_wait_cancelled = false;
		PGresult *r = exec_deadline(conn, sql, WRITE_TIMEOUT_MS, &broken);
		int64_t end = harness_now_ms();
		bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			  !sync_wait_cancelled;

		pthread_mutex_lock(&c->lock);
		c->writes[id].end = end;
		c->writes[id].acked = ok;
		if (ok) {
			c->writes[id].timeline = (uint32_t) strtoul(PQgetvalue(r, 0, 0), NULL, 16);
			c->writes[id].lsn = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		}
		pthread_mutex_unlock(&c->lock);
		PQclear(r);
		observe(c, member, start, end, ok);
		note_result(c, member, end, ok);
		if (!ok) {
			/* Read-only now, gone, or hung: find the primary again. */
			PQfinish(conn);
			conn = NULL;
			pthread_mutex_lock(&c->lock);
			c->writer_member = -1;
			pthread_mutex_unlock(&c->lock);
			usleep(10 * 1000);
			continue;
		}
		if (c->config.write_interval_ms > 0)
			usleep((useconds_t) c->config.write_interval_ms * 1000);
	}
	PQfinish(conn);
	return NULL;
}

/* --- processes in their cgroups --------------------------------------------- */

/* harness_spawn as root through sh, which puts itself in the cgroup before
 * anything opens a socket, then setpriv drops to the service user (keeping
 * the parent-death signal the harness set) and execs the program. */
static pid_t spawn_in_group(const char *name, const char *group, char *const *program,
			    const char *log_path)
{
	char uid[32], gid[32];
	char *argv[64];
	int n = 0;
	const char *procs = partition_procs_path(group);

	if (!procs)
		return -1;
	snprintf(uid, sizeof(uid), "--reuid=%d", (int) harness_service_uid());
	snprintf(gid, sizeof(gid), "--regid=%d", (int) harness_service_gid());
	argv[n++] = (char *) "/bin/sh";
	argv[n++] = (char *) "-c";
	argv[n++] = (char *) "echo $$ > \"$0\" && exec \"$@\"";
	argv[n++] = (char *) procs;
	argv[n++] = (char *) "setpriv";
	argv[n++] = uid;
	argv[n++] = gid;
	argv[n++] = (char *) "--clear-groups";
	argv[n++] = (char *) "--pdeathsig";
	argv[n++] = (char *) "keep";
	for (int i = 0; program[i] && n < 63; i++)
		argv[n++] = program[i];
	argv[n] = NULL;
	return harness_spawn(name, argv, NULL, log_path, false);
}

static bool zk_launch(struct chaos *c, int i)
{
	struct harness_zk_server *s = &c->zk.server[i];
	char tmpdir[HARNESS_PATH_MAX + 32], name[32];
	const char *java = getenv("PGHERD_JAVA");

	snprintf(tmpdir, sizeof(tmpdir), "-Djava.io.tmpdir=%s", s->dir);
	snprintf(name, sizeof(name), "zookeeper-%d", i + 1);
	/* The harness's own command line for a server (harness.c, zk_launch). */
	char *const program[] = {
		(char *) (java ? java : "java"), (char *) "-Xms32m", (char *) "-Xmx128m",
		(char *) "-XX:+UseSerialGC", (char *) "-XX:TieredStopAtLevel=1",
		(char *) "-XX:-UsePerfData", tmpdir, (char *) "-Dzookeeper.cnxTimeout=1000",
		(char *) "-cp", (char *) "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
		(char *) "org.apache.zookeeper.server.quorum.QuorumPeerMain", s->config_path, NULL,
	};
	pid_t pid = spawn_in_group(name, c->zk_group[i], program, s->log_path);

	if (pid <= 0)
		return false;
	s->pid = pid;
	s->frozen = false;
	return true;
}

static bool agent_launch(struct chaos *c, int i)
{
	struct member *m = &c->m[i];
	char *const program[] = { (char *) c->agent_binary, (char *) m->agent.config_path, NULL };

	m->agent.pid = spawn_in_group(m->agent.name, m->group, program, m->agent.log_path);
	m->killed = m->agent.pid <= 0;
	return m->agent.pid > 0;
}

static bool agent_write_config(struct chaos *c, int i)
{
	struct member *m = &c->m[i];
	char rel[64], config[4096], sync_yaml[160] = "";
	const char *dir;

	snprintf(m->agent.name, sizeof(m->agent.name), "node%d", i + 1);
	snprintf(m->group, sizeof(m->group), "node%d", i + 1);
	m->agent.pg_port = harness_free_port();
	m->agent.api_port = harness_free_port();
	snprintf(rel, sizeof(rel), SCOPE "/%s", m->agent.name);
	dir = harness_mkdir(rel);
	if (!dir || !m->agent.pg_port || !m->agent.api_port)
		return false;
	char data_dir[sizeof(m->data_dir)];
	snprintf(data_dir, sizeof(data_dir), "%s/data", dir);
	snprintf(m->data_dir, sizeof(m->data_dir), "%s", data_dir);
	snprintf(m->conninfo, sizeof(m->conninfo),
		 "host=%s.pgherd port=%d user=postgres dbname=postgres application_name=chaos",
		 data_dir, m->agent.pg_port);
	/* As Patroni's users write it.  (pgherd ignored these keys before
	 * finding F7 was fixed: chaos_set_synchronous() still sets them in
	 * `config` when they are not there.) */
	if (c->config.synchronous)
		snprintf(sync_yaml, sizeof(sync_yaml),
			 "    synchronous_mode: true\n    synchronous_node_count: %d\n%s", SYNC_NODE_COUNT,
			 c->config.strict ? "    synchronous_mode_strict: true\n" : "");
	snprintf(config, sizeof(config),
		 "scope: " SCOPE "\n"
		 "namespace: /service\n"
		 "name: %s\n"
		 "restapi:\n  listen: 127.0.0.1:%d\n  connect_address: 127.0.0.1:%d\n"
		 "zookeeper:\n  hosts: '%s'\n  session_timeout: %.3f\n"
		 "bootstrap:\n  dcs:\n    maximum_lag_on_failover: %" PRId64 "\n%s"
		 "postgresql:\n  listen: 127.0.0.1:%d\n  connect_address: 127.0.0.1:%d\n"
		 "  data_dir: %s\n"
		 "  authentication:\n"
		 "    superuser: {username: postgres, password: test-superuser-secret}\n"
		 "    replication: {username: replicator, password: test-replication-secret}\n"
		 "  parameters: {fsync: off, shared_buffers: 16MB}\n"
		 "  use_pg_rewind: true\n"
		 "tags:\n  nofailover: false\n"
		 "log:\n  format: json\n  level: INFO\n",
		 m->agent.name, m->agent.api_port, m->agent.api_port, c->zk.connect_string,
		 c->config.session_timeout_ms / 1000.0, c->config.maximum_lag_on_failover, sync_yaml,
		 m->agent.pg_port, m->agent.pg_port, m->data_dir);
	snprintf(rel, sizeof(rel), SCOPE "/%s.yml", m->agent.name);
	m->agent.config_path = harness_write_file(rel, config);
	snprintf(rel, sizeof(rel), SCOPE "/%s.log", m->agent.name);
	m->agent.log_path = harness_path(rel);
	return m->agent.config_path && m->agent.log_path;
}

/* The member's postmaster, if it runs in the member's cgroup (so it is
 * ours), else 0. */
static pid_t postmaster_pid(struct chaos *c, int i)
{
	char path[HARNESS_PATH_MAX + 32];
	int pids[256];
	long pid = 0;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/postmaster.pid", c->m[i].data_dir);
	if (!(f = fopen(path, "r")))
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	n = partition_pids(c->m[i].group, pids, 256);
	for (int k = 0; k < n; k++)
		if (pids[k] == pid)
			return (pid_t) pid;
	return 0;
}

/* kill -9 of a member's postmaster; waits (up to 5 s) until it is reaped:
 * an agent started while it is a zombie would take it for a running
 * postmaster (see docs/chaos.md, finding F2). */
static void kill_postmaster(pid_t pm)
{
	char path[64];

	if (pm <= 0)
		return;
	kill(pm, SIGKILL);
	snprintf(path, sizeof(path), "/proc/%d", (int) pm);
	for (int tries = 0; tries < 500 && access(path, F_OK) == 0; tries++)
		harness_sleep_ms(10);
}

static void kill_agent(struct chaos *c, int i)
{
	if (c->m[i].agent.pid > 0 && harness_is_running(c->m[i].agent.pid))
		harness_kill(c->m[i].agent.pid);
	c->m[i].agent.pid = 0;
	c->m[i].killed = true;
}

static void restart_agent(struct chaos *c, int i)
{
	if (c->m[i].agent.pid > 0 && harness_is_running(c->m[i].agent.pid))
		return;
	if (!agent_launch(c, i))
		say(c, "chaos: cannot restart %s", c->m[i].agent.name);
}

/* --- agent logs ------------------------------------------------------------- */

/* Read the complete lines from *offset on and count the JSON records whose
 * event matches (and whose field equals value, when given).  Moves *offset
 * past the lines read. */
static int scan_log(const char *path, off_t *offset, const char *event, const char *field,
		    const char *value)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int count = 0;

	if (!f)
		return 0;
	if (fseeko(f, *offset, SEEK_SET) < 0) {
		fclose(f);
		return 0;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *record, *ev;

		if (line[n - 1] != '\n')
			break;	/* half a line: read it next time */
		*offset += n;
		if (line[0] != '{' || !strstr(line, event))
			continue;
		record = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
		ev = record ? json_object_get(record, "event") : NULL;
		if (json_is_string(ev) && strcmp(json_string_value(ev), event) == 0) {
			json_t *v = field ? json_object_get(record, field) : NULL;
			if (!field || (json_is_string(v) && strcmp(json_string_value(v), value) == 0))
				count++;
		}
		json_decref(record);
	}
	free(line);
	fclose(f);
	return count;
}

static off_t log_end(const char *path)
{
	off_t end = 0;
	/* Count to the last complete line. */
	(void) scan_log(path, &end, "\x01", NULL, NULL);
	return end;
}

/* --- the ZooKeeper view ------------------------------------------------------- */

static int leader_member(struct chaos *c)
{
	char data[128] = "";

	if (zk_client_get(c->client, BASE "/leader", data, sizeof(data), NULL) != ZOK)
		return -1;
	for (int i = 0; i < MEMBERS; i++)
		if (strcmp(data, c->m[i].agent.name) == 0)
			return i;
	return -1;
}

static int zk_leader(struct chaos *c)
{
	for (int tries = 0; tries < 50; tries++) {
		int l = harness_zk_leader_index(&c->zk);
		if (l >= 0)
			return l;
		harness_sleep_ms(100);
	}
	return -1;
}

static bool zk_all_up(struct chaos *c, struct chaos_round *r)
{
	for (int i = 0; i < ZK_SERVERS; i++) {
		struct harness_zk_server *s = &c->zk.server[i];
		if (s->frozen)
			harness_zk_resume_server(&c->zk, i);
		if (s->pid > 0 && !harness_is_running(s->pid)) {
			if (r)
				add_detail(r, "zookeeper %d exited by itself", i + 1);
			s->pid = 0;
		}
		if (s->pid <= 0 && !zk_launch(c, i))
			return false;
	}
	return harness_zk_wait_quorum(&c->zk, 60000);
}

/* --- settling ------------------------------------------------------------------ */

static int streaming_replicas(struct chaos *c, int primary)
{
	char value[16];

	if (!member_sql(c, primary,
			"SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", value,
			sizeof(value), 2000))
		return -1;
	return atoi(value);
}

/* kill -9 of a member's agent and postmaster, and the agent started
 * again: what an operator would do to a member that went wrong.  With
 * wipe, its data directory goes too, so that it clones the leader afresh
 * (patronictl reinit). */
static void reset_member(struct chaos *c, int i, bool wipe)
{
	pid_t pm = postmaster_pid(c, i);

	kill_agent(c, i);
	kill_postmaster(pm);
	if (wipe) {
		char *const argv[] = { (char *) "rm", (char *) "-rf", c->m[i].data_dir, NULL };
		harness_run("rm", argv, NULL, harness_path("chaos/reset.log"), false, 60000, NULL);
	}
	restart_agent(c, i);
}

/* An agent whose log grows this much in one round is looping. */
#define SPIN_BYTES (16 * 1024 * 1024)

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Members the primary sees streaming, as a bit mask (application_name is
 * the member's name); -1 if it cannot be asked. */
static int streaming_mask(struct chaos *c, int primary)
{
	char value[128];
	int mask = 0;

	if (!member_sql(c, primary,
			"SELECT coalesce(string_agg(application_name, ','), '') FROM pg_stat_replication "
			"WHERE state = 'streaming'",
			value, sizeof(value), 2000))
		return -1;
	for (int i = 0; i < MEMBERS; i++) {
		const char *at = strstr(value, c->m[i].agent.name);
		size_t len = strlen(c->m[i].agent.name);
		if (at && (at[len] == ',' || at[len] == '\0'))
			mask |= 1 << i;
	}
	return mask;
}

/* The steady state of synchronous mode (agent/sync.c, run by
 * keep_synchronous_replication in agent/agent.c): with both replicas
 * streaming, the primary's agent names synchronous_node_count of them in
 * synchronous_standby_names, then publishes them in `sync` once PostgreSQL
 * reports them synchronous.  So: `sync` is the primary's and names exactly
 * that many members, each of which the primary sees streaming with
 * sync_state 'sync'.  The first of them goes to *standby (-1: none); *why
 * says what is missing.  Until then a commit may wait (for a standby being
 * replaced) or go unconfirmed (none named yet): no round starts there. */
static bool sync_established(struct chaos *c, int primary, int *standby, const char **why)
{
	char data[512] = "", query[256], value[16], names[128] = "";
	json_t *sync = NULL;
	const char *leader, *listed;
	int named = 0;
	bool ok = false;

	*standby = -1;
	*why = "`sync` cannot be read";
	if (zk_client_get(c->client, BASE "/sync", data, sizeof(data), NULL) != ZOK)
		return false;
	sync = json_loads(data, 0, NULL);
	leader = json_string_value(json_object_get(sync, "leader"));
	listed = json_string_value(json_object_get(sync, "sync_standby"));
	if (!leader || strcmp(leader, c->m[primary].agent.name) != 0) {
		*why = "`sync` is not the primary's";
		goto out;
	}
	*why = "`sync` names no synchronous standby";
	/* Member names only (they go into the query below). */
	for (const char *p = listed; p && *p;) {
		size_t len = strcspn(p, ",");
		int found = -1;
		for (int i = 0; i < MEMBERS; i++)
			if (i != primary && strlen(c->m[i].agent.name) == len &&
			    strncmp(p, c->m[i].agent.name, len) == 0)
				found = i;
		if (found < 0) {
			*why = "`sync` names a member that is not a replica";
			goto out;
		}
		if (*standby < 0)
			*standby = found;
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s'%s'",
			 named ? "," : "", c->m[found].agent.name);
		named++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (named != SYNC_NODE_COUNT)
		goto out;
	snprintf(query, sizeof(query),
		 "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND "
		 "sync_state = 'sync' AND application_name IN (%s)",
		 names);
	if (!member_sql(c, primary, query, value, sizeof(value), 2000) || atoi(value) != named) {
		*why = "the standby `sync` names is not synchronous";
		goto out;
	}
	ok = true;
	*why = "";
out:
	json_decref(sync);
	return ok;
}

/* The cluster has not healed by itself RESET_AFTER_MS after the fault:
 * reset the members that keep it from settling (writable without the lock,
 * holding the lock without being writable, or not streaming from the
 * primary), so that the run can go on; the round reports it as a finding. */
static void reset_stragglers(struct chaos *c, struct chaos_round *r)
{
	int leader = leader_member(c);
	int which;
	int writable = writable_now(c, &which);
	int mask = writable == 1 && which == leader ? streaming_mask(c, leader) : -1;

	for (int i = 0; i < MEMBERS; i++) {
		int64_t now = harness_now_ms();
		bool is_writable;
		const char *why = NULL;

		pthread_mutex_lock(&c->lock);
		is_writable = c->m[i].last_ok && now - c->m[i].last_end <= FRESH_MS;
		pthread_mutex_unlock(&c->lock);
		bool wipe = false;
		if (is_writable && i != leader) {
			why = "writable without the lock";
		} else if (writable == 0 && i == leader) {
			why = "holds the lock but takes no writes";
		} else if (mask >= 0 && i != leader && !(mask & (1 << i))) {
			why = "not streaming from the primary";
			wipe = true;	/* it may hold WAL the leader never had */
		}
		if (!why)
			continue;
		if (r)
			add_detail(r, "FINDING: %s %s %d s after the fault: %s", c->m[i].agent.name, why,
				   RESET_AFTER_MS / 1000, wipe ? "cloned again" : "reset");
		say(c, "chaos: %s %s %d s after the fault: kill -9 of the member%s", c->m[i].agent.name,
		    why, RESET_AFTER_MS / 1000, wipe ? ", data directory removed" : "");
		reset_member(c, i, wipe);
	}
}

/* Every process back, one writable member, named by the leader znode, with
 * both replicas streaming (in synchronous mode one of them synchronous and
 * named in `sync`: sync_established), for a second, and at least a session timeout
 * after the fault ended (a session the fault orphaned has expired by then,
 * with whatever follows from it).  A member whose agent floods its log is
 * reset at once, the members that keep the cluster from settling are reset
 * every RESET_AFTER_MS; the round says so. */
static bool settle(struct chaos *c, struct chaos_round *r, int timeout_ms)
{
	int64_t begin = harness_now_ms();
	/* Whatever session the fault left behind has expired by then. */
	int64_t not_before = begin + c->session_ms + 500;
	int64_t deadline = begin + timeout_ms;
	int64_t good_since = 0;
	int candidate = -1;
	const char *why = "";
	int64_t last_reset = begin;
	/* Since when only synchronous replication is missing (0: not). */
	int64_t sync_missing_since = 0;
	bool sync_missing_said = false;

	if (!zk_all_up(c, r)) {
		say(c, "chaos: ZooKeeper did not come back");
		return false;
	}
	while (harness_now_ms() < deadline) {
		int which, count;

		for (int i = 0; i < MEMBERS; i++) {
			struct member *m = &c->m[i];
			if (m->agent.pid > 0 && !harness_is_running(m->agent.pid)) {
				/* Not ours to decide: an agent must never exit. */
				if (r)
					add_detail(r, "FINDING: agent %s exited by itself", m->agent.name);
				say(c, "chaos: agent %s exited by itself", m->agent.name);
				harness_log_print_tail(m->agent.log_path, 30);
				m->agent.pid = 0;
			}
			if (m->agent.pid <= 0)
				restart_agent(c, i);
			if (file_size(m->agent.log_path) - m->log_offset > SPIN_BYTES) {
				if (r)
					add_detail(r, "FINDING: %s's agent floods its log (%lld MB in the "
						   "round): reset", m->agent.name,
						   (long long) ((file_size(m->agent.log_path) - m->log_offset) >> 20));
				say(c, "chaos: %s's agent floods its log: kill -9 of the member", m->agent.name);
				reset_member(c, i, false);
				m->log_offset = log_end(m->agent.log_path);
			}
		}
		if (harness_now_ms() - last_reset > RESET_AFTER_MS) {
			last_reset = harness_now_ms();
			reset_stragglers(c, r);
		}
		count = writable_now(c, &which);
		bool only_sync_missing = false;
		int standby = -1;
		if (count != 1) {
			why = count ? "two writable members" : "no writable member";
			good_since = 0;
		} else if (leader_member(c) != which) {
			why = "the leader znode does not name the writable member";
			good_since = 0;
		} else if (streaming_replicas(c, which) != MEMBERS - 1) {
			why = "the replicas do not both stream";
			good_since = 0;
		} else if (c->synchronous && !sync_established(c, which, &standby, &why)) {
			/* Nothing the runner could reset: it is the primary's
			 * agent that names its standby. */
			good_since = 0;
			only_sync_missing = true;
			if (!sync_missing_since)
				sync_missing_since = harness_now_ms();
			if (!sync_missing_said && harness_now_ms() - sync_missing_since > RESET_AFTER_MS) {
				sync_missing_said = true;
				if (r)
					add_detail(r, "FINDING: %s %d s after the cluster was otherwise settled",
						   why, RESET_AFTER_MS / 1000);
				say(c, "chaos: %s %d s after the cluster was otherwise settled", why,
				    RESET_AFTER_MS / 1000);
			}
		} else {
			if (!good_since || which != candidate) {
				good_since = harness_now_ms();
				candidate = which;
			}
			if (harness_now_ms() - good_since >= 1000 && harness_now_ms() >= not_before) {
				c->primary = which;
				c->sync_standby = standby;
				return true;
			}
		}
		if (!only_sync_missing)
			sync_missing_since = 0;
		harness_sleep_ms(100);
	}
	say(c, "chaos: the cluster did not settle in %d s: %s", timeout_ms / 1000, why);
	for (int i = 0; i < MEMBERS; i++)
		harness_log_print_tail(c->m[i].agent.log_path, 25);
	return false;
}

/* --- accounting ---------------------------------------------------------------- */

static int cmp_observation(const void *a, const void *b)
{
	const struct observation *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

struct span {
	int64_t from, to;
};

struct point {
	int64_t t;
	int delta;
	int member;
};

static int cmp_point(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->delta - y->delta;	/* ends before starts at the same instant */
}

/* Time within [from, to) with two or more members writable, and with none.
 * A member's runs of successful writes may overlap one another: the writer
 * and the detector try it at the same time, so a commit that waited (for a
 * synchronous standby, say) and then succeeded can span a failed probe and
 * the next run.  What counts is how many members are writable, not how many
 * runs. */
static void writable_time(struct chaos *c, int64_t from, int64_t to, int64_t *two, int64_t *none)
{
	struct point *points = NULL;
	size_t n_points = 0, cap = 0;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < MEMBERS; i++) {
		struct observations *o = &c->obs[i];
		bool in_run = false;
		struct span run = { 0, 0 };

		if (o->n)
			qsort(o->v, o->n, sizeof(*o->v), cmp_observation);
		for (size_t k = 0; k <= o->n; k++) {
			bool ok = k < o->n && o->v[k].ok;
			if (ok && !in_run) {
				in_run = true;
				run.from = o->v[k].start;
				run.to = o->v[k].end;
			} else if (ok) {
				if (o->v[k].end > run.to)
					run.to = o->v[k].end;
			} else if (in_run) {
				in_run = false;
				if (run.to > from && run.from < to) {
					if (n_points + 2 > cap) {
						cap = cap ? cap * 2 : 1024;
						points = realloc(points, cap * sizeof(*points));
						if (!points) {
							pthread_mutex_unlock(&c->lock);
							*two = *none = -1;
							return;
						}
					}
					points[n_points++] = (struct point){ run.from > from ? run.from : from, +1, i };
					points[n_points++] = (struct point){ run.to < to ? run.to : to, -1, i };
				}
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (n_points)
		qsort(points, n_points, sizeof(*points), cmp_point);
	*two = *none = 0;
	int level = 0;			/* members with a run open */
	int runs[MEMBERS] = { 0 };	/* runs open, per member */
	int64_t t = from;
	for (size_t k = 0; k < n_points; k++) {
		int64_t d = points[k].t - t;
		int *open = &runs[points[k].member];
		if (d > 0) {
			if (level == 0)
				*none += d;
			else if (level >= 2)
				*two += d;
		}
		t = points[k].t > t ? points[k].t : t;
		if (points[k].delta > 0 && (*open)++ == 0)
			level++;
		else if (points[k].delta < 0 && --(*open) == 0)
			level--;
	}
	if (to > t && level == 0)
		*none += to - t;
	else if (to > t && level >= 2)
		*two += to - t;
	free(points);
}

/* [timeline, switch lsn, ...] lines of the history znode: where each
 * timeline ended. */
struct history {
	int n;
	uint32_t timeline[256];
	int64_t lsn[256];
};

static void read_history(struct chaos *c, struct history *h)
{
	static char data[65536];
	json_t *lines;
	size_t i;
	json_t *line;

	h->n = 0;
	data[0] = '\0';
	if (zk_client_get(c->client, BASE "/history", data, sizeof(data), NULL) != ZOK)
		return;
	lines = json_loads(data, 0, NULL);
	json_array_foreach(lines, i, line) {
		if (h->n < 256 && json_is_integer(json_array_get(line, 0)) &&
		    json_is_integer(json_array_get(line, 1))) {
			h->timeline[h->n] = (uint32_t) json_integer_value(json_array_get(line, 0));
			h->lsn[h->n] = json_integer_value(json_array_get(line, 1));
			h->n++;
		}
	}
	json_decref(lines);
}

/* Read every id on the primary; acknowledged ids acknowledged before the
 * read began and missing from it are lost in this round.  Returns the
 * number newly lost, -1 if the read failed; the farthest lag past the end
 * of the lost commit's timeline goes to *lag (-1: none lost). */
static long check_lost(struct chaos *c, int primary, int round, int64_t *lag)
{
	PGconn *conn = connect_deadline(c->m[primary].conninfo, 3000);
	int64_t began = harness_now_ms();
	PGresult *r;
	bool broken;
	unsigned char *present;
	size_t n_writes;
	long lost = 0;
	struct history h;

	*lag = -1;
	if (!conn)
		return -1;
	pthread_mutex_lock(&c->lock);
	n_writes = c->n_writes;
	pthread_mutex_unlock(&c->lock);
	r = exec_deadline(conn, "SELECT id FROM chaos_writes", 30000, &broken);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		PQfinish(conn);
		return -1;
	}
	present = calloc(n_writes + 1, 1);
	for (int k = 0; present && k < PQntuples(r); k++) {
		unsigned long long id = strtoull(PQgetvalue(r, k, 0), NULL, 10);
		if (id < n_writes)
			present[id] = 1;
	}
	PQclear(r);
	PQfinish(conn);
	if (!present)
		return -1;
	read_history(c, &h);
	pthread_mutex_lock(&c->lock);
	/* The highest surviving commit so far, per timeline (ids are in the
	 * order the writer sent them, one at a time). */
	int64_t survived[256];
	for (int k = 0; k < 256; k++)
		survived[k] = -1;
	for (size_t id = 0; id < n_writes; id++) {
		struct write *w = &c->writes[id];
		uint32_t tl = w->timeline < 256 ? w->timeline : 255;
		if (w->acked && present[id] && w->lsn > survived[tl])
			survived[tl] = w->lsn;
		if (!w->acked || w->lost_round || w->end >= began || present[id])
			continue;
		w->lost_round = round;
		lost++;
		int64_t end_of_timeline = -1;
		for (int k = 0; k < h.n; k++)
			if (h.timeline[k] == w->timeline)
				end_of_timeline = h.lsn[k];
		/* A timeline that history does not know (its primary lost its
		 * lock before it could write it): its surviving part ends at
		 * most at the last surviving commit before this one, on it or
		 * an earlier timeline. */
		bool known = end_of_timeline >= 0;
		for (uint32_t k = 0; !known && k <= tl; k++)
			if (survived[k] > end_of_timeline)
				end_of_timeline = survived[k];
		if (end_of_timeline >= 0 && w->lsn - end_of_timeline > *lag)
			*lag = w->lsn - end_of_timeline;
	}
	pthread_mutex_unlock(&c->lock);
	free(present);
	return lost;
}

static long acked_between(struct chaos *c, int64_t from, int64_t to)
{
	long n = 0;

	pthread_mutex_lock(&c->lock);
	for (size_t id = 0; id < c->n_writes; id++)
		if (c->writes[id].acked && c->writes[id].end >= from && c->writes[id].end < to)
			n++;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* The end of the last successful write on member that started in
 * [after, before) (-1: none). */
static int64_t last_write_on(struct chaos *c, int member, int64_t after, int64_t before)
{
	int64_t last = -1;

	pthread_mutex_lock(&c->lock);
	for (size_t k = 0; k < c->obs[member].n; k++) {
		struct observation *o = &c->obs[member].v[k];
		if (o->ok && o->start >= after && o->end < before && o->end > last)
			last = o->end;
	}
	pthread_mutex_unlock(&c->lock);
	return last;
}

/* The end of the first successful write on any member that started in
 * [after, before) (-1: none). */
static int64_t first_write_after(struct chaos *c, int64_t after, int64_t before)
{
	int64_t first = -1;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < MEMBERS; i++)
		for (size_t k = 0; k < c->obs[i].n; k++) {
			struct observation *o = &c->obs[i].v[k];
			if (o->ok && o->start >= after && o->end < before && (first < 0 || o->end < first))
				first = o->end;
		}
	pthread_mutex_unlock(&c->lock);
	return first;
}

/* --- bringing it up ---------------------------------------------------------------- */

struct chaos_config chaos_default_config(void)
{
	return (struct chaos_config){
		.seed = 1,
		.session_timeout_ms = 3000,
		.maximum_lag_on_failover = 1048576,
		.write_interval_ms = 5,
		.probe_interval_ms = 25,
	};
}

int chaos_session_timeout_ms(const struct chaos *c)
{
	return c->session_ms;
}

int64_t chaos_allowed_lag(const struct chaos *c)
{
	return c->synchronous ? 0 : c->config.maximum_lag_on_failover;
}

bool chaos_synchronous(const struct chaos *c)
{
	return c->synchronous;
}

bool chaos_round_lost_too_many(const struct chaos_round *r)
{
	return r->lost > 0 && (r->synchronous || r->failovers == 0 ||
			       r->lost_lag_bytes > r->allowed_lag_bytes);
}

bool chaos_set_synchronous(struct chaos *c, bool strict)
{
	char data[16384] = "", body[160];
	json_t *config = NULL;
	bool in_config;
	int64_t since = harness_now_ms();
	int standby = -1;
	const char *why = "";

	if (zk_client_get(c->client, BASE "/config", data, sizeof(data), NULL) == ZOK)
		config = json_loads(data, 0, NULL);
	in_config = json_is_true(json_object_get(config, "synchronous_mode")) &&
		    json_is_true(json_object_get(config, "synchronous_mode_strict")) == strict &&
		    json_integer_value(json_object_get(config, "synchronous_node_count")) == SYNC_NODE_COUNT;
	json_decref(config);
	if (!in_config) {
		struct http_answer answer;
		int status;

		if (c->config.synchronous)
			say(c, "chaos: bootstrap.dcs.synchronous_mode did not reach the `config` znode "
			       "(finding F7, docs/chaos.md): setting it with PATCH /config");
		snprintf(body, sizeof(body),
			 "{\"synchronous_mode\":true,\"synchronous_mode_strict\":%s,"
			 "\"synchronous_node_count\":%d}",
			 strict ? "true" : "false", SYNC_NODE_COUNT);
		status = http_request(c->m[c->primary].agent.api_port, "PATCH", "/config", body, NULL,
				      5000, &answer);
		if (status != 200)
			say(c, "chaos: PATCH /config on %s: %d %s", c->m[c->primary].agent.name, status,
			    answer.body ? answer.body : "");
		http_answer_clear(&answer);
		if (status != 200)
			return false;
	}
	c->synchronous = true;
	c->strict = strict;
	while (harness_now_ms() - since < 30000) {
		if (sync_established(c, c->primary, &standby, &why)) {
			say(c, "chaos: synchronous mode%s: %s is %s's synchronous standby %.1f s later",
			    strict ? " (strict)" : "", c->m[standby].agent.name,
			    c->m[c->primary].agent.name, (double) (harness_now_ms() - since) / 1000.0);
			return true;
		}
		harness_sleep_ms(100);
	}
	say(c, "chaos: synchronous mode: %s 30 s after it was set", why);
	for (int i = 0; i < MEMBERS; i++)
		harness_log_print_tail(c->m[i].agent.log_path, 25);
	return false;
}

static bool bootstrap(struct chaos *c)
{
	int64_t started = harness_now_ms();
	int primary = -1;
	char out[64];

	for (int i = 0; i < MEMBERS; i++)
		if (!agent_write_config(c, i) || !agent_launch(c, i))
			return false;
	while (harness_now_ms() - started < BOOT_MS) {
		primary = leader_member(c);
		if (primary >= 0 && streaming_replicas(c, primary) == MEMBERS - 1)
			break;
		primary = -1;
		harness_sleep_ms(100);
	}
	if (primary < 0) {
		say(c, "chaos: no primary with two streaming replicas %d s after start", BOOT_MS / 1000);
		for (int i = 0; i < MEMBERS; i++)
			harness_log_print_tail(c->m[i].agent.log_path, 30);
		return false;
	}
	/* `at`: when the row was written, for reading a kept data directory
	 * against the agents' logs (PGHERD_TEST_KEEP=1). */
	if (!member_sql(c, primary,
			"CREATE TABLE chaos_writes (id bigint NOT NULL, "
			"at timestamptz NOT NULL DEFAULT clock_timestamp())",
			NULL, 0, 5000) ||
	    !member_sql(c, primary,
			"CREATE TABLE chaos_probe (member int, n bigint, "
			"at timestamptz NOT NULL DEFAULT clock_timestamp())",
			NULL, 0, 5000) ||
	    !member_sql(c, primary, "SELECT pg_current_wal_flush_lsn()::text", out, sizeof(out), 5000))
		return false;
	/* The tables reach the replicas before anything can fail over. */
	for (int i = 0; i < MEMBERS; i++) {
		char query[128], done[16] = "";
		if (i == primary)
			continue;
		snprintf(query, sizeof(query), "SELECT (pg_last_wal_replay_lsn() >= '%s')::text", out);
		for (int tries = 0; tries < 500 && strcmp(done, "true") != 0; tries++) {
			(void) member_sql(c, i, query, done, sizeof(done), 2000);
			if (strcmp(done, "true") != 0)
				harness_sleep_ms(20);
		}
	}
	c->primary = primary;
	/* The granted session timeout, as the agents log it. */
	json_t *record = NULL;
	c->session_ms = c->config.session_timeout_ms;
	if (harness_log_wait(c->m[primary].agent.log_path, "dcs.connected", NULL, NULL, 0, 1000,
			     &record, NULL)) {
		json_t *granted = json_object_get(record, "session_timeout_ms");
		if (json_is_integer(granted))
			c->session_ms = (int) json_integer_value(granted);
		json_decref(record);
	}
	say(c, "chaos: ZooKeeper ensemble %s; primary %s, 2 replicas streaming %.1f s after start; "
	       "session timeout %d ms",
	    c->zk.connect_string, c->m[primary].agent.name,
	    (double) (harness_now_ms() - started) / 1000.0, c->session_ms);
	return true;
}

static bool start_threads(struct chaos *c)
{
	static struct detector_arg args[MEMBERS];

	atomic_store(&c->stopping, false);
	if (pthread_create(&c->writer, NULL, writer_main, c) != 0)
		return false;
	for (int i = 0; i < MEMBERS; i++) {
		args[i] = (struct detector_arg){ c, i };
		if (pthread_create(&c->detector[i], NULL, detector_main, &args[i]) != 0) {
			atomic_store(&c->stopping, true);
			pthread_join(c->writer, NULL);
			for (int k = 0; k < i; k++)
				pthread_join(c->detector[k], NULL);
			return false;
		}
	}
	c->threads_running = true;
	return true;
}

static void stop_threads(struct chaos *c)
{
	if (!c->threads_running)
		return;
	atomic_store(&c->stopping, true);
	pthread_join(c->writer, NULL);
	for (int i = 0; i < MEMBERS; i++)
		pthread_join(c->detector[i], NULL);
	c->threads_running = false;
}

struct chaos *chaos_start(const struct chaos_config *config, bool *skip)
{
	const char *groups[] = { "zk1", "zk2", "zk3", "node1", "node2", "node3" };
	char why[512];
	struct chaos *c;

	*skip = false;
	if (!harness_setup())
		return NULL;
	if (!partition_setup(groups, 6, why, sizeof(why))) {
		fprintf(stderr, "chaos: cannot run: %s\n", why);
		*skip = true;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->config = *config;
	c->out = config->out ? config->out : stdout;
	c->rng = config->seed ? config->seed : 1;
	c->writer_member = -1;
	c->sync_standby = -1;
	pthread_mutex_init(&c->lock, NULL);
	for (int i = 0; i < ZK_SERVERS; i++)
		snprintf(c->zk_group[i], sizeof(c->zk_group[i]), "zk%d", i + 1);
	c->agent_binary = harness_install_binary(test_built_program("pgherd"));
	if (!c->agent_binary)
		goto fail;
	/* The harness writes the ensemble's configuration and data
	 * directories; the servers then run again, each in its cgroup. */
	if (!harness_zk_start(ZK_SERVERS, &c->zk))
		goto fail;
	harness_zk_stop(&c->zk);
	for (int i = 0; i < ZK_SERVERS; i++)
		if (!zk_launch(c, i))
			goto fail;
	if (!harness_zk_wait_quorum(&c->zk, 60000))
		goto fail;
	if (zk_client_connect(c->zk.connect_string, 10000, 3000, &c->client) != ZOK)
		goto fail;
	if (!bootstrap(c) || (config->synchronous && !chaos_set_synchronous(c, config->strict)) ||
	    !start_threads(c))
		goto fail;
	c->window_start = harness_now_ms();
	/* Let the writer and the detector find the primary. */
	int which;
	for (int tries = 0; tries < 100 && writable_now(c, &which) != 1; tries++)
		harness_sleep_ms(50);
	return c;
fail:
	chaos_stop(c);
	return NULL;
}

/* --- the faults --------------------------------------------------------------------- */

static int other_member(struct chaos *c, int not_this)
{
	int k = (int) (next_random(c) % (MEMBERS - 1));
	for (int i = 0; i < MEMBERS; i++) {
		if (i == not_this)
			continue;
		if (k-- == 0)
			return i;
	}
	return (not_this + 1) % MEMBERS;
}

static bool cut_from_zookeeper(struct chaos *c, int member)
{
	int ports[ZK_SERVERS];
	for (int i = 0; i < ZK_SERVERS; i++)
		ports[i] = c->zk.server[i].client_port;
	return partition_cut(c->m[member].group, ports, ZK_SERVERS, NULL, 0);
}

/* A member cut off from ZooKeeper and the other members: nothing it
 * connects to, nothing that connects to it.  Its own Unix sockets still
 * work. */
static bool isolate_member(struct chaos *c, int member)
{
	int remote[ZK_SERVERS + 2 * MEMBERS], n = 0;
	int local[2] = { c->m[member].agent.pg_port, c->m[member].agent.api_port };

	for (int i = 0; i < ZK_SERVERS; i++)
		remote[n++] = c->zk.server[i].client_port;
	for (int i = 0; i < MEMBERS; i++)
		if (i != member) {
			remote[n++] = c->m[i].agent.pg_port;
			remote[n++] = c->m[i].agent.api_port;
		}
	return partition_cut(c->m[member].group, remote, n, local, 2);
}

static bool isolate_zk_server(struct chaos *c, int server)
{
	const struct harness_zk_server *s = &c->zk.server[server];
	int local[3] = { s->client_port, s->quorum_port, s->election_port };
	int remote[2 * ZK_SERVERS], n = 0;

	for (int i = 0; i < ZK_SERVERS; i++)
		if (i != server) {
			remote[n++] = c->zk.server[i].quorum_port;
			remote[n++] = c->zk.server[i].election_port;
		}
	return partition_cut(c->zk_group[server], remote, n, local, 3);
}

/* Wait for one of the members other than `skip` to log event (with
 * action=promote for "ha.action"); its index or -1. */
static int wait_takeover(struct chaos *c, int skip, const char *event, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	off_t offsets[MEMBERS];

	for (int i = 0; i < MEMBERS; i++)
		offsets[i] = c->m[i].log_offset;
	while (harness_now_ms() < deadline) {
		for (int i = 0; i < MEMBERS; i++) {
			bool promote = strcmp(event, "ha.action") == 0;
			if (i != skip && scan_log(c->m[i].agent.log_path, &offsets[i], event,
						  promote ? "action" : NULL, promote ? "promote" : NULL) > 0)
				return i;
		}
		harness_sleep_ms(5);
	}
	return -1;
}

static void run_fault(struct chaos *c, struct chaos_round *r)
{
	int p = c->primary;
	int t = c->session_ms;
	int hold = t + 2000;
	pid_t pm;

	r->target = -1;
	switch (r->fault) {
	case CHAOS_PARTITION_PRIMARY_ZK:
		r->target = p;
		step(c, "cut %s off from ZooKeeper for %d ms", c->m[p].agent.name, hold);
		if (!cut_from_zookeeper(c, p))
			add_detail(r, "ERROR: could not cut");
		harness_sleep_ms(hold);
		partition_heal(c->m[p].group);
		step(c, "healed");
		break;
	case CHAOS_PARTITION_REPLICA: {
		int victim = other_member(c, p);
		r->target = victim;
		step(c, "isolate %s for %d ms", c->m[victim].agent.name, hold);
		if (!isolate_member(c, victim))
			add_detail(r, "ERROR: could not cut");
		harness_sleep_ms(hold);
		partition_heal(c->m[victim].group);
		step(c, "healed");
		break;
	}
	case CHAOS_PARTITION_ZK_LEADER: {
		int l = zk_leader(c);
		r->target = l;
		if (l < 0) {
			add_detail(r, "ERROR: no ZooKeeper leader found");
			break;
		}
		step(c, "isolate ZooKeeper server %d (the leader) for %d ms", l + 1, hold);
		if (!isolate_zk_server(c, l))
			add_detail(r, "ERROR: could not cut");
		harness_sleep_ms(hold);
		partition_heal(c->zk_group[l]);
		step(c, "healed; ZooKeeper leader now %d", zk_leader(c) + 1);
		break;
	}
	case CHAOS_ZK_LEADER_LOSS: {
		int l = zk_leader(c);
		r->target = l;
		if (l < 0) {
			add_detail(r, "ERROR: no ZooKeeper leader found");
			break;
		}
		step(c, "kill -9 ZooKeeper server %d (the leader)", l + 1);
		harness_zk_kill_server(&c->zk, l);
		harness_sleep_ms(t + 1000);
		step(c, "ZooKeeper leader now %d; restarting %d", zk_leader(c) + 1, l + 1);
		zk_launch(c, l);
		break;
	}
	case CHAOS_ZK_MAJORITY_LOSS: {
		int l = zk_leader(c);
		int other = l < 0 ? 0 : (l + 1 + (int) (next_random(c) % 2)) % ZK_SERVERS;
		if (l < 0)
			l = (other + 1) % ZK_SERVERS;
		r->target = l;
		step(c, "kill -9 ZooKeeper servers %d (the leader) and %d for %d ms", l + 1, other + 1,
		     t + 3000);
		harness_zk_kill_server(&c->zk, l);
		harness_zk_kill_server(&c->zk, other);
		harness_sleep_ms(t + 3000);
		step(c, "restarting them");
		zk_launch(c, l);
		zk_launch(c, other);
		break;
	}
	case CHAOS_STOP_PRIMARY_AGENT:
		r->target = p;
		step(c, "SIGSTOP %s's agent for %d ms", c->m[p].agent.name, hold);
		harness_freeze(c->m[p].agent.pid);
		harness_sleep_ms(hold);
		harness_resume(c->m[p].agent.pid);
		step(c, "SIGCONT");
		break;
	case CHAOS_STOP_PRIMARY_POSTMASTER:
		r->target = p;
		pm = postmaster_pid(c, p);
		if (pm <= 0) {
			add_detail(r, "ERROR: no postmaster");
			break;
		}
		step(c, "SIGSTOP %s's postmaster (pid %d) for %d ms", c->m[p].agent.name, (int) pm, hold);
		kill(pm, SIGSTOP);
		harness_sleep_ms(hold);
		kill(pm, SIGCONT);
		step(c, "SIGCONT");
		break;
	case CHAOS_STOP_ZOOKEEPER:
		step(c, "SIGSTOP every ZooKeeper server for %d ms", hold);
		for (int i = 0; i < ZK_SERVERS; i++)
			harness_zk_freeze_server(&c->zk, i);
		harness_sleep_ms(hold);
		for (int i = 0; i < ZK_SERVERS; i++)
			harness_zk_resume_server(&c->zk, i);
		step(c, "SIGCONT");
		break;
	case CHAOS_KILL_PRIMARY_AGENT:
		r->target = p;
		step(c, "kill -9 %s's agent; restart in 1 s", c->m[p].agent.name);
		kill_agent(c, p);
		harness_sleep_ms(1000);
		restart_agent(c, p);
		break;
	case CHAOS_KILL_PRIMARY_POSTMASTER:
	case CHAOS_KILL_REPLICA_POSTMASTER: {
		int victim = r->fault == CHAOS_KILL_PRIMARY_POSTMASTER ? p : other_member(c, p);
		r->target = victim;
		pm = postmaster_pid(c, victim);
		if (pm <= 0) {
			add_detail(r, "ERROR: no postmaster");
			break;
		}
		step(c, "kill -9 %s's postmaster (pid %d)", c->m[victim].agent.name, (int) pm);
		kill(pm, SIGKILL);
		break;
	}
	case CHAOS_KILL_PRIMARY_NODE: {
		r->target = p;
		pm = postmaster_pid(c, p);
		step(c, "kill -9 %s's agent and postmaster (pid %d)", c->m[p].agent.name, (int) pm);
		kill_agent(c, p);
		kill_postmaster(pm);
		int64_t since = harness_now_ms();
		int which = -1;
		while (harness_now_ms() - since < t + 8000 && writable_now(c, &which) == 0)
			harness_sleep_ms(20);
		step(c, "%s writable; restarting %s", which >= 0 ? c->m[which].agent.name : "nobody",
		     c->m[p].agent.name);
		restart_agent(c, p);
		break;
	}
	case CHAOS_KILL_REPLICA_AGENT: {
		int victim = other_member(c, p);
		r->target = victim;
		step(c, "kill -9 %s's agent; restart in 1 s", c->m[victim].agent.name);
		kill_agent(c, victim);
		harness_sleep_ms(1000);
		restart_agent(c, victim);
		break;
	}
	case CHAOS_KILL_REPLICA_NODE: {
		int victim = other_member(c, p);
		r->target = victim;
		pm = postmaster_pid(c, victim);
		step(c, "kill -9 %s's agent and postmaster; restart in %d ms", c->m[victim].agent.name, t);
		kill_agent(c, victim);
		kill_postmaster(pm);
		harness_sleep_ms(t);
		restart_agent(c, victim);
		break;
	}
	case CHAOS_RESTART_MID_FAILOVER: {
		bool at_promote = next_random(c) % 2;
		bool with_postmaster = next_random(c) % 2;
		const char *event = at_promote ? "ha.action" : "leader.acquired";
		r->target = p;
		pm = postmaster_pid(c, p);
		step(c, "kill -9 %s's agent and postmaster; then kill the member taking over at %s",
		     c->m[p].agent.name, at_promote ? "its promotion" : "its lock");
		kill_agent(c, p);
		kill_postmaster(pm);
		int next = wait_takeover(c, p, event, 3 * t + 5000);
		if (next < 0) {
			add_detail(r, "no member took over within %d ms", 3 * t + 5000);
		} else {
			pid_t next_pm = with_postmaster ? postmaster_pid(c, next) : 0;
			kill_agent(c, next);
			kill_postmaster(next_pm);
			add_detail(r, "%s killed at %s%s", c->m[next].agent.name,
				   at_promote ? "promote" : "leader.acquired",
				   with_postmaster ? " with its postmaster" : "");
			step(c, "killed %s%s at %s; restarting it", c->m[next].agent.name,
			     with_postmaster ? " and its postmaster" : "", event);
			restart_agent(c, next);
		}
		harness_sleep_ms(1000);
		step(c, "restarting %s", c->m[p].agent.name);
		restart_agent(c, p);
		break;
	}
	default:
		break;
	}
}

enum chaos_fault chaos_random_fault(struct chaos *c)
{
	return (enum chaos_fault) (next_random(c) % CHAOS_FAULT_COUNT);
}

bool chaos_inject(struct chaos *c, enum chaos_fault fault, struct chaos_round *out)
{
	struct chaos_round *r;
	int64_t fault_end;

	if (c->n_rounds >= MAX_ROUNDS || c->finished)
		return false;
	r = &c->rounds[c->n_rounds++];
	memset(r, 0, sizeof(*r));
	r->number = c->n_rounds;
	r->fault = fault;
	r->start_ms = c->window_start;
	r->primary_before = c->primary;
	r->lost_lag_bytes = -1;
	r->synchronous = c->synchronous;
	r->allowed_lag_bytes = chaos_allowed_lag(c);
	for (int i = 0; i < MEMBERS; i++)
		c->m[i].log_offset = log_end(c->m[i].agent.log_path);
	if (c->config.verbose)
		say(c, "  round %d: %s (primary %s)", r->number, chaos_fault_name(fault),
		    c->m[c->primary].agent.name);
	/* A little steady state before each fault. */
	harness_sleep_ms(500);
	r->inject_ms = harness_now_ms();
	run_fault(c, r);
	fault_end = harness_now_ms();
	r->settled = settle(c, r, SETTLE_MS);
	r->end_ms = harness_now_ms();
	r->primary_after = c->primary;
	if (r->settled && c->synchronous && c->sync_standby >= 0)
		step(c, "settled: %s primary, %s its synchronous standby", c->m[c->primary].agent.name,
		     c->m[c->sync_standby].agent.name);
	else if (r->settled)
		step(c, "settled: %s primary", c->m[c->primary].agent.name);

	r->lost = check_lost(c, c->primary, r->number, &r->lost_lag_bytes);
	if (r->lost < 0) {
		add_detail(r, "ERROR: could not read the ids on the primary");
		r->lost = 0;
	}
	r->acked = acked_between(c, r->start_ms, r->end_ms);
	writable_time(c, r->start_ms, r->end_ms, &r->two_writable_ms, &r->none_writable_ms);
	r->old_primary_last_write_ms = -1;
	int64_t last = last_write_on(c, r->primary_before, r->inject_ms, fault_end);
	if (last >= 0)
		r->old_primary_last_write_ms = last - r->inject_ms;
	int64_t first = first_write_after(c, fault_end, r->end_ms);
	r->writes_resumed_ms = first >= 0 ? first - fault_end : -1;
	for (int i = 0; i < MEMBERS; i++) {
		off_t offset = c->m[i].log_offset;
		r->failovers += scan_log(c->m[i].agent.log_path, &offset, "pg.promoted", NULL, NULL);
	}
	if (r->primary_after != r->primary_before)
		add_detail(r, "primary %s -> %s", c->m[r->primary_before].agent.name,
			   c->m[r->primary_after].agent.name);
	c->window_start = r->end_ms;
	char target[32] = "";
	if (r->target >= 0 && (fault == CHAOS_PARTITION_ZK_LEADER || fault == CHAOS_ZK_LEADER_LOSS ||
			       fault == CHAOS_ZK_MAJORITY_LOSS))
		snprintf(target, sizeof(target), "zk%d", r->target + 1);
	else if (r->target >= 0)
		snprintf(target, sizeof(target), "%s", c->m[r->target].agent.name);
	else if (fault == CHAOS_STOP_ZOOKEEPER)
		snprintf(target, sizeof(target), "zk*");
	say(c, "  %3d %-24s %-5s %-6s failovers %d  acked %5ld  lost %3ld%s  two-writable %5" PRId64
	       " ms  none %6" PRId64 " ms  settled in %.1f s%s%s",
	    r->number, chaos_fault_name(fault), target, r->settled ? "ok" : "STUCK", r->failovers, r->acked,
	    r->lost, r->lost > 0 ? " (lag)" : "", r->two_writable_ms, r->none_writable_ms,
	    (double) (r->end_ms - fault_end) / 1000.0, r->detail[0] ? "  | " : "", r->detail);
	if (r->lost > 0 && r->synchronous)
		say(c, "      lost commits reach %" PRId64 " bytes past the end of their timeline "
		       "(synchronous mode: none may be lost)",
		    r->lost_lag_bytes);
	else if (r->lost > 0)
		say(c, "      lost commits reach %" PRId64 " bytes past the end of their timeline "
		       "(maximum_lag_on_failover %" PRId64 ")",
		    r->lost_lag_bytes, c->config.maximum_lag_on_failover);
	if (out)
		*out = *r;
	return r->settled;
}

/* --- the end --------------------------------------------------------------------------- */

void chaos_finish(struct chaos *c)
{
	int64_t lag;
	long lost;

	if (!c || c->finished)
		return;
	c->finished = true;
	stop_threads(c);
	if (c->n_rounds == 0)
		return;
	/* The writer's last acknowledged commits were not in the last round's
	 * read; the cluster is settled, nothing more can be lost. */
	lost = check_lost(c, c->primary, c->n_rounds, &lag);
	if (lost > 0) {
		struct chaos_round *r = &c->rounds[c->n_rounds - 1];
		r->lost += lost;
		if (lag > r->lost_lag_bytes)
			r->lost_lag_bytes = lag;
		c->lost_after_rounds = lost;
	}
	/* Commits acknowledged after the last round ended count there too. */
	c->rounds[c->n_rounds - 1].acked += acked_between(c, c->rounds[c->n_rounds - 1].end_ms,
							  harness_now_ms() + 1);
}

/* synchronous: 0 asynchronous rounds only, 1 synchronous ones, -1 both. */
static void totals(const struct chaos *c, int fault, int synchronous, struct chaos_totals *t)
{
	memset(t, 0, sizeof(*t));
	t->lost_lag_bytes = -1;
	for (int k = 0; k < c->n_rounds; k++) {
		const struct chaos_round *r = &c->rounds[k];
		if (fault >= 0 && (int) r->fault != fault)
			continue;
		if (synchronous >= 0 && r->synchronous != (synchronous == 1))
			continue;
		if (r->failovers > 0 && r->allowed_lag_bytes > t->allowed_lag_bytes)
			t->allowed_lag_bytes = r->allowed_lag_bytes;
		t->faults++;
		t->failovers += r->failovers;
		t->unsettled += !r->settled;
		t->acked += r->acked;
		t->lost += r->lost;
		if (r->lost_lag_bytes > t->lost_lag_bytes)
			t->lost_lag_bytes = r->lost_lag_bytes;
		t->two_writable_ms += r->two_writable_ms;
		t->none_writable_ms += r->none_writable_ms;
	}
}

void chaos_totals(const struct chaos *c, int fault, struct chaos_totals *t)
{
	totals(c, fault, -1, t);
}

static void print_row(FILE *out, int width, const char *name, const struct chaos_totals *t)
{
	char lag[32];

	if (t->lost_lag_bytes >= 0)
		snprintf(lag, sizeof(lag), "%" PRId64, t->lost_lag_bytes);
	else
		snprintf(lag, sizeof(lag), "-");
	fprintf(out, "%-*s %6d %9d %8ld %5ld %10s %10" PRId64 " %10" PRId64 " %10" PRId64 "%s\n",
		width, name, t->faults, t->failovers, t->acked, t->lost, lag, t->allowed_lag_bytes,
		t->two_writable_ms, t->none_writable_ms, t->unsettled ? "  STUCK" : "");
}

/* One row per fault; when the run had rounds in both modes (the short
 * suite switches to synchronous mode at its end), the synchronous ones get
 * their own rows, "<fault> sync". */
void chaos_print_table(const struct chaos *c, FILE *out)
{
	struct chaos_totals t, sync_rounds;
	bool mixed;
	int width;

	totals(c, -1, 1, &sync_rounds);
	mixed = sync_rounds.faults > 0 && sync_rounds.faults < c->n_rounds;
	width = mixed ? 29 : 26;
	fprintf(out, "\n%-*s %6s %9s %8s %5s %10s %10s %10s %10s\n", width, "scenario", "faults",
		"failovers", "acked", "lost", "lost lag B", "allowed B", "2-writ ms", "none ms");
	for (int mode = 0; mode <= (mixed ? 1 : 0); mode++)
		for (int f = 0; f < CHAOS_FAULT_COUNT; f++) {
			char name[64];
			totals(c, f, mixed ? mode : -1, &t);
			if (!t.faults)
				continue;
			snprintf(name, sizeof(name), "%s%s", chaos_fault_name((enum chaos_fault) f),
				 mixed && mode ? " sync" : "");
			print_row(out, width, name, &t);
		}
	totals(c, -1, -1, &t);
	print_row(out, width, "total", &t);
	fprintf(out, "(lost lag B: the farthest lost commit past the end of its timeline; allowed B: "
		     "maximum_lag_on_failover per failover, 0 in synchronous mode: none may be "
		     "lost)\n");
	fflush(out);
}

const struct chaos_round *chaos_rounds(const struct chaos *c, int *count)
{
	*count = c->n_rounds;
	return c->rounds;
}

void chaos_stop(struct chaos *c)
{
	if (c) {
		stop_threads(c);
		partition_heal_all();
		/* Whatever is frozen must run to stop. */
		for (int i = 0; i < ZK_SERVERS; i++)
			if (c->zk.server[i].frozen)
				harness_zk_resume_server(&c->zk, i);
		partition_signal_all(SIGCONT);
		if (c->client)
			zk_client_close(c->client);
		c->client = NULL;
		/* Agents first (each stops its PostgreSQL), then ZooKeeper. */
		for (int i = 0; i < MEMBERS; i++)
			if (c->m[i].agent.pid > 0 && harness_is_running(c->m[i].agent.pid))
				kill(c->m[i].agent.pid, SIGTERM);
		for (int i = 0; i < MEMBERS; i++)
			if (c->m[i].agent.pid > 0)
				harness_stop(c->m[i].agent.pid, 20000);
		harness_zk_stop(&c->zk);
	}
	/* Orphaned postmasters of killed agents, and anything else left. */
	partition_teardown();
	if (c) {
		for (int i = 0; i < MEMBERS; i++)
			free(c->obs[i].v);
		free(c->writes);
		pthread_mutex_destroy(&c->lock);
		free(c);
	}
}
