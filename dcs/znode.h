/*
 * Znode names and contents, exactly as Patroni's ZooKeeper mode writes them.
 *
 * This module is pure: it builds paths and turns znode bytes into structs and
 * structs back into bytes.  It never talks to ZooKeeper and never logs.
 *
 * Layout under the base path /<namespace>/<scope> (Patroni 3.x; see the
 * Patroni reference, patroni.md section 1.2):
 *
 *   initialize      system identifier as decimal text, "" while bootstrapping
 *   config          dynamic configuration, JSON object
 *   leader          ephemeral, the leader's member name as plain text
 *   members/<name>  ephemeral, member status JSON
 *   failover        JSON {"leader","member","scheduled_at"}, {} = none
 *   sync            JSON {"leader","sync_standby"}, {} = none
 *   history         JSON list of [timeline, lsn, reason, timestamp, leader]
 *   status          JSON {"optime": lsn, "slots": {name: lsn}}
 *   optime/leader   legacy decimal LSN (Patroni < 2.1), read-only fallback
 *   election/       pgherd only: EPHEMERAL_SEQUENTIAL "<member>-<10 digits>"
 *
 * Conventions:
 *  - Decoders take (data, len) as handed over by the ZooKeeper client: not
 *    NUL-terminated, len -1 (no data) is treated like an empty znode.  They
 *    return false with a short reason in err ("member JSON: field "timeline"
 *    must be an integer, got string") and leave *out empty.  On success *out
 *    owns everything it points to; release it with the matching _clear().
 *    Decoders overwrite *out without freeing it: clear a filled struct first.
 *  - Encoders return a malloc'd, NUL-terminated compact JSON string, byte
 *    for byte what Python's json.dumps(value, separators=(',', ':')) gives
 *    (lower-case \uXXXX escapes, repr() floats), which the caller frees
 *    with free(); or NULL with a reason in err.
 *  - Structs start zeroed ({0}); _clear() frees every non-NULL pointer and
 *    zeroes the struct again, so it is safe to call twice.
 *  - An err buffer of ZNODE_ERR_MAX bytes holds every message in full;
 *    err may be NULL when the reason is not wanted.
 */
#ifndef PGHERD_DCS_ZNODE_H
#define PGHERD_DCS_ZNODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Key names under the base path (Patroni's AbstractDCS constants). */
#define ZNODE_INITIALIZE "initialize"
#define ZNODE_CONFIG "config"
#define ZNODE_LEADER "leader"
#define ZNODE_MEMBERS "members"
#define ZNODE_FAILOVER "failover"
#define ZNODE_SYNC "sync"
#define ZNODE_HISTORY "history"
#define ZNODE_STATUS "status"
#define ZNODE_FAILSAFE "failsafe"
#define ZNODE_OPTIME_LEADER "optime/leader"
/* pgherd's candidate folder; Patroni ignores children it does not know. */
#define ZNODE_ELECTION "election"

#define ZNODE_DEFAULT_NAMESPACE "service"

/* Longest member name / path component we accept, in bytes. */
#define ZNODE_NAME_MAX 200
/* ZooKeeper's sequential suffix: "%010d". */
#define ZNODE_SEQUENCE_DIGITS 10
/* "<member>-<sequence>" */
#define ZNODE_CANDIDATE_NAME_MAX (ZNODE_NAME_MAX + 1 + ZNODE_SEQUENCE_DIGITS)
/* A comfortable size for path buffers (functions return false rather
 * than truncate when a path does not fit). */
#define ZNODE_PATH_MAX 1024
/* An err buffer of this size never truncates a message. */
#define ZNODE_ERR_MAX 256

/* ------------------------------------------------------------------------
 * Paths
 * ------------------------------------------------------------------------ */

/*
 * True if name can be one znode path component: non-empty, at most
 * ZNODE_NAME_MAX bytes, valid UTF-8, no '/', not "." or "..", and none of
 * the characters ZooKeeper's server rejects (U+0000-U+001F, U+007F-U+009F,
 * U+D800-U+F8FF, U+FFF0-U+FFFF and anything above U+FFFF, which Java holds
 * as surrogates).  Member names must pass this.
 */
bool znode_name_is_valid(const char *name);

