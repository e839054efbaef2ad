/*
 * pg/tools: command lines, conninfo quoting, LSNs, pg_controldata's output,
 * version strings, passfiles and the data directory check.  No servers: the
 * pg_controldata fixtures are real output of PostgreSQL 15.20's
 * pg_controldata (LC_ALL=C), captured once from a test primary and standby.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg/tools.h"

/* --- Fixtures: real pg_controldata output ----------------------------------------- */

/* A primary after a checkpoint, running. */
static const char CONTROLDATA_PRODUCTION[] =
	"pg_control version number:            1300\n"
	"Catalog version number:               202209061\n"
	"Database system identifier:           7711550843396180445\n"
	"Database cluster state:               in production\n"
	"pg_control last modified:             Tue Nov 24 01:55:52 2026\n"
	"Latest checkpoint location:           0/176ACC0\n"
	"Latest checkpoint's REDO location:    0/176AC58\n"
	"Latest checkpoint's REDO WAL file:    000000010000000000000001\n"
	"Latest checkpoint's TimeLineID:       1\n"
	"Latest checkpoint's PrevTimeLineID:   1\n"
	"Latest checkpoint's full_page_writes: on\n"
	"Latest checkpoint's NextXID:          0:726\n"
	"Latest checkpoint's NextOID:          24576\n"
	"Latest checkpoint's NextMultiXactId:  1\n"
	"Latest checkpoint's NextMultiOffset:  0\n"
	"Latest checkpoint's oldestXID:        717\n"
	"Latest checkpoint's oldestXID's DB:   1\n"
	"Latest checkpoint's oldestActiveXID:  725\n"
	"Latest checkpoint's oldestMultiXid:   1\n"
	"Latest checkpoint's oldestMulti's DB: 1\n"
	"Latest checkpoint's oldestCommitTsXid:0\n"
	"Latest checkpoint's newestCommitTsXid:0\n"
	"Time of latest checkpoint:            Tue Nov 24 01:55:52 2026\n"
	"Fake LSN counter for unlogged rels:   0/3E8\n"
	"Minimum recovery ending location:     0/0\n"
	"Min recovery ending loc's timeline:   0\n"
	"Backup start location:                0/0\n"
	"Backup end location:                  0/0\n"
	"End-of-backup record required:        no\n"
	"wal_level setting:                    replica\n"
	"wal_log_hints setting:                off\n"
	"max_connections setting:              100\n"
	"max_worker_processes setting:         8\n"
	"max_wal_senders setting:              10\n"
	"max_prepared_xacts setting:           0\n"
	"max_locks_per_xact setting:           64\n"
	"track_commit_timestamp setting:       off\n"
	"Maximum data alignment:               8\n"
	"Database block size:                  8192\n"
	"Blocks per segment of large relation: 131072\n"
	"WAL block size:                       8192\n"
	"Bytes per WAL segment:                16777216\n"
	"Maximum length of identifiers:        64\n"
	"Maximum columns in an index:          32\n"
	"Maximum size of a TOAST chunk:        1996\n"
	"Size of a large-object chunk:         2048\n"
	"Date/time type storage:               64-bit integers\n"
	"Float8 argument passing:              by value\n"
	"Data page checksum version:           1\n"
	"Mock authentication nonce:            6932b89fb15c7d28ee6e165af4e2a47050ccfb2942498f1832a8de110ab1529d\n"
	;

/* A streaming standby, running. */
static const char CONTROLDATA_ARCHIVE_RECOVERY[] =
	"pg_control version number:            1300\n"
	"Catalog version number:               202209061\n"
	"Database system identifier:           7711550843396180445\n"
	"Database cluster state:               in archive recovery\n"
	"pg_control last modified:             Tue Nov 24 01:55:54 2026\n"
	"Latest checkpoint location:           0/3002160\n"
	"Latest checkpoint's REDO location:    0/3002128\n"
	"Latest checkpoint's REDO WAL file:    000000010000000000000003\n"
	"Latest checkpoint's TimeLineID:       1\n"
	"Latest checkpoint's PrevTimeLineID:   1\n"
	"Latest checkpoint's full_page_writes: on\n"
	"Latest checkpoint's NextXID:          0:727\n"
	"Latest checkpoint's NextOID:          24576\n"
	"Latest checkpoint's NextMultiXactId:  1\n"
	"Latest checkpoint's NextMultiOffset:  0\n"
	"Latest checkpoint's oldestXID:        717\n"
	"Latest checkpoint's oldestXID's DB:   1\n"
	"Latest checkpoint's oldestActiveXID:  726\n"
	"Latest checkpoint's oldestMultiXid:   1\n"
	"Latest checkpoint's oldestMulti's DB: 1\n"
	"Latest checkpoint's oldestCommitTsXid:0\n"
	"Latest checkpoint's newestCommitTsXid:0\n"
	"Time of latest checkpoint:            Tue Nov 24 01:55:53 2026\n"
	"Fake LSN counter for unlogged rels:   0/3E8\n"
	"Minimum recovery ending location:     0/3002200\n"
	"Min recovery ending loc's timeline:   1\n"
	"Backup start location:                0/0\n"
	"Backup end location:                  0/0\n"
	"End-of-backup record required:        no\n"
	"wal_level setting:                    replica\n"
	"wal_log_hints setting:                off\n"
	"max_connections setting:              100\n"
	"max_worker_processes setting:         8\n"
	"max_wal_senders setting:              10\n"
	"max_prepared_xacts setting:           0\n"
	"max_locks_per_xact setting:           64\n"
	"track_commit_timestamp setting:       off\n"
	"Maximum data alignment:               8\n"
	"Database block size:                  8192\n"
	"Blocks per segment of large relation: 131072\n"
	"WAL block size:                       8192\n"
	"Bytes per WAL segment:                16777216\n"
	"Maximum length of identifiers:        64\n"
	"Maximum columns in an index:          32\n"
	"Maximum size of a TOAST chunk:        1996\n"
	"Size of a large-object chunk:         2048\n"
	"Date/time type storage:               64-bit integers\n"
	"Float8 argument passing:              by value\n"
	"Data page checksum version:           1\n"
	"Mock authentication nonce:            6932b89fb15c7d28ee6e165af4e2a47050ccfb2942498f1832a8de110ab1529d\n"
	;

