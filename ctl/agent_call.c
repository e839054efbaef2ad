/*
 * REST requests to the agents, with ctl's credentials; see agent_call.h.
 */
#include "ctl/agent_call.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/util.h"

void agent_call(struct ctl *ctl, const struct view_member *member, const char *method,
		const char *endpoint, const json_t *body, int timeout_ms,
		struct agent_answer *answer)
{
	struct rest_auth auth = { ctl->rest_username, ctl->rest_password };
	struct rest_response response;
	char *text = body ? json_dumps(body, JSON_PRESERVE_ORDER) : NULL;
	struct rest_request request = {
		.api_url = member->status.api_url,
		.method = method,
		.endpoint = endpoint,
		.body = text,
		.auth = &auth,
		.connect_timeout_ms = AGENT_CONNECT_TIMEOUT_MS,
		.timeout_ms = timeout_ms,
	};

	memset(answer, 0, sizeof(*answer));
	if (body != NULL && text == NULL)
		xjson(NULL);
	answer->result = rest_call(&request, &response, answer->error, sizeof(answer->error));
	free(text);
	if (answer->result != REST_ANSWERED) {
		answer->message = xstrdup("");
		answer->body = xstrdup("");
		return;
	}
	answer->status = response.status;
	answer->body = response.body;
	response.body = NULL;
	rest_response_clear(&response);

	/* The message as the operator sees it: no trailing blanks, no
	 * control characters (it comes from the network). */
	char *message = xstrdup(answer->body);
	size_t len = strlen(message);
	while (len > 0 && isspace((unsigned char) message[len - 1]))
		message[--len] = '\0';
	answer->message = printable_copy(message);
	free(message);
}

void agent_answer_clear(struct agent_answer *answer)
{
	free(answer->message);
	free(answer->body);
	memset(answer, 0, sizeof(*answer));
}

int agent_exit_code(const struct agent_answer *answer)
{
	switch (answer->result) {
	case REST_ANSWERED:
		return answer->status >= 200 && answer->status < 300 ? CTL_EXIT_OK
								     : CTL_EXIT_REFUSED;
	case REST_UNREACHABLE:
		return CTL_EXIT_UNREACHABLE;
	default:
		return CTL_EXIT_FAILED;
	}
}

char *agent_answer_describe(const struct agent_answer *answer)
{
	if (answer->result == REST_ANSWERED)
		return xasprintf("status code=%d, (%s)", answer->status, answer->message);
	return xstrdup(answer->error);
}
