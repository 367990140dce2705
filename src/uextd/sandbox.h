/* sandbox.h owns how an extension process is born: its uid, its empty capability sets,
 * no_new_privs, the seccomp allow-list, its private read-only mount namespace and its
 * cgroup. Policy (which uid, which limits) is decided by the caller. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#define SANDBOX_NO_SECCOMP (1u << 0) /* developer aid: skip the seccomp filter */
/* Tests: make the tree read-only with the per-mount remount fallback even where
 * mount_setattr(2) exists, so that path does not rot untested on new kernels. */
#define SANDBOX_REMOUNT_FALLBACK (1u << 1)

struct sandbox_config {
	const char *ident;          /* extension identifier: names the cgroup */
	const char *exe_path;       /* absolute path of the executable (inside the staged bundle) */
	char *const *argv;          /* argv[0] included, NULL-terminated */
	char *const *envp;          /* complete environment, NULL-terminated */
	uid_t uid;                  /* unprivileged, no passwd entry needed */
	gid_t gid;
	int ipc_fd;                 /* becomes fd 3 in the child; -1 for none */
	int stdio_fd;               /* becomes stdout and stderr; stdin is /dev/null; -1: /dev/null */
	const char *data_dir;       /* writable directory owned by uid, bound at the same path; may be NULL */
	const char *bundle_dir;     /* the staged bundle, bound read-only at the same path (it may live
				     * under /tmp, which the sandbox covers); may be NULL */
	const char *cgroup_group;   /* parent cgroup name for this manager, e.g. "uext" */
	uint64_t memory_max;        /* bytes; 0 = no limit */
	uint32_t pids_max;          /* 0 = no limit */
	unsigned flags;             /* SANDBOX_* */
};

/* What this host offers, for `uextctl status`. */
struct sandbox_caps {
	int cgroup_v2;        /* unified hierarchy with memory+pids controllers usable */
	int cgroup_v1;        /* v1 memory and pids hierarchies usable (hybrid hosts) */
	int cgroup_kill;      /* cgroup.kill available on a unified hierarchy */
	int seccomp;          /* seccomp filters can be loaded */
	int mountns;          /* private mount namespaces */
};

/* Fork and exec the extension inside its sandbox. The parent returns as soon as the
 * child exists; a failure inside the child (before exec) makes it exit with status 127
 * after writing the reason to stdio_fd. Returns 0 and the pid, or -errno (-EINVAL for
 * uid or gid 0, a relative exe_path/data_dir, or an ident/group that is not one plain
 * path component). Borrows every fd and string in c. The child starts in "/" in its own
 * session, with default signal dispositions and an empty signal mask; it gets SIGKILL
 * when the forking thread exits, so call this from the manager's only thread. */
int sandbox_spawn(const struct sandbox_config *c, pid_t *ret_pid);

/* Kill every process left in the extension's cgroup(s) and remove them. Used at stop
 * and at manager start-up for leftovers of a previous manager. Missing is success. */
int sandbox_cgroup_cleanup(const char *cgroup_group, const char *ident);

/* Fill caps from the running host. Never fails. */
void sandbox_probe(struct sandbox_caps *ret);
