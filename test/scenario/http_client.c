/*
 * The scenario tests' HTTP client (see http_client.h).
 */
#include "test/scenario/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void http_answer_clear(struct http_answer *answer)
{
	free(answer->headers);
	free(answer->body);
	memset(answer, 0, sizeof(*answer));
}

/* Split "HTTP/1.1 200 OK\r\nheaders\r\n\r\nbody" into the answer. */
static void parse_answer(const char *data, size_t length, struct http_answer *answer)
{
	const char *end = NULL;

	for (size_t i = 0; i + 3 < length; i++)
		if (memcmp(data + i, "\r\n\r\n", 4) == 0) {
			end = data + i;
			break;
		}
	if (!end || sscanf(data, "HTTP/%*d.%*d %d", &answer->status) != 1) {
		answer->status = 0;
		return;
	}
	answer->headers = strndup(data, (size_t) (end - data));
	answer->body_length = length - (size_t) (end + 4 - data);
	answer->body = malloc(answer->body_length + 1);
	if (answer->body) {
		memcpy(answer->body, end + 4, answer->body_length);
		answer->body[answer->body_length] = '\0';
	}
}

/* Connect and send; the socket, its write side shut, or -1. */
static int send_raw(int port, const char *bytes, size_t length)
{
	struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	int fd;

	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &address, sizeof(address)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (size_t sent = 0; sent < length;) {
		ssize_t n = send(fd, bytes + sent, length - sent, MSG_NOSIGNAL);
		if (n <= 0)
			break;	/* the server may answer (413) before reading it all */
		sent += (size_t) n;
	}
	shutdown(fd, SHUT_WR);
	return fd;
}

/* Read the answer on fd until the server closes it or timeout_ms pass;
 * closes fd. */
static int receive(int fd, int timeout_ms, struct http_answer *answer)
{
	long long deadline = monotonic_ms() + timeout_ms;
	char *data = NULL;
	size_t used = 0, capacity = 0;

	memset(answer, 0, sizeof(*answer));
	if (fd < 0)
		return 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - monotonic_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int) left) <= 0)
			break;
		if (used + 4096 > capacity) {
			char *bigger = realloc(data, capacity + 65536);
			if (!bigger)
				break;
			data = bigger;
			capacity += 65536;
		}
		n = recv(fd, data + used, capacity - used, 0);
		if (n <= 0)
			break;
		used += (size_t) n;
	}
	close(fd);
	if (data)
		parse_answer(data, used, answer);
	free(data);
	return answer->status;
}

int http_raw(int port, const char *bytes, size_t length, int timeout_ms,
	     struct http_answer *answer)
{
	return receive(send_raw(port, bytes, length), timeout_ms, answer);
}

/* The request's bytes, malloc'd; its length in *length. */
static char *format_request(const char *method, const char *path, const char *body,
			    const char *extra_headers, size_t *length)
{
	size_t body_length = body ? strlen(body) : 0;
	size_t size = strlen(method) + strlen(path) + body_length +
		      (extra_headers ? strlen(extra_headers) : 0) + 256;
	char *request = malloc(size);
	int n;

	if (!request)
		return NULL;
	if (body)
		n = snprintf(request, size,
			     "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n%s",
			     method, path, extra_headers ? extra_headers : "", body_length, body);
	else
		n = snprintf(request, size, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s\r\n", method,
			     path, extra_headers ? extra_headers : "");
	*length = (size_t) n;
	return request;
}

int http_request(int port, const char *method, const char *path, const char *body,
		 const char *extra_headers, int timeout_ms, struct http_answer *answer)
{
	size_t length;
	char *request = format_request(method, path, body, extra_headers, &length);
	int status;

	memset(answer, 0, sizeof(*answer));
	if (!request)
		return 0;
	status = http_raw(port, request, length, timeout_ms, answer);
	free(request);
	return status;
}

int http_send(int port, const char *method, const char *path, const char *body)
{
	size_t length;
	char *request = format_request(method, path, body, NULL, &length);
	int fd = request ? send_raw(port, request, length) : -1;

	free(request);
	return fd;
}

int http_receive(int fd, int timeout_ms, struct http_answer *answer)
{
	return receive(fd, timeout_ms, answer);
}
