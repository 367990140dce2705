/* netparse_http.c owns the parsing of an HTTP/1.x request head (request line and headers)
 * from the first bytes of a TCP stream, for the host and path a filter decides on. It is
 * strict where leniency would let the filter and the server read different hosts: bare CR,
 * line folding, space before a colon and duplicate Host are all NP_MALFORMED. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/netparse.h"

/* RFC 9110 5.6.2 tchar */
static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool ieq(const uint8_t *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i];
		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x - 'A' + 'a');
		if (x != (uint8_t)b[i])
			return false;
	}
	return true;
}

/* Find the end of the head within buf[0..len): the offset just past "\r\n\r\n" or "\n\n"
 * (mixed "\r\n\n" and "\n\r\n" too), or 0 when not there yet. */
static size_t head_end(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		size_t j = i + 1;
		if (j < len && buf[j] == '\r')
			j++;
		if (j < len && buf[j] == '\n')
			return j + 1;
	}
	return 0;
}

/* Is the (possibly partial) prefix still a plausible request line start: a method token of
 * at most NP_HTTP_METHOD_MAX tchars followed by a space? */
static bool plausible_start(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == ' ')
			return i > 0;
		if (i >= NP_HTTP_METHOD_MAX || !is_tchar(buf[i]))
			return false;
	}
	return true;
}

/* Parse "host[:port]" (an IPv6 literal in brackets) into r->host / r->port. An empty
 * authority leaves host empty. -1 when invalid. */
static int parse_authority(const uint8_t *s, size_t n, bool need_port, char *host,
			   uint16_t *port)
{
	size_t hlen;
	const uint8_t *colon = NULL;

	host[0] = '\0';
	*port = 0;
	if (n == 0)
		return need_port ? -1 : 0;
	if (s[0] == '[') {
		const uint8_t *rb = memchr(s, ']', n);
		if (!rb)
			return -1;
		hlen = (size_t)(rb - s) + 1;
		if (hlen < 4 || hlen > 48)
			return -1;
		for (size_t i = 1; i < hlen - 1; i++) {
			uint8_t c = s[i];
			if (c >= 'A' && c <= 'F')
				c = (uint8_t)(c - 'A' + 'a');
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
			      c == '.'))
				return -1;
			host[i] = (char)c;
		}
		host[0] = '[';
		host[hlen - 1] = ']';
		host[hlen] = '\0';
		if (hlen < n) {
			if (s[hlen] != ':')
				return -1;
			colon = s + hlen;
		}
	} else {
		colon = memchr(s, ':', n);
		hlen = colon ? (size_t)(colon - s) : n;
		if (hlen == 0 || hlen > NP_HTTP_HOST_MAX)
			return -1;
		if (np_host_normalize(host, s, hlen) < 0)
			return -1;
	}
	if (colon) {
		size_t plen = n - (size_t)(colon + 1 - s);
		unsigned long p = 0;

		/* an empty port means the default (RFC 3986 3.2.3) */
		if (plen > 5)
			return -1;
		for (size_t i = 0; i < plen; i++) {
			uint8_t c = colon[1 + i];
			if (c < '0' || c > '9')
				return -1;
			p = p * 10 + (c - '0');
		}
		if (plen > 0 && (p == 0 || p > 65535))
			return -1;
		*port = (uint16_t)p;
	}
	if (need_port && *port == 0)
		return -1;
	return 0;
}

static void set_path(struct np_http_req *r, const char *prefix, const uint8_t *s, size_t n)
{
	size_t pl = strlen(prefix);

	memcpy(r->path, prefix, pl);
	if (pl + n > NP_HTTP_PATH_MAX) {
		n = NP_HTTP_PATH_MAX - pl;
		r->path_truncated = true;
	}
	memcpy(r->path + pl, s, n);
	r->path[pl + n] = '\0';
}

