/* test_procsrc.c: the process-event sources against the running kernel (needs root).
 * Each source is forced explicitly (ebpf, then the proc connector) and watched while
 * children of this test exec, exit, change ids, get signalled, traced, mount, chmod and
 * chown, with
 * exact expectations on every record; then a burst of 2000 fork+exec and a deliberately
 * overflowed buffer check that no event is lost without being counted. ebpf tests skip
 * with the loader's reason when eBPF cannot load. Every wait polls the source fd with a
 * deadline, and alarm(30) guards each test, so nothing here can hang. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "uextd/es/procsrc.h"

#define WAIT_MS 5000
#define WATCHDOG_S 30
#define MAX_KEPT 512
#define MAX_KIDS 8
#define BURST 2000
#define OVERFLOW_N 300

extern char **environ;

struct ctx {
	enum procsrc_kind kind;
	struct procsrc *src;
	pid_t self;
	pid_t kids[MAX_KIDS];
	int nkids;
	struct proc_ev *kept; /* events about our children, in arrival order */
	int nkept;
	char tag[40];         /* uext-test-<random>: an argument nobody else uses */
};

struct param {
	enum procsrc_kind kind;
	struct ctx *c;
};

static struct param p_bpf = { PROCSRC_BPF, NULL };
static struct param p_cn = { PROCSRC_CN, NULL };

static bool is_bpf(const struct ctx *c)
{
	return c->kind == PROCSRC_BPF;
}

static bool is_kid(const struct ctx *c, uint32_t pid)
{
	for (int i = 0; i < c->nkids; i++)
		if ((uint32_t)c->kids[i] == pid)
			return true;
	return false;
}

static void add_kid(struct ctx *c, pid_t pid)
{
	assert_true(pid > 0);
	assert_true(c->nkids < MAX_KIDS);
	c->kids[c->nkids++] = pid;
}

/* The pid an event is "about", for matching: the child, the target, or the actor. */
static uint32_t subject(const struct proc_ev *ev)
{
	switch (ev->type) {
	case PROC_EV_FORK:
		return ev->fork.child_pid;
	case PROC_EV_SIGNAL:
		return ev->signal.target_pid;
	case PROC_EV_PTRACE:
		return ev->ptrace.target_pid;
	default:
		return ev->pid;
	}
}

static int keep_cb(const struct proc_ev *ev, void *data)
{
	struct ctx *c = data;

	assert_true(ev->size >= PROC_EV_HDR_SIZE && ev->size <= sizeof(*ev));
	if (!is_kid(c, subject(ev)) && !is_kid(c, ev->pid))
		return 0;
	assert_true(c->nkept < MAX_KEPT);
	memcpy(&c->kept[c->nkept++], ev, ev->size);
	return 0;
}

typedef bool (*match_fn)(const struct proc_ev *ev, const void *arg);

static const struct proc_ev *find(struct ctx *c, uint32_t type, uint32_t pid, match_fn m,
				  const void *arg)
{
	for (int i = 0; i < c->nkept; i++) {
		const struct proc_ev *ev = &c->kept[i];

		if (ev->type == type && subject(ev) == pid && (!m || m(ev, arg)))
			return ev;
	}
	return NULL;
}

/* Poll the source until an event of type about pid (and matching m) arrives. */
static const struct proc_ev *wait_ev(struct ctx *c, uint32_t type, uint32_t pid, match_fn m,
				     const void *arg)
{
	uint64_t end = now_mono_ms() + WAIT_MS;

	for (;;) {
		const struct proc_ev *ev = find(c, type, pid, m, arg);
		struct pollfd p = { .fd = procsrc_fd(c->src), .events = POLLIN };
		int64_t left = (int64_t)(end - now_mono_ms());

		if (ev)
			return ev;
		if (left <= 0) {
			print_message("no %s event about pid %u from %s within %d ms\n",
				      proc_ev_type_name(type), pid, procsrc_name(c->src), WAIT_MS);
			return NULL;
		}
		if (poll(&p, 1, (int)left) > 0)
			assert_true(procsrc_read(c->src, keep_cb, c) >= 0);
	}
}

/* Read whatever is there for a little while: proves an absence. */
static void drain_for(struct ctx *c, int ms, procsrc_cb cb, void *data)
{
	uint64_t end = now_mono_ms() + (uint64_t)ms;
	int64_t left;

	while ((left = (int64_t)(end - now_mono_ms())) > 0) {
		struct pollfd p = { .fd = procsrc_fd(c->src), .events = POLLIN };

		if (poll(&p, 1, (int)left) > 0)
			assert_true(procsrc_read(c->src, cb, data) >= 0);
	}
}

/* Wait (bounded) for a child to exit and reap it; its wait status. */
static int reap(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int st = -1;

	assert_true(fd >= 0);
	if (poll(&p, 1, WAIT_MS) != 1) {
		close(fd);
		fail_msg("child %d did not exit within %d ms", (int)pid, WAIT_MS);
	}
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void ctx_free(struct ctx *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->nkids; i++) {
		kill(c->kids[i], SIGKILL);
		waitpid(c->kids[i], NULL, WNOHANG);
	}
	procsrc_free(c->src);
	free(c->kept);
	free(c);
}

/* Open the source of this test's kind with opts, or skip with the reason. */
static struct ctx *start(void **state, const struct procsrc_opts *opts)
{
	struct param *p = *state;
	struct ctx *c = calloc(1, sizeof(*c));
	char why[512];
	int r;

	alarm(WATCHDOG_S);
	assert_non_null(c);
	p->c = c;
	c->kind = p->kind;
	c->self = getpid();
	c->kept = calloc(MAX_KEPT, sizeof(*c->kept));
	assert_non_null(c->kept);
	snprintf(c->tag, sizeof(c->tag), "uext-test-%08lx%04x", (unsigned long)random(),
		 (unsigned)getpid() & 0xffff);
	r = procsrc_new(c->kind, opts, &c->src, why, sizeof(why));
	if (r < 0) {
		print_message("%s source unavailable (%s): %s\n",
			      c->kind == PROCSRC_BPF ? "ebpf" : "proc-connector", strerror(-r), why);
		/* the proc connector is refused outside the initial namespaces only */
		if (c->kind == PROCSRC_CN && r != -EPERM && r != -ETIMEDOUT)
			fail_msg("proc connector failed as root: %s", why);
		skip();
	}
	assert_string_equal(why, "");
	assert_string_equal(procsrc_name(c->src), is_bpf(c) ? "ebpf" : "proc-connector");
	return c;
}

static int teardown(void **state)
{
	struct param *p = *state;

	ctx_free(p->c);
	p->c = NULL;
	alarm(0);
	return 0;
}

static void assert_no_loss(struct ctx *c)
{
	struct procsrc_stats st;

	procsrc_stats(c->src, &st);
	assert_true(st.events > 0);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.malformed, 0);
	assert_int_equal(st.overruns, 0);
	assert_int_equal(st.misses, 0);
}

