/*
 * Blocking ZooKeeper client; see zk_blocking.h.
 *
 * Each request gets a heap-allocated call record linked to its client.  If
 * the caller gives up (timeout) the record is marked abandoned: the
 * completion, which may still come later (or with ZCLOSING during
 * zookeeper_close), then frees it instead of writing into a stack frame
 * that no longer exists.  Records never completed are freed at close.
 */
#include "dcs/zk_blocking.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Longest path delete_recursive() and create's parents handle. */
#define PATH_MAX_BYTES 1024
/* A waiting call comes back at least this often to check its deadline. */
#define SLICE_MS 50

struct zk_call {
	struct zk_blocking *client;
	struct zk_call *prev, *next;
	bool done;
	bool abandoned;
	int rc;
	struct Stat stat;
	bool has_stat;
	char *data; /* get: copy of the value */
	int data_len;
	char *path;   /* create: name created */
	char **names; /* children */
	int count;
};

struct zk_blocking {
	zhandle_t *zh;
	int state;
	int timeout_ms;
	struct zk_call *calls; /* outstanding and abandoned */
};

static zk_blocking_wait_fn *wait_fn;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *zk_blocking_state_name(int state)
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

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zk_blocking *c = ctx;

	(void) zh;
	(void) path;
	if (c != NULL && type == ZOO_SESSION_EVENT)
		c->state = state;
}

/* --- Call records ------------------------------------------------------ */

static struct zk_call *call_new(struct zk_blocking *c)
{
	struct zk_call *call = calloc(1, sizeof(*call));

	if (call == NULL)
		return NULL;
	call->client = c;
	call->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = call;
	c->calls = call;
	return call;
}

static void call_free(struct zk_call *call)
{
	struct zk_blocking *c = call->client;

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

static void data_done(int rc, const char *value, int value_len, const struct Stat *stat,
		      const void *data)
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
	if (value_len < 0 || value == NULL)
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

void zk_blocking_drive(struct zk_blocking *const *clients, size_t count, int max_ms)
{
	struct pollfd *fds = count > 0 ? calloc(count, sizeof(*fds)) : NULL;
	struct zk_blocking **owner = count > 0 ? calloc(count, sizeof(*owner)) : NULL;
	nfds_t nfds = 0;
	int wait_ms = max_ms < 0 ? 0 : max_ms;

	if (count > 0 && (fds == NULL || owner == NULL)) {
		/* Out of memory: wait a little and let the caller retry. */
		free(fds);
		free(owner);
		poll(NULL, 0, wait_ms > 10 ? 10 : wait_ms);
		return;
	}
	for (size_t i = 0; i < count; i++) {
		int fd = -1;
		int interest = 0;
		struct timeval tv = { 0, 0 };
		int rc = zookeeper_interest(clients[i]->zh, &fd, &interest, &tv);

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
		owner[nfds] = clients[i];
		nfds++;
	}
	if (nfds == 0) {
		if (wait_ms > 0)
			poll(NULL, 0, wait_ms);
	} else if (poll(fds, nfds, wait_ms) >= 0 || errno == EINTR) {
		for (nfds_t i = 0; i < nfds; i++) {
			int events = 0;

			if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
				events |= ZOOKEEPER_READ;
			if (fds[i].revents & POLLOUT)
				events |= ZOOKEEPER_WRITE;
			/* Also with no events: the library checks its timers
			 * here.  Its rc repeats what the completions and the
			 * watcher report. */
			(void) zookeeper_process(owner[i]->zh, events);
		}
	}
	free(fds);
	free(owner);
}

void zk_blocking_set_wait(zk_blocking_wait_fn *wait)
{
	wait_fn = wait;
}

static void wait_once(struct zk_blocking *c, int max_ms)
{
	if (wait_fn != NULL)
		wait_fn(max_ms);
	else
		zk_blocking_drive(&c, 1, max_ms);
}

/* Drive until the call completes or the client's timeout passes. */
static int call_wait(struct zk_blocking *c, struct zk_call *call)
{
	int64_t deadline = now_ms() + c->timeout_ms;

	while (!call->done) {
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			call->abandoned = true;
			return ZOPERATIONTIMEOUT;
		}
		wait_once(c, (int) (left > SLICE_MS ? SLICE_MS : left));
	}
	return call->rc;
}