/* request-target: origin-, absolute-, authority- or asterisk-form (RFC 9112 3.2). */
static int parse_target(struct np_http_req *r, const uint8_t *t, size_t n, bool connect)
{
	for (size_t i = 0; i < n; i++)
		if (t[i] < 0x21 || t[i] > 0x7e)
			return NP_MALFORMED;
	if (connect) {
		r->form = NP_HTTP_AUTHORITY;
		if (parse_authority(t, n, true, r->host, &r->port) < 0 || !r->host[0])
			return NP_MALFORMED;
		r->host_from_target = true;
		return NP_OK;
	}
	if (n == 1 && t[0] == '*') {
		r->form = NP_HTTP_ASTERISK;
		set_path(r, "", t, n);
		return NP_OK;
	}
	if (t[0] == '/') {
		r->form = NP_HTTP_ORIGIN;
		set_path(r, "", t, n);
		return NP_OK;
	}
	/* absolute-form: only the http and https schemes are accepted */
	size_t skip;
	if (n >= 7 && ieq(t, 7, "http://")) {
		skip = 7;
	} else if (n >= 8 && ieq(t, 8, "https://")) {
		skip = 8;
		r->https = true;
	} else {
		return NP_MALFORMED;
	}
	r->form = NP_HTTP_ABSOLUTE;
	const uint8_t *a = t + skip;
	size_t alen = 0;
	while (skip + alen < n && a[alen] != '/' && a[alen] != '?' && a[alen] != '#')
		alen++;
	/* userinfo: the host is after the last '@' ("http://good.com@evil.com/") */
	for (size_t i = alen; i > 0; i--)
		if (a[i - 1] == '@') {
			a += i;
			alen -= i;
			break;
		}
	if (parse_authority(a, alen, false, r->host, &r->port) < 0 || !r->host[0])
		return NP_MALFORMED;
	r->host_from_target = true;
	const uint8_t *p = a + alen;
	size_t plen = n - (size_t)(p - t);
	if (plen == 0)
		set_path(r, "/", p, 0);
	else
		set_path(r, p[0] == '/' ? "" : "/", p, plen);
	return NP_OK;
}

/* Split the next line off [*pos, end): sets *ls and *ll to its content without the EOL. -1 on a
 * bare CR (a CR not followed by LF). The head end is known, so a line always ends. */
static int next_line(const uint8_t *buf, size_t end, size_t *pos, const uint8_t **ls, size_t *ll)
{
	size_t i = *pos;

	while (i < end && buf[i] != '\n')
		i++;
	size_t n = i - *pos;
	if (n > 0 && buf[i - 1] == '\r')
		n--;
	*ls = buf + *pos;
	*ll = n;
	if (memchr(*ls, '\r', n))
		return -1;
	*pos = i + 1;
	return 0;
}

