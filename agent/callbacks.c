/*
 * Patroni's callbacks (see callbacks.h).
 */
#include "agent/callbacks.h"

#include <stdlib.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "agent/log.h"
#include "pg/tools.h"

/* Callbacks are notifications: one that hangs is stopped, not waited for. */
#define CALLBACK_DEADLINE_MS (60 * 1000)

char **callbacks_argv(const char *command, const char *const *extra)
{
	size_t n_extra = 0, n = 0, words = 0;
	const char *p;
	char **argv;

	while (extra && extra[n_extra])
		n_extra++;
	for (p = command; p && *p;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		words++;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (words == 0)
		return NULL;
	argv = calloc(words + n_extra + 1, sizeof(*argv));
	for (p = command; argv && *p;) {
		const char *start;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if ((argv[n++] = strndup(start, (size_t) (p - start))) == NULL)
			goto fail;
	}
	for (size_t i = 0; argv && i < n_extra; i++)
		if ((argv[n++] = strdup(extra[i])) == NULL)
			goto fail;
	return argv;
fail:
	pg_argv_free(argv);
	return NULL;
}

static void callback_done(void *arg, const struct pg_process_result *result)
{
	struct agent *a = arg;

	a->callback_job = NULL;
	log_info("agent.callback_done", LF_INT("exit_code", result->exit_code),
		 LF_INT("signal", result->signal));
}

static void run(struct agent *a, const char *action, const char *command, const char *role)
{
	const char *const extra[] = { action, role, a->config->scope, NULL };
	char **argv;

	if (!command)
		return;
	/* Patroni: a newer callback replaces the one still running. */
	if (a->callback_job) {
		pg_process_cancel(a->callback_job);
		a->callback_job = NULL;
	}
	argv = callbacks_argv(command, extra);
	struct pg_process_options options = { .tool = "callback", .argv = argv,
					      .deadline_ms = CALLBACK_DEADLINE_MS };
	a->callback_job = argv ? pg_process_start(a->base, &options, callback_done, a) : NULL;
	pg_argv_free(argv);
	log_info("agent.callback", LF_STR("action", action), LF_STR("role", role),
		 LF_BOOL("started", a->callback_job != NULL));
}

void callbacks_starting(struct agent *a)
{
	a->callback_start_pending = true;
}

void callbacks_status(struct agent *a, bool in_recovery)
{
	const char *role = in_recovery ? "replica" : "master";
	bool changed = a->callback_role[0] && strcmp(a->callback_role, role) != 0;

	if (a->restarting)
		return;	/* callbacks_restarted() says it once it is done */
	if (a->callback_start_pending) {
		a->callback_start_pending = false;
		if (changed)
			run(a, "on_role_change", a->config->postgresql.callbacks.on_role_change, role);
		else
			run(a, "on_start", a->config->postgresql.callbacks.on_start, role);
	} else if (changed) {
		run(a, "on_role_change", a->config->postgresql.callbacks.on_role_change, role);
	}
	snprintf(a->callback_role, sizeof(a->callback_role), "%s", role);
}

void callbacks_stopped(struct agent *a)
{
	a->callback_start_pending = false;
	if (a->callback_role[0])
		run(a, "on_stop", a->config->postgresql.callbacks.on_stop, a->callback_role);
}

void callbacks_restarted(struct agent *a)
{
	a->callback_start_pending = false;
	if (a->callback_role[0])
		run(a, "on_restart", a->config->postgresql.callbacks.on_restart, a->callback_role);
}

void callbacks_reloaded(struct agent *a)
{
	if (a->callback_role[0])
		run(a, "on_reload", a->config->postgresql.callbacks.on_reload, a->callback_role);
}

void callbacks_shutdown(struct agent *a)
{
	if (a->callback_job) {
		pg_process_abandon(a->callback_job);
		a->callback_job = NULL;
	}
}
