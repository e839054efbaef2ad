/*
 * Where pgherdctl finds its cluster: the agent's Patroni-style YAML
 * (-c, $PGHERDCTL_CONFIG_FILE, $PATRONICTL_CONFIG_FILE, or patronictl's
 * default ~/.config/patroni/patronictl.yaml when it exists), PGHERD_* /
 * PATRONI_* environment variables, and -d zookeeper://... which overrides
 * the configuration's ZooKeeper hosts and namespace.  Also the option
 * parsing every command shares.
 */
#include "ctl/ctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/config.h"
#include "ctl/dcs_client.h"
#include "ctl/util.h"
#include "dcs/znode.h"

extern char **environ;

/* Keys the agent requires that a command line can do without: a
 * patronictl.yaml often has no `name`, and -d can replace the rest. */
static const struct {
	const char *key;
	const char *placeholder; /* "VARIABLE=value" */
} optional_keys[] = {
	{ "scope", "PGHERD_SCOPE=pgherdctl-no-scope" },
	{ "name", "PGHERD_NAME=pgherdctl" },
	{ "zookeeper.hosts", "PGHERD_ZOOKEEPER_HOSTS=127.0.0.1:2181" },
};

#define OPTIONAL_KEYS (sizeof(optional_keys) / sizeof(optional_keys[0]))

static bool is_missing_key(const struct config_diagnostic *d, size_t *which)
{
	if (d->severity != CONFIG_ERROR ||
	    strncmp(d->reason, "required key is missing", 23) != 0)
		return false;
	for (size_t i = 0; i < OPTIONAL_KEYS; i++)
		if (strcmp(d->key, optional_keys[i].key) == 0) {
			*which = i;
			return true;
		}
	return false;
}

static void print_errors(const struct config_diagnostics *diags, const bool *missing)
{
	for (size_t i = 0; i < diags->count; i++) {
		size_t which;
		char *line;

		if (diags->items[i].severity != CONFIG_ERROR)
			continue;
		if (is_missing_key(&diags->items[i], &which) && missing[which])
			continue;
		line = config_diagnostic_format(&diags->items[i]);
		ctl_error("%s", line ? line : "invalid configuration");
		free(line);
	}
}

/* patronictl's default: click.get_app_dir('patroni')/patronictl.yaml. */
static char *default_config_file(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	struct stat st;
	char *path;

	if (xdg != NULL && xdg[0] != '\0')
		path = xasprintf("%s/patroni/patronictl.yaml", xdg);
	else if (home != NULL && home[0] != '\0')
		path = xasprintf("%s/.config/patroni/patronictl.yaml", home);
	else
		return NULL;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return path;
	free(path);
	return NULL;
}

/*
 * Load the configuration; a missing scope, name or zookeeper.hosts is no
 * error for pgherdctl: the load is repeated with a placeholder for each
 * (the environment comes after the file, so a placeholder only fills what
 * is absent) and missing[] says which were.
 */
static int load_config(const char *path, struct pgherd_config **out, bool *missing)
{
	struct config_diagnostics diags = { 0 };
	bool only_missing = true;
	size_t n_env = 0;
	char **env;
	bool ok;

	*out = NULL;
	ok = config_load_file(path, environ, out, &diags);
	if (ok) {
		config_diagnostics_clear(&diags);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < diags.count; i++) {
		size_t which;

		if (diags.items[i].severity != CONFIG_ERROR)
			continue;
		if (is_missing_key(&diags.items[i], &which))
			missing[which] = true;
		else
			only_missing = false;
	}
	if (!only_missing) {
		print_errors(&diags, missing);
		config_diagnostics_clear(&diags);
		return CTL_EXIT_BAD_CONFIG;
	}
	config_diagnostics_clear(&diags);

	while (environ != NULL && environ[n_env] != NULL)
		n_env++;
	env = xcalloc(n_env + OPTIONAL_KEYS + 1, sizeof(char *));
	memcpy(env, environ, n_env * sizeof(char *));
	for (size_t i = 0; i < OPTIONAL_KEYS; i++)
		if (missing[i])
			env[n_env++] = (char *) optional_keys[i].placeholder;
	ok = config_load_file(path, env, out, &diags);
	free(env);
	if (!ok) {
		print_errors(&diags, missing);
		config_diagnostics_clear(&diags);
		return CTL_EXIT_BAD_CONFIG;
	}
	config_diagnostics_clear(&diags);
	return CTL_EXIT_OK;
}

