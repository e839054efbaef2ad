/*
 * The commands that only read ZooKeeper, and so work with every agent
 * down: list, topology, history, dsn.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/history.h"
#include "ctl/list.h"
#include "ctl/schedule.h"
#include "ctl/select.h"
#include "ctl/util.h"

enum {
	OPT_WATCH_COUNT = 1000,
};

struct list_options {
	enum output_format format;
	bool extended;
	bool timestamp;
	long interval_s; /* 0: no watching */
	long count;      /* renders in watch mode, 0: until interrupted */
};

/* One pass over the clusters; the exit code of the last one that failed. */
static int show_clusters(struct ctl *ctl, char **names, int n_names,
			 const struct list_options *options)
{
	int result = CTL_EXIT_OK;

	if (options->timestamp) {
		char now[64];

		schedule_timestamp(now, sizeof(now), 0);
		printf("%s\n", now);
	}
	for (int i = 0; i < n_names; i++) {
		struct cluster_view view;
		int rc = dcs_load_cluster(ctl, names[i], &view);

		ctl_print_warnings(&view);
		if (rc == CTL_EXIT_OK) {
			char *text = list_render(&view, options->format, options->extended);

			fputs(text, stdout);
			free(text);
		} else {
			result = rc;
		}
		view_clear(&view);
		fflush(stdout);
	}
	return result;
}

static int members_command(struct ctl *ctl, int argc, char **argv, bool topology)
{
	static const struct option list_long[] = {
		CTL_GLOBAL_LONG,
		{ "extended", no_argument, NULL, 'e' },
		{ "timestamp", no_argument, NULL, 't' },
		{ "format", required_argument, NULL, 'f' },
		{ "watch", required_argument, NULL, 'w' },
		{ "watch-count", required_argument, NULL, OPT_WATCH_COUNT },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option topology_long[] = {
		CTL_GLOBAL_LONG,
		{ "watch", required_argument, NULL, 'w' },
		{ "watch-count", required_argument, NULL, OPT_WATCH_COUNT },
		{ NULL, 0, NULL, 0 },
	};
	struct list_options options = { .format = topology ? OUTPUT_TOPOLOGY : OUTPUT_PRETTY };
	bool watch_default = false;
	char **names;
	int n_names;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, topology ? "Ww:" : "etf:Ww:",
			       topology ? topology_long : list_long)) != -1) {
		switch (c) {
		case 'e':
			options.extended = true;
			break;
		case 't':
			options.timestamp = true;
			break;
		case 'f':
			if (!output_format_parse(optarg, &options.format))
				return ctl_usage_error(argv[0], "--format must be pretty, tsv, json or "
								"yaml, got '%s'",
						       optarg);
			break;
		case 'W':
			watch_default = true;
			break;
		case 'w':
			if (!ctl_parse_int(argv[0], "--watch", optarg, 1, 86400, &options.interval_s))
				return CTL_EXIT_USAGE;
			break;
		case OPT_WATCH_COUNT:
			if (!ctl_parse_int(argv[0], "--watch-count", optarg, 1, 1000000,
					   &options.count))
				return CTL_EXIT_USAGE;
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	/* patronictl: -W is --watch 2. */
	if (watch_default && options.interval_s == 0)
		options.interval_s = 2;
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	if (optind < argc) {
		names = argv + optind;
		n_names = argc - optind;
		for (int i = 0; i < n_names; i++)
			if (!znode_name_is_valid(names[i]))
				return ctl_usage_error(argv[0], "'%s' cannot be a cluster name",
						       names[i]);
	} else {
		const char *name;

		if ((rc = ctl_cluster_name(ctl, argv[0], NULL, &name)) != CTL_EXIT_OK)
			return rc;
		names = &ctl->scope;
		n_names = 1;
	}

	for (long pass = 1;; pass++) {
		/* Like click.clear(): only a terminal is cleared. */
		if (options.interval_s > 0 && isatty(STDOUT_FILENO))
			fputs("\033[2J\033[1;1H", stdout);
		rc = show_clusters(ctl, names, n_names, &options);
		if (options.interval_s == 0 || (options.count > 0 && pass >= options.count))
			return rc;
		dcs_idle(ctl, (int) options.interval_s * 1000);
	}
}

int cmd_list(struct ctl *ctl, int argc, char **argv)
{
	return members_command(ctl, argc, argv, false);
}

int cmd_topology(struct ctl *ctl, int argc, char **argv)
{
	return members_command(ctl, argc, argv, true);
}

/* Read the cluster a command names (at most one positional argument). */
static int load_named_cluster(struct ctl *ctl, int argc, char **argv, struct cluster_view *view,
			      bool *loaded)
{
	const char *name;
	int rc;

	*loaded = false;
	if (argc - optind > 1)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_cluster_name(ctl, argv[0], optind < argc ? argv[optind] : NULL, &name)) !=
	    CTL_EXIT_OK)
		return rc;
	*loaded = true;
	rc = dcs_load_cluster(ctl, name, view);
	ctl_print_warnings(view);
	return rc;
}

int cmd_history(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	enum output_format format = OUTPUT_PRETTY;
	struct cluster_view view;
	bool loaded;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "f:", long_options)) != -1) {
		if (c != 'f')
			return CTL_EXIT_USAGE;
		if (!output_format_parse(optarg, &format))
			return ctl_usage_error(argv[0],
					       "--format must be pretty, tsv, json or yaml, got '%s'",
					       optarg);
	}
	rc = load_named_cluster(ctl, argc, argv, &view, &loaded);
	if (rc == CTL_EXIT_OK) {
		char *text = history_render(&view.history, format);

		fputs(text, stdout);
		free(text);
	}
	if (loaded)
		view_clear(&view);
	return rc;
}

int cmd_dsn(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "role", required_argument, NULL, 'r' },
		{ "member", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	enum select_role role = SELECT_LEADER;
	bool role_given = false;
	const char *member = NULL;
	struct cluster_view view;
	bool loaded;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "r:m:", long_options)) != -1) {
		if (c == 'r') {
			if (!select_role_parse(optarg, &role))
				return ctl_usage_error(argv[0], "unknown role '%s'", optarg);
			role_given = true;
		} else if (c == 'm') {
			member = optarg;
		} else {
			return CTL_EXIT_USAGE;
		}
	}
	if (member != NULL && role_given)
		return ctl_usage_error(argv[0], "--role and --member are mutually exclusive options");
	if (member != NULL)
		role = SELECT_ANY;
	rc = load_named_cluster(ctl, argc, argv, &view, &loaded);
	if (rc == CTL_EXIT_OK) {
		const struct view_member **chosen = xcalloc(view.n_members, sizeof(*chosen));
		size_t n = select_members(&view, role, chosen);
		const struct view_member *found = NULL;

		for (size_t i = 0; i < n && found == NULL; i++)
			if (member == NULL || strcmp(chosen[i]->name, member) == 0)
				found = chosen[i];
		if (found == NULL) {
			ctl_error("cannot find a suitable member in cluster '%s'", view.scope);
			rc = CTL_EXIT_NOT_FOUND;
		} else if (found->host == NULL) {
			ctl_error("member %s has no usable conn_url", found->name);
			rc = CTL_EXIT_NOT_FOUND;
		} else {
			printf("host=%s port=%d\n", found->host, found->port);
		}
		free(chosen);
	}
	if (loaded)
		view_clear(&view);
	return rc;
}
