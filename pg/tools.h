/*
 * PostgreSQL's programs as pgherd runs them: command lines built from a few
 * settings, and parsers for what the programs print.  Pure functions, except
 * the passfile writer and pg_data_dir_state(), which touch the file system.
 * Nothing here logs: builders return NULL, parsers and writers return false
 * with a reason, and the caller logs once.
 *
 * No password ever goes on a command line (commands are logged, and argv is
 * visible in ps): initdb reads the superuser's password from --pwfile, and
 * the other tools find theirs through PGPASSFILE.  The builders refuse a
 * conninfo that carries one.
 */
#ifndef PGHERD_PG_TOOLS_H
#define PGHERD_PG_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- Command lines ---------------------------------------------------------- */

struct pg_parameter {
	const char *name;		/* a GUC name: letters, digits, '_', '.' */
	const char *value;
};

/* Borrowed strings; the builders copy what they use. */
struct pg_settings {
	const char *bin_dir;		/* "/usr/lib/postgresql/15/bin" */
	const char *data_dir;
	int port;			/* postmaster: -p unless 0 */
	const char *socket_dir;		/* postmaster: -k unless NULL */
	const char *listen_addresses;	/* postmaster: -c listen_addresses= unless NULL */
	/*
	 * Node-specific settings, passed to the postmaster as -c name=value:
	 * pg_rewind and pg_basebackup copy postgresql.conf from the source,
	 * and the command line wins over any file.
	 */
	const struct pg_parameter *parameters;
	size_t parameter_count;
};

/*
 * Every builder returns a NULL-terminated argv (argv[0] = bin_dir/program)
 * for pg_process_start(), freed with pg_argv_free().  NULL when a required
 * setting is missing or invalid (named below) or memory ran out.  bin_dir
 * and data_dir are always required.
 */
void pg_argv_free(char **argv);

struct pg_initdb_options {
	const char *superuser;		/* -U; NULL: "postgres" */
	const char *pwfile;		/* superuser's password, first line of this file */
	const char *auth_local;		/* NULL: "trust" */
	const char *auth_host;		/* NULL: "scram-sha-256" */
};

/*
 * initdb -D DATA --data-checksums -U USER [--pwfile=FILE]
 *        --auth-local=METHOD --auth-host=METHOD -E UTF8 --locale=C
 *
 * Checksums let pg_rewind work (wal_log_hints would too, but can be turned
 * off later); UTF8 and the C locale make the cluster independent of the
 * agent's environment, and the same on every member.  Local trust is safe
 * only because pgherd's socket directory is private to the postgres user,
 * and pg/conf.c rewrites pg_hba.conf before the first start anyway.  A
 * password method (md5, scram-sha-256, password) needs pwfile: NULL
 * otherwise.
 */
char **pg_initdb_argv(const struct pg_settings *settings, const struct pg_initdb_options *options);

/*
 * postgres -D DATA [-p PORT] [-k SOCKDIR] [-c listen_addresses=...]
 *          [-c name=value]...
 *
 * The postmaster itself, not pg_ctl start: the agent is its parent, learns
 * of its death from SIGCHLD at once, and no shell is involved.  NULL if a
 * parameter has an invalid name or a NULL value.
 */
char **pg_postmaster_argv(const struct pg_settings *settings);

enum pg_stop_mode {
	PG_STOP_SMART,
	PG_STOP_FAST,
	PG_STOP_IMMEDIATE,
};

const char *pg_stop_mode_name(enum pg_stop_mode mode);

/* pg_ctl stop -D DATA -m MODE -w -t SECONDS  (timeout_s > 0) */
char **pg_ctl_stop_argv(const struct pg_settings *settings, enum pg_stop_mode mode, int timeout_s);

/* pg_ctl promote -D DATA -w -t SECONDS  (timeout_s > 0).  Reload needs no
 * tool: SIGHUP to the postmaster (pg_process_signal). */
char **pg_ctl_promote_argv(const struct pg_settings *settings, int timeout_s);

struct pg_basebackup_options {
	const char *source_conninfo;	/* required, without a password */
	const char *slot;		/* an existing slot on the source, or NULL */
};

/*
 * pg_basebackup -D DATA -X stream -c fast -d CONNINFO [--slot=NAME] -w -v
 *
 * The leader creates replication slots, so there is no -C; no -R either:
 * the agent writes the standby settings itself.  -w: never prompt (the
 * password comes from PGPASSFILE); -v: progress messages for the log.
 * NULL if the conninfo has a password or does not parse, or the slot name
 * is not a valid slot name.
 */
char **pg_basebackup_argv(const struct pg_settings *settings,
			  const struct pg_basebackup_options *options);

struct pg_rewind_options {
	const char *source_conninfo;	/* required, without a password */
	bool restore_target_wal;	/* fetch missing WAL with restore_command */
};

/* pg_rewind --target-pgdata=DATA --source-server=CONNINFO --progress
 *           [--restore-target-wal] */
char **pg_rewind_argv(const struct pg_settings *settings, const struct pg_rewind_options *options);

/*
 * pg_controldata -D DATA.  Run it with LC_ALL=C in the child's environment
 * (PG_TOOLS_C_LOCALE): the parser reads the English labels, and the
 * program prints translated ones under another locale.
 */
char **pg_controldata_argv(const struct pg_settings *settings);
#define PG_TOOLS_C_LOCALE "LC_ALL=C"

/* postgres --version (data_dir not needed) */
char **pg_version_argv(const struct pg_settings *settings);

/* --- Conninfo ------------------------------------------------------------------ */

