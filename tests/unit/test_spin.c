/* test_spin.c: the es engine's busy-poll window (src/uextd/es/spin.c). The window grows
 * while permission events come just after it closes, holds while they come inside it,
 * shrinks to nothing when they come later than the maximum, and drops to nothing for a
 * while once its yields keep handing the CPU to another thread (a spinner pinned to the
 * same CPU here). alarm() guards each test. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "uextd/es/spin.h"

#define US 1000ull

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One AUTH answered at t, the next permission event gap later. */
static void gap(struct spin *s, uint64_t *t, uint64_t gap_ns)
{
	spin_idle(s, *t);
	*t += gap_ns;
	spin_event(s, *t);
	*t += 1000 * US;
}

static int setup(void **state)
{
	(void)state;
	alarm(20);
	return 0;
}

static void test_window_adapts(void **state)
{
	(void)state;
	struct spin s;
	uint64_t t = 1000000 * US;
	spin_init(&s, 50);
	assert_int_equal(s.max_ns, 50 * US);
	assert_int_equal(s.win_ns, 0);
	gap(&s, &t, 15 * US); /* nothing to catch it: a window starts */
	assert_int_equal(s.win_ns, 10 * US);
	gap(&s, &t, 15 * US); /* just missed: doubles */
	assert_int_equal(s.win_ns, 20 * US);
	gap(&s, &t, 15 * US); /* caught: holds */
	assert_int_equal(s.win_ns, 20 * US);
	assert_int_equal(s.hits, 1);
	gap(&s, &t, 45 * US);
	assert_int_equal(s.win_ns, 40 * US);
	gap(&s, &t, 45 * US); /* capped at the maximum */
	assert_int_equal(s.win_ns, 50 * US);
	gap(&s, &t, 45 * US);
	assert_int_equal(s.hits, 2);
	gap(&s, &t, 900 * US); /* later than any window would wait: halves */
	assert_int_equal(s.win_ns, 25 * US);
	gap(&s, &t, 900 * US);
	assert_int_equal(s.win_ns, 12500);
	gap(&s, &t, 900 * US); /* under the floor: off until events come close again */
	assert_int_equal(s.win_ns, 0);
	assert_int_equal(s.events, 9);
	/* an event with no answer before it (AUTH still pending) measures nothing */
	spin_event(&s, t);
	assert_int_equal(s.events, 9);
}

static void test_timeout(void **state)
{
	(void)state;
	struct spin s;
	spin_init(&s, 50);
	assert_int_equal(spin_timeout(&s, 1000), 1000); /* nothing answered yet */
	s.win_ns = 50 * US;
	spin_idle(&s, now());
	assert_int_equal(spin_timeout(&s, 1000), 0); /* inside the window: poll */
	assert_true(s.polling);
	spin_idle(&s, now() - 60 * US);
	assert_int_equal(spin_timeout(&s, 1000), 1000); /* the window has passed: sleep */
	assert_false(s.polling);

	spin_init(&s, 0);
	assert_int_equal(s.max_ns, 0);
	spin_idle(&s, now());
	assert_int_equal(spin_timeout(&s, 7), 7);
}

static atomic_bool stop_hog;

static void *hog(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_hog)) {}
	return NULL;
}

static void test_contention(void **state)
{
	(void)state;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
	pthread_t h;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setaffinity_np(&a, sizeof one, &one);
	assert_int_equal(pthread_create(&h, &a, hog, NULL), 0);
	pthread_attr_destroy(&a);

	struct spin s;
	spin_init(&s, 1000);
	uint64_t t0 = now();
	/* Each stretch's yield hands the CPU to the spinner for a slice: two such
	 * stretches in a row and polling stops. */
	for (int stretch = 0; stretch < 2; stretch++) {
		s.win_ns = 1000 * US;
		spin_idle(&s, now());
		while (spin_timeout(&s, 1000) == 0) {}
		assert_false(s.polling);
	}
	assert_int_equal(s.contended, 1);
	assert_int_equal(s.win_ns, 0);
	assert_true(s.polled_ns > 0 && s.polled_ns < now() - t0);
	/* and it does not grow back at the next close events */
	uint64_t t = now();
	for (int i = 0; i < 8; i++) gap(&s, &t, 15 * US);
	assert_int_equal(s.win_ns, 0);

	atomic_store(&stop_hog, true);
	pthread_join(h, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_window_adapts, setup),
		cmocka_unit_test_setup(test_timeout, setup),
		cmocka_unit_test_setup(test_contention, setup),
	};
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("SKIP: one CPU: busy polling is off there\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
