/*
 * The agent's eyes on its own PostgreSQL: one asynchronous libpq connection
 * driven by the agent's libevent loop.
 *
 * Life of a connection:
 *
 *   DISCONNECTED --retry timer / wake--> CONNECTING (PQconnectPoll, then the
 *   first query) --first answer--> CONNECTED --EOF, error, timeout--> lost,
 *   DISCONNECTED, retry with backoff (100 ms doubling to 2 s).
 *
 * Only non-blocking libpq calls are used: PQconnectStartParams and
 * PQconnectPoll, PQsendQueryParams and PQflush in non-blocking mode,
 * PQconsumeInput, PQisBusy, and PQgetResult only when PQisBusy says it will
 * not wait.  PQfinish does not wait either: libpq's socket is always
 * non-blocking and in non-blocking mode the Terminate message is sent only
 * if the kernel takes it at once.  PQcancel is not used: it opens a second
 * connection synchronously, and a server that does not answer our query
 * would not answer that one either; a query that outlives query_timeout_ms
 * abandons the connection instead.
 *
 * The I/O event is non-persistent and re-armed after every libpq call, as in
 * dcs/zk_session.c: PQconnectPoll may close the socket and open another one
 * (the same descriptor number, often), and a registration must not outlive
 * the descriptor it was made for.  While connected, the event always
 * includes EV_READ, between queries too: a postmaster that dies takes our
 * backend with it, the socket reports end-of-file at once, and we report
 * the loss without waiting for the next query.
 *
 * User callbacks may free the monitor.  Every event callback holds a depth
 * count; pg_monitor_free() from inside a callback closes everything at once
 * and leaves the free() to the outermost event callback, which checks
 * m->freed after each user callback.
 */
#include "pg/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <libpq-fe.h>

#include "agent/log.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000
#define MESSAGE_MAX 256

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * One round trip tells everything.  Notes on the choices:
 *
 * - pg_is_in_recovery() is read once, in a CTE: a promotion may end while
 *   the query runs, and every branch must agree on which kind of server
 *   answered.  A CTE that calls volatile functions is evaluated once and
 *   never folded into the outer query (documented in "WITH Queries"), so
 *   each function below runs exactly once.  Recovery only ever ends, so a
 *   "false" cannot turn stale; after a "true", the replica functions still
 *   work once promoted, except pg_is_wal_replay_paused(), which then fails
 *   the query (the next one succeeds).
 *
 * - LSNs arrive as numeric text (lsn - '0/0'), bytes, as Patroni keeps them.
 *
 * - Timeline.  pg_control_checkpoint() lags: after a promotion its
 *   timeline_id stays the old one until the end-of-recovery checkpoint
 *   completes, and on a replica until the next restartpoint.  So:
 *   primary: the timeline it inserts WAL on, the first 8 hex digits of
 *     pg_walfile_name(pg_current_wal_lsn()), which changes the moment the
 *     promotion ends;
 *   replica streaming (or with a receiver that has received): received_tli
 *     of pg_stat_get_wal_receiver(), the timeline it follows;
 *   replica without a receiver: pg_walfile_name() refuses to run during
 *     recovery and no function returns the replay timeline, so the control
 *     file's best guess, max(checkpoint timeline, min recovery point
 *     timeline), flagged PG_TIMELINE_CONTROL_FILE so the caller knows it
 *     may lag a timeline switch that was replayed moments ago.
 *   The primary falls back to the checkpoint timeline should the WAL file
 *   name be missing (never seen).
 *
 * - receiver status and received_tli need superuser or pg_read_all_stats,
 *   like pg_stat_replication's details; the agent connects as superuser.
 *
 * - pg_stat_replication rows are joined to the single status row, so one
 *   statement returns both; row 0 always exists (LEFT JOIN ... ON true).
 */
