/*
 * agent/kubernetes against a small local HTTPS server standing in for the
 * Kubernetes API server.
 *
 * The group setup makes a throw-away PKI with the openssl command: a
 * "cluster" CA, a server certificate it signs for 127.0.0.1 and ::1 (as the
 * API server's certificate names its Service IP), and an unrelated CA.  Each
 * test runs one libevent loop holding both the labeller and the server
 * (evhttp over bufferevent_openssl), plus a 5 ms ticker whose largest gap
 * shows whether anything blocked the loop.  The server records every request
 * (method, path, headers, body) and answers with a scripted status, or holds
 * requests until the test releases them, so that a request can be kept in
 * flight.  The labeller's log goes to a JSON file per test, read back to
 * check its events.  Prints what it measured.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "agent/config.h"
#include "agent/kubernetes.h"
#include "agent/log.h"
#include "test/harness/harness.h"

#define MAX_RECORDED 32
#define FIELD_MAX 512
/* The loop must never stall: TLS handshakes on loopback take a few ms,
 * even under ASan. */
#define MAX_LOOP_GAP_MS 100

#define ARRAY_LENGTH(array) (sizeof(array) / sizeof((array)[0]))

/* ---- the stand-in API server ---------------------------------------------- */

struct recorded_request {
	char method[16];
	char path[FIELD_MAX];
	char authorization[FIELD_MAX];
	char content_type[FIELD_MAX];
	char accept[FIELD_MAX];
	char host[FIELD_MAX];
	char body[FIELD_MAX];
	int64_t at_ms;
};

struct api_server {
	struct evhttp *http;
	SSL_CTX *tls;
	int port;
	struct recorded_request requests[MAX_RECORDED];
	size_t count;
	/* Status of the n-th request; 200 past the script's end. */
	int script[8];
	size_t script_length;
	int default_status;
	/* Hold requests unanswered until server_release(). */
	bool hold;
	struct evhttp_request *held[MAX_RECORDED];
	size_t held_count;
};

static struct event_base *base;
static struct event *ticker;
static int64_t last_tick_ms;
static int64_t max_gap_ms;
static FILE *log_file;
static char log_path[HARNESS_PATH_MAX];
static struct api_server *servers[2];
static struct kubernetes_labeler *labeler;
static int blackhole_fd = -1;

/* The PKI, made once. */
static char pki_dir[HARNESS_PATH_MAX];
static char *cluster_ca_pem;
static char *other_ca_pem;

static void measured(const char *what, int64_t ms)
{
	printf("measured: %-52s %6" PRId64 " ms\n", what, ms);
	fflush(stdout);
}

static void copy_field(char *out, const char *value)
{
	snprintf(out, FIELD_MAX, "%s", value ? value : "");
}

static const char *method_name(enum evhttp_cmd_type command)
{
	switch (command) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_DELETE: return "DELETE";
	default: return "OTHER";
	}
}

/* A pod on success, a Kubernetes Status object otherwise, as the API server
 * answers. */
static void answer(struct evhttp_request *req, int status)
{
	struct evbuffer *body = evbuffer_new();

	assert_non_null(body);
	if (status >= 200 && status <= 299)
		evbuffer_add_printf(body, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
				    "\"metadata\":{\"name\":\"pg-0\"}}");
	else
		evbuffer_add_printf(body, "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
				    "\"status\":\"Failure\",\"message\":\"injected failure %d\","
				    "\"code\":%d}",
				    status, status);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, status, status < 300 ? "OK" : "Injected", body);
	evbuffer_free(body);
}

static void server_handle(struct evhttp_request *req, void *arg)
{
	struct api_server *server = arg;
	struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
	struct evbuffer *input = evhttp_request_get_input_buffer(req);
	size_t length = evbuffer_get_length(input);
	struct recorded_request *r;

	if (server->count >= MAX_RECORDED) {
		answer(req, 500);
		return;
	}
	r = &server->requests[server->count];
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", method_name(evhttp_request_get_command(req)));
	copy_field(r->path, evhttp_request_get_uri(req));
	copy_field(r->authorization, evhttp_find_header(headers, "Authorization"));
	copy_field(r->content_type, evhttp_find_header(headers, "Content-Type"));
	copy_field(r->accept, evhttp_find_header(headers, "Accept"));
	copy_field(r->host, evhttp_find_header(headers, "Host"));
	if (length >= FIELD_MAX)
		length = FIELD_MAX - 1;
	evbuffer_copyout(input, r->body, length);
	r->at_ms = harness_now_ms();
	int status = server->count < server->script_length ? server->script[server->count]
							   : server->default_status;
	server->count++;
	if (server->hold) {
		server->held[server->held_count++] = req;
		return;
	}
	answer(req, status);
}

/* Answer the held requests with 200. */
static void server_release(struct api_server *server)
{
	for (size_t i = 0; i < server->held_count; i++)
		answer(server->held[i], 200);
	server->held_count = 0;
	server->hold = false;
}

static struct bufferevent *server_connection(struct event_base *event_base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	assert_non_null(ssl);
	return bufferevent_openssl_socket_new(event_base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static int bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage address;
	socklen_t length = sizeof(address);

	assert_int_equal(getsockname(fd, (struct sockaddr *) &address, &length), 0);
	if (address.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &address)->sin6_port);
	return ntohs(((struct sockaddr_in *) &address)->sin_port);
}

