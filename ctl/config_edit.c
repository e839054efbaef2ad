/*
 * patronictl's apply_config_changes() and patch_config(); see
 * config_edit.h.
 */
#include "ctl/config_edit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/util.h"
#include "ctl/yaml_json.h"

/* set_path_value(): path[0..n) under config, missing levels created as
 * objects (replacing what is not one), levels left empty removed; value
 * NULL deletes. */
static void set_path(json_t *config, char *const *path, size_t n, json_t *value)
{
	json_t *child;

	if (n == 1) {
		if (value == NULL)
			json_object_del(config, path[0]);
		else if (json_object_set(config, path[0], value) != 0)
			xjson(NULL);
		return;
	}
	child = json_object_get(config, path[0]);
	if (!json_is_object(child)) {
		child = xjson(json_object());
		if (json_object_set_new(config, path[0], child) != 0)
			xjson(NULL);
	}
	set_path(child, path + 1, n - 1, value);
	if (json_object_size(child) == 0)
		json_object_del(config, path[0]);
}

/* GUC names may hold dots but never nest: under postgresql.parameters the
 * rest of the path is one name. */
static void set_top(json_t *config, char *const *path, size_t n, json_t *value)
{
	if (n > 3 && strcmp(path[0], "postgresql") == 0 && strcmp(path[1], "parameters") == 0) {
		struct sb name = { 0 };
		char *flat[3];

		for (size_t i = 2; i < n; i++) {
			if (i > 2)
				sb_append_char(&name, '.');
			sb_append(&name, path[i]);
		}
		flat[0] = path[0];
		flat[1] = path[1];
		flat[2] = sb_steal(&name);
		set_path(config, flat, 3, value);
		free(flat[2]);
		return;
	}
	set_path(config, path, n, value);
}

bool config_edit_set(json_t *config, const char *pair, char *err, size_t err_size)
{
	const char *equals = strchr(pair, '=');
	const char *start = pair;
	const char *end = equals;
	char yaml_err[YAML_JSON_ERR_MAX];
	char **path = NULL;
	size_t n = 0;
	bool empty_part = false;
	json_t *value;
	char *key;

	if (equals == NULL) {
		snprintf(err, err_size, "Invalid parameter setting %s", pair);
		return false;
	}
	/* key_path.strip().split('.') */
	while (start < end && isspace((unsigned char) *start))
		start++;
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	key = xstrndup(start, (size_t) (end - start));
	for (char *p = key;;) {
		char *dot = strchr(p, '.');

		if (dot != NULL)
			*dot = '\0';
		path = xrealloc(path, (n + 1) * sizeof(char *));
		path[n++] = p;
		if (*p == '\0')
			empty_part = true;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	value = empty_part ? NULL
			   : yaml_to_json(equals + 1, strlen(equals + 1), yaml_err, sizeof(yaml_err));
	if (empty_part)
		snprintf(err, err_size, "Invalid parameter setting %s: empty key", pair);
	else if (value == NULL)
		snprintf(err, err_size, "Invalid parameter setting %s: %s", pair, yaml_err);
	else
		set_top(config, path, n, json_is_null(value) ? NULL : value);
	json_decref(value);
	free(path);
	free(key);
	return value != NULL;
}

void config_edit_patch(json_t *config, const json_t *patch)
{
	const char *name;
	json_t *value;

	json_object_foreach((json_t *) patch, name, value) {
		json_t *current = json_object_get(config, name);

		if (json_is_null(value)) {
			json_object_del(config, name);
		} else if (json_is_object(value) && json_is_object(current)) {
			config_edit_patch(current, value);
		} else if (json_object_set(config, name, value) != 0) {
			xjson(NULL);
		}
	}
}
