/*
 * pgherdctl against real ZooKeeper: a cluster of three agents running
 * PostgreSQL ("ctl"), and a cluster written directly into ZooKeeper
 * ("ghost") whose members' REST API is a small fake agent in this process
 * (or nothing at all, for the unreachable cases).  Every assertion is on
 * what the operator sees: the exit code, stdout and stderr.
 *
 * The tests share the clusters and run in order: the last ones stop the
 * agents and remove the clusters.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zookeeper/zookeeper.h>

#include "test/harness/harness.h"
#include "test/harness/zk_client.h"
#include "test/scenario/agents.h"

#define MEMBERS 3
#define WAIT_MS 60000

extern char **environ;

static struct {
	struct harness_zk zk;
	struct zk_client *client;
	struct test_agent agent[MEMBERS];
	char dcs_url[HARNESS_ZK_MAX_SERVERS * 24 + 32];
	char sysid[32];
	char original_config[65536];
	/* The ghost cluster. */
	int fake_port;
	int dead_port;
	pid_t fake_pid;
	const char *fake_log;
	const char *ghost_config;
} t;

struct run {
	int code;
	char out[65536];
	char err[16384];
};

/* ---- running pgherdctl ------------------------------------------------------ */

static void read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f != NULL) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
}

/*
 * Run pgherdctl with argv (after the program name), stdin_text on its
 * standard input (NULL: none, so a question gets end of input) and extra
 * "NAME=value" environment entries; collect exit code, stdout, stderr.
 */
static void run_program(struct run *r, const char *program, const char *stdin_text,
			char *const *extra_env, const char *const *args)
{
	const char *in_path = harness_path("ctl.in");
	const char *out_path = harness_path("ctl.out");
	const char *err_path = harness_path("ctl.err");
	char *argv[32];
	char *env[256];
	size_t n_env = 0;
	int argc = 0;
	int status;
	pid_t pid;

	argv[argc++] = (char *) program;
	for (size_t i = 0; args[i] != NULL && argc < 31; i++)
		argv[argc++] = (char *) args[i];
	argv[argc] = NULL;
	/* Our environment (sanitizer options included) without HOME:
	 * no ~/.config/patroni/patronictl.yaml may creep in. */
	for (char **e = environ; *e != NULL && n_env < 200; e++)
		if (strncmp(*e, "HOME=", 5) != 0 && strncmp(*e, "EDITOR=", 7) != 0 &&
		    strncmp(*e, "PGHERDCTL_", 10) != 0 && strncmp(*e, "PATRONICTL_", 11) != 0 &&
		    strncmp(*e, "DCS_URL=", 8) != 0)
			env[n_env++] = *e;
	for (size_t i = 0; extra_env != NULL && extra_env[i] != NULL && n_env < 250; i++)
		env[n_env++] = extra_env[i];
	env[n_env] = NULL;

	assert_non_null(harness_write_file("ctl.in", stdin_text ? stdin_text : ""));
	fflush(stdout);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int in = open(in_path, O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(err, 2) < 0)
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execve(argv[0], argv, env);
		_exit(127);
	}
	/* pgherdctl's own timeouts are a few seconds: a minute means a hang. */
	int64_t deadline = harness_now_ms() + 60000;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (harness_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("%s %s did not finish within a minute", program, args[0]);
		}
		harness_sleep_ms(10);
	}
	read_file(out_path, r->out, sizeof(r->out));
	read_file(err_path, r->err, sizeof(r->err));
	if (!WIFEXITED(status))
		fail_msg("%s %s died (status %d); stderr:\n%s", program, args[0], status, r->err);
	r->code = WEXITSTATUS(status);
	/* PGHERD_TEST_SHOW=1: the session as an operator would see it. */
	if (getenv("PGHERD_TEST_SHOW") != NULL) {
		printf("$ %s", strrchr(program, '/') ? strrchr(program, '/') + 1 : program);
		for (int i = 1; i < argc; i++)
			printf(" %s", argv[i]);
		printf("%s%s\n%s%s(exit %d)\n", stdin_text ? "   <<< " : "",
		       stdin_text ? stdin_text : "", r->out, r->err, r->code);
	}
}

static void run_with(struct run *r, const char *stdin_text, char *const *extra_env,
		     const char *const *args)
{
	run_program(r, test_built_program("pgherdctl"), stdin_text, extra_env, args);
}

static void run(struct run *r, const char *stdin_text, const char *const *args)
{
	run_with(r, stdin_text, NULL, args);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void expect(const struct run *r, int code, const char *in_out, const char *in_err)
{
	if (r->code != code || (in_out && !strstr(r->out, in_out)) ||
	    (in_err && !strstr(r->err, in_err)))
		fail_msg("exit %d (expected %d)\n--- stdout:\n%s\n--- stderr:\n%s\n--- expected "
			 "stdout to contain: %s\n--- and stderr: %s",
			 r->code, code, r->out, r->err, in_out ? in_out : "-", in_err ? in_err : "-");
}

static void znode(const char *path, char *out, size_t size)
{
	out[0] = '\0';
	if (zk_client_get(t.client, path, out, size, NULL) != ZOK)
		snprintf(out, size, "(none)");
}

/* ---- a fake agent: canned REST answers, requests logged ------------------------ */

static const struct {
	const char *request; /* start of the request line */
	int status;          /* 0: not HTTP at all */
	const char *body;
} fake_answers[] = {
	{ "POST /reload ", 202, "reload scheduled" },
	{ "POST /restart ", 503, "restart conditions are not satisfied" },
	{ "POST /switchover ", 200, "Successfully switched over to \"ghost2\"" },
	{ "POST /failover ", 412, "candidate name does not match with sync_standby" },
	{ "PATCH /config ", 200, "{\"pause\": true}" },
	{ "GET /patroni ", 200,
	  "{\"state\":\"running\",\"role\":\"master\",\"server_version\":150004,"
	  "\"patroni\":{\"version\":\"0.1.0\",\"scope\":\"ghost\",\"name\":\"ghost1\"}}" },
	{ "POST /reinitialize ", 0, "SSH-2.0-not-an-agent\r\n" },
};

static void fake_serve(int listener, const char *log_path)
{
	for (;;) {
		char request[65536];
		size_t len = 0;
		int c = accept(listener, NULL, NULL);

		if (c < 0)
			continue;
		/* Headers, then Content-Length bytes of body. */
		for (;;) {
			ssize_t n = read(c, request + len, sizeof(request) - 1 - len);
			char *end;

			if (n <= 0)
				break;
			len += (size_t) n;
			request[len] = '\0';
			end = strstr(request, "\r\n\r\n");
			if (end != NULL) {
				const char *cl = strstr(request, "Content-Length: ");
				size_t body = cl ? (size_t) atol(cl + 16) : 0;

				if (len >= (size_t) (end + 4 - request) + body)
					break;
			}
		}
		FILE *log = fopen(log_path, "a");
		if (log != NULL) {
			fprintf(log, "%s\n----\n", request);
			fclose(log);
		}
		char answer[1024];
		int status = 404;
		const char *body = "not found";
		for (size_t i = 0; i < sizeof(fake_answers) / sizeof(fake_answers[0]); i++)
			if (strncmp(request, fake_answers[i].request,
				    strlen(fake_answers[i].request)) == 0) {
				status = fake_answers[i].status;
				body = fake_answers[i].body;
			}
		if (status == 0)
			snprintf(answer, sizeof(answer), "%s", body);
		else
			snprintf(answer, sizeof(answer),
				 "HTTP/1.1 %d Whatever\r\nContent-Type: text/plain\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				 status, strlen(body), body);
		if (write(c, answer, strlen(answer)) < 0) {
			/* the client went away: nothing to do */
		}
		close(c);
	}
}

static pid_t fake_agent_start(int port, const char *log_path)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	assert_true(listener >= 0);
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(listener, (struct sockaddr *) &addr, sizeof(addr)), 0);
	assert_int_equal(listen(listener, 16), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fake_serve(listener, log_path);
		_exit(0);
	}
	close(listener);
	return pid;
}

