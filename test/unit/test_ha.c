/*
 * The HA policy, table by table.
 *
 * Each row of a table starts from a named situation (a healthy leader, a
 * replica following it, an empty member...) and changes a few facts; it
 * says which action and target the policy must choose, and a fragment of
 * the reason an operator will read in the log.  The tables follow the rules
 * of agent/ha.c, one table per rule group; the "order" table holds rows
 * where two rules apply and the earlier one must win.  A last test walks
 * every combination of the facts that steer the rules and checks the
 * invariants the rules exist for (only the lock holder writes, nothing is
 * started on a stale view, maintenance mode touches nothing...).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/ha.h"

/* A row is a named situation followed by the facts it changes: designated
 * initializers that override the earlier ones, which is what we mean. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

#define NOW SECONDS(10000)
#define SECONDS(s) ((int64_t) (s) * 1000)
#define LSN 0x5000000ULL		/* the primary's last known position */
#define MAX_LAG 1048576			/* Patroni's default maximum_lag_on_failover */
#define SYSID 7300000000000000001ULL
#define OTHER_SYSID 7300000000000000002ULL

/* ---- the members others see ---------------------------------------------- */

#define MEMBERS(...)                                                                  \
	.candidates = (const struct ha_candidate[]){ __VA_ARGS__ },                   \
	.n_candidates = sizeof((const struct ha_candidate[]){ __VA_ARGS__ }) /         \
			sizeof(struct ha_candidate)
#define NO_MEMBERS .candidates = NULL, .n_candidates = 0

/* A running replica that may fail over, at a WAL position, in the queue. */
#define REPLICA_MEMBER(name_, position_, queue_)                                       \
	.name = name_, .running = true, .failover_priority = 1, .has_wal_position = true, \
	.wal_position = (position_), .election_position = (queue_)
/* The running leader. */
#define PRIMARY_MEMBER(name_)                                                          \
	.name = name_, .running = true, .primary = true, .failover_priority = 1,       \
	.has_wal_position = true, .wal_position = LSN, .election_position = -1

/* ---- named situations ------------------------------------------------------ */

/* A cluster bootstrapped long ago, on timeline 3, read from ZooKeeper; our
 * PostgreSQL runs (for a minute now) on the cluster's data. */
#define HEALTHY_CLUSTER                                                                \
	.now_ms = NOW, .dcs_connected = true, .initialize_present = true,             \
	.cluster_system_identifier = SYSID, .has_last_primary_lsn = true,             \
	.last_primary_lsn = LSN, .cluster_timeline = 3, .maximum_lag_on_failover = MAX_LAG, \
	.primary_start_timeout_s = 300, .failover_priority = 1,                       \
	.has_system_identifier = true, .system_identifier = SYSID, .timeline = 3,     \
	.has_wal_position = true, .wal_position = LSN, .pg_state = HA_PG_RUNNING,     \
	.pg_state_since_ms = NOW - SECONDS(60)

/* node1, the leader: its primary runs and it holds the lock. */
#define LEADER                                                                         \
	HEALTHY_CLUSTER, .name = "node1", .leader = "node1", .holds_lock = true,      \
	.pg_role = HA_ROLE_PRIMARY, .was_primary = true, .my_election_position = -1,  \
	MEMBERS({ REPLICA_MEMBER("node2", LSN - 100, 0) },                            \
		{ REPLICA_MEMBER("node3", LSN - 200, 1) })

/* node2, a replica streaming from node1. */
#define REPLICA                                                                        \
	HEALTHY_CLUSTER, .name = "node2", .leader = "node1", .following = "node1",    \
	.pg_role = HA_ROLE_REPLICA, .wal_position = LSN - 100, .my_election_position = 0, \
	MEMBERS({ PRIMARY_MEMBER("node1") }, { REPLICA_MEMBER("node3", LSN - 200, 1) })

/* node2 just after node1 went away: the lock is free and node2 is first in
 * line, as up to date as the last primary position, node3 behind it. */
#define FIRST_IN_LINE                                                                  \
	HEALTHY_CLUSTER, .name = "node2", .leader = NULL, .following = "node1",       \
	.pg_role = HA_ROLE_REPLICA, .wal_position = LSN, .my_election_position = 0,   \
	MEMBERS({ REPLICA_MEMBER("node3", LSN - 200, 1) })

/* node2 on a new machine: no data, in a cluster nobody has created yet. */
#define EMPTY_MEMBER                                                                   \
	.now_ms = NOW, .dcs_connected = true, .name = "node2", .failover_priority = 1, \
	.pg_state = HA_PG_NO_DATA, .pg_state_since_ms = NOW - SECONDS(5),             \
	.maximum_lag_on_failover = MAX_LAG, .primary_start_timeout_s = 300,           \
	.my_election_position = 0, NO_MEMBERS

/* The leader node1 as node2 sees it (initialized cluster). */
#define LED_BY_NODE1                                                                   \
	.initialize_present = true, .cluster_system_identifier = SYSID, .leader = "node1", \
	MEMBERS({ PRIMARY_MEMBER("node1") })

/* ---- ha_decide() tables ----------------------------------------------------- */

struct decide_case {
	const char *title;
	struct ha_facts facts;
	enum ha_action action;
	const char *target;		/* NULL: none */
	const char *reason;		/* a fragment of the reason */
};

