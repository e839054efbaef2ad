/*
 * What the REST API answers, from a snapshot of the agent (rest_view.h).
 * Pure: reads struct rest_view, builds JSON or text, and keeps nothing.
 *
 * Patroni's code is the model (patroni/api.py get_postgresql_status(),
 * do_GET(), do_GET_metrics(); utils.cluster_as_json()).  What pgherd does
 * not have is answered as Patroni answers a cluster without it: no standby
 * cluster (standby_leader is never 200), no failsafe mode (0).
 */
#include "agent/rest_view.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------
 * Facts derived from the view
 * ------------------------------------------------------------------------ */

/* PostgreSQL answered: the fields of view->pg are current. */
static bool pg_answers(const struct rest_view *view)
{
	return view->pg_reachable && view->pg != NULL;
}

/* Patroni's role "master" / "replica" comes from pg_is_in_recovery(). */
static bool pg_is_primary(const struct rest_view *view)
{
	return pg_answers(view) && !view->pg->in_recovery;
}

static bool pg_is_replica(const struct rest_view *view)
{
	return pg_answers(view) && view->pg->in_recovery;
}

static bool is_running(const struct rest_view *view)
{
	return view->state != NULL && strcmp(view->state, "running") == 0;
}

/* Patroni's "cluster" (dcs.cluster): a view read from ZooKeeper. */
static bool has_cluster_view(const struct rest_view *view)
{
	return view->cluster != NULL && view->cluster->loaded;
}

/* Patroni: not cluster or cluster.is_unlocked(). */
static bool cluster_unlocked(const struct rest_view *view)
{
	return !has_cluster_view(view) || view->cluster->leader == NULL;
}

/* Python truthiness of a tag, as Patroni's Tags.noloadbalance. */
static bool json_truthy(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_TRUE:
		return true;
	case JSON_INTEGER:
		return json_integer_value(value) != 0;
	case JSON_REAL:
		return json_real_value(value) != 0.0;
	case JSON_STRING:
		return json_string_length(value) > 0;
	case JSON_ARRAY:
		return json_array_size(value) > 0;
	case JSON_OBJECT:
		return json_object_size(value) > 0;
	default:
		return false;
	}
}

static bool noloadbalance(const struct rest_view *view)
{
	const json_t *tag = json_object_get(view->tags, "noloadbalance");

	return tag != NULL && json_truthy(tag);
}

/* ------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so that no time zone setting is involved. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* n decimal digits at *p. */
static bool take_digits(const char **p, int n, int *out)
{
	int value = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];

		if (c < '0' || c > '9')
			return false;
		value = value * 10 + (c - '0');
	}
	*p += n;
	*out = value;
	return true;
}

static bool take_char(const char **p, char c)
{
	if (**p != c)
		return false;
	(*p)++;
	return true;
}

/*
 * PostgreSQL's timestamptz text as the monitor keeps it ("2026-11-24
 * 01:07:40.123456+00:00"; 'T' as the separator, no fraction, "+00" or
 * "+0530" also taken) to microseconds since the epoch.
 */
static bool parse_timestamp_us(const char *text, int64_t *out)
{
	const char *p = text;
	int year, month, day, hour, minute, second, off_h = 0, off_m = 0;
	int64_t micros = 0, scale = 100000, seconds;
	int sign = 0;

	if (!take_digits(&p, 4, &year) || !take_char(&p, '-') || !take_digits(&p, 2, &month) ||
	    !take_char(&p, '-') || !take_digits(&p, 2, &day) ||
	    !(take_char(&p, ' ') || take_char(&p, 'T')) || !take_digits(&p, 2, &hour) ||
	    !take_char(&p, ':') || !take_digits(&p, 2, &minute) || !take_char(&p, ':') ||
	    !take_digits(&p, 2, &second))
		return false;
	if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
	    second > 60)
		return false;
	if (take_char(&p, '.')) {
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			micros += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!take_digits(&p, 2, &off_h))
			return false;
		take_char(&p, ':');
		if (*p != '\0' && !take_digits(&p, 2, &off_m))
			return false;
	}
	if (*p != '\0')
		return false;
	seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
	seconds -= sign * (off_h * 3600 + off_m * 60);
	*out = seconds * 1000000 + micros;
	return true;
}