static const char STATUS_SQL[] =
	"WITH r AS (SELECT pg_catalog.pg_is_in_recovery() AS in_recovery),\n"
	"s AS (\n"
	" SELECT r.in_recovery,\n"
	"  CASE WHEN NOT r.in_recovery THEN pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()) END AS walfile,\n"
	"  CASE WHEN NOT r.in_recovery THEN pg_catalog.pg_current_wal_flush_lsn() - '0/0'::pg_lsn END AS flush_lsn,\n"
	"  CASE WHEN r.in_recovery THEN pg_catalog.pg_last_wal_receive_lsn() - '0/0'::pg_lsn END AS receive_lsn,\n"
	"  CASE WHEN r.in_recovery THEN pg_catalog.pg_last_wal_replay_lsn() - '0/0'::pg_lsn END AS replay_lsn,\n"
	"  CASE WHEN r.in_recovery THEN (extract(epoch FROM pg_catalog.pg_last_xact_replay_timestamp()) * 1000)::int8 END AS last_replay_ms,\n"
	"  CASE WHEN r.in_recovery THEN pg_catalog.pg_is_wal_replay_paused() END AS replay_paused,\n"
	"  w.status AS receiver_status,\n"
	"  w.received_tli,\n"
	"  c.timeline_id AS checkpoint_tli,\n"
	"  v.min_recovery_end_timeline AS min_recovery_tli,\n"
	"  y.system_identifier,\n"
	"  pg_catalog.to_char(pg_catalog.pg_postmaster_start_time() AT TIME ZONE 'UTC',\n"
	"                     'YYYY-MM-DD HH24:MI:SS.US\"+00:00\"') AS postmaster_start_time\n"
	" FROM r, pg_catalog.pg_control_system() y, pg_catalog.pg_control_checkpoint() c,\n"
	"  pg_catalog.pg_control_recovery() v\n"
	"  LEFT JOIN pg_catalog.pg_stat_get_wal_receiver() w ON true\n"
	")\n"
	"SELECT s.*, t.standby_count, t.application_name, t.state, t.sync_state,\n"
	" t.standby_flush_lsn, t.standby_replay_lsn\n"
	"FROM s LEFT JOIN (\n"
	" SELECT count(*) OVER () AS standby_count, application_name, state, sync_state,\n"
	"  flush_lsn - '0/0'::pg_lsn AS standby_flush_lsn, replay_lsn - '0/0'::pg_lsn AS standby_replay_lsn\n"
	" FROM pg_catalog.pg_stat_replication\n"
	" ORDER BY application_name LIMIT " STR(PG_MONITOR_MAX_STANDBYS) "\n"
	") t ON true";

struct pg_monitor {
	struct event_base *base;
	char **keywords;		/* NULL-terminated, owned */
	char **values;			/* same length; entries may be NULL */
	int interval_ms;
	int connect_timeout_ms;
	int query_timeout_ms;
	struct pg_monitor_callbacks callbacks;
	void *arg;

	PGconn *conn;
	enum pg_monitor_state state;
	bool handshake;			/* PQconnectPoll has not said OK yet */
	short poll_events;		/* what the last PQconnectPoll waits for */
	bool want_write;		/* PQflush has more to send */
	bool query_in_flight;
	bool refresh_pending;
	int64_t query_sent_ms;
	PGresult *result;		/* the status rows, while the query completes */
	char query_error[MESSAGE_MAX];	/* an error result of the query in flight */
	char query_sqlstate[6];
	char fatal_notice[MESSAGE_MAX];	/* why the server is ending our session */

	struct event io;		/* the connection's socket, non-persistent */
	bool io_added;
	struct event deadline;		/* connect or query timeout */
	struct event retry;		/* next connection attempt */
	struct event next_query;	/* the interval, or a refresh */
	int retry_delay_ms;

	/* Rate limits: a message is logged when it differs from the last. */
	char last_connect_error[MESSAGE_MAX];
	char last_query_error[MESSAGE_MAX];

	bool have_status;
	int64_t status_ms;
	struct pg_monitor_status status;
	struct pg_monitor_status scratch;	/* parsed here, copied on success */

	int depth;			/* event callbacks on the stack */
	bool freed;			/* pg_monitor_free() ran inside a callback */
};

static void io_cb(evutil_socket_t fd, short what, void *arg);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm_timer(struct event *ev, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	/* Fails only when libevent cannot grow its timer heap. */
	if (evtimer_add(ev, &tv) != 0)
		log_error("pg.out_of_memory", LF_STR("context", "timer"));
}

