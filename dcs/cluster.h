/*
 * A cache of the cluster's znodes kept current by ZooKeeper watches (internal
 * to dcs/).  It watches the children of the base path and of members/, and
 * the data of every known key and every member, so a change anywhere reaches
 * the agent without a poll.  `leader` and `election/` belong to election.c.
 *
 * Content written by someone else is validated with the codecs of znode.h;
 * garbage is logged once per version (dcs.invalid_znode) and kept out of the
 * view, never trusted and never fatal.
 */
#ifndef PGHERD_CLUSTER_H
#define PGHERD_CLUSTER_H

#include <stdbool.h>

#include "dcs/dcs.h"
#include "dcs/zk_session.h"

struct cluster_cache;

struct cluster_cache *cluster_cache_new(struct event_base *base, struct zk_session *session,
					const char *base_path, void (*changed)(void *arg),
					void *arg);
void cluster_cache_free(struct cluster_cache *cache);
/* The cache is made before the session (which may call back at once). */
void cluster_cache_set_session(struct cluster_cache *cache, struct zk_session *session);

/* Drop everything and read the tree again (new session: watches are gone). */
void cluster_cache_reload(struct cluster_cache *cache);
/* A watch fired; true if the path was one of ours. */
bool cluster_cache_watch(struct cluster_cache *cache, int type, const char *path);

/* Both folders are listed and every read they started has answered, in
 * this session: the view is complete, not half-loaded. */
bool cluster_cache_loaded(const struct cluster_cache *cache);

/* Loaded, and no listing or read of this session is waiting for an
 * answer: every watch event seen so far has been followed up. */
bool cluster_cache_settled(const struct cluster_cache *cache);

/* Fill the parts of the view the cache owns (members, initialize, config).
 * Pointers stay valid until the next change notification. */
void cluster_cache_fill(const struct cluster_cache *cache, struct dcs_cluster *view);

#endif
