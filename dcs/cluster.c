/*
 * Watched cache of /<namespace>/<scope>/.
 *
 * Every tracked znode is read with a data watch; the base path and members/
 * with child watches.  A watch fires once, so each handler re-reads with a
 * new watch, which also catches changes made between the event and the read.
 * Handlers are idempotent: the same event may arrive twice (a reconnect
 * re-sends watches) and a re-read of an unchanged node changes nothing.
 *
 * The view handed to the agent (members sorted by name) is rebuilt lazily,
 * and the change callback runs from a deferred event so that a burst of
 * watch events costs one HA evaluation.
 */
#include "dcs/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "agent/log.h"
#include "dcs/znode.h"

#define PATH_MAX_LEN 1024

enum node_kind {
	NODE_INITIALIZE,
	NODE_CONFIG,
	NODE_FAILOVER,
	NODE_SYNC,
	NODE_HISTORY,
	NODE_STATUS,
	NODE_MEMBER,
};

struct cached_node {
	enum node_kind kind;
	char *path;
	char *name;		/* the member name for NODE_MEMBER */
	char *data;		/* NUL-terminated copy; NULL when the znode has no data */
	int length;
	int64_t mzxid;		/* content version already validated (and logged) */
	bool valid;
	/* Decoded content, kept when valid; the kind says which one. */
	struct member_status member;
	struct znode_config config;
	struct znode_status status;
	struct znode_history history;
	struct znode_failover failover;
	struct znode_sync sync;
	uint64_t system_identifier;	/* initialize; 0 while bootstrapping */
	int version;			/* the znode's data version, for compare-and-set */
};

struct cluster_cache {
	struct event_base *base;
	struct zk_session *session;
	char base_path[PATH_MAX_LEN];
	char members_path[PATH_MAX_LEN];
	void (*changed)(void *arg);
	void *arg;
	struct event notify;

	struct cached_node *nodes;
	size_t node_count;
	size_t node_capacity;

	bool listed_base;		/* first listings of this session done */
	bool listed_members;
	bool loaded;			/* the first complete read of this session is done */
	int pending_reads;		/* reads of this session not answered yet */
	int pending_lists;		/* listings of this session not answered yet */

	struct dcs_member *view_members;	/* rebuilt by cluster_cache_fill */
	size_t view_member_count;
};

static const struct {
	const char *key;
	enum node_kind kind;
} known_keys[] = {
	{ ZNODE_INITIALIZE, NODE_INITIALIZE }, { ZNODE_CONFIG, NODE_CONFIG },
	{ ZNODE_FAILOVER, NODE_FAILOVER },     { ZNODE_SYNC, NODE_SYNC },
	{ ZNODE_HISTORY, NODE_HISTORY },       { ZNODE_STATUS, NODE_STATUS },
};

static void read_node(struct cluster_cache *c, const char *path);
static void list_children(struct cluster_cache *c, const char *path);

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct cluster_cache *c = arg;
	if (c->changed)
		c->changed(c->arg);
}

static void notify(struct cluster_cache *c)
{
	event_active(&c->notify, EV_TIMEOUT, 0);
}

static struct cached_node *find_node(struct cluster_cache *c, const char *path)
{
	for (size_t i = 0; i < c->node_count; i++)
		if (strcmp(c->nodes[i].path, path) == 0)
			return &c->nodes[i];
	return NULL;
}

static void clear_node(struct cached_node *n)
{
	free(n->path);
	free(n->name);
	free(n->data);
	member_status_clear(&n->member);
	znode_config_clear(&n->config);
	znode_status_clear(&n->status);
	znode_history_clear(&n->history);
	znode_failover_clear(&n->failover);
	znode_sync_clear(&n->sync);
	memset(n, 0, sizeof(*n));
}

static void clear_decoded(struct cached_node *n)
{
	member_status_clear(&n->member);
	znode_config_clear(&n->config);
	znode_status_clear(&n->status);
	znode_history_clear(&n->history);
	znode_failover_clear(&n->failover);
	znode_sync_clear(&n->sync);
	n->system_identifier = 0;
}

