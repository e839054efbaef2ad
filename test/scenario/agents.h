/*
 * Helpers shared by the scenario tests that run pgherd agents: write a
 * Patroni-style configuration, start an agent as the service user with JSON
 * logs, and read what it logged.
 */
#ifndef PGHERD_TEST_AGENTS_H
#define PGHERD_TEST_AGENTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "test/harness/harness.h"

struct zk_client;

struct test_agent {
	char name[64];
	pid_t pid;
	const char *config_path;
	const char *log_path;
	int pg_port;		/* where its PostgreSQL listens */
	int api_port;		/* where its REST API listens (127.0.0.1) */
	/* Runs as PID 1 of its own PID namespace (unshare --pid --fork), as in
	 * a container; pid is then unshare's, see test_agent_host_pid(). */
	bool as_pid1;
};

struct test_agent_options {
	const char *scope;
	double session_timeout;		/* seconds; 0: none set, ttl / 3 applies */
	const char *extra_yaml;		/* appended to the configuration, may be NULL */
	/* Give the agent a data directory and credentials: it runs PostgreSQL.
	 * Without, it only takes part in the coordination. */
	bool manage_postgresql;
	/* More keys of the postgresql section, each line indented by two
	 * spaces ("  use_slots: false\n"); may be NULL. */
	const char *postgresql_yaml;
	/* The members use pg_rewind unless this is set. */
	bool without_pg_rewind;
	/* Start the agent as PID 1 of a new PID namespace (needs root). */
	bool as_pid1;
};

/*
 * Sanitizer reports of the processes a scenario starts (a leak found when an
 * agent exits, say) would otherwise end up in their logs unseen.  Call
 * test_sanitizer_setup() first in main(): children then write reports to
 * files; test_sanitizer_reports() prints and removes them and returns how
 * many there were, to be added to the binary's exit status.
 */
void test_sanitizer_setup(void);
int test_sanitizer_reports(void);

/* Path of a program built next to this test binary (build/ or build-asan/). */
const char *test_built_program(const char *name);
/* The repository root (where test/data lives). */
const char *test_repo_root(void);

bool test_agent_start(struct test_agent *agent, const char *name, const struct harness_zk *zk,
		      const struct test_agent_options *options);
/* The agent's own pid as this test sees it: agent->pid, or for an agent
 * running as PID 1 of its namespace, unshare's child.  0 if gone. */
pid_t test_agent_host_pid(const struct test_agent *agent);
/* Start again with the same name, configuration and log file. */
bool test_agent_restart(struct test_agent *agent);

/* Wait for an event in the agent's log from line `from` on; the record is
 * returned when record_out is not NULL (json_decref it). */
bool test_agent_wait(const struct test_agent *agent, const char *event, size_t from,
		     int timeout_ms, json_t **record_out);
size_t test_agent_lines(const struct test_agent *agent);
size_t test_agent_count(const struct test_agent *agent, const char *event);

/* Milliseconds since the epoch of a log record's "ts", -1 if absent. */
int64_t test_record_ms(const json_t *record);
/* Wall clock now, in the same unit. */
int64_t test_wall_ms(void);

/* Index of the agent named by the leader znode, -1 if none or unknown. */
int test_leader_index(struct zk_client *client, const char *base, struct test_agent *agents,
		      int count);

#endif
