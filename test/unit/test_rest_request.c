/*
 * REST API requests, table by table: routing of every Patroni path and
 * alias, the health checks' query string (?lag=, ?tag_), the bodies of the
 * write endpoints with Patroni's status codes and messages, and basic
 * authentication.  Each table row says what the parser must answer; a row
 * that answers otherwise is printed with what it got.
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

#include "agent/rest_request.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static const char *show(const char *s)
{
	return s != NULL ? s : "(null)";
}

/* ---- routing ------------------------------------------------------------- */

struct route_case {
	const char *method;
	const char *uri;
	enum rest_endpoint endpoint;
	enum rest_health_check check;	/* REST_HEALTH rows only */
	bool status_line_only;
};

#define HEALTH(m, u, c) { m, u, REST_HEALTH, c, false }
#define HEALTH_LINE(m, u, c) { m, u, REST_HEALTH, c, true }
#define READ(m, u, e) { m, u, e, REST_CHECK_UNKNOWN, false }
#define READ_LINE(m, u, e) { m, u, e, REST_CHECK_UNKNOWN, true }

static const struct route_case read_routes[] = {
	/* every health-check path and alias of reference section 3.3 */
	HEALTH("GET", "/", REST_CHECK_PRIMARY),
	HEALTH("GET", "/primary", REST_CHECK_PRIMARY),
	HEALTH("GET", "/master", REST_CHECK_PRIMARY),
	HEALTH("GET", "/read-write", REST_CHECK_PRIMARY),
	HEALTH("GET", "/standby-leader", REST_CHECK_STANDBY_LEADER),
	HEALTH("GET", "/standby_leader", REST_CHECK_STANDBY_LEADER),
	HEALTH("GET", "/leader", REST_CHECK_LEADER),
	HEALTH("GET", "/replica", REST_CHECK_REPLICA),
	HEALTH("GET", "/read-only", REST_CHECK_READ_ONLY),
	HEALTH("GET", "/sync", REST_CHECK_SYNC),
	HEALTH("GET", "/synchronous", REST_CHECK_SYNC),
	HEALTH("GET", "/async", REST_CHECK_ASYNC),
	HEALTH("GET", "/asynchronous", REST_CHECK_ASYNC),
	HEALTH("GET", "/read-only-sync", REST_CHECK_READ_ONLY_SYNC),
	HEALTH("GET", "/read-only-synchronous", REST_CHECK_READ_ONLY_SYNC),
	HEALTH("GET", "/health", REST_CHECK_HEALTH),
	/* trailing slash, query, fragment, repeated slashes */
	HEALTH("GET", "/replica/", REST_CHECK_REPLICA),
	HEALTH("GET", "/replica?lag=1MB", REST_CHECK_REPLICA),
	HEALTH("GET", "/replica/?lag=1MB", REST_CHECK_REPLICA),
	HEALTH("GET", "/replica#x", REST_CHECK_REPLICA),
	HEALTH("GET", "//replica", REST_CHECK_REPLICA),
	HEALTH("GET", "/?lag=1", REST_CHECK_PRIMARY),
	HEALTH("GET", "", REST_CHECK_PRIMARY),
	/* anything else is a health check that fails */
	HEALTH("GET", "/nothing", REST_CHECK_UNKNOWN),
	HEALTH("GET", "/Replica", REST_CHECK_UNKNOWN),
	HEALTH("GET", "/replicas", REST_CHECK_UNKNOWN),
	HEALTH("GET", "/replic%61", REST_CHECK_UNKNOWN),
	HEALTH("GET", "/switchover", REST_CHECK_UNKNOWN),
	HEALTH("GET", "/restart", REST_CHECK_UNKNOWN),
	HEALTH("GET", "/failsafe", REST_CHECK_UNKNOWN),
	HEALTH("GET", "*", REST_CHECK_UNKNOWN),
	/* HEAD and OPTIONS: the status line only */
	HEALTH_LINE("HEAD", "/replica", REST_CHECK_REPLICA),
	HEALTH_LINE("OPTIONS", "/", REST_CHECK_PRIMARY),
	HEALTH_LINE("OPTIONS", "/primary", REST_CHECK_PRIMARY),
	HEALTH_LINE("OPTIONS", "/read-only", REST_CHECK_READ_ONLY),
	HEALTH_LINE("HEAD", "/nothing", REST_CHECK_UNKNOWN),
	HEALTH_LINE("OPTIONS", "*", REST_CHECK_UNKNOWN),
	/* endpoints of their own */
	READ("GET", "/patroni", REST_PATRONI),
	READ("GET", "/cluster", REST_CLUSTER),
	READ("GET", "/history", REST_HISTORY),
	READ("GET", "/config", REST_CONFIG_GET),
	READ("GET", "/metrics", REST_METRICS),
	READ("GET", "/liveness", REST_LIVENESS),
	READ("GET", "/readiness", REST_READINESS),
	READ("GET", "/patroni/", REST_PATRONI),
	READ("GET", "/cluster?x=1", REST_CLUSTER),
	READ("GET", "//config", REST_CONFIG_GET),
	READ("GET", "/config/anything", REST_CONFIG_GET),
	READ_LINE("HEAD", "/liveness", REST_LIVENESS),
	READ_LINE("OPTIONS", "/readiness", REST_READINESS),
	READ_LINE("HEAD", "/patroni", REST_PATRONI),
};

