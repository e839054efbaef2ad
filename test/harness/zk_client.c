/*
 * Synchronous ZooKeeper client for tests; see zk_client.h.
 *
 * Each request gets a heap-allocated call record linked to its client.  If
 * the caller gives up (timeout) the record is marked abandoned: the
 * completion, which may still come later (or with ZCLOSING during
 * zookeeper_close), then frees it instead of writing into a stack frame
 * that no longer exists.  Records never completed are freed at close.
 */
#include "test/harness/zk_client.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "test/harness/harness.h"

struct zk_call {
	struct zk_client *client;
	struct zk_call *prev, *next;
	bool done;
	bool abandoned;
	int rc;
	struct Stat stat;
	bool has_stat;
	char *data;			/* get: copy of the value */
	int data_len;
	char *path;			/* create: name created */
	char **names;			/* children */
	int count;
};

struct zk_client {
	zhandle_t *zh;
	int state;
	int timeout_ms;
	uint64_t seq;
	struct zk_client *next;
	struct zk_call *calls;		/* outstanding and abandoned */
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
	if (state == ZOO_CONNECTED_STATE)
		return "connected";
	if (state == ZOO_CONNECTING_STATE)
		return "connecting";
	if (state == ZOO_ASSOCIATING_STATE)
		return "associating";
	if (state == ZOO_EXPIRED_SESSION_STATE)
		return "expired";
	if (state == ZOO_AUTH_FAILED_STATE)
		return "auth-failed";
	if (state == 0)
		return "closed";
	return "other";
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
	zoo_set_log_stream(NULL);	/* back to stderr */
	fclose(client_log);
	client_log = NULL;
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zk_client *c = ctx;

	(void) zh;
	(void) path;
	if (c != NULL && type == ZOO_SESSION_EVENT)
		c->state = state;
}

/* --- Call records ------------------------------------------------------ */

static struct zk_call *call_new(struct zk_client *c)
{
	struct zk_call *call = calloc(1, sizeof(*call));

	if (call == NULL) {
		zk_error("out of memory");
		return NULL;
	}
	call->client = c;
	call->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = call;
	c->calls = call;
	return call;
}

static void call_free(struct zk_call *call)
{
	struct zk_client *c = call->client;

	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	free(call->data);
	free(call->path);
	for (int i = 0; i < call->count; i++)
		free(call->names[i]);
	free(call->names);
	free(call);
}

/* Common start of every completion: false if nobody waits any more. */
static bool call_complete(struct zk_call *call, int rc)
{
	if (call->abandoned) {
		call_free(call);
		return false;
	}
	call->rc = rc;
	call->done = true;
	return true;
}

static void void_done(int rc, const void *data)
{
	struct zk_call *call = (struct zk_call *) data;

	call_complete(call, rc);
}

static void stat_done(int rc, const struct Stat *stat, const void *data)
{
	struct zk_call *call = (struct zk_call *) data;

	if (!call_complete(call, rc))
		return;
	if (rc == ZOK && stat != NULL) {
		call->stat = *stat;
		call->has_stat = true;
	}
}

static void data_done(int rc, const char *value, int value_len,
		      const struct Stat *stat, const void *data)
{
	struct zk_call *call = (struct zk_call *) data;

	if (!call_complete(call, rc))
		return;
	if (rc != ZOK)
		return;
	if (stat != NULL) {
		call->stat = *stat;
		call->has_stat = true;
	}
	if (value_len < 0)
		value_len = 0;
	call->data = malloc((size_t) value_len + 1);
	if (call->data == NULL) {
		call->rc = ZSYSTEMERROR;
		return;
	}
	if (value_len > 0)
		memcpy(call->data, value, (size_t) value_len);
	call->data[value_len] = '\0';
	call->data_len = value_len;
}

static void string_done(int rc, const char *value, const void *data)
{
	struct zk_call *call = (struct zk_call *) data;

	if (!call_complete(call, rc))
		return;
	if (rc == ZOK && value != NULL) {
		call->path = strdup(value);
		if (call->path == NULL)
			call->rc = ZSYSTEMERROR;
	}
}

static void strings_done(int rc, const struct String_vector *strings, const void *data)
{
	struct zk_call *call = (struct zk_call *) data;

	if (!call_complete(call, rc))
		return;
	if (rc != ZOK || strings == NULL || strings->count <= 0)
		return;
	call->names = calloc((size_t) strings->count, sizeof(char *));
	if (call->names == NULL) {
		call->rc = ZSYSTEMERROR;
		return;
	}
	for (int i = 0; i < strings->count; i++) {
		call->names[i] = strdup(strings->data[i]);
		if (call->names[i] == NULL) {
			call->rc = ZSYSTEMERROR;
			return;
		}
		call->count++;
	}
}

/* --- Driving the library ------------------------------------------------ */

static int timeval_ms(const struct timeval *tv)
{
	long long ms = (long long) tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000;

	if (ms < 0)
		return 0;
	return ms > 1000 ? 1000 : (int) ms;
}