/* Python's str() of an aware UTC datetime, as Patroni's json.dumps
 * (default=str) writes pg_last_xact_replay_timestamp(). */
static bool format_timestamp_ms(char *buf, size_t size, int64_t unix_ms)
{
	time_t seconds = (time_t)(unix_ms / 1000);
	int micros = (int)(unix_ms % 1000) * 1000;
	struct tm tm;
	size_t n;

	if (gmtime_r(&seconds, &tm) == NULL)
		return false;
	n = strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	if (n == 0)
		return false;
	if (micros != 0)
		snprintf(buf + n, size - n, ".%06d+00:00", micros);
	else
		snprintf(buf + n, size - n, "+00:00");
	return true;
}

/* Epoch seconds as Patroni's metrics print total_seconds(): a float
 * ("1732410460.123456", "1732410460.0"), or 0 when unknown. */
static void format_seconds(char *buf, size_t size, int64_t micros)
{
	int n;

	if (micros <= 0) {
		snprintf(buf, size, "0");
		return;
	}
	n = snprintf(buf, size, "%" PRId64 ".%06" PRId64, micros / 1000000, micros % 1000000);
	/* Python's repr: no trailing zeros, but at least one decimal. */
	while (n > 0 && (size_t)n < size && buf[n - 1] == '0' && buf[n - 2] != '.')
		buf[--n] = '\0';
}

/* ------------------------------------------------------------------------
 * JSON helpers
 * ------------------------------------------------------------------------ */

/*
 * A JSON string of len bytes.  Strings from PostgreSQL (application_name
 * under SQL_ASCII) or from a member znode may not be UTF-8, which jansson
 * refuses: keep their ASCII and replace the rest with '?', rather than
 * fail the whole answer.  NULL only when out of memory.
 */
static json_t *text_n(const char *s, size_t len)
{
	json_t *value = json_stringn(s, len);
	char *copy;

	if (value != NULL)
		return value;
	copy = malloc(len + 1);
	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		copy[i] = (unsigned char)s[i] < 0x80 && s[i] != '\0' ? s[i] : '?';
	value = json_stringn(copy, len);
	free(copy);
	return value;
}

/* A string, or null for NULL. */
static json_t *text(const char *s)
{
	return s != NULL ? text_n(s, strlen(s)) : json_null();
}

/* A fixed-size char array of the monitor, NUL-terminated or full. */
static json_t *text_field(const char *field, size_t size)
{
	return text_n(field, strnlen(field, size));
}

/* json_object_set_new() drops value when it fails, and fails on NULL. */
static bool put(json_t *object, const char *key, json_t *value)
{
	return json_object_set_new(object, key, value) == 0;
}

/* An LSN or a position: jansson's integers are signed 64-bit. */
static json_t *lsn_json(uint64_t lsn)
{
	return json_integer(lsn > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)lsn);
}

/* A copy of an object the view lends (a reference to it would change
 * its reference count, which the agent owns). */
static json_t *copy(const json_t *value)
{
	return json_deep_copy(value);
}

/* ------------------------------------------------------------------------
 * Status JSON
 * ------------------------------------------------------------------------ */

static json_t *xlog_json(const struct rest_view *view)
{
	const struct pg_monitor_status *pg = view->pg;
	json_t *xlog = json_object();
	char stamp[64];
	bool ok = xlog != NULL;

	if (!pg->in_recovery) {
		ok = ok && put(xlog, "location", lsn_json(pg->flush_lsn));
	} else {
		/* Patroni: written or received location, else replayed. */
		uint64_t received = pg->receive_lsn != 0 ? pg->receive_lsn : pg->replay_lsn;

		ok = ok && put(xlog, "received_location", lsn_json(received));
		ok = ok && put(xlog, "replayed_location", lsn_json(pg->replay_lsn));
		if (pg->last_replay_unix_ms > 0 &&
		    format_timestamp_ms(stamp, sizeof(stamp), pg->last_replay_unix_ms))
			ok = ok && put(xlog, "replayed_timestamp", text(stamp));
		else
			ok = ok && put(xlog, "replayed_timestamp", json_null());
		ok = ok && put(xlog, "paused", json_boolean(pg->replay_paused));
	}
	if (!ok) {
		json_decref(xlog);
		return NULL;
	}
	return xlog;
}

