/*
 * PostgreSQL's configuration files as pgherd writes them.
 *
 * The agent owns postgresql.conf, pg_hba.conf and standby.signal in the data
 * directory and rewrites them before every start, as Patroni does:
 * pg_basebackup and pg_rewind copy the source's files, so node-specific
 * settings (port, sockets, primary_conninfo) must be written again on each
 * node anyway.  Re-pointing a standby is a rewrite plus a reload.
 *
 * Files are written to a temporary name, fsynced and renamed, so PostgreSQL
 * never reads half a file.
 */
#ifndef PGHERD_PG_CONF_H
#define PGHERD_PG_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define PG_CONF_ERR_MAX 256

struct pg_conf_settings {
	const char *data_dir;
	const char *listen_addresses;	/* "127.0.0.1" or "a,b" */
	int port;
	const char *socket_dir;		/* unix_socket_directories */
	const char *cluster_name;	/* the scope, as Patroni sets it */
	/* Parameters in increasing precedence: the cluster's (config or
	 * bootstrap.dcs), then the member's own; the settings HA needs win over
	 * both.  JSON objects of scalars; may be NULL. */
	const json_t *cluster_parameters;
	const json_t *local_parameters;
	/* Standby settings: NULL primary_conninfo writes none. */
	const char *primary_conninfo;
	const char *primary_slot_name;
	/* Synchronous mode's standbys (agent/sync.h): when not NULL it wins
	 * over any synchronous_standby_names in the parameters. */
	const char *synchronous_standby_names;
	/* pg_hba.conf: pgherd's own lines come first, then these. */
	const char *const *hba_lines;
	size_t hba_line_count;
	const char *superuser;
	const char *replication_user;
};

/* postgresql.conf.  A parameter whose value cannot be written (an object,
 * an array, a name with characters PostgreSQL rejects) is an error naming
 * it; nothing is written then. */
bool pg_conf_write_postgresql(const struct pg_conf_settings *settings, char *err, size_t err_size);
bool pg_conf_write_hba(const struct pg_conf_settings *settings, char *err, size_t err_size);
/* Create (standby) or remove (primary) standby.signal. */
bool pg_conf_set_standby(const char *data_dir, bool standby, char *err, size_t err_size);

/* One parameter value in postgresql.conf syntax: true -> on, numbers as
 * they are, strings single-quoted with ' doubled.  False for objects and
 * arrays.  Exposed for tests. */
bool pg_conf_format_value(const json_t *value, char *buf, size_t size);

/* Write a whole file atomically with the given mode: tmp, fsync, rename,
 * fsync the directory. */
bool pg_conf_write_file(const char *path, const char *content, int mode, char *err,
			size_t err_size);

#endif
