#include "uextd/es/spin.h"
#include <sched.h>
#include <unistd.h>

#include "common/util.h"

/* The smallest useful window, and the step from 0 (KVM uses 10 µs too). */
#define SPIN_FLOOR_NS 10000ull
/* A yield that takes this long let another thread run: polling would only delay it. */
#define SPIN_CONTENDED_NS 20000ull
/* Permission events after contention before the window may grow again. */
#define SPIN_COOL_EVENTS 1024

void spin_init(struct spin *s, uint32_t max_us)
{
	*s = (struct spin){ 0 };
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) s->max_ns = (uint64_t)max_us * 1000;
}

void spin_idle(struct spin *s, uint64_t now)
{
	if (s->max_ns) s->idle_at = now;
}

static void stop(struct spin *s, uint64_t now)
{
	if (s->polling) s->polled_ns += now - s->poll_t0;
	s->polling = false;
}

int spin_timeout(struct spin *s, int timeout)
{
	if (!s->idle_at || !s->win_ns) return timeout;
	uint64_t now = now_mono_ns();
	if (s->polling) {
		sched_yield();
		uint64_t back = now_mono_ns();
		if (back - now > SPIN_CONTENDED_NS) {
			/* One slow yield may be an interrupt or the host taking the vCPU; two
			 * stretches in a row cut short say another thread runs here. */
			stop(s, back);
			s->idle_at = 0; /* this gap says nothing about the next event */
			if (++s->slow < 2) return timeout;
			s->slow = 0;
			s->win_ns = 0;
			s->cool = SPIN_COOL_EVENTS;
			s->contended++;
			return timeout;
		}
		now = back;
	}
	if (now - s->idle_at >= s->win_ns) {
		stop(s, now);
		return timeout;
	}
	if (!s->polling) s->poll_t0 = now;
	s->polling = true;
	return 0;
}

void spin_event(struct spin *s, uint64_t now)
{
	stop(s, now);
	if (!s->idle_at) return;
	uint64_t gap = now - s->idle_at;
	s->idle_at = 0;
	s->events++;
	s->slow = 0;
	if (s->win_ns && gap <= s->win_ns) {
		s->hits++;
	} else if (s->cool) {
		s->cool--;
	} else if (gap < s->max_ns) {
		s->win_ns = s->win_ns ? s->win_ns * 2 : SPIN_FLOOR_NS;
		if (s->win_ns > s->max_ns) s->win_ns = s->max_ns;
	} else {
		s->win_ns /= 2;
		if (s->win_ns < SPIN_FLOOR_NS) s->win_ns = 0;
	}
}
