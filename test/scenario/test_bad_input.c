/*
 * Bad input, against real servers: a wrong bin_dir, a data directory of
 * another cluster, a pg_hba line PostgreSQL rejects, and a leader that
 * cannot be cloned from.  Each must end in a clear logged error and a safe
 * state: no half-started primary, no lock held by the failing member, no
 * `initialize` left behind that would stop another member from trying, and
 * no tight retry loop.
 *
 * The checks are what an operator sees: the agent's JSON log, the znodes,
 * the processes on the machine and PostgreSQL through libpq.  Most checks
 * are "soft" (check()): a test reports every broken expectation before it
 * fails, so one run tells the whole story.
 */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <zookeeper/zookeeper.h>

#include "test/harness/harness.h"
#include "test/harness/zk_client.h"
#include "test/scenario/agents.h"

#define SESSION_TIMEOUT_S 3.0
#define WAIT_MS 30000
#define PATH_LEN 1024

/* ---- soft checks ------------------------------------------------------------ */

static int soft_failures;

static void check_at(bool ok, const char *file, int line, const char *format, ...)
	__attribute__((format(printf, 4, 5)));
static void check_at(bool ok, const char *file, int line, const char *format, ...)
{
	va_list ap;

	if (ok)
		return;
	soft_failures++;
	printf("     FAILED CHECK (%s:%d): ", file, line);
	va_start(ap, format);
	vprintf(format, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}
#define check(ok, ...) check_at((ok), __FILE__, __LINE__, __VA_ARGS__)

static void checks_done(void)
{
	int n = soft_failures;
	soft_failures = 0;
	fflush(stdout);
	if (n)
		fail_msg("%d check(s) failed (listed above)", n);
}

/* ---- processes frozen by a test, resumed whatever happens ------------------- */

#define MAX_FROZEN 64
static pid_t frozen[MAX_FROZEN];
static int n_frozen;

static void resume_frozen(void)
{
	for (int i = 0; i < n_frozen; i++)
		(void) kill(frozen[i], SIGCONT);
	n_frozen = 0;
}

static int test_setup(void **state)
{
	soft_failures = 0;
	n_frozen = 0;
	return harness_test_setup(state);
}

static int test_teardown(void **state)
{
	resume_frozen();
	soft_failures = 0;
	return harness_test_teardown(state);
}

/* ---- members: configuration written here (agents.h has no bin_dir or
 *      pg_hba option) and started like test_agent_restart() does ------------ */

struct member_options {
	const char *scope;
	const char *name;
	const char *data_dir;		/* NULL: <run>/<scope>/<name>/data */
	const char *bin_dir;		/* NULL: the agent's default */
	const char *hba_line;		/* NULL: none */
	const char *replication_password;	/* NULL: the right one */
};

struct member {
	struct test_agent agent;
	char scope[32];
	char data_dir[PATH_LEN];
	char socket_dir[PATH_LEN + 16];
	int api_port;
};

#define RIGHT_REPLICATION_PASSWORD "test-replication-secret"

static bool write_member_config(struct member *m, const struct harness_zk *zk,
				const struct member_options *o)
{
	char relpath[160];
	char config[4096];
	char bin_dir[PATH_LEN + 32] = "";
	char hba[512] = "";

	if (o->bin_dir)
		snprintf(bin_dir, sizeof(bin_dir), "  bin_dir: %s\n", o->bin_dir);
	if (o->hba_line)
		snprintf(hba, sizeof(hba), "  pg_hba:\n    - \"%s\"\n", o->hba_line);
	snprintf(config, sizeof(config),
		 "scope: %s\n"
		 "namespace: /service\n"
		 "name: %s\n"
		 "restapi:\n  listen: 127.0.0.1:%d\n  connect_address: 127.0.0.1:%d\n"
		 "zookeeper:\n  hosts: '%s'\n  session_timeout: %.3f\n"
		 "postgresql:\n  listen: 127.0.0.1:%d\n  connect_address: 127.0.0.1:%d\n"
		 "  data_dir: %s\n"
		 "%s"
		 "  authentication:\n"
		 "    superuser: {username: postgres, password: test-superuser-secret}\n"
		 "    replication: {username: replicator, password: %s}\n"
		 "  parameters: {fsync: off, shared_buffers: 16MB}\n"
		 "%s"
		 "tags:\n  nofailover: false\n"
		 "log:\n  format: json\n  level: DEBUG\n",
		 o->scope, o->name, m->api_port, m->api_port, zk->connect_string, SESSION_TIMEOUT_S,
		 m->agent.pg_port, m->agent.pg_port, m->data_dir, bin_dir,
		 o->replication_password ? o->replication_password : RIGHT_REPLICATION_PASSWORD, hba);
	snprintf(relpath, sizeof(relpath), "%s/%s.yml", o->scope, o->name);
	m->agent.config_path = harness_write_file(relpath, config);
	return m->agent.config_path != NULL;
}

static bool member_start(struct member *m, const struct harness_zk *zk,
			 const struct member_options *o)
{
	char relpath[160];
	const char *dir;

	memset(m, 0, sizeof(*m));
	snprintf(m->scope, sizeof(m->scope), "%s", o->scope);
	snprintf(m->agent.name, sizeof(m->agent.name), "%s", o->name);
	m->agent.pg_port = harness_free_port();
	m->api_port = harness_free_port();
	snprintf(relpath, sizeof(relpath), "%s/%s", o->scope, o->name);
	dir = harness_mkdir(relpath);
	if (!dir)
		return false;
	if (o->data_dir)
		snprintf(m->data_dir, sizeof(m->data_dir), "%s", o->data_dir);
	else
		snprintf(m->data_dir, sizeof(m->data_dir), "%s/data", dir);
	snprintf(m->socket_dir, sizeof(m->socket_dir), "%s.pgherd", m->data_dir);
	if (!write_member_config(m, zk, o))
		return false;
	snprintf(relpath, sizeof(relpath), "%s/%s.log", o->scope, o->name);
	m->agent.log_path = harness_path(relpath);
	if (!m->agent.log_path)
		return false;
	return test_agent_restart(&m->agent);
}

/* ---- the agent's log ---------------------------------------------------------- */

/* A record's field as text: strings as they are, anything else as JSON. */
static void field_text(const json_t *record, const char *field, char *out, size_t size)
{
	const json_t *value = json_object_get(record, field);
	out[0] = '\0';
	if (!value)
		return;
	if (json_is_string(value)) {
		snprintf(out, size, "%s", json_string_value(value));
	} else {
		char *text = json_dumps(value, JSON_ENCODE_ANY);
		snprintf(out, size, "%s", text ? text : "");
		free(text);
	}
}

static json_t *record_matching(const char *line, const char *event, const char *field,
			       const char *contains)
{
	json_t *record = json_loads(line, 0, NULL);
	char text[8192];

	if (!json_is_object(record)) {
		json_decref(record);
		return NULL;
	}
	if (event) {
		const char *e = json_string_value(json_object_get(record, "event"));
		if (!e || strcmp(e, event) != 0) {
			json_decref(record);
			return NULL;
		}
	}
	if (field) {
		if (!json_object_get(record, field)) {
			json_decref(record);
			return NULL;
		}
		field_text(record, field, text, sizeof(text));
		if (contains && !strstr(text, contains)) {
			json_decref(record);
			return NULL;
		}
	}
	return record;
}

/*
 * Scan the log from line `from` (0-based) for records of `event` whose
 * `field` contains `contains` (NULL: any record of the event); calls visit()
 * for each until it returns false.  Returns the number of lines read.
 */
typedef bool (*visit_fn)(void *arg, json_t *record, size_t line);

static size_t log_scan(const char *path, const char *event, const char *field,
		       const char *contains, size_t from, size_t until, visit_fn visit, void *arg)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, line = 0;
	ssize_t n;

	if (!f)
		return 0;
	while ((n = getline(&buf, &cap, f)) > 0) {
		if (buf[n - 1] != '\n')
			break;	/* a partial line: not written completely yet */
		if (line >= from && line < until) {
			json_t *record = record_matching(buf, event, field, contains);
			if (record) {
				bool more = visit(arg, record, line);
				json_decref(record);
				if (!more) {
					line++;
					break;
				}
			}
		}
		line++;
	}
	free(buf);
	fclose(f);
	return line;
}

