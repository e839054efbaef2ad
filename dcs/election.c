/*
 * Leader election: a queue of EPHEMERAL_SEQUENTIAL candidates, and the
 * ephemeral `leader` znode as the lock.
 *
 * Every candidate watches the leader znode and its own predecessor in the
 * queue.  When the lock is free, only the first candidate in line may try
 * to take it, and only if the HA policy agrees; a candidate the policy turns
 * down re-queues at the back, which wakes the next one through its
 * predecessor watch.  So a lost leader is noticed from a watch, never from
 * a poll, and only one create races for the lock at a time.
 *
 * Our own znodes left by an earlier session of this member (the agent
 * restarted faster than its old session expired) are found by name and
 * cleared at once: stale candidates are deleted, a stale leader znode is
 * reclaimed atomically (delete + create in one multi) when the policy lets
 * us lead, deleted otherwise.
 *
 * Holding the lock is not enough to lead: the server may expire our session
 * before we hear of it.  `leading` also requires the session lease
 * (zk_session.h) to run for at least a safety margin; the fence timer
 * reports leader.fenced when it does not.  docs/election.md has the proof.
 */
#include "dcs/election.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "agent/log.h"
#include "dcs/znode.h"

#define MEMBER_NAME_MAX 256
#define PATH_MAX_LEN 1024
/* A candidate the policy refuses re-queues at most this often, so that a
 * cluster where no one may lead does not spin. */
#define DECLINE_INTERVAL_MS 1000

enum request_kind {
	REQUEST_LIST_FOR_REGISTER,
	REQUEST_OWNER_CHECK,
	REQUEST_DELETE_STALE_CANDIDATE,
	REQUEST_CREATE_CANDIDATE,
	REQUEST_DELETE_CANDIDATE,
	REQUEST_LIST_POSITION,
	REQUEST_WATCH_PREDECESSOR,
	REQUEST_LEADER_EXISTS,
	REQUEST_LEADER_GET,
	REQUEST_CREATE_LOCK,
	REQUEST_DELETE_LOCK,
};

enum registration {
	REGISTRATION_NONE,
	REGISTRATION_IN_PROGRESS,
	REGISTRATION_DONE,
};

struct election {
	struct event_base *base;
	struct zk_session *session;
	struct election_callbacks callbacks;
	void *arg;
	char *member;
	char dir[PATH_MAX_LEN];
	char leader_path[PATH_MAX_LEN];
	char prefix_path[PATH_MAX_LEN];

	bool candidate;
	enum registration registration;
	int owner_checks_pending;
	char *my_node;
	long long my_sequence;
	char *predecessor;
	int position;
	int64_t declined_at_ms;
	char junk_reported[512];	/* queue children that are not candidates, last reported */

	bool leader_known;
	bool leader_present;
	char leader_name[MEMBER_NAME_MAX];
	bool leader_name_valid;
	int64_t leader_owner;
	int64_t leader_czxid;		/* identifies this leader znode among its re-creations */
	int64_t released_czxid;		/* the one we deleted: a late read of it is no lock */
	int32_t leader_version;
	bool lock_in_flight;

	bool holds_lock;	/* the leader znode is ours, in this session */
	bool leading;		/* reported leader.acquired, not yet fenced or lost */
	struct event fence_timer;
};

static void read_leader(struct election *e);
static void start_registration(struct election *e);
static void check_position(struct election *e);
static void evaluate(struct election *e, const char *reason);

static int fence_margin_ms(const struct election *e)
{
	/* Covers our own timer latency and the rate difference between our
	 * clock and the server's over one session timeout. */
	int margin = zk_session_timeout_ms(e->session) / 10;
	return margin < 100 ? 100 : margin;
}

static bool lease_valid(const struct election *e)
{
	int64_t deadline = zk_session_lease_deadline_ms(e->session);
	return deadline != 0 && zk_now_ms() < deadline - fence_margin_ms(e);
}

static void arm_fence_timer(struct election *e)
{
	int64_t fence_at = zk_session_lease_deadline_ms(e->session) - fence_margin_ms(e);
	int64_t delay = fence_at - zk_now_ms();
	struct timeval tv;

	if (delay < 0)
		delay = 0;
	tv.tv_sec = (time_t) (delay / 1000);
	tv.tv_usec = (suseconds_t) ((delay % 1000) * 1000);
	evtimer_add(&e->fence_timer, &tv);
}

