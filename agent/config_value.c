/*
 * Typed values: one YAML node checked against one table row, then stored.
 *
 * Every source comes through here: the file, an environment variable and a
 * row's default (the last two wrapped in a one-scalar document by config.c).
 * So a default can never be something the parser rejects, and environment
 * values obey the same rules as the file.
 *
 * Integers, seconds and booleans are read from the scalar's text whether or
 * not it is quoted (`ttl: "30"` is 30), but the whole text must parse: we
 * would rather refuse to start than guess.  Maps kept as JSON (parameters,
 * tags) follow YAML 1.1 as Patroni's PyYAML reads it: unquoted on/off/yes/no/
 * true/false are booleans, quoted text is always a string.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/config_internal.h"

/* Limits for maps converted to JSON.  libyaml shares aliased nodes, so a
 * small file can describe an exponentially large tree, and `&a [*a]` is a
 * node that contains itself. */
#define JSON_DEPTH_LIMIT 32
#define JSON_VALUE_LIMIT 100000

/* What messages quote of a value, so that one huge value cannot make a
 * huge message. */
#define PRINTABLE_LIMIT 80

/* The longest node name pgherd's DCS module accepts. */
#define ZOOKEEPER_NAME_LIMIT 200

struct string_list {
	char **items;
	size_t count;
};

union parsed_value {
	char *text;
	struct string_list list;
	long long integer;
	double seconds;
	bool boolean;
	json_t *object;
	enum log_level level;
	enum log_format format;
	enum watchdog_mode watchdog_mode;
	enum synchronous_mode synchronous_mode;
};

enum parse_result {
	PARSE_OK,
	PARSE_INVALID, /* reported as an error */
	PARSE_IGNORED, /* reported as a warning; the current value stays */
};

/* One value being parsed: which row, from where, and where problems go. */
struct value_context {
	const struct config_key *row;
	const struct config_source *source;
	struct config_reporter *reporter;
};

/* ---- allocation and message text ---------------------------------------- */

static void out_of_memory(void)
{
	fputs("pgherd: out of memory while loading the configuration\n", stderr);
	abort();
}

void *config_allocate(size_t size)
{
	void *pointer = calloc(1, size ? size : 1);
	if (pointer == NULL)
		out_of_memory();
	return pointer;
}

void *config_reallocate(void *pointer, size_t size)
{
	void *resized = realloc(pointer, size ? size : 1);
	if (resized == NULL)
		out_of_memory();
	return resized;
}

char *config_duplicate(const char *text, size_t length)
{
	char *copy = config_allocate(length + 1);
	memcpy(copy, text, length);
	copy[length] = '\0';
	return copy;
}

char *config_format_va(const char *format, va_list arguments)
{
	char *text = NULL;
	if (vasprintf(&text, format, arguments) < 0)
		out_of_memory();
	return text;
}

char *config_format(const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	char *text = config_format_va(format, arguments);
	va_end(arguments);
	return text;
}

json_t *config_json_checked(json_t *value)
{
	if (value == NULL)
		out_of_memory();
	return value;
}

/* Back off to the start of a UTF-8 sequence, so truncation keeps the
 * message valid UTF-8. */
static size_t utf8_boundary(const char *text, size_t position)
{
	while (position > 0 && ((unsigned char) text[position] & 0xC0) == 0x80)
		position--;
	return position;
}

char *config_printable(const char *text, size_t length)
{
	bool truncated = length > PRINTABLE_LIMIT;
	size_t shown = truncated ? utf8_boundary(text, PRINTABLE_LIMIT) : length;
	/* Worst case every byte becomes \xNN, plus "..." and the NUL. */
	char *out = config_allocate(shown * 4 + 4);
	size_t used = 0;

	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char) text[i];
		if (c == '"' || c == '\\') {
			out[used++] = '\\';
			out[used++] = (char) c;
		} else if (c < 0x20 || c == 0x7f) {
			used += (size_t) snprintf(out + used, 5, "\\x%02x", c);
		} else {
			out[used++] = (char) c;
		}
	}
	if (truncated) {
		memcpy(out + used, "...", 3);
		used += 3;
	}
	out[used] = '\0';
	return out;
}

static const char *scalar_text(const yaml_node_t *node)
{
	return (const char *) node->data.scalar.value;
}

