/* fan.h owns uextd's two fanotify groups (permission and notify), every permission
 * event fd from its read until its verdict, and the kernel-side allow cache (ignore
 * marks). Policy, clients and deadlines live in the es engine above it.
 * Not thread-safe: one thread (the es engine loop) owns a struct fan. Design note:
 * docs/fanotify.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * Masks are the kernel's FAN_* bits from <sys/fanotify.h>, passed through unchanged.
 *
 * Permission events: FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM, FAN_ACCESS_PERM, plus FAN_ONDIR
 * to gate directory opens. An exec of a file marked for both OPEN_PERM and
 * OPEN_EXEC_PERM produces two events (OPEN_PERM first); each needs its own verdict.
 *
 * Notify events: FAN_CREATE, FAN_DELETE, FAN_MOVED_FROM, FAN_MOVED_TO, FAN_RENAME,
 * FAN_MODIFY, FAN_ATTRIB, FAN_CLOSE_WRITE, FAN_CLOSE_NOWRITE, FAN_OPEN, FAN_OPEN_EXEC,
 * FAN_ACCESS, FAN_ONDIR. *_SELF events are not offered: they carry no directory.
 */
#define FAN_PERM_EVENTS (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM | FAN_ACCESS_PERM)
#define FAN_NOTIFY_EVENTS                                                                  \
	(FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_RENAME | FAN_MODIFY | \
	 FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE | FAN_OPEN | FAN_OPEN_EXEC |       \
	 FAN_ACCESS)

/* Batch size of one read(2) on either group. */
#define FAN_READ_BUF (64 * 1024)
/* Distinct filesystems one struct fan can mark. */
#define FAN_MAX_FS 64
/* Default cap on permission events read but not yet answered. */
#define FAN_DEFAULT_MAX_PENDING 1024

struct fan_config {
	bool perm;            /* create the permission group (FAN_CLASS_CONTENT) */
	bool notify;          /* create the notify group (FAN_REPORT_DFID_NAME | FAN_REPORT_FID) */
	bool perm_mount;      /* permission marks cover the mount only (FAN_MARK_MOUNT); default
			       * is the whole filesystem (FAN_MARK_FILESYSTEM) where the kernel
			       * has it, so bind mounts and other mounts of it are covered too */
	bool report_tid;      /* event pid is the thread id (FAN_REPORT_TID), not the tgid */
	uint32_t max_pending; /* permission events held unanswered; 0 = FAN_DEFAULT_MAX_PENDING.
			       * Each holds one fd: keep it well below RLIMIT_NOFILE, or the
			       * kernel fails the read and DENIES the event itself. */
};

/* What the running kernel offers, for `uextctl status`. Each field is 0 or 1. */
struct fan_support {
	int perm;             /* permission events (CAP_SYS_ADMIN + CONFIG_FANOTIFY_ACCESS_PERMISSIONS) */
	int open_exec_perm;   /* FAN_OPEN_EXEC_PERM (5.0) */
	int access_perm;      /* FAN_ACCESS_PERM */
	int mark_filesystem;  /* FAN_MARK_FILESYSTEM (4.20) */
	int fid;              /* FAN_REPORT_FID + FAN_REPORT_DFID_NAME (5.9) */
	int rename;           /* FAN_RENAME (5.17) */
	int evictable;        /* FAN_MARK_EVICTABLE for cache marks (5.19) */
	int perm_errno;       /* why perm is 0: EPERM (not root), EINVAL (kernel), ... */
};

