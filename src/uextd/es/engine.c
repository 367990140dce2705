/* engine.c: see engine.h. One thread owns every kernel handle and every client; the
 * manager reaches it through a mutex-protected supervised set, a command pipe and status
 * snapshots. Design note: docs/es-engine.md. */
#include "uextd/es/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "common/eswire.h"
#include "common/util.h"
#include "uext/es.h"
#include "uextd/es/colo.h"
#include "uextd/es/fan.h"
#include "uextd/es/procsrc.h"
#include "uextd/es/proctab.h"
#include "uextd/es/spin.h"
#include "uextd/snapshot.h"

#define MAX_CLIENTS ES_ENGINE_MAX_CLIENTS
#define NO_AUTH_NICE "raised only while a client subscribes to AUTH"
#define MAX_PENDING 1024
#define DEFAULT_DEADLINE_MS 5000
#define OUTQ_MAX (8u << 20) /* bytes of undelivered NOTIFY messages per client */
#define BATCH_MAX (64u * 1024u)
#define CLEAR_CACHE_MIN_NS 100000000ull /* es_clear_cache throttle: 10 per second */
#define SYNC_EVENT 0xffffffffu
#define N_TYPES ES_EVENT_TYPE_LAST

/* epoll tags */
enum { K_LISTEN = 1, K_PERM, K_NOTIFY, K_PROC, K_TIMER, K_CMD, K_EV, K_REQ, K_LOAD };
#define TAG(kind, idx) (((uint64_t)(kind) << 32) | (uint32_t)(idx))

struct mute_proc {
	pid_t pid;
	uint32_t pidversion;
	uint64_t exited_ns; /* when its exit was seen; dropped 2 s later */
	audit_token_t token;
	uint64_t events[ESW_EV_WORDS];
};

struct mute_path {
	uint32_t type;
	char *path;
	size_t len;
	uint64_t events[ESW_EV_WORDS];
};

struct block {
	struct block *next;
	size_t len;
	uint8_t data[];
};

/* AUTH response times per client: four buckets per power of two of µs (within 12.5%),
 * 0-3 µs exact, the last bucket from 2^26 µs (67 s) on. */
#define RTT_BUCKETS 104

static unsigned rtt_bucket(uint64_t us)
{
	if (us < 4) return (unsigned)us;
	unsigned lg = 63u - (unsigned)__builtin_clzll(us); /* >= 2 */
	unsigned b = 4u * (lg - 1u) + ((unsigned)(us >> (lg - 2u)) & 3u);
	return b < RTT_BUCKETS ? b : RTT_BUCKETS - 1;
}

/* The largest µs value bucket b holds. */
static uint64_t rtt_upper(unsigned b)
{
	if (b < 4) return b;
	unsigned lg = b / 4u + 1u;
	return ((4ull + b % 4u + 1u) << (lg - 2u)) - 1u;
}

struct client {
	bool used, welcomed;
	int evfd, reqfd;
	pid_t pid;
	uid_t uid;
	uint32_t id;
	audit_token_t token;
	uint64_t subs[ESW_EV_WORDS];
	uint64_t seq[N_TYPES];
	uint64_t gseq;
	uint32_t miss_mode;
	bool colocate; /* its handler thread follows the engine's CPU */
	uint32_t deadline_ms[2];
	uint32_t consecutive_misses;
	struct mute_proc *mprocs;
	size_t nmprocs;
	struct mute_path *mpaths;
	size_t nmpaths;
	bool inverted[ES_MUTE_INVERSION_TYPE_LAST];
	/* output: the batch being filled, then sealed blocks waiting for the socket */
	uint8_t *batch;
	size_t batch_len;
	struct block *q_head, *q_tail;
	size_t q_bytes;
	bool want_out;
	/* counters */
	uint64_t delivered, dropped, misses, verdicts, auth_sent;
	/* how long its AUTH verdicts took, from reading the event to the verdict */
	uint32_t rtt[RTT_BUCKETS];
	uint64_t rtt_n, rtt_max;
};

struct pending {
	uint64_t id;      /* 0 = free slot */
	int fd;
	uint32_t type;    /* ES_EVENT_TYPE_AUTH_* */
	uint64_t fan_mask;
	uint64_t deadline;
	uint64_t t0;      /* when uextd read the event */
	uint32_t waiting; /* client slots still to answer */
	uint32_t allowed; /* client slots that answered allow */
	bool deny, cache_all;
	/* AUTH_EXEC: who and what, for the exec's own open (struct exec_open) */
	pid_t pid;
	struct stat st;
};

/* Pending execve argv and environment seen at syscall entry, for AUTH_EXEC (joined by
 * pid): len bytes of argv, then env_len bytes of environment. */
#define EXEC_ARGS_SLOTS 64
struct exec_args {
	pid_t pid;
	uint32_t len, argc, env_len;
	char args[PROC_ARGS_LEN + PROC_ENV_LEN];
};

/* An allowed AUTH_EXEC, by pid, until the exec's own open of the file. execve opens the
 * file once and the kernel asks twice: FAN_OPEN_EXEC_PERM, then (once that is allowed)
 * FAN_OPEN_PERM. macOS raises AUTH_EXEC alone, so a client that allowed the exec is not
 * asked AUTH_OPEN for that open: the first FAN_OPEN_PERM from the pid after the verdict
 * is that open when it is the same unmodified file. The slot goes with that event (the
 * same file or not), with the pid's exec or exit record from the process source, or after
 * EXEC_OPEN_NS; a later open is asked as any other. */
#define EXEC_OPEN_SLOTS 64
#define EXEC_OPEN_NS 100000000ull
struct exec_open {
	pid_t pid;
	uint32_t clients; /* who allowed the exec */
	uint64_t at;
	struct stat st; /* the file as the AUTH_EXEC saw it */
};

/* FAN_ATTRIB joins: chmod/chown calls seen by the process source, by pid. */
#define SETATTR_SLOTS 64
struct setattr_note {
	pid_t pid;
	uint32_t call;
	uint32_t mode, uid, gid;
};

/* FAN_ATTRIB events read before their syscall's record, by pid. */
struct attr_wait {
	pid_t pid;
	char path[PATH_MAX];
};

/* The last file a notify event stat'ed, valid for one fanotify read: a create and the
 * close after it name the same file, and in a busy directory the file is often gone by
 * the time uextd reads the batch (a failed lookup is the slow one). The same for the
 * instigator's tty, which every event of a terminal's process carries. */
struct stat_memo {
	bool valid;
	struct stat st;
	char path[PATH_MAX];
};

struct es_engine {
	struct es_engine_config cfg;
	struct stat_memo memo, tty_memo;
	bool in_notify_read; /* the memos are in use */
	pthread_t thread;
	int ep, lfd, tfd, cmd[2];
	atomic_bool stop;
	struct fan *fan;
	struct fan_support fs;
	uint64_t perm_mask, notify_mask; /* what the marks carry now */
	dev_t open_perm_devs[ES_ENGINE_MAX_WATCH];
	size_t nopen_perm_devs;
	struct procsrc *ps;
	uint32_t ps_events;
	char ps_why[256];
	/* loading an eBPF source takes 0.1 s to seconds: it runs on a worker thread, and the
	 * subscribe requests that wait for it are answered when it is done */
	struct ps_load *loading;
	int load_pipe[2];
	struct deferred {
		uint32_t client, client_id, seq, op;
		uint64_t old_subs[ESW_EV_WORDS];
	} defer[MAX_CLIENTS];
	size_t ndefer;
	struct proctab *pt;
	struct client clients[MAX_CLIENTS];
	uint32_t next_client_id;
	struct pending pend[MAX_PENDING];
	struct spin spin; /* busy polling after the last AUTH answer */
	int base_nice;        /* uextd's own nice; cfg.nice while a client subscribes to AUTH */
	int nice;             /* the engine thread's now */
	const char *nice_why; /* why it is not cfg.nice, or NULL */
	uint32_t npend;
	uint64_t next_gen;
	uint64_t armed; /* deadline the timer is armed for, 0 = disarmed */
	uint64_t last_clear;
	/* supervised processes (manager thread writes, engine reads) */
	pthread_mutex_t lock;
	struct es_engine_proc *sup;
	size_t nsup;
	/* status: the engine publishes a snapshot when asked (and every 250 ms) */
	struct snapshot status;
	/* counters */
	uint64_t own_answered, no_client_allowed, defaults_allow, defaults_deny, kills, cached;
	uint64_t exec_opens; /* FAN_OPEN_PERM of an exec, answered by its AUTH_EXEC */
	uint64_t kernel_lost, hash_skipped, fan_errors;
	uint64_t proc_records; /* read from the process source */
	uint64_t boot_off;     /* CLOCK_BOOTTIME - CLOCK_MONOTONIC (grows only across suspend) */
	/* joins between the process source and fanotify, by pid */
	struct exec_args exec_args[EXEC_ARGS_SLOTS];
	struct exec_open exec_open[EXEC_OPEN_SLOTS];
	struct setattr_note setattr[SETATTR_SLOTS];
	struct attr_wait attr_waits[SETATTR_SLOTS];
	/* message build scratch, and a spare for a message completed inside another's build */
	struct builder *b, *b_spare;
	pid_t self;
	struct colo colo; /* the engine thread's CPU while AUTH clients wait on it */
};

static uint64_t boot_to_mono_offset(void)
{
	struct timespec b, m;
	clock_gettime(CLOCK_BOOTTIME, &b);
	clock_gettime(CLOCK_MONOTONIC, &m);
	int64_t d = ((int64_t)b.tv_sec - m.tv_sec) * 1000000000ll + (b.tv_nsec - m.tv_nsec);
	return d > 0 ? (uint64_t)d : 0;
}

/* ==================================================================================
 * Message builder: one event is built once, then copied to each client's batch with
 * that client's sequence numbers.
 * ================================================================================ */

#define B_PROCS 6
#define B_FILES 16
#define B_POOL (96u * 1024u)
#define B_ARGS 2048

struct builder {
	struct esw_msg h;
	struct esw_proc procs[B_PROCS];
	struct esw_file files[B_FILES];
	uint32_t args[B_ARGS];
	char pool[B_POOL];
	uint32_t pool_len;
	es_statfs_t statfs;
	bool has_statfs;
	bool overflow;
	/* target paths of the event, for target-path muting */
	const char *targets[4];
	uint32_t ntargets;
	const char *exe; /* the instigator's executable path, for path muting */
	pid_t pid;
	uint32_t pidversion;
	uint8_t out[ESW_MAX_DGRAM];
	size_t out_len;
};

static void b_reset(struct builder *b, uint32_t type, uint32_t action)
{
	memset(&b->h, 0, sizeof b->h);
	b->h.event_type = type;
	b->h.action_type = action;
	b->pool_len = 0;
	b->has_statfs = false;
	b->overflow = false;
	b->ntargets = 0;
	b->exe = "";
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	b->h.time_sec = ts.tv_sec;
	b->h.time_nsec = ts.tv_nsec;
	b->h.mach_time = now_mono_ns();
	for (int i = 0; i < 8; i++) b->h.ev[i] = ESW_NONE;
}

static uint32_t b_strn(struct builder *b, const char *s, size_t n)
{
	if (!s) return ESW_NONE;
	if (b->pool_len + n + 1 > B_POOL) {
		b->overflow = true;
		return ESW_NONE;
	}
	uint32_t off = b->pool_len;
	memcpy(b->pool + off, s, n);
	b->pool[off + n] = 0;
	b->pool_len += (uint32_t)n + 1;
	return off;
}

static uint32_t b_str(struct builder *b, const char *s)
{
	return s ? b_strn(b, s, strlen(s)) : ESW_NONE;
}

/* A file record; st may be NULL (zeroed). */
static uint32_t b_file(struct builder *b, const char *path, const struct stat *st)
{
	if (b->h.nfile >= B_FILES) {
		b->overflow = true;
		return 0;
	}
	struct esw_file *f = &b->files[b->h.nfile];
	memset(f, 0, sizeof *f);
	size_t n = path ? strlen(path) : 0;
	if (n >= PATH_MAX) {
		n = PATH_MAX - 1;
		f->truncated = 1;
	}
	f->path = b_strn(b, path ? path : "", n);
	if (f->path == ESW_NONE) f->path = 0;
	f->path_len = (uint32_t)n;
	if (st) f->st = *st;
	return b->h.nfile++;
}

/* A file by path, stat'ed now (lstat: never opens, so never raises a permission event). */
static uint32_t b_file_stat(struct builder *b, const char *path)
{
	struct stat st;
	if (!path || lstat(path, &st) < 0) memset(&st, 0, sizeof st);
	return b_file(b, path, &st);
}

/* The entry a notify event names, stat'ed now: relative to the fd of its directory when
 * the event came with one (one component to look up, not the whole path: a directory
 * busy with creates and unlinks makes every walk of it contend), else by path. */
static bool memo_hit(const struct stat_memo *m, const char *path)
{
	return m->valid && strcmp(m->path, path) == 0;
}

/* m->st (just filled, zeroed on failure) is path's from now on. */
static void memo_keep(struct stat_memo *m, const char *path, bool ok)
{
	size_t len = strlen(path);
	if (!ok) memset(&m->st, 0, sizeof m->st);
	m->valid = len < sizeof m->path;
	if (m->valid) memcpy(m->path, path, len + 1);
}

