/* test_sandbox.c: real sandboxed children (needs root). The test binary re-execs a copy
 * of itself with --child, which inspects its own sandbox and prints key=value lines on
 * the stdio pipe; the parent asserts on them and on the cgroup tree. Every wait has a
 * deadline so nothing here can hang. */
#include <dirent.h>
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
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "uextd/sandbox.h"

#define TEST_UID 2100000123u
#define TEST_GID 2100000124u
#define DEADLINE_MS 10000
#define CG_FS "/sys/fs/cgroup"

/* Short fixed paths: everything built from them fits PATH_MAX by construction. */
static char g_group[64];    /* uext-test-<pid>: one cgroup parent per run */
static char g_base[64];     /* /var/tmp/uext-sandbox-XXXXXX, 0755 */
static char g_open[128];    /* base/open: root-owned, 0777, outside /tmp */
static char g_data[128];    /* base/data: owned by TEST_UID */
static char g_tmpdata[128]; /* /tmp/uext-sandbox-<pid>-data: hidden by the child's /tmp */
static char g_exe[128];     /* base/helper: a copy of this binary */
static struct sandbox_caps g_caps;
static bool g_unified;              /* a cgroup2 tree is mounted (v2 or hybrid) */

/* --- the sandboxed side ----------------------------------------------------------- */

static int errno_of(int rc)
{
	return rc < 0 ? errno : 0;
}

static int try_create(const char *dir)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/probe-%d", dir, (int)getpid());
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void print_status_lines(void)
{
	static const char *const keys[] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:",
					    "CapAmb:", "NoNewPrivs:", "Seccomp:" };
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			size_t kl = strlen(keys[i]);

			if (!strncmp(line, keys[i], kl)) {
				char *v = line + kl;

				while (*v == ' ' || *v == '\t')
					v++;
				printf("%.*s=%s", (int)kl - 1, line, v);
			}
		}
	}
	fclose(f);
}