static bool same_target(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_decisions(const char *table, const struct decide_case *cases, size_t n)
{
	int failures = 0;

	for (size_t i = 0; i < n; i++) {
		const struct decide_case *row = &cases[i];
		struct ha_decision decision = ha_decide(&row->facts);

		if (decision.action == row->action && same_target(decision.target, row->target) &&
		    strstr(decision.reason, row->reason) != NULL)
			continue;
		print_error("%s, row %zu (%s):\n    got  %s, target %s, \"%s\"\n"
			    "    want %s, target %s, \"...%s...\"\n",
			    table, i, row->title, ha_action_name(decision.action),
			    decision.target ? decision.target : "(none)", decision.reason,
			    ha_action_name(row->action), row->target ? row->target : "(none)",
			    row->reason);
		failures++;
	}
	if (failures > 0)
		fail_msg("%s: %d of %zu rows decided otherwise", table, failures, n);
}

#define CHECK_TABLE(cases) check_decisions(#cases, cases, N_ELEMENTS(cases))

/* Rule 1 (Patroni 2.1 step 8): a data directory of another cluster. */
static const struct decide_case system_identifier_cases[] = {
	{ "a replica whose data directory is another cluster's",
	  { REPLICA, .system_identifier = OTHER_SYSID },
	  HA_REFUSE_TO_START, NULL, "(7300000000000000002) is not the cluster's (7300000000000000001)" },
	{ "a stopped member of another cluster is not started",
	  { REPLICA, .system_identifier = OTHER_SYSID, .pg_state = HA_PG_STOPPED },
	  HA_REFUSE_TO_START, NULL, "refusing to start, join or lead" },
	{ "even holding the lock",
	  { LEADER, .system_identifier = OTHER_SYSID },
	  HA_REFUSE_TO_START, NULL, "refusing to start" },
	{ "the same identifier: a normal replica",
	  { REPLICA },
	  HA_NOTHING, NULL, "following a leader (node1)" },
	{ "initialize is \"\" (someone bootstrapping): nothing to compare with",
	  { REPLICA, .initialize_in_progress = true, .cluster_system_identifier = 0 },
	  HA_NOTHING, NULL, "following a leader (node1)" },
	{ "no initialize at all: nothing to compare with",
	  { REPLICA, .initialize_present = false, .cluster_system_identifier = 0 },
	  HA_NOTHING, NULL, "following a leader (node1)" },
	{ "our identifier is not known yet",
	  { REPLICA, .has_system_identifier = false, .system_identifier = OTHER_SYSID },
	  HA_NOTHING, NULL, "following a leader (node1)" },
};

static void test_system_identifier_mismatch_refuses_to_start(void **state)
{
	(void) state;
	CHECK_TABLE(system_identifier_cases);
}

/* Rule 2 and rule 11: members that run PostgreSQL but hold no lock. */
static const struct decide_case not_lock_holder_cases[] = {
	{ "a replica following the leader",
	  { REPLICA },
	  HA_NOTHING, NULL, "no action. I am (node2), a secondary, and following a leader (node1)" },
	{ "a replica following an old leader is re-pointed",
	  { REPLICA, .following = "node3" },
	  HA_FOLLOW, "node1", "following a different leader (node1)" },
	{ "a replica following no one is pointed at the leader",
	  { REPLICA, .following = NULL },
	  HA_FOLLOW, "node1", "following a different leader (node1)" },
	{ "no leader: replicas keep running, the election decides",
	  { REPLICA, .leader = NULL },
	  HA_WAIT, NULL, "the cluster has no leader: the election decides" },
	{ "the leader znode names us but is not ours to use: never follow ourselves",
	  { REPLICA, .leader = "node2" },
	  HA_WAIT, NULL, "the cluster has no leader" },
	{ "a running member whose role is not known yet",
	  { REPLICA, .pg_role = HA_ROLE_UNKNOWN },
	  HA_WAIT, NULL, "primary or a replica" },
	/* Fencing (Patroni 2.4: demote 'immediate-nolock'). */
	{ "a primary while someone else leads is demoted and follows the leader",
	  { REPLICA, .pg_role = HA_ROLE_PRIMARY, .following = NULL },
	  HA_DEMOTE, "node1", "demoting self because I do not have the lock and I was a leader" },
	{ "a primary while the lock is free is demoted too (pgherd: no unbounded writes)",
	  { REPLICA, .pg_role = HA_ROLE_PRIMARY, .leader = NULL },
	  HA_DEMOTE, NULL, "I do not have the lock" },
	{ "just started beside a running primary, no view yet: read the cluster first",
	  { LEADER, .holds_lock = false, .leader = NULL, .dcs_connected = false, .just_started = true },
	  HA_WAIT, NULL, "reading the cluster before deciding" },
	{ "a primary whose lease ran out is demoted, following no one",
	  { LEADER, .holds_lock = false, .lock_fenced = true },
	  HA_DEMOTE, NULL, "my lease on the leader lock ran out" },
	{ "a primary starting up without the lock is demoted",
	  { REPLICA, .pg_role = HA_ROLE_PRIMARY, .pg_state = HA_PG_STARTING },
	  HA_DEMOTE, "node1", "I do not have the lock" },
	{ "the lock holder's lock names us from an earlier session: keep running while the election reclaims it",
	  { LEADER, .holds_lock = false },
	  HA_WAIT, NULL, "names me from an earlier session" },
	{ "a stopped replica named by a stale leader znode starts following no one",
	  { REPLICA, .leader = "node2", .pg_state = HA_PG_STOPPED },
	  HA_START_REPLICA, NULL, "no leader to follow" },
};

static void test_member_without_the_lock(void **state)
{
	(void) state;
	CHECK_TABLE(not_lock_holder_cases);
}

/* Rule 7 (Patroni 2.4, 2.10): the lock holder. */
static const struct decide_case lock_holder_cases[] = {
	{ "a running primary with the lock",
	  { LEADER },
	  HA_NOTHING, NULL, "no action. I am (node1), the leader with the lock" },
	{ "a replica that won the lock is promoted",
	  { LEADER, .pg_role = HA_ROLE_REPLICA, .was_primary = false },
	  HA_PROMOTE, NULL, "promoted self to leader by acquiring session lock" },
	{ "running, role not known yet",
	  { LEADER, .pg_role = HA_ROLE_UNKNOWN },
	  HA_WAIT, NULL, "primary or a replica" },
	{ "the lease still runs while ZooKeeper is unreachable: lead on",
	  { LEADER, .dcs_connected = false },
	  HA_NOTHING, NULL, "the leader with the lock" },
	{ "failed to start: let someone else lead",
	  { LEADER, .pg_state = HA_PG_START_FAILED },
	  HA_RELEASE_LOCK, NULL, "removed leader key after trying and failing to start postgres" },
	{ "failed to start, even with no replica to take over",
	  { LEADER, .pg_state = HA_PG_START_FAILED, NO_MEMBERS },
	  HA_RELEASE_LOCK, NULL, "failing to start" },
	/* A crash: restart in place within primary_start_timeout. */
	{ "crashed 10 s ago: restart in place",
	  { LEADER, .pg_state = HA_PG_CRASHED, .pg_state_since_ms = NOW - SECONDS(10) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "crashed 299.999 s ago, timeout 300 s: still restart",
	  { LEADER, .pg_state = HA_PG_CRASHED, .pg_state_since_ms = NOW - SECONDS(300) + 1 },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "crashed 300 s ago: fail over",
	  { LEADER, .pg_state = HA_PG_CRASHED, .pg_state_since_ms = NOW - SECONDS(300) },
	  HA_RELEASE_LOCK, NULL, "stopped PostgreSQL to fail over after a crash" },
	{ "primary_start_timeout 0: fail over at once",
	  { LEADER, .pg_state = HA_PG_CRASHED, .pg_state_since_ms = NOW, .primary_start_timeout_s = 0 },
	  HA_RELEASE_LOCK, NULL, "fail over after a crash" },
	{ "timeout 0 but no replica at all: restart in place",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0, NO_MEMBERS },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "timeout 0, the only replica is nofailover",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ REPLICA_MEMBER("node2", LSN, 0), .nofailover = true }) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "timeout 0, the only replica lags beyond maximum_lag_on_failover",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ REPLICA_MEMBER("node2", LSN - MAX_LAG - 1, 0) }) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "timeout 0, the only replica lags exactly maximum_lag_on_failover",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ REPLICA_MEMBER("node2", LSN - MAX_LAG, 0) }) },
	  HA_RELEASE_LOCK, NULL, "fail over after a crash" },
	{ "timeout 0, the only replica is not running",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ REPLICA_MEMBER("node2", LSN, 0), .running = false }) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "timeout 0, the only replica published no position",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ REPLICA_MEMBER("node2", LSN, 0), .has_wal_position = false }) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "timeout 0, the only other member claims to be a primary",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ PRIMARY_MEMBER("node2") }) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "timeout 0, the only 'replica' is a stale znode of our own name",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0,
	    MEMBERS({ REPLICA_MEMBER("node1", LSN, 0) }) },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "an absurd timeout does not overflow",
	  { LEADER, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 9223372036854775807LL },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "a crashed replica that held the lock starts as a replica, to be promoted",
	  { LEADER, .pg_state = HA_PG_CRASHED, .was_primary = false, .pg_role = HA_ROLE_REPLICA },
	  HA_START_REPLICA, NULL, "to promote it once it runs" },
	/* Stopped (cleanly) while holding the lock. */
	{ "a stopped primary with the lock starts in place",
	  { LEADER, .pg_state = HA_PG_STOPPED },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
	{ "a stopped replica with the lock starts as a replica first",
	  { LEADER, .pg_state = HA_PG_STOPPED, .was_primary = false },
	  HA_START_REPLICA, NULL, "to promote it once it runs: I hold the lock" },
	{ "stopped longer than the timeout: fail over",
	  { LEADER, .pg_state = HA_PG_STOPPED, .pg_state_since_ms = NOW - SECONDS(301) },
	  HA_RELEASE_LOCK, NULL, "PostgreSQL is stopped" },
	/* Starting, bounded by primary_start_timeout. */
	{ "starting for 10 s",
	  { LEADER, .pg_state = HA_PG_STARTING, .pg_state_since_ms = NOW - SECONDS(10) },
	  HA_WAIT, NULL, "still starting up, 290 seconds until timeout" },
	{ "starting for 10.5 s: seconds left round up",
	  { LEADER, .pg_state = HA_PG_STARTING, .pg_state_since_ms = NOW - SECONDS(10) - 500 },
	  HA_WAIT, NULL, "290 seconds until timeout" },
	{ "start timed out, a replica can take over: stop it and release",
	  { LEADER, .pg_state = HA_PG_STARTING, .pg_state_since_ms = NOW - SECONDS(300) },
	  HA_DEMOTE, NULL, "did not start within primary_start_timeout (300 s)" },
	{ "start timed out, nobody can take over",
	  { LEADER, .pg_state = HA_PG_STARTING, .pg_state_since_ms = NOW - SECONDS(300), NO_MEMBERS },
	  HA_WAIT, NULL, "continuing to wait because failover is not possible" },
	{ "stopping",
	  { LEADER, .pg_state = HA_PG_STOPPING },
	  HA_WAIT, NULL, "waiting for PostgreSQL to stop" },
	{ "state not known yet",
	  { LEADER, .pg_state = HA_PG_UNKNOWN },
	  HA_WAIT, NULL, "waiting to learn the state of PostgreSQL" },
};

