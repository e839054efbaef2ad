/*
 * The command lines users type: pgherd --validate on good and bad files,
 * the agent refusing an invalid configuration, environment overrides,
 * pgherdctl's skeleton, and the README's demo command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test/harness/harness.h"
#include "test/scenario/agents.h"

/* Run a program to completion; returns its exit code and its output. */
static int run_program(char *const argv[], char *const envp[], const char *log_name, char *output,
		       size_t output_size, bool as_service_user)
{
	const char *log_path = harness_path(log_name);
	int status = -1;
	FILE *log;

	assert_non_null(log_path);
	/* Logs are appended to: start each run with an empty one. */
	unlink(log_path);
	/* harness_run() is false for a non-zero exit, which many cases here
	 * expect: the status tells. */
	(void) harness_run(log_name, argv, envp, log_path, as_service_user, 60000, &status);
	assert_int_not_equal(status, -1);
	output[0] = '\0';
	log = fopen(log_path, "r");
	if (log) {
		size_t n = fread(output, 1, output_size - 1, log);
		output[n] = '\0';
		fclose(log);
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static const struct {
	const char *file;
	int exit_code;
	const char *message;	/* what the user must read */
} validate_cases[] = {
	{ "patroni-example.yml", 0, "patroni-example.yml: configuration is valid" },
	{ "patroni-example.yml", 0, "bootstrap.initdb: not supported by pgherd yet; ignored" },
	{ "bad-type.yml", 2, "bad-type.yml:7: error: bootstrap.dcs.ttl: expected an integer, got \"thirty\"" },
	{ "bad-log-format.yml", 2, "bad-log-format.yml:5: error: log.format: expected plain or json, got \"xml\"" },
	{ "missing-scope.yml", 2, "missing-scope.yml:1: error: scope: required key is missing" },
	{ "malformed.yml", 2, "malformed.yml:4: error: malformed YAML after key restapi.listen" },
	{ "empty.yml", 2, "empty.yml:1: error: the file is empty" },
};

static void test_validate_accepts_patroni_config_and_names_line_and_key(void **state)
{
	(void) state;
	char path[1024];
	char output[8192];
	char *env[] = { "PATH=/usr/bin:/bin", NULL };

	for (size_t i = 0; i < sizeof(validate_cases) / sizeof(validate_cases[0]); i++) {
		snprintf(path, sizeof(path), "%s/test/data/config/%s", test_repo_root(),
			 validate_cases[i].file);
		char *argv[] = { (char *) test_built_program("pgherd"), "--validate", path, NULL };
		int code = run_program(argv, env, "validate.out", output, sizeof(output), false);
		if (code != validate_cases[i].exit_code || !strstr(output, validate_cases[i].message))
			fail_msg("pgherd --validate %s: exit %d, output:\n%s\nexpected exit %d and: %s",
				 validate_cases[i].file, code, output, validate_cases[i].exit_code,
				 validate_cases[i].message);
	}

	/* The example operators copy must validate without any warning. */
	snprintf(path, sizeof(path), "%s/deploy/pgherd.example.yml", test_repo_root());
	char *argv[] = { (char *) test_built_program("pgherd"), "--validate", path, NULL };
	assert_int_equal(run_program(argv, env, "validate.out", output, sizeof(output), false), 0);
	assert_null(strstr(output, "warning"));
}

static void test_environment_overrides_the_file(void **state)
{
	(void) state;
	char path[1024];
	char output[8192];

	snprintf(path, sizeof(path), "%s/test/data/config/missing-scope.yml", test_repo_root());
	char *argv[] = { (char *) test_built_program("pgherd"), "--validate", path, NULL };
	char *patroni_env[] = { "PATRONI_SCOPE=batman", NULL };
	assert_int_equal(run_program(argv, patroni_env, "env.out", output, sizeof(output), false), 0);

	char *bad_env[] = { "PGHERD_SCOPE=batman", "PGHERD_ZOOKEEPER_SESSION_TIMEOUT=soon", NULL };
	assert_int_equal(run_program(argv, bad_env, "env.out", output, sizeof(output), false), 2);
	assert_non_null(strstr(output, "PGHERD_ZOOKEEPER_SESSION_TIMEOUT"));
}

static void test_agent_refuses_to_start_with_an_invalid_configuration(void **state)
{
	(void) state;
	char path[1024];
	char output[8192];
	char *env[] = { "PATH=/usr/bin:/bin", NULL };

	snprintf(path, sizeof(path), "%s/test/data/config/bad-type.yml", test_repo_root());
	char *argv[] = { (char *) test_built_program("pgherd"), path, NULL };
	assert_int_equal(run_program(argv, env, "agent.out", output, sizeof(output), false), 2);
	assert_non_null(strstr(output, "ERROR config.error"));
	assert_non_null(strstr(output, "key=bootstrap.dcs.ttl"));
	assert_non_null(strstr(output, "line=7"));
	assert_non_null(strstr(output, "ERROR agent.exit"));

	char *usage[] = { (char *) test_built_program("pgherd"), "--no-such-option", NULL };
	assert_int_equal(run_program(usage, env, "agent.out", output, sizeof(output), false), 64);
	assert_non_null(strstr(output, "unexpected argument '--no-such-option'"));
}

static void test_pgherdctl_skeleton(void **state)
{
	(void) state;
	char output[8192];
	char *env[] = { "PATH=/usr/bin:/bin", NULL };
	char *help[] = { (char *) test_built_program("pgherdctl"), "--help", NULL };
	char *version[] = { (char *) test_built_program("pgherdctl"), "version", NULL };
	char *unknown[] = { (char *) test_built_program("pgherdctl"), "frobnicate", NULL };

	assert_int_equal(run_program(help, env, "ctl.out", output, sizeof(output), false), 0);
	assert_non_null(strstr(output, "Usage: pgherdctl"));
	assert_non_null(strstr(output, "version"));
	assert_int_equal(run_program(version, env, "ctl.out", output, sizeof(output), false), 0);
	assert_non_null(strstr(output, "pgherdctl version 0."));
	assert_int_equal(run_program(unknown, env, "ctl.out", output, sizeof(output), false), 64);
	assert_non_null(strstr(output, "unknown command 'frobnicate'"));
}

/* The README's first command ends in deploy/demo.sh: it must bring up a
 * cluster that elects exactly one leader, and clean up after itself. */
static void test_demo_elects_one_leader_and_cleans_up(void **state)
{
	(void) state;
	char script[1024];
	char build[1100];
	char output[65536];
	char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

	snprintf(script, sizeof(script), "%s/deploy/demo.sh", test_repo_root());
	snprintf(build, sizeof(build), "BUILD=%s", test_built_program(""));
	char *argv[] = { script, "--for", "6", NULL };
	char *env[] = { path_env, build, NULL };
	assert_int_equal(run_program(argv, env, "demo.out", output, sizeof(output), false), 0);
	assert_non_null(strstr(output, "demo: three agents started"));
	int leaders = 0;
	for (const char *p = output; (p = strstr(p, "INFO leader.acquired")) != NULL; p++)
		leaders++;
	if (leaders != 1)
		fail_msg("expected one leader.acquired in the demo, got %d:\n%s", leaders, output);
	assert_non_null(strstr(output, "demo: stopped"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_accepts_patroni_config_and_names_line_and_key),
		cmocka_unit_test(test_environment_overrides_the_file),
		cmocka_unit_test(test_agent_refuses_to_start_with_an_invalid_configuration),
		cmocka_unit_test(test_pgherdctl_skeleton),
		cmocka_unit_test_setup_teardown(test_demo_elects_one_leader_and_cleans_up,
						harness_test_setup, harness_test_teardown),
	};
	test_sanitizer_setup();
	int failures = cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
	return failures + test_sanitizer_reports();
}
