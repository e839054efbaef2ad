/*
 * patronictl's output_members() and cluster_as_json(); see list.h.
 */
#include "ctl/list.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "ctl/util.h"

#define MIB 1048576LL

long long list_lag_mb(int64_t lag_bytes)
{
	long long whole = lag_bytes / MIB;
	long long rest = lag_bytes % MIB;

	/* Lags are never negative here (cluster_as_json clamps them to 0). */
	if (rest * 2 > MIB || (rest * 2 == MIB && (whole & 1)))
		whole++;
	return whole;
}

char *list_title(const struct cluster_view *view)
{
	const char *initialize = view->initialize == NULL	 ? "uninitialized"
				 : view->initialize[0] == '\0' ? "initializing"
							       : view->initialize;

	return xasprintf(" Cluster: %s (%s) ", view->scope, initialize);
}

/* cluster_as_json's role. */
static const char *member_role(const struct cluster_view *view, const struct view_member *m)
{
	if (view_is_leader(view, m))
		return view->standby_cluster ? "Standby Leader" : "Leader";
	if (view_is_sync_standby(view, m->name))
		return "Sync Standby";
	return "Replica";
}

static bool role_is_leader(const char *role)
{
	return strcmp(role, "Leader") == 0 || strcmp(role, "Standby Leader") == 0;
}

static const char *member_state(const struct cluster_view *view, const struct view_member *m)
{
	if (m->malformed)
		return "unknown";
	/* Replicas show how they replicate: "streaming", "in archive
	 * recovery". */
	if (!view_is_leader(view, m) && m->status.replication_state != NULL)
		return m->status.replication_state;
	return m->status.state ? m->status.state : "";
}

/* Python truthiness of an optional object. */
static bool object_set(const json_t *value)
{
	return json_is_object(value) && json_object_size(value) > 0;
}

/* --- topology order ------------------------------------------------------- */

struct placed {
	const struct view_member *member;
	int level;
};

struct walk {
	const struct cluster_view *view;
	const char **parents; /* per member: upstream name, NULL = a root */
	bool *placed;
	struct placed *order;
	size_t n_order;
};

static void walk_from(struct walk *walk, size_t index, int level)
{
	const struct cluster_view *view = walk->view;

	walk->placed[index] = true;
	walk->order[walk->n_order].member = &view->members[index];
	walk->order[walk->n_order].level = level;
	walk->n_order++;
	for (size_t i = 0; i < view->n_members; i++)
		if (!walk->placed[i] && walk->parents[i] != NULL &&
		    strcmp(walk->parents[i], view->members[index].name) == 0)
			walk_from(walk, i, level + 1);
}

/* patronictl's topology_sort(): the leader, then each replica under the
 * member its replicatefrom tag names (when that is another replica), else
 * under the leader.  Without a leader the roots are one level in ("+ a"),
 * as there.  Members a cycle of tags leaves out come last, one level in,
 * rather than vanish as they do in patronictl. */
static struct placed *topology_order(const struct cluster_view *view)
{
	struct walk walk = {
		.view = view,
		.parents = xcalloc(view->n_members, sizeof(char *)),
		.placed = xcalloc(view->n_members, sizeof(bool)),
		.order = xcalloc(view->n_members, sizeof(struct placed)),
	};
	ssize_t leader = -1;

	for (size_t i = 0; i < view->n_members; i++)
		if (leader < 0 && role_is_leader(member_role(view, &view->members[i])))
			leader = (ssize_t) i;
	for (size_t i = 0; i < view->n_members; i++) {
		const json_t *upstream = NULL;
		const char *name;

		if ((ssize_t) i == leader)
			continue;
		upstream = json_object_get(view->members[i].status.tags, "replicatefrom");
		name = json_string_value(upstream);
		walk.parents[i] = leader >= 0 ? view->members[leader].name : NULL;
		if (name != NULL && strcmp(name, view->members[i].name) != 0) {
			const struct view_member *target = view_member(view, name);

			if (target != NULL && (ssize_t) (target - view->members) != leader)
				walk.parents[i] = target->name;
		}
	}
	if (leader >= 0)
		walk_from(&walk, (size_t) leader, 0);
	for (size_t i = 0; i < view->n_members; i++)
		if (!walk.placed[i] && walk.parents[i] == NULL)
			walk_from(&walk, i, 1);
	for (size_t i = 0; i < view->n_members; i++)
		if (!walk.placed[i])
			walk_from(&walk, i, 1);
	free(walk.parents);
	free(walk.placed);
	return walk.order;
}

/* --- rows ------------------------------------------------------------------ */

enum optional_column {
	COLUMN_PENDING_RESTART,
	COLUMN_PENDING_REASON,
	COLUMN_SCHEDULED_RESTART,
	COLUMN_TAGS,
	OPTIONAL_COLUMNS,
};

static const char *const optional_names[OPTIONAL_COLUMNS] = {
	"Pending restart", "Pending restart reason", "Scheduled restart", "Tags",
};

static bool member_has(const struct view_member *m, enum optional_column column)
{
	switch (column) {
	case COLUMN_PENDING_RESTART:
		return m->status.pending_restart;
	case COLUMN_PENDING_REASON:
		return object_set(m->status.pending_restart_reason);
	case COLUMN_SCHEDULED_RESTART:
		return object_set(m->status.scheduled_restart);
	case COLUMN_TAGS:
		return object_set(m->status.tags);
	default:
		return false;
	}
}

static json_t *scheduled_restart_text(const json_t *scheduled)
{
	const char *schedule = json_string_value(json_object_get(scheduled, "schedule"));
	const json_t *version = json_object_get(scheduled, "postgres_version");
	struct sb text = { 0 };
	json_t *value;

	sb_append(&text, schedule ? schedule : "");
	if (json_is_string(version))
		sb_printf(&text, " if version < %s", json_string_value(version));
	value = xjson(json_string(sb_text(&text)));
	sb_free(&text);
	return value;
}

