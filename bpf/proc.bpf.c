/* proc.bpf.c owns the kernel half of the eBPF process-event source: what each tracepoint
 * turns into a struct proc_ev in the ring buffer, and the count of every record that did
 * not fit (lost[], read by proc_bpf.c). Which probes run and what they report is decided
 * by user space before load (cfg_* rodata, autoload); nothing here can block a task.
 *
 * All probes are BTF raw tracepoints (tp_btf): they attach by name, so they need no
 * tracefs, and they see the kernel's own arguments (the fork child, the exec bprm).
 * Syscall events come from the raw sys_enter/sys_exit tracepoints, filtered by number;
 * the numbers arrive in rodata from user space, which knows them for its architecture. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "proc_event.h"

/* GPL-compatible: the probe_read and ringbuf helpers are GPL-only */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SI_USER 0
#define SI_KERNEL 0x80
#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206
#define TS_COMPAT 0x0002 /* x86: the current syscall is a 32-bit one */
#define AT_FDCWD -100
#define AT_SYMLINK_NOFOLLOW 0x100
#define PTR_SCAN_MAX 256 /* argv/envp pointers counted at execve entry, at most */

/* Set by proc_bpf.c before load; the verifier sees them as constants. */
const volatile __u32 cfg_flags = 0;
const volatile __s32 nr_setuid = -1, nr_setreuid = -1, nr_setresuid = -1;
const volatile __s32 nr_setgid = -1, nr_setregid = -1, nr_setresgid = -1;
const volatile __s32 nr_ptrace = -1, nr_mount = -1, nr_move_mount = -1, nr_umount2 = -1;
const volatile __s32 nr_init_module = -1, nr_finit_module = -1;
const volatile __s32 nr_chmod = -1, nr_fchmod = -1, nr_fchmodat = -1, nr_fchmodat2 = -1;
const volatile __s32 nr_chown = -1, nr_fchown = -1, nr_lchown = -1, nr_fchownat = -1;
const volatile __s32 nr_execve = -1, nr_execveat = -1;

/* Records that found the ring buffer full, per type; never reset. */
__u64 lost[PROC_EV_MAX] = {};
/* 32-bit compat syscalls seen on a watched path and not decoded (numbers differ). */
__u64 compat_syscalls = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");
/* Wake-up coalescing: the consumer sets this to 1 before it sleeps without a timeout and to
 * 0 while it polls the ring itself (busy); records then wake it only when it sleeps, or when
 * the ring is half full. (See procsrc_set_waiting in procsrc.h.) */
__u32 consumer_waiting = 1;

static __always_inline __u64 wake_flags(void)
{
	if (consumer_waiting)
		return BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* exec records are built here (too big for the stack), then copied cut to their length.
 * The slack after the record lets the verifier accept an argument copied at a variable
 * offset into args with the rest of args as its bound. One slot per program that uses
 * it: sched_process_exec and sys_enter never nest on a CPU, but nothing relies on it. */
struct scratch {
	struct proc_ev ev;
	char slack[PROC_ARGS_LEN + PROC_ENV_LEN];
};
enum { SCRATCH_EXEC, SCRATCH_SYS_ENTER, SCRATCH_N };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SCRATCH_N);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* Arguments of a watched syscall between its enter and its exit, by tid. LRU: a task
 * killed inside the syscall never reaches sys_exit and its entry just ages out. */
struct pending {
	__u64 arg[5]; /* setattr: fd, path, mode, uid, gid (normalized at entry) */
	__u32 call;   /* PROC_CALL_* */
	__u32 aux;    /* setattr: at_flags */
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct pending);
} pending SEC(".maps");

/* Threads of one process can all be in do_exit at once (exit_group) and more than one can
 * see signal->live == 0; the first to insert (tgid, start) reports the exit. */
struct exit_key {
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exit_key);
	__type(value, __u8);
} exited SEC(".maps");

static __always_inline void count_lost(__u32 type)
{
	if (type < PROC_EV_MAX)
		__sync_fetch_and_add(&lost[type], 1);
}