static void test_read_routes(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(read_routes); i++) {
		const struct route_case *row = &read_routes[i];
		struct rest_request r;
		char err[REST_ERROR_MAX];
		int status = rest_request_parse(row->method, row->uri, false, NULL, 0, &r, err,
						sizeof(err));

		if (status == 0 && r.endpoint == row->endpoint &&
		    (row->endpoint != REST_HEALTH || r.check == row->check) &&
		    r.status_line_only == row->status_line_only && !r.needs_auth && r.body == NULL) {
			rest_request_clear(&r);
			continue;
		}
		print_error("row %zu: %s %s: status %d \"%s\", endpoint %d check %d line-only %d "
			    "auth %d; want endpoint %d check %d line-only %d\n",
			    i, row->method, row->uri, status, err, r.endpoint, r.check,
			    r.status_line_only, r.needs_auth, row->endpoint, row->check,
			    row->status_line_only);
		rest_request_clear(&r);
		failures++;
	}
	if (failures > 0)
		fail_msg("%d of %zu routes went elsewhere", failures, N_ELEMENTS(read_routes));
}

struct write_case {
	const char *method;
	const char *uri;
	int status;			/* 0: routed to endpoint */
	enum rest_endpoint endpoint;
	const char *err;		/* a fragment of the reason, status != 0 */
	const char *body;		/* NULL: one that switchover takes */
};

#define ROUTE(m, u, e) { m, u, 0, e, NULL, NULL }
#define ROUTE_BODY(m, u, e, b) { m, u, 0, e, NULL, b }
#define REFUSE(m, u, st, e) { m, u, st, 0, e, NULL }

static const struct write_case write_routes[] = {
	ROUTE("PATCH", "/config", REST_CONFIG_PATCH),
	ROUTE("PUT", "/config", REST_CONFIG_PUT),
	ROUTE("POST", "/switchover", REST_SWITCHOVER),
	ROUTE("POST", "/failover", REST_FAILOVER),
	ROUTE("DELETE", "/switchover", REST_SWITCHOVER_DELETE),
	ROUTE_BODY("POST", "/restart", REST_RESTART, "{}"),
	ROUTE("DELETE", "/restart", REST_RESTART_DELETE),
	ROUTE_BODY("POST", "/reinitialize", REST_REINITIALIZE, "{\"force\":true}"),
	ROUTE("POST", "/reload", REST_RELOAD),
	ROUTE("POST", "/reload/", REST_RELOAD),
	ROUTE("POST", "//reload?x=1", REST_RELOAD),
	ROUTE("DELETE", "/restart/", REST_RESTART_DELETE),
	/* a known path, a method it does not take */
	REFUSE("POST", "/config", 405, "method POST not allowed on /config"),
	REFUSE("DELETE", "/config", 405, "not allowed"),
	REFUSE("PUT", "/switchover", 405, "not allowed"),
	REFUSE("DELETE", "/failover", 405, "not allowed"),
	REFUSE("PATCH", "/restart", 405, "not allowed"),
	REFUSE("POST", "/cluster", 405, "not allowed"),
	REFUSE("POST", "/patroni", 405, "not allowed"),
	REFUSE("PUT", "/replica", 405, "not allowed"),
	REFUSE("POST", "/", 405, "not allowed on /"),
	REFUSE("DELETE", "/liveness", 405, "not allowed"),
	/* an unknown path */
	REFUSE("POST", "/nothing", 404, "no endpoint /nothing"),
	REFUSE("DELETE", "/failsafe", 404, "no endpoint"),
	REFUSE("POST", "/Reload", 404, "no endpoint"),
	REFUSE("PUT", "/sigterm", 404, "no endpoint"),
	/* a method we do not implement at all */
	REFUSE("TRACE", "/", 501, "Unsupported method (TRACE)"),
	REFUSE("CONNECT", "/reload", 501, "Unsupported method"),
	REFUSE("get", "/", 501, "Unsupported method"),
	REFUSE("", "/", 501, "Unsupported method"),
	REFUSE("POST\r\nX: y", "/reload", 501, "Unsupported method (POST??X: y)"),
};

static void test_write_routes(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(write_routes); i++) {
		const struct write_case *row = &write_routes[i];
		struct rest_request r;
		char err[REST_ERROR_MAX] = "";
		const char *body = row->body != NULL ? row->body
						      : "{\"leader\":\"a\",\"candidate\":\"b\"}";
		int status = rest_request_parse(row->method, row->uri, true, body, strlen(body),
						&r, err, sizeof(err));
		bool ok;

		if (row->status == 0)
			ok = status == 0 && r.endpoint == row->endpoint && r.needs_auth &&
			     !r.status_line_only;
		else
			ok = status == row->status && strstr(err, row->err) != NULL &&
			     r.body == NULL && !r.needs_auth;
		if (!ok) {
			print_error("row %zu: %s %s: status %d \"%s\" endpoint %d auth %d; "
				    "want %d \"...%s...\" endpoint %d\n",
				    i, row->method, row->uri, status, err, r.endpoint, r.needs_auth,
				    row->status, show(row->err), row->endpoint);
			failures++;
		}
		rest_request_clear(&r);
	}
	if (failures > 0)
		fail_msg("%d of %zu write routes answered otherwise", failures,
			 N_ELEMENTS(write_routes));
}

static void test_missing_method_or_uri(void **state)
{
	struct rest_request r;
	char err[REST_ERROR_MAX];

	(void)state;
	assert_int_equal(rest_request_parse(NULL, "/", false, NULL, 0, &r, err, sizeof(err)), 400);
	assert_int_equal(rest_request_parse("GET", NULL, false, NULL, 0, &r, err, sizeof(err)), 400);
	assert_null(r.tags);
}

/* ---- ?lag= --------------------------------------------------------------- */

struct bytes_case {
	const char *text;
	bool ok;
	long long value;
};