/* The one place that changes `leading`: every leadership event comes from
 * here, so no path can lead without the lease check. */
static void update_leading(struct election *e, const char *reason)
{
	bool now_leading = e->holds_lock && lease_valid(e);

	zk_session_set_probing(e->session, e->holds_lock);
	if (now_leading && !e->leading) {
		e->leading = true;
		log_info("leader.acquired", LF_STR("reason", reason),
			 LF_HEX("session", zk_session_id(e->session)),
			 LF_INT("lease_ms", zk_session_lease_deadline_ms(e->session) - zk_now_ms()));
		if (e->callbacks.leadership_changed)
			e->callbacks.leadership_changed(e->arg, true);
	} else if (!now_leading && e->leading) {
		e->leading = false;
		evtimer_del(&e->fence_timer);
		if (e->holds_lock)
			log_warning("leader.fenced", LF_STR("reason", reason),
				    LF_HEX("session", zk_session_id(e->session)),
				    LF_INT("lease_overdue_ms",
					   zk_now_ms() - (zk_session_lease_deadline_ms(e->session) -
							  fence_margin_ms(e))));
		else if (strcmp(reason, "released") != 0)	/* leader.released said it */
			log_warning("leader.lost", LF_STR("reason", reason),
				    LF_STR("leader", e->leader_present && e->leader_name_valid
							     ? e->leader_name : ""));
		if (e->callbacks.leadership_changed)
			e->callbacks.leadership_changed(e->arg, false);
	}
	if (e->leading)
		arm_fence_timer(e);
}

static void fence_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	update_leading(arg, "lease_expired");
}

static struct zk_request *new_request(struct election *e, enum request_kind kind, const char *path)
{
	return zk_request_new(e->session, e, (int) kind, path);
}

/* A request for a call about to be issued, with the handle to issue it on;
 * NULL when not connected (the next session event restarts the step). */
static struct zk_request *begin_request(struct election *e, enum request_kind kind,
					const char *path, zhandle_t **zh)
{
	*zh = zk_session_handle(e->session);
	return *zh ? new_request(e, kind, path) : NULL;
}

/* Issue a call; on a local failure (not connected) the request is dropped:
 * the next session event restarts the step. */
static bool issued(struct election *e, struct zk_request *r, int rc, const char *what)
{
	if (rc != ZOK) {
		log_warning("dcs.request_failed", LF_STR("request", what),
			    LF_STR("path", r && r->path ? r->path : ""), LF_STR("error", zerror(rc)));
		zk_request_free(r);
		return false;
	}
	zk_session_flush(e->session);
	return true;
}

static void forget_candidate(struct election *e)
{
	free(e->my_node);
	e->my_node = NULL;
	free(e->predecessor);
	e->predecessor = NULL;
	e->my_sequence = -1;
	e->position = -1;
	e->registration = REGISTRATION_NONE;
	e->owner_checks_pending = 0;
}

/* ---- the leader znode ------------------------------------------------- */

static void leader_get_done(int rc, const char *value, int len, const struct Stat *stat,
			    const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;
	char reason[256];

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	if (rc == ZNONODE) {
		e->leader_known = true;
		e->leader_present = false;
	} else if (rc == ZOK) {
		e->leader_known = true;
		e->leader_present = true;
		e->leader_owner = stat->ephemeralOwner;
		e->leader_czxid = stat->czxid;
		e->leader_version = stat->version;
		e->leader_name_valid = znode_leader_decode(value, len, e->leader_name,
							   sizeof(e->leader_name), reason,
							   sizeof(reason));
		if (!e->leader_name_valid)
			log_error("dcs.invalid_znode", LF_STR("path", e->leader_path),
				  LF_STR("reason", reason));
		if (stat->ephemeralOwner == 0)
			log_error("dcs.invalid_znode", LF_STR("path", e->leader_path),
				  LF_STR("reason", "leader znode is not ephemeral: it will never expire"));
	} else {
		return;	/* connection trouble: the session events retry */
	}
	if (e->callbacks.leader_changed)
		e->callbacks.leader_changed(e->arg);
	evaluate(e, "leader_znode_changed");
}

