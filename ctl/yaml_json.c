/*
 * YAML <-> JSON with PyYAML's YAML 1.1 rules; see yaml_json.h.
 *
 * Both directions share PyYAML's implicit resolvers (the regular
 * expressions below, translated to POSIX): a plain scalar that one of
 * them matches is read as that type, and a string that one of them would
 * match is written quoted.
 */
#include "ctl/yaml_json.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "ctl/util.h"

#define DEPTH_LIMIT 64
#define VALUES_LIMIT 1000000

/* ---- PyYAML's implicit resolvers (yaml/resolver.py) ---------------------- */

enum implicit_type {
	IMPLICIT_STRING = 0,
	IMPLICIT_BOOL,
	IMPLICIT_FLOAT,
	IMPLICIT_INT,
	IMPLICIT_MERGE,
	IMPLICIT_NULL,
	IMPLICIT_TIMESTAMP,
	IMPLICIT_VALUE,
};

static const struct {
	enum implicit_type type;
	const char *pattern;
} resolvers[] = {
	{ IMPLICIT_BOOL, "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE"
			 "|on|On|ON|off|Off|OFF)$" },
	{ IMPLICIT_FLOAT, "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?"
			  "|\\.[0-9_]+([eE][-+][0-9]+)?"
			  "|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*"
			  "|[-+]?\\.(inf|Inf|INF)"
			  "|\\.(nan|NaN|NAN))$" },
	{ IMPLICIT_INT, "^([-+]?0b[0-1_]+"
			"|[-+]?0[0-7_]+"
			"|[-+]?(0|[1-9][0-9_]*)"
			"|[-+]?0x[0-9a-fA-F_]+"
			"|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$" },
	{ IMPLICIT_MERGE, "^<<$" },
	{ IMPLICIT_NULL, "^(~|null|Null|NULL|)$" },
	{ IMPLICIT_TIMESTAMP, "^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
			      "|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?"
			      "([Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\\.[0-9]*)?"
			      "([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)$" },
	{ IMPLICIT_VALUE, "^=$" },
};

#define RESOLVER_COUNT (sizeof(resolvers) / sizeof(resolvers[0]))

static regex_t compiled[RESOLVER_COUNT];
static bool compiled_ready;

static enum implicit_type implicit_type(const char *text)
{
	if (!compiled_ready) {
		for (size_t i = 0; i < RESOLVER_COUNT; i++)
			if (regcomp(&compiled[i], resolvers[i].pattern, REG_EXTENDED | REG_NOSUB) != 0) {
				/* The patterns are constants: only a broken libc
				 * gets here. */
				fputs("pgherdctl: cannot compile a YAML resolver\n", stderr);
				exit(1);
			}
		compiled_ready = true;
	}
	for (size_t i = 0; i < RESOLVER_COUNT; i++)
		if (regexec(&compiled[i], text, 0, NULL, 0) == 0)
			return resolvers[i].type;
	return IMPLICIT_STRING;
}

/* ---- reading ------------------------------------------------------------ */

/* PyYAML's construct_yaml_int, within 64 bits; false when it does not
 * fit or is sexagesimal (the caller keeps the text). */
static bool yaml_int_value(const char *text, long long *out)
{
	char digits[128];
	size_t n = 0;
	int sign = 1;
	int base = 10;
	const char *p = text;

	if (*p == '-' || *p == '+')
		sign = *p++ == '-' ? -1 : 1;
	if (strchr(p, ':') != NULL)
		return false;
	if (p[0] == '0' && p[1] == 'b') {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1] == 'x') {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
	}
	for (; *p != '\0'; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n++] = *p;
	}
	digits[n] = '\0';
	if (n == 0)
		return false;
	errno = 0;
	unsigned long long magnitude = strtoull(digits, NULL, base);
	if (errno == ERANGE || magnitude > (unsigned long long) LLONG_MAX + (sign < 0 ? 1 : 0))
		return false;
	if (sign < 0)
		*out = magnitude == (unsigned long long) LLONG_MAX + 1 ? LLONG_MIN
								      : -(long long) magnitude;
	else
		*out = (long long) magnitude;
	return true;
}

