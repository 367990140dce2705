/* engine.c: uextd's network filter engine (see engine.h and docs/ne-engine.md).
 *
 * One thread, one epoll loop:
 *   NFQUEUE socket  packets of flows without a verdict (fw.c decides in the kernel which:
 *                   conntrack mark 0, or a peek state and payload). Every packet is read,
 *                   attributed, parsed, and either answered at once or held until the
 *                   filter's verdict (held packets keep the flow's order).
 *   filter socket   the one network filter: flow records out, verdicts in, batched.
 *   timer           deadlines of flows waiting for the filter, pause limits, grace.
 * Verdicts go back to the kernel in one batched send per loop turn; a final verdict is a
 * packet mark that fw.c's rules save into the conntrack mark, so the flow's later packets
 * never leave the kernel. (The conntrack glue of NFQUEUE, which would give conntrack ids
 * and set the mark from the verdict, is an optional kernel part: not relied on. Flows are
 * keyed by their addresses and ports, and the packet mark, restored from the conntrack
 * mark before queueing, tells a flow's state.) */
#include "uextd/ne/engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uext/ne.h>

#include "common/netparse.h"
#include "common/newire.h"
#include "common/reasm.h"
#include "common/util.h"
#include "uextd/log.h"
#include "uextd/snapshot.h"
#include "uextd/ne/attr.h"
#include "uextd/ne/fw.h"


#define DEFAULT_QUEUE 7810
#define DEFAULT_DEADLINE_MS 1000
#define DEFAULT_PAUSE_MS 10000
#define DEFAULT_GRACE_MS 10000
#define DEFAULT_MASK 0x07000000u
#define MAX_FLOWS 4096u          /* flows waiting for a verdict or being peeked at */
#define FLOW_BUCKETS 8192u
#define MAX_HELD 16u             /* packets held per flow (retransmits beyond are dropped) */
#define QUEUE_MAXLEN 8192u
#define NFQ_SLOT (72u * 1024u)  /* one queued packet: at most 0xffff bytes copied, plus attributes */
#define NFQ_SLOTS 8u             /* packets one recvmmsg takes */
#define VERDICT_BUF (64u * 1024u)
#define OUT_MAX (8u * 1024u * 1024u) /* bytes queued to a slow filter before flows get the default */
#define DNS_SLOTS 8192u
#define RECENT_SLOTS 4096u
#define RECENT_NS (1000000000ull) /* packets queued before a verdict was saved */
#define SEQ_WINDOW (1u << 20) /* TCP bytes after a flow's first sequence number that are still that flow:
                               * a new connection on the same ports starts further away (its
                               * initial sequence number moves ~15 M a second, RFC 6528) */
#define CG_SLOTS 1024u
#define PEEK_IDLE_NS (60ull * 1000000000ull)
#define TICK_MS 50
#define GATHER_NS (200ull * 1000000ull) /* an incomplete hello or head is shown as it is after this */

enum { K_NFQ = 1, K_LISTEN, K_FILTER, K_TIMER, K_CMD };
#define TAG(k) ((uint64_t)(k))

enum flow_state { FS_FREE = 0, FS_WAIT, FS_PEEK, FS_PAUSED };

struct held {
	uint32_t id, mark;
};

struct flow {
	uint64_t id;
	uint32_t hash;
	uint32_t hnext; /* hash chain (slot + 1, 0 = end) */
	uint8_t state, direction, proto, family;
	uint8_t host_source, midstream;
	bool head_partial; /* the initiator's bytes are a TLS hello or HTTP head not yet whole */
	uint32_t flags;
	struct ne_tuple t; /* local / remote */
	struct ne_owner owner;
	char cgroup[256];
	char host[256];
	char url[1024];
	char alpn[32];
	struct reasm *rs[2]; /* 0 = outbound bytes, 1 = inbound */
	uint32_t seq0[2];    /* TCP: first sequence number seen per direction */
	bool has_seq0[2];
	uint32_t want[2];    /* peek sizes asked for */
	uint32_t sent[2];    /* bytes already shown to the filter */
	struct held held[MAX_HELD];
	uint32_t nheld;
	bool held_in; /* a held packet came in: a drop's RST goes to the peer, not our socket */
	uint64_t deadline_ns; /* FS_WAIT / FS_PAUSED: the filter's answer is due */
	uint64_t gather_ns;   /* held bytes of an incomplete hello or head are shown at this time */
	int8_t gather_dir;
	uint64_t last_ns;
};

struct dns_slot {
	uint8_t family;
	uint8_t addr[16];
	uint64_t expires_ns;
	char name[256];
};

/* A flow decided a moment ago: packets of it that were already in the queue when its
 * verdict was given come with the old mark and get the same answer. */
struct recent {
	uint32_t hash;
	uint8_t mark; /* enum ne_mark */
	bool has_seq[2];
	uint32_t seq[2]; /* TCP: a new connection on the same ports starts elsewhere */
	uint64_t until_ns;
	struct ne_tuple t;
};

struct cg_slot {
	uint64_t id;
	char path[256];
};

struct filter {
	int fd;
	pid_t pid;
	bool used, ready, said_bye;
	bool want_out; /* EPOLLOUT is on: the socket was full */
	uint32_t first_data_peek;
	struct new_rule *rules;
	size_t nrules;
	char *out;     /* queued datagrams: [u32 len][bytes]... */
	size_t out_len, out_off;
	size_t last;   /* offset of the datagram still being filled, SIZE_MAX = none */
	uint64_t flows_sent, verdicts, misses, overloaded;
};

struct counters {
	uint64_t packets, flows, allowed, dropped, peeks, paused, defaults_allow, defaults_deny, deadline_misses,
		held_dropped, dns_answers, attr_kernel, attr_diag, attr_uid, attr_none, exe_rule, cache_set, midstream,
		nfq_enobufs, verdict_errors, table_full, malformed, destroyed;
};

struct ne_engine {
	struct ne_engine_config cfg;
	struct ne_fw_config fw;
	pthread_t thread;
	atomic_bool stop;
	int ep, lfd, tfd, cmd[2];
	struct mnl_socket *nl;
	uint32_t portid;
	char *nfqbuf;
	char *vbuf;
	size_t vlen;
	struct ne_attr *attr;
	char attr_why[256];
	bool armed;
	char fw_why[256];
	uint64_t grace_until_ns;
	bool ticking; /* the timerfd is armed */
	struct filter filt;
	struct flow *slots[MAX_FLOWS];
	uint32_t nflows;
	uint32_t buckets[FLOW_BUCKETS];
	uint16_t gen;
	struct flow *spare; /* a free flow, so a new one rarely costs malloc */
	struct dns_slot *dns;
	struct recent *recent;
	struct cg_slot *cgs;
	struct counters n;
	char *rec; /* one record being built */
	struct snapshot status;
};

/* ==================================================================================
 * Verdicts to the kernel
 * ================================================================================ */

static void vflush(struct ne_engine *e)
{
	if (!e->vlen || !e->nl) return;
	if (mnl_socket_sendto(e->nl, e->vbuf, e->vlen) < 0) e->n.verdict_errors++;
	e->vlen = 0;
}

/* One verdict: accept or drop packet id; with final >= 0 the packet's mark (uext's bits
 * only) becomes that state, which the rules after the queue save into conntrack. */
static void verdict(struct ne_engine *e, uint32_t id, uint32_t pkt_mark, int v, int final)
{
	if (e->vlen + 128 > VERDICT_BUF) vflush(e);
	struct nlmsghdr *nlh = nfq_nlmsg_put(e->vbuf + e->vlen, NFQNL_MSG_VERDICT, e->fw.queue);
	nfq_nlmsg_verdict_put(nlh, (int)id, v);
	if (final >= 0) nfq_nlmsg_verdict_put_mark(nlh, (pkt_mark & ~e->fw.mark_mask) | ne_fw_mark(&e->fw, (enum ne_mark)final));
	e->vlen += nlh->nlmsg_len;
}

/* ==================================================================================
 * Flows
 * ================================================================================ */

static uint32_t tuple_hash(const struct ne_tuple *t)
{
	uint32_t h = 2166136261u;
	const uint8_t *b = (const uint8_t *)t;
	for (size_t i = 0; i < sizeof *t; i++) h = (h ^ b[i]) * 16777619u;
	return h;
}

static struct flow *flow_by_tuple(struct ne_engine *e, const struct ne_tuple *t, uint32_t hash)
{
	for (uint32_t s = e->buckets[hash % FLOW_BUCKETS]; s; s = e->slots[s - 1]->hnext)
		if (e->slots[s - 1]->hash == hash && memcmp(&e->slots[s - 1]->t, t, sizeof *t) == 0) return e->slots[s - 1];
	return NULL;
}

