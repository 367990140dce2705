/* fuzz_dns.c feeds one input to the DNS parser, as a UDP payload and as a TCP stream, and
 * checks the result's invariants: terminated names within their caps, counts within their
 * arrays, and that an address is attributed to the qname only through the chain. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/netparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s)
{
	const char *z = memchr(s, '\0', NP_DNS_NAME_MAX + 1);
	if (!z || z - s > 253)
		abort();
	for (; *s; s++)
		if (*s == '.' && (s[1] == '.' || s[1] == '\0'))
			abort(); /* no empty label in text form */
}

static void check(int r, const struct np_dns_msg *m)
{
	if (r < NP_OK || r > NP_NONE || r == NP_NOT_THIS)
		abort();
	if (r != NP_OK && r != NP_NONE)
		return;
	check_name(m->qname);
	if (m->ncnames > NP_DNS_MAX_CNAMES || m->naddrs > NP_DNS_MAX_ADDRS)
		abort();
	if ((r == NP_NONE) != !m->has_question)
		abort();
	for (unsigned i = 0; i < m->ncnames; i++) {
		check_name(m->cnames[i]);
		if (strcmp(m->cnames[i], m->qname) == 0)
			abort();
	}
	for (unsigned i = 0; i < m->naddrs; i++) {
		const struct np_dns_addr *a = &m->addrs[i];
		bool in = strcmp(a->name, m->qname) == 0;

		check_name(a->name);
		for (unsigned j = 0; j < m->ncnames; j++)
			in |= strcmp(a->name, m->cnames[j]) == 0;
		/* with no question nothing can match it */
		if (a->qname_match != (in && m->has_question) || (a->ttl & 0x80000000u))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct np_dns_msg m, m2;
	int r = np_dns_parse(data, size, &m);

	check(r, &m);
	if (size >= 2) {
		int r2 = np_dns_parse_tcp(data, size, &m2);
		size_t want = (size_t)data[0] << 8 | data[1];
		if (r2 == NP_NEED_MORE) {
			if (size - 2 >= want || m2.need != want + 2)
				abort();
		} else {
			check(r2, &m2);
			if (m2.msg_len != want)
				abort();
		}
	}
	return 0;
}
