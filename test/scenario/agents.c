/*
 * Scenario helpers for running pgherd agents (see agents.h).
 */
#include "test/scenario/agents.h"

#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include "test/harness/zk_client.h"

#define SANITIZER_DIR "/tmp"
#define SANITIZER_PREFIX "pgherd-sanitizer-"

static char build_dir[PATH_MAX];
static char repo_root[PATH_MAX];

/* The test binary is <build>/test/scenario/<name>: everything else is found
 * from there, whatever the current directory. */
static void locate(void)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (build_dir[0])
		return;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	snprintf(build_dir, sizeof(build_dir), "%s", dirname(dirname(dirname(exe))));
	/* dirname() works in place: copy before and after. */
	snprintf(exe, sizeof(exe), "%s", build_dir);
	snprintf(repo_root, sizeof(repo_root), "%s", dirname(exe));
}

void test_sanitizer_setup(void)
{
	char options[256];

	/* Only children read these: this process's own options are fixed at
	 * start.  /tmp is writable for the service user too. */
	snprintf(options, sizeof(options), "log_path=%s/%s%d:detect_leaks=1", SANITIZER_DIR,
		 SANITIZER_PREFIX, (int) getpid());
	setenv("ASAN_OPTIONS", options, 1);
	snprintf(options, sizeof(options), "log_path=%s/%s%d:print_stacktrace=1", SANITIZER_DIR,
		 SANITIZER_PREFIX, (int) getpid());
	setenv("UBSAN_OPTIONS", options, 1);
}