struct find_state {
	json_t *record;
	size_t line;
};

static bool find_first(void *arg, json_t *record, size_t line)
{
	struct find_state *s = arg;
	s->record = json_incref(record);
	s->line = line;
	return false;
}

/* Wait for the first matching record at or after `from`; the record and
 * its line go to the optional outputs (json_decref the record). */
static bool log_find(const char *path, const char *event, const char *field, const char *contains,
		     size_t from, int timeout_ms, json_t **record_out, size_t *line_out)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	struct find_state s = { 0 };

	if (record_out)
		*record_out = NULL;
	for (;;) {
		log_scan(path, event, field, contains, from, SIZE_MAX, find_first, &s);
		if (s.record) {
			if (line_out)
				*line_out = s.line;
			if (record_out)
				*record_out = s.record;
			else
				json_decref(s.record);
			return true;
		}
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(20);
	}
}

static bool count_one(void *arg, json_t *record, size_t line)
{
	(void) record;
	(void) line;
	(*(size_t *) arg)++;
	return true;
}

static size_t log_count(const char *path, const char *event, const char *field,
			const char *contains, size_t from, size_t until)
{
	size_t count = 0;
	log_scan(path, event, field, contains, from, until, count_one, &count);
	return count;
}

static size_t log_lines(const char *path)
{
	return harness_log_line_count(path);
}

struct times {
	int64_t ms[64];
	size_t n;
};

static bool collect_time(void *arg, json_t *record, size_t line)
{
	struct times *t = arg;
	(void) line;
	if (t->n < sizeof(t->ms) / sizeof(t->ms[0]))
		t->ms[t->n++] = test_record_ms(record);
	return true;
}

static const char *record_str(const json_t *record, const char *field)
{
	const char *s = json_string_value(json_object_get(record, field));
	return s ? s : "";
}

static long long record_int(const json_t *record, const char *field)
{
	const json_t *v = json_object_get(record, field);
	return json_is_integer(v) ? (long long) json_integer_value(v) : -1;
}

/* Print the records of the given events (all when NULL) from line `from`,
 * to show in the test output what an operator would read. */
static bool print_record(void *arg, json_t *record, size_t line)
{
	char *text = json_dumps(record, JSON_PRESERVE_ORDER | JSON_COMPACT);
	(void) arg;
	printf("       %zu: %s\n", line, text ? text : "?");
	free(text);
	return true;
}

static void show_log(const char *path, const char *event, const char *field, const char *contains,
		     size_t from)
{
	log_scan(path, event, field, contains, from, SIZE_MAX, print_record, NULL);
}

/* ---- ZooKeeper ---------------------------------------------------------------- */

static int znode_get(struct zk_client *client, const char *scope, const char *leaf, char *out,
		     size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "/service/%s/%s", scope, leaf);
	out[0] = '\0';
	return zk_client_get(client, path, out, size, NULL);
}

static bool initialize_gone(struct zk_client *client, const char *scope, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	char data[128];

	while (znode_get(client, scope, "initialize", data, sizeof(data)) != ZNONODE) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(20);
	}
	return true;
}

/* The leader znode's content ("" when there is none). */
static void leader_name(struct zk_client *client, const char *scope, char *out, size_t size)
{
	if (znode_get(client, scope, "leader", out, size) != ZOK)
		out[0] = '\0';
}

/* "role/state" from members/<name>, "" if absent. */
static void member_role_state(struct zk_client *client, const char *scope, const char *name,
			      char *out, size_t size)
{
	char leaf[128], data[4096];
	json_t *status;

	out[0] = '\0';
	snprintf(leaf, sizeof(leaf), "members/%s", name);
	if (znode_get(client, scope, leaf, data, sizeof(data)) != ZOK)
		return;
	status = json_loads(data, 0, NULL);
	snprintf(out, size, "%s/%s", record_str(status, "role"), record_str(status, "state"));
	json_decref(status);
}

