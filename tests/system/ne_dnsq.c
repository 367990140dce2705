/* ne_dnsq.c owns one DNS exchange over UDP for the network system tests: it sends an A
 * and/or AAAA query to one server, waits (bounded) for the reply with the same id from that
 * server, prints the addresses it carries and maps the outcome to the exit status. Nothing
 * is retried or cached; every length in the reply is checked against the datagram.
 *
 *   usage: ne_dnsq [-t A|AAAA|both] [-p PORT] [-w MS] SERVER NAME
 *   prints one line per address: "A 10.210.0.2" or "AAAA fd00:210::2"
 *   exit:  0 at least one address; 1 usage or local error; 2 timeout; 3 malformed reply;
 *          4 NOERROR without an A/AAAA record; 10 + rcode otherwise (13 NXDOMAIN, 15 REFUSED).
 *          With -t both: 0 when either query gave an address, else the A query's status.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

enum { T_A = 1, T_AAAA = 28, REPLY_MAX = 4096 };
enum { EX_OK = 0, EX_LOCAL = 1, EX_TIMEOUT = 2, EX_MALFORMED = 3, EX_NODATA = 4, EX_RCODE = 10 };

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Encodes NAME as a query for TYPE into buf (at least 512 bytes); returns its length or -1
 * when the name is not a valid host name (empty label, label > 63, name > 253). */
static int query_build(uint8_t *buf, uint16_t id, const char *name, uint16_t type)
{
	size_t n = strlen(name), p = 12;
	const char *s = name;

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return -1;
	memset(buf, 0, 12);
	buf[0] = id >> 8;
	buf[1] = id & 0xff;
	buf[2] = 0x01; /* RD */
	buf[5] = 1;    /* QDCOUNT */
	while (s < name + n) {
		const char *dot = memchr(s, '.', (size_t)(name + n - s));
		size_t l = dot ? (size_t)(dot - s) : (size_t)(name + n - s);

		if (l == 0 || l > 63)
			return -1;
		buf[p++] = (uint8_t)l;
		memcpy(buf + p, s, l);
		p += l;
		s += l + (dot ? 1 : 0);
	}
	buf[p++] = 0;
	buf[p++] = type >> 8;
	buf[p++] = type & 0xff;
	buf[p++] = 0;
	buf[p++] = 1; /* IN */
	return (int)p;
}