/* A child blocked reading a pipe until the test closes its write end. */
static pid_t blocked_child(struct ctx *c, int *ret_wfd)
{
	int pfd[2];
	pid_t pid;
	char b;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[1]);
		_exit(read(pfd[0], &b, 1) < 0 ? 1 : 0);
	}
	close(pfd[0]);
	add_kid(c, pid);
	*ret_wfd = pfd[1];
	return pid;
}

/* --- fork, exec, exit ---------------------------------------------------------------- */

static void test_exec_exit(void **state)
{
	struct ctx *c = start(state, NULL);
	const char *argv[] = { "/bin/sh", "-c", "read x; exit 7", c->tag };
	const struct proc_ev *fork_ev, *ev;
	char sh[PATH_MAX];
	int pfd[2], st;
	pid_t pid;

	assert_non_null(realpath("/bin/sh", sh));
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[0], 0);
		execl(argv[0], argv[0], argv[1], argv[2], argv[3], (char *)NULL);
		_exit(127);
	}
	close(pfd[0]);
	add_kid(c, pid);

	/* fork: the actor is this test, the child is pid */
	fork_ev = wait_ev(c, PROC_EV_FORK, (uint32_t)pid, NULL, NULL);
	assert_non_null(fork_ev);
	assert_int_equal(fork_ev->pid, c->self);
	assert_int_equal(fork_ev->tid, c->self);
	assert_int_equal(fork_ev->fork.child_pid, pid);
	assert_int_equal(fork_ev->fork.child_tid, pid);
	assert_false(fork_ev->flags & PROC_EF_THREAD);
	if (is_bpf(c)) {
		assert_int_equal(fork_ev->ppid, getppid());
		assert_int_equal(fork_ev->uid, 0);
		assert_true(fork_ev->fork.child_start_ns > 0);
		assert_true(fork_ev->start_ns < fork_ev->fork.child_start_ns);
	}

	/* exec, held by the child's read until we saw it */
	ev = wait_ev(c, PROC_EV_EXEC, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->pid, pid);
	assert_int_equal(ev->tid, pid);
	assert_int_equal(ev->ppid, c->self);
	assert_int_equal(ev->uid, 0);
	assert_int_equal(ev->euid, 0);
	assert_int_equal(ev->gid, getgid());
	assert_string_equal(ev->comm, "sh");
	assert_int_equal(ev->exec.nargs, 4);
	assert_int_equal(ev->exec.argc, 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_string_equal(proc_ev_arg(ev, i), argv[i]);
	assert_null(proc_ev_arg(ev, 4));
	assert_false(ev->flags & (PROC_EF_ARGS_TRUNC | PROC_EF_NO_ARGS | PROC_EF_PROC_GONE |
				  PROC_EF_NO_CREDS | PROC_EF_PATH_TRUNC));
	if (is_bpf(c)) {
		assert_string_equal(ev->exec.filename, "/bin/sh"); /* as passed to execve */
		assert_int_equal(ev->exec.old_tid, pid);
		assert_true(ev->start_ns == fork_ev->fork.child_start_ns);
		assert_false(ev->flags & PROC_EF_RACY);
	} else {
		assert_string_equal(ev->exec.filename, sh); /* /proc/<pid>/exe, resolved */
		assert_true(ev->flags & PROC_EF_RACY);
		assert_true(ev->start_ns > 0 && ev->start_ns <= ev->ts_ns);
	}

	close(pfd[1]); /* EOF: the shell exits 7 */
	ev = wait_ev(c, PROC_EV_EXIT, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->tid, pid);
	assert_int_equal(ev->ppid, c->self);
	assert_true(WIFEXITED(ev->exit.status));
	assert_int_equal(WEXITSTATUS(ev->exit.status), 7);
	st = reap(pid);
	assert_int_equal(st, (int)ev->exit.status);
	assert_no_loss(c);
}

/* --- setuid family -------------------------------------------------------------------- */

static void test_setid(void **state)
{
	struct ctx *c = start(state, NULL);
	const struct proc_ev *ev;
	pid_t pid;

	assert_true(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_SETUID));
	assert_true(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_SETGID));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresgid(65534, 65534, 65534))
			_exit(1);
		if (setresuid(65534, 65534, 65534))
			_exit(2);
		_exit(0);
	}
	add_kid(c, pid);

	ev = wait_ev(c, PROC_EV_SETGID, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->setid.id, 65534);
	assert_int_equal(ev->setid.eid, 65534);
	assert_int_equal(ev->gid, 65534);
	assert_int_equal(ev->egid, 65534);
	if (is_bpf(c)) {
		assert_int_equal(ev->setid.call, PROC_SETID_SETRESGID);
		assert_int_equal(ev->setid.ret, 0);
		assert_int_equal(ev->setid.sid, 65534);
		assert_int_equal(ev->setid.fsid, 65534);
		assert_int_equal(ev->uid, 0); /* not yet changed */
	}

	ev = wait_ev(c, PROC_EV_SETUID, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->setid.id, 65534);
	assert_int_equal(ev->setid.eid, 65534);
	assert_int_equal(ev->uid, 65534);
	assert_int_equal(ev->euid, 65534);
	if (is_bpf(c)) {
		assert_int_equal(ev->setid.call, PROC_SETID_SETRESUID);
		assert_int_equal(ev->setid.ret, 0);
		assert_int_equal(ev->setid.sid, 65534);
		assert_int_equal(ev->setid.fsid, 65534);
		assert_int_equal(ev->gid, 65534);
	} else {
		assert_int_equal(ev->setid.sid, PROC_ID_UNKNOWN);
	}

	ev = wait_ev(c, PROC_EV_EXIT, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->exit.status, 0);
	assert_int_equal(reap(pid), 0);
	assert_no_loss(c);
}

/* --- signals ---------------------------------------------------------------------------- */

static void test_signal(void **state)
{
	struct ctx *c = start(state, NULL);
	const struct proc_ev *ev;
	int wfd;
	pid_t pid = blocked_child(c, &wfd);

	assert_int_equal(kill(pid, SIGUSR1), 0);
	if (is_bpf(c)) {
		ev = wait_ev(c, PROC_EV_SIGNAL, (uint32_t)pid, NULL, NULL);
		assert_non_null(ev);
		assert_int_equal(ev->pid, c->self); /* the sender */
		assert_int_equal(ev->signal.sig, SIGUSR1);
		assert_int_equal(ev->signal.target_pid, pid);
		assert_int_equal(ev->signal.target_tid, pid);
		assert_int_equal(ev->signal.code, SI_USER);
		assert_int_equal(ev->signal.result, 0);
		assert_int_equal(ev->signal.group, 1);
		assert_true(ev->signal.target_comm[0] != '\0');
	} else {
		assert_false(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_SIGNAL));
		print_message("proc connector: no signal events (not in the connector's API)\n");
	}
	ev = wait_ev(c, PROC_EV_EXIT, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_true(WIFSIGNALED(ev->exit.status));
	assert_int_equal(WTERMSIG(ev->exit.status), SIGUSR1);
	assert_int_equal(reap(pid), (int)ev->exit.status);
	close(wfd);
	/* kernel-made signals (the child's SIGCHLD to us) are not reported by default */
	drain_for(c, 100, keep_cb, c);
	assert_null(find(c, PROC_EV_SIGNAL, (uint32_t)c->self, NULL, NULL));
	assert_no_loss(c);
}

