/* AUTH co-location: the ES engine thread and the handler threads of the AUTH clients that
 * ask for it (uext_es_set_colocation) share one CPU. An uncached AUTH round trip is
 * kernel -> uextd -> client -> uextd -> kernel; when the two middle hops wake a thread on
 * the CPU that is about to sleep, each costs a context switch instead of the wake-up of an
 * idle CPU (an IPI, and on a VM an exit and an entry).
 *
 * While such a client subscribes to an AUTH event, the engine thread pins itself to the
 * CPU it is on and stamps that CPU on every AUTH message; libuext keeps the client's
 * handler thread there. Every tick the engine reads its own run-queue wait
 * (/proc/thread-self/schedstat) and each CPU's idle time (/proc/stat): when a wake-up
 * waits longer than it would on a CPU of its own and another CPU was idle for a good part
 * of the tick, it moves there, and the clients follow with their next message. On a host
 * busy everywhere it stays. Without schedstat it never pins: it could not see contention. */
#ifndef UEXTD_ES_COLO_H
#define UEXTD_ES_COLO_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

struct colo {
	cpu_set_t home;    /* the thread's own mask, kept whenever it is not pinned */
	int cpu;           /* pinned to, or -1 */
	int schedstat;     /* /proc/thread-self/schedstat, or -1 */
	uint64_t wait_ns, runs; /* schedstat at the last tick */
	uint64_t wait_per_run;  /* ns a wake-up waited for the CPU, over the last tick */
	uint64_t moves;         /* times it left a busy CPU for an idler one */
	unsigned settle;        /* ticks before it may move again */
	const char *why;        /* why it is not pinned ("" when it is) */
	struct colo_cpu {       /* per CPU, /proc/stat at the last tick */
		uint64_t idle, total;
		int idle_pct;   /* over the last tick, -1 unknown */
	} *cpus;
};

/* On the thread to pin (it takes that thread's mask as home). */
void colo_init(struct colo *c);
/* Every status tick, on the same thread: want = a client that asked subscribes to AUTH. */
void colo_tick(struct colo *c, bool want);
/* Home mask back, schedstat closed. */
void colo_done(struct colo *c);

#endif
