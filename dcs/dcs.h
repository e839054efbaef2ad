/*
 * The coordination layer as the agent sees it: one ZooKeeper session, the
 * cluster's znodes under /<namespace>/<scope>/ (Patroni's layout), this
 * member's znode, and the leader election.  No ZooKeeper type leaks out of
 * dcs/; the HA policy stays in agent/ and is asked through a callback.
 */
#ifndef PGHERD_DCS_H
#define PGHERD_DCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcs/znode.h"

struct event_base;
struct dcs;

struct dcs_settings {
	const char *connect_string;	/* "h1:2181,h2:2181" */
	const char *namespace;		/* "/service" */
	const char *scope;
	const char *member;
	int session_timeout_ms;
};

/* One member as read from members/<name>; `valid` is false when the znode
 * holds something that is not Patroni's member JSON (then status is empty). */
struct dcs_member {
	char *name;
	bool valid;
	struct member_status status;
};

/* What the agent knows of the cluster: a cache kept current by watches. */
struct dcs_cluster {
	bool connected;
	/* Connected and the whole view read in this session (leader znode,
	 * folders, their contents): decisions wait for it. */
	bool loaded;
	int64_t session_id;
	int session_timeout_ms;
	const char *leader;		/* member name in `leader`, NULL if none */
	bool initialize_present;
	const char *initialize;		/* raw content when valid, NULL otherwise */
	uint64_t initialize_system_identifier;	/* 0: absent, invalid or bootstrapping ("") */
	bool config_present;
	bool config_valid;
	const struct znode_config *config;	/* decoded `config`, NULL if absent or invalid */
	const char *config_data;	/* its JSON text when valid */
	int config_version;		/* its znode version (compare-and-set), -1 if absent */
	/* A pending switchover or failover (`failover` neither absent nor
	 * "{}"), NULL otherwise. */
	const struct znode_failover *failover;
	/* Synchronous replication's state (`sync` with a leader), NULL when
	 * absent, "{}" or invalid. */
	const struct znode_sync *sync;
	bool has_last_lsn;
	int64_t last_lsn;		/* status.optime: the primary's last known position */
	int64_t history_timeline;	/* timeline of history's last line, 0 if none */
	const char *history_data;	/* history's JSON text when valid, NULL otherwise */
	const struct znode_history *history;	/* decoded, NULL when absent or invalid */
	struct dcs_member *members;	/* sorted by name */
	size_t member_count;
	int election_position;		/* ours: 0 = first in line, -1 = not queued */
};

/* The policy's answer when the lock is ours to take (free, or left by an
 * earlier session of ours). */
enum dcs_lock_answer {
	DCS_LOCK_TAKE,
	DCS_LOCK_DECLINE,	/* someone else should: a stale lock of ours is cleared */
	DCS_LOCK_NOT_YET,	/* the facts are still arriving: ask again later */
};

struct dcs_callbacks {
	/* The cluster view changed (coalesced: at most once per loop turn). */
	void (*cluster_changed)(void *arg);
	/* Our leadership changed; dcs_is_leader() tells the new value. */
	void (*leadership_changed)(void *arg, bool leader);
	/* The HA policy: may we take the free lock now?  Asked only on a
	 * settled view (every watch event followed up). */
	enum dcs_lock_answer (*may_take_lock)(void *arg, const struct dcs_cluster *cluster);
};

struct dcs *dcs_new(struct event_base *base, const struct dcs_settings *settings,
		    const struct dcs_callbacks *callbacks, void *arg);
/* Closes the session: the server drops our member znode and the lock at
 * once, so others need not wait for a session timeout. */
void dcs_free(struct dcs *dcs);

/* Publish members/<name> (ephemeral).  Written only when it changed, and
 * again after every new session.  The string is copied. */
void dcs_set_member_data(struct dcs *dcs, const char *json);
void dcs_set_candidate(struct dcs *dcs, bool candidate);
void dcs_release_leadership(struct dcs *dcs);
/* Ask the election to apply the policy again (facts it depends on moved). */
void dcs_reevaluate(struct dcs *dcs);

/*
 * Writes for the PostgreSQL lifecycle.  Each completes asynchronously and
 * reports through `done` (may be NULL) with true on success; `done` is not
 * called if the session ends first.
 */
typedef void (*dcs_write_done_fn)(void *arg, bool ok, bool already_exists);
/* The bootstrap race: create `initialize` empty; already_exists = lost. */
void dcs_race_initialize(struct dcs *dcs, dcs_write_done_fn done, void *arg);
/* Record the system identifier, or give up a failed bootstrap (delete). */
void dcs_set_initialize(struct dcs *dcs, uint64_t system_identifier, dcs_write_done_fn done,
			void *arg);
void dcs_cancel_initialize(struct dcs *dcs, dcs_write_done_fn done, void *arg);
/* Create `key` with `data` if it does not exist (config at bootstrap). */
void dcs_create_if_absent(struct dcs *dcs, const char *key, const char *data,
			  dcs_write_done_fn done, void *arg);
/* Create or overwrite `key` (status, history). */
void dcs_write(struct dcs *dcs, const char *key, const char *data, dcs_write_done_fn done,
	       void *arg);
/* Overwrite `key` only if its znode is still at `version` (compare-and-set,
 * as Patroni writes `config`): already_exists=true in `done` means someone
 * else wrote it first (or deleted it). */
void dcs_write_if_version(struct dcs *dcs, const char *key, const char *data, int version,
			  dcs_write_done_fn done, void *arg);
/* Read `key` afresh (not from the cache), for a compare-and-set that must
 * start from the latest version.  done gets ok=false when it is absent or
 * unreadable; data (length bytes, not NUL-terminated) is valid during the
 * call.  Not called if the session ends first. */
typedef void (*dcs_read_done_fn)(void *arg, bool ok, const char *data, int length, int version);
void dcs_read(struct dcs *dcs, const char *key, dcs_read_done_fn done, void *arg);
/* Delete `key`; an absent key counts as done. */
void dcs_delete(struct dcs *dcs, const char *key, dcs_write_done_fn done, void *arg);
/* The session timeout the cluster wants now (ttl changed in `config`): a
 * member that does not hold the lock opens a new session with it at once;
 * the leader keeps its session (and the lock) until it leads no more.
 * Call again whenever it may have changed; equal values do nothing. */
void dcs_set_session_timeout(struct dcs *dcs, int session_timeout_ms);
/* Take the lock without queueing: only for the member that just won the
 * bootstrap race, which no one else can contest. */
void dcs_take_lock_now(struct dcs *dcs);

bool dcs_is_leader(const struct dcs *dcs);
/* The leader znode is ours in this session even if the lease ran out: with
 * dcs_is_leader() false, we are fenced. */
bool dcs_holds_lock(const struct dcs *dcs);
/* While we hold the lock: the earliest moment ZooKeeper may expire our
 * session and hand the lock to another member (CLOCK_MONOTONIC ms), and the
 * moment, a margin before it, when we stop leading (leader.fenced).  0 when
 * we hold no lock. */
int64_t dcs_lease_deadline_ms(const struct dcs *dcs);
int64_t dcs_fence_at_ms(const struct dcs *dcs);
const struct dcs_cluster *dcs_cluster(const struct dcs *dcs);
const char *dcs_base_path(const struct dcs *dcs);

#endif