/* pg_stat_replication as far as the monitor reads it: it does not ask for
 * usename and client_addr, so they are left out rather than made up. */
static json_t *replication_json(const struct pg_monitor_status *pg)
{
	int n = pg->standbys_listed < PG_MONITOR_MAX_STANDBYS ? pg->standbys_listed
							      : PG_MONITOR_MAX_STANDBYS;
	json_t *rows = json_array();

	for (int i = 0; rows != NULL && i < n; i++) {
		const struct pg_monitor_standby *s = &pg->standbys[i];
		json_t *row = json_object();
		bool ok = row != NULL;

		ok = ok && put(row, "application_name",
			       text_field(s->application_name, sizeof(s->application_name)));
		ok = ok && put(row, "state", text_field(s->state, sizeof(s->state)));
		ok = ok && put(row, "sync_state", text_field(s->sync_state, sizeof(s->sync_state)));
		ok = ok && put(row, "sync_priority", json_integer(0));
		if (!ok || json_array_append_new(rows, row) != 0) {
			if (!ok)
				json_decref(row);
			json_decref(rows);
			return NULL;
		}
	}
	return rows;
}

/* The keys that come from PostgreSQL's answer. */
static bool add_postgres(json_t *status, const struct rest_view *view)
{
	const struct pg_monitor_status *pg = view->pg;
	bool ok;

	ok = put(status, "postmaster_start_time",
		 pg->postmaster_start_time[0] != '\0'
			 ? text_field(pg->postmaster_start_time, sizeof(pg->postmaster_start_time))
			 : json_null());
	ok = ok && put(status, "role", json_string(pg->in_recovery ? "replica" : "master"));
	ok = ok && put(status, "server_version", json_integer(pg->server_version));
	ok = ok && put(status, "xlog", xlog_json(view));
	ok = ok && put(status, "timeline",
		       pg->timeline != 0 ? json_integer(pg->timeline) : json_null());
	if (pg->in_recovery && pg->replication_state != PG_REPLICATION_NONE)
		ok = ok && put(status, "replication_state",
			       json_string(pg_replication_state_name(pg->replication_state)));
	if (pg->standbys_listed > 0)
		ok = ok && put(status, "replication", replication_json(pg));
	return ok;
}

/* The keys Patroni's _write_status_response() adds after the query's. */
static bool add_member(json_t *status, const struct rest_view *view)
{
	char sysid[24];
	bool ok = true;

	if (json_is_object(view->tags) && json_object_size(view->tags) > 0)
		ok = ok && put(status, "tags", copy(view->tags));
	if (view->has_system_identifier) {
		snprintf(sysid, sizeof(sysid), "%" PRIu64, view->system_identifier);
		ok = ok && put(status, "database_system_identifier", json_string(sysid));
	}
	if (view->pending_restart) {
		ok = ok && put(status, "pending_restart", json_true());
		if (view->pending_restart_reason != NULL)
			ok = ok && put(status, "pending_restart_reason",
				       copy(view->pending_restart_reason));
	}
	if (ok && view->scheduled_restart != NULL) {
		json_t *restart = copy(view->scheduled_restart);

		/* Patroni keeps it to decide, but does not show it. */
		if (json_is_object(restart))
			json_object_del(restart, "postmaster_start_time");
		ok = put(status, "scheduled_restart", restart);
	}
	return ok;
}

static json_t *patroni_json(const struct rest_view *view)
{
	json_t *patroni = json_object();
	bool ok = patroni != NULL;

	ok = ok && put(patroni, "version", text(view->version));
	ok = ok && put(patroni, "scope", text(view->scope));
	ok = ok && put(patroni, "name", text(view->name));
	if (!ok) {
		json_decref(patroni);
		return NULL;
	}
	return patroni;
}