static void leader_exists_done(int rc, const struct Stat *stat, const void *data)
{
	(void) stat;
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	if (rc == ZNONODE) {
		e->leader_known = true;
		e->leader_present = false;
		if (e->callbacks.leader_changed)
			e->callbacks.leader_changed(e->arg);
		evaluate(e, "leader_znode_absent");
	} else if (rc == ZOK) {
		/* The exists watch is set; read the content without another. */
		zhandle_t *zh;
		struct zk_request *get = begin_request(e, REQUEST_LEADER_GET, e->leader_path, &zh);
		if (get)
			issued(e, get, zoo_aget(zh, e->leader_path, 0, leader_get_done, get), "get leader");
	}
}

/* exists() with a watch fires on creation, deletion and change alike, which
 * get() cannot do for a znode that does not exist yet. */
static void read_leader(struct election *e)
{
	zhandle_t *zh;
	struct zk_request *r = begin_request(e, REQUEST_LEADER_EXISTS, e->leader_path, &zh);

	if (!r)
		return;
	issued(e, r, zoo_aexists(zh, e->leader_path, 1, leader_exists_done, r), "watch leader");
}

static void lock_create_done(int rc, const char *value, const void *data)
{
	(void) value;
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	e->lock_in_flight = false;
	if (rc == ZNODEEXISTS)
		log_info("election.lock_taken", LF_STR("detail", "another member created the leader znode first"));
	else if (rc != ZOK)
		log_warning("election.lock_failed", LF_STR("error", zerror(rc)));
	/* Whatever happened, the leader znode is the truth: read it (the
	 * exists watch is still armed, this only refreshes our copy). */
	read_leader(e);
}

static void take_lock(struct election *e)
{
	zhandle_t *zh;
	struct zk_request *r = begin_request(e, REQUEST_CREATE_LOCK, e->leader_path, &zh);

	if (!r)
		return;
	log_info("election.taking_lock", LF_INT("position", e->position),
		 LF_INT("sequence", e->my_sequence));
	if (issued(e, r,
		   zoo_acreate(zh, e->leader_path, e->member, (int) strlen(e->member),
			       &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, lock_create_done, r),
		   "create leader"))
		e->lock_in_flight = true;
}

struct reclaim {
	struct zk_request *request;
	zoo_op_t ops[2];
	zoo_op_result_t results[2];
	char created[PATH_MAX_LEN];
	bool keep;	/* re-create (reclaim) or only delete (clear) */
};

static void reclaim_done(int rc, const void *data)
{
	struct reclaim *reclaim = (struct reclaim *) data;
	struct zk_request *r = reclaim->request;
	struct election *e = r->owner;

	if (zk_request_current(r, rc)) {
		e->lock_in_flight = false;
		if (rc == ZOK)
			log_info(reclaim->keep ? "leader.reclaimed" : "leader.stale_cleared",
				 LF_HEX("old_session", e->leader_owner),
				 LF_HEX("session", zk_session_id(e->session)));
		else
			log_warning("election.reclaim_failed", LF_STR("error", zerror(rc)));
		read_leader(e);
	}
	zk_request_free(r);
	free(reclaim);
}

/* The leader znode names us but belongs to an older session of ours. */
static void reclaim_stale_lock(struct election *e, bool keep)
{
	zhandle_t *zh = zk_session_handle(e->session);
	struct reclaim *reclaim = calloc(1, sizeof(*reclaim));

	if (!zh || !reclaim) {
		free(reclaim);
		return;
	}
	reclaim->request = new_request(e, REQUEST_DELETE_LOCK, e->leader_path);
	if (!reclaim->request) {
		free(reclaim);
		return;
	}
	reclaim->keep = keep;
	log_info("election.stale_lock_found", LF_HEX("old_session", e->leader_owner),
		 LF_STR("action", keep ? "reclaim" : "clear"));
	zoo_delete_op_init(&reclaim->ops[0], e->leader_path, e->leader_version);
	zoo_create_op_init(&reclaim->ops[1], e->leader_path, e->member, (int) strlen(e->member),
			   &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, reclaim->created,
			   (int) sizeof(reclaim->created));
	int rc = zoo_amulti(zh, keep ? 2 : 1, reclaim->ops, reclaim->results, reclaim_done, reclaim);
	if (rc != ZOK) {
		log_warning("dcs.request_failed", LF_STR("request", "reclaim leader"),
			    LF_STR("error", zerror(rc)));
		zk_request_free(reclaim->request);
		free(reclaim);
		return;
	}
	e->lock_in_flight = true;
	zk_session_flush(e->session);
}