void zk_client_drive_all(int max_ms)
{
	struct pollfd fds[64];
	struct zk_client *owner[64];
	int nfds = 0;
	int wait_ms = max_ms < 0 ? 0 : max_ms;

	for (struct zk_client *c = clients; c != NULL && nfds < 64; c = c->next) {
		int fd = -1;
		int interest = 0;
		struct timeval tv = { 0, 0 };
		int rc = zookeeper_interest(c->zh, &fd, &interest, &tv);

		/* Without a socket (reconnect back-off, expired session) the
		 * library still needs zookeeper_interest() calls to make
		 * progress: come back soon. */
		if (rc != ZOK || fd < 0) {
			if (wait_ms > 10)
				wait_ms = 10;
			continue;
		}
		if (timeval_ms(&tv) < wait_ms)
			wait_ms = timeval_ms(&tv);
		fds[nfds].fd = fd;
		fds[nfds].events = (short) (((interest & ZOOKEEPER_READ) ? POLLIN : 0) |
					    ((interest & ZOOKEEPER_WRITE) ? POLLOUT : 0));
		fds[nfds].revents = 0;
		owner[nfds] = c;
		nfds++;
	}
	if (nfds == 0) {
		if (wait_ms > 0)
			poll(NULL, 0, wait_ms);
		return;
	}
	if (poll(fds, (nfds_t) nfds, wait_ms) < 0 && errno != EINTR) {
		zk_error("poll: %s", strerror(errno));
		return;
	}
	for (int i = 0; i < nfds; i++) {
		int events = 0;

		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			events |= ZOOKEEPER_READ;
		if (fds[i].revents & POLLOUT)
			events |= ZOOKEEPER_WRITE;
		/* Also with no events: the library checks its timers here.
		 * Its rc repeats what the completions and watcher report. */
		(void) zookeeper_process(owner[i]->zh, events);
	}
}

/* Drive until the call completes or the client's timeout passes. */
static int call_wait(struct zk_client *c, struct zk_call *call)
{
	int64_t deadline = harness_now_ms() + c->timeout_ms;
	int rc;

	while (!call->done) {
		int64_t left = deadline - harness_now_ms();

		if (left <= 0) {
			call->abandoned = true;
			return ZOPERATIONTIMEOUT;
		}
		zk_client_drive_all((int) (left > 50 ? 50 : left));
	}
	rc = call->rc;
	return rc;
}

/* Issue-time failures (ZINVALIDSTATE on an expired session, ...) never
 * reach the completion: the record is ours to free. */
static int call_issue_failed(struct zk_call *call, int rc)
{
	call_free(call);
	return rc;
}

/* --- Public API ----------------------------------------------------------- */

int zk_client_connect(const char *hosts, int session_timeout_ms, int timeout_ms,
		      struct zk_client **out)
{
	struct zk_client *c;
	int64_t deadline;

	*out = NULL;
	open_client_log();
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		zk_error("out of memory");
		return ZSYSTEMERROR;
	}
	c->timeout_ms = timeout_ms;
	c->state = ZOO_CONNECTING_STATE;
	c->seq = ++client_seq;
	c->zh = zookeeper_init(hosts, watcher, session_timeout_ms, NULL, c, 0);
	if (c->zh == NULL) {
		zk_error("zookeeper_init(%s): %s", hosts, strerror(errno));
		free(c);
		return ZSYSTEMERROR;
	}
	c->next = clients;
	clients = c;

	deadline = harness_now_ms() + timeout_ms;
	while (c->state != ZOO_CONNECTED_STATE) {
		int64_t left = deadline - harness_now_ms();

		if (c->state == ZOO_EXPIRED_SESSION_STATE || c->state == ZOO_AUTH_FAILED_STATE) {
			zk_error("connect %s: session %s", hosts, zk_client_state_name(c->state));
			zk_client_close(c);
			return ZSESSIONEXPIRED;
		}
		if (left <= 0) {
			zk_error("connect %s: no session after %d ms", hosts, timeout_ms);
			zk_client_close(c);
			return ZOPERATIONTIMEOUT;
		}
		zk_client_drive_all((int) (left > 50 ? 50 : left));
	}
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
	/* Pending completions run with ZCLOSING in here and free the
	 * abandoned records themselves; mark all so none writes into a
	 * caller that is gone. */
	for (struct zk_call *call = c->calls; call != NULL; call = call->next)
		call->abandoned = true;
	zookeeper_close(c->zh);
	while (c->calls != NULL)
		call_free(c->calls);
	free(c);
	if (clients == NULL)
		close_client_log();
}

