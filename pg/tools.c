/*
 * Command lines for PostgreSQL's programs and parsers for their output (see
 * tools.h).  Parsers never trust their input: pg_controldata's output is
 * read line by line with bounded copies, and anything unexpected in a field
 * we need is an error with a reason, never a guess.
 */
#include "pg/tools.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "agent/util.h"

/* --- argv builder --------------------------------------------------------------- */

struct argv_builder {
	char **v;
	size_t n;
	size_t cap;
	bool failed;
};

static void push_owned(struct argv_builder *b, char *s)
{
	if (!s)
		b->failed = true;
	if (b->failed) {
		free(s);
		return;
	}
	if (b->n + 2 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		char **grown = realloc(b->v, cap * sizeof(*grown));
		if (!grown) {
			b->failed = true;
			free(s);
			return;
		}
		b->v = grown;
		b->cap = cap;
	}
	b->v[b->n++] = s;
	b->v[b->n] = NULL;
}

static void push(struct argv_builder *b, const char *s)
{
	push_owned(b, strdup(s));
}

static void pushf(struct argv_builder *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pushf(struct argv_builder *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	push_owned(b, s);
}

void pg_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static char **finish(struct argv_builder *b)
{
	if (b->failed || !b->v) {
		pg_argv_free(b->v);
		return NULL;
	}
	return b->v;
}

static bool present(const char *s)
{
	return s && *s;
}

/* argv[0] = bin_dir/program; data_dir checked here too when needed. */
static bool start_argv(struct argv_builder *b, const struct pg_settings *s, const char *program,
		       bool needs_data_dir)
{
	if (!s || !present(s->bin_dir) || (needs_data_dir && !present(s->data_dir)))
		return false;
	pushf(b, "%s/%s", s->bin_dir, program);
	return !b->failed;
}

/* GUC names as PostgreSQL accepts them on the command line. */
static bool guc_name_valid(const char *name)
{
	if (!present(name))
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '.'))
			return false;
	return true;
}

/* Replication slot names: lower case letters, digits and '_', at most 63
 * (NAMEDATALEN - 1), as ReplicationSlotValidateName() demands. */
