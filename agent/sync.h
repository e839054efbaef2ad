/*
 * Synchronous replication as Patroni's leader runs it (reference 2.7): which
 * replicas are synchronous standbys, and in which order the two places
 * that say so change, so that only a member that has every acknowledged
 * commit is ever listed in the `sync` znode:
 *
 *   - a standby is added to synchronous_standby_names first, and published
 *     in `sync` only once PostgreSQL reports it synchronous;
 *   - a standby leaves `sync` first, and synchronous_standby_names after.
 *
 * Pure: the agent gathers the inputs each time its PostgreSQL reports, and
 * carries out the one step decided (write `sync`, or rewrite
 * synchronous_standby_names and reload).
 */
#ifndef PGHERD_AGENT_SYNC_H
#define PGHERD_AGENT_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNC_MAX_STANDBYS 16

/* A replica of ours, as pg_stat_replication and its member znode show it. */
struct sync_replica {
	const char *name;		/* member name = application_name */
	bool streaming;			/* pg_stat_replication state "streaming" */
	bool synchronous;		/* its sync_state is "sync" or "quorum" */
	bool nosync;			/* its nosync tag */
	uint64_t flush_lsn;
};

struct sync_inputs {
	bool enabled;			/* config synchronous_mode */
	bool strict;			/* synchronous_mode_strict */
	long long node_count;		/* synchronous_node_count, >= 1 */
	const struct sync_replica *replicas;
	size_t n_replicas;
	/* The `sync` znode: ours when its leader is this member. */
	bool published_is_ours;
	const char *const *published;	/* its sync_standby names */
	size_t n_published;
	/* What we last wrote to synchronous_standby_names (NULL: nothing,
	 * PostgreSQL's or the user's value applies). */
	bool configured_set;
	bool configured_star;		/* '*': every commit waits (strict, no standby) */
	const char *const *configured;
	size_t n_configured;
};

enum sync_step {
	SYNC_NOTHING,
	SYNC_PUBLISH,		/* write `sync` = {leader: us, sync_standby: names} */
	SYNC_CONFIGURE,		/* synchronous_standby_names = names (or '*') */
	SYNC_CLEAR,		/* synchronous mode is off: clear `sync`, then stop
				 * setting synchronous_standby_names */
};

struct sync_decision {
	enum sync_step step;
	bool star;
	size_t n_names;
	const char *names[SYNC_MAX_STANDBYS];	/* borrowed from the inputs, sorted */
};

struct sync_decision sync_decide(const struct sync_inputs *inputs);

/*
 * The other side: a replica about to restart while it may be a synchronous
 * standby (Patroni's while_not_sync_standby).  It publishes nosync and
 * restarts only once the view says the leader no longer counts on it, so
 * that commits on the primary do not wait for a standby that is down.
 * Only a hint: the agent also goes on when the wait times out.
 */
struct sync_release_inputs {
	const char *name;		/* this member */
	const char *leader;		/* the lock holder, NULL when none */
	/* The `sync` znode: its leader (NULL: absent or "{}") and standbys. */
	const char *sync_leader;
	const char *const *sync_standbys;
	size_t n_sync_standbys;
	long long node_count;		/* synchronous_node_count, >= 1 */
	/* Other members the leader could make synchronous instead: running
	 * replicas streaming from the leader, without nosync. */
	size_t n_others;
};

enum sync_release {
	SYNC_RELEASE_WAIT,		/* still named, or sync duty not handed on yet */
	SYNC_RELEASE_RELEASED,		/* `sync` names other standbys, not this one */
	SYNC_RELEASE_NO_LEADER,		/* no leader, or this member leads */
	SYNC_RELEASE_NO_SYNC,		/* no `sync`, or one of an earlier leader */
	SYNC_RELEASE_NO_OTHER_STANDBY,	/* not named, and no other member can take over */
};

/*
 * Not named in `sync` is not enough: the leader takes a standby out of
 * `sync` first and names its successor only once PostgreSQL waits for it
 * (see above), so while `sync` names fewer standbys than the others could
 * fill (up to node_count), the hand-over is still under way.
 */
enum sync_release sync_release_state(const struct sync_release_inputs *inputs);
/* "wait", "released", "no_leader", "no_sync", "no_other_standby". */
const char *sync_release_name(enum sync_release state);

/* synchronous_standby_names for a decision: "" (none), "*", or
 * N ("a","b") with N the number of names.  False if it does not fit. */
bool sync_standby_names(const struct sync_decision *decision, char *out, size_t size);

#endif
