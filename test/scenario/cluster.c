/*
 * The scenario tests' three-member cluster (see cluster.h).
 */
#include "test/scenario/cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <zookeeper/zookeeper.h>

#include "test/harness/zk_client.h"
#include "test/scenario/http_client.h"

/* One statement on a member's PostgreSQL through its private socket (the
 * test runs as root or as the service user, who may enter it).  Returns the
 * first value of the first row in out, or false on any error. */
bool cluster_sql(const struct cluster *c, int member, const char *statement, char *out, size_t size)
{
	char conninfo[512];
	PGconn *conn;
	PGresult *result;
	bool ok;

	snprintf(conninfo, sizeof(conninfo),
		 "host=%s/%s/node%d/data.pgherd port=%d user=postgres dbname=postgres "
		 "connect_timeout=2",
		 harness_run_dir(), c->scope, member + 1, c->agent[member].pg_port);
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		PQfinish(conn);
		return false;
	}
	result = PQexec(conn, statement);
	ok = PQresultStatus(result) == PGRES_TUPLES_OK || PQresultStatus(result) == PGRES_COMMAND_OK;
	if (ok && out && size) {
		out[0] = '\0';
		if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0)
			snprintf(out, size, "%s", PQgetvalue(result, 0, 0));
	}
	PQclear(result);
	PQfinish(conn);
	return ok;
}

int cluster_writable_member(const struct cluster *c, int skip)
{
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		char value[16];
		if (i != skip && c->agent[i].pid > 0 &&
		    cluster_sql(c, i, "SELECT pg_is_in_recovery()::text", value, sizeof(value)) &&
		    strcmp(value, "false") == 0 &&
		    cluster_sql(c, i, "INSERT INTO probe VALUES (0)", NULL, 0))
			return i;
	}
	return -1;
}

int cluster_streaming_replicas(const struct cluster *c, int primary)
{
	char value[16];
	if (!cluster_sql(c, primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
		 value, sizeof(value)))
		return -1;
	return atoi(value);	/* NOLINT: a count PostgreSQL printed */
}

/* Bootstrap a cluster and return the primary, with both replicas streaming
 * and a table `probe` written and replicated.  extra_yaml[i] is appended to
 * member i's configuration (NULL for none). */
int cluster_start_options(struct cluster *c, const char *scope,
				 const char *const *extra_yaml, struct test_agent_options options)
{
	int64_t started = harness_now_ms();
	int primary = -1;

	memset(c, 0, sizeof(*c));
	snprintf(c->scope, sizeof(c->scope), "%s", scope);
	snprintf(c->base, sizeof(c->base), "/service/%s", scope);
	assert_true(harness_zk_start(1, &c->zk));
	assert_int_equal(zk_client_connect(c->zk.connect_string, 10000, 5000, &c->client), ZOK);
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "node%d", i + 1);
		options.extra_yaml = extra_yaml ? extra_yaml[i] : NULL;
		assert_true(test_agent_start(&c->agent[i], name, &c->zk, &options));
	}
	bool up = false;
	while (!up && harness_now_ms() - started < CLUSTER_WAIT_MS) {
		primary = test_leader_index(c->client, c->base, c->agent, CLUSTER_MEMBERS);
		up = primary >= 0 && cluster_streaming_replicas(c, primary) == CLUSTER_MEMBERS - 1;
		if (!up)
			harness_sleep_ms(50);
	}
	if (!up) {
		/* Show what each agent was doing: a stalled bootstrap is a bug to
		 * diagnose from these lines. */
		for (int i = 0; i < CLUSTER_MEMBERS; i++)
			harness_log_print_tail(c->agent[i].log_path, 40);
		fail_msg("no primary with %d streaming replicas %lld ms after start", CLUSTER_MEMBERS - 1,
			 (long long) (harness_now_ms() - started));
	}
	/* The primary sees its replicas stream a moment before their agents
	 * know it: wait until every member says it runs, as the others (and a
	 * switchover) judge it. */
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		char path[256], data[2048] = "";
		snprintf(path, sizeof(path), "%s/members/%s", c->base, c->agent[i].name);
		while (harness_now_ms() - started < CLUSTER_WAIT_MS &&
		       (zk_client_get(c->client, path, data, sizeof(data), NULL) != ZOK ||
			!strstr(data, "\"state\":\"running\"") || !strstr(data, "\"xlog_location\"")))
			harness_sleep_ms(20);
		if (!strstr(data, "\"state\":\"running\""))
			fail_msg("node%d does not publish a running state: %s", i + 1, data);
	}
	printf("     primary node%d, %d replicas streaming %lld ms after start\n", primary + 1,
	       CLUSTER_MEMBERS - 1, (long long) (harness_now_ms() - started));
	assert_true(cluster_sql(c, primary, "CREATE TABLE probe (id bigint)", NULL, 0));
	return primary;
}

