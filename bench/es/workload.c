/* workload.c owns the ES benchmark's workloads (bench/es/run.sh): each subcommand does one
 * fixed amount of work, times it with CLOCK_MONOTONIC and prints one JSON line. It knows
 * nothing of the monitor that may be watching; run.sh starts and measures that.
 *
 *   workload mkfiles DIR N                   N distinct 64-byte files DIR/f000000.. (W2c set)
 *   workload exec N BIN                      W1: N x fork+execve(BIN)+waitpid
 *   workload hot N FILE                      W2h: N x open+close of FILE
 *   workload cold DIR N                      W2c: one open+close of each file mkfiles made
 *   workload create DIR N                    W3: N x (open O_CREAT, write 4 KiB, close, unlink)
 *   workload latency FILE BIN NEXEC GAP_US   W5: one open+close of FILE every GAP_US while a
 *                                            child runs NEXEC fork+execs of BIN
 *   workload notify DIR N                    NOTIFY generator: N x (create, close, unlink),
 *                                            then creates DIR/uext-bench-end (the sentinel
 *                                            the counting client stops its clock at)
 *   workload stalls MS                       the machine's noise: MS ms spinning on the
 *                                            clock, counting gaps of 10 µs or more
 *
 * Every per-operation duration is kept, so the JSON has percentiles as well as the mean
 * (us_per_op = total / N). Nothing here sleeps to synchronise: the only sleep is the pacing
 * of W5's sampler, which waits for the child storm with waitpid(). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what, const char *subject)
{
	fprintf(stderr, "workload: %s '%s': %s\n", what, subject ? subject : "", strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long arg_long(const char *s, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "workload: bad %s '%s'\n", name, s);
		exit(2);
	}
	return v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double pct_us(const uint64_t *sorted, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)sorted[i - 1] / 1000.0;
}

/* Print the JSON line: name, count, total, mean and percentiles of the samples (sorted
 * here), then extra ready-made JSON members (or ""). */
static void report(const char *name, long n, uint64_t total_ns, uint64_t *samples, size_t ns, const char *extra)
{
	qsort(samples, ns, sizeof(*samples), cmp_u64);
	printf("{\"workload\":\"%s\",\"n\":%ld,\"total_us\":%.1f,\"us_per_op\":%.3f,"
	       "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f%s}\n",
	       name, n, (double)total_ns / 1000.0, n ? (double)total_ns / 1000.0 / (double)n : 0.0, pct_us(samples, ns, 50),
	       pct_us(samples, ns, 99), pct_us(samples, ns, 99.9), ns ? (double)samples[ns - 1] / 1000.0 : 0.0,
	       extra);
	fflush(stdout);
}

static uint64_t *samples_new(long n)
{
	uint64_t *s = calloc((size_t)n, sizeof(*s));
	if (!s)
		die("out of memory for samples", "");
	return s;
}

/* One fork+execve(bin)+waitpid; the child's exit status must be 0. */
static void exec_once(const char *bin)
{
	char *argv[] = { (char *)bin, NULL };
	pid_t pid = fork();
	if (pid < 0)
		die("fork", bin);
	if (pid == 0) {
		execve(bin, argv, environ);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid", bin);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "workload: '%s' exited with status 0x%x\n", bin, st);
		exit(1);
	}
}

static void open_close(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		die("open", path);
	close(fd);
}

static int cmd_mkfiles(const char *dir, long n)
{
	char path[4096], data[64];
	memset(data, 'x', sizeof(data));
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%06ld", dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
			die("create", path);
		close(fd);
	}
	return 0;
}

static int cmd_exec(long n, const char *bin)
{
	uint64_t *s = samples_new(n);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t a = now_ns();
		exec_once(bin);
		s[i] = now_ns() - a;
	}
	report("exec", n, now_ns() - t0, s, (size_t)n, "");
	free(s);
	return 0;
}

static int cmd_hot(long n, const char *file)
{
	uint64_t *s = samples_new(n);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t a = now_ns();
		open_close(file, O_RDONLY);
		s[i] = now_ns() - a;
	}
	report("hot", n, now_ns() - t0, s, (size_t)n, "");
	free(s);
	return 0;
}

static int cmd_cold(const char *dir, long n)
{
	char path[4096];
	uint64_t *s = samples_new(n);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%06ld", dir, i);
		uint64_t a = now_ns();
		open_close(path, O_RDONLY);
		s[i] = now_ns() - a;
	}
	report("cold", n, now_ns() - t0, s, (size_t)n, "");
	free(s);
	return 0;
}

static int cmd_create(const char *dir, long n)
{
	static char buf[4096];
	char path[4096];
	memset(buf, 'y', sizeof(buf));
	snprintf(path, sizeof(path), "%s/w3.%d", dir, (int)getpid());
	uint64_t *s = samples_new(n);
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		uint64_t a = now_ns();
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("create", path);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write", path);
		close(fd);
		if (unlink(path) < 0)
			die("unlink", path);
		s[i] = now_ns() - a;
	}
	report("create", n, now_ns() - t0, s, (size_t)n, "");
	free(s);
	return 0;
}

/* W5. The storm child reports its own mean µs/exec through a pipe when it is done; the
 * sampler stops at the first sample after the child has exited. */