static const struct bytes_case bytes_cases[] = {
	{ "0", true, 0 },
	{ "1024", true, 1024 },
	{ "1B", true, 1 },
	{ "16kB", true, 16384 },
	{ "10MB", true, 10485760 },
	{ "1GB", true, 1073741824 },
	{ "1TB", true, 1099511627776LL },
	{ " 16 kB ", true, 16384 },
	{ "+5", true, 5 },
	{ "007", true, 7 },
	{ "9223372036854775807", true, 9223372036854775807LL },
	{ "8388607TB", true, 8388607LL * 1099511627776LL },
	/* malformed, negative, out of range */
	{ "", false, 0 },
	{ " ", false, 0 },
	{ "-1", false, 0 },
	{ "-0", false, 0 },
	{ "abc", false, 0 },
	{ "MB", false, 0 },
	{ "10mb", false, 0 },
	{ "10KB", false, 0 },
	{ "10 M B", false, 0 },
	{ "10MBx", false, 0 },
	{ "1.5MB", false, 0 },
	{ "0x10", false, 0 },
	{ "10s", false, 0 },
	{ "9223372036854775808", false, 0 },
	{ "99999999999999999999999", false, 0 },
	{ "8388608TB", false, 0 },
	{ "9007199254740992kB", false, 0 },
};

static void test_parse_bytes(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(bytes_cases); i++) {
		const struct bytes_case *row = &bytes_cases[i];
		long long value = -42;
		bool ok = rest_parse_bytes(row->text, &value);

		if (ok == row->ok && (!ok || value == row->value))
			continue;
		print_error("\"%s\": %s %lld, want %s %lld\n", row->text, ok ? "ok" : "refused",
			    value, row->ok ? "ok" : "refused", row->value);
		failures++;
	}
	assert_false(rest_parse_bytes(NULL, &(long long){ 0 }));
	if (failures > 0)
		fail_msg("%d of %zu sizes parsed wrong", failures, N_ELEMENTS(bytes_cases));
}

struct lag_case {
	const char *uri;
	bool has_lag;
	long long lag;
};

static const struct lag_case lag_cases[] = {
	{ "/replica?lag=10MB", true, 10485760 },
	{ "/replica?lag=0", true, 0 },
	{ "/async?lag=1024", true, 1024 },
	{ "/replica?lag=16%20kB", true, 16384 },
	{ "/replica?lag=16+kB", true, 16384 },
	{ "/replica?%6cag=1kB", true, 1024 },
	{ "/replica?x=1&lag=1kB&y=2", true, 1024 },
	/* Patroni reads the first value only */
	{ "/replica?lag=1kB&lag=2kB", true, 1024 },
	/* and ignores one it cannot parse: no limit */
	{ "/replica?lag=bad&lag=1kB", false, 0 },
	{ "/replica?lag=-1", false, 0 },
	{ "/replica?lag=10mb", false, 0 },
	/* blank values are dropped, as by parse_qs */
	{ "/replica?lag=&lag=1kB", true, 1024 },
	{ "/replica?lag", false, 0 },
	{ "/replica", false, 0 },
	{ "/replica?", false, 0 },
	{ "/replica#?lag=1", false, 0 },
	{ "/replica?lag=1#kB", true, 1 },
};

static void test_lag_query(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(lag_cases); i++) {
		const struct lag_case *row = &lag_cases[i];
		struct rest_request r;
		char err[REST_ERROR_MAX];
		int status = rest_request_parse("GET", row->uri, false, NULL, 0, &r, err, sizeof(err));

		if (status == 0 && r.has_lag == row->has_lag && r.lag_bytes == row->lag) {
			rest_request_clear(&r);
			continue;
		}
		print_error("%s: status %d, has_lag %d lag %lld; want %d %lld\n", row->uri, status,
			    r.has_lag, r.lag_bytes, row->has_lag, row->lag);
		rest_request_clear(&r);
		failures++;
	}
	if (failures > 0)
		fail_msg("%d of %zu lag queries read wrong", failures, N_ELEMENTS(lag_cases));
}

/* ---- ?tag_ --------------------------------------------------------------- */

struct tag_case {
	const char *uri;
	size_t n;
	const char *pairs[3][2];
};

static const struct tag_case tag_cases[] = {
	{ "/replica?tag_zone=eu-1", 1, { { "zone", "eu-1" } } },
	{ "/replica?tag_zone=a%20b", 1, { { "zone", "a b" } } },
	{ "/replica?tag_zone=a+b", 1, { { "zone", "a b" } } },
	{ "/replica?tag_zone=a%2Bb%2fc", 1, { { "zone", "a+b/c" } } },
	{ "/replica?tag_%7Aone=x", 1, { { "zone", "x" } } },
	{ "/replica?tag_a=1&tag_b=2", 2, { { "a", "1" }, { "b", "2" } } },
	{ "/replica?tag_a=1&lag=1kB&tag_b=true&x=y", 2, { { "a", "1" }, { "b", "true" } } },
	/* only the first value of a name counts, as in Patroni */
	{ "/replica?tag_a=1&tag_a=2", 1, { { "a", "1" } } },
	/* blank values and names without '=' are dropped */
	{ "/replica?tag_a=&tag_b", 0, { { NULL, NULL } } },
	{ "/replica?&&tag_a=b&", 1, { { "a", "b" } } },
	/* "tag_" alone is a filter on the tag "", which no member has */
	{ "/replica?tag_=x", 1, { { "", "x" } } },
	/* bad escapes stay as they are */
	{ "/replica?tag_a=%zz%2", 1, { { "a", "%zz%2" } } },
	{ "/replica?tag_a=100%", 1, { { "a", "100%" } } },
	/* a NUL must not cut the value short */
	{ "/replica?tag_a=x%00y", 1, { { "a", "x\xef\xbf\xbdy" } } },
	{ "/replica?tag_a=%ff", 1, { { "a", "\xff" } } },
	{ "/replica?tag_a=b=c", 1, { { "a", "b=c" } } },
	{ "/replica?tag_a=b#tag_c=d", 1, { { "a", "b" } } },
	{ "/replica?Tag_a=b", 0, { { NULL, NULL } } },
	{ "/cluster?tag_a=b", 1, { { "a", "b" } } },
};