static struct flow *flow_by_id(struct ne_engine *e, uint64_t id)
{
	uint32_t slot = (uint32_t)(id & 0xffff);
	if (slot >= MAX_FLOWS || !e->slots[slot] || e->slots[slot]->id != id) return NULL;
	return e->slots[slot];
}

static struct flow *flow_new(struct ne_engine *e, const struct ne_tuple *t, uint32_t hash)
{
	if (e->nflows == MAX_FLOWS) return NULL;
	uint32_t slot = 0;
	while (e->slots[slot]) slot++; /* MAX_FLOWS is small and the table rarely full */
	struct flow *f = e->spare;
	e->spare = NULL;
	if (!f && !(f = malloc(sizeof *f))) return NULL;
	memset(f, 0, offsetof(struct flow, cgroup));
	f->cgroup[0] = f->host[0] = f->url[0] = f->alpn[0] = 0;
	f->owner.exe[0] = f->owner.comm[0] = 0;
	f->rs[0] = f->rs[1] = NULL;
	f->nheld = 0;
	f->held_in = false;
	f->head_partial = false;
	f->want[0] = f->want[1] = f->sent[0] = f->sent[1] = 0;
	f->has_seq0[0] = f->has_seq0[1] = false;
	f->deadline_ns = f->gather_ns = 0;
	f->id = ((uint64_t)(++e->gen) << 16) | slot;
	f->id |= (uint64_t)(uint32_t)time(NULL) << 32; /* ids differ across uextd restarts */
	f->t = *t;
	f->hash = hash;
	f->hnext = e->buckets[hash % FLOW_BUCKETS];
	e->slots[slot] = f;
	e->buckets[hash % FLOW_BUCKETS] = slot + 1;
	e->nflows++;
	return f;
}

static void flow_free(struct ne_engine *e, struct flow *f)
{
	uint32_t slot = (uint32_t)(f->id & 0xffff);
	uint32_t *pp = &e->buckets[f->hash % FLOW_BUCKETS];
	while (*pp && *pp != slot + 1) pp = &e->slots[*pp - 1]->hnext;
	if (*pp) *pp = f->hnext;
	e->slots[slot] = NULL;
	e->nflows--;
	free(f->rs[0]);
	free(f->rs[1]);
	f->rs[0] = f->rs[1] = NULL;
	if (!e->spare) e->spare = f;
	else free(f);
}

/* Release the held packets with a final verdict and forget the flow. */
static void flow_decide(struct ne_engine *e, struct flow *f, enum ne_mark m)
{
	if (m == NE_MARK_ALLOW && f->proto == IPPROTO_UDP && f->direction == UEXT_NE_OUTBOUND && f->t.rport == 53)
		m = NE_MARK_DNS; /* keep reading its answers */
	for (uint32_t i = 0; i < f->nheld; i++) verdict(e, f->held[i].id, f->held[i].mark, NF_ACCEPT, (int)m);
	/* REJECT answers the packet's sender: when what was dropped came in, our own socket
	 * is closed here so its program fails at once too, instead of waiting for data */
	if (m == NE_MARK_DROP && f->held_in && f->proto == IPPROTO_TCP && f->direction != UEXT_NE_FORWARD) {
		vflush(e); /* the RST first */
		if (ne_attr_destroy(e->attr, &f->t) == 0) e->n.destroyed++;
	}
	if (m == NE_MARK_DROP) e->n.dropped++;
	else e->n.allowed++;
	struct recent *r = &e->recent[f->hash % RECENT_SLOTS];
	*r = (struct recent){ .hash = f->hash, .mark = (uint8_t)m, .until_ns = now_mono_ns() + RECENT_NS, .t = f->t };
	for (int d = 0; d < 2; d++)
		if (f->has_seq0[d]) r->has_seq[d] = true, r->seq[d] = f->seq0[d];
	flow_free(e, f);
}

/* Let the held packets go without deciding (peeking continues), with the flow's peek
 * state in the conntrack mark so the kernel queues only what the filter reads. */
static void flow_release(struct ne_engine *e, struct flow *f)
{
	/* want[] and the marks both name directions of this host: out = leaving it */
	enum ne_mark m = f->want[0] && f->want[1] ? NE_MARK_PEEK_BOTH : f->want[1] ? NE_MARK_PEEK_IN : NE_MARK_PEEK_OUT;
	for (uint32_t i = 0; i < f->nheld; i++) verdict(e, f->held[i].id, f->held[i].mark, NF_ACCEPT, (int)m);
	f->nheld = 0;
}

/* The policy's answer when no filter gives one (counted). */
static enum ne_mark policy_default(struct ne_engine *e)
{
	if (e->cfg.fail_closed) e->n.defaults_deny++;
	else e->n.defaults_allow++;
	return e->cfg.fail_closed ? NE_MARK_DROP : NE_MARK_ALLOW;
}

static void flow_default(struct ne_engine *e, struct flow *f)
{
	flow_decide(e, f, policy_default(e));
}

/* ==================================================================================
 * Names: DNS answers seen, cgroup paths
 * ================================================================================ */

static uint32_t addr_hash(uint8_t family, const uint8_t *a)
{
	uint32_t h = 2166136261u ^ family;
	for (int i = 0; i < (family == AF_INET ? 4 : 16); i++) h = (h ^ a[i]) * 16777619u;
	return h;
}

static void dns_learn(struct ne_engine *e, const struct np_dns_msg *m)
{
	uint64_t now = now_mono_ns();
	for (size_t i = 0; i < m->naddrs; i++) {
		const struct np_dns_addr *a = &m->addrs[i];
		struct dns_slot *s = &e->dns[addr_hash(a->family, a->addr) % DNS_SLOTS];
		s->family = a->family;
		memcpy(s->addr, a->addr, 16);
		uint32_t ttl = a->ttl < 60 ? 60 : a->ttl > 3600 ? 3600 : a->ttl;
		s->expires_ns = now + (uint64_t)ttl * 1000000000ull;
		/* the name asked for: that is what a user typed, not the CDN's alias */
		strlcpy_(s->name, m->qname[0] ? m->qname : a->name, sizeof s->name);
	}
	e->n.dns_answers++;
}

static const char *dns_name(struct ne_engine *e, uint8_t family, const uint8_t *addr)
{
	struct dns_slot *s = &e->dns[addr_hash(family, addr) % DNS_SLOTS];
	if (s->family != family || memcmp(s->addr, addr, family == AF_INET ? 4 : 16) != 0) return NULL;
	if (s->expires_ns < now_mono_ns()) return NULL;
	return s->name;
}

static void cgroup_path(struct ne_engine *e, struct flow *f)
{
	if (!f->owner.cgroup_id || f->owner.pid <= 0) return;
	struct cg_slot *s = &e->cgs[f->owner.cgroup_id % CG_SLOTS];
	if (s->id != f->owner.cgroup_id) {
		char p[64], *buf = NULL;
		size_t len;
		snprintf(p, sizeof p, "/proc/%d/cgroup", f->owner.pid);
		if (read_file_capped(p, 64 * 1024, &buf, &len) < 0) return;
		const char *v2 = strstr(buf, "0::");
		if (v2 && (v2 == buf || v2[-1] == '\n')) {
			v2 += 3;
			size_t n = strcspn(v2, "\n");
			if (n >= sizeof s->path) n = sizeof s->path - 1;
			memcpy(s->path, v2, n);
			s->path[n] = 0;
			s->id = f->owner.cgroup_id;
		}
		free(buf);
		if (s->id != f->owner.cgroup_id) return;
	}
	strlcpy_(f->cgroup, s->path, sizeof f->cgroup);
}

/* ==================================================================================
 * The filter client
 * ================================================================================ */

static void ep_mod(struct ne_engine *e, int fd, uint64_t tag, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.u64 = tag };
	epoll_ctl(e->ep, op, fd, &ev);
}

static void filter_close(struct ne_engine *e, bool clean)
{
	struct filter *c = &e->filt;
	if (!c->used) return;
	epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->rules);
	free(c->out);
	ulog(LOG_INFO, "ne: filter (pid %d) %s", (int)c->pid, clean ? "stopped" : "went away");
	*c = (struct filter){ .fd = -1 };
	/* every flow that waited for it gets the policy's answer now */
	for (uint32_t s = 0; s < MAX_FLOWS; s++)
		if (e->slots[s]) flow_default(e, e->slots[s]);
	if (clean) e->grace_until_ns = 1; /* disarm at the next tick */
	else e->grace_until_ns = now_mono_ns() + (uint64_t)e->cfg.grace_ms * 1000000ull;
}

