/* test_fan.c: fan.c against the real kernel (needs root and fanotify permission events).
 * Everything runs on a tmpfs this test mounts in its own private mount namespace, so no
 * mark can ever reach a filesystem the host or the test runner uses. Marked accesses are
 * made by forked children while this process answers; every wait has a deadline and a
 * SIGALRM watchdog answers everything ALLOW, kills the children and exits. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "uextd/es/fan.h"

#define TMPFS_MAGIC_ 0x01021994
#define WATCHDOG_S 20
#define WAIT_MS 10000
#define MAX_KIDS 16
#define MAX_HELD 8
#define MAX_NREC 64

static char g_root[64];       /* /tmp/uext-fan-XXXXXX with our tmpfs on it */
static dev_t g_root_dev;      /* st_dev of that tmpfs: the only device we ever mark */
static char g_dir[PATH_MAX];  /* a fresh directory per test under g_root */
static struct fan_support g_sup;
static struct fan *g_fan;     /* the fan under test, for the watchdog */
static pid_t g_kids[MAX_KIDS];
static int g_seq;

/* --- safety nets ------------------------------------------------------------------ */

static void watchdog(int sig)
{
	static const char msg[] = "test_fan: watchdog fired: allowing everything, exiting\n";

	(void)sig;
	if (g_fan)
		fan_respond_all_pending(g_fan, true);
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0)
			kill(g_kids[i], SIGKILL);
	umount2(g_root, MNT_DETACH);
	rmdir(g_root);
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	_exit(1); /* closes the groups: the kernel allows whatever is left */
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every mark goes through here: refuse anything that is not our own tmpfs. */
static int mark(struct fan *f, const char *path, uint64_t perm, uint64_t notify)
{
	struct statfs sfs;
	struct stat st;

	if (strncmp(path, g_root, strlen(g_root)) || statfs(path, &sfs) < 0 ||
	    sfs.f_type != TMPFS_MAGIC_ || stat(path, &st) < 0 || st.st_dev != g_root_dev) {
		fprintf(stderr, "test_fan: refusing to mark '%s'\n", path);
		abort();
	}
	return fan_mark(f, path, perm, notify);
}

static struct fan *new_fan(bool perm, bool notify, uint32_t max_pending)
{
	struct fan_config cfg = { .perm = perm, .notify = notify, .max_pending = max_pending };
	struct fan *f = NULL;

	assert_int_equal(fan_new(&cfg, &f), 0);
	g_fan = f;
	return f;
}

static void free_fan(void)
{
	g_fan = fan_free(g_fan);
}

static void in_dir(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", g_dir, name);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(close(fd), 0);
}


/* --- children that perform the marked accesses ------------------------------------ */

enum op { OP_OPEN, OP_EXEC, OP_APPEND, OP_CREATE };

/* Fork a child that performs op on path n times and exits with 0 or the first errno. */
static pid_t spawn(enum op op, const char *path, int n)
{
	pid_t p = fork();
	int rc = 0, fd = -1;

	assert_true(p >= 0);
	if (p > 0) {
		for (int i = 0; i < MAX_KIDS; i++)
			if (g_kids[i] <= 0) {
				g_kids[i] = p;
				break;
			}
		return p;
	}
	/* A copy of the group fds here would keep the groups (and the accesses blocked
	 * on them) alive past fan_free. */
	close(fan_perm_fd(g_fan));
	close(fan_notify_fd(g_fan));
	alarm(0);
	for (int i = 0; i < n && !rc; i++) {
		switch (op) {
		case OP_OPEN:
			fd = open(path, O_RDONLY | O_CLOEXEC);
			break;
		case OP_APPEND:
			fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
			if (fd >= 0 && write(fd, "+", 1) != 1)
				rc = errno;
			break;
		case OP_CREATE:
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			break;
		case OP_EXEC:
			execl(path, path, (char *)NULL);
			_exit(errno);
		}
		if (fd < 0)
			rc = errno;
		else
			close(fd);
	}
	_exit(rc);
}

static void forget_kid(pid_t p)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] == p)
			g_kids[i] = 0;
}