static void test_tag_query(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(tag_cases); i++) {
		const struct tag_case *row = &tag_cases[i];
		struct rest_request r;
		char err[REST_ERROR_MAX];
		int status = rest_request_parse("GET", row->uri, false, NULL, 0, &r, err, sizeof(err));
		bool ok = status == 0 && r.n_tags == row->n;

		for (size_t j = 0; ok && j < row->n; j++)
			ok = strcmp(r.tags[j].key, row->pairs[j][0]) == 0 &&
			     strcmp(r.tags[j].value, row->pairs[j][1]) == 0;
		if (!ok) {
			print_error("%s: status %d, %zu tags (first %s=%s), want %zu\n", row->uri,
				    status, r.n_tags, r.n_tags > 0 ? r.tags[0].key : "-",
				    r.n_tags > 0 ? r.tags[0].value : "-", row->n);
			failures++;
		}
		rest_request_clear(&r);
	}
	if (failures > 0)
		fail_msg("%d of %zu tag queries read wrong", failures, N_ELEMENTS(tag_cases));
}

/* ---- bodies --------------------------------------------------------------- */

#define NO_LENGTH ((const char *)1)	/* body sent without Content-Length */

struct body_case {
	const char *method;
	const char *uri;
	const char *body;		/* NO_LENGTH: none and no Content-Length */
	size_t len;			/* 0: strlen(body) */
	int status;
	const char *err;		/* fragment, when status != 0 */
	/* expected fields when status == 0 (NULL: absent) */
	const char *leader;
	const char *candidate;
	const char *scheduled_at;
};

#define OK_SW(m, u, b, l, c, s) { m, u, b, 0, 0, NULL, l, c, s }
#define BAD(m, u, b, st, e) { m, u, b, 0, st, e, NULL, NULL, NULL }

static const char only_leader[] = "Switchover could be performed only from a specific leader";
static const char only_candidate[] = "Failover could be performed only to a specific candidate";
static const char at[] = "2030-01-01T00:00:00+00:00";

static const struct body_case switchover_cases[] = {
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"candidate\":\"b\"}", "a", "b", NULL),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\"}", "a", NULL, NULL),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"member\":\"b\"}", "a", "b", NULL),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"candidate\":\"\",\"member\":\"b\"}", "a",
	      "b", NULL),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"candidate\":\"c\",\"member\":\"b\"}", "a",
	      "c", NULL),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"candidate\":null}", "a", NULL, NULL),
	OK_SW("POST", "/switchover",
	      "{\"leader\":\"a\",\"candidate\":\"b\",\"scheduled_at\":\"2030-01-01T00:00:00+00:00\"}",
	      "a", "b", at),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"scheduled_at\":\"\"}", "a", NULL, NULL),
	OK_SW("POST", "/switchover", " {\"leader\":\"a\",\"unknown\":[1,{}]}\n", "a", NULL, NULL),
	OK_SW("POST", "/switchover", "{\"leader\":\"a\",\"leader\":\"b\"}", "b", NULL, NULL),
	BAD("POST", "/switchover", "{\"candidate\":\"b\"}", 400, only_leader),
	BAD("POST", "/switchover", "{\"leader\":\"\",\"candidate\":\"b\"}", 400, only_leader),
	BAD("POST", "/switchover", "{\"leader\":null,\"candidate\":\"b\"}", 400, only_leader),
	BAD("POST", "/switchover", "{\"leader\":1}", 400, "\"leader\" must be a string"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"candidate\":[\"b\"]}", 400,
	    "\"candidate\" must be a string"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"member\":true}", 400,
	    "\"member\" must be a string"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"scheduled_at\":5}", 400,
	    "\"scheduled_at\" must be a string"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"candidate\":\"a\"}", 400,
	    "Switchover target and source are the same"),
	OK_SW("POST", "/failover", "{\"candidate\":\"b\"}", NULL, "b", NULL),
	OK_SW("POST", "/failover", "{\"member\":\"b\"}", NULL, "b", NULL),
	/* with a leader Patroni performs a switchover: the caller decides */
	OK_SW("POST", "/failover", "{\"leader\":\"a\",\"candidate\":\"b\"}", "a", "b", NULL),
	BAD("POST", "/failover", "{\"leader\":\"a\"}", 400, only_candidate),
	BAD("POST", "/failover", "{\"candidate\":\"\"}", 400, only_candidate),
	BAD("POST", "/failover", "{\"candidate\":\"b\",\"scheduled_at\":\"2030-01-01T00:00Z\"}",
	    400, "Failover can't be scheduled"),
	BAD("POST", "/failover",
	    "{\"leader\":\"a\",\"candidate\":\"b\",\"scheduled_at\":\"2030-01-01T00:00Z\"}", 400,
	    "Failover can't be scheduled"),
	BAD("POST", "/failover", "{\"candidate\":\"b\",\"leader\":\"b\"}", 400,
	    "Switchover target and source are the same"),
	BAD("POST", "/failover", "{\"candidate\":7}", 400, "\"candidate\" must be a string"),
	/* the body itself */
	BAD("POST", "/switchover", NO_LENGTH, 411, "Length Required"),
	BAD("POST", "/failover", NO_LENGTH, 411, "Length Required"),
	BAD("POST", "/switchover", "", 400, "needs a JSON object body"),
	BAD("POST", "/switchover", "{}", 400, "non-empty JSON object"),
	BAD("POST", "/switchover", "[]", 400, "body must be a JSON object"),
	BAD("POST", "/switchover", "[\"leader\"]", 400, "body must be a JSON object"),
	BAD("POST", "/switchover", "\"leader\"", 400, "body must be a JSON object"),
	BAD("POST", "/switchover", "null", 400, "body must be a JSON object"),
	BAD("POST", "/switchover", "{\"leader\":\"a\"", 400, "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":\"a\"} x", 400, "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":'a'}", 400, "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":\"\xff\"}", 400, "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":\"a\\u0000b\"}", 400, "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"x\":1e999}", 400, "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"x\":123456789012345678901234567890}", 400,
	    "not valid JSON"),
	BAD("POST", "/switchover", "{\"leader\":\"a\",\"x\":NaN}", 400, "not valid JSON"),
};

