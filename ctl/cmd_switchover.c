/*
 * switchover and failover, as patronictl's _do_failover_or_switchover():
 * check the leader and the candidate against the cluster, ask what was
 * not given (unless --force), then POST /switchover or /failover to the
 * leader's agent (the candidate's when there is no leader).  When no agent
 * can be reached, write /failover directly, as patronictl does: the agents
 * act on it on their next cycle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/agent_call.h"
#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/list.h"
#include "ctl/prompt.h"
#include "ctl/schedule.h"
#include "ctl/util.h"

enum {
	OPT_LEADER = 1000,
	OPT_CANDIDATE,
	OPT_SCHEDULED,
	OPT_FORCE,
};

struct switch_request {
	bool switchover; /* false: failover */
	const char *leader;
	const char *candidate;
	const char *scheduled;
	bool force;
};

static void print_topology(const struct cluster_view *view, const char *heading)
{
	char *text = list_render(view, OUTPUT_PRETTY, false);

	if (heading != NULL)
		printf("%s\n", heading);
	fputs(text, stdout);
	free(text);
	fflush(stdout);
}

/* Members that may take over: not the leader, not nofailover; sorted. */
static size_t candidates(const struct cluster_view *view, const struct view_member **out)
{
	size_t n = 0;

	for (size_t i = 0; i < view->n_members; i++) {
		const struct view_member *m = &view->members[i];

		if (!view_is_leader(view, m) && !m->malformed && !member_status_nofailover(&m->status))
			out[n++] = m;
	}
	return n;
}

/* "['node2', 'node3']", as Python prints the list in the prompt. */
static char *python_list(const struct view_member **members, size_t n)
{
	struct sb out = { 0 };

	sb_append_char(&out, '[');
	for (size_t i = 0; i < n; i++)
		sb_printf(&out, "%s'%s'", i ? ", " : "", members[i]->name);
	sb_append_char(&out, ']');
	return sb_steal(&out);
}

/* The body of the request, and (for the DCS fallback) what goes into
 * /failover. */
static json_t *request_body(const struct switch_request *r, const char *leader,
			    const char *candidate, const char *scheduled_at)
{
	json_t *body = xjson(json_object());

	if (r->switchover && json_object_set_new(body, "leader", xjson(json_string(leader))) != 0)
		xjson(NULL);
	if (candidate != NULL && candidate[0] != '\0' &&
	    json_object_set_new(body, "candidate", xjson(json_string(candidate))) != 0)
		xjson(NULL);
	if (scheduled_at != NULL &&
	    json_object_set_new(body, "scheduled_at", xjson(json_string(scheduled_at))) != 0)
		xjson(NULL);
	return body;
}

/* patronictl's dcs.manual_failover(leader, candidate, scheduled_at). */
static int write_failover_key(struct ctl *ctl, const struct cluster_view *view,
			      const char *leader, const char *candidate, const char *scheduled_at)
{
	struct znode_failover failover = { 0 };
	char err[ZNODE_ERR_MAX];
	char *text;
	int rc;

	failover.leader = leader != NULL && leader[0] ? (char *) leader : NULL;
	failover.member = candidate != NULL && candidate[0] ? (char *) candidate : NULL;
	failover.scheduled_at = (char *) scheduled_at;
	text = znode_failover_encode(&failover, err, sizeof(err));
	if (text == NULL) {
		ctl_error("cannot encode the failover key: %s", err);
		return CTL_EXIT_FAILED;
	}
	rc = dcs_write_failover(ctl, view, text, -1);
	free(text);
	return rc;
}

/* Ask for and check the leader of a switchover; *leader is malloc'd. */
static int choose_leader(const struct switch_request *r, const struct cluster_view *view,
			 char **leader)
{
	*leader = NULL;
	if (view->leader == NULL) {
		ctl_error("This cluster has no leader");
		return CTL_EXIT_REFUSED;
	}
	if (r->leader != NULL) {
		*leader = xstrdup(r->leader);
	} else if (r->force) {
		*leader = xstrdup(view->leader);
	} else if (!prompt_text(view->standby_cluster ? "Standby Leader" : "Primary", view->leader,
				leader)) {
		ctl_error("no answer: Aborting switchover");
		return CTL_EXIT_ABORTED;
	}
	if (strcmp(*leader, view->leader) != 0) {
		ctl_error("Member %s is not the leader of cluster %s", *leader, view->scope);
		return view_member(view, *leader) ? CTL_EXIT_REFUSED : CTL_EXIT_NOT_FOUND;
	}
	return CTL_EXIT_OK;
}