/* argv: --child <open dir> <data dir> [marker path in /tmp] */
static int child_main(int argc, char **argv)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	char buf[4096];
	bool seccomp_on;
	int status;
	pid_t p;

	if (argc < 4)
		return 2;
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	printf("uid=%u,%u,%u\n", ru, eu, su);
	printf("gid=%u,%u,%u\n", rg, eg, sg);
	printf("groups=%d\n", getgroups(0, NULL));
	printf("ppid=%d\n", (int)getppid());
	print_status_lines();
	fflush(stdout);

	/* Read our own Seccomp mode: ptrace(TRACEME) is only tried under the filter,
	 * since without it the call would succeed and make the test our tracer. */
	{
		FILE *f = fopen("/proc/self/status", "re");

		seccomp_on = false;
		while (f && fgets(buf, sizeof(buf), f))
			if (!strncmp(buf, "Seccomp:", 8))
				seccomp_on = atoi(buf + 8) == 2;
		if (f)
			fclose(f);
	}

	printf("open_dir=%d\n", try_create(argv[2]));
	printf("tmp=%d\n", try_create("/tmp"));
	printf("shm=%d\n", try_create("/dev/shm"));
	printf("data=%d\n", try_create(argv[3]));
	if (argc > 4) {
		int fd = open(argv[4], O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

		printf("marker=%d\n", fd < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
	}
	printf("mount=%d\n", errno_of(mount("none", "/tmp", "tmpfs", 0, NULL)));
	printf("unshare_user=%d\n", errno_of(unshare(CLONE_NEWUSER)));
	{
		int rc = personality(PER_LINUX32);

		printf("personality32=%d\n", rc < 0 ? errno : 0);
		if (rc >= 0)
			personality(PER_LINUX);
	}
	if (seccomp_on)
		printf("ptrace=%d\n", errno_of((int)ptrace(PTRACE_TRACEME, 0, NULL, NULL)));
	printf("clone3=%d\n", errno_of((int)syscall(SYS_clone3, NULL, (size_t)0)));
	/* Both are open to unprivileged callers by default, so EPERM is the filter. */
	printf("io_uring=%d\n", errno_of((int)syscall(SYS_io_uring_setup, 1, NULL)));
	printf("keyctl=%d\n", errno_of((int)syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */,
						     -3 /* session */, 0)));
	/* Visible mounts still writable: only /tmp, /dev/shm and data_dir may be. A mount
	 * stacked under a later one on the same path is hidden (no path reaches it), and
	 * the per-mount fallback cannot remount it; only the last of a path counts. */
	{
		static char mps[512][256];
		static bool rw[512];
		FILE *f = fopen("/proc/self/mountinfo", "re");
		char line[4096], mp[256], opts[256];
		int n = 0;

		while (f && n < 512 && fgets(line, sizeof(line), f))
			if (sscanf(line, "%*s %*s %*s %*s %255s %255s", mp, opts) == 2) {
				strcpy(mps[n], mp);
				rw[n++] = strncmp(opts, "ro", 2) != 0;
			}
		if (f)
			fclose(f);
		printf("rw_mounts=");
		for (int i = 0; i < n; i++) {
			bool last = true;

			for (int j = i + 1; j < n; j++)
				if (!strcmp(mps[i], mps[j]))
					last = false;
			if (last && rw[i])
				printf("%s ", mps[i]);
		}
		printf("\n");
	}
	{
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		printf("socket_inet=%d\n", fd < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
		fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		printf("socket_packet=%d\n", fd < 0 ? errno : 0);
		if (fd >= 0)
			close(fd);
	}
	fflush(stdout);
	p = fork();
	if (p == 0)
		_exit(7);
	printf("fork=%d\n", p > 0 && waitpid(p, &status, 0) == p && WIFEXITED(status) ?
			       WEXITSTATUS(status) : -1);
	printf("stdin_read=%zd\n", read(0, buf, sizeof(buf)));
	if (getcwd(buf, sizeof(buf)))
		printf("cwd=%s\n", buf);

	/* Open fds, minus the one opendir holds. */
	{
		DIR *d = opendir("/proc/self/fd");
		struct dirent *de;
		char list[256] = "";

		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
				continue;
			if (strlen(list) + strlen(de->d_name) + 2 < sizeof(list)) {
				if (*list)
					strcat(list, ",");
				strcat(list, de->d_name);
			}
		}
		if (d)
			closedir(d);
		printf("fds=%s\n", list);
	}
	{
		FILE *f = fopen("/proc/self/cgroup", "re");

		while (f && fgets(buf, sizeof(buf), f))
			printf("cg=%s", buf);
		if (f)
			fclose(f);
	}
	fflush(stdout);

	/* ipc: the parent sends 'p'; answer 'c' on the same socket. */
	{
		char b = 0;
		ssize_t n = read(3, &b, 1);

		printf("ipc_read=%c\n", n == 1 ? b : '-');
		fflush(stdout);
		n = write(3, "c", 1);
		(void)n;
	}
	printf("done=1\n");
	fflush(stdout);
	return 0;
}

/* --- the test side ---------------------------------------------------------------- */

