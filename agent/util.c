/*
 * Shared helpers (see util.h).
 */
#include "agent/util.h"

#include <stdarg.h>
#include <stdio.h>

void util_out_char(struct util_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len++] = c;
	else
		o->full = true;
}

void util_out_str(struct util_out *o, const char *s)
{
	while (*s)
		util_out_char(o, *s++);
}

void util_out_fmt(struct util_out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t) n >= sizeof(tmp))
		o->full = true;
	util_out_str(o, tmp);
}

size_t util_out_finish(struct util_out *o)
{
	if (o->size > 0)
		o->buf[o->len < o->size ? o->len : o->size - 1] = '\0';
	return o->len;
}
