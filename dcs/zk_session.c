/*
 * ZooKeeper session on a libevent loop.
 *
 * The single-threaded client only sees time pass when we call it, so the
 * I/O event always carries the timeout the library asked for, and it is
 * non-persistent and re-armed after every library call: the library may
 * close or replace its socket inside any call (see the recipe in
 * ../shared/reference/c-style.md).
 *
 * The handle is never closed from inside a library callback: with the
 * library on the stack zookeeper_close() only marks it, and it is freed when
 * the callback returns.  Expiry sets want_reinit and activates a deferred
 * event that closes and re-creates the handle from the loop.
 *
 * Session events arrive on the global watcher only: per-call watchers in
 * dcs/ ignore ZOO_SESSION_EVENT, so each state change is handled once here.
 */
#include "dcs/zk_session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "agent/log.h"

#define ZK_RETRY_MIN_MS 100
#define ZK_RETRY_MAX_MS 2000

struct zk_session {
	struct event_base *base;
	char *connect_string;
	int requested_timeout_ms;
	struct zk_session_callbacks callbacks;
	void *arg;

	zhandle_t *handle;
	struct event io;		/* the library's socket, or a pure timer when it has none */
	struct event deferred;		/* close/re-create the handle outside library callbacks */
	struct event retry;		/* zookeeper_init() failed: try again later */
	struct event probe;		/* lease confirmation while probing */
	int fd;
	int retry_delay_ms;

	bool connected;
	bool ever_connected;		/* in this session: tells "reconnected" from "started" */
	bool want_reinit;
	bool probing;
	bool probe_in_flight;
	int64_t session_id;
	uint64_t generation;
	int64_t confirmed_at_ms;	/* latest send time of an answered request, this session */
};

static void io_cb(evutil_socket_t fd, short what, void *arg);
static void rearm(struct zk_session *s);
static void open_handle(struct zk_session *s);

int64_t zk_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool zk_rc_is_server_answer(int rc)
{
	return rc == ZOK || rc == ZNONODE || rc == ZNODEEXISTS || rc == ZBADVERSION ||
	       rc == ZNOTEMPTY || rc == ZNOCHILDRENFOREPHEMERALS;
}

static const char *state_name(int state)
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
		return "auth_failed";
	if (state == ZOO_READONLY_STATE)
		return "read_only";
	return "not_connected";
}

/*
 * The library's log lines look like
 *   2026-11-24 01:07:40,123:4242(0x7f..):ZOO_ERROR@handle_socket_error_msg@2185: Socket ...
 * Keep the text after the "@function@line: " part and map the level.
 */
static void library_log(const char *message)
{
	enum log_level level = LOG_LEVEL_DEBUG;
	const char *text = message;
	const char *tag = strstr(message, "ZOO_");

	if (tag) {
		if (strncmp(tag, "ZOO_ERROR", 9) == 0)
			level = LOG_LEVEL_ERROR;
		else if (strncmp(tag, "ZOO_WARN", 8) == 0)
			level = LOG_LEVEL_WARNING;
		else if (strncmp(tag, "ZOO_INFO", 8) == 0)
			level = LOG_LEVEL_INFO;
		const char *colon = strstr(tag, ": ");
		if (colon)
			text = colon + 2;
	}
	/* The client reports every failed connection attempt as an error;
	 * dcs.* events already say that the connection is down. */
	if (level == LOG_LEVEL_ERROR && strstr(text, "failed to connect") == NULL &&
	    strstr(text, "Socket") == NULL && strstr(text, "socket") == NULL)
		log_error("zookeeper.log", LF_STR("message", text));
	else
		log_write(level == LOG_LEVEL_ERROR ? LOG_LEVEL_WARNING : level, "zookeeper.log",
			  LOG_FIELDS(LF_STR("message", text)));
}

struct zk_request *zk_request_new(struct zk_session *session, void *owner, int kind,
				  const char *path)
{
	struct zk_request *r = calloc(1, sizeof(*r));

	if (!r) {
		log_error("dcs.out_of_memory", LF_STR("path", path ? path : ""));
		return NULL;
	}
	if (path && (r->path = strdup(path)) == NULL) {
		log_error("dcs.out_of_memory", LF_STR("path", path));
		free(r);
		return NULL;
	}
	r->session = session;
	r->generation = session->generation;
	r->sent_at_ms = zk_now_ms();
	r->owner = owner;
	r->kind = kind;
	return r;
}

bool zk_request_current(const struct zk_request *r, int rc)
{
	if (rc == ZCLOSING || r->generation != r->session->generation)
		return false;
	if (zk_rc_is_server_answer(rc))
		zk_session_confirm(r->session, r->sent_at_ms);
	return true;
}

void zk_request_free(struct zk_request *r)
{
	if (!r)
		return;
	free(r->path);
	free(r);
}