static __always_inline void fill_hdr(struct proc_ev *ev, __u32 type, __u32 size,
				     struct task_struct *t)
{
	const struct cred *cred = BPF_CORE_READ(t, real_cred);

	ev->type = type;
	ev->flags = 0;
	ev->size = size;
	ev->ts_ns = bpf_ktime_get_boot_ns();
	ev->start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	ev->pid = BPF_CORE_READ(t, tgid);
	ev->tid = BPF_CORE_READ(t, pid);
	ev->ppid = BPF_CORE_READ(t, real_parent, tgid);
	ev->uid = BPF_CORE_READ(cred, uid.val);
	ev->euid = BPF_CORE_READ(cred, euid.val);
	ev->gid = BPF_CORE_READ(cred, gid.val);
	ev->egid = BPF_CORE_READ(cred, egid.val);
	BPF_CORE_READ_STR_INTO(&ev->comm, t, comm);
}

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* The user memory [start, end) into dst, at most cap bytes (trunc in *flags when more);
 * the bytes copied, 0 with none in *flags when it cannot be read. */
static __always_inline __u64 read_urange(char *dst, const __u64 cap, unsigned long start, unsigned long end,
					  __u32 *flags, const __u32 trunc, const __u32 none)
{
	__u64 len = end > start ? end - start : 0;

	if (len > cap) {
		len = cap;
		*flags |= trunc;
	}
	if (len && bpf_probe_read_user(dst, len, (const void *)start)) {
		len = 0;
		*flags |= none;
	}
	return len;
}