static void fake_agent_stop(void)
{
	if (t.fake_pid > 0) {
		kill(t.fake_pid, SIGKILL);
		waitpid(t.fake_pid, NULL, 0);
		t.fake_pid = 0;
	}
}

/* ---- fixtures ------------------------------------------------------------------- */

static void ghost_create(const char *leaf, const char *data)
{
	char path[256];

	snprintf(path, sizeof(path), "/service/ghost/%s", leaf);
	assert_int_equal(zk_client_create(t.client, path, data, ZK_CLIENT_PARENTS, NULL, 0), ZOK);
}

static void ghost_member(const char *name, int pg_port, int api_port, const char *role,
			 const char *extra)
{
	char leaf[64];
	char data[1024];

	snprintf(leaf, sizeof(leaf), "members/%s", name);
	snprintf(data, sizeof(data),
		 "{\"conn_url\":\"postgres://127.0.0.1:%d/postgres\",\"api_url\":"
		 "\"http://127.0.0.1:%d/patroni\",\"state\":\"running\",\"role\":\"%s\","
		 "\"version\":\"0.1.0\",\"xlog_location\":100,\"timeline\":1%s}",
		 pg_port, api_port, role, extra);
	ghost_create(leaf, data);
}

static int group_setup(void **state)
{
	struct test_agent_options options = { .scope = "ctl", .session_timeout = 3.0,
					      .manage_postgresql = true };
	char yaml[1024];

	if (harness_group_setup(state) != 0 || !harness_zk_start(1, &t.zk) ||
	    zk_client_connect(t.zk.connect_string, 10000, 5000, &t.client) != ZOK)
		return -1;
	snprintf(t.dcs_url, sizeof(t.dcs_url), "zookeeper://%s/service", t.zk.connect_string);
	for (int i = 0; i < MEMBERS; i++) {
		char name[16];

		snprintf(name, sizeof(name), "node%d", i + 1);
		if (!test_agent_start(&t.agent[i], name, &t.zk, &options))
			return -1;
	}

	/* The ghost cluster: ghost1 (leader) and ghost2 answer through the
	 * fake agent, ghost3's port is closed, "broken" does not decode. */
	t.fake_port = harness_free_port();
	t.dead_port = harness_free_port();
	t.fake_log = harness_path("fake-agent.log");
	ghost_create("initialize", "42");
	ghost_create("config", "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10}");
	ghost_create("leader", "ghost1");
	ghost_member("ghost1", 6001, t.fake_port, "master", "");
	ghost_member("ghost2", 6002, t.fake_port, "replica", ",\"replication_state\":\"streaming\"");
	ghost_member("ghost3", 6003, t.dead_port, "replica", ",\"replication_state\":\"streaming\"");
	ghost_create("members/broken", "{garbage");
	/* A patronictl.yaml: no name, REST credentials. */
	snprintf(yaml, sizeof(yaml),
		 "scope: ghost\nzookeeper:\n  hosts: ['%s']\n"
		 "restapi:\n  authentication:\n"
		 "    username: admin\n    password: secret\n",
		 t.zk.connect_string);
	t.ghost_config = harness_write_file("ghost.yml", yaml);
	t.fake_pid = fake_agent_start(t.fake_port, t.fake_log);
	return t.ghost_config ? 0 : -1;
}

static int group_teardown(void **state)
{
	fake_agent_stop();
	return harness_group_teardown(state);
}

/* ---- bad arguments ---------------------------------------------------------------- */

static void test_bad_arguments_exit_64_with_a_message(void **state)
{
	(void) state;
	struct run r;

	run(&r, NULL, ARGS("--no-such-option", "list"));
	expect(&r, 64, NULL, "unknown option '--no-such-option'");
	run(&r, NULL, ARGS("list", "-x"));
	expect(&r, 64, NULL, "pgherdctl list: unknown option '-x'");
	run(&r, NULL, ARGS("list", "--format", "xml", "-d", t.dcs_url, "ctl"));
	expect(&r, 64, NULL, "--format must be pretty, tsv, json or yaml, got 'xml'");
	run(&r, NULL, ARGS("list", "-w"));
	expect(&r, 64, NULL, "option '-w' needs a value");
	run(&r, NULL, ARGS("list", "-w", "soon", "-d", t.dcs_url));
	expect(&r, 64, NULL, "--watch needs a whole number");
	run(&r, NULL, ARGS("dsn", "-r", "boss", "-d", t.dcs_url, "ctl"));
	expect(&r, 64, NULL, "unknown role 'boss'");
	run(&r, NULL, ARGS("dsn", "-r", "replica", "-m", "node1", "-d", t.dcs_url, "ctl"));
	expect(&r, 64, NULL, "--role and --member are mutually exclusive options");
	run(&r, NULL, ARGS("remove", "-d", t.dcs_url));
	expect(&r, 64, NULL, "which cluster?");
	run(&r, NULL, ARGS("flush", "-d", t.dcs_url, "ghost", "everything"));
	expect(&r, 64, NULL, "restart or switchover, got 'everything'");
	run(&r, NULL, ARGS("switchover", "--scheduled", "whenever", "--force", "-c",
			   t.ghost_config));
	expect(&r, 64, NULL, "Unable to parse scheduled timestamp (whenever)");
	run(&r, NULL, ARGS("failover", "--scheduled", "now", "-d", t.dcs_url, "ghost"));
	expect(&r, 64, NULL, "Failover can't be scheduled");
	run(&r, NULL, ARGS("list", "-d", "etcd://127.0.0.1:2379", "ctl"));
	expect(&r, 64, NULL, "pgherdctl talks to ZooKeeper only");
	/* No cluster name and no scope, no ZooKeeper. */
	run(&r, NULL, ARGS("list", "-d", t.dcs_url));
	expect(&r, 64, NULL, "no cluster name");
	run(&r, NULL, ARGS("list"));
	expect(&r, 64, NULL, "no ZooKeeper to ask");
	run(&r, NULL, ARGS("frobnicate"));
	expect(&r, 64, NULL, "unknown command 'frobnicate'");
	/* A configuration file that cannot be used is the agent's code 2. */
	run(&r, NULL, ARGS("-c", "/nonexistent/pgherd.yml", "list"));
	expect(&r, 2, NULL, "/nonexistent/pgherd.yml");

	/* Every command has --help, exit 0. */
	static const char *const commands[] = { "list",	   "topology",	  "switchover", "failover",
						"restart", "reinit",	  "reload",     "flush",
						"pause",   "resume",	  "edit-config", "show-config",
						"history", "remove",	  "dsn",	"version" };
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		run(&r, NULL, ARGS(commands[i], "--help"));
		expect(&r, 0, "Usage: pgherdctl ", NULL);
		assert_non_null(strstr(r.out, commands[i]));
		assert_non_null(strstr(r.out, "64  bad arguments"));
	}
	run(&r, NULL, ARGS("--help"));
	expect(&r, 0, "5   unreachable", NULL);
}

