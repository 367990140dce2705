/* ipc.c owns the encoding, decoding and schema checks of uext messages and the fds they
 * carry; it knows nothing about what a message asks for. */
#include "ipc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FIELD_HDR 8u
#define PAD4(n) (((n) + 3u) & ~3u)

struct field_rule {
	uint16_t tag;
	uint16_t kind;
	bool required;
};

struct msg_rule {
	const char *name;
	uint8_t min_fds, max_fds;
	struct field_rule fields[12]; /* ends at tag 0 */
};

/* The schema: what each type may carry. Unknown tags are refused rather than ignored so a
 * peer cannot smuggle data past a check written for another message. */
static const struct msg_rule rules[IPC_TYPE_MAX] = {
	[IPC_REPLY] = { "reply", 0, IPC_MAX_FDS,
		{ { T_ERR, IPC_I32, true }, { T_ERRMSG, IPC_STR, false }, { T_JSON, IPC_STR, false },
		  { T_VALUE, IPC_STR, false }, { T_GEN, IPC_U64, false }, { T_STATE, IPC_STR, false },
		  { T_PID, IPC_I32, false }, { T_IDENT, IPC_STR, false }, { T_VERSION, IPC_STR, false },
		  { T_KEY, IPC_STR, false } } },
	[CTL_STATUS] = { "status", 0, 0, { { T_FLAGS, IPC_U32, false } } },
	[CTL_LIST] = { "list", 0, 0, { { T_FLAGS, IPC_U32, false } } },
	[CTL_INSTALL] = { "install", 1, 1,
		{ { T_PATH, IPC_STR, true }, { T_FLAGS, IPC_U32, false }, { T_TIMEOUT, IPC_U32, false } } },
	[CTL_APPROVE] = { "approve", 0, 0,
		{ { T_IDENT, IPC_STR, true }, { T_FLAGS, IPC_U32, false }, { T_TIMEOUT, IPC_U32, false } } },
	[CTL_ACTIVATE] = { "activate", 0, 0,
		{ { T_IDENT, IPC_STR, true }, { T_FLAGS, IPC_U32, false }, { T_TIMEOUT, IPC_U32, false } } },
	[CTL_DEACTIVATE] = { "deactivate", 0, 0,
		{ { T_IDENT, IPC_STR, true }, { T_FLAGS, IPC_U32, false }, { T_TIMEOUT, IPC_U32, false } } },
	[CTL_UNINSTALL] = { "uninstall", 0, 0,
		{ { T_IDENT, IPC_STR, true }, { T_FLAGS, IPC_U32, false }, { T_TIMEOUT, IPC_U32, false } } },
	[CTL_RESET] = { "reset", 0, 0, { { T_FLAGS, IPC_U32, true } } },
	[CTL_DEVELOPER] = { "developer", 0, 0, { { T_FLAGS, IPC_U32, true } } },
	[CTL_PREFS_GET] = { "prefs-get", 0, 0,
		{ { T_DOMAIN, IPC_STR, true }, { T_KEY, IPC_STR, false } } },
	[CTL_PREFS_SET] = { "prefs-set", 0, 0,
		{ { T_DOMAIN, IPC_STR, true }, { T_KEY, IPC_STR, true }, { T_VALUE, IPC_STR, true },
		  { T_GEN, IPC_U64, false }, { T_FLAGS, IPC_U32, false } } },
	[CTL_HISTORY] = { "history", 0, 0, { { T_IDENT, IPC_STR, false } } },
	[CTL_WAIT] = { "wait", 0, 0,
		{ { T_IDENT, IPC_STR, true }, { T_STATE, IPC_STR, false }, { T_TIMEOUT, IPC_U32, false } } },
	[EXT_HELLO] = { "hello", 0, 0, { { T_VERSION, IPC_STR, false } } },
	[EXT_LOG] = { "log", 0, 0, { { T_LEVEL, IPC_U32, true }, { T_MSG, IPC_STR, true } } },
	[EXT_PREFS_GET] = { "ext-prefs-get", 0, 0, { { T_KEY, IPC_STR, false } } },
	[EXT_PREFS_SET] = { "ext-prefs-set", 0, 0,
		{ { T_KEY, IPC_STR, true }, { T_VALUE, IPC_STR, true }, { T_GEN, IPC_U64, false },
		  { T_FLAGS, IPC_U32, false } } },
	[EXT_STOP] = { "stop", 0, 0, { { 0, 0, false } } },
	[EXT_PREFS_CHANGED] = { "prefs-changed", 0, 0, { { T_KEY, IPC_STR, true } } },
	[EXT_ES_CONNECT] = { "es-connect", 0, 0, { { T_FLAGS, IPC_U32, false } } },
	[EXT_NE_CONNECT] = { "ne-connect", 0, 0, { { T_FLAGS, IPC_U32, false } } },
};

