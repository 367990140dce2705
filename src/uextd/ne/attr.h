/* attr.h: the ne engine's process attribution. Given the 5-tuple of a queued packet, who
 * owns the socket: taken in the kernel at connect/sendmsg time by the eBPF programs of
 * bpf/sock.bpf.c (looked up by exact tuple), else through one exact sock_diag request.
 * Never scans /proc. Design note: docs/ne-attribution.md.
 *
 * Sources, in the order ne_attr_lookup tries them:
 *   NE_ATTR_BPF       the flows map: the task that connected the socket (TCP, and UDP whose
 *                     local port was known at connect/sendmsg time: unconnected UDP, or a
 *                     socket bound first). Every field is set.
 *   NE_ATTR_SOCKDIAG  sock_diag (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY, exact tuple, no
 *                     dump) gave uid, inode and cookie; with eBPF loaded, the cookie then
 *                     picks the owner record (NE_OWNER_F_TASK: connected UDP, and flows
 *                     whose tuple record aged out). Without it: uid + inode only, as for
 *                     sockets made before ne_attr_open and for accepted (inbound) sockets.
 *   NE_ATTR_NFQ_UID   not set here: the caller, who has the packet's NFQA_UID, falls back to
 *                     it when ne_attr_lookup returns -ENOENT (uid only).
 *
 * Library code: no logging; failures return -errno and, where asked, say why. One thread
 * uses a handle at a time. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct ne_attr;

struct ne_tuple {
	uint8_t family;       /* AF_INET, AF_INET6 */
	uint8_t proto;        /* IPPROTO_TCP, IPPROTO_UDP */
	uint16_t lport, rport; /* host order; l = this host's socket, r = the peer */
	uint8_t laddr[16], raddr[16]; /* network order; IPv4 in the first 4 bytes */
};

enum ne_attr_source { NE_ATTR_NONE, NE_ATTR_BPF, NE_ATTR_SOCKDIAG, NE_ATTR_NFQ_UID };

/* ne_owner.flags */
#define NE_OWNER_F_TASK (1u << 0)   /* pid, tid, gid, cgroup_id, comm, netns_cookie are set */
#define NE_OWNER_F_EXE_ID (1u << 1) /* exe_dev, exe_ino are set (the kernel could read them) */
#define NE_OWNER_F_INODE (1u << 2)  /* sock_ino is set (sock_diag answered) */

#define NE_EXE_MAX 4096 /* PATH_MAX: longer paths are not returned (ne_attr_exe fails) */

struct ne_owner {
	int32_t pid, tid;      /* -1 unknown */
	uint32_t uid, gid;     /* gid (uint32_t)-1 unknown; uid always set on success */
	uint64_t cgroup_id;    /* cgroup v2 id (inode number of the cgroup directory) */
	uint64_t sock_cookie;  /* SO_COOKIE of the socket */
	uint64_t sock_ino;     /* socket inode (sock_diag only) */
	uint64_t netns_cookie; /* SO_NETNS_COOKIE of the socket's namespace; 0 unknown */
	uint64_t exe_dev, exe_ino; /* the executable at connect time, as stat(2) st_dev/st_ino */
	uint64_t age_ns;       /* how long ago the kernel recorded it (0: sock_diag only) */
	char comm[16];
	char exe[NE_EXE_MAX];  /* "" until ne_attr_exe */
	uint8_t source;        /* enum ne_attr_source */
	uint32_t flags;        /* NE_OWNER_F_* */
};

/* Load bpf/sock.bpf.c and attach its programs to cgroup_dir (a cgroup v2 directory; NULL:
 * the root of the cgroup v2 hierarchy, found in /proc/self/mountinfo, i.e. every process).
 * Only sockets created in that cgroup's subtree are seen. mark_mask/mark_allow: what a
 * verdict-cache hit sets in SO_MARK (mask 0 = the defaults 0x07000000 / 0x01000000).
 * The handle also holds the sock_diag socket, in the caller's network namespace.
 * Returns 0, or -errno with why filled (no eBPF support built in, not root, program
 * refused by the kernel, no cgroup2): the caller then still calls ne_attr_lookup(NULL,...)
 * which uses sock_diag alone. */