static bool in_election(struct zk_client *client, const char *scope, const char *name)
{
	char path[256];
	struct zk_client_children children = { 0 };
	bool found = false;

	snprintf(path, sizeof(path), "/service/%s/election", scope);
	if (zk_client_children(client, path, &children) != ZOK)
		return false;
	for (int i = 0; i < children.count; i++)
		if (strncmp(children.names[i], name, strlen(name)) == 0 &&
		    !isalnum((unsigned char) children.names[i][strlen(name)]))
			found = true;
	zk_client_children_free(&children);
	return found;
}

/* ---- processes ---------------------------------------------------------------- */

/* Postmasters (argv[0] ends in "postgres", an argument equal to data_dir)
 * running on this machine, whoever started them. */
static int postmasters_on(const char *data_dir, pid_t *first)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int count = 0;

	if (first)
		*first = 0;
	while (proc && (e = readdir(proc)) != NULL) {
		char path[300], args[8192];
		size_t n;
		FILE *f;

		if (!isdigit((unsigned char) e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		n = fread(args, 1, sizeof(args) - 1, f);
		fclose(f);
		if (n == 0)
			continue;
		args[n] = '\0';
		size_t len0 = strlen(args);
		if (len0 < 8 || strcmp(args + len0 - 8, "postgres") != 0)
			continue;
		for (size_t at = len0 + 1; at < n; at += strlen(args + at) + 1)
			if (strcmp(args + at, data_dir) == 0) {
				if (first && !*first)
					*first = (pid_t) atoi(e->d_name);	/* NOLINT: a /proc name */
				count++;
				break;
			}
	}
	if (proc)
		closedir(proc);
	return count;
}

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_LEN + 64];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Entries of a directory (0 if it does not exist). */
static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

/* Siblings <data_dir>.failed-* : where a failed bootstrap is moved aside. */
static int moved_aside_dirs(const char *data_dir, char *first, size_t size)
{
	char parent[PATH_LEN], base[PATH_LEN], prefix[PATH_LEN + 16];
	const char *slash = strrchr(data_dir, '/');
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (!slash)
		return 0;
	snprintf(parent, sizeof(parent), "%.*s", (int) (slash - data_dir), data_dir);
	snprintf(base, sizeof(base), "%s", slash + 1);
	snprintf(prefix, sizeof(prefix), "%s.failed-", base);
	if (first && size)
		first[0] = '\0';
	d = opendir(parent);
	while (d && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			if (first && !first[0])
				snprintf(first, size, "%s/%s", parent, e->d_name);
			n++;
		}
	if (d)
		closedir(d);
	return n;
}

/* Freeze a postmaster and every process it started: the server stops
 * answering while its sockets stay open, as a hung or partitioned host. */
