/* test_netparse.c checks the untrusted-input parsers of the content filter (TLS ClientHello,
 * HTTP/1.x request head, DNS message) and the stream-prefix reassembler, on hellos captured
 * from openssl s_client and curl, answers captured from dnsmasq (tests/data/netparse/) and
 * hand-built hostile inputs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/netparse.h"
#include "common/reasm.h"

#define DATA TEST_DATA_DIR "/netparse/"

/* ---- helpers ------------------------------------------------------------------------ */

static size_t load(const char *name, uint8_t *buf, size_t cap)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), DATA "%s", name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open '%s'", path);
	n = fread(buf, 1, cap, f);
	fclose(f);
	assert_true(n > 0 && n < cap);
	return n;
}

static void put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put24(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

#define assert_np(got, want)                                                             \
	do {                                                                             \
		int g_ = (got), w_ = (want);                                             \
		if (g_ != w_)                                                            \
			fail_msg("%s: got %s, want %s", #got, np_result_str(g_),          \
				 np_result_str(w_));                                     \
	} while (0)

/* ---- TLS ---------------------------------------------------------------------------- */

struct hello_case {
	const char *file;
	int want;
	const char *sni;
	bool tls13, ech;
	const char *alpn[3];
};

static const struct hello_case hellos[] = {
	{ "openssl_tls13_hello.bin", NP_OK, "www.example.com", true, false, { "h2", "http/1.1" } },
	{ "openssl_tls13_stream.bin", NP_OK, "www.example.com", true, false, { "h2", "http/1.1" } },
	{ "openssl_tls12_hello.bin", NP_OK, "legacy.example.org", false, false, { NULL } },
	{ "openssl_nosni_hello.bin", NP_NONE, "", true, false, { NULL } },
	{ "curl_h2_hello.bin", NP_OK, "curl.test", true, false, { "h2", "http/1.1" } },
	{ "curl_http11_hello.bin", NP_OK, "http11.curl.test", true, false, { "http/1.1" } },
	{ "synth_mlkem_hello.bin", NP_OK, "pq.example.net", true, false, { "h2", "http/1.1" } },
	{ "synth_ech_hello.bin", NP_OK, "public.example.net", true, true, { "h2", "http/1.1" } },
};

static uint8_t tbuf[20000], tbuf2[20000];

static void check_hello(const struct hello_case *c, const struct np_tls_hello *h)
{
	unsigned na = 0;

	assert_string_equal(h->sni, c->sni);
	assert_int_equal(h->sni_len, strlen(c->sni));
	assert_int_equal(h->has_sni, c->want == NP_OK);
	assert_int_equal(h->tls13, c->tls13);
	assert_int_equal(h->has_ech, c->ech);
	while (na < 3 && c->alpn[na])
		na++;
	assert_int_equal(h->alpn_count, na);
	assert_int_equal(h->alpn_total, na);
	for (unsigned i = 0; i < na; i++)
		assert_string_equal(h->alpn[i], c->alpn[i]);
	assert_int_equal(h->legacy_version, 0x0303);
}

static void test_tls_captured(void **state)
{
	for (size_t i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
		const struct hello_case *c = &hellos[i];
		struct np_tls_hello h;
		size_t n = load(c->file, tbuf, sizeof(tbuf));

		assert_true(np_tls_looks_like(tbuf, n));
		assert_np(np_tls_client_hello(tbuf, n, &h), c->want);
		check_hello(c, &h);
		assert_int_equal(h.nrecords, 1);
		assert_int_equal(h.stream_len, 5 + (size_t)(tbuf[3] << 8 | tbuf[4]));
		assert_int_equal(h.hello_len + 4, h.stream_len - 5);
		if (strcmp(c->file, "synth_mlkem_hello.bin") == 0)
			assert_true(n > 1700); /* the case that no longer fits in one segment */
	}
}

/* Every strict prefix of a hello is NP_NEED_MORE with a need that is a lower bound, and
 * exact once the record header has been seen. */
static void test_tls_prefixes(void **state)
{
	for (size_t i = 0; i < sizeof(hellos) / sizeof(hellos[0]); i++) {
		struct np_tls_hello h;
		size_t n = load(hellos[i].file, tbuf, sizeof(tbuf));
		size_t full = 5 + (size_t)(tbuf[3] << 8 | tbuf[4]);

		for (size_t k = 0; k < full; k++) {
			int r = np_tls_client_hello(tbuf, k, &h);
			if (r != NP_NEED_MORE)
				fail_msg("%s: prefix %zu: %s", hellos[i].file, k, np_result_str(r));
			assert_true(h.need > k);
			assert_true(h.need <= full);
			if (k >= 5)
				assert_int_equal(h.need, full);
		}
		assert_np(np_tls_client_hello(tbuf, full, &h), hellos[i].want);
		(void)n;
	}
}

/* Re-cut the handshake message of a one-record hello into records at the given handshake
 * offsets. Returns the new stream length. */
static size_t refragment(const uint8_t *in, uint8_t *out, const size_t *cuts, size_t ncuts)
{
	size_t hs_len = (size_t)(in[3] << 8 | in[4]), o = 0, prev = 0;

	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : hs_len;
		out[o] = 0x16;
		out[o + 1] = 0x03;
		out[o + 2] = 0x01;
		put16(out + o + 3, end - prev);
		memcpy(out + o + 5, in + 5 + prev, end - prev);
		o += 5 + end - prev;
		prev = end;
	}
	return o;
}

