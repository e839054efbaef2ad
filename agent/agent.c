/*
 * The agent: gathers facts from ZooKeeper (dcs/) and from its PostgreSQL
 * (pg/monitor, the postmaster process), asks the HA policy (ha.c) what to
 * do, and hands the decision to actions.c.  It asks again whenever a fact
 * changes (a watch, a monitor report, a finished job) and once a second, for
 * the rules that depend on elapsed time.
 *
 * A member without postgresql.data_dir manages no PostgreSQL: it only takes
 * part in the coordination, and any candidate may lead.  That is what the
 * coordination tests run; a real member always has a data directory.
 */
#include "agent/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/agent_internal.h"
#include "agent/callbacks.h"
#include "agent/kubernetes.h"
#include "agent/log.h"
#include "agent/rest.h"
#include "agent/slots.h"
#include "agent/version.h"
#include "agent/watchdog.h"

#define TICK_MS 1000
/* How long a replica must look past the leader's fork before it is rewound
 * (agent.c, replica_past_fork()). */
#define PAST_FORK_CONFIRM_MS 10000
#define LABEL_REMOVAL_WAIT_MS 2000

extern char **environ;
#define DEFAULT_BIN_DIR "/usr/lib/postgresql/15/bin"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct ha_self self_of(const struct agent *a)
{
	return (struct ha_self){ .name = a->config->name, .status = &a->status };
}

/* ---- facts ------------------------------------------------------------ */

uint32_t agent_local_timeline(const struct agent *a)
{
	if (a->pg_state == HA_PG_RUNNING && a->monitor_connected && a->last_status.timeline)
		return a->last_status.timeline;
	return a->checkpoint_timeline ? a->checkpoint_timeline : a->last_status.timeline;
}

/*
 * A former primary joining another leader may hold WAL that leader never
 * had.  After a crash we cannot tell where its WAL ends, so it goes through
 * pg_rewind, which costs almost nothing when nothing diverged (actions.c
 * waits until the leader can be a rewind source, see rewind_source_ready()).
 * After a clean shutdown its WAL ends with the shutdown checkpoint: it
 * diverged only if the leader's timeline forked off ours at or before that
 * checkpoint (history says where).  Until history says, it starts as a
 * replica: PostgreSQL itself refuses to follow a timeline that forked
 * before its recovery point.
 */
static bool diverged_from_leader(const struct agent *a, const struct dcs_cluster *cluster)
{
	if (!cluster->leader || strcmp(cluster->leader, a->config->name) == 0)
		return false;
	if (!a->was_primary)
		return a->past_fork_since_ms != 0 &&
		       now_ms() - a->past_fork_since_ms >= PAST_FORK_CONFIRM_MS;
	if (!a->clean_shutdown)
		return true;
	for (size_t i = 0; cluster->history && i < cluster->history->n_lines; i++) {
		const struct znode_history_line *line = &cluster->history->lines[i];
		if (line->timeline == (int64_t) a->checkpoint_timeline)
			return line->lsn >= 0 && (uint64_t) line->lsn <= a->checkpoint_lsn;
	}
	return false;
}

/*
 * A replica can be past the fork too: it streamed from a primary that wrote
 * on after another member was promoted (an old primary not yet fenced, or a
 * candidate that was behind this replica: member positions are up to a loop
 * old).  PostgreSQL then refuses the leader's timeline for ever ("new
 * timeline N forked off current database system timeline M before current
 * recovery point"), so it goes through pg_rewind like a former primary.
 * Streaming from the leader proves the opposite.  Without a WAL receiver the
 * monitor's timeline comes from the control file and lags a timeline switch
 * until the next restartpoint: a replica that did follow the leader's
 * timeline, and whose WAL receiver is down a while (the leader restarting),
 * looks the same.  So it counts only once it held for PAST_FORK_CONFIRM_MS,
 * longer than a receiver takes to reconnect, and a mistake costs only a
 * restart: pg_rewind then finds nothing to do.
 */
static bool replica_past_fork(const struct agent *a, const struct dcs_cluster *cluster)
{
	const struct pg_monitor_status *pg = &a->last_status;

	if (a->was_primary || !a->monitor_connected || !pg->in_recovery ||
	    pg->replication_state == PG_REPLICATION_STREAMING || pg->timeline == 0)
		return false;
	for (size_t i = 0; cluster->history && i < cluster->history->n_lines; i++) {
		const struct znode_history_line *line = &cluster->history->lines[i];
		if (line->timeline == (int64_t) pg->timeline)
			return line->lsn >= 0 && pg->replay_lsn > (uint64_t) line->lsn;
	}
	return false;
}