static size_t scalar_length(const yaml_node_t *node)
{
	return node->data.scalar.length;
}

bool config_scalar_is_null(const yaml_node_t *node)
{
	static const char *const null_forms[] = { "", "~", "null", "Null", "NULL" };

	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(null_forms) / sizeof(null_forms[0]); i++) {
		if (strlen(null_forms[i]) == scalar_length(node) &&
		    memcmp(null_forms[i], scalar_text(node), scalar_length(node)) == 0)
			return true;
	}
	return false;
}

char *config_describe_node(const yaml_node_t *node)
{
	if (node->type == YAML_SEQUENCE_NODE)
		return config_duplicate("a list", 6);
	if (node->type == YAML_MAPPING_NODE)
		return config_duplicate("a mapping", 9);
	if (node->type != YAML_SCALAR_NODE || config_scalar_is_null(node))
		return config_duplicate("an empty value", 14);
	char *printable = config_printable(scalar_text(node), scalar_length(node));
	char *quoted = config_format("\"%s\"", printable);
	free(printable);
	return quoted;
}

int config_source_line(const struct config_source *source, const yaml_node_t *node)
{
	if (!source->has_lines || node == NULL)
		return 0;
	return (int) node->start_mark.line + 1;
}

/* ---- reporting ----------------------------------------------------------- */

static void report_value(const struct value_context *value, enum config_severity severity,
			 const yaml_node_t *node, const char *format, ...)
	__attribute__((format(printf, 4, 5)));

static void report_value(const struct value_context *value, enum config_severity severity,
			 const yaml_node_t *node, const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	config_report_va(value->reporter, severity, value->source->origin,
			 config_source_line(value->source, node), value->row->path, format,
			 arguments);
	va_end(arguments);
}

static enum parse_result report_expected(const struct value_context *value,
					 const yaml_node_t *node, const char *expected)
{
	char *got = config_describe_node(node);
	report_value(value, CONFIG_ERROR, node, "expected %s, got %s", expected, got);
	free(got);
	return PARSE_INVALID;
}

/*
 * The text of a scalar that must hold a value, or NULL after reporting why
 * it cannot: not a scalar, empty, or containing a NUL (a "\0" escape), which
 * C strings would silently cut.
 */
static const char *required_text(const struct value_context *value, const yaml_node_t *node,
				 const char *expected)
{
	if (node->type != YAML_SCALAR_NODE) {
		report_expected(value, node, expected);
		return NULL;
	}
	if (config_scalar_is_null(node) || scalar_length(node) == 0) {
		report_value(value, CONFIG_ERROR, node, "must not be empty");
		return NULL;
	}
	if (memchr(scalar_text(node), '\0', scalar_length(node)) != NULL) {
		report_value(value, CONFIG_ERROR, node, "must not contain a NUL character");
		return NULL;
	}
	return scalar_text(node);
}

/* ---- scalars ------------------------------------------------------------- */

/* Why text cannot name a ZooKeeper node, or NULL.  The DCS module applies
 * ZooKeeper's complete rules; these are the ones an operator may trip on,
 * caught here with a line number. */
static const char *zookeeper_name_problem(const char *text, size_t length)
{
	if (strcmp(text, ".") == 0 || strcmp(text, "..") == 0)
		return "must not be \".\" or \"..\"";
	if (length > ZOOKEEPER_NAME_LIMIT)
		return "must be at most 200 bytes";
	for (const char *p = text; *p; p++) {
		if (*p == '/')
			return "must not contain '/'";
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
	}
	return NULL;
}

static enum parse_result parse_text(const struct value_context *value, const yaml_node_t *node,
				    union parsed_value *out)
{
	const char *text = required_text(value, node, "a string");
	if (text == NULL)
		return PARSE_INVALID;
	const char *problem = value->row->type == CONFIG_TYPE_NAME
				      ? zookeeper_name_problem(text, scalar_length(node))
				      : NULL;
	if (problem != NULL) {
		char *got = config_describe_node(node);
		report_value(value, CONFIG_ERROR, node, "%s (it names a ZooKeeper node), got %s",
			     problem, got);
		free(got);
		return PARSE_INVALID;
	}
	out->text = config_duplicate(text, scalar_length(node));
	return PARSE_OK;
}