/* A NUL inside the body: the length says where it ends, not the NUL. */
static const char nul_body[] = "{\"leader\":\"a\0\"}";
static const char nul_after[] = "{\"leader\":\"a\"}\0";
static const char cut_body[] = "{\"leader\":\"a\"}garbage";

static const struct body_case body_length_cases[] = {
	{ "POST", "/switchover", nul_body, sizeof(nul_body) - 1, 400, "not valid JSON", NULL, NULL,
	  NULL },
	{ "POST", "/switchover", nul_after, sizeof(nul_after) - 1, 400, "not valid JSON", NULL,
	  NULL, NULL },
	/* never read past body_len */
	{ "POST", "/switchover", cut_body, 14, 0, NULL, "a", NULL, NULL },
};

static const struct body_case config_cases[] = {
	{ "PATCH", "/config", "{\"ttl\":20}", 0, 0, NULL, NULL, NULL, NULL },
	{ "PUT", "/config", "{\"ttl\":20,\"postgresql\":{\"parameters\":null}}", 0, 0, NULL, NULL,
	  NULL, NULL },
	BAD("PATCH", "/config", NO_LENGTH, 411, "Length Required"),
	BAD("PUT", "/config", NO_LENGTH, 411, "Length Required"),
	BAD("PATCH", "/config", "", 400, "needs a JSON object body"),
	BAD("PATCH", "/config", "{}", 400, "non-empty"),
	BAD("PUT", "/config", "{}", 400, "non-empty"),
	BAD("PATCH", "/config", "[1]", 400, "body must be a JSON object"),
	BAD("PUT", "/config", "ttl: 20", 400, "not valid JSON"),
};

static void check_body_cases(const char *table, const struct body_case *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		const struct body_case *row = &cases[i];
		bool has_length = row->body != NO_LENGTH;
		const char *body = has_length ? row->body : NULL;
		size_t len = row->len != 0 ? row->len : body != NULL ? strlen(body) : 0;
		struct rest_request r;
		char err[REST_ERROR_MAX] = "";
		int status = rest_request_parse(row->method, row->uri, has_length, body, len, &r,
						err, sizeof(err));
		bool ok;

		if (row->status == 0)
			ok = status == 0 && json_is_object(r.body) && r.needs_auth &&
			     same_text(r.leader, row->leader) &&
			     same_text(r.candidate, row->candidate) &&
			     same_text(r.scheduled_at, row->scheduled_at);
		else
			ok = status == row->status && strstr(err, row->err) != NULL &&
			     r.body == NULL && r.leader == NULL;
		if (!ok) {
			print_error("%s row %zu: %s %s %s: status %d \"%s\" leader %s candidate %s "
				    "scheduled_at %s; want %d \"...%s...\" %s %s %s\n",
				    table, i, row->method, row->uri, has_length ? row->body : "(no length)",
				    status, err, show(r.leader), show(r.candidate),
				    show(r.scheduled_at), row->status, show(row->err),
				    show(row->leader), show(row->candidate), show(row->scheduled_at));
			failures++;
		}
		rest_request_clear(&r);
	}
	if (failures > 0)
		fail_msg("%s: %d of %zu bodies answered otherwise", table, failures, n);
}

#define CHECK_BODIES(cases) check_body_cases(#cases, cases, N_ELEMENTS(cases))

static void test_switchover_bodies(void **state)
{
	(void)state;
	CHECK_BODIES(switchover_cases);
	CHECK_BODIES(body_length_cases);
}

static void test_config_bodies(void **state)
{
	struct rest_request r;
	const char *patch = "{\"ttl\":20,\"loop_wait\":null}";
	char err[REST_ERROR_MAX];

	(void)state;
	CHECK_BODIES(config_cases);

	/* the body is kept for the caller, as sent */
	assert_int_equal(rest_request_parse("PATCH", "/config", true, patch, strlen(patch), &r, err,
					    sizeof(err)),
			 0);
	assert_int_equal(json_integer_value(json_object_get(r.body, "ttl")), 20);
	assert_true(json_is_null(json_object_get(r.body, "loop_wait")));
	rest_request_clear(&r);
}

static void test_oversized_body(void **state)
{
	size_t max = 1024 * 1024;
	char *body = malloc(max + 1);
	struct rest_request r;
	char err[REST_ERROR_MAX];

	(void)state;
	assert_non_null(body);
	memset(body, ' ', max + 1);
	body[0] = '{';
	body[max - 1] = '}';
	/* 1 MiB is read (and refused only for being an empty object) */
	assert_int_equal(rest_request_parse("PATCH", "/config", true, body, max, &r, err, sizeof(err)),
			 400);
	assert_non_null(strstr(err, "non-empty"));
	/* one byte more is not */
	assert_int_equal(rest_request_parse("PATCH", "/config", true, body, max + 1, &r, err,
					    sizeof(err)),
			 413);
	assert_null(r.body);
	assert_int_equal(rest_request_parse("POST", "/reload", true, body, max + 1, &r, err,
					    sizeof(err)),
			 413);
	free(body);
}

