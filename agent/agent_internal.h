/*
 * The agent's state, shared by agent.c (facts, decisions, member status)
 * and actions.c (carrying out one decided action with pg/ and dcs/).
 * Internal to agent/.
 */
#ifndef PGHERD_AGENT_INTERNAL_H
#define PGHERD_AGENT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event_struct.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/ha.h"
#include "agent/sync.h"
#include "dcs/dcs.h"
#include "pg/monitor.h"
#include "pg/process.h"
#include "pg/tools.h"

#define AGENT_PATH_MAX 1024

/* Steps of a bootstrap, which spans several jobs and ZooKeeper writes. */
enum bootstrap_step {
	BOOTSTRAP_NONE,
	BOOTSTRAP_RACING,	/* creating `initialize` */
	BOOTSTRAP_INITDB,
	BOOTSTRAP_STARTING,	/* postmaster started, waiting for the monitor */
	BOOTSTRAP_ROLES,	/* creating the replication role */
	BOOTSTRAP_POST,		/* bootstrap.post_bootstrap runs */
	BOOTSTRAP_PUBLISHING,	/* initialize, config, then the lock */
};

struct rest_server;
struct kubernetes_labeler;
struct watchdog;

struct agent {
	struct event_base *base;
	struct pgherd_config *config;
	struct dcs *dcs;
	struct member_status status;	/* what members/<name> says about us */
	bool manages_postgresql;	/* postgresql.data_dir is set */

	/* Paths and settings derived from the configuration. */
	char runtime_dir[AGENT_PATH_MAX];	/* socket, passfile: private to us */
	char passfile[AGENT_PATH_MAX + 16];
	char listen_host[256];
	int port;
	struct pg_settings pg;
	struct pg_monitor *monitor;

	/* What we know of our PostgreSQL (facts for the policy). */
	enum ha_pg_state pg_state;
	int64_t pg_state_since_ms;
	bool was_primary;
	bool has_system_identifier;
	uint64_t system_identifier;
	uint32_t checkpoint_timeline;	/* pg_controldata's, 0 when not inspected */
	/* pg_controldata said "shut down": the WAL ends with the shutdown
	 * checkpoint at checkpoint_lsn. */
	bool clean_shutdown;
	uint64_t checkpoint_lsn;
	bool rewind_failed;		/* the last pg_rewind failed */
	/* Since when our replica has replayed past the point where the
	 * leader's timeline forked off its own (0: it has not). */
	int64_t past_fork_since_ms;
	bool monitor_connected;
	struct pg_monitor_status last_status;
	char following[ZNODE_NAME_MAX + 1];	/* "" when none */
	struct pg_process *postmaster;
	pid_t adopted_pid;		/* a postmaster left running that we adopted, 0 none */
	int64_t demote_blocked_until_ms;	/* a demote found nothing to stop */
	int64_t started_at_ms;
	bool stopping;			/* we asked the postmaster to stop */

	/* The action being carried out. */
	enum ha_action action;
	struct pg_process *job;
	enum bootstrap_step bootstrap;
	int64_t retry_after_ms;		/* back off after a failed action */
	/* After a failed bootstrap this member stands back from the race for a
	 * while, so that a member whose configuration works gets its turn. */
	int64_t bootstrap_blocked_until_ms;
	int64_t bootstrap_backoff_ms;	/* doubles with each failure */
	/* A primary that gave the lock up after a crash stays down until
	 * another member leads (or this passes): otherwise it restarts at once,
	 * holds the most WAL, and takes the lock back. */
	int64_t stand_down_until_ms;
	char rewind_source_url[512];	/* the leader's conn_url, for pg_rewind */
	char reinitialize_from[ZNODE_NAME_MAX + 1];	/* the member to clone again */
	/* Cloning: the source member ("" none: a no_leader method), and which
	 * of postgresql.create_replica_methods runs. */
	char clone_source[ZNODE_NAME_MAX + 1];
	size_t clone_method_index;
	char clone_method[128];

	/* A restart asked for through the REST API: the policy stands aside
	 * while PostgreSQL stops and starts again with the same role. */
	bool restarting;
	void (*restart_done)(void *arg, bool ok);
	void *restart_done_arg;
	/* Synchronous mode: before a replica's restart stops PostgreSQL, it
	 * publishes nosync and waits (leaving_sync) until `sync` no longer
	 * counts on it, or until leaving_sync_deadline_ms.  nosync stays in its
	 * tags until the restart is over (sync.h, sync_release_state()). */
	bool leaving_sync;
	bool nosync_for_restart;
	int64_t leaving_sync_since_ms;
	int64_t leaving_sync_deadline_ms;
	/* Parameters changed that only a restart applies (from pg_settings). */
	bool pending_restart;
	json_t *pending_restart_reason;	/* {name: {old_value, new_value}} or NULL */
	json_t *applied_parameters;	/* the cluster parameters last written */
	/* POST /restart with a schedule: {"schedule", and the filters}, due at
	 * scheduled_restart_at_ms on the wall clock.  NULL when none. */
	json_t *scheduled_restart;
	int64_t scheduled_restart_at_ms;
	struct pg_process *settings_job;	/* the pending_restart query */
	int64_t pending_restart_check_at_ms;	/* 0: none due */

	/* The data directory belongs to another cluster: never ours to run. */
	bool refused;
	bool shutting_down;		/* no more decisions: PostgreSQL is being stopped */

	/* Physical slots for the members that stream from us (see slots.h),
	 * kept by their own job so that they never hold up an HA action. */
	struct pg_process *slot_job;
	char *slots_applied;		/* the script that last succeeded, or NULL */
	char *slots_running;		/* the script slot_job runs */
	int64_t slots_retry_after_ms;