static void note_past_fork(struct agent *a)
{
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	bool past = replica_past_fork(a, cluster);

	if (past && a->past_fork_since_ms == 0) {
		a->past_fork_since_ms = now_ms();
		log_warning("pg.past_fork", LF_INT("timeline", a->last_status.timeline),
			    LF_INT("replay_lsn", (long long) a->last_status.replay_lsn),
			    LF_STR("detail", "replayed past the point where the leader's timeline forked "
					     "off this one: it cannot follow without pg_rewind"));
	} else if (!past) {
		a->past_fork_since_ms = 0;
	}
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct znode_config *cluster_config(const struct dcs_cluster *cluster)
{
	return cluster->config;
}

static bool named_in(const struct znode_sync *sync, const char *name)
{
	for (size_t i = 0; sync && i < sync->n_standbys; i++)
		if (strcmp(sync->standbys[i], name) == 0)
			return true;
	return false;
}

static bool synchronous_mode_active(const struct dcs_cluster *cluster)
{
	return cluster->config && cluster->config->synchronous_mode && cluster->sync;
}

/* The other members as the policy compares them.  *out is malloc'd. */
static size_t gather_candidates(const struct agent *a, const struct dcs_cluster *cluster,
				struct ha_candidate **out)
{
	size_t count = 0;

	*out = cluster->member_count ? calloc(cluster->member_count, sizeof(**out)) : NULL;
	for (size_t i = 0; *out && i < cluster->member_count; i++) {
		const struct dcs_member *m = &cluster->members[i];
		if (strcmp(m->name, a->config->name) == 0 || !m->valid)
			continue;
		struct ha_candidate *c = &(*out)[count++];
		c->name = m->name;
		c->running = m->status.state && strcmp(m->status.state, "running") == 0;
		c->primary = member_status_role(&m->status) == MEMBER_STATUS_ROLE_PRIMARY;
		c->nofailover = member_status_nofailover(&m->status);
		c->failover_priority = member_status_failover_priority(&m->status);
		c->has_wal_position = m->status.has_xlog_location && m->status.xlog_location >= 0;
		c->clonefrom = json_is_true(json_object_get(m->status.tags, "clonefrom"));
		c->synchronous = cluster->sync && (strcmp(cluster->sync->leader, m->name) == 0 ||
						   named_in(cluster->sync, m->name));
		c->wal_position = c->has_wal_position ? (uint64_t) m->status.xlog_location : 0;
		/* A primary sees how far each standby has flushed, fresher than
		 * the standby's own znode (written once a second): a switchover
		 * right after a WAL switch is not refused as lagging. */
		if (c->has_wal_position && a->monitor_connected && !a->last_status.in_recovery) {
			for (int k = 0; k < a->last_status.standbys_listed; k++) {
				const struct pg_monitor_standby *s = &a->last_status.standbys[k];
				if (strcmp(s->application_name, m->name) == 0 && s->flush_lsn > c->wal_position)
					c->wal_position = s->flush_lsn;
			}
		}
		/* The view has only our own place in the queue; -1 is safe (ties
		 * then go to us, and only the first in line asks). */
		c->election_position = -1;
	}
	return count;
}

static void gather_facts(const struct agent *a, const struct dcs_cluster *cluster,
			 struct ha_facts *f, struct ha_candidate **candidates)
{
	const struct znode_config *dynamic = cluster_config(cluster);
	const struct pg_monitor_status *pg = &a->last_status;

	memset(f, 0, sizeof(*f));
	f->now_ms = now_ms();
	f->name = a->config->name;
	f->nofailover = member_status_nofailover(&a->status);
	f->failover_priority = member_status_failover_priority(&a->status);
	f->replicatefrom = json_string_value(json_object_get(a->config->tags, "replicatefrom"));
	{
		const char *name;
		json_t *section;
		json_object_foreach(a->config->postgresql.replica_methods, name, section)
			f->can_clone_without_leader |= json_is_true(json_object_get(section, "no_leader"));
	}
	f->pg_state = a->pg_state;
	f->pg_state_since_ms = a->pg_state_since_ms;
	if (a->pg_state == HA_PG_RUNNING && a->monitor_connected)
		f->pg_role = pg->in_recovery ? HA_ROLE_REPLICA : HA_ROLE_PRIMARY;
	f->was_primary = a->was_primary;
	f->has_system_identifier = a->has_system_identifier;
	f->system_identifier = a->system_identifier;
	if (a->pg_state == HA_PG_RUNNING && a->monitor_connected) {
		f->timeline = pg->timeline;
		f->has_wal_position = true;
		f->wal_position = pg->wal_position;
	}
	f->following = a->following[0] ? a->following : NULL;
	f->action_in_progress = a->action;
	f->holds_lock = dcs_is_leader(a->dcs);
	f->lock_fenced = dcs_holds_lock(a->dcs) && !f->holds_lock;
	/* initdb always enables data checksums, which pg_rewind needs. */
	f->rewind_possible = a->config->dcs.use_pg_rewind ||
			     (dynamic && dynamic->use_pg_rewind);
	f->diverged = a->manages_postgresql && diverged_from_leader(a, cluster);
	f->rewind_failed = a->rewind_failed;
	f->remove_data_directory_on_rewind_failure =
		a->config->postgresql.remove_data_directory_on_rewind_failure;
	f->remove_data_directory_on_diverged_timelines =
		a->config->postgresql.remove_data_directory_on_diverged_timelines;
	/* A half-read view looks like a cluster without a leader: the policy
	 * must not act on it. */
	f->dcs_connected = cluster->loaded;
	f->leader = cluster->leader;
	f->initialize_present = cluster->initialize_present;
	f->initialize_in_progress = cluster->initialize && cluster->initialize[0] == '\0';
	f->cluster_system_identifier = cluster->initialize_system_identifier;
	f->has_last_primary_lsn = cluster->has_last_lsn && cluster->last_lsn >= 0;
	f->last_primary_lsn = f->has_last_primary_lsn ? (uint64_t) cluster->last_lsn : 0;
	f->cluster_timeline = cluster->history_timeline > 0 ? cluster->history_timeline + 1 : 0;
	f->maximum_lag_on_failover = dynamic ? dynamic->maximum_lag_on_failover
					     : a->config->dcs.maximum_lag_on_failover;
	f->primary_start_timeout_s = dynamic ? dynamic->primary_start_timeout : 300;
	f->paused = dynamic && dynamic->pause;
	f->watchdog_unavailable = a->config->watchdog.mode == WATCHDOG_MODE_REQUIRED && !a->watchdog;
	f->loop_wait_s = dynamic ? dynamic->loop_wait : a->config->dcs.loop_wait;
	f->synchronous_mode = synchronous_mode_active(cluster);
	f->promotion_backoff = f->now_ms < a->promotion_backoff_until_ms;
	f->just_started = f->now_ms - a->started_at_ms < config_session_timeout_ms(a->config);
	f->adopted_postmaster = a->adopted_pid > 0;
	f->synchronous = cluster->sync && (strcmp(cluster->sync->leader, a->config->name) == 0 ||
					   named_in(cluster->sync, a->config->name));
	if (cluster->failover) {
		f->has_failover = true;
		f->failover_leader = cluster->failover->leader;
		f->failover_candidate = cluster->failover->member;
		f->failover_scheduled = cluster->failover->scheduled_at != NULL;
		f->failover_due_in_ms = f->failover_scheduled
						? cluster->failover->scheduled_at_ms - wall_ms()
						: 0;
	}
	f->n_candidates = gather_candidates(a, cluster, candidates);
	f->candidates = *candidates;
	f->my_election_position = cluster->election_position;
}

/* Patroni's postgresql.use_slots, from the dynamic configuration only. */
static bool uses_slots(const struct dcs_cluster *cluster)
{
	return cluster->config ? cluster->config->use_slots : true;
}

/* Whom member m streams from: its replicatefrom member while that one
 * runs, else the leader (the rule ha.c applies on m's side). */
static const char *upstream_of(const struct dcs_cluster *cluster, const struct dcs_member *m)
{
	const char *from = json_string_value(json_object_get(m->status.tags, "replicatefrom"));

	for (size_t i = 0; from && i < cluster->member_count; i++) {
		const struct dcs_member *u = &cluster->members[i];
		if (strcmp(u->name, from) == 0 && strcmp(u->name, m->name) != 0 && u->valid &&
		    u->status.state && strcmp(u->status.state, "running") == 0)
			return from;
	}
	return cluster->leader;
}

/*
 * The slots this member keeps: one for every member that streams from it
 * (on the leader, every other member but those cascading from a replica),
 * and no other (a slot left from its days as a primary would pin WAL
 * forever).  Run again whenever the wanted set changes.
 */
static void keep_replication_slots(struct agent *a, const struct dcs_cluster *cluster)
{
	bool primary = !a->last_status.in_recovery;
	const char **wanted;
	char (*names)[SLOT_NAME_MAX + 1];
	size_t count = 0;
	char sql[8192];

	/* A primary without the lock is about to stop: not its business. */
	if (primary && !dcs_is_leader(a->dcs))
		return;
	if (a->pg_state != HA_PG_RUNNING || !a->monitor_connected || !cluster->loaded ||
	    !uses_slots(cluster) || a->slot_job || a->action != HA_NOTHING ||
	    now_ms() < a->slots_retry_after_ms)
		return;
	wanted = calloc(cluster->member_count + 1, sizeof(*wanted));
	names = calloc(cluster->member_count + 1, sizeof(*names));
	if (!wanted || !names)
		goto done;
	for (size_t i = 0; i < cluster->member_count; i++) {
		const struct dcs_member *m = &cluster->members[i];
		const char *up;
		if (!m->valid || strcmp(m->name, a->config->name) == 0)
			continue;
		up = upstream_of(cluster, m);
		if (!up || strcmp(up, a->config->name) != 0)
			continue;
		slot_name_for_member(m->name, names[count]);
		wanted[count] = names[count];
		count++;
	}
	if (!slots_sync_sql(wanted, count, sql, sizeof(sql))) {
		log_warning("pg.slots_skipped", LF_INT("members", (long long) count),
			    LF_STR("reason", "too many members for one slot script"));
		a->slots_retry_after_ms = now_ms() + 60 * 1000;
		goto done;
	}
	if (!a->slots_applied || strcmp(sql, a->slots_applied) != 0)
		(void) actions_sync_slots(a, sql);
done:
	free(wanted);
	free(names);
}

static void sync_written(void *arg, bool ok, bool already_exists)
{
	(void) ok;
	(void) already_exists;
	struct agent *a = arg;
	a->sync_written_at_ms = 0;
	agent_schedule_evaluation(a);
}

/*
 * Synchronous mode on the leader (agent/sync.h decides the step): one step
 * per evaluation, each waiting for the last to show in the view or in
 * PostgreSQL's pg_stat_replication.
 */
static void keep_synchronous_replication(struct agent *a, const struct dcs_cluster *cluster)
{
	const struct znode_config *dynamic = cluster->config;
	const struct pg_monitor_status *pg = &a->last_status;
	struct sync_replica replicas[PG_MONITOR_MAX_STANDBYS];
	size_t n_replicas = 0;
	struct sync_inputs in;
	struct sync_decision d;
	bool ours;

	if (!dcs_is_leader(a->dcs) || a->pg_state != HA_PG_RUNNING || !a->monitor_connected ||
	    pg->in_recovery) {
		if (a->sync_configured_set && !dcs_is_leader(a->dcs))
			actions_forget_synchronous_standbys(a);
		return;
	}
	if (a->action != HA_NOTHING || a->restarting || a->stopping || !cluster->loaded ||
	    (a->sync_written_at_ms && now_ms() - a->sync_written_at_ms < 2000))
		return;
	for (int i = 0; i < pg->standbys_listed && i < PG_MONITOR_MAX_STANDBYS; i++) {
		const struct pg_monitor_standby *s = &pg->standbys[i];
		const struct dcs_member *m = NULL;
		for (size_t k = 0; k < cluster->member_count; k++)
			if (strcmp(cluster->members[k].name, s->application_name) == 0 &&
			    cluster->members[k].valid)
				m = &cluster->members[k];
		if (!m)
			continue;	/* only members of this cluster are standbys */
		replicas[n_replicas++] = (struct sync_replica){
			.name = m->name,
			.streaming = strcmp(s->state, "streaming") == 0,
			.synchronous = strcmp(s->sync_state, "sync") == 0 ||
				       strcmp(s->sync_state, "quorum") == 0,
			.nosync = json_is_true(json_object_get(m->status.tags, "nosync")),
			.flush_lsn = s->flush_lsn,
		};
	}
	ours = cluster->sync && strcmp(cluster->sync->leader, a->config->name) == 0;
	in = (struct sync_inputs){
		.enabled = dynamic && dynamic->synchronous_mode,
		.strict = dynamic && dynamic->synchronous_mode_strict,
		.node_count = dynamic ? dynamic->synchronous_node_count : 1,
		.replicas = replicas,
		.n_replicas = n_replicas,
		.published_is_ours = ours,
		.published = ours ? (const char *const *) cluster->sync->standbys : NULL,
		.n_published = ours ? cluster->sync->n_standbys : 0,
		.configured_set = a->sync_configured_set,
		.configured_star = a->sync_configured_star,
		.configured = (const char *const *) a->sync_configured,
		.n_configured = a->n_sync_configured,
	};
	d = sync_decide(&in);
	if (d.step == SYNC_PUBLISH) {
		struct znode_sync value = { .leader = a->config->name };
		char err[ZNODE_ERR_MAX];
		char *json;
		value.standbys = (char **) d.names;
		value.n_standbys = d.n_names;
		json = znode_sync_encode(&value, err, sizeof(err));
		if (!json) {
			log_error("agent.sync_encode_failed", LF_STR("reason", err));
			return;
		}
		log_info("ha.sync_published", LF_STR("sync", json));
		a->sync_written_at_ms = now_ms();
		dcs_write(a->dcs, ZNODE_SYNC, json, sync_written, a);
		free(json);
	} else if (d.step == SYNC_CONFIGURE) {
		(void) actions_set_synchronous_standbys(a, &d);
	} else if (d.step == SYNC_CLEAR) {
		if (ours) {
			log_info("ha.sync_published", LF_STR("sync", "(deleted)"));
			a->sync_written_at_ms = now_ms();
			dcs_delete(a->dcs, ZNODE_SYNC, sync_written, a);
		} else {
			(void) actions_set_synchronous_standbys(a, NULL);
		}
	}
}

/* ---- leaving sync duty before a restart ----------------------------------- */

/* The tags we publish: the configured ones, plus nosync while a restart
 * asks to be left out of sync duty.  False when out of memory (the
 * configured tags are published then). */
static bool set_published_tags(struct agent *a)
{
	json_t *tags = NULL;

	if (a->nosync_for_restart) {
		tags = json_is_object(a->config->tags) ? json_copy(a->config->tags) : json_object();
		if (tags && json_object_set_new(tags, "nosync", json_true()) != 0) {
			json_decref(tags);
			tags = NULL;
		}
		if (!tags)
			log_error("agent.out_of_memory", LF_STR("context", "member tags"));
	}
	json_decref(a->status.tags);
	a->status.tags = tags ? tags : json_incref(a->config->tags);
	return tags || !a->nosync_for_restart;
}

/* Other members the leader could make synchronous instead of us: running
 * replicas streaming from it, without nosync (agent/sync.c's pick()). */
static size_t other_sync_candidates(const struct agent *a, const struct dcs_cluster *cluster)
{
	size_t count = 0;

	for (size_t i = 0; i < cluster->member_count; i++) {
		const struct dcs_member *m = &cluster->members[i];
		const char *up;
		if (!m->valid || strcmp(m->name, a->config->name) == 0 ||
		    (cluster->leader && strcmp(m->name, cluster->leader) == 0))
			continue;
		up = upstream_of(cluster, m);
		if (m->status.state && strcmp(m->status.state, "running") == 0 &&
		    member_status_role(&m->status) == MEMBER_STATUS_ROLE_REPLICA &&
		    m->status.replication_state &&
		    strcmp(m->status.replication_state, "streaming") == 0 &&
		    !json_is_true(json_object_get(m->status.tags, "nosync")) && up &&
		    cluster->leader && strcmp(up, cluster->leader) == 0)
			count++;
	}
	return count;
}

static enum sync_release sync_release_now(const struct agent *a, const struct dcs_cluster *cluster)
{
	const struct znode_sync *sync = cluster->sync;
	struct sync_release_inputs in = {
		.name = a->config->name,
		.leader = cluster->leader,
		.sync_leader = sync ? sync->leader : NULL,
		.sync_standbys = sync ? (const char *const *) sync->standbys : NULL,
		.n_sync_standbys = sync ? sync->n_standbys : 0,
		.node_count = cluster->config ? cluster->config->synchronous_node_count : 1,
		.n_others = other_sync_candidates(a, cluster),
	};
	return sync_release_state(&in);
}

/*
 * Patroni's while_not_sync_standby(): in synchronous mode, a replica (not
 * the lock holder, not tagged nosync already) publishes nosync before its
 * restart stops PostgreSQL, so that the leader hands sync duty to another
 * standby first and its commits do not wait meanwhile.  The wait is only a
 * hint, bounded by 2 x loop_wait as in Patroni: the leader reacts to the
 * member znode at once, and if it does not, not waiting matters little.
 */
bool agent_leave_sync_before_restart(struct agent *a)
{
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	const struct znode_config *dynamic = cluster->config;
	long long loop_wait = dynamic ? dynamic->loop_wait : a->config->dcs.loop_wait;
	int64_t timeout_ms = 2 * (loop_wait > 0 ? loop_wait : 1) * 1000;

	if (!cluster->loaded || !dynamic || !dynamic->synchronous_mode || dynamic->standby_cluster ||
	    dcs_holds_lock(a->dcs) ||
	    (cluster->leader && strcmp(cluster->leader, a->config->name) == 0) ||
	    json_is_true(json_object_get(a->config->tags, "nosync")) || !a->monitor_connected ||
	    !a->last_status.in_recovery)
		return false;
	a->nosync_for_restart = true;
	if (!set_published_tags(a)) {
		a->nosync_for_restart = false;
		return false;
	}
	a->leaving_sync = true;
	a->leaving_sync_since_ms = now_ms();
	a->leaving_sync_deadline_ms = a->leaving_sync_since_ms + timeout_ms;
	log_info("sync.leaving", LF_STR("reason", "restart"),
		 LF_BOOL("sync_standby", named_in(cluster->sync, a->config->name)),
		 LF_INT("timeout_ms", (long long) timeout_ms));
	agent_publish_status(a);
	agent_schedule_evaluation(a);
	return true;
}

/* While a restart waits to leave sync duty: go on once the view lets it. */
static void keep_leaving_sync(struct agent *a, const struct dcs_cluster *cluster)
{
	enum sync_release state;
	const char *reason;
	bool go_on = true;

	if (!a->leaving_sync)
		return;
	if (a->action != HA_NOTHING) {
		reason = "other_action";	/* e.g. a forced reinitialize */
		go_on = false;
	} else if (dcs_holds_lock(a->dcs)) {
		/* We took the lock meanwhile: promote, do not stop PostgreSQL. */
		reason = "became_leader";
		go_on = false;
	} else if (!cluster->connected) {
		reason = "dcs_unreachable";
	} else if (cluster->loaded && (!cluster->config || !cluster->config->synchronous_mode)) {
		reason = "synchronous_mode_off";
	} else if (cluster->loaded &&
		   (state = sync_release_now(a, cluster)) != SYNC_RELEASE_WAIT) {
		reason = sync_release_name(state);
	} else if (now_ms() >= a->leaving_sync_deadline_ms) {
		reason = "timed_out";
	} else {
		return;
	}
	log_write(strcmp(reason, "timed_out") == 0 ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO, "sync.left",
		  LOG_FIELDS(LF_STR("reason", reason), LF_BOOL("restart", go_on),
			     LF_INT("waited_ms", (long long) (now_ms() - a->leaving_sync_since_ms))));
	actions_restart_released(a, go_on);
}

void agent_restart_over(struct agent *a, bool ok)
{
	a->leaving_sync = false;
	if (a->nosync_for_restart) {
		a->nosync_for_restart = false;
		set_published_tags(a);
		log_info("sync.nosync_cleared", LF_BOOL("restarted", ok));
	}
	agent_publish_status(a);
}

/* ---- deciding ---------------------------------------------------------- */

static void evaluate(struct agent *a)
{
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	struct ha_candidate *candidates = NULL;
	struct ha_facts facts;
	struct ha_decision decision;
	char summary[sizeof(a->last_decision)];

	if (!a->manages_postgresql || a->shutting_down)
		return;
	keep_leaving_sync(a, cluster);
	gather_facts(a, cluster, &facts, &candidates);
	decision = ha_decide(&facts);
	free(candidates);
	keep_replication_slots(a, cluster);
	keep_synchronous_replication(a, cluster);
	actions_apply_parameters(a);
	a->loop_last_run_ms = now_ms();

	/* One record per change of mind, not one per evaluation. */
	snprintf(summary, sizeof(summary), "%s %s", ha_action_name(decision.action),
		 decision.reason);
	if (strcmp(summary, a->last_decision) != 0) {
		snprintf(a->last_decision, sizeof(a->last_decision), "%s", summary);
		log_info("ha.decision", LF_STR("action", ha_action_name(decision.action)),
			 LF_STR("target", decision.target ? decision.target : ""),
			 LF_STR("reason", decision.reason));
	}
	if (decision.action == HA_NOTHING || decision.action == HA_WAIT)
		return;
	if ((a->action != HA_NOTHING || a->restarting) && decision.action != HA_DEMOTE)
		return;	/* one action at a time; only fencing interrupts */
	if (now_ms() < a->retry_after_ms && decision.action != HA_DEMOTE)
		return;
	if (decision.action == HA_DEMOTE && now_ms() < a->demote_blocked_until_ms)
		return;
	if (decision.action == HA_BOOTSTRAP && now_ms() < a->bootstrap_blocked_until_ms)
		return;
	/* Failing over after a crash means another member takes over: do not
	 * restart the crashed primary while no one leads yet. */
	if ((decision.action == HA_START_REPLICA || decision.action == HA_START_PRIMARY) &&
	    !decision.target && now_ms() < a->stand_down_until_ms)
		return;
	actions_execute(a, &decision, cluster);
}

static void evaluate_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	evaluate(arg);
}

