/*
 * THE configuration table: one row per key.  It drives parsing (the type and
 * range of each value), defaults (default_value is parsed like file text),
 * environment overrides, the unsupported-key warnings, config_free() and
 * docs/configuration.md.
 *
 * To add a key: add a row here, a field in struct pgherd_config if it stores
 * one, then regenerate docs/configuration.md (test_config checks it is
 * current).  Rows are applied in table order, which matters twice (marked
 * "order:" below).  No two rows that own memory may share a field.
 *
 * Patroni keys pgherd does not implement are rows too (PATRONI_ONLY), so that
 * a Patroni configuration loads with a warning per unsupported key instead of
 * "unknown key" noise, and so the docs can list them.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "agent/config_internal.h"

#define FIELD(member) offsetof(struct pgherd_config, member)

/* A day: far beyond any sane timing, and small enough that milliseconds fit
 * in an int. */
#define ONE_DAY_SECONDS 86400

#define PATRONI_ONLY(key_path) { .path = (key_path), .kind = CONFIG_KEY_PATRONI_UNSUPPORTED }
#define PATRONI_ONLY_HINT(key_path, hint) \
	{ .path = (key_path), .kind = CONFIG_KEY_PATRONI_UNSUPPORTED, .description = (hint) }

/* libpq connection options Patroni accepts for each of its three users. */
#define PATRONI_USER_TLS_OPTIONS(user)                                          \
	PATRONI_ONLY("postgresql.authentication." user ".sslmode"),             \
	PATRONI_ONLY("postgresql.authentication." user ".sslkey"),              \
	PATRONI_ONLY("postgresql.authentication." user ".sslpassword"),         \
	PATRONI_ONLY("postgresql.authentication." user ".sslcert"),             \
	PATRONI_ONLY("postgresql.authentication." user ".sslrootcert"),         \
	PATRONI_ONLY("postgresql.authentication." user ".sslcrl"),              \
	PATRONI_ONLY("postgresql.authentication." user ".sslcrldir"),           \
	PATRONI_ONLY("postgresql.authentication." user ".gssencmode"),          \
	PATRONI_ONLY("postgresql.authentication." user ".channel_binding")

#define POSTGRES_USER(user, upper, what)                                                      \
	{ .path = "postgresql.authentication." #user ".username", .type = CONFIG_TYPE_STRING, \
	  .offset = FIELD(postgresql.user.username), .environment = upper "_USERNAME",        \
	  .description = "User name of the " what "." },                                      \
	{ .path = "postgresql.authentication." #user ".password", .type = CONFIG_TYPE_STRING, \
	  .offset = FIELD(postgresql.user.password), .environment = upper "_PASSWORD",        \
	  .flags = CONFIG_KEY_SECRET, .description = "Password of the " what "." }

#define KNOWN_TAG(tag, value_type, text)                                           \
	{ .path = "tags." tag, .type = (value_type), .flags = CONFIG_KEY_TAG,      \
	  .default_note = "absent", .description = (text) }

