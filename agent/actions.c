/*
 * Carrying out the HA policy's decisions with pg/ and dcs/.
 *
 * Each decided action is one asynchronous step: a child process (initdb,
 * pg_basebackup, pg_ctl, psql), a signal to the postmaster, or a ZooKeeper
 * write.  agent->action names the step until its completion comes back to
 * the loop, which then asks the policy again.  Nothing here blocks the loop
 * except the shutdown, which waits for PostgreSQL to stop.
 *
 * The postmaster is our own child (not started by pg_ctl): its death reaches
 * us at once through SIGCHLD, with no pid file to trust.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/agent_internal.h"
#include "agent/callbacks.h"
#include "agent/log.h"
#include "agent/slots.h"
#include "agent/watchdog.h"
#include "pg/conf.h"

#define INITDB_DEADLINE_MS (120 * 1000)
#define CLONE_DEADLINE_MS (3600 * 1000)
#define PROMOTE_DEADLINE_S 60
#define PSQL_DEADLINE_MS (60 * 1000)
#define RETRY_AFTER_FAILURE_MS 3000
#define SHUTDOWN_WAIT_MS (60 * 1000)
#define BEFORE_STOP_DEADLINE_MS (10 * 1000)
#define BOOTSTRAP_BACKOFF_MS (30 * 1000)
/* Each failed attempt keeps its data directory aside: a configuration that
 * can never work must not fill the disk. */
#define BOOTSTRAP_BACKOFF_MAX_MS (3600 * 1000)

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *superuser(const struct agent *a)
{
	return a->config->postgresql.superuser.username ? a->config->postgresql.superuser.username
							: "postgres";
}

static const char *replication_user(const struct agent *a)
{
	return a->config->postgresql.replication.username
		       ? a->config->postgresql.replication.username
		       : "replicator";
}

static void finish_action(struct agent *a, bool ok, const char *what)
{
	if (!ok) {
		a->retry_after_ms = now_ms() + RETRY_AFTER_FAILURE_MS;
		log_warning("ha.action_failed", LF_STR("action", ha_action_name(a->action)),
			    LF_STR("detail", what), LF_INT("retry_in_ms", RETRY_AFTER_FAILURE_MS));
	}
	a->action = HA_NOTHING;
	agent_publish_status(a);
	agent_schedule_evaluation(a);
}

/* ---- the data directory -------------------------------------------------- */

static bool data_dir_has(const struct agent *a, const char *file);

static void controldata_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	struct pg_controldata control;
	char err[256];

	a->job = NULL;
	if (result->exit_code != 0 || !result->output ||
	    !pg_controldata_parse(result->output, &control, err, sizeof(err))) {
		log_error("pg.inspect_failed", LF_STR("data_dir", a->pg.data_dir),
			  LF_STR("reason", result->exit_code != 0 ? "pg_controldata failed" : err));
		agent_set_pg_state(a, HA_PG_UNKNOWN);
		return;
	}
	a->has_system_identifier = true;
	a->system_identifier = control.system_identifier;
	/* A primary that stopped or crashed says so in pg_control, but so does
	 * a fresh base backup (pg_control copied from the primary): a
	 * backup_label or standby.signal tells it is not one. */
	a->was_primary = (control.state == PG_CLUSTER_IN_PRODUCTION ||
			  control.state == PG_CLUSTER_SHUTTING_DOWN ||
			  control.state == PG_CLUSTER_IN_CRASH_RECOVERY ||
			  control.state == PG_CLUSTER_SHUT_DOWN) &&
			 !data_dir_has(a, "backup_label") && !data_dir_has(a, "standby.signal");
	a->checkpoint_timeline = control.checkpoint_timeline;
	a->clean_shutdown = control.state == PG_CLUSTER_SHUT_DOWN;
	a->checkpoint_lsn = control.checkpoint_lsn;
	log_info("pg.inspected", LF_STR("data_dir", a->pg.data_dir),
		 LF_STR("state", pg_cluster_state_name(control.state)),
		 LF_INT("timeline", control.checkpoint_timeline), LF_BOOL("was_primary", a->was_primary));
	agent_set_pg_state(a, HA_PG_STOPPED);
	agent_schedule_evaluation(a);
}

static bool data_dir_has(const struct agent *a, const char *file)
{
	char path[AGENT_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/%s", a->pg.data_dir, file);
	return access(path, F_OK) == 0;
}

/* A pid that is alive: not gone, and not a zombie waiting to be reaped
 * (kill(pid, 0) succeeds on those). */
static bool process_alive(pid_t pid)
{
	char path[64], stat[256], *after_name;
	char state = '?';
	FILE *f;

	if (pid <= 0 || kill(pid, 0) != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;	/* no /proc: trust kill() */
	if (fgets(stat, sizeof(stat), f) && (after_name = strrchr(stat, ')')) != NULL)
		(void) sscanf(after_name + 1, " %c", &state);
	fclose(f);
	return state != 'Z' && state != 'X';
}

/* The pid of a live postmaster of our data directory that is not our child
 * (left running by an earlier agent, and adopted), or 0. */
static pid_t postmaster_elsewhere(const struct agent *a)
{
	char path[AGENT_PATH_MAX + 32];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/postmaster.pid", a->pg.data_dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid > 0 && process_alive((pid_t) pid) ? (pid_t) pid : 0;
}

/* Our postmaster, or the adopted one: the same signals stop and reload
 * both.  False when there is none to signal. */
static bool postmaster_signal(struct agent *a, int sig)
{
	if (a->postmaster)
		return pg_process_signal(a->postmaster, sig);
	if (a->adopted_pid > 0 && process_alive(a->adopted_pid))
		return kill(a->adopted_pid, sig) == 0;
	return false;
}

static bool has_postmaster(const struct agent *a)
{
	return a->postmaster != NULL || (a->adopted_pid > 0 && process_alive(a->adopted_pid));
}

pid_t actions_postmaster_pid(const struct agent *a)
{
	if (a->postmaster)
		return pg_process_pid(a->postmaster);
	if (a->adopted_pid > 0 && process_alive(a->adopted_pid))
		return a->adopted_pid;
	return 0;
}

void actions_inspect_data_dir(struct agent *a)
{
	char err[256];
	char **argv;
	static const char *const env[] = { PG_TOOLS_C_LOCALE, NULL };

	if (a->job || a->postmaster)
		return;
	switch (pg_data_dir_state(a->pg.data_dir, err, sizeof(err))) {
	case PG_DATA_DIR_MISSING:
	case PG_DATA_DIR_EMPTY:
		a->has_system_identifier = false;
		agent_set_pg_state(a, HA_PG_NO_DATA);
		return;
	case PG_DATA_DIR_CLUSTER:
		break;
	case PG_DATA_DIR_OTHER:
		log_error("pg.data_dir_unusable", LF_STR("data_dir", a->pg.data_dir),
			  LF_STR("reason", "the directory holds files but no PostgreSQL cluster; pgherd will not touch it"));
		agent_set_pg_state(a, HA_PG_UNKNOWN);
		return;
	case PG_DATA_DIR_ERROR:
		log_error("pg.data_dir_unusable", LF_STR("data_dir", a->pg.data_dir),
			  LF_STR("reason", err));
		agent_set_pg_state(a, HA_PG_UNKNOWN);
		return;
	}
	if ((a->adopted_pid = postmaster_elsewhere(a)) > 0) {
		/* Left running by an earlier agent: the monitor adopts it, and
		 * actions_watch_adopted() notices when it is gone. */
		log_info("pg.found_running", LF_STR("data_dir", a->pg.data_dir));
		agent_set_pg_state(a, HA_PG_STARTING);
		pg_monitor_wake(a->monitor);
		return;
	}
	argv = pg_controldata_argv(&a->pg);
	struct pg_process_options options = { .tool = "pg_controldata", .argv = argv,
					      .env = env, .deadline_ms = 30000,
					      .keep_output = true };
	a->job = argv ? pg_process_start(a->base, &options, controldata_done, a) : NULL;
	pg_argv_free(argv);
	if (!a->job)
		agent_set_pg_state(a, HA_PG_UNKNOWN);
}

/* ---- the postmaster ------------------------------------------------------ */

static void bootstrap_failed(struct agent *a, const char *why);
static void hand_over_lock(struct agent *a);
static void reinitialize_stopped(struct agent *a);
static void restart_stopped(struct agent *a);
static void restart_finish(struct agent *a, bool ok);

static void postmaster_exited(struct agent *a, int exit_code, int signal_number);

static void postmaster_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	a->postmaster = NULL;
	postmaster_exited(a, result->exit_code, result->signal);
}

void actions_watch_adopted(struct agent *a)
{
	if (a->postmaster || a->adopted_pid <= 0 || process_alive(a->adopted_pid))
		return;
	log_info("pg.adopted_exited", LF_INT("pid", a->adopted_pid));
	a->adopted_pid = 0;
	postmaster_exited(a, -1, 0);
}

static void postmaster_exited(struct agent *a, int exit_code, int signal_number)
{
	bool asked = a->stopping;

	a->stopping = false;
	a->monitor_connected = false;
	if (asked && !a->restarting)
		callbacks_stopped(a);
	if (asked) {
		agent_set_pg_state(a, HA_PG_STOPPED);
	} else if (a->pg_state == HA_PG_STARTING) {
		log_error("pg.start_failed", LF_INT("exit_code", exit_code),
			  LF_INT("signal", signal_number));
		agent_set_pg_state(a, HA_PG_START_FAILED);
	} else {
		log_error("pg.crashed", LF_INT("exit_code", exit_code),
			  LF_INT("signal", signal_number));
		agent_set_pg_state(a, HA_PG_CRASHED);
	}
	if (a->action == HA_DEMOTE) {
		if (dcs_holds_lock(a->dcs))
			dcs_release_leadership(a->dcs);
		finish_action(a, true, "stopped");
	} else if (a->action == HA_SWITCHOVER) {
		hand_over_lock(a);
	} else if (a->action == HA_REINITIALIZE && asked) {
		reinitialize_stopped(a);
	} else if (a->restarting && asked) {
		restart_stopped(a);
	} else if (a->restarting) {
		restart_finish(a, false);
	} else if (a->action == HA_BOOTSTRAP && !asked) {
		/* The new cluster cannot start (a pg_hba line PostgreSQL rejects,
		 * say): give the bootstrap up so another member can try. */
		bootstrap_failed(a, "PostgreSQL exited while starting the new cluster");
	} else if (a->action == HA_START_PRIMARY || a->action == HA_START_REPLICA) {
		finish_action(a, false, "PostgreSQL exited while starting");
	}
}

/*
 * The second half of a switchover: PostgreSQL stopped cleanly, and a fast
 * shutdown ends only once the streaming replicas have every byte of WAL, the
 * shutdown checkpoint included.  Record that last position in `status`,
 * then release the lock: the candidate's watch fires at once and it takes
 * over.  We stay down until someone leads, then follow them.
 */
static void hand_over_lock(struct agent *a)
{
	char data[64];

	snprintf(data, sizeof(data), "{\"optime\":%llu}",
		 (unsigned long long) a->last_status.flush_lsn);
	if (dcs_is_leader(a->dcs))
		dcs_write(a->dcs, ZNODE_STATUS, data, NULL, NULL);
	if (dcs_holds_lock(a->dcs))
		dcs_release_leadership(a->dcs);
	a->stand_down_until_ms = now_ms() + 2 * (int64_t) config_session_timeout_ms(a->config);
	log_info("ha.switchover_released", LF_INT("optime", (long long) a->last_status.flush_lsn));
	/* Whether it may simply follow the new leader depends on where its WAL
	 * ends (agent.c, diverged_from_leader): wait for pg_controldata. */
	agent_set_pg_state(a, HA_PG_UNKNOWN);
	actions_inspect_data_dir(a);
	finish_action(a, true, "handed over");
}

static void switchover_stop(struct agent *a);
static bool run_job(struct agent *a, const char *tool, char **argv, int deadline_ms,
		    pg_process_done_fn done);

static void before_stop_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	a->job = NULL;
	log_info("pg.before_stop_done", LF_INT("exit_code", result->exit_code));
	if (a->action == HA_SWITCHOVER)
		switchover_stop(a);
}