static void test_unreachable_zookeeper_and_unknown_cluster(void **state)
{
	(void) state;
	struct run r;
	char url[64];

	snprintf(url, sizeof(url), "zookeeper://127.0.0.1:%d/service", harness_free_port());
	run(&r, NULL, ARGS("list", "-d", url, "ctl"));
	expect(&r, 5, NULL, "cannot reach ZooKeeper at 127.0.0.1:");
	assert_string_equal(r.out, "");
	run(&r, NULL, ARGS("list", "-d", t.dcs_url, "nosuch"));
	expect(&r, 3, NULL, "cluster 'nosuch' not found: /service/nosuch does not exist");
	run(&r, NULL, ARGS("show-config", "-d", t.dcs_url, "nosuch"));
	expect(&r, 3, NULL, "not found");
}

/* ---- the real cluster -------------------------------------------------------------- */

static int agent_index(const char *name)
{
	for (int i = 0; i < MEMBERS; i++)
		if (strcmp(t.agent[i].name, name) == 0)
			return i;
	return -1;
}

/* One Leader and two Replicas streaming with lag 0 on timeline tl, as
 * `list -f json` says; the leader's index. */
static int wait_for_cluster(int tl, int skip)
{
	int64_t start = harness_now_ms();
	struct run r;

	while (harness_now_ms() - start < WAIT_MS) {
		int leader = -1;
		int streaming = 0;

		run(&r, NULL, ARGS("-c", t.agent[0].config_path, "list", "-f", "json"));
		json_t *rows = r.code == 0 ? json_loads(r.out, 0, NULL) : NULL;
		size_t i;
		json_t *row;

		json_array_foreach(rows, i, row) {
			const char *role = json_string_value(json_object_get(row, "Role"));
			const char *state = json_string_value(json_object_get(row, "State"));
			json_t *lag = json_object_get(row, "Lag in MB");
			int index = agent_index(json_string_value(json_object_get(row, "Member")));

			if (json_integer_value(json_object_get(row, "TL")) != tl || index == skip)
				continue;
			if (strcmp(role, "Leader") == 0 && strcmp(state, "running") == 0)
				leader = index;
			if (strcmp(role, "Replica") == 0 && strcmp(state, "streaming") == 0 &&
			    json_is_integer(lag) && json_integer_value(lag) == 0)
				streaming++;
		}
		json_decref(rows);
		if (leader >= 0 && streaming == (skip >= 0 ? MEMBERS - 2 : MEMBERS - 1)) {
			printf("     list shows a leader and streaming replicas on timeline %d after %lld ms\n",
			       tl, (long long) (harness_now_ms() - start));
			return leader;
		}
		harness_sleep_ms(200);
	}
	fail_msg("no leader with streaming replicas on timeline %d in `list`:\n%s\n%s", tl, r.out,
		 r.err);
	return -1;
}