/*
 * "/<namespace>/<scope>" with runs of '/' collapsed, like Patroni:
 * "/service", "service" and "/service/" all give "/service/batman".
 * namespace NULL means ZNODE_DEFAULT_NAMESPACE; "" or "/" means none
 * ("/batman").  False (and buf "") if a component is invalid or the result
 * does not fit.
 */
bool znode_base_path(char *buf, size_t size, const char *namespace, const char *scope);

/*
 * "<base>/<key>", key being "leader", "members/node1", "election/node1-"...
 * base must come from znode_base_path(); every component of key must be a
 * valid name (no empty components).  False (and buf "") otherwise.
 */
bool znode_path(char *buf, size_t size, const char *base, const char *key);

/* "<base>/members/<member>" */
bool znode_member_path(char *buf, size_t size, const char *base, const char *member);

/* ------------------------------------------------------------------------
 * Election candidates: children of <base>/election/ created with
 * ZOO_EPHEMERAL_SEQUENTIAL from the prefix "<member>-".  The member name in
 * the child lets a candidate whose create reply was lost find its node.
 * ------------------------------------------------------------------------ */

struct znode_candidate {
	long long sequence;
	char member[ZNODE_NAME_MAX + 1];
};

/* "<member>-" (the name passed to create; ZooKeeper appends the digits). */
bool znode_candidate_prefix(char *buf, size_t size, const char *member);

/*
 * Splits "<member>-<10 digits>" at the LAST '-'.  The member part must be a
 * valid name (it may contain '-' itself).  False for anything else, e.g. a
 * child someone else created.  member/sequence are written only on success.
 */
bool znode_candidate_parse(const char *child_name, char *member, size_t member_size,
			   long long *sequence);

/* The same, into a struct suitable for sorting. */
bool znode_candidate_from_child(struct znode_candidate *out, const char *child_name);

/* qsort() comparator over struct znode_candidate: lowest sequence first. */
int znode_candidate_compare(const void *a, const void *b);

/* ------------------------------------------------------------------------
 * members/<name>
 * ------------------------------------------------------------------------ */

enum member_status_role {
	MEMBER_STATUS_ROLE_OTHER = 0,	/* absent or a value we do not know */
	MEMBER_STATUS_ROLE_PRIMARY,	/* "master" (Patroni 3) or "primary" (4) */
	MEMBER_STATUS_ROLE_REPLICA,
	MEMBER_STATUS_ROLE_STANDBY_LEADER,
	MEMBER_STATUS_ROLE_PROMOTED,
	MEMBER_STATUS_ROLE_DEMOTED,
	MEMBER_STATUS_ROLE_UNINITIALIZED,
};

/*
 * The member znode.  Strings are malloc'd and owned (NULL = absent); json_t
 * pointers hold one reference each.  Encoding requires the first five.
 */
struct member_status {
	char *conn_url;		/* postgres://host:port/postgres */
	char *api_url;		/* http://host:port/patroni */
	char *state;		/* "running", "stopped", ... */
	char *role;		/* "master", "replica", ... */
	char *version;		/* "3.3.1" */
	char *proxy_url;
	/* Patroni only ever writes false: the leader's post-promote
	 * CHECKPOINT has not finished yet. */
	bool has_checkpoint_after_promote;
	bool checkpoint_after_promote;
	json_t *tags;		/* object; encoding applies Patroni's filter */
	bool pending_restart;	/* written only when true */
	json_t *pending_restart_reason; /* object */
	bool has_xlog_location;
	int64_t xlog_location;
	char *replication_state; /* "streaming", "in archive recovery" */
	bool has_timeline;
	int64_t timeline;
	json_t *scheduled_restart; /* object */
	bool pause;		/* written only when true */
};

/*
 * Compact JSON in Patroni's key order (Ha.touch_member): conn_url, api_url,
 * state, role, version, proxy_url, checkpoint_after_promote, tags,
 * pending_restart, pending_restart_reason, xlog_location,
 * replication_state, timeline, scheduled_restart, pause.  Predefined
 * boolean tags (clonefrom, nofailover, noloadbalance, nosync, nostream)
 * are dropped when false, except nofailover while failover_priority is set
 * (and nosync while sync_priority is set, Patroni 4.1).
 */
char *member_status_encode(const struct member_status *status, char *err, size_t err_size);

/*
 * Accepts everything Patroni writes: unknown fields are ignored, null means
 * absent, any role string is kept (see member_status_role()), tags are kept
 * unfiltered.  Also accepts the legacy "postgres://...?application_name=
 * <api_url>" form, which fills only conn_url and api_url.
 */