struct run {
	pid_t pid;
	int out;        /* read end of the child's stdout/stderr */
	int ipc;        /* our end of the socketpair, -1 if none */
	char text[65536];
	size_t len;
	int status;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *g_child_env[] = { "PATH=/usr/bin:/bin", "ASAN_OPTIONS=detect_leaks=0", NULL };

static void base_config(struct sandbox_config *c, const char *ident, char *const *argv)
{
	memset(c, 0, sizeof(*c));
	c->ident = ident;
	c->exe_path = argv[0];
	c->argv = argv;
	c->envp = g_child_env;
	c->uid = TEST_UID;
	c->gid = TEST_GID;
	c->ipc_fd = -1;
	c->stdio_fd = -1;
	c->data_dir = g_data;
	c->cgroup_group = g_group;
	c->memory_max = 64u << 20;
	c->pids_max = 64;
}

/* Spawns with a fresh pipe and socketpair wired to c. */
static void run_start(struct sandbox_config *c, struct run *r, bool with_ipc)
{
	int p[2], sv[2] = { -1, -1 };

	memset(r, 0, sizeof(*r));
	r->ipc = -1;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	if (with_ipc)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c->stdio_fd = p[1];
	c->ipc_fd = sv[1];
	assert_int_equal(sandbox_spawn(c, &r->pid), 0);
	close(p[1]);
	if (with_ipc)
		close(sv[1]);
	r->out = p[0];
	r->ipc = sv[0];
}

/* Reads until `until` appears (NULL: until EOF) or the deadline. */
static void run_read(struct run *r, const char *until)
{
	int64_t end = now_ms() + DEADLINE_MS;

	while (now_ms() < end) {
		struct pollfd pfd = { .fd = r->out, .events = POLLIN };
		ssize_t n;

		if (until && strstr(r->text, until))
			return;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(r->out, r->text + r->len, sizeof(r->text) - 1 - r->len);
		if (n <= 0) {
			if (!until)
				return;
			break;
		}
		r->len += (size_t)n;
		r->text[r->len] = '\0';
	}
	if (until && strstr(r->text, until))
		return;
	fprintf(stderr, "child output so far:\n%s\n", r->text);
	kill(r->pid, SIGKILL);
	fail_msg("timed out or EOF waiting for '%s'", until ? until : "EOF");
}

/* waitpid with a deadline; SIGKILLs and fails on timeout. */
static void run_wait(struct run *r)
{
	int64_t end = now_ms() + DEADLINE_MS;

	for (;;) {
		pid_t w = waitpid(r->pid, &r->status, WNOHANG);

		if (w == r->pid)
			break;
		assert_int_equal(w, 0);
		if (now_ms() > end) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &r->status, 0);
			fail_msg("child %d did not exit in time", (int)r->pid);
		}
		usleep(5000);
	}
	close(r->out);
	if (r->ipc >= 0)
		close(r->ipc);
}

/* The value of "key=" in the child's report, or NULL. */
static const char *kv(const struct run *r, const char *key, char *buf, size_t size)
{
	size_t kl = strlen(key);

	for (const char *p = r->text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, kl) && p[kl] == '=') {
			const char *v = p + kl + 1;
			size_t n = strcspn(v, "\n");

			if (n >= size)
				n = size - 1;
			memcpy(buf, v, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return NULL;
}

static void assert_kv(const struct run *r, const char *key, const char *want)
{
	char buf[256];
	const char *v = kv(r, key, buf, sizeof(buf));

	if (!v || strcmp(v, want)) {
		fprintf(stderr, "child report:\n%s\n", r->text);
		fail_msg("%s: got '%s', want '%s'", key, v ? v : "(missing)", want);
	}
}

static void assert_kv_int(const struct run *r, const char *key, int want)
{
	char w[32];

	snprintf(w, sizeof(w), "%d", want);
	assert_kv(r, key, w);
}

static bool read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

static void cg_path(char *buf, size_t size, const char *root, const char *ident,
		    const char *file)
{
	snprintf(buf, size, "%s/%s/%s%s%s", root, g_group, ident, file ? "/" : "",
		 file ? file : "");
}

/* The child's /proc/self/cgroup shows it in <group>/<ident> in each hierarchy. */
static void assert_in_cgroups(const struct run *r, const char *ident)
{
	char want[256];

	snprintf(want, sizeof(want), "/%s/%s\n", g_group, ident);
	if (g_caps.cgroup_v1) {
		const char *m = strstr(r->text, ":memory:"), *p = strstr(r->text, ":pids:");

		assert_non_null(m);
		assert_non_null(p);
		assert_int_equal(strncmp(m + 8, want, strlen(want)), 0);
		assert_int_equal(strncmp(p + 6, want, strlen(want)), 0);
	}
	if (g_unified) {
		char line[300];

		snprintf(line, sizeof(line), "cg=0::%s", want);
		if (!strstr(r->text, line)) {
			fprintf(stderr, "child report:\n%s\n", r->text);
			fail_msg("not in the unified cgroup %s", want);
		}
	}
}

static void assert_limits(const char *ident, const char *pids, const char *mem)
{
	char p[PATH_MAX], v[64];

	if (g_caps.cgroup_v1) {
		cg_path(p, sizeof(p), CG_FS "/pids", ident, "pids.max");
		assert_true(read_small(p, v, sizeof(v)));
		assert_string_equal(v, pids);
		cg_path(p, sizeof(p), CG_FS "/memory", ident, "memory.limit_in_bytes");
		assert_true(read_small(p, v, sizeof(v)));
		assert_string_equal(v, mem);
	} else if (g_caps.cgroup_v2) {
		cg_path(p, sizeof(p), CG_FS, ident, "pids.max");
		assert_true(read_small(p, v, sizeof(v)));
		assert_string_equal(v, pids);
		cg_path(p, sizeof(p), CG_FS, ident, "memory.max");
		assert_true(read_small(p, v, sizeof(v)));
		assert_string_equal(v, mem);
	}
}

static void assert_cgroups_gone(const char *ident)
{
	static const char *const roots[] = { CG_FS, CG_FS "/memory", CG_FS "/pids",
					     CG_FS "/unified" };
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		cg_path(p, sizeof(p), roots[i], ident, NULL);
		if (access(p, F_OK) == 0)
			fail_msg("%s still exists", p);
	}
}