static void lock_delete_done(int rc, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;

	if (zk_request_current(r, rc)) {
		/* Not deleted (the connection went, ZooKeeper lost its quorum):
		 * the znode is still ours, and a later read must say so. */
		if (rc != ZOK && rc != ZNONODE)
			e->released_czxid = 0;
		read_leader(e);
	} else if (rc != ZOK && rc != ZNONODE) {
		e->released_czxid = 0;
	}
	zk_request_free(r);
}

/* True when the delete is on its way (its completion reports the end). */
static bool delete_lock(struct election *e)
{
	zhandle_t *zh;
	struct zk_request *r = begin_request(e, REQUEST_DELETE_LOCK, e->leader_path, &zh);

	if (!r)
		return false;
	return issued(e, r, zoo_adelete(zh, e->leader_path, e->leader_version, lock_delete_done, r),
		      "delete leader");
}

/* ---- the candidate queue ---------------------------------------------- */

static void candidate_create_done(int rc, const char *value, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;
	char member[MEMBER_NAME_MAX];
	const char *child;

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	if (rc != ZOK) {
		/* The create may have succeeded with its reply lost: the next
		 * registration lists the queue and adopts it by name. */
		log_warning("election.register_failed", LF_STR("error", zerror(rc)));
		e->registration = REGISTRATION_NONE;
		return;
	}
	child = strrchr(value, '/');
	child = child ? child + 1 : value;
	if (!znode_candidate_parse(child, member, sizeof(member), &e->my_sequence) ||
	    (e->my_node = strdup(value)) == NULL) {
		log_error("election.register_failed", LF_STR("node", value),
			  LF_STR("error", "cannot use the created candidate name"));
		e->registration = REGISTRATION_NONE;
		return;
	}
	e->registration = REGISTRATION_DONE;
	log_info("election.candidate", LF_STR("node", e->my_node), LF_INT("sequence", e->my_sequence));
	check_position(e);
}

static void create_candidate(struct election *e)
{
	zhandle_t *zh;
	struct zk_request *r = begin_request(e, REQUEST_CREATE_CANDIDATE, e->prefix_path, &zh);

	if (!r) {
		e->registration = REGISTRATION_NONE;
		return;
	}
	if (!issued(e, r,
		    zoo_acreate(zh, e->prefix_path, e->member, (int) strlen(e->member),
				&ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL, candidate_create_done, r),
		    "create candidate"))
		e->registration = REGISTRATION_NONE;
}

static void registration_step_done(struct election *e)
{
	if (e->owner_checks_pending > 0)
		return;
	if (e->my_node) {
		e->registration = REGISTRATION_DONE;
		check_position(e);
	} else {
		create_candidate(e);
	}
}

static void stale_delete_done(int rc, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	if (zk_request_current(r, rc) && rc != ZOK && rc != ZNONODE)
		log_warning("election.stale_candidate_delete_failed", LF_STR("node", r->path),
			    LF_STR("error", zerror(rc)));
	zk_request_free(r);
}

static void owner_check_done(int rc, const struct Stat *stat, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;
	zhandle_t *zh;

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	e->owner_checks_pending--;
	if (rc == ZOK && stat->ephemeralOwner == zk_session_id(e->session) && !e->my_node) {
		/* Our own create whose reply was lost. */
		const char *child = strrchr(r->path, '/');
		char member[MEMBER_NAME_MAX];
		if (znode_candidate_parse(child + 1, member, sizeof(member), &e->my_sequence) &&
		    (e->my_node = strdup(r->path)) != NULL)
			log_info("election.candidate", LF_STR("node", e->my_node),
				 LF_INT("sequence", e->my_sequence), LF_BOOL("adopted", true));
	} else if (rc == ZOK && (zh = zk_session_handle(e->session)) != NULL) {
		struct zk_request *del = new_request(e, REQUEST_DELETE_STALE_CANDIDATE, r->path);
		log_info("election.stale_candidate_removed", LF_STR("node", r->path),
			 LF_HEX("old_session", stat->ephemeralOwner));
		if (del)
			issued(e, del, zoo_adelete(zh, r->path, -1, stale_delete_done, del),
			       "delete stale candidate");
	}
	zk_request_free(r);
	if (e->registration == REGISTRATION_IN_PROGRESS)
		registration_step_done(e);
}