int ne_attr_open(struct ne_attr **ret, const char *cgroup_dir, uint32_t mark_mask,
		 uint32_t mark_allow, char *why, size_t whylen);

/* Who owns the local socket of t (t as seen leaving this host: l = local). a may be NULL
 * (no eBPF). Tries the flows map (exact tuple; UDP then with laddr zeroed, for sockets
 * bound to the wildcard), then one exact sock_diag request and, with a, the cookie ->
 * owner map. Records of another network namespace than the one ne_attr_open ran in are
 * ignored. ret->exe is left "" (see ne_attr_exe). Returns 0 and fills *ret, -ENOENT when
 * nobody owns t, or another -errno (sock_diag failed). */
int ne_attr_lookup(struct ne_attr *a, const struct ne_tuple *t, struct ne_owner *ret);

/* Fill o->exe from readlink(/proc/<pid>/exe), cached by (pid, exe_dev, exe_ino) in a small
 * bounded cache (64 entries, round robin) so a busy program costs one readlink; without
 * exe ids (NE_OWNER_F_EXE_ID unset) or with a == NULL nothing is cached. Returns 0,
 * -ESRCH when the process is gone (or its exe is now another file), -ENAMETOOLONG,
 * -EINVAL when o has no pid. */
int ne_attr_exe(struct ne_attr *a, struct ne_owner *o);

/* Let o's program reach t's peer (family, proto, raddr, rport) for ttl_ms: the next
 * connect()s it makes there get SO_MARK bits = mark_allow within mark_mask, so the
 * firewall can skip the queue. The program is its executable (exe_dev, exe_ino) or, when
 * o has no exe ids, its cgroup and uid. Connected sockets only (TCP, connected UDP):
 * unconnected UDP datagrams are never marked (see sock.bpf.c). Returns 0, -EINVAL (o has
 * no task), -ENOSPC never (LRU: the oldest entry goes), other -errno from the map. */
int ne_attr_cache_allow(struct ne_attr *a, const struct ne_owner *o, const struct ne_tuple *t,
			uint32_t ttl_ms);

/* Forget every verdict-cache entry. Returns 0 or -errno. */
int ne_attr_cache_flush(struct ne_attr *a);

struct ne_attr_stats {
	uint64_t records;      /* owner records written by the kernel */
	uint64_t lookups_hit;  /* ne_attr_lookup answered from the flows map */
	uint64_t lookups_miss; /* ... not: went on to sock_diag */
	uint64_t diag_hit;     /* sock_diag found the socket */
	uint64_t diag_miss;
	uint64_t cache_hits;   /* connects marked by the verdict cache */
	uint64_t cache_entries; /* entries in the verdict cache now (expired ones included) */
	uint64_t cache_misses; /* connects with no live entry */
	uint64_t no_owner;     /* TCP connects sockops saw without an owner record */
	uint64_t mark_errors;  /* SO_MARK could not be read or set */
	uint32_t exe_id;       /* 1: the kernel records exe_dev/exe_ino */
};

/* Counters since ne_attr_open; a == NULL gives zeros. */
void ne_attr_stats(struct ne_attr *a, struct ne_attr_stats *ret);

/* Detach the programs, free the maps, close the sock_diag socket. Accepts NULL. */
/* Close the local TCP socket of tuple t at once (sock_diag SOCK_DESTROY: its owner sees
 * ECONNABORTED), for a flow dropped on bytes that came in. a may be NULL. 0, or -errno
 * (-EOPNOTSUPP: not TCP, or a kernel without CONFIG_INET_DIAG_DESTROY; -ENOENT). */
int ne_attr_destroy(struct ne_attr *a, const struct ne_tuple *t);
void ne_attr_close(struct ne_attr *a);

/* The mount point of the cgroup v2 hierarchy (first "cgroup2" line of
 * /proc/self/mountinfo: /sys/fs/cgroup on a pure-v2 host, /sys/fs/cgroup/unified on a
 * hybrid one) into buf. Returns 0, -ENOENT (no cgroup2 mounted), -ENAMETOOLONG. */
int ne_attr_cgroup2_root(char *buf, size_t len);