bool member_status_decode(const char *data, int len, struct member_status *out, char *err,
			  size_t err_size);

void member_status_clear(struct member_status *status);

/* True when both encode to the same bytes (the agent rewrites its znode only
 * when this is false).  Two structs that fail to encode are not equal. */
bool member_status_equal(const struct member_status *a, const struct member_status *b);

enum member_status_role member_status_role(const struct member_status *status);

/* Patroni's Tags rules: nofailover wins when set, else failover_priority
 * (int or digit string, default 1) <= 0 means nofailover. */
bool member_status_nofailover(const struct member_status *status);
long long member_status_failover_priority(const struct member_status *status);

/* Python truthiness of tags[tag]: for noloadbalance, clonefrom, nosync,
 * nostream. */
bool member_status_tag_enabled(const struct member_status *status, const char *tag);

/* Replaces *field with a copy of value (NULL clears it).  False only when
 * out of memory, leaving *field untouched. */
bool znode_set_string(char **field, const char *value);

/* ------------------------------------------------------------------------
 * leader, initialize, optime/leader: plain text
 * ------------------------------------------------------------------------ */

/* The content must be exactly a valid member name: no newline, no
 * padding.  name gets it NUL-terminated (size >= ZNODE_NAME_MAX + 1 always
 * suffices). */
bool znode_leader_decode(const char *data, int len, char *name, size_t size, char *err,
			 size_t err_size);

/*
 * Empty (or no data) means another node is bootstrapping: *bootstrapping =
 * true, *sysid = 0.  Otherwise the content must be the decimal system
 * identifier (digits only, non-zero, fits in uint64).
 */
bool znode_initialize_decode(const char *data, int len, bool *bootstrapping, uint64_t *sysid,
			     char *err, size_t err_size);

/* The decimal system identifier, as Patroni writes it. */
bool znode_initialize_encode(char *buf, size_t size, uint64_t sysid);

/* optime/leader: a decimal LSN in bytes. */
bool znode_optime_decode(const char *data, int len, int64_t *lsn, char *err, size_t err_size);

/* ------------------------------------------------------------------------
 * config: the dynamic configuration (patroni.md section 5.3)
 * ------------------------------------------------------------------------ */

struct znode_config {
	json_t *json;			/* the whole object, owned (for PATCH) */
	long long ttl;			/* 30 */
	long long loop_wait;		/* 10 */
	long long retry_timeout;	/* 10 */
	long long maximum_lag_on_failover; /* 1048576 */
	long long maximum_lag_on_syncnode; /* -1 = off */
	long long max_timelines_history; /* 0 = keep all */
	long long primary_start_timeout; /* 300, alias master_start_timeout */
	long long primary_stop_timeout;	/* 0, alias master_stop_timeout */
	bool synchronous_mode;		/* false; true also for "quorum" */
	bool synchronous_mode_quorum;	/* synchronous_mode: "quorum" (Patroni 4) */
	bool synchronous_mode_strict;	/* false */
	long long synchronous_node_count; /* 1 */
	bool check_timeline;		/* false */
	bool failsafe_mode;		/* false */
	bool pause;			/* false */
	bool use_pg_rewind;		/* postgresql.use_pg_rewind, false */
	bool use_slots;			/* postgresql.use_slots, true */
	/* Borrowed from json (NULL when absent); type-checked as noted. */
	const json_t *parameters;	/* postgresql.parameters, object */
	const json_t *standby_cluster;	/* object */
	const json_t *slots;		/* slots / permanent_slots /
					 * permanent_replication_slots, object */
	const json_t *ignore_slots;	/* array */
};

/* Patroni's defaults, json NULL. */
void znode_config_defaults(struct znode_config *config);

/* Wrong types are errors naming the key ("config JSON: field
 * "postgresql.use_slots" must be a boolean, got string"); integers may
 * also be digit strings, as Python's int() accepts them.  Ranges are not
 * adjusted here (ttl >= 20 etc. is the agent's job); negative timeouts and
 * synchronous_node_count < 1 are rejected. */
bool znode_config_decode(const char *data, int len, struct znode_config *out, char *err,
			 size_t err_size);

/* The same checks on an object built in memory (e.g. after a PATCH); out
 * keeps its own deep copy. */