/* A reserved record of the given member, or NULL (counted as lost). */
#define RESERVE(type, member)                                                          \
	({                                                                             \
		struct proc_ev *__ev = bpf_ringbuf_reserve(&events, PROC_EV_SIZE(member), 0); \
		if (!__ev)                                                             \
			count_lost(type);                                              \
		__ev;                                                                  \
	})

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 key = SCRATCH_EXEC;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &key);
	struct proc_ev *ev;
	struct mm_struct *mm;
	const char *fn;
	__u64 len, elen;
	long n;
	char c = 0;

	if (!s)
		return 0;
	ev = &s->ev;
	fill_hdr(ev, PROC_EV_EXEC, 0, p);
	ev->exec.old_tid = old_pid;
	/* session and controlling tty now, as /proc would say them: a short-lived process
	 * is gone before user space could read them there */
	{
		struct tty_struct *tty = BPF_CORE_READ(p, signal, tty);
		__u32 maj = 0, min = 0;

		if (tty) {
			maj = BPF_CORE_READ(tty, driver, major);
			min = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);
		}
		ev->exec.tty_nr = tty ? (min & 0xff) | (maj << 8) | ((min & ~0xffu) << 12) : 0;
		ev->exec.sid = BPF_CORE_READ(p, signal, pids[PIDTYPE_SID], numbers[0].nr);
		ev->flags |= PROC_EF_SESSION;
	}
	ev->exec.argc = BPF_CORE_READ(bprm, argc);
	ev->exec.envc = BPF_CORE_READ(bprm, envc);
	ev->exec.nargs = 0; /* counted by user space */

	fn = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(ev->exec.filename, sizeof(ev->exec.filename), fn);
	if (n < 0)
		ev->exec.filename[0] = '\0';
	else if (n == sizeof(ev->exec.filename) &&
		 !bpf_probe_read_kernel(&c, 1, fn + sizeof(ev->exec.filename) - 1) && c)
		ev->flags |= PROC_EF_PATH_TRUNC;

	/* The new image's argv strings, as the kernel just copied them to its stack. */
	mm = BPF_CORE_READ(p, mm);
	len = read_urange(ev->exec.args, PROC_ARGS_LEN, BPF_CORE_READ(mm, arg_start), BPF_CORE_READ(mm, arg_end),
			  &ev->flags, PROC_EF_ARGS_TRUNC, PROC_EF_NO_ARGS);
	ev->exec.args_len = len;

	/* Then its environment, copied the same way right after argv (user space drops a
	 * variable cut at the end). */
	len &= 2 * PROC_ARGS_LEN - 1; /* for the verifier: len <= PROC_ARGS_LEN */
	if (len > PROC_ARGS_LEN)
		return 0;
	barrier_var(len);
	elen = read_urange(ev->exec.args + len, PROC_ENV_LEN, BPF_CORE_READ(mm, env_start), BPF_CORE_READ(mm, env_end),
			   &ev->flags, PROC_EF_ENV_TRUNC, PROC_EF_NO_ENV);
	ev->exec.env_len = elen;
	len += elen;
	ev->size = PROC_EV_EXEC_SIZE(len);
	if (bpf_ringbuf_output(&events, ev, PROC_EV_EXEC_SIZE(len), wake_flags()))
		count_lost(PROC_EV_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	bool thread = BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid);
	struct proc_ev *ev;

	if (thread && !(cfg_flags & PROC_CFG_THREADS))
		return 0;
	ev = RESERVE(PROC_EV_FORK, fork);
	if (!ev)
		return 0;
	fill_hdr(ev, PROC_EV_FORK, PROC_EV_SIZE(fork), current_task());
	if (thread)
		ev->flags |= PROC_EF_THREAD;
	ev->fork.child_pid = BPF_CORE_READ(child, tgid);
	ev->fork.child_tid = BPF_CORE_READ(child, pid);
	ev->fork.child_start_ns = BPF_CORE_READ(child, group_leader, start_boottime);
	bpf_ringbuf_submit(ev, wake_flags());
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	bool thread = BPF_CORE_READ(p, signal, live.counter) != 0;
	struct exit_key key = {};
	struct proc_ev *ev;
	__u8 one = 1;

	if (thread) {
		if (!(cfg_flags & PROC_CFG_THREADS))
			return 0;
	} else {
		key.tgid = BPF_CORE_READ(p, tgid);
		key.start_ns = BPF_CORE_READ(p, group_leader, start_boottime);
		if (bpf_map_update_elem(&exited, &key, &one, BPF_NOEXIST))
			return 0; /* another thread of this process reported it */
	}
	ev = RESERVE(PROC_EV_EXIT, exit);
	if (!ev)
		return 0;
	fill_hdr(ev, PROC_EV_EXIT, PROC_EV_SIZE(exit), p);
	if (thread)
		ev->flags |= PROC_EF_THREAD;
	ev->exit.status = BPF_CORE_READ(p, exit_code);
	ev->exit.pad = 0;
	bpf_ringbuf_submit(ev, wake_flags());
	return 0;
}

SEC("tp_btf/signal_generate")
int BPF_PROG(handle_signal, int sig, struct kernel_siginfo *info, struct task_struct *task,
	     int group, int result)
{
	struct proc_ev *ev;
	int code;

	/* SEND_SIG_NOINFO (0) and SEND_SIG_PRIV (1) are markers, not pointers */
	if ((unsigned long)info == 0)
		code = SI_USER;
	else if ((unsigned long)info == 1)
		code = SI_KERNEL;
	else
		code = BPF_CORE_READ(info, si_code);
	if (code > 0 && !(cfg_flags & PROC_CFG_ALL_SIGNALS))
		return 0;
	ev = RESERVE(PROC_EV_SIGNAL, signal);
	if (!ev)
		return 0;
	fill_hdr(ev, PROC_EV_SIGNAL, PROC_EV_SIZE(signal), current_task());
	ev->signal.sig = sig;
	ev->signal.code = code;
	ev->signal.target_pid = BPF_CORE_READ(task, tgid);
	ev->signal.target_tid = BPF_CORE_READ(task, pid);
	ev->signal.result = result;
	ev->signal.group = group;
	BPF_CORE_READ_STR_INTO(&ev->signal.target_comm, task, comm);
	bpf_ringbuf_submit(ev, wake_flags());
	return 0;
}