static void test_tls_three_records(void **state)
{
	static const size_t cutsets[][2] = { { 1, 300 }, { 3, 4 }, { 100, 1000 }, { 1800, 1801 } };
	struct np_tls_hello h;
	size_t n = load("synth_mlkem_hello.bin", tbuf, sizeof(tbuf));

	for (size_t c = 0; c < sizeof(cutsets) / sizeof(cutsets[0]); c++) {
		size_t m = refragment(tbuf, tbuf2, cutsets[c], 2);

		assert_int_equal(m, n + 10);
		assert_np(np_tls_client_hello(tbuf2, m, &h), NP_OK);
		assert_string_equal(h.sni, "pq.example.net");
		assert_int_equal(h.nrecords, 3);
		assert_int_equal(h.stream_len, m);
		assert_true(h.tls13);
		for (size_t k = 0; k < m; k++) {
			assert_np(np_tls_client_hello(tbuf2, k, &h), NP_NEED_MORE);
			assert_true(h.need > k && h.need <= m);
			/* exact once the last record's header has been read */
			if (k >= m - (n - 5 - cutsets[c][1]))
				assert_int_equal(h.need, m);
		}
	}

	/* an alert record in the middle of the hello is not a hello */
	size_t cuts[2] = { 100, 200 };
	size_t m = refragment(tbuf, tbuf2, cuts, 2);
	tbuf2[5 + 100] = 0x15;
	assert_np(np_tls_client_hello(tbuf2, m, &h), NP_MALFORMED);
	/* an empty record is forbidden (RFC 8446 5.1) */
	m = refragment(tbuf, tbuf2, (size_t[]){ 100, 100 }, 2);
	assert_np(np_tls_client_hello(tbuf2, m, &h), NP_MALFORMED);
}

/* The 1.8 KB hello, cut into segments, delivered out of order and with duplicates across the
 * 2^32 wrap, reassembled and parsed after each segment. */
static void test_tls_through_reasm(void **state)
{
	static struct reasm r;
	static const int order[] = { 3, 1, 1, 0, 2, 3 };
	size_t n = load("synth_mlkem_hello.bin", tbuf, sizeof(tbuf));
	const uint32_t isn = 0xfffffd00u;
	struct np_tls_hello h;
	size_t seg = 500;

	reasm_init(&r, isn, REASM_MAX);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		size_t off = (size_t)order[i] * seg;
		size_t len = off + seg < n ? seg : n - off;
		int rc;

		assert_true(reasm_add(&r, isn + (uint32_t)off, tbuf + off, len) >= 0);
		rc = np_tls_client_hello(reasm_data(&r), reasm_contiguous(&r), &h);
		if (reasm_contiguous(&r) < n) {
			assert_np(rc, NP_NEED_MORE);
			assert_int_equal(h.need, reasm_contiguous(&r) >= 5 ? n : 9);
		} else {
			assert_np(rc, NP_OK);
			assert_string_equal(h.sni, "pq.example.net");
		}
	}
	assert_int_equal(reasm_contiguous(&r), n);
	assert_memory_equal(reasm_data(&r), tbuf, n);
}

/* A ClientHello around the given extensions block (record version 0x0301). */
static size_t make_hello(uint8_t *out, const uint8_t *ext, size_t elen)
{
	uint8_t *b = out + 9;
	size_t o = 0;

	put16(b, 0x0303);
	o = 2;
	memset(b + o, 0xab, 32);
	o += 32;
	b[o++] = 0; /* session id */
	put16(b + o, 4);
	put16(b + o + 2, 0x1301);
	put16(b + o + 4, 0x1302);
	o += 6;
	b[o++] = 1;
	b[o++] = 0;
	put16(b + o, elen);
	if (elen)
		memcpy(b + o + 2, ext, elen);
	o += 2 + elen;
	out[0] = 0x16;
	out[1] = 0x03;
	out[2] = 0x01;
	put16(out + 3, o + 4);
	out[5] = 0x01;
	put24(out + 6, o);
	return o + 9;
}

/* An SNI extension (type 0, data) with one name of the given type. */
static size_t sni_ext(uint8_t *p, uint8_t type, const char *name)
{
	size_t n = strlen(name);

	put16(p, 0);
	put16(p + 2, n + 5);
	put16(p + 4, n + 3);
	p[6] = type;
	put16(p + 7, n);
	memcpy(p + 9, name, n);
	return n + 9;
}

static int hello_with(const uint8_t *ext, size_t elen, struct np_tls_hello *h)
{
	size_t n = make_hello(tbuf2, ext, elen);
	return np_tls_client_hello(tbuf2, n, h);
}

