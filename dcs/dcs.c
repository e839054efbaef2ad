/*
 * The dcs facade: wires one zk_session to the election and the cluster
 * cache, keeps this member's znode, and builds the view the agent reads.
 *
 * Session events fan out from here in a fixed order: folders first (a new
 * cluster has none), then the election and the cache, then our member znode.
 * ZooKeeper answers one session's requests in the order they were sent, so
 * the folders exist before anything is created beneath them.
 */
#include "dcs/dcs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "agent/log.h"
#include "dcs/cluster.h"
#include "dcs/election.h"
#include "dcs/zk_session.h"

struct dcs {
	struct event_base *base;
	struct dcs_callbacks callbacks;
	void *arg;
	char *member;
	char base_path[ZNODE_PATH_MAX];
	char member_path[ZNODE_PATH_MAX];

	struct zk_session *session;
	struct election *election;
	struct cluster_cache *cache;
	int deferred_timeout_ms;	/* a new session timeout waiting for us to stop leading */

	char *member_data;		/* what members/<name> should hold */
	char *member_written;		/* what it holds in this session, as far as we know */
	/* What the create or set in flight writes: member_data may change
	 * before its answer comes, and is then still to be written. */
	char *member_sending;
	bool member_write_in_flight;

	struct dcs_cluster view;
};

static void write_member(struct dcs *d);

/* ---- folders ---------------------------------------------------------- */

static void folder_created(int rc, const char *value, const void *data)
{
	(void) value;
	struct zk_request *r = (struct zk_request *) data;
	if (zk_request_current(r, rc) && rc != ZOK && rc != ZNODEEXISTS)
		log_error("dcs.create_failed", LF_STR("path", r->path), LF_STR("error", zerror(rc)));
	zk_request_free(r);
}

static void create_folder(struct dcs *d, const char *path)
{
	zhandle_t *zh = zk_session_handle(d->session);
	struct zk_request *r = zk_request_new(d->session, d, 0, path);

	if (!zh || !r) {
		zk_request_free(r);
		return;
	}
	if (zoo_acreate(zh, path, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, folder_created,
			r) != ZOK)
		zk_request_free(r);
}