/* Issue-time failures (ZINVALIDSTATE on an expired session, ...) never
 * reach the completion: the record is ours to free. */
static int call_issue_failed(struct zk_call *call, int rc)
{
	call_free(call);
	return rc;
}

/* After call_wait(): an abandoned record belongs to its completion now. */
static int call_finish(struct zk_call *call, int rc)
{
	if (!call->abandoned)
		call_free(call);
	return rc;
}

/* --- Public API ----------------------------------------------------------- */

int zk_blocking_connect(const char *hosts, int session_timeout_ms, int timeout_ms,
			struct zk_blocking **out)
{
	struct zk_blocking *c;
	int64_t deadline;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		errno = ENOMEM;
		return ZSYSTEMERROR;
	}
	c->timeout_ms = timeout_ms;
	c->state = ZOO_CONNECTING_STATE;
	c->zh = zookeeper_init(hosts, watcher, session_timeout_ms, NULL, c, 0);
	if (c->zh == NULL) {
		int saved = errno;

		free(c);
		errno = saved;
		return ZSYSTEMERROR;
	}
	deadline = now_ms() + timeout_ms;
	while (c->state != ZOO_CONNECTED_STATE) {
		int64_t left = deadline - now_ms();
		int rc = ZOK;

		if (c->state == ZOO_EXPIRED_SESSION_STATE)
			rc = ZSESSIONEXPIRED;
		else if (c->state == ZOO_AUTH_FAILED_STATE)
			rc = ZAUTHFAILED;
		else if (left <= 0)
			rc = ZOPERATIONTIMEOUT;
		if (rc != ZOK) {
			zk_blocking_close(c);
			return rc;
		}
		/* A wait function does not know this client yet: drive it
		 * here, and let the others have their turn without waiting. */
		zk_blocking_drive(&c, 1, (int) (left > SLICE_MS ? SLICE_MS : left));
		if (wait_fn != NULL)
			wait_fn(0);
	}
	*out = c;
	return ZOK;
}

void zk_blocking_close(struct zk_blocking *c)
{
	if (c == NULL)
		return;
	/* Pending completions run with ZCLOSING in here and free the
	 * abandoned records themselves; mark all so none writes into a
	 * caller that is gone. */
	for (struct zk_call *call = c->calls; call != NULL; call = call->next)
		call->abandoned = true;
	zookeeper_close(c->zh);
	while (c->calls != NULL)
		call_free(c->calls);
	free(c);
}

void zk_blocking_set_timeout(struct zk_blocking *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

int64_t zk_blocking_session_id(const struct zk_blocking *c)
{
	const clientid_t *id = zoo_client_id(c->zh);

	return id != NULL ? id->client_id : 0;
}

int zk_blocking_session_timeout(const struct zk_blocking *c)
{
	return zoo_recv_timeout(c->zh);
}

int zk_blocking_state(const struct zk_blocking *c)
{
	return c->state;
}

int zk_blocking_get(struct zk_blocking *c, const char *path, char **data, int *length,
		    struct Stat *stat)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (data != NULL)
		*data = NULL;
	if (length != NULL)
		*length = 0;
	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aget(c->zh, path, 0, data_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOK && !call->abandoned) {
		if (data != NULL) {
			/* Hand the copy over rather than copying it again. */
			*data = call->data;
			call->data = NULL;
		}
		if (length != NULL)
			*length = call->data_len;
		if (stat != NULL)
			*stat = call->stat;
	}
	return call_finish(call, rc);
}

int zk_blocking_set(struct zk_blocking *c, const char *path, const char *data, int length,
		    int version, struct Stat *stat)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aset(c->zh, path, data, data != NULL ? length : -1, version, stat_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOK && !call->abandoned && stat != NULL && call->has_stat)
		*stat = call->stat;
	return call_finish(call, rc);
}

