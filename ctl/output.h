/*
 * Rows in the formats patronictl offers (its print_output()): a framed
 * table (pretty, topology), tab-separated values, JSON or YAML.  Rows hold
 * JSON values so that JSON and YAML keep their types (TL is a number, Tags
 * an object) while the text formats print them as Python's str() would.
 * Pure: no I/O.
 */
#ifndef PGHERD_CTL_OUTPUT_H
#define PGHERD_CTL_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum output_format {
	OUTPUT_PRETTY = 0,
	OUTPUT_TSV,
	OUTPUT_JSON,
	OUTPUT_YAML,
	OUTPUT_TOPOLOGY, /* pretty, rows already in tree order */
};

/* "pretty", "tsv", "json", "yaml" or "yml" (topology is a command, not a
 * format).  False for anything else. */
bool output_format_parse(const char *name, enum output_format *out);

struct output_spec {
	const char *const *columns;
	size_t n_columns;
	const char *const *right_aligned; /* column names, NULL-terminated */
	/* NULL for none.  With a title, JSON and YAML leave out empty-string
	 * cells, and a first column "Cluster" is left out of the framed
	 * table (the title names the cluster). */
	const char *title;
};

/*
 * rows: a JSON array of arrays, one value per column ("" for an empty
 * cell).  Text formats print a "Tags" object as YAML (block style in the
 * pretty table, flow style in topology and tsv, as patronictl) and a
 * "Pending restart reason" object as "name: old->new" lines.  malloc'd,
 * ending with a newline.
 */
char *output_render(const struct output_spec *spec, const json_t *rows,
		    enum output_format format);

/* One JSON value as its table cell text (Python's str(), Tags as YAML). */
char *output_cell_text(const char *column, const json_t *value, bool flow);

#endif /* PGHERD_CTL_OUTPUT_H */
