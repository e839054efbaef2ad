/*
 * Kubernetes role labeller: one JSON merge patch of our own pod per role
 * change, over TLS, on the agent's loop.
 *
 * Life of a change:
 *
 *   set_role() --> advance(): nothing in flight, no retry waiting, and the
 *   server not known to have it already --> send_request(): a fresh TLS
 *   connection (bufferevent_openssl under an evhttp client connection) and
 *   one PATCH with "Connection: close" --> evhttp calls on_request_done()
 *   (an answer, or NULL / status 0 for a connection or TLS failure), which
 *   only records the outcome and activates the `completion` event -->
 *   finish_request() frees the connection, logs, and either records what
 *   the server now has or schedules a retry --> advance() again: the role
 *   may have changed meanwhile.
 *
 * Why a deferred completion: evhttp calls us from deep inside its own
 * connection code, sometimes synchronously from evhttp_make_request() (a
 * refused connect), and keeps using the connection after the callback
 * returns.  The connection may only be freed from outside; so the callback
 * touches nothing but our own fields.  For the same reason the user's
 * done() callback of kubernetes_labeler_stop() runs from an event of its
 * own, as the last thing that event does, so that it may free us.
 *
 * Why a new connection per request: role changes are rare (seconds to days
 * apart), the API server closes idle connections anyway, and an evhttp
 * connection that reconnects reuses its bufferevent, whose SSL object has
 * already been shut down: a TLS connection cannot be re-established on it.
 * A fresh SSL_CTX per request also picks up a rotated ca.crt, like the
 * token re-read.
 *
 * Our own deadline timer bounds each request as a whole (connect, handshake,
 * request, answer); evhttp's timeouts are per-read inactivity timeouts,
 * which a trickling server could extend forever.
 *
 * What the server has: `applied` is known only after a 2xx; a failed or
 * abandoned request may or may not have been applied, so it makes the
 * state unknown and the next attempt sends whatever is wanted then.
 */
#include "agent/kubernetes.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "agent/log.h"
#include "agent/version.h"

#define REQUEST_TIMEOUT_MS 5000
#define RETRY_FIRST_MS 500
#define RETRY_MAX_MS 30000

/* A projected service account token is about 1 KiB; a legacy one less. */
#define TOKEN_MAX_BYTES 16384
#define SMALL_FILE_MAX_BYTES 256
/* Kubernetes' own limits: a label name part and value, a DNS label (the
 * namespace), a DNS subdomain (the pod name and a label key prefix). */
#define LABEL_NAME_MAX 63
#define DNS_LABEL_MAX 63
#define DNS_SUBDOMAIN_MAX 253
/* An answer we read for its "message"; the API server's are small. */
#define ANSWER_MAX_BYTES 65536
#define ANSWER_BODY_LIMIT (4 * 1024 * 1024)
#define ANSWER_HEADERS_LIMIT 65536
#define MESSAGE_MAX 256

#define DEFAULT_API_PORT 443

struct kubernetes_labeler {
	struct event_base *base;

	/* Fixed at creation. */
	char *label;
	char *primary_value;
	char *replica_value;
	char *pod;
	char *namespace;
	char *token_path;
	char *ca_path;
	char *host;        /* numeric IPv4 or IPv6, no brackets: what we connect to */
	int port;
	char *host_header; /* "10.96.0.1", "[fd00::1]:6443" */
	char *endpoint;    /* "https://10.96.0.1:443", for logs */
	char *api_path;    /* "/api/v1/namespaces/<namespace>/pods/<pod>" */
	int request_timeout_ms;
	int first_retry_ms;
	int max_retry_ms;

	/* What is wanted, and what the server is known to have. */
	enum kubernetes_role desired;
	bool asked;         /* set_role() or stop() was called at least once */
	enum kubernetes_role applied;
	bool applied_known; /* applied holds: the last request succeeded */

	/* The request in flight (at most one). */
	bool in_flight;
	bool completed;     /* its outcome is recorded; finish_request() is due */
	bool discarding;    /* we are freeing its connection: ignore callbacks */
	enum kubernetes_role sending;
	int64_t sent_at_ms;
	struct evhttp_connection *connection;
	int status;                 /* HTTP status of the answer; 0: none */
	char error[MESSAGE_MAX];    /* no answer: why */
	char message[MESSAGE_MAX];  /* answer: the API server's "message", if any */
	const char *evhttp_error;   /* from the request's error callback */
	struct event *deadline;
	struct event *completion;   /* finish_request() outside evhttp's callbacks */

	/* Retries. */
	struct event *retry;
	int retry_delay_ms;         /* the next one */
	int failures;               /* consecutive */

	/* kubernetes_labeler_stop(). */
	bool stopping;
	bool gave_up;               /* stop's time ran out: nothing more is sent */
	bool done_called;
	struct event *stop_deadline;
	struct event *notify;       /* calls done() from the loop */
	void (*done)(void *arg);
	void *done_arg;
};

