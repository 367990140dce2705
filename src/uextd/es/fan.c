/* fan.c owns uextd's two fanotify groups and every permission event fd from its read
 * until its verdict is written; policy, clients and deadlines live elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "uextd/es/fan.h"

/* Older uapi headers lack these; the values are ABI. */
#ifndef FAN_MARK_EVICTABLE
#define FAN_MARK_EVICTABLE 0x00000200
#endif
#ifndef FAN_RENAME
#define FAN_RENAME 0x10000000
#endif
#ifndef FAN_EVENT_INFO_TYPE_OLD_DFID_NAME
#define FAN_EVENT_INFO_TYPE_OLD_DFID_NAME 10
#define FAN_EVENT_INFO_TYPE_NEW_DFID_NAME 12
#endif
#ifndef MAX_HANDLE_SZ
#define MAX_HANDLE_SZ 128
#endif

#define EVENT_F_FLAGS (O_RDONLY | O_LARGEFILE | O_CLOEXEC)
#define MAX_PENDING_CAP 65536
/* fanotify_event_info_fid: header, fsid, then struct file_handle {u32 bytes; int type;
 * unsigned char f_handle[bytes]}, then (for *_NAME records) a NUL-terminated name. */
#define FID_HANDLE_OFF (sizeof(struct fanotify_event_info_header) + sizeof(__kernel_fsid_t))
#define FH_HEAD (sizeof(uint32_t) + sizeof(int))

/* A permission event read and not yet answered, with the file's state when it was read
 * (the cache refuses a file that changed since). */
struct fan_pending {
	int fd;
	mode_t mode;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

/* A marked filesystem: its fsid (how events name it) and an fd on it (the anchor
 * open_by_handle_at needs to turn a directory handle into a path). */
struct fan_fs {
	__kernel_fsid_t fsid;
	dev_t dev;
	int fd;
};

/* The last directory resolved: a burst of events in one directory costs one
 * open_by_handle_at. Its O_PATH fd is kept with the path, so that an entry can be stat'ed
 * without walking the path again. The fd outlives a read; the path does not: the first
 * event of a batch that finds the directory reads its path again through the fd (it may
 * have moved), so a path is never older than the batch it is reported in. */
struct fan_dircache {
	bool valid;
	bool fresh; /* path read during the current batch */
	int fd; /* -1 when none */
	__kernel_fsid_t fsid;
	uint32_t bytes;
	int type;
	unsigned char handle[MAX_HANDLE_SZ];
	char path[PATH_MAX];
};

struct fan {
	int perm_fd;
	int notify_fd;
	unsigned perm_scope; /* FAN_MARK_FILESYSTEM or FAN_MARK_MOUNT */
	struct fan_support sup;
	struct fan_stats st;
	uint32_t max_pending;
	uint32_t npend;
	struct fan_pending *pend; /* [max_pending] */
	size_t nfs;
	struct fan_fs fs[FAN_MAX_FS];
	struct fan_dircache dc;
	int proc_fds; /* /proc/self/fd, so that naming an fd looks up one entry; -1 if none */
	unsigned char *buf; /* FAN_READ_BUF */
	char path[PATH_MAX];
	char dir[PATH_MAX];
	char newdir[PATH_MAX];
	char newpath[PATH_MAX];
};

/* --- probe ------------------------------------------------------------------------ */

/* With dirfd -1 and no path the kernel checks the flags and the mask first and only
 * then fails to find the object (EBADF), so a probe never places a mark. EINVAL means
 * the kernel does not know the flag or event. */
static int probe_mark(int gfd, unsigned flags, uint64_t mask)
{
	if (gfd < 0)
		return 0;
	if (fanotify_mark(gfd, flags, mask, -1, NULL) == 0)
		return 1;
	return errno == EBADF;
}

void fan_probe(struct fan_support *ret)
{
	struct fan_support s = { 0 };
	int c, n, fid;

	c = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, EVENT_F_FLAGS);
	if (c < 0) {
		s.perm_errno = errno;
	} else {
		s.perm = probe_mark(c, FAN_MARK_ADD, FAN_OPEN_PERM);
		if (!s.perm)
			s.perm_errno = EINVAL;
		s.open_exec_perm = s.perm && probe_mark(c, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM);
		s.access_perm = s.perm && probe_mark(c, FAN_MARK_ADD, FAN_ACCESS_PERM);
	}
	n = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, EVENT_F_FLAGS);
	s.mark_filesystem = probe_mark(n, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN);
	s.evictable = probe_mark(n, FAN_MARK_ADD | FAN_MARK_EVICTABLE | FAN_MARK_IGNORED_MASK,
				 FAN_OPEN);
	fid = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME |
				    FAN_REPORT_FID,
			    EVENT_F_FLAGS);
	s.fid = fid >= 0;
	s.rename = probe_mark(fid, FAN_MARK_ADD, FAN_RENAME);
	if (c >= 0)
		close(c);
	if (n >= 0)
		close(n);
	if (fid >= 0)
		close(fid);
	*ret = s;
}

