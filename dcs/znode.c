/*
 * Znode codecs: Patroni-compatible paths and znode contents.
 *
 * Design notes.
 *
 * - Byte compatibility.  Patroni writes with Python's
 *   json.dumps(value, separators=(',', ':')): no spaces, insertion order,
 *   non-ASCII as lowercase \uXXXX, shortest float repr.  jansson keeps
 *   insertion order and, with JSON_COMPACT | JSON_ENSURE_ASCII, differs in
 *   three details that pythonize() patches: \u00E9 (upper case hex), a raw
 *   DEL byte, and real numbers (0.90000000000000002, 1e22 where Python's
 *   repr() gives 0.9, 1e+22).
 *   Matching bytes matters because the agent rewrites its member znode only
 *   when the bytes change, and because operators read these znodes.
 *
 * - Strict but tolerant decoding.  Patroni's own readers never fail: bad
 *   JSON becomes {}.  We report instead (the agent logs the reason and
 *   treats the znode as unreadable), but accept every variant Patroni 3.0 to
 *   4.x writes: unknown fields, null for "absent", "master" or "primary",
 *   digit strings where Python's int() would take them, legacy plain-text
 *   forms.  Wrong types are errors that name the field, so a hand-edited
 *   znode fails loudly rather than being half understood.
 *
 * - No trust in the bytes.  Input is (data, len), not NUL-terminated; NUL
 *   bytes, invalid UTF-8, huge integers and deep nesting all end as a
 *   reason in err (jansson caps nesting at 2048 and rejects \u0000).
 *   Reasons are reduced to printable ASCII so they are safe to log.
 *
 * - Ownership.  Decoded structs own malloc'd copies of their strings and
 *   one reference on each json_t they keep; the decoded JSON tree is
 *   released before returning.  Every struct has a _clear().
 *
 * Rejected: a generic "schema" table for every znode.  The znodes are few
 * and each has one or two quirks (aliases, legacy forms, filtering) that a
 * table would have to grow flags for; plain functions read better.
 */
#include "dcs/znode.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(ZNODE_NAME_MAX == 200, "update the \"longer than\" message in name_problem()");

/* ------------------------------------------------------------------------
 * Error reporting
 * ------------------------------------------------------------------------ */

/* One decode or encode call: the prefix of its messages and where they go. */
struct ctx {
	const char *what;	/* "member JSON", "leader", ... */
	char *err;
	size_t err_size;
};

/*
 * Writes "<what>: <message>" into err and returns false.  Message text may
 * quote znode content, so anything but printable ASCII becomes '?': the
 * caller logs this string as is.
 */
static bool fail(const struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(const struct ctx *c, const char *fmt, ...)
{
	int n;

	if (c->err == NULL || c->err_size == 0)
		return false;
	n = snprintf(c->err, c->err_size, "%s: ", c->what);
	if (n >= 0 && (size_t)n < c->err_size) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(c->err + n, c->err_size - (size_t)n, fmt, ap);
		va_end(ap);
	}
	for (char *p = c->err; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch >= 0x7f)
			*p = '?';
	}
	return false;
}

static void clear_err(const struct ctx *c)
{
	if (c->err != NULL && c->err_size > 0)
		c->err[0] = '\0';
}

static const char *json_kind(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

/* ------------------------------------------------------------------------
 * Names and paths
 * ------------------------------------------------------------------------ */

/*
 * Decodes one UTF-8 sequence strictly (no overlongs, no surrogates, nothing
 * above U+10FFFF).  Returns its length, 0 if invalid.
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n;
	uint32_t v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2, v = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, v = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return n;
}

/* ZooKeeper's PathUtils.validatePath() works on Java chars (UTF-16), so a
 * code point above U+FFFF arrives as a surrogate pair and is rejected. */
static bool zookeeper_accepts(uint32_t cp)
{
	if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f))
		return false;
	if (cp >= 0xd800 && cp <= 0xf8ff)
		return false;
	if (cp >= 0xfff0)
		return false;
	return true;
}

/* Why s[0..len) cannot be a znode path component, or NULL if it can. */
static const char *name_problem(const char *s, size_t len)
{
	size_t i = 0;

	if (len == 0)
		return "is empty";
	if (len > ZNODE_NAME_MAX)
		return "is longer than 200 bytes";
	if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
		return "is \".\" or \"..\"";
	while (i < len) {
		uint32_t cp;
		size_t n;

		if (s[i] == '\0')
			return "contains a NUL byte";
		if (s[i] == '/')
			return "contains '/'";
		n = utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0)
			return "is not valid UTF-8";
		if (!zookeeper_accepts(cp))
			return cp < 0xa0 ? "contains a control character"
					 : "contains a character ZooKeeper rejects";
		i += n;
	}
	return NULL;
}

bool znode_name_is_valid(const char *name)
{
	return name != NULL && name_problem(name, strnlen(name, ZNODE_NAME_MAX + 1)) == NULL;
}

/* A bounded string builder; `ok` turns false for good on overflow. */
struct sbuf {
	char *buf;
	size_t size;
	size_t len;
	bool ok;
};

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!b->ok || b->len + n + 1 > b->size) {
		b->ok = false;
		return;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

/*
 * Appends "/<component>" for every component of path.  With collapse,
 * empty components (runs of '/', leading or trailing '/') are skipped, as
 * Patroni's re.sub('/+', '/') does for the namespace; without, they are
 * errors.  Every component must be a valid name.
 */
static bool append_components(struct sbuf *b, const char *path, bool collapse)
{
	const char *p = path;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n > 0) {
			if (name_problem(p, n) != NULL)
				return false;
			sbuf_add(b, "/", 1);
			sbuf_add(b, p, n);
		} else if (!collapse) {
			return false;
		}
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return b->ok;
}

bool znode_base_path(char *buf, size_t size, const char *namespace, const char *scope)
{
	struct sbuf b = { buf, size, 0, size > 0 };

	if (buf == NULL || size == 0)
		return false;
	buf[0] = '\0';
	if (namespace == NULL)
		namespace = ZNODE_DEFAULT_NAMESPACE;
	if (scope == NULL || !znode_name_is_valid(scope) ||
	    !append_components(&b, namespace, true) || !append_components(&b, scope, false)) {
		buf[0] = '\0';
		return false;
	}
	return true;
}

bool znode_path(char *buf, size_t size, const char *base, const char *key)
{
	struct sbuf b = { buf, size, 0, size > 0 };

	if (buf == NULL || size == 0)
		return false;
	buf[0] = '\0';
	/* base is "/a/b": skip the leading '/' and require clean components */
	if (base == NULL || key == NULL || base[0] != '/' ||
	    !append_components(&b, base + 1, false) || !append_components(&b, key, false)) {
		buf[0] = '\0';
		return false;
	}
	return true;
}

bool znode_member_path(char *buf, size_t size, const char *base, const char *member)
{
	char key[sizeof(ZNODE_MEMBERS) + ZNODE_NAME_MAX + 1];

	if (member == NULL || !znode_name_is_valid(member)) {
		if (buf != NULL && size > 0)
			buf[0] = '\0';
		return false;
	}
	snprintf(key, sizeof(key), "%s/%s", ZNODE_MEMBERS, member);
	return znode_path(buf, size, base, key);
}

/* ------------------------------------------------------------------------
 * Election candidates
 * ------------------------------------------------------------------------ */

bool znode_candidate_prefix(char *buf, size_t size, const char *member)
{
	int n;

	if (buf == NULL || size == 0)
		return false;
	buf[0] = '\0';
	if (member == NULL || !znode_name_is_valid(member))
		return false;
	n = snprintf(buf, size, "%s-", member);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return false;
	}
	return true;
}

bool znode_candidate_parse(const char *child_name, char *member, size_t member_size,
			   long long *sequence)
{
	const char *dash;
	size_t member_len;
	long long seq = 0;

	if (child_name == NULL || member == NULL || sequence == NULL)
		return false;
	/* ZooKeeper's counter is "%010d": exactly ten digits after the last
	 * '-'.  (It wraps to "-2147483648" after 2^31 creates in one parent,
	 * which this rejects; unreachable for an election folder.) */
	dash = strrchr(child_name, '-');
	if (dash == NULL || strlen(dash + 1) != ZNODE_SEQUENCE_DIGITS)
		return false;
	for (const char *d = dash + 1; *d; d++) {
		if (*d < '0' || *d > '9')
			return false;
		seq = seq * 10 + (*d - '0');
	}
	member_len = (size_t)(dash - child_name);
	if (name_problem(child_name, member_len) != NULL || member_len + 1 > member_size)
		return false;
	memcpy(member, child_name, member_len);
	member[member_len] = '\0';
	*sequence = seq;
	return true;
}

bool znode_candidate_from_child(struct znode_candidate *out, const char *child_name)
{
	if (out == NULL)
		return false;
	return znode_candidate_parse(child_name, out->member, sizeof(out->member), &out->sequence);
}

