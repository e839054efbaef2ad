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
 *
 * The last tests run the real thing: three pgherd agents with ZooKeeper and
 * PostgreSQL (test/scenario/cluster.h), each labelling its own pod through
 * the same kind of server, run as a process of its own (see "agents" below):
 * one PATCH per role change through bootstrap, node loss, a rejoin and a
 * stop, and a failover as fast with a failing API server as without.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
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
#include "test/scenario/agents.h"
#include "test/scenario/cluster.h"
#include "test/scenario/http_client.h"

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

/* ---- agents: real pgherd agents, ZooKeeper and PostgreSQL ------------------
 *
 * The agents label their pods through a stand-in API server that runs as a
 * process of its own (this binary again, with --api-server: see
 * api_server_process()), because while a test waits (cluster_start_with(),
 * harness_sleep_ms()) nothing would drive a server on this process's loop.
 * The harness starts it like any other child, so it is stopped by its pid
 * at the end of the test whatever happens, and it dies with this process.
 * It appends one JSON line per request to <dir>/requests.jsonl (when, pod,
 * the label value the body asks for, the status it answered) and answers
 * as <dir>/status says ("STATUS DELAY_MS"; 200 at once when absent), read
 * for every request, so that a test can make it fail, or slow, and recover.
 *
 * The agents find it through the environment they inherit, as in a pod:
 * KUBERNETES_SERVICE_HOST/PORT, and PGHERD_KUBERNETES_LABELS_ENABLED and
 * PGHERD_KUBERNETES_LABELS_SERVICE_ACCOUNT_DIR; each member's configuration
 * names its own pod, pod-node<N>. */

#define AGENT_NAMESPACE "ns-test"
#define AGENT_TOKEN "token-agents"
/* A role change is labelled as soon as it is decided: well within this. */
#define LABEL_WAIT_MS 10000

static const char *const pod_yaml[CLUSTER_MEMBERS] = {
	"kubernetes_labels:\n  pod_name: pod-node1\n",
	"kubernetes_labels:\n  pod_name: pod-node2\n",
	"kubernetes_labels:\n  pod_name: pod-node3\n",
};

static const char *const agent_environment[] = {
	"PGHERD_KUBERNETES_LABELS_ENABLED",
	"PGHERD_KUBERNETES_LABELS_SERVICE_ACCOUNT_DIR",
	"KUBERNETES_SERVICE_HOST",
	"KUBERNETES_SERVICE_PORT",
};

/* -- the server process (runs in the child) -- */

static int process_requests_fd = -1;
static char process_status_path[PATH_MAX];
static struct event_base *process_base;

struct delayed_answer {
	struct evhttp_request *req;
	int status;
};

static void process_status(int *status, int *delay_ms)
{
	FILE *file = fopen(process_status_path, "re");

	*status = 200;
	*delay_ms = 0;
	if (file != NULL) {
		if (fscanf(file, "%d %d", status, delay_ms) < 1)
			*status = 200;
		fclose(file);
	}
}

/* evhttp keeps a request that is not answered yet even when its client
 * goes away (it frees it at the reply then). */
static void answer_later(evutil_socket_t fd, short what, void *arg)
{
	struct delayed_answer *delayed = arg;

	(void) fd;
	(void) what;
	answer(delayed->req, delayed->status);
	free(delayed);
}