/* Sends 'p' on the ipc socket and expects 'c' back, with a deadline. */
static void ipc_roundtrip(struct run *r)
{
	struct pollfd pfd = { .fd = r->ipc, .events = POLLIN };
	char b = 0;

	assert_int_equal(write(r->ipc, "p", 1), 1);
	assert_int_equal(poll(&pfd, 1, DEADLINE_MS), 1);
	assert_int_equal(read(r->ipc, &b, 1), 1);
	assert_int_equal(b, 'c');
}

static void assert_rw_mounts(const struct run *r)
{
	char buf[4096], *save = NULL;
	const char *v = kv(r, "rw_mounts", buf, sizeof(buf));

	assert_non_null(v);
	assert_non_null(strstr(v, "/tmp ")); /* the parse saw our own tmpfs */
	for (char *mp = strtok_r(buf, " ", &save); mp; mp = strtok_r(NULL, " ", &save))
		if (strcmp(mp, "/tmp") && strcmp(mp, "/dev/shm") && strcmp(mp, g_data)) {
			fprintf(stderr, "child report:\n%s\n", r->text);
			fail_msg("mount '%s' is still writable in the sandbox", mp);
		}
}

static void assert_exit(const struct run *r, int code)
{
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code) {
		fprintf(stderr, "child report:\n%s\n", r->text);
		fail_msg("child status 0x%x, want exit %d", r->status, code);
	}
}

