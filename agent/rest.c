/*
 * The REST server (see rest.h).
 *
 * Every request is parsed and checked by rest_request_parse() before
 * anything happens; reads answer at once from a snapshot of the agent
 * (rest_view.h).  Writes that take time (a PATCH waiting for ZooKeeper, a
 * switchover waiting for the new leader, a restart) keep their evhttp
 * request in a `struct pending` until they answer; if the client goes away
 * first, the connection's close callback forgets the request and the
 * answer is dropped.
 */
#include "agent/rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "agent/agent_internal.h"
#include "agent/log.h"
#include "agent/rest_request.h"
#include "agent/rest_view.h"
#include "agent/version.h"

/* Limits that keep one client from holding the agent's memory or its
 * attention: a health check is a few hundred bytes. */
#define MAX_HEADERS_SIZE (16 * 1024)
#define MAX_BODY_SIZE (1024 * 1024)
#define REQUEST_TIMEOUT_S 10
#define SWITCHOVER_POLL_MS 100

struct rest_server {
	struct event_base *base;
	struct agent *agent;
	struct evhttp *http;
	struct pending *pending;	/* requests still waiting for an answer */
};

enum pending_kind {
	PENDING_CONFIG,		/* a PATCH or PUT of `config` */
	PENDING_SWITCHOVER,	/* waiting for the new leader */
	PENDING_RESTART,
};

struct pending {
	struct rest_server *server;
	struct pending *next;
	enum pending_kind kind;
	struct evhttp_request *request;	/* NULL once the client went away */
	char *body;			/* PENDING_CONFIG: the JSON written */
	json_t *patch;			/* PATCH /config while the current one is read */
	/* PENDING_SWITCHOVER */
	bool failover;			/* POST /failover, not /switchover */
	char old_leader[ZNODE_NAME_MAX + 1];
	char candidate[ZNODE_NAME_MAX + 1];
	int64_t deadline_ms;
	bool key_seen;			/* our `failover` key showed up in the view */
	bool scheduled;			/* answered once the key is written */
	struct event *timer;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- answering ---------------------------------------------------------- */

static void send_text(struct evhttp_request *request, int code, const char *content_type,
		      const char *text, bool status_line_only)
{
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *headers = evhttp_request_get_output_headers(request);

	if (content_type)
		evhttp_add_header(headers, "Content-Type", content_type);
	if (body && text && !status_line_only)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(request, code, NULL, body);
	if (body)
		evbuffer_free(body);
}

/* Patroni answers the write endpoints with a plain-text message. */
static void send_message(struct evhttp_request *request, int code, const char *message)
{
	send_text(request, code, "text/plain", message, false);
}

static void send_json(struct evhttp_request *request, int code, json_t *json,
		      bool status_line_only)
{
	char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;

	send_text(request, code, "application/json", text ? text : "{}", status_line_only);
	free(text);
	json_decref(json);
}

/* ---- pending requests ---------------------------------------------------- */

static void pending_forget_request(struct evhttp_connection *connection, void *arg)
{
	(void) connection;
	struct pending *p = arg;
	p->request = NULL;
}

static struct pending *pending_new(struct rest_server *server, struct evhttp_request *request,
				   enum pending_kind kind)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->server = server;
	p->kind = kind;
	p->request = request;
	p->next = server->pending;
	server->pending = p;
	evhttp_connection_set_closecb(evhttp_request_get_connection(request),
				      pending_forget_request, p);
	return p;
}

/* Answer (if the client is still there) and free. */
static void pending_finish(struct pending *p, int code, const char *message, json_t *json)
{
	struct pending **link = &p->server->pending;

	while (*link && *link != p)
		link = &(*link)->next;
	if (*link)
		*link = p->next;
	if (p->request) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(p->request), NULL, NULL);
		if (json)
			send_json(p->request, code, json, false);
		else
			send_message(p->request, code, message);
		json = NULL;
	}
	json_decref(json);
	if (p->timer)
		event_free(p->timer);
	if (p->kind == PENDING_RESTART && p->server->agent)
		actions_cancel_restart_callback(p->server->agent);
	json_decref(p->patch);
	free(p->body);
	free(p);
}