static void advance(struct kubernetes_labeler *l);

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval milliseconds(int ms)
{
	return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* ---- Kubernetes names ------------------------------------------------------ */

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A label name, or a non-empty label value: at most 63 characters,
 * alphanumeric at both ends, '-', '_' and '.' allowed between. */
static const char *label_name_problem(const char *text, size_t length)
{
	if (length == 0)
		return "it is empty";
	if (length > LABEL_NAME_MAX)
		return "it is longer than 63 characters";
	if (!is_alnum(text[0]) || !is_alnum(text[length - 1]))
		return "it must begin and end with a letter or a digit";
	for (size_t i = 0; i < length; i++) {
		if (!is_alnum(text[i]) && text[i] != '-' && text[i] != '_' && text[i] != '.')
			return "only letters, digits, '-', '_' and '.' are allowed";
	}
	return NULL;
}

/* RFC 1123 label: at most 63 lower-case alphanumerics and '-', alphanumeric
 * at both ends. */
static const char *dns_label_problem(const char *text, size_t length)
{
	if (length == 0)
		return "it is empty";
	if (length > DNS_LABEL_MAX)
		return "it is longer than 63 characters";
	if (!is_lower_alnum(text[0]) || !is_lower_alnum(text[length - 1]))
		return "it must begin and end with a lower-case letter or a digit";
	for (size_t i = 0; i < length; i++) {
		if (!is_lower_alnum(text[i]) && text[i] != '-')
			return "only lower-case letters, digits and '-' are allowed";
	}
	return NULL;
}

/* RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
static const char *dns_subdomain_problem(const char *text, size_t length)
{
	if (length == 0)
		return "it is empty";
	if (length > DNS_SUBDOMAIN_MAX)
		return "it is longer than 253 characters";
	for (size_t start = 0; start <= length;) {
		const char *dot = memchr(text + start, '.', length - start);
		size_t part = dot ? (size_t) (dot - (text + start)) : length - start;
		if (part == 0)
			return "it has an empty part between dots";
		for (size_t i = start; i < start + part; i++) {
			if (!is_lower_alnum(text[i]) && text[i] != '-')
				return "only lower-case letters, digits, '-' and '.' are allowed";
		}
		if (!is_lower_alnum(text[start]) || !is_lower_alnum(text[start + part - 1]))
			return "each part must begin and end with a lower-case letter or a digit";
		start += part + 1;
	}
	return NULL;
}

/* A label key: a name with an optional "<DNS subdomain>/" prefix. */
static const char *label_key_problem(const char *key)
{
	const char *slash = strchr(key, '/');

	if (slash == NULL)
		return label_name_problem(key, strlen(key));
	if (strchr(slash + 1, '/') != NULL)
		return "at most one '/' may separate a prefix from the name";
	if (dns_subdomain_problem(key, (size_t) (slash - key)) != NULL)
		return "the prefix before '/' must be a DNS subdomain (lower-case letters, digits, "
		       "'-' and '.')";
	return label_name_problem(slash + 1, strlen(slash + 1));
}

/* ---- configuration check ---------------------------------------------------- */

static char *duplicate_or_abort(const char *text)
{
	char *copy = strdup(text);
	if (copy == NULL)
		abort(); /* as the loader does: a half-checked configuration means nothing */
	return copy;
}

static void add_error(struct config_diagnostics *diags, const char *file, const char *key,
		      const char *format, ...) __attribute__((format(printf, 4, 5)));
static void add_error(struct config_diagnostics *diags, const char *file, const char *key,
		      const char *format, ...)
{
	va_list arguments;
	char *reason = NULL;

	va_start(arguments, format);
	int length = vasprintf(&reason, format, arguments);
	va_end(arguments);
	if (length < 0)
		abort();
	struct config_diagnostic *items =
		realloc(diags->items, (diags->count + 1) * sizeof(diags->items[0]));
	if (items == NULL)
		abort();
	diags->items = items;
	diags->items[diags->count++] = (struct config_diagnostic){
		.severity = CONFIG_ERROR,
		.file = duplicate_or_abort(file),
		.line = 0,
		.key = duplicate_or_abort(key),
		.reason = reason,
	};
}

bool kubernetes_labels_check_config(const struct pgherd_config *config, const char *file_name,
				    struct config_diagnostics *diags)
{
	const char *file = file_name ? file_name : "configuration";
	size_t errors_before = diags->count;
	const char *label = config->kubernetes_labels.role_label;
	const char *primary = config->kubernetes_labels.primary_value;
	const char *replica = config->kubernetes_labels.replica_value;
	const char *pod = config->kubernetes_labels.pod_name;
	const char *namespace = config->kubernetes_labels.namespace;
	const char *problem;

	if (label != NULL && (problem = label_key_problem(label)) != NULL)
		add_error(diags, file, "kubernetes_labels.role_label",
			  "\"%s\" is not a Kubernetes label key: %s", label, problem);
	if (primary != NULL && (problem = label_name_problem(primary, strlen(primary))) != NULL)
		add_error(diags, file, "kubernetes_labels.primary_value",
			  "\"%s\" is not a Kubernetes label value: %s", primary, problem);
	if (replica != NULL && (problem = label_name_problem(replica, strlen(replica))) != NULL)
		add_error(diags, file, "kubernetes_labels.replica_value",
			  "\"%s\" is not a Kubernetes label value: %s", replica, problem);
	if (primary != NULL && replica != NULL && strcmp(primary, replica) == 0)
		add_error(diags, file, "kubernetes_labels.replica_value",
			  "\"%s\" is also kubernetes_labels.primary_value: the Services could not "
			  "tell the primary from the replicas",
			  replica);
	if (pod != NULL && (problem = dns_subdomain_problem(pod, strlen(pod))) != NULL)
		add_error(diags, file, "kubernetes_labels.pod_name",
			  "\"%s\" is not a pod name: %s", pod, problem);
	if (namespace != NULL && (problem = dns_label_problem(namespace, strlen(namespace))) != NULL)
		add_error(diags, file, "kubernetes_labels.namespace",
			  "\"%s\" is not a Kubernetes namespace: %s", namespace, problem);
	return diags->count == errors_before;
}

/* ---- creation ---------------------------------------------------------------- */

/* NAME's value in a "NAME=VALUE" array; NULL when unset or empty. */
static const char *environment_value(char *const *env, const char *name)
{
	size_t length = strlen(name);

	for (; env != NULL && *env != NULL; env++) {
		if (strncmp(*env, name, length) == 0 && (*env)[length] == '=')
			return (*env)[length + 1] ? *env + length + 1 : NULL;
	}
	return NULL;
}

/*
 * A small file's content without trailing white space, into buf.  Reading
 * a file on the loop is fine here: these are on the kubelet's tmpfs, a few
 * hundred bytes.  False with *error set (errno's text or a reason).
 */
static bool read_small_file(const char *path, char *buf, size_t size, const char **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t length = 0;

	if (fd < 0) {
		*error = strerror(errno);
		return false;
	}
	for (;;) {
		if (length == size - 1) {
			close(fd);
			*error = "the file is too large";
			return false;
		}
		ssize_t got = read(fd, buf + length, size - 1 - length);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			*error = strerror(errno);
			close(fd);
			return false;
		}
		if (got == 0)
			break;
		length += (size_t) got;
	}
	close(fd);
	while (length > 0 && isspace((unsigned char) buf[length - 1]))
		length--;
	buf[length] = '\0';
	if (length == 0) {
		*error = "the file is empty";
		return false;
	}
	return true;
}

