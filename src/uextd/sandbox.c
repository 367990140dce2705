/* sandbox.c owns the birth of an extension process (fork, cgroup, mounts, fds, identity,
 * seccomp, exec) and the removal of its cgroups; which uid and which limits is policy
 * and belongs to the caller. */
#include "uextd/sandbox.h"

#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

/* mount_setattr(2) through syscall(2): older C libraries have no wrapper, and mixing
 * <linux/mount.h> with <sys/mount.h> breaks on some glibc versions. */
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442 /* same number on every architecture */
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif
#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

struct sb_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

#define CG_FS "/sys/fs/cgroup"
#define CG_MAX 3                   /* unified + v1 memory + v1 pids */
#define CG_NAME_MAX 200            /* group and ident are single path components */
#define TMPFS_OPTS "size=16m,mode=1777"
#define MOUNTINFO_MAX (4u << 20)   /* refuse absurd mount tables rather than loop */
#define CLEANUP_ROUNDS 20
#define CLEANUP_KILL_WAIT_MS 2000
#define CLEANUP_ROUND_WAIT_MS 250
#define RMDIR_TRIES 200            /* x 10 ms: dying tasks can hold a cgroup briefly */

enum cg_kind {
	CG_UNIFIED,   /* cgroup2: memory.max / pids.max when the controllers are enabled */
	CG_V1_MEMORY,
	CG_V1_PIDS,
};

struct cg_root {
	enum cg_kind kind;
	const char *path;
};

/* Everything the child needs, prepared before fork so the child does little but
 * system calls. */
struct spawn_ctx {
	const struct sandbox_config *c;
	pid_t parent;
	int cg_fd[CG_MAX]; /* cgroup.procs of each hierarchy, opened by the parent */
	int n_cg;
	scmp_filter_ctx filter; /* NULL with SANDBOX_NO_SECCOMP */
};

static bool fs_is(const char *path, long magic)
{
	struct statfs st;

	return statfs(path, &st) == 0 && (long)st.f_type == magic;
}

static bool file_exists(const char *dir, const char *name)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return false;
	return access(p, F_OK) == 0;
}

/* The cgroup hierarchies of this host, in the order the child joins them. Pure v2 has
 * one; a hybrid host has v1 memory and pids plus the (controller-less) unified tree,
 * which we still use for cgroup.kill and cgroup.events. */
static int cg_roots(struct cg_root out[CG_MAX])
{
	int n = 0;

	if (fs_is(CG_FS, CGROUP2_SUPER_MAGIC)) {
		out[n++] = (struct cg_root){ CG_UNIFIED, CG_FS };
		return n;
	}
	if (fs_is(CG_FS "/memory", CGROUP_SUPER_MAGIC) &&
	    file_exists(CG_FS "/memory", "memory.limit_in_bytes"))
		out[n++] = (struct cg_root){ CG_V1_MEMORY, CG_FS "/memory" };
	if (fs_is(CG_FS "/pids", CGROUP_SUPER_MAGIC))
		out[n++] = (struct cg_root){ CG_V1_PIDS, CG_FS "/pids" };
	if (fs_is(CG_FS "/unified", CGROUP2_SUPER_MAGIC))
		out[n++] = (struct cg_root){ CG_UNIFIED, CG_FS "/unified" };
	return n;
}

/* A cgroup name must be one path component we are willing to create under /sys. */
static bool cg_name_ok(const char *s)
{
	size_t n;

	if (!s || !*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	n = strnlen(s, CG_NAME_MAX + 1);
	if (n > CG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return false;
	return true;
}

static int path_join(char *buf, size_t size, const char *a, const char *b, const char *c)
{
	int n;

	if (c)
		n = snprintf(buf, size, "%s/%s/%s", a, b, c);
	else
		n = snprintf(buf, size, "%s/%s", a, b);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_file(const char *dir, const char *name, const char *val)
{
	char p[PATH_MAX];
	size_t len = strlen(val);
	ssize_t w;
	int fd, r;

	r = path_join(p, sizeof(p), dir, name, NULL);
	if (r < 0)
		return r;
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w = write(fd, val, len);
	r = w < 0 ? -errno : (size_t)w != len ? -EIO : 0;
	close(fd);
	return r;
}

/* Reads a small control file into buf (NUL-terminated). */
static int read_file(const char *dir, const char *name, char *buf, size_t size)
{
	char p[PATH_MAX];
	ssize_t n;
	int fd, r;

	r = path_join(p, sizeof(p), dir, name, NULL);
	if (r < 0)
		return r;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r == 0)
		buf[n] = '\0';
	return r;
}

static bool word_in(const char *list, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += wl)
		if ((p == list || p[-1] == ' ') &&
		    (p[wl] == '\0' || p[wl] == ' ' || p[wl] == '\n'))
			return true;
	return false;
}

/* Enables memory and pids for the children of dir where dir offers them. Failure is
 * not an error: a root cgroup that holds processes inside a container refuses with
 * EBUSY, and we then run without those limits rather than not at all. */
static void cg_enable_controllers(const char *dir)
{
	static const char *const ctl[] = { "memory", "pids" };
	char avail[512], cmd[16];

	if (read_file(dir, "cgroup.controllers", avail, sizeof(avail)) < 0)
		return;
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
		if (!word_in(avail, ctl[i]))
			continue;
		snprintf(cmd, sizeof(cmd), "+%s", ctl[i]);
		(void)write_file(dir, "cgroup.subtree_control", cmd);
	}
}

