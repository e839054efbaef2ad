/*
 * show-config and edit-config: the dynamic configuration in /config,
 * shown as YAML, and changed the way patronictl changes it: written
 * directly to ZooKeeper with compare-and-set on the znode version, after a
 * unified diff and a question (unless --force).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/config_edit.h"
#include "ctl/ctl.h"
#include "ctl/dcs_client.h"
#include "ctl/prompt.h"
#include "ctl/util.h"
#include "ctl/yaml_json.h"
#include "dcs/znode.h"

/* Configurations are small; this only stops a runaway pipe. */
#define INPUT_LIMIT (16 * 1024 * 1024)

enum {
	OPT_APPLY = 1000,
	OPT_REPLACE,
	OPT_FORCE,
};

/* The cluster named by the only positional argument (or the scope). */
static int load_cluster(struct ctl *ctl, int argc, char **argv, struct cluster_view *view,
			bool *loaded)
{
	const char *name;
	int rc;

	*loaded = false;
	if (argc - optind > 1)
		return ctl_usage_error(argv[0], "unexpected argument '%s'", argv[optind + 1]);
	if ((rc = ctl_load(ctl)) != CTL_EXIT_OK)
		return rc;
	if ((rc = ctl_cluster_name(ctl, argv[0], optind < argc ? argv[optind] : NULL, &name)) !=
	    CTL_EXIT_OK)
		return rc;
	*loaded = true;
	rc = dcs_load_cluster(ctl, name, view);
	ctl_print_warnings(view);
	if (rc == CTL_EXIT_OK && !view->has_config) {
		ctl_error("The config key does not exist in the cluster %s", name);
		rc = CTL_EXIT_NOT_FOUND;
	}
	return rc;
}

int cmd_show_config(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ NULL, 0, NULL, 0 },
	};
	struct cluster_view view;
	bool loaded;
	int rc;

	if (ctl_getopt(ctl, argc, argv, "", long_options) != -1)
		return CTL_EXIT_USAGE;
	rc = load_cluster(ctl, argc, argv, &view, &loaded);
	if (rc == CTL_EXIT_OK) {
		char *text = json_to_yaml(view.config, false);

		/* patronictl's click.echo() adds a newline to the YAML's own. */
		printf("%s\n", text);
		free(text);
	}
	if (loaded)
		view_clear(&view);
	return rc;
}

/* ---- files and programs --------------------------------------------------- */

