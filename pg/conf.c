/*
 * Writers for postgresql.conf, pg_hba.conf and standby.signal (see conf.h).
 */
#include "pg/conf.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Settings replication and failover cannot work without.  They win over the
 * user's parameters, as in Patroni; wal_log_hints makes pg_rewind possible
 * even without data checksums.
 */
static const struct {
	const char *name;
	const char *value;
} required_settings[] = {
	{ "wal_level", "replica" },
	{ "hot_standby", "on" },
	{ "max_wal_senders", "10" },
	{ "max_replication_slots", "10" },
	{ "wal_log_hints", "on" },
	{ "wal_keep_size", "'128MB'" },
	/* A standby follows the new primary's timeline after a failover. */
	{ "recovery_target_timeline", "'latest'" },
};

/* Settings pgherd sets itself from the member's configuration. */
static const char *const managed_settings[] = {
	"listen_addresses", "port", "unix_socket_directories", "cluster_name", "hba_file",
	"primary_conninfo", "primary_slot_name", "config_file", "data_directory",
};

struct buffer {
	char *data;
	size_t length;
	size_t capacity;
	bool failed;
};

static void append(struct buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(struct buffer *b, const char *fmt, ...)
{
	va_list ap;
	int needed;

	if (b->failed)
		return;
	va_start(ap, fmt);
	needed = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (needed < 0 || b->length + (size_t) needed + 1 > b->capacity) {
		size_t capacity = b->capacity ? b->capacity : 4096;
		while (needed >= 0 && b->length + (size_t) needed + 1 > capacity)
			capacity *= 2;
		char *grown = needed < 0 ? NULL : realloc(b->data, capacity);
		if (!grown) {
			b->failed = true;
			return;
		}
		b->data = grown;
		b->capacity = capacity;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->length, b->capacity - b->length, fmt, ap);
	va_end(ap);
	b->length += (size_t) needed;
}

/* PostgreSQL GUC names: letters, digits, '_' and '.' (custom classes). */
static bool name_is_valid(const char *name)
{
	if (!*name)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '_' && *p != '.')
			return false;
	return true;
}

static bool is_required(const char *name)
{
	for (size_t i = 0; i < sizeof(required_settings) / sizeof(required_settings[0]); i++)
		if (strcmp(name, required_settings[i].name) == 0)
			return true;
	return false;
}

static bool is_managed(const char *name)
{
	for (size_t i = 0; i < sizeof(managed_settings) / sizeof(managed_settings[0]); i++)
		if (strcmp(name, managed_settings[i]) == 0)
			return true;
	return false;
}

bool pg_conf_format_value(const json_t *value, char *buf, size_t size)
{
	int n;

	if (json_is_true(value))
		n = snprintf(buf, size, "on");
	else if (json_is_false(value))
		n = snprintf(buf, size, "off");
	else if (json_is_integer(value))
		n = snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
	else if (json_is_real(value))
		n = snprintf(buf, size, "%.17g", json_real_value(value));
	else if (json_is_string(value)) {
		const char *s = json_string_value(value);
		size_t used = 0;
		if (size < 3)
			return false;
		buf[used++] = '\'';
		for (; *s; s++) {
			/* Newlines would end the line: PostgreSQL has no escape
			 * for them in a value, so refuse the value. */
			if (*s == '\n' || *s == '\r')
				return false;
			if (used + 3 >= size)
				return false;
			if (*s == '\'')
				buf[used++] = '\'';
			buf[used++] = *s;
		}
		buf[used++] = '\'';
		buf[used] = '\0';
		return true;
	} else
		return false;
	return n >= 0 && (size_t) n < size;
}

/* Append the parameters of one source that neither HA nor pgherd owns. */
static bool append_parameters(struct buffer *b, const json_t *parameters, const json_t *overrides,
			      const char *source, char *err, size_t err_size)
{
	const char *name;
	json_t *value;
	char formatted[4096];

	if (!parameters)
		return true;
	if (!json_is_object(parameters)) {
		snprintf(err, err_size, "%s parameters must be a map", source);
		return false;
	}
	json_object_foreach((json_t *) parameters, name, value) {
		if (is_required(name) || is_managed(name))
			continue;
		if (overrides && json_object_get(overrides, name))
			continue;	/* the member's own value wins */
		if (!name_is_valid(name)) {
			snprintf(err, err_size, "%s parameter \"%.64s\": not a valid parameter name",
				 source, name);
			return false;
		}
		if (!pg_conf_format_value(value, formatted, sizeof(formatted))) {
			snprintf(err, err_size,
				 "%s parameter %.64s: value must be a string, number or boolean on one line",
				 source, name);
			return false;
		}
		append(b, "%s = %s\n", name, formatted);
	}
	return true;
}

bool pg_conf_write_file(const char *path, const char *content, int mode, char *err,
			size_t err_size)
{
	char tmp[4096];
	size_t length = strlen(content);
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.pgherd-tmp", path) >= (int) sizeof(tmp)) {
		snprintf(err, err_size, "path too long: %.200s", path);
		return false;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, err_size, "cannot create %.200s: %s", tmp, strerror(errno));
		return false;
	}
	for (size_t written = 0; written < length;) {
		ssize_t n = write(fd, content + written, length - written);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_size, "cannot write %.200s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return false;
		}
		written += (size_t) n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		snprintf(err, err_size, "cannot sync %.200s: %s", tmp, strerror(errno));
		unlink(tmp);
		return false;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, err_size, "cannot rename %.200s: %s", tmp, strerror(errno));
		unlink(tmp);
		return false;
	}
	/* The rename is durable only once the directory is synced. */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		int dirfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd >= 0) {
			(void) fsync(dirfd);
			close(dirfd);
		}
	}
	return true;
}