struct pg_conninfo_param {
	const char *key;		/* lower case letters and '_' */
	const char *value;		/* NULL: the pair is left out */
};

/*
 * "key=value key=value" as libpq reads it: a value is single-quoted when it
 * is empty or holds white space, a quote or a backslash, and ' and \ are
 * backslash-escaped inside.  False (and buf set to "") on a "password" key,
 * an invalid key, or when it does not fit.
 *
 *   pg_conninfo_build(buf, sizeof(buf), "host", "/run/pg", "port", "5432",
 *                     "user", "replicator", (const char *) NULL);
 */
bool pg_conninfo_build(char *buf, size_t size, ...) __attribute__((sentinel));
bool pg_conninfo_build_params(char *buf, size_t size, const struct pg_conninfo_param *params,
			      size_t count);

/* True if conninfo (key=value or URI) parses and names no password. */
bool pg_conninfo_is_safe(const char *conninfo);

/* --- LSN ---------------------------------------------------------------------- */

#define PG_LSN_BUFSIZE 18		/* "FFFFFFFF/FFFFFFFF" */

/* "0/3000028" -> 0x3000028: 1 to 8 hex digits on each side of '/', nothing
 * else. */
bool pg_lsn_parse(const char *text, uint64_t *lsn);
/* As PostgreSQL prints it ("%X/%X"); returns buf. */
const char *pg_lsn_format(uint64_t lsn, char buf[PG_LSN_BUFSIZE]);

/* --- pg_controldata ---------------------------------------------------------- */

enum pg_cluster_state {
	PG_CLUSTER_UNKNOWN = 0,		/* a state this parser does not know */
	PG_CLUSTER_STARTING_UP,
	PG_CLUSTER_SHUT_DOWN,
	PG_CLUSTER_SHUT_DOWN_IN_RECOVERY,
	PG_CLUSTER_SHUTTING_DOWN,
	PG_CLUSTER_IN_CRASH_RECOVERY,
	PG_CLUSTER_IN_ARCHIVE_RECOVERY,
	PG_CLUSTER_IN_PRODUCTION,
};

/* pg_controldata's words: "shut down in recovery"; "unknown" for UNKNOWN. */
const char *pg_cluster_state_name(enum pg_cluster_state state);

struct pg_controldata {
	uint64_t system_identifier;		/* Database system identifier */
	enum pg_cluster_state state;		/* Database cluster state */
	uint32_t checkpoint_timeline;		/* Latest checkpoint's TimeLineID */
	uint64_t checkpoint_lsn;		/* Latest checkpoint location */
	uint64_t checkpoint_redo_lsn;		/* Latest checkpoint's REDO location */
	uint64_t min_recovery_end_lsn;		/* Minimum recovery ending location */
	uint32_t min_recovery_end_timeline;	/* Min recovery ending loc's timeline */
	uint32_t data_checksum_version;		/* 0: no checksums */
	bool wal_log_hints;			/* wal_log_hints setting */
};

/*
 * Parse pg_controldata's output (C locale).  Every field above is required;
 * a field given twice, a value that does not parse, or a WARNING line (a
 * pg_control whose CRC does not match: "the results below are
 * untrustworthy") make it false, with the reason in err.  A state it does
 * not know is PG_CLUSTER_UNKNOWN, not an error.  Other lines are ignored.
 */
bool pg_controldata_parse(const char *output, struct pg_controldata *out, char *err,
			  size_t err_size);

/* --- Version -------------------------------------------------------------------- */

/*
 * "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" -> 150020, in
 * PG_VERSION_NUM's form (9.6.24 -> 90624; "16devel", "16beta1" -> 160000).
 * Any "<program> (PostgreSQL) <version>" line works.
 */
bool pg_version_parse(const char *text, int *version_num);

/* --- Passfile ------------------------------------------------------------------ */

struct pg_passfile_entry {
	const char *host;		/* NULL or "*": any */
	const char *port;		/* NULL or "*": any */
	const char *database;		/* NULL or "*": any; "replication" for streaming */
	const char *user;		/* NULL or "*": any */
	const char *password;		/* required */
};

/* One line without the newline, ':' and '\' backslash-escaped.  False if a
 * field holds a line break (it cannot be written), the password is NULL, or
 * it does not fit. */
bool pg_passfile_format_line(const struct pg_passfile_entry *entry, char *buf, size_t size);

/*
 * Write a passfile for PGPASSFILE: PATH.tmp created with mode 0600 (never
 * readable by others, not even for a moment), written, fsynced, renamed
 * over PATH.  False with the reason in err.
 */
bool pg_passfile_write(const char *path, const struct pg_passfile_entry *entries, size_t count,
		       char *err, size_t err_size);

/* --- Data directory ------------------------------------------------------------ */

enum pg_data_dir_state {
	PG_DATA_DIR_MISSING,		/* no such path: initdb or pg_basebackup may create it */
	PG_DATA_DIR_EMPTY,		/* an empty directory: initdb and pg_basebackup accept it */
	PG_DATA_DIR_CLUSTER,		/* holds PG_VERSION */
	/* Anything else, lost+found and dot files included: initdb and
	 * pg_basebackup refuse it, and the agent must not remove it. */
	PG_DATA_DIR_OTHER,
	PG_DATA_DIR_ERROR,		/* cannot tell (permissions, not a directory): see err */
};

const char *pg_data_dir_state_name(enum pg_data_dir_state state);

/* Looks at path with stat() and readdir(): a few system calls, on the loop. */
enum pg_data_dir_state pg_data_dir_state(const char *path, char *err, size_t err_size);

#endif
