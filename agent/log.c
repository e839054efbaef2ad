/*
 * Structured logger.  Records are built in a stack buffer and written with a
 * single fwrite() so that lines from one process never interleave; a record
 * too long for the buffer keeps its header and reports truncated=true.
 *
 * Plain values are quoted only when they must be (space, '=', '"', control
 * characters or empty), so that `grep event=` and `cut` keep working;
 * JSON values are escaped per RFC 8259.
 */
#include "agent/log.h"
#include "agent/util.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LOG_RECORD_MAX 8192

static enum log_format current_format = LOG_FORMAT_PLAIN;
static enum log_level current_level = LOG_LEVEL_INFO;
static char current_member[128];
static FILE *current_stream;

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "ERROR",
	[LOG_LEVEL_WARNING] = "WARNING",
	[LOG_LEVEL_INFO] = "INFO",
	[LOG_LEVEL_DEBUG] = "DEBUG",
};

void log_set_format(enum log_format format) { current_format = format; }
void log_set_level(enum log_level level) { current_level = level; }
void log_set_stream(FILE *stream) { current_stream = stream; }

void log_set_member(const char *member_name)
{
	snprintf(current_member, sizeof(current_member), "%s", member_name ? member_name : "");
}

bool log_level_enabled(enum log_level level) { return level <= current_level; }

const char *log_level_name(enum log_level level)
{
	if (level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG)
		return "UNKNOWN";
	return level_names[level];
}

bool log_level_parse(const char *name, enum log_level *level)
{
	/* Patroni takes Python's level names; CRITICAL and FATAL map to ERROR,
	 * WARN to WARNING. */
	static const struct { const char *name; enum log_level level; } names[] = {
		{ "DEBUG", LOG_LEVEL_DEBUG },	  { "INFO", LOG_LEVEL_INFO },
		{ "WARNING", LOG_LEVEL_WARNING }, { "WARN", LOG_LEVEL_WARNING },
		{ "ERROR", LOG_LEVEL_ERROR },	  { "CRITICAL", LOG_LEVEL_ERROR },
		{ "FATAL", LOG_LEVEL_ERROR },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*level = names[i].level;
			return true;
		}
	}
	return false;
}

static bool plain_needs_quotes(const char *s)
{
	if (*s == '\0')
		return true;
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;
		if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f)
			return true;
	}
	return false;
}

static void out_escaped(struct util_out *o, const char *s, bool json)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;
		switch (c) {
		case '"': util_out_str(o, "\\\""); break;
		case '\\': util_out_str(o, "\\\\"); break;
		case '\n': util_out_str(o, "\\n"); break;
		case '\r': util_out_str(o, "\\r"); break;
		case '\t': util_out_str(o, "\\t"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				util_out_fmt(o, json ? "\\u%04x" : "\\x%02x", c);
			else
				util_out_char(o, (char) c);
		}
	}
}

static void out_plain_string(struct util_out *o, const char *s)
{
	if (!plain_needs_quotes(s)) {
		util_out_str(o, s);
		return;
	}
	util_out_char(o, '"');
	out_escaped(o, s, false);
	util_out_char(o, '"');
}

static void out_json_string(struct util_out *o, const char *s)
{
	util_out_char(o, '"');
	out_escaped(o, s, true);
	util_out_char(o, '"');
}

static void out_value(struct util_out *o, const struct log_field *f, bool json)
{
	switch (f->type) {
	case LOG_FIELD_STRING:
		if (json)
			out_json_string(o, f->value.s ? f->value.s : "");
		else
			out_plain_string(o, f->value.s ? f->value.s : "");
		break;
	case LOG_FIELD_INT:
		util_out_fmt(o, "%lld", f->value.i);
		break;
	case LOG_FIELD_HEX:
		/* Session ids are printed as ZooKeeper prints them. */
		util_out_fmt(o, json ? "\"0x%llx\"" : "0x%llx", (unsigned long long) f->value.i);
		break;
	case LOG_FIELD_DOUBLE:
		util_out_fmt(o, "%.3f", f->value.d);
		break;
	case LOG_FIELD_BOOL:
		util_out_str(o, f->value.b ? "true" : "false");
		break;
	case LOG_FIELD_END:
		break;
	}
}

int log_format_record(char *buf, int size, enum log_format format, int64_t unix_ms,
		      enum log_level level, const char *member, const char *event,
		      const struct log_field *fields)
{
	struct util_out o = { .buf = buf, .size = (size_t) size };
	time_t secs = (time_t) (unix_ms / 1000);
	struct tm tm;
	char stamp[80];	/* 24 in practice; sized for any int the compiler may assume */
	bool json = format == LOG_FORMAT_JSON;

	if (size <= 0)
		return 0;
	gmtime_r(&secs, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (unix_ms % 1000));

	if (json) {
		util_out_str(&o, "{\"ts\":\"");
		util_out_str(&o, stamp);
		util_out_str(&o, "\",\"level\":\"");
		util_out_str(&o, log_level_name(level));
		util_out_str(&o, "\",\"event\":");
		out_json_string(&o, event);
		util_out_str(&o, ",\"member\":");
		out_json_string(&o, member ? member : "");
	} else {
		util_out_str(&o, stamp);
		util_out_char(&o, ' ');
		util_out_str(&o, log_level_name(level));
		util_out_char(&o, ' ');
		util_out_str(&o, event);
		if (member && *member) {
			util_out_str(&o, " member=");
			out_plain_string(&o, member);
		}
	}
	for (const struct log_field *f = fields; f && f->type != LOG_FIELD_END; f++) {
		if (json) {
			util_out_char(&o, ',');
			out_json_string(&o, f->key);
			util_out_char(&o, ':');
		} else {
			util_out_char(&o, ' ');
			util_out_str(&o, f->key);
			util_out_char(&o, '=');
		}
		out_value(&o, f, json);
	}
	if (json)
		util_out_char(&o, '}');

	if (o.full && !(fields && fields[0].type == LOG_FIELD_BOOL && fields[1].type == LOG_FIELD_END &&
			strcmp(fields[0].key, "truncated") == 0)) {
		/* Cutting a record mid-token would leave JSON unparseable: keep the
		 * header and say that the fields did not fit. */
		return log_format_record(buf, size, format, unix_ms, level, member, event,
					 LOG_FIELDS(LF_BOOL("truncated", true)));
	}
	o.buf[o.len] = '\0';
	return (int) o.len;
}

void log_write(enum log_level level, const char *event, const struct log_field *fields)
{
	char buf[LOG_RECORD_MAX];
	struct timespec now;
	int saved_errno = errno;
	FILE *stream = current_stream ? current_stream : stderr;

	if (!log_level_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	int len = log_format_record(buf, (int) sizeof(buf) - 1, current_format,
				    (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000, level,
				    current_member, event, fields);
	buf[len++] = '\n';
	fwrite(buf, 1, (size_t) len, stream);
	fflush(stream);
	errno = saved_errno;
}
