/*
 * Synchronous replication, step by step: which standbys are chosen, and
 * that `sync` never names one PostgreSQL does not yet wait for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/sync.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The names of a decision, comma-joined, for comparing with a row. */
static const char *joined(const struct sync_decision *d)
{
	static char text[256];
	text[0] = '\0';
	for (size_t i = 0; i < d->n_names; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s", i ? "," : "",
			 d->names[i]);
	return text;
}

static const struct sync_replica both_streaming[] = {
	{ .name = "node2", .streaming = true, .flush_lsn = 100 },
	{ .name = "node3", .streaming = true, .flush_lsn = 200 },
};
static const struct sync_replica node2_synchronous[] = {
	{ .name = "node2", .streaming = true, .synchronous = true, .flush_lsn = 100 },
	{ .name = "node3", .streaming = true, .flush_lsn = 200 },
};
static const struct sync_replica node3_nosync[] = {
	{ .name = "node2", .streaming = true, .flush_lsn = 100 },
	{ .name = "node3", .streaming = true, .nosync = true, .flush_lsn = 900 },
};
static const struct sync_replica node2_gone[] = {
	{ .name = "node3", .streaming = true, .flush_lsn = 200 },
};
static const char *const just_node2[] = { "node2" };
static const char *const just_node3[] = { "node3" };

struct sync_case {
	const char *title;
	struct sync_inputs in;
	enum sync_step step;
	const char *names;
	bool star;
};

#define ENABLED .enabled = true, .node_count = 1
#define REPLICAS(r) .replicas = r, .n_replicas = N(r)
#define PUBLISHED(p) .published_is_ours = true, .published = p, .n_published = N(p)
#define CONFIGURED(c) .configured_set = true, .configured = c, .n_configured = N(c)

static const struct sync_case cases[] = {
	{ "off and never on: nothing", { REPLICAS(both_streaming) }, SYNC_NOTHING, "", false },
	{ "turned off: clear", { REPLICAS(both_streaming), PUBLISHED(just_node2), CONFIGURED(just_node2) },
	  SYNC_CLEAR, "", false },
	{ "a new leader claims sync empty first", { ENABLED, REPLICAS(both_streaming) },
	  SYNC_PUBLISH, "", false },
	{ "then names the most advanced standby in synchronous_standby_names",
	  { ENABLED, REPLICAS(both_streaming), .published_is_ours = true }, SYNC_CONFIGURE, "node3", false },
	{ "not in sync before PostgreSQL waits for it",
	  { ENABLED, REPLICAS(both_streaming), .published_is_ours = true, CONFIGURED(just_node3) },
	  SYNC_NOTHING, "", false },
	{ "a standby already synchronous is kept over a more advanced one",
	  { ENABLED, REPLICAS(node2_synchronous), .published_is_ours = true },
	  SYNC_CONFIGURE, "node2", false },
	{ "published once PostgreSQL reports it synchronous",
	  { ENABLED, REPLICAS(node2_synchronous), .published_is_ours = true, CONFIGURED(just_node2) },
	  SYNC_PUBLISH, "node2", false },
	{ "steady", { ENABLED, REPLICAS(node2_synchronous), PUBLISHED(just_node2), CONFIGURED(just_node2) },
	  SYNC_NOTHING, "", false },
	{ "nosync is never chosen",
	  { ENABLED, REPLICAS(node3_nosync), .published_is_ours = true }, SYNC_CONFIGURE, "node2", false },
	{ "a standby gone leaves sync before synchronous_standby_names",
	  { ENABLED, REPLICAS(node2_gone), PUBLISHED(just_node2), CONFIGURED(just_node2) },
	  SYNC_PUBLISH, "", false },
	{ "... then synchronous_standby_names moves on",
	  { ENABLED, REPLICAS(node2_gone), .published_is_ours = true, CONFIGURED(just_node2) },
	  SYNC_CONFIGURE, "node3", false },
	{ "synchronous_node_count 2: both",
	  { .enabled = true, .node_count = 2, REPLICAS(both_streaming), .published_is_ours = true },
	  SYNC_CONFIGURE, "node2,node3", false },
	{ "no standby, not strict: asynchronous",
	  { ENABLED, .published_is_ours = true, CONFIGURED(just_node2) }, SYNC_CONFIGURE, "", false },
	{ "no standby, strict: every commit waits",
	  { ENABLED, .strict = true, .published_is_ours = true, CONFIGURED(just_node2) },
	  SYNC_CONFIGURE, "", true },
	{ "strict and waiting: steady",
	  { ENABLED, .strict = true, .published_is_ours = true, .configured_set = true,
	    .configured_star = true }, SYNC_NOTHING, "", false },
	{ "strict, a standby comes back: named again",
	  { ENABLED, .strict = true, REPLICAS(node2_gone), .published_is_ours = true,
	    .configured_set = true, .configured_star = true }, SYNC_CONFIGURE, "node3", false },
};

