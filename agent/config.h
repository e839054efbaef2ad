/*
 * Configuration: Patroni's YAML (ZooKeeper mode) plus environment overrides.
 *
 * Precedence is defaults < file < environment.  Every key pgherd knows is one
 * row of the table in agent/config_keys.c, which drives parsing, defaults,
 * validation, config_free() and the generated docs/configuration.md.
 *
 * Loading never logs: problems come back as diagnostics with file, line, key
 * and reason, and the caller prints them with config_diagnostic_format().
 * Errors make the load fail; warnings (unsupported or unknown keys, Patroni's
 * timing rule) never do.
 */
#ifndef PGHERD_CONFIG_H
#define PGHERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "agent/log.h"

/* Strings are NULL when the key is unset and has no default. */
struct config_auth {
	char *username;
	char *password;
};

enum watchdog_mode {
	WATCHDOG_MODE_AUTOMATIC = 0,	/* use it; lead without it if it cannot start */
	WATCHDOG_MODE_OFF,
	WATCHDOG_MODE_REQUIRED,		/* never lead without it */
};

/* bootstrap.dcs.synchronous_mode: a boolean, or Patroni 4's "quorum". */
enum synchronous_mode {
	SYNCHRONOUS_MODE_OFF = 0,
	SYNCHRONOUS_MODE_ON,
	SYNCHRONOUS_MODE_QUORUM,	/* runs as ON: pgherd has no quorum commit */
};

struct pgherd_config {
	char *scope;     /* required; never contains '/' */
	char *namespace; /* default "/service"; normalised: leading '/', no trailing '/', no "//";
			    "/" becomes "" (the ZooKeeper root) */
	char *name;      /* required; never contains '/' */
	struct {
		char *username;        /* ctl.authentication: pgherdctl's REST credentials */
		char *password;
	} ctl;
	struct {
		char *listen;          /* host:port, default "127.0.0.1:8008" */
		char *connect_address; /* host:port, defaults to listen */
		char *username;        /* restapi.authentication.username */
		char *password;        /* restapi.authentication.password */
	} restapi;
	struct {
		char **hosts; /* each "host:port" with port 1-65535; at least one */
		size_t n_hosts;
		char *connect_string;   /* hosts joined with ',': "h1:2181,h2:2181" */
		double session_timeout; /* seconds; 0 = unset, see config_session_timeout_ms() */
	} zookeeper;
	struct {
		/* bootstrap.dcs: the initial dynamic configuration. */
		int ttl;                          /* default 30, >= 2 */
		int loop_wait;                    /* default 10, >= 1 */
		int retry_timeout;                /* default 10, >= 1 */
		long long maximum_lag_on_failover; /* bytes, default 1048576, >= 0 */
		int primary_start_timeout;        /* seconds, default 300, >= 0; also
						     master_start_timeout */
		enum synchronous_mode synchronous_mode; /* default off */
		bool synchronous_mode_strict;     /* default false */
		int synchronous_node_count;       /* default 1, >= 1 */
		bool pause;                       /* default false */
		bool use_pg_rewind;               /* default false; overridden by
						     postgresql.use_pg_rewind */
		bool use_slots;                   /* postgresql.use_slots, default true */
		json_t *parameters;               /* object, never NULL */
	} dcs;
	struct {
		char *data_dir;
		char *bin_dir;         /* NULL: find the PostgreSQL programs on PATH */
		char *listen;          /* host:port (host may be "a,b" as in Patroni) */
		char *connect_address; /* host:port */
		struct config_auth superuser, replication, rewind;
		/* Values keep their YAML type: "on" quoted is a string, on unquoted
		 * is true (YAML 1.1, as Patroni reads it), 100 is an integer. */
		json_t *parameters; /* object, never NULL */
		/* Commands, split on blanks (no shell), NULL when unset. */
		struct {
			char *on_start, *on_stop, *on_restart, *on_reload, *on_role_change;
		} callbacks;
		char *pre_promote;
		char *before_stop;
		/* create_replica_methods in order (NULL: basebackup only); each
		 * custom one's section is in replica_methods[name] (an object
		 * with a string "command"), never NULL. */
		char **create_replica_methods;
		size_t n_create_replica_methods;
		json_t *replica_methods;
		/* Re-clone instead of waiting for an operator (data moved aside). */
		bool remove_data_directory_on_rewind_failure;
		bool remove_data_directory_on_diverged_timelines;
		char **pg_hba;      /* lines, in order */
		size_t n_pg_hba;
	} postgresql;
	/* Object, never NULL.  Arbitrary user tags with their YAML types; the
	 * known tags are validated and stored typed: nofailover, noloadbalance,
	 * clonefrom, nosync, nostream (booleans), failover_priority (integer >= 0),
	 * replicatefrom (string).  Absent tags are absent (no defaults added). */
	struct {
		char *method;         /* NULL: initdb */
		json_t *method_section; /* bootstrap.<method>, with "command"; NULL for initdb */
		char *post_bootstrap;
	} bootstrap;
	json_t *tags;
	/* watchdog: Patroni's section; pgherd's watchdog is a process
	 * (agent/watchdog.h), not a device. */
	struct {
		enum watchdog_mode mode;   /* default automatic */
	} watchdog;
	struct {
		enum log_level level;   /* default INFO */
		enum log_format format; /* default plain */
	} log;
	/* kubernetes_labels: pgherd's own section (Patroni's `kubernetes` is its
	 * Kubernetes DCS).  Checked further by kubernetes_labels_check_config()
	 * in agent/kubernetes.h. */
	struct {
		bool enabled;              /* default false */
		char *role_label;          /* default "role" */
		char *primary_value;       /* default "primary" */
		char *replica_value;       /* default "replica" */
		char *pod_name;            /* NULL: $POD_NAME, else the host name */
		char *namespace;           /* NULL: read <service_account_dir>/namespace */
		char *service_account_dir; /* default /var/run/secrets/kubernetes.io/serviceaccount */
	} kubernetes_labels;
};