/* A bearer token goes into a header line: visible ASCII only. */
static bool read_token(const char *path, char *buf, size_t size, const char **error)
{
	if (!read_small_file(path, buf, size, error))
		return false;
	for (const char *p = buf; *p != '\0'; p++) {
		if (*p < 0x21 || *p > 0x7e) {
			*error = "the token holds characters a bearer token cannot have";
			return false;
		}
	}
	return true;
}

static char *format_string(const char *format, ...) __attribute__((format(printf, 1, 2)));
static char *format_string(const char *format, ...)
{
	va_list arguments;
	char *text = NULL;

	va_start(arguments, format);
	int length = vasprintf(&text, format, arguments);
	va_end(arguments);
	return length < 0 ? NULL : text;
}

static void disabled(enum log_level level, const char *reason, const char *detail)
{
	if (detail != NULL)
		log_write(level, "kubernetes.labeler_disabled",
			  LOG_FIELDS(LF_STR("reason", reason), LF_STR("detail", detail)));
	else
		log_write(level, "kubernetes.labeler_disabled", LOG_FIELDS(LF_STR("reason", reason)));
}

/* Everything kubernetes_labeler_new() works out before allocating. */
struct labeler_settings {
	const char *host;
	int port;
	bool ipv6;
	const char *pod;
	char pod_buffer[DNS_SUBDOMAIN_MAX + 2];
	char namespace[SMALL_FILE_MAX_BYTES];
	char *token_path;
	char *ca_path;
};

static bool parse_port(const char *text, int *port)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < 1 || value > 65535 ||
	    !isdigit((unsigned char) text[0]))
		return false;
	*port = (int) value;
	return true;
}

/* The CA file must hold at least one certificate OpenSSL can load. */
static SSL_CTX *tls_context(const char *ca_path, char *error, size_t size)
{
	SSL_CTX *context = SSL_CTX_new(TLS_client_method());

	if (context == NULL) {
		snprintf(error, size, "cannot create a TLS context");
		ERR_clear_error();
		return NULL;
	}
	SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
	SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(context, ca_path, NULL) != 1) {
		char reason[160];
		ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
		snprintf(error, size, "cannot load the CA certificates of %s: %s", ca_path, reason);
		ERR_clear_error();
		SSL_CTX_free(context);
		return NULL;
	}
	return context;
}

/* False after logging why there is no labeller. */
static bool gather_settings(const struct pgherd_config *config, char *const *env,
			    struct labeler_settings *s)
{
	const char *dir = config->kubernetes_labels.service_account_dir;
	const char *port_text = environment_value(env, "KUBERNETES_SERVICE_PORT");
	const char *error = NULL;
	const char *problem;
	char token[TOKEN_MAX_BYTES];
	char detail[MESSAGE_MAX + 64];
	struct in6_addr address;

