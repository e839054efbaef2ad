/*
 * Loading the configuration: defaults, then the YAML file, then the
 * environment, each applied row by row from the key table (config_keys.c).
 *
 * The file is read with libyaml's document API, which gives every node its
 * line.  Two passes run over it:
 *   - check_mapping_keys() walks the sections pgherd knows and warns about
 *     each key it does not use (Patroni keys, unknown keys) and reports
 *     sections that are not mappings;
 *   - apply_file_values() looks up every supported row's path and parses
 *     what it finds.  Table order, not file order, decides which of two rows
 *     writing one field wins, so the result never depends on key order.
 * Before both, an event-based pass checks the syntax and bounds the nesting,
 * tracking the key path so that a syntax error names the last key read.
 *
 * Nothing here logs: diagnostics go back to the caller, which decides
 * whether a broken file stops the agent or (on reload) keeps the old one.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config_internal.h"

/* Larger than any sane configuration; stops a wrong path (a log file, a
 * device) from being read into memory. */
#define CONFIG_FILE_SIZE_LIMIT ((size_t) 16 << 20)
#define READ_CHUNK ((size_t) 64 << 10)

/* The file name diagnostics carry when there is no file. */
#define NO_FILE_NAME "environment"

/* The last key path quoted in a "malformed YAML" message is cut here. */
#define KEY_PATH_LIMIT 200

/* Deeper YAML is refused before libyaml builds the tree: its scanner slows
 * quadratically with flow nesting (100000 nested lists take half a minute),
 * and a configuration needs a handful of levels. */
#define NESTING_LIMIT 64

struct load_context {
	struct config_reporter reporter;
	const char *file_name;
	yaml_document_t document;
	bool have_document; /* a mapping document was loaded: lines exist */
	bool *provided;     /* per table row: set by the file or the environment */
	struct pgherd_config *config;
};

/* ---- diagnostics --------------------------------------------------------- */

static void append_diagnostic(struct config_diagnostics *diags, enum config_severity severity,
			      const char *file, int line, const char *key, char *reason)
{
	diags->items =
		config_reallocate(diags->items, (diags->count + 1) * sizeof(diags->items[0]));
	diags->items[diags->count++] = (struct config_diagnostic){
		.severity = severity,
		.file = config_duplicate(file, strlen(file)),
		.line = line,
		.key = config_duplicate(key, strlen(key)),
		.reason = reason,
	};
}

void config_report_va(struct config_reporter *reporter, enum config_severity severity,
		      const char *file, int line, const char *key, const char *format,
		      va_list arguments)
{
	if (severity == CONFIG_ERROR)
		reporter->errors++;
	if (reporter->diags->count - reporter->first >= CONFIG_DIAGNOSTICS_LISTED) {
		reporter->unlisted++;
		return;
	}
	append_diagnostic(reporter->diags, severity, file, line, key,
			  config_format_va(format, arguments));
}

void config_report(struct config_reporter *reporter, enum config_severity severity,
		   const char *file, int line, const char *key, const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	config_report_va(reporter, severity, file, line, key, format, arguments);
	va_end(arguments);
}

void config_diagnostics_clear(struct config_diagnostics *diags)
{
	for (size_t i = 0; i < diags->count; i++) {
		free(diags->items[i].file);
		free(diags->items[i].key);
		free(diags->items[i].reason);
	}
	free(diags->items);
	diags->items = NULL;
	diags->count = 0;
}

bool config_diagnostics_have_errors(const struct config_diagnostics *diags)
{
	for (size_t i = 0; i < diags->count; i++) {
		if (diags->items[i].severity == CONFIG_ERROR)
			return true;
	}
	return false;
}

char *config_diagnostic_format(const struct config_diagnostic *d)
{
	char line[24] = "";
	const char *key = d->key ? d->key : "";

	if (d->line > 0)
		snprintf(line, sizeof(line), ":%d", d->line);
	return config_format("%s%s: %s: %s%s%s", d->file ? d->file : "", line,
			     d->severity == CONFIG_ERROR ? "error" : "warning", key,
			     *key ? ": " : "", d->reason ? d->reason : "");
}

/* Line order is reading order; line 0 (the environment) goes last.  An
 * insertion sort is stable and the list is short and nearly sorted. */
static bool sorts_before(const struct config_diagnostic *a, const struct config_diagnostic *b)
{
	if (a->line == 0 || b->line == 0)
		return a->line != 0 && b->line == 0;
	return a->line < b->line;
}

static void sort_diagnostics(struct config_diagnostics *diags, size_t first)
{
	for (size_t i = first + 1; i < diags->count; i++) {
		struct config_diagnostic moving = diags->items[i];
		size_t j = i;
		while (j > first && sorts_before(&moving, &diags->items[j - 1])) {
			diags->items[j] = diags->items[j - 1];
			j--;
		}
		diags->items[j] = moving;
	}
}