json_t *rest_status_json(const struct rest_view *view)
{
	json_t *status = json_object();
	bool ok = status != NULL;

	ok = ok && put(status, "state", text(view->state != NULL ? view->state : "unknown"));
	if (pg_answers(view))
		ok = ok && add_postgres(status, view);
	if (cluster_unlocked(view))
		ok = ok && put(status, "cluster_unlocked", json_true());
	if (view->paused)
		ok = ok && put(status, "pause", json_true());
	if (view->sync_standby)
		ok = ok && put(status, "sync_standby", json_true());
	ok = ok && put(status, "dcs_last_seen", json_integer(view->dcs_last_seen_s));
	ok = ok && add_member(status, view);
	ok = ok && put(status, "patroni", patroni_json(view));
	if (!ok) {
		json_decref(status);
		return NULL;
	}
	return status;
}

/* ------------------------------------------------------------------------
 * Health checks
 * ------------------------------------------------------------------------ */

/* Patroni's replica_status_code: a running replica that takes load and,
 * when ?lag= is given, is not further behind the leader's last known
 * position (status.optime) than that. */
static bool replica_ok(const struct rest_view *view, const struct rest_request *request)
{
	if (noloadbalance(view) || !pg_is_replica(view) || !is_running(view))
		return false;
	if (request->has_lag && request->lag_bytes >= 0 && view->has_last_lsn) {
		uint64_t replayed = view->pg->replay_lsn;

		if (view->last_lsn > replayed &&
		    view->last_lsn - replayed > (uint64_t)request->lag_bytes)
			return false;
	}
	return true;
}

/* Python's repr() of a float: the fewest digits that read back the same,
 * in exponent form below 1e-4 or from 1e16 on, else with a decimal point
 * ("100.0", "1.5", "1e-05", "1e+16"). */
static void format_real(char *buf, size_t size, double d)
{
	int digits, exponent;
	const char *e;

	for (digits = 1; digits < 17; digits++) {
		snprintf(buf, size, "%.*e", digits - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, size, "%.*e", digits - 1, d);
	e = strchr(buf, 'e');
	exponent = e != NULL ? atoi(e + 1) : 0;
	if (exponent < -4 || exponent >= 16)
		return;
	if (digits - 1 - exponent >= 1)
		snprintf(buf, size, "%.*f", digits - 1 - exponent, d);
	else
		snprintf(buf, size, "%.1f", d);
}

/* A tag as Patroni compares it with a query value: str(value).lower()
 * for what is not a string.  NULL when it cannot equal any text. */
static const char *tag_text(const json_t *tag, char *buf, size_t size)
{
	switch (json_typeof(tag)) {
	case JSON_STRING:
		return json_string_value(tag);
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_INTEGER:
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(tag));
		return buf;
	case JSON_REAL:
		format_real(buf, size, json_real_value(tag));
		return buf;
	default:
		return NULL;
	}
}

/* Every ?tag_<key>=<value> must equal the member's tag; a missing tag
 * fails. */
static bool tags_match(const struct rest_view *view, const struct rest_request *request)
{
	for (size_t i = 0; i < request->n_tags; i++) {
		const json_t *tag = json_object_get(view->tags, request->tags[i].key);
		const char *value;
		char buf[64];

		if (tag == NULL || json_is_null(tag))
			return false;
		value = tag_text(tag, buf, sizeof(buf));
		if (value == NULL || strcmp(value, request->tags[i].value) != 0)
			return false;
	}
	return true;
}

int rest_health_status(const struct rest_view *view, const struct rest_request *request)
{
	int primary = 503, standby_leader = 503, replica, status = 503;
	bool use_tags = true;

	/* In pause with no cluster view Patroni trusts PostgreSQL's role;
	 * otherwise the lock decides.  pgherd has no standby cluster. */
	if (!has_cluster_view(view) && view->paused)
		primary = pg_is_primary(view) ? 200 : 503;
	else if (view->holds_lock)
		primary = 200;
	replica = replica_ok(view, request) ? 200 : 503;

	switch (request->check) {
	case REST_CHECK_PRIMARY:
	case REST_CHECK_LEADER:
		/* leader = primary or standby leader */
		status = primary;
		use_tags = false;
		break;
	case REST_CHECK_STANDBY_LEADER:
		status = standby_leader;
		use_tags = false;
		break;
	case REST_CHECK_REPLICA:
		status = replica;
		break;
	case REST_CHECK_READ_ONLY:
		status = primary == 200 || standby_leader == 200 ? 200 : replica;
		break;
	case REST_CHECK_HEALTH:
		status = is_running(view) ? 200 : 503;
		break;
	case REST_CHECK_SYNC:
		if (has_cluster_view(view) && view->sync_standby)
			status = replica;
		break;
	case REST_CHECK_ASYNC:
		if (has_cluster_view(view) && !view->sync_standby)
			status = replica;
		break;
	case REST_CHECK_READ_ONLY_SYNC:
		if (!has_cluster_view(view))
			break;
		if (primary == 200 || standby_leader == 200)
			status = 200;
		else if (view->sync_standby)
			status = replica;
		break;
	case REST_CHECK_UNKNOWN:
		break;
	}
	if (use_tags && status == 200 && !tags_match(view, request))
		status = 503;
	return status;
}

