/*
 * The watchdog: a small process, forked from the agent at start, that kills
 * PostgreSQL when the leader's lease runs out and nobody stopped it.
 *
 * The agent fences itself when its lease on the leader lock ends
 * (docs/election.md), but only if it runs: a frozen agent (SIGSTOP, a
 * stalled VM, a loop stuck in a system call) or one killed with SIGKILL
 * leaves a primary taking writes after ZooKeeper gave the lock to another
 * member.  Patroni answers this with the Linux watchdog device, which resets
 * the machine.  pgherd needs no device: the agent tells this process, while
 * it leads, the moment by which PostgreSQL must be gone, computed from the
 * ZooKeeper lease (not from the agent's own liveness), and moves it on as
 * the lease is renewed.  If the moment passes, because the agent is frozen,
 * dead, or failed to stop PostgreSQL, the process kills the postmaster and
 * every child it has with SIGKILL.  It runs until the agent disarms it and
 * exits, or, if the agent dies while it is armed, until it fenced.
 *
 * Times are CLOCK_MONOTONIC milliseconds, the same clock in every process.
 */
#ifndef PGHERD_AGENT_WATCHDOG_H
#define PGHERD_AGENT_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct watchdog;

/* Fork the process, and record its pid in pid_file (may be NULL).  An
 * earlier agent's process still running, armed, from that file (the agent
 * was killed and we adopt its postmaster) is told to stand down the first
 * time ours is armed: until then it keeps guarding.  NULL when the process
 * cannot be started (logged). */
struct watchdog *watchdog_new(const char *pid_file);
/* Kill the postmaster `pid` (and its children) at `deadline_ms` unless armed
 * again with a later deadline or disarmed first.  A deadline already past
 * fences at once.  False when the process is gone and cannot be started
 * again (logged). */
bool watchdog_arm(struct watchdog *watchdog, pid_t postmaster_pid, int64_t deadline_ms);
void watchdog_disarm(struct watchdog *watchdog);
/* The earlier agent's process, if any, may stand down now: the postmaster
 * it guards cannot take writes any more (a replica with no promotion under
 * way).  Arming ours does the same. */
void watchdog_relieve_predecessor(struct watchdog *watchdog);
bool watchdog_is_armed(const struct watchdog *watchdog);
pid_t watchdog_pid(const struct watchdog *watchdog);
/* Close our end: a disarmed process exits at once; an armed one keeps its
 * deadline (the agent is leaving PostgreSQL running past its lease) and
 * exits after it.  NULL is allowed. */
void watchdog_free(struct watchdog *watchdog);

/* Kill the postmaster `pid` and everything it started, now, without
 * waiting.  What the process does at the deadline; exposed for the tests.
 * Returns how many processes were signalled. */
int watchdog_kill_postmaster(pid_t postmaster_pid);

#endif