static int freeze_postmaster(pid_t postmaster)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	int count = 0;

	if (kill(postmaster, SIGSTOP) == 0 && n_frozen < MAX_FROZEN) {
		frozen[n_frozen++] = postmaster;
		count++;
	}
	while (proc && (e = readdir(proc)) != NULL) {
		char path[300], stat_line[512];
		FILE *f;
		long ppid = 0;
		char *close_paren;

		if (!isdigit((unsigned char) e->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(stat_line, 1, sizeof(stat_line) - 1, f);
		fclose(f);
		stat_line[n] = '\0';
		close_paren = strrchr(stat_line, ')');
		if (!close_paren || sscanf(close_paren + 2, "%*c %ld", &ppid) != 1)
			continue;
		if ((pid_t) ppid != postmaster)
			continue;
		pid_t pid = (pid_t) atoi(e->d_name);	/* NOLINT: a /proc name */
		if (kill(pid, SIGSTOP) == 0 && n_frozen < MAX_FROZEN) {
			frozen[n_frozen++] = pid;
			count++;
		}
	}
	if (proc)
		closedir(proc);
	return count;
}

/* ---- PostgreSQL through libpq ------------------------------------------------ */

static void ignore_notice(void *arg, const char *message)
{
	(void) arg;
	(void) message;
}

/* One statement through the member's private socket; the first value of
 * the first row goes to out.  False on any error (the message goes to out
 * when out is given). */
static bool sql(const struct member *m, const char *statement, char *out, size_t size)
{
	char conninfo[PATH_LEN + 128];
	PGconn *conn;
	PGresult *result;
	bool ok;

	snprintf(conninfo, sizeof(conninfo),
		 "host=%s port=%d user=postgres dbname=postgres connect_timeout=2", m->socket_dir,
		 m->agent.pg_port);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		if (out && size)
			snprintf(out, size, "%s", PQerrorMessage(conn));
		PQfinish(conn);
		return false;
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	result = PQexec(conn, statement);
	ok = PQresultStatus(result) == PGRES_TUPLES_OK || PQresultStatus(result) == PGRES_COMMAND_OK;
	if (out && size) {
		out[0] = '\0';
		if (ok && PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0)
			snprintf(out, size, "%s", PQgetvalue(result, 0, 0));
		else if (!ok)
			snprintf(out, size, "%s", PQerrorMessage(conn));
	}
	PQclear(result);
	PQfinish(conn);
	return ok;
}

/* The member accepts a write right now. */
static bool writable(const struct member *m)
{
	char value[256];
	return sql(m, "SELECT pg_is_in_recovery()::text", value, sizeof(value)) &&
	       strcmp(value, "false") == 0 &&
	       sql(m, "CREATE TABLE IF NOT EXISTS probe (id bigint); INSERT INTO probe VALUES (1)",
		   NULL, 0);
}

static bool wait_writable(const struct member *m, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;
	while (!writable(m)) {
		if (harness_now_ms() >= deadline)
			return false;
		harness_sleep_ms(50);
	}
	return true;
}

static int streaming_replicas(const struct member *primary)
{
	char value[256];
	if (!sql(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", value,
		 sizeof(value)))
		return -1;
	return atoi(value);	/* NOLINT: a count PostgreSQL printed */
}

/* ---- common shapes -------------------------------------------------------------- */

static void zk_up(struct harness_zk *zk, struct zk_client **client)
{
	assert_true(harness_zk_start(1, zk));
	assert_int_equal(zk_client_connect(zk->connect_string, 10000, 5000, client), ZOK);
}

/*
 * Retries are bounded by the delay the agent announces: between the end of
 * one failed attempt (ha.action_failed) and the start of the next
 * (ha.action) at least retry_in_ms must pass.  Prints the attempts.
 */
static void check_retry_pacing(const struct member *m, const char *action, size_t from,
			       int window_ms)
{
	json_t *failed = NULL;
	struct times starts = { 0 }, failures = { 0 };
	size_t until;
	long long retry_ms;

	/* From the first attempt, so that attempt i+1 follows failure i. */
	size_t first = 0;
	if (log_find(m->agent.log_path, "ha.action", "action", action, 0, 100, NULL, &first) &&
	    first < from)
		from = first;
	if (!log_find(m->agent.log_path, "ha.action_failed", "action", action, from, 100,
		      &failed, NULL)) {
		check(false, "%s: no ha.action_failed action=%s to pace retries by", m->agent.name,
		      action);
		return;
	}
	retry_ms = record_int(failed, "retry_in_ms");
	json_decref(failed);
	check(retry_ms >= 1000, "%s: retry_in_ms=%lld: a failed %s must not be retried at once",
	      m->agent.name, retry_ms, action);
	harness_sleep_ms(window_ms);
	until = log_lines(m->agent.log_path);
	log_scan(m->agent.log_path, "ha.action", "action", action, from, until, collect_time, &starts);
	log_scan(m->agent.log_path, "ha.action_failed", "action", action, from, until, collect_time,
		 &failures);
	printf("     %s: %zu %s attempt(s), %zu failure(s) from its first attempt to %d ms after "
	       "a failure (retry_in_ms=%lld)\n",
	       m->agent.name, starts.n, action, failures.n, window_ms, retry_ms);
	for (size_t i = 0; i < starts.n; i++)
		printf("       attempt %zu at +%lld ms\n", i + 1, (long long) (starts.ms[i] - starts.ms[0]));
	/* Attempts at t, t+d, t+2d, ...: at most window/d + 1, plus the first
	 * one, which started before the window. */
	if (retry_ms > 0)
		check((long long) starts.n <= window_ms / retry_ms + 2,
		      "%s: %zu %s attempts in %d ms: a tight retry loop (retry_in_ms=%lld)",
		      m->agent.name, starts.n, action, window_ms, retry_ms);
	for (size_t i = 0; i + 1 < starts.n && i < failures.n; i++) {
		int64_t gap = starts.ms[i + 1] - failures.ms[i];
		check(gap >= retry_ms - 100,
		      "%s: %s attempt %zu started %lld ms after failure %zu (retry_in_ms=%lld)",
		      m->agent.name, action, i + 2, (long long) gap, i + 1, retry_ms);
	}
	/* The log does not flood either (DEBUG level, ~1 evaluation a second). */
	size_t lines = until - from;
	check(lines < (size_t) window_ms / 10,
	      "%s: %zu log lines in %d ms: the agent floods its log", m->agent.name, lines,
	      window_ms);
}

/* The member holds no lock, runs no PostgreSQL and its agent is alive. */
static void check_safe_and_alive(struct zk_client *client, const struct member *m)
{
	char leader[128], role[256];
	pid_t pid;

	leader_name(client, m->scope, leader, sizeof(leader));
	check(strcmp(leader, m->agent.name) != 0, "%s holds the leader lock", m->agent.name);
	check(log_count(m->agent.log_path, "leader.acquired", NULL, NULL, 0, SIZE_MAX) == 0,
	      "%s logged leader.acquired", m->agent.name);
	int running = postmasters_on(m->data_dir, &pid);
	check(running == 0, "%d postmaster(s) run on %s (pid %d)", running, m->data_dir, (int) pid);
	check(!file_exists(m->data_dir, "postmaster.pid") || running == 0,
	      "postmaster.pid left in %s", m->data_dir);
	check(harness_is_running(m->agent.pid), "the agent %s is not running any more (crashed?)",
	      m->agent.name);
	member_role_state(client, m->scope, m->agent.name, role, sizeof(role));
	printf("     %s: members/%s says role/state %s, leader znode '%s'\n", m->agent.name,
	       m->agent.name, role[0] ? role : "(none)", leader);
	check(strstr(role, "running") == NULL || strncmp(role, "replica/", 8) == 0,
	      "members/%s says %s", m->agent.name, role);
	/* Patroni's tools read role master as "this is a primary". */
	check(strncmp(role, "master/", 7) != 0, "members/%s advertises a primary: %s", m->agent.name,
	      role);
}

/* SIGTERM: a failing member still stops cleanly, and says so. */
static void check_clean_stop(struct member *m)
{
	if (!harness_is_running(m->agent.pid))
		return;
	int status = harness_stop(m->agent.pid, 20000);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "%s did not exit cleanly on SIGTERM (wait status 0x%x)", m->agent.name, status);
	check(log_find(m->agent.log_path, "agent.stopped", NULL, NULL, 0, 1000, NULL, NULL),
	      "%s did not log agent.stopped", m->agent.name);
	m->agent.pid = 0;
}

/* ---- 1. wrong bin_dir ---------------------------------------------------------- */

