/*
 * A blocking HTTP/1.0 client for scenario tests: one request to 127.0.0.1,
 * the whole answer read back.  Enough to test the agent's REST API as
 * curl or a load balancer would use it.
 */
#ifndef PGHERD_TEST_HTTP_CLIENT_H
#define PGHERD_TEST_HTTP_CLIENT_H

#include <stddef.h>

struct http_answer {
	int status;		/* 0 when there was no answer */
	char *headers;		/* the header lines, owned */
	char *body;		/* NUL-terminated, owned; "" when empty */
	size_t body_length;
};

/*
 * Send method path with body (NULL: none; a Content-Length header is sent
 * for any non-NULL body) and extra_headers ("Name: value\r\n..." or NULL).
 * Returns the status (0 on a connection error or timeout_ms passing);
 * *answer is filled either way and freed with http_answer_clear().
 */
int http_request(int port, const char *method, const char *path, const char *body,
		 const char *extra_headers, int timeout_ms, struct http_answer *answer);
void http_answer_clear(struct http_answer *answer);

/* A request in two halves, for a test that acts while the server works
 * on it: http_send() sends it and returns the socket (-1 on a connection
 * error); http_receive() reads the answer as http_request() does and
 * closes the socket (a -1 one gives status 0). */
int http_send(int port, const char *method, const char *path, const char *body);
int http_receive(int fd, int timeout_ms, struct http_answer *answer);

/* Send raw bytes as they are (malformed requests) and read the answer. */
int http_raw(int port, const char *bytes, size_t length, int timeout_ms,
	     struct http_answer *answer);

#endif
