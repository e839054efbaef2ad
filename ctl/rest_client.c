/*
 * Blocking HTTP/1.1 client for the agents' REST API; see rest_client.h.
 */
#include "ctl/rest_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/version.h"
#include "ctl/util.h"

/* An agent's answers are a few kilobytes; anything far larger is not one. */
#define HEADER_LIMIT (64 * 1024)
#define BODY_LIMIT (16 * 1024 * 1024)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pure parts ---------------------------------------------------------- */

char *rest_base64(const char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct sb out = { 0 };

	for (size_t i = 0; i < len; i += 3) {
		uint32_t group = (uint32_t) (unsigned char) data[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			group |= (uint32_t) (unsigned char) data[i + 1] << 8;
		if (n > 2)
			group |= (unsigned char) data[i + 2];
		sb_append_char(&out, alphabet[(group >> 18) & 63]);
		sb_append_char(&out, alphabet[(group >> 12) & 63]);
		sb_append_char(&out, n > 1 ? alphabet[(group >> 6) & 63] : '=');
		sb_append_char(&out, n > 2 ? alphabet[group & 63] : '=');
	}
	return sb_steal(&out);
}

bool rest_url_parse(const char *url, char **host, int *port, char *err, size_t err_size)
{
	const char *p;
	const char *end;
	const char *host_end;

	*host = NULL;
	*port = 80;
	if (strncasecmp(url, "https://", 8) == 0) {
		snprintf(err, err_size, "%s: https is not supported by pgherdctl", url);
		return false;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, err_size, "%s: not an http:// URL", url);
		return false;
	}
	p = url + 7;
	end = p + strcspn(p, "/?#");
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			p = q + 1;
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t) (end - p));
		if (host_end == NULL) {
			snprintf(err, err_size, "%s: unterminated [address]", url);
			return false;
		}
		*host = xstrndup(p + 1, (size_t) (host_end - p - 1));
		p = host_end + 1;
	} else {
		host_end = memchr(p, ':', (size_t) (end - p));
		if (host_end == NULL)
			host_end = end;
		*host = xstrndup(p, (size_t) (host_end - p));
		p = host_end;
	}
	if ((*host)[0] == '\0') {
		snprintf(err, err_size, "%s: no host", url);
		free(*host);
		*host = NULL;
		return false;
	}
	if (p < end && *p == ':' && p + 1 < end) {
		long value = 0;

		for (p++; p < end; p++) {
			if (!isdigit((unsigned char) *p) || value > 65535)
				break;
			value = value * 10 + (*p - '0');
		}
		if (p < end || value < 1 || value > 65535) {
			snprintf(err, err_size, "%s: bad port", url);
			free(*host);
			*host = NULL;
			return false;
		}
		*port = (int) value;
	} else if (p < end && !(*p == ':' && p + 1 == end)) {
		snprintf(err, err_size, "%s: bad address", url);
		free(*host);
		*host = NULL;
		return false;
	}
	return true;
}

char *rest_request_text(const struct rest_request *request, const char *host, int port)
{
	struct sb out = { 0 };
	bool v6 = strchr(host, ':') != NULL;

	sb_printf(&out, "%s /%s HTTP/1.1\r\n", request->method, request->endpoint);
	sb_printf(&out, "Host: %s%s%s:%d\r\n", v6 ? "[" : "", host, v6 ? "]" : "", port);
	sb_printf(&out, "User-Agent: pgherdctl/%s\r\n", PGHERD_VERSION);
	sb_append(&out, "Accept: */*\r\nConnection: close\r\n");
	if (request->auth != NULL && request->auth->username != NULL) {
		char *pair = xasprintf("%s:%s", request->auth->username,
				       request->auth->password ? request->auth->password : "");
		char *encoded = rest_base64(pair, strlen(pair));

		sb_printf(&out, "Authorization: Basic %s\r\n", encoded);
		free(encoded);
		/* The password was in here: do not leave it in freed memory. */
		explicit_bzero(pair, strlen(pair));
		free(pair);
	}
	if (request->body != NULL)
		sb_printf(&out, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			  strlen(request->body), request->body);
	else if (strcmp(request->method, "POST") == 0 || strcmp(request->method, "PATCH") == 0 ||
		 strcmp(request->method, "PUT") == 0)
		sb_append(&out, "Content-Length: 0\r\n\r\n");
	else
		sb_append(&out, "\r\n");
	return sb_steal(&out);
}

/* Case-insensitive header lookup in the header block [start, end): the
 * value, trimmed, or NULL.  malloc'd. */