static uint32_t b_file_ev(struct es_engine *e, const struct fan_notify_event *ev, const char *path)
{
	struct stat_memo *m = &e->memo;
	if (ev->dirfd < 0 || !ev->name) return b_file_stat(e->b, path);
	if (!memo_hit(m, path)) {
		bool self = strcmp(ev->name, ".") == 0;
		memo_keep(m, path,
			  fstatat(ev->dirfd, self ? "" : ev->name, &m->st,
				  AT_SYMLINK_NOFOLLOW | (self ? AT_EMPTY_PATH : 0)) == 0);
	}
	return b_file(e->b, path, &m->st);
}

/* A process's tty, stat'ed now (within a notify read: once for that read). */
static uint32_t b_tty(struct es_engine *e, const char *tty)
{
	struct stat_memo *m = &e->tty_memo;
	if (!e->in_notify_read) return b_file_stat(e->b, tty);
	if (!memo_hit(m, tty)) memo_keep(m, tty, lstat(tty, &m->st) == 0);
	return b_file(e->b, tty, &m->st);
}

static void memo_reset(struct es_engine *e)
{
	e->memo.valid = e->tty_memo.valid = false;
}

/* The directory of a notify event, stat'ed now. */
static uint32_t b_dir_ev(struct builder *b, const struct fan_notify_event *ev)
{
	struct stat st;
	if (ev->dirfd < 0) return b_file_stat(b, ev->dir ? ev->dir : "");
	if (fstatat(ev->dirfd, "", &st, AT_EMPTY_PATH) < 0) memset(&st, 0, sizeof st);
	return b_file(b, ev->dir, &st);
}

static bool is_supervised(struct es_engine *e, pid_t pid, struct es_engine_proc *ret);

/* An entry of the process table, or NULL when the process is unknown and gone. Entries
 * stay valid until proctab_reap(), which the loop calls once per turn. */
static const struct proctab_proc *pget(struct es_engine *e, pid_t pid, bool verify)
{
	const struct proctab_proc *p = NULL;
	return pid > 0 && proctab_get(e->pt, pid, verify, &p) == 0 ? p : NULL;
}

static audit_token_t token_of(const struct proctab_proc *p)
{
	return uext_audit_token_make(p->auid, p->euid, p->egid, p->ruid, p->rgid, p->pid, p->asid, p->pidversion);
}

static bool dev_open_perm(struct es_engine *e, dev_t dev)
{
	for (size_t i = 0; i < e->nopen_perm_devs; i++)
		if (e->open_perm_devs[i] == dev) return true;
	return false;
}

static void b_cdhash(struct es_engine *e, const struct proctab_proc *p, struct esw_proc *r);

/* A process record for pid; a minimal one when the process is gone. */
static uint32_t b_proc(struct es_engine *e, pid_t pid)
{
	struct builder *b = e->b;
	if (b->h.nproc >= B_PROCS) {
		b->overflow = true;
		return 0;
	}
	uint32_t idx = b->h.nproc++;
	struct esw_proc *r = &b->procs[idx];
	memset(r, 0, sizeof *r);
	r->tty = ESW_NONE;
	r->signing_id = r->team_id = ESW_NONE;
	const struct proctab_proc *p = pget(e, pid, false);
	audit_token_t ptok = { { 0 } };
	const struct proctab_proc *pp = p ? pget(e, p->ppid, false) : NULL;
	if (pp) ptok = token_of(pp);
	if (!p) {
		r->token = uext_audit_token_make((uid_t)-1, (uid_t)-1, (gid_t)-1, (uid_t)-1, (gid_t)-1, pid, UINT32_MAX, 0);
		r->executable = b_file(b, "", NULL);
		return idx;
	}
	r->token = token_of(p);
	r->parent_token = ptok;
	r->ppid = p->ppid;
	r->original_ppid = p->original_ppid;
	r->group_id = p->pgid;
	r->session_id = p->sid;
	r->start_sec = p->start_time.tv_sec;
	r->start_usec = p->start_time.tv_usec;
	r->executable = b_file(b, p->exe, &p->exe_st);
	if (p->tty) r->tty = b_tty(e, p->tty);
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (e->clients[i].used && e->clients[i].pid == pid) r->is_es_client = 1;
	struct es_engine_proc sp;
	if (is_supervised(e, pid, &sp)) {
		r->signing_id = b_str(b, sp.ident);
		r->team_id = b_str(b, sp.team);
	}
	b_cdhash(e, p, r);
	return idx;
}

/* The instigator: msg->process, and the executable path used by path muting. */
static void b_instigator(struct es_engine *e, pid_t pid)
{
	struct builder *b = e->b;
	b->h.process = b_proc(e, pid);
	b->exe = b->pool + b->files[b->procs[b->h.process].executable].path;
	b->pid = pid;
	b->pidversion = b->procs[b->h.process].token.val[UEXT_AUDIT_TOKEN_PIDVERSION];
}

static void b_target(struct builder *b, uint32_t file_idx)
{
	if (b->ntargets < 4) b->targets[b->ntargets++] = b->pool + b->files[file_idx].path;
}

static void b_target_proc(struct builder *b, uint32_t proc_idx)
{
	b_target(b, b->procs[proc_idx].executable);
}

/* Lay the message out in b->out. */
static bool b_seal(struct builder *b)
{
	if (b->overflow) return false;
	if (b->pool_len == 0) b_strn(b, "", 0);
	struct esw_msg *h = &b->h;
	size_t off = sizeof *h;
	h->proc_off = (uint32_t)off;
	off += h->nproc * sizeof(struct esw_proc);
	h->file_off = (uint32_t)off;
	off += h->nfile * sizeof(struct esw_file);
	h->args_off = (uint32_t)off;
	off += (h->nargs + h->nenv) * sizeof(uint32_t);
	h->pool_off = (uint32_t)off;
	h->pool_len = b->pool_len;
	off = (off + b->pool_len + 7) & ~(size_t)7;
	h->blob_off = (uint32_t)off;
	h->blob_len = b->has_statfs ? (uint32_t)sizeof b->statfs : 0;
	off += h->blob_len;
	if (off > sizeof b->out) return false;
	h->size = (uint32_t)off;
	memset(b->out, 0, off);
	memcpy(b->out, h, sizeof *h);
	memcpy(b->out + h->proc_off, b->procs, h->nproc * sizeof(struct esw_proc));
	memcpy(b->out + h->file_off, b->files, h->nfile * sizeof(struct esw_file));
	memcpy(b->out + h->args_off, b->args, (h->nargs + h->nenv) * sizeof(uint32_t));
	memcpy(b->out + h->pool_off, b->pool, b->pool_len);
	if (b->has_statfs) memcpy(b->out + h->blob_off, &b->statfs, sizeof b->statfs);
	b->out_len = off;
	return true;
}

/* The NUL-terminated strings in s[0..len), at most maxn, into b->args from index first;
 * how many. */
static uint32_t b_strs(struct builder *b, const char *s, uint32_t len, uint32_t maxn, uint32_t first)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < len && n < maxn && first + n < B_ARGS;) {
		size_t l = strnlen(s + i, len - i);
		uint32_t off = b_strn(b, s + i, l);
		if (off == ESW_NONE) break;
		b->args[first + n++] = off;
		i += (uint32_t)l + 1;
	}
	return n;
}

/* argv from a NUL-separated buffer into the message's arg table. */
static void b_args(struct builder *b, const char *args, uint32_t len, uint32_t maxn)
{
	b->h.nargs = b_strs(b, args, len, maxn, 0);
}

/* The environment strings after argv (b_args first). */
static void b_env(struct builder *b, const char *env, uint32_t len)
{
	b->h.nenv = b_strs(b, env, len, UINT32_MAX, b->h.nargs);
}

/* ==================================================================================
 * Supervised set and hashing
 * ================================================================================ */

static bool is_supervised(struct es_engine *e, pid_t pid, struct es_engine_proc *ret)
{
	bool found = false;
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->nsup; i++)
		if (e->sup[i].pid == pid) {
			if (ret) *ret = e->sup[i];
			found = true;
			break;
		}
	pthread_mutex_unlock(&e->lock);
	return found;
}

/* Processes whose AUTH events are answered at once: uextd, what it supervises, clients. */
static bool is_exempt(struct es_engine *e, pid_t pid)
{
	if (pid == e->self) return true;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		if (e->clients[i].used && e->clients[i].pid == pid) return true;
	return is_supervised(e, pid, NULL);
}

/* cdhash: the first 20 bytes of the executable's SHA-256 (Apple's cdhash is a truncated
 * SHA-256 too). Hashing opens the file; where uextd holds an open-permission mark on its
 * filesystem that open would wait for this very thread, so it is skipped (counted). */
static void b_cdhash(struct es_engine *e, const struct proctab_proc *p, struct esw_proc *r)
{
	if (!p->exe_hashed) {
		if (!p->exe || !*p->exe || p->exe_st.st_mode == 0) return;
		int hr = proctab_hash_exe(e->pt, p, !dev_open_perm(e, p->exe_st.st_dev));
		if (hr == -EAGAIN) e->hash_skipped++;
		if (hr < 0) return;
	}
	r->hashed = 1;
	memcpy(r->sha256, p->exe_sha256, sizeof r->sha256);
}

/* ==================================================================================
 * Clients: output
 * ================================================================================ */

static void client_close(struct es_engine *e, struct client *c);

static void want_out(struct es_engine *e, struct client *c, bool on)
{
	if (c->want_out == on) return;
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.u64 = TAG(K_EV, (uint32_t)(c - e->clients)) };
	epoll_ctl(e->ep, EPOLL_CTL_MOD, c->evfd, &ev);
	c->want_out = on;
}

/* Send sealed blocks until the socket is full. */
static void flush_queue(struct es_engine *e, struct client *c)
{
	while (c->q_head) {
		struct block *bl = c->q_head;
		ssize_t n = send(c->evfd, bl->data, bl->len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) break;
			client_close(e, c);
			return;
		}
		c->q_head = bl->next;
		if (!c->q_head) c->q_tail = NULL;
		c->q_bytes -= bl->len;
		free(bl);
	}
	want_out(e, c, c->q_head != NULL);
}

/* Seal the current batch into the queue and try to send. */
static void flush_batch(struct es_engine *e, struct client *c)
{
	if (c->batch_len) {
		struct block *bl = malloc(sizeof *bl + c->batch_len);
		if (!bl) {
			c->dropped++;
		} else {
			bl->next = NULL;
			bl->len = c->batch_len;
			memcpy(bl->data, c->batch, c->batch_len);
			if (c->q_tail) c->q_tail->next = bl;
			else c->q_head = bl;
			c->q_tail = bl;
			c->q_bytes += bl->len;
		}
		c->batch_len = 0;
	}
	flush_queue(e, c);
}

/* Append the built message to c's batch with c's sequence numbers. Returns false when it
 * was dropped (queue over its bound): the numbers are consumed anyway, so the client sees
 * the gap. */
static bool client_put(struct es_engine *e, struct client *c, bool now)
{
	struct builder *b = e->b;
	uint32_t t = b->h.event_type;
	uint64_t seq = c->seq[t < N_TYPES ? t : 0]++;
	uint64_t gseq = c->gseq++;
	size_t len = (b->out_len + 7) & ~(size_t)7;
	if (c->q_bytes + c->batch_len + len > OUTQ_MAX) {
		c->dropped++;
		return false;
	}
	if (c->batch_len + len > BATCH_MAX) flush_batch(e, c);
	if (!c->used) return false;
	uint8_t *dst = c->batch + c->batch_len;
	memcpy(dst, b->out, b->out_len);
	memset(dst + b->out_len, 0, len - b->out_len);
	struct esw_msg *h = (struct esw_msg *)(void *)dst;
	h->seq_num = seq;
	h->global_seq_num = gseq;
	c->batch_len += len;
	c->delivered++;
	if (now) flush_batch(e, c);
	return c->used;
}

/* ==================================================================================
 * Muting (es.h: process, then path, then target path; OR-combined; inversion per kind)
 * ================================================================================ */

static bool path_match(const struct mute_path *m, const char *path, bool target, uint32_t type)
{
	bool is_target = m->type >= ES_MUTE_PATH_TYPE_TARGET_PREFIX;
	if (is_target != target || !esw_bit(m->events, type)) return false;
	bool prefix = m->type == ES_MUTE_PATH_TYPE_PREFIX || m->type == ES_MUTE_PATH_TYPE_TARGET_PREFIX;
	return prefix ? strncmp(path, m->path, m->len) == 0 : strcmp(path, m->path) == 0;
}

static bool any_path_match(const struct client *c, const char *path, bool target, uint32_t type)
{
	for (size_t i = 0; i < c->nmpaths; i++)
		if (path_match(&c->mpaths[i], path, target, type)) return true;
	return false;
}

static bool muted(const struct client *c, const struct builder *b)
{
	uint32_t t = b->h.event_type;
	bool m = false;
	for (size_t i = 0; i < c->nmprocs && !m; i++)
		m = c->mprocs[i].pid == b->pid && c->mprocs[i].pidversion == b->pidversion &&
		    esw_bit(c->mprocs[i].events, t);
	if (m != c->inverted[ES_MUTE_INVERSION_TYPE_PROCESS]) return true;
	m = any_path_match(c, b->exe, false, t);
	if (m != c->inverted[ES_MUTE_INVERSION_TYPE_PATH]) return true;
	if (b->ntargets == 0) return c->inverted[ES_MUTE_INVERSION_TYPE_TARGET_PATH];
	/* muted when every target is muted; selected (inverted) when any target matches */
	size_t hits = 0;
	for (uint32_t i = 0; i < b->ntargets; i++) hits += any_path_match(c, b->targets[i], true, t);
	if (c->inverted[ES_MUTE_INVERSION_TYPE_TARGET_PATH]) return hits == 0;
	return hits == b->ntargets;
}

