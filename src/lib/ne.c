/* ne.c: libuext's network filter provider (include/uext/ne.h) over common/newire.h.
 * Single-threaded: dispatch() reads what uextd sent, calls the handlers, and sends all
 * their verdicts in one datagram. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uext/ne.h>

#include "common/newire.h"
#include "lib/internal.h"

#define API __attribute__((visibility("default")))
#define HELLO_TIMEOUT_MS 10000
#define MAX_BATCH 512

struct uext_ne_filter {
	int fd;
	struct uext_ne_filter_callbacks cb;
	void *ctx;
	bool stop;
	char *buf;
	struct new_verdict out[MAX_BATCH];
	size_t nout;
};

/* HELLO or SETTINGS: the header and the rules in one datagram. */
static int send_settings(int fd, uint32_t op, const struct uext_ne_settings *s)
{
	size_t n = s ? s->nrules : 0;
	if (n > UEXT_NE_MAX_RULES) return -E2BIG;
	size_t len = sizeof(struct new_settings) + n * sizeof(struct new_rule);
	char *buf = calloc(1, len);
	if (!buf) return -ENOMEM;
	struct new_settings *h = (struct new_settings *)buf;
	h->op = op;
	h->version = NEW_VERSION;
	h->first_data_peek = s ? s->first_data_peek : 0;
	h->nrules = (uint32_t)n;
	struct new_rule *w = (struct new_rule *)(buf + sizeof *h);
	for (size_t i = 0; i < n; i++) {
		const struct uext_ne_rule *r = &s->rules[i];
		w[i].action = r->action;
		w[i].direction = r->direction;
		w[i].protocol = r->protocol;
		w[i].family = r->family;
		memcpy(w[i].addr, r->addr, 16);
		w[i].prefix = r->prefix;
		w[i].port_min = r->port_min;
		w[i].port_max = r->port_max;
		w[i].uid = r->uid;
		if (r->exe) {
			size_t el = strlen(r->exe);
			if (el >= sizeof w[i].exe) {
				free(buf);
				return -ENAMETOOLONG;
			}
			memcpy(w[i].exe, r->exe, el + 1);
		}
	}
	ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
	int r = sent == (ssize_t)len ? 0 : sent < 0 ? -errno : -EIO;
	free(buf);
	return r;
}

API int uext_ne_filter_new(uext_ne_filter **ret, const struct uext_ne_filter_callbacks *cb,
			   const struct uext_ne_settings *settings, void *ctx)
{
	if (!ret || !cb || !cb->new_flow) return -EINVAL;
	int fd = -1;
	int r = uext_ext_ne_connect(&fd);
	if (r == -ENOTCONN) {
		fd = uext_lib_connect_engine(UEXT_LIB_ENGINE_NE);
		if (fd < 0) return fd == -ENOENT ? -ECONNREFUSED : fd;
	} else if (r < 0) {
		return r;
	}
	struct new_reply w;
	if ((r = send_settings(fd, NEW_HELLO, settings)) < 0 || (r = uext_lib_wait_readable(fd, HELLO_TIMEOUT_MS)) < 0) goto fail;
	ssize_t n = recv(fd, &w, sizeof w, 0);
	if (n != (ssize_t)sizeof w || w.op != NEW_WELCOME) {
		r = n < 0 ? -errno : -EPROTO;
		goto fail;
	}
	if (w.result < 0) {
		r = w.result;
		goto fail;
	}
	uext_ne_filter *f = calloc(1, sizeof *f);
	if (!f || !(f->buf = malloc(NEW_MAX_DGRAM))) {
		free(f);
		r = -ENOMEM;
		goto fail;
	}
	f->fd = fd;
	f->cb = *cb;
	f->ctx = ctx;
	*ret = f;
	return 0;
fail:
	close(fd);
	return r;
}