int np_http_request(const uint8_t *buf, size_t len, struct np_http_req *ret)
{
	struct np_http_req *r = ret;
	size_t pos = 0, end, ll;
	const uint8_t *l;
	bool seen_host = false, connect;
	char hhost[NP_HTTP_HOST_MAX + 1];
	uint16_t hport = 0;
	int rc;

	r->head_len = 0;
	r->version = 0;
	r->form = NP_HTTP_ORIGIN;
	r->https = r->host_from_target = r->host_conflict = r->path_truncated = false;
	r->port = 0;
	r->method[0] = r->host[0] = r->path[0] = '\0';
	if (len > 0 && !buf)
		return NP_MALFORMED;

	/* RFC 9112 2.2: ignore at least one empty line before the request line */
	while (pos < len && pos < 4 && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	size_t scan = len < NP_HTTP_MAX_HEAD ? len : NP_HTTP_MAX_HEAD;
	if (!plausible_start(buf + pos, scan - pos))
		return NP_NOT_THIS;
	end = head_end(buf + pos, scan - pos);
	if (end == 0) {
		/* NOT_THIS as soon as a complete request line says it is not HTTP/1.x */
		const uint8_t *nl = memchr(buf + pos, '\n', scan - pos);
		if (nl) {
			size_t n = (size_t)(nl - (buf + pos));
			if (n > 0 && nl[-1] == '\r')
				n--;
			if (n < 9 || memcmp(buf + pos + n - 9, " HTTP/1.", 8) != 0)
				return NP_NOT_THIS;
		}
		return len >= NP_HTTP_MAX_HEAD ? NP_MALFORMED : NP_NEED_MORE;
	}
	end += pos;
	r->head_len = end;

	/* request-line = method SP request-target SP HTTP-version */
	if (next_line(buf, end, &pos, &l, &ll) < 0)
		return NP_MALFORMED;
	const uint8_t *sp1 = memchr(l, ' ', ll);
	if (!sp1)
		return NP_NOT_THIS;
	size_t mlen = (size_t)(sp1 - l);
	const uint8_t *t = sp1 + 1;
	size_t rest = ll - mlen - 1;
	if (rest < 9 || memcmp(t + rest - 9, " HTTP/1.", 8) != 0)
		return NP_NOT_THIS; /* HTTP/0.9, HTTP/2 preface, or not HTTP */
	uint8_t minor = t[rest - 1];
	if (minor != '0' && minor != '1')
		return NP_MALFORMED;
	r->version = minor - '0';
	size_t tlen = rest - 9;
	if (tlen == 0 || memchr(t, ' ', tlen))
		return NP_MALFORMED; /* one SP between the three parts, nothing else */
	memcpy(r->method, l, mlen);
	r->method[mlen] = '\0';
	connect = strcmp(r->method, "CONNECT") == 0;
	rc = parse_target(r, t, tlen, connect);
	if (rc != NP_OK)
		return rc;

	/* header lines up to the empty one */
	for (;;) {
		if (next_line(buf, end, &pos, &l, &ll) < 0)
			return NP_MALFORMED;
		if (ll == 0)
			break;
		if (l[0] == ' ' || l[0] == '\t')
			return NP_MALFORMED; /* obs-fold (RFC 9112 5.2) */
		size_t nl = 0;
		while (nl < ll && is_tchar(l[nl]))
			nl++;
		/* no whitespace between name and colon (RFC 9112 5.1) */
		if (nl == 0 || nl == ll || l[nl] != ':')
			return NP_MALFORMED;
		const uint8_t *v = l + nl + 1;
		size_t vl = ll - nl - 1;
		for (size_t i = 0; i < vl; i++)
			if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
				return NP_MALFORMED;
		while (vl > 0 && (v[0] == ' ' || v[0] == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (!ieq(l, nl, "host"))
			continue;
		if (seen_host)
			return NP_MALFORMED;
		seen_host = true;
		if (parse_authority(v, vl, false, hhost, &hport) < 0)
			return NP_MALFORMED;
	}

	if (r->host_from_target) {
		/* RFC 9112 3.2.2: the target wins; note a Host that disagrees (fronting) */
		if (seen_host && hhost[0] && (strcmp(hhost, r->host) != 0 || hport != r->port))
			r->host_conflict = true;
		return NP_OK;
	}
	if (!seen_host && r->version == 1)
		return NP_MALFORMED; /* RFC 9112 3.2: an HTTP/1.1 request must carry Host */
	if (!seen_host || !hhost[0])
		return NP_NONE;
	memcpy(r->host, hhost, sizeof(hhost));
	r->port = hport;
	return NP_OK;
}

int np_http_url(const struct np_http_req *r, char *out, size_t outlen)
{
	const char *scheme = r->https ? "https" : "http";
	uint16_t def = r->https ? 443 : 80;
	char port[8] = "";
	int n;

	if (outlen > 0)
		out[0] = '\0';
	if (!r->host[0] || r->form == NP_HTTP_AUTHORITY)
		return -EINVAL;
	if (r->port && r->port != def)
		snprintf(port, sizeof(port), ":%u", r->port);
	n = snprintf(out, outlen, "%s://%s%s%s", scheme, r->host, port,
		     r->path[0] == '/' ? r->path : "/");
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= outlen)
		return -ENAMETOOLONG;
	return n;
}
