/*
 * What pgherdctl's commands share: exit codes, the context built from the
 * global options (configuration file, DCS URL), option parsing, and the
 * commands themselves.
 *
 * Each command is one function in a cmd_*.c file: it parses its options
 * with ctl_getopt(), loads the context with ctl_load() only if it needs
 * the cluster, and returns one of the exit codes below after printing what
 * went wrong on stderr.
 */
#ifndef PGHERD_CTL_CTL_H
#define PGHERD_CTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "ctl/cluster_view.h"

/* Documented in `pgherdctl --help` and docs/pgherdctl.md: scripts rely on
 * them, so they never change meaning. */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,       /* anything else: an editor failed, a local file... */
	CTL_EXIT_BAD_CONFIG = 2,   /* the configuration file cannot be used (as pgherd) */
	CTL_EXIT_NOT_FOUND = 3,    /* no such cluster, or no such member in it */
	CTL_EXIT_REFUSED = 4,      /* the cluster said no: an agent's 4xx/5xx, a CAS conflict */
	CTL_EXIT_UNREACHABLE = 5,  /* ZooKeeper or an agent cannot be reached */
	CTL_EXIT_ABORTED = 6,      /* the operator said no, or gave no answer */
	CTL_EXIT_USAGE = 64,       /* bad arguments (EX_USAGE, as pgherd) */
};

struct zk_blocking;

struct ctl {
	/* Global options (or their environment variables). */
	const char *config_file;
	const char *dcs_url;
	/* Set by ctl_load(). */
	bool loaded;
	char *scope; /* the configuration's scope, NULL when it has none */
	char *namespace;
	char *zk_hosts;
	char *rest_username; /* restapi.authentication */
	char *rest_password;
	/* The ZooKeeper session, opened on first use (ctl/dcs_client.c). */
	struct zk_blocking *zk;
};

/* The configuration file and the DCS URL, once.  An exit code: OK, or
 * BAD_CONFIG / USAGE after saying why. */
int ctl_load(struct ctl *ctl);
void ctl_free(struct ctl *ctl);

/* The cluster a command acts on: arg if given, else the configuration's
 * scope; USAGE with a message when there is neither or the name cannot be
 * a znode. */
int ctl_cluster_name(struct ctl *ctl, const char *command, const char *arg, const char **name);

/*
 * zookeeper://host:port[,host:port...]/namespace (the scheme may be left
 * out; port 2181 by default): hosts as "h1:2181,h2:2181" and the namespace
 * ("/service/" gives "/service", none gives NULL).  malloc'd.  False with
 * a reason in err.
 */
bool ctl_parse_dcs_url(const char *url, char **hosts, char **namespace, char *err,
		       size_t err_size);

/* ---- option parsing ---------------------------------------------------- */

/* The global options, accepted before the command and among its own. */
#define CTL_GLOBAL_SHORT "c:d:k"
#define CTL_GLOBAL_LONG                                                          \
	{ "config-file", required_argument, NULL, 'c' },                        \
	{ "dcs-url", required_argument, NULL, 'd' },                            \
	{ "dcs", required_argument, NULL, 'd' },                                \
	{ "insecure", no_argument, NULL, 'k' }

/*
 * getopt_long() over a command's argv (argv[0] is the command name) with
 * the global options handled here.  Returns the next option of the
 * command's own, -1 at the end (positional arguments from optind on), or
 * '?' after printing what is wrong (return CTL_EXIT_USAGE then).  The
 * first call of a command starts over (optind = 0).
 */
int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *short_options,
	       const struct option *long_options);

/* "pgherdctl <command>: <message>" and a pointer to --help; returns
 * CTL_EXIT_USAGE. */
int ctl_usage_error(const char *command, const char *format, ...)
	__attribute__((format(printf, 2, 3)));

/* Parse a whole number for an option; false (after a usage message) when
 * it is not one within [minimum, maximum]. */
bool ctl_parse_int(const char *command, const char *option, const char *text, long minimum,
		   long maximum, long *out);

/* Print the view's warnings (malformed znodes) on stderr. */
void ctl_print_warnings(const struct cluster_view *view);

/* ---- commands (cmd_*.c) ------------------------------------------------ */

int cmd_list(struct ctl *ctl, int argc, char **argv);
int cmd_topology(struct ctl *ctl, int argc, char **argv);
int cmd_history(struct ctl *ctl, int argc, char **argv);
int cmd_dsn(struct ctl *ctl, int argc, char **argv);
int cmd_show_config(struct ctl *ctl, int argc, char **argv);
int cmd_edit_config(struct ctl *ctl, int argc, char **argv);
int cmd_remove(struct ctl *ctl, int argc, char **argv);
int cmd_switchover(struct ctl *ctl, int argc, char **argv);
int cmd_failover(struct ctl *ctl, int argc, char **argv);
int cmd_restart(struct ctl *ctl, int argc, char **argv);
int cmd_reinit(struct ctl *ctl, int argc, char **argv);
int cmd_reload(struct ctl *ctl, int argc, char **argv);
int cmd_flush(struct ctl *ctl, int argc, char **argv);
int cmd_pause(struct ctl *ctl, int argc, char **argv);
int cmd_resume(struct ctl *ctl, int argc, char **argv);
int cmd_version(struct ctl *ctl, int argc, char **argv);

#endif /* PGHERD_CTL_CTL_H */
