/*
 * docs/configuration.md, generated from the key table so that the reference
 * cannot drift from what the parser does (test_config compares the committed
 * file with this output).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "agent/config_internal.h"

static const char unsupported_introduction[] =
	"\n## Patroni keys not supported yet\n\n"
	"pgherd recognises these Patroni keys and ignores each one, and everything under\n"
	"it, with the warning `KEY: not supported by pgherd yet; ignored`.  Any other key\n"
	"gets `KEY: unknown key; ignored`.\n\n";

static const char introduction[] =
	"# pgherd configuration\n"
	"\n"
	"<!-- Generated from agent/config_keys.c by `pgherd --describe-config`; do not edit. -->\n"
	"\n"
	"pgherd reads Patroni's YAML configuration (ZooKeeper mode), so a Patroni file works\n"
	"unchanged: the keys below mean what they mean in Patroni, the Patroni keys pgherd does\n"
	"not implement yet are ignored with a warning (listed at the end), and every variable in\n"
	"the Environment column has a Patroni spelling too.\n"
	"\n"
	"## Sources and precedence\n"
	"\n"
	"defaults < file < environment.  A value comes from the first of these that sets it:\n"
	"\n"
	"1. the environment: `PGHERD_<NAME>`, or Patroni's `PATRONI_<NAME>`.  When both are set\n"
	"   `PGHERD_` wins; an empty variable counts as unset, as in Patroni;\n"
	"2. the YAML file;\n"
	"3. the default shown below.\n"
	"\n"
	"pgherd can also run with no file, configured by the environment alone.\n"
	"\n"
	"## Diagnostics\n"
	"\n"
	"Every problem is reported as `FILE:LINE: error: KEY: REASON` (or `warning`).  For an\n"
	"environment variable FILE is the variable's name and there is no line:\n"
	"\n"
	"    pgherd.yml:7: error: bootstrap.dcs.ttl: expected an integer, got \"thirty\"\n"
	"    pgherd.yml:12: warning: restapi.certfile: not supported by pgherd yet; ignored\n"
	"    PGHERD_LOG_LEVEL: error: log.level: expected one of DEBUG, INFO, WARNING, ERROR, "
	"CRITICAL, got \"LOUD\"\n"
	"\n"
	"All problems are listed (up to 200), not just the first.  Any error stops the agent\n"
	"from starting; warnings never do.\n"
	"\n"
	"- Errors: a value of the wrong type, out of range or empty; a missing required key; a\n"
	"  `host:port` without a port from 1 to 65535; malformed YAML (with the last key read\n"
	"  before the problem); an empty file, a second YAML document, a top level that is\n"
	"  not a mapping, or nesting deeper than 64 levels.\n"
	"- Warnings: Patroni keys pgherd does not support yet, unknown keys, duplicate keys\n"
	"  (the last value is used), YAML merge keys (`<<`, ignored), a Patroni `log.format`\n"
	"  string, and Patroni's timing rule `loop_wait + 2 * retry_timeout <= ttl` when it\n"
	"  does not hold.\n"
	"\n"
	"Integers, seconds and booleans may be quoted (`ttl: \"30\"`) but must be entirely a\n"
	"number or a boolean; booleans are `true`/`false`, `yes`/`no` or `on`/`off`.  Maps\n"
	"(`parameters`, `tags`) keep their YAML types as Patroni reads them: unquoted `on` is a\n"
	"boolean, `\"on\"` a string.\n"
	"\n"
	"## Keys\n";

/* Keys are grouped by their first component ("tags" heads its own group),
 * in the order the table introduces them; plain top-level keys have length
 * 0. */
static size_t section_length(const char *path)
{
	const char *dot = strchr(path, '.');
	if (dot != NULL)
		return (size_t) (dot - path);
	return config_key_is_section(path) ? strlen(path) : 0;
}

static bool same_section(const char *a, const char *b)
{
	size_t length = section_length(a);
	return length == section_length(b) && strncmp(a, b, length) == 0;
}

static bool section_seen_before(size_t row_index)
{
	for (size_t i = 0; i < row_index; i++) {
		if (same_section(config_keys[i].path, config_keys[row_index].path))
			return true;
	}
	return false;
}

/* Markdown table cells may not contain a raw '|'. */
static void print_cell(FILE *out, const char *text)
{
	fputs(" ", out);
	for (; *text; text++) {
		if (*text == '|')
			fputc('\\', out);
		fputc(*text, out);
	}
	fputs(" |", out);
}