static void test_tls_synthetic(void **state)
{
	uint8_t e[1024];
	size_t o;
	struct np_tls_hello h;

	/* no extensions block at all: a valid SSL 3.0-era hello without SNI */
	size_t n = make_hello(tbuf2, NULL, 0);
	tbuf2[4] -= 2; /* drop the 2-byte extensions length */
	tbuf2[8] -= 2;
	assert_np(np_tls_client_hello(tbuf2, n - 2, &h), NP_NONE);
	assert_np(hello_with(NULL, 0, &h), NP_NONE);

	o = sni_ext(e, 0, "Mixed.CASE-host_1.example.");
	assert_np(hello_with(e, o, &h), NP_OK);
	assert_string_equal(h.sni, "mixed.case-host_1.example");
	assert_false(h.tls13);

	/* duplicate SNI extension */
	o = sni_ext(e, 0, "a.example");
	o += sni_ext(e + o, 0, "b.example");
	assert_np(hello_with(e, o, &h), NP_MALFORMED);

	/* name_type 1 skipped: valid hello, no host name */
	o = sni_ext(e, 1, "whatever");
	assert_np(hello_with(e, o, &h), NP_NONE);

	/* two host names in one list */
	o = 9 + 9;
	memcpy(e, "\x00\x00\x00\x0e\x00\x0c\x00\x00\x03" "abc" "\x00\x00\x03" "def", o);
	assert_np(hello_with(e, o, &h), NP_MALFORMED);
	/* a type-1 name then a host name */
	memcpy(e, "\x00\x00\x00\x0e\x00\x0c\x01\x00\x03" "abc" "\x00\x00\x03" "def", o);
	assert_np(hello_with(e, o, &h), NP_OK);
	assert_string_equal(h.sni, "def");

	/* names that are not DNS names */
	static const char *const bad[] = { "a b", "a..b", ".a", "a/b", "a\xc3\xa9", "..", ".",
					   "a:443", "a.b.." };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = sni_ext(e, 0, bad[i]);
		if (hello_with(e, o, &h) != NP_MALFORMED)
			fail_msg("SNI '%s' accepted", bad[i]);
	}
	char longlabel[80];
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	o = sni_ext(e, 0, longlabel);
	assert_np(hello_with(e, o, &h), NP_MALFORMED);
	longlabel[63] = '\0';
	o = sni_ext(e, 0, longlabel);
	assert_np(hello_with(e, o, &h), NP_OK);
	/* NUL inside the name */
	o = sni_ext(e, 0, "abc.def");
	e[9 + 3] = '\0';
	assert_np(hello_with(e, o, &h), NP_MALFORMED);

	/* ALPN: empty name, long names counted but not kept, five names */
	memcpy(e, "\x00\x10\x00\x03\x00\x01\x00", 7);
	assert_np(hello_with(e, 7, &h), NP_MALFORMED);
	o = 0;
	put16(e, 0x10);
	uint8_t *al = e + 6;
	size_t alen = 0;
	static const char *const protos[] = { "a", "x-very-long-protocol-name-over-32-bytes", "b", "c",
					      "d", "e" };
	for (size_t i = 0; i < 6; i++) {
		al[alen] = (uint8_t)strlen(protos[i]);
		memcpy(al + alen + 1, protos[i], strlen(protos[i]));
		alen += 1 + strlen(protos[i]);
	}
	put16(e + 2, alen + 2);
	put16(e + 4, alen);
	o = 6 + alen;
	assert_np(hello_with(e, o, &h), NP_NONE);
	assert_int_equal(h.alpn_total, 6);
	assert_int_equal(h.alpn_count, 4);
	assert_string_equal(h.alpn[0], "a");
	assert_string_equal(h.alpn[1], "b");
	assert_string_equal(h.alpn[3], "d");

	/* supported_versions with odd length; duplicate */
	memcpy(e, "\x00\x2b\x00\x04\x03\x03\x04\x03", 8);
	assert_np(hello_with(e, 8, &h), NP_MALFORMED);
	memcpy(e, "\x00\x2b\x00\x03\x02\x03\x04\x00\x2b\x00\x03\x02\x03\x04", 14);
	assert_np(hello_with(e, 14, &h), NP_MALFORMED);
	assert_np(hello_with(e, 7, &h), NP_NONE);
	assert_true(h.tls13);

	/* an extension whose length runs past the block; trailing byte after the block */
	memcpy(e, "\x00\x17\x00\x05\x00", 5);
	assert_np(hello_with(e, 5, &h), NP_MALFORMED);
	memcpy(e, "\x00\x17\x00\x00\x00", 5);
	assert_np(hello_with(e, 5, &h), NP_MALFORMED);
	assert_np(hello_with(e, 4, &h), NP_NONE);
	/* SNI list length shorter than the extension */
	o = sni_ext(e, 0, "abc");
	e[5] -= 1;
	assert_np(hello_with(e, o, &h), NP_MALFORMED);

	/* a hello larger than the cap */
	tbuf2[0] = 0x16, tbuf2[1] = 3, tbuf2[2] = 1;
	put16(tbuf2 + 3, 16384);
	tbuf2[5] = 1;
	put24(tbuf2 + 6, 20000);
	assert_np(np_tls_client_hello(tbuf2, 9, &h), NP_MALFORMED);
	put16(tbuf2 + 3, 16385);
	assert_np(np_tls_client_hello(tbuf2, 5, &h), NP_MALFORMED);
	/* a handshake body too short to hold the fixed fields */
	put16(tbuf2 + 3, 4 + 40);
	put24(tbuf2 + 6, 40);
	assert_np(np_tls_client_hello(tbuf2, 9, &h), NP_MALFORMED);
}

/* Offsets of the length fields of a one-record hello, outermost first. */
struct lenfield {
	size_t off, width;
	int level; /* 0: record/handshake, 1: inside the hello */
};

static size_t hello_fields(const uint8_t *b, size_t n, struct lenfield *f, size_t *ret_comp_end)
{
	size_t k = 0, p = 9 + 34;

	f[k++] = (struct lenfield){ 3, 2, 0 };
	f[k++] = (struct lenfield){ 6, 3, 0 };
	f[k++] = (struct lenfield){ p, 1, 1 };
	p += 1 + b[p];
	f[k++] = (struct lenfield){ p, 2, 1 };
	p += 2 + (size_t)(b[p] << 8 | b[p + 1]);
	f[k++] = (struct lenfield){ p, 1, 1 };
	p += 1 + b[p];
	*ret_comp_end = p;
	f[k++] = (struct lenfield){ p, 2, 1 };
	p += 2;
	while (p + 4 <= n) {
		size_t type = (size_t)(b[p] << 8 | b[p + 1]), len = (size_t)(b[p + 2] << 8 | b[p + 3]);
		f[k++] = (struct lenfield){ p + 2, 2, 1 };
		if (type == 0) {
			f[k++] = (struct lenfield){ p + 4, 2, 1 };
			f[k++] = (struct lenfield){ p + 7, 2, 1 };
		}
		if (type == 0x10) {
			f[k++] = (struct lenfield){ p + 4, 2, 1 };
			f[k++] = (struct lenfield){ p + 6, 1, 1 };
		}
		if (type == 0x2b)
			f[k++] = (struct lenfield){ p + 4, 1, 1 };
		p += 4 + len;
	}
	assert_int_equal(p, n);
	return k;
}