static json_t *optional_cell(const struct view_member *m, enum optional_column column)
{
	switch (column) {
	case COLUMN_PENDING_RESTART:
		return xjson(json_string(m->status.pending_restart ? "*" : ""));
	case COLUMN_PENDING_REASON:
		return member_has(m, column) ? json_incref(m->status.pending_restart_reason)
					     : xjson(json_string(""));
	case COLUMN_SCHEDULED_RESTART:
		return member_has(m, column) ? scheduled_restart_text(m->status.scheduled_restart)
					     : xjson(json_string(""));
	case COLUMN_TAGS:
		return member_has(m, column) ? json_incref(m->status.tags) : xjson(json_string(""));
	default:
		return xjson(json_string(""));
	}
}

static void append(json_t *row, json_t *value)
{
	if (json_array_append_new(row, value) != 0)
		xjson(NULL);
}

/* Show host:port when a port is not 5432 or two members share a host. */
static bool hosts_need_ports(const struct cluster_view *view)
{
	for (size_t i = 0; i < view->n_members; i++) {
		const struct view_member *m = &view->members[i];

		if (m->host == NULL)
			continue;
		if (m->port != 5432)
			return true;
		for (size_t k = 0; k < i; k++)
			if (view->members[k].host && strcmp(view->members[k].host, m->host) == 0)
				return true;
	}
	return false;
}

static json_t *member_row(const struct cluster_view *view, const struct placed *placed,
			  bool with_port, const bool *optional)
{
	const struct view_member *m = placed->member;
	const char *role = member_role(view, m);
	json_t *row = xjson(json_array());
	char *name;
	char *host;

	if (placed->level > 0)
		name = xasprintf("%*s+ %s", (placed->level - 1) * 2, "", m->name);
	else
		name = xstrdup(m->name);
	if (m->host != NULL && with_port)
		host = xasprintf("%s:%d", m->host, m->port);
	else
		host = xstrdup(m->host ? m->host : "");

	append(row, xjson(json_string(view->scope)));
	append(row, xjson(json_string(name)));
	append(row, xjson(json_string(host)));
	append(row, xjson(json_string(role)));
	append(row, xjson(json_string(member_state(view, m))));
	append(row, m->status.has_timeline ? xjson(json_integer(m->status.timeline))
					   : xjson(json_string("")));
	if (view_is_leader(view, m)) {
		append(row, xjson(json_string("")));
	} else if (m->malformed || !m->status.has_xlog_location) {
		append(row, xjson(json_string("unknown")));
	} else {
		int64_t last = view->last_lsn;
		int64_t lsn = m->status.xlog_location;

		append(row, xjson(json_integer(list_lag_mb(last >= lsn ? last - lsn : 0))));
	}
	for (int c = 0; c < OPTIONAL_COLUMNS; c++)
		if (optional[c])
			append(row, optional_cell(m, (enum optional_column) c));
	free(name);
	free(host);
	return row;
}

static void service_info(const struct cluster_view *view, struct sb *out)
{
	struct sb info = { 0 };

	if (view->paused)
		sb_append(&info, "Maintenance mode: on");
	if (view->failover.scheduled_at != NULL) {
		if (info.len > 0)
			sb_append(&info, "\n ");
		sb_printf(&info, "Switchover scheduled at: %s", view->failover.scheduled_at);
		if (view->failover.leader != NULL)
			sb_printf(&info, "\n%24s: %s", "from", view->failover.leader);
		if (view->failover.member != NULL)
			sb_printf(&info, "\n%24s: %s", "to", view->failover.member);
	}
	if (info.len > 0)
		sb_printf(out, " %s\n", sb_text(&info));
	sb_free(&info);
}

char *list_render(const struct cluster_view *view, enum output_format format, bool extended)
{
	const char *columns[7 + OPTIONAL_COLUMNS] = {
		"Cluster", "Member", "Host", "Role", "State", "TL", "Lag in MB",
	};
	static const char *const right[] = { "TL", "Lag in MB", NULL };
	size_t n_columns = 7;
	bool optional[OPTIONAL_COLUMNS] = { false };
	struct placed *order;
	json_t *rows = xjson(json_array());
	char *title = list_title(view);
	struct sb out = { 0 };
	char *table;

	for (int c = 0; c < OPTIONAL_COLUMNS; c++) {
		optional[c] = extended;
		for (size_t i = 0; i < view->n_members && !optional[c]; i++)
			if (view->members[i].host != NULL &&
			    member_has(&view->members[i], (enum optional_column) c))
				optional[c] = true;
		if (optional[c])
			columns[n_columns++] = optional_names[c];
	}
	if (format == OUTPUT_TOPOLOGY) {
		order = topology_order(view);
	} else {
		order = xcalloc(view->n_members, sizeof(*order));
		for (size_t i = 0; i < view->n_members; i++)
			order[i].member = &view->members[i];
	}
	bool with_port = hosts_need_ports(view);
	for (size_t i = 0; i < view->n_members; i++)
		append(rows, member_row(view, &order[i], with_port, optional));

	struct output_spec spec = {
		.columns = columns,
		.n_columns = n_columns,
		.right_aligned = right,
		.title = title,
	};
	table = output_render(&spec, rows, format);
	sb_append(&out, table);
	if (format == OUTPUT_PRETTY || format == OUTPUT_TOPOLOGY)
		service_info(view, &out);
	free(table);
	free(order);
	free(title);
	json_decref(rows);
	return sb_steal(&out);
}
