/* Busy polling after an AUTH answer. When the last pending AUTH has been answered, the
 * engine may poll its epoll set (timeout 0, yielding between polls) for a short window
 * instead of sleeping. A process that opens or execs in a loop issues its next permission
 * event a few µs after it is released; caught while polling, that event costs no wake-up
 * of the engine's CPU (an IPI and, on a VM, an exit and an entry: ~10 µs here).
 *
 * The window adapts as KVM's halt polling does. Each permission event measures the time
 * since the queue emptied: caught inside the window, nothing changes; later, but within
 * the maximum, the window doubles (a longer one would have caught it); beyond the maximum
 * it halves and, under the floor, drops to 0. A host with sparse AUTH traffic therefore
 * polls for nothing; a storm polls at most the maximum per answer. A yield that took
 * long (another thread ran meanwhile) ends the stretch; two such stretches in a row drop
 * the window to 0 for a while, since each such yield hands that thread a slice. The
 * engine never polls while a verdict is pending: a co-located client needs that CPU. */
#ifndef UEXTD_ES_SPIN_H
#define UEXTD_ES_SPIN_H

#include <stdbool.h>
#include <stdint.h>

struct spin {
	uint64_t max_ns;  /* 0: off */
	uint64_t win_ns;  /* the current window, 0..max_ns */
	uint64_t idle_at; /* when the AUTH queue last emptied; 0: not measuring */
	bool polling;     /* the last spin_timeout returned 0 */
	uint64_t events, hits; /* permission events measured; those caught while polling */
	uint64_t contended;    /* polling stretches cut short by another thread */
	uint64_t polled_ns;    /* CPU time spent polling */
	uint64_t poll_t0;      /* start of the current polling stretch */
	unsigned cool;         /* events to go before the window may grow after contention */
	unsigned slow;         /* stretches in a row cut short by a slow yield */
};

/* max_us 0 turns it off, as does a host with one CPU (the opener could not run). */
void spin_init(struct spin *s, uint32_t max_us);
/* The last pending AUTH was answered at now. */
void spin_idle(struct spin *s, uint64_t now);
/* The epoll timeout to use with nothing pending: 0 while polling, else timeout. */
int spin_timeout(struct spin *s, int timeout);
/* A permission event is ready at now: adapt the window. */
void spin_event(struct spin *s, uint64_t now);

#endif