static void test_list_shows_the_cluster_as_patronictl(void **state)
{
	(void) state;
	struct run r;
	int leader = wait_for_cluster(1, -1);
	char line[256];

	znode("/service/ctl/initialize", t.sysid, sizeof(t.sysid));
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "list"));
	expect(&r, 0, NULL, NULL);

	/* Widths as prettytable computes them. */
	size_t host_width = 4;
	char hosts[MEMBERS][32];
	for (int i = 0; i < MEMBERS; i++) {
		snprintf(hosts[i], sizeof(hosts[i]), "127.0.0.1:%d", t.agent[i].pg_port);
		if (strlen(hosts[i]) > host_width)
			host_width = strlen(hosts[i]);
	}
	char rule[256];
	snprintf(rule, sizeof(rule), "+--------+-%.*s-+---------+-----------+----+-----------+--------------+",
		 (int) host_width, "--------------------------------");
	char title[64];
	snprintf(title, sizeof(title), "+ Cluster: ctl (%s) ", t.sysid);
	if (strncmp(r.out, title, strlen(title)) != 0)
		fail_msg("title line: %s", r.out);
	snprintf(line, sizeof(line), "| Member | %-*s | Role    | State     | TL | Lag in MB | Tags         |",
		 (int) host_width, "Host");
	assert_non_null(strstr(r.out, line));
	assert_non_null(strstr(r.out, rule));
	for (int i = 0; i < MEMBERS; i++) {
		if (i == leader)
			snprintf(line, sizeof(line),
				 "| %-6s | %-*s | Leader  | running   |  1 |           | region: test |",
				 t.agent[i].name, (int) host_width, hosts[i]);
		else
			snprintf(line, sizeof(line),
				 "| %-6s | %-*s | Replica | streaming |  1 |         0 | region: test |",
				 t.agent[i].name, (int) host_width, hosts[i]);
		if (!strstr(r.out, line))
			fail_msg("no line\n%s\nin\n%s", line, r.out);
	}
	assert_null(strstr(r.out, "Maintenance mode"));
	assert_string_equal(r.err, "");

	/* JSON parses, with the Cluster column and the leader without lag. */
	run(&r, NULL, ARGS("-c", t.agent[1].config_path, "list", "--format", "json"));
	expect(&r, 0, NULL, NULL);
	json_error_t error;
	json_t *rows = json_loads(r.out, 0, &error);
	if (!json_is_array(rows) || json_array_size(rows) != MEMBERS)
		fail_msg("list -f json: %s", r.out);
	for (size_t i = 0; i < MEMBERS; i++) {
		json_t *row = json_array_get(rows, i);

		assert_string_equal(json_string_value(json_object_get(row, "Cluster")), "ctl");
		assert_string_equal(json_string_value(json_object_get(row, "Member")),
				    t.agent[i].name);
		assert_string_equal(json_string_value(json_object_get(row, "Host")), hosts[i]);
		assert_int_equal(json_integer_value(json_object_get(row, "TL")), 1);
		assert_string_equal(json_string_value(json_object_get(json_object_get(row, "Tags"),
								      "region")),
				    "test");
		assert_true((json_object_get(row, "Lag in MB") == NULL) == ((int) i == leader));
	}
	json_decref(rows);

	run(&r, NULL, ARGS("-d", t.dcs_url, "list", "ctl", "-f", "yaml"));
	expect(&r, 0, "- Cluster: ctl\n  Host: 127.0.0.1:", NULL);
	run(&r, NULL, ARGS("-d", t.dcs_url, "list", "ctl", "-f", "tsv"));
	expect(&r, 0, "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tTags\nctl\tnode1\t", NULL);

	/* topology: replicas under the leader. */
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "topology"));
	snprintf(line, sizeof(line), "\n| %-7s |", t.agent[leader].name);
	expect(&r, 0, line, NULL);
	snprintf(line, sizeof(line), "\n| + %-5s |", t.agent[(leader + 1) % MEMBERS].name);
	expect(&r, 0, line, NULL);

	/* Watching: two tables a second apart, each after a timestamp. */
	int64_t start = harness_now_ms();
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "list", "-t", "-w", "1", "--watch-count",
			   "2"));
	expect(&r, 0, NULL, NULL);
	int tables = 0;
	for (const char *p = r.out; (p = strstr(p, "+ Cluster: ctl (")) != NULL; p++)
		tables++;
	assert_int_equal(tables, 2);
	assert_true(harness_now_ms() - start >= 1000);

	/* dsn: the leader by default, or a member, or a role. */
	run(&r, NULL, ARGS("-c", t.agent[2].config_path, "dsn"));
	snprintf(line, sizeof(line), "host=127.0.0.1 port=%d\n", t.agent[leader].pg_port);
	expect(&r, 0, NULL, NULL);
	assert_string_equal(r.out, line);
	run(&r, NULL, ARGS("-d", t.dcs_url, "dsn", "ctl", "-m", "node2"));
	snprintf(line, sizeof(line), "host=127.0.0.1 port=%d\n", t.agent[1].pg_port);
	assert_string_equal(r.out, line);
	run(&r, NULL, ARGS("-d", t.dcs_url, "dsn", "ctl", "--role", "replica"));
	snprintf(line, sizeof(line), "host=127.0.0.1 port=%d\n",
		 t.agent[leader == 0 ? 1 : 0].pg_port);
	assert_string_equal(r.out, line);
	run(&r, NULL, ARGS("-d", t.dcs_url, "dsn", "ctl", "-m", "node9"));
	expect(&r, 3, NULL, "cannot find a suitable member");
}

/* A cluster written directly into ZooKeeper with every column patronictl
 * shows: tags over two lines, a sync standby, pending and scheduled
 * restarts, ports, lags to round, maintenance and a scheduled switchover. */
static void twin_create(void)
{
	static const char *const znodes[][2] = {
		{ "initialize", "7000000000000000001" },
		{ "leader", "alpha" },
		{ "config", "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,\"pause\":true,"
			    "\"synchronous_mode\":true,\"postgresql\":{\"use_pg_rewind\":true,"
			    "\"parameters\":{\"max_connections\":100,\"archive_mode\":\"on\","
			    "\"work_mem\":\"4MB\"}}}" },
		{ "sync", "{\"leader\":\"alpha\",\"sync_standby\":\"bravo\"}" },
		{ "status", "{\"optime\":5000000000}" },
		{ "failover", "{\"leader\":\"alpha\",\"member\":\"charlie\","
			      "\"scheduled_at\":\"2099-01-01T00:00:00+00:00\"}" },
		{ "history", "[[1,25623960,\"no recovery target specified\","
			     "\"2024-06-30T16:57:57+02:00\",\"alpha\"],"
			     "[2,50331808,\"no recovery target specified\"]]" },
		{ "members/alpha",
		  "{\"conn_url\":\"postgres://10.1.0.1:5432/postgres\",\"api_url\":"
		  "\"http://10.1.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"master\","
		  "\"version\":\"3.0.2\",\"xlog_location\":5000000000,\"timeline\":3,"
		  "\"tags\":{\"region\":\"east\"}}" },
		{ "members/bravo",
		  "{\"conn_url\":\"postgres://10.1.0.2:5432/postgres\",\"api_url\":"
		  "\"http://10.1.0.2:8008/patroni\",\"state\":\"running\",\"role\":\"replica\","
		  "\"version\":\"3.0.2\",\"xlog_location\":4998427136,\"timeline\":3,"
		  "\"pending_restart\":true,\"tags\":{\"region\":\"east\",\"nofailover\":true}}" },
		{ "members/charlie",
		  "{\"conn_url\":\"postgres://10.1.0.3:5433/postgres\",\"api_url\":"
		  "\"http://10.1.0.3:8008/patroni\",\"state\":\"starting\",\"role\":\"replica\","
		  "\"version\":\"3.0.2\",\"xlog_location\":4997378560,\"timeline\":2,"
		  "\"scheduled_restart\":{\"schedule\":\"2099-01-01T01:00:00+00:00\","
		  "\"postgres_version\":\"15.4\"},\"tags\":{\"replicatefrom\":\"bravo\"}}" },
		{ "members/delta",
		  "{\"conn_url\":\"postgres://10.1.0.4/postgres\",\"api_url\":"
		  "\"http://10.1.0.4:8008/patroni\",\"state\":\"stopped\",\"role\":\"replica\","
		  "\"version\":\"3.0.2\"}" },
		{ "members/echo",
		  "{\"conn_url\":\"postgres://10.1.0.5:5432/postgres\",\"api_url\":"
		  "\"http://10.1.0.5:8008/patroni\",\"state\":\"running\",\"role\":\"replica\","
		  "\"version\":\"3.0.2\",\"xlog_location\":5100000000,\"timeline\":3,"
		  "\"tags\":{\"replicatefrom\":\"charlie\"}}" },
	};

	for (size_t i = 0; i < sizeof(znodes) / sizeof(znodes[0]); i++) {
		char path[256];

		snprintf(path, sizeof(path), "/service/twin/%s", znodes[i][0]);
		assert_int_equal(zk_client_create(t.client, path, znodes[i][1], ZK_CLIENT_PARENTS,
						  NULL, 0),
				 ZOK);
	}
}

