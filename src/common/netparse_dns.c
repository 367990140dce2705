/* netparse_dns.c owns the decoding of one DNS message (header, first question, answer
 * section) into the name -> address facts the filter caches. Attribution is the point:
 * an address counts for the queried name only through the CNAME chain that starts at it,
 * so a server cannot vouch for names nobody asked about. */
#include <string.h>
#include <sys/socket.h>

#include "common/netparse.h"

#define DNS_T_A 1
#define DNS_T_CNAME 5
#define DNS_T_AAAA 28
#define DNS_C_IN 1
#define DNS_MAX_CNAME_RR 32 /* CNAME records remembered for following the chain */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Decode the name at *off of msg[0..len). Bytes in place may not pass `end` (the end of the
 * record data holding the name, or len); pointers may only go strictly before the lowest
 * offset read so far, which rules out loops, and at most NP_DNS_MAX_JUMPS are followed.
 * On success *off is past the name in place and, when out is not NULL, out (256 bytes)
 * holds the dotted lower-case text ("" for the root). With out NULL the label bytes are not
 * checked (names we only skip). Returns 0 or -1. */
static int dns_name(const uint8_t *msg, size_t len, size_t *off, size_t end, char *out)
{
	size_t p = *off, low = *off, wire = 0, tl = 0;
	unsigned jumps = 0;
	bool jumped = false;

	if (end > len)
		return -1;
	for (;;) {
		if (p >= end)
			return -1;
		uint8_t b = msg[p];

		if ((b & 0xc0) == 0xc0) {
			if (p + 1 >= end)
				return -1;
			size_t to = (size_t)(b & 0x3f) << 8 | msg[p + 1];
			if (to >= low || to < 12 || ++jumps > NP_DNS_MAX_JUMPS)
				return -1;
			if (!jumped)
				*off = p + 2;
			jumped = true;
			low = to;
			p = to;
			end = len; /* earlier names may be anywhere before */
			continue;
		}
		if (b & 0xc0)
			return -1; /* 0x40 / 0x80: obsolete label types, or a length over 63 */
		if (b == 0) {
			if (!jumped)
				*off = p + 1;
			if (out)
				out[tl] = '\0';
			return 0;
		}
		wire += 1u + b;
		if (wire + 1 > 255) /* RFC 1035 2.3.4, counting the root's zero byte */
			return -1;
		if (p + 1 + b > end)
			return -1;
		if (out) {
			const uint8_t *s = msg + p + 1;
			bool star = b == 1 && s[0] == '*' && tl == 0;

			if (tl > 0)
				out[tl++] = '.';
			for (unsigned i = 0; i < b; i++) {
				uint8_t c = s[i];
				/* a '.' or any odd byte inside a label would make two different
				 * names print the same: refuse rather than escape */
				if (!label_char(c) && !star)
					return -1;
				if (c >= 'A' && c <= 'Z')
					c = (uint8_t)(c - 'A' + 'a');
				out[tl++] = (char)c;
			}
		}
		p += 1u + b;
	}
}

struct cname_rr {
	uint16_t owner; /* offsets of the owner and target names in the message */
	uint16_t target;
	bool used;
};

static bool in_chain(const struct np_dns_msg *m, const char *name)
{
	if (strcmp(name, m->qname) == 0)
		return true;
	for (unsigned i = 0; i < m->ncnames; i++)
		if (strcmp(name, m->cnames[i]) == 0)
			return true;
	return false;
}

/* Extend the chain from the qname through the remembered CNAME records, in any order. */
static void follow_cnames(const uint8_t *msg, size_t len, struct np_dns_msg *m,
			  struct cname_rr *cn, unsigned ncn)
{
	char name[NP_DNS_NAME_MAX + 1];
	bool grew = true;

	while (grew && m->ncnames < NP_DNS_MAX_CNAMES) {
		grew = false;
		for (unsigned i = 0; i < ncn && m->ncnames < NP_DNS_MAX_CNAMES; i++) {
			size_t o = cn[i].owner, t = cn[i].target;

			if (cn[i].used)
				continue;
			/* both were decoded successfully during the pass */
			if (dns_name(msg, len, &o, len, name) < 0 || !in_chain(m, name))
				continue;
			cn[i].used = true;
			if (dns_name(msg, len, &t, len, name) < 0 || in_chain(m, name))
				continue;
			memcpy(m->cnames[m->ncnames++], name, sizeof(name));
			grew = true;
		}
	}
}