/* Deliver the built NOTIFY message to every subscribed client that has not muted it. */
static void deliver_notify(struct es_engine *e)
{
	struct builder *b = e->b;
	if (!b_seal(b)) {
		e->kernel_lost++;
		return;
	}
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &e->clients[i];
		if (c->used && c->welcomed && esw_bit(c->subs, b->h.event_type) && !muted(c, b))
			client_put(e, c, false);
	}
}

/* ==================================================================================
 * AUTH: pending table, verdicts, deadlines
 * ================================================================================ */

/* The deadline timer to CLOCK_MONOTONIC ns `at` (0 disarms). */
static void set_timer(struct es_engine *e, uint64_t at)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)(at / 1000000000ull),
						.tv_nsec = (long)(at % 1000000000ull) } };
	timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	e->armed = at;
}

/* The timer to the earliest pending deadline. */
static void arm_timer(struct es_engine *e)
{
	uint64_t min = 0;
	for (size_t i = 0; i < MAX_PENDING && e->npend; i++)
		if (e->pend[i].id && (!min || e->pend[i].deadline < min)) min = e->pend[i].deadline;
	if (min != e->armed) set_timer(e, min);
}

/* For a FAN_OPEN_PERM: the clients that allowed it as an exec (struct exec_open). */
static uint32_t exec_open_take(struct es_engine *e, const struct fan_perm_event *ev)
{
	struct exec_open *x = &e->exec_open[(uint32_t)ev->pid % EXEC_OPEN_SLOTS];
	if (x->pid != ev->pid) return 0;
	x->pid = 0;
	/* st_ino 0: fstat of the event failed, nothing to compare */
	return now_mono_ns() - x->at < EXEC_OPEN_NS && x->st.st_ino && stat_same_file(&x->st, &ev->st) ? x->clients : 0;
}

static void exec_open_forget(struct es_engine *e, pid_t pid)
{
	struct exec_open *x = &e->exec_open[(uint32_t)pid % EXEC_OPEN_SLOTS];
	if (x->pid == pid) x->pid = 0;
}

static void finish(struct es_engine *e, struct pending *p, bool answered_by_all)
{
	bool allow = !p->deny;
	int r, cache_rc;
	if (allow && p->cache_all && answered_by_all && p->type != SYNC_EVENT) {
		r = fan_allow_cached(e->fan, p->fd, p->fan_mask, &cache_rc);
		if (cache_rc == 0) e->cached++;
	} else {
		r = fan_respond(e->fan, p->fd, allow);
	}
	if (r < 0) e->fan_errors++;
	if (r == 0 && allow && p->type == ES_EVENT_TYPE_AUTH_EXEC && p->allowed)
		e->exec_open[(uint32_t)p->pid % EXEC_OPEN_SLOTS] =
			(struct exec_open){ .pid = p->pid, .clients = p->allowed, .at = now_mono_ns(), .st = p->st };
	memset(p, 0, sizeof *p);
	e->npend--;
	if (!e->npend) spin_idle(&e->spin, now_mono_ns());
}

static struct pending *pending_of(struct es_engine *e, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & 0xffff);
	if (slot >= MAX_PENDING || !e->pend[slot].id || e->pend[slot].id != id) return NULL;
	return &e->pend[slot];
}

/* A client's share of a verdict it did not give: by its miss mode. */
static bool miss_denies(struct es_engine *e, const struct client *c)
{
	if (c->miss_mode == ES_DEADLINE_MISS_MODE_FAIL_OPEN) return false;
	if (c->miss_mode == ES_DEADLINE_MISS_MODE_FAIL_CLOSED) return true;
	return e->cfg.fail_closed;
}

static void client_leaves_pending(struct es_engine *e, struct client *c, bool missed)
{
	uint32_t bit = 1u << (uint32_t)(c - e->clients);
	for (size_t i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &e->pend[i];
		if (!p->id || !(p->waiting & bit)) continue;
		p->waiting &= ~bit;
		p->cache_all = false;
		if (miss_denies(e, c)) p->deny = true;
		if (missed) {
			c->misses++;
			if (miss_denies(e, c)) e->defaults_deny++;
			else e->defaults_allow++;
		}
		if (!p->waiting) finish(e, p, false);
	}
}

static void on_timer(struct es_engine *e)
{
	uint64_t x;
	if (read(e->tfd, &x, sizeof x) < 0) { /* spurious: re-arm below */ }
	e->armed = 0;
	uint64_t now = now_mono_ns();
	uint32_t missed_by[MAX_CLIENTS] = { 0 };
	for (size_t i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &e->pend[i];
		if (!p->id || p->deadline > now) continue;
		for (uint32_t k = 0; k < MAX_CLIENTS; k++) {
			if (!(p->waiting & (1u << k))) continue;
			struct client *c = &e->clients[k];
			missed_by[k]++;
			c->misses++;
			if (miss_denies(e, c)) {
				p->deny = true;
				e->defaults_deny++;
			} else {
				e->defaults_allow++;
			}
		}
		p->waiting = 0;
		finish(e, p, false);
	}
	uint32_t max_misses = e->cfg.max_misses ? e->cfg.max_misses : 3;
	for (uint32_t k = 0; k < MAX_CLIENTS; k++) {
		struct client *c = &e->clients[k];
		if (!missed_by[k] || !c->used) continue;
		c->consecutive_misses += missed_by[k];
		if (c->miss_mode == ES_DEADLINE_MISS_MODE_KILL && c->consecutive_misses >= max_misses &&
		    c->pid > 1 && c->pid != e->self) {
			/* A client that keeps missing is killed (an extension is then restarted by
			 * the manager); its connection goes with it. */
			kill(c->pid, SIGKILL);
			e->kills++;
			client_close(e, c);
		}
	}
	arm_timer(e);
}

static void on_verdict(struct es_engine *e, struct client *c, const struct esw_verdict *v)
{
	struct pending *p = pending_of(e, v->id);
	uint32_t bit = 1u << (uint32_t)(c - e->clients);
	c->verdicts++;
	if (!p || !(p->waiting & bit)) return; /* late (deadline passed) or not ours */
	c->consecutive_misses = 0;
	uint64_t us = (now_mono_ns() - p->t0) / 1000u;
	c->rtt[rtt_bucket(us)]++;
	c->rtt_n++;
	if (us > c->rtt_max) c->rtt_max = us;
	p->waiting &= ~bit;
	if (v->flags != UINT32_MAX) p->deny = true;
	else p->allowed |= bit;
	if (!v->cache) p->cache_all = false;
	if (!p->waiting) finish(e, p, true); /* the timer may fire for nothing: on_timer re-arms */
}

/* ==================================================================================
 * Kernel sources
 * ================================================================================ */

static void ep_add(struct es_engine *e, int fd, uint64_t tag, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev);
}

static uint64_t union_subs(struct es_engine *e, uint64_t *ret)
{
	memset(ret, 0, ESW_EV_WORDS * sizeof *ret);
	uint64_t any = 0;
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		if (!e->clients[i].used) continue;
		for (int w = 0; w < ESW_EV_WORDS; w++) {
			ret[w] |= e->clients[i].subs[w];
			any |= e->clients[i].subs[w];
		}
	}
	return any;
}

/* Which process-event types a subscription set needs (fork/exec/exit always: they keep
 * the process table true). */
static uint32_t proc_needs(const struct es_engine *e, const uint64_t *s)
{
	uint32_t m = PROC_EV_BIT(PROC_EV_EXEC) | PROC_EV_BIT(PROC_EV_FORK) | PROC_EV_BIT(PROC_EV_EXIT);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETUID) || esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETEUID) ||
	    esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETREUID))
		m |= PROC_EV_BIT(PROC_EV_SETUID);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETGID) || esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETEGID) ||
	    esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETREGID))
		m |= PROC_EV_BIT(PROC_EV_SETGID);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_SIGNAL)) m |= PROC_EV_BIT(PROC_EV_SIGNAL);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_TRACE)) m |= PROC_EV_BIT(PROC_EV_PTRACE);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_MOUNT) || esw_bit(s, ES_EVENT_TYPE_NOTIFY_REMOUNT))
		m |= PROC_EV_BIT(PROC_EV_MOUNT);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_UNMOUNT)) m |= PROC_EV_BIT(PROC_EV_UMOUNT);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_KEXTLOAD)) m |= PROC_EV_BIT(PROC_EV_MODULE_LOAD);
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETMODE) || esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETOWNER))
		m |= PROC_EV_BIT(PROC_EV_SETATTR);
	if (esw_bit(s, ES_EVENT_TYPE_AUTH_EXEC) && e->cfg.auth_exec_args) m |= PROC_EV_BIT(PROC_EV_EXEC_ARGS);
	return m;
}

static void fan_masks(const struct fan_support *fs, const uint64_t *s, uint64_t *perm, uint64_t *notify)
{
	*perm = *notify = 0;
	if (esw_bit(s, ES_EVENT_TYPE_AUTH_EXEC)) *perm |= FAN_OPEN_EXEC_PERM;
	if (esw_bit(s, ES_EVENT_TYPE_AUTH_OPEN)) *perm |= FAN_OPEN_PERM;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_OPEN)) *notify |= FAN_OPEN;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_CLOSE)) *notify |= FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_CREATE)) *notify |= FAN_CREATE | FAN_ONDIR;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_UNLINK)) *notify |= FAN_DELETE | FAN_ONDIR;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_RENAME))
		*notify |= (fs->rename ? FAN_RENAME : FAN_MOVED_FROM | FAN_MOVED_TO) | FAN_ONDIR;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_WRITE)) *notify |= FAN_MODIFY;
	if (esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETMODE) || esw_bit(s, ES_EVENT_TYPE_NOTIFY_SETOWNER))
		*notify |= FAN_ATTRIB;
}

/* The event types this host can deliver. */
static void supported_set(struct es_engine *e, uint64_t *ret)
{
	static const uint32_t file_types[] = { ES_EVENT_TYPE_AUTH_EXEC, ES_EVENT_TYPE_AUTH_OPEN,
					       ES_EVENT_TYPE_NOTIFY_OPEN, ES_EVENT_TYPE_NOTIFY_CLOSE,
					       ES_EVENT_TYPE_NOTIFY_CREATE, ES_EVENT_TYPE_NOTIFY_UNLINK,
					       ES_EVENT_TYPE_NOTIFY_RENAME, ES_EVENT_TYPE_NOTIFY_WRITE };
	static const uint32_t proc_types[] = {
		ES_EVENT_TYPE_NOTIFY_EXEC,     ES_EVENT_TYPE_NOTIFY_FORK,     ES_EVENT_TYPE_NOTIFY_EXIT,
		ES_EVENT_TYPE_NOTIFY_SETUID,   ES_EVENT_TYPE_NOTIFY_SETGID,   ES_EVENT_TYPE_NOTIFY_SETEUID,
		ES_EVENT_TYPE_NOTIFY_SETEGID,  ES_EVENT_TYPE_NOTIFY_SETREUID, ES_EVENT_TYPE_NOTIFY_SETREGID,
		ES_EVENT_TYPE_NOTIFY_SIGNAL,   ES_EVENT_TYPE_NOTIFY_TRACE,    ES_EVENT_TYPE_NOTIFY_MOUNT,
		ES_EVENT_TYPE_NOTIFY_UNMOUNT,  ES_EVENT_TYPE_NOTIFY_KEXTLOAD,
	};
	memset(ret, 0, ESW_EV_WORDS * sizeof *ret);
	if (e->cfg.nwatch && e->fs.fid) {
		for (size_t i = 0; i < sizeof file_types / sizeof *file_types; i++) {
			uint32_t t = file_types[i];
			if ((t == ES_EVENT_TYPE_AUTH_OPEN && !e->fs.perm) ||
			    (t == ES_EVENT_TYPE_AUTH_EXEC && (!e->fs.perm || !e->fs.open_exec_perm)))
				continue;
			esw_bit_set(ret, t);
		}
		esw_bit_set(ret, ES_EVENT_TYPE_NOTIFY_SETMODE);
		esw_bit_set(ret, ES_EVENT_TYPE_NOTIFY_SETOWNER);
	}
	for (size_t i = 0; i < sizeof proc_types / sizeof *proc_types; i++) esw_bit_set(ret, proc_types[i]);
}

static void close_sources(struct es_engine *e)
{
	if (e->fan) {
		fan_respond_all_pending(e->fan, true);
		memset(e->pend, 0, sizeof e->pend);
		e->npend = 0;
		arm_timer(e);
		e->fan = fan_free(e->fan);
	}
	e->perm_mask = e->notify_mask = 0;
	e->nopen_perm_devs = 0;
	e->ps = procsrc_free(e->ps);
	e->ps_events = 0;
}

struct ps_load {
	pthread_t thread;
	enum procsrc_kind kind;
	struct procsrc_opts o;
	struct procsrc *ps;
	int err;
	char why[256];
	int done_fd;
	cpu_set_t home;
	int nice;
};

static void *load_main(void *arg)
{
	struct ps_load *l = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (CPU_COUNT(&l->home)) /* created by the engine thread: not its pinned CPU */
		pthread_setaffinity_np(pthread_self(), sizeof l->home, &l->home);
	setpriority(PRIO_PROCESS, 0, l->nice); /* nor its priority */
	l->err = procsrc_new(l->kind, &l->o, &l->ps, l->why, sizeof l->why);
	char x = 1;
	if (write(l->done_fd, &x, 1) < 0) { /* the loop polls nothing else: cannot happen */ }
	return NULL;
}