const struct config_key config_keys[] = {
	/* Top level */
	{ .path = "scope", .type = CONFIG_TYPE_NAME, .offset = FIELD(scope), .environment = "SCOPE",
	  .flags = CONFIG_KEY_REQUIRED,
	  .description = "Cluster name, the same on every member: the ZooKeeper node under "
			 "`namespace` that holds the cluster's keys." },
	{ .path = "namespace", .type = CONFIG_TYPE_STRING, .offset = FIELD(namespace),
	  .default_value = "/service", .environment = "NAMESPACE",
	  .description = "ZooKeeper path above the cluster. Normalised to one leading `/`, no "
			 "trailing `/` and no `//`; `/` means the ZooKeeper root." },
	{ .path = "name", .type = CONFIG_TYPE_NAME, .offset = FIELD(name), .environment = "NAME",
	  .flags = CONFIG_KEY_REQUIRED,
	  .description = "This member's name, unique in the cluster." },
	PATRONI_ONLY_HINT("ttl", "Patroni reads it only from the DCS: set bootstrap.dcs.ttl"),
	PATRONI_ONLY_HINT("loop_wait",
			  "Patroni reads it only from the DCS: set bootstrap.dcs.loop_wait"),
	PATRONI_ONLY_HINT("retry_timeout",
			  "Patroni reads it only from the DCS: set bootstrap.dcs.retry_timeout"),
	{ .path = "ctl.authentication.username", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(ctl.username),
	  .default_note = "`restapi.authentication.username`",
	  .description = "User pgherdctl (and patronictl) sends to the REST API." },
	{ .path = "ctl.authentication.password", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(ctl.password),
	  .default_note = "`restapi.authentication.password`",
	  .description = "Its password." },
	PATRONI_ONLY("ctl.insecure"),
	PATRONI_ONLY("ctl.cacert"),
	PATRONI_ONLY("ctl.certfile"),
	PATRONI_ONLY("ctl.keyfile"),
	PATRONI_ONLY("ctl.keyfile_password"),
	{ .path = "watchdog.mode", .type = CONFIG_TYPE_WATCHDOG_MODE, .offset = FIELD(watchdog.mode),
	  .default_value = "automatic", .environment = "WATCHDOG_MODE",
	  .description = "The watchdog process kills PostgreSQL when the leader's ZooKeeper lease "
			 "runs out and the agent has not stopped it (frozen, killed, stuck): "
			 "`automatic` uses it, `required` also never leads without it, `off` "
			 "does without. It needs no device (docs/watchdog.md)." },
	PATRONI_ONLY_HINT("watchdog.device", "pgherd's watchdog is a process and needs no device"),
	PATRONI_ONLY_HINT("watchdog.driver", "pgherd's watchdog is a process and needs no device"),
	PATRONI_ONLY_HINT("watchdog.safety_margin",
			  "pgherd's watchdog fires from the ZooKeeper lease (docs/watchdog.md)"),
	PATRONI_ONLY("citus"),
	PATRONI_ONLY_HINT("etcd", "pgherd uses ZooKeeper only"),
	PATRONI_ONLY_HINT("etcd3", "pgherd uses ZooKeeper only"),
	PATRONI_ONLY_HINT("consul", "pgherd uses ZooKeeper only"),
	PATRONI_ONLY_HINT("kubernetes", "pgherd uses ZooKeeper only"),
	PATRONI_ONLY_HINT("raft", "pgherd uses ZooKeeper only"),
	PATRONI_ONLY_HINT("exhibitor", "list the ZooKeeper servers in zookeeper.hosts"),

	/* restapi */
	{ .path = "restapi.listen", .type = CONFIG_TYPE_ADDRESS, .offset = FIELD(restapi.listen),
	  .default_value = "127.0.0.1:8008", .environment = "RESTAPI_LISTEN",
	  .description = "Address and port the REST API listens on." },
	{ .path = "restapi.connect_address", .type = CONFIG_TYPE_ADDRESS,
	  .offset = FIELD(restapi.connect_address), .default_note = "`restapi.listen`",
	  .environment = "RESTAPI_CONNECT_ADDRESS",
	  .description = "Address and port other members and clients use to reach this REST "
			 "API; published in ZooKeeper." },
	{ .path = "restapi.authentication.username", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(restapi.username), .environment = "RESTAPI_USERNAME",
	  .description = "User name for HTTP basic authentication of the REST API requests "
			 "that change state. Unset: no authentication." },
	{ .path = "restapi.authentication.password", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(restapi.password), .environment = "RESTAPI_PASSWORD",
	  .flags = CONFIG_KEY_SECRET, .description = "Password for that user." },
	PATRONI_ONLY("restapi.certfile"),
	PATRONI_ONLY("restapi.keyfile"),
	PATRONI_ONLY("restapi.keyfile_password"),
	PATRONI_ONLY("restapi.cafile"),
	PATRONI_ONLY("restapi.ciphers"),
	PATRONI_ONLY("restapi.verify_client"),
	PATRONI_ONLY("restapi.allowlist"),
	PATRONI_ONLY("restapi.allowlist_include_members"),
	PATRONI_ONLY("restapi.http_extra_headers"),
	PATRONI_ONLY("restapi.https_extra_headers"),
	PATRONI_ONLY("restapi.request_queue_size"),

	/* zookeeper */
	{ .path = "zookeeper.hosts", .type = CONFIG_TYPE_ADDRESS_LIST,
	  .offset = FIELD(zookeeper.hosts), .count_offset = FIELD(zookeeper.n_hosts),
	  .environment = "ZOOKEEPER_HOSTS", .flags = CONFIG_KEY_REQUIRED,
	  .description = "ZooKeeper servers as `host:port`: a YAML list or one comma-separated "
			 "string. In the environment also Patroni's `'h1:2181','h2:2181'` and "
			 "a YAML flow list `[h1:2181, h2:2181]`." },
	{ .path = "zookeeper.session_timeout", .type = CONFIG_TYPE_SECONDS,
	  .offset = FIELD(zookeeper.session_timeout), .maximum = ONE_DAY_SECONDS,
	  .default_note = "`bootstrap.dcs.ttl` / 3, at least 1",
	  .environment = "ZOOKEEPER_SESSION_TIMEOUT", .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "pgherd extension: the ZooKeeper session timeout to request, in "
			 "seconds (fractions allowed). The server clamps it to its "
			 "minSessionTimeout and maxSessionTimeout." },
	PATRONI_ONLY("zookeeper.use_ssl"),
	PATRONI_ONLY("zookeeper.cacert"),
	PATRONI_ONLY("zookeeper.cert"),
	PATRONI_ONLY("zookeeper.key"),
	PATRONI_ONLY("zookeeper.key_password"),
	PATRONI_ONLY("zookeeper.verify"),
	PATRONI_ONLY("zookeeper.set_acls"),
	PATRONI_ONLY("zookeeper.auth_data"),

	/* bootstrap: bootstrap.dcs is the initial dynamic configuration */
	{ .path = "bootstrap.dcs.ttl", .type = CONFIG_TYPE_INT, .offset = FIELD(dcs.ttl),
	  .minimum = 2, .maximum = ONE_DAY_SECONDS, .default_value = "30",
	  .description = "Seconds the leader lock lasts without renewal: how long the cluster "
			 "waits for a silent leader before electing another." },
	{ .path = "bootstrap.dcs.loop_wait", .type = CONFIG_TYPE_INT,
	  .offset = FIELD(dcs.loop_wait),
	  .minimum = 1, .maximum = ONE_DAY_SECONDS, .default_value = "10",
	  .description = "Seconds between runs of the HA loop." },
	{ .path = "bootstrap.dcs.retry_timeout", .type = CONFIG_TYPE_INT,
	  .offset = FIELD(dcs.retry_timeout), .minimum = 1, .maximum = ONE_DAY_SECONDS,
	  .default_value = "10",
	  .description = "Seconds to keep retrying ZooKeeper and PostgreSQL operations. Patroni's "
			 "rule `loop_wait + 2 * retry_timeout <= ttl` is checked with a warning." },
	{ .path = "bootstrap.dcs.maximum_lag_on_failover", .type = CONFIG_TYPE_INT64,
	  .offset = FIELD(dcs.maximum_lag_on_failover), .minimum = 0, .maximum = LLONG_MAX,
	  .default_value = "1048576",
	  .description = "Bytes a replica may lag behind the last known leader position and "
			 "still be promoted." },
	/* order: master_start_timeout (Patroni's name before 3.0) before
	 * primary_start_timeout, which wins when both are set, as in Patroni */
	{ .path = "bootstrap.dcs.master_start_timeout", .type = CONFIG_TYPE_INT,
	  .offset = FIELD(dcs.primary_start_timeout), .minimum = 0, .maximum = INT_MAX,
	  .default_note = "`bootstrap.dcs.primary_start_timeout`",
	  .description = "Patroni's name for `primary_start_timeout` before 3.0; "
			 "`primary_start_timeout` wins when both are set." },
	{ .path = "bootstrap.dcs.primary_start_timeout", .type = CONFIG_TYPE_INT,
	  .offset = FIELD(dcs.primary_start_timeout), .minimum = 0, .maximum = INT_MAX,
	  .default_value = "300",
	  .description = "Seconds the leader's PostgreSQL (crashed, stopped or starting) may "
			 "take to start in place before a healthy replica takes over; 0: a "
			 "replica takes over at once." },
	{ .path = "bootstrap.dcs.synchronous_mode", .type = CONFIG_TYPE_SYNCHRONOUS_MODE,
	  .offset = FIELD(dcs.synchronous_mode), .default_value = "false",
	  .description = "Synchronous replication: the leader names `synchronous_node_count` "
			 "streaming replicas in `synchronous_standby_names` and in the `sync` "
			 "znode, and only they may be promoted. Patroni 4's `quorum` is accepted "
			 "with a warning and runs as `true` (pgherd has no quorum commit)." },
	{ .path = "bootstrap.dcs.synchronous_mode_strict", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(dcs.synchronous_mode_strict), .default_value = "false",
	  .description = "With `synchronous_mode`: when no synchronous standby is left, "
			 "commits wait (`synchronous_standby_names = '*'`) instead of going "
			 "asynchronous." },
	{ .path = "bootstrap.dcs.synchronous_node_count", .type = CONFIG_TYPE_INT,
	  .offset = FIELD(dcs.synchronous_node_count), .minimum = 1, .maximum = INT_MAX,
	  .default_value = "1",
	  .description = "How many synchronous standbys the leader names in synchronous "
			 "mode." },
	{ .path = "bootstrap.dcs.pause", .type = CONFIG_TYPE_BOOL, .offset = FIELD(dcs.pause),
	  .default_value = "false",
	  .description = "Start the new cluster in maintenance mode, as `pgherdctl pause` "
			 "would: no agent starts, stops, promotes or demotes PostgreSQL (or "
			 "clones a replica) on its own until `pgherdctl resume`." },
	/* order: before postgresql.use_pg_rewind, which overrides it */
	{ .path = "bootstrap.dcs.postgresql.use_pg_rewind", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(dcs.use_pg_rewind), .default_value = "false",
	  .description = "Rewind a diverged former leader with pg_rewind instead of cloning it "
			 "again." },
	{ .path = "bootstrap.dcs.postgresql.parameters", .type = CONFIG_TYPE_OBJECT,
	  .offset = FIELD(dcs.parameters), .default_note = "empty",
	  .description = "PostgreSQL settings for every member (YAML types kept)." },
	{ .path = "bootstrap.method", .type = CONFIG_TYPE_NAME, .offset = FIELD(bootstrap.method),
	  .default_note = "`initdb`",
	  .description = "A custom bootstrap: the name of a section `bootstrap.<method>` whose "
			 "`command` creates the data directory instead of initdb; it is run as "
			 "`<command> --scope=<scope> --datadir=<data_dir>`." },
	PATRONI_ONLY("bootstrap.initdb"),
	{ .path = "bootstrap.post_bootstrap", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(bootstrap.post_bootstrap),
	  .description = "Command run once after the new cluster's first start, with a "
			 "connection string of the superuser as its argument; a non-zero exit "
			 "fails the bootstrap." },
	PATRONI_ONLY("bootstrap.post_init"),
	PATRONI_ONLY("bootstrap.users"),
	PATRONI_ONLY("bootstrap.dcs.maximum_lag_on_syncnode"),
	PATRONI_ONLY("bootstrap.dcs.max_timelines_history"),
	PATRONI_ONLY("bootstrap.dcs.primary_stop_timeout"),
	PATRONI_ONLY("bootstrap.dcs.master_stop_timeout"),
	PATRONI_ONLY("bootstrap.dcs.check_timeline"),
	PATRONI_ONLY("bootstrap.dcs.failsafe_mode"),
	PATRONI_ONLY("bootstrap.dcs.standby_cluster"),
	PATRONI_ONLY("bootstrap.dcs.slots"),
	PATRONI_ONLY("bootstrap.dcs.permanent_slots"),
	PATRONI_ONLY("bootstrap.dcs.permanent_replication_slots"),
	PATRONI_ONLY("bootstrap.dcs.ignore_slots"),
	{ .path = "bootstrap.dcs.postgresql.use_slots", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(dcs.use_slots), .default_value = "true",
	  .description = "The leader keeps a physical replication slot for every other member, "
			 "so that WAL a replica still needs is never recycled." },
	PATRONI_ONLY_HINT("bootstrap.dcs.postgresql.pg_hba", "set postgresql.pg_hba"),
	PATRONI_ONLY("bootstrap.dcs.postgresql.pg_ident"),
	PATRONI_ONLY("bootstrap.dcs.postgresql.recovery_conf"),

	/* postgresql */
	{ .path = "postgresql.listen", .type = CONFIG_TYPE_ADDRESS,
	  .offset = FIELD(postgresql.listen), .environment = "POSTGRESQL_LISTEN",
	  .description = "Addresses and port PostgreSQL listens on, `ip[,ip...]:port`." },
	{ .path = "postgresql.connect_address", .type = CONFIG_TYPE_ADDRESS,
	  .offset = FIELD(postgresql.connect_address), .environment = "POSTGRESQL_CONNECT_ADDRESS",
	  .description = "Address and port other members use to reach this PostgreSQL; "
			 "published in ZooKeeper." },
	{ .path = "postgresql.data_dir", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.data_dir), .environment = "POSTGRESQL_DATA_DIR",
	  .description = "The PostgreSQL data directory." },
	{ .path = "postgresql.bin_dir", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.bin_dir), .default_note = "programs found on `PATH`",
	  .environment = "POSTGRESQL_BIN_DIR",
	  .description = "Directory of pg_ctl, initdb, pg_basebackup, pg_rewind and postgres." },
	POSTGRES_USER(superuser, "SUPERUSER", "superuser pgherd connects as"),
	POSTGRES_USER(replication, "REPLICATION", "user replicas stream as"),
	POSTGRES_USER(rewind, "REWIND", "user pg_rewind connects as"),
	{ .path = "postgresql.parameters", .type = CONFIG_TYPE_OBJECT,
	  .offset = FIELD(postgresql.parameters), .default_note = "empty",
	  .description = "PostgreSQL settings for this member (YAML types kept)." },
	{ .path = "postgresql.pg_hba", .type = CONFIG_TYPE_STRING_LIST,
	  .offset = FIELD(postgresql.pg_hba), .count_offset = FIELD(postgresql.n_pg_hba),
	  .default_note = "empty",
	  .description = "Lines of pg_hba.conf, in order." },
	/* order: after bootstrap.dcs.postgresql.use_pg_rewind; a local value wins,
	 * as in Patroni */
	{ .path = "postgresql.use_pg_rewind", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(dcs.use_pg_rewind),
	  .default_note = "`bootstrap.dcs.postgresql.use_pg_rewind`",
	  .description = "Overrides `bootstrap.dcs.postgresql.use_pg_rewind` on this member." },
	PATRONI_ONLY("postgresql.proxy_address"),
	PATRONI_ONLY("postgresql.config_dir"),
	PATRONI_ONLY("postgresql.bin_name"),
	PATRONI_ONLY("postgresql.pgpass"),
	PATRONI_USER_TLS_OPTIONS("superuser"),
	PATRONI_USER_TLS_OPTIONS("replication"),
	PATRONI_USER_TLS_OPTIONS("rewind"),
	PATRONI_ONLY("postgresql.pg_ident"),
	PATRONI_ONLY("postgresql.custom_conf"),
	PATRONI_ONLY("postgresql.recovery_conf"),
	{ .path = "postgresql.callbacks.on_start", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.callbacks.on_start),
	  .description = "Command run after PostgreSQL started, as `<command> on_start <role> <scope>`, "
			 "without a shell; a newer callback replaces one still running." },
	{ .path = "postgresql.callbacks.on_stop", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.callbacks.on_stop),
	  .description = "Command run after PostgreSQL stopped, as `<command> on_stop <role> <scope>`, "
			 "without a shell; a newer callback replaces one still running." },
	{ .path = "postgresql.callbacks.on_restart", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.callbacks.on_restart),
	  .description = "Command run after a restart asked for through the REST API, as `<command> on_restart <role> <scope>`, "
			 "without a shell; a newer callback replaces one still running." },
	{ .path = "postgresql.callbacks.on_reload", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.callbacks.on_reload),
	  .description = "Command run after PostgreSQL reloaded its configuration, as `<command> on_reload <role> <scope>`, "
			 "without a shell; a newer callback replaces one still running." },
	{ .path = "postgresql.callbacks.on_role_change", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.callbacks.on_role_change),
	  .description = "Command run after a promotion or a demotion, as `<command> on_role_change <role> <scope>`, "
			 "without a shell; a newer callback replaces one still running." },
	{ .path = "postgresql.create_replica_methods", .type = CONFIG_TYPE_STRING_LIST,
	  .offset = FIELD(postgresql.create_replica_methods),
	  .count_offset = FIELD(postgresql.n_create_replica_methods),
	  .default_note = "`[basebackup]`",
	  .description = "How a new replica is made, in order until one works: `basebackup` "
			 "(pg_basebackup from the leader), or the name of a section "
			 "`postgresql.<method>` with a `command`, run as `<command> --scope=<scope> "
			 "--role=replica --datadir=<data_dir> --connstring=<leader>` plus its other "
			 "keys as `--key=value`; `no_leader: true` lets it run without a leader, "
			 "`keep_data: true` keeps what is in the data directory." },
	PATRONI_ONLY("postgresql.basebackup"),
	PATRONI_ONLY("postgresql.pg_ctl_timeout"),
	PATRONI_ONLY_HINT("postgresql.use_slots", "set bootstrap.dcs.postgresql.use_slots: Patroni takes it from the dynamic configuration only"),
	{ .path = "postgresql.remove_data_directory_on_rewind_failure", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(postgresql.remove_data_directory_on_rewind_failure),
	  .default_value = "false",
	  .description = "When pg_rewind fails, clone this member again from the leader. "
			 "The old data directory is moved aside, never deleted." },
	{ .path = "postgresql.remove_data_directory_on_diverged_timelines", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(postgresql.remove_data_directory_on_diverged_timelines),
	  .default_value = "false",
	  .description = "When this member's timeline diverged and pg_rewind is not allowed, "
			 "clone it again from the leader (the old data directory is moved aside)." },
	PATRONI_ONLY("postgresql.use_unix_socket"),
	PATRONI_ONLY("postgresql.use_unix_socket_repl"),
	{ .path = "postgresql.pre_promote", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.pre_promote),
	  .description = "Command run before a promotion, without a shell; a non-zero exit "
			 "cancels it: the lock is released and this member stays out of the "
			 "race for ttl seconds." },
	{ .path = "postgresql.before_stop", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(postgresql.before_stop),
	  .description = "Command run before the agent stops PostgreSQL, without a shell; "
			 "its exit status is logged, the stop goes on." },

	/* tags.  order: the map first, then the known tags, which replace their
	 * raw value in it with the validated, typed one. */
	{ .path = "tags", .type = CONFIG_TYPE_OBJECT, .offset = FIELD(tags),
	  .default_note = "empty",
	  .description = "Any map of member tags, published in ZooKeeper with their YAML types. "
			 "The known tags below are type-checked." },
	KNOWN_TAG("nofailover", CONFIG_TYPE_BOOL, "Never promote this member."),
	{ .path = "tags.failover_priority", .type = CONFIG_TYPE_INT, .flags = CONFIG_KEY_TAG,
	  .minimum = 0, .maximum = INT_MAX, .default_note = "absent (Patroni: 1)",
	  .description = "Preference among equally good candidates; higher wins, 0 never "
			 "promotes." },
	KNOWN_TAG("noloadbalance", CONFIG_TYPE_BOOL,
		  "Make the REST API's replica health checks answer 503."),
	KNOWN_TAG("clonefrom", CONFIG_TYPE_BOOL, "Offer this member as a source for new replicas."),
	KNOWN_TAG("replicatefrom", CONFIG_TYPE_NAME,
		  "Stream from this member instead of the leader."),
	KNOWN_TAG("nosync", CONFIG_TYPE_BOOL,
		  "Never choose this member as a synchronous standby.  In synchronous mode a replica "
		  "also publishes it by itself while it restarts."),
	KNOWN_TAG("nostream", CONFIG_TYPE_BOOL, "Do not stream; replay WAL from the archive only."),

	/* log */
	{ .path = "log.level", .type = CONFIG_TYPE_LOG_LEVEL, .offset = FIELD(log.level),
	  .default_value = "INFO", .environment = "LOG_LEVEL",
	  .description = "DEBUG, INFO, WARNING, ERROR or CRITICAL (case-insensitive; CRITICAL "
			 "logs as ERROR)." },
	/* order: log.type before log.format, so that pgherd's own name wins
	 * when both choose a format */
	{ .path = "log.type", .type = CONFIG_TYPE_LOG_FORMAT, .offset = FIELD(log.format),
	  .default_value = "plain", .environment = "LOG_TYPE",
	  .description = "Patroni's name for the log format: `plain` or `json`." },
	{ .path = "log.format", .type = CONFIG_TYPE_LOG_FORMAT, .offset = FIELD(log.format),
	  .default_note = "`log.type`", .environment = "LOG_FORMAT",
	  .description = "`plain` (one `key=value` line per event) or `json` (one object per "
			 "line). A Patroni format string such as `%(asctime)s %(message)s` is "
			 "ignored with a warning." },
	PATRONI_ONLY("log.traceback_level"),
	PATRONI_ONLY("log.dateformat"),
	PATRONI_ONLY("log.static_fields"),
	PATRONI_ONLY("log.max_queue_size"),
	PATRONI_ONLY("log.dir"),
	PATRONI_ONLY("log.file_num"),
	PATRONI_ONLY("log.file_size"),
	PATRONI_ONLY("log.loggers"),

	/* kubernetes_labels: pgherd's own section, read by agent/kubernetes.c.
	 * Patroni's `kubernetes` (its Kubernetes DCS) stays unsupported above.
	 * Label syntax is checked by kubernetes_labels_check_config(). */
	{ .path = "kubernetes_labels.enabled", .type = CONFIG_TYPE_BOOL,
	  .offset = FIELD(kubernetes_labels.enabled), .default_value = "false",
	  .environment = "KUBERNETES_LABELS_ENABLED", .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "pgherd extension: label this member's pod with its role through the "
			 "Kubernetes API server on every role change, and remove the label when "
			 "the agent stops, so that one Service can select the primary and another "
			 "the replicas. Takes effect only in a pod: with `KUBERNETES_SERVICE_HOST` "
			 "set and a service account token; otherwise it logs why and does "
			 "nothing. The service account needs `patch` on `pods`." },
	{ .path = "kubernetes_labels.role_label", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(kubernetes_labels.role_label), .default_value = "role",
	  .environment = "KUBERNETES_LABELS_ROLE_LABEL",
	  .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "Name of the label: a Kubernetes label key such as `role` or "
			 "`example.com/role`." },
	{ .path = "kubernetes_labels.primary_value", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(kubernetes_labels.primary_value), .default_value = "primary",
	  .environment = "KUBERNETES_LABELS_PRIMARY_VALUE",
	  .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "Label value of the primary (a Kubernetes label value)." },
	{ .path = "kubernetes_labels.replica_value", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(kubernetes_labels.replica_value), .default_value = "replica",
	  .environment = "KUBERNETES_LABELS_REPLICA_VALUE",
	  .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "Label value of a running replica; must differ from `primary_value`. "
			 "A member whose PostgreSQL does not run has no label." },
	{ .path = "kubernetes_labels.pod_name", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(kubernetes_labels.pod_name),
	  .default_note = "`POD_NAME` from the environment, else the host name",
	  .environment = "KUBERNETES_LABELS_POD_NAME", .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "Name of this member's pod (a DNS subdomain)." },
	{ .path = "kubernetes_labels.namespace", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(kubernetes_labels.namespace),
	  .default_note = "the `namespace` file of `service_account_dir`",
	  .environment = "KUBERNETES_LABELS_NAMESPACE", .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "Kubernetes namespace of the pod (a DNS label)." },
	{ .path = "kubernetes_labels.service_account_dir", .type = CONFIG_TYPE_STRING,
	  .offset = FIELD(kubernetes_labels.service_account_dir),
	  .default_value = "/var/run/secrets/kubernetes.io/serviceaccount",
	  .environment = "KUBERNETES_LABELS_SERVICE_ACCOUNT_DIR",
	  .flags = CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY,
	  .description = "Directory of the service account's `token` (re-read for every "
			 "request), `ca.crt` (verifies the API server) and `namespace`." },
};