int znode_candidate_compare(const void *a, const void *b)
{
	const struct znode_candidate *x = a, *y = b;

	if (x->sequence != y->sequence)
		return x->sequence < y->sequence ? -1 : 1;
	/* Equal sequences cannot come from one parent; keep the order total
	 * anyway so qsort() results are deterministic. */
	return strcmp(x->member, y->member);
}

/* ------------------------------------------------------------------------
 * JSON helpers
 * ------------------------------------------------------------------------ */

/*
 * Rejects what jansson would wrongly accept: it skips a NUL byte between
 * tokens ({"a":1<NUL>} parses), where Python's json.loads() fails.
 */
static bool check_no_nul(const struct ctx *c, const char *data, int len)
{
	const char *nul = memchr(data, '\0', (size_t)len);

	if (nul != NULL)
		return fail(c, "contains a NUL byte at offset %td", nul - data);
	return true;
}

/* Parses (data, len) into any JSON value, or reports why not. */
static json_t *load_json(const struct ctx *c, const char *data, int len)
{
	json_error_t error;
	json_t *root;

	if (data == NULL || len <= 0) {
		fail(c, "znode is empty");
		return NULL;
	}
	if (!check_no_nul(c, data, len))
		return NULL;
	root = json_loadb(data, (size_t)len, JSON_DECODE_ANY, &error);
	if (root == NULL)
		fail(c, "invalid JSON at line %d column %d: %s", error.line, error.column,
		     error.text);
	return root;
}

static json_t *load_object(const struct ctx *c, const char *data, int len)
{
	json_t *root = load_json(c, data, len);

	if (root != NULL && !json_is_object(root)) {
		fail(c, "must be a JSON object, got %s", json_kind(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Python's bool() of a JSON value. */
static bool json_truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_TRUE:
		return true;
	case JSON_FALSE:
	case JSON_NULL:
		return false;
	case JSON_INTEGER:
		return json_integer_value(v) != 0;
	case JSON_REAL:
		return json_real_value(v) != 0.0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_OBJECT:
		return json_object_size(v) > 0;
	}
	return false;
}

/* Decimal text as Python's int() takes it from Patroni's znodes: optional
 * sign, digits, no spaces, within long long. */
static bool parse_decimal(const char *s, size_t len, long long *out)
{
	size_t i = 0;
	bool negative = false;
	unsigned long long v = 0, limit;

	if (len > 0 && (s[0] == '-' || s[0] == '+')) {
		negative = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return false;
	limit = negative ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (limit - (unsigned long long)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (unsigned long long)(s[i] - '0');
	}
	if (negative)
		*out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
	else
		*out = (long long)v;
	return true;
}

/* Integer from a JSON integer or, where Patroni may write one, a digit
 * string. */
static bool json_int_value(const json_t *v, bool allow_string, long long *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return true;
	}
	if (allow_string && json_is_string(v))
		return parse_decimal(json_string_value(v), json_string_length(v), out);
	return false;
}

/*
 * Field readers.  `field` is the name used in messages ("timeline",
 * "tags.failover_priority").  Absent and null both leave the output alone
 * and report *present = false where the caller needs to know.
 */
static bool read_string(const struct ctx *c, const json_t *obj, const char *key,
			const char *field, char **dst)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return fail(c, "field \"%s\" must be a string, got %s", field, json_kind(v));
	*dst = strdup(json_string_value(v));
	if (*dst == NULL)
		return fail(c, "out of memory");
	return true;
}

static bool read_bool(const struct ctx *c, const json_t *obj, const char *key, const char *field,
		      bool *present, bool *dst)
{
	const json_t *v = json_object_get(obj, key);

	if (present)
		*present = false;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_boolean(v))
		return fail(c, "field \"%s\" must be a boolean, got %s", field, json_kind(v));
	*dst = json_is_true(v);
	if (present)
		*present = true;
	return true;
}

static bool read_int(const struct ctx *c, const json_t *obj, const char *key, const char *field,
		     bool allow_string, long long min, bool *present, long long *dst)
{
	const json_t *v = json_object_get(obj, key);
	long long value;

	if (present)
		*present = false;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_int_value(v, allow_string, &value)) {
		if (allow_string && json_is_string(v))
			return fail(c, "field \"%s\" must be an integer, got non-numeric string",
				    field);
		return fail(c, "field \"%s\" must be an integer, got %s", field, json_kind(v));
	}
	if (value < min)
		return fail(c, "field \"%s\" must be at least %lld, got %lld", field, min, value);
	*dst = value;
	if (present)
		*present = true;
	return true;
}

static bool read_int64(const struct ctx *c, const json_t *obj, const char *key, long long min,
		       bool *present, int64_t *dst)
{
	long long v = 0;

	if (!read_int(c, obj, key, key, false, min, present, &v))
		return false;
	if (*present)
		*dst = (int64_t)v;
	return true;
}

/* Keeps a reference to an optional object field. */
static bool read_object(const struct ctx *c, const json_t *obj, const char *key,
			const char *field, json_t **dst)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_object(v))
		return fail(c, "field \"%s\" must be an object, got %s", field, json_kind(v));
	*dst = json_incref(v);
	return true;
}

/* A growable output buffer; `ok` turns false for good when out of memory. */
struct gbuf {
	char *data;
	size_t len;
	size_t cap;
	bool ok;
};