static void test_wrong_bin_dir_fails_bootstrap_safely(void **state)
{
	(void) state;
	struct harness_zk zk;
	struct zk_client *client;
	struct member m;
	json_t *record = NULL;
	size_t line = 0, failed_line = 0;
	char data[128];
	const char *bin_dir;

	zk_up(&zk, &client);
	/* A directory that exists but holds no PostgreSQL. */
	bin_dir = harness_mkdir("wrongbin/not-postgresql-bin");
	assert_non_null(bin_dir);
	struct member_options o = { .scope = "wrongbin", .name = "node1", .bin_dir = bin_dir };
	assert_true(member_start(&m, &zk, &o));

	/* The clear error: which program, which command, what went wrong. */
	if (!log_find(m.agent.log_path, "pg.tool_start_failed", NULL, NULL, 0, WAIT_MS, &record,
		      &line)) {
		show_log(m.agent.log_path, NULL, NULL, NULL, 0);
		fail_msg("no pg.tool_start_failed in %d ms", WAIT_MS);
	}
	char expected_program[PATH_LEN + 32];
	const char *tool = record_str(record, "tool");
	const char *command = record_str(record, "command");
	print_record(NULL, record, line);
	snprintf(expected_program, sizeof(expected_program), "%s/%s", bin_dir, tool);
	check(strcmp(tool, "initdb") == 0 || strcmp(tool, "pg_controldata") == 0,
	      "tool=%s: expected the first program a fresh member runs (initdb)", tool);
	check(strncmp(command, expected_program, strlen(expected_program)) == 0,
	      "command '%s' does not start with the missing program %s", command, expected_program);
	check(strcmp(record_str(record, "step"), "exec") == 0, "step=%s, expected exec",
	      record_str(record, "step"));
	check(strstr(record_str(record, "error"), "No such file") != NULL,
	      "error='%s' does not say the program is missing", record_str(record, "error"));
	json_decref(record);

	/* Bootstrap failed as a whole, visibly. */
	check(log_find(m.agent.log_path, "pg.bootstrap_failed", NULL, NULL, line, 5000, &record,
		       &failed_line),
	      "no pg.bootstrap_failed after the missing initdb");
	if (record)
		printf("     pg.bootstrap_failed reason='%s'\n", record_str(record, "reason"));
	json_decref(record);
	record = NULL;
	check(log_find(m.agent.log_path, "ha.action_failed", "action", "bootstrap", line, 5000, NULL,
		       NULL),
	      "no ha.action_failed action=bootstrap");

	/* initialize is removed again (it never got a system identifier), so
	 * another member can try; nobody holds the lock; nothing runs. */
	check(initialize_gone(client, "wrongbin", 2500),
	      "initialize still exists 2.5 s after the failed bootstrap");
	check(znode_get(client, "wrongbin", "leader", data, sizeof(data)) == ZNONODE,
	      "a leader znode exists: '%s'", data);
	check_safe_and_alive(client, &m);
	check(log_count(m.agent.log_path, "pg.tool_started", "tool", "postgres", 0, SIZE_MAX) == 0,
	      "a postmaster was started");

	/* It retries, but paced: never a tight loop. */
	check_retry_pacing(&m, "bootstrap", line, 7000);
	int rc = znode_get(client, "wrongbin", "initialize", data, sizeof(data));
	check(rc == ZNONODE || data[0] == '\0', "initialize holds '%s': a system identifier", data);
	check_safe_and_alive(client, &m);
	check_clean_stop(&m);
	checks_done();
}

/* ---- 2. a data directory of another cluster -------------------------------- */

static void test_foreign_data_directory_is_never_started(void **state)
{
	(void) state;
	struct harness_zk zk;
	struct zk_client *client;
	struct member a1, b1, intruder;
	char sysid_a[128], sysid_b[128], leader[128], value[256];
	json_t *record = NULL;
	size_t line = 0;

	zk_up(&zk, &client);
	/* Two clusters, bootstrapped side by side. */
	struct member_options oa = { .scope = "clustera", .name = "a1" };
	struct member_options ob = { .scope = "clusterb", .name = "b1" };
	assert_true(member_start(&a1, &zk, &oa));
	assert_true(member_start(&b1, &zk, &ob));
	assert_true(wait_writable(&a1, WAIT_MS));
	assert_true(wait_writable(&b1, WAIT_MS));
	assert_true(log_find(b1.agent.log_path, "pg.bootstrapped", NULL, NULL, 0, WAIT_MS, NULL, NULL));
	assert_true(log_find(a1.agent.log_path, "pg.bootstrapped", NULL, NULL, 0, WAIT_MS, NULL, NULL));
	assert_int_equal(znode_get(client, "clustera", "initialize", sysid_a, sizeof(sysid_a)), ZOK);
	assert_int_equal(znode_get(client, "clusterb", "initialize", sysid_b, sizeof(sysid_b)), ZOK);
	printf("     cluster A system identifier %s, cluster B %s\n", sysid_a, sysid_b);
	assert_string_not_equal(sysid_a, sysid_b);

	/* B's member stops cleanly: its data directory is a clean primary. */
	assert_int_equal(harness_stop(b1.agent.pid, 20000), 0);
	b1.agent.pid = 0;
	assert_int_equal(postmasters_on(b1.data_dir, NULL), 0);

	/* A member of A is given B's data directory. */
	struct member_options oi = { .scope = "clustera", .name = "intruder",
				     .data_dir = b1.data_dir };
	assert_true(member_start(&intruder, &zk, &oi));

	check(log_find(intruder.agent.log_path, "pg.refused", NULL, NULL, 0, 15000, &record, &line),
	      "no pg.refused within 15 s");
	if (record) {
		const char *reason = record_str(record, "reason");
		printf("     pg.refused reason='%s'\n", reason);
		check(strstr(reason, sysid_a) && strstr(reason, sysid_b),
		      "the reason does not name both system identifiers (%s, %s)", sysid_a, sysid_b);
	}
	json_decref(record);
	check(log_find(intruder.agent.log_path, "ha.decision", "action", "refuse_to_start", 0, 100,
		       NULL, NULL),
	      "no ha.decision action=refuse_to_start");

	/* Some time to do something wrong. */
	harness_sleep_ms(3000);
	size_t started = log_count(intruder.agent.log_path, "pg.tool_started", "tool", "postgres", 0,
				   SIZE_MAX);
	check(started == 0, "the intruder started a postmaster on the foreign data directory %zu time(s)",
	      started);
	if (started)
		show_log(intruder.agent.log_path, "ha.decision", NULL, NULL, 0);
	check(log_count(intruder.agent.log_path, "ha.action", "action", "start_replica", 0, SIZE_MAX) ==
		      0 &&
		      log_count(intruder.agent.log_path, "ha.action", "action", "start_primary", 0,
				SIZE_MAX) == 0,
	      "the intruder decided to start its PostgreSQL");
	check(log_count(intruder.agent.log_path, "pg.refused", NULL, NULL, 0, SIZE_MAX) <= 2,
	      "pg.refused logged %zu times in a few seconds",
	      log_count(intruder.agent.log_path, "pg.refused", NULL, NULL, 0, SIZE_MAX));
	check_safe_and_alive(client, &intruder);
	check(!in_election(client, "clustera", "intruder"), "the intruder still queues for the lock");
	leader_name(client, "clustera", leader, sizeof(leader));
	check(strcmp(leader, "a1") == 0, "cluster A's leader is '%s', expected a1", leader);
	check(writable(&a1), "cluster A's primary no longer accepts writes");
	check(sql(&a1, "SELECT system_identifier::text FROM pg_control_system()", value,
		  sizeof(value)) && strcmp(value, sysid_a) == 0,
	      "a1's system identifier is %s", value);

	/* Even with A's lock free, the intruder never leads. */
	pid_t a1_postmaster = 0;
	(void) postmasters_on(a1.data_dir, &a1_postmaster);
	assert_int_equal(harness_kill(a1.agent.pid), 9);
	a1.agent.pid = 0;
	if (a1_postmaster > 0)
		(void) kill(a1_postmaster, SIGKILL);
	harness_sleep_ms((int) (SESSION_TIMEOUT_S * 1000) + 2500);
	leader_name(client, "clustera", leader, sizeof(leader));
	check(strcmp(leader, "intruder") != 0, "the intruder took cluster A's free lock");
	check_safe_and_alive(client, &intruder);
	check(log_count(intruder.agent.log_path, "pg.tool_started", "tool", "postgres", 0, SIZE_MAX) ==
		      0,
	      "the intruder started a postmaster once A's leader was gone");
	/* B's data directory was not touched: still a cleanly stopped B. */
	check(!file_exists(b1.data_dir, "standby.signal"),
	      "standby.signal was written into the foreign data directory");
	check_clean_stop(&intruder);
	checks_done();
}