static void report_error(struct load_context *context, int line, const char *key,
			 const char *format, ...) __attribute__((format(printf, 4, 5)));

static void report_error(struct load_context *context, int line, const char *key,
			 const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	config_report_va(&context->reporter, CONFIG_ERROR, context->file_name, line, key, format,
			 arguments);
	va_end(arguments);
}

static void report_warning(struct load_context *context, int line, const char *key,
			   const char *format, ...) __attribute__((format(printf, 4, 5)));

static void report_warning(struct load_context *context, int line, const char *key,
			   const char *format, ...)
{
	va_list arguments;
	va_start(arguments, format);
	config_report_va(&context->reporter, CONFIG_WARNING, context->file_name, line, key, format,
			 arguments);
	va_end(arguments);
}

static int node_line(const yaml_node_t *node)
{
	return (int) node->start_mark.line + 1;
}

/* ---- the config object ---------------------------------------------------- */

void config_free(struct pgherd_config *config)
{
	if (config == NULL)
		return;
	for (size_t i = 0; i < config_key_count; i++)
		config_value_release(&config_keys[i], config);
	json_decref(config->postgresql.replica_methods);
	json_decref(config->bootstrap.method_section);
	free(config->zookeeper.connect_string);
	free(config);
}

/* One scalar as a document, so environment values and defaults go through
 * the same parser as the file.  Single-quoted style: the text is taken
 * literally (an environment "null" is the text null). */
static bool scalar_document_create(yaml_document_t *document, const char *text,
				   yaml_node_t **node)
{
	if (!yaml_document_initialize(document, NULL, NULL, NULL, 1, 1))
		abort();
	int id = yaml_document_add_scalar(document, NULL, (yaml_char_t *) text, (int) strlen(text),
					  YAML_SINGLE_QUOTED_SCALAR_STYLE);
	if (id == 0) {
		/* libyaml refuses text that is not UTF-8. */
		yaml_document_delete(document);
		return false;
	}
	*node = yaml_document_get_node(document, id);
	return true;
}

static void apply_default(struct load_context *context, const struct config_key *row)
{
	yaml_document_t document;
	struct config_source source = { .document = &document, .origin = "pgherd default" };

	if (!scalar_document_create(&document, row->default_value, &source.node))
		abort(); /* the defaults are ASCII literals in config_keys.c */
	config_value_apply(row, &source, context->config, &context->reporter);
	yaml_document_delete(&document);
}

static struct pgherd_config *config_with_defaults(struct load_context *context)
{
	struct pgherd_config *config = config_allocate(sizeof(*config));
	context->config = config;
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *row = &config_keys[i];
		if (row->kind != CONFIG_KEY_SUPPORTED)
			continue;
		/* Maps are never NULL, so users need no check. */
		if (row->type == CONFIG_TYPE_OBJECT && !(row->flags & CONFIG_KEY_TAG)) {
			json_t **field = (json_t **) ((char *) config + row->offset);
			*field = config_json_checked(json_object());
		}
		if (row->default_value != NULL)
			apply_default(context, row);
	}
	return config;
}

/* ---- reading the document ------------------------------------------------ */

/* Frames of the event-based syntax pass, which tracks the path of the key
 * being read so that errors can name it. */
struct key_frame {
	bool is_mapping;
	bool expecting_key;
	size_t index; /* sequences: the item being read */
	char *key;    /* mappings: the key whose value is being read */
};

struct key_tracker {
	struct key_frame *frames;
	size_t depth;
	char *last_key_path;
};

static void append_text(char **buffer, size_t *length, const char *text)
{
	size_t added = strlen(text);
	*buffer = config_reallocate(*buffer, *length + added + 1);
	memcpy(*buffer + *length, text, added + 1);
	*length += added;
}

static void remember_key_path(struct key_tracker *tracker)
{
	char *path = NULL;
	size_t length = 0;

	append_text(&path, &length, "");
	for (size_t i = 0; i < tracker->depth && length < KEY_PATH_LIMIT; i++) {
		const struct key_frame *frame = &tracker->frames[i];
		char index[32];
		if (!frame->is_mapping) {
			snprintf(index, sizeof(index), "[%zu]", frame->index);
			append_text(&path, &length, index);
		} else if (frame->key != NULL) {
			if (length > 0)
				append_text(&path, &length, ".");
			append_text(&path, &length, frame->key);
		}
	}
	free(tracker->last_key_path);
	tracker->last_key_path = path;
}

/* A value (scalar or collection) finished inside the top frame. */
static void finish_value(struct key_tracker *tracker)
{
	if (tracker->depth == 0)
		return;
	struct key_frame *top = &tracker->frames[tracker->depth - 1];
	if (top->is_mapping)
		top->expecting_key = !top->expecting_key;
	else
		top->index++;
}

