/*
 * pgherdctl: the operators' command line, patronictl's commands for pgherd
 * (and Patroni) clusters in ZooKeeper.  This file holds the global
 * options, the command table that both dispatches and generates the help,
 * and the exit codes' documentation.  Each command lives in a cmd_*.c
 * file.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/version.h"
#include "ctl/ctl.h"

struct command {
	const char *name;
	const char *arguments;
	const char *summary;
	const char *options; /* lines of the command's --help */
	int (*run)(struct ctl *ctl, int argc, char **argv);
};

static const struct command commands[] = {
	{ "list", "[CLUSTER...]",
	  "List the members, read from ZooKeeper (works with every agent down)",
	  "  -e, --extended         show Pending restart, Scheduled restart and Tags always\n"
	  "  -t, --timestamp        print a timestamp before the table\n"
	  "  -f, --format FORMAT    pretty (default), tsv, json or yaml\n"
	  "  -W                     watch: refresh every 2 seconds\n"
	  "  -w, --watch SECONDS    watch: refresh every SECONDS\n",
	  cmd_list },
	{ "topology", "[CLUSTER...]", "List the members under the member they replicate from",
	  "  -W                     watch: refresh every 2 seconds\n"
	  "  -w, --watch SECONDS    watch: refresh every SECONDS\n",
	  cmd_topology },
	{ "switchover", "[CLUSTER]", "Hand the leader role over to another member, now or later",
	  "      --leader NAME      the current leader (aliases --primary, --master)\n"
	  "      --candidate NAME   the member to take over (default: the best one)\n"
	  "      --scheduled TIME   when: ISO 8601 (local time without a zone) or now\n"
	  "      --force            ask nothing\n",
	  cmd_switchover },
	{ "failover", "[CLUSTER]", "Make a member the leader, even with no healthy leader",
	  "      --candidate NAME   the member to promote (required)\n"
	  "      --force            ask nothing\n",
	  cmd_failover },
	{ "restart", "CLUSTER [MEMBER...]", "Restart PostgreSQL on members",
	  "  -r, --role ROLE        only members with this role: leader, primary, standby-leader,\n"
	  "                         replica, standby, any (default)\n"
	  "      --any              restart one member only, chosen at random\n"
	  "      --scheduled TIME   when: ISO 8601 or now\n"
	  "      --pg-version VER   only if the running PostgreSQL is older than VER\n"
	  "      --pending          only if a restart is pending\n"
	  "      --timeout TIME     fail (and fail over) if the restart takes longer\n"
	  "      --force            ask nothing; replace a scheduled restart\n",
	  cmd_restart },
	{ "reinit", "CLUSTER [MEMBER...]", "Rebuild replicas from the leader",
	  "      --force            ask nothing; cancel what the member is doing\n"
	  "      --wait             wait until the members are rebuilt\n",
	  cmd_reinit },
	{ "reload", "CLUSTER [MEMBER...]", "Make agents reload their configuration",
	  "  -r, --role ROLE        only members with this role (default any)\n"
	  "      --force            ask nothing\n",
	  cmd_reload },
	{ "flush", "CLUSTER [MEMBER...] restart|switchover",
	  "Cancel scheduled restarts or a scheduled switchover",
	  "  -r, --role ROLE        only members with this role (default any)\n"
	  "      --force            ask nothing\n",
	  cmd_flush },
	{ "pause", "[CLUSTER]", "Put the cluster in maintenance mode: agents stop acting",
	  "      --wait             wait until every member has paused\n", cmd_pause },
	{ "resume", "[CLUSTER]", "Leave maintenance mode",
	  "      --wait             wait until every member has resumed\n", cmd_resume },
	{ "edit-config", "[CLUSTER]",
	  "Change the dynamic configuration (in $EDITOR, or -s/-p), after a diff",
	  "  -s, --set KEY=VALUE    set a key (dots for levels, a YAML value; null deletes)\n"
	  "  -p, --pg NAME=VALUE    set postgresql.parameters.NAME\n"
	  "      --apply FILE       merge a YAML file in (- for standard input)\n"
	  "      --replace FILE     replace the whole configuration (- for standard input)\n"
	  "  -q, --quiet            do not show the diff\n"
	  "      --force            apply without asking\n",
	  cmd_edit_config },
	{ "show-config", "[CLUSTER]", "Show the dynamic configuration as YAML", "", cmd_show_config },
	{ "history", "[CLUSTER]", "Show the history of failovers and switchovers",
	  "  -f, --format FORMAT    pretty (default), tsv, json or yaml\n", cmd_history },
	{ "remove", "CLUSTER", "Remove a cluster's keys from ZooKeeper (asks three questions)",
	  "  -f, --format FORMAT    format of the member list shown first\n", cmd_remove },
	{ "dsn", "[CLUSTER]", "Print a connection string for the leader or a member",
	  "  -r, --role ROLE        a member with this role (default leader)\n"
	  "  -m, --member NAME      this member\n",
	  cmd_dsn },
	{ "version", "[CLUSTER [MEMBER...]]", "Print the versions of pgherdctl and of the members' agents",
	  "", cmd_version },
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static const char exit_codes[] =
	"Exit codes:\n"
	"  0   success\n"
	"  1   failed for another reason (an editor failed, an answer that is not the REST API's)\n"
	"  2   the configuration file cannot be used\n"
	"  3   not found: no such cluster in ZooKeeper, or no such member in it\n"
	"  4   refused by the cluster: an agent answered 4xx/5xx, a concurrent change, a state\n"
	"      that does not allow the action\n"
	"  5   unreachable: ZooKeeper or the agents' REST API does not answer\n"
	"  6   aborted: a question was answered no, or not at all\n"
	"  64  bad arguments\n";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: pgherdctl [-c CONFIG_FILE] [-d DCS_URL] COMMAND [ARGS]\n"
		"\n"
		"Operate pgherd and Patroni clusters: their state is read from ZooKeeper, their\n"
		"agents are asked to act over the REST API.\n"
		"\n"
		"Global options (also accepted after the command):\n"
		"  -c, --config-file FILE  the agent's YAML configuration: ZooKeeper, namespace,\n"
		"                          scope (the default cluster), REST credentials; also\n"
		"                          $PGHERDCTL_CONFIG_FILE, $PATRONICTL_CONFIG_FILE, else\n"
		"                          ~/.config/patroni/patronictl.yaml when it exists\n"
		"  -d, --dcs-url URL       zookeeper://HOST:PORT[,HOST:PORT...]/NAMESPACE, over the\n"
		"                          configuration's (also $PGHERDCTL_DCS_URL, $DCS_URL)\n"
		"  -k, --insecure          accepted for patronictl's sake (there is no TLS)\n"
		"  -h, --help              this help; COMMAND --help for a command's\n"
		"      --version           pgherdctl's version\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++)
		fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n%s\nSee docs/pgherdctl.md.\n", exit_codes);
}

