/*
 * The files pgherd writes for PostgreSQL: what ends up in postgresql.conf,
 * pg_hba.conf and standby.signal, and what is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "pg/conf.h"

static char directory[64];

static int make_directory(void **state)
{
	(void) state;
	snprintf(directory, sizeof(directory), "/tmp/pgherd-conf-XXXXXX");
	return mkdtemp(directory) ? 0 : -1;
}

static int remove_directory(void **state)
{
	(void) state;
	char path[128];
	const char *files[] = { "postgresql.conf", "pg_hba.conf", "standby.signal" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", directory, files[i]);
		unlink(path);
	}
	return rmdir(directory);
}

static char *read_file(const char *name)
{
	char path[128];
	static char content[16384];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", directory, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	n = fread(content, 1, sizeof(content) - 1, f);
	content[n] = '\0';
	fclose(f);
	return content;
}

static struct pg_conf_settings base_settings(json_t *cluster, json_t *local)
{
	return (struct pg_conf_settings){
		.data_dir = directory,
		.listen_addresses = "127.0.0.1",
		.port = 5433,
		.socket_dir = "/run/pg sock",
		.cluster_name = "batman",
		.cluster_parameters = cluster,
		.local_parameters = local,
		.superuser = "postgres",
		.replication_user = "replicator",
	};
}

static void test_required_settings_win_and_local_beats_cluster(void **state)
{
	(void) state;
	char err[PG_CONF_ERR_MAX];
	json_t *cluster = json_pack("{s:s, s:i, s:b, s:s}", "wal_level", "minimal", "max_connections",
				    100, "hot_standby", 0, "work_mem", "4MB");
	json_t *local = json_pack("{s:i, s:s, s:i}", "max_connections", 200, "port", "9999",
				  "shared_buffers", 1024);
	struct pg_conf_settings s = base_settings(cluster, local);

	assert_true(pg_conf_write_postgresql(&s, err, sizeof(err)));
	const char *conf = read_file("postgresql.conf");
	assert_non_null(conf);
	/* HA needs these whatever the user asked for. */
	assert_non_null(strstr(conf, "\nwal_level = replica\n"));
	assert_null(strstr(conf, "minimal"));
	assert_non_null(strstr(conf, "\nhot_standby = on\n"));
	assert_non_null(strstr(conf, "\nwal_log_hints = on\n"));
	/* The member's own value wins over the cluster's. */
	assert_non_null(strstr(conf, "\nmax_connections = 200\n"));
	assert_null(strstr(conf, "max_connections = 100"));
	assert_non_null(strstr(conf, "\nwork_mem = '4MB'\n"));
	assert_non_null(strstr(conf, "\nshared_buffers = 1024\n"));
	/* The port comes from postgresql.listen, never from parameters. */
	assert_non_null(strstr(conf, "\nport = 5433\n"));
	assert_null(strstr(conf, "9999"));
	assert_non_null(strstr(conf, "\nunix_socket_directories = '/run/pg sock'\n"));
	assert_non_null(strstr(conf, "\ncluster_name = 'batman'\n"));
	assert_null(strstr(conf, "primary_conninfo"));

	struct stat st;
	char path[128];
	snprintf(path, sizeof(path), "%s/postgresql.conf", directory);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	json_decref(cluster);
	json_decref(local);
}

static void test_standby_settings_are_quoted(void **state)
{
	(void) state;
	char err[PG_CONF_ERR_MAX];
	struct pg_conf_settings s = base_settings(NULL, NULL);
	s.primary_conninfo = "host=127.0.0.1 port=5432 user=replicator application_name='node 2'";
	s.primary_slot_name = "node2";

	assert_true(pg_conf_write_postgresql(&s, err, sizeof(err)));
	const char *conf = read_file("postgresql.conf");
	assert_non_null(strstr(conf, "\nprimary_conninfo = 'host=127.0.0.1 port=5432 user=replicator "
				     "application_name=''node 2'''\n"));
	assert_non_null(strstr(conf, "\nprimary_slot_name = 'node2'\n"));
	assert_non_null(strstr(conf, "\nrecovery_target_timeline = 'latest'\n"));
}