/* Exit code of p if it ends within ms, else -1. */
static int reap(pid_t p, int ms)
{
	int64_t end = now_ms() + ms;
	int status;

	while (now_ms() < end) {
		pid_t w = waitpid(p, &status, WNOHANG);

		if (w == p) {
			forget_kid(p);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(2000);
	}
	return -1;
}

/* --- answering permission events -------------------------------------------------- */

struct served {
	bool deny;            /* verdict for events we answer */
	int hold;             /* leave the first `hold` events pending (their fds in held[]) */
	const char *cache;    /* fan_allow_cached events on this path */
	int events;           /* permission events seen */
	int overflows;
	int held[MAX_HELD];
	int nheld;
	int cache_rc;
	pid_t pid;            /* of the last event */
	uint64_t mask;
	char path[PATH_MAX];
	struct stat st;
	int respond_rc;
};

/* Records, never asserts: an assert would longjmp out of fan_read_perm mid-batch. */
static void perm_cb(struct fan *f, const struct fan_perm_event *ev, void *data)
{
	struct served *s = data;

	if (ev->fd < 0) {
		s->overflows++;
		return;
	}
	s->events++;
	s->pid = ev->pid;
	s->mask = ev->mask;
	snprintf(s->path, sizeof(s->path), "%s", ev->path ? ev->path : "(null)");
	s->st = ev->st;
	if (s->nheld < s->hold && s->nheld < MAX_HELD) {
		s->held[s->nheld++] = ev->fd;
		return;
	}
	if (s->cache && ev->path && !strcmp(ev->path, s->cache))
		s->respond_rc = fan_allow_cached(f, ev->fd, FAN_OPEN_PERM, &s->cache_rc);
	else
		s->respond_rc = fan_respond(f, ev->fd, !s->deny);
}

/* Read one batch if one comes within ms. */
static int pump(struct fan *f, struct served *s, int ms)
{
	struct pollfd pfd = { .fd = fan_perm_fd(f), .events = POLLIN };

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	return fan_read_perm(f, perm_cb, s);
}

/* Answer events as s says until p exits; returns its exit code (-1: deadline, killed). */
static int serve(struct fan *f, pid_t p, struct served *s)
{
	int64_t end = now_ms() + WAIT_MS;
	int status;

	while (now_ms() < end) {
		pid_t w;
		int r = pump(f, s, 5);

		assert_true(r >= 0 || r == -ENOBUFS);
		w = waitpid(p, &status, WNOHANG);
		if (w == p) {
			forget_kid(p);
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
	}
	kill(p, SIGKILL);
	reap(p, WAIT_MS);
	return -1;
}

/* Read until s has seen n events; false on deadline. */
static bool wait_events(struct fan *f, struct served *s, int n)
{
	int64_t end = now_ms() + WAIT_MS;

	while (s->events < n && now_ms() < end)
		pump(f, s, 10);
	return s->events >= n;
}

/* Run op n times in a child, allowing (and caching events on `cache`); return how many
 * permission events it raised. */
static int count_events(struct fan *f, enum op op, const char *path, int n, const char *cache)
{
	struct served s = { .cache = cache };
	pid_t p = spawn(op, path, n);

	assert_int_equal(serve(f, p, &s), 0);
	return s.events;
}

/* --- fixtures --------------------------------------------------------------------- */

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "%s/t%d", g_root, ++g_seq);
	if (mkdir(g_dir, 0755) < 0)
		return -1;
	alarm(WATCHDOG_S);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free_fan();
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0) {
			kill(g_kids[i], SIGKILL);
			reap(g_kids[i], WAIT_MS);
		}
	alarm(0);
	return 0;
}

/* --- contracts -------------------------------------------------------------------- */

static void test_probe_and_contracts(void **state)
{
	struct fan_config none = { 0 }, big = { .perm = true, .max_pending = 1u << 20 };
	struct served s = { 0 };
	struct fan_stats st;
	struct fan *f = NULL;
	int rc;

	(void)state;
	assert_true(g_sup.perm);
	print_message("kernel: perm=%d open_exec_perm=%d access_perm=%d mark_filesystem=%d "
		      "fid=%d rename=%d evictable=%d\n",
		      g_sup.perm, g_sup.open_exec_perm, g_sup.access_perm, g_sup.mark_filesystem,
		      g_sup.fid, g_sup.rename, g_sup.evictable);
	assert_int_equal(fan_new(&none, &f), -EINVAL);
	assert_int_equal(fan_new(&big, &f), -EINVAL);
	assert_null(f);
	assert_null(fan_free(NULL));

	f = new_fan(true, false, 0);
	assert_true(fan_perm_fd(f) >= 0);
	assert_int_equal(fan_notify_fd(f), -1);
	/* masks that do not fit the group, or no group for them */
	assert_int_equal(mark(f, g_dir, 0, 0), -EINVAL);
	assert_int_equal(mark(f, g_dir, FAN_OPEN, 0), -EINVAL);
	assert_int_equal(mark(f, g_dir, FAN_ONDIR, 0), -EINVAL);
	assert_int_equal(mark(f, g_dir, 0, FAN_CREATE), -EINVAL);
	assert_int_equal(fan_read_notify(f, NULL, NULL), -EINVAL);
	/* nothing pending: a verdict or a cache mark for any fd is refused, and the fd
	 * is not touched */
	assert_int_equal(fan_respond(f, STDERR_FILENO, true), -EBADF);
	assert_int_equal(fan_allow_cached(f, STDERR_FILENO, FAN_OPEN_PERM, &rc), -EBADF);
	assert_int_equal(rc, -EBADF);
	assert_true(fcntl(STDERR_FILENO, F_GETFD) >= 0);
	/* no events: a read is 0, not an error */
	assert_int_equal(fan_read_perm(f, perm_cb, &s), 0);
	assert_int_equal(fan_respond_all_pending(f, true), 0);
	assert_int_equal(fan_cache_clear(f), 0);
	fan_stats(f, &st);
	assert_int_equal(st.perm_events, 0);
	assert_int_equal(st.pending, 0);
	free_fan();
}

