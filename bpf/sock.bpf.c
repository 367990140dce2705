/* sock.bpf.c owns the kernel half of the ne engine's process attribution: which task each
 * socket belongs to (socks, by socket cookie), which task each 5-tuple belongs to (flows),
 * and the verdict cache (vcache) that marks a connect the user already allowed so the
 * firewall rules skip the queue. What is recorded and what a hit marks is decided by user
 * space (attr.c) before load, in rodata; nothing here ever refuses a connect.
 *
 * Programs, all attached to one cgroup v2 directory (the root in production):
 *   cgroup/connect4, connect6  TCP and connected UDP, in connect()'s context before
 *                              anything is sent: owner -> socks[cookie]; verdict cache
 *                              -> SO_MARK. For UDP also -> flows when the socket is
 *                              already bound (its local port is known).
 *   cgroup/sendmsg4, sendmsg6  unconnected UDP (sendto with an address), per datagram:
 *                              owner -> socks[cookie] and flows[tuple].
 *   sockops                    TCP_CONNECT_CB (tcp_connect(), still in connect()'s
 *                              context, local address and port chosen, SYN not yet
 *                              sent): socks[cookie] -> flows[tuple].
 *
 * UDP and the local port. The NFQUEUE side looks flows up by the packet's exact tuple, so
 * the local port is needed:
 *   - unconnected UDP: inet_sendmsg() autobinds the socket (inet_send_prepare) *before*
 *     udp_sendmsg() runs the sendmsg hook, so the port is in ctx->sk->src_port there. The
 *     local address is the socket's bound one, usually the wildcard (0): the source
 *     address is picked per datagram by routing, so the key has laddr 0 and readers retry
 *     with laddr zeroed (ne_attr_lookup does). A socket bound to one address gets it.
 *     An IP_PKTINFO / IPV6_PKTINFO source given in the cmsg is used when present.
 *   - connected UDP: connect4/6 runs in inet_dgram_connect() *before* the autobind, so an
 *     unbound socket has no port yet, and no later hook runs (send() on a connected socket
 *     skips the sendmsg hook; post_bind runs only for bind(), not for autobind). The owner
 *     is kept by cookie only, and user space resolves the tuple to the cookie with an
 *     exact sock_diag request (UDP sock_diag looks a socket up by tuple, no dump), then
 *     reads socks[cookie]. A connected socket that was bound first goes to flows directly.
 *   - The verdict cache marks connected UDP (at connect) but not unconnected UDP: the
 *     packet's mark is latched from sk_mark (ipcm_init_sk) before the sendmsg hook runs,
 *     so a mark set there would label the *next* datagram, whatever its destination, and
 *     stay on the socket. Unconnected datagrams therefore always go to the queue.
 *
 * Not recorded: inbound (accepted) flows. sockops PASSIVE_ESTABLISHED runs in softirq,
 * before any task accepts the socket, and the child socket does not say which listener
 * it came from; the owner of an inbound flow is found by sock_diag (uid, inode) only.
 * A socket passed to another process (fork, SCM_RIGHTS) stays attributed to the task that
 * connected it (or, for unconnected UDP, that sent the last datagram to that peer).
 *
 * Maps are LRU: nothing deletes an entry when a socket closes; a new connect or datagram
 * on the same tuple overwrites it. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ne_sock.h"

/* GPL-compatible: bpf_get_current_task and bpf_probe_read_kernel are GPL-only */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOL_SOCKET 1
#define SO_MARK 36

/* Set by attr.c before load; the verifier sees them as constants (a disabled feature's
 * helpers are never verified, so the same object loads where they are refused). */
const volatile __u32 cfg_flags = 0;
const volatile __u32 mark_mask = 0x07000000;
const volatile __u32 mark_allow = 0x01000000;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NE_SOCKS_MAX);
	__type(key, __u64);
	__type(value, struct ne_sock_owner);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NE_FLOWS_MAX);
	__type(key, struct ne_sock_key);
	__type(value, struct ne_sock_owner);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NE_VCACHE_MAX);
	__type(key, struct ne_vkey);
	__type(value, struct ne_vval);
} vcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NE_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &i);

	if (c)
		*c += 1; /* per CPU: no atomics needed */
}