/* ---- the agent's state as the API shows it -------------------------------- */

static const char *state_of(const struct agent *a)
{
	if (!a->manages_postgresql)
		return "stopped";
	return a->status.state ? a->status.state : "unknown";
}

static void fill_view(const struct agent *a, struct rest_view *v)
{
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	const struct znode_config *dynamic = cluster->config;

	memset(v, 0, sizeof(*v));
	v->scope = a->config->scope;
	v->name = a->config->name;
	v->version = PGHERD_VERSION;
	v->state = state_of(a);
	v->pg_reachable = a->manages_postgresql && a->pg_state == HA_PG_RUNNING && a->monitor_connected;
	v->pg = &a->last_status;
	v->holds_lock = dcs_is_leader(a->dcs);
	v->paused = dynamic && dynamic->pause;
	v->has_system_identifier = a->has_system_identifier;
	v->system_identifier = a->system_identifier;
	v->tags = a->config->tags;
	v->pending_restart = a->pending_restart;
	v->pending_restart_reason = a->pending_restart_reason;
	v->scheduled_restart = a->scheduled_restart;
	v->sync_standby = false;
	for (size_t i = 0; cluster->sync && i < cluster->sync->n_standbys; i++)
		if (strcmp(cluster->sync->standbys[i], a->config->name) == 0)
			v->sync_standby = true;
	v->dcs_last_seen_s = a->dcs_last_seen_s;
	v->now_ms = now_ms();
	v->loop_last_run_ms = a->loop_last_run_ms;
	v->ttl_s = dynamic ? (int) dynamic->ttl : a->config->dcs.ttl;
	v->cluster = cluster;
	v->has_last_lsn = cluster->has_last_lsn && cluster->last_lsn >= 0;
	v->last_lsn = v->has_last_lsn ? (uint64_t) cluster->last_lsn : 0;
	if (cluster->failover && cluster->failover->scheduled_at) {
		v->scheduled_switchover_at = cluster->failover->scheduled_at;
		v->scheduled_switchover_from = cluster->failover->leader;
		v->scheduled_switchover_to = cluster->failover->member;
	}
	v->zookeeper_state = cluster->connected ? "connected" : "connecting";
	v->last_leader_change_s = a->last_leader_change_s;
}

/* ---- config ----------------------------------------------------------------- */

/* Patroni's patch_config(): objects merge key by key, null deletes, any
 * other value replaces. */
static void merge_patch(json_t *target, const json_t *patch)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *) patch, key, value) {
		json_t *current = json_object_get(target, key);
		if (json_is_null(value))
			json_object_del(target, key);
		else if (json_is_object(value) && json_is_object(current))
			merge_patch(current, value);
		else
			json_object_set(target, key, value);
	}
}

static void config_written(void *arg, bool ok, bool conflict)
{
	struct pending *p = arg;

	if (ok) {
		json_error_t error;
		json_t *written = json_loads(p->body, 0, &error);
		log_info("rest.config_changed", LF_INT("bytes", (long long) strlen(p->body)));
		pending_finish(p, 200, NULL, written);
	} else if (conflict) {
		pending_finish(p, 409, "Config modification aborted due to concurrent changes", NULL);
	} else {
		pending_finish(p, 502, "failed to write the config to ZooKeeper", NULL);
	}
}

/* Check a whole new config, then write it: compare-and-set for a PATCH
 * (version >= 0), unconditionally for a PUT.  Never half-applied. */