static char *header_value(const char *start, const char *end, const char *name)
{
	size_t name_len = strlen(name);
	const char *line = start;

	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t) (end - line));
		const char *line_end = eol ? eol : end;

		if ((size_t) (line_end - line) > name_len && line[name_len] == ':' &&
		    strncasecmp(line, name, name_len) == 0) {
			const char *v = line + name_len + 1;
			const char *v_end = line_end;

			while (v < v_end && (*v == ' ' || *v == '\t'))
				v++;
			while (v_end > v && isspace((unsigned char) v_end[-1]))
				v_end--;
			return xstrndup(v, (size_t) (v_end - v));
		}
		line = eol ? eol + 1 : end;
	}
	return NULL;
}

/* 1 complete (body appended to out), 0 more needed, -1 malformed. */
static int dechunk(const char *p, const char *end, struct sb *out, char *err, size_t err_size)
{
	for (;;) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		unsigned long long size = 0;
		const char *q = p;

		if (eol == NULL)
			return 0;
		if (!isxdigit((unsigned char) *q)) {
			snprintf(err, err_size, "bad chunk size in the answer");
			return -1;
		}
		for (; isxdigit((unsigned char) *q); q++) {
			size = size * 16 + (unsigned long long) (isdigit((unsigned char) *q)
									 ? *q - '0'
									 : tolower((unsigned char) *q) - 'a' + 10);
			if (size > BODY_LIMIT) {
				snprintf(err, err_size, "answer larger than %d bytes", BODY_LIMIT);
				return -1;
			}
		}
		p = eol + 1;
		if (size == 0) {
			/* Trailers end with an empty line. */
			for (;;) {
				eol = memchr(p, '\n', (size_t) (end - p));
				if (eol == NULL)
					return 0;
				bool empty = eol == p || (eol == p + 1 && *p == '\r');
				p = eol + 1;
				if (empty)
					return 1;
			}
		}
		if ((size_t) (end - p) < size + 1)
			return 0;
		if (out->len + size > BODY_LIMIT) {
			snprintf(err, err_size, "answer larger than %d bytes", BODY_LIMIT);
			return -1;
		}
		sb_append_n(out, p, (size_t) size);
		p += size;
		if (*p == '\r')
			p++;
		if (p >= end)
			return 0;
		if (*p != '\n') {
			snprintf(err, err_size, "bad chunk end in the answer");
			return -1;
		}
		p++;
	}
}

int rest_response_parse(const char *data, size_t len, bool eof, struct rest_response *out,
			char *err, size_t err_size)
{
	const char *end = data + len;
	const char *headers_end = NULL;
	const char *body;
	char *length_text;
	char *encoding;
	int status = 0;
	int result;
	struct sb content = { 0 };

	out->status = 0;
	out->body = NULL;
	out->body_len = 0;
	for (const char *p = data; p + 1 < end; p++)
		if (p[0] == '\n' && (p[1] == '\n' || (p + 2 < end && p[1] == '\r' && p[2] == '\n'))) {
			headers_end = p + 1;
			body = p + (p[1] == '\n' ? 2 : 3);
			break;
		}
	if (headers_end == NULL) {
		if (len > HEADER_LIMIT) {
			snprintf(err, err_size, "answer headers longer than %d bytes", HEADER_LIMIT);
			return -1;
		}
		if (len >= 5 && strncmp(data, "HTTP/", 5) != 0) {
			snprintf(err, err_size, "the answer is not HTTP");
			return -1;
		}
		if (eof) {
			snprintf(err, err_size, "the answer ended before its headers did");
			return -1;
		}
		return 0;
	}
	char status_line[64];
	/* The status line ends at the first '\n', which headers_end follows. */
	size_t line_len = (size_t) ((const char *) memchr(data, '\n', len) - data);

	if (line_len > 0 && data[line_len - 1] == '\r')
		line_len--;
	if (line_len >= sizeof(status_line))
		line_len = sizeof(status_line) - 1;
	memcpy(status_line, data, line_len);
	status_line[line_len] = '\0';
	if (sscanf(status_line, "HTTP/%*d.%*d %3d", &status) != 1 || status < 100 ||
	    status > 599) {
		snprintf(err, err_size, "the answer is not HTTP");
		return -1;
	}

	length_text = header_value(data, headers_end, "Content-Length");
	encoding = header_value(data, headers_end, "Transfer-Encoding");
	if (encoding != NULL && strcasecmp(encoding, "chunked") == 0) {
		result = dechunk(body, end, &content, err, err_size);
	} else if (length_text != NULL) {
		char *stop = NULL;
		unsigned long long length = strtoull(length_text, &stop, 10);

		if (stop == length_text || *stop != '\0' || length > BODY_LIMIT) {
			snprintf(err, err_size, "bad Content-Length in the answer");
			result = -1;
		} else if ((size_t) (end - body) >= length) {
			sb_append_n(&content, body, (size_t) length);
			result = 1;
		} else {
			result = 0;
		}
	} else if (status == 204 || status == 304 || status < 200) {
		result = 1;
	} else if (eof) {
		sb_append_n(&content, body, (size_t) (end - body));
		result = 1;
	} else {
		result = (size_t) (end - body) > BODY_LIMIT ? -1 : 0;
		if (result < 0)
			snprintf(err, err_size, "answer larger than %d bytes", BODY_LIMIT);
	}
	if (result == 0 && eof) {
		snprintf(err, err_size, "the answer was cut short");
		result = -1;
	}
	free(length_text);
	free(encoding);
	if (result == 1) {
		out->status = status;
		out->body_len = content.len;
		out->body = sb_steal(&content);
	} else {
		sb_free(&content);
	}
	return result;
}