static void run_scheduled_restart(struct agent *a);

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	struct agent *a = arg;
	if (a->monitor)
		pg_monitor_refresh(a->monitor);
	actions_watch_adopted(a);
	if (a->pending_restart_check_at_ms && now_ms() >= a->pending_restart_check_at_ms)
		actions_check_pending_restart(a);
	if (a->scheduled_restart)
		run_scheduled_restart(a);
	/* ttl changed in `config`: a new session timeout, without a restart. */
	{
		const struct znode_config *dynamic = dcs_cluster(a->dcs)->config;
		if (dynamic)
			dcs_set_session_timeout(a->dcs,
						config_session_timeout_for_ttl_ms(a->config, dynamic->ttl));
	}
	evaluate(a);
	/* A candidate that declined the free lock is asked again: the facts it
	 * declined on (another member's stale znode, say) may have changed. */
	if (a->manages_postgresql && !a->shutting_down)
		dcs_reevaluate(a->dcs);
}

void agent_schedule_evaluation(struct agent *a)
{
	event_active(&a->evaluate_event, EV_TIMEOUT, 0);
}

void agent_set_pg_state(struct agent *a, enum ha_pg_state state)
{
	if (state == a->pg_state)
		return;
	a->pg_state = state;
	a->pg_state_since_ms = now_ms();
	agent_publish_status(a);
	agent_schedule_evaluation(a);
}

