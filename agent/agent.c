/*
 * Agent glue between the event loop, dcs/ and the HA policy.
 */
#include "agent/agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/ha.h"
#include "agent/log.h"
#include "agent/version.h"
#include "dcs/dcs.h"

struct agent {
	struct event_base *base;
	struct pgherd_config *config;
	struct dcs *dcs;
	struct member_status status;	/* what members/<name> says about us */
};

static struct ha_self self_of(const struct agent *a)
{
	return (struct ha_self){ .name = a->config->name, .status = &a->status };
}

static bool on_may_take_lock(void *arg, const struct dcs_cluster *cluster)
{
	struct agent *a = arg;
	struct ha_self self = self_of(a);
	return ha_may_take_lock(cluster, &self);
}

static void on_leadership_changed(void *arg, bool leader)
{
	/* The PostgreSQL lifecycle promotes and demotes here; until then the
	 * dcs layer's leader.* events are the whole story. */
	(void) arg;
	(void) leader;
}

static void on_cluster_changed(void *arg)
{
	struct agent *a = arg;
	const struct dcs_cluster *cluster = dcs_cluster(a->dcs);
	log_debug("cluster.changed", LF_STR("leader", cluster->leader ? cluster->leader : ""),
		  LF_INT("members", (long long) cluster->member_count),
		  LF_BOOL("connected", cluster->connected));
}

static bool build_status(struct agent *a)
{
	char url[512];
	const char *pg_address = a->config->postgresql.connect_address
					 ? a->config->postgresql.connect_address
					 : (a->config->postgresql.listen ? a->config->postgresql.listen
									 : "127.0.0.1:5432");
	bool ok = true;

	snprintf(url, sizeof(url), "postgres://%s/postgres", pg_address);
	ok &= znode_set_string(&a->status.conn_url, url);
	snprintf(url, sizeof(url), "http://%s/patroni", a->config->restapi.connect_address);
	ok &= znode_set_string(&a->status.api_url, url);
	/* PostgreSQL is not managed yet: report it as Patroni does for a member
	 * that has not started it. */
	ok &= znode_set_string(&a->status.state, "stopped");
	ok &= znode_set_string(&a->status.role, "uninitialized");
	ok &= znode_set_string(&a->status.version, PGHERD_VERSION);
	a->status.tags = json_incref(a->config->tags);
	return ok;
}

static void publish_status(struct agent *a)
{
	char err[ZNODE_ERR_MAX];
	char *json = member_status_encode(&a->status, err, sizeof(err));

	if (!json) {
		log_error("agent.member_encode_failed", LF_STR("reason", err));
		return;
	}
	dcs_set_member_data(a->dcs, json);
	free(json);
}

struct agent *agent_new(struct event_base *base, struct pgherd_config *config)
{
	static const struct dcs_callbacks callbacks = {
		.cluster_changed = on_cluster_changed,
		.leadership_changed = on_leadership_changed,
		.may_take_lock = on_may_take_lock,
	};
	struct agent *a = calloc(1, sizeof(*a));
	struct dcs_settings settings;

	if (!a) {
		config_free(config);
		return NULL;
	}
	a->base = base;
	a->config = config;
	if (!build_status(a)) {
		log_error("agent.out_of_memory", LF_STR("context", "member status"));
		agent_free(a);
		return NULL;
	}
	settings = (struct dcs_settings){
		.connect_string = config->zookeeper.connect_string,
		.namespace = config->namespace,
		.scope = config->scope,
		.member = config->name,
		.session_timeout_ms = config_session_timeout_ms(config),
	};
	a->dcs = dcs_new(base, &settings, &callbacks, a);
	if (!a->dcs) {
		agent_free(a);
		return NULL;
	}
	publish_status(a);
	struct ha_self self = self_of(a);
	bool candidate = ha_wants_candidacy(&self);
	if (!candidate)
		log_info("election.not_candidate", LF_STR("reason", "nofailover"));
	dcs_set_candidate(a->dcs, candidate);
	return a;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	dcs_free(a->dcs);
	member_status_clear(&a->status);
	config_free(a->config);
	free(a);
}