/* Rule 7a': the lock holder and a `failover` request (Patroni 2.9). */
static const struct decide_case manual_failover_cases[] = {
	{ "a switchover to a named, healthy replica: demote gracefully",
	  { LEADER, .has_failover = true, .failover_leader = "node1", .failover_candidate = "node3" },
	  HA_SWITCHOVER, "node3", "manual failover: demoting myself" },
	{ "a switchover to the best replica",
	  { LEADER, .has_failover = true, .failover_leader = "node1" },
	  HA_SWITCHOVER, NULL, "demoting myself" },
	{ "a failover naming no leader",
	  { LEADER, .has_failover = true, .failover_candidate = "node2" },
	  HA_SWITCHOVER, "node2", "demoting myself" },
	{ "scheduled in 30 s: wait",
	  { LEADER, .has_failover = true, .failover_leader = "node1", .failover_scheduled = true,
	    .failover_due_in_ms = SECONDS(30) - 1, .loop_wait_s = 10 },
	  HA_NOTHING, NULL, "switchover scheduled in 30 s" },
	{ "scheduled and due: go",
	  { LEADER, .has_failover = true, .failover_leader = "node1", .failover_scheduled = true,
	    .failover_due_in_ms = -SECONDS(1), .loop_wait_s = 10 },
	  HA_SWITCHOVER, NULL, "demoting myself" },
	{ "scheduled 14 s ago, loop_wait 10: still go",
	  { LEADER, .has_failover = true, .failover_scheduled = true,
	    .failover_due_in_ms = -SECONDS(14), .loop_wait_s = 10 },
	  HA_SWITCHOVER, NULL, "demoting myself" },
	{ "scheduled 16 s ago, loop_wait 10: stale, cleared",
	  { LEADER, .has_failover = true, .failover_scheduled = true,
	    .failover_due_in_ms = -SECONDS(16), .loop_wait_s = 10 },
	  HA_CLEAR_FAILOVER, NULL, "stale failover value" },
	{ "from another leader: cleared",
	  { LEADER, .has_failover = true, .failover_leader = "node9" },
	  HA_CLEAR_FAILOVER, NULL, "leader name does not match: node9 != node1" },
	{ "to ourselves: cleared",
	  { LEADER, .has_failover = true, .failover_candidate = "node1" },
	  HA_CLEAR_FAILOVER, NULL, "I am already the leader" },
	{ "the candidate lags beyond maximum_lag_on_failover: cleared",
	  { LEADER, .has_failover = true, .failover_candidate = "node2",
	    MEMBERS({ REPLICA_MEMBER("node2", LSN - 2 * MAX_LAG, 0) }) },
	  HA_CLEAR_FAILOVER, NULL, "node2 is not a running replica within maximum_lag_on_failover" },
	{ "the candidate is nofailover: cleared",
	  { LEADER, .has_failover = true, .failover_candidate = "node2",
	    MEMBERS({ REPLICA_MEMBER("node2", LSN, 0), .nofailover = true }) },
	  HA_CLEAR_FAILOVER, NULL, "node2 is not a running replica" },
	{ "an unknown candidate: cleared",
	  { LEADER, .has_failover = true, .failover_candidate = "node7" },
	  HA_CLEAR_FAILOVER, NULL, "node7 is not a running replica" },
	{ "nobody to hand over to: cleared",
	  { LEADER, .has_failover = true, NO_MEMBERS },
	  HA_CLEAR_FAILOVER, NULL, "no healthy replica" },
	{ "synchronous mode: not to a replica outside sync",
	  { LEADER, .synchronous_mode = true, .has_failover = true, .failover_candidate = "node2",
	    MEMBERS({ REPLICA_MEMBER("node2", LSN, 0) }, { REPLICA_MEMBER("node3", LSN, 1),
							 .synchronous = true }) },
	  HA_CLEAR_FAILOVER, NULL, "node2 is not a running replica" },
	{ "synchronous mode: to the synchronous standby",
	  { LEADER, .synchronous_mode = true, .has_failover = true, .failover_candidate = "node3",
	    MEMBERS({ REPLICA_MEMBER("node2", LSN, 0) }, { REPLICA_MEMBER("node3", LSN, 1),
							 .synchronous = true }) },
	  HA_SWITCHOVER, "node3", "demoting myself" },
	{ "paused: a switchover to a named candidate still happens",
	  { LEADER, .paused = true, .has_failover = true, .failover_candidate = "node3" },
	  HA_SWITCHOVER, "node3", "PAUSE: manual failover: demoting myself" },
	{ "paused: the named candidate holding the lock is promoted",
	  { REPLICA, .leader = "node2", .holds_lock = true, .paused = true, .has_failover = true,
	    .failover_candidate = "node2" },
	  HA_PROMOTE, NULL, "PAUSE: promoting myself: a manual failover names me" },
	{ "paused: not to the best replica",
	  { LEADER, .paused = true, .has_failover = true, .failover_leader = "node1" },
	  HA_NOTHING, NULL, "PAUSE: would switchover" },
};

static void test_manual_failover(void **state)
{
	(void) state;
	CHECK_TABLE(manual_failover_cases);
}

/* Patroni's replicatefrom and clonefrom tags. */
static const struct decide_case cascade_cases[] = {
	{ "replicatefrom a running replica: follow it",
	  { REPLICA, .replicatefrom = "node3" }, HA_FOLLOW, "node3", "following node3 (replicatefrom)" },
	{ "already following it",
	  { REPLICA, .replicatefrom = "node3", .following = "node3" }, HA_NOTHING, NULL,
	  "following a replica (replicatefrom) (node3)" },
	{ "it stopped: back to the leader",
	  { REPLICA, .replicatefrom = "node3", .following = "node3",
	    MEMBERS({ PRIMARY_MEMBER("node1") }, { REPLICA_MEMBER("node3", LSN, 1), .running = false }) },
	  HA_FOLLOW, "node1", "following a different leader (node1)" },
	{ "it is unknown: the leader",
	  { REPLICA, .replicatefrom = "node9" }, HA_NOTHING, NULL, "following a leader (node1)" },
	{ "stopped, replicatefrom a running replica: start following it",
	  { REPLICA, .pg_state = HA_PG_STOPPED, .replicatefrom = "node3" }, HA_START_REPLICA, "node3",
	  "following node3 (replicatefrom)" },
	{ "an empty member clones from a running clonefrom replica",
	  { EMPTY_MEMBER, .leader = "node1", .initialize_present = true,
	    MEMBERS({ PRIMARY_MEMBER("node1") }, { REPLICA_MEMBER("node3", LSN, 1), .clonefrom = true }) },
	  HA_CLONE, "node3", "(clonefrom)" },
	{ "no clonefrom replica running: from the leader",
	  { EMPTY_MEMBER, .leader = "node1", .initialize_present = true,
	    MEMBERS({ PRIMARY_MEMBER("node1") },
		    { REPLICA_MEMBER("node3", LSN, 1), .clonefrom = true, .running = false }) },
	  HA_CLONE, "node1", "from leader 'node1'" },
};

static void test_cascading_tags(void **state)
{
	(void) state;
	CHECK_TABLE(cascade_cases);
}

static void test_lock_holder(void **state)
{
	(void) state;
	CHECK_TABLE(lock_holder_cases);
}

/* Rules 8 and 10 (Patroni 2.1 step 9): PostgreSQL down, no lock. */
static const struct decide_case down_member_cases[] = {
	{ "stopped: start as a replica of the leader",
	  { REPLICA, .pg_state = HA_PG_STOPPED },
	  HA_START_REPLICA, "node1", "starting as a secondary following the leader (node1)" },
	{ "crashed: the same",
	  { REPLICA, .pg_state = HA_PG_CRASHED },
	  HA_START_REPLICA, "node1", "following the leader (node1)" },
	{ "failed to start: try again as a replica",
	  { REPLICA, .pg_state = HA_PG_START_FAILED },
	  HA_START_REPLICA, "node1", "following the leader (node1)" },
	{ "a stopped former primary joins the new leader",
	  { REPLICA, .pg_state = HA_PG_STOPPED, .was_primary = true },
	  HA_START_REPLICA, "node1", "following the leader (node1)" },
	{ "stopped, no leader: start read-only, then the election",
	  { REPLICA, .pg_state = HA_PG_STOPPED, .leader = NULL },
	  HA_START_REPLICA, NULL, "starting as a secondary: no leader to follow yet" },
	{ "a stopped former primary with no leader starts read-only, never writable",
	  { REPLICA, .pg_state = HA_PG_CRASHED, .was_primary = true, .leader = NULL },
	  HA_START_REPLICA, NULL, "starting former primary as a read-only replica" },
	{ "starting",
	  { REPLICA, .pg_state = HA_PG_STARTING },
	  HA_WAIT, NULL, "waiting for PostgreSQL to start" },
	{ "stopping",
	  { REPLICA, .pg_state = HA_PG_STOPPING },
	  HA_WAIT, NULL, "waiting for PostgreSQL to stop" },
	{ "state not known yet",
	  { REPLICA, .pg_state = HA_PG_UNKNOWN },
	  HA_WAIT, NULL, "waiting to learn the state of PostgreSQL" },
};

static void test_member_with_postgresql_down(void **state)
{
	(void) state;
	CHECK_TABLE(down_member_cases);
}

/* Rule 6 (Patroni 2.11): an empty data directory. */
static const struct decide_case bootstrap_cases[] = {
	{ "nobody created the cluster: race for initialize",
	  { EMPTY_MEMBER },
	  HA_BOOTSTRAP, NULL, "trying to bootstrap a new cluster" },
	{ "a nofailover member never bootstraps",
	  { EMPTY_MEMBER, .nofailover = true },
	  HA_WAIT, NULL, "waiting for leader to bootstrap" },
	{ "someone is bootstrapping (initialize is \"\")",
	  { EMPTY_MEMBER, .initialize_present = true, .initialize_in_progress = true },
	  HA_WAIT, NULL, "waiting for leader to bootstrap" },
	{ "initialized cluster without a leader",
	  { EMPTY_MEMBER, .initialize_present = true, .cluster_system_identifier = SYSID },
	  HA_WAIT, NULL, "waiting for leader to bootstrap" },
	{ "a running leader: clone from it",
	  { EMPTY_MEMBER, LED_BY_NODE1 },
	  HA_CLONE, "node1", "trying to bootstrap from leader 'node1'" },
	{ "a nofailover member clones like any other",
	  { EMPTY_MEMBER, LED_BY_NODE1, .nofailover = true },
	  HA_CLONE, "node1", "bootstrap from leader 'node1'" },
	{ "a leader but no initialize (deleted by hand): still clone",
	  { EMPTY_MEMBER, LED_BY_NODE1, .initialize_present = false, .cluster_system_identifier = 0 },
	  HA_CLONE, "node1", "bootstrap from leader 'node1'" },
	{ "the leader's PostgreSQL is not running: wait",
	  { EMPTY_MEMBER, LED_BY_NODE1, MEMBERS({ PRIMARY_MEMBER("node1"), .running = false }) },
	  HA_WAIT, NULL, "waiting for the leader (node1) to run before cloning from it" },
	{ "the leader published no member znode: wait",
	  { EMPTY_MEMBER, LED_BY_NODE1, MEMBERS({ PRIMARY_MEMBER("node3") }) },
	  HA_WAIT, NULL, "waiting for the leader (node1) to run" },
	{ "the leader znode names us (an earlier life): nothing to clone from",
	  { EMPTY_MEMBER, .initialize_present = true, .cluster_system_identifier = SYSID, .leader = "node2" },
	  HA_WAIT, NULL, "waiting for leader to bootstrap" },
	{ "no initialize, but a stale leader znode names us: not a free cluster, no bootstrap",
	  { EMPTY_MEMBER, .leader = "node2" },
	  HA_WAIT, NULL, "waiting for leader to bootstrap" },
	{ "holding the lock with an empty data directory: give the lock up",
	  { EMPTY_MEMBER, LED_BY_NODE1, .leader = "node2", .holds_lock = true },
	  HA_RELEASE_LOCK, NULL, "my data directory is empty" },
};