static void test_deep_nesting(void **state)
{
	size_t depth = 100000;
	char *body = malloc(depth * 2 + 16);
	struct rest_request r;
	char err[REST_ERROR_MAX];
	size_t n = 0;

	(void)state;
	assert_non_null(body);
	n += (size_t)sprintf(body, "{\"x\":");
	for (size_t i = 0; i < depth; i++)
		body[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		body[n++] = ']';
	body[n++] = '}';
	assert_int_equal(rest_request_parse("PATCH", "/config", true, body, n, &r, err, sizeof(err)),
			 400);
	assert_non_null(strstr(err, "not valid JSON"));
	free(body);
}

/* ---- POST /restart --------------------------------------------------------- */

struct restart_case {
	const char *body;		/* NO_LENGTH: none and no Content-Length */
	int status;
	const char *err;
	/* when status == 0 */
	const char *schedule;
	const char *role;
	const char *postgres_version;
	bool has_timeout;
	long long timeout_s;
	bool restart_pending;
};

static const char bad_role[] = "PostgreSQL role should be either primary or replica";
static const char bad_timeout[] = "Timeout should be a positive number of seconds";

#define RESTART_OK(b) { b, 0, NULL, NULL, NULL, NULL, false, 0, false }
#define RESTART_ROLE(b, r) { b, 0, NULL, NULL, r, NULL, false, 0, false }
#define RESTART_VERSION(b, v) { b, 0, NULL, NULL, NULL, v, false, 0, false }
#define RESTART_TIMEOUT(b, t) { b, 0, NULL, NULL, NULL, NULL, true, t, false }
#define RESTART_BAD(b, s, e) { b, s, e, NULL, NULL, NULL, false, 0, false }

static const struct restart_case restart_cases[] = {
	/* the body is optional */
	RESTART_OK(NO_LENGTH),
	RESTART_OK(""),
	RESTART_OK("{}"),
	{ "{\"schedule\":\"2030-01-01T00:00:00+00:00\",\"role\":\"replica\","
	  "\"postgres_version\":\"15.4\",\"timeout\":30,\"restart_pending\":true}",
	  0, NULL, "2030-01-01T00:00:00+00:00", "replica", "15.4", true, 30, true },
	{ "{\"restart_pending\":false}", 0, NULL, NULL, NULL, NULL, false, 0, false },
	/* the schedule's format and time are the caller's (it has the clock) */
	{ "{\"schedule\":\"tomorrow\"}", 0, NULL, "tomorrow", NULL, NULL, false, 0, false },
	RESTART_ROLE("{\"role\":\"master\"}", "master"),
	RESTART_ROLE("{\"role\":\"primary\"}", "primary"),
	RESTART_ROLE("{\"role\":\"replica\"}", "replica"),
	RESTART_BAD("{\"role\":\"leader\"}", 400, bad_role),
	RESTART_BAD("{\"role\":\"Replica\"}", 400, bad_role),
	RESTART_BAD("{\"role\":\"standby_leader\"}", 400, bad_role),
	RESTART_BAD("{\"role\":1}", 400, bad_role),
	RESTART_BAD("{\"role\":null}", 400, bad_role),
	RESTART_VERSION("{\"postgres_version\":\"15\"}", "15"),
	RESTART_VERSION("{\"postgres_version\":\"15.4\"}", "15.4"),
	RESTART_VERSION("{\"postgres_version\":\"9.6.24\"}", "9.6.24"),
	RESTART_BAD("{\"postgres_version\":\"9.6\"}", 400,
		    "Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 9.6"),
	RESTART_BAD("{\"postgres_version\":\"9\"}", 400, "Invalid PostgreSQL version format"),
	RESTART_BAD("{\"postgres_version\":\"1.2.3.4\"}", 400, "Invalid PostgreSQL version format"),
	RESTART_BAD("{\"postgres_version\":\"a.b\"}", 400, "Invalid PostgreSQL version: a.b"),
	RESTART_BAD("{\"postgres_version\":\"15.\"}", 400, "Invalid PostgreSQL version: 15."),
	RESTART_BAD("{\"postgres_version\":\"\"}", 400, "Invalid PostgreSQL version: "),
	RESTART_BAD("{\"postgres_version\":\"15 .4\"}", 400, "Invalid PostgreSQL version"),
	RESTART_BAD("{\"postgres_version\":\"1234567.1\"}", 400, "Invalid PostgreSQL version"),
	RESTART_BAD("{\"postgres_version\":15.4}", 400, "\"postgres_version\" must be a string"),
	RESTART_TIMEOUT("{\"timeout\":1}", 1),
	RESTART_TIMEOUT("{\"timeout\":\"30\"}", 30),
	RESTART_TIMEOUT("{\"timeout\":\"30s\"}", 30),
	RESTART_TIMEOUT("{\"timeout\":\"2min\"}", 120),
	RESTART_TIMEOUT("{\"timeout\":\"10 min\"}", 600),
	RESTART_TIMEOUT("{\"timeout\":\"1h\"}", 3600),
	RESTART_TIMEOUT("{\"timeout\":\"1d\"}", 86400),
	RESTART_TIMEOUT("{\"timeout\":\"1500ms\"}", 2),
	RESTART_TIMEOUT("{\"timeout\":\"2500ms\"}", 2),
	RESTART_TIMEOUT("{\"timeout\":\"2501ms\"}", 3),
	RESTART_TIMEOUT("{\"timeout\":1.5}", 2),
	RESTART_TIMEOUT("{\"timeout\":2.5}", 2),
	RESTART_BAD("{\"timeout\":0}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":-5}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"0s\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"400ms\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"500ms\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":0.4}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"abc\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"10 parsecs\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"10S\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":true}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":null}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"99999999999999999999d\"}", 400, bad_timeout),
	RESTART_BAD("{\"timeout\":\"999999999999999999d\"}", 400, bad_timeout),
	RESTART_BAD("{\"restart_pending\":\"yes\"}", 400, "\"restart_pending\" must be true or false"),
	RESTART_BAD("{\"schedule\":5}", 400, "\"schedule\" must be a string"),
	RESTART_BAD("{\"foo\":1}", 400, "Unknown filter for the scheduled restart: foo"),
	/* the first bad key decides, in the order sent */
	RESTART_BAD("{\"foo\":1,\"role\":\"x\"}", 400, "Unknown filter for the scheduled restart: foo"),
	RESTART_BAD("{\"role\":\"x\",\"foo\":1}", 400, bad_role),
	RESTART_BAD("{\"timeout\":30,\"role\":\"x\"}", 400, bad_role),
	RESTART_BAD("[]", 400, "body must be a JSON object"),
	RESTART_BAD("{", 400, "not valid JSON"),
	RESTART_BAD("{\"role\":\"replica\"}}", 400, "not valid JSON"),
};