static void test_tls_lengths(void **state)
{
	static const char *const files[] = { "curl_h2_hello.bin", "openssl_tls12_hello.bin",
					     "synth_ech_hello.bin" };
	struct lenfield f[64];
	struct np_tls_hello h;

	for (size_t fi = 0; fi < 3; fi++) {
		size_t comp_end, n = load(files[fi], tbuf, sizeof(tbuf));
		size_t nf = hello_fields(tbuf, n, f, &comp_end);

		/* each length field +1, -1, 0 and all-ones */
		for (size_t i = 0; i < nf; i++) {
			for (int d = 0; d < 4; d++) {
				size_t v = 0, w = f[i].width;
				memcpy(tbuf2, tbuf, n);
				for (size_t j = 0; j < w; j++)
					v = v << 8 | tbuf2[f[i].off + j];
				size_t was = v;
				v = d == 0 ? v + 1 : d == 1 ? v - 1 : d == 2 ? 0 : ~(size_t)0;
				if ((v & ((1u << (8 * w)) - 1)) == was)
					continue; /* e.g. 0 on an already empty extension */
				for (size_t j = 0; j < w; j++)
					tbuf2[f[i].off + j] = (uint8_t)(v >> (8 * (w - 1 - j)));
				int r = np_tls_client_hello(tbuf2, n, &h);
				if (f[i].level == 1 && r != NP_MALFORMED)
					fail_msg("%s: field at %zu delta %d: %s", files[fi], f[i].off, d,
						 np_result_str(r));
				/* a longer record may still hold the whole hello */
				if (f[i].level == 0 && r != NP_MALFORMED && r != NP_NEED_MORE &&
				    !(f[i].off == 3 && d == 0))
					fail_msg("%s: outer field at %zu delta %d: %s", files[fi],
						 f[i].off, d, np_result_str(r));
			}
		}

		/* the hello cut at every body length, record and handshake lengths fixed up:
		 * only the cut right after compression_methods is still a valid hello */
		for (size_t cut = 9; cut < n; cut++) {
			memcpy(tbuf2, tbuf, cut);
			put16(tbuf2 + 3, cut - 5);
			put24(tbuf2 + 6, cut - 9);
			int r = np_tls_client_hello(tbuf2, cut, &h);
			int want = cut == comp_end ? NP_NONE : NP_MALFORMED;
			if (r != want)
				fail_msg("%s: cut at %zu: %s", files[fi], cut, np_result_str(r));
		}

		/* every single-byte change: never a crash, never an out-of-range result */
		for (size_t i = 0; i < n; i++)
			for (int x = 1; x < 256; x <<= 1) {
				memcpy(tbuf2, tbuf, n);
				tbuf2[i] ^= (uint8_t)x;
				int r = np_tls_client_hello(tbuf2, n, &h);
				assert_true(r >= NP_OK && r <= NP_NONE);
				if (r == NP_OK)
					assert_int_equal(strlen(h.sni), h.sni_len);
			}
	}
}

static void test_tls_not_this(void **state)
{
	struct np_tls_hello h;
	static const struct {
		const char *s;
		size_t n;
		int want;
	} c[] = {
		{ "GET / HTTP/1.1\r\n\r\n", 18, NP_NOT_THIS },
		{ "SSH-2.0-OpenSSH_9.2\r\n", 21, NP_NOT_THIS },
		{ "\x16\x02", 2, NP_NOT_THIS },
		{ "\x16\x03\x05\x00\x10", 5, NP_NOT_THIS },
		{ "\x16\x03\x01\x00\x40\x02", 6, NP_NOT_THIS }, /* ServerHello */
		{ "\x17\x03\x03\x00\x40", 5, NP_NOT_THIS },
		{ "\x80\x2e\x01\x03\x01", 5, NP_NOT_THIS }, /* SSLv2-compatible hello */
		{ "", 0, NP_NEED_MORE },
		{ "\x16", 1, NP_NEED_MORE },
		{ "\x16\x03\x01\x00", 4, NP_NEED_MORE },
		{ "\x16\x03\x01\x02\x00\x01\x00", 7, NP_NEED_MORE },
		{ "\x16\x03\x01\x00\x00", 5, NP_MALFORMED },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int r = np_tls_client_hello((const uint8_t *)c[i].s, c[i].n, &h);
		if (r != c[i].want)
			fail_msg("case %zu: %s", i, np_result_str(r));
		assert_int_equal(np_tls_looks_like((const uint8_t *)c[i].s, c[i].n),
				 c[i].want != NP_NOT_THIS);
	}
	assert_np(np_tls_client_hello((const uint8_t *)"\x16\x03\x01\x02\x00\x01\x00", 7, &h),
		  NP_NEED_MORE);
	assert_int_equal(h.need, 5 + 0x200);
	assert_int_equal(np_tls_client_hello(NULL, 0, &h), NP_NEED_MORE);
	assert_int_equal(h.need, 9);
}

/* ---- HTTP --------------------------------------------------------------------------- */

static int http(const char *s, struct np_http_req *r)
{
	return np_http_request((const uint8_t *)s, strlen(s), r);
}

static void test_http_forms(void **state)
{
	struct np_http_req r;
	char url[4096];

	assert_np(http("GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: t\r\n"
		       "hOsT: \t WWW.Example.COM:8080 \r\nAccept: */*\r\n\r\nbody",
		       &r),
		  NP_OK);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.host, "www.example.com");
	assert_int_equal(r.port, 8080);
	assert_string_equal(r.path, "/index.html?q=1");
	assert_int_equal(r.form, NP_HTTP_ORIGIN);
	assert_int_equal(r.version, 1);
	assert_false(r.host_from_target);
	assert_int_equal(r.head_len, strlen("GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: t\r\n"
					    "hOsT: \t WWW.Example.COM:8080 \r\nAccept: */*\r\n\r\n"));
	assert_int_equal(np_http_url(&r, url, sizeof(url)),
			 (int)strlen("http://www.example.com:8080/index.html?q=1"));
	assert_string_equal(url, "http://www.example.com:8080/index.html?q=1");
	assert_int_equal(np_http_url(&r, url, 10), -ENAMETOOLONG);
	assert_int_equal(strlen(url), 9);

	/* absolute-form wins over Host, and the disagreement is flagged */
	assert_np(http("GET http://user:pw@Proxy.Example.net:3128/a/b?c HTTP/1.1\r\n"
		       "Host: other.example\r\n\r\n",
		       &r),
		  NP_OK);
	assert_int_equal(r.form, NP_HTTP_ABSOLUTE);
	assert_string_equal(r.host, "proxy.example.net");
	assert_int_equal(r.port, 3128);
	assert_string_equal(r.path, "/a/b?c");
	assert_true(r.host_from_target);
	assert_true(r.host_conflict);
	assert_np(http("GET http://good.example@evil.example/ HTTP/1.1\r\nHost: evil.example\r\n\r\n",
		       &r),
		  NP_OK);
	assert_string_equal(r.host, "evil.example");
	assert_false(r.host_conflict);
	assert_np(http("GET HTTPS://x.test?q HTTP/1.1\n\n", &r), NP_OK);
	assert_true(r.https);
	assert_string_equal(r.path, "/?q");
	assert_true(np_http_url(&r, url, sizeof(url)) > 0);
	assert_string_equal(url, "https://x.test/?q");
	assert_np(http("GET http://[2001:DB8::1]:8080 HTTP/1.0\r\n\r\n", &r), NP_OK);
	assert_string_equal(r.host, "[2001:db8::1]");
	assert_string_equal(r.path, "/");
	np_http_url(&r, url, sizeof(url));
	assert_string_equal(url, "http://[2001:db8::1]:8080/");
	assert_np(http("GET ftp://x.test/ HTTP/1.1\r\nHost: x\r\n\r\n", &r), NP_MALFORMED);
	assert_np(http("GET http:///path HTTP/1.1\r\nHost: x\r\n\r\n", &r), NP_MALFORMED);

	/* CONNECT, authority-form */
	assert_np(http("CONNECT api.Example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n",
		       &r),
		  NP_OK);
	assert_int_equal(r.form, NP_HTTP_AUTHORITY);
	assert_string_equal(r.host, "api.example.com");
	assert_int_equal(r.port, 443);
	assert_string_equal(r.path, "");
	assert_false(r.host_conflict);
	assert_int_equal(np_http_url(&r, url, sizeof(url)), -EINVAL);
	assert_np(http("CONNECT api.example.com HTTP/1.1\r\nHost: a\r\n\r\n", &r), NP_MALFORMED);
	assert_np(http("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", &r), NP_MALFORMED);

	/* OPTIONS * */
	assert_np(http("OPTIONS * HTTP/1.1\r\nHost: a.test:80\r\n\r\n", &r), NP_OK);
	assert_int_equal(r.form, NP_HTTP_ASTERISK);
	np_http_url(&r, url, sizeof(url));
	assert_string_equal(url, "http://a.test/");

	/* leading empty line, bare LF line ends */
	assert_np(http("\r\nPOST /x HTTP/1.0\nHost: b.test\n\n", &r), NP_OK);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.host, "b.test");
	assert_int_equal(r.version, 0);
}