static void write_config(struct pending *p, json_t *config, int version)
{
	struct znode_config checked = { 0 };
	char err[ZNODE_ERR_MAX], message[ZNODE_ERR_MAX + 64];

	if (!znode_config_from_json(config, &checked, err, sizeof(err))) {
		snprintf(message, sizeof(message), "Invalid config: %s", err);
		json_decref(config);
		pending_finish(p, 400, message, NULL);
		return;
	}
	znode_config_clear(&checked);
	p->body = json_dumps(config, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(config);
	if (!p->body) {
		pending_finish(p, 500, "out of memory", NULL);
		return;
	}
	if (version >= 0)
		dcs_write_if_version(p->server->agent->dcs, ZNODE_CONFIG, p->body, version,
				     config_written, p);
	else
		dcs_write(p->server->agent->dcs, ZNODE_CONFIG, p->body, config_written, p);
}

/* PATCH starts from the config as ZooKeeper has it now, not from our
 * cache, which may not have seen the last write yet. */
static void config_read(void *arg, bool ok, const char *data, int length, int version)
{
	struct pending *p = arg;
	json_error_t error;
	json_t *current = ok && data ? json_loadb(data, (size_t) length, 0, &error) : NULL;

	if (!json_is_object(current)) {
		json_decref(current);
		json_decref(p->patch);
		p->patch = NULL;
		pending_finish(p, 503, "The config key does not exist in the cluster", NULL);
		return;
	}
	merge_patch(current, p->patch);
	json_decref(p->patch);
	p->patch = NULL;
	write_config(p, current, version);
}

static void handle_config_write(struct rest_server *server, struct evhttp_request *request,
				const struct rest_request *parsed)
{
	struct pending *p = pending_new(server, request, PENDING_CONFIG);

	if (!p) {
		send_message(request, 500, "out of memory");
		return;
	}
	if (parsed->endpoint == REST_CONFIG_PUT) {
		write_config(p, json_incref(parsed->body), -1);
		return;
	}
	p->patch = json_incref(parsed->body);
	dcs_read(server->agent->dcs, ZNODE_CONFIG, config_read, p);
}

/* ---- switchover and failover ------------------------------------------------- */

static const struct dcs_member *find_member(const struct dcs_cluster *cluster, const char *name)
{
	for (size_t i = 0; name && i < cluster->member_count; i++)
		if (strcmp(cluster->members[i].name, name) == 0 && cluster->members[i].valid)
			return &cluster->members[i];
	return NULL;
}

/* A member that could take over: a running replica that may fail over. */
static bool good_candidate(const struct dcs_member *m, const char *leader)
{
	return m && m->valid && (!leader || strcmp(m->name, leader) != 0) && m->status.state &&
	       strcmp(m->status.state, "running") == 0 &&
	       member_status_role(&m->status) != MEMBER_STATUS_ROLE_PRIMARY &&
	       !member_status_nofailover(&m->status);
}

static void switchover_poll(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct pending *p = arg;
	const struct dcs_cluster *cluster = dcs_cluster(p->server->agent->dcs);
	const char *action = p->failover ? "failed over" : "switched over";
	char message[ZNODE_NAME_MAX * 2 + 64];
	struct timeval again = { 0, SWITCHOVER_POLL_MS * 1000 };

	if (cluster->failover)
		p->key_seen = true;
	if (cluster->leader && strcmp(cluster->leader, p->old_leader) != 0 && !cluster->failover) {
		if (!p->candidate[0] || strcmp(cluster->leader, p->candidate) == 0)
			snprintf(message, sizeof(message), "Successfully %s to \"%s\"", action,
				 cluster->leader);
		else
			snprintf(message, sizeof(message), "%s to \"%s\" instead of \"%s\"",
				 p->failover ? "Failed over" : "Switched over", cluster->leader,
				 p->candidate);
		log_info("rest.switchover_done", LF_STR("leader", cluster->leader));
		pending_finish(p, 200, message, NULL);
		return;
	}
	if (p->key_seen && !cluster->failover && cluster->leader &&
	    strcmp(cluster->leader, p->old_leader) == 0) {
		pending_finish(p, 503, p->failover ? "Failover failed" : "Switchover failed", NULL);
		return;
	}
	if (now_ms() >= p->deadline_ms) {
		pending_finish(p, 503, p->failover ? "Failover status unknown" : "Switchover status unknown",
			       NULL);
		return;
	}
	evtimer_add(p->timer, &again);
}

static void failover_written(void *arg, bool ok, bool conflict)
{
	(void) conflict;
	struct pending *p = arg;
	struct timeval soon = { 0, SWITCHOVER_POLL_MS * 1000 };

	if (!ok) {
		pending_finish(p, 503, "failed to write failover key into DCS", NULL);
		return;
	}
	if (p->scheduled) {
		pending_finish(p, 202, "Switchover scheduled", NULL);
		return;
	}
	evtimer_add(p->timer, &soon);
}

/*
 * A schedule as Patroni takes it: ISO 8601 with a time zone, not in the
 * past.  0 with the time in *at_ms (may be NULL), else the status to answer
 * (400 unparsable, 422 in the past) with a message.
 */
static int check_schedule(const char *text, const char *what, int64_t *at_ms, char *message,
			  size_t size)
{
	char probe[320], err[ZNODE_ERR_MAX];
	struct znode_failover when = { 0 };
	json_t *quoted = json_string(text);
	char *encoded = quoted ? json_dumps(quoted, JSON_ENCODE_ANY) : NULL;
	struct timespec wall;
	bool valid;

	/* The failover codec reads Patroni's timestamps: reuse it. */
	json_decref(quoted);
	snprintf(probe, sizeof(probe), "{\"scheduled_at\":%s}", encoded ? encoded : "\"\"");
	free(encoded);
	valid = znode_failover_decode(probe, (int) strlen(probe), &when, err, sizeof(err)) &&
		when.scheduled_at;
	int64_t ms = when.scheduled_at_ms;
	znode_failover_clear(&when);
	if (!valid) {
		snprintf(message, size,
			 "Invalid scheduled_at (ISO 8601 with a time zone is mandatory): %s", text);
		return 400;
	}
	clock_gettime(CLOCK_REALTIME, &wall);
	if (ms < (int64_t) wall.tv_sec * 1000) {
		snprintf(message, size, "Cannot schedule %s in the past", what);
		return 422;
	}
	if (at_ms)
		*at_ms = ms;
	return 0;
}

static void handle_switchover(struct rest_server *server, struct evhttp_request *request,
			      const struct rest_request *parsed)
{
	struct agent *a = server->agent;
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	bool failover = parsed->endpoint == REST_FAILOVER && !parsed->leader;
	const char *action = failover ? "failover" : "switchover";
	const char *leader = parsed->leader, *candidate = parsed->candidate;
	bool paused = cluster->config && cluster->config->pause;
	struct znode_failover request_value = { 0 };
	char message[256], err[ZNODE_ERR_MAX];
	struct pending *p;
	char *json;

	if (candidate && leader && strcmp(candidate, leader) == 0) {
		send_message(request, 400, "Switchover target and source are the same");
		return;
	}
	if (paused && parsed->scheduled_at) {
		send_message(request, 400, "Can't schedule switchover in the paused state");
		return;
	}
	if (paused && !candidate) {
		send_message(request, 400,
			     "Switchover is possible only to a specific candidate in a paused state");
		return;
	}
	if (parsed->scheduled_at) {
		int code = check_schedule(parsed->scheduled_at, "switchover", NULL, message,
					  sizeof(message));
		if (code != 0) {
			send_message(request, code, message);
			return;
		}
	} else {
		/* Patroni checks these only for immediate actions (412). */
		if (leader && (!cluster->leader || strcmp(leader, cluster->leader) != 0)) {
			send_message(request, 412, "leader name does not match");
			return;
		}
		if (candidate && !find_member(cluster, candidate)) {
			send_message(request, 412, "candidate does not exists");
			return;
		}
		/* Patroni: in synchronous mode a switchover goes to a member
		 * that has every acknowledged commit, or nowhere. */
		if (!failover && cluster->config && cluster->config->synchronous_mode &&
		    cluster->sync) {
			bool named = false;
			for (size_t i = 0; i < cluster->sync->n_standbys; i++)
				named |= candidate && strcmp(cluster->sync->standbys[i], candidate) == 0;
			if (candidate && !named) {
				send_message(request, 412, "candidate name does not match with sync_standby");
				return;
			}
			if (!candidate && cluster->sync->n_standbys == 0) {
				snprintf(message, sizeof(message), "%s is not possible: can not find sync_standby",
					 action);
				send_message(request, 412, message);
				return;
			}
		}
		if (!candidate) {
			bool any_member = false, any_good = false;
			for (size_t i = 0; i < cluster->member_count; i++) {
				const struct dcs_member *m = &cluster->members[i];
				if (cluster->leader && strcmp(m->name, cluster->leader) == 0)
					continue;
				any_member = true;
				any_good |= good_candidate(m, cluster->leader);
			}
			if (!any_member || !any_good) {
				snprintf(message, sizeof(message), "%s is not possible: %s", action,
					 any_member ? "no good candidates have been found"
						    : "cluster does not have members except leader");
				send_message(request, 412, message);
				return;
			}
		}
	}

	request_value.leader = (char *) leader;
	request_value.member = (char *) candidate;
	request_value.scheduled_at = (char *) parsed->scheduled_at;
	json = znode_failover_encode(&request_value, err, sizeof(err));
	p = json ? pending_new(server, request, PENDING_SWITCHOVER) : NULL;
	if (!p) {
		free(json);
		send_message(request, 500, "out of memory");
		return;
	}
	p->failover = failover;
	p->scheduled = parsed->scheduled_at != NULL;
	snprintf(p->old_leader, sizeof(p->old_leader), "%s", cluster->leader ? cluster->leader : "");
	snprintf(p->candidate, sizeof(p->candidate), "%s", candidate ? candidate : "");
	{
		const struct znode_config *dynamic = cluster->config;
		long long loop_wait = dynamic ? dynamic->loop_wait : a->config->dcs.loop_wait;
		p->deadline_ms = now_ms() + 2000 * (loop_wait > 10 ? loop_wait : 10);
	}
	p->timer = evtimer_new(server->base, switchover_poll, p);
	if (!p->timer) {
		free(json);
		pending_finish(p, 500, "out of memory", NULL);
		return;
	}
	log_info("rest.switchover_requested", LF_STR("leader", leader ? leader : ""),
		 LF_STR("candidate", candidate ? candidate : ""),
		 LF_STR("scheduled_at", parsed->scheduled_at ? parsed->scheduled_at : ""));
	dcs_write(a->dcs, ZNODE_FAILOVER, json, failover_written, p);
	free(json);
}

static void failover_deleted(void *arg, bool ok, bool conflict)
{
	(void) conflict;
	struct pending *p = arg;
	pending_finish(p, ok ? 200 : 409,
		       ok ? "scheduled switchover deleted" : "failed to delete the switchover", NULL);
}

/* Read afresh: a switchover scheduled a moment ago may not be in our
 * cache yet. */
static void failover_read(void *arg, bool ok, const char *data, int length, int version)
{
	(void) version;
	struct pending *p = arg;
	struct znode_failover failover = { 0 };
	bool scheduled = ok && znode_failover_decode(data, length, &failover, NULL, 0) &&
			 failover.scheduled_at != NULL;

	znode_failover_clear(&failover);
	if (!scheduled) {
		pending_finish(p, 404, "no switchover is scheduled", NULL);
		return;
	}
	dcs_delete(p->server->agent->dcs, ZNODE_FAILOVER, failover_deleted, p);
}

static void handle_switchover_delete(struct rest_server *server, struct evhttp_request *request)
{
	struct pending *p = pending_new(server, request, PENDING_CONFIG);

	if (!p) {
		send_message(request, 500, "out of memory");
		return;
	}
	dcs_read(server->agent->dcs, ZNODE_FAILOVER, failover_read, p);
}

/* ---- restart, reinitialize, reload --------------------------------------------- */

static void restart_done(void *arg, bool ok)
{
	struct pending *p = arg;
	pending_finish(p, ok ? 200 : 503, ok ? "restarted successfully" : "restart failed", NULL);
}

static void handle_restart(struct rest_server *server, struct evhttp_request *request,
			   const struct rest_request *parsed)
{
	struct agent *a = server->agent;
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	char message[256];
	struct pending *p;

	int version;

	if (parsed->postgres_version &&
	    !agent_postgres_version_number(parsed->postgres_version, &version)) {
		send_message(request, 400, "PostgreSQL version should be in the first.major form");
		return;
	}
	if (parsed->schedule) {
		int64_t at_ms;
		int code;
		if (cluster->config && cluster->config->pause) {
			send_message(request, 500, "Can't schedule restart in the paused state");
			return;
		}
		if ((code = check_schedule(parsed->schedule, "restart", &at_ms, message,
					   sizeof(message))) != 0) {
			send_message(request, code, message);
			return;
		}
		if (a->scheduled_restart) {
			send_message(request, 409, "Another restart is already scheduled");
			return;
		}
		agent_schedule_restart(a, parsed->body, at_ms);
		send_message(request, 202, "Restart scheduled");
		return;
	}
	if (!agent_restart_conditions(a, parsed->role, parsed->postgres_version,
				      parsed->restart_pending)) {
		send_message(request, 503, "restart conditions are not satisfied");
		return;
	}
	if (a->action != HA_NOTHING || a->restarting) {
		snprintf(message, sizeof(message), "%s already in progress",
			 a->restarting ? "restart" : ha_action_name(a->action));
		send_message(request, 503, message);
		return;
	}
	if (a->pg_state == HA_PG_STARTING) {
		send_message(request, 503, "postgres is still starting");
		return;
	}
	if ((p = pending_new(server, request, PENDING_RESTART)) == NULL) {
		send_message(request, 500, "out of memory");
		return;
	}
	if (!actions_restart(a, restart_done, p)) {
		pending_finish(p, 503, "restart failed: PostgreSQL is not running under this agent", NULL);
		return;
	}
	log_info("rest.restart_requested");
}

static void handle_reinitialize(struct rest_server *server, struct evhttp_request *request,
				const struct rest_request *parsed)
{
	struct agent *a = server->agent;
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	char message[64];

	if (!a->manages_postgresql) {
		send_message(request, 503, "this member manages no PostgreSQL");
		return;
	}
	if (dcs_is_leader(a->dcs)) {
		send_message(request, 503, "I am the leader, can not reinitialize");
		return;
	}
	if (!cluster->leader) {
		send_message(request, 503, "Cluster has no leader, can not reinitialize");
		return;
	}
	if ((a->action != HA_NOTHING || a->restarting) && !parsed->force) {
		snprintf(message, sizeof(message), "%s already in progress",
			 a->restarting ? "restart" : ha_action_name(a->action));
		send_message(request, 503, message);
		return;
	}
	if (a->job)
		pg_process_cancel(a->job);
	log_info("rest.reinitialize_requested", LF_STR("leader", cluster->leader));
	struct ha_decision decision = { .action = HA_REINITIALIZE, .target = cluster->leader };
	snprintf(decision.reason, sizeof(decision.reason), "reinitialize asked through the REST API");
	actions_execute(a, &decision, cluster);
	send_message(request, 200, "reinitialize started");
}

/* ---- dispatch ---------------------------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type command)
{
	switch (command) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "UNKNOWN";
}

static bool is_write_method(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	       strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

static void handle(struct evhttp_request *request, void *arg)
{
	struct rest_server *server = arg;
	struct agent *a = server->agent;
	struct evkeyvalq *headers = evhttp_request_get_input_headers(request);
	struct evbuffer *input = evhttp_request_get_input_buffer(request);
	size_t body_length = input ? evbuffer_get_length(input) : 0;
	const char *body = body_length ? (const char *) evbuffer_pullup(input, -1) : NULL;
	const char *method = method_name(evhttp_request_get_command(request));
	struct rest_request parsed;
	struct rest_view view;
	char err[REST_ERROR_MAX];
	int code;

	/* Patroni checks the credentials before it reads a write request: a
	 * client without them learns nothing about its body. */
	if (is_write_method(method) &&
	    (code = rest_auth_check(evhttp_find_header(headers, "Authorization"),
				    a->config->restapi.username, a->config->restapi.password, err,
				    sizeof(err))) != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(request), "WWW-Authenticate",
				  "Basic realm=\"Patroni\"");
		send_message(request, code, err);
		return;
	}
	code = rest_request_parse(method, evhttp_request_get_uri(request),
				  evhttp_find_header(headers, "Content-Length") != NULL, body,
				  body_length, &parsed, err, sizeof(err));
	if (code != 0) {
		log_info("rest.bad_request", LF_STR("method", method),
			 LF_STR("uri", evhttp_request_get_uri(request)), LF_INT("status", code),
			 LF_STR("reason", err));
		send_message(request, code, err);
		return;
	}
	if (parsed.needs_auth && a->shutting_down) {
		send_message(request, 503, "the agent is stopping");
		rest_request_clear(&parsed);
		return;
	}
	fill_view(a, &view);
	switch (parsed.endpoint) {
	case REST_HEALTH:
		send_json(request, rest_health_status(&view, &parsed), rest_status_json(&view),
			  parsed.status_line_only);
		break;
	case REST_PATRONI:
		send_json(request, 200, rest_status_json(&view), parsed.status_line_only);
		break;
	case REST_CLUSTER:
		send_json(request, 200, rest_cluster_json(&view), parsed.status_line_only);
		break;
	case REST_HISTORY:
		send_text(request, 200, "application/json",
			  view.cluster->history_data ? view.cluster->history_data : "[]",
			  parsed.status_line_only);
		break;
	case REST_CONFIG_GET:
		if (view.cluster->config_data)
			send_text(request, 200, "application/json", view.cluster->config_data,
				  parsed.status_line_only);
		else
			send_message(request, 502, "the cluster has no valid config");
		break;
	case REST_METRICS: {
		char *text = rest_metrics_text(&view);
		send_text(request, text ? 200 : 500, "text/plain; version=0.0.4; charset=utf-8",
			  text ? text : "out of memory\n", parsed.status_line_only);
		free(text);
		break;
	}
	case REST_LIVENESS:
		send_text(request, rest_liveness_status(&view), NULL, NULL, true);
		break;
	case REST_READINESS:
		send_text(request, rest_readiness_status(&view), NULL, NULL, true);
		break;
	case REST_CONFIG_PATCH:
	case REST_CONFIG_PUT:
		handle_config_write(server, request, &parsed);
		break;
	case REST_SWITCHOVER:
	case REST_FAILOVER:
		handle_switchover(server, request, &parsed);
		break;
	case REST_SWITCHOVER_DELETE:
		handle_switchover_delete(server, request);
		break;
	case REST_RESTART:
		handle_restart(server, request, &parsed);
		break;
	case REST_RESTART_DELETE:
		if (a->scheduled_restart) {
			agent_schedule_restart(a, NULL, 0);
			send_message(request, 200, "scheduled restart deleted");
		} else {
			send_message(request, 404, "no restarts are scheduled");
		}
		break;
	case REST_REINITIALIZE:
		handle_reinitialize(server, request, &parsed);
		break;
	case REST_RELOAD:
		agent_reload(a);
		send_message(request, 202, "reload scheduled");
		break;
	}
	rest_request_clear(&parsed);
}