/* PyYAML's construct_yaml_float for finite, non-sexagesimal values. */
static bool yaml_float_value(const char *text, double *out)
{
	char digits[128];
	size_t n = 0;
	char *end = NULL;

	if (strchr(text, ':') != NULL || strpbrk(text, "iInN") != NULL)
		return false;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n++] = *p;
	}
	digits[n] = '\0';
	errno = 0;
	*out = strtod(digits, &end);
	return *end == '\0' && errno != ERANGE && isfinite(*out);
}

json_t *yaml_plain_scalar(const char *text)
{
	long long integer;
	double real;

	switch (implicit_type(text)) {
	case IMPLICIT_NULL:
		return json_null();
	case IMPLICIT_BOOL:
		/* yes, true, on (any case form the resolver admits) */
		if (text[0] == 'o' || text[0] == 'O')
			return json_boolean(text[1] == 'n' || text[1] == 'N');
		return json_boolean(strchr("yYtT", text[0]) != NULL);
	case IMPLICIT_INT:
		if (yaml_int_value(text, &integer))
			return xjson(json_integer(integer));
		break;
	case IMPLICIT_FLOAT:
		if (yaml_float_value(text, &real))
			return xjson(json_real(real));
		break;
	default:
		break;
	}
	return xjson(json_string(text));
}

struct reader {
	yaml_document_t *document;
	size_t values_left;
	const char *problem;
	size_t line; /* 1-based, 0 if unknown */
};

static json_t *fail(struct reader *reader, const yaml_node_t *node, const char *problem)
{
	if (reader->problem == NULL) {
		reader->problem = problem;
		reader->line = node ? node->start_mark.line + 1 : 0;
	}
	return NULL;
}

static json_t *node_to_json(struct reader *reader, yaml_node_t *node, int depth);

static json_t *scalar_to_json(struct reader *reader, yaml_node_t *node)
{
	const char *text = (const char *) node->data.scalar.value;
	size_t len = node->data.scalar.length;

	if (memchr(text, '\0', len) != NULL)
		return fail(reader, node, "NUL characters are not supported");
	/* Quoted and block scalars are strings. */
	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return xjson(json_stringn(text, len));
	return yaml_plain_scalar(text);
}

static json_t *node_to_json(struct reader *reader, yaml_node_t *node, int depth)
{
	if (node == NULL)
		return fail(reader, node, "cannot be read");
	if (depth > DEPTH_LIMIT)
		return fail(reader, node, "nested too deeply (or an alias contains itself)");
	if (reader->values_left == 0)
		return fail(reader, node, "too many values (aliases count each time)");
	reader->values_left--;

	if (node->type == YAML_SCALAR_NODE)
		return scalar_to_json(reader, node);
	if (node->type == YAML_SEQUENCE_NODE) {
		json_t *array = xjson(json_array());

		for (yaml_node_item_t *item = node->data.sequence.items.start;
		     item < node->data.sequence.items.top; item++) {
			json_t *element = node_to_json(
				reader, yaml_document_get_node(reader->document, *item), depth + 1);

			if (element == NULL) {
				json_decref(array);
				return NULL;
			}
			if (json_array_append_new(array, element) != 0)
				xjson(NULL);
		}
		return array;
	}
	if (node->type == YAML_MAPPING_NODE) {
		json_t *object = xjson(json_object());

		for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
		     pair < node->data.mapping.pairs.top; pair++) {
			yaml_node_t *key = yaml_document_get_node(reader->document, pair->key);

			if (key == NULL || key->type != YAML_SCALAR_NODE ||
			    memchr(key->data.scalar.value, '\0', key->data.scalar.length) != NULL) {
				json_decref(object);
				return fail(reader, key ? key : node,
					    "mapping keys must be plain text");
			}
			json_t *element = node_to_json(
				reader, yaml_document_get_node(reader->document, pair->value),
				depth + 1);
			if (element == NULL) {
				json_decref(object);
				return NULL;
			}
			if (json_object_setn_new(object, (const char *) key->data.scalar.value,
						 key->data.scalar.length, element) != 0) {
				json_decref(object);
				return fail(reader, key, "mapping keys must be valid UTF-8");
			}
		}
		return object;
	}
	return fail(reader, node, "cannot be read");
}

