/* control.c owns the control socket, its connections and the requests parked until an
 * extension reaches the state they wait for. Decisions are manager.c's. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/ipc.h"
#include "common/util.h"
#include "log.h"

#define MAX_CONNS 64
#define MAX_WAITERS 256
#define DEFAULT_WAIT_MS 10000u
#define MAX_WAIT_MS 600000u

enum wait_for {
	WAIT_RUNNING, /* running, or a state where it will not run without help */
	WAIT_STOPPED, /* no process */
	WAIT_GONE,    /* no longer installed */
};

struct conn {
	int fd;
	uid_t uid;
	pid_t pid;
	bool admin;
	struct control *c;
};

struct waiter {
	struct conn *conn;
	uint32_t seq;
	char ident[256];
	enum wait_for what;
	char msg[512]; /* the message of the request that parked it */
	struct loop_timer *timer;
	struct control *c;
	bool used;
};

/* An install being staged by a worker: its reply goes to conn, if still connected. */
struct pending_install {
	struct control *c;
	struct conn *conn; /* NULL once the client went away */
	uint32_t seq, flags, timeout_ms;
};

struct control {
	struct loop *loop;
	struct manager *m;
	int lfd;
	char path[108];
	gid_t admin_gid;
	bool have_admin_gid;
	struct conn *conns[MAX_CONNS];
	struct waiter waiters[MAX_WAITERS];
	struct pending_install *installs[MAX_CONNS];
};

static void conn_close(struct control *c, struct conn *cn)
{
	for (unsigned i = 0; i < MAX_WAITERS; i++) {
		struct waiter *w = &c->waiters[i];
		if (w->used && w->conn == cn) {
			loop_timer_cancel(c->loop, w->timer);
			w->used = false;
		}
	}
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		if (c->conns[i] == cn) c->conns[i] = NULL;
		if (c->installs[i] && c->installs[i]->conn == cn) c->installs[i]->conn = NULL;
	}
	loop_remove_fd(c->loop, cn->fd);
	close(cn->fd);
	free(cn);
}

static void send_reply(struct control *c, struct conn *cn, struct ipc_msg *rep)
{
	/* The socket is non-blocking: a client that does not read its replies is dropped
	 * rather than allowed to stall the manager. */
	int r = ipc_send(cn->fd, rep);
	if (r < 0) {
		ulog(LOG_DEBUG, "control: reply to pid %d lost: %s", (int)cn->pid, strerror(-r));
		conn_close(c, cn);
	}
}

static void put_view(struct manager *m, const char *ident, struct ipc_msg *rep)
{
	struct ext_view v;
	if (manager_view(m, ident, &v) < 0) return;
	ipc_put_str(rep, T_STATE, v.reg->state);
	ipc_put_i32(rep, T_PID, v.pid);
	ipc_put_str(rep, T_VERSION, v.reg->version);
}

/* 1 when the waiter's condition holds (or can no longer be reached), else 0. */
static int waiter_done(struct control *c, struct waiter *w, int *ret_err, char *msg, size_t msglen)
{
	struct ext_view v;
	int r = manager_view(c->m, w->ident, &v);
	*ret_err = 0;
	switch (w->what) {
	case WAIT_GONE:
		return r == -ENOENT;
	case WAIT_STOPPED:
		return r == -ENOENT || v.run == RUN_STOPPED;
	case WAIT_RUNNING:
		if (r == -ENOENT) {
			*ret_err = -ENOENT;
			snprintf(msg, msglen, "'%s' is no longer installed", w->ident);
			return 1;
		}
		if (v.run == RUN_RUNNING) return 1;
		if (strcmp(v.reg->state, "activated_enabled") != 0) {
			/* Failed, waiting for approval, disabled: it will not run by itself. */
			if (strcmp(v.reg->state, "failed") == 0) {
				*ret_err = -ECHILD;
				snprintf(msg, msglen, "'%s' failed: %s", w->ident, v.reg->reason);
			}
			return 1;
		}
		return 0;
	}
	return 1;
}

static void waiter_finish(struct control *c, struct waiter *w, int err, const char *msg)
{
	struct ipc_msg rep;
	loop_timer_cancel(c->loop, w->timer);
	w->used = false;
	if (ipc_reply_init(&rep, &(struct ipc_msg){ .seq = w->seq }, err, msg) == 0) {
		put_view(c->m, w->ident, &rep);
		send_reply(c, w->conn, &rep);
		ipc_msg_done(&rep);
	}
}

