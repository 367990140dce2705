/* attr.c owns the ne engine's process attribution: the skeleton of bpf/sock.bpf.c and its
 * cgroup links, the sock_diag socket, and the small exe-path cache. It answers "whose
 * socket is this tuple" from the kernel's connect-time records, else from one exact
 * sock_diag request; it never scans /proc (only /proc/<pid>/exe, for a known pid).
 * Contract in attr.h; design in docs/ne-attribution.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/util.h"
#include "bpf/ne_sock.h"
#include "uextd/ne/attr.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

#define EXE_CACHE_N 64
#define DIAG_BUF 8192
#define DIAG_TIMEOUT_MS 1000 /* the kernel answers inside sendmsg(); this only guards */

struct exe_ent {
	int32_t pid;
	uint64_t dev, ino;
	char *path; /* NULL: free slot */
};

struct sock_bpf;
struct bpf_link;

struct ne_attr {
	struct sock_bpf *skel;
	struct bpf_link *links[5];
	int cg_fd;
	int flows_fd, socks_fd, vcache_fd, counters_fd;
	int diag_fd;
	uint32_t diag_seq;
	uint64_t netns_cookie; /* of the namespace ne_attr_open ran in; 0 unknown */
	bool exe_id;
	struct exe_ent exe[EXE_CACHE_N];
	unsigned exe_next;
	uint64_t lookups_hit, lookups_miss, diag_hit, diag_miss;
};

static size_t addr_len(uint8_t family)
{
	return family == AF_INET ? 4 : 16;
}

/* --- cgroup2 mount ------------------------------------------------------------------ */

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
	char *d = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 4;
		} else {
			*d++ = *s++;
		}
	}
	*d = '\0';
}

int ne_attr_cgroup2_root(char *buf, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char *mnt, *end;
		int field = 0;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		/* fields: id parent maj:min root mountpoint ... */
		mnt = line;
		while (field < 4 && (mnt = strchr(mnt, ' '))) {
			mnt++;
			field++;
		}
		if (!mnt)
			continue;
		end = strchr(mnt, ' ');
		if (!end)
			continue;
		*end = '\0';
		unescape(mnt);
		r = strlen(mnt) < len ? 0 : -ENAMETOOLONG;
		if (!r)
			memcpy(buf, mnt, strlen(mnt) + 1);
		break;
	}
	fclose(f);
	return r;
}

/* --- sock_diag ---------------------------------------------------------------------- */

static int diag_open(void)
{
	struct timeval tv = { DIAG_TIMEOUT_MS / 1000, (DIAG_TIMEOUT_MS % 1000) * 1000 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

struct diag_res {
	uint32_t uid;
	uint64_t ino;
	uint64_t cookie;
};

/* One exact SOCK_DIAG_BY_FAMILY request (no NLM_F_DUMP). swap: put the peer in idiag_src
 * and the local end in idiag_dst, as UDP's exact lookup reads them (udp_dump_one:
 * "src and dst are swapped for historical reasons"); TCP reads them the other way. */
static int diag_query(int fd, uint32_t seq, const struct ne_tuple *t, bool swap,
		      struct diag_res *ret, uint16_t type)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	union {
		char buf[DIAG_BUF];
		struct nlmsghdr align;
	} u;
	const uint8_t *src = swap ? t->raddr : t->laddr, *dst = swap ? t->laddr : t->raddr;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = type;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | (type == SOCK_DESTROY ? NLM_F_ACK : 0);
	req.nlh.nlmsg_seq = seq;
	req.r.sdiag_family = t->family;
	req.r.sdiag_protocol = t->proto;
	req.r.idiag_states = ~0u;
	req.r.id.idiag_sport = htons(swap ? t->rport : t->lport);
	req.r.id.idiag_dport = htons(swap ? t->lport : t->rport);
	memcpy(req.r.id.idiag_src, src, addr_len(t->family));
	memcpy(req.r.id.idiag_dst, dst, addr_len(t->family));
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, u.buf, sizeof(u.buf), 0);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		for (struct nlmsghdr *h = &u.align; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue; /* a late answer to an earlier request */
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				return e->error ? e->error : type == SOCK_DESTROY ? 0 : -ENOENT;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return -ENOENT;
			if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
				const struct inet_diag_msg *m = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
					return -EBADMSG;
				/* the answer is always local = src: check it is our socket */
				if (ntohs(m->id.idiag_sport) != t->lport)
					return -ENOENT;
				if (t->proto == IPPROTO_TCP && ntohs(m->id.idiag_dport) != t->rport)
					return -ENOENT;
				ret->uid = m->idiag_uid;
				ret->ino = m->idiag_inode;
				ret->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
				return 0;
			}
		}
	}
}