/* An HTTPS server on address, port chosen by the kernel, with the cluster
 * CA's server certificate. */
static struct api_server *server_start(const char *address)
{
	struct api_server *server = calloc(1, sizeof(*server));
	char path[HARNESS_PATH_MAX + 32];

	assert_non_null(server);
	server->default_status = 200;
	server->tls = SSL_CTX_new(TLS_server_method());
	assert_non_null(server->tls);
	snprintf(path, sizeof(path), "%s/server.crt", pki_dir);
	assert_int_equal(SSL_CTX_use_certificate_chain_file(server->tls, path), 1);
	snprintf(path, sizeof(path), "%s/server.key", pki_dir);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(server->tls, path, SSL_FILETYPE_PEM), 1);
	server->http = evhttp_new(base);
	assert_non_null(server->http);
	evhttp_set_allowed_methods(server->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
							 EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
							 EVHTTP_REQ_DELETE);
	evhttp_set_bevcb(server->http, server_connection, server->tls);
	evhttp_set_gencb(server->http, server_handle, server);
	struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(server->http, address, 0);
	assert_non_null(bound);
	server->port = bound_port(evhttp_bound_socket_get_fd(bound));
	for (size_t i = 0; i < ARRAY_LENGTH(servers); i++) {
		if (servers[i] == NULL) {
			servers[i] = server;
			return server;
		}
	}
	fail_msg("too many servers");
	return NULL;
}

static void server_free(struct api_server *server)
{
	server_release(server);
	evhttp_free(server->http);
	SSL_CTX_free(server->tls);
	free(server);
}

/* Accepts TCP connections (the kernel's backlog does) and never answers. */
static int blackhole_start(void)
{
	struct sockaddr_in address = { .sin_family = AF_INET,
				       .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	blackhole_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(blackhole_fd >= 0);
	assert_int_equal(bind(blackhole_fd, (struct sockaddr *) &address, sizeof(address)), 0);
	assert_int_equal(listen(blackhole_fd, 16), 0);
	return bound_port(blackhole_fd);
}

/* ---- the loop ------------------------------------------------------------ */

static void tick(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = harness_now_ms();

	(void) fd;
	(void) what;
	(void) arg;
	if (last_tick_ms > 0 && now - last_tick_ms > max_gap_ms)
		max_gap_ms = now - last_tick_ms;
	last_tick_ms = now;
}

static bool run_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t deadline = harness_now_ms() + timeout_ms;

	while (cond == NULL || !cond(arg)) {
		if (harness_now_ms() >= deadline)
			return cond == NULL;
		if (event_base_loop(base, EVLOOP_ONCE) < 0)
			return false;
	}
	return true;
}

static void run_for(int ms)
{
	(void) run_until(NULL, NULL, ms);
}

static bool is_settled(void *arg)
{
	return kubernetes_labeler_settled(arg);
}

struct count_wait {
	const struct api_server *server;
	size_t count;
};

static bool server_has(void *arg)
{
	const struct count_wait *wait = arg;
	return wait->server->count >= wait->count;
}

static bool wait_for_requests(const struct api_server *server, size_t count, int timeout_ms)
{
	struct count_wait wait = { server, count };
	return run_until(server_has, &wait, timeout_ms);
}

static bool settle(int timeout_ms)
{
	return run_until(is_settled, labeler, timeout_ms);
}

/* ---- the labeller's log -------------------------------------------------- */

/* The records of event, in order (a new array). */
static json_t *log_records(const char *event)
{
	json_t *records = json_array();
	FILE *file = fopen(log_path, "re");
	char line[16384];

	assert_non_null(records);
	assert_non_null(file);
	while (fgets(line, sizeof(line), file) != NULL) {
		json_t *record = json_loads(line, 0, NULL);
		const char *name = json_string_value(json_object_get(record, "event"));
		if (name != NULL && strcmp(name, event) == 0)
			json_array_append(records, record);
		json_decref(record);
	}
	fclose(file);
	return records;
}

static size_t log_count(const char *event)
{
	json_t *records = log_records(event);
	size_t count = json_array_size(records);
	json_decref(records);
	return count;
}

static const char *record_string(json_t *records, size_t index, const char *field)
{
	return json_string_value(json_object_get(json_array_get(records, index), field));
}

static long long record_integer(json_t *records, size_t index, const char *field)
{
	return json_integer_value(json_object_get(json_array_get(records, index), field));
}

/* ---- fixtures ------------------------------------------------------------ */

static char *read_text(const char *path)
{
	FILE *file = fopen(path, "re");
	char *text = calloc(1, 65536);

	assert_non_null(file);
	assert_non_null(text);
	size_t length = fread(text, 1, 65535, file);
	text[length] = '\0';
	fclose(file);
	return text;
}

static bool openssl_run(const char *step, const char *const *arguments)
{
	char log[HARNESS_PATH_MAX + 32];
	char *argv[32];
	size_t n = 0;

	argv[n++] = "openssl";
	for (; *arguments != NULL && n < ARRAY_LENGTH(argv) - 1; arguments++)
		argv[n++] = (char *) *arguments;
	argv[n] = NULL;
	snprintf(log, sizeof(log), "%s/openssl-%s.log", pki_dir, step);
	return harness_run("openssl", argv, NULL, log, false, 30000, NULL);
}