/* Patroni's before_stop hook, as a job; false when there is none to run. */
static bool run_before_stop(struct agent *a)
{
	const char *command = a->config->postgresql.before_stop;
	return command && run_job(a, "before_stop", callbacks_argv(command, NULL),
				  BEFORE_STOP_DEADLINE_MS, before_stop_done);
}

/* The first half of a switchover: before_stop, then a fast shutdown
 * (SIGINT) with the shutdown checkpoint that makes a clean stop. */
static void switchover(struct agent *a)
{
	if (!run_before_stop(a))
		switchover_stop(a);
}

static void switchover_stop(struct agent *a)
{
	if (!postmaster_signal(a, SIGINT)) {
		finish_action(a, false, "PostgreSQL is not our running child: cannot stop it");
		return;
	}
	log_info("pg.stopping", LF_STR("mode", "fast"), LF_STR("reason", "switchover"));
	a->stopping = true;
	agent_set_pg_state(a, HA_PG_STOPPING);
}

/* primary_conninfo and the clone source: the target member's conn_url. */
static bool source_conninfo(const struct agent *a, const struct dcs_cluster *cluster,
			    const char *target, char *buf, size_t size)
{
	const char *url = NULL;
	char host[256], port[16];

	for (size_t i = 0; target && i < cluster->member_count; i++)
		if (strcmp(cluster->members[i].name, target) == 0 && cluster->members[i].valid)
			url = cluster->members[i].status.conn_url;
	if (!url || sscanf(url, "postgres://%255[^:/]:%15[0-9]", host, port) != 2)
		return false;
	/* connect_timeout: a leader that accepts TCP but never answers (frozen)
	 * must fail the clone, not hang it. */
	return pg_conninfo_build(buf, size, "host", host, "port", port, "user",
				 replication_user(a), "passfile", a->passfile, "application_name",
				 a->config->name, "connect_timeout", "5", (const char *) NULL);
}

/* The cluster's parameters: `config`'s postgresql.parameters once the
 * cluster has one (PATCH /config, edit-config), else bootstrap.dcs's. */
static const json_t *cluster_parameters(const struct agent *a)
{
	const struct znode_config *dynamic = dcs_cluster(a->dcs)->config;
	return dynamic && dynamic->parameters ? dynamic->parameters : a->config->dcs.parameters;
}

static bool write_configuration(struct agent *a, const char *primary_conninfo, bool standby)
{
	char err[PG_CONF_ERR_MAX];
	char slot[SLOT_NAME_MAX + 1];
	const struct znode_config *dynamic = dcs_cluster(a->dcs)->config;

	char standby_names[1024] = "";
	/* The leader keeps this slot for us (agent.c, keep_replication_slots). */
	slot_name_for_member(a->config->name, slot);
	/* A standby ignores it; one about to be promoted needs it from its
	 * first commit (promote()). */
	if (a->sync_configured_set) {
		struct sync_decision d = { .star = a->sync_configured_star };
		for (size_t i = 0; i < a->n_sync_configured; i++)
			d.names[d.n_names++] = a->sync_configured[i];
		(void) sync_standby_names(&d, standby_names, sizeof(standby_names));
	}
	struct pg_conf_settings settings = {
		.data_dir = a->pg.data_dir,
		.listen_addresses = a->listen_host,
		.port = a->port,
		.socket_dir = a->runtime_dir,
		.cluster_name = a->config->scope,
		.cluster_parameters = cluster_parameters(a),
		.local_parameters = a->config->postgresql.parameters,
		.primary_conninfo = primary_conninfo,
		.primary_slot_name = !dynamic || dynamic->use_slots ? slot : NULL,
		.synchronous_standby_names = a->sync_configured_set ? standby_names : NULL,
		.hba_lines = (const char *const *) a->config->postgresql.pg_hba,
		.hba_line_count = a->config->postgresql.n_pg_hba,
		.superuser = superuser(a),
		.replication_user = replication_user(a),
	};
	if (!pg_conf_write_postgresql(&settings, err, sizeof(err)) ||
	    !pg_conf_write_hba(&settings, err, sizeof(err)) ||
	    !pg_conf_set_standby(a->pg.data_dir, standby, err, sizeof(err))) {
		log_error("pg.configuration_failed", LF_STR("reason", err));
		return false;
	}
	json_decref(a->applied_parameters);
	a->applied_parameters = json_deep_copy(cluster_parameters(a));
	return true;
}