static int diag_lookup(int fd, uint32_t *seq, const struct ne_tuple *t, struct diag_res *ret)
{
	bool udp = t->proto == IPPROTO_UDP;
	int r;

	r = diag_query(fd, ++*seq, t, udp, ret, SOCK_DIAG_BY_FAMILY);
	if (r == -ENOENT && udp)
		r = diag_query(fd, ++*seq, t, false, ret, SOCK_DIAG_BY_FAMILY); /* in case a kernel un-swaps them */
	return r;
}

/* --- eBPF --------------------------------------------------------------------------- */

static void owner_from(struct ne_owner *o, const struct ne_sock_owner *k)
{
	uint64_t now = now_mono_ns();

	o->pid = (int32_t)k->tgid;
	o->tid = (int32_t)k->tid;
	o->uid = k->uid;
	o->gid = k->gid;
	o->cgroup_id = k->cgroup_id;
	o->sock_cookie = k->cookie;
	o->netns_cookie = k->netns_cookie;
	o->exe_dev = k->exe_dev;
	o->exe_ino = k->exe_ino;
	o->age_ns = now > k->ts_ns ? now - k->ts_ns : 0;
	memcpy(o->comm, k->comm, sizeof(o->comm));
	o->comm[sizeof(o->comm) - 1] = '\0';
	o->flags |= NE_OWNER_F_TASK | (k->exe_ino ? NE_OWNER_F_EXE_ID : 0);
}

static void owner_init(struct ne_owner *o)
{
	memset(o, 0, offsetof(struct ne_owner, exe));
	o->exe[0] = '\0';
	o->pid = o->tid = -1;
	o->gid = (uint32_t)-1;
	o->source = NE_ATTR_NONE;
	o->flags = 0;
}

#ifndef UEXT_HAVE_BPF

int ne_attr_open(struct ne_attr **ret, const char *cgroup_dir, uint32_t mark_mask,
		 uint32_t mark_allow, char *why, size_t whylen)
{
	(void)ret;
	(void)cgroup_dir;
	(void)mark_mask;
	(void)mark_allow;
	if (why && whylen)
		snprintf(why, whylen, "built without eBPF support (bpftool, clang, libbpf or "
				      "kernel BTF missing at configure time)");
	return -EOPNOTSUPP;
}

static int bpf_flow(struct ne_attr *a, const struct ne_sock_key *k, struct ne_sock_owner *ret)
{
	(void)a;
	(void)k;
	(void)ret;
	return -ENOENT;
}

static int bpf_sock(struct ne_attr *a, uint64_t cookie, struct ne_sock_owner *ret)
{
	(void)a;
	(void)cookie;
	(void)ret;
	return -ENOENT;
}

int ne_attr_cache_allow(struct ne_attr *a, const struct ne_owner *o, const struct ne_tuple *t,
			uint32_t ttl_ms)
{
	(void)a;
	(void)o;
	(void)t;
	(void)ttl_ms;
	return -EOPNOTSUPP;
}

int ne_attr_cache_flush(struct ne_attr *a)
{
	(void)a;
	return -EOPNOTSUPP;
}