/* Right after initdb. */
static const char CONTROLDATA_SHUTDOWN[] =
	"pg_control version number:            1300\n"
	"Catalog version number:               202209061\n"
	"Database system identifier:           7711550843396180445\n"
	"Database cluster state:               shut down\n"
	"pg_control last modified:             Tue Nov 24 01:55:46 2026\n"
	"Latest checkpoint location:           0/1752D18\n"
	"Latest checkpoint's REDO location:    0/1752D18\n"
	"Latest checkpoint's REDO WAL file:    000000010000000000000001\n"
	"Latest checkpoint's TimeLineID:       1\n"
	"Latest checkpoint's PrevTimeLineID:   1\n"
	"Latest checkpoint's full_page_writes: on\n"
	"Latest checkpoint's NextXID:          0:725\n"
	"Latest checkpoint's NextOID:          13573\n"
	"Latest checkpoint's NextMultiXactId:  1\n"
	"Latest checkpoint's NextMultiOffset:  0\n"
	"Latest checkpoint's oldestXID:        717\n"
	"Latest checkpoint's oldestXID's DB:   1\n"
	"Latest checkpoint's oldestActiveXID:  0\n"
	"Latest checkpoint's oldestMultiXid:   1\n"
	"Latest checkpoint's oldestMulti's DB: 1\n"
	"Latest checkpoint's oldestCommitTsXid:0\n"
	"Latest checkpoint's newestCommitTsXid:0\n"
	"Time of latest checkpoint:            Tue Nov 24 01:55:46 2026\n"
	"Fake LSN counter for unlogged rels:   0/3E8\n"
	"Minimum recovery ending location:     0/0\n"
	"Min recovery ending loc's timeline:   0\n"
	"Backup start location:                0/0\n"
	"Backup end location:                  0/0\n"
	"End-of-backup record required:        no\n"
	"wal_level setting:                    replica\n"
	"wal_log_hints setting:                off\n"
	"max_connections setting:              100\n"
	"max_worker_processes setting:         8\n"
	"max_wal_senders setting:              10\n"
	"max_prepared_xacts setting:           0\n"
	"max_locks_per_xact setting:           64\n"
	"track_commit_timestamp setting:       off\n"
	"Maximum data alignment:               8\n"
	"Database block size:                  8192\n"
	"Blocks per segment of large relation: 131072\n"
	"WAL block size:                       8192\n"
	"Bytes per WAL segment:                16777216\n"
	"Maximum length of identifiers:        64\n"
	"Maximum columns in an index:          32\n"
	"Maximum size of a TOAST chunk:        1996\n"
	"Size of a large-object chunk:         2048\n"
	"Date/time type storage:               64-bit integers\n"
	"Float8 argument passing:              by value\n"
	"Data page checksum version:           1\n"
	"Mock authentication nonce:            6932b89fb15c7d28ee6e165af4e2a47050ccfb2942498f1832a8de110ab1529d\n"
	;

/* The standby after pg_ctl stop -m fast. */
static const char CONTROLDATA_SHUTDOWN_RECOVERY[] =
	"pg_control version number:            1300\n"
	"Catalog version number:               202209061\n"
	"Database system identifier:           7711550843396180445\n"
	"Database cluster state:               shut down in recovery\n"
	"pg_control last modified:             Tue Nov 24 01:55:54 2026\n"
	"Latest checkpoint location:           0/3002160\n"
	"Latest checkpoint's REDO location:    0/3002128\n"
	"Latest checkpoint's REDO WAL file:    000000010000000000000003\n"
	"Latest checkpoint's TimeLineID:       1\n"
	"Latest checkpoint's PrevTimeLineID:   1\n"
	"Latest checkpoint's full_page_writes: on\n"
	"Latest checkpoint's NextXID:          0:727\n"
	"Latest checkpoint's NextOID:          24576\n"
	"Latest checkpoint's NextMultiXactId:  1\n"
	"Latest checkpoint's NextMultiOffset:  0\n"
	"Latest checkpoint's oldestXID:        717\n"
	"Latest checkpoint's oldestXID's DB:   1\n"
	"Latest checkpoint's oldestActiveXID:  726\n"
	"Latest checkpoint's oldestMultiXid:   1\n"
	"Latest checkpoint's oldestMulti's DB: 1\n"
	"Latest checkpoint's oldestCommitTsXid:0\n"
	"Latest checkpoint's newestCommitTsXid:0\n"
	"Time of latest checkpoint:            Tue Nov 24 01:55:53 2026\n"
	"Fake LSN counter for unlogged rels:   0/3E8\n"
	"Minimum recovery ending location:     0/3002200\n"
	"Min recovery ending loc's timeline:   1\n"
	"Backup start location:                0/0\n"
	"Backup end location:                  0/0\n"
	"End-of-backup record required:        no\n"
	"wal_level setting:                    replica\n"
	"wal_log_hints setting:                off\n"
	"max_connections setting:              100\n"
	"max_worker_processes setting:         8\n"
	"max_wal_senders setting:              10\n"
	"max_prepared_xacts setting:           0\n"
	"max_locks_per_xact setting:           64\n"
	"track_commit_timestamp setting:       off\n"
	"Maximum data alignment:               8\n"
	"Database block size:                  8192\n"
	"Blocks per segment of large relation: 131072\n"
	"WAL block size:                       8192\n"
	"Bytes per WAL segment:                16777216\n"
	"Maximum length of identifiers:        64\n"
	"Maximum columns in an index:          32\n"
	"Maximum size of a TOAST chunk:        1996\n"
	"Size of a large-object chunk:         2048\n"
	"Date/time type storage:               64-bit integers\n"
	"Float8 argument passing:              by value\n"
	"Data page checksum version:           1\n"
	"Mock authentication nonce:            6932b89fb15c7d28ee6e165af4e2a47050ccfb2942498f1832a8de110ab1529d\n"
	;

/* --- Command lines ------------------------------------------------------------- */

#define BIN "/usr/lib/postgresql/15/bin"

