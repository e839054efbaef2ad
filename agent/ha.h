/*
 * The HA policy: what this member should do next, as a pure function of
 * plain facts.
 *
 * The event loop gathers the facts (the ZooKeeper view, this PostgreSQL's
 * state, the clock) into a struct ha_facts, asks ha_decide(), carries out
 * the one action it returns, and asks again whenever a fact changes.  The
 * ZooKeeper and PostgreSQL layers know nothing of policy, and the policy
 * does no I/O, reads no clock and keeps no state between calls: the same
 * facts always give the same decision, and every rule has a row in a table
 * in test/unit/test_ha.c.
 *
 * The rules follow Patroni's (the Patroni reference, section 2), in the
 * spirit of pg_auto_failover's keeper: a state machine you can follow on
 * paper.  ha.c lists them in the order they are applied; where pgherd
 * deliberately differs from Patroni, the rule says so.
 */
#ifndef PGHERD_HA_H
#define PGHERD_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dcs/znode.h"

/* A reason buffer of this size holds every message in full, member names of
 * up to ZNODE_NAME_MAX bytes included. */
#define HA_REASON_MAX 768

/* What the loop knows of its own PostgreSQL. */
enum ha_pg_state {
	HA_PG_UNKNOWN = 0,	/* not looked yet */
	HA_PG_NO_DATA,		/* data directory missing or empty */
	HA_PG_STOPPED,		/* a data directory, no postmaster (clean stop) */
	HA_PG_STARTING,		/* postmaster up, not accepting connections yet */
	HA_PG_RUNNING,
	HA_PG_STOPPING,
	HA_PG_CRASHED,		/* the postmaster died without us stopping it */
	HA_PG_START_FAILED,	/* our last start attempt failed */
};

/* Meaningful while PostgreSQL is RUNNING (or STARTING, once known). */
enum ha_pg_role {
	HA_ROLE_UNKNOWN = 0,
	HA_ROLE_PRIMARY,	/* not in recovery: accepts writes */
	HA_ROLE_REPLICA,	/* in recovery */
};

/* What the policy asks the loop to do.  Each action is one asynchronous
 * step; the loop reports it in ha_facts.action_in_progress until it is done. */
enum ha_action {
	HA_NOTHING = 0,		/* steady state */
	HA_WAIT,		/* something must happen first (see the reason) */
	HA_BOOTSTRAP,		/* race for `initialize`; the winner runs initdb,
				 * writes the system identifier and then takes the
				 * lock (in progress until it holds it or gave up) */
	HA_CLONE,		/* pg_basebackup from target into the empty data
				 * directory */
	HA_START_PRIMARY,	/* start PostgreSQL in place as the primary */
	HA_START_REPLICA,	/* start as a replica of target, or of no one
				 * (read-only) when target is NULL */
	HA_PROMOTE,		/* pg_ctl promote */
	HA_DEMOTE,		/* stop PostgreSQL immediately (no checkpoint), release
				 * the lock if held (after the stop), start again as a
				 * replica of target (or of no one): Patroni's
				 * 'immediate' and 'immediate-nolock' modes */
	HA_FOLLOW,		/* re-point the running replica to target (rewrite
				 * primary_conninfo, reload) */
	HA_REWIND,		/* stop if running, pg_rewind from target, start as
				 * its replica */
	HA_REINITIALIZE,	/* stop, wipe the data directory, clone from target */
	HA_RELEASE_LOCK,	/* delete the leader znode (PostgreSQL is already down
				 * or not a primary) */
	HA_REFUSE_TO_START,	/* the data directory belongs to another cluster:
				 * never start, join or lead this one; release the
				 * lock if held and leave the election (Patroni exits) */
	HA_SWITCHOVER,		/* a manual switchover or failover: stop PostgreSQL
				 * fast (its WAL reaches the streaming replicas
				 * first), then release the lock for target (or
				 * the best replica): Patroni's 'graceful' mode */
	HA_CLEAR_FAILOVER,	/* delete a `failover` request that cannot or need
				 * not be carried out (the reason says why) */
};

/* Another member, as its members/<name> znode and the queue describe it. */
struct ha_candidate {
	const char *name;
	bool running;			/* state "running" */
	bool primary;			/* role "master"/"primary" */
	bool nofailover;		/* member_status_nofailover() */
	long long failover_priority;	/* member_status_failover_priority() */
	bool has_wal_position;		/* xlog_location published */
	uint64_t wal_position;
	int election_position;		/* 0 = first in line, -1 = not queued */
	bool synchronous;		/* named in `sync` (or its leader) */
	bool clonefrom;			/* its clonefrom tag: offered as a clone source */
};

struct ha_facts {
	/* Monotonic milliseconds, the clock pg_state_since_ms is read on. */
	int64_t now_ms;

