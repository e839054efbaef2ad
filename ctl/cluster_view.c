/*
 * The cluster's znodes, decoded without trusting them; see cluster_view.h.
 */
#include "ctl/cluster_view.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/util.h"

void view_init(struct cluster_view *view, const char *scope, const char *base)
{
	memset(view, 0, sizeof(*view));
	view->scope = xstrdup(scope);
	view->base = xstrdup(base);
	view->loop_wait = 10;
}

void view_clear(struct cluster_view *view)
{
	free(view->scope);
	free(view->base);
	free(view->initialize);
	free(view->leader);
	json_decref(view->config);
	znode_failover_clear(&view->failover);
	znode_sync_clear(&view->sync);
	znode_history_clear(&view->history);
	for (size_t i = 0; i < view->n_members; i++) {
		free(view->members[i].name);
		free(view->members[i].host);
		member_status_clear(&view->members[i].status);
	}
	free(view->members);
	for (size_t i = 0; i < view->n_warnings; i++)
		free(view->warnings[i]);
	free(view->warnings);
	memset(view, 0, sizeof(*view));
}

void view_warn(struct cluster_view *view, const char *format, ...)
{
	va_list arguments;
	char *text;

	va_start(arguments, format);
	text = xvasprintf(format, arguments);
	va_end(arguments);
	view->warnings = xrealloc(view->warnings, (view->n_warnings + 1) * sizeof(char *));
	view->warnings[view->n_warnings++] = text;
}

void view_set_initialize(struct cluster_view *view, const char *data, int len)
{
	bool bootstrapping = false;
	uint64_t sysid = 0;
	char err[ZNODE_ERR_MAX];

	free(view->initialize);
	view->initialize = NULL;
	if (!znode_initialize_decode(data, len, &bootstrapping, &sysid, err, sizeof(err))) {
		view_warn(view, "%s/%s: %s; shown as unknown", view->base, ZNODE_INITIALIZE, err);
		view->initialize = xstrdup("unknown");
		return;
	}
	view->initialize = bootstrapping ? xstrdup("") : xasprintf("%llu", (unsigned long long) sysid);
}

void view_set_leader(struct cluster_view *view, const char *data, int len)
{
	char name[ZNODE_NAME_MAX + 1];
	char err[ZNODE_ERR_MAX];

	free(view->leader);
	view->leader = NULL;
	if (!znode_leader_decode(data, len, name, sizeof(name), err, sizeof(err))) {
		view_warn(view, "%s/%s: %s; treated as no leader", view->base, ZNODE_LEADER, err);
		return;
	}
	view->leader = xstrdup(name);
}

/* Patroni's parse_bool() truthiness for the mode flags of /config. */
static bool config_flag(const json_t *config, const char *key)
{
	const json_t *value = json_object_get(config, key);

	if (json_is_boolean(value))
		return json_is_true(value);
	if (json_is_integer(value))
		return json_integer_value(value) != 0;
	if (json_is_string(value)) {
		static const char *const yes[] = { "on", "true", "yes", "1", "quorum" };
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
			if (strcasecmp(json_string_value(value), yes[i]) == 0)
				return true;
	}
	return false;
}

/* Patroni's is_standby_cluster: standby_cluster with a host, port or
 * restore_command. */
static bool standby_cluster(const json_t *config)
{
	const json_t *standby = json_object_get(config, "standby_cluster");
	static const char *const keys[] = { "host", "port", "restore_command" };

	if (!json_is_object(standby))
		return false;
	for (size_t i = 0; i < 3; i++) {
		const json_t *value = json_object_get(standby, keys[i]);

		if (value != NULL && !json_is_null(value) && !json_is_false(value) &&
		    !(json_is_string(value) && json_string_length(value) == 0) &&
		    !(json_is_integer(value) && json_integer_value(value) == 0))
			return true;
	}
	return false;
}

void view_set_config(struct cluster_view *view, const char *data, int len, int version)
{
	json_error_t error;
	json_t *config = NULL;

	json_decref(view->config);
	view->has_config = true;
	view->config_version = version;
	if (data != NULL && len > 0)
		config = json_loadb(data, (size_t) len, JSON_REJECT_DUPLICATES, &error);
	if (!json_is_object(config)) {
		view_warn(view, "%s/%s: %s; treated as empty", view->base, ZNODE_CONFIG,
			  config == NULL && len > 0 ? error.text : "not a JSON object");
		json_decref(config);
		config = xjson(json_object());
	}
	view->config = config;
	view->paused = config_flag(config, "pause");
	view->standby_cluster = standby_cluster(config);
	view->synchronous_mode = config_flag(config, "synchronous_mode") && !view->standby_cluster;
	const json_t *loop_wait = json_object_get(config, "loop_wait");
	if (json_is_integer(loop_wait) && json_integer_value(loop_wait) > 0)
		view->loop_wait = json_integer_value(loop_wait);
	else if (json_is_string(loop_wait) && atoll(json_string_value(loop_wait)) > 0)
		view->loop_wait = atoll(json_string_value(loop_wait));
}

void view_set_status(struct cluster_view *view, const char *data, int len)
{
	struct znode_status status = { 0 };
	char err[ZNODE_ERR_MAX];

	if (!znode_status_decode(data, len, &status, err, sizeof(err))) {
		view_warn(view, "%s/%s: %s; lag shown against LSN 0", view->base, ZNODE_STATUS, err);
		return;
	}
	view->has_last_lsn = true;
	view->last_lsn = status.optime;
	znode_status_clear(&status);
}

