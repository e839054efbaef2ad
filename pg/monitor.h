/*
 * The agent's eyes on its own PostgreSQL: one asynchronous libpq connection
 * on the agent's libevent loop that asks the server, in one round trip, what
 * it is (primary or replica), where its WAL is, on which timeline, and who
 * streams from it.
 *
 * Nothing here blocks the loop: connecting, querying and closing are all
 * asynchronous, and every wait has a deadline.  A dead postmaster is noticed
 * as soon as its socket reports end-of-file (the monitor keeps a read event
 * on the socket between queries); a hung one when a query or a connection
 * attempt outlives its timeout.  While the connection is down, the monitor
 * retries with backoff (100 ms doubling to 2 s); pg_monitor_wake() retries
 * at once, for instance after the agent started PostgreSQL.
 *
 * No libpq type appears in this header.
 */
#ifndef PGHERD_PG_MONITOR_H
#define PGHERD_PG_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct pg_monitor;

/* pg_stat_replication rows kept; pg_monitor_status.standby_count tells the
 * true number when there are more. */
#define PG_MONITOR_MAX_STANDBYS 32

struct pg_monitor_settings {
	/*
	 * libpq connection keywords and values (see PQconnectdbParams), two
	 * NULL-terminated arrays of the same length, copied.  Typically host,
	 * port, user, dbname, passfile, application_name ("pgherd").
	 *
	 * host must be a socket directory or an IP address (or give
	 * hostaddr): libpq resolves host names with a blocking getaddrinfo().
	 * connect_timeout is ignored by asynchronous connections; use
	 * connect_timeout_ms below.
	 */
	const char *const *keywords;
	const char *const *values;
	int interval_ms;		/* re-query this often while connected */
	int connect_timeout_ms;		/* one connection attempt, start to ready */
	int query_timeout_ms;		/* one query; past it the server is "not responding" */
};

enum pg_monitor_state {
	PG_MONITOR_DISCONNECTED = 0,	/* waiting to retry */
	PG_MONITOR_CONNECTING,		/* attempt in progress, or no good answer yet
					 * (the status query fails: pg.query_failed) */
	PG_MONITOR_CONNECTED,		/* has answered the status query on this connection */
};

enum pg_replication_state {
	PG_REPLICATION_NONE = 0,	/* a primary */
	PG_REPLICATION_STREAMING,	/* a WAL receiver is streaming */
	PG_REPLICATION_ARCHIVE_RECOVERY,	/* a replica without a streaming receiver */
};

/* Where `timeline` came from: the first two are live, the last may lag
 * behind a timeline switch until the next checkpoint or restartpoint. */
enum pg_timeline_source {
	PG_TIMELINE_UNKNOWN = 0,
	PG_TIMELINE_WAL_INSERT,		/* primary: the timeline it writes WAL on */
	PG_TIMELINE_WAL_RECEIVER,	/* replica: the timeline it receives */
	PG_TIMELINE_CONTROL_FILE,	/* pg_control: checkpoint or min recovery point */
};

/* One row of the primary's pg_stat_replication.  LSNs are bytes, 0 when
 * unknown (0/0 is never a valid WAL position). */
struct pg_monitor_standby {
	char application_name[64];	/* NAMEDATALEN */
	char state[16];			/* startup, catchup, streaming, backup, stopping */
	char sync_state[16];		/* async, potential, sync, quorum */
	uint64_t flush_lsn;
	uint64_t replay_lsn;
};

/*
 * One answer of the server.  LSNs are bytes (Patroni's integer positions);
 * 0 means unknown or not applicable.
 */