static void push_frame(struct key_tracker *tracker, bool is_mapping)
{
	tracker->frames = config_reallocate(tracker->frames,
					    (tracker->depth + 1) * sizeof(tracker->frames[0]));
	tracker->frames[tracker->depth++] =
		(struct key_frame){ .is_mapping = is_mapping, .expecting_key = true };
}

static void pop_frame(struct key_tracker *tracker)
{
	if (tracker->depth == 0)
		return;
	free(tracker->frames[--tracker->depth].key);
	finish_value(tracker);
}

static void track_scalar(struct key_tracker *tracker, const yaml_event_t *event)
{
	struct key_frame *top = tracker->depth ? &tracker->frames[tracker->depth - 1] : NULL;

	if (top != NULL && top->is_mapping && top->expecting_key) {
		free(top->key);
		if (event->type == YAML_SCALAR_EVENT)
			top->key = config_printable((const char *) event->data.scalar.value,
						    event->data.scalar.length);
		else
			top->key = config_duplicate("*alias", 6);
		remember_key_path(tracker);
	}
	finish_value(tracker);
}

static void track_event(struct key_tracker *tracker, const yaml_event_t *event)
{
	switch (event->type) {
	case YAML_MAPPING_START_EVENT: push_frame(tracker, true); break;
	case YAML_SEQUENCE_START_EVENT: push_frame(tracker, false); break;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT: pop_frame(tracker); break;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT: track_scalar(tracker, event); break;
	default: break;
	}
}

static void key_tracker_free(struct key_tracker *tracker)
{
	while (tracker->depth > 0)
		free(tracker->frames[--tracker->depth].key);
	free(tracker->frames);
	free(tracker->last_key_path);
}

enum scan_outcome {
	SCAN_COMPLETE,
	SCAN_STOPPED,   /* reached stop_offset */
	SCAN_MALFORMED, /* libyaml's error is in the parser */
	SCAN_TOO_DEEP,
};

/* Feed parser's events to tracker until the stream ends, libyaml fails,
 * nesting passes NESTING_LIMIT, or an event starts at stop_offset or later.
 * *line is the line of the last event read. */
static enum scan_outcome scan_events(yaml_parser_t *parser, struct key_tracker *tracker,
				     size_t stop_offset, int *line)
{
	yaml_event_t event;

	for (;;) {
		if (!yaml_parser_parse(parser, &event))
			return SCAN_MALFORMED;
		if (event.start_mark.index >= stop_offset) {
			yaml_event_delete(&event);
			return SCAN_STOPPED;
		}
		bool complete = event.type == YAML_STREAM_END_EVENT;
		track_event(tracker, &event);
		*line = (int) event.start_mark.line + 1;
		yaml_event_delete(&event);
		if (tracker->depth > NESTING_LIMIT)
			return SCAN_TOO_DEEP;
		if (complete)
			return SCAN_COMPLETE;
	}
}

/* The dotted path of the last mapping key read before stop_offset, or NULL
 * when there is none.  malloc'd. */
static char *last_key_before(const char *text, size_t length, size_t stop_offset)
{
	struct key_tracker tracker = { 0 };
	yaml_parser_t parser;
	int line = 0;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, length);
	scan_events(&parser, &tracker, stop_offset, &line);
	yaml_parser_delete(&parser);
	char *path = tracker.last_key_path;
	tracker.last_key_path = NULL;
	key_tracker_free(&tracker);
	return path;
}

static int line_of_offset(const char *text, size_t length, size_t offset)
{
	int line = 1;
	for (size_t i = 0; i < offset && i < length; i++)
		line += text[i] == '\n';
	return line;
}

static char *after_key(const char *path)
{
	return path && *path ? config_format(" after key %s", path) : config_duplicate("", 0);
}

static void report_malformed(struct load_context *context, const yaml_parser_t *parser,
			     const char *text, size_t length)
{
	/* Reader errors (bad encoding) carry a byte offset, not a mark, and
	 * happen before the parser has seen anything: re-read only the text
	 * before the bad byte to find the last key. */
	bool reader_error = parser->error == YAML_READER_ERROR && parser->problem_offset <= length;
	int line = reader_error ? line_of_offset(text, length, parser->problem_offset)
				: (int) parser->problem_mark.line + 1;
	char *last_key = reader_error ? last_key_before(text, parser->problem_offset, SIZE_MAX)
				      : last_key_before(text, length, parser->problem_mark.index);
	char *after = after_key(last_key);
	char *while_doing = parser->context
				    ? config_format(" (%s on line %d)", parser->context,
						    (int) parser->context_mark.line + 1)
				    : config_duplicate("", 0);

	report_error(context, line, "", "malformed YAML%s: %s%s", after,
		     parser->problem ? parser->problem : "cannot be parsed", while_doing);
	free(last_key);
	free(after);
	free(while_doing);
}