/* --- syscalls ----------------------------------------------------------------------- */

static __always_inline bool compat_syscall(void)
{
#if defined(__TARGET_ARCH_x86)
	struct task_struct *t = current_task();

	if (bpf_core_field_exists(t->thread_info.status) &&
	    (BPF_CORE_READ(t, thread_info.status) & TS_COMPAT)) {
		__sync_fetch_and_add(&compat_syscalls, 1);
		return true;
	}
#endif
	return false;
}

/* regs is a BTF pointer here: a direct load, no helper call on every syscall exit */
static __always_inline long syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return regs->orig_ax;
#elif defined(__TARGET_ARCH_arm64)
	return regs->syscallno;
#else
#error "proc.bpf.c: syscall number of this architecture unknown"
#endif
}

static __always_inline bool report(long ret)
{
	return ret == 0 || (cfg_flags & PROC_CFG_FAILED);
}

static __always_inline void read_ustr(char *dst, __u32 size, __u64 uptr, __u32 *flags)
{
	long n;
	char c = 0;

	if (!uptr) {
		dst[0] = '\0';
		return;
	}
	n = bpf_probe_read_user_str(dst, size, (const void *)uptr);
	if (n < 0) {
		dst[0] = '\0';
		*flags |= PROC_EF_NO_PATH; /* not mapped in: probes cannot fault */
	} else if (n == size && !bpf_probe_read_user(&c, 1, (const void *)(uptr + size - 1)) && c)
		*flags |= PROC_EF_PATH_TRUNC;
}

/* Count the non-NULL pointers of the user array at arr from index `from` on, up to
 * PTR_SCAN_MAX in all: the count, or -1 when the array could not be read or has more.
 * Global (not static) on purpose: the verifier checks it once, with unknown arguments,
 * instead of walking its loop again for every state of every caller. */
__noinline long count_uptrs(__u64 arr, __u32 from)
{
	const void *p;
	__u64 i;

#pragma clang loop unroll(disable)
	for (__u32 j = 0; j < PTR_SCAN_MAX; j++) {
		i = (__u64)from + j;
		if (i >= PTR_SCAN_MAX)
			return -1;
		p = NULL;
		if (bpf_probe_read_user(&p, sizeof(p), (const void *)(arr + i * sizeof(p))))
			return -1;
		if (!p)
			return i;
	}
	return -1;
}

/* Copy the strings of the user array v, up to max of them and NULL-terminated, into dst,
 * each NUL-terminated, while they fit in cap bytes (a power of two). Returns the bytes used,
 * masked for the verifier (the caller checks it is <= cap); *ret_i is how many strings were
 * read and *end whether v's NULL (or no array) was reached. A string cut at cap is kept cut
 * with keep_cut (argv: flagged only when surely cut), else left out (the environment keeps
 * whole variables: flagged when not surely whole); either sets trunc in *flags, as does a
 * string that cannot be read after the first (none for the first). */
static __always_inline __u64 read_ustrv(char *dst, const __u64 cap, const char *const *v, const __u32 max,
					 const bool keep_cut, __u32 *flags, const __u32 trunc, const __u32 none,
					 __u32 *ret_i, bool *end)
{
	__u64 off = 0, room; /* 64-bit: a u32 is zero-extended at each use, and loses its bounds */
	const char *a;
	__u32 i;
	long n;

	*end = !v;
#pragma clang loop unroll(disable)
	for (i = 0; !*end && i < max; i++) {
		a = NULL;
		if (bpf_probe_read_user(&a, sizeof(a), &v[i])) {
			*flags |= i ? trunc : none;
			break;
		}
		if (!a) {
			*end = true;
			break;
		}
		if (off >= cap) {
			*flags |= trunc;
			break;
		}
		/* for the verifier (off is already below): bound the register both uses share */
		off &= cap - 1;
		barrier_var(off);
		room = cap - off;
		n = bpf_probe_read_user_str(dst + off, room, a);
		if (n <= 0) {
			*flags |= i ? trunc : none;
			break;
		}
		if ((__u64)n == room) {
			char c = 0;
			long fault = bpf_probe_read_user(&c, 1, a + room - 1);

			/* full: cut, unless the string ended exactly there */
			if (keep_cut ? !fault && c : fault || c) {
				*flags |= trunc;
				if (keep_cut)
					off += n;
				break;
			}
		}
		off += n;
	}
	*ret_i = i;
	return off & (2 * cap - 1);
}