static const char pki_config[] =
	"[req]\n"
	"distinguished_name = dn\n"
	"[dn]\n"
	"[ca_ext]\n"
	"basicConstraints = critical,CA:TRUE\n"
	"keyUsage = critical,keyCertSign,cRLSign\n"
	"subjectKeyIdentifier = hash\n"
	"[server_ext]\n"
	"basicConstraints = critical,CA:FALSE\n"
	"keyUsage = critical,digitalSignature\n"
	"extendedKeyUsage = serverAuth\n"
	"subjectAltName = IP:127.0.0.1,IP:::1\n"
	"authorityKeyIdentifier = keyid\n"
	"subjectKeyIdentifier = hash\n";

static bool make_pki(void)
{
	char config_path[HARNESS_PATH_MAX + 32], ca_key[HARNESS_PATH_MAX + 32],
		ca_crt[HARNESS_PATH_MAX + 32], other_key[HARNESS_PATH_MAX + 32],
		other_crt[HARNESS_PATH_MAX + 32], server_key[HARNESS_PATH_MAX + 32],
		server_csr[HARNESS_PATH_MAX + 32], server_crt[HARNESS_PATH_MAX + 32];
	const char *dir = harness_mkdir("pki");

	if (dir == NULL || harness_write_file("pki/pki.cnf", pki_config) == NULL)
		return false;
	snprintf(pki_dir, sizeof(pki_dir), "%s", dir);
	snprintf(config_path, sizeof(config_path), "%s/pki.cnf", pki_dir);
	snprintf(ca_key, sizeof(ca_key), "%s/ca.key", pki_dir);
	snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", pki_dir);
	snprintf(other_key, sizeof(other_key), "%s/other-ca.key", pki_dir);
	snprintf(other_crt, sizeof(other_crt), "%s/other-ca.crt", pki_dir);
	snprintf(server_key, sizeof(server_key), "%s/server.key", pki_dir);
	snprintf(server_csr, sizeof(server_csr), "%s/server.csr", pki_dir);
	snprintf(server_crt, sizeof(server_crt), "%s/server.crt", pki_dir);

	const char *const cluster_ca[] = { "req", "-x509", "-config", config_path, "-extensions",
					   "ca_ext", "-newkey", "ec", "-pkeyopt",
					   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
					   ca_key, "-out", ca_crt, "-days", "2", "-subj",
					   "/CN=pgherd-test-cluster-ca", NULL };
	const char *const other_ca[] = { "req", "-x509", "-config", config_path, "-extensions",
					 "ca_ext", "-newkey", "ec", "-pkeyopt",
					 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
					 other_key, "-out", other_crt, "-days", "2", "-subj",
					 "/CN=pgherd-test-other-ca", NULL };
	const char *const server_request[] = { "req", "-new", "-config", config_path, "-newkey",
					       "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
					       "-nodes", "-keyout", server_key, "-out", server_csr,
					       "-subj", "/CN=kubernetes", NULL };
	const char *const server_sign[] = { "x509", "-req", "-in", server_csr, "-CA", ca_crt,
					    "-CAkey", ca_key, "-set_serial", "2", "-days", "2",
					    "-extfile", config_path, "-extensions", "server_ext",
					    "-out", server_crt, NULL };
	if (!openssl_run("cluster-ca", cluster_ca) || !openssl_run("other-ca", other_ca) ||
	    !openssl_run("server-request", server_request) ||
	    !openssl_run("server-sign", server_sign))
		return false;
	cluster_ca_pem = read_text(ca_crt);
	other_ca_pem = read_text(other_crt);
	return true;
}

static int group_setup(void **state)
{
	if (harness_group_setup(state) != 0)
		return -1;
	/* A peer that goes away mid-write must not kill the test, as the agent
	 * ignores SIGPIPE too. */
	signal(SIGPIPE, SIG_IGN);
	return make_pki() ? 0 : -1;
}

static int group_teardown(void **state)
{
	free(cluster_ca_pem);
	free(other_ca_pem);
	return harness_group_teardown(state);
}

static int setup(void **state)
{
	static int sequence;
	struct timeval five_ms = { 0, 5000 };
	char name[64];

	if (harness_test_setup(state) != 0)
		return -1;
	base = event_base_new();
	if (base == NULL)
		return -1;
	ticker = event_new(base, -1, EV_PERSIST, tick, NULL);
	if (ticker == NULL || event_add(ticker, &five_ms) != 0)
		return -1;
	snprintf(name, sizeof(name), "kubernetes-%d.log", ++sequence);
	snprintf(log_path, sizeof(log_path), "%s", harness_path(name));
	log_file = fopen(log_path, "ae");
	if (log_file == NULL)
		return -1;
	log_set_format(LOG_FORMAT_JSON);
	log_set_level(LOG_LEVEL_DEBUG);
	log_set_stream(log_file);
	last_tick_ms = 0;
	max_gap_ms = 0;
	return 0;
}

static int teardown(void **state)
{
	kubernetes_labeler_free(labeler);
	labeler = NULL;
	for (size_t i = 0; i < ARRAY_LENGTH(servers); i++) {
		if (servers[i] != NULL)
			server_free(servers[i]);
		servers[i] = NULL;
	}
	if (blackhole_fd >= 0)
		close(blackhole_fd);
	blackhole_fd = -1;
	log_set_stream(NULL);
	log_set_format(LOG_FORMAT_PLAIN);
	log_set_level(LOG_LEVEL_INFO);
	if (log_file != NULL)
		fclose(log_file);
	log_file = NULL;
	event_free(ticker);
	ticker = NULL;
	event_base_free(base);
	base = NULL;
	return harness_test_teardown(state);
}