/* Ask for and check the candidate; *candidate is malloc'd ("" = any). */
static int choose_candidate(const struct switch_request *r, const struct cluster_view *view,
			    char **candidate)
{
	const char *action = r->switchover ? "switchover" : "failover";
	const struct view_member **names = xcalloc(view->n_members, sizeof(*names));
	size_t n = candidates(view, names);
	int rc = CTL_EXIT_OK;
	bool listed = false;

	*candidate = NULL;
	if (n == 0) {
		ctl_error("No candidates found to %s to", action);
		free(names);
		return CTL_EXIT_REFUSED;
	}
	if (r->candidate != NULL) {
		*candidate = xstrdup(r->candidate);
	} else if (!r->force) {
		char *list = python_list(names, n);
		char *question = xasprintf("Candidate %s", list);
		bool answered = prompt_text(question, "", candidate);

		free(question);
		free(list);
		if (!answered) {
			ctl_error("no answer: Aborting %s", action);
			free(names);
			return CTL_EXIT_ABORTED;
		}
	} else {
		*candidate = xstrdup("");
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i]->name, *candidate) == 0)
			listed = true;
	free(names);
	if (!r->switchover && (*candidate)[0] == '\0') {
		ctl_error("Failover could be performed only to a specific candidate");
		return CTL_EXIT_USAGE;
	}
	if ((*candidate)[0] != '\0' && !listed) {
		if (view->leader != NULL && strcmp(*candidate, view->leader) == 0) {
			ctl_error("Member %s is already the leader of cluster %s", *candidate,
				  view->scope);
			rc = CTL_EXIT_REFUSED;
		} else if (view_member(view, *candidate) != NULL) {
			ctl_error("Member %s is tagged as nofailover in cluster %s", *candidate,
				  view->scope);
			rc = CTL_EXIT_REFUSED;
		} else {
			ctl_error("Member %s does not exist in cluster %s", *candidate, view->scope);
			rc = CTL_EXIT_NOT_FOUND;
		}
	}
	return rc;
}

/* --scheduled (or the answer to the question): *iso set when scheduled. */
static int choose_schedule(const struct switch_request *r, const struct cluster_view *view,
			   char *iso, size_t iso_size, bool *scheduled)
{
	char *answer = NULL;
	const char *text = r->scheduled;
	enum schedule_result parsed;

	*scheduled = false;
	if (text == NULL && !r->force) {
		char example[32];
		char *question;

		schedule_next_hour(example, sizeof(example));
		question = xasprintf("When should the switchover take place (e.g. %s ) ", example);
		bool answered = prompt_text(question, "now", &answer);
		free(question);
		if (!answered) {
			ctl_error("no answer: Aborting switchover");
			return CTL_EXIT_ABORTED;
		}
		text = answer;
	}
	parsed = schedule_parse(text, iso, iso_size);
	if (parsed == SCHEDULE_BAD) {
		ctl_error("Unable to parse scheduled timestamp (%s). It should be in an unambiguous "
			  "format (e.g. ISO 8601)",
			  text);
		free(answer);
		return CTL_EXIT_USAGE;
	}
	free(answer);
	if (parsed == SCHEDULE_AT && view->paused) {
		ctl_error("Can't schedule switchover in the paused state");
		return CTL_EXIT_REFUSED;
	}
	*scheduled = parsed == SCHEDULE_AT;
	return CTL_EXIT_OK;
}