/* The whole stream read as events before libyaml builds the tree: broken
 * YAML is reported with the last key read, and nesting is bounded. */
static bool check_syntax(struct load_context *context, const char *text, size_t length)
{
	struct key_tracker tracker = { 0 };
	yaml_parser_t parser;
	int line = 0;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, length);
	enum scan_outcome outcome = scan_events(&parser, &tracker, SIZE_MAX, &line);
	if (outcome == SCAN_MALFORMED) {
		report_malformed(context, &parser, text, length);
	} else if (outcome == SCAN_TOO_DEEP) {
		char *after = after_key(tracker.last_key_path);
		report_error(context, line, "", "nested more than %d levels deep%s", NESTING_LIMIT,
			     after);
		free(after);
	}
	yaml_parser_delete(&parser);
	key_tracker_free(&tracker);
	return outcome == SCAN_COMPLETE;
}

static const char *node_kind_name(const yaml_node_t *node)
{
	if (node->type == YAML_SEQUENCE_NODE)
		return "a list";
	return "a single value";
}

/* Loads the one document of text into context->document.  False (after
 * reporting) when there is nothing usable: broken YAML, no document, or a
 * top level that is not a mapping. */
static bool load_document(struct load_context *context, yaml_parser_t *parser, const char *text,
			  size_t length)
{
	static const char needed[] = "pgherd needs a YAML mapping with at least scope, name "
				     "and zookeeper.hosts";
	static const char no_settings[] = "the file holds no settings (only comments or blank "
					  "lines)";

	if (!yaml_parser_load(parser, &context->document)) {
		report_malformed(context, parser, text, length);
		return false;
	}
	yaml_node_t *root = yaml_document_get_root_node(&context->document);
	if (root == NULL || config_scalar_is_null(root)) {
		report_error(context, 1, "", "%s; %s",
			     length == 0 ? "the file is empty" : no_settings, needed);
	} else if (root->type != YAML_MAPPING_NODE) {
		report_error(context, node_line(root), "", "the top level is %s; %s",
			     node_kind_name(root), needed);
	} else {
		context->have_document = true;
		return true;
	}
	yaml_document_delete(&context->document);
	return false;
}

/* Patroni refuses a second document too; silently reading only the first
 * would hide half of what the operator wrote. */
static void check_single_document(struct load_context *context, yaml_parser_t *parser,
				  const char *text, size_t length)
{
	yaml_document_t extra;

	if (!yaml_parser_load(parser, &extra)) {
		report_malformed(context, parser, text, length);
		return;
	}
	yaml_node_t *root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		report_error(context, node_line(root), "",
			     "a second YAML document starts here; pgherd reads exactly one");
	yaml_document_delete(&extra);
}

static bool parse_document(struct load_context *context, const char *text, size_t length)
{
	yaml_parser_t parser;

	if (!check_syntax(context, text, length))
		return false;
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *) text, length);
	bool usable = load_document(context, &parser, text, length);
	if (usable)
		check_single_document(context, &parser, text, length);
	yaml_parser_delete(&parser);
	return usable;
}

/* ---- checking the keys of the file ---------------------------------------- */

static yaml_node_t *document_node(struct load_context *context, int id)
{
	return yaml_document_get_node(&context->document, id);
}

static char *join_path(const char *parent, const char *key)
{
	return *parent ? config_format("%s.%s", parent, key) : config_duplicate(key, strlen(key));
}

static void check_mapping_keys(struct load_context *context, yaml_node_t *mapping,
			       const char *parent_path);

/* A key that is a section pgherd reads: its value must be a mapping (or
 * empty), and its own keys are checked in turn. */
static void check_section(struct load_context *context, const char *path, yaml_node_t *value)
{
	if (value->type == YAML_MAPPING_NODE) {
		check_mapping_keys(context, value, path);
	} else if (!config_scalar_is_null(value)) {
		char *got = config_describe_node(value);
		report_error(context, node_line(value), path, "expected a mapping, got %s", got);
		free(got);
	}
}

static void warn_unsupported(struct load_context *context, const struct config_key *row,
			     int line, const char *path)
{
	if (row->description != NULL)
		report_warning(context, line, path, "not supported by pgherd yet; ignored (%s)",
			       row->description);
	else
		report_warning(context, line, path, "not supported by pgherd yet; ignored");
}

static yaml_node_t *find_node(struct load_context *context, const char *path);

/* postgresql.<name> named in create_replica_methods, or bootstrap.<name>
 * named by bootstrap.method: a method's own section, read whole later. */
