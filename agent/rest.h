/*
 * The REST API on libevent's evhttp (Patroni's, reference section 3): health
 * checks for load balancers, status for operators and pgherdctl, metrics for
 * Prometheus, and the write endpoints (config, switchover, restart,
 * reinitialize, reload).  Parsing and the answers' content live in
 * rest_request.c and rest_view.c; this module is the server and carries the
 * write requests out through the agent.
 */
#ifndef PGHERD_AGENT_REST_H
#define PGHERD_AGENT_REST_H

struct agent;
struct event_base;
struct rest_server;

/* Listen on restapi.listen.  NULL (logged as rest.listen_failed) when it
 * cannot: the address is taken, say. */
struct rest_server *rest_server_new(struct event_base *base, struct agent *agent);
/* Requests still waiting (a switchover in progress) are answered 503. */
void rest_server_free(struct rest_server *server);

#endif