static bool slot_name_valid(const char *name)
{
	size_t len = 0;

	if (!present(name))
		return false;
	for (const char *c = name; *c; c++, len++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return len <= 63;
}

static bool is_password_method(const char *method)
{
	return strcmp(method, "md5") == 0 || strcmp(method, "scram-sha-256") == 0 ||
	       strcmp(method, "password") == 0;
}

char **pg_initdb_argv(const struct pg_settings *s, const struct pg_initdb_options *o)
{
	struct argv_builder b = { 0 };
	const char *user = o && present(o->superuser) ? o->superuser : "postgres";
	const char *pwfile = o && present(o->pwfile) ? o->pwfile : NULL;
	const char *local = o && present(o->auth_local) ? o->auth_local : "trust";
	const char *host = o && present(o->auth_host) ? o->auth_host : "scram-sha-256";

	/* initdb itself refuses a password method without a password. */
	if (!pwfile && (is_password_method(local) || is_password_method(host)))
		return NULL;
	if (!start_argv(&b, s, "initdb", true))
		return finish(&b);
	push(&b, "-D");
	push(&b, s->data_dir);
	push(&b, "--data-checksums");
	push(&b, "-U");
	push(&b, user);
	if (pwfile)
		pushf(&b, "--pwfile=%s", pwfile);
	pushf(&b, "--auth-local=%s", local);
	pushf(&b, "--auth-host=%s", host);
	push(&b, "-E");
	push(&b, "UTF8");
	push(&b, "--locale=C");
	return finish(&b);
}

char **pg_postmaster_argv(const struct pg_settings *s)
{
	struct argv_builder b = { 0 };

	if (!start_argv(&b, s, "postgres", true))
		return finish(&b);
	for (size_t i = 0; i < s->parameter_count; i++)
		if (!guc_name_valid(s->parameters[i].name) || !s->parameters[i].value)
			b.failed = true;
	push(&b, "-D");
	push(&b, s->data_dir);
	if (s->port > 0) {
		push(&b, "-p");
		pushf(&b, "%d", s->port);
	}
	if (s->socket_dir) {
		push(&b, "-k");
		push(&b, s->socket_dir);
	}
	if (s->listen_addresses) {
		push(&b, "-c");
		pushf(&b, "listen_addresses=%s", s->listen_addresses);
	}
	for (size_t i = 0; i < s->parameter_count; i++) {
		push(&b, "-c");
		pushf(&b, "%s=%s", s->parameters[i].name, s->parameters[i].value);
	}
	return finish(&b);
}

const char *pg_stop_mode_name(enum pg_stop_mode mode)
{
	switch (mode) {
	case PG_STOP_SMART:
		return "smart";
	case PG_STOP_FAST:
		return "fast";
	case PG_STOP_IMMEDIATE:
		return "immediate";
	}
	return "fast";
}

char **pg_ctl_stop_argv(const struct pg_settings *s, enum pg_stop_mode mode, int timeout_s)
{
	struct argv_builder b = { 0 };

	if (timeout_s <= 0 || (int) mode < PG_STOP_SMART || (int) mode > PG_STOP_IMMEDIATE ||
	    !start_argv(&b, s, "pg_ctl", true))
		return finish(&b);
	push(&b, "stop");
	push(&b, "-D");
	push(&b, s->data_dir);
	push(&b, "-m");
	push(&b, pg_stop_mode_name(mode));
	push(&b, "-w");
	push(&b, "-t");
	pushf(&b, "%d", timeout_s);
	return finish(&b);
}

char **pg_ctl_promote_argv(const struct pg_settings *s, int timeout_s)
{
	struct argv_builder b = { 0 };

	if (timeout_s <= 0 || !start_argv(&b, s, "pg_ctl", true))
		return finish(&b);
	push(&b, "promote");
	push(&b, "-D");
	push(&b, s->data_dir);
	push(&b, "-w");
	push(&b, "-t");
	pushf(&b, "%d", timeout_s);
	return finish(&b);
}

bool pg_conninfo_is_safe(const char *conninfo)
{
	char *error = NULL;
	PQconninfoOption *options;
	bool safe = true;

	if (!present(conninfo))
		return false;
	options = PQconninfoParse(conninfo, &error);
	PQfreemem(error);
	if (!options)
		return false;
	for (PQconninfoOption *o = options; o->keyword; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
			safe = false;
	PQconninfoFree(options);
	return safe;
}

char **pg_basebackup_argv(const struct pg_settings *s, const struct pg_basebackup_options *o)
{
	struct argv_builder b = { 0 };

	if (!o || !pg_conninfo_is_safe(o->source_conninfo) || (o->slot && !slot_name_valid(o->slot)) ||
	    !start_argv(&b, s, "pg_basebackup", true))
		return finish(&b);
	push(&b, "-D");
	push(&b, s->data_dir);
	push(&b, "-X");
	push(&b, "stream");
	push(&b, "-c");
	push(&b, "fast");
	push(&b, "-d");
	push(&b, o->source_conninfo);
	if (o->slot)
		pushf(&b, "--slot=%s", o->slot);
	push(&b, "-w");
	push(&b, "-v");
	return finish(&b);
}

char **pg_rewind_argv(const struct pg_settings *s, const struct pg_rewind_options *o)
{
	struct argv_builder b = { 0 };

	if (!o || !pg_conninfo_is_safe(o->source_conninfo) || !start_argv(&b, s, "pg_rewind", true))
		return finish(&b);
	pushf(&b, "--target-pgdata=%s", s->data_dir);
	pushf(&b, "--source-server=%s", o->source_conninfo);
	push(&b, "--progress");
	if (o->restore_target_wal)
		push(&b, "--restore-target-wal");
	return finish(&b);
}

char **pg_controldata_argv(const struct pg_settings *s)
{
	struct argv_builder b = { 0 };

	if (!start_argv(&b, s, "pg_controldata", true))
		return finish(&b);
	push(&b, "-D");
	push(&b, s->data_dir);
	return finish(&b);
}

char **pg_version_argv(const struct pg_settings *s)
{
	struct argv_builder b = { 0 };

	if (!start_argv(&b, s, "postgres", false))
		return finish(&b);
	push(&b, "--version");
	return finish(&b);
}

/* --- Conninfo --------------------------------------------------------------------- */

static bool conninfo_key_valid(const char *key)
{
	if (!present(key) || strcmp(key, "password") == 0)
		return false;
	for (const char *c = key; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
			return false;
	return true;
}

static void conninfo_value(struct util_out *o, const char *value)
{
	bool quote = *value == '\0' || strpbrk(value, " \t\n\r\f\v'\\") != NULL;

	if (quote)
		util_out_char(o, '\'');
	for (const char *c = value; *c; c++) {
		if (*c == '\'' || *c == '\\')
			util_out_char(o, '\\');
		util_out_char(o, *c);
	}
	if (quote)
		util_out_char(o, '\'');
}

static bool conninfo_add(struct util_out *o, const char *key, const char *value)
{
	if (!conninfo_key_valid(key))
		return false;
	if (!value)
		return true;
	if (o->len > 0)
		util_out_char(o, ' ');
	util_out_str(o, key);
	util_out_char(o, '=');
	conninfo_value(o, value);
	return true;
}

static bool conninfo_done(struct util_out *o, bool ok)
{
	if (o->size == 0)
		return false;
	if (!ok || o->full) {
		o->buf[0] = '\0';
		return false;
	}
	o->buf[o->len] = '\0';
	return true;
}

bool pg_conninfo_build_params(char *buf, size_t size, const struct pg_conninfo_param *params,
			      size_t count)
{
	struct util_out o = { .buf = buf, .size = size };
	bool ok = true;

	for (size_t i = 0; i < count && ok; i++)
		ok = conninfo_add(&o, params[i].key, params[i].value);
	return conninfo_done(&o, ok);
}

bool pg_conninfo_build(char *buf, size_t size, ...)
{
	struct util_out o = { .buf = buf, .size = size };
	bool ok = true;
	const char *key;
	va_list ap;

	va_start(ap, size);
	while (ok && (key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		ok = conninfo_add(&o, key, value);
	}
	va_end(ap);
	return conninfo_done(&o, ok);
}

/* --- LSN ------------------------------------------------------------------------ */

/* 1 to 8 hex digits; *end is where they stop. */
static bool parse_hex32(const char *s, uint32_t *value, const char **end)
{
	uint32_t v = 0;
	int digits = 0;

	for (; digits < 9; s++, digits++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (digits == 8)
			return false;
		v = v << 4 | (uint32_t) d;
	}
	if (digits == 0)
		return false;
	*value = v;
	*end = s;
	return true;
}

bool pg_lsn_parse(const char *text, uint64_t *lsn)
{
	uint32_t hi, lo;
	const char *p;

	if (!text || !parse_hex32(text, &hi, &p) || *p != '/' || !parse_hex32(p + 1, &lo, &p) ||
	    *p != '\0')
		return false;
	*lsn = (uint64_t) hi << 32 | lo;
	return true;
}

const char *pg_lsn_format(uint64_t lsn, char buf[PG_LSN_BUFSIZE])
{
	snprintf(buf, PG_LSN_BUFSIZE, "%X/%X", (unsigned) (lsn >> 32), (unsigned) (lsn & 0xffffffffu));
	return buf;
}

/* --- pg_controldata --------------------------------------------------------------- */

static const char *const cluster_state_names[] = {
	[PG_CLUSTER_UNKNOWN] = "unknown",
	[PG_CLUSTER_STARTING_UP] = "starting up",
	[PG_CLUSTER_SHUT_DOWN] = "shut down",
	[PG_CLUSTER_SHUT_DOWN_IN_RECOVERY] = "shut down in recovery",
	[PG_CLUSTER_SHUTTING_DOWN] = "shutting down",
	[PG_CLUSTER_IN_CRASH_RECOVERY] = "in crash recovery",
	[PG_CLUSTER_IN_ARCHIVE_RECOVERY] = "in archive recovery",
	[PG_CLUSTER_IN_PRODUCTION] = "in production",
};

const char *pg_cluster_state_name(enum pg_cluster_state state)
{
	if ((int) state < PG_CLUSTER_UNKNOWN || (int) state > PG_CLUSTER_IN_PRODUCTION)
		return "unknown";
	return cluster_state_names[state];
}

enum field_type {
	FIELD_U64,
	FIELD_U32,
	FIELD_LSN,
	FIELD_STATE,
	FIELD_ON_OFF,
};

/* Checklist: a field added to struct pg_controldata gets a row here. */
static const struct {
	const char *label;
	enum field_type type;
	size_t offset;
} controldata_fields[] = {
	{ "Database system identifier", FIELD_U64, offsetof(struct pg_controldata, system_identifier) },
	{ "Database cluster state", FIELD_STATE, offsetof(struct pg_controldata, state) },
	{ "Latest checkpoint's TimeLineID", FIELD_U32, offsetof(struct pg_controldata, checkpoint_timeline) },
	{ "Latest checkpoint location", FIELD_LSN, offsetof(struct pg_controldata, checkpoint_lsn) },
	{ "Latest checkpoint's REDO location", FIELD_LSN,
	  offsetof(struct pg_controldata, checkpoint_redo_lsn) },
	{ "Minimum recovery ending location", FIELD_LSN,
	  offsetof(struct pg_controldata, min_recovery_end_lsn) },
	{ "Min recovery ending loc's timeline", FIELD_U32,
	  offsetof(struct pg_controldata, min_recovery_end_timeline) },
	{ "Data page checksum version", FIELD_U32,
	  offsetof(struct pg_controldata, data_checksum_version) },
	{ "wal_log_hints setting", FIELD_ON_OFF, offsetof(struct pg_controldata, wal_log_hints) },
};
#define N_CONTROLDATA_FIELDS (sizeof(controldata_fields) / sizeof(controldata_fields[0]))

/* Longest line part we look at; longer labels are not ours, longer values
 * are garbage. */
#define CONTROLDATA_TEXT_MAX 128

static bool parse_decimal(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned) (*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_field(enum field_type type, const char *value, struct pg_controldata *cd,
			size_t offset)
{
	char *target = (char *) cd + offset;
	uint64_t v;

	switch (type) {
	case FIELD_U64:
		if (!parse_decimal(value, UINT64_MAX, &v))
			return false;
		memcpy(target, &v, sizeof(uint64_t));
		return true;
	case FIELD_U32: {
		uint32_t v32;
		if (!parse_decimal(value, UINT32_MAX, &v))
			return false;
		v32 = (uint32_t) v;
		memcpy(target, &v32, sizeof(v32));
		return true;
	}
	case FIELD_LSN:
		if (!pg_lsn_parse(value, &v))
			return false;
		memcpy(target, &v, sizeof(uint64_t));
		return true;
	case FIELD_STATE: {
		enum pg_cluster_state state = PG_CLUSTER_UNKNOWN;
		for (int i = PG_CLUSTER_STARTING_UP; i <= PG_CLUSTER_IN_PRODUCTION; i++)
			if (strcmp(value, cluster_state_names[i]) == 0)
				state = (enum pg_cluster_state) i;
		memcpy(target, &state, sizeof(state));
		return true;
	}
	case FIELD_ON_OFF: {
		bool on = strcmp(value, "on") == 0;
		if (!on && strcmp(value, "off") != 0)
			return false;
		memcpy(target, &on, sizeof(on));
		return true;
	}
	}
	return false;
}

/* Copy [start, end) without surrounding blanks into buf; false if it does
 * not fit. */
static bool copy_trimmed(const char *start, const char *end, char *buf, size_t size)
{
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	if ((size_t) (end - start) >= size)
		return false;
	memcpy(buf, start, (size_t) (end - start));
	buf[end - start] = '\0';
	return true;
}

static bool controldata_error(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool controldata_error(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return false;
}

bool pg_controldata_parse(const char *output, struct pg_controldata *out, char *err,
			  size_t err_size)
{
	struct pg_controldata cd = { 0 };
	bool seen[N_CONTROLDATA_FIELDS] = { false };
	const char *line = output;

	if (!output)
		return controldata_error(err, err_size, "no output");
	while (*line) {
		const char *eol = strchr(line, '\n');
		const char *colon;
		char label[CONTROLDATA_TEXT_MAX];
		char value[CONTROLDATA_TEXT_MAX];

		if (!eol)
			eol = line + strlen(line);
		colon = memchr(line, ':', (size_t) (eol - line));
		if (strncmp(line, "WARNING:", 8) == 0) {
			char text[CONTROLDATA_TEXT_MAX];
			if (!copy_trimmed(line, eol, text, sizeof(text)))
				snprintf(text, sizeof(text), "WARNING (long line)");
			return controldata_error(err, err_size, "pg_controldata: %s", text);
		}
		if (colon && copy_trimmed(line, colon, label, sizeof(label))) {
			for (size_t i = 0; i < N_CONTROLDATA_FIELDS; i++) {
				if (strcmp(label, controldata_fields[i].label) != 0)
					continue;
				if (seen[i])
					return controldata_error(err, err_size, "'%s' appears twice",
								 label);
				seen[i] = true;
				if (!copy_trimmed(colon + 1, eol, value, sizeof(value)) ||
				    !parse_field(controldata_fields[i].type, value, &cd,
						 controldata_fields[i].offset))
					return controldata_error(err, err_size, "bad value for '%s'", label);
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	for (size_t i = 0; i < N_CONTROLDATA_FIELDS; i++)
		if (!seen[i])
			return controldata_error(err, err_size, "missing '%s'", controldata_fields[i].label);
	*out = cd;
	return true;
}

/* --- Version ------------------------------------------------------------------------ */

static bool read_number(const char **s, int *out)
{
	long v = 0;
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 100000)
			return false;
	}
	*out = (int) v;
	*s = p;
	return true;
}

bool pg_version_parse(const char *text, int *version_num)
{
	const char *p;
	int major, minor = 0, patch = 0;

	if (!text || !(p = strstr(text, "(PostgreSQL) ")))
		return false;
	p += strlen("(PostgreSQL) ");
	if (!read_number(&p, &major) || major < 7)
		return false;
	/* Before 10 the first two numbers are the major version. */
	if (*p == '.') {
		p++;
		if (!read_number(&p, &minor))
			return false;
		if (major < 10 && *p == '.') {
			p++;
			if (!read_number(&p, &patch))
				return false;
		}
		if (*p != '\0' && *p != ' ' && *p != '\n' && *p != '\r')
			return false;
	} else if (major < 10 || !(strncmp(p, "devel", 5) == 0 || strncmp(p, "beta", 4) == 0 ||
				   strncmp(p, "rc", 2) == 0)) {
		return false;	/* a development version is "16devel", "16beta1", "16rc1" */
	}
	if (major < 10) {
		if (minor > 99 || patch > 99)
			return false;
		*version_num = major * 10000 + minor * 100 + patch;
	} else {
		if (minor > 9999)
			return false;
		*version_num = major * 10000 + minor;
	}
	return true;
}

/* --- Passfile ------------------------------------------------------------------------ */

static void passfile_field(struct util_out *o, const char *value, bool wildcard_allowed)
{
	if (wildcard_allowed && (!value || strcmp(value, "*") == 0)) {
		util_out_char(o, '*');
		return;
	}
	for (const char *c = value; *c; c++) {
		if (*c == ':' || *c == '\\')
			util_out_char(o, '\\');
		util_out_char(o, *c);
	}
}

bool pg_passfile_format_line(const struct pg_passfile_entry *e, char *buf, size_t size)
{
	struct util_out o = { .buf = buf, .size = size };
	const char *fields[] = { e->host, e->port, e->database, e->user, e->password };

	if (size == 0)
		return false;
	buf[0] = '\0';
	if (!e->password)
		return false;
	for (size_t i = 0; i < 5; i++)
		if (fields[i] && strpbrk(fields[i], "\r\n"))
			return false;
	for (size_t i = 0; i < 5; i++) {
		if (i > 0)
			util_out_char(&o, ':');
		passfile_field(&o, fields[i], i < 4);
	}
	return conninfo_done(&o, true);
}

static bool passfile_error(char *err, size_t err_size, const char *what, const char *path)
{
	if (err && err_size > 0)
		snprintf(err, err_size, "%s %s: %s", what, path, strerror(errno));
	return false;
}

static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t) n;
	}
	return true;
}

bool pg_passfile_write(const char *path, const struct pg_passfile_entry *entries, size_t count,
		       char *err, size_t err_size)
{
	char tmp[4096];
	char line[2048];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return passfile_error(err, err_size, "cannot write", path);
	}
	/* All or nothing: check every entry before creating anything.  One
	 * byte is kept for the newline. */
	for (size_t i = 0; i < count; i++)
		if (!pg_passfile_format_line(&entries[i], line, sizeof(line) - 1)) {
			if (err && err_size > 0)
				snprintf(err, err_size,
					 "passfile entry %zu cannot be written (no password, a line break, or too long)",
					 i);
			return false;
		}
	/* A leftover tmp file could have any mode: start from nothing, and let
	 * O_EXCL and O_NOFOLLOW refuse whatever appears in between. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return passfile_error(err, err_size, "cannot remove", tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return passfile_error(err, err_size, "cannot create", tmp);
	/* The umask can only take bits away; make sure of the rest. */
	if (fchmod(fd, 0600) < 0)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		size_t len;
		if (!pg_passfile_format_line(&entries[i], line, sizeof(line) - 1))
			goto fail;
		len = strlen(line);
		line[len++] = '\n';
		if (!write_all(fd, line, len))
			goto fail;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return true;
fail:
	passfile_error(err, err_size, "cannot write", tmp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return false;
}

/* --- Data directory ---------------------------------------------------------------- */

const char *pg_data_dir_state_name(enum pg_data_dir_state state)
{
	switch (state) {
	case PG_DATA_DIR_MISSING:
		return "missing";
	case PG_DATA_DIR_EMPTY:
		return "empty";
	case PG_DATA_DIR_CLUSTER:
		return "cluster";
	case PG_DATA_DIR_OTHER:
		return "other";
	case PG_DATA_DIR_ERROR:
		return "error";
	}
	return "error";
}

static enum pg_data_dir_state data_dir_error(char *err, size_t err_size, const char *what,
					     const char *path)
{
	if (err && err_size > 0)
		snprintf(err, err_size, "%s %s: %s", what, path, strerror(errno));
	return PG_DATA_DIR_ERROR;
}

enum pg_data_dir_state pg_data_dir_state(const char *path, char *err, size_t err_size)
{
	char version[4096];
	struct stat st;
	struct dirent *e;
	bool empty = true;
	DIR *d;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return PG_DATA_DIR_MISSING;
		return data_dir_error(err, err_size, "cannot stat", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return data_dir_error(err, err_size, "not a directory:", path);
	}
	if (snprintf(version, sizeof(version), "%s/PG_VERSION", path) >= (int) sizeof(version)) {
		errno = ENAMETOOLONG;
		return data_dir_error(err, err_size, "cannot look into", path);
	}
	if (stat(version, &st) == 0)
		return S_ISREG(st.st_mode) ? PG_DATA_DIR_CLUSTER : PG_DATA_DIR_OTHER;
	if (errno != ENOENT)
		return data_dir_error(err, err_size, "cannot stat", version);
	d = opendir(path);
	if (!d)
		return data_dir_error(err, err_size, "cannot read", path);
	errno = 0;
	while (empty && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = false;
	if (empty && errno != 0) {
		int saved = errno;
		closedir(d);
		errno = saved;
		return data_dir_error(err, err_size, "cannot read", path);
	}
	closedir(d);
	return empty ? PG_DATA_DIR_EMPTY : PG_DATA_DIR_OTHER;
}
