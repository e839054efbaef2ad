/*
 * The fault-injection engine shared by the chaos runner (test/chaos/chaos.c,
 * `make chaos`) and its short version in the regular suite
 * (test/scenario/test_chaos.c).  See docs/chaos.md.
 *
 * chaos_start() brings up a 3-server ZooKeeper ensemble and three pgherd
 * agents with their PostgreSQL (each ZooKeeper server and each member in
 * its own cgroup, for partitions: see partition.h), then starts
 *
 *  - a writer: one thread inserting ids, one commit each, into the table
 *    chaos_writes of whichever member accepts them; an id is acknowledged
 *    when its COMMIT returned OK, and the timeline and WAL position of the
 *    commit are recorded with it;
 *  - a split-brain detector: one thread per member that tries a write
 *    (INSERT into chaos_probe) every probe interval on its own connection.
 *
 * Both reach the members through their Unix sockets, so partitions (which
 * cut TCP) never hide a member from them.  A member counts as writable
 * from the start of the first to the end of the last of consecutive
 * successful writes (the writer's and the detector's together); the time
 * when two such spans overlap is split-brain time, the time covered by none
 * is time with no writable member.
 *
 * chaos_inject() runs one fault, waits until the cluster has settled (one
 * writable primary named by the leader znode, both replicas streaming from
 * it, every process back; in synchronous mode also `sync` naming one of
 * them, synchronous), then reads every id on that primary: an
 * acknowledged id that is missing is lost, counted in that round, with its
 * distance in bytes past the point where its timeline ended (from the
 * `history` znode).  Failovers are the pg.promoted events the agents logged
 * during the round.
 *
 * The engine is not thread-safe: call it from one thread (the one that
 * called chaos_start, whose children get PDEATHSIG).
 */
#ifndef PGHERD_TEST_CHAOS_ENGINE_H
#define PGHERD_TEST_CHAOS_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum chaos_fault {
	CHAOS_PARTITION_PRIMARY_ZK,	/* the primary's member cut off from ZooKeeper */
	CHAOS_PARTITION_REPLICA,	/* a replica cut off from everything */
	CHAOS_PARTITION_ZK_LEADER,	/* the ZooKeeper leader cut off from everything */
	CHAOS_ZK_LEADER_LOSS,		/* kill -9 of the ZooKeeper leader */
	CHAOS_ZK_MAJORITY_LOSS,		/* kill -9 of 2 of 3 servers, longer than the session */
	CHAOS_STOP_PRIMARY_AGENT,	/* SIGSTOP of the primary's agent */
	CHAOS_STOP_PRIMARY_POSTMASTER,	/* SIGSTOP of the primary's postmaster */
	CHAOS_STOP_ZOOKEEPER,		/* SIGSTOP of every ZooKeeper server */
	CHAOS_KILL_PRIMARY_AGENT,	/* kill -9 of the primary's agent, restarted */
	CHAOS_KILL_PRIMARY_POSTMASTER,	/* kill -9 of the primary's postmaster */
	CHAOS_KILL_PRIMARY_NODE,	/* kill -9 of both, the agent restarted later */
	CHAOS_KILL_REPLICA_AGENT,
	CHAOS_KILL_REPLICA_POSTMASTER,
	CHAOS_KILL_REPLICA_NODE,
	CHAOS_RESTART_MID_FAILOVER,	/* the member taking over is killed and restarted */
	CHAOS_FAULT_COUNT
};

struct chaos_config {
	unsigned seed;
	int session_timeout_ms;		/* zookeeper.session_timeout of the agents */
	int64_t maximum_lag_on_failover;	/* bytes, bootstrap.dcs */
	int write_interval_ms;		/* pause between two commits of the writer */
	int probe_interval_ms;		/* detector: one write probe per member per interval */
	/* Synchronous mode from the start: synchronous_mode (and, with strict,
	 * synchronous_mode_strict) and synchronous_node_count 1 in
	 * bootstrap.dcs, and in the `config` znode before the writer starts
	 * (chaos_set_synchronous).  No acknowledged commit may be lost then. */
	bool synchronous;
	bool strict;
	bool verbose;			/* print each step of each fault */
	FILE *out;			/* progress lines (stdout when NULL) */
};

