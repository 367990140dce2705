/* fuzz_tls.c feeds one input to the TLS ClientHello parser as a stream prefix, checks the
 * result's invariants, and re-parses an accepted hello cut into other records (and every
 * shorter prefix of a few) to check that record boundaries never change the answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/netparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t hs[NP_TLS_MAX_HELLO], refrag[NP_TLS_MAX_HELLO * 6 + 16];

static void check_name(const char *s, size_t cap)
{
	if (!memchr(s, '\0', cap))
		abort();
}

static void check(int r, size_t size, const struct np_tls_hello *h)
{
	if (r < NP_OK || r > NP_NONE)
		abort();
	if (r == NP_NEED_MORE && (h->need <= size || h->need > NP_TLS_MAX_HELLO))
		abort();
	if (r != NP_OK && r != NP_NONE)
		return;
	check_name(h->sni, sizeof(h->sni));
	if (strlen(h->sni) != h->sni_len || (r == NP_OK) != h->has_sni || (r == NP_OK && !h->sni_len))
		abort();
	for (size_t i = 0; i < h->sni_len; i++) {
		char c = h->sni[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			abort();
	}
	if (h->alpn_count > NP_TLS_ALPN_MAX || h->alpn_count > h->alpn_total)
		abort();
	for (unsigned i = 0; i < h->alpn_count; i++)
		check_name(h->alpn[i], sizeof(h->alpn[i]));
	if (h->stream_len > size || h->stream_len < 9 + h->hello_len || h->nrecords < 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_tls_hello h, h2;
	int r = np_tls_client_hello(data, size, &h);

	check(r, size, &h);
	/* the quick check may only refuse what the parser refuses (an empty first record
	 * makes byte 5 something else: that is NP_MALFORMED) */
	if ((r == NP_OK || r == NP_NONE || r == NP_NEED_MORE) && !np_tls_looks_like(data, size))
		abort();
	if (r != NP_OK && r != NP_NONE)
		return 0;

	/* the stream up to the hello's end gives the same answer; any shorter, need more */
	if (np_tls_client_hello(data, h.stream_len, &h2) != r || strcmp(h.sni, h2.sni) != 0)
		abort();
	for (size_t k = h.stream_len - 1; k + 64 >= h.stream_len && k > 0; k--)
		if (np_tls_client_hello(data, k, &h2) != NP_NEED_MORE)
			abort();

	/* collect the handshake bytes, then cut them into records of another size */
	size_t pos = 0, n = 0, want = 4 + h.hello_len;
	while (n < want) {
		size_t rl = (size_t)data[pos + 3] << 8 | data[pos + 4];
		size_t k = rl < want - n ? rl : want - n;
		memcpy(hs + n, data + pos + 5, k);
		n += k;
		pos += 5 + rl;
	}
	size_t step = 1 + (size > 0 ? data[size - 1] % 300 : 0), o = 0;
	if (want + 5 * ((want + step - 1) / step) > NP_TLS_MAX_HELLO)
		return 0; /* over the cap once re-cut: the parser may refuse it */
	for (size_t off = 0; off < want; off += step) {
		size_t k = step < want - off ? step : want - off;
		refrag[o] = 0x16;
		refrag[o + 1] = 0x03;
		refrag[o + 2] = 0x01;
		refrag[o + 3] = (uint8_t)(k >> 8);
		refrag[o + 4] = (uint8_t)k;
		memcpy(refrag + o + 5, hs + off, k);
		o += 5 + k;
	}
	int r2 = np_tls_client_hello(refrag, o, &h2);
	check(r2, o, &h2);
	if (r2 != r || strcmp(h.sni, h2.sni) != 0 || h.alpn_total != h2.alpn_total ||
	    h.alpn_count != h2.alpn_count || h.tls13 != h2.tls13 || h.has_ech != h2.has_ech ||
	    h2.stream_len != o)
		abort();
	for (unsigned i = 0; i < h.alpn_count; i++)
		if (strcmp(h.alpn[i], h2.alpn[i]) != 0)
			abort();
	return 0;
}
