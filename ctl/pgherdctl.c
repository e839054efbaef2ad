/*
 * pgherdctl: the operators' command line.  A command table in the style of
 * pg_autoctl, so that help is generated from the same rows that dispatch.
 * The operator interfaces issue fills it with Patroni's patronictl commands
 * (list, switchover, failover, pause, resume, edit-config, ...).
 */
#include <stdio.h>
#include <string.h>

#include "agent/version.h"

enum exit_code {
	EXIT_OK = 0,
	EXIT_BAD_USAGE = 64,
};

struct command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static int run_version(int argc, char **argv);
static int run_help(int argc, char **argv);

static const struct command commands[] = {
	{ "version", "print the pgherdctl version", run_version },
	{ "help", "show this help", run_help },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "Usage: pgherdctl [--help] [--version] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

static int run_version(int argc, char **argv)
{
	(void) argv;
	if (argc != 1) {
		fprintf(stderr, "pgherdctl: version takes no arguments\n");
		return EXIT_BAD_USAGE;
	}
	printf("pgherdctl version %s\n", PGHERD_VERSION);
	return EXIT_OK;
}

static int run_help(int argc, char **argv)
{
	(void) argc;
	(void) argv;
	usage(stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_BAD_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return run_help(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0)
		return run_version(1, argv + 1);
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "pgherdctl: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_BAD_USAGE;
}
