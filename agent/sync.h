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

/* synchronous_standby_names for a decision: "" (none), "*", or
 * N ("a","b") with N the number of names.  False if it does not fit. */
bool sync_standby_names(const struct sync_decision *decision, char *out, size_t size);

#endif