static void list_for_register_done(int rc, const struct String_vector *children, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;
	zhandle_t *zh = zk_session_handle(e->session);

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	if (rc != ZOK || !zh) {
		e->registration = REGISTRATION_NONE;
		return;
	}
	for (int i = 0; i < children->count; i++) {
		char member[MEMBER_NAME_MAX];
		char path[PATH_MAX_LEN];
		long long sequence;
		if (!znode_candidate_parse(children->data[i], member, sizeof(member), &sequence) ||
		    strcmp(member, e->member) != 0)
			continue;
		if (!znode_path(path, sizeof(path), e->dir, children->data[i]))
			continue;
		struct zk_request *check = new_request(e, REQUEST_OWNER_CHECK, path);
		if (check && issued(e, check, zoo_aexists(zh, path, 0, owner_check_done, check),
				    "check candidate owner"))
			e->owner_checks_pending++;
	}
	registration_step_done(e);
}

static void start_registration(struct election *e)
{
	zhandle_t *zh;
	struct zk_request *r;

	if (!e->candidate || e->registration != REGISTRATION_NONE)
		return;
	r = begin_request(e, REQUEST_LIST_FOR_REGISTER, e->dir, &zh);
	if (!r)
		return;
	e->registration = REGISTRATION_IN_PROGRESS;
	if (!issued(e, r, zoo_aget_children(zh, e->dir, 0, list_for_register_done, r),
		    "list candidates"))
		e->registration = REGISTRATION_NONE;
}

static void candidate_delete_done(int rc, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;
	if (zk_request_current(r, rc))
		start_registration(e);	/* no-op unless still a candidate */
	zk_request_free(r);
}

/* Leave the queue; if still a candidate, join again at the back. */
static void requeue(struct election *e)
{
	zhandle_t *zh = zk_session_handle(e->session);
	struct zk_request *r;

	if (!e->my_node || !zh) {
		forget_candidate(e);
		return;
	}
	r = new_request(e, REQUEST_DELETE_CANDIDATE, e->my_node);
	forget_candidate(e);
	if (r)
		issued(e, r, zoo_adelete(zh, r->path, -1, candidate_delete_done, r),
		       "delete candidate");
}

static int compare_candidates(const void *a, const void *b)
{
	const struct { long long sequence; const char *name; } *x = a, *y = b;
	return (x->sequence > y->sequence) - (x->sequence < y->sequence);
}

static void predecessor_exists_done(int rc, const struct Stat *stat, const void *data)
{
	(void) stat;
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;

	if (zk_request_current(r, rc) && rc == ZNONODE && e->predecessor &&
	    strcmp(e->predecessor, r->path) == 0)
		check_position(e);	/* gone before the watch was set */
	zk_request_free(r);
}

