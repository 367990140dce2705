/* extension.c owns an extension's side of the manager connection (fd 3): the hello,
 * log lines, preference round trips and stop requests, and the small run loop that
 * serves the extension's own fds and timers. */
#include "uext/extension.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/ipc.h"
#include "lib/internal.h"

#define API __attribute__((visibility("default")))
#define MAX_FDS 64
#define MAX_TIMERS 64
#define MAX_PENDING 64

struct fdw {
	int fd;
	uext_fd_handler cb;
	void *data;
};

struct tmr {
	int id, tfd;
	uext_timer_handler cb;
	void *data;
};

struct uext_extension {
	int sock, ep, sfd;
	const struct uext_extension_callbacks *cb;
	void *userdata;
	const char *ident, *version, *data_dir;
	bool quit;
	int status;
	bool stop_requested;
	struct fdw fds[MAX_FDS];
	struct tmr timers[MAX_TIMERS];
	int next_timer;
	pthread_mutex_t lock; /* one request/reply round trip at a time on sock */
	uint32_t seq;
	/* Manager messages that arrived during a round trip, handled by the loop later. */
	char *pending_keys[MAX_PENDING];
	unsigned npending;
};

enum { ID_SOCK = -1, ID_SIG = -2 };

API const char *uext_extension_identifier(const uext_extension *e) { return e->ident; }
API const char *uext_extension_version(const uext_extension *e) { return e->version; }
API const char *uext_extension_data_dir(const uext_extension *e) { return e->data_dir; }

API void uext_extension_quit(uext_extension *e, int status)
{
	e->quit = true;
	e->status = status;
}

API void uext_log(uext_extension *e, int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	struct ipc_msg m;
	if (ipc_msg_init(&m, EXT_LOG, 0) < 0) return;
	if (ipc_put_u32(&m, T_LEVEL, (uint32_t)level) == 0 && ipc_put_str(&m, T_MSG, line) == 0) {
		pthread_mutex_lock(&e->lock);
		ipc_send(e->sock, &m);
		pthread_mutex_unlock(&e->lock);
	}
	ipc_msg_done(&m);
}

/* A message from the manager that is not a reply. */
static void note_async(uext_extension *e, struct ipc_msg *m)
{
	if (m->type == EXT_STOP) {
		e->stop_requested = true;
	} else if (m->type == EXT_PREFS_CHANGED) {
		const char *key;
		if (ipc_get_str(m, T_KEY, &key) == 0 && e->npending < MAX_PENDING) {
			char *k = strdup(key);
			if (k) e->pending_keys[e->npending++] = k;
		}
	}
}