const size_t config_key_count = sizeof(config_keys) / sizeof(config_keys[0]);

const struct config_key *config_key_find(const char *path)
{
	for (size_t i = 0; i < config_key_count; i++) {
		if (strcmp(config_keys[i].path, path) == 0)
			return &config_keys[i];
	}
	return NULL;
}

bool config_key_is_section(const char *path)
{
	size_t length = strlen(path);

	for (size_t i = 0; i < config_key_count; i++) {
		const char *row_path = config_keys[i].path;
		if (strncmp(row_path, path, length) == 0 && row_path[length] == '.')
			return true;
	}
	return false;
}

const char *config_value_type_name(enum config_value_type type)
{
	switch (type) {
	case CONFIG_TYPE_STRING: return "string";
	case CONFIG_TYPE_NAME: return "string without `/`";
	case CONFIG_TYPE_ADDRESS: return "host:port";
	case CONFIG_TYPE_ADDRESS_LIST: return "list of host:port";
	case CONFIG_TYPE_STRING_LIST: return "list of strings";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: return "integer";
	case CONFIG_TYPE_SECONDS: return "seconds";
	case CONFIG_TYPE_BOOL: return "boolean";
	case CONFIG_TYPE_OBJECT: return "map";
	case CONFIG_TYPE_LOG_LEVEL: return "log level";
	case CONFIG_TYPE_LOG_FORMAT: return "plain or json";
	case CONFIG_TYPE_WATCHDOG_MODE: return "off, automatic or required";
	case CONFIG_TYPE_SYNCHRONOUS_MODE: return "boolean or `quorum`";
	}
	return "?";
}
