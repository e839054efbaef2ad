/*
 * Replication slot names and the SQL that keeps them.
 */
#include "agent/slots.h"

#include <stdio.h>

#include "agent/util.h"

void slot_name_for_member(const char *member, char out[SLOT_NAME_MAX + 1])
{
	size_t used = 0;

	for (const unsigned char *p = (const unsigned char *) member; *p; p++) {
		char piece[8];
		unsigned char c = *p;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char) (c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
			snprintf(piece, sizeof(piece), "%c", c);
		else if (c == '-' || c == '.')
			snprintf(piece, sizeof(piece), "_");
		else
			/* Patroni works on code points; bytes of a UTF-8 name
			 * each become one escape, which still names it uniquely. */
			snprintf(piece, sizeof(piece), "u%04x", c);
		for (const char *q = piece; *q && used < SLOT_NAME_MAX; q++)
			out[used++] = *q;
		if (used == SLOT_NAME_MAX)
			break;
	}
	out[used] = '\0';
}

bool slots_sync_sql(const char *const *wanted, size_t count, char *out, size_t size)
{
	char list[4096];
	struct util_out names = { .buf = list, .size = sizeof(list) };
	struct util_out o = { .buf = out, .size = size };

	/* The names come from slot_name_for_member(): [a-z0-9_] only, safe
	 * between single quotes. */
	util_out_str(&names, "ARRAY[");
	for (size_t i = 0; i < count; i++) {
		util_out_str(&names, i ? ",'" : "'");
		util_out_str(&names, wanted[i]);
		util_out_char(&names, '\'');
	}
	util_out_str(&names, "]::name[]");
	util_out_finish(&names);

	util_out_str(&o, "SELECT pg_catalog.pg_create_physical_replication_slot(n, true)"
			 " FROM pg_catalog.unnest(");
	util_out_str(&o, list);
	util_out_str(&o, ") AS n WHERE n NOT IN (SELECT slot_name FROM pg_catalog.pg_replication_slots);\n"
			 "SELECT pg_catalog.pg_drop_replication_slot(slot_name)"
			 " FROM pg_catalog.pg_replication_slots"
			 " WHERE slot_type = 'physical' AND NOT active AND NOT temporary"
			 " AND slot_name <> ALL (");
	util_out_str(&o, list);
	util_out_str(&o, ");\n");
	util_out_finish(&o);
	return !names.full && !o.full;
}