/* "/service/" and "service" give "/service"; "/" gives "". */
static char *normalised_namespace(const char *text)
{
	struct sb out = { 0 };

	for (const char *p = text; *p != '\0';) {
		if (*p == '/') {
			p++;
			continue;
		}
		sb_append_char(&out, '/');
		while (*p != '\0' && *p != '/')
			sb_append_char(&out, *p++);
	}
	return sb_steal(&out);
}

/* One "host[:port]" or "[v6][:port]" of the URL, port 2181 by default,
 * appended to hosts as host:port. */
static bool add_host(struct sb *hosts, const char *start, size_t len, char *err, size_t err_size)
{
	char *entry = xstrndup(start, len);
	char *host = entry;
	char *port_text = NULL;
	long port = 2181;
	bool ok = true;

	while (isspace((unsigned char) *host))
		host++;
	for (size_t n = strlen(host); n > 0 && isspace((unsigned char) host[n - 1]); n--)
		host[n - 1] = '\0';
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(err, err_size, "bad host '%s' in the DCS URL", host);
			ok = false;
		} else if (close[1] == ':') {
			port_text = close + 2;
			close[1] = '\0';
		}
	} else {
		char *colon = strchr(host, ':');

		if (colon != NULL) {
			*colon = '\0';
			port_text = colon + 1;
		}
	}
	if (ok && port_text != NULL) {
		port = 0;
		for (const char *p = port_text; *p != '\0' && port <= 65535; p++)
			port = isdigit((unsigned char) *p) ? port * 10 + (*p - '0') : 65536;
		if (port < 1 || port > 65535) {
			snprintf(err, err_size, "bad port '%s' in the DCS URL", port_text);
			ok = false;
		}
	}
	if (ok) {
		if (hosts->len > 0)
			sb_append_char(hosts, ',');
		sb_printf(hosts, "%s:%ld", host[0] != '\0' ? host : "localhost", port);
	}
	free(entry);
	return ok;
}

bool ctl_parse_dcs_url(const char *url, char **hosts, char **namespace, char *err,
		       size_t err_size)
{
	const char *scheme_end = strstr(url, "://");
	const char *p = url;
	struct sb list = { 0 };

	*hosts = NULL;
	*namespace = NULL;
	if (scheme_end != NULL) {
		if ((size_t) (scheme_end - url) != 9 || strncasecmp(url, "zookeeper", 9) != 0) {
			snprintf(err, err_size,
				 "unsupported DCS '%.*s': pgherdctl talks to ZooKeeper only "
				 "(zookeeper://host:port/namespace)",
				 (int) (scheme_end - url), url);
			return false;
		}
		p = scheme_end + 3;
	} else if (strncmp(url, "//", 2) == 0) {
		p = url + 2;
	}
	const char *path = strchr(p, '/');
	const char *authority_end = path ? path : p + strlen(p);
	const char *start = p;

	for (const char *q = p; q <= authority_end; q++) {
		if (q < authority_end && *q != ',')
			continue;
		if (!add_host(&list, start, (size_t) (q - start), err, err_size)) {
			sb_free(&list);
			return false;
		}
		start = q + 1;
	}
	*hosts = sb_steal(&list);
	if (path != NULL && strspn(path, "/") != strlen(path))
		*namespace = normalised_namespace(path);
	return true;
}

int ctl_load(struct ctl *ctl)
{
	struct pgherd_config *config = NULL;
	bool missing[OPTIONAL_KEYS] = { false };
	char *default_path = NULL;
	const char *path = ctl->config_file;
	const char *url = ctl->dcs_url;
	char *url_hosts = NULL;
	char *url_namespace = NULL;
	int rc;

	if (ctl->loaded)
		return CTL_EXIT_OK;
	if (path == NULL)
		path = getenv("PGHERDCTL_CONFIG_FILE");
	if (path == NULL)
		path = getenv("PATRONICTL_CONFIG_FILE");
	if (path == NULL)
		path = default_path = default_config_file();
	rc = load_config(path, &config, missing);
	free(default_path);
	if (rc != CTL_EXIT_OK)
		return rc;

	if (url == NULL)
		url = getenv("PGHERDCTL_DCS_URL");
	if (url == NULL)
		url = getenv("DCS_URL");
	if (url != NULL) {
		char err[256];

		if (!ctl_parse_dcs_url(url, &url_hosts, &url_namespace, err, sizeof(err))) {
			config_free(config);
			ctl_error("%s", err);
			return CTL_EXIT_USAGE;
		}
	}
	if (url_hosts != NULL)
		ctl->zk_hosts = url_hosts;
	else if (!missing[2])
		ctl->zk_hosts = xstrdup(config->zookeeper.connect_string);
	if (ctl->zk_hosts == NULL) {
		free(url_namespace);
		config_free(config);
		ctl_error("no ZooKeeper to ask: give -c CONFIG_FILE (with zookeeper.hosts) or "
			  "-d zookeeper://HOST:PORT/NAMESPACE");
		return CTL_EXIT_USAGE;
	}
	ctl->namespace = url_namespace ? url_namespace : xstrdup(config->namespace);
	if (!missing[0])
		ctl->scope = xstrdup(config->scope);
	/* patronictl's rule: ctl.authentication, else the agent's own. */
	if (config->ctl.username != NULL) {
		ctl->rest_username = xstrdup(config->ctl.username);
		if (config->ctl.password != NULL)
			ctl->rest_password = xstrdup(config->ctl.password);
	} else {
		if (config->restapi.username != NULL)
			ctl->rest_username = xstrdup(config->restapi.username);
		if (config->restapi.password != NULL)
			ctl->rest_password = xstrdup(config->restapi.password);
	}
	config_free(config);
	ctl->loaded = true;
	return CTL_EXIT_OK;
}

