/* procsrc.h owns the contract of the es engine's process-event sources: one interface,
 * two implementations. "ebpf" (proc_bpf.c + bpf/proc.bpf.c) is BTF raw tracepoints
 * writing into a ring buffer; "proc-connector" (proc_cn.c) is the netlink proc connector,
 * the fallback, which also holds the shared front (procsrc_new and the dispatch). A source
 * turns one kernel handle into checked struct proc_ev records; policy, muting and fan-out
 * live in the engine. Nothing here logs; every drop is counted (procsrc_stats). A source
 * belongs to one thread. Design note: docs/proc-events.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/proc_event.h"

enum procsrc_kind {
	PROCSRC_AUTO = 0, /* ebpf, else the proc connector; `why` says why not ebpf */
	PROCSRC_BPF,
	PROCSRC_CN,
};

/* procsrc_opts.flags */
#define PROCSRC_F_FAILED (1u << 0)      /* ebpf: also failed set*id/ptrace/mount/module/
					 * chmod/chown calls (exec_args: always, see proc_event.h) */
#define PROCSRC_F_ALL_SIGNALS (1u << 1) /* ebpf: also kernel-generated signals (SIGCHLD, SIGSEGV...) */
#define PROCSRC_F_THREADS (1u << 2)     /* also thread creation and thread exit (PROC_EF_THREAD) */

/* What each source can report at most; procsrc_events() says what this one does. The
 * proc connector has no message for signals, mounts, modules, chmod/chown (SETATTR) or
 * execve entry (EXEC_ARGS); only it reports comm changes. */
#define PROCSRC_BPF_EVENTS (PROC_EV_ALL & ~PROC_EV_BIT(PROC_EV_COMM))
#define PROCSRC_CN_EVENTS                                                                \
	(PROC_EV_BIT(PROC_EV_EXEC) | PROC_EV_BIT(PROC_EV_FORK) | PROC_EV_BIT(PROC_EV_EXIT) | \
	 PROC_EV_BIT(PROC_EV_SETUID) | PROC_EV_BIT(PROC_EV_SETGID) |                        \
	 PROC_EV_BIT(PROC_EV_PTRACE) | PROC_EV_BIT(PROC_EV_COMM))

#define PROCSRC_BUFFER_DEFAULT (4u << 20)
#define PROCSRC_BUFFER_MIN 4096u
#define PROCSRC_BUFFER_MAX (256u << 20)

struct procsrc_opts {
	uint32_t events;       /* PROC_EV_BIT() mask of wanted types; 0 = all the source can see.
				* Unwanted probes are not attached at all. */
	uint32_t flags;        /* PROCSRC_F_* */
	uint32_t buffer_bytes; /* ebpf: ring buffer (rounded up to a power of two); cn: socket
				* receive buffer. 0 = PROCSRC_BUFFER_DEFAULT; clamped to MIN..MAX */
};

/* At most this many events per procsrc_read(); the fd stays readable while more wait. */
#define PROCSRC_BATCH 256

/* Counters since procsrc_new(); never reset. "lost" is what the kernel produced and the
 * caller will never see; the others explain the rest. */
struct procsrc_stats {
	uint64_t events;       /* delivered to the callback */
	uint64_t lost;         /* ebpf: records that found the ring buffer full (sum of
				* lost_by_type); cn: sequence gaps or socket drops, whichever
				* is larger (the type of a lost message is unknown) */
	uint64_t lost_by_type[PROC_EV_MAX]; /* ebpf only */
	uint64_t misses;       /* ebpf: probe runs the kernel skipped (recursion guard) */
	uint64_t overruns;     /* cn: ENOBUFS reported by the socket */
	uint64_t malformed;    /* records that failed the size and type checks */
	uint64_t compat;       /* ebpf: 32-bit compat syscalls not decoded */
	uint64_t proc_gone;    /* cn: exec events whose process was gone before /proc was read */
};

/* One kernel attachment of a source and its outcome. */
struct procsrc_probe {
	const char *name;     /* "tp_btf/sched_process_exec", "netlink/proc_connector" */
	uint32_t events;      /* PROC_EV_BIT() mask it feeds */
	int err;              /* 0 attached, -errno not (reason says why) */
	const char *reason;   /* "" when attached */
};

struct procsrc;