/* Identity, capabilities, filter, mounts, fds, ipc and cgroups of a normal spawn. */
static void check_full(unsigned flags, const char *ident)
{
	char *argv[] = { g_exe, "--child", g_open, g_data, NULL };
	struct sandbox_config c;
	struct run r;
	char w[64];

	base_config(&c, ident, argv);
	c.flags = flags;
	run_start(&c, &r, true);
	ipc_roundtrip(&r);
	run_read(&r, NULL);
	run_wait(&r);
	assert_exit(&r, 0);

	snprintf(w, sizeof(w), "%u,%u,%u", TEST_UID, TEST_UID, TEST_UID);
	assert_kv(&r, "uid", w);
	snprintf(w, sizeof(w), "%u,%u,%u", TEST_GID, TEST_GID, TEST_GID);
	assert_kv(&r, "gid", w);
	assert_kv_int(&r, "groups", 0);
	assert_kv_int(&r, "ppid", (int)getpid());
	assert_kv(&r, "CapInh", "0000000000000000");
	assert_kv(&r, "CapPrm", "0000000000000000");
	assert_kv(&r, "CapEff", "0000000000000000");
	assert_kv(&r, "CapBnd", "0000000000000000");
	assert_kv(&r, "CapAmb", "0000000000000000");
	assert_kv(&r, "NoNewPrivs", "1");
	assert_kv_int(&r, "open_dir", EROFS);   /* 0777 for the host, read-only for us */
	assert_kv_int(&r, "tmp", 0);
	assert_kv_int(&r, "shm", 0);
	assert_kv_int(&r, "data", 0);
	assert_kv_int(&r, "mount", EPERM);
	assert_kv_int(&r, "socket_inet", 0);
	assert_kv_int(&r, "fork", 7);
	assert_kv_int(&r, "stdin_read", 0);
	assert_kv(&r, "cwd", "/");
	assert_kv(&r, "fds", "0,1,2,3");
	assert_kv(&r, "ipc_read", "p");
	if (flags & SANDBOX_NO_SECCOMP) {
		assert_kv(&r, "Seccomp", "0");
		assert_kv_int(&r, "personality32", 0); /* only the filter forbids it */
	} else {
		assert_kv(&r, "Seccomp", "2");
		/* Each of these is allowed by the kernel to an unprivileged process, so EPERM
		 * here is the filter's doing. */
		assert_kv_int(&r, "personality32", EPERM);
		assert_kv_int(&r, "ptrace", EPERM);
		assert_kv_int(&r, "unshare_user", EPERM);
		assert_kv_int(&r, "clone3", ENOSYS);
		assert_kv_int(&r, "socket_packet", EPERM);
		assert_kv_int(&r, "io_uring", EPERM);
		assert_kv_int(&r, "keyctl", EPERM);
	}
	assert_rw_mounts(&r);
	/* The host sees the file the child made in data_dir, not the /tmp one. */
	{
		char p[PATH_MAX];
		struct stat st;

		snprintf(p, sizeof(p), "%s/probe-%d", g_data, (int)r.pid);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, TEST_UID);
		unlink(p);
		snprintf(p, sizeof(p), "/tmp/probe-%d", (int)r.pid);
		assert_int_equal(access(p, F_OK), -1);
		snprintf(p, sizeof(p), "%s/probe-%d", g_open, (int)r.pid);
		assert_int_equal(access(p, F_OK), -1);
	}

	assert_in_cgroups(&r, ident);
	assert_limits(ident, "64", "67108864");
	assert_int_equal(sandbox_cgroup_cleanup(g_group, ident), 0);
	assert_cgroups_gone(ident);
}

static void test_probe(void **state)
{
	(void)state;
	printf("# host: cgroup_v2=%d cgroup_v1=%d cgroup_kill=%d seccomp=%d mountns=%d\n",
	       g_caps.cgroup_v2, g_caps.cgroup_v1, g_caps.cgroup_kill, g_caps.seccomp,
	       g_caps.mountns);
	assert_true(g_caps.mountns);
	assert_true(g_caps.seccomp);
}

static void test_full_sandbox(void **state)
{
	(void)state;
	check_full(0, "full");
}

static void test_remount_fallback(void **state)
{
	(void)state;
	check_full(SANDBOX_REMOUNT_FALLBACK, "fallback");
}

static void test_no_seccomp(void **state)
{
	(void)state;
	check_full(SANDBOX_NO_SECCOMP, "noseccomp");
}

/* stdio_fd == 3 and ipc_fd == 1 in the parent: the child must swap them without
 * clobbering either. */
static void test_fd_swap(void **state)
{
	char *argv[] = { g_exe, "--child", g_open, g_data, NULL };
	struct sandbox_config c;
	struct run r;
	int p[2], sv[2], saved_out, saved3;

	(void)state;
	base_config(&c, "fdswap", argv);
	memset(&r, 0, sizeof(r));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	fflush(stdout);
	saved_out = fcntl(1, F_DUPFD_CLOEXEC, 10);
	saved3 = fcntl(3, F_DUPFD_CLOEXEC, 10); /* -1 when fd 3 is free */
	assert_true(saved_out >= 0);
	assert_int_equal(dup3(p[1], 3, O_CLOEXEC), 3);
	assert_int_equal(dup3(sv[1], 1, O_CLOEXEC), 1);
	c.stdio_fd = 3;
	c.ipc_fd = 1;
	int rc = sandbox_spawn(&c, &r.pid);

	dup3(saved_out, 1, 0);
	close(saved_out);
	if (saved3 >= 0) {
		dup3(saved3, 3, 0);
		close(saved3);
	} else {
		close(3);
	}
	close(p[1]);
	close(sv[1]);
	assert_int_equal(rc, 0);
	r.out = p[0];
	r.ipc = sv[0];
	ipc_roundtrip(&r);
	run_read(&r, NULL);
	run_wait(&r);
	assert_exit(&r, 0);
	assert_kv(&r, "fds", "0,1,2,3");
	assert_kv(&r, "ipc_read", "p");
	assert_kv(&r, "done", "1");
	assert_int_equal(sandbox_cgroup_cleanup(g_group, "fdswap"), 0);
}