static int start_load(struct es_engine *e, uint32_t events)
{
	struct ps_load *l = calloc(1, sizeof *l);
	if (!l) return -ENOMEM;
	l->kind = (enum procsrc_kind)e->cfg.proc_kind;
	l->o.events = events;
	l->done_fd = e->load_pipe[1];
	l->home = e->colo.home;
	l->nice = e->base_nice;
	if (pthread_create(&l->thread, NULL, load_main, l) != 0) {
		free(l);
		return -EAGAIN;
	}
	e->loading = l;
	return 0;
}

static int update_sources(struct es_engine *e, char *why, size_t whylen);
static int proc_covers(struct es_engine *e, const struct client *c, char *why, size_t whylen);
static void reply(struct client *c, const struct esw_req *q, int32_t result, uint32_t arg0, const void *payload,
		  size_t len);

/* The worker is done: take the source, then answer the subscriptions that waited for it. */
static void on_load_done(struct es_engine *e)
{
	char x[16];
	while (read(e->load_pipe[0], x, sizeof x) > 0) {}
	struct ps_load *l = e->loading;
	if (!l) return;
	pthread_join(l->thread, NULL);
	e->loading = NULL;
	bool anyone_left = false;
	for (size_t i = 0; i < MAX_CLIENTS; i++) anyone_left |= e->clients[i].used;
	if (l->err == 0 && anyone_left) {
		snprintf(e->ps_why, sizeof e->ps_why, "%s", l->why);
		/* the old source goes after the new one is attached: nothing is missed */
		e->ps = procsrc_free(e->ps);
		e->ps = l->ps;
		e->ps_events = procsrc_events(l->ps);
		ep_add(e, procsrc_fd(l->ps), TAG(K_PROC, 0), EPOLLIN);
	} else if (l->err == 0) {
		procsrc_free(l->ps);
	}
	char why[256];
	snprintf(why, sizeof why, "process events: %s", l->why);
	int err = l->err;
	free(l);
	/* Subscriptions added while it loaded may need more: load again, keep them waiting. */
	char w2[256] = "";
	if (err == 0 && update_sources(e, w2, sizeof w2) == -EINPROGRESS) return;
	size_t n = e->ndefer;
	e->ndefer = 0;
	for (size_t i = 0; i < n; i++) {
		struct deferred *d = &e->defer[i];
		struct client *c = &e->clients[d->client];
		if (!c->used || c->id != d->client_id) continue;
		int r = err < 0 ? err : proc_covers(e, c, why, sizeof why);
		if (r < 0) {
			memcpy(c->subs, d->old_subs, sizeof c->subs);
			fprintf(stderr, "uextd: es: subscribe: %s\n", why);
		}
		struct esw_req q = { .op = d->op, .seq = d->seq };
		reply(c, &q, r, 0, NULL, 0);
	}
	update_sources(e, w2, sizeof w2);
}

/* AUTH_EXEC or AUTH_OPEN in a subscription set. */
static bool auth_in(const uint64_t *subs)
{
	return esw_bit(subs, ES_EVENT_TYPE_AUTH_EXEC) || esw_bit(subs, ES_EVENT_TYPE_AUTH_OPEN);
}

/* The engine thread's priority (docs/es-engine.md, "Priority"): while a client subscribes
 * to AUTH, processes wait for this thread, and under load it must not queue behind the
 * work it gates. Without one nobody waits for it, and it keeps uextd's own rather than
 * preempt the processes making the events. On this thread. */
static void set_priority(struct es_engine *e, const uint64_t *subs)
{
	bool auth = auth_in(subs);
	int want = auth ? e->cfg.nice : e->base_nice;
	if (want != e->nice && setpriority(PRIO_PROCESS, 0, want) < 0) {
		e->nice_why = errno == EACCES || errno == EPERM ? "not allowed (CAP_SYS_NICE, RLIMIT_NICE)" : strerror(errno);
		return;
	}
	e->nice = want;
	e->nice_why = auth ? NULL : NO_AUTH_NICE;
}

/* Bring the kernel sources in line with the union of the subscriptions: marks only grow
 * while clients stay (fanotify has no partial unmark of a filesystem mark here); the
 * last client gone closes everything, so an idle uextd costs the kernel nothing. */
static int update_sources(struct es_engine *e, char *why, size_t whylen)
{
	uint64_t s[ESW_EV_WORDS];
	bool any = union_subs(e, s) != 0;
	set_priority(e, s);
	if (!any) {
		bool clients = false;
		for (size_t i = 0; i < MAX_CLIENTS; i++) clients |= e->clients[i].used;
		if (!clients) close_sources(e);
		return 0;
	}
	uint64_t perm, notify;
	fan_masks(&e->fs, s, &perm, &notify);
	if ((perm & ~e->perm_mask) || (notify & ~e->notify_mask)) {
		if (!e->fan) {
			struct fan_config fc = { .perm = e->fs.perm != 0, .notify = e->fs.fid != 0,
						 .max_pending = MAX_PENDING };
			int r = fan_new(&fc, &e->fan);
			if (r < 0) {
				snprintf(why, whylen, "fanotify: %s", strerror(-r));
				return r;
			}
			if (fan_perm_fd(e->fan) >= 0) ep_add(e, fan_perm_fd(e->fan), TAG(K_PERM, 0), EPOLLIN);
			if (fan_notify_fd(e->fan) >= 0) ep_add(e, fan_notify_fd(e->fan), TAG(K_NOTIFY, 0), EPOLLIN);
		}
		for (size_t i = 0; i < e->cfg.nwatch; i++) {
			int r = fan_mark(e->fan, e->cfg.watch[i], perm & ~e->perm_mask, notify & ~e->notify_mask);
			if (r < 0) {
				snprintf(why, whylen, "fanotify mark %s: %s", e->cfg.watch[i], strerror(-r));
				return r;
			}
			struct stat st;
			if ((perm & FAN_OPEN_PERM) && stat(e->cfg.watch[i], &st) == 0 && !dev_open_perm(e, st.st_dev))
				e->open_perm_devs[e->nopen_perm_devs++] = st.st_dev;
		}
		e->perm_mask |= perm;
		e->notify_mask |= notify;
	}
	uint32_t need = proc_needs(e, s);
	if ((need & ~e->ps_events) != 0 && !e->loading) {
		int r = start_load(e, need | e->ps_events);
		if (r < 0) {
			snprintf(why, whylen, "process events: %s", strerror(-r));
			return r;
		}
	}
	return e->loading ? -EINPROGRESS : 0;
}

/* Whether c's subscriptions are all fed by the process source now; why says what not. */
static int proc_covers(struct es_engine *e, const struct client *c, char *why, size_t whylen)
{
	/* A subscription the source cannot feed is refused rather than left silent (the proc
	 * connector has no signals, mounts, chmod...; argv at AUTH_EXEC is a bonus). */
	uint32_t missing = proc_needs(e, c->subs) & ~e->ps_events & ~PROC_EV_BIT(PROC_EV_EXEC_ARGS);
	if (!missing) return 0;
	snprintf(why, whylen, "the process-event source (%s) cannot report: %s%s", e->ps ? procsrc_name(e->ps) : "none",
		 proc_ev_type_name((uint32_t)__builtin_ctz(missing)), missing & (missing - 1) ? ", ..." : "");
	return -EOPNOTSUPP;
}

/* ==================================================================================
 * Events: process sources
 * ================================================================================ */

/* The client slots subscribed to type. */
static uint32_t subscribers(struct es_engine *e, uint32_t type)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < MAX_CLIENTS; i++)
		if (e->clients[i].used && esw_bit(e->clients[i].subs, type)) m |= 1u << i;
	return m;
}

static bool anyone(struct es_engine *e, uint32_t type)
{
	return subscribers(e, type) != 0;
}

/* Some client answers AUTH and asked to share the engine's CPU (es/colo.h). */
static bool colo_wanted(struct es_engine *e)
{
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		const struct client *c = &e->clients[i];
		if (c->used && c->colocate && auth_in(c->subs)) return true;
	}
	return false;
}

static uint32_t setid_type(const struct proc_ev *ev, uint64_t *a, uint64_t *b2)
{
	bool uid = ev->type == PROC_EV_SETUID;
	uint32_t none = PROC_ID_UNKNOWN;
	*a = ev->setid.id;
	*b2 = ev->setid.eid;
	switch (ev->setid.call) {
	case PROC_SETID_SETUID:
	case PROC_SETID_SETGID:
		return uid ? ES_EVENT_TYPE_NOTIFY_SETUID : ES_EVENT_TYPE_NOTIFY_SETGID;
	case PROC_SETID_SETREUID:
	case PROC_SETID_SETREGID:
	case PROC_SETID_SETRESUID:
	case PROC_SETID_SETRESGID:
		if (ev->setid.id == none && (ev->setid.sid == none || ev->setid.call == PROC_SETID_SETREUID ||
					     ev->setid.call == PROC_SETID_SETREGID)) {
			*a = ev->setid.eid;
			return uid ? ES_EVENT_TYPE_NOTIFY_SETEUID : ES_EVENT_TYPE_NOTIFY_SETEGID;
		}
		return uid ? ES_EVENT_TYPE_NOTIFY_SETREUID : ES_EVENT_TYPE_NOTIFY_SETREGID;
	default:
		return uid ? ES_EVENT_TYPE_NOTIFY_SETREUID : ES_EVENT_TYPE_NOTIFY_SETREGID;
	}
}

static void fill_statfs(es_statfs_t *s, const struct proc_ev *ev)
{
	memset(s, 0, sizeof *s);
	snprintf(s->f_mntonname, sizeof s->f_mntonname, "%s", ev->mount.target);
	snprintf(s->f_mntfromname, sizeof s->f_mntfromname, "%s", ev->mount.source);
	snprintf(s->f_fstypename, sizeof s->f_fstypename, "%s", ev->mount.fstype);
	struct statfs sf;
	if (ev->type == PROC_EV_MOUNT && ev->mount.target[0] == '/' && statfs(ev->mount.target, &sf) == 0) {
		s->f_bsize = (uint32_t)sf.f_bsize;
		s->f_iosize = (int32_t)sf.f_bsize;
		s->f_blocks = sf.f_blocks;
		s->f_bfree = sf.f_bfree;
		s->f_bavail = sf.f_bavail;
		s->f_files = sf.f_files;
		s->f_ffree = sf.f_ffree;
		memcpy(&s->f_fsid, &sf.f_fsid, sizeof s->f_fsid);
		s->f_type = (uint32_t)sf.f_type;
		s->f_flags = (uint32_t)sf.f_flags;
	}
}

static void setattr_note(struct es_engine *e, const struct proc_ev *ev);


/* The record's own ids (as of the event) into the table: /proc may be gone by now. The
 * saved ids are not in the record: execve(2) sets them to the effective ones, other
 * records leave proctab to read them from /proc. */
static void note_ids(struct es_engine *e, const struct proc_ev *ev)
{
	if (ev->flags & PROC_EF_NO_CREDS) return;
	pid_t pid = (pid_t)ev->pid;
	bool exec = ev->type == PROC_EV_EXEC;
	if (ev->uid != PROC_ID_UNKNOWN)
		proctab_setids(e->pt, pid, PROCTAB_UIDS, ev->uid, ev->euid, exec ? ev->euid : PROCTAB_ID_UNSET);
	if (ev->gid != PROC_ID_UNKNOWN)
		proctab_setids(e->pt, pid, PROCTAB_GIDS, ev->gid, ev->egid, exec ? ev->egid : PROCTAB_ID_UNSET);
}

/* The session and tty an exec record carries (eBPF): /proc may be gone by the time an
 * event of the process needs them. */
static void note_session(struct es_engine *e, const struct proc_ev *ev)
{
	if (ev->flags & PROC_EF_SESSION)
		proctab_set_session(e->pt, (pid_t)ev->pid, (pid_t)ev->exec.sid, ev->exec.tty_nr);
}