static bool is_method_section(struct load_context *context, const char *path,
			      const char *key_name)
{
	yaml_node_t *list, *method;

	if (strncmp(path, "postgresql.", 11) == 0 && strcmp(path + 11, key_name) == 0 &&
	    (list = find_node(context, "postgresql.create_replica_methods")) != NULL &&
	    list->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *item = list->data.sequence.items.start;
		     item < list->data.sequence.items.top; item++) {
			yaml_node_t *name = document_node(context, *item);
			if (name && name->type == YAML_SCALAR_NODE &&
			    strcmp((const char *) name->data.scalar.value, key_name) == 0 &&
			    strcmp(key_name, "basebackup") != 0)
				return true;
		}
	}
	return strncmp(path, "bootstrap.", 10) == 0 && strcmp(path + 10, key_name) == 0 &&
	       (method = find_node(context, "bootstrap.method")) != NULL &&
	       method->type == YAML_SCALAR_NODE &&
	       strcmp((const char *) method->data.scalar.value, key_name) == 0 &&
	       strcmp(key_name, "initdb") != 0;
}

static void check_key(struct load_context *context, const char *path, const char *key_name,
		      bool plain_name, yaml_node_t *key, yaml_node_t *value)
{
	const struct config_key *row = plain_name ? config_key_find(path) : NULL;

	if (row == NULL && plain_name && is_method_section(context, path, key_name))
		return;
	if (row != NULL && row->kind == CONFIG_KEY_PATRONI_UNSUPPORTED)
		warn_unsupported(context, row, node_line(key), path);
	else if (strcmp(key_name, "<<") == 0)
		/* PyYAML merges these; libyaml leaves them to the application. */
		report_warning(context, node_line(key), path,
			       "YAML merge keys are not supported; the merged keys are ignored");
	else if (row == NULL && plain_name && config_key_is_section(path))
		check_section(context, path, value);
	else if (row == NULL)
		report_warning(context, node_line(key), path, "unknown key; ignored");
}

/* Warn about duplicate keys: YAML forbids them, PyYAML keeps the last one,
 * and so does apply_file_values(). */
static void check_duplicate(struct load_context *context, json_t *seen, const char *path,
			    const yaml_node_t *key)
{
	const char *name = (const char *) key->data.scalar.value;
	size_t length = key->data.scalar.length;

	if (json_object_getn(seen, name, length) != NULL)
		report_warning(context, node_line(key), path,
			       "duplicate key; the last value is used");
	else
		json_object_setn_new(seen, name, length, json_true());
}

static void check_mapping_keys(struct load_context *context, yaml_node_t *mapping,
			       const char *parent_path)
{
	json_t *seen = config_json_checked(json_object());

	for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
	     pair < mapping->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = document_node(context, pair->key);
		yaml_node_t *value = document_node(context, pair->value);
		if (key->type != YAML_SCALAR_NODE) {
			report_warning(context, node_line(key), parent_path,
				       "a key that is not a string; ignored");
			continue;
		}
		const char *raw = (const char *) key->data.scalar.value;
		/* A dot or NUL inside one key would make its dotted path lie. */
		bool plain_name =
			strlen(raw) == key->data.scalar.length && strchr(raw, '.') == NULL;
		char *name = config_printable(raw, key->data.scalar.length);
		char *path = join_path(parent_path, name);
		check_duplicate(context, seen, path, key);
		check_key(context, path, name, plain_name, key, value);
		free(path);
		free(name);
	}
	json_decref(seen);
}

/* ---- applying values ----------------------------------------------------- */

/* The value at a dotted path; the last one when a key repeats.  NULL when
 * absent or when a parent is not a mapping (check_section reports that). */
static yaml_node_t *find_node(struct load_context *context, const char *path)
{
	yaml_node_t *node = yaml_document_get_root_node(&context->document);

	while (node != NULL) {
		const char *dot = strchr(path, '.');
		size_t length = dot ? (size_t) (dot - path) : strlen(path);
		yaml_node_t *found = NULL;
		if (node->type != YAML_MAPPING_NODE)
			return NULL;
		for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
		     pair < node->data.mapping.pairs.top; pair++) {
			yaml_node_t *key = document_node(context, pair->key);
			if (key->type == YAML_SCALAR_NODE && key->data.scalar.length == length &&
			    memcmp(key->data.scalar.value, path, length) == 0)
				found = document_node(context, pair->value);
		}
		if (dot == NULL)
			return found;
		node = found;
		path = dot + 1;
	}
	return NULL;
}

static void apply_file_values(struct load_context *context)
{
	struct config_source source = {
		.document = &context->document,
		.origin = context->file_name,
		.has_lines = true,
	};

	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *row = &config_keys[i];
		if (row->kind != CONFIG_KEY_SUPPORTED)
			continue;
		source.node = find_node(context, row->path);
		if (source.node == NULL)
			continue;
		context->provided[i] = true;
		config_value_apply(row, &source, context->config, &context->reporter);
	}
}

