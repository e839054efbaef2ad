/*
 * pgherdctl helpers; see util.h.
 */
#include "ctl/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(void)
{
	fputs("pgherdctl: out of memory\n", stderr);
	exit(1);
}

void *xmalloc(size_t size)
{
	void *pointer = malloc(size ? size : 1);

	if (pointer == NULL)
		out_of_memory();
	return pointer;
}

void *xcalloc(size_t count, size_t size)
{
	void *pointer = calloc(count ? count : 1, size ? size : 1);

	if (pointer == NULL)
		out_of_memory();
	return pointer;
}

void *xrealloc(void *pointer, size_t size)
{
	void *grown = realloc(pointer, size ? size : 1);

	if (grown == NULL)
		out_of_memory();
	return grown;
}

char *xstrdup(const char *text)
{
	return xstrndup(text, strlen(text));
}

char *xstrndup(const char *text, size_t len)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

char *xvasprintf(const char *format, va_list arguments)
{
	char *text = NULL;

	if (vasprintf(&text, format, arguments) < 0)
		out_of_memory();
	return text;
}

char *xasprintf(const char *format, ...)
{
	va_list arguments;
	char *text;

	va_start(arguments, format);
	text = xvasprintf(format, arguments);
	va_end(arguments);
	return text;
}

json_t *xjson(json_t *value)
{
	if (value == NULL)
		out_of_memory();
	return value;
}

static void sb_reserve(struct sb *sb, size_t more)
{
	size_t need = sb->len + more + 1;

	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	sb->buf = xrealloc(sb->buf, cap);
	sb->cap = cap;
}

void sb_append_n(struct sb *sb, const char *text, size_t len)
{
	sb_reserve(sb, len);
	memcpy(sb->buf + sb->len, text, len);
	sb->len += len;
	sb->buf[sb->len] = '\0';
}

void sb_append(struct sb *sb, const char *text)
{
	sb_append_n(sb, text, strlen(text));
}

void sb_append_char(struct sb *sb, char c)
{
	sb_append_n(sb, &c, 1);
}

void sb_repeat(struct sb *sb, char c, size_t count)
{
	sb_reserve(sb, count);
	memset(sb->buf + sb->len, c, count);
	sb->len += count;
	sb->buf[sb->len] = '\0';
}

void sb_printf(struct sb *sb, const char *format, ...)
{
	va_list arguments;
	char *text;

	va_start(arguments, format);
	text = xvasprintf(format, arguments);
	va_end(arguments);
	sb_append(sb, text);
	free(text);
}

const char *sb_text(const struct sb *sb)
{
	return sb->buf ? sb->buf : "";
}

char *sb_steal(struct sb *sb)
{
	char *text = sb->buf ? sb->buf : xstrdup("");

	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return text;
}

void sb_free(struct sb *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static void message(const char *prefix, const char *format, va_list arguments)
{
	/* What was printed so far comes first on a shared terminal. */
	fflush(stdout);
	fprintf(stderr, "pgherdctl: %s", prefix);
	vfprintf(stderr, format, arguments);
	fputc('\n', stderr);
}

void ctl_error(const char *format, ...)
{
	va_list arguments;

	va_start(arguments, format);
	message("", format, arguments);
	va_end(arguments);
}

void ctl_warning(const char *format, ...)
{
	va_list arguments;

	va_start(arguments, format);
	message("warning: ", format, arguments);
	va_end(arguments);
}

size_t utf8_width(const char *text, size_t len)
{
	size_t width = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char) text[i] & 0xC0) != 0x80)
			width++;
	return width;
}

char *printable_copy(const char *text)
{
	char *copy = xstrdup(text);

	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7F)
			*p = '?';
	return copy;
}