struct pg_monitor_status {
	bool reachable;			/* false in pg_monitor_status_last() once lost */
	bool in_recovery;		/* pg_is_in_recovery() */
	int server_version;		/* 150004 */
	uint64_t system_identifier;	/* as pg_controldata prints it */
	char postmaster_start_time[40];	/* "2026-11-24 01:07:40.123456+00:00" (UTC) */
	uint32_t timeline;		/* 0 if unknown */
	enum pg_timeline_source timeline_source;
	/* Primary: the flush position.  Replica: max(receive, replay). */
	uint64_t wal_position;
	uint64_t flush_lsn;		/* primary: pg_current_wal_flush_lsn() */
	uint64_t receive_lsn;		/* replica: pg_last_wal_receive_lsn() */
	uint64_t replay_lsn;		/* replica: pg_last_wal_replay_lsn() */
	int64_t last_replay_unix_ms;	/* replica: pg_last_xact_replay_timestamp(), 0 if none */
	bool replay_paused;		/* replica: pg_is_wal_replay_paused() */
	enum pg_replication_state replication_state;
	int standby_count;		/* rows in pg_stat_replication */
	int standbys_listed;		/* of them in standbys[] (by application_name) */
	struct pg_monitor_standby standbys[PG_MONITOR_MAX_STANDBYS];
	int64_t query_ms;		/* round trip of the query that produced this */
};

struct pg_monitor_callbacks {
	/* After each successful query; the struct is valid during the call. */
	void (*status)(void *arg, const struct pg_monitor_status *status);
	/*
	 * The connection that had answered is gone: end-of-file or an error
	 * on the socket (the server died or ended our session), or a query
	 * outlived query_timeout_ms (reason "not responding").  Called once
	 * per connection; failed attempts to connect again are only logged.
	 * The reason is valid during the call.
	 */
	void (*lost)(void *arg, const char *reason);
};

/*
 * The first attempt starts on the next turn of the loop.  Callbacks may call
 * any pg_monitor_* function, pg_monitor_free() included.  Returns NULL on
 * invalid settings or out of memory (logged).
 */
struct pg_monitor *pg_monitor_new(struct event_base *base, const struct pg_monitor_settings *settings,
				  const struct pg_monitor_callbacks *callbacks, void *arg);
/* Closes the connection without waiting for the server.  NULL is fine. */
void pg_monitor_free(struct pg_monitor *m);

/* Query again soon: at once when idle, right after the query in flight
 * otherwise (its answer may predate what the caller just did).  While
 * disconnected it does nothing: the next attempt is scheduled already, and
 * a caller that refreshes on every tick must not defeat the backoff. */
void pg_monitor_refresh(struct pg_monitor *m);
/* While disconnected: forget the backoff and try to connect now (after the
 * agent started PostgreSQL, say).  Otherwise nothing. */
void pg_monitor_wake(struct pg_monitor *m);

enum pg_monitor_state pg_monitor_state(const struct pg_monitor *m);
const char *pg_monitor_state_name(enum pg_monitor_state state);
const char *pg_replication_state_name(enum pg_replication_state state);	/* Patroni's words */

/*
 * The last status a query returned, NULL if none yet.  Its `reachable` turns
 * false when the connection is lost; the other fields keep the last values.
 * *age_ms (if not NULL) gets the milliseconds since that answer.
 */
const struct pg_monitor_status *pg_monitor_status_last(const struct pg_monitor *m, int64_t *age_ms);

/* --- Parsing, exposed for unit tests ------------------------------------- */

/* The text of a numeric LSN difference ("16777216"), digits only. */
bool pg_monitor_parse_lsn(const char *text, uint64_t *out);
/* The timeline in a WAL file name ("00000002000000000000000A"). */
bool pg_monitor_parse_walfile_timeline(const char *walfile, uint32_t *out);
/* A system identifier as SQL's bigint prints it (may be negative when the
 * top bit is set): the unsigned value pg_controldata prints. */
bool pg_monitor_parse_system_identifier(const char *text, uint64_t *out);

/* The status query's result as rows of named text values. */
struct pg_monitor_rows {
	int count;
	/* The value of column in row, NULL for SQL NULL; *found is false
	 * when the result has no such column. */
	const char *(*value)(void *ctx, int row, const char *column, bool *found);
	void *ctx;
};

/* Fill out (server_version, reachable and query_ms excepted) from the
 * status query's rows.  False with a reason in err when they make no sense. */
bool pg_monitor_parse_status(const struct pg_monitor_rows *rows, struct pg_monitor_status *out,
			     char *err, size_t errlen);

#endif
