/*
 * What `pgherdctl list`, `topology` and `history` print, from clusters
 * built out of znode contents: patronictl's table to the character, its
 * JSON, YAML and tsv, lag rounding, and znodes written by someone else
 * that do not decode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ctl/cluster_view.h"
#include "ctl/history.h"
#include "ctl/list.h"
#include "ctl/table.h"

#define MEMBER(conn, extra)                                                          \
	"{\"conn_url\":\"postgres://" conn "/postgres\",\"api_url\":\"http://127.0.0.1:8008/" \
	"patroni\",\"version\":\"3.3.1\"," extra "}"

static void add(struct cluster_view *view, const char *name, const char *json)
{
	view_add_member(view, name, json, (int) strlen(json));
}

static void set(void (*setter)(struct cluster_view *, const char *, int),
		struct cluster_view *view, const char *text)
{
	setter(view, text, (int) strlen(text));
}

static void failover(struct cluster_view *view, const char *text)
{
	view_set_failover(view, text, (int) strlen(text), 0);
}

/* patroni.md section 4's example. */
static void batman(struct cluster_view *view)
{
	view_init(view, "batman", "/service/batman");
	set(view_set_initialize, view, "7277694203142172922");
	set(view_set_leader, view, "postgresql0");
	set(view_set_status, view, "{\"optime\":67393704}");
	add(view, "postgresql1",
	    MEMBER("127.0.0.1:5433", "\"state\":\"running\",\"role\":\"replica\","
				     "\"xlog_location\":67393704,\"replication_state\":\"streaming\","
				     "\"timeline\":3"));
	add(view, "postgresql0",
	    MEMBER("127.0.0.1:5432", "\"state\":\"running\",\"role\":\"master\","
				     "\"xlog_location\":67393704,\"timeline\":3"));
	view_finish(view);
}

static void assert_render(const struct cluster_view *view, enum output_format format,
			  bool extended, const char *expected)
{
	char *text = list_render(view, format, extended);

	/* cmocka cuts long messages: the whole text goes to stderr. */
	if (strcmp(text, expected) != 0) {
		fprintf(stderr, "got:\n%s\nexpected:\n%s\n", text, expected);
		fail_msg("the output differs (see above)");
	}
	free(text);
}

static void test_patronictl_example_table(void **state)
{
	(void) state;
	struct cluster_view view;

	batman(&view);
	assert_int_equal(view.n_warnings, 0);
	assert_render(&view, OUTPUT_PRETTY, false,
		      "+ Cluster: batman (7277694203142172922) -+-----------+----+-----------+\n"
		      "| Member      | Host           | Role    | State     | TL | Lag in MB |\n"
		      "+-------------+----------------+---------+-----------+----+-----------+\n"
		      "| postgresql0 | 127.0.0.1:5432 | Leader  | running   |  3 |           |\n"
		      "| postgresql1 | 127.0.0.1:5433 | Replica | streaming |  3 |         0 |\n"
		      "+-------------+----------------+---------+-----------+----+-----------+\n");
	view_clear(&view);
}

static void test_json_yaml_tsv_have_a_cluster_column(void **state)
{
	(void) state;
	struct cluster_view view;

	batman(&view);
	/* Empty cells (the leader's lag) are left out, numbers stay numbers. */
	assert_render(&view, OUTPUT_JSON, false,
		      "[{\"Cluster\": \"batman\", \"Member\": \"postgresql0\", \"Host\": "
		      "\"127.0.0.1:5432\", \"Role\": \"Leader\", \"State\": \"running\", \"TL\": 3}, "
		      "{\"Cluster\": \"batman\", \"Member\": \"postgresql1\", \"Host\": "
		      "\"127.0.0.1:5433\", \"Role\": \"Replica\", \"State\": \"streaming\", \"TL\": "
		      "3, \"Lag in MB\": 0}]\n");
	/* PyYAML's safe_dump sorts the keys; click.echo() adds a newline. */
	assert_render(&view, OUTPUT_YAML, false,
		      "- Cluster: batman\n"
		      "  Host: 127.0.0.1:5432\n"
		      "  Member: postgresql0\n"
		      "  Role: Leader\n"
		      "  State: running\n"
		      "  TL: 3\n"
		      "- Cluster: batman\n"
		      "  Host: 127.0.0.1:5433\n"
		      "  Lag in MB: 0\n"
		      "  Member: postgresql1\n"
		      "  Role: Replica\n"
		      "  State: streaming\n"
		      "  TL: 3\n"
		      "\n");
	assert_render(&view, OUTPUT_TSV, false,
		      "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\n"
		      "batman\tpostgresql0\t127.0.0.1:5432\tLeader\trunning\t3\t\n"
		      "batman\tpostgresql1\t127.0.0.1:5433\tReplica\tstreaming\t3\t0\n");
	view_clear(&view);
}