void view_set_optime_leader(struct cluster_view *view, const char *data, int len)
{
	int64_t lsn = 0;
	char err[ZNODE_ERR_MAX];

	if (view->has_last_lsn)
		return;
	if (!znode_optime_decode(data, len, &lsn, err, sizeof(err))) {
		view_warn(view, "%s/%s: %s; ignored", view->base, ZNODE_OPTIME_LEADER, err);
		return;
	}
	view->has_last_lsn = true;
	view->last_lsn = lsn;
}

void view_set_failover(struct cluster_view *view, const char *data, int len, int version)
{
	char err[ZNODE_ERR_MAX];

	znode_failover_clear(&view->failover);
	view->has_failover = true;
	view->failover_version = version;
	if (!znode_failover_decode(data, len, &view->failover, err, sizeof(err)))
		view_warn(view, "%s/%s: %s; treated as none", view->base, ZNODE_FAILOVER, err);
}

void view_set_sync(struct cluster_view *view, const char *data, int len)
{
	char err[ZNODE_ERR_MAX];

	znode_sync_clear(&view->sync);
	if (!znode_sync_decode(data, len, &view->sync, err, sizeof(err)))
		view_warn(view, "%s/%s: %s; treated as none", view->base, ZNODE_SYNC, err);
}

void view_set_history(struct cluster_view *view, const char *data, int len)
{
	char err[ZNODE_ERR_MAX];

	znode_history_clear(&view->history);
	if (!znode_history_decode(data, len, &view->history, err, sizeof(err)))
		view_warn(view, "%s/%s: %s; treated as empty", view->base, ZNODE_HISTORY, err);
}

bool view_parse_conn_url(const char *url, char **host, int *port)
{
	const char *p;
	const char *end;
	const char *host_start;
	const char *host_end;

	*host = NULL;
	*port = 5432;
	if (strncmp(url, "postgres://", 11) == 0)
		p = url + 11;
	else if (strncmp(url, "postgresql://", 13) == 0)
		p = url + 13;
	else
		return false;
	end = p + strcspn(p, "/?#");
	/* userinfo ends at the last '@' of the authority */
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			p = q + 1;
	if (*p == '[') {
		host_start = p + 1;
		host_end = memchr(host_start, ']', (size_t) (end - host_start));
		if (host_end == NULL)
			return false;
		p = host_end + 1;
	} else {
		host_start = p;
		host_end = memchr(p, ':', (size_t) (end - p));
		if (host_end == NULL)
			host_end = end;
		p = host_end;
	}
	if (host_end == host_start)
		return false;
	if (p < end) {
		long value = 0;

		if (*p != ':')
			return false;
		p++;
		if (p == end)
			goto done; /* "host:" is host with the default port */
		for (; p < end; p++) {
			if (!isdigit((unsigned char) *p) || value > 65535)
				return false;
			value = value * 10 + (*p - '0');
		}
		if (value < 1 || value > 65535)
			return false;
		*port = (int) value;
	}
done:
	*host = xstrndup(host_start, (size_t) (host_end - host_start));
	for (char *c = *host; *c != '\0'; c++)
		*c = (char) tolower((unsigned char) *c);
	return true;
}

void view_add_member(struct cluster_view *view, const char *name, const char *data, int len)
{
	struct view_member *member;
	char err[ZNODE_ERR_MAX];

	view->members = xrealloc(view->members, (view->n_members + 1) * sizeof(*view->members));
	member = &view->members[view->n_members++];
	memset(member, 0, sizeof(*member));
	member->name = xstrdup(name);
	member->port = 5432;
	if (!member_status_decode(data, len, &member->status, err, sizeof(err))) {
		view_warn(view, "%s/%s/%s: %s; shown as unknown", view->base, ZNODE_MEMBERS, name,
			  err);
		member->malformed = true;
		return;
	}
	if (member->status.conn_url != NULL &&
	    !view_parse_conn_url(member->status.conn_url, &member->host, &member->port))
		view_warn(view, "%s/%s/%s: conn_url is not a postgres:// URL with a host", view->base,
			  ZNODE_MEMBERS, name);
}

static int compare_members(const void *a, const void *b)
{
	return strcmp(((const struct view_member *) a)->name,
		      ((const struct view_member *) b)->name);
}

void view_finish(struct cluster_view *view)
{
	if (view->n_members > 1)
		qsort(view->members, view->n_members, sizeof(*view->members), compare_members);
}

const struct view_member *view_member(const struct cluster_view *view, const char *name)
{
	for (size_t i = 0; i < view->n_members; i++)
		if (strcmp(view->members[i].name, name) == 0)
			return &view->members[i];
	return NULL;
}

bool view_is_leader(const struct cluster_view *view, const struct view_member *member)
{
	return view->leader != NULL && strcmp(view->leader, member->name) == 0;
}

bool view_is_sync_standby(const struct cluster_view *view, const char *name)
{
	if (!view->synchronous_mode || view->sync.leader == NULL)
		return false;
	for (size_t i = 0; i < view->sync.n_standbys; i++)
		if (strcasecmp(view->sync.standbys[i], name) == 0)
			return true;
	return false;
}
