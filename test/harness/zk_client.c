/*
 * Synchronous ZooKeeper client for tests; see zk_client.h.  The calls
 * themselves are dcs/zk_blocking.c's; this file keeps the list of open
 * clients, so that a waiting call (or harness_sleep_ms()) drives all of
 * them, and so that the harness can close what a test left open.
 */
#include "test/harness/zk_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcs/zk_blocking.h"
#include "test/harness/harness.h"

struct zk_client {
	struct zk_blocking *zk;
	uint64_t seq;
	struct zk_client *next;
};

static struct zk_client *clients;
static uint64_t client_seq;
static FILE *client_log;

static void zk_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void zk_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	fputs("harness: zk_client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *zk_client_state_name(int state)
{
	return zk_blocking_state_name(state);
}

/* The C library logs every refused connection at ERROR level: expected
 * noise when tests stop servers.  It goes to a file in the run directory,
 * kept with PGHERD_TEST_KEEP=1. */
static void open_client_log(void)
{
	const char *dir = harness_run_dir();
	char path[HARNESS_PATH_MAX];

	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
	if (client_log != NULL || dir == NULL)
		return;
	if (snprintf(path, sizeof(path), "%s/zk_client.log", dir) >= (int) sizeof(path))
		return;
	client_log = fopen(path, "ae");
	if (client_log == NULL) {
		zk_error("cannot open %s: %s", path, strerror(errno));
		return;
	}
	setvbuf(client_log, NULL, _IOLBF, 0);
	zoo_set_log_stream(client_log);
}

static void close_client_log(void)
{
	if (client_log == NULL)
		return;
	zoo_set_log_stream(NULL); /* back to stderr */
	fclose(client_log);
	client_log = NULL;
}

void zk_client_drive_all(int max_ms)
{
	struct zk_blocking *set[64];
	size_t count = 0;

	for (struct zk_client *c = clients; c != NULL && count < 64; c = c->next)
		set[count++] = c->zk;
	zk_blocking_drive(set, count, max_ms);
}

/* --- Public API ----------------------------------------------------------- */

int zk_client_connect(const char *hosts, int session_timeout_ms, int timeout_ms,
		      struct zk_client **out)
{
	struct zk_client *c;
	int rc;

	*out = NULL;
	open_client_log();
	/* Every waiting call drives every open client. */
	zk_blocking_set_wait(zk_client_drive_all);
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		zk_error("out of memory");
		return ZSYSTEMERROR;
	}
	rc = zk_blocking_connect(hosts, session_timeout_ms, timeout_ms, &c->zk);
	if (rc != ZOK) {
		if (rc == ZSYSTEMERROR)
			zk_error("zookeeper_init(%s): %s", hosts, strerror(errno));
		else if (rc == ZOPERATIONTIMEOUT)
			zk_error("connect %s: no session after %d ms", hosts, timeout_ms);
		else
			zk_error("connect %s: session %s", hosts,
				 rc == ZAUTHFAILED ? "auth-failed" : "expired");
		free(c);
		if (clients == NULL)
			close_client_log();
		return rc;
	}
	c->seq = ++client_seq;
	c->next = clients;
	clients = c;
	*out = c;
	return ZOK;
}

void zk_client_close(struct zk_client *c)
{
	struct zk_client **pp;

	if (c == NULL)
		return;
	for (pp = &clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	zk_blocking_close(c->zk);
	free(c);
	if (clients == NULL)
		close_client_log();
}

void zk_client_set_timeout(struct zk_client *c, int timeout_ms)
{
	zk_blocking_set_timeout(c->zk, timeout_ms);
}

int64_t zk_client_session_id(const struct zk_client *c)
{
	return zk_blocking_session_id(c->zk);
}

int zk_client_session_timeout(const struct zk_client *c)
{
	return zk_blocking_session_timeout(c->zk);
}

int zk_client_state(const struct zk_client *c)
{
	return zk_blocking_state(c->zk);
}

int zk_client_get(struct zk_client *c, const char *path, char *data, size_t buflen,
		  struct Stat *stat)
{
	char *value = NULL;
	int length = 0;
	int rc = zk_blocking_get(c->zk, path, &value, &length, stat);

	if (rc == ZOK && data != NULL && buflen > 0) {
		size_t n = (size_t) length < buflen - 1 ? (size_t) length : buflen - 1;

		memcpy(data, value, n);
		data[n] = '\0';
	}
	free(value);
	return rc;
}

int zk_client_set(struct zk_client *c, const char *path, const char *data, int version,
		  struct Stat *stat)
{
	return zk_blocking_set(c->zk, path, data, data != NULL ? (int) strlen(data) : -1, version,
			       stat);
}

int zk_client_create(struct zk_client *c, const char *path, const char *data, int flags,
		     char *created_path, size_t created_len)
{
	int blocking_flags = 0;

	if (flags & ZK_CLIENT_EPHEMERAL)
		blocking_flags |= ZK_BLOCKING_EPHEMERAL;
	if (flags & ZK_CLIENT_SEQUENTIAL)
		blocking_flags |= ZK_BLOCKING_SEQUENTIAL;
	if (flags & ZK_CLIENT_PARENTS)
		blocking_flags |= ZK_BLOCKING_PARENTS;
	return zk_blocking_create(c->zk, path, data, data != NULL ? (int) strlen(data) : -1,
				  blocking_flags, created_path, created_len);
}

int zk_client_delete(struct zk_client *c, const char *path, int version)
{
	return zk_blocking_delete(c->zk, path, version);
}

int zk_client_delete_recursive(struct zk_client *c, const char *path)
{
	return zk_blocking_delete_recursive(c->zk, path);
}

int zk_client_exists(struct zk_client *c, const char *path, struct Stat *stat)
{
	return zk_blocking_exists(c->zk, path, stat);
}

int zk_client_children(struct zk_client *c, const char *path, struct zk_client_children *out)
{
	struct zk_blocking_children kids;
	int rc = zk_blocking_children(c->zk, path, &kids);

	/* The same two fields: hand the names over. */
	out->count = kids.count;
	out->names = kids.names;
	return rc;
}

void zk_client_children_free(struct zk_client_children *children)
{
	for (int i = 0; i < children->count; i++)
		free(children->names[i]);
	free(children->names);
	children->names = NULL;
	children->count = 0;
}

uint64_t zk_client_mark(void)
{
	return client_seq;
}

void zk_client_close_since(uint64_t mark)
{
	struct zk_client *c = clients;

	while (c != NULL) {
		struct zk_client *next = c->next;

		if (c->seq > mark)
			zk_client_close(c);
		c = next;
	}
}