bool znode_config_from_json(const json_t *object, struct znode_config *out, char *err,
			    size_t err_size);

/* Validates like znode_config_from_json() and encodes compactly. */
char *znode_config_encode(const json_t *object, char *err, size_t err_size);

void znode_config_clear(struct znode_config *config);

/* ------------------------------------------------------------------------
 * failover
 * ------------------------------------------------------------------------ */

struct znode_failover {
	char *leader;		/* switchover from this node; NULL = any */
	char *member;		/* candidate; NULL = any */
	char *scheduled_at;	/* ISO-8601 with time zone, as stored */
	int64_t scheduled_at_ms; /* the same, ms since the epoch (UTC) */
};

/* "{}" decodes to an empty struct.  The legacy "leader:candidate" text is
 * accepted too.  Empty strings and null count as absent. */
bool znode_failover_decode(const char *data, int len, struct znode_failover *out, char *err,
			   size_t err_size);

/* Patroni's len(failover) == 0: neither leader nor member. */
bool znode_failover_is_empty(const struct znode_failover *failover);

/* {"leader":..,"member":..,"scheduled_at":..}, absent fields left out; an
 * empty struct gives "{}" (how Patroni clears the key). */
char *znode_failover_encode(const struct znode_failover *failover, char *err, size_t err_size);

void znode_failover_clear(struct znode_failover *failover);

/* ------------------------------------------------------------------------
 * sync
 * ------------------------------------------------------------------------ */

struct znode_sync {
	char *leader;		/* NULL = no synchronous state ("{}") */
	char **standbys;	/* sync_standby split on ',' (trimmed) */
	size_t n_standbys;
	bool has_quorum;	/* Patroni 4 quorum commit */
	long long quorum;
};

bool znode_sync_decode(const char *data, int len, struct znode_sync *out, char *err,
		       size_t err_size);

/* {"leader":"a","sync_standby":"b,c"} with the names sorted and
 * comma-joined, null when there are none; leader NULL gives "{}".  quorum
 * is written only when has_quorum. */
char *znode_sync_encode(const struct znode_sync *sync, char *err, size_t err_size);

/* Appends a copy of name to standbys. */
bool znode_sync_add_standby(struct znode_sync *sync, const char *name, char *err,
			    size_t err_size);

void znode_sync_clear(struct znode_sync *sync);

/* ------------------------------------------------------------------------
 * status (and the legacy plain-integer form)
 * ------------------------------------------------------------------------ */

struct znode_status_slot {
	char *name;
	int64_t lsn;
};

struct znode_status {
	int64_t optime;
	struct znode_status_slot *slots; /* in znode order */
	size_t n_slots;
};

bool znode_status_decode(const char *data, int len, struct znode_status *out, char *err,
			 size_t err_size);

/* {"optime":N,"slots":{...}}, "slots" left out when there are none. */
char *znode_status_encode(const struct znode_status *status, char *err, size_t err_size);

bool znode_status_add_slot(struct znode_status *status, const char *name, int64_t lsn,
			   char *err, size_t err_size);

void znode_status_clear(struct znode_status *status);

/* ------------------------------------------------------------------------
 * history
 * ------------------------------------------------------------------------ */

struct znode_history_line {
	int64_t timeline;
	int64_t lsn;
	char *reason;
	char *timestamp;	/* NULL in lines from old Patroni versions */
	char *new_leader;	/* NULL in lines from old Patroni versions */
};

struct znode_history {
	struct znode_history_line *lines;
	size_t n_lines;
};

/* A JSON list of [timeline, lsn, reason(, timestamp(, new_leader))] lines;
 * elements after the fifth are ignored (forward compatibility). */
bool znode_history_decode(const char *data, int len, struct znode_history *out, char *err,
			  size_t err_size);

/* Appends one line (timestamp/new_leader may be NULL). */
bool znode_history_append(struct znode_history *history, int64_t timeline, int64_t lsn,
			  const char *reason, const char *timestamp, const char *new_leader,
			  char *err, size_t err_size);

/* Lines end at their last present element: [1,2,"r"], [1,2,"r","t"] or
 * [1,2,"r","t","n"] (a missing timestamp before a leader becomes null). */
char *znode_history_encode(const struct znode_history *history, char *err, size_t err_size);

void znode_history_clear(struct znode_history *history);

#endif /* PGHERD_DCS_ZNODE_H */