/* --- life ------------------------------------------------------------------------- */

int fan_new(const struct fan_config *cfg, struct fan **ret)
{
	unsigned tid, iflags;
	struct fan *f;
	int r;

	if (!cfg || !ret || (!cfg->perm && !cfg->notify) || cfg->max_pending > MAX_PENDING_CAP)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->perm_fd = -1;
	f->notify_fd = -1;
	f->dc.fd = -1;
	f->proc_fds = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fan_probe(&f->sup);
	f->max_pending = cfg->max_pending ? cfg->max_pending : FAN_DEFAULT_MAX_PENDING;
	f->buf = malloc(FAN_READ_BUF);
	f->pend = calloc(f->max_pending, sizeof(*f->pend));
	if (!f->buf || !f->pend) {
		r = -ENOMEM;
		goto err;
	}
	tid = cfg->report_tid ? FAN_REPORT_TID : 0;
	if (cfg->perm) {
		if (!f->sup.perm) {
			r = -(f->sup.perm_errno ? f->sup.perm_errno : EOPNOTSUPP);
			goto err;
		}
		/* The default queue (fs.fanotify.max_queued_events), never
		 * FAN_UNLIMITED_QUEUE: every queue is bounded, and an overflow is counted. */
		f->perm_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | tid,
					   EVENT_F_FLAGS);
		if (f->perm_fd < 0) {
			r = -errno;
			goto err;
		}
		f->perm_scope = cfg->perm_mount || !f->sup.mark_filesystem ? FAN_MARK_MOUNT :
									     FAN_MARK_FILESYSTEM;
	}
	if (cfg->notify) {
		if (!f->sup.fid) {
			r = -EOPNOTSUPP;
			goto err;
		}
		/* FID reporting cannot share a group with permission events, hence two
		 * groups. No FAN_REPORT_TARGET_FID: we do not expose the child's handle, and
		 * with it a new file's CREATE, MODIFY and CLOSE_WRITE would merge into one
		 * event and lose their order. */
		iflags = FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME |
			 FAN_REPORT_FID | tid;
		f->notify_fd = fanotify_init(iflags, EVENT_F_FLAGS);
		if (f->notify_fd < 0) {
			r = -errno;
			goto err;
		}
	}
	*ret = f;
	return 0;
err:
	fan_free(f);
	return r;
}

/* readlink of fd's /proc entry (not NUL-terminated), through the kept /proc/self/fd:
 * one name to look up instead of four. */