static int create_one(struct zk_blocking *c, const char *path, const char *data, int length,
		      int mode, char *created_path, size_t created_size)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_acreate(c->zh, path, data, data != NULL ? length : -1, &ZOO_OPEN_ACL_UNSAFE, mode,
			 string_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOK && !call->abandoned && created_path != NULL && created_size > 0)
		snprintf(created_path, created_size, "%s", call->path != NULL ? call->path : path);
	return call_finish(call, rc);
}

static int create_parents(struct zk_blocking *c, const char *path)
{
	char prefix[PATH_MAX_BYTES];
	size_t len = strlen(path);

	if (len >= sizeof(prefix))
		return ZBADARGUMENTS;
	for (size_t i = 1; i < len; i++) {
		int rc;

		if (path[i] != '/')
			continue;
		memcpy(prefix, path, i);
		prefix[i] = '\0';
		rc = create_one(c, prefix, NULL, 0, ZOO_PERSISTENT, NULL, 0);
		if (rc != ZOK && rc != ZNODEEXISTS)
			return rc;
	}
	return ZOK;
}

int zk_blocking_create(struct zk_blocking *c, const char *path, const char *data, int length,
		       int flags, char *created_path, size_t created_size)
{
	int mode = 0;

	/* ZOO_* are extern const ints: combine them at run time. */
	if (flags & ZK_BLOCKING_EPHEMERAL)
		mode |= ZOO_EPHEMERAL;
	if (flags & ZK_BLOCKING_SEQUENTIAL)
		mode |= ZOO_SEQUENCE;
	if (flags & ZK_BLOCKING_PARENTS) {
		int rc = create_parents(c, path);

		if (rc != ZOK)
			return rc;
	}
	return create_one(c, path, data, length, mode, created_path, created_size);
}

int zk_blocking_delete(struct zk_blocking *c, const char *path, int version)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_adelete(c->zh, path, version, void_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	return call_finish(call, rc);
}

int zk_blocking_delete_recursive(struct zk_blocking *c, const char *path)
{
	struct zk_blocking_children kids;
	int rc = zk_blocking_children(c, path, &kids);

	if (rc == ZNONODE)
		return ZOK;
	if (rc != ZOK)
		return rc;
	for (int i = 0; i < kids.count && rc == ZOK; i++) {
		char child[PATH_MAX_BYTES];
		int n = snprintf(child, sizeof(child), "%s/%s", strcmp(path, "/") == 0 ? "" : path,
				 kids.names[i]);

		if (n < 0 || (size_t) n >= sizeof(child))
			rc = ZBADARGUMENTS;
		else if (strcmp(child, "/zookeeper") != 0)
			rc = zk_blocking_delete_recursive(c, child);
	}
	zk_blocking_children_free(&kids);
	if (rc != ZOK || strcmp(path, "/") == 0)
		return rc;
	rc = zk_blocking_delete(c, path, -1);
	return rc == ZNONODE ? ZOK : rc;
}

int zk_blocking_exists(struct zk_blocking *c, const char *path, struct Stat *stat)
{
	struct zk_call *call = call_new(c);
	int rc;

	if (call == NULL)
		return ZSYSTEMERROR;
	rc = zoo_aexists(c->zh, path, 0, stat_done, call);
	if (rc != ZOK)
		return call_issue_failed(call, rc);
	rc = call_wait(c, call);
	if (rc == ZOK && !call->abandoned && stat != NULL && call->has_stat)
		*stat = call->stat;
	return call_finish(call, rc);
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int zk_blocking_children(struct zk_blocking *c, const char *path,
			 struct zk_blocking_children *out)
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
	if (rc == ZOK && !call->abandoned) {
		/* Hand the names over rather than copying them again. */
		out->count = call->count;
		out->names = call->names;
		call->names = NULL;
		call->count = 0;
		if (out->count > 1)
			qsort(out->names, (size_t) out->count, sizeof(char *), compare_names);
	}
	return call_finish(call, rc);
}

void zk_blocking_children_free(struct zk_blocking_children *children)
{
	for (int i = 0; i < children->count; i++)
		free(children->names[i]);
	free(children->names);
	children->names = NULL;
	children->count = 0;
}