static bool start_postmaster(struct agent *a)
{
	char **argv = pg_postmaster_argv(&a->pg);
	struct pg_process_options options = { .tool = "postgres", .argv = argv };

	a->postmaster = argv ? pg_process_start(a->base, &options, postmaster_done, a) : NULL;
	pg_argv_free(argv);
	if (!a->postmaster)
		return false;
	if (!a->restarting)
		callbacks_starting(a);
	agent_set_pg_state(a, HA_PG_STARTING);
	pg_monitor_wake(a->monitor);
	return true;
}

/*
 * Synchronous mode: what synchronous_standby_names must say from the first
 * moment this member runs as a primary, before the leader's loop manages it
 * (chaos finding F8).  The standbys `sync` names when it names us as its
 * leader (they have every commit we acknowledged); else none, which strict
 * mode spells '*' (commits wait for any standby).  Nothing when synchronous
 * mode is off or we already manage it.
 */
static void prepare_synchronous_standbys(struct agent *a, const struct dcs_cluster *cluster,
					 bool keep_published)
{
	const struct znode_config *dynamic = cluster->config;
	struct sync_decision d = { .star = dynamic && dynamic->synchronous_mode_strict };
	const struct znode_sync *sync = cluster->sync;

	if (!dynamic || !dynamic->synchronous_mode || a->sync_configured_set)
		return;
	if (keep_published && sync && sync->leader && strcmp(sync->leader, a->config->name) == 0)
		for (size_t i = 0; i < sync->n_standbys && d.n_names < SYNC_MAX_STANDBYS; i++)
			d.names[d.n_names++] = sync->standbys[i];
	if (d.n_names > 0)
		d.star = false;
	a->sync_configured_set = true;
	a->sync_configured_star = d.star;
	for (size_t i = 0; i < d.n_names; i++)
		if ((a->sync_configured[a->n_sync_configured] = strdup(d.names[i])) != NULL)
			a->n_sync_configured++;
}

static void start(struct agent *a, const struct ha_decision *d, const struct dcs_cluster *cluster)
{
	char conninfo[1024];
	bool replica = d->action == HA_START_REPLICA;

	/* A primary started again in place (after a crash, a fence) keeps
	 * its synchronous standbys from its first commit on. */
	if (!replica)
		prepare_synchronous_standbys(a, cluster, true);
	if (replica && d->target && !source_conninfo(a, cluster, d->target, conninfo, sizeof(conninfo))) {
		finish_action(a, false, "cannot build a connection to the leader from its conn_url");
		return;
	}
	snprintf(a->following, sizeof(a->following), "%s", replica && d->target ? d->target : "");
	if (!write_configuration(a, replica && d->target ? conninfo : NULL, replica) ||
	    !start_postmaster(a))
		finish_action(a, false, "cannot start PostgreSQL");
}

/* ---- jobs ------------------------------------------------------------------ */

static bool run_job(struct agent *a, const char *tool, char **argv, int deadline_ms,
		    pg_process_done_fn done)
{
	char passfile_env[sizeof(a->passfile) + 16];
	snprintf(passfile_env, sizeof(passfile_env), "PGPASSFILE=%s", a->passfile);
	const char *env[] = { passfile_env, PG_TOOLS_C_LOCALE, NULL };
	struct pg_process_options options = { .tool = tool, .argv = argv, .env = env,
					      .deadline_ms = deadline_ms };

	a->job = argv ? pg_process_start(a->base, &options, done, a) : NULL;
	pg_argv_free(argv);
	return a->job != NULL;
}

/* psql for the few statements the agent runs: no password on the command
 * line, the socket is private and trusted. */
static char **psql_argv(const struct agent *a, const char *file_or_command, bool is_file)
{
	char path[AGENT_PATH_MAX + 16], port[16];
	snprintf(path, sizeof(path), "%s/psql", a->pg.bin_dir);
	snprintf(port, sizeof(port), "%d", a->port);
	const char *args[] = { path, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", a->runtime_dir, "-p",
			       port, "-U", superuser(a), "-d", "postgres",
			       is_file ? "-f" : "-c", file_or_command, NULL };
	size_t n = sizeof(args) / sizeof(args[0]);
	char **argv = calloc(n, sizeof(*argv));
	for (size_t i = 0; argv && i + 1 < n; i++)
		if ((argv[i] = strdup(args[i])) == NULL) {
			pg_argv_free(argv);
			return NULL;
		}
	return argv;
}

/* A method's own keys become --key=value arguments, as Patroni passes
 * them (command, keep_data and no_leader are Patroni's, not the method's). */
static char **method_argv(const json_t *section, const char *const *fixed)
{
	const char *extra[64];
	char values[48][256];
	size_t n = 0, formatted = 0;
	const char *key;
	json_t *value;

	for (size_t i = 0; fixed[i] && n < 16; i++)
		extra[n++] = fixed[i];
	json_object_foreach((json_t *) section, key, value) {
		char text[200];
		if (strcmp(key, "command") == 0 || strcmp(key, "keep_data") == 0 ||
		    strcmp(key, "no_leader") == 0 || formatted >= 48 || n >= 63)
			continue;
		if (json_is_string(value))
			snprintf(text, sizeof(text), "%s", json_string_value(value));
		else if (!pg_conf_format_value(value, text, sizeof(text)))
			continue;
		snprintf(values[formatted], sizeof(values[formatted]), "--%s=%s", key, text);
		extra[n++] = values[formatted++];
	}
	extra[n] = NULL;
	return callbacks_argv(json_string_value(json_object_get(section, "command")), extra);
}

static void try_next_replica_method(struct agent *a);

static void cloned(struct agent *a, const char *method)
{
	log_info("pg.cloned", LF_STR("data_dir", a->pg.data_dir), LF_STR("method", method));
	a->was_primary = false;
	a->past_fork_since_ms = 0;
	/* Unknown until pg_controldata has looked: the policy waits meanwhile
	 * instead of cloning again into a full directory. */
	agent_set_pg_state(a, HA_PG_UNKNOWN);
	actions_inspect_data_dir(a);
	finish_action(a, true, "cloned");
}

static void clone_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	const char *method = a->clone_method;
	char err[256], aside[AGENT_PATH_MAX + 64];
	json_t *section = json_object_get(a->config->postgresql.replica_methods, method);

	a->job = NULL;
	if (result->exit_code == 0 &&
	    pg_data_dir_state(a->pg.data_dir, err, sizeof(err)) == PG_DATA_DIR_CLUSTER) {
		cloned(a, method);
		return;
	}
	log_warning("pg.replica_method_failed", LF_STR("method", method),
		    LF_INT("exit_code", result->exit_code));
	/* What the method left is kept aside, not deleted, unless it asked to
	 * keep its data; the next method starts from an empty directory. */
	if (!json_is_true(json_object_get(section, "keep_data")) &&
	    pg_data_dir_state(a->pg.data_dir, err, sizeof(err)) != PG_DATA_DIR_MISSING &&
	    pg_data_dir_state(a->pg.data_dir, err, sizeof(err)) != PG_DATA_DIR_EMPTY) {
		snprintf(aside, sizeof(aside), "%s.failed-%lld", a->pg.data_dir, (long long) time(NULL));
		if (rename(a->pg.data_dir, aside) == 0)
			log_info("pg.data_dir_moved_aside", LF_STR("path", aside));
	}
	try_next_replica_method(a);
}

/* postgresql.create_replica_methods in order (basebackup alone by
 * default); the first that leaves a data directory wins. */
static void try_next_replica_method(struct agent *a)
{
	static char *const basebackup_only[] = { "basebackup" };
	char *const *methods = a->config->postgresql.n_create_replica_methods
				       ? a->config->postgresql.create_replica_methods
				       : basebackup_only;
	size_t count = a->config->postgresql.n_create_replica_methods
			       ? a->config->postgresql.n_create_replica_methods
			       : 1;
	char conninfo[1024] = "", datadir[AGENT_PATH_MAX + 16];
	bool have_source = a->clone_source[0] &&
			   source_conninfo(a, dcs_cluster(a->dcs), a->clone_source, conninfo,
					   sizeof(conninfo));

	while (a->clone_method_index < count) {
		const char *name = methods[a->clone_method_index++];
		json_t *section = json_object_get(a->config->postgresql.replica_methods, name);
		bool started;

		snprintf(a->clone_method, sizeof(a->clone_method), "%s", name);
		if (strcmp(name, "basebackup") == 0) {
			if (!have_source)
				continue;
			struct pg_basebackup_options options = { .source_conninfo = conninfo };
			started = run_job(a, "pg_basebackup", pg_basebackup_argv(&a->pg, &options),
					  CLONE_DEADLINE_MS, clone_done);
		} else {
			if (!section || (!have_source && !json_is_true(json_object_get(section, "no_leader"))))
				continue;
			char scope[256], connstring[1100];
			snprintf(scope, sizeof(scope), "--scope=%s", a->config->scope);
			snprintf(datadir, sizeof(datadir), "--datadir=%s", a->pg.data_dir);
			snprintf(connstring, sizeof(connstring), "--connstring=%s", conninfo);
			const char *const fixed[] = { scope, "--role=replica", datadir, connstring, NULL };
			started = run_job(a, "create_replica", method_argv(section, fixed),
					  CLONE_DEADLINE_MS, clone_done);
		}
		if (started) {
			log_info("pg.replica_method", LF_STR("method", name),
				 LF_STR("source", a->clone_source));
			return;
		}
	}
	finish_action(a, false, "no replica creation method worked");
}