/* ---- 3. a pg_hba line PostgreSQL rejects --------------------------------- */

#define BAD_HBA_METHOD "no-such-method"

static void test_rejected_pg_hba_line_fails_bootstrap_safely(void **state)
{
	(void) state;
	struct harness_zk zk;
	struct zk_client *client;
	struct member m;
	json_t *record = NULL;
	size_t line = 0, fatal_line = 0;
	char data[128], aside[2 * PATH_LEN + 300];

	zk_up(&zk, &client);
	int64_t started_ms = harness_now_ms();
	struct member_options o = { .scope = "badhba", .name = "node1",
				    .hba_line = "host all all 127.0.0.1/32 " BAD_HBA_METHOD };
	assert_true(member_start(&m, &zk, &o));

	/* PostgreSQL's own words, through the agent's log. */
	if (!log_find(m.agent.log_path, "pg.tool_output", "line", "could not load pg_hba.conf", 0,
		      WAIT_MS, &record, &fatal_line)) {
		show_log(m.agent.log_path, "pg.tool_output", NULL, NULL, 0);
		show_log(m.agent.log_path, "ha.decision", NULL, NULL, 0);
		fail_msg("PostgreSQL's FATAL about pg_hba.conf never reached the agent's log");
	}
	check(strcmp(record_str(record, "tool"), "postgres") == 0, "tool=%s",
	      record_str(record, "tool"));
	printf("     %s\n", record_str(record, "line"));
	json_decref(record);
	check(log_find(m.agent.log_path, "pg.tool_output", "line", BAD_HBA_METHOD, 0, 100, &record,
		       NULL),
	      "no output line names the rejected method '%s'", BAD_HBA_METHOD);
	if (record)
		printf("     %s\n", record_str(record, "line"));
	json_decref(record);
	record = NULL;

	/* The agent says what failed. */
	check(log_find(m.agent.log_path, "pg.start_failed", NULL, NULL, fatal_line, 5000, &record,
		       &line),
	      "no pg.start_failed after the postmaster's FATAL");
	json_decref(record);
	record = NULL;
	bool bootstrap_failed = log_find(m.agent.log_path, "pg.bootstrap_failed", NULL, NULL,
					 fatal_line, 5000, &record, NULL);
	check(bootstrap_failed, "no pg.bootstrap_failed: the failed first start is not reported as a "
			       "failed bootstrap");
	if (record)
		printf("     pg.bootstrap_failed reason='%s'\n", record_str(record, "reason"));
	json_decref(record);
	record = NULL;

	/* Safe: no writable primary, no lock, initialize removed, the failed
	 * data directory moved aside for a look. */
	check(!writable(&m), "the member accepts writes");
	check(initialize_gone(client, "badhba", 2500),
	      "initialize still exists 2.5 s after the failed start: no other member may bootstrap");
	if (znode_get(client, "badhba", "initialize", data, sizeof(data)) == ZOK)
		printf("     initialize='%s'\n", data);
	check(znode_get(client, "badhba", "leader", data, sizeof(data)) == ZNONODE,
	      "a leader znode exists: '%s'", data);
	check(log_find(m.agent.log_path, "pg.data_dir_moved_aside", NULL, NULL, fatal_line, 100,
		       &record, NULL),
	      "no pg.data_dir_moved_aside");
	if (record) {
		const char *path = record_str(record, "path");
		printf("     moved aside to %s\n", path);
		check(file_exists(path, "PG_VERSION"), "%s does not hold the failed cluster", path);
	}
	json_decref(record);
	record = NULL;
	check(moved_aside_dirs(m.data_dir, aside, sizeof(aside)) >= 1,
	      "no %s.failed-* directory", m.data_dir);
	check_safe_and_alive(client, &m);

	/* Whatever it does next, it is paced, and never a writable primary. */
	size_t from = log_lines(m.agent.log_path);
	int64_t watch_until = harness_now_ms() + 4000;
	bool ever_writable = false;
	while (harness_now_ms() < watch_until) {
		ever_writable |= writable(&m);
		harness_sleep_ms(200);
	}
	size_t until = log_lines(m.agent.log_path);
	size_t starts = log_count(m.agent.log_path, "pg.tool_started", "tool", "postgres", from, until);
	size_t actions = log_count(m.agent.log_path, "ha.action", NULL, NULL, from, until);
	printf("     in the next 4 s: %zu ha.action, %zu postmaster start(s)\n", actions, starts);
	show_log(m.agent.log_path, "ha.action", NULL, NULL, from);
	check(!ever_writable, "the member accepted a write");
	check(starts <= 3 && actions <= 4, "%zu postmaster starts and %zu actions in 4 s: a tight loop",
	      starts, actions);
	check(log_count(m.agent.log_path, "ha.action", "action", "start_replica", 0, SIZE_MAX) == 0 &&
		      log_count(m.agent.log_path, "ha.action", "action", "start_primary", 0,
				SIZE_MAX) == 0,
	      "the agent tries to start the half-bootstrapped data directory again (start_replica/"
	      "start_primary), instead of giving the bootstrap up");
	check_safe_and_alive(client, &m);

	/* What the cleared initialize is for: a member with a good
	 * configuration bootstraps the cluster instead. */
	struct member good;
	struct member_options og = { .scope = "badhba", .name = "node2" };
	assert_true(member_start(&good, &zk, &og));
	int64_t t0 = harness_now_ms();
	/* Writable first (the bootstrap winner runs its primary before it
	 * takes the lock), then the lock. */
	bool bootstrapped = wait_writable(&good, 12000);
	char leader[128] = "";
	while (bootstrapped && harness_now_ms() - t0 < 12000) {
		leader_name(client, "badhba", leader, sizeof(leader));
		if (strcmp(leader, "node2") == 0)
			break;
		harness_sleep_ms(20);
	}
	bootstrapped = bootstrapped && strcmp(leader, "node2") == 0;
	check(bootstrapped,
	      "a healthy node2 did not bootstrap the cluster within 12 s (leader '%s')", leader);
	if (bootstrapped)
		printf("     node2 bootstrapped the cluster %lld ms after it started\n",
		       (long long) (harness_now_ms() - t0));
	else
		show_log(good.agent.log_path, "ha.decision", NULL, NULL, 0);
	check(strcmp(leader, "node1") != 0 &&
		      log_count(m.agent.log_path, "leader.acquired", NULL, NULL, 0, SIZE_MAX) == 0,
	      "node1 took the lock");
	check(!writable(&m), "node1 accepts writes");
	check(harness_is_running(m.agent.pid), "node1's agent is not running any more");
	check_clean_stop(&m);
	/* Not asserted: each failed attempt keeps a full data directory. */
	printf("     node1 made %zu bootstrap attempt(s) and left %d moved-aside data "
	       "director%s in %lld s\n",
	       log_count(m.agent.log_path, "ha.action", "action", "bootstrap", 0, SIZE_MAX),
	       moved_aside_dirs(m.data_dir, NULL, 0),
	       moved_aside_dirs(m.data_dir, NULL, 0) == 1 ? "y" : "ies",
	       (long long) (harness_now_ms() - started_ms) / 1000);
	checks_done();
}