/* Counters since fan_new. Plain numbers; read with fan_stats. */
struct fan_stats {
	uint64_t perm_events;      /* permission events read */
	uint64_t notify_events;    /* notify events read (a merged event counts once) */
	uint64_t perm_overflows;   /* FAN_Q_OVERFLOW on the permission group: the kernel
				    * ALLOWED accesses without asking (see docs/fanotify.md) */
	uint64_t notify_overflows; /* FAN_Q_OVERFLOW on the notify group: events were lost */
	uint64_t allowed;          /* FAN_ALLOW written */
	uint64_t denied;           /* FAN_DENY written */
	uint64_t responses_gone;   /* the kernel no longer waited (task killed): ENOENT */
	uint64_t cache_marks;      /* ignore marks added by fan_allow_cached */
	uint64_t cache_stale;      /* not cached: file changed since its event */
	uint64_t cache_errors;     /* ignore mark failed (ENOSPC: max_user_marks, ...) */
	uint64_t cache_clears;     /* fan_cache_clear calls that reached the kernel */
	uint64_t resolve_failures; /* paths that could not be resolved (deleted, too long) */
	uint64_t pending_full;     /* fan_read_perm refused: max_pending events unanswered */
	uint32_t pending;          /* permission events unanswered right now */
	uint32_t pending_max;      /* high-water mark of pending */
};

struct fan;

/* One permission event. Pointers are valid during the callback only. */
struct fan_perm_event {
	int fd;               /* the event fd (O_RDONLY, owned by fan until fan_respond);
			       * -1 with mask FAN_Q_OVERFLOW: the queue overflowed */
	pid_t pid;            /* tgid, or tid with report_tid */
	uint64_t mask;        /* one of FAN_PERM_EVENTS, maybe with FAN_ONDIR */
	const char *path;     /* readlink of /proc/self/fd/<fd> in uextd's mount namespace;
			       * ends in " (deleted)" when st.st_nlink == 0; NULL when it
			       * could not be read (counted in resolve_failures) */
	struct stat st;       /* fstat of fd; st_mode == 0 when fstat failed */
};

/* One notify event. Pointers are valid during the callback only.
 * Names come from the kernel; paths are resolved when the event is read, so they name
 * where the directory is now, not where it was (fanotify gives no older truth). */
struct fan_notify_event {
	uint64_t mask;        /* as the kernel gave it: FAN_NOTIFY_EVENTS bits (several when
			       * it merged events, docs/fanotify.md) and FAN_ONDIR; or
			       * FAN_Q_OVERFLOW alone (events were lost; all else NULL) */
	pid_t pid;
	bool is_dir;          /* the object is a directory (FAN_ONDIR) */
	const char *dir;      /* absolute path of the directory; NULL if unresolved */
	const char *name;     /* entry name in dir; "." for an event on dir itself; NULL
			       * when neither the kernel nor the object's handle gave one
			       * (see docs/fanotify.md: events on the inode itself) */
	const char *path;     /* dir joined with name (dir itself for "."); NULL if dir is */
	int dirfd;            /* an O_PATH fd of dir, valid during the callback only, or -1:
			       * fstatat(dirfd, name) finds the entry without walking path */
	/* FAN_RENAME only (NULL otherwise): where the entry went. */
	const char *new_dir;
	const char *new_name;
	const char *new_path;
};

/* Callbacks run inside fan_read_*; they may call fan_respond, fan_allow_cached and
 * fan_stats but never fan_read_* or fan_free. */
typedef void (*fan_perm_cb)(struct fan *f, const struct fan_perm_event *ev, void *data);
typedef void (*fan_notify_cb)(struct fan *f, const struct fan_notify_event *ev, void *data);

/* Fill ret with what this kernel supports, without placing any mark. Never fails. */
void fan_probe(struct fan_support *ret);

/* Create the groups cfg asks for (at least one), both non-blocking and close-on-exec,
 * with the kernel's bounded queue (never FAN_UNLIMITED_QUEUE). Returns 0, -EINVAL,
 * -EPERM (no CAP_SYS_ADMIN), -ENOMEM, -EOPNOTSUPP (kernel lacks a requested group) or
 * another -errno from fanotify_init. A child forked without exec inherits the group
 * fds and keeps the groups (and every event blocked on them) alive: close them there. */
int fan_new(const struct fan_config *cfg, struct fan **ret);

/* Answer every pending permission event with ALLOW, close both groups (which makes the
 * kernel allow whatever was still queued), close the per-filesystem fds, free. Accepts
 * NULL. Returns NULL. */