/* --- permission events ------------------------------------------------------------ */

static void test_deny_open(void **state)
{
	struct served s = { .deny = true };
	char file[PATH_MAX];
	struct fan_stats st;
	struct stat want;
	struct fan *f;
	pid_t p;

	(void)state;
	in_dir(file, "secret");
	write_file(file, "no\n", 0644);
	assert_int_equal(stat(file, &want), 0);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);

	p = spawn(OP_OPEN, file, 1);
	assert_int_equal(serve(f, p, &s), EPERM);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.respond_rc, 0);
	/* the event names the opener and the file */
	assert_int_equal(s.pid, p);
	assert_int_equal(s.mask, FAN_OPEN_PERM);
	assert_string_equal(s.path, file);
	assert_int_equal(s.st.st_ino, want.st_ino);
	assert_int_equal(s.st.st_dev, want.st_dev);
	fan_stats(f, &st);
	assert_int_equal(st.perm_events, 1);
	assert_int_equal(st.denied, 1);
	assert_int_equal(st.allowed, 0);
	assert_int_equal(st.pending, 0);
	free_fan();
}

static void test_allow_open(void **state)
{
	struct served s = { 0 };
	char file[PATH_MAX];
	struct fan_stats st;
	struct fan *f;
	pid_t p;

	(void)state;
	in_dir(file, "fine");
	write_file(file, "yes\n", 0644);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);

	p = spawn(OP_OPEN, file, 3);
	assert_int_equal(serve(f, p, &s), 0);
	assert_int_equal(s.events, 3);
	assert_int_equal(s.pid, p);
	assert_string_equal(s.path, file);
	fan_stats(f, &st);
	assert_int_equal(st.allowed, 3);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.pending_max, 1);
	free_fan();
}

static void test_exec(void **state)
{
	struct served deny = { .deny = true }, allow = { 0 };
	char exe[PATH_MAX];
	struct fan *f;
	pid_t p;

	(void)state;
	if (!g_sup.open_exec_perm)
		skip();
	in_dir(exe, "true");
	assert_int_equal(copy_file("/bin/true", exe, 0755), 0);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_EXEC_PERM, 0), 0);

	/* only exec is gated: reading the binary raises nothing */
	assert_int_equal(count_events(f, OP_OPEN, exe, 5, NULL), 0);

	p = spawn(OP_EXEC, exe, 1);
	assert_int_equal(serve(f, p, &deny), EPERM);
	assert_int_equal(deny.events, 1);
	assert_int_equal(deny.mask, FAN_OPEN_EXEC_PERM);
	assert_int_equal(deny.pid, p);
	assert_string_equal(deny.path, exe);

	p = spawn(OP_EXEC, exe, 1);
	assert_int_equal(serve(f, p, &allow), 0); /* /bin/true ran */
	assert_int_equal(allow.events, 1);
	assert_int_equal(allow.pid, p);
	free_fan();
}

static void test_cache_until_modified(void **state)
{
	char file[PATH_MAX], other[PATH_MAX];
	struct fan_stats st;
	struct fan *f;

	(void)state;
	in_dir(file, "cached");
	in_dir(other, "other");
	write_file(file, "abc", 0644);
	write_file(other, "xyz", 0644);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);

	/* first open: one event, answered with allow + cache */
	{
		struct served s = { .cache = file };
		pid_t p = spawn(OP_OPEN, file, 1);

		assert_int_equal(serve(f, p, &s), 0);
		assert_int_equal(s.events, 1);
		assert_int_equal(s.cache_rc, 0);
	}
	/* the kernel answers the next 100 opens itself */
	assert_int_equal(count_events(f, OP_OPEN, file, 100, NULL), 0);
	/* other files still ask: the group and its mark are intact */
	assert_int_equal(count_events(f, OP_OPEN, other, 1, NULL), 1);
	/* a write drops the ignore mark (the writer's own open was still cached) */
	assert_int_equal(count_events(f, OP_APPEND, file, 1, NULL), 0);
	assert_int_equal(count_events(f, OP_OPEN, file, 3, NULL), 3);
	fan_stats(f, &st);
	assert_int_equal(st.cache_marks, 1);
	assert_int_equal(st.cache_stale, 0);
	free_fan();
}