/* libpq's messages span lines (a hint after a tab); the first says it. */
static void copy_first_line(char *dst, size_t size, const char *src)
{
	size_t n;

	if (src == NULL)
		src = "";
	while (*src == ' ' || *src == '\t' || *src == '\n')
		src++;
	n = strcspn(src, "\n");
	while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\r'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* --- Notices ------------------------------------------------------------------ */

static enum log_level notice_level(const char *severity)
{
	if (strcmp(severity, "WARNING") == 0)
		return LOG_LEVEL_WARNING;
	if (strcmp(severity, "ERROR") == 0 || strcmp(severity, "FATAL") == 0 ||
	    strcmp(severity, "PANIC") == 0)
		return LOG_LEVEL_ERROR;
	if (strncmp(severity, "DEBUG", 5) == 0)
		return LOG_LEVEL_DEBUG;
	return LOG_LEVEL_INFO;	/* NOTICE, INFO, LOG */
}

/*
 * Notices, and the errors a server sends while we are idle: the FATAL that
 * precedes a session's end ("terminating connection due to administrator
 * command") is kept as the reason of the loss that follows at once, and
 * logged there rather than twice.
 */
static void notice_receiver(void *arg, const PGresult *res)
{
	struct pg_monitor *m = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char text[MESSAGE_MAX];

	if (severity == NULL)
		severity = PQresultErrorField(res, PG_DIAG_SEVERITY);
	if (severity == NULL)
		severity = "NOTICE";
	copy_first_line(text, sizeof(text), message ? message : PQresultErrorMessage(res));
	if (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0) {
		snprintf(m->fatal_notice, sizeof(m->fatal_notice), "%s", text);
		return;
	}
	log_write(notice_level(severity), "pg.notice",
		  LOG_FIELDS(LF_STR("severity", severity), LF_STR("message", text),
			     LF_STR("sqlstate", sqlstate ? sqlstate : "")));
}

/* --- The connection ----------------------------------------------------------- */

/* Watch the socket for what libpq waits for now; false if it has none. */
static bool rearm(struct pg_monitor *m)
{
	short events;
	int fd;

	if (m->io_added) {
		event_del(&m->io);
		m->io_added = false;
	}
	fd = PQsocket(m->conn);
	if (fd < 0)
		return false;
	if (m->handshake)
		events = m->poll_events;
	else
		events = EV_READ | (m->want_write ? EV_WRITE : 0);
	event_assign(&m->io, m->base, fd, events, io_cb, m);
	if (event_add(&m->io, NULL) != 0)
		return false;
	m->io_added = true;
	return true;
}

/* Drop the connection and everything that belongs to it. */
static void close_conn(struct pg_monitor *m)
{
	/* Before PQfinish closes the descriptor the event names. */
	if (m->io_added) {
		event_del(&m->io);
		m->io_added = false;
	}
	evtimer_del(&m->deadline);
	evtimer_del(&m->next_query);
	PQclear(m->result);
	m->result = NULL;
	PQfinish(m->conn);
	m->conn = NULL;
	m->handshake = false;
	m->want_write = false;
	m->query_in_flight = false;
	m->refresh_pending = false;
	m->query_error[0] = '\0';
	m->fatal_notice[0] = '\0';
	m->state = PG_MONITOR_DISCONNECTED;
}

static void schedule_retry(struct pg_monitor *m)
{
	arm_timer(&m->retry, m->retry_delay_ms);
	m->retry_delay_ms *= 2;
	if (m->retry_delay_ms > RETRY_MAX_MS)
		m->retry_delay_ms = RETRY_MAX_MS;
}

/* An attempt failed before the server answered a query on it. */
static void connect_failed(struct pg_monitor *m, const char *error)
{
	char text[MESSAGE_MAX];
	int retry_in_ms = m->retry_delay_ms;

	copy_first_line(text, sizeof(text), error);
	close_conn(m);
	schedule_retry(m);
	/* The server being down is one fact, however often we retry. */
	if (strcmp(text, m->last_connect_error) != 0) {
		snprintf(m->last_connect_error, sizeof(m->last_connect_error), "%s", text);
		log_warning("pg.connect_failed", LF_STR("error", text),
			    LF_INT("retry_in_ms", retry_in_ms));
	}
}

/* A connection that had answered is gone. */
static void connection_lost(struct pg_monitor *m, const char *reason)
{
	char text[MESSAGE_MAX];

	copy_first_line(text, sizeof(text), reason);
	close_conn(m);
	m->status.reachable = false;
	m->last_connect_error[0] = '\0';	/* log the first failure to come back */
	schedule_retry(m);
	log_warning("pg.connection_lost", LF_STR("reason", text));
	if (m->callbacks.lost) {
		m->callbacks.lost(m->arg, text);
		/* Nothing follows: a freed monitor is left alone by callers. */
	}
}

static void fail(struct pg_monitor *m, const char *reason)
{
	if (m->state == PG_MONITOR_CONNECTED)
		connection_lost(m, reason);
	else
		connect_failed(m, reason);
}

/* Why the socket failed: the server's last word if it sent one. */
static void fail_from_conn(struct pg_monitor *m)
{
	char reason[MESSAGE_MAX];

	/* The server's goodbye may still sit unparsed in libpq's buffer: a
	 * FATAL often arrives in the same read as the end-of-file.  Parsing
	 * (PQisBusy) hands it to notice_receiver.  Not during the handshake:
	 * the buffer then holds startup messages. */
	if (!m->handshake)
		(void) PQisBusy(m->conn);
	if (m->fatal_notice[0] != '\0')
		snprintf(reason, sizeof(reason), "%s", m->fatal_notice);
	else
		copy_first_line(reason, sizeof(reason), PQerrorMessage(m->conn));
	if (reason[0] == '\0')
		snprintf(reason, sizeof(reason), "connection broken");
	fail(m, reason);
}

static void start_connect(struct pg_monitor *m)
{
	m->conn = PQconnectStartParams((const char *const *) m->keywords,
				       (const char *const *) m->values, 0);
	if (m->conn == NULL) {
		log_error("pg.out_of_memory", LF_STR("context", "connection"));
		schedule_retry(m);
		return;
	}
	m->state = PG_MONITOR_CONNECTING;
	m->handshake = true;
	if (PQstatus(m->conn) == CONNECTION_BAD) {
		/* Invalid options, or the socket could not be created. */
		fail_from_conn(m);
		return;
	}
	PQsetNoticeReceiver(m->conn, notice_receiver, m);
	/* libpq's own connect_timeout only works for blocking connects. */
	arm_timer(&m->deadline, m->connect_timeout_ms);
	/* As the libpq manual says: start as if the poll asked for writing. */
	m->poll_events = EV_WRITE;
	if (!rearm(m))
		fail_from_conn(m);
}

/* --- The status query --------------------------------------------------------- */

/* Send what PQflush can; keep EV_WRITE while it has more.  False: failed
 * (handled). */
static bool flush(struct pg_monitor *m)
{
	int rc = PQflush(m->conn);

	if (rc < 0) {
		fail_from_conn(m);
		return false;
	}
	m->want_write = rc == 1;
	return true;
}

static void send_query(struct pg_monitor *m)
{
	if (!PQsendQueryParams(m->conn, STATUS_SQL, 0, NULL, NULL, NULL, NULL, 0)) {
		fail_from_conn(m);
		return;
	}
	m->query_in_flight = true;
	m->query_sent_ms = now_ms();
	m->query_error[0] = '\0';
	m->query_sqlstate[0] = '\0';
	arm_timer(&m->deadline, m->query_timeout_ms);
	if (flush(m) && !rearm(m))
		fail_from_conn(m);
}

struct result_rows {
	const PGresult *res;
};

static const char *result_value(void *ctx, int row, const char *column, bool *found)
{
	const PGresult *res = ((struct result_rows *) ctx)->res;
	int col = PQfnumber(res, column);

	*found = col >= 0;
	if (col < 0 || row < 0 || row >= PQntuples(res) || PQgetisnull(res, row, col))
		return NULL;
	return PQgetvalue(res, row, col);
}

/* sqlstate is the server's, "" when the answer did not parse. */
static void query_failed(struct pg_monitor *m, const char *error, const char *sqlstate)
{
	char text[MESSAGE_MAX];

	copy_first_line(text, sizeof(text), error);
	/* The same failure every interval is one fact. */
	if (strcmp(text, m->last_query_error) != 0) {
		snprintf(m->last_query_error, sizeof(m->last_query_error), "%s", text);
		log_warning("pg.query_failed", LF_STR("error", text), LF_STR("sqlstate", sqlstate));
	}
}

/* The query's last result is in: publish it, then plan the next one. */
static void query_done(struct pg_monitor *m)
{
	PGresult *res = m->result;
	char err[MESSAGE_MAX] = "";
	const char *sqlstate = "";
	bool ok = false;

	m->result = NULL;
	m->query_in_flight = false;
	evtimer_del(&m->deadline);
	if (PQstatus(m->conn) == CONNECTION_BAD) {
		PQclear(res);
		fail_from_conn(m);
		return;
	}
	if (res != NULL && m->query_error[0] == '\0') {
		struct result_rows ctx = { res };
		struct pg_monitor_rows rows = { PQntuples(res), result_value, &ctx };

		ok = pg_monitor_parse_status(&rows, &m->scratch, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err), "%s", m->query_error[0] ? m->query_error : "no result");
		sqlstate = m->query_sqlstate;
	}
	PQclear(res);

	if (!ok) {
		query_failed(m, err, sqlstate);
	} else {
		m->scratch.reachable = true;
		m->scratch.server_version = PQserverVersion(m->conn);
		m->scratch.query_ms = now_ms() - m->query_sent_ms;
		m->status = m->scratch;
		m->status_ms = now_ms();
		m->have_status = true;
		m->last_query_error[0] = '\0';
		if (m->state != PG_MONITOR_CONNECTED) {
			m->state = PG_MONITOR_CONNECTED;
			m->retry_delay_ms = RETRY_MIN_MS;
			m->last_connect_error[0] = '\0';
			log_info("pg.connected", LF_INT("server_version", m->status.server_version),
				 LF_BOOL("in_recovery", m->status.in_recovery));
		}
		if (m->callbacks.status) {
			m->callbacks.status(m->arg, &m->status);
			if (m->freed || m->conn == NULL)
				return;
		}
	}
	if (m->query_in_flight)
		return;		/* the callback refreshed */
	if (m->refresh_pending) {
		m->refresh_pending = false;
		send_query(m);
	} else if (!evtimer_pending(&m->next_query, NULL)) {
		arm_timer(&m->next_query, m->interval_ms);
	}
}