struct fan *fan_free(struct fan *f);

/* Mark the filesystem holding path (a directory) for perm_mask on the permission group
 * and notify_mask on the notify group; either mask may be 0, not both. Permission marks
 * are filesystem marks (mount marks with cfg.perm_mount or on kernels without
 * FAN_MARK_FILESYSTEM); notify marks are always filesystem marks (the kernel refuses
 * directory-entry events on mount marks). The first mark of a filesystem opens and
 * keeps a directory fd on it (the anchor open_by_handle_at needs), which keeps that
 * mount busy until fan_free. Marks add up; marking again ORs the masks.
 * Returns 0, -EINVAL (bad mask, or a mask for a group not created), -ENOSPC (more than
 * FAN_MAX_FS filesystems), or -errno from the kernel (-ENODEV/-EOPNOTSUPP/-EXDEV: the
 * filesystem cannot report file handles). */
int fan_mark(struct fan *f, const char *path, uint64_t perm_mask, uint64_t notify_mask);

/* Group fds for the caller's epoll (readable = events queued); -1 if not created. */
int fan_perm_fd(const struct fan *f);
int fan_notify_fd(const struct fan *f);

/* Read one batch (one read(2) of up to FAN_READ_BUF, never more events than free
 * pending slots) and call cb once per event. Every event read becomes pending before
 * cb runs; cb answers it inline with fan_respond or keeps ev->fd to answer later.
 * Returns the number of events delivered (0: nothing queued), -ENOBUFS when max_pending
 * events are unanswered (nothing read: answer some first), or -errno from read(2).
 * No allocation. */
int fan_read_perm(struct fan *f, fan_perm_cb cb, void *data);

/* Write the verdict for a pending event and close its fd. Returns 0 (also when the
 * kernel had stopped waiting because the task died: counted in responses_gone),
 * -EBADF if event_fd is not a pending event of f (never answered twice, never closes
 * a foreign fd), or -errno from write(2): the event stays pending (the kernel still
 * waits for it), for a later fan_respond or fan_respond_all_pending. */
int fan_respond(struct fan *f, int event_fd, bool allow);

/* Answer every pending event with the same verdict (shutdown, supervisor fallback).
 * Returns how many were answered. */
int fan_respond_all_pending(struct fan *f, bool allow);

/* fan_respond(ALLOW), then the kernel-side allow cache: an ignore mark for mask (a subset
 * of the permission marks' events) on the inode behind the pending event_fd, so later
 * accesses of that file raise no event. The verdict goes first, so the opener never waits
 * for the mark. The mark has no FAN_MARK_IGNORED_SURV_MODIFY: the kernel drops it on the
 * first modification of the file (write, truncate); one that came between the read of the
 * event and the mark is caught by a re-stat. It is evictable under memory pressure where
 * the kernel has FAN_MARK_EVICTABLE. Modifications through a shared writable mmap or on a
 * remote server raise no FAN_MODIFY and do not drop it: do not cache such files.
 * Returns what fan_respond returns. *cache_rc: 0 (cached), -EINVAL (bad mask, or not a
 * regular file), -ESTALE (the file changed since its event was read: size, mtime or ctime
 * differ), -errno from the kernel (-ENOSPC: fs.fanotify.max_user_marks), or the verdict's
 * own error; nothing is cached unless it is 0. */
int fan_allow_cached(struct fan *f, int event_fd, uint64_t mask, int *cache_rc);

/* Drop every cache mark at once. Permission marks are filesystem or mount marks and
 * cache marks are inode marks, so one FAN_MARK_FLUSH of the inode class removes
 * exactly the cache and nothing is re-applied. Returns 0, or -errno. */
int fan_cache_clear(struct fan *f);

/* Read one batch from the notify group and call cb once per event (merged events
 * once). Returns the number of events delivered (0: none), or -errno from read(2).
 * No allocation. */
int fan_read_notify(struct fan *f, fan_notify_cb cb, void *data);

/* Copy the counters. */
void fan_stats(const struct fan *f, struct fan_stats *ret);
