/*
 * REST API requests: routing, query strings, JSON bodies and basic
 * authentication (see rest_request.h).  Pure: the only side effect is
 * memory, and everything allocated hangs off struct rest_request.
 *
 * Routing follows Patroni's RestApiHandler.parse_request(): the first path
 * segment names the handler ("/config/", "//config" and "/config/x" all
 * name "config"), and GET, HEAD and OPTIONS on a path no handler takes are
 * health checks.  Two deliberate differences:
 *  - a health check is chosen by its segment, not by Patroni's substring
 *    tests ('replica' in path), so "/not-a-replica" is unknown (503);
 *  - HEAD and OPTIONS on /patroni, /cluster, /liveness... name that
 *    endpoint (status line only).  Patroni sends them to its health-check
 *    handler, where they fail with 503, which no one can want from
 *    "HEAD /liveness".
 * A method we do not implement at all (TRACE, CONNECT, anything else) gets
 * 501, as from Patroni (BaseHTTPRequestHandler's "Unsupported method") and
 * as RFC 9110 section 15.6.2 says; 405 is for a method we know on a path
 * that does not take it.
 */
#include "agent/rest_request.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The server refuses larger bodies too; this keeps the parser honest when
 * it is called with anything else (the fuzzer, a future caller). */
#define REST_BODY_MAX (1024 * 1024)

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

enum method {
	METHOD_GET,
	METHOD_HEAD,
	METHOD_OPTIONS,
	METHOD_POST,
	METHOD_PUT,
	METHOD_PATCH,
	METHOD_DELETE,
	METHOD_UNKNOWN,
};

/* How an endpoint treats the request body. */
enum body_rule {
	BODY_IGNORED,		/* reload, DELETE: never read */
	BODY_OPTIONAL,		/* restart, reinitialize: {} when absent */
	BODY_REQUIRED,		/* config, switchover, failover */
};

/* GET endpoints with their own handler, by first path segment. */
static const struct {
	const char *segment;
	enum rest_endpoint endpoint;
} read_routes[] = {
	{ "patroni", REST_PATRONI },
	{ "cluster", REST_CLUSTER },
	{ "history", REST_HISTORY },
	{ "config", REST_CONFIG_GET },
	{ "metrics", REST_METRICS },
	{ "liveness", REST_LIVENESS },
	{ "readiness", REST_READINESS },
};

/* Write endpoints: every one needs authentication (Patroni's
 * @check_access; POST /switchover delegates to the decorated failover). */
static const struct {
	enum method method;
	const char *segment;
	enum rest_endpoint endpoint;
	enum body_rule body;
} write_routes[] = {
	{ METHOD_PATCH, "config", REST_CONFIG_PATCH, BODY_REQUIRED },
	{ METHOD_PUT, "config", REST_CONFIG_PUT, BODY_REQUIRED },
	{ METHOD_POST, "switchover", REST_SWITCHOVER, BODY_REQUIRED },
	{ METHOD_POST, "failover", REST_FAILOVER, BODY_REQUIRED },
	{ METHOD_DELETE, "switchover", REST_SWITCHOVER_DELETE, BODY_IGNORED },
	{ METHOD_POST, "restart", REST_RESTART, BODY_OPTIONAL },
	{ METHOD_DELETE, "restart", REST_RESTART_DELETE, BODY_IGNORED },
	{ METHOD_POST, "reinitialize", REST_REINITIALIZE, BODY_OPTIONAL },
	{ METHOD_POST, "reload", REST_RELOAD, BODY_IGNORED },
};