/* --- ptrace ------------------------------------------------------------------------------ */

static void test_ptrace(void **state)
{
	struct ctx *c = start(state, NULL);
	const struct proc_ev *ev;
	int wfd;
	pid_t pid = blocked_child(c, &wfd);

	assert_int_equal(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	ev = wait_ev(c, PROC_EV_PTRACE, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->pid, c->self); /* the tracer */
	assert_int_equal(ev->ptrace.target_pid, pid);
	if (is_bpf(c)) {
		assert_int_equal(ev->ptrace.request, PTRACE_SEIZE);
		assert_int_equal(ev->ptrace.ret, 0);
		assert_int_equal(ev->uid, 0);
	} else {
		assert_int_equal(ev->ptrace.request, PTRACE_ATTACH);
	}
	assert_int_equal(kill(pid, SIGKILL), 0);
	reap(pid);
	close(wfd);
	assert_no_loss(c);
}

/* --- mount and umount ------------------------------------------------------------------- */

static bool target_is(const struct proc_ev *ev, const void *arg)
{
	return !strcmp(ev->mount.target, arg);
}

static void test_mount(void **state)
{
	struct ctx *c = start(state, NULL);
	char dir[] = "/tmp/uext-procsrc-XXXXXX";
	const struct proc_ev *ev;
	pid_t pid;

	if (!is_bpf(c)) {
		assert_false(procsrc_events(c->src) &
			     (PROC_EV_BIT(PROC_EV_MOUNT) | PROC_EV_BIT(PROC_EV_UMOUNT)));
		print_message("proc connector: no mount events (not in the connector's API)\n");
		return;
	}
	assert_non_null(mkdtemp(dir));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* in a private mount namespace, so nothing outside the child sees it */
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
			_exit(1);
		if (mount(c->tag, dir, "tmpfs", MS_NOSUID, "size=64k"))
			_exit(2);
		_exit(umount2(dir, MNT_DETACH) ? 3 : 0);
	}
	add_kid(c, pid);

	ev = wait_ev(c, PROC_EV_MOUNT, (uint32_t)pid, target_is, dir);
	assert_non_null(ev);
	assert_int_equal(ev->mount.call, PROC_CALL_MOUNT);
	assert_int_equal(ev->mount.ret, 0);
	assert_string_equal(ev->mount.source, c->tag);
	assert_string_equal(ev->mount.fstype, "tmpfs");
	assert_true(ev->mount.flags & MS_NOSUID);
	/* the MS_PRIVATE remount of / came first, with no source */
	ev = wait_ev(c, PROC_EV_MOUNT, (uint32_t)pid, target_is, "/");
	assert_non_null(ev);
	assert_string_equal(ev->mount.source, "");
	assert_true(ev->mount.flags & MS_PRIVATE);

	ev = wait_ev(c, PROC_EV_UMOUNT, (uint32_t)pid, target_is, dir);
	assert_non_null(ev);
	assert_int_equal(ev->mount.call, PROC_CALL_UMOUNT2);
	assert_int_equal(ev->mount.ret, 0);
	assert_int_equal(ev->mount.flags, MNT_DETACH);
	assert_int_equal(reap(pid), 0);
	rmdir(dir);
	assert_no_loss(c);
}

/* --- failed calls (PROCSRC_F_FAILED) ------------------------------------------------------ */

static bool failed(const struct proc_ev *ev, const void *arg)
{
	return ev->setid.ret < 0;
}

static void test_failed_calls(void **state)
{
	struct procsrc_opts o = { .flags = PROCSRC_F_FAILED };
	struct ctx *c = start(state, &o);
	const struct proc_ev *ev;
	int st;
	pid_t pid;

	if (!is_bpf(c)) {
		print_message("proc connector: reports changes only, never failed calls\n");
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int e = syscall(SYS_finit_module, -1, "", 0) < 0 ? errno : 0;

		if (syscall(SYS_fchmodat, (long)AT_FDCWD, "/nonexistent-uext/x", 0600L) == 0)
			_exit(102);
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(100);
		if (setuid(0) == 0)
			_exit(101);
		_exit(e);
	}
	add_kid(c, pid);
	st = reap(pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) > 0 && WEXITSTATUS(st) < 100);

	ev = wait_ev(c, PROC_EV_MODULE_LOAD, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->module.call, PROC_CALL_FINIT_MODULE);
	assert_int_equal(ev->module.ret, -WEXITSTATUS(st));
	assert_string_equal(ev->module.name, "");

	ev = wait_ev(c, PROC_EV_SETUID, (uint32_t)pid, failed, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->setid.call, PROC_SETID_SETUID);
	assert_int_equal(ev->setid.ret, -EPERM);
	assert_int_equal(ev->setid.id, 65534); /* unchanged */

	ev = wait_ev(c, PROC_EV_SETATTR, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->setattr.call, PROC_CALL_CHMOD);
	assert_int_equal(ev->setattr.ret, -ENOENT);
	assert_int_equal(ev->setattr.dirfd_or_fd, AT_FDCWD);
	assert_int_equal(ev->setattr.mode, 0600);
	assert_string_equal(ev->setattr.path, "/nonexistent-uext/x");
	assert_no_loss(c);
}

/* --- chmod and chown (SETATTR) ---------------------------------------------------------- */

struct setattr_want {
	uint32_t call, mode, uid, gid;
	int32_t fd;
	uint32_t at_flags;
	const char *path;
};

static void test_setattr(void **state)
{
	struct ctx *c = start(state, NULL);
	char dir[] = "/tmp/uext-procsrc-XXXXXX", file[PATH_MAX];
	struct setattr_want want[8];
	const uint32_t none = 0xffffffffu;
	const struct proc_ev *ev;
	struct procsrc *s = NULL;
	struct procsrc_opts only = { .events = PROC_EV_BIT(PROC_EV_SETATTR) };
	int fd, dfd, done[2], hold[2], nwant = 0, n, k;
	char why[256], b;
	pid_t pid;

	if (!is_bpf(c)) {
		assert_false(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_SETATTR));
		assert_int_equal(procsrc_new(PROCSRC_CN, &only, &s, why, sizeof(why)), -EOPNOTSUPP);
		print_message("proc connector: no chmod/chown events (not in the connector's API)\n");
		return;
	}
	assert_true(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_SETATTR));
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/f", dir);
	fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(dfd >= 0);
	assert_int_equal(pipe2(done, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);

	/* what the child below does, in order (the failed call last is not reported) */
#ifdef SYS_chmod
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHMOD, 0640, none, none, AT_FDCWD, 0, file };
#endif
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHMOD, 0604, none, none, fd, 0, "" };
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHMOD, 0600, none, none, dfd, 0, "f" };
#ifdef SYS_chown
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHOWN, none, 1001, none, AT_FDCWD, 0, file };
#endif
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHOWN, none, none, 1002, fd, 0, "" };
#ifdef SYS_lchown
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHOWN, none, 1003, 1003, AT_FDCWD,
					       AT_SYMLINK_NOFOLLOW, file };
