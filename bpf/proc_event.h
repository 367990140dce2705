/* proc_event.h owns the process-event record that both halves of uextd's process sources
 * share: the eBPF programs (proc.bpf.c) write it into the ring buffer, the proc connector
 * (proc_cn.c) builds it from netlink messages, and the es engine reads it. Fixed-width
 * types only, no pointers, so the layout is the same in the kernel and in user space.
 *
 * The struct is `proc_ev`, not `proc_event`: the kernel already owns that name, in
 * <linux/cn_proc.h> and therefore in every vmlinux.h. */
#ifndef UEXT_PROC_EVENT_H
#define UEXT_PROC_EVENT_H

#ifndef __VMLINUX_H__ /* the eBPF side gets __u32 & co from vmlinux.h */
#include <linux/types.h>
#endif

#define PROC_COMM_LEN 16
#define PROC_PATH_LEN 256   /* exec filename, mount source and target, setattr path */
#define PROC_FSTYPE_LEN 32
#define PROC_MODNAME_LEN 64
#define PROC_ARGS_LEN 1024  /* argv bytes kept, each argument NUL-terminated */
#define PROC_ARGS_MAX 16    /* arguments kept */
#define PROC_ENV_LEN 2048   /* environment bytes kept after argv, whole variables only */
#define PROC_ENV_MAX 64     /* EXEC_ARGS: variables kept */
#define PROC_ID_UNKNOWN 0xffffffffu

enum proc_ev_type {
	PROC_EV_NONE = 0,
	PROC_EV_EXEC,        /* header = the process after exec */
	PROC_EV_FORK,        /* header = the parent; fork.child_* = the child */
	PROC_EV_EXIT,        /* header = the process (its last thread) */
	PROC_EV_SETUID,      /* setuid family; header ids are the new ones */
	PROC_EV_SETGID,      /* setgid family */
	PROC_EV_SIGNAL,      /* header = the sender */
	PROC_EV_PTRACE,      /* header = the tracer (cn: see ptrace member) */
	PROC_EV_MOUNT,
	PROC_EV_UMOUNT,
	PROC_EV_MODULE_LOAD,
	PROC_EV_COMM,        /* comm changed (proc connector only); new name in header comm */
	PROC_EV_SETATTR,     /* chmod or chown family (ebpf only), at syscall exit */
	PROC_EV_EXEC_ARGS,   /* execve/execveat entry (ebpf only): header = the caller before the
			      * exec; member exec = what it passed. One per attempt, failed
			      * ones included (the outcome is not known yet) */
	PROC_EV_MAX
};
#define PROC_EV_BIT(t) (1u << (t))
#define PROC_EV_ALL (PROC_EV_BIT(PROC_EV_MAX) - 2u) /* every type but NONE */

/* proc_ev.flags */
#define PROC_EF_ARGS_TRUNC (1u << 0)     /* argv cut at PROC_ARGS_LEN bytes or PROC_ARGS_MAX args */
#define PROC_EF_PATH_TRUNC (1u << 1)     /* a path or name member was cut */
#define PROC_EF_NO_ARGS (1u << 2)        /* argv could not be read */
#define PROC_EF_RACY (1u << 3)           /* members read from /proc after the event: they may
					  * describe a later state of the process */
#define PROC_EF_PROC_GONE (1u << 4)      /* the process was gone before /proc could be read */
#define PROC_EF_NO_CREDS (1u << 5)       /* header uid/euid/gid/egid unknown (PROC_ID_UNKNOWN) */
#define PROC_EF_THREAD (1u << 6)         /* fork made a thread / a thread exited
					  * (only with PROCSRC_F_THREADS) */
#define PROC_EF_NO_ENVC (1u << 7)        /* exec.envc unknown (left 0) */
#define PROC_EF_NO_PATH (1u << 8)        /* a path or name member could not be read from the
					  * caller's memory (left ""): see EXEC_ARGS */
#define PROC_EF_ENV_TRUNC (1u << 9)      /* environment cut at PROC_ENV_LEN bytes (or, for
					  * EXEC_ARGS, PROC_ENV_MAX variables) */
#define PROC_EF_NO_ENV (1u << 10)        /* environment strings could not be read */
#define PROC_EF_SESSION (1u << 11)       /* EXEC: exec.sid and exec.tty_nr are the kernel's */

