/*
 * The synchronous standbys and the order of their changes (see sync.h).
 */
#include "agent/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

static bool listed(const char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Standbys already synchronous first (a working choice is kept), then the
 * furthest ahead, then by name so that the choice is stable. */
static int compare_candidates(const void *a, const void *b)
{
	const struct sync_replica *x = *(const struct sync_replica *const *) a;
	const struct sync_replica *y = *(const struct sync_replica *const *) b;

	if (x->synchronous != y->synchronous)
		return x->synchronous ? -1 : 1;
	if (x->flush_lsn != y->flush_lsn)
		return x->flush_lsn > y->flush_lsn ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Up to node_count streaming replicas without nosync, into out (sorted by
 * name); returns how many. */
static size_t pick(const struct sync_inputs *in, const char **out)
{
	const struct sync_replica *eligible[SYNC_MAX_STANDBYS * 4];
	size_t n = 0, wanted = in->node_count > 0 ? (size_t) in->node_count : 1;

	for (size_t i = 0; i < in->n_replicas && n < sizeof(eligible) / sizeof(eligible[0]); i++)
		if (in->replicas[i].streaming && !in->replicas[i].nosync && in->replicas[i].name)
			eligible[n++] = &in->replicas[i];
	qsort(eligible, n, sizeof(eligible[0]), compare_candidates);
	if (wanted > SYNC_MAX_STANDBYS)
		wanted = SYNC_MAX_STANDBYS;
	if (n > wanted)
		n = wanted;
	for (size_t i = 0; i < n; i++)
		out[i] = eligible[i]->name;
	qsort(out, n, sizeof(out[0]), compare_names);
	return n;
}

static struct sync_decision step(enum sync_step kind, const char *const *names, size_t n,
				 bool star)
{
	struct sync_decision d = { .step = kind, .star = star };

	for (size_t i = 0; i < n && i < SYNC_MAX_STANDBYS; i++)
		d.names[d.n_names++] = names[i];
	qsort(d.names, d.n_names, sizeof(d.names[0]), compare_names);
	return d;
}

static bool same_set(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!listed(b, nb, a[i]))
			return false;
	return true;
}

struct sync_decision sync_decide(const struct sync_inputs *in)
{
	const char *picked[SYNC_MAX_STANDBYS], *keep[SYNC_MAX_STANDBYS],
		*grown[SYNC_MAX_STANDBYS * 2];
	size_t n_picked, n_keep = 0, n_grown = 0;
	bool star;

	if (!in->enabled)
		return (in->published_is_ours || in->configured_set)
			       ? step(SYNC_CLEAR, NULL, 0, false)
			       : step(SYNC_NOTHING, NULL, 0, false);
	/* A new leader claims `sync` with no standby before anything else: the
	 * standbys of the old leader have not acknowledged our commits. */
	if (!in->published_is_ours)
		return step(SYNC_PUBLISH, NULL, 0, false);

	n_picked = pick(in, picked);
	/* 1. Leaving: out of `sync` before out of synchronous_standby_names. */
	for (size_t i = 0; i < in->n_published && n_keep < SYNC_MAX_STANDBYS; i++)
		if (listed(picked, n_picked, in->published[i]))
			keep[n_keep++] = in->published[i];
	if (n_keep != in->n_published)
		return step(SYNC_PUBLISH, keep, n_keep, false);

	/* 2. synchronous_standby_names names the chosen ones; with none, strict
	 * mode makes every commit wait rather than go asynchronous. */
	star = in->strict && n_picked == 0;
	if (!in->configured_set || in->configured_star != star ||
	    (!star && !same_set(picked, n_picked, in->configured, in->n_configured)))
		return step(SYNC_CONFIGURE, picked, n_picked, star);

	/* 3. Joining: published once PostgreSQL treats it as synchronous. */
	for (size_t i = 0; i < in->n_published; i++)
		grown[n_grown++] = in->published[i];
	for (size_t i = 0; i < in->n_replicas; i++) {
		const struct sync_replica *r = &in->replicas[i];
		if (r->synchronous && r->streaming && listed(picked, n_picked, r->name) &&
		    !listed(grown, n_grown, r->name) && n_grown < SYNC_MAX_STANDBYS)
			grown[n_grown++] = r->name;
	}
	if (n_grown != in->n_published)
		return step(SYNC_PUBLISH, grown, n_grown, false);
	return step(SYNC_NOTHING, NULL, 0, false);
}

enum sync_release sync_release_state(const struct sync_release_inputs *in)
{
	size_t wanted = in->node_count > 0 ? (size_t) in->node_count : 1;

	if (!in->leader || strcmp(in->leader, in->name) == 0)
		return SYNC_RELEASE_NO_LEADER;
	/* `sync` of an earlier leader: the new one starts with no standby. */
	if (!in->sync_leader || strcmp(in->sync_leader, in->leader) != 0)
		return SYNC_RELEASE_NO_SYNC;
	if (listed(in->sync_standbys, in->n_sync_standbys, in->name))
		return SYNC_RELEASE_WAIT;
	if (wanted > in->n_others)
		wanted = in->n_others;
	if (wanted == 0)
		return SYNC_RELEASE_NO_OTHER_STANDBY;
	return in->n_sync_standbys >= wanted ? SYNC_RELEASE_RELEASED : SYNC_RELEASE_WAIT;
}

const char *sync_release_name(enum sync_release state)
{
	switch (state) {
	case SYNC_RELEASE_WAIT: return "wait";
	case SYNC_RELEASE_RELEASED: return "released";
	case SYNC_RELEASE_NO_LEADER: return "no_leader";
	case SYNC_RELEASE_NO_SYNC: return "no_sync";
	case SYNC_RELEASE_NO_OTHER_STANDBY: return "no_other_standby";
	}
	return "unknown";
}

bool sync_standby_names(const struct sync_decision *d, char *out, size_t size)
{
	struct util_out o = { .buf = out, .size = size };
	char count[32];

	if (d->star) {
		util_out_str(&o, "*");
	} else if (d->n_names > 0) {
		snprintf(count, sizeof(count), "%zu (", d->n_names);
		util_out_str(&o, count);
		for (size_t i = 0; i < d->n_names; i++) {
			util_out_str(&o, i ? ",\"" : "\"");
			/* A member name is a znode name: no '"' inside (znode.h),
			 * but double it anyway as PostgreSQL's identifiers do. */
			for (const char *p = d->names[i]; *p; p++) {
				if (*p == '"')
					util_out_char(&o, '"');
				util_out_char(&o, *p);
			}
			util_out_char(&o, '"');
		}
		util_out_char(&o, ')');
	}
	util_out_finish(&o);
	return !o.full;
}