	s->host = environment_value(env, "KUBERNETES_SERVICE_HOST");
	if (s->host == NULL) {
		disabled(LOG_LEVEL_WARNING, "not_in_kubernetes",
			 "KUBERNETES_SERVICE_HOST is not set: not running in a pod");
		return false;
	}
	/* Resolving a name would block the loop; Kubernetes gives an IP. */
	if (inet_pton(AF_INET, s->host, &address) == 1) {
		s->ipv6 = false;
	} else if (inet_pton(AF_INET6, s->host, &address) == 1) {
		s->ipv6 = true;
	} else {
		snprintf(detail, sizeof(detail),
			 "KUBERNETES_SERVICE_HOST \"%.100s\" is not an IP address", s->host);
		disabled(LOG_LEVEL_ERROR, "bad_api_server_address", detail);
		return false;
	}
	s->port = DEFAULT_API_PORT;
	if (port_text != NULL && !parse_port(port_text, &s->port)) {
		snprintf(detail, sizeof(detail),
			 "KUBERNETES_SERVICE_PORT \"%.100s\" is not a port number", port_text);
		disabled(LOG_LEVEL_ERROR, "bad_api_server_address", detail);
		return false;
	}

	if (dir == NULL)
		dir = "/var/run/secrets/kubernetes.io/serviceaccount";
	s->token_path = format_string("%s/token", dir);
	s->ca_path = format_string("%s/ca.crt", dir);
	if (s->token_path == NULL || s->ca_path == NULL) {
		log_error("kubernetes.out_of_memory", LF_STR("context", "labeller"));
		return false;
	}
	bool token_readable = read_token(s->token_path, token, sizeof(token), &error);
	explicit_bzero(token, sizeof(token));
	if (!token_readable) {
		snprintf(detail, sizeof(detail), "%s: %s", s->token_path, error);
		disabled(LOG_LEVEL_WARNING, "no_service_account_token", detail);
		return false;
	}
	char tls_error[MESSAGE_MAX];
	SSL_CTX *context = tls_context(s->ca_path, tls_error, sizeof(tls_error));
	if (context == NULL) {
		disabled(LOG_LEVEL_ERROR, "no_ca_certificate", tls_error);
		return false;
	}
	SSL_CTX_free(context);

	if (config->kubernetes_labels.namespace != NULL) {
		snprintf(s->namespace, sizeof(s->namespace), "%s", config->kubernetes_labels.namespace);
	} else {
		char *namespace_path = format_string("%s/namespace", dir);
		bool readable = namespace_path != NULL &&
				read_small_file(namespace_path, s->namespace, sizeof(s->namespace),
						&error);
		if (!readable) {
			snprintf(detail, sizeof(detail),
				 "kubernetes_labels.namespace is unset and %s cannot be read: %s",
				 namespace_path ? namespace_path : "<service_account_dir>/namespace",
				 namespace_path ? error : "out of memory");
			free(namespace_path);
			disabled(LOG_LEVEL_ERROR, "no_namespace", detail);
			return false;
		}
		free(namespace_path);
	}
	if ((problem = dns_label_problem(s->namespace, strlen(s->namespace))) != NULL) {
		snprintf(detail, sizeof(detail), "namespace \"%.64s\": %s", s->namespace, problem);
		disabled(LOG_LEVEL_ERROR, "bad_namespace", detail);
		return false;
	}

	s->pod = config->kubernetes_labels.pod_name;
	if (s->pod == NULL)
		s->pod = environment_value(env, "POD_NAME");
	if (s->pod == NULL) {
		/* Kubernetes sets a pod's host name to the pod's name (up to 63
		 * characters), unless the pod spec sets hostname. */
		if (gethostname(s->pod_buffer, sizeof(s->pod_buffer)) != 0) {
			disabled(LOG_LEVEL_ERROR, "no_pod_name", strerror(errno));
			return false;
		}
		s->pod_buffer[sizeof(s->pod_buffer) - 1] = '\0';
		s->pod = s->pod_buffer;
	}
	if ((problem = dns_subdomain_problem(s->pod, strlen(s->pod))) != NULL) {
		snprintf(detail, sizeof(detail), "pod name \"%.100s\": %s", s->pod, problem);
		disabled(LOG_LEVEL_ERROR, "bad_pod_name", detail);
		return false;
	}
	return true;
}

/* The label settings again, in case the caller skipped
 * kubernetes_labels_check_config(): they go into a JSON body. */
static bool labels_valid(const struct pgherd_config *config)
{
	struct config_diagnostics diags = { 0 };
	bool valid = kubernetes_labels_check_config(config, NULL, &diags);

	if (!valid) {
		char *first = config_diagnostic_format(&diags.items[0]);
		disabled(LOG_LEVEL_ERROR, "bad_configuration", first);
		free(first);
	}
	config_diagnostics_clear(&diags);
	return valid;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);
static void on_completion(evutil_socket_t fd, short what, void *arg);
static void on_retry(evutil_socket_t fd, short what, void *arg);
static void on_stop_deadline(evutil_socket_t fd, short what, void *arg);
static void on_notify(evutil_socket_t fd, short what, void *arg);