/* An error result: the query failed, or the server is ending the session
 * (a FATAL that arrives while a query runs is its result, not a notice). */
static void note_error(struct pg_monitor *m, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (severity != NULL && message != NULL &&
	    (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0))
		copy_first_line(m->fatal_notice, sizeof(m->fatal_notice), message);
	if (m->query_error[0] == '\0') {
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		copy_first_line(m->query_error, sizeof(m->query_error),
				message ? message : PQresultErrorMessage(res));
		if (m->query_error[0] == '\0')
			snprintf(m->query_error, sizeof(m->query_error), "query failed");
		snprintf(m->query_sqlstate, sizeof(m->query_sqlstate), "%s", sqlstate ? sqlstate : "");
	}
}

/* Take what has arrived; finish the query when its results are complete. */
static void collect(struct pg_monitor *m)
{
	while (m->query_in_flight && !PQisBusy(m->conn)) {
		PGresult *res = PQgetResult(m->conn);
		ExecStatusType status;

		if (res == NULL) {
			query_done(m);
			return;
		}
		status = PQresultStatus(res);
		if (status == PGRES_TUPLES_OK && m->result == NULL) {
			m->result = res;
			continue;
		}
		if (status != PGRES_TUPLES_OK)
			note_error(m, res);
		PQclear(res);
	}
}