/* A service account directory under the run directory; NULL parts are left
 * out.  Returns its path (static storage, one per name). */
static const char *service_account(const char *name, const char *token, const char *ca_pem,
				   const char *namespace)
{
	char relpath[128];

	assert_non_null(harness_mkdir(name));
	if (token != NULL) {
		snprintf(relpath, sizeof(relpath), "%s/token", name);
		assert_non_null(harness_write_file(relpath, token));
	}
	if (ca_pem != NULL) {
		snprintf(relpath, sizeof(relpath), "%s/ca.crt", name);
		assert_non_null(harness_write_file(relpath, ca_pem));
	}
	if (namespace != NULL) {
		snprintf(relpath, sizeof(relpath), "%s/namespace", name);
		assert_non_null(harness_write_file(relpath, namespace));
	}
	return harness_path(name);
}

/* The environment of a pod whose API server is host:port. */
struct pod_environment {
	char host[96];
	char port[48];
	char pod[64];
	char *env[4];
};

static char *const *pod_environment(struct pod_environment *e, const char *host, int port,
				    const char *pod)
{
	size_t n = 0;

	memset(e, 0, sizeof(*e));
	if (host != NULL) {
		snprintf(e->host, sizeof(e->host), "KUBERNETES_SERVICE_HOST=%s", host);
		e->env[n++] = e->host;
	}
	if (port > 0) {
		snprintf(e->port, sizeof(e->port), "KUBERNETES_SERVICE_PORT=%d", port);
		e->env[n++] = e->port;
	}
	if (pod != NULL) {
		snprintf(e->pod, sizeof(e->pod), "POD_NAME=%s", pod);
		e->env[n++] = e->pod;
	}
	e->env[n] = NULL;
	return e->env;
}

/* A configuration with kubernetes_labels enabled (unless the extra lines
 * say otherwise); extra: more lines of the section, each "  key: value\n". */
static struct pgherd_config *labels_config(const char *service_account_dir, const char *extra)
{
	char yaml[2048];
	struct pgherd_config *config = NULL;
	struct config_diagnostics diags = { 0 };

	snprintf(yaml, sizeof(yaml),
		 "scope: batman\nname: node1\nzookeeper:\n  hosts: [127.0.0.1:2181]\n"
		 "kubernetes_labels:\n  service_account_dir: %s\n%s",
		 service_account_dir, extra ? extra : "  enabled: true\n");
	if (!config_load_string(yaml, strlen(yaml), "test.yml", NULL, &config, &diags))
		fail_msg("the configuration does not load:\n%s", yaml);
	assert_true(kubernetes_labels_check_config(config, "test.yml", &diags));
	config_diagnostics_clear(&diags);
	return config;
}

/* The usual labeller: pod pg-0 in namespace ns-test, token token-1. */
static struct kubernetes_labeler *start_labeler(const char *host, int port, const char *sa_name,
						const char *extra)
{
	struct pod_environment e;
	const char *dir = service_account(sa_name, "token-1\n", cluster_ca_pem, "ns-test\n");
	struct pgherd_config *config = labels_config(dir, extra);
	/* The labeller copies what it needs: free the configuration at once. */
	struct kubernetes_labeler *l =
		kubernetes_labeler_new(base, config, pod_environment(&e, host, port, "pg-0"));

	config_free(config);
	assert_non_null(l);
	assert_true(kubernetes_labeler_settled(l)); /* nothing asked yet */
	return l;
}

static void expect_patch(const struct api_server *server, size_t index, const char *body)
{
	char host[64];
	const struct recorded_request *r = &server->requests[index];

	assert_true(index < server->count);
	snprintf(host, sizeof(host), "127.0.0.1:%d", server->port);
	assert_string_equal(r->method, "PATCH");
	assert_string_equal(r->path, "/api/v1/namespaces/ns-test/pods/pg-0");
	assert_string_equal(r->authorization, "Bearer token-1");
	assert_string_equal(r->content_type, "application/merge-patch+json");
	assert_string_equal(r->accept, "application/json");
	assert_string_equal(r->host, host);
	assert_string_equal(r->body, body);
}

#define PRIMARY_BODY "{\"metadata\":{\"labels\":{\"role\":\"primary\"}}}"
#define REPLICA_BODY "{\"metadata\":{\"labels\":{\"role\":\"replica\"}}}"
#define REMOVE_BODY "{\"metadata\":{\"labels\":{\"role\":null}}}"

/* ---- tests ---------------------------------------------------------------- */