/* The questions and checks; then the request. */
static int switch_leader(struct ctl *ctl, const struct switch_request *r, struct cluster_view *view)
{
	const char *action = r->switchover ? "switchover" : "failover";
	char *leader = NULL;
	char *candidate = NULL;
	char iso[64] = "";
	bool scheduled = false;
	struct agent_answer answer = { 0 };
	json_t *body = NULL;
	int rc;

	print_topology(view, "Current cluster topology");
	rc = r->switchover ? choose_leader(r, view, &leader) : CTL_EXIT_OK;
	if (rc == CTL_EXIT_OK)
		rc = choose_candidate(r, view, &candidate);
	if (rc == CTL_EXIT_OK && !r->force && !r->switchover && view->synchronous_mode &&
	    view->sync.leader != NULL && !view_is_sync_standby(view, candidate)) {
		char *question = xasprintf("Are you sure you want to failover to the asynchronous "
					   "node %s?",
					   candidate);
		bool yes = false;

		if (!prompt_confirm(question, &yes) || !yes) {
			ctl_error("Aborting %s", action);
			rc = CTL_EXIT_ABORTED;
		}
		free(question);
	}
	if (rc == CTL_EXIT_OK && r->switchover)
		rc = choose_schedule(r, view, iso, sizeof(iso), &scheduled);
	if (rc == CTL_EXIT_OK && !r->force) {
		char *demote = view->leader ? xasprintf(", demoting current leader %s", view->leader)
					    : xstrdup("");
		char *question = scheduled ? xasprintf("Are you sure you want to schedule switchover "
						       "of cluster %s at %s%s?",
						       view->scope, iso, demote)
					   : xasprintf("Are you sure you want to %s cluster %s%s?",
						       action, view->scope, demote);
		bool yes = false;

		if (!prompt_confirm(question, &yes) || !yes) {
			ctl_error("Aborting %s%s", scheduled ? "scheduled " : "", action);
			rc = CTL_EXIT_ABORTED;
		}
		free(question);
		free(demote);
	}
	if (rc != CTL_EXIT_OK)
		goto done;

	/* The leader's agent does it; without a leader, the candidate's. */
	const struct view_member *target = view->leader ? view_member(view, view->leader) : NULL;
	if (target == NULL && candidate[0] != '\0')
		target = view_member(view, candidate);
	body = request_body(r, leader, candidate, scheduled ? iso : NULL);
	if (target != NULL) {
		/* The agent answers once the new leader is in place: Patroni
		 * waits up to 2 * max(10, loop_wait) seconds for it. */
		long long wait_s = 2 * (view->loop_wait > 10 ? view->loop_wait : 10) + 10;

		agent_call(ctl, target, "POST", action, body, (int) wait_s * 1000, &answer);
	} else {
		snprintf(answer.error, sizeof(answer.error), "no member to ask");
		answer.result = REST_UNREACHABLE;
	}
	char now[64];
	schedule_timestamp(now, sizeof(now), 6);
	if (answer.result == REST_ANSWERED && (answer.status == 200 || answer.status == 202)) {
		printf("%s %s\n", now, answer.message);
	} else if (answer.result == REST_ANSWERED) {
		ctl_error("%c%s failed, details: %d, %s", r->switchover ? 'S' : 'F', action + 1,
			  answer.status, answer.message);
		rc = CTL_EXIT_REFUSED;
	} else {
		/* patronictl: "Could not switchover using Patroni api,
		 * falling back to DCS". */
		ctl_warning("%s", answer.error);
		printf("%s Could not %s using the REST API, falling back to DCS\n", now, action);
		fflush(stdout);
		rc = write_failover_key(ctl, view, leader, candidate, scheduled ? iso : NULL);
	}
	if (rc == CTL_EXIT_OK) {
		struct cluster_view after;

		if (dcs_load_cluster(ctl, view->scope, &after) == CTL_EXIT_OK)
			print_topology(&after, NULL);
		view_clear(&after);
	}
done:
	agent_answer_clear(&answer);
	json_decref(body);
	free(leader);
	free(candidate);
	return rc;
}

static int switch_command(struct ctl *ctl, int argc, char **argv, bool switchover)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "leader", required_argument, NULL, OPT_LEADER },
		{ "primary", required_argument, NULL, OPT_LEADER },
		{ "master", required_argument, NULL, OPT_LEADER },
		{ "candidate", required_argument, NULL, OPT_CANDIDATE },
		{ "scheduled", required_argument, NULL, OPT_SCHEDULED },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct switch_request request = { .switchover = switchover };
	struct cluster_view view;
	const char *name;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "", long_options)) != -1) {
		switch (c) {
		case OPT_LEADER:
			request.leader = optarg;
			break;
		case OPT_CANDIDATE:
			request.candidate = optarg;
			break;
		case OPT_SCHEDULED:
			if (!switchover)
				return ctl_usage_error(argv[0], "Failover can't be scheduled: use "
								"switchover --scheduled");
			request.scheduled = optarg;
			break;
		case OPT_FORCE:
			request.force = true;
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	/* A bad --scheduled is a bad argument: say so before anything else. */
	if (request.scheduled != NULL) {
		char iso[64];

		if (schedule_parse(request.scheduled, iso, sizeof(iso)) == SCHEDULE_BAD)
			return ctl_usage_error(argv[0],
					       "Unable to parse scheduled timestamp (%s). It should be "
					       "in an unambiguous format (e.g. ISO 8601)",
					       request.scheduled);
	}
	/* patronictl: failover --leader is a switchover. */
	if (!switchover && request.leader != NULL) {
		ctl_warning("failover --leader is deprecated: this is a switchover");
		request.switchover = true;
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
	if (rc == CTL_EXIT_OK)
		rc = switch_leader(ctl, &request, &view);
	view_clear(&view);
	return rc;
}

int cmd_switchover(struct ctl *ctl, int argc, char **argv)
{
	return switch_command(ctl, argc, argv, true);
}

int cmd_failover(struct ctl *ctl, int argc, char **argv)
{
	return switch_command(ctl, argc, argv, false);
}