static void test_empty_data_directory(void **state)
{
	(void) state;
	CHECK_TABLE(bootstrap_cases);
}

/* Rule 9 (Patroni 2.6): diverged timelines. */
#define DIVERGED REPLICA, .diverged = true, .rewind_possible = true, .following = NULL
static const struct decide_case diverged_cases[] = {
	{ "a running replica on a forked history: rewind from the leader",
	  { DIVERGED },
	  HA_REWIND, "node1", "running pg_rewind from node1" },
	{ "a stopped former primary: rewind before starting",
	  { DIVERGED, .pg_state = HA_PG_STOPPED, .was_primary = true },
	  HA_REWIND, "node1", "running pg_rewind from node1" },
	{ "a crashed former primary: the same",
	  { DIVERGED, .pg_state = HA_PG_CRASHED, .was_primary = true },
	  HA_REWIND, "node1", "pg_rewind" },
	{ "no pg_rewind, reinitializing allowed",
	  { DIVERGED, .rewind_possible = false, .remove_data_directory_on_diverged_timelines = true },
	  HA_REINITIALIZE, "node1", "reinitializing due to diverged timelines" },
	{ "no pg_rewind, no reinitializing: keep what we have and say so",
	  { DIVERGED, .rewind_possible = false },
	  HA_WAIT, NULL, "my timeline diverged from the leader (node1) and pg_rewind is not possible" },
	{ "pg_rewind failed, remove_data_directory_on_rewind_failure",
	  { DIVERGED, .rewind_failed = true, .remove_data_directory_on_rewind_failure = true },
	  HA_REINITIALIZE, "node1", "reinitializing from (node1) after pg_rewind failed" },
	{ "pg_rewind failed, remove_data_directory_on_diverged_timelines",
	  { DIVERGED, .rewind_failed = true, .remove_data_directory_on_diverged_timelines = true },
	  HA_REINITIALIZE, "node1", "after pg_rewind failed" },
	{ "pg_rewind failed and nothing allows wiping: not retried blindly",
	  { DIVERGED, .rewind_failed = true },
	  HA_WAIT, NULL, "pg_rewind from the leader (node1) failed" },
	{ "the leader does not run: neither rewind nor clone from it",
	  { DIVERGED, MEMBERS({ PRIMARY_MEMBER("node1"), .running = false }) },
	  HA_WAIT, NULL, "diverged from the leader (node1): waiting for it to run" },
	{ "no leader: divergence from nobody means nothing; start read-only",
	  { DIVERGED, .leader = NULL, .pg_state = HA_PG_STOPPED },
	  HA_START_REPLICA, NULL, "no leader to follow yet" },
	{ "diverged but starting: wait for it first",
	  { DIVERGED, .pg_state = HA_PG_STARTING },
	  HA_WAIT, NULL, "waiting for PostgreSQL to start" },
};

static void test_diverged_timeline(void **state)
{
	(void) state;
	CHECK_TABLE(diverged_cases);
}

/* Rule 3 (Patroni 2.1 step 4): one action at a time. */
static const struct decide_case action_in_progress_cases[] = {
	{ "cloning",
	  { EMPTY_MEMBER, LED_BY_NODE1, .action_in_progress = HA_CLONE },
	  HA_WAIT, NULL, "clone in progress" },
	{ "bootstrapping, before initdb produced anything",
	  { EMPTY_MEMBER, .action_in_progress = HA_BOOTSTRAP },
	  HA_WAIT, NULL, "bootstrap in progress" },
	{ "the lock holder promoting",
	  { LEADER, .pg_role = HA_ROLE_REPLICA, .action_in_progress = HA_PROMOTE },
	  HA_WAIT, NULL, "promote in progress" },
	{ "the lock holder restarting in place",
	  { LEADER, .pg_state = HA_PG_STARTING, .action_in_progress = HA_START_PRIMARY },
	  HA_WAIT, NULL, "start_primary in progress" },
	{ "a replica being rewound",
	  { REPLICA, .pg_state = HA_PG_STOPPED, .diverged = true, .action_in_progress = HA_REWIND },
	  HA_WAIT, NULL, "rewind in progress" },
	{ "a demoted primary coming back as a replica",
	  { REPLICA, .pg_state = HA_PG_STOPPING, .action_in_progress = HA_DEMOTE },
	  HA_WAIT, NULL, "demote in progress" },
	{ "a replica being re-pointed",
	  { REPLICA, .following = "node3", .action_in_progress = HA_FOLLOW },
	  HA_WAIT, NULL, "follow in progress" },
};

static void test_action_in_progress(void **state)
{
	(void) state;
	CHECK_TABLE(action_in_progress_cases);
}

/* Rule 4 (Patroni: "DCS is not accessible"). */
static const struct decide_case dcs_unreachable_cases[] = {
	{ "a running replica keeps running",
	  { REPLICA, .dcs_connected = false },
	  HA_NOTHING, NULL, "DCS is not accessible" },
	{ "a stopped replica is not started on a stale view",
	  { REPLICA, .dcs_connected = false, .pg_state = HA_PG_STOPPED },
	  HA_NOTHING, NULL, "DCS is not accessible" },
	{ "a replica following an old leader is not re-pointed on a stale view",
	  { REPLICA, .dcs_connected = false, .following = "node3" },
	  HA_NOTHING, NULL, "DCS is not accessible" },
	{ "an empty member neither bootstraps nor clones",
	  { EMPTY_MEMBER, .dcs_connected = false },
	  HA_NOTHING, NULL, "DCS is not accessible" },
	{ "just started beside a running primary, no view yet: read the cluster first",
	  { LEADER, .holds_lock = false, .leader = NULL, .dcs_connected = false, .just_started = true },
	  HA_WAIT, NULL, "reading the cluster before deciding" },
	{ "a primary whose lease ran out is demoted, following no one",
	  { LEADER, .dcs_connected = false, .holds_lock = false, .lock_fenced = true },
	  HA_DEMOTE, NULL, "demoting self because DCS is not accessible and I was a leader" },
	{ "a primary without the lock, stale view naming another leader: follow no one",
	  { REPLICA, .dcs_connected = false, .pg_role = HA_ROLE_PRIMARY, .leader = "node3" },
	  HA_DEMOTE, NULL, "DCS is not accessible" },
	{ "the lock holder with its lease still running restarts a crashed primary",
	  { LEADER, .dcs_connected = false, .pg_state = HA_PG_CRASHED },
	  HA_START_PRIMARY, NULL, "starting primary after failure" },
};

static void test_dcs_unreachable(void **state)
{
	(void) state;
	CHECK_TABLE(dcs_unreachable_cases);
}