static void position_done(int rc, const struct String_vector *children, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct election *e = r->owner;
	struct { long long sequence; const char *name; } *queue = NULL;
	char junk[sizeof(e->junk_reported)] = "";
	int count = 0;
	int mine = -1;
	zhandle_t *zh = zk_session_handle(e->session);

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	zk_request_free(r);
	if (rc != ZOK || !zh || e->registration != REGISTRATION_DONE)
		return;
	if (children->count > 0) {
		queue = calloc((size_t) children->count, sizeof(*queue));
		if (!queue) {
			log_error("dcs.out_of_memory", LF_STR("context", "election queue"));
			return;
		}
	}
	for (int i = 0; i < children->count; i++) {
		char member[MEMBER_NAME_MAX];
		long long sequence;
		if (!znode_candidate_parse(children->data[i], member, sizeof(member), &sequence)) {
			/* Someone else's junk in our folder: it never holds a
			 * place in the queue. */
			size_t used = strlen(junk);
			snprintf(junk + used, sizeof(junk) - used, "%s%s", used ? "," : "",
				 children->data[i]);
			continue;
		}
		queue[count].sequence = sequence;
		queue[count].name = children->data[i];
		count++;
	}
	/* Reported when it changes, not on every look at the queue. */
	if (strcmp(junk, e->junk_reported) != 0) {
		if (junk[0])
			log_warning("dcs.invalid_znode", LF_STR("path", e->dir), LF_STR("child", junk),
				    LF_STR("reason", "not a candidate name <member>-<10 digits>; ignored"));
		snprintf(e->junk_reported, sizeof(e->junk_reported), "%s", junk);
	}
	qsort(queue, (size_t) count, sizeof(*queue), compare_candidates);
	for (int i = 0; i < count; i++)
		if (queue[i].sequence == e->my_sequence)
			mine = i;

	if (mine < 0) {
		/* Our candidate znode is gone (deleted by someone): join again. */
		log_warning("election.candidate_lost", LF_STR("node", e->my_node));
		free(queue);
		forget_candidate(e);
		start_registration(e);
		return;
	}
	int old_position = e->position;
	free(e->predecessor);
	e->predecessor = NULL;
	e->position = mine;
	if (mine > 0) {
		char path[PATH_MAX_LEN];
		if (znode_path(path, sizeof(path), e->dir, queue[mine - 1].name))
			e->predecessor = strdup(path);
	}
	free(queue);
	if (e->position != old_position)
		log_info("election.position", LF_INT("position", e->position),
			 LF_STR("predecessor", e->predecessor ? e->predecessor : ""));
	if (e->predecessor) {
		struct zk_request *watch = new_request(e, REQUEST_WATCH_PREDECESSOR, e->predecessor);
		if (watch)
			issued(e, watch,
			       zoo_aexists(zh, e->predecessor, 1, predecessor_exists_done, watch),
			       "watch predecessor");
	}
	evaluate(e, "queue_changed");
}

static void check_position(struct election *e)
{
	zhandle_t *zh;
	struct zk_request *r;

	if (e->registration != REGISTRATION_DONE)
		return;
	r = begin_request(e, REQUEST_LIST_POSITION, e->dir, &zh);
	if (r)
		issued(e, r, zoo_aget_children(zh, e->dir, 0, position_done, r), "list candidates");
}

/* ---- decisions -------------------------------------------------------- */

static enum election_verdict ask_policy(struct election *e)
{
	return e->callbacks.may_take_lock ? e->callbacks.may_take_lock(e->arg) : ELECTION_TAKE;
}

static void evaluate(struct election *e, const char *reason)
{
	if (!zk_session_handle(e->session) || !e->leader_known) {
		update_leading(e, reason);
		return;
	}
	if (e->leader_present) {
		bool names_us = e->leader_name_valid && strcmp(e->leader_name, e->member) == 0;
		/* A read answered after we released the lock still shows our
		 * znode: that one is gone, not ours to lead with. */
		e->holds_lock = names_us && e->leader_owner == zk_session_id(e->session) &&
				e->leader_czxid != e->released_czxid;
		if (names_us && !e->holds_lock && !e->lock_in_flight &&
		    e->leader_owner != zk_session_id(e->session)) {
			/* Left by an earlier session of ours: waiting for it to
			 * expire would stall the cluster for a session timeout.
			 * Reclaim or clear it once the policy can say which. */
			enum election_verdict verdict = e->candidate ? ask_policy(e) : ELECTION_DECLINE;
			if (verdict != ELECTION_NOT_YET)
				reclaim_stale_lock(e, verdict == ELECTION_TAKE);
		}
	} else {
		e->holds_lock = false;
		if (e->candidate && e->registration == REGISTRATION_DONE && e->position == 0 &&
		    !e->lock_in_flight) {
			enum election_verdict verdict = ask_policy(e);
			if (verdict == ELECTION_TAKE) {
				take_lock(e);
			} else if (verdict == ELECTION_DECLINE &&
				   zk_now_ms() - e->declined_at_ms >= DECLINE_INTERVAL_MS) {
				e->declined_at_ms = zk_now_ms();
				log_info("election.declined",
					 LF_STR("detail", "the HA policy does not let this member lead now; queueing again"));
				requeue(e);	/* re-registers when the delete completes */
			}
		}
	}
	update_leading(e, reason);
}

/* ---- public ----------------------------------------------------------- */