static void test_sync_steps(void **state)
{
	(void) state;
	int failures = 0;

	for (size_t i = 0; i < N(cases); i++) {
		struct sync_decision d = sync_decide(&cases[i].in);
		if (d.step == cases[i].step && strcmp(joined(&d), cases[i].names) == 0 &&
		    d.star == cases[i].star)
			continue;
		print_error("row %zu (%s): got step %d [%s] star %d\n", i, cases[i].title, d.step,
			    joined(&d), d.star);
		failures++;
	}
	if (failures)
		fail_msg("%d rows decided otherwise", failures);
}

static void test_standby_names_syntax(void **state)
{
	(void) state;
	struct sync_decision d = { .step = SYNC_CONFIGURE, .n_names = 2, .names = { "a", "b-c" } };
	char text[64];

	assert_true(sync_standby_names(&d, text, sizeof(text)));
	assert_string_equal(text, "2 (\"a\",\"b-c\")");
	d.n_names = 0;
	assert_true(sync_standby_names(&d, text, sizeof(text)));
	assert_string_equal(text, "");
	d.star = true;
	assert_true(sync_standby_names(&d, text, sizeof(text)));
	assert_string_equal(text, "*");
	d.star = false;
	d.n_names = 2;
	assert_false(sync_standby_names(&d, text, 8));
}

/* A replica (node2) about to restart: may it stop PostgreSQL yet? */
struct release_case {
	const char *title;
	struct sync_release_inputs in;
	enum sync_release want;
};

static const char *const node2_and_node3[] = { "node2", "node3" };

#define ME .name = "node2", .node_count = 1
#define LED_BY_NODE1 .leader = "node1", .sync_leader = "node1"
#define SYNC(p) .sync_standbys = p, .n_sync_standbys = N(p)

static const struct release_case release_cases[] = {
	{ "named in sync: wait", { ME, LED_BY_NODE1, SYNC(just_node2), .n_others = 1 },
	  SYNC_RELEASE_WAIT },
	{ "taken out of sync, successor not named yet: wait",
	  { ME, LED_BY_NODE1, .n_others = 1 }, SYNC_RELEASE_WAIT },
	{ "another standby named: released", { ME, LED_BY_NODE1, SYNC(just_node3), .n_others = 1 },
	  SYNC_RELEASE_RELEASED },
	{ "synchronous_node_count 1: one other named is enough",
	  { ME, LED_BY_NODE1, SYNC(just_node3), .n_others = 2 }, SYNC_RELEASE_RELEASED },
	{ "no other standby can take over: go",
	  { ME, LED_BY_NODE1, .n_others = 0 }, SYNC_RELEASE_NO_OTHER_STANDBY },
	{ "synchronous_node_count 2, one of two others named: wait",
	  { .name = "node2", .node_count = 2, LED_BY_NODE1, SYNC(just_node3), .n_others = 2 },
	  SYNC_RELEASE_WAIT },
	{ "synchronous_node_count 2, the only other named: released",
	  { .name = "node2", .node_count = 2, LED_BY_NODE1, SYNC(just_node3), .n_others = 1 },
	  SYNC_RELEASE_RELEASED },
	{ "synchronous_node_count 2, still named with another: wait",
	  { .name = "node2", .node_count = 2, LED_BY_NODE1, SYNC(node2_and_node3), .n_others = 1 },
	  SYNC_RELEASE_WAIT },
	{ "no leader: go", { ME, .sync_leader = "node1", SYNC(just_node2) }, SYNC_RELEASE_NO_LEADER },
	{ "we lead: go", { ME, .leader = "node2", .sync_leader = "node1", SYNC(just_node2) },
	  SYNC_RELEASE_NO_LEADER },
	{ "no sync znode: go", { ME, .leader = "node1", .n_others = 1 }, SYNC_RELEASE_NO_SYNC },
	{ "sync of an earlier leader: go",
	  { ME, .leader = "node3", .sync_leader = "node1", SYNC(just_node2) }, SYNC_RELEASE_NO_SYNC },
};

static void test_release_before_restart(void **state)
{
	(void) state;
	int failures = 0;

	for (size_t i = 0; i < N(release_cases); i++) {
		enum sync_release got = sync_release_state(&release_cases[i].in);
		if (got == release_cases[i].want)
			continue;
		print_error("row %zu (%s): got %s, want %s\n", i, release_cases[i].title,
			    sync_release_name(got), sync_release_name(release_cases[i].want));
		failures++;
	}
	if (failures)
		fail_msg("%d rows decided otherwise", failures);
	assert_string_equal(sync_release_name(SYNC_RELEASE_NO_OTHER_STANDBY), "no_other_standby");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_steps),
		cmocka_unit_test(test_standby_names_syntax),
		cmocka_unit_test(test_release_before_restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
