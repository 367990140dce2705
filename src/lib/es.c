/* es.c owns the client side of Endpoint Security: connecting to uextd's es engine,
 * turning its wire records (common/eswire.h) into es_message_t, the handler thread, and
 * every es_* call of include/uext/es.h. Design note: docs/es-api.md. */
#include "uext/es.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/eswire.h"
#include "lib/internal.h"

#define API __attribute__((visibility("default")))
#define SYNC_EVENT 0xffffffffu /* engine echo of ESW_SYNC in the event stream */
#define REQ_TIMEOUT_MS 10000

struct sync_req {
	void (*fn)(void *ctx);
	void *ctx;
	struct sync_req *next;
};

struct es_client_s {
	int evsock, reqsock;
	pthread_t thread;
	bool thread_started;
	es_handler_func_t handler;
	void *ctx;
	void (*ctx_release)(void *ctx);
	pthread_mutex_t req_lock; /* one request at a time on reqsock */
	uint32_t req_seq;
	uint64_t supported[ESW_EV_WORDS];
	uint32_t deadline_ms[2];
	audit_token_t self;
	pthread_mutex_t sync_lock;
	struct sync_req *syncs; /* asked, not yet called */
	_Atomic es_deadline_miss_mode_t miss_mode;
	atomic_bool colocate; /* uext_es_set_colocation() */
	int engine_nice;      /* the engine thread's nice, or INT_MIN: unknown */
};

/* What a message carries after the public struct (es_message_t.opaque). */
struct msg_priv {
	atomic_uint refs;
	atomic_uint responded;
	uint64_t id;
	uint32_t nargs, nenv;
	es_string_token_t *args; /* nargs + nenv */
};

static struct msg_priv *priv_of(const es_message_t *m)
{
	return (struct msg_priv *)(uintptr_t)m->opaque;
}

/* ----------------------------------------------------------------------------------
 * Decoding
 * -------------------------------------------------------------------------------- */

struct dec {
	const struct esw_msg *w;
	const char *pool;
	es_process_t *procs;
	es_file_t *files;
	char *pool_copy;
};

static bool idx_ok(uint64_t i, uint32_t n)
{
	return i < n;
}

static es_file_t *file_at(struct dec *d, uint64_t i)
{
	return idx_ok(i, d->w->nfile) ? &d->files[i] : NULL;
}

static es_process_t *proc_at(struct dec *d, uint64_t i)
{
	return idx_ok(i, d->w->nproc) ? &d->procs[i] : NULL;
}

static es_string_token_t str_at(struct dec *d, uint64_t off)
{
	es_string_token_t t = { 0, NULL };
	if (off < d->w->pool_len) {
		t.data = d->pool_copy + off;
		t.length = strlen(t.data);
	}
	return t;
}

