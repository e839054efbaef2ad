/*
 * The commands that ask some members' agents to act, one request each:
 * restart (POST /restart, DELETE /restart first when --force replaces a
 * schedule), reinit (POST /reinitialize), reload (POST /reload) and flush
 * (DELETE /restart, DELETE /switchover).  Members are chosen as
 * patronictl's get_members(): the names given, else the one asked for,
 * else (with --force) every member of the role.  The exit code is the
 * first failure's; the other members are still asked.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/agent_call.h"
#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/list.h"
#include "ctl/prompt.h"
#include "ctl/schedule.h"
#include "ctl/select.h"
#include "ctl/util.h"

/* A restart waits for PostgreSQL to come back (primary_start_timeout is
 * 300 s by default); a reinitialize answers when it has started. */
#define RESTART_TIMEOUT_MS 360000
#define REINIT_TIMEOUT_MS 60000

enum {
	OPT_ANY = 1000,
	OPT_SCHEDULED,
	OPT_PG_VERSION,
	OPT_PENDING,
	OPT_TIMEOUT,
	OPT_FORCE,
	OPT_WAIT,
};

struct selection {
	struct cluster_view view;
	bool loaded;
	const struct view_member **members;
	size_t n_members;
};

static void selection_clear(struct selection *s)
{
	if (s->loaded)
		view_clear(&s->view);
	free(s->members);
	memset(s, 0, sizeof(*s));
}

static char *joined_names(const struct view_member *const *members, size_t n)
{
	struct sb out = { 0 };

	for (size_t i = 0; i < n; i++)
		sb_printf(&out, "%s%s", i ? ", " : "", members[i]->name);
	return sb_steal(&out);
}

/* Keep the first failure: it is the one the operator reads first. */
static void note_failure(int *result, int rc)
{
	if (*result == CTL_EXIT_OK)
		*result = rc;
}

/*
 * CLUSTER [MEMBER...] from argv[first..last): load the cluster and pick
 * the members (patronictl's get_members()).  `action` words the question.
 */
static int select_for(struct ctl *ctl, char **argv, int first, int last, enum select_role role,
		      bool force, const char *action, struct selection *s)
{
	const struct view_member **candidates;
	size_t n_candidates;
	const char *name;
	int rc;

	memset(s, 0, sizeof(*s));
	if (first >= last)
		return ctl_usage_error(argv[0], "which cluster? Give its name: %s CLUSTER [MEMBER...]",
				       argv[0]);
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_cluster_name(ctl, argv[0], argv[first], &name)) != CTL_EXIT_OK)
		return rc;
	s->loaded = true;
	rc = dcs_load_cluster(ctl, name, &s->view);
	ctl_print_warnings(&s->view);
	if (rc != CTL_EXIT_OK)
		return rc;

	candidates = xcalloc(s->view.n_members, sizeof(*candidates));
	n_candidates = select_members(&s->view, role, candidates);
	s->members = xcalloc(s->view.n_members, sizeof(*s->members));
	if (n_candidates == 0 && first + 1 == last) {
		ctl_error("%s cluster doesn't have any members%s", name,
			  role == SELECT_ANY ? "" : " of that role");
		free(candidates);
		return CTL_EXIT_NOT_FOUND;
	}
	if (!force) {
		char *text = list_render(&s->view, OUTPUT_PRETTY, false);

		fputs(text, stdout);
		free(text);
	}

	char *answer = NULL;
	char **names = argv + first + 1;
	int n_names = last - first - 1;
	if (n_names == 0 && !force) {
		char *list = joined_names(candidates, n_candidates);
		char *question = xasprintf("Which member do you want to %s [%s]?", action, list);
		bool answered = prompt_text(question, "", &answer);

		free(question);
		free(list);
		if (!answered) {
			ctl_error("no answer: Aborted %s", action);
			free(candidates);
			return CTL_EXIT_ABORTED;
		}
		names = &answer;
		n_names = 1;
	}
	rc = CTL_EXIT_OK;
	for (int i = 0; i < n_names && rc == CTL_EXIT_OK; i++) {
		bool found = false;

		for (size_t k = 0; k < n_candidates; k++)
			found |= strcmp(candidates[k]->name, names[i]) == 0;
		if (!found) {
			ctl_error("%s is not a member of cluster%s", names[i][0] ? names[i] : "''",
				  role == SELECT_ANY ? "" : " with that role");
			rc = CTL_EXIT_NOT_FOUND;
		}
	}
	for (size_t k = 0; k < n_candidates && rc == CTL_EXIT_OK; k++) {
		bool named = n_names == 0;

		for (int i = 0; i < n_names; i++)
			named |= strcmp(candidates[k]->name, names[i]) == 0;
		if (named)
			s->members[s->n_members++] = candidates[k];
	}
	free(answer);
	free(candidates);
	return rc;
}