struct election *election_new(struct event_base *base, struct zk_session *session,
			      const char *base_path, const char *member,
			      const struct election_callbacks *callbacks, void *arg)
{
	struct election *e = calloc(1, sizeof(*e));
	char prefix[MEMBER_NAME_MAX + 2];

	if (!e)
		return NULL;
	e->base = base;
	e->session = session;
	e->callbacks = *callbacks;
	e->arg = arg;
	e->member = strdup(member);
	if (!e->member || !znode_path(e->dir, sizeof(e->dir), base_path, ZNODE_ELECTION) ||
	    !znode_path(e->leader_path, sizeof(e->leader_path), base_path, ZNODE_LEADER) ||
	    !znode_candidate_prefix(prefix, sizeof(prefix), member) ||
	    !znode_path(e->prefix_path, sizeof(e->prefix_path), e->dir, prefix)) {
		free(e->member);
		free(e);
		return NULL;
	}
	e->my_sequence = -1;
	e->position = -1;
	evtimer_assign(&e->fence_timer, base, fence_timer_cb, e);
	return e;
}

void election_free(struct election *e)
{
	if (!e)
		return;
	evtimer_del(&e->fence_timer);
	free(e->my_node);
	free(e->predecessor);
	free(e->member);
	free(e);
}

void election_session_started(struct election *e)
{
	forget_candidate(e);
	e->leader_known = false;
	e->holds_lock = false;
	e->lock_in_flight = false;
	read_leader(e);
	start_registration(e);
}

void election_reconnected(struct election *e)
{
	/* Re-check ownership before believing we still lead; the reply also
	 * renews the lease. */
	read_leader(e);
	if (e->registration == REGISTRATION_DONE)
		check_position(e);
	else {
		e->registration = REGISTRATION_NONE;
		start_registration(e);
	}
}

void election_disconnected(struct election *e)
{
	if (e->leading)
		log_warning("leader.at_risk",
			    LF_INT("fence_in_ms", zk_session_lease_deadline_ms(e->session) -
						      fence_margin_ms(e) - zk_now_ms()));
}

void election_expired(struct election *e)
{
	e->holds_lock = false;
	e->leader_known = false;
	e->lock_in_flight = false;
	forget_candidate(e);
	update_leading(e, "session_expired");
}

bool election_watch(struct election *e, int type, const char *path)
{
	if (strcmp(path, e->leader_path) == 0) {
		read_leader(e);
		return true;
	}
	if (e->predecessor && strcmp(path, e->predecessor) == 0) {
		if (type == ZOO_DELETED_EVENT)
			check_position(e);
		return true;
	}
	return false;
}

void election_set_candidate(struct election *e, bool candidate)
{
	if (candidate == e->candidate)
		return;
	e->candidate = candidate;
	if (candidate) {
		start_registration(e);
		return;
	}
	if (e->holds_lock)
		election_release(e);
	requeue(e);
}

void election_release(struct election *e)
{
	if (!e->holds_lock)
		return;
	log_info("leader.released", LF_HEX("session", zk_session_id(e->session)));
	e->holds_lock = false;
	/* Only a delete on its way makes the znode someone else's business:
	 * unsent (no connection), it is still ours once we are back. */
	if (delete_lock(e)) {
		e->released_czxid = e->leader_czxid;
		e->leader_present = false;
	}
	update_leading(e, "released");
	if (e->candidate)
		requeue(e);
}

void election_take_lock_now(struct election *e)
{
	if (!e->holds_lock && !e->lock_in_flight)
		take_lock(e);
}

void election_reevaluate(struct election *e)
{
	evaluate(e, "cluster_changed");
}

bool election_is_leader(const struct election *e)
{
	return e->leading && e->holds_lock && lease_valid(e);
}

int64_t election_lease_deadline_ms(const struct election *e)
{
	return e->holds_lock ? zk_session_lease_deadline_ms(e->session) : 0;
}

int64_t election_fence_at_ms(const struct election *e)
{
	int64_t deadline = election_lease_deadline_ms(e);
	return deadline ? deadline - fence_margin_ms(e) : 0;
}

bool election_leader_known(const struct election *e)
{
	return e->leader_known;
}

bool election_holds_lock(const struct election *e)
{
	return e->holds_lock;
}

const char *election_leader_name(const struct election *e)
{
	return e->leader_known && e->leader_present && e->leader_name_valid ? e->leader_name : NULL;
}

int election_position(const struct election *e)
{
	return e->registration == REGISTRATION_DONE ? e->position : -1;
}