#endif
	want[nwant++] = (struct setattr_want){ PROC_CALL_CHOWN, none, 1004, 1005, dfd,
					       AT_SYMLINK_NOFOLLOW, "f" };
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int bad = 0;

		close(hold[1]);
		close(done[0]);
#ifdef SYS_chmod
		bad |= syscall(SYS_chmod, file, 0640L) != 0;
#endif
		bad |= syscall(SYS_fchmod, (long)fd, 0604L) != 0;
		bad |= syscall(SYS_fchmodat, (long)dfd, "f", 0600L) != 0;
#ifdef SYS_chown
		bad |= syscall(SYS_chown, file, 1001L, (long)none) != 0;
#endif
		bad |= syscall(SYS_fchown, (long)fd, (long)none, 1002L) != 0;
#ifdef SYS_lchown
		bad |= syscall(SYS_lchown, file, 1003L, 1003L) != 0;
#endif
		bad |= syscall(SYS_fchownat, (long)dfd, "f", 1004L, 1005L,
			       (long)AT_SYMLINK_NOFOLLOW) != 0;
		bad |= syscall(SYS_fchmodat, (long)dfd, "missing", 0600L) == 0; /* ENOENT */
		(void)!write(done[1], "x", 1);
		(void)!read(hold[0], &b, 1);
		_exit(bad);
	}
	add_kid(c, pid);
	close(done[1]);
	close(hold[0]);
	{
		struct pollfd p = { .fd = done[0], .events = POLLIN };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(read(done[0], &b, 1), 1);
	}
	/* every call has returned: its record must be readable now, without waiting */
	while ((n = procsrc_read(c->src, keep_cb, c)) == PROCSRC_BATCH)
		;
	assert_true(n >= 0);
	for (int pass = 0; pass < 2; pass++) {
		k = 0;
		for (int i = 0; i < c->nkept; i++) {
			ev = &c->kept[i];
			if (ev->type != PROC_EV_SETATTR || ev->pid != (uint32_t)pid)
				continue;
			assert_true(k < nwant);
			assert_int_equal(ev->tid, pid);
			assert_int_equal(ev->uid, 0);
			assert_int_equal(ev->setattr.ret, 0);
			assert_int_equal(ev->setattr.call, want[k].call);
			assert_int_equal(ev->setattr.mode, want[k].mode);
			assert_int_equal(ev->setattr.uid, want[k].uid);
			assert_int_equal(ev->setattr.gid, want[k].gid);
			assert_int_equal(ev->setattr.dirfd_or_fd, want[k].fd);
			assert_int_equal(ev->setattr.at_flags, want[k].at_flags);
			assert_int_equal(ev->setattr.pad, 0);
			assert_string_equal(ev->setattr.path, want[k].path);
			assert_false(ev->flags & PROC_EF_PATH_TRUNC);
			k++;
		}
		assert_int_equal(k, nwant);
		if (pass == 0) { /* then: nothing more, the failed fchmodat included */
			close(hold[1]);
			assert_int_equal(reap(pid), 0);
			drain_for(c, 200, keep_cb, c);
		}
	}
	close(done[0]);
	close(fd);
	close(dfd);
	unlink(file);
	rmdir(dir);
	assert_no_loss(c);
}

/* --- the environment size of exec records -------------------------------------------------- */

static void test_exec_env(void **state)
{
	struct ctx *c = start(state, NULL);
	char tagvar[64];
	char *const argv[] = { "sh", "-c", "read x; exit 0", NULL };
	char *const envp[] = { "A=1", "B=two words", "EMPTY=", tagvar, "Z=z", NULL };
	const struct proc_ev *ev;
	int pfd[2];
	pid_t pid;

	snprintf(tagvar, sizeof(tagvar), "UEXT_TAG=%s", c->tag);
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[0], 0);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	close(pfd[0]);
	add_kid(c, pid);
	/* held by the shell's read: the connector reads /proc/<pid>/environ meanwhile */
	ev = wait_ev(c, PROC_EV_EXEC, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->exec.argc, 3);
	assert_int_equal(ev->exec.envc, 5);
	assert_false(ev->flags & (PROC_EF_NO_ENVC | PROC_EF_PROC_GONE | PROC_EF_NO_ENV | PROC_EF_ENV_TRUNC));
	/* and the strings, after argv */
	uint32_t elen, off = 0;
	const char *env = proc_ev_env(ev, &elen);
	for (int i = 0; i < 5; i++) {
		assert_true(off < elen);
		assert_string_equal(env + off, envp[i]);
		off += (uint32_t)strlen(envp[i]) + 1;
	}
	assert_int_equal(off, elen);
	/* eBPF: the session and controlling tty at the exec, as /proc/PID/stat has them */
	if (is_bpf(c)) {
		unsigned tty_nr = 0;
		int sid = 0;
		FILE *f = fopen("/proc/self/stat", "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%*d %*s %*c %*d %*d %d %u", &sid, &tty_nr), 2);
		fclose(f);
		assert_true(ev->flags & PROC_EF_SESSION);
		assert_int_equal(ev->exec.sid, sid); /* the child's: inherited from this process */
		assert_int_equal(ev->exec.tty_nr, tty_nr);
	}
	close(pfd[1]);
	assert_int_equal(reap(pid), 0);
	assert_no_loss(c);
}

/* --- execve entry (EXEC_ARGS) ------------------------------------------------------------ */

