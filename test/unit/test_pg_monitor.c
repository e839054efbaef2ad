/*
 * pg/monitor: the parsing of the status query's answer, with no server.
 *
 * The rows are tables of named text values, as libpq hands them over; the
 * scenario test (test/scenario/test_pg_monitor.c) checks the same parser
 * against real servers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "pg/monitor.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ROWS 40
#define MAX_COLS 24

/* A fake result: column names, and per row their values (NULL = SQL NULL). */
struct table {
	int rows;
	int cols;
	const char *names[MAX_COLS];
	const char *cells[MAX_ROWS][MAX_COLS];
};

static const char *table_value(void *ctx, int row, const char *column, bool *found)
{
	struct table *t = ctx;

	for (int c = 0; c < t->cols; c++) {
		if (strcmp(t->names[c], column) == 0) {
			*found = true;
			return row >= 0 && row < t->rows ? t->cells[row][c] : NULL;
		}
	}
	*found = false;
	return NULL;
}

static void set(struct table *t, int row, const char *column, const char *value)
{
	int c;

	for (c = 0; c < t->cols; c++)
		if (strcmp(t->names[c], column) == 0)
			break;
	if (c == t->cols) {
		assert_true(t->cols < MAX_COLS);
		t->names[t->cols++] = column;
	}
	assert_true(row < MAX_ROWS);
	t->cells[row][c] = value;
	if (row >= t->rows)
		t->rows = row + 1;
}

static void drop(struct table *t, const char *column)
{
	for (int c = 0; c < t->cols; c++) {
		if (strcmp(t->names[c], column) == 0) {
			t->names[c] = "dropped";
			return;
		}
	}
	fail_msg("no column %s", column);
}

/* Every column of the query, as a primary without standbys answers. */
static void primary(struct table *t)
{
	static const char *const columns[] = {
		"in_recovery", "walfile", "flush_lsn", "receive_lsn", "replay_lsn",
		"last_replay_ms", "replay_paused", "receiver_status", "received_tli",
		"checkpoint_tli", "min_recovery_tli", "system_identifier",
		"postmaster_start_time", "standby_count", "application_name", "state",
		"sync_state", "standby_flush_lsn", "standby_replay_lsn",
	};

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < N_ELEMENTS(columns); i++)
		set(t, 0, columns[i], NULL);
	set(t, 0, "in_recovery", "f");
	set(t, 0, "walfile", "000000030000000000000005");
	set(t, 0, "flush_lsn", "83886432");
	set(t, 0, "checkpoint_tli", "2");	/* stale, as right after a promotion */
	set(t, 0, "min_recovery_tli", "0");
	set(t, 0, "system_identifier", "7711551741050232105");
	set(t, 0, "postmaster_start_time", "2026-11-24 01:59:16.237276+00:00");
}

static void replica(struct table *t)
{
	primary(t);
	set(t, 0, "in_recovery", "t");
	set(t, 0, "walfile", NULL);
	set(t, 0, "flush_lsn", NULL);
	set(t, 0, "receive_lsn", "50331808");
	set(t, 0, "replay_lsn", "50331700");
	set(t, 0, "last_replay_ms", "1795312756123");
	set(t, 0, "replay_paused", "f");
	set(t, 0, "receiver_status", "streaming");
	set(t, 0, "received_tli", "3");
	set(t, 0, "checkpoint_tli", "1");
	set(t, 0, "min_recovery_tli", "2");
}

static bool parse(struct table *t, struct pg_monitor_status *st, char *err, size_t errlen)
{
	struct pg_monitor_rows rows = { t->rows, table_value, t };

	return pg_monitor_parse_status(&rows, st, err, errlen);
}

static void test_lsn(void **state)
{
	static const struct {
		const char *text;
		bool ok;
		uint64_t value;
	} cases[] = {
		{ "0", true, 0 },
		{ "22092544", true, 22092544 },
		{ "18446744073709551615", true, UINT64_MAX },
		{ "18446744073709551616", false, 0 },	/* one past */
		{ "99999999999999999999", false, 0 },
		{ "", false, 0 },
		{ "-1", false, 0 },
		{ "+1", false, 0 },
		{ " 1", false, 0 },
		{ "1 ", false, 0 },
		{ "1.0", false, 0 },
		{ "0x10", false, 0 },
		{ "12a", false, 0 },
	};
	uint64_t v;

	(void) state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		v = 42;
		assert_int_equal(pg_monitor_parse_lsn(cases[i].text, &v), cases[i].ok);
		if (cases[i].ok)
			assert_true(v == cases[i].value);
		else
			assert_true(v == 42);	/* untouched on failure */
	}
	assert_false(pg_monitor_parse_lsn(NULL, &v));
}