/* ---- setup ------------------------------------------------------------------------- */

struct rest_server *rest_server_new(struct event_base *base, struct agent *agent)
{
	const char *listen = agent->config->restapi.listen;
	struct rest_server *server = calloc(1, sizeof(*server));
	char host[256];
	const char *colon = listen ? strrchr(listen, ':') : NULL;
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;

	if (!server)
		return NULL;
	server->base = base;
	server->agent = agent;
	server->http = evhttp_new(base);
	if (!colon || (size_t) (colon - listen) >= sizeof(host) || port <= 0 || port > 65535 ||
	    !server->http) {
		log_error("rest.listen_failed", LF_STR("listen", listen ? listen : ""),
			  LF_STR("error", "restapi.listen must be host:port"));
		rest_server_free(server);
		return NULL;
	}
	memcpy(host, listen, (size_t) (colon - listen));
	host[colon - listen] = '\0';
	/* "[::1]:8008" */
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	evhttp_set_max_headers_size(server->http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(server->http, MAX_BODY_SIZE);
	evhttp_set_timeout(server->http, REQUEST_TIMEOUT_S);
	evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
							 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
							 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(server->http, handle, server);
	if (evhttp_bind_socket(server->http, host, (ev_uint16_t) port) != 0) {
		log_error("rest.listen_failed", LF_STR("listen", listen),
			  LF_STR("error", "cannot bind (address in use, or not local)"));
		rest_server_free(server);
		return NULL;
	}
	log_info("rest.listening", LF_STR("listen", listen));
	return server;
}

void rest_server_free(struct rest_server *server)
{
	if (!server)
		return;
	while (server->pending)
		pending_finish(server->pending, 503, "the agent is stopping", NULL);
	if (server->http)
		evhttp_free(server->http);
	free(server);
}