/* Health checks by first path segment; "" is "/". */
static const struct {
	const char *segment;
	enum rest_health_check check;
} health_routes[] = {
	{ "", REST_CHECK_PRIMARY },
	{ "primary", REST_CHECK_PRIMARY },
	{ "master", REST_CHECK_PRIMARY },
	{ "read-write", REST_CHECK_PRIMARY },
	{ "standby-leader", REST_CHECK_STANDBY_LEADER },
	{ "standby_leader", REST_CHECK_STANDBY_LEADER },
	{ "leader", REST_CHECK_LEADER },
	{ "replica", REST_CHECK_REPLICA },
	{ "read-only", REST_CHECK_READ_ONLY },
	{ "sync", REST_CHECK_SYNC },
	{ "synchronous", REST_CHECK_SYNC },
	{ "async", REST_CHECK_ASYNC },
	{ "asynchronous", REST_CHECK_ASYNC },
	{ "read-only-sync", REST_CHECK_READ_ONLY_SYNC },
	{ "read-only-synchronous", REST_CHECK_READ_ONLY_SYNC },
	{ "health", REST_CHECK_HEALTH },
};

/* ------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* The reason goes into a response and maybe a log line: keep it one line
 * of printable ASCII whatever the client sent. */
static void set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	for (char *p = err; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c >= 0x7f)
			*p = '?';
	}
}

/* len bytes at s (a path segment, a unit: not NUL-terminated) are name. */
static bool span_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(s, name, len) == 0;
}

static enum method parse_method(const char *method)
{
	static const struct {
		const char *name;
		enum method method;
	} methods[] = {
		{ "GET", METHOD_GET },	   { "HEAD", METHOD_HEAD },   { "OPTIONS", METHOD_OPTIONS },
		{ "POST", METHOD_POST },   { "PUT", METHOD_PUT },     { "PATCH", METHOD_PATCH },
		{ "DELETE", METHOD_DELETE },
	};

	/* Methods are case-sensitive (RFC 9110 section 9.1). */
	for (size_t i = 0; i < N_ELEMENTS(methods); i++)
		if (strcmp(method, methods[i].name) == 0)
			return methods[i].method;
	return METHOD_UNKNOWN;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Python's unquote_plus(): '+' is a space, %XX a byte, a '%' not followed by
 * two hex digits stays as it is.  A decoded NUL becomes U+FFFD, as Python
 * turns undecodable input into it: our strings end at NUL, and "a%00b" must
 * not shrink to "a" and then match a tag "a".  NULL when out of memory.
 */
static char *percent_decode(const char *s, size_t len)
{
	char *out;
	size_t n = 0;

	/* Each input byte gives at most 3 output bytes (NUL -> U+FFFD). */
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(len * 3 + 1);
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
			   hex_value(s[i + 2]) >= 0) {
			c = hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]);
			i += 2;
		}
		if (c == 0) {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			n += 3;
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return out;
}

/* ------------------------------------------------------------------------
 * Numbers with units (Patroni's parse_int)
 * ------------------------------------------------------------------------ */

struct unit {
	const char *name;
	long long multiply;	/* value * multiply, or */
	long long divide;	/* round-half-even(value / divide) */
};

static const struct unit byte_units[] = {
	{ "", 1, 0 },
	{ "B", 1, 0 },
	{ "kB", 1024LL, 0 },
	{ "MB", 1024LL * 1024, 0 },
	{ "GB", 1024LL * 1024 * 1024, 0 },
	{ "TB", 1024LL * 1024 * 1024 * 1024, 0 },
};