/* ---- what we publish ---------------------------------------------------- */

static const char *state_word(const struct agent *a)
{
	if (a->action == HA_BOOTSTRAP && a->bootstrap >= BOOTSTRAP_INITDB)
		return "initializing new cluster";
	if (a->action == HA_CLONE || a->action == HA_REINITIALIZE)
		return "creating replica";
	switch (a->pg_state) {
	case HA_PG_RUNNING: return "running";
	case HA_PG_STARTING: return "starting";
	case HA_PG_STOPPING: return "stopping";
	case HA_PG_CRASHED: return "crashed";
	case HA_PG_START_FAILED: return "start failed";
	default: return "stopped";
	}
}

void agent_publish_status(struct agent *a)
{
	char err[ZNODE_ERR_MAX];
	bool running = a->pg_state == HA_PG_RUNNING && a->monitor_connected;
	const char *role;
	char *json;

	if (a->manages_postgresql) {
		if (running && !a->refused)
			role = a->last_status.in_recovery ? "replica" : "master";
		else if (a->pg_state == HA_PG_NO_DATA || a->pg_state == HA_PG_UNKNOWN || a->refused)
			/* A foreign data directory says nothing about this cluster. */
			role = "uninitialized";
		else
			role = a->was_primary ? "master" : "replica";
		znode_set_string(&a->status.state, state_word(a));
		znode_set_string(&a->status.role, role);
		a->status.has_xlog_location = running;
		a->status.xlog_location = running ? (int64_t) a->last_status.wal_position : 0;
		a->status.has_timeline = running && a->last_status.timeline > 0;
		a->status.timeline = a->last_status.timeline;
		/* Patroni's flag: until the checkpoint after a promotion, pg_rewind
		 * against this member would see the old timeline in pg_control. */
		a->status.has_checkpoint_after_promote = a->action == HA_PROMOTE;
		a->status.pending_restart = a->pending_restart;
		json_decref(a->status.pending_restart_reason);
		a->status.pending_restart_reason = json_incref(a->pending_restart_reason);
		a->status.checkpoint_after_promote = false;
		znode_set_string(&a->status.replication_state,
				 running && a->last_status.in_recovery
					 ? pg_replication_state_name(a->last_status.replication_state)
					 : NULL);
	}
	{
		const struct znode_config *dynamic = a->dcs ? dcs_cluster(a->dcs)->config : NULL;
		a->status.pause = dynamic && dynamic->pause;	/* Patroni's members say so */
	}
	/* The pod's role label follows what we publish: a Service must send
	 * writes only to the lock holder's running primary. */
	if (a->manages_postgresql) {
		bool serving = running && !a->refused;
		enum kubernetes_role pod_role = KUBERNETES_ROLE_NONE;
		if (serving && !a->last_status.in_recovery && a->dcs && dcs_is_leader(a->dcs))
			pod_role = KUBERNETES_ROLE_PRIMARY;
		else if (serving && a->last_status.in_recovery)
			pod_role = KUBERNETES_ROLE_REPLICA;
		kubernetes_labeler_set_role(a->labeler, pod_role);
	}
	json = member_status_encode(&a->status, err, sizeof(err));
	if (!json) {
		log_error("agent.member_encode_failed", LF_STR("reason", err));
		return;
	}
	dcs_set_member_data(a->dcs, json);
	free(json);
}