void ctl_free(struct ctl *ctl)
{
	dcs_close(ctl);
	free(ctl->scope);
	free(ctl->namespace);
	free(ctl->zk_hosts);
	free(ctl->rest_username);
	if (ctl->rest_password != NULL)
		explicit_bzero(ctl->rest_password, strlen(ctl->rest_password));
	free(ctl->rest_password);
	memset(ctl, 0, sizeof(*ctl));
}

int ctl_cluster_name(struct ctl *ctl, const char *command, const char *arg, const char **name)
{
	*name = arg != NULL ? arg : ctl->scope;
	if (*name == NULL)
		return ctl_usage_error(command, "no cluster name: give CLUSTER or a configuration "
						"file with a scope (-c)");
	if (!znode_name_is_valid(*name))
		return ctl_usage_error(command, "'%s' cannot be a cluster name", *name);
	return CTL_EXIT_OK;
}

/* ---- options -------------------------------------------------------------- */

int ctl_usage_error(const char *command, const char *format, ...)
{
	va_list arguments;
	char *text;

	va_start(arguments, format);
	text = xvasprintf(format, arguments);
	va_end(arguments);
	fflush(stdout);
	fprintf(stderr, "pgherdctl%s%s: %s\nTry 'pgherdctl%s%s --help'.\n", command ? " " : "",
		command ? command : "", text, command ? " " : "", command ? command : "");
	free(text);
	return CTL_EXIT_USAGE;
}

int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *short_options,
	       const struct option *long_options)
{
	static const char *started; /* the argv[0] being parsed */
	char *shorts;
	int c;

	if (started != argv[0]) {
		started = argv[0];
		optind = 0;
	}
	/* ':' first: a missing argument returns ':' rather than '?'. */
	shorts = xasprintf(":%s%s", short_options, CTL_GLOBAL_SHORT);
	opterr = 0;
	for (;;) {
		int index = -1;

		c = getopt_long(argc, argv, shorts, long_options, &index);
		if (c == 'c') {
			ctl->config_file = optarg;
		} else if (c == 'd') {
			ctl->dcs_url = optarg;
		} else if (c == 'k') {
			/* patronictl's --insecure: TLS is not supported, so
			 * there is nothing to relax. */
		} else if (c == '?' || c == ':') {
			const char *arg = argv[optind - 1];

			if (c == ':')
				ctl_usage_error(argv[0], "option '%s' needs a value", arg);
			else if (optopt != 0 && strncmp(arg, "--", 2) != 0)
				ctl_usage_error(argv[0], "unknown option '-%c'", optopt);
			else
				ctl_usage_error(argv[0], "unknown option '%s'", arg);
			c = '?';
			break;
		} else {
			break;
		}
	}
	free(shorts);
	return c;
}

bool ctl_parse_int(const char *command, const char *option, const char *text, long minimum,
		   long maximum, long *out)
{
	char *end = NULL;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < minimum || value > maximum) {
		ctl_usage_error(command, "%s needs a whole number from %ld to %ld, got '%s'", option,
				minimum, maximum, text);
		return false;
	}
	*out = value;
	return true;
}

void ctl_print_warnings(const struct cluster_view *view)
{
	for (size_t i = 0; i < view->n_warnings; i++) {
		char *text = printable_copy(view->warnings[i]);

		ctl_warning("%s", text);
		free(text);
	}
}