/* setid.call */
enum {
	PROC_SETID_UNKNOWN = 0,  /* proc connector: some set*id call changed the ids */
	PROC_SETID_SETUID,
	PROC_SETID_SETREUID,
	PROC_SETID_SETRESUID,
	PROC_SETID_SETGID,
	PROC_SETID_SETREGID,
	PROC_SETID_SETRESGID,
};

/* mount.call, module.call, setattr.call (PROC_CALL_PTRACE is internal to proc.bpf.c) */
enum {
	PROC_CALL_MOUNT = 1,
	PROC_CALL_MOVE_MOUNT,
	PROC_CALL_UMOUNT2,
	PROC_CALL_INIT_MODULE,
	PROC_CALL_FINIT_MODULE,
	PROC_CALL_PTRACE,
	PROC_CALL_CHMOD,         /* chmod, fchmod, fchmodat, fchmodat2 */
	PROC_CALL_CHOWN,         /* chown, fchown, lchown, fchownat */
};

/* Configuration of proc.bpf.c (its cfg_flags rodata), set by proc_bpf.c before load. */
#define PROC_CFG_FAILED (1u << 0)      /* also report failed syscalls (ret < 0) */
#define PROC_CFG_ALL_SIGNALS (1u << 1) /* also report kernel-generated signals (si_code > 0) */
#define PROC_CFG_THREADS (1u << 2)     /* also report thread creation and thread exit */

/* Member of EXEC and of EXEC_ARGS (the type tells them apart).
 * EXEC: argc and envc are bprm->argc/envc (ebpf); the connector counts envc from
 * /proc/<pid>/environ (the environment as it is when read, so under PROC_EF_RACY), and
 * sets PROC_EF_NO_ENVC when that cannot be read or is over 256 KiB.
 * EXEC_ARGS: old_tid is the calling thread; argc and envc are the pointers counted in the
 * caller's argv and envp up to their NULL: argc 0 and envc 0 + PROC_EF_NO_ENVC when there
 * are more than 256 or they cannot be read. filename and args are what the caller passed,
 * read at syscall entry without faulting: memory not mapped in the caller yet (a literal
 * in a freshly forked child that never touched its page) gives PROC_EF_NO_PATH for the
 * filename, PROC_EF_NO_ARGS for argv[0], PROC_EF_ARGS_TRUNC for a later argument. */
struct proc_ev_exec {
	__u32 old_tid;    /* thread that called execve (its tid before de_thread) */
	__u32 argc;       /* argc of the new image; 0 = unknown (proc connector, cut cmdline) */
	__u32 nargs;      /* arguments in args (<= PROC_ARGS_MAX) */
	__u32 args_len;   /* bytes used in args, every argument NUL-terminated */
	__u32 envc;       /* environment variables; 0 with PROC_EF_NO_ENVC = unknown */
	__u32 env_len;    /* bytes of environment strings after argv */
	__u32 sid;        /* EXEC with PROC_EF_SESSION: session id (initial pid namespace) */
	__u32 tty_nr;     /* EXEC with PROC_EF_SESSION: controlling tty as /proc/PID/stat
			   * encodes it; 0 = none */
	char filename[PROC_PATH_LEN]; /* ebpf: as passed to execve; cn: /proc/<pid>/exe */
	/* last: argv (args_len bytes), then the environment (env_len bytes), each string
	 * NUL-terminated; a record ends after them */
	char args[PROC_ARGS_LEN + PROC_ENV_LEN];
};

struct proc_ev_fork {
	__u32 child_pid;   /* tgid of the child */
	__u32 child_tid;
	__u64 child_start_ns;   /* CLOCK_BOOTTIME ns; 0 = unknown */
};

struct proc_ev_exit {
	__u32 status;      /* wait(2) status: WEXITSTATUS(status), WTERMSIG(status) work */
	__u32 pad;
};

struct proc_ev_setid {
	__u32 call;        /* PROC_SETID_* */
	__s32 ret;         /* 0, or -errno with PROCSRC_F_FAILED */
	__u32 id;          /* new real, effective, saved and filesystem uid (SETUID) or gid */
	__u32 eid;
	__u32 sid;         /* PROC_ID_UNKNOWN where the source cannot see it */
	__u32 fsid;
};