struct test_agent_options cluster_default_options(const char *scope)
{
	return (struct test_agent_options){ .scope = scope, .session_timeout = CLUSTER_SESSION_TIMEOUT_S,
					    .manage_postgresql = true };
}

int cluster_start_with(struct cluster *c, const char *scope, const char *const *extra_yaml)
{
	return cluster_start_options(c, scope, extra_yaml, cluster_default_options(scope));
}

int cluster_start(struct cluster *c, const char *scope)
{
	return cluster_start_with(c, scope, NULL);
}

/* Wait until a member other than `skip` accepts a write; its index. */
int cluster_wait_writable(const struct cluster *c, int skip, int64_t since, int64_t *elapsed_ms)
{
	int next = -1;
	while (next < 0 && harness_now_ms() - since < CLUSTER_WAIT_MS) {
		next = cluster_writable_member(c, skip);
		if (next < 0)
			harness_sleep_ms(20);
	}
	*elapsed_ms = harness_now_ms() - since;
	return next;
}

/* Rows written on the primary have reached every replica's replay. */
void cluster_wait_replicated(const struct cluster *c, int primary)
{
	char lsn[64];
	assert_true(cluster_sql(c, primary, "SELECT pg_current_wal_flush_lsn()::text", lsn, sizeof(lsn)));
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		char query[160], done[16] = "";
		if (i == primary)
			continue;
		snprintf(query, sizeof(query), "SELECT (pg_last_wal_replay_lsn() >= '%s')::text", lsn);
		for (int tries = 0; tries < 400 && strcmp(done, "true") != 0; tries++) {
			(void) cluster_sql(c, i, query, done, sizeof(done));
			harness_sleep_ms(10);
		}
		if (strcmp(done, "true") != 0)
			fail_msg("node%d did not replay up to %s", i + 1, lsn);
	}
}

pid_t cluster_postmaster_pid(const struct cluster *c, int member)
{
	char path[512];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/node%d/data/postmaster.pid", harness_run_dir(), c->scope,
		 member + 1);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t) pid;
}

/* The member's data directory in the run directory. */
const char *cluster_data_dir(const struct cluster *c, int member)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s/node%d/data", harness_run_dir(), c->scope, member + 1);
	return path;
}

/*
 * The longest time no member accepted a write while a writer committed in a
 * loop from `since` until a member other than `old` took writes and kept
 * them for 200 ms.
 */
int64_t cluster_write_gap_until_moved(const struct cluster *c, int old, int64_t since, int *moved_to)
{
	int64_t last_ok = since, gap = 0, moved_at = 0;

	*moved_to = -1;
	while (harness_now_ms() - since < CLUSTER_WAIT_MS) {
		int w = cluster_writable_member(c, -1);
		int64_t now = harness_now_ms();
		if (w >= 0) {
			if (now - last_ok > gap)
				gap = now - last_ok;
			last_ok = now;
			if (w != old && *moved_to != w) {
				*moved_to = w;
				moved_at = now;
			}
			if (*moved_to >= 0 && now - moved_at >= 200)
				break;
		}
	}
	return gap;
}


int cluster_http(const struct cluster *c, int member, const char *method, const char *path,
		 const char *body, struct http_answer *answer)
{
	struct http_answer dropped;
	struct http_answer *out = answer ? answer : &dropped;
	int status = http_request(c->agent[member].api_port, method, path, body, NULL,
				  CLUSTER_HTTP_TIMEOUT_MS, out);
	if (!answer)
		http_answer_clear(&dropped);
	return status;
}

void cluster_expect(const struct cluster *c, int member, const char *method, const char *path,
		    const char *body, int status, const char *text)
{
	struct http_answer answer;
	int got = cluster_http(c, member, method, path, body, &answer);

	if (got != status || (text && (!answer.body || !strstr(answer.body, text))))
		fail_msg("%s %s on node%d: got %d \"%s\", want %d with \"%s\"", method, path,
			 member + 1, got, answer.body ? answer.body : "", status, text ? text : "");
	http_answer_clear(&answer);
}