static void filter_flush(struct ne_engine *e)
{
	struct filter *c = &e->filt;
	while (c->used && c->out_off < c->out_len) {
		uint32_t len;
		memcpy(&len, c->out + c->out_off, 4);
		ssize_t n = send(c->fd, c->out + c->out_off + 4, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				if (!c->want_out) ep_mod(e, c->fd, TAG(K_FILTER), EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
				c->want_out = true;
				return;
			}
			filter_close(e, false);
			return;
		}
		c->out_off += 4 + len;
	}
	if (c->used) {
		c->out_len = c->out_off = 0;
		if (c->want_out) ep_mod(e, c->fd, TAG(K_FILTER), EPOLLIN, EPOLL_CTL_MOD);
		c->want_out = false;
	}
}

/* Append one record to the datagram being filled (a new datagram when it would not fit). */
static bool filter_put(struct ne_engine *e, const void *rec, uint32_t len)
{
	struct filter *c = &e->filt;
	if (c->out_len - c->out_off + len + 8 > OUT_MAX) {
		c->overloaded++;
		return false;
	}
	/* the last datagram grows while it has room */
	size_t last = c->out_len == 0 ? SIZE_MAX : c->last;
	size_t need = c->out_len + len + 4;
	char *out = realloc(c->out, need);
	if (!out) return false;
	c->out = out;
	uint32_t cur = 0;
	if (last != SIZE_MAX) memcpy(&cur, c->out + last, 4);
	if (last != SIZE_MAX && last >= c->out_off && cur + len <= NEW_MAX_DGRAM) {
		memcpy(c->out + c->out_len, rec, len);
		cur += len;
		memcpy(c->out + last, &cur, 4);
		c->out_len += len;
	} else {
		last = c->out_len;
		memcpy(c->out + c->out_len, &len, 4);
		memcpy(c->out + c->out_len + 4, rec, len);
		c->out_len += 4 + len;
	}
	c->last = last;
	return true;
}

/* s is always one of the flow's NUL-terminated buffers, each under NEW_MAX_STR */
static uint32_t rec_str(char *rec, uint32_t *off, const char *s)
{
	size_t n = strlen(s);
	uint32_t at = *off;
	memcpy(rec + at, s, n);
	rec[at + n] = 0;
	*off += (uint32_t)n + 1;
	return at;
}

/* Send the flow to the filter (event NEW, or DATA of direction dir). */
static bool send_flow(struct ne_engine *e, struct flow *f, int event, int dir, bool complete)
{
	char *rec = e->rec;
	struct new_flow *r = (struct new_flow *)rec;
	memset(r, 0, sizeof *r);
	r->op = NEW_FLOW;
	r->id = f->id;
	r->event = (uint8_t)event;
	r->direction = f->direction;
	r->protocol = f->proto;
	r->family = f->family;
	r->attribution = f->owner.source;
	r->host_source = f->host_source;
	r->flags = f->flags | (f->midstream ? UEXT_NE_FLOW_MIDSTREAM : 0);
	memcpy(r->laddr, f->t.laddr, 16);
	memcpy(r->raddr, f->t.raddr, 16);
	r->lport = f->t.lport;
	r->rport = f->t.rport;
	r->pid = f->owner.pid;
	r->uid = f->owner.uid;
	r->gid = f->owner.gid;
	r->cgroup_id = f->owner.cgroup_id;
	uint32_t off = sizeof *r;
	r->exe_off = rec_str(rec, &off, f->owner.exe);
	r->comm_off = rec_str(rec, &off, f->owner.comm);
	r->host_off = rec_str(rec, &off, f->host);
	r->url_off = rec_str(rec, &off, f->url);
	r->alpn_off = rec_str(rec, &off, f->alpn);
	r->cgroup_off = rec_str(rec, &off, f->cgroup);
	r->bytes_out = f->rs[0] ? reasm_contiguous(f->rs[0]) : 0;
	r->bytes_in = f->rs[1] ? reasm_contiguous(f->rs[1]) : 0;
	if (dir >= 0 && f->rs[dir]) {
		size_t n = reasm_contiguous(f->rs[dir]);
		uint32_t want = f->want[dir] ? f->want[dir] : e->filt.first_data_peek;
		if (want && n > want) n = want;
		r->data_dir = (uint8_t)(dir == 0 ? UEXT_NE_OUTBOUND : UEXT_NE_INBOUND);
		r->data_complete = complete;
		r->data_off = off;
		r->data_len = (uint32_t)n;
		memcpy(rec + off, reasm_data(f->rs[dir]), n);
		off += (uint32_t)n;
		f->sent[dir] = (uint32_t)n;
	}
	off = (off + 7) & ~7u;
	r->len = off;
	if (!filter_put(e, rec, off)) return false;
	e->filt.flows_sent++;
	return true;
}

/* ==================================================================================
 * Packets
 * ================================================================================ */

struct pkt {
	uint32_t id, mark, hook, uid, gid;
	bool has_uid;
	uint8_t family, proto, tcpflags;
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t seq;
	const uint8_t *payload;
	size_t plen;
};

static int parse_ip(struct pkt *p, const uint8_t *b, size_t len)
{
	size_t off;
	if (len < 1) return -1;
	if ((b[0] >> 4) == 4) {
		if (len < 20) return -1;
		size_t ihl = (size_t)(b[0] & 15) * 4;
		size_t tot = (size_t)b[2] << 8 | b[3];
		if (ihl < 20 || ihl > len) return -1;
		if (tot >= ihl && tot < len) len = tot; /* GSO packets carry 0 here: keep len */
		if ((b[6] & 0x1f) || b[7]) return -1; /* a fragment: conntrack reassembles before us */
		p->family = AF_INET;
		p->proto = b[9];
		memcpy(p->src, b + 12, 4);
		memcpy(p->dst, b + 16, 4);
		off = ihl;
	} else if ((b[0] >> 4) == 6) {
		if (len < 40) return -1;
		p->family = AF_INET6;
		memcpy(p->src, b + 8, 16);
		memcpy(p->dst, b + 24, 16);
		uint8_t nh = b[6];
		off = 40;
		for (int i = 0; i < 8 && (nh == 0 || nh == 43 || nh == 60 || nh == 51); i++) {
			if (off + 8 > len) return -1;
			uint8_t next = b[off];
			size_t hl = nh == 51 ? ((size_t)b[off + 1] + 2) * 4 : ((size_t)b[off + 1] + 1) * 8;
			nh = next;
			off += hl;
		}
		p->proto = nh;
	} else {
		return -1;
	}
	if (p->proto == IPPROTO_TCP) {
		if (off + 20 > len) return -1;
		const uint8_t *t = b + off;
		size_t doff = (size_t)(t[12] >> 4) * 4;
		if (doff < 20 || off + doff > len) return -1;
		p->sport = (uint16_t)(t[0] << 8 | t[1]);
		p->dport = (uint16_t)(t[2] << 8 | t[3]);
		p->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
		p->tcpflags = t[13];
		p->payload = t + doff;
		p->plen = len - off - doff;
	} else if (p->proto == IPPROTO_UDP) {
		if (off + 8 > len) return -1;
		const uint8_t *u = b + off;
		p->sport = (uint16_t)(u[0] << 8 | u[1]);
		p->dport = (uint16_t)(u[2] << 8 | u[3]);
		p->payload = u + 8;
		p->plen = len - off - 8;
	} else {
		return -1;
	}
	return 0;
}

static int init_dir(const struct flow *f)
{
	return f->direction == UEXT_NE_INBOUND ? 1 : 0; /* the bytes of the side that connected */
}

/* Parse what the initiator's peeked bytes say: TLS SNI, HTTP Host and URL, a DNS query's
 * name, and whether a hello or request head is still incomplete (head_partial). */