json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_size)
{
	yaml_parser_t parser;
	yaml_document_t document;
	json_t *value = NULL;

	if (err != NULL && err_size > 0)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		xjson(NULL);
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
	if (!yaml_parser_load(&parser, &document)) {
		if (err != NULL)
			snprintf(err, err_size, "line %zu: %s", parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "malformed YAML");
		yaml_parser_delete(&parser);
		return NULL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&document);
	if (root == NULL) {
		value = json_null();
	} else {
		struct reader reader = { .document = &document, .values_left = VALUES_LIMIT };

		value = node_to_json(&reader, root, 0);
		if (value == NULL && err != NULL)
			snprintf(err, err_size, "line %zu: %s", reader.line,
				 reader.problem ? reader.problem : "cannot be read");
	}
	yaml_document_delete(&document);

	/* safe_load() refuses a stream of several documents. */
	if (value != NULL && root != NULL) {
		yaml_document_t next;

		if (!yaml_parser_load(&parser, &next)) {
			if (err != NULL)
				snprintf(err, err_size, "line %zu: %s",
					 parser.problem_mark.line + 1,
					 parser.problem ? parser.problem : "malformed YAML");
			json_decref(value);
			value = NULL;
		} else {
			if (yaml_document_get_root_node(&next) != NULL) {
				if (err != NULL)
					snprintf(err, err_size,
						 "expected one YAML document, found several");
				json_decref(value);
				value = NULL;
			}
			yaml_document_delete(&next);
		}
	}
	yaml_parser_delete(&parser);
	return value;
}

/* ---- writing ------------------------------------------------------------ */

void yaml_float_repr(double value, char *buf, size_t size)
{
	char digits[40];
	char scientific[48];
	int exponent = 0;
	size_t n = 0;
	struct sb out = { 0 };

	if (isnan(value)) {
		snprintf(buf, size, ".nan");
		return;
	}
	if (isinf(value)) {
		snprintf(buf, size, value > 0 ? ".inf" : "-.inf");
		return;
	}
	/* The shortest digits that read back as the same double. */
	for (int precision = 1; precision <= 17; precision++) {
		snprintf(scientific, sizeof(scientific), "%.*e", precision - 1, value);
		if (strtod(scientific, NULL) == value)
			break;
	}
	const char *p = scientific;
	if (*p == '-') {
		sb_append_char(&out, '-');
		p++;
	}
	for (; *p != 'e' && *p != '\0'; p++)
		if (*p != '.' && n + 1 < sizeof(digits))
			digits[n++] = *p;
	if (*p == 'e')
		exponent = atoi(p + 1);
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';

	/* repr(): positional for 1e-4 <= |x| < 1e16, scientific otherwise. */
	int point = exponent + 1;
	if (point > -4 && point <= 16) {
		if (point <= 0) {
			sb_append(&out, "0.");
			sb_repeat(&out, '0', (size_t) -point);
			sb_append(&out, digits);
		} else if ((size_t) point >= n) {
			sb_append(&out, digits);
			sb_repeat(&out, '0', (size_t) point - n);
			sb_append(&out, ".0");
		} else {
			sb_append_n(&out, digits, (size_t) point);
			sb_append_char(&out, '.');
			sb_append(&out, digits + point);
		}
	} else {
		sb_append_char(&out, digits[0]);
		/* PyYAML adds ".0" where repr() has no point: 1e+16 -> 1.0e+16. */
		sb_append_char(&out, '.');
		sb_append(&out, n > 1 ? digits + 1 : "0");
		sb_printf(&out, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
	}
	snprintf(buf, size, "%s", sb_text(&out));
	sb_free(&out);
}

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
	sb_append_n(data, (const char *) buffer, size);
	return 1;
}

