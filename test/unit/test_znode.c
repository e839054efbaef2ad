/*
 * dcs/znode: paths, candidate names and every znode codec.
 *
 * The fixtures marked "Patroni" are copied from the Patroni reference
 * (section 1.2); the exact encodings were checked against Python's
 * json.dumps(separators=(',', ':')).  Every decoder also gets a table of
 * garbage whose messages are asserted word for word, since they end up in
 * operators' logs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dcs/znode.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define TEXT(s) (s), (int)(sizeof(s) - 1)

/* ------------------------------------------------------------------------
 * Patroni fixtures (reference section 1.2)
 * ------------------------------------------------------------------------ */

static const char patroni_member[] =
	"{\"conn_url\":\"postgres://10.0.0.2:5432/postgres\",\n"
	" \"api_url\":\"http://10.0.0.2:8008/patroni\",\n"
	" \"state\":\"running\", \"role\":\"replica\", \"version\":\"3.3.1\",\n"
	" \"xlog_location\":67393704, \"replication_state\":\"streaming\", \"timeline\":3,\n"
	" \"tags\":{\"nofailover\":false,\"failover_priority\":\"1\"},\n"
	" \"pending_restart\":true, \"pending_restart_reason\":{\"max_connections\":"
	"{\"old_value\":\"100\",\"new_value\":\"101\"}},\n"
	" \"scheduled_restart\":{\"schedule\":\"2024-07-01T10:00:00+00:00\","
	"\"postmaster_start_time\":\"...\"},\n"
	" \"pause\":true}";

/* The same member as Patroni's touch_member() writes it: its dict
 * insertion order, compact. */
static const char patroni_member_encoded[] =
	"{\"conn_url\":\"postgres://10.0.0.2:5432/postgres\","
	"\"api_url\":\"http://10.0.0.2:8008/patroni\","
	"\"state\":\"running\",\"role\":\"replica\",\"version\":\"3.3.1\","
	"\"tags\":{\"nofailover\":false,\"failover_priority\":\"1\"},"
	"\"pending_restart\":true,\"pending_restart_reason\":{\"max_connections\":"
	"{\"old_value\":\"100\",\"new_value\":\"101\"}},"
	"\"xlog_location\":67393704,\"replication_state\":\"streaming\",\"timeline\":3,"
	"\"scheduled_restart\":{\"schedule\":\"2024-07-01T10:00:00+00:00\","
	"\"postmaster_start_time\":\"...\"},"
	"\"pause\":true}";

static const char patroni_config[] =
	"{\"ttl\":30,\"loop_wait\":10,\"retry_timeout\":10,\"maximum_lag_on_failover\":1048576,"
	"\"postgresql\":{\"use_pg_rewind\":true,\"parameters\":{\"wal_level\":\"replica\"}}}";
static const char patroni_sync[] = "{\"leader\":\"postgresql0\",\"sync_standby\":\"postgresql1\"}";
static const char patroni_failover[] =
	"{\"leader\":\"postgresql0\",\"member\":\"postgresql2\","
	"\"scheduled_at\":\"2024-07-01T12:00:00+00:00\"}";
static const char patroni_history[] =
	"[[1,25623960,\"no recovery target specified\",\"2024-06-30T16:57:57+02:00\","
	"\"postgresql1\"]]";
static const char patroni_status[] =
	"{\"optime\":67393704,\"slots\":{\"postgresql0\":67393704,\"test_physical\":67393704}}";

/* ------------------------------------------------------------------------
 * Names and paths
 * ------------------------------------------------------------------------ */

static void test_name_validity(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{ "postgresql0", true },
		{ "node-1.example.com", true },
		{ "...", true },
		{ "a b", true },
		{ "n\xc3\xbc" "de", true },		/* U+00FC */
		{ "\xe2\x98\x83", true },		/* U+2603 */
		{ "", false },
		{ ".", false },
		{ "..", false },
		{ "a/b", false },
		{ "a\nb", false },
		{ "tab\t", false },
		{ "del\x7f", false },
		{ "\xc2\x80", false },			/* U+0080, C1 control */
		{ "\xc2\x9f", false },			/* U+009F */
		{ "\xee\x80\x80", false },		/* U+E000, ZooKeeper's D800-F8FF */
		{ "\xef\xbf\xb0", false },		/* U+FFF0 */
		{ "\xf0\x9f\x98\x80", false },		/* U+1F600: a surrogate pair in Java */
		{ "\xc0\xaf", false },			/* overlong '/' */
		{ "\xed\xa0\x80", false },		/* UTF-16 surrogate */
		{ "\xff", false },
		{ "\xe2\x98", false },			/* truncated sequence */
	};
	char longest[ZNODE_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		if (znode_name_is_valid(cases[i].name) != cases[i].valid)
			fail_msg("case %zu \"%s\": expected %s", i, cases[i].name,
				 cases[i].valid ? "valid" : "invalid");
	}
	assert_false(znode_name_is_valid(NULL));
	memset(longest, 'x', sizeof(longest));
	longest[ZNODE_NAME_MAX] = '\0';
	assert_true(znode_name_is_valid(longest));
	longest[ZNODE_NAME_MAX] = 'x';
	longest[ZNODE_NAME_MAX + 1] = '\0';
	assert_false(znode_name_is_valid(longest));
}

static void test_base_path(void **state)
{
	static const struct {
		const char *namespace;
		const char *scope;
		const char *expected; /* NULL: must fail */
	} cases[] = {
		{ "/service", "batman", "/service/batman" },
		{ "service", "batman", "/service/batman" },
		{ "/service/", "batman", "/service/batman" },
		{ "//service//", "batman", "/service/batman" },
		{ NULL, "batman", "/service/batman" },
		{ "", "batman", "/batman" },
		{ "/", "batman", "/batman" },
		{ "/postgresql-common/", "15-main", "/postgresql-common/15-main" },
		{ "a//b/", "c", "/a/b/c" },
		{ "/service", "", NULL },
		{ "/service", "a/b", NULL },
		{ "/service", "..", NULL },
		{ "/service", NULL, NULL },
		{ "/x/../y", "batman", NULL },
		{ "/x\n", "batman", NULL },
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		bool ok = znode_base_path(buf, sizeof(buf), cases[i].namespace, cases[i].scope);

		if (cases[i].expected == NULL) {
			if (ok || buf[0] != '\0')
				fail_msg("case %zu: expected failure, got \"%s\"", i, buf);
		} else if (!ok || strcmp(buf, cases[i].expected) != 0) {
			fail_msg("case %zu: expected \"%s\", got %s \"%s\"", i, cases[i].expected,
				 ok ? "true" : "false", buf);
		}
	}
	/* "/service/batman" is 15 bytes: 16 fits, 15 does not */
	assert_true(znode_base_path(buf, 16, "service", "batman"));
	assert_string_equal(buf, "/service/batman");
	assert_false(znode_base_path(buf, 15, "service", "batman"));
	assert_string_equal(buf, "");
	assert_false(znode_base_path(NULL, 0, "service", "batman"));
}

static void test_znode_path(void **state)
{
	static const struct {
		const char *base;
		const char *key;
		const char *expected;
	} cases[] = {
		{ "/service/batman", ZNODE_LEADER, "/service/batman/leader" },
		{ "/service/batman", "members/postgresql0", "/service/batman/members/postgresql0" },
		{ "/service/batman", ZNODE_OPTIME_LEADER, "/service/batman/optime/leader" },
		{ "/service/batman", "election/node-1-", "/service/batman/election/node-1-" },
		{ "/batman", ZNODE_STATUS, "/batman/status" },
		{ "/service/batman", "", NULL },
		{ "/service/batman", "/leader", NULL },
		{ "/service/batman", "leader/", NULL },
		{ "/service/batman", "members//x", NULL },
		{ "/service/batman", "members/..", NULL },
		{ "service/batman", "leader", NULL },
		{ "/service/batman/", "leader", NULL },
		{ "/service//batman", "leader", NULL },
		{ "/", "leader", NULL },
		{ NULL, "leader", NULL },
		{ "/service/batman", NULL, NULL },
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		bool ok = znode_path(buf, sizeof(buf), cases[i].base, cases[i].key);

		if (cases[i].expected == NULL) {
			if (ok || buf[0] != '\0')
				fail_msg("case %zu: expected failure, got \"%s\"", i, buf);
		} else if (!ok || strcmp(buf, cases[i].expected) != 0) {
			fail_msg("case %zu: expected \"%s\", got \"%s\"", i, cases[i].expected, buf);
		}
	}
	assert_false(znode_path(buf, 22, "/service/batman", "leader"));
	assert_true(znode_path(buf, 23, "/service/batman", "leader"));
	assert_string_equal(buf, "/service/batman/leader");

	assert_true(znode_member_path(buf, sizeof(buf), "/service/batman", "postgresql0"));
	assert_string_equal(buf, "/service/batman/members/postgresql0");
	assert_false(znode_member_path(buf, sizeof(buf), "/service/batman", "a/b"));
	assert_string_equal(buf, "");
	assert_false(znode_member_path(buf, sizeof(buf), "/service/batman", NULL));
}

/* ------------------------------------------------------------------------
 * Election candidates
 * ------------------------------------------------------------------------ */

static void test_candidate_prefix(void **state)
{
	char buf[ZNODE_CANDIDATE_NAME_MAX + 1];

	(void)state;
	assert_true(znode_candidate_prefix(buf, sizeof(buf), "node-1"));
	assert_string_equal(buf, "node-1-");
	assert_false(znode_candidate_prefix(buf, 7, "node-1"));
	assert_string_equal(buf, "");
	assert_true(znode_candidate_prefix(buf, 8, "node-1"));
	assert_false(znode_candidate_prefix(buf, sizeof(buf), "a/b"));
	assert_false(znode_candidate_prefix(buf, sizeof(buf), ""));
	assert_false(znode_candidate_prefix(buf, sizeof(buf), NULL));
}

