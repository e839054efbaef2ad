/*
 * The HA policy: pure functions of the cluster view and this member's own
 * facts, with no I/O, so that every rule has a table-driven unit test
 * (test/unit/test_ha.c).  The event loop gathers the facts and carries out
 * what these functions decide.
 *
 * Today the policy covers candidacy and the lock; the PostgreSQL lifecycle
 * adds LSN and health comparisons to ha_may_take_lock().
 */
#ifndef PGHERD_HA_H
#define PGHERD_HA_H

#include <stdbool.h>

#include "dcs/dcs.h"

struct ha_self {
	const char *name;
	const struct member_status *status;	/* what we publish, tags included */
};

/* Whether to queue for leadership at all: not with nofailover (or a
 * failover_priority of 0 or less), Patroni's rule. */
bool ha_wants_candidacy(const struct ha_self *self);

/* Asked when we are first in line and the lock is free. */
bool ha_may_take_lock(const struct dcs_cluster *cluster, const struct ha_self *self);

#endif
