/*
 * libFuzzer harness for agent/rest_request and the parts of agent/rest_view
 * that read what a client sent.  The input is one request:
 *
 *   <flags byte><method>SEP<uri>SEP<authorization>SEP<body...>
 *
 * where SEP is the first '\n' or NUL byte, and the body is everything
 * after the third separator (NULs and newlines included).  flags bit 0:
 * the request has a Content-Length; bit 1: it has an Authorization
 * header; bit 2: authentication is off.  Each part is copied into a buffer
 * of its own exact size, so ASan reports any read past it (the body has
 * no terminating NUL at all).
 *
 * Invariants (a violation calls abort(), which libFuzzer reports):
 *  - a refused request has an HTTP status we document, a one-line
 *    printable reason, and leaves the struct empty;
 *  - an accepted one has its strings inside its own body, a lag >= 0, a
 *    timeout > 0, a body that is an object;
 *  - authentication succeeds only with the one canonical encoding of the
 *    configured credentials;
 *  - health checks answer 200 or 503, and the metrics keep three lines a
 *    metric whatever the scope and name (label values escaped).
 *
 * Build and run:
 *   make fuzz-built FUZZ_BUILD=build-rest-fuzz
 *   build-rest-fuzz/fuzz_rest_request -max_total_time=60 corpus/
 */
#include "agent/rest_request.h"
#include "agent/rest_view.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile int sink;

static void check(int condition, const char *what)
{
	if (!condition) {
		fprintf(stderr, "invariant violated: %s\n", what);
		abort();
	}
}

/* The next part up to a '\n' or NUL, as a malloc'd C string; *p moves
 * past the separator.  NULL when out of memory. */
static char *take_part(const uint8_t **p, const uint8_t *end)
{
	const uint8_t *start = *p, *q = start;
	char *part;

	while (q < end && *q != '\n' && *q != '\0')
		q++;
	part = malloc((size_t)(q - start) + 1);
	if (part != NULL) {
		memcpy(part, start, (size_t)(q - start));
		part[q - start] = '\0';
	}
	*p = q < end ? q + 1 : q;
	return part;
}

static bool printable_line(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static bool inside(const char *s, const json_t *body)
{
	const char *key;
	json_t *value;

	if (s == NULL)
		return true;
	json_object_foreach ((json_t *)body, key, value)
		if (json_string_value(value) == s)
			return true;
	return false;
}

static void check_refused(int status, const struct rest_request *r, const char *err)
{
	check(status == 400 || status == 404 || status == 405 || status == 411 || status == 413 ||
		      status == 500 || status == 501,
	      "refused with an undocumented status");
	check(err[0] != '\0' && printable_line(err), "refused without a one-line reason");
	check(r->body == NULL && r->tags == NULL && r->n_tags == 0 && r->leader == NULL &&
		      r->candidate == NULL && r->role == NULL && !r->needs_auth && !r->has_timeout,
	      "a refused request is not empty");
}

static void check_accepted(const struct rest_request *r)
{
	check(!r->has_lag || r->lag_bytes >= 0, "negative lag");
	check(!r->has_timeout || r->timeout_s > 0, "timeout not positive");
	check(r->body == NULL || json_is_object(r->body), "body not an object");
	check((r->n_tags == 0) == (r->tags == NULL), "tags and their count disagree");
	for (size_t i = 0; i < r->n_tags; i++)
		check(r->tags[i].key != NULL && r->tags[i].value != NULL &&
			      r->tags[i].value[0] != '\0',
		      "a tag filter without key or value");
	check(inside(r->leader, r->body) && inside(r->candidate, r->body) &&
		      inside(r->scheduled_at, r->body) && inside(r->schedule, r->body) &&
		      inside(r->role, r->body) && inside(r->postgres_version, r->body),
	      "a field does not point into the body");
	check(r->endpoint != REST_HEALTH || !r->needs_auth, "a health check needs auth");
}

/* A replica with tags of every kind, for the health checks. */
static int health(const struct rest_request *r, const json_t *tags)
{
	static const struct pg_monitor_status pg = { .reachable = true, .in_recovery = true,
						     .server_version = 150004, .replay_lsn = 1000,
						     .receive_lsn = 2000 };
	static const struct dcs_cluster cluster = { .connected = true, .loaded = true,
						    .leader = "node1" };
	struct rest_view view = { .scope = "batman", .name = "node2", .state = "running",
				  .pg_reachable = true, .pg = &pg, .tags = tags,
				  .cluster = &cluster, .has_last_lsn = true, .last_lsn = 5000 };

	return rest_health_status(&view, r);
}

static int count_lines(const char *text)
{
	int n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* Scope and name from the client's bytes: escaping keeps every metric on
 * its line. */
static void fuzz_metrics(const char *scope, const char *name)
{
	struct rest_view view = { .scope = scope, .name = name, .version = "0.1.0",
				  .state = "running", .zookeeper_state = "connected",
				  .last_leader_change_s = 1 };
	struct rest_view plain = view;
	char *text, *reference;

	plain.scope = "s";
	plain.name = "n";
	text = rest_metrics_text(&view);
	reference = rest_metrics_text(&plain);
	if (text != NULL && reference != NULL)
		check(count_lines(text) == count_lines(reference), "a label value broke a line");
	free(text);
	free(reference);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *tags;
	const uint8_t *p = data + (size > 0), *end = data + size;
	uint8_t flags = size > 0 ? data[0] : 0;
	char *method, *uri, *authorization, *body = NULL;
	size_t body_len;
	struct rest_request r;
	char err[REST_ERROR_MAX];
	long long bytes;
	int status;

	if (tags == NULL)
		tags = json_loads("{\"zone\":\"eu\",\"nofailover\":true,\"priority\":5,"
				  "\"weight\":1.5,\"list\":[1],\"none\":null}",
				  0, NULL);
	method = take_part(&p, end);
	uri = take_part(&p, end);
	authorization = take_part(&p, end);
	body_len = (size_t)(end - p);
	/* malloc(0) may give NULL: keep a real, empty allocation */
	body = malloc(body_len > 0 ? body_len : 1);
	if (method == NULL || uri == NULL || authorization == NULL || body == NULL)
		goto out;
	memcpy(body, p, body_len);

	status = rest_request_parse(method, uri, flags & 1, body_len > 0 ? body : NULL, body_len,
				    &r, err, sizeof(err));
	if (status != 0) {
		check_refused(status, &r, err);
	} else {
		check_accepted(&r);
		if (r.endpoint == REST_HEALTH) {
			int code = health(&r, tags);

			check(code == 200 || code == 503, "a health check answered neither");
		}
	}
	rest_request_clear(&r);
	check(r.body == NULL && r.tags == NULL, "clear left something");

	status = rest_auth_check(flags & 2 ? authorization : NULL, flags & 4 ? NULL : "admin",
				 "secret", err, sizeof(err));
	check(status == 0 || status == 401, "auth answered neither 0 nor 401");
	if (status == 0 && !(flags & 4))
		check(strstr(authorization, "YWRtaW46c2VjcmV0") != NULL,
		      "authenticated without the credentials");
	if (status == 401)
		check(strcmp(err, "no auth header received") == 0 ||
			      strcmp(err, "not authenticated") == 0,
		      "401 without Patroni's reason");

	if (rest_parse_bytes(uri, &bytes))
		check(bytes >= 0, "negative size");
	fuzz_metrics(uri, authorization);
	sink += status;
out:
	free(method);
	free(uri);
	free(authorization);
	free(body);
	return 0;
}