static void process_handle(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
	struct evbuffer *input = evhttp_request_get_input_buffer(req);
	const char *uri = evhttp_request_get_uri(req);
	const char *pods = strstr(uri, "/pods/");
	const char *authorization = evhttp_find_header(headers, "Authorization");
	const char *content_type = evhttp_find_header(headers, "Content-Type");
	char body[FIELD_MAX] = "";
	size_t length = evbuffer_get_length(input);
	int status, delay_ms;

	(void) arg;
	process_status(&status, &delay_ms);
	if (length >= sizeof(body))
		length = sizeof(body) - 1;
	evbuffer_copyout(input, body, length);
	body[length] = '\0';
	/* The label value the merge patch asks for: a string, or JSON null to
	 * remove the label; "(missing)" when the body has no such key. */
	json_t *patch = json_loads(body, 0, NULL);
	json_t *value = json_object_get(json_object_get(json_object_get(patch, "metadata"),
							"labels"),
					"role");
	json_t *record = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:i}", "at_ms",
				   (json_int_t) harness_now_ms(), "method",
				   method_name(evhttp_request_get_command(req)), "path", uri, "pod",
				   pods != NULL ? pods + strlen("/pods/") : "", "authorization",
				   authorization ? authorization : "", "content_type",
				   content_type ? content_type : "", "body", body, "value",
				   value != NULL ? json_incref(value) : json_string("(missing)"),
				   "status", status);
	char *line = record ? json_dumps(record, JSON_COMPACT) : NULL;
	if (line != NULL) {
		/* One write per line (O_APPEND): a reader sees whole lines. */
		size_t line_length = strlen(line);
		char *text = malloc(line_length + 2);
		if (text != NULL) {
			memcpy(text, line, line_length);
			text[line_length] = '\n';
			if (write(process_requests_fd, text, line_length + 1) !=
			    (ssize_t) (line_length + 1))
				fprintf(stderr, "api-server: cannot record a request: %s\n",
					strerror(errno));
			free(text);
		}
		free(line);
	}
	json_decref(record);
	json_decref(patch);
	/* Recorded before answering: an agent that got its answer has been
	 * recorded. */
	struct delayed_answer *delayed = delay_ms > 0 ? malloc(sizeof(*delayed)) : NULL;
	struct timeval delay = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	if (delayed != NULL) {
		*delayed = (struct delayed_answer){ req, status };
		if (event_base_once(process_base, -1, EV_TIMEOUT, answer_later, delayed, &delay) == 0)
			return;
		free(delayed);
	}
	answer(req, status);
}

/* main() of the child: serve HTTPS on 127.0.0.1 (a port of the kernel's
 * choosing, written to <dir>/port) until killed. */