static int on_proc_ev(const struct proc_ev *ev, void *data)
{
	struct es_engine *e = data;
	struct builder *b = e->b;
	uint64_t off = e->boot_off;
	switch (ev->type) {
	case PROC_EV_FORK: {
		if (ev->flags & PROC_EF_THREAD) return 0;
		bool want = anyone(e, ES_EVENT_TYPE_NOTIFY_FORK);
		int rc = proctab_fork(e->pt, (pid_t)ev->pid, (pid_t)ev->fork.child_pid, ev->fork.child_start_ns, NULL);
		if ((rc == -ESRCH || rc == -ENOENT) && !(ev->flags & PROC_EF_NO_CREDS))
			/* parent and child both gone already: what the record says */
			proctab_fork_gone(e->pt, (pid_t)ev->pid, (pid_t)ev->fork.child_pid, ev->fork.child_start_ns,
					  ev->comm, ev->uid, ev->euid, ev->gid, ev->egid);
		if (!want) return 0;
		b_reset(b, ES_EVENT_TYPE_NOTIFY_FORK, ES_ACTION_TYPE_NOTIFY);
		b_instigator(e, (pid_t)ev->pid);
		b->h.ev[0] = b_proc(e, (pid_t)ev->fork.child_pid);
		break;
	}
	case PROC_EV_EXEC: {
		exec_open_forget(e, (pid_t)ev->pid); /* done: its own open was before */
		bool want = anyone(e, ES_EVENT_TYPE_NOTIFY_EXEC);
		if (want) {
			b_reset(b, ES_EVENT_TYPE_NOTIFY_EXEC, ES_ACTION_TYPE_NOTIFY);
			b_instigator(e, (pid_t)ev->pid); /* the process before the exec */
		}
		const char *args = (ev->flags & PROC_EF_NO_ARGS) ? NULL : ev->exec.args;
		if (!want) { /* nobody needs the new image now: read /proc only if someone asks */
			proctab_exec_lazy(e->pt, (pid_t)ev->pid, ev->exec.filename, args, ev->exec.args_len,
					  ev->exec.argc);
			note_ids(e, ev);
			note_session(e, ev);
			return 0;
		}
		proctab_exec(e->pt, (pid_t)ev->pid, ev->exec.filename, args, ev->exec.args_len, ev->exec.argc, NULL);
		note_ids(e, ev); /* set-id bits: the record has the ids after the exec */
		note_session(e, ev);
		uint32_t t = b_proc(e, (pid_t)ev->pid);
		b->h.ev[0] = t;
		b_target_proc(b, t);
		const struct proctab_proc *p = pget(e, (pid_t)ev->pid, false);
		b->h.ev[2] = b_file_stat(b, p && p->cwd ? p->cwd : "");
		b->h.ev[3] = 0;
		b->h.ev[4] = 0;
		b->h.ev[5] = b_str(b, ev->exec.filename);
		p = pget(e, (pid_t)ev->pid, false);
		if (p && p->args) b_args(b, p->args, p->args_len, p->argc ? p->argc : UINT32_MAX);
		uint32_t elen;
		const char *env = proc_ev_env(ev, &elen);
		b_env(b, env, elen);
		break;
	}
	case PROC_EV_EXIT: {
		if (ev->flags & PROC_EF_THREAD) return 0;
		exec_open_forget(e, (pid_t)ev->pid);
		/* exited first: a lazy exec entry is not refreshed from a /proc that has nothing
		 * left to say (a zombie's exe link is gone); still found until the next-but-one reap */
		proctab_exit(e->pt, (pid_t)ev->pid);
		const struct proctab_proc *gone = pget(e, (pid_t)ev->pid, false);
		uint32_t gone_pv = gone ? gone->pidversion : 0;
		if (anyone(e, ES_EVENT_TYPE_NOTIFY_EXIT)) {
			b_reset(b, ES_EVENT_TYPE_NOTIFY_EXIT, ES_ACTION_TYPE_NOTIFY);
			b_instigator(e, (pid_t)ev->pid);
			b->h.ev[0] = ev->exit.status;
			b->h.mach_time = ev->ts_ns > off ? ev->ts_ns - off : b->h.mach_time;
			deliver_notify(e);
		}
		/* A muted process is unmuted when it exits (that execution: pid and pidversion),
		 * a little later: its last file events may still be in fanotify's queue, read
		 * after this record. The token never names another process meanwhile. */
		for (size_t i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &e->clients[i];
			for (size_t k = 0; c->used && k < c->nmprocs; k++)
				if (c->mprocs[k].pid == (pid_t)ev->pid && c->mprocs[k].pidversion == gone_pv)
					c->mprocs[k].exited_ns = now_mono_ns();
		}
		return 0;
	}
	case PROC_EV_SETUID:
	case PROC_EV_SETGID: {
		uint64_t a, a2;
		uint32_t t = setid_type(ev, &a, &a2);
		note_ids(e, ev);
		if (!anyone(e, t)) return 0;
		b_reset(b, t, ES_ACTION_TYPE_NOTIFY);
		b_instigator(e, (pid_t)ev->pid);
		b->h.ev[0] = a;
		b->h.ev[1] = a2;
		break;
	}
	case PROC_EV_SIGNAL:
		if (!anyone(e, ES_EVENT_TYPE_NOTIFY_SIGNAL) || ev->signal.target_pid == ev->pid) return 0;
		b_reset(b, ES_EVENT_TYPE_NOTIFY_SIGNAL, ES_ACTION_TYPE_NOTIFY);
		b_instigator(e, (pid_t)ev->pid);
		b->h.ev[0] = ev->signal.sig;
		b->h.ev[1] = b_proc(e, (pid_t)ev->signal.target_pid);
		b_target_proc(b, (uint32_t)b->h.ev[1]);
		break;
	case PROC_EV_PTRACE:
		if (!anyone(e, ES_EVENT_TYPE_NOTIFY_TRACE)) return 0;
		b_reset(b, ES_EVENT_TYPE_NOTIFY_TRACE, ES_ACTION_TYPE_NOTIFY);
		if (ev->ptrace.target_pid == 0) { /* TRACEME: the tracee asks its parent */
			b_instigator(e, (pid_t)ev->pid);
			b->h.ev[0] = b_proc(e, (pid_t)(ev->ppid ? ev->ppid : ev->pid));
		} else {
			b_instigator(e, (pid_t)ev->pid);
			b->h.ev[0] = b_proc(e, (pid_t)ev->ptrace.target_pid);
		}
		b_target_proc(b, (uint32_t)b->h.ev[0]);
		break;
	case PROC_EV_MOUNT:
	case PROC_EV_UMOUNT: {
		uint32_t t = ev->type == PROC_EV_UMOUNT ? ES_EVENT_TYPE_NOTIFY_UNMOUNT
			     : (ev->mount.flags & 32 /* MS_REMOUNT */) && ev->mount.call == PROC_CALL_MOUNT
				     ? ES_EVENT_TYPE_NOTIFY_REMOUNT
				     : ES_EVENT_TYPE_NOTIFY_MOUNT;
		if (!anyone(e, t)) return 0;
		b_reset(b, t, ES_ACTION_TYPE_NOTIFY);
		b_instigator(e, (pid_t)ev->pid);
		fill_statfs(&b->statfs, ev);
		b->has_statfs = true;
		b->h.ev[0] = ev->mount.flags;
		break;
	}
	case PROC_EV_MODULE_LOAD:
		if (!anyone(e, ES_EVENT_TYPE_NOTIFY_KEXTLOAD)) return 0;
		b_reset(b, ES_EVENT_TYPE_NOTIFY_KEXTLOAD, ES_ACTION_TYPE_NOTIFY);
		b_instigator(e, (pid_t)ev->pid);
		b->h.ev[0] = b_str(b, ev->module.name);
		break;
	case PROC_EV_EXEC_ARGS: {
		struct exec_args *a = &e->exec_args[ev->pid % EXEC_ARGS_SLOTS];
		a->pid = (pid_t)ev->pid;
		a->len = ev->exec.args_len; /* procsrc_ev_check: <= PROC_ARGS_LEN, env_len <= PROC_ENV_LEN */
		a->env_len = ev->exec.env_len;
		a->argc = ev->exec.nargs; /* the arguments kept (ev->exec.argc may be more) */
		memcpy(a->args, ev->exec.args, a->len + a->env_len);
		return 0;
	}
	case PROC_EV_SETATTR:
		setattr_note(e, ev);
		return 0;
	default:
		return 0;
	}
	if (ev->ts_ns > off) b->h.mach_time = ev->ts_ns - off;
	b->h.thread_id = ev->tid;
	deliver_notify(e);
	return 0;
}

static void drain_proc(struct es_engine *e)
{
	if (!e->ps) return;
	for (int i = 0; i < 64; i++) {
		int n = procsrc_read(e->ps, on_proc_ev, e);
		if (n > 0) e->proc_records += (uint64_t)n;
		if (n < PROCSRC_BATCH) break;
	}
}

/* ==================================================================================
 * Events: fanotify
 * ================================================================================ */

/* c is sent this AUTH message: subscribed, not muted for it, and not asked already (the
 * exec's own open, struct exec_open). */
static bool gets_auth(const struct client *c, uint32_t type, bool asked, const struct builder *b)
{
	return c->used && c->welcomed && esw_bit(c->subs, type) && !asked && !muted(c, b);
}

static void on_perm(struct fan *f, const struct fan_perm_event *ev, void *data)
{
	struct es_engine *e = data;
	struct builder *b = e->b;
	/* The process's fork/exec records were written before this event was generated, but
	 * maybe after the ring was last drained: take them first (cheap when empty). */
	drain_proc(e);
	if (ev->fd < 0) { /* queue overflow: the kernel allowed accesses without asking */
		e->kernel_lost++;
		for (size_t i = 0; i < MAX_CLIENTS; i++) e->clients[i].gseq++;
		return;
	}
	if (is_exempt(e, ev->pid)) {
		e->own_answered++;
		fan_respond(f, ev->fd, true);
		return;
	}
	uint32_t type = (ev->mask & FAN_OPEN_EXEC_PERM) ? ES_EVENT_TYPE_AUTH_EXEC : ES_EVENT_TYPE_AUTH_OPEN;
	uint64_t fmask = type == ES_EVENT_TYPE_AUTH_EXEC ? FAN_OPEN_EXEC_PERM : FAN_OPEN_PERM;
	uint32_t asked = type == ES_EVENT_TYPE_AUTH_OPEN ? exec_open_take(e, ev) : 0;
	uint32_t subs = subscribers(e, type);
	if (!(subs & ~asked)) {
		if (subs) e->exec_opens++; /* each of them allowed this open as the exec */
		else e->no_client_allowed++;
		fan_respond(f, ev->fd, true);
		return;
	}
	b_reset(b, type, ES_ACTION_TYPE_AUTH);
	b_instigator(e, ev->pid);
	pid_t p_pid = 0; /* AUTH_EXEC: the exec's own open follows (struct exec_open) */
	const char *path = ev->path ? ev->path : "";
	uint32_t file = b_file(b, path, &ev->st);
	b_target(b, file);
	if (type == ES_EVENT_TYPE_AUTH_OPEN) {
		b->h.ev[0] = FREAD | FWRITE; /* the join with openat(2) flags is not there yet */
		b->h.ev[1] = file;
		b->h.ev[2] = 1;
	} else {
		/* target: the process as it will be after the exec */
		p_pid = ev->pid;
		uint32_t t = b_proc(e, ev->pid);
		struct esw_proc *tp = &b->procs[t];
		tp->executable = file;
		/* its new pidversion is given when the exec completes (NOTIFY_EXEC) */
		tp->token.val[UEXT_AUDIT_TOKEN_PIDVERSION] = 0;
		tp->hashed = S_ISREG(ev->st.st_mode) && proctab_hash_fd(e->pt, ev->fd, &ev->st, tp->sha256) == 0;
		b->h.ev[0] = t;
		/* the cwd now: the process waits in execve (readlink opens nothing) */
		char link[64], cwd[PATH_MAX];
		snprintf(link, sizeof link, "/proc/%d/cwd", (int)ev->pid);
		ssize_t n = readlink(link, cwd, sizeof cwd - 1);
		cwd[n > 0 ? n : 0] = 0;
		b->h.ev[2] = b_file_stat(b, cwd);
		/* the execve-entry record (written before this event) was drained on entry */
		struct exec_args *a = &e->exec_args[ev->pid % EXEC_ARGS_SLOTS];
		if (a->pid == ev->pid) {
			b_args(b, a->args, a->len, a->argc);
			b_env(b, a->args + a->len, a->env_len);
			a->pid = 0;
		}
	}
	uint64_t now = now_mono_ns();
	uint32_t slot = 0;
	while (slot < MAX_PENDING && e->pend[slot].id) slot++;
	if (slot == MAX_PENDING) { /* cannot happen: fan never holds more than MAX_PENDING */
		fan_respond(f, ev->fd, !e->cfg.fail_closed);
		return;
	}
	struct pending *p = &e->pend[slot];
	uint32_t dl = e->cfg.deadline_ms[type == ES_EVENT_TYPE_AUTH_OPEN];
	p->id = (++e->next_gen << 16) | slot;
	p->fd = ev->fd;
	p->type = type;
	p->fan_mask = fmask;
	p->t0 = now;
	p->deny = false;
	p->cache_all = true;
	p->waiting = 0;
	p->allowed = 0;
	p->pid = p_pid;
	if (p_pid) p->st = ev->st;
	e->npend++;
	b->h.id = p->id;
	uint64_t deadline = 0;
	for (uint32_t k = 0; k < MAX_CLIENTS; k++) {
		struct client *c = &e->clients[k];
		if (!gets_auth(c, type, asked & (1u << k), b)) continue;
		uint32_t cdl = c->deadline_ms[type == ES_EVENT_TYPE_AUTH_OPEN];
		if (cdl && cdl < dl) dl = cdl;
	}
	deadline = now + (uint64_t)dl * 1000000ull;
	b->h.deadline = deadline;
	b->h.cpu = (uint32_t)(e->colo.cpu + 1);
	p->deadline = deadline;
	if (!b_seal(b)) {
		memset(p, 0, sizeof *p);
		e->npend--;
		e->kernel_lost++;
		fan_respond(f, ev->fd, !e->cfg.fail_closed);
		return;
	}
	for (uint32_t k = 0; k < MAX_CLIENTS; k++) {
		struct client *c = &e->clients[k];
		if (!gets_auth(c, type, asked & (1u << k), b)) continue;
		p->waiting |= 1u << k;
		c->auth_sent++;
		if (!client_put(e, c, true) && c->used) {
			/* could not queue: this client's share is its miss answer, now */
			p->waiting &= ~(1u << k);
			if (miss_denies(e, c)) p->deny = true;
			p->cache_all = false;
		}
		if (!c->used) p->waiting &= ~(1u << k);
	}
	if (!p->waiting) {
		/* everyone muted it: allow (muting means "not interested") */
		finish(e, p, false);
		return;
	}
	/* straight to this deadline: no scan, and only when it is earlier */
	if (!e->armed || deadline < e->armed) set_timer(e, deadline);
}



static void notify_one(struct es_engine *e, const struct fan_notify_event *ev, uint32_t type);