/* The leader keeps `status` at its WAL position, which replicas compare
 * against maximum_lag_on_failover. */
static void publish_leader_position(struct agent *a)
{
	char data[128], slot[SLOT_NAME_MAX + 1];
	unsigned long long lsn = a->last_status.flush_lsn;

	if (!dcs_is_leader(a->dcs) || a->last_status.in_recovery ||
	    (int64_t) lsn == a->status_written_lsn)
		return;
	a->status_written_lsn = (int64_t) lsn;
	/* Patroni lists the leader's own slot name there, at its position. */
	slot_name_for_member(a->config->name, slot);
	if (uses_slots(dcs_cluster(a->dcs)))
		snprintf(data, sizeof(data), "{\"optime\":%llu,\"slots\":{\"%s\":%llu}}", lsn, slot, lsn);
	else
		snprintf(data, sizeof(data), "{\"optime\":%llu}", lsn);
	dcs_write(a->dcs, ZNODE_STATUS, data, NULL, NULL);
}

/* ---- the watchdog ------------------------------------------------------ */

/*
 * Armed while we lead and a postmaster runs (a replica holding the lock is
 * about to be promoted), for halfway between our own fencing and the
 * earliest moment ZooKeeper may expire our session: when the agent can, it
 * has stopped PostgreSQL itself by then.  Disarmed once PostgreSQL cannot
 * take writes (no postmaster; a replica while we do not lead) and in
 * pause, where the operator has taken over (Patroni disables its watchdog
 * too).  Otherwise, fenced with PostgreSQL still a primary, the last
 * deadline stands.  While armed, it is moved on several times per session
 * timeout, as the lease is renewed.
 */
