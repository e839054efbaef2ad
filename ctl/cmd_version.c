/*
 * version: pgherdctl's own, and with a cluster each member's agent
 * version and PostgreSQL version from GET /patroni.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/version.h"
#include "ctl/agent_call.h"
#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/util.h"

/* patronictl's format_pg_version(): 150004 -> "15.4", 90624 -> "9.6.24". */
static char *pg_version_text(long long version)
{
	if (version < 100000)
		return xasprintf("%lld.%lld.%lld", version / 10000, version / 100 % 100,
				 version % 100);
	return xasprintf("%lld.%lld", version / 10000, version % 100);
}

/* One member's line; the exit code of the request. */
static int member_version(struct ctl *ctl, const struct view_member *m)
{
	struct agent_answer answer;
	json_t *status = NULL;
	int rc;

	agent_call(ctl, m, "GET", "patroni", NULL, AGENT_QUICK_TIMEOUT_MS, &answer);
	rc = agent_exit_code(&answer);
	if (rc == CTL_EXIT_OK) {
		status = json_loads(answer.body, 0, NULL);
		if (!json_is_object(status)) {
			snprintf(answer.error, sizeof(answer.error),
				 "the answer to GET /patroni is not a JSON object");
			rc = CTL_EXIT_FAILED;
		}
	}
	if (rc == CTL_EXIT_OK) {
		const char *version = json_string_value(
			json_object_get(json_object_get(status, "patroni"), "version"));
		const json_t *server = json_object_get(status, "server_version");
		char *shown = printable_copy(version ? version : "unknown");

		if (json_is_integer(server) && json_integer_value(server) > 0) {
			char *pg = pg_version_text(json_integer_value(server));

			printf("%s: agent %s PostgreSQL %s\n", m->name, shown, pg);
			free(pg);
		} else {
			printf("%s: agent %s\n", m->name, shown);
		}
		free(shown);
	} else {
		char *why = answer.result == REST_ANSWERED && answer.error[0] == '\0'
				    ? agent_answer_describe(&answer)
				    : xstrdup(answer.error);

		ctl_error("%s: failed to get version: %s", m->name, why);
		free(why);
	}
	json_decref(status);
	agent_answer_clear(&answer);
	return rc;
}

int cmd_version(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cluster_view view;
	int result = CTL_EXIT_OK;
	int rc;

	if (ctl_getopt(ctl, argc, argv, "", long_options) != -1)
		return CTL_EXIT_USAGE;
	printf("pgherdctl version %s\n", PGHERD_VERSION);
	if (optind >= argc)
		return CTL_EXIT_OK;
	if (!znode_name_is_valid(argv[optind]))
		return ctl_usage_error(argv[0], "'%s' cannot be a cluster name", argv[optind]);
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	printf("\n");
	rc = dcs_load_cluster(ctl, argv[optind], &view);
	ctl_print_warnings(&view);
	for (int i = optind + 1; rc == CTL_EXIT_OK && i < argc; i++)
		if (view_member(&view, argv[i]) == NULL) {
			ctl_error("%s is not a member of cluster %s", argv[i], argv[optind]);
			rc = CTL_EXIT_NOT_FOUND;
		}
	for (size_t m = 0; rc == CTL_EXIT_OK && m < view.n_members; m++) {
		bool named = optind + 1 >= argc;
		int outcome;

		for (int i = optind + 1; i < argc; i++)
			named |= strcmp(argv[i], view.members[m].name) == 0;
		if (!named || view.members[m].status.api_url == NULL)
			continue;
		outcome = member_version(ctl, &view.members[m]);
		if (result == CTL_EXIT_OK)
			result = outcome;
	}
	view_clear(&view);
	return rc != CTL_EXIT_OK ? rc : result;
}
