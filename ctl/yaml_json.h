/*
 * YAML <-> JSON values, the way patronictl sees them: it reads YAML with
 * PyYAML's safe_load (YAML 1.1: on/off/yes/no are booleans, 0x1F and 0755
 * integers, ~ null) and writes it with safe_dump (block style, keys
 * sorted, strings quoted only where YAML would read them as something
 * else).  Pure: no I/O.
 */
#ifndef PGHERD_CTL_YAML_JSON_H
#define PGHERD_CTL_YAML_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define YAML_JSON_ERR_MAX 256

/*
 * The first YAML document of text as a new JSON value; an empty document
 * gives JSON null.  NULL with a reason in err ("line 3: mapping values are
 * not allowed here") for malformed YAML, a second document, a key that is
 * not a scalar, nesting deeper than 64 levels or more than 1000000 values
 * (aliases count each time they are used).  Values JSON cannot hold
 * (.inf, .nan, timestamps, integers beyond 64 bits) stay strings.
 */
json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_size);

/* The same rules for one plain (unquoted) scalar: "on" gives true, "10"
 * 10, "" and "null" null, anything else a string.  Never NULL. */
json_t *yaml_plain_scalar(const char *text);

/*
 * value as YAML, ending in a newline: safe_dump(value,
 * default_flow_style=flow, allow_unicode=True, width=200).  Block style
 *
 *   loop_wait: 10
 *   postgresql:
 *     parameters:
 *       max_connections: 100
 *
 * or, with flow, "{loop_wait: 10, postgresql: {...}}".  Never NULL.
 */
char *json_to_yaml(const json_t *value, bool flow);

/* Python's repr() of a float, as PyYAML writes it: "0.1", "1.0",
 * "1.0e+20", ".inf".  buf of at least 32 bytes. */
void yaml_float_repr(double value, char *buf, size_t size);

#endif /* PGHERD_CTL_YAML_JSON_H */