void zk_client_set_timeout(struct zk_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int64_t zk_client_session_id(const struct zk_client *c)
{
	const clientid_t *id = zoo_client_id(c->zh);

	return id != NULL ? id->client_id : 0;
}

int zk_client_session_timeout(const struct zk_client *c)
{
	return zoo_recv_timeout(c->zh);
}

int zk_client_state(const struct zk_client *c)
{
	return c->state;
}

int zk_client_get(struct zk_client *c, const char *path, char *data,
		  size_t buflen, struct Stat *stat)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aget(c->zh, path, 0, data_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOPERATIONTIMEOUT && !call->done)
		return rc;
	if (rc == ZOK) {
		if (data != NULL && buflen > 0) {
			size_t n = (size_t) call->data_len < buflen - 1 ?
				   (size_t) call->data_len : buflen - 1;

			memcpy(data, call->data, n);
			data[n] = '\0';
		}
		if (stat != NULL)
			*stat = call->stat;
	}
	call_free(call);
	return rc;
}

int zk_client_set(struct zk_client *c, const char *path, const char *data,
		  int version, struct Stat *stat)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aset(c->zh, path, data, data != NULL ? (int) strlen(data) : -1,
		      version, stat_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOPERATIONTIMEOUT && !call->done)
		return rc;
	if (rc == ZOK && stat != NULL && call->has_stat)
		*stat = call->stat;
	call_free(call);
	return rc;
}

static int create_one(struct zk_client *c, const char *path, const char *data,
		      int mode, char *created_path, size_t created_len)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_acreate(c->zh, path, data, data != NULL ? (int) strlen(data) : -1,
			 &ZOO_OPEN_ACL_UNSAFE, mode, string_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOPERATIONTIMEOUT && !call->done)
		return rc;
	if (rc == ZOK && created_path != NULL && created_len > 0)
		snprintf(created_path, created_len, "%s", call->path != NULL ? call->path : path);
	call_free(call);
	return rc;
}

static int create_parents(struct zk_client *c, const char *path)
{
	char prefix[1024];
	size_t len = strlen(path);

	if (len >= sizeof(prefix))
		return ZBADARGUMENTS;
	for (size_t i = 1; i < len; i++) {
		int rc;

		if (path[i] != '/')
			continue;
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		rc = create_one(c, prefix, NULL, ZOO_PERSISTENT, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS)
			return rc;
	}
	return ZOK;
}

int zk_client_create(struct zk_client *c, const char *path, const char *data,
		     int flags, char *created_path, size_t created_len)
{
	int mode = 0;

	/* ZOO_* are extern const ints: combine them at run time. */
	if (flags & ZK_CLIENT_EPHEMERAL)
		mode |= ZOO_EPHEMERAL;
	if (flags & ZK_CLIENT_SEQUENTIAL)
		mode |= ZOO_SEQUENCE;
	if (flags & ZK_CLIENT_PARENTS) {
		int rc = create_parents(c, path);

		if (rc != ZOK)
			return rc;
	}
	return create_one(c, path, data, mode, created_path, created_len);
}

int zk_client_delete(struct zk_client *c, const char *path, int version)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_adelete(c->zh, path, version, void_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOPERATIONTIMEOUT && !call->done)
		return rc;
	call_free(call);
	return rc;
}

int zk_client_delete_recursive(struct zk_client *c, const char *path)
{
	struct zk_client_children kids;
	int rc = zk_client_children(c, path, &kids);

	if (rc == ZNONODE)
		return ZOK;
	if (rc != ZOK)
		return rc;
	for (int i = 0; i < kids.count && rc == ZOK; i++) {
		char child[1024];
		int n = snprintf(child, sizeof(child), "%s/%s",
				 strcmp(path, "/") == 0 ? "" : path, kids.names[i]);

		if (n < 0 || (size_t) n >= sizeof(child))
			rc = ZBADARGUMENTS;
		else if (strcmp(child, "/zookeeper") != 0)
			rc = zk_client_delete_recursive(c, child);
	}
	zk_client_children_free(&kids);
	if (rc != ZOK || strcmp(path, "/") == 0)
		return rc;
	rc = zk_client_delete(c, path, -1);
	return rc == ZNONODE ? ZOK : rc;
}

int zk_client_exists(struct zk_client *c, const char *path, struct Stat *stat)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aexists(c->zh, path, 0, stat_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOPERATIONTIMEOUT && !call->done)
		return rc;
	if (rc == ZOK && stat != NULL && call->has_stat)
		*stat = call->stat;
	call_free(call);
	return rc;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int zk_client_children(struct zk_client *c, const char *path,
		       struct zk_client_children *out)
{
	struct zk_call *call = call_new(c);
	int rc;

	out->count = 0;
	out->names = NULL;
	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aget_children(c->zh, path, 0, strings_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOPERATIONTIMEOUT && !call->done)
		return rc;
	if (rc == ZOK) {
		/* Hand the names over rather than copying them again. */
		out->count = call->count;
		out->names = call->names;
		call->names = NULL;
		call->count = 0;
		if (out->count > 1)
			qsort(out->names, (size_t) out->count, sizeof(char *), compare_names);
	}
	call_free(call);
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