struct kubernetes_labeler *kubernetes_labeler_new(struct event_base *base,
						  const struct pgherd_config *config,
						  char *const *env)
{
	struct labeler_settings s = { 0 };
	struct kubernetes_labeler *l = NULL;

	if (!config->kubernetes_labels.enabled) {
		disabled(LOG_LEVEL_INFO, "disabled", "kubernetes_labels.enabled is false");
		return NULL;
	}
	if (!labels_valid(config) || !gather_settings(config, env, &s))
		goto fail;

	l = calloc(1, sizeof(*l));
	if (l == NULL)
		goto out_of_memory;
	l->base = base;
	l->request_timeout_ms = REQUEST_TIMEOUT_MS;
	l->first_retry_ms = RETRY_FIRST_MS;
	l->max_retry_ms = RETRY_MAX_MS;
	l->retry_delay_ms = RETRY_FIRST_MS;
	l->port = s.port;
	l->token_path = s.token_path;
	l->ca_path = s.ca_path;
	s.token_path = s.ca_path = NULL;
	l->label = strdup(config->kubernetes_labels.role_label ? config->kubernetes_labels.role_label
							       : "role");
	l->primary_value = strdup(config->kubernetes_labels.primary_value
					  ? config->kubernetes_labels.primary_value
					  : "primary");
	l->replica_value = strdup(config->kubernetes_labels.replica_value
					  ? config->kubernetes_labels.replica_value
					  : "replica");
	l->pod = strdup(s.pod);
	l->namespace = strdup(s.namespace);
	l->host = strdup(s.host);
	const char *open_bracket = s.ipv6 ? "[" : "", *close_bracket = s.ipv6 ? "]" : "";
	if (s.port == DEFAULT_API_PORT)
		l->host_header = format_string("%s%s%s", open_bracket, s.host, close_bracket);
	else
		l->host_header = format_string("%s%s%s:%d", open_bracket, s.host, close_bracket,
					       s.port);
	l->endpoint = format_string("https://%s%s%s:%d", open_bracket, s.host, close_bracket,
				    s.port);
	l->api_path = format_string("/api/v1/namespaces/%s/pods/%s", s.namespace, s.pod);
	l->deadline = evtimer_new(base, on_deadline, l);
	l->completion = event_new(base, -1, 0, on_completion, l);
	l->retry = evtimer_new(base, on_retry, l);
	l->stop_deadline = evtimer_new(base, on_stop_deadline, l);
	l->notify = event_new(base, -1, 0, on_notify, l);
	if (l->label == NULL || l->primary_value == NULL || l->replica_value == NULL ||
	    l->pod == NULL || l->namespace == NULL || l->host == NULL || l->host_header == NULL ||
	    l->endpoint == NULL || l->api_path == NULL || l->deadline == NULL ||
	    l->completion == NULL || l->retry == NULL || l->stop_deadline == NULL ||
	    l->notify == NULL)
		goto out_of_memory;

	log_info("kubernetes.labeler_ready", LF_STR("api_server", l->endpoint),
		 LF_STR("namespace", l->namespace), LF_STR("pod", l->pod), LF_STR("label", l->label));
	return l;

out_of_memory:
	log_error("kubernetes.out_of_memory", LF_STR("context", "labeller"));
fail:
	free(s.token_path);
	free(s.ca_path);
	kubernetes_labeler_free(l);
	return NULL;
}

void kubernetes_labeler_set_timing(struct kubernetes_labeler *l, int request_timeout_ms,
				   int first_retry_ms, int max_retry_ms)
{
	if (l == NULL || request_timeout_ms < 1 || first_retry_ms < 1 ||
	    max_retry_ms < first_retry_ms)
		return;
	l->request_timeout_ms = request_timeout_ms;
	l->first_retry_ms = first_retry_ms;
	l->max_retry_ms = max_retry_ms;
	l->retry_delay_ms = first_retry_ms;
}

/* ---- one request ------------------------------------------------------------------ */

static const char *role_value(const struct kubernetes_labeler *l, enum kubernetes_role role)
{
	switch (role) {
	case KUBERNETES_ROLE_PRIMARY: return l->primary_value;
	case KUBERNETES_ROLE_REPLICA: return l->replica_value;
	case KUBERNETES_ROLE_NONE: break;
	}
	return NULL;
}

static const char *role_name(enum kubernetes_role role)
{
	switch (role) {
	case KUBERNETES_ROLE_PRIMARY: return "primary";
	case KUBERNETES_ROLE_REPLICA: return "replica";
	case KUBERNETES_ROLE_NONE: break;
	}
	return "none";
}

/* {"metadata":{"labels":{"<label>":"<value>"}}}, or null to remove: a JSON
 * merge patch (RFC 7386) touches that one label and nothing else. */
static char *patch_body(const struct kubernetes_labeler *l, enum kubernetes_role role)
{
	const char *value = role_value(l, role);
	json_t *body = json_pack("{s:{s:{s:s?}}}", "metadata", "labels", l->label, value);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	return text;
}

static const char *evhttp_error_name(enum evhttp_request_error error)
{
	switch (error) {
	case EVREQ_HTTP_TIMEOUT: return "timed out";
	case EVREQ_HTTP_EOF: return "the connection closed before an answer";
	case EVREQ_HTTP_INVALID_HEADER: return "invalid answer headers";
	case EVREQ_HTTP_BUFFER_ERROR: return "connection error";
	case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG: return "answer too long";
	}
	return "request failed";
}

static void on_request_error(enum evhttp_request_error error, void *arg)
{
	struct kubernetes_labeler *l = arg;

	if (!l->discarding)
		l->evhttp_error = evhttp_error_name(error);
}

/* Why a request got no answer: the certificate check, another TLS error,
 * the socket's error, or what evhttp said. */
