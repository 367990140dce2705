/* proctab.c owns every process-table entry from its build (from /proc or an event) until
 * proctab_reap() frees it, and the SHA-256 cache of executables; what the engine does
 * with them lives elsewhere. Contract and lifetimes: proctab.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/util.h"
#include "uextd/es/proctab.h"

#define NSEC 1000000000ull
#define STAT_BUF 2048           /* /proc/PID/stat: comm is at most 64 bytes */
#define STATUS_BUF (16 * 1024)  /* /proc/PID/status; Uid/Gid come before Groups */
#define PF_KTHREAD_ 0x00200000u /* task flags (stat field 9): kernel thread */
#define RETIRED_MIN 64u
#define HASH_WAYS 4u
#define HASH_SETS (PROCTAB_HASH_CACHE / HASH_WAYS)
#define HASH_CHUNK (64u * 1024)
#define TTY_CACHE 16
#define DEV_SCAN_MAX 4096       /* /dev entries looked at per scan */

struct pt_entry {
	struct proctab_proc p;  /* first: the const pointer handed out is &e->p */
	struct pt_entry *lru_prev, *lru_next;   /* table entries, most recent first */
	struct pt_entry *ex_prev, *ex_next;     /* exited entries in the table */
	struct pt_entry *ret_next;              /* retired, waiting for the reap */
	uint64_t exit_epoch;
	bool in_table;
	bool refresh;           /* exec'd, /proc not read yet (proctab_exec_lazy) */
};

struct pt_hash {
	bool used;
	uint64_t tick;          /* last use, for LRU inside the set */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim, ctim;
	uint8_t sha[32];
};

struct pt_tty {
	uint32_t tty_nr;        /* 0 = empty slot */
	char path[64];          /* "" = no node found */
};

struct proctab {
	uint32_t max, cap;      /* max entries; slots (power of two, >= 2 * max) */
	uint32_t live, max_retired, nretired, nexited;
	struct pt_entry **slots;
	struct pt_entry *lru_head, *lru_tail;
	struct pt_entry *ex_head;
	struct pt_entry *retired;
	uint32_t serial;        /* last pidversion given */
	uint64_t epoch;         /* reaps so far */
	uint64_t tck;           /* clock ticks per second */
	struct timespec boot;   /* CLOCK_REALTIME at boot */
	struct proctab_stats st;
	struct pt_hash *hash;   /* [HASH_SETS][HASH_WAYS] */
	uint64_t hash_tick;
	struct pt_tty tty[TTY_CACHE];
	unsigned tty_next;
	char *buf;              /* scratch, PROCTAB_ARGS_MAX + 1 (>= HASH_CHUNK, STATUS_BUF) */
};

/* What a build reads from /proc/PID/stat. */
struct pt_stat {
	char comm[PROCTAB_COMM_LEN];
	pid_t ppid, pgid, sid;
	uint32_t tty_nr;
	uint32_t flags;
	uint64_t start_ticks;
};

/* --- helpers ------------------------------------------------------------------------ */

static uint32_t pt_next_serial(struct proctab *t)
{
	if (++t->serial == 0)
		t->serial = 1;
	return t->serial;
}

static uint64_t pt_ticks_to_ns(const struct proctab *t, uint64_t ticks)
{
	return ticks / t->tck * NSEC + ticks % t->tck * NSEC / t->tck;
}

/* As the kernel's nsec_to_clock_t: /proc shows start times truncated to a tick. */
static uint64_t pt_ns_to_ticks(const struct proctab *t, uint64_t ns)
{
	return ns / NSEC * t->tck + ns % NSEC * t->tck / NSEC;
}

static void pt_set_start(const struct proctab *t, struct proctab_proc *p, uint64_t ns)
{
	struct timespec ts = t->boot;

	p->start_ns = ns;
	ts.tv_sec += (time_t)(ns / NSEC);
	ts.tv_nsec += (long)(ns % NSEC);
	if (ts.tv_nsec >= (long)NSEC) {
		ts.tv_sec++;
		ts.tv_nsec -= (long)NSEC;
	}
	p->start_time.tv_sec = ts.tv_sec;
	p->start_time.tv_usec = ts.tv_nsec / 1000;
}

/* Read at most cap - 1 bytes of dirfd/name into buf, NUL-terminated. With one_shot, a short
 * read is the end: /proc's single-record files (stat, status, loginuid, sessionid) are
 * generated whole and come in one read that fits them, so the read that would say 0 is
 * saved (one syscall each, four for every process built from /proc). */
static int pt_read_at(int dirfd, const char *name, bool one_shot, char *buf, size_t cap, size_t *ret_len)
{
	size_t len = 0;
	ssize_t n;
	int fd, rc = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (len < cap - 1) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (one_shot && len < cap - 1)
			break;
	}
	close(fd);
	buf[len] = '\0';
	if (rc == 0 && ret_len)
		*ret_len = len;
	return rc;
}

static int pt_open_pid(pid_t pid)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	return fd;
}

