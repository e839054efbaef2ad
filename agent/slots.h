/*
 * Physical replication slots, one per member, as Patroni names and keeps
 * them: the leader holds a slot for every other member so that WAL a replica
 * still needs is never recycled, and drops the slots of members that left.
 * Pure functions; the agent runs the SQL they build.
 */
#ifndef PGHERD_AGENT_SLOTS_H
#define PGHERD_AGENT_SLOTS_H

#include <stdbool.h>
#include <stddef.h>

/* NAMEDATALEN - 1 */
#define SLOT_NAME_MAX 63

/*
 * Patroni's slot_name_from_member_name(): lower case, '-' and '.' become
 * '_', any other character outside [a-z0-9_] becomes "u" and its code
 * point in 4 hex digits, cut to 63 bytes.  out has SLOT_NAME_MAX + 1 bytes.
 */
void slot_name_for_member(const char *member, char out[SLOT_NAME_MAX + 1]);

/*
 * One idempotent SQL script that makes the server's physical slots match
 * `wanted` (slot names as built above): creates the missing ones (reserving
 * WAL at once) and drops every other inactive, non-temporary physical slot.
 * Active slots are left alone: a member streaming from us is not cut off.
 * Returns false when the script does not fit in size.
 */
bool slots_sync_sql(const char *const *wanted, size_t count, char *out, size_t size);

#endif