static void test_cache_clear(void **state)
{
	char file[PATH_MAX], other[PATH_MAX];
	struct fan_stats st;
	struct fan *f;

	(void)state;
	in_dir(file, "cached");
	in_dir(other, "other");
	write_file(file, "abc", 0644);
	write_file(other, "xyz", 0644);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);

	assert_int_equal(count_events(f, OP_OPEN, file, 1, file), 1);
	assert_int_equal(count_events(f, OP_OPEN, file, 10, NULL), 0);
	assert_int_equal(fan_cache_clear(f), 0);
	/* the cache is gone, the filesystem mark is not */
	assert_int_equal(count_events(f, OP_OPEN, file, 2, NULL), 2);
	assert_int_equal(count_events(f, OP_OPEN, other, 1, NULL), 1);
	fan_stats(f, &st);
	assert_int_equal(st.cache_clears, 1);
	free_fan();
}

static void test_cache_refuses_changed_file(void **state)
{
	struct served s = { .hold = 2 };
	char file[PATH_MAX], dir[PATH_MAX];
	struct fan_stats st;
	struct fan *f;
	pid_t reader, reader2;
	int rc;

	(void)state;
	in_dir(file, "moving");
	in_dir(dir, "adir");
	write_file(file, "v1", 0644);
	assert_int_equal(mkdir(dir, 0755), 0);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM | FAN_ONDIR, 0), 0);

	reader = spawn(OP_OPEN, file, 1);
	reader2 = spawn(OP_OPEN, file, 1);
	assert_true(wait_events(f, &s, 2));
	/* while the readers wait for their verdicts, someone appends to the file */
	assert_int_equal(count_events(f, OP_APPEND, file, 1, NULL), 1);
	/* each is allowed; neither is cached */
	assert_int_equal(fan_allow_cached(f, s.held[0], FAN_OPEN_PERM, &rc), 0);
	assert_int_equal(rc, -ESTALE);
	assert_int_equal(fan_allow_cached(f, s.held[1], FAN_OPEN, &rc), 0);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(fan_respond(f, s.held[0], true), -EBADF); /* exactly one verdict */
	assert_int_equal(reap(reader, WAIT_MS), 0);
	assert_int_equal(reap(reader2, WAIT_MS), 0);
	/* nothing was cached */
	assert_int_equal(count_events(f, OP_OPEN, file, 2, NULL), 2);

	/* directories are never cached: nothing would drop the mark */
	memset(&s, 0, sizeof(s));
	s.hold = 1;
	reader = spawn(OP_OPEN, dir, 1);
	assert_true(wait_events(f, &s, 1));
	assert_int_equal(fan_allow_cached(f, s.held[0], FAN_OPEN_PERM, &rc), 0);
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(reap(reader, WAIT_MS), 0);
	fan_stats(f, &st);
	assert_int_equal(st.cache_stale, 1);
	assert_int_equal(st.cache_marks, 0);
	free_fan();
}

static void test_pending_cap(void **state)
{
	struct served s = { .hold = 3 };
	struct pollfd pfd;
	char file[PATH_MAX];
	struct fan_stats st;
	struct fan *f;
	pid_t p[3];

	(void)state;
	in_dir(file, "busy");
	write_file(file, "b", 0644);
	f = new_fan(true, false, 2);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);

	for (int i = 0; i < 3; i++)
		p[i] = spawn(OP_OPEN, file, 1);
	assert_true(wait_events(f, &s, 2));
	/* the table is full: the third event stays queued in the kernel, not lost */
	pfd = (struct pollfd){ .fd = fan_perm_fd(f), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(fan_read_perm(f, perm_cb, &s), -ENOBUFS);
	assert_int_equal(s.events, 2);
	fan_stats(f, &st);
	assert_int_equal(st.pending, 2);
	assert_int_equal(st.pending_full, 1);

	assert_int_equal(fan_respond(f, s.held[0], true), 0);
	assert_true(wait_events(f, &s, 3));
	assert_int_equal(fan_respond_all_pending(f, true), 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(reap(p[i], WAIT_MS), 0);
	fan_stats(f, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.pending_max, 2);
	assert_int_equal(st.allowed, 3);
	free_fan();
}

static void test_respond_all_pending_deny(void **state)
{
	struct served s = { .hold = 2 };
	char file[PATH_MAX];
	struct fan *f;
	pid_t a, b;

	(void)state;
	in_dir(file, "f");
	write_file(file, "f", 0644);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);
	a = spawn(OP_OPEN, file, 1);
	b = spawn(OP_OPEN, file, 1);
	assert_true(wait_events(f, &s, 2));
	assert_int_equal(fan_respond_all_pending(f, false), 2);
	assert_int_equal(reap(a, WAIT_MS), EPERM);
	assert_int_equal(reap(b, WAIT_MS), EPERM);
	free_fan();
}