/* Fill the event member from w->ev. Returns false when a reference is out of range. */
static bool decode_event(struct dec *d, es_message_t *m, const void *blob)
{
	const uint64_t *ev = d->w->ev;
	es_events_t *e = &m->event;
	switch (m->event_type) {
	case ES_EVENT_TYPE_AUTH_EXEC:
	case ES_EVENT_TYPE_NOTIFY_EXEC:
		e->exec.target = proc_at(d, ev[0]);
		e->exec.script = ev[1] == ESW_NONE ? NULL : file_at(d, ev[1]);
		e->exec.cwd = file_at(d, ev[2]);
		e->exec.last_fd = (int)ev[3];
		e->exec.image_cputype = (int32_t)ev[4];
		e->exec.dyld_exec_path = str_at(d, ev[5]);
		return e->exec.target && e->exec.cwd && (ev[1] == ESW_NONE || e->exec.script);
	case ES_EVENT_TYPE_AUTH_OPEN:
	case ES_EVENT_TYPE_NOTIFY_OPEN:
		e->open.fflag = (int32_t)ev[0];
		e->open.file = file_at(d, ev[1]);
		e->open.uext_fflag_unknown = ev[2] != 0;
		return e->open.file;
	case ES_EVENT_TYPE_NOTIFY_FORK:
		return (e->fork.child = proc_at(d, ev[0])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_EXIT:
		e->exit.stat = (int)ev[0];
		return true;
	case ES_EVENT_TYPE_NOTIFY_CLOSE:
		e->close.modified = ev[0] != 0;
		return (e->close.target = file_at(d, ev[1])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		return (e->write.target = file_at(d, ev[0])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_TRUNCATE:
		return (e->truncate.target = file_at(d, ev[0])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_CREATE:
		e->create.destination_type = (es_destination_type_t)ev[0];
		return (e->create.destination.existing_file = file_at(d, ev[1])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		e->unlink.target = file_at(d, ev[0]);
		e->unlink.parent_dir = file_at(d, ev[1]);
		return e->unlink.target && e->unlink.parent_dir;
	case ES_EVENT_TYPE_NOTIFY_RENAME:
		e->rename.source = file_at(d, ev[0]);
		e->rename.destination_type = (es_destination_type_t)ev[1];
		e->rename.destination.new_path.dir = file_at(d, ev[2]);
		e->rename.destination.new_path.filename = str_at(d, ev[3]);
		return e->rename.source && e->rename.destination.new_path.dir;
	case ES_EVENT_TYPE_NOTIFY_SETMODE:
		e->setmode.mode = (mode_t)ev[0];
		return (e->setmode.target = file_at(d, ev[1])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_SETOWNER:
		e->setowner.uid = (uid_t)ev[0];
		e->setowner.gid = (gid_t)ev[1];
		return (e->setowner.target = file_at(d, ev[2])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_SETUID:
		e->setuid.uid = (uid_t)ev[0];
		return true;
	case ES_EVENT_TYPE_NOTIFY_SETGID:
		e->setgid.gid = (uid_t)ev[0];
		return true;
	case ES_EVENT_TYPE_NOTIFY_SETEUID:
		e->seteuid.euid = (uid_t)ev[0];
		return true;
	case ES_EVENT_TYPE_NOTIFY_SETEGID:
		e->setegid.egid = (uid_t)ev[0];
		return true;
	case ES_EVENT_TYPE_NOTIFY_SETREUID:
		e->setreuid.ruid = (uid_t)ev[0];
		e->setreuid.euid = (uid_t)ev[1];
		return true;
	case ES_EVENT_TYPE_NOTIFY_SETREGID:
		e->setregid.rgid = (uid_t)ev[0];
		e->setregid.egid = (uid_t)ev[1];
		return true;
	case ES_EVENT_TYPE_NOTIFY_SIGNAL:
		e->signal.sig = (int)ev[0];
		e->signal.target = proc_at(d, ev[1]);
		e->signal.instigator = ev[2] == ESW_NONE ? NULL : proc_at(d, ev[2]);
		return e->signal.target != NULL;
	case ES_EVENT_TYPE_NOTIFY_TRACE:
		return (e->trace.target = proc_at(d, ev[0])) != NULL;
	case ES_EVENT_TYPE_NOTIFY_MOUNT:
	case ES_EVENT_TYPE_NOTIFY_UNMOUNT:
	case ES_EVENT_TYPE_NOTIFY_REMOUNT:
		if (d->w->blob_len != sizeof(es_statfs_t)) return false;
		/* mount, unmount and remount all start with the statfs pointer */
		e->mount.statfs = (es_statfs_t *)(uintptr_t)blob;
		if (m->event_type == ES_EVENT_TYPE_NOTIFY_REMOUNT) e->remount.remount_flags = ev[0];
		return true;
	case ES_EVENT_TYPE_NOTIFY_KEXTLOAD:
		e->kextload.identifier = str_at(d, ev[0]);
		return true;
	default:
		return false;
	}
}

static bool table_ok(uint32_t off, uint64_t n, size_t elem, uint32_t size)
{
	return off <= size && n <= (size - off) / (elem ? elem : 1);
}

/* Build a message from one wire record of len bytes. NULL when malformed or no memory. */
static es_message_t *decode(const uint8_t *buf, size_t len)
{
	struct esw_msg w;
	if (len < sizeof w) return NULL;
	memcpy(&w, buf, sizeof w);
	if (w.size != len || w.nargs > 1u << 20 || w.nenv > 1u << 20) return NULL;
	if (!table_ok(w.proc_off, w.nproc, sizeof(struct esw_proc), w.size) ||
	    !table_ok(w.file_off, w.nfile, sizeof(struct esw_file), w.size) ||
	    !table_ok(w.pool_off, w.pool_len, 1, w.size) ||
	    !table_ok(w.args_off, (uint64_t)w.nargs + w.nenv, sizeof(uint32_t), w.size) ||
	    !table_ok(w.blob_off, w.blob_len, 1, w.size))
		return NULL;
	if (w.pool_len == 0 || buf[w.pool_off + w.pool_len - 1] != 0) return NULL;

	size_t nstr = (size_t)w.nargs + w.nenv;
	size_t sz = sizeof(es_message_t) + sizeof(struct msg_priv);
	size_t o_procs = (sz + 15) & ~(size_t)15;
	size_t o_files = o_procs + w.nproc * sizeof(es_process_t);
	size_t o_args = o_files + w.nfile * sizeof(es_file_t);
	size_t o_pool = o_args + nstr * sizeof(es_string_token_t);
	size_t o_blob = (o_pool + w.pool_len + 15) & ~(size_t)15;
	uint8_t *mem = calloc(1, o_blob + w.blob_len);
	if (!mem) return NULL;
	es_message_t *m = (es_message_t *)mem;
	struct msg_priv *p = priv_of(m);
	struct dec d = { .w = &w, .procs = (es_process_t *)(mem + o_procs),
			 .files = (es_file_t *)(mem + o_files), .pool_copy = (char *)(mem + o_pool) };
	memcpy(d.pool_copy, buf + w.pool_off, w.pool_len);
	memcpy(mem + o_blob, buf + w.blob_off, w.blob_len);

	for (uint32_t i = 0; i < w.nfile; i++) {
		struct esw_file f;
		memcpy(&f, buf + w.file_off + i * sizeof f, sizeof f);
		if (f.path >= w.pool_len) goto bad;
		d.files[i].path = str_at(&d, f.path);
		d.files[i].path_truncated = f.truncated != 0;
		d.files[i].stat = f.st;
	}
	for (uint32_t i = 0; i < w.nproc; i++) {
		struct esw_proc q;
		memcpy(&q, buf + w.proc_off + i * sizeof q, sizeof q);
		es_process_t *pr = &d.procs[i];
		pr->audit_token = q.token;
		pr->parent_audit_token = q.parent_token;
		pr->responsible_audit_token = q.token;
		pr->ppid = q.ppid;
		pr->original_ppid = q.original_ppid;
		pr->group_id = q.group_id;
		pr->session_id = q.session_id;
		pr->is_es_client = q.is_es_client != 0;
		if (q.hashed) {
			memcpy(pr->uext_executable_sha256, q.sha256, sizeof q.sha256);
			memcpy(pr->cdhash, q.sha256, sizeof pr->cdhash);
			pr->uext_executable_hashed = true;
		}
		if (!(pr->executable = file_at(&d, q.executable))) goto bad;
		pr->tty = q.tty == ESW_NONE ? NULL : file_at(&d, q.tty);
		if (q.signing_id != ESW_NONE) pr->signing_id = str_at(&d, q.signing_id);
		if (q.team_id != ESW_NONE) pr->team_id = str_at(&d, q.team_id);
		pr->start_time.tv_sec = q.start_sec;
		pr->start_time.tv_usec = q.start_usec;
		pr->cs_validation_category = ES_CS_VALIDATION_CATEGORY_NONE;
	}
	p->args = (es_string_token_t *)(mem + o_args);
	p->nargs = w.nargs;
	p->nenv = w.nenv;
	for (size_t i = 0; i < nstr; i++) {
		uint32_t off;
		memcpy(&off, buf + w.args_off + i * sizeof off, sizeof off);
		if (off >= w.pool_len) goto bad;
		p->args[i] = str_at(&d, off);
	}

	m->version = UEXT_ES_MESSAGE_VERSION;
	m->time.tv_sec = w.time_sec;
	m->time.tv_nsec = w.time_nsec;
	m->mach_time = w.mach_time;
	m->deadline = w.deadline;
	m->seq_num = w.seq_num;
	m->global_seq_num = w.global_seq_num;
	m->event_type = (es_event_type_t)w.event_type;
	m->action_type = (es_action_type_t)w.action_type;
	if (m->action_type == ES_ACTION_TYPE_AUTH) {
		memcpy(m->action.auth.reserved, &w.id, sizeof w.id);
	} else {
		m->action.notify.result_type = ES_RESULT_TYPE_AUTH;
		m->action.notify.result.auth = ES_AUTH_RESULT_ALLOW;
	}
	if (!(m->process = proc_at(&d, w.process))) goto bad;
	if (!decode_event(&d, m, mem + o_blob)) goto bad;
	p->id = w.id;
	atomic_init(&p->refs, 1);
	atomic_init(&p->responded, 0);
	return m;
bad:
	free(mem);
	return NULL;
}

API void es_retain_message(const es_message_t *msg)
{
	atomic_fetch_add_explicit(&priv_of(msg)->refs, 1, memory_order_relaxed);
}

API void es_release_message(const es_message_t *msg)
{
	if (atomic_fetch_sub_explicit(&priv_of(msg)->refs, 1, memory_order_acq_rel) == 1)
		free((void *)(uintptr_t)msg);
}

static const struct msg_priv *exec_priv(const es_event_exec_t *ev)
{
	const es_message_t *m =
		(const es_message_t *)(const void *)((const char *)ev - offsetof(es_message_t, event.exec));
	return priv_of(m);
}

API uint32_t es_exec_arg_count(const es_event_exec_t *ev)
{
	return exec_priv(ev)->nargs;
}
API uint32_t es_exec_env_count(const es_event_exec_t *ev)
{
	return exec_priv(ev)->nenv;
}
API uint32_t es_exec_fd_count(const es_event_exec_t *ev)
{
	(void)ev;
	return 0;
}
API es_string_token_t es_exec_arg(const es_event_exec_t *ev, uint32_t i)
{
	return exec_priv(ev)->args[i];
}
API es_string_token_t es_exec_env(const es_event_exec_t *ev, uint32_t i)
{
	const struct msg_priv *p = exec_priv(ev);
	return p->args[p->nargs + i];
}
API const es_fd_t *es_exec_fd(const es_event_exec_t *ev, uint32_t i)
{
	(void)ev;
	(void)i;
	static const es_fd_t none;
	return &none; /* es_exec_fd_count() is 0: any index is out of range */
}

/* ----------------------------------------------------------------------------------
 * The handler thread
 * -------------------------------------------------------------------------------- */

static void run_syncs(es_client_t *c, struct sync_req *only)
{
	pthread_mutex_lock(&c->sync_lock);
	struct sync_req **pp = &c->syncs, *run = NULL;
	while (*pp) {
		struct sync_req *s = *pp;
		if (!only || s == only) {
			*pp = s->next;
			s->next = run;
			run = s;
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&c->sync_lock);
	while (run) {
		struct sync_req *n = run->next;
		run->fn(run->ctx);
		free(run);
		run = n;
	}
}

/* Co-location (uext_es_set_colocation, uextd/es/colo.h): the handler thread keeps to the
 * CPU uextd's engine stamped on the last AUTH message, so the engine's send wakes it there
 * and its verdict wakes the engine there: two context switches instead of two wake-ups of
 * an idle CPU. It moves before it next waits; a CPU outside its own mask is not followed.
 * While pinned it also runs at the engine's priority when that is higher than its own
 * (uextd raises its engine thread): else a busy CPU would delay it and not the engine,
 * which measures only its own waits. */
struct colo_wait {
	cpu_set_t home;
	bool can;         /* home has more than one CPU */
	int want, pinned; /* CPUs, -1 = none */
	int home_nice, engine_nice; /* engine_nice INT_MIN: unknown */
};

static void colo_pin(struct colo_wait *w, int cpu)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	if (cpu >= 0) CPU_SET(cpu, &one);
	if (pthread_setaffinity_np(pthread_self(), sizeof one, cpu >= 0 ? &one : &w->home) == 0) {
		w->pinned = cpu;
	} else if (cpu >= 0) {
		w->want = -1; /* refused (cpuset, hotplug): not until told again */
	} else { /* home is gone (cpuset changed): every CPU the kernel allows */
		for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &one);
		pthread_setaffinity_np(pthread_self(), sizeof one, &one);
		w->pinned = -1;
	}
	if (w->engine_nice != INT_MIN && w->engine_nice < w->home_nice) /* best effort */
		setpriority(PRIO_PROCESS, 0, w->pinned >= 0 ? w->engine_nice : w->home_nice);
}

static void *reader(void *arg)
{
	es_client_t *c = arg;
	uint8_t *buf = malloc(ESW_MAX_DGRAM);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	struct colo_wait cw = { .want = -1, .pinned = -1 };
	errno = 0;
	cw.home_nice = getpriority(PRIO_PROCESS, 0); /* this thread's */
	cw.engine_nice = errno ? INT_MIN : c->engine_nice;
	if (pthread_getaffinity_np(pthread_self(), sizeof cw.home, &cw.home) != 0) CPU_ZERO(&cw.home);
	cw.can = CPU_COUNT(&cw.home) > 1;
	while (buf) {
		int want = atomic_load_explicit(&c->colocate, memory_order_relaxed) ? cw.want : -1;
		if (want != cw.pinned) colo_pin(&cw, want);
		ssize_t n = recv(c->evsock, buf, ESW_MAX_DGRAM, 0);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) break;
		size_t off = 0;
		while (off + sizeof(struct esw_msg) <= (size_t)n) {
			struct esw_msg w;
			memcpy(&w, buf + off, sizeof w);
			if (w.size < sizeof w || w.size > (size_t)n - off) goto out;
			if (w.action_type == ES_ACTION_TYPE_AUTH)
				cw.want = cw.can && w.cpu && w.cpu <= CPU_SETSIZE && CPU_ISSET(w.cpu - 1, &cw.home)
					  ? (int)w.cpu - 1
					  : -1;
			if (w.event_type == SYNC_EVENT) {
				run_syncs(c, (struct sync_req *)(uintptr_t)w.id);
			} else {
				es_message_t *m = decode(buf + off, w.size);
				if (!m) goto out; /* uextd and libuext disagree: stop, do not guess */
				c->handler(c, m, c->ctx);
				es_release_message(m);
			}
			off += (w.size + 7u) & ~7u;
		}
	}
out:
	free(buf);
	return NULL;
}

/* ----------------------------------------------------------------------------------
 * Connecting
 * -------------------------------------------------------------------------------- */

/* Receive the welcome and the request socket that comes with it. */
static int recv_welcome(int fd, struct esw_welcome *w, int *ret_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { w, sizeof *w };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	int r = uext_lib_wait_readable(fd, REQ_TIMEOUT_MS);
	if (r < 0) return r;
	ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0) return -errno;
	*ret_fd = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(ret_fd, CMSG_DATA(cm), sizeof(int));
	if ((size_t)n != sizeof *w || w->op != ESW_HELLO || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		if (*ret_fd >= 0) close(*ret_fd);
		return -EBADMSG;
	}
	return 0;
}

API es_new_client_result_t uext_es_client_new(es_client_t **ret, uint32_t flags, es_handler_func_t handler,
					      void *ctx, void (*ctx_release)(void *ctx))
{
	if (!ret || !handler || (flags & ~UEXT_ES_CLIENT_DESCENDANTS)) return ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT;
	if (flags & UEXT_ES_CLIENT_DESCENDANTS) return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	int fd = -1;
	int r = uext_ext_es_connect(&fd);
	if (r == -EPERM) return ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED;
	if (r == -ENOTCONN) {
		fd = uext_lib_connect_engine(UEXT_LIB_ENGINE_ES);
		if (fd == -EACCES || fd == -EPERM) return ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED;
		if (fd < 0) return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	} else if (r < 0) {
		return ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	}
	struct esw_hello h = { .op = ESW_HELLO, .version = ESW_VERSION, .flags = flags };
	struct esw_welcome w;
	int reqfd = -1;
	es_new_client_result_t res = ES_NEW_CLIENT_RESULT_ERR_INTERNAL;
	if (send(fd, &h, sizeof h, MSG_NOSIGNAL) != (ssize_t)sizeof h || recv_welcome(fd, &w, &reqfd) < 0)
		goto fail;
	if (w.result != ES_NEW_CLIENT_RESULT_SUCCESS) {
		res = (es_new_client_result_t)w.result;
		goto fail;
	}
	if (reqfd < 0) goto fail;
	es_client_t *c = calloc(1, sizeof *c);
	if (!c) goto fail;
	c->evsock = fd;
	c->reqsock = reqfd;
	c->handler = handler;
	c->ctx = ctx;
	c->ctx_release = ctx_release;
	memcpy(c->supported, w.supported, sizeof c->supported);
	memcpy(c->deadline_ms, w.deadline_ms, sizeof c->deadline_ms);
	c->self = w.self;
	c->engine_nice = w.engine_nice ? (int)w.engine_nice - 64 : INT_MIN;
	pthread_mutex_init(&c->req_lock, NULL);
	pthread_mutex_init(&c->sync_lock, NULL);
	if (pthread_create(&c->thread, NULL, reader, c) != 0) {
		pthread_mutex_destroy(&c->req_lock);
		pthread_mutex_destroy(&c->sync_lock);
		free(c);
		goto fail;
	}
	c->thread_started = true;
	*ret = c;
	return ES_NEW_CLIENT_RESULT_SUCCESS;
fail:
	if (reqfd >= 0) close(reqfd);
	close(fd);
	return res;
}

API es_return_t es_delete_client(es_client_t *c)
{
	if (!c) return ES_RETURN_SUCCESS;
	if (c->thread_started && pthread_equal(pthread_self(), c->thread)) return ES_RETURN_ERROR;
	/* uextd answers what this client still owes as soon as it sees the socket close. */
	shutdown(c->evsock, SHUT_RDWR);
	if (c->thread_started) pthread_join(c->thread, NULL);
	run_syncs(c, NULL);
	close(c->evsock);
	close(c->reqsock);
	pthread_mutex_destroy(&c->req_lock);
	pthread_mutex_destroy(&c->sync_lock);
	if (c->ctx_release) c->ctx_release(c->ctx);
	free(c);
	return ES_RETURN_SUCCESS;
}

/* ----------------------------------------------------------------------------------
 * Requests
 * -------------------------------------------------------------------------------- */

/* One request and its reply. *payload (when not NULL) is malloc'ed. Returns the reply's
 * result (0 or -errno), or -errno for a transport failure. */
static int request(es_client_t *c, uint32_t op, uint32_t arg0, const audit_token_t *token, const uint32_t *events,
		   size_t nevents, const char *path, uint32_t *ret_arg0, void **payload, size_t *payload_len)
{
	size_t pathlen = path ? strlen(path) : 0;
	if (nevents > ESW_MAX_EVENTS || pathlen >= PATH_MAX) return -EINVAL;
	size_t len = sizeof(struct esw_req) + nevents * sizeof(uint32_t) + (path ? pathlen + 1 : 0);
	struct esw_req *q = calloc(1, len);
	uint8_t *rbuf = malloc(ESW_MAX_REQ);
	int r = -ENOMEM;
	if (!q || !rbuf) goto out;
	q->op = op;
	q->arg0 = arg0;
	q->nevents = (uint32_t)nevents;
	q->pathlen = path ? (uint32_t)pathlen : 0;
	if (token) q->token = *token;
	if (nevents) memcpy(q->events, events, nevents * sizeof(uint32_t));
	if (path) memcpy((char *)q->events + nevents * sizeof(uint32_t), path, pathlen + 1);
	pthread_mutex_lock(&c->req_lock);
	q->seq = ++c->req_seq;
	if (send(c->reqsock, q, len, MSG_NOSIGNAL) != (ssize_t)len) {
		r = -errno;
	} else {
		for (;;) {
			r = uext_lib_wait_readable(c->reqsock, REQ_TIMEOUT_MS);
			if (r < 0) break;
			ssize_t n = recv(c->reqsock, rbuf, ESW_MAX_REQ, 0);
			if (n <= 0) {
				r = n < 0 ? -errno : -ECONNRESET;
				break;
			}
			struct esw_rep rep;
			if ((size_t)n < sizeof rep) {
				r = -EBADMSG;
				break;
			}
			memcpy(&rep, rbuf, sizeof rep);
			if (rep.seq != q->seq) continue; /* a reply to a request that timed out */
			if (rep.len != (size_t)n - sizeof rep) {
				r = -EBADMSG;
				break;
			}
			r = rep.result;
			if (ret_arg0) *ret_arg0 = rep.arg0;
			if (payload) {
				*payload = NULL;
				*payload_len = rep.len;
				if (rep.len && !(*payload = malloc(rep.len))) r = -ENOMEM;
				else if (rep.len) memcpy(*payload, rbuf + sizeof rep, rep.len);
			}
			break;
		}
	}
	pthread_mutex_unlock(&c->req_lock);
out:
	free(q);
	free(rbuf);
	return r;
}

static es_return_t ret_of(int r)
{
	return r == 0 ? ES_RETURN_SUCCESS : ES_RETURN_ERROR;
}

/* Copy an event list into the wire's u32s; types >= LAST are dropped (Apple ignores them). */
static int events_u32(const es_event_type_t *events, size_t n, uint32_t **ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	if (n > ESW_MAX_EVENTS) return -EINVAL;
	if (n == 0) return 0;
	uint32_t *v = malloc(n * sizeof *v);
	if (!v) return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if ((uint32_t)events[i] < ES_EVENT_TYPE_LAST) v[k++] = (uint32_t)events[i];
	*ret = v;
	*ret_n = k;
	return 0;
}

static es_return_t events_request(es_client_t *c, uint32_t op, uint32_t arg0, const audit_token_t *tok,
				  const es_event_type_t *events, size_t n, const char *path, bool need_events)
{
	if (!c || (n && !events)) return ES_RETURN_ERROR;
	uint32_t *v;
	size_t k;
	if (events_u32(events, n, &v, &k) < 0) return ES_RETURN_ERROR;
	int r = 0;
	if (!(need_events && k == 0))
		r = request(c, op, arg0, tok, v, k, path, NULL, NULL, NULL);
	free(v);
	return ret_of(r);
}

API es_return_t es_subscribe(es_client_t *c, const es_event_type_t *events, uint32_t n)
{
	return events_request(c, ESW_SUBSCRIBE, 0, NULL, events, n, NULL, true);
}

API es_return_t es_unsubscribe(es_client_t *c, const es_event_type_t *events, uint32_t n)
{
	return events_request(c, ESW_UNSUBSCRIBE, 0, NULL, events, n, NULL, true);
}

API es_return_t es_unsubscribe_all(es_client_t *c)
{
	return c ? ret_of(request(c, ESW_UNSUBSCRIBE_ALL, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL)) : ES_RETURN_ERROR;
}

API es_return_t es_subscriptions(es_client_t *c, size_t *count, es_event_type_t **subs)
{
	if (!c || !count || !subs) return ES_RETURN_ERROR;
	void *p = NULL;
	size_t len = 0;
	int r = request(c, ESW_SUBSCRIPTIONS, 0, NULL, NULL, 0, NULL, NULL, &p, &len);
	if (r < 0) return ES_RETURN_ERROR;
	if (len % sizeof(uint32_t)) {
		free(p);
		return ES_RETURN_ERROR;
	}
	size_t n = len / sizeof(uint32_t);
	es_event_type_t *v = n ? malloc(n * sizeof *v) : NULL;
	if (n && !v) {
		free(p);
		return ES_RETURN_ERROR;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t t;
		memcpy(&t, (uint8_t *)p + i * sizeof t, sizeof t);
		v[i] = (es_event_type_t)t;
	}
	free(p);
	*count = n;
	*subs = v;
	return ES_RETURN_SUCCESS;
}

/* ----------------------------------------------------------------------------------
 * Verdicts
 * -------------------------------------------------------------------------------- */

static uint64_t now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static es_respond_result_t respond(es_client_t *c, const es_message_t *m, uint32_t flags, bool cache)
{
	struct msg_priv *p = priv_of(m);
	if (atomic_exchange(&p->responded, 1)) return ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE;
	if (m->deadline && now_mono() > m->deadline) return ES_RESPOND_RESULT_NOT_FOUND;
	struct esw_verdict v = { .op = ESW_VERDICT, .flags = flags, .id = p->id, .cache = cache };
	/* Blocking send: uextd always reads verdicts, so this waits at most for buffer space. */
	if (send(c->evsock, &v, sizeof v, MSG_NOSIGNAL) != (ssize_t)sizeof v) return ES_RESPOND_RESULT_ERR_INTERNAL;
	return ES_RESPOND_RESULT_SUCCESS;
}

API es_respond_result_t es_respond_auth_result(es_client_t *c, const es_message_t *m, es_auth_result_t result,
					       bool cache)
{
	if (!c || !m || (result != ES_AUTH_RESULT_ALLOW && result != ES_AUTH_RESULT_DENY))
		return ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT;
	if (m->action_type != ES_ACTION_TYPE_AUTH || m->event_type == ES_EVENT_TYPE_AUTH_OPEN)
		return ES_RESPOND_RESULT_ERR_EVENT_TYPE;
	return respond(c, m, result == ES_AUTH_RESULT_ALLOW ? UINT32_MAX : 0, cache);
}

API es_respond_result_t es_respond_flags_result(es_client_t *c, const es_message_t *m, uint32_t authorized_flags,
						bool cache)
{
	if (!c || !m) return ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT;
	if (m->action_type != ES_ACTION_TYPE_AUTH || m->event_type != ES_EVENT_TYPE_AUTH_OPEN)
		return ES_RESPOND_RESULT_ERR_EVENT_TYPE;
	/* Linux allows or denies the whole open (es.h): decide here, send the decision. */
	uint32_t fflag = (uint32_t)m->event.open.fflag;
	bool allow = (fflag & ~authorized_flags) == 0;
	return respond(c, m, allow ? UINT32_MAX : 0, cache && authorized_flags == UINT32_MAX);
}

API es_clear_cache_result_t es_clear_cache(es_client_t *c)
{
	if (!c) return ES_CLEAR_CACHE_RESULT_ERR_INTERNAL;
	int r = request(c, ESW_CLEAR_CACHE, 0, NULL, NULL, 0, NULL, NULL, NULL, NULL);
	return r == 0 ? ES_CLEAR_CACHE_RESULT_SUCCESS
		      : r == -EAGAIN ? ES_CLEAR_CACHE_RESULT_ERR_THROTTLE : ES_CLEAR_CACHE_RESULT_ERR_INTERNAL;
}

/* ----------------------------------------------------------------------------------
 * Muting
 * -------------------------------------------------------------------------------- */

API es_return_t es_mute_process(es_client_t *c, const audit_token_t *t)
{
	return t ? events_request(c, ESW_MUTE_PROCESS, 0, t, NULL, 0, NULL, false) : ES_RETURN_ERROR;
}
API es_return_t es_mute_process_events(es_client_t *c, const audit_token_t *t, const es_event_type_t *ev, size_t n)
{
	return t ? events_request(c, ESW_MUTE_PROCESS, 0, t, ev, n, NULL, true) : ES_RETURN_ERROR;
}
API es_return_t es_unmute_process(es_client_t *c, const audit_token_t *t)
{
	return t ? events_request(c, ESW_UNMUTE_PROCESS, 0, t, NULL, 0, NULL, false) : ES_RETURN_ERROR;
}
API es_return_t es_unmute_process_events(es_client_t *c, const audit_token_t *t, const es_event_type_t *ev,
					 size_t n)
{
	return t ? events_request(c, ESW_UNMUTE_PROCESS, 0, t, ev, n, NULL, true) : ES_RETURN_ERROR;
}

static bool path_type_ok(es_mute_path_type_t type)
{
	return type >= ES_MUTE_PATH_TYPE_PREFIX && type <= ES_MUTE_PATH_TYPE_TARGET_LITERAL;
}

API es_return_t es_mute_path(es_client_t *c, const char *path, es_mute_path_type_t type)
{
	if (!path || !path_type_ok(type)) return ES_RETURN_ERROR;
	return events_request(c, ESW_MUTE_PATH, (uint32_t)type, NULL, NULL, 0, path, false);
}
API es_return_t es_mute_path_events(es_client_t *c, const char *path, es_mute_path_type_t type,
				    const es_event_type_t *ev, size_t n)
{
	if (!path || !path_type_ok(type)) return ES_RETURN_ERROR;
	return events_request(c, ESW_MUTE_PATH, (uint32_t)type, NULL, ev, n, path, true);
}
API es_return_t es_unmute_path(es_client_t *c, const char *path, es_mute_path_type_t type)
{
	if (!path || !path_type_ok(type)) return ES_RETURN_ERROR;
	return events_request(c, ESW_UNMUTE_PATH, (uint32_t)type, NULL, NULL, 0, path, false);
}
API es_return_t es_unmute_path_events(es_client_t *c, const char *path, es_mute_path_type_t type,
				      const es_event_type_t *ev, size_t n)
{
	if (!path || !path_type_ok(type)) return ES_RETURN_ERROR;
	return events_request(c, ESW_UNMUTE_PATH, (uint32_t)type, NULL, ev, n, path, true);
}
API es_return_t es_unmute_all_paths(es_client_t *c)
{
	return events_request(c, ESW_UNMUTE_ALL_PATHS, 0, NULL, NULL, 0, NULL, false);
}
API es_return_t es_unmute_all_target_paths(es_client_t *c)
{
	return events_request(c, ESW_UNMUTE_ALL_TARGET_PATHS, 0, NULL, NULL, 0, NULL, false);
}

/* The event types of a bitset, as a malloc'ed array. */
static es_event_type_t *bits_to_events(const uint64_t *bits, size_t *ret_n)
{
	size_t n = 0;
	for (uint32_t t = 0; t < ES_EVENT_TYPE_LAST; t++) n += (size_t)esw_bit(bits, t);
	es_event_type_t *v = malloc((n ? n : 1) * sizeof *v);
	if (!v) return NULL;
	n = 0;
	for (uint32_t t = 0; t < ES_EVENT_TYPE_LAST; t++)
		if (esw_bit(bits, t)) v[n++] = (es_event_type_t)t;
	*ret_n = n;
	return v;
}

API es_return_t es_muted_processes_events(es_client_t *c, es_muted_processes_t **ret)
{
	if (!c || !ret) return ES_RETURN_ERROR;
	void *p;
	size_t len;
	if (request(c, ESW_MUTED_PROCESSES, 0, NULL, NULL, 0, NULL, NULL, &p, &len) < 0) return ES_RETURN_ERROR;
	size_t n = len / sizeof(struct esw_muted_proc);
	es_muted_processes_t *mp = calloc(1, sizeof *mp);
	es_muted_process_t *v = calloc(n ? n : 1, sizeof *v);
	bool ok = mp && v && len % sizeof(struct esw_muted_proc) == 0;
	for (size_t i = 0; ok && i < n; i++) {
		struct esw_muted_proc r;
		memcpy(&r, (uint8_t *)p + i * sizeof r, sizeof r);
		v[i].audit_token = r.token;
		v[i].events = bits_to_events(r.events, &v[i].event_count);
		ok = v[i].events != NULL;
		mp->count = i + 1;
	}
	free(p);
	if (mp) mp->processes = v;
	if (!ok) {
		if (mp) es_release_muted_processes(mp);
		else free(v);
		return ES_RETURN_ERROR;
	}
	*ret = mp;
	return ES_RETURN_SUCCESS;
}

API void es_release_muted_processes(es_muted_processes_t *mp)
{
	if (!mp) return;
	for (size_t i = 0; i < mp->count; i++) free((void *)(uintptr_t)mp->processes[i].events);
	free((void *)(uintptr_t)mp->processes);
	free(mp);
}

API es_return_t es_muted_processes(es_client_t *c, size_t *count, audit_token_t **tokens)
{
	if (!count || !tokens) return ES_RETURN_ERROR;
	es_muted_processes_t *mp;
	if (es_muted_processes_events(c, &mp) != ES_RETURN_SUCCESS) return ES_RETURN_ERROR;
	audit_token_t *v = mp->count ? malloc(mp->count * sizeof *v) : NULL;
	if (mp->count && !v) {
		es_release_muted_processes(mp);
		return ES_RETURN_ERROR;
	}
	for (size_t i = 0; i < mp->count; i++) v[i] = mp->processes[i].audit_token;
	*count = mp->count;
	*tokens = v;
	es_release_muted_processes(mp);
	return ES_RETURN_SUCCESS;
}

API es_return_t es_muted_paths_events(es_client_t *c, es_muted_paths_t **ret)
{
	if (!c || !ret) return ES_RETURN_ERROR;
	void *p;
	size_t len;
	if (request(c, ESW_MUTED_PATHS, 0, NULL, NULL, 0, NULL, NULL, &p, &len) < 0) return ES_RETURN_ERROR;
	/* Two passes: count, then build. */
	size_t n = 0, off = 0;
	bool ok = true;
	while (ok && off < len) {
		struct esw_muted_path r;
		if (len - off < sizeof r) {
			ok = false;
			break;
		}
		memcpy(&r, (uint8_t *)p + off, sizeof r);
		size_t rec = (sizeof r + r.pathlen + 1 + 7) & ~(size_t)7;
		if (r.pathlen > len || rec > len - off || ((char *)p)[off + sizeof r + r.pathlen] != 0) ok = false;
		off += rec;
		n++;
	}
	es_muted_paths_t *mp = ok ? calloc(1, sizeof *mp) : NULL;
	es_muted_path_t *v = ok ? calloc(n ? n : 1, sizeof *v) : NULL;
	ok = mp && v;
	off = 0;
	for (size_t i = 0; ok && i < n; i++) {
		struct esw_muted_path r;
		memcpy(&r, (uint8_t *)p + off, sizeof r);
		char *s = strdup((char *)p + off + sizeof r);
		v[i].type = (es_mute_path_type_t)r.type;
		v[i].path.data = s;
		v[i].path.length = s ? strlen(s) : 0;
		v[i].events = bits_to_events(r.events, &v[i].event_count);
		ok = s && v[i].events;
		mp->count = i + 1;
		off += (sizeof r + r.pathlen + 1 + 7) & ~(size_t)7;
	}
	free(p);
	if (mp) mp->paths = v;
	if (!ok) {
		if (mp) es_release_muted_paths(mp);
		else free(v);
		return ES_RETURN_ERROR;
	}
	*ret = mp;
	return ES_RETURN_SUCCESS;
}

API void es_release_muted_paths(es_muted_paths_t *mp)
{
	if (!mp) return;
	for (size_t i = 0; i < mp->count; i++) {
		free((void *)(uintptr_t)mp->paths[i].events);
		free((void *)(uintptr_t)mp->paths[i].path.data);
	}
	free((void *)(uintptr_t)mp->paths);
	free(mp);
}

API es_return_t es_invert_muting(es_client_t *c, es_mute_inversion_type_t type)
{
	if (!c || type >= ES_MUTE_INVERSION_TYPE_LAST) return ES_RETURN_ERROR;
	return ret_of(request(c, ESW_INVERT_MUTING, (uint32_t)type, NULL, NULL, 0, NULL, NULL, NULL, NULL));
}

API es_mute_inverted_return_t es_muting_inverted(es_client_t *c, es_mute_inversion_type_t type)
{
	if (!c || type >= ES_MUTE_INVERSION_TYPE_LAST) return ES_MUTE_INVERTED_ERROR;
	uint32_t inv = 0;
	int r = request(c, ESW_MUTING_INVERTED, (uint32_t)type, NULL, NULL, 0, NULL, &inv, NULL, NULL);
	if (r < 0) return ES_MUTE_INVERTED_ERROR;
	return inv ? ES_MUTE_INVERTED : ES_MUTE_NOT_INVERTED;
}

/* ----------------------------------------------------------------------------------
 * Deadlines and sync
 * -------------------------------------------------------------------------------- */

API es_return_t es_set_deadline_miss_mode(es_client_t *c, es_deadline_miss_mode_t mode)
{
	if (!c || mode > ES_DEADLINE_MISS_MODE_FAIL_CLOSED) return ES_RETURN_ERROR;
	int r = request(c, ESW_SET_MISS_MODE, (uint32_t)mode, NULL, NULL, 0, NULL, NULL, NULL, NULL);
	if (r == 0) atomic_store(&c->miss_mode, mode);
	return ret_of(r);
}

API es_return_t es_get_deadline_miss_mode(es_client_t *c, es_deadline_miss_mode_t *mode)
{
	if (!c || !mode) return ES_RETURN_ERROR;
	*mode = atomic_load(&c->miss_mode);
	return ES_RETURN_SUCCESS;
}

API es_return_t es_set_deadline_max_milliseconds(es_client_t *c, const es_event_type_t *events, uint32_t n,
						 uint32_t ms)
{
	return events_request(c, ESW_SET_DEADLINE_MAX, ms, NULL, events, n, NULL, true);
}

API es_return_t es_get_deadline_max_milliseconds(es_client_t *c, es_event_type_t event, uint32_t *ms)
{
	if (!c || !ms) return ES_RETURN_ERROR;
	uint32_t ev = (uint32_t)event, v = 0;
	int r = request(c, ESW_GET_DEADLINE_MAX, 0, NULL, &ev, 1, NULL, &v, NULL, NULL);
	if (r < 0) return ES_RETURN_ERROR;
	*ms = v;
	return ES_RETURN_SUCCESS;
}

API es_return_t es_set_deadline_min_milliseconds(es_client_t *c, const es_event_type_t *events, uint32_t n,
						 uint32_t ms)
{
	(void)events;
	(void)n;
	(void)ms;
	return ES_RETURN_ERROR; /* only descendants clients, which uext does not offer yet */
}

API es_return_t es_get_deadline_min_milliseconds(es_client_t *c, es_event_type_t event, uint32_t *ms)
{
	(void)event;
	if (!c || !ms) return ES_RETURN_ERROR;
	*ms = 0;
	return ES_RETURN_SUCCESS;
}

API es_return_t es_sync_client_f(es_client_t *c, void (*fn)(void *ctx), void *ctx)
{
	if (!fn) return ES_RETURN_ERROR;
	if (!c) {
		fn(ctx);
		return ES_RETURN_SUCCESS;
	}
	if (c->thread_started && pthread_equal(pthread_self(), c->thread)) return ES_RETURN_ERROR;
	struct sync_req *s = calloc(1, sizeof *s);
	if (!s) return ES_RETURN_ERROR;
	s->fn = fn;
	s->ctx = ctx;
	pthread_mutex_lock(&c->sync_lock);
	s->next = c->syncs;
	c->syncs = s;
	pthread_mutex_unlock(&c->sync_lock);
	/* uextd puts a marker carrying s behind every message queued for this client; the
	 * handler thread runs fn when it reaches it (or es_delete_client does). */
	uint32_t lo = (uint32_t)(uintptr_t)s, hi = (uint32_t)((uint64_t)(uintptr_t)s >> 32);
	uint32_t words[2] = { lo, hi };
	int r = request(c, ESW_SYNC, 0, NULL, words, 2, NULL, NULL, NULL, NULL);
	if (r < 0) {
		pthread_mutex_lock(&c->sync_lock);
		struct sync_req **pp = &c->syncs;
		while (*pp && *pp != s) pp = &(*pp)->next;
		bool found = *pp != NULL;
		if (found) *pp = s->next;
		pthread_mutex_unlock(&c->sync_lock);
		if (!found) return ES_RETURN_SUCCESS; /* already run */
		free(s);
		return ES_RETURN_ERROR;
	}
	return ES_RETURN_SUCCESS;
}

/* uext only: the handler thread follows uextd's engine CPU (the reader, above). */
API es_return_t uext_es_set_colocation(es_client_t *c, bool on)
{
	if (!c) return ES_RETURN_ERROR;
	int r = request(c, ESW_SET_COLOCATE, on, NULL, NULL, 0, NULL, NULL, NULL, NULL);
	if (r == 0) atomic_store(&c->colocate, on);
	return ret_of(r);
}

/* uext only: the audit token of this process as uextd sees it (to mute oneself). */
API es_return_t uext_es_client_self_token(es_client_t *c, audit_token_t *ret)
{
	if (!c || !ret) return ES_RETURN_ERROR;
	*ret = c->self;
	return ES_RETURN_SUCCESS;
}