/* the kernel's dev_t (major << 20 | minor) as stat(2) encodes it (new_encode_dev) */
static __always_inline __u64 stat_dev(__u32 dev)
{
	__u32 major = dev >> 20, minor = dev & 0xfffff;

	return (minor & 0xff) | (major << 8) | ((__u64)(minor & ~0xffu) << 12);
}

static __always_inline void fill_owner(struct bpf_sock_addr *ctx, struct ne_sock_owner *o,
				       __u64 cookie)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	o->cookie = cookie;
	o->tgid = id >> 32;
	o->tid = (__u32)id;
	o->uid = (__u32)ug;
	o->gid = ug >> 32;
	o->cgroup_id = bpf_get_current_cgroup_id();
	o->netns_cookie = bpf_get_netns_cookie(ctx);
	o->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(o->comm, sizeof(o->comm));
	o->exe_dev = 0;
	o->exe_ino = 0;
	if (cfg_flags & NE_CFG_EXE_ID) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct file *f = BPF_CORE_READ(t, mm, exe_file);

		if (f) {
			struct inode *ino = BPF_CORE_READ(f, f_inode);

			o->exe_ino = BPF_CORE_READ(ino, i_ino);
			o->exe_dev = stat_dev(BPF_CORE_READ(ino, i_sb, s_dev));
		}
	}
}

