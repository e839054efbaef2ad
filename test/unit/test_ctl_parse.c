/*
 * What pgherdctl reads and turns into something else: edit-config's -s
 * paths and YAML values, YAML written back the way PyYAML writes it, DCS
 * URLs, conn_urls, --scheduled times, roles, and agents' HTTP answers.
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

#include "agent/version.h"
#include "ctl/cluster_view.h"
#include "ctl/config_edit.h"
#include "ctl/ctl.h"
#include "ctl/rest_client.h"
#include "ctl/schedule.h"
#include "ctl/select.h"
#include "ctl/yaml_json.h"

static json_t *parse_json(const char *text)
{
	json_t *value = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(value);
	return value;
}

static void assert_json(const json_t *value, const char *expected)
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);

	if (strcmp(text, expected) != 0)
		fail_msg("got %s, expected %s", text, expected);
	free(text);
}

static void apply(json_t *config, const char *pair)
{
	char err[256];

	if (!config_edit_set(config, pair, err, sizeof(err)))
		fail_msg("%s: %s", pair, err);
}

static void test_set_paths_and_yaml_values(void **state)
{
	(void) state;
	json_t *config = parse_json("{\"ttl\":30,\"postgresql\":{\"use_pg_rewind\":true}}");
	char err[256];

	apply(config, "ttl=40");
	apply(config, " loop_wait = 5");
	apply(config, "postgresql.use_slots=off");
	apply(config, "postgresql.parameters.max_connections=200");
	/* GUC names hold dots: under parameters the rest is one key. */
	apply(config, "postgresql.parameters.pg_stat_statements.max=1000");
	apply(config, "postgresql.parameters.work_mem='4MB'");
	apply(config, "standby_cluster.host=10.0.0.1");
	apply(config, "tags={a: 1, b: [x, 'y']}");
	assert_json(config, "{\"ttl\":40,\"postgresql\":{\"use_pg_rewind\":true,\"use_slots\":false,"
			    "\"parameters\":{\"max_connections\":200,\"pg_stat_statements.max\":1000,"
			    "\"work_mem\":\"4MB\"}},\"loop_wait\":5,\"standby_cluster\":"
			    "{\"host\":\"10.0.0.1\"},\"tags\":{\"a\":1,\"b\":[\"x\",\"y\"]}}");

	/* null, ~ and nothing delete; levels left empty go too. */
	apply(config, "standby_cluster.host=null");
	apply(config, "loop_wait=");
	apply(config, "tags=~");
	apply(config, "postgresql.parameters.max_connections=null");
	apply(config, "postgresql.parameters.pg_stat_statements.max=null");
	apply(config, "postgresql.parameters.work_mem=null");
	apply(config, "no.such.key=null");
	assert_json(config, "{\"ttl\":40,\"postgresql\":{\"use_pg_rewind\":true,\"use_slots\":false}}");

	/* A scalar in the way becomes a level. */
	apply(config, "ttl.x=1");
	assert_json(config, "{\"ttl\":{\"x\":1},\"postgresql\":{\"use_pg_rewind\":true,"
			    "\"use_slots\":false}}");

	assert_false(config_edit_set(config, "ttl", err, sizeof(err)));
	assert_non_null(strstr(err, "Invalid parameter setting ttl"));
	assert_false(config_edit_set(config, "a..b=1", err, sizeof(err)));
	assert_false(config_edit_set(config, "=1", err, sizeof(err)));
	assert_false(config_edit_set(config, "ttl=[1", err, sizeof(err)));
	assert_non_null(strstr(err, "ttl=[1"));
	json_decref(config);
}

static void test_patch_merges_and_null_deletes(void **state)
{
	(void) state;
	json_t *config = parse_json("{\"a\":{\"b\":1,\"c\":2},\"d\":3,\"e\":{\"f\":1}}");
	json_t *patch = parse_json("{\"a\":{\"b\":null,\"g\":4},\"d\":null,\"e\":5,\"h\":{}}");

	config_edit_patch(config, patch);
	assert_json(config, "{\"a\":{\"c\":2,\"g\":4},\"e\":5,\"h\":{}}");
	json_decref(patch);
	json_decref(config);
}