struct proc_ev_signal {
	__u32 sig;
	__s32 code;        /* si_code: <= 0 sent from user space (SI_USER, SI_QUEUE, SI_TKILL...) */
	__u32 target_pid;  /* tgid of the receiving process */
	__u32 target_tid;
	__s32 result;      /* the kernel's TRACE_SIGNAL_* result: 0 delivered, 1 ignored, ... */
	__u32 group;       /* sent to the whole thread group */
	char target_comm[PROC_COMM_LEN];
};

struct proc_ev_ptrace {
	__u64 request;     /* PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME; cn: ATTACH or DETACH */
	__u32 target_pid;  /* ebpf: as passed by the caller, in its pid namespace; 0 for TRACEME */
	__s32 ret;
};

struct proc_ev_mount {
	__u32 call;        /* PROC_CALL_MOUNT, PROC_CALL_MOVE_MOUNT, PROC_CALL_UMOUNT2 */
	__s32 ret;
	__u64 flags;       /* mount(2) flags, move_mount(2) flags or umount2(2) flags */
	char source[PROC_PATH_LEN];   /* user memory as passed, not as the kernel resolved it */
	char target[PROC_PATH_LEN];
	char fstype[PROC_FSTYPE_LEN];
};

struct proc_ev_module {
	__u32 call;        /* PROC_CALL_INIT_MODULE, PROC_CALL_FINIT_MODULE */
	__s32 ret;
	__u32 flags;       /* finit_module flags */
	__u32 pad;
	char name[PROC_MODNAME_LEN];  /* finit_module: basename of the file; init_module: "" */
};

/* chmod family: uid and gid are 0xffffffff; chown family: mode is 0xffffffff. */
struct proc_ev_setattr {
	__u32 call;        /* PROC_CALL_CHMOD, PROC_CALL_CHOWN */
	__s32 ret;         /* 0, or -errno with PROCSRC_F_FAILED */
	__u32 mode;        /* as passed (the kernel keeps mode & 07777) */
	__u32 uid;         /* as passed: 0xffffffff = not changed */
	__u32 gid;
	__s32 dirfd_or_fd; /* AT_FDCWD (-100), the dirfd of *at calls, or the fd of fchmod/fchown */
	__u32 at_flags;    /* fchownat/fchmodat2 flags as passed; lchown: AT_SYMLINK_NOFOLLOW */
	__u32 pad;
	char path[PROC_PATH_LEN]; /* as passed, may be relative to dirfd; "" for fchmod/fchown.
				   * Read from the caller's memory at syscall exit */
};

struct proc_ev {
	__u32 type;        /* enum proc_ev_type */
	__u32 flags;       /* PROC_EF_* */
	__u64 ts_ns;       /* when, CLOCK_BOOTTIME ns */
	__u64 start_ns;    /* start of the process, CLOCK_BOOTTIME ns (cn: 10 ms steps); 0 unknown */
	__u32 pid;         /* tgid of the acting process, initial pid namespace */
	__u32 tid;
	__u32 ppid;        /* tgid of its real parent; 0 = unknown */
	__u32 uid;         /* real and effective ids of the acting process; PROC_ID_UNKNOWN */
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 size;        /* bytes of this record that are valid: header + the member of type */
	char comm[PROC_COMM_LEN];
	union {            /* only the member named by type is valid */
		struct proc_ev_exec exec;
		struct proc_ev_fork fork;
		struct proc_ev_exit exit;
		struct proc_ev_setid setid;
		struct proc_ev_signal signal;
		struct proc_ev_ptrace ptrace;
		struct proc_ev_mount mount;
		struct proc_ev_module module;
		struct proc_ev_setattr setattr;
	};
};

/* Bytes of a record of the given member: header plus that member. */
#define PROC_EV_SIZE(member) \
	(__builtin_offsetof(struct proc_ev, member) + sizeof(((struct proc_ev *)0)->member))
#define PROC_EV_HDR_SIZE __builtin_offsetof(struct proc_ev, exec)
/* An exec or exec_args record ends after its n = args_len + env_len bytes of strings. */
#define PROC_EV_EXEC_SIZE(n) (__builtin_offsetof(struct proc_ev, exec.args) + (n))

#endif