static void remove_node(struct cluster_cache *c, struct cached_node *n)
{
	size_t index = (size_t) (n - c->nodes);
	clear_node(n);
	c->nodes[index] = c->nodes[c->node_count - 1];
	c->node_count--;
	notify(c);
}

static struct cached_node *add_node(struct cluster_cache *c, enum node_kind kind, const char *path,
				    const char *name)
{
	struct cached_node *n;

	if (c->node_count == c->node_capacity) {
		size_t capacity = c->node_capacity ? c->node_capacity * 2 : 16;
		struct cached_node *grown = realloc(c->nodes, capacity * sizeof(*grown));
		if (!grown)
			return NULL;
		c->nodes = grown;
		c->node_capacity = capacity;
	}
	n = &c->nodes[c->node_count];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->mzxid = -1;
	n->path = strdup(path);
	n->name = name ? strdup(name) : NULL;
	if (!n->path || (name && !n->name)) {
		clear_node(n);
		return NULL;
	}
	c->node_count++;
	return n;
}

/* Validate content with the codec for its key, keeping what the agent reads
 * (members, initialize, config, status, history). */
static bool validate(struct cached_node *n, char *reason, size_t reason_size)
{
	/* -1 tells the codecs "the znode has no data at all". */
	const char *data = n->data;
	int length = n->data ? n->length : -1;

	switch (n->kind) {
	case NODE_MEMBER:
		return member_status_decode(data, length, &n->member, reason, reason_size);
	case NODE_INITIALIZE: {
		bool bootstrapping;
		return znode_initialize_decode(data, length, &bootstrapping, &n->system_identifier,
					       reason, reason_size);
	}
	case NODE_CONFIG:
		return znode_config_decode(data, length, &n->config, reason, reason_size);
	case NODE_STATUS:
		return znode_status_decode(data, length, &n->status, reason, reason_size);
	case NODE_HISTORY:
		return znode_history_decode(data, length, &n->history, reason, reason_size);
	case NODE_FAILOVER:
		return znode_failover_decode(data, length, &n->failover, reason, reason_size);
	case NODE_SYNC:
		return znode_sync_decode(data, length, &n->sync, reason, reason_size);
	}
	return false;
}

static void node_read_done(int rc, const char *value, int length, const struct Stat *stat,
			   const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct cluster_cache *c = r->owner;
	struct cached_node *n;
	char reason[512];

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	if (c->pending_reads > 0)
		c->pending_reads--;
	if ((n = find_node(c, r->path)) == NULL) {
		zk_request_free(r);
		notify(c);
		return;
	}
	zk_request_free(r);
	if (rc == ZNONODE) {
		remove_node(c, n);
		return;
	}
	if (rc != ZOK || stat->mzxid == n->mzxid)
		return;
	free(n->data);
	n->data = NULL;
	clear_decoded(n);
	n->length = value && length >= 0 ? length : 0;
	if (value && length >= 0) {
		n->data = malloc((size_t) length + 1);
		if (!n->data) {
			log_error("dcs.out_of_memory", LF_STR("path", n->path));
			return;
		}
		memcpy(n->data, value, (size_t) length);
		n->data[length] = '\0';
	}
	n->mzxid = stat->mzxid;
	n->version = stat->version;
	reason[0] = '\0';
	n->valid = validate(n, reason, sizeof(reason));
	if (!n->valid) {
		clear_decoded(n);
		log_error("dcs.invalid_znode", LF_STR("path", n->path), LF_STR("reason", reason),
			  LF_INT("bytes", n->length));
	}
	notify(c);
}

static void read_node(struct cluster_cache *c, const char *path)
{
	zhandle_t *zh = zk_session_handle(c->session);
	struct zk_request *r;

	if (!zh || (r = zk_request_new(c->session, c, 0, path)) == NULL)
		return;
	if (zoo_aget(zh, path, 1, node_read_done, r) != ZOK) {
		zk_request_free(r);
		return;
	}
	c->pending_reads++;
	zk_session_flush(c->session);
}

