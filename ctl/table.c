/*
 * prettytable's layout, as patronictl uses it; see table.h.
 */
#include "ctl/table.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/util.h"

void table_init(struct table *table, const char *const *headers, size_t n_columns)
{
	memset(table, 0, sizeof(*table));
	table->n_columns = n_columns;
	table->headers = xcalloc(n_columns, sizeof(char *));
	table->align = xcalloc(n_columns, sizeof(enum table_align));
	for (size_t i = 0; i < n_columns; i++)
		table->headers[i] = xstrdup(headers[i]);
}

void table_align(struct table *table, const char *header, enum table_align align)
{
	for (size_t i = 0; i < table->n_columns; i++)
		if (strcmp(table->headers[i], header) == 0)
			table->align[i] = align;
}

void table_add_row(struct table *table, const char *const *cells)
{
	size_t first = table->n_rows * table->n_columns;

	table->cells = xrealloc(table->cells,
				(table->n_rows + 1) * table->n_columns * sizeof(char *));
	for (size_t i = 0; i < table->n_columns; i++)
		table->cells[first + i] = xstrdup(cells[i] ? cells[i] : "");
	table->n_rows++;
}

void table_free(struct table *table)
{
	for (size_t i = 0; i < table->n_columns; i++)
		free(table->headers[i]);
	for (size_t i = 0; i < table->n_rows * table->n_columns; i++)
		free(table->cells[i]);
	free(table->headers);
	free(table->align);
	free(table->cells);
	memset(table, 0, sizeof(*table));
}

static const char *cell(const struct table *table, size_t row, size_t column)
{
	return table->cells[row * table->n_columns + column];
}

/* Line number `line` (0-based) of a multi-line cell: start and length, or
 * false when the cell has fewer lines. */
static bool cell_line(const char *text, size_t line, const char **start, size_t *len)
{
	const char *p = text;

	for (size_t i = 0; i < line; i++) {
		p = strchr(p, '\n');
		if (p == NULL)
			return false;
		p++;
	}
	const char *end = strchr(p, '\n');
	*start = p;
	*len = end ? (size_t) (end - p) : strlen(p);
	return true;
}

static size_t line_count(const char *text)
{
	size_t lines = 1;

	for (const char *p = text; *p != '\0'; p++)
		if (*p == '\n')
			lines++;
	return lines;
}

static size_t widest_line(const char *text)
{
	size_t widest = 0;
	size_t lines = line_count(text);

	for (size_t i = 0; i < lines; i++) {
		const char *start;
		size_t len;

		if (cell_line(text, i, &start, &len) && utf8_width(start, len) > widest)
			widest = utf8_width(start, len);
	}
	return widest;
}

static void rule(struct sb *out, const size_t *widths, size_t n_columns)
{
	sb_append_char(out, '+');
	for (size_t i = 0; i < n_columns; i++) {
		sb_repeat(out, '-', widths[i] + 2);
		sb_append_char(out, '+');
	}
	sb_append_char(out, '\n');
}

/* patronictl's PatronictlPrettyTable.__build_header: the title overwrites
 * the rule from its second character on, cut so that the last '+' stays
 * (Python slices characters; the rule is ASCII). */
static void title_rule(struct sb *out, const size_t *widths, size_t n_columns, const char *title)
{
	struct sb plain = { 0 };
	size_t rule_len;
	size_t title_bytes = 0;
	size_t title_chars = 0;

	rule(&plain, widths, n_columns);
	rule_len = plain.len - 1; /* without the newline */
	while (title[title_bytes] != '\0') {
		size_t next = title_bytes + 1;

		while (((unsigned char) title[next] & 0xC0) == 0x80)
			next++;
		if (title_chars + 1 > rule_len - 2)
			break;
		title_bytes = next;
		title_chars++;
	}
	sb_append_char(out, '+');
	sb_append_n(out, title, title_bytes);
	sb_append_n(out, plain.buf + 1 + title_chars, rule_len - 1 - title_chars);
	sb_append_char(out, '\n');
	sb_free(&plain);
}

static void text_row(struct sb *out, const struct table *table, const size_t *widths,
		     const char *const *texts)
{
	size_t height = 1;

	for (size_t i = 0; i < table->n_columns; i++)
		if (line_count(texts[i]) > height)
			height = line_count(texts[i]);
	for (size_t line = 0; line < height; line++) {
		sb_append_char(out, '|');
		for (size_t i = 0; i < table->n_columns; i++) {
			const char *start = "";
			size_t len = 0;

			(void) cell_line(texts[i], line, &start, &len);
			size_t pad = widths[i] - utf8_width(start, len);
			sb_append_char(out, ' ');
			if (table->align[i] == TABLE_RIGHT)
				sb_repeat(out, ' ', pad);
			sb_append_n(out, start, len);
			if (table->align[i] == TABLE_LEFT)
				sb_repeat(out, ' ', pad);
			sb_append(out, " |");
		}
		sb_append_char(out, '\n');
	}
}

char *table_render(const struct table *table, const char *title)
{
	struct sb out = { 0 };
	size_t *widths = xcalloc(table->n_columns, sizeof(size_t));
	bool multi_line = false;

	for (size_t i = 0; i < table->n_columns; i++)
		widths[i] = widest_line(table->headers[i]);
	for (size_t r = 0; r < table->n_rows; r++)
		for (size_t i = 0; i < table->n_columns; i++) {
			size_t width = widest_line(cell(table, r, i));

			if (width > widths[i])
				widths[i] = width;
			if (strchr(cell(table, r, i), '\n') != NULL)
				multi_line = true;
		}

	if (title != NULL && title[0] != '\0')
		title_rule(&out, widths, table->n_columns, title);
	else
		rule(&out, widths, table->n_columns);
	text_row(&out, table, widths, (const char *const *) table->headers);
	rule(&out, widths, table->n_columns);
	for (size_t r = 0; r < table->n_rows; r++) {
		text_row(&out, table, widths,
			 (const char *const *) &table->cells[r * table->n_columns]);
		/* prettytable's hrules=ALL when some cell spans lines, so that
		 * the rows stay apart; FRAME otherwise. */
		if (multi_line && r + 1 < table->n_rows)
			rule(&out, widths, table->n_columns);
	}
	rule(&out, widths, table->n_columns);
	free(widths);
	return sb_steal(&out);
}

char *table_render_delimited(const struct table *table, const char *delimiter)
{
	struct sb out = { 0 };

	for (size_t r = 0; r <= table->n_rows; r++) {
		for (size_t i = 0; i < table->n_columns; i++) {
			if (i > 0)
				sb_append(&out, delimiter);
			sb_append(&out, r == 0 ? table->headers[i] : cell(table, r - 1, i));
		}
		sb_append_char(&out, '\n');
	}
	return sb_steal(&out);
}