static void test_restart_bodies(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(restart_cases); i++) {
		const struct restart_case *row = &restart_cases[i];
		bool has_length = row->body != NO_LENGTH;
		const char *body = has_length ? row->body : NULL;
		struct rest_request r;
		char err[REST_ERROR_MAX] = "";
		int status = rest_request_parse("POST", "/restart", has_length, body,
						body != NULL ? strlen(body) : 0, &r, err, sizeof(err));
		bool ok;

		if (row->status == 0)
			ok = status == 0 && r.endpoint == REST_RESTART && r.needs_auth &&
			     same_text(r.schedule, row->schedule) && same_text(r.role, row->role) &&
			     same_text(r.postgres_version, row->postgres_version) &&
			     r.has_timeout == row->has_timeout && r.timeout_s == row->timeout_s &&
			     r.restart_pending == row->restart_pending;
		else
			ok = status == row->status && strstr(err, row->err) != NULL && r.body == NULL;
		if (!ok) {
			print_error("row %zu: %s: status %d \"%s\" schedule %s role %s version %s "
				    "timeout %d/%lld pending %d; want %d \"...%s...\"\n",
				    i, has_length ? row->body : "(no length)", status, err,
				    show(r.schedule), show(r.role), show(r.postgres_version),
				    r.has_timeout, r.timeout_s, r.restart_pending, row->status,
				    show(row->err));
			failures++;
		}
		rest_request_clear(&r);
	}
	if (failures > 0)
		fail_msg("%d of %zu restart bodies answered otherwise", failures,
			 N_ELEMENTS(restart_cases));
}

/* ---- POST /reinitialize, /reload, DELETE ---------------------------------------- */

struct small_case {
	const char *method;
	const char *uri;
	const char *body;
	int status;
	const char *err;
	bool force;
	bool has_body;
};

static const struct small_case small_cases[] = {
	{ "POST", "/reinitialize", NO_LENGTH, 0, NULL, false, false },
	{ "POST", "/reinitialize", "", 0, NULL, false, false },
	{ "POST", "/reinitialize", "{}", 0, NULL, false, true },
	{ "POST", "/reinitialize", "{\"force\":true}", 0, NULL, true, true },
	{ "POST", "/reinitialize", "{\"force\":false}", 0, NULL, false, true },
	{ "POST", "/reinitialize", "{\"force\":null}", 0, NULL, false, true },
	{ "POST", "/reinitialize", "{\"from_leader\":true}", 0, NULL, false, true },
	{ "POST", "/reinitialize", "{\"force\":\"yes\"}", 400, "\"force\" must be true or false",
	  false, false },
	{ "POST", "/reinitialize", "{\"force\":1}", 400, "\"force\"", false, false },
	{ "POST", "/reinitialize", "true", 400, "body must be a JSON object", false, false },
	{ "POST", "/reinitialize", "{x}", 400, "not valid JSON", false, false },
	/* bodies that are never read */
	{ "POST", "/reload", NO_LENGTH, 0, NULL, false, false },
	{ "POST", "/reload", "not json at all", 0, NULL, false, false },
	{ "DELETE", "/switchover", "{\"leader\":1}", 0, NULL, false, false },
	{ "DELETE", "/restart", "\xff\xfe", 0, NULL, false, false },
};

static void test_small_bodies(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(small_cases); i++) {
		const struct small_case *row = &small_cases[i];
		bool has_length = row->body != NO_LENGTH;
		const char *body = has_length ? row->body : NULL;
		struct rest_request r;
		char err[REST_ERROR_MAX] = "";
		int status = rest_request_parse(row->method, row->uri, has_length, body,
						body != NULL ? strlen(body) : 0, &r, err, sizeof(err));
		bool ok;

		if (row->status == 0)
			ok = status == 0 && r.needs_auth && r.force == row->force &&
			     (r.body != NULL) == row->has_body;
		else
			ok = status == row->status && strstr(err, row->err) != NULL && !r.force;
		if (!ok) {
			print_error("row %zu: %s %s %s: status %d \"%s\" force %d body %d; want %d\n",
				    i, row->method, row->uri, has_length ? row->body : "(no length)",
				    status, err, r.force, r.body != NULL, row->status);
			failures++;
		}
		rest_request_clear(&r);
	}
	if (failures > 0)
		fail_msg("%d of %zu requests answered otherwise", failures, N_ELEMENTS(small_cases));
}

/* An error leaves nothing to free and no field set; clear is idempotent;
 * err may be NULL or tiny. */
