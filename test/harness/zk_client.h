/*
 * A small synchronous ZooKeeper client for tests.  The blocking calls are
 * dcs/zk_blocking.c's (each issues the asynchronous request and drives
 * the library with poll() until the answer comes or the client's call
 * timeout passes, then it returns ZOPERATIONTIMEOUT); this layer adds what
 * only tests need: a fixed-buffer API, a log file for the library, and a
 * list of open clients.
 *
 * While one call waits, every open client is driven, and so is
 * harness_sleep_ms(): sessions of idle clients stay alive while a test
 * waits for something else.
 *
 * Every function returns the ZooKeeper rc (ZOK, ZNONODE, ZNODEEXISTS,
 * ZCONNECTIONLOSS, ZSESSIONEXPIRED, ZOPERATIONTIMEOUT...).  Clients still
 * open at harness_test_teardown()/harness_teardown() are closed there.
 */
#ifndef PGHERD_TEST_ZK_CLIENT_H
#define PGHERD_TEST_ZK_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <zookeeper/zookeeper.h>

struct zk_client;

/* Flags for zk_client_create(). */
#define ZK_CLIENT_PERSISTENT	0
#define ZK_CLIENT_EPHEMERAL	1
#define ZK_CLIENT_SEQUENTIAL	2
#define ZK_CLIENT_PARENTS	4	/* create missing parents (persistent) */

struct zk_client_children {
	int count;
	char **names;			/* sorted, owned */
};

/* Connect to hosts ("127.0.0.1:p1,127.0.0.1:p2") and wait up to timeout_ms
 * for the session.  timeout_ms is also the per-call timeout afterwards. */
int zk_client_connect(const char *hosts, int session_timeout_ms, int timeout_ms,
		      struct zk_client **out);
void zk_client_close(struct zk_client *c);
void zk_client_set_timeout(struct zk_client *c, int timeout_ms);

int64_t zk_client_session_id(const struct zk_client *c);
/* Negotiated session timeout (ms); 0 before the session is established. */
int zk_client_session_timeout(const struct zk_client *c);
/* Last session state seen: ZOO_CONNECTED_STATE, ZOO_CONNECTING_STATE,
 * ZOO_EXPIRED_SESSION_STATE... */
int zk_client_state(const struct zk_client *c);
const char *zk_client_state_name(int state);

/* data: NUL-terminated, truncated to buflen - 1 (stat->dataLength has the
 * real length).  data and stat may be NULL. */
int zk_client_get(struct zk_client *c, const char *path, char *data,
		  size_t buflen, struct Stat *stat);
/* version -1: any. */
int zk_client_set(struct zk_client *c, const char *path, const char *data,
		  int version, struct Stat *stat);
/* The name actually created (sequential nodes) goes to created_path when
 * not NULL. */
int zk_client_create(struct zk_client *c, const char *path, const char *data,
		     int flags, char *created_path, size_t created_len);
int zk_client_delete(struct zk_client *c, const char *path, int version);
/* Delete a node and everything under it (ZNONODE counts as done). */
int zk_client_delete_recursive(struct zk_client *c, const char *path);
int zk_client_exists(struct zk_client *c, const char *path, struct Stat *stat);
int zk_client_children(struct zk_client *c, const char *path,
		       struct zk_client_children *out);
void zk_client_children_free(struct zk_client_children *children);

/* Wait for something to happen on any open client, at most max_ms. */
void zk_client_drive_all(int max_ms);

/* Close every client opened after mark (0: all).  For the harness. */
void zk_client_close_since(uint64_t mark);
uint64_t zk_client_mark(void);

#endif