static void command_usage(const struct command *command)
{
	printf("Usage: pgherdctl %s [OPTIONS] %s\n\n%s.\n\nOptions:\n%s"
	       "  -c, -d                 the global options (pgherdctl --help)\n"
	       "      --help             this help\n\n%s",
	       command->name, command->arguments, command->summary, command->options,
	       exit_codes);
}

/* --help among a command's arguments (before a "--"). */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option global_options[] = {
		CTL_GLOBAL_LONG,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { 0 };
	int c;
	int rc;

	/* '+': stop at the command, whose own options are its business. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:c:d:kh", global_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			ctl.config_file = optarg;
			break;
		case 'd':
			ctl.dcs_url = optarg;
			break;
		case 'k':
			break;
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("pgherdctl version %s\n", PGHERD_VERSION);
			return CTL_EXIT_OK;
		case ':':
			return ctl_usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (strcmp(argv[optind], commands[i].name) != 0)
			continue;
		if (wants_help(argc - optind, argv + optind)) {
			command_usage(&commands[i]);
			return CTL_EXIT_OK;
		}
		rc = commands[i].run(&ctl, argc - optind, argv + optind);
		ctl_free(&ctl);
		fflush(stdout);
		return rc;
	}
	fprintf(stderr, "pgherdctl: unknown command '%s'\n\n", argv[optind]);
	usage(stderr);
	return CTL_EXIT_USAGE;
}
