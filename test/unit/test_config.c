/*
 * The configuration loader: what operators see when their file is right,
 * wrong or hostile.  Expected diagnostics are compared as the formatted text
 * users read ("FILE:LINE: error: KEY: REASON"), so a changed message, line
 * or key fails a test.
 *
 * Fixture files live in test/data/config/ and are found relative to this
 * source file, so the tests run from the repository root (as `make` does).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/config.h"
#include "agent/config_internal.h"
#include "agent/kubernetes.h"
#include "dcs/znode.h"

#define FILE_NAME "test.yml"

/* The smallest valid file: four lines, so appended text starts on line 5. */
#define MINIMAL "scope: batman\nname: node1\nzookeeper:\n  hosts: [zk1:2181]\n"

/* Names of 80 and 201 bytes. */
#define N_10 "nnnnnnnnnn"
#define N_80 N_10 N_10 N_10 N_10 N_10 N_10 N_10 N_10
#define N_201 N_80 N_80 N_10 N_10 N_10 N_10 "n"

#define ARRAY_LENGTH(array) (sizeof(array) / sizeof((array)[0]))

struct load_result {
	bool ok;
	struct pgherd_config *config;
	struct config_diagnostics diags;
	char *report; /* every diagnostic formatted, one per line, for failure messages */
};

static void collect_report(struct load_result *result)
{
	size_t length = 0;

	result->report = calloc(1, 1);
	for (size_t i = 0; i < result->diags.count; i++) {
		char *line = config_diagnostic_format(&result->diags.items[i]);
		result->report = realloc(result->report, length + strlen(line) + 2);
		memcpy(result->report + length, line, strlen(line));
		length += strlen(line);
		result->report[length++] = '\n';
		result->report[length] = '\0';
		free(line);
	}
}

static void check_result_invariants(const struct load_result *result)
{
	/* The contract: true exactly when there is no error, config only then. */
	assert_int_equal(result->ok, !config_diagnostics_have_errors(&result->diags));
	assert_int_equal(result->ok, result->config != NULL);
}

static void load_text(struct load_result *result, const char *text, size_t length,
		      char *const *env)
{
	memset(result, 0, sizeof(*result));
	result->ok = config_load_string(text, length, FILE_NAME, env, &result->config,
					&result->diags);
	collect_report(result);
	check_result_invariants(result);
}

static void load_yaml(struct load_result *result, const char *yaml, char *const *env)
{
	load_text(result, yaml, strlen(yaml), env);
}

static void load_path(struct load_result *result, const char *path, char *const *env)
{
	memset(result, 0, sizeof(*result));
	result->ok = config_load_file(path, env, &result->config, &result->diags);
	collect_report(result);
	check_result_invariants(result);
}

static void release(struct load_result *result)
{
	config_free(result->config);
	config_diagnostics_clear(&result->diags);
	free(result->report);
}

static size_t count_severity(const struct load_result *result, enum config_severity severity)
{
	size_t count = 0;
	for (size_t i = 0; i < result->diags.count; i++)
		count += result->diags.items[i].severity == severity;
	return count;
}

/* Passes when one formatted diagnostic contains expected. */
static void expect_diagnostic(const struct load_result *result, const char *expected,
			      const char *case_name)
{
	for (size_t i = 0; i < result->diags.count; i++) {
		char *line = config_diagnostic_format(&result->diags.items[i]);
		bool found = strstr(line, expected) != NULL;
		free(line);
		if (found)
			return;
	}
	fail_msg("%s: no diagnostic contains\n  %s\nthe load reported:\n%s", case_name, expected,
		 result->report);
}

static char *fixture_path(const char *directory, const char *name)
{
	/* __FILE__ is test/unit/test_config.c as make compiles it. */
	const char *source = __FILE__;
	const char *slash = strrchr(source, '/');
	int prefix = slash ? (int) (slash - source) : 1;
	size_t size = strlen(source) + strlen(directory) + strlen(name) + 16;
	char *path = malloc(size);
	snprintf(path, size, "%.*s/../%s/%s", prefix, slash ? source : ".", directory, name);
	return path;
}

/* ---- fixtures ------------------------------------------------------------ */

static void test_patroni_example_validates_with_warnings_only(void **state)
{
	(void) state;
	struct load_result result;
	char *path = fixture_path("data/config", "patroni-example.yml");

	load_path(&result, path, NULL);
	assert_true(result.ok);
	assert_int_equal(count_severity(&result, CONFIG_ERROR), 0);
	assert_int_equal(count_severity(&result, CONFIG_WARNING), 2);
	expect_diagnostic(&result,
			  "patroni-example.yml:30: warning: bootstrap.initdb: not supported by "
			  "pgherd yet; ignored",
			  "initdb");
	expect_diagnostic(&result,
			  "patroni-example.yml:39: warning: postgresql.pgpass: not supported by "
			  "pgherd yet; ignored",
			  "pgpass");

	const struct pgherd_config *config = result.config;
	assert_string_equal(config->scope, "batman");
	assert_string_equal(config->namespace, "/service");
	assert_string_equal(config->name, "postgresql0");
	assert_string_equal(config->restapi.listen, "0.0.0.0:8008");
	assert_string_equal(config->restapi.connect_address, "10.0.0.1:8008");
	assert_string_equal(config->restapi.username, "patroni");
	assert_string_equal(config->restapi.password, "rest-pass");
	assert_int_equal(config->zookeeper.n_hosts, 3);
	assert_string_equal(config->zookeeper.hosts[2], "zk3:2181");
	assert_string_equal(config->zookeeper.connect_string, "zk1:2181,zk2:2181,zk3:2181");
	assert_int_equal(config->dcs.ttl, 30);
	assert_int_equal(config->dcs.loop_wait, 10);
	assert_int_equal(config->dcs.retry_timeout, 10);
	assert_int_equal(config->dcs.maximum_lag_on_failover, 1048576);
	assert_true(config->dcs.use_pg_rewind);
	assert_string_equal(
	    json_string_value(json_object_get(config->dcs.parameters, "wal_log_hints")), "on");
	assert_int_equal(
	    json_integer_value(json_object_get(config->dcs.parameters, "max_connections")), 100);
	assert_string_equal(config->postgresql.listen, "0.0.0.0:5432");
	assert_string_equal(config->postgresql.connect_address, "10.0.0.1:5432");
	assert_string_equal(config->postgresql.data_dir, "/var/lib/postgresql/data");
	assert_string_equal(config->postgresql.bin_dir, "/usr/lib/postgresql/15/bin");
	assert_string_equal(config->postgresql.superuser.username, "postgres");
	assert_string_equal(config->postgresql.superuser.password, "secret");
	assert_string_equal(config->postgresql.replication.username, "replicator");
	assert_string_equal(config->postgresql.replication.password, "rep-pass");
	assert_string_equal(config->postgresql.rewind.username, "rewind_user");
	assert_string_equal(config->postgresql.rewind.password, "rewind_password");
	assert_int_equal(config->postgresql.n_pg_hba, 2);
	assert_string_equal(config->postgresql.pg_hba[1], "host all all 0.0.0.0/0 md5");
	assert_string_equal(json_string_value(json_object_get(config->postgresql.parameters,
							      "unix_socket_directories")),
			    "/var/run/postgresql");
	assert_true(json_is_false(json_object_get(config->tags, "nofailover")));
	assert_int_equal(json_object_size(config->tags), 4);
	assert_int_equal(config->log.level, LOG_LEVEL_INFO);
	assert_int_equal(config->log.format, LOG_FORMAT_PLAIN);
	assert_int_equal(config->watchdog.mode, WATCHDOG_MODE_AUTOMATIC);
	release(&result);
	free(path);
}

static void test_deploy_example_validates_without_any_diagnostic(void **state)
{
	(void) state;
	struct load_result result;
	char *path = fixture_path("../deploy", "pgherd.example.yml");

	load_path(&result, path, NULL);
	if (!result.ok || result.diags.count != 0)
		fail_msg("deploy/pgherd.example.yml:\n%s", result.report);
	assert_string_equal(result.config->scope, "demo");
	assert_int_equal(result.config->zookeeper.n_hosts, 3);
	release(&result);
	free(path);
}

static void test_each_bad_fixture_gives_exactly_its_error(void **state)
{
	(void) state;
	static const struct {
		const char *file;
		const char *expected;
	} cases[] = {
		{ "bad-type.yml",
		  "bad-type.yml:7: error: bootstrap.dcs.ttl: expected an integer, got \"thirty\"" },
		{ "bad-log-format.yml",
		  "bad-log-format.yml:5: error: log.format: expected plain or json, got \"xml\"" },
		{ "missing-scope.yml",
		  "missing-scope.yml:1: error: scope: required key is missing; set it in the file "
		  "or with PGHERD_SCOPE (or PATRONI_SCOPE)" },
		{ "malformed.yml",
		  "malformed.yml:4: error: malformed YAML after key restapi.listen: mapping values "
		  "are not allowed in this context" },
		{ "empty.yml",
		  "empty.yml:1: error: the file is empty; pgherd needs a YAML mapping with at "
		  "least scope, name and zookeeper.hosts" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char *path = fixture_path("data/config", cases[i].file);
		load_path(&result, path, NULL);
		assert_false(result.ok);
		expect_diagnostic(&result, cases[i].expected, cases[i].file);
		if (count_severity(&result, CONFIG_ERROR) != 1)
			fail_msg("%s: expected exactly one error, got:\n%s", cases[i].file,
				 result.report);
		release(&result);
		free(path);
	}
}

static void test_unreadable_file_is_an_error_naming_it(void **state)
{
	(void) state;
	struct load_result result;

	load_path(&result, "/nonexistent/pgherd.yml", NULL);
	assert_false(result.ok);
	expect_diagnostic(&result,
			  "/nonexistent/pgherd.yml: error: cannot read the file: No such file or "
			  "directory",
			  "missing file");
	release(&result);
}

/* ---- errors -------------------------------------------------------------- */

struct error_case {
	const char *name;
	const char *yaml;
	const char *expected; /* a formatted diagnostic, or part of one */
};

static void run_error_cases(const struct error_case *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct load_result result;
		load_yaml(&result, cases[i].yaml, NULL);
		if (result.ok)
			fail_msg("%s: loaded without error:\n%s", cases[i].name, result.report);
		expect_diagnostic(&result, cases[i].expected, cases[i].name);
		release(&result);
	}
}

#define DCS(text) MINIMAL "bootstrap:\n  dcs:\n    " text "\n"