static void setattr_note(struct es_engine *e, const struct proc_ev *ev)
{
	struct setattr_note *n = &e->setattr[ev->pid % SETATTR_SLOTS];
	n->pid = (pid_t)ev->pid;
	n->call = ev->setattr.call;
	n->mode = ev->setattr.mode;
	n->uid = ev->setattr.uid;
	n->gid = ev->setattr.gid;
	struct attr_wait *w = &e->attr_waits[ev->pid % SETATTR_SLOTS];
	if (w->pid == (pid_t)ev->pid) { /* its FAN_ATTRIB came first: complete it now */
		struct fan_notify_event fe = { .mask = FAN_ATTRIB, .pid = w->pid, .path = w->path, .dirfd = -1 };
		w->pid = 0;
		n->pid = 0;
		/* we may be inside another event's build (drain_proc mid-message): build this
		 * one in the spare builder */
		struct builder *cur = e->b;
		e->b = e->b_spare;
		notify_one(e, &fe, ev->setattr.call == PROC_CALL_CHMOD ? ES_EVENT_TYPE_NOTIFY_SETMODE
								       : ES_EVENT_TYPE_NOTIFY_SETOWNER);
		e->b = cur;
	}
}

static void notify_one(struct es_engine *e, const struct fan_notify_event *ev, uint32_t type)
{
	struct builder *b = e->b;
	if (!anyone(e, type)) return;
	b_reset(b, type, ES_ACTION_TYPE_NOTIFY);
	b_instigator(e, ev->pid);
	const char *path = ev->path ? ev->path : "";
	switch (type) {
	case ES_EVENT_TYPE_NOTIFY_OPEN:
		b->h.ev[0] = FREAD;
		b->h.ev[1] = b_file_ev(e, ev, path);
		b->h.ev[2] = 1;
		b_target(b, (uint32_t)b->h.ev[1]);
		break;
	case ES_EVENT_TYPE_NOTIFY_CLOSE:
		b->h.ev[0] = (ev->mask & FAN_CLOSE_WRITE) != 0;
		b->h.ev[1] = b_file_ev(e, ev, path);
		b_target(b, (uint32_t)b->h.ev[1]);
		break;
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		b->h.ev[0] = b_file_ev(e, ev, path);
		b_target(b, (uint32_t)b->h.ev[0]);
		break;
	case ES_EVENT_TYPE_NOTIFY_CREATE:
		b->h.ev[0] = ES_DESTINATION_TYPE_EXISTING_FILE;
		b->h.ev[1] = b_file_ev(e, ev, path);
		b_target(b, (uint32_t)b->h.ev[1]);
		break;
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		b->h.ev[0] = b_file(b, path, NULL);
		b->h.ev[1] = b_dir_ev(b, ev);
		b_target(b, (uint32_t)b->h.ev[0]);
		break;
	case ES_EVENT_TYPE_NOTIFY_RENAME: {
		b->h.ev[0] = b_file_stat(b, ev->new_path ? ev->new_path : path);
		/* source->path is the old path; its stat is the file now (at the new path) */
		b->files[b->h.ev[0]].path = b_str(b, path);
		b->files[b->h.ev[0]].path_len = (uint32_t)strlen(path);
		b->h.ev[1] = ES_DESTINATION_TYPE_NEW_PATH;
		b->h.ev[2] = b_file_stat(b, ev->new_dir ? ev->new_dir : "");
		b->h.ev[3] = b_str(b, ev->new_name ? ev->new_name : "");
		b_target(b, (uint32_t)b->h.ev[0]);
		if (ev->new_path && b->ntargets < 4) {
			uint32_t o = b_str(b, ev->new_path);
			if (o != ESW_NONE) b->targets[b->ntargets++] = b->pool + o;
		}
		break;
	}
	case ES_EVENT_TYPE_NOTIFY_SETMODE:
	case ES_EVENT_TYPE_NOTIFY_SETOWNER: {
		struct setattr_note *n = &e->setattr[ev->pid % SETATTR_SLOTS];
		uint32_t f = b_file_ev(e, ev, path);
		if (type == ES_EVENT_TYPE_NOTIFY_SETMODE) {
			b->h.ev[0] = n->mode;
			b->h.ev[1] = f;
		} else {
			b->h.ev[0] = n->uid;
			b->h.ev[1] = n->gid;
			b->h.ev[2] = f;
		}
		b_target(b, f);
		break;
	}
	}
	deliver_notify(e);
}

static void on_notify(struct fan *f, const struct fan_notify_event *ev, void *data)
{
	(void)f;
	struct es_engine *e = data;
	drain_proc(e); /* as in on_perm: the records of the process's exec come first */
	if (ev->mask & FAN_Q_OVERFLOW) {
		/* Lost in the kernel: every client sees a gap in global_seq_num. */
		e->kernel_lost++;
		for (size_t i = 0; i < MAX_CLIENTS; i++) e->clients[i].gseq++;
		return;
	}
	/* Own file activity (uextd writing its database, a client writing its log) is not
	 * reported to avoid feedback loops: the same exemption as for AUTH. */
	if (ev->pid == e->self) return;
	uint64_t m = ev->mask;
	if (m & FAN_CREATE) notify_one(e, ev, ES_EVENT_TYPE_NOTIFY_CREATE);
	if (m & FAN_OPEN) notify_one(e, ev, ES_EVENT_TYPE_NOTIFY_OPEN);
	if (m & FAN_MODIFY) notify_one(e, ev, ES_EVENT_TYPE_NOTIFY_WRITE);
	if (m & FAN_ATTRIB) {
		drain_proc(e); /* the chmod/chown record is written at syscall exit: maybe there */
		struct setattr_note *n = &e->setattr[ev->pid % SETATTR_SLOTS];
		if (n->pid == ev->pid) {
			notify_one(e, ev, n->call == PROC_CALL_CHMOD ? ES_EVENT_TYPE_NOTIFY_SETMODE : ES_EVENT_TYPE_NOTIFY_SETOWNER);
			n->pid = 0;
		} else if (ev->path && (anyone(e, ES_EVENT_TYPE_NOTIFY_SETMODE) || anyone(e, ES_EVENT_TYPE_NOTIFY_SETOWNER))) {
			/* not yet: the record completes it when it comes (setattr_note) */
			struct attr_wait *w = &e->attr_waits[ev->pid % SETATTR_SLOTS];
			w->pid = ev->pid;
			snprintf(w->path, sizeof w->path, "%s", ev->path);
		}
	}
	if (m & (FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE)) notify_one(e, ev, ES_EVENT_TYPE_NOTIFY_CLOSE);
	if (m & (FAN_RENAME | FAN_MOVED_TO)) notify_one(e, ev, ES_EVENT_TYPE_NOTIFY_RENAME);
	if (m & FAN_DELETE) notify_one(e, ev, ES_EVENT_TYPE_NOTIFY_UNLINK);
}

/* ==================================================================================
 * Clients: connection, hello, requests
 * ================================================================================ */

static void free_mutes(struct client *c)
{
	for (size_t i = 0; i < c->nmpaths; i++) free(c->mpaths[i].path);
	free(c->mpaths);
	free(c->mprocs);
	c->mpaths = NULL;
	c->mprocs = NULL;
	c->nmpaths = c->nmprocs = 0;
}

static void client_close(struct es_engine *e, struct client *c)
{
	if (!c->used) return;
	/* everything it still owes is answered now, by its miss mode, without penalty */
	client_leaves_pending(e, c, false);
	epoll_ctl(e->ep, EPOLL_CTL_DEL, c->evfd, NULL);
	if (c->reqfd >= 0) epoll_ctl(e->ep, EPOLL_CTL_DEL, c->reqfd, NULL);
	close(c->evfd);
	if (c->reqfd >= 0) close(c->reqfd);
	free_mutes(c);
	free(c->batch);
	while (c->q_head) {
		struct block *n = c->q_head->next;
		free(c->q_head);
		c->q_head = n;
	}
	memset(c, 0, sizeof *c);
	c->evfd = c->reqfd = -1;
	char why[256];
	update_sources(e, why, sizeof why);
	arm_timer(e);
}

static int add_client(struct es_engine *e, int fd, pid_t pid, uid_t uid)
{
	for (uint32_t k = 0; k < MAX_CLIENTS; k++) {
		struct client *c = &e->clients[k];
		if (c->used) continue;
		memset(c, 0, sizeof *c);
		c->batch = malloc(BATCH_MAX);
		if (!c->batch) return -ENOMEM;
		c->used = true;
		c->evfd = fd;
		c->reqfd = -1;
		c->pid = pid;
		c->uid = uid;
		c->id = ++e->next_client_id;
		int big = 8 << 20;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		ep_add(e, fd, TAG(K_EV, k), EPOLLIN);
		return 0;
	}
	return -EMFILE;
}