/* /proc/PID/stat. comm may hold spaces and ')': the fields start after the LAST ')'. */
static int pt_read_stat(struct proctab *t, int dirfd, struct pt_stat *ret)
{
	char buf[STAT_BUF], *open_paren, *close_paren;
	unsigned long long start;
	unsigned int flags;
	int ppid, pgid, sid, tty, rc;
	size_t len, clen;

	rc = pt_read_at(dirfd, "stat", true, buf, sizeof(buf), &len);
	if (rc < 0)
		return rc;
	open_paren = strchr(buf, '(');
	close_paren = strrchr(buf, ')');
	if (!open_paren || !close_paren || close_paren < open_paren)
		return -EIO;
	/* after ')': state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice num_threads itrealvalue starttime */
	if (sscanf(close_paren + 1,
		   " %*c %d %d %d %d %*d %u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &ppid, &pgid, &sid, &tty, &flags, &start) != 6)
		return -EIO;
	clen = (size_t)(close_paren - open_paren - 1);
	if (clen >= sizeof(ret->comm))
		clen = sizeof(ret->comm) - 1;
	memcpy(ret->comm, open_paren + 1, clen);
	ret->comm[clen] = '\0';
	ret->ppid = ppid;
	ret->pgid = pgid;
	ret->sid = sid;
	ret->tty_nr = (uint32_t)tty;
	ret->flags = flags;
	ret->start_ticks = start;
	return 0;
}

/* "Uid:\tr\te\ts\tfs" and "Gid:" of /proc/PID/status, and Tgid. */
static int pt_read_status(struct proctab *t, int dirfd, pid_t *ret_tgid, uint32_t uids[3],
			  uint32_t gids[3])
{
	char *line, *buf = t->buf;
	unsigned int a, b, c;
	int tgid = -1, found = 0, rc;

	rc = pt_read_at(dirfd, "status", true, buf, STATUS_BUF, NULL);
	if (rc < 0)
		return rc;
	for (line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (!strncmp(line, "Tgid:", 5)) {
			if (sscanf(line + 5, "%d", &tgid) == 1)
				found |= 1;
		} else if (!strncmp(line, "Uid:", 4)) {
			if (sscanf(line + 4, "%u %u %u", &a, &b, &c) == 3) {
				uids[0] = a, uids[1] = b, uids[2] = c;
				found |= 2;
			}
		} else if (!strncmp(line, "Gid:", 4)) {
			if (sscanf(line + 4, "%u %u %u", &a, &b, &c) == 3) {
				gids[0] = a, gids[1] = b, gids[2] = c;
				found |= 4;
			}
		}
	}
	if (found != 7)
		return -EIO;
	if (ret_tgid)
		*ret_tgid = tgid;
	return 0;
}

/* loginuid / sessionid: unset (or no audit in the kernel) -> PROCTAB_ID_UNSET. */
static uint32_t pt_read_id(int dirfd, const char *name)
{
	char buf[32];
	unsigned long v;
	char *end;

	if (pt_read_at(dirfd, name, true, buf, sizeof(buf), NULL) < 0)
		return PROCTAB_ID_UNSET;
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || end == buf || v > UINT32_MAX)
		return PROCTAB_ID_UNSET;
	return (uint32_t)v;
}

/* readlink into a new string; "" when it cannot be read (or is too long). */
static char *pt_readlink_dup(int dirfd, const char *name)
{
	char buf[PATH_MAX];
	ssize_t n;

	n = readlinkat(dirfd, name, buf, sizeof(buf));
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	buf[n] = '\0';
	return strdup(buf);
}

static dev_t pt_tty_dev(uint32_t tty_nr)
{
	return makedev((tty_nr >> 8) & 0xfff, (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00));
}

static bool pt_is_tty_node(const char *path, dev_t dev)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == dev;
}

/* A /dev node for an unusual tty: one bounded scan of /dev (top level), cached by
 * tty_nr, misses included (/dev rarely changes under a running engine). */
static int pt_tty_scan(struct proctab *t, uint32_t tty_nr, char *path, size_t n)
{
	dev_t dev = pt_tty_dev(tty_nr);
	struct pt_tty *c;
	struct dirent *d;
	struct stat st;
	unsigned seen = 0;
	DIR *dir;

	for (unsigned i = 0; i < TTY_CACHE; i++) {
		if (t->tty[i].tty_nr == tty_nr) {
			snprintf(path, n, "%s", t->tty[i].path);
			return path[0] ? 0 : -ENOENT;
		}
	}
	c = &t->tty[t->tty_next++ % TTY_CACHE];
	c->tty_nr = tty_nr;
	c->path[0] = '\0';
	dir = opendir("/dev");
	if (!dir)
		return -ENOENT;
	while ((d = readdir(dir)) && seen++ < DEV_SCAN_MAX) {
		if (d->d_type != DT_CHR && d->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISCHR(st.st_mode) && st.st_rdev == dev && strcmp(d->d_name, "tty") &&
		    strlen(d->d_name) + 6 < sizeof(c->path)) {
			snprintf(c->path, sizeof(c->path), "/dev/%s", d->d_name);
			break;
		}
	}
	closedir(dir);
	snprintf(path, n, "%s", c->path);
	return path[0] ? 0 : -ENOENT;
}

/* The controlling tty's path: an fd 0..2 open on it, else the kernel's naming of the
 * common majors (checked with stat; a pseudo-terminal gone since, with no /proc to read
 * (dirfd < 0), keeps its devpts name), else a /dev scan. NULL when none or not found. */