static void test_errors_leave_request_empty(void **state)
{
	const char *body = "{\"role\":\"replica\",\"timeout\":\"x\"}";
	struct rest_request r;
	char tiny[4] = "xyz";

	(void)state;
	assert_int_equal(rest_request_parse("POST", "/restart", true, body, strlen(body), &r, NULL,
					    0),
			 400);
	assert_null(r.body);
	assert_null(r.role);
	assert_false(r.has_timeout);
	assert_int_equal(r.endpoint, 0);
	assert_false(r.needs_auth);
	rest_request_clear(&r);
	rest_request_clear(&r);

	assert_int_equal(rest_request_parse("POST", "/restart", true, body, strlen(body), &r, tiny,
					    sizeof(tiny)),
			 400);
	assert_string_equal(tiny, "Tim");
	assert_int_equal(rest_request_parse("GET", "/replica?tag_a=b", false, NULL, 0, &r, tiny, 1),
			 0);
	assert_int_equal(r.n_tags, 1);
	rest_request_clear(&r);
	assert_null(r.tags);
	assert_int_equal(r.n_tags, 0);
}

/* ---- authentication ----------------------------------------------------------- */

struct auth_case {
	const char *title;
	const char *header;
	const char *username;
	const char *password;
	int status;
	const char *err;
};

static const char no_header[] = "no auth header received";
static const char not_auth[] = "not authenticated";

static const struct auth_case auth_cases[] = {
	{ "authentication off", NULL, NULL, NULL, 0, "" },
	{ "authentication off, any header", "Basic !!!", NULL, NULL, 0, "" },
	{ "no header", NULL, "admin", "secret", 401, no_header },
	{ "right credentials", "Basic YWRtaW46c2VjcmV0", "admin", "secret", 0, "" },
	{ "scheme in lower case", "basic YWRtaW46c2VjcmV0", "admin", "secret", 0, "" },
	{ "blanks around", "  Basic  YWRtaW46c2VjcmV0 \t", "admin", "secret", 0, "" },
	{ "padding", "Basic YWRtaW46c2VjcmV0MQ==", "admin", "secret1", 0, "" },
	{ "colon in the password", "Basic YWRtaW46c2U6Y3JldA==", "admin", "se:cret", 0, "" },
	{ "empty password", "Basic YWRtaW46", "admin", "", 0, "" },
	{ "NULL password is empty", "Basic YWRtaW46", "admin", NULL, 0, "" },
	{ "wrong password", "Basic YWRtaW46d3Jvbmc=", "admin", "secret", 401, not_auth },
	{ "wrong user", "Basic cm9vdDpzZWNyZXQ=", "admin", "secret", 401, not_auth },
	{ "password a prefix", "Basic YWRtaW46c2VjcmU=", "admin", "secret", 401, not_auth },
	{ "password longer", "Basic YWRtaW46c2VjcmV0dA==", "admin", "secret", 401, not_auth },
	{ "NUL after the password", "Basic YWRtaW46c2VjcmV0AA==", "admin", "secret", 401, not_auth },
	{ "user:password swapped", "Basic YTpi", "b", "a", 401, not_auth },
	{ "no colon", "Basic YWRtaW4=", "admin", "", 401, not_auth },
	{ "empty credentials", "Basic ", "admin", "secret", 401, not_auth },
	{ "scheme only", "Basic", "admin", "secret", 401, not_auth },
	{ "empty header", "", "admin", "secret", 401, not_auth },
	{ "another scheme", "Bearer YWRtaW46c2VjcmV0", "admin", "secret", 401, not_auth },
	{ "scheme glued on", "BasicYWRtaW46c2VjcmV0", "admin", "secret", 401, not_auth },
	{ "malformed base64", "Basic !!!!", "admin", "secret", 401, not_auth },
	{ "missing padding", "Basic YWRtaW46c2VjcmV0MQ", "admin", "secret1", 401, not_auth },
	{ "non-zero pad bits", "Basic YWRtaW46c2VjcmV0MR==", "admin", "secret1", 401, not_auth },
	{ "padding inside", "Basic YW=taW46c2VjcmV0", "admin", "secret", 401, not_auth },
	{ "three pads", "Basic YWRtaW46c2VjcmV0M===", "admin", "secret1", 401, not_auth },
	{ "blank inside", "Basic YWRt aW46c2VjcmV0", "admin", "secret", 401, not_auth },
	{ "URL-safe alphabet", "Basic YWRtaW46c2VjcmV0-_==", "admin", "secret", 401, not_auth },
	{ "plain text", "Basic admin:secret", "admin", "secret", 401, not_auth },
};

static void test_auth(void **state)
{
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < N_ELEMENTS(auth_cases); i++) {
		const struct auth_case *row = &auth_cases[i];
		char err[REST_ERROR_MAX] = "untouched";
		int status = rest_auth_check(row->header, row->username, row->password, err,
					     sizeof(err));

		if (status == row->status && strcmp(err, row->err) == 0)
			continue;
		print_error("%s: %d \"%s\", want %d \"%s\"\n", row->title, status, err, row->status,
			    row->err);
		failures++;
	}
	/* err is optional */
	assert_int_equal(rest_auth_check(NULL, "admin", "secret", NULL, 0), 401);
	if (failures > 0)
		fail_msg("%d of %zu authentication rows answered otherwise", failures,
			 N_ELEMENTS(auth_cases));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_routes),
		cmocka_unit_test(test_write_routes),
		cmocka_unit_test(test_missing_method_or_uri),
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_lag_query),
		cmocka_unit_test(test_tag_query),
		cmocka_unit_test(test_switchover_bodies),
		cmocka_unit_test(test_config_bodies),
		cmocka_unit_test(test_oversized_body),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_restart_bodies),
		cmocka_unit_test(test_small_bodies),
		cmocka_unit_test(test_errors_leave_request_empty),
		cmocka_unit_test(test_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
