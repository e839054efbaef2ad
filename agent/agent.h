/*
 * The agent: owns the configuration, the event loop's long-lived objects
 * and the member status it publishes; gathers facts from dcs/ and carries
 * out what the HA policy (ha.h) decides.
 */
#ifndef PGHERD_AGENT_H
#define PGHERD_AGENT_H

#include <stdbool.h>

struct event_base;
struct pgherd_config;
struct agent;

struct config_diagnostics;

/* Takes ownership of config; config_path (NULL: the environment alone) is
 * read again by agent_reload(). */
struct agent *agent_new(struct event_base *base, struct pgherd_config *config,
			const char *config_path);
/* Graceful stop: leave the election and close the session, so that the
 * lock and our member znode disappear at once. */
void agent_free(struct agent *agent);

/* SIGHUP: re-read the configuration and apply what may change while
 * running (see agent_internal.h). */
void agent_reload(struct agent *agent);
/* Log configuration errors and warnings as config.error / config.warning. */
void agent_log_config_diagnostics(const struct config_diagnostics *diags);

#endif