/* A verdict for a task killed while it waited is still accepted and the fd released. */
static void test_respond_after_kill(void **state)
{
	struct served s = { .hold = 1 };
	char file[PATH_MAX];
	struct fan_stats st;
	struct fan *f;
	pid_t p;

	(void)state;
	in_dir(file, "f");
	write_file(file, "f", 0644);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);
	p = spawn(OP_OPEN, file, 1);
	assert_true(wait_events(f, &s, 1));
	assert_int_equal(kill(p, SIGKILL), 0);
	assert_int_equal(reap(p, WAIT_MS), 128 + SIGKILL);
	assert_int_equal(fan_respond(f, s.held[0], false), 0);
	fan_stats(f, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.denied + st.responses_gone, 1);
	free_fan();
}

/* fan_free releases both a task whose event we read and one whose event is unread. */
static void test_free_releases_blocked(void **state)
{
	struct served s = { .hold = 1 };
	struct pollfd pfd;
	char file[PATH_MAX];
	struct fan *f;
	pid_t read_one, queued_one;

	(void)state;
	in_dir(file, "f");
	write_file(file, "f", 0644);
	f = new_fan(true, false, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);
	read_one = spawn(OP_OPEN, file, 1);
	assert_true(wait_events(f, &s, 1));
	queued_one = spawn(OP_OPEN, file, 1);
	pfd = (struct pollfd){ .fd = fan_perm_fd(f), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	/* both are blocked now */
	assert_int_equal(reap(read_one, 100), -1);
	assert_int_equal(reap(queued_one, 100), -1);

	free_fan();
	assert_int_equal(reap(read_one, WAIT_MS), 0);
	assert_int_equal(reap(queued_one, WAIT_MS), 0);
}

/* A filesystem mark sees the file through every mount of it; a mount mark
 * (cfg.perm_mount) only through the mount it was placed on. */
static void test_scope(void **state)
{
	char src[PATH_MAX], bind[PATH_MAX], file[PATH_MAX], via_bind[PATH_MAX];
	struct fan_config cfg = { .perm = true };
	struct fan *f = NULL;

	(void)state;
	in_dir(src, "src");
	in_dir(bind, "bind");
	snprintf(file, sizeof(file), "%s/file", src);
	snprintf(via_bind, sizeof(via_bind), "%s/file", bind);
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(bind, 0755), 0);
	write_file(file, "s", 0644);
	/* a second mount of our tmpfs, inside our private namespace */
	assert_int_equal(mount(src, bind, NULL, MS_BIND, NULL), 0);

	if (g_sup.mark_filesystem) {
		f = new_fan(true, false, 0);
		assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);
		assert_int_equal(count_events(f, OP_OPEN, file, 1, NULL), 1);
		assert_int_equal(count_events(f, OP_OPEN, via_bind, 1, NULL), 1);
		free_fan();
	}
	cfg.perm_mount = true;
	assert_int_equal(fan_new(&cfg, &f), 0);
	g_fan = f;
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM, 0), 0);
	assert_int_equal(count_events(f, OP_OPEN, file, 1, NULL), 1);
	assert_int_equal(count_events(f, OP_OPEN, via_bind, 1, NULL), 0);
	free_fan();
	assert_int_equal(umount2(bind, MNT_DETACH), 0);
}

/* --- notify events ---------------------------------------------------------------- */

struct nrec {
	uint64_t mask;
	pid_t pid;
	bool is_dir;
	bool has_dir;
	char name[64];
	char path[PATH_MAX];
	char new_path[PATH_MAX];
};

struct nlog {
	int n;        /* recorded (up to MAX_NREC) */
	int total;    /* all events but overflows */
	int overflows;
	bool record;
	struct nrec ev[MAX_NREC];
};

static void notify_cb(struct fan *f, const struct fan_notify_event *ev, void *data)
{
	struct nlog *l = data;
	struct nrec *r;

	(void)f;
	if (ev->mask & FAN_Q_OVERFLOW) {
		l->overflows++;
		return;
	}
	l->total++;
	if (!l->record || l->n == MAX_NREC)
		return;
	r = &l->ev[l->n++];
	memset(r, 0, sizeof(*r));
	r->mask = ev->mask;
	r->pid = ev->pid;
	r->is_dir = ev->is_dir;
	r->has_dir = ev->dir != NULL;
	snprintf(r->name, sizeof(r->name), "%s", ev->name ? ev->name : "(null)");
	snprintf(r->path, sizeof(r->path), "%s", ev->path ? ev->path : "(null)");
	snprintf(r->new_path, sizeof(r->new_path), "%s", ev->new_path ? ev->new_path : "");
}

/* Events are queued synchronously with the syscall: after it returns, read until the
 * queue is empty. */
static struct nlog *drain(struct fan *f, struct nlog *l)
{
	int r;

	memset(l, 0, sizeof(*l));
	l->record = true;
	while ((r = fan_read_notify(f, notify_cb, l)) > 0)
		;
	assert_int_equal(r, 0);
	return l;
}