/* execve(filename, argv, envp) / execveat(dirfd, filename, argv, envp, flags), at entry:
 * what the caller asks to run, before the kernel has read any of it. */
static __always_inline void emit_exec_args(struct pt_regs *regs, bool at)
{
	__u32 key = SCRATCH_SYS_ENTER, i;
	__u64 off, eoff;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &key);
	const char *const *argv, *const *envp;
	struct proc_ev *ev;
	__u64 fn;
	long n;
	bool end;

	if (!s)
		return;
	ev = &s->ev;
	fill_hdr(ev, PROC_EV_EXEC_ARGS, 0, current_task());
	if (at) {
		fn = PT_REGS_PARM2_CORE_SYSCALL(regs);
		argv = (const char *const *)PT_REGS_PARM3_CORE_SYSCALL(regs);
		envp = (const char *const *)PT_REGS_PARM4_CORE_SYSCALL(regs);
	} else {
		fn = PT_REGS_PARM1_CORE_SYSCALL(regs);
		argv = (const char *const *)PT_REGS_PARM2_CORE_SYSCALL(regs);
		envp = (const char *const *)PT_REGS_PARM3_CORE_SYSCALL(regs);
	}
	ev->exec.old_tid = ev->tid;
	ev->exec.nargs = 0; /* counted by user space */
	ev->exec.argc = 0;
	ev->exec.env_len = 0;
	ev->exec.sid = 0;
	ev->exec.tty_nr = 0;
	read_ustr(ev->exec.filename, sizeof(ev->exec.filename), fn, &ev->flags);

	/* the first PROC_ARGS_MAX arguments, each NUL-terminated, while they fit */
	off = read_ustrv(ev->exec.args, PROC_ARGS_LEN, argv, PROC_ARGS_MAX, true, &ev->flags, PROC_EF_ARGS_TRUNC,
			 PROC_EF_NO_ARGS, &i, &end);
	if (end) {
		ev->exec.argc = i;
	} else if (!(ev->flags & PROC_EF_NO_ARGS)) {
		/* stopped at argument i (cut, or PROC_ARGS_MAX kept): count the rest */
		n = count_uptrs((__u64)argv, i);
		ev->exec.argc = n < 0 ? 0 : n;
		if (n != i)
			ev->flags |= PROC_EF_ARGS_TRUNC;
	}
	ev->exec.args_len = off;

	n = envp ? count_uptrs((__u64)envp, 0) : 0;
	if (n < 0) {
		ev->exec.envc = 0;
		ev->flags |= PROC_EF_NO_ENVC;
	} else {
		ev->exec.envc = n;
	}
	if (off > PROC_ARGS_LEN)
		return;

	/* then the first PROC_ENV_MAX variables after argv, whole, while they fit */
	eoff = read_ustrv(ev->exec.args + off, PROC_ENV_LEN, envp, PROC_ENV_MAX, false, &ev->flags, PROC_EF_ENV_TRUNC,
			  PROC_EF_NO_ENV, &i, &end);
	if (i == PROC_ENV_MAX && ev->exec.envc > PROC_ENV_MAX)
		ev->flags |= PROC_EF_ENV_TRUNC;
	if (eoff > PROC_ENV_LEN)
		return;
	ev->exec.env_len = eoff;
	off += eoff;
	ev->size = PROC_EV_EXEC_SIZE(off);
	if (bpf_ringbuf_output(&events, ev, PROC_EV_EXEC_SIZE(off), wake_flags()))
		count_lost(PROC_EV_EXEC_ARGS);
}

