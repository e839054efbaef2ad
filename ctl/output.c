/*
 * patronictl's print_output(); see output.h.
 */
#include "ctl/output.h"

#include <stdlib.h>
#include <string.h>

#include "ctl/table.h"
#include "ctl/util.h"
#include "ctl/yaml_json.h"

bool output_format_parse(const char *name, enum output_format *out)
{
	static const struct {
		const char *name;
		enum output_format format;
	} formats[] = {
		{ "pretty", OUTPUT_PRETTY }, { "tsv", OUTPUT_TSV }, { "json", OUTPUT_JSON },
		{ "yaml", OUTPUT_YAML },     { "yml", OUTPUT_YAML },
	};

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(name, formats[i].name) == 0) {
			*out = formats[i].format;
			return true;
		}
	return false;
}

/* YAML without its final newline, as patronictl's .strip(). */
static char *yaml_cell(const json_t *value, bool flow)
{
	char *text = json_to_yaml(value, flow);
	size_t len = strlen(text);

	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		text[--len] = '\0';
	return text;
}

static char *pending_reason_text(const json_t *reasons, bool one_line)
{
	struct sb out = { 0 };
	const char *name;
	json_t *change;

	json_object_foreach((json_t *) reasons, name, change) {
		char *old_value = output_cell_text("", json_object_get(change, "old_value"), true);
		char *new_value = output_cell_text("", json_object_get(change, "new_value"), true);

		if (out.len > 0)
			sb_append(&out, one_line ? ", " : "\n");
		sb_printf(&out, "%s: %s->%s", name, old_value, new_value);
		free(old_value);
		free(new_value);
	}
	return sb_steal(&out);
}

char *output_cell_text(const char *column, const json_t *value, bool flow)
{
	char number[64];

	if (value == NULL)
		return xstrdup("");
	if (json_is_object(value) && strcmp(column, "Tags") == 0)
		return json_object_size(value) ? yaml_cell(value, flow) : xstrdup("");
	if (json_is_object(value) && strcmp(column, "Pending restart reason") == 0)
		return pending_reason_text(value, flow);
	switch (json_typeof(value)) {
	case JSON_STRING:
		/* Written by others: no control characters reach the terminal
		 * (and a newline would make a row of two). */
		return printable_copy(json_string_value(value));
	case JSON_INTEGER:
		return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(value));
	case JSON_REAL:
		yaml_float_repr(json_real_value(value), number, sizeof(number));
		return xstrdup(number);
	case JSON_TRUE:
		return xstrdup("True");
	case JSON_FALSE:
		return xstrdup("False");
	case JSON_NULL:
		return xstrdup("None");
	default:
		return yaml_cell(value, true);
	}
}

static bool is_right_aligned(const struct output_spec *spec, const char *column)
{
	for (size_t i = 0; spec->right_aligned != NULL && spec->right_aligned[i] != NULL; i++)
		if (strcmp(spec->right_aligned[i], column) == 0)
			return true;
	return false;
}

static char *render_structured(const struct output_spec *spec, const json_t *rows,
			       enum output_format format)
{
	json_t *elements = xjson(json_array());
	size_t index;
	json_t *row;
	char *text;

	json_array_foreach(rows, index, row) {
		json_t *element = xjson(json_object());

		for (size_t i = 0; i < spec->n_columns; i++) {
			json_t *value = json_array_get(row, i);

			if (value == NULL)
				continue;
			/* patronictl: {k: v ... if not header or str(v)} */
			if (spec->title != NULL && json_is_string(value) &&
			    json_string_length(value) == 0)
				continue;
			if (json_object_set(element, spec->columns[i], value) != 0)
				xjson(NULL);
		}
		if (json_array_append_new(elements, element) != 0)
			xjson(NULL);
	}
	if (format == OUTPUT_JSON) {
		char *dumped = json_dumps(elements, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

		text = xasprintf("%s\n", dumped ? dumped : "[]");
		free(dumped);
	} else {
		char *yaml = json_to_yaml(elements, false);

		/* click.echo() adds a newline to YAML that ends in one. */
		text = xasprintf("%s\n", yaml);
		free(yaml);
	}
	json_decref(elements);
	return text;
}

char *output_render(const struct output_spec *spec, const json_t *rows,
		    enum output_format format)
{
	if (format == OUTPUT_JSON || format == OUTPUT_YAML)
		return render_structured(spec, rows, format);

	bool drop_cluster = format != OUTPUT_TSV && spec->title != NULL && spec->n_columns > 0 &&
			    strcmp(spec->columns[0], "Cluster") == 0;
	size_t first = drop_cluster ? 1 : 0;
	size_t n_columns = spec->n_columns - first;
	const char **cells = xcalloc(n_columns, sizeof(char *));
	struct table table;
	size_t index;
	json_t *row;
	char *text;

	table_init(&table, spec->columns + first, n_columns);
	for (size_t i = first; i < spec->n_columns; i++)
		if (is_right_aligned(spec, spec->columns[i]))
			table_align(&table, spec->columns[i], TABLE_RIGHT);
	json_array_foreach(rows, index, row) {
		/* patronictl: Tags in block style for pretty only (its
		 * `fmt != 'pretty'`), so topology shows them on one line. */
		for (size_t i = 0; i < n_columns; i++)
			cells[i] = output_cell_text(spec->columns[first + i],
						    json_array_get(row, first + i),
						    format != OUTPUT_PRETTY);
		table_add_row(&table, cells);
		for (size_t i = 0; i < n_columns; i++)
			free((char *) cells[i]);
	}
	if (format == OUTPUT_TSV)
		text = table_render_delimited(&table, "\t");
	else
		text = table_render(&table, spec->title);
	table_free(&table);
	free(cells);
	return text;
}
