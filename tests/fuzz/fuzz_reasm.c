/* fuzz_reasm.c drives the stream-prefix reassembler with segment commands read from the
 * input and checks it against a byte-per-byte model: same bytes stored (first copy wins),
 * same count of new bytes, same contiguous prefix, and that prefix equal to the original
 * stream wherever no segment carried altered bytes.
 *
 * Input: flags (1 byte: bit 0 unknown start), isn (4), cap (2), then 5-byte commands:
 * signed offset from the start (2), length (2, mod 4096), xor applied to the data (1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/reasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct reasm r;
static uint8_t model[REASM_MAX], filled[REASM_MAX], seg[4096];

static uint8_t gen(int64_t pos)
{
	uint64_t x = (uint64_t)pos * 0x9e3779b97f4a7c15ull;
	return (uint8_t)(x >> 56);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 7)
		return 0;
	bool unknown = data[0] & 1;
	uint32_t isn = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
		       data[4];
	size_t cap = (size_t)data[5] << 8 | data[6];
	bool clean = true, started = !unknown;
	int64_t base = 0; /* model position of the reassembler's byte 0 */
	size_t contig = 0;

	if (data[0] & 2)
		cap = cap * 4; /* up to 256 KB: exercises the clamp to REASM_MAX */
	if (unknown)
		reasm_init_unknown(&r, cap);
	else
		reasm_init(&r, isn, cap);
	if (cap > REASM_MAX)
		cap = REASM_MAX;
	memset(filled, 0, cap);

	for (size_t p = 7; p + 5 <= size; p += 5) {
		int64_t rel = (int16_t)(data[p] << 8 | data[p + 1]);
		size_t len = ((size_t)data[p + 2] << 8 | data[p + 3]) % sizeof(seg);
		uint8_t x = data[p + 4];
		size_t added = 0;

		if (data[0] & 4)
			rel *= 4; /* reach the whole buffer */
		for (size_t j = 0; j < len; j++)
			seg[j] = gen(rel + (int64_t)j) ^ x;
		if (!started && len > 0) {
			base = rel; /* the first non-empty segment sets the start */
			started = true;
		}
		/* the model: positions relative to byte 0, first copy wins, cap respected */
		for (size_t j = 0; j < len; j++) {
			int64_t pos = rel + (int64_t)j - base;
			if (pos < 0 || pos >= (int64_t)cap || filled[pos])
				continue;
			model[pos] = seg[j];
			filled[pos] = 1;
			added++;
			if (x)
				clean = false;
		}
		int got = reasm_add(&r, isn + (uint32_t)rel, len ? seg : NULL, len);
		if (got < 0 || (size_t)got != added)
			abort();

		while (contig < cap && filled[contig])
			contig++;
		if (reasm_contiguous(&r) != contig || memcmp(reasm_data(&r), model, contig) != 0)
			abort();
		if (reasm_full(&r) != (contig == cap))
			abort();
	}
	if (clean)
		for (size_t i = 0; i < contig; i++)
			if (reasm_data(&r)[i] != gen((int64_t)i + base))
				abort();
	return 0;
}
