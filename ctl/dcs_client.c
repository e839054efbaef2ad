/*
 * pgherdctl's reads and writes in ZooKeeper; see dcs_client.h.
 */
#include "ctl/dcs_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/util.h"
#include "dcs/zk_blocking.h"
#include "dcs/znode.h"

/* A command line waits a few seconds for an answer, then says so. */
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 5000
/* Long enough for --watch intervals; the server clamps it to its limits. */
#define SESSION_TIMEOUT_MS 30000

static bool rc_is_unreachable(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
	       rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZSESSIONMOVED;
}

/* The exit code for a failed call, after saying what failed. */
static int call_failed(struct ctl *ctl, const char *what, const char *path, int rc)
{
	if (rc_is_unreachable(rc)) {
		ctl_error("ZooKeeper at %s did not answer (%s %s: %s)", ctl->zk_hosts, what, path,
			  zerror(rc));
		return CTL_EXIT_UNREACHABLE;
	}
	ctl_error("ZooKeeper refused to %s %s: %s", what, path, zerror(rc));
	return rc == ZNOAUTH || rc == ZBADVERSION || rc == ZNOTEMPTY || rc == ZNODEEXISTS
		       ? CTL_EXIT_REFUSED
		       : CTL_EXIT_FAILED;
}

int dcs_open(struct ctl *ctl)
{
	int rc;

	if (ctl->zk != NULL)
		return CTL_EXIT_OK;
	/* The library logs every refused connection on stderr: pgherdctl
	 * reports the outcome itself. */
	zoo_set_debug_level(0);
	rc = zk_blocking_connect(ctl->zk_hosts, SESSION_TIMEOUT_MS, CONNECT_TIMEOUT_MS, &ctl->zk);
	if (rc == ZOK) {
		zk_blocking_set_timeout(ctl->zk, CALL_TIMEOUT_MS);
		return CTL_EXIT_OK;
	}
	if (rc == ZSYSTEMERROR && errno == EINVAL) {
		ctl_error("'%s' is not a list of ZooKeeper host:port", ctl->zk_hosts);
		return CTL_EXIT_USAGE;
	}
	if (rc == ZSYSTEMERROR)
		ctl_error("cannot start a ZooKeeper client for %s: %s", ctl->zk_hosts,
			  strerror(errno));
	else if (rc == ZOPERATIONTIMEOUT)
		ctl_error("cannot reach ZooKeeper at %s: no session within %d s", ctl->zk_hosts,
			  CONNECT_TIMEOUT_MS / 1000);
	else
		ctl_error("cannot reach ZooKeeper at %s: %s", ctl->zk_hosts, zerror(rc));
	return rc == ZAUTHFAILED ? CTL_EXIT_REFUSED : CTL_EXIT_UNREACHABLE;
}

void dcs_close(struct ctl *ctl)
{
	if (ctl->zk != NULL) {
		zk_blocking_close(ctl->zk);
		ctl->zk = NULL;
	}
}

/* Read one znode: ZOK with data, ZNONODE (vanished: skip it), or an
 * exit code through *exit_code. */
static int read_znode(struct ctl *ctl, const char *path, char **data, int *len,
		      struct Stat *stat, int *exit_code)
{
	int rc = zk_blocking_get(ctl->zk, path, data, len, stat);

	if (rc != ZOK && rc != ZNONODE)
		*exit_code = call_failed(ctl, "read", path, rc);
	return rc;
}

static bool has_child(const struct zk_blocking_children *children, const char *name)
{
	for (int i = 0; i < children->count; i++)
		if (strcmp(children->names[i], name) == 0)
			return true;
	return false;
}

static int load_members(struct ctl *ctl, struct cluster_view *view)
{
	char path[ZNODE_PATH_MAX];
	struct zk_blocking_children names;
	int exit_code = CTL_EXIT_OK;
	int rc;

	if (!znode_path(path, sizeof(path), view->base, ZNODE_MEMBERS))
		return CTL_EXIT_FAILED;
	rc = zk_blocking_children(ctl->zk, path, &names);
	if (rc == ZNONODE)
		return CTL_EXIT_OK;
	if (rc != ZOK)
		return call_failed(ctl, "list", path, rc);
	for (int i = 0; i < names.count && exit_code == CTL_EXIT_OK; i++) {
		char member_path[ZNODE_PATH_MAX];
		char *data = NULL;
		int len = 0;

		if (!znode_member_path(member_path, sizeof(member_path), view->base,
				       names.names[i])) {
			char *shown = printable_copy(names.names[i]);

			view_warn(view, "%s/%s: a member name that cannot be used ('%s'); skipped",
				  view->base, ZNODE_MEMBERS, shown);
			free(shown);
			continue;
		}
		rc = read_znode(ctl, member_path, &data, &len, NULL, &exit_code);
		/* A member whose session ended since the listing is gone. */
		if (rc == ZOK)
			view_add_member(view, names.names[i], data, len);
		free(data);
	}
	zk_blocking_children_free(&names);
	return exit_code;
}