static void test_yaml_reads_like_pyyaml(void **state)
{
	(void) state;
	static const struct {
		const char *yaml;
		const char *json;
	} cases[] = {
		{ "on", "true" },	   { "Off", "false" },	      { "yes", "true" },
		{ "NO", "false" },	   { "~", "null" },	      { "", "null" },
		{ "null", "null" },	   { "10", "10" },	      { "-7", "-7" },
		{ "0x1F", "31" },	   { "0755", "493" },	      { "1_000", "1000" },
		{ "0b101", "5" },	   { "1.5", "1.5" },	      { "1e5", "\"1e5\"" },
		{ "'10'", "\"10\"" },	   { "\"on\"", "\"on\"" },    { ".inf", "\"inf\"" },
		{ "16MB", "\"16MB\"" },	   { "2024-01-01", "\"2024-01-01\"" },
		{ "99999999999999999999", "\"99999999999999999999\"" },
		{ "a: [1, two]\nb: {c: ~}", "{\"a\":[1,\"two\"],\"b\":{\"c\":null}}" },
	};
	char err[YAML_JSON_ERR_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *value = yaml_to_json(cases[i].yaml, strlen(cases[i].yaml), err, sizeof(err));

		if (value == NULL)
			fail_msg("%s: %s", cases[i].yaml, err);
		/* .inf stays text: JSON has no infinity. */
		if (strcmp(cases[i].yaml, ".inf") == 0) {
			assert_string_equal(json_string_value(value), ".inf");
		} else {
			assert_json(value, cases[i].json);
		}
		json_decref(value);
	}

	assert_null(yaml_to_json("a: [1", 5, err, sizeof(err)));
	assert_non_null(strstr(err, "line"));
	assert_null(yaml_to_json("a: 1\n---\nb: 2\n", 14, err, sizeof(err)));
	assert_non_null(strstr(err, "several"));
	assert_null(yaml_to_json("? [a]\n: 1\n", 10, err, sizeof(err)));
	/* An alias bomb is refused, not expanded. */
	const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
			   "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
			   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
			   "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
	assert_null(yaml_to_json(bomb, strlen(bomb), err, sizeof(err)));
	assert_non_null(strstr(err, "too many values"));
}

static void test_yaml_writes_like_pyyaml(void **state)
{
	(void) state;
	json_t *config = parse_json(
		"{\"ttl\":30,\"postgresql\":{\"parameters\":{\"max_connections\":100,"
		"\"archive_mode\":\"on\",\"shared_buffers\":\"16MB\",\"port\":\"5432\","
		"\"empty\":\"\",\"ratio\":0.1,\"big\":1e20,\"flag\":true},\"use_slots\":false},"
		"\"list\":[1,\"a b\",{\"k\":null}],\"empty_list\":[],\"empty_map\":{},"
		"\"colon\":\"a: b\",\"hash\":\"x #y\",\"lead\":\" space\",\"multi\":\"l1\\nl2\"}");
	char *text = json_to_yaml(config, false);

	/* Sorted keys, strings YAML would read as something else quoted. */
	assert_string_equal(text, "colon: 'a: b'\n"
				  "empty_list: []\n"
				  "empty_map: {}\n"
				  "hash: 'x #y'\n"
				  "lead: ' space'\n"
				  "list:\n"
				  "- 1\n"
				  "- a b\n"
				  "- k: null\n"
				  "multi: 'l1\n\n  l2'\n"
				  "postgresql:\n"
				  "  parameters:\n"
				  "    archive_mode: 'on'\n"
				  "    big: 1.0e+20\n"
				  "    empty: ''\n"
				  "    flag: true\n"
				  "    max_connections: 100\n"
				  "    port: '5432'\n"
				  "    ratio: 0.1\n"
				  "    shared_buffers: 16MB\n"
				  "  use_slots: false\n"
				  "ttl: 30\n");
	/* And reads back to the same values. */
	json_t *back = yaml_to_json(text, strlen(text), NULL, 0);
	assert_true(json_equal(back, config));
	json_decref(back);
	free(text);

	text = json_to_yaml(json_object_get(json_object_get(config, "postgresql"), "parameters"),
			    true);
	assert_string_equal(text, "{archive_mode: 'on', big: 1.0e+20, empty: '', flag: true, "
				  "max_connections: 100, port: '5432', ratio: 0.1, shared_buffers: "
				  "16MB}\n");
	free(text);
	json_decref(config);
}