static void on_change(struct manager *m, const char *ident, void *data)
{
	struct control *c = data;
	(void)m;
	for (unsigned i = 0; i < MAX_WAITERS; i++) {
		struct waiter *w = &c->waiters[i];
		if (!w->used || (strcmp(ident, "*") != 0 && strcmp(w->ident, ident) != 0)) continue;
		int err;
		char msg[512];
		snprintf(msg, sizeof msg, "%s", w->msg);
		if (waiter_done(c, w, &err, msg, sizeof msg)) waiter_finish(c, w, err, msg);
	}
}

static void on_wait_timeout(struct loop *l, struct loop_timer *t, void *data)
{
	struct waiter *w = data;
	char msg[1024];
	(void)l;
	(void)t;
	w->timer = NULL;
	snprintf(msg, sizeof msg, "%s; timed out waiting for '%s' to be %s", w->msg, w->ident,
		 w->what == WAIT_RUNNING ? "running" : w->what == WAIT_STOPPED ? "stopped" : "removed");
	waiter_finish(w->c, w, -ETIMEDOUT, msg);
}

/* Park the request until the condition holds; answers at once if it already does. */
static void park(struct control *c, struct conn *cn, uint32_t seq, uint32_t ms, const char *ident,
		 enum wait_for what, const char *msg)
{
	if (ms > MAX_WAIT_MS) ms = MAX_WAIT_MS;
	struct waiter *w = NULL;
	for (unsigned i = 0; i < MAX_WAITERS && !w; i++)
		if (!c->waiters[i].used) w = &c->waiters[i];
	struct ipc_msg rep;
	if (!w) {
		if (ipc_reply_init(&rep, &(struct ipc_msg){ .seq = seq }, -EBUSY, "too many waiting requests") == 0) {
			send_reply(c, cn, &rep);
			ipc_msg_done(&rep);
		}
		return;
	}
	*w = (struct waiter){ .conn = cn, .seq = seq, .what = what, .c = c, .used = true };
	strlcpy_(w->ident, ident, sizeof w->ident);
	strlcpy_(w->msg, msg, sizeof w->msg);
	int err;
	char m2[512];
	snprintf(m2, sizeof m2, "%s", msg);
	if (waiter_done(c, w, &err, m2, sizeof m2)) {
		waiter_finish(c, w, err, m2);
		return;
	}
	w->timer = loop_timer_add(c->loop, ms, on_wait_timeout, w);
}

static uint32_t req_timeout(const struct ipc_msg *req)
{
	uint32_t ms = DEFAULT_WAIT_MS;
	ipc_get_u32(req, T_TIMEOUT, &ms);
	return ms;
}

static void on_installed(struct manager *m, int err, const char *ident, const char *msg, void *data)
{
	struct pending_install *p = data;
	struct control *c = p->c;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (c->installs[i] == p) c->installs[i] = NULL;
	struct conn *cn = p->conn;
	if (cn && err == 0 && (p->flags & IPC_F_WAIT) && *ident) {
		park(c, cn, p->seq, p->timeout_ms, ident, WAIT_RUNNING, msg);
	} else if (cn) {
		struct ipc_msg rep;
		if (ipc_reply_init(&rep, &(struct ipc_msg){ .seq = p->seq }, err, msg) == 0) {
			if (*ident) put_view(m, ident, &rep);
			send_reply(c, cn, &rep);
			ipc_msg_done(&rep);
		}
	}
	free(p);
}

static bool is_mutation(uint16_t type)
{
	switch (type) {
	case CTL_STATUS:
	case CTL_LIST:
	case CTL_HISTORY:
	case CTL_WAIT:
		return false;
	default:
		return true; /* including prefs reads: preferences can hold secrets */
	}
}

