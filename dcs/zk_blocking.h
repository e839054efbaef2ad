/*
 * A blocking ZooKeeper client on top of the single-threaded libzookeeper_st
 * (which only has asynchronous zoo_a* calls), for programs that may wait:
 * pgherdctl and the test harness.  The agent never uses it: its loop must
 * not block (see dcs/zk_session.c).
 *
 * Each call issues the asynchronous request and drives the library with
 * poll() until the answer comes or the client's call timeout passes (then
 * it returns ZOPERATIONTIMEOUT).  No threads.  By default a waiting call
 * drives only its own client; a program holding several clients may
 * install a wait function that drives all of them (the harness does, so
 * that idle sessions keep their pings while one call waits).
 *
 * Every function returns the ZooKeeper rc (ZOK, ZNONODE, ZNODEEXISTS,
 * ZBADVERSION, ZCONNECTIONLOSS, ZSESSIONEXPIRED, ZOPERATIONTIMEOUT...).
 * The module never logs: the ZooKeeper library's own log settings
 * (zoo_set_debug_level, zoo_set_log_stream) are the caller's.
 */
#ifndef PGHERD_DCS_ZK_BLOCKING_H
#define PGHERD_DCS_ZK_BLOCKING_H

#include <stddef.h>
#include <stdint.h>

#include <zookeeper/zookeeper.h>

struct zk_blocking;

/* Flags for zk_blocking_create(). */
#define ZK_BLOCKING_PERSISTENT 0
#define ZK_BLOCKING_EPHEMERAL 1
#define ZK_BLOCKING_SEQUENTIAL 2
#define ZK_BLOCKING_PARENTS 4 /* create missing parents (persistent, empty) */

struct zk_blocking_children {
	int count;
	char **names; /* sorted, owned */
};

/*
 * Connect to hosts ("h1:2181,h2:2181") and wait up to timeout_ms for the
 * session; timeout_ms is also the per-call timeout afterwards.  Returns ZOK
 * with *out set, or: ZOPERATIONTIMEOUT (no session in time), ZSESSIONEXPIRED,
 * ZAUTHFAILED, ZSYSTEMERROR (zookeeper_init failed: errno tells why, e.g.
 * EINVAL for a malformed host list).
 */
int zk_blocking_connect(const char *hosts, int session_timeout_ms, int timeout_ms,
			struct zk_blocking **out);
void zk_blocking_close(struct zk_blocking *c);
void zk_blocking_set_timeout(struct zk_blocking *c, int timeout_ms);

int64_t zk_blocking_session_id(const struct zk_blocking *c);
/* Negotiated session timeout (ms); 0 before the session is established. */
int zk_blocking_session_timeout(const struct zk_blocking *c);
/* Last session state seen: ZOO_CONNECTED_STATE, ZOO_CONNECTING_STATE,
 * ZOO_EXPIRED_SESSION_STATE... */
int zk_blocking_state(const struct zk_blocking *c);
const char *zk_blocking_state_name(int state);

/* *data gets a malloc'd copy of the value, NUL-terminated (the caller
 * frees it), *length its length (0 for an empty or data-less znode).  data,
 * length and stat may be NULL. */
int zk_blocking_get(struct zk_blocking *c, const char *path, char **data, int *length,
		    struct Stat *stat);
/* data NULL (length ignored) stores no data; version -1: any. */
int zk_blocking_set(struct zk_blocking *c, const char *path, const char *data, int length,
		    int version, struct Stat *stat);
/* The name actually created (sequential nodes) goes to created_path when
 * not NULL. */
int zk_blocking_create(struct zk_blocking *c, const char *path, const char *data, int length,
		       int flags, char *created_path, size_t created_size);
int zk_blocking_delete(struct zk_blocking *c, const char *path, int version);
/* Delete a node and everything under it (ZNONODE counts as done).  "/"
 * keeps itself and /zookeeper. */
int zk_blocking_delete_recursive(struct zk_blocking *c, const char *path);
int zk_blocking_exists(struct zk_blocking *c, const char *path, struct Stat *stat);
int zk_blocking_children(struct zk_blocking *c, const char *path,
			 struct zk_blocking_children *out);
void zk_blocking_children_free(struct zk_blocking_children *children);

/*
 * One round of I/O for a set of clients: wait at most max_ms for any of
 * them to have something to do, then let the library process it (and its
 * timers, pings included).  Completions run in here.
 */
void zk_blocking_drive(struct zk_blocking *const *clients, size_t count, int max_ms);

/* What a waiting call runs, repeatedly, until its answer is in.  NULL
 * (the default) drives only the waiting client. */
typedef void zk_blocking_wait_fn(int max_ms);
void zk_blocking_set_wait(zk_blocking_wait_fn *wait);

#endif /* PGHERD_DCS_ZK_BLOCKING_H */