static void test_one_patch_per_role_change(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	labeler = start_labeler("127.0.0.1", server->port, "sa-changes", NULL);

	int64_t started = harness_now_ms();
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_false(kubernetes_labeler_settled(labeler));
	assert_true(settle(5000));
	measured("primary label set", harness_now_ms() - started);
	assert_int_equal(server->count, 1);
	expect_patch(server, 0, PRIMARY_BODY);

	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(settle(5000));
	assert_int_equal(server->count, 2);
	expect_patch(server, 1, REPLICA_BODY);

	/* The server has it already: nothing is sent. */
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(kubernetes_labeler_settled(labeler));
	run_for(300);
	assert_int_equal(server->count, 2);

	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_NONE);
	assert_true(settle(5000));
	assert_int_equal(server->count, 3);
	expect_patch(server, 2, REMOVE_BODY);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_NONE);
	run_for(200);
	assert_int_equal(server->count, 3);

	json_t *set = log_records("kubernetes.label_set");
	assert_int_equal(json_array_size(set), 2);
	assert_string_equal(record_string(set, 0, "value"), "primary");
	assert_string_equal(record_string(set, 0, "label"), "role");
	assert_string_equal(record_string(set, 0, "pod"), "pg-0");
	assert_string_equal(record_string(set, 1, "value"), "replica");
	json_decref(set);
	assert_int_equal(log_count("kubernetes.label_removed"), 1);
	assert_int_equal(log_count("kubernetes.request_failed"), 0);
	assert_int_equal(log_count("kubernetes.labeler_ready"), 1);
	measured("largest loop gap", max_gap_ms);
	assert_true(max_gap_ms < MAX_LOOP_GAP_MS);
}

static void test_changes_while_in_flight_are_coalesced(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	labeler = start_labeler("127.0.0.1", server->port, "sa-coalesce", NULL);

	/* primary in flight; replica, primary meanwhile: back where it was. */
	server->hold = true;
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(wait_for_requests(server, 1, 5000));
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	run_for(200);
	assert_int_equal(server->count, 1); /* at most one in flight */
	assert_false(kubernetes_labeler_settled(labeler));
	server_release(server);
	assert_true(settle(5000));
	run_for(200);
	assert_int_equal(server->count, 1);
	expect_patch(server, 0, PRIMARY_BODY);

	/* replica in flight; primary, then none meanwhile: only the last one
	 * follows. */
	server->hold = true;
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(wait_for_requests(server, 2, 5000));
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_NONE);
	run_for(200);
	assert_int_equal(server->count, 2);
	server_release(server);
	assert_true(settle(5000));
	run_for(200);
	assert_int_equal(server->count, 3);
	expect_patch(server, 1, REPLICA_BODY);
	expect_patch(server, 2, REMOVE_BODY);
	assert_true(max_gap_ms < MAX_LOOP_GAP_MS);
}

static void test_server_errors_are_retried_with_growing_backoff(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	labeler = start_labeler("127.0.0.1", server->port, "sa-retry", NULL);

	server->script[0] = 500;
	server->script[1] = 503;
	server->script_length = 2;
	int64_t asked = harness_now_ms();
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	/* A failover never waits for the API server. */
	assert_true(harness_now_ms() - asked < 20);
	assert_true(wait_for_requests(server, 2, 5000));
	assert_false(kubernetes_labeler_settled(labeler));
	assert_true(settle(10000));
	assert_int_equal(server->count, 3);
	for (size_t i = 0; i < 3; i++)
		expect_patch(server, i, PRIMARY_BODY);

	int64_t first_gap = server->requests[1].at_ms - server->requests[0].at_ms;
	int64_t second_gap = server->requests[2].at_ms - server->requests[1].at_ms;
	measured("first retry after", first_gap);
	measured("second retry after", second_gap);
	assert_true(first_gap >= 450 && first_gap < 900);
	assert_true(second_gap >= 950 && second_gap < 1600);

	json_t *failed = log_records("kubernetes.request_failed");
	assert_int_equal(json_array_size(failed), 2);
	assert_int_equal(record_integer(failed, 0, "status"), 500);
	assert_int_equal(record_integer(failed, 0, "retry_in_ms"), 500);
	assert_int_equal(record_integer(failed, 0, "attempt"), 1);
	assert_string_equal(record_string(failed, 0, "message"), "injected failure 500");
	assert_string_equal(record_string(failed, 0, "role"), "primary");
	assert_int_equal(record_integer(failed, 1, "status"), 503);
	assert_int_equal(record_integer(failed, 1, "retry_in_ms"), 1000);
	json_decref(failed);
	assert_int_equal(log_count("kubernetes.label_set"), 1);

	/* A success resets the backoff: the next failure retries after 0.5 s. */
	server->script[2] = 200;
	server->script[3] = 500;
	server->script_length = 4;
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(settle(5000));
	assert_int_equal(server->count, 5);
	failed = log_records("kubernetes.request_failed");
	assert_int_equal(record_integer(failed, 2, "retry_in_ms"), 500);
	json_decref(failed);
	measured("largest loop gap", max_gap_ms);
	assert_true(max_gap_ms < MAX_LOOP_GAP_MS);
}

static void test_refusals_that_need_an_operator_retry_at_the_cap(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	labeler = start_labeler("127.0.0.1", server->port, "sa-forbidden", NULL);

	kubernetes_labeler_set_timing(labeler, 5000, 100, 700);
	server->script[0] = 403;
	server->script[1] = 500;
	server->script_length = 2;
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(settle(5000));
	assert_int_equal(server->count, 3);
	json_t *failed = log_records("kubernetes.request_failed");
	assert_int_equal(record_integer(failed, 0, "status"), 403);
	assert_int_equal(record_integer(failed, 0, "retry_in_ms"), 700);
	assert_int_equal(record_integer(failed, 1, "status"), 500);
	assert_int_equal(record_integer(failed, 1, "retry_in_ms"), 200);
	json_decref(failed);
	assert_true(server->requests[1].at_ms - server->requests[0].at_ms >= 650);
}

