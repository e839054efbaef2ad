/*
 * The HA policy (see ha.h).  No I/O, no clock, no globals: every function
 * here is a function of its arguments.
 *
 * "Patroni 2.x" below points at sections of the Patroni reference
 * (/work/shared/reference/patroni.md, section 2).
 *
 * ha_decide() applies the FIRST rule that matches, in this order:
 *
 *   1. The data directory belongs to another cluster  -> REFUSE_TO_START
 *   2. PostgreSQL is, or is about to become, a writable primary and we do
 *      not hold the lock (and are not demoting yet)   -> DEMOTE (fencing)
 *      ... unless we are bootstrapping, or the lock names us from an
 *      earlier session that the election is reclaiming -> WAIT
 *   3. An action we started has not finished          -> WAIT
 *   4. ZooKeeper is unreachable (and we hold no lease) -> NOTHING
 *   5. PostgreSQL's state is not known yet            -> WAIT
 *   6. The data directory is empty                    -> RELEASE_LOCK,
 *                                                        CLONE, BOOTSTRAP, WAIT
 *   7. We hold the lock                               -> NOTHING, PROMOTE,
 *                               START_PRIMARY, START_REPLICA, RELEASE_LOCK,
 *                                                        DEMOTE, WAIT
 *   8. PostgreSQL is starting or stopping             -> WAIT
 *   9. Our timeline forked from the leader's          -> REWIND,
 *                                                        REINITIALIZE, WAIT
 *  10. PostgreSQL is down (stopped, crashed, failed)  -> START_REPLICA
 *  11. PostgreSQL runs as a replica                   -> FOLLOW, NOTHING, WAIT
 *
 * Rule 7 for a running primary first looks at a `failover` request: wait
 * for its time, clear it (stale, not for us, no healthy candidate), or
 * SWITCHOVER: stop gracefully and hand the lock to the candidate.
 *
 * Then maintenance mode: when paused, the decision is reported with
 * "PAUSE: " and only NOTHING, WAIT, RELEASE_LOCK, CLEAR_FAILOVER and a
 * SWITCHOVER to a named candidate survive (Patroni 2.8).
 *
 * Why this order:
 *  - A data directory of another cluster must never be started, joined or
 *    promoted, whatever else is true: it goes first.
 *  - Fencing comes before "action in progress": a primary that lost the lock
 *    must stop accepting writes even while a start or a promotion runs
 *    (Patroni 2.1 step 4, "lost leader before promote").
 *  - Nothing may be started or followed on a stale view (rule 4), and the
 *    lock holder's own PostgreSQL comes before any question about the
 *    others (rule 7).
 *  - Divergence is checked before starting or following (rules 9-11), so a
 *    forked data directory is never started against the new leader.
 */
#include "agent/ha.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- small helpers --------------------------------------------------- */