static void test_http_host(void **state)
{
	struct np_http_req r;
	char url[64];

	assert_np(http("GET / HTTP/1.0\r\nX: y\r\n\r\n", &r), NP_NONE);
	assert_int_equal(np_http_url(&r, url, sizeof(url)), -EINVAL);
	assert_np(http("GET / HTTP/1.1\r\nX: y\r\n\r\n", &r), NP_MALFORMED);
	assert_np(http("GET / HTTP/1.1\r\nHost:\r\n\r\n", &r), NP_NONE);
	assert_np(http("GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n", &r), NP_MALFORMED);
	assert_np(http("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHOST: b\r\n\r\n", &r),
		  NP_MALFORMED);
	assert_np(http("GET / HTTP/1.1\r\nHost: a.test.\r\n\r\n", &r), NP_OK);
	assert_string_equal(r.host, "a.test");
	assert_np(http("GET / HTTP/1.1\r\nHost: a.test:\r\n\r\n", &r), NP_OK);
	assert_int_equal(r.port, 0);
	assert_np(http("GET / HTTP/1.1\r\nHost: a.test:65535\r\n\r\n", &r), NP_OK);
	assert_int_equal(r.port, 65535);
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHost: a.test:65536\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test:0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a.test:8x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: u@a.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a%2etest\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a.test\r\n\r\n",     /* space before colon */
		"GET / HTTP/1.1\r\nHost: a\r\n .test\r\n\r\n", /* obs-fold */
		"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",     /* bare CR */
		"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n: empty-name\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
		"GET / x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = http(bad[i], &r);
		if (rc != NP_MALFORMED)
			fail_msg("case %zu: %s", i, np_result_str(rc));
	}
}

static void test_http_caps(void **state)
{
	static char big[NP_HTTP_MAX_HEAD * 2];
	struct np_http_req r;
	size_t n;

	/* partial head: every strict prefix needs more */
	const char *req = "GET /a HTTP/1.1\r\nHost: p.test\r\nX-Long: 123456\r\n\r\n";
	for (size_t k = 0; k < strlen(req); k++) {
		int rc = np_http_request((const uint8_t *)req, k, &r);
		if (rc != NP_NEED_MORE)
			fail_msg("prefix %zu: %s", k, np_result_str(rc));
	}
	assert_np(http(req, &r), NP_OK);

	/* a head of exactly the cap passes, one byte more does not */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a.test\r\nX: ");
	memset(big + n, 'a', NP_HTTP_MAX_HEAD - n - 4);
	memcpy(big + NP_HTTP_MAX_HEAD - 4, "\r\n\r\n", 5);
	assert_np(http(big, &r), NP_OK);
	assert_int_equal(r.head_len, NP_HTTP_MAX_HEAD);
	memmove(big + n + 1, big + n, NP_HTTP_MAX_HEAD - n + 1);
	assert_np(http(big, &r), NP_MALFORMED);
	/* no end in sight */
	assert_np(np_http_request((const uint8_t *)big, NP_HTTP_MAX_HEAD - 1, &r), NP_NEED_MORE);
	assert_np(np_http_request((const uint8_t *)big, NP_HTTP_MAX_HEAD, &r), NP_MALFORMED);

	/* a path over the cap is truncated, not refused */
	n = (size_t)snprintf(big, sizeof(big), "GET /");
	memset(big + n, 'p', 3000);
	n += 3000;
	snprintf(big + n, sizeof(big) - n, " HTTP/1.1\r\nHost: a.test\r\n\r\n");
	assert_np(http(big, &r), NP_OK);
	assert_true(r.path_truncated);
	assert_int_equal(strlen(r.path), NP_HTTP_PATH_MAX);

	/* not HTTP/1.x */
	static const char *const other[] = {
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
		"\x16\x03\x01\x02\x00",
		"GET /\r\n\r\n", /* HTTP/0.9 */
		"VERYLONGMETHODNAME / HTTP/1.1\r\n",
		" GET / HTTP/1.1\r\n",
		"GET / FTP/1.0\r\n",
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		int rc = http(other[i], &r);
		if (rc != NP_NOT_THIS)
			fail_msg("case %zu: %s", i, np_result_str(rc));
	}
}