int rest_liveness_status(const struct rest_view *view)
{
	/* A replica's agent may stall longer: its primary does not depend
	 * on it, and on the primary the lock expires after ttl anyway. */
	int64_t threshold_ms = (int64_t)view->ttl_s * 1000 *
			       (pg_is_primary(view) && is_running(view) ? 1 : 2);

	if (view->paused)
		return 200;
	return view->now_ms - view->loop_last_run_ms < threshold_ms ? 200 : 503;
}

int rest_readiness_status(const struct rest_view *view)
{
	if (view->holds_lock)
		return 200;
	return is_running(view) && has_cluster_view(view) ? 200 : 503;
}

/* ------------------------------------------------------------------------
 * GET /cluster
 * ------------------------------------------------------------------------ */

/*
 * Host and port of "postgres://[user[:password]@]host[:port][/db]", as
 * Patroni's conn_kwargs() reads them with urlparse(): host lower-cased and
 * without the brackets of an IPv6 address, port only when it is a number.
 * host is "" and *port 0 when absent.
 */
static void conn_host_port(const char *url, char *host, size_t host_size, long *port)
{
	const char *start, *end, *at, *host_end, *colon = NULL;
	size_t len;

	host[0] = '\0';
	*port = 0;
	if (url == NULL || (start = strstr(url, "://")) == NULL)
		return;
	start += 3;
	end = start + strcspn(start, "/?#");
	for (at = end; at > start && at[-1] != '@'; at--)
		;
	if (at > start)
		start = at;
	if (*start == '[') {
		start++;
		host_end = memchr(start, ']', (size_t)(end - start));
		if (host_end == NULL)
			return;
		if (host_end + 1 < end && host_end[1] == ':')
			colon = host_end + 1;
	} else {
		for (host_end = end; host_end > start && host_end[-1] != ':'; host_end--)
			;
		if (host_end > start) {
			colon = host_end - 1;
			host_end = colon;
		} else {
			host_end = end;
		}
	}
	len = (size_t)(host_end - start);
	if (len == 0 || len >= host_size)
		return;
	for (size_t i = 0; i < len; i++) {
		char c = start[i];

		host[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	host[len] = '\0';
	if (colon != NULL && colon + 1 < end && end - colon - 1 <= 5) {
		long value = 0;

		for (const char *p = colon + 1; p < end; p++) {
			if (*p < '0' || *p > '9')
				return;
			value = value * 10 + (*p - '0');
		}
		if (value > 0 && value <= 65535)
			*port = value;
	}
}

/* Bytes behind the leader's last known position; Patroni shows 0 for a
 * member ahead of it (status.optime is written once a loop), "unknown"
 * when a position is missing. */
static json_t *lag_json(const struct rest_view *view, const struct member_status *status)
{
	uint64_t position;

	if (!status->has_xlog_location || status->xlog_location < 0 || !view->has_last_lsn)
		return json_string("unknown");
	position = (uint64_t)status->xlog_location;
	return lsn_json(view->last_lsn > position ? view->last_lsn - position : 0);
}

/* Named in `sync` as a synchronous standby. */
static bool in_sync(const struct znode_sync *sync, const char *name)
{
	for (size_t i = 0; sync != NULL && i < sync->n_standbys; i++)
		if (strcmp(sync->standbys[i], name) == 0)
			return true;
	return false;
}

static json_t *member_json(const struct rest_view *view, const struct dcs_member *member)
{
	const struct member_status *s = &member->status;
	const char *leader = view->cluster->leader;
	bool is_leader = leader != NULL && strcmp(leader, member->name) == 0;
	const char *state = s->state != NULL ? s->state : "";
	json_t *out = json_object();
	char host[256];
	long port;
	bool ok = out != NULL;

	if (!is_leader && s->replication_state != NULL && s->replication_state[0] != '\0')
		state = s->replication_state;
	ok = ok && put(out, "name", text(member->name));
	ok = ok && put(out, "role", json_string(is_leader ? "leader"
						   : in_sync(view->cluster->sync, member->name)
							   ? "sync_standby"
							   : "replica"));
	ok = ok && put(out, "state", text(state));
	ok = ok && put(out, "api_url", text(s->api_url));
	conn_host_port(s->conn_url, host, sizeof(host), &port);
	if (host[0] != '\0') {
		ok = ok && put(out, "host", text(host));
		if (port != 0)
			ok = ok && put(out, "port", json_integer(port));
	}
	if (s->has_timeline)
		ok = ok && put(out, "timeline", json_integer(s->timeline));
	if (s->pending_restart)
		ok = ok && put(out, "pending_restart", json_true());
	if (s->pending_restart_reason != NULL)
		ok = ok && put(out, "pending_restart_reason", copy(s->pending_restart_reason));
	if (s->scheduled_restart != NULL)
		ok = ok && put(out, "scheduled_restart", copy(s->scheduled_restart));
	if (s->tags != NULL)
		ok = ok && put(out, "tags", copy(s->tags));
	if (!is_leader)
		ok = ok && put(out, "lag", lag_json(view, s));
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

static int compare_members(const void *a, const void *b)
{
	const struct dcs_member *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

static json_t *members_json(const struct rest_view *view)
{
	const struct dcs_cluster *cluster = view->cluster;
	const struct dcs_member **sorted;
	json_t *members = json_array();
	size_t n = 0;

	if (members == NULL || cluster == NULL || cluster->members == NULL ||
	    cluster->member_count == 0)
		return members;
	sorted = malloc(cluster->member_count * sizeof(*sorted));
	if (sorted == NULL) {
		json_decref(members);
		return NULL;
	}
	for (size_t i = 0; i < cluster->member_count; i++)
		if (cluster->members[i].valid && cluster->members[i].name != NULL)
			sorted[n++] = &cluster->members[i];
	/* strcmp() on UTF-8 orders as Python compares str: by code point. */
	qsort(sorted, n, sizeof(*sorted), compare_members);
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(members, member_json(view, sorted[i])) != 0) {
			json_decref(members);
			members = NULL;
			break;
		}
	}
	free(sorted);
	return members;
}

static json_t *switchover_json(const struct rest_view *view)
{
	json_t *out = json_object();
	bool ok = out != NULL;

	ok = ok && put(out, "at", text(view->scheduled_switchover_at));
	if (view->scheduled_switchover_from != NULL)
		ok = ok && put(out, "from", text(view->scheduled_switchover_from));
	if (view->scheduled_switchover_to != NULL)
		ok = ok && put(out, "to", text(view->scheduled_switchover_to));
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

json_t *rest_cluster_json(const struct rest_view *view)
{
	json_t *out = json_object();
	bool ok = out != NULL;

	ok = ok && put(out, "members", members_json(view));
	ok = ok && put(out, "scope", text(view->scope));
	if (view->paused)
		ok = ok && put(out, "pause", json_true());
	if (view->scheduled_switchover_at != NULL)
		ok = ok && put(out, "scheduled_switchover", switchover_json(view));
	if (!ok) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* ------------------------------------------------------------------------
 * GET /metrics
 * ------------------------------------------------------------------------ */

/* A growing text buffer; `failed` once an allocation failed. */
struct text {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf != NULL ? t->buf + t->len : NULL, t->buf != NULL ? t->cap - t->len : 0,
		      fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	if (t->buf == NULL || t->len + (size_t)n >= t->cap) {
		size_t cap = t->cap > 0 ? t->cap : 4096;
		char *buf;

		while (cap <= t->len + (size_t)n)
			cap *= 2;
		buf = realloc(t->buf, cap);
		if (buf == NULL) {
			t->failed = true;
			return;
		}
		t->buf = buf;
		t->cap = cap;
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
	}
	t->len += (size_t)n;
}

/* A label value in the exposition format: \\, \" and \n escaped. */
static void add_label_value(struct text *t, const char *value)
{
	for (const char *p = value != NULL ? value : ""; *p != '\0'; p++) {
		if (*p == '\\')
			text_add(t, "\\\\");
		else if (*p == '"')
			text_add(t, "\\\"");
		else if (*p == '\n')
			text_add(t, "\\n");
		else
			text_add(t, "%c", *p);
	}
}

/* One metric with its # HELP and # TYPE lines.  Patroni prints a space
 * before the labels of patroni_postgres_server_version; Prometheus reads
 * it, and dashboards copied from Patroni's output may expect it. */
static void metric(struct text *t, const char *labels, const char *name, const char *type,
		   const char *help, const char *value)
{
	const char *gap = strcmp(name, "patroni_postgres_server_version") == 0 ? " " : "";

	text_add(t, "# HELP %s %s\n# TYPE %s %s\n%s%s%s %s\n", name, help, name, type, name, gap,
		 labels, value);
}

static void metric_u(struct text *t, const char *labels, const char *name, const char *type,
		     const char *help, uint64_t value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	metric(t, labels, name, type, help, buf);
}

/* Patroni's ''.join(x.zfill(2) for x in version.split('.')): 3.3.1 ->
 * 030301.  Only the leading digits of a part count ("1-dev" -> 01), so
 * the value stays a number. */
static void padded_version(char *buf, size_t size, const char *version)
{
	const char *p = version != NULL ? version : "";
	size_t len = 0;

	buf[0] = '\0';
	for (;;) {
		size_t digits = strspn(p, "0123456789");
		const char *dot = strchr(p, '.');
		const char *pad = digits == 0 ? "00" : digits == 1 ? "0" : "";
		int n;

		if (digits > 10)
			digits = 10;
		n = snprintf(buf + len, size - len, "%s%.*s", pad, (int)digits, p);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
}

static void patroni_metrics(struct text *t, const struct rest_view *view, const char *labels)
{
	const struct pg_monitor_status *pg = pg_answers(view) ? view->pg : NULL;
	bool primary = pg_is_primary(view), replica = pg_is_replica(view);
	char buf[64], start[sizeof(pg->postmaster_start_time) + 1] = "";
	int64_t micros = 0;

	/* the monitor's field need not be NUL-terminated when full */
	if (pg != NULL)
		memcpy(start, pg->postmaster_start_time, sizeof(pg->postmaster_start_time));
	padded_version(buf, sizeof(buf), view->version);
	metric(t, labels, "patroni_version", "gauge", "Patroni semver without periods.", buf);
	metric_u(t, labels, "patroni_postgres_running", "gauge",
		 "Value is 1 if Postgres is running, 0 otherwise.", is_running(view));
	if (pg == NULL || !parse_timestamp_us(start, &micros))
		micros = 0;
	format_seconds(buf, sizeof(buf), micros);
	metric(t, labels, "patroni_postmaster_start_time", "gauge",
	       "Epoch seconds since Postgres started.", buf);
	metric_u(t, labels, "patroni_master", "gauge",
		 "Value is 1 if this node is the leader, 0 otherwise.", primary);
	metric_u(t, labels, "patroni_primary", "gauge",
		 "Value is 1 if this node is the leader, 0 otherwise.", primary);
	metric_u(t, labels, "patroni_xlog_location", "counter",
		 "Current location of the Postgres transaction log, 0 if this node is not the leader.",
		 primary ? pg->flush_lsn : 0);
	metric_u(t, labels, "patroni_standby_leader", "gauge",
		 "Value is 1 if this node is the standby_leader, 0 otherwise.", 0);
	metric_u(t, labels, "patroni_replica", "gauge",
		 "Value is 1 if this node is a replica, 0 otherwise.", replica);
	metric_u(t, labels, "patroni_sync_standby", "gauge",
		 "Value is 1 if this node is a sync standby replica, 0 otherwise.",
		 view->sync_standby);
	metric_u(t, labels, "patroni_xlog_received_location", "counter",
		 "Current location of the received Postgres transaction log, 0 if this node is not a replica.",
		 replica ? (pg->receive_lsn != 0 ? pg->receive_lsn : pg->replay_lsn) : 0);
	metric_u(t, labels, "patroni_xlog_replayed_location", "counter",
		 "Current location of the replayed Postgres transaction log, 0 if this node is not a replica.",
		 replica ? pg->replay_lsn : 0);
	format_seconds(buf, sizeof(buf),
		       replica && pg->last_replay_unix_ms > 0 ? pg->last_replay_unix_ms * 1000 : 0);
	metric(t, labels, "patroni_xlog_replayed_timestamp", "gauge",
	       "Current timestamp of the replayed Postgres transaction log, 0 if null.", buf);
	metric_u(t, labels, "patroni_xlog_paused", "gauge",
		 "Value is 1 if the Postgres xlog is paused, 0 otherwise.",
		 replica && pg->replay_paused);
	/* Patroni prints these two only for PostgreSQL 9.6 or later, which
	 * means only when PostgreSQL answered. */
	if (pg != NULL && pg->server_version >= 90600) {
		metric_u(t, labels, "patroni_postgres_streaming", "gauge",
			 "Value is 1 if Postgres is streaming, 0 otherwise.",
			 replica && pg->replication_state == PG_REPLICATION_STREAMING);
		metric_u(t, labels, "patroni_postgres_in_archive_recovery", "gauge",
			 "Value is 1 if Postgres is replicating from archive, 0 otherwise.",
			 replica && pg->replication_state == PG_REPLICATION_ARCHIVE_RECOVERY);
	}
	metric_u(t, labels, "patroni_postgres_server_version", "gauge",
		 "Version of Postgres (if running), 0 otherwise.",
		 pg != NULL && pg->server_version > 0 ? (uint64_t)pg->server_version : 0);
	metric_u(t, labels, "patroni_cluster_unlocked", "gauge",
		 "Value is 1 if the cluster is unlocked, 0 if locked.", cluster_unlocked(view));
	metric_u(t, labels, "patroni_failsafe_mode_is_active", "gauge",
		 "Value is 1 if failsafe mode is active, 0 if inactive.", 0);
	metric_u(t, labels, "patroni_postgres_timeline", "counter",
		 "Postgres timeline of this node (if running), 0 otherwise.",
		 pg != NULL ? pg->timeline : 0);
	snprintf(buf, sizeof(buf), "%" PRId64, view->dcs_last_seen_s);
	metric(t, labels, "patroni_dcs_last_seen", "gauge",
	       "Epoch timestamp when DCS was last contacted successfully by Patroni.", buf);
	metric_u(t, labels, "patroni_pending_restart", "gauge",
		 "Value is 1 if the node needs a restart, 0 otherwise.", view->pending_restart);
	metric_u(t, labels, "patroni_is_paused", "gauge",
		 "Value is 1 if auto failover is disabled, 0 otherwise.", view->paused);
}

static void pgherd_metrics(struct text *t, const struct rest_view *view, const char *labels)
{
	char buf[24];

	metric_u(t, labels, "pgherd_zookeeper_connected", "gauge",
		 "Value is 1 if the ZooKeeper session is connected, 0 otherwise.",
		 view->zookeeper_state != NULL && strcmp(view->zookeeper_state, "connected") == 0);
	if (view->last_leader_change_s != 0) {
		snprintf(buf, sizeof(buf), "%" PRId64, view->last_leader_change_s);
		metric(t, labels, "pgherd_last_leader_change", "gauge",
		       "Epoch seconds of the last leader change this agent saw.", buf);
	}
}

char *rest_metrics_text(const struct rest_view *view)
{
	struct text labels = { 0 }, t = { 0 };

	text_add(&labels, "{scope=\"");
	add_label_value(&labels, view->scope);
	text_add(&labels, "\",name=\"");
	add_label_value(&labels, view->name);
	text_add(&labels, "\"}");
	if (labels.failed) {
		free(labels.buf);
		return NULL;
	}
	patroni_metrics(&t, view, labels.buf);
	pgherd_metrics(&t, view, labels.buf);
	free(labels.buf);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}