void agent_keep_watchdog(struct agent *a)
{
	const struct dcs_cluster *cluster;
	const struct znode_config *dynamic;
	pid_t pid;

	if (!a->watchdog)
		return;
	cluster = dcs_cluster(a->dcs);
	dynamic = cluster_config(cluster);
	pid = actions_postmaster_pid(a);
	if (pid <= 0 || (dynamic && dynamic->pause)) {
		watchdog_disarm(a->watchdog);
	} else if (dcs_is_leader(a->dcs)) {
		int64_t expires = dcs_lease_deadline_ms(a->dcs);
		int64_t fence_at = dcs_fence_at_ms(a->dcs);
		if (expires > 0 && !watchdog_arm(a->watchdog, pid, fence_at + (expires - fence_at) / 2) &&
		    a->config->watchdog.mode == WATCHDOG_MODE_REQUIRED)
			log_error("watchdog.required_unavailable",
				  LF_STR("detail", "the lock will not be taken again while it cannot be armed"));
	} else if (a->monitor_connected && a->last_status.in_recovery) {
		char promote[AGENT_PATH_MAX + 16];
		watchdog_disarm(a->watchdog);
		/* A replica with no promotion asked for (pg_ctl promote leaves
		 * this file until the server acts on it) cannot take writes: an
		 * earlier agent's watchdog has nothing left to guard. */
		snprintf(promote, sizeof(promote), "%s/promote", a->pg.data_dir);
		if (access(promote, F_OK) != 0)
			watchdog_relieve_predecessor(a->watchdog);
	}
	if (watchdog_is_armed(a->watchdog)) {
		int interval = cluster->session_timeout_ms / 8;
		struct timeval tv;

		interval = interval < 50 ? 50 : interval > 500 ? 500 : interval;
		tv.tv_sec = interval / 1000;
		tv.tv_usec = (interval % 1000) * 1000;
		evtimer_add(&a->watchdog_timer, &tv);
	}
}

static void watchdog_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	agent_keep_watchdog(arg);
}

/* ---- callbacks ---------------------------------------------------------- */

static enum dcs_lock_answer on_may_take_lock(void *arg, const struct dcs_cluster *cluster)
{
	struct agent *a = arg;
	struct ha_self self = self_of(a);
	struct ha_candidate *candidates = NULL;
	struct ha_facts facts;
	char reason[HA_REASON_MAX];
	bool allowed;

	/* A member that manages no PostgreSQL only coordinates. */
	if (!a->manages_postgresql)
		return ha_wants_candidacy(&self) ? DCS_LOCK_TAKE : DCS_LOCK_DECLINE;
	gather_facts(a, cluster, &facts, &candidates);
	if (ha_lock_answer_pending(&facts)) {
		free(candidates);
		log_debug("ha.lock_answer_pending",
			  LF_STR("reason", "PostgreSQL was found running: waiting to learn its role"));
		return DCS_LOCK_NOT_YET;
	}
	allowed = ha_may_take_lock(&facts, reason, sizeof(reason));
	free(candidates);
	if (!allowed)
		log_info("ha.may_not_lead", LF_STR("reason", reason));
	return allowed ? DCS_LOCK_TAKE : DCS_LOCK_DECLINE;
}

static void on_leadership_changed(void *arg, bool leader)
{
	struct agent *a = arg;
	(void) leader;
	if (!a->manages_postgresql)
		return;
	agent_publish_status(a);	/* the pod's role label follows the lock */
	agent_keep_watchdog(a);
	actions_on_leadership(a);
	agent_schedule_evaluation(a);
}

static void on_cluster_changed(void *arg)
{
	struct agent *a = arg;
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	const char *leader = cluster->leader ? cluster->leader : "";

	if (cluster->loaded)
		a->dcs_last_seen_s = wall_ms() / 1000;
	if (cluster->loaded && strcmp(leader, a->last_leader) != 0) {
		snprintf(a->last_leader, sizeof(a->last_leader), "%s", leader);
		a->last_leader_change_s = wall_ms() / 1000;
	}
	log_debug("cluster.changed", LF_STR("leader", cluster->leader ? cluster->leader : ""),
		  LF_INT("members", (long long) cluster->member_count),
		  LF_BOOL("connected", cluster->connected));
	agent_schedule_evaluation(a);
}

static void on_pg_status(void *arg, const struct pg_monitor_status *status)
{
	struct agent *a = arg;
	bool changed = !a->monitor_connected || status->in_recovery != a->last_status.in_recovery ||
		       status->timeline != a->last_status.timeline;

	a->last_status = *status;
	a->monitor_connected = true;
	a->has_system_identifier = true;
	a->system_identifier = status->system_identifier;
	/* A former primary stays one until a rewind or a clone replaces its
	 * data: starting it read-only does not make its WAL the leader's. */
	if (!status->in_recovery)
		a->was_primary = true;
	else if (status->replication_state == PG_REPLICATION_STREAMING)
		/* Streaming the leader's WAL: whatever it held of its own is
		 * behind it now. */
		a->was_primary = false;
	note_past_fork(a);
	if (a->pg_state != HA_PG_RUNNING)
		agent_set_pg_state(a, HA_PG_RUNNING);
	callbacks_status(a, status->in_recovery);
	if (changed)
		agent_keep_watchdog(a);
	agent_publish_status(a);
	publish_leader_position(a);
	actions_on_status(a);
	if (changed)
		agent_schedule_evaluation(a);
}

static void on_pg_lost(void *arg, const char *reason)
{
	struct agent *a = arg;
	(void) reason;
	a->monitor_connected = false;
	/* Our own postmaster's exit is reported by its process; one we did
	 * not start (found running) is looked at again. */
	actions_watch_adopted(a);
	if (!a->postmaster && !a->stopping && a->adopted_pid <= 0)
		actions_inspect_data_dir(a);
	agent_keep_watchdog(a);
	agent_publish_status(a);
	agent_schedule_evaluation(a);
}

/* ---- setup -------------------------------------------------------------- */