static void clone_from(struct agent *a, const struct ha_decision *d, const struct dcs_cluster *cluster)
{
	(void) cluster;
	snprintf(a->clone_source, sizeof(a->clone_source), "%s", d->target ? d->target : "");
	a->clone_method_index = 0;
	try_next_replica_method(a);
}

/*
 * After a promotion the leader writes `history` as Patroni does: every line
 * of PostgreSQL's own timeline history file, the last one with the time and
 * the new leader's name.  The file lives in pg_wal, named after the new
 * timeline.
 */
/* The newest timeline with a history file: the one promotion just began
 * (the monitor may not have reported it yet). */
static uint32_t newest_history_timeline(const struct agent *a)
{
	char dir[AGENT_PATH_MAX + 16];
	uint32_t newest = 0;
	struct dirent *entry;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/pg_wal", a->pg.data_dir);
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((entry = readdir(d)) != NULL) {
		unsigned int timeline;
		char tail[16];
		if (strlen(entry->d_name) == 16 &&
		    sscanf(entry->d_name, "%8X%15s", &timeline, tail) == 2 &&
		    strcmp(tail, ".history") == 0 && timeline > newest)
			newest = timeline;
	}
	closedir(d);
	return newest;
}

static void publish_history(struct agent *a)
{
	char path[AGENT_PATH_MAX + 64], line[1024], stamp[40], err[ZNODE_ERR_MAX];
	struct znode_history history = { 0 };
	uint32_t timeline = newest_history_timeline(a);
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	char *json;

	snprintf(path, sizeof(path), "%s/pg_wal/%08X.history", a->pg.data_dir, timeline);
	f = fopen(path, "r");
	if (!f) {
		log_warning("pg.history_unreadable", LF_STR("path", path), LF_STR("error", strerror(errno)));
		return;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	while (fgets(line, sizeof(line), f)) {
		unsigned int parent;
		char lsn_text[32], reason[512] = "";
		uint64_t lsn;
		/* "<parent timeline>\t<switch LSN>\t<reason>" */
		if (sscanf(line, "%u\t%31s\t%511[^\n]", &parent, lsn_text, reason) < 2 ||
		    !pg_lsn_parse(lsn_text, &lsn))
			continue;
		bool last = parent + 1 == timeline;
		if (!znode_history_append(&history, parent, (int64_t) lsn, reason,
					  last ? stamp : NULL, last ? a->config->name : NULL, err,
					  sizeof(err)))
			break;
	}
	fclose(f);
	json = history.n_lines ? znode_history_encode(&history, err, sizeof(err)) : NULL;
	if (json)
		dcs_write(a->dcs, ZNODE_HISTORY, json, NULL, NULL);
	free(json);
	znode_history_clear(&history);
}

static void checkpoint_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	a->job = NULL;
	/* pg_rewind on a former primary needs the new timeline in pg_control. */
	if (result->exit_code != 0)
		log_warning("pg.checkpoint_failed", LF_INT("exit_code", result->exit_code));
	publish_history(a);
	finish_action(a, true, "promoted");
}

static void promote_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	a->job = NULL;
	if (result->exit_code != 0) {
		finish_action(a, false, "pg_ctl promote failed");
		return;
	}
	log_info("pg.promoted", LF_STR("data_dir", a->pg.data_dir));
	snprintf(a->following, sizeof(a->following), "%s", "");
	(void) pg_conf_set_standby(a->pg.data_dir, false, (char[PG_CONF_ERR_MAX]){ 0 },
				   PG_CONF_ERR_MAX);
	pg_monitor_refresh(a->monitor);
	if (!run_job(a, "psql", psql_argv(a, "CHECKPOINT", false), PSQL_DEADLINE_MS, checkpoint_done))
		finish_action(a, true, "promoted, no checkpoint");
}

static void run_promote(struct agent *a)
{
	if (!run_job(a, "pg_ctl", pg_ctl_promote_argv(&a->pg, PROMOTE_DEADLINE_S),
		     (PROMOTE_DEADLINE_S + 5) * 1000, promote_done))
		finish_action(a, false, "cannot start pg_ctl promote");
}

/* Patroni's pre_promote: a non-zero exit cancels the promotion; the lock
 * goes to someone else and we stay out of the race for ttl. */
static void pre_promote_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	const struct znode_config *dynamic = dcs_cluster(a->dcs)->config;
	long long ttl = dynamic ? dynamic->ttl : a->config->dcs.ttl;

	a->job = NULL;
	if (result->exit_code == 0) {
		run_promote(a);
		return;
	}
	a->promotion_backoff_until_ms = now_ms() + ttl * 1000;
	log_warning("pg.pre_promote_failed", LF_INT("exit_code", result->exit_code),
		    LF_INT("out_of_race_ms", ttl * 1000));
	if (dcs_holds_lock(a->dcs))
		dcs_release_leadership(a->dcs);
	finish_action(a, false, "pre_promote refused the promotion");
}

static void promote_now(struct agent *a)
{
	const char *command = a->config->postgresql.pre_promote;

	if (!command) {
		run_promote(a);
		return;
	}
	if (!run_job(a, "pre_promote", callbacks_argv(command, NULL), PROMOTE_DEADLINE_S * 1000,
		     pre_promote_done))
		finish_action(a, false, "cannot start pre_promote");
}

static void promote_sync_written(void *arg, bool ok, bool already_exists)
{
	struct agent *a = arg;
	(void) already_exists;
	if (a->action != HA_PROMOTE || a->job)
		return;		/* demoted meanwhile: nothing to promote */
	if (!ok) {
		finish_action(a, false, "cannot write sync before promoting");
		return;
	}
	promote_now(a);
}

/*
 * Patroni's order in synchronous mode (chaos finding F8): before the
 * promotion, `sync` names us with no standby, so that no other member
 * counts as having every commit, and synchronous_standby_names is '*'
 * (strict) or empty; the leader's loop then adds standbys as they stream.
 * Promoting first let the new primary acknowledge commits while `sync`
 * still named another member as holding them all.
 */
static void promote(struct agent *a, const struct dcs_cluster *cluster)
{
	const struct znode_config *dynamic = cluster->config;
	struct znode_sync value = { .leader = a->config->name };
	char err[ZNODE_ERR_MAX];
	char *json;

	if (!dynamic || !dynamic->synchronous_mode) {
		promote_now(a);
		return;
	}
	actions_forget_synchronous_standbys(a);
	prepare_synchronous_standbys(a, cluster, false);
	json = znode_sync_encode(&value, err, sizeof(err));
	/* Still a standby (a refused promotion leaves it one), no longer
	 * streaming from the old leader. */
	if (!json || !write_configuration(a, NULL, true) || !postmaster_signal(a, SIGHUP)) {
		free(json);
		finish_action(a, false, "cannot prepare synchronous replication before promoting");
		return;
	}
	log_info("ha.sync_published", LF_STR("sync", json));
	dcs_write(a->dcs, ZNODE_SYNC, json, promote_sync_written, a);
	free(json);
}

/* Stop at once: a primary without the lock must stop accepting writes
 * before anyone else can be promoted.  SIGQUIT is PostgreSQL's immediate
 * shutdown. */
