/* netparse_tls.c owns the parsing of a TLS ClientHello from the first bytes of a TCP stream,
 * across handshake records, without copying it: a cursor walks the handshake bytes and
 * skips record headers. Policy (what to do with the SNI) lives elsewhere. */
#include <string.h>

#include "common/netparse.h"

const char *np_result_str(int r)
{
	switch (r) {
	case NP_OK: return "ok";
	case NP_NEED_MORE: return "need-more";
	case NP_NOT_THIS: return "not-this";
	case NP_MALFORMED: return "malformed";
	case NP_NONE: return "none";
	default: return "?";
	}
}

int np_host_normalize(char *dst, const uint8_t *src, size_t n)
{
	size_t label = 0;

	if (n > 0 && src[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = src[i];

		if (c == '.') {
			if (label == 0)
				return -1; /* leading dot or ".." */
			label = 0;
			dst[i] = '.';
			continue;
		}
		if (++label > 63)
			return -1;
		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;
		dst[i] = (char)c;
	}
	if (label == 0)
		return -1; /* "a.." after dropping one dot */
	dst[n] = '\0';
	return (int)n;
}

bool np_tls_looks_like(const uint8_t *buf, size_t len)
{
	if (len >= 1 && buf[0] != 0x16)
		return false;
	if (len >= 2 && buf[1] != 0x03)
		return false;
	if (len >= 3 && buf[2] > 0x04)
		return false;
	if (len >= 6 && buf[5] != 0x01)
		return false;
	return true;
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A reader over the handshake bytes of records already validated by hello_extent(): `off`
 * counts handshake bytes, `end` is the current limit (the hello, or a field inside it),
 * `pos` and `rec_left` are the physical position and what is left of its record. */
struct hcur {
	const uint8_t *buf;
	size_t pos;
	size_t rec_left;
	size_t off;
	size_t end;
};

/* Take n bytes (into dst unless NULL). -1 when that would cross c->end. */
static int hc_take(struct hcur *c, void *dst, size_t n)
{
	uint8_t *d = dst;

	if (n > c->end - c->off)
		return -1;
	c->off += n;
	while (n > 0) {
		if (c->rec_left == 0) {
			/* hello_extent() checked every record header up to the hello's end and
			 * rejected empty records, so this terminates inside buf */
			c->rec_left = rd16(c->buf + c->pos + 3);
			c->pos += 5;
		}
		size_t k = n < c->rec_left ? n : c->rec_left;
		if (d) {
			memcpy(d, c->buf + c->pos, k);
			d += k;
		}
		c->pos += k;
		c->rec_left -= k;
		n -= k;
	}
	return 0;
}

static int hc_u8(struct hcur *c, unsigned *v)
{
	uint8_t b;

	if (hc_take(c, &b, 1) < 0)
		return -1;
	*v = b;
	return 0;
}

static int hc_u16(struct hcur *c, unsigned *v)
{
	uint8_t b[2];

	if (hc_take(c, b, 2) < 0)
		return -1;
	*v = rd16(b);
	return 0;
}

/* Narrow the limit to the next n bytes; returns the old limit for hc_pop(). */
static int hc_push(struct hcur *c, size_t n, size_t *old)
{
	if (n > c->end - c->off)
		return -1;
	*old = c->end;
	c->end = c->off + n;
	return 0;
}

/* Leave a field: it must have been consumed exactly (no trailing bytes inside it). */
static int hc_pop(struct hcur *c, size_t old)
{
	if (c->off != c->end)
		return -1;
	c->end = old;
	return 0;
}

/* Walk the records holding the handshake message. On NP_OK *ret_hs_total is the handshake
 * length with its 4-byte header and r->stream_len / r->nrecords are set. */
static int hello_extent(const uint8_t *buf, size_t len, struct np_tls_hello *r,
			size_t *ret_hs_total)
{
	uint8_t hh[4];
	size_t pos = 0, hs = 0, total = 4; /* total stays 4 until the handshake header is read */
	unsigned nrec = 0;

	for (;;) {
		/* record header */
		if (len - pos < 5) {
			if (pos == 0 && !np_tls_looks_like(buf, len))
				return NP_NOT_THIS;
			if (pos > 0 && ((len - pos >= 1 && buf[pos] != 0x16) ||
					(len - pos >= 2 && buf[pos + 1] != 0x03)))
				return NP_MALFORMED;
			r->need = pos + 5 + (total - hs);
			return r->need > NP_TLS_MAX_HELLO ? NP_MALFORMED : NP_NEED_MORE;
		}
		const uint8_t *h = buf + pos;
		if (h[0] != 0x16 || h[1] != 0x03 || h[2] > 0x04)
			/* after the first record, anything but more handshake is an error: a
			 * ChangeCipherSpec or alert cannot come in the middle of the hello */
			return pos == 0 ? NP_NOT_THIS : NP_MALFORMED;
		size_t reclen = rd16(h + 3);
		if (reclen == 0 || reclen > NP_TLS_MAX_RECORD)
			return NP_MALFORMED;
		if (nrec == 0)
			r->record_version = rd16(h + 1);
		nrec++;

		size_t data = pos + 5, rec_end = data + reclen;
		while (hs < total && data < rec_end) {
			if (data >= len) {
				/* a record always arrives whole, so waiting for its end is safe
				 * even if the hello ends earlier; past it, the next header and
				 * the rest of the hello (all of it when its length is known) */
				size_t rem = total - hs, in_rec = rec_end - data;
				r->need = rem <= in_rec ? rec_end : rec_end + 5 + (rem - in_rec);
				return r->need > NP_TLS_MAX_HELLO ? NP_MALFORMED : NP_NEED_MORE;
			}
			if (hs < 4) {
				hh[hs++] = buf[data++];
				if (hs == 1 && hh[0] != 0x01)
					return nrec == 1 ? NP_NOT_THIS : NP_MALFORMED;
				if (hs == 4) {
					size_t body = (size_t)hh[1] << 16 | (size_t)hh[2] << 8 | hh[3];
					/* 2 version + 32 random + 1 session id + 2 + 2 suites + 1 + 1 comp */
					if (body < 41 || body > NP_TLS_MAX_HELLO)
						return NP_MALFORMED;
					total = 4 + body;
					r->hello_len = body;
				}
				continue;
			}
			size_t k = (rec_end < len ? rec_end : len) - data;
			if (k > total - hs)
				k = total - hs;
			hs += k;
			data += k;
		}
		if (hs == total && total > 4) {
			r->stream_len = data;
			r->nrecords = nrec;
			*ret_hs_total = total;
			return NP_OK;
		}
		pos = rec_end;
		/* the rest needs at least one more record header and the missing bytes */
		if (pos + 5 + (total - hs) > NP_TLS_MAX_HELLO)
			return NP_MALFORMED;
	}
}

static int ext_sni(struct hcur *c, struct np_tls_hello *r)
{
	unsigned list, type, nlen;
	size_t old;
	uint8_t name[NP_TLS_SNI_MAX + 1];

	if (hc_u16(c, &list) < 0 || list == 0 || hc_push(c, list, &old) < 0)
		return NP_MALFORMED;
	while (c->off < c->end) {
		if (hc_u8(c, &type) < 0 || hc_u16(c, &nlen) < 0)
			return NP_MALFORMED;
		if (type != 0) {
			/* unknown name types are skipped, as RFC 6066 3 allows */
			if (hc_take(c, NULL, nlen) < 0)
				return NP_MALFORMED;
			continue;
		}
		/* "MUST NOT contain more than one name of the same name_type" */
		if (r->has_sni || nlen == 0 || nlen > NP_TLS_SNI_MAX)
			return NP_MALFORMED;
		if (hc_take(c, name, nlen) < 0)
			return NP_MALFORMED;
		int n = np_host_normalize(r->sni, name, nlen);
		if (n < 0)
			return NP_MALFORMED;
		r->sni_len = (size_t)n;
		r->has_sni = true;
	}
	return hc_pop(c, old) < 0 ? NP_MALFORMED : NP_OK;
}

static bool alpn_printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static int ext_alpn(struct hcur *c, struct np_tls_hello *r)
{
	unsigned list, nlen;
	size_t old;
	uint8_t name[255];

	if (hc_u16(c, &list) < 0 || list < 2 || hc_push(c, list, &old) < 0)
		return NP_MALFORMED;
	while (c->off < c->end) {
		/* empty names are forbidden (RFC 7301 3.1) */
		if (hc_u8(c, &nlen) < 0 || nlen == 0 || hc_take(c, name, nlen) < 0)
			return NP_MALFORMED;
		r->alpn_total++;
		if (r->alpn_count < NP_TLS_ALPN_MAX && nlen <= NP_TLS_ALPN_NAME_MAX &&
		    alpn_printable(name, nlen)) {
			memcpy(r->alpn[r->alpn_count], name, nlen);
			r->alpn[r->alpn_count][nlen] = '\0';
			r->alpn_count++;
		}
	}
	return hc_pop(c, old) < 0 ? NP_MALFORMED : NP_OK;
}

static int ext_versions(struct hcur *c, struct np_tls_hello *r)
{
	unsigned list, v;
	size_t old;

	if (hc_u8(c, &list) < 0 || list < 2 || list % 2 || hc_push(c, list, &old) < 0)
		return NP_MALFORMED;
	while (c->off < c->end) {
		if (hc_u16(c, &v) < 0)
			return NP_MALFORMED;
		if (v == 0x0304)
			r->tls13 = true;
	}
	return hc_pop(c, old) < 0 ? NP_MALFORMED : NP_OK;
}

enum { SEEN_SNI = 1, SEEN_ALPN = 2, SEEN_VERSIONS = 4, SEEN_ECH = 8 };

static int parse_extensions(struct hcur *c, struct np_tls_hello *r)
{
	unsigned total, type, elen, seen = 0;
	size_t old, eold;

	/* a hello may end after compression_methods (SSL 3.0 / TLS 1.0 without extensions) */
	if (c->off == c->end)
		return NP_OK;
	if (hc_u16(c, &total) < 0 || hc_push(c, total, &old) < 0)
		return NP_MALFORMED;
	while (c->off < c->end) {
		if (hc_u16(c, &type) < 0 || hc_u16(c, &elen) < 0 || hc_push(c, elen, &eold) < 0)
			return NP_MALFORMED;
		int rc = NP_OK, bit = 0;

		switch (type) {
		case 0x0000:
			bit = SEEN_SNI;
			rc = ext_sni(c, r);
			break;
		case 0x0010:
			bit = SEEN_ALPN;
			rc = ext_alpn(c, r);
			break;
		case 0x002b:
			bit = SEEN_VERSIONS;
			rc = ext_versions(c, r);
			break;
		case 0xfe0d:
			bit = SEEN_ECH;
			r->has_ech = true;
			rc = hc_take(c, NULL, elen) < 0 ? NP_MALFORMED : NP_OK;
			break;
		default:
			rc = hc_take(c, NULL, elen) < 0 ? NP_MALFORMED : NP_OK;
			break;
		}
		/* RFC 8446 4.2: no two extensions of the same type; a second SNI would let the
		 * server and the filter each pick a different one */
		if (bit && (seen & bit))
			return NP_MALFORMED;
		seen |= (unsigned)bit;
		if (rc != NP_OK || hc_pop(c, eold) < 0)
			return NP_MALFORMED;
	}
	/* the extensions block must end exactly where the hello ends */
	if (hc_pop(c, old) < 0 || c->off != c->end)
		return NP_MALFORMED;
	return NP_OK;
}

int np_tls_client_hello(const uint8_t *buf, size_t len, struct np_tls_hello *ret)
{
	struct hcur c;
	size_t hs_total = 0;
	unsigned v, n;
	int rc;

	memset(ret, 0, sizeof(*ret));
	if (len > 0 && !buf)
		return NP_MALFORMED;
	rc = hello_extent(buf, len, ret, &hs_total);
	if (rc != NP_OK)
		return rc;

	c = (struct hcur){ .buf = buf, .pos = 0, .rec_left = 0, .off = 0, .end = hs_total };
	if (hc_take(&c, NULL, 4) < 0 || hc_u16(&c, &v) < 0)
		return NP_MALFORMED;
	ret->legacy_version = (uint16_t)v;
	if ((v >> 8) != 0x03)
		return NP_MALFORMED;
	if (hc_take(&c, NULL, 32) < 0)
		return NP_MALFORMED;
	if (hc_u8(&c, &n) < 0 || n > 32 || hc_take(&c, NULL, n) < 0) /* session id */
		return NP_MALFORMED;
	if (hc_u16(&c, &n) < 0 || n < 2 || n % 2 || hc_take(&c, NULL, n) < 0) /* suites */
		return NP_MALFORMED;
	if (hc_u8(&c, &n) < 0 || n < 1 || hc_take(&c, NULL, n) < 0) /* compression */
		return NP_MALFORMED;
	rc = parse_extensions(&c, ret);
	if (rc != NP_OK)
		return rc;
	return ret->has_sni ? NP_OK : NP_NONE;
}