static void dump(const struct nlog *l)
{
	for (int i = 0; i < l->n; i++)
		print_message("  event %d: mask %#llx pid %d '%s' -> '%s'\n", i,
			      (unsigned long long)l->ev[i].mask, (int)l->ev[i].pid, l->ev[i].path,
			      l->ev[i].new_path);
}

/* Exactly n events, or a dump of what came. */
static void expect_n(const struct nlog *l, int n)
{
	if (l->n != n) {
		dump(l);
		fail_msg("%d events, want %d", l->n, n);
	}
}

static void expect(const struct nlog *l, int i, uint64_t mask, const char *path,
		   const char *new_path)
{
	if (i >= l->n || l->ev[i].mask != mask)
		dump(l);
	if (i >= l->n)
		fail_msg("event %d missing (got %d)", i, l->n);
	if (l->ev[i].mask != mask || strcmp(l->ev[i].path, path) ||
	    strcmp(l->ev[i].new_path, new_path ? new_path : ""))
		fail_msg("event %d: got mask %#llx '%s' -> '%s', want %#llx '%s' -> '%s'", i,
			 (unsigned long long)l->ev[i].mask, l->ev[i].path, l->ev[i].new_path,
			 (unsigned long long)mask, path, new_path ? new_path : "");
	assert_int_equal(l->ev[i].pid, getpid());
	assert_int_equal(l->ev[i].is_dir, !!(mask & FAN_ONDIR));
}

static struct fan *notify_fan(uint64_t mask)
{
	struct fan *f;
	int r;

	if (!g_sup.fid)
		skip();
	f = new_fan(false, true, 0);
	r = mark(f, g_root, 0, mask);
	if (r == -ENODEV || r == -EOPNOTSUPP || r == -EXDEV) {
		print_message("tmpfs cannot report file handles here (%d); skipped\n", r);
		free_fan();
		skip();
	}
	assert_int_equal(r, 0);
	return f;
}

/* One operation at a time, drained after each: the exact sequence, nothing merged. */
static void notify_sequence(bool use_rename)
{
	uint64_t mv = use_rename ? FAN_RENAME : FAN_MOVED_FROM | FAN_MOVED_TO;
	char sub[PATH_MAX], a[PATH_MAX], b[PATH_MAX], h[PATH_MAX];
	struct fan_stats st;
	struct nlog l;
	struct fan *f;
	int fd;

	if (use_rename && !g_sup.rename)
		skip();
	f = notify_fan(FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE |
		       FAN_ONDIR | mv);
	in_dir(sub, "sub");
	snprintf(a, sizeof(a), "%s/a", sub);
	snprintf(h, sizeof(h), "%s/h", sub);
	in_dir(b, "b");

	assert_int_equal(mkdir(sub, 0755), 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_CREATE | FAN_ONDIR, sub, NULL);
	assert_string_equal(l.ev[0].name, "sub");

	fd = open(a, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_CREATE, a, NULL);

	assert_int_equal(write(fd, "hello", 5), 5);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_MODIFY, a, NULL);

	assert_int_equal(close(fd), 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_CLOSE_WRITE, a, NULL);

	assert_int_equal(chmod(a, 0600), 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_ATTRIB, a, NULL);

	/* an event on a directory itself: the name is "." and path is the directory */
	assert_int_equal(chmod(sub, 0700), 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_ATTRIB | FAN_ONDIR, sub, NULL);
	assert_string_equal(l.ev[0].name, ".");

	/* link(2) raises FAN_ATTRIB on the inode itself (its link count), which carries
	 * no directory: fan names it by one of its links */
	assert_int_equal(link(a, h), 0);
	drain(f, &l);
	expect_n(&l, 2);
	assert_int_equal(l.ev[0].mask, FAN_ATTRIB);
	assert_true(!strcmp(l.ev[0].path, a) || !strcmp(l.ev[0].path, h));
	expect(&l, 1, FAN_CREATE, h, NULL);
	assert_int_equal(unlink(h), 0);
	drain(f, &l);
	expect_n(&l, 2);
	expect(&l, 0, FAN_ATTRIB, a, NULL); /* the link that is left */
	expect(&l, 1, FAN_DELETE, h, NULL);

	/* across directories */
	assert_int_equal(rename(a, b), 0);
	drain(f, &l);
	if (use_rename) {
		expect_n(&l, 1);
		expect(&l, 0, FAN_RENAME, a, b);
	} else {
		expect_n(&l, 2);
		expect(&l, 0, FAN_MOVED_FROM, a, NULL);
		expect(&l, 1, FAN_MOVED_TO, b, NULL);
	}

	/* the last unlink: the link-count FAN_ATTRIB names an inode with no link left,
	 * so it comes unresolved (and counted), then the DELETE */
	assert_int_equal(unlink(b), 0);
	drain(f, &l);
	expect_n(&l, 2);
	assert_int_equal(l.ev[0].mask, FAN_ATTRIB);
	assert_false(l.ev[0].has_dir);
	assert_string_equal(l.ev[0].path, "(null)");
	expect(&l, 1, FAN_DELETE, b, NULL);

	assert_int_equal(rmdir(sub), 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_DELETE | FAN_ONDIR, sub, NULL);

	fan_stats(f, &st);
	assert_int_equal(st.resolve_failures, 1);
	assert_int_equal(st.notify_overflows, 0);
	free_fan();
}