/* The chmod and chown families, normalized at entry into one pending layout. */
static __always_inline void setattr_enter(struct pt_regs *regs, long id, struct pending *pd)
{
	__u64 a0 = PT_REGS_PARM1_CORE_SYSCALL(regs);
	__u64 a1 = PT_REGS_PARM2_CORE_SYSCALL(regs);
	__u64 a2 = PT_REGS_PARM3_CORE_SYSCALL(regs);

	pd->arg[0] = (__u64)(__s64)AT_FDCWD;
	pd->arg[1] = 0;
	pd->arg[2] = 0xffffffffu;
	pd->arg[3] = 0xffffffffu;
	pd->arg[4] = 0xffffffffu;
	pd->aux = 0;
	if (id == nr_chmod || id == nr_fchmod || id == nr_fchmodat || id == nr_fchmodat2) {
		pd->call = PROC_CALL_CHMOD;
		if (id == nr_chmod) { /* path, mode */
			pd->arg[1] = a0;
			pd->arg[2] = a1;
		} else if (id == nr_fchmod) { /* fd, mode */
			pd->arg[0] = a0;
			pd->arg[2] = a1;
		} else { /* dirfd, path, mode[, flags] */
			pd->arg[0] = a0;
			pd->arg[1] = a1;
			pd->arg[2] = a2;
			if (id == nr_fchmodat2)
				pd->aux = PT_REGS_PARM4_CORE_SYSCALL(regs);
		}
		return;
	}
	pd->call = PROC_CALL_CHOWN;
	if (id == nr_fchown) { /* fd, uid, gid */
		pd->arg[0] = a0;
		pd->arg[3] = a1;
		pd->arg[4] = a2;
	} else if (id == nr_fchownat) { /* dirfd, path, uid, gid, flags */
		pd->arg[0] = a0;
		pd->arg[1] = a1;
		pd->arg[3] = a2;
		pd->arg[4] = PT_REGS_PARM4_CORE_SYSCALL(regs);
		pd->aux = PT_REGS_PARM5_CORE_SYSCALL(regs);
	} else { /* chown, lchown: path, uid, gid */
		pd->arg[1] = a0;
		pd->arg[3] = a1;
		pd->arg[4] = a2;
		if (id == nr_lchown)
			pd->aux = AT_SYMLINK_NOFOLLOW;
	}
}