static void test_walfile_timeline(void **state)
{
	uint32_t tli = 0;

	(void) state;
	assert_true(pg_monitor_parse_walfile_timeline("000000010000000000000001", &tli));
	assert_int_equal(tli, 1);
	assert_true(pg_monitor_parse_walfile_timeline("0000002A00000003000000FE", &tli));
	assert_int_equal(tli, 42);
	assert_true(pg_monitor_parse_walfile_timeline("ffffffff00000000000000aa", &tli));
	assert_true(tli == UINT32_MAX);
	tli = 7;
	assert_false(pg_monitor_parse_walfile_timeline("000000000000000000000001", &tli));	/* no timeline 0 */
	assert_false(pg_monitor_parse_walfile_timeline("00000001000000000000001", &tli));	/* 23 */
	assert_false(pg_monitor_parse_walfile_timeline("0000000100000000000000011", &tli));	/* 25 */
	assert_false(pg_monitor_parse_walfile_timeline("0000000G0000000000000001", &tli));
	assert_false(pg_monitor_parse_walfile_timeline("00000001.history", &tli));
	assert_false(pg_monitor_parse_walfile_timeline("", &tli));
	assert_false(pg_monitor_parse_walfile_timeline(NULL, &tli));
	assert_int_equal(tli, 7);
}

static void test_system_identifier(void **state)
{
	uint64_t id = 0;

	(void) state;
	assert_true(pg_monitor_parse_system_identifier("7711551741050232105", &id));
	assert_true(id == UINT64_C(7711551741050232105));
	/* bigint shows the top bit as a sign; pg_controldata does not. */
	assert_true(pg_monitor_parse_system_identifier("-1", &id));
	assert_true(id == UINT64_MAX);
	assert_true(pg_monitor_parse_system_identifier("-9223372036854775808", &id));
	assert_true(id == UINT64_C(9223372036854775808));
	assert_true(pg_monitor_parse_system_identifier("-8735192332659319511", &id));
	assert_true(id == UINT64_C(9711551741050232105));
	assert_true(pg_monitor_parse_system_identifier("9223372036854775807", &id));
	assert_true(id == UINT64_C(9223372036854775807));
	/* Out of bigint's range: not something SQL prints. */
	assert_false(pg_monitor_parse_system_identifier("9223372036854775808", &id));
	assert_false(pg_monitor_parse_system_identifier("-9223372036854775809", &id));
	assert_false(pg_monitor_parse_system_identifier("-", &id));
	assert_false(pg_monitor_parse_system_identifier("--1", &id));
	assert_false(pg_monitor_parse_system_identifier("", &id));
	assert_false(pg_monitor_parse_system_identifier("12 ", &id));
}

static void test_primary(void **state)
{
	struct table t;
	struct pg_monitor_status st;
	char err[128];

	(void) state;
	primary(&t);
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_string_equal(err, "");
	assert_false(st.in_recovery);
	/* The WAL file's timeline wins over the stale checkpoint's. */
	assert_int_equal(st.timeline, 3);
	assert_int_equal(st.timeline_source, PG_TIMELINE_WAL_INSERT);
	assert_true(st.flush_lsn == 83886432);
	assert_true(st.wal_position == 83886432);
	assert_true(st.receive_lsn == 0 && st.replay_lsn == 0);
	assert_true(st.system_identifier == UINT64_C(7711551741050232105));
	assert_string_equal(st.postmaster_start_time, "2026-11-24 01:59:16.237276+00:00");
	assert_int_equal(st.replication_state, PG_REPLICATION_NONE);
	assert_string_equal(pg_replication_state_name(st.replication_state), "");
	assert_int_equal(st.standby_count, 0);
	assert_int_equal(st.standbys_listed, 0);
	/* Left to the caller. */
	assert_false(st.reachable);
	assert_int_equal(st.server_version, 0);

	/* Without the WAL file name: the checkpoint's timeline, flagged. */
	set(&t, 0, "walfile", NULL);
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_int_equal(st.timeline, 2);
	assert_int_equal(st.timeline_source, PG_TIMELINE_CONTROL_FILE);
}

