/*
 * Structured logging: one record per line on stderr.
 *
 * Every record carries a UTC timestamp in milliseconds, a level, a stable
 * dotted event name (the catalogue is docs/events.md), the member name and
 * typed key=value fields.  The same record prints as plain text
 *
 *   2026-11-24T01:07:40.123Z INFO leader.acquired member=node1 session=0x1000
 *
 * or, with log.format json, as one JSON object per line.  Event names and
 * field names are an interface for log-tailing operators: add, never rename.
 */
#ifndef PGHERD_LOG_H
#define PGHERD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

enum log_format {
	LOG_FORMAT_PLAIN = 0,
	LOG_FORMAT_JSON,
};

enum log_field_type {
	LOG_FIELD_END = 0,
	LOG_FIELD_STRING,
	LOG_FIELD_INT,
	LOG_FIELD_HEX,
	LOG_FIELD_DOUBLE,
	LOG_FIELD_BOOL,
};

struct log_field {
	const char *key;
	enum log_field_type type;
	union {
		const char *s;
		long long i;
		double d;
		bool b;
	} value;
};

/* Field constructors, for use inside the log_* macros below. */
#define LF_STR(k, v)  ((struct log_field){ .key = (k), .type = LOG_FIELD_STRING, .value.s = (v) })
#define LF_INT(k, v)  ((struct log_field){ .key = (k), .type = LOG_FIELD_INT, .value.i = (long long) (v) })
#define LF_HEX(k, v)  ((struct log_field){ .key = (k), .type = LOG_FIELD_HEX, .value.i = (long long) (v) })
#define LF_DBL(k, v)  ((struct log_field){ .key = (k), .type = LOG_FIELD_DOUBLE, .value.d = (double) (v) })
#define LF_BOOL(k, v) ((struct log_field){ .key = (k), .type = LOG_FIELD_BOOL, .value.b = (v) })

#define LOG_FIELDS(...) ((const struct log_field[]){ __VA_ARGS__ __VA_OPT__(,) { .type = LOG_FIELD_END } })

/* log_info("dcs.connected", LF_HEX("session", id), LF_STR("server", host)); */
#define log_error(event, ...)   log_write(LOG_LEVEL_ERROR, (event), LOG_FIELDS(__VA_ARGS__))
#define log_warning(event, ...) log_write(LOG_LEVEL_WARNING, (event), LOG_FIELDS(__VA_ARGS__))
#define log_info(event, ...)    log_write(LOG_LEVEL_INFO, (event), LOG_FIELDS(__VA_ARGS__))
#define log_debug(event, ...)   log_write(LOG_LEVEL_DEBUG, (event), LOG_FIELDS(__VA_ARGS__))

/* Settings may change at any time (a configuration reload); defaults are
 * plain text, INFO, no member name, stderr. */
void log_set_format(enum log_format format);
void log_set_level(enum log_level level);
void log_set_member(const char *member_name);

/* Redirect output, for tests; NULL restores stderr.  Not owned. */
void log_set_stream(FILE *stream);

bool log_level_enabled(enum log_level level);
void log_write(enum log_level level, const char *event, const struct log_field *fields);

const char *log_level_name(enum log_level level);
bool log_level_parse(const char *name, enum log_level *level);

/*
 * Format one record into buf (NUL-terminated, truncated to fit, no newline).
 * Exposed for unit tests; log_write() uses it.  Returns the length written.
 */
int log_format_record(char *buf, int size, enum log_format format, int64_t unix_ms,
		      enum log_level level, const char *member, const char *event,
		      const struct log_field *fields);

#endif