static void test_exec_args(void **state)
{
	struct ctx *c = start(state, NULL);
	char *const argv[] = { "/bin/true", c->tag, "two words", "", NULL };
	char *const envp[] = { "A=1", "B=2", NULL };
	char *many[21];
	char comm[PROC_COMM_LEN] = "";
	const struct proc_ev *ev, *first = NULL, *args = NULL, *exec;
	struct procsrc_opts only = { .events = PROC_EV_BIT(PROC_EV_EXEC_ARGS) };
	struct procsrc *s = NULL;
	char why[256];
	int n = 0;
	pid_t pid;

	if (!is_bpf(c)) {
		assert_false(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_EXEC_ARGS));
		assert_int_equal(procsrc_new(PROCSRC_CN, &only, &s, why, sizeof(why)), -EOPNOTSUPP);
		print_message("proc connector: no execve entry events (not in the connector's API)\n");
		return;
	}
	assert_true(procsrc_events(c->src) & PROC_EV_BIT(PROC_EV_EXEC_ARGS));
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
	for (int i = 0; i < 20; i++)
		many[i] = "m";
	many[20] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Strings are read at entry without faulting pages in: literals a freshly
		 * forked child never touched are not mapped in it yet. Copy them, as a shell
		 * that builds argv would have. */
		char *dup[5], *mdup[21], *edup[3], *menv[71];

		for (int i = 0; i < 4; i++)
			dup[i] = strdup(argv[i]);
		for (int i = 0; i < 20; i++)
			mdup[i] = strdup(many[i]);
		for (int i = 0; i < 2; i++)
			edup[i] = strdup(envp[i]);
		for (int i = 0; i < 70; i++)
			menv[i] = strdup("E=e");
		dup[4] = mdup[20] = edup[2] = menv[70] = NULL;
		/* an attempt that fails is reported too, with what it passed */
		execve(strdup("/nonexistent-uext"), mdup, menv);
		execve(dup[0], dup, edup);
		_exit(127);
	}
	add_kid(c, pid);
	exec = wait_ev(c, PROC_EV_EXEC, (uint32_t)pid, NULL, NULL);
	assert_non_null(exec);
	assert_int_equal(reap(pid), 0);
	drain_for(c, 100, keep_cb, c);
	for (int i = 0; i < c->nkept; i++) {
		ev = &c->kept[i];
		if (ev->type != PROC_EV_EXEC_ARGS || ev->pid != (uint32_t)pid)
			continue;
		if (n++ == 0)
			first = ev;
		else
			args = ev;
	}
	assert_int_equal(n, 2);
	assert_true(first < args && args < exec); /* in the order they happened */
	assert_true(first->ts_ns <= args->ts_ns && args->ts_ns <= exec->ts_ns);

	/* the failed attempt: 20 arguments, 16 kept */
	assert_string_equal(first->exec.filename, "/nonexistent-uext");
	assert_int_equal(first->exec.argc, 20);
	assert_int_equal(first->exec.nargs, PROC_ARGS_MAX);
	assert_int_equal(first->exec.args_len, PROC_ARGS_MAX * 2);
	assert_true(first->flags & PROC_EF_ARGS_TRUNC);
	assert_string_equal(proc_ev_arg(first, PROC_ARGS_MAX - 1), "m");
	assert_null(proc_ev_arg(first, PROC_ARGS_MAX));
	/* and 70 variables, PROC_ENV_MAX kept, after the arguments kept */
	assert_int_equal(first->exec.envc, 70);
	assert_int_equal(first->exec.env_len, PROC_ENV_MAX * 4);
	assert_true(first->flags & PROC_EF_ENV_TRUNC);
	assert_string_equal(first->exec.args + first->exec.args_len, "E=e");

	/* the one that ran: the caller before the exec, and exactly what it passed */
	assert_int_equal(args->pid, pid);
	assert_int_equal(args->tid, pid);
	assert_int_equal(args->ppid, c->self);
	assert_int_equal(args->uid, 0);
	assert_string_equal(args->comm, comm);
	assert_int_equal(args->exec.old_tid, pid);
	assert_string_equal(args->exec.filename, "/bin/true");
	assert_int_equal(args->exec.argc, 4);
	assert_int_equal(args->exec.nargs, 4);
	assert_int_equal(args->exec.envc, 2);
	assert_int_equal(args->exec.args_len, strlen(c->tag) + 22); /* 10 + 10 + 1 + 1 + tag */
	for (uint32_t i = 0; i < 4; i++)
		assert_string_equal(proc_ev_arg(args, i), argv[i]);
	assert_null(proc_ev_arg(args, 4));
	assert_false(args->flags & (PROC_EF_ARGS_TRUNC | PROC_EF_NO_ARGS | PROC_EF_NO_ENVC |
				    PROC_EF_PATH_TRUNC));
	assert_int_equal(args->size, PROC_EV_EXEC_SIZE(args->exec.args_len + args->exec.env_len));
	/* the environment it passed, after argv */
	uint32_t elen;
	const char *env = proc_ev_env(args, &elen);
	assert_int_equal(elen, strlen(envp[0]) + strlen(envp[1]) + 2);
	assert_string_equal(env, envp[0]);
	assert_string_equal(env + strlen(envp[0]) + 1, envp[1]);
	assert_false(args->flags & (PROC_EF_ENV_TRUNC | PROC_EF_NO_ENV));

	/* and the exec record after it says the same */
	assert_int_equal(exec->exec.argc, 4);
	assert_int_equal(exec->exec.envc, 2);
	assert_int_equal(exec->exec.args_len, args->exec.args_len);
	assert_memory_equal(exec->exec.args, args->exec.args, args->exec.args_len + args->exec.env_len);
	assert_string_equal(exec->comm, "true");
	assert_no_loss(c);
}

/* --- threads ------------------------------------------------------------------------------- */

static int g_ready_fd = -1, g_hold_fd = -1;