static void test_lag_rounds_half_to_even(void **state)
{
	(void) state;
	assert_int_equal(list_lag_mb(0), 0);
	assert_int_equal(list_lag_mb(524287), 0);
	assert_int_equal(list_lag_mb(524288), 0);   /* 0.5 -> 0 */
	assert_int_equal(list_lag_mb(524289), 1);
	assert_int_equal(list_lag_mb(1048576), 1);
	assert_int_equal(list_lag_mb(1572864), 2);  /* 1.5 -> 2 */
	assert_int_equal(list_lag_mb(2621440), 2);  /* 2.5 -> 2 */
	assert_int_equal(list_lag_mb(3670016), 4);  /* 3.5 -> 4 */
	assert_int_equal(list_lag_mb(10485760LL * 1024), 10240);
}

static void test_odd_widths_ports_and_unknown_states(void **state)
{
	(void) state;
	struct cluster_view view;

	view_init(&view, "x", "/service/x");
	/* No initialize znode: "uninitialized". */
	set(view_set_leader, &view, "a");
	set(view_set_status, &view, "{\"optime\":5242880}");
	/* Every port 5432 and every host distinct: no ports shown. */
	add(&view, "a", MEMBER("10.0.0.1:5432", "\"state\":\"running\",\"role\":\"master\","
						"\"timeline\":12"));
	/* A replica 2.5 MiB behind; a state of its own. */
	add(&view, "b-rather-long-member-name",
	    MEMBER("10.0.0.2", "\"state\":\"starting\",\"role\":\"replica\","
			       "\"xlog_location\":2621440,\"timeline\":11"));
	/* Ahead of the cluster's LSN: lag 0.  Non-ASCII: width by characters. */
	add(&view, "\xc3\xa9t\xc3\xa9",
	    MEMBER("10.0.0.3", "\"state\":\"running\",\"role\":\"replica\","
			       "\"xlog_location\":9999999,\"replication_state\":\"in archive "
			       "recovery\""));
	/* Written by someone else: kept as a row, shown as unknown. */
	add(&view, "d", "{not json");
	/* No xlog_location: unknown lag. */
	add(&view, "e", MEMBER("10.0.0.5", "\"state\":\"stopped\",\"role\":\"replica\""));
	view_finish(&view);
	assert_int_equal(view.n_warnings, 1);
	assert_non_null(strstr(view.warnings[0], "/service/x/members/d"));
	assert_render(&view, OUTPUT_PRETTY, false,
		      "+ Cluster: x (uninitialized) ----------+---------+---------------------+----+-----------+\n"
		      "| Member                    | Host     | Role    | State               | TL | Lag in MB |\n"
		      "+---------------------------+----------+---------+---------------------+----+-----------+\n"
		      "| a                         | 10.0.0.1 | Leader  | running             | 12 |           |\n"
		      "| b-rather-long-member-name | 10.0.0.2 | Replica | starting            | 11 |         2 |\n"
		      "| d                         |          | Replica | unknown             |    |   unknown |\n"
		      "| e                         | 10.0.0.5 | Replica | stopped             |    |   unknown |\n"
		      "| \xc3\xa9t\xc3\xa9                       | 10.0.0.3 | Replica | in archive recovery |    |         0 |\n"
		      "+---------------------------+----------+---------+---------------------+----+-----------+\n");
	view_clear(&view);

	/* A port that is not 5432 shows every port; "" initialize is a
	 * bootstrap in progress. */
	view_init(&view, "y", "/service/y");
	set(view_set_initialize, &view, "");
	add(&view, "m", MEMBER("10.0.0.1:6432", "\"state\":\"initializing new cluster\","
						"\"role\":\"uninitialized\""));
	add(&view, "n", MEMBER("10.0.0.2", "\"state\":\"creating replica\",\"role\":\"replica\""));
	view_finish(&view);
	assert_render(&view, OUTPUT_PRETTY, false,
		      "+ Cluster: y (initializing) -------+--------------------------+----+-----------+\n"
		      "| Member | Host          | Role    | State                    | TL | Lag in MB |\n"
		      "+--------+---------------+---------+--------------------------+----+-----------+\n"
		      "| m      | 10.0.0.1:6432 | Replica | initializing new cluster |    |   unknown |\n"
		      "| n      | 10.0.0.2:5432 | Replica | creating replica         |    |   unknown |\n"
		      "+--------+---------------+---------+--------------------------+----+-----------+\n");
	view_clear(&view);
}