static void track(struct cluster_cache *c, enum node_kind kind, const char *parent,
		  const char *child)
{
	char path[PATH_MAX_LEN];

	if (!znode_path(path, sizeof(path), parent, child) || find_node(c, path))
		return;
	if (!add_node(c, kind, path, kind == NODE_MEMBER ? child : NULL)) {
		log_error("dcs.out_of_memory", LF_STR("path", path));
		return;
	}
	read_node(c, path);
}

/* Forget tracked nodes of this parent that are no longer listed. */
static void untrack_missing(struct cluster_cache *c, bool members,
			    const struct String_vector *children)
{
	for (size_t i = 0; i < c->node_count;) {
		struct cached_node *n = &c->nodes[i];
		const char *slash = strrchr(n->path, '/');
		bool listed = false;
		if ((n->kind == NODE_MEMBER) != members) {
			i++;
			continue;
		}
		for (int k = 0; k < children->count && !listed; k++)
			listed = strcmp(children->data[k], slash + 1) == 0;
		if (listed)
			i++;
		else
			remove_node(c, n);
	}
}

static void children_done(int rc, const struct String_vector *children, const void *data)
{
	struct zk_request *r = (struct zk_request *) data;
	struct cluster_cache *c = r->owner;
	bool members = strcmp(r->path, c->members_path) == 0;

	if (!zk_request_current(r, rc)) {
		zk_request_free(r);
		return;
	}
	if (c->pending_lists > 0)
		c->pending_lists--;
	if (rc != ZOK) {
		/* ZNONODE: the folder does not exist yet; dcs.c creates it and
		 * the child watch of the parent brings us back. */
		zk_request_free(r);
		notify(c);
		return;
	}
	zk_request_free(r);
	if (members)
		c->listed_members = true;
	else
		c->listed_base = true;
	untrack_missing(c, members, children);
	for (int i = 0; i < children->count; i++) {
		const char *child = children->data[i];
		if (members) {
			if (znode_name_is_valid(child))
				track(c, NODE_MEMBER, c->members_path, child);
			continue;
		}
		for (size_t k = 0; k < sizeof(known_keys) / sizeof(known_keys[0]); k++)
			if (strcmp(child, known_keys[k].key) == 0)
				track(c, known_keys[k].kind, c->base_path, child);
	}
	notify(c);
}

static void list_children(struct cluster_cache *c, const char *path)
{
	zhandle_t *zh = zk_session_handle(c->session);
	struct zk_request *r;

	if (!zh || (r = zk_request_new(c->session, c, 0, path)) == NULL)
		return;
	if (zoo_aget_children(zh, path, 1, children_done, r) != ZOK) {
		zk_request_free(r);
		return;
	}
	c->pending_lists++;
	zk_session_flush(c->session);
}

struct cluster_cache *cluster_cache_new(struct event_base *base, struct zk_session *session,
					const char *base_path, void (*changed)(void *arg),
					void *arg)
{
	struct cluster_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->base = base;
	c->session = session;
	c->changed = changed;
	c->arg = arg;
	if (snprintf(c->base_path, sizeof(c->base_path), "%s", base_path) >=
		    (int) sizeof(c->base_path) ||
	    !znode_path(c->members_path, sizeof(c->members_path), base_path, ZNODE_MEMBERS)) {
		free(c);
		return NULL;
	}
	event_assign(&c->notify, base, -1, 0, notify_cb, c);
	return c;
}

static void free_view(struct cluster_cache *c)
{
	free(c->view_members);
	c->view_members = NULL;
	c->view_member_count = 0;
}

void cluster_cache_set_session(struct cluster_cache *c, struct zk_session *session)
{
	c->session = session;
}

void cluster_cache_free(struct cluster_cache *c)
{
	if (!c)
		return;
	event_del(&c->notify);
	for (size_t i = 0; i < c->node_count; i++)
		clear_node(&c->nodes[i]);
	free(c->nodes);
	free_view(c);
	free(c);
}

void cluster_cache_reload(struct cluster_cache *c)
{
	for (size_t i = 0; i < c->node_count; i++)
		clear_node(&c->nodes[i]);
	c->node_count = 0;
	c->listed_base = false;
	c->listed_members = false;
	c->loaded = false;
	c->pending_reads = 0;
	c->pending_lists = 0;
	list_children(c, c->base_path);
	list_children(c, c->members_path);
	notify(c);
}

