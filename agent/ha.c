/*
 * HA policy (see ha.h).  No I/O, no clock, no globals.
 */
#include "agent/ha.h"

bool ha_wants_candidacy(const struct ha_self *self)
{
	return !member_status_nofailover(self->status);
}

bool ha_may_take_lock(const struct dcs_cluster *cluster, const struct ha_self *self)
{
	/* Until PostgreSQL is managed every candidate qualifies; a member that
	 * must not lead is not a candidate in the first place. */
	(void) cluster;
	return ha_wants_candidacy(self);
}
