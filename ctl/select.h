/*
 * Which members a command acts on, as patronictl's get_all_members():
 * --role leader (alias master, primary, standby-leader) is the member
 * holding the leader lock; replica (alias standby) every other member;
 * any every member.  Pure: no I/O.
 */
#ifndef PGHERD_CTL_SELECT_H
#define PGHERD_CTL_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "ctl/cluster_view.h"

enum select_role {
	SELECT_ANY = 0,
	SELECT_LEADER,         /* leader: primary or standby leader */
	SELECT_PRIMARY,        /* primary, master */
	SELECT_STANDBY_LEADER, /* standby-leader */
	SELECT_REPLICA,        /* replica, standby */
};

/* The choices patronictl offers; false for anything else. */
bool select_role_parse(const char *text, enum select_role *out);

/* Members matching role, in name order, into out (n_members entries
 * suffice); their number. */
size_t select_members(const struct cluster_view *view, enum select_role role,
		      const struct view_member **out);

/* Every member, the leader first (where pause and flush try first). */
size_t select_leader_first(const struct cluster_view *view, const struct view_member **out);

#endif /* PGHERD_CTL_SELECT_H */