/* Patroni's own patronictl (Debian's 3.0.2) prints the same bytes, but for
 * the title: 3.0.2 leaves the system identifier out, 3.3 (pgherdctl's
 * model) shows it. */
static void test_output_matches_patronictl(void **state)
{
	(void) state;
	static const char *const commands[][4] = {
		{ "list", NULL },	     { "list", "-f", "json", NULL },
		{ "list", "-f", "yaml", NULL }, { "list", "-f", "tsv", NULL },
		{ "topology", NULL },	     { "history", NULL },
		{ "history", "-f", "yaml", NULL }, { "show-config", NULL },
		{ "dsn", NULL },
	};
	char yaml[512];
	struct run mine;
	struct run theirs;

	if (access("/usr/bin/patronictl", X_OK) != 0)
		skip();
	twin_create();
	snprintf(yaml, sizeof(yaml), "scope: twin\nnamespace: /service\nzookeeper:\n  hosts: ['%s']\n",
		 t.zk.connect_string);
	const char *config = harness_write_file("patronictl.yml", yaml);
	assert_non_null(config);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const char *args[8] = { "-c", config };
		size_t n = 2;
		const char *mine_text = NULL;
		const char *their_text = NULL;

		for (size_t k = 0; k < 4 && commands[i][k] != NULL; k++)
			args[n++] = commands[i][k];
		args[n] = NULL;
		run(&mine, NULL, args);
		run_program(&theirs, "/usr/bin/patronictl", NULL, NULL, args);
		mine_text = mine.out;
		their_text = theirs.out;
		if (strncmp(mine.out, "+ Cluster: twin ", 16) == 0) {
			/* The title: same width, ours with the identifier. */
			const char *mine_end = strchr(mine.out, '\n');
			const char *their_end = strchr(theirs.out, '\n');

			if (!strstr(mine.out, "+ Cluster: twin (7000000000000000001) ") || !mine_end ||
			    !their_end || mine_end - mine.out != their_end - theirs.out)
				fail_msg("%s: title lines\n%.*s\n%.*s", commands[i][0],
					 (int) (mine_end ? mine_end - mine.out : 0), mine.out,
					 (int) (their_end ? their_end - theirs.out : 0), theirs.out);
			mine_text = mine_end;
			their_text = their_end;
		}
		/* cmocka cuts long messages: the outputs go to stdout. */
		if (mine.code != 0 || theirs.code != 0 || strcmp(mine_text, their_text) != 0) {
			printf("pgherdctl (exit %d):\n%s%s\npatronictl (exit %d):\n%s%s\n", mine.code,
			       mine.out, mine.err, theirs.code, theirs.out, theirs.err);
			harness_write_file("mine.txt", mine.out);
			harness_write_file("theirs.txt", theirs.out);
			fail_msg("%s %s: the outputs differ (above)", commands[i][0],
				 commands[i][1] ? commands[i][1] : "");
		}
	}
	assert_int_equal(zk_client_delete_recursive(t.client, "/service/twin"), ZOK);
}

static void test_show_config_and_edit_config(void **state)
{
	(void) state;
	struct run r;
	char config[4096];

	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "show-config"));
	expect(&r, 0, "ttl: 30\n", NULL);
	assert_non_null(strstr(r.out, "loop_wait: 10\n"));
	snprintf(t.original_config, sizeof(t.original_config), "%s", r.out);

	/* -s with --force: a diff, then the znode changes. */
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "edit-config", "-s", "ttl=40", "--force"));
	expect(&r, 0, "-ttl: 30\n+ttl: 40\n", NULL);
	assert_non_null(strstr(r.out, "Configuration changed\n"));
	znode("/service/ctl/config", config, sizeof(config));
	assert_non_null(strstr(config, "\"ttl\":40"));
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "edit-config", "-s", "ttl=40", "--force"));
	expect(&r, 0, "Not changed\n", NULL);

	/* Without --force it asks; "n" (or no answer) changes nothing. */
	run(&r, "n\n", ARGS("-c", t.agent[0].config_path, "edit-config", "-s", "ttl=50"));
	expect(&r, 6, "Apply these changes? [y/N]: ", "configuration not changed");
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "edit-config", "-s", "ttl=50"));
	expect(&r, 6, "Apply these changes? [y/N]: ", NULL);
	znode("/service/ctl/config", config, sizeof(config));
	assert_non_null(strstr(config, "\"ttl\":40"));
	run(&r, "y\n", ARGS("-c", t.agent[0].config_path, "edit-config", "-q", "-s", "ttl=50",
			    "-p", "work_mem=8MB"));
	expect(&r, 0, "Configuration changed", NULL);
	assert_null(strstr(r.out, "+ttl"));
	znode("/service/ctl/config", config, sizeof(config));
	assert_non_null(strstr(config, "\"ttl\":50"));
	assert_non_null(strstr(config, "\"work_mem\":\"8MB\""));

	/* Values the agents would refuse are never written. */
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "edit-config", "-s", "ttl=soon", "--force"));
	expect(&r, 64, NULL, "the new configuration is not valid");
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "edit-config", "-s", "ttl", "--force"));
	expect(&r, 64, NULL, "Invalid parameter setting ttl");

	/* Someone else changes /config while the editor is open: the write
	 * is refused, theirs stays. */
	char script[1024];
	snprintf(script, sizeof(script),
		 "#!/bin/sh\n"
		 "\"$CTL\" -d \"$URL\" edit-config ctl -s retry_timeout=9 --force -q >/dev/null || "
		 "exit 3\n"
		 "sed -i 's/^ttl: .*/ttl: 35/' \"$1\"\n");
	const char *editor = harness_write_file("editor.sh", script);
	assert_non_null(editor);
	assert_int_equal(chmod(editor, 0755), 0);
	char editor_env[512], ctl_env[512], url_env[256];
	snprintf(editor_env, sizeof(editor_env), "EDITOR=%s", editor);
	snprintf(ctl_env, sizeof(ctl_env), "CTL=%s", test_built_program("pgherdctl"));
	snprintf(url_env, sizeof(url_env), "URL=%s", t.dcs_url);
	char *env[] = { editor_env, ctl_env, url_env, NULL };
	run_with(&r, NULL, env, ARGS("-c", t.agent[0].config_path, "edit-config", "--force"));
	expect(&r, 4, "-ttl: 50\n+ttl: 35\n",
	       "Config modification aborted due to concurrent changes");
	znode("/service/ctl/config", config, sizeof(config));
	assert_non_null(strstr(config, "\"ttl\":50"));
	assert_non_null(strstr(config, "\"retry_timeout\":9"));
	/* Without the race the editor's change goes in. */
	snprintf(script, sizeof(script), "#!/bin/sh\nsed -i 's/^ttl: .*/ttl: 35/' \"$1\"\n");
	assert_non_null(harness_write_file("editor.sh", script));
	assert_int_equal(chmod(editor, 0755), 0);
	run_with(&r, NULL, env, ARGS("-c", t.agent[0].config_path, "edit-config", "--force"));
	expect(&r, 0, "Configuration changed", NULL);

	/* --replace puts the original back; standard input needs --force. */
	run(&r, t.original_config, ARGS("-c", t.agent[0].config_path, "edit-config", "--replace", "-"));
	expect(&r, 6, "+ttl: 30", "Use --force option to apply changes");
	run(&r, t.original_config,
	    ARGS("-c", t.agent[0].config_path, "edit-config", "--replace", "-", "--force"));
	expect(&r, 0, "Configuration changed", NULL);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "show-config"));
	assert_string_equal(r.out, t.original_config);
}