/* Send req and wait for the reply with its seq; other messages are queued. */
static int round_trip(uext_extension *e, struct ipc_msg *req, struct ipc_msg *ret)
{
	pthread_mutex_lock(&e->lock);
	req->seq = ++e->seq;
	int r = ipc_send(e->sock, req);
	while (r == 0) {
		r = ipc_recv(e->sock, ret);
		if (r == -EAGAIN) {
			/* The socket is non-blocking for the loop; wait for the reply here. */
			struct pollfd p = { e->sock, POLLIN, 0 };
			int n = poll(&p, 1, 30000);
			r = n > 0 || (n < 0 && errno == EINTR) ? 0 : n == 0 ? -ETIMEDOUT : -errno;
			continue;
		}
		if (r < 0) break;
		if (ret->type == IPC_REPLY && ret->seq == req->seq) break;
		note_async(e, ret);
		ipc_msg_done(ret);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* The running extension, for libuext parts without a handle (es_new_client). */
static uext_extension *current;

static int engine_connect(uint16_t type, int *ret_fd)
{
	uext_extension *e = current;
	if (!e) return -ENOTCONN;
	struct ipc_msg req, rep;
	int r = ipc_msg_init(&req, type, 0);
	if (r < 0) return r;
	if ((r = round_trip(e, &req, &rep)) == 0) {
		int32_t err = -EBADMSG;
		ipc_get_i32(&rep, T_ERR, &err);
		r = err;
		if (r == 0 && ipc_msg_take_fd(&rep, ret_fd) < 0) r = -EBADMSG;
		ipc_msg_done(&rep);
	}
	ipc_msg_done(&req);
	return r;
}

int uext_ext_es_connect(int *ret_fd)
{
	return engine_connect(EXT_ES_CONNECT, ret_fd);
}

int uext_ext_ne_connect(int *ret_fd)
{
	return engine_connect(EXT_NE_CONNECT, ret_fd);
}

API int uext_prefs_get(uext_extension *e, const char *key, char **ret_json, uint64_t *ret_gen)
{
	struct ipc_msg req, rep;
	int r = ipc_msg_init(&req, EXT_PREFS_GET, 0);
	if (r < 0) return r;
	if (key && (r = ipc_put_str(&req, T_KEY, key)) < 0) goto out;
	if ((r = round_trip(e, &req, &rep)) < 0) goto out;
	int32_t err = -EBADMSG;
	ipc_get_i32(&rep, T_ERR, &err);
	r = err;
	if (r == 0) {
		const char *v = NULL;
		uint64_t gen = 0;
		if (ipc_get_str(&rep, key ? T_VALUE : T_JSON, &v) < 0) {
			r = -EBADMSG;
		} else {
			ipc_get_u64(&rep, T_GEN, &gen);
			char *copy = strdup(v);
			if (!copy) r = -ENOMEM;
			else {
				*ret_json = copy;
				if (ret_gen) *ret_gen = gen;
			}
		}
	}
	ipc_msg_done(&rep);
out:
	ipc_msg_done(&req);
	return r;
}

API int uext_prefs_save(uext_extension *e, const char *key, const char *json, uint64_t expected_gen, uint64_t *ret_gen)
{
	struct ipc_msg req, rep;
	int r = ipc_msg_init(&req, EXT_PREFS_SET, 0);
	if (r < 0) return r;
	if ((r = ipc_put_str(&req, T_KEY, key)) < 0 || (r = ipc_put_str(&req, T_VALUE, json)) < 0) goto out;
	if (expected_gen != UEXT_PREFS_ANY &&
	    ((r = ipc_put_u64(&req, T_GEN, expected_gen)) < 0 || (r = ipc_put_u32(&req, T_FLAGS, IPC_F_EXPECT_GEN)) < 0))
		goto out;
	if ((r = round_trip(e, &req, &rep)) < 0) goto out;
	int32_t err = -EBADMSG;
	ipc_get_i32(&rep, T_ERR, &err);
	r = err;
	uint64_t gen;
	if (r == 0 && ret_gen && ipc_get_u64(&rep, T_GEN, &gen) == 0) *ret_gen = gen;
	ipc_msg_done(&rep);
out:
	ipc_msg_done(&req);
	return r;
}

API int uext_extension_add_fd(uext_extension *e, int fd, uint32_t events, uext_fd_handler cb, void *userdata)
{
	for (int i = 0; i < MAX_FDS; i++) {
		if (e->fds[i].cb) continue;
		struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)i };
		if (epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev) < 0) return -errno;
		e->fds[i] = (struct fdw){ fd, cb, userdata };
		return 0;
	}
	return -EMFILE;
}

API int uext_extension_remove_fd(uext_extension *e, int fd)
{
	for (int i = 0; i < MAX_FDS; i++) {
		if (e->fds[i].cb && e->fds[i].fd == fd) {
			epoll_ctl(e->ep, EPOLL_CTL_DEL, fd, NULL);
			e->fds[i].cb = NULL;
			return 0;
		}
	}
	return -ENOENT;
}

API int uext_extension_add_timer(uext_extension *e, uint64_t first_ms, uint64_t interval_ms, uext_timer_handler cb,
				 void *userdata)
{
	for (int i = 0; i < MAX_TIMERS; i++) {
		if (e->timers[i].cb) continue;
		int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (tfd < 0) return -errno;
		if (first_ms == 0) first_ms = interval_ms ? interval_ms : 1;
		struct itimerspec its = {
			.it_value = { (time_t)(first_ms / 1000), (long)(first_ms % 1000) * 1000000L },
			.it_interval = { (time_t)(interval_ms / 1000), (long)(interval_ms % 1000) * 1000000L },
		};
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(MAX_FDS + i) };
		if (timerfd_settime(tfd, 0, &its, NULL) < 0 || epoll_ctl(e->ep, EPOLL_CTL_ADD, tfd, &ev) < 0) {
			int er = -errno;
			close(tfd);
			return er;
		}
		e->timers[i] = (struct tmr){ ++e->next_timer, tfd, cb, userdata };
		return e->timers[i].id;
	}
	return -EMFILE;
}

API int uext_extension_remove_timer(uext_extension *e, int id)
{
	for (int i = 0; i < MAX_TIMERS; i++) {
		if (e->timers[i].cb && e->timers[i].id == id) {
			close(e->timers[i].tfd);
			e->timers[i].cb = NULL;
			return 0;
		}
	}
	return -ENOENT;
}