static void gbuf_add(struct gbuf *b, const char *s, size_t n)
{
	if (!b->ok)
		return;
	if (b->data == NULL || b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *grown;

		while (cap < b->len + n + 1)
			cap *= 2;
		grown = realloc(b->data, cap);
		if (grown == NULL) {
			b->ok = false;
			return;
		}
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/*
 * Python's repr(float): the shortest digits that read back exactly, in
 * fixed notation when 1e-4 <= |x| < 1e16 (always with a fraction, "100.0"),
 * otherwise as d.ddde+XX with at least two exponent digits ("1e+22").
 */
static void python_float_repr(double d, char *out, size_t size)
{
	char sci[40], digits[24];
	int exp = 0, n = 0, precision;
	const char *p;
	struct sbuf b = { out, size, 0, size > 0 };

	for (precision = 1; precision < 17; precision++) {
		snprintf(sci, sizeof(sci), "%.*e", precision - 1, d);
		if (strtod(sci, NULL) == d)
			break;
	}
	snprintf(sci, sizeof(sci), "%.*e", precision - 1, d);
	/* sci is "[-]D[.DDD]e(+|-)XX" */
	for (p = sci; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && n < (int)sizeof(digits) - 1)
			digits[n++] = *p;
	if (*p == 'e')
		exp = atoi(p + 1);
	/* no trailing zeros to strip: with one digit fewer it would have
	 * read back exactly already */
	digits[n] = '\0';

	out[0] = '\0';
	if (sci[0] == '-')
		sbuf_add(&b, "-", 1);
	if (exp >= -4 && exp < 16) {
		if (exp < 0) {
			sbuf_add(&b, "0.", 2);
			for (int i = -1; i > exp; i--)
				sbuf_add(&b, "0", 1);
			sbuf_add(&b, digits, (size_t)n);
		} else {
			for (int i = 0; i <= exp; i++)
				sbuf_add(&b, i < n ? &digits[i] : "0", 1);
			sbuf_add(&b, ".", 1);
			if (n > exp + 1)
				sbuf_add(&b, digits + exp + 1, (size_t)(n - exp - 1));
			else
				sbuf_add(&b, "0", 1);
		}
	} else {
		char e[16];

		sbuf_add(&b, digits, 1);
		if (n > 1) {
			sbuf_add(&b, ".", 1);
			sbuf_add(&b, digits + 1, (size_t)(n - 1));
		}
		snprintf(e, sizeof(e), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		sbuf_add(&b, e, strlen(e));
	}
}

/*
 * Rewrites jansson's compact, ASCII-only output the way Python's
 * json.dumps() would have written it: "\u00E9" -> "\u00e9", a raw DEL
 * byte -> "\u007f" (Python escapes everything outside ' '..'~'), and reals
 * in repr() form (jansson prints 1e22 and 0.90000000000000002 where
 * Python prints 1e+22 and 0.9).  Integers are untouched: jansson marks
 * every real with '.' or 'e'.
 */
static char *pythonize(const char *in)
{
	struct gbuf b = { NULL, 0, 0, true };
	const char *p = in;

	while (*p) {
		if (*p == '"') {
			gbuf_add(&b, p++, 1);
			while (*p && *p != '"') {
				if (*p == '\\' && p[1] == 'u') {
					size_t n = strnlen(p, 6);
					char esc[6];

					for (size_t i = 0; i < n; i++)
						esc[i] = (char)(i >= 2 && p[i] >= 'A' && p[i] <= 'F'
									? p[i] - 'A' + 'a'
									: p[i]);
					gbuf_add(&b, esc, n);
					p += n;
				} else if (*p == '\\' && p[1] != '\0') {
					gbuf_add(&b, p, 2);
					p += 2;
				} else if (*p == 0x7f) {
					gbuf_add(&b, "\\u007f", 6);
					p++;
				} else {
					gbuf_add(&b, p++, 1);
				}
			}
			if (*p == '"')
				gbuf_add(&b, p++, 1);
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			size_t n = strspn(p, "0123456789+-.eE");

			if (memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n)) {
				char repr[40];

				python_float_repr(strtod(p, NULL), repr, sizeof(repr));
				gbuf_add(&b, repr, strlen(repr));
			} else {
				gbuf_add(&b, p, n);
			}
			p += n;
		} else {
			gbuf_add(&b, p++, 1);
		}
	}
	if (!b.ok) {
		free(b.data);
		return NULL;
	}
	return b.data ? b.data : strdup("");
}

/* Compact JSON, byte for byte what Python's json.dumps(value,
 * separators=(',', ':')) writes for the same value. */
static char *dump_json(const struct ctx *c, const json_t *v)
{
	/* 17 digits: exact, pythonize() then shortens */
	char *raw = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(17));
	char *text = raw ? pythonize(raw) : NULL;

	free(raw);
	if (text == NULL) {
		fail(c, "cannot encode JSON (out of memory?)");
		return NULL;
	}
	clear_err(c);
	return text;
}

/* json_object_set_new() that reports out-of-memory (and never leaks). */
static bool put(const struct ctx *c, json_t *obj, const char *key, json_t *value)
{
	if (value == NULL || json_object_set_new(obj, key, value) != 0)
		return fail(c, "out of memory");
	return true;
}

static bool put_string(const struct ctx *c, json_t *obj, const char *key, const char *value)
{
	/* jansson refuses invalid UTF-8; name the field rather than guess */
	json_t *s = json_string(value);

	if (s == NULL)
		return fail(c, "field \"%s\" is not valid UTF-8", key);
	return put(c, obj, key, s);
}

bool znode_set_string(char **field, const char *value)
{
	char *copy = NULL;

	if (field == NULL)
		return false;
	if (value != NULL && (copy = strdup(value)) == NULL)
		return false;
	free(*field);
	*field = copy;
	return true;
}

/* ------------------------------------------------------------------------
 * members/<name>
 * ------------------------------------------------------------------------ */

void member_status_clear(struct member_status *s)
{
	if (s == NULL)
		return;
	free(s->conn_url);
	free(s->api_url);
	free(s->state);
	free(s->role);
	free(s->version);
	free(s->proxy_url);
	free(s->replication_state);
	json_decref(s->tags);
	json_decref(s->pending_restart_reason);
	json_decref(s->scheduled_restart);
	memset(s, 0, sizeof(*s));
}

static bool is_predefined_bool_tag(const char *tag)
{
	static const char *const names[] = { "clonefrom", "nofailover", "noloadbalance", "nosync",
					     "nostream" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(tag, names[i]) == 0)
			return true;
	return false;
}

/*
 * Patroni's Tags._filter_tags(): predefined boolean tags default to false
 * and are written only when true, except that an explicit nofailover is
 * kept next to failover_priority (so readers know which one wins), and
 * likewise nosync next to sync_priority.
 */
static bool tag_is_written(const json_t *tags, const char *tag, const json_t *value)
{
	if (!is_predefined_bool_tag(tag) || json_truthy(value))
		return true;
	if (strcmp(tag, "nofailover") == 0 && json_object_get(tags, "failover_priority"))
		return true;
	if (strcmp(tag, "nosync") == 0 && json_object_get(tags, "sync_priority"))
		return true;
	return false;
}

/* The tags object as written, NULL (no error) when nothing is left. */
static bool filtered_tags(const struct ctx *c, const json_t *tags, json_t **out)
{
	const char *key;
	json_t *value;
	json_t *copy;

	*out = NULL;
	if (tags == NULL)
		return true;
	if (!json_is_object(tags))
		return fail(c, "field \"tags\" must be an object, got %s", json_kind(tags));
	copy = json_object();
	if (copy == NULL)
		return fail(c, "out of memory");
	json_object_foreach((json_t *)tags, key, value) {
		if (!tag_is_written(tags, key, value))
			continue;
		if (json_object_set(copy, key, value) != 0) {
			json_decref(copy);
			return fail(c, "out of memory");
		}
	}
	if (json_object_size(copy) == 0)
		json_decref(copy);
	else
		*out = copy;
	return true;
}

/*
 * Tag types.  Patroni's validator makes the predefined booleans real
 * booleans and replicatefrom a string; failover_priority and sync_priority
 * go through parse_int(), which also takes digit strings.  Everything else
 * is a custom tag and passes through untouched.
 */
static bool check_tags(const struct ctx *c, const json_t *tags)
{
	static const char *const int_tags[] = { "failover_priority", "sync_priority" };
	const char *key;
	json_t *value;
	long long ignored;

	json_object_foreach((json_t *)tags, key, value) {
		if (json_is_null(value))
			continue;
		if (is_predefined_bool_tag(key) && !json_is_boolean(value))
			return fail(c, "field \"tags.%s\" must be a boolean, got %s", key,
				    json_kind(value));
		if (strcmp(key, "replicatefrom") == 0 && !json_is_string(value))
			return fail(c, "field \"tags.replicatefrom\" must be a string, got %s",
				    json_kind(value));
		for (size_t i = 0; i < sizeof(int_tags) / sizeof(int_tags[0]); i++) {
			if (strcmp(key, int_tags[i]) == 0 && !json_int_value(value, true, &ignored))
				return fail(c, "field \"tags.%s\" must be an integer, got %s%s", key,
					    json_is_string(value) ? "non-numeric " : "",
					    json_kind(value));
		}
	}
	return true;
}

static bool put_object(const struct ctx *c, json_t *obj, const char *key, json_t *value)
{
	if (value == NULL)
		return true;
	if (!json_is_object(value))
		return fail(c, "field \"%s\" must be an object, got %s", key, json_kind(value));
	return put(c, obj, key, json_incref(value));
}

char *member_status_encode(const struct member_status *s, char *err, size_t err_size)
{
	const struct ctx c = { "member JSON", err, err_size };
	const struct {
		const char *key;
		const char *value;
	} required[] = {
		{ "conn_url", s ? s->conn_url : NULL }, { "api_url", s ? s->api_url : NULL },
		{ "state", s ? s->state : NULL },	{ "role", s ? s->role : NULL },
		{ "version", s ? s->version : NULL },
	};
	json_t *obj, *tags = NULL;
	char *text = NULL;
	bool ok = true;

	if (s == NULL) {
		fail(&c, "nothing to encode");
		return NULL;
	}
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (required[i].value == NULL) {
			fail(&c, "field \"%s\" is required", required[i].key);
			return NULL;
		}
	}
	if (s->has_xlog_location && s->xlog_location < 0) {
		fail(&c, "field \"xlog_location\" must be at least 0, got %" PRId64, s->xlog_location);
		return NULL;
	}
	if (s->has_timeline && s->timeline < 1) {
		fail(&c, "field \"timeline\" must be at least 1, got %" PRId64, s->timeline);
		return NULL;
	}
	/* what we would refuse to read, we refuse to write */
	if (s->tags && json_is_object(s->tags) && !check_tags(&c, s->tags))
		return NULL;
	if (!filtered_tags(&c, s->tags, &tags))
		return NULL;
	obj = json_object();
	if (obj == NULL) {
		json_decref(tags);
		fail(&c, "out of memory");
		return NULL;
	}

	/* Key order is Ha.touch_member()'s insertion order; keep it. */
	for (size_t i = 0; ok && i < sizeof(required) / sizeof(required[0]); i++)
		ok = put_string(&c, obj, required[i].key, required[i].value);
	if (ok && s->proxy_url)
		ok = put_string(&c, obj, "proxy_url", s->proxy_url);
	if (ok && s->has_checkpoint_after_promote)
		ok = put(&c, obj, "checkpoint_after_promote",
			 json_boolean(s->checkpoint_after_promote));
	if (ok && tags)
		ok = put(&c, obj, "tags", json_incref(tags));
	if (ok && s->pending_restart)
		ok = put(&c, obj, "pending_restart", json_true());
	if (ok)
		ok = put_object(&c, obj, "pending_restart_reason", s->pending_restart_reason);
	if (ok && s->has_xlog_location)
		ok = put(&c, obj, "xlog_location", json_integer(s->xlog_location));
	if (ok && s->replication_state)
		ok = put_string(&c, obj, "replication_state", s->replication_state);
	if (ok && s->has_timeline)
		ok = put(&c, obj, "timeline", json_integer(s->timeline));
	if (ok)
		ok = put_object(&c, obj, "scheduled_restart", s->scheduled_restart);
	if (ok && s->pause)
		ok = put(&c, obj, "pause", json_true());
	if (ok)
		text = dump_json(&c, obj);
	json_decref(tags);
	json_decref(obj);
	return text;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "%XX" and '+' decoding as Python's parse_qsl() does it; a malformed
 * escape is kept literally, as Python does. */
static char *url_unquote(const char *s, size_t len, size_t *out_len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[n++] = ' ';
		} else if (s[i] == '%' && i + 2 < len && hex_value(s[i + 1]) >= 0 &&
			   hex_value(s[i + 2]) >= 0) {
			out[n++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			i += 2;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* True when s[0..len) is valid UTF-8 without control characters. */
static bool is_clean_text(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp;
		size_t n = utf8_decode((const unsigned char *)s + i, len - i, &cp);

		if (n == 0 || cp < 0x20 || cp == 0x7f)
			return false;
		i += n;
	}
	return true;
}

/*
 * The form Patroni inherited from Governor:
 *   postgres://user:pass@host:5432/postgres?application_name=<api_url>
 * conn_url is the URL without its query, api_url the first non-empty
 * application_name (Member.from_node, parse_connection_string).
 */
static bool decode_legacy_member(const char *data, size_t len, struct member_status *out,
				 char *err, size_t err_size)
{
	const struct ctx c = { "member", err, err_size };
	const char *query, *fragment, *end = data + len;
	size_t conn_len, fragment_len;

	if (!is_clean_text(data, len))
		return fail(&c, "legacy connection URL is not clean UTF-8 text");
	/* urlunparse() without the query: "scheme://netloc/path#fragment" */
	fragment = memchr(data, '#', len);
	query = memchr(data, '?', fragment ? (size_t)(fragment - data) : len);
	conn_len = query ? (size_t)(query - data) : len;
	fragment_len = query && fragment ? (size_t)(end - fragment) : 0;
	out->conn_url = malloc(conn_len + fragment_len + 1);
	if (out->conn_url == NULL)
		return fail(&c, "out of memory");
	memcpy(out->conn_url, data, conn_len);
	if (fragment_len > 0)
		memcpy(out->conn_url + conn_len, fragment, fragment_len);
	out->conn_url[conn_len + fragment_len] = '\0';

	for (const char *p = query ? query + 1 : end, *qend = fragment ? fragment : end; p < qend;) {
		const char *amp = memchr(p, '&', (size_t)(qend - p));
		const char *pair_end = amp ? amp : qend;
		const char *eq = memchr(p, '=', (size_t)(pair_end - p));

		if (eq && eq + 1 < pair_end) {
			size_t name_len, value_len;
			char *name = url_unquote(p, (size_t)(eq - p), &name_len);
			bool wanted = name && strcmp(name, "application_name") == 0 &&
				      name_len == strlen("application_name");

			free(name);
			if (wanted) {
				out->api_url = url_unquote(eq + 1, (size_t)(pair_end - eq - 1),
							   &value_len);
				if (out->api_url == NULL) {
					member_status_clear(out);
					return fail(&c, "out of memory");
				}
				/* %00 or %0A would smuggle bytes past the check above */
				if (!is_clean_text(out->api_url, value_len)) {
					member_status_clear(out);
					return fail(&c, "application_name is not clean UTF-8 text");
				}
				break;
			}
		}
		p = amp ? amp + 1 : qend;
	}
	return true;
}

static bool decode_member_object(const struct ctx *c, const json_t *root, struct member_status *out)
{
	if (!read_string(c, root, "conn_url", "conn_url", &out->conn_url) ||
	    !read_string(c, root, "api_url", "api_url", &out->api_url) ||
	    !read_string(c, root, "state", "state", &out->state) ||
	    !read_string(c, root, "role", "role", &out->role) ||
	    !read_string(c, root, "version", "version", &out->version) ||
	    !read_string(c, root, "proxy_url", "proxy_url", &out->proxy_url) ||
	    !read_bool(c, root, "checkpoint_after_promote", "checkpoint_after_promote",
		       &out->has_checkpoint_after_promote, &out->checkpoint_after_promote) ||
	    !read_object(c, root, "tags", "tags", &out->tags) ||
	    !read_bool(c, root, "pending_restart", "pending_restart", NULL,
		       &out->pending_restart) ||
	    !read_object(c, root, "pending_restart_reason", "pending_restart_reason",
			 &out->pending_restart_reason) ||
	    /* LSNs and timelines: Patroni writes JSON integers; a string
	     * here means someone else wrote the znode. */
	    !read_int64(c, root, "xlog_location", 0, &out->has_xlog_location,
			&out->xlog_location) ||
	    !read_string(c, root, "replication_state", "replication_state",
			 &out->replication_state) ||
	    !read_int64(c, root, "timeline", 1, &out->has_timeline, &out->timeline) ||
	    !read_object(c, root, "scheduled_restart", "scheduled_restart",
			 &out->scheduled_restart) ||
	    !read_bool(c, root, "pause", "pause", NULL, &out->pause))
		return false;
	if (out->tags && !check_tags(c, out->tags))
		return false;
	return true;
}

bool member_status_decode(const char *data, int len, struct member_status *out, char *err,
			  size_t err_size)
{
	const struct ctx c = { "member JSON", err, err_size };
	json_t *root;
	bool ok;

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	memset(out, 0, sizeof(*out));
	/* Member.from_node(): anything starting with "postgres" is a URL */
	if (data != NULL && len >= 8 && memcmp(data, "postgres", 8) == 0) {
		ok = decode_legacy_member(data, (size_t)len, out, err, err_size);
		if (ok)
			clear_err(&c);
		return ok;
	}
	root = load_object(&c, data, len);
	if (root == NULL)
		return false;
	ok = decode_member_object(&c, root, out);
	json_decref(root);
	if (!ok)
		member_status_clear(out);
	else
		clear_err(&c);
	return ok;
}

bool member_status_equal(const struct member_status *a, const struct member_status *b)
{
	char *x = member_status_encode(a, NULL, 0);
	char *y = member_status_encode(b, NULL, 0);
	bool same = x != NULL && y != NULL && strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

enum member_status_role member_status_role(const struct member_status *s)
{
	static const struct {
		const char *name;
		enum member_status_role role;
	} roles[] = {
		{ "master", MEMBER_STATUS_ROLE_PRIMARY },
		{ "primary", MEMBER_STATUS_ROLE_PRIMARY },
		{ "replica", MEMBER_STATUS_ROLE_REPLICA },
		{ "standby_leader", MEMBER_STATUS_ROLE_STANDBY_LEADER },
		{ "promoted", MEMBER_STATUS_ROLE_PROMOTED },
		{ "demoted", MEMBER_STATUS_ROLE_DEMOTED },
		{ "uninitialized", MEMBER_STATUS_ROLE_UNINITIALIZED },
	};

	if (s == NULL || s->role == NULL)
		return MEMBER_STATUS_ROLE_OTHER;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(s->role, roles[i].name) == 0)
			return roles[i].role;
	return MEMBER_STATUS_ROLE_OTHER;
}

static const json_t *tag(const struct member_status *s, const char *name)
{
	if (s == NULL || !json_is_object(s->tags) || name == NULL)
		return NULL;
	return json_object_get(s->tags, name);
}

bool member_status_tag_enabled(const struct member_status *s, const char *name)
{
	const json_t *v = tag(s, name);

	return v != NULL && json_truthy(v);
}

long long member_status_failover_priority(const struct member_status *s)
{
	const json_t *v = tag(s, "failover_priority");
	long long priority = 1;

	if (member_status_tag_enabled(s, "nofailover"))
		return 0;
	if (v != NULL && !json_int_value(v, true, &priority))
		priority = 1;
	return priority;
}

bool member_status_nofailover(const struct member_status *s)
{
	const json_t *v = tag(s, "nofailover");

	/* an explicit nofailover (even false) takes precedence */
	if (v != NULL && !json_is_null(v))
		return json_truthy(v);
	return member_status_failover_priority(s) <= 0;
}

/* ------------------------------------------------------------------------
 * leader, initialize, optime/leader
 * ------------------------------------------------------------------------ */

bool znode_leader_decode(const char *data, int len, char *name, size_t size, char *err,
			 size_t err_size)
{
	const struct ctx c = { "leader", err, err_size };
	const char *problem;

	if (name == NULL || size == 0)
		return fail(&c, "nothing to decode into");
	name[0] = '\0';
	if (data == NULL || len <= 0)
		return fail(&c, "znode is empty");
	/* Patroni writes exactly the name; a trailing newline means a human
	 * or another tool wrote it, and guessing would be worse than saying so. */
	problem = name_problem(data, (size_t)len);
	if (problem != NULL)
		return fail(&c, "member name %s", problem);
	if ((size_t)len + 1 > size)
		return fail(&c, "member name does not fit the buffer");
	memcpy(name, data, (size_t)len);
	name[len] = '\0';
	clear_err(&c);
	return true;
}

/* Unsigned decimal, digits only, within uint64. */
static bool parse_unsigned(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool znode_initialize_decode(const char *data, int len, bool *bootstrapping, uint64_t *sysid,
			     char *err, size_t err_size)
{
	const struct ctx c = { "initialize", err, err_size };
	uint64_t v;

	if (bootstrapping == NULL || sysid == NULL)
		return fail(&c, "nothing to decode into");
	*bootstrapping = false;
	*sysid = 0;
	if (data == NULL || len <= 0) {
		/* created empty by the node that won the bootstrap race */
		*bootstrapping = true;
		clear_err(&c);
		return true;
	}
	if (!parse_unsigned(data, (size_t)len, &v))
		return fail(&c, "must be a decimal system identifier (digits only, up to "
				"18446744073709551615)");
	if (v == 0)
		return fail(&c, "system identifier 0 is not valid");
	*sysid = v;
	clear_err(&c);
	return true;
}

bool znode_initialize_encode(char *buf, size_t size, uint64_t sysid)
{
	int n;

	if (buf == NULL || size == 0)
		return false;
	n = snprintf(buf, size, "%" PRIu64, sysid);
	if (sysid == 0 || n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return false;
	}
	return true;
}

bool znode_optime_decode(const char *data, int len, int64_t *lsn, char *err, size_t err_size)
{
	const struct ctx c = { "optime/leader", err, err_size };
	uint64_t v;

	if (lsn == NULL)
		return fail(&c, "nothing to decode into");
	*lsn = 0;
	if (data == NULL || len <= 0)
		return fail(&c, "znode is empty");
	if (!parse_unsigned(data, (size_t)len, &v) || v > INT64_MAX)
		return fail(&c, "must be a decimal LSN in bytes");
	*lsn = (int64_t)v;
	clear_err(&c);
	return true;
}

/* ------------------------------------------------------------------------
 * config
 * ------------------------------------------------------------------------ */

/* Integer keys with Patroni's defaults (global_config.py).  The alias is
 * the pre-3.0 spelling, read only when the key itself is absent. */
static const struct config_int {
	const char *key;
	const char *alias;
	size_t offset;
	long long fallback;
	long long min;
} config_ints[] = {
	{ "ttl", NULL, offsetof(struct znode_config, ttl), 30, 0 },
	{ "loop_wait", NULL, offsetof(struct znode_config, loop_wait), 10, 0 },
	{ "retry_timeout", NULL, offsetof(struct znode_config, retry_timeout), 10, 0 },
	{ "maximum_lag_on_failover", NULL, offsetof(struct znode_config, maximum_lag_on_failover),
	  1048576, LLONG_MIN },
	{ "maximum_lag_on_syncnode", NULL, offsetof(struct znode_config, maximum_lag_on_syncnode), -1,
	  LLONG_MIN },
	{ "max_timelines_history", NULL, offsetof(struct znode_config, max_timelines_history), 0, 0 },
	{ "primary_start_timeout", "master_start_timeout",
	  offsetof(struct znode_config, primary_start_timeout), 300, 0 },
	{ "primary_stop_timeout", "master_stop_timeout",
	  offsetof(struct znode_config, primary_stop_timeout), 0, 0 },
	{ "synchronous_node_count", NULL, offsetof(struct znode_config, synchronous_node_count), 1, 1 },
};

/* Boolean keys; section is the enclosing object ("postgresql") or NULL. */
static const struct config_bool {
	const char *section;
	const char *key;
	size_t offset;
	bool fallback;
} config_bools[] = {
	{ NULL, "synchronous_mode_strict", offsetof(struct znode_config, synchronous_mode_strict),
	  false },
	{ NULL, "check_timeline", offsetof(struct znode_config, check_timeline), false },
	{ NULL, "failsafe_mode", offsetof(struct znode_config, failsafe_mode), false },
	{ NULL, "pause", offsetof(struct znode_config, pause), false },
	{ "postgresql", "use_pg_rewind", offsetof(struct znode_config, use_pg_rewind), false },
	{ "postgresql", "use_slots", offsetof(struct znode_config, use_slots), true },
};

void znode_config_defaults(struct znode_config *config)
{
	if (config == NULL)
		return;
	memset(config, 0, sizeof(*config));
	for (size_t i = 0; i < sizeof(config_ints) / sizeof(config_ints[0]); i++)
		*(long long *)((char *)config + config_ints[i].offset) = config_ints[i].fallback;
	for (size_t i = 0; i < sizeof(config_bools) / sizeof(config_bools[0]); i++)
		*(bool *)((char *)config + config_bools[i].offset) = config_bools[i].fallback;
}

void znode_config_clear(struct znode_config *config)
{
	if (config == NULL)
		return;
	json_decref(config->json);
	memset(config, 0, sizeof(*config));
}

/* An optional object-or-null member; *dst stays NULL when absent/null. */
static bool borrow(const struct ctx *c, const json_t *obj, const char *key, const char *field,
		   bool want_array, const json_t **dst)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return true;
	if (want_array ? !json_is_array(v) : !json_is_object(v))
		return fail(c, "field \"%s\" must be an %s, got %s", field,
			    want_array ? "array" : "object", json_kind(v));
	*dst = v;
	return true;
}

/* Fills every typed field of out from out->json (already set, defaults
 * already in place). */
static bool config_fill(const struct ctx *c, struct znode_config *out)
{
	/* Patroni's global_config.permanent_slots takes the first non-empty
	 * of these spellings. */
	static const char *const slot_keys[] = { "permanent_replication_slots", "permanent_slots",
						 "slots" };
	const json_t *root = out->json, *postgresql = NULL, *v;

	for (size_t i = 0; i < sizeof(config_ints) / sizeof(config_ints[0]); i++) {
		const struct config_int *k = &config_ints[i];
		const char *key = k->key;

		if (k->alias && json_object_get(root, key) == NULL)
			key = k->alias;
		/* Python's int() takes "30" as well as 30 */
		if (!read_int(c, root, key, key, true, k->min, NULL,
			      (long long *)((char *)out + k->offset)))
			return false;
	}

	/* synchronous_mode is a boolean, or "quorum" since Patroni 4.0 */
	v = json_object_get(root, "synchronous_mode");
	if (json_is_string(v) && strcmp(json_string_value(v), "quorum") == 0) {
		out->synchronous_mode = true;
		out->synchronous_mode_quorum = true;
	} else if (v != NULL && !json_is_null(v) && !json_is_boolean(v)) {
		return fail(c, "field \"synchronous_mode\" must be a boolean or \"quorum\", got %s",
			    json_kind(v));
	} else if (!read_bool(c, root, "synchronous_mode", "synchronous_mode", NULL,
			      &out->synchronous_mode)) {
		return false;
	}

	if (!borrow(c, root, "postgresql", "postgresql", false, &postgresql))
		return false;
	for (size_t i = 0; i < sizeof(config_bools) / sizeof(config_bools[0]); i++) {
		const struct config_bool *k = &config_bools[i];
		const json_t *section = k->section ? postgresql : root;
		char field[64];

		if (section == NULL)
			continue;
		snprintf(field, sizeof(field), "%s%s%s", k->section ? k->section : "",
			 k->section ? "." : "", k->key);
		if (!read_bool(c, section, k->key, field, NULL, (bool *)((char *)out + k->offset)))
			return false;
	}
	if (postgresql &&
	    !borrow(c, postgresql, "parameters", "postgresql.parameters", false, &out->parameters))
		return false;
	if (!borrow(c, root, "standby_cluster", "standby_cluster", false, &out->standby_cluster) ||
	    !borrow(c, root, "ignore_slots", "ignore_slots", true, &out->ignore_slots))
		return false;
	for (size_t i = 0; i < sizeof(slot_keys) / sizeof(slot_keys[0]); i++) {
		const json_t *slots = NULL;

		if (!borrow(c, root, slot_keys[i], slot_keys[i], false, &slots))
			return false;
		if (out->slots == NULL && slots != NULL && json_object_size(slots) > 0)
			out->slots = slots;
	}
	return true;
}

bool znode_config_decode(const char *data, int len, struct znode_config *out, char *err,
			 size_t err_size)
{
	const struct ctx c = { "config JSON", err, err_size };

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	znode_config_defaults(out);
	out->json = load_object(&c, data, len);
	if (out->json == NULL || !config_fill(&c, out)) {
		znode_config_clear(out);
		return false;
	}
	clear_err(&c);
	return true;
}

bool znode_config_from_json(const json_t *object, struct znode_config *out, char *err,
			    size_t err_size)
{
	const struct ctx c = { "config JSON", err, err_size };

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	znode_config_defaults(out);
	if (!json_is_object(object))
		return fail(&c, "must be a JSON object, got %s", object ? json_kind(object) : "nothing");
	out->json = json_deep_copy(object);
	if (out->json == NULL) {
		znode_config_clear(out);
		return fail(&c, "out of memory");
	}
	if (!config_fill(&c, out)) {
		znode_config_clear(out);
		return false;
	}
	clear_err(&c);
	return true;
}

char *znode_config_encode(const json_t *object, char *err, size_t err_size)
{
	const struct ctx c = { "config JSON", err, err_size };
	struct znode_config check;
	char *text;

	/* never write a config that we (or Patroni) would refuse to read */
	if (!znode_config_from_json(object, &check, err, err_size))
		return NULL;
	text = dump_json(&c, check.json);
	znode_config_clear(&check);
	return text;
}

/* ------------------------------------------------------------------------
 * failover, with its ISO-8601 timestamp
 * ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int64_t)era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *p. */
static bool read_digits(const char **p, const char *end, int n, int *out)
{
	int v = 0;

	if (end - *p < n)
		return false;
	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool expect(const char **p, const char *end, char ch)
{
	if (*p >= end || **p != ch)
		return false;
	(*p)++;
	return true;
}

/*
 * What Python's datetime.isoformat() writes for an aware datetime,
 * which is what Patroni stores: 2024-07-01T12:00:00+00:00, optionally
 * with a fraction (.123456) and "Z" or "+hhmm" from other writers.
 * A time zone is required: Patroni compares with an aware "now" and a
 * naive value would make it fail.
 */
static bool parse_iso8601(const char *s, size_t len, int64_t *ms)
{
	const char *p = s, *end = s + len;
	int year, month, day, hour, minute, second = 0, millis = 0, tzh = 0, tzm = 0, sign = 0;
	static const int month_days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int dim;

	if (!read_digits(&p, end, 4, &year) || !expect(&p, end, '-') || !read_digits(&p, end, 2, &month) ||
	    !expect(&p, end, '-') || !read_digits(&p, end, 2, &day))
		return false;
	if (p >= end || (*p != 'T' && *p != 't' && *p != ' '))
		return false;
	p++;
	if (!read_digits(&p, end, 2, &hour) || !expect(&p, end, ':') || !read_digits(&p, end, 2, &minute))
		return false;
	if (p < end && *p == ':') {
		p++;
		if (!read_digits(&p, end, 2, &second))
			return false;
		if (p < end && (*p == '.' || *p == ',')) {
			int scale = 100, nd = 0;

			for (p++; p < end && *p >= '0' && *p <= '9'; p++, nd++) {
				millis += (*p - '0') * scale;
				scale /= 10;
			}
			if (nd == 0)
				return false;
		}
	}
	if (p < end && (*p == 'Z' || *p == 'z')) {
		p++;
	} else if (p < end && (*p == '+' || *p == '-')) {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (!read_digits(&p, end, 2, &tzh))
			return false;
		if (p < end && *p == ':') {
			p++;
			if (!read_digits(&p, end, 2, &tzm))
				return false;
		} else if (p < end && !read_digits(&p, end, 2, &tzm)) {
			return false;
		}
	} else {
		return false;
	}
	if (p != end)
		return false;
	if (year < 1 || month < 1 || month > 12 || day < 1)
		return false;
	dim = month_days[month - 1] +
	      (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));
	if (day > dim || hour > 23 || minute > 59 || second > 59 || tzh > 23 || tzm > 59)
		return false;
	*ms = ((days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) -
	       sign * (tzh * 3600 + tzm * 60)) *
		      1000 +
	      millis;
	return true;
}

void znode_failover_clear(struct znode_failover *f)
{
	if (f == NULL)
		return;
	free(f->leader);
	free(f->member);
	free(f->scheduled_at);
	memset(f, 0, sizeof(*f));
}

bool znode_failover_is_empty(const struct znode_failover *f)
{
	return f == NULL || (f->leader == NULL && f->member == NULL);
}

/* Patroni uses "if value:" everywhere here, so "" means absent. */
static void drop_empty(char **s)
{
	if (*s != NULL && (*s)[0] == '\0') {
		free(*s);
		*s = NULL;
	}
}

static bool check_name_field(const struct ctx *c, const char *field, const char *name)
{
	const char *problem;

	if (name == NULL)
		return true;
	problem = name_problem(name, strnlen(name, ZNODE_NAME_MAX + 1));
	if (problem != NULL)
		return fail(c, "field \"%s\" is not a valid member name: it %s", field, problem);
	return true;
}

static bool is_py_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Copies s[0..len) without Python-strip()ped whitespace; NULL if empty. */
static bool strip_copy(const char *s, size_t len, char **out)
{
	while (len > 0 && is_py_space(s[0]))
		s++, len--;
	while (len > 0 && is_py_space(s[len - 1]))
		len--;
	*out = NULL;
	if (len == 0)
		return true;
	*out = strndup(s, len);
	return *out != NULL;
}

/* Failover.from_node(): text that is not JSON is "leader[:candidate]". */
static bool decode_legacy_failover(const struct ctx *c, const char *data, size_t len,
				   struct znode_failover *out)
{
	const char *colon = memchr(data, ':', len);

	if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon - data) - 1) != NULL)
		return fail(c, "legacy \"leader:candidate\" text has more than one ':'");
	if (!strip_copy(data, colon ? (size_t)(colon - data) : len, &out->leader) ||
	    (colon && !strip_copy(colon + 1, len - (size_t)(colon - data) - 1, &out->member)))
		return fail(c, "out of memory");
	if (!check_name_field(c, "leader", out->leader) ||
	    !check_name_field(c, "member", out->member))
		return false;
	return true;
}