static void test_unknown_ca_is_refused_then_a_fixed_ca_is_used(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	struct pod_environment e;
	const char *dir = service_account("sa-wrong-ca", "token-1", other_ca_pem, "ns-test");
	struct pgherd_config *config = labels_config(dir, NULL);

	labeler = kubernetes_labeler_new(base, config, pod_environment(&e, "127.0.0.1",
									 server->port, "pg-0"));
	config_free(config);
	assert_non_null(labeler);
	kubernetes_labeler_set_timing(labeler, 2000, 100, 200);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	run_for(700);
	assert_int_equal(server->count, 0); /* the handshake never completes */
	assert_false(kubernetes_labeler_settled(labeler));
	json_t *failed = log_records("kubernetes.request_failed");
	assert_true(json_array_size(failed) >= 2);
	const char *error = record_string(failed, 0, "error");
	assert_non_null(error);
	printf("wrong CA: %s\n", error);
	assert_non_null(strstr(error, "certificate"));
	json_decref(failed);

	/* ca.crt is read for each request: once it is right, the label goes. */
	assert_non_null(harness_write_file("sa-wrong-ca/ca.crt", cluster_ca_pem));
	assert_true(settle(3000));
	assert_int_equal(server->count, 1);
	expect_patch(server, 0, PRIMARY_BODY);
	assert_true(max_gap_ms < MAX_LOOP_GAP_MS);
}

static void test_certificate_for_another_address_is_refused(void **state)
{
	(void) state;
	/* 127.0.0.2 is loopback too, but the certificate names 127.0.0.1. */
	struct api_server *server = server_start("127.0.0.2");
	labeler = start_labeler("127.0.0.2", server->port, "sa-mismatch", NULL);

	kubernetes_labeler_set_timing(labeler, 2000, 100, 200);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	run_for(600);
	assert_int_equal(server->count, 0);
	json_t *failed = log_records("kubernetes.request_failed");
	assert_true(json_array_size(failed) >= 1);
	const char *error = record_string(failed, 0, "error");
	printf("wrong address: %s\n", error);
	assert_non_null(strstr(error, "IP address mismatch"));
	json_decref(failed);
}

static void test_silent_server_times_out_without_blocking(void **state)
{
	(void) state;
	int port = blackhole_start();
	labeler = start_labeler("127.0.0.1", port, "sa-silent", NULL);

	kubernetes_labeler_set_timing(labeler, 300, 100, 200);
	int64_t asked = harness_now_ms();
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(harness_now_ms() - asked < 20);
	run_for(1200);
	json_t *failed = log_records("kubernetes.request_failed");
	assert_true(json_array_size(failed) >= 2);
	assert_string_equal(record_string(failed, 0, "error"), "no answer within 300 ms");
	assert_true(record_integer(failed, 0, "duration_ms") >= 290);
	json_decref(failed);
	assert_false(kubernetes_labeler_settled(labeler));
	measured("largest loop gap, silent API server", max_gap_ms);
	assert_true(max_gap_ms < MAX_LOOP_GAP_MS);
	/* Freed with a request in flight (teardown): nothing leaks. */
}

static void test_refused_connection_is_retried(void **state)
{
	(void) state;
	/* A port nobody listens on: the connect fails at once. */
	int port = blackhole_start();
	close(blackhole_fd);
	blackhole_fd = -1;
	labeler = start_labeler("127.0.0.1", port, "sa-refused", NULL);

	kubernetes_labeler_set_timing(labeler, 2000, 100, 200);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	run_for(500);
	json_t *failed = log_records("kubernetes.request_failed");
	assert_true(json_array_size(failed) >= 2);
	printf("refused: %s\n", record_string(failed, 0, "error"));
	assert_non_null(strstr(record_string(failed, 0, "error"), "cannot connect"));
	json_decref(failed);
}

static void test_token_is_read_for_each_request(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	labeler = start_labeler("127.0.0.1", server->port, "sa-rotate", NULL);

	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(settle(5000));
	assert_string_equal(server->requests[0].authorization, "Bearer token-1");
	assert_non_null(harness_write_file("sa-rotate/token", "token-2"));
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(settle(5000));
	assert_string_equal(server->requests[1].authorization, "Bearer token-2");

	/* No token at all: a failure, retried. */
	assert_int_equal(unlink(harness_path("sa-rotate/token")), 0);
	kubernetes_labeler_set_timing(labeler, 2000, 100, 200);
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	run_for(300);
	assert_int_equal(server->count, 2);
	json_t *failed = log_records("kubernetes.request_failed");
	assert_true(json_array_size(failed) >= 1);
	assert_non_null(strstr(record_string(failed, 0, "error"), "cannot read the token"));
	json_decref(failed);
	assert_non_null(harness_write_file("sa-rotate/token", "token-3"));
	assert_true(settle(3000));
	assert_string_equal(server->requests[2].authorization, "Bearer token-3");
}

static void test_ipv6_api_server(void **state)
{
	(void) state;
	struct api_server *server = server_start("::1");
	char host[64];
	labeler = start_labeler("::1", server->port, "sa-ipv6", NULL);

	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(settle(5000));
	assert_int_equal(server->count, 1);
	snprintf(host, sizeof(host), "[::1]:%d", server->port);
	assert_string_equal(server->requests[0].host, host);
	assert_string_equal(server->requests[0].body, REPLICA_BODY);
	json_t *ready = log_records("kubernetes.labeler_ready");
	snprintf(host, sizeof(host), "https://[::1]:%d", server->port);
	assert_string_equal(record_string(ready, 0, "api_server"), host);
	json_decref(ready);
}