/* A data_dir under /tmp survives the fresh /tmp; a file the child writes to its own /tmp
 * does not reach the host's. No ipc fd: fd 3 stays closed. */
static void test_data_under_tmp(void **state)
{
	char marker[PATH_MAX], p[PATH_MAX];
	char *argv[] = { g_exe, "--child", g_open, g_tmpdata, marker, NULL };
	struct sandbox_config c;
	struct run r;

	(void)state;
	snprintf(marker, sizeof(marker), "/tmp/uext-sandbox-marker-%d", (int)getpid());
	base_config(&c, "tmpdata", argv);
	c.data_dir = g_tmpdata;
	c.memory_max = 0;
	c.pids_max = 0;
	run_start(&c, &r, false);
	run_read(&r, NULL);
	run_wait(&r);
	assert_exit(&r, 0);
	assert_kv_int(&r, "data", 0);
	assert_kv_int(&r, "marker", 0);
	assert_kv(&r, "fds", "0,1,2");
	assert_kv(&r, "ipc_read", "-");
	assert_int_equal(access(marker, F_OK), -1);
	snprintf(p, sizeof(p), "%s/probe-%d", g_tmpdata, (int)r.pid);
	assert_int_equal(access(p, F_OK), 0);
	unlink(p);
	assert_limits("tmpdata", "max", g_caps.cgroup_v1 ? "9223372036854771712" : "max");
	assert_int_equal(sandbox_cgroup_cleanup(g_group, "tmpdata"), 0);
}

static void test_missing_exe(void **state)
{
	char path[PATH_MAX];
	char *argv[] = { path, NULL };
	struct sandbox_config c;
	struct run r;

	(void)state;
	snprintf(path, sizeof(path), "%s/no-such-program", g_base);
	base_config(&c, "missing", argv);
	run_start(&c, &r, false);
	run_read(&r, NULL);
	run_wait(&r);
	assert_exit(&r, 127);
	assert_non_null(strstr(r.text, "uext sandbox: execve: No such file or directory"));
	assert_int_equal(sandbox_cgroup_cleanup(g_group, "missing"), 0);
}

/* A failure before exec is reported too: a data_dir that does not exist. */
static void test_bad_data_dir(void **state)
{
	char *argv[] = { "/bin/true", NULL };
	char dir[PATH_MAX];
	struct sandbox_config c;
	struct run r;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/absent", g_base);
	base_config(&c, "baddata", argv);
	c.data_dir = dir;
	run_start(&c, &r, false);
	run_read(&r, NULL);
	run_wait(&r);
	assert_exit(&r, 127);
	assert_non_null(strstr(r.text, "uext sandbox: open data_dir: No such file or directory"));
	assert_int_equal(sandbox_cgroup_cleanup(g_group, "baddata"), 0);
}

static bool proc_alive(pid_t pid)
{
	char p[64], buf[512], *s;

	snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
	if (!read_small(p, buf, sizeof(buf)))
		return false;
	s = strrchr(buf, ')');
	return s && s[1] == ' ' && s[2] != 'Z' && s[2] != 'X';
}

/* Cleanup kills the child and its grandchild (not our child: no waitpid helps there)
 * and removes the cgroups. */