	/* The loop. */
	struct event evaluate_event;
	struct event tick;
	char last_decision[HA_REASON_MAX + 32];
	int64_t loop_last_run_ms;	/* for /liveness */
	int64_t dcs_last_seen_s;	/* Unix time of the last cluster view, 0 never */
	int64_t last_leader_change_s;	/* Unix time the leader last changed, 0 unknown */
	char last_leader[ZNODE_NAME_MAX + 1];
	char *config_path;		/* re-read on SIGHUP and POST /reload; NULL: environment */
	struct rest_server *rest;
	struct kubernetes_labeler *labeler;	/* NULL: not labelling pods */
	/* Kills PostgreSQL if the lease runs out while it may take writes
	 * (agent/watchdog.h); NULL when off or it could not start. */
	struct watchdog *watchdog;
	struct event watchdog_timer;

	/* Synchronous mode (agent/sync.h): what we last wrote to
	 * synchronous_standby_names; sync_configured_set false: nothing. */
	bool sync_configured_set;
	bool sync_configured_star;
	char *sync_configured[SYNC_MAX_STANDBYS];
	size_t n_sync_configured;
	int64_t sync_written_at_ms;	/* the last `sync` write, not yet in the view */

	/* Callbacks (agent/callbacks.h). */
	struct pg_process *callback_job;
	bool callback_start_pending;	/* we started PostgreSQL: announce it */
	char callback_role[16];		/* the role last announced, "" none */
	/* pre_promote failed: out of the race for the lock until then. */
	int64_t promotion_backoff_until_ms;
	int64_t status_written_lsn;
};

/* "15.4" -> 150004, "9.6.24" -> 90624: server_version_num of Patroni's
 * X.Y or X.Y.Z. */
bool agent_postgres_version_number(const char *text, int *out);
/* Patroni's restart filters: role ("master"/"primary" = the lock holder,
 * "replica"), restart only if the running version is older than
 * postgres_version, only if a parameter waits for a restart.  NULL / false
 * filters nothing. */
bool agent_restart_conditions(const struct agent *agent, const char *role,
			      const char *postgres_version, bool restart_pending);
/* Remember a scheduled restart (request: the POST body, copied), or with
 * NULL forget it; published in our member znode either way. */
void agent_schedule_restart(struct agent *agent, const json_t *request, int64_t at_wall_ms);
/* Ask for a new decision soon (coalesced to one per loop turn). */
void agent_schedule_evaluation(struct agent *agent);
void agent_set_pg_state(struct agent *agent, enum ha_pg_state state);
/* Re-publish members/<name> from what we know now. */
void agent_publish_status(struct agent *agent);
/* Tell the watchdog the lease deadline, or that PostgreSQL cannot take
 * writes any more (agent.c has the rule).  Called whenever either moves. */
void agent_keep_watchdog(struct agent *agent);
/* A restart is about to stop PostgreSQL: in synchronous mode a replica
 * first publishes nosync.  True when it now waits for the leader to let it
 * go (agent.c then calls actions_restart_released()); false when it need
 * not wait. */
bool agent_leave_sync_before_restart(struct agent *agent);
/* The restart is over: the temporary nosync tag goes. */
void agent_restart_over(struct agent *agent, bool ok);

/* actions.c */
bool actions_init(struct agent *agent);
void actions_shutdown(struct agent *agent);
/* Carry out a decision; the action stays in agent->action until it is done. */
void actions_execute(struct agent *agent, const struct ha_decision *decision,
		     const struct dcs_cluster *cluster);
/* A monitor report arrived; bootstrap waits for one. */
void actions_on_status(struct agent *agent);
/* The lock changed hands; bootstrap finishes when we hold it. */
void actions_on_leadership(struct agent *agent);
/* Our timeline, from the running server or the last inspection. */
uint32_t agent_local_timeline(const struct agent *agent);
/* Restart PostgreSQL in place; done(arg, ok) once it runs again (or
 * failed).  False when it cannot start now (not running, busy). */
bool actions_restart(struct agent *agent, void (*done)(void *arg, bool ok), void *arg);
/* The wait of agent_leave_sync_before_restart() is over: stop PostgreSQL
 * now (go_on), or give the restart up as failed. */
void actions_restart_released(struct agent *agent, bool go_on);
/* The caller of actions_restart() went away: do not call it back. */
void actions_cancel_restart_callback(struct agent *agent);
/* Rewrite postgresql.conf with the synchronous standbys of `decision`
 * (or none, with NULL) and reload. */
bool actions_set_synchronous_standbys(struct agent *agent, const struct sync_decision *decision);
/* No longer the primary: what we wrote there does not hold any more. */
void actions_forget_synchronous_standbys(struct agent *agent);
/* Rewrite postgresql.conf and reload when `config`'s parameters changed;
 * then look at which need a restart (actions_check_pending_restart). */
void actions_apply_parameters(struct agent *agent);
void actions_check_pending_restart(struct agent *agent);
/* Run a slot script (slots_sync_sql()); on success it becomes
 * agent->slots_applied.  Returns false when it cannot be started. */
bool actions_sync_slots(struct agent *agent, const char *sql);
/* An adopted postmaster is not our child: its exit is noticed here (on
 * each tick and when the monitor loses it), as a child's is by SIGCHLD. */
void actions_watch_adopted(struct agent *agent);
/* The running postmaster's pid, our child's or the adopted one's; 0 none. */
pid_t actions_postmaster_pid(const struct agent *agent);
/* Look at the data directory (at start and after actions). */
void actions_inspect_data_dir(struct agent *agent);

#endif