static void assert_argv(char **argv, const char *const *expected)
{
	size_t i;

	assert_non_null(argv);
	for (i = 0; expected[i]; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], expected[i]);
	}
	assert_null(argv[i]);
	pg_argv_free(argv);
}

static const struct pg_settings base_settings = {
	.bin_dir = BIN,
	.data_dir = "/var/lib/pgherd/data",
	.port = 5433,
	.socket_dir = "/run/pgherd",
	.listen_addresses = "127.0.0.1,10.0.0.5",
};

static void test_initdb_argv(void **state)
{
	(void) state;
	struct pg_initdb_options o = { .pwfile = "/run/pgherd/pw" };

	assert_argv(pg_initdb_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/initdb", "-D", "/var/lib/pgherd/data", "--data-checksums",
					   "-U", "postgres", "--pwfile=/run/pgherd/pw",
					   "--auth-local=trust", "--auth-host=scram-sha-256", "-E",
					   "UTF8", "--locale=C", NULL });

	o = (struct pg_initdb_options){ .superuser = "admin", .pwfile = "/pw", .auth_local = "peer",
					.auth_host = "md5" };
	assert_argv(pg_initdb_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/initdb", "-D", "/var/lib/pgherd/data", "--data-checksums",
					   "-U", "admin", "--pwfile=/pw", "--auth-local=peer",
					   "--auth-host=md5", "-E", "UTF8", "--locale=C", NULL });

	/* No password file is fine only without a password method. */
	o = (struct pg_initdb_options){ .auth_host = "trust" };
	assert_argv(pg_initdb_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/initdb", "-D", "/var/lib/pgherd/data", "--data-checksums",
					   "-U", "postgres", "--auth-local=trust", "--auth-host=trust",
					   "-E", "UTF8", "--locale=C", NULL });
	assert_null(pg_initdb_argv(&base_settings, NULL));
	o = (struct pg_initdb_options){ .auth_host = "trust", .auth_local = "scram-sha-256" };
	assert_null(pg_initdb_argv(&base_settings, &o));
}

static void test_postmaster_argv(void **state)
{
	(void) state;
	const struct pg_parameter parameters[] = {
		{ "cluster_name", "batman" },
		{ "shared_buffers", "256MB" },
		{ "my.custom_setting", "two words" },
	};
	struct pg_settings s = base_settings;

	s.parameters = parameters;
	s.parameter_count = 3;
	assert_argv(pg_postmaster_argv(&s),
		    (const char *const[]){ BIN "/postgres", "-D", "/var/lib/pgherd/data", "-p", "5433",
					   "-k", "/run/pgherd", "-c",
					   "listen_addresses=127.0.0.1,10.0.0.5", "-c",
					   "cluster_name=batman", "-c", "shared_buffers=256MB", "-c",
					   "my.custom_setting=two words", NULL });

	/* Only what is set; an empty listen_addresses means no TCP at all. */
	s = (struct pg_settings){ .bin_dir = BIN, .data_dir = "/d", .listen_addresses = "" };
	assert_argv(pg_postmaster_argv(&s),
		    (const char *const[]){ BIN "/postgres", "-D", "/d", "-c", "listen_addresses=", NULL });

	const struct pg_parameter bad_name[] = { { "port = 1", "2" } };
	const struct pg_parameter no_value[] = { { "port", NULL } };
	s = base_settings;
	s.parameters = bad_name;
	s.parameter_count = 1;
	assert_null(pg_postmaster_argv(&s));
	s.parameters = no_value;
	assert_null(pg_postmaster_argv(&s));
}

static void test_pg_ctl_argv(void **state)
{
	(void) state;
	assert_argv(pg_ctl_stop_argv(&base_settings, PG_STOP_FAST, 60),
		    (const char *const[]){ BIN "/pg_ctl", "stop", "-D", "/var/lib/pgherd/data", "-m",
					   "fast", "-w", "-t", "60", NULL });
	assert_argv(pg_ctl_stop_argv(&base_settings, PG_STOP_IMMEDIATE, 5),
		    (const char *const[]){ BIN "/pg_ctl", "stop", "-D", "/var/lib/pgherd/data", "-m",
					   "immediate", "-w", "-t", "5", NULL });
	assert_argv(pg_ctl_stop_argv(&base_settings, PG_STOP_SMART, 1),
		    (const char *const[]){ BIN "/pg_ctl", "stop", "-D", "/var/lib/pgherd/data", "-m",
					   "smart", "-w", "-t", "1", NULL });
	assert_argv(pg_ctl_promote_argv(&base_settings, 30),
		    (const char *const[]){ BIN "/pg_ctl", "promote", "-D", "/var/lib/pgherd/data", "-w",
					   "-t", "30", NULL });
	assert_null(pg_ctl_stop_argv(&base_settings, PG_STOP_FAST, 0));
	assert_null(pg_ctl_stop_argv(&base_settings, (enum pg_stop_mode) 7, 10));
	assert_null(pg_ctl_promote_argv(&base_settings, -1));
	assert_string_equal(pg_stop_mode_name(PG_STOP_SMART), "smart");
	assert_string_equal(pg_stop_mode_name(PG_STOP_FAST), "fast");
	assert_string_equal(pg_stop_mode_name(PG_STOP_IMMEDIATE), "immediate");
}