static void test_cleanup_kills(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "sleep 1000 & echo gc=$!; echo ready=1; wait", NULL };
	struct sandbox_config c;
	struct run r;
	char v[32];
	pid_t gc;

	(void)state;
	base_config(&c, "sleeper", argv);
	c.data_dir = NULL;
	run_start(&c, &r, false);
	run_read(&r, "ready=1\n");
	assert_non_null(kv(&r, "gc", v, sizeof(v)));
	gc = atoi(v);
	assert_true(gc > 0);
	assert_true(proc_alive(gc));

	assert_int_equal(sandbox_cgroup_cleanup(g_group, "sleeper"), 0);
	run_wait(&r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGKILL);
	{
		int64_t end = now_ms() + DEADLINE_MS; /* init reaps the grandchild */

		while (proc_alive(gc) && now_ms() < end)
			usleep(5000);
	}
	assert_false(proc_alive(gc));
	assert_cgroups_gone("sleeper");
}

/* Leftovers of a crashed manager: a process that is not ours sits in a cgroup we did
 * not create in this run. On a hybrid host the v1 pids tree has no cgroup.kill, so
 * this takes the read-and-kill loop; on pure v2 it takes cgroup.kill. */
static void test_cleanup_leftover(void **state)
{
	char grp[PATH_MAX], dir[PATH_MAX];
	const char *root;
	int p[2], status;
	pid_t mid, gc = 0;

	(void)state;
	if (!g_caps.cgroup_v1 && !g_caps.cgroup_v2)
		skip();
	root = g_caps.cgroup_v1 ? CG_FS "/pids" : CG_FS;
	snprintf(grp, sizeof(grp), "%s/%s", root, g_group);
	cg_path(dir, sizeof(dir), root, "leftover", NULL);
	assert_true(mkdir(grp, 0755) == 0 || errno == EEXIST);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		/* Double fork: the sleeper is reparented away from us, like a leftover. */
		pid_t g = fork();

		if (g == 0) {
			char procs[PATH_MAX + 16], num[16];
			int fd, n;

			snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
			n = snprintf(num, sizeof(num), "%d", (int)getpid());
			fd = open(procs, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, num, (size_t)n) != n)
				_exit(1);
			close(fd);
			/* Only the sleeper writes, once it is in the cgroup. */
			n = (int)getpid();
			if (write(p[1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			for (;;)
				pause();
		}
		_exit(g > 0 ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(waitpid(mid, &status, 0), mid);
	{
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		int v = 0;

		assert_int_equal(poll(&pfd, 1, DEADLINE_MS), 1);
		assert_int_equal(read(p[0], &v, sizeof(v)), sizeof(v));
		gc = v;
	}
	close(p[0]);
	assert_true(proc_alive(gc));

	assert_int_equal(sandbox_cgroup_cleanup(g_group, "leftover"), 0);
	{
		int64_t end = now_ms() + DEADLINE_MS;

		while (proc_alive(gc) && now_ms() < end)
			usleep(5000);
	}
	assert_false(proc_alive(gc));
	assert_int_equal(access(dir, F_OK), -1);
}

static void test_cleanup_missing(void **state)
{
	(void)state;
	assert_int_equal(sandbox_cgroup_cleanup(g_group, "never-made"), 0);
	assert_int_equal(sandbox_cgroup_cleanup("uext-test-absent-group", "x"), 0);
	assert_int_equal(sandbox_cgroup_cleanup(g_group, "../escape"), -EINVAL);
	assert_int_equal(sandbox_cgroup_cleanup("..", "x"), -EINVAL);
}

static void test_invalid_config(void **state)
{
	char *argv[] = { "/bin/true", NULL };
	struct sandbox_config c;
	pid_t pid = -1;

	(void)state;
	base_config(&c, "invalid", argv);
	c.uid = 0;
	assert_int_equal(sandbox_spawn(&c, &pid), -EINVAL);
	base_config(&c, "invalid", argv);
	c.gid = 0;
	assert_int_equal(sandbox_spawn(&c, &pid), -EINVAL);
	base_config(&c, "a/b", argv);
	assert_int_equal(sandbox_spawn(&c, &pid), -EINVAL);
	base_config(&c, "invalid", argv);
	c.exe_path = "true";
	assert_int_equal(sandbox_spawn(&c, &pid), -EINVAL);
	base_config(&c, "invalid", argv);
	c.data_dir = "relative";
	assert_int_equal(sandbox_spawn(&c, &pid), -EINVAL);
	assert_int_equal(pid, -1);
}

/* --- fixture ---------------------------------------------------------------------- */


static void rm_tree_shallow(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX];

	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) < 0)
			rmdir(p);
	}
	if (d)
		closedir(d);
}