/* Whether invalid JSON may be the legacy text form rather than broken
 * JSON: printable UTF-8 not starting like a JSON document. */
static bool looks_like_legacy_failover(const char *data, size_t len)
{
	size_t i = 0;

	while (i < len && is_py_space(data[i]))
		i++;
	if (i == len || strchr("{[\"", data[i]) != NULL)
		return false;
	while (len > i && is_py_space(data[len - 1]))
		len--;
	return is_clean_text(data + i, len - i);
}

bool znode_failover_decode(const char *data, int len, struct znode_failover *out, char *err,
			   size_t err_size)
{
	const struct ctx c = { "failover JSON", err, err_size };
	json_error_t error;
	json_t *root;
	bool ok;

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	memset(out, 0, sizeof(*out));
	if (data == NULL || len <= 0)
		return fail(&c, "znode is empty");
	if (!check_no_nul(&c, data, len))
		return false;
	root = json_loadb(data, (size_t)len, JSON_DECODE_ANY, &error);
	if (root == NULL) {
		if (!looks_like_legacy_failover(data, (size_t)len))
			return fail(&c, "invalid JSON at line %d column %d: %s", error.line,
				    error.column, error.text);
		const struct ctx legacy = { "failover", err, err_size };
		ok = decode_legacy_failover(&legacy, data, (size_t)len, out);
	} else if (!json_is_object(root)) {
		ok = fail(&c, "must be a JSON object, got %s", json_kind(root));
	} else {
		ok = read_string(&c, root, "leader", "leader", &out->leader) &&
		     read_string(&c, root, "member", "member", &out->member) &&
		     read_string(&c, root, "scheduled_at", "scheduled_at", &out->scheduled_at);
		if (ok) {
			drop_empty(&out->leader);
			drop_empty(&out->member);
			drop_empty(&out->scheduled_at);
			ok = check_name_field(&c, "leader", out->leader) &&
			     check_name_field(&c, "member", out->member);
		}
		if (ok && out->scheduled_at &&
		    !parse_iso8601(out->scheduled_at, strlen(out->scheduled_at),
				   &out->scheduled_at_ms))
			ok = fail(&c,
				  "field \"scheduled_at\" is not an ISO-8601 time with a time zone: "
				  "\"%.40s\"",
				  out->scheduled_at);
	}
	json_decref(root);
	if (!ok)
		znode_failover_clear(out);
	else
		clear_err(&c);
	return ok;
}