static void sniff(struct flow *f)
{
	int d0 = init_dir(f);
	if (!f->rs[d0] || f->host_source == UEXT_NE_HOST_SNI || f->host_source == UEXT_NE_HOST_HTTP) return;
	const uint8_t *d = reasm_data(f->rs[d0]);
	size_t n = reasm_contiguous(f->rs[d0]);
	if (!n) return;
	if (f->proto == IPPROTO_UDP) {
		if (f->t.rport == 53) {
			struct np_dns_msg m;
			if (np_dns_parse(d, n, &m) == NP_OK && !m.is_response && m.qname[0]) {
				strlcpy_(f->host, m.qname, sizeof f->host);
				f->host_source = UEXT_NE_HOST_DNS;
			}
		}
		return;
	}
	struct np_tls_hello h;
	int r = np_tls_client_hello(d, n, &h);
	f->head_partial = r == NP_NEED_MORE;
	if (r == NP_OK || r == NP_NEED_MORE || r == NP_NONE) f->flags |= UEXT_NE_FLOW_TLS;
	if (r == NP_OK) {
		strlcpy_(f->host, h.sni, sizeof f->host);
		f->host_source = UEXT_NE_HOST_SNI;
		if (h.has_ech) f->flags |= UEXT_NE_FLOW_ECH;
		if (h.alpn_count) strlcpy_(f->alpn, h.alpn[0], sizeof f->alpn);
		return;
	}
	if (r != NP_NOT_THIS) return;
	struct np_http_req q;
	r = np_http_request(d, n, &q);
	f->head_partial = r == NP_NEED_MORE;
	if (r == NP_OK && q.host[0]) {
		strlcpy_(f->host, q.host, sizeof f->host);
		f->host_source = UEXT_NE_HOST_HTTP;
		np_http_url(&q, f->url, sizeof f->url);
	}
}

/* Is the peek of direction dir complete enough to show? */
/* What to do with new bytes of direction dir. As on macOS, the filter sees data as it
 * arrives (up to the size it asked for), but a TLS ClientHello or an HTTP request head
 * that is still incomplete is gathered whole first (up to the cap, or GATHER_NS), its
 * segments held, so the filter decides on a name and the server gets nothing before.
 * *complete: no more will be shown. */
enum peek_step { PK_PASS, PK_GATHER, PK_SHOW };
static enum peek_step peek_step(struct ne_engine *e, struct flow *f, int dir, bool *complete)
{
	size_t have = reasm_contiguous(f->rs[dir]);
	uint32_t want = f->state == FS_WAIT ? e->filt.first_data_peek : f->want[dir];
	*complete = false;
	if (!want) return PK_PASS;
	/* nothing new: a retransmit, or a segment after a hole (the server cannot use it
	 * before the hole is filled, and that segment comes here) */
	if (have <= f->sent[dir]) return f->state == FS_PEEK ? PK_PASS : PK_GATHER;
	if (have >= want || have >= UEXT_NE_PEEK_MAX) {
		*complete = have < want;
		return PK_SHOW;
	}
	/* sniff() parsed these bytes just before */
	return dir == init_dir(f) && f->proto == IPPROTO_TCP && f->head_partial ? PK_GATHER : PK_SHOW;
}

static void hold(struct ne_engine *e, struct flow *f, const struct pkt *p)
{
	if (f->nheld == MAX_HELD) {
		e->n.held_dropped++;
		verdict(e, p->id, p->mark, NF_DROP, -1); /* a retransmit: the sender tries again */
		return;
	}
	f->held[f->nheld++] = (struct held){ p->id, p->mark };
	if (p->hook == NF_INET_LOCAL_IN) f->held_in = true;
}

static bool exe_rule(struct ne_engine *e, struct flow *f, enum ne_mark *ret)
{
	for (size_t i = 0; i < e->filt.nrules; i++) {
		const struct new_rule *r = &e->filt.rules[i];
		if (!r->exe[0] || strcmp(r->exe, f->owner.exe) != 0) continue;
		if (r->direction && r->direction != f->direction) continue;
		if (r->protocol && r->protocol != f->proto) continue;
		if (r->uid >= 0 && (uint32_t)r->uid != f->owner.uid) continue;
		if ((r->port_min || r->port_max) &&
		    (f->t.rport < r->port_min || f->t.rport > (r->port_max ? r->port_max : r->port_min)))
			continue;
		if (r->family) {
			if (r->family != f->family) continue;
			int bits = r->prefix, i2 = 0;
			bool ok = true;
			for (; bits >= 8; bits -= 8, i2++) ok = ok && r->addr[i2] == f->t.raddr[i2];
			if (bits) ok = ok && ((r->addr[i2] ^ f->t.raddr[i2]) & (0xff << (8 - bits))) == 0;
			if (!ok) continue;
		}
		if (r->action == UEXT_NE_RULE_FILTER) return false;
		*ret = r->action == UEXT_NE_RULE_ALLOW ? NE_MARK_ALLOW : NE_MARK_DROP;
		return true;
	}
	return false;
}

static void attribute(struct ne_engine *e, struct flow *f, const struct pkt *p)
{
	if (f->direction == UEXT_NE_FORWARD || ne_attr_lookup(e->attr, &f->t, &f->owner) < 0) {
		memset(&f->owner, 0, sizeof f->owner);
		f->owner.uid = f->owner.gid = (uint32_t)-1;
		if (p->has_uid) {
			f->owner.uid = p->uid;
			f->owner.gid = p->gid;
			f->owner.source = NE_ATTR_NFQ_UID;
		}
	}
	switch (f->owner.source) {
	case NE_ATTR_BPF: e->n.attr_kernel++; break;
	case NE_ATTR_SOCKDIAG: e->n.attr_diag++; break;
	case NE_ATTR_NFQ_UID: e->n.attr_uid++; break;
	default: e->n.attr_none++; break;
	}
	if (f->owner.pid > 0) {
		ne_attr_exe(e->attr, &f->owner);
		cgroup_path(e, f);
	}
}

/* The flow a packet belongs to, seen from this host: local = the endpoint on this host
 * (for routed traffic: the lower of the two, so both directions give one key). */
static void packet_tuple(const struct pkt *p, struct ne_tuple *t, bool *from_local)
{
	size_t alen = p->family == AF_INET ? 4 : 16;
	bool src_local = p->hook == NF_INET_LOCAL_OUT;
	if (p->hook == NF_INET_FORWARD) {
		int c = memcmp(p->src, p->dst, alen);
		src_local = c < 0 || (c == 0 && p->sport <= p->dport);
	}
	memset(t, 0, sizeof *t);
	t->family = p->family;
	t->proto = p->proto;
	memcpy(t->laddr, src_local ? p->src : p->dst, alen);
	memcpy(t->raddr, src_local ? p->dst : p->src, alen);
	t->lport = src_local ? p->sport : p->dport;
	t->rport = src_local ? p->dport : p->sport;
	*from_local = src_local;
}

static void answer_default(struct ne_engine *e, const struct pkt *p)
{
	verdict(e, p->id, p->mark, NF_ACCEPT, (int)policy_default(e));
}

/* Add the packet's payload to direction dir's peek buffer (made on first use) and parse
 * what it says. false: no memory for the buffer. */
static bool take_bytes(struct flow *f, int dir, const struct pkt *p)
{
	uint32_t seq = p->proto == IPPROTO_TCP ? p->seq : 0;
	if (!f->rs[dir]) {
		if (!(f->rs[dir] = malloc(sizeof(struct reasm)))) return false;
		reasm_init(f->rs[dir], seq, UEXT_NE_PEEK_MAX);
	}
	reasm_add(f->rs[dir], seq, p->payload, p->plen);
	sniff(f);
	return true;
}

/* Send the flow to the filter (event ev, the bytes of dir when >= 0) and wait for its
 * answer until the deadline; the policy answers if it cannot be sent. */
static void ask_filter(struct ne_engine *e, struct flow *f, int ev, int dir, bool complete)
{
	f->state = FS_WAIT;
	f->gather_ns = 0;
	f->deadline_ns = now_mono_ns() + (uint64_t)e->cfg.deadline_ms * 1000000ull;
	if (!send_flow(e, f, ev, dir, complete)) flow_default(e, f);
}

