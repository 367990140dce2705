/* fw.h owns the ne engine's packet-filter rules: uext's own chains in the mangle and
 * filter tables (IPv4 and IPv6), installed and replaced atomically with
 * iptables-restore --noflush (one transaction per family, the xt NFQUEUE target, which
 * iptables-nft runs through nft_compat: it works whether or not the kernel has nftables'
 * own `queue` expression), and removed on stop. Nothing outside the UEXT_NE_* chains and
 * the jumps to them is touched. Design note: docs/ne-engine.md.
 *
 * Marks: the verdict of a flow lives in the bits of mark_mask of its conntrack mark (and
 * of the packets' marks while they cross the chains):
 *   0 new      queue the flow's packets (TCP/UDP only)
 *   ALLOW      decided: never queued again
 *   DROP       decided: rejected (TCP reset, ICMP port unreachable)
 *   PEEK_OUT   the filter reads outbound bytes: outbound packets with payload are queued
 *   PEEK_IN    ... inbound bytes
 *   PEEK_BOTH  ... both
 *   DNS        allowed DNS query: its answers are queued so uextd learns names */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ne_mark {
	NE_MARK_NEW = 0,
	NE_MARK_ALLOW = 1,
	NE_MARK_DROP = 2,
	NE_MARK_PEEK_OUT = 3,
	NE_MARK_PEEK_IN = 4,
	NE_MARK_PEEK_BOTH = 5,
	NE_MARK_DNS = 6,
};

struct ne_fw_rule; /* struct new_rule from common/newire.h */

struct ne_fw_config {
	uint16_t queue;
	uint32_t mark_mask;  /* contiguous bits, at least 3 */
	bool fail_closed;    /* no listener (uextd down): reject new flows instead of letting them by */
	bool lazy_tcp;       /* TCP handshakes pass; the first payload is queued (first_data_peek) */
	bool forward;        /* also routed traffic */
	bool loopback;       /* also traffic on lo */
};

/* The mark value of v in cfg's mask. */
uint32_t ne_fw_mark(const struct ne_fw_config *cfg, enum ne_mark v);
/* The mark value (enum ne_mark) in a packet's or conntrack's mark. */
enum ne_mark ne_fw_mark_of(const struct ne_fw_config *cfg, uint32_t mark);

/* Install or replace uext's chains (rules: the address/port/protocol/uid rules of the
 * filter's settings, struct new_rule; exe rules are skipped here). Atomic per family.
 * Returns 0 or -errno with why filled (iptables' own message). */
int ne_fw_apply(const struct ne_fw_config *cfg, const void *rules, size_t nrules, char *why, size_t whylen);
/* Remove every chain and jump of uext's; 0 when there was nothing. */
int ne_fw_remove(char *why, size_t whylen);
/* Write the rules ne_fw_apply would load for one family (4 or 6) to buf, for tests and
 * `uextd --ne-print-rules`. Returns the length or -ENOSPC. */
int ne_fw_render(const struct ne_fw_config *cfg, int family, const void *rules, size_t nrules, bool add_jumps[4], char *buf,
		 size_t len);
/* Are uext's rules installed (left by a uextd that was killed)? */
bool ne_fw_present(void);
/* What the machine offers, for status: "iptables-nft", "iptables-legacy" or "" (none). */
const char *ne_fw_backend(void);
