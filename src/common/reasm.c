/* reasm.c owns the stream-prefix buffer of one flow direction and the bitmap of which of
 * its bytes arrived; what the bytes mean is netparse's business. */
#include <errno.h>
#include <string.h>

#include "common/reasm.h"

void reasm_init(struct reasm *r, uint32_t isn_next, size_t cap)
{
	r->start = isn_next;
	r->known = true;
	r->cap = cap < REASM_MAX ? cap : REASM_MAX;
	r->contig = 0;
	r->filled = 0;
	memset(r->map, 0, sizeof(r->map));
}

void reasm_init_unknown(struct reasm *r, size_t cap)
{
	reasm_init(r, 0, cap);
	r->known = false;
}

static inline bool has(const struct reasm *r, size_t i)
{
	return r->map[i / 64] >> (i % 64) & 1;
}

int reasm_add(struct reasm *r, uint32_t seq, const uint8_t *data, size_t len)
{
	size_t off, end, added = 0;
	int32_t rel;

	if (len == 0)
		return 0;
	if (!data)
		return -EINVAL;
	if (!r->known) {
		r->start = seq;
		r->known = true;
	}
	/* signed distance from the start, modulo 2^32 (serial number arithmetic) */
	rel = (int32_t)(seq - r->start);
	if (rel < 0) {
		size_t before = (size_t)(-(int64_t)rel);
		if (before >= len)
			return 0;
		data += before;
		len -= before;
		off = 0;
	} else {
		off = (size_t)rel;
	}
	if (off >= r->cap)
		return 0;
	end = len < r->cap - off ? off + len : r->cap;

	/* first copy wins: only bytes not yet marked are written */
	for (size_t i = off < r->contig ? r->contig : off; i < end;) {
		if (i % 64 == 0 && end - i >= 64 && r->map[i / 64] == 0) {
			memcpy(r->buf + i, data + (i - off), 64);
			r->map[i / 64] = ~(uint64_t)0;
			added += 64;
			i += 64;
			continue;
		}
		if (!has(r, i)) {
			r->buf[i] = data[i - off];
			r->map[i / 64] |= (uint64_t)1 << (i % 64);
			added++;
		}
		i++;
	}
	r->filled += added;
	while (r->contig < r->cap) {
		size_t i = r->contig;
		if (i % 64 == 0 && r->cap - i >= 64 && r->map[i / 64] == ~(uint64_t)0) {
			r->contig += 64;
			continue;
		}
		if (!has(r, i))
			break;
		r->contig++;
	}
	return (int)added;
}

size_t reasm_contiguous(const struct reasm *r)
{
	return r->contig;
}

const uint8_t *reasm_data(const struct reasm *r)
{
	return r->buf;
}

bool reasm_full(const struct reasm *r)
{
	return r->contig == r->cap;
}
