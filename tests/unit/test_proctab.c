/* test_proctab.c: the es engine's process table against real processes of this test:
 * children forked here (each paused on a pipe until the test lets it exec a copy of
 * /bin/sleep) are looked up, forked, exec'd, reused, evicted and reaped, with exact
 * expectations on every field the table fills from /proc; and the SHA-256 cache. Every
 * wait has a deadline and alarm() guards each test, so nothing here can hang. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "testutil.h"
#include "uextd/es/proctab.h"

#define WAIT_MS 5000
#define WATCHDOG_S 30

struct kid {
	pid_t pid;
	int go; /* write end: one byte lets the child chdir and exec */
};

static char tmpdir[PATH_MAX]; /* realpath of a mkdtemp dir, made per test */

static int setup(void **state)
{
	char tmpl[] = "/tmp/uext-proctab-XXXXXX";

	alarm(WATCHDOG_S);
	if (!mkdtemp(tmpl) || !realpath(tmpl, tmpdir))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	alarm(0);
	return system(cmd) == 0 ? 0 : -1;
}

/* Fork a child that waits on a pipe, then (optionally) starts a session on pts, chdirs to
 * dir and execs path with argv. */
static struct kid kid_spawn(const char *dir, const char *path, char *const argv[],
			    const char *pts)
{
	struct kid k = {.pid = -1, .go = -1};
	int p[2];
	char c;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	k.pid = fork();
	assert_true(k.pid >= 0);
	if (k.pid == 0) {
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(126);
		if (pts) {
			if (setsid() < 0 || open(pts, O_RDWR) < 0) /* becomes the ctty */
				_exit(125);
		}
		if (chdir(dir) < 0)
			_exit(124);
		execv(path, argv);
		_exit(127);
	}
	close(p[0]);
	k.go = p[1];
	return k;
}

static void kid_kill(struct kid *k)
{
	int status;

	if (k->go >= 0)
		close(k->go);
	kill(k->pid, SIGKILL);
	assert_int_equal(waitpid(k->pid, &status, 0), k->pid);
}

static size_t args_of(char *const argv[], char *buf, size_t n)
{
	size_t len = 0;

	for (int i = 0; argv[i]; i++) {
		size_t l = strlen(argv[i]) + 1;

		assert_true(len + l <= n);
		memcpy(buf + len, argv[i], l);
		len += l;
	}
	return len;
}

/* Let the child exec and wait until /proc shows the new image and its argv. */
static void kid_exec(struct kid *k, const char *path, char *const argv[])
{
	char want[4096], got[4096], link[PATH_MAX], file[64];
	size_t wlen = args_of(argv, want, sizeof(want));
	ssize_t n;
	int fd;

	assert_int_equal(write(k->go, "x", 1), 1);
	for (int ms = 0; ms < WAIT_MS; ms++) {
		snprintf(file, sizeof(file), "/proc/%d/exe", (int)k->pid);
		n = readlink(file, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			snprintf(file, sizeof(file), "/proc/%d/cmdline", (int)k->pid);
			fd = open(file, O_RDONLY | O_CLOEXEC);
			n = fd >= 0 ? read(fd, got, sizeof(got)) : -1;
			if (fd >= 0)
				close(fd);
			if (!strcmp(link, path) && n == (ssize_t)wlen && !memcmp(got, want, wlen))
				return;
		}
		usleep(1000);
	}
	fail_msg("child %d did not exec %s", (int)k->pid, path);
}