int test_sanitizer_reports(void)
{
	char prefix[64];
	int reports = 0;
	DIR *dir = opendir(SANITIZER_DIR);
	struct dirent *entry;

	if (!dir)
		return 0;
	snprintf(prefix, sizeof(prefix), "%s%d.", SANITIZER_PREFIX, (int) getpid());
	while ((entry = readdir(dir)) != NULL) {
		char path[PATH_MAX];
		char line[1024];
		FILE *report;

		if (strncmp(entry->d_name, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", SANITIZER_DIR, entry->d_name);
		printf("!! sanitizer report from a child process (%s):\n", path);
		report = fopen(path, "r");
		while (report && fgets(line, sizeof(line), report))
			printf("   %s", line);
		if (report)
			fclose(report);
		unlink(path);
		reports++;
	}
	closedir(dir);
	return reports;
}

const char *test_built_program(const char *name)
{
	static char path[PATH_MAX + 64];
	locate();
	snprintf(path, sizeof(path), "%s/%s", build_dir, name);
	return path;
}

const char *test_repo_root(void)
{
	locate();
	return repo_root;
}

bool test_agent_start(struct test_agent *agent, const char *name, const struct harness_zk *zk,
		      const struct test_agent_options *options)
{
	char relpath[128];
	char config[4096];
	char postgresql[1024] = "";
	int api_port = harness_free_port();
	int pg_port = harness_free_port();

	char session_timeout[64] = "";
	/* 0: none in the file, the session timeout follows the ttl. */
	if (options->session_timeout > 0)
		snprintf(session_timeout, sizeof(session_timeout), "  session_timeout: %.3f\n",
			 options->session_timeout);
	memset(agent, 0, sizeof(*agent));
	agent->pg_port = pg_port;
	agent->api_port = api_port;
	agent->as_pid1 = options->as_pid1;
	if (options->manage_postgresql) {
		snprintf(relpath, sizeof(relpath), "%s/%s", options->scope, name);
		snprintf(postgresql, sizeof(postgresql),
			 "  data_dir: %s/data\n"
			 "  authentication:\n"
			 "    superuser: {username: postgres, password: test-superuser-secret}\n"
			 "    replication: {username: replicator, password: test-replication-secret}\n"
			 "  parameters: {fsync: off, shared_buffers: 16MB}\n"
			 "  use_pg_rewind: %s\n"
			 "%s",
			 harness_mkdir(relpath), options->without_pg_rewind ? "false" : "true",
			 options->postgresql_yaml ? options->postgresql_yaml : "");
	}
	snprintf(agent->name, sizeof(agent->name), "%s", name);
	snprintf(config, sizeof(config),
		 "scope: %s\n"
		 "namespace: /service\n"
		 "name: %s\n"
		 "restapi:\n  listen: 127.0.0.1:%d\n  connect_address: 127.0.0.1:%d\n"
		 "zookeeper:\n  hosts: '%s'\n%s"
		 "postgresql:\n  listen: 127.0.0.1:%d\n  connect_address: 127.0.0.1:%d\n"
		 "%s"
		 "tags:\n  nofailover: false\n  region: test\n"
		 "log:\n  format: json\n  level: DEBUG\n"
		 "%s",
		 options->scope, name, api_port, api_port, zk->connect_string, session_timeout,
		 pg_port, pg_port, postgresql,
		 options->extra_yaml ? options->extra_yaml : "");
	snprintf(relpath, sizeof(relpath), "%s/%s.yml", options->scope, name);
	agent->config_path = harness_write_file(relpath, config);
	snprintf(relpath, sizeof(relpath), "%s/%s.log", options->scope, name);
	agent->log_path = harness_path(relpath);
	if (!agent->config_path || !agent->log_path)
		return false;
	return test_agent_restart(agent);
}

/* Copied once per run directory: overwriting a binary that agents are
 * running fails with ETXTBSY. */
static const char *installed_agent(void)
{
	static char run_dir[PATH_MAX];
	static const char *binary;

	if (!binary || strcmp(run_dir, harness_run_dir()) != 0) {
		binary = harness_install_binary(test_built_program("pgherd"));
		snprintf(run_dir, sizeof(run_dir), "%s", harness_run_dir());
	}
	return binary;
}

bool test_agent_restart(struct test_agent *agent)
{
	const char *binary = installed_agent();
	char *argv[3];

	if (!binary)
		return false;
	if (agent->as_pid1) {
		/* unshare needs root; setpriv then drops to the service user, and
		 * execs the agent, which becomes PID 1.  --kill-child takes the
		 * namespace down with unshare when the harness stops it. */
		char uid[32], gid[32];
		snprintf(uid, sizeof(uid), "--reuid=%d", (int) harness_service_uid());
		snprintf(gid, sizeof(gid), "--regid=%d", (int) harness_service_gid());
		char *const pid1_argv[] = { "unshare", "--pid", "--fork", "--kill-child", "setpriv",
					    uid, gid, "--clear-groups", (char *) binary,
					    (char *) agent->config_path, NULL };
		agent->pid = harness_spawn(agent->name, pid1_argv, NULL, agent->log_path, false);
		/* unshare ignores SIGTERM while it waits; killing it kills the
		 * whole namespace, which is what a teardown wants. */
		if (agent->pid > 0)
			harness_set_stop_signal(agent->pid, SIGKILL);
		return agent->pid > 0;
	}
	argv[0] = (char *) binary;
	argv[1] = (char *) agent->config_path;
	argv[2] = NULL;
	agent->pid = harness_spawn(agent->name, argv, NULL, agent->log_path, true);
	return agent->pid > 0;
}

pid_t test_agent_host_pid(const struct test_agent *agent)
{
	char path[64], line[256];
	pid_t child = 0;
	FILE *f;

	if (!agent->as_pid1 || agent->pid <= 0)
		return agent->pid;
	/* unshare --fork has exactly one child: the namespace's PID 1. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int) agent->pid, (int) agent->pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		child = (pid_t) strtol(line, NULL, 10);
	fclose(f);
	return child;
}

bool test_agent_wait(const struct test_agent *agent, const char *event, size_t from,
		     int timeout_ms, json_t **record_out)
{
	return harness_log_wait(agent->log_path, event, NULL, NULL, from, timeout_ms, record_out,
				NULL);
}

size_t test_agent_lines(const struct test_agent *agent)
{
	return harness_log_line_count(agent->log_path);
}

size_t test_agent_count(const struct test_agent *agent, const char *event)
{
	return harness_log_count(agent->log_path, event);
}

int64_t test_record_ms(const json_t *record)
{
	const char *ts = json_string_value(json_object_get(record, "ts"));
	return ts ? harness_parse_ts_ms(ts) : -1;
}

int64_t test_wall_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int test_leader_index(struct zk_client *client, const char *base, struct test_agent *agents,
		      int count)
{
	char path[512];
	char data[256];
	struct Stat stat;

	snprintf(path, sizeof(path), "%s/leader", base);
	memset(data, 0, sizeof(data));
	if (zk_client_get(client, path, data, sizeof(data), &stat) != ZOK)
		return -1;
	for (int i = 0; i < count; i++)
		if (strcmp(agents[i].name, data) == 0)
			return i;
	return -1;
}