static void test_float_repr(void **state)
{
	(void) state;
	static const struct {
		double value;
		const char *text;
	} cases[] = {
		{ 0.1, "0.1" },	      { 1.0, "1.0" },	      { -2.5, "-2.5" },
		{ 1e16, "1.0e+16" },  { 1e15, "1000000000000000.0" },
		{ 0.0001, "0.0001" }, { 0.00001, "1.0e-05" }, { 123456.789, "123456.789" },
		{ 1.5e300, "1.5e+300" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		yaml_float_repr(cases[i].value, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
}

static void test_dcs_urls(void **state)
{
	(void) state;
	char *hosts;
	char *namespace;
	char err[256];

	assert_true(ctl_parse_dcs_url("zookeeper://10.0.0.1:2181/service", &hosts, &namespace, err,
				      sizeof(err)));
	assert_string_equal(hosts, "10.0.0.1:2181");
	assert_string_equal(namespace, "/service");
	free(hosts);
	free(namespace);

	assert_true(ctl_parse_dcs_url("zookeeper://a,b:2182,[::1]:2183//my//ns/", &hosts,
				      &namespace, err, sizeof(err)));
	assert_string_equal(hosts, "a:2181,b:2182,[::1]:2183");
	assert_string_equal(namespace, "/my/ns");
	free(hosts);
	free(namespace);

	/* No scheme: ZooKeeper; no path: the configuration's namespace. */
	assert_true(ctl_parse_dcs_url("zk1:3000", &hosts, &namespace, err, sizeof(err)));
	assert_string_equal(hosts, "zk1:3000");
	assert_null(namespace);
	free(hosts);
	assert_true(ctl_parse_dcs_url("zookeeper:///", &hosts, &namespace, err, sizeof(err)));
	assert_string_equal(hosts, "localhost:2181");
	assert_null(namespace);
	free(hosts);

	assert_false(ctl_parse_dcs_url("etcd://h:2379", &hosts, &namespace, err, sizeof(err)));
	assert_non_null(strstr(err, "ZooKeeper only"));
	assert_false(ctl_parse_dcs_url("zookeeper://h:99999", &hosts, &namespace, err,
				       sizeof(err)));
	assert_non_null(strstr(err, "bad port"));
	assert_false(ctl_parse_dcs_url("zookeeper://h:x/", &hosts, &namespace, err, sizeof(err)));
}

static void test_conn_urls(void **state)
{
	(void) state;
	char *host;
	int port;

	assert_true(view_parse_conn_url("postgres://10.0.0.2:5433/postgres", &host, &port));
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 5433);
	free(host);
	assert_true(view_parse_conn_url("postgresql://u:p@DB.Example:6000", &host, &port));
	assert_string_equal(host, "db.example");
	assert_int_equal(port, 6000);
	free(host);
	assert_true(view_parse_conn_url("postgres://[::1]/postgres?sslmode=require", &host, &port));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 5432);
	free(host);
	assert_false(view_parse_conn_url("http://h:1/", &host, &port));
	assert_false(view_parse_conn_url("postgres://:5432/", &host, &port));
	assert_false(view_parse_conn_url("postgres://h:0/", &host, &port));
	assert_false(view_parse_conn_url("postgres://h:65536/", &host, &port));
	assert_false(view_parse_conn_url("postgres://h:12a/", &host, &port));
}

static void test_schedules(void **state)
{
	(void) state;
	char iso[64];

	assert_int_equal(schedule_parse("now", iso, sizeof(iso)), SCHEDULE_NOW);
	assert_int_equal(schedule_parse("", iso, sizeof(iso)), SCHEDULE_NOW);
	assert_int_equal(schedule_parse("2024-07-01T12:00+02:00", iso, sizeof(iso)), SCHEDULE_AT);
	assert_string_equal(iso, "2024-07-01T12:00:00+02:00");
	assert_int_equal(schedule_parse("2024-07-01 12:00:30.5Z", iso, sizeof(iso)), SCHEDULE_AT);
	assert_string_equal(iso, "2024-07-01T12:00:30.500000+00:00");
	assert_int_equal(schedule_parse("2024-02-29T23:59:59-0530", iso, sizeof(iso)), SCHEDULE_AT);
	assert_string_equal(iso, "2024-02-29T23:59:59-05:30");
	/* Without a zone: the local one (TZ is set below). */
	assert_int_equal(schedule_parse("2024-01-15T08:00", iso, sizeof(iso)), SCHEDULE_AT);
	assert_string_equal(iso, "2024-01-15T08:00:00+00:00");
	assert_int_equal(schedule_parse("2023-02-29T00:00", iso, sizeof(iso)), SCHEDULE_BAD);
	assert_int_equal(schedule_parse("tomorrow", iso, sizeof(iso)), SCHEDULE_BAD);
	assert_int_equal(schedule_parse("2024-07-01T25:00", iso, sizeof(iso)), SCHEDULE_BAD);
	assert_int_equal(schedule_parse("2024-07-01T12:00+02:00x", iso, sizeof(iso)), SCHEDULE_BAD);
}

static void test_roles_select_members(void **state)
{
	(void) state;
	struct cluster_view view;
	const struct view_member *out[3];
	enum select_role role;
	const char *m = "{\"conn_url\":\"postgres://h/\",\"api_url\":\"http://h/\",\"state\":"
			"\"running\",\"version\":\"1\",\"role\":\"replica\"}";
	const char *p = "{\"conn_url\":\"postgres://h/\",\"api_url\":\"http://h/\",\"state\":"
			"\"running\",\"version\":\"1\",\"role\":\"master\"}";

	assert_true(select_role_parse("master", &role));
	assert_int_equal(role, SELECT_PRIMARY);
	assert_true(select_role_parse("standby", &role));
	assert_int_equal(role, SELECT_REPLICA);
	assert_false(select_role_parse("Leader", &role));

	view_init(&view, "c", "/service/c");
	view_add_member(&view, "b", m, (int) strlen(m));
	view_add_member(&view, "a", p, (int) strlen(p));
	view_add_member(&view, "c", m, (int) strlen(m));
	view_set_leader(&view, "a", 1);
	view_finish(&view);
	assert_int_equal(select_members(&view, SELECT_LEADER, out), 1);
	assert_string_equal(out[0]->name, "a");
	assert_int_equal(select_members(&view, SELECT_PRIMARY, out), 1);
	assert_int_equal(select_members(&view, SELECT_STANDBY_LEADER, out), 0);
	assert_int_equal(select_members(&view, SELECT_REPLICA, out), 2);
	assert_string_equal(out[0]->name, "b");
	assert_string_equal(out[1]->name, "c");
	assert_int_equal(select_members(&view, SELECT_ANY, out), 3);
	assert_int_equal(select_leader_first(&view, out), 3);
	assert_string_equal(out[0]->name, "a");
	view_clear(&view);
}

static void test_http_answers(void **state)
{
	(void) state;
	struct rest_response r;
	char err[REST_ERR_MAX];
	const char *plain = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	const char *chunked = "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n"
			      "\r\n4\r\nSwit\r\nB;ext=1\r\nchover fail\r\n0\r\n\r\n";
	const char *closed = "HTTP/1.0 202 Accepted\r\nServer: x\r\n\r\nreload scheduled";

	assert_int_equal(rest_response_parse(plain, strlen(plain), false, &r, err, sizeof(err)), 1);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	rest_response_clear(&r);
	/* Not all there yet. */
	assert_int_equal(rest_response_parse(plain, strlen(plain) - 1, false, &r, err, sizeof(err)),
			 0);
	assert_int_equal(rest_response_parse(plain, 20, false, &r, err, sizeof(err)), 0);
	assert_int_equal(rest_response_parse(plain, strlen(plain) - 1, true, &r, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "cut short"));

	assert_int_equal(rest_response_parse(chunked, strlen(chunked), false, &r, err, sizeof(err)),
			 1);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "Switchover fail");
	rest_response_clear(&r);

	/* No length: the body ends with the connection. */
	assert_int_equal(rest_response_parse(closed, strlen(closed), false, &r, err, sizeof(err)), 0);
	assert_int_equal(rest_response_parse(closed, strlen(closed), true, &r, err, sizeof(err)), 1);
	assert_int_equal(r.status, 202);
	assert_string_equal(r.body, "reload scheduled");
	rest_response_clear(&r);

	assert_int_equal(rest_response_parse("SSH-2.0-OpenSSH\r\n", 17, false, &r, err, sizeof(err)),
			 -1);
	assert_int_equal(rest_response_parse("HTTP/1.1 abc\r\n\r\n", 16, false, &r, err, sizeof(err)),
			 -1);
	assert_int_equal(rest_response_parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 39,
					     false, &r, err, sizeof(err)),
			 -1);
	const char *bad_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
	assert_int_equal(rest_response_parse(bad_chunk, strlen(bad_chunk), false, &r, err,
					     sizeof(err)),
			 -1);
}