int dcs_load_cluster(struct ctl *ctl, const char *scope, struct cluster_view *view)
{
	static const char *const keys[] = {
		ZNODE_INITIALIZE, ZNODE_LEADER, ZNODE_CONFIG, ZNODE_STATUS,  ZNODE_FAILOVER,
		ZNODE_SYNC,	  ZNODE_HISTORY, "optime",	ZNODE_MEMBERS,
	};
	char base[ZNODE_PATH_MAX];
	struct zk_blocking_children children;
	int exit_code = dcs_open(ctl);
	int rc;

	view_init(view, scope, "");
	if (exit_code != CTL_EXIT_OK)
		return exit_code;
	if (!znode_base_path(base, sizeof(base), ctl->namespace, scope)) {
		ctl_error("namespace '%s' and cluster '%s' do not make a ZooKeeper path",
			  ctl->namespace, scope);
		return CTL_EXIT_USAGE;
	}
	free(view->base);
	view->base = xstrdup(base);
	rc = zk_blocking_children(ctl->zk, base, &children);
	if (rc == ZNONODE) {
		ctl_error("cluster '%s' not found: %s does not exist in ZooKeeper at %s", scope, base,
			  ctl->zk_hosts);
		return CTL_EXIT_NOT_FOUND;
	}
	if (rc != ZOK)
		return call_failed(ctl, "list", base, rc);

	/* As Patroni: only the keys that are there are read. */
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]) && exit_code == CTL_EXIT_OK; k++) {
		char path[ZNODE_PATH_MAX];
		struct Stat stat;
		char *data = NULL;
		int len = 0;
		const char *key = keys[k];

		if (!has_child(&children, key))
			continue;
		if (strcmp(key, ZNODE_MEMBERS) == 0) {
			exit_code = load_members(ctl, view);
			continue;
		}
		if (strcmp(key, "optime") == 0)
			key = ZNODE_OPTIME_LEADER;
		if (!znode_path(path, sizeof(path), base, key))
			continue;
		rc = read_znode(ctl, path, &data, &len, &stat, &exit_code);
		if (rc == ZOK) {
			if (strcmp(key, ZNODE_INITIALIZE) == 0)
				view_set_initialize(view, data, len);
			else if (strcmp(key, ZNODE_LEADER) == 0)
				view_set_leader(view, data, len);
			else if (strcmp(key, ZNODE_CONFIG) == 0)
				view_set_config(view, data, len, stat.version);
			else if (strcmp(key, ZNODE_STATUS) == 0)
				view_set_status(view, data, len);
			else if (strcmp(key, ZNODE_FAILOVER) == 0)
				view_set_failover(view, data, len, stat.version);
			else if (strcmp(key, ZNODE_SYNC) == 0)
				view_set_sync(view, data, len);
			else if (strcmp(key, ZNODE_HISTORY) == 0)
				view_set_history(view, data, len);
			else if (strcmp(key, ZNODE_OPTIME_LEADER) == 0)
				view_set_optime_leader(view, data, len);
		}
		free(data);
	}
	zk_blocking_children_free(&children);
	view_finish(view);
	return exit_code;
}

int dcs_write_config(struct ctl *ctl, const struct cluster_view *view, const char *text)
{
	char path[ZNODE_PATH_MAX];
	int rc;

	if (!znode_path(path, sizeof(path), view->base, ZNODE_CONFIG))
		return CTL_EXIT_FAILED;
	rc = zk_blocking_set(ctl->zk, path, text, (int) strlen(text), view->config_version, NULL);
	if (rc == ZBADVERSION || rc == ZNONODE) {
		ctl_error("Config modification aborted due to concurrent changes");
		return CTL_EXIT_REFUSED;
	}
	if (rc != ZOK)
		return call_failed(ctl, "write", path, rc);
	return CTL_EXIT_OK;
}

int dcs_write_failover(struct ctl *ctl, const struct cluster_view *view, const char *text,
		       int version)
{
	char path[ZNODE_PATH_MAX];
	int rc;

	if (!znode_path(path, sizeof(path), view->base, ZNODE_FAILOVER))
		return CTL_EXIT_FAILED;
	rc = zk_blocking_set(ctl->zk, path, text, (int) strlen(text), version, NULL);
	if (rc == ZNONODE && version == -1)
		rc = zk_blocking_create(ctl->zk, path, text, (int) strlen(text),
					ZK_BLOCKING_PERSISTENT, NULL, 0);
	if (rc == ZBADVERSION) {
		ctl_error("%s changed meanwhile; nothing written", path);
		return CTL_EXIT_REFUSED;
	}
	if (rc != ZOK)
		return call_failed(ctl, "write", path, rc);
	return CTL_EXIT_OK;
}

int dcs_delete_cluster(struct ctl *ctl, const struct cluster_view *view)
{
	int rc = zk_blocking_delete_recursive(ctl->zk, view->base);

	if (rc != ZOK)
		return call_failed(ctl, "delete", view->base, rc);
	return CTL_EXIT_OK;
}

void dcs_idle(struct ctl *ctl, int ms)
{
	struct timespec start;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long elapsed = (long long) (now.tv_sec - start.tv_sec) * 1000 +
				    (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= ms)
			return;
		if (ctl->zk != NULL)
			zk_blocking_drive(&ctl->zk, 1, (int) (ms - elapsed));
		else
			nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = 50000000 }, NULL);
	}
}
