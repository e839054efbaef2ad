/*
 * remove: delete a cluster's every key from ZooKeeper, after three
 * answers patronictl asks for too: the cluster's name, the phrase "Yes I
 * am aware", and, while a member holds the leader lock, its name.  There
 * is no --force: the questions are the point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/list.h"
#include "ctl/prompt.h"
#include "ctl/util.h"

#define AWARE "Yes I am aware"

/* Ask; false (after saying why) unless the answer is exactly expected. */
static int ask_exactly(const char *question, const char *expected, const char *mismatch)
{
	char *answer = NULL;
	int rc = CTL_EXIT_OK;

	if (!prompt_text(question, NULL, &answer)) {
		ctl_error("no answer: nothing removed");
		return CTL_EXIT_ABORTED;
	}
	if (strcmp(answer, expected) != 0) {
		ctl_error("%s: nothing removed", mismatch);
		rc = CTL_EXIT_ABORTED;
	}
	free(answer);
	return rc;
}

int cmd_remove(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	enum output_format format = OUTPUT_PRETTY;
	struct cluster_view view;
	const char *name;
	char *question;
	char *text;
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
	/* The cluster is never implied by the configuration here. */
	if (optind >= argc)
		return ctl_usage_error(argv[0], "which cluster? Give its name: remove CLUSTER");
	if (argc - optind > 1)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_cluster_name(ctl, argv[0], argv[optind], &name)) != CTL_EXIT_OK)
		return rc;
	rc = dcs_load_cluster(ctl, name, &view);
	ctl_print_warnings(&view);
	if (rc != CTL_EXIT_OK) {
		view_clear(&view);
		return rc;
	}
	text = list_render(&view, format, false);
	fputs(text, stdout);
	free(text);

	rc = ask_exactly("Please confirm the cluster name to remove", name,
			 "Cluster names specified do not match");
	if (rc == CTL_EXIT_OK) {
		question = xasprintf("You are about to remove all information in DCS for %s, "
				     "please type: \"%s\"",
				     name, AWARE);
		rc = ask_exactly(question, AWARE, "You did not exactly type \"" AWARE "\"");
		free(question);
	}
	if (rc == CTL_EXIT_OK && view.leader != NULL)
		rc = ask_exactly("This cluster currently is healthy. Please specify the leader name "
				 "to continue",
				 view.leader, "You did not specify the current leader of the cluster");
	if (rc == CTL_EXIT_OK)
		rc = dcs_delete_cluster(ctl, &view);
	if (rc == CTL_EXIT_OK)
		printf("Cluster %s removed from %s\n", name, view.base);
	view_clear(&view);
	return rc;
}