/* confirm_members_action() */
static int confirm_members(const struct selection *s, bool force, const char *action,
			   const char *scheduled_at)
{
	char *names;
	char *question;
	bool yes = false;
	bool answered;

	if (force)
		return CTL_EXIT_OK;
	names = joined_names(s->members, s->n_members);
	question = scheduled_at
			   ? xasprintf("Are you sure you want to schedule %s of members %s at %s?",
				       action, names, scheduled_at)
			   : xasprintf("Are you sure you want to %s members %s?", action, names);
	answered = prompt_confirm(question, &yes);
	free(question);
	free(names);
	if (!answered || !yes) {
		ctl_error("Aborted %s%s", scheduled_at ? "scheduled " : "", action);
		return CTL_EXIT_ABORTED;
	}
	return CTL_EXIT_OK;
}

/* check_response(): prints the outcome; the exit code. */
static int check_response(const struct agent_answer *answer, const char *member,
			  const char *action)
{
	int rc = agent_exit_code(answer);

	if (rc == CTL_EXIT_OK) {
		printf("Success: %s for member %s\n", action, member);
	} else {
		char *why = agent_answer_describe(answer);

		ctl_error("Failed: %s for member %s, %s", action, member, why);
		free(why);
	}
	return rc;
}

/* Patroni accepts 9.6.24, 10.1, 15 (postgres_version_to_int). */
static bool valid_pg_version(const char *text)
{
	int parts = 0;

	for (const char *p = text;;) {
		if (!isdigit((unsigned char) *p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
		parts++;
		if (*p == '\0')
			return parts <= 3;
		if (*p++ != '.')
			return false;
	}
}

/* ---- restart ----------------------------------------------------------------- */

struct restart_options {
	enum select_role role;
	bool any;
	const char *scheduled;
	const char *pg_version;
	bool pending;
	const char *timeout;
	bool force;
};

static int restart_members(struct ctl *ctl, struct selection *s, struct restart_options *o)
{
	char *scheduled_answer = NULL;
	char *version_answer = NULL;
	char iso[64];
	json_t *content = xjson(json_object());
	int result = CTL_EXIT_OK;
	int rc = CTL_EXIT_OK;

	if (o->scheduled == NULL && !o->force) {
		char example[32];
		char *question;

		schedule_next_hour(example, sizeof(example));
		question = xasprintf("When should the restart take place (e.g. %s) ", example);
		if (!prompt_text(question, "now", &scheduled_answer))
			rc = CTL_EXIT_ABORTED;
		free(question);
		o->scheduled = scheduled_answer;
	}
	if (rc == CTL_EXIT_OK && o->any && s->n_members > 1) {
		/* --any: one member, chosen at random. */
		srand((unsigned) time(NULL));
		s->members[0] = s->members[(size_t) rand() % s->n_members];
		s->n_members = 1;
	}
	if (rc == CTL_EXIT_OK && o->pg_version == NULL && !o->force) {
		if (!prompt_text("Restart if the PostgreSQL version is less than provided (e.g. "
				 "9.5.2) ",
				 "", &version_answer))
			rc = CTL_EXIT_ABORTED;
		o->pg_version = version_answer;
	}
	if (rc == CTL_EXIT_ABORTED)
		ctl_error("no answer: Aborted restart");
	if (rc == CTL_EXIT_OK && o->pending &&
	    json_object_set_new(content, "restart_pending", json_true()) != 0)
		xjson(NULL);
	if (rc == CTL_EXIT_OK && o->pg_version != NULL && o->pg_version[0] != '\0') {
		if (!valid_pg_version(o->pg_version)) {
			ctl_error("Invalid PostgreSQL version: %s (expected e.g. 9.6.24 or 15.4)",
				  o->pg_version);
			rc = CTL_EXIT_USAGE;
		} else if (json_object_set_new(content, "postgres_version",
					       xjson(json_string(o->pg_version))) != 0) {
			xjson(NULL);
		}
	}
	if (rc == CTL_EXIT_OK) {
		enum schedule_result parsed = schedule_parse(o->scheduled, iso, sizeof(iso));

		if (parsed == SCHEDULE_BAD) {
			ctl_error("Unable to parse scheduled timestamp (%s). It should be in an "
				  "unambiguous format (e.g. ISO 8601)",
				  o->scheduled);
			rc = CTL_EXIT_USAGE;
		} else if (parsed == SCHEDULE_AT && s->view.paused) {
			ctl_error("Can't schedule restart in the paused state");
			rc = CTL_EXIT_REFUSED;
		} else if (parsed == SCHEDULE_AT &&
			   json_object_set_new(content, "schedule", xjson(json_string(iso))) != 0) {
			xjson(NULL);
		}
	}
	if (rc == CTL_EXIT_OK && o->timeout != NULL &&
	    json_object_set_new(content, "timeout", xjson(json_string(o->timeout))) != 0)
		xjson(NULL);
	if (rc == CTL_EXIT_OK)
		rc = confirm_members(s, o->force, "restart",
				     json_string_value(json_object_get(content, "schedule")));
	for (size_t i = 0; rc == CTL_EXIT_OK && i < s->n_members; i++) {
		const struct view_member *m = s->members[i];
		struct agent_answer answer;

		if (json_object_get(content, "schedule") != NULL && o->force &&
		    json_is_object(m->status.scheduled_restart)) {
			agent_call(ctl, m, "DELETE", "restart", NULL, AGENT_QUICK_TIMEOUT_MS,
				   &answer);
			note_failure(&result, check_response(&answer, m->name,
							     "flush scheduled restart"));
			agent_answer_clear(&answer);
		}
		agent_call(ctl, m, "POST", "restart", content, RESTART_TIMEOUT_MS, &answer);
		if (answer.result == REST_ANSWERED && answer.status == 200) {
			printf("Success: restart on member %s\n", m->name);
		} else if (answer.result == REST_ANSWERED && answer.status == 202) {
			printf("Success: restart scheduled on member %s\n", m->name);
		} else if (answer.result == REST_ANSWERED && answer.status == 409) {
			ctl_error("Failed: another restart is already scheduled on member %s",
				  m->name);
			note_failure(&result, CTL_EXIT_REFUSED);
		} else {
			char *why = agent_answer_describe(&answer);

			ctl_error("Failed: restart for member %s, %s", m->name, why);
			free(why);
			note_failure(&result, agent_exit_code(&answer));
		}
		agent_answer_clear(&answer);
	}
	json_decref(content);
	free(scheduled_answer);
	free(version_answer);
	return rc != CTL_EXIT_OK ? rc : result;
}

int cmd_restart(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "role", required_argument, NULL, 'r' },
		{ "any", no_argument, NULL, OPT_ANY },
		{ "scheduled", required_argument, NULL, OPT_SCHEDULED },
		{ "pg-version", required_argument, NULL, OPT_PG_VERSION },
		{ "pending", no_argument, NULL, OPT_PENDING },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct restart_options options = { .role = SELECT_ANY };
	struct selection s;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "r:", long_options)) != -1) {
		switch (c) {
		case 'r':
			if (!select_role_parse(optarg, &options.role))
				return ctl_usage_error(argv[0], "unknown role '%s'", optarg);
			break;
		case OPT_ANY:
			options.any = true;
			break;
		case OPT_SCHEDULED:
			options.scheduled = optarg;
			break;
		case OPT_PG_VERSION:
			options.pg_version = optarg;
			break;
		case OPT_PENDING:
			options.pending = true;
			break;
		case OPT_TIMEOUT:
			options.timeout = optarg;
			break;
		case OPT_FORCE:
			options.force = true;
			break;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	rc = select_for(ctl, argv, optind, argc, options.role, options.force, "restart", &s);
	if (rc == CTL_EXIT_OK)
		rc = restart_members(ctl, &s, &options);
	selection_clear(&s);
	return rc;
}

/* ---- reinit ------------------------------------------------------------------ */

static bool ends_with(const char *text, const char *suffix)
{
	size_t len = strlen(text);
	size_t n = strlen(suffix);

	return len >= n && strcmp(text + len - n, suffix) == 0;
}

static bool still_creating(const json_t *state)
{
	return json_is_string(state) && strcmp(json_string_value(state), "creating replica") == 0;
}

/* --wait: GET /patroni every 2 s until the member is no longer "creating
 * replica". */
static int wait_reinitialized(struct ctl *ctl, const struct selection *s, const bool *waiting)
{
	bool *left = xcalloc(s->n_members, sizeof(bool));
	size_t n_left = 0;
	int result = CTL_EXIT_OK;

	for (size_t i = 0; i < s->n_members; i++)
		if (waiting[i]) {
			left[i] = true;
			n_left++;
		}
	bool changed = true;
	while (n_left > 0) {
		if (changed) {
			struct sb names = { 0 };

			for (size_t i = 0; i < s->n_members; i++)
				if (left[i])
					sb_printf(&names, "%s%s", names.len ? ", " : "",
						  s->members[i]->name);
			printf("Waiting for reinitialize to complete on: %s\n", sb_text(&names));
			fflush(stdout);
			sb_free(&names);
		}
		changed = false;
		dcs_idle(ctl, 2000);
		for (size_t i = 0; i < s->n_members; i++) {
			struct agent_answer answer;
			json_t *status;

			if (!left[i])
				continue;
			agent_call(ctl, s->members[i], "GET", "patroni", NULL,
				   AGENT_QUICK_TIMEOUT_MS, &answer);
			status = answer.result == REST_ANSWERED && answer.status == 200
					 ? json_loads(answer.body, 0, NULL)
					 : NULL;
			if (answer.result == REST_UNREACHABLE) {
				ctl_error("cannot follow member %s: %s", s->members[i]->name,
					  answer.error);
				note_failure(&result, CTL_EXIT_UNREACHABLE);
				left[i] = false;
				n_left--;
				changed = true;
			} else if (json_is_object(status) &&
				   !still_creating(json_object_get(status, "state"))) {
				printf("Reinitialize is completed on: %s\n", s->members[i]->name);
				left[i] = false;
				n_left--;
				changed = true;
			}
			json_decref(status);
			agent_answer_clear(&answer);
		}
	}
	free(left);
	return result;
}

int cmd_reinit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	bool wait = false;
	struct selection s;
	int result = CTL_EXIT_OK;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "", long_options)) != -1) {
		if (c == OPT_FORCE)
			force = true;
		else if (c == OPT_WAIT)
			wait = true;
		else
			return CTL_EXIT_USAGE;
	}
	rc = select_for(ctl, argv, optind, argc, SELECT_REPLICA, force, "reinitialize", &s);
	if (rc == CTL_EXIT_OK)
		rc = confirm_members(&s, force, "reinitialize", NULL);
	bool *waiting = xcalloc(s.n_members + 1, sizeof(bool));
	for (size_t i = 0; rc == CTL_EXIT_OK && i < s.n_members; i++) {
		json_t *body = xjson(json_pack("{s:b}", "force", force));
		struct agent_answer answer;

		for (;;) {
			agent_call(ctl, s.members[i], "POST", "reinitialize", body, REINIT_TIMEOUT_MS,
				   &answer);
			int outcome = check_response(&answer, s.members[i]->name, "reinitialize");
			bool yes = false;

			/* Offer to cancel what is in progress, as patronictl. */
			if (outcome == CTL_EXIT_REFUSED && !force &&
			    ends_with(answer.message, " already in progress") &&
			    prompt_confirm("Do you want to cancel it and reinitialize anyway?", &yes) &&
			    yes) {
				agent_answer_clear(&answer);
				if (json_object_set_new(body, "force", json_true()) != 0)
					xjson(NULL);
				continue;
			}
			note_failure(&result, outcome);
			waiting[i] = outcome == CTL_EXIT_OK && wait;
			break;
		}
		agent_answer_clear(&answer);
		json_decref(body);
	}
	if (rc == CTL_EXIT_OK)
		note_failure(&result, wait_reinitialized(ctl, &s, waiting));
	free(waiting);
	selection_clear(&s);
	return rc != CTL_EXIT_OK ? rc : result;
}