static void test_http_requests(void **state)
{
	(void) state;
	struct rest_auth auth = { "admin", "secret" };
	struct rest_request request = { .api_url = "http://10.0.0.1:8008/patroni",
					.method = "POST",
					.endpoint = "switchover",
					.body = "{\"leader\": \"a\"}",
					.auth = &auth };
	char err[REST_ERR_MAX];
	char *host;
	int port;
	char *text;

	assert_true(rest_url_parse(request.api_url, &host, &port, err, sizeof(err)));
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 8008);
	text = rest_request_text(&request, host, port);
	assert_string_equal(text, "POST /switchover HTTP/1.1\r\n"
				  "Host: 10.0.0.1:8008\r\n"
				  "User-Agent: pgherdctl/" PGHERD_VERSION "\r\n"
				  "Accept: */*\r\n"
				  "Connection: close\r\n"
				  "Authorization: Basic YWRtaW46c2VjcmV0\r\n"
				  "Content-Type: application/json\r\n"
				  "Content-Length: 15\r\n"
				  "\r\n"
				  "{\"leader\": \"a\"}");
	free(text);
	free(host);

	assert_true(rest_url_parse("http://[::1]/patroni", &host, &port, err, sizeof(err)));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	free(host);
	assert_false(rest_url_parse("https://h:8008/patroni", &host, &port, err, sizeof(err)));
	assert_non_null(strstr(err, "https is not supported"));
	assert_false(rest_url_parse("http://:8008/", &host, &port, err, sizeof(err)));
	assert_false(rest_url_parse("http://h:x/", &host, &port, err, sizeof(err)));

	static const struct {
		const char *in;
		const char *out;
	} b64[] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		    { "foobar", "Zm9vYmFy" } };
	for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
		text = rest_base64(b64[i].in, strlen(b64[i].in));
		assert_string_equal(text, b64[i].out);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_paths_and_yaml_values),
		cmocka_unit_test(test_patch_merges_and_null_deletes),
		cmocka_unit_test(test_yaml_reads_like_pyyaml),
		cmocka_unit_test(test_yaml_writes_like_pyyaml),
		cmocka_unit_test(test_float_repr),
		cmocka_unit_test(test_dcs_urls),
		cmocka_unit_test(test_conn_urls),
		cmocka_unit_test(test_schedules),
		cmocka_unit_test(test_roles_select_members),
		cmocka_unit_test(test_http_answers),
		cmocka_unit_test(test_http_requests),
	};
	/* Local times in test_schedules are UTC. */
	setenv("TZ", "UTC", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