static void print_type(FILE *out, const struct config_key *row)
{
	char type[96];

	if (row->type == CONFIG_TYPE_INT || row->type == CONFIG_TYPE_INT64) {
		if (row->maximum == INT_MAX || row->maximum == LLONG_MAX)
			snprintf(type, sizeof(type), "integer >= %lld", row->minimum);
		else
			snprintf(type, sizeof(type), "integer %lld..%lld", row->minimum,
				 row->maximum);
	} else if (row->type == CONFIG_TYPE_SECONDS) {
		snprintf(type, sizeof(type), "seconds > 0, <= %lld", row->maximum);
	} else {
		snprintf(type, sizeof(type), "%s", config_value_type_name(row->type));
	}
	print_cell(out, type);
}

static void print_default(FILE *out, const struct config_key *row)
{
	char text[128];

	if (row->default_value != NULL)
		snprintf(text, sizeof(text), "`%s`", row->default_value);
	else if (row->default_note != NULL)
		snprintf(text, sizeof(text), "%s", row->default_note);
	else if (row->flags & CONFIG_KEY_REQUIRED)
		snprintf(text, sizeof(text), "**required**");
	else
		snprintf(text, sizeof(text), "unset");
	print_cell(out, text);
}

static void print_environment(FILE *out, const struct config_key *row)
{
	char text[160] = "";

	if (row->environment != NULL && (row->flags & CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY))
		snprintf(text, sizeof(text), "`PGHERD_%s`", row->environment);
	else if (row->environment != NULL)
		snprintf(text, sizeof(text), "`PGHERD_%s`, `PATRONI_%s`", row->environment,
			 row->environment);
	print_cell(out, text);
}

static void print_key_row(FILE *out, const struct config_key *row)
{
	char key[128];

	snprintf(key, sizeof(key), "`%s`", row->path);
	fputs("|", out);
	print_cell(out, key);
	print_type(out, row);
	print_default(out, row);
	print_environment(out, row);
	print_cell(out, row->description ? row->description : "");
	fputs("\n", out);
}

static void print_section_heading(FILE *out, const char *path)
{
	size_t length = section_length(path);

	if (length == 0)
		fputs("\n### Top level\n", out);
	else
		fprintf(out, "\n### %.*s\n", (int) length, path);
}

static void print_section(FILE *out, size_t first_row)
{
	const char *section = config_keys[first_row].path;
	bool has_supported = false;

	for (size_t i = first_row; i < config_key_count; i++)
		has_supported |= same_section(config_keys[i].path, section) &&
				 config_keys[i].kind == CONFIG_KEY_SUPPORTED;
	if (!has_supported)
		return;
	print_section_heading(out, section);
	fputs("\n| Key | Type | Default | Environment | Description |\n"
	      "|---|---|---|---|---|\n",
	      out);
	for (size_t i = first_row; i < config_key_count; i++) {
		if (same_section(config_keys[i].path, section) &&
		    config_keys[i].kind == CONFIG_KEY_SUPPORTED)
			print_key_row(out, &config_keys[i]);
	}
}

static void print_unsupported_section(FILE *out, size_t first_row)
{
	const char *section = config_keys[first_row].path;
	size_t length = section_length(section);
	bool started = false;

	for (size_t i = first_row; i < config_key_count; i++) {
		const struct config_key *row = &config_keys[i];
		if (!same_section(row->path, section) || row->kind == CONFIG_KEY_SUPPORTED)
			continue;
		if (!started) {
			if (length == 0)
				fputs("- top level:", out);
			else
				fprintf(out, "- %.*s:", (int) length, section);
			started = true;
		} else {
			fputs(",", out);
		}
		fprintf(out, " `%s`", row->path);
		if (row->description != NULL)
			fprintf(out, " (%s)", row->description);
	}
	if (started)
		fputs("\n", out);
}

void config_describe_markdown(FILE *out)
{
	fputs(introduction, out);
	for (size_t i = 0; i < config_key_count; i++) {
		if (!section_seen_before(i))
			print_section(out, i);
	}
	fputs(unsupported_introduction, out);
	for (size_t i = 0; i < config_key_count; i++) {
		if (!section_seen_before(i))
			print_unsupported_section(out, i);
	}
}