static bool quote_into(const char *text, char *buf, size_t size)
{
	json_t *value = json_string(text);
	bool ok = value && pg_conf_format_value(value, buf, size);
	json_decref(value);
	return ok;
}

bool pg_conf_write_postgresql(const struct pg_conf_settings *s, char *err, size_t err_size)
{
	struct buffer b = { 0 };
	char path[4096];
	char quoted[4096];
	bool ok;

	append(&b, "# Written by pgherd before every start; edits here are lost.\n"
		   "# Set parameters in the pgherd configuration (postgresql.parameters)\n"
		   "# or in the cluster's dynamic configuration instead.\n\n");
	append(&b, "# The cluster's parameters\n");
	if (!append_parameters(&b, s->cluster_parameters, s->local_parameters, "cluster", err,
			       err_size))
		goto fail;
	append(&b, "\n# This member's parameters\n");
	if (!append_parameters(&b, s->local_parameters, NULL, "postgresql", err, err_size))
		goto fail;

	append(&b, "\n# Required by pgherd for replication and failover\n");
	for (size_t i = 0; i < sizeof(required_settings) / sizeof(required_settings[0]); i++)
		append(&b, "%s = %s\n", required_settings[i].name, required_settings[i].value);

	append(&b, "\n# This member\n");
	if (!quote_into(s->listen_addresses ? s->listen_addresses : "127.0.0.1", quoted,
			sizeof(quoted))) {
		snprintf(err, err_size, "listen_addresses cannot be written");
		goto fail;
	}
	append(&b, "listen_addresses = %s\nport = %d\n", quoted, s->port);
	if (s->socket_dir) {
		if (!quote_into(s->socket_dir, quoted, sizeof(quoted))) {
			snprintf(err, err_size, "socket directory cannot be written");
			goto fail;
		}
		append(&b, "unix_socket_directories = %s\n", quoted);
	}
	if (s->cluster_name && quote_into(s->cluster_name, quoted, sizeof(quoted)))
		append(&b, "cluster_name = %s\n", quoted);
	if (s->synchronous_standby_names) {
		/* Later lines win in postgresql.conf: this one is last but for
		 * the standby settings. */
		if (!quote_into(s->synchronous_standby_names, quoted, sizeof(quoted))) {
			snprintf(err, err_size, "synchronous_standby_names cannot be written");
			goto fail;
		}
		append(&b, "synchronous_standby_names = %s\n", quoted);
	}
	if (s->primary_conninfo) {
		if (!quote_into(s->primary_conninfo, quoted, sizeof(quoted))) {
			snprintf(err, err_size, "primary_conninfo cannot be written");
			goto fail;
		}
		append(&b, "primary_conninfo = %s\n", quoted);
		if (s->primary_slot_name && quote_into(s->primary_slot_name, quoted, sizeof(quoted)))
			append(&b, "primary_slot_name = %s\n", quoted);
	}
	if (b.failed) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/postgresql.conf", s->data_dir);
	ok = pg_conf_write_file(path, b.data, 0600, err, err_size);
	free(b.data);
	return ok;
fail:
	free(b.data);
	return false;
}

bool pg_conf_write_hba(const struct pg_conf_settings *s, char *err, size_t err_size)
{
	struct buffer b = { 0 };
	char path[4096];
	bool ok;

	/*
	 * The agent and local tools reach PostgreSQL over the unix socket in a
	 * directory only the postgres user can enter, hence trust there;
	 * replication from other members needs the configured password.
	 */
	append(&b, "# Written by pgherd before every start; edits here are lost.\n"
		   "# Add lines with postgresql.pg_hba in the pgherd configuration.\n"
		   "local all all trust\n"
		   "host replication %s 127.0.0.1/32 scram-sha-256\n"
		   "host replication %s ::1/128 scram-sha-256\n"
		   "# pg_rewind reads a new primary as superuser over a normal connection.\n"
		   "host all %s 127.0.0.1/32 scram-sha-256\n"
		   "host all %s ::1/128 scram-sha-256\n",
		   s->replication_user ? s->replication_user : "replicator",
		   s->replication_user ? s->replication_user : "replicator",
		   s->superuser ? s->superuser : "postgres", s->superuser ? s->superuser : "postgres");
	for (size_t i = 0; i < s->hba_line_count; i++) {
		if (strchr(s->hba_lines[i], '\n')) {
			snprintf(err, err_size, "pg_hba line %zu spans several lines", i + 1);
			free(b.data);
			return false;
		}
		append(&b, "%s\n", s->hba_lines[i]);
	}
	if (b.failed) {
		snprintf(err, err_size, "out of memory");
		free(b.data);
		return false;
	}
	snprintf(path, sizeof(path), "%s/pg_hba.conf", s->data_dir);
	ok = pg_conf_write_file(path, b.data, 0600, err, err_size);
	free(b.data);
	return ok;
}

bool pg_conf_set_standby(const char *data_dir, bool standby, char *err, size_t err_size)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/standby.signal", data_dir);
	if (standby)
		return pg_conf_write_file(path, "", 0600, err, err_size);
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, err_size, "cannot remove %.200s: %s", path, strerror(errno));
		return false;
	}
	return true;
}