int np_dns_parse(const uint8_t *buf, size_t len, struct np_dns_msg *ret)
{
	struct np_dns_msg *m = ret;
	struct cname_rr cn[DNS_MAX_CNAME_RR];
	unsigned ncn = 0;
	char name[NP_DNS_NAME_MAX + 1];
	size_t off = 12;

	/* not memset: the struct is ~9 KB and this runs per packet; every field the
	 * contract exposes is written below before it can be read */
	m->need = 0;
	m->msg_len = len;
	m->id = 0;
	m->is_response = m->tc = m->has_question = m->addrs_truncated = false;
	m->opcode = m->rcode = 0;
	m->qdcount = m->ancount = m->nscount = m->arcount = 0;
	m->qtype = m->qclass = 0;
	m->qname[0] = '\0';
	m->ncnames = m->naddrs = 0;
	if (len > 0 && !buf)
		return NP_MALFORMED;
	if (len < 12 || len > NP_DNS_MAX_MSG)
		return NP_MALFORMED;

	m->id = rd16(buf);
	m->is_response = buf[2] & 0x80;
	m->opcode = (buf[2] >> 3) & 0x0f;
	m->tc = buf[2] & 0x02;
	m->rcode = buf[3] & 0x0f;
	m->qdcount = rd16(buf + 4);
	m->ancount = rd16(buf + 6);
	m->nscount = rd16(buf + 8);
	m->arcount = rd16(buf + 10);

	for (unsigned q = 0; q < m->qdcount; q++) {
		if (dns_name(buf, len, &off, len, q == 0 ? m->qname : NULL) < 0 || len - off < 4)
			return NP_MALFORMED;
		if (q == 0) {
			m->qtype = rd16(buf + off);
			m->qclass = rd16(buf + off + 2);
			m->has_question = true;
		}
		off += 4;
	}
	/* answers mean name -> address facts only in a standard query response */
	if (!m->is_response || m->opcode != 0)
		return m->has_question ? NP_OK : NP_NONE;

	for (unsigned a = 0; a < m->ancount; a++) {
		size_t owner = off;
		uint16_t type, klass, rdlen;
		uint32_t ttl;

		if (dns_name(buf, len, &off, len, NULL) < 0 || len - off < 10)
			return NP_MALFORMED;
		type = rd16(buf + off);
		klass = rd16(buf + off + 2);
		ttl = rd32(buf + off + 4);
		rdlen = rd16(buf + off + 8);
		off += 10;
		if (len - off < rdlen)
			return NP_MALFORMED;
		size_t rd = off, rdend = off + rdlen;
		off = rdend;
		if (klass != DNS_C_IN)
			continue;
		if (type == DNS_T_CNAME) {
			size_t o = owner, t = rd;
			if (dns_name(buf, len, &o, len, name) < 0 ||
			    dns_name(buf, len, &t, rdend, name) < 0 || t != rdend)
				return NP_MALFORMED;
			if (ncn < DNS_MAX_CNAME_RR && rd <= UINT16_MAX)
				cn[ncn++] = (struct cname_rr){ (uint16_t)owner, (uint16_t)rd, false };
			continue;
		}
		if (type != DNS_T_A && type != DNS_T_AAAA)
			continue;
		if (rdlen != (type == DNS_T_A ? 4 : 16))
			return NP_MALFORMED;
		if (m->naddrs == NP_DNS_MAX_ADDRS) {
			m->addrs_truncated = true;
			continue;
		}
		struct np_dns_addr *ad = &m->addrs[m->naddrs];
		if (dns_name(buf, len, &owner, len, ad->name) < 0)
			return NP_MALFORMED;
		ad->family = type == DNS_T_A ? AF_INET : AF_INET6;
		memset(ad->addr, 0, sizeof(ad->addr));
		memcpy(ad->addr, buf + rd, rdlen);
		ad->ttl = ttl & 0x80000000u ? 0 : ttl;
		ad->qname_match = false;
		m->naddrs++;
	}

	if (m->has_question) {
		follow_cnames(buf, len, m, cn, ncn);
		for (unsigned i = 0; i < m->naddrs; i++)
			m->addrs[i].qname_match = in_chain(m, m->addrs[i].name);
	}
	return m->has_question ? NP_OK : NP_NONE;
}

int np_dns_parse_tcp(const uint8_t *buf, size_t len, struct np_dns_msg *ret)
{
	size_t mlen;

	if (len < 2 || !buf) {
		np_dns_parse(NULL, 0, ret); /* resets the fields */
		ret->need = 2;
		return NP_NEED_MORE;
	}
	mlen = rd16(buf);
	if (len - 2 < mlen) {
		np_dns_parse(NULL, 0, ret);
		ret->need = 2 + mlen;
		return NP_NEED_MORE;
	}
	return np_dns_parse(buf + 2, mlen, ret);
}