static void demote(struct agent *a)
{
	if (a->job)
		pg_process_cancel(a->job);
	if (!postmaster_signal(a, SIGQUIT)) {
		if (dcs_holds_lock(a->dcs))
			dcs_release_leadership(a->dcs);
		/* Nothing to stop: asking again at once would only spin (and
		 * starve the loop); the monitor and the data directory decide
		 * in a moment whether PostgreSQL really runs. */
		a->demote_blocked_until_ms = now_ms() + 1000;
		if (a->monitor_connected)
			actions_inspect_data_dir(a);
		finish_action(a, true, "PostgreSQL is not running");
		return;
	}
	a->stopping = true;
	agent_set_pg_state(a, HA_PG_STOPPING);
}

static void follow(struct agent *a, const struct ha_decision *d, const struct dcs_cluster *cluster)
{
	char conninfo[1024];
	if (!source_conninfo(a, cluster, d->target, conninfo, sizeof(conninfo))) {
		finish_action(a, false, "cannot build a connection to the leader from its conn_url");
		return;
	}
	/* primary_conninfo is reloadable since PostgreSQL 13. */
	if (!write_configuration(a, conninfo, true) || !postmaster_signal(a, SIGHUP)) {
		finish_action(a, false, "cannot re-point the replica");
		return;
	}
	snprintf(a->following, sizeof(a->following), "%s", d->target);
	log_info("pg.following", LF_STR("leader", d->target));
	finish_action(a, true, "following");
}

/*
 * A fresh copy of the leader over a data directory that cannot follow it.
 * The old directory is moved aside, not deleted: it may hold the only copy
 * of writes the leader never had, for an operator to look at.
 */
static void reinitialize_stopped(struct agent *a)
{
	char aside[AGENT_PATH_MAX + 64];
	struct ha_decision d = { .action = HA_REINITIALIZE, .target = a->reinitialize_from };

	snprintf(aside, sizeof(aside), "%s.old-%lld", a->pg.data_dir, (long long) time(NULL));
	if (rename(a->pg.data_dir, aside) != 0) {
		log_error("pg.reinitialize_failed", LF_STR("data_dir", a->pg.data_dir),
			  LF_STR("error", strerror(errno)));
		finish_action(a, false, "cannot move the data directory aside");
		return;
	}
	log_info("pg.data_dir_moved_aside", LF_STR("path", aside));
	a->rewind_failed = false;
	a->was_primary = false;
	a->past_fork_since_ms = 0;
	a->has_system_identifier = false;
	a->checkpoint_timeline = 0;
	a->clean_shutdown = false;
	agent_set_pg_state(a, HA_PG_NO_DATA);
	clone_from(a, &d, dcs_cluster(a->dcs));
}

static void reinitialize(struct agent *a, const struct ha_decision *d)
{
	snprintf(a->reinitialize_from, sizeof(a->reinitialize_from), "%s", d->target ? d->target : "");
	if (has_postmaster(a)) {
		/* Carried on in postmaster_exited() once it stopped. */
		a->stopping = true;
		postmaster_signal(a, SIGINT);
		agent_set_pg_state(a, HA_PG_STOPPING);
		return;
	}
	reinitialize_stopped(a);
}

/* ---- rewind --------------------------------------------------------------------- */

static void rewind_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	a->job = NULL;
	if (result->exit_code != 0) {
		/* Not retried: the policy re-clones when that is allowed. */
		a->rewind_failed = true;
		finish_action(a, false, "pg_rewind failed");
		return;
	}
	log_info("pg.rewound", LF_STR("data_dir", a->pg.data_dir));
	a->rewind_failed = false;
	a->was_primary = false;
	a->past_fork_since_ms = 0;
	agent_set_pg_state(a, HA_PG_UNKNOWN);
	actions_inspect_data_dir(a);
	finish_action(a, true, "rewound");
}

static void run_rewind(struct agent *a)
{
	char host[256], port[16];
	char conninfo[1024];
	const char *url = a->rewind_source_url;

	/* pg_rewind reads the leader over a normal connection as superuser. */
	if (sscanf(url, "postgres://%255[^:/]:%15[0-9]", host, port) != 2 ||
	    !pg_conninfo_build(conninfo, sizeof(conninfo), "host", host, "port", port, "user",
			       superuser(a), "dbname", "postgres", "passfile", a->passfile,
			       (const char *) NULL)) {
		finish_action(a, false, "cannot build a connection to the leader from its conn_url");
		return;
	}
	struct pg_rewind_options options = { .source_conninfo = conninfo };
	if (!run_job(a, "pg_rewind", pg_rewind_argv(&a->pg, &options), CLONE_DEADLINE_MS, rewind_done))
		finish_action(a, false, "cannot start pg_rewind");
}

static void crash_recovery_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	a->job = NULL;
	if (result->exit_code != 0) {
		finish_action(a, false, "crash recovery in single-user mode failed");
		return;
	}
	run_rewind(a);
}

/*
 * The leader can be a rewind source once it runs as a primary on a later
 * timeline than ours and its post-promote checkpoint is done: before that,
 * pg_rewind reads the old timeline in its pg_control and wrongly concludes
 * that no rewind is needed.
 */
static const struct member_status *rewind_source_ready(const struct agent *a,
							const struct dcs_cluster *cluster,
							const char *target)
{
	for (size_t i = 0; target && i < cluster->member_count; i++) {
		const struct dcs_member *m = &cluster->members[i];
		if (strcmp(m->name, target) != 0 || !m->valid)
			continue;
		if (member_status_role(&m->status) != MEMBER_STATUS_ROLE_PRIMARY ||
		    !m->status.has_timeline || m->status.timeline <= (int64_t) agent_local_timeline(a) ||
		    (m->status.has_checkpoint_after_promote && !m->status.checkpoint_after_promote) ||
		    !m->status.conn_url)
			return NULL;
		return &m->status;
	}
	return NULL;
}

/*
 * pg_rewind needs a cleanly shut down target; a crashed primary is brought
 * there first by single-user mode, which runs crash recovery and exits at
 * the end of its (empty) input.  On a clean data directory it does nothing.
 */
static void rewind_from(struct agent *a, const struct ha_decision *d, const struct dcs_cluster *cluster)
{
	char path[AGENT_PATH_MAX + 16];
	const struct member_status *source = rewind_source_ready(a, cluster, d->target);

	if (!source) {
		/* Not an error: asked again shortly, once the leader is ready. */
		log_debug("pg.rewind_waiting", LF_STR("leader", d->target ? d->target : ""));
		a->action = HA_NOTHING;
		a->retry_after_ms = now_ms() + 200;
		return;
	}
	if (snprintf(a->rewind_source_url, sizeof(a->rewind_source_url), "%s", source->conn_url) >=
	    (int) sizeof(a->rewind_source_url)) {
		finish_action(a, false, "the leader publishes no usable conn_url");
		return;
	}
	if (has_postmaster(a)) {
		/* Running: stop it first; the policy asks again once stopped. */
		a->stopping = true;
		postmaster_signal(a, SIGINT);
		agent_set_pg_state(a, HA_PG_STOPPING);
		finish_action(a, true, "stopping before the rewind");
		return;
	}
	/* A replica we stopped is "shut down in recovery", which pg_rewind
	 * takes as it is.  Single-user mode would end its recovery and write
	 * an end-of-recovery checkpoint on the timeline it replays, which may
	 * be the leader's: WAL the leader never had on the same timeline,
	 * which pg_rewind cannot see ("no rewind required") and the replica
	 * then cannot get past. */
	if (!a->was_primary) {
		run_rewind(a);
		return;
	}
	(void) pg_conf_set_standby(a->pg.data_dir, false, (char[PG_CONF_ERR_MAX]){ 0 }, PG_CONF_ERR_MAX);
	snprintf(path, sizeof(path), "%s/postgres", a->pg.bin_dir);
	const char *args[] = { path, "--single", "-D", a->pg.data_dir, "postgres", NULL };
	char **argv = calloc(sizeof(args) / sizeof(args[0]), sizeof(*argv));
	for (size_t i = 0; argv && args[i]; i++)
		if ((argv[i] = strdup(args[i])) == NULL) {
			pg_argv_free(argv);
			argv = NULL;
		}
	if (!run_job(a, "postgres", argv, CLONE_DEADLINE_MS, crash_recovery_done))
		finish_action(a, false, "cannot start crash recovery");
}

/* ---- bootstrap --------------------------------------------------------------- */