static void test_candidate_parse(void **state)
{
	static const struct {
		const char *child;
		const char *member; /* NULL: must be rejected */
		long long sequence;
	} cases[] = {
		{ "node1-0000000000", "node1", 0 },
		{ "node1-0000000042", "node1", 42 },
		{ "a-b-0000000001", "a-b", 1 },
		{ "x--0000000007", "x-", 7 },
		{ "pg-9999999999", "pg", 9999999999LL },
		{ "2147483647-2147483647", "2147483647", 2147483647LL },
		{ "node-", NULL, 0 },
		{ "-0000000001", NULL, 0 },
		{ "x-12", NULL, 0 },
		{ "x-00000000001", NULL, 0 },	/* 11 digits */
		{ "x-000000001", NULL, 0 },	/* 9 digits */
		{ "x-000000000a", NULL, 0 },
		{ "x-+000000001", NULL, 0 },
		{ "x- 000000001", NULL, 0 },
		{ "x0000000001", NULL, 0 },	/* no '-' */
		{ "x-0000000001-", NULL, 0 },
		{ "..-0000000001", NULL, 0 },
		{ "a\nb-0000000001", NULL, 0 },
		{ "", NULL, 0 },
		{ "lock", NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		char member[ZNODE_NAME_MAX + 1] = "untouched";
		long long seq = -1;
		bool ok = znode_candidate_parse(cases[i].child, member, sizeof(member), &seq);

		if (cases[i].member == NULL) {
			if (ok || strcmp(member, "untouched") != 0 || seq != -1)
				fail_msg("case %zu \"%s\": expected rejection", i, cases[i].child);
		} else if (!ok || strcmp(member, cases[i].member) != 0 ||
			   seq != cases[i].sequence) {
			fail_msg("case %zu \"%s\": got %d \"%s\" %lld", i, cases[i].child, ok, member,
				 seq);
		}
	}

	/* member buffer too small: "a-b" needs 4 bytes */
	{
		char small[3];
		long long seq;

		assert_false(znode_candidate_parse("a-b-0000000001", small, sizeof(small), &seq));
	}
	{
		char fits[4];
		long long seq;

		assert_true(znode_candidate_parse("a-b-0000000001", fits, sizeof(fits), &seq));
		assert_string_equal(fits, "a-b");
	}
	/* round trip with the prefix */
	{
		char prefix[ZNODE_NAME_MAX + 2], child[sizeof(prefix) + ZNODE_SEQUENCE_DIGITS];
		struct znode_candidate c;

		assert_true(znode_candidate_prefix(prefix, sizeof(prefix), "db-2.dc1"));
		snprintf(child, sizeof(child), "%s%010d", prefix, 123);
		assert_true(znode_candidate_from_child(&c, child));
		assert_string_equal(c.member, "db-2.dc1");
		assert_int_equal(c.sequence, 123);
	}
}

static void test_candidate_sort(void **state)
{
	const char *children[] = {
		"node-b-0000000012", "node-a-0000000003", "garbage", "node-c-0000000100",
		"node-a-0000000010",
	};
	struct znode_candidate c[N_ELEMENTS(children)];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(children); i++)
		if (znode_candidate_from_child(&c[n], children[i]))
			n++;
	assert_int_equal(n, 4);
	qsort(c, n, sizeof(c[0]), znode_candidate_compare);
	assert_int_equal(c[0].sequence, 3);
	assert_string_equal(c[0].member, "node-a");
	assert_int_equal(c[1].sequence, 10);
	assert_string_equal(c[1].member, "node-a");
	assert_int_equal(c[2].sequence, 12);
	assert_string_equal(c[2].member, "node-b");
	assert_int_equal(c[3].sequence, 100);
	assert_string_equal(c[3].member, "node-c");
}

/* ------------------------------------------------------------------------
 * Garbage shared by every JSON decoder
 * ------------------------------------------------------------------------ */

typedef bool (*decode_fn)(const char *data, int len, char *err, size_t err_size);

static bool decode_member(const char *data, int len, char *err, size_t err_size)
{
	struct member_status s;
	bool ok = member_status_decode(data, len, &s, err, err_size);

	member_status_clear(&s);
	return ok;
}

static bool decode_config(const char *data, int len, char *err, size_t err_size)
{
	struct znode_config c;
	bool ok = znode_config_decode(data, len, &c, err, err_size);

	znode_config_clear(&c);
	return ok;
}

static bool decode_failover(const char *data, int len, char *err, size_t err_size)
{
	struct znode_failover f;
	bool ok = znode_failover_decode(data, len, &f, err, err_size);

	znode_failover_clear(&f);
	return ok;
}

static bool decode_sync(const char *data, int len, char *err, size_t err_size)
{
	struct znode_sync s;
	bool ok = znode_sync_decode(data, len, &s, err, err_size);

	znode_sync_clear(&s);
	return ok;
}

static bool decode_status(const char *data, int len, char *err, size_t err_size)
{
	struct znode_status s;
	bool ok = znode_status_decode(data, len, &s, err, err_size);

	znode_status_clear(&s);
	return ok;
}

static bool decode_history(const char *data, int len, char *err, size_t err_size)
{
	struct znode_history h;
	bool ok = znode_history_decode(data, len, &h, err, err_size);

	znode_history_clear(&h);
	return ok;
}

static const struct {
	const char *prefix;
	decode_fn decode;
} json_decoders[] = {
	{ "member JSON", decode_member },   { "config JSON", decode_config },
	{ "failover JSON", decode_failover }, { "sync JSON", decode_sync },
	{ "status JSON", decode_status },   { "history JSON", decode_history },
};

struct garbage {
	const char *data;
	int len;
	const char *reason; /* after "<prefix>: " */
};

/* Runs one decoder over a table and checks every message exactly. */
static void expect_garbage(decode_fn decode, const char *prefix, const struct garbage *cases,
			   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char err[ZNODE_ERR_MAX] = "untouched";
		char expected[ZNODE_ERR_MAX];

		snprintf(expected, sizeof(expected), "%s: %s", prefix, cases[i].reason);
		if (decode(cases[i].data, cases[i].len, err, sizeof(err)))
			fail_msg("%s case %zu was accepted, expected \"%s\"", prefix, i, expected);
		if (strcmp(err, expected) != 0)
			fail_msg("%s case %zu:\n  expected \"%s\"\n  got      \"%s\"", prefix, i,
				 expected, err);
	}
}

static void test_json_garbage_every_decoder(void **state)
{
	static char deep[3000];
	const struct garbage cases[] = {
		{ TEXT("\x89PNG\r\n\x1a\n"),
		  "invalid JSON at line 1 column 0: unable to decode byte 0x89" },
		{ TEXT("{\"a\":"), "invalid JSON at line 1 column 5: unexpected token near end of file" },
		{ TEXT("{\"a\":1\0}"), "contains a NUL byte at offset 6" },
		{ TEXT("{\"a\":\"x\0y\"}"), "contains a NUL byte at offset 7" },
		{ TEXT("{\"a\":\"x\\u0000y\"}"),
		  "invalid JSON at line 1 column 15: \\u0000 is not allowed without JSON_ALLOW_NUL "
		  "near '\"x\\u0000y\"'" },
		{ TEXT("{\"a\":\"\xc3\x28\"}"),
		  "invalid JSON at line 1 column 6: unable to decode byte 0xc3 near '\"'" },
		{ deep, (int)sizeof(deep),
		  "invalid JSON at line 1 column 2049: maximum parsing depth reached near '['" },
		{ TEXT("{\"xlog_location\":123456789012345678901234567890}"),
		  "invalid JSON at line 1 column 47: too big integer" },
		{ TEXT("{\"a\":1e999}"), "invalid JSON at line 1 column 10: real number overflow near "
					 "'1e999'" },
		{ TEXT("{} x"), "invalid JSON at line 1 column 4: end of file expected near 'x'" },
		{ TEXT("{}{}"), "invalid JSON at line 1 column 3: end of file expected near '{'" },
		{ TEXT(""), "znode is empty" },
		{ NULL, -1, "znode is empty" },
		{ "{}", -1, "znode is empty" },
		{ NULL, 5, "znode is empty" },
	};

	(void)state;
	memset(deep, '[', sizeof(deep));
	for (size_t d = 0; d < N_ELEMENTS(json_decoders); d++)
		expect_garbage(json_decoders[d].decode, json_decoders[d].prefix, cases,
			       N_ELEMENTS(cases));
}

static void test_json_wrong_top_level_type(void **state)
{
	static const struct {
		const char *text;
		const char *kind;
	} values[] = {
		{ "\"abc\"", "string" }, { "null", "null" },	   { "true", "boolean" },
		{ "1.5", "real" },	 { "[{}]", "array" },	   { "{}", "object" },
		{ "7", "integer" },
	};

	(void)state;
	for (size_t d = 0; d < N_ELEMENTS(json_decoders); d++) {
		bool wants_array = json_decoders[d].decode == decode_history;

		for (size_t v = 0; v < N_ELEMENTS(values); v++) {
			char err[ZNODE_ERR_MAX] = "", expected[ZNODE_ERR_MAX];
			const char *kind = values[v].kind;
			bool accepted;

			/* the right type, and status's legacy bare integer */
			if ((wants_array && strcmp(kind, "array") == 0) ||
			    (!wants_array && strcmp(kind, "object") == 0) ||
			    (json_decoders[d].decode == decode_status && strcmp(kind, "integer") == 0))
				continue;
			snprintf(expected, sizeof(expected), "%s: must be a JSON %s, got %s",
				 json_decoders[d].prefix, wants_array ? "array" : "object", kind);
			accepted = json_decoders[d].decode(values[v].text, (int)strlen(values[v].text),
							   err, sizeof(err));
			assert_false(accepted);
			assert_string_equal(err, expected);
		}
	}
}

/* ------------------------------------------------------------------------
 * members/<name>
 * ------------------------------------------------------------------------ */

static void sample_member(struct member_status *s)
{
	memset(s, 0, sizeof(*s));
	assert_true(znode_set_string(&s->conn_url, "postgres://10.0.0.1:5432/postgres"));
	assert_true(znode_set_string(&s->api_url, "http://10.0.0.1:8008/patroni"));
	assert_true(znode_set_string(&s->state, "running"));
	assert_true(znode_set_string(&s->role, "master"));
	assert_true(znode_set_string(&s->version, "3.3.1"));
}

static void test_member_encode_minimal(void **state)
{
	struct member_status s;
	char err[ZNODE_ERR_MAX] = "untouched";
	char *text;

	(void)state;
	sample_member(&s);
	text = member_status_encode(&s, err, sizeof(err));
	assert_non_null(text);
	assert_string_equal(err, "");
	assert_string_equal(text, "{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\","
				  "\"api_url\":\"http://10.0.0.1:8008/patroni\",\"state\":\"running\","
				  "\"role\":\"master\",\"version\":\"3.3.1\"}");
	free(text);
	member_status_clear(&s);
	member_status_clear(&s); /* twice is fine */
}

static void test_member_encode_every_field(void **state)
{
	struct member_status s;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	sample_member(&s);
	assert_true(znode_set_string(&s.proxy_url, "postgres://10.0.0.1:6432/postgres"));
	s.has_checkpoint_after_promote = true;
	s.checkpoint_after_promote = false;
	/* Patroni drops predefined booleans that are false, except
	 * nofailover next to failover_priority; custom tags stay. */
	s.tags = json_pack("{s:b,s:b,s:b,s:b,s:b,s:s,s:s,s:s,s:b}", "nofailover", 0, "noloadbalance",
			   0, "clonefrom", 1, "nosync", 0, "nostream", 0, "failover_priority", "2",
			   "replicatefrom", "node2", "custom", "x", "custom_false", 0);
	assert_non_null(s.tags);
	s.pending_restart = true;
	s.pending_restart_reason = json_pack("{s:{s:s,s:s}}", "max_connections", "old_value", "100",
					     "new_value", "101");
	s.has_xlog_location = true;
	s.xlog_location = 67393704;
	assert_true(znode_set_string(&s.replication_state, "streaming"));
	s.has_timeline = true;
	s.timeline = 3;
	s.scheduled_restart = json_pack("{s:s}", "schedule", "2024-07-01T10:00:00+00:00");
	s.pause = true;

	text = member_status_encode(&s, err, sizeof(err));
	assert_non_null(text);
	assert_string_equal(
		text,
		"{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\","
		"\"api_url\":\"http://10.0.0.1:8008/patroni\",\"state\":\"running\",\"role\":\"master\","
		"\"version\":\"3.3.1\",\"proxy_url\":\"postgres://10.0.0.1:6432/postgres\","
		"\"checkpoint_after_promote\":false,"
		"\"tags\":{\"nofailover\":false,\"clonefrom\":true,\"failover_priority\":\"2\","
		"\"replicatefrom\":\"node2\",\"custom\":\"x\",\"custom_false\":false},"
		"\"pending_restart\":true,"
		"\"pending_restart_reason\":{\"max_connections\":{\"old_value\":\"100\","
		"\"new_value\":\"101\"}},"
		"\"xlog_location\":67393704,\"replication_state\":\"streaming\",\"timeline\":3,"
		"\"scheduled_restart\":{\"schedule\":\"2024-07-01T10:00:00+00:00\"},\"pause\":true}");
	free(text);
	member_status_clear(&s);
}