static void emit(yaml_emitter_t *emitter, yaml_event_t *event)
{
	/* Our events are well formed: a failure here is a bug or out of
	 * memory, and there is no output to fall back to. */
	if (!yaml_emitter_emit(emitter, event)) {
		fprintf(stderr, "pgherdctl: cannot write YAML: %s\n",
			emitter->problem ? emitter->problem : "out of memory");
		exit(1);
	}
}

static void emit_scalar(yaml_emitter_t *emitter, const char *text, bool quote)
{
	yaml_event_t event;

	if (!yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *) text,
					  (int) strlen(text), !quote, 1,
					  quote ? YAML_SINGLE_QUOTED_SCALAR_STYLE
						: YAML_ANY_SCALAR_STYLE))
		xjson(NULL);
	emit(emitter, &event);
}

/* A string is written plain unless YAML would read it back as another
 * type: "on", "10", "", "~" get quotes. */
static void emit_string(yaml_emitter_t *emitter, const char *text)
{
	emit_scalar(emitter, text, implicit_type(text) != IMPLICIT_STRING);
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void emit_value(yaml_emitter_t *emitter, const json_t *value, bool flow)
{
	yaml_event_t event;
	char number[64];

	switch (json_typeof(value)) {
	case JSON_OBJECT: {
		size_t count = json_object_size(value);
		const char **keys = xcalloc(count, sizeof(char *));
		const char *key;
		json_t *member;
		size_t i = 0;

		json_object_foreach((json_t *) value, key, member)
			keys[i++] = key;
		qsort(keys, count, sizeof(char *), compare_keys);
		if (!yaml_mapping_start_event_initialize(
			    &event, NULL, NULL, 1,
			    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE))
			xjson(NULL);
		emit(emitter, &event);
		for (i = 0; i < count; i++) {
			emit_string(emitter, keys[i]);
			emit_value(emitter, json_object_get(value, keys[i]), flow);
		}
		free(keys);
		if (!yaml_mapping_end_event_initialize(&event))
			xjson(NULL);
		emit(emitter, &event);
		return;
	}
	case JSON_ARRAY: {
		size_t index;
		json_t *element;

		if (!yaml_sequence_start_event_initialize(
			    &event, NULL, NULL, 1,
			    flow ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE))
			xjson(NULL);
		emit(emitter, &event);
		json_array_foreach(value, index, element)
			emit_value(emitter, element, flow);
		if (!yaml_sequence_end_event_initialize(&event))
			xjson(NULL);
		emit(emitter, &event);
		return;
	}
	case JSON_STRING:
		emit_string(emitter, json_string_value(value));
		return;
	case JSON_INTEGER:
		snprintf(number, sizeof(number), "%" JSON_INTEGER_FORMAT, json_integer_value(value));
		emit_scalar(emitter, number, false);
		return;
	case JSON_REAL:
		yaml_float_repr(json_real_value(value), number, sizeof(number));
		emit_scalar(emitter, number, false);
		return;
	case JSON_TRUE:
		emit_scalar(emitter, "true", false);
		return;
	case JSON_FALSE:
		emit_scalar(emitter, "false", false);
		return;
	case JSON_NULL:
		emit_scalar(emitter, "null", false);
		return;
	}
}

char *json_to_yaml(const json_t *value, bool flow)
{
	yaml_emitter_t emitter;
	yaml_event_t event;
	struct sb out = { 0 };

	if (!yaml_emitter_initialize(&emitter))
		xjson(NULL);
	yaml_emitter_set_output(&emitter, write_handler, &out);
	yaml_emitter_set_unicode(&emitter, 1);
	/* patronictl's format_config_for_editing() folds at 200 columns. */
	yaml_emitter_set_width(&emitter, 200);
	if (!yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING))
		xjson(NULL);
	emit(&emitter, &event);
	if (!yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1))
		xjson(NULL);
	emit(&emitter, &event);
	emit_value(&emitter, value, flow);
	if (!yaml_document_end_event_initialize(&event, 1))
		xjson(NULL);
	emit(&emitter, &event);
	if (!yaml_stream_end_event_initialize(&event))
		xjson(NULL);
	emit(&emitter, &event);
	yaml_emitter_delete(&emitter);
	return sb_steal(&out);
}