static void test_notify_sequence_rename(void **state)
{
	(void)state;
	notify_sequence(true);
}

static void test_notify_sequence_move(void **state)
{
	(void)state;
	notify_sequence(false);
}

/* Without reading in between the kernel merges queued events with the same pid, object
 * and name into one event whose mask is the union (docs/fanotify.md). */
static void test_notify_merge(void **state)
{
	uint64_t all = 0;
	char c[PATH_MAX];
	struct nlog l;
	struct fan *f;
	int fd;

	(void)state;
	f = notify_fan(FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_CLOSE_WRITE);
	in_dir(c, "c");
	fd = open(c, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(close(fd), 0);
	drain(f, &l);
	/* CREATE carries no child handle, the rest do: CREATE stays first and alone,
	 * ten MODIFYs and the CLOSE_WRITE fold into one event */
	expect_n(&l, 2);
	expect(&l, 0, FAN_CREATE, c, NULL);
	expect(&l, 1, FAN_MODIFY | FAN_CLOSE_WRITE, c, NULL);

	/* unlink + create of the same name fold into one CREATE|DELETE: the order is
	 * lost, which is why a caller that cares stats the path */
	assert_int_equal(unlink(c), 0);
	write_file(c, "", 0644);
	drain(f, &l);
	for (int i = 0; i < l.n; i++) {
		assert_string_equal(l.ev[i].path, c);
		all |= l.ev[i].mask;
	}
	assert_int_equal(all, FAN_CREATE | FAN_DELETE | FAN_CLOSE_WRITE);
	free_fan();
}

/* A directory gone before its events are read cannot be resolved: the event still
 * comes, with its name and no path, and the failure is counted. */
static void test_notify_unresolved_dir(void **state)
{
	char x[PATH_MAX], xf[PATH_MAX];
	struct fan_stats st;
	struct nlog l;
	struct fan *f;

	(void)state;
	f = notify_fan(FAN_CREATE | FAN_DELETE | FAN_ONDIR);
	in_dir(x, "gone");
	snprintf(xf, sizeof(xf), "%s/f", x);
	assert_int_equal(mkdir(x, 0755), 0);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_CREATE | FAN_ONDIR, x, NULL);

	write_file(xf, "", 0644);
	assert_int_equal(unlink(xf), 0);
	assert_int_equal(rmdir(x), 0);
	drain(f, &l);
	/* create and delete of f, same dir and name, queued together: merged */
	expect_n(&l, 2);
	assert_int_equal(l.ev[0].mask, FAN_CREATE | FAN_DELETE);
	assert_string_equal(l.ev[0].name, "f");
	assert_false(l.ev[0].has_dir);
	assert_string_equal(l.ev[0].path, "(null)");
	expect(&l, 1, FAN_DELETE | FAN_ONDIR, x, NULL);
	fan_stats(f, &st);
	assert_int_equal(st.resolve_failures, 1);
	free_fan();
}

/* Create dir/name and expect exactly its FAN_CREATE, named by that path. */
static void create_in(struct fan *f, const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct nlog l;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	write_file(p, "", 0644);
	drain(f, &l);
	expect_n(&l, 1);
	expect(&l, 0, FAN_CREATE, p, NULL);
}

/* The directory fd fan keeps across reads: a directory renamed between two reads is named
 * by its new path in the second (not .../before/b), and one removed and made again under
 * the same name is resolved anew (another handle). */
static void test_notify_dir_moved_between_reads(void **state)
{
	char d[PATH_MAX], d2[PATH_MAX], p[PATH_MAX];
	struct fan *f;

	(void)state;
	f = notify_fan(FAN_CREATE);
	in_dir(d, "before");
	in_dir(d2, "after");
	assert_int_equal(mkdir(d, 0755), 0);
	create_in(f, d, "a");
	assert_int_equal(rename(d, d2), 0);
	create_in(f, d2, "b");
	snprintf(p, sizeof(p), "%s/a", d2);
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/b", d2);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(rmdir(d2), 0);
	assert_int_equal(mkdir(d2, 0755), 0);
	create_in(f, d2, "c");
	free_fan();
}

static int max_queued_events(void)
{
	FILE *fp = fopen("/proc/sys/fs/fanotify/max_queued_events", "re");
	int v = 16384;

	if (fp) {
		if (fscanf(fp, "%d", &v) != 1)
			v = 16384;
		fclose(fp);
	}
	return v;
}

