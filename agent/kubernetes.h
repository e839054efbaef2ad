/*
 * Kubernetes role labeller: when the agent runs in a pod, it keeps one label
 * on its own pod saying what this member is, so that Services can select
 * the primary and the replicas by label:
 *
 *   <release>          selector role=primary   (clients that write)
 *   <release>-replica  selector role=replica   (clients that only read)
 *
 * Each change is one JSON merge patch of the pod through the API server,
 * over TLS verified with the service account's CA, authenticated with its
 * token (re-read for every request: projected tokens rotate):
 *
 *   PATCH /api/v1/namespaces/<namespace>/pods/<pod>
 *   {"metadata":{"labels":{"role":"primary"}}}     or "role":null to remove
 *
 * Nothing here blocks the loop: the connection, the TLS handshake and the
 * answer are all events, and the API server's address is numeric (Kubernetes
 * gives an IP in KUBERNETES_SERVICE_HOST; a name is refused, as resolving it
 * would block).  The API server can never delay a failover: set_role()
 * returns at once, whatever the server does.
 *
 * Only the latest role asked for matters.  At most one request is in
 * flight; roles asked for meanwhile are coalesced, and a role the server is
 * known to have already is not sent again.  A failed request (connection or
 * TLS error, no answer within 5 s, any status but 2xx) is retried with
 * backoff: 0.5 s doubling to 30 s, back to 0.5 s after a success.  Answers
 * that need an operator to fix something (401, 403, 404, 422) retry at 30 s
 * at once, so the API server is not hammered but the label heals without a
 * restart once the RBAC role or the pod name is fixed.
 *
 * The process must ignore SIGPIPE (agent/main.c does): OpenSSL writes to
 * the socket with write(), and the API server may close it first.
 *
 * Events: kubernetes.labeler_ready or kubernetes.labeler_disabled at start,
 * kubernetes.label_set / kubernetes.label_removed per change the server
 * accepted, kubernetes.request_failed per failure (docs/events.md).
 *
 * How the agent uses it:
 *
 *   start:  after config_load_*(), kubernetes_labels_check_config() (also
 *           for --validate: a bad label is a configuration error), then
 *             labeler = kubernetes_labeler_new(base, config, environ);
 *           NULL means no labelling (disabled, or not in a pod; already
 *           logged): every call below accepts NULL and does nothing.  The
 *           server's current label is unknown at start, so the first
 *           set_role() always sends, even KUBERNETES_ROLE_NONE; calling
 *           set_role(NONE) at start, before the role is known, removes a
 *           label a crashed predecessor may have left.
 *
 *   every role change, as soon as it is decided (from the decision, not
 *   from a timer):
 *             kubernetes_labeler_set_role(labeler, KUBERNETES_ROLE_PRIMARY)
 *           when PostgreSQL has been promoted and we hold the leader lock;
 *           KUBERNETES_ROLE_REPLICA when it runs as a replica; NONE when it
 *           is not running, or a primary loses the lock or is fenced (do
 *           this first, before demoting: clients must stop being sent to it).
 *           Calling it with the current role again is free.
 *
 *   stop:   at the start of shutdown, in parallel with releasing the lock
 *           (never before it: the handover must not wait for the API server):
 *             kubernetes_labeler_stop(labeler, 2000, labels_done, agent);
 *           and leave the loop once labels_done() has run (as well as
 *           whatever else shutdown waits for), then kubernetes_labeler_free().
 *           labels_done() runs within the time given whatever the server
 *           does.  An agent that polls instead can run the loop until
 *           kubernetes_labeler_settled() or its own deadline.
 */
#ifndef PGHERD_KUBERNETES_H
#define PGHERD_KUBERNETES_H

#include <stdbool.h>

#include "agent/config.h"

struct event_base;
struct kubernetes_labeler;

enum kubernetes_role {
	KUBERNETES_ROLE_NONE = 0, /* no label: neither Service selects the pod */
	KUBERNETES_ROLE_PRIMARY,
	KUBERNETES_ROLE_REPLICA,
};

/*
 * Check the kubernetes_labels section of a loaded configuration: the label
 * name must be a Kubernetes label key ("role", "example.com/role"), the two
 * values label values that differ, pod_name a DNS subdomain and namespace a
 * DNS label, when set.  The loader's value types cannot say this, so the
 * caller runs this right after config_load_*(), whether the section is
 * enabled or not.  Appends one error per bad value to *diags, formatted like
 * the loader's ("FILE: error: kubernetes_labels.role_label: ..."; file_name
 * NULL: "configuration").  Returns true when there is none.
 */
bool kubernetes_labels_check_config(const struct pgherd_config *config, const char *file_name,
				    struct config_diagnostics *diags);

/*
 * A labeller for this pod, or NULL with a logged reason
 * (kubernetes.labeler_disabled) when kubernetes_labels.enabled is false,
 * when not running in Kubernetes (no KUBERNETES_SERVICE_HOST, or no token
 * file), or when something it needs is missing or invalid (ca.crt, the
 * namespace, a numeric API server address, the pod name).  The caller then
 * simply has no labeller.  Sends nothing yet.
 *
 * env: a NULL-terminated "KEY=VALUE" array (environ in the agent, a fixed
 * array in tests), read here only: KUBERNETES_SERVICE_HOST,
 * KUBERNETES_SERVICE_PORT (default 443) and POD_NAME (when
 * kubernetes_labels.pod_name is unset; else the host name is the pod name,
 * as Kubernetes sets it).  The configuration is copied.
 */
struct kubernetes_labeler *kubernetes_labeler_new(struct event_base *base,
						  const struct pgherd_config *config,
						  char *const *env);

/* The role the pod's label should show from now on; NONE removes the
 * label.  Returns at once; the request follows on the loop.  Ignored after
 * kubernetes_labeler_stop(). */
void kubernetes_labeler_set_role(struct kubernetes_labeler *labeler, enum kubernetes_role role);

/*
 * True when nothing is left to do: the API server has acknowledged the
 * last role asked for (or none was ever asked for), or the labeller gave up
 * at the end of kubernetes_labeler_stop()'s time.  False while a request is
 * in flight or a retry is waiting.  NULL is settled.
 */
bool kubernetes_labeler_settled(const struct kubernetes_labeler *labeler);

/*
 * Remove the label, then give up after at most timeout_ms: asks for
 * KUBERNETES_ROLE_NONE, keeps retrying within that time, and calls done(arg)
 * once, from the loop (never from inside this call), when the server
 * acknowledged the removal or the time is up.  After that the labeller sends
 * nothing more and is settled.  done may free the labeller.  NULL labeller:
 * done is not called (there is nothing to wait for).  A second stop is
 * ignored.
 */
void kubernetes_labeler_stop(struct kubernetes_labeler *labeler, int timeout_ms,
			     void (*done)(void *arg), void *arg);

/* Abandons a request in flight (the server may or may not apply it) and
 * frees everything.  Safe with NULL, and from inside done(). */
void kubernetes_labeler_free(struct kubernetes_labeler *labeler);

/*
 * For tests: shorten the request timeout (5000 ms) and the backoff
 * (500 ms doubling to 30000 ms).  Applies from the next request or retry.
 */
void kubernetes_labeler_set_timing(struct kubernetes_labeler *labeler, int request_timeout_ms,
				   int first_retry_ms, int max_retry_ms);

#endif