/* Maintenance mode (Patroni 2.8): report, do not act. */
static const struct decide_case pause_cases[] = {
	{ "the leader",
	  { LEADER, .paused = true },
	  HA_NOTHING, NULL, "PAUSE: no action. I am (node1), the leader with the lock" },
	{ "a replica following it",
	  { REPLICA, .paused = true },
	  HA_NOTHING, NULL, "PAUSE: no action. I am (node2), a secondary" },
	{ "waiting stays waiting",
	  { REPLICA, .paused = true, .leader = NULL },
	  HA_WAIT, NULL, "PAUSE: no action. I am (node2), a secondary, and the cluster has no leader" },
	{ "a primary without the lock is not demoted",
	  { REPLICA, .paused = true, .pg_role = HA_ROLE_PRIMARY },
	  HA_NOTHING, NULL, "PAUSE: would demote, but the cluster is in maintenance mode (demoting self" },
	{ "a replica holding the lock gives it up instead of promoting",
	  { LEADER, .paused = true, .pg_role = HA_ROLE_REPLICA },
	  HA_RELEASE_LOCK, NULL, "PAUSE: released the leader key: PostgreSQL is not a primary" },
	{ "a crashed leader is not restarted",
	  { LEADER, .paused = true, .pg_state = HA_PG_CRASHED },
	  HA_NOTHING, NULL, "PAUSE: would start_primary" },
	{ "a crashed leader keeps the lock (no failover in pause)",
	  { LEADER, .paused = true, .pg_state = HA_PG_CRASHED, .primary_start_timeout_s = 0 },
	  HA_NOTHING, NULL, "PAUSE: would release_lock" },
	{ "a leader that failed to start keeps the lock",
	  { LEADER, .paused = true, .pg_state = HA_PG_START_FAILED },
	  HA_NOTHING, NULL, "PAUSE: would release_lock" },
	{ "a stopped replica is not started",
	  { REPLICA, .paused = true, .pg_state = HA_PG_STOPPED },
	  HA_NOTHING, NULL, "PAUSE: would start_replica" },
	{ "a replica following an old leader is not re-pointed",
	  { REPLICA, .paused = true, .following = "node3" },
	  HA_NOTHING, NULL, "PAUSE: would follow" },
	{ "a diverged replica is not rewound",
	  { DIVERGED, .paused = true },
	  HA_NOTHING, NULL, "PAUSE: would rewind" },
	{ "an empty member does not bootstrap",
	  { EMPTY_MEMBER, .paused = true },
	  HA_NOTHING, NULL, "PAUSE: would bootstrap" },
	{ "a foreign data directory: warn only (Patroni exits when resuming)",
	  { REPLICA, .paused = true, .system_identifier = OTHER_SYSID },
	  HA_NOTHING, NULL, "PAUSE: would refuse_to_start" },
	{ "a foreign data directory holding the lock: release it",
	  { LEADER, .paused = true, .system_identifier = OTHER_SYSID },
	  HA_RELEASE_LOCK, NULL, "PAUSE: released the leader key: the system identifier" },
};

static void test_maintenance_mode(void **state)
{
	(void) state;
	CHECK_TABLE(pause_cases);
}

/* Two rules apply; the earlier one wins.  Each title names the pair. */
static const struct decide_case order_cases[] = {
	{ "1 before 2: a foreign primary without the lock is refused, not demoted",
	  { REPLICA, .pg_role = HA_ROLE_PRIMARY, .system_identifier = OTHER_SYSID },
	  HA_REFUSE_TO_START, NULL, "is not the cluster's" },
	{ "1 before 3: refused even with an action in progress",
	  { REPLICA, .system_identifier = OTHER_SYSID, .action_in_progress = HA_FOLLOW },
	  HA_REFUSE_TO_START, NULL, "is not the cluster's" },
	{ "1 before 4: refused even with ZooKeeper unreachable (a stale initialize is still not ours)",
	  { REPLICA, .system_identifier = OTHER_SYSID, .dcs_connected = false },
	  HA_REFUSE_TO_START, NULL, "is not the cluster's" },
	{ "2 before 3: a primary that lost the lock is demoted while a restart runs",
	  { LEADER, .holds_lock = false, .leader = "node3", .action_in_progress = HA_START_PRIMARY },
	  HA_DEMOTE, "node3", "I do not have the lock" },
	{ "2 before 3: a promotion that lost the lock is stopped (lost leader before promote)",
	  { REPLICA, .leader = "node3", .action_in_progress = HA_PROMOTE },
	  HA_DEMOTE, "node3", "lost leader before promote" },
	{ "2 before 3: a start as primary that lost the lock is stopped before the postmaster is up",
	  { LEADER, .holds_lock = false, .leader = NULL, .pg_state = HA_PG_STOPPED,
	    .action_in_progress = HA_START_PRIMARY },
	  HA_DEMOTE, NULL, "I do not have the lock" },
	{ "2 waits for a demotion already under way (no second DEMOTE)",
	  { REPLICA, .pg_role = HA_ROLE_PRIMARY, .action_in_progress = HA_DEMOTE },
	  HA_WAIT, NULL, "demote in progress" },
	{ "2a before 2: the bootstrap winner's primary runs before it takes the lock",
	  { EMPTY_MEMBER, .pg_state = HA_PG_RUNNING, .pg_role = HA_ROLE_PRIMARY,
	    .action_in_progress = HA_BOOTSTRAP },
	  HA_WAIT, NULL, "bootstrap in progress" },
	{ "2 before 4: a primary is demoted even with ZooKeeper unreachable",
	  { REPLICA, .pg_role = HA_ROLE_PRIMARY, .dcs_connected = false },
	  HA_DEMOTE, NULL, "DCS is not accessible and I was a leader" },
	{ "2c: unreachable ZooKeeper is named before a fenced lease",
	  { LEADER, .holds_lock = false, .lock_fenced = true, .dcs_connected = false },
	  HA_DEMOTE, NULL, "DCS is not accessible" },
	{ "3 before 4: an action in progress is waited for, even with ZooKeeper unreachable",
	  { REPLICA, .dcs_connected = false, .action_in_progress = HA_FOLLOW },
	  HA_WAIT, NULL, "follow in progress" },
	{ "5 before 7: the lock holder first learns PostgreSQL's state",
	  { LEADER, .pg_state = HA_PG_UNKNOWN },
	  HA_WAIT, NULL, "state of PostgreSQL" },
	{ "6 before 7: an empty lock holder releases rather than starts",
	  { LEADER, .pg_state = HA_PG_NO_DATA, .has_system_identifier = false },
	  HA_RELEASE_LOCK, NULL, "data directory is empty" },
	{ "7 before 9: a diverged replica holding the lock is promoted, not rewound",
	  { DIVERGED, .holds_lock = true, .leader = "node2" },
	  HA_PROMOTE, NULL, "promoted self" },
	{ "8 before 9: a stopping diverged replica is waited for",
	  { DIVERGED, .pg_state = HA_PG_STOPPING },
	  HA_WAIT, NULL, "to stop" },
	{ "9 before 10: a stopped diverged replica is rewound, not started",
	  { DIVERGED, .pg_state = HA_PG_STOPPED },
	  HA_REWIND, "node1", "pg_rewind" },
	{ "9 before 11: a running diverged replica is rewound, not re-pointed",
	  { DIVERGED, .following = "node3" },
	  HA_REWIND, "node1", "pg_rewind" },
};

static void test_rule_order(void **state)
{
	(void) state;
	CHECK_TABLE(order_cases);
}

/* ---- ha_may_take_lock() (Patroni 2.3) ---------------------------------------- */

struct lock_case {
	const char *title;
	struct ha_facts facts;
	bool allowed;
	const char *reason;
};