static const struct unit second_units[] = {
	{ "", 1, 0 },
	{ "s", 1, 0 },
	{ "min", 60, 0 },
	{ "h", 3600, 0 },
	{ "d", 86400, 0 },
	{ "ms", 0, 1000 },
	{ "us", 0, 1000000 },
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Python's round(): halves go to the even neighbour. */
static long long divide_half_even(long long value, long long divisor)
{
	long long q = value / divisor, r = value % divisor;

	if (r * 2 > divisor || (r * 2 == divisor && (q & 1)))
		q++;
	return q;
}

/*
 * "<digits> [unit]" with optional blanks around and between, as Patroni's
 * strtol()/parse_int() read it; units are case-sensitive.  Integers only
 * (Patroni also takes "1.5MB" and hex; no one sends those to a health
 * check).  False when malformed, negative or out of range.
 */
static bool parse_with_units(const char *text, const struct unit *units, size_t n_units,
			     long long *out)
{
	const char *p = text, *unit, *end;
	long long value = 0;

	if (text == NULL)
		return false;
	while (is_space(*p))
		p++;
	if (*p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (value > (LLONG_MAX - (*p - '0')) / 10)
			return false;
		value = value * 10 + (*p - '0');
	}
	while (is_space(*p))
		p++;
	unit = p;
	end = unit + strlen(unit);
	while (end > unit && is_space(end[-1]))
		end--;
	for (size_t i = 0; i < n_units; i++) {
		const struct unit *u = &units[i];

		if (!span_is(unit, (size_t)(end - unit), u->name))
			continue;
		if (u->divide > 0) {
			*out = divide_half_even(value, u->divide);
			return true;
		}
		if (value > LLONG_MAX / u->multiply)
			return false;
		*out = value * u->multiply;
		return true;
	}
	return false;
}

bool rest_parse_bytes(const char *text, long long *out)
{
	return parse_with_units(text, byte_units, N_ELEMENTS(byte_units), out);
}

/* ------------------------------------------------------------------------
 * Query string (Python's parse_qs as Patroni calls it)
 * ------------------------------------------------------------------------ */

static bool has_tag(const struct rest_request *r, const char *key)
{
	for (size_t i = 0; i < r->n_tags; i++)
		if (strcmp(r->tags[i].key, key) == 0)
			return true;
	return false;
}

/* Takes ownership of key and value (both malloc'd). */
static bool add_tag(struct rest_request *r, char *key, char *value)
{
	struct rest_tag_filter *tags;

	tags = realloc(r->tags, (r->n_tags + 1) * sizeof(*tags));
	if (tags == NULL) {
		free(key);
		free(value);
		return false;
	}
	r->tags = tags;
	r->tags[r->n_tags].key = key;
	r->tags[r->n_tags].value = value;
	r->n_tags++;
	return true;
}

/*
 * One "name=value" pair.  Like parse_qs: pairs without '=' or with an empty
 * value are dropped, and Patroni only ever looks at the first value of a
 * name, so later repeats of "lag" or of one tag are ignored.  A malformed
 * lag is ignored too (Patroni: parse_int() gives None, then no limit).
 */
static bool query_pair(struct rest_request *r, const char *pair, size_t len, bool *seen_lag)
{
	const char *eq = memchr(pair, '=', len);
	char *key, *value;

	if (eq == NULL || eq + 1 == pair + len)
		return true;
	key = percent_decode(pair, (size_t)(eq - pair));
	value = percent_decode(eq + 1, (size_t)(pair + len - eq - 1));
	if (key == NULL || value == NULL) {
		free(key);
		free(value);
		return false;
	}
	if (strcmp(key, "lag") == 0 && !*seen_lag) {
		*seen_lag = true;
		r->has_lag = rest_parse_bytes(value, &r->lag_bytes);
		if (!r->has_lag)
			r->lag_bytes = 0;
	} else if (strncmp(key, "tag_", 4) == 0 && !has_tag(r, key + 4)) {
		char *tag = strdup(key + 4);

		free(key);
		return tag != NULL && add_tag(r, tag, value);
	}
	free(key);
	free(value);
	return true;
}

static bool parse_query(struct rest_request *r, const char *query, size_t len)
{
	bool seen_lag = false;
	size_t start = 0;

	while (start <= len) {
		const char *amp = memchr(query + start, '&', len - start);
		size_t end = amp != NULL ? (size_t)(amp - query) : len;

		if (!query_pair(r, query + start, end - start, &seen_lag))
			return false;
		start = end + 1;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Bodies
 * ------------------------------------------------------------------------ */

/* A string member, or absent: JSON null counts as absent (Python's
 * dict.get gives None for both).  400 naming the key for other types. */
static int get_string(const json_t *body, const char *key, const char **out, char *err,
		      size_t err_size)
{
	const json_t *value = json_object_get(body, key);

	*out = NULL;
	if (value == NULL || json_is_null(value))
		return 0;
	if (!json_is_string(value)) {
		set_err(err, err_size, "\"%s\" must be a string", key);
		return 400;
	}
	*out = json_string_value(value);
	return 0;
}

/* For switchover/failover Patroni tests names for truth: "" is absent. */
static const char *non_empty(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

/* POST /switchover and /failover: the checks that need neither the
 * cluster nor the clock, in Patroni's order (do_POST_failover). */
static int check_switchover(struct rest_request *r, bool failover, char *err, size_t err_size)
{
	const char *candidate = NULL, *member = NULL;
	int status;

	if ((status = get_string(r->body, "leader", &r->leader, err, err_size)) != 0 ||
	    (status = get_string(r->body, "candidate", &candidate, err, err_size)) != 0 ||
	    (status = get_string(r->body, "member", &member, err, err_size)) != 0 ||
	    (status = get_string(r->body, "scheduled_at", &r->scheduled_at, err, err_size)) != 0)
		return status;
	r->leader = non_empty(r->leader);
	r->candidate = non_empty(candidate) != NULL ? candidate : non_empty(member);
	r->scheduled_at = non_empty(r->scheduled_at);

	if (failover && r->candidate == NULL) {
		set_err(err, err_size, "Failover could be performed only to a specific candidate");
		return 400;
	}
	if (!failover && r->leader == NULL) {
		set_err(err, err_size, "Switchover could be performed only from a specific leader");
		return 400;
	}
	if (failover && r->scheduled_at != NULL) {
		set_err(err, err_size, "Failover can't be scheduled");
		return 400;
	}
	if (r->leader != NULL && r->candidate != NULL && strcmp(r->leader, r->candidate) == 0) {
		set_err(err, err_size, "Switchover target and source are the same");
		return 400;
	}
	return 0;
}

/* Digits and dots: "15", "15.4", "9.6.24" (Patroni's
 * postgres_version_to_int() with its messages; it also refuses a bare
 * major, which pgherd takes for "15.0"). */
static int check_postgres_version(const char *v, char *err, size_t err_size)
{
	int components = 1, digits = 0;
	long first = 0;
	bool in_first = true;

	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '.') {
			if (digits == 0)
				break;
			components++;
			digits = 0;
			in_first = false;
		} else if (*p >= '0' && *p <= '9') {
			/* Each component is a small number; 6 digits is plenty. */
			if (++digits > 6) {
				digits = -1;
				break;
			}
			if (in_first)
				first = first * 10 + (*p - '0');
		} else {
			digits = -1;
			break;
		}
	}
	if (digits <= 0) {
		set_err(err, err_size, "Invalid PostgreSQL version: %.64s", v);
		return 400;
	}
	if (components > 3 || (components < 3 && first < 10)) {
		set_err(err, err_size,
			"Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: %.64s", v);
		return 400;
	}
	return 0;
}

/* Patroni's parse_int(timeout, 's') > 0: an integer, a number (rounded
 * half to even) or a string with units. */
static bool parse_timeout(const json_t *value, long long *out)
{
	if (json_is_integer(value)) {
		*out = json_integer_value(value);
	} else if (json_is_real(value)) {
		double d = json_real_value(value);
		long long whole;
		double frac;

		if (!(d > 0 && d < 1e15))
			return false;
		whole = (long long)d;
		frac = d - (double)whole;
		if (frac > 0.5 || (frac == 0.5 && (whole & 1)))
			whole++;
		*out = whole;
	} else if (json_is_string(value)) {
		if (!parse_with_units(json_string_value(value), second_units,
				      N_ELEMENTS(second_units), out))
			return false;
	} else {
		return false;
	}
	return *out > 0;
}

/* One key of POST /restart; like Patroni, the first bad key decides. */
static int check_restart_key(struct rest_request *r, const char *key, const json_t *value,
			     char *err, size_t err_size)
{
	if (strcmp(key, "schedule") == 0) {
		/* Its format and whether it lies in the future need the
		 * clock: the caller checks (400/422 as Patroni). */
		if (!json_is_string(value)) {
			set_err(err, err_size, "\"schedule\" must be a string");
			return 400;
		}
		r->schedule = json_string_value(value);
	} else if (strcmp(key, "role") == 0) {
		const char *role = json_is_string(value) ? json_string_value(value) : "";

		if (strcmp(role, "master") != 0 && strcmp(role, "primary") != 0 &&
		    strcmp(role, "replica") != 0) {
			set_err(err, err_size, "PostgreSQL role should be either primary or replica");
			return 400;
		}
		r->role = role;
	} else if (strcmp(key, "postgres_version") == 0) {
		int status;

		if (!json_is_string(value)) {
			set_err(err, err_size, "\"postgres_version\" must be a string");
			return 400;
		}
		status = check_postgres_version(json_string_value(value), err, err_size);
		if (status != 0)
			return status;
		r->postgres_version = json_string_value(value);
	} else if (strcmp(key, "timeout") == 0) {
		if (!parse_timeout(value, &r->timeout_s)) {
			r->timeout_s = 0;
			set_err(err, err_size, "Timeout should be a positive number of seconds");
			return 400;
		}
		r->has_timeout = true;
	} else if (strcmp(key, "restart_pending") == 0) {
		if (!json_is_boolean(value)) {
			set_err(err, err_size, "\"restart_pending\" must be true or false");
			return 400;
		}
		r->restart_pending = json_is_true(value);
	} else {
		set_err(err, err_size, "Unknown filter for the scheduled restart: %.64s", key);
		return 400;
	}
	return 0;
}

static int check_restart(struct rest_request *r, char *err, size_t err_size)
{
	const char *key;
	json_t *value;

	/* jansson keeps insertion order: the keys come as the client sent
	 * them, so the same key is reported as by Patroni. */
	json_object_foreach (r->body, key, value) {
		int status = check_restart_key(r, key, value, err, err_size);

		if (status != 0)
			return status;
	}
	return 0;
}

/* POST /reinitialize: only "force" is read; other keys are ignored as by
 * Patroni (which has "from_leader" since 4.0). */
static int check_reinitialize(struct rest_request *r, char *err, size_t err_size)
{
	const json_t *force = json_object_get(r->body, "force");

	if (force == NULL || json_is_null(force))
		return 0;
	if (!json_is_boolean(force)) {
		set_err(err, err_size, "\"force\" must be true or false");
		return 400;
	}
	r->force = json_is_true(force);
	return 0;
}

/* Patroni's _read_json_content(): a missing Content-Length is 411 when the
 * body is required and "no body" when it is optional; a required body
 * must be a non-empty object ({} is refused as well). */
static int read_body(struct rest_request *r, enum body_rule rule, bool has_content_length,
		     const char *body, size_t body_len, char *err, size_t err_size)
{
	json_error_t error;

	if (rule == BODY_IGNORED)
		return 0;
	if (!has_content_length) {
		if (rule == BODY_OPTIONAL)
			return 0;
		set_err(err, err_size, "Length Required: the request needs a Content-Length");
		return 411;
	}
	if (body_len == 0 || body == NULL) {
		if (rule == BODY_OPTIONAL)
			return 0;
		set_err(err, err_size, "the request needs a JSON object body");
		return 400;
	}
	/* json_loadb() reads exactly body_len bytes: a NUL inside is a
	 * syntax error (or, in a string, refused without JSON_ALLOW_NUL),
	 * and invalid UTF-8 is refused.  Any value is decoded, so that
	 * "null" or "[]" get the same answer: not an object. */
	r->body = json_loadb(body, body_len, JSON_DECODE_ANY, &error);
	if (r->body == NULL) {
		set_err(err, err_size, "body is not valid JSON: %.120s", error.text);
		return 400;
	}
	if (!json_is_object(r->body)) {
		set_err(err, err_size, "body must be a JSON object");
		return 400;
	}
	if (rule == BODY_REQUIRED && json_object_size(r->body) == 0) {
		set_err(err, err_size, "body must be a non-empty JSON object");
		return 400;
	}
	return 0;
}

static int check_body(struct rest_request *r, char *err, size_t err_size)
{
	if (r->body == NULL)
		return 0;
	switch (r->endpoint) {
	case REST_SWITCHOVER:
		return check_switchover(r, false, err, err_size);
	case REST_FAILOVER:
		return check_switchover(r, true, err, err_size);
	case REST_RESTART:
		return check_restart(r, err, err_size);
	case REST_REINITIALIZE:
		return check_reinitialize(r, err, err_size);
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------------ */

static bool is_known_segment(const char *segment, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(read_routes); i++)
		if (span_is(segment, len, read_routes[i].segment))
			return true;
	for (size_t i = 0; i < N_ELEMENTS(write_routes); i++)
		if (span_is(segment, len, write_routes[i].segment))
			return true;
	for (size_t i = 0; i < N_ELEMENTS(health_routes); i++)
		if (span_is(segment, len, health_routes[i].segment))
			return true;
	return false;
}

static void route_read(struct rest_request *r, const char *segment, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(read_routes); i++) {
		if (span_is(segment, len, read_routes[i].segment)) {
			r->endpoint = read_routes[i].endpoint;
			return;
		}
	}
	r->endpoint = REST_HEALTH;
	r->check = REST_CHECK_UNKNOWN;
	for (size_t i = 0; i < N_ELEMENTS(health_routes); i++) {
		if (span_is(segment, len, health_routes[i].segment)) {
			r->check = health_routes[i].check;
			return;
		}
	}
}

/* The write route for method and segment, or -1. */
static int find_write_route(enum method method, const char *segment, size_t len)
{
	for (size_t i = 0; i < N_ELEMENTS(write_routes); i++)
		if (write_routes[i].method == method && span_is(segment, len, write_routes[i].segment))
			return (int)i;
	return -1;
}

static int parse_request(const char *method_name, const char *uri, bool has_content_length,
			 const char *body, size_t body_len, struct rest_request *r, char *err,
			 size_t err_size)
{
	enum method method = parse_method(method_name);
	const char *path_end = uri + strcspn(uri, "?#");
	const char *segment = uri;
	size_t segment_len;
	int route, status;

	if (method == METHOD_UNKNOWN) {
		set_err(err, err_size, "Unsupported method (%.32s)", method_name);
		return 501;
	}
	while (segment < path_end && *segment == '/')
		segment++;
	segment_len = strcspn(segment, "/?#");

	if (method == METHOD_GET || method == METHOD_HEAD || method == METHOD_OPTIONS) {
		route_read(r, segment, segment_len);
		r->status_line_only = method != METHOD_GET;
		if (*path_end == '?') {
			const char *query = path_end + 1;

			if (!parse_query(r, query, strcspn(query, "#"))) {
				set_err(err, err_size, "out of memory");
				return 500;
			}
		}
		return 0;
	}

	route = find_write_route(method, segment, segment_len);
	if (route < 0) {
		if (is_known_segment(segment, segment_len)) {
			set_err(err, err_size, "method %s not allowed on /%.*s", method_name,
				(int)(segment_len > 64 ? 64 : segment_len), segment);
			return 405;
		}
		set_err(err, err_size, "no endpoint /%.*s",
			(int)(segment_len > 64 ? 64 : segment_len), segment);
		return 404;
	}
	r->endpoint = write_routes[route].endpoint;
	r->needs_auth = true;
	if (has_content_length && body_len > REST_BODY_MAX) {
		set_err(err, err_size, "request body over %d bytes", REST_BODY_MAX);
		return 413;
	}
	status = read_body(r, write_routes[route].body, has_content_length, body, body_len, err,
			   err_size);
	if (status != 0)
		return status;
	return check_body(r, err, err_size);
}

int rest_request_parse(const char *method, const char *uri, bool has_content_length,
		       const char *body, size_t body_len, struct rest_request *out, char *err,
		       size_t err_size)
{
	int status;

	memset(out, 0, sizeof(*out));
	if (err != NULL && err_size > 0)
		err[0] = '\0';
	if (method == NULL || uri == NULL) {
		set_err(err, err_size, "no method or request target");
		return 400;
	}
	status = parse_request(method, uri, has_content_length, body, body_len, out, err, err_size);
	if (status != 0)
		rest_request_clear(out);
	return status;
}

void rest_request_clear(struct rest_request *request)
{
	for (size_t i = 0; i < request->n_tags; i++) {
		free(request->tags[i].key);
		free(request->tags[i].value);
	}
	free(request->tags);
	json_decref(request->body);
	memset(request, 0, sizeof(*request));
}

/* ------------------------------------------------------------------------
 * Basic authentication
 * ------------------------------------------------------------------------ */

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Standard base64 with padding, canonical only: the length a multiple of 4,
 * '=' only at the end, unused bits zero.  Patroni compares the encoded text
 * with its own encoding of "user:password", so the canonical form is the
 * only one it accepts either.  out needs len / 4 * 3 bytes; returns the
 * decoded length or -1.
 */
static long base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t n = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		unsigned long bits = 0;
		int pad = 0;

		if (i + 4 == len && in[i + 3] == '=')
			pad = in[i + 2] == '=' ? 2 : 1;
		for (int j = 0; j < 4; j++) {
			/* '=' anywhere but the padding is not base64 */
			int v = j < 4 - pad ? base64_value((unsigned char)in[i + j]) : 0;

			if (v < 0)
				return -1;
			bits = bits << 6 | (unsigned long)v;
		}
		/* Padding leaves 4 or 2 unused bits: they must be zero. */
		if ((pad == 2 && (bits & 0xffff) != 0) || (pad == 1 && (bits & 0xff) != 0))
			return -1;
		out[n++] = (unsigned char)(bits >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(bits >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)bits;
	}
	return (long)n;
}

/*
 * Equality in time that depends only on the lengths: every byte up to the
 * longer length is looked at, and differences are accumulated, never acted
 * on, until the end.  Returns 0 when equal.
 */
static unsigned int diff_bytes(const unsigned char *a, size_t a_len, const unsigned char *b,
			       size_t b_len)
{
	size_t n = a_len > b_len ? a_len : b_len;
	unsigned int diff = a_len != b_len;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < a_len ? a[i] : 0;
		unsigned char y = i < b_len ? b[i] : 0;

		diff |= (unsigned int)(x ^ y);
	}
	return diff;
}

