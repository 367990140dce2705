#include "uextd/es/colo.h"
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A wake-up of a thread that shares its CPU only with its client waits ~3 µs for it on
 * this 2-CPU VM; this much on average over a tick means others run there too. */
#define COLO_MAX_WAIT_NS 20000ull
/* Fewer wake-ups than this in a tick say nothing about the CPU. */
#define COLO_MIN_RUNS 64
/* A CPU is worth moving to when it was idle this much more of the tick (percent): on a
 * host busy everywhere, staying put beats chasing the scheduler. */
#define COLO_IDLER_PCT 15
/* Ticks after a move before the next: loads that shift every few hundred ms are not
 * chased. */
#define COLO_SETTLE_TICKS 4

static bool read_schedstat(struct colo *c, uint64_t *wait_ns, uint64_t *runs)
{
	char buf[128];
	uint64_t on_cpu;
	if (c->schedstat < 0) return false;
	ssize_t n = pread(c->schedstat, buf, sizeof buf - 1, 0);
	if (n <= 0) return false;
	buf[n] = 0;
	return sscanf(buf, "%" SCNu64 " %" SCNu64 " %" SCNu64, &on_cpu, wait_ns, runs) == 3;
}

/* Each CPU's idle share of the time since the last read (-1: unknown), from /proc/stat. */
static bool read_idle(struct colo *c)
{
	FILE *f = fopen("/proc/stat", "re");
	if (!f) return false;
	char line[512];
	bool any = false;
	while (fgets(line, sizeof line, f)) {
		unsigned cpu;
		uint64_t v[8] = { 0 };
		if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9') continue;
		if (sscanf(line + 3, "%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
				     " %" SCNu64 " %" SCNu64,
			   &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 5 ||
		    cpu >= CPU_SETSIZE)
			continue;
		struct colo_cpu *k = &c->cpus[cpu];
		uint64_t idle = v[3] + v[4]; /* idle + iowait */
		uint64_t total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
		k->idle_pct = k->total && total > k->total ? (int)(100 * (idle - k->idle) / (total - k->total)) : -1;
		k->idle = idle;
		k->total = total;
		any = true;
	}
	fclose(f);
	return any;
}

/* The CPU of home that was idle the largest share of the last tick. */
static int idlest(const struct colo *c)
{
	int best = -1;
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &c->home) && c->cpus[i].idle_pct >= 0 &&
		    (best < 0 || c->cpus[i].idle_pct > c->cpus[best].idle_pct))
			best = i;
	return best;
}

static void set_mask(struct colo *c, int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	if (cpu >= 0) CPU_SET(cpu, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof one, cpu >= 0 ? &one : &c->home) == 0) c->cpu = cpu;
	else if (cpu >= 0) c->why = "the kernel refused the CPU";
}

void colo_init(struct colo *c)
{
	memset(c, 0, sizeof *c);
	c->cpu = -1;
	c->why = "no AUTH client asked to share its CPU";
	if (pthread_getaffinity_np(pthread_self(), sizeof c->home, &c->home) != 0) {
		CPU_ZERO(&c->home);
		c->why = "no affinity mask";
	}
	c->schedstat = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (c->schedstat < 0) c->why = "no /proc/thread-self/schedstat (CONFIG_SCHED_INFO)";
	c->cpus = calloc(CPU_SETSIZE, sizeof *c->cpus);
	if (!c->cpus) c->why = "out of memory";
}

void colo_tick(struct colo *c, bool want)
{
	uint64_t w = 0, r = 0;
	bool have = c->cpus && read_schedstat(c, &w, &r);
	uint64_t dr = r - c->runs;
	c->wait_per_run = have && dr ? (w - c->wait_ns) / dr : 0;
	c->wait_ns = w;
	c->runs = r;
	if (!have || CPU_COUNT(&c->home) < 2 || !want) {
		if (c->cpu >= 0) set_mask(c, -1);
		if (have && CPU_COUNT(&c->home) < 2) c->why = "one CPU";
		else if (have) c->why = "no AUTH client asked to share its CPU";
		return;
	}
	bool idle_known = read_idle(c);
	int now = sched_getcpu();
	if (c->settle) c->settle--;
	if (c->cpu >= 0 && now == c->cpu) {
		int to = idle_known && !c->settle ? idlest(c) : -1;
		if (to >= 0 && to != c->cpu && dr >= COLO_MIN_RUNS && c->wait_per_run > COLO_MAX_WAIT_NS &&
		    c->cpus[c->cpu].idle_pct >= 0 && c->cpus[to].idle_pct >= c->cpus[c->cpu].idle_pct + COLO_IDLER_PCT) {
			set_mask(c, to);
			c->moves++;
			c->settle = COLO_SETTLE_TICKS;
		}
		return;
	}
	if (now >= 0 && CPU_ISSET(now, &c->home)) { /* first time, or moved off by hotplug or cpuset */
		c->why = "";
		set_mask(c, now);
	}
}

void colo_done(struct colo *c)
{
	if (c->cpu >= 0) set_mask(c, -1);
	if (c->schedstat >= 0) close(c->schedstat);
	c->schedstat = -1;
	free(c->cpus);
	c->cpus = NULL;
}
