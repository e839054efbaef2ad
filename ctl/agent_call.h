/*
 * One request to a member's agent over its REST API (the api_url of its
 * member znode), with the credentials of the configuration and
 * pgherdctl's timeouts, and what the answer means for the exit code:
 * 2xx is success, any other status the cluster refusing, no connection
 * unreachable, an answer that is not HTTP a failure.
 */
#ifndef PGHERD_CTL_AGENT_CALL_H
#define PGHERD_CTL_AGENT_CALL_H

#include <jansson.h>

#include "ctl/cluster_view.h"
#include "ctl/ctl.h"
#include "ctl/rest_client.h"

/* Connecting to an agent on the same network takes milliseconds. */
#define AGENT_CONNECT_TIMEOUT_MS 5000
/* GET /patroni, reload, pause: the agent answers at once. */
#define AGENT_QUICK_TIMEOUT_MS 10000

struct agent_answer {
	enum rest_result result;
	int status;    /* when result is REST_ANSWERED */
	char *message; /* the body, trimmed and printable; "" when empty */
	char *body;    /* the body as received (JSON answers) */
	char error[REST_ERR_MAX]; /* otherwise: why there is no answer */
};

/* body NULL sends none. */
void agent_call(struct ctl *ctl, const struct view_member *member, const char *method,
		const char *endpoint, const json_t *body, int timeout_ms,
		struct agent_answer *answer);
void agent_answer_clear(struct agent_answer *answer);

/* OK for 2xx, REFUSED for other statuses, UNREACHABLE or FAILED. */
int agent_exit_code(const struct agent_answer *answer);

/* "status code=503, (message)" or the reason there is no answer; for
 * messages.  malloc'd. */
char *agent_answer_describe(const struct agent_answer *answer);

#endif /* PGHERD_CTL_AGENT_CALL_H */