static void test_basebackup_argv(void **state)
{
	(void) state;
	struct pg_basebackup_options o = {
		.source_conninfo = "host=10.0.0.1 port=5432 user=replicator dbname=postgres",
		.slot = "node_2",
	};

	assert_argv(pg_basebackup_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/pg_basebackup", "-D", "/var/lib/pgherd/data", "-X",
					   "stream", "-c", "fast", "-d",
					   "host=10.0.0.1 port=5432 user=replicator dbname=postgres",
					   "--slot=node_2", "-w", "-v", NULL });
	o.slot = NULL;
	assert_argv(pg_basebackup_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/pg_basebackup", "-D", "/var/lib/pgherd/data", "-X",
					   "stream", "-c", "fast", "-d",
					   "host=10.0.0.1 port=5432 user=replicator dbname=postgres",
					   "-w", "-v", NULL });

	/* Never a password on the command line, in either conninfo form. */
	o.source_conninfo = "host=h user=u password=secret";
	assert_null(pg_basebackup_argv(&base_settings, &o));
	o.source_conninfo = "postgresql://u:secret@h:5432/postgres";
	assert_null(pg_basebackup_argv(&base_settings, &o));
	o.source_conninfo = "host='unterminated";
	assert_null(pg_basebackup_argv(&base_settings, &o));
	o.source_conninfo = NULL;
	assert_null(pg_basebackup_argv(&base_settings, &o));
	o.source_conninfo = "host=h";
	o.slot = "Node-2";	/* slots are lower case, digits and '_' */
	assert_null(pg_basebackup_argv(&base_settings, &o));
	o.slot = "a234567890123456789012345678901234567890123456789012345678901234";	/* 64 */
	assert_null(pg_basebackup_argv(&base_settings, &o));
}

static void test_rewind_argv(void **state)
{
	(void) state;
	struct pg_rewind_options o = { .source_conninfo = "host=/run/pg port=5432 user=rewinder" };

	assert_argv(pg_rewind_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/pg_rewind", "--target-pgdata=/var/lib/pgherd/data",
					   "--source-server=host=/run/pg port=5432 user=rewinder",
					   "--progress", NULL });
	o.restore_target_wal = true;
	assert_argv(pg_rewind_argv(&base_settings, &o),
		    (const char *const[]){ BIN "/pg_rewind", "--target-pgdata=/var/lib/pgherd/data",
					   "--source-server=host=/run/pg port=5432 user=rewinder",
					   "--progress", "--restore-target-wal", NULL });
	o.source_conninfo = "host=h password=x";
	assert_null(pg_rewind_argv(&base_settings, &o));
	assert_null(pg_rewind_argv(&base_settings, NULL));
}

static void test_small_argv_and_missing_settings(void **state)
{
	(void) state;
	struct pg_settings no_data = { .bin_dir = BIN };
	struct pg_settings no_bin = { .data_dir = "/d" };
	struct pg_initdb_options o = { .pwfile = "/pw" };

	assert_argv(pg_controldata_argv(&base_settings),
		    (const char *const[]){ BIN "/pg_controldata", "-D", "/var/lib/pgherd/data", NULL });
	assert_argv(pg_version_argv(&no_data),
		    (const char *const[]){ BIN "/postgres", "--version", NULL });

	assert_null(pg_controldata_argv(&no_data));
	assert_null(pg_controldata_argv(&no_bin));
	assert_null(pg_controldata_argv(NULL));
	assert_null(pg_postmaster_argv(&no_data));
	assert_null(pg_initdb_argv(&no_data, &o));
	assert_null(pg_ctl_stop_argv(&no_data, PG_STOP_FAST, 10));
	assert_null(pg_ctl_promote_argv(&no_data, 10));
	assert_null(pg_version_argv(&no_bin));
	pg_argv_free(NULL);
}

/* --- Conninfo --------------------------------------------------------------------- */

/* Every row must also read back through libpq's own parser. */
static void assert_libpq_reads(const char *conninfo, const char *key, const char *value)
{
	char *error = NULL;
	PQconninfoOption *options = PQconninfoParse(conninfo, &error);
	bool found = false;

	if (!options)
		fail_msg("libpq cannot parse [%s]: %s", conninfo, error ? error : "?");
	for (PQconninfoOption *o = options; o->keyword; o++)
		if (strcmp(o->keyword, key) == 0) {
			assert_non_null(o->val);
			assert_string_equal(o->val, value);
			found = true;
		}
	assert_true(found);
	PQconninfoFree(options);
}

static void test_conninfo_quoting(void **state)
{
	(void) state;
	static const struct {
		const char *key;
		const char *value;
		const char *expected;
	} rows[] = {
		{ "host", "/run/postgresql", "host=/run/postgresql" },
		{ "port", "5432", "port=5432" },
		{ "dbname", "my db", "dbname='my db'" },
		{ "user", "", "user=''" },
		{ "user", "o'neil", "user='o\\'neil'" },
		{ "application_name", "back\\slash", "application_name='back\\\\slash'" },
		{ "application_name", "a=b", "application_name=a=b" },
		{ "application_name", "tab\there", "application_name='tab\there'" },
		{ "options", "-c search_path='x y'", "options='-c search_path=\\'x y\\''" },
		{ "sslmode", "verify-full", "sslmode=verify-full" },
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct pg_conninfo_param p = { rows[i].key, rows[i].value };
		assert_true(pg_conninfo_build_params(buf, sizeof(buf), &p, 1));
		assert_string_equal(buf, rows[i].expected);
		assert_libpq_reads(buf, rows[i].key, rows[i].value);
	}
}

static void test_conninfo_build(void **state)
{
	(void) state;
	char buf[128];
	char tiny[16];

	assert_true(pg_conninfo_build(buf, sizeof(buf), "host", "/run/pg", "port", "5432", "user",
				      "replicator", "dbname", NULL, "application_name", "node 1",
				      (const char *) NULL));
	assert_string_equal(buf, "host=/run/pg port=5432 user=replicator application_name='node 1'");
	assert_true(pg_conninfo_is_safe(buf));

	assert_true(pg_conninfo_build(buf, sizeof(buf), (const char *) NULL));
	assert_string_equal(buf, "");

	/* Never a password; bad keys and overflows leave nothing usable. */
	assert_false(pg_conninfo_build(buf, sizeof(buf), "host", "h", "password", "x",
				       (const char *) NULL));
	assert_string_equal(buf, "");
	assert_false(pg_conninfo_build(buf, sizeof(buf), "Host", "h", (const char *) NULL));
	assert_string_equal(buf, "");
	assert_false(pg_conninfo_build(buf, sizeof(buf), "ho st", "h", (const char *) NULL));
	assert_false(pg_conninfo_build(buf, sizeof(buf), "", "h", (const char *) NULL));
	assert_false(pg_conninfo_build(tiny, sizeof(tiny), "host", "/a/long/socket/dir",
				       (const char *) NULL));
	assert_string_equal(tiny, "");
	/* Exactly full: 15 characters and the NUL. */
	assert_true(pg_conninfo_build(tiny, sizeof(tiny), "host", "/012345678", (const char *) NULL));
	assert_string_equal(tiny, "host=/012345678");
	assert_false(pg_conninfo_build(buf, 0, "host", "h", (const char *) NULL));

	assert_false(pg_conninfo_is_safe("host=h password=''"));
	assert_false(pg_conninfo_is_safe("postgres://u:p@h/db"));
	assert_true(pg_conninfo_is_safe("postgres://u@h/db"));
	assert_false(pg_conninfo_is_safe("nonsense"));
	assert_false(pg_conninfo_is_safe(""));
	assert_false(pg_conninfo_is_safe(NULL));
}