static void test_member_tag_filter(void **state)
{
	static const struct {
		const char *tags;	/* JSON object */
		const char *written;	/* the tags as written; NULL: no "tags" key */
	} cases[] = {
		{ "{}", NULL },
		{ "{\"nofailover\":false}", NULL },
		{ "{\"nofailover\":false,\"noloadbalance\":false,\"clonefrom\":false,\"nosync\":false,"
		  "\"nostream\":false}",
		  NULL },
		{ "{\"nofailover\":true}", "{\"nofailover\":true}" },
		{ "{\"nofailover\":false,\"failover_priority\":1}",
		  "{\"nofailover\":false,\"failover_priority\":1}" },
		{ "{\"failover_priority\":0,\"nofailover\":null}", "{\"failover_priority\":0,"
								   "\"nofailover\":null}" },
		{ "{\"nosync\":false,\"sync_priority\":1}", "{\"nosync\":false,\"sync_priority\":1}" },
		{ "{\"nosync\":null}", NULL },
		{ "{\"custom\":false}", "{\"custom\":false}" },
		{ "{\"replicatefrom\":\"x\",\"noloadbalance\":true}",
		  "{\"replicatefrom\":\"x\",\"noloadbalance\":true}" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct member_status s;
		char err[ZNODE_ERR_MAX], expected[512];
		char *text;

		sample_member(&s);
		s.tags = json_loads(cases[i].tags, 0, NULL);
		assert_non_null(s.tags);
		snprintf(expected, sizeof(expected),
			 "{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\","
			 "\"api_url\":\"http://10.0.0.1:8008/patroni\",\"state\":\"running\","
			 "\"role\":\"master\",\"version\":\"3.3.1\"%s%s}",
			 cases[i].written ? ",\"tags\":" : "", cases[i].written ? cases[i].written : "");
		text = member_status_encode(&s, err, sizeof(err));
		if (text == NULL || strcmp(text, expected) != 0)
			fail_msg("case %zu:\n  expected %s\n  got      %s", i, expected,
				 text ? text : err);
		free(text);
		member_status_clear(&s);
	}
}

static void test_member_encode_python_escapes(void **state)
{
	struct member_status s;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	sample_member(&s);
	/* Python escapes everything outside ' '..'~' with lower-case hex,
	 * DEL included, and prints floats with repr() */
	assert_true(znode_set_string(&s.state, "\xc3\xa9\xe2\x98\x83\t\"/\\\x7f\b\f\x01\x1f"));
	s.tags = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:i}", "ratio", 0.9, "exact", 0.1 + 0.2,
			   "big", 1e300, "round", 100.0, "tiny", 1.5e-7, "e15", 1e15, "e16", 1e16,
			   "int", 7);
	text = member_status_encode(&s, err, sizeof(err));
	assert_non_null(text);
	/* generated with Python 3: json.dumps(d, separators=(',', ':')) */
	assert_string_equal(
		text,
		"{\"conn_url\":\"postgres://10.0.0.1:5432/postgres\",\"api_url\":"
		"\"http://10.0.0.1:8008/patroni\",\"state\":\"\\u00e9\\u2603\\t\\\"/\\\\\\u007f\\b"
		"\\f\\u0001\\u001f\",\"role\":\"master\",\"version\":\"3.3.1\",\"tags\":{\"ratio\":0.9,"
		"\"exact\":0.30000000000000004,\"big\":1e+300,\"round\":100.0,\"tiny\":1.5e-07,"
		"\"e15\":1000000000000000.0,\"e16\":1e+16,\"int\":7}}");
	free(text);
	member_status_clear(&s);
}

static void test_member_encode_errors(void **state)
{
	static const char *const required[] = { "conn_url", "api_url", "state", "role", "version" };
	struct member_status s;
	char err[ZNODE_ERR_MAX], expected[ZNODE_ERR_MAX];

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(required); i++) {
		sample_member(&s);
		{
			char **fields[] = { &s.conn_url, &s.api_url, &s.state, &s.role, &s.version };

			assert_true(znode_set_string(fields[i], NULL));
		}
		assert_null(member_status_encode(&s, err, sizeof(err)));
		snprintf(expected, sizeof(expected), "member JSON: field \"%s\" is required",
			 required[i]);
		assert_string_equal(err, expected);
		member_status_clear(&s);
	}

	sample_member(&s);
	s.has_timeline = true;
	s.timeline = 0;
	assert_null(member_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "member JSON: field \"timeline\" must be at least 1, got 0");
	s.timeline = 1;
	s.has_xlog_location = true;
	s.xlog_location = -1;
	assert_null(member_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "member JSON: field \"xlog_location\" must be at least 0, got -1");
	s.xlog_location = 0;
	s.tags = json_pack("{s:s}", "nofailover", "yes");
	assert_null(member_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err,
			    "member JSON: field \"tags.nofailover\" must be a boolean, got string");
	json_decref(s.tags);
	s.tags = json_array();
	assert_null(member_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "member JSON: field \"tags\" must be an object, got array");
	json_decref(s.tags);
	s.tags = NULL;
	s.scheduled_restart = json_string("soon");
	assert_null(member_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err,
			    "member JSON: field \"scheduled_restart\" must be an object, got string");
	json_decref(s.scheduled_restart);
	s.scheduled_restart = NULL;
	assert_true(znode_set_string(&s.role, "bad\xff"));
	assert_null(member_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "member JSON: field \"role\" is not valid UTF-8");
	member_status_clear(&s);

	assert_null(member_status_encode(NULL, err, sizeof(err)));
	assert_string_equal(err, "member JSON: nothing to encode");
	/* err may be NULL */
	assert_null(member_status_encode(NULL, NULL, 0));
}

static void test_member_decode_patroni_example(void **state)
{
	struct member_status s;
	char err[ZNODE_ERR_MAX] = "untouched";
	char *text;

	(void)state;
	assert_true(member_status_decode(TEXT(patroni_member), &s, err, sizeof(err)));
	assert_string_equal(err, "");
	assert_string_equal(s.conn_url, "postgres://10.0.0.2:5432/postgres");
	assert_string_equal(s.api_url, "http://10.0.0.2:8008/patroni");
	assert_string_equal(s.state, "running");
	assert_string_equal(s.role, "replica");
	assert_int_equal(member_status_role(&s), MEMBER_STATUS_ROLE_REPLICA);
	assert_string_equal(s.version, "3.3.1");
	assert_true(s.has_xlog_location);
	assert_int_equal(s.xlog_location, 67393704);
	assert_string_equal(s.replication_state, "streaming");
	assert_true(s.has_timeline);
	assert_int_equal(s.timeline, 3);
	assert_true(json_is_object(s.tags));
	assert_int_equal(json_object_size(s.tags), 2);
	assert_false(member_status_nofailover(&s));
	assert_int_equal(member_status_failover_priority(&s), 1);
	assert_true(s.pending_restart);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(s.pending_restart_reason, "max_connections"),
				    "new_value")),
			    "101");
	assert_string_equal(json_string_value(json_object_get(s.scheduled_restart, "schedule")),
			    "2024-07-01T10:00:00+00:00");
	assert_true(s.pause);
	assert_null(s.proxy_url);
	assert_false(s.has_checkpoint_after_promote);

	/* re-encoded in Patroni's own key order, compact */
	text = member_status_encode(&s, err, sizeof(err));
	assert_non_null(text);
	assert_string_equal(text, patroni_member_encoded);
	free(text);
	member_status_clear(&s);
	assert_null(s.tags);
	assert_null(s.conn_url);
}

