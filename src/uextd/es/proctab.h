/* proctab.h owns the es engine's process table: one entry per program execution (pid +
 * pidversion), built from /proc or from process events, and the SHA-256 cache of
 * executables. It is what es_process_t and audit_token_t are filled from; policy lives
 * elsewhere. Single-threaded: the engine loop owns a struct proctab. Never logs; every
 * function that can fail returns -errno.
 *
 * Lifetime of returned entries (the one rule callers need):
 *
 *   A `const struct proctab_proc *` returned by any proctab call stays valid, unchanged
 *   except where a function below says "in place", until the next proctab_reap() (or
 *   proctab_free()). Entries dropped from the table in between (LRU-evicted, superseded
 *   by an exec, or by a new process that reused the pid) are *retired*: lookups no longer
 *   find them, but their memory stays until the reap. So an engine can hold a process,
 *   its parent and the pre-exec image of an exec while it builds one message, and call
 *   proctab_reap() once per batch of events. Retired entries are capped
 *   (max(64, max_procs)); when the cap is reached because reap was not called, calls
 *   that would retire one more fail with -ENOBUFS and change nothing.
 *
 * Identity: the kernel's (pid, start time) names a process; pidversion (from one
 * table-wide counter, never 0) is new at every fork and every exec, so (pid, pidversion)
 * names one execution and a reused pid never gets an old serial. Start times compare at
 * clock-tick resolution (/proc/PID/stat has no more).
 *
 * /proc reads go through one open /proc/PID directory fd, which pins the struct pid:
 * if the pid is reused mid-build the reads fail (-ESRCH) instead of mixing two processes.
 * A build still describes the process as it is when read, possibly later than the event
 * being handled (the same race as PROC_EF_RACY). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

#define PROCTAB_ARGS_MAX (64u * 1024)          /* argv bytes kept per entry */
#define PROCTAB_HASH_FILE_MAX (256ull << 20)   /* larger files: -EFBIG */
#define PROCTAB_HASH_CACHE 4096                /* SHA-256 cache entries */
#define PROCTAB_MAX_PROCS_LIMIT (1u << 22)     /* largest max_procs accepted (pid_max) */
#define PROCTAB_COMM_LEN 64
#define PROCTAB_ID_UNSET 4294967295u           /* auid/asid unset; "unknown" in setids */

/* One program execution. Strings are never NULL except tty; "" when unknown. */
struct proctab_proc {
	pid_t pid;              /* tgid, in the pid namespace of /proc (the initial one) */
	uint32_t pidversion;    /* see above; never 0 */
	uint64_t start_ns;      /* CLOCK_BOOTTIME ns of the fork; 0 = unknown */
	struct timeval start_time; /* wall clock of the fork (boot time + start_ns) */
	pid_t ppid;             /* current parent (refreshed by a verified proctab_get) */
	pid_t original_ppid;    /* parent at fork; kept across exec */
	pid_t pgid, sid;
	uint32_t ruid, euid, suid, rgid, egid, sgid;
	uint32_t auid, asid;    /* /proc/PID/loginuid, sessionid; PROCTAB_ID_UNSET when unset */
	uint32_t tty_nr;        /* controlling tty, encoded as in /proc/PID/stat; 0 = none */
	char *tty;              /* "/dev/pts/3", or NULL (none, or no /dev node found) */
	char comm[PROCTAB_COMM_LEN]; /* as /proc/PID/stat shows it (cut) */
	char *exe;              /* readlink /proc/PID/exe; "" for kernel threads and when
				 * unreadable (zombie, permission); " (deleted)" is kept */
	struct stat exe_st;     /* stat of the executable; st_mode 0 if unknown */
	uint8_t exe_sha256[32]; /* valid when exe_hashed (see proctab_hash_exe) */
	bool exe_hashed;
	char *cwd;              /* readlink /proc/PID/cwd; "" when unknown */
	char *args;             /* argv, each NUL-terminated, args_len bytes in all */
	uint32_t args_len;
	uint32_t argc;          /* arguments in args */
	bool args_trunc;        /* argv was cut (PROCTAB_ARGS_MAX, or the event's own cut) */
	bool kthread;
	bool exited;            /* proctab_exit() seen; kept until the next-but-one reap */
};

struct proctab_stats {
	uint64_t lookups;       /* proctab_get calls */
	uint64_t hits;          /* ... answered from the table (verified or not) */
	uint64_t proc_reads;    /* entries built from /proc (get, fork, exec, reuse) */
	uint64_t reused;        /* entries replaced because the pid's start time changed */
	uint64_t evictions;     /* LRU evictions (the table was full) */
	uint64_t hash_computed; /* files read and hashed */
	uint64_t hash_cached;   /* hashes answered from the cache */
	uint32_t live;          /* entries in the table (exited ones included) */
	uint32_t max;           /* max_procs */
	uint32_t retired;       /* retired entries waiting for proctab_reap() */
	uint32_t exited;        /* exited entries still in the table */
};

struct proctab;

/* A table of at most max_procs entries (1..PROCTAB_MAX_PROCS_LIMIT; the least recently
 * used entry is evicted beyond it) and an empty hash cache. -EINVAL, -ENOMEM. The boot
 * time used for start_time is taken here, once. */
int proctab_new(uint32_t max_procs, struct proctab **ret);

/* Free the table, every entry (live and retired) and the cache; accepts NULL; returns
 * NULL. */
struct proctab *proctab_free(struct proctab *t);