static bool same_name(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static void write_reason(char *reason, size_t size, const char *format, ...)
	__attribute__((format(printf, 3, 4)));
static void write_reason(char *reason, size_t size, const char *format, ...)
{
	va_list arguments;

	if (reason == NULL || size == 0)
		return;
	va_start(arguments, format);
	vsnprintf(reason, size, format, arguments);
	va_end(arguments);
}

static struct ha_decision decided(enum ha_action action, const char *target,
				  const char *format, ...) __attribute__((format(printf, 3, 4)));
static struct ha_decision decided(enum ha_action action, const char *target,
				  const char *format, ...)
{
	struct ha_decision decision = { .action = action, .target = target };
	va_list arguments;

	va_start(arguments, format);
	vsnprintf(decision.reason, sizeof(decision.reason), format, arguments);
	va_end(arguments);
	return decision;
}

/* PostgreSQL's own notation for a WAL position, "16/B374D848", in reasons. */
#define LSN_FORMAT "%X/%X"
#define LSN_ARGUMENTS(lsn) (unsigned) ((lsn) >> 32), (unsigned) (lsn)

/* The member to follow: the leader znode names someone else.  A leader
 * znode naming us is our own lock (held, fenced, or from an earlier
 * session), never something to follow. */
static const char *other_leader(const struct ha_facts *facts)
{
	if (facts->leader == NULL || same_name(facts->leader, facts->name))
		return NULL;
	return facts->leader;
}

static const struct ha_candidate *find_member(const struct ha_facts *facts, const char *name)
{
	for (size_t i = 0; i < facts->n_candidates; i++)
		if (same_name(facts->candidates[i].name, name))
			return &facts->candidates[i];
	return NULL;
}

/* Patroni's replicatefrom: stream from that member while it runs (a
 * cascade), from the leader otherwise. */
static const char *upstream(const struct ha_facts *facts, const char *leader)
{
	const struct ha_candidate *from = find_member(facts, facts->replicatefrom);

	if (leader != NULL && from != NULL && from->running)
		return from->name;
	return leader;
}

/* Patroni's clonefrom: a running member that offers itself as a clone
 * source (the first, in name order), or the leader. */
static const char *clone_source(const struct ha_facts *facts, const char *leader)
{
	for (size_t i = 0; i < facts->n_candidates; i++)
		if (facts->candidates[i].clonefrom && facts->candidates[i].running &&
		    facts->candidates[i].has_wal_position)
			return facts->candidates[i].name;
	return leader;
}

/* Cloning and rewinding read from the leader: only a running one serves. */
static bool leader_is_running(const struct ha_facts *facts)
{
	const struct ha_candidate *leader = find_member(facts, other_leader(facts));

	return leader != NULL && leader->running;
}

/* The data directory has a system identifier and the cluster recorded a
 * different one in `initialize` (Patroni 2.1 step 8). */
static bool data_directory_is_foreign(const struct ha_facts *facts)
{
	return facts->has_system_identifier && facts->cluster_system_identifier != 0 &&
	       facts->system_identifier != facts->cluster_system_identifier;
}

/* Writes may reach this PostgreSQL: it runs (or starts) as a primary, or
 * we are starting it as one or promoting it right now. */
static bool may_accept_writes(const struct ha_facts *facts)
{
	bool up = facts->pg_state == HA_PG_RUNNING || facts->pg_state == HA_PG_STARTING;

	return (up && facts->pg_role == HA_ROLE_PRIMARY) ||
	       facts->action_in_progress == HA_START_PRIMARY ||
	       facts->action_in_progress == HA_PROMOTE;
}

/* The leader znode names us but belongs to an earlier session of ours
 * (the agent restarted while PostgreSQL kept running).  Nobody else can
 * take a lock that exists, and the election replaces or deletes it in one
 * round trip (docs/election.md, step 5). */
static bool lock_is_ours_from_earlier_session(const struct ha_facts *facts)
{
	return facts->dcs_connected && !facts->holds_lock && !facts->lock_fenced &&
	       same_name(facts->leader, facts->name);
}

/* Whether position is further behind the primary's last known position
 * than maximum_lag_on_failover allows (Patroni 2.3 step 9); *behind gets the
 * distance in bytes. */
static bool lags_too_far(const struct ha_facts *facts, uint64_t position, uint64_t *behind)
{
	uint64_t allowed = facts->maximum_lag_on_failover > 0
				   ? (uint64_t) facts->maximum_lag_on_failover
				   : 0;

	*behind = 0;
	if (!facts->has_last_primary_lsn || position >= facts->last_primary_lsn)
		return false;
	*behind = facts->last_primary_lsn - position;
	return *behind > allowed;
}

/* Another member that could lead instead of us: its znode says it runs, it
 * may fail over, and it published a position to compare.  Members without a
 * position are left out, as Patroni leaves out members it cannot reach. */
static bool could_lead(const struct ha_facts *facts, const struct ha_candidate *candidate)
{
	return !same_name(candidate->name, facts->name) && candidate->running &&
	       !candidate->nofailover && candidate->has_wal_position;
}

/* Patroni's is_failover_possible(): a replica (the named one, when only is
 * not NULL) could take over from us within maximum_lag_on_failover. */
static bool failover_possible_to(const struct ha_facts *facts, const char *only)
{
	uint64_t behind;

	for (size_t i = 0; i < facts->n_candidates; i++) {
		const struct ha_candidate *candidate = &facts->candidates[i];
		if ((only == NULL || same_name(candidate->name, only)) &&
		    could_lead(facts, candidate) && !candidate->primary &&
		    (!facts->synchronous_mode || candidate->synchronous) &&
		    !lags_too_far(facts, candidate->wal_position, &behind))
			return true;
	}
	return false;
}

static bool failover_is_possible(const struct ha_facts *facts)
{
	return failover_possible_to(facts, NULL);
}

/* A `failover` request that the lock holder acts on now: present, and not
 * scheduled for later. */
static bool manual_failover_due(const struct ha_facts *facts)
{
	return facts->has_failover &&
	       (!facts->failover_scheduled || facts->failover_due_in_ms <= 0);
}

/* Whether PostgreSQL has spent primary_start_timeout in its current state
 * (crashed, stopped or starting since pg_state_since_ms); *seconds_left gets
 * the rest, rounded up.  A timeout of 0 (or less) has always passed:
 * Patroni's "fail over at once rather than restart in place". */
static bool primary_start_timed_out(const struct ha_facts *facts, long long *seconds_left)
{
	long long timeout_s = facts->primary_start_timeout_s;
	int64_t elapsed_ms = facts->now_ms - facts->pg_state_since_ms;

	*seconds_left = 0;
	if (timeout_s <= 0)
		return true;
	if (timeout_s > INT64_MAX / 1000) {	/* never, in practice */
		*seconds_left = timeout_s;
		return false;
	}
	if (elapsed_ms >= timeout_s * 1000)
		return true;
	*seconds_left = (timeout_s * 1000 - elapsed_ms + 999) / 1000;
	return false;
}

static bool ahead_in_queue(int theirs, int mine)
{
	return theirs >= 0 && (mine < 0 || theirs < mine);
}

/* ---- who may take the free lock (Patroni 2.3) -------------------------- */

bool ha_lock_answer_pending(const struct ha_facts *facts)
{
	return facts->just_started && facts->adopted_postmaster &&
	       (facts->pg_state == HA_PG_STARTING || facts->pg_state == HA_PG_UNKNOWN);
}

bool ha_may_take_lock(const struct ha_facts *facts, char *reason, size_t reason_size)
{
	uint64_t behind;

	/* A member whose PostgreSQL is not running has nothing to offer yet:
	 * it starts as a replica first (ha_decide rule 10).  The bootstrap
	 * winner does not come here: it takes the lock after initdb. */
	if (facts->pg_state != HA_PG_RUNNING) {
		write_reason(reason, reason_size, "PostgreSQL is not running");
		return false;
	}
	/* Patroni 2.3 step 4.  pgherd checks it before the primary rule of step
	 * 3: a nofailover member does not even queue (ha_wants_candidacy), so
	 * it must not lead through a reclaimed lock either. */
	if (facts->nofailover) {
		write_reason(reason, reason_size, "I am not allowed to become the leader (nofailover)");
		return false;
	}
	/* Patroni 2.3 step 6, before step 3: not even a running primary may
	 * lead without the watchdog it requires. */
	if (facts->watchdog_unavailable) {
		write_reason(reason, reason_size,
		    "the watchdog is required and not running: I may not lead");
		return false;
	}
	/* Patroni 2.3 step 1. */
	if (facts->promotion_backoff) {
		write_reason(reason, reason_size,
		    "pre_promote refused my last promotion: out of the race for ttl");
		return false;
	}
	if (data_directory_is_foreign(facts)) {
		write_reason(reason, reason_size,
		    "my system identifier (%llu) is not the cluster's (%llu)",
		    (unsigned long long) facts->system_identifier,
		    (unsigned long long) facts->cluster_system_identifier);
		return false;
	}
	if (facts->cluster_system_identifier != 0 && !facts->has_system_identifier) {
		write_reason(reason, reason_size,
		    "my system identifier is not known: I cannot tell whether my data belongs to this cluster");
		return false;
	}
	/* Patroni 2.3 step 3: a running primary may keep (or take back) the
	 * lock, unless a later timeline exists: then it is a stale primary and
	 * someone was promoted after it. */
	if (facts->pg_role == HA_ROLE_PRIMARY) {
		if (!facts->paused && facts->timeline < facts->cluster_timeline) {
			write_reason(reason, reason_size,
			    "I am a primary on timeline %lld, behind the cluster's timeline %lld",
			    (long long) facts->timeline, (long long) facts->cluster_timeline);
			return false;
		}
		write_reason(reason, reason_size, "I am (%s), a running primary of this cluster", facts->name);
		return true;
	}
	/* Patroni 2.3 step 2: in maintenance mode an operator may still fail
	 * over to a named member. */
	if (facts->paused && facts->pg_role == HA_ROLE_REPLICA && manual_failover_due(facts) &&
	    same_name(facts->failover_candidate, facts->name)) {
		write_reason(reason, reason_size,
		    "PAUSE: I am (%s), the candidate of a manual failover", facts->name);
		return true;
	}
	/* Patroni 2.3 step 4: in maintenance mode only a running primary may
	 * take the lock; nothing is promoted on our own. */
	if (facts->paused) {
		write_reason(reason, reason_size,
		    "PAUSE: only a running primary may take the lock in maintenance mode");
		return false;
	}
	if (facts->pg_role != HA_ROLE_REPLICA) {
		write_reason(reason, reason_size, "PostgreSQL's role is not known yet");
		return false;
	}
	if (!facts->has_wal_position) {
		write_reason(reason, reason_size, "my wal position is not known");
		return false;
	}
	/* Patroni 2.3 step 8: in synchronous mode only a member named in `sync`
	 * has every commit the primary acknowledged. */
	bool named_failover = manual_failover_due(facts) && facts->failover_leader == NULL &&
			      same_name(facts->failover_candidate, facts->name);
	/* ... except the candidate an operator named in a failover (no leader
	 * given), as Patroni allows: pgherdctl asks first. */
	if (facts->synchronous_mode && !facts->synchronous && !named_failover) {
		write_reason(reason, reason_size,
		    "I am not a synchronous standby: promoting me could lose acknowledged commits");
		return false;
	}
	/* Patroni 2.3 step 5 and 2.9: a switchover or failover in progress.
	 * The named candidate takes the lock; the others wait for it while it
	 * runs.  The member being switched away from never takes it back. */
	if (manual_failover_due(facts)) {
		const struct ha_candidate *named = find_member(facts, facts->failover_candidate);
		if (same_name(facts->failover_candidate, facts->name)) {
			write_reason(reason, reason_size,
			    "I am (%s), the candidate of a manual failover", facts->name);
			return true;
		}
		if (named != NULL && named->running) {
			write_reason(reason, reason_size, "manual failover to %s in progress", named->name);
			return false;
		}
		if (same_name(facts->failover_leader, facts->name)) {
			write_reason(reason, reason_size,
			    "a switchover away from me (%s) is in progress", facts->name);
			return false;
		}
	}
	if (lags_too_far(facts, facts->wal_position, &behind)) {
		write_reason(reason, reason_size,
		    "My wal position exceeds maximum replication lag (%llu bytes behind the last primary position "
		    LSN_FORMAT ", maximum_lag_on_failover %lld)",
		    (unsigned long long) behind, LSN_ARGUMENTS(facts->last_primary_lsn),
		    facts->maximum_lag_on_failover);
		return false;
	}
	/* Patroni 2.3 step 9: a primary that still runs will be demoted by its
	 * own agent (it has no lock); promoting now would make two.  pgherd
	 * counts nofailover members too (Patroni does not poll them): a running
	 * primary is a running primary. */
	for (size_t i = 0; i < facts->n_candidates; i++) {
		const struct ha_candidate *other = &facts->candidates[i];
		if (!same_name(other->name, facts->name) && other->running && other->primary) {
			write_reason(reason, reason_size, "Primary (%s) is still alive", other->name);
			return false;
		}
	}
	/*
	 * Patroni 2.3 step 9: the most recent WAL position leads; at equal
	 * positions the higher failover_priority.  At equal position and
	 * priority the queue decides, earlier first.  The queue asks only its
	 * first in line, so in practice a candidate at position 0 declines only
	 * when someone is strictly better; the queue rule matters when we are
	 * asked out of line (reclaiming a lock of ours, position -1).
	 */
	for (size_t i = 0; i < facts->n_candidates; i++) {
		const struct ha_candidate *other = &facts->candidates[i];
		/* In synchronous mode only the synchronous members race, and
		 * only against each other (Patroni 2.3 step 8). */
		if (!could_lead(facts, other) || (facts->synchronous_mode && !other->synchronous))
			continue;
		if (other->wal_position > facts->wal_position) {
			write_reason(reason, reason_size,
			    "Wal position of %s is ahead of my wal position (" LSN_FORMAT " > " LSN_FORMAT ")",
			    other->name, LSN_ARGUMENTS(other->wal_position),
			    LSN_ARGUMENTS(facts->wal_position));
			return false;
		}
		if (other->wal_position < facts->wal_position)
			continue;
		if (other->failover_priority > facts->failover_priority) {
			write_reason(reason, reason_size,
			    "%s has the same wal position and a higher failover_priority (%lld > %lld)",
			    other->name, other->failover_priority, facts->failover_priority);
			return false;
		}
		if (other->failover_priority == facts->failover_priority &&
		    ahead_in_queue(other->election_position, facts->my_election_position)) {
			write_reason(reason, reason_size,
			    "%s has the same wal position and failover_priority and is ahead of me in the queue",
			    other->name);
			return false;
		}
	}
	write_reason(reason, reason_size, "I am (%s), the healthiest candidate", facts->name);
	return true;
}

/* ---- rule groups of ha_decide(), each in its own order ------------------ */

/* Rule 6: the data directory is empty (Patroni 2.1 step 7, 2.11). */
static struct ha_decision decide_empty_data_directory(const struct ha_facts *facts)
{
	const char *leader = other_leader(facts);

	/* 6a. Nothing left to lead with: let another member take over. */
	if (facts->holds_lock)
		return decided(HA_RELEASE_LOCK, NULL,
			       "released the leader key: my data directory is empty");
	/* 6b. A cluster exists: copy it from its leader. */
	if (leader != NULL && leader_is_running(facts)) {
		const char *source = clone_source(facts, leader);
		if (!same_name(source, leader))
			return decided(HA_CLONE, source, "trying to bootstrap from replica '%s' (clonefrom)",
				       source);
		return decided(HA_CLONE, leader, "trying to bootstrap from leader '%s'", leader);
	}
	if (leader != NULL)
		return decided(HA_WAIT, NULL,
			       "waiting for the leader (%s) to run before cloning from it", leader);
	/* 6b'. Patroni 6.4: a method with no_leader (a restore from backups)
	 * makes a replica of an existing cluster that has no leader now. */
	if (facts->initialize_present && !facts->initialize_in_progress &&
	    facts->can_clone_without_leader)
		return decided(HA_CLONE, NULL, "creating a replica without a leader (no_leader method)");
	/* 6c. No cluster yet: race for `initialize`, the winner runs initdb.
	 * Only while no leader znode exists at all (Patroni: is_unlocked()),
	 * not even a stale one naming us.  A nofailover member may never lead,
	 * so it cannot bootstrap either. */
	if (facts->leader == NULL && !facts->initialize_present && !facts->nofailover)
		return decided(HA_BOOTSTRAP, NULL, "trying to bootstrap a new cluster");
	/* 6d. Someone is bootstrapping, or the cluster has no leader now. */
	return decided(HA_WAIT, NULL, "waiting for leader to bootstrap");
}

/* Rule 7a': the lock holder and a `failover` request (Patroni 2.9). */
static struct ha_decision decide_manual_failover(const struct ha_facts *facts)
{
	const char *candidate = facts->failover_candidate;

	if (facts->failover_scheduled && facts->failover_due_in_ms > 0)
		return decided(HA_NOTHING, NULL,
			       "no action. I am (%s), the leader with the lock; switchover scheduled in %lld s",
			       facts->name, (long long) ((facts->failover_due_in_ms + 999) / 1000));
	/* Patroni drops a schedule more than 1.5 x loop_wait in the past: the
	 * operator asked for a switchover then, not whenever we come back. */
	if (facts->failover_scheduled &&
	    -facts->failover_due_in_ms > facts->loop_wait_s * 1500)
		return decided(HA_CLEAR_FAILOVER, NULL,
			       "Found a stale failover value, cleaning up (scheduled %lld s ago)",
			       (long long) (-facts->failover_due_in_ms / 1000));
	if (facts->failover_leader != NULL && !same_name(facts->failover_leader, facts->name))
		return decided(HA_CLEAR_FAILOVER, NULL,
			       "manual failover: leader name does not match: %s != %s",
			       facts->failover_leader, facts->name);
	if (same_name(candidate, facts->name))
		return decided(HA_CLEAR_FAILOVER, NULL,
			       "manual failover: I am already the leader, no need to failover");
	if (!failover_possible_to(facts, candidate)) {
		if (candidate != NULL)
			return decided(HA_CLEAR_FAILOVER, NULL,
				       "manual failover: %s is not a running replica within maximum_lag_on_failover (or, in synchronous mode, not in sync)",
				       candidate);
		return decided(HA_CLEAR_FAILOVER, NULL,
			       "manual failover: no healthy replica to hand over to");
	}
	return decided(HA_SWITCHOVER, candidate, "manual failover: demoting myself");
}

/* Rule 7: we hold the lock (Patroni 2.4, 2.10). */
static struct ha_decision decide_as_lock_holder(const struct ha_facts *facts)
{
	long long seconds_left;

	switch (facts->pg_state) {
	case HA_PG_RUNNING:
		/* 7a-7c. */
		if (facts->pg_role == HA_ROLE_PRIMARY) {
			if (facts->has_failover)
				return decide_manual_failover(facts);
			return decided(HA_NOTHING, NULL,
				       "no action. I am (%s), the leader with the lock", facts->name);
		}
		if (facts->pg_role == HA_ROLE_REPLICA)
			return decided(HA_PROMOTE, NULL,
				       "promoted self to leader by acquiring session lock");
		return decided(HA_WAIT, NULL,
			       "waiting to learn whether PostgreSQL is a primary or a replica");

	case HA_PG_START_FAILED:
		/* 7d. Patroni 2.10: a leader that cannot start must not keep the
		 * cluster waiting. */
		return decided(HA_RELEASE_LOCK, NULL,
			       "removed leader key after trying and failing to start postgres");

	case HA_PG_STARTING:
		/* 7e. Patroni 2.10: a start bounded by primary_start_timeout,
		 * after which a healthy replica takes over.  DEMOTE stops the
		 * half-started primary before the lock goes. */
		if (!primary_start_timed_out(facts, &seconds_left))
			return decided(HA_WAIT, NULL,
				       "PostgreSQL is still starting up, %lld seconds until timeout",
				       seconds_left);
		if (failover_is_possible(facts))
			return decided(HA_DEMOTE, NULL,
				       "PostgreSQL did not start within primary_start_timeout (%lld s): stopping it to fail over",
				       facts->primary_start_timeout_s);
		return decided(HA_WAIT, NULL,
			       "primary start has timed out, but continuing to wait because failover is not possible");

	case HA_PG_STOPPED:
	case HA_PG_CRASHED:
		/* 7f. Patroni 2.10: restart in place, unless primary_start_timeout
		 * (0: at once) says a healthy replica should take over instead.
		 * PostgreSQL is down, so releasing the lock is enough. */
		if (primary_start_timed_out(facts, &seconds_left) && failover_is_possible(facts))
			return decided(HA_RELEASE_LOCK, NULL, "%s",
				       facts->pg_state == HA_PG_CRASHED
					       ? "stopped PostgreSQL to fail over after a crash"
					       : "released the leader key to fail over: PostgreSQL is stopped");
		/* 7g. A former replica starts as one and is promoted once it
		 * runs (7b): it never starts writable with the old role. */
		if (facts->was_primary)
			return decided(HA_START_PRIMARY, NULL, "starting primary after failure");
		return decided(HA_START_REPLICA, NULL,
			       "starting as a replica, to promote it once it runs: I hold the lock");

	case HA_PG_STOPPING:
	case HA_PG_UNKNOWN:
	case HA_PG_NO_DATA:	/* rules 5 and 6 came first */
		break;
	}
	/* 7h. */
	return decided(HA_WAIT, NULL, "waiting for PostgreSQL to stop");
}

/* Rule 9: our timeline forked from the leader's (Patroni 2.6). */
static struct ha_decision decide_diverged(const struct ha_facts *facts, const char *leader)
{
	bool may_reinitialize = facts->remove_data_directory_on_diverged_timelines;

	/* 9a. Both pg_rewind and a fresh copy read from the leader. */
	if (!leader_is_running(facts))
		return decided(HA_WAIT, NULL,
			       "my timeline diverged from the leader (%s): waiting for it to run", leader);
	/* 9b. A failed rewind is not retried blindly: it may have left the
	 * data directory half-rewound. */
	if (facts->rewind_failed) {
		if (facts->remove_data_directory_on_rewind_failure || may_reinitialize)
			return decided(HA_REINITIALIZE, leader,
				       "reinitializing from (%s) after pg_rewind failed", leader);
		return decided(HA_WAIT, NULL,
			       "pg_rewind from the leader (%s) failed and remove_data_directory_on_rewind_failure is off: "
			       "an operator must reinitialize this member",
			       leader);
	}
	/* 9c. */
	if (facts->rewind_possible)
		return decided(HA_REWIND, leader, "running pg_rewind from %s", leader);
	/* 9d. */
	if (may_reinitialize)
		return decided(HA_REINITIALIZE, leader, "reinitializing due to diverged timelines");
	/* 9e. Following a forked history would fail or corrupt the replica. */
	return decided(HA_WAIT, NULL,
		       "my timeline diverged from the leader (%s) and pg_rewind is not possible "
		       "(use_pg_rewind off, or neither data checksums nor wal_log_hints): "
		       "an operator must reinitialize this member, or set remove_data_directory_on_diverged_timelines",
		       leader);
}

/* Rule 11: PostgreSQL runs as a replica (Patroni 2.4, follow()). */
static struct ha_decision decide_running_replica(const struct ha_facts *facts, const char *leader)
{
	/* 11a. */
	if (facts->pg_role != HA_ROLE_REPLICA)
		return decided(HA_WAIT, NULL,
			       "waiting to learn whether PostgreSQL is a primary or a replica");
	/* 11b. The election decides who leads; replicas keep serving reads. */
	if (leader == NULL)
		return decided(HA_WAIT, NULL,
			       "no action. I am (%s), a secondary, and the cluster has no leader: the election decides",
			       facts->name);
	/* 11c. */
	const char *source = upstream(facts, leader);
	if (same_name(facts->following, source))
		return decided(HA_NOTHING, NULL,
			       "no action. I am (%s), a secondary, and following a %s (%s)",
			       facts->name, same_name(source, leader) ? "leader" : "replica (replicatefrom)",
			       source);
	/* 11d. */
	if (!same_name(source, leader))
		return decided(HA_FOLLOW, source, "following %s (replicatefrom) instead of the leader (%s)",
			       source, leader);
	return decided(HA_FOLLOW, leader, "following a different leader (%s)", leader);
}

/* ---- ha_decide ----------------------------------------------------------- */

static struct ha_decision decide_by_rules(const struct ha_facts *facts)
{
	const char *leader = other_leader(facts);

	/* 1. Patroni 2.1 step 8 (Patroni exits). */
	if (data_directory_is_foreign(facts))
		return decided(HA_REFUSE_TO_START, NULL,
			       "the system identifier of my data directory (%llu) is not the cluster's (%llu): "
			       "refusing to start, join or lead this cluster",
			       (unsigned long long) facts->system_identifier,
			       (unsigned long long) facts->cluster_system_identifier);

	/* 2. Fencing (Patroni 2.4 and 2.1 step 4: demote 'immediate-nolock'):
	 * only the lock holder may accept writes.  pgherd demotes also when the
	 * lock is free, where Patroni would first race for it: without the lock
	 * nothing bounds how long a primary would accept writes while another
	 * member takes it; the queue still lets this member lead again. */
	if (may_accept_writes(facts) && !facts->holds_lock &&
	    facts->action_in_progress != HA_DEMOTE /* already under way: rule 3 */) {
		/* 2a. The bootstrap winner runs its new primary before it takes
		 * the lock (Patroni: not while bootstrapping). */
		if (facts->action_in_progress == HA_BOOTSTRAP)
			return decided(HA_WAIT, NULL, "bootstrap in progress");
		/* 2b. */
		if (lock_is_ours_from_earlier_session(facts))
			return decided(HA_WAIT, NULL,
				       "the leader key names me from an earlier session: waiting for the election to reclaim it");
		/* 2c. An agent that just started beside a running primary (it
		 * died, PostgreSQL did not) first reads the cluster: its earlier
		 * session's lock, if any, still keeps everyone else out, and
		 * demoting now would force a failover for nothing.  Bounded by
		 * the session timeout. */
		if (!facts->dcs_connected && facts->just_started)
			return decided(HA_WAIT, NULL,
				       "reading the cluster before deciding about the running primary");
		if (!facts->dcs_connected)
			return decided(HA_DEMOTE, NULL,
				       "demoting self because DCS is not accessible and I was a leader");
		if (facts->lock_fenced)
			return decided(HA_DEMOTE, NULL,
				       "demoting self because my lease on the leader lock ran out and I was a leader");
		if (facts->action_in_progress == HA_PROMOTE)
			return decided(HA_DEMOTE, leader, "lost leader before promote");
		return decided(HA_DEMOTE, leader,
			       "demoting self because I do not have the lock and I was a leader");
	}

	/* 3. Patroni 2.1 step 4.  One action at a time; the loop asks again
	 * when it finishes. */
	if (facts->action_in_progress != HA_NOTHING)
		return decided(HA_WAIT, NULL, "%s in progress",
			       ha_action_name(facts->action_in_progress));

	/* 4. Patroni: "DCS is not accessible".  The cluster view is stale:
	 * start or follow nothing on it.  A leader whose lease still runs
	 * leads on (rule 7); one whose lease ran out was fenced (rule 2). */
	if (!facts->dcs_connected && !facts->holds_lock)
		return decided(HA_NOTHING, NULL, "DCS is not accessible");

	/* 5. */
	if (facts->pg_state == HA_PG_UNKNOWN)
		return decided(HA_WAIT, NULL, "waiting to learn the state of PostgreSQL");

	/* 6. */
	if (facts->pg_state == HA_PG_NO_DATA)
		return decide_empty_data_directory(facts);

	/* 7. */
	if (facts->holds_lock)
		return decide_as_lock_holder(facts);

	/* 8. */
	if (facts->pg_state == HA_PG_STARTING)
		return decided(HA_WAIT, NULL, "waiting for PostgreSQL to start");
	if (facts->pg_state == HA_PG_STOPPING)
		return decided(HA_WAIT, NULL, "waiting for PostgreSQL to stop");

	/* 9. */
	if (leader != NULL && facts->diverged)
		return decide_diverged(facts, leader);

	/* 10. Patroni 2.1 step 9, recover(): down members come back as
	 * replicas.  Without a leader, even a former primary starts read-only
	 * and then competes for the lock: only the lock makes it writable. */
	if (facts->pg_state != HA_PG_RUNNING) {
		if (leader != NULL && !same_name(upstream(facts, leader), leader))
			return decided(HA_START_REPLICA, upstream(facts, leader),
				       "starting as a secondary following %s (replicatefrom)",
				       upstream(facts, leader));
		if (leader != NULL)
			return decided(HA_START_REPLICA, leader,
				       "starting as a secondary following the leader (%s)", leader);
		if (facts->was_primary)
			return decided(HA_START_REPLICA, NULL,
				       "starting former primary as a read-only replica: no one holds the lock");
		return decided(HA_START_REPLICA, NULL,
			       "starting as a secondary: no leader to follow yet");
	}

	/* 11. (A running primary without the lock was demoted in rule 2.) */
	return decide_running_replica(facts, leader);
}

/*
 * Maintenance mode (Patroni 2.8): never start, stop, promote or demote on
 * our own.  The decision is reported, not carried out, with two exceptions
 * where Patroni gives up the lock:
 *  - a lock holder whose PostgreSQL runs as a replica (Patroni 2.4);
 *  - a lock holder whose data directory belongs to another cluster
 *    (Patroni 2.1 step 8: "warn, release lock").
 */
static struct ha_decision in_maintenance_mode(const struct ha_facts *facts,
					      const struct ha_decision *unpaused)
{
	/* The one promotion an operator asks for in maintenance mode. */
	if (unpaused->action == HA_PROMOTE && facts->has_failover &&
	    same_name(facts->failover_candidate, facts->name))
		return decided(HA_PROMOTE, NULL, "PAUSE: promoting myself: a manual failover names me");
	if (unpaused->action == HA_PROMOTE)
		return decided(HA_RELEASE_LOCK, NULL,
			       "PAUSE: released the leader key: PostgreSQL is not a primary");
	if (unpaused->action == HA_REFUSE_TO_START && facts->holds_lock)
		return decided(HA_RELEASE_LOCK, NULL, "PAUSE: released the leader key: %s",
			       unpaused->reason);
	if (unpaused->action == HA_NOTHING || unpaused->action == HA_WAIT ||
	    unpaused->action == HA_CLEAR_FAILOVER ||
	    (unpaused->action == HA_SWITCHOVER && facts->failover_candidate != NULL))
		return decided(unpaused->action, unpaused->target, "PAUSE: %s", unpaused->reason);
	return decided(HA_NOTHING, NULL, "PAUSE: would %s, but the cluster is in maintenance mode (%s)",
		       ha_action_name(unpaused->action), unpaused->reason);
}

struct ha_decision ha_decide(const struct ha_facts *facts)
{
	struct ha_decision decision = decide_by_rules(facts);

	if (facts->paused)
		return in_maintenance_mode(facts, &decision);
	return decision;
}

/* ---- candidacy and names ------------------------------------------------- */

bool ha_wants_candidacy(const struct ha_self *self)
{
	return !member_status_nofailover(self->status);
}

const char *ha_action_name(enum ha_action action)
{
	switch (action) {
	case HA_NOTHING: return "nothing";
	case HA_WAIT: return "wait";
	case HA_BOOTSTRAP: return "bootstrap";
	case HA_CLONE: return "clone";
	case HA_START_PRIMARY: return "start_primary";
	case HA_START_REPLICA: return "start_replica";
	case HA_PROMOTE: return "promote";
	case HA_DEMOTE: return "demote";
	case HA_FOLLOW: return "follow";
	case HA_REWIND: return "rewind";
	case HA_REINITIALIZE: return "reinitialize";
	case HA_RELEASE_LOCK: return "release_lock";
	case HA_REFUSE_TO_START: return "refuse_to_start";
	case HA_SWITCHOVER: return "switchover";
	case HA_CLEAR_FAILOVER: return "clear_failover";
	}
	return "unknown";
}
