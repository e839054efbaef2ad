/*
 * patronictl's member selection; see select.h.
 */
#include "ctl/select.h"

#include <string.h>

bool select_role_parse(const char *text, enum select_role *out)
{
	static const struct {
		const char *name;
		enum select_role role;
	} roles[] = {
		{ "leader", SELECT_LEADER },   { "primary", SELECT_PRIMARY },
		{ "master", SELECT_PRIMARY },  { "standby-leader", SELECT_STANDBY_LEADER },
		{ "replica", SELECT_REPLICA }, { "standby", SELECT_REPLICA },
		{ "any", SELECT_ANY },
	};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(text, roles[i].name) == 0) {
			*out = roles[i].role;
			return true;
		}
	return false;
}

size_t select_members(const struct cluster_view *view, enum select_role role,
		      const struct view_member **out)
{
	size_t n = 0;

	if (role == SELECT_LEADER || role == SELECT_PRIMARY || role == SELECT_STANDBY_LEADER) {
		const struct view_member *leader = view->leader ? view_member(view, view->leader)
								: NULL;
		const char *leader_role = leader ? leader->status.role : NULL;
		bool standby = leader_role != NULL && strcmp(leader_role, "standby_leader") == 0;
		bool primary = leader_role != NULL && (strcmp(leader_role, "master") == 0 ||
						       strcmp(leader_role, "primary") == 0);

		/* Patroni: primary is a leader that is no standby leader,
		 * standby-leader one that is no primary. */
		if (leader != NULL && (role == SELECT_LEADER || (role == SELECT_PRIMARY && !standby) ||
				       (role == SELECT_STANDBY_LEADER && !primary)))
			out[n++] = leader;
		return n;
	}
	for (size_t i = 0; i < view->n_members; i++)
		if (role == SELECT_ANY || !view_is_leader(view, &view->members[i]))
			out[n++] = &view->members[i];
	return n;
}

size_t select_leader_first(const struct cluster_view *view, const struct view_member **out)
{
	size_t n = select_members(view, SELECT_LEADER, out);

	for (size_t i = 0; i < view->n_members; i++)
		if (!view_is_leader(view, &view->members[i]))
			out[n++] = &view->members[i];
	return n;
}