bool cluster_cache_watch(struct cluster_cache *c, int type, const char *path)
{
	struct cached_node *n;

	if (type == ZOO_CHILD_EVENT &&
	    (strcmp(path, c->base_path) == 0 || strcmp(path, c->members_path) == 0)) {
		list_children(c, path);
		return true;
	}
	if ((n = find_node(c, path)) != NULL) {
		if (type == ZOO_DELETED_EVENT)
			remove_node(c, n);
		else
			read_node(c, path);
		return true;
	}
	return false;
}

bool cluster_cache_loaded(const struct cluster_cache *c)
{
	/* Sticky for the session: later reads refresh a complete view. */
	struct cluster_cache *cache = (struct cluster_cache *) c;
	if (!cache->loaded && cache->listed_base && cache->listed_members &&
	    cache->pending_reads == 0)
		cache->loaded = true;
	return cache->loaded;
}

bool cluster_cache_settled(const struct cluster_cache *c)
{
	return cluster_cache_loaded(c) && c->pending_reads == 0 && c->pending_lists == 0;
}

static int compare_members(const void *a, const void *b)
{
	const struct dcs_member *x = a, *y = b;
	return strcmp(x->name, y->name);
}

void cluster_cache_fill(const struct cluster_cache *cache, struct dcs_cluster *view)
{
	/* The view borrows the cache's strings; only the array is rebuilt. */
	struct cluster_cache *c = (struct cluster_cache *) cache;
	size_t members = 0;

	free_view(c);
	view->initialize_present = false;
	view->initialize = NULL;
	view->config_present = false;
	view->config_valid = false;
	view->config = NULL;
	view->initialize_system_identifier = 0;
	view->has_last_lsn = false;
	view->last_lsn = 0;
	view->history_timeline = 0;
	view->history_data = NULL;
	view->history = NULL;
	view->config_data = NULL;
	view->config_version = -1;
	view->failover = NULL;
	view->sync = NULL;
	for (size_t i = 0; i < c->node_count; i++) {
		const struct cached_node *n = &c->nodes[i];
		if (n->kind == NODE_MEMBER)
			members++;
		else if (n->kind == NODE_INITIALIZE) {
			view->initialize_present = true;
			view->initialize = n->valid ? (n->data ? n->data : "") : NULL;
			view->initialize_system_identifier = n->valid ? n->system_identifier : 0;
		} else if (n->kind == NODE_CONFIG) {
			view->config_present = true;
			view->config_valid = n->valid;
			view->config = n->valid ? &n->config : NULL;
			view->config_data = n->valid ? n->data : NULL;
			view->config_version = n->version;
		} else if (n->kind == NODE_SYNC && n->valid && n->sync.leader) {
			view->sync = &n->sync;
		} else if (n->kind == NODE_FAILOVER && n->valid &&
			   !znode_failover_is_empty(&n->failover)) {
			view->failover = &n->failover;
		} else if (n->kind == NODE_STATUS && n->valid) {
			view->has_last_lsn = true;
			view->last_lsn = n->status.optime;
		} else if (n->kind == NODE_HISTORY && n->valid && n->history.n_lines > 0) {
			view->history_timeline = n->history.lines[n->history.n_lines - 1].timeline;
			view->history_data = n->data;
			view->history = &n->history;
		}
	}
	if (members > 0)
		c->view_members = calloc(members, sizeof(*c->view_members));
	for (size_t i = 0; c->view_members && i < c->node_count; i++) {
		const struct cached_node *n = &c->nodes[i];
		if (n->kind != NODE_MEMBER)
			continue;
		struct dcs_member *m = &c->view_members[c->view_member_count++];
		m->name = n->name;
		m->valid = n->valid;
		m->status = n->member;	/* shallow: owned by the cache */
	}
	if (c->view_members)
		qsort(c->view_members, c->view_member_count, sizeof(*c->view_members),
		      compare_members);
	view->members = c->view_members;
	view->member_count = c->view_member_count;
}
