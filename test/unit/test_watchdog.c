/*
 * The watchdog process (agent/watchdog.h) against real processes: a fake
 * postmaster (a child of this test) with fake backends that, as
 * PostgreSQL's do, each run in a session of their own.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/log.h"
#include "agent/watchdog.h"

#define BACKENDS 3

struct fake_postgres {
	pid_t postmaster;
	pid_t backends[BACKENDS];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Alive and not a zombie (a killed child of ours stays one until reaped). */
static bool alive(pid_t pid)
{
	char path[64], text[512], *after;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	after = strrchr(text, ')');
	return after && after[1] == ' ' && after[2] != 'Z' && after[2] != 'X';
}

static bool gone_within(pid_t pid, int ms)
{
	for (int64_t until = now_ms() + ms; now_ms() < until; sleep_ms(10))
		if (!alive(pid))
			return true;
	return !alive(pid);
}

/* Every fake postmaster started, so that a failed test leaves none behind. */
static pid_t started[16];
static size_t n_started;

/* The postmaster writes its backends' pids to a pipe, then waits. */
static void start_fake_postgres(struct fake_postgres *pg)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	pg->postmaster = fork();
	assert_true(pg->postmaster >= 0);
	if (pg->postmaster == 0) {
		/* As after exec: nothing of ours (the watchdog's pipe above all:
		 * the process would never see our end close). */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != fds[1])
				(void) close(fd);
		(void) setsid();
		for (int i = 0; i < BACKENDS; i++) {
			pid_t backend = fork();
			if (backend == 0) {
				(void) setsid();
				for (;;)
					pause();
			}
			if (write(fds[1], &backend, sizeof(backend)) != (ssize_t) sizeof(backend))
				_exit(1);
		}
		close(fds[1]);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (n_started < sizeof(started) / sizeof(started[0]))
		started[n_started++] = pg->postmaster;
	for (int i = 0; i < BACKENDS; i++)
		assert_int_equal(read(fds[0], &pg->backends[i], sizeof(pid_t)), (ssize_t) sizeof(pid_t));
	close(fds[0]);
}

/* Kills what is left and reaps the postmaster (its backends go to init). */
static void stop_fake_postgres(struct fake_postgres *pg)
{
	for (int i = 0; i < BACKENDS; i++)
		(void) kill(pg->backends[i], SIGKILL);
	(void) kill(pg->postmaster, SIGKILL);
	(void) waitpid(pg->postmaster, NULL, 0);
}

static bool all_gone_within(const struct fake_postgres *pg, int ms)
{
	bool gone = gone_within(pg->postmaster, ms);
	for (int i = 0; i < BACKENDS; i++)
		gone = gone_within(pg->backends[i], 2000) && gone;
	return gone;
}

/* The watchdog process is our child: reap it once it has exited. */
static void reap_watchdog(pid_t pid)
{
	assert_true(gone_within(pid, 5000));
	(void) waitpid(pid, NULL, 0);
}

static int setup(void **state)
{
	(void) state;
	static FILE *sink;
	if (!sink)
		sink = getenv("WATCHDOG_TEST_LOG") ? stderr : fopen("/dev/null", "w");
	log_set_stream(sink);
	/* Orphaned backends come to us, not to init, so the test can tell a
	 * killed one (a zombie) from a running one the same way either way. */
	(void) prctl(PR_SET_CHILD_SUBREAPER, 1);
	return 0;
}