/* The leader's index and the timeline, as `list -f json` says. */
static int current_leader(int *tl)
{
	struct run r;
	int leader = -1;
	size_t i;
	json_t *row;

	run(&r, NULL, ARGS("-d", t.dcs_url, "list", "ctl", "-f", "json"));
	json_t *rows = json_loads(r.out, 0, NULL);
	json_array_foreach(rows, i, row)
		if (strcmp(json_string_value(json_object_get(row, "Role")), "Leader") == 0) {
			leader = agent_index(json_string_value(json_object_get(row, "Member")));
			*tl = (int) json_integer_value(json_object_get(row, "TL"));
		}
	json_decref(rows);
	return leader;
}

/* The agents' own REST API (agent/rest.c) behind the commands. */
static void test_commands_through_the_agents_rest_api(void **state)
{
	(void) state;
	struct run r;
	char line[256];
	int tl = 0;
	int leader = wait_for_cluster(1, -1);
	int candidate = (leader + 1) % MEMBERS;
	int other = (leader + 2) % MEMBERS;

	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "version", "ctl"));
	expect(&r, 0, "\nnode1: agent ", NULL);
	assert_non_null(strstr(r.out, "\nnode3: agent "));
	assert_non_null(strstr(r.out, " PostgreSQL 15."));

	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "pause", "--wait"));
	expect(&r, 0, "Success: cluster management is paused\n", NULL);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "list"));
	expect(&r, 0, "\n Maintenance mode: on\n", NULL);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "pause"));
	expect(&r, 4, NULL, "Cluster is already paused");
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "resume", "--wait"));
	expect(&r, 0, "Success: cluster management is resumed\n", NULL);

	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "reload", "ctl", "--force"));
	snprintf(line, sizeof(line), "Reload request received for member %s and will be processed "
				     "within 10 seconds\n", t.agent[other].name);
	expect(&r, 0, line, NULL);

	snprintf(line, sizeof(line), "Success: restart on member %s\n", t.agent[other].name);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "restart", "ctl", t.agent[other].name,
			   "--force"));
	expect(&r, 0, line, NULL);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "flush", "ctl", "restart", "--force"));
	expect(&r, 0, "No scheduled restart for member node1\n", NULL);

	snprintf(line, sizeof(line), "Successfully switched over to \"%s\"",
		 t.agent[candidate].name);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "switchover", "--candidate",
			   t.agent[candidate].name, "--force"));
	expect(&r, 0, line, NULL);
	assert_int_equal(wait_for_cluster(2, -1), candidate);
	assert_int_equal(current_leader(&tl), candidate);
	assert_int_equal(tl, 2);
}

/* ---- the ghost cluster: REST calls ------------------------------------------------ */

static void test_rest_calls_follow_patronis_contract(void **state)
{
	(void) state;
	struct run r;
	char log[65536];

	/* The malformed member is shown, with a warning. */
	run(&r, NULL, ARGS("-c", t.ghost_config, "list"));
	expect(&r, 0, "| broken ", "warning: /service/ghost/members/broken: ");
	assert_non_null(strstr(r.out, "+ Cluster: ghost (42) "));

	run(&r, NULL, ARGS("-c", t.ghost_config, "reload", "ghost", "ghost1", "--force"));
	expect(&r, 0, "Reload request received for member ghost1 and will be processed within 10 "
		      "seconds\n",
	       NULL);
	run(&r, NULL, ARGS("-c", t.ghost_config, "restart", "ghost", "ghost2", "--force"));
	expect(&r, 4, NULL,
	       "Failed: restart for member ghost2, status code=503, (restart conditions are not "
	       "satisfied)");
	run(&r, NULL, ARGS("-c", t.ghost_config, "restart", "ghost", "ghost3", "--force"));
	expect(&r, 5, NULL, "Failed: restart for member ghost3, cannot connect to 127.0.0.1:");
	run(&r, NULL, ARGS("-c", t.ghost_config, "restart", "ghost", "ghost9", "--force"));
	expect(&r, 3, NULL, "ghost9 is not a member of cluster");

	run(&r, NULL, ARGS("-c", t.ghost_config, "switchover", "--leader", "ghost1", "--candidate",
			   "ghost2", "--force"));
	expect(&r, 0, "Successfully switched over to \"ghost2\"\n", NULL);
	assert_non_null(strstr(r.out, "Current cluster topology\n+ Cluster: ghost (42) "));
	run(&r, NULL, ARGS("-c", t.ghost_config, "failover", "--candidate", "ghost2", "--force"));
	expect(&r, 4, NULL, "Failover failed, details: 412, candidate name does not match");
	run(&r, NULL, ARGS("-c", t.ghost_config, "failover", "--candidate", "ghost1", "--force"));
	expect(&r, 4, NULL, "Member ghost1 is already the leader of cluster ghost");
	run(&r, NULL, ARGS("-c", t.ghost_config, "failover", "--candidate", "ghost7", "--force"));
	expect(&r, 3, NULL, "Member ghost7 does not exist in cluster ghost");
	run(&r, NULL, ARGS("-c", t.ghost_config, "pause"));
	expect(&r, 0, "Success: cluster management is paused\n", NULL);
	run(&r, NULL, ARGS("-c", t.ghost_config, "resume"));
	expect(&r, 4, NULL, "Cluster is not paused");
	run(&r, NULL, ARGS("-c", t.ghost_config, "reinit", "ghost", "ghost2", "--force"));
	expect(&r, 1, NULL, "the answer is not HTTP");

	run(&r, NULL, ARGS("-c", t.ghost_config, "version", "ghost"));
	expect(&r, 5, "pgherdctl version ", NULL);
	assert_non_null(strstr(r.out, "\nghost1: agent 0.1.0 PostgreSQL 15.4\n"));
	assert_non_null(strstr(r.err, "pgherdctl: ghost3: failed to get version: cannot connect to"));

	/* What the fake agent received: Patroni's requests, with the
	 * credentials of the configuration. */
	read_file(t.fake_log, log, sizeof(log));
	static const char *const sent[] = {
		"POST /reload HTTP/1.1\r\n",
		"POST /restart HTTP/1.1\r\n",
		"POST /switchover HTTP/1.1\r\n",
		"{\"leader\": \"ghost1\", \"candidate\": \"ghost2\"}",
		"POST /failover HTTP/1.1\r\n",
		"{\"candidate\": \"ghost2\"}",
		"PATCH /config HTTP/1.1\r\n",
		"{\"pause\": true}",
		"POST /reinitialize HTTP/1.1\r\n",
		"{\"force\": true}",
		"GET /patroni HTTP/1.1\r\n",
		"Authorization: Basic YWRtaW46c2VjcmV0\r\n",
		"Content-Type: application/json\r\n",
	};
	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++)
		if (!strstr(log, sent[i]))
			fail_msg("the fake agent never got %s; its log:\n%s", sent[i], log);
}