/* ---- DNS ---------------------------------------------------------------------------- */

static void test_dns_captured(void **state)
{
	static struct np_dns_msg m;
	uint8_t b[1024];
	size_t n;

	n = load("dnsmasq_cname_a.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_int_equal(m.id, 0x1234);
	assert_true(m.is_response);
	assert_int_equal(m.rcode, 0);
	assert_string_equal(m.qname, "www.example.test");
	assert_int_equal(m.qtype, 1);
	assert_int_equal(m.qclass, 1);
	assert_int_equal(m.ancount, 3);
	assert_int_equal(m.ncnames, 2);
	assert_string_equal(m.cnames[0], "mid.example.test");
	assert_string_equal(m.cnames[1], "target.example.test");
	assert_int_equal(m.naddrs, 1);
	assert_int_equal(m.addrs[0].family, AF_INET);
	assert_memory_equal(m.addrs[0].addr, "\xc0\x00\x02\x0a", 4);
	assert_string_equal(m.addrs[0].name, "target.example.test");
	assert_true(m.addrs[0].qname_match);
	/* every truncation is malformed */
	for (size_t k = 0; k < n; k++)
		assert_np(np_dns_parse(b, k, &m), NP_MALFORMED);

	n = load("dnsmasq_cname_aaaa.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_int_equal(m.qtype, 28);
	assert_int_equal(m.naddrs, 1);
	assert_int_equal(m.addrs[0].family, AF_INET6);
	assert_memory_equal(m.addrs[0].addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x10", 16);
	assert_true(m.addrs[0].qname_match);

	n = load("dnsmasq_multi_a.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_int_equal(m.naddrs, 3);
	for (unsigned i = 0; i < 3; i++) {
		assert_true(m.addrs[i].qname_match);
		assert_string_equal(m.addrs[i].name, "multi.example.test");
	}

	n = load("dnsmasq_a.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_int_equal(m.ncnames, 0);
	assert_int_equal(m.naddrs, 1);

	n = load("dnsmasq_nxdomain.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_int_equal(m.rcode, 3);
	assert_int_equal(m.naddrs, 0);

	n = load("dnsmasq_txt.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_int_equal(m.qtype, 16);
	assert_int_equal(m.naddrs, 0);

	n = load("dns_query_a.bin", b, sizeof(b));
	assert_np(np_dns_parse(b, n, &m), NP_OK);
	assert_false(m.is_response);
	assert_string_equal(m.qname, "www.example.test");

	/* over TCP */
	uint8_t t[1100];
	n = load("dnsmasq_cname_a.bin", t + 2, sizeof(t) - 2);
	put16(t, n);
	for (size_t k = 0; k < n + 2; k++) {
		assert_np(np_dns_parse_tcp(t, k, &m), NP_NEED_MORE);
		assert_int_equal(m.need, k < 2 ? 2 : n + 2);
	}
	assert_np(np_dns_parse_tcp(t, n + 2, &m), NP_OK);
	assert_int_equal(m.msg_len, n);
	assert_int_equal(m.naddrs, 1);
}

/* A little DNS message writer for the hand-built cases. */
struct dw {
	uint8_t b[4096];
	size_t n;
};

static void dw_hdr(struct dw *w, uint16_t flags, int qd, int an)
{
	memset(w->b, 0, 12);
	put16(w->b, 0xbeef);
	put16(w->b + 2, flags);
	put16(w->b + 4, (size_t)qd);
	put16(w->b + 6, (size_t)an);
	w->n = 12;
}

static void dw_raw(struct dw *w, const void *p, size_t n)
{
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void dw_16(struct dw *w, size_t v)
{
	put16(w->b + w->n, v);
	w->n += 2;
}

/* Dotted text to labels; "" is the root. Returns the offset it was written at. */
static size_t dw_name(struct dw *w, const char *s)
{
	size_t at = w->n;

	while (*s) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		w->b[w->n++] = (uint8_t)l;
		dw_raw(w, s, l);
		s += l + (dot ? 1 : 0);
	}
	w->b[w->n++] = 0;
	return at;
}

static void dw_ptr(struct dw *w, size_t to)
{
	w->b[w->n++] = (uint8_t)(0xc0 | to >> 8);
	w->b[w->n++] = (uint8_t)to;
}

static void dw_rr_head(struct dw *w, uint16_t type, uint32_t ttl, size_t rdlen)
{
	dw_16(w, type);
	dw_16(w, 1);
	dw_16(w, ttl >> 16);
	dw_16(w, ttl & 0xffff);
	dw_16(w, rdlen);
}

static void test_dns_chains(void **state)
{
	static struct np_dns_msg m;
	struct dw w;

	/* records out of order: A of the end first, then the CNAMEs backwards, plus an A for
	 * a name nobody asked about */
	dw_hdr(&w, 0x8180, 1, 5);
	size_t q = dw_name(&w, "WWW.Shop.test");
	dw_16(&w, 1);
	dw_16(&w, 1);
	dw_name(&w, "cdn.edge.test");
	dw_rr_head(&w, 1, 0x80000001u, 4); /* top bit set: TTL 0 */
	dw_raw(&w, "\x0a\x00\x00\x01", 4);
	dw_name(&w, "lb.shop.test");
	dw_rr_head(&w, 5, 60, 15);
	dw_name(&w, "cdn.edge.test");
	dw_ptr(&w, q);
	dw_rr_head(&w, 5, 60, 14);
	dw_name(&w, "lb.shop.test");
	dw_name(&w, "bank.test");
	dw_rr_head(&w, 1, 300, 4);
	dw_raw(&w, "\x0a\x00\x00\x02", 4);
	dw_name(&w, "bank.test");
	dw_rr_head(&w, 28, 300, 16);
	dw_raw(&w, "\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_OK);
	assert_string_equal(m.qname, "www.shop.test");
	assert_int_equal(m.ncnames, 2);
	assert_string_equal(m.cnames[0], "lb.shop.test");
	assert_string_equal(m.cnames[1], "cdn.edge.test");
	assert_int_equal(m.naddrs, 3);
	assert_string_equal(m.addrs[0].name, "cdn.edge.test");
	assert_true(m.addrs[0].qname_match);
	assert_int_equal(m.addrs[0].ttl, 0);
	assert_false(m.addrs[1].qname_match);
	assert_false(m.addrs[2].qname_match);
	assert_int_equal(m.addrs[1].ttl, 300);

	/* a CNAME loop ends; more addresses than the cap are counted */
	dw_hdr(&w, 0x8180, 1, 2 + 40);
	q = dw_name(&w, "a.test");
	dw_16(&w, 1);
	dw_16(&w, 1);
	dw_ptr(&w, q);
	dw_rr_head(&w, 5, 1, 8);
	size_t bname = dw_name(&w, "b.test");
	dw_ptr(&w, bname);
	dw_rr_head(&w, 5, 1, 2);
	dw_ptr(&w, q);
	for (int i = 0; i < 40; i++) {
		dw_ptr(&w, bname);
		dw_rr_head(&w, 1, 1, 4);
		dw_raw(&w, "\x01\x02\x03", 3);
		w.b[w.n++] = (uint8_t)i;
	}
	assert_np(np_dns_parse(w.b, w.n, &m), NP_OK);
	assert_int_equal(m.ncnames, 1);
	assert_int_equal(m.naddrs, NP_DNS_MAX_ADDRS);
	assert_true(m.addrs_truncated);
	assert_true(m.addrs[31].qname_match);
	assert_int_equal(m.addrs[31].addr[3], 31);

	/* no question */
	dw_hdr(&w, 0x8180, 0, 0);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_NONE);
}

static void test_dns_hostile(void **state)
{
	static struct np_dns_msg m;
	struct dw w;

	/* pointer to itself */
	dw_hdr(&w, 0x0100, 1, 0);
	dw_ptr(&w, 12);
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* a label, then a pointer back to that label: backwards, but a loop */
	dw_hdr(&w, 0x0100, 1, 0);
	dw_raw(&w, "\x01" "a", 2);
	dw_ptr(&w, 12);
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* two answers pointing at each other */
	dw_hdr(&w, 0x8180, 1, 1);
	size_t q = dw_name(&w, "x.test");
	dw_16(&w, 1);
	dw_16(&w, 1);
	size_t own = w.n;
	dw_ptr(&w, own + 12 + 0); /* forward: to the CNAME data below */
	dw_rr_head(&w, 5, 1, 2);
	dw_ptr(&w, own);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* a forward pointer in the question */
	dw_hdr(&w, 0x0100, 1, 0);
	dw_ptr(&w, 18);
	dw_16(&w, 1);
	dw_16(&w, 1);
	dw_name(&w, "a");
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);
	/* a pointer into the header */
	w.b[13] = 2;
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* label of 64 (0x40 prefix), and the other reserved prefix */
	dw_hdr(&w, 0x0100, 1, 0);
	w.b[w.n++] = 0x40;
	memset(w.b + w.n, 'a', 64);
	w.n += 64;
	w.b[w.n++] = 0;
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);
	w.b[12] = 0x80 | 63;
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);
	w.b[12] = 63;
	w.b[12 + 64] = 0; /* now 63 a's, then "\0" one byte early: the label before is fine */
	w.n = 12 + 1 + 63 + 1;
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_OK);
	assert_int_equal(strlen(m.qname), 63);

	/* names of 253 characters pass, 254 do not (also when built by pointers) */
	char name[300];
	memset(name, 0, sizeof(name));
	for (int i = 0; i < 4; i++) {
		memset(name + i * 64, 'a' + i, 63);
		if (i < 3)
			name[i * 64 + 63] = '.';
	}
	name[3 * 64 + 61] = '\0'; /* 3*64 + 61 = 253 characters */
	dw_hdr(&w, 0x0100, 1, 0);
	dw_name(&w, name);
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_OK);
	assert_int_equal(strlen(m.qname), 253);
	name[3 * 64 + 61] = 'd';
	dw_hdr(&w, 0x0100, 1, 0);
	dw_name(&w, name);
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);
	/* the same length reached through a pointer: suffix first, then a prefix to it */
	dw_hdr(&w, 0x8180, 1, 1);
	q = dw_name(&w, name + 64); /* 190 chars */
	dw_16(&w, 1);
	dw_16(&w, 1);
	dw_raw(&w, "\x3f", 1);
	dw_raw(&w, name, 63);
	dw_ptr(&w, q);
	dw_rr_head(&w, 1, 1, 4);
	dw_raw(&w, "\1\2\3\4", 4);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* a '.' inside a label would print like two labels */
	dw_hdr(&w, 0x0100, 1, 0);
	dw_raw(&w, "\x08" "evil.com" "\x01x\x00", 12);
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* A with rdlength 5; CNAME whose name runs past its rdata */
	dw_hdr(&w, 0x8180, 1, 1);
	q = dw_name(&w, "a.test");
	dw_16(&w, 1);
	dw_16(&w, 1);
	dw_ptr(&w, q);
	dw_rr_head(&w, 1, 1, 5);
	dw_raw(&w, "\1\2\3\4\5", 5);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);
	dw_hdr(&w, 0x8180, 1, 1);
	q = dw_name(&w, "a.test");
	dw_16(&w, 1);
	dw_16(&w, 1);
	dw_ptr(&w, q);
	dw_rr_head(&w, 5, 1, 3);
	dw_name(&w, "bb.test");
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);

	/* more answers announced than present; short header */
	dw_hdr(&w, 0x8180, 1, 2);
	dw_name(&w, "a.test");
	dw_16(&w, 1);
	dw_16(&w, 1);
	assert_np(np_dns_parse(w.b, w.n, &m), NP_MALFORMED);
	assert_np(np_dns_parse(w.b, 11, &m), NP_MALFORMED);
	assert_np(np_dns_parse(NULL, 0, &m), NP_MALFORMED);
}