/* --- Event callbacks ---------------------------------------------------------- */

static void destroy(struct pg_monitor *m);

static void enter(struct pg_monitor *m)
{
	m->depth++;
}

static void leave(struct pg_monitor *m)
{
	if (--m->depth == 0 && m->freed)
		destroy(m);
}

static void continue_connect(struct pg_monitor *m)
{
	switch (PQconnectPoll(m->conn)) {
	case PGRES_POLLING_READING:
		m->poll_events = EV_READ;
		break;
	case PGRES_POLLING_WRITING:
		m->poll_events = EV_WRITE;
		break;
	case PGRES_POLLING_OK:
		m->handshake = false;
		evtimer_del(&m->deadline);
		if (PQsetnonblocking(m->conn, 1) != 0) {
			fail_from_conn(m);
			return;
		}
		send_query(m);
		return;		/* send_query re-armed, or failed */
	case PGRES_POLLING_FAILED:
	default:
		fail_from_conn(m);
		return;
	}
	/* The socket may have changed: re-read it every time. */
	if (!rearm(m))
		fail_from_conn(m);
}

static void io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_monitor *m = arg;

	(void) fd;
	m->io_added = false;	/* non-persistent: it fired */
	if (m->conn == NULL)
		return;
	enter(m);
	if (m->handshake) {
		continue_connect(m);
		goto out;
	}
	/* EOF shows here, between queries too: PQconsumeInput fails. */
	if ((what & EV_READ) && !PQconsumeInput(m->conn)) {
		fail_from_conn(m);
		goto out;
	}
	if (PQstatus(m->conn) == CONNECTION_BAD) {
		fail_from_conn(m);
		goto out;
	}
	if (m->want_write && !flush(m))
		goto out;
	/* PQconsumeInput only buffers; parsing dispatches notices, between
	 * queries too. */
	if (!m->query_in_flight)
		(void) PQisBusy(m->conn);
	collect(m);
	if (!m->freed && m->conn != NULL && !m->io_added && !rearm(m))
		fail_from_conn(m);
out:
	leave(m);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_monitor *m = arg;
	char reason[MESSAGE_MAX];

	(void) fd;
	(void) what;
	if (m->conn == NULL)
		return;
	enter(m);
	if (m->handshake) {
		snprintf(reason, sizeof(reason), "timeout expired after %d ms",
			 m->connect_timeout_ms);
		connect_failed(m, reason);
	} else if (m->query_in_flight) {
		/* Hung (frozen, or stuck on I/O): the socket stays quiet. */
		fail(m, "not responding");
	}
	leave(m);
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_monitor *m = arg;

	(void) fd;
	(void) what;
	if (m->conn != NULL || m->freed)
		return;
	start_connect(m);
}

static void next_query_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_monitor *m = arg;

	(void) fd;
	(void) what;
	if (m->conn == NULL || m->handshake || m->query_in_flight)
		return;
	enter(m);
	send_query(m);
	leave(m);
}

/* --- Public functions ---------------------------------------------------------- */