static const struct lock_case lock_cases[] = {
	{ "first in line, as recent as the last primary position",
	  { FIRST_IN_LINE },
	  true, "I am (node2), the healthiest candidate" },
	/* PostgreSQL must run. */
	{ "stopped", { FIRST_IN_LINE, .pg_state = HA_PG_STOPPED }, false, "PostgreSQL is not running" },
	{ "crashed", { FIRST_IN_LINE, .pg_state = HA_PG_CRASHED }, false, "not running" },
	{ "starting", { FIRST_IN_LINE, .pg_state = HA_PG_STARTING }, false, "not running" },
	{ "no data", { FIRST_IN_LINE, .pg_state = HA_PG_NO_DATA }, false, "not running" },
	/* Tags. */
	{ "nofailover", { FIRST_IN_LINE, .nofailover = true }, false, "nofailover" },
	{ "nofailover, even as a running primary (pgherd: it never queues)",
	  { FIRST_IN_LINE, .nofailover = true, .pg_role = HA_ROLE_PRIMARY }, false, "nofailover" },
	/* watchdog.mode: required. */
	{ "the watchdog required and not running",
	  { FIRST_IN_LINE, .watchdog_unavailable = true }, false, "the watchdog is required" },
	{ "the watchdog required and not running, even as a running primary",
	  { FIRST_IN_LINE, .watchdog_unavailable = true, .pg_role = HA_ROLE_PRIMARY },
	  false, "the watchdog is required" },
	/* The data directory must be the cluster's. */
	{ "another cluster's data", { FIRST_IN_LINE, .system_identifier = OTHER_SYSID },
	  false, "my system identifier (7300000000000000002) is not the cluster's" },
	{ "our identifier unknown while the cluster has one",
	  { FIRST_IN_LINE, .has_system_identifier = false }, false, "my system identifier is not known" },
	{ "initialize \"\": nothing to compare",
	  { FIRST_IN_LINE, .initialize_in_progress = true, .cluster_system_identifier = 0,
	    .has_system_identifier = false },
	  true, "healthiest" },
	/* A running primary (Patroni 2.3 step 3). */
	{ "a running primary on the cluster's timeline",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY }, true, "I am (node2), a running primary" },
	{ "a stale primary behind the cluster's timeline",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY, .timeline = 2 },
	  false, "I am a primary on timeline 2, behind the cluster's timeline 3" },
	{ "a primary whose timeline is not known, the cluster's is",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY, .timeline = 0 }, false, "behind the cluster's" },
	{ "a primary, the cluster's timeline unknown",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY, .timeline = 2, .cluster_timeline = 0 },
	  true, "a running primary" },
	{ "a primary ahead of the history (promoted, history not written yet)",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY, .timeline = 4 }, true, "a running primary" },
	{ "a primary is not compared with replicas",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY, MEMBERS({ REPLICA_MEMBER("node3", LSN + 1, 1) }) },
	  true, "a running primary" },
	{ "a primary is not held to the lag limit",
	  { FIRST_IN_LINE, .pg_role = HA_ROLE_PRIMARY, .wal_position = 0 }, true, "a running primary" },
	{ "paused: a running primary may take the lock, whatever its timeline",
	  { FIRST_IN_LINE, .paused = true, .pg_role = HA_ROLE_PRIMARY, .timeline = 2 },
	  true, "a running primary" },
	{ "paused: a replica may not", { FIRST_IN_LINE, .paused = true },
	  false, "PAUSE: only a running primary may take the lock" },
	/* What a replica needs. */
	{ "role not known", { FIRST_IN_LINE, .pg_role = HA_ROLE_UNKNOWN }, false, "role is not known" },
	{ "position not known", { FIRST_IN_LINE, .has_wal_position = false }, false, "my wal position is not known" },
	{ "lagging exactly maximum_lag_on_failover",
	  { FIRST_IN_LINE, .wal_position = LSN - MAX_LAG, NO_MEMBERS }, true, "healthiest" },
	{ "lagging one byte more",
	  { FIRST_IN_LINE, .wal_position = LSN - MAX_LAG - 1, NO_MEMBERS },
	  false, "My wal position exceeds maximum replication lag (1048577 bytes behind the last primary position 0/5000000" },
	{ "far behind, but no last primary position known",
	  { FIRST_IN_LINE, .wal_position = 0, .has_last_primary_lsn = false, NO_MEMBERS }, true, "healthiest" },
	{ "ahead of the last primary position",
	  { FIRST_IN_LINE, .wal_position = LSN + 1 }, true, "healthiest" },
	{ "a negative maximum lag counts as 0: one byte behind is too far",
	  { FIRST_IN_LINE, .wal_position = LSN - 1, .maximum_lag_on_failover = -1, NO_MEMBERS },
	  false, "exceeds maximum replication lag" },
	{ "a negative maximum lag counts as 0: level is fine",
	  { FIRST_IN_LINE, .maximum_lag_on_failover = -1 }, true, "healthiest" },
	/* A primary still alive elsewhere. */
	{ "another member still runs as a primary",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN - 200, 1) }, { PRIMARY_MEMBER("node1") }) },
	  false, "Primary (node1) is still alive" },
	{ "a nofailover primary counts too (pgherd; Patroni does not poll it)",
	  { FIRST_IN_LINE, MEMBERS({ PRIMARY_MEMBER("node1"), .nofailover = true }) },
	  false, "Primary (node1) is still alive" },
	{ "a primary whose PostgreSQL is down does not",
	  { FIRST_IN_LINE, MEMBERS({ PRIMARY_MEMBER("node1"), .running = false }) }, true, "healthiest" },
	{ "a stale znode of our own name claiming primary does not",
	  { FIRST_IN_LINE, MEMBERS({ PRIMARY_MEMBER("node2") }) }, true, "healthiest" },
	/* Better candidates. */
	{ "a replica one byte ahead",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN + 1, 1) }) },
	  false, "Wal position of node3 is ahead of my wal position (0/5000001 > 0/5000000)" },
	{ "the better one is second in a list",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN - 1, 1) },
				  { REPLICA_MEMBER("node4", LSN + 1, 2) }) },
	  false, "Wal position of node4 is ahead" },
	{ "ahead, but not running", { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN + 1, 1), .running = false }) },
	  true, "healthiest" },
	{ "ahead, but nofailover", { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN + 1, 1), .nofailover = true }) },
	  true, "healthiest" },
	{ "'ahead', but no position published",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN + 1, 1), .has_wal_position = false }) },
	  true, "healthiest" },
	{ "ahead, but it is a stale znode of our own name",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node2", LSN + 1, 1) }) }, true, "healthiest" },
	{ "same position, higher failover_priority",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN, 1), .failover_priority = 2 }) },
	  false, "node3 has the same wal position and a higher failover_priority (2 > 1)" },
	{ "same position, lower failover_priority",
	  { FIRST_IN_LINE, .failover_priority = 3, MEMBERS({ REPLICA_MEMBER("node3", LSN, 1), .failover_priority = 2 }) },
	  true, "healthiest" },
	{ "higher priority but behind: position comes first",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN - 1, 1), .failover_priority = 9 }) },
	  true, "healthiest" },
	{ "a tie behind us in the queue: we go first",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN, 1) }) }, true, "healthiest" },
	{ "a tie not queued: we go first",
	  { FIRST_IN_LINE, MEMBERS({ REPLICA_MEMBER("node3", LSN, -1) }) }, true, "healthiest" },
	{ "asked out of line (reclaiming our lock), a tie queued: it goes first",
	  { FIRST_IN_LINE, .my_election_position = -1, MEMBERS({ REPLICA_MEMBER("node3", LSN, 0) }) },
	  false, "node3 has the same wal position and failover_priority and is ahead of me in the queue" },
	{ "asked out of line, a tie not queued either",
	  { FIRST_IN_LINE, .my_election_position = -1, MEMBERS({ REPLICA_MEMBER("node3", LSN, -1) }) },
	  true, "healthiest" },
	{ "asked at position 2, a tie at position 1",
	  { FIRST_IN_LINE, .my_election_position = 2, MEMBERS({ REPLICA_MEMBER("node3", LSN, 1) }) },
	  false, "ahead of me in the queue" },
	{ "a higher priority beats an earlier place in the queue",
	  { FIRST_IN_LINE, .failover_priority = 2, .my_election_position = -1,
	    MEMBERS({ REPLICA_MEMBER("node3", LSN, 0) }) },
	  true, "healthiest" },
	/* Patroni 2.9: a switchover or failover in progress. */
	{ "the named candidate takes the lock, even behind the others",
	  { FIRST_IN_LINE, .wal_position = LSN - 10 * MAX_LAG, .has_failover = true,
	    .failover_leader = "node1", .failover_candidate = "node2",
	    MEMBERS({ REPLICA_MEMBER("node3", LSN, 1) }) },
	  true, "the candidate of a manual failover" },
	{ "another member named: wait for it while it runs",
	  { FIRST_IN_LINE, .has_failover = true, .failover_candidate = "node3" },
	  false, "manual failover to node3 in progress" },
	{ "another member named but not running: race as usual",
	  { FIRST_IN_LINE, .has_failover = true, .failover_candidate = "node3",
	    MEMBERS({ REPLICA_MEMBER("node3", LSN - 200, 1), .running = false }) },
	  true, "healthiest" },
	{ "the member switched away from never takes the lock back",
	  { FIRST_IN_LINE, .name = "node1", .has_failover = true, .failover_leader = "node1" },
	  false, "a switchover away from me (node1)" },
	{ "paused: the named candidate of a failover may take the lock",
	  { FIRST_IN_LINE, .paused = true, .has_failover = true, .failover_candidate = "node2" },
	  true, "PAUSE: I am (node2), the candidate" },
	{ "paused: another member named: not us",
	  { FIRST_IN_LINE, .paused = true, .has_failover = true, .failover_candidate = "node3" },
	  false, "PAUSE: only a running primary" },
	/* Patroni 2.3 step 8: synchronous mode. */
	{ "synchronous mode, not named in sync: never",
	  { FIRST_IN_LINE, .synchronous_mode = true, .synchronous = false }, false,
	  "I am not a synchronous standby" },
	{ "synchronous mode, named in sync",
	  { FIRST_IN_LINE, .synchronous_mode = true, .synchronous = true }, true, "healthiest" },
	{ "synchronous mode: an asynchronous member ahead or preferred does not count",
	  { FIRST_IN_LINE, .synchronous_mode = true, .synchronous = true,
	    MEMBERS({ REPLICA_MEMBER("node3", LSN + 100, 1), .failover_priority = 9 }) },
	  true, "healthiest" },
	{ "synchronous mode: another synchronous member ahead still wins",
	  { FIRST_IN_LINE, .synchronous_mode = true, .synchronous = true,
	    MEMBERS({ REPLICA_MEMBER("node3", LSN + 100, 1), .synchronous = true }) },
	  false, "Wal position of node3 is ahead" },
	{ "synchronous mode, named in a switchover: never",
	  { FIRST_IN_LINE, .synchronous_mode = true, .has_failover = true, .failover_leader = "node1",
	    .failover_candidate = "node2" }, false, "not a synchronous standby" },
	{ "synchronous mode, named in a failover (no leader): as the operator says",
	  { FIRST_IN_LINE, .synchronous_mode = true, .has_failover = true,
	    .failover_candidate = "node2" }, true, "the candidate of a manual failover" },
	{ "a switchover scheduled for later changes nothing yet",
	  { FIRST_IN_LINE, .has_failover = true, .failover_candidate = "node3",
	    .failover_scheduled = true, .failover_due_in_ms = SECONDS(60) },
	  true, "healthiest" },
};

static void test_may_take_lock(void **state)
{
	int failures = 0;

	(void) state;
	for (size_t i = 0; i < N_ELEMENTS(lock_cases); i++) {
		const struct lock_case *row = &lock_cases[i];
		char reason[HA_REASON_MAX];
		bool allowed = ha_may_take_lock(&row->facts, reason, sizeof(reason));

		/* Without a reason buffer the verdict is the same. */
		assert_int_equal(ha_may_take_lock(&row->facts, NULL, 0), allowed);
		if (allowed == row->allowed && strstr(reason, row->reason) != NULL)
			continue;
		print_error("row %zu (%s):\n    got  %s, \"%s\"\n    want %s, \"...%s...\"\n", i,
			    row->title, allowed ? "allowed" : "refused", reason,
			    row->allowed ? "allowed" : "refused", row->reason);
		failures++;
	}
	if (failures > 0)
		fail_msg("lock_cases: %d of %zu rows decided otherwise", failures, N_ELEMENTS(lock_cases));
}