static void test_custom_label_pod_and_namespace(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	labeler = start_labeler("127.0.0.1", server->port, "sa-custom",
				"  enabled: true\n"
				"  role_label: example.com/pg-role\n"
				"  primary_value: leader\n"
				"  replica_value: follower\n"
				"  pod_name: db-7.shard\n"
				"  namespace: other-ns\n");

	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(settle(5000));
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_REPLICA);
	assert_true(settle(5000));
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_NONE);
	assert_true(settle(5000));
	assert_int_equal(server->count, 3);
	assert_string_equal(server->requests[0].path, "/api/v1/namespaces/other-ns/pods/db-7.shard");
	assert_string_equal(server->requests[0].body,
			    "{\"metadata\":{\"labels\":{\"example.com/pg-role\":\"leader\"}}}");
	assert_string_equal(server->requests[1].body,
			    "{\"metadata\":{\"labels\":{\"example.com/pg-role\":\"follower\"}}}");
	assert_string_equal(server->requests[2].body,
			    "{\"metadata\":{\"labels\":{\"example.com/pg-role\":null}}}");
}

static void test_pod_name_defaults_to_the_host_name(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	struct pod_environment e;
	char host_name[256] = "", expected[512];
	const char *dir = service_account("sa-hostname", "token-1", cluster_ca_pem, "ns-test");
	struct pgherd_config *config = labels_config(dir, NULL);

	assert_int_equal(gethostname(host_name, sizeof(host_name)), 0);
	/* No POD_NAME: the host name, as Kubernetes sets it to the pod's name. */
	labeler = kubernetes_labeler_new(base, config, pod_environment(&e, "127.0.0.1",
									 server->port, NULL));
	config_free(config);
	if (labeler == NULL) {
		printf("host name \"%s\" is no pod name: checked it is refused\n", host_name);
		assert_int_equal(log_count("kubernetes.labeler_disabled"), 1);
		return;
	}
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(settle(5000));
	snprintf(expected, sizeof(expected), "/api/v1/namespaces/ns-test/pods/%s", host_name);
	assert_string_equal(server->requests[0].path, expected);
}

struct stop_watch {
	int calls;
	bool free_inside;
	int64_t at_ms;
};

static void on_stopped(void *arg)
{
	struct stop_watch *watch = arg;

	watch->calls++;
	watch->at_ms = harness_now_ms();
	if (watch->free_inside) {
		kubernetes_labeler_free(labeler);
		labeler = NULL;
	}
}

static bool stop_called(void *arg)
{
	return ((struct stop_watch *) arg)->calls > 0;
}

static void test_stop_removes_the_label(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	struct stop_watch watch = { 0 };
	labeler = start_labeler("127.0.0.1", server->port, "sa-stop", NULL);

	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(settle(5000));
	int64_t stopping = harness_now_ms();
	kubernetes_labeler_stop(labeler, 2000, on_stopped, &watch);
	assert_int_equal(watch.calls, 0); /* never from inside stop() */
	assert_true(run_until(stop_called, &watch, 3000));
	measured("label removed at stop", watch.at_ms - stopping);
	assert_true(kubernetes_labeler_settled(labeler));
	assert_int_equal(server->count, 2);
	expect_patch(server, 1, REMOVE_BODY);
	assert_int_equal(log_count("kubernetes.label_removed"), 1);

	/* After stop nothing more is sent, and done is not called again. */
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	kubernetes_labeler_stop(labeler, 2000, on_stopped, &watch);
	run_for(300);
	assert_int_equal(server->count, 2);
	assert_int_equal(watch.calls, 1);
	assert_int_equal(log_count("kubernetes.stop_timed_out"), 0);
}

static void test_stop_is_bounded_when_the_server_fails(void **state)
{
	(void) state;
	struct api_server *server = server_start("127.0.0.1");
	struct stop_watch watch = { .free_inside = true };
	labeler = start_labeler("127.0.0.1", server->port, "sa-stop-failing", NULL);

	/* A retry is waiting at the cap when the agent stops: stop tries at
	 * once instead of waiting 30 s. */
	server->default_status = 403;
	kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY);
	assert_true(wait_for_requests(server, 1, 5000));
	run_for(100);
	server->default_status = 500;
	int64_t stopping = harness_now_ms();
	kubernetes_labeler_stop(labeler, 1200, on_stopped, &watch);
	assert_true(run_until(stop_called, &watch, 3000));
	int64_t took = watch.at_ms - stopping;
	measured("stop gave up after", took);
	assert_true(took >= 1150 && took < 1600);
	assert_null(labeler); /* freed from inside done */
	assert_true(server->count >= 3);
	assert_string_equal(server->requests[1].body, REMOVE_BODY);
	assert_true(server->requests[1].at_ms - stopping < 200);
	assert_int_equal(log_count("kubernetes.stop_timed_out"), 1);
	run_for(200);
	assert_int_equal(watch.calls, 1);
}