enum config_severity {
	CONFIG_ERROR,
	CONFIG_WARNING,
};

struct config_diagnostic {
	enum config_severity severity;
	char *file;   /* the file name, an environment variable name, or "environment" */
	int line;     /* 1-based; 0 if none */
	char *key;    /* dotted path, e.g. "bootstrap.dcs.ttl", or "" */
	char *reason;
};

/* Zero-initialise; loads append to it; config_diagnostics_clear() frees. */
struct config_diagnostics {
	struct config_diagnostic *items;
	size_t count;
};

/*
 * Load and validate.  env is a NULL-terminated "KEY=VALUE" array (environ in
 * the agent, a fixed array in tests); NULL means no environment.  Returns true
 * when there are no errors (warnings allowed); *out is then a new config for
 * config_free(), otherwise *out is NULL.  Diagnostics are appended to *diags
 * sorted by file line, environment ones last.
 *
 * config_load_file(NULL, ...) loads from the environment alone.
 * config_load_string() treats text NULL as an empty file; file_name (NULL:
 * "<string>") is what diagnostics call it.
 */
bool config_load_file(const char *path, char *const *env, struct pgherd_config **out,
		      struct config_diagnostics *diags);
bool config_load_string(const char *text, size_t len, const char *file_name, char *const *env,
			struct pgherd_config **out, struct config_diagnostics *diags);

void config_free(struct pgherd_config *config);
void config_diagnostics_clear(struct config_diagnostics *diags);

/* True when any diagnostic in diags is an error. */
bool config_diagnostics_have_errors(const struct config_diagnostics *diags);

/* "FILE:LINE: error: KEY: REASON" (":LINE" omitted when 0, "KEY: " when
 * empty, "warning" for warnings).  malloc'd; the caller frees. */
char *config_diagnostic_format(const struct config_diagnostic *d);

/* bootstrap.dcs as the `config` znode the bootstrapping member creates,
 * compact JSON with Patroni's types: every dynamic key pgherd honours, with
 * its default when the file does not set it.  malloc'd; NULL when out of
 * memory. */
char *config_dynamic_configuration(const struct pgherd_config *config);

/* zookeeper.session_timeout * 1000 when set, else dcs.ttl * 1000 / 3; never
 * below 1000. */
int config_session_timeout_ms(const struct pgherd_config *config);
/* The same for a ttl from the dynamic configuration (`config`), which wins
 * over bootstrap.dcs.ttl once the cluster has one. */
int config_session_timeout_for_ttl_ms(const struct pgherd_config *config, long long ttl);

/* The configuration reference (docs/configuration.md), generated from the
 * key table. */
void config_describe_markdown(FILE *out);

#endif