static void handle(struct control *c, struct conn *cn, struct ipc_msg *req)
{
	struct manager *m = c->m;
	struct ipc_msg rep = { 0 };
	char msg[1024] = "";
	const char *ident = NULL;
	uint32_t flags = 0;
	int r = 0;
	ipc_get_str(req, T_IDENT, &ident);
	ipc_get_u32(req, T_FLAGS, &flags);
	manager_refresh_policy(m); /* an edited policy.json applies to this very request */

	if (is_mutation(req->type) && !cn->admin) {
		ulog(LOG_NOTICE, "control: %s refused for uid %u pid %d (not root or uext-admin)", ipc_type_name(req->type),
		     (unsigned)cn->uid, (int)cn->pid);
		if (ipc_reply_init(&rep, req, -EACCES, "permission denied: root or group uext-admin required") == 0)
			goto send;
		return;
	}

	switch (req->type) {
	case CTL_STATUS:
	case CTL_LIST: {
		char *j = req->type == CTL_STATUS ? manager_status_json(m) : manager_list_json(m);
		r = j ? 0 : -ENOMEM;
		if (ipc_reply_init(&rep, req, r, NULL) == 0 && j) {
			r = ipc_put_str(&rep, T_JSON, j);
			if (r < 0) { /* too large for one message: say so rather than truncate */
				ipc_msg_done(&rep);
				ipc_reply_init(&rep, req, r, "reply too large");
			}
		}
		free(j);
		break;
	}
	case CTL_HISTORY: {
		char *j = NULL;
		r = registry_history_json(manager_registry(m), ident, 1000, &j);
		if (ipc_reply_init(&rep, req, r, r < 0 ? strerror(-r) : NULL) == 0 && j) ipc_put_str(&rep, T_JSON, j);
		free(j);
		break;
	}
	case CTL_INSTALL: {
		const char *path = "";
		int fd = -1;
		unsigned slot;
		ipc_get_str(req, T_PATH, &path);
		ipc_msg_take_fd(req, &fd);
		for (slot = 0; slot < MAX_CONNS && c->installs[slot]; slot++) {}
		struct pending_install *p = slot < MAX_CONNS ? malloc(sizeof *p) : NULL;
		if (!p) {
			close(fd);
			ipc_reply_init(&rep, req, -EAGAIN, "too many installs in progress");
			break;
		}
		*p = (struct pending_install){ c, cn, req->seq, flags, req_timeout(req) };
		r = manager_install_start(m, fd, path, flags & IPC_F_FORCE, on_installed, p);
		if (r < 0) {
			free(p);
			ipc_reply_init(&rep, req, r, r == -EAGAIN ? "too many installs in progress" : strerror(-r));
			break;
		}
		c->installs[slot] = p;
		return; /* on_installed answers */
	}
	case CTL_APPROVE:
	case CTL_ACTIVATE:
	case CTL_DEACTIVATE:
	case CTL_UNINSTALL: {
		enum wait_for what = WAIT_RUNNING;
		if (req->type == CTL_APPROVE)
			r = manager_approve(m, ident, msg, sizeof msg);
		else if (req->type == CTL_ACTIVATE)
			r = manager_activate(m, ident, msg, sizeof msg);
		else if (req->type == CTL_DEACTIVATE)
			r = manager_deactivate(m, ident, msg, sizeof msg), what = WAIT_STOPPED;
		else
			r = manager_uninstall(m, ident, msg, sizeof msg), what = WAIT_GONE;
		if (r == 0 && (flags & IPC_F_WAIT)) {
			park(c, cn, req->seq, req_timeout(req), ident, what, msg);
			return;
		}
		if (ipc_reply_init(&rep, req, r, msg) == 0) put_view(m, ident, &rep);
		break;
	}
	case CTL_WAIT: {
		const char *state = "running";
		ipc_get_str(req, T_STATE, &state);
		enum wait_for what = strcmp(state, "stopped") == 0 ? WAIT_STOPPED
				     : strcmp(state, "gone") == 0  ? WAIT_GONE
								   : WAIT_RUNNING;
		park(c, cn, req->seq, req_timeout(req), ident, what, "");
		return;
	}
	case CTL_RESET:
		if (!(flags & IPC_F_FORCE)) {
			r = -EINVAL;
			snprintf(msg, sizeof msg, "reset removes every extension: confirm it");
		} else {
			r = manager_reset(m, msg, sizeof msg);
		}
		ipc_reply_init(&rep, req, r, msg);
		break;
	case CTL_DEVELOPER:
		r = manager_set_developer(m, flags & IPC_F_ON, msg, sizeof msg);
		ipc_reply_init(&rep, req, r, msg);
		break;
	case CTL_PREFS_GET: {
		const char *domain = "", *key = NULL;
		char *value = NULL, *all = NULL;
		uint64_t gen = 0;
		ipc_get_str(req, T_DOMAIN, &domain);
		if (ipc_get_str(req, T_KEY, &key) == 0)
			r = registry_prefs_get(manager_registry(m), domain, key, &value, &gen);
		else
			r = registry_prefs_dump(manager_registry(m), domain, &all);
		if (r == -ENOENT) snprintf(msg, sizeof msg, "'%s' has no preference '%s'", domain, key ? key : "");
		if (ipc_reply_init(&rep, req, r, msg) == 0) {
			if (value) ipc_put_str(&rep, T_VALUE, value), ipc_put_u64(&rep, T_GEN, gen);
			if (all) ipc_put_str(&rep, T_JSON, all);
		}
		free(value);
		free(all);
		break;
	}
	case CTL_PREFS_SET: {
		const char *domain = "", *key = "", *value = "";
		uint64_t gen = 0, newgen = 0;
		ipc_get_str(req, T_DOMAIN, &domain);
		ipc_get_str(req, T_KEY, &key);
		ipc_get_str(req, T_VALUE, &value);
		ipc_get_u64(req, T_GEN, &gen);
		r = manager_prefs_set(m, domain, key, value, flags & IPC_F_EXPECT_GEN, gen, &newgen, false, msg, sizeof msg);
		if (ipc_reply_init(&rep, req, r, msg) == 0 && r == 0) ipc_put_u64(&rep, T_GEN, newgen);
		break;
	}
	default: /* an extension message on the control socket */
		ulog(LOG_WARNING, "control: unexpected %s from pid %d: closing", ipc_type_name(req->type), (int)cn->pid);
		conn_close(c, cn);
		return;
	}
send:
	if (rep.buf) {
		send_reply(c, cn, &rep);
		ipc_msg_done(&rep);
	}
}