static void test_questions_and_unreachable_agents(void **state)
{
	(void) state;
	struct run r;
	char failover[512];

	/* No --force: questions; "n" or no answer aborts with code 6. */
	run(&r, "now\n\nn\n", ARGS("-c", t.ghost_config, "restart", "ghost", "ghost1"));
	expect(&r, 6, "Are you sure you want to restart members ghost1? [y/N]: ", "Aborted restart");
	assert_non_null(strstr(r.out, "Restart if the PostgreSQL version is less than provided"));
	run(&r, NULL, ARGS("-c", t.ghost_config, "failover", "--candidate", "ghost2"));
	expect(&r, 6, "Are you sure you want to failover cluster ghost, demoting current leader "
		      "ghost1? [y/N]: ",
	       "Aborting failover");
	run(&r, "ghost1\nghost3\nnow\nmaybe\nn\n", ARGS("-c", t.ghost_config, "switchover"));
	expect(&r, 6, "Primary [ghost1]: Candidate ['ghost2', 'ghost3'] []: ", "Aborting switchover");
	assert_non_null(strstr(r.out, "Error: invalid input\n"));
	run(&r, "", ARGS("-c", t.ghost_config, "reload", "ghost"));
	expect(&r, 6, "Which member do you want to reload [broken, ghost1, ghost2, ghost3]", NULL);

	/* Nobody answers any more. */
	fake_agent_stop();
	run(&r, NULL, ARGS("-c", t.ghost_config, "pause"));
	expect(&r, 5, NULL, "Can not find accessible cluster member");
	run(&r, NULL, ARGS("-c", t.ghost_config, "reload", "ghost", "ghost2", "ghost3", "--force"));
	expect(&r, 5, NULL, "Failed: reload for member ghost2, cannot connect");

	/* switchover falls back to writing /failover, as patronictl. */
	run(&r, NULL, ARGS("-c", t.ghost_config, "switchover", "--leader", "ghost1", "--candidate",
			   "ghost2", "--scheduled", "2099-01-01T00:00Z", "--force"));
	expect(&r, 0, "Could not switchover using the REST API, falling back to DCS\n", NULL);
	znode("/service/ghost/failover", failover, sizeof(failover));
	assert_string_equal(failover, "{\"leader\":\"ghost1\",\"member\":\"ghost2\",\"scheduled_at\":"
				      "\"2099-01-01T00:00:00+00:00\"}");
	run(&r, NULL, ARGS("-c", t.ghost_config, "list"));
	expect(&r, 0, " Switchover scheduled at: 2099-01-01T00:00:00+00:00\n"
		      "                    from: ghost1\n"
		      "                      to: ghost2\n",
	       NULL);
	/* flush does the same, with compare-and-set. */
	run(&r, NULL, ARGS("-c", t.ghost_config, "flush", "ghost", "switchover", "--force"));
	expect(&r, 0, "Could not find any accessible member of cluster ghost\n", NULL);
	znode("/service/ghost/failover", failover, sizeof(failover));
	assert_string_equal(failover, "{}");
	run(&r, NULL, ARGS("-c", t.ghost_config, "flush", "ghost", "switchover"));
	expect(&r, 0, "No pending scheduled switchover\n", NULL);
}

/* In synchronous mode a failover to a member outside `sync` may lose
 * acknowledged commits: pgherdctl asks first, as patronictl does. */
static void test_failover_to_an_asynchronous_member_asks_first(void **state)
{
	(void) state;
	static const struct {
		const char *leaf, *data;
	} znodes[] = {
		{ "initialize", "42" },
		{ "config", "{\"ttl\":30,\"synchronous_mode\":true}" },
		{ "leader", "s1" },
		{ "sync", "{\"leader\":\"s1\",\"sync_standby\":\"s2\"}" },
		{ "members/s1", "{\"conn_url\":\"postgres://127.0.0.1:6101/postgres\",\"api_url\":"
				"\"http://127.0.0.1:6111/patroni\",\"state\":\"running\",\"role\":"
				"\"master\",\"timeline\":1}" },
		{ "members/s2", "{\"conn_url\":\"postgres://127.0.0.1:6102/postgres\",\"api_url\":"
				"\"http://127.0.0.1:6112/patroni\",\"state\":\"running\",\"role\":"
				"\"replica\",\"timeline\":1}" },
		{ "members/s3", "{\"conn_url\":\"postgres://127.0.0.1:6103/postgres\",\"api_url\":"
				"\"http://127.0.0.1:6113/patroni\",\"state\":\"running\",\"role\":"
				"\"replica\",\"timeline\":1}" },
	};
	char yaml[512];
	struct run r;

	for (size_t i = 0; i < sizeof(znodes) / sizeof(znodes[0]); i++) {
		char path[128];
		snprintf(path, sizeof(path), "/service/syncghost/%s", znodes[i].leaf);
		assert_int_equal(zk_client_create(t.client, path, znodes[i].data, ZK_CLIENT_PARENTS,
						  NULL, 0),
				 ZOK);
	}
	snprintf(yaml, sizeof(yaml), "scope: syncghost\nzookeeper:\n  hosts: ['%s']\n",
		 t.zk.connect_string);
	const char *config = harness_write_file("syncghost.yml", yaml);
	assert_non_null(config);

	run(&r, "n\n", ARGS("-c", config, "failover", "--candidate", "s3"));
	expect(&r, 6, "Are you sure you want to failover to the asynchronous node s3? [y/N]: ",
	       "Aborting failover");
	/* The synchronous standby gets the usual question only. */
	run(&r, "n\n", ARGS("-c", config, "failover", "--candidate", "s2"));
	expect(&r, 6, "Are you sure you want to failover cluster syncghost, demoting current "
		      "leader s1? [y/N]: ",
	       "Aborting failover");
	assert_null(strstr(r.out, "asynchronous"));
	assert_int_equal(zk_client_delete_recursive(t.client, "/service/syncghost"), ZOK);
}