static void probe_done(int rc, const struct Stat *stat, const void *data)
{
	(void) stat;
	struct zk_request *probe = (struct zk_request *) data;

	if (zk_request_current(probe, rc))
		probe->session->probe_in_flight = false;
	zk_request_free(probe);
}

static void probe_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct zk_session *s = arg;
	struct zk_request *probe;
	int interval_ms = zk_session_timeout_ms(s) / 4;
	struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };

	if (!s->probing)
		return;
	evtimer_add(&s->probe, &tv);
	if (!s->connected || s->probe_in_flight)
		return;
	probe = zk_request_new(s, s, 0, NULL);
	if (!probe)
		return;
	/* exists("/") is the cheapest request the server must answer. */
	if (zoo_aexists(s->handle, "/", 0, probe_done, probe) != ZOK) {
		zk_request_free(probe);
		return;
	}
	s->probe_in_flight = true;
	zk_session_flush(s);
}

void zk_session_set_probing(struct zk_session *s, bool enabled)
{
	if (enabled == s->probing)
		return;
	s->probing = enabled;
	if (enabled)
		event_active(&s->probe, EV_TIMEOUT, 0);
	else
		evtimer_del(&s->probe);
}

void zk_session_confirm(struct zk_session *s, int64_t sent_at_ms)
{
	if (sent_at_ms > s->confirmed_at_ms)
		s->confirmed_at_ms = sent_at_ms;
}

int64_t zk_session_lease_deadline_ms(const struct zk_session *s)
{
	if (s->confirmed_at_ms == 0)
		return 0;
	return s->confirmed_at_ms + zk_session_timeout_ms(s);
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct zk_session *s = ctx;

	if (zh != s->handle)
		return;
	if (type != ZOO_SESSION_EVENT) {
		if (s->callbacks.watch)
			s->callbacks.watch(s->arg, type, path);
		return;
	}

	if (state == ZOO_CONNECTED_STATE) {
		const clientid_t *id = zoo_client_id(zh);
		bool same = s->ever_connected && id->client_id == s->session_id;
		s->connected = true;
		s->retry_delay_ms = ZK_RETRY_MIN_MS;
		if (same) {
			log_info("dcs.reconnected", LF_HEX("session", s->session_id),
				 LF_INT("session_timeout_ms", zoo_recv_timeout(zh)));
			if (s->callbacks.reconnected)
				s->callbacks.reconnected(s->arg);
		} else {
			s->session_id = id->client_id;
			s->ever_connected = true;
			s->generation++;
			s->confirmed_at_ms = 0;
			s->probe_in_flight = false;
			log_info("dcs.connected", LF_HEX("session", s->session_id),
				 LF_INT("session_timeout_ms", zoo_recv_timeout(zh)),
				 LF_INT("requested_timeout_ms", s->requested_timeout_ms));
			if (s->callbacks.session_started)
				s->callbacks.session_started(s->arg);
		}
		if (s->probing)
			event_active(&s->probe, EV_TIMEOUT, 0);
	} else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
		if (s->connected) {
			s->connected = false;
			log_warning("dcs.disconnected", LF_HEX("session", s->session_id));
			if (s->callbacks.disconnected)
				s->callbacks.disconnected(s->arg);
		}
	} else if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
		s->connected = false;
		if (state == ZOO_EXPIRED_SESSION_STATE)
			log_warning("dcs.session_expired", LF_HEX("session", s->session_id));
		else
			log_error("dcs.auth_failed", LF_HEX("session", s->session_id));
		s->ever_connected = false;
		if (s->callbacks.expired)
			s->callbacks.expired(s->arg);
		s->want_reinit = true;
		event_active(&s->deferred, EV_TIMEOUT, 0);
	} else {
		log_debug("dcs.state", LF_STR("state", state_name(state)));
	}
}

static void close_handle(struct zk_session *s)
{
	zhandle_t *handle = s->handle;

	event_del(&s->io);
	s->fd = -1;
	s->connected = false;
	s->handle = NULL;
	if (handle) {
		/* Completions still pending run now with ZCLOSING; the generation
		 * bump makes their owners drop them. */
		s->generation++;
		zookeeper_close(handle);
	}
}

static void schedule_retry(struct zk_session *s)
{
	struct timeval tv = { s->retry_delay_ms / 1000, (s->retry_delay_ms % 1000) * 1000 };
	evtimer_add(&s->retry, &tv);
	s->retry_delay_ms *= 2;
	if (s->retry_delay_ms > ZK_RETRY_MAX_MS)
		s->retry_delay_ms = ZK_RETRY_MAX_MS;
}