static int mkdir_ok(const char *p)
{
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Creates <root>/<group>/<ident> in every hierarchy, writes the limits, and opens each
 * cgroup.procs for the child (the parent's fd also carries root's right to move). */
static int cg_prepare(const struct sandbox_config *c, struct spawn_ctx *x)
{
	struct cg_root roots[CG_MAX];
	char grp[PATH_MAX], dir[PATH_MAX], procs[PATH_MAX], val[32];
	int n, r, fd;

	n = cg_roots(roots);
	for (int i = 0; i < n; i++) {
		const struct cg_root *rt = &roots[i];

		r = path_join(grp, sizeof(grp), rt->path, c->cgroup_group, NULL);
		if (r < 0)
			return r;
		r = path_join(dir, sizeof(dir), grp, c->ident, NULL);
		if (r < 0)
			return r;
		if (rt->kind == CG_UNIFIED)
			cg_enable_controllers(rt->path);
		r = mkdir_ok(grp);
		if (r < 0)
			return r;
		if (rt->kind == CG_UNIFIED)
			cg_enable_controllers(grp);
		r = mkdir_ok(dir);
		if (r < 0)
			return r;

		/* Always write the value, "no limit" included: a reused cgroup keeps old ones. */
		switch (rt->kind) {
		case CG_UNIFIED:
			if (file_exists(dir, "memory.max")) {
				if (c->memory_max)
					snprintf(val, sizeof(val), "%llu", (unsigned long long)c->memory_max);
				else
					strcpy(val, "max");
				r = write_file(dir, "memory.max", val);
				if (r < 0)
					return r;
			}
			if (file_exists(dir, "pids.max")) {
				if (c->pids_max)
					snprintf(val, sizeof(val), "%u", c->pids_max);
				else
					strcpy(val, "max");
				r = write_file(dir, "pids.max", val);
				if (r < 0)
					return r;
			}
			break;
		case CG_V1_MEMORY:
			if (c->memory_max)
				snprintf(val, sizeof(val), "%llu", (unsigned long long)c->memory_max);
			else
				strcpy(val, "-1");
			r = write_file(dir, "memory.limit_in_bytes", val);
			if (r < 0)
				return r;
			break;
		case CG_V1_PIDS:
			if (c->pids_max)
				snprintf(val, sizeof(val), "%u", c->pids_max);
			else
				strcpy(val, "max");
			r = write_file(dir, "pids.max", val);
			if (r < 0)
				return r;
			break;
		}

		r = path_join(procs, sizeof(procs), dir, "cgroup.procs", NULL);
		if (r < 0)
			return r;
		fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		x->cg_fd[x->n_cg++] = fd;
	}
	return 0;
}

/* --- seccomp ------------------------------------------------------------------------ */

/* Allowed without argument checks. Names unknown on this architecture are skipped, so
 * the list is the union of what x86_64 and aarch64 call. Deliberately absent, hence
 * EPERM: mount API (mount, umount2, fsopen, fsmount, move_mount, open_tree,
 * mount_setattr, pivot_root), ptrace, process_vm_*, kcmp, pidfd_getfd, bpf, kexec_*,
 * *_module, reboot, swapon/off, setns, unshare, perf_event_open, keyctl, add_key,
 * request_key, open_by_handle_at, name_to_handle_at, userfaultfd, io_uring_* (its
 * operations bypass this filter), clock/time setting, acct, chroot, quotactl, syslog,
 * SysV IPC, setgroups, iopl/ioperm. */
static const char *const allow_plain[] = {
	/* files and directories */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
	"preadv2", "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range",
	"lseek", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents",
	"getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
	"renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod",
	"fchmodat", "fchmodat2", "chown", "fchown", "fchownat", "lchown", "truncate",
	"ftruncate", "fallocate", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range",
	"flock", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "mknod", "mknodat",
	"utime", "utimes", "utimensat", "futimesat", "getcwd", "chdir", "fchdir", "umask",
	"fadvise64", "readahead", "sendfile", "splice", "tee", "vmsplice",
	"copy_file_range", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
	"flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
	"fremovexattr", "inotify_init", "inotify_init1", "inotify_add_watch",
	"inotify_rm_watch", "memfd_create", "cachestat",
	/* ioctl is left open: device handles passed by the manager (TUN, hidraw, uinput,
	 * usbfs) need their ioctls, and TIOCSTI is moot without a controlling terminal
	 * (setsid) and needs CAP_SYS_ADMIN on kernels >= 6.2 anyway. */
	"ioctl",
	/* memory */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
	"mlock", "mlock2", "munlock", "mlockall", "munlockall", "membarrier",
	"pkey_mprotect", "pkey_alloc", "pkey_free", "mseal", "map_shadow_stack",
	"get_mempolicy", "set_mempolicy", "mbind",
	/* processes, threads, identity (read-only) */
	"execve", "execveat", "fork", "vfork", "exit", "exit_group", "wait4", "waitid",
	"kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "getpid", "getppid",
	"gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "getuid", "geteuid",
	"getgid", "getegid", "getresuid", "getresgid", "getgroups", "capget", "capset",
	"prctl", "arch_prctl", "seccomp", "set_tid_address", "set_robust_list",
	"get_robust_list", "rseq", "futex", "futex_waitv", "futex_wake", "futex_wait",
	"futex_requeue", "sched_yield", "sched_getaffinity", "sched_setaffinity",
	"sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
	"sched_getattr", "sched_setattr", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval", "getpriority", "setpriority",
	"ioprio_get", "ioprio_set", "getcpu", "getrlimit", "setrlimit", "prlimit64",
	"getrusage", "times", "sysinfo", "uname", "getrandom", "restart_syscall",
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	/* signals and time */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
	"rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend",
	"sigaltstack", "signalfd", "signalfd4", "pause", "alarm", "nanosleep",
	"clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
	"getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime",
	"timerfd_gettime",
	/* event loops */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2",
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	"mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
	"mq_getsetattr",
	/* sockets (socket and socketpair are checked by family below) */
	"bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	"setsockopt", "getsockopt",
};

/* Comparisons on the low 32 bits: the kernel reads these arguments as int/uid_t, and
 * the upper half of the register is not guaranteed to be zero. */
#define A32_EQ(n, v) SCMP_CMP((n), SCMP_CMP_MASKED_EQ, 0xffffffffULL, (scmp_datum_t)(v))

static int sc_nr(const char *name)
{
	/* Unknown names give __NR_SCMP_ERROR; names of another architecture give a
	 * negative pseudo number. Both mean "not on this arch". */
	return seccomp_syscall_resolve_name(name);
}

static int sc_add(scmp_filter_ctx f, uint32_t action, const char *name, unsigned n,
		  const struct scmp_arg_cmp *cmp)
{
	int nr = sc_nr(name);

	if (nr < 0)
		return 0;
	return seccomp_rule_add_array(f, action, nr, n, cmp);
}

/* set*id calls that keep the identity we gave are allowed: programs that "drop
 * privileges" at start-up to the ids they already have, and abort when that fails,
 * then still run. Any real change is refused. */
static int sc_add_identity(scmp_filter_ctx f, uid_t uid, gid_t gid)
{
	static const char *const one_u[] = { "setuid", "setfsuid" };
	static const char *const one_g[] = { "setgid", "setfsgid" };
	const uint32_t none = 0xffffffffu; /* (uid_t)-1: leave unchanged */
	struct scmp_arg_cmp a[3];
	int r;

	for (size_t i = 0; i < 2; i++) {
		a[0] = A32_EQ(0, uid);
		r = sc_add(f, SCMP_ACT_ALLOW, one_u[i], 1, a);
		if (r < 0)
			return r;
		a[0] = A32_EQ(0, gid);
		r = sc_add(f, SCMP_ACT_ALLOW, one_g[i], 1, a);
		if (r < 0)
			return r;
	}
	/* setres[ug]id: every argument is the id or -1 (8 rules); setre[ug]id: 4 rules. */
	for (unsigned m = 0; m < 8; m++) {
		for (unsigned k = 0; k < 3; k++)
			a[k] = A32_EQ(k, m & (1u << k) ? none : (uint32_t)uid);
		r = sc_add(f, SCMP_ACT_ALLOW, "setresuid", 3, a);
		if (r < 0)
			return r;
		for (unsigned k = 0; k < 3; k++)
			a[k] = A32_EQ(k, m & (1u << k) ? none : (uint32_t)gid);
		r = sc_add(f, SCMP_ACT_ALLOW, "setresgid", 3, a);
		if (r < 0)
			return r;
		if (m >= 4)
			continue;
		for (unsigned k = 0; k < 2; k++)
			a[k] = A32_EQ(k, m & (1u << k) ? none : (uint32_t)uid);
		r = sc_add(f, SCMP_ACT_ALLOW, "setreuid", 2, a);
		if (r < 0)
			return r;
		for (unsigned k = 0; k < 2; k++)
			a[k] = A32_EQ(k, m & (1u << k) ? none : (uint32_t)gid);
		r = sc_add(f, SCMP_ACT_ALLOW, "setregid", 2, a);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Builds the allow-list for the native architecture. Other ABIs (i386 and x32 on an
 * x86_64 host, arm32 on aarch64) hit the bad-arch action, which kills. */
static int seccomp_build(uid_t uid, gid_t gid, scmp_filter_ctx *ret)
{
	static const int families[] = { AF_UNIX, AF_INET, AF_INET6, AF_NETLINK };
	const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
				  CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
	struct scmp_arg_cmp a[1];
	scmp_filter_ctx f;
	int r;

	f = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!f)
		return -ENOMEM;
	/* Binary-tree dispatch: the list is long and every system call pays for it. */
	(void)seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	for (size_t i = 0; i < sizeof(allow_plain) / sizeof(allow_plain[0]); i++) {
		r = sc_add(f, SCMP_ACT_ALLOW, allow_plain[i], 0, NULL);
		if (r < 0)
			goto err;
	}

	/* clone without namespace flags; unprivileged user namespaces would otherwise undo
	 * most of the above. clone3 passes its flags in memory that seccomp cannot see, so
	 * it answers ENOSYS and the C library falls back to clone. */
	a[0] = SCMP_CMP(0, SCMP_CMP_MASKED_EQ, ns_flags, 0);
	r = sc_add(f, SCMP_ACT_ALLOW, "clone", 1, a);
	if (r < 0)
		goto err;
	r = sc_add(f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	if (r < 0)
		goto err;

	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		a[0] = A32_EQ(0, families[i]);
		r = sc_add(f, SCMP_ACT_ALLOW, "socket", 1, a);
		if (r < 0)
			goto err;
	}
	a[0] = A32_EQ(0, AF_UNIX);
	r = sc_add(f, SCMP_ACT_ALLOW, "socketpair", 1, a);
	if (r < 0)
		goto err;

	/* personality: the default and the query (0xffffffff) only. */
	a[0] = A32_EQ(0, 0);
	r = sc_add(f, SCMP_ACT_ALLOW, "personality", 1, a);
	if (r < 0)
		goto err;
	a[0] = A32_EQ(0, 0xffffffffu);
	r = sc_add(f, SCMP_ACT_ALLOW, "personality", 1, a);
	if (r < 0)
		goto err;

	r = sc_add_identity(f, uid, gid);
	if (r < 0)
		goto err;

	*ret = f;
	return 0;
err:
	seccomp_release(f);
	return r;
}

/* --- the child ---------------------------------------------------------------------- */

/* Reports "uext sandbox: <step>: <reason>" on the stdio fd and exits 127. Only write(2)
 * and _exit(2); strerror is safe here because the parent is single-threaded. */
static void __attribute__((noreturn)) child_fail(int fd, const char *step, int err)
{
	char buf[256];
	size_t n = 0;
	const char *parts[] = { "uext sandbox: ", step, ": ", strerror(err), "\n" };

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t l = strlen(parts[i]);

		if (l > sizeof(buf) - n)
			l = sizeof(buf) - n;
		memcpy(buf + n, parts[i], l);
		n += l;
	}
	if (fd >= 0)
		(void)!write(fd, buf, n);
	_exit(127);
}

static int sys_mount_setattr(const char *path, unsigned flags, struct sb_mount_attr *attr)
{
	return (int)syscall(__NR_mount_setattr, AT_FDCWD, path, flags, attr, sizeof(*attr));
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. In place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; ) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

static unsigned long mount_opts_flags(const char *opts)
{
	static const struct { const char *name; unsigned long flag; } map[] = {
		{ "nosuid", MS_NOSUID }, { "nodev", MS_NODEV }, { "noexec", MS_NOEXEC },
		{ "noatime", MS_NOATIME }, { "nodiratime", MS_NODIRATIME },
		{ "relatime", MS_RELATIME }, { "strictatime", MS_STRICTATIME },
	};
	unsigned long f = 0;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (word_in(opts, map[i].name))
			f |= map[i].flag;
	return f;
}

/* Fallback for kernels before 5.12: remount every mount of our namespace read-only,
 * one by one, keeping its nosuid/nodev/noexec/atime flags (a bind remount replaces
 * them all). Mounts hidden under others are unreachable and stay as they are. */
static int remount_all_ro(void)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (cap - len < 4096) {
			char *nb;

			if (cap >= MOUNTINFO_MAX) {
				r = -EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!buf)
		goto out;
	buf[len] = '\0';

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* id parent maj:min root mountpoint options ... */
		char *f[6], *sp = NULL;
		int i;

		for (i = 0; i < 6; i++) {
			f[i] = strtok_r(i ? NULL : line, " ", &sp);
			if (!f[i])
				break;
		}
		if (i < 6)
			continue;
		unescape_octal(f[4]);
		if (mount(NULL, f[4], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | mount_opts_flags(f[5]),
			  NULL) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
	}
out:
	free(buf);
	close(fd);
	return r;
}

static int mount_tmpfs(const char *where)
{
	if (mount("tmpfs", where, "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_OPTS) < 0)
		return errno == ENOENT ? 0 : -errno; /* a host without /dev/shm: nothing to hide */
	return 0;
}

/* Creates the missing directories of path; only succeeds inside our fresh tmpfs mounts,
 * everything else being read-only by now. */
static int mkdir_p(const char *path)
{
	char p[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(p))
		return -ENAMETOOLONG;
	memcpy(p, path, n + 1);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -errno;
			*s = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* Bind the directory held by fd (opened before /tmp was covered) back at path, creating
 * the mount point inside a fresh tmpfs when needed. The bind inherits the read-only flag
 * of its source; writable clears it (and sets nosuid, nodev). */
static int bind_own_path(int fd, const char *path, bool writable, unsigned flags)
{
	struct sb_mount_attr rw = { .attr_clr = MOUNT_ATTR_RDONLY,
				    .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	char src[64];
	struct stat st;
	int r;

	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		r = mkdir_p(path);
		if (r < 0)
			return r;
	}
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		return -errno;
	if (!writable)
		return 0;
	r = -ENOSYS;
	if (!(flags & SANDBOX_REMOUNT_FALLBACK)) {
		r = sys_mount_setattr(path, 0, &rw) < 0 ? -errno : 0;
		if (r < 0 && r != -ENOSYS)
			return r;
	}
	if (r == -ENOSYS &&
	    mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) < 0)
		return -errno;
	return 0;
}

/* The private, read-only view of the host: fresh /tmp and /dev/shm, data_dir writable.
 * *step names what failed. */
static int child_mounts(const struct sandbox_config *c, const char **step)
{
	struct sb_mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
	int data_fd = -1, bundle_fd = -1, r;

	*step = "unshare mount namespace";
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* Nothing we do below may propagate back to the host. */
	*step = "make mounts private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;

	/* Hold data_dir before /tmp is covered: it may live there. The fd must be taken in
	 * this namespace, since a bind source has to be one of our own mounts. */
	if (c->data_dir) {
		*step = "open data_dir";
		data_fd = open(c->data_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (data_fd < 0)
			return -errno;
	}
	if (c->bundle_dir) {
		*step = "open bundle_dir";
		bundle_fd = open(c->bundle_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (bundle_fd < 0)
			return -errno;
	}

	*step = "remount read-only";
	r = -ENOSYS;
	if (!(c->flags & SANDBOX_REMOUNT_FALLBACK)) {
		r = sys_mount_setattr("/", AT_RECURSIVE, &ro) < 0 ? -errno : 0;
		if (r < 0 && r != -ENOSYS)
			return r;
	}
	if (r == -ENOSYS) {
		r = remount_all_ro();
		if (r < 0)
			return r;
	}

	/* New mounts are read-write and private in a private parent. */
	*step = "mount /tmp";
	r = mount_tmpfs("/tmp");
	if (r < 0)
		return r;
	*step = "mount /dev/shm";
	r = mount_tmpfs("/dev/shm");
	if (r < 0)
		return r;

	if (c->data_dir) {
		*step = "bind data_dir";
		r = bind_own_path(data_fd, c->data_dir, true, c->flags);
		close(data_fd);
		if (r < 0)
			return r;
	}
	if (c->bundle_dir) {
		/* Bound after the tmpfs mounts so a bundle under /tmp stays visible. */
		*step = "bind bundle_dir";
		r = bind_own_path(bundle_fd, c->bundle_dir, false, c->flags);
		close(bundle_fd);
		if (r < 0)
			return r;
	}
	return 0;
}

static int close_from(unsigned first)
{
	struct rlimit rl;

	if (syscall(SYS_close_range, first, ~0u, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Pre-5.9 kernels: close the whole possible range. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (1u << 20))
		rl.rlim_cur = 1u << 20;
	for (unsigned fd = first; fd < rl.rlim_cur; fd++)
		close((int)fd);
	return 0;
}

/* stdin /dev/null, stdout+stderr the stdio fd, fd 3 the ipc socket, nothing else.
 * Sources are first moved above 3 so that no dup2 can overwrite one still needed
 * (ipc_fd may be 1, stdio_fd may be 3, ...). *errfd follows the stdio fd. */
static int child_fds(const struct sandbox_config *c, int *errfd, const char **step)
{
	int nul, out, ipc = -1;

	*step = "open /dev/null";
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul < 0)
		return -errno;
	*step = "move fds";
	nul = fcntl(nul, F_DUPFD_CLOEXEC, 4);
	if (nul < 0)
		return -errno;
	out = fcntl(c->stdio_fd >= 0 ? c->stdio_fd : nul, F_DUPFD_CLOEXEC, 4);
	if (out < 0)
		return -errno;
	if (c->stdio_fd >= 0)
		*errfd = out;
	if (c->ipc_fd >= 0) {
		ipc = fcntl(c->ipc_fd, F_DUPFD_CLOEXEC, 4);
		if (ipc < 0)
			return -errno;
	}
	*step = "dup2";
	if (dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		return -errno;
	if (c->stdio_fd >= 0)
		*errfd = 1;
	if (ipc >= 0 && dup2(ipc, 3) < 0)
		return -errno;
	*step = "close fds";
	return close_from(ipc >= 0 ? 4 : 3);
}

/* Drops to uid/gid with no supplementary groups and every capability set empty, then
 * checks the kernel agrees: an unexpected capability here is a sandbox escape. */
static int child_identity(const struct sandbox_config *c)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	capng_clear(CAPNG_SELECT_ALL);
	if (capng_change_id((int)c->uid, (int)c->gid,
			    CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT) < 0)
		return errno ? -errno : -EPERM;
	/* Ambient is a subset of permitted, already empty; clear it anyway on old libcap-ng. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -errno;
	if (ru != c->uid || eu != c->uid || su != c->uid || rg != c->gid || eg != c->gid ||
	    sg != c->gid || getgroups(0, NULL) != 0)
		return -EPERM;
	capng_clear(CAPNG_SELECT_ALL);
	if (capng_get_caps_process() < 0)
		return -EPERM;
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		return -EPERM;
	for (int cap = 0; cap <= 63; cap++) {
		int v = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

		if (v < 0)
			break; /* past the last capability this kernel knows */
		if (v)
			return -EPERM;
	}
	return 0;
}

static void __attribute__((noreturn)) child_run(const struct spawn_ctx *x)
{
	const struct sandbox_config *c = x->c;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int errfd = c->stdio_fd;
	const char *step = "";
	sigset_t none;
	int r;

	/* The manager's blocked and ignored signals survive execve; the extension must
	 * start from the defaults. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL);

	/* Away from the manager's session and terminal. */
	if (setsid() < 0)
		child_fail(errfd, "setsid", errno);

	/* Join the cgroups first: every later step, and anything it forks, is then
	 * accounted and killable. Done while we are still root. */
	for (int i = 0; i < x->n_cg; i++)
		if (write(x->cg_fd[i], "0", 1) != 1)
			child_fail(errfd, "join cgroup", errno);

	r = child_mounts(c, &step);
	if (r < 0)
		child_fail(errfd, step, -r);
	/* The old cwd may sit under a path we just covered. */
	if (chdir("/") < 0)
		child_fail(errfd, "chdir /", errno);

	r = child_fds(c, &errfd, &step);
	if (r < 0)
		child_fail(errfd, step, -r);

	r = child_identity(c);
	if (r < 0)
		child_fail(errfd, "drop privileges", -r);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errfd, "no_new_privs", errno);

	/* After the uid change, which clears the death signal. The parent may have died
	 * before the prctl: then we were reparented and must not run. (The signal follows
	 * the forking thread; the manager is single-threaded.) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(errfd, "pdeathsig", errno);
	if (getppid() != x->parent)
		child_fail(errfd, "parent exited", ESRCH);

	if (x->filter) {
		r = seccomp_load(x->filter);
		if (r < 0)
			child_fail(errfd, "seccomp", -r);
	}

	execve(c->exe_path, c->argv, c->envp);
	child_fail(errfd, "execve", errno);
}

int sandbox_spawn(const struct sandbox_config *c, pid_t *ret_pid)
{
	struct spawn_ctx x = { .c = c };
	pid_t pid;
	int r;

	if (!c || !ret_pid || !c->exe_path || c->exe_path[0] != '/' || !c->argv || !c->envp ||
	    !cg_name_ok(c->ident) || !cg_name_ok(c->cgroup_group) ||
	    (c->data_dir && c->data_dir[0] != '/'))
		return -EINVAL;
	/* The whole design rests on an unprivileged identity. */
	if (c->uid == 0 || c->gid == 0 || c->uid == (uid_t)-1 || c->gid == (gid_t)-1)
		return -EINVAL;

	r = cg_prepare(c, &x);
	if (r < 0)
		goto err;
	if (!(c->flags & SANDBOX_NO_SECCOMP)) {
		r = seccomp_build(c->uid, c->gid, &x.filter);
		if (r < 0)
			goto err;
	}

	x.parent = getpid();
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto err;
	}
	if (pid == 0)
		child_run(&x);

	for (int i = 0; i < x.n_cg; i++)
		close(x.cg_fd[i]);
	if (x.filter)
		seccomp_release(x.filter);
	*ret_pid = pid;
	return 0;
err:
	for (int i = 0; i < x.n_cg; i++)
		close(x.cg_fd[i]);
	if (x.filter)
		seccomp_release(x.filter);
	return r;
}

/* --- cleanup ------------------------------------------------------------------------ */

/* A cgroup is populated while it has live members. cgroup.events (v2) says so
 * directly; v1 has only the member list. Zombies are not members in either. */
static bool cg_populated(const char *dir)
{
	char buf[256];
	char *p;

	if (read_file(dir, "cgroup.events", buf, sizeof(buf)) == 0) {
		p = strstr(buf, "populated ");
		return p && p[10] != '0';
	}
	if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) == 0)
		return buf[0] != '\0';
	return false; /* gone */
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until no directory is populated or timeout_ms passes. Uses the POLLPRI wake-up
 * of cgroup.events where there is one, short sleeps otherwise, never more than 20 ms
 * at a time so the v1 directories are rechecked. Returns true when empty. */
static bool cg_wait_empty(char dirs[][PATH_MAX], const bool *present, int n, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		int busy = -1;

		for (int i = 0; i < n; i++)
			if (present[i] && cg_populated(dirs[i])) {
				busy = i;
				break;
			}
		if (busy < 0)
			return true;
		if (now_ms() >= end)
			return false;

		char p[PATH_MAX];
		struct pollfd pfd = { .fd = -1, .events = POLLPRI };
		char tmp[256];

		if (path_join(p, sizeof(p), dirs[busy], "cgroup.events", NULL) == 0)
			pfd.fd = open(p, O_RDONLY | O_CLOEXEC);
		if (pfd.fd >= 0) {
			/* Read once to arm the notification, recheck, then sleep on it. */
			(void)!read(pfd.fd, tmp, sizeof(tmp));
			if (cg_populated(dirs[busy]))
				(void)poll(&pfd, 1, 20);
			close(pfd.fd);
		} else {
			struct timespec ts = { 0, 5 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
	}
}

/* SIGKILLs every member listed in dir. Without cgroup.kill a pid can be reused between
 * the read and the kill; we only get here when the kernel lacks cgroup.kill or it
 * left members behind. */
static void cg_kill_members(const char *dir)
{
	char p[PATH_MAX];
	FILE *f;
	int pid;

	if (path_join(p, sizeof(p), dir, "cgroup.procs", NULL) < 0)
		return;
	f = fopen(p, "re");
	if (!f)
		return;
	while (fscanf(f, "%d", &pid) == 1)
		if (pid > 0 && pid != getpid())
			(void)kill(pid, SIGKILL);
	fclose(f);
}

int sandbox_cgroup_cleanup(const char *cgroup_group, const char *ident)
{
	struct cg_root roots[CG_MAX];
	char dirs[CG_MAX][PATH_MAX];
	bool present[CG_MAX] = { false }, frozen[CG_MAX] = { false };
	bool any = false, killed = false;
	int n, r = 0;

	if (!cg_name_ok(cgroup_group) || !cg_name_ok(ident))
		return -EINVAL;
	n = cg_roots(roots);
	for (int i = 0; i < n; i++) {
		r = path_join(dirs[i], sizeof(dirs[i]), roots[i].path, cgroup_group, ident);
		if (r < 0)
			return r;
		present[i] = access(dirs[i], F_OK) == 0;
		any |= present[i];
	}
	if (!any)
		return 0;

	/* cgroup.kill (5.14+) kills atomically, forks in flight included. */
	for (int i = 0; i < n; i++)
		if (present[i] && roots[i].kind == CG_UNIFIED &&
		    write_file(dirs[i], "cgroup.kill", "1") == 0)
			killed = true;
	if (!killed || !cg_wait_empty(dirs, present, n, CLEANUP_KILL_WAIT_MS)) {
		/* Freeze first (v2) so nothing forks between reading the list and the kill;
		 * SIGKILL still reaches frozen v2 tasks. */
		for (int i = 0; i < n; i++)
			if (present[i] && roots[i].kind == CG_UNIFIED &&
			    write_file(dirs[i], "cgroup.freeze", "1") == 0)
				frozen[i] = true;
		for (int round = 0; round < CLEANUP_ROUNDS; round++) {
			for (int i = 0; i < n; i++)
				if (present[i])
					cg_kill_members(dirs[i]);
			if (cg_wait_empty(dirs, present, n, CLEANUP_ROUND_WAIT_MS))
				break;
		}
		for (int i = 0; i < n; i++)
			if (frozen[i])
				(void)write_file(dirs[i], "cgroup.freeze", "0");
	}

	r = 0;
	for (int i = 0; i < n; i++) {
		if (!present[i])
			continue;
		for (int t = 0; ; t++) {
			if (rmdir(dirs[i]) == 0 || errno == ENOENT)
				break;
			if (errno != EBUSY || t >= RMDIR_TRIES) {
				r = -errno;
				break;
			}
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			nanosleep(&ts, NULL);
		}
		/* The group goes with its last extension; while others remain the rmdir
		 * fails (EBUSY) and the group stays. Spawns happen on the same thread. */
		char group[PATH_MAX];
		if (r == 0 && path_join(group, sizeof(group), roots[i].path, cgroup_group, NULL) == 0)
			(void)rmdir(group);
	}
	return r;
}

/* --- probe -------------------------------------------------------------------------- */

/* cgroup.kill exists only in non-root cgroups: look at one, or make a scratch one. */
static bool cg_has_kill(const char *root)
{
	char p[PATH_MAX];
	struct dirent *de;
	bool found = false, seen_dir = false;
	DIR *d;

	d = opendir(root);
	if (!d)
		return false;
	while (!seen_dir && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		seen_dir = true;
		if (path_join(p, sizeof(p), root, de->d_name, NULL) == 0)
			found = file_exists(p, "cgroup.kill");
	}
	closedir(d);
	if (seen_dir)
		return found;

	snprintf(p, sizeof(p), "%s/.uext-probe-%d", root, (int)getpid());
	if (mkdir(p, 0755) < 0)
		return false;
	found = file_exists(p, "cgroup.kill");
	rmdir(p);
	return found;
}

void sandbox_probe(struct sandbox_caps *ret)
{
	struct cg_root roots[CG_MAX];
	bool v1_mem = false, v1_pids = false;
	char buf[512];
	int n;

	memset(ret, 0, sizeof(*ret));
	n = cg_roots(roots);
	for (int i = 0; i < n; i++) {
		switch (roots[i].kind) {
		case CG_UNIFIED:
			ret->cgroup_kill = cg_has_kill(roots[i].path);
			if (!strcmp(roots[i].path, CG_FS) &&
			    read_file(CG_FS, "cgroup.controllers", buf, sizeof(buf)) == 0)
				ret->cgroup_v2 = word_in(buf, "memory") && word_in(buf, "pids") &&
						 access(CG_FS, W_OK) == 0;
			break;
		case CG_V1_MEMORY:
			v1_mem = access(roots[i].path, W_OK) == 0;
			break;
		case CG_V1_PIDS:
			v1_pids = access(roots[i].path, W_OK) == 0;
			break;
		}
	}
	ret->cgroup_v1 = v1_mem && v1_pids;

	/* A NULL filter program: EFAULT (or EACCES without no_new_privs) means the kernel
	 * would take a real one; EINVAL means no seccomp filter support. */
	if (prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, NULL, 0, 0) < 0)
		ret->seccomp = errno == EFAULT || errno == EACCES;

	ret->mountns = access("/proc/self/ns/mnt", F_OK) == 0;
}
