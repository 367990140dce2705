/* ne_sock.h owns the records that both halves of the ne engine's process attribution share:
 * the keys and values of the maps that sock.bpf.c writes at connect/sendmsg time and
 * attr.c (src/uextd/ne/) reads. Fixed-width types only, no pointers, explicit padding
 * (every key is hashed byte for byte: both sides zero it before filling it). */
#ifndef UEXT_NE_SOCK_H
#define UEXT_NE_SOCK_H

#ifndef __VMLINUX_H__ /* the eBPF side gets __u32 & co from vmlinux.h */
#include <linux/types.h>
#endif

#define NE_COMM_LEN 16
#define NE_SOCKS_MAX 65536 /* cookie -> owner */
#define NE_FLOWS_MAX 65536 /* 5-tuple -> owner */
#define NE_VCACHE_MAX 16384 /* verdict cache */

/* A flow as the packet shows it, from the local socket's side. IPv4 addresses sit in the
 * first 4 bytes of the 16 (network order), the rest zero; a v4-mapped IPv6 socket is
 * recorded as AF_INET, as its packets are IPv4. Ports in host order.
 * laddr is all zero for an unconnected UDP socket bound to the wildcard: its source
 * address is chosen per datagram by routing; readers retry with laddr zeroed. */
struct ne_sock_key {
	__u8 family; /* AF_INET, AF_INET6 */
	__u8 proto;  /* IPPROTO_TCP, IPPROTO_UDP */
	__u16 lport;
	__u16 rport;
	__u16 pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* The task that called connect() / sendmsg() on a socket, taken in that call. */
struct ne_sock_owner {
	__u64 cookie;       /* socket cookie (SO_COOKIE, sock_diag's idiag_cookie) */
	__u64 cgroup_id;    /* cgroup v2 id of the task (the inode number of its directory) */
	__u64 netns_cookie; /* of the socket's network namespace (SO_NETNS_COOKIE); 0 unknown */
	__u64 exe_dev;      /* mm->exe_file's device, encoded as stat(2)'s st_dev; 0 unknown */
	__u64 exe_ino;      /* and its inode number; 0 unknown */
	__u64 ts_ns;        /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the record */
	__u32 tgid, tid;
	__u32 uid, gid;     /* real ids, in the initial user namespace */
	char comm[NE_COMM_LEN];
};

/* Verdict cache: "this program may talk to this peer" until expiry_ns. The program is its
 * executable (kind EXE: a = st_dev, b = st_ino) or, when the kernel could not say,
 * its cgroup and uid (kind CGROUP_UID: a = cgroup id, b = uid). */
enum { NE_VKEY_EXE = 1, NE_VKEY_CGROUP_UID = 2 };
struct ne_vkey {
	__u64 a, b;
	__u8 kind;
	__u8 family;
	__u8 proto;
	__u8 pad;
	__u16 rport; /* host order */
	__u16 pad2;
	__u8 raddr[16];
};
struct ne_vval {
	__u64 expiry_ns; /* CLOCK_MONOTONIC */
	__u64 hits;
};

/* Indexes of the per-CPU counters array */
enum {
	NE_CNT_RECORDS,   /* owner records written (socks + flows) */
	NE_CNT_VC_HIT,    /* connects marked from the verdict cache */
	NE_CNT_VC_MISS,   /* connects with no live verdict-cache entry */
	NE_CNT_VC_EXPIRED,/* of the misses: an entry was there but expired (deleted) */
	NE_CNT_NO_OWNER,  /* sockops saw a TCP connect whose cookie had no owner record */
	NE_CNT_MARK_ERR,  /* bpf_getsockopt/bpf_setsockopt(SO_MARK) failed */
	NE_CNT_MAX
};

/* sock.bpf.c configuration (rodata), set by attr.c before load */
#define NE_CFG_EXE_ID (1u << 0) /* read mm->exe_file (needs bpf_get_current_task +
				 * bpf_probe_read_kernel in cgroup programs) */

#endif
