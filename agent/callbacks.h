/*
 * Patroni's callbacks (postgresql.callbacks, reference 6.1): a command run
 * as `<command> <action> <role> <scope>` when PostgreSQL starts, stops,
 * restarts, reloads or changes role.  Never blocks the loop; a newer
 * callback replaces one still running; output and exit status are logged.
 *
 * The agent reports what happened to its PostgreSQL; this module decides
 * which callback that is, Patroni's way:
 *   - PostgreSQL that the agent started reports its first status:
 *     on_start <role>, or on_role_change when its role is not the one last
 *     announced (a former primary back as a replica);
 *   - the role changes while running (a promotion): on_role_change;
 *   - the agent stopped it: on_stop <role>;
 *   - a restart through the REST API: on_restart <role>, instead of the
 *     stop and the start;
 *   - a reload: on_reload <role>.
 */
#ifndef PGHERD_AGENT_CALLBACKS_H
#define PGHERD_AGENT_CALLBACKS_H

#include <stdbool.h>

struct agent;

/* The agent starts PostgreSQL (not for a restart). */
void callbacks_starting(struct agent *agent);
/* Each status of a running PostgreSQL: in_recovery says its role. */
void callbacks_status(struct agent *agent, bool in_recovery);
/* The agent stopped PostgreSQL on purpose (not for a restart). */
void callbacks_stopped(struct agent *agent);
void callbacks_restarted(struct agent *agent);
void callbacks_reloaded(struct agent *agent);
/* Forget a callback still running (at shutdown). */
void callbacks_shutdown(struct agent *agent);

/*
 * Split a command on blanks into argv (no shell, as Patroni's shlex does
 * without quotes) and append the extra arguments.  NULL-terminated,
 * malloc'd (pg_argv_free()); NULL when the command is empty.
 */
char **callbacks_argv(const char *command, const char *const *extra);

#endif