static void test_primary_with_standbys(void **state)
{
	struct table t;
	struct pg_monitor_status st;
	char err[128];

	(void) state;
	primary(&t);
	for (int i = 0; i < 2; i++) {
		/* The status columns repeat on every row. */
		for (int c = 0; c < t.cols; c++)
			t.cells[i][c] = t.cells[0][c];
		set(&t, i, "standby_count", "2");
	}
	set(&t, 0, "application_name", "node2");
	set(&t, 0, "state", "streaming");
	set(&t, 0, "sync_state", "sync");
	set(&t, 0, "standby_flush_lsn", "83886432");
	set(&t, 0, "standby_replay_lsn", "83886000");
	set(&t, 1, "application_name", "node3");
	set(&t, 1, "state", "startup");
	set(&t, 1, "sync_state", "async");
	set(&t, 1, "standby_flush_lsn", NULL);
	set(&t, 1, "standby_replay_lsn", NULL);
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_int_equal(st.standby_count, 2);
	assert_int_equal(st.standbys_listed, 2);
	assert_string_equal(st.standbys[0].application_name, "node2");
	assert_string_equal(st.standbys[0].state, "streaming");
	assert_string_equal(st.standbys[0].sync_state, "sync");
	assert_true(st.standbys[0].flush_lsn == 83886432);
	assert_true(st.standbys[0].replay_lsn == 83886000);
	assert_string_equal(st.standbys[1].application_name, "node3");
	assert_string_equal(st.standbys[1].state, "startup");
	assert_true(st.standbys[1].flush_lsn == 0 && st.standbys[1].replay_lsn == 0);

	/* Rows and count disagree: something is wrong with the query. */
	t.rows = 1;
	assert_false(parse(&t, &st, err, sizeof(err)));
	assert_string_equal(err, "1 rows for 2 standbys");
}

static void test_standbys_beyond_the_array(void **state)
{
	static char names[PG_MONITOR_MAX_STANDBYS][16];
	struct table t;
	struct pg_monitor_status st;
	char err[128];

	(void) state;
	primary(&t);
	/* The query stops at PG_MONITOR_MAX_STANDBYS rows; the count tells
	 * how many there are. */
	for (int i = 0; i < PG_MONITOR_MAX_STANDBYS; i++) {
		for (int c = 0; c < t.cols; c++)
			t.cells[i][c] = t.cells[0][c];
		snprintf(names[i], sizeof(names[i]), "node%02d", i);
		set(&t, i, "standby_count", "40");
		set(&t, i, "application_name", names[i]);
	}
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_int_equal(st.standby_count, 40);
	assert_int_equal(st.standbys_listed, PG_MONITOR_MAX_STANDBYS);
	assert_string_equal(st.standbys[PG_MONITOR_MAX_STANDBYS - 1].application_name, "node31");
}

static void test_replica(void **state)
{
	struct table t;
	struct pg_monitor_status st;
	char err[128];

	(void) state;
	replica(&t);
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_true(st.in_recovery);
	assert_int_equal(st.replication_state, PG_REPLICATION_STREAMING);
	assert_string_equal(pg_replication_state_name(st.replication_state), "streaming");
	assert_int_equal(st.timeline, 3);
	assert_int_equal(st.timeline_source, PG_TIMELINE_WAL_RECEIVER);
	assert_true(st.receive_lsn == 50331808);
	assert_true(st.replay_lsn == 50331700);
	assert_true(st.wal_position == 50331808);	/* max of the two */
	assert_true(st.flush_lsn == 0);
	assert_true(st.last_replay_unix_ms == INT64_C(1795312756123));
	assert_false(st.replay_paused);

	/* Replay ahead of receive (WAL from the archive): max again. */
	set(&t, 0, "replay_lsn", "60000000");
	set(&t, 0, "replay_paused", "t");
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_true(st.wal_position == 60000000);
	assert_true(st.replay_paused);

	/* No receiver: archive recovery, the control file's best timeline. */
	set(&t, 0, "receiver_status", NULL);
	set(&t, 0, "received_tli", NULL);
	set(&t, 0, "receive_lsn", NULL);
	set(&t, 0, "last_replay_ms", NULL);
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_int_equal(st.replication_state, PG_REPLICATION_ARCHIVE_RECOVERY);
	assert_string_equal(pg_replication_state_name(st.replication_state), "in archive recovery");
	assert_int_equal(st.timeline, 2);
	assert_int_equal(st.timeline_source, PG_TIMELINE_CONTROL_FILE);
	assert_true(st.receive_lsn == 0);
	assert_true(st.last_replay_unix_ms == 0);

	/* A receiver that is not streaming (yet) but has received. */
	set(&t, 0, "receiver_status", "waiting");
	set(&t, 0, "received_tli", "4");
	assert_true(parse(&t, &st, err, sizeof(err)));
	assert_int_equal(st.replication_state, PG_REPLICATION_ARCHIVE_RECOVERY);
	assert_int_equal(st.timeline, 4);
	assert_int_equal(st.timeline_source, PG_TIMELINE_WAL_RECEIVER);
}

