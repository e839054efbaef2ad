/*
 * The REST API's requests, parsed and checked before anything acts on them:
 * which endpoint a method and path name (Patroni's routes), the query
 * string of the health checks, the JSON body of the write endpoints with
 * its types, and basic authentication.  Pure: no I/O, no clock; the fuzz
 * target test/fuzz/fuzz_rest_request.c feeds it arbitrary input.
 *
 * Patroni's rules (reference section 3): GET, HEAD and OPTIONS are open and
 * answer every path (an unknown one is a health check that fails with 503);
 * HEAD and OPTIONS answer with the status line only.  The write endpoints
 * need authentication when restapi.authentication is set, a JSON object
 * body (missing Content-Length: 411 when a body is required; unparsable or
 * empty: 400), and known keys of the right types (400 naming the key).
 */
#ifndef PGHERD_AGENT_REST_REQUEST_H
#define PGHERD_AGENT_REST_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define REST_ERROR_MAX 256

enum rest_endpoint {
	REST_HEALTH,		/* a health check (GET/HEAD/OPTIONS), see `check` */
	REST_PATRONI,		/* GET /patroni: the status JSON */
	REST_CLUSTER,		/* GET /cluster */
	REST_HISTORY,		/* GET /history */
	REST_CONFIG_GET,	/* GET /config */
	REST_METRICS,		/* GET /metrics */
	REST_LIVENESS,		/* GET /liveness */
	REST_READINESS,		/* GET /readiness */
	REST_CONFIG_PATCH,	/* PATCH /config, body: the patch in `body` */
	REST_CONFIG_PUT,	/* PUT /config, body: the new config in `body` */
	REST_SWITCHOVER,	/* POST /switchover */
	REST_FAILOVER,		/* POST /failover */
	REST_SWITCHOVER_DELETE,	/* DELETE /switchover */
	REST_RESTART,		/* POST /restart */
	REST_RESTART_DELETE,	/* DELETE /restart */
	REST_REINITIALIZE,	/* POST /reinitialize */
	REST_RELOAD,		/* POST /reload */
};

enum rest_health_check {
	REST_CHECK_PRIMARY,		/* /, /primary, /master, /read-write */
	REST_CHECK_STANDBY_LEADER,	/* /standby-leader, /standby_leader */
	REST_CHECK_LEADER,		/* /leader */
	REST_CHECK_REPLICA,		/* /replica */
	REST_CHECK_READ_ONLY,		/* /read-only */
	REST_CHECK_SYNC,		/* /sync, /synchronous */
	REST_CHECK_ASYNC,		/* /async, /asynchronous */
	REST_CHECK_READ_ONLY_SYNC,	/* /read-only-sync, /read-only-synchronous */
	REST_CHECK_HEALTH,		/* /health */
	REST_CHECK_UNKNOWN,		/* any other GET path: always 503 */
};

/* ?tag_<key>=<value> */
struct rest_tag_filter {
	char *key;
	char *value;
};

struct rest_request {
	enum rest_endpoint endpoint;
	enum rest_health_check check;	/* REST_HEALTH only */
	bool status_line_only;		/* HEAD and OPTIONS */
	bool needs_auth;		/* a write endpoint */

	/* Health-check query: ?lag=<bytes or units: 16kB, 10MB, 1GB>. */
	bool has_lag;
	long long lag_bytes;
	struct rest_tag_filter *tags;
	size_t n_tags;

	/* The JSON body, an object, when there is one (owned). */
	json_t *body;

	/* POST /switchover and /failover ("member" is a synonym of
	 * "candidate").  NULL when absent.  Point into body. */
	const char *leader;
	const char *candidate;
	const char *scheduled_at;

	/* POST /restart.  NULL / false when absent.  Point into body. */
	const char *schedule;
	const char *role;		/* "master", "primary" or "replica" */
	const char *postgres_version;	/* digits and dots, e.g. "15.4" or "15" */
	bool has_timeout;
	long long timeout_s;		/* > 0; integer seconds or units ("30s", "2min") */
	bool restart_pending;

	/* POST /reinitialize */
	bool force;
};

/*
 * Parse one request.  method is the HTTP method as received ("GET"), uri
 * the request target ("/replica?lag=10MB"), has_content_length whether the
 * request carried that header, body/body_len the body (may be NULL/0).
 *
 * Returns 0 and fills *out (release with rest_request_clear()) when the
 * request is well formed; otherwise the HTTP status to answer (400 bad JSON
 * or a wrong type or an unknown key, 404 an unknown path for a write
 * method, 405 a method the path does not take, 411 a required body without
 * Content-Length) with a one-line reason in err, and *out is left empty.
 * Never reads past body_len; the body need not be NUL-terminated.
 */
int rest_request_parse(const char *method, const char *uri, bool has_content_length,
		       const char *body, size_t body_len, struct rest_request *out, char *err,
		       size_t err_size);
void rest_request_clear(struct rest_request *request);

/*
 * Basic authentication against restapi.authentication.  username NULL
 * means authentication is off: always 0.  Otherwise 0 when the
 * Authorization header (NULL if absent) carries these credentials, else 401
 * with Patroni's reason: "no auth header received" or "not authenticated".
 * The comparison takes the same time whatever the input.
 */
int rest_auth_check(const char *authorization, const char *username, const char *password,
		    char *err, size_t err_size);

/* Patroni's parse_int(value, 'B') for ?lag=: "1024", "16kB", "10MB", "1GB",
 * "1TB" (1024-based, as PostgreSQL's units).  False when malformed or
 * negative or out of range. */
bool rest_parse_bytes(const char *text, long long *out);

#endif