static void bpf_stats(struct ne_attr *a, struct ne_attr_stats *ret)
{
	(void)a;
	(void)ret;
}

static void bpf_close(struct ne_attr *a)
{
	(void)a;
}

#else /* UEXT_HAVE_BPF */

#include <stdarg.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sock.skel.h"

/* libbpf's messages: the first failure becomes the reason, nothing is printed */
static char *g_msg; /* set while ne_attr_open() loads */
static size_t g_msglen;

__attribute__((format(printf, 2, 0))) static int capture(enum libbpf_print_level level,
							 const char *fmt, va_list ap)
{
	char *s = NULL, *p;
	size_t used;

	if (level == LIBBPF_DEBUG || !g_msg || g_msg[0] || vasprintf(&s, fmt, ap) < 0)
		return 0;
	if (strcasestr(s, "fail") || strcasestr(s, "error") || strcasestr(s, "invalid")) {
		p = s;
		if (!strncmp(p, "libbpf: ", 8))
			p += 8;
		used = strcspn(p, "\n");
		if (used >= g_msglen)
			used = g_msglen - 1;
		memcpy(g_msg, p, used);
		g_msg[used] = '\0';
	}
	free(s);
	return 0;
}

static int skel_load(struct sock_bpf **ret, uint32_t flags, uint32_t mask, uint32_t allow)
{
	struct sock_bpf *skel = sock_bpf__open();
	int r;

	if (!skel)
		return errno ? -errno : -ENOMEM;
	skel->rodata->cfg_flags = flags;
	skel->rodata->mark_mask = mask;
	skel->rodata->mark_allow = allow & mask;
	r = sock_bpf__load(skel);
	if (r < 0) {
		sock_bpf__destroy(skel);
		return r;
	}
	*ret = skel;
	return 0;
}