static size_t kind_size(uint16_t kind)
{
	switch (kind) {
	case IPC_U32:
	case IPC_I32:
		return 4;
	case IPC_U64:
	case IPC_I64:
		return 8;
	default:
		return 0; /* variable */
	}
}

const char *ipc_type_name(uint16_t type)
{
	if (type < IPC_TYPE_MAX && rules[type].name) return rules[type].name;
	return "unknown";
}

int ipc_msg_init(struct ipc_msg *m, uint16_t type, uint32_t seq)
{
	memset(m, 0, sizeof *m);
	for (unsigned i = 0; i < IPC_MAX_FDS; i++) m->fds[i] = -1;
	m->cap = 256;
	m->buf = malloc(m->cap);
	if (!m->buf) return -ENOMEM;
	m->type = type;
	m->seq = seq;
	m->len = IPC_HDR_SIZE;
	memset(m->buf, 0, IPC_HDR_SIZE);
	return 0;
}

void ipc_msg_done(struct ipc_msg *m)
{
	if (!m) return;
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0) close(m->fds[i]);
	free(m->buf);
	memset(m, 0, sizeof *m);
}

static const struct ipc_field *find(const struct ipc_msg *m, uint16_t tag)
{
	for (unsigned i = 0; i < m->nfields; i++)
		if (m->fields[i].tag == tag) return &m->fields[i];
	return NULL;
}

/* Field data pointers point into buf, so a realloc must rebase them. */
static int reserve(struct ipc_msg *m, size_t extra)
{
	if (m->len + extra > IPC_MAX_MSG) return -E2BIG;
	if (m->len + extra <= m->cap) return 0;
	size_t ncap = m->cap;
	while (ncap < m->len + extra) ncap *= 2;
	if (ncap > IPC_MAX_MSG) ncap = IPC_MAX_MSG;
	size_t off[IPC_MAX_FIELDS];
	for (unsigned i = 0; i < m->nfields; i++) off[i] = (size_t)(m->fields[i].data - m->buf);
	uint8_t *nb = realloc(m->buf, ncap);
	if (!nb) return -ENOMEM;
	for (unsigned i = 0; i < m->nfields; i++) m->fields[i].data = nb + off[i];
	m->buf = nb;
	m->cap = ncap;
	return 0;
}

static int put(struct ipc_msg *m, uint16_t tag, uint16_t kind, const void *p, size_t n)
{
	if (!m->buf) return -EINVAL;
	if (m->nfields >= IPC_MAX_FIELDS) return -E2BIG;
	if (find(m, tag)) return -EINVAL;
	if (n > IPC_MAX_MSG) return -E2BIG;
	size_t need = FIELD_HDR + PAD4(n);
	int r = reserve(m, need);
	if (r < 0) return r;
	uint8_t *h = m->buf + m->len;
	uint32_t len32 = (uint32_t)n;
	memcpy(h, &tag, 2);
	memcpy(h + 2, &kind, 2);
	memcpy(h + 4, &len32, 4);
	if (n) memcpy(h + FIELD_HDR, p, n);
	memset(h + FIELD_HDR + n, 0, PAD4(n) - n);
	m->fields[m->nfields++] = (struct ipc_field){ tag, kind, len32, h + FIELD_HDR };
	m->len += need;
	return 0;
}

int ipc_put_u32(struct ipc_msg *m, uint16_t tag, uint32_t v) { return put(m, tag, IPC_U32, &v, 4); }
int ipc_put_u64(struct ipc_msg *m, uint16_t tag, uint64_t v) { return put(m, tag, IPC_U64, &v, 8); }
int ipc_put_i32(struct ipc_msg *m, uint16_t tag, int32_t v) { return put(m, tag, IPC_I32, &v, 4); }
int ipc_put_bytes(struct ipc_msg *m, uint16_t tag, const void *p, size_t n)
{
	return put(m, tag, IPC_BYTES, p, n);
}