static void send_welcome(struct es_engine *e, struct client *c, uint32_t result, const char *reason, int reqfd)
{
	struct esw_welcome w;
	memset(&w, 0, sizeof w);
	w.op = ESW_HELLO;
	w.result = result;
	w.client_id = c->id;
	supported_set(e, w.supported);
	w.deadline_ms[0] = e->cfg.deadline_ms[0];
	w.deadline_ms[1] = e->cfg.deadline_ms[1];
	w.engine_nice = (uint32_t)(e->cfg.nice + 64); /* what the engine takes with AUTH */
	const struct proctab_proc *p = pget(e, c->pid, false);
	if (p) w.self = token_of(p);
	snprintf(w.reason, sizeof w.reason, "%s", reason ? reason : "");
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct iovec iov = { &w, sizeof w };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (reqfd >= 0) {
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof cbuf;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &reqfd, sizeof(int));
	}
	sendmsg(c->evfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void on_hello(struct es_engine *e, struct client *c, const struct esw_hello *h)
{
	const char *why = NULL;
	uint32_t res = ES_NEW_CLIENT_RESULT_SUCCESS;
	if (h->version != ESW_VERSION) {
		res = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
		why = "libuext and uextd versions differ";
	} else if (h->flags & UEXT_ES_CLIENT_DESCENDANTS) {
		res = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
		why = "descendants clients are not available";
	}
	int sp[2] = { -1, -1 };
	if (res == ES_NEW_CLIENT_RESULT_SUCCESS &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
		res = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
		why = "socketpair failed";
	}
	send_welcome(e, c, res, why, sp[1]);
	if (sp[1] >= 0) close(sp[1]);
	if (res != ES_NEW_CLIENT_RESULT_SUCCESS) {
		client_close(e, c);
		return;
	}
	c->reqfd = sp[0];
	fcntl(c->reqfd, F_SETFL, fcntl(c->reqfd, F_GETFL) | O_NONBLOCK);
	ep_add(e, c->reqfd, TAG(K_REQ, (uint32_t)(c - e->clients)), EPOLLIN);
	c->welcomed = true;
	c->deadline_ms[0] = e->cfg.deadline_ms[0];
	c->deadline_ms[1] = e->cfg.deadline_ms[1];
	const struct proctab_proc *p = pget(e, c->pid, false);
	if (p) c->token = token_of(p);
	/* As on macOS, a new client clears the shared cache: it may decide differently. */
	if (e->fan) fan_cache_clear(e->fan);
	memset(e->exec_open, 0, sizeof e->exec_open); /* they name client slots */
}

static void on_ev_readable(struct es_engine *e, struct client *c)
{
	for (int i = 0; i < 256 && c->used; i++) {
		union {
			struct esw_hello h;
			struct esw_verdict v;
			uint8_t raw[64];
		} u;
		ssize_t n = recv(c->evfd, &u, sizeof u, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
		if (n <= 0) {
			client_close(e, c);
			return;
		}
		if (!c->welcomed) {
			if ((size_t)n != sizeof u.h || u.h.op != ESW_HELLO) {
				client_close(e, c);
				return;
			}
			on_hello(e, c, &u.h);
		} else if ((size_t)n == sizeof u.v && u.v.op == ESW_VERDICT) {
			on_verdict(e, c, &u.v);
		} else {
			client_close(e, c); /* a malformed record closes that client, not uextd */
			return;
		}
	}
}

static void reply(struct client *c, const struct esw_req *q, int32_t result, uint32_t arg0, const void *payload,
		  size_t len)
{
	uint8_t buf[ESW_MAX_REQ];
	struct esw_rep r = { .op = q->op, .seq = q->seq, .result = result, .arg0 = arg0 };
	if (len > sizeof buf - sizeof r) {
		r.result = -E2BIG;
		len = 0;
	}
	r.len = (uint32_t)len;
	memcpy(buf, &r, sizeof r);
	if (len) memcpy(buf + sizeof r, payload, len);
	send(c->reqfd, buf, sizeof r + len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void events_bits(const struct esw_req *q, uint64_t *bits)
{
	memset(bits, 0, ESW_EV_WORDS * sizeof *bits);
	if (q->nevents == 0) {
		memset(bits, 0xff, ESW_EV_WORDS * sizeof *bits); /* all */
		return;
	}
	for (uint32_t i = 0; i < q->nevents; i++)
		if (q->events[i] < N_TYPES) esw_bit_set(bits, q->events[i]);
}

static int do_request(struct es_engine *e, struct client *c, const struct esw_req *q, const char *path,
		      uint32_t *arg0, uint8_t *payload, size_t *plen)
{
	uint64_t bits[ESW_EV_WORDS];
	char why[256] = "";
	switch (q->op) {
	case ESW_SUBSCRIBE: {
		uint64_t sup[ESW_EV_WORDS];
		supported_set(e, sup);
		for (uint32_t i = 0; i < q->nevents; i++)
			if (q->events[i] < N_TYPES && !esw_bit(sup, q->events[i])) return -EOPNOTSUPP;
		uint64_t old[ESW_EV_WORDS];
		memcpy(old, c->subs, sizeof old);
		for (uint32_t i = 0; i < q->nevents; i++) esw_bit_set(c->subs, q->events[i]);
		int r = update_sources(e, why, sizeof why);
		if (r == -EINPROGRESS && e->ndefer < MAX_CLIENTS) {
			struct deferred *d = &e->defer[e->ndefer++];
			d->client = (uint32_t)(c - e->clients);
			d->client_id = c->id;
			d->seq = q->seq;
			d->op = q->op;
			memcpy(d->old_subs, old, sizeof old);
			return r; /* answered by on_load_done */
		}
		if (r == 0) r = proc_covers(e, c, why, sizeof why);
		if (r < 0) {
			memcpy(c->subs, old, sizeof old);
			fprintf(stderr, "uextd: es: subscribe: %s\n", why);
		}
		return r;
	}
	case ESW_UNSUBSCRIBE:
		for (uint32_t i = 0; i < q->nevents; i++)
			if (q->events[i] < N_TYPES) esw_bit_clear(c->subs, q->events[i]);
		update_sources(e, why, sizeof why); /* fewer events: nothing to wait for */
		return 0;
	case ESW_UNSUBSCRIBE_ALL:
		memset(c->subs, 0, sizeof c->subs);
		update_sources(e, why, sizeof why);
		return 0;
	case ESW_SUBSCRIPTIONS: {
		size_t n = 0;
		for (uint32_t t = 0; t < N_TYPES; t++)
			if (esw_bit(c->subs, t)) memcpy(payload + 4 * n++, &t, 4);
		*plen = 4 * n;
		return 0;
	}
	case ESW_CLEAR_CACHE: {
		uint64_t now = now_mono_ns();
		if (e->last_clear && now - e->last_clear < CLEAR_CACHE_MIN_NS) return -EAGAIN;
		e->last_clear = now;
		return e->fan ? fan_cache_clear(e->fan) : 0;
	}
	case ESW_MUTE_PROCESS:
	case ESW_UNMUTE_PROCESS: {
		pid_t pid = audit_token_to_pid(q->token);
		uint32_t pv = (uint32_t)audit_token_to_pidversion(q->token);
		events_bits(q, bits);
		size_t k = 0;
		while (k < c->nmprocs && !(c->mprocs[k].pid == pid && c->mprocs[k].pidversion == pv)) k++;
		if (q->op == ESW_UNMUTE_PROCESS) {
			if (k == c->nmprocs) return 0;
			for (int w = 0; w < ESW_EV_WORDS; w++) c->mprocs[k].events[w] &= ~bits[w];
			bool empty = true;
			for (int w = 0; w < ESW_EV_WORDS; w++) empty &= c->mprocs[k].events[w] == 0;
			if (empty) c->mprocs[k] = c->mprocs[--c->nmprocs];
			return 0;
		}
		const struct proctab_proc *p = pget(e, pid, true);
		if (!p || p->pidversion != pv) return -ESRCH; /* only a running process */
		if (k == c->nmprocs) {
			if (c->nmprocs >= 4096) return -ENOSPC;
			struct mute_proc *v = realloc(c->mprocs, (c->nmprocs + 1) * sizeof *v);
			if (!v) return -ENOMEM;
			c->mprocs = v;
			memset(&v[k], 0, sizeof v[k]);
			v[k].pid = pid;
			v[k].pidversion = pv;
			v[k].token = q->token;
			c->nmprocs++;
		}
		for (int w = 0; w < ESW_EV_WORDS; w++) c->mprocs[k].events[w] |= bits[w];
		return 0;
	}
	case ESW_MUTED_PROCESSES: {
		size_t n = 0;
		for (size_t k = 0; k < c->nmprocs && (n + 1) * sizeof(struct esw_muted_proc) <= ESW_MAX_REQ - 64; k++) {
			struct esw_muted_proc r = { .token = c->mprocs[k].token };
			memcpy(r.events, c->mprocs[k].events, sizeof r.events);
			memcpy(payload + n++ * sizeof r, &r, sizeof r);
		}
		*plen = n * sizeof(struct esw_muted_proc);
		return 0;
	}
	case ESW_MUTE_PATH:
	case ESW_UNMUTE_PATH: {
		if (!path || q->arg0 > ES_MUTE_PATH_TYPE_TARGET_LITERAL) return -EINVAL;
		events_bits(q, bits);
		size_t k = 0;
		while (k < c->nmpaths && !(c->mpaths[k].type == q->arg0 && strcmp(c->mpaths[k].path, path) == 0)) k++;
		if (q->op == ESW_UNMUTE_PATH) {
			if (k == c->nmpaths) return 0;
			for (int w = 0; w < ESW_EV_WORDS; w++) c->mpaths[k].events[w] &= ~bits[w];
			bool empty = true;
			for (int w = 0; w < ESW_EV_WORDS; w++) empty &= c->mpaths[k].events[w] == 0;
			if (empty) {
				free(c->mpaths[k].path);
				c->mpaths[k] = c->mpaths[--c->nmpaths];
			}
			return 0;
		}
		if (k == c->nmpaths) {
			if (c->nmpaths >= 4096) return -ENOSPC;
			struct mute_path *v = realloc(c->mpaths, (c->nmpaths + 1) * sizeof *v);
			if (!v) return -ENOMEM;
			c->mpaths = v;
			memset(&v[k], 0, sizeof v[k]);
			if (!(v[k].path = strdup(path))) return -ENOMEM;
			v[k].len = strlen(path);
			v[k].type = q->arg0;
			c->nmpaths++;
		}
		for (int w = 0; w < ESW_EV_WORDS; w++) c->mpaths[k].events[w] |= bits[w];
		return 0;
	}
	case ESW_UNMUTE_ALL_PATHS:
	case ESW_UNMUTE_ALL_TARGET_PATHS: {
		bool target = q->op == ESW_UNMUTE_ALL_TARGET_PATHS;
		for (size_t k = 0; k < c->nmpaths;) {
			if ((c->mpaths[k].type >= ES_MUTE_PATH_TYPE_TARGET_PREFIX) == target) {
				free(c->mpaths[k].path);
				c->mpaths[k] = c->mpaths[--c->nmpaths];
			} else {
				k++;
			}
		}
		return 0;
	}
	case ESW_MUTED_PATHS: {
		size_t off = 0;
		for (size_t k = 0; k < c->nmpaths; k++) {
			struct esw_muted_path r = { .type = c->mpaths[k].type, .pathlen = (uint32_t)c->mpaths[k].len };
			memcpy(r.events, c->mpaths[k].events, sizeof r.events);
			size_t rec = (sizeof r + r.pathlen + 1 + 7) & ~(size_t)7;
			if (off + rec > ESW_MAX_REQ - 64) return -E2BIG;
			memset(payload + off, 0, rec);
			memcpy(payload + off, &r, sizeof r);
			memcpy(payload + off + sizeof r, c->mpaths[k].path, r.pathlen + 1);
			off += rec;
		}
		*plen = off;
		return 0;
	}
	case ESW_INVERT_MUTING:
		if (q->arg0 >= ES_MUTE_INVERSION_TYPE_LAST) return -EINVAL;
		c->inverted[q->arg0] = !c->inverted[q->arg0];
		return 0;
	case ESW_MUTING_INVERTED:
		if (q->arg0 >= ES_MUTE_INVERSION_TYPE_LAST) return -EINVAL;
		*arg0 = c->inverted[q->arg0];
		return 0;
	case ESW_SET_MISS_MODE:
		if (q->arg0 > ES_DEADLINE_MISS_MODE_FAIL_CLOSED) return -EINVAL;
		c->miss_mode = q->arg0;
		return 0;
	case ESW_SET_COLOCATE:
		if (q->arg0 > 1) return -EINVAL;
		c->colocate = q->arg0;
		return 0;
	case ESW_SET_DEADLINE_MAX:
		for (uint32_t i = 0; i < q->nevents; i++) {
			uint32_t t = q->events[i];
			if (t != ES_EVENT_TYPE_AUTH_EXEC && t != ES_EVENT_TYPE_AUTH_OPEN) return -EINVAL;
			if (q->arg0 == 0 || q->arg0 > e->cfg.deadline_ms[t == ES_EVENT_TYPE_AUTH_OPEN]) return -ERANGE;
		}
		for (uint32_t i = 0; i < q->nevents; i++)
			c->deadline_ms[q->events[i] == ES_EVENT_TYPE_AUTH_OPEN] = q->arg0;
		return 0;
	case ESW_GET_DEADLINE_MAX:
		if (q->nevents != 1 ||
		    (q->events[0] != ES_EVENT_TYPE_AUTH_EXEC && q->events[0] != ES_EVENT_TYPE_AUTH_OPEN))
			return -EINVAL;
		*arg0 = c->deadline_ms[q->events[0] == ES_EVENT_TYPE_AUTH_OPEN];
		return 0;
	case ESW_SYNC: {
		if (q->nevents != 2) return -EINVAL;
		/* a marker behind everything queued for this client */
		struct builder *b = e->b;
		b_reset(b, SYNC_EVENT, ES_ACTION_TYPE_NOTIFY);
		b->h.id = (uint64_t)q->events[0] | ((uint64_t)q->events[1] << 32);
		b->h.process = b_proc(e, c->pid);
		if (!b_seal(b)) return -ENOMEM;
		uint64_t save = c->gseq;
		client_put(e, c, true);
		c->gseq = save; /* markers are not messages: no sequence number */
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static void on_req_readable(struct es_engine *e, struct client *c)
{
	static uint8_t in[ESW_MAX_REQ], payload[ESW_MAX_REQ];
	for (int i = 0; i < 64 && c->used; i++) {
		ssize_t n = recv(c->reqfd, in, sizeof in, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
		if (n <= 0) {
			client_close(e, c);
			return;
		}
		struct esw_req *q = (struct esw_req *)(void *)in;
		size_t need = sizeof *q;
		if ((size_t)n < need || q->nevents > ESW_MAX_EVENTS) {
			client_close(e, c);
			return;
		}
		need += q->nevents * sizeof(uint32_t);
		const char *path = NULL;
		if (q->pathlen || q->op == ESW_MUTE_PATH || q->op == ESW_UNMUTE_PATH) {
			need += q->pathlen + 1u;
			if ((size_t)n != need || q->pathlen >= PATH_MAX ||
			    in[need - 1] != 0 || memchr(in + need - 1 - q->pathlen, 0, q->pathlen)) {
				client_close(e, c);
				return;
			}
			path = (const char *)in + need - 1 - q->pathlen;
		} else if ((size_t)n != need) {
			client_close(e, c);
			return;
		}
		uint32_t arg0 = 0;
		size_t plen = 0;
		int r = do_request(e, c, q, path, &arg0, payload, &plen);
		if (c->used && r != -EINPROGRESS) reply(c, q, r, arg0, payload, plen);
	}
}

static void on_accept(struct es_engine *e)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) return;
		struct ucred cr;
		socklen_t cl = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0) {
			close(fd);
			continue;
		}
		struct es_engine_proc sp;
		bool ok = cr.uid == 0 || (is_supervised(e, cr.pid, &sp) && sp.es_entitled);
		if (add_client(e, fd, cr.pid, cr.uid) < 0) {
			close(fd);
			continue;
		}
		if (!ok) {
			/* answered after its hello, so the client library gets a clear result */
			struct client *c = NULL;
			for (size_t k = 0; k < MAX_CLIENTS; k++)
				if (e->clients[k].used && e->clients[k].evfd == fd) c = &e->clients[k];
			if (c) {
				send_welcome(e, c, ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED, "not root", -1);
				client_close(e, c);
			}
		}
	}
}

/* ==================================================================================
 * The thread
 * ================================================================================ */

struct cmd {
	int fd; /* -1: publish the status now */
	pid_t pid;
};

static void publish_status(struct es_engine *e);

static void on_cmd(struct es_engine *e)
{
	struct cmd c;
	bool status = false;
	while (read(e->cmd[0], &c, sizeof c) == (ssize_t)sizeof c) {
		if (c.fd < 0) status = true; /* a status request */
		else if (add_client(e, c.fd, c.pid, (uid_t)-1) < 0) close(c.fd);
	}
	if (status) publish_status(e);
}

static void purge_exited_mutes(struct es_engine *e, uint64_t now)
{
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		struct client *c = &e->clients[i];
		for (size_t k = 0; c->used && k < c->nmprocs;)
			if (c->mprocs[k].exited_ns && now - c->mprocs[k].exited_ns > 2000000000ull)
				c->mprocs[k] = c->mprocs[--c->nmprocs];
			else
				k++;
	}
}

static void *engine_main(void *arg)
{
	struct es_engine *e = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	uint64_t last_status = 0;
	bool busy = false;
	colo_init(&e->colo);
	e->base_nice = e->nice = getpriority(PRIO_PROCESS, 0); /* raised with AUTH: set_priority */
	e->nice_why = NO_AUTH_NICE;
	while (!atomic_load(&e->stop)) {
		/* Process records wake this thread only when it sleeps: while they keep coming
		 * it reads the ring every 2 ms itself, one wake-up for many records (an exec
		 * storm makes three records an exec). AUTH never waits on this: the ring is
		 * drained before every fanotify event. */
		int timeout = 1000;
		if (e->ps) {
			procsrc_set_waiting(e->ps, !busy);
			if (!busy) drain_proc(e); /* what came just before the flag flipped */
			else timeout = 2;
		}
		struct epoll_event evs[32];
		if (!e->npend) timeout = spin_timeout(&e->spin, timeout);
		int n = epoll_wait(e->ep, evs, 32, timeout);
		uint64_t before = e->proc_records;
		if (e->ps && n == 0) drain_proc(e);
		for (int i = 0; i < n; i++) {
			uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32);
			uint32_t idx = (uint32_t)evs[i].data.u64;
			switch (kind) {
			case K_LISTEN: on_accept(e); break;
			case K_CMD: on_cmd(e); break;
			case K_TIMER: on_timer(e); break;
			case K_PERM:
				spin_event(&e->spin, now_mono_ns());
				if (e->fan) fan_read_perm(e->fan, on_perm, e); /* each event drains the ring first */
				break;
			case K_NOTIFY:
				e->in_notify_read = true;
				for (int k = 0; k < 16 && e->fan; k++) {
					memo_reset(e); /* one read's worth */
					if (fan_read_notify(e->fan, on_notify, e) <= 0) break;
				}
				memo_reset(e);
				e->in_notify_read = false;
				break;
			case K_PROC: drain_proc(e); break;
			case K_LOAD: on_load_done(e); break;
			case K_EV:
				if (idx < MAX_CLIENTS && e->clients[idx].used) {
					if (evs[i].events & EPOLLOUT) flush_queue(e, &e->clients[idx]);
					if (e->clients[idx].used && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
						on_ev_readable(e, &e->clients[idx]);
				}
				break;
			case K_REQ:
				if (idx < MAX_CLIENTS && e->clients[idx].used) on_req_readable(e, &e->clients[idx]);
				break;
			}
		}
		proctab_reap(e->pt);
		/* one flush per loop turn: NOTIFY messages go out in batches */
		for (size_t k = 0; k < MAX_CLIENTS; k++)
			if (e->clients[k].used && e->clients[k].batch_len) flush_batch(e, &e->clients[k]);
		busy = e->proc_records != before;
		uint64_t now = now_mono_ns();
		if (now - last_status > 250000000ull) {
			purge_exited_mutes(e, now);
			colo_tick(&e->colo, e->cfg.colocate && colo_wanted(e));
			publish_status(e);
			last_status = now;
		}
	}
	colo_done(&e->colo);
	return NULL;
}

int es_engine_start(const struct es_engine_config *cfg, struct es_engine **ret, char *why, size_t whylen)
{
	struct es_engine *e = calloc(1, sizeof *e);
	if (!e) return -ENOMEM;
	e->b = malloc(sizeof *e->b);
	e->b_spare = malloc(sizeof *e->b_spare);
	if (!e->b || !e->b_spare || proctab_new(8192, &e->pt) < 0) {
		snprintf(why, whylen, "out of memory");
		goto fail_nomem;
	}
	e->cfg = *cfg;
	if (!e->cfg.deadline_ms[0]) e->cfg.deadline_ms[0] = DEFAULT_DEADLINE_MS;
	if (!e->cfg.deadline_ms[1]) e->cfg.deadline_ms[1] = DEFAULT_DEADLINE_MS;
	e->self = getpid();
	spin_init(&e->spin, cfg->busy_poll_us);
	e->colo.cpu = -1; /* colo_init runs on the engine thread; status may come first */
	e->colo.why = "starting";
	e->lfd = e->tfd = e->cmd[0] = e->cmd[1] = -1;
	for (size_t k = 0; k < MAX_CLIENTS; k++) e->clients[k].evfd = e->clients[k].reqfd = -1;
	pthread_mutex_init(&e->lock, NULL);
	snapshot_init(&e->status);
	fan_probe(&e->fs);
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	e->load_pipe[0] = e->load_pipe[1] = -1;
	if (e->ep < 0 || e->tfd < 0 || pipe2(e->cmd, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    pipe2(e->load_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(why, whylen, "epoll/timerfd/pipe: %s", strerror(errno));
		goto fail;
	}
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(cfg->sock_path) >= sizeof a.sun_path) {
		snprintf(why, whylen, "socket path too long: %s", cfg->sock_path);
		errno = ENAMETOOLONG;
		goto fail;
	}
	strcpy(a.sun_path, cfg->sock_path);
	unlink(cfg->sock_path);
	e->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (e->lfd < 0 || bind(e->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(e->lfd, 64) < 0) {
		snprintf(why, whylen, "%s: %s", cfg->sock_path, strerror(errno));
		goto fail;
	}
	/* Anyone may connect (a refused client then gets a clear answer); only root and
	 * entitled extensions are served. */
	chmod(cfg->sock_path, 0666);
	ep_add(e, e->lfd, TAG(K_LISTEN, 0), EPOLLIN);
	ep_add(e, e->tfd, TAG(K_TIMER, 0), EPOLLIN);
	ep_add(e, e->cmd[0], TAG(K_CMD, 0), EPOLLIN);
	ep_add(e, e->load_pipe[0], TAG(K_LOAD, 0), EPOLLIN);
	publish_status(e);
	if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
		snprintf(why, whylen, "thread: %s", strerror(errno));
		goto fail;
	}
	*ret = e;
	return 0;
fail:;
	int err = errno ? -errno : -EIO;
	if (e->lfd >= 0) close(e->lfd);
	if (e->tfd >= 0) close(e->tfd);
	if (e->ep >= 0) close(e->ep);
	if (e->cmd[0] >= 0) close(e->cmd[0]);
	if (e->cmd[1] >= 0) close(e->cmd[1]);
	if (e->load_pipe[0] >= 0) close(e->load_pipe[0]);
	if (e->load_pipe[1] >= 0) close(e->load_pipe[1]);
	proctab_free(e->pt);
	free(e->b);
	free(e->b_spare);
	snapshot_done(&e->status);
	pthread_mutex_destroy(&e->lock);
	free(e);
	return err;
fail_nomem:
	proctab_free(e->pt);
	free(e->b);
	free(e->b_spare);
	free(e);
	return -ENOMEM;
}

void es_engine_stop(struct es_engine *e)
{
	if (!e) return;
	atomic_store(&e->stop, true);
	pthread_join(e->thread, NULL);
	if (e->loading) { /* let the worker finish; its source is not wanted any more */
		pthread_join(e->loading->thread, NULL);
		procsrc_free(e->loading->ps);
		free(e->loading);
		e->loading = NULL;
	}
	for (size_t k = 0; k < MAX_CLIENTS; k++) client_close(e, &e->clients[k]);
	close_sources(e);
	close(e->lfd);
	unlink(e->cfg.sock_path);
	close(e->tfd);
	close(e->ep);
	close(e->cmd[0]);
	close(e->cmd[1]);
	close(e->load_pipe[0]);
	close(e->load_pipe[1]);
	proctab_free(e->pt);
	free(e->b);
	free(e->b_spare);
	free(e->sup);
	snapshot_done(&e->status);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void es_engine_set_supervised(struct es_engine *e, const struct es_engine_proc *procs, size_t n)
{
	struct es_engine_proc *v = n ? malloc(n * sizeof *v) : NULL;
	if (n && !v) return;
	if (n) memcpy(v, procs, n * sizeof *v);
	pthread_mutex_lock(&e->lock);
	free(e->sup);
	e->sup = v;
	e->nsup = n;
	pthread_mutex_unlock(&e->lock);
}

int es_engine_adopt(struct es_engine *e, int fd, pid_t pid)
{
	struct cmd c = { fd, pid };
	if (write(e->cmd[1], &c, sizeof c) != (ssize_t)sizeof c) return -errno;
	return 0;
}

static const char *miss_mode_name(uint32_t m)
{
	return m == ES_DEADLINE_MISS_MODE_FAIL_OPEN ? "fail-open" : m == ES_DEADLINE_MISS_MODE_FAIL_CLOSED ? "fail-closed" : "kill";
}

/* The q-quantile of c's response times: the top of the bucket it falls in. */
static uint64_t rtt_quantile(const struct client *c, double q)
{
	uint64_t want = (uint64_t)((double)c->rtt_n * q + 0.999999), seen = 0;
	for (unsigned b = 0; b < RTT_BUCKETS; b++) {
		seen += c->rtt[b];
		if (seen >= want && seen) return rtt_upper(b) < c->rtt_max ? rtt_upper(b) : c->rtt_max;
	}
	return c->rtt_max;
}

static void publish_status(struct es_engine *e)
{
	e->boot_off = boot_to_mono_offset(); /* refreshed here: it moves only across suspend */
	json_t *clients = json_array();
	for (size_t k = 0; k < MAX_CLIENTS; k++) {
		struct client *c = &e->clients[k];
		if (!c->used) continue;
		size_t nsubs = 0;
		for (uint32_t t = 0; t < N_TYPES; t++) nsubs += (size_t)esw_bit(c->subs, t);
		json_array_append_new(clients,
			json_pack("{s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}}", "id", (json_int_t)c->id,
				  "pid", (int)c->pid, "subscriptions", (json_int_t)nsubs, "delivered",
				  (json_int_t)c->delivered, "dropped", (json_int_t)c->dropped, "auth_sent",
				  (json_int_t)c->auth_sent, "verdicts", (json_int_t)c->verdicts, "deadline_misses",
				  (json_int_t)c->misses, "miss_mode", miss_mode_name(c->miss_mode), "colocate", c->colocate, "queued_bytes",
				  (json_int_t)c->q_bytes, "muted_paths", (json_int_t)c->nmpaths, "muted_processes",
				  (json_int_t)c->nmprocs, "auth_response_us", "n", (json_int_t)c->rtt_n, "p50",
				  (json_int_t)rtt_quantile(c, 0.5), "p99", (json_int_t)rtt_quantile(c, 0.99), "max",
				  (json_int_t)c->rtt_max));
	}
	json_t *watch = json_array();
	for (size_t i = 0; i < e->cfg.nwatch; i++) json_array_append_new(watch, json_string(e->cfg.watch[i]));
	struct fan_stats fs = { 0 };
	if (e->fan) fan_stats(e->fan, &fs);
	struct procsrc_stats ps = { 0 };
	if (e->ps) procsrc_stats(e->ps, &ps);
	json_t *sources = json_pack(
		"{s:{s:b, s:b, s:O, s:s}, s:{s:b, s:s, s:s, s:I}}", "fanotify", "permission",
		e->fan && fan_perm_fd(e->fan) >= 0, "notify", e->fan && fan_notify_fd(e->fan) >= 0, "filesystems", watch,
		"why_not",
		e->cfg.nwatch == 0 ? "no filesystem configured (uextd --es-watch DIR)"
		: !e->fs.perm     ? "kernel refuses permission events"
		: e->fan          ? ""
				  : "opened when a client subscribes to file events",
		"process", "active", e->ps != NULL, "kind", e->ps ? procsrc_name(e->ps) : "none", "why_not",
		e->ps ? e->ps_why : "opened when a client subscribes", "lost", (json_int_t)ps.lost);
	json_decref(watch);
	json_t *st = json_pack(
		"{s:o, s:o, s:{s:I, s:I}, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "sources", sources,
		"clients", clients, "deadline_ms", "auth_exec", (json_int_t)e->cfg.deadline_ms[0], "auth_open",
		(json_int_t)e->cfg.deadline_ms[1], "miss_default", e->cfg.fail_closed ? "deny" : "allow",
		"auth_pending", (json_int_t)e->npend, "counters", "perm_events", (json_int_t)fs.perm_events,
		"notify_events", (json_int_t)fs.notify_events, "own_answered", (json_int_t)e->own_answered, "exec_opens",
		(json_int_t)e->exec_opens,
		"default_allow", (json_int_t)e->defaults_allow, "default_deny", (json_int_t)e->defaults_deny,
		"clients_killed", (json_int_t)e->kills, "cached", (json_int_t)e->cached, "kernel_lost",
		(json_int_t)(e->kernel_lost + fs.notify_overflows + fs.perm_overflows + ps.lost), "hash_skipped",
		(json_int_t)e->hash_skipped, "verdict_errors", (json_int_t)e->fan_errors);
	json_object_set_new(st, "colocate",
			    json_pack("{s:i, s:s, s:I, s:I}", "cpu", e->colo.cpu,
				      "why_not", e->cfg.colocate ? e->colo.why : "off (uextd --es-no-colocate)",
				      "wait_ns_per_run", (json_int_t)e->colo.wait_per_run, "moves",
				      (json_int_t)e->colo.moves));
	json_object_set_new(st, "nice",
			    json_pack("{s:i, s:i, s:s}", "value", e->nice, "wanted", e->cfg.nice,
				      "why_not", e->nice_why ? e->nice_why : ""));
	const struct spin *sp = &e->spin;
	json_object_set_new(st, "busy_poll",
			    json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:I}", "max_us", (json_int_t)(sp->max_ns / 1000),
				      "window_us", (json_int_t)(sp->win_ns / 1000), "why_not",
				      sp->max_ns			? ""
				      : e->cfg.busy_poll_us ? "one CPU: the next AUTH could not come while polling"
							    : "off (uextd --es-busy-poll 0)",
				      "events", (json_int_t)sp->events, "caught", (json_int_t)sp->hits, "contended",
				      (json_int_t)sp->contended, "polled_ms", (json_int_t)(sp->polled_ns / 1000000)));
	snapshot_publish(&e->status, st);
}

static bool ask_status(void *arg)
{
	struct es_engine *e = arg;
	struct cmd c = { -1, 0 };
	return write(e->cmd[1], &c, sizeof c) == (ssize_t)sizeof c;
}

json_t *es_engine_status(struct es_engine *e)
{
	return snapshot_get(&e->status, ask_status, e, 200);
}
