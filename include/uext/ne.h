/* uext/ne.h — network content filter provider, modeled on Apple's NEFilterDataProvider.
 *
 * A filter decides once per flow (a TCP connection or a UDP conversation, IPv4 or IPv6,
 * outbound, inbound or forwarded): allow, drop, "show me the first N bytes first" (peek),
 * or pause (answer later with uext_ne_filter_resume). uextd queues to user space only the
 * packets of flows that have no verdict yet; a final verdict is kept in the kernel (a
 * conntrack mark), so a decided flow never reaches the filter again.
 *
 * A filter is a network-filter extension (manifest type "network-filter"; its connection
 * goes through the manager) or any root process (through <run>/ne.sock). One filter is
 * active at a time; a second one gets -EBUSY.
 *
 * Threading: single-threaded and poll-driven. uext_ne_filter_fd() is readable when flows
 * wait; uext_ne_filter_dispatch() reads them and calls the handlers on the calling
 * thread, sends their verdicts, and returns. In an extension, hand the fd to
 * uext_extension_add_fd(). Every call must be made on one thread at a time.
 *
 * Differences from Apple, written down:
 *  - Verdicts are plain structs returned by the handlers, not objects. PAUSE replaces
 *    pause + resumeFlow; remediation and needRules do not exist.
 *  - Peeked bytes are handed over as one contiguous prefix of each direction from the
 *    first payload byte (TCP reassembled by sequence number), up to the peek size asked
 *    for, capped at UEXT_NE_PEEK_MAX. While the filter peeks, the packets before the one
 *    that completes the peek are let through; the one that completes it is held until
 *    the verdict. A TLS ClientHello split over several segments therefore never reaches
 *    the server whole when the flow is dropped.
 *  - A drop resets a TCP flow (RST to the local socket) and rejects a UDP one (ICMP), so
 *    clients fail at once, never after a timeout.
 *  - The flow carries the process that made the socket (pid, uid, executable, cgroup), taken
 *    in the kernel at connect time, and the remote host name from the TLS SNI, the HTTP
 *    Host header or the DNS answers uextd saw for that address.
 *  - With settings.first_data_peek > 0 (recommended for URL filters), new_flow is called
 *    for TCP only when the first payload bytes are there, with them already peeked: one
 *    round trip per connection instead of two. The handshake itself is let through.
 */
#ifndef UEXT_NE_H
#define UEXT_NE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uext_ne_filter uext_ne_filter;

#define UEXT_NE_PEEK_MAX 16384u  /* bytes of each direction a filter can see */
#define UEXT_NE_MAX_RULES 1000u  /* as NEFilterSettings */

enum uext_ne_direction {
	UEXT_NE_OUTBOUND = 1, /* made by a local socket */
	UEXT_NE_INBOUND = 2,  /* accepted by a local socket */
	UEXT_NE_FORWARD = 3,  /* routed through this host (uextd --ne-forward) */
};

enum uext_ne_action {
	UEXT_NE_ALLOW = 1,
	UEXT_NE_DROP = 2,
	UEXT_NE_PEEK = 3,  /* filterDataVerdict: call data() with more bytes */
	UEXT_NE_PAUSE = 4, /* answer later with uext_ne_filter_resume (bounded by uextd) */
};

/* Where the process information came from. */
enum uext_ne_attribution {
	UEXT_NE_ATTR_NONE = 0,     /* unknown: forwarded traffic, or the socket was gone */
	UEXT_NE_ATTR_KERNEL = 1,   /* eBPF at connect time: pid, uid, cgroup, executable */
	UEXT_NE_ATTR_SOCKDIAG = 2, /* socket lookup: uid (and pid when eBPF knew the socket) */
	UEXT_NE_ATTR_UID = 3,      /* the packet's socket uid only */
};

enum uext_ne_host_source {
	UEXT_NE_HOST_NONE = 0,
	UEXT_NE_HOST_SNI = 1,  /* TLS ClientHello server_name (the outer name with ECH) */
	UEXT_NE_HOST_HTTP = 2, /* HTTP/1.x Host or absolute URI */
	UEXT_NE_HOST_DNS = 3,  /* a DNS answer uextd saw for the remote address; for a DNS
				* query (UDP port 53) the name it asks for */
};

/* flow flags */
#define UEXT_NE_FLOW_MIDSTREAM 0x1u /* first seen mid-connection (e.g. made before uextd started) */
#define UEXT_NE_FLOW_ECH 0x2u       /* TLS with Encrypted Client Hello: hostname is the outer name */
#define UEXT_NE_FLOW_TLS 0x4u       /* the outbound bytes start a TLS handshake */

struct uext_ne_endpoint {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	uint16_t port;    /* host order */
};

