/* engine.h owns uextd's network engine (the filter part): its own thread and epoll loop,
 * the NFQUEUE socket, uext's packet-filter rules (fw.h), process attribution (attr.h),
 * the flows that wait for a verdict, peek buffers, the DNS names seen, and the one
 * network filter client (a root process on <run>/ne.sock, or a network-filter extension
 * through the manager). The manager talks to it only through these calls, each
 * thread-safe. Design note: docs/ne-engine.md. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct ne_engine_config {
	const char *sock_path;  /* root filters connect here */
	uint16_t queue;         /* NFQUEUE number; 0 = 7810 */
	bool fail_closed;       /* no filter answers: drop (reset) instead of allow */
	bool forward;           /* also filter routed traffic */
	bool loopback;          /* also filter traffic on lo */
	uint32_t deadline_ms;   /* a filter's answer to a flow; 0 = 1000 */
	uint32_t pause_max_ms;  /* how long a flow may stay paused; 0 = 10000 */
	uint32_t grace_ms;      /* rules stay after a filter vanished without saying goodbye
				 * (crash: the manager restarts it); 0 = 10000 */
	uint32_t mark_mask;     /* conntrack/packet mark bits of uext's; 0 = 0x07000000 */
	const char *cgroup_dir; /* cgroup v2 directory the attribution programs attach to; NULL = the root */
};

struct ne_engine;

int ne_engine_start(const struct ne_engine_config *cfg, struct ne_engine **ret, char *why, size_t whylen);
/* Stop the thread, accept every held packet, remove the rules. NULL ok. */
void ne_engine_stop(struct ne_engine *e);
/* Hand over one end of a socketpair for an extension's filter; the engine owns fd. */
int ne_engine_adopt(struct ne_engine *e, int fd, pid_t pid);
/* A snapshot for `uextctl status` (new reference). */
json_t *ne_engine_status(struct ne_engine *e);
