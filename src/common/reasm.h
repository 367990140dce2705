/* reasm.h: a capped reassembler of the first bytes of one direction of a TCP flow, so the
 * content filter can peek a ClientHello or request head that spans several segments. It
 * keeps only the first `cap` stream bytes, in an inline buffer (no allocation), and a
 * bitmap of which of them arrived. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REASM_MAX (16384 + 64) /* = NP_TLS_MAX_HELLO: a full record plus a few headers */

struct reasm {
	uint32_t start;  /* sequence number of buf[0] */
	bool known;      /* start is set (false after reasm_init_unknown until a segment) */
	size_t cap;      /* bytes kept, <= REASM_MAX */
	size_t contig;   /* buf[0..contig) all arrived */
	size_t filled;   /* bytes arrived in [0, cap) */
	uint64_t map[(REASM_MAX + 63) / 64]; /* bit i: buf[i] arrived */
	uint8_t buf[REASM_MAX];
};

/* Start peeking the stream whose first payload byte has sequence number isn_next (the
 * SYN's sequence number + 1), keeping at most cap bytes (clamped to REASM_MAX). Only the
 * bookkeeping is cleared, not the 16 KB buffer. */
void reasm_init(struct reasm *r, uint32_t isn_next, size_t cap);

/* The same when the first sequence number is unknown (the flow was picked up without its
 * SYN): the first segment added, whatever its sequence number, becomes byte 0. A caller
 * that can should prefer reasm_init: if that first segment was out of order, earlier bytes
 * are then "before the start" and lost. */
void reasm_init_unknown(struct reasm *r, size_t cap);

/* Add a segment's payload (borrowed, copied). Sequence numbers wrap modulo 2^32 and are
 * read relative to the start within +-2^31 (as TCP does): bytes before the start are
 * trimmed, bytes at or beyond cap are ignored. Overlaps and retransmits keep the bytes that
 * arrived first (as Linux and most stacks do for data already queued), so a later copy
 * with different bytes cannot change what the filter already saw. Returns the number of
 * new bytes stored (0 when nothing was new), or -EINVAL when data is NULL with len > 0. */
int reasm_add(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len);

/* Length of the contiguous prefix buf[0..n) received so far (n <= cap). */
size_t reasm_contiguous(const struct reasm *r);

/* The buffer; only its first reasm_contiguous() bytes are meaningful. */
const uint8_t *reasm_data(const struct reasm *r);

/* True once the whole prefix up to cap has arrived (nothing more can be stored). */
bool reasm_full(const struct reasm *r);