/* ---- reasm -------------------------------------------------------------------------- */

static uint8_t stream[4096];

static void fill_stream(void)
{
	for (size_t i = 0; i < sizeof(stream); i++)
		stream[i] = (uint8_t)(i * 31 + 7);
}

static void test_reasm_orders(void **state)
{
	static struct reasm r;
	const uint32_t isns[] = { 1000, 0xffffffffu - 300, 0x7fffff00u, 0 };

	fill_stream();
	for (size_t t = 0; t < sizeof(isns) / sizeof(isns[0]); t++) {
		uint32_t isn = isns[t];

		/* in order */
		reasm_init(&r, isn, 1000);
		for (size_t off = 0; off < 1000; off += 100) {
			assert_int_equal(reasm_add(&r, isn + (uint32_t)off, stream + off, 100), 100);
			assert_int_equal(reasm_contiguous(&r), off + 100);
		}
		assert_true(reasm_full(&r));
		assert_memory_equal(reasm_data(&r), stream, 1000);

		/* reverse order: nothing contiguous until the first segment */
		reasm_init(&r, isn, 1000);
		for (size_t i = 10; i-- > 0;) {
			assert_int_equal(reasm_add(&r, isn + (uint32_t)(i * 100), stream + i * 100,
						   100),
					 100);
			assert_int_equal(reasm_contiguous(&r), i == 0 ? 1000 : 0);
		}
		assert_memory_equal(reasm_data(&r), stream, 1000);

		/* overlapping, odd sizes, duplicates */
		reasm_init(&r, isn, 1000);
		assert_int_equal(reasm_add(&r, isn + 50, stream + 50, 300), 300);
		assert_int_equal(reasm_add(&r, isn + 300, stream + 300, 200), 150);
		assert_int_equal(reasm_add(&r, isn + 50, stream + 50, 300), 0);
		assert_int_equal(reasm_contiguous(&r), 0);
		assert_int_equal(reasm_add(&r, isn + 0, stream, 77), 50);
		assert_int_equal(reasm_contiguous(&r), 500);
		assert_int_equal(reasm_add(&r, isn + 499, stream + 499, 1), 0);
		assert_int_equal(reasm_add(&r, isn + 0, stream, 1000), 500);
		assert_int_equal(reasm_contiguous(&r), 1000);
		assert_memory_equal(reasm_data(&r), stream, 1000);
	}
}