static int api_server_process(const char *pki, const char *dir)
{
	char path[PATH_MAX], temporary[PATH_MAX];
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	SSL_CTX *tls;
	FILE *file;

	signal(SIGPIPE, SIG_IGN);
	snprintf(process_status_path, sizeof(process_status_path), "%s/status", dir);
	snprintf(path, sizeof(path), "%s/requests.jsonl", dir);
	process_requests_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	process_base = event_base_new();
	tls = SSL_CTX_new(TLS_server_method());
	if (process_requests_fd < 0 || process_base == NULL || tls == NULL) {
		fprintf(stderr, "api-server: cannot start (%s)\n", strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/server.crt", pki);
	snprintf(temporary, sizeof(temporary), "%s/server.key", pki);
	if (SSL_CTX_use_certificate_chain_file(tls, path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(tls, temporary, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "api-server: cannot load %s and its key\n", path);
		return 1;
	}
	http = evhttp_new(process_base);
	if (http == NULL)
		return 1;
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						 EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
	evhttp_set_bevcb(http, server_connection, tls);
	evhttp_set_gencb(http, process_handle, NULL);
	bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
	if (bound == NULL) {
		fprintf(stderr, "api-server: cannot listen on 127.0.0.1\n");
		return 1;
	}
	/* Written whole, then renamed: the test never reads half a port. */
	snprintf(temporary, sizeof(temporary), "%s/port.tmp", dir);
	snprintf(path, sizeof(path), "%s/port", dir);
	file = fopen(temporary, "we");
	if (file == NULL || fprintf(file, "%d\n", bound_port(evhttp_bound_socket_get_fd(bound))) < 0 ||
	    fclose(file) != 0 || rename(temporary, path) != 0) {
		fprintf(stderr, "api-server: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	event_base_dispatch(process_base);
	return 0;
}

/* -- the test's side -- */

struct api_process {
	pid_t pid;
	int port;
	char dir[HARNESS_PATH_MAX];
	char relative_dir[64];
};

static struct api_process api;

static bool file_exists(void *arg)
{
	return access(arg, R_OK) == 0;
}

/* What the server answers from now on, after delay_ms: 200, or a
 * failure. */
static void api_set_answer(int status, int delay_ms)
{
	char relpath[96], text[32], from[HARNESS_PATH_MAX], to[HARNESS_PATH_MAX + 16];

	snprintf(relpath, sizeof(relpath), "%s/status.tmp", api.relative_dir);
	snprintf(text, sizeof(text), "%d %d\n", status, delay_ms);
	assert_non_null(harness_write_file(relpath, text));
	snprintf(from, sizeof(from), "%s", harness_path(relpath));
	snprintf(to, sizeof(to), "%s/status", api.dir);
	/* Atomic: a request never reads an empty status file. */
	assert_int_equal(rename(from, to), 0);
}

/* Start the server process and put the agents' pod environment in ours,
 * which the agents inherit. */
static void api_start(const char *name)
{
	char exe[PATH_MAX], port_path[HARNESS_PATH_MAX + 16], log[HARNESS_PATH_MAX + 16],
		text[32];
	ssize_t length = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *dir = harness_mkdir(name);

	assert_true(length > 0);
	exe[length] = '\0';
	assert_non_null(dir);
	memset(&api, 0, sizeof(api));
	snprintf(api.dir, sizeof(api.dir), "%s", dir);
	snprintf(api.relative_dir, sizeof(api.relative_dir), "%s", name);
	api_set_answer(200, 0);
	snprintf(port_path, sizeof(port_path), "%s/port", api.dir);
	snprintf(log, sizeof(log), "%s/server.log", api.dir);
	char *argv[] = { exe, "--api-server", pki_dir, api.dir, NULL };
	api.pid = harness_spawn("api-server", argv, NULL, log, false);
	assert_true(api.pid > 0);
	if (!harness_wait_until(file_exists, port_path, 10000)) {
		harness_log_print_tail(log, 20);
		fail_msg("the API server process did not start");
	}
	FILE *file = fopen(port_path, "re");
	assert_non_null(file);
	assert_non_null(fgets(text, sizeof(text), file));
	fclose(file);
	api.port = atoi(text); /* NOLINT: a number we wrote */
	assert_true(api.port > 0);

	/* Readable by the agents (postgres): harness_write_file gives them
	 * the files. */
	const char *account = service_account("sa-agents", AGENT_TOKEN "\n", cluster_ca_pem,
					      AGENT_NAMESPACE "\n");
	snprintf(text, sizeof(text), "%d", api.port);
	assert_int_equal(setenv("PGHERD_KUBERNETES_LABELS_ENABLED", "true", 1), 0);
	assert_int_equal(setenv("PGHERD_KUBERNETES_LABELS_SERVICE_ACCOUNT_DIR", account, 1), 0);
	assert_int_equal(setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1), 0);
	assert_int_equal(setenv("KUBERNETES_SERVICE_PORT", text, 1), 0);
}

static const char *pod_of(int member)
{
	static char names[CLUSTER_MEMBERS][32];

	snprintf(names[member], sizeof(names[member]), "pod-node%d", member + 1);
	return names[member];
}

/* The requests the server recorded so far, in order; only pod's (NULL: all).
 * A new array. */
static json_t *api_requests(const char *pod)
{
	char path[HARNESS_PATH_MAX + 32];
	json_t *records = json_array();
	char *line = NULL;
	size_t size = 0;
	ssize_t length;

	assert_non_null(records);
	snprintf(path, sizeof(path), "%s/requests.jsonl", api.dir);
	FILE *file = fopen(path, "re");
	if (file == NULL)
		return records; /* nothing yet */
	while ((length = getline(&line, &size, file)) > 0) {
		if (line[length - 1] != '\n')
			break; /* being written */
		json_t *record = json_loads(line, 0, NULL);
		if (record == NULL)
			fail_msg("the API server recorded a line that is not JSON: %s", line);
		const char *name = json_string_value(json_object_get(record, "pod"));
		if (pod == NULL || (name != NULL && strcmp(name, pod) == 0))
			json_array_append(records, record);
		json_decref(record);
	}
	free(line);
	fclose(file);
	return records;
}

static size_t api_count(const char *pod)
{
	json_t *records = api_requests(pod);
	size_t count = json_array_size(records);

	json_decref(records);
	return count;
}

/* "primary", "replica" or "null" (the label removed). */
static const char *label_value(json_t *records, size_t index)
{
	json_t *value = json_object_get(json_array_get(records, index), "value");

	if (json_is_null(value))
		return "null";
	return json_is_string(value) ? json_string_value(value) : "?";
}

static long long record_status(json_t *records, size_t index)
{
	return json_integer_value(json_object_get(json_array_get(records, index), "status"));
}

static int64_t record_at_ms(json_t *records, size_t index)
{
	return (int64_t) json_integer_value(json_object_get(json_array_get(records, index), "at_ms"));
}

/* The values pod's PATCHes asked for from request `from` on, as
 * "null,replica,primary". */
static const char *label_sequence(const char *pod, size_t from)
{
	static char text[1024];
	json_t *records = api_requests(pod);

	text[0] = '\0';
	for (size_t i = from; i < json_array_size(records); i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s",
			 i > from ? "," : "", label_value(records, i));
	json_decref(records);
	return text;
}

struct label_wait {
	const char *pod;
	const char *value;
};

/* The pod's last PATCH asked for value, and the server accepted it. */
static bool pod_has_label(void *arg)
{
	const struct label_wait *wait = arg;
	json_t *records = api_requests(wait->pod);
	size_t count = json_array_size(records);
	bool done = count > 0 && strcmp(label_value(records, count - 1), wait->value) == 0 &&
		    record_status(records, count - 1) >= 200 && record_status(records, count - 1) <= 299;

	json_decref(records);
	return done;
}

static void wait_label(const char *pod, const char *value, int timeout_ms)
{
	struct label_wait wait = { pod, value };

	if (!harness_wait_until(pod_has_label, &wait, timeout_ms))
		fail_msg("%s should be labelled %s within %d ms; its PATCHes: %s", pod, value,
			 timeout_ms, label_sequence(pod, 0));
}

/* Every PATCH of pod is the labeller's: its pod, token and content type;
 * the accepted ones never repeat the value before them. */
static void check_pod_requests(const char *pod)
{
	json_t *records = api_requests(pod);
	char path[128];
	const char *previous = NULL;

	snprintf(path, sizeof(path), "/api/v1/namespaces/" AGENT_NAMESPACE "/pods/%s", pod);
	for (size_t i = 0; i < json_array_size(records); i++) {
		json_t *r = json_array_get(records, i);
		assert_string_equal(json_string_value(json_object_get(r, "method")), "PATCH");
		assert_string_equal(json_string_value(json_object_get(r, "path")), path);
		assert_string_equal(json_string_value(json_object_get(r, "authorization")),
				    "Bearer " AGENT_TOKEN);
		assert_string_equal(json_string_value(json_object_get(r, "content_type")),
				    "application/merge-patch+json");
		const char *value = label_value(records, i);
		if (strcmp(value, "primary") != 0 && strcmp(value, "replica") != 0 &&
		    strcmp(value, "null") != 0)
			fail_msg("%s: request %zu asks for no role: %s", pod, i,
				 json_string_value(json_object_get(r, "body")));
		if (record_status(records, i) < 200 || record_status(records, i) > 299)
			continue;
		if (previous != NULL && strcmp(previous, value) == 0)
			fail_msg("%s: the same label sent twice in a row (%s): %s", pod, value,
				 label_sequence(pod, 0));
		previous = value;
	}
	json_decref(records);
}

static void expect_sequence(const char *pod, size_t from, const char *expected)
{
	const char *sequence = label_sequence(pod, from);

	if (strcmp(sequence, expected) != 0)
		fail_msg("%s: PATCHes %s, expected %s", pod, sequence, expected);
}

/* Bootstrap ends with the primary's pod labelled primary and the others
 * replica, each after removing whatever label a predecessor left. */
static void expect_bootstrap_labels(int primary)
{
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		wait_label(pod_of(i), i == primary ? "primary" : "replica", LABEL_WAIT_MS);
	/* Nothing more follows once the cluster runs. */
	harness_sleep_ms(500);
	for (int i = 0; i < CLUSTER_MEMBERS; i++) {
		printf("     %s (node%d): %s\n", pod_of(i), i + 1, label_sequence(pod_of(i), 0));
		expect_sequence(pod_of(i), 0, i == primary ? "null,primary" : "null,replica");
		check_pod_requests(pod_of(i));
	}
	assert_int_equal(api_count(NULL), 2 * CLUSTER_MEMBERS);
}

/* kill -9 of the primary's agent and postmaster, as a lost node. */
static int64_t lose_node(struct cluster *c, int member)
{
	pid_t postmaster = cluster_postmaster_pid(c, member);

	assert_true(postmaster > 0);
	int64_t killed_at = harness_now_ms();
	assert_int_equal(harness_kill(c->agent[member].pid), 9);
	assert_int_equal(kill(postmaster, SIGKILL), 0);
	c->agent[member].pid = 0;
	return killed_at;
}

static int agents_setup(void **state)
{
	memset(&api, 0, sizeof(api));
	return harness_test_setup(state);
}

/* The environment first: later tests start no agents of a pod.  The
 * harness then stops the agents, ZooKeeper and the server by their pids. */
static int agents_teardown(void **state)
{
	for (size_t i = 0; i < ARRAY_LENGTH(agent_environment); i++)
		unsetenv(agent_environment[i]);
	return harness_test_teardown(state);
}

static void test_agents_label_their_pods_through_failover_and_stop(void **state)
{
	(void) state;
	struct cluster c;
	int64_t elapsed_ms;
	size_t before[CLUSTER_MEMBERS];

	api_start("api-roles");
	int primary = cluster_start_with(&c, "k8sroles", pod_yaml);
	expect_bootstrap_labels(primary);

	/* Node loss: the new primary's pod gets exactly one more PATCH, to
	 * primary; the dead node's pod gets none (nobody is left to send it). */
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		before[i] = api_count(pod_of(i));
	int64_t killed_at = lose_node(&c, primary);
	int next = cluster_wait_writable(&c, primary, killed_at, &elapsed_ms);
	assert_true(next >= 0 && next != primary);
	measured("failover (node loss, API server up)", elapsed_ms);
	wait_label(pod_of(next), "primary", LABEL_WAIT_MS);
	json_t *records = api_requests(pod_of(next));
	measured("new primary's pod labelled primary after the kill",
		 record_at_ms(records, json_array_size(records) - 1) - killed_at);
	json_decref(records);
	harness_sleep_ms(1000);
	int other = 3 - primary - next;
	/* label_sequence() returns one static buffer: one call per printf. */
	printf("     after the failover: %s %s\n", pod_of(next), label_sequence(pod_of(next), 0));
	printf("     after the failover: %s %s\n", pod_of(other), label_sequence(pod_of(other), 0));
	expect_sequence(pod_of(next), before[next], "primary");
	assert_int_equal(api_count(pod_of(primary)), before[primary]);
	/* The remaining replica follows the new primary: if its label changes
	 * at all, it ends as replica, without repeats. */
	wait_label(pod_of(other), "replica", LABEL_WAIT_MS);
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		check_pod_requests(pod_of(i));

	/* The lost node comes back: the primary label it left on its pod goes
	 * at once, and it is labelled replica once it streams again, never
	 * primary. */
	before[primary] = api_count(pod_of(primary));
	int64_t restarted_at = harness_now_ms();
	assert_true(test_agent_restart(&c.agent[primary]));
	wait_label(pod_of(primary), "replica", 30000);
	records = api_requests(pod_of(primary));
	measured("stale primary label removed after the restart",
		 record_at_ms(records, before[primary]) - restarted_at);
	printf("     the old primary rejoined: %s %s\n", pod_of(primary),
	       label_sequence(pod_of(primary), before[primary]));
	/* (A rejoin that restarts PostgreSQL, for pg_rewind say, is a role
	 * change of its own: more than null,replica is allowed, a repeat or
	 * primary is not.) */
	assert_string_equal(label_value(records, before[primary]), "null");
	for (size_t i = before[primary]; i < json_array_size(records); i++)
		if (strcmp(label_value(records, i), "primary") == 0)
			fail_msg("the rejoining former primary labelled its pod primary: %s",
				 label_sequence(pod_of(primary), 0));
	json_decref(records);
	check_pod_requests(pod_of(primary));

	/* SIGTERM to the primary's agent, with an API server that takes
	 * 300 ms to answer (longer than PostgreSQL's fast shutdown here): the
	 * label goes, the agent waits for the answer before it exits, and the
	 * other members take over without waiting for the API server. */
	const int slow_ms = 300;
	api_set_answer(200, slow_ms);
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		before[i] = api_count(pod_of(i));
	size_t from_line = test_agent_lines(&c.agent[next]);
	int64_t stopped_at = harness_now_ms();
	assert_true(harness_signal(c.agent[next].pid, SIGTERM));
	while (harness_is_running(c.agent[next].pid) && harness_now_ms() - stopped_at < 15000)
		harness_sleep_ms(5);
	int64_t exited_at = harness_now_ms();
	/* Read at once: the removal was recorded before the agent exited. */
	records = api_requests(pod_of(next));
	assert_int_equal(json_array_size(records), before[next] + 1);
	assert_string_equal(label_value(records, before[next]), "null");
	assert_int_equal(record_status(records, before[next]), 200);
	int64_t removed_at = record_at_ms(records, before[next]);
	json_decref(records);
	measured("label removal asked after SIGTERM", removed_at - stopped_at);
	measured("agent exited after SIGTERM (removal answered in 300 ms)",
		 exited_at - stopped_at);
	assert_true(removed_at + slow_ms <= exited_at);
	int status = harness_stop(c.agent[next].pid, 1000);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	c.agent[next].pid = 0;
	/* In the agent's own words: it released the leader lock without
	 * waiting for the API server, the API server acknowledged the removal,
	 * then the agent stopped. */
	json_t *removed = NULL;
	size_t released_line = 0, removed_line = 0, stopped_line = 0;
	assert_true(harness_log_wait(c.agent[next].log_path, "leader.released", NULL, NULL,
				     from_line, 1000, NULL, &released_line));
	assert_true(harness_log_wait(c.agent[next].log_path, "kubernetes.label_removed", NULL, NULL,
				     from_line, 1000, &removed, &removed_line));
	assert_string_equal(json_string_value(json_object_get(removed, "pod")), pod_of(next));
	json_decref(removed);
	assert_true(harness_log_wait(c.agent[next].log_path, "agent.stopped", NULL, NULL, from_line,
				     1000, NULL, &stopped_line));
	assert_true(released_line < removed_line);
	assert_true(removed_line < stopped_line);
	assert_int_equal(test_agent_count(&c.agent[next], "kubernetes.stop_timed_out"), 0);

	/* The handover: one of the two others becomes primary, one PATCH. */
	int last = cluster_wait_writable(&c, next, stopped_at, &elapsed_ms);
	assert_true(last >= 0 && last != next);
	measured("writes resumed after SIGTERM to the primary", elapsed_ms);
	if (elapsed_ms > 2000)
		fail_msg("writes resumed %lld ms after SIGTERM; expected within 2 s",
			 (long long) elapsed_ms);
	api_set_answer(200, 0);
	wait_label(pod_of(last), "primary", LABEL_WAIT_MS);
	harness_sleep_ms(500);
	expect_sequence(pod_of(last), before[last], "primary");
	assert_int_equal(api_count(pod_of(next)), before[next] + 1);
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		check_pod_requests(pod_of(i));
}

static void test_failing_api_server_does_not_delay_failover(void **state)
{
	(void) state;
	struct cluster c;
	int64_t failover_ms;
	size_t before[CLUSTER_MEMBERS];
	const int64_t limit_ms = (int64_t) (CLUSTER_SESSION_TIMEOUT_S * 1000) + 1000;

	api_start("api-failing");
	int primary = cluster_start_with(&c, "k8sfailing", pod_yaml);
	expect_bootstrap_labels(primary);

	/* From now on every PATCH is refused with 500. */
	api_set_answer(500, 0);
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		before[i] = api_count(pod_of(i));
	int64_t killed_at = lose_node(&c, primary);
	int next = cluster_wait_writable(&c, primary, killed_at, &failover_ms);
	assert_true(next >= 0 && next != primary);
	measured("failover (node loss, API server failing)", failover_ms);
	if (failover_ms > limit_ms)
		fail_msg("failover took %lld ms with a failing API server; expected within the "
			 "session timeout plus 1 s (%lld ms)",
			 (long long) failover_ms, (long long) limit_ms);

	/* The new primary keeps asking, 0.5 s, 1 s, 2 s apart; meanwhile its
	 * loop is never held up: its REST API answers the health check a load
	 * balancer would send at once, every time. */
	const size_t attempts = 4;
	int64_t waited = harness_now_ms(), slowest_ms = 0;
	int probes = 0, primary_answers = 0;
	while (api_count(pod_of(next)) < before[next] + attempts &&
	       harness_now_ms() - waited < 10000) {
		struct http_answer answer;
		int64_t asked = harness_now_ms();
		int code = http_request(c.agent[next].api_port, "GET", "/primary", NULL, NULL, 3000,
					&answer);
		http_answer_clear(&answer);
		int64_t took = harness_now_ms() - asked;
		slowest_ms = took > slowest_ms ? took : slowest_ms;
		probes++;
		primary_answers += code == 200;
		harness_sleep_ms(20);
	}
	measured("slowest REST answer of the new primary while retrying", slowest_ms);
	printf("     %d health checks, %d said primary\n", probes, primary_answers);
	assert_true(primary_answers > 0);
	if (slowest_ms >= 500)
		fail_msg("the new primary's REST API took %lld ms to answer while its labeller "
			 "retried: the loop was held up",
			 (long long) slowest_ms);
	json_t *records = api_requests(pod_of(next));
	if (json_array_size(records) < before[next] + attempts)
		fail_msg("%s: %zu attempts after the failover, expected %zu: %s", pod_of(next),
			 json_array_size(records) - before[next], attempts,
			 label_sequence(pod_of(next), 0));
	measured("first primary PATCH after the kill", record_at_ms(records, before[next]) - killed_at);
	int64_t previous_gap = 0;
	for (size_t i = before[next]; i < before[next] + attempts; i++) {
		assert_string_equal(label_value(records, i), "primary");
		assert_int_equal(record_status(records, i), 500);
		if (i == before[next])
			continue;
		int64_t gap = record_at_ms(records, i) - record_at_ms(records, i - 1);
		char what[64];
		snprintf(what, sizeof(what), "retry %zu after", i - before[next]);
		measured(what, gap);
		if (gap < 400 || gap < previous_gap * 3 / 2)
			fail_msg("retries should come with growing gaps; gap %lld ms after %lld ms",
				 (long long) gap, (long long) previous_gap);
		previous_gap = gap;
	}
	json_decref(records);
	/* The agent says why. */
	assert_true(harness_log_wait(c.agent[next].log_path, "kubernetes.request_failed", "status",
				     "500", 0, 1000, NULL, NULL));

	/* The server recovers: the labels converge at the next retry. */
	int64_t recovered_at = harness_now_ms();
	api_set_answer(200, 0);
	wait_label(pod_of(next), "primary", 20000);
	measured("primary label set after the API server recovered",
		 harness_now_ms() - recovered_at);
	int other = 3 - primary - next;
	wait_label(pod_of(other), "replica", 20000);
	printf("     %s %s\n", pod_of(next), label_sequence(pod_of(next), 0));
	printf("     %s %s\n", pod_of(other), label_sequence(pod_of(other), 0));
	for (int i = 0; i < CLUSTER_MEMBERS; i++)
		check_pod_requests(pod_of(i));
	/* Converged: nothing more is sent. */
	size_t converged = api_count(NULL);
	harness_sleep_ms(1000);
	assert_int_equal(api_count(NULL), converged);
}

int main(int argc, char **argv)
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
		cmocka_unit_test_setup_teardown(test_agents_label_their_pods_through_failover_and_stop,
						agents_setup, agents_teardown),
		cmocka_unit_test_setup_teardown(test_failing_api_server_does_not_delay_failover,
						agents_setup, agents_teardown),
	};

	/* The stand-in API server of the agent tests: this binary again. */
	if (argc == 4 && strcmp(argv[1], "--api-server") == 0)
		return api_server_process(argv[2], argv[3]);
	/* PGHERD_TEST_FILTER=test_agents* runs the matching tests only. */
	if (getenv("PGHERD_TEST_FILTER"))
		cmocka_set_test_filter(getenv("PGHERD_TEST_FILTER"));
	/* Sanitizer reports of the agents (a leak at exit, say) fail the run. */
	test_sanitizer_setup();
	/* cmocka's summary is the last line: test/run.sh reads it. */
	int failures = cmocka_run_group_tests(tests, group_setup, group_teardown);
	return failures + test_sanitizer_reports();
}
