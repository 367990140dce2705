/* newire.h owns the wire format between uextd's ne engine and libuext's network filter
 * (include/uext/ne.h): fixed-layout, host-endian records over one SOCK_SEQPACKET socket
 * (both ends are built from one tree and run on one machine). The receiver checks every
 * size and offset; a bad record closes the connection.
 *
 *   client -> uextd: NEW_HELLO (settings), then NEW_VERDICT records (several per datagram),
 *                    NEW_SETTINGS, NEW_CLEAR_CACHE, NEW_BYE (a clean stop: rules go).
 *   uextd -> client: NEW_WELCOME, then NEW_FLOW records (several per datagram), and
 *                    NEW_REPLY for settings and cache requests.
 */
#pragma once

#include <stdint.h>

#define NEW_VERSION 1
#define NEW_MAX_DGRAM (256u * 1024u)
#define NEW_MAX_STR 4096u

enum new_op {
	NEW_HELLO = 1,
	NEW_WELCOME,
	NEW_FLOW,
	NEW_VERDICT,
	NEW_SETTINGS,
	NEW_CLEAR_CACHE,
	NEW_REPLY,
	NEW_BYE,
};

/* A rule on the wire (struct uext_ne_rule, with the exe path inline). */
struct new_rule {
	uint8_t action, direction, protocol, family;
	uint8_t addr[16];
	uint8_t prefix;
	uint8_t pad[3];
	uint16_t port_min, port_max;
	int64_t uid;
	char exe[256]; /* "" = any */
};

/* client -> uextd: HELLO and SETTINGS; followed by nrules struct new_rule. */
struct new_settings {
	uint32_t op;
	uint32_t version;
	uint32_t first_data_peek;
	uint32_t nrules;
};

struct new_reply {
	uint32_t op; /* NEW_WELCOME or NEW_REPLY */
	int32_t result; /* 0 or -errno */
	uint32_t peek_max;
	uint32_t pad;
	char reason[160];
};

/* uextd -> client: one flow event. The strings follow the fixed part, then the data
 * (the peeked prefix of direction data_dir), each at an offset from the record start. */
enum new_event { NEW_EV_NEW = 1, NEW_EV_DATA = 2 };
struct new_flow {
	uint32_t op;  /* NEW_FLOW */
	uint32_t len; /* the whole record, a multiple of 8 */
	uint64_t id;
	uint8_t event, direction, protocol, attribution;
	uint8_t host_source, data_dir, data_complete, family;
	uint32_t flags;
	uint8_t laddr[16], raddr[16];
	uint16_t lport, rport;
	int32_t pid;
	uint32_t uid, gid;
	uint32_t pad;
	uint64_t cgroup_id;
	uint64_t bytes_out, bytes_in;
	/* offsets from the record start, lengths without the NUL (strings are NUL-terminated) */
	uint32_t exe_off, comm_off, host_off, url_off, alpn_off, cgroup_off;
	uint32_t data_off, data_len;
};

/* client -> uextd */
struct new_verdict {
	uint32_t op; /* NEW_VERDICT */
	uint8_t action;
	uint8_t resume; /* 1: the answer to a paused flow */
	uint16_t pad;
	uint64_t id;
	uint32_t peek_out, peek_in;
	uint32_t cache_ttl_ms;
	uint32_t pad2;
};

struct new_hdr {
	uint32_t op;
};