static void test_wrong_types_and_ranges_are_errors(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "word for integer", DCS("ttl: thirty"),
		  "test.yml:7: error: bootstrap.dcs.ttl: expected an integer, got \"thirty\"" },
		{ "quoted junk for integer", DCS("ttl: \"30x\""),
		  "test.yml:7: error: bootstrap.dcs.ttl: expected an integer, got \"30x\"" },
		{ "fraction for integer", DCS("loop_wait: 2.5"),
		  "test.yml:7: error: bootstrap.dcs.loop_wait: expected an integer, got \"2.5\"" },
		{ "list for integer", DCS("ttl: [30]"),
		  "test.yml:7: error: bootstrap.dcs.ttl: expected an integer, got a list" },
		{ "empty integer", DCS("ttl:"),
		  "test.yml:7: error: bootstrap.dcs.ttl: must not be empty" },
		{ "ttl below 2", DCS("ttl: 1"),
		  "test.yml:7: error: bootstrap.dcs.ttl: must be at least 2, got 1" },
		{ "loop_wait below 1", DCS("loop_wait: 0"),
		  "test.yml:7: error: bootstrap.dcs.loop_wait: must be at least 1, got 0" },
		{ "retry_timeout below 1", DCS("retry_timeout: -3"),
		  "test.yml:7: error: bootstrap.dcs.retry_timeout: must be at least 1, got -3" },
		{ "negative lag", DCS("maximum_lag_on_failover: -1"),
		  "test.yml:7: error: bootstrap.dcs.maximum_lag_on_failover: must be at least 0, "
		  "got -1" },
		{ "huge integer", DCS("ttl: 99999999999999999999999"),
		  "test.yml:7: error: bootstrap.dcs.ttl: must be at most 86400, got "
		  "99999999999999999999999" },
		{ "huge negative", DCS("ttl: -99999999999999999999999"),
		  "test.yml:7: error: bootstrap.dcs.ttl: must be at least 2, got "
		  "-99999999999999999999999" },
		{ "huge lag", DCS("maximum_lag_on_failover: 9223372036854775808"),
		  "must be at most 9223372036854775807, got 9223372036854775808" },
		{ "synchronous_mode not a boolean", DCS("synchronous_mode: maybe"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_mode: expected a boolean (true or "
		  "false) or quorum, got \"maybe\"" },
		{ "synchronous_mode a number", DCS("synchronous_mode: 1"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_mode: expected a boolean (true or "
		  "false) or quorum, got \"1\"" },
		{ "synchronous_mode a list", DCS("synchronous_mode: [true]"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_mode: expected a boolean (true or "
		  "false) or quorum, got a list" },
		{ "empty synchronous_mode", DCS("synchronous_mode:"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_mode: must not be empty" },
		{ "synchronous_mode_strict not a boolean", DCS("synchronous_mode_strict: 2"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_mode_strict: expected a boolean "
		  "(true or false), got \"2\"" },
		{ "synchronous_node_count 0", DCS("synchronous_node_count: 0"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_node_count: must be at least 1, got "
		  "0" },
		{ "synchronous_node_count a word", DCS("synchronous_node_count: two"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_node_count: expected an integer, "
		  "got \"two\"" },
		{ "huge synchronous_node_count", DCS("synchronous_node_count: 2147483648"),
		  "test.yml:7: error: bootstrap.dcs.synchronous_node_count: must be at most "
		  "2147483647, got 2147483648" },
		{ "negative primary_start_timeout", DCS("primary_start_timeout: -1"),
		  "test.yml:7: error: bootstrap.dcs.primary_start_timeout: must be at least 0, got "
		  "-1" },
		{ "master_start_timeout a word", DCS("master_start_timeout: soon"),
		  "test.yml:7: error: bootstrap.dcs.master_start_timeout: expected an integer, got "
		  "\"soon\"" },
		{ "pause a mapping", DCS("pause: {a: 1}"),
		  "test.yml:7: error: bootstrap.dcs.pause: expected a boolean (true or false), got "
		  "a mapping" },
		{ "not a boolean", DCS("postgresql: {use_pg_rewind: maybe}"),
		  "test.yml:7: error: bootstrap.dcs.postgresql.use_pg_rewind: expected a boolean "
		  "(true or false), got \"maybe\"" },
		{ "zero session timeout", MINIMAL "zookeeper:\n  session_timeout: 0\n",
		  "test.yml:6: error: zookeeper.session_timeout: must be greater than 0, got 0" },
		{ "negative session timeout", MINIMAL "zookeeper:\n  session_timeout: -1.5\n",
		  "test.yml:6: error: zookeeper.session_timeout: must be greater than 0, got "
		  "-1.5" },
		{ "word session timeout", MINIMAL "zookeeper:\n  session_timeout: ten\n",
		  "test.yml:6: error: zookeeper.session_timeout: expected a number of seconds, got "
		  "\"ten\"" },
		{ "nan session timeout", MINIMAL "zookeeper:\n  session_timeout: .nan\n",
		  "expected a number of seconds, got \".nan\"" },
		{ "overflowing session timeout", MINIMAL "zookeeper:\n  session_timeout: 1e999\n",
		  "zookeeper.session_timeout: must be at most 86400, got 1e999" },
		{ "log level", MINIMAL "log:\n  level: LOUD\n",
		  "test.yml:6: error: log.level: expected one of DEBUG, INFO, WARNING, ERROR, "
		  "CRITICAL, got \"LOUD\"" },
		{ "log type", MINIMAL "log:\n  type: xml\n",
		  "test.yml:6: error: log.type: expected plain or json, got \"xml\"" },
		{ "log format", MINIMAL "log: {format: xml}\n",
		  "test.yml:5: error: log.format: expected plain or json, got \"xml\"" },
		{ "watchdog mode", MINIMAL "watchdog:\n  mode: sometimes\n",
		  "test.yml:6: error: watchdog.mode: expected off, automatic or required, got "
		  "\"sometimes\"" },
		{ "known tag type", MINIMAL "tags:\n  nofailover: maybe\n",
		  "test.yml:6: error: tags.nofailover: expected a boolean (true or false), got "
		  "\"maybe\"" },
		{ "negative priority", MINIMAL "tags:\n  failover_priority: -1\n",
		  "test.yml:6: error: tags.failover_priority: must be at least 0, got -1" },
		{ "tags not a map", MINIMAL "tags: [a]\n",
		  "test.yml:5: error: tags: expected a mapping, got a list" },
		{ "parameters not a map", MINIMAL "postgresql:\n  parameters: on\n",
		  "test.yml:6: error: postgresql.parameters: expected a mapping, got \"on\"" },
		{ "pg_hba not a list", MINIMAL "postgresql:\n  pg_hba: host all all md5\n",
		  "test.yml:6: error: postgresql.pg_hba: expected a list of strings, got \"host "
		  "all all md5\"" },
		{ "pg_hba empty line",
		  MINIMAL "postgresql:\n  pg_hba:\n  - local all all peer\n  - ''\n",
		  "test.yml:8: error: postgresql.pg_hba: must not be empty" },
		{ "section not a map", MINIMAL "restapi: 8008\n",
		  "test.yml:5: error: restapi: expected a mapping, got \"8008\"" },
		{ "nested section not a map", MINIMAL "postgresql:\n  authentication: [x]\n",
		  "test.yml:6: error: postgresql.authentication: expected a mapping, got a list" },
		{ "map for a string", "scope: {a: 1}\nname: n\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: scope: expected a string, got a mapping" },
		{ "NUL in a string", "scope: \"a\\0b\"\nname: n\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: scope: must not contain a NUL character" },
		{ "slash in scope", "scope: a/b\nname: n\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: scope: must not contain '/' (it names a ZooKeeper node), got "
		  "\"a/b\"" },
		{ "slash in name", "scope: s\nname: ../x\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:2: error: name: must not contain '/'" },
		{ "dot-dot name", "scope: s\nname: '..'\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:2: error: name: must not be \".\" or \"..\" (it names a ZooKeeper "
		  "node), got \"..\"" },
		{ "control character in scope",
		  "scope: \"a\\tb\"\nname: n\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: scope: must not contain control characters (it names a "
		  "ZooKeeper node), got \"a\\x09b\"" },
		{ "long name", "scope: s\nzookeeper: {hosts: 'z:1'}\nname: " N_201 "\n",
		  "test.yml:3: error: name: must be at most 200 bytes (it names a ZooKeeper node), "
		  "got \"" N_80 "...\"" },
		{ "bad replicatefrom", MINIMAL "tags: {replicatefrom: a/b}\n",
		  "test.yml:5: error: tags.replicatefrom: must not contain '/'" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

static void test_empty_strings_are_errors(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "quoted empty scope", "scope: ''\nname: n\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: scope: must not be empty" },
		{ "null name", "scope: s\nname: ~\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:2: error: name: must not be empty" },
		{ "empty data_dir", MINIMAL "postgresql:\n  data_dir: \"\"\n",
		  "test.yml:6: error: postgresql.data_dir: must not be empty" },
		{ "empty password", MINIMAL "restapi:\n  authentication:\n    password:\n",
		  "test.yml:7: error: restapi.authentication.password: must not be empty" },
		{ "empty listen", MINIMAL "restapi: {listen: ''}\n",
		  "test.yml:5: error: restapi.listen: must not be empty" },
		{ "empty hosts", "scope: s\nname: n\nzookeeper:\n  hosts:\n",
		  "test.yml:4: error: zookeeper.hosts: must not be empty" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

#define HOSTS(text) "scope: s\nname: n\nzookeeper:\n  hosts: " text "\n"

static void test_bad_host_entries_are_errors(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "no port", HOSTS("zk1"),
		  "test.yml:4: error: zookeeper.hosts: expected host:port, got \"zk1\"" },
		{ "port 0", HOSTS("[zk1:0]"),
		  "test.yml:4: error: zookeeper.hosts: the port must be a number from 1 to 65535, "
		  "got \"zk1:0\"" },
		{ "port 65536", HOSTS("['zk1:2181', 'zk2:65536']"),
		  "the port must be a number from 1 to 65535, got \"zk2:65536\"" },
		{ "port not a number", HOSTS("zk1:21x1"),
		  "the port must be a number from 1 to 65535, got \"zk1:21x1\"" },
		{ "empty port", HOSTS("'zk1:'"),
		  "the port must be a number from 1 to 65535, got \"zk1:\"" },
		{ "no host", HOSTS("':2181'"),
		  "test.yml:4: error: zookeeper.hosts: the host is missing in host:port, got "
		  "\":2181\"" },
		{ "quote in host", HOSTS("\"'zk1':2181\""),
		  "the host contains a character not allowed in host names, got \"'zk1':2181\"" },
		{ "empty entry", HOSTS("'zk1:2181,,zk2:2181'"),
		  "test.yml:4: error: zookeeper.hosts: empty entry in the list of host:port" },
		{ "empty list", HOSTS("[]"),
		  "test.yml:4: error: zookeeper.hosts: expected at least one host:port" },
		{ "mapping entry", HOSTS("\n  - zk1: 2181"),
		  "test.yml:5: error: zookeeper.hosts: expected host:port, got a mapping (quote "
		  "the entry: 'zk1:2181')" },
		{ "bad entry on its own line", HOSTS("\n  - zk1:2181\n  - zk2"),
		  "test.yml:6: error: zookeeper.hosts: expected host:port, got \"zk2\"" },
		{ "hosts a mapping", HOSTS("{a: b}"),
		  "test.yml:4: error: zookeeper.hosts: expected a list of host:port, got a "
		  "mapping" },
		{ "connect address without port",
		  MINIMAL "postgresql:\n  connect_address: 10.0.0.1\n",
		  "test.yml:6: error: postgresql.connect_address: expected host:port, got "
		  "\"10.0.0.1\"" },
		{ "listen port out of range", MINIMAL "restapi:\n  listen: 0.0.0.0:80080\n",
		  "test.yml:6: error: restapi.listen: the port must be a number from 1 to 65535, "
		  "got \"0.0.0.0:80080\"" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

static void test_missing_required_keys_are_errors_on_line_1(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "scope", "name: n\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: scope: required key is missing; set it in the file or with "
		  "PGHERD_SCOPE (or PATRONI_SCOPE)" },
		{ "name", "scope: s\nzookeeper: {hosts: 'z:1'}\n",
		  "test.yml:1: error: name: required key is missing; set it in the file or with "
		  "PGHERD_NAME (or PATRONI_NAME)" },
		{ "hosts", "scope: s\nname: n\nzookeeper: {}\n",
		  "test.yml:1: error: zookeeper.hosts: required key is missing; set it in the file "
		  "or with PGHERD_ZOOKEEPER_HOSTS (or PATRONI_ZOOKEEPER_HOSTS)" },
		{ "hosts without section", "scope: s\nname: n\n",
		  "test.yml:1: error: zookeeper.hosts: required key is missing" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

static void test_document_shape_errors(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "comments only", "# nothing\n\n",
		  "test.yml:1: error: the file holds no settings (only comments or blank lines); "
		  "pgherd needs a YAML mapping with at least scope, name and zookeeper.hosts" },
		{ "bare document marker", "---\n",
		  "test.yml:1: error: the file holds no settings" },
		{ "list at the top", "- scope\n- name\n",
		  "test.yml:1: error: the top level is a list; pgherd needs a YAML mapping" },
		{ "scalar at the top", "\n\nbatman\n",
		  "test.yml:3: error: the top level is a single value; pgherd needs a YAML "
		  "mapping" },
		{ "second document", MINIMAL "---\nscope: other\n",
		  "test.yml:6: error: a second YAML document starts here; pgherd reads exactly "
		  "one" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

static void test_malformed_yaml_names_line_and_last_key(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "value with colon", "scope: s\nrestapi:\n  listen: a: b\n",
		  "test.yml:3: error: malformed YAML after key restapi.listen: mapping values are "
		  "not allowed in this context" },
		{ "unclosed flow list", "scope: s\nzookeeper:\n  hosts: [zk1:2181,\nname: n\n",
		  "test.yml:5: error: malformed YAML after key zookeeper.hosts[1].name: did not "
		  "find expected ',' or ']' (while parsing a flow sequence on line 3)" },
		{ "unclosed quote", "scope: s\nname: 'node1\n",
		  "test.yml:3: error: malformed YAML after key name: found unexpected end of "
		  "stream (while scanning a quoted scalar on line 2)" },
		{ "tab indentation", "scope: s\npostgresql:\n\tdata_dir: /x\n",
		  "test.yml:3: error: malformed YAML after key postgresql: found character that "
		  "cannot start any token" },
		{ "inside a list", "bootstrap:\n  initdb:\n  - encoding: UTF8\n  - x: y: z\n",
		  "test.yml:4: error: malformed YAML after key bootstrap.initdb[1].x: mapping "
		  "values are not allowed" },
		{ "before any key", "[a, b\n",
		  "test.yml:2: error: malformed YAML: did not find expected ',' or ']'" },
		{ "invalid UTF-8", "scope: s\nname: \xff\xfe\n",
		  "test.yml:2: error: malformed YAML after key name: invalid leading UTF-8 octet" },
		{ "undefined alias", "scope: s\nname: *nowhere\n",
		  "test.yml:2: error: malformed YAML after key name: found undefined alias" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

static void test_all_errors_are_collected_in_line_order(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result,
		  "scope: ''\n"                     /* 1 */
		  "name: n\n"                       /* 2 */
		  "log:\n"                          /* 3 */
		  "  level: LOUD\n"                 /* 4 */
		  "zookeeper:\n"                    /* 5 */
		  "  hosts: [zk1, 'zk2:99999']\n"   /* 6 */
		  "bootstrap:\n"                    /* 7 */
		  "  dcs: {ttl: 0, loop_wait: x}\n" /* 8 */
		  "unknown: 1\n",                   /* 9 */
		  NULL);
	assert_false(result.ok);
	assert_int_equal(count_severity(&result, CONFIG_ERROR), 6);
	assert_int_equal(count_severity(&result, CONFIG_WARNING), 1);
	for (size_t i = 1; i < result.diags.count; i++) {
		if (result.diags.items[i].line < result.diags.items[i - 1].line)
			fail_msg("diagnostics out of line order:\n%s", result.report);
	}
	expect_diagnostic(&result, "test.yml:1: error: scope: must not be empty", "scope");
	expect_diagnostic(&result, "test.yml:4: error: log.level:", "level");
	expect_diagnostic(&result,
			  "test.yml:6: error: zookeeper.hosts: expected host:port, got \"zk1\"",
			  "host 1");
	expect_diagnostic(&result, "got \"zk2:99999\"", "host 2");
	expect_diagnostic(&result,
			  "test.yml:8: error: bootstrap.dcs.ttl: must be at least 2, got 0", "ttl");
	expect_diagnostic(&result,
			  "test.yml:8: error: bootstrap.dcs.loop_wait: expected an integer, got "
			  "\"x\"",
			  "loop_wait");
	release(&result);
}

static void test_too_many_problems_are_counted_not_listed(void **state)
{
	(void) state;
	struct load_result result;
	size_t size = 400 * 16 + sizeof(MINIMAL);
	char *yaml = malloc(size);
	size_t used = (size_t) snprintf(yaml, size, "%s", MINIMAL);

	for (int i = 0; i < 400; i++)
		used += (size_t) snprintf(yaml + used, size - used, "junk%d: 1\n", i);
	load_yaml(&result, yaml, NULL);
	assert_true(result.ok); /* warnings only */
	assert_int_equal(result.diags.count, CONFIG_DIAGNOSTICS_LISTED + 1);
	expect_diagnostic(&result, "test.yml: warning: 200 more problems not listed", "summary");
	release(&result);
	free(yaml);
}

/* ---- warnings -------------------------------------------------------------- */

struct warning_case {
	const char *name;
	const char *yaml;
	const char *expected;
	size_t warnings; /* the exact number of warnings */
};

static void test_unsupported_and_unknown_keys_are_warnings(void **state)
{
	(void) state;
	static const struct warning_case cases[] = {
		{ "unknown top-level key", MINIMAL "colour: blue\n",
		  "test.yml:5: warning: colour: unknown key; ignored", 1 },
		{ "unknown nested key", MINIMAL "restapi:\n  lisen: 0.0.0.0:8008\n",
		  "test.yml:6: warning: restapi.lisen: unknown key; ignored", 1 },
		{ "unknown key under authentication",
		  MINIMAL "postgresql:\n  authentication:\n    admin: {username: a}\n",
		  "test.yml:7: warning: postgresql.authentication.admin: unknown key; ignored", 1 },
		{ "key with a dot", MINIMAL "restapi.listen: 1.2.3.4:5\n",
		  "test.yml:5: warning: restapi.listen: unknown key; ignored", 1 },
		{ "unsupported leaf", MINIMAL "restapi:\n  certfile: /etc/cert.pem\n",
		  "test.yml:6: warning: restapi.certfile: not supported by pgherd yet; "
		  "ignored", 1 },
		{ "unsupported subtree warns once",
		  MINIMAL
		  "postgresql:\n  basebackup:\n    max-rate: 100M\n    checkpoint: fast\n",
		  "test.yml:6: warning: postgresql.basebackup: not supported by pgherd yet; "
		  "ignored", 1 },
		{ "unsupported dynamic key",
		  MINIMAL "bootstrap:\n  dcs:\n    check_timeline: true\n",
		  "test.yml:7: warning: bootstrap.dcs.check_timeline: not supported by pgherd "
		  "yet; ignored", 1 },
		{ "unsupported dynamic key beside supported ones",
		  MINIMAL "bootstrap:\n  dcs:\n    synchronous_mode: true\n"
			  "    maximum_lag_on_syncnode: 1048576\n",
		  "test.yml:8: warning: bootstrap.dcs.maximum_lag_on_syncnode: not supported by "
		  "pgherd yet; ignored", 1 },
		{ "quorum commit",
		  MINIMAL "bootstrap:\n  dcs:\n    synchronous_mode: quorum\n",
		  "test.yml:7: warning: bootstrap.dcs.synchronous_mode: quorum commit is not "
		  "implemented: pgherd runs \"quorum\" as true", 1 },
		{ "unsupported user TLS option",
		  MINIMAL
		  "postgresql:\n  authentication:\n    superuser:\n      sslmode: require\n",
		  "test.yml:8: warning: postgresql.authentication.superuser.sslmode: not "
		  "supported", 1 },
		{ "other DCS", MINIMAL "etcd:\n  hosts: e:2379\n",
		  "test.yml:5: warning: etcd: not supported by pgherd yet; ignored (pgherd uses "
		  "ZooKeeper only)", 1 },
		{ "local ttl", MINIMAL "ttl: 30\n",
		  "test.yml:5: warning: ttl: not supported by pgherd yet; ignored (Patroni reads "
		  "it only from the DCS: set bootstrap.dcs.ttl)", 1 },
		{ "watchdog device", MINIMAL "watchdog:\n  mode: required\n  device: /dev/watchdog\n",
		  "test.yml:7: warning: watchdog.device: not supported by pgherd yet; ignored "
		  "(pgherd's watchdog is a process and needs no device)", 1 },
		{ "duplicate key", MINIMAL "log:\n  level: DEBUG\n  level: ERROR\n",
		  "test.yml:7: warning: log.level: duplicate key; the last value is used", 1 },
		{ "Patroni log format string",
		  MINIMAL "log:\n  format: '%(asctime)s %(message)s'\n",
		  "test.yml:6: warning: log.format: Patroni log format strings are not supported; "
		  "using plain unless log.type is json", 1 },
		{ "timing rule", MINIMAL "bootstrap:\n  dcs:\n    loop_wait: 5\n    ttl: 20\n",
		  "test.yml:8: warning: bootstrap.dcs.ttl: loop_wait + 2 * retry_timeout = 5 + 2 * "
		  "10 = 25 exceeds ttl 20; Patroni requires loop_wait + 2 * retry_timeout <= ttl "
		  "(pgherd does not depend on it)", 1 },
		{ "timing rule without ttl", MINIMAL "bootstrap:\n  dcs:\n    retry_timeout: 15\n",
		  "test.yml:7: warning: bootstrap.dcs.retry_timeout: loop_wait + 2 * retry_timeout "
		  "= 10 + 2 * 15 = 40 exceeds ttl 30", 1 },
		{ "merge key", MINIMAL "base: &base {listen: '1.2.3.4:5'}\nrestapi:\n  <<: *base\n",
		  "test.yml:7: warning: restapi.<<: YAML merge keys are not supported; the merged "
		  "keys are ignored", 2 },
		{ "non-string key", MINIMAL "? [a, b]\n: c\n",
		  "test.yml:5: warning: a key that is not a string; ignored", 1 },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		load_yaml(&result, cases[i].yaml, NULL);
		if (!result.ok || count_severity(&result, CONFIG_WARNING) != cases[i].warnings)
			fail_msg("%s: expected %zu warning(s) and no error, got:\n%s",
				 cases[i].name, cases[i].warnings, result.report);
		expect_diagnostic(&result, cases[i].expected, cases[i].name);
		release(&result);
	}
}

/* Patroni's custom replica and bootstrap methods: a list (or a name) and
 * a section per method, read whole. */
static void test_custom_methods_and_their_sections(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result, MINIMAL
		  "postgresql:\n  create_replica_methods: [from_backup, basebackup]\n"
		  "  from_backup:\n    command: /usr/local/bin/restore --fast\n    no_leader: true\n"
		  "    backup_dir: /backups\n"
		  "bootstrap:\n  method: restore\n  restore:\n    command: /bin/restore-cluster\n"
		  "  post_bootstrap: /bin/after\n", NULL);
	assert_true(result.ok);
	assert_int_equal(count_severity(&result, CONFIG_WARNING), 0);
	assert_int_equal(result.config->postgresql.n_create_replica_methods, 2);
	json_t *method = json_object_get(result.config->postgresql.replica_methods, "from_backup");
	assert_string_equal(json_string_value(json_object_get(method, "command")),
			    "/usr/local/bin/restore --fast");
	assert_true(json_is_true(json_object_get(method, "no_leader")));
	assert_string_equal(json_string_value(json_object_get(method, "backup_dir")), "/backups");
	assert_null(json_object_get(result.config->postgresql.replica_methods, "basebackup"));
	assert_string_equal(result.config->bootstrap.method, "restore");
	assert_string_equal(json_string_value(json_object_get(result.config->bootstrap.method_section,
							       "command")),
			    "/bin/restore-cluster");
	assert_string_equal(result.config->bootstrap.post_bootstrap, "/bin/after");
	release(&result);

	load_yaml(&result, MINIMAL "postgresql:\n  create_replica_methods: [missing]\n", NULL);
	assert_false(result.ok);
	expect_diagnostic(&result,
			  "test.yml: error: postgresql.missing: the method is named but its section is missing",
			  "missing section");
	release(&result);

	load_yaml(&result, MINIMAL "postgresql:\n  create_replica_methods: [m]\n  m:\n    keep_data: true\n",
		  NULL);
	assert_false(result.ok);
	expect_diagnostic(&result, "postgresql.m: needs a `command` (a string)", "no command");
	release(&result);

	/* patronictl's own credentials for the REST API. */
	load_yaml(&result, MINIMAL "ctl:\n  authentication:\n    username: op\n    password: pw\n", NULL);
	assert_true(result.ok);
	assert_int_equal(count_severity(&result, CONFIG_WARNING), 0);
	assert_string_equal(result.config->ctl.username, "op");
	assert_string_equal(result.config->ctl.password, "pw");
	release(&result);

	/* A section nobody names is still an unknown key. */
	load_yaml(&result, MINIMAL "postgresql:\n  stray:\n    command: x\n", NULL);
	assert_true(result.ok);
	expect_diagnostic(&result, "test.yml:6: warning: postgresql.stray: unknown key; ignored",
			  "stray section");
	release(&result);
}

static void test_duplicate_key_keeps_the_last_value(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result, MINIMAL "log:\n  level: DEBUG\n  level: ERROR\n", NULL);
	assert_true(result.ok);
	assert_int_equal(result.config->log.level, LOG_LEVEL_ERROR);
	release(&result);
}

/* ---- values -------------------------------------------------------------- */

static void test_defaults(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result, MINIMAL, NULL);
	assert_true(result.ok);
	assert_int_equal(result.diags.count, 0);
	const struct pgherd_config *config = result.config;
	assert_string_equal(config->namespace, "/service");
	assert_string_equal(config->restapi.listen, "127.0.0.1:8008");
	assert_string_equal(config->restapi.connect_address, "127.0.0.1:8008");
	assert_null(config->restapi.username);
	assert_null(config->restapi.password);
	assert_string_equal(config->zookeeper.connect_string, "zk1:2181");
	assert_true(config->zookeeper.session_timeout == 0);
	assert_int_equal(config_session_timeout_ms(config), 10000);
	assert_int_equal(config->dcs.ttl, 30);
	assert_int_equal(config->dcs.loop_wait, 10);
	assert_int_equal(config->dcs.retry_timeout, 10);
	assert_int_equal(config->dcs.maximum_lag_on_failover, 1048576);
	assert_false(config->dcs.use_pg_rewind);
	assert_int_equal(config->dcs.primary_start_timeout, 300);
	assert_int_equal(config->dcs.synchronous_mode, SYNCHRONOUS_MODE_OFF);
	assert_false(config->dcs.synchronous_mode_strict);
	assert_int_equal(config->dcs.synchronous_node_count, 1);
	assert_false(config->dcs.pause);
	assert_true(json_is_object(config->dcs.parameters));
	assert_int_equal(json_object_size(config->dcs.parameters), 0);
	assert_true(json_is_object(config->postgresql.parameters));
	assert_int_equal(json_object_size(config->postgresql.parameters), 0);
	assert_true(json_is_object(config->tags));
	assert_int_equal(json_object_size(config->tags), 0);
	assert_null(config->postgresql.data_dir);
	assert_null(config->postgresql.bin_dir);
	assert_null(config->postgresql.listen);
	assert_null(config->postgresql.connect_address);
	assert_null(config->postgresql.superuser.username);
	assert_null(config->postgresql.pg_hba);
	assert_int_equal(config->postgresql.n_pg_hba, 0);
	assert_int_equal(config->log.level, LOG_LEVEL_INFO);
	assert_int_equal(config->log.format, LOG_FORMAT_PLAIN);
	release(&result);
}

static void test_quoted_numbers_and_booleans_are_accepted(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result,
		  "scope: s\nname: n\nzookeeper: {hosts: 'z:1', session_timeout: "
		  "'2.5'}\nbootstrap:\n  dcs:\n    ttl: \"40\"\n    loop_wait: '+5'\n    "
		  "postgresql: {use_pg_rewind: \"Yes\"}\n",
		  NULL);
	if (!result.ok)
		fail_msg("%s", result.report);
	assert_int_equal(result.config->dcs.ttl, 40);
	assert_int_equal(result.config->dcs.loop_wait, 5);
	assert_true(result.config->dcs.use_pg_rewind);
	assert_int_equal(config_session_timeout_ms(result.config), 2500);
	release(&result);
}

static void test_hosts_forms_in_the_file(void **state)
{
	(void) state;
	static const struct {
		const char *hosts;
		const char *connect_string;
	} cases[] = {
		{ "zk1:2181", "zk1:2181" },
		{ "\"zk1:2181, zk2:2182 ,zk3:2183\"", "zk1:2181,zk2:2182,zk3:2183" },
		{ "[zk1:2181, 'zk2:2182']", "zk1:2181,zk2:2182" },
		{ "\n  - 10.0.0.1:2181\n  - '[::1]:2181'", "10.0.0.1:2181,[::1]:2181" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char yaml[256];
		snprintf(yaml, sizeof(yaml), "scope: s\nname: n\nzookeeper:\n  hosts: %s\n",
			 cases[i].hosts);
		load_yaml(&result, yaml, NULL);
		if (!result.ok)
			fail_msg("hosts %s:\n%s", cases[i].hosts, result.report);
		assert_string_equal(result.config->zookeeper.connect_string,
				    cases[i].connect_string);
		release(&result);
	}
}

static void test_maps_keep_yaml_types(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result,
		  MINIMAL "postgresql:\n  parameters:\n"
			  "    a: on\n    b: \"on\"\n    c: 100\n    d: 1.5\n    e: 0755\n    f: "
			  "~\n    g: OFF\n    h: oN\n    i: -7\n    j: [1, x]\n    k: {l: "
			  "true}\ntags:\n  nofailover: \"true\"\n  failover_priority: '2'\n  "
			  "replicatefrom: node2\n  region: 5\n  spot: yes\n  zone: 'eu'\n",
		  NULL);
	if (!result.ok)
		fail_msg("%s", result.report);
	json_t *parameters = result.config->postgresql.parameters;
	assert_true(json_is_true(json_object_get(parameters, "a")));
	assert_string_equal(json_string_value(json_object_get(parameters, "b")), "on");
	assert_int_equal(json_integer_value(json_object_get(parameters, "c")), 100);
	assert_true(json_real_value(json_object_get(parameters, "d")) == 1.5);
	assert_string_equal(json_string_value(json_object_get(parameters, "e")), "0755");
	assert_true(json_is_null(json_object_get(parameters, "f")));
	assert_true(json_is_false(json_object_get(parameters, "g")));
	assert_string_equal(json_string_value(json_object_get(parameters, "h")), "oN");
	assert_int_equal(json_integer_value(json_object_get(parameters, "i")), -7);
	assert_int_equal(json_array_size(json_object_get(parameters, "j")), 2);
	assert_true(json_is_true(json_object_get(json_object_get(parameters, "k"), "l")));

	json_t *tags = result.config->tags;
	/* Known tags are stored typed even when quoted. */
	assert_true(json_is_true(json_object_get(tags, "nofailover")));
	assert_true(json_is_integer(json_object_get(tags, "failover_priority")));
	assert_int_equal(json_integer_value(json_object_get(tags, "failover_priority")), 2);
	assert_string_equal(json_string_value(json_object_get(tags, "replicatefrom")), "node2");
	/* Custom tags keep their YAML types. */
	assert_int_equal(json_integer_value(json_object_get(tags, "region")), 5);
	assert_true(json_is_true(json_object_get(tags, "spot")));
	assert_string_equal(json_string_value(json_object_get(tags, "zone")), "eu");
	release(&result);
}

static void test_local_use_pg_rewind_overrides_bootstrap_in_any_order(void **state)
{
	(void) state;
	static const char *const orders[] = {
		MINIMAL "postgresql: {use_pg_rewind: false}\n"
			"bootstrap: {dcs: {postgresql: {use_pg_rewind: true}}}\n",
		MINIMAL "bootstrap: {dcs: {postgresql: {use_pg_rewind: true}}}\n"
			"postgresql: {use_pg_rewind: false}\n",
	};

	for (size_t i = 0; i < ARRAY_LENGTH(orders); i++) {
		struct load_result result;
		load_yaml(&result, orders[i], NULL);
		assert_true(result.ok);
		assert_false(result.config->dcs.use_pg_rewind);
		release(&result);
	}
}

/* The dynamic keys pgherd honours in `config` are read from bootstrap.dcs
 * too (finding F7), in Patroni's spellings. */
static void test_bootstrap_dcs_dynamic_keys(void **state)
{
	(void) state;
	static const struct {
		const char *name;
		const char *yaml;
		enum synchronous_mode mode;
		bool strict;
		int node_count;
		int start_timeout;
		bool pause;
	} cases[] = {
		{ "synchronous mode", DCS("synchronous_mode: true\n    synchronous_node_count: 2"),
		  SYNCHRONOUS_MODE_ON, false, 2, 300, false },
		{ "strict, YAML 1.1 spellings and quoted",
		  DCS("synchronous_mode: on\n    synchronous_mode_strict: 'yes'\n"
		      "    synchronous_node_count: \"3\""),
		  SYNCHRONOUS_MODE_ON, true, 3, 300, false },
		{ "off", DCS("synchronous_mode: false\n    synchronous_mode_strict: false"),
		  SYNCHRONOUS_MODE_OFF, false, 1, 300, false },
		{ "quorum in any case", DCS("synchronous_mode: Quorum"), SYNCHRONOUS_MODE_QUORUM,
		  false, 1, 300, false },
		{ "primary_start_timeout", DCS("primary_start_timeout: 0"), SYNCHRONOUS_MODE_OFF,
		  false, 1, 0, false },
		{ "master_start_timeout, Patroni's old name", DCS("master_start_timeout: 60"),
		  SYNCHRONOUS_MODE_OFF, false, 1, 60, false },
		{ "primary_start_timeout wins, written after",
		  DCS("master_start_timeout: 60\n    primary_start_timeout: 90"),
		  SYNCHRONOUS_MODE_OFF, false, 1, 90, false },
		{ "primary_start_timeout wins, written before",
		  DCS("primary_start_timeout: 90\n    master_start_timeout: 60"),
		  SYNCHRONOUS_MODE_OFF, false, 1, 90, false },
		{ "pause", DCS("pause: true"), SYNCHRONOUS_MODE_OFF, false, 1, 300, true },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		load_yaml(&result, cases[i].yaml, NULL);
		if (!result.ok || count_severity(&result, CONFIG_WARNING) !=
					  (cases[i].mode == SYNCHRONOUS_MODE_QUORUM ? 1u : 0u))
			fail_msg("%s: %s", cases[i].name, result.report);
		const struct pgherd_config *config = result.config;
		if (config->dcs.synchronous_mode != cases[i].mode ||
		    config->dcs.synchronous_mode_strict != cases[i].strict ||
		    config->dcs.synchronous_node_count != cases[i].node_count ||
		    config->dcs.primary_start_timeout != cases[i].start_timeout ||
		    config->dcs.pause != cases[i].pause)
			fail_msg("%s: got mode %d strict %d count %d start timeout %d pause %d",
				 cases[i].name, (int) config->dcs.synchronous_mode,
				 config->dcs.synchronous_mode_strict, config->dcs.synchronous_node_count,
				 config->dcs.primary_start_timeout, config->dcs.pause);
		release(&result);
	}
}

/* What the bootstrapping member writes to `config`: the text, with
 * Patroni's JSON types, and what the agent then reads back from it. */
static void test_dynamic_configuration_json(void **state)
{
	(void) state;
	struct load_result result;
	struct znode_config dynamic;
	char err[ZNODE_ERR_MAX];
	char *json;

	load_yaml(&result, MINIMAL, NULL);
	assert_true(result.ok);
	json = config_dynamic_configuration(result.config);
	assert_string_equal(json, "{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,"
				  "\"maximum_lag_on_failover\":1048576,\"primary_start_timeout\":300,"
				  "\"synchronous_mode\":false,\"synchronous_mode_strict\":false,"
				  "\"synchronous_node_count\":1,\"pause\":false,\"postgresql\":"
				  "{\"use_pg_rewind\":false,\"use_slots\":true,\"parameters\":{}}}");
	free(json);
	release(&result);

	load_yaml(&result,
		  MINIMAL "bootstrap:\n  dcs:\n    ttl: 40\n    synchronous_mode: 'true'\n"
			  "    synchronous_mode_strict: on\n    synchronous_node_count: '2'\n"
			  "    master_start_timeout: 0\n    pause: yes\n"
			  "    postgresql: {use_pg_rewind: true, parameters: {max_connections: 100}}\n",
		  NULL);
	if (!result.ok)
		fail_msg("%s", result.report);
	json = config_dynamic_configuration(result.config);
	assert_string_equal(json, "{\"ttl\":40,\"loop_wait\":10,\"retry_timeout\":10,"
				  "\"maximum_lag_on_failover\":1048576,\"primary_start_timeout\":0,"
				  "\"synchronous_mode\":true,\"synchronous_mode_strict\":true,"
				  "\"synchronous_node_count\":2,\"pause\":true,\"postgresql\":"
				  "{\"use_pg_rewind\":true,\"use_slots\":true,\"parameters\":"
				  "{\"max_connections\":100}}}");
	if (!znode_config_decode(json, (int) strlen(json), &dynamic, err, sizeof(err)))
		fail_msg("the agent cannot read what bootstrap writes: %s", err);
	assert_int_equal(dynamic.ttl, 40);
	assert_true(dynamic.synchronous_mode);
	assert_false(dynamic.synchronous_mode_quorum);
	assert_true(dynamic.synchronous_mode_strict);
	assert_int_equal(dynamic.synchronous_node_count, 2);
	assert_int_equal(dynamic.primary_start_timeout, 0);
	assert_true(dynamic.pause);
	assert_true(dynamic.use_pg_rewind);
	znode_config_clear(&dynamic);
	free(json);
	release(&result);

	/* Patroni 4's "quorum" is kept as the string it is. */
	load_yaml(&result, MINIMAL "bootstrap:\n  dcs:\n    synchronous_mode: QUORUM\n", NULL);
	assert_true(result.ok);
	json = config_dynamic_configuration(result.config);
	assert_non_null(strstr(json, "\"synchronous_mode\":\"quorum\","));
	assert_true(znode_config_decode(json, (int) strlen(json), &dynamic, err, sizeof(err)));
	assert_true(dynamic.synchronous_mode);
	assert_true(dynamic.synchronous_mode_quorum);
	znode_config_clear(&dynamic);
	free(json);
	release(&result);
}

static void test_log_format_and_type(void **state)
{
	(void) state;
	static const struct {
		const char *log;
		enum log_format expected;
	} cases[] = {
		{ "{type: json}", LOG_FORMAT_JSON },
		{ "{format: JSON}", LOG_FORMAT_JSON },
		{ "{type: json, format: plain}", LOG_FORMAT_PLAIN },
		{ "{format: plain, type: json}", LOG_FORMAT_PLAIN },
		{ "{type: json, format: '%(asctime)s %(message)s'}", LOG_FORMAT_JSON },
		{ "{format: '%(message)s'}", LOG_FORMAT_PLAIN },
		{ "{level: debug}", LOG_FORMAT_PLAIN },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char yaml[256];
		snprintf(yaml, sizeof(yaml), MINIMAL "log: %s\n", cases[i].log);
		load_yaml(&result, yaml, NULL);
		if (!result.ok || result.config->log.format != cases[i].expected)
			fail_msg("log: %s gave the wrong format:\n%s", cases[i].log, result.report);
		release(&result);
	}
}

static void test_log_levels_are_case_insensitive(void **state)
{
	(void) state;
	static const struct {
		const char *level;
		enum log_level expected;
	} cases[] = {
		{ "debug", LOG_LEVEL_DEBUG },	{ "Info", LOG_LEVEL_INFO },
		{ "WARNING", LOG_LEVEL_WARNING }, { "error", LOG_LEVEL_ERROR },
		{ "CRITICAL", LOG_LEVEL_ERROR },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char yaml[256];
		snprintf(yaml, sizeof(yaml), MINIMAL "log: {level: %s}\n", cases[i].level);
		load_yaml(&result, yaml, NULL);
		assert_true(result.ok);
		assert_int_equal(result.config->log.level, cases[i].expected);
		release(&result);
	}
}

/* Patroni's parse_mode() spellings; YAML's `off` is a string here. */
static void test_watchdog_modes_in_patroni_spellings(void **state)
{
	(void) state;
	static const struct {
		const char *mode;
		enum watchdog_mode expected;
	} cases[] = {
		{ "off", WATCHDOG_MODE_OFF },		{ "false", WATCHDOG_MODE_OFF },
		{ "disabled", WATCHDOG_MODE_OFF },	{ "automatic", WATCHDOG_MODE_AUTOMATIC },
		{ "auto", WATCHDOG_MODE_AUTOMATIC },	{ "Required", WATCHDOG_MODE_REQUIRED },
		{ "require", WATCHDOG_MODE_REQUIRED },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char yaml[256];
		snprintf(yaml, sizeof(yaml), MINIMAL "watchdog: {mode: %s}\n", cases[i].mode);
		load_yaml(&result, yaml, NULL);
		assert_true(result.ok);
		assert_int_equal(result.config->watchdog.mode, cases[i].expected);
		release(&result);
	}
}

static void test_namespace_is_normalised(void **state)
{
	(void) state;
	static const struct {
		const char *written;
		const char *normalised;
	} cases[] = {
		{ "/service", "/service" },
		{ "service", "/service" },
		{ "/service/", "/service" },
		{ "//a//b/", "/a/b" },
		{ "a/b/c", "/a/b/c" },
		{ "/", "" },
		{ "'///'", "" },
		{ "/pg/clusters", "/pg/clusters" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char yaml[256];
		snprintf(yaml, sizeof(yaml), MINIMAL "namespace: %s\n", cases[i].written);
		load_yaml(&result, yaml, NULL);
		if (!result.ok)
			fail_msg("namespace %s:\n%s", cases[i].written, result.report);
		assert_string_equal(result.config->namespace, cases[i].normalised);
		release(&result);
	}
}

static void test_session_timeout_computation(void **state)
{
	(void) state;
	static const struct {
		int ttl;
		double session_timeout;
		int expected_ms;
	} cases[] = {
		{ 30, 0, 10000 },       { 31, 0, 10333 },       { 2, 0, 1000 },
		{ 3, 0, 1000 },         { 6, 0, 2000 },         { 30, 2.5, 2500 },
		{ 30, 0.1, 1000 },      { 30, 0.0015, 1000 },   { 30, 1.0004, 1000 },
		{ 30, 12.3456, 12346 }, { 86400, 0, 28800000 }, { 30, 86400, 86400000 },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct pgherd_config config = { 0 };
		config.dcs.ttl = cases[i].ttl;
		config.zookeeper.session_timeout = cases[i].session_timeout;
		if (config_session_timeout_ms(&config) != cases[i].expected_ms)
			fail_msg("ttl %d, session_timeout %g: got %d ms, expected %d", cases[i].ttl,
				 cases[i].session_timeout, config_session_timeout_ms(&config),
				 cases[i].expected_ms);
	}
}

/* ---- environment ----------------------------------------------------------- */

static void test_environment_precedence(void **state)
{
	(void) state;
	static const char yaml[] = MINIMAL "namespace: /file\n";
	struct load_result result;

	char *const patroni_only[] = { "PATRONI_SCOPE=from-patroni", "PATRONI_NAMESPACE=/patroni",
				       NULL };
	load_yaml(&result, yaml, patroni_only);
	assert_true(result.ok);
	assert_string_equal(result.config->scope, "from-patroni");
	assert_string_equal(result.config->namespace, "/patroni");
	assert_string_equal(result.config->name, "node1"); /* the file, untouched */
	release(&result);

	char *const both[] = { "PATRONI_SCOPE=from-patroni", "PGHERD_SCOPE=from-pgherd",
			       "PATRONI_NAME=patroni-name", NULL };
	load_yaml(&result, yaml, both);
	assert_true(result.ok);
	assert_string_equal(result.config->scope, "from-pgherd");
	assert_string_equal(result.config->name, "patroni-name");
	assert_string_equal(result.config->namespace, "/file");
	release(&result);

	/* An empty variable is unset, as in Patroni. */
	char *const empty_pgherd[] = { "PGHERD_SCOPE=", "PATRONI_SCOPE=from-patroni",
				       "PGHERD_NAME=", NULL };
	load_yaml(&result, yaml, empty_pgherd);
	assert_true(result.ok);
	assert_string_equal(result.config->scope, "from-patroni");
	assert_string_equal(result.config->name, "node1");
	release(&result);
}

static void test_every_string_variable_reaches_its_field(void **state)
{
	(void) state;
	static const struct {
		const char *suffix;
		const char *value;
		size_t offset;
	} cases[] = {
		{ "SCOPE", "s2", offsetof(struct pgherd_config, scope) },
		{ "NAME", "n2", offsetof(struct pgherd_config, name) },
		{ "NAMESPACE", "/ns2", offsetof(struct pgherd_config, namespace) },
		{ "RESTAPI_LISTEN", "1.2.3.4:1", offsetof(struct pgherd_config, restapi.listen) },
		{ "RESTAPI_CONNECT_ADDRESS", "h:2",
		  offsetof(struct pgherd_config, restapi.connect_address) },
		{ "RESTAPI_USERNAME", "u", offsetof(struct pgherd_config, restapi.username) },
		{ "RESTAPI_PASSWORD", "p w", offsetof(struct pgherd_config, restapi.password) },
		{ "ZOOKEEPER_HOSTS", "z9:2181",
		  offsetof(struct pgherd_config, zookeeper.connect_string) },
		{ "POSTGRESQL_LISTEN", "*:5433",
		  offsetof(struct pgherd_config, postgresql.listen) },
		{ "POSTGRESQL_CONNECT_ADDRESS", "h:5433",
		  offsetof(struct pgherd_config, postgresql.connect_address) },
		{ "POSTGRESQL_DATA_DIR", "/d",
		  offsetof(struct pgherd_config, postgresql.data_dir) },
		{ "POSTGRESQL_BIN_DIR", "/b", offsetof(struct pgherd_config, postgresql.bin_dir) },
		{ "SUPERUSER_USERNAME", "su",
		  offsetof(struct pgherd_config, postgresql.superuser.username) },
		{ "SUPERUSER_PASSWORD", "sp",
		  offsetof(struct pgherd_config, postgresql.superuser.password) },
		{ "REPLICATION_USERNAME", "ru",
		  offsetof(struct pgherd_config, postgresql.replication.username) },
		{ "REPLICATION_PASSWORD", "null",
		  offsetof(struct pgherd_config, postgresql.replication.password) },
		{ "REWIND_USERNAME", "wu",
		  offsetof(struct pgherd_config, postgresql.rewind.username) },
		{ "REWIND_PASSWORD", "'quoted'",
		  offsetof(struct pgherd_config, postgresql.rewind.password) },
	};
	static const char *const prefixes[] = { "PGHERD_", "PATRONI_" };

	for (size_t p = 0; p < ARRAY_LENGTH(prefixes); p++) {
		for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
			char variable[128];
			struct load_result result;
			snprintf(variable, sizeof(variable), "%s%s=%s", prefixes[p],
				 cases[i].suffix, cases[i].value);
			char *const env[] = { variable, NULL };
			load_yaml(&result, MINIMAL, env);
			if (!result.ok)
				fail_msg("%s:\n%s", variable, result.report);
			const char *field =
				*(char **) ((char *) result.config + cases[i].offset);
			if (field == NULL || strcmp(field, cases[i].value) != 0)
				fail_msg("%s: field holds \"%s\"", variable,
					 field ? field : "(null)");
			release(&result);
		}
	}
}

static void test_environment_hosts_forms(void **state)
{
	(void) state;
	static const char *const variables[] = {
		"PATRONI_ZOOKEEPER_HOSTS='h1:2181','h2:2181'",
		"PATRONI_ZOOKEEPER_HOSTS=h1:2181,h2:2181",
		"PATRONI_ZOOKEEPER_HOSTS=[h1:2181, h2:2181]",
		"PGHERD_ZOOKEEPER_HOSTS='h1:2181', 'h2:2181'",
		"PGHERD_ZOOKEEPER_HOSTS= h1:2181 , h2:2181 ",
		"PGHERD_ZOOKEEPER_HOSTS=[\"h1:2181\", \"h2:2181\"]",
		"PGHERD_ZOOKEEPER_HOSTS=- h1:2181\n- h2:2181",
	};

	for (size_t i = 0; i < ARRAY_LENGTH(variables); i++) {
		struct load_result result;
		char *const env[] = { (char *) variables[i], "PGHERD_SCOPE=s", "PGHERD_NAME=n",
				      NULL };
		load_path(&result, NULL, env);
		if (!result.ok)
			fail_msg("%s:\n%s", variables[i], result.report);
		assert_int_equal(result.config->zookeeper.n_hosts, 2);
		assert_string_equal(result.config->zookeeper.connect_string, "h1:2181,h2:2181");
		release(&result);
	}
}

static void test_environment_beats_file_for_hosts_and_logging(void **state)
{
	(void) state;
	struct load_result result;
	char *const env[] = { "PATRONI_ZOOKEEPER_HOSTS=p1:1", "PGHERD_ZOOKEEPER_HOSTS=g1:1,g2:2",
			      "PATRONI_LOG_TYPE=json", "PATRONI_LOG_LEVEL=debug",
			      "PGHERD_LOG_LEVEL=error", NULL };

	load_yaml(&result, MINIMAL "log: {format: plain, level: info}\n", env);
	assert_true(result.ok);
	assert_string_equal(result.config->zookeeper.connect_string, "g1:1,g2:2");
	assert_int_equal(result.config->log.format, LOG_FORMAT_JSON);
	assert_int_equal(result.config->log.level, LOG_LEVEL_ERROR);
	release(&result);

	char *const format_env[] = { "PGHERD_LOG_FORMAT=json", NULL };
	load_yaml(&result, MINIMAL, format_env);
	assert_int_equal(result.config->log.format, LOG_FORMAT_JSON);
	release(&result);
}

static void test_session_timeout_variable_is_pgherd_only(void **state)
{
	(void) state;
	struct load_result result;
	char *const patroni[] = { "PATRONI_ZOOKEEPER_SESSION_TIMEOUT=2", NULL };
	char *const pgherd[] = { "PGHERD_ZOOKEEPER_SESSION_TIMEOUT=4.5", NULL };

	static const char yaml[] =
	    "scope: s\nname: n\nzookeeper: {hosts: 'z:1', session_timeout: 3}\n";

	load_yaml(&result, yaml, patroni);
	assert_true(result.ok);
	assert_int_equal(config_session_timeout_ms(result.config), 3000);
	release(&result);
	load_yaml(&result, yaml, pgherd);
	assert_true(result.ok);
	assert_int_equal(config_session_timeout_ms(result.config), 4500);
	release(&result);
}

static void test_bad_environment_values_name_the_variable(void **state)
{
	(void) state;
	static const struct {
		const char *variable;
		const char *expected;
	} cases[] = {
		{ "PGHERD_LOG_LEVEL=LOUD",
		  "PGHERD_LOG_LEVEL: error: log.level: expected one of DEBUG, INFO, WARNING, "
		  "ERROR, CRITICAL, got \"LOUD\"" },
		{ "PATRONI_LOG_TYPE=xml",
		  "PATRONI_LOG_TYPE: error: log.type: expected plain or json, got \"xml\"" },
		{ "PATRONI_ZOOKEEPER_HOSTS=zk1", "PATRONI_ZOOKEEPER_HOSTS: error: zookeeper.hosts: "
						 "expected host:port, got \"zk1\"" },
		{ "PGHERD_ZOOKEEPER_HOSTS=[zk1:2181",
		  "PGHERD_ZOOKEEPER_HOSTS: error: zookeeper.hosts: expected host:port entries "
		  "separated by commas or a YAML list: did not find expected" },
		{ "PGHERD_ZOOKEEPER_SESSION_TIMEOUT=0", "PGHERD_ZOOKEEPER_SESSION_TIMEOUT: error: "
							"zookeeper.session_timeout: must be "
							"greater than 0, got 0" },
		{ "PGHERD_SCOPE=a/b", "PGHERD_SCOPE: error: scope: must not contain '/'" },
		{ "PGHERD_RESTAPI_LISTEN=localhost",
		  "PGHERD_RESTAPI_LISTEN: error: restapi.listen: expected host:port, got "
		  "\"localhost\"" },
		{ "PGHERD_NAME=\xff", "PGHERD_NAME: error: name: is not valid UTF-8" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		char *const env[] = { (char *) cases[i].variable, NULL };
		load_yaml(&result, MINIMAL, env);
		assert_false(result.ok);
		expect_diagnostic(&result, cases[i].expected, cases[i].variable);
		release(&result);
	}
}

static void test_environment_alone_configures_or_names_what_is_missing(void **state)
{
	(void) state;
	struct load_result result;
	char *const complete[] = { "PGHERD_SCOPE=s", "PGHERD_NAME=n",
				   "PATRONI_ZOOKEEPER_HOSTS='z:2181'", NULL };
	char *const no_name[] = { "PGHERD_SCOPE=s", "PATRONI_ZOOKEEPER_HOSTS='z:2181'", NULL };

	load_path(&result, NULL, complete);
	assert_true(result.ok);
	assert_int_equal(result.diags.count, 0);
	assert_string_equal(result.config->scope, "s");
	release(&result);

	load_path(&result, NULL, no_name);
	assert_false(result.ok);
	expect_diagnostic(&result,
			  "environment: error: name: required key is missing; set it in the file "
			  "or with PGHERD_NAME (or PATRONI_NAME)",
			  "env only");
	assert_int_equal(count_severity(&result, CONFIG_ERROR), 1);
	release(&result);

	load_path(&result, NULL, NULL);
	assert_false(result.ok);
	assert_int_equal(count_severity(&result, CONFIG_ERROR), 3);
	release(&result);
}

/* ---- hostile input ---------------------------------------------------------- */

static void test_garbage_never_crashes(void **state)
{
	(void) state;
	static const struct {
		const char *text;
		size_t length; /* 0: strlen */
	} cases[] = {
		{ "\t", 0 },
		{ "a:\n\tb: 1\n", 0 },
		{ "[[[[[[[[[[", 0 },
		{ "{{{{{", 0 },
		{ "&a [*a]", 0 },
		{ MINIMAL "tags: &a [*a]\n", 0 },
		{ MINIMAL "tags: {x: &a [*a]}\n", 0 },
		{ MINIMAL "postgresql: {parameters: {a: &a [*a, *a]}}\n", 0 },
		{ MINIMAL "tags: &t {a: *t}\n", 0 },
		{ "&r {scope: s, name: n, restapi: *r}", 0 },
		{ "bootstrap: &b {dcs: *b}\n", 0 },
		{ MINIMAL "tags: {? [a] : b}\n", 0 },
		{ MINIMAL "tags: {\"a\\0b\": 1}\n", 0 },
		{ "\xff\xfe\x00s\x00", 5 },
		{ "\xef\xbb\xbf", 0 },
		{ "\xef\xbb\xbf" MINIMAL, 0 },
		{ "- - - -", 0 },
		{ ": :", 0 },
		{ "? ? ?", 0 },
		{ "!!binary x", 0 },
		{ "%YAML 1.1\n---\nscope: s\n", 0 },
		{ "%TAG ! tag:x,2000:\n--- !a\nb: c\n", 0 },
		{ "%YAML 9.9\n---\n", 0 },
		{ "---\n...\n---\n...\n", 0 },
		{ "\0\0\0", 3 },
		{ "scope: !!int s\nname: !custom {a: 1}\n", 0 },
		{ MINIMAL "bootstrap:\n  dcs:\n    ttl: !!float 3.0\n", 0 },
		{ "scope: 1e400\nname: -0\nzookeeper: {hosts: '0:0'}\n", 0 },
		{ "zookeeper: {hosts: [[[]]]}\n", 0 },
		{ "zookeeper: {hosts: [~, '', ' ', ',']}\n", 0 },
		{ "zookeeper: {hosts: ',,,,'}\n", 0 },
		{ "log: {level: [], format: {}, type: ~}\n", 0 },
		{ "tags: ~\npostgresql: ~\nbootstrap: {dcs: ~}\n", 0 },
		{ "\"\\uD800\": 1\n", 0 },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct load_result result;
		size_t length = cases[i].length ? cases[i].length : strlen(cases[i].text);
		load_text(&result, cases[i].text, length, NULL);
		release(&result);
	}
}

static void test_alias_bombs_and_self_references_are_errors(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "self-containing list", MINIMAL "tags: {x: &a [*a]}\n",
		  "test.yml:5: error: tags: is nested too deeply (more than 32 levels, or an alias "
		  "that contains itself)" },
		{ "billion laughs", MINIMAL "postgresql:\n  parameters:\n"
					    "    a: &a [x, x, x, x, x, x, x, x, x, x]\n    b: &b "
					    "[*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n    c: &c "
					    "[*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n    d: &d "
					    "[*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n    e: &e "
					    "[*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n    f: &f "
					    "[*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n    g: &g "
					    "[*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
		  "error: postgresql.parameters: holds too many values (more than 100000, counting "
		  "every use of a YAML alias)" },
		{ "non-string map key", MINIMAL "tags: {? [a] : b}\n",
		  "test.yml:5: error: tags: map keys must be strings without NUL characters" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));
}

static void test_deep_nesting_and_huge_keys_never_crash(void **state)
{
	(void) state;
	size_t depth = 100000;
	char *text = malloc(depth * 2 + 64);
	struct load_result result;

	/* Deeply nested flow lists under a map key. */
	memcpy(text, "tags: {x: ", 10);
	memset(text + 10, '[', depth);
	memset(text + 10 + depth, ']', depth);
	memcpy(text + 10 + 2 * depth, "}\n", 3);
	load_yaml(&result, text, NULL);
	assert_false(result.ok);
	expect_diagnostic(&result,
			  "test.yml:1: error: nested more than 64 levels deep after key tags.x",
			  "deep tags");
	release(&result);

	/* A 100 kB key (explicit: libyaml caps implicit keys at 1024 bytes) is
	 * quoted shortened in its warning. */
	memcpy(text, "? ", 2);
	memset(text + 2, 'k', depth);
	memcpy(text + 2 + depth, "\n: 1\n", 6);
	load_yaml(&result, text, NULL);
	expect_diagnostic(&result, "test.yml:1: warning: kkkkkkkkkk", "huge key");
	for (size_t i = 0; i < result.diags.count; i++)
		assert_true(strlen(result.diags.items[i].key) < 200);
	release(&result);
	free(text);
}

/* Every prefix of a full configuration (files cut off mid-write) and random
 * YAML-ish bytes: must load or fail cleanly, under ASan. */
static void test_truncated_and_random_inputs_never_crash(void **state)
{
	(void) state;
	static const char alphabet[] = "ab:- \n\t[]{},'\"&*!|>?#%@`\\0123456789.~";
	char *path = fixture_path("data/config", "patroni-example.yml");
	FILE *file = fopen(path, "rb");
	char text[4096];
	size_t length;

	assert_non_null(file);
	length = fread(text, 1, sizeof(text), file);
	fclose(file);
	free(path);
	for (size_t cut = 0; cut <= length; cut++) {
		struct load_result result;
		load_text(&result, text, cut, NULL);
		release(&result);
	}

	uint32_t seed = 12345;
	for (int round = 0; round < 3000; round++) {
		char random_text[64];
		size_t random_length = (size_t) (round % 63);
		for (size_t i = 0; i < random_length; i++) {
			seed = seed * 1103515245u + 12345u;
			random_text[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		struct load_result result;
		load_text(&result, random_text, random_length, NULL);
		release(&result);
	}
}

/* ---- formatting, table, docs -------------------------------------------------- */

static void test_diagnostic_format(void **state)
{
	(void) state;
	static const struct {
		struct config_diagnostic diagnostic;
		const char *expected;
	} cases[] = {
		{ { CONFIG_ERROR, "a.yml", 7, "bootstrap.dcs.ttl",
		    "expected an integer, got \"x\"" },
		  "a.yml:7: error: bootstrap.dcs.ttl: expected an integer, got \"x\"" },
		{ { CONFIG_WARNING, "a.yml", 3, "restapi.certfile",
		    "not supported by pgherd yet; ignored" },
		  "a.yml:3: warning: restapi.certfile: not supported by pgherd yet; ignored" },
		{ { CONFIG_ERROR, "PGHERD_LOG_LEVEL", 0, "log.level", "bad" },
		  "PGHERD_LOG_LEVEL: error: log.level: bad" },
		{ { CONFIG_ERROR, "a.yml", 1, "", "the file is empty" },
		  "a.yml:1: error: the file is empty" },
		{ { CONFIG_WARNING, "a.yml", 0, "", "x" }, "a.yml: warning: x" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		char *formatted = config_diagnostic_format(&cases[i].diagnostic);
		assert_string_equal(formatted, cases[i].expected);
		free(formatted);
	}
}

static void test_diagnostics_are_appended_across_loads(void **state)
{
	(void) state;
	struct config_diagnostics diags = { 0 };
	struct pgherd_config *config = NULL;

	assert_false(config_load_string("x", 1, "one.yml", NULL, &config, &diags));
	size_t after_first = diags.count;
	assert_false(config_load_string("y", 1, "two.yml", NULL, &config, &diags));
	assert_null(config);
	assert_true(diags.count > after_first);
	assert_string_equal(diags.items[0].file, "one.yml");
	assert_string_equal(diags.items[after_first].file, "two.yml");
	config_diagnostics_clear(&diags);
	assert_int_equal(diags.count, 0);
	assert_null(diags.items);
	config_free(NULL);
}

static bool field_owns_memory(const struct config_key *row)
{
	if (row->kind != CONFIG_KEY_SUPPORTED || (row->flags & CONFIG_KEY_TAG))
		return false;
	return row->type == CONFIG_TYPE_STRING || row->type == CONFIG_TYPE_NAME ||
	       row->type == CONFIG_TYPE_ADDRESS || row->type == CONFIG_TYPE_ADDRESS_LIST ||
	       row->type == CONFIG_TYPE_STRING_LIST || row->type == CONFIG_TYPE_OBJECT;
}

static void check_row_pair(const struct config_key *a, const struct config_key *b)
{
	if (strcmp(a->path, b->path) == 0)
		fail_msg("two rows for %s", a->path);
	if (field_owns_memory(a) && field_owns_memory(b) && a->offset == b->offset)
		fail_msg("%s and %s own the same field: config_free would free it twice", a->path,
			 b->path);
	if (a->environment && b->environment && strcmp(a->environment, b->environment) == 0)
		fail_msg("%s and %s share a variable", a->path, b->path);
}

static void check_row(const struct config_key *row)
{
	if (row->kind == CONFIG_KEY_PATRONI_UNSUPPORTED) {
		if (row->environment || row->default_value || row->flags)
			fail_msg("unsupported %s must not have a variable, default or flags",
				 row->path);
		return;
	}
	if (row->description == NULL)
		fail_msg("%s has no description for the docs", row->path);
	if ((row->flags & CONFIG_KEY_REQUIRED) && row->environment == NULL)
		fail_msg("required %s needs a variable: its error message names one", row->path);
	if ((row->flags & CONFIG_KEY_TAG) && strncmp(row->path, "tags.", 5) != 0)
		fail_msg("tag row %s is not under tags", row->path);
	if ((row->type == CONFIG_TYPE_ADDRESS_LIST || row->type == CONFIG_TYPE_STRING_LIST) &&
	    row->count_offset == 0)
		fail_msg("list %s has no count field", row->path);
	if (row->type != CONFIG_TYPE_OBJECT && config_key_is_section(row->path))
		fail_msg("%s is both a value and a section", row->path);
	if (row->type == CONFIG_TYPE_INT && (row->minimum < INT_MIN || row->maximum > INT_MAX))
		fail_msg("%s: the range does not fit an int", row->path);
	if ((row->type == CONFIG_TYPE_INT || row->type == CONFIG_TYPE_INT64 ||
	     row->type == CONFIG_TYPE_SECONDS) &&
	    row->maximum <= row->minimum)
		fail_msg("%s: the range is empty", row->path);
}

static void test_key_table_is_consistent(void **state)
{
	(void) state;
	for (size_t i = 0; i < config_key_count; i++) {
		check_row(&config_keys[i]);
		for (size_t j = i + 1; j < config_key_count; j++)
			check_row_pair(&config_keys[i], &config_keys[j]);
		assert_ptr_equal(config_key_find(config_keys[i].path), &config_keys[i]);
	}
	assert_null(config_key_find("no.such.key"));
	assert_true(config_key_is_section("bootstrap.dcs"));
	assert_false(config_key_is_section("bootstrap.dcs.ttl"));
}

static char *describe_to_string(void)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	config_describe_markdown(out);
	fclose(out);
	return text;
}

static void test_markdown_lists_every_key_and_variable(void **state)
{
	(void) state;
	char *markdown = describe_to_string();

	assert_non_null(strstr(markdown, "| Key | Type | Default | Environment | Description |"));
	assert_non_null(strstr(markdown, "defaults < file < environment"));
	assert_non_null(strstr(markdown, "| `bootstrap.dcs.ttl` | integer 2..86400 | `30` |"));
	assert_non_null(strstr(markdown, "| `scope` | string without `/` | **required** | "
					 "`PGHERD_SCOPE`, `PATRONI_SCOPE` |"));
	for (size_t i = 0; i < config_key_count; i++) {
		char needle[160];
		const struct config_key *row = &config_keys[i];
		if (row->kind == CONFIG_KEY_SUPPORTED)
			snprintf(needle, sizeof(needle), "| `%s` |", row->path);
		else
			snprintf(needle, sizeof(needle), " `%s`", row->path);
		if (strstr(markdown, needle) == NULL)
			fail_msg("the docs miss %s", needle);
		if (row->environment != NULL) {
			snprintf(needle, sizeof(needle), "`PGHERD_%s`", row->environment);
			assert_non_null(strstr(markdown, needle));
		}
	}
	free(markdown);
}

static void test_committed_docs_match_the_table(void **state)
{
	(void) state;
	char *path = fixture_path("../docs", "configuration.md");
	FILE *file = fopen(path, "rb");
	char *markdown = describe_to_string();

	if (file == NULL)
		fail_msg("cannot open %s", path);
	char *committed = calloc(1, strlen(markdown) + 2);
	size_t length = fread(committed, 1, strlen(markdown) + 1, file);
	fclose(file);
	if (length != strlen(markdown) || memcmp(committed, markdown, length) != 0)
		fail_msg("docs/configuration.md is stale: regenerate it with "
			 "`pgherd --describe-config > docs/configuration.md`");
	free(committed);
	free(markdown);
	free(path);
}

/* ---- kubernetes_labels ---------------------------------------------------- */

#define K8S(text) MINIMAL "kubernetes_labels:\n" text

static void test_kubernetes_labels_defaults(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result, MINIMAL, NULL);
	assert_true(result.ok);
	assert_int_equal(result.diags.count, 0);
	assert_false(result.config->kubernetes_labels.enabled);
	assert_string_equal(result.config->kubernetes_labels.role_label, "role");
	assert_string_equal(result.config->kubernetes_labels.primary_value, "primary");
	assert_string_equal(result.config->kubernetes_labels.replica_value, "replica");
	assert_null(result.config->kubernetes_labels.pod_name);
	assert_null(result.config->kubernetes_labels.namespace);
	assert_string_equal(result.config->kubernetes_labels.service_account_dir,
			    "/var/run/secrets/kubernetes.io/serviceaccount");
	assert_true(kubernetes_labels_check_config(result.config, FILE_NAME, &result.diags));
	assert_int_equal(result.diags.count, 0);
	release(&result);
}

static void test_kubernetes_labels_from_file_and_environment(void **state)
{
	(void) state;
	struct load_result result;
	static const char yaml[] = K8S("  enabled: yes\n"
				       "  role_label: example.com/role\n"
				       "  primary_value: leader\n"
				       "  replica_value: follower\n"
				       "  pod_name: db-0\n"
				       "  namespace: prod\n"
				       "  service_account_dir: /sa\n");

	load_yaml(&result, yaml, NULL);
	assert_true(result.ok);
	assert_int_equal(result.diags.count, 0); /* no unknown-key warnings either */
	assert_true(result.config->kubernetes_labels.enabled);
	assert_string_equal(result.config->kubernetes_labels.role_label, "example.com/role");
	assert_string_equal(result.config->kubernetes_labels.primary_value, "leader");
	assert_string_equal(result.config->kubernetes_labels.replica_value, "follower");
	assert_string_equal(result.config->kubernetes_labels.pod_name, "db-0");
	assert_string_equal(result.config->kubernetes_labels.namespace, "prod");
	assert_string_equal(result.config->kubernetes_labels.service_account_dir, "/sa");
	assert_true(kubernetes_labels_check_config(result.config, FILE_NAME, &result.diags));
	release(&result);

	char *const env[] = { "PGHERD_KUBERNETES_LABELS_ENABLED=false",
			      "PGHERD_KUBERNETES_LABELS_ROLE_LABEL=pg-role",
			      "PGHERD_KUBERNETES_LABELS_PRIMARY_VALUE=rw",
			      "PGHERD_KUBERNETES_LABELS_REPLICA_VALUE=ro",
			      "PGHERD_KUBERNETES_LABELS_POD_NAME=db-1",
			      "PGHERD_KUBERNETES_LABELS_NAMESPACE=staging",
			      "PGHERD_KUBERNETES_LABELS_SERVICE_ACCOUNT_DIR=/other",
			      NULL };
	load_yaml(&result, yaml, env);
	assert_true(result.ok);
	assert_false(result.config->kubernetes_labels.enabled);
	assert_string_equal(result.config->kubernetes_labels.role_label, "pg-role");
	assert_string_equal(result.config->kubernetes_labels.primary_value, "rw");
	assert_string_equal(result.config->kubernetes_labels.replica_value, "ro");
	assert_string_equal(result.config->kubernetes_labels.pod_name, "db-1");
	assert_string_equal(result.config->kubernetes_labels.namespace, "staging");
	assert_string_equal(result.config->kubernetes_labels.service_account_dir, "/other");
	release(&result);

	/* pgherd's own section: Patroni has no such variables. */
	char *const patroni[] = { "PATRONI_KUBERNETES_LABELS_ENABLED=true",
				  "PATRONI_KUBERNETES_LABELS_ROLE_LABEL=x", NULL };
	load_yaml(&result, MINIMAL, patroni);
	assert_true(result.ok);
	assert_false(result.config->kubernetes_labels.enabled);
	assert_string_equal(result.config->kubernetes_labels.role_label, "role");
	release(&result);
}

static void test_kubernetes_labels_bad_types_name_the_key(void **state)
{
	(void) state;
	static const struct error_case cases[] = {
		{ "word for enabled", K8S("  enabled: maybe\n"),
		  "test.yml:6: error: kubernetes_labels.enabled: expected a boolean" },
		{ "empty label", K8S("  role_label: ''\n"),
		  "test.yml:6: error: kubernetes_labels.role_label: must not be empty" },
		{ "list for a value", K8S("  primary_value: [a]\n"),
		  "test.yml:6: error: kubernetes_labels.primary_value: expected" },
	};
	run_error_cases(cases, ARRAY_LENGTH(cases));

	struct load_result result;
	char *const env[] = { "PGHERD_KUBERNETES_LABELS_ENABLED=sometimes", NULL };
	load_yaml(&result, MINIMAL, env);
	assert_false(result.ok);
	expect_diagnostic(&result,
			  "PGHERD_KUBERNETES_LABELS_ENABLED: error: kubernetes_labels.enabled: "
			  "expected a boolean",
			  "bad variable");
	release(&result);
}

/* Loads, then checks the section; expected: one formatted error, or NULL. */
static void check_kubernetes_labels(const char *yaml, const char *expected)
{
	struct load_result result;

	load_yaml(&result, yaml, NULL);
	if (!result.ok)
		fail_msg("does not load:\n%s", result.report);
	size_t before = result.diags.count;
	bool valid = kubernetes_labels_check_config(result.config, FILE_NAME, &result.diags);
	if (expected == NULL) {
		if (!valid || result.diags.count != before) {
			char *line = config_diagnostic_format(&result.diags.items[before]);
			fail_msg("%s: unexpected error: %s", yaml, line);
		}
	} else {
		if (valid || result.diags.count != before + 1)
			fail_msg("%s: expected one error, got %zu", yaml,
				 result.diags.count - before);
		char *line = config_diagnostic_format(&result.diags.items[before]);
		if (strcmp(line, expected) != 0)
			fail_msg("expected\n  %s\ngot\n  %s", expected, line);
		free(line);
		assert_int_equal(result.diags.items[before].severity, CONFIG_ERROR);
	}
	release(&result);
}

static void test_kubernetes_label_syntax_is_checked(void **state)
{
	(void) state;
	static const char *const valid[] = {
		K8S("  role_label: role\n"),
		K8S("  role_label: app.kubernetes.io/role\n"),
		K8S("  role_label: Role_1.x\n"),
		K8S("  primary_value: Primary-1\n  replica_value: r.0_b\n"),
		K8S("  role_label: \"" N_10 N_10 N_10 N_10 N_10 N_10 "abc\"\n"), /* 63 */
		K8S("  pod_name: pg-0.shard-1\n  namespace: prod-2\n"),
	};
	static const struct {
		const char *yaml;
		const char *expected;
	} invalid[] = {
		{ K8S("  role_label: -role\n"),
		  "test.yml: error: kubernetes_labels.role_label: \"-role\" is not a Kubernetes "
		  "label key: it must begin and end with a letter or a digit" },
		{ K8S("  role_label: \"pg role\"\n"),
		  "test.yml: error: kubernetes_labels.role_label: \"pg role\" is not a Kubernetes "
		  "label key: only letters, digits, '-', '_' and '.' are allowed" },
		{ K8S("  role_label: a/b/c\n"),
		  "test.yml: error: kubernetes_labels.role_label: \"a/b/c\" is not a Kubernetes "
		  "label key: at most one '/' may separate a prefix from the name" },
		{ K8S("  role_label: Example.com/role\n"),
		  "test.yml: error: kubernetes_labels.role_label: \"Example.com/role\" is not a "
		  "Kubernetes label key: the prefix before '/' must be a DNS subdomain (lower-case "
		  "letters, digits, '-' and '.')" },
		{ K8S("  role_label: example.com/\n"),
		  "test.yml: error: kubernetes_labels.role_label: \"example.com/\" is not a "
		  "Kubernetes label key: it is empty" },
		{ K8S("  role_label: \"" N_10 N_10 N_10 N_10 N_10 N_10 "abcd\"\n"),
		  "test.yml: error: kubernetes_labels.role_label: \"" N_10 N_10 N_10 N_10 N_10 N_10
		  "abcd\" is not a Kubernetes label key: it is longer than 63 characters" },
		{ K8S("  primary_value: \"prim!ary\"\n"),
		  "test.yml: error: kubernetes_labels.primary_value: \"prim!ary\" is not a "
		  "Kubernetes label value: only letters, digits, '-', '_' and '.' are allowed" },
		{ K8S("  replica_value: replica.\n"),
		  "test.yml: error: kubernetes_labels.replica_value: \"replica.\" is not a "
		  "Kubernetes label value: it must begin and end with a letter or a digit" },
		{ K8S("  primary_value: pg\n  replica_value: pg\n"),
		  "test.yml: error: kubernetes_labels.replica_value: \"pg\" is also "
		  "kubernetes_labels.primary_value: the Services could not tell the primary from "
		  "the replicas" },
		{ K8S("  pod_name: Pg_0\n"),
		  "test.yml: error: kubernetes_labels.pod_name: \"Pg_0\" is not a pod name: only "
		  "lower-case letters, digits, '-' and '.' are allowed" },
		{ K8S("  pod_name: pg..0\n"),
		  "test.yml: error: kubernetes_labels.pod_name: \"pg..0\" is not a pod name: it "
		  "has an empty part between dots" },
		{ K8S("  namespace: my.ns\n"),
		  "test.yml: error: kubernetes_labels.namespace: \"my.ns\" is not a Kubernetes "
		  "namespace: only lower-case letters, digits and '-' are allowed" },
		{ K8S("  namespace: ../../x\n"),
		  "test.yml: error: kubernetes_labels.namespace: \"../../x\" is not a Kubernetes "
		  "namespace: it must begin and end with a lower-case letter or a digit" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(valid); i++)
		check_kubernetes_labels(valid[i], NULL);
	for (size_t i = 0; i < ARRAY_LENGTH(invalid); i++)
		check_kubernetes_labels(invalid[i].yaml, invalid[i].expected);

	/* Every problem is listed; NULL file name reads "configuration". */
	struct load_result result;
	load_yaml(&result, K8S("  role_label: '-'\n  primary_value: '?'\n  namespace: A\n"), NULL);
	assert_true(result.ok);
	assert_false(kubernetes_labels_check_config(result.config, NULL, &result.diags));
	assert_int_equal(result.diags.count, 3);
	assert_string_equal(result.diags.items[0].file, "configuration");
	assert_string_equal(result.diags.items[0].key, "kubernetes_labels.role_label");
	assert_string_equal(result.diags.items[1].key, "kubernetes_labels.primary_value");
	assert_string_equal(result.diags.items[2].key, "kubernetes_labels.namespace");
	assert_true(config_diagnostics_have_errors(&result.diags));
	release(&result);
}

static void test_patroni_kubernetes_section_stays_unsupported(void **state)
{
	(void) state;
	struct load_result result;

	load_yaml(&result,
		  MINIMAL "kubernetes:\n  namespace: default\n  labels: {app: pg}\n"
			  "kubernetes_labels:\n  enabled: true\n",
		  NULL);
	assert_true(result.ok);
	assert_int_equal(result.diags.count, 1);
	expect_diagnostic(&result,
			  "test.yml:5: warning: kubernetes: not supported by pgherd yet; ignored",
			  "Patroni's kubernetes section");
	assert_true(result.config->kubernetes_labels.enabled);
	release(&result);

	load_yaml(&result, K8S("  lables: {}\n"), NULL);
	assert_true(result.ok);
	expect_diagnostic(&result, "test.yml:6: warning: kubernetes_labels.lables: unknown key",
			  "misspelt key");
	release(&result);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patroni_example_validates_with_warnings_only),
		cmocka_unit_test(test_deploy_example_validates_without_any_diagnostic),
		cmocka_unit_test(test_each_bad_fixture_gives_exactly_its_error),
		cmocka_unit_test(test_unreadable_file_is_an_error_naming_it),
		cmocka_unit_test(test_wrong_types_and_ranges_are_errors),
		cmocka_unit_test(test_empty_strings_are_errors),
		cmocka_unit_test(test_bad_host_entries_are_errors),
		cmocka_unit_test(test_missing_required_keys_are_errors_on_line_1),
		cmocka_unit_test(test_document_shape_errors),
		cmocka_unit_test(test_malformed_yaml_names_line_and_last_key),
		cmocka_unit_test(test_all_errors_are_collected_in_line_order),
		cmocka_unit_test(test_too_many_problems_are_counted_not_listed),
		cmocka_unit_test(test_unsupported_and_unknown_keys_are_warnings),
		cmocka_unit_test(test_custom_methods_and_their_sections),
		cmocka_unit_test(test_duplicate_key_keeps_the_last_value),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_quoted_numbers_and_booleans_are_accepted),
		cmocka_unit_test(test_hosts_forms_in_the_file),
		cmocka_unit_test(test_maps_keep_yaml_types),
		cmocka_unit_test(test_local_use_pg_rewind_overrides_bootstrap_in_any_order),
		cmocka_unit_test(test_bootstrap_dcs_dynamic_keys),
		cmocka_unit_test(test_dynamic_configuration_json),
		cmocka_unit_test(test_log_format_and_type),
		cmocka_unit_test(test_log_levels_are_case_insensitive),
		cmocka_unit_test(test_watchdog_modes_in_patroni_spellings),
		cmocka_unit_test(test_namespace_is_normalised),
		cmocka_unit_test(test_session_timeout_computation),
		cmocka_unit_test(test_environment_precedence),
		cmocka_unit_test(test_every_string_variable_reaches_its_field),
		cmocka_unit_test(test_environment_hosts_forms),
		cmocka_unit_test(test_environment_beats_file_for_hosts_and_logging),
		cmocka_unit_test(test_session_timeout_variable_is_pgherd_only),
		cmocka_unit_test(test_bad_environment_values_name_the_variable),
		cmocka_unit_test(test_environment_alone_configures_or_names_what_is_missing),
		cmocka_unit_test(test_garbage_never_crashes),
		cmocka_unit_test(test_alias_bombs_and_self_references_are_errors),
		cmocka_unit_test(test_deep_nesting_and_huge_keys_never_crash),
		cmocka_unit_test(test_truncated_and_random_inputs_never_crash),
		cmocka_unit_test(test_diagnostic_format),
		cmocka_unit_test(test_diagnostics_are_appended_across_loads),
		cmocka_unit_test(test_key_table_is_consistent),
		cmocka_unit_test(test_markdown_lists_every_key_and_variable),
		cmocka_unit_test(test_committed_docs_match_the_table),
		cmocka_unit_test(test_kubernetes_labels_defaults),
		cmocka_unit_test(test_kubernetes_labels_from_file_and_environment),
		cmocka_unit_test(test_kubernetes_labels_bad_types_name_the_key),
		cmocka_unit_test(test_kubernetes_label_syntax_is_checked),
		cmocka_unit_test(test_patroni_kubernetes_section_stays_unsupported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