static void test_member_round_trip(void **state)
{
	static const char *const encodings[] = {
		patroni_member_encoded,
		"{\"conn_url\":\"a\",\"api_url\":\"b\",\"state\":\"stopped\",\"role\":\"uninitialized\","
		"\"version\":\"4.0.0\"}",
		"{\"conn_url\":\"postgres://h:5432/postgres\",\"api_url\":\"https://h:8008/patroni\","
		"\"state\":\"running\",\"role\":\"primary\",\"version\":\"4.0.2\","
		"\"proxy_url\":\"postgres://p:6432/postgres\",\"checkpoint_after_promote\":false,"
		"\"tags\":{\"nofailover\":true,\"x\":[1,{\"y\":null}]},\"xlog_location\":0,"
		"\"timeline\":1}",
		"{\"conn_url\":\"c\",\"api_url\":\"\\u00e9\",\"state\":\"restart failed (running)\","
		"\"role\":\"standby_leader\",\"version\":\"3.0.2\",\"replication_state\":"
		"\"in archive recovery\"}",
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(encodings); i++) {
		struct member_status a, b;
		char err[ZNODE_ERR_MAX];
		char *once, *twice;

		if (!member_status_decode(encodings[i], (int)strlen(encodings[i]), &a, err,
					  sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		once = member_status_encode(&a, err, sizeof(err));
		assert_non_null(once);
		assert_string_equal(once, encodings[i]);
		assert_true(member_status_decode(once, (int)strlen(once), &b, err, sizeof(err)));
		assert_true(member_status_equal(&a, &b));
		twice = member_status_encode(&b, err, sizeof(err));
		assert_string_equal(once, twice);
		free(once);
		free(twice);
		member_status_clear(&a);
		member_status_clear(&b);
	}
}

static void test_member_decode_tolerance(void **state)
{
	/* unknown fields, nulls, Patroni 4 extras, digit-string tags */
	static const char text[] =
		"{\"conn_url\":\"c\",\"api_url\":null,\"state\":\"running\",\"role\":\"primary\","
		"\"version\":\"4.0.0\",\"receive_lsn\":5,\"replay_lsn\":6,\"future\":{\"x\":[1]},"
		"\"timeline\":null,\"xlog_location\":null,\"pause\":null,\"tags\":{\"failover_priority\":"
		"\"-3\",\"nofailover\":null,\"sync_priority\":2}}";
	struct member_status s;
	char err[ZNODE_ERR_MAX];

	(void)state;
	assert_true(member_status_decode(TEXT(text), &s, err, sizeof(err)));
	assert_string_equal(s.conn_url, "c");
	assert_null(s.api_url);
	assert_int_equal(member_status_role(&s), MEMBER_STATUS_ROLE_PRIMARY);
	assert_false(s.has_timeline);
	assert_false(s.has_xlog_location);
	assert_false(s.pause);
	assert_int_equal(member_status_failover_priority(&s), -3);
	assert_true(member_status_nofailover(&s));
	member_status_clear(&s);
}

static void test_member_roles(void **state)
{
	static const struct {
		const char *role;
		enum member_status_role expected;
	} cases[] = {
		{ "master", MEMBER_STATUS_ROLE_PRIMARY },
		{ "primary", MEMBER_STATUS_ROLE_PRIMARY },
		{ "replica", MEMBER_STATUS_ROLE_REPLICA },
		{ "standby_leader", MEMBER_STATUS_ROLE_STANDBY_LEADER },
		{ "promoted", MEMBER_STATUS_ROLE_PROMOTED },
		{ "demoted", MEMBER_STATUS_ROLE_DEMOTED },
		{ "uninitialized", MEMBER_STATUS_ROLE_UNINITIALIZED },
		{ "Master", MEMBER_STATUS_ROLE_OTHER },
		{ "leader", MEMBER_STATUS_ROLE_OTHER },
		{ NULL, MEMBER_STATUS_ROLE_OTHER },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct member_status s = { 0 };

		s.role = (char *)cases[i].role;
		assert_int_equal(member_status_role(&s), cases[i].expected);
	}
	assert_int_equal(member_status_role(NULL), MEMBER_STATUS_ROLE_OTHER);
}

static void test_member_failover_tags(void **state)
{
	static const struct {
		const char *tags;
		bool nofailover;
		long long priority;
		bool noloadbalance;
	} cases[] = {
		{ NULL, false, 1, false },
		{ "{}", false, 1, false },
		{ "{\"nofailover\":true}", true, 0, false },
		{ "{\"nofailover\":false}", false, 1, false },
		{ "{\"failover_priority\":0}", true, 0, false },
		{ "{\"failover_priority\":\"0\"}", true, 0, false },
		{ "{\"failover_priority\":\"5\"}", false, 5, false },
		{ "{\"failover_priority\":-1}", true, -1, false },
		/* an explicit nofailover wins over the priority either way */
		{ "{\"nofailover\":false,\"failover_priority\":0}", false, 0, false },
		{ "{\"nofailover\":true,\"failover_priority\":5}", true, 0, false },
		{ "{\"noloadbalance\":true}", false, 1, true },
		{ "{\"noloadbalance\":false}", false, 1, false },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct member_status s = { 0 };

		if (cases[i].tags)
			s.tags = json_loads(cases[i].tags, 0, NULL);
		if (member_status_nofailover(&s) != cases[i].nofailover ||
		    member_status_failover_priority(&s) != cases[i].priority ||
		    member_status_tag_enabled(&s, "noloadbalance") != cases[i].noloadbalance)
			fail_msg("case %zu (%s): nofailover %d priority %lld", i, cases[i].tags,
				 member_status_nofailover(&s), member_status_failover_priority(&s));
		json_decref(s.tags);
	}

	/* Python truthiness for any tag */
	{
		struct member_status s = { 0 };

		s.tags = json_pack("{s:s,s:s,s:i,s:[],s:{s:n}}", "empty", "", "text", "a", "zero", 0,
				   "list", "obj", "k");
		assert_false(member_status_tag_enabled(&s, "empty"));
		assert_true(member_status_tag_enabled(&s, "text"));
		assert_false(member_status_tag_enabled(&s, "zero"));
		assert_false(member_status_tag_enabled(&s, "list"));
		assert_true(member_status_tag_enabled(&s, "obj"));
		assert_false(member_status_tag_enabled(&s, "missing"));
		assert_false(member_status_tag_enabled(NULL, "text"));
		json_decref(s.tags);
	}
}

static void test_member_equal(void **state)
{
	struct member_status a, b;

	(void)state;
	sample_member(&a);
	sample_member(&b);
	assert_true(member_status_equal(&a, &b));
	/* a false predefined tag is not written, so it changes nothing */
	b.tags = json_pack("{s:b}", "nosync", 0);
	assert_true(member_status_equal(&a, &b));
	b.has_xlog_location = true;
	b.xlog_location = 1;
	assert_false(member_status_equal(&a, &b));
	b.has_xlog_location = false;
	assert_true(znode_set_string(&b.state, "stopped"));
	assert_false(member_status_equal(&a, &b));
	assert_true(znode_set_string(&b.state, "running"));
	assert_true(member_status_equal(&a, &b));
	/* unencodable structs are never equal, not even to themselves */
	assert_true(znode_set_string(&b.conn_url, NULL));
	assert_false(member_status_equal(&b, &b));
	member_status_clear(&a);
	member_status_clear(&b);
}

static void test_member_legacy_url(void **state)
{
	static const struct {
		const char *text;
		const char *conn_url;
		const char *api_url;
	} cases[] = {
		{ "postgres://replicator:secret@10.0.0.1:5432/postgres"
		  "?application_name=http://10.0.0.1:8008/patroni",
		  "postgres://replicator:secret@10.0.0.1:5432/postgres", "http://10.0.0.1:8008/patroni" },
		{ "postgres://h:5432/postgres?x=1&application_name=http%3A%2F%2Fh%3A8008%2Fpatroni&"
		  "application_name=second",
		  "postgres://h:5432/postgres", "http://h:8008/patroni" },
		{ "postgres://h:5432/postgres?application_name=&application_name=a+b",
		  "postgres://h:5432/postgres", "a b" },
		{ "postgres://h:5432/postgres", "postgres://h:5432/postgres", NULL },
		{ "postgresql://h/postgres?application_name=api#frag", "postgresql://h/postgres#frag",
		  "api" },
		{ "postgres://h/postgres?application_name=%zz", "postgres://h/postgres", "%zz" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct member_status s;
		char err[ZNODE_ERR_MAX] = "untouched";

		if (!member_status_decode(cases[i].text, (int)strlen(cases[i].text), &s, err,
					  sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_string_equal(err, "");
		assert_string_equal(s.conn_url, cases[i].conn_url);
		if (cases[i].api_url == NULL)
			assert_null(s.api_url);
		else
			assert_string_equal(s.api_url, cases[i].api_url);
		assert_null(s.state);
		member_status_clear(&s);
	}
}

static void test_member_garbage(void **state)
{
	const struct garbage cases[] = {
		{ TEXT("{\"timeline\":\"3\"}"), "field \"timeline\" must be an integer, got string" },
		{ TEXT("{\"timeline\":0}"), "field \"timeline\" must be at least 1, got 0" },
		{ TEXT("{\"timeline\":3.0}"), "field \"timeline\" must be an integer, got real" },
		{ TEXT("{\"xlog_location\":-1}"),
		  "field \"xlog_location\" must be at least 0, got -1" },
		{ TEXT("{\"xlog_location\":true}"),
		  "field \"xlog_location\" must be an integer, got boolean" },
		{ TEXT("{\"conn_url\":5}"), "field \"conn_url\" must be a string, got integer" },
		{ TEXT("{\"api_url\":{}}"), "field \"api_url\" must be a string, got object" },
		{ TEXT("{\"state\":[\"running\"]}"), "field \"state\" must be a string, got array" },
		{ TEXT("{\"role\":false}"), "field \"role\" must be a string, got boolean" },
		{ TEXT("{\"version\":3.3}"), "field \"version\" must be a string, got real" },
		{ TEXT("{\"proxy_url\":1}"), "field \"proxy_url\" must be a string, got integer" },
		{ TEXT("{\"replication_state\":1}"),
		  "field \"replication_state\" must be a string, got integer" },
		{ TEXT("{\"tags\":[]}"), "field \"tags\" must be an object, got array" },
		{ TEXT("{\"tags\":{\"nofailover\":\"yes\"}}"),
		  "field \"tags.nofailover\" must be a boolean, got string" },
		{ TEXT("{\"tags\":{\"nostream\":1}}"),
		  "field \"tags.nostream\" must be a boolean, got integer" },
		{ TEXT("{\"tags\":{\"failover_priority\":\"high\"}}"),
		  "field \"tags.failover_priority\" must be an integer, got non-numeric string" },
		{ TEXT("{\"tags\":{\"failover_priority\":\"99999999999999999999\"}}"),
		  "field \"tags.failover_priority\" must be an integer, got non-numeric string" },
		{ TEXT("{\"tags\":{\"failover_priority\":1.5}}"),
		  "field \"tags.failover_priority\" must be an integer, got real" },
		{ TEXT("{\"tags\":{\"sync_priority\":[]}}"),
		  "field \"tags.sync_priority\" must be an integer, got array" },
		{ TEXT("{\"tags\":{\"replicatefrom\":1}}"),
		  "field \"tags.replicatefrom\" must be a string, got integer" },
		{ TEXT("{\"pause\":\"true\"}"), "field \"pause\" must be a boolean, got string" },
		{ TEXT("{\"pending_restart\":1}"),
		  "field \"pending_restart\" must be a boolean, got integer" },
		{ TEXT("{\"checkpoint_after_promote\":\"false\"}"),
		  "field \"checkpoint_after_promote\" must be a boolean, got string" },
		{ TEXT("{\"scheduled_restart\":\"x\"}"),
		  "field \"scheduled_restart\" must be an object, got string" },
		{ TEXT("{\"pending_restart_reason\":[]}"),
		  "field \"pending_restart_reason\" must be an object, got array" },
	};

	(void)state;
	expect_garbage(decode_member, "member JSON", cases, N_ELEMENTS(cases));

	/* the legacy URL form has its own prefix */
	{
		const struct garbage legacy[] = {
			{ TEXT("postgres://h/postgres\x01"),
			  "legacy connection URL is not clean UTF-8 text" },
			{ TEXT("postgres://h/postgres\n"),
			  "legacy connection URL is not clean UTF-8 text" },
			{ TEXT("postgres://h/\0postgres"),
			  "legacy connection URL is not clean UTF-8 text" },
			{ TEXT("postgres://h/\xff"), "legacy connection URL is not clean UTF-8 text" },
			{ TEXT("postgres://h/postgres?application_name=a%00b"),
			  "application_name is not clean UTF-8 text" },
			{ TEXT("postgres://h/postgres?application_name=%C3%28"),
			  "application_name is not clean UTF-8 text" },
		};

		expect_garbage(decode_member, "member", legacy, N_ELEMENTS(legacy));
	}
}

/* ------------------------------------------------------------------------
 * leader, initialize, optime/leader
 * ------------------------------------------------------------------------ */

static bool decode_leader(const char *data, int len, char *err, size_t err_size)
{
	char name[ZNODE_NAME_MAX + 1];

	return znode_leader_decode(data, len, name, sizeof(name), err, err_size);
}

static void test_leader(void **state)
{
	char name[ZNODE_NAME_MAX + 1];
	char err[ZNODE_ERR_MAX] = "untouched";
	static char longest[ZNODE_NAME_MAX + 1];

	(void)state;
	assert_true(znode_leader_decode(TEXT("postgresql0"), name, sizeof(name), err, sizeof(err)));
	assert_string_equal(name, "postgresql0");
	assert_string_equal(err, "");
	/* not NUL-terminated input */
	assert_true(znode_leader_decode("node-1XYZ", 6, name, sizeof(name), err, sizeof(err)));
	assert_string_equal(name, "node-1");
	memset(longest, 'n', ZNODE_NAME_MAX);
	assert_true(znode_leader_decode(longest, ZNODE_NAME_MAX, name, sizeof(name), err,
					sizeof(err)));
	assert_int_equal(strlen(name), ZNODE_NAME_MAX);
	/* the buffer must hold the name and its NUL */
	assert_false(znode_leader_decode(TEXT("node1"), name, 5, err, sizeof(err)));
	assert_string_equal(err, "leader: member name does not fit the buffer");
	assert_string_equal(name, "");
	assert_true(znode_leader_decode(TEXT("node1"), name, 6, err, sizeof(err)));
}

static void test_leader_garbage(void **state)
{
	static char too_long[ZNODE_NAME_MAX + 1];
	const struct garbage cases[] = {
		{ TEXT(""), "znode is empty" },
		{ NULL, -1, "znode is empty" },
		{ TEXT("postgresql0\n"), "member name contains a control character" },
		{ TEXT(" postgresql0"), NULL }, /* spaces are valid in names: accepted */
		{ TEXT("a/b"), "member name contains '/'" },
		{ TEXT("ab\0c"), "member name contains a NUL byte" },
		{ TEXT("."), "member name is \".\" or \"..\"" },
		{ TEXT("\xff\xfe"), "member name is not valid UTF-8" },
		{ TEXT("\xef\xbf\xbf"), "member name contains a character ZooKeeper rejects" },
		/* JSON punctuation is legal in a znode name: taken literally */
		{ TEXT("{\"leader\":\"x\"}"), NULL },
		{ too_long, (int)sizeof(too_long), "member name is longer than 200 bytes" },
	};

	(void)state;
	memset(too_long, 'n', sizeof(too_long));
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		if (cases[i].reason == NULL) {
			char err[ZNODE_ERR_MAX];

			assert_true(decode_leader(cases[i].data, cases[i].len, err, sizeof(err)));
			continue;
		}
		expect_garbage(decode_leader, "leader", &cases[i], 1);
	}
}

static void test_initialize(void **state)
{
	char err[ZNODE_ERR_MAX] = "untouched";
	char buf[32];
	bool bootstrapping = true;
	uint64_t sysid = 1;

	(void)state;
	assert_true(znode_initialize_decode(TEXT("7277694203142172922"), &bootstrapping, &sysid,
					    err, sizeof(err)));
	assert_false(bootstrapping);
	assert_true(sysid == UINT64_C(7277694203142172922));
	assert_string_equal(err, "");

	assert_true(znode_initialize_decode(TEXT("18446744073709551615"), &bootstrapping, &sysid,
					    err, sizeof(err)));
	assert_true(sysid == UINT64_MAX);

	/* empty and "no data" both mean a bootstrap is running */
	assert_true(znode_initialize_decode(TEXT(""), &bootstrapping, &sysid, err, sizeof(err)));
	assert_true(bootstrapping);
	assert_true(sysid == 0);
	bootstrapping = false;
	assert_true(znode_initialize_decode(NULL, -1, &bootstrapping, &sysid, err, sizeof(err)));
	assert_true(bootstrapping);

	assert_true(znode_initialize_encode(buf, sizeof(buf), UINT64_C(7277694203142172922)));
	assert_string_equal(buf, "7277694203142172922");
	assert_false(znode_initialize_encode(buf, sizeof(buf), 0));
	assert_false(znode_initialize_encode(buf, 19, UINT64_C(7277694203142172922)));
	assert_string_equal(buf, "");
}

static bool decode_initialize(const char *data, int len, char *err, size_t err_size)
{
	bool bootstrapping;
	uint64_t sysid;

	return znode_initialize_decode(data, len, &bootstrapping, &sysid, err, err_size);
}

static void test_initialize_garbage(void **state)
{
	static const char *const digits_only =
		"must be a decimal system identifier (digits only, up to 18446744073709551615)";
	const struct garbage cases[] = {
		{ TEXT("abc"), digits_only },
		{ TEXT("7277694203142172922\n"), digits_only },
		{ TEXT(" 7277694203142172922"), digits_only },
		{ TEXT("-1"), digits_only },
		{ TEXT("+1"), digits_only },
		{ TEXT("18446744073709551616"), digits_only },
		{ TEXT("99999999999999999999999"), digits_only },
		{ TEXT("12\0"), digits_only },
		{ TEXT("\"7277694203142172922\""), digits_only },
		{ TEXT("\x89PNG"), digits_only },
		{ TEXT("0"), "system identifier 0 is not valid" },
		{ TEXT("0000"), "system identifier 0 is not valid" },
	};

	(void)state;
	expect_garbage(decode_initialize, "initialize", cases, N_ELEMENTS(cases));
}

static bool decode_optime(const char *data, int len, char *err, size_t err_size)
{
	int64_t lsn;

	return znode_optime_decode(data, len, &lsn, err, err_size);
}

static void test_optime(void **state)
{
	char err[ZNODE_ERR_MAX];
	int64_t lsn = -1;
	const struct garbage cases[] = {
		{ TEXT(""), "znode is empty" },
		{ NULL, -1, "znode is empty" },
		{ TEXT("-1"), "must be a decimal LSN in bytes" },
		{ TEXT("0/3000060"), "must be a decimal LSN in bytes" },
		{ TEXT("9223372036854775808"), "must be a decimal LSN in bytes" },
		{ TEXT("1\0"), "must be a decimal LSN in bytes" },
	};

	(void)state;
	assert_true(znode_optime_decode(TEXT("67393704"), &lsn, err, sizeof(err)));
	assert_int_equal(lsn, 67393704);
	assert_true(znode_optime_decode(TEXT("9223372036854775807"), &lsn, err, sizeof(err)));
	assert_true(lsn == INT64_MAX);
	expect_garbage(decode_optime, "optime/leader", cases, N_ELEMENTS(cases));
}

/* ------------------------------------------------------------------------
 * config
 * ------------------------------------------------------------------------ */

static void test_config_defaults(void **state)
{
	struct znode_config c;
	char err[ZNODE_ERR_MAX];

	(void)state;
	assert_true(znode_config_decode(TEXT("{}"), &c, err, sizeof(err)));
	assert_non_null(c.json);
	assert_int_equal(c.ttl, 30);
	assert_int_equal(c.loop_wait, 10);
	assert_int_equal(c.retry_timeout, 10);
	assert_int_equal(c.maximum_lag_on_failover, 1048576);
	assert_int_equal(c.maximum_lag_on_syncnode, -1);
	assert_int_equal(c.max_timelines_history, 0);
	assert_int_equal(c.primary_start_timeout, 300);
	assert_int_equal(c.primary_stop_timeout, 0);
	assert_false(c.synchronous_mode);
	assert_false(c.synchronous_mode_quorum);
	assert_false(c.synchronous_mode_strict);
	assert_int_equal(c.synchronous_node_count, 1);
	assert_false(c.check_timeline);
	assert_false(c.failsafe_mode);
	assert_false(c.pause);
	assert_false(c.use_pg_rewind);
	assert_true(c.use_slots);
	assert_null(c.parameters);
	assert_null(c.standby_cluster);
	assert_null(c.slots);
	assert_null(c.ignore_slots);
	znode_config_clear(&c);
	assert_null(c.json);

	/* znode_config_defaults() gives the same values without a json */
	znode_config_defaults(&c);
	assert_null(c.json);
	assert_int_equal(c.ttl, 30);
	assert_int_equal(c.primary_start_timeout, 300);
	assert_true(c.use_slots);
	znode_config_clear(&c);
}

static void test_config_patroni_example(void **state)
{
	struct znode_config c;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	assert_true(znode_config_decode(TEXT(patroni_config), &c, err, sizeof(err)));
	assert_int_equal(c.ttl, 30);
	assert_int_equal(c.loop_wait, 10);
	assert_int_equal(c.retry_timeout, 10);
	assert_int_equal(c.maximum_lag_on_failover, 1048576);
	assert_true(c.use_pg_rewind);
	assert_true(c.use_slots);
	assert_non_null(c.parameters);
	assert_string_equal(json_string_value(json_object_get(c.parameters, "wal_level")),
			    "replica");
	text = znode_config_encode(c.json, err, sizeof(err));
	assert_non_null(text);
	assert_string_equal(text, patroni_config);
	free(text);
	znode_config_clear(&c);
}

static void test_config_values(void **state)
{
	static const char text[] =
		"{\"ttl\":\"20\",\"loop_wait\":5,\"retry_timeout\":\"7\",\"master_start_timeout\":60,"
		"\"master_stop_timeout\":5,\"primary_stop_timeout\":9,\"synchronous_mode\":\"quorum\","
		"\"synchronous_mode_strict\":true,\"synchronous_node_count\":2,"
		"\"maximum_lag_on_failover\":-5,\"maximum_lag_on_syncnode\":100,"
		"\"max_timelines_history\":3,\"check_timeline\":true,\"failsafe_mode\":true,"
		"\"pause\":true,\"postgresql\":{\"use_slots\":false,\"use_pg_rewind\":null,"
		"\"parameters\":{\"checkpoint_completion_target\":0.9}},"
		"\"standby_cluster\":{\"host\":\"h\"},\"permanent_slots\":{},"
		"\"slots\":{\"s\":{\"type\":\"physical\"}},\"ignore_slots\":[{\"name\":\"x\"}],"
		"\"unknown\":{\"kept\":true}}";
	struct znode_config c;
	char err[ZNODE_ERR_MAX];
	char *encoded;

	(void)state;
	assert_true(znode_config_decode(TEXT(text), &c, err, sizeof(err)));
	assert_int_equal(c.ttl, 20);
	assert_int_equal(c.loop_wait, 5);
	assert_int_equal(c.retry_timeout, 7);
	assert_int_equal(c.primary_start_timeout, 60);	/* from the alias */
	assert_int_equal(c.primary_stop_timeout, 9);	/* the new name wins */
	assert_true(c.synchronous_mode);
	assert_true(c.synchronous_mode_quorum);
	assert_true(c.synchronous_mode_strict);
	assert_int_equal(c.synchronous_node_count, 2);
	assert_int_equal(c.maximum_lag_on_failover, -5);
	assert_int_equal(c.maximum_lag_on_syncnode, 100);
	assert_int_equal(c.max_timelines_history, 3);
	assert_true(c.check_timeline);
	assert_true(c.failsafe_mode);
	assert_true(c.pause);
	assert_false(c.use_slots);
	assert_false(c.use_pg_rewind);	/* null keeps the default */
	assert_non_null(c.standby_cluster);
	/* empty permanent_slots is skipped, like Patroni's "or" chain */
	assert_non_null(json_object_get(c.slots, "s"));
	assert_int_equal(json_array_size(c.ignore_slots), 1);
	assert_true(json_is_true(json_object_get(json_object_get(c.json, "unknown"), "kept")));

	/* the object goes back out unchanged, reals printed like Python */
	encoded = znode_config_encode(c.json, err, sizeof(err));
	assert_string_equal(encoded, text);
	free(encoded);
	znode_config_clear(&c);

	/* primary_start_timeout: null still shadows the alias (Patroni checks
	 * "in config"), giving the default */
	assert_true(znode_config_decode(
		TEXT("{\"primary_start_timeout\":null,\"master_start_timeout\":60,"
		     "\"synchronous_mode\":false}"),
		&c, err, sizeof(err)));
	assert_int_equal(c.primary_start_timeout, 300);
	assert_false(c.synchronous_mode);
	assert_false(c.synchronous_mode_quorum);
	znode_config_clear(&c);
}

static void test_config_from_json(void **state)
{
	struct znode_config c;
	char err[ZNODE_ERR_MAX];
	json_t *obj = json_pack("{s:i,s:{s:b}}", "ttl", 40, "postgresql", "use_slots", 0);
	char *text;

	(void)state;
	assert_true(znode_config_from_json(obj, &c, err, sizeof(err)));
	assert_int_equal(c.ttl, 40);
	assert_false(c.use_slots);
	/* c holds its own copy: changing obj afterwards does not reach it */
	json_object_set_new(obj, "ttl", json_integer(50));
	assert_int_equal(json_integer_value(json_object_get(c.json, "ttl")), 40);
	znode_config_clear(&c);

	text = znode_config_encode(obj, err, sizeof(err));
	assert_string_equal(text, "{\"ttl\":50,\"postgresql\":{\"use_slots\":false}}");
	free(text);

	json_object_set_new(obj, "loop_wait", json_string("ten"));
	assert_null(znode_config_encode(obj, err, sizeof(err)));
	assert_string_equal(err,
			    "config JSON: field \"loop_wait\" must be an integer, got non-numeric "
			    "string");
	assert_false(znode_config_from_json(obj, &c, err, sizeof(err)));
	assert_null(c.json);
	json_decref(obj);

	obj = json_array();
	assert_null(znode_config_encode(obj, err, sizeof(err)));
	assert_string_equal(err, "config JSON: must be a JSON object, got array");
	json_decref(obj);
	assert_null(znode_config_encode(NULL, err, sizeof(err)));
	assert_string_equal(err, "config JSON: must be a JSON object, got nothing");
}

static void test_config_garbage(void **state)
{
	const struct garbage cases[] = {
		{ TEXT("{\"ttl\":\"thirty\"}"),
		  "field \"ttl\" must be an integer, got non-numeric string" },
		{ TEXT("{\"ttl\":\"30 \"}"), "field \"ttl\" must be an integer, got non-numeric string" },
		{ TEXT("{\"ttl\":30.5}"), "field \"ttl\" must be an integer, got real" },
		{ TEXT("{\"ttl\":-1}"), "field \"ttl\" must be at least 0, got -1" },
		{ TEXT("{\"loop_wait\":true}"), "field \"loop_wait\" must be an integer, got boolean" },
		{ TEXT("{\"retry_timeout\":[]}"),
		  "field \"retry_timeout\" must be an integer, got array" },
		{ TEXT("{\"maximum_lag_on_failover\":{}}"),
		  "field \"maximum_lag_on_failover\" must be an integer, got object" },
		{ TEXT("{\"master_start_timeout\":\"x\"}"),
		  "field \"master_start_timeout\" must be an integer, got non-numeric string" },
		{ TEXT("{\"primary_start_timeout\":-1,\"master_start_timeout\":1}"),
		  "field \"primary_start_timeout\" must be at least 0, got -1" },
		{ TEXT("{\"synchronous_node_count\":0}"),
		  "field \"synchronous_node_count\" must be at least 1, got 0" },
		{ TEXT("{\"synchronous_mode\":\"yes\"}"),
		  "field \"synchronous_mode\" must be a boolean or \"quorum\", got string" },
		{ TEXT("{\"synchronous_mode\":1}"),
		  "field \"synchronous_mode\" must be a boolean or \"quorum\", got integer" },
		{ TEXT("{\"synchronous_mode_strict\":1}"),
		  "field \"synchronous_mode_strict\" must be a boolean, got integer" },
		{ TEXT("{\"pause\":\"true\"}"), "field \"pause\" must be a boolean, got string" },
		{ TEXT("{\"failsafe_mode\":[]}"), "field \"failsafe_mode\" must be a boolean, got array" },
		{ TEXT("{\"postgresql\":[]}"), "field \"postgresql\" must be an object, got array" },
		{ TEXT("{\"postgresql\":{\"use_slots\":\"on\"}}"),
		  "field \"postgresql.use_slots\" must be a boolean, got string" },
		{ TEXT("{\"postgresql\":{\"use_pg_rewind\":1}}"),
		  "field \"postgresql.use_pg_rewind\" must be a boolean, got integer" },
		{ TEXT("{\"postgresql\":{\"parameters\":[]}}"),
		  "field \"postgresql.parameters\" must be an object, got array" },
		{ TEXT("{\"standby_cluster\":\"x\"}"),
		  "field \"standby_cluster\" must be an object, got string" },
		{ TEXT("{\"slots\":[]}"), "field \"slots\" must be an object, got array" },
		{ TEXT("{\"permanent_replication_slots\":1}"),
		  "field \"permanent_replication_slots\" must be an object, got integer" },
		{ TEXT("{\"ignore_slots\":{}}"), "field \"ignore_slots\" must be an array, got object" },
	};

	(void)state;
	expect_garbage(decode_config, "config JSON", cases, N_ELEMENTS(cases));
}

/* ------------------------------------------------------------------------
 * failover
 * ------------------------------------------------------------------------ */

static void test_failover_patroni_example(void **state)
{
	struct znode_failover f;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	assert_true(znode_failover_decode(TEXT(patroni_failover), &f, err, sizeof(err)));
	assert_string_equal(f.leader, "postgresql0");
	assert_string_equal(f.member, "postgresql2");
	assert_string_equal(f.scheduled_at, "2024-07-01T12:00:00+00:00");
	assert_true(f.scheduled_at_ms == INT64_C(1719835200000));
	assert_false(znode_failover_is_empty(&f));
	text = znode_failover_encode(&f, err, sizeof(err));
	assert_string_equal(text, patroni_failover);
	free(text);
	znode_failover_clear(&f);
}

static void test_failover_forms(void **state)
{
	static const struct {
		const char *text;
		const char *leader;
		const char *member;
		const char *encoded; /* what we would write back */
	} cases[] = {
		{ "{}", NULL, NULL, "{}" },
		{ "{\"leader\":\"a\"}", "a", NULL, "{\"leader\":\"a\"}" },
		{ "{\"member\":\"b\"}", NULL, "b", "{\"member\":\"b\"}" },
		{ "{\"leader\":\"\",\"member\":null,\"scheduled_at\":\"\"}", NULL, NULL, "{}" },
		{ "{\"member\":\"b\",\"leader\":\"a\",\"extra\":1}", "a", "b",
		  "{\"leader\":\"a\",\"member\":\"b\"}" },
		/* the REST field "candidate" is not what the znode holds */
		{ "{\"candidate\":\"b\"}", NULL, NULL, "{}" },
		/* legacy text */
		{ "a:b", "a", "b", "{\"leader\":\"a\",\"member\":\"b\"}" },
		{ " a : b \n", "a", "b", "{\"leader\":\"a\",\"member\":\"b\"}" },
		{ "a", "a", NULL, "{\"leader\":\"a\"}" },
		{ "a:", "a", NULL, "{\"leader\":\"a\"}" },
		{ ":b", NULL, "b", "{\"member\":\"b\"}" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct znode_failover f;
		char err[ZNODE_ERR_MAX];
		char *text;

		if (!znode_failover_decode(cases[i].text, (int)strlen(cases[i].text), &f, err,
					   sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		if (cases[i].leader)
			assert_string_equal(f.leader, cases[i].leader);
		else
			assert_null(f.leader);
		if (cases[i].member)
			assert_string_equal(f.member, cases[i].member);
		else
			assert_null(f.member);
		assert_int_equal(znode_failover_is_empty(&f),
				 cases[i].leader == NULL && cases[i].member == NULL);
		text = znode_failover_encode(&f, err, sizeof(err));
		assert_non_null(text);
		assert_string_equal(text, cases[i].encoded);
		free(text);
		znode_failover_clear(&f);
	}
}

static void test_failover_timestamps(void **state)
{
	static const struct {
		const char *at;
		int64_t ms;
	} cases[] = {
		{ "2024-07-01T12:00:00+00:00", INT64_C(1719835200000) },
		{ "2016-01-14T10:09:57.1394Z", INT64_C(1452766197139) },
		{ "2016-01-14T10:09:57.1394+00:00", INT64_C(1452766197139) },
		{ "2024-06-30T16:57:57+02:00", INT64_C(1719759477000) },
		{ "2024-06-30T16:57:57+0200", INT64_C(1719759477000) },
		{ "2024-06-30 14:57:57z", INT64_C(1719759477000) },
		{ "2000-02-29T23:59:59-05:30", INT64_C(951888599000) },
		{ "1970-01-01T00:00:00+00:00", 0 },
		{ "2024-07-01T12:00+00:00", INT64_C(1719835200000) },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct znode_failover f;
		char text[128], err[ZNODE_ERR_MAX];

		snprintf(text, sizeof(text), "{\"member\":\"b\",\"scheduled_at\":\"%s\"}", cases[i].at);
		if (!znode_failover_decode(text, (int)strlen(text), &f, err, sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		if (f.scheduled_at_ms != cases[i].ms)
			fail_msg("case %zu %s: got %lld", i, cases[i].at, (long long)f.scheduled_at_ms);
		znode_failover_clear(&f);
	}
}

static void test_failover_garbage(void **state)
{
	static const char *const bad_times[] = {
		"tomorrow",
		"2024-07-01T12:00:00",		/* no time zone */
		"2024-07-01",
		"2024-02-30T12:00:00Z",
		"2023-02-29T12:00:00Z",
		"1900-02-29T12:00:00Z",		/* not a leap year (2000 was) */
		"2024-13-01T12:00:00Z",
		"2024-07-01T24:00:00Z",
		"2024-07-01T12:60:00Z",
		"2024-07-01T12:00:60Z",
		"2024-07-01T12:00:00+24:00",
		"2024-07-01T12:00:00+01:",
		"2024-07-01T12:00:00.Z",
		"2024-07-01T12:00:00Z ",
		"0000-01-01T00:00:00Z",
		"2024-7-1T12:00:00Z",
	};
	const struct garbage cases[] = {
		{ TEXT("{\"leader\":5}"), "field \"leader\" must be a string, got integer" },
		{ TEXT("{\"member\":[]}"), "field \"member\" must be a string, got array" },
		{ TEXT("{\"member\":\"a/b\"}"),
		  "field \"member\" is not a valid member name: it contains '/'" },
		{ TEXT("{\"leader\":\"..\"}"),
		  "field \"leader\" is not a valid member name: it is \".\" or \"..\"" },
		{ TEXT("{\"scheduled_at\":5}"), "field \"scheduled_at\" must be a string, got integer" },
		/* quoted up to 40 bytes; non-ASCII bytes become '?' */
		{ TEXT("{\"scheduled_at\":\"2024-07-01T12:00:00\\u00e9 and much more text to cut\"}"),
		  "field \"scheduled_at\" is not an ISO-8601 time with a time zone: "
		  "\"2024-07-01T12:00:00?? and much more text\"" },
		{ TEXT("[{}]"), "must be a JSON object, got array" },
		{ TEXT("{\"leader\":\"a\""),
		  "invalid JSON at line 1 column 13: '}' expected near end of file" },
	};
	const struct garbage legacy[] = {
		{ TEXT("a:b:c"), "legacy \"leader:candidate\" text has more than one ':'" },
		{ TEXT("a/b:c"), "field \"leader\" is not a valid member name: it contains '/'" },
		{ TEXT("a:.."),
		  "field \"member\" is not a valid member name: it is \".\" or \"..\"" },
	};

	(void)state;
	expect_garbage(decode_failover, "failover JSON", cases, N_ELEMENTS(cases));
	expect_garbage(decode_failover, "failover", legacy, N_ELEMENTS(legacy));
	for (size_t i = 0; i < N_ELEMENTS(bad_times); i++) {
		char text[128], reason[ZNODE_ERR_MAX];
		struct garbage g;

		snprintf(text, sizeof(text), "{\"scheduled_at\":\"%s\"}", bad_times[i]);
		snprintf(reason, sizeof(reason),
			 "field \"scheduled_at\" is not an ISO-8601 time with a time zone: \"%s\"",
			 bad_times[i]);
		g.data = text;
		g.len = (int)strlen(text);
		g.reason = reason;
		expect_garbage(decode_failover, "failover JSON", &g, 1);
	}
}

static void test_failover_encode_errors(void **state)
{
	struct znode_failover f = { 0 };
	char err[ZNODE_ERR_MAX];

	(void)state;
	f.member = "a/b";
	assert_null(znode_failover_encode(&f, err, sizeof(err)));
	assert_string_equal(err,
			    "failover JSON: field \"member\" is not a valid member name: it contains '/'");
	f.member = "b";
	f.scheduled_at = "in an hour";
	assert_null(znode_failover_encode(&f, err, sizeof(err)));
	assert_string_equal(err, "failover JSON: field \"scheduled_at\" is not an ISO-8601 time "
				 "with a time zone: \"in an hour\"");
	assert_null(znode_failover_encode(NULL, err, sizeof(err)));
	assert_string_equal(err, "failover JSON: nothing to encode");
	assert_true(znode_failover_is_empty(NULL));
}

/* ------------------------------------------------------------------------
 * sync
 * ------------------------------------------------------------------------ */

static void test_sync_patroni_example(void **state)
{
	struct znode_sync s;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	assert_true(znode_sync_decode(TEXT(patroni_sync), &s, err, sizeof(err)));
	assert_string_equal(s.leader, "postgresql0");
	assert_int_equal(s.n_standbys, 1);
	assert_string_equal(s.standbys[0], "postgresql1");
	assert_false(s.has_quorum);
	text = znode_sync_encode(&s, err, sizeof(err));
	assert_string_equal(text, patroni_sync);
	free(text);
	znode_sync_clear(&s);
}

static void test_sync_forms(void **state)
{
	static const struct {
		const char *text;
		const char *leader;
		size_t n;
		const char *first, *last;
		const char *encoded;
	} cases[] = {
		{ "{}", NULL, 0, NULL, NULL, "{}" },
		{ "{\"leader\":null,\"sync_standby\":null}", NULL, 0, NULL, NULL, "{}" },
		{ "{\"leader\":\"\",\"sync_standby\":\"a\"}", NULL, 0, NULL, NULL, "{}" },
		{ "{\"leader\":\"p\",\"sync_standby\":null}", "p", 0, NULL, NULL,
		  "{\"leader\":\"p\",\"sync_standby\":null}" },
		{ "{\"leader\":\"p\",\"sync_standby\":\"c,a,b\"}", "p", 3, "c", "b",
		  "{\"leader\":\"p\",\"sync_standby\":\"a,b,c\"}" },
		{ "{\"leader\":\"p\",\"sync_standby\":\" a , ,b,\"}", "p", 2, "a", "b",
		  "{\"leader\":\"p\",\"sync_standby\":\"a,b\"}" },
		{ "{\"leader\":\"p\",\"sync_standby\":\"\"}", "p", 0, NULL, NULL,
		  "{\"leader\":\"p\",\"sync_standby\":null}" },
		/* Patroni 4 quorum commit */
		{ "{\"leader\":\"p\",\"quorum\":1,\"sync_standby\":\"b,a\"}", "p", 2, "b", "a",
		  "{\"leader\":\"p\",\"quorum\":1,\"sync_standby\":\"a,b\"}" },
		{ "{\"leader\":\"p\",\"quorum\":\"2\",\"sync_standby\":\"a\"}", "p", 1, "a", "a",
		  "{\"leader\":\"p\",\"quorum\":2,\"sync_standby\":\"a\"}" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct znode_sync s;
		char err[ZNODE_ERR_MAX];
		char *text;

		if (!znode_sync_decode(cases[i].text, (int)strlen(cases[i].text), &s, err,
				       sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		if (cases[i].leader)
			assert_string_equal(s.leader, cases[i].leader);
		else
			assert_null(s.leader);
		assert_int_equal(s.n_standbys, cases[i].n);
		if (cases[i].n > 0) {
			assert_string_equal(s.standbys[0], cases[i].first);
			assert_string_equal(s.standbys[cases[i].n - 1], cases[i].last);
		}
		text = znode_sync_encode(&s, err, sizeof(err));
		if (text == NULL || strcmp(text, cases[i].encoded) != 0)
			fail_msg("case %zu: expected %s got %s", i, cases[i].encoded, text ? text : err);
		free(text);
		znode_sync_clear(&s);
	}
}

static void test_sync_build(void **state)
{
	struct znode_sync s = { 0 };
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	/* sorted by code point, like Python's sorted() */
	assert_true(znode_set_string(&s.leader, "node1"));
	assert_true(znode_sync_add_standby(&s, "node3", err, sizeof(err)));
	assert_true(znode_sync_add_standby(&s, "Node9", err, sizeof(err)));
	assert_true(znode_sync_add_standby(&s, "\xc3\xa9t\xc3\xa9", err, sizeof(err)));
	assert_true(znode_sync_add_standby(&s, "node10", err, sizeof(err)));
	text = znode_sync_encode(&s, err, sizeof(err));
	assert_string_equal(text, "{\"leader\":\"node1\",\"sync_standby\":"
				  "\"Node9,node10,node3,\\u00e9t\\u00e9\"}");
	free(text);
	/* the input order is left alone */
	assert_string_equal(s.standbys[0], "node3");

	assert_false(znode_sync_add_standby(&s, "a,b", err, sizeof(err)));
	assert_string_equal(err, "sync: standby name \"a,b\" contains ',', the list separator");
	assert_false(znode_sync_add_standby(&s, "", err, sizeof(err)));
	assert_string_equal(err, "sync: field \"sync_standby\" is not a valid member name: it is "
				 "empty");
	assert_false(znode_sync_add_standby(&s, NULL, err, sizeof(err)));
	assert_int_equal(s.n_standbys, 4);

	s.has_quorum = true;
	s.quorum = -1;
	assert_null(znode_sync_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "sync JSON: field \"quorum\" must be at least 0, got -1");
	s.has_quorum = false;

	free(s.leader);
	s.leader = NULL;
	assert_null(znode_sync_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "sync JSON: sync standbys without a leader");
	znode_sync_clear(&s);
	text = znode_sync_encode(&s, err, sizeof(err));
	assert_string_equal(text, "{}");
	free(text);
}

static void test_sync_garbage(void **state)
{
	const struct garbage cases[] = {
		{ TEXT("{\"leader\":1}"), "field \"leader\" must be a string, got integer" },
		{ TEXT("{\"sync_standby\":[\"a\"]}"),
		  "field \"sync_standby\" must be a string, got array" },
		{ TEXT("{\"leader\":\"a/b\"}"),
		  "field \"leader\" is not a valid member name: it contains '/'" },
		{ TEXT("{\"leader\":\"a\",\"sync_standby\":\"b,c/d\"}"),
		  "field \"sync_standby\" holds a name that contains '/'" },
		{ TEXT("{\"leader\":\"a\",\"sync_standby\":\"b,\\u0001\"}"),
		  "field \"sync_standby\" holds a name that contains a control character" },
		{ TEXT("{\"leader\":\"a\",\"quorum\":-1}"), "field \"quorum\" must be at least 0, got -1" },
		{ TEXT("{\"leader\":\"a\",\"quorum\":\"x\"}"),
		  "field \"quorum\" must be an integer, got non-numeric string" },
		{ TEXT("{\"leader\":\"a\",\"quorum\":true}"),
		  "field \"quorum\" must be an integer, got boolean" },
	};

	(void)state;
	expect_garbage(decode_sync, "sync JSON", cases, N_ELEMENTS(cases));
}

/* ------------------------------------------------------------------------
 * status
 * ------------------------------------------------------------------------ */

static void test_status_patroni_example(void **state)
{
	struct znode_status s;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	assert_true(znode_status_decode(TEXT(patroni_status), &s, err, sizeof(err)));
	assert_int_equal(s.optime, 67393704);
	assert_int_equal(s.n_slots, 2);
	assert_string_equal(s.slots[0].name, "postgresql0");
	assert_int_equal(s.slots[0].lsn, 67393704);
	assert_string_equal(s.slots[1].name, "test_physical");
	text = znode_status_encode(&s, err, sizeof(err));
	assert_string_equal(text, patroni_status);
	free(text);
	znode_status_clear(&s);
}

static void test_status_forms(void **state)
{
	static const struct {
		const char *text;
		int64_t optime;
		size_t n_slots;
		const char *encoded;
	} cases[] = {
		{ "{\"optime\":5}", 5, 0, "{\"optime\":5}" },
		{ "{\"optime\":5,\"slots\":null}", 5, 0, "{\"optime\":5}" },
		{ "{\"optime\":5,\"slots\":{}}", 5, 0, "{\"optime\":5}" },
		/* Patroni 4 writes retain_slots; we ignore it */
		{ "{\"optime\":7,\"slots\":{\"b\":1,\"a\":2},\"retain_slots\":[\"a\"]}", 7, 2,
		  "{\"optime\":7,\"slots\":{\"b\":1,\"a\":2}}" },
		/* Status.from_node() legacy: a bare number */
		{ "67393704", 67393704, 0, "{\"optime\":67393704}" },
		{ "0", 0, 0, "{\"optime\":0}" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct znode_status s;
		char err[ZNODE_ERR_MAX];
		char *text;

		if (!znode_status_decode(cases[i].text, (int)strlen(cases[i].text), &s, err,
					 sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(s.optime, cases[i].optime);
		assert_int_equal(s.n_slots, cases[i].n_slots);
		text = znode_status_encode(&s, err, sizeof(err));
		assert_string_equal(text, cases[i].encoded);
		free(text);
		znode_status_clear(&s);
	}
}

static void test_status_build(void **state)
{
	struct znode_status s = { 0 };
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	s.optime = 100;
	assert_true(znode_status_add_slot(&s, "postgresql0", 100, err, sizeof(err)));
	assert_true(znode_status_add_slot(&s, "logical_1", 90, err, sizeof(err)));
	text = znode_status_encode(&s, err, sizeof(err));
	assert_string_equal(text, "{\"optime\":100,\"slots\":{\"postgresql0\":100,\"logical_1\":90}}");
	free(text);

	assert_false(znode_status_add_slot(&s, "", 1, err, sizeof(err)));
	assert_string_equal(err, "status: slot name is empty");
	assert_false(znode_status_add_slot(&s, "x", -1, err, sizeof(err)));
	assert_string_equal(err, "status: slot LSN must be at least 0, got -1");
	assert_false(znode_status_add_slot(&s, "a\nb", 1, err, sizeof(err)));
	assert_string_equal(err, "status: slot name is not clean UTF-8 text");
	assert_true(znode_status_add_slot(&s, "postgresql0", 1, err, sizeof(err)));
	assert_null(znode_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "status JSON: slot \"postgresql0\" appears twice");
	znode_status_clear(&s);

	s.optime = -1;
	assert_null(znode_status_encode(&s, err, sizeof(err)));
	assert_string_equal(err, "status JSON: field \"optime\" must be at least 0, got -1");
}

static void test_status_garbage(void **state)
{
	const struct garbage cases[] = {
		{ TEXT("{}"), "field \"optime\" is missing" },
		{ TEXT("{\"optime\":null}"), "field \"optime\" is missing" },
		{ TEXT("{\"optime\":\"1\"}"), "field \"optime\" must be an integer, got string" },
		{ TEXT("{\"optime\":1.0}"), "field \"optime\" must be an integer, got real" },
		{ TEXT("{\"optime\":-5}"), "field \"optime\" must be at least 0, got -5" },
		{ TEXT("-5"), "must be a JSON object, got integer" },
		{ TEXT("{\"optime\":1,\"slots\":[]}"), "field \"slots\" must be an object, got array" },
		{ TEXT("{\"optime\":1,\"slots\":\"{}\"}"),
		  "field \"slots\" must be an object, got string" },
		{ TEXT("{\"optime\":1,\"slots\":{\"s\":\"1\"}}"),
		  "field \"slots.s\" must be an integer, got string" },
		{ TEXT("{\"optime\":1,\"slots\":{\"s\":-1}}"), "field \"slots.s\" must be at least 0, got -1" },
		{ TEXT("{\"optime\":1,\"slots\":{\"\":1}}"), "field \"slots\" holds an empty slot name" },
	};

	(void)state;
	expect_garbage(decode_status, "status JSON", cases, N_ELEMENTS(cases));
}

/* ------------------------------------------------------------------------
 * history
 * ------------------------------------------------------------------------ */

static void test_history_patroni_example(void **state)
{
	struct znode_history h;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	assert_true(znode_history_decode(TEXT(patroni_history), &h, err, sizeof(err)));
	assert_int_equal(h.n_lines, 1);
	assert_int_equal(h.lines[0].timeline, 1);
	assert_int_equal(h.lines[0].lsn, 25623960);
	assert_string_equal(h.lines[0].reason, "no recovery target specified");
	assert_string_equal(h.lines[0].timestamp, "2024-06-30T16:57:57+02:00");
	assert_string_equal(h.lines[0].new_leader, "postgresql1");
	text = znode_history_encode(&h, err, sizeof(err));
	assert_string_equal(text, patroni_history);
	free(text);
	znode_history_clear(&h);
}

static void test_history_forms(void **state)
{
	static const struct {
		const char *text;
		size_t n_lines;
		const char *encoded;
	} cases[] = {
		{ "[]", 0, "[]" },
		/* before Patroni 1.4 lines had 3 elements, then 4 */
		{ "[[1,100,\"no recovery target specified\"],[2,200,\"r\",\"2020-01-01T00:00:00+00:00\"],"
		  "[3,300,\"r\",\"2021-01-01T00:00:00+00:00\",\"node2\"]]",
		  3,
		  "[[1,100,\"no recovery target specified\"],[2,200,\"r\",\"2020-01-01T00:00:00+00:00\"],"
		  "[3,300,\"r\",\"2021-01-01T00:00:00+00:00\",\"node2\"]]" },
		/* null optional elements and elements after the fifth */
		{ "[[1,100,\"r\",null,null],[2,200,\"r\",null,\"n\",\"future\",7]]", 2,
		  "[[1,100,\"r\"],[2,200,\"r\",null,\"n\"]]" },
	};

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct znode_history h;
		char err[ZNODE_ERR_MAX];
		char *text;

		if (!znode_history_decode(cases[i].text, (int)strlen(cases[i].text), &h, err,
					  sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(h.n_lines, cases[i].n_lines);
		text = znode_history_encode(&h, err, sizeof(err));
		assert_string_equal(text, cases[i].encoded);
		free(text);
		znode_history_clear(&h);
	}
}

static void test_history_append(void **state)
{
	struct znode_history h;
	char err[ZNODE_ERR_MAX];
	char *text;

	(void)state;
	assert_true(znode_history_decode(TEXT(patroni_history), &h, err, sizeof(err)));
	assert_true(znode_history_append(&h, 2, 50331808, "no recovery target specified",
					 "2024-07-01T12:00:03.123456+00:00", "postgresql0", err,
					 sizeof(err)));
	text = znode_history_encode(&h, err, sizeof(err));
	assert_string_equal(text, "[[1,25623960,\"no recovery target specified\","
				  "\"2024-06-30T16:57:57+02:00\",\"postgresql1\"],"
				  "[2,50331808,\"no recovery target specified\","
				  "\"2024-07-01T12:00:03.123456+00:00\",\"postgresql0\"]]");
	free(text);
	assert_int_equal(h.n_lines, 2);

	assert_false(znode_history_append(&h, 0, 1, "r", NULL, NULL, err, sizeof(err)));
	assert_string_equal(err, "history: timeline must be at least 1, got 0");
	assert_false(znode_history_append(&h, 3, -1, "r", NULL, NULL, err, sizeof(err)));
	assert_string_equal(err, "history: lsn must be at least 0, got -1");
	assert_false(znode_history_append(&h, 3, 1, NULL, NULL, NULL, err, sizeof(err)));
	assert_string_equal(err, "history: reason is required");
	assert_int_equal(h.n_lines, 2);

	assert_true(znode_history_append(&h, 3, 1, "bad \xff", NULL, NULL, err, sizeof(err)));
	assert_null(znode_history_encode(&h, err, sizeof(err)));
	assert_string_equal(err, "history JSON: line 3: element 3 is not valid UTF-8");
	znode_history_clear(&h);

	/* from nothing */
	memset(&h, 0, sizeof(h));
	assert_true(znode_history_append(&h, 1, 0, "r", NULL, "n", err, sizeof(err)));
	text = znode_history_encode(&h, err, sizeof(err));
	assert_string_equal(text, "[[1,0,\"r\",null,\"n\"]]");
	free(text);
	znode_history_clear(&h);
}

static void test_history_garbage(void **state)
{
	const struct garbage cases[] = {
		{ TEXT("[1]"), "line 1 must be an array, got integer" },
		{ TEXT("[[1,2]]"), "line 1 has 2 element(s), expected at least 3" },
		{ TEXT("[[1,2,\"r\"],[]]"), "line 2 has 0 element(s), expected at least 3" },
		{ TEXT("[[\"1\",2,\"r\"]]"), "line 1: timeline must be an integer, got string" },
		{ TEXT("[[1.5,2,\"r\"]]"), "line 1: timeline must be an integer, got real" },
		{ TEXT("[[0,2,\"r\"]]"), "line 1: timeline must be at least 1, got 0" },
		{ TEXT("[[1,\"2\",\"r\"]]"), "line 1: lsn must be an integer, got string" },
		{ TEXT("[[1,-2,\"r\"]]"), "line 1: lsn must be at least 0, got -2" },
		{ TEXT("[[1,2,3]]"), "line 1: reason must be a string, got integer" },
		{ TEXT("[[1,2,null]]"), "line 1: reason must be a string, got null" },
		{ TEXT("[[1,2,\"r\",5]]"), "line 1: timestamp must be a string, got integer" },
		{ TEXT("[[1,2,\"r\",\"t\",{}]]"), "line 1: new leader must be a string, got object" },
	};

	(void)state;
	expect_garbage(decode_history, "history JSON", cases, N_ELEMENTS(cases));
}

/* ------------------------------------------------------------------------
 * Misc
 * ------------------------------------------------------------------------ */

static void test_err_buffer_handling(void **state)
{
	struct member_status s;
	char tiny[8];

	(void)state;
	/* err may be NULL, or too small: truncated, still terminated */
	assert_false(member_status_decode(TEXT("[]"), &s, NULL, 0));
	assert_false(member_status_decode(TEXT("[]"), &s, tiny, sizeof(tiny)));
	assert_string_equal(tiny, "member ");
	/* control bytes from the input never reach the message */
	{
		char err[ZNODE_ERR_MAX];

		assert_false(member_status_decode(TEXT("{\"a\":\x01}"), &s, err, sizeof(err)));
		assert_string_equal(err, "member JSON: invalid JSON at line 1 column 6: invalid token "
					 "near '?'");
	}
	assert_false(member_status_decode(TEXT("{}"), NULL, tiny, sizeof(tiny)));
}

static void test_set_string(void **state)
{
	char *field = NULL;

	(void)state;
	assert_true(znode_set_string(&field, "a"));
	assert_string_equal(field, "a");
	assert_true(znode_set_string(&field, "bb"));
	assert_string_equal(field, "bb");
	assert_true(znode_set_string(&field, NULL));
	assert_null(field);
	assert_false(znode_set_string(NULL, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_validity),
		cmocka_unit_test(test_base_path),
		cmocka_unit_test(test_znode_path),
		cmocka_unit_test(test_candidate_prefix),
		cmocka_unit_test(test_candidate_parse),
		cmocka_unit_test(test_candidate_sort),
		cmocka_unit_test(test_json_garbage_every_decoder),
		cmocka_unit_test(test_json_wrong_top_level_type),
		cmocka_unit_test(test_member_encode_minimal),
		cmocka_unit_test(test_member_encode_every_field),
		cmocka_unit_test(test_member_tag_filter),
		cmocka_unit_test(test_member_encode_python_escapes),
		cmocka_unit_test(test_member_encode_errors),
		cmocka_unit_test(test_member_decode_patroni_example),
		cmocka_unit_test(test_member_round_trip),
		cmocka_unit_test(test_member_decode_tolerance),
		cmocka_unit_test(test_member_roles),
		cmocka_unit_test(test_member_failover_tags),
		cmocka_unit_test(test_member_equal),
		cmocka_unit_test(test_member_legacy_url),
		cmocka_unit_test(test_member_garbage),
		cmocka_unit_test(test_leader),
		cmocka_unit_test(test_leader_garbage),
		cmocka_unit_test(test_initialize),
		cmocka_unit_test(test_initialize_garbage),
		cmocka_unit_test(test_optime),
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_patroni_example),
		cmocka_unit_test(test_config_values),
		cmocka_unit_test(test_config_from_json),
		cmocka_unit_test(test_config_garbage),
		cmocka_unit_test(test_failover_patroni_example),
		cmocka_unit_test(test_failover_forms),
		cmocka_unit_test(test_failover_timestamps),
		cmocka_unit_test(test_failover_garbage),
		cmocka_unit_test(test_failover_encode_errors),
		cmocka_unit_test(test_sync_patroni_example),
		cmocka_unit_test(test_sync_forms),
		cmocka_unit_test(test_sync_build),
		cmocka_unit_test(test_sync_garbage),
		cmocka_unit_test(test_status_patroni_example),
		cmocka_unit_test(test_status_forms),
		cmocka_unit_test(test_status_build),
		cmocka_unit_test(test_status_garbage),
		cmocka_unit_test(test_history_patroni_example),
		cmocka_unit_test(test_history_forms),
		cmocka_unit_test(test_history_append),
		cmocka_unit_test(test_history_garbage),
		cmocka_unit_test(test_err_buffer_handling),
		cmocka_unit_test(test_set_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