static bool build_status(struct agent *a)
{
	char url[512];
	const char *pg_address = a->config->postgresql.connect_address
					 ? a->config->postgresql.connect_address
					 : (a->config->postgresql.listen ? a->config->postgresql.listen
									 : "127.0.0.1:5432");
	bool ok = true;

	snprintf(url, sizeof(url), "postgres://%s/postgres", pg_address);
	ok &= znode_set_string(&a->status.conn_url, url);
	snprintf(url, sizeof(url), "http://%s/patroni", a->config->restapi.connect_address);
	ok &= znode_set_string(&a->status.api_url, url);
	ok &= znode_set_string(&a->status.state, "stopped");
	ok &= znode_set_string(&a->status.role, "uninitialized");
	ok &= znode_set_string(&a->status.version, PGHERD_VERSION);
	a->status.tags = json_incref(a->config->tags);
	return ok;
}

/* postgresql.listen is "host[,host]:port" as in Patroni. */
static bool parse_listen(struct agent *a)
{
	const char *listen = a->config->postgresql.listen ? a->config->postgresql.listen
							   : "127.0.0.1:5432";
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;

	if (!colon || (size_t) (colon - listen) >= sizeof(a->listen_host))
		return false;
	memcpy(a->listen_host, listen, (size_t) (colon - listen));
	a->listen_host[colon - listen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return false;
	a->port = (int) port;
	return true;
}

static bool start_monitor(struct agent *a)
{
	static const struct pg_monitor_callbacks callbacks = {
		.status = on_pg_status,
		.lost = on_pg_lost,
	};
	char port[16];
	const char *user = a->config->postgresql.superuser.username
				   ? a->config->postgresql.superuser.username
				   : "postgres";
	snprintf(port, sizeof(port), "%d", a->port);
	const char *keywords[] = { "host", "port", "user", "dbname", "application_name", NULL };
	const char *values[] = { a->runtime_dir, port, user, "postgres", "pgherd", NULL };
	struct pg_monitor_settings settings = {
		.keywords = keywords,
		.values = values,
		.interval_ms = TICK_MS,
		.connect_timeout_ms = 2000,
		.query_timeout_ms = 3000,
	};
	a->monitor = pg_monitor_new(a->base, &settings, &callbacks, a);
	return a->monitor != NULL;
}

static bool setup_postgresql(struct agent *a)
{
	if (!parse_listen(a)) {
		log_error("agent.bad_listen", LF_STR("listen", a->config->postgresql.listen),
			  LF_STR("reason", "postgresql.listen must be host:port"));
		return false;
	}
	/* A private directory next to the data directory for the socket and
	 * the passfile: the socket's trust rule relies on it being ours. */
	if (snprintf(a->runtime_dir, sizeof(a->runtime_dir), "%s.pgherd",
		     a->config->postgresql.data_dir) >= (int) sizeof(a->runtime_dir)) {
		log_error("agent.bad_data_dir", LF_STR("reason", "postgresql.data_dir is too long"));
		return false;
	}
	snprintf(a->passfile, sizeof(a->passfile), "%s/pgpass", a->runtime_dir);
	a->pg = (struct pg_settings){
		.bin_dir = a->config->postgresql.bin_dir ? a->config->postgresql.bin_dir
							 : DEFAULT_BIN_DIR,
		.data_dir = a->config->postgresql.data_dir,
		.port = a->port,
		.socket_dir = a->runtime_dir,
		.listen_addresses = a->listen_host,
	};
	return actions_init(a) && start_monitor(a);
}

struct agent *agent_new(struct event_base *base, struct pgherd_config *config,
			const char *config_path)
{
	static const struct dcs_callbacks callbacks = {
		.cluster_changed = on_cluster_changed,
		.leadership_changed = on_leadership_changed,
		.may_take_lock = on_may_take_lock,
	};
	struct agent *a = calloc(1, sizeof(*a));
	struct dcs_settings settings;
	struct timeval tick = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };

	if (!a) {
		config_free(config);
		return NULL;
	}
	a->base = base;
	a->config = config;
	a->config_path = config_path ? strdup(config_path) : NULL;
	a->started_at_ms = now_ms();
	a->manages_postgresql = config->postgresql.data_dir != NULL;
	a->status_written_lsn = -1;
	event_assign(&a->evaluate_event, base, -1, 0, evaluate_cb, a);
	event_assign(&a->tick, base, -1, EV_PERSIST, tick_cb, a);
	evtimer_assign(&a->watchdog_timer, base, watchdog_timer_cb, a);
	if (!build_status(a)) {
		log_error("agent.out_of_memory", LF_STR("context", "member status"));
		agent_free(a);
		return NULL;
	}
	if (a->manages_postgresql && !setup_postgresql(a)) {
		agent_free(a);
		return NULL;
	}
	if (a->manages_postgresql && config->watchdog.mode != WATCHDOG_MODE_OFF) {
		char pid_file[AGENT_PATH_MAX + 16];
		snprintf(pid_file, sizeof(pid_file), "%s/watchdog.pid", a->runtime_dir);
		a->watchdog = watchdog_new(pid_file);
	}
	if (!a->manages_postgresql)
		log_warning("agent.coordination_only",
			    LF_STR("detail", "no postgresql.data_dir: this member manages no PostgreSQL"));
	settings = (struct dcs_settings){
		.connect_string = config->zookeeper.connect_string,
		.namespace = config->namespace,
		.scope = config->scope,
		.member = config->name,
		.session_timeout_ms = config_session_timeout_ms(config),
	};
	a->dcs = dcs_new(base, &settings, &callbacks, a);
	if (!a->dcs) {
		agent_free(a);
		return NULL;
	}
	/* Without its REST API a member still does its job: say so and go on. */
	a->rest = rest_server_new(base, a);
	/* A label a crashed predecessor left is removed until we know better. */
	a->labeler = kubernetes_labeler_new(base, config, environ);
	kubernetes_labeler_set_role(a->labeler, KUBERNETES_ROLE_NONE);
	if (a->manages_postgresql)
		actions_inspect_data_dir(a);
	agent_publish_status(a);
	struct ha_self self = self_of(a);
	bool candidate = ha_wants_candidacy(&self);
	if (!candidate)
		log_info("election.not_candidate", LF_STR("reason", "nofailover"));
	dcs_set_candidate(a->dcs, candidate);
	event_add(&a->tick, &tick);
	return a;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	event_del(&a->tick);
	event_del(&a->evaluate_event);
	/* The label goes while PostgreSQL stops; we wait for the API server
	 * only after the lock is released, so it never delays the handover. */
	kubernetes_labeler_stop(a->labeler, LABEL_REMOVAL_WAIT_MS, NULL, NULL);
	/* PostgreSQL stops before the session closes: releasing the lock while
	 * our primary still accepts writes would let a second one start. */
	if (a->manages_postgresql)
		actions_shutdown(a);
	event_del(&a->watchdog_timer);
	watchdog_free(a->watchdog);
	a->watchdog = NULL;
	pg_monitor_free(a->monitor);
	a->monitor = NULL;
	dcs_free(a->dcs);
	a->dcs = NULL;
	/* Only now: until the session closed, ZooKeeper may still answer a
	 * request the API made (and the API serves health checks meanwhile). */
	rest_server_free(a->rest);
	a->rest = NULL;
	for (int64_t until = now_ms() + LABEL_REMOVAL_WAIT_MS;
	     !kubernetes_labeler_settled(a->labeler) && now_ms() < until;)
		event_base_loop(a->base, EVLOOP_ONCE);
	kubernetes_labeler_free(a->labeler);
	a->labeler = NULL;
	member_status_clear(&a->status);
	json_decref(a->scheduled_restart);
	config_free(a->config);
	free(a->config_path);
	free(a);
}