static void test_title_longer_than_the_table_is_cut(void **state)
{
	(void) state;
	struct cluster_view view;

	view_init(&view, "a-cluster-with-a-name-longer-than-its-table", "/service/long");
	view_finish(&view);
	/* No members: the header and the frame only. */
	assert_render(&view, OUTPUT_PRETTY, false,
		      "+ Cluster: a-cluster-with-a-name-longer-than-its+\n"
		      "| Member | Host | Role | State | TL | Lag in MB |\n"
		      "+--------+------+------+-------+----+-----------+\n"
		      "+--------+------+------+-------+----+-----------+\n");
	view_clear(&view);
}

static void test_sync_standby_tags_pause_and_scheduled_switchover(void **state)
{
	(void) state;
	struct cluster_view view;

	view_init(&view, "s", "/service/s");
	set(view_set_initialize, &view, "1234");
	set(view_set_leader, &view, "n1");
	set(view_set_status, &view, "{\"optime\":100}");
	view_set_config(&view, "{\"pause\":true,\"synchronous_mode\":true}", 38, 4);
	set(view_set_sync, &view, "{\"leader\":\"n1\",\"sync_standby\":\"n2\"}");
	failover(&view,
		 "{\"leader\":\"n1\",\"member\":\"n3\",\"scheduled_at\":\"2099-01-01T00:00:00+00:00\"}");
	add(&view, "n1", MEMBER("h1", "\"state\":\"running\",\"role\":\"master\",\"timeline\":2,"
				      "\"tags\":{\"region\":\"a\"}"));
	add(&view, "n2", MEMBER("h2", "\"state\":\"running\",\"role\":\"replica\",\"timeline\":2,"
				      "\"xlog_location\":100,\"replication_state\":\"streaming\","
				      "\"tags\":{\"nofailover\":true,\"region\":\"b\"},"
				      "\"pending_restart\":true"));
	add(&view, "n3", MEMBER("h3", "\"state\":\"running\",\"role\":\"replica\",\"timeline\":2,"
				      "\"xlog_location\":100,\"replication_state\":\"streaming\""));
	view_finish(&view);
	assert_true(view.paused);
	assert_int_equal(view.config_version, 4);
	/* A multi-line cell puts a rule between every row (prettytable's
	 * hrules=ALL). */
	assert_render(&view, OUTPUT_PRETTY, false,
		      "+ Cluster: s (1234) -----------+-----------+----+-----------+-----------------+------------------+\n"
		      "| Member | Host | Role         | State     | TL | Lag in MB | Pending restart | Tags             |\n"
		      "+--------+------+--------------+-----------+----+-----------+-----------------+------------------+\n"
		      "| n1     | h1   | Leader       | running   |  2 |           |                 | region: a        |\n"
		      "+--------+------+--------------+-----------+----+-----------+-----------------+------------------+\n"
		      "| n2     | h2   | Sync Standby | streaming |  2 |         0 | *               | nofailover: true |\n"
		      "|        |      |              |           |    |           |                 | region: b        |\n"
		      "+--------+------+--------------+-----------+----+-----------+-----------------+------------------+\n"
		      "| n3     | h3   | Replica      | streaming |  2 |         0 |                 |                  |\n"
		      "+--------+------+--------------+-----------+----+-----------+-----------------+------------------+\n"
		      " Maintenance mode: on\n"
		      " Switchover scheduled at: 2099-01-01T00:00:00+00:00\n"
		      "                    from: n1\n"
		      "                      to: n3\n");
	/* tsv: tags in YAML's flow style; JSON: the object itself. */
	assert_render(&view, OUTPUT_TSV, false,
		      "Cluster\tMember\tHost\tRole\tState\tTL\tLag in MB\tPending restart\tTags\n"
		      "s\tn1\th1\tLeader\trunning\t2\t\t\t{region: a}\n"
		      "s\tn2\th2\tSync Standby\tstreaming\t2\t0\t*\t{nofailover: true, region: b}\n"
		      "s\tn3\th3\tReplica\tstreaming\t2\t0\t\t\n");
	assert_render(&view, OUTPUT_JSON, false,
		      "[{\"Cluster\": \"s\", \"Member\": \"n1\", \"Host\": \"h1\", \"Role\": \"Leader\", "
		      "\"State\": \"running\", \"TL\": 2, \"Tags\": {\"region\": \"a\"}}, "
		      "{\"Cluster\": \"s\", \"Member\": \"n2\", \"Host\": \"h2\", \"Role\": \"Sync "
		      "Standby\", \"State\": \"streaming\", \"TL\": 2, \"Lag in MB\": 0, \"Pending "
		      "restart\": \"*\", \"Tags\": {\"nofailover\": true, \"region\": \"b\"}}, "
		      "{\"Cluster\": \"s\", \"Member\": \"n3\", \"Host\": \"h3\", \"Role\": \"Replica\", "
		      "\"State\": \"streaming\", \"TL\": 2, \"Lag in MB\": 0}]\n");
	view_clear(&view);
}