/* --- LSN ------------------------------------------------------------------------- */

static void test_lsn_parse_and_format(void **state)
{
	(void) state;
	static const struct {
		const char *text;
		uint64_t lsn;
		const char *printed;	/* as PostgreSQL prints it */
	} rows[] = {
		{ "0/0", 0, "0/0" },
		{ "0/3000028", 0x3000028, "0/3000028" },
		{ "0/176ACC0", 0x176ACC0, "0/176ACC0" },
		{ "0/176acc0", 0x176ACC0, "0/176ACC0" },
		{ "1/0", 1ULL << 32, "1/0" },
		{ "00000001/00000002", (1ULL << 32) | 2, "1/2" },
		{ "FFFFFFFF/FFFFFFFF", UINT64_MAX, "FFFFFFFF/FFFFFFFF" },
		{ "A/DEADBEEF", 0xADEADBEEFULL, "A/DEADBEEF" },
	};
	char buf[PG_LSN_BUFSIZE];
	uint64_t lsn;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_true(pg_lsn_parse(rows[i].text, &lsn));
		assert_int_equal(lsn, rows[i].lsn);
		assert_string_equal(pg_lsn_format(lsn, buf), rows[i].printed);
	}
	/* Round trips over a spread of values. */
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < 1000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = i % 3 == 0 ? x >> (i % 64) : x;
		assert_true(pg_lsn_parse(pg_lsn_format(v, buf), &lsn));
		assert_int_equal(lsn, v);
	}
}

static void test_lsn_garbage(void **state)
{
	(void) state;
	static const char *const garbage[] = {
		"", "/", "0/", "/0", "0", "0/0 ", " 0/0", "0 /0", "123456789/0", "0/123456789",
		"0x1/0", "g/0", "0/g", "0/0/0", "-1/0", "+1/0", "0//0", "0/0\n", "\xff/0",
	};
	uint64_t lsn = 42;

	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		if (pg_lsn_parse(garbage[i], &lsn))
			fail_msg("accepted [%s]", garbage[i]);
		assert_int_equal(lsn, 42);
	}
	assert_false(pg_lsn_parse(NULL, &lsn));
}

/* --- pg_controldata ----------------------------------------------------------------- */

static void test_controldata_primary(void **state)
{
	(void) state;
	struct pg_controldata cd;
	char err[128] = "";

	assert_true(pg_controldata_parse(CONTROLDATA_PRODUCTION, &cd, err, sizeof(err)));
	assert_int_equal(cd.system_identifier, 7711550843396180445ULL);
	assert_int_equal(cd.state, PG_CLUSTER_IN_PRODUCTION);
	assert_int_equal(cd.checkpoint_timeline, 1);
	assert_int_equal(cd.checkpoint_lsn, 0x176ACC0);
	assert_int_equal(cd.checkpoint_redo_lsn, 0x176AC58);
	assert_int_equal(cd.min_recovery_end_lsn, 0);
	assert_int_equal(cd.min_recovery_end_timeline, 0);
	assert_int_equal(cd.data_checksum_version, 1);
	assert_false(cd.wal_log_hints);
	assert_string_equal(pg_cluster_state_name(cd.state), "in production");
}

static void test_controldata_standby(void **state)
{
	(void) state;
	struct pg_controldata cd;
	char err[128] = "";

	assert_true(pg_controldata_parse(CONTROLDATA_ARCHIVE_RECOVERY, &cd, err, sizeof(err)));
	assert_int_equal(cd.system_identifier, 7711550843396180445ULL);
	assert_int_equal(cd.state, PG_CLUSTER_IN_ARCHIVE_RECOVERY);
	assert_int_equal(cd.checkpoint_timeline, 1);
	assert_int_equal(cd.checkpoint_lsn, 0x3002160);
	assert_int_equal(cd.checkpoint_redo_lsn, 0x3002128);
	assert_int_equal(cd.min_recovery_end_lsn, 0x3002200);
	assert_int_equal(cd.min_recovery_end_timeline, 1);
	assert_int_equal(cd.data_checksum_version, 1);

	assert_true(pg_controldata_parse(CONTROLDATA_SHUTDOWN_RECOVERY, &cd, err, sizeof(err)));
	assert_int_equal(cd.state, PG_CLUSTER_SHUT_DOWN_IN_RECOVERY);
	assert_int_equal(cd.min_recovery_end_lsn, 0x3002200);
	assert_string_equal(pg_cluster_state_name(cd.state), "shut down in recovery");
}

static void test_controldata_shut_down(void **state)
{
	(void) state;
	struct pg_controldata cd;
	char err[128] = "";

	assert_true(pg_controldata_parse(CONTROLDATA_SHUTDOWN, &cd, err, sizeof(err)));
	assert_int_equal(cd.state, PG_CLUSTER_SHUT_DOWN);
	assert_int_equal(cd.checkpoint_lsn, 0x1752D18);
	assert_int_equal(cd.checkpoint_redo_lsn, 0x1752D18);
}

/* The fixture with one line's value replaced (the whole line if value is
 * NULL: it is then removed). */
static char *with_line(const char *fixture, const char *label, const char *value)
{
	const char *at = strstr(fixture, label);
	const char *eol;
	char *out;

	assert_non_null(at);
	eol = strchr(at, '\n');
	assert_non_null(eol);
	if (value)
		assert_true(asprintf(&out, "%.*s%s:   %s%s", (int) (at - fixture), fixture, label,
				     value, eol) > 0);
	else
		assert_true(asprintf(&out, "%.*s%s", (int) (at - fixture), fixture, eol + 1) > 0);
	return out;
}

