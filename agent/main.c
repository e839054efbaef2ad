/*
 * pgherd: the agent's entry point.  Parses the command line, loads and
 * validates the configuration, then runs one libevent loop until SIGTERM or
 * SIGINT.  Startup order matters: the logger is configured before anything
 * can log, and signals are in place before the session connects.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "agent/kubernetes.h"
#include "agent/log.h"
#include "agent/version.h"

extern char **environ;

enum exit_code {
	EXIT_OK = 0,
	EXIT_RUNTIME = 1,
	EXIT_BAD_CONFIG = 2,
	EXIT_BAD_USAGE = 64,
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: pgherd [CONFIG_FILE]            run the agent\n"
		"       pgherd --validate CONFIG_FILE   check a configuration file and exit\n"
		"       pgherd --describe-config        print the configuration reference (Markdown)\n"
		"       pgherd --version | --help\n"
		"\n"
		"CONFIG_FILE is Patroni's YAML format.  PGHERD_* environment variables (and\n"
		"Patroni's PATRONI_* names) override it; without a file the environment alone\n"
		"configures the agent.  See docs/configuration.md.\n");
}

/* Human-readable diagnostics for --validate; the running agent logs them as
 * config.* events instead. */
static void print_diagnostics(const struct config_diagnostics *diags)
{
	for (size_t i = 0; i < diags->count; i++) {
		char *line = config_diagnostic_format(&diags->items[i]);
		fprintf(stderr, "%s\n", line ? line : "(out of memory)");
		free(line);
	}
}

static int validate(const char *path)
{
	struct config_diagnostics diags = { 0 };
	struct pgherd_config *config = NULL;
	bool ok = config_load_file(path, environ, &config, &diags) &&
		  kubernetes_labels_check_config(config, path, &diags);

	print_diagnostics(&diags);
	if (ok)
		fprintf(stderr, "%s: configuration is valid\n", path);
	config_diagnostics_clear(&diags);
	config_free(config);
	return ok ? EXIT_OK : EXIT_BAD_CONFIG;
}

static void libevent_log(int severity, const char *message)
{
	enum log_level level = severity >= EVENT_LOG_ERR	? LOG_LEVEL_ERROR
			       : severity >= EVENT_LOG_WARN ? LOG_LEVEL_WARNING
							    : LOG_LEVEL_DEBUG;
	log_write(level, "libevent.log", LOG_FIELDS(LF_STR("message", message)));
}

static void on_stop_signal(evutil_socket_t signal_number, short what, void *arg)
{
	(void) what;
	struct event_base *base = arg;
	log_info("agent.stopping", LF_STR("signal", strsignal((int) signal_number)));
	event_base_loopbreak(base);
}

static void on_hangup(evutil_socket_t signal_number, short what, void *arg)
{
	(void) signal_number;
	(void) what;
	struct agent **agent = arg;
	if (*agent)
		agent_reload(*agent);
}

static int run(const char *path)
{
	struct config_diagnostics diags = { 0 };
	struct pgherd_config *config = NULL;
	struct event_base *base;
	struct event *signals[3];
	struct agent *agent = NULL;

	bool ok = config_load_file(path, environ, &config, &diags) &&
		  kubernetes_labels_check_config(config, path, &diags);
	if (ok) {
		log_set_format(config->log.format);
		log_set_level(config->log.level);
		log_set_member(config->name);
	}
	agent_log_config_diagnostics(&diags);
	config_diagnostics_clear(&diags);
	if (!ok) {
		log_error("agent.exit", LF_STR("reason", "invalid configuration"),
			  LF_INT("status", EXIT_BAD_CONFIG));
		return EXIT_BAD_CONFIG;
	}

	log_info("agent.starting", LF_STR("version", PGHERD_VERSION),
		 LF_STR("config", path ? path : "(environment)"), LF_INT("pid", getpid()),
		 LF_STR("scope", config->scope));
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(libevent_log);
	base = event_base_new();
	if (!base) {
		log_error("agent.exit", LF_STR("reason", "cannot create the event loop"));
		config_free(config);
		return EXIT_RUNTIME;
	}
	signals[0] = evsignal_new(base, SIGTERM, on_stop_signal, base);
	signals[1] = evsignal_new(base, SIGINT, on_stop_signal, base);
	signals[2] = evsignal_new(base, SIGHUP, on_hangup, &agent);
	for (int i = 0; i < 3; i++)
		if (!signals[i] || evsignal_add(signals[i], NULL) != 0) {
			log_error("agent.exit", LF_STR("reason", "cannot install signal handlers"));
			for (int k = 0; k < 3; k++)
				if (signals[k])
					event_free(signals[k]);
			event_base_free(base);
			config_free(config);
			return EXIT_RUNTIME;
		}

	agent = agent_new(base, config, path);	/* owns config from here */
	if (!agent) {
		log_error("agent.exit", LF_STR("reason", "cannot start the agent"));
		for (int i = 0; i < 3; i++)
			event_free(signals[i]);
		event_base_free(base);
		return EXIT_RUNTIME;
	}
	event_base_dispatch(base);
	agent_free(agent);
	for (int i = 0; i < 3; i++)
		event_free(signals[i]);
	event_base_free(base);
	log_info("agent.stopped");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
		printf("pgherd %s\n", PGHERD_VERSION);
		return EXIT_OK;
	}
	if (argc == 2 && strcmp(argv[1], "--describe-config") == 0) {
		config_describe_markdown(stdout);
		return EXIT_OK;
	}
	if (argc >= 2 && (strcmp(argv[1], "--validate") == 0 ||
			  strcmp(argv[1], "--validate-config") == 0)) {
		if (argc != 3) {
			fprintf(stderr, "pgherd: %s needs exactly one configuration file\n", argv[1]);
			return EXIT_BAD_USAGE;
		}
		return validate(argv[2]);
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "pgherd: unexpected argument '%s'\n", argv[argc > 2 ? 2 : 1]);
		usage(stderr);
		return EXIT_BAD_USAGE;
	}
	return run(argc == 2 ? argv[1] : NULL);
}
