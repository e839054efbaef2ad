/*
 * Changes to the dynamic configuration (/config) the way patronictl's
 * edit-config makes them, as pure functions over JSON objects:
 *
 *   -s loop_wait=5               set a key (the value is YAML: 5 is a number)
 *   -s postgresql.use_slots=off  nested keys by dots; missing levels created
 *   -s ttl=null                  null (or nothing) deletes; emptied levels go
 *   -p max_connections=200       postgresql.parameters.max_connections
 *   --apply / --replace FILE     YAML merged in (null deletes)
 *
 * Under postgresql.parameters the rest of the path is one name:
 * -p pg_stat_statements.max=1000 sets "pg_stat_statements.max".
 */
#ifndef PGHERD_CTL_CONFIG_EDIT_H
#define PGHERD_CTL_CONFIG_EDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* "key.path=VALUE" into config (an object).  False, config untouched,
 * with a reason in err, for a pair without '=' or an empty key, or a
 * value that is not YAML. */
bool config_edit_set(json_t *config, const char *pair, char *err, size_t err_size);

/* patronictl's patch_config(): merge patch (an object) into config;
 * null deletes, objects merge key by key, anything else replaces. */
void config_edit_patch(json_t *config, const json_t *patch);

#endif /* PGHERD_CTL_CONFIG_EDIT_H */