/* Tags on one line in topology, as patronictl (its fmt != 'pretty'). */
static void test_topology_nests_by_replicatefrom(void **state)
{
	(void) state;
	struct cluster_view view;

	view_init(&view, "t", "/service/t");
	set(view_set_initialize, &view, "1");
	set(view_set_leader, &view, "a");
	set(view_set_status, &view, "{\"optime\":0}");
	add(&view, "a", MEMBER("h", "\"state\":\"running\",\"role\":\"master\""));
	add(&view, "b", MEMBER("h:5433", "\"state\":\"running\",\"role\":\"replica\","
					 "\"xlog_location\":0,\"tags\":{\"replicatefrom\":\"c\"}"));
	add(&view, "c", MEMBER("h:5434", "\"state\":\"running\",\"role\":\"replica\","
					 "\"xlog_location\":0"));
	add(&view, "d", MEMBER("h:5435", "\"state\":\"running\",\"role\":\"replica\","
					 "\"xlog_location\":0,\"tags\":{\"replicatefrom\":\"b\"}"));
	/* An upstream that is not a member: under the leader. */
	add(&view, "e", MEMBER("h:5436", "\"state\":\"running\",\"role\":\"replica\","
					 "\"xlog_location\":0,\"tags\":{\"replicatefrom\":\"zz\"}"));
	view_finish(&view);
	assert_render(&view, OUTPUT_TOPOLOGY, false,
		      "+ Cluster: t (1) --+---------+---------+----+-----------+---------------------+\n"
		      "| Member  | Host   | Role    | State   | TL | Lag in MB | Tags                |\n"
		      "+---------+--------+---------+---------+----+-----------+---------------------+\n"
		      "| a       | h:5432 | Leader  | running |    |           |                     |\n"
		      "| + c     | h:5434 | Replica | running |    |         0 |                     |\n"
		      "|   + b   | h:5433 | Replica | running |    |         0 | {replicatefrom: c}  |\n"
		      "|     + d | h:5435 | Replica | running |    |         0 | {replicatefrom: b}  |\n"
		      "| + e     | h:5436 | Replica | running |    |         0 | {replicatefrom: zz} |\n"
		      "+---------+--------+---------+---------+----+-----------+---------------------+\n");
	view_clear(&view);

	/* No leader: the roots one level in, as patronictl; a cycle of tags
	 * does not make members vanish. */
	view_init(&view, "u", "/service/u");
	add(&view, "a", MEMBER("h", "\"state\":\"stopped\",\"role\":\"replica\""));
	add(&view, "b", MEMBER("h:5433", "\"state\":\"stopped\",\"role\":\"replica\","
					 "\"tags\":{\"replicatefrom\":\"c\"}"));
	add(&view, "c", MEMBER("h:5434", "\"state\":\"stopped\",\"role\":\"replica\","
					 "\"tags\":{\"replicatefrom\":\"b\"}"));
	view_finish(&view);
	assert_render(&view, OUTPUT_TOPOLOGY, false,
		      "+ Cluster: u (uninitialized) ---------+----+-----------+--------------------+\n"
		      "| Member | Host   | Role    | State   | TL | Lag in MB | Tags               |\n"
		      "+--------+--------+---------+---------+----+-----------+--------------------+\n"
		      "| + a    | h:5432 | Replica | stopped |    |   unknown |                    |\n"
		      "| + b    | h:5433 | Replica | stopped |    |   unknown | {replicatefrom: c} |\n"
		      "|   + c  | h:5434 | Replica | stopped |    |   unknown | {replicatefrom: b} |\n"
		      "+--------+--------+---------+---------+----+-----------+--------------------+\n");
	view_clear(&view);
}