static bool is_host_character(char c)
{
	/* ASCII host names, IPv4, [IPv6]%zone, and Patroni's listen forms
	 * "*:5432" and "ip,ip:5432". */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-._[]:%*,", c) != NULL;
}

/* NULL when text is host:port with a port from 1 to 65535, else why not. */
static const char *host_port_problem(const char *text, size_t length)
{
	const char *colon = memrchr(text, ':', length);
	const char *end = text + length;

	if (colon == NULL)
		return "expected host:port";
	if (colon == text)
		return "the host is missing in host:port";
	for (const char *p = text; p < colon; p++) {
		if (!is_host_character(*p))
			return "the host contains a character not allowed in host names";
	}
	long port = 0;
	const char *digit = colon + 1;
	if (digit == end || end - digit > 5)
		return "the port must be a number from 1 to 65535";
	for (; digit < end; digit++) {
		if (*digit < '0' || *digit > '9')
			return "the port must be a number from 1 to 65535";
		port = port * 10 + (*digit - '0');
	}
	if (port < 1 || port > 65535)
		return "the port must be a number from 1 to 65535";
	return NULL;
}

static void report_host_port_problem(const struct value_context *value, const yaml_node_t *node,
				     const char *problem, const char *entry, size_t length)
{
	char *printable = config_printable(entry, length);
	report_value(value, CONFIG_ERROR, node, "%s, got \"%s\"", problem, printable);
	free(printable);
}

static enum parse_result parse_address(const struct value_context *value, const yaml_node_t *node,
				       union parsed_value *out)
{
	const char *text = required_text(value, node, "host:port");
	if (text == NULL)
		return PARSE_INVALID;
	const char *problem = host_port_problem(text, scalar_length(node));
	if (problem != NULL) {
		report_host_port_problem(value, node, problem, text, scalar_length(node));
		return PARSE_INVALID;
	}
	out->text = config_duplicate(text, scalar_length(node));
	return PARSE_OK;
}

static bool is_decimal_integer(const char *text)
{
	if (*text == '-' || *text == '+')
		text++;
	if (*text == '\0')
		return false;
	for (; *text; text++) {
		if (*text < '0' || *text > '9')
			return false;
	}
	return true;
}

static enum parse_result report_out_of_range(const struct value_context *value,
					     const yaml_node_t *node, bool too_small)
{
	char *got = config_printable(scalar_text(node), scalar_length(node));
	if (too_small)
		report_value(value, CONFIG_ERROR, node, "must be at least %lld, got %s",
			     value->row->minimum, got);
	else
		report_value(value, CONFIG_ERROR, node, "must be at most %lld, got %s",
			     value->row->maximum, got);
	free(got);
	return PARSE_INVALID;
}

static enum parse_result parse_integer(const struct value_context *value, const yaml_node_t *node,
				       union parsed_value *out)
{
	const char *text = required_text(value, node, "an integer");
	if (text == NULL)
		return PARSE_INVALID;
	if (!is_decimal_integer(text))
		return report_expected(value, node, "an integer");

	errno = 0;
	long long number = strtoll(text, NULL, 10);
	bool negative = text[0] == '-';
	if (errno == ERANGE)
		return report_out_of_range(value, node, negative);
	if (number < value->row->minimum)
		return report_out_of_range(value, node, true);
	if (number > value->row->maximum)
		return report_out_of_range(value, node, false);
	out->integer = number;
	return PARSE_OK;
}

/* Digits with an optional sign, point and exponent: what strtod() may read
 * without also accepting "nan", "inf" or hexadecimal. */
static bool looks_like_decimal_number(const char *text)
{
	bool has_digit = false;
	for (; *text; text++) {
		if (*text >= '0' && *text <= '9')
			has_digit = true;
		else if (strchr("+-.eE", *text) == NULL)
			return false;
	}
	return has_digit;
}

static enum parse_result parse_seconds(const struct value_context *value, const yaml_node_t *node,
				       union parsed_value *out)
{
	const char *expected = "a number of seconds";
	const char *text = required_text(value, node, expected);
	if (text == NULL)
		return PARSE_INVALID;
	if (!looks_like_decimal_number(text))
		return report_expected(value, node, expected);