static void test_stop_with_a_silent_server_gives_up_on_time(void **state)
{
	(void) state;
	struct stop_watch watch = { 0 };
	int port = blackhole_start();
	labeler = start_labeler("127.0.0.1", port, "sa-stop-silent", NULL);

	int64_t stopping = harness_now_ms();
	kubernetes_labeler_stop(labeler, 500, on_stopped, &watch);
	assert_true(run_until(stop_called, &watch, 2000));
	assert_true(watch.at_ms - stopping < 800);
	assert_true(kubernetes_labeler_settled(labeler));
	assert_true(max_gap_ms < MAX_LOOP_GAP_MS);
}

static void test_no_labeller_outside_kubernetes(void **state)
{
	(void) state;
	struct pod_environment e;
	const char *complete = service_account("sa-complete", "token-1", cluster_ca_pem, "ns-test");
	const char *no_token = service_account("sa-no-token", NULL, cluster_ca_pem, "ns-test");
	const char *no_ca = service_account("sa-no-ca", "token-1", NULL, "ns-test");
	const char *no_namespace = service_account("sa-no-namespace", "token-1", cluster_ca_pem,
						   NULL);
	const char *bad_ca = service_account("sa-bad-ca", "token-1", "not a certificate\n",
					     "ns-test");
	char complete_dir[HARNESS_PATH_MAX], no_token_dir[HARNESS_PATH_MAX],
		no_ca_dir[HARNESS_PATH_MAX], no_namespace_dir[HARNESS_PATH_MAX],
		bad_ca_dir[HARNESS_PATH_MAX];
	snprintf(complete_dir, sizeof(complete_dir), "%s", complete);
	snprintf(no_token_dir, sizeof(no_token_dir), "%s", no_token);
	snprintf(no_ca_dir, sizeof(no_ca_dir), "%s", no_ca);
	snprintf(no_namespace_dir, sizeof(no_namespace_dir), "%s", no_namespace);
	snprintf(bad_ca_dir, sizeof(bad_ca_dir), "%s", bad_ca);
	const struct {
		const char *dir;
		const char *extra;
		const char *host;
		int port;
		const char *pod;
		const char *reason;
	} cases[] = {
		{ complete_dir, "  enabled: false\n", "127.0.0.1", 443, "pg-0", "disabled" },
		{ complete_dir, "", "127.0.0.1", 443, "pg-0", "disabled" }, /* the default */
		{ complete_dir, NULL, NULL, 443, "pg-0", "not_in_kubernetes" },
		{ no_token_dir, NULL, "127.0.0.1", 443, "pg-0", "no_service_account_token" },
		{ no_ca_dir, NULL, "127.0.0.1", 443, "pg-0", "no_ca_certificate" },
		{ bad_ca_dir, NULL, "127.0.0.1", 443, "pg-0", "no_ca_certificate" },
		{ no_namespace_dir, NULL, "127.0.0.1", 443, "pg-0", "no_namespace" },
		{ complete_dir, NULL, "kubernetes.default.svc", 443, "pg-0",
		  "bad_api_server_address" },
		{ complete_dir, NULL, "127.0.0.1", 0, "pg-0", NULL }, /* no port: 443 */
		{ complete_dir, NULL, "127.0.0.1", 443, "Pg_0", "bad_pod_name" },
	};

	for (size_t i = 0; i < ARRAY_LENGTH(cases); i++) {
		struct pgherd_config *config = labels_config(cases[i].dir, cases[i].extra);
		size_t before = log_count("kubernetes.labeler_disabled");
		struct kubernetes_labeler *l = kubernetes_labeler_new(
			base, config, pod_environment(&e, cases[i].host, cases[i].port, cases[i].pod));
		config_free(config);
		if (cases[i].reason == NULL) {
			assert_non_null(l);
			kubernetes_labeler_free(l);
			continue;
		}
		if (l != NULL)
			fail_msg("case %zu: a labeller, expected %s", i, cases[i].reason);
		json_t *records = log_records("kubernetes.labeler_disabled");
		assert_int_equal(json_array_size(records), before + 1);
		const char *reason = record_string(records, before, "reason");
		if (strcmp(reason, cases[i].reason) != 0)
			fail_msg("case %zu: reason %s, expected %s", i, reason, cases[i].reason);
		json_decref(records);
	}

	/* A port that is no port. */
	struct pgherd_config *config = labels_config(complete_dir, NULL);
	char *env[] = { "KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=https", NULL };
	assert_null(kubernetes_labeler_new(base, config, env));
	/* NULL is accepted everywhere: the agent has no labeller then. */
	kubernetes_labeler_set_role(NULL, KUBERNETES_ROLE_PRIMARY);
	assert_true(kubernetes_labeler_settled(NULL));
	kubernetes_labeler_stop(NULL, 100, NULL, NULL);
	kubernetes_labeler_free(NULL);
	config_free(config);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_patch_per_role_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_while_in_flight_are_coalesced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_server_errors_are_retried_with_growing_backoff,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals_that_need_an_operator_retry_at_the_cap,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_ca_is_refused_then_a_fixed_ca_is_used,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_certificate_for_another_address_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_server_times_out_without_blocking, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_connection_is_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_is_read_for_each_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_api_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custom_label_pod_and_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pod_name_defaults_to_the_host_name, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_removes_the_label, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_is_bounded_when_the_server_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stop_with_a_silent_server_gives_up_on_time,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_labeller_outside_kubernetes, setup, teardown),
	};

	/* cmocka's summary is the last line: test/run.sh reads it. */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