/* ---- 4. the leader cannot be cloned from ------------------------------------ */

/* The cloning member's state after a failed clone: nothing half-written
 * that could later start, no lock, no postmaster. */
static void check_after_failed_clone(struct zk_client *client, const struct member *leader,
				     const struct member *m)
{
	char name[128];

	check(!file_exists(m->data_dir, "PG_VERSION") && !file_exists(m->data_dir, "global"),
	      "%s: the failed clone left a data directory (%d entries in %s)", m->agent.name,
	      dir_entries(m->data_dir), m->data_dir);
	check_safe_and_alive(client, m);
	leader_name(client, m->scope, name, sizeof(name));
	check(strcmp(name, leader->agent.name) == 0, "the leader is '%s', expected %s", name,
	      leader->agent.name);
}

static void check_clone_recovers(const struct member *leader, const struct member *m, size_t from)
{
	char value[256];
	int64_t started = harness_now_ms();
	int replicas = -1;

	check(log_find(m->agent.log_path, "pg.cloned", NULL, NULL, from, WAIT_MS, NULL, NULL),
	      "%s: no pg.cloned after the leader became reachable", m->agent.name);
	while (harness_now_ms() - started < WAIT_MS && (replicas = streaming_replicas(leader)) != 1)
		harness_sleep_ms(100);
	check(replicas == 1, "%d replicas streaming from %s, expected 1", replicas,
	      leader->agent.name);
	check(sql(leader, "INSERT INTO probe VALUES (42)", NULL, 0), "the leader takes no write");
	bool seen = false;
	for (int i = 0; i < 100 && !seen; i++) {
		seen = sql(m, "SELECT count(*)::text FROM probe WHERE id = 42", value, sizeof(value)) &&
		       strcmp(value, "1") == 0;
		if (!seen)
			harness_sleep_ms(50);
	}
	check(seen, "%s did not replay a row written on the leader", m->agent.name);
	check(sql(m, "SELECT pg_is_in_recovery()::text", value, sizeof(value)) &&
		      strcmp(value, "true") == 0,
	      "%s is not a replica (%s)", m->agent.name, value);
	printf("     %s cloned and streams %lld ms after the leader became reachable\n",
	       m->agent.name, (long long) (harness_now_ms() - started));
}

