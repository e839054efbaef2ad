/*
 * One ZooKeeper session driven from the libevent loop (libzookeeper_st, no
 * threads).  The session module owns the handle, re-arms the I/O event after
 * every library call, opens a new session when the server expires the old
 * one, and keeps the one fact that leadership safety rests on: the latest
 * moment the server is known to have heard from us (see docs/election.md).
 *
 * Internal to dcs/: the rest of the agent sees dcs/dcs.h only.
 */
#ifndef PGHERD_ZK_SESSION_H
#define PGHERD_ZK_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <zookeeper/zookeeper.h>

struct event_base;
struct zk_session;

struct zk_session_callbacks {
	/* A new session exists: every ephemeral znode and watch of an earlier
	 * one is gone. */
	void (*session_started)(void *arg);
	/* Connected again within the same session: ephemerals survive and the
	 * library has re-sent our watches. */
	void (*reconnected)(void *arg);
	/* The connection dropped; the session may still live on the server. */
	void (*disconnected)(void *arg);
	/* The server expired our session (or refused our credentials).  A new
	 * session is opened right after this returns. */
	void (*expired)(void *arg);
	/* A watch fired on a znode (not a session event). */
	void (*watch)(void *arg, int type, const char *path);
};

struct zk_session *zk_session_new(struct event_base *base, const char *connect_string,
				  int session_timeout_ms, const struct zk_session_callbacks *callbacks,
				  void *arg);
/* Closes the session, which makes the server delete our ephemeral znodes at
 * once.  Pending completions run with ZCLOSING before this returns. */
void zk_session_free(struct zk_session *session);

/* NULL unless connected.  After issuing requests call zk_session_flush(). */
zhandle_t *zk_session_handle(struct zk_session *session);
void zk_session_flush(struct zk_session *session);

bool zk_session_is_connected(const struct zk_session *session);
int64_t zk_session_id(const struct zk_session *session);
/* Negotiated session timeout, or the requested one before the first
 * connection. */
int zk_session_timeout_ms(const struct zk_session *session);
/* Close this session (the server drops our ephemerals at once) and open a
 * new one with another timeout: the timeout of a session cannot change.
 * The owner hears `expired`, then `session_started`. */
void zk_session_restart(struct zk_session *session, int session_timeout_ms);
int zk_session_requested_timeout_ms(const struct zk_session *session);
/* Changes each time a new session starts; completions of requests sent in an
 * older session compare it and drop their result. */
uint64_t zk_session_generation(const struct zk_session *session);

/*
 * Lease bookkeeping.  A request sent at time S that the server answered
 * proves the server heard from this session at or after S, so it cannot
 * expire the session before S + timeout.  Completions report answered
 * requests here; zk_session_lease_deadline_ms() is that bound (monotonic ms,
 * 0 when nothing has been confirmed in this session).
 */
void zk_session_confirm(struct zk_session *session, int64_t sent_at_ms);
int64_t zk_session_lease_deadline_ms(const struct zk_session *session);
/* Keep confirming with a cheap request every timeout/4 while connected
 * (leaders need a fresh lease; everyone else can do without). */
void zk_session_set_probing(struct zk_session *session, bool enabled);

/* Whether a completion's rc means the server answered (so the request
 * confirms the lease), as opposed to a connection or session failure. */
bool zk_rc_is_server_answer(int rc);

/*
 * Context of one asynchronous request.  Every completion in dcs/ starts with
 * zk_request_current(): it is false for replies that belong to an earlier
 * session or arrive while the handle closes (ZCLOSING), and it confirms the
 * lease when the server answered.  The completion then frees the request.
 */
struct zk_request {
	struct zk_session *session;
	uint64_t generation;
	int64_t sent_at_ms;
	void *owner;
	int kind;
	char *path;	/* owned copy, may be NULL */
};

struct zk_request *zk_request_new(struct zk_session *session, void *owner, int kind,
				  const char *path);
bool zk_request_current(const struct zk_request *request, int rc);
void zk_request_free(struct zk_request *request);

int64_t zk_now_ms(void);	/* CLOCK_MONOTONIC, ms */

#endif