static void assert_rejected(char *text, const char *reason_part)
{
	struct pg_controldata cd;
	char err[128] = "";

	assert_false(pg_controldata_parse(text, &cd, err, sizeof(err)));
	if (!strstr(err, reason_part))
		fail_msg("reason [%s] lacks [%s]", err, reason_part);
	free(text);
}

static void test_controldata_states(void **state)
{
	(void) state;
	static const struct {
		const char *text;
		enum pg_cluster_state state;
	} rows[] = {
		{ "starting up", PG_CLUSTER_STARTING_UP },
		{ "shut down", PG_CLUSTER_SHUT_DOWN },
		{ "shut down in recovery", PG_CLUSTER_SHUT_DOWN_IN_RECOVERY },
		{ "shutting down", PG_CLUSTER_SHUTTING_DOWN },
		{ "in crash recovery", PG_CLUSTER_IN_CRASH_RECOVERY },
		{ "in archive recovery", PG_CLUSTER_IN_ARCHIVE_RECOVERY },
		{ "in production", PG_CLUSTER_IN_PRODUCTION },
		/* What pg_controldata prints for a state it does not know. */
		{ "unrecognized status code", PG_CLUSTER_UNKNOWN },
		{ "in production, mostly", PG_CLUSTER_UNKNOWN },
	};
	struct pg_controldata cd;
	char err[128];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char *text = with_line(CONTROLDATA_PRODUCTION, "Database cluster state", rows[i].text);
		assert_true(pg_controldata_parse(text, &cd, err, sizeof(err)));
		assert_int_equal(cd.state, rows[i].state);
		if (rows[i].state != PG_CLUSTER_UNKNOWN)
			assert_string_equal(pg_cluster_state_name(cd.state), rows[i].text);
		free(text);
	}
	assert_string_equal(pg_cluster_state_name(PG_CLUSTER_UNKNOWN), "unknown");
	assert_string_equal(pg_cluster_state_name((enum pg_cluster_state) 99), "unknown");
}

static void test_controldata_values(void **state)
{
	(void) state;
	struct pg_controldata cd;
	char err[128];
	char *text;

	text = with_line(CONTROLDATA_PRODUCTION, "wal_log_hints setting", "on");
	assert_true(pg_controldata_parse(text, &cd, err, sizeof(err)));
	assert_true(cd.wal_log_hints);
	free(text);

	text = with_line(CONTROLDATA_PRODUCTION, "Data page checksum version", "0");
	assert_true(pg_controldata_parse(text, &cd, err, sizeof(err)));
	assert_int_equal(cd.data_checksum_version, 0);
	free(text);

	text = with_line(CONTROLDATA_PRODUCTION, "Database system identifier", "18446744073709551615");
	assert_true(pg_controldata_parse(text, &cd, err, sizeof(err)));
	assert_int_equal(cd.system_identifier, UINT64_MAX);
	free(text);

	text = with_line(CONTROLDATA_PRODUCTION, "Latest checkpoint's TimeLineID", "4294967295");
	assert_true(pg_controldata_parse(text, &cd, err, sizeof(err)));
	assert_int_equal(cd.checkpoint_timeline, UINT32_MAX);
	free(text);

	/* CRLF line ends (a file copied through another system). */
	char *crlf = malloc(2 * sizeof(CONTROLDATA_PRODUCTION));
	size_t n = 0;
	for (const char *c = CONTROLDATA_PRODUCTION; *c; c++) {
		if (*c == '\n')
			crlf[n++] = '\r';
		crlf[n++] = *c;
	}
	crlf[n] = '\0';
	assert_true(pg_controldata_parse(crlf, &cd, err, sizeof(err)));
	assert_int_equal(cd.checkpoint_lsn, 0x176ACC0);
	free(crlf);
}

static void test_controldata_garbage(void **state)
{
	(void) state;
	struct pg_controldata cd;
	char err[128];

	assert_rejected(strdup(""), "missing 'Database system identifier'");
	assert_rejected(strdup("no colon here\n\n\n"), "missing");
	assert_false(pg_controldata_parse(NULL, &cd, err, sizeof(err)));
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Latest checkpoint location", NULL),
			"missing 'Latest checkpoint location'");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Latest checkpoint location", "0/XYZ"),
			"bad value for 'Latest checkpoint location'");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Latest checkpoint location", ""),
			"bad value");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Database system identifier",
				  "18446744073709551616"),
			"bad value for 'Database system identifier'");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Database system identifier", "-1"),
			"bad value");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Latest checkpoint's TimeLineID",
				  "4294967296"),
			"bad value");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "wal_log_hints setting", "maybe"),
			"bad value for 'wal_log_hints setting'");
	assert_rejected(with_line(CONTROLDATA_PRODUCTION, "Data page checksum version", "1 2"),
			"bad value");

	/* A field twice: which one would be true? */
	char *twice;
	assert_true(asprintf(&twice, "%sLatest checkpoint location:   0/1\n", CONTROLDATA_PRODUCTION) > 0);
	assert_rejected(twice, "appears twice");

	/* pg_controldata's own warning: "The results below are untrustworthy." */
	char *warned;
	assert_true(asprintf(&warned,
			     "WARNING: Calculated CRC checksum does not match value stored in file.\n"
			     "Either the file is corrupt, or it has a different layout than this program\n"
			     "is expecting.  The results below are untrustworthy.\n\n%s",
			     CONTROLDATA_PRODUCTION) > 0);
	assert_rejected(warned, "CRC checksum does not match");

	/* Another locale's labels. */
	assert_rejected(strdup("Datenbanksystemidentifikation:        7711550843396180445\n"
			       "Datenbank-Cluster-Status:             in Produktion\n"),
			"missing");

	/* A huge line and a value too long to be ours. */
	char *huge = malloc(100000);
	memset(huge, 'x', 99999);
	huge[99999] = '\0';
	assert_rejected(huge, "missing");
	char *long_value;
	char *without = with_line(CONTROLDATA_PRODUCTION, "Latest checkpoint location", NULL);
	assert_true(asprintf(&long_value, "%sLatest checkpoint location:   0/%0200d\n", without, 0) > 0);
	free(without);
	assert_rejected(long_value, "bad value for 'Latest checkpoint location'");

	/* A small error buffer is still NUL-terminated; NULL is allowed. */
	char small[8];
	assert_false(pg_controldata_parse("", &cd, small, sizeof(small)));
	assert_int_equal(strlen(small), 7);
	assert_false(pg_controldata_parse("", &cd, NULL, 0));
}