int ipc_put_str(struct ipc_msg *m, uint16_t tag, const char *s)
{
	if (!s) return -EINVAL;
	size_t n = strnlen(s, IPC_MAX_MSG);
	if (n >= IPC_MAX_MSG) return -E2BIG;
	return put(m, tag, IPC_STR, s, n + 1);
}

int ipc_take_fd(struct ipc_msg *m, int fd)
{
	if (fd < 0) return -EBADF;
	if (m->nfds >= IPC_MAX_FDS) return -E2BIG;
	m->fds[m->nfds++] = fd;
	return 0;
}

int ipc_msg_take_fd(struct ipc_msg *m, int *ret_fd)
{
	for (unsigned i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0) {
			*ret_fd = m->fds[i];
			m->fds[i] = -1;
			return 0;
		}
	}
	return -ENOENT;
}

static int get(const struct ipc_msg *m, uint16_t tag, uint16_t kind, const struct ipc_field **ret)
{
	const struct ipc_field *f = find(m, tag);
	if (!f) return -ENOENT;
	if (f->kind != kind) return -EBADMSG;
	size_t sz = kind_size(kind);
	if (sz && f->len != sz) return -EBADMSG;
	*ret = f;
	return 0;
}

int ipc_get_u32(const struct ipc_msg *m, uint16_t tag, uint32_t *ret)
{
	const struct ipc_field *f;
	int r = get(m, tag, IPC_U32, &f);
	if (r == 0) memcpy(ret, f->data, 4);
	return r;
}

int ipc_get_u64(const struct ipc_msg *m, uint16_t tag, uint64_t *ret)
{
	const struct ipc_field *f;
	int r = get(m, tag, IPC_U64, &f);
	if (r == 0) memcpy(ret, f->data, 8);
	return r;
}

int ipc_get_i32(const struct ipc_msg *m, uint16_t tag, int32_t *ret)
{
	const struct ipc_field *f;
	int r = get(m, tag, IPC_I32, &f);
	if (r == 0) memcpy(ret, f->data, 4);
	return r;
}

int ipc_get_str(const struct ipc_msg *m, uint16_t tag, const char **ret)
{
	const struct ipc_field *f;
	int r = get(m, tag, IPC_STR, &f);
	if (r == 0) *ret = (const char *)f->data; /* NUL-terminated: checked at decode/put */
	return r;
}

int ipc_get_bytes(const struct ipc_msg *m, uint16_t tag, const void **ret, size_t *ret_len)
{
	const struct ipc_field *f;
	int r = get(m, tag, IPC_BYTES, &f);
	if (r == 0) {
		*ret = f->data;
		*ret_len = f->len;
	}
	return r;
}

static int check_schema(const struct ipc_msg *m)
{
	if (m->type >= IPC_TYPE_MAX || !rules[m->type].name) return -EBADMSG;
	const struct msg_rule *rule = &rules[m->type];
	if (m->nfds < rule->min_fds || m->nfds > rule->max_fds) return -EBADMSG;
	for (unsigned i = 0; i < m->nfields; i++) {
		const struct ipc_field *f = &m->fields[i];
		const struct field_rule *fr = NULL;
		for (unsigned j = 0; j < 12 && rule->fields[j].tag; j++)
			if (rule->fields[j].tag == f->tag) fr = &rule->fields[j];
		if (!fr || fr->kind != f->kind) return -EBADMSG;
		size_t sz = kind_size(f->kind);
		if (sz && f->len != sz) return -EBADMSG;
		if (f->kind == IPC_STR && (f->len == 0 || memchr(f->data, 0, f->len) != f->data + f->len - 1))
			return -EBADMSG;
	}
	for (unsigned j = 0; j < 12 && rule->fields[j].tag; j++)
		if (rule->fields[j].required && !find(m, rule->fields[j].tag)) return -EBADMSG;
	return 0;
}