/* The entry of pid, built from /proc when the table has none. With verify, a cached
 * entry is checked against /proc/PID/stat: same start time -> ppid, pgid, sid and tty are
 * refreshed in place and it is returned; another start time (the pid was reused) -> a new
 * entry is built and the old one retired; /proc/PID gone -> the cached entry is returned
 * as is (late events of a process that just exited still resolve). A pid naming a thread
 * resolves to its thread group. -ESRCH/-ENOENT when there is no such process and no
 * entry, -EINVAL for pid <= 0, -ENOBUFS (see above), -ENOMEM. */
int proctab_get(struct proctab *t, pid_t pid, bool verify, const struct proctab_proc **ret);

/* Process events, in kernel order. ----------------------------------------------------
 * Each creates the entries it needs from /proc when the table has none. */

/* parent forked child (a new process, not a thread). The child gets a copy of the
 * parent's entry (same image, ids, cwd, argv), ppid = original_ppid = parent, its own
 * start time (child_start_ns; 0 = read /proc/CHILD/stat, or unknown) and a new
 * pidversion. An entry already held for child is retired (the pid was reused). When the
 * parent cannot be found the child is built from /proc. ret may be NULL. */
int proctab_fork(struct proctab *t, pid_t parent, pid_t child, uint64_t child_start_ns,
		 const struct proctab_proc **ret);

/* What a fork record says of a child when neither it nor its parent is left to read (a
 * short chain that exited before the record was handled): pid, ppid, start time, comm and
 * the parent's real and effective ids; exe, cwd and argv unknown ("") until an exec record
 * names them (proctab_exec). An entry already held for child is retired. */
int proctab_fork_gone(struct proctab *t, pid_t parent, pid_t child, uint64_t child_start_ns, const char *comm,
		      uint32_t uid, uint32_t euid, uint32_t gid, uint32_t egid);

/* pid exec'd. A new entry replaces the old one, which is retired: a caller that got the
 * pre-exec entry (proctab_get before this call) keeps using it until proctab_reap().
 * Image, ids, cwd, tty and groups are read from /proc; original_ppid and start time are
 * kept; pidversion is new; argv is args (args_len bytes, cut at PROCTAB_ARGS_MAX and at
 * the last NUL; argc = the image's real argc, 0 = unknown, only used to detect a cut)
 * or, when args is NULL, /proc/PID/cmdline. When /proc/PID is already gone (a short
 * program exited before its exec event was handled), the new entry is the pre-exec one
 * with exe = exe_hint (the path the event gave; relative to the old cwd) and its stat;
 * -ESRCH when there is neither (the old entry stays current). */
int proctab_exec(struct proctab *t, pid_t pid, const char *exe_hint, const char *args, uint32_t args_len,
		 uint32_t argc, const struct proctab_proc **ret);

/* As proctab_exec, but /proc is read only when the entry is next looked up (proctab_get
 * does it, keeping this pidversion and argv): an exec nobody asks about costs no /proc
 * reads. Needs an entry for pid, args and exe_hint; else it is proctab_exec. */
int proctab_exec_lazy(struct proctab *t, pid_t pid, const char *exe_hint, const char *args, uint32_t args_len,
		      uint32_t argc);

enum proctab_idkind {
	PROCTAB_UIDS,
	PROCTAB_GIDS,
};
/* pid's session and controlling tty as the kernel had them at its exec (the process
 * source), in place: a process that exits before /proc is read keeps them. -ESRCH if pid
 * has no entry. */
int proctab_set_session(struct proctab *t, pid_t pid, pid_t sid, uint32_t tty_nr);

/* A set*id call changed pid's uids or gids, in place. Each id given as PROCTAB_ID_UNSET
 * (what the source could not see) is read from /proc/PID/status instead (kept when that
 * fails). pidversion does not change (as on macOS). */
int proctab_setids(struct proctab *t, pid_t pid, enum proctab_idkind kind, uint32_t real,
		   uint32_t eff, uint32_t saved);

/* pid exited: marked exited (in place) and kept, so late events still resolve, until the
 * second proctab_reap() after this call. -ESRCH if the table has no entry (nothing to do). */
int proctab_exit(struct proctab *t, pid_t pid);

/* End of a batch of events: frees retired entries (every pointer returned before this
 * call becomes invalid) and exited entries that have survived one full reap cycle. */
void proctab_reap(struct proctab *t);

/* SHA-256 of the regular file open as fd, whose fstat is st (NULL: fstat here). Cached by
 * (st_dev, st_ino, st_size, st_mtim, st_ctim), so a rewrite whose mtime is put back still
 * misses (ctime moves). Read with pread: fd's offset does not change. -EFBIG above
 * PROCTAB_HASH_FILE_MAX, -EINVAL if not a regular file, -ESTALE if the file changed
 * while it was read (nothing cached), -EIO/-errno from the read. */
int proctab_hash_fd(struct proctab *t, int fd, const struct stat *st, uint8_t out[32]);

/* Fill p->exe_sha256 / exe_hashed (in place) if not done yet. Opens /proc/PID/exe, else
 * p->exe, and hashes it only if it is still the file p->exe_st describes (device, inode,
 * size, mtime, ctime): -ESTALE otherwise, -ENOENT for kernel threads and unknown images,
 * -ESRCH when both are gone. The cache is asked first, by p->exe_st, without opening
 * anything; with may_open false a miss is -EAGAIN (the caller must not open the file:
 * uextd's es engine when it holds an open-permission mark there). p must be an entry
 * this table returned. */
int proctab_hash_exe(struct proctab *t, const struct proctab_proc *p, bool may_open);

void proctab_stats(const struct proctab *t, struct proctab_stats *ret);