/* A whole file, or stdin for "-"; NULL after saying why. */
static char *read_input(const char *path, size_t *len)
{
	FILE *file = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
	struct sb text = { 0 };
	char buffer[8192];
	size_t n;

	if (file == NULL) {
		ctl_error("cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buffer, 1, sizeof(buffer), file)) > 0 && text.len <= INPUT_LIMIT)
		sb_append_n(&text, buffer, n);
	bool failed = ferror(file) || text.len > INPUT_LIMIT;
	if (file != stdin)
		fclose(file);
	if (failed) {
		ctl_error("cannot read %s: %s", strcmp(path, "-") == 0 ? "standard input" : path,
			  text.len > INPUT_LIMIT ? "larger than 16 MiB" : strerror(errno));
		sb_free(&text);
		return NULL;
	}
	*len = text.len;
	return sb_steal(&text);
}

/* A new file in $TMPDIR holding text; its malloc'd path, or NULL. */
static char *temp_file(const char *prefix, const char *text)
{
	const char *dir = getenv("TMPDIR");
	char *path = xasprintf("%s/%s-XXXXXX.yaml", dir && dir[0] ? dir : "/tmp", prefix);
	int fd = mkstemps(path, 5);
	size_t len = strlen(text);
	size_t done = 0;

	if (fd < 0) {
		ctl_error("cannot create a temporary file %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ctl_error("cannot write %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			free(path);
			return NULL;
		}
		done += (size_t) n;
	}
	if (close(fd) != 0) {
		ctl_error("cannot write %s: %s", path, strerror(errno));
		unlink(path);
		free(path);
		return NULL;
	}
	return path;
}

/* Run argv (no shell) with our stdin/stdout; its exit status, 127 when it
 * cannot be started, -1 when it died of a signal. */
static int run_program(char *const *argv)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		ctl_error("fork: %s", strerror(errno));
		return 127;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return -1;
}

/* An executable file named name in $PATH. */
static bool on_path(const char *name)
{
	const char *path = getenv("PATH");
	char *copy;
	bool found = false;

	if (path == NULL)
		path = "/usr/bin:/bin";
	copy = xstrdup(path);
	for (char *dir = strtok(copy, ":"); dir != NULL && !found; dir = strtok(NULL, ":")) {
		char *candidate = xasprintf("%s/%s", dir, name);
		struct stat st;

		found = stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
			access(candidate, X_OK) == 0;
		free(candidate);
	}
	free(copy);
	return found;
}

/* Show before -> after as a unified diff: diff -u where it exists, else a
 * whole-file diff of our own. */
static void show_diff(const char *before, const char *after, const char *cluster)
{
	char *before_path = temp_file(cluster, before);
	char *after_path = before_path ? temp_file(cluster, after) : NULL;
	int status = 127;

	if (after_path != NULL && on_path("diff")) {
		char *argv[] = { "diff", "-u", "--label", "before", "--label", "after",
				 before_path, after_path, NULL };

		status = run_program(argv);
	}
	/* diff: 0 same, 1 different, anything else trouble. */
	if (status != 0 && status != 1) {
		printf("--- before\n+++ after\n");
		for (const char *p = before; *p != '\0';) {
			const char *eol = strchr(p, '\n');
			size_t n = eol ? (size_t) (eol - p) : strlen(p);

			printf("-%.*s\n", (int) n, p);
			p += n + (eol ? 1 : 0);
		}
		for (const char *p = after; *p != '\0';) {
			const char *eol = strchr(p, '\n');
			size_t n = eol ? (size_t) (eol - p) : strlen(p);

			printf("+%.*s\n", (int) n, p);
			p += n + (eol ? 1 : 0);
		}
	}
	fflush(stdout);
	if (before_path != NULL)
		unlink(before_path);
	if (after_path != NULL)
		unlink(after_path);
	free(before_path);
	free(after_path);
}

/* $EDITOR (split at blanks, no shell), else editor, else vi, on a
 * temporary copy of text; the edited text, or NULL after saying why. */
static char *edit_in_editor(const char *text, const char *cluster, int *rc)
{
	const char *editor = getenv("EDITOR");
	char *prefix = xasprintf("%s-config", cluster);
	char *path = temp_file(prefix, text);
	char *command = NULL;
	char **argv = NULL;
	size_t argc = 0;
	char *edited = NULL;
	size_t len;
	int status;

	free(prefix);
	*rc = CTL_EXIT_FAILED;
	if (path == NULL)
		return NULL;
	if (editor == NULL || editor[0] == '\0')
		editor = on_path("editor") ? "editor" : on_path("vi") ? "vi" : NULL;
	if (editor == NULL) {
		ctl_error("EDITOR environment variable is not set. editor or vi are not available");
		goto done;
	}
	command = xstrdup(editor);
	for (char *word = strtok(command, " \t"); word != NULL; word = strtok(NULL, " \t")) {
		argv = xrealloc(argv, (argc + 3) * sizeof(char *));
		argv[argc++] = word;
	}
	if (argc == 0) {
		ctl_error("EDITOR is blank");
		goto done;
	}
	argv[argc++] = path;
	argv[argc] = NULL;
	status = run_program(argv);
	if (status == 127)
		ctl_error("cannot run the editor '%s'", argv[0]);
	else if (status != 0)
		ctl_error("Editor exited with return code %d", status);
	else
		edited = read_input(path, &len);
done:
	unlink(path);
	free(path);
	free(argv);
	free(command);
	return edited;
}

/* ---- edit-config ---------------------------------------------------------- */

struct edit_options {
	bool quiet;
	bool force;
	const char *apply;
	const char *replace;
	char **pairs; /* -s as given, -p as postgresql.parameters.<p> (owned) */
	size_t n_pairs;
};

static void add_pair(struct edit_options *options, char *pair)
{
	options->pairs = xrealloc(options->pairs, (options->n_pairs + 1) * sizeof(char *));
	options->pairs[options->n_pairs++] = pair;
}

/* YAML from a file merged into *changed (patronictl's apply_yaml_file). */
static int merge_file(const char *path, json_t *changed)
{
	char err[YAML_JSON_ERR_MAX];
	size_t len = 0;
	char *text = read_input(path, &len);
	json_t *patch;

	if (text == NULL)
		return CTL_EXIT_FAILED;
	patch = yaml_to_json(text, len, err, sizeof(err));
	free(text);
	if (patch == NULL) {
		ctl_error("%s: %s", strcmp(path, "-") == 0 ? "standard input" : path, err);
		return CTL_EXIT_USAGE;
	}
	if (!json_is_object(patch) && !json_is_null(patch)) {
		ctl_error("%s: expected a YAML mapping of configuration keys",
			  strcmp(path, "-") == 0 ? "standard input" : path);
		json_decref(patch);
		return CTL_EXIT_USAGE;
	}
	if (json_is_object(patch))
		config_edit_patch(changed, patch);
	json_decref(patch);
	return CTL_EXIT_OK;
}

/* The new configuration and its YAML (what the diff shows). */
static int make_changes(const struct edit_options *options, const struct cluster_view *view,
			json_t **changed_out, char **after_out)
{
	json_t *changed = NULL;
	char *after = NULL;
	int rc = CTL_EXIT_OK;

	*changed_out = NULL;
	*after_out = NULL;
	if (options->replace != NULL) {
		changed = xjson(json_object());
		rc = merge_file(options->replace, changed);
	} else {
		changed = xjson(json_deep_copy(view->config));
	}
	if (rc == CTL_EXIT_OK && options->apply != NULL)
		rc = merge_file(options->apply, changed);
	for (size_t i = 0; rc == CTL_EXIT_OK && i < options->n_pairs; i++) {
		char err[512];

		if (!config_edit_set(changed, options->pairs[i], err, sizeof(err))) {
			ctl_error("%s", err);
			rc = CTL_EXIT_USAGE;
		}
	}
	if (rc == CTL_EXIT_OK && options->replace == NULL && options->apply == NULL &&
	    options->n_pairs == 0) {
		/* Nothing on the command line: the operator edits the YAML. */
		char *before = json_to_yaml(view->config, false);
		char err[YAML_JSON_ERR_MAX];
		json_t *edited;

		after = edit_in_editor(before, view->scope, &rc);
		free(before);
		if (after == NULL) {
			json_decref(changed);
			return rc;
		}
		rc = CTL_EXIT_OK;
		edited = yaml_to_json(after, strlen(after), err, sizeof(err));
		if (edited == NULL || !json_is_object(edited)) {
			ctl_error("the edited configuration is not a YAML mapping%s%s",
				  edited == NULL ? ": " : "", edited == NULL ? err : "");
			json_decref(edited);
			rc = CTL_EXIT_USAGE;
		} else {
			json_decref(changed);
			changed = edited;
		}
	} else if (rc == CTL_EXIT_OK) {
		after = json_to_yaml(changed, false);
	}
	if (rc != CTL_EXIT_OK) {
		json_decref(changed);
		free(after);
		return rc;
	}
	*changed_out = changed;
	*after_out = after;
	return CTL_EXIT_OK;
}

static int edit_config(struct ctl *ctl, const struct edit_options *options, int argc,
		       char **argv)
{
	struct cluster_view view;
	json_t *changed = NULL;
	char *after = NULL;
	char *before = NULL;
	char *encoded = NULL;
	char err[ZNODE_ERR_MAX];
	bool loaded;
	int rc;

	rc = load_cluster(ctl, argc, argv, &view, &loaded);
	if (rc != CTL_EXIT_OK)
		goto done;
	rc = make_changes(options, &view, &changed, &after);
	if (rc != CTL_EXIT_OK)
		goto done;
	if (json_equal(view.config, changed)) {
		if (!options->quiet)
			printf("Not changed\n");
		goto done;
	}
	/* Never write what the agents (or Patroni) would refuse to read. */
	encoded = znode_config_encode(changed, err, sizeof(err));
	if (encoded == NULL) {
		ctl_error("the new configuration is not valid: %s", err);
		rc = CTL_EXIT_USAGE;
		goto done;
	}
	if (!options->quiet) {
		before = json_to_yaml(view.config, false);
		show_diff(before, after, view.scope);
	}
	/* Standard input held the changes: there is no answer to read. */
	if (!options->force &&
	    ((options->apply && strcmp(options->apply, "-") == 0) ||
	     (options->replace && strcmp(options->replace, "-") == 0))) {
		ctl_error("Use --force option to apply changes");
		rc = CTL_EXIT_ABORTED;
		goto done;
	}
	if (!options->force) {
		bool yes;

		if (!prompt_confirm("Apply these changes?", &yes) || !yes) {
			ctl_error("configuration not changed");
			rc = CTL_EXIT_ABORTED;
			goto done;
		}
	}
	rc = dcs_write_config(ctl, &view, encoded);
	if (rc == CTL_EXIT_OK)
		printf("Configuration changed\n");
done:
	if (loaded)
		view_clear(&view);
	json_decref(changed);
	free(after);
	free(before);
	free(encoded);
	return rc;
}

int cmd_edit_config(struct ctl *ctl, int argc, char **argv)
{
	static const struct option long_options[] = {
		CTL_GLOBAL_LONG,
		{ "quiet", no_argument, NULL, 'q' },
		{ "set", required_argument, NULL, 's' },
		{ "pg", required_argument, NULL, 'p' },
		{ "apply", required_argument, NULL, OPT_APPLY },
		{ "replace", required_argument, NULL, OPT_REPLACE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ NULL, 0, NULL, 0 },
	};
	struct edit_options options = { 0 };
	int c;
	int rc = CTL_EXIT_OK;

	while (rc == CTL_EXIT_OK && (c = ctl_getopt(ctl, argc, argv, "qs:p:", long_options)) != -1) {
		switch (c) {
		case 'q':
			options.quiet = true;
			break;
		case 's':
			add_pair(&options, xstrdup(optarg));
			break;
		case 'p': {
			const char *p = optarg;

			while (*p == ' ' || *p == '\t')
				p++;
			add_pair(&options, xasprintf("postgresql.parameters.%s", p));
			break;
		}
		case OPT_APPLY:
			options.apply = optarg;
			break;
		case OPT_REPLACE:
			options.replace = optarg;
			break;
		case OPT_FORCE:
			options.force = true;
			break;
		default:
			rc = CTL_EXIT_USAGE;
		}
	}
	if (rc == CTL_EXIT_OK && options.apply && options.replace &&
	    strcmp(options.apply, "-") == 0 && strcmp(options.replace, "-") == 0)
		rc = ctl_usage_error(argv[0], "--apply and --replace cannot both read standard input");
	if (rc == CTL_EXIT_OK)
		rc = edit_config(ctl, &options, argc, argv);
	for (size_t i = 0; i < options.n_pairs; i++)
		free(options.pairs[i]);
	free(options.pairs);
	return rc;
}