void rest_response_clear(struct rest_response *response)
{
	free(response->body);
	response->body = NULL;
	response->body_len = 0;
	response->status = 0;
}

/* ---- I/O ------------------------------------------------------------------ */

/* Wait for events on fd until deadline: revents, 0 on timeout. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int rc;

		if (left <= 0)
			return 0;
		rc = poll(&pfd, 1, (int) (left > 1000 ? 1000 : left));
		if (rc > 0)
			return pfd.revents;
		if (rc < 0 && errno != EINTR)
			return POLLERR;
	}
}

/* A connected non-blocking socket, or -1 with a reason. */
static int connect_to(const char *host, int port, int timeout_ms, char *err, size_t err_size)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *addresses = NULL;
	char service[16];
	int64_t deadline = now_ms() + timeout_ms;
	int rc;
	int fd = -1;

	snprintf(service, sizeof(service), "%d", port);
	rc = getaddrinfo(host, service, &hints, &addresses);
	if (rc != 0) {
		snprintf(err, err_size, "cannot resolve %s: %s", host, gai_strerror(rc));
		return -1;
	}
	snprintf(err, err_size, "cannot connect to %s:%d", host, port);
	for (struct addrinfo *a = addresses; a != NULL && fd < 0; a = a->ai_next) {
		int error = 0;
		socklen_t error_len = sizeof(error);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			snprintf(err, err_size, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			int events = wait_fd(fd, POLLOUT, deadline);

			if (events == 0)
				error = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0)
				error = errno;
		} else {
			error = errno;
		}
		if (error == 0)
			break;
		snprintf(err, err_size, "cannot connect to %s:%d: %s", host, port,
			 error == ETIMEDOUT ? "no answer within the connect timeout"
					    : strerror(error));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(addresses);
	return fd;
}

static bool send_all(int fd, const char *data, size_t len, int64_t deadline, char *err,
		     size_t err_size)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n > 0) {
			data += n;
			len -= (size_t) n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) == 0) {
				snprintf(err, err_size, "could not send the request in time");
				return false;
			}
			continue;
		}
		snprintf(err, err_size, "sending the request: %s", strerror(errno));
		return false;
	}
	return true;
}

enum rest_result rest_call(const struct rest_request *request, struct rest_response *response,
			   char *err, size_t err_size)
{
	char *host = NULL;
	int port = 0;
	int fd;
	char *text;
	struct sb received = { 0 };
	enum rest_result result = REST_UNREACHABLE;
	int64_t deadline;

	memset(response, 0, sizeof(*response));
	if (request->api_url == NULL || request->api_url[0] == '\0') {
		snprintf(err, err_size, "the member has no api_url");
		return REST_BAD_URL;
	}
	if (!rest_url_parse(request->api_url, &host, &port, err, err_size))
		return REST_BAD_URL;
	fd = connect_to(host, port, request->connect_timeout_ms, err, err_size);
	if (fd < 0) {
		free(host);
		return REST_UNREACHABLE;
	}
	deadline = now_ms() + request->timeout_ms;
	text = rest_request_text(request, host, port);
	if (!send_all(fd, text, strlen(text), deadline, err, err_size))
		goto done;
	for (;;) {
		char buffer[8192];
		ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
		int parsed;

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline) == 0) {
				snprintf(err, err_size,
					 "%s:%d accepted the request but gave no complete answer "
					 "within %d s",
					 host, port, request->timeout_ms / 1000);
				goto done;
			}
			continue;
		}
		if (n < 0) {
			snprintf(err, err_size, "reading the answer of %s:%d: %s", host, port,
				 strerror(errno));
			goto done;
		}
		if (n > 0)
			sb_append_n(&received, buffer, (size_t) n);
		parsed = rest_response_parse(sb_text(&received), received.len, n == 0, response,
					     err, err_size);
		if (parsed == 1) {
			result = REST_ANSWERED;
			goto done;
		}
		if (parsed < 0) {
			result = REST_BAD_ANSWER;
			goto done;
		}
	}
done:
	close(fd);
	/* The request may carry the Authorization header. */
	explicit_bzero(text, strlen(text));
	free(text);
	sb_free(&received);
	free(host);
	return result;
}