static char *pt_tty_name(struct proctab *t, int dirfd, uint32_t tty_nr)
{
	dev_t dev = pt_tty_dev(tty_nr);
	unsigned int maj = major(dev), min = minor(dev);
	char name[16], path[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (tty_nr == 0)
		return NULL;
	for (int fd = 0; fd <= 2 && dirfd >= 0; fd++) {
		snprintf(name, sizeof(name), "fd/%d", fd);
		if (fstatat(dirfd, name, &st, 0) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != dev)
			continue;
		n = readlinkat(dirfd, name, path, sizeof(path));
		if (n > 5 && (size_t)n < sizeof(path)) {
			path[n] = '\0';
			if (!strncmp(path, "/dev/", 5))
				return strdup(path);
		}
	}
	path[0] = '\0';
	if (maj >= 136 && maj <= 143)
		snprintf(path, sizeof(path), "/dev/pts/%u", (maj - 136) * 256 + min);
	else if (maj == 4 && min < 64)
		snprintf(path, sizeof(path), "/dev/tty%u", min);
	else if (maj == 4)
		snprintf(path, sizeof(path), "/dev/ttyS%u", min - 64);
	else if (maj == 5 && min == 1)
		snprintf(path, sizeof(path), "/dev/console");
	if (path[0] && pt_is_tty_node(path, dev))
		return strdup(path);
	/* a pseudo-terminal closed since (its process is gone too): devpts names it so */
	if (maj >= 136 && maj <= 143 && dirfd < 0 && access(path, F_OK) < 0 && errno == ENOENT)
		return strdup(path);
	if (pt_tty_scan(t, tty_nr, path, sizeof(path)) == 0)
		return strdup(path);
	return NULL;
}

/* Keep argv: at most PROCTAB_ARGS_MAX bytes, ending at the last NUL. */
static int pt_set_args(struct proctab_proc *p, const char *args, size_t len, uint32_t argc,
		       bool cut)
{
	uint32_t n = 0;
	char *copy;

	if (len > PROCTAB_ARGS_MAX) {
		len = PROCTAB_ARGS_MAX;
		cut = true;
	}
	while (len > 0 && args[len - 1] != '\0') {
		len--;
		cut = true;
	}
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, args, len);
	for (size_t i = 0; i < len; i++)
		n += copy[i] == '\0';
	free(p->args);
	p->args = copy;
	p->args_len = (uint32_t)len;
	p->argc = n;
	p->args_trunc = cut || (argc && argc > n);
	return 0;
}

static int pt_read_cmdline(struct proctab *t, int dirfd, struct proctab_proc *p)
{
	size_t len = 0;
	int rc;

	/* one byte more than the cap tells a cut from a fit */
	rc = pt_read_at(dirfd, "cmdline", false, t->buf, PROCTAB_ARGS_MAX + 2, &len);
	if (rc < 0)
		len = 0;
	return pt_set_args(p, t->buf, len, 0, len > PROCTAB_ARGS_MAX);
}

/* --- entries -------------------------------------------------------------------------- */

static void pt_entry_destroy(struct pt_entry *e)
{
	if (!e)
		return;
	free(e->p.tty);
	free(e->p.exe);
	free(e->p.cwd);
	free(e->p.args);
	free(e);
}

static struct pt_entry *pt_entry_copy(const struct proctab_proc *src)
{
	struct pt_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->p = *src;
	e->p.tty = NULL;
	e->p.exe = strdup(src->exe);
	e->p.cwd = strdup(src->cwd);
	e->p.args = malloc(src->args_len ? src->args_len : 1);
	if (src->tty)
		e->p.tty = strdup(src->tty);
	if (!e->p.exe || !e->p.cwd || !e->p.args || (src->tty && !e->p.tty)) {
		pt_entry_destroy(e);
		return NULL;
	}
	memcpy(e->p.args, src->args, src->args_len);
	e->p.exited = false;
	return e;
}

/* Build the entry of pid from /proc (everything but pidversion and original_ppid; the
 * arguments only with read_args: an exec's caller sets its record's argv instead).
 * *ret_tgid is set when pid is a thread of another group (then no entry is built). */