static void describe_failure(struct kubernetes_labeler *l, int socket_error)
{
	struct bufferevent *bev =
		l->connection ? evhttp_connection_get_bufferevent(l->connection) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	unsigned long tls_error = 0;

	/* bufferevent_openssl queues OpenSSL's packed errors, and also bare
	 * SSL_get_error() codes (library 0) such as SSL_ERROR_SYSCALL for a
	 * socket error, which errno describes better. */
	for (unsigned long e; bev != NULL && (e = bufferevent_get_openssl_error(bev)) != 0;) {
		if (tls_error == 0 && ERR_GET_LIB(e) != 0)
			tls_error = e;
	}
	if (verify != X509_V_OK) {
		snprintf(l->error, sizeof(l->error), "TLS: the API server's certificate is not "
			 "accepted: %s", X509_verify_cert_error_string(verify));
	} else if (tls_error != 0) {
		char reason[160];
		ERR_error_string_n(tls_error, reason, sizeof(reason));
		snprintf(l->error, sizeof(l->error), "TLS: %s", reason);
	} else if (socket_error == ENOTCONN) {
		/* evhttp shut the socket down before telling us, which replaced
		 * the connect error (ECONNREFUSED, ...) in errno. */
		snprintf(l->error, sizeof(l->error),
			 "cannot connect, or the connection was reset");
	} else if (socket_error != 0 && socket_error != EINPROGRESS && socket_error != EAGAIN) {
		snprintf(l->error, sizeof(l->error), "connection failed: %s",
			 strerror(socket_error));
	} else {
		snprintf(l->error, sizeof(l->error), "%s",
			 l->evhttp_error ? l->evhttp_error : "no answer");
	}
	ERR_clear_error();
}

/* The API server explains refusals in a Status object's "message". */
static void read_answer_message(struct kubernetes_labeler *l, struct evhttp_request *req)
{
	struct evbuffer *input = evhttp_request_get_input_buffer(req);
	size_t length = input ? evbuffer_get_length(input) : 0;

	l->message[0] = '\0';
	if (length == 0 || length > ANSWER_MAX_BYTES)
		return;
	const char *bytes = (const char *) evbuffer_pullup(input, (ev_ssize_t) length);
	json_t *answer = bytes ? json_loadb(bytes, length, 0, NULL) : NULL;
	const char *message = json_string_value(json_object_get(answer, "message"));
	if (message != NULL)
		snprintf(l->message, sizeof(l->message), "%s", message);
	json_decref(answer);
}

/* evhttp's callback: record, and leave the rest to on_completion(). */
static void on_request_done(struct evhttp_request *req, void *arg)
{
	struct kubernetes_labeler *l = arg;
	int socket_error = errno;

	if (l->discarding || !l->in_flight || l->completed)
		return;
	l->completed = true;
	l->status = req ? evhttp_request_get_response_code(req) : 0;
	if (l->status == 0)
		describe_failure(l, socket_error);
	else if (l->status < 200 || l->status > 299)
		read_answer_message(l, req);
	event_active(l->completion, EV_TIMEOUT, 0);
}

/* Only from our own event callbacks, never from evhttp's. */
static void release_connection(struct kubernetes_labeler *l)
{
	if (l->connection == NULL)
		return;
	l->discarding = true;
	evhttp_connection_free(l->connection); /* frees a request still queued */
	l->discarding = false;
	l->connection = NULL;
}

/*
 * Start the exchange for l->sending: token, TLS, connection, request.  False
 * with l->error set when it cannot even start; on_request_done() may
 * already have run (a refused connect is reported synchronously).
 */