static void open_handle(struct zk_session *s)
{
	s->handle = zookeeper_init2(s->connect_string, session_watcher, s->requested_timeout_ms,
				    NULL, s, ZOO_NO_LOG_CLIENTENV, library_log);
	if (s->handle == NULL) {
		/* Host resolution failed or the string is bad: retry with
		 * backoff rather than give up, ZooKeeper may come later. */
		log_error("dcs.init_failed", LF_STR("hosts", s->connect_string),
			  LF_STR("error", strerror(errno)), LF_INT("retry_in_ms", s->retry_delay_ms));
		schedule_retry(s);
		return;
	}
	rearm(s);
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct zk_session *s = arg;

	if (!s->want_reinit)
		return;
	s->want_reinit = false;
	close_handle(s);
	open_handle(s);
}

void zk_session_restart(struct zk_session *s, int session_timeout_ms)
{
	s->requested_timeout_ms = session_timeout_ms;
	/* As after an expiry: the owner forgets what the old session held,
	 * then a new one is opened (outside any library callback). */
	s->connected = false;
	s->ever_connected = false;
	if (s->callbacks.expired)
		s->callbacks.expired(s->arg);
	s->want_reinit = true;
	event_active(&s->deferred, EV_TIMEOUT, 0);
}

int zk_session_requested_timeout_ms(const struct zk_session *s)
{
	return s->requested_timeout_ms;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct zk_session *s = arg;
	if (s->handle == NULL)
		open_handle(s);
}

static void rearm(struct zk_session *s)
{
	int fd = -1;
	int interest = 0;
	struct timeval tv = { 1, 0 };
	short events = 0;
	int rc;

	if (s->handle == NULL || s->want_reinit)
		return;
	rc = zookeeper_interest(s->handle, &fd, &interest, &tv);
	if (s->handle == NULL || s->want_reinit)
		return;	/* a callback inside the library asked for a new handle */
	if (rc == ZINVALIDSTATE && (zoo_state(s->handle) == ZOO_EXPIRED_SESSION_STATE ||
				    zoo_state(s->handle) == ZOO_AUTH_FAILED_STATE)) {
		/* Unrecoverable handle whose watcher has not run: start over.
		 * (From interest, ZINVALIDSTATE can also just mean "no socket
		 * right now"; the state tells the two apart.) */
		s->want_reinit = true;
		event_active(&s->deferred, EV_TIMEOUT, 0);
		return;
	}
	if (rc != ZOK) {
		/* fd may name a socket the library just closed; poll soon. */
		fd = -1;
		tv = (struct timeval){ 0, 50000 };
	}
	if (fd >= 0) {
		if (interest & ZOOKEEPER_READ)
			events |= EV_READ;
		if (interest & ZOOKEEPER_WRITE)
			events |= EV_WRITE;
	}
	event_del(&s->io);
	event_assign(&s->io, s->base, fd >= 0 ? fd : -1, events, io_cb, s);
	event_add(&s->io, &tv);
	s->fd = fd;
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	struct zk_session *s = arg;
	int events = 0;

	if (what & EV_READ)
		events |= ZOOKEEPER_READ;
	if (what & EV_WRITE)
		events |= ZOOKEEPER_WRITE;
	/* Called on timeouts too: the library pings and detects dead servers
	 * only from inside these calls. */
	if (s->handle && s->fd >= 0)
		(void) zookeeper_process(s->handle, events);
	rearm(s);
}

void zk_session_flush(struct zk_session *s)
{
	rearm(s);
}

struct zk_session *zk_session_new(struct event_base *base, const char *connect_string,
				  int session_timeout_ms, const struct zk_session_callbacks *callbacks,
				  void *arg)
{
	struct zk_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->connect_string = strdup(connect_string);
	if (!s->connect_string) {
		free(s);
		return NULL;
	}
	s->base = base;
	s->requested_timeout_ms = session_timeout_ms;
	s->callbacks = *callbacks;
	s->arg = arg;
	s->fd = -1;
	s->retry_delay_ms = ZK_RETRY_MIN_MS;
	event_assign(&s->io, base, -1, 0, io_cb, s);
	event_assign(&s->deferred, base, -1, 0, deferred_cb, s);
	evtimer_assign(&s->retry, base, retry_cb, s);
	evtimer_assign(&s->probe, base, probe_cb, s);
	zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
	open_handle(s);
	return s;
}

void zk_session_free(struct zk_session *s)
{
	if (!s)
		return;
	event_del(&s->deferred);
	event_del(&s->retry);
	event_del(&s->probe);
	close_handle(s);
	free(s->connect_string);
	free(s);
}

zhandle_t *zk_session_handle(struct zk_session *s)
{
	return s->connected ? s->handle : NULL;
}

bool zk_session_is_connected(const struct zk_session *s) { return s->connected; }
int64_t zk_session_id(const struct zk_session *s) { return s->session_id; }
uint64_t zk_session_generation(const struct zk_session *s) { return s->generation; }

int zk_session_timeout_ms(const struct zk_session *s)
{
	if (s->handle && s->ever_connected) {
		int negotiated = zoo_recv_timeout(s->handle);
		if (negotiated > 0)
			return negotiated;
	}
	return s->requested_timeout_ms;
}