static void test_clone_with_wrong_password_fails_cleanly(void **state)
{
	(void) state;
	struct harness_zk zk;
	struct zk_client *client;
	struct member leader, m;
	json_t *record = NULL;
	size_t line = 0;

	zk_up(&zk, &client);
	struct member_options ol = { .scope = "clonepw", .name = "node1" };
	assert_true(member_start(&leader, &zk, &ol));
	assert_true(wait_writable(&leader, WAIT_MS));
	assert_true(log_find(leader.agent.log_path, "pg.bootstrapped", NULL, NULL, 0, WAIT_MS, NULL,
			     NULL));

	/* node2's replication password is not the cluster's. */
	struct member_options om = { .scope = "clonepw", .name = "node2",
				     .replication_password = "not-the-replication-secret" };
	assert_true(member_start(&m, &zk, &om));
	if (!log_find(m.agent.log_path, "ha.action_failed", "action", "clone", 0, WAIT_MS, &record,
		      &line)) {
		show_log(m.agent.log_path, "ha.decision", NULL, NULL, 0);
		show_log(m.agent.log_path, "pg.tool_output", NULL, NULL, 0);
		fail_msg("no ha.action_failed action=clone within %d ms", WAIT_MS);
	}
	printf("     ha.action_failed detail='%s' retry_in_ms=%lld\n", record_str(record, "detail"),
	       record_int(record, "retry_in_ms"));
	json_decref(record);
	record = NULL;
	check(log_find(m.agent.log_path, "pg.tool_output", "line", "password authentication failed",
		       0, 100, &record, NULL),
	      "pg_basebackup's own message is not in the log");
	if (record) {
		printf("     %s: %s\n", record_str(record, "tool"), record_str(record, "line"));
		check(strcmp(record_str(record, "tool"), "pg_basebackup") == 0, "tool=%s",
		      record_str(record, "tool"));
	}
	json_decref(record);
	record = NULL;
	/* The password is never logged. */
	check(log_count(m.agent.log_path, NULL, "command", "not-the-replication-secret", 0,
			SIZE_MAX) == 0,
	      "the replication password appears in a logged command");
	check_after_failed_clone(client, &leader, &m);

	check_retry_pacing(&m, "clone", line, 6500);
	check_after_failed_clone(client, &leader, &m);
	check(streaming_replicas(&leader) == 0, "a replica streams from the leader");

	/* The operator fixes the password and restarts the member. */
	check_clean_stop(&m);
	struct member_options fixed = om;
	fixed.replication_password = NULL;
	assert_true(write_member_config(&m, &zk, &fixed));
	size_t from = log_lines(m.agent.log_path);
	assert_true(test_agent_restart(&m.agent));
	check_clone_recovers(&leader, &m, from);
	checks_done();
}

static void test_clone_from_frozen_leader_fails_cleanly(void **state)
{
	(void) state;
	struct harness_zk zk;
	struct zk_client *client;
	struct member leader, m;
	json_t *record = NULL;
	size_t line = 0, started_line = 0;
	pid_t postmaster = 0;
	const int bound_ms = 12000;

	zk_up(&zk, &client);
	struct member_options ol = { .scope = "clonefrozen", .name = "node1" };
	assert_true(member_start(&leader, &zk, &ol));
	assert_true(wait_writable(&leader, WAIT_MS));
	assert_true(log_find(leader.agent.log_path, "pg.bootstrapped", NULL, NULL, 0, WAIT_MS, NULL,
			     NULL));
	assert_int_equal(postmasters_on(leader.data_dir, &postmaster), 1);

	/* The leader's PostgreSQL stops answering: its sockets stay open (the
	 * kernel even completes TCP handshakes), nothing replies. */
	int n = freeze_postmaster(postmaster);
	printf("     froze the leader's postmaster %d and %d of its processes\n", (int) postmaster,
	       n - 1);

	struct member_options om = { .scope = "clonefrozen", .name = "node2" };
	assert_true(member_start(&m, &zk, &om));
	bool clone_started = log_find(m.agent.log_path, "pg.tool_started", "tool", "pg_basebackup", 0,
				      WAIT_MS, NULL, &started_line);
	check(clone_started, "node2 never started pg_basebackup");
	int64_t t0 = harness_now_ms();
	/* An operator can see what it is doing: Patroni's state while
	 * pg_basebackup runs is "creating replica". */
	char role[256] = "";
	while (clone_started && harness_now_ms() - t0 < 1500) {
		member_role_state(client, "clonefrozen", "node2", role, sizeof(role));
		if (strstr(role, "creating replica"))
			break;
		harness_sleep_ms(50);
	}
	check(strstr(role, "creating replica") != NULL,
	      "members/node2 says '%s' while pg_basebackup runs, not 'creating replica'", role);
	bool failed = clone_started &&
		      log_find(m.agent.log_path, "ha.action_failed", "action", "clone", started_line,
			       bound_ms - (int) (harness_now_ms() - t0), &record, &line);
	int64_t waited = harness_now_ms() - t0;
	check(failed,
	      "cloning from the unresponsive leader neither failed nor finished within %d ms: "
	      "node2 waits silently (members/node2 state below)",
	      bound_ms);
	if (record)
		printf("     clone failed after %lld ms: detail='%s'\n", (long long) waited,
		       record_str(record, "detail"));
	json_decref(record);
	record = NULL;
	if (!failed) {
		member_role_state(client, "clonefrozen", "node2", role, sizeof(role));
		printf("     after %lld ms: members/node2 role/state %s; node2's last records:\n",
		       (long long) waited, role);
		show_log(m.agent.log_path, "pg.tool_started", NULL, NULL, 0);
		show_log(m.agent.log_path, "ha.action", NULL, NULL, 0);
		show_log(m.agent.log_path, "pg.tool_output", "tool", "pg_basebackup", 0);
		show_log(m.agent.log_path, "pg.tool_deadline", NULL, NULL, 0);
	} else {
		check(log_find(m.agent.log_path, "pg.tool_output", "tool", "pg_basebackup",
			       started_line, 100, &record, NULL),
		      "pg_basebackup said nothing about the failure");
		if (record)
			printf("     pg_basebackup: %s\n", record_str(record, "line"));
		json_decref(record);
		record = NULL;
		check_after_failed_clone(client, &leader, &m);
	}
	/* Whatever happened, node2 holds no lock and runs nothing. */
	check_safe_and_alive(client, &m);

	/* The leader answers again: node2 clones and streams. */
	size_t from = failed ? line : started_line;
	resume_frozen();
	check_clone_recovers(&leader, &m, from);
	checks_done();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wrong_bin_dir_fails_bootstrap_safely, test_setup,
						test_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_data_directory_is_never_started,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_rejected_pg_hba_line_fails_bootstrap_safely,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_clone_with_wrong_password_fails_cleanly,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(test_clone_from_frozen_leader_fails_cleanly,
						test_setup, test_teardown),
	};
	/* Our progress lines in order with cmocka's (stderr). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* PGHERD_TEST_FILTER=test_foreign* runs only matching tests. */
	if (getenv("PGHERD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGHERD_TEST_FILTER"));
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
	return failures + test_sanitizer_reports();
}