static bool start_exchange(struct kubernetes_labeler *l)
{
	char token[TOKEN_MAX_BYTES];
	char authorization[TOKEN_MAX_BYTES + 16];
	char content_length[24];
	const char *error = NULL;
	char *body = NULL;
	SSL_CTX *context = NULL;
	SSL *ssl = NULL;
	struct bufferevent *bev = NULL;
	struct evhttp_request *req = NULL;
	struct evkeyvalq *headers;
	size_t body_length;
	bool started = false;

	if (!read_token(l->token_path, token, sizeof(token), &error)) {
		snprintf(l->error, sizeof(l->error), "cannot read the token %s: %s", l->token_path,
			 error);
		return false;
	}
	snprintf(authorization, sizeof(authorization), "Bearer %s", token);
	explicit_bzero(token, sizeof(token));

	body = patch_body(l, l->sending);
	if (body == NULL) {
		snprintf(l->error, sizeof(l->error), "out of memory");
		goto out;
	}
	context = tls_context(l->ca_path, l->error, sizeof(l->error));
	if (context == NULL)
		goto out;
	ssl = SSL_new(context);
	SSL_CTX_free(context); /* the SSL holds its own reference */
	if (ssl == NULL) {
		snprintf(l->error, sizeof(l->error), "cannot create a TLS session");
		ERR_clear_error();
		goto out;
	}
	/* The certificate must name the address we connect to (an IP SAN, as
	 * the API server's certificate has for its Service IP).  No SNI: it
	 * may not carry an IP address. */
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), l->host) != 1) {
		snprintf(l->error, sizeof(l->error), "cannot set the address to verify");
		SSL_free(ssl);
		goto out;
	}
	/* With BEV_OPT_CLOSE_ON_FREE the bufferevent owns the SSL, even when
	 * its creation fails (libevent frees it then). */
	bev = bufferevent_openssl_socket_new(
		l->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		snprintf(l->error, sizeof(l->error), "cannot create the TLS connection");
		goto out;
	}
	/* The API server may close without a TLS close_notify; the answer's
	 * Content-Length already told where it ends. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* No evdns_base: the host is numeric (checked at creation), so the
	 * lookup evhttp makes never blocks. */
	l->connection = evhttp_connection_base_bufferevent_new(l->base, NULL, bev, l->host,
								(ev_uint16_t) l->port);
	if (l->connection == NULL) {
		bufferevent_free(bev); /* still ours when the connection was not made */
		snprintf(l->error, sizeof(l->error), "cannot create the HTTP connection");
		goto out;
	}
	/* A pod's JSON is well under the API server's object limit (1.5 MiB);
	 * anything far larger is not an answer to read into memory. */
	evhttp_connection_set_max_body_size(l->connection, ANSWER_BODY_LIMIT);
	evhttp_connection_set_max_headers_size(l->connection, ANSWER_HEADERS_LIMIT);
	req = evhttp_request_new(on_request_done, l);
	if (req == NULL) {
		snprintf(l->error, sizeof(l->error), "out of memory");
		goto out;
	}
	evhttp_request_set_error_cb(req, on_request_error);
	headers = evhttp_request_get_output_headers(req);
	body_length = strlen(body);
	snprintf(content_length, sizeof(content_length), "%zu", body_length);
	/* evhttp adds Content-Length by itself for POST and PUT only. */
	if (evhttp_add_header(headers, "Host", l->host_header) != 0 ||
	    evhttp_add_header(headers, "Authorization", authorization) != 0 ||
	    evhttp_add_header(headers, "Content-Type", "application/merge-patch+json") != 0 ||
	    evhttp_add_header(headers, "Accept", "application/json") != 0 ||
	    evhttp_add_header(headers, "User-Agent", "pgherd/" PGHERD_VERSION) != 0 ||
	    evhttp_add_header(headers, "Content-Length", content_length) != 0 ||
	    evhttp_add_header(headers, "Connection", "close") != 0 ||
	    evbuffer_add(evhttp_request_get_output_buffer(req), body, body_length) != 0) {
		evhttp_request_free(req);
		snprintf(l->error, sizeof(l->error), "cannot build the request");
		goto out;
	}
	/* The request belongs to the connection from here, even on failure
	 * (libevent frees it then). */
	if (evhttp_make_request(l->connection, req, EVHTTP_REQ_PATCH, l->api_path) != 0) {
		snprintf(l->error, sizeof(l->error), "cannot send the request");
		goto out;
	}
	started = true;
out:
	explicit_bzero(authorization, sizeof(authorization));
	free(body);
	return started;
}

static void send_request(struct kubernetes_labeler *l)
{
	struct timeval timeout = milliseconds(l->request_timeout_ms);

	l->sending = l->desired;
	l->in_flight = true;
	l->completed = false;
	l->status = 0;
	l->error[0] = '\0';
	l->message[0] = '\0';
	l->evhttp_error = NULL;
	l->sent_at_ms = now_ms();
	log_debug("kubernetes.request_sent", LF_STR("role", role_name(l->sending)),
		  LF_STR("path", l->api_path));
	if (!start_exchange(l)) {
		if (!l->completed) {
			l->completed = true;
			event_active(l->completion, EV_TIMEOUT, 0);
		}
		return;
	}
	evtimer_add(l->deadline, &timeout);
}

/* 401, 403, 404 and 422 need an operator: a token the API server accepts,
 * an RBAC rule that allows patching pods, the right pod name or namespace,
 * a label it accepts.  Retrying them quickly would only load the API server;
 * retrying them slowly lets the label heal once that is fixed. */
static bool needs_an_operator(int status)
{
	return status == 401 || status == 403 || status == 404 || status == 422;
}

static void schedule_retry(struct kubernetes_labeler *l)
{
	int delay_ms = needs_an_operator(l->status) ? l->max_retry_ms : l->retry_delay_ms;
	struct timeval delay = milliseconds(delay_ms);
	int64_t duration_ms = now_ms() - l->sent_at_ms;

	l->failures++;
	l->retry_delay_ms = l->retry_delay_ms > l->max_retry_ms / 2 ? l->max_retry_ms
								       : l->retry_delay_ms * 2;
	if (l->status != 0)
		log_warning("kubernetes.request_failed", LF_STR("role", role_name(l->sending)),
			    LF_STR("pod", l->pod), LF_INT("status", l->status),
			    LF_STR("message", l->message), LF_INT("attempt", l->failures),
			    LF_INT("duration_ms", duration_ms), LF_INT("retry_in_ms", delay_ms));
	else
		log_warning("kubernetes.request_failed", LF_STR("role", role_name(l->sending)),
			    LF_STR("pod", l->pod), LF_STR("error", l->error),
			    LF_INT("attempt", l->failures), LF_INT("duration_ms", duration_ms),
			    LF_INT("retry_in_ms", delay_ms));
	evtimer_add(l->retry, &delay);
}