static int pt_build(struct proctab *t, pid_t pid, bool read_args, struct pt_entry **ret, pid_t *ret_tgid)
{
	struct pt_entry *e = NULL;
	struct pt_stat ps;
	uint32_t uids[3], gids[3];
	pid_t tgid = pid;
	int dirfd, rc;

	dirfd = pt_open_pid(pid);
	if (dirfd < 0)
		return dirfd;
	rc = pt_read_stat(t, dirfd, &ps);
	if (rc < 0)
		goto err;
	rc = pt_read_status(t, dirfd, &tgid, uids, gids);
	if (rc < 0)
		goto err;
	if (tgid != pid) {
		*ret_tgid = tgid;
		rc = -EISDIR; /* internal: "a thread", never returned */
		goto err;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		rc = -ENOMEM;
		goto err;
	}
	e->p.pid = pid;
	pt_set_start(t, &e->p, pt_ticks_to_ns(t, ps.start_ticks));
	e->p.ppid = e->p.original_ppid = ps.ppid;
	e->p.pgid = ps.pgid;
	e->p.sid = ps.sid;
	e->p.ruid = uids[0], e->p.euid = uids[1], e->p.suid = uids[2];
	e->p.rgid = gids[0], e->p.egid = gids[1], e->p.sgid = gids[2];
	e->p.auid = pt_read_id(dirfd, "loginuid");
	e->p.asid = pt_read_id(dirfd, "sessionid");
	e->p.tty_nr = ps.tty_nr;
	memcpy(e->p.comm, ps.comm, sizeof(ps.comm));
	e->p.kthread = (ps.flags & PF_KTHREAD_) != 0;
	if (e->p.kthread) {
		e->p.exe = strdup("");
		e->p.cwd = strdup("");
	} else {
		e->p.exe = pt_readlink_dup(dirfd, "exe");
		e->p.cwd = pt_readlink_dup(dirfd, "cwd");
		if (fstatat(dirfd, "exe", &e->p.exe_st, 0) < 0)
			memset(&e->p.exe_st, 0, sizeof(e->p.exe_st));
	}
	if (!e->p.exe || !e->p.cwd) {
		rc = -ENOMEM;
		goto err;
	}
	if (ps.tty_nr)
		e->p.tty = pt_tty_name(t, dirfd, ps.tty_nr);
	rc = read_args ? pt_read_cmdline(t, dirfd, &e->p) : 0;
	if (rc < 0)
		goto err;
	close(dirfd);
	t->st.proc_reads++;
	*ret = e;
	return 0;
err:
	close(dirfd);
	pt_entry_destroy(e);
	return rc;
}

/* --- the table ------------------------------------------------------------------------ */

static uint32_t pt_slot(const struct proctab *t, pid_t pid)
{
	return ((uint32_t)pid * 0x9e3779b1u) & (t->cap - 1);
}

static struct pt_entry *pt_find(const struct proctab *t, pid_t pid)
{
	for (uint32_t i = pt_slot(t, pid);; i = (i + 1) & (t->cap - 1)) {
		if (!t->slots[i])
			return NULL;
		if (t->slots[i]->p.pid == pid)
			return t->slots[i];
	}
}