static void *thread_main(void *arg)
{
	pid_t tid = gettid();
	char b;

	(void)!write(g_ready_fd, &tid, sizeof(tid));
	if (arg) { /* the exec'ing thread: de_thread() kills the others, leader included */
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	(void)!read(g_hold_fd, &b, 1);
	return NULL;
}

/* A child with nthreads extra threads; the last one execs /bin/true when do_exec, else
 * the main thread _exit(3)s (exit_group) once all are up. Their tids go to tids[]. */
static pid_t threaded_child(struct ctx *c, int nthreads, bool do_exec, pid_t *tids)
{
	int ready[2], hold[2];
	pid_t pid;

	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	assert_int_equal(pipe2(hold, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		g_ready_fd = ready[1];
		g_hold_fd = hold[0];
		for (int i = 0; i < nthreads; i++) {
			bool last = do_exec && i == nthreads - 1;

			if (last)
				usleep(20000); /* exec once the other thread is up */
			if (pthread_create(&t, NULL, thread_main, last ? (void *)1 : NULL))
				_exit(120);
		}
		if (!do_exec) {
			usleep(50000);
			_exit(3);
		}
		pause();
		_exit(121);
	}
	add_kid(c, pid);
	close(ready[1]);
	close(hold[0]);
	for (int i = 0; i < nthreads; i++) {
		struct pollfd p = { .fd = ready[0], .events = POLLIN };

		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		assert_int_equal(read(ready[0], &tids[i], sizeof(tids[i])), sizeof(tids[i]));
	}
	close(ready[0]);
	close(hold[1]);
	return pid;
}

static int count(struct ctx *c, uint32_t type, uint32_t pid, uint32_t flag, bool with)
{
	int n = 0;

	for (int i = 0; i < c->nkept; i++)
		if (c->kept[i].type == type && subject(&c->kept[i]) == pid &&
		    !!(c->kept[i].flags & flag) == with)
			n++;
	return n;
}

/* exit_group of a process with threads: one exit, no thread events by default */
static void test_group_exit(void **state)
{
	struct ctx *c = start(state, NULL);
	const struct proc_ev *ev;
	pid_t tids[4];
	pid_t pid = threaded_child(c, 4, false, tids);

	ev = wait_ev(c, PROC_EV_EXIT, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_true(WIFEXITED(ev->exit.status));
	assert_int_equal(WEXITSTATUS(ev->exit.status), 3);
	assert_int_equal(reap(pid), (int)ev->exit.status);
	drain_for(c, 300, keep_cb, c); /* a duplicate would be here by now */
	assert_int_equal(count(c, PROC_EV_EXIT, (uint32_t)pid, 0, false), 1);
	assert_int_equal(count(c, PROC_EV_FORK, (uint32_t)pid, 0, false), 1); /* the process */
	assert_no_loss(c);
}

static bool not_thread(const struct proc_ev *ev, const void *arg)
{
	return !(ev->flags & PROC_EF_THREAD);
}

/* PROCSRC_F_THREADS: thread creation and thread exits, flagged; exec from a thread */
static void test_threads(void **state)
{
	struct procsrc_opts o = { .flags = PROCSRC_F_THREADS };
	struct ctx *c = start(state, &o);
	const struct proc_ev *ev;
	pid_t tids[2];
	pid_t pid = threaded_child(c, 2, true, tids);

	assert_int_equal(reap(pid), 0);
	ev = wait_ev(c, PROC_EV_EXEC, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(ev->tid, pid); /* the exec'ing thread took the leader's pid */
	if (is_bpf(c))
		assert_int_equal(ev->exec.old_tid, tids[1]);
	assert_non_null(wait_ev(c, PROC_EV_EXIT, (uint32_t)pid, not_thread, NULL));
	drain_for(c, 300, keep_cb, c); /* late or duplicate events would be here by now */

	for (int i = 0; i < 2; i++) {
		int found = 0;

		for (int j = 0; j < c->nkept; j++) {
			ev = &c->kept[j];
			if (ev->type != PROC_EV_FORK || ev->fork.child_tid != (uint32_t)tids[i])
				continue;
			assert_true(ev->flags & PROC_EF_THREAD);
			assert_int_equal(ev->pid, pid); /* made by its own process */
			assert_int_equal(ev->fork.child_pid, pid);
			found++;
		}
		assert_int_equal(found, 1);
	}
	/* de_thread() killed the leader and the other thread: thread exits */
	assert_true(count(c, PROC_EV_EXIT, (uint32_t)pid, PROC_EF_THREAD, true) >= 1);
	if (is_bpf(c)) {
		/* exactly one process exit: /bin/true's, status 0 */
		assert_int_equal(count(c, PROC_EV_EXIT, (uint32_t)pid, PROC_EF_THREAD, false), 1);
		assert_int_equal(find(c, PROC_EV_EXIT, (uint32_t)pid, not_thread, NULL)->exit.status, 0);
	} else {
		/* the connector cannot tell the killed leader from the process */
		print_message("proc connector: %d unflagged exits for one exec-from-thread\n",
			      count(c, PROC_EV_EXIT, (uint32_t)pid, PROC_EF_THREAD, false));
	}
	assert_no_loss(c);
}

/* --- only what was asked for --------------------------------------------------------------- */

static void test_event_mask(void **state)
{
	struct procsrc_opts o = { .events = PROC_EV_BIT(PROC_EV_EXEC) };
	struct ctx *c = start(state, &o);
	const struct procsrc_probe *pr;
	const struct proc_ev *ev;
	size_t n;
	pid_t pid;

	assert_int_equal(procsrc_events(c->src), PROC_EV_BIT(PROC_EV_EXEC));
	n = procsrc_probes(c->src, &pr);
	assert_true(n >= 1);
	for (size_t i = 0; i < n; i++) {
		if (pr[i].events & PROC_EV_BIT(PROC_EV_EXEC)) {
			assert_int_equal(pr[i].err, 0);
			assert_string_equal(pr[i].reason, "");
		} else {
			assert_int_equal(pr[i].err, -ECANCELED); /* never attached */
		}
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/bin/true", "true", c->tag, (char *)NULL);
		_exit(127);
	}
	add_kid(c, pid);
	ev = wait_ev(c, PROC_EV_EXEC, (uint32_t)pid, NULL, NULL);
	assert_non_null(ev);
	assert_int_equal(reap(pid), 0);
	drain_for(c, 200, keep_cb, c);
	for (int i = 0; i < c->nkept; i++)
		assert_int_equal(c->kept[i].type, PROC_EV_EXEC);
}

/* --- bursts: nothing lost without being counted ---------------------------------------------- */

struct burst {
	struct ctx *c;
	uint8_t *mine;        /* bitmap: pids this test forked */
	uint32_t pid_max;
	uint64_t execs;       /* exec events of those pids */
	uint64_t events;
};

static int burst_cb(const struct proc_ev *ev, void *data)
{
	struct burst *b = data;

	b->events++;
	if (ev->type == PROC_EV_FORK && ev->pid == (uint32_t)b->c->self &&
	    ev->fork.child_pid < b->pid_max)
		b->mine[ev->fork.child_pid / 8] |= (uint8_t)(1u << (ev->fork.child_pid % 8));
	if (ev->type == PROC_EV_EXEC && ev->pid < b->pid_max &&
	    (ev->ppid == (uint32_t)b->c->self || (b->mine[ev->pid / 8] & (1u << (ev->pid % 8)))) &&
	    (!is_bpf(b->c) || !strcmp(ev->exec.filename, "/bin/true")))
		b->execs++;
	return 0;
}

static void burst_init(struct burst *b, struct ctx *c)
{
	char buf[32] = "";
	FILE *f = fopen("/proc/sys/kernel/pid_max", "re");

	memset(b, 0, sizeof(*b));
	b->c = c;
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	b->pid_max = (uint32_t)strtoul(buf, NULL, 10);
	if (b->pid_max < 32768)
		b->pid_max = 4194304;
	b->mine = calloc(b->pid_max / 8 + 1, 1);
	assert_non_null(b->mine);
}

/* fork+exec of /bin/true through posix_spawn (clone with CLONE_VM|CLONE_VFORK, then
 * execve): the same fork, exec and exit events as fork(), without copying the page
 * tables of this sanitized test, which made a plain fork() ~10 ms here. */
static pid_t spawn_true(void)
{
	char *argv[] = { "true", NULL };
	pid_t pid;

	assert_int_equal(posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ), 0);
	return pid;
}

/* Read until the counters explain n execs, or the deadline. */
static void burst_settle(struct burst *b, uint64_t n, const struct procsrc_stats *st0)
{
	uint64_t end = now_mono_ms() + WAIT_MS;
	struct procsrc_stats st;

	for (;;) {
		struct pollfd p = { .fd = procsrc_fd(b->c->src), .events = POLLIN };

		procsrc_stats(b->c->src, &st);
		if (b->execs + (st.lost - st0->lost) >= n || now_mono_ms() >= end)
			break;
		if (poll(&p, 1, 50) > 0)
			assert_true(procsrc_read(b->c->src, burst_cb, b) >= 0);
	}
}

static void test_burst(void **state)
{
	struct procsrc_opts o = { .events = PROC_EV_BIT(PROC_EV_EXEC) | PROC_EV_BIT(PROC_EV_FORK) |
					    PROC_EV_BIT(PROC_EV_EXIT) };
	struct ctx *c = start(state, &o);
	struct procsrc_stats st0, st;
	struct timespec t0, t1;
	uint64_t read_us = 0;
	struct burst b;
	double secs;

	burst_init(&b, c);
	procsrc_stats(c->src, &st0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < BURST; i++) {
		pid_t pid = spawn_true();
		struct pollfd p = { .fd = procsrc_fd(c->src), .events = POLLIN };

		uint64_t r0;

		/* a consumer that keeps up: read whatever is ready between spawns */
		while (poll(&p, 1, 0) > 0) {
			r0 = now_mono_us();
			if (procsrc_read(c->src, burst_cb, &b) <= 0)
				break;
			read_us += now_mono_us() - r0;
		}
		assert_int_equal(reap(pid), 0);
	}
	burst_settle(&b, BURST, &st0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	procsrc_stats(c->src, &st);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("%s: %d fork+exec in %.2f s (%.0f/s); %llu events (%.0f/s, read %.1f us "
		      "each), %llu of our execs, lost %llu (exec %llu), overruns %llu, "
		      "proc_gone %llu\n",
		      procsrc_name(c->src), BURST, secs, BURST / secs,
		      (unsigned long long)b.events, (double)b.events / secs,
		      b.events ? (double)read_us / (double)b.events : 0.0,
		      (unsigned long long)b.execs, (unsigned long long)(st.lost - st0.lost),
		      (unsigned long long)st.lost_by_type[PROC_EV_EXEC],
		      (unsigned long long)st.overruns, (unsigned long long)st.proc_gone);
	assert_true(b.execs <= BURST);
	if (is_bpf(c))
		assert_true(b.execs + st.lost_by_type[PROC_EV_EXEC] >= BURST);
	else
		assert_true(b.execs + (st.lost - st0.lost) >= BURST);
	assert_int_equal(st.malformed, 0);
	free(b.mine);
}

static void test_overflow(void **state)
{
	struct procsrc_opts o = { .events = PROC_EV_BIT(PROC_EV_EXEC) | PROC_EV_BIT(PROC_EV_FORK) |
					    PROC_EV_BIT(PROC_EV_EXIT),
				  .buffer_bytes = PROCSRC_BUFFER_MIN };
	struct ctx *c = start(state, &o);
	struct procsrc_stats st0, st;
	struct burst b;

	burst_init(&b, c);
	procsrc_stats(c->src, &st0);
	for (int i = 0; i < OVERFLOW_N; i++) /* nobody reads: the buffer must overflow */
		assert_int_equal(reap(spawn_true()), 0);
	burst_settle(&b, OVERFLOW_N, &st0);
	drain_for(c, 100, burst_cb, &b);
	procsrc_stats(c->src, &st);
	print_message("%s, %u-byte buffer, %d fork+exec unread: %llu of our execs seen, lost %llu "
		      "(exec %llu), overruns %llu\n",
		      procsrc_name(c->src), PROCSRC_BUFFER_MIN, OVERFLOW_N,
		      (unsigned long long)b.execs, (unsigned long long)st.lost,
		      (unsigned long long)st.lost_by_type[PROC_EV_EXEC],
		      (unsigned long long)st.overruns);
	assert_true(b.execs < OVERFLOW_N); /* it did overflow ... */
	assert_true(st.lost > 0);          /* ... and said so */
	if (is_bpf(c))
		assert_true(b.execs + st.lost_by_type[PROC_EV_EXEC] >= OVERFLOW_N);
	else
		assert_true(b.execs + st.lost >= OVERFLOW_N);
	free(b.mine);
}

/* --- AUTO and the errors ------------------------------------------------------------------------ */

static void test_auto(void **state)
{
	struct procsrc_opts comm_only = { .events = PROC_EV_BIT(PROC_EV_COMM) };
	struct procsrc_opts sig_only = { .events = PROC_EV_BIT(PROC_EV_SIGNAL) };
	struct procsrc_opts bad = { .flags = 1u << 31 };
	const struct procsrc_probe *pr;
	struct procsrc *s = NULL, *b = NULL;
	char why[512], bwhy[512];
	int bpf_ok;
	size_t n;

	alarm(WATCHDOG_S);
	bpf_ok = procsrc_new(PROCSRC_BPF, NULL, &b, bwhy, sizeof(bwhy)) == 0;
	procsrc_free(b);

	assert_int_equal(procsrc_new(PROCSRC_AUTO, NULL, &s, why, sizeof(why)), 0);
	if (bpf_ok) {
		assert_int_equal(procsrc_kind(s), PROCSRC_BPF);
		assert_string_equal(procsrc_name(s), "ebpf");
		assert_string_equal(why, "");
	} else {
		print_message("AUTO fell back: %s\n", why);
		assert_string_equal(procsrc_name(s), "proc-connector");
		assert_true(!strncmp(why, "ebpf: ", 6));
	}
	n = procsrc_probes(s, &pr);
	for (size_t i = 0; i < n; i++)
		print_message("%s probe %-28s %s%s\n", procsrc_name(s), pr[i].name,
			      pr[i].err ? "skipped: " : "attached", pr[i].reason);
	s = procsrc_free(s);

	/* eBPF cannot report comm changes: AUTO takes the connector and says why */
	assert_int_equal(procsrc_new(PROCSRC_AUTO, &comm_only, &s, why, sizeof(why)), 0);
	assert_string_equal(procsrc_name(s), "proc-connector");
	assert_int_equal(procsrc_events(s), PROC_EV_BIT(PROC_EV_COMM));
	assert_true(!strncmp(why, "ebpf: ", 6));
	s = procsrc_free(s);

	assert_int_equal(procsrc_new(PROCSRC_CN, &sig_only, &s, why, sizeof(why)), -EOPNOTSUPP);
	assert_true(strstr(why, "proc-connector") != NULL);
	assert_int_equal(procsrc_new(PROCSRC_BPF, &comm_only, &s, why, sizeof(why)), -EOPNOTSUPP);
	assert_int_equal(procsrc_new((enum procsrc_kind)42, NULL, &s, why, sizeof(why)), -EINVAL);
	assert_int_equal(procsrc_new(PROCSRC_AUTO, &bad, &s, NULL, 0), -EINVAL);
	assert_null(s);
	assert_null(procsrc_free(NULL));
	assert_string_equal(proc_ev_type_name(PROC_EV_EXEC), "exec");
	assert_string_equal(proc_ev_type_name(999), "?");
	alarm(0);
}

/* Records from outside are checked before anyone reads them. */
static void test_check(void **state)
{
	static struct proc_ev ev;
	size_t len = PROC_EV_EXEC_SIZE(12);

	memset(&ev, 'x', sizeof(ev));
	ev.type = PROC_EV_EXEC;
	ev.size = (uint32_t)len;
	ev.exec.args_len = 12;
	ev.exec.env_len = 0;
	memcpy(ev.exec.args, "a\0bb\0ccc\0dddd", 12); /* cut in the 4th: its last byte
							  * becomes the NUL */
	assert_int_equal(procsrc_ev_check(&ev, len), 0);
	assert_int_equal(ev.comm[PROC_COMM_LEN - 1], '\0');
	assert_int_equal(ev.exec.filename[PROC_PATH_LEN - 1], '\0');
	assert_int_equal(ev.exec.nargs, 4);
	assert_string_equal(proc_ev_arg(&ev, 3), "dd");
	assert_true(ev.flags & PROC_EF_ARGS_TRUNC);

	ev.size = (uint32_t)len + 1; /* size and length disagree */
	assert_int_equal(procsrc_ev_check(&ev, len), -EBADMSG);
	ev.size = (uint32_t)len;
	ev.exec.args_len = PROC_ARGS_LEN + 1;
	assert_int_equal(procsrc_ev_check(&ev, len), -EBADMSG);
	ev.exec.args_len = 12;
	ev.exec.env_len = PROC_ENV_LEN + 1;
	ev.size = (uint32_t)PROC_EV_EXEC_SIZE(12 + PROC_ENV_LEN + 1);
	assert_int_equal(procsrc_ev_check(&ev, ev.size), -EBADMSG);
	ev.type = PROC_EV_FORK;
	ev.size = PROC_EV_SIZE(fork) - 1;
	assert_int_equal(procsrc_ev_check(&ev, ev.size), -EBADMSG);
	ev.type = 77;
	ev.size = PROC_EV_HDR_SIZE;
	assert_int_equal(procsrc_ev_check(&ev, ev.size), -EBADMSG);

	/* more than PROC_ARGS_MAX arguments: cut to PROC_ARGS_MAX */
	memset(&ev, 0, sizeof(ev));
	ev.type = PROC_EV_EXEC;
	ev.exec.args_len = 40;
	for (int i = 0; i < 20; i++)
		ev.exec.args[i * 2] = 'a';
	ev.size = (uint32_t)PROC_EV_EXEC_SIZE(40);
	assert_int_equal(procsrc_ev_check(&ev, ev.size), 0);
	assert_int_equal(ev.exec.nargs, PROC_ARGS_MAX);
	assert_int_equal(ev.exec.args_len, PROC_ARGS_MAX * 2);
	assert_int_equal(ev.size, PROC_EV_EXEC_SIZE(PROC_ARGS_MAX * 2));
	assert_true(ev.flags & PROC_EF_ARGS_TRUNC);

	/* the environment follows argv: moved down when argv is cut, and a variable cut at
	 * the end is left out */
	memset(&ev, 0, sizeof(ev));
	ev.type = PROC_EV_EXEC;
	ev.exec.args_len = 40;
	for (int i = 0; i < 20; i++)
		ev.exec.args[i * 2] = 'a';
	memcpy(ev.exec.args + 40, "A=1\0B=two words\0CUT=xy", 22);
	ev.exec.env_len = 22;
	ev.size = (uint32_t)PROC_EV_EXEC_SIZE(62);
	assert_int_equal(procsrc_ev_check(&ev, ev.size), 0);
	assert_int_equal(ev.exec.args_len, PROC_ARGS_MAX * 2);
	uint32_t elen;
	const char *env = proc_ev_env(&ev, &elen);
	assert_int_equal(elen, 16);
	assert_ptr_equal(env, ev.exec.args + PROC_ARGS_MAX * 2);
	assert_memory_equal(env, "A=1\0B=two words\0", 16);
	assert_int_equal(ev.size, PROC_EV_EXEC_SIZE(PROC_ARGS_MAX * 2 + 16));
	assert_true(ev.flags & PROC_EF_ENV_TRUNC);

	/* exec_args: the same variable-size layout and checks as exec */
	memset(&ev, 'y', sizeof(ev));
	ev.type = PROC_EV_EXEC_ARGS;
	ev.exec.args_len = 5;
	ev.exec.env_len = 0;
	memcpy(ev.exec.args, "ab\0c\0", 5);
	ev.size = (uint32_t)PROC_EV_EXEC_SIZE(5);
	assert_int_equal(procsrc_ev_check(&ev, ev.size), 0);
	assert_int_equal(ev.exec.nargs, 2);
	assert_string_equal(proc_ev_arg(&ev, 1), "c");
	assert_int_equal(ev.exec.filename[PROC_PATH_LEN - 1], '\0');
	ev.size = (uint32_t)PROC_EV_EXEC_SIZE(5) + 1;
	assert_int_equal(procsrc_ev_check(&ev, ev.size), -EBADMSG);
	ev.size = (uint32_t)PROC_EV_EXEC_SIZE(0) - 1;
	assert_int_equal(procsrc_ev_check(&ev, ev.size), -EBADMSG);

	/* setattr: exactly its size; the path is made a string */
	memset(&ev, 'z', sizeof(ev));
	ev.type = PROC_EV_SETATTR;
	ev.size = PROC_EV_SIZE(setattr);
	assert_int_equal(procsrc_ev_check(&ev, ev.size), 0);
	assert_int_equal(ev.setattr.path[PROC_PATH_LEN - 1], '\0');
	for (size_t bad = PROC_EV_SIZE(setattr) - 1; bad <= PROC_EV_SIZE(setattr) + 1; bad += 2) {
		ev.size = (uint32_t)bad;
		assert_int_equal(procsrc_ev_check(&ev, bad), -EBADMSG);
	}
	assert_int_equal(PROC_EV_SIZE(setattr), PROC_EV_HDR_SIZE + 32 + PROC_PATH_LEN);
	assert_int_equal(__builtin_offsetof(struct proc_ev_exec, envc), 16);
	assert_int_equal(__builtin_offsetof(struct proc_ev_exec, env_len), 20);
	assert_int_equal(__builtin_offsetof(struct proc_ev_exec, sid), 24);
	assert_int_equal(__builtin_offsetof(struct proc_ev_exec, tty_nr), 28);
	assert_int_equal(__builtin_offsetof(struct proc_ev_exec, filename), 32);
	assert_string_equal(proc_ev_type_name(PROC_EV_SETATTR), "setattr");
	assert_string_equal(proc_ev_type_name(PROC_EV_EXEC_ARGS), "exec_args");
	for (uint32_t t = 0; t < PROC_EV_MAX; t++)
		assert_string_not_equal(proc_ev_type_name(t), "?");
	assert_string_equal(proc_ev_type_name(PROC_EV_MAX), "?");
}

/* each source test twice, named after the source */
#define BOTH(f)                                                 \
	{ #f "/ebpf", f, NULL, teardown, &p_bpf },              \
	{ #f "/proc-connector", f, NULL, teardown, &p_cn }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_auto),
		BOTH(test_exec_exit),
		BOTH(test_setid),
		BOTH(test_signal),
		BOTH(test_ptrace),
		BOTH(test_mount),
		BOTH(test_failed_calls),
		BOTH(test_setattr),
		BOTH(test_exec_env),
		BOTH(test_exec_args),
		BOTH(test_group_exit),
		BOTH(test_threads),
		BOTH(test_event_mask),
		BOTH(test_burst),
		BOTH(test_overflow),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_procsrc: needs root (eBPF, the proc connector, set*id, "
				"mounts); skipped\n");
		return 77;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