char *znode_failover_encode(const struct znode_failover *f, char *err, size_t err_size)
{
	const struct ctx c = { "failover JSON", err, err_size };
	json_t *obj;
	char *text = NULL;
	int64_t ignored;
	bool ok;

	if (f == NULL) {
		fail(&c, "nothing to encode");
		return NULL;
	}
	if (!check_name_field(&c, "leader", f->leader && f->leader[0] ? f->leader : NULL) ||
	    !check_name_field(&c, "member", f->member && f->member[0] ? f->member : NULL))
		return NULL;
	if (f->scheduled_at && f->scheduled_at[0] &&
	    !parse_iso8601(f->scheduled_at, strlen(f->scheduled_at), &ignored)) {
		fail(&c, "field \"scheduled_at\" is not an ISO-8601 time with a time zone: \"%.40s\"",
		     f->scheduled_at);
		return NULL;
	}
	obj = json_object();
	if (obj == NULL) {
		fail(&c, "out of memory");
		return NULL;
	}
	/* AbstractDCS.manual_failover(): only what is set, in this order */
	ok = (!f->leader || !f->leader[0] || put_string(&c, obj, "leader", f->leader)) &&
	     (!f->member || !f->member[0] || put_string(&c, obj, "member", f->member)) &&
	     (!f->scheduled_at || !f->scheduled_at[0] ||
	      put_string(&c, obj, "scheduled_at", f->scheduled_at));
	if (ok)
		text = dump_json(&c, obj);
	json_decref(obj);
	return text;
}