/* start time of pid as the test reads it: stat field 22 after the last ')' */
static uint64_t start_ns_of(pid_t pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ticks;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	assert_non_null(p);
	for (int field = 2; field < 22; field++) { /* to the space before field + 1 */
		p = strchr(p + 1, ' ');
		assert_non_null(p);
	}
	ticks = strtoull(p + 1, NULL, 10);
	return ticks * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

static uint32_t self_id(const char *name)
{
	char path[64], buf[32] = "";
	int fd;

	snprintf(path, sizeof(path), "/proc/self/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return PROCTAB_ID_UNSET;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = '\0';
	close(fd);
	return (uint32_t)strtoul(buf, NULL, 10);
}

static void sha256_of_path(const char *path, uint8_t out[32])
{
	char *data;
	size_t len;
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	len = (size_t)st.st_size;
	data = malloc(len ? len : 1);
	assert_non_null(data);
	assert_int_equal(pread(fd, data, len, 0), (ssize_t)len);
	close(fd);
	crypto_hash_sha256(out, (const unsigned char *)data, len);
	free(data);
}

static void check_ids(const struct proctab_proc *p)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;

	assert_int_equal(getresuid(&r, &e, &s), 0);
	assert_int_equal(getresgid(&gr, &ge, &gs), 0);
	assert_int_equal(p->ruid, r);
	assert_int_equal(p->euid, e);
	assert_int_equal(p->suid, s);
	assert_int_equal(p->rgid, gr);
	assert_int_equal(p->egid, ge);
	assert_int_equal(p->sgid, gs);
	assert_int_equal(p->auid, self_id("loginuid"));
	assert_int_equal(p->asid, self_id("sessionid"));
}

static int64_t tv_us(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* fork + exec of a copied /bin/sleep: every field, old entry kept, exe SHA-256 */
static void test_fork_exec(void **state)
{
	char sleep_path[PATH_MAX], self_exe[PATH_MAX], cwd[PATH_MAX], want[256];
	char *argv[] = {sleep_path, "100", "200", "300", NULL};
	const struct proctab_proc *me, *fk, *g, *ex, *ex2;
	struct proctab_stats s;
	struct timeval before, after;
	struct proctab *t;
	struct stat st;
	uint8_t sha[32];
	struct kid k;
	size_t wlen;
	ssize_t n;

	snprintf(sleep_path, sizeof(sleep_path), "%s/sleep", tmpdir);
	assert_int_equal(copy_file("/bin/sleep", sleep_path, 0755), 0);
	assert_int_equal(proctab_new(64, &t), 0);

	/* this test process, from /proc */
	assert_int_equal(proctab_get(t, getpid(), true, &me), 0);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	assert_true(n > 0);
	self_exe[n] = '\0';
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(me->pid, getpid());
	assert_int_equal(me->ppid, getppid());
	assert_int_equal(me->original_ppid, getppid());
	assert_int_equal(me->pgid, getpgrp());
	assert_int_equal(me->sid, getsid(0));
	assert_string_equal(me->exe, self_exe);
	assert_string_equal(me->cwd, cwd);
	assert_int_equal(me->start_ns, start_ns_of(getpid()));
	assert_false(me->kthread);
	assert_false(me->exited);
	assert_true(me->pidversion != 0);
	check_ids(me);

	/* fork: the child inherits everything but pid, ppid, start and pidversion */
	gettimeofday(&before, NULL);
	k = kid_spawn(tmpdir, sleep_path, argv, NULL);
	gettimeofday(&after, NULL);
	assert_int_equal(proctab_fork(t, getpid(), k.pid, 0, &fk), 0);
	assert_int_equal(fk->pid, k.pid);
	assert_int_equal(fk->ppid, getpid());
	assert_int_equal(fk->original_ppid, getpid());
	assert_int_equal(fk->pgid, getpgrp());
	assert_int_equal(fk->sid, getsid(0));
	assert_int_equal(fk->start_ns, start_ns_of(k.pid));
	/* wall clock of the fork, to a clock tick (10 ms) plus clock skew */
	assert_true(tv_us(fk->start_time) >= tv_us(before) - 50000);
	assert_true(tv_us(fk->start_time) <= tv_us(after) + 50000);
	assert_true(fk->pidversion != 0);
	assert_true(fk->pidversion != me->pidversion);
	assert_string_equal(fk->exe, self_exe);
	assert_string_equal(fk->cwd, cwd);
	assert_int_equal(fk->exe_st.st_ino, me->exe_st.st_ino);
	assert_int_equal(fk->args_len, me->args_len);
	assert_memory_equal(fk->args, me->args, me->args_len);
	check_ids(fk);

	/* a verified lookup finds the same execution */
	proctab_stats(t, &s);
	assert_int_equal(proctab_get(t, k.pid, true, &g), 0);
	assert_ptr_equal(g, fk);
	assert_int_equal(g->ppid, getpid());
	{
		struct proctab_stats s2;

		proctab_stats(t, &s2);
		assert_int_equal(s2.lookups, s.lookups + 1);
		assert_int_equal(s2.hits, s.hits + 1);
		assert_int_equal(s2.proc_reads, s.proc_reads);
	}

	/* exec (argv from /proc/PID/cmdline): new entry, the pre-exec one stays readable */
	kid_exec(&k, sleep_path, argv);
	assert_int_equal(proctab_exec(t, k.pid, NULL, NULL, 0, 0, &ex), 0);
	assert_true(ex != fk);
	assert_string_equal(fk->exe, self_exe); /* retired, still valid until the reap */
	assert_int_equal(fk->pid, k.pid);
	assert_int_equal(ex->pid, k.pid);
	assert_true(ex->pidversion != 0);
	assert_true(ex->pidversion != fk->pidversion);
	assert_true(ex->pidversion != me->pidversion);
	assert_string_equal(ex->exe, sleep_path);
	assert_int_equal(stat(sleep_path, &st), 0);
	assert_int_equal(ex->exe_st.st_dev, st.st_dev);
	assert_int_equal(ex->exe_st.st_ino, st.st_ino);
	assert_int_equal(ex->exe_st.st_size, st.st_size);
	assert_string_equal(ex->cwd, tmpdir);
	assert_string_equal(ex->comm, "sleep");
	wlen = args_of(argv, want, sizeof(want));
	assert_int_equal(ex->args_len, wlen);
	assert_memory_equal(ex->args, want, wlen);
	assert_int_equal(ex->argc, 4);
	assert_false(ex->args_trunc);
	assert_int_equal(ex->ppid, getpid());
	assert_int_equal(ex->original_ppid, getpid());
	assert_int_equal(ex->pgid, getpgrp());
	assert_int_equal(ex->sid, getsid(0));
	assert_int_equal(ex->start_ns, fk->start_ns);
	assert_int_equal(ex->start_time.tv_sec, fk->start_time.tv_sec);
	assert_int_equal(ex->start_time.tv_usec, fk->start_time.tv_usec);
	check_ids(ex);
	assert_int_equal(proctab_get(t, k.pid, true, &g), 0);
	assert_ptr_equal(g, ex);

	/* SHA-256 of the executable, equal to the test's own digest of the file */
	assert_false(ex->exe_hashed);
	sha256_of_path(sleep_path, sha);
	assert_int_equal(proctab_hash_exe(t, ex, true), 0);
	assert_true(ex->exe_hashed);
	assert_memory_equal(ex->exe_sha256, sha, 32);
	assert_int_equal(proctab_hash_exe(t, ex, true), 0);
	proctab_stats(t, &s);
	assert_int_equal(s.hash_computed, 1);
	assert_int_equal(s.hash_cached, 0);

	/* exec with argv from the event; a second cut one */
	assert_int_equal(proctab_exec(t, k.pid, NULL, "x\0yy\0", 5, 2, &ex2), 0);
	assert_int_equal(ex2->args_len, 5);
	assert_int_equal(ex2->argc, 2);
	assert_memory_equal(ex2->args, "x\0yy\0", 5);
	assert_false(ex2->args_trunc);
	assert_true(ex2->pidversion != ex->pidversion);
	assert_string_equal(ex2->exe, sleep_path);
	assert_false(ex2->exe_hashed);
	assert_int_equal(proctab_hash_exe(t, ex2, true), 0); /* same file: from the cache */
	assert_memory_equal(ex2->exe_sha256, sha, 32);
	proctab_stats(t, &s);
	assert_int_equal(s.hash_computed, 1);
	assert_int_equal(s.hash_cached, 1);
	assert_string_equal(ex->exe, sleep_path); /* both earlier entries still readable */
	assert_string_equal(fk->exe, self_exe);
	assert_int_equal(s.retired, 2);
	assert_int_equal(proctab_exec(t, k.pid, NULL, "a\0b\0c", 5, 9, &ex2), 0);
	assert_int_equal(ex2->args_len, 4); /* cut at the last NUL */
	assert_int_equal(ex2->argc, 2);
	assert_true(ex2->args_trunc);

	/* set*id: known values taken, unknown ones read from /proc */
	assert_int_equal(proctab_setids(t, k.pid, PROCTAB_UIDS, 1000, 1001, PROCTAB_ID_UNSET), 0);
	assert_int_equal(ex2->ruid, 1000);
	assert_int_equal(ex2->euid, 1001);
	assert_int_equal(ex2->suid, geteuid()); /* the child's saved uid: ours */
	assert_int_equal(ex2->rgid, getgid());

	proctab_reap(t);
	proctab_stats(t, &s);
	assert_int_equal(s.retired, 0);
	kid_kill(&k);
	proctab_free(t);
}

/* pidversion: new at every fork and exec, never 0, never repeated */
static void test_pidversion_unique(void **state)
{
	enum { N = 2000 };
	uint32_t seen[N + 1];
	const struct proctab_proc *p;
	struct proctab *t;
	int n = 0;

	assert_int_equal(proctab_new(16, &t), 0);
	assert_int_equal(proctab_get(t, getpid(), false, &p), 0);
	seen[n++] = p->pidversion;
	for (int i = 0; i < N; i++) {
		if (i % 2)
			assert_int_equal(proctab_exec(t, getpid(), NULL, "a\0", 2, 1, &p), 0);
		else
			assert_int_equal(proctab_fork(t, getpid(), 4194304 + 10 + i % 5, 1, &p), 0);
		seen[n++] = p->pidversion;
		if (i % 8 == 0)
			proctab_reap(t);
	}
	for (int i = 0; i < n; i++) {
		assert_true(seen[i] != 0);
		if (i)
			assert_true(seen[i] > seen[i - 1]); /* one counter: increasing, so unique */
	}
	proctab_free(t);
}

/* a cached entry whose start time differs from /proc's is a reused pid: rebuilt */
static void test_pid_reuse(void **state)
{
	char *argv[] = {"/bin/sleep", "100", NULL};
	const struct proctab_proc *a, *b, *c;
	struct proctab_stats s;
	struct proctab *t;
	uint64_t real;
	struct kid k;

	assert_int_equal(proctab_new(64, &t), 0);
	k = kid_spawn(tmpdir, "/bin/sleep", argv, NULL);
	real = start_ns_of(k.pid);

	/* an exact event time inside /proc's tick matches */
	assert_int_equal(proctab_fork(t, getpid(), k.pid, real + 3000000, &a), 0);
	assert_int_equal(a->start_ns, real + 3000000);
	assert_int_equal(proctab_get(t, k.pid, true, &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(b->start_ns, real + 3000000);

	/* another start time: a different process */
	assert_int_equal(proctab_fork(t, getpid(), k.pid, real + 5000000000ull, &a), 0);
	assert_int_equal(a->start_ns, real + 5000000000ull);
	assert_int_equal(proctab_get(t, k.pid, false, &b), 0);
	assert_ptr_equal(a, b); /* unverified: the cache answers */
	proctab_stats(t, &s);
	assert_int_equal(s.reused, 0);
	assert_int_equal(proctab_get(t, k.pid, true, &c), 0);
	assert_true(c != a);
	assert_int_equal(c->pid, k.pid);
	assert_int_equal(c->start_ns, real);
	assert_int_equal(c->ppid, getpid());
	assert_true(c->pidversion != a->pidversion);
	assert_int_equal(a->start_ns, real + 5000000000ull); /* retired, still readable */
	proctab_stats(t, &s);
	assert_int_equal(s.reused, 1);
	assert_int_equal(proctab_get(t, k.pid, true, &b), 0);
	assert_ptr_equal(b, c);

	kid_kill(&k);
	proctab_free(t);
}

static pid_t fake_pid(int i)
{
	return 4194304 + 100 + i; /* above the largest pid_max: no such process */
}

/* max_procs bounds the table; the least recently used entry goes */
static void test_lru_bound(void **state)
{
	const struct proctab_proc *p;
	struct proctab_stats s;
	struct proctab *t;
	int rc, i;

	assert_int_equal(proctab_new(8, &t), 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(proctab_fork(t, getpid(), fake_pid(i), 1000 + (uint64_t)i, &p), 0);
		assert_int_equal(p->pid, fake_pid(i));
		assert_int_equal(p->start_ns, 1000 + i);
		proctab_stats(t, &s);
		assert_true(s.live <= 8);
	}
	proctab_stats(t, &s);
	/* parent built once + 20 children = 21 entries; 8 stay */
	assert_int_equal(s.live, 8);
	assert_int_equal(s.max, 8);
	assert_int_equal(s.evictions, 13);
	assert_int_equal(s.retired, 13);
	/* MRU order: child19, parent, child18..child13 */
	assert_int_equal(proctab_get(t, fake_pid(13), false, &p), 0);
	assert_int_equal(p->start_ns, 1013);
	assert_int_equal(proctab_get(t, fake_pid(12), false, &p), -ESRCH);
	assert_int_equal(proctab_fork(t, getpid(), fake_pid(20), 1020, &p), 0);
	assert_int_equal(proctab_get(t, fake_pid(13), false, &p), 0); /* touched: kept */
	assert_int_equal(proctab_get(t, fake_pid(14), false, &p), -ESRCH); /* the tail went */
	assert_int_equal(proctab_get(t, getpid(), false, &p), 0);
	assert_int_equal(p->pid, getpid());
	proctab_stats(t, &s);
	assert_int_equal(s.evictions, 14);
	assert_int_equal(s.live, 8);

	/* without reaps the retired entries hit their cap: refused, nothing changed */
	for (i = 21; i < 200; i++) {
		rc = proctab_fork(t, getpid(), fake_pid(i), 1, &p);
		if (rc < 0)
			break;
	}
	assert_int_equal(rc, -ENOBUFS);
	proctab_stats(t, &s);
	assert_int_equal(s.retired, 64);
	assert_int_equal(s.live, 8);
	assert_int_equal(proctab_get(t, fake_pid(i), false, &p), -ESRCH);
	proctab_reap(t);
	proctab_stats(t, &s);
	assert_int_equal(s.retired, 0);
	assert_int_equal(proctab_fork(t, getpid(), fake_pid(i), 1, &p), 0);
	proctab_free(t);
}

/* SHA-256 cache: hit on the second call, miss after a rewrite that put mtime back */
static void test_hash_cache(void **state)
{
	enum { SIZE = 200000 };
	char path[PATH_MAX];
	unsigned char *data;
	uint8_t want[32], got[32];
	struct proctab_stats s;
	struct timespec ts[2];
	struct stat st, st2;
	struct proctab *t;
	int fd, wfd;

	data = malloc(SIZE);
	assert_non_null(data);
	for (int i = 0; i < SIZE; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	snprintf(path, sizeof(path), "%s/blob", tmpdir);
	wfd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(wfd >= 0);
	assert_int_equal(write(wfd, data, SIZE), SIZE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(proctab_new(8, &t), 0);

	crypto_hash_sha256(want, data, SIZE);
	assert_int_equal(proctab_hash_fd(t, fd, &st, got), 0);
	assert_memory_equal(got, want, 32);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 7); /* pread only */
	proctab_stats(t, &s);
	assert_int_equal(s.hash_computed, 1);
	assert_int_equal(s.hash_cached, 0);
	memset(got, 0, sizeof(got));
	assert_int_equal(proctab_hash_fd(t, fd, NULL, got), 0);
	assert_memory_equal(got, want, 32);
	proctab_stats(t, &s);
	assert_int_equal(s.hash_computed, 1);
	assert_int_equal(s.hash_cached, 1);

	/* same size, mtime put back: only ctime tells (a tick later, whatever the clock) */
	usleep(20000);
	data[100] ^= 0xff;
	assert_int_equal(pwrite(wfd, data + 100, 1, 100), 1);
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(futimens(wfd, ts), 0);
	assert_int_equal(fstat(fd, &st2), 0);
	assert_int_equal(st2.st_ino, st.st_ino);
	assert_int_equal(st2.st_size, st.st_size);
	assert_int_equal(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
	assert_int_equal(st2.st_mtim.tv_nsec, st.st_mtim.tv_nsec);
	assert_true(st2.st_ctim.tv_sec != st.st_ctim.tv_sec ||
		    st2.st_ctim.tv_nsec != st.st_ctim.tv_nsec);
	crypto_hash_sha256(want, data, SIZE);
	assert_int_equal(proctab_hash_fd(t, fd, &st2, got), 0);
	assert_memory_equal(got, want, 32);
	proctab_stats(t, &s);
	assert_int_equal(s.hash_computed, 2);
	assert_int_equal(s.hash_cached, 1);
	assert_int_equal(proctab_hash_fd(t, fd, &st2, got), 0);
	proctab_stats(t, &s);
	assert_int_equal(s.hash_cached, 2);

	/* a size the caller stated but the file no longer has: nothing cached */
	st2.st_size = SIZE + 10;
	st2.st_ino = st.st_ino + 1000000; /* another key, so the cache cannot answer */
	assert_int_equal(proctab_hash_fd(t, fd, &st2, got), -ESTALE);

	/* too big, not regular */
	assert_int_equal(ftruncate(wfd, (off_t)PROCTAB_HASH_FILE_MAX + 1), 0);
	assert_int_equal(proctab_hash_fd(t, fd, NULL, got), -EFBIG);
	close(fd);
	fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(proctab_hash_fd(t, fd, NULL, got), -EINVAL);
	proctab_stats(t, &s);
	assert_int_equal(s.hash_computed, 2);
	close(fd);
	close(wfd);
	free(data);
	proctab_free(t);
}

/* exited entries resolve until the second reap, then go */
static void test_exit_reap(void **state)
{
	char *argv[] = {"/bin/sleep", "100", NULL};
	const struct proctab_proc *p, *q;
	struct proctab_stats s;
	struct proctab *t;
	struct kid k;

	assert_int_equal(proctab_new(64, &t), 0);
	k = kid_spawn(tmpdir, "/bin/sleep", argv, NULL);
	assert_int_equal(proctab_get(t, k.pid, true, &p), 0);
	kid_kill(&k); /* killed and waited: /proc/PID is gone */
	assert_int_equal(proctab_exit(t, k.pid), 0);
	assert_true(p->exited);
	proctab_stats(t, &s);
	assert_int_equal(s.exited, 1);
	assert_int_equal(s.live, 1);
	assert_int_equal(proctab_get(t, k.pid, false, &q), 0);
	assert_ptr_equal(p, q);
	assert_int_equal(proctab_get(t, k.pid, true, &q), 0); /* gone: the last entry */
	assert_ptr_equal(p, q);
	proctab_reap(t);
	assert_int_equal(proctab_get(t, k.pid, false, &q), 0);
	assert_ptr_equal(p, q);
	assert_true(q->exited);
	proctab_reap(t);
	proctab_stats(t, &s);
	assert_int_equal(s.exited, 0);
	assert_int_equal(s.live, 0);
	assert_int_equal(proctab_get(t, k.pid, false, &q), -ESRCH);
	assert_int_equal(proctab_exit(t, k.pid), -ESRCH);
	proctab_free(t);
}

/* An exec record handled after the process exec'd again (setpriv, env and sudo exec the
 * next program at once): the event is about the image its record names, not /proc's. */
static bool exe_is(pid_t pid, const char *want)
{
	char l[64], buf[PATH_MAX];
	snprintf(l, sizeof l, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(l, buf, sizeof buf - 1);
	if (n < 0) return false;
	buf[n] = 0;
	return strcmp(buf, want) == 0;
}

static void test_exec_again_before_read(void **state)
{
	char sleep_path[PATH_MAX], sh_path[PATH_MAX];
	assert_non_null(realpath("/bin/sleep", sleep_path));
	assert_non_null(realpath("/bin/sh", sh_path));
	char *argv[] = {"/bin/sh", "-c", "exec /bin/sleep 100", NULL};
	const struct proctab_proc *p;
	struct proctab *t;
	struct kid k;

	assert_int_equal(proctab_new(64, &t), 0);
	k = kid_spawn(tmpdir, "/bin/sh", argv, NULL);
	assert_int_equal(write(k.go, "x", 1), 1); /* exec sh, which execs sleep */
	for (int i = 0; i < 500 && !exe_is(k.pid, sleep_path); i++) usleep(10000);
	assert_true(exe_is(k.pid, sleep_path));
	/* the record of the first exec, read now: the sh image, the sh argv */
	assert_int_equal(proctab_exec(t, k.pid, sh_path, "sh\0-c\0x", sizeof "sh\0-c\0x", 3, &p), 0);
	assert_string_equal(p->exe, sh_path);
	/* the record of the second: sleep */
	assert_int_equal(proctab_exec(t, k.pid, sleep_path, "sleep\0100", sizeof "sleep\0100", 2, &p), 0);
	assert_string_equal(p->exe, sleep_path);
	kid_kill(&k);
	proctab_free(t);
}

/* comm "a) (b": fields are parsed after the last ')'; controlling tty resolved */
static void test_stat_paren_comm_tty(void **state)
{
	char path[PATH_MAX], pts[PATH_MAX];
	char *argv[] = {path, "100", NULL};
	const struct proctab_proc *p;
	struct proctab *t;
	struct stat st;
	struct kid k;
	uint32_t nr;
	int m;

	snprintf(path, sizeof(path), "%s/a) (b", tmpdir);
	assert_int_equal(copy_file("/bin/sleep", path, 0755), 0);
	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	assert_int_equal(ptsname_r(m, pts, sizeof(pts)), 0);
	assert_int_equal(stat(pts, &st), 0);
	nr = (major(st.st_rdev) << 8) | (minor(st.st_rdev) & 0xff) |
	     ((minor(st.st_rdev) & ~0xffu) << 12);

	assert_int_equal(proctab_new(64, &t), 0);
	k = kid_spawn(tmpdir, path, argv, pts);
	kid_exec(&k, path, argv);
	assert_int_equal(proctab_get(t, k.pid, true, &p), 0);
	assert_string_equal(p->comm, "a) (b");
	assert_int_equal(p->pid, k.pid);
	assert_int_equal(p->ppid, getpid());
	assert_int_equal(p->pgid, k.pid); /* setsid() */
	assert_int_equal(p->sid, k.pid);
	assert_int_equal(p->tty_nr, nr);
	assert_non_null(p->tty);
	assert_string_equal(p->tty, pts);
	assert_int_equal(p->start_ns, start_ns_of(k.pid));
	assert_string_equal(p->exe, path);
	assert_int_equal(p->argc, 2);
	assert_false(p->kthread);
	check_ids(p);

	kid_kill(&k);

	/* what an exec record says of the session and tty, with no /proc to read: the
	 * kernel's naming of the tty, checked against the node */
	assert_int_equal(proctab_get(t, getpid(), false, &p), 0);
	assert_int_equal(proctab_set_session(t, getpid(), 4242, nr), 0);
	assert_int_equal(proctab_get(t, getpid(), false, &p), 0);
	assert_int_equal(p->sid, 4242);
	assert_int_equal(p->tty_nr, nr);
	assert_string_equal(p->tty, pts);
	assert_int_equal(proctab_set_session(t, getpid(), 4242, 0), 0);
	assert_int_equal(proctab_get(t, getpid(), false, &p), 0);
	assert_int_equal(p->tty_nr, 0);
	assert_null(p->tty);
	assert_int_equal(proctab_set_session(t, 0x3ffffff, 1, nr), -ESRCH);

	/* a chain gone before its records were handled: the fork record's entry, then the
	 * exec record names the image (the pids are past pid_max: nobody there) */
	assert_true(proctab_fork(t, 0x3ffff00, 0x3ffff01, 0, NULL) < 0);
	assert_int_equal(proctab_fork_gone(t, 0x3ffff00, 0x3ffff01, 123456789, "sh", 1000, 1001, 100, 101), 0);
	assert_int_equal(proctab_get(t, 0x3ffff01, false, &p), 0);
	assert_int_equal(p->ppid, 0x3ffff00);
	assert_int_equal(p->start_ns, 123456789);
	assert_string_equal(p->comm, "sh");
	assert_int_equal(p->ruid, 1000);
	assert_int_equal(p->euid, 1001);
	assert_int_equal(p->egid, 101);
	assert_string_equal(p->exe, "");
	uint32_t pv = p->pidversion;
	assert_int_equal(proctab_exec(t, 0x3ffff01, "/bin/sh", "sh\0-c\0", 6, 2, &p), 0);
	assert_string_equal(p->exe, "/bin/sh");
	assert_int_equal(p->argc, 2);
	assert_int_equal(p->ppid, 0x3ffff00);
	assert_int_not_equal(p->pidversion, pv);
	assert_int_equal(proctab_set_session(t, 0x3ffff01, 77, nr), 0);
	assert_int_equal(proctab_get(t, 0x3ffff01, false, &p), 0);
	assert_string_equal(p->tty, pts);
	close(m);
	proctab_free(t);
}

static void *thread_main(void *arg)
{
	*(pid_t *)arg = (pid_t)syscall(SYS_gettid);
	pause();
	return NULL;
}

/* a thread id resolves to its group; a kernel thread has no image */
static void test_thread_and_kthread(void **state)
{
	const struct proctab_proc *p, *q;
	volatile pid_t tid = 0;
	struct proctab *t;
	pthread_t th;
	char comm[32] = "";
	int fd;

	assert_int_equal(proctab_new(64, &t), 0);
	assert_int_equal(pthread_create(&th, NULL, thread_main, (void *)&tid), 0);
	for (int ms = 0; ms < WAIT_MS && !tid; ms++)
		usleep(1000);
	assert_true(tid > 0 && tid != getpid());
	assert_int_equal(proctab_get(t, tid, false, &p), 0);
	assert_int_equal(p->pid, getpid());
	assert_int_equal(proctab_get(t, getpid(), false, &q), 0);
	assert_ptr_equal(p, q);
	pthread_cancel(th);
	pthread_join(th, NULL);

	fd = open("/proc/2/comm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && read(fd, comm, sizeof(comm) - 1) > 0 && !strcmp(comm, "kthreadd\n")) {
		assert_int_equal(proctab_get(t, 2, true, &p), 0);
		assert_true(p->kthread);
		assert_string_equal(p->exe, "");
		assert_string_equal(p->comm, "kthreadd");
		assert_int_equal(p->exe_st.st_mode, 0);
		assert_int_equal(p->args_len, 0);
		assert_int_equal(p->argc, 0);
		assert_int_equal(proctab_hash_exe(t, p, true), -ENOENT);
	}
	if (fd >= 0)
		close(fd);
	assert_int_equal(proctab_get(t, 0, false, &p), -EINVAL);
	assert_int_equal(proctab_new(0, &t), -EINVAL);
	proctab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fork_exec, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pidversion_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pid_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lru_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_reap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_again_before_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stat_paren_comm_tty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_and_kthread, setup, teardown),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
