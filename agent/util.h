/*
 * Small helpers shared by agent/, dcs/ and pg/ (the only agent/ header
 * besides log.h that they may include).
 */
#ifndef PGHERD_UTIL_H
#define PGHERD_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A bounded output cursor over a caller's buffer: appends never overrun it,
 * and `full` records that something did not fit, so the caller can refuse
 * (conninfo) or mark (log records) a truncated result.  The buffer stays
 * NUL-terminated after util_out_finish().
 */
struct util_out {
	char *buf;
	size_t size;
	size_t len;
	bool full;
};

void util_out_char(struct util_out *out, char c);
void util_out_str(struct util_out *out, const char *s);
void util_out_fmt(struct util_out *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminate; returns the length written. */
size_t util_out_finish(struct util_out *out);

#endif