/* Chaos finding F9: a restarted agent asked about its earlier session's
 * lock before it knows what its running PostgreSQL is must not say "no". */
static void test_lock_answer_waits_for_an_adopted_postgresql(void **state)
{
	(void) state;
	const struct {
		const char *title;
		struct ha_facts facts;
		bool pending;
	} cases[] = {
		{ "found running, role not known yet",
		  { FIRST_IN_LINE, .just_started = true, .adopted_postmaster = true,
		    .pg_state = HA_PG_STARTING }, true },
		{ "found running, state not known yet",
		  { FIRST_IN_LINE, .just_started = true, .adopted_postmaster = true,
		    .pg_state = HA_PG_UNKNOWN }, true },
		{ "found running and known", { FIRST_IN_LINE, .just_started = true,
					       .adopted_postmaster = true }, false },
		{ "no longer just started: answer anyway",
		  { FIRST_IN_LINE, .adopted_postmaster = true, .pg_state = HA_PG_STARTING }, false },
		{ "our own postmaster starting: answer (no)",
		  { FIRST_IN_LINE, .just_started = true, .pg_state = HA_PG_STARTING }, false },
	};

	for (size_t i = 0; i < N_ELEMENTS(cases); i++)
		if (ha_lock_answer_pending(&cases[i].facts) != cases[i].pending)
			fail_msg("%s: pending should be %d", cases[i].title, cases[i].pending);
}

static void test_may_take_lock_truncates_reason_safely(void **state)
{
	const struct ha_facts facts = { FIRST_IN_LINE };
	char reason[8];

	(void) state;
	memset(reason, 'x', sizeof(reason));
	assert_true(ha_may_take_lock(&facts, reason, sizeof(reason)));
	assert_string_equal(reason, "I am (n");
}

/* ---- names, candidacy, long names -------------------------------------------- */

static void test_every_action_has_a_distinct_name(void **state)
{
	(void) state;
	for (int a = HA_NOTHING; a <= HA_CLEAR_FAILOVER; a++) {
		const char *name = ha_action_name((enum ha_action) a);
		assert_string_not_equal(name, "unknown");
		for (int b = HA_NOTHING; b < a; b++)
			assert_string_not_equal(name, ha_action_name((enum ha_action) b));
	}
	assert_string_equal(ha_action_name(HA_PROMOTE), "promote");
	assert_string_equal(ha_action_name((enum ha_action) (HA_CLEAR_FAILOVER + 1)), "unknown");
}

static const struct {
	const char *tags;	/* JSON object */
	bool candidate;
} candidacy_cases[] = {
	{ "{}", true },
	{ "{\"nofailover\":false}", true },
	{ "{\"nofailover\":true}", false },
	{ "{\"failover_priority\":0}", false },
	{ "{\"failover_priority\":\"0\"}", false },
	{ "{\"failover_priority\":2}", true },
	/* Patroni: an explicit nofailover wins over failover_priority. */
	{ "{\"nofailover\":true,\"failover_priority\":5}", false },
	{ "{\"nofailover\":false,\"failover_priority\":0}", true },
	{ "{\"region\":\"eu\"}", true },
};

static void test_candidacy_follows_patroni_tag_rules(void **state)
{
	(void) state;
	for (size_t i = 0; i < N_ELEMENTS(candidacy_cases); i++) {
		struct member_status status = { 0 };
		json_error_t error;
		status.tags = json_loads(candidacy_cases[i].tags, 0, &error);
		assert_non_null(status.tags);
		struct ha_self self = { .name = "node1", .status = &status };
		if (ha_wants_candidacy(&self) != candidacy_cases[i].candidate)
			fail_msg("tags %s: candidacy should be %d", candidacy_cases[i].tags,
				 candidacy_cases[i].candidate);
		/* The facts the loop builds from the same tags keep candidacy
		 * and the lock in step: a member that does not queue may not
		 * take the lock either. */
		struct ha_facts facts = { FIRST_IN_LINE, .nofailover = member_status_nofailover(&status),
					  .failover_priority = member_status_failover_priority(&status) };
		assert_int_equal(ha_may_take_lock(&facts, NULL, 0), candidacy_cases[i].candidate);
		member_status_clear(&status);
	}
}

/* HA_REASON_MAX holds the longest messages in full, with two names of
 * ZNODE_NAME_MAX bytes, even wrapped in maintenance mode. */
static void test_reasons_hold_longest_names(void **state)
{
	char me[ZNODE_NAME_MAX + 1], leader[ZNODE_NAME_MAX + 1];
	struct ha_candidate members[1];

	(void) state;
	memset(me, 'm', ZNODE_NAME_MAX);
	me[ZNODE_NAME_MAX] = '\0';
	memset(leader, 'l', ZNODE_NAME_MAX);
	leader[ZNODE_NAME_MAX] = '\0';
	members[0] = (struct ha_candidate){ PRIMARY_MEMBER(leader) };

	/* The longest messages: the first three name the leader. */
	const struct ha_facts situations[] = {
		{ DIVERGED, .name = me, .leader = leader, .rewind_possible = false },
		{ DIVERGED, .name = me, .leader = leader, .rewind_failed = true },
		{ REPLICA, .name = me, .leader = leader, .following = NULL },
		{ REPLICA, .name = me, .leader = leader, .system_identifier = OTHER_SYSID },
	};
	for (size_t i = 0; i < N_ELEMENTS(situations); i++) {
		struct ha_facts facts = situations[i];
		facts.candidates = members;
		facts.n_candidates = 1;
		struct ha_decision unpaused = ha_decide(&facts);
		facts.paused = true;
		struct ha_decision paused = ha_decide(&facts);

		if (strlen(unpaused.reason) + 1 >= sizeof(unpaused.reason) ||
		    strlen(paused.reason) + 1 >= sizeof(paused.reason))
			fail_msg("situation %zu: reason truncated: %s", i, paused.reason);
		if (i < 3 && strstr(unpaused.reason, leader) == NULL)
			fail_msg("situation %zu: the leader's name is cut: %s", i, unpaused.reason);
		/* Maintenance mode wraps the whole reason. */
		if (strstr(paused.reason, unpaused.reason) == NULL)
			fail_msg("situation %zu: \"%s\" does not hold \"%s\"", i, paused.reason,
				 unpaused.reason);
	}
	struct ha_facts facts = { FIRST_IN_LINE, .name = me, .my_election_position = -1 };
	char reason[HA_REASON_MAX];
	facts.candidates = members;
	facts.n_candidates = 1;
	members[0] = (struct ha_candidate){ REPLICA_MEMBER(leader, LSN, 0) };
	assert_false(ha_may_take_lock(&facts, reason, sizeof(reason)));
	assert_true(strlen(reason) + 1 < sizeof(reason));
	assert_non_null(strstr(reason, "is ahead of me in the queue"));
}

/* ---- invariants over every combination ----------------------------------------- */

/*
 * Every combination of the facts that steer ha_decide(): each PostgreSQL
 * state and role, the lock held or fenced or neither, three leaders (none,
 * us, another), ZooKeeper reachable or not, several actions in progress,
 * and the flags.  Whatever rows the tables above miss, these must hold.
 */
enum grid_flag {
	GRID_HOLDS_LOCK = 1 << 0,
	GRID_LOCK_FENCED = 1 << 1,
	GRID_DCS_CONNECTED = 1 << 2,
	GRID_PAUSED = 1 << 3,
	GRID_DIVERGED = 1 << 4,
	GRID_WAS_PRIMARY = 1 << 5,
	GRID_FOREIGN_DATA = 1 << 6,
	GRID_NOFAILOVER = 1 << 7,
	GRID_INITIALIZED = 1 << 8,
	GRID_REWIND_POSSIBLE = 1 << 9,
	GRID_ALL_FLAGS = 1 << 10,
};

static const struct ha_candidate grid_members[] = {
	{ PRIMARY_MEMBER("node1") },
	{ REPLICA_MEMBER("node3", LSN - 200, 1) },
};

static struct ha_facts grid_facts(enum ha_pg_state pg_state, enum ha_pg_role role,
				  const char *leader, enum ha_action in_progress, unsigned flags)
{
	bool initialized = flags & GRID_INITIALIZED;
	struct ha_facts facts = {
		HEALTHY_CLUSTER,
		.name = "node2",
		.pg_state = pg_state,
		.pg_role = role,
		.leader = leader,
		.action_in_progress = in_progress,
		.holds_lock = flags & GRID_HOLDS_LOCK,
		.lock_fenced = flags & GRID_LOCK_FENCED,
		.dcs_connected = flags & GRID_DCS_CONNECTED,
		.paused = flags & GRID_PAUSED,
		.diverged = flags & GRID_DIVERGED,
		.was_primary = flags & GRID_WAS_PRIMARY,
		.nofailover = flags & GRID_NOFAILOVER,
		.rewind_possible = flags & GRID_REWIND_POSSIBLE,
		.initialize_present = initialized,
		.cluster_system_identifier = initialized ? SYSID : 0,
		.has_system_identifier = pg_state != HA_PG_NO_DATA,
		.system_identifier = (flags & GRID_FOREIGN_DATA) ? OTHER_SYSID : SYSID,
		.following = "node3",
		.my_election_position = 0,
		.candidates = grid_members,
		.n_candidates = N_ELEMENTS(grid_members),
	};
	return facts;
}