static void pt_lru_unlink(struct proctab *t, struct pt_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void pt_lru_push(struct proctab *t, struct pt_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = t->lru_head;
	if (t->lru_head)
		t->lru_head->lru_prev = e;
	t->lru_head = e;
	if (!t->lru_tail)
		t->lru_tail = e;
}

static void pt_touch(struct proctab *t, struct pt_entry *e)
{
	if (t->lru_head != e) {
		pt_lru_unlink(t, e);
		pt_lru_push(t, e);
	}
}

static void pt_exited_unlink(struct proctab *t, struct pt_entry *e)
{
	if (!e->p.exited)
		return;
	if (e->ex_prev)
		e->ex_prev->ex_next = e->ex_next;
	else
		t->ex_head = e->ex_next;
	if (e->ex_next)
		e->ex_next->ex_prev = e->ex_prev;
	e->ex_prev = e->ex_next = NULL;
	t->nexited--;
}

/* Take e out of the open-addressing table (backward-shift deletion), the LRU list and
 * the exited list. */
static void pt_remove(struct proctab *t, struct pt_entry *e)
{
	uint32_t mask = t->cap - 1, i = pt_slot(t, e->p.pid), j, k;

	while (t->slots[i] != e)
		i = (i + 1) & mask;
	t->slots[i] = NULL;
	for (j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		k = pt_slot(t, t->slots[j]->p.pid);
		/* move slots[j] into the hole unless its home lies cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			t->slots[i] = t->slots[j];
			t->slots[j] = NULL;
			i = j;
		}
	}
	pt_lru_unlink(t, e);
	pt_exited_unlink(t, e);
	e->in_table = false;
	t->live--;
}

static void pt_retire(struct proctab *t, struct pt_entry *e)
{
	pt_remove(t, e);
	e->ret_next = t->retired;
	t->retired = e;
	t->nretired++;
}

/* Put e in the table in place of old (NULL: none), evicting the LRU entry when full.
 * All-or-nothing: -ENOBUFS (e freed) when the retired entries this needs exceed the cap. */
static int pt_install(struct proctab *t, struct pt_entry *e, struct pt_entry *old)
{
	uint32_t need, i;

	if (old && !old->in_table)
		old = NULL;
	need = old ? 1 : 0;
	if (t->live - need >= t->max)
		need++;
	if (t->nretired + need > t->max_retired) {
		pt_entry_destroy(e);
		return -ENOBUFS;
	}
	if (old)
		pt_retire(t, old);
	if (t->live >= t->max) {
		pt_retire(t, t->lru_tail);
		t->st.evictions++;
	}
	for (i = pt_slot(t, e->p.pid); t->slots[i]; i = (i + 1) & (t->cap - 1))
		;
	t->slots[i] = e;
	pt_lru_push(t, e);
	e->in_table = true;
	t->live++;
	return 0;
}

/* Build pid from /proc and install it over old; threads resolve to their group. */
static int pt_load(struct proctab *t, pid_t pid, struct pt_entry *old, struct pt_entry **ret)
{
	struct pt_entry *e = NULL;
	pid_t tgid = 0;
	int rc;

	rc = pt_build(t, pid, true, &e, &tgid);
	if (rc == -EISDIR) {
		if (tgid <= 0 || tgid == pid)
			return -ESRCH;
		e = pt_find(t, tgid);
		if (e) {
			pt_touch(t, e);
			*ret = e;
			return 0;
		}
		rc = pt_build(t, tgid, true, &e, &tgid);
		if (rc == -EISDIR)
			rc = -ESRCH;
		old = NULL; /* the group's entry is new; pid's own stale entry, if any, stays */
	}
	if (rc < 0)
		return rc;
	e->p.pidversion = pt_next_serial(t);
	rc = pt_install(t, e, old);
	if (rc < 0)
		return rc;
	*ret = e;
	return 0;
}

/* Verify a cached entry against /proc/PID/stat; see proctab_get(). */
static int pt_verify(struct proctab *t, struct pt_entry *e, struct pt_entry **ret)
{
	struct proctab_proc *p = &e->p;
	struct pt_stat ps;
	int dirfd, rc;

	dirfd = pt_open_pid(p->pid);
	if (dirfd < 0)
		goto cached; /* gone: late events still resolve to the last entry */
	rc = pt_read_stat(t, dirfd, &ps);
	if (rc < 0) {
		close(dirfd);
		goto cached;
	}
	if (p->start_ns && pt_ns_to_ticks(t, p->start_ns) != ps.start_ticks) {
		close(dirfd);
		t->st.reused++;
		return pt_load(t, p->pid, e, ret);
	}
	if (!p->start_ns)
		pt_set_start(t, p, pt_ticks_to_ns(t, ps.start_ticks));
	p->ppid = ps.ppid;
	p->pgid = ps.pgid;
	p->sid = ps.sid;
	if (p->tty_nr != ps.tty_nr) {
		free(p->tty);
		p->tty_nr = ps.tty_nr;
		p->tty = pt_tty_name(t, dirfd, ps.tty_nr);
	}
	close(dirfd);
cached:
	t->st.hits++;
	pt_touch(t, e);
	*ret = e;
	return 0;
}

static int pt_get(struct proctab *t, pid_t pid, bool verify, struct pt_entry **ret)
{
	struct pt_entry *e;

	if (pid <= 0)
		return -EINVAL;
	e = pt_find(t, pid);
	if (e && e->refresh && !e->p.exited) {
		/* the deferred part of a lazy exec: read /proc now, keep what the event said (an
		 * exited process has nothing left to read: it keeps the event's image) */
		const struct proctab_proc *np;
		uint32_t pv = e->p.pidversion;
		char link[32], now[PATH_MAX];
		e->refresh = false;
		/* If the process has exec'd again since, /proc describes a later image than the
		 * events still to come for this one: keep what the exec event said. */
		snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
		ssize_t n = readlink(link, now, sizeof now - 1);
		now[n > 0 ? n : 0] = 0;
		if (n > 0 && strcmp(now, e->p.exe) == 0 &&
		    proctab_exec(t, pid, e->p.exe, e->p.args, e->p.args_len, e->p.argc, &np) == 0) {
			((struct proctab_proc *)np)->pidversion = pv;
			*ret = (struct pt_entry *)(uintptr_t)np;
			t->st.hits++;
			return 0;
		}
	}
	if (e && verify)
		return pt_verify(t, e, ret);
	if (e) {
		t->st.hits++;
		pt_touch(t, e);
		*ret = e;
		return 0;
	}
	return pt_load(t, pid, NULL, ret);
}

/* --- API ------------------------------------------------------------------------------ */

int proctab_new(uint32_t max_procs, struct proctab **ret)
{
	struct timespec real, boot;
	struct proctab *t;
	long tck;
	int64_t ns;

	if (max_procs == 0 || max_procs > PROCTAB_MAX_PROCS_LIMIT)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->max = max_procs;
	t->max_retired = max_procs > RETIRED_MIN ? max_procs : RETIRED_MIN;
	for (t->cap = 16; t->cap < 2 * max_procs; t->cap <<= 1)
		;
	t->slots = calloc(t->cap, sizeof(*t->slots));
	t->hash = calloc(PROCTAB_HASH_CACHE, sizeof(*t->hash));
	t->buf = malloc(PROCTAB_ARGS_MAX + 2);
	if (!t->slots || !t->hash || !t->buf) {
		proctab_free(t);
		return -ENOMEM;
	}
	tck = sysconf(_SC_CLK_TCK);
	t->tck = tck > 0 ? (uint64_t)tck : 100;
	clock_gettime(CLOCK_REALTIME, &real);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	ns = ((int64_t)real.tv_sec - boot.tv_sec) * (int64_t)NSEC + (real.tv_nsec - boot.tv_nsec);
	t->boot.tv_sec = (time_t)(ns / (int64_t)NSEC);
	t->boot.tv_nsec = (long)(ns % (int64_t)NSEC);
	t->st.max = max_procs;
	*ret = t;
	return 0;
}

struct proctab *proctab_free(struct proctab *t)
{
	struct pt_entry *e, *next;

	if (!t)
		return NULL;
	for (e = t->lru_head; e; e = next) {
		next = e->lru_next;
		pt_entry_destroy(e);
	}
	for (e = t->retired; e; e = next) {
		next = e->ret_next;
		pt_entry_destroy(e);
	}
	free(t->slots);
	free(t->hash);
	free(t->buf);
	free(t);
	return NULL;
}

int proctab_get(struct proctab *t, pid_t pid, bool verify, const struct proctab_proc **ret)
{
	struct pt_entry *e;
	int rc;

	t->st.lookups++;
	rc = pt_get(t, pid, verify, &e);
	if (rc < 0)
		return rc;
	*ret = &e->p;
	return 0;
}

int proctab_fork(struct proctab *t, pid_t parent, pid_t child, uint64_t child_start_ns,
		 const struct proctab_proc **ret)
{
	struct pt_entry *par = NULL, *e, *old;
	struct pt_stat ps;
	int dirfd, rc;

	if (parent <= 0 || child <= 0 || parent == child)
		return -EINVAL;
	rc = pt_get(t, parent, false, &par);
	old = pt_find(t, child); /* after: getting the parent may have evicted it */
	if (rc < 0) {
		/* parent unknown and gone: the child is all /proc can tell */
		rc = pt_load(t, child, old, &e);
		if (rc < 0)
			return rc;
		goto out;
	}
	e = pt_entry_copy(&par->p);
	if (!e)
		return -ENOMEM;
	e->p.pid = child;
	e->p.ppid = e->p.original_ppid = parent;
	if (!child_start_ns) {
		dirfd = pt_open_pid(child);
		if (dirfd >= 0) {
			if (pt_read_stat(t, dirfd, &ps) == 0)
				child_start_ns = pt_ticks_to_ns(t, ps.start_ticks);
			close(dirfd);
		}
	}
	pt_set_start(t, &e->p, child_start_ns);
	e->p.pidversion = pt_next_serial(t);
	/* par may be the LRU tail; installing may retire it, which keeps it readable */
	rc = pt_install(t, e, old);
	if (rc < 0)
		return rc;
out:
	if (ret)
		*ret = &e->p;
	return 0;
}

int proctab_fork_gone(struct proctab *t, pid_t parent, pid_t child, uint64_t child_start_ns, const char *comm,
		      uint32_t uid, uint32_t euid, uint32_t gid, uint32_t egid)
{
	struct pt_entry *e;

	if (parent <= 0 || child <= 0 || parent == child)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->p.exe = strdup("");
	e->p.cwd = strdup("");
	e->p.args = malloc(1);
	if (!e->p.exe || !e->p.cwd || !e->p.args) {
		pt_entry_destroy(e);
		return -ENOMEM;
	}
	e->p.pid = child;
	e->p.ppid = e->p.original_ppid = parent;
	e->p.ruid = e->p.suid = uid, e->p.euid = euid;
	e->p.rgid = e->p.sgid = gid, e->p.egid = egid;
	e->p.auid = e->p.asid = PROCTAB_ID_UNSET;
	snprintf(e->p.comm, sizeof(e->p.comm), "%s", comm ? comm : "");
	pt_set_start(t, &e->p, child_start_ns);
	e->p.pidversion = pt_next_serial(t);
	return pt_install(t, e, pt_find(t, child));
}

/* e's image is the path an exec event gave (relative to old's cwd) and its stat now.
 * -ENOMEM, or -EINVAL when it cannot be made absolute. */
static int pt_set_exe_hint(struct pt_entry *e, const struct pt_entry *old, const char *exe_hint)
{
	char *exe = exe_hint[0] == '/' ? strdup(exe_hint) : NULL;
	if (!exe && exe_hint[0] != '/') {
		if (!old)
			return -EINVAL;
		if (asprintf(&exe, "%s/%s", old->p.cwd, exe_hint) < 0)
			exe = NULL;
	}
	if (!exe)
		return -ENOMEM;
	free(e->p.exe);
	e->p.exe = exe;
	if (stat(exe, &e->p.exe_st) < 0)
		memset(&e->p.exe_st, 0, sizeof e->p.exe_st);
	e->p.exe_hashed = false;
	return 0;
}

/* The process exec'd and exited before /proc could be read (short programs do): the new
 * image from what the event said, the rest from the pre-exec entry. */
static struct pt_entry *pt_exec_gone(const struct pt_entry *old, const char *exe_hint)
{
	if (!old || !exe_hint || !*exe_hint)
		return NULL;
	struct pt_entry *e = pt_entry_copy(&old->p);
	if (e && pt_set_exe_hint(e, old, exe_hint) < 0) {
		pt_entry_destroy(e);
		return NULL;
	}
	return e;
}

int proctab_exec(struct proctab *t, pid_t pid, const char *exe_hint, const char *args, uint32_t args_len,
		 uint32_t argc, const struct proctab_proc **ret)
{
	struct pt_entry *old, *e = NULL;
	pid_t tgid = 0;
	int rc;

	if (pid <= 0 || (!args && args_len))
		return -EINVAL;
	rc = pt_build(t, pid, !args, &e, &tgid);
	if (rc == -EISDIR)
		rc = -ESRCH; /* exec events name the thread group */
	if (rc == -ESRCH || rc == -ENOENT) {
		e = pt_exec_gone(pt_find(t, pid), exe_hint);
		rc = e ? 0 : rc;
	}
	if (rc < 0)
		return rc;
	old = pt_find(t, pid);
	if (rc == 0 && !e->p.kthread && !*e->p.exe && exe_hint && *exe_hint) {
		/* a zombie already: /proc/PID is there, its exe and cwd links are not */
		pt_set_exe_hint(e, old, exe_hint); /* best effort: else the exe stays "" */
		char *cwd = old && !*e->p.cwd ? strdup(old->p.cwd) : NULL;
		if (cwd) {
			free(e->p.cwd);
			e->p.cwd = cwd;
		}
	}
	if (rc == 0 && !e->p.kthread && *e->p.exe && exe_hint && exe_hint[0] == '/' && e->p.exe_st.st_ino) {
		/* It may have exec'd again before /proc was read (setpriv, env, sudo exec the
		 * next program at once): this event is about the image its record names. */
		struct stat hs;
		if (stat(exe_hint, &hs) == 0 && (hs.st_ino != e->p.exe_st.st_ino || hs.st_dev != e->p.exe_st.st_dev))
			pt_set_exe_hint(e, old, exe_hint);
	}
	if (old && (!old->p.start_ns ||
		    pt_ns_to_ticks(t, old->p.start_ns) == pt_ns_to_ticks(t, e->p.start_ns))) {
		/* the same process: keep what exec does not change (an event's start time is
		 * finer than /proc's) */
		e->p.original_ppid = old->p.original_ppid;
		if (old->p.start_ns)
			pt_set_start(t, &e->p, old->p.start_ns);
	}
	if (args) {
		rc = pt_set_args(&e->p, args, args_len, argc, false);
		if (rc < 0) {
			pt_entry_destroy(e);
			return rc;
		}
	}
	e->p.pidversion = pt_next_serial(t);
	rc = pt_install(t, e, old);
	if (rc < 0)
		return rc;
	if (ret)
		*ret = &e->p;
	return 0;
}

int proctab_exec_lazy(struct proctab *t, pid_t pid, const char *exe_hint, const char *args, uint32_t args_len,
		      uint32_t argc)
{
	struct pt_entry *old = pid > 0 ? pt_find(t, pid) : NULL;
	if (!old || !args || !exe_hint || !*exe_hint)
		return proctab_exec(t, pid, exe_hint, args, args_len, argc, NULL);
	struct pt_entry *e = pt_exec_gone(old, exe_hint);
	if (!e)
		return -ENOMEM;
	int rc = pt_set_args(&e->p, args, args_len, argc, false);
	if (rc < 0) {
		pt_entry_destroy(e);
		return rc;
	}
	e->refresh = true;
	e->p.pidversion = pt_next_serial(t);
	return pt_install(t, e, old);
}

int proctab_set_session(struct proctab *t, pid_t pid, pid_t sid, uint32_t tty_nr)
{
	struct pt_entry *e = pid > 0 ? pt_find(t, pid) : NULL;

	if (!e)
		return -ESRCH;
	e->p.sid = sid;
	if (e->p.tty_nr != tty_nr || (tty_nr && !e->p.tty)) {
		free(e->p.tty);
		e->p.tty_nr = tty_nr;
		e->p.tty = pt_tty_name(t, -1, tty_nr); /* the kernel's naming, else a /dev scan */
	}
	return 0;
}

int proctab_setids(struct proctab *t, pid_t pid, enum proctab_idkind kind, uint32_t real,
		   uint32_t eff, uint32_t saved)
{
	uint32_t uids[3], gids[3], *now, *ids, in[3] = {real, eff, saved};
	struct pt_entry *e;
	int rc, dirfd;

	if (kind != PROCTAB_UIDS && kind != PROCTAB_GIDS)
		return -EINVAL;
	/* a lazy exec entry stays lazy (its refresh reads every id from /proc anyway) */
	e = pid > 0 ? pt_find(t, pid) : NULL;
	rc = e ? 0 : pt_get(t, pid, false, &e);
	if (rc < 0)
		return rc;
	ids = kind == PROCTAB_UIDS ? &e->p.ruid : &e->p.rgid;
	now = kind == PROCTAB_UIDS ? uids : gids;
	if (!e->refresh && (real == PROCTAB_ID_UNSET || eff == PROCTAB_ID_UNSET || saved == PROCTAB_ID_UNSET)) {
		dirfd = pt_open_pid(pid);
		rc = dirfd < 0 ? dirfd : pt_read_status(t, dirfd, NULL, uids, gids);
		if (dirfd >= 0)
			close(dirfd);
		for (int i = 0; i < 3; i++)
			if (in[i] == PROCTAB_ID_UNSET && rc == 0)
				in[i] = now[i];
	}
	/* ruid, euid, suid (and the gids) are consecutive members */
	for (int i = 0; i < 3; i++)
		if (in[i] != PROCTAB_ID_UNSET)
			ids[i] = in[i];
	return 0;
}

int proctab_exit(struct proctab *t, pid_t pid)
{
	struct pt_entry *e = pid > 0 ? pt_find(t, pid) : NULL;

	if (!e)
		return -ESRCH;
	if (e->p.exited)
		return 0;
	e->p.exited = true;
	e->exit_epoch = t->epoch;
	e->ex_prev = NULL;
	e->ex_next = t->ex_head;
	if (t->ex_head)
		t->ex_head->ex_prev = e;
	t->ex_head = e;
	t->nexited++;
	return 0;
}

void proctab_reap(struct proctab *t)
{
	struct pt_entry *e, *next;

	for (e = t->retired; e; e = next) {
		next = e->ret_next;
		pt_entry_destroy(e);
	}
	t->retired = NULL;
	t->nretired = 0;
	for (e = t->ex_head; e; e = next) {
		next = e->ex_next;
		if (e->exit_epoch < t->epoch) {
			pt_remove(t, e);
			pt_entry_destroy(e);
		}
	}
	t->epoch++;
}

/* --- SHA-256 cache -------------------------------------------------------------------- */

static bool pt_hash_match(const struct pt_hash *h, const struct stat *st)
{
	return h->used && h->dev == st->st_dev && h->ino == st->st_ino && h->size == st->st_size &&
	       h->mtim.tv_sec == st->st_mtim.tv_sec && h->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	       h->ctim.tv_sec == st->st_ctim.tv_sec && h->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

static struct pt_hash *pt_hash_set(struct proctab *t, const struct stat *st)
{
	uint64_t k = (uint64_t)st->st_dev * 0x9e3779b97f4a7c15ull ^ (uint64_t)st->st_ino;

	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return &t->hash[(k % HASH_SETS) * HASH_WAYS];
}

int proctab_hash_fd(struct proctab *t, int fd, const struct stat *st, uint8_t out[32])
{
	crypto_hash_sha256_state s;
	struct pt_hash *set, *victim;
	struct stat own, after;
	uint64_t off = 0, size;
	ssize_t n;

	if (!st) {
		if (fstat(fd, &own) < 0)
			return -errno;
		st = &own;
	}
	if (!S_ISREG(st->st_mode) || st->st_size < 0)
		return -EINVAL;
	size = (uint64_t)st->st_size;
	if (size > PROCTAB_HASH_FILE_MAX)
		return -EFBIG;
	set = pt_hash_set(t, st);
	victim = &set[0];
	for (unsigned i = 0; i < HASH_WAYS; i++) {
		if (pt_hash_match(&set[i], st)) {
			set[i].tick = ++t->hash_tick;
			memcpy(out, set[i].sha, 32);
			t->st.hash_cached++;
			return 0;
		}
		if (!set[i].used || (victim->used && set[i].tick < victim->tick))
			victim = &set[i];
	}
	crypto_hash_sha256_init(&s);
	while (off < size) {
		size_t want = size - off < HASH_CHUNK ? (size_t)(size - off) : HASH_CHUNK;

		n = pread(fd, t->buf, want, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ESTALE; /* shrank under us */
		crypto_hash_sha256_update(&s, (const unsigned char *)t->buf, (unsigned long long)n);
		off += (uint64_t)n;
	}
	/* grown, rewritten or replaced while read: the digest names no version of it */
	if (fstat(fd, &after) < 0)
		return -errno;
	if (!stat_same_file(st, &after))
		return -ESTALE;
	crypto_hash_sha256_final(&s, out);
	t->st.hash_computed++;
	victim->used = true;
	victim->tick = ++t->hash_tick;
	victim->dev = st->st_dev;
	victim->ino = st->st_ino;
	victim->size = st->st_size;
	victim->mtim = st->st_mtim;
	victim->ctim = st->st_ctim;
	memcpy(victim->sha, out, 32);
	return 0;
}

static bool pt_hash_match(const struct pt_hash *h, const struct stat *st);
static struct pt_hash *pt_hash_set(struct proctab *t, const struct stat *st);

int proctab_hash_exe(struct proctab *t, const struct proctab_proc *cp, bool may_open)
{
	/* cp is &e->p of an entry we own (proctab.h: "an entry this table returned") */
	struct proctab_proc *p = (struct proctab_proc *)cp;
	char path[32];
	struct stat st;
	int fd, rc;

	if (p->exe_hashed)
		return 0;
	if (p->kthread || !p->exe[0] || p->exe_st.st_mode == 0)
		return -ENOENT;
	/* the cache first, by the identity we already have: most images are known */
	struct pt_hash *set = pt_hash_set(t, &p->exe_st);
	for (unsigned i = 0; i < HASH_WAYS; i++) {
		if (pt_hash_match(&set[i], &p->exe_st)) {
			set[i].tick = ++t->hash_tick;
			memcpy(p->exe_sha256, set[i].sha, 32);
			t->st.hash_cached++;
			p->exe_hashed = true;
			return 0;
		}
	}
	if (!may_open)
		return -EAGAIN;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0 || !stat_same_file(&st, &p->exe_st)) {
		if (fd >= 0)
			close(fd);
		fd = open(p->exe, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return errno == ENOENT ? -ESRCH : -errno;
		if (fstat(fd, &st) < 0 || !stat_same_file(&st, &p->exe_st)) {
			close(fd);
			return -ESTALE;
		}
	}
	rc = proctab_hash_fd(t, fd, &st, p->exe_sha256);
	close(fd);
	if (rc < 0)
		return rc;
	p->exe_hashed = true;
	return 0;
}

void proctab_stats(const struct proctab *t, struct proctab_stats *ret)
{
	*ret = t->st;
	ret->live = t->live;
	ret->max = t->max;
	ret->retired = t->nretired;
	ret->exited = t->nexited;
}