struct uext_ne_flow {
	uint64_t id;         /* unique while uextd runs */
	uint8_t direction;   /* enum uext_ne_direction */
	uint8_t protocol;    /* IPPROTO_TCP or IPPROTO_UDP */
	uint8_t attribution; /* enum uext_ne_attribution */
	uint8_t host_source; /* enum uext_ne_host_source */
	uint32_t flags;      /* UEXT_NE_FLOW_* */
	struct uext_ne_endpoint local, remote;
	int32_t pid;         /* 0 when unknown */
	uint32_t uid, gid;   /* (uint32_t)-1 when unknown */
	uint64_t cgroup_id;  /* cgroup v2 id, 0 when unknown */
	const char *cgroup;  /* its path in the cgroup v2 tree ("/system.slice/x.service"), "" when unknown */
	const char *exe;     /* executable path, "" when unknown */
	const char *comm;    /* task name, "" when unknown */
	const char *hostname; /* "" when unknown */
	const char *url;      /* plain HTTP: "http://host[:port]/path"; "" otherwise */
	const char *alpn;     /* TLS: first ALPN protocol offered, "" otherwise */
	uint64_t bytes_out, bytes_in; /* payload bytes peeked so far per direction */
};

struct uext_ne_verdict {
	uint8_t action;          /* enum uext_ne_action */
	uint32_t peek_outbound;  /* PEEK: bytes wanted from the start of each direction (0 = */
	uint32_t peek_inbound;   /*   not that direction); capped at UEXT_NE_PEEK_MAX */
	uint32_t cache_ttl_ms;   /* ALLOW: remember "this executable may reach this address and
				  * port" in the kernel for this long, so its next connections
				  * there are allowed without being queued at all. 0 = no. */
};

struct uext_ne_filter_callbacks {
	/* A new flow. Must not be NULL. */
	struct uext_ne_verdict (*new_flow)(uext_ne_filter *f, const struct uext_ne_flow *flow, void *ctx);
	/* More bytes of a flow the filter peeks at: bytes[0..len) is the prefix of direction
	 * dir from its first payload byte. complete is 1 when no more will come (the peek size
	 * or the cap was reached with fewer bytes than asked, or the flow ended). PEEK again
	 * with a larger size to see more. NULL: such flows are allowed. */
	struct uext_ne_verdict (*data)(uext_ne_filter *f, const struct uext_ne_flow *flow, int dir,
				       const uint8_t *bytes, size_t len, int complete, void *ctx);
};

/* Rules uextd applies without asking the filter (NEFilterRule): first match wins, at
 * most UEXT_NE_MAX_RULES. Address, port, protocol, direction and uid rules go into the
 * kernel's packet filter; executable rules are decided in uextd. */
enum uext_ne_rule_action { UEXT_NE_RULE_ALLOW = 1, UEXT_NE_RULE_DROP = 2, UEXT_NE_RULE_FILTER = 3 };
struct uext_ne_rule {
	uint8_t action;    /* enum uext_ne_rule_action */
	uint8_t direction; /* 0 = any, else enum uext_ne_direction */
	uint8_t protocol;  /* 0 = any, IPPROTO_TCP, IPPROTO_UDP */
	uint8_t family;    /* 0 = any (no address), AF_INET, AF_INET6 */
	uint8_t addr[16];  /* remote network */
	uint8_t prefix;    /* its prefix length */
	uint16_t port_min, port_max; /* remote ports; 0,0 = any */
	int64_t uid;       /* -1 = any (outbound only: the socket's uid) */
	const char *exe;   /* NULL = any; an exact executable path */
};

struct uext_ne_settings {
	/* > 0: for TCP, call new_flow only with the first payload bytes, up to this many
	 * peeked already (see above). 0: new_flow at the first packet, as on macOS. */
	uint32_t first_data_peek;
	const struct uext_ne_rule *rules;
	size_t nrules;
};

/* Connect to uextd as the host's network filter. settings may be NULL (defaults, no
 * rules). Returns 0 or a negative errno: -EBUSY (another filter is active), -EPERM (an
 * extension that is not a network-filter one), -ECONNREFUSED (no uextd), -ENOTSUP (the
 * ne engine cannot run here; uextctl status says why). */
int uext_ne_filter_new(uext_ne_filter **ret, const struct uext_ne_filter_callbacks *cb,
		       const struct uext_ne_settings *settings, void *ctx);
/* Replace the settings (rules are swapped atomically in the kernel). */
int uext_ne_filter_apply_settings(uext_ne_filter *f, const struct uext_ne_settings *settings);
/* The descriptor to poll for reading. */
int uext_ne_filter_fd(const uext_ne_filter *f);
/* Handle every flow waiting now; returns 0, or a negative errno when the connection to
 * uextd is gone (then free the filter and make a new one). */
int uext_ne_filter_dispatch(uext_ne_filter *f);
/* Run dispatch until the connection ends or uext_ne_filter_stop() is called from a
 * handler. Returns 0 after stop, else the error. */
int uext_ne_filter_run(uext_ne_filter *f);
void uext_ne_filter_stop(uext_ne_filter *f);
/* Give the verdict of a flow paused earlier. -ENOENT when uextd already answered it
 * (the pause limit passed) or the flow id is unknown. */
int uext_ne_filter_resume(uext_ne_filter *f, uint64_t flow_id, struct uext_ne_verdict v);
/* Forget every kernel-cached allow (cache_ttl_ms) of this filter. */
int uext_ne_filter_clear_cache(uext_ne_filter *f);
/* Disconnect: uextd removes the filter's rules (flows already decided stay decided). */
void uext_ne_filter_free(uext_ne_filter *f);

/* Helpers: "1.2.3.4", "2001:db8::1" */
const char *uext_ne_addr_str(const struct uext_ne_endpoint *e, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