static void bootstrap_failed(struct agent *a, const char *why)
{
	char aside[AGENT_PATH_MAX + 64];

	log_error("pg.bootstrap_failed", LF_STR("reason", why));
	if (a->postmaster) {
		a->stopping = true;
		pg_process_signal(a->postmaster, SIGQUIT);
	}
	dcs_cancel_initialize(a->dcs, NULL, NULL);
	/* Keep the failed attempt for a look instead of deleting it. */
	snprintf(aside, sizeof(aside), "%s.failed-%lld", a->pg.data_dir, (long long) time(NULL));
	if (rename(a->pg.data_dir, aside) == 0)
		log_info("pg.data_dir_moved_aside", LF_STR("path", aside));
	a->bootstrap = BOOTSTRAP_NONE;
	a->bootstrap_backoff_ms = a->bootstrap_backoff_ms ? a->bootstrap_backoff_ms * 2
							  : BOOTSTRAP_BACKOFF_MS;
	if (a->bootstrap_backoff_ms > BOOTSTRAP_BACKOFF_MAX_MS)
		a->bootstrap_backoff_ms = BOOTSTRAP_BACKOFF_MAX_MS;
	a->bootstrap_blocked_until_ms = now_ms() + a->bootstrap_backoff_ms;
	log_warning("pg.bootstrap_backoff", LF_INT("next_attempt_in_ms", a->bootstrap_backoff_ms));
	finish_action(a, false, why);
	if (!a->postmaster)
		agent_set_pg_state(a, HA_PG_NO_DATA);
}

/* bootstrap.dcs becomes `config`, as Patroni writes it (every dynamic key
 * the agent honours, synchronous mode included).  malloc'd. */
static char *bootstrap_dynamic_config(const struct agent *a)
{
	return config_dynamic_configuration(a->config);
}

static void roles_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	char path[AGENT_PATH_MAX + 32];
	char *config;

	a->job = NULL;
	snprintf(path, sizeof(path), "%s/bootstrap.sql", a->runtime_dir);
	unlink(path);
	if (result->exit_code != 0) {
		bootstrap_failed(a, a->bootstrap == BOOTSTRAP_POST ? "post_bootstrap failed"
								   : "creating the replication role failed");
		return;
	}
	if (a->config->bootstrap.post_bootstrap && a->bootstrap != BOOTSTRAP_POST) {
		/* Patroni: post_bootstrap gets the superuser's connection string. */
		char port[16], conninfo[AGENT_PATH_MAX + 128];
		snprintf(port, sizeof(port), "%d", a->port);
		if (!pg_conninfo_build(conninfo, sizeof(conninfo), "host", a->runtime_dir, "port", port,
				       "user", superuser(a), "dbname", "postgres",
				       (const char *) NULL)) {
			bootstrap_failed(a, "cannot build post_bootstrap's connection string");
			return;
		}
		const char *const extra[] = { conninfo, NULL };
		a->bootstrap = BOOTSTRAP_POST;
		if (!run_job(a, "post_bootstrap", callbacks_argv(a->config->bootstrap.post_bootstrap, extra),
			     PSQL_DEADLINE_MS, roles_done))
			bootstrap_failed(a, "cannot start post_bootstrap");
		return;
	}
	a->bootstrap = BOOTSTRAP_PUBLISHING;
	dcs_set_initialize(a->dcs, a->system_identifier, NULL, NULL);
	config = bootstrap_dynamic_config(a);
	if (!config) {
		bootstrap_failed(a, "out of memory building the dynamic configuration");
		return;
	}
	dcs_create_if_absent(a->dcs, ZNODE_CONFIG, config, NULL, NULL);
	free(config);
	dcs_take_lock_now(a->dcs);
	/* The election may have given us the lock already (our primary was
	 * running and we were first in line): then nothing else will tell us. */
	actions_on_leadership(a);
}

static bool sql_literal(const char *text, char *buf, size_t size)
{
	size_t used = 0;
	if (size < 3)
		return false;
	buf[used++] = '\'';
	for (; *text; text++) {
		if (used + 3 >= size)
			return false;
		if (*text == '\'')
			buf[used++] = '\'';
		buf[used++] = *text;
	}
	buf[used++] = '\'';
	buf[used] = '\0';
	return true;
}

static void create_roles(struct agent *a)
{
	char path[AGENT_PATH_MAX + 32];
	char sql[4096], password[1024], err[PG_CONF_ERR_MAX];
	const char *secret = a->config->postgresql.replication.password;

	/* The password travels in a private file, never on a command line. */
	if (!sql_literal(secret ? secret : "", password, sizeof(password))) {
		bootstrap_failed(a, "the replication password is too long");
		return;
	}
	char user[300];
	if (!sql_literal(replication_user(a), user, sizeof(user))) {
		bootstrap_failed(a, "the replication user name is too long");
		return;
	}
	/* Idempotent: a custom bootstrap (a restored backup) may have it. */
	snprintf(sql, sizeof(sql),
		 "SELECT format('CREATE ROLE %%I', %s) WHERE NOT EXISTS "
		 "(SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s)\\gexec\n"
		 "SELECT format('ALTER ROLE %%I WITH LOGIN REPLICATION PASSWORD %%L', %s, %s)\\gexec\n",
		 user, user, user, secret ? password : "NULL");
	snprintf(path, sizeof(path), "%s/bootstrap.sql", a->runtime_dir);
	if (!pg_conf_write_file(path, sql, 0600, err, sizeof(err)) ||
	    !run_job(a, "psql", psql_argv(a, path, true), PSQL_DEADLINE_MS, roles_done)) {
		unlink(path);
		bootstrap_failed(a, "cannot run psql to create the replication role");
		return;
	}
	a->bootstrap = BOOTSTRAP_ROLES;
}

static void initdb_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	char path[AGENT_PATH_MAX + 32];

	a->job = NULL;
	snprintf(path, sizeof(path), "%s/pwfile", a->runtime_dir);
	unlink(path);
	if (result->exit_code != 0) {
		bootstrap_failed(a, a->config->bootstrap.method_section ? "the bootstrap method failed"
									: "initdb failed");
		return;
	}
	if (!write_configuration(a, NULL, false) || !start_postmaster(a)) {
		bootstrap_failed(a, "cannot start the new cluster");
		return;
	}
	a->bootstrap = BOOTSTRAP_STARTING;
}

static void initialize_raced(void *arg, bool ok, bool already_exists)
{
	struct agent *a = arg;
	char path[AGENT_PATH_MAX + 32], err[PG_CONF_ERR_MAX];
	const char *password = a->config->postgresql.superuser.password;

	if (a->action != HA_BOOTSTRAP)
		return;
	if (!ok) {
		log_info("pg.bootstrap_lost", LF_BOOL("already_exists", already_exists));
		a->bootstrap = BOOTSTRAP_NONE;
		finish_action(a, true, "another member bootstraps");
		return;
	}
	log_info("pg.bootstrap_won", LF_STR("data_dir", a->pg.data_dir));
	snprintf(path, sizeof(path), "%s/pwfile", a->runtime_dir);
	struct pg_initdb_options options = { .superuser = superuser(a) };
	if (password) {
		char line[1024];
		snprintf(line, sizeof(line), "%s\n", password);
		if (!pg_conf_write_file(path, line, 0600, err, sizeof(err))) {
			bootstrap_failed(a, err);
			return;
		}
		options.pwfile = path;
	}
	if (a->config->bootstrap.method_section) {
		/* Patroni 6.3: a custom command makes the data directory. */
		char scope[256], datadir[AGENT_PATH_MAX + 16];
		snprintf(scope, sizeof(scope), "--scope=%s", a->config->scope);
		snprintf(datadir, sizeof(datadir), "--datadir=%s", a->pg.data_dir);
		const char *const fixed[] = { scope, datadir, NULL };
		log_info("pg.bootstrap_method", LF_STR("method", a->config->bootstrap.method));
		if (!run_job(a, "bootstrap", method_argv(a->config->bootstrap.method_section, fixed),
			     INITDB_DEADLINE_MS, initdb_done)) {
			bootstrap_failed(a, "cannot start the bootstrap method");
			return;
		}
	} else if (!run_job(a, "initdb", pg_initdb_argv(&a->pg, &options), INITDB_DEADLINE_MS,
			    initdb_done)) {
		bootstrap_failed(a, "cannot start initdb");
		return;
	}
	a->bootstrap = BOOTSTRAP_INITDB;
	agent_publish_status(a);
}