static __always_inline bool setattr_nr(long id)
{
	return id == nr_chmod || id == nr_fchmod || id == nr_fchmodat || id == nr_fchmodat2 ||
	       id == nr_chown || id == nr_fchown || id == nr_lchown || id == nr_fchownat;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(handle_sys_enter, struct pt_regs *regs, long id)
{
	struct pending pd = {};
	__u32 tid;

	if (id < 0)
		return 0;
	if (id == nr_execve || id == nr_execveat) {
		if (!compat_syscall())
			emit_exec_args(regs, id == nr_execveat);
		return 0;
	}
	if (setattr_nr(id)) {
		if (compat_syscall())
			return 0;
		setattr_enter(regs, id, &pd);
		goto stash;
	}
	if (id == nr_ptrace) {
		__u64 req = PT_REGS_PARM1_CORE_SYSCALL(regs);

		if (req != PTRACE_ATTACH && req != PTRACE_SEIZE && req != PTRACE_TRACEME)
			return 0;
		pd.call = PROC_CALL_PTRACE;
	} else if (id == nr_mount) {
		pd.call = PROC_CALL_MOUNT;
	} else if (id == nr_move_mount) {
		pd.call = PROC_CALL_MOVE_MOUNT;
	} else if (id == nr_umount2) {
		pd.call = PROC_CALL_UMOUNT2;
	} else if (id == nr_init_module) {
		pd.call = PROC_CALL_INIT_MODULE;
	} else if (id == nr_finit_module) {
		pd.call = PROC_CALL_FINIT_MODULE;
	} else {
		return 0;
	}
	if (compat_syscall())
		return 0;
	pd.arg[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	pd.arg[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	pd.arg[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	pd.arg[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	pd.arg[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
stash:
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending, &tid, &pd, BPF_ANY);
	return 0;
}

static __always_inline int emit_setid(__u32 type, __u32 call, long ret)
{
	struct task_struct *t = current_task();
	const struct cred *cred = BPF_CORE_READ(t, real_cred);
	struct proc_ev *ev;

	if (!report(ret) || compat_syscall())
		return 0;
	ev = RESERVE(type, setid);
	if (!ev)
		return 0;
	fill_hdr(ev, type, PROC_EV_SIZE(setid), t);
	ev->setid.call = call;
	ev->setid.ret = ret;
	if (type == PROC_EV_SETUID) {
		ev->setid.id = BPF_CORE_READ(cred, uid.val);
		ev->setid.eid = BPF_CORE_READ(cred, euid.val);
		ev->setid.sid = BPF_CORE_READ(cred, suid.val);
		ev->setid.fsid = BPF_CORE_READ(cred, fsuid.val);
	} else {
		ev->setid.id = BPF_CORE_READ(cred, gid.val);
		ev->setid.eid = BPF_CORE_READ(cred, egid.val);
		ev->setid.sid = BPF_CORE_READ(cred, sgid.val);
		ev->setid.fsid = BPF_CORE_READ(cred, fsgid.val);
	}
	bpf_ringbuf_submit(ev, wake_flags());
	return 0;
}

static __always_inline void emit_ptrace(const struct pending *pd, long ret)
{
	struct proc_ev *ev = RESERVE(PROC_EV_PTRACE, ptrace);

	if (!ev)
		return;
	fill_hdr(ev, PROC_EV_PTRACE, PROC_EV_SIZE(ptrace), current_task());
	ev->ptrace.request = pd->arg[0];
	ev->ptrace.target_pid = pd->arg[0] == PTRACE_TRACEME ? 0 : (__u32)pd->arg[1];
	ev->ptrace.ret = ret;
	bpf_ringbuf_submit(ev, wake_flags());
}

static __always_inline void emit_mount(const struct pending *pd, long ret)
{
	__u32 type = pd->call == PROC_CALL_UMOUNT2 ? PROC_EV_UMOUNT : PROC_EV_MOUNT;
	struct proc_ev *ev = RESERVE(type, mount);
	__u32 flags = 0;

	if (!ev)
		return;
	fill_hdr(ev, type, PROC_EV_SIZE(mount), current_task());
	ev->mount.call = pd->call;
	ev->mount.ret = ret;
	ev->mount.fstype[0] = '\0';
	switch (pd->call) {
	case PROC_CALL_MOUNT: /* dev_name, dir_name, type, flags, data */
		read_ustr(ev->mount.source, sizeof(ev->mount.source), pd->arg[0], &flags);
		read_ustr(ev->mount.target, sizeof(ev->mount.target), pd->arg[1], &flags);
		read_ustr(ev->mount.fstype, sizeof(ev->mount.fstype), pd->arg[2], &flags);
		ev->mount.flags = pd->arg[3];
		break;
	case PROC_CALL_MOVE_MOUNT: /* from_dfd, from_path, to_dfd, to_path, flags */
		read_ustr(ev->mount.source, sizeof(ev->mount.source), pd->arg[1], &flags);
		read_ustr(ev->mount.target, sizeof(ev->mount.target), pd->arg[3], &flags);
		ev->mount.flags = pd->arg[4];
		break;
	default: /* umount2: name, flags */
		ev->mount.source[0] = '\0';
		read_ustr(ev->mount.target, sizeof(ev->mount.target), pd->arg[0], &flags);
		ev->mount.flags = pd->arg[1];
		break;
	}
	ev->flags |= flags;
	bpf_ringbuf_submit(ev, wake_flags());
}

static __always_inline void emit_module(const struct pending *pd, long ret)
{
	struct proc_ev *ev = RESERVE(PROC_EV_MODULE_LOAD, module);
	struct task_struct *t = current_task();

	if (!ev)
		return;
	fill_hdr(ev, PROC_EV_MODULE_LOAD, PROC_EV_SIZE(module), t);
	ev->module.call = pd->call;
	ev->module.ret = ret;
	ev->module.flags = 0;
	ev->module.pad = 0;
	ev->module.name[0] = '\0';
	if (pd->call == PROC_CALL_FINIT_MODULE) { /* fd, uargs, flags */
		/* the caller's fd is still open at sys_exit: name its file */
		struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
		__u64 fd = pd->arg[0];
		struct file **fds, *f = NULL;

		ev->module.flags = pd->arg[2];
		if (fd < BPF_CORE_READ(fdt, max_fds)) {
			fds = BPF_CORE_READ(fdt, fd);
			bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
		}
		if (f)
			bpf_probe_read_kernel_str(ev->module.name, sizeof(ev->module.name),
						  BPF_CORE_READ(f, f_path.dentry, d_name.name));
	}
	bpf_ringbuf_submit(ev, wake_flags());
}

static __always_inline void emit_setattr(const struct pending *pd, long ret)
{
	struct proc_ev *ev = RESERVE(PROC_EV_SETATTR, setattr);
	__u32 flags = 0;

	if (!ev)
		return;
	fill_hdr(ev, PROC_EV_SETATTR, PROC_EV_SIZE(setattr), current_task());
	ev->setattr.call = pd->call;
	ev->setattr.ret = ret;
	ev->setattr.mode = pd->arg[2];
	ev->setattr.uid = pd->arg[3];
	ev->setattr.gid = pd->arg[4];
	ev->setattr.dirfd_or_fd = (__s32)pd->arg[0];
	ev->setattr.at_flags = pd->aux;
	ev->setattr.pad = 0;
	read_ustr(ev->setattr.path, sizeof(ev->setattr.path), pd->arg[1], &flags);
	ev->flags |= flags;
	bpf_ringbuf_submit(ev, wake_flags());
}

SEC("tp_btf/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long id = syscall_nr(regs);
	struct pending *p, pd;
	__u32 tid;

	if (id < 0)
		return 0;
	if (id == nr_setuid)
		return emit_setid(PROC_EV_SETUID, PROC_SETID_SETUID, ret);
	if (id == nr_setreuid)
		return emit_setid(PROC_EV_SETUID, PROC_SETID_SETREUID, ret);
	if (id == nr_setresuid)
		return emit_setid(PROC_EV_SETUID, PROC_SETID_SETRESUID, ret);
	if (id == nr_setgid)
		return emit_setid(PROC_EV_SETGID, PROC_SETID_SETGID, ret);
	if (id == nr_setregid)
		return emit_setid(PROC_EV_SETGID, PROC_SETID_SETREGID, ret);
	if (id == nr_setresgid)
		return emit_setid(PROC_EV_SETGID, PROC_SETID_SETRESGID, ret);
	if (id != nr_ptrace && id != nr_mount && id != nr_move_mount && id != nr_umount2 &&
	    id != nr_init_module && id != nr_finit_module && !setattr_nr(id))
		return 0;

	tid = (__u32)bpf_get_current_pid_tgid();
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	pd = *p;
	bpf_map_delete_elem(&pending, &tid);
	if (!report(ret))
		return 0;
	if (pd.call == PROC_CALL_PTRACE)
		emit_ptrace(&pd, ret);
	else if (pd.call == PROC_CALL_INIT_MODULE || pd.call == PROC_CALL_FINIT_MODULE)
		emit_module(&pd, ret);
	else if (pd.call == PROC_CALL_CHMOD || pd.call == PROC_CALL_CHOWN)
		emit_setattr(&pd, ret);
	else
		emit_mount(&pd, ret);
	return 0;
}
