/*
 * Text tables as patronictl prints them (Python's prettytable with
 * patronictl's title): a frame of '+', '-' and '|', one space of padding,
 * cells left- or right-aligned, headers aligned like their column, cells
 * that hold several lines spread over several lines, and then a rule
 * between every row.  Pure: no I/O.
 *
 *   + Cluster: batman (7277694203142172922) -+-----------+----+-----------+
 *   | Member      | Host           | Role    | State     | TL | Lag in MB |
 *   +-------------+----------------+---------+-----------+----+-----------+
 *   | postgresql0 | 127.0.0.1:5432 | Leader  | running   |  3 |           |
 *   +-------------+----------------+---------+-----------+----+-----------+
 */
#ifndef PGHERD_CTL_TABLE_H
#define PGHERD_CTL_TABLE_H

#include <stddef.h>

enum table_align {
	TABLE_LEFT = 0,
	TABLE_RIGHT,
};

struct table {
	size_t n_columns;
	char **headers;
	enum table_align *align;
	char **cells; /* n_rows * n_columns, row-major, owned */
	size_t n_rows;
};

/* Columns are left-aligned until table_align() says otherwise. */
void table_init(struct table *table, const char *const *headers, size_t n_columns);
/* No effect when no column has that header. */
void table_align(struct table *table, const char *header, enum table_align align);
/* Copies n_columns strings (NULL prints as ""). */
void table_add_row(struct table *table, const char *const *cells);
void table_free(struct table *table);

/*
 * The framed table, every line ending in '\n'.  title (may be NULL) replaces
 * the start of the top rule after its first '+', cut to fit: patronictl's
 * "+ Cluster: batman (7277694203142172922) -+----...".  malloc'd.
 */
char *table_render(const struct table *table, const char *title);

/* Header and rows joined by delimiter, one line each (patronictl's tsv).
 * malloc'd. */
char *table_render_delimited(const struct table *table, const char *delimiter);

#endif /* PGHERD_CTL_TABLE_H */