/* ---- reload ------------------------------------------------------------------ */

int cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "role", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	enum select_role role = SELECT_ANY;
	bool force = false;
	struct selection s;
	int result = CTL_EXIT_OK;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "r:", long_options)) != -1) {
		if (c == 'r') {
			if (!select_role_parse(optarg, &role))
				return ctl_usage_error(argv[0], "unknown role '%s'", optarg);
		} else if (c == OPT_FORCE) {
			force = true;
		} else {
			return CTL_EXIT_USAGE;
		}
	}
	rc = select_for(ctl, argv, optind, argc, role, force, "reload", &s);
	if (rc == CTL_EXIT_OK)
		rc = confirm_members(&s, force, "reload", NULL);
	for (size_t i = 0; rc == CTL_EXIT_OK && i < s.n_members; i++) {
		const struct view_member *m = s.members[i];
		struct agent_answer answer;

		agent_call(ctl, m, "POST", "reload", NULL, AGENT_QUICK_TIMEOUT_MS, &answer);
		if (answer.result == REST_ANSWERED && answer.status == 200) {
			printf("No changes to apply on member %s\n", m->name);
		} else if (answer.result == REST_ANSWERED && answer.status == 202) {
			printf("Reload request received for member %s and will be processed within "
			       "%lld seconds\n",
			       m->name, s.view.loop_wait);
		} else {
			char *why = agent_answer_describe(&answer);

			ctl_error("Failed: reload for member %s, %s", m->name, why);
			free(why);
			note_failure(&result, agent_exit_code(&answer));
		}
		agent_answer_clear(&answer);
	}
	selection_clear(&s);
	return rc != CTL_EXIT_OK ? rc : result;
}