static void record_success(struct kubernetes_labeler *l)
{
	int64_t duration_ms = now_ms() - l->sent_at_ms;

	l->applied = l->sending;
	l->applied_known = true;
	l->failures = 0;
	l->retry_delay_ms = l->first_retry_ms;
	if (l->sending == KUBERNETES_ROLE_NONE)
		log_info("kubernetes.label_removed", LF_STR("label", l->label), LF_STR("pod", l->pod),
			 LF_INT("duration_ms", duration_ms));
	else
		log_info("kubernetes.label_set", LF_STR("label", l->label),
			 LF_STR("value", role_value(l, l->sending)), LF_STR("pod", l->pod),
			 LF_INT("duration_ms", duration_ms));
}

/* The request is over, one way or another: from on_completion() or
 * on_deadline(), never from inside evhttp. */
static void finish_request(struct kubernetes_labeler *l)
{
	event_del(l->deadline);
	event_del(l->completion);
	release_connection(l);
	l->in_flight = false;
	if (l->status >= 200 && l->status <= 299) {
		record_success(l);
	} else {
		l->applied_known = false;
		schedule_retry(l);
	}
	advance(l);
}

static void on_completion(evutil_socket_t fd, short what, void *arg)
{
	struct kubernetes_labeler *l = arg;

	(void) fd;
	(void) what;
	if (l->in_flight && l->completed)
		finish_request(l);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct kubernetes_labeler *l = arg;

	(void) fd;
	(void) what;
	if (!l->in_flight || l->completed)
		return; /* on_completion() is due and finishes it */
	l->completed = true;
	l->status = 0;
	snprintf(l->error, sizeof(l->error), "no answer within %d ms", l->request_timeout_ms);
	finish_request(l);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	advance(arg);
}

/* ---- what to do next ----------------------------------------------------------------- */

static bool nothing_to_send(const struct kubernetes_labeler *l)
{
	return !l->asked || (l->applied_known && l->applied == l->desired);
}

static void notify_done(struct kubernetes_labeler *l)
{
	if (!l->stopping || l->done_called)
		return;
	l->done_called = true;
	event_del(l->stop_deadline);
	event_active(l->notify, EV_TIMEOUT, 0);
}

static void advance(struct kubernetes_labeler *l)
{
	if (l->gave_up || l->in_flight || evtimer_pending(l->retry, NULL))
		return;
	if (nothing_to_send(l)) {
		notify_done(l);
		return;
	}
	send_request(l);
}

void kubernetes_labeler_set_role(struct kubernetes_labeler *l, enum kubernetes_role role)
{
	if (l == NULL || l->stopping)
		return;
	if (role != KUBERNETES_ROLE_PRIMARY && role != KUBERNETES_ROLE_REPLICA)
		role = KUBERNETES_ROLE_NONE;
	l->desired = role;
	l->asked = true;
	advance(l);
}

bool kubernetes_labeler_settled(const struct kubernetes_labeler *l)
{
	if (l == NULL || l->gave_up)
		return true;
	return !l->in_flight && !evtimer_pending(l->retry, NULL) && nothing_to_send(l);
}

static void on_stop_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct kubernetes_labeler *l = arg;

	(void) fd;
	(void) what;
	l->gave_up = true;
	event_del(l->retry);
	event_del(l->deadline);
	event_del(l->completion);
	release_connection(l);
	l->in_flight = false;
	log_warning("kubernetes.stop_timed_out", LF_STR("label", l->label), LF_STR("pod", l->pod),
		    LF_STR("detail", "the label may remain on the pod"));
	notify_done(l);
}

static void on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct kubernetes_labeler *l = arg;

	(void) fd;
	(void) what;
	/* Last: done() may free l. */
	if (l->done != NULL)
		l->done(l->done_arg);
}

void kubernetes_labeler_stop(struct kubernetes_labeler *l, int timeout_ms,
			     void (*done)(void *arg), void *arg)
{
	struct timeval timeout = milliseconds(timeout_ms > 0 ? timeout_ms : 0);

	if (l == NULL || l->stopping)
		return;
	l->done = done;
	l->done_arg = arg;
	l->desired = KUBERNETES_ROLE_NONE;
	l->asked = true;
	l->stopping = true;
	evtimer_add(l->stop_deadline, &timeout);
	/* A retry may be waiting up to 30 s: the removal is the last thing
	 * this labeller does, so try it now. */
	if (evtimer_pending(l->retry, NULL)) {
		event_del(l->retry);
		l->retry_delay_ms = l->first_retry_ms;
	}
	advance(l);
}

void kubernetes_labeler_free(struct kubernetes_labeler *l)
{
	if (l == NULL)
		return;
	release_connection(l);
	if (l->deadline)
		event_free(l->deadline);
	if (l->completion)
		event_free(l->completion);
	if (l->retry)
		event_free(l->retry);
	if (l->stop_deadline)
		event_free(l->stop_deadline);
	if (l->notify)
		event_free(l->notify);
	free(l->label);
	free(l->primary_value);
	free(l->replica_value);
	free(l->pod);
	free(l->namespace);
	free(l->token_path);
	free(l->ca_path);
	free(l->host);
	free(l->host_header);
	free(l->endpoint);
	free(l->api_path);
	free(l);
}
