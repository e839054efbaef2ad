/*
 * patronictl's history command output; see history.h.
 */
#include "ctl/history.h"

#include "ctl/util.h"

static void append(json_t *row, json_t *value)
{
	if (json_array_append_new(row, value) != 0)
		xjson(NULL);
}

char *history_render(const struct znode_history *history, enum output_format format)
{
	static const char *const columns[] = { "TL", "LSN", "Reason", "Timestamp", "New Leader" };
	static const char *const right[] = { "TL", "LSN", NULL };
	const struct output_spec spec = {
		.columns = columns,
		.n_columns = 5,
		.right_aligned = right,
		.title = NULL,
	};
	json_t *rows = xjson(json_array());
	char *text;

	for (size_t i = 0; i < history->n_lines; i++) {
		const struct znode_history_line *line = &history->lines[i];
		json_t *row = xjson(json_array());

		append(row, xjson(json_integer(line->timeline)));
		append(row, xjson(json_integer(line->lsn)));
		append(row, xjson(json_string(line->reason ? line->reason : "")));
		append(row, xjson(json_string(line->timestamp ? line->timestamp : "")));
		append(row, xjson(json_string(line->new_leader ? line->new_leader : "")));
		append(rows, row);
	}
	text = output_render(&spec, rows, format == OUTPUT_TOPOLOGY ? OUTPUT_PRETTY : format);
	json_decref(rows);
	return text;
}