static int setup(void **state)
{
	(void)state;
	snprintf(g_group, sizeof(g_group), "uext-test-%d", (int)getpid());
	snprintf(g_base, sizeof(g_base), "/var/tmp/uext-sandbox-XXXXXX");
	if (!mkdtemp(g_base) || chmod(g_base, 0755) < 0)
		return -1;
	/* Made by the test (root) and open to all: only the read-only mount can stop the
	 * child writing here. */
	snprintf(g_open, sizeof(g_open), "%s/open", g_base);
	if (mkdir(g_open, 0777) < 0 || chmod(g_open, 0777) < 0)
		return -1;
	snprintf(g_data, sizeof(g_data), "%s/data", g_base);
	if (mkdir(g_data, 0700) < 0 || chown(g_data, TEST_UID, TEST_GID) < 0)
		return -1;
	snprintf(g_tmpdata, sizeof(g_tmpdata), "/tmp/uext-sandbox-%d-data", (int)getpid());
	if (mkdir(g_tmpdata, 0700) < 0 || chown(g_tmpdata, TEST_UID, TEST_GID) < 0)
		return -1;
	/* A private copy of this binary: the build tree may not be reachable for TEST_UID. */
	snprintf(g_exe, sizeof(g_exe), "%s/helper", g_base);
	if (copy_file("/proc/self/exe", g_exe, 0755) < 0)
		return -1;
	sandbox_probe(&g_caps);
	{
		struct statfs st;

		g_unified = (statfs(CG_FS, &st) == 0 && st.f_type == 0x63677270) ||
			    (statfs(CG_FS "/unified", &st) == 0 && st.f_type == 0x63677270);
	}
	return 0;
}

static int teardown(void **state)
{
	static const char *const roots[] = { CG_FS, CG_FS "/memory", CG_FS "/pids",
					     CG_FS "/unified" };
	char p[PATH_MAX];

	static const char *const idents[] = { "full", "fallback", "noseccomp", "fdswap",
					      "tmpdata", "missing", "baddata", "sleeper",
					      "leftover", "invalid" };

	(void)state;
	/* A failed assertion skips a test's own cleanup; nothing may outlive the run. */
	for (size_t i = 0; i < sizeof(idents) / sizeof(idents[0]); i++)
		(void)sandbox_cgroup_cleanup(g_group, idents[i]);
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", roots[i], g_group);
		rmdir(p);
	}
	rm_tree_shallow(g_tmpdata);
	rmdir(g_tmpdata);
	rm_tree_shallow(g_data);
	rm_tree_shallow(g_open);
	rm_tree_shallow(g_base);
	rmdir(g_base);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_invalid_config),
		cmocka_unit_test(test_full_sandbox),
		cmocka_unit_test(test_remount_fallback),
		cmocka_unit_test(test_no_seccomp),
		cmocka_unit_test(test_fd_swap),
		cmocka_unit_test(test_data_under_tmp),
		cmocka_unit_test(test_missing_exe),
		cmocka_unit_test(test_bad_data_dir),
		cmocka_unit_test(test_cleanup_kills),
		cmocka_unit_test(test_cleanup_leftover),
		cmocka_unit_test(test_cleanup_missing),
	};

	if (argc > 1 && !strcmp(argv[1], "--child"))
		return child_main(argc, argv);
	if (geteuid() != 0) {
		fprintf(stderr, "test_sandbox: needs root (uid changes, mounts, cgroups); skipped\n");
		return 77;
	}
	/* Children inherit nothing odd from a SIGPIPE-ignoring harness, but a dying child
	 * must not kill us through a pipe write. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
