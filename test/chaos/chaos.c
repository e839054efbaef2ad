/*
 * The chaos runner: `make chaos`, or build/test/chaos/chaos [options].
 * Injects every fault once, then a loop of random faults, while a writer
 * commits and a detector looks for two writable members; prints one line
 * per fault and the totals table.  See docs/chaos.md.
 *
 * With --synchronous the cluster runs in synchronous mode (--strict: and
 * synchronous_mode_strict), and no acknowledged commit may be lost at all.
 *
 * Exit status: 0 when every fault settled with no split-brain time and no
 * lost commit beyond maximum_lag_on_failover (none at all in synchronous
 * mode), 1 otherwise, 2 on bad usage,
 * 77 when the machine cannot run it (not root, no cgroup v2 or BPF).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test/chaos/engine.h"
#include "test/harness/harness.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: chaos [--rounds N] [--seed N] [--only FAULT,...] [--no-each] [--minutes M]\n"
		"             [--session-ms MS] [--synchronous [--strict]] [--quiet] [--list]\n"
		"  --rounds N    random faults after the first pass (default 40)\n"
		"  --no-each     skip the first pass (each fault once, in order)\n"
		"  --only F,...  use only these faults (see --list)\n"
		"  --seed N      the random choices (default: the time)\n"
		"  --minutes M   start no fault after M minutes minus one (default 14)\n"
		"  --session-ms  the agents' ZooKeeper session timeout (default 3000)\n"
		"  --synchronous synchronous_mode (synchronous_node_count 1): no commit may be lost\n"
		"  --strict      with --synchronous: synchronous_mode_strict too\n"
		"  --quiet       one line per fault, no steps\n");
}

int main(int argc, char **argv)
{
	struct chaos_config config = chaos_default_config();
	int rounds = 40;
	bool each = true;
	double minutes = 14;
	bool allowed[CHAOS_FAULT_COUNT];
	int n_allowed = CHAOS_FAULT_COUNT;
	bool skip;

	config.seed = (unsigned) time(NULL);
	config.verbose = true;
	for (int f = 0; f < CHAOS_FAULT_COUNT; f++)
		allowed[f] = true;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *value = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(arg, "--list") == 0) {
			for (int f = 0; f < CHAOS_FAULT_COUNT; f++)
				printf("%-26s %s\n", chaos_fault_name((enum chaos_fault) f),
				       chaos_fault_title((enum chaos_fault) f));
			return 0;
		} else if (strcmp(arg, "--no-each") == 0) {
			each = false;
		} else if (strcmp(arg, "--quiet") == 0) {
			config.verbose = false;
		} else if (strcmp(arg, "--synchronous") == 0) {
			config.synchronous = true;
		} else if (strcmp(arg, "--strict") == 0) {
			config.strict = true;
		} else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (value && strcmp(arg, "--rounds") == 0) {
			rounds = atoi(value);
			i++;
		} else if (value && strcmp(arg, "--seed") == 0) {
			config.seed = (unsigned) strtoul(value, NULL, 10);
			i++;
		} else if (value && strcmp(arg, "--minutes") == 0) {
			minutes = atof(value);
			i++;
		} else if (value && strcmp(arg, "--session-ms") == 0) {
			config.session_timeout_ms = atoi(value);
			i++;
		} else if (value && strcmp(arg, "--only") == 0) {
			char list[1024];
			snprintf(list, sizeof(list), "%s", value);
			n_allowed = 0;
			for (int f = 0; f < CHAOS_FAULT_COUNT; f++)
				allowed[f] = false;
			for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
				int f = chaos_fault_by_name(name);
				if (f < 0) {
					fprintf(stderr, "chaos: unknown fault %s (see --list)\n", name);
					return 2;
				}
				if (!allowed[f])
					n_allowed++;
				allowed[f] = true;
			}
			i++;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (n_allowed == 0 || (config.strict && !config.synchronous)) {
		usage(stderr);
		return 2;
	}

	int64_t started = harness_now_ms();
	int64_t budget_ms = (int64_t) (minutes * 60000) - 60000;
	printf("chaos: %s, seed %u, %s%d random rounds, at most %.1f minutes\n",
	       !config.synchronous ? "asynchronous replication"
	       : config.strict	   ? "synchronous mode, strict (synchronous_node_count 1)"
				   : "synchronous mode (synchronous_node_count 1)",
	       config.seed, each ? "each fault once, then " : "", rounds, minutes);
	fflush(stdout);
	struct chaos *c = chaos_start(&config, &skip);
	if (!c) {
		harness_teardown();
		return skip ? 77 : 1;
	}
	bool stuck = false;
	int done = 0;
	if (each)
		for (int f = 0; f < CHAOS_FAULT_COUNT && !stuck; f++) {
			if (!allowed[f])
				continue;
			if (harness_now_ms() - started > budget_ms)
				break;
			stuck = !chaos_inject(c, (enum chaos_fault) f, NULL);
			done++;
		}
	int loop = 0;
	while (loop < rounds && !stuck && harness_now_ms() - started <= budget_ms) {
		enum chaos_fault f = chaos_random_fault(c);
		if (!allowed[f])
			continue;
		stuck = !chaos_inject(c, f, NULL);
		loop++;
		done++;
	}
	if (loop < rounds && !stuck)
		printf("chaos: the time budget allowed %d of %d random rounds\n", loop, rounds);
	chaos_finish(c);
	chaos_print_table(c, stdout);

	struct chaos_totals t;
	chaos_totals(c, -1, &t);
	int failures = 0;
	int count;
	const struct chaos_round *r = chaos_rounds(c, &count);
	for (int k = 0; k < count; k++) {
		bool bad = !r[k].settled || r[k].two_writable_ms > 0 || strstr(r[k].detail, "FINDING") ||
			   chaos_round_lost_too_many(&r[k]);
		if (bad) {
			failures++;
			printf("FINDING round %d %s: %s%s%s%s%s | %s\n", r[k].number,
			       chaos_fault_name(r[k].fault), r[k].settled ? "" : "did not settle; ",
			       r[k].two_writable_ms > 0 ? "two writable members; " : "",
			       r[k].lost > 0 && r[k].synchronous ? "lost commits in synchronous mode; " : "",
			       !r[k].synchronous && r[k].lost_lag_bytes > r[k].allowed_lag_bytes
				       ? "lost commits beyond maximum_lag_on_failover; "
				       : "",
			       r[k].lost > 0 && r[k].failovers == 0 ? "lost commits without failover; "
								    : "",
			       r[k].detail);
		}
	}
	printf("chaos: %d faults (%d random) in %.1f minutes, seed %u: %d with findings\n", done,
	       loop, (double) (harness_now_ms() - started) / 60000.0, config.seed, failures);
	chaos_stop(c);
	harness_teardown();
	return failures || stuck ? 1 : 0;
}