/* ---- flush ------------------------------------------------------------------- */

/* flush CLUSTER switchover: DELETE /switchover, leader first; when no
 * agent answers, clear /failover with compare-and-set, as patronictl. */
static int flush_switchover(struct ctl *ctl, struct cluster_view *view)
{
	const struct view_member **order;
	size_t n;
	int rc;

	if (view->failover.scheduled_at == NULL) {
		printf("No pending scheduled switchover\n");
		return CTL_EXIT_OK;
	}
	order = xcalloc(view->n_members + 1, sizeof(*order));
	n = select_leader_first(view, order);
	for (size_t i = 0; i < n; i++) {
		struct agent_answer answer;

		agent_call(ctl, order[i], "DELETE", "switchover", NULL, AGENT_QUICK_TIMEOUT_MS,
			   &answer);
		if (answer.result == REST_ANSWERED && (answer.status == 200 || answer.status == 404)) {
			if (answer.status == 200)
				printf("Success: %s\n", answer.message);
			else
				ctl_error("Failed: %s", answer.message);
			rc = answer.status == 200 ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
			agent_answer_clear(&answer);
			free(order);
			return rc;
		}
		if (answer.result == REST_ANSWERED) {
			ctl_error("Failed: member=%s, status_code=%d, (%s)", order[i]->name,
				  answer.status, answer.message);
		} else {
			ctl_warning("%s", answer.error);
			ctl_warning("Member %s is not accessible", order[i]->name);
		}
		agent_answer_clear(&answer);
	}
	free(order);

	char now[64];
	schedule_timestamp(now, sizeof(now), 6);
	printf("%s Could not find any accessible member of cluster %s\n", now, view->scope);
	fflush(stdout);
	rc = dcs_write_failover(ctl, view, "{}", view->failover_version);
	if (rc == CTL_EXIT_OK)
		printf("Scheduled switchover removed from %s/failover\n", view->base);
	return rc;
}