/* Garbage in one cell fails the parse with a message naming the column. */
static void test_garbage(void **state)
{
	static const struct {
		bool replica;
		const char *column;
		const char *value;
		const char *err;
	} cases[] = {
		{ false, "in_recovery", "true", "bad in_recovery: true" },
		{ false, "in_recovery", NULL, "bad in_recovery: NULL" },
		{ false, "flush_lsn", "-5", "bad flush_lsn: -5" },
		{ false, "flush_lsn", NULL, "bad flush_lsn: NULL" },
		{ false, "flush_lsn", "0", "bad flush_lsn: 0" },
		{ false, "walfile", "00000001", "bad walfile: 00000001" },
		{ false, "system_identifier", "0", "bad system_identifier: 0" },
		{ false, "system_identifier", "x", "bad system_identifier: x" },
		{ false, "postmaster_start_time", NULL, "bad postmaster_start_time: NULL" },
		{ false, "postmaster_start_time", "2026-11-24 01:59:16.237276+00:00 and much more",
		  "bad postmaster_start_time: 2026-11-24 01:59:16.237276+00:00 and muc" },
		{ false, "standby_count", "0", "bad standby_count: 0" },
		{ false, "standby_count", "many", "bad standby_count: many" },
		{ true, "receive_lsn", "18446744073709551616", "bad receive_lsn: 18446744073709551616" },
		{ true, "replay_lsn", "1e3", "bad replay_lsn: 1e3" },
		{ true, "received_tli", "4294967296", "bad received_tli: 4294967296" },
		{ true, "replay_paused", "yes", "bad replay_paused: yes" },
		{ true, "last_replay_ms", "1.5", "bad last_replay_ms: 1.5" },
		{ true, "checkpoint_tli", "-1", "bad checkpoint_tli: -1" },
	};
	struct table t;
	struct pg_monitor_status st;
	char err[128];

	(void) state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		if (cases[i].replica)
			replica(&t);
		else
			primary(&t);
		set(&t, 0, cases[i].column, cases[i].value);
		assert_false(parse(&t, &st, err, sizeof(err)));
		assert_string_equal(err, cases[i].err);
	}

	/* A replica that cannot name any timeline. */
	replica(&t);
	set(&t, 0, "received_tli", NULL);
	set(&t, 0, "checkpoint_tli", NULL);
	set(&t, 0, "min_recovery_tli", "0");
	assert_false(parse(&t, &st, err, sizeof(err)));
	assert_string_equal(err, "bad timeline: 0");
}

static void test_missing_column_and_rows(void **state)
{
	struct table t;
	struct pg_monitor_status st;
	char err[128];

	(void) state;
	primary(&t);
	drop(&t, "system_identifier");
	assert_false(parse(&t, &st, err, sizeof(err)));
	assert_string_equal(err, "no column system_identifier");

	/* A replica's columns matter when a replica answers. */
	primary(&t);
	drop(&t, "receiver_status");
	assert_true(parse(&t, &st, err, sizeof(err)));
	replica(&t);
	drop(&t, "receiver_status");
	assert_false(parse(&t, &st, err, sizeof(err)));
	assert_string_equal(err, "no column receiver_status");

	primary(&t);
	t.rows = 0;
	assert_false(parse(&t, &st, err, sizeof(err)));
	assert_string_equal(err, "no rows");
}

static void test_names(void **state)
{
	(void) state;
	assert_string_equal(pg_monitor_state_name(PG_MONITOR_DISCONNECTED), "disconnected");
	assert_string_equal(pg_monitor_state_name(PG_MONITOR_CONNECTING), "connecting");
	assert_string_equal(pg_monitor_state_name(PG_MONITOR_CONNECTED), "connected");
	assert_string_equal(pg_replication_state_name(PG_REPLICATION_NONE), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lsn),
		cmocka_unit_test(test_walfile_timeline),
		cmocka_unit_test(test_system_identifier),
		cmocka_unit_test(test_primary),
		cmocka_unit_test(test_primary_with_standbys),
		cmocka_unit_test(test_standbys_beyond_the_array),
		cmocka_unit_test(test_replica),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing_column_and_rows),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
