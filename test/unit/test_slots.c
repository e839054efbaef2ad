/*
 * Replication slot names (as Patroni derives them from member names) and
 * the script that keeps a server's physical slots in line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/slots.h"

static void test_slot_names_follow_patroni(void **state)
{
	(void) state;
	static const struct {
		const char *member, *slot;
	} cases[] = {
		{ "node1", "node1" },
		{ "postgresql-0", "postgresql_0" },
		{ "pg.example.com", "pg_example_com" },
		{ "Node_A", "node_a" },
		{ "a b", "au0020b" },
		{ "x/y", "xu002fy" },
		{ "", "" },
	};
	char slot[SLOT_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		slot_name_for_member(cases[i].member, slot);
		assert_string_equal(slot, cases[i].slot);
	}
}

static void test_slot_names_are_cut_to_63_bytes(void **state)
{
	(void) state;
	char member[200], slot[SLOT_NAME_MAX + 1];

	memset(member, 'a', sizeof(member) - 1);
	member[sizeof(member) - 1] = '\0';
	slot_name_for_member(member, slot);
	assert_int_equal(strlen(slot), 63);
	/* An escape that does not fit whole is cut too, never overflowing. */
	memset(member, '!', sizeof(member) - 1);
	slot_name_for_member(member, slot);
	assert_int_equal(strlen(slot), 63);
	assert_memory_equal(slot, "u0021u0021", 10);
}

static void test_sync_script_creates_wanted_and_drops_inactive_others(void **state)
{
	(void) state;
	const char *wanted[] = { "node2", "node3" };
	char sql[2048];

	assert_true(slots_sync_sql(wanted, 2, sql, sizeof(sql)));
	assert_non_null(strstr(sql, "pg_create_physical_replication_slot(n, true)"));
	assert_non_null(strstr(sql, "ARRAY['node2','node3']::name[]"));
	assert_non_null(strstr(sql, "pg_drop_replication_slot(slot_name)"));
	/* Only inactive, permanent, physical slots are dropped. */
	assert_non_null(strstr(sql, "slot_type = 'physical' AND NOT active AND NOT temporary"));
}

static void test_sync_script_with_no_member_drops_all_inactive(void **state)
{
	(void) state;
	char sql[2048];

	assert_true(slots_sync_sql(NULL, 0, sql, sizeof(sql)));
	assert_non_null(strstr(sql, "ARRAY[]::name[]"));
}

static void test_sync_script_refuses_to_be_cut(void **state)
{
	(void) state;
	const char *wanted[] = { "node2" };
	char sql[64];

	assert_false(slots_sync_sql(wanted, 1, sql, sizeof(sql)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slot_names_follow_patroni),
		cmocka_unit_test(test_slot_names_are_cut_to_63_bytes),
		cmocka_unit_test(test_sync_script_creates_wanted_and_drops_inactive_others),
		cmocka_unit_test(test_sync_script_with_no_member_drops_all_inactive),
		cmocka_unit_test(test_sync_script_refuses_to_be_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