static void free_strings(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

/* Copy the keyword and value arrays; values[i] may be NULL (libpq then
 * ignores the keyword). */
static bool copy_params(struct pg_monitor *m, const char *const *keywords,
			const char *const *values)
{
	size_t n = 0;

	while (keywords[n] != NULL)
		n++;
	m->keywords = calloc(n + 1, sizeof(char *));
	m->values = calloc(n + 1, sizeof(char *));
	if (m->keywords == NULL || m->values == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		m->keywords[i] = strdup(keywords[i]);
		if (m->keywords[i] == NULL)
			return false;
		if (values[i] != NULL && (m->values[i] = strdup(values[i])) == NULL)
			return false;
	}
	return true;
}

static void free_values(struct pg_monitor *m)
{
	/* values has holes (NULL entries): free by the keywords' length. */
	if (m->values != NULL && m->keywords != NULL) {
		for (size_t i = 0; m->keywords[i] != NULL; i++)
			free(m->values[i]);
	}
	free(m->values);
	m->values = NULL;
}

struct pg_monitor *pg_monitor_new(struct event_base *base, const struct pg_monitor_settings *settings,
				  const struct pg_monitor_callbacks *callbacks, void *arg)
{
	struct pg_monitor *m;
	const char *invalid = NULL;

	if (base == NULL || settings == NULL || settings->keywords == NULL || settings->values == NULL)
		invalid = "no event base or no connection parameters";
	else if (settings->interval_ms <= 0 || settings->connect_timeout_ms <= 0 ||
		 settings->query_timeout_ms <= 0)
		invalid = "interval and timeouts must be positive";
	if (invalid != NULL) {
		log_error("pg.bad_settings", LF_STR("reason", invalid));
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		log_error("pg.out_of_memory", LF_STR("context", "monitor"));
		return NULL;
	}
	if (!copy_params(m, settings->keywords, settings->values)) {
		log_error("pg.out_of_memory", LF_STR("context", "monitor"));
		free_values(m);
		free_strings(m->keywords);
		free(m);
		return NULL;
	}
	m->base = base;
	m->interval_ms = settings->interval_ms;
	m->connect_timeout_ms = settings->connect_timeout_ms;
	m->query_timeout_ms = settings->query_timeout_ms;
	if (callbacks != NULL)
		m->callbacks = *callbacks;
	m->arg = arg;
	m->retry_delay_ms = RETRY_MIN_MS;
	evtimer_assign(&m->deadline, base, deadline_cb, m);
	evtimer_assign(&m->retry, base, retry_cb, m);
	evtimer_assign(&m->next_query, base, next_query_cb, m);
	/* The first attempt runs from the loop, like every later one. */
	event_active(&m->retry, EV_TIMEOUT, 0);
	return m;
}

static void destroy(struct pg_monitor *m)
{
	close_conn(m);
	event_del(&m->retry);
	free_values(m);
	free_strings(m->keywords);
	free(m);
}

void pg_monitor_free(struct pg_monitor *m)
{
	if (m == NULL || m->freed)
		return;
	if (m->depth > 0) {
		/* Inside one of our callbacks: release everything now, the
		 * memory when the callback has returned. */
		m->freed = true;
		close_conn(m);
		event_del(&m->retry);
		return;
	}
	destroy(m);
}

void pg_monitor_wake(struct pg_monitor *m)
{
	if (m == NULL || m->freed || m->conn != NULL)
		return;
	m->retry_delay_ms = RETRY_MIN_MS;
	evtimer_del(&m->retry);
	event_active(&m->retry, EV_TIMEOUT, 0);
}

void pg_monitor_refresh(struct pg_monitor *m)
{
	if (m == NULL || m->freed || m->conn == NULL)
		return;
	if (m->query_in_flight) {
		m->refresh_pending = true;
	} else if (!m->handshake) {
		/* From the loop: the caller may be in the middle of something. */
		evtimer_del(&m->next_query);
		event_active(&m->next_query, EV_TIMEOUT, 0);
	}
	/* During the handshake: a query follows it anyway. */
}

enum pg_monitor_state pg_monitor_state(const struct pg_monitor *m)
{
	return m->state;
}

const char *pg_monitor_state_name(enum pg_monitor_state state)
{
	switch (state) {
	case PG_MONITOR_DISCONNECTED:
		return "disconnected";
	case PG_MONITOR_CONNECTING:
		return "connecting";
	case PG_MONITOR_CONNECTED:
		return "connected";
	}
	return "unknown";
}

const char *pg_replication_state_name(enum pg_replication_state state)
{
	switch (state) {
	case PG_REPLICATION_NONE:
		return "";
	case PG_REPLICATION_STREAMING:
		return "streaming";
	case PG_REPLICATION_ARCHIVE_RECOVERY:
		return "in archive recovery";
	}
	return "";
}

const struct pg_monitor_status *pg_monitor_status_last(const struct pg_monitor *m, int64_t *age_ms)
{
	if (!m->have_status)
		return NULL;
	if (age_ms != NULL)
		*age_ms = now_ms() - m->status_ms;
	return &m->status;
}

/* --- Parsing ------------------------------------------------------------------- */

/* Decimal digits only, at least one, no sign, no spaces. */
static bool parse_u64(const char *text, uint64_t *out)
{
	uint64_t v = 0;

	if (text == NULL || *text == '\0')
		return false;
	for (const char *p = text; *p != '\0'; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return false;
		d = (unsigned) (*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_i64(const char *text, int64_t *out)
{
	uint64_t magnitude;
	bool negative = text != NULL && text[0] == '-';

	if (!parse_u64(negative ? text + 1 : text, &magnitude))
		return false;
	if (negative) {
		if (magnitude > (uint64_t) INT64_MAX + 1)
			return false;
		*out = magnitude == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) magnitude;
	} else {
		if (magnitude > (uint64_t) INT64_MAX)
			return false;
		*out = (int64_t) magnitude;
	}
	return true;
}

static bool parse_u32(const char *text, uint32_t *out)
{
	uint64_t v;

	if (!parse_u64(text, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t) v;
	return true;
}

bool pg_monitor_parse_lsn(const char *text, uint64_t *out)
{
	return parse_u64(text, out);
}

bool pg_monitor_parse_walfile_timeline(const char *walfile, uint32_t *out)
{
	uint32_t tli = 0;

	/* TTTTTTTTXXXXXXXXYYYYYYYY: timeline, log, segment. */
	if (walfile == NULL || strlen(walfile) != 24)
		return false;
	for (int i = 0; i < 24; i++) {
		char c = walfile[i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t) (c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t) (c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t) (c - 'a' + 10);
		else
			return false;
		if (i < 8)
			tli = tli << 4 | d;
	}
	if (tli == 0)
		return false;	/* timelines start at 1 */
	*out = tli;
	return true;
}

bool pg_monitor_parse_system_identifier(const char *text, uint64_t *out)
{
	int64_t v;

	/* pg_control keeps an unsigned 64-bit value; SQL shows it as bigint. */
	if (!parse_i64(text, &v))
		return false;
	*out = (uint64_t) v;
	return true;
}

static bool parse_bool(const char *text, bool *out)
{
	if (text != NULL && strcmp(text, "t") == 0)
		*out = true;
	else if (text != NULL && strcmp(text, "f") == 0)
		*out = false;
	else
		return false;
	return true;
}

struct row_reader {
	const struct pg_monitor_rows *rows;
	char *err;
	size_t errlen;
	bool ok;
};

/* The value, NULL for SQL NULL; a missing column fails the whole parse. */
static const char *field(struct row_reader *r, int row, const char *column)
{
	bool found = false;
	const char *v = r->rows->value(r->rows->ctx, row, column, &found);

	if (!found && r->ok) {
		snprintf(r->err, r->errlen, "no column %s", column);
		r->ok = false;
	}
	return found ? v : NULL;
}

static void bad(struct row_reader *r, const char *column, const char *value)
{
	if (r->ok)
		snprintf(r->err, r->errlen, "bad %s: %.40s", column, value ? value : "NULL");
	r->ok = false;
}

/* A NULL LSN is 0 (unknown); anything else must parse. */
static uint64_t lsn_field(struct row_reader *r, int row, const char *column)
{
	const char *v = field(r, row, column);
	uint64_t lsn = 0;

	if (v != NULL && !pg_monitor_parse_lsn(v, &lsn))
		bad(r, column, v);
	return lsn;
}

static uint32_t tli_field(struct row_reader *r, const char *column)
{
	const char *v = field(r, 0, column);
	uint32_t tli = 0;

	if (v != NULL && !parse_u32(v, &tli))
		bad(r, column, v);
	return tli;
}

static void text_field(struct row_reader *r, int row, const char *column, char *dst, size_t size)
{
	const char *v = field(r, row, column);

	snprintf(dst, size, "%s", v ? v : "");
}

static void parse_standbys(struct row_reader *r, struct pg_monitor_status *out)
{
	const char *count_text = field(r, 0, "standby_count");
	int64_t count = 0;
	int listed;

	if (count_text != NULL && (!parse_i64(count_text, &count) || count < 1 || count > INT32_MAX)) {
		bad(r, "standby_count", count_text);
		return;
	}
	listed = count < PG_MONITOR_MAX_STANDBYS ? (int) count : PG_MONITOR_MAX_STANDBYS;
	/* One row per listed standby, or the single row with none. */
	if (r->rows->count != (listed > 0 ? listed : 1)) {
		if (r->ok)
			snprintf(r->err, r->errlen, "%d rows for %d standbys", r->rows->count,
				 (int) count);
		r->ok = false;
		return;
	}
	out->standby_count = (int) count;
	out->standbys_listed = listed;
	for (int i = 0; i < listed; i++) {
		struct pg_monitor_standby *s = &out->standbys[i];

		text_field(r, i, "application_name", s->application_name, sizeof(s->application_name));
		text_field(r, i, "state", s->state, sizeof(s->state));
		text_field(r, i, "sync_state", s->sync_state, sizeof(s->sync_state));
		s->flush_lsn = lsn_field(r, i, "standby_flush_lsn");
		s->replay_lsn = lsn_field(r, i, "standby_replay_lsn");
	}
}

static void parse_primary(struct row_reader *r, struct pg_monitor_status *out)
{
	const char *walfile = field(r, 0, "walfile");
	const char *flush = field(r, 0, "flush_lsn");
	uint32_t checkpoint_tli = tli_field(r, "checkpoint_tli");

	if (!pg_monitor_parse_lsn(flush, &out->flush_lsn) || out->flush_lsn == 0)
		bad(r, "flush_lsn", flush);
	out->wal_position = out->flush_lsn;
	if (walfile != NULL) {
		if (!pg_monitor_parse_walfile_timeline(walfile, &out->timeline))
			bad(r, "walfile", walfile);
		out->timeline_source = PG_TIMELINE_WAL_INSERT;
	} else if (checkpoint_tli > 0) {
		out->timeline = checkpoint_tli;
		out->timeline_source = PG_TIMELINE_CONTROL_FILE;
	}
}

static void parse_replica(struct row_reader *r, struct pg_monitor_status *out)
{
	const char *receiver = field(r, 0, "receiver_status");
	const char *last_replay = field(r, 0, "last_replay_ms");
	const char *paused = field(r, 0, "replay_paused");
	uint32_t received_tli = tli_field(r, "received_tli");
	uint32_t checkpoint_tli = tli_field(r, "checkpoint_tli");
	uint32_t min_recovery_tli = tli_field(r, "min_recovery_tli");

	out->receive_lsn = lsn_field(r, 0, "receive_lsn");
	out->replay_lsn = lsn_field(r, 0, "replay_lsn");
	out->wal_position = out->receive_lsn > out->replay_lsn ? out->receive_lsn : out->replay_lsn;
	if (last_replay != NULL && !parse_i64(last_replay, &out->last_replay_unix_ms))
		bad(r, "last_replay_ms", last_replay);
	if (paused != NULL && !parse_bool(paused, &out->replay_paused))
		bad(r, "replay_paused", paused);
	out->replication_state = receiver != NULL && strcmp(receiver, "streaming") == 0
					 ? PG_REPLICATION_STREAMING
					 : PG_REPLICATION_ARCHIVE_RECOVERY;
	if (received_tli > 0) {
		out->timeline = received_tli;
		out->timeline_source = PG_TIMELINE_WAL_RECEIVER;
	} else if (checkpoint_tli > 0 || min_recovery_tli > 0) {
		out->timeline = checkpoint_tli > min_recovery_tli ? checkpoint_tli : min_recovery_tli;
		out->timeline_source = PG_TIMELINE_CONTROL_FILE;
	}
}

bool pg_monitor_parse_status(const struct pg_monitor_rows *rows, struct pg_monitor_status *out,
			     char *err, size_t errlen)
{
	struct row_reader r = { rows, err, errlen, true };
	const char *v;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	if (rows->count < 1) {
		snprintf(err, errlen, "no rows");
		return false;
	}
	v = field(&r, 0, "in_recovery");
	if (!parse_bool(v, &out->in_recovery))
		bad(&r, "in_recovery", v);
	v = field(&r, 0, "system_identifier");
	if (!pg_monitor_parse_system_identifier(v, &out->system_identifier) ||
	    out->system_identifier == 0)
		bad(&r, "system_identifier", v);
	v = field(&r, 0, "postmaster_start_time");
	if (v == NULL || v[0] == '\0' || strlen(v) >= sizeof(out->postmaster_start_time))
		bad(&r, "postmaster_start_time", v);
	else
		snprintf(out->postmaster_start_time, sizeof(out->postmaster_start_time), "%s", v);
	if (r.ok) {
		if (out->in_recovery)
			parse_replica(&r, out);
		else
			parse_primary(&r, out);
	}
	if (r.ok && out->timeline == 0)
		bad(&r, "timeline", "0");
	if (r.ok)
		parse_standbys(&r, out);
	return r.ok;
}