/* Called for each event. ev is valid only during the call (copy what you keep; ev->size
 * bytes are enough). Return 0 to go on, < 0 to stop: procsrc_read() returns that value. */
typedef int (*procsrc_cb)(const struct proc_ev *ev, void *data);

/* Open a source of the wanted kind. opts may be NULL (defaults). On success *ret is the
 * source; with PROCSRC_AUTO falling back to the proc connector, why (if not NULL) says why
 * eBPF was not used, else why is "". On failure returns -errno and why says what failed:
 * -EOPNOTSUPP (not built, or none of the wanted events), -EPERM, -EINVAL, ... Needs
 * CAP_BPF+CAP_PERFMON (or root) for ebpf and CAP_NET_ADMIN for the proc connector. While it
 * runs, libbpf's print callback is redirected (process-wide) to fill why. */
int procsrc_new(enum procsrc_kind want, const struct procsrc_opts *opts, struct procsrc **ret,
		char *why, size_t whylen);

/* Detach everything and close; accepts NULL; returns NULL. */
struct procsrc *procsrc_free(struct procsrc *s);

/* Level-triggered readable fd (ring buffer map fd / netlink socket), owned by the source:
 * for epoll, do not close it. */
int procsrc_fd(const struct procsrc *s);

/* Drain up to PROCSRC_BATCH events without blocking, calling cb for each. Returns the
 * number delivered, the callback's negative value if it stopped, or -errno. */
int procsrc_read(struct procsrc *s, procsrc_cb cb, void *data);

/* Wake-up coalescing (ebpf; a no-op for the proc connector). waiting true: the caller is
 * about to sleep on procsrc_fd() without a timeout, so every record wakes it (the default).
 * false: the caller reads the source by itself at least every few ms while busy, so records
 * wake it only when the ring is half full. After setting true, read once more: a record
 * submitted just before may not have woken anyone. */
void procsrc_set_waiting(struct procsrc *s, bool waiting);

/* "ebpf" or "proc-connector". */
const char *procsrc_name(const struct procsrc *s);
enum procsrc_kind procsrc_kind(const struct procsrc *s);
/* PROC_EV_BIT() mask of the types this source delivers (wanted and attached). */
uint32_t procsrc_events(const struct procsrc *s);
void procsrc_stats(const struct procsrc *s, struct procsrc_stats *ret);
/* The source's attachments, attached or skipped with a reason; array owned by s. */
size_t procsrc_probes(const struct procsrc *s, const struct procsrc_probe **ret);

/* An EXEC or EXEC_ARGS record's environment strings (each NUL-terminated) and their bytes in *len;
 * NULL and 0 for other records. */
const char *proc_ev_env(const struct proc_ev *ev, uint32_t *len);

/* "exec", "fork", ...; "?" for anything else. */
const char *proc_ev_type_name(uint32_t type);
/* The i-th argument of an exec or exec_args event, or NULL past the last one. */
const char *proc_ev_arg(const struct proc_ev *ev, uint32_t i);

/* --- between the front (proc_cn.c) and the implementations ---------------------------- */

struct procsrc_bpf;
int procsrc_bpf_new(const struct procsrc_opts *o, struct procsrc_bpf **ret, char *why,
		    size_t whylen);
struct procsrc_bpf *procsrc_bpf_free(struct procsrc_bpf *b);
int procsrc_bpf_fd(const struct procsrc_bpf *b);
int procsrc_bpf_read(struct procsrc_bpf *b, procsrc_cb cb, void *data);
uint32_t procsrc_bpf_events(const struct procsrc_bpf *b);
void procsrc_bpf_set_waiting(struct procsrc_bpf *b, bool waiting);
void procsrc_bpf_stats(const struct procsrc_bpf *b, struct procsrc_stats *ret);
size_t procsrc_bpf_probes(const struct procsrc_bpf *b, const struct procsrc_probe **ret);

/* Check a record of len bytes against its type (size, lengths) and make it safe to read:
 * strings NUL-terminated, exec and exec_args argv counted and cut to PROC_ARGS_MAX.
 * -EBADMSG if bad. */
int procsrc_ev_check(struct proc_ev *ev, size_t len);
/* Normalize opts (NULL = defaults) into *ret; -EINVAL on unknown flags or types. */
int procsrc_opts_norm(const struct procsrc_opts *o, struct procsrc_opts *ret);