/* ------------------------------------------------------------------------
 * sync
 * ------------------------------------------------------------------------ */

void znode_sync_clear(struct znode_sync *s)
{
	if (s == NULL)
		return;
	free(s->leader);
	for (size_t i = 0; i < s->n_standbys; i++)
		free(s->standbys[i]);
	free(s->standbys);
	memset(s, 0, sizeof(*s));
}

static bool sync_push(const struct ctx *c, struct znode_sync *s, const char *name, size_t len)
{
	char **grown;
	char *copy;

	if (s->n_standbys >= SIZE_MAX / sizeof(char *) - 1)
		return fail(c, "too many standbys");
	copy = strndup(name, len);
	grown = copy ? realloc(s->standbys, (s->n_standbys + 1) * sizeof(char *)) : NULL;
	if (grown == NULL) {
		free(copy);
		return fail(c, "out of memory");
	}
	s->standbys = grown;
	s->standbys[s->n_standbys++] = copy;
	return true;
}

bool znode_sync_add_standby(struct znode_sync *s, const char *name, char *err, size_t err_size)
{
	const struct ctx c = { "sync", err, err_size };

	if (s == NULL)
		return fail(&c, "nothing to add to");
	if (!check_name_field(&c, "sync_standby", name ? name : ""))
		return false;
	if (strchr(name, ',') != NULL)
		return fail(&c, "standby name \"%.64s\" contains ',', the list separator", name);
	return sync_push(&c, s, name, strlen(name));
}