/* Every prefix of real output (a pipe cut short) and deterministic noise:
 * never a crash, never an overread (ASan), never true without every field. */
static void test_controldata_truncated_and_noise(void **state)
{
	(void) state;
	size_t total = strlen(CONTROLDATA_PRODUCTION);
	const char *last = strstr(CONTROLDATA_PRODUCTION, "Data page checksum version:           1\n");
	size_t complete = (size_t) (last - CONTROLDATA_PRODUCTION) + strlen("Data page checksum version:           ") + 1;
	struct pg_controldata cd;
	char err[128];
	uint32_t x = 12345;

	for (size_t len = 0; len <= total; len++) {
		char *prefix = strndup(CONTROLDATA_PRODUCTION, len);
		bool ok = pg_controldata_parse(prefix, &cd, err, sizeof(err));
		assert_true(ok == (len >= complete));
		free(prefix);
	}
	for (int round = 0; round < 2000; round++) {
		char noise[512];
		size_t len = (size_t) (round % 511);
		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245 + 12345;
			/* Mostly the characters the parser cares about. */
			static const char alphabet[] = ":\n /0123456789ABCDEFx'\r\t";
			noise[i] = (x >> 16) % 4 ? alphabet[(x >> 8) % (sizeof(alphabet) - 1)]
						 : (char) ((x >> 8) & 0xff ? (x >> 8) & 0xff : 1);
		}
		noise[len] = '\0';
		char *copy = strdup(noise);
		(void) pg_controldata_parse(copy, &cd, err, sizeof(err));
		free(copy);
	}
}

/* --- Version ---------------------------------------------------------------------- */

static void test_version_parse(void **state)
{
	(void) state;
	static const struct {
		const char *text;
		int version;
	} rows[] = {
		{ "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)\n", 150020 },
		{ "postgres (PostgreSQL) 15.20\n", 150020 },
		{ "postgres (PostgreSQL) 15.2", 150002 },
		{ "pg_ctl (PostgreSQL) 16.1", 160001 },
		{ "postgres (PostgreSQL) 10.23", 100023 },
		{ "postgres (PostgreSQL) 9.6.24", 90624 },
		{ "postgres (PostgreSQL) 9.6.24 (Ubuntu 9.6.24-1)", 90624 },
		{ "postgres (PostgreSQL) 17devel", 170000 },
		{ "postgres (PostgreSQL) 16beta1", 160000 },
		{ "postgres (PostgreSQL) 16rc1\n", 160000 },
	};
	static const char *const garbage[] = {
		"", "postgres 15.2", "postgres (PostgreSQL) ", "postgres (PostgreSQL) x",
		"postgres (PostgreSQL) 15.", "postgres (PostgreSQL) 15.2x", "postgres (PostgreSQL) 9",
		"postgres (PostgreSQL) 9.6.", "postgres (PostgreSQL) 99999999999.1",
		"postgres (PostgreSQL) 15", "postgres (PostgreSQL) 6.5", "postgres (PostgreSQL) -15.2",
		"postgres (PostgreSQL)15.2", "postgres (PostgreSQL) 9.100.1",
	};
	int v;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		v = 0;
		if (!pg_version_parse(rows[i].text, &v))
			fail_msg("rejected [%s]", rows[i].text);
		assert_int_equal(v, rows[i].version);
	}
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		v = -7;
		if (pg_version_parse(garbage[i], &v))
			fail_msg("accepted [%s] as %d", garbage[i], v);
		assert_int_equal(v, -7);
	}
	assert_false(pg_version_parse(NULL, &v));
}

/* --- Passfile --------------------------------------------------------------------- */

