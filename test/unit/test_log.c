/*
 * The log record format is an interface: these tests pin what operators and
 * their log shippers see.
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

#include "agent/log.h"

/* 2026-11-24T01:07:40.123Z */
#define SAMPLE_MS 1795482460123LL

static void test_plain_record_has_timestamp_level_event_member_fields(void **state)
{
	(void) state;
	char buf[512];
	log_format_record(buf, sizeof(buf), LOG_FORMAT_PLAIN, SAMPLE_MS, LOG_LEVEL_INFO, "node1",
			  "leader.acquired",
			  LOG_FIELDS(LF_STR("reason", "watch"), LF_HEX("session", 0x1000abcLL),
				     LF_INT("lease_ms", 1987), LF_BOOL("adopted", true)));
	assert_string_equal(buf, "2026-11-24T01:07:40.123Z INFO leader.acquired member=node1 "
				 "reason=watch session=0x1000abc lease_ms=1987 adopted=true");
}

static void test_plain_values_are_quoted_only_when_needed(void **state)
{
	(void) state;
	char buf[512];
	log_format_record(buf, sizeof(buf), LOG_FORMAT_PLAIN, SAMPLE_MS, LOG_LEVEL_ERROR, "",
			  "dcs.invalid_znode",
			  LOG_FIELDS(LF_STR("path", "/service/x/leader"),
				     LF_STR("reason", "bad \"name\"\nnext=line"), LF_STR("empty", "")));
	assert_string_equal(buf, "2026-11-24T01:07:40.123Z ERROR dcs.invalid_znode "
				 "path=/service/x/leader reason=\"bad \\\"name\\\"\\nnext=line\" "
				 "empty=\"\"");
}

static void test_json_record_parses_with_typed_fields(void **state)
{
	(void) state;
	char buf[512];
	json_error_t error;
	log_format_record(buf, sizeof(buf), LOG_FORMAT_JSON, SAMPLE_MS, LOG_LEVEL_WARNING, "node\"2",
			  "leader.fenced",
			  LOG_FIELDS(LF_STR("reason", "lease\texpired\x01"), LF_INT("overdue_ms", -5),
				     LF_HEX("session", 0xffLL), LF_DBL("ratio", 0.5),
				     LF_BOOL("ok", false)));
	json_t *record = json_loads(buf, 0, &error);
	assert_non_null(record);
	assert_string_equal(json_string_value(json_object_get(record, "ts")),
			    "2026-11-24T01:07:40.123Z");
	assert_string_equal(json_string_value(json_object_get(record, "level")), "WARNING");
	assert_string_equal(json_string_value(json_object_get(record, "event")), "leader.fenced");
	assert_string_equal(json_string_value(json_object_get(record, "member")), "node\"2");
	assert_string_equal(json_string_value(json_object_get(record, "reason")),
			    "lease\texpired\x01");
	assert_int_equal(json_integer_value(json_object_get(record, "overdue_ms")), -5);
	assert_string_equal(json_string_value(json_object_get(record, "session")), "0xff");
	assert_true(json_is_real(json_object_get(record, "ratio")));
	assert_true(json_is_false(json_object_get(record, "ok")));
	/* The fixed keys come first, in this order. */
	assert_int_equal(strncmp(buf, "{\"ts\":", 6), 0);
	assert_true(strstr(buf, "\"level\"") < strstr(buf, "\"event\""));
	json_decref(record);
}

static void test_oversized_record_stays_parseable(void **state)
{
	(void) state;
	char big[600];
	char buf[256];
	json_error_t error;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	int length = log_format_record(buf, sizeof(buf), LOG_FORMAT_JSON, SAMPLE_MS,
				       LOG_LEVEL_INFO, "n", "zookeeper.log",
				       LOG_FIELDS(LF_STR("message", big)));
	assert_true(length < (int) sizeof(buf));
	json_t *record = json_loads(buf, 0, &error);
	assert_non_null(record);
	assert_true(json_is_true(json_object_get(record, "truncated")));
	assert_null(json_object_get(record, "message"));
	json_decref(record);

	length = log_format_record(buf, sizeof(buf), LOG_FORMAT_PLAIN, SAMPLE_MS, LOG_LEVEL_INFO,
				   "n", "zookeeper.log", LOG_FIELDS(LF_STR("message", big)));
	assert_string_equal(buf, "2026-11-24T01:07:40.123Z INFO zookeeper.log member=n truncated=true");
}

static void test_levels_filter_and_parse_patroni_names(void **state)
{
	(void) state;
	static const struct {
		const char *name;
		bool ok;
		enum log_level level;
	} cases[] = {
		{ "DEBUG", true, LOG_LEVEL_DEBUG },	{ "info", true, LOG_LEVEL_INFO },
		{ "WARNING", true, LOG_LEVEL_WARNING }, { "warn", true, LOG_LEVEL_WARNING },
		{ "ERROR", true, LOG_LEVEL_ERROR },	{ "CRITICAL", true, LOG_LEVEL_ERROR },
		{ "verbose", false, LOG_LEVEL_INFO },	{ "", false, LOG_LEVEL_INFO },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level level = LOG_LEVEL_INFO;
		assert_int_equal(log_level_parse(cases[i].name, &level), cases[i].ok);
		assert_int_equal(level, cases[i].level);
	}

	char *output = NULL;
	size_t size = 0;
	FILE *stream = open_memstream(&output, &size);
	assert_non_null(stream);
	log_set_stream(stream);
	log_set_level(LOG_LEVEL_WARNING);
	log_set_member("node9");
	log_info("dcs.connected");
	log_warning("dcs.disconnected", LF_STR("why", "test"));
	log_set_stream(NULL);
	log_set_level(LOG_LEVEL_INFO);
	log_set_member(NULL);
	fclose(stream);
	assert_null(strstr(output, "dcs.connected"));
	assert_non_null(strstr(output, "WARNING dcs.disconnected member=node9 why=test\n"));
	free(output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_record_has_timestamp_level_event_member_fields),
		cmocka_unit_test(test_plain_values_are_quoted_only_when_needed),
		cmocka_unit_test(test_json_record_parses_with_typed_fields),
		cmocka_unit_test(test_oversized_record_stays_parseable),
		cmocka_unit_test(test_levels_filter_and_parse_patroni_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