static __always_inline bool v4mapped(const __u32 a[4])
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/* The verdict cache on a connect: mark the socket when its program may reach the peer. */
static __always_inline void vcache_check(struct bpf_sock_addr *ctx, const struct ne_sock_owner *o,
					 __u8 family, const __u32 raddr[4], __u16 rport)
{
	struct ne_vkey k = {};
	struct ne_vval *v;
	__u32 mark = 0;

	if (o->exe_ino) {
		k.kind = NE_VKEY_EXE;
		k.a = o->exe_dev;
		k.b = o->exe_ino;
	} else {
		k.kind = NE_VKEY_CGROUP_UID;
		k.a = o->cgroup_id;
		k.b = o->uid;
	}
	k.family = family;
	k.proto = ctx->protocol;
	k.rport = rport;
	__builtin_memcpy(k.raddr, raddr, 16); /* IPv4: the rest is zero */
	v = bpf_map_lookup_elem(&vcache, &k);
	if (!v) {
		count(NE_CNT_VC_MISS);
		return;
	}
	if (v->expiry_ns <= bpf_ktime_get_ns()) {
		bpf_map_delete_elem(&vcache, &k);
		count(NE_CNT_VC_MISS);
		count(NE_CNT_VC_EXPIRED);
		return;
	}
	/* keep the socket's other mark bits: they belong to someone else */
	if (bpf_getsockopt(ctx, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		count(NE_CNT_MARK_ERR);
		return;
	}
	mark = (mark & ~mark_mask) | (mark_allow & mark_mask);
	if (bpf_setsockopt(ctx, SOL_SOCKET, SO_MARK, &mark, sizeof(mark))) {
		count(NE_CNT_MARK_ERR);
		return;
	}
	__sync_fetch_and_add(&v->hits, 1);
	count(NE_CNT_VC_HIT);
}

/* connect4/6 and sendmsg4/6. family is the hook's; the peer may still be v4-mapped. */
static __always_inline int on_addr(struct bpf_sock_addr *ctx, __u8 family, bool send)
{
	struct ne_sock_owner o = {}, *old;
	struct ne_sock_key k = {};
	struct bpf_sock *sk = ctx->sk;
	__u32 raddr[4] = {}, laddr[4] = {};
	__u8 fam = family;
	__u8 proto = ctx->protocol;
	__u16 rport = bpf_ntohs((__u16)ctx->user_port);
	__u64 cookie;

	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return 1;
	if (family == AF_INET) {
		raddr[0] = ctx->user_ip4;
		laddr[0] = send ? ctx->msg_src_ip4 : 0;
		if (!laddr[0])
			laddr[0] = sk->src_ip4;
	} else {
		raddr[0] = ctx->user_ip6[0];
		raddr[1] = ctx->user_ip6[1];
		raddr[2] = ctx->user_ip6[2];
		raddr[3] = ctx->user_ip6[3];
		if (send) {
			laddr[0] = ctx->msg_src_ip6[0];
			laddr[1] = ctx->msg_src_ip6[1];
			laddr[2] = ctx->msg_src_ip6[2];
			laddr[3] = ctx->msg_src_ip6[3];
		}
		if (!(laddr[0] | laddr[1] | laddr[2] | laddr[3])) {
			laddr[0] = sk->src_ip6[0];
			laddr[1] = sk->src_ip6[1];
			laddr[2] = sk->src_ip6[2];
			laddr[3] = sk->src_ip6[3];
		}
		if (v4mapped(raddr)) {
			/* an IPv6 socket talking IPv4: its packets are IPv4 */
			fam = AF_INET;
			raddr[0] = raddr[3];
			raddr[1] = raddr[2] = raddr[3] = 0;
			laddr[0] = v4mapped(laddr) ? laddr[3] : 0;
			laddr[1] = laddr[2] = laddr[3] = 0;
		}
	}

	cookie = bpf_get_socket_cookie(ctx);
	k.family = fam;
	k.proto = proto;
	k.lport = sk->src_port;
	k.rport = rport;
	__builtin_memcpy(k.laddr, laddr, 16);
	__builtin_memcpy(k.raddr, raddr, 16);
	if (send) {
		/* per datagram: skip the writes when this thread already owns the tuple */
		old = bpf_map_lookup_elem(&flows, &k);
		if (old && old->cookie == cookie &&
		    old->tid == (__u32)bpf_get_current_pid_tgid())
			return 1;
	}
	fill_owner(ctx, &o, cookie);
	bpf_map_update_elem(&socks, &cookie, &o, BPF_ANY);
	count(NE_CNT_RECORDS);
	/* UDP: the tuple is complete when the port is known (see the header comment);
	 * TCP: sockops writes it once connect() has chosen the port */
	if (proto == IPPROTO_UDP && sk->src_port)
		bpf_map_update_elem(&flows, &k, &o, BPF_ANY);
	if (!send)
		vcache_check(ctx, &o, fam, raddr, rport);
	return 1;
}

SEC("cgroup/connect4")
int ne_connect4(struct bpf_sock_addr *ctx)
{
	return on_addr(ctx, AF_INET, false);
}

SEC("cgroup/connect6")
int ne_connect6(struct bpf_sock_addr *ctx)
{
	return on_addr(ctx, AF_INET6, false);
}

SEC("cgroup/sendmsg4")
int ne_sendmsg4(struct bpf_sock_addr *ctx)
{
	return on_addr(ctx, AF_INET, true);
}

SEC("cgroup/sendmsg6")
int ne_sendmsg6(struct bpf_sock_addr *ctx)
{
	return on_addr(ctx, AF_INET6, true);
}

SEC("sockops")
int ne_sockops(struct bpf_sock_ops *skops)
{
	struct ne_sock_key k = {};
	struct ne_sock_owner *o;
	__u32 l[4] = {}, r[4] = {};
	__u64 cookie;

	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	k.proto = IPPROTO_TCP;
	k.lport = skops->local_port;                 /* host order */
	k.rport = bpf_ntohl(skops->remote_port);     /* network order, in the high half */
	if (skops->family == AF_INET) {
		k.family = AF_INET;
		l[0] = skops->local_ip4;
		r[0] = skops->remote_ip4;
	} else if (skops->family == AF_INET6) {
		k.family = AF_INET6;
		l[0] = skops->local_ip6[0];
		l[1] = skops->local_ip6[1];
		l[2] = skops->local_ip6[2];
		l[3] = skops->local_ip6[3];
		r[0] = skops->remote_ip6[0];
		r[1] = skops->remote_ip6[1];
		r[2] = skops->remote_ip6[2];
		r[3] = skops->remote_ip6[3];
		if (v4mapped(r)) {
			k.family = AF_INET;
			r[0] = r[3];
			l[0] = l[3];
			r[1] = r[2] = r[3] = l[1] = l[2] = l[3] = 0;
		}
	} else {
		return 1;
	}
	__builtin_memcpy(k.laddr, l, 16);
	__builtin_memcpy(k.raddr, r, 16);
	cookie = bpf_get_socket_cookie(skops);
	o = bpf_map_lookup_elem(&socks, &cookie);
	if (!o) {
		count(NE_CNT_NO_OWNER);
		return 1;
	}
	bpf_map_update_elem(&flows, &k, o, BPF_ANY);
	count(NE_CNT_RECORDS);
	return 1;
}
