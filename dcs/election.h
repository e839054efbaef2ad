/*
 * Leader election and the leader lock (internal to dcs/).
 *
 * Candidates queue as EPHEMERAL_SEQUENTIAL znodes <base>/election/<member>-N;
 * the lock is the ephemeral <base>/leader znode holding the plain member
 * name, as Patroni writes it.  The protocol and its safety argument are in
 * docs/election.md.
 */
#ifndef PGHERD_ELECTION_H
#define PGHERD_ELECTION_H

#include <stdbool.h>
#include <stdint.h>

#include "dcs/zk_session.h"

struct election;

enum election_verdict {
	ELECTION_TAKE,		/* take the free lock */
	ELECTION_DECLINE,	/* someone else should: queue again at the back */
	ELECTION_NOT_YET,	/* the facts are still arriving: ask again later */
};

struct election_callbacks {
	/* The policy: may this member take the free lock now?  (HA rules live
	 * in agent/ha.c; dcs/ only asks.) */
	enum election_verdict (*may_take_lock)(void *arg);
	/* Our leadership changed: acquired, lost, fenced or released. */
	void (*leadership_changed)(void *arg, bool leader);
	/* The leader znode changed hands or content. */
	void (*leader_changed)(void *arg);
};

struct election *election_new(struct event_base *base, struct zk_session *session,
			      const char *base_path, const char *member,
			      const struct election_callbacks *callbacks, void *arg);
void election_free(struct election *election);

/* Session events, forwarded by the dcs facade. */
void election_session_started(struct election *election);
void election_reconnected(struct election *election);
void election_disconnected(struct election *election);
void election_expired(struct election *election);
/* A watch fired; returns true if the path was one of the election's. */
bool election_watch(struct election *election, int type, const char *path);

/* Join or leave the race; leaving releases the lock if held. */
void election_set_candidate(struct election *election, bool candidate);
/* Give up the lock (the candidate queues again at the back). */
void election_release(struct election *election);
/* Create the lock now, whatever our place in the queue (bootstrap winner). */
void election_take_lock_now(struct election *election);
/* Re-run the policy, e.g. after the cluster view changed. */
void election_reevaluate(struct election *election);

/* True while we hold the lock AND the session lease proves no one else can
 * hold it yet.  Evaluated against the clock at every call. */
bool election_is_leader(const struct election *election);
/* The leader znode is ours, owned by this session, lease or not (with
 * election_is_leader() false: fenced). */
bool election_holds_lock(const struct election *election);
/* While we hold the lock: the earliest moment the server may expire our
 * session, and with it the lock (monotonic ms); 0 when we hold no lock or
 * nothing confirmed the lease yet.  election_fence_at_ms() is when we stop
 * leading, a safety margin before that. */
int64_t election_lease_deadline_ms(const struct election *election);
int64_t election_fence_at_ms(const struct election *election);
/* The leader znode has been read in this session. */
bool election_leader_known(const struct election *election);
/* Name in the leader znode, or NULL when there is none (or not known yet). */
const char *election_leader_name(const struct election *election);
/* Our position in the queue (0 = first in line), -1 when not queued. */
int election_position(const struct election *election);

#endif