	char *end = NULL;
	errno = 0;
	double seconds = strtod(text, &end);
	if (*end != '\0')
		return report_expected(value, node, expected);
	char *got = config_printable(text, scalar_length(node));
	enum parse_result result = PARSE_INVALID;
	if (!(seconds > 0))
		report_value(value, CONFIG_ERROR, node, "must be greater than 0, got %s", got);
	else if (errno == ERANGE || !isfinite(seconds) || seconds > (double) value->row->maximum)
		report_value(value, CONFIG_ERROR, node, "must be at most %lld, got %s",
			     value->row->maximum, got);
	else
		result = PARSE_OK;
	free(got);
	out->seconds = seconds;
	return result;
}

/* true/false, yes/no, on/off in any case. */
static bool is_boolean_word(const char *text, bool *out)
{
	static const char *const true_words[] = { "true", "yes", "on" };
	static const char *const false_words[] = { "false", "no", "off" };

	for (size_t i = 0; i < sizeof(true_words) / sizeof(true_words[0]); i++) {
		if (strcasecmp(text, true_words[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(text, false_words[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static enum parse_result parse_boolean(const struct value_context *value, const yaml_node_t *node,
				       union parsed_value *out)
{
	const char *expected = "a boolean (true or false)";
	const char *text = required_text(value, node, expected);

	if (text == NULL)
		return PARSE_INVALID;
	if (!is_boolean_word(text, &out->boolean))
		return report_expected(value, node, expected);
	return PARSE_OK;
}

static enum parse_result parse_log_level(const struct value_context *value,
					 const yaml_node_t *node, union parsed_value *out)
{
	const char *expected = "one of DEBUG, INFO, WARNING, ERROR, CRITICAL";
	const char *text = required_text(value, node, expected);

	if (text == NULL)
		return PARSE_INVALID;
	if (!log_level_parse(text, &out->level))
		return report_expected(value, node, expected);
	return PARSE_OK;
}

/* Patroni's parse_mode(): YAML's `off` is a boolean there, and the short
 * spellings are accepted.  Patroni disables the watchdog on anything else;
 * pgherd says what is wrong instead, since the mode is a safety setting. */
static enum parse_result parse_watchdog_mode(const struct value_context *value,
					     const yaml_node_t *node, union parsed_value *out)
{
	static const struct {
		const char *word;
		enum watchdog_mode mode;
	} words[] = {
		{ "off", WATCHDOG_MODE_OFF },		{ "false", WATCHDOG_MODE_OFF },
		{ "no", WATCHDOG_MODE_OFF },		{ "disable", WATCHDOG_MODE_OFF },
		{ "disabled", WATCHDOG_MODE_OFF },	{ "automatic", WATCHDOG_MODE_AUTOMATIC },
		{ "auto", WATCHDOG_MODE_AUTOMATIC },	{ "required", WATCHDOG_MODE_REQUIRED },
		{ "require", WATCHDOG_MODE_REQUIRED },
	};
	const char *expected = "off, automatic or required";
	const char *text = required_text(value, node, expected);

	if (text == NULL)
		return PARSE_INVALID;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(text, words[i].word) == 0) {
			out->watchdog_mode = words[i].mode;
			return PARSE_OK;
		}
	}
	return report_expected(value, node, expected);
}

/* Patroni's synchronous_mode: a boolean, or since Patroni 4.0 "quorum"
 * (compared without case, as Patroni does).  pgherd has no quorum commit and
 * runs "quorum" as true, as it does when `config` says "quorum"; the value
 * is kept so that bootstrap writes what the operator wrote. */
static enum parse_result parse_synchronous_mode(const struct value_context *value,
						const yaml_node_t *node, union parsed_value *out)
{
	const char *text = required_text(value, node, "a boolean (true or false) or quorum");
	bool on;

	if (text == NULL)
		return PARSE_INVALID;
	if (strcasecmp(text, "quorum") == 0) {
		report_value(value, CONFIG_WARNING, node,
			     "quorum commit is not implemented: pgherd runs \"quorum\" as true");
		out->synchronous_mode = SYNCHRONOUS_MODE_QUORUM;
		return PARSE_OK;
	}
	if (!is_boolean_word(text, &on))
		return report_expected(value, node, "a boolean (true or false) or quorum");
	out->synchronous_mode = on ? SYNCHRONOUS_MODE_ON : SYNCHRONOUS_MODE_OFF;
	return PARSE_OK;
}

static enum parse_result parse_log_format(const struct value_context *value,
					  const yaml_node_t *node, union parsed_value *out)
{
	const char *expected = "plain or json";
	const char *text = required_text(value, node, expected);

	if (text == NULL)
		return PARSE_INVALID;
	if (strcasecmp(text, "plain") == 0) {
		out->format = LOG_FORMAT_PLAIN;
		return PARSE_OK;
	}
	if (strcasecmp(text, "json") == 0) {
		out->format = LOG_FORMAT_JSON;
		return PARSE_OK;
	}
	/* Patroni's log.format is a Python logging format string; a Patroni
	 * file is still welcome here. */
	if (strstr(text, "%(") != NULL) {
		report_value(value, CONFIG_WARNING, node,
			     "Patroni log format strings are not supported; using plain "
			     "unless log.type is json");
		return PARSE_IGNORED;
	}
	return report_expected(value, node, expected);
}

/* ---- lists --------------------------------------------------------------- */

static void string_list_append(struct string_list *list, const char *text, size_t length)
{
	list->items = config_reallocate(list->items, (list->count + 1) * sizeof(list->items[0]));
	list->items[list->count++] = config_duplicate(text, length);
}

static void string_list_free(char **items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(items[i]);
	free(items);
}

static yaml_node_t *sequence_item(const struct config_source *source, const yaml_node_item_t *item)
{
	return yaml_document_get_node(source->document, *item);
}

static enum parse_result finish_list(struct string_list *list, bool valid, union parsed_value *out)
{
	if (!valid) {
		string_list_free(list->items, list->count);
		return PARSE_INVALID;
	}
	out->list = *list;
	return PARSE_OK;
}

static enum parse_result parse_string_list(const struct value_context *value,
					   const yaml_node_t *node, union parsed_value *out)
{
	struct string_list list = { 0 };
	bool valid = true;

	if (config_scalar_is_null(node))
		return finish_list(&list, true, out);
	if (node->type != YAML_SEQUENCE_NODE)
		return report_expected(value, node, "a list of strings");
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		yaml_node_t *entry = sequence_item(value->source, item);
		const char *text = required_text(value, entry, "a string");
		if (text == NULL)
			valid = false;
		else
			string_list_append(&list, text, scalar_length(entry));
	}
	return finish_list(&list, valid, out);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Validate one host:port entry (blanks around it trimmed) and add it. */
static bool add_host_entry(const struct value_context *value, const yaml_node_t *node,
			   const char *entry, size_t length, struct string_list *list)
{
	while (length > 0 && is_blank(*entry)) {
		entry++;
		length--;
	}
	while (length > 0 && is_blank(entry[length - 1]))
		length--;
	if (length == 0) {
		report_value(value, CONFIG_ERROR, node, "empty entry in the list of host:port");
		return false;
	}
	const char *problem = host_port_problem(entry, length);
	if (problem != NULL) {
		report_host_port_problem(value, node, problem, entry, length);
		return false;
	}
	string_list_append(list, entry, length);
	return true;
}

static bool add_comma_separated_hosts(const struct value_context *value, const yaml_node_t *node,
				      const char *text, size_t length, struct string_list *list)
{
	bool valid = true;
	const char *end = text + length;

	for (const char *start = text; start <= end;) {
		const char *comma = memchr(start, ',', (size_t) (end - start));
		const char *stop = comma ? comma : end;
		valid = add_host_entry(value, node, start, (size_t) (stop - start), list) && valid;
		start = stop + 1;
	}
	return valid;
}

static bool add_host_list_item(const struct value_context *value, yaml_node_t *entry,
			       struct string_list *list)
{
	/* "- zk1: 2181" is a mapping in YAML: a common slip worth a hint. */
	if (entry->type == YAML_MAPPING_NODE) {
		report_value(value, CONFIG_ERROR, entry,
			     "expected host:port, got a mapping (quote the entry: 'zk1:2181')");
		return false;
	}
	const char *text = required_text(value, entry, "host:port");
	if (text == NULL)
		return false;
	return add_host_entry(value, entry, text, scalar_length(entry), list);
}

static enum parse_result parse_address_list(const struct value_context *value,
					    const yaml_node_t *node, union parsed_value *out)
{
	struct string_list list = { 0 };
	bool valid = true;

	if (node->type == YAML_SCALAR_NODE) {
		const char *text = required_text(value, node, "a list of host:port");
		if (text == NULL)
			return PARSE_INVALID;
		valid = add_comma_separated_hosts(value, node, text, scalar_length(node), &list);
		return finish_list(&list, valid, out);
	}
	if (node->type != YAML_SEQUENCE_NODE)
		return report_expected(value, node, "a list of host:port");
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++)
		valid = add_host_list_item(value, sequence_item(value->source, item), &list) &&
			valid;
	if (valid && list.count == 0) {
		report_value(value, CONFIG_ERROR, node, "expected at least one host:port");
		valid = false;
	}
	return finish_list(&list, valid, out);
}

/* ---- maps as JSON -------------------------------------------------------- */

struct json_conversion {
	yaml_document_t *document;
	size_t values_left;
	const yaml_node_t *failed_node; /* where the problem is */
	const char *problem;
};

static bool text_equals_one_of(const char *text, size_t length, const char *const *words,
			       size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (strlen(words[i]) == length && memcmp(words[i], text, length) == 0)
			return true;
	}
	return false;
}

/* Decimal integers as YAML 1.1 reads them; a leading zero would be octal
 * there, so such text stays a string rather than change meaning. */
static bool plain_integer(const char *text, size_t length, json_int_t *out)
{
	const char *digits = (*text == '-' || *text == '+') ? text + 1 : text;
	if (strlen(text) != length || !is_decimal_integer(text))
		return false;
	if (digits[0] == '0' && digits[1] != '\0')
		return false;
	errno = 0;
	long long number = strtoll(text, NULL, 10);
	if (errno == ERANGE)
		return false;
	*out = number;
	return true;
}

/* YAML 1.1 floats have a point: PyYAML reads 1e5 and 0755 otherwise. */
static bool plain_real(const char *text, size_t length, double *out)
{
	char *end = NULL;
	if (strlen(text) != length || !looks_like_decimal_number(text) || !strchr(text, '.'))
		return false;
	errno = 0;
	double number = strtod(text, &end);
	if (*end != '\0' || errno == ERANGE || !isfinite(number))
		return false;
	*out = number;
	return true;
}

static json_t *plain_scalar_to_json(const yaml_node_t *node)
{
	/* PyYAML's YAML 1.1 booleans: exactly these spellings. */
	static const char *const true_words[] = { "yes", "Yes", "YES", "true", "True",
						  "TRUE", "on", "On", "ON" };
	static const char *const false_words[] = { "no", "No", "NO", "false", "False",
						   "FALSE", "off", "Off", "OFF" };
	const char *text = scalar_text(node);
	size_t length = scalar_length(node);
	json_int_t integer;
	double real;

	if (config_scalar_is_null(node))
		return json_null();
	if (text_equals_one_of(text, length, true_words, 9))
		return json_true();
	if (text_equals_one_of(text, length, false_words, 9))
		return json_false();
	if (plain_integer(text, length, &integer))
		return config_json_checked(json_integer(integer));
	if (plain_real(text, length, &real))
		return config_json_checked(json_real(real));
	return json_stringn(text, length);
}

static json_t *json_failure(struct json_conversion *conversion, const yaml_node_t *node,
			    const char *problem)
{
	if (conversion->problem == NULL) {
		conversion->problem = problem;
		conversion->failed_node = node;
	}
	return NULL;
}

static json_t *node_to_json(struct json_conversion *conversion, yaml_node_t *node, int depth);

static json_t *sequence_to_json(struct json_conversion *conversion, yaml_node_t *node, int depth)
{
	json_t *array = config_json_checked(json_array());
	for (yaml_node_item_t *item = node->data.sequence.items.start;
	     item < node->data.sequence.items.top; item++) {
		json_t *element = node_to_json(
			conversion, yaml_document_get_node(conversion->document, *item), depth + 1);
		if (element == NULL || json_array_append_new(array, element) != 0) {
			json_decref(array);
			return json_failure(conversion, node, "cannot be converted");
		}
	}
	return array;
}

static json_t *mapping_to_json(struct json_conversion *conversion, yaml_node_t *node, int depth)
{
	json_t *object = config_json_checked(json_object());
	for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
	     pair < node->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = yaml_document_get_node(conversion->document, pair->key);
		if (key == NULL || key->type != YAML_SCALAR_NODE ||
		    memchr(scalar_text(key), '\0', scalar_length(key)) != NULL) {
			json_decref(object);
			return json_failure(conversion, key ? key : node,
					    "map keys must be strings without NUL characters");
		}
		json_t *element = node_to_json(
			conversion, yaml_document_get_node(conversion->document, pair->value),
			depth + 1);
		if (element == NULL ||
		    json_object_set_new(object, scalar_text(key), element) != 0) {
			json_decref(object);
			return json_failure(conversion, node, "cannot be converted");
		}
	}
	return object;
}

static json_t *node_to_json(struct json_conversion *conversion, yaml_node_t *node, int depth)
{
	if (node == NULL)
		return json_failure(conversion, node, "cannot be converted");
	if (depth > JSON_DEPTH_LIMIT)
		return json_failure(conversion, node,
				    "is nested too deeply (more than 32 levels, or an alias "
				    "that contains itself)");
	if (conversion->values_left == 0)
		return json_failure(conversion, node,
				    "holds too many values (more than 100000, counting every "
				    "use of a YAML alias)");
	conversion->values_left--;

	switch (node->type) {
	case YAML_SCALAR_NODE:
		if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			return plain_scalar_to_json(node);
		return json_stringn(scalar_text(node), scalar_length(node));
	case YAML_SEQUENCE_NODE:
		return sequence_to_json(conversion, node, depth);
	case YAML_MAPPING_NODE:
		return mapping_to_json(conversion, node, depth);
	case YAML_NO_NODE:
		break;
	}
	return json_failure(conversion, node, "cannot be converted");
}

static enum parse_result parse_object(const struct value_context *value, yaml_node_t *node,
				      union parsed_value *out)
{
	if (config_scalar_is_null(node)) {
		out->object = config_json_checked(json_object());
		return PARSE_OK;
	}
	if (node->type != YAML_MAPPING_NODE)
		return report_expected(value, node, "a mapping");

	struct json_conversion conversion = {
		.document = value->source->document,
		.values_left = JSON_VALUE_LIMIT,
	};
	out->object = node_to_json(&conversion, node, 0);
	if (out->object == NULL) {
		const yaml_node_t *where = conversion.failed_node ? conversion.failed_node : node;
		report_value(value, CONFIG_ERROR, where, "%s",
			     conversion.problem ? conversion.problem : "cannot be converted");
		return PARSE_INVALID;
	}
	return PARSE_OK;
}

json_t *config_node_to_object(yaml_document_t *document, yaml_node_t *node, const char **problem)
{
	struct json_conversion conversion = { .document = document, .values_left = JSON_VALUE_LIMIT };
	json_t *object;

	if (node->type != YAML_MAPPING_NODE) {
		*problem = "expected a mapping";
		return NULL;
	}
	object = node_to_json(&conversion, node, 0);
	if (object == NULL)
		*problem = conversion.problem ? conversion.problem : "cannot be converted";
	return object;
}

/* ---- dispatch and storage ------------------------------------------------ */

static enum parse_result parse_value(const struct value_context *value, yaml_node_t *node,
				     union parsed_value *out)
{
	switch (value->row->type) {
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_NAME: return parse_text(value, node, out);
	case CONFIG_TYPE_ADDRESS: return parse_address(value, node, out);
	case CONFIG_TYPE_ADDRESS_LIST: return parse_address_list(value, node, out);
	case CONFIG_TYPE_STRING_LIST: return parse_string_list(value, node, out);
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return parse_integer(value, node, out);
	case CONFIG_TYPE_SECONDS: return parse_seconds(value, node, out);
	case CONFIG_TYPE_BOOL: return parse_boolean(value, node, out);
	case CONFIG_TYPE_OBJECT: return parse_object(value, node, out);
	case CONFIG_TYPE_LOG_LEVEL: return parse_log_level(value, node, out);
	case CONFIG_TYPE_LOG_FORMAT: return parse_log_format(value, node, out);
	case CONFIG_TYPE_WATCHDOG_MODE: return parse_watchdog_mode(value, node, out);
	case CONFIG_TYPE_SYNCHRONOUS_MODE: return parse_synchronous_mode(value, node, out);
	}
	return PARSE_INVALID;
}

static void *field_at(struct pgherd_config *config, size_t offset)
{
	return (char *) config + offset;
}

/* A known tag goes into config->tags, typed, replacing the raw YAML value. */
static void store_tag(const struct config_key *row, struct pgherd_config *config,
		      union parsed_value *value)
{
	const char *tag = strrchr(row->path, '.') + 1;
	json_t *typed;

	switch (row->type) {
	case CONFIG_TYPE_BOOL:
		typed = json_boolean(value->boolean);
		break;
	case CONFIG_TYPE_INT:
		typed = config_json_checked(json_integer(value->integer));
		break;
	default:
		typed = config_json_checked(json_string(value->text));
		free(value->text);
		break;
	}
	if (json_object_set_new(config->tags, tag, typed) != 0)
		abort(); /* tags is an object and tag a fixed ASCII name */
}

static void store_value(const struct config_key *row, struct pgherd_config *config,
			union parsed_value *value)
{
	void *field = field_at(config, row->offset);

	if (row->flags & CONFIG_KEY_TAG) {
		store_tag(row, config, value);
		return;
	}
	config_value_release(row, config);
	switch (row->type) {
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_NAME:
	case CONFIG_TYPE_ADDRESS: *(char **) field = value->text; break;
	case CONFIG_TYPE_ADDRESS_LIST:
	case CONFIG_TYPE_STRING_LIST:
		*(char ***) field = value->list.items;
		*(size_t *) field_at(config, row->count_offset) = value->list.count;
		break;
	case CONFIG_TYPE_INT: *(int *) field = (int) value->integer; break;
	case CONFIG_TYPE_INT64: *(long long *) field = value->integer; break;
	case CONFIG_TYPE_SECONDS: *(double *) field = value->seconds; break;
	case CONFIG_TYPE_BOOL: *(bool *) field = value->boolean; break;
	case CONFIG_TYPE_OBJECT: *(json_t **) field = value->object; break;
	case CONFIG_TYPE_LOG_LEVEL: *(enum log_level *) field = value->level; break;
	case CONFIG_TYPE_LOG_FORMAT: *(enum log_format *) field = value->format; break;
	case CONFIG_TYPE_WATCHDOG_MODE:
		*(enum watchdog_mode *) field = value->watchdog_mode;
		break;
	case CONFIG_TYPE_SYNCHRONOUS_MODE:
		*(enum synchronous_mode *) field = value->synchronous_mode;
		break;
	}
}

bool config_value_apply(const struct config_key *row, const struct config_source *source,
			struct pgherd_config *config, struct config_reporter *reporter)
{
	struct value_context value = { .row = row, .source = source, .reporter = reporter };
	union parsed_value parsed;

	switch (parse_value(&value, source->node, &parsed)) {
	case PARSE_OK:
		store_value(row, config, &parsed);
		return true;
	case PARSE_IGNORED:
		return true;
	case PARSE_INVALID:
		break;
	}
	return false;
}

void config_value_release(const struct config_key *row, struct pgherd_config *config)
{
	void *field = field_at(config, row->offset);

	if (row->kind != CONFIG_KEY_SUPPORTED || (row->flags & CONFIG_KEY_TAG))
		return;
	switch (row->type) {
	case CONFIG_TYPE_STRING:
	case CONFIG_TYPE_NAME:
	case CONFIG_TYPE_ADDRESS:
		free(*(char **) field);
		*(char **) field = NULL;
		break;
	case CONFIG_TYPE_ADDRESS_LIST:
	case CONFIG_TYPE_STRING_LIST:
		string_list_free(*(char ***) field,
				 *(size_t *) field_at(config, row->count_offset));
		*(char ***) field = NULL;
		*(size_t *) field_at(config, row->count_offset) = 0;
		break;
	case CONFIG_TYPE_OBJECT:
		json_decref(*(json_t **) field);
		*(json_t **) field = NULL;
		break;
	default:
		break;
	}
}