int ne_attr_open(struct ne_attr **ret, const char *cgroup_dir, uint32_t mark_mask,
		 uint32_t mark_allow, char *why, size_t whylen)
{
	libbpf_print_fn_t prev;
	struct bpf_program *progs[5];
	char root[4096], msg[256] = "", msg2[256] = "", nowhy[8];
	struct ne_attr *a;
	socklen_t sl;
	int r;

	if (!why || !whylen) {
		why = nowhy;
		whylen = sizeof(nowhy);
	}
	if (!mark_mask) {
		mark_mask = 0x07000000;
		mark_allow = 0x01000000;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	a->cg_fd = a->diag_fd = -1;
	if (!cgroup_dir) {
		r = ne_attr_cgroup2_root(root, sizeof(root));
		if (r < 0) {
			snprintf(why, whylen, "no cgroup v2 hierarchy mounted (/proc/self/mountinfo)");
			goto err_nolibbpf;
		}
		cgroup_dir = root;
	}
	a->cg_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (a->cg_fd < 0) {
		r = -errno;
		snprintf(why, whylen, "cgroup '%s': %s", cgroup_dir, strerror(-r));
		goto err_nolibbpf;
	}
	a->diag_fd = diag_open();
	if (a->diag_fd < 0) {
		r = a->diag_fd;
		snprintf(why, whylen, "sock_diag socket: %s", strerror(-r));
		goto err_nolibbpf;
	}
	sl = sizeof(a->netns_cookie);
	if (getsockopt(a->diag_fd, SOL_SOCKET, SO_NETNS_COOKIE, &a->netns_cookie, &sl) < 0)
		a->netns_cookie = 0; /* before 5.14: records are not filtered by namespace */

	prev = libbpf_set_print(capture);
	g_msg = msg;
	g_msglen = sizeof(msg);
	a->exe_id = true;
	r = skel_load(&a->skel, NE_CFG_EXE_ID, mark_mask, mark_allow);
	if (r < 0) {
		/* the exe identity needs bpf_get_current_task + probe_read_kernel in cgroup
		 * programs (CAP_PERFMON, kernel >= 6.x): without them, the rest still works */
		a->exe_id = false;
		g_msg = msg2;
		msg2[0] = '\0';
		r = skel_load(&a->skel, 0, mark_mask, mark_allow);
	}
	if (r < 0) {
		snprintf(why, whylen, "loading the eBPF programs failed: %s",
			 msg2[0] ? msg2 : msg[0] ? msg : strerror(-r));
		goto err;
	}
	progs[0] = a->skel->progs.ne_connect4;
	progs[1] = a->skel->progs.ne_connect6;
	progs[2] = a->skel->progs.ne_sendmsg4;
	progs[3] = a->skel->progs.ne_sendmsg6;
	progs[4] = a->skel->progs.ne_sockops;
	for (int i = 0; i < 5; i++) {
		msg[0] = '\0';
		g_msg = msg;
		a->links[i] = bpf_program__attach_cgroup(progs[i], a->cg_fd);
		if (!a->links[i]) {
			r = errno ? -errno : -EINVAL;
			snprintf(why, whylen, "attaching %s to '%s' failed: %s",
				 bpf_program__section_name(progs[i]), cgroup_dir,
				 msg[0] ? msg : strerror(-r));
			goto err;
		}
	}
	g_msg = NULL;
	libbpf_set_print(prev);
	a->flows_fd = bpf_map__fd(a->skel->maps.flows);
	a->socks_fd = bpf_map__fd(a->skel->maps.socks);
	a->vcache_fd = bpf_map__fd(a->skel->maps.vcache);
	a->counters_fd = bpf_map__fd(a->skel->maps.counters);
	*ret = a;
	return 0;
err:
	g_msg = NULL;
	libbpf_set_print(prev);
err_nolibbpf:
	ne_attr_close(a);
	return r;
}

static int bpf_flow(struct ne_attr *a, const struct ne_sock_key *k, struct ne_sock_owner *ret)
{
	return bpf_map_lookup_elem(a->flows_fd, k, ret) ? -errno : 0;
}

static int bpf_sock(struct ne_attr *a, uint64_t cookie, struct ne_sock_owner *ret)
{
	return bpf_map_lookup_elem(a->socks_fd, &cookie, ret) ? -errno : 0;
}

static int vkey_of(const struct ne_owner *o, const struct ne_tuple *t, struct ne_vkey *k)
{
	memset(k, 0, sizeof(*k));
	/* the same choice as sock.bpf.c's vcache_check: exe when the kernel knew it */
	if ((o->flags & NE_OWNER_F_EXE_ID) && o->exe_ino) {
		k->kind = NE_VKEY_EXE;
		k->a = o->exe_dev;
		k->b = o->exe_ino;
	} else if (o->flags & NE_OWNER_F_TASK) {
		k->kind = NE_VKEY_CGROUP_UID;
		k->a = o->cgroup_id;
		k->b = o->uid;
	} else {
		return -EINVAL;
	}
	if (t->family != AF_INET && t->family != AF_INET6)
		return -EAFNOSUPPORT;
	k->family = t->family;
	k->proto = t->proto;
	k->rport = t->rport;
	memcpy(k->raddr, t->raddr, addr_len(t->family));
	return 0;
}

int ne_attr_cache_allow(struct ne_attr *a, const struct ne_owner *o, const struct ne_tuple *t,
			uint32_t ttl_ms)
{
	struct ne_vkey k;
	struct ne_vval v = { 0 };
	int r;

	if (!a)
		return -EOPNOTSUPP;
	r = vkey_of(o, t, &k);
	if (r < 0)
		return r;
	v.expiry_ns = now_mono_ns() + (uint64_t)ttl_ms * 1000000u;
	return bpf_map_update_elem(a->vcache_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* Every key of the verdict cache into a new array (*ret, *n). */
static int vcache_keys(struct ne_attr *a, struct ne_vkey **ret, size_t *n)
{
	struct ne_vkey *keys = malloc(sizeof(*keys) * NE_VCACHE_MAX);
	size_t i = 0;

	if (!keys)
		return -ENOMEM;
	while (i < NE_VCACHE_MAX &&
	       !bpf_map_get_next_key(a->vcache_fd, i ? &keys[i - 1] : NULL, &keys[i]))
		i++;
	*ret = keys;
	*n = i;
	return 0;
}

int ne_attr_cache_flush(struct ne_attr *a)
{
	struct ne_vkey *keys;
	size_t n;
	int r;

	if (!a)
		return -EOPNOTSUPP;
	/* collect first: deleting while walking a hash restarts the walk */
	r = vcache_keys(a, &keys, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (bpf_map_delete_elem(a->vcache_fd, &keys[i]) && errno != ENOENT && !r)
			r = -errno;
	free(keys);
	return r;
}

static void bpf_stats(struct ne_attr *a, struct ne_attr_stats *ret)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	struct ne_vkey *keys;
	size_t n;

	ret->exe_id = a->exe_id;
	if (ncpu > 0 && (vals = calloc((size_t)ncpu, sizeof(*vals)))) {
		for (uint32_t i = 0; i < NE_CNT_MAX; i++) {
			uint64_t sum = 0;

			if (bpf_map_lookup_elem(a->counters_fd, &i, vals))
				continue;
			for (int c = 0; c < ncpu; c++)
				sum += vals[c];
			switch (i) {
			case NE_CNT_RECORDS: ret->records = sum; break;
			case NE_CNT_VC_HIT: ret->cache_hits = sum; break;
			case NE_CNT_VC_MISS: ret->cache_misses = sum; break;
			case NE_CNT_NO_OWNER: ret->no_owner = sum; break;
			case NE_CNT_MARK_ERR: ret->mark_errors = sum; break;
			default: break;
			}
		}
		free(vals);
	}
	if (!vcache_keys(a, &keys, &n)) {
		ret->cache_entries = n;
		free(keys);
	}
}

static void bpf_close(struct ne_attr *a)
{
	for (int i = 0; i < 5; i++)
		bpf_link__destroy(a->links[i]);
	sock_bpf__destroy(a->skel);
}

#endif /* UEXT_HAVE_BPF */

/* --- lookups ------------------------------------------------------------------------ */

/* A kernel record of another network namespace describes another host's tuple. */
static bool same_netns(const struct ne_attr *a, const struct ne_sock_owner *k)
{
	return !a->netns_cookie || !k->netns_cookie || a->netns_cookie == k->netns_cookie;
}

int ne_attr_lookup(struct ne_attr *a, const struct ne_tuple *t, struct ne_owner *ret)
{
	struct ne_sock_owner k;
	struct ne_sock_key key;
	struct diag_res d;
	uint32_t seq = 0;
	int fd, r;

	if (t->family != AF_INET && t->family != AF_INET6)
		return -EAFNOSUPPORT;
	if (t->proto != IPPROTO_TCP && t->proto != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	if (a) {
		memset(&key, 0, sizeof(key));
		key.family = t->family;
		key.proto = t->proto;
		key.lport = t->lport;
		key.rport = t->rport;
		memcpy(key.laddr, t->laddr, addr_len(t->family));
		memcpy(key.raddr, t->raddr, addr_len(t->family));
		r = bpf_flow(a, &key, &k);
		if (r < 0 && t->proto == IPPROTO_UDP) {
			/* unconnected UDP bound to the wildcard: recorded with laddr 0 */
			memset(key.laddr, 0, sizeof(key.laddr));
			r = bpf_flow(a, &key, &k);
		}
		if (r == 0 && same_netns(a, &k)) {
			a->lookups_hit++;
			owner_init(ret);
			owner_from(ret, &k);
			ret->source = NE_ATTR_BPF;
			return 0;
		}
		a->lookups_miss++;
	}

	if (a) {
		fd = a->diag_fd;
		r = diag_lookup(fd, &a->diag_seq, t, &d);
	} else {
		fd = diag_open();
		if (fd < 0)
			return fd;
		r = diag_lookup(fd, &seq, t, &d);
		close(fd);
	}
	if (r < 0) {
		if (a)
			a->diag_miss++;
		return r;
	}
	if (a)
		a->diag_hit++;
	owner_init(ret);
	ret->uid = d.uid;
	ret->sock_ino = d.ino;
	ret->sock_cookie = d.cookie;
	ret->flags = NE_OWNER_F_INODE;
	ret->source = NE_ATTR_SOCKDIAG;
	if (a && d.cookie && bpf_sock(a, d.cookie, &k) == 0 && same_netns(a, &k)) {
		owner_from(ret, &k);
		ret->uid = d.uid; /* the socket's uid, as sock_diag reports it */
	}
	return 0;
}

/* --- exe paths ---------------------------------------------------------------------- */

int ne_attr_exe(struct ne_attr *a, struct ne_owner *o)
{
	char link[64], path[NE_EXE_MAX];
	bool ids = (o->flags & NE_OWNER_F_EXE_ID) && o->exe_ino;
	struct exe_ent *e;
	struct stat st;
	ssize_t n;

	if (o->pid <= 0)
		return -EINVAL;
	if (a && ids) {
		for (int i = 0; i < EXE_CACHE_N; i++) {
			e = &a->exe[i];
			/* keyed by the executable the kernel saw at connect time, not by pid: every
			 * process of one program costs one readlink (a program renamed since keeps
			 * its old path here until it falls out of the cache) */
			if (e->path && e->dev == o->exe_dev && e->ino == o->exe_ino) {
				snprintf(o->exe, sizeof(o->exe), "%s", e->path);
				return 0;
			}
		}
	}
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)o->pid);
	n = readlink(link, path, sizeof(path));
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if ((size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	path[n] = '\0';
	/* the pid may have exec'd or been reused since connect(): compare the inode (not the
	 * device: btrfs and overlayfs report other st_dev values than the kernel's s_dev) */
	if (ids && (stat(link, &st) < 0 || (uint64_t)st.st_ino != o->exe_ino))
		return -ESRCH;
	memcpy(o->exe, path, (size_t)n + 1);
	if (a && ids) {
		char *copy = strdup(path);

		if (copy) {
			e = &a->exe[a->exe_next];
			a->exe_next = (a->exe_next + 1) % EXE_CACHE_N;
			free(e->path);
			e->pid = o->pid;
			e->dev = o->exe_dev;
			e->ino = o->exe_ino;
			e->path = copy;
		}
	}
	return 0;
}

/* --- stats, close ------------------------------------------------------------------- */

void ne_attr_stats(struct ne_attr *a, struct ne_attr_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!a)
		return;
	ret->lookups_hit = a->lookups_hit;
	ret->lookups_miss = a->lookups_miss;
	ret->diag_hit = a->diag_hit;
	ret->diag_miss = a->diag_miss;
	if (a->skel)
		bpf_stats(a, ret);
}

void ne_attr_close(struct ne_attr *a)
{
	if (!a)
		return;
	bpf_close(a);
	for (int i = 0; i < EXE_CACHE_N; i++)
		free(a->exe[i].path);
	if (a->diag_fd >= 0)
		close(a->diag_fd);
	if (a->cg_fd >= 0)
		close(a->cg_fd);
	free(a);
}

int ne_attr_destroy(struct ne_attr *a, const struct ne_tuple *t)
{
	struct diag_res d;
	uint32_t seq = 0;
	int fd, r;

	if (t->proto != IPPROTO_TCP)
		return -EOPNOTSUPP;
	fd = a ? a->diag_fd : diag_open();
	if (fd < 0)
		return fd;
	r = diag_query(fd, a ? ++a->diag_seq : ++seq, t, false, &d, SOCK_DESTROY);
	if (!a)
		close(fd);
	return r;
}