	/* ---- this member ---- */
	const char *name;
	/* member_status_nofailover() of our tags: Patroni's rule (an explicit
	 * nofailover wins, else failover_priority <= 0), the one
	 * ha_wants_candidacy() applies.  failover_priority only ranks members
	 * at equal WAL positions. */
	bool nofailover;
	long long failover_priority;
	/* Our replicatefrom tag: stream from this member while it runs,
	 * from the leader otherwise (NULL: the leader). */
	const char *replicatefrom;
	enum ha_pg_state pg_state;
	int64_t pg_state_since_ms;	/* when pg_state last changed */
	enum ha_pg_role pg_role;
	/* pg_control says PostgreSQL was a primary when it stopped or crashed
	 * ("in production", "shutting down", "in crash recovery"). */
	bool was_primary;
	bool has_system_identifier;	/* of the local data directory */
	uint64_t system_identifier;
	int64_t timeline;		/* 0: unknown */
	/* Primary: its current WAL position; replica: max(received, replayed). */
	bool has_wal_position;
	uint64_t wal_position;
	const char *following;		/* the member our primary_conninfo names */
	/* The action the loop started for an earlier decision and that has not
	 * finished; HA_NOTHING when none. */
	enum ha_action action_in_progress;
	/* dcs_is_leader(): the leader znode is ours, owned by this session, and
	 * the lease has not run out. */
	bool holds_lock;
	/* The leader znode is ours, owned by this session, but the lease ran out
	 * (leader.fenced).  A leader znode naming us from an EARLIER session is
	 * not fenced: the election reclaims or clears it (docs/election.md). */
	bool lock_fenced;
	/* use_pg_rewind, and data checksums or wal_log_hints on. */
	bool rewind_possible;
	/* Our timeline history forked from the current leader's before our
	 * last WAL position: we cannot simply follow it.  The loop compares
	 * against the leader; without a leader this fact is ignored. */
	bool diverged;
	bool rewind_failed;		/* our last pg_rewind failed */
	bool remove_data_directory_on_rewind_failure;
	bool remove_data_directory_on_diverged_timelines;
	/* A replica creation method works without a leader (no_leader). */
	bool can_clone_without_leader;

	/* ---- the cluster, from ZooKeeper ---- */
	/* Connected, with a cluster view read in this connection. */
	bool dcs_connected;
	const char *leader;		/* name in the leader znode, NULL if free */
	bool initialize_present;
	bool initialize_in_progress;	/* "": someone is bootstrapping */
	uint64_t cluster_system_identifier; /* 0 unless a valid identifier */
	bool has_last_primary_lsn;	/* status.optime */
	uint64_t last_primary_lsn;
	int64_t cluster_timeline;	/* history's last timeline + 1, 0 unknown */
	long long maximum_lag_on_failover; /* bytes; negative counts as 0 */
	long long primary_start_timeout_s;
	bool paused;			/* maintenance mode (config "pause") */
	long long loop_wait_s;		/* config loop_wait */
	/* Synchronous mode is on and `sync` names a leader: only the members it
	 * names (and that leader) have every acknowledged commit. */
	bool synchronous_mode;
	bool synchronous;		/* we are named in `sync` (or are its leader) */
	/* The agent started less than a session timeout ago. */
	bool just_started;
	/* The postmaster runs but was not started by this agent (found
	 * running at start, and adopted). */
	bool adopted_postmaster;
	/* watchdog.mode is `required` and the watchdog process is not
	 * running. */
	bool watchdog_unavailable;
	/* Our pre_promote refused a promotion less than ttl ago. */
	bool promotion_backoff;
	/* A switchover or failover asked for in `failover` (Patroni 2.9). */
	bool has_failover;
	const char *failover_leader;	/* from this member only; NULL = any */
	const char *failover_candidate;	/* to this member; NULL = the best */
	bool failover_scheduled;	/* scheduled_at is set */
	/* scheduled_at minus now on the wall clock; negative once due. */
	int64_t failover_due_in_ms;
	const struct ha_candidate *candidates; /* the other members */
	size_t n_candidates;
	int my_election_position;	/* 0 = first in line, -1 = not queued */
};

struct ha_decision {
	enum ha_action action;
	const char *target;		/* borrowed from the facts; NULL if none */
	/* One sentence in Patroni's style for the log, e.g.
	 * "no action. I am (node1), the leader with the lock". */
	char reason[HA_REASON_MAX];
};

/* The next action for this member (rules and their order: ha.c). */
struct ha_decision ha_decide(const struct ha_facts *facts);

/*
 * Asked when we are first in line and the lock is free (and before
 * reclaiming a lock of our own left by an earlier session): may we lead?
 * Patroni's is_healthiest_node(), adapted to the queue.  reason (may be
 * NULL) gets why, in both cases.
 */
bool ha_may_take_lock(const struct ha_facts *facts, char *reason, size_t reason_size);
/*
 * Whether that question must wait: this agent just started beside a
 * PostgreSQL it found running and does not know yet what it is.  Above all
 * when the lock is one of our earlier session (the agent was killed, its
 * PostgreSQL ran on): "no" would clear it and hand a running primary's lock
 * to another member, while a moment later the answer is "yes, reclaim it".
 * Bounded by just_started.
 */
bool ha_lock_answer_pending(const struct ha_facts *facts);

struct ha_self {
	const char *name;
	const struct member_status *status;	/* what we publish, tags included */
};

/* Whether to queue for leadership at all: not with nofailover (or a
 * failover_priority of 0 or less), Patroni's rule. */
bool ha_wants_candidacy(const struct ha_self *self);

/* "promote", "start_replica"...: stable names for logs. */
const char *ha_action_name(enum ha_action action);

#endif