void actions_on_status(struct agent *a)
{
	if (a->restarting && !a->leaving_sync && a->pg_state == HA_PG_RUNNING && !a->stopping) {
		restart_finish(a, true);
		return;
	}
	if (a->action == HA_BOOTSTRAP && a->bootstrap == BOOTSTRAP_STARTING &&
	    !a->last_status.in_recovery)
		create_roles(a);
	else if ((a->action == HA_START_PRIMARY || a->action == HA_START_REPLICA) &&
		 a->pg_state == HA_PG_RUNNING)
		finish_action(a, true, "started");
}

void actions_on_leadership(struct agent *a)
{
	/* Patroni: whoever acquires the lock clears the request that got it
	 * there (or that it overrode). */
	if (dcs_is_leader(a->dcs) && dcs_cluster(a->dcs)->failover && a->action != HA_SWITCHOVER)
		dcs_delete(a->dcs, ZNODE_FAILOVER, NULL, NULL);
	if (a->action == HA_BOOTSTRAP && a->bootstrap == BOOTSTRAP_PUBLISHING &&
	    dcs_is_leader(a->dcs)) {
		log_info("pg.bootstrapped", LF_HEX("system_identifier", a->system_identifier));
		a->bootstrap = BOOTSTRAP_NONE;
		finish_action(a, true, "bootstrapped");
	}
}

/* ---- restart (REST POST /restart) ------------------------------------------- */

static void restart_finish(struct agent *a, bool ok)
{
	void (*done)(void *, bool) = a->restart_done;
	void *arg = a->restart_done_arg;

	a->restarting = false;
	a->restart_done = NULL;
	a->restart_done_arg = NULL;
	log_info(ok ? "pg.restarted" : "pg.restart_failed", LF_STR("data_dir", a->pg.data_dir));
	if (ok)
		callbacks_restarted(a);
	agent_restart_over(a, ok);	/* publishes the status, without nosync */
	agent_schedule_evaluation(a);
	if (done)
		done(arg, ok);
}

/* Stopped on purpose: start it again as it was (standby.signal and
 * postgresql.conf are left as they are, so the role does not change). */
static void restart_stopped(struct agent *a)
{
	if (!start_postmaster(a))
		restart_finish(a, false);
}

/* The first half of a restart: a fast shutdown. */
static bool restart_stop(struct agent *a)
{
	log_info("pg.stopping", LF_STR("mode", "fast"), LF_STR("reason", "restart"));
	a->stopping = true;
	if (!postmaster_signal(a, SIGINT)) {
		a->stopping = false;
		return false;
	}
	agent_set_pg_state(a, HA_PG_STOPPING);
	return true;
}

/*
 * In synchronous mode a replica first asks to leave sync duty and waits
 * (agent_leave_sync_before_restart()): the restart is under way (the policy
 * stands aside, a second request is refused) while PostgreSQL still runs.
 */
bool actions_restart(struct agent *a, void (*done)(void *arg, bool ok), void *arg)
{
	if (a->restarting || a->action != HA_NOTHING || !has_postmaster(a) ||
	    a->pg_state != HA_PG_RUNNING)
		return false;
	a->restarting = true;
	a->restart_done = done;
	a->restart_done_arg = arg;
	a->pending_restart = false;
	if (agent_leave_sync_before_restart(a))
		return true;
	if (!restart_stop(a)) {
		a->restarting = false;
		a->restart_done = NULL;
		a->restart_done_arg = NULL;
		return false;
	}
	return true;
}

void actions_restart_released(struct agent *a, bool go_on)
{
	if (!a->restarting || !a->leaving_sync)
		return;
	a->leaving_sync = false;
	if (!go_on || !has_postmaster(a) || a->pg_state != HA_PG_RUNNING || !restart_stop(a))
		restart_finish(a, false);
}

void actions_cancel_restart_callback(struct agent *a)
{
	a->restart_done = NULL;
	a->restart_done_arg = NULL;
}

/* ---- synchronous replication -------------------------------------------------- */

void actions_forget_synchronous_standbys(struct agent *a)
{
	for (size_t i = 0; i < a->n_sync_configured; i++)
		free(a->sync_configured[i]);
	a->n_sync_configured = 0;
	a->sync_configured_set = false;
	a->sync_configured_star = false;
}

bool actions_set_synchronous_standbys(struct agent *a, const struct sync_decision *d)
{
	char names[1024] = "";

	actions_forget_synchronous_standbys(a);
	if (d) {
		a->sync_configured_set = true;
		a->sync_configured_star = d->star;
		for (size_t i = 0; i < d->n_names; i++)
			if ((a->sync_configured[a->n_sync_configured] = strdup(d->names[i])) != NULL)
				a->n_sync_configured++;
		(void) sync_standby_names(d, names, sizeof(names));
	}
	if (!has_postmaster(a) || !write_configuration(a, NULL, false) ||
	    !postmaster_signal(a, SIGHUP))
		return false;
	log_info("pg.synchronous_standby_names", LF_STR("value", d ? names : "(not managed)"));
	pg_monitor_refresh(a->monitor);
	return true;
}

/* ---- parameters changed in `config` ------------------------------------------ */

/* One "name|setting" line per parameter waiting for a restart. */
static void pending_restart_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	const json_t *wanted = a->applied_parameters;
	json_t *reason = json_object();
	const char *line = result->output;

	a->settings_job = NULL;
	if (result->exit_code != 0 || !line || !reason) {
		json_decref(reason);
		return;
	}
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t length = end ? (size_t) (end - line) : strlen(line);
		char name[128], setting[512], new_value[512] = "";
		const char *bar = memchr(line, '|', length);

		if (bar && (size_t) (bar - line) < sizeof(name) &&
		    length - (size_t) (bar - line) - 1 < sizeof(setting)) {
			memcpy(name, line, (size_t) (bar - line));
			name[bar - line] = '\0';
			memcpy(setting, bar + 1, length - (size_t) (bar - line) - 1);
			setting[length - (size_t) (bar - line) - 1] = '\0';
			const json_t *value = wanted ? json_object_get(wanted, name) : NULL;
			if (value && json_is_string(value))
				snprintf(new_value, sizeof(new_value), "%s", json_string_value(value));
			else if (value)
				(void) pg_conf_format_value(value, new_value, sizeof(new_value));
			json_object_set_new(reason, name, json_pack("{s:s, s:s}", "old_value", setting,
								      "new_value", new_value));
		}
		line = end ? end + 1 : line + length;
	}
	a->pending_restart = json_object_size(reason) > 0;
	json_decref(a->pending_restart_reason);
	a->pending_restart_reason = a->pending_restart ? reason : NULL;
	if (!a->pending_restart)
		json_decref(reason);
	log_info("pg.pending_restart", LF_BOOL("pending_restart", a->pending_restart),
		 LF_INT("parameters", (long long) (a->pending_restart_reason
						     ? json_object_size(a->pending_restart_reason) : 0)));
	agent_publish_status(a);
}

void actions_check_pending_restart(struct agent *a)
{
	char passfile_env[sizeof(a->passfile) + 16];
	char **argv;

	a->pending_restart_check_at_ms = 0;
	if (a->settings_job || !has_postmaster(a) || a->pg_state != HA_PG_RUNNING)
		return;
	argv = psql_argv(a, "SELECT name || '|' || setting FROM pg_catalog.pg_settings"
			    " WHERE pending_restart ORDER BY name", false);
	/* psql -A -t: bare values, one line each. */
	if (argv) {
		size_t n = 0;
		while (argv[n])
			n++;
		char **wider = realloc(argv, (n + 3) * sizeof(*argv));
		if (wider) {
			argv = wider;
			argv[n] = strdup("-A");
			argv[n + 1] = strdup("-t");
			argv[n + 2] = NULL;
		}
	}
	snprintf(passfile_env, sizeof(passfile_env), "PGPASSFILE=%s", a->passfile);
	const char *env[] = { passfile_env, PG_TOOLS_C_LOCALE, NULL };
	struct pg_process_options options = { .tool = "psql", .argv = argv, .env = env,
					      .deadline_ms = PSQL_DEADLINE_MS, .keep_output = true };
	a->settings_job = argv ? pg_process_start(a->base, &options, pending_restart_done, a) : NULL;
	pg_argv_free(argv);
}

