/*
 * Helpers every pgherdctl module uses: a growing string, allocation that
 * never returns NULL (a command line that runs out of memory can only stop,
 * so it does, with a message), and the one format for messages on stderr.
 */
#ifndef PGHERD_CTL_UTIL_H
#define PGHERD_CTL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A NUL-terminated string that grows.  Start with { 0 }; sb_steal() hands
 * the text over (never NULL), sb_free() drops it. */
struct sb {
	char *buf;
	size_t len;
	size_t cap;
};

void sb_append(struct sb *sb, const char *text);
void sb_append_n(struct sb *sb, const char *text, size_t len);
void sb_append_char(struct sb *sb, char c);
void sb_printf(struct sb *sb, const char *format, ...) __attribute__((format(printf, 2, 3)));
void sb_repeat(struct sb *sb, char c, size_t count);
/* The text so far ("" when nothing was appended); still owned by sb. */
const char *sb_text(const struct sb *sb);
char *sb_steal(struct sb *sb);
void sb_free(struct sb *sb);

/* Out of memory prints a message and exits with status 1. */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *pointer, size_t size);
char *xstrdup(const char *text);
char *xstrndup(const char *text, size_t len);
char *xasprintf(const char *format, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *format, va_list arguments) __attribute__((format(printf, 1, 0)));
/* A jansson constructor's result, or exit when it is NULL. */
json_t *xjson(json_t *value);

/* "pgherdctl: <message>" and "pgherdctl: warning: <message>" on stderr. */
void ctl_error(const char *format, ...) __attribute__((format(printf, 1, 2)));
void ctl_warning(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Display width of UTF-8 text: code points, not bytes (what a terminal
 * shows for the names and states pgherdctl prints). */
size_t utf8_width(const char *text, size_t len);

/* text with control characters replaced by '?': znode contents are
 * written by others and must not drive the operator's terminal. */
char *printable_copy(const char *text);

#endif /* PGHERD_CTL_UTIL_H */
