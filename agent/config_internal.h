/*
 * Private to agent/config*.c: the key table and the helpers its users share.
 *
 * config_keys.c   the table (one row per key pgherd supports or recognises)
 * config_value.c  typed parsing of one YAML node against one row, and storing
 * config.c        document loading, key checking, environment, diagnostics
 * config_describe.c  docs/configuration.md from the table
 */
#ifndef PGHERD_CONFIG_INTERNAL_H
#define PGHERD_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "agent/config.h"

enum config_value_type {
	CONFIG_TYPE_STRING,       /* non-empty text */
	CONFIG_TYPE_NAME,         /* non-empty text without '/': a ZooKeeper node name */
	CONFIG_TYPE_ADDRESS,      /* host:port, port 1-65535 */
	CONFIG_TYPE_ADDRESS_LIST, /* list of host:port, or one comma-separated string */
	CONFIG_TYPE_STRING_LIST,  /* list of non-empty strings */
	CONFIG_TYPE_INT,          /* int in [minimum, maximum] */
	CONFIG_TYPE_INT64,        /* long long in [minimum, maximum] */
	CONFIG_TYPE_SECONDS,      /* double, > 0 and <= maximum, fractions allowed */
	CONFIG_TYPE_BOOL,
	CONFIG_TYPE_OBJECT,       /* any mapping, kept as a JSON object */
	CONFIG_TYPE_LOG_LEVEL,
	CONFIG_TYPE_LOG_FORMAT,   /* plain or json; a Patroni "%(...)" string is ignored */
	CONFIG_TYPE_WATCHDOG_MODE, /* off, automatic or required (Patroni's spellings) */
	CONFIG_TYPE_SYNCHRONOUS_MODE, /* a boolean, or "quorum" (with a warning) */
};

enum config_key_kind {
	CONFIG_KEY_SUPPORTED = 0,
	/* A key Patroni defines and pgherd does not implement: a warning names
	 * it, and its whole subtree is ignored. */
	CONFIG_KEY_PATRONI_UNSUPPORTED,
};

enum config_key_flag {
	CONFIG_KEY_REQUIRED = 1 << 0,
	/* Only PGHERD_<environment> is read: Patroni has no such variable. */
	CONFIG_KEY_PGHERD_ENVIRONMENT_ONLY = 1 << 1,
	/* A known tag: validated, then stored typed into config->tags under the
	 * last path component instead of at offset. */
	CONFIG_KEY_TAG = 1 << 2,
	/* A password: anything that prints configuration values must mask it. */
	CONFIG_KEY_SECRET = 1 << 3,
};

struct config_key {
	const char *path; /* dotted YAML path */
	enum config_key_kind kind;
	enum config_value_type type;
	size_t offset;       /* into struct pgherd_config */
	size_t count_offset; /* list types: where the element count (size_t) goes */
	long long minimum;   /* INT, INT64 */
	long long maximum;   /* INT, INT64, SECONDS */
	/* Parsed exactly like a file value when the key is absent. */
	const char *default_value;
	/* For the docs when the default is computed (default_value is NULL). */
	const char *default_note;
	/* Variable suffix: PGHERD_<environment>, alias PATRONI_<environment>. */
	const char *environment;
	unsigned flags;
	/* Supported keys: the docs' description.  Unsupported keys: an optional
	 * hint appended to the warning. */
	const char *description;
};

extern const struct config_key config_keys[];
extern const size_t config_key_count;

const struct config_key *config_key_find(const char *path);
/* True when path is a proper prefix ("restapi" of "restapi.listen") of a row. */
bool config_key_is_section(const char *path);
/* "integer", "host:port", ... for the docs. */
const char *config_value_type_name(enum config_value_type type);

/*
 * Diagnostics of one load.  At most CONFIG_DIAGNOSTICS_LISTED are kept, so
 * that a garbage file cannot produce millions of lines; errors are counted
 * even when not listed.
 */
#define CONFIG_DIAGNOSTICS_LISTED 200

struct config_reporter {
	struct config_diagnostics *diags;
	size_t first;    /* index of this load's first diagnostic in diags */
	size_t errors;   /* including unlisted ones */
	size_t unlisted;
};

void config_report(struct config_reporter *reporter, enum config_severity severity,
		   const char *file, int line, const char *key, const char *format, ...)
	__attribute__((format(printf, 6, 7)));
void config_report_va(struct config_reporter *reporter, enum config_severity severity,
		      const char *file, int line, const char *key, const char *format,
		      va_list arguments) __attribute__((format(printf, 6, 0)));

/* Where a value comes from: a node of a loaded file, or of a one-scalar
 * document made from an environment variable or a default. */
struct config_source {
	yaml_document_t *document;
	yaml_node_t *node;
	const char *origin; /* file or variable name, for diagnostics */
	bool has_lines;     /* false: every diagnostic has line 0 */
};

int config_source_line(const struct config_source *source, const yaml_node_t *node);

/* Parse source against row's type and range, report problems, and store the
 * value into config (freeing the one it replaces).  False on an error. */
bool config_value_apply(const struct config_key *row, const struct config_source *source,
			struct pgherd_config *config, struct config_reporter *reporter);

/* Free what config_value_apply() stored for row (strings, lists, objects). */
void config_value_release(const struct config_key *row, struct pgherd_config *config);

/* A mapping as a JSON object (YAML types kept), or NULL with *problem set. */
json_t *config_node_to_object(yaml_document_t *document, yaml_node_t *node, const char **problem);

/* YAML plain scalars that mean null: "", "~", "null", "Null", "NULL". */
bool config_scalar_is_null(const yaml_node_t *node);

/* For messages: the value quoted and shortened ("thirty" with quotes), or
 * "a list", "a mapping", "an empty value".  malloc'd. */
char *config_describe_node(const yaml_node_t *node);
/* Text made printable and at most a few hundred bytes long.  malloc'd. */
char *config_printable(const char *text, size_t length);

/* Allocation helpers: out of memory aborts, since a half-loaded
 * configuration has no safe meaning. */
void *config_allocate(size_t size);
void *config_reallocate(void *pointer, size_t size);
char *config_duplicate(const char *text, size_t length);
char *config_format(const char *format, ...) __attribute__((format(printf, 1, 2)));
char *config_format_va(const char *format, va_list arguments) __attribute__((format(printf, 1, 0)));
json_t *config_json_checked(json_t *value);

#endif