static void test_passfile_lines(void **state)
{
	(void) state;
	static const struct {
		struct pg_passfile_entry entry;
		const char *line;
	} rows[] = {
		{ { "10.0.0.1", "5432", "replication", "replicator", "s3cret" },
		  "10.0.0.1:5432:replication:replicator:s3cret" },
		{ { NULL, NULL, NULL, "postgres", "pw" }, "*:*:*:postgres:pw" },
		{ { "*", "*", "*", "*", "pw" }, "*:*:*:*:pw" },
		{ { "/run/pg", "5432", "*", "u", "a:b\\c" }, "/run/pg:5432:*:u:a\\:b\\\\c" },
		{ { "fe80::1", "5432", "db:x", "us\\er", ":" },
		  "fe80\\:\\:1:5432:db\\:x:us\\\\er:\\:" },
		{ { "h", "1", "d", "u", "" }, "h:1:d:u:" },
		{ { "h", "1", "d", "u", "*" }, "h:1:d:u:*" },	/* a password is never a wildcard */
	};
	char buf[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_true(pg_passfile_format_line(&rows[i].entry, buf, sizeof(buf)));
		assert_string_equal(buf, rows[i].line);
	}
	struct pg_passfile_entry no_password = { "h", "1", "d", "u", NULL };
	struct pg_passfile_entry newline = { "h", "1", "d", "u", "pass\nword" };
	struct pg_passfile_entry cr = { "h\r", "1", "d", "u", "p" };
	assert_false(pg_passfile_format_line(&no_password, buf, sizeof(buf)));
	assert_false(pg_passfile_format_line(&newline, buf, sizeof(buf)));
	assert_false(pg_passfile_format_line(&cr, buf, sizeof(buf)));
	assert_false(pg_passfile_format_line(&rows[0].entry, buf, 10));
	assert_string_equal(buf, "");
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void) sb;
	(void) ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static char *make_temp_dir(void)
{
	char *dir = strdup("/tmp/pgherd-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void remove_temp_dir(char *dir)
{
	nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text = calloc(1, 4096);

	assert_non_null(f);
	assert_true(fread(text, 1, 4095, f) < 4095);
	fclose(f);
	return text;
}

static void test_passfile_write(void **state)
{
	(void) state;
	char *dir = make_temp_dir();
	char path[512];
	char tmp[512];
	char err[256] = "";
	struct stat st;
	const struct pg_passfile_entry entries[] = {
		{ "10.0.0.1", "5432", "replication", "replicator", "rep:pw" },
		{ NULL, NULL, NULL, "postgres", "super\\pw" },
	};
	mode_t old_umask;

	snprintf(path, sizeof(path), "%s/pgpass", dir);
	snprintf(tmp, sizeof(tmp), "%s/pgpass.tmp", dir);

	/* Whatever the umask, the file is 0600. */
	old_umask = umask(0);
	bool ok = pg_passfile_write(path, entries, 2, err, sizeof(err));
	umask(old_umask);
	assert_true(ok);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char *text = read_file(path);
	assert_string_equal(text, "10.0.0.1:5432:replication:replicator:rep\\:pw\n"
				  "*:*:*:postgres:super\\\\pw\n");
	free(text);
	assert_int_equal(access(tmp, F_OK), -1);

	/* A leftover world-readable tmp file is not reused as it is. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(write(fd, "junk\n", 5), 5);
	close(fd);
	assert_true(pg_passfile_write(path, entries + 1, 1, err, sizeof(err)));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	text = read_file(path);
	assert_string_equal(text, "*:*:*:postgres:super\\\\pw\n");
	free(text);
	assert_int_equal(access(tmp, F_OK), -1);

	/* A bad entry writes nothing: the old file stays. */
	const struct pg_passfile_entry bad[] = { { "h", "1", "d", "u", "line\nbreak" } };
	assert_false(pg_passfile_write(path, bad, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "entry 0"));
	text = read_file(path);
	assert_string_equal(text, "*:*:*:postgres:super\\\\pw\n");
	free(text);

	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/missing/pgpass", dir);
	assert_false(pg_passfile_write(path, entries, 2, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot create"));
	assert_non_null(strstr(err, "No such file or directory"));

	remove_temp_dir(dir);
}

/* --- Data directory ------------------------------------------------------------------ */

static void test_data_dir_state(void **state)
{
	(void) state;
	char *dir = make_temp_dir();
	char path[256];
	char file[512];
	char err[256] = "";

	snprintf(path, sizeof(path), "%s/data", dir);
	assert_int_equal(pg_data_dir_state(path, err, sizeof(err)), PG_DATA_DIR_MISSING);

	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(pg_data_dir_state(path, err, sizeof(err)), PG_DATA_DIR_EMPTY);

	/* lost+found of a mount point is "other": initdb refuses it too. */
	snprintf(file, sizeof(file), "%s/lost+found", path);
	assert_int_equal(mkdir(file, 0700), 0);
	assert_int_equal(pg_data_dir_state(path, err, sizeof(err)), PG_DATA_DIR_OTHER);

	snprintf(file, sizeof(file), "%s/PG_VERSION", path);
	FILE *f = fopen(file, "we");
	assert_non_null(f);
	fputs("15\n", f);
	fclose(f);
	assert_int_equal(pg_data_dir_state(path, err, sizeof(err)), PG_DATA_DIR_CLUSTER);

	/* A file where the directory should be. */
	assert_int_equal(pg_data_dir_state(file, err, sizeof(err)), PG_DATA_DIR_ERROR);
	assert_non_null(strstr(err, "not a directory"));

	/* Through a file: ENOTDIR is an error, not "missing". */
	snprintf(file, sizeof(file), "%s/data/PG_VERSION/below", dir);
	assert_int_equal(pg_data_dir_state(file, err, sizeof(err)), PG_DATA_DIR_ERROR);

	/* Permissions only bite when we are not root. */
	if (geteuid() != 0) {
		snprintf(file, sizeof(file), "%s/closed", dir);
		assert_int_equal(mkdir(file, 0700), 0);
		snprintf(path, sizeof(path), "%s/closed/data", dir);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_int_equal(chmod(file, 0), 0);
		assert_int_equal(pg_data_dir_state(path, err, sizeof(err)), PG_DATA_DIR_ERROR);
		assert_non_null(strstr(err, "Permission denied"));
		assert_int_equal(chmod(file, 0700), 0);
	}

	assert_string_equal(pg_data_dir_state_name(PG_DATA_DIR_MISSING), "missing");
	assert_string_equal(pg_data_dir_state_name(PG_DATA_DIR_EMPTY), "empty");
	assert_string_equal(pg_data_dir_state_name(PG_DATA_DIR_CLUSTER), "cluster");
	assert_string_equal(pg_data_dir_state_name(PG_DATA_DIR_OTHER), "other");
	assert_string_equal(pg_data_dir_state_name(PG_DATA_DIR_ERROR), "error");
	remove_temp_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initdb_argv),
		cmocka_unit_test(test_postmaster_argv),
		cmocka_unit_test(test_pg_ctl_argv),
		cmocka_unit_test(test_basebackup_argv),
		cmocka_unit_test(test_rewind_argv),
		cmocka_unit_test(test_small_argv_and_missing_settings),
		cmocka_unit_test(test_conninfo_quoting),
		cmocka_unit_test(test_conninfo_build),
		cmocka_unit_test(test_lsn_parse_and_format),
		cmocka_unit_test(test_lsn_garbage),
		cmocka_unit_test(test_controldata_primary),
		cmocka_unit_test(test_controldata_standby),
		cmocka_unit_test(test_controldata_shut_down),
		cmocka_unit_test(test_controldata_states),
		cmocka_unit_test(test_controldata_values),
		cmocka_unit_test(test_controldata_garbage),
		cmocka_unit_test(test_controldata_truncated_and_noise),
		cmocka_unit_test(test_version_parse),
		cmocka_unit_test(test_passfile_lines),
		cmocka_unit_test(test_passfile_write),
		cmocka_unit_test(test_data_dir_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