/* mkdir -p of the base path, members/ and election/. */
static void ensure_folders(struct dcs *d)
{
	char path[ZNODE_PATH_MAX];

	for (char *slash = strchr(d->base_path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		size_t length = (size_t) (slash - d->base_path);
		memcpy(path, d->base_path, length);
		path[length] = '\0';
		create_folder(d, path);
	}
	create_folder(d, d->base_path);
	if (znode_path(path, sizeof(path), d->base_path, ZNODE_MEMBERS))
		create_folder(d, path);
	if (znode_path(path, sizeof(path), d->base_path, ZNODE_ELECTION))
		create_folder(d, path);
	zk_session_flush(d->session);
}

/* ---- members/<name> --------------------------------------------------- */

enum member_step {
	MEMBER_CREATE,
	MEMBER_SET,
	MEMBER_CHECK_OWNER,
	MEMBER_DELETE_STALE,
};

static void member_done(struct dcs *d, struct zk_request *r, int rc, const struct Stat *stat);

static void member_create_done(int rc, const char *value, const void *data)
{
	(void) value;
	struct zk_request *r = (struct zk_request *) data;
	member_done(r->owner, r, rc, NULL);
}

static void member_stat_done(int rc, const struct Stat *stat, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	member_done(r->owner, r, rc, stat);
}

static void member_void_done(int rc, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	member_done(r->owner, r, rc, NULL);
}

static bool issue_member_step(struct dcs *d, enum member_step step, int version)
{
	zhandle_t *zh = zk_session_handle(d->session);
	struct zk_request *r = zk_request_new(d->session, d, (int) step, d->member_path);
	const char *data = d->member_data;
	int rc = ZOK;

	if (!zh || !r || !data) {
		zk_request_free(r);
		return false;
	}
	if (step == MEMBER_CREATE || step == MEMBER_SET) {
		free(d->member_sending);
		if ((d->member_sending = strdup(data)) == NULL) {
			log_error("dcs.out_of_memory", LF_STR("context", "member data"));
			zk_request_free(r);
			return false;
		}
	}
	switch (step) {
	case MEMBER_CREATE:
		rc = zoo_acreate(zh, d->member_path, data, (int) strlen(data), &ZOO_OPEN_ACL_UNSAFE,
				 ZOO_EPHEMERAL, member_create_done, r);
		break;
	case MEMBER_SET:
		rc = zoo_aset(zh, d->member_path, data, (int) strlen(data), -1, member_stat_done, r);
		break;
	case MEMBER_CHECK_OWNER:
		rc = zoo_aexists(zh, d->member_path, 0, member_stat_done, r);
		break;
	case MEMBER_DELETE_STALE:
		rc = zoo_adelete(zh, d->member_path, version, member_void_done, r);
		break;
	}
	if (rc != ZOK) {
		zk_request_free(r);
		return false;
	}
	d->member_write_in_flight = true;
	zk_session_flush(d->session);
	return true;
}

static void member_written(struct dcs *d, const char *data)
{
	free(d->member_written);
	d->member_written = data ? strdup(data) : NULL;
}

/*
 * create -> ZNODEEXISTS -> check the owner: ours (a lost reply) -> set;
 * another session's (our previous life, Patroni issue 1783) -> delete that
 * exact version and create again, instead of waiting for it to expire.
 */
static void member_done(struct dcs *d, struct zk_request *r, int rc, const struct Stat *stat)
{
	enum member_step step = (enum member_step) r->kind;

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	d->member_write_in_flight = false;
	if ((step == MEMBER_CREATE || step == MEMBER_SET) && rc == ZOK) {
		member_written(d, d->member_sending);
		log_debug("dcs.member_written", LF_STR("path", d->member_path));
		write_member(d);	/* the data may have changed meanwhile */
		return;
	}
	if (step == MEMBER_CREATE && rc == ZNODEEXISTS) {
		issue_member_step(d, MEMBER_CHECK_OWNER, -1);
	} else if (step == MEMBER_SET && rc == ZNONODE) {
		issue_member_step(d, MEMBER_CREATE, -1);
	} else if (step == MEMBER_CHECK_OWNER && rc == ZOK) {
		if (stat->ephemeralOwner == zk_session_id(d->session)) {
			issue_member_step(d, MEMBER_SET, -1);
		} else {
			log_info("dcs.stale_member_removed", LF_STR("path", d->member_path),
				 LF_HEX("old_session", stat->ephemeralOwner));
			issue_member_step(d, MEMBER_DELETE_STALE, stat->version);
		}
	} else if (step == MEMBER_CHECK_OWNER && rc == ZNONODE) {
		issue_member_step(d, MEMBER_CREATE, -1);
	} else if (step == MEMBER_DELETE_STALE && (rc == ZOK || rc == ZNONODE || rc == ZBADVERSION)) {
		issue_member_step(d, MEMBER_CREATE, -1);
	} else if (rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT && rc != ZSESSIONEXPIRED) {
		log_error("dcs.member_write_failed", LF_STR("path", d->member_path),
			  LF_STR("error", zerror(rc)));
	}
	/* Connection trouble: the reconnect or new session writes again. */
}

static void write_member(struct dcs *d)
{
	if (!d->member_data || d->member_write_in_flight || !zk_session_is_connected(d->session))
		return;
	if (d->member_written && strcmp(d->member_written, d->member_data) == 0)
		return;
	issue_member_step(d, d->member_written ? MEMBER_SET : MEMBER_CREATE, -1);
}

/* ---- writes for the PostgreSQL lifecycle ------------------------------ */

enum write_mode {
	WRITE_CREATE,		/* fails with already_exists if present */
	WRITE_OVERWRITE,	/* set, or create when absent */
	WRITE_DELETE,
	WRITE_COMPARE_AND_SET,	/* set if the version still matches */
};

struct pending_write {
	struct dcs *dcs;
	enum write_mode mode;
	char *path;
	char *data;		/* NULL: no data */
	dcs_write_done_fn done;
	void *arg;
	int version;		/* WRITE_COMPARE_AND_SET */
	struct zk_request *request;	/* the attempt in flight */
};

static void write_issue(struct pending_write *w, bool as_create);

static void write_free(struct pending_write *w)
{
	zk_request_free(w->request);
	free(w->path);
	free(w->data);
	free(w);
}

static void write_finish(struct pending_write *w, bool ok, bool already_exists)
{
	if (w->done)
		w->done(w->arg, ok, already_exists);
	write_free(w);
}

static void write_result(struct pending_write *w, int rc)
{
	if (!zk_request_current(w->request, rc)) {
		/* A new session or shutdown: the caller's state is reset by
		 * the session events, so nobody waits for this answer. */
		write_free(w);
		return;
	}
	if (rc == ZOK) {
		write_finish(w, true, false);
	} else if (rc == ZNODEEXISTS && w->mode == WRITE_CREATE) {
		write_finish(w, false, true);
	} else if (rc == ZNONODE && w->mode == WRITE_OVERWRITE) {
		write_issue(w, true);
	} else if ((rc == ZBADVERSION || rc == ZNONODE) && w->mode == WRITE_COMPARE_AND_SET) {
		write_finish(w, false, true);	/* someone else wrote first */
	} else if (rc == ZNONODE && w->mode == WRITE_DELETE) {
		write_finish(w, true, false);
	} else {
		log_error("dcs.write_failed", LF_STR("path", w->path), LF_STR("error", zerror(rc)));
		write_finish(w, false, false);
	}
}

static void write_created(int rc, const char *value, const void *data)
{
	(void) value;
	write_result((struct pending_write *) data, rc);
}

static void write_set(int rc, const struct Stat *stat, const void *data)
{
	(void) stat;
	write_result((struct pending_write *) data, rc);
}

static void write_deleted(int rc, const void *data)
{
	write_result((struct pending_write *) data, rc);
}

/* Each attempt gets its own request: its send time feeds the lease. */
static void write_issue(struct pending_write *w, bool as_create)
{
	struct dcs *d = w->dcs;
	zhandle_t *zh = zk_session_handle(d->session);
	const char *path = w->path;
	int length = w->data ? (int) strlen(w->data) : -1;
	int rc;

	zk_request_free(w->request);
	w->request = zh ? zk_request_new(d->session, w, 0, NULL) : NULL;
	if (!w->request) {
		write_finish(w, false, false);
		return;
	}
	if (w->mode == WRITE_DELETE)
		rc = zoo_adelete(zh, path, -1, write_deleted, w);
	else if (as_create)
		rc = zoo_acreate(zh, path, w->data, length, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
				 write_created, w);
	else
		rc = zoo_aset(zh, path, w->data, length,
			      w->mode == WRITE_COMPARE_AND_SET ? w->version : -1, write_set, w);
	if (rc != ZOK) {
		log_error("dcs.write_failed", LF_STR("path", path), LF_STR("error", zerror(rc)));
		write_finish(w, false, false);
		return;
	}
	zk_session_flush(d->session);
}

static void start_write_version(struct dcs *d, const char *key, const char *data,
				enum write_mode mode, int version, dcs_write_done_fn done, void *arg)
{
	char path[ZNODE_PATH_MAX];
	struct pending_write *w = calloc(1, sizeof(*w));

	if (!w || !znode_path(path, sizeof(path), d->base_path, key) ||
	    (w->path = strdup(path)) == NULL || (data && (w->data = strdup(data)) == NULL)) {
		log_error("dcs.write_failed", LF_STR("key", key),
			  LF_STR("error", "out of memory or invalid key"));
		if (w)
			write_free(w);
		if (done)
			done(arg, false, false);
		return;
	}
	w->dcs = d;
	w->mode = mode;
	w->version = version;
	w->done = done;
	w->arg = arg;
	write_issue(w, mode == WRITE_CREATE);
}

static void start_write(struct dcs *d, const char *key, const char *data, enum write_mode mode,
			dcs_write_done_fn done, void *arg)
{
	start_write_version(d, key, data, mode, -1, done, arg);
}

void dcs_race_initialize(struct dcs *d, dcs_write_done_fn done, void *arg)
{
	start_write(d, ZNODE_INITIALIZE, "", WRITE_CREATE, done, arg);
}

void dcs_set_initialize(struct dcs *d, uint64_t system_identifier, dcs_write_done_fn done,
			void *arg)
{
	char text[32];
	if (!znode_initialize_encode(text, sizeof(text), system_identifier)) {
		if (done)
			done(arg, false, false);
		return;
	}
	start_write(d, ZNODE_INITIALIZE, text, WRITE_OVERWRITE, done, arg);
}

void dcs_cancel_initialize(struct dcs *d, dcs_write_done_fn done, void *arg)
{
	start_write(d, ZNODE_INITIALIZE, NULL, WRITE_DELETE, done, arg);
}

void dcs_create_if_absent(struct dcs *d, const char *key, const char *data,
			  dcs_write_done_fn done, void *arg)
{
	start_write(d, key, data, WRITE_CREATE, done, arg);
}

void dcs_write(struct dcs *d, const char *key, const char *data, dcs_write_done_fn done,
	       void *arg)
{
	start_write(d, key, data, WRITE_OVERWRITE, done, arg);
}

void dcs_write_if_version(struct dcs *d, const char *key, const char *data, int version,
			  dcs_write_done_fn done, void *arg)
{
	start_write_version(d, key, data, WRITE_COMPARE_AND_SET, version, done, arg);
}

void dcs_delete(struct dcs *d, const char *key, dcs_write_done_fn done, void *arg)
{
	start_write(d, key, NULL, WRITE_DELETE, done, arg);
}

struct pending_read {
	dcs_read_done_fn done;
	void *arg;
};

static void read_done(int rc, const char *value, int length, const struct Stat *stat,
		      const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct pending_read *p = r->owner;
	bool current = zk_request_current(r, rc);

	zk_request_free(r);
	if (current) {
		if (rc == ZOK)
			p->done(p->arg, true, value, value ? length : -1, stat->version);
		else
			p->done(p->arg, false, NULL, -1, -1);
	}
	free(p);
}

void dcs_read(struct dcs *d, const char *key, dcs_read_done_fn done, void *arg)
{
	char path[ZNODE_PATH_MAX];
	zhandle_t *zh = zk_session_handle(d->session);
	struct pending_read *p = calloc(1, sizeof(*p));
	struct zk_request *r = NULL;

	if (!p || !zh || !znode_path(path, sizeof(path), d->base_path, key) ||
	    (r = zk_request_new(d->session, p, 0, path)) == NULL ||
	    zoo_aget(zh, path, 0, read_done, r) != ZOK) {
		zk_request_free(r);
		free(p);
		done(arg, false, NULL, -1, -1);
		return;
	}
	p->done = done;
	p->arg = arg;
	zk_session_flush(d->session);
}

void dcs_set_session_timeout(struct dcs *d, int session_timeout_ms)
{
	int current = zk_session_requested_timeout_ms(d->session);

	if (session_timeout_ms <= 0 || session_timeout_ms == current)
		return;
	/* A new session would drop the lock with the old one: the leader keeps
	 * its session until it no longer leads. */
	if (dcs_holds_lock(d)) {
		if (d->deferred_timeout_ms != session_timeout_ms)
			log_info("dcs.session_timeout_deferred", LF_INT("from_ms", current),
				 LF_INT("to_ms", session_timeout_ms));
		d->deferred_timeout_ms = session_timeout_ms;
		return;
	}
	d->deferred_timeout_ms = 0;
	log_info("dcs.session_timeout_changed", LF_INT("from_ms", current),
		 LF_INT("to_ms", session_timeout_ms));
	zk_session_restart(d->session, session_timeout_ms);
}

void dcs_take_lock_now(struct dcs *d)
{
	election_take_lock_now(d->election);
}

/* ---- session events --------------------------------------------------- */

/* The session exists before the election: nothing may happen until both
 * do (dcs_new() finishes before the loop runs, but be sure). */
static bool ready(const struct dcs *d)
{
	return d->election != NULL && d->cache != NULL;
}

static void on_session_started(void *arg)
{
	struct dcs *d = arg;

	if (!ready(d))
		return;

	member_written(d, NULL);
	d->member_write_in_flight = false;
	ensure_folders(d);
	election_session_started(d->election);
	cluster_cache_reload(d->cache);
	write_member(d);
}

static void on_reconnected(void *arg)
{
	struct dcs *d = arg;
	if (!ready(d))
		return;

	/* A write may have been lost with the connection: verify. */
	d->member_write_in_flight = false;
	if (d->member_data)
		issue_member_step(d, MEMBER_CHECK_OWNER, -1);
	election_reconnected(d->election);
	cluster_cache_reload(d->cache);
}

static void on_disconnected(void *arg)
{
	struct dcs *d = arg;
	if (!ready(d))
		return;
	election_disconnected(d->election);
	if (d->callbacks.cluster_changed)
		d->callbacks.cluster_changed(d->arg);
}

static void on_expired(void *arg)
{
	struct dcs *d = arg;
	if (!ready(d))
		return;
	member_written(d, NULL);
	d->member_write_in_flight = false;
	election_expired(d->election);
}

static void on_watch(void *arg, int type, const char *path)
{
	struct dcs *d = arg;

	if (!ready(d) || type == ZOO_NOTWATCHING_EVENT)
		return;
	if (strcmp(path, d->member_path) == 0 && type == ZOO_DELETED_EVENT) {
		/* Someone deleted our member znode: put it back. */
		member_written(d, NULL);
		write_member(d);
	}
	election_watch(d->election, type, path);
	cluster_cache_watch(d->cache, type, path);
}

/* ---- election callbacks ----------------------------------------------- */

/*
 * The lock's deletion and the departing leader's member znode deletion
 * arrive as separate watch events; deciding between them would compare
 * against a leader that is already gone.  So the policy is asked only once
 * every event has been followed up; the cache's change notification asks
 * again (through the agent's dcs_reevaluate()).
 */
static enum election_verdict election_may_take_lock(void *arg)
{
	struct dcs *d = arg;
	if (!cluster_cache_settled(d->cache))
		return ELECTION_NOT_YET;
	if (!d->callbacks.may_take_lock)
		return ELECTION_TAKE;
	switch (d->callbacks.may_take_lock(d->arg, dcs_cluster(d))) {
	case DCS_LOCK_TAKE: return ELECTION_TAKE;
	case DCS_LOCK_NOT_YET: return ELECTION_NOT_YET;
	case DCS_LOCK_DECLINE: break;
	}
	return ELECTION_DECLINE;
}

static void election_leadership_changed(void *arg, bool leader)
{
	struct dcs *d = arg;
	if (d->callbacks.leadership_changed)
		d->callbacks.leadership_changed(d->arg, leader);
}

static void cache_changed(void *arg)
{
	struct dcs *d = arg;
	if (d->callbacks.cluster_changed)
		d->callbacks.cluster_changed(d->arg);
	/* A candidate told "not yet" (a free lock, or a stale one of ours), or
	 * that declined on facts that just changed, is asked again. */
	if (d->election)
		election_reevaluate(d->election);
}

/* ---- public ----------------------------------------------------------- */

struct dcs *dcs_new(struct event_base *base, const struct dcs_settings *settings,
		    const struct dcs_callbacks *callbacks, void *arg)
{
	static const struct zk_session_callbacks session_callbacks = {
		.session_started = on_session_started,
		.reconnected = on_reconnected,
		.disconnected = on_disconnected,
		.expired = on_expired,
		.watch = on_watch,
	};
	static const struct election_callbacks election_callbacks = {
		.may_take_lock = election_may_take_lock,
		.leadership_changed = election_leadership_changed,
		.leader_changed = cache_changed,
	};
	struct dcs *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->base = base;
	d->callbacks = *callbacks;
	d->arg = arg;
	if (!znode_name_is_valid(settings->member) ||
	    !znode_base_path(d->base_path, sizeof(d->base_path), settings->namespace,
			     settings->scope) ||
	    !znode_member_path(d->member_path, sizeof(d->member_path), d->base_path,
			       settings->member) ||
	    (d->member = strdup(settings->member)) == NULL) {
		log_error("dcs.bad_settings", LF_STR("namespace", settings->namespace),
			  LF_STR("scope", settings->scope), LF_STR("member", settings->member),
			  LF_STR("reason", "cannot build znode paths from these names"));
		free(d);
		return NULL;
	}
	/* The session is created last: it may call back at once. */
	d->cache = cluster_cache_new(base, NULL, d->base_path, cache_changed, d);
	if (!d->cache) {
		dcs_free(d);
		return NULL;
	}
	d->session = zk_session_new(base, settings->connect_string, settings->session_timeout_ms,
				    &session_callbacks, d);
	if (!d->session) {
		dcs_free(d);
		return NULL;
	}
	cluster_cache_set_session(d->cache, d->session);
	d->election = election_new(base, d->session, d->base_path, d->member, &election_callbacks, d);
	if (!d->election) {
		dcs_free(d);
		return NULL;
	}
	log_info("dcs.starting", LF_STR("hosts", settings->connect_string),
		 LF_STR("base_path", d->base_path), LF_INT("session_timeout_ms", settings->session_timeout_ms));
	return d;
}

void dcs_free(struct dcs *d)
{
	if (!d)
		return;
	if (d->election && election_is_leader(d->election))
		log_info("leader.released", LF_STR("reason", "shutdown"));
	/* Closing the session runs pending completions with ZCLOSING, which
	 * still reach the election and the cache: free them after. */
	zk_session_free(d->session);
	if (d->session)
		log_info("dcs.closed", LF_STR("base_path", d->base_path));
	election_free(d->election);
	cluster_cache_free(d->cache);
	free(d->member_data);
	free(d->member_written);
	free(d->member_sending);
	free(d->member);
	free(d);
}

void dcs_set_member_data(struct dcs *d, const char *json)
{
	if (d->member_data && strcmp(d->member_data, json) == 0)
		return;
	char *copy = strdup(json);
	if (!copy) {
		log_error("dcs.out_of_memory", LF_STR("context", "member data"));
		return;
	}
	free(d->member_data);
	d->member_data = copy;
	write_member(d);
}

void dcs_set_candidate(struct dcs *d, bool candidate)
{
	election_set_candidate(d->election, candidate);
}

void dcs_release_leadership(struct dcs *d)
{
	election_release(d->election);
}

void dcs_reevaluate(struct dcs *d)
{
	election_reevaluate(d->election);
}

bool dcs_is_leader(const struct dcs *d)
{
	return election_is_leader(d->election);
}

bool dcs_holds_lock(const struct dcs *d)
{
	return election_holds_lock(d->election);
}

int64_t dcs_lease_deadline_ms(const struct dcs *d)
{
	return election_lease_deadline_ms(d->election);
}

int64_t dcs_fence_at_ms(const struct dcs *d)
{
	return election_fence_at_ms(d->election);
}

const struct dcs_cluster *dcs_cluster(const struct dcs *dcs)
{
	struct dcs *d = (struct dcs *) dcs;

	d->view.connected = zk_session_is_connected(d->session);
	d->view.session_id = zk_session_id(d->session);
	d->view.session_timeout_ms = zk_session_timeout_ms(d->session);
	d->view.leader = election_leader_name(d->election);
	d->view.election_position = election_position(d->election);
	cluster_cache_fill(d->cache, &d->view);
	d->view.loaded = d->view.connected && election_leader_known(d->election) &&
			 cluster_cache_loaded(d->cache);
	return &d->view;
}

const char *dcs_base_path(const struct dcs *d)
{
	return d->base_path;
}