static void on_packet(struct ne_engine *e, struct pkt *p)
{
	e->n.packets++;
	/* the flow's state: the rules restored its conntrack mark into the packet's */
	enum ne_mark ctm = ne_fw_mark_of(&e->fw, p->mark);
	struct ne_tuple t;
	bool from_local;
	packet_tuple(p, &t, &from_local);
	/* data direction: 0 = leaving this host's socket (routed: from the lower endpoint) */
	int dir = from_local ? 0 : 1;

	if (ctm == NE_MARK_DNS) { /* an answer to an allowed query */
		if (dir == 1 && p->proto == IPPROTO_UDP && p->sport == 53) {
			struct np_dns_msg m;
			if (np_dns_parse(p->payload, p->plen, &m) == NP_OK && m.is_response) dns_learn(e, &m);
		}
		verdict(e, p->id, p->mark, NF_ACCEPT, -1);
		return;
	}
	uint32_t hash = tuple_hash(&t);
	struct flow *f = flow_by_tuple(e, &t, hash);
	if (f && p->proto == IPPROTO_TCP && f->has_seq0[dir] && p->seq - f->seq0[dir] >= SEQ_WINDOW) {
		/* the ports were reused by a new connection: the old one's verdict is moot */
		if (f->nheld) flow_default(e, f);
		else flow_free(e, f);
		f = NULL;
	}
	if (f && p->proto == IPPROTO_TCP && !f->has_seq0[dir]) {
		f->seq0[dir] = p->seq;
		f->has_seq0[dir] = true;
	}
	if (!f) {
		struct recent *r = &e->recent[hash % RECENT_SLOTS];
		if (r->hash == hash && r->until_ns > now_mono_ns() && memcmp(&r->t, &t, sizeof t) == 0 &&
		    (p->proto != IPPROTO_TCP || (r->has_seq[dir] && p->seq - r->seq[dir] < SEQ_WINDOW))) {
			verdict(e, p->id, p->mark, NF_ACCEPT, r->mark);
			return;
		}
		if (!e->filt.used || !e->filt.ready) { /* no filter: the policy answers */
			answer_default(e, p);
			return;
		}
		if (!(f = flow_new(e, &t, hash))) {
			e->n.table_full++;
			answer_default(e, p);
			return;
		}
		e->n.flows++;
		f->proto = p->proto;
		f->family = p->family;
		if (p->proto == IPPROTO_TCP) {
			f->seq0[dir] = p->seq;
			f->has_seq0[dir] = true;
		}
		/* Who started it: the sender of a TCP SYN; for a TCP packet that is not a SYN on a
		 * flow in no state (made before uext's rules were there) the side on the lower,
		 * well-known port is taken as the server; for UDP the sender of the first packet
		 * the queue saw (a later one would carry the flow's mark). */
		bool starter_local = from_local;
		bool syn = p->proto == IPPROTO_TCP && (p->tcpflags & TH_SYN) && !(p->tcpflags & TH_ACK);
		f->midstream = p->proto == IPPROTO_TCP && !syn && ctm == NE_MARK_NEW;
		if (f->midstream) {
			e->n.midstream++;
			ulog(LOG_DEBUG, "ne: flow first seen mid-connection: hook %u flags 0x%x mark 0x%x len %zu port %u->%u",
			     p->hook, p->tcpflags, p->mark, p->plen, p->sport, p->dport);
			starter_local = t.rport < t.lport;
		} else if (ctm == NE_MARK_PEEK_IN) {
			starter_local = false; /* lazy TCP: an inbound handshake passed, now its data */
		} else if (ctm == NE_MARK_PEEK_OUT) {
			starter_local = true;
		}
		f->direction = p->hook == NF_INET_FORWARD ? UEXT_NE_FORWARD : starter_local ? UEXT_NE_OUTBOUND : UEXT_NE_INBOUND;
		attribute(e, f, p);
		const char *dn = dns_name(e, f->family, f->t.raddr);
		if (dn) {
			strlcpy_(f->host, dn, sizeof f->host);
			f->host_source = UEXT_NE_HOST_DNS;
		}
		f->state = FS_WAIT;
		f->last_ns = now_mono_ns();
		enum ne_mark m;
		if (e->filt.nrules && exe_rule(e, f, &m)) {
			e->n.exe_rule++;
			f->held[f->nheld++] = (struct held){ p->id, p->mark };
			flow_decide(e, f, m);
			return;
		}
		hold(e, f, p);
		bool has = p->plen && take_bytes(f, dir, p); /* first data: buffer it */
		bool complete = false;
		bool lazy = p->proto == IPPROTO_TCP && e->filt.first_data_peek && !f->midstream;
		if (has && lazy && peek_step(e, f, dir, &complete) == PK_GATHER) {
			/* more of the hello to come: hold this segment, keep gathering */
			f->gather_ns = now_mono_ns() + GATHER_NS;
			f->gather_dir = (int8_t)dir;
			return;
		}
		ask_filter(e, f, NEW_EV_NEW, has ? dir : -1, complete);
		return;
	}

	/* a flow we know */
	f->last_ns = now_mono_ns();
	if (f->state == FS_PAUSED || f->deadline_ns) {
		/* its verdict is pending: keep order, keep the bytes */
		if (p->plen && f->rs[dir]) reasm_add(f->rs[dir], p->proto == IPPROTO_TCP ? p->seq : 0, p->payload, p->plen);
		hold(e, f, p);
		return;
	}
	if (!p->plen) {
		verdict(e, p->id, p->mark, NF_ACCEPT, -1);
		return;
	}
	if (!take_bytes(f, dir, p)) {
		verdict(e, p->id, p->mark, NF_ACCEPT, -1);
		return;
	}
	bool complete = false;
	switch (peek_step(e, f, dir, &complete)) {
	case PK_PASS:
		verdict(e, p->id, p->mark, NF_ACCEPT, -1);
		return;
	case PK_GATHER:
		hold(e, f, p);
		if (!f->gather_ns) f->gather_ns = now_mono_ns() + GATHER_NS;
		f->gather_dir = (int8_t)dir;
		return;
	case PK_SHOW: break;
	}
	hold(e, f, p);
	ask_filter(e, f, f->state == FS_WAIT ? NEW_EV_NEW : NEW_EV_DATA, dir, complete);
}

static int nfq_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ne_engine *e = data;
	struct nlattr *a[NFQA_MAX + 1] = { 0 };
	if (nfq_nlmsg_parse(nlh, a) < 0 || !a[NFQA_PACKET_HDR]) return MNL_CB_OK;
	struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(a[NFQA_PACKET_HDR]);
	struct pkt p = { 0 };
	p.id = ntohl(ph->packet_id);
	p.hook = ph->hook;
	if (a[NFQA_MARK]) p.mark = ntohl(mnl_attr_get_u32(a[NFQA_MARK]));
	if (a[NFQA_UID] && a[NFQA_GID]) {
		p.has_uid = true;
		p.uid = ntohl(mnl_attr_get_u32(a[NFQA_UID]));
		p.gid = ntohl(mnl_attr_get_u32(a[NFQA_GID]));
	}
	if (!a[NFQA_PAYLOAD] ||
	    parse_ip(&p, mnl_attr_get_payload(a[NFQA_PAYLOAD]), mnl_attr_get_payload_len(a[NFQA_PAYLOAD])) < 0) {
		e->n.malformed++;
		verdict(e, p.id, p.mark, NF_ACCEPT, -1);
		return MNL_CB_OK;
	}
	on_packet(e, &p);
	return MNL_CB_OK;
}

/* Up to 64 packets a loop turn, NFQ_SLOTS a call: with several connections starting at
 * once one call takes them all, and a call that returns fewer than it could take ends the
 * turn without another that would only say EAGAIN. */
static void on_nfq(struct ne_engine *e)
{
	struct mmsghdr mm[NFQ_SLOTS];
	struct iovec iov[NFQ_SLOTS];
	for (int i = 0; i < 64 / (int)NFQ_SLOTS; i++) {
		for (unsigned k = 0; k < NFQ_SLOTS; k++) {
			iov[k] = (struct iovec){ .iov_base = e->nfqbuf + k * NFQ_SLOT, .iov_len = NFQ_SLOT };
			mm[k] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[k], .msg_iovlen = 1 } };
		}
		int n = recvmmsg(mnl_socket_get_fd(e->nl), mm, NFQ_SLOTS, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == ENOBUFS) {
				e->n.nfq_enobufs++;
				continue;
			}
			break;
		}
		for (int k = 0; k < n; k++)
			mnl_cb_run(e->nfqbuf + k * NFQ_SLOT, mm[k].msg_len, 0, e->portid, nfq_cb, e);
		if (n < (int)NFQ_SLOTS) break;
	}
}

/* ==================================================================================
 * Kernel plumbing: queue and rules
 * ================================================================================ */

static int nfq_cfg(struct ne_engine *e, void (*fill)(struct nlmsghdr *, void *), void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, e->fw.queue);
	nlh->nlmsg_flags |= NLM_F_ACK;
	fill(nlh, arg);
	if (mnl_socket_sendto(e->nl, nlh, nlh->nlmsg_len) < 0) return -errno;
	ssize_t n = mnl_socket_recvfrom(e->nl, buf, sizeof buf);
	if (n < 0) return -errno;
	return mnl_cb_run(buf, (size_t)n, 0, e->portid, NULL, NULL) < 0 ? -errno : 0;
}

