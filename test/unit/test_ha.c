/*
 * HA policy rules, table-driven: each row is a member's tags and what the
 * policy must decide.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent/ha.h"

static const struct {
	const char *tags;	/* JSON object */
	bool candidate;
} candidacy_cases[] = {
	{ "{}", true },
	{ "{\"nofailover\":false}", true },
	{ "{\"nofailover\":true}", false },
	{ "{\"failover_priority\":0}", false },
	{ "{\"failover_priority\":\"0\"}", false },
	{ "{\"failover_priority\":2}", true },
	/* Patroni: an explicit nofailover wins over failover_priority. */
	{ "{\"nofailover\":true,\"failover_priority\":5}", false },
	{ "{\"nofailover\":false,\"failover_priority\":0}", true },
	{ "{\"region\":\"eu\"}", true },
};

static void test_candidacy_follows_patroni_tag_rules(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(candidacy_cases) / sizeof(candidacy_cases[0]); i++) {
		struct member_status status = { 0 };
		json_error_t error;
		status.tags = json_loads(candidacy_cases[i].tags, 0, &error);
		assert_non_null(status.tags);
		struct ha_self self = { .name = "node1", .status = &status };
		struct dcs_cluster cluster = { .connected = true };
		if (ha_wants_candidacy(&self) != candidacy_cases[i].candidate)
			fail_msg("tags %s: candidacy should be %d", candidacy_cases[i].tags,
				 candidacy_cases[i].candidate);
		/* Until PostgreSQL is managed, a candidate may always take the
		 * free lock and a non-candidate never. */
		assert_int_equal(ha_may_take_lock(&cluster, &self), candidacy_cases[i].candidate);
		member_status_clear(&status);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_candidacy_follows_patroni_tag_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