static void test_values_postgresql_cannot_read_are_refused(void **state)
{
	(void) state;
	static const char *const bad[] = {
		"{\"work_mem\": {\"a\": 1}}",
		"{\"work_mem\": [1, 2]}",
		"{\"work_mem\": \"4MB\\nshared_buffers = 1\"}",
		"{\"bad name\": 1}",
		"{\"x = 1\\ny\": 1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[PG_CONF_ERR_MAX] = "";
		json_error_t error;
		json_t *local = json_loads(bad[i], 0, &error);
		assert_non_null(local);
		struct pg_conf_settings s = base_settings(NULL, local);
		if (pg_conf_write_postgresql(&s, err, sizeof(err)))
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(err, "parameter"));
		json_decref(local);
	}
}

static void test_value_formatting(void **state)
{
	(void) state;
	static const struct {
		const char *json;
		const char *expected;
	} cases[] = {
		{ "true", "on" },	   { "false", "off" },	      { "42", "42" },
		{ "-1", "-1" },		   { "\"4MB\"", "'4MB'" },    { "\"it's\"", "'it''s'" },
		{ "\"\"", "''" },	   { "0.5", "0.5" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[64];
		json_t *value = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(value);
		assert_true(pg_conf_format_value(value, buf, sizeof(buf)));
		assert_string_equal(buf, cases[i].expected);
		json_decref(value);
	}
}

static void test_hba_puts_pgherd_lines_first_and_refuses_multiline(void **state)
{
	(void) state;
	char err[PG_CONF_ERR_MAX];
	const char *lines[] = { "host all all 10.0.0.0/8 scram-sha-256", "host replication replicator 10.0.0.0/8 md5" };
	struct pg_conf_settings s = base_settings(NULL, NULL);
	s.hba_lines = lines;
	s.hba_line_count = 2;

	assert_true(pg_conf_write_hba(&s, err, sizeof(err)));
	const char *hba = read_file("pg_hba.conf");
	const char *local = strstr(hba, "local all all trust\n");
	const char *user = strstr(hba, "host all all 10.0.0.0/8 scram-sha-256\n");
	assert_non_null(local);
	assert_non_null(user);
	assert_true(local < user);
	assert_non_null(strstr(hba, "host replication replicator 127.0.0.1/32 scram-sha-256\n"));

	const char *bad[] = { "host all all 0.0.0.0/0 trust\nlocal all all trust" };
	s.hba_lines = bad;
	s.hba_line_count = 1;
	assert_false(pg_conf_write_hba(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "pg_hba line 1"));
}

static void test_standby_signal(void **state)
{
	(void) state;
	char err[PG_CONF_ERR_MAX];
	char path[128];
	snprintf(path, sizeof(path), "%s/standby.signal", directory);

	assert_true(pg_conf_set_standby(directory, true, err, sizeof(err)));
	assert_int_equal(access(path, F_OK), 0);
	assert_true(pg_conf_set_standby(directory, false, err, sizeof(err)));
	assert_int_not_equal(access(path, F_OK), 0);
	/* Removing it twice is fine: a primary may have none. */
	assert_true(pg_conf_set_standby(directory, false, err, sizeof(err)));
	assert_false(pg_conf_set_standby("/nonexistent/dir", true, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/dir"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_required_settings_win_and_local_beats_cluster),
		cmocka_unit_test(test_standby_settings_are_quoted),
		cmocka_unit_test(test_values_postgresql_cannot_read_are_refused),
		cmocka_unit_test(test_value_formatting),
		cmocka_unit_test(test_hba_puts_pgherd_lines_first_and_refuses_multiline),
		cmocka_unit_test(test_standby_signal),
	};
	return cmocka_run_group_tests(tests, make_directory, remove_directory);
}