/* ---- the environment ------------------------------------------------------ */

/* The value of NAME in a "NAME=VALUE" array; NULL when unset or empty, as
 * Patroni ignores empty variables. */
static const char *environment_value(char *const *env, const char *name)
{
	size_t length = strlen(name);

	for (; env != NULL && *env != NULL; env++) {
		if (strncmp(*env, name, length) == 0 && (*env)[length] == '=')
			return (*env)[length + 1] ? *env + length + 1 : NULL;
	}
	return NULL;
}

/*
 * Patroni reads PATRONI_ZOOKEEPER_HOSTS as YAML, wrapping it in [] unless
 * it already is a list: so 'h1:2181','h2:2181' (its documented form),
 * h1:2181,h2:2181 and [h1:2181, h2:2181] all work.  We do the same.
 */
static char *host_list_as_yaml(const char *value)
{
	const char *start = value + strspn(value, " \t");
	if (*start == '-' || strchr(value, '[') != NULL)
		return config_duplicate(value, strlen(value));
	return config_format("[%s]", value);
}

static void apply_environment_hosts(struct load_context *context, const struct config_key *row,
				    const char *variable, const char *value)
{
	char *yaml = host_list_as_yaml(value);
	yaml_parser_t parser;
	yaml_document_t document;
	struct config_source source = { .document = &document, .origin = variable };

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *) yaml, strlen(yaml));
	if (!yaml_parser_load(&parser, &document)) {
		config_report(&context->reporter, CONFIG_ERROR, variable, 0, row->path,
			      "expected host:port entries separated by commas or a YAML list: %s",
			      parser.problem ? parser.problem : "cannot be parsed");
	} else {
		source.node = yaml_document_get_root_node(&document);
		if (source.node == NULL)
			config_report(&context->reporter, CONFIG_ERROR, variable, 0, row->path,
				      "expected at least one host:port");
		else
			config_value_apply(row, &source, context->config, &context->reporter);
		yaml_document_delete(&document);
	}
	yaml_parser_delete(&parser);
	free(yaml);
}

static void apply_environment_value(struct load_context *context, const struct config_key *row,
				    const char *variable, const char *value)
{
	yaml_document_t document;
	struct config_source source = { .document = &document, .origin = variable };

	if (row->type == CONFIG_TYPE_ADDRESS_LIST) {
		apply_environment_hosts(context, row, variable, value);
		return;
	}
	if (!scalar_document_create(&document, value, &source.node)) {
		config_report(&context->reporter, CONFIG_ERROR, variable, 0, row->path,
			      "is not valid UTF-8");
		return;
	}
	config_value_apply(row, &source, context->config, &context->reporter);
	yaml_document_delete(&document);
}

static void apply_environment(struct load_context *context, char *const *env)
{
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *row = &config_keys[i];
		char pgherd_name[96], patroni_name[96];
		if (row->environment == NULL)
			continue;
		snprintf(pgherd_name, sizeof(pgherd_name), "PGHERD_%s", row->environment);
		snprintf(patroni_name, sizeof(patroni_name), "PATRONI_%s", row->environment);
		const char *variable = pgherd_name;
		const char *value = environment_value(env, pgherd_name);
		if (value == NULL && !(row->flags & CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY)) {
			variable = patroni_name;
			value = environment_value(env, patroni_name);
		}
		if (value == NULL)
			continue;
		context->provided[i] = true;
		apply_environment_value(context, row, variable, value);
	}
}

/* ---- after all sources ---------------------------------------------------- */

static void check_required_keys(struct load_context *context)
{
	for (size_t i = 0; i < config_key_count; i++) {
		const struct config_key *row = &config_keys[i];
		if (!(row->flags & CONFIG_KEY_REQUIRED) || context->provided[i])
			continue;
		report_error(context, context->have_document ? 1 : 0, row->path,
			     "required key is missing; set it in the file or with PGHERD_%s "
			     "(or PATRONI_%s)",
			     row->environment, row->environment);
	}
}

/* "service", "/service/" and "//service" all become "/service"; "/" becomes
 * "" (the ZooKeeper root), so namespace + "/" + scope is always a path. */
static char *normalised_namespace(const char *namespace)
{
	/* Each component gains at most the one '/' that precedes it. */
	char *out = config_allocate(strlen(namespace) + 2);
	size_t length = 0;

	for (const char *p = namespace; *p != '\0';) {
		if (*p == '/') {
			p++;
			continue;
		}
		out[length++] = '/';
		while (*p != '\0' && *p != '/')
			out[length++] = *p++;
	}
	out[length] = '\0';
	return out;
}