static void describe(char *buf, size_t size, const struct ha_facts *f)
{
	snprintf(buf, size,
		 "pg_state %d role %d leader %s in_progress %s holds_lock %d fenced %d dcs %d "
		 "paused %d diverged %d was_primary %d foreign %d nofailover %d initialized %d "
		 "rewind_possible %d",
		 f->pg_state, f->pg_role, f->leader ? f->leader : "(none)",
		 ha_action_name(f->action_in_progress), f->holds_lock, f->lock_fenced,
		 f->dcs_connected, f->paused, f->diverged, f->was_primary,
		 f->system_identifier != SYSID, f->nofailover, f->initialize_present,
		 f->rewind_possible);
}

static bool one_of(enum ha_action action, const enum ha_action *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == action)
			return true;
	return false;
}
#define ONE_OF(action, ...)                                                            \
	one_of(action, (const enum ha_action[]){ __VA_ARGS__ },                        \
	       sizeof((const enum ha_action[]){ __VA_ARGS__ }) / sizeof(enum ha_action))

/* Returns what is violated, or NULL. */
static const char *violated_invariant(const struct ha_facts *f, const struct ha_decision *d)
{
	bool foreign = f->has_system_identifier && f->cluster_system_identifier != 0 &&
		       f->system_identifier != f->cluster_system_identifier;
	bool up = f->pg_state == HA_PG_RUNNING || f->pg_state == HA_PG_STARTING;
	bool writable = (up && f->pg_role == HA_ROLE_PRIMARY) ||
			f->action_in_progress == HA_START_PRIMARY || f->action_in_progress == HA_PROMOTE;
	bool stale_lock_of_ours = f->dcs_connected && !f->lock_fenced && f->leader != NULL &&
				  strcmp(f->leader, f->name) == 0;

	if (d->reason[0] == '\0')
		return "every decision has a reason";
	if (d->target != NULL && (f->leader == NULL || strcmp(d->target, f->leader) != 0))
		return "a target is always the leader";
	if (d->target != NULL && strcmp(d->target, f->name) == 0)
		return "we never follow, clone or rewind from ourselves";
	if (d->target == NULL && ONE_OF(d->action, HA_CLONE, HA_FOLLOW, HA_REWIND, HA_REINITIALIZE))
		return "clone, follow, rewind and reinitialize need a source";
	if (ONE_OF(d->action, HA_PROMOTE, HA_START_PRIMARY) && !f->holds_lock)
		return "only the lock holder promotes or starts a primary";
	if (f->paused && !ONE_OF(d->action, HA_NOTHING, HA_WAIT, HA_RELEASE_LOCK))
		return "maintenance mode starts, stops, promotes and demotes nothing";
	if (f->paused && strncmp(d->reason, "PAUSE: ", 7) != 0)
		return "maintenance mode reasons start with PAUSE: ";
	if (foreign && !f->paused && d->action != HA_REFUSE_TO_START)
		return "a foreign data directory is refused";
	if (!foreign && d->action == HA_REFUSE_TO_START)
		return "only a foreign data directory is refused";
	if (!f->paused && !foreign && writable && !f->holds_lock &&
	    f->action_in_progress != HA_BOOTSTRAP && f->action_in_progress != HA_DEMOTE &&
	    !stale_lock_of_ours && d->action != HA_DEMOTE)
		return "a primary without the lock is demoted";
	if (!f->dcs_connected && !f->holds_lock &&
	    !ONE_OF(d->action, HA_NOTHING, HA_WAIT, HA_DEMOTE, HA_REFUSE_TO_START))
		return "nothing is started or followed on a stale view";
	if (f->action_in_progress != HA_NOTHING &&
	    !ONE_OF(d->action, HA_WAIT, HA_DEMOTE, HA_REFUSE_TO_START, HA_NOTHING) &&
	    !(foreign && d->action == HA_RELEASE_LOCK))
		return "one action at a time (fencing and refusal excepted)";
	if (d->action == HA_BOOTSTRAP &&
	    (f->pg_state != HA_PG_NO_DATA || f->initialize_present || f->nofailover ||
	     f->leader != NULL))
		return "bootstrap only an empty member of an uncreated, leaderless cluster";
	if (d->action == HA_START_REPLICA && f->holds_lock && f->was_primary)
		return "the lock holder restarts a former primary in place";
	return NULL;
}

static void test_invariants_hold_for_every_combination(void **state)
{
	static const enum ha_pg_state states[] = {
		HA_PG_UNKNOWN, HA_PG_NO_DATA, HA_PG_STOPPED, HA_PG_STARTING,
		HA_PG_RUNNING, HA_PG_STOPPING, HA_PG_CRASHED, HA_PG_START_FAILED,
	};
	static const enum ha_pg_role roles[] = { HA_ROLE_UNKNOWN, HA_ROLE_PRIMARY, HA_ROLE_REPLICA };
	static const char *const leaders[] = { NULL, "node2", "node1" };
	static const enum ha_action in_progress[] = {
		HA_NOTHING, HA_START_PRIMARY, HA_PROMOTE, HA_BOOTSTRAP, HA_CLONE, HA_DEMOTE,
	};
	unsigned long combinations = 0, lock_grants = 0;
	char where[512];

	(void) state;
	for (size_t s = 0; s < N_ELEMENTS(states); s++)
	for (size_t r = 0; r < N_ELEMENTS(roles); r++)
	for (size_t l = 0; l < N_ELEMENTS(leaders); l++)
	for (size_t a = 0; a < N_ELEMENTS(in_progress); a++)
	for (unsigned flags = 0; flags < GRID_ALL_FLAGS; flags++) {
		struct ha_facts facts = grid_facts(states[s], roles[r], leaders[l], in_progress[a], flags);
		struct ha_decision decision = ha_decide(&facts);
		const char *broken = violated_invariant(&facts, &decision);

		combinations++;
		if (broken != NULL) {
			describe(where, sizeof(where), &facts);
			fail_msg("%s: decided %s (%s) for %s", broken, ha_action_name(decision.action),
				 decision.reason, where);
		}

		/* The lock question, asked as the election asks it. */
		if (facts.leader != NULL || facts.holds_lock)
			continue;
		bool allowed = ha_may_take_lock(&facts, NULL, 0);
		bool foreign = facts.has_system_identifier && facts.cluster_system_identifier != 0 &&
			       facts.system_identifier != facts.cluster_system_identifier;
		if (allowed && (facts.pg_state != HA_PG_RUNNING || facts.nofailover || foreign)) {
			describe(where, sizeof(where), &facts);
			fail_msg("lock granted to a member that must not lead: %s", where);
		}
		/* Once granted, the lock is used, not handed straight back. */
		if (allowed && facts.action_in_progress == HA_NOTHING && facts.dcs_connected) {
			struct ha_facts leading = facts;
			leading.holds_lock = true;
			leading.lock_fenced = false;
			leading.leader = leading.name;
			decision = ha_decide(&leading);
			lock_grants++;
			if (!ONE_OF(decision.action, HA_NOTHING, HA_PROMOTE)) {
				describe(where, sizeof(where), &leading);
				fail_msg("granted the lock, then decided %s (%s) for %s",
					 ha_action_name(decision.action), decision.reason, where);
			}
		}
	}
	/* The walk really covered the space, and the lock check really ran. */
	assert_int_equal(combinations, N_ELEMENTS(states) * N_ELEMENTS(roles) * N_ELEMENTS(leaders) *
						N_ELEMENTS(in_progress) * GRID_ALL_FLAGS);
	assert_true(lock_grants > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_system_identifier_mismatch_refuses_to_start),
		cmocka_unit_test(test_member_without_the_lock),
		cmocka_unit_test(test_lock_holder),
		cmocka_unit_test(test_manual_failover),
		cmocka_unit_test(test_cascading_tags),
		cmocka_unit_test(test_member_with_postgresql_down),
		cmocka_unit_test(test_empty_data_directory),
		cmocka_unit_test(test_diverged_timeline),
		cmocka_unit_test(test_action_in_progress),
		cmocka_unit_test(test_dcs_unreachable),
		cmocka_unit_test(test_maintenance_mode),
		cmocka_unit_test(test_rule_order),
		cmocka_unit_test(test_may_take_lock),
		cmocka_unit_test(test_may_take_lock_truncates_reason_safely),
		cmocka_unit_test(test_lock_answer_waits_for_an_adopted_postgresql),
		cmocka_unit_test(test_every_action_has_a_distinct_name),
		cmocka_unit_test(test_candidacy_follows_patroni_tag_rules),
		cmocka_unit_test(test_reasons_hold_longest_names),
		cmocka_unit_test(test_invariants_hold_for_every_combination),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