static void reap_orphans(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* After a failed assertion: what a test left running (its backends are
 * orphans, ours as the subreaper, and go with their sessions). */
static int teardown(void **state)
{
	(void) state;
	for (size_t i = 0; i < n_started; i++) {
		(void) watchdog_kill_postmaster(started[i]);
		(void) waitpid(started[i], NULL, 0);
	}
	n_started = 0;
	reap_orphans();
	return 0;
}

static void test_kill_takes_the_postmaster_and_every_backend(void **state)
{
	(void) state;
	struct fake_postgres pg;

	start_fake_postgres(&pg);
	assert_int_equal(watchdog_kill_postmaster(pg.postmaster), 1 + BACKENDS);
	assert_true(all_gone_within(&pg, 2000));
	stop_fake_postgres(&pg);
	reap_orphans();
}

/* A fake PostgreSQL and a watchdog process of ours to guard it. */
struct guarded {
	struct fake_postgres pg;
	struct watchdog *w;	/* NULL once the test freed it */
	pid_t process;
};

static void start_guarded(struct guarded *g)
{
	g->w = watchdog_new(NULL);
	assert_non_null(g->w);
	g->process = watchdog_pid(g->w);
	start_fake_postgres(&g->pg);
}

static void finish_guarded(struct guarded *g)
{
	watchdog_free(g->w);
	reap_watchdog(g->process);
	stop_fake_postgres(&g->pg);
	reap_orphans();
}

static bool all_alive(const struct fake_postgres *pg)
{
	bool all = alive(pg->postmaster);
	for (int i = 0; i < BACKENDS; i++)
		all = all && alive(pg->backends[i]);
	return all;
}

static void test_fires_at_the_deadline_not_before(void **state)
{
	(void) state;
	struct guarded g;

	start_guarded(&g);
	assert_true(watchdog_arm(g.w, g.pg.postmaster, now_ms() + 400));
	assert_true(watchdog_is_armed(g.w));
	sleep_ms(200);
	assert_true(alive(g.pg.postmaster));
	assert_true(all_gone_within(&g.pg, 3000));
	watchdog_disarm(g.w);
	finish_guarded(&g);
}

static void test_renewing_moves_the_deadline(void **state)
{
	(void) state;
	struct guarded g;

	start_guarded(&g);
	/* Renewed every 100 ms for a second with 300 ms ahead each time, as a
	 * renewed lease moves on: it never fires. */
	for (int i = 0; i < 10; i++) {
		assert_true(watchdog_arm(g.w, g.pg.postmaster, now_ms() + 300));
		sleep_ms(100);
	}
	assert_true(all_alive(&g.pg));
	/* Then the renewals stop (a frozen agent): it fires. */
	assert_true(all_gone_within(&g.pg, 3000));
	finish_guarded(&g);
}

static void test_disarmed_it_leaves_postgres_alone(void **state)
{
	(void) state;
	struct guarded g;

	start_guarded(&g);
	assert_true(watchdog_arm(g.w, g.pg.postmaster, now_ms() + 300));
	watchdog_disarm(g.w);
	assert_false(watchdog_is_armed(g.w));
	sleep_ms(800);
	assert_true(all_alive(&g.pg));
	/* Disarmed, the process exits with the agent. */
	watchdog_free(g.w);
	g.w = NULL;
	reap_watchdog(g.process);
	assert_true(alive(g.pg.postmaster));
	finish_guarded(&g);
}

static void test_an_agent_that_dies_armed_is_fenced_at_the_deadline(void **state)
{
	(void) state;
	struct guarded g;

	start_guarded(&g);
	assert_true(watchdog_arm(g.w, g.pg.postmaster, now_ms() + 500));
	watchdog_free(g.w);	/* our end closes, as when the agent is killed */
	g.w = NULL;
	sleep_ms(200);
	assert_true(alive(g.pg.postmaster));
	assert_true(all_gone_within(&g.pg, 3000));
	finish_guarded(&g);
}

static void test_a_postmaster_gone_before_the_deadline_is_skipped(void **state)
{
	(void) state;
	struct fake_postgres first, second;
	struct watchdog *w = watchdog_new(NULL);
	pid_t process;

	assert_non_null(w);
	process = watchdog_pid(w);
	start_fake_postgres(&first);
	assert_true(watchdog_arm(w, first.postmaster, now_ms() + 200));
	stop_fake_postgres(&first);	/* it stopped on its own */
	sleep_ms(500);
	/* The process is still there and still works. */
	start_fake_postgres(&second);
	assert_true(watchdog_arm(w, second.postmaster, now_ms() + 200));
	assert_true(all_gone_within(&second, 3000));
	assert_int_equal(watchdog_pid(w), process);
	watchdog_free(w);
	reap_watchdog(process);
	stop_fake_postgres(&second);
	reap_orphans();
}

/*
 * An agent killed while its watchdog was armed on a running postmaster, and
 * the next agent started beside it: the orphaned process, and the next
 * agent's watchdog, which found it through the pid file.
 */
struct takeover {
	struct fake_postgres pg;
	char pid_file[128];
	pid_t orphan;
	struct watchdog *next;
};

static void start_takeover(struct takeover *t, int orphan_deadline_in_ms)
{
	struct watchdog *old;

	snprintf(t->pid_file, sizeof(t->pid_file), "/tmp/pgherd-test-watchdog-%d.pid",
		 (int) getpid());
	start_fake_postgres(&t->pg);
	old = watchdog_new(t->pid_file);
	assert_non_null(old);
	t->orphan = watchdog_pid(old);
	sleep_ms(100);	/* until it has named itself, as one that ran for a while has */
	assert_true(watchdog_arm(old, t->pg.postmaster, now_ms() + orphan_deadline_in_ms));
	watchdog_free(old);	/* that agent was killed; its postmaster runs on */
	t->next = watchdog_new(t->pid_file);
	assert_non_null(t->next);
	assert_int_not_equal(watchdog_pid(t->next), t->orphan);
}

static void finish_takeover(struct takeover *t)
{
	pid_t process = watchdog_pid(t->next);

	watchdog_disarm(t->next);
	watchdog_free(t->next);
	reap_watchdog(process);
	stop_fake_postgres(&t->pg);
	unlink(t->pid_file);
	reap_orphans();
}

static void test_the_next_agent_relieves_an_orphan_once_it_arms(void **state)
{
	(void) state;
	struct takeover t;

	start_takeover(&t, 1000);
	/* The next agent leads on its own lease: the orphan stands down. */
	assert_true(watchdog_arm(t.next, t.pg.postmaster, now_ms() + 10000));
	reap_watchdog(t.orphan);
	sleep_ms(1300);		/* past the orphan's deadline */
	assert_true(alive(t.pg.postmaster));
	finish_takeover(&t);
}

static void test_an_orphan_stands_down_when_its_postmaster_is_a_replica(void **state)
{
	(void) state;
	struct takeover t;

	start_takeover(&t, 800);
	/* The next agent does not lead, but sees the server in recovery. */
	watchdog_relieve_predecessor(t.next);
	reap_watchdog(t.orphan);
	sleep_ms(1000);		/* past the orphan's deadline */
	assert_true(alive(t.pg.postmaster));
	finish_takeover(&t);
}

static void test_an_orphan_guards_until_the_next_agent_arms(void **state)
{
	(void) state;
	struct takeover t;

	start_takeover(&t, 500);
	/* The next agent does not lead (yet): the lock of the dead agent's
	 * session runs out, and the orphan fences. */
	assert_true(all_gone_within(&t.pg, 3000));
	reap_watchdog(t.orphan);
	finish_takeover(&t);
}

static void test_a_lost_process_is_started_again(void **state)
{
	(void) state;
	struct fake_postgres pg;
	struct watchdog *w = watchdog_new(NULL);
	pid_t first;

	assert_non_null(w);
	first = watchdog_pid(w);
	(void) kill(first, SIGKILL);
	(void) waitpid(first, NULL, 0);
	start_fake_postgres(&pg);
	assert_true(watchdog_arm(w, pg.postmaster, now_ms() + 300));
	assert_int_not_equal(watchdog_pid(w), first);
	assert_true(all_gone_within(&pg, 3000));
	first = watchdog_pid(w);
	watchdog_free(w);
	reap_watchdog(first);
	stop_fake_postgres(&pg);
	reap_orphans();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_kill_takes_the_postmaster_and_every_backend, teardown),
		cmocka_unit_test_teardown(test_fires_at_the_deadline_not_before, teardown),
		cmocka_unit_test_teardown(test_renewing_moves_the_deadline, teardown),
		cmocka_unit_test_teardown(test_disarmed_it_leaves_postgres_alone, teardown),
		cmocka_unit_test_teardown(test_an_agent_that_dies_armed_is_fenced_at_the_deadline, teardown),
		cmocka_unit_test_teardown(test_a_postmaster_gone_before_the_deadline_is_skipped, teardown),
		cmocka_unit_test_teardown(test_the_next_agent_relieves_an_orphan_once_it_arms, teardown),
		cmocka_unit_test_teardown(test_an_orphan_stands_down_when_its_postmaster_is_a_replica,
					  teardown),
		cmocka_unit_test_teardown(test_an_orphan_guards_until_the_next_agent_arms, teardown),
		cmocka_unit_test_teardown(test_a_lost_process_is_started_again, teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, NULL);
}