/* ---- failover, agents down, remove ------------------------------------------------ */

static void test_history_after_a_failover(void **state)
{
	(void) state;
	struct run r;
	char path[512];
	char line[256];
	long pid = 0;
	int tl = 0;
	int old = current_leader(&tl);

	assert_true(old >= 0 && tl >= 1);
	wait_for_cluster(tl, -1);

	/* The leader's node dies: agent and postmaster. */
	snprintf(path, sizeof(path), "%s/ctl/%s/data/postmaster.pid", harness_run_dir(),
		 t.agent[old].name);
	FILE *f = fopen(path, "r");
	if (f != NULL) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	assert_true(pid > 0);
	harness_kill(t.agent[old].pid);
	kill((pid_t) pid, SIGKILL);
	t.agent[old].pid = 0;
	int next = wait_for_cluster(tl + 1, old);
	assert_true(next != old);

	run(&r, NULL, ARGS("-c", t.agent[next].config_path, "history"));
	expect(&r, 0, "+----+", NULL);
	assert_non_null(strstr(r.out, "| TL |"));
	snprintf(line, sizeof(line), "| %-10s |", t.agent[next].name);
	assert_non_null(strstr(r.out, line));
	snprintf(line, sizeof(line), "| %2d |", tl);
	assert_non_null(strstr(r.out, line));
	/* One line per timeline left behind, the last one this failover's. */
	run(&r, NULL, ARGS("-c", t.agent[next].config_path, "history", "-f", "json"));
	json_t *lines = json_loads(r.out, 0, NULL);
	assert_int_equal(json_array_size(lines), tl);
	json_t *last = json_array_get(lines, json_array_size(lines) - 1);
	assert_int_equal(json_integer_value(json_object_get(last, "TL")), tl);
	assert_true(json_integer_value(json_object_get(last, "LSN")) > 0);
	assert_string_equal(json_string_value(json_object_get(last, "New Leader")),
			    t.agent[next].name);
	json_decref(lines);
}

static void test_list_works_with_every_agent_stopped(void **state)
{
	(void) state;
	struct run r;
	char title[64];

	for (int i = 0; i < MEMBERS; i++)
		if (t.agent[i].pid > 0) {
			harness_stop(t.agent[i].pid, 20000);
			t.agent[i].pid = 0;
		}
	snprintf(title, sizeof(title), "+ Cluster: ctl (%s) ", t.sysid);
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "list"));
	expect(&r, 0, title, NULL);
	/* The members' ephemeral znodes went with their sessions. */
	assert_null(strstr(r.out, "| node"));
	assert_non_null(strstr(r.out, "| Member | Host | Role | State | TL | Lag in MB |\n"));
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "dsn"));
	expect(&r, 3, NULL, "cannot find a suitable member");
	run(&r, NULL, ARGS("-c", t.agent[0].config_path, "show-config"));
	expect(&r, 0, "ttl: 30", NULL);
}

static void test_remove_asks_for_the_right_answers(void **state)
{
	(void) state;
	struct run r;
	struct Stat stat;

	run(&r, "ctl\nYes I am not\n", ARGS("-d", t.dcs_url, "remove", "ctl"));
	expect(&r, 6, "Please confirm the cluster name to remove: ",
	       "You did not exactly type \"Yes I am aware\"");
	run(&r, "batman\n", ARGS("-d", t.dcs_url, "remove", "ctl"));
	expect(&r, 6, NULL, "Cluster names specified do not match");
	run(&r, NULL, ARGS("-d", t.dcs_url, "remove", "ctl"));
	expect(&r, 6, NULL, "no answer");
	assert_int_equal(zk_client_exists(t.client, "/service/ctl", &stat), ZOK);
	/* Without a leader two answers do. */
	run(&r, "ctl\nYes I am aware\n", ARGS("-d", t.dcs_url, "remove", "ctl"));
	expect(&r, 0, "You are about to remove all information in DCS for ctl, please type: \"Yes "
		      "I am aware\": ",
	       NULL);
	assert_int_equal(zk_client_exists(t.client, "/service/ctl", &stat), ZNONODE);
	run(&r, NULL, ARGS("-d", t.dcs_url, "list", "ctl"));
	expect(&r, 3, NULL, "cluster 'ctl' not found");

	/* With a leader, its name is the third answer. */
	run(&r, "ghost\nYes I am aware\nghost2\n", ARGS("-c", t.ghost_config, "remove", "ghost"));
	expect(&r, 6, "This cluster currently is healthy. Please specify the leader name to continue: ",
	       "You did not specify the current leader of the cluster");
	assert_int_equal(zk_client_exists(t.client, "/service/ghost", &stat), ZOK);
	run(&r, "ghost\nYes I am aware\nghost1\n", ARGS("-c", t.ghost_config, "remove", "ghost"));
	expect(&r, 0, "Cluster ghost removed from /service/ghost\n", NULL);
	assert_int_equal(zk_client_exists(t.client, "/service/ghost", &stat), ZNONODE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments_exit_64_with_a_message),
		cmocka_unit_test(test_unreachable_zookeeper_and_unknown_cluster),
		cmocka_unit_test(test_output_matches_patronictl),
		cmocka_unit_test(test_rest_calls_follow_patronis_contract),
		cmocka_unit_test(test_failover_to_an_asynchronous_member_asks_first),
		cmocka_unit_test(test_questions_and_unreachable_agents),
		cmocka_unit_test(test_list_shows_the_cluster_as_patronictl),
		cmocka_unit_test(test_show_config_and_edit_config),
		cmocka_unit_test(test_commands_through_the_agents_rest_api),
		cmocka_unit_test(test_history_after_a_failover),
		cmocka_unit_test(test_list_works_with_every_agent_stopped),
		cmocka_unit_test(test_remove_asks_for_the_right_answers),
	};
	if (getenv("PGHERD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGHERD_TEST_FILTER"));
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return failures + test_sanitizer_reports();
}