/* Parses m->buf[0..m->len) in place into m->fields. */
static int parse(struct ipc_msg *m)
{
	uint16_t type, nfields;
	uint32_t len, seq;
	if (m->len < IPC_HDR_SIZE) return -EBADMSG;
	memcpy(&type, m->buf, 2);
	memcpy(&nfields, m->buf + 2, 2);
	memcpy(&len, m->buf + 4, 4);
	memcpy(&seq, m->buf + 8, 4);
	if (len != m->len || nfields > IPC_MAX_FIELDS) return -EBADMSG;
	m->type = type;
	m->seq = seq;
	m->nfields = 0;
	size_t off = IPC_HDR_SIZE;
	for (unsigned i = 0; i < nfields; i++) {
		if (m->len - off < FIELD_HDR) return -EBADMSG;
		struct ipc_field f;
		memcpy(&f.tag, m->buf + off, 2);
		memcpy(&f.kind, m->buf + off + 2, 2);
		memcpy(&f.len, m->buf + off + 4, 4);
		off += FIELD_HDR;
		if (f.len > m->len - off || PAD4((size_t)f.len) > m->len - off) return -EBADMSG;
		f.data = m->buf + off;
		if (find(m, f.tag)) return -EBADMSG;
		m->fields[m->nfields++] = f;
		off += PAD4((size_t)f.len);
	}
	if (off != m->len) return -EBADMSG; /* trailing bytes */
	return check_schema(m);
}

int ipc_msg_decode(const void *buf, size_t len, struct ipc_msg *ret)
{
	memset(ret, 0, sizeof *ret);
	for (unsigned i = 0; i < IPC_MAX_FDS; i++) ret->fds[i] = -1;
	if (len < IPC_HDR_SIZE || len > IPC_MAX_MSG) return -EBADMSG;
	ret->buf = malloc(len);
	if (!ret->buf) return -ENOMEM;
	memcpy(ret->buf, buf, len);
	ret->len = ret->cap = len;
	int r = parse(ret);
	if (r < 0) ipc_msg_done(ret);
	return r;
}

static void finish_header(struct ipc_msg *m)
{
	uint16_t nf = (uint16_t)m->nfields;
	uint32_t len = (uint32_t)m->len, zero = 0;
	memcpy(m->buf, &m->type, 2);
	memcpy(m->buf + 2, &nf, 2);
	memcpy(m->buf + 4, &len, 4);
	memcpy(m->buf + 8, &m->seq, 4);
	memcpy(m->buf + 12, &zero, 4);
}

int ipc_send(int sock, struct ipc_msg *m)
{
	if (!m->buf) return -EINVAL;
	finish_header(m);
	struct iovec iov = { m->buf, m->len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (m->nfds) {
		memset(&u, 0, sizeof u);
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) return -errno;
	if ((size_t)n != m->len) return -EMSGSIZE;
	for (unsigned i = 0; i < m->nfds; i++) {
		if (m->fds[i] >= 0) close(m->fds[i]);
		m->fds[i] = -1;
	}
	m->nfds = 0;
	return 0;
}

int ipc_recv(int sock, struct ipc_msg *ret)
{
	memset(ret, 0, sizeof *ret);
	for (unsigned i = 0; i < IPC_MAX_FDS; i++) ret->fds[i] = -1;
	/* Peek the size first so small messages do not cost a 256 KiB buffer. */
	ssize_t n;
	do
		n = recv(sock, NULL, 0, MSG_PEEK | MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n < 0) return -errno;
	if (n == 0) /* EOF, or an empty datagram that no valid peer sends: both close it */
		return -ECONNRESET;
	size_t want = (size_t)n > IPC_MAX_MSG ? IPC_MAX_MSG + 1 : (size_t)n;
	uint8_t *buf = malloc(want);
	if (!buf) return -ENOMEM;
	union {
		char b[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { buf, want };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = -errno;
		free(buf);
		return e;
	}
	ret->buf = buf;
	ret->len = ret->cap = (size_t)n;
	/* Take ownership of every passed fd first, so that they are closed on any error. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
		size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			if (ret->nfds < IPC_MAX_FDS)
				ret->fds[ret->nfds++] = fd;
			else
				close(fd);
		}
	}
	int r = 0;
	if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || n == 0 || (size_t)n > IPC_MAX_MSG)
		r = -EBADMSG;
	if (r == 0) r = parse(ret);
	if (r < 0) ipc_msg_done(ret);
	return r;
}

int ipc_reply_init(struct ipc_msg *m, const struct ipc_msg *req, int err, const char *errmsg)
{
	int r = ipc_msg_init(m, IPC_REPLY, req ? req->seq : 0);
	if (r < 0) return r;
	r = ipc_put_i32(m, T_ERR, err);
	if (r == 0 && errmsg && *errmsg) r = ipc_put_str(m, T_ERRMSG, errmsg);
	if (r < 0) ipc_msg_done(m);
	return r;
}
