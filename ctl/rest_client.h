/*
 * A small blocking HTTP/1.1 client for the agents' REST API (Patroni's
 * contract, patroni.md section 3): one request per connection, poll()
 * timeouts for connecting and for the whole answer, basic authentication,
 * JSON bodies.  Plain http only, like an agent without restapi.certfile.
 *
 * The URL is the member's api_url ("http://10.0.0.2:8008/patroni") with
 * its path replaced by the endpoint, as patronictl's urljoin(api_url,
 * "switchover") does.
 */
#ifndef PGHERD_CTL_REST_CLIENT_H
#define PGHERD_CTL_REST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#define REST_ERR_MAX 256

struct rest_auth {
	const char *username; /* NULL: no Authorization header */
	const char *password;
};

struct rest_request {
	const char *api_url;
	const char *method;   /* "GET", "POST", "PATCH", "DELETE" */
	const char *endpoint; /* "switchover", "patroni", ... (no leading '/') */
	const char *body;     /* JSON text, or NULL for none */
	const struct rest_auth *auth;
	int connect_timeout_ms;
	int timeout_ms; /* for the answer, once connected */
};

struct rest_response {
	int status;
	char *body; /* NUL-terminated, owned; "" when there is none */
	size_t body_len;
};

enum rest_result {
	REST_ANSWERED = 0, /* status and body are set, whatever the status */
	REST_UNREACHABLE,  /* no connection, or no complete answer in time */
	REST_BAD_ANSWER,   /* connected, but the answer is not HTTP we read */
	REST_BAD_URL,      /* api_url cannot be used (https, no host, ...) */
};

/* err gets a reason for anything but REST_ANSWERED ("connection refused
 * by 127.0.0.1:8008", "no answer within 10 s"). */
enum rest_result rest_call(const struct rest_request *request, struct rest_response *response,
			   char *err, size_t err_size);
void rest_response_clear(struct rest_response *response);

/* ---- pure parts, exposed for the unit tests ---------------------------- */

/* http://host[:port][/...]: host ("[::1]" without brackets) and port (80
 * when absent).  *host is malloc'd. */
bool rest_url_parse(const char *url, char **host, int *port, char *err, size_t err_size);

/* The request bytes.  malloc'd. */
char *rest_request_text(const struct rest_request *request, const char *host, int port);

/*
 * Parse what arrived so far.  1: a complete answer (status and body set,
 * chunked bodies decoded), 0: more is needed (or, with eof, the answer
 * was cut short: then -1), -1: not HTTP (reason in err).
 */
int rest_response_parse(const char *data, size_t len, bool eof, struct rest_response *out,
			char *err, size_t err_size);

/* Standard base64 with padding.  malloc'd. */
char *rest_base64(const char *data, size_t len);

#endif /* PGHERD_CTL_REST_CLIENT_H */