static char *join_hosts(char **hosts, size_t count)
{
	char *joined = NULL;
	size_t length = 0;

	append_text(&joined, &length, "");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			append_text(&joined, &length, ",");
		append_text(&joined, &length, hosts[i]);
	}
	return joined;
}

/* Where to point a timing warning: the first of the three keys the file
 * sets, so the operator lands on a line they wrote. */
static void report_timing_rule(struct load_context *context)
{
	static const char *const paths[] = { "bootstrap.dcs.ttl", "bootstrap.dcs.loop_wait",
					      "bootstrap.dcs.retry_timeout" };
	const struct pgherd_config *config = context->config;
	const char *key = paths[0];
	int line = 0;

	for (size_t i = 0; i < 3 && context->have_document && line == 0; i++) {
		yaml_node_t *node = find_node(context, paths[i]);
		if (node != NULL) {
			key = paths[i];
			line = node_line(node);
		}
	}
	report_warning(context, line, key,
		       "loop_wait + 2 * retry_timeout = %d + 2 * %d = %lld exceeds ttl %d; "
		       "Patroni requires loop_wait + 2 * retry_timeout <= ttl (pgherd does not "
		       "depend on it)",
		       config->dcs.loop_wait, config->dcs.retry_timeout,
		       (long long) config->dcs.loop_wait + 2LL * config->dcs.retry_timeout,
		       config->dcs.ttl);
}

static void finish_config(struct load_context *context)
{
	struct pgherd_config *config = context->config;

	if (config->restapi.connect_address == NULL && config->restapi.listen != NULL)
		config->restapi.connect_address =
			config_duplicate(config->restapi.listen, strlen(config->restapi.listen));
	char *namespace = normalised_namespace(config->namespace);
	free(config->namespace);
	config->namespace = namespace;
	config->zookeeper.connect_string =
		join_hosts(config->zookeeper.hosts, config->zookeeper.n_hosts);
	if ((long long) config->dcs.loop_wait + 2LL * config->dcs.retry_timeout > config->dcs.ttl)
		report_timing_rule(context);
}

/* A method's section as an object with a string `command`, or NULL with
 * an error reported. */
static json_t *method_section(struct load_context *context, const char *path)
{
	yaml_node_t *node = context->have_document ? find_node(context, path) : NULL;
	const char *problem = NULL;
	json_t *section;

	if (node == NULL) {
		report_error(context, 0, path, "the method is named but its section is missing");
		return NULL;
	}
	section = config_node_to_object(&context->document, node, &problem);
	if (section == NULL) {
		report_error(context, node_line(node), path, "%s", problem);
		return NULL;
	}
	if (!json_is_string(json_object_get(section, "command")) ||
	    json_string_length(json_object_get(section, "command")) == 0) {
		report_error(context, node_line(node), path, "needs a `command` (a string)");
		json_decref(section);
		return NULL;
	}
	return section;
}

/* Custom replica and bootstrap methods (reference 6.3, 6.4). */
static void collect_methods(struct load_context *context)
{
	struct pgherd_config *config = context->config;

	config->postgresql.replica_methods = config_json_checked(json_object());
	for (size_t i = 0; i < config->postgresql.n_create_replica_methods; i++) {
		const char *name = config->postgresql.create_replica_methods[i];
		char *path;
		json_t *section;
		if (strcmp(name, "basebackup") == 0)
			continue;
		path = config_format("postgresql.%s", name);
		if ((section = method_section(context, path)) != NULL)
			json_object_set_new(config->postgresql.replica_methods, name, section);
		free(path);
	}
	if (config->bootstrap.method && strcmp(config->bootstrap.method, "initdb") != 0) {
		char *path = config_format("bootstrap.%s", config->bootstrap.method);
		config->bootstrap.method_section = method_section(context, path);
		free(path);
	}
}

/* ---- loading ------------------------------------------------------------- */

/* text NULL: no file at all (environment only), unlike an empty file. */
static bool load(const char *text, size_t length, const char *file_name, char *const *env,
		 struct pgherd_config **out, struct config_diagnostics *diags)
{
	struct load_context context = {
		.reporter = { .diags = diags, .first = diags->count },
		.file_name = file_name ? file_name : NO_FILE_NAME,
		.provided = config_allocate(config_key_count * sizeof(bool)),
	};
	bool document_usable = true;

	config_with_defaults(&context);
	if (text != NULL)
		document_usable = parse_document(&context, text, length);
	if (context.have_document) {
		check_mapping_keys(&context, yaml_document_get_root_node(&context.document), "");
		apply_file_values(&context);
	}
	apply_environment(&context, env);
	/* A broken file already failed; "scope is missing" would only be noise. */
	if (document_usable)
		check_required_keys(&context);
	finish_config(&context);
	collect_methods(&context);
	if (context.reporter.unlisted > 0)
		append_diagnostic(diags, CONFIG_WARNING, context.file_name, 0, "",
				  config_format("%zu more problems not listed",
						context.reporter.unlisted));
	sort_diagnostics(diags, context.reporter.first);