int cmd_flush(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "role", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	enum select_role role = SELECT_ANY;
	bool force = false;
	struct selection s;
	const char *target;
	int result = CTL_EXIT_OK;
	int c;
	int rc;

	while ((c = ctl_getopt(ctl, argc, argv, "r:", long_options)) != -1) {
		if (c == 'r') {
			if (!select_role_parse(optarg, &role))
				return ctl_usage_error(argv[0], "unknown role '%s'", optarg);
		} else if (c == OPT_FORCE) {
			force = true;
		} else {
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return ctl_usage_error(argv[0], "usage: flush CLUSTER [MEMBER...] restart|switchover");
	target = argv[argc - 1];
	if (strcmp(target, "restart") != 0 && strcmp(target, "switchover") != 0)
		return ctl_usage_error(argv[0], "what to flush: restart or switchover, got '%s'",
				       target);
	if (strcmp(target, "switchover") == 0) {
		const char *name;
		struct cluster_view view;

		if (argc - optind > 2)
			return ctl_usage_error(argv[0], "flush switchover takes no member names");
		if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
			return rc;
		if ((rc = ctl_cluster_name(ctl, argv[0], argv[optind], &name)) != CTL_EXIT_OK)
			return rc;
		rc = dcs_load_cluster(ctl, name, &view);
		ctl_print_warnings(&view);
		if (rc == CTL_EXIT_OK)
			rc = flush_switchover(ctl, &view);
		view_clear(&view);
		return rc;
	}

	rc = select_for(ctl, argv, optind, argc - 1, role, force, "flush", &s);
	if (rc == CTL_EXIT_OK)
		rc = confirm_members(&s, force, "flush", NULL);
	for (size_t i = 0; rc == CTL_EXIT_OK && i < s.n_members; i++) {
		const struct view_member *m = s.members[i];
		struct agent_answer answer;

		if (!json_is_object(m->status.scheduled_restart)) {
			printf("No scheduled restart for member %s\n", m->name);
			continue;
		}
		agent_call(ctl, m, "DELETE", "restart", NULL, AGENT_QUICK_TIMEOUT_MS, &answer);
		note_failure(&result, check_response(&answer, m->name, "flush scheduled restart"));
		agent_answer_clear(&answer);
	}
	selection_clear(&s);
	return rc != CTL_EXIT_OK ? rc : result;
}