/* More events than the queue holds, none read: the loss is reported, never silent. */
static void test_notify_overflow(void **state)
{
	int q = max_queued_events(), n = q + 2000;
	char d[PATH_MAX], p[PATH_MAX + 16];
	struct fan_stats st;
	struct nlog l;
	struct fan *f;
	int r;

	(void)state;
	if (q > 200000)
		skip(); /* a queue this deep would take minutes to fill */
	in_dir(d, "many");
	assert_int_equal(mkdir(d, 0755), 0);
	f = notify_fan(FAN_CREATE);
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%d", d, i);
		assert_int_equal(mknod(p, S_IFREG | 0600, 0), 0);
	}
	memset(&l, 0, sizeof(l));
	while ((r = fan_read_notify(f, notify_cb, &l)) > 0)
		;
	assert_int_equal(r, 0);
	fan_stats(f, &st);
	print_message("queue %d, created %d: %d events, %d overflow events\n", q, n, l.total,
		      l.overflows);
	assert_int_equal(l.overflows, 1);
	assert_int_equal(st.notify_overflows, 1);
	assert_int_equal(l.total, q);
	assert_int_equal(st.resolve_failures, 0);
	free_fan();
}

/* Both groups on one filesystem: the second fan_mark must not open anything the first
 * one gates (it would wait on ourselves: the watchdog would fire). */
static void test_both_groups(void **state)
{
	struct served s = { 0 };
	char file[PATH_MAX];
	struct nlog l;
	struct fan *f;
	pid_t p;

	(void)state;
	if (!g_sup.fid)
		skip();
	in_dir(file, "new");
	f = new_fan(true, true, 0);
	assert_int_equal(mark(f, g_root, FAN_OPEN_PERM | FAN_ONDIR, 0), 0);
	assert_int_equal(mark(f, g_dir, 0, FAN_CREATE), 0);
	assert_int_equal(mark(f, g_dir, FAN_OPEN_PERM, FAN_CLOSE_WRITE), 0);

	p = spawn(OP_CREATE, file, 1);
	assert_int_equal(serve(f, p, &s), 0);
	assert_int_equal(s.events, 1);
	assert_string_equal(s.path, file);
	drain(f, &l);
	expect_n(&l, 2);
	assert_int_equal(l.ev[0].mask, FAN_CREATE);
	assert_string_equal(l.ev[0].path, file);
	assert_int_equal(l.ev[0].pid, p);
	assert_int_equal(l.ev[1].mask, FAN_CLOSE_WRITE);
	free_fan();
}

/* --- main ------------------------------------------------------------------------- */

/* A private mount namespace and our own tmpfs; 0, or a reason to skip in why. */
static int make_playground(const char **why)
{
	struct statfs sfs;
	struct stat st, tmp;

	if (unshare(CLONE_NEWNS) < 0) {
		*why = "cannot unshare the mount namespace";
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		*why = "cannot make / private in our mount namespace";
		return -1;
	}
	snprintf(g_root, sizeof(g_root), "/tmp/uext-fan-XXXXXX");
	if (!mkdtemp(g_root)) {
		*why = "mkdtemp under /tmp failed";
		return -1;
	}
	/* no MS_NOEXEC: the exec test runs a binary from here */
	if (mount("tmpfs", g_root, "tmpfs", 0, "size=16m,mode=0755") < 0) {
		rmdir(g_root);
		*why = "cannot mount a tmpfs";
		return -1;
	}
	if (statfs(g_root, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC_ || stat(g_root, &st) < 0 ||
	    stat("/tmp", &tmp) < 0 || st.st_dev == tmp.st_dev) {
		fprintf(stderr, "test_fan: %s is not our own tmpfs; refusing to go on\n", g_root);
		exit(1);
	}
	g_root_dev = st.st_dev;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe_and_contracts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deny_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_until_modified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_refuses_changed_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_respond_all_pending_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_respond_after_kill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_releases_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_sequence_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_sequence_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_unresolved_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_dir_moved_between_reads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both_groups, setup, teardown),
	};
	const char *why = NULL;
	int rc;

	if (geteuid() != 0) {
		fprintf(stderr, "test_fan: needs root (fanotify permission events, mounts); skipped\n");
		return 77;
	}
	fan_probe(&g_sup);
	if (!g_sup.perm) {
		fprintf(stderr, "test_fan: no fanotify permission events here (%s); skipped\n",
			strerror(g_sup.perm_errno));
		return 77;
	}
	if (make_playground(&why) < 0) {
		fprintf(stderr, "test_fan: %s (%s); skipped\n", why, strerror(errno));
		return 77;
	}
	signal(SIGALRM, watchdog);
	signal(SIGPIPE, SIG_IGN);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	umount2(g_root, MNT_DETACH);
	rmdir(g_root);
	return rc;
}