static int send_verdicts(uext_ne_filter *f)
{
	if (!f->nout) return 0;
	size_t len = f->nout * sizeof f->out[0];
	f->nout = 0;
	/* blocking: uextd reads verdicts as fast as it can, and a lost verdict would leave
	 * a flow to its deadline */
	ssize_t n = send(f->fd, f->out, len, MSG_NOSIGNAL);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static int queue_verdict(uext_ne_filter *f, uint64_t id, struct uext_ne_verdict v, bool resume)
{
	if (f->nout == MAX_BATCH) {
		int r = send_verdicts(f);
		if (r < 0) return r;
	}
	f->out[f->nout++] = (struct new_verdict){ .op = NEW_VERDICT, .action = v.action, .resume = resume, .id = id,
						  .peek_out = v.peek_outbound, .peek_in = v.peek_inbound,
						  .cache_ttl_ms = v.cache_ttl_ms };
	return 0;
}

static const char *rec_str(const char *rec, uint32_t len, uint32_t off)
{
	if (off >= len) return NULL;
	const char *s = rec + off;
	return memchr(s, 0, len - off) ? s : NULL;
}

static int on_flow(uext_ne_filter *f, const char *rec, uint32_t len)
{
	const struct new_flow *r = (const void *)rec;
	struct uext_ne_flow fl = {
		.id = r->id,
		.direction = r->direction,
		.protocol = r->protocol,
		.attribution = r->attribution,
		.host_source = r->host_source,
		.flags = r->flags,
		.pid = r->pid,
		.uid = r->uid,
		.gid = r->gid,
		.cgroup_id = r->cgroup_id,
		.bytes_out = r->bytes_out,
		.bytes_in = r->bytes_in,
	};
	fl.local.family = fl.remote.family = r->family;
	memcpy(fl.local.addr, r->laddr, 16);
	memcpy(fl.remote.addr, r->raddr, 16);
	fl.local.port = r->lport;
	fl.remote.port = r->rport;
	if (!(fl.exe = rec_str(rec, len, r->exe_off)) || !(fl.comm = rec_str(rec, len, r->comm_off)) ||
	    !(fl.hostname = rec_str(rec, len, r->host_off)) || !(fl.url = rec_str(rec, len, r->url_off)) ||
	    !(fl.alpn = rec_str(rec, len, r->alpn_off)) || !(fl.cgroup = rec_str(rec, len, r->cgroup_off)))
		return -EBADMSG;
	if (r->data_len && (r->data_off > len || r->data_len > len - r->data_off)) return -EBADMSG;
	struct uext_ne_verdict v;
	if (r->event == NEW_EV_NEW) {
		v = f->cb.new_flow(f, &fl, f->ctx);
		/* the bytes that came with it are shown at once when the filter wants to peek */
		if (v.action == UEXT_NE_PEEK && r->data_len && f->cb.data) {
			int dir = r->data_dir;
			uint32_t want = dir == UEXT_NE_OUTBOUND ? v.peek_outbound : v.peek_inbound;
			if (want && want <= r->data_len)
				v = f->cb.data(f, &fl, dir, (const uint8_t *)rec + r->data_off, want, 0, f->ctx);
		}
	} else if (r->event == NEW_EV_DATA) {
		if (!f->cb.data) v = (struct uext_ne_verdict){ .action = UEXT_NE_ALLOW };
		else v = f->cb.data(f, &fl, r->data_dir, (const uint8_t *)rec + r->data_off, r->data_len, r->data_complete, f->ctx);
	} else {
		return -EBADMSG;
	}
	return queue_verdict(f, r->id, v, false);
}

API int uext_ne_filter_dispatch(uext_ne_filter *f)
{
	for (int round = 0; round < 64 && !f->stop; round++) {
		ssize_t n = recv(f->fd, f->buf, NEW_MAX_DGRAM, MSG_DONTWAIT);
		if (n == 0) return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) break;
			if (errno == EINTR) continue;
			return -errno;
		}
		/* a datagram holds whole records */
		for (size_t off = 0; off + 8 <= (size_t)n;) {
			uint32_t op, len;
			memcpy(&op, f->buf + off, 4);
			if (op == NEW_REPLY || op == NEW_WELCOME) { /* settings/cache answers: nothing waits on them here */
				off += sizeof(struct new_reply);
				continue;
			}
			memcpy(&len, f->buf + off + 4, 4);
			if (op != NEW_FLOW || len < sizeof(struct new_flow) || len > (size_t)n - off || (len & 7) ||
			    ((uintptr_t)(f->buf + off) & 7))
				return -EBADMSG;
			int r = on_flow(f, f->buf + off, len);
			if (r < 0) return r;
			off += len;
		}
	}
	return send_verdicts(f);
}

API int uext_ne_filter_run(uext_ne_filter *f)
{
	f->stop = false;
	while (!f->stop) {
		int r = uext_lib_wait_readable(f->fd, -1);
		if (r < 0) return r;
		if ((r = uext_ne_filter_dispatch(f)) < 0) return r;
	}
	return 0;
}

API void uext_ne_filter_stop(uext_ne_filter *f)
{
	f->stop = true;
}

API int uext_ne_filter_fd(const uext_ne_filter *f)
{
	return f->fd;
}

API int uext_ne_filter_apply_settings(uext_ne_filter *f, const struct uext_ne_settings *settings)
{
	return send_settings(f->fd, NEW_SETTINGS, settings);
}

API int uext_ne_filter_resume(uext_ne_filter *f, uint64_t flow_id, struct uext_ne_verdict v)
{
	if (v.action == UEXT_NE_PAUSE) return -EINVAL;
	int r = queue_verdict(f, flow_id, v, true);
	return r < 0 ? r : send_verdicts(f);
}

API int uext_ne_filter_clear_cache(uext_ne_filter *f)
{
	uint32_t op = NEW_CLEAR_CACHE;
	return send(f->fd, &op, sizeof op, MSG_NOSIGNAL) == (ssize_t)sizeof op ? 0 : -errno;
}

API void uext_ne_filter_free(uext_ne_filter *f)
{
	if (!f) return;
	send_verdicts(f);
	uint32_t op = NEW_BYE;
	send(f->fd, &op, sizeof op, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(f->fd);
	free(f->buf);
	free(f);
}

API const char *uext_ne_addr_str(const struct uext_ne_endpoint *e, char *buf, size_t len)
{
	if (!inet_ntop(e->family, e->addr, buf, (socklen_t)len)) {
		if (len) buf[0] = 0;
	}
	return buf;
}