/* Skips the (possibly compressed) name at *off; -1 when it runs past len. */
static int name_skip(const uint8_t *m, size_t len, size_t *off)
{
	size_t p = *off;
	int labels = 0;

	while (p < len) {
		uint8_t l = m[p];

		if ((l & 0xc0) == 0xc0) { /* a pointer ends the name in place */
			if (p + 2 > len)
				return -1;
			*off = p + 2;
			return 0;
		}
		if (l & 0xc0)
			return -1;
		if (l == 0) {
			*off = p + 1;
			return 0;
		}
		if (++labels > 127)
			return -1;
		p += 1 + (size_t)l;
	}
	return -1;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Prints the A/AAAA records of a reply; returns an exit status. */
static int reply_print(const uint8_t *m, size_t len, uint16_t type)
{
	size_t off = 12;
	unsigned qd, an, i, printed = 0;
	int rcode;

	if (len < 12)
		return EX_MALFORMED;
	rcode = m[3] & 0x0f;
	if (rcode)
		return EX_RCODE + rcode;
	qd = rd16(m + 4);
	an = rd16(m + 6);
	for (i = 0; i < qd; i++) {
		if (name_skip(m, len, &off) < 0 || off + 4 > len)
			return EX_MALFORMED;
		off += 4;
	}
	for (i = 0; i < an; i++) {
		uint16_t rtype, rclass, rdlen;
		char txt[INET6_ADDRSTRLEN];

		if (name_skip(m, len, &off) < 0 || off + 10 > len)
			return EX_MALFORMED;
		rtype = rd16(m + off);
		rclass = rd16(m + off + 2);
		rdlen = rd16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			return EX_MALFORMED;
		if (rclass == 1 && rtype == type && ((type == T_A && rdlen == 4) || (type == T_AAAA && rdlen == 16))) {
			inet_ntop(type == T_A ? AF_INET : AF_INET6, m + off, txt, sizeof(txt));
			printf("%s %s\n", type == T_A ? "A" : "AAAA", txt);
			printed++;
		}
		off += rdlen;
	}
	return printed ? EX_OK : EX_NODATA;
}

/* One query on the connected socket fd, bounded by timeout_ms; returns an exit status. */
static int query_run(int fd, const char *name, uint16_t type, int timeout_ms)
{
	uint8_t q[512], r[REPLY_MAX];
	uint16_t id;
	int64_t end = now_ms() + timeout_ms;
	int qlen;

	if (getrandom(&id, sizeof(id), 0) != sizeof(id))
		id = (uint16_t)(getpid() ^ now_ms());
	qlen = query_build(q, id, name, type);
	if (qlen < 0) {
		fprintf(stderr, "ne_dnsq: not a valid name: '%s'\n", name);
		return EX_LOCAL;
	}
	if (send(fd, q, (size_t)qlen, 0) != qlen) {
		fprintf(stderr, "ne_dnsq: send: %s\n", strerror(errno));
		return EX_LOCAL;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = end - now_ms();
		ssize_t n;

		if (left <= 0)
			return EX_TIMEOUT;
		int pr = poll(&pfd, 1, (int)left);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return EX_TIMEOUT;
		n = recv(fd, r, sizeof(r), 0);
		if (n < 0) {
			/* ICMP port unreachable: nobody listens there; the answer will not come */
			if (errno == ECONNREFUSED)
				return EX_TIMEOUT;
			continue;
		}
		/* not ours (stale id) or not a response: keep waiting for the real one */
		if (n < 12 || rd16(r) != id || !(r[2] & 0x80))
			continue;
		return reply_print(r, (size_t)n, type);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ne_dnsq [-t A|AAAA|both] [-p PORT] [-w MS] SERVER NAME\n"
		   "  sends one query per type over UDP, prints \"A addr\" / \"AAAA addr\" lines\n"
		   "  exit: 0 address(es), 1 local error, 2 timeout, 3 malformed, 4 no A/AAAA, 10+rcode\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' }, { "port", required_argument, NULL, 'p' },
		{ "wait", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *type = "both";
	int port = 53, timeout_ms = 2000, c, fd, rc;
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;

	while ((c = getopt_long(argc, argv, "t:p:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'w': timeout_ms = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EX_LOCAL;
		}
	}
	if (argc - optind != 2 || port <= 0 || port > 65535 || timeout_ms <= 0 ||
	    (strcasecmp(type, "A") && strcasecmp(type, "AAAA") && strcasecmp(type, "both"))) {
		usage(stderr);
		return EX_LOCAL;
	}
	if (sockaddr_from_text(argv[optind], (uint16_t)port, &ss, &sl) < 0) { /* "[v6]" too, as curl writes it */
		fprintf(stderr, "ne_dnsq: not an address: '%s'\n", argv[optind]);
		return EX_LOCAL;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/* connected: the kernel drops datagrams from anyone but the server */
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		fprintf(stderr, "ne_dnsq: socket to '%s': %s\n", argv[optind], strerror(errno));
		return EX_LOCAL;
	}
	if (!strcasecmp(type, "A"))
		rc = query_run(fd, argv[optind + 1], T_A, timeout_ms);
	else if (!strcasecmp(type, "AAAA"))
		rc = query_run(fd, argv[optind + 1], T_AAAA, timeout_ms);
	else {
		int r6;

		rc = query_run(fd, argv[optind + 1], T_A, timeout_ms);
		r6 = query_run(fd, argv[optind + 1], T_AAAA, timeout_ms);
		if (r6 == EX_OK)
			rc = EX_OK;
	}
	close(fd);
	if (rc == EX_TIMEOUT)
		fprintf(stderr, "ne_dnsq: no answer from '%s' within %d ms\n", argv[optind], timeout_ms);
	return rc;
}