/* "Basic <base64>", the scheme case-insensitive (RFC 7617; Patroni wants
 * "Basic " exactly, which this includes), blanks around the credentials
 * allowed.  The decoded bytes, malloc'd, or NULL when malformed. */
static unsigned char *decode_basic(const char *header, size_t *len)
{
	const char *p = header, *end;
	unsigned char *decoded;
	long n;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "basic", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
		return NULL;
	p += 5;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	decoded = malloc((size_t)(end - p) / 4 * 3 + 1);
	if (decoded == NULL)
		return NULL;
	n = base64_decode(p, (size_t)(end - p), decoded);
	if (n < 0) {
		free(decoded);
		return NULL;
	}
	*len = (size_t)n;
	return decoded;
}

int rest_auth_check(const char *authorization, const char *username, const char *password,
		    char *err, size_t err_size)
{
	const unsigned char *colon;
	unsigned char *decoded;
	unsigned int diff;
	size_t len = 0, user_len;

	if (err != NULL && err_size > 0)
		err[0] = '\0';
	if (username == NULL)
		return 0;
	if (authorization == NULL) {
		set_err(err, err_size, "no auth header received");
		return 401;
	}
	if (password == NULL)
		password = "";
	decoded = decode_basic(authorization, &len);
	colon = decoded != NULL ? memchr(decoded, ':', len) : NULL;
	if (colon == NULL) {
		free(decoded);
		set_err(err, err_size, "not authenticated");
		return 401;
	}
	/* The user-id ends at the first colon (RFC 7617); both parts are
	 * compared in full before the answer is known. */
	user_len = (size_t)(colon - decoded);
	diff = diff_bytes(decoded, user_len, (const unsigned char *)username, strlen(username));
	diff |= diff_bytes(colon + 1, len - user_len - 1, (const unsigned char *)password,
			   strlen(password));
	free(decoded);
	if (diff != 0) {
		set_err(err, err_size, "not authenticated");
		return 401;
	}
	return 0;
}