static int cmd_latency(const char *file, const char *bin, long nexec, long gap_us)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe", "");
	pid_t storm = fork();
	if (storm < 0)
		die("fork", "storm");
	if (storm == 0) {
		close(p[0]);
		uint64_t t0 = now_ns();
		for (long i = 0; i < nexec; i++)
			exec_once(bin);
		double us = (double)(now_ns() - t0) / 1000.0 / (double)nexec;
		if (write(p[1], &us, sizeof(us)) != (ssize_t)sizeof(us))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	/* Room for exec storms up to 10 ms per exec; beyond it sampling stops, the storm not. */
	size_t cap = (size_t)nexec * 10000 / (size_t)gap_us + 1000;
	uint64_t *s = samples_new((long)cap);
	size_t ns = 0;
	uint64_t next = now_ns();
	int st;
	for (;;) {
		pid_t w = waitpid(storm, &st, WNOHANG);
		if (w == storm)
			break;
		if (w < 0 && errno != EINTR)
			die("waitpid", "storm");
		if (ns < cap) {
			uint64_t a = now_ns();
			open_close(file, O_RDONLY);
			s[ns++] = now_ns() - a;
		}
		next += (uint64_t)gap_us * 1000u;
		struct timespec ts = { .tv_sec = (time_t)(next / 1000000000u), .tv_nsec = (long)(next % 1000000000u) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	double exec_us = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || read(p[0], &exec_us, sizeof(exec_us)) != (ssize_t)sizeof(exec_us)) {
		fprintf(stderr, "workload: exec storm failed (status 0x%x)\n", st);
		return 1;
	}
	close(p[0]);
	char extra[128];
	snprintf(extra, sizeof(extra), ",\"samples\":%zu,\"nexec\":%ld,\"exec_us\":%.1f", ns, nexec, exec_us);
	/* n and us_per_op describe the sampled opens; the storm's figure is exec_us. */
	uint64_t sum = 0;
	for (size_t i = 0; i < ns; i++)
		sum += s[i];
	report("latency", (long)(ns ? ns : 1), sum, s, ns, extra);
	free(s);
	return 0;
}

static int cmd_notify(const char *dir, long n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/n.%d", dir, (int)getpid());
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			die("create", path);
		close(fd);
		if (unlink(path) < 0)
			die("unlink", path);
	}
	uint64_t total = now_ns() - t0;
	snprintf(path, sizeof(path), "%s/uext-bench-end", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create", path);
	close(fd);
	printf("{\"workload\":\"notify\",\"n\":%ld,\"total_us\":%.1f,\"us_per_op\":%.3f,\"ops_per_s\":%.0f}\n", n,
	       (double)total / 1000.0, (double)total / 1000.0 / (double)n, (double)n * 1e9 / (double)total);
	return 0;
}

/* The machine's own noise: spin MS ms on this CPU reading the clock. A gap of 10 µs or
 * more between two reads is time the CPU was taken from a runnable thread (an interrupt, a
 * hypervisor exit or a preempted vCPU). Any operation in flight then waits as long, so an
 * operation lasting T µs is hit with probability about T x stalls_per_s / 1e6: once that
 * passes 1%, its p99 is a stall. */
static int cmd_stalls(long ms)
{
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)ms * 1000000u, prev = t0, lost = 0;
	size_t n = 0, cap = 4096;
	uint64_t *gaps = samples_new((long)cap);
	while (prev < end) {
		uint64_t t = now_ns(), d = t - prev;
		prev = t;
		if (d < 10000)
			continue;
		lost += d;
		if (n == cap && !(gaps = realloc(gaps, (cap *= 2) * sizeof(*gaps))))
			die("out of memory for samples", "");
		gaps[n++] = d;
	}
	double secs = (double)(prev - t0) / 1e9;
	char extra[160];
	snprintf(extra, sizeof(extra), ",\"stalls_per_s\":%.0f,\"lost_pct\":%.2f", (double)n / secs,
		 (double)lost / (double)(prev - t0) * 100.0);
	/* n, us_per_op and the percentiles describe the stalls themselves */
	report("stalls", (long)n, lost, gaps, n, extra);
	free(gaps);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: workload mkfiles DIR N | exec N BIN | hot N FILE | cold DIR N | create DIR N |\n"
			"                latency FILE BIN NEXEC GAP_US | notify DIR N | stalls MS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *c = argv[1];
	/* A child killed by the run's watchdog must not take the sampler with it. */
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(c, "mkfiles") && argc == 4)
		return cmd_mkfiles(argv[2], arg_long(argv[3], "N"));
	if (!strcmp(c, "exec") && argc == 4)
		return cmd_exec(arg_long(argv[2], "N"), argv[3]);
	if (!strcmp(c, "hot") && argc == 4)
		return cmd_hot(arg_long(argv[2], "N"), argv[3]);
	if (!strcmp(c, "cold") && argc == 4)
		return cmd_cold(argv[2], arg_long(argv[3], "N"));
	if (!strcmp(c, "create") && argc == 4)
		return cmd_create(argv[2], arg_long(argv[3], "N"));
	if (!strcmp(c, "latency") && argc == 6)
		return cmd_latency(argv[2], argv[3], arg_long(argv[4], "NEXEC"), arg_long(argv[5], "GAP_US"));
	if (!strcmp(c, "notify") && argc == 4)
		return cmd_notify(argv[2], arg_long(argv[3], "N"));
	if (!strcmp(c, "stalls") && argc == 3)
		return cmd_stalls(arg_long(argv[2], "MS"));
	usage();
	return 2;
}