/* SyncState._str_to_list(): split on ',', strip, drop empty items. */
static bool split_standbys(const struct ctx *c, const char *list, struct znode_sync *out)
{
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *item = p;

		while (len > 0 && is_py_space(item[0]))
			item++, len--;
		while (len > 0 && is_py_space(item[len - 1]))
			len--;
		if (len > 0) {
			const char *problem = name_problem(item, len);

			if (problem != NULL)
				return fail(c, "field \"sync_standby\" holds a name that %s", problem);
			if (!sync_push(c, out, item, len))
				return false;
		}
		if (comma == NULL)
			return true;
		p = comma + 1;
	}
}

bool znode_sync_decode(const char *data, int len, struct znode_sync *out, char *err,
		       size_t err_size)
{
	const struct ctx c = { "sync JSON", err, err_size };
	char *standbys = NULL;
	json_t *root;
	bool ok;

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	memset(out, 0, sizeof(*out));
	root = load_object(&c, data, len);
	if (root == NULL)
		return false;
	ok = read_string(&c, root, "leader", "leader", &out->leader) &&
	     read_string(&c, root, "sync_standby", "sync_standby", &standbys) &&
	     read_int(&c, root, "quorum", "quorum", true, 0, &out->has_quorum, &out->quorum);
	if (ok) {
		drop_empty(&out->leader);
		ok = check_name_field(&c, "leader", out->leader);
	}
	/* SyncState.is_empty: without a leader the standby list means nothing */
	if (ok && out->leader && standbys)
		ok = split_standbys(&c, standbys, out);
	free(standbys);
	json_decref(root);
	if (!ok)
		znode_sync_clear(out);
	else
		clear_err(&c);
	return ok;
}

static int compare_strings(const void *a, const void *b)
{
	/* byte order of UTF-8 is code point order, i.e. Python's sorted() */
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a,b,c" from the sorted names; NULL result with *list NULL means none. */
static bool join_sorted(const struct ctx *c, const struct znode_sync *s, char **list)
{
	const char **sorted;
	size_t total = 0, pos = 0;

	*list = NULL;
	if (s->n_standbys == 0)
		return true;
	sorted = malloc(s->n_standbys * sizeof(*sorted));
	if (sorted == NULL)
		return fail(c, "out of memory");
	for (size_t i = 0; i < s->n_standbys; i++) {
		const char *name = s->standbys[i];

		if (name == NULL || !check_name_field(c, "sync_standby", name)) {
			free(sorted);
			return name ? false : fail(c, "field \"sync_standby\" holds a NULL name");
		}
		if (strchr(name, ',') != NULL) {
			free(sorted);
			return fail(c, "standby name \"%.64s\" contains ',', the list separator",
				    name);
		}
		sorted[i] = name;
		total += strlen(name) + 1;
	}
	qsort(sorted, s->n_standbys, sizeof(*sorted), compare_strings);
	*list = malloc(total);
	if (*list == NULL) {
		free(sorted);
		return fail(c, "out of memory");
	}
	for (size_t i = 0; i < s->n_standbys; i++) {
		size_t n = strlen(sorted[i]);

		if (i > 0)
			(*list)[pos++] = ',';
		memcpy(*list + pos, sorted[i], n);
		pos += n;
	}
	(*list)[pos] = '\0';
	free(sorted);
	return true;
}

char *znode_sync_encode(const struct znode_sync *s, char *err, size_t err_size)
{
	const struct ctx c = { "sync JSON", err, err_size };
	json_t *obj;
	char *list = NULL, *text = NULL;
	bool ok;

	if (s == NULL) {
		fail(&c, "nothing to encode");
		return NULL;
	}
	if (s->leader == NULL || s->leader[0] == '\0') {
		if (s->n_standbys > 0) {
			fail(&c, "sync standbys without a leader");
			return NULL;
		}
		/* AbstractDCS.delete_sync_state() writes "{}" */
		text = strdup("{}");
		if (text == NULL)
			fail(&c, "out of memory");
		else
			clear_err(&c);
		return text;
	}
	if (s->has_quorum && s->quorum < 0) {
		fail(&c, "field \"quorum\" must be at least 0, got %lld", s->quorum);
		return NULL;
	}
	if (!check_name_field(&c, "leader", s->leader) || !join_sorted(&c, s, &list))
		return NULL;
	obj = json_object();
	if (obj == NULL) {
		free(list);
		fail(&c, "out of memory");
		return NULL;
	}
	/* Patroni 3: {leader, sync_standby}; Patroni 4: {leader, quorum,
	 * sync_standby} */
	ok = put_string(&c, obj, "leader", s->leader) &&
	     (!s->has_quorum || put(&c, obj, "quorum", json_integer(s->quorum))) &&
	     put(&c, obj, "sync_standby", list ? json_string(list) : json_null());
	if (ok)
		text = dump_json(&c, obj);
	free(list);
	json_decref(obj);
	return text;
}

/* ------------------------------------------------------------------------
 * status
 * ------------------------------------------------------------------------ */

void znode_status_clear(struct znode_status *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_slots; i++)
		free(s->slots[i].name);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}

static bool status_push(const struct ctx *c, struct znode_status *s, const char *name, int64_t lsn)
{
	struct znode_status_slot *grown;
	char *copy;

	if (s->n_slots >= SIZE_MAX / sizeof(*grown) - 1)
		return fail(c, "too many slots");
	copy = strdup(name);
	grown = copy ? realloc(s->slots, (s->n_slots + 1) * sizeof(*grown)) : NULL;
	if (grown == NULL) {
		free(copy);
		return fail(c, "out of memory");
	}
	s->slots = grown;
	s->slots[s->n_slots].name = copy;
	s->slots[s->n_slots].lsn = lsn;
	s->n_slots++;
	return true;
}

bool znode_status_add_slot(struct znode_status *s, const char *name, int64_t lsn, char *err,
			   size_t err_size)
{
	const struct ctx c = { "status", err, err_size };

	if (s == NULL)
		return fail(&c, "nothing to add to");
	if (name == NULL || name[0] == '\0')
		return fail(&c, "slot name is empty");
	if (!is_clean_text(name, strlen(name)))
		return fail(&c, "slot name is not clean UTF-8 text");
	if (lsn < 0)
		return fail(&c, "slot LSN must be at least 0, got %" PRId64, lsn);
	return status_push(&c, s, name, lsn);
}

bool znode_status_decode(const char *data, int len, struct znode_status *out, char *err,
			 size_t err_size)
{
	const struct ctx c = { "status JSON", err, err_size };
	const json_t *slots;
	json_t *root;
	bool present = false, ok;
	long long optime = 0;

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	memset(out, 0, sizeof(*out));
	root = load_json(&c, data, len);
	if (root == NULL)
		return false;
	if (json_is_integer(root) && json_integer_value(root) >= 0) {
		/* Status.from_node(): a bare number is the legacy form */
		out->optime = json_integer_value(root);
		json_decref(root);
		clear_err(&c);
		return true;
	}
	if (!json_is_object(root)) {
		fail(&c, "must be a JSON object, got %s", json_kind(root));
		json_decref(root);
		return false;
	}
	ok = read_int(&c, root, "optime", "optime", false, 0, &present, &optime);
	if (ok && !present)
		ok = fail(&c, "field \"optime\" is missing");
	out->optime = optime;
	slots = ok ? json_object_get(root, "slots") : NULL;
	if (slots != NULL && !json_is_null(slots) && !json_is_object(slots))
		ok = fail(&c, "field \"slots\" must be an object, got %s", json_kind(slots));
	if (ok && json_is_object(slots)) {
		const char *name;
		json_t *value;

		json_object_foreach((json_t *)slots, name, value) {
			if (!json_is_integer(value)) {
				ok = fail(&c, "field \"slots.%.64s\" must be an integer, got %s", name,
					  json_kind(value));
				break;
			}
			if (json_integer_value(value) < 0) {
				ok = fail(&c, "field \"slots.%.64s\" must be at least 0, got %lld",
					  name, json_integer_value(value));
				break;
			}
			if (name[0] == '\0') {
				ok = fail(&c, "field \"slots\" holds an empty slot name");
				break;
			}
			if (!status_push(&c, out, name, json_integer_value(value))) {
				ok = false;
				break;
			}
		}
	}
	json_decref(root);
	if (!ok)
		znode_status_clear(out);
	else
		clear_err(&c);
	return ok;
}

