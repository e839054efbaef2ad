/*
 * pause and resume: maintenance mode, switched by PATCH /config
 * {"pause": true} / {"pause": null} on the first agent that answers, the
 * leader's first (patronictl's toggle_pause()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/agent_call.h"
#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/select.h"
#include "ctl/util.h"

enum {
	OPT_WAIT = 1000,
};

/* --wait: until every member that was there says it (un)paused, for at
 * most loop_wait + 1 seconds. */
static int wait_applied(struct ctl *ctl, const struct cluster_view *before, bool paused)
{
	long long seconds = before->loop_wait + 1;
	struct sb remaining = { 0 };
	int rc = CTL_EXIT_OK;

	printf("'%s' request sent, waiting until it is recognized by all nodes\n",
	       paused ? "pause" : "resume");
	fflush(stdout);
	for (long long i = 0; i <= seconds; i++) {
		struct cluster_view now;
		bool all = true;

		sb_free(&remaining);
		rc = dcs_load_cluster(ctl, before->scope, &now);
		for (size_t m = 0; rc == CTL_EXIT_OK && m < now.n_members; m++) {
			const struct view_member *member = &now.members[m];

			if (view_member(before, member->name) == NULL || member->malformed)
				continue;
			if (member->status.pause != paused) {
				all = false;
				sb_printf(&remaining, "%s%s", remaining.len ? ", " : "",
					  member->name);
			}
		}
		view_clear(&now);
		if (rc != CTL_EXIT_OK || all) {
			sb_free(&remaining);
			break;
		}
		if (i < seconds)
			dcs_idle(ctl, 1000);
	}
	if (rc == CTL_EXIT_OK && remaining.len > 0) {
		ctl_error("%s members didn't recognize the %s state after %lld seconds",
			  sb_text(&remaining), paused ? "pause" : "resume", before->loop_wait);
		rc = CTL_EXIT_REFUSED;
	} else if (rc == CTL_EXIT_OK) {
		printf("Success: cluster management is %s\n", paused ? "paused" : "resumed");
	}
	sb_free(&remaining);
	return rc;
}

static int toggle_pause(struct ctl *ctl, int argc, char **argv, bool paused)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	struct cluster_view view;
	const struct view_member **order;
	const char *name;
	bool wait = false;
	size_t n;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "", long_options)) != -1) {
		if (c != OPT_WAIT)
			return CTL_EXIT_USAGE;
		wait = true;
	}
	if (argc - optind > 1)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_cluster_name(ctl, argv[0], optind < argc ? argv[optind] : NULL, &name)) !=
	    CTL_EXIT_OK)
		return rc;
	rc = dcs_load_cluster(ctl, name, &view);
	ctl_print_warnings(&view);
	if (rc != CTL_EXIT_OK) {
		view_clear(&view);
		return rc;
	}
	if (view.paused == paused) {
		ctl_error("Cluster is %s paused", paused ? "already" : "not");
		view_clear(&view);
		return CTL_EXIT_REFUSED;
	}

	json_t *body = xjson(json_pack("{s:o}", "pause", paused ? json_true() : json_null()));
	order = xcalloc(view.n_members + 1, sizeof(*order));
	n = select_leader_first(&view, order);
	rc = CTL_EXIT_UNREACHABLE;
	for (size_t i = 0; i < n; i++) {
		struct agent_answer answer;

		agent_call(ctl, order[i], "PATCH", "config", body, AGENT_QUICK_TIMEOUT_MS, &answer);
		if (answer.result != REST_ANSWERED) {
			ctl_warning("%s", answer.error);
			ctl_warning("Member %s is not accessible", order[i]->name);
			agent_answer_clear(&answer);
			continue;
		}
		if (answer.status == 200) {
			if (wait)
				rc = wait_applied(ctl, &view, paused);
			else {
				printf("Success: cluster management is %s\n",
				       paused ? "paused" : "resumed");
				rc = CTL_EXIT_OK;
			}
		} else {
			ctl_error("Failed: %s cluster management status code=%d, (%s)",
				  paused ? "pause" : "resume", answer.status, answer.message);
			rc = CTL_EXIT_REFUSED;
		}
		agent_answer_clear(&answer);
		break;
	}
	if (rc == CTL_EXIT_UNREACHABLE)
		ctl_error("Can not find accessible cluster member");
	free(order);
	json_decref(body);
	view_clear(&view);
	return rc;
}

int cmd_pause(struct ctl *ctl, int argc, char **argv)
{
	return toggle_pause(ctl, argc, argv, true);
}

int cmd_resume(struct ctl *ctl, int argc, char **argv)
{
	return toggle_pause(ctl, argc, argv, false);
}