void actions_apply_parameters(struct agent *a)
{
	char conninfo[1024];
	const char *primary_conninfo = NULL;
	const json_t *wanted = cluster_parameters(a);

	if (a->applied_parameters && json_equal(a->applied_parameters, wanted))
		return;
	/* Tried again at the next change or tick until PostgreSQL runs steady. */
	if (!has_postmaster(a) || a->pg_state != HA_PG_RUNNING || !a->monitor_connected ||
	    a->action != HA_NOTHING || a->restarting || a->stopping)
		return;
	if (a->last_status.in_recovery && a->following[0] &&
	    source_conninfo(a, dcs_cluster(a->dcs), a->following, conninfo, sizeof(conninfo)))
		primary_conninfo = conninfo;
	if (!write_configuration(a, primary_conninfo, a->last_status.in_recovery) ||
	    !postmaster_signal(a, SIGHUP))
		return;
	log_info("pg.reloaded", LF_STR("reason", "postgresql.parameters changed"));
	callbacks_reloaded(a);
	/* The postmaster reads the files after the signal, not at once. */
	a->pending_restart_check_at_ms = now_ms() + 500;
}

/* ---- replication slots ------------------------------------------------------- */

static void slots_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;
	char *sql = a->slots_running;

	a->slot_job = NULL;
	a->slots_running = NULL;
	if (result->exit_code != 0) {
		log_warning("pg.slots_failed", LF_INT("exit_code", result->exit_code),
			    LF_INT("retry_in_ms", RETRY_AFTER_FAILURE_MS));
		a->slots_retry_after_ms = now_ms() + RETRY_AFTER_FAILURE_MS;
		free(sql);
		return;
	}
	free(a->slots_applied);
	a->slots_applied = sql;
	log_info("pg.slots_synced");
}

bool actions_sync_slots(struct agent *a, const char *sql)
{
	char passfile_env[sizeof(a->passfile) + 16];
	char **argv = psql_argv(a, sql, false);
	char *copy = strdup(sql);
	snprintf(passfile_env, sizeof(passfile_env), "PGPASSFILE=%s", a->passfile);
	const char *env[] = { passfile_env, PG_TOOLS_C_LOCALE, NULL };
	struct pg_process_options options = { .tool = "psql", .argv = argv, .env = env,
					      .deadline_ms = PSQL_DEADLINE_MS };

	a->slot_job = argv && copy ? pg_process_start(a->base, &options, slots_done, a) : NULL;
	pg_argv_free(argv);
	if (!a->slot_job) {
		free(copy);
		a->slots_retry_after_ms = now_ms() + RETRY_AFTER_FAILURE_MS;
		return false;
	}
	a->slots_running = copy;
	return true;
}

/* ---- dispatch ------------------------------------------------------------------ */

void actions_execute(struct agent *a, const struct ha_decision *d, const struct dcs_cluster *cluster)
{
	a->action = d->action;
	log_info("ha.action", LF_STR("action", ha_action_name(d->action)),
		 LF_STR("target", d->target ? d->target : ""));
	agent_publish_status(a);	/* "creating replica", "initializing new cluster" */
	switch (d->action) {
	case HA_BOOTSTRAP:
		a->bootstrap = BOOTSTRAP_RACING;
		dcs_race_initialize(a->dcs, initialize_raced, a);
		break;
	case HA_CLONE:
		clone_from(a, d, cluster);
		break;
	case HA_START_PRIMARY:
	case HA_START_REPLICA:
		start(a, d, cluster);
		break;
	case HA_PROMOTE:
		promote(a, cluster);
		break;
	case HA_DEMOTE:
		demote(a);
		break;
	case HA_FOLLOW:
		follow(a, d, cluster);
		break;
	case HA_RELEASE_LOCK:
		if (a->pg_state == HA_PG_CRASHED || a->pg_state == HA_PG_START_FAILED) {
			a->stand_down_until_ms = now_ms() + 2 * (int64_t) config_session_timeout_ms(a->config);
			log_info("pg.standing_down",
				 LF_INT("for_ms", a->stand_down_until_ms - now_ms()));
		}
		dcs_release_leadership(a->dcs);
		finish_action(a, true, "released");
		break;
	case HA_REFUSE_TO_START:
		log_error("pg.refused", LF_STR("reason", d->reason));
		a->refused = true;
		dcs_set_candidate(a->dcs, false);
		finish_action(a, true, "refused");
		a->retry_after_ms = now_ms() + 60 * 1000;
		break;
	case HA_REWIND:
		rewind_from(a, d, cluster);
		break;
	case HA_SWITCHOVER:
		switchover(a);
		break;
	case HA_CLEAR_FAILOVER:
		log_info("ha.failover_cleared", LF_STR("reason", d->reason));
		dcs_delete(a->dcs, ZNODE_FAILOVER, NULL, NULL);
		/* The watch on `failover` asks the policy again once it is gone. */
		a->action = HA_NOTHING;
		break;
	case HA_REINITIALIZE:
		reinitialize(a, d);
		break;
	case HA_NOTHING:
	case HA_WAIT:
		a->action = HA_NOTHING;
		break;
	}
}

/* ---- setup and shutdown ----------------------------------------------------------- */

bool actions_init(struct agent *a)
{
	struct pg_passfile_entry entries[2];
	size_t count = 0;
	char err[256];

	if (mkdir(a->runtime_dir, 0700) != 0 && errno != EEXIST) {
		log_error("agent.runtime_dir_failed", LF_STR("path", a->runtime_dir),
			  LF_STR("error", strerror(errno)));
		return false;
	}
	if (chmod(a->runtime_dir, 0700) != 0) {
		log_error("agent.runtime_dir_failed", LF_STR("path", a->runtime_dir),
			  LF_STR("error", strerror(errno)));
		return false;
	}
	if (a->config->postgresql.replication.password)
		entries[count++] = (struct pg_passfile_entry){
			.user = replication_user(a),
			.password = a->config->postgresql.replication.password,
		};
	if (a->config->postgresql.superuser.password)
		entries[count++] = (struct pg_passfile_entry){
			.user = superuser(a),
			.password = a->config->postgresql.superuser.password,
		};
	if (!pg_passfile_write(a->passfile, entries, count, err, sizeof(err))) {
		log_error("agent.passfile_failed", LF_STR("path", a->passfile), LF_STR("error", err));
		return false;
	}
	return pg_process_init(a->base);
}

void actions_shutdown(struct agent *a)
{
	int64_t deadline = now_ms() + SHUTDOWN_WAIT_MS;

	a->shutting_down = true;
	if (a->job) {
		pg_process_abandon(a->job);
		a->job = NULL;
	}
	/* before_stop runs first, bounded: the handover waits for it. */
	if (has_postmaster(a) && run_before_stop(a))
		while (a->job && now_ms() < deadline)
			event_base_loop(a->base, EVLOOP_ONCE);
	if (a->slot_job) {
		pg_process_abandon(a->slot_job);
		a->slot_job = NULL;
	}
	if (a->settings_job) {
		pg_process_abandon(a->settings_job);
		a->settings_job = NULL;
	}
	json_decref(a->applied_parameters);
	json_decref(a->pending_restart_reason);
	a->applied_parameters = a->pending_restart_reason = NULL;
	actions_forget_synchronous_standbys(a);
	free(a->slots_running);
	free(a->slots_applied);
	a->slots_running = a->slots_applied = NULL;
	/* Fast shutdown (SIGINT), and run the loop until the postmaster's exit
	 * is reported: the lock is released only after. */
	if (has_postmaster(a) && postmaster_signal(a, SIGINT)) {
		a->stopping = true;
		log_info("pg.stopping", LF_STR("mode", "fast"));
		while ((a->postmaster || a->adopted_pid > 0) && now_ms() < deadline) {
			/* An adopted postmaster is no child of ours: poll for it. */
			if (!a->postmaster) {
				struct timeval poll = { 0, 50 * 1000 };
				event_base_loopexit(a->base, &poll);
				event_base_loop(a->base, 0);
				actions_watch_adopted(a);
			} else {
				event_base_loop(a->base, EVLOOP_ONCE);
			}
		}
	}
	if (a->watchdog) {
		pid_t left = actions_postmaster_pid(a);
		/* Our session, and the lock with it, ends next: a primary that
		 * would not stop must not outlive it. */
		if (left > 0 && watchdog_is_armed(a->watchdog))
			(void) watchdog_arm(a->watchdog, left, now_ms());
		else if (left <= 0)
			watchdog_disarm(a->watchdog);
	}
	if (a->postmaster) {
		pg_process_abandon(a->postmaster);
		a->postmaster = NULL;
	}
	callbacks_shutdown(a);
	pg_process_shutdown();
}