char *znode_status_encode(const struct znode_status *s, char *err, size_t err_size)
{
	const struct ctx c = { "status JSON", err, err_size };
	json_t *obj, *slots = NULL;
	char *text = NULL;
	bool ok;

	if (s == NULL) {
		fail(&c, "nothing to encode");
		return NULL;
	}
	if (s->optime < 0) {
		fail(&c, "field \"optime\" must be at least 0, got %" PRId64, s->optime);
		return NULL;
	}
	obj = json_object();
	ok = obj != NULL ? put(&c, obj, "optime", json_integer(s->optime)) : fail(&c, "out of memory");
	if (ok && s->n_slots > 0) {
		slots = json_object();
		ok = slots != NULL ? put(&c, obj, "slots", slots) : fail(&c, "out of memory");
	}
	for (size_t i = 0; ok && i < s->n_slots; i++) {
		const struct znode_status_slot *slot = &s->slots[i];

		if (slot->name == NULL || slot->name[0] == '\0')
			ok = fail(&c, "slot %zu has no name", i + 1);
		else if (slot->lsn < 0)
			ok = fail(&c, "field \"slots.%.64s\" must be at least 0, got %" PRId64,
				  slot->name, slot->lsn);
		else if (json_object_get(slots, slot->name) != NULL)
			ok = fail(&c, "slot \"%.64s\" appears twice", slot->name);
		else
			ok = put(&c, slots, slot->name, json_integer(slot->lsn));
	}
	if (ok)
		text = dump_json(&c, obj);
	json_decref(obj);
	return text;
}

/* ------------------------------------------------------------------------
 * history
 * ------------------------------------------------------------------------ */

void znode_history_clear(struct znode_history *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n_lines; i++) {
		free(h->lines[i].reason);
		free(h->lines[i].timestamp);
		free(h->lines[i].new_leader);
	}
	free(h->lines);
	memset(h, 0, sizeof(*h));
}

/* Grows h by one zeroed line. */
static struct znode_history_line *history_push(const struct ctx *c, struct znode_history *h)
{
	struct znode_history_line *grown;

	if (h->n_lines >= SIZE_MAX / sizeof(*grown) - 1) {
		fail(c, "too many lines");
		return NULL;
	}
	grown = realloc(h->lines, (h->n_lines + 1) * sizeof(*grown));
	if (grown == NULL) {
		fail(c, "out of memory");
		return NULL;
	}
	h->lines = grown;
	memset(&h->lines[h->n_lines], 0, sizeof(*grown));
	return &h->lines[h->n_lines++];
}

/* One optional string element: absent or null leaves *dst NULL. */
static bool history_string(const struct ctx *c, const json_t *line, size_t index, size_t n,
			   const char *what, bool required, char **dst)
{
	const json_t *v = json_array_get(line, index);

	if (v == NULL || (!required && json_is_null(v)))
		return true;
	if (!json_is_string(v))
		return fail(c, "line %zu: %s must be a string, got %s", n, what, json_kind(v));
	*dst = strdup(json_string_value(v));
	return *dst != NULL || fail(c, "out of memory");
}

static bool history_line(const struct ctx *c, const json_t *line, size_t n,
			 struct znode_history_line *out)
{
	const json_t *tl, *lsn;

	if (!json_is_array(line))
		return fail(c, "line %zu must be an array, got %s", n, json_kind(line));
	if (json_array_size(line) < 3)
		return fail(c, "line %zu has %zu element(s), expected at least 3", n,
			    json_array_size(line));
	tl = json_array_get(line, 0);
	lsn = json_array_get(line, 1);
	if (!json_is_integer(tl))
		return fail(c, "line %zu: timeline must be an integer, got %s", n, json_kind(tl));
	if (json_integer_value(tl) < 1)
		return fail(c, "line %zu: timeline must be at least 1, got %lld", n,
			    json_integer_value(tl));
	if (!json_is_integer(lsn))
		return fail(c, "line %zu: lsn must be an integer, got %s", n, json_kind(lsn));
	if (json_integer_value(lsn) < 0)
		return fail(c, "line %zu: lsn must be at least 0, got %lld", n,
			    json_integer_value(lsn));
	out->timeline = json_integer_value(tl);
	out->lsn = json_integer_value(lsn);
	return history_string(c, line, 2, n, "reason", true, &out->reason) &&
	       history_string(c, line, 3, n, "timestamp", false, &out->timestamp) &&
	       history_string(c, line, 4, n, "new leader", false, &out->new_leader);
}

bool znode_history_decode(const char *data, int len, struct znode_history *out, char *err,
			  size_t err_size)
{
	const struct ctx c = { "history JSON", err, err_size };
	json_t *root, *line;
	size_t i;
	bool ok = true;

	if (out == NULL)
		return fail(&c, "nothing to decode into");
	memset(out, 0, sizeof(*out));
	root = load_json(&c, data, len);
	if (root == NULL)
		return false;
	if (!json_is_array(root)) {
		fail(&c, "must be a JSON array, got %s", json_kind(root));
		json_decref(root);
		return false;
	}
	json_array_foreach(root, i, line) {
		struct znode_history_line *dst = history_push(&c, out);

		if (dst == NULL || !history_line(&c, line, i + 1, dst)) {
			ok = false;
			break;
		}
	}
	json_decref(root);
	if (!ok)
		znode_history_clear(out);
	else
		clear_err(&c);
	return ok;
}

bool znode_history_append(struct znode_history *h, int64_t timeline, int64_t lsn,
			  const char *reason, const char *timestamp, const char *new_leader,
			  char *err, size_t err_size)
{
	const struct ctx c = { "history", err, err_size };
	struct znode_history_line line = { timeline, lsn, NULL, NULL, NULL };
	struct znode_history_line *dst;

	if (h == NULL)
		return fail(&c, "nothing to append to");
	if (timeline < 1)
		return fail(&c, "timeline must be at least 1, got %" PRId64, timeline);
	if (lsn < 0)
		return fail(&c, "lsn must be at least 0, got %" PRId64, lsn);
	if (reason == NULL)
		return fail(&c, "reason is required");
	line.reason = strdup(reason);
	line.timestamp = timestamp ? strdup(timestamp) : NULL;
	line.new_leader = new_leader ? strdup(new_leader) : NULL;
	if (line.reason == NULL || (timestamp && !line.timestamp) || (new_leader && !line.new_leader) ||
	    (dst = history_push(&c, h)) == NULL) {
		free(line.reason);
		free(line.timestamp);
		free(line.new_leader);
		return fail(&c, "out of memory");
	}
	*dst = line;
	clear_err(&c);
	return true;
}

char *znode_history_encode(const struct znode_history *h, char *err, size_t err_size)
{
	const struct ctx c = { "history JSON", err, err_size };
	json_t *root;
	char *text = NULL;
	bool ok = true;

	if (h == NULL) {
		fail(&c, "nothing to encode");
		return NULL;
	}
	root = json_array();
	if (root == NULL) {
		fail(&c, "out of memory");
		return NULL;
	}
	for (size_t i = 0; ok && i < h->n_lines; i++) {
		const struct znode_history_line *l = &h->lines[i];
		json_t *line = json_array();

		if (line == NULL || json_array_append_new(root, line) != 0) {
			ok = fail(&c, "out of memory");
			break;
		}
		if (l->timeline < 1 || l->lsn < 0 || l->reason == NULL) {
			ok = fail(&c, "line %zu: needs timeline >= 1, lsn >= 0 and a reason", i + 1);
			break;
		}
		json_t *items[5] = {
			json_integer(l->timeline),
			json_integer(l->lsn),
			json_string(l->reason),
			l->timestamp ? json_string(l->timestamp) : json_null(),
			l->new_leader ? json_string(l->new_leader) : NULL,
		};
		size_t n = l->new_leader ? 5 : l->timestamp ? 4 : 3;

		/* every items[k] is a new reference: append it or drop it */
		for (size_t k = 0; k < 5; k++) {
			if (k >= n || !ok)
				json_decref(items[k]);
			else if (items[k] == NULL) /* json_string() refuses bad UTF-8 */
				ok = fail(&c, "line %zu: element %zu is not valid UTF-8", i + 1, k + 1);
			else if (json_array_append_new(line, items[k]) != 0)
				ok = fail(&c, "out of memory");
		}
	}
	if (ok)
		text = dump_json(&c, root);
	json_decref(root);
	return text;
}