static void fill_bind(struct nlmsghdr *nlh, void *arg)
{
	(void)arg;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
}

static void fill_params(struct nlmsghdr *nlh, void *arg)
{
	struct ne_engine *e = arg;
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, QUEUE_MAXLEN);
	uint32_t flags = NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID |
			 (e->cfg.fail_closed ? 0 : NFQA_CFG_F_FAIL_OPEN);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(flags | NFQA_CFG_F_FAIL_OPEN));
}

static int queue_open(struct ne_engine *e, char *why, size_t whylen)
{
	if (!(e->nl = mnl_socket_open(NETLINK_NETFILTER))) {
		snprintf(why, whylen, "netlink netfilter socket: %s", strerror(errno));
		return -errno;
	}
	if (mnl_socket_bind(e->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(why, whylen, "netlink bind: %s", strerror(errno));
		return -errno;
	}
	e->portid = mnl_socket_get_portid(e->nl);
	int r = nfq_cfg(e, fill_bind, NULL);
	if (r == 0) r = nfq_cfg(e, fill_params, e);
	if (r < 0) {
		snprintf(why, whylen, "NFQUEUE %u: %s%s", e->fw.queue, strerror(-r),
			 r == -EBUSY ? " (another program listens on this queue; uextd --ne-queue N)" : "");
		mnl_socket_close(e->nl);
		e->nl = NULL;
		return r;
	}
	int big = 8 << 20, one = 1;
	setsockopt(mnl_socket_get_fd(e->nl), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
	setsockopt(mnl_socket_get_fd(e->nl), SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
	fcntl(mnl_socket_get_fd(e->nl), F_SETFL, O_NONBLOCK);
	ep_mod(e, mnl_socket_get_fd(e->nl), TAG(K_NFQ), EPOLLIN, EPOLL_CTL_ADD);
	return 0;
}

static void queue_close(struct ne_engine *e)
{
	if (!e->nl) return;
	vflush(e);
	epoll_ctl(e->ep, EPOLL_CTL_DEL, mnl_socket_get_fd(e->nl), NULL);
	mnl_socket_close(e->nl); /* the kernel drops the queue binding with the socket */
	e->nl = NULL;
}

/* Arm: rules for the filter's settings, queue bound, attribution loaded. */
static int arm(struct ne_engine *e, char *why, size_t whylen)
{
	e->fw.lazy_tcp = e->filt.first_data_peek > 0;
	if (!e->nl) {
		int r = queue_open(e, why, whylen);
		if (r < 0) return r;
	}
	int r = ne_fw_apply(&e->fw, e->filt.rules, e->filt.nrules, why, whylen);
	if (r < 0) return r;
	if (!e->attr && !e->attr_why[0]) {
		if (ne_attr_open(&e->attr, e->cfg.cgroup_dir, e->fw.mark_mask, ne_fw_mark(&e->fw, NE_MARK_ALLOW), e->attr_why,
				 sizeof e->attr_why) < 0)
			ulog(LOG_WARNING, "ne: process attribution without eBPF: %s", e->attr_why);
	}
	if (!e->armed) ulog(LOG_INFO, "ne: filtering (queue %u, %s, %s)", e->fw.queue, ne_fw_backend(),
			    e->cfg.fail_closed ? "fail-closed" : "fail-open");
	e->armed = true;
	e->fw_why[0] = 0;
	return 0;
}

static void disarm(struct ne_engine *e)
{
	if (!e->armed) return;
	char why[256] = "";
	if (ne_fw_remove(why, sizeof why) < 0) ulog(LOG_WARNING, "ne: removing rules: %s", why);
	/* packets still queued get their answer before the queue goes */
	on_nfq(e);
	queue_close(e);
	if (e->attr) ne_attr_cache_flush(e->attr);
	e->armed = false;
	ulog(LOG_INFO, "ne: not filtering (no filter)");
}

/* ==================================================================================
 * Filter messages
 * ================================================================================ */

static void send_reply(struct ne_engine *e, uint32_t op, int32_t result, const char *reason)
{
	struct new_reply r = { .op = op, .result = result, .peek_max = UEXT_NE_PEEK_MAX };
	if (reason) strlcpy_(r.reason, reason, sizeof r.reason);
	filter_put(e, &r, sizeof r);
}

static int take_settings(struct ne_engine *e, const char *buf, size_t n, char *why, size_t whylen)
{
	const struct new_settings *s = (const void *)buf;
	if (n < sizeof *s || s->nrules > UEXT_NE_MAX_RULES || n != sizeof *s + s->nrules * sizeof(struct new_rule)) {
		snprintf(why, whylen, "malformed settings");
		return -EINVAL;
	}
	struct new_rule *rules = NULL;
	if (s->nrules) {
		if (!(rules = malloc(s->nrules * sizeof *rules))) return -ENOMEM;
		memcpy(rules, buf + sizeof *s, s->nrules * sizeof *rules);
	}
	for (uint32_t i = 0; i < s->nrules; i++) {
		struct new_rule *r = &rules[i];
		r->exe[sizeof r->exe - 1] = 0;
		bool ok = r->action >= 1 && r->action <= 3 && r->direction <= 3 &&
			  (r->protocol == 0 || r->protocol == IPPROTO_TCP || r->protocol == IPPROTO_UDP) &&
			  (r->family == 0 || (r->family == AF_INET && r->prefix <= 32) || (r->family == AF_INET6 && r->prefix <= 128)) &&
			  (!(r->port_min || r->port_max) || r->protocol) && (r->port_max == 0 || r->port_max >= r->port_min) &&
			  r->uid >= -1 && r->uid <= 0xffffffffll;
		if (!ok) {
			snprintf(why, whylen, "rule %u is invalid (ports need a protocol; prefix within the family)", i);
			free(rules);
			return -EINVAL;
		}
	}
	free(e->filt.rules);
	e->filt.rules = rules;
	e->filt.nrules = s->nrules;
	e->filt.first_data_peek = s->first_data_peek > UEXT_NE_PEEK_MAX ? UEXT_NE_PEEK_MAX : s->first_data_peek;
	return arm(e, why, whylen);
}

static void apply_verdict(struct ne_engine *e, const struct new_verdict *v)
{
	struct flow *f = flow_by_id(e, v->id);
	if (!f || (f->state != FS_WAIT && f->state != FS_PAUSED) || (v->resume != (f->state == FS_PAUSED))) return;
	e->filt.verdicts++;
	switch (v->action) {
	case UEXT_NE_ALLOW:
		if (v->cache_ttl_ms && e->attr && f->owner.source == NE_ATTR_BPF) {
			if (ne_attr_cache_allow(e->attr, &f->owner, &f->t, v->cache_ttl_ms > 3600000 ? 3600000 : v->cache_ttl_ms) == 0)
				e->n.cache_set++;
		}
		flow_decide(e, f, NE_MARK_ALLOW);
		break;
	case UEXT_NE_DROP: flow_decide(e, f, NE_MARK_DROP); break;
	case UEXT_NE_PAUSE:
		e->n.paused++;
		f->state = FS_PAUSED;
		f->deadline_ns = now_mono_ns() + (uint64_t)e->cfg.pause_max_ms * 1000000ull;
		break;
	case UEXT_NE_PEEK: {
		e->n.peeks++;
		uint32_t w0 = v->peek_out > UEXT_NE_PEEK_MAX ? UEXT_NE_PEEK_MAX : v->peek_out;
		uint32_t w1 = v->peek_in > UEXT_NE_PEEK_MAX ? UEXT_NE_PEEK_MAX : v->peek_in;
		/* directions are of this host: outbound = from it; for an inbound flow the
		 * filter's "outbound" (from the flow's initiator) is what arrives */
		if (f->direction == UEXT_NE_INBOUND) {
			uint32_t t = w0;
			w0 = w1;
			w1 = t;
		}
		bool more = (w0 && (!f->rs[0] || reasm_contiguous(f->rs[0]) < w0)) ||
			    (w1 && (!f->rs[1] || reasm_contiguous(f->rs[1]) < w1));
		if (!more && (w0 || w1)) {
			/* it asked for what it already had (or less): show it again, complete */
			f->want[0] = w0;
			f->want[1] = w1;
			int d = w0 ? 0 : 1;
			ask_filter(e, f, NEW_EV_DATA, f->rs[d] ? d : -1, true);
			break;
		}
		if (!w0 && !w1) { /* peek nothing = allow */
			flow_decide(e, f, NE_MARK_ALLOW);
			break;
		}
		f->want[0] = w0;
		f->want[1] = w1;
		f->state = FS_PEEK;
		f->deadline_ns = 0;
		flow_release(e, f);
		break;
	}
	default: flow_default(e, f); break;
	}
}

static void on_filter(struct ne_engine *e)
{
	struct filter *c = &e->filt;
	static char buf[NEW_MAX_DGRAM];
	for (int i = 0; i < 64 && c->used; i++) {
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			filter_close(e, c->said_bye);
			return;
		}
		if (n < 0) return;
		uint32_t op;
		if (n < 4) goto bad;
		memcpy(&op, buf, 4);
		if (!c->ready && op != NEW_HELLO) goto bad;
		char why[256] = "";
		switch (op) {
		case NEW_HELLO:
		case NEW_SETTINGS: {
			if (op == NEW_HELLO && c->ready) goto bad;
			const struct new_settings *s = (const void *)buf;
			if ((size_t)n < sizeof *s || s->version != NEW_VERSION) {
				send_reply(e, op == NEW_HELLO ? NEW_WELCOME : NEW_REPLY, -EPROTO, "protocol version mismatch");
				filter_flush(e);
				filter_close(e, true);
				return;
			}
			int r = take_settings(e, buf, (size_t)n, why, sizeof why);
			if (r < 0) {
				strlcpy_(e->fw_why, why, sizeof e->fw_why);
				ulog(LOG_ERR, "ne: filter (pid %d) refused: %s", (int)c->pid, why);
			}
			send_reply(e, op == NEW_HELLO ? NEW_WELCOME : NEW_REPLY, r, r < 0 ? why : NULL);
			if (op == NEW_HELLO) {
				if (r < 0) {
					filter_flush(e);
					filter_close(e, true);
					return;
				}
				c->ready = true;
				e->grace_until_ns = 0;
				ulog(LOG_INFO, "ne: filter connected (pid %d, %zu rules, first data peek %u)", (int)c->pid,
				     c->nrules, c->first_data_peek);
			}
			break;
		}
		case NEW_VERDICT:
			if (n % sizeof(struct new_verdict)) goto bad;
			for (size_t k = 0; k < (size_t)n / sizeof(struct new_verdict); k++) {
				struct new_verdict v;
				memcpy(&v, buf + k * sizeof v, sizeof v);
				if (v.op != NEW_VERDICT) goto bad;
				apply_verdict(e, &v);
			}
			break;
		case NEW_CLEAR_CACHE:
			if (e->attr) ne_attr_cache_flush(e->attr);
			send_reply(e, NEW_REPLY, 0, NULL);
			break;
		case NEW_BYE: c->said_bye = true; break;
		default: goto bad;
		}
		continue;
	bad:
		ulog(LOG_WARNING, "ne: filter (pid %d) sent a malformed message; closing it", (int)c->pid);
		filter_close(e, false);
		return;
	}
}

static void add_filter(struct ne_engine *e, int fd, pid_t pid)
{
	if (e->filt.used) {
		struct new_reply r = { .op = NEW_WELCOME, .result = -EBUSY };
		snprintf(r.reason, sizeof r.reason, "another filter is active (pid %d)", (int)e->filt.pid);
		send(fd, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
	e->filt = (struct filter){ .fd = fd, .pid = pid, .used = true };
	ep_mod(e, fd, TAG(K_FILTER), EPOLLIN, EPOLL_CTL_ADD);
}

static void on_accept(struct ne_engine *e)
{
	for (int i = 0; i < 8; i++) {
		int fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) return;
		struct ucred cr;
		socklen_t cl = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != 0) {
			struct new_reply r = { .op = NEW_WELCOME, .result = -EPERM };
			snprintf(r.reason, sizeof r.reason, "only root may filter the network");
			send(fd, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		add_filter(e, fd, cr.pid);
	}
}

/* ==================================================================================
 * Timer, status, thread
 * ================================================================================ */

static void on_tick(struct ne_engine *e)
{
	uint64_t x;
	if (read(e->tfd, &x, sizeof x) < 0) {}
	uint64_t now = now_mono_ns();
	for (uint32_t s = 0; s < MAX_FLOWS; s++) {
		struct flow *f = e->slots[s];
		if (!f) continue;
		if (f->deadline_ns && now >= f->deadline_ns) {
			if (f->state == FS_WAIT) {
				e->n.deadline_misses++;
				e->filt.misses++;
			}
			flow_default(e, f);
		} else if (f->state == FS_PEEK && now - f->last_ns > PEEK_IDLE_NS) {
			flow_free(e, f); /* idle: its later packets start over */
		} else if (f->gather_ns && now >= f->gather_ns) {
			/* the rest of a hello or head did not come: show what there is */
			ask_filter(e, f, f->state == FS_WAIT ? NEW_EV_NEW : NEW_EV_DATA, f->gather_dir, true);
		}
	}
	if (!e->nflows && !e->grace_until_ns) { /* idle: an idle engine sleeps */
		struct itimerspec its = { { 0, 0 }, { 0, 0 } };
		timerfd_settime(e->tfd, 0, &its, NULL);
		e->ticking = false;
	}
	if (e->grace_until_ns && now >= e->grace_until_ns && !e->filt.used) {
		e->grace_until_ns = 0;
		disarm(e);
	}
}

struct cmd {
	int fd; /* -1: publish the status now */
	pid_t pid;
};

static void publish_status(struct ne_engine *e);

static void on_cmd(struct ne_engine *e)
{
	struct cmd c;
	bool status = false;
	while (read(e->cmd[0], &c, sizeof c) == (ssize_t)sizeof c) {
		if (c.fd == -2) continue; /* a wake-up: stop */
		if (c.fd < 0) status = true;
		else add_filter(e, c.fd, c.pid);
	}
	if (status) publish_status(e);
}

static void queue_counters(struct ne_engine *e, json_t *o)
{
	char *buf = NULL;
	size_t len;
	if (read_file_capped("/proc/net/netfilter/nfnetlink_queue", 1 << 20, &buf, &len) < 0) return;
	for (char *line = buf; line && *line;) {
		unsigned q, portid, qlen, mode, range, qdrop, udrop, idseq, one;
		if (sscanf(line, "%u %u %u %u %u %u %u %u %u", &q, &portid, &qlen, &mode, &range, &qdrop, &udrop, &idseq, &one) == 9 &&
		    q == e->fw.queue) {
			json_object_set_new(o, "queue_length", json_integer(qlen));
			json_object_set_new(o, "queue_dropped", json_integer(qdrop));
			json_object_set_new(o, "user_dropped", json_integer(udrop));
			json_object_set_new(o, "packet_ids", json_integer(idseq));
		}
		line = strchr(line, '\n');
		if (line) line++;
	}
	free(buf);
}

static void publish_status(struct ne_engine *e)
{
	struct ne_attr_stats as = { 0 };
	if (e->attr) ne_attr_stats(e->attr, &as);
	json_t *filter = e->filt.used ? json_pack("{s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I}", "pid", (int)e->filt.pid, "ready",
						 e->filt.ready, "rules", (json_int_t)e->filt.nrules, "first_data_peek",
						 (json_int_t)e->filt.first_data_peek, "flows_sent", (json_int_t)e->filt.flows_sent,
						 "verdicts", (json_int_t)e->filt.verdicts, "deadline_misses",
						 (json_int_t)e->filt.misses, "overloaded", (json_int_t)e->filt.overloaded)
				      : json_null();
	const struct counters *n = &e->n;
	json_t *counters = json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"packets", (json_int_t)n->packets, "flows", (json_int_t)n->flows, "allowed", (json_int_t)n->allowed, "dropped",
		(json_int_t)n->dropped, "peeks", (json_int_t)n->peeks, "paused", (json_int_t)n->paused, "default_allow",
		(json_int_t)n->defaults_allow, "default_drop", (json_int_t)n->defaults_deny, "deadline_misses",
		(json_int_t)n->deadline_misses, "held_dropped", (json_int_t)n->held_dropped, "dns_answers",
		(json_int_t)n->dns_answers, "exe_rule", (json_int_t)n->exe_rule, "midstream", (json_int_t)n->midstream,
		"nfq_enobufs", (json_int_t)n->nfq_enobufs, "verdict_errors", (json_int_t)n->verdict_errors, "table_full",
		(json_int_t)n->table_full, "malformed", (json_int_t)n->malformed, "kernel_cache_set", (json_int_t)n->cache_set,
		"kernel_cache_hits", (json_int_t)as.cache_hits, "flows_pending", (json_int_t)e->nflows);
	json_object_set_new(counters, "sockets_closed", json_integer((json_int_t)n->destroyed));
	queue_counters(e, counters);
	json_t *attribution = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "kernel", e->attr ? "ebpf" : "none", "why_not",
					e->attr ? "" : e->attr_why[0] ? e->attr_why : "loaded when a filter connects",
					"by_kernel", (json_int_t)n->attr_kernel, "by_sockdiag", (json_int_t)n->attr_diag,
					"by_uid", (json_int_t)n->attr_uid, "unknown", (json_int_t)n->attr_none);
	json_t *st = json_pack("{s:b, s:s, s:s, s:I, s:s, s:I, s:I, s:b, s:b, s:s, s:o, s:o, s:o}", "active", e->armed,
			       "backend", ne_fw_backend()[0] ? "NFQUEUE target through iptables" : "none", "iptables",
			       ne_fw_backend(), "queue", (json_int_t)e->fw.queue, "no_filter", e->cfg.fail_closed ? "drop" : "allow",
			       "deadline_ms", (json_int_t)e->cfg.deadline_ms, "mark_mask", (json_int_t)e->fw.mark_mask,
			       "forward", e->cfg.forward, "loopback", e->cfg.loopback, "why_not",
			       e->armed ? "" : e->fw_why[0] ? e->fw_why : "no filter connected", "filter", filter,
			       "attribution", attribution, "counters", counters);
	snapshot_publish(&e->status, st);
}

static void *engine_main(void *arg)
{
	struct ne_engine *e = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load(&e->stop)) {
		/* The tick runs while something has a deadline and stops after an idle tick (not at
		 * once: under load flows come and go every turn, and a timer call each turn costs). */
		if (!e->ticking && (e->nflows || e->grace_until_ns)) {
			struct itimerspec its = { { 0, TICK_MS * 1000000 }, { 0, TICK_MS * 1000000 } };
			timerfd_settime(e->tfd, 0, &its, NULL);
			e->ticking = true;
		}
		struct epoll_event evs[16];
		int n = epoll_wait(e->ep, evs, 16, -1);
		for (int i = 0; i < n; i++) {
			switch (evs[i].data.u64) {
			case K_NFQ: on_nfq(e); break;
			case K_LISTEN: on_accept(e); break;
			case K_CMD: on_cmd(e); break;
			case K_TIMER: on_tick(e); break;
			case K_FILTER:
				if (evs[i].events & EPOLLOUT) filter_flush(e);
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_filter(e);
				break;
			}
		}
		/* one send to the kernel and one to the filter per turn */
		vflush(e);
		if (e->filt.used && e->filt.out_len > e->filt.out_off) filter_flush(e);
	}
	return NULL;
}

/* Everything but the thread; what was never opened is -1 or NULL. */
static void engine_free(struct ne_engine *e)
{
	queue_close(e);
	ne_attr_close(e->attr);
	if (e->lfd >= 0) {
		close(e->lfd);
		unlink(e->cfg.sock_path);
	}
	if (e->tfd >= 0) close(e->tfd);
	if (e->ep >= 0) close(e->ep);
	if (e->cmd[0] >= 0) close(e->cmd[0]), close(e->cmd[1]);
	free(e->nfqbuf);
	free(e->vbuf);
	free(e->rec);
	free(e->dns);
	free(e->recent);
	free(e->cgs);
	free(e->spare);
	snapshot_done(&e->status);
	free(e);
}

int ne_engine_start(const struct ne_engine_config *cfg, struct ne_engine **ret, char *why, size_t whylen)
{
	struct ne_engine *e = calloc(1, sizeof *e);
	if (!e) return -ENOMEM;
	e->cfg = *cfg;
	if (!e->cfg.queue) e->cfg.queue = DEFAULT_QUEUE;
	if (!e->cfg.deadline_ms) e->cfg.deadline_ms = DEFAULT_DEADLINE_MS;
	if (!e->cfg.pause_max_ms) e->cfg.pause_max_ms = DEFAULT_PAUSE_MS;
	if (!e->cfg.grace_ms) e->cfg.grace_ms = DEFAULT_GRACE_MS;
	if (!e->cfg.mark_mask) e->cfg.mark_mask = DEFAULT_MASK;
	e->fw = (struct ne_fw_config){ .queue = e->cfg.queue, .mark_mask = e->cfg.mark_mask, .fail_closed = e->cfg.fail_closed,
				       .forward = e->cfg.forward, .loopback = e->cfg.loopback };
	e->lfd = e->tfd = e->ep = e->cmd[0] = e->cmd[1] = -1;
	e->filt.fd = -1;
	snapshot_init(&e->status);
	int r = -ENOMEM;
	e->nfqbuf = malloc(NFQ_SLOT * NFQ_SLOTS);
	e->vbuf = malloc(VERDICT_BUF);
	e->rec = malloc(sizeof(struct new_flow) + 6 * NEW_MAX_STR + UEXT_NE_PEEK_MAX + 64);
	e->dns = calloc(DNS_SLOTS, sizeof *e->dns);
	e->recent = calloc(RECENT_SLOTS, sizeof *e->recent);
	e->cgs = calloc(CG_SLOTS, sizeof *e->cgs);
	if (!e->nfqbuf || !e->vbuf || !e->rec || !e->dns || !e->recent || !e->cgs) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	uint32_t m = e->cfg.mark_mask;
	if (__builtin_popcount(m) < 3 || ((m >> __builtin_ctz(m)) & ((m >> __builtin_ctz(m)) + 1))) {
		snprintf(why, whylen, "mark mask 0x%x must be at least 3 contiguous bits", m);
		r = -EINVAL;
		goto fail;
	}
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (e->ep < 0 || e->tfd < 0 || pipe2(e->cmd, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
		goto fail;
	}
	if (cfg->sock_path) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(cfg->sock_path) >= sizeof sa.sun_path) {
			snprintf(why, whylen, "socket path too long");
			r = -ENAMETOOLONG;
			goto fail;
		}
		strcpy(sa.sun_path, cfg->sock_path);
		unlink(cfg->sock_path);
		e->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		mode_t old = umask(0111);
		int br = e->lfd < 0 ? -1 : bind(e->lfd, (struct sockaddr *)&sa, sizeof sa);
		umask(old);
		if (br < 0 || listen(e->lfd, 16) < 0) {
			r = -errno;
			snprintf(why, whylen, "%s: %s", cfg->sock_path, strerror(errno));
			goto fail;
		}
		ep_mod(e, e->lfd, TAG(K_LISTEN), EPOLLIN, EPOLL_CTL_ADD);
	}
	ep_mod(e, e->tfd, TAG(K_TIMER), EPOLLIN, EPOLL_CTL_ADD);
	ep_mod(e, e->cmd[0], TAG(K_CMD), EPOLLIN, EPOLL_CTL_ADD);
	/* rules a killed uextd left behind stay until a filter connects (the flows they
	 * decided keep working); with no filter back within the grace, they go */
	if (ne_fw_present()) {
		char qwhy[256] = "";
		if (queue_open(e, qwhy, sizeof qwhy) == 0) {
			e->grace_until_ns = now_mono_ns() + (uint64_t)e->cfg.grace_ms * 1000000ull;
			e->armed = true;
			ulog(LOG_INFO, "ne: rules of a previous uextd found: answering with the policy until a filter connects");
		} else {
			ulog(LOG_WARNING, "ne: %s", qwhy);
		}
	}
	publish_status(e);
	if ((r = -pthread_create(&e->thread, NULL, engine_main, e)) < 0) {
		snprintf(why, whylen, "thread: %s", strerror(-r));
		goto fail;
	}
	*ret = e;
	return 0;
fail:
	engine_free(e);
	return r;
}

void ne_engine_stop(struct ne_engine *e)
{
	if (!e) return;
	atomic_store(&e->stop, true);
	struct cmd wake = { -2, 0 };
	if (write(e->cmd[1], &wake, sizeof wake) < 0) {}
	pthread_join(e->thread, NULL);
	filter_close(e, true);
	disarm(e);
	engine_free(e);
}

int ne_engine_adopt(struct ne_engine *e, int fd, pid_t pid)
{
	struct cmd c = { fd, pid };
	if (write(e->cmd[1], &c, sizeof c) != (ssize_t)sizeof c) return -errno;
	return 0;
}

static bool ask_status(void *arg)
{
	struct ne_engine *e = arg;
	struct cmd c = { -1, 0 };
	return write(e->cmd[1], &c, sizeof c) == (ssize_t)sizeof c;
}

json_t *ne_engine_status(struct ne_engine *e)
{
	return snapshot_get(&e->status, ask_status, e, 200);
}