static void test_reasm_edges(void **state)
{
	static struct reasm r;
	uint8_t other[512];

	fill_stream();
	memset(other, 0xee, sizeof(other));

	/* a retransmit with different bytes cannot rewrite what arrived first */
	reasm_init(&r, 5, 1000);
	assert_int_equal(reasm_add(&r, 5 + 100, stream + 100, 100), 100);
	assert_int_equal(reasm_add(&r, 5 + 50, other, 200), 100);
	assert_int_equal(reasm_add(&r, 5, other, 50), 50);
	assert_int_equal(reasm_contiguous(&r), 250);
	assert_memory_equal(reasm_data(&r) + 100, stream + 100, 100);
	assert_memory_equal(reasm_data(&r), other, 100);
	assert_memory_equal(reasm_data(&r) + 200, other, 50);

	/* wrap-around: a segment that crosses 2^32 */
	reasm_init(&r, 0xfffffff0u, 100);
	assert_int_equal(reasm_add(&r, 0x00000010u, stream + 32, 68), 68);
	assert_int_equal(reasm_add(&r, 0xfffffff0u, stream, 32), 32);
	assert_int_equal(reasm_contiguous(&r), 100);
	assert_memory_equal(reasm_data(&r), stream, 100);

	/* beyond the cap: partly kept, wholly ignored */
	reasm_init(&r, 1, 100);
	assert_int_equal(reasm_add(&r, 1 + 90, stream + 90, 50), 10);
	assert_int_equal(reasm_add(&r, 1 + 100, stream + 100, 50), 0);
	assert_int_equal(reasm_add(&r, 1 + 5000, stream, 50), 0);
	assert_int_equal(reasm_add(&r, 1, stream, 4096), 90);
	assert_int_equal(reasm_contiguous(&r), 100);
	assert_true(reasm_full(&r));
	assert_memory_equal(reasm_data(&r), stream, 100);

	/* before the start: trimmed; entirely before: ignored; far ahead (> 2^31) is behind */
	reasm_init(&r, 1000, 100);
	assert_int_equal(reasm_add(&r, 990, stream, 5), 0);
	assert_int_equal(reasm_add(&r, 990, stream, 20), 10);
	assert_memory_equal(reasm_data(&r), stream + 10, 10);
	assert_int_equal(reasm_add(&r, 1000 + 0x80000000u, stream, 50), 0);
	assert_int_equal(reasm_contiguous(&r), 10);

	/* the cap is clamped to REASM_MAX; a large stream fills exactly that */
	reasm_init(&r, 0, (size_t)1 << 30);
	assert_int_equal(r.cap, REASM_MAX);
	for (uint32_t off = 0; off < REASM_MAX + 2000; off += 1000)
		reasm_add(&r, off, tbuf, 1000);
	assert_int_equal(reasm_contiguous(&r), REASM_MAX);

	/* unknown start: the first segment sets it */
	reasm_init_unknown(&r, 100);
	assert_int_equal(reasm_add(&r, 77777, stream, 10), 10);
	assert_int_equal(reasm_add(&r, 77777 + 10, stream + 10, 10), 10);
	assert_int_equal(reasm_add(&r, 77777 - 5, stream, 10), 0);
	assert_int_equal(reasm_contiguous(&r), 20);

	assert_int_equal(reasm_add(&r, 0, NULL, 5), -EINVAL);
	assert_int_equal(reasm_add(&r, 0, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tls_captured),
		cmocka_unit_test(test_tls_prefixes),
		cmocka_unit_test(test_tls_three_records),
		cmocka_unit_test(test_tls_through_reasm),
		cmocka_unit_test(test_tls_synthetic),
		cmocka_unit_test(test_tls_lengths),
		cmocka_unit_test(test_tls_not_this),
		cmocka_unit_test(test_http_forms),
		cmocka_unit_test(test_http_host),
		cmocka_unit_test(test_http_caps),
		cmocka_unit_test(test_dns_captured),
		cmocka_unit_test(test_dns_chains),
		cmocka_unit_test(test_dns_hostile),
		cmocka_unit_test(test_reasm_orders),
		cmocka_unit_test(test_reasm_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