static void drain_manager(uext_extension *e)
{
	pthread_mutex_lock(&e->lock);
	for (;;) {
		struct ipc_msg m;
		int r = ipc_recv(e->sock, &m);
		if (r == -EAGAIN) break;
		if (r < 0) { /* the manager is gone or spoke nonsense: nothing to serve */
			e->quit = true;
			if (!e->stop_requested) e->status = 1;
			break;
		}
		note_async(e, &m);
		ipc_msg_done(&m);
	}
	pthread_mutex_unlock(&e->lock);
}

static void run_pending(uext_extension *e)
{
	while (e->npending) {
		char *k = e->pending_keys[0];
		memmove(e->pending_keys, e->pending_keys + 1, --e->npending * sizeof(char *));
		if (e->cb->prefs_changed) e->cb->prefs_changed(e, k, e->userdata);
		free(k);
	}
	if (e->stop_requested && !e->quit) {
		e->quit = true;
		e->status = 0;
	}
}

API int uext_extension_main(int argc, char **argv, const struct uext_extension_callbacks *cb, void *userdata)
{
	(void)argc;
	uext_extension e = { .sock = -1, .ep = -1, .sfd = -1, .cb = cb, .userdata = userdata };
	pthread_mutex_init(&e.lock, NULL);
	const char *fds = getenv("UEXT_IPC_FD");
	int type = 0;
	socklen_t tl = sizeof type;
	if (!fds || strcmp(fds, "3") != 0 || getsockopt(3, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_SEQPACKET) {
		fprintf(stderr, "%s: this is a uext extension: install it with 'uextctl install BUNDLE' and uextd starts it\n",
			argv && argv[0] ? argv[0] : "extension");
		return 2;
	}
	e.sock = 3;
	e.ident = getenv("UEXT_IDENTIFIER") ? getenv("UEXT_IDENTIFIER") : "";
	e.version = getenv("UEXT_VERSION") ? getenv("UEXT_VERSION") : "";
	e.data_dir = getenv("UEXT_DATA_DIR") ? getenv("UEXT_DATA_DIR") : "";
	int fl = fcntl(e.sock, F_GETFL);
	fcntl(e.sock, F_SETFL, fl | O_NONBLOCK);
	fcntl(e.sock, F_SETFD, FD_CLOEXEC);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	e.sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	e.ep = epoll_create1(EPOLL_CLOEXEC);
	if (e.sfd < 0 || e.ep < 0) return 1;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)(int64_t)ID_SOCK };
	epoll_ctl(e.ep, EPOLL_CTL_ADD, e.sock, &ev);
	ev.data.u64 = (uint64_t)(int64_t)ID_SIG;
	epoll_ctl(e.ep, EPOLL_CTL_ADD, e.sfd, &ev);

	current = &e;
	if (cb->start && cb->start(&e, userdata) < 0) {
		e.status = 1;
		goto out;
	}
	struct ipc_msg hello;
	if (ipc_msg_init(&hello, EXT_HELLO, 0) == 0) {
		ipc_put_str(&hello, T_VERSION, "0.1.0");
		pthread_mutex_lock(&e.lock);
		ipc_send(e.sock, &hello);
		pthread_mutex_unlock(&e.lock);
		ipc_msg_done(&hello);
	}
	while (!e.quit) {
		run_pending(&e);
		if (e.quit) break;
		struct epoll_event evs[16];
		int n = epoll_wait(e.ep, evs, 16, -1);
		if (n < 0 && errno != EINTR) break;
		for (int i = 0; i < n && !e.quit; i++) {
			int64_t id = (int64_t)evs[i].data.u64;
			if (id == ID_SOCK) {
				drain_manager(&e);
			} else if (id == ID_SIG) {
				struct signalfd_siginfo si;
				while (read(e.sfd, &si, sizeof si) == sizeof si) e.stop_requested = true;
			} else if (id < MAX_FDS) {
				struct fdw w = e.fds[id];
				if (w.cb) w.cb(&e, w.fd, evs[i].events, w.data);
			} else if (id < MAX_FDS + MAX_TIMERS) {
				struct tmr t = e.timers[id - MAX_FDS];
				uint64_t exp;
				if (t.cb && read(t.tfd, &exp, sizeof exp) > 0) t.cb(&e, t.id, t.data);
			}
		}
	}
	if (cb->stop) cb->stop(&e, userdata);
out:
	current = NULL;
	for (int i = 0; i < MAX_TIMERS; i++)
		if (e.timers[i].cb) close(e.timers[i].tfd);
	while (e.npending) free(e.pending_keys[--e.npending]);
	close(e.ep);
	close(e.sfd);
	pthread_mutex_destroy(&e.lock);
	return e.status;
}