struct chaos_round {
	int number;			/* 1, 2, ... */
	enum chaos_fault fault;
	int64_t start_ms, inject_ms, end_ms;	/* monotonic; the round is [start, end) */
	int primary_before, primary_after;	/* member index */
	int target;			/* member or ZooKeeper server the fault hit, -1 */
	int failovers;			/* pg.promoted events */
	long acked;			/* commits acknowledged during the round */
	long lost;			/* acknowledged commits found missing at its end */
	int64_t lost_lag_bytes;		/* the farthest lost commit past its timeline's end, -1: none */
	int64_t two_writable_ms;
	int64_t none_writable_ms;
	int64_t old_primary_last_write_ms;	/* after injection, -1: never wrote again */
	int64_t writes_resumed_ms;	/* first write on a primary after the fault ended, -1 */
	bool settled;
	bool synchronous;		/* synchronous mode was on */
	int64_t allowed_lag_bytes;	/* maximum_lag_on_failover, 0 in synchronous mode */
	char detail[512];		/* what happened: steps, findings */
};

struct chaos_totals {
	int faults, failovers, unsettled;
	long acked, lost;
	int64_t lost_lag_bytes;		/* the farthest, -1: none */
	int64_t allowed_lag_bytes;	/* the most any round with a failover allowed, 0: none */
	int64_t two_writable_ms, none_writable_ms;
};

struct chaos;

struct chaos_config chaos_default_config(void);
/* NULL (with the reason on stderr) when the cluster cannot be brought up;
 * *skip is set when the machine cannot run it at all (not root, no cgroup
 * v2 or BPF), so a test can skip rather than fail. */
struct chaos *chaos_start(const struct chaos_config *config, bool *skip);
/* Run one fault and wait for the cluster to settle.  False if it did not
 * settle (the round is recorded all the same); further faults are then
 * pointless. */
bool chaos_inject(struct chaos *c, enum chaos_fault fault, struct chaos_round *out);
/* A fault chosen with the run's seed. */
enum chaos_fault chaos_random_fault(struct chaos *c);
/* Stop the writer and the detector and count what the last check missed.
 * Idempotent; chaos_stop() calls it. */
void chaos_finish(struct chaos *c);
/* Per scenario (fault) or for the whole run (fault < 0). */
void chaos_totals(const struct chaos *c, int fault, struct chaos_totals *out);
void chaos_print_table(const struct chaos *c, FILE *out);
const struct chaos_round *chaos_rounds(const struct chaos *c, int *count);
int chaos_session_timeout_ms(const struct chaos *c);
/* What a failover may lose now: maximum_lag_on_failover, 0 in synchronous
 * mode.  A round keeps its own in allowed_lag_bytes. */
int64_t chaos_allowed_lag(const struct chaos *c);
/* Switch the running cluster to synchronous mode (synchronous_node_count 1,
 * strict or not) with PATCH /config on the primary, as `pgherdctl
 * edit-config` would, unless the `config` znode says so already; then wait
 * until `sync` names a synchronous standby.  Rounds from then on allow no
 * lost commit.  False (said on the output) if that does not happen. */
bool chaos_set_synchronous(struct chaos *c, bool strict);
bool chaos_synchronous(const struct chaos *c);
/* The round broke the rule on lost commits: any lost in synchronous mode,
 * any without a failover, any beyond allowed_lag_bytes. */
bool chaos_round_lost_too_many(const struct chaos_round *r);
/* Stop every process, remove the filters and cgroups, free c. */
void chaos_stop(struct chaos *c);

const char *chaos_fault_name(enum chaos_fault fault);	/* "kill-primary-node" */
const char *chaos_fault_title(enum chaos_fault fault);	/* one line for people */
/* -1 when unknown. */
int chaos_fault_by_name(const char *name);
/* No failover may happen (the ZooKeeper faults that keep a quorum, the
 * faults that only hit a replica, a postmaster restarted in place...). */
bool chaos_fault_keeps_primary(enum chaos_fault fault);

#endif