static ssize_t fd_path(const struct fan *f, int fd, char *out, size_t len)
{
	char link[32];

	if (f->proc_fds >= 0) {
		snprintf(link, sizeof(link), "%d", fd);
		return readlinkat(f->proc_fds, link, out, len);
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	return readlink(link, out, len);
}

static void dc_drop(struct fan_dircache *dc)
{
	if (dc->fd >= 0)
		close(dc->fd);
	dc->fd = -1;
	dc->valid = false;
}

struct fan *fan_free(struct fan *f)
{
	if (!f)
		return NULL;
	if (f->perm_fd >= 0) {
		fan_respond_all_pending(f, true);
		/* Whatever a write could not answer is answered ALLOW by the kernel when
		 * the group closes below, as is every event still queued and unread. */
		while (f->npend)
			close(f->pend[--f->npend].fd);
		close(f->perm_fd);
	}
	if (f->notify_fd >= 0)
		close(f->notify_fd);
	dc_drop(&f->dc);
	if (f->proc_fds >= 0)
		close(f->proc_fds);
	for (size_t i = 0; i < f->nfs; i++)
		close(f->fs[i].fd);
	free(f->pend);
	free(f->buf);
	free(f);
	return NULL;
}

int fan_perm_fd(const struct fan *f)
{
	return f ? f->perm_fd : -1;
}

int fan_notify_fd(const struct fan *f)
{
	return f ? f->notify_fd : -1;
}

void fan_stats(const struct fan *f, struct fan_stats *ret)
{
	*ret = f->st;
	ret->pending = f->npend;
}

/* --- marks ------------------------------------------------------------------------ */

static bool fsid_eq(const __kernel_fsid_t *a, const __kernel_fsid_t *b)
{
	return a->val[0] == b->val[0] && a->val[1] == b->val[1];
}

/* Find or register the filesystem of dirfd: 0 known, 1 new, or -errno. Registration
 * opens the anchor fd before this fan marks that filesystem for anything, so the open
 * can never wait for a verdict from ourselves. */
static int fs_register(struct fan *f, int dirfd)
{
	struct statfs sfs;
	struct stat st;
	struct fan_fs *e;
	int fd;

	if (fstat(dirfd, &st) < 0 || fstatfs(dirfd, &sfs) < 0)
		return -errno;
	for (size_t i = 0; i < f->nfs; i++)
		if (f->fs[i].dev == st.st_dev)
			return 0;
	if (f->nfs == FAN_MAX_FS)
		return -ENOSPC;
	/* open_by_handle_at refuses O_PATH anchors: it needs a real open file. */
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = &f->fs[f->nfs++];
	memcpy(&e->fsid, &sfs.f_fsid, sizeof(e->fsid));
	e->dev = st.st_dev;
	e->fd = fd;
	return 1;
}

int fan_mark(struct fan *f, const char *path, uint64_t perm_mask, uint64_t notify_mask)
{
	bool marked = false;
	int dirfd, fresh, r = 0;

	if (!f || !path || (!perm_mask && !notify_mask))
		return -EINVAL;
	if (perm_mask && (f->perm_fd < 0 || (perm_mask & ~(FAN_PERM_EVENTS | FAN_ONDIR)) ||
			  !(perm_mask & FAN_PERM_EVENTS)))
		return -EINVAL;
	if (notify_mask && (f->notify_fd < 0 || (notify_mask & ~(FAN_NOTIFY_EVENTS | FAN_ONDIR)) ||
			    !(notify_mask & FAN_NOTIFY_EVENTS)))
		return -EINVAL;
	/* One lookup of path, by an O_PATH fd (which raises no fanotify event); the marks
	 * then name "." under it, so a rename of path meanwhile cannot split them. */
	dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	fresh = fs_register(f, dirfd);
	if (fresh < 0) {
		r = fresh;
		goto out;
	}
	/* Notify first: if the permission mark then fails, all that is left behind is a
	 * harmless notify mark, never a permission mark without its caller knowing. */
	if (notify_mask &&
	    fanotify_mark(f->notify_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, notify_mask, dirfd,
			  ".") < 0) {
		r = -errno;
		goto out;
	}
	marked = notify_mask != 0;
	if (perm_mask &&
	    fanotify_mark(f->perm_fd, FAN_MARK_ADD | f->perm_scope, perm_mask, dirfd, ".") < 0)
		r = -errno;
out:
	/* An anchor with nothing marked through it would only keep that mount busy; a
	 * notify mark left by a failed permission mark still needs its anchor. */
	if (r < 0 && fresh == 1 && !marked)
		close(f->fs[--f->nfs].fd);
	close(dirfd);
	return r;
}

/* --- permission events ------------------------------------------------------------ */

static struct fan_pending *pend_find(struct fan *f, int fd)
{
	/* Newest first: an inline verdict finds its event at the end. */
	for (uint32_t i = f->npend; i-- > 0;)
		if (f->pend[i].fd == fd)
			return &f->pend[i];
	return NULL;
}

static void pend_drop(struct fan *f, struct fan_pending *p)
{
	*p = f->pend[--f->npend];
}

static bool stat_changed(const struct fan_pending *p, const struct stat *st)
{
	return p->size != st->st_size || p->mtime.tv_sec != st->st_mtim.tv_sec ||
	       p->mtime.tv_nsec != st->st_mtim.tv_nsec || p->ctime.tv_sec != st->st_ctim.tv_sec ||
	       p->ctime.tv_nsec != st->st_ctim.tv_nsec;
}

int fan_read_perm(struct fan *f, fan_perm_cb cb, void *data)
{
	struct fanotify_event_metadata m;
	struct fan_perm_event ev;
	size_t len, off = 0;
	int count = 0;
	ssize_t n;

	if (!f || !cb || f->perm_fd < 0)
		return -EINVAL;
	if (f->npend == f->max_pending) {
		f->st.pending_full++;
		return -ENOBUFS;
	}
	/* Permission events carry no info records, so each is exactly
	 * FAN_EVENT_METADATA_LEN bytes: a read this size can hand us no more fds than
	 * the table has room for. */
	len = (size_t)(f->max_pending - f->npend) * FAN_EVENT_METADATA_LEN;
	if (len > FAN_READ_BUF)
		len = FAN_READ_BUF;
	do
		n = read(f->perm_fd, f->buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;

	while ((size_t)n - off >= FAN_EVENT_METADATA_LEN) {
		memcpy(&m, f->buf + off, sizeof(m));
		if (m.vers != FANOTIFY_METADATA_VERSION || m.event_len < FAN_EVENT_METADATA_LEN ||
		    m.event_len > (size_t)n - off)
			return -EPROTO; /* not the ABI we were built for: nothing to trust */
		off += m.event_len;
		memset(&ev, 0, sizeof(ev));
		ev.pid = m.pid;
		ev.mask = m.mask;
		if (m.mask & FAN_Q_OVERFLOW) {
			/* The kernel dropped events and ALLOWED their accesses. */
			f->st.perm_overflows++;
			ev.fd = -1;
			cb(f, &ev, data);
			count++;
			continue;
		}
		if (m.fd < 0)
			continue; /* cannot happen without FAN_REPORT_FD_ERROR */
		ev.fd = m.fd;
		{
			struct fan_pending *p = &f->pend[f->npend++];

			if (f->npend > f->st.pending_max)
				f->st.pending_max = f->npend;
			p->fd = m.fd;
			if (fstat(m.fd, &ev.st) < 0)
				memset(&ev.st, 0, sizeof(ev.st));
			p->mode = ev.st.st_mode;
			p->size = ev.st.st_size;
			p->mtime = ev.st.st_mtim;
			p->ctime = ev.st.st_ctim;
		}
		{
			ssize_t l = fd_path(f, m.fd, f->path, sizeof(f->path));

			if (l > 0 && (size_t)l < sizeof(f->path)) {
				f->path[l] = '\0';
				ev.path = f->path;
			} else {
				f->st.resolve_failures++;
			}
		}
		f->st.perm_events++;
		count++;
		cb(f, &ev, data);
	}
	return count;
}

/* Write p's verdict. 0, or -errno with p still pending (the kernel still waits). */
static int write_verdict(struct fan *f, const struct fan_pending *p, bool allow)
{
	struct fanotify_response r = { .fd = p->fd, .response = allow ? FAN_ALLOW : FAN_DENY };
	ssize_t w;

	/* One response per write(2): the kernel reads exactly one struct
	 * fanotify_response per call (docs/fanotify.md on batching). */
	do
		w = write(f->perm_fd, &r, sizeof(r));
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != ENOENT)
		return -errno;
	if (w < 0)
		f->st.responses_gone++; /* the task was killed while it waited */
	else if (allow)
		f->st.allowed++;
	else
		f->st.denied++;
	return 0;
}

/* Write the verdict on a pending event_fd; with cache_rc, an allow is then cached for
 * mask and *cache_rc says how that went. */
static int answer(struct fan *f, int event_fd, bool allow, uint64_t mask, int *cache_rc);

int fan_respond(struct fan *f, int event_fd, bool allow)
{
	return answer(f, event_fd, allow, 0, NULL);
}

int fan_respond_all_pending(struct fan *f, bool allow)
{
	int done = 0;

	if (!f)
		return 0;
	for (uint32_t i = f->npend; i-- > 0;)
		if (i < f->npend && fan_respond(f, f->pend[i].fd, allow) == 0)
			done++;
	return done;
}

/* An ignore mark for mask on p's file (see fan_allow_cached). */
static int cache_mark(struct fan *f, const struct fan_pending *p, uint64_t mask)
{
	unsigned flags;
	struct stat st;

	/* A directory's content changes raise no FAN_MODIFY on it, so nothing would
	 * ever drop its mark. */
	if (!mask || (mask & ~FAN_PERM_EVENTS) || !S_ISREG(p->mode))
		return -EINVAL;
	flags = FAN_MARK_ADD | FAN_MARK_IGNORED_MASK;
	if (f->sup.evictable)
		flags |= FAN_MARK_EVICTABLE; /* a cache entry must not pin the inode */
	if (fanotify_mark(f->perm_fd, flags, mask, p->fd, NULL) < 0) {
		f->st.cache_errors++;
		return -errno;
	}
	/* From here a modification drops the mark. One that landed between the read of
	 * the event and the mark (the verdict is already out: the opener itself may have
	 * written) shows in the file's size or times instead. */
	if (fstat(p->fd, &st) < 0 || stat_changed(p, &st)) {
		fanotify_mark(f->perm_fd, FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, mask, p->fd, NULL);
		f->st.cache_stale++;
		return -ESTALE;
	}
	f->st.cache_marks++;
	return 0;
}

static int answer(struct fan *f, int event_fd, bool allow, uint64_t mask, int *cache_rc)
{
	struct fan_pending *p;
	int r;

	if (cache_rc)
		*cache_rc = -EBADF;
	if (!f || f->perm_fd < 0)
		return -EBADF;
	p = pend_find(f, event_fd);
	if (!p)
		return -EBADF;
	/* The verdict first: a cache mark is not the opener's wait. */
	r = write_verdict(f, p, allow);
	if (cache_rc)
		*cache_rc = r < 0 ? r : cache_mark(f, p, mask);
	if (r < 0)
		return r;
	pend_drop(f, p);
	close(event_fd);
	return 0;
}

int fan_allow_cached(struct fan *f, int event_fd, uint64_t mask, int *cache_rc)
{
	return answer(f, event_fd, true, mask, cache_rc);
}

int fan_cache_clear(struct fan *f)
{
	if (!f || f->perm_fd < 0)
		return -EINVAL;
	/* A flush of the inode class only: our permission marks are filesystem or mount
	 * marks and survive it, so nothing has to be re-applied and no access slips
	 * through a window without marks. */
	if (fanotify_mark(f->perm_fd, FAN_MARK_FLUSH, 0, AT_FDCWD, NULL) < 0)
		return -errno;
	f->st.cache_clears++;
	return 0;
}

/* --- notify events ---------------------------------------------------------------- */

/* One directory record of an event: where in the read buffer its handle and name are. */
struct fid_ref {
	bool set;
	__kernel_fsid_t fsid;
	uint32_t bytes;
	int type;
	const unsigned char *handle;
	const char *name; /* NULL: no name in the record (the directory itself) */
};

/* Parse one fid record of rec_len bytes; false if it is malformed. */
static bool fid_parse(const unsigned char *rec, size_t rec_len, bool named, struct fid_ref *ret)
{
	struct fid_ref r = { .set = true };
	size_t hend;

	if (rec_len < FID_HANDLE_OFF + FH_HEAD)
		return false;
	memcpy(&r.fsid, rec + sizeof(struct fanotify_event_info_header), sizeof(r.fsid));
	memcpy(&r.bytes, rec + FID_HANDLE_OFF, sizeof(r.bytes));
	memcpy(&r.type, rec + FID_HANDLE_OFF + sizeof(uint32_t), sizeof(r.type));
	if (r.bytes > MAX_HANDLE_SZ || r.bytes > rec_len - FID_HANDLE_OFF - FH_HEAD)
		return false;
	r.handle = rec + FID_HANDLE_OFF + FH_HEAD;
	hend = FID_HANDLE_OFF + FH_HEAD + r.bytes;
	if (named) {
		if (hend >= rec_len || !memchr(rec + hend, '\0', rec_len - hend))
			return false;
		r.name = (const char *)rec + hend;
	}
	*ret = r;
	return true;
}

static const struct fan_fs *fs_by_fsid(const struct fan *f, const __kernel_fsid_t *fsid)
{
	for (size_t i = 0; i < f->nfs; i++)
		if (fsid_eq(&f->fs[i].fsid, fsid))
			return &f->fs[i];
	return NULL;
}

/* The current absolute path of the object behind fd into out[PATH_MAX]: its length,
 * -ENOENT once it is removed, or -errno / -ENAMETOOLONG. */
static ssize_t live_path(const struct fan *f, int fd, char *out)
{
	struct stat st;
	ssize_t l;

	/* A removed object can still be found while something holds it; its path would
	 * then read "... (deleted)", which a real name could also end in. */
	if (fstat(fd, &st) < 0 || st.st_nlink == 0)
		return -ENOENT;
	l = fd_path(f, fd, out, PATH_MAX);
	if (l <= 0 || l >= PATH_MAX || out[0] != '/')
		return l < 0 ? -errno : -ENAMETOOLONG;
	out[l] = '\0';
	return l;
}

/* Turn a handle into the current absolute path of its object in out[PATH_MAX]. */
static int handle_path(struct fan *f, const struct fid_ref *id, char *out)
{
	_Alignas(struct file_handle) unsigned char hbuf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
	struct file_handle *fh = (struct file_handle *)hbuf;
	struct fan_dircache *dc = &f->dc;
	const struct fan_fs *fs;
	ssize_t l;
	int fd;

	if (dc->valid && fsid_eq(&dc->fsid, &id->fsid) && dc->bytes == id->bytes &&
	    dc->type == id->type && !memcmp(dc->handle, id->handle, id->bytes)) {
		if (dc->fresh) {
			memcpy(out, dc->path, strlen(dc->path) + 1);
			return 0;
		}
		/* first use in this batch: where is it now? */
		l = live_path(f, dc->fd, out);
		if (l > 0) {
			memcpy(dc->path, out, (size_t)l + 1);
			dc->fresh = true;
			return 0;
		}
		dc_drop(dc); /* resolve it anew */
	}
	fs = fs_by_fsid(f, &id->fsid);
	if (!fs)
		return -ENODEV;
	fh->handle_bytes = id->bytes;
	fh->handle_type = id->type;
	memcpy(fh->f_handle, id->handle, id->bytes);
	/* O_PATH: resolving raises no open/close event of our own and needs no verdict. */
	fd = open_by_handle_at(fs->fd, fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	l = live_path(f, fd, out);
	if (l < 0) {
		close(fd);
		return (int)l;
	}
	dc_drop(dc);
	dc->valid = true;
	dc->fresh = true;
	dc->fd = fd;
	dc->fsid = id->fsid;
	dc->bytes = id->bytes;
	dc->type = id->type;
	memcpy(dc->handle, id->handle, id->bytes);
	memcpy(dc->path, out, (size_t)l + 1);
	return 0;
}

static int path_join(char *out, const char *dir, const char *name)
{
	int l;

	if (!strcmp(name, "."))
		l = snprintf(out, PATH_MAX, "%s", dir);
	else
		l = snprintf(out, PATH_MAX, "%s%s%s", dir, dir[1] ? "/" : "", name);
	return l < 0 || l >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Resolve id into dir_out and path_out; false (and counted) if it cannot be. */
static bool ref_resolve(struct fan *f, const struct fid_ref *id, char *dir_out, char *path_out)
{
	if (handle_path(f, id, dir_out) == 0 && path_join(path_out, dir_out, id->name) == 0)
		return true;
	f->st.resolve_failures++;
	return false;
}

static void notify_parse(struct fan *f, const unsigned char *ev_buf, size_t ev_len,
			 size_t meta_len, struct fan_notify_event *ev)
{
	struct fid_ref dir = { 0 }, dst = { 0 }, obj = { 0 };
	size_t off = meta_len;

	while (ev_len - off >= sizeof(struct fanotify_event_info_header)) {
		struct fanotify_event_info_header h;
		const unsigned char *rec = ev_buf + off;

		memcpy(&h, rec, sizeof(h));
		if (h.len < sizeof(h) || h.len > ev_len - off)
			break;
		off += h.len;
		switch (h.info_type) {
		case FAN_EVENT_INFO_TYPE_DFID_NAME:
		case FAN_EVENT_INFO_TYPE_OLD_DFID_NAME:
			fid_parse(rec, h.len, true, &dir);
			break;
		case FAN_EVENT_INFO_TYPE_DFID:
			fid_parse(rec, h.len, false, &dir);
			break;
		case FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
			fid_parse(rec, h.len, true, &dst);
			break;
		case FAN_EVENT_INFO_TYPE_FID:
			fid_parse(rec, h.len, false, &obj);
			break;
		default:
			break;
		}
	}
	if (!dir.set) {
		/* No directory: an event on the inode itself, such as the FAN_ATTRIB of a
		 * link count change (link, unlink). Name it by one of its links now. */
		char *slash;
		size_t dl;

		if (!obj.set || handle_path(f, &obj, f->path) < 0) {
			f->st.resolve_failures++;
			return;
		}
		slash = strrchr(f->path, '/'); /* there is one: the path is absolute */
		dl = slash == f->path ? 1 : (size_t)(slash - f->path);
		memcpy(f->dir, f->path, dl);
		f->dir[dl] = '\0';
		ev->dir = f->dir;
		ev->name = slash + 1;
		ev->path = f->path;
		return;
	}
	if (!dir.name)
		dir.name = ".";
	ev->name = dir.name;
	if (ref_resolve(f, &dir, f->dir, f->path)) {
		ev->dir = f->dir;
		ev->path = f->path;
		ev->dirfd = f->dc.fd; /* the cache holds dir now */
	}
	if (dst.set) {
		ev->new_name = dst.name;
		ev->dirfd = -1; /* resolving dst may have replaced the cache */
		if (ref_resolve(f, &dst, f->newdir, f->newpath)) {
			ev->new_dir = f->newdir;
			ev->new_path = f->newpath;
		}
	}
}

int fan_read_notify(struct fan *f, fan_notify_cb cb, void *data)
{
	struct fanotify_event_metadata m;
	struct fan_notify_event ev;
	size_t off = 0;
	int count = 0;
	ssize_t n;

	if (!f || !cb || f->notify_fd < 0)
		return -EINVAL;
	do
		n = read(f->notify_fd, f->buf, FAN_READ_BUF);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	f->dc.fresh = false; /* a directory may have moved since the last batch */

	/* Records are 4-byte aligned, metadata has a u64: copy, never cast. */
	while ((size_t)n - off >= FAN_EVENT_METADATA_LEN) {
		memcpy(&m, f->buf + off, sizeof(m));
		if (m.vers != FANOTIFY_METADATA_VERSION || m.event_len < FAN_EVENT_METADATA_LEN ||
		    m.metadata_len < FAN_EVENT_METADATA_LEN || m.metadata_len > m.event_len ||
		    m.event_len > (size_t)n - off)
			return -EPROTO;
		if (m.fd >= 0)
			close(m.fd); /* FID groups report FAN_NOFD; never leak one anyway */
		memset(&ev, 0, sizeof(ev));
		ev.dirfd = -1;
		ev.mask = m.mask;
		ev.pid = m.pid;
		ev.is_dir = !!(m.mask & FAN_ONDIR);
		if (m.mask & FAN_Q_OVERFLOW) {
			f->st.notify_overflows++;
		} else {
			notify_parse(f, f->buf + off, m.event_len, m.metadata_len, &ev);
			f->st.notify_events++;
		}
		off += m.event_len;
		count++;
		cb(f, &ev, data);
	}
	return count;
}