static void test_malformed_znodes_are_warnings(void **state)
{
	(void) state;
	struct cluster_view view;

	view_init(&view, "m", "/service/m");
	set(view_set_initialize, &view, "not-a-number");
	set(view_set_leader, &view, "bad/name");
	view_set_config(&view, "[1,2]", 5, 0);
	set(view_set_status, &view, "{\"optime\":\"x\"}");
	set(view_set_history, &view, "{}");
	failover(&view, "[");
	set(view_set_sync, &view, "7");
	add(&view, "a", "{\"conn_url\":\"http://nope\",\"api_url\":\"x\",\"state\":\"running\","
			"\"role\":\"replica\",\"version\":\"1\"}");
	view_finish(&view);
	assert_int_equal(view.n_warnings, 8);
	assert_null(view.leader);
	assert_true(json_is_object(view.config) && json_object_size(view.config) == 0);
	assert_string_equal(view.initialize, "unknown");
	/* Still renders. */
	assert_render(&view, OUTPUT_PRETTY, false,
		      "+ Cluster: m (unknown) ---+---------+----+-----------+\n"
		      "| Member | Host | Role    | State   | TL | Lag in MB |\n"
		      "+--------+------+---------+---------+----+-----------+\n"
		      "| a      |      | Replica | running |    |   unknown |\n"
		      "+--------+------+---------+---------+----+-----------+\n");
	view_clear(&view);
}

static void test_history_table_and_json(void **state)
{
	(void) state;
	struct znode_history history = { 0 };
	const char *text = "[[1,25623960,\"no recovery target specified\","
			   "\"2024-06-30T16:57:57+02:00\",\"postgresql1\"],"
			   "[2,50331808,\"no recovery target specified\"]]";
	char *out;

	assert_true(znode_history_decode(text, (int) strlen(text), &history, NULL, 0));
	out = history_render(&history, OUTPUT_PRETTY);
	assert_string_equal(out,
			    "+----+----------+------------------------------+---------------------------+-------------+\n"
			    "| TL |      LSN | Reason                       | Timestamp                 | New Leader  |\n"
			    "+----+----------+------------------------------+---------------------------+-------------+\n"
			    "|  1 | 25623960 | no recovery target specified | 2024-06-30T16:57:57+02:00 | postgresql1 |\n"
			    "|  2 | 50331808 | no recovery target specified |                           |             |\n"
			    "+----+----------+------------------------------+---------------------------+-------------+\n");
	free(out);
	/* No title: every column, empty ones included. */
	out = history_render(&history, OUTPUT_JSON);
	assert_string_equal(out,
			    "[{\"TL\": 1, \"LSN\": 25623960, \"Reason\": \"no recovery target "
			    "specified\", \"Timestamp\": \"2024-06-30T16:57:57+02:00\", \"New "
			    "Leader\": \"postgresql1\"}, {\"TL\": 2, \"LSN\": 50331808, \"Reason\": "
			    "\"no recovery target specified\", \"Timestamp\": \"\", \"New Leader\": "
			    "\"\"}]\n");
	free(out);
	znode_history_clear(&history);
}

static void test_table_alignment_and_multiline_cells(void **state)
{
	(void) state;
	const char *headers[] = { "A", "Number" };
	const char *row1[] = { "x\nlonger line", "7" };
	const char *row2[] = { NULL, "123456789" };
	struct table table;
	char *out;

	table_init(&table, headers, 2);
	table_align(&table, "Number", TABLE_RIGHT);
	table_add_row(&table, row1);
	table_add_row(&table, row2);
	out = table_render(&table, " T ");
	assert_string_equal(out,
			    "+ T ----------+-----------+\n"
			    "| A           |    Number |\n"
			    "+-------------+-----------+\n"
			    "| x           |         7 |\n"
			    "| longer line |           |\n"
			    "+-------------+-----------+\n"
			    "|             | 123456789 |\n"
			    "+-------------+-----------+\n");
	free(out);
	out = table_render_delimited(&table, "\t");
	assert_string_equal(out, "A\tNumber\nx\nlonger line\t7\n\t123456789\n");
	free(out);
	table_free(&table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_patronictl_example_table),
		cmocka_unit_test(test_json_yaml_tsv_have_a_cluster_column),
		cmocka_unit_test(test_lag_rounds_half_to_even),
		cmocka_unit_test(test_odd_widths_ports_and_unknown_states),
		cmocka_unit_test(test_title_longer_than_the_table_is_cut),
		cmocka_unit_test(test_sync_standby_tags_pause_and_scheduled_switchover),
		cmocka_unit_test(test_topology_nests_by_replicatefrom),
		cmocka_unit_test(test_malformed_znodes_are_warnings),
		cmocka_unit_test(test_history_table_and_json),
		cmocka_unit_test(test_table_alignment_and_multiline_cells),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