	if (context.have_document)
		yaml_document_delete(&context.document);
	free(context.provided);
	*out = NULL;
	if (context.reporter.errors > 0) {
		config_free(context.config);
		return false;
	}
	*out = context.config;
	return true;
}

bool config_load_string(const char *text, size_t len, const char *file_name, char *const *env,
			struct pgherd_config **out, struct config_diagnostics *diags)
{
	return load(text ? text : "", text ? len : 0, file_name ? file_name : "<string>", env, out,
		    diags);
}

static void report_unreadable(struct config_diagnostics *diags, const char *path,
			      const char *reason)
{
	struct config_reporter reporter = { .diags = diags, .first = diags->count };
	config_report(&reporter, CONFIG_ERROR, path, 0, "", "cannot read the file: %s", reason);
}

/* The whole file in memory, or NULL after reporting why not. */
static char *read_file(const char *path, size_t *length, struct config_diagnostics *diags)
{
	FILE *file = fopen(path, "rb");
	char *text = NULL;
	size_t used = 0;

	if (file == NULL) {
		report_unreadable(diags, path, strerror(errno));
		return NULL;
	}
	for (;;) {
		text = config_reallocate(text, used + READ_CHUNK + 1);
		size_t got = fread(text + used, 1, READ_CHUNK, file);
		used += got;
		if (got < READ_CHUNK || used > CONFIG_FILE_SIZE_LIMIT)
			break;
	}
	const char *problem = ferror(file) ? strerror(errno)
			      : used > CONFIG_FILE_SIZE_LIMIT ? "larger than 16 MiB"
							      : NULL;
	fclose(file);
	if (problem != NULL) {
		report_unreadable(diags, path, problem);
		free(text);
		return NULL;
	}
	text[used] = '\0';
	*length = used;
	return text;
}

bool config_load_file(const char *path, char *const *env, struct pgherd_config **out,
		      struct config_diagnostics *diags)
{
	size_t length = 0;

	if (path == NULL)
		return load(NULL, 0, NULL, env, out, diags);
	char *text = read_file(path, &length, diags);
	if (text == NULL) {
		*out = NULL;
		return false;
	}
	bool loaded = load(text, length, path, env, out, diags);
	free(text);
	return loaded;
}

int config_session_timeout_ms(const struct pgherd_config *config)
{
	return config_session_timeout_for_ttl_ms(config, config->dcs.ttl);
}

int config_session_timeout_for_ttl_ms(const struct pgherd_config *config, long long ttl)
{
	long long milliseconds;

	/* Validation keeps session_timeout within a day, so this fits. */
	if (config->zookeeper.session_timeout > 0)
		milliseconds = (long long) (config->zookeeper.session_timeout * 1000.0 + 0.5);
	else if (ttl > 0 && ttl < INT_MAX)
		milliseconds = ttl * 1000 / 3;
	else
		milliseconds = (long long) config->dcs.ttl * 1000 / 3;
	if (milliseconds < 1000)
		return 1000;
	if (milliseconds > INT_MAX)
		return INT_MAX;
	return (int) milliseconds;
}

char *config_dynamic_configuration(const struct pgherd_config *c)
{
	json_t *synchronous_mode = c->dcs.synchronous_mode == SYNCHRONOUS_MODE_QUORUM
					   ? json_string("quorum")
					   : json_boolean(c->dcs.synchronous_mode != SYNCHRONOUS_MODE_OFF);
	/* As Patroni writes it: booleans as booleans, numbers as numbers.
	 * "o" takes synchronous_mode's reference, even when packing fails. */
	json_t *dynamic = json_pack(
		"{s:i, s:i, s:i, s:I, s:i, s:o, s:b, s:i, s:b, s:{s:b, s:b, s:O}}", "ttl", c->dcs.ttl,
		"loop_wait", c->dcs.loop_wait, "retry_timeout", c->dcs.retry_timeout,
		"maximum_lag_on_failover", (json_int_t) c->dcs.maximum_lag_on_failover,
		"primary_start_timeout", c->dcs.primary_start_timeout, "synchronous_mode",
		synchronous_mode, "synchronous_mode_strict", c->dcs.synchronous_mode_strict,
		"synchronous_node_count", c->dcs.synchronous_node_count, "pause", c->dcs.pause,
		"postgresql", "use_pg_rewind", c->dcs.use_pg_rewind, "use_slots", c->dcs.use_slots,
		"parameters", c->dcs.parameters);
	char *text = dynamic ? json_dumps(dynamic, JSON_COMPACT) : NULL;

	json_decref(dynamic);
	return text;
}
