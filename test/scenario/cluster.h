/*
 * A three-member pgherd cluster for scenario tests: real ZooKeeper, three
 * agents each running its own PostgreSQL, and what clients see of it (which
 * member accepts writes, which rows it has, who streams).
 */
#ifndef PGHERD_TEST_CLUSTER_H
#define PGHERD_TEST_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "test/harness/harness.h"
#include "test/scenario/agents.h"

#define CLUSTER_MEMBERS 3
#define CLUSTER_SESSION_TIMEOUT_S 3.0
#define CLUSTER_WAIT_MS 60000

struct zk_client;

struct cluster {
	struct harness_zk zk;
	struct zk_client *client;
	struct test_agent agent[CLUSTER_MEMBERS];
	char scope[32];
	char base[64];			/* /service/<scope> */
};

/* One statement on a member's PostgreSQL through its private socket; the
 * first value of the first row goes to out.  False on any error. */
bool cluster_sql(const struct cluster *c, int member, const char *statement, char *out,
		 size_t size);
/* The first member other than skip that accepts a write (-1: none). */
int cluster_writable_member(const struct cluster *c, int skip);
int cluster_streaming_replicas(const struct cluster *c, int primary);

/* The options every member gets unless a test changes them. */
struct test_agent_options cluster_default_options(const char *scope);
/*
 * Bootstrap a cluster and return the primary, with both replicas streaming
 * and a table `probe` created.  extra_yaml[i] is appended to member i's
 * configuration (NULL for none).  Fails the test when it does not come up.
 */
int cluster_start_options(struct cluster *c, const char *scope, const char *const *extra_yaml,
			  struct test_agent_options options);
int cluster_start_with(struct cluster *c, const char *scope, const char *const *extra_yaml);
int cluster_start(struct cluster *c, const char *scope);

/* Wait until a member other than skip accepts a write; its index, and the
 * time since `since` in *elapsed_ms. */
int cluster_wait_writable(const struct cluster *c, int skip, int64_t since, int64_t *elapsed_ms);
/* Rows written on the primary have reached every replica's replay. */
void cluster_wait_replicated(const struct cluster *c, int primary);
pid_t cluster_postmaster_pid(const struct cluster *c, int member);
const char *cluster_data_dir(const struct cluster *c, int member);
/* A writer committing in a loop from `since` until a member other than old
 * took writes for 200 ms: the longest time no member accepted one. */
int64_t cluster_write_gap_until_moved(const struct cluster *c, int old, int64_t since,
				      int *moved_to);

/* The REST API of a member (test/scenario/http_client.h): the status of
 * one request, its answer in *answer when not NULL (cleared by the caller). */
#define CLUSTER_HTTP_TIMEOUT_MS 5000
struct http_answer;
int cluster_http(const struct cluster *c, int member, const char *method, const char *path,
		 const char *body, struct http_answer *answer);
/* Fails the test unless the answer is `status` with `text` (NULL: any) in
 * its body. */
void cluster_expect(const struct cluster *c, int member, const char *method, const char *path,
		    const char *body, int status, const char *text);

#endif