bool agent_postgres_version_number(const char *text, int *out)
{
	int major = 0, minor = 0, patch = 0, n = 0;

	if (sscanf(text, "%d.%d.%d%n", &major, &minor, &patch, &n) == 3 && text[n] == '\0') {
		*out = major * 10000 + minor * 100 + patch;
		return true;
	}
	if (sscanf(text, "%d.%d%n", &major, &minor, &n) == 2 && text[n] == '\0') {
		*out = major * 10000 + minor;
		return true;
	}
	return false;
}

bool agent_restart_conditions(const struct agent *a, const char *role,
			      const char *postgres_version, bool restart_pending)
{
	bool leader = dcs_is_leader(a->dcs);
	int version;

	if (role && (strcmp(role, "replica") == 0 ? leader : !leader))
		return false;
	if (restart_pending && !a->pending_restart)
		return false;
	if (postgres_version && (!agent_postgres_version_number(postgres_version, &version) ||
				 a->last_status.server_version >= version))
		return false;
	return true;
}

void agent_schedule_restart(struct agent *a, const json_t *request, int64_t at_wall_ms)
{
	json_decref(a->scheduled_restart);
	a->scheduled_restart = request ? json_deep_copy(request) : NULL;
	a->scheduled_restart_at_ms = request ? at_wall_ms : 0;
	json_decref(a->status.scheduled_restart);
	a->status.scheduled_restart = json_incref(a->scheduled_restart);
	if (request)
		log_info("agent.restart_scheduled",
			 LF_STR("schedule", json_string_value(json_object_get(request, "schedule"))));
	else
		log_info("agent.restart_unscheduled");
	agent_publish_status(a);
}

/* A scheduled restart is due: carried out if its filters still hold
 * (Patroni drops it otherwise) and PostgreSQL is not busy. */
static void run_scheduled_restart(struct agent *a)
{
	const json_t *r = a->scheduled_restart;

	if (!r || wall_ms() < a->scheduled_restart_at_ms || a->action != HA_NOTHING || a->restarting)
		return;
	bool met = agent_restart_conditions(a, json_string_value(json_object_get(r, "role")),
					    json_string_value(json_object_get(r, "postgres_version")),
					    json_is_true(json_object_get(r, "restart_pending")));
	bool started = met && actions_restart(a, NULL, NULL);
	log_info("agent.scheduled_restart", LF_BOOL("conditions_met", met),
		 LF_BOOL("started", started));
	agent_schedule_restart(a, NULL, 0);
}

void agent_log_config_diagnostics(const struct config_diagnostics *diags)
{
	for (size_t i = 0; i < diags->count; i++) {
		const struct config_diagnostic *d = &diags->items[i];
		log_write(d->severity == CONFIG_ERROR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING,
			  d->severity == CONFIG_ERROR ? "config.error" : "config.warning",
			  LOG_FIELDS(LF_STR("file", d->file), LF_INT("line", d->line),
				     LF_STR("key", d->key), LF_STR("reason", d->reason)));
	}
}

#define SWAP(type, x, y) do { type swap_ = (x); (x) = (y); (y) = swap_; } while (0)

void agent_reload(struct agent *a)
{
	struct config_diagnostics diags = { 0 };
	struct pgherd_config *fresh = NULL;
	struct pgherd_config *c = a->config;
	bool ok = config_load_file(a->config_path, environ, &fresh, &diags) &&
		  kubernetes_labels_check_config(fresh, a->config_path, &diags);

	agent_log_config_diagnostics(&diags);
	config_diagnostics_clear(&diags);
	if (!ok) {
		log_error("agent.reload_failed",
			  LF_STR("reason", "invalid configuration: the running one stays"));
		return;
	}
	/* Who we are and where we run need a restart of the agent. */
	if (strcmp(fresh->scope, c->scope) != 0 || strcmp(fresh->name, c->name) != 0 ||
	    strcmp(fresh->zookeeper.connect_string, c->zookeeper.connect_string) != 0 ||
	    (fresh->postgresql.data_dir == NULL) != (c->postgresql.data_dir == NULL) ||
	    (c->postgresql.data_dir && strcmp(fresh->postgresql.data_dir, c->postgresql.data_dir) != 0) ||
	    fresh->kubernetes_labels.enabled != c->kubernetes_labels.enabled ||
	    strcmp(fresh->kubernetes_labels.role_label, c->kubernetes_labels.role_label) != 0)
		log_warning("agent.reload_partial",
			    LF_STR("detail", "scope, name, zookeeper.hosts, postgresql.data_dir and "
					     "kubernetes_labels change only when the agent restarts"));
	SWAP(json_t *, c->postgresql.parameters, fresh->postgresql.parameters);
	SWAP(char **, c->postgresql.pg_hba, fresh->postgresql.pg_hba);
	SWAP(size_t, c->postgresql.n_pg_hba, fresh->postgresql.n_pg_hba);
	SWAP(json_t *, c->tags, fresh->tags);
	SWAP(char *, c->restapi.username, fresh->restapi.username);
	SWAP(char *, c->restapi.password, fresh->restapi.password);
	c->log = fresh->log;
	config_free(fresh);
	log_set_level(c->log.level);
	log_set_format(c->log.format);
	set_published_tags(a);	/* with nosync while a restart asks for it */
	/* Rewrite postgresql.conf and pg_hba.conf and reload PostgreSQL. */
	json_decref(a->applied_parameters);
	a->applied_parameters = NULL;
	if (a->manages_postgresql)
		actions_apply_parameters(a);
	agent_publish_status(a);
	log_info("agent.reloaded", LF_STR("config", a->config_path ? a->config_path : "(environment)"));
}