static void on_conn(struct loop *l, int fd, uint32_t events, void *data)
{
	struct conn *cn = data;
	struct control *c = cn->c;
	(void)l;
	(void)events;
	/* A bounded batch per wake-up keeps one busy client from starving the others. */
	for (int i = 0; i < 32; i++) {
		struct ipc_msg req;
		int r = ipc_recv(fd, &req);
		if (r == -EAGAIN) return;
		if (r < 0) {
			if (r != -ECONNRESET)
				ulog(LOG_WARNING, "control: pid %d sent a bad message (%s): closing", (int)cn->pid, strerror(-r));
			conn_close(c, cn);
			return;
		}
		handle(c, cn, &req);
		ipc_msg_done(&req);
		/* handle may have closed the connection */
		bool alive = false;
		for (unsigned k = 0; k < MAX_CONNS; k++) alive |= c->conns[k] == cn;
		if (!alive) return;
	}
}

static bool peer_is_admin(struct control *c, int fd, const struct ucred *cr)
{
	if (cr->uid == 0) return true;
	if (!c->have_admin_gid) return false;
	if (cr->gid == c->admin_gid) return true;
	gid_t groups[256];
	socklen_t len = sizeof groups;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0) return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == c->admin_gid) return true;
	return false;
}

static void on_accept(struct loop *l, int lfd, uint32_t events, void *data)
{
	struct control *c = data;
	(void)events;
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) return;
		struct ucred cr;
		socklen_t len = sizeof cr;
		unsigned slot;
		for (slot = 0; slot < MAX_CONNS && c->conns[slot]; slot++) {}
		struct conn *cn = slot < MAX_CONNS ? calloc(1, sizeof *cn) : NULL;
		if (!cn || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
			if (!cn) ulog(LOG_WARNING, "control: too many connections: refusing one");
			free(cn);
			close(fd);
			continue;
		}
		*cn = (struct conn){ .fd = fd, .uid = cr.uid, .pid = cr.pid, .c = c };
		cn->admin = peer_is_admin(c, fd, &cr);
		if (loop_add_fd(l, fd, EPOLLIN, on_conn, cn) < 0) {
			free(cn);
			close(fd);
			continue;
		}
		c->conns[slot] = cn;
	}
}

int control_new(struct loop *l, struct manager *m, const char *sock_path, struct control **ret)
{
	struct control *c = calloc(1, sizeof *c);
	if (!c) return -ENOMEM;
	c->loop = l;
	c->m = m;
	c->lfd = -1;
	struct group *g = getgrnam("uext-admin");
	if (g) c->admin_gid = g->gr_gid, c->have_admin_gid = true;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;
	if (strlen(sock_path) >= sizeof sa.sun_path) {
		r = -ENAMETOOLONG;
		goto err;
	}
	strcpy(sa.sun_path, sock_path);
	strlcpy_(c->path, sock_path, sizeof c->path);
	c->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->lfd < 0) goto err_errno;
	/* A socket file left by a dead manager is replaced; a live one would answer. */
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
		close(probe);
		r = -EADDRINUSE;
		goto err;
	}
	if (probe >= 0) close(probe);
	unlink(sock_path);
	if (bind(c->lfd, (struct sockaddr *)&sa, sizeof sa) < 0) goto err_errno;
	chmod(sock_path, 0666); /* everyone may read status; mutations are checked per peer */
	if (listen(c->lfd, 64) < 0) goto err_errno;
	if ((r = loop_add_fd(l, c->lfd, EPOLLIN, on_accept, c)) < 0) goto err;
	manager_set_change_cb(m, on_change, c);
	*ret = c;
	return 0;
err_errno:
	r = -errno;
err:
	control_free(c);
	return r;
}

struct control *control_free(struct control *c)
{
	if (!c) return NULL;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (c->conns[i]) conn_close(c, c->conns[i]);
	if (c->lfd >= 0) {
		loop_remove_fd(c->loop, c->lfd);
		close(c->lfd);
		unlink(c->path);
	}
	manager_set_change_cb(c->m, NULL, NULL);
	free(c);
	return NULL;
}
