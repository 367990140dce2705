/* netparse.h: parsers of untrusted first payload bytes (TLS ClientHello, HTTP/1.x request
 * head, DNS message) for the network content filter. They run inside uextd on packet data:
 * every length is checked against its parent, nothing is allocated, every output is a
 * fixed-size field with an explicit cap, and nothing is logged.
 *
 * Every parser returns one of enum np_result. The result struct is always overwritten (its
 * fields are meaningful for NP_OK and NP_NONE; `need` also for NP_NEED_MORE). A caller that
 * filters should treat NP_MALFORMED as "cannot classify": deny, or fall back to IP rules,
 * never "allow because unparsed". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum np_result {
	NP_OK = 0,
	NP_NEED_MORE = 1, /* a valid prefix: call again with more bytes */
	NP_NOT_THIS = 2,  /* not this protocol (or not its first message) */
	NP_MALFORMED = 3, /* this protocol, but invalid, hostile or beyond a cap */
	NP_NONE = 4,      /* valid, but the wanted field is absent (no SNI, no Host, ...) */
};

/* Short name of a result ("ok", "need-more", ...), for logs and test messages. */
const char *np_result_str(int r);

/* Copy the host name src[0..n) into dst (at least n + 1 bytes) lower-cased and
 * NUL-terminated, dropping one trailing dot. The name must be dot-separated labels of 1..63
 * bytes of [A-Za-z0-9-_] and at most 253 bytes without the dot. Returns the length, or -1
 * (dst is then unspecified). Shared by the TLS and HTTP parsers so that both normalize
 * alike: "Evil.COM." and "evil.com" must match the same rule. */
int np_host_normalize(char *dst, const uint8_t *src, size_t n);

/* ---- TLS ClientHello ---------------------------------------------------------------- */

/* Largest stream prefix the TLS parser will ask for: one full 2^14-byte record plus room
 * for a few more record headers when the hello is fragmented. A hello that would need
 * more than this is NP_MALFORMED (matches REASM_MAX in reasm.h). */
#define NP_TLS_MAX_HELLO (16384 + 64)
#define NP_TLS_MAX_RECORD 16384 /* TLSPlaintext.length cap, RFC 8446 5.1 */
#define NP_TLS_SNI_MAX 255
#define NP_TLS_ALPN_MAX 4      /* ALPN protocol names kept */
#define NP_TLS_ALPN_NAME_MAX 32 /* longer (or non-printable) names are counted, not kept */

struct np_tls_hello {
	size_t need;       /* NP_NEED_MORE: stream length to wait for (see np_tls_client_hello) */
	size_t hello_len;  /* handshake body length (the 3-byte length field) */
	size_t stream_len; /* stream bytes through the last byte of the hello */
	unsigned nrecords; /* TLS records the hello spans */
	uint16_t record_version;
	uint16_t legacy_version; /* ClientHello.legacy_version */
	bool tls13;              /* supported_versions lists 0x0304 */
	bool has_ech;            /* encrypted_client_hello (0xfe0d): sni is the outer name */
	bool has_sni;
	size_t sni_len;
	char sni[NP_TLS_SNI_MAX + 1]; /* lower-case, NUL-terminated, trailing dot removed */
	unsigned alpn_total;          /* ALPN names in the extension */
	unsigned alpn_count;          /* of which kept in alpn[] */
	char alpn[NP_TLS_ALPN_MAX][NP_TLS_ALPN_NAME_MAX + 1];
};

/* Parse the ClientHello at the start of a client->server TCP stream. buf is the stream
 * prefix (reassembled, see reasm.h); the hello may span several handshake records and bytes
 * after it are ignored. Returns NP_OK with the SNI, NP_NONE when the hello is valid but has
 * no host_name SNI, NP_NEED_MORE with ret->need = the stream length to wait for: the end
 * of the record being read (records arrive whole) and, when the hello goes on past it, one
 * more record header and the missing hello bytes. It never exceeds what a valid client
 * must send, is exact for the usual hello that ends its record (from byte 5 on), and is
 * at most NP_TLS_MAX_HELLO; call again when it is reached. NP_NOT_THIS when the stream does not start with a TLS
 * handshake record holding a ClientHello, NP_MALFORMED otherwise: bad lengths at any level,
 * a duplicate SNI/ALPN/supported_versions extension, two host names, an SNI that is not a
 * DNS name ([A-Za-z0-9-_] labels of 1..63, joined by dots), or a hello above the cap. */
int np_tls_client_hello(const uint8_t *buf, size_t len, struct np_tls_hello *ret);

/* Cheap check of the first (up to 6) bytes: true when they could start a TLS handshake
 * record carrying a ClientHello (0x16 0x03 0x00..0x04 len len 0x01). True for len 0. */
bool np_tls_looks_like(const uint8_t *buf, size_t len);

/* ---- HTTP/1.x request head ---------------------------------------------------------- */

#define NP_HTTP_MAX_HEAD 8192 /* request line + headers + blank line */
#define NP_HTTP_METHOD_MAX 15
#define NP_HTTP_HOST_MAX 255
#define NP_HTTP_PATH_MAX 2047

enum np_http_form {
	NP_HTTP_ORIGIN = 0, /* GET /path */
	NP_HTTP_ABSOLUTE,   /* GET http://host/path (proxy) */
	NP_HTTP_AUTHORITY,  /* CONNECT host:port */
	NP_HTTP_ASTERISK,   /* OPTIONS * */
};

struct np_http_req {
	size_t head_len; /* bytes through the blank line that ends the head */
	int version;     /* minor version: 0 or 1 */
	enum np_http_form form;
	bool https;              /* absolute-form with the https scheme */
	bool host_from_target;   /* host/port come from the request-target */
	bool host_conflict;      /* a Host header that names another host than the target */
	bool path_truncated;     /* path was cut to NP_HTTP_PATH_MAX bytes */
	uint16_t port;           /* 0 when absent */
	char method[NP_HTTP_METHOD_MAX + 1];
	char host[NP_HTTP_HOST_MAX + 1]; /* lower-case, no port; an IPv6 literal keeps [] */
	char path[NP_HTTP_PATH_MAX + 1]; /* raw (not decoded) path and query; "" for CONNECT */
};

/* Parse an HTTP/1.0 or 1.1 request head at the start of buf. Returns NP_OK with host (from
 * an absolute- or authority-form target, which wins over Host as RFC 9112 3.2.2 says, else
 * from the Host header), NP_NONE for a valid request without a host (HTTP/1.0 without
 * Host, or an empty Host), NP_NEED_MORE before the blank line ("\r\n\r\n" or "\n\n"),
 * NP_NOT_THIS when the bytes are not an HTTP/1.x request line (HTTP/2 preface included),
 * NP_MALFORMED on bad syntax, a head longer than NP_HTTP_MAX_HEAD, a duplicate or invalid
 * Host, an HTTP/1.1 request with no host at all, a bare CR, or obsolete line folding. */
int np_http_request(const uint8_t *buf, size_t len, struct np_http_req *ret);

/* Write "http[s]://host[:port]/path" for a parsed request into out (NUL-terminated; the
 * port is left out when 0 or the scheme's default). Returns the length, -EINVAL when the
 * request has no host or is a CONNECT (a tunnel has no URL), -ENAMETOOLONG when it does
 * not fit in outlen (out then holds a truncated, terminated string). */
int np_http_url(const struct np_http_req *r, char *out, size_t outlen);

/* ---- DNS ---------------------------------------------------------------------------- */

#define NP_DNS_NAME_MAX 255 /* text form is at most 253 characters */
#define NP_DNS_MAX_ADDRS 32
#define NP_DNS_MAX_CNAMES 8 /* chain targets kept (and followed) from the qname */
#define NP_DNS_MAX_JUMPS 32 /* compression pointers followed in one name */
#define NP_DNS_MAX_MSG 65535

struct np_dns_addr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* 4 or 16 bytes, network order */
	uint32_t ttl;     /* a TTL with the top bit set is read as 0 (RFC 2181 8) */
	bool qname_match; /* owner is the qname or a CNAME target reached from it */
	char name[NP_DNS_NAME_MAX + 1]; /* owner name */
};

struct np_dns_msg {
	size_t need;    /* NP_NEED_MORE (TCP only): bytes to wait for */
	size_t msg_len; /* the DNS message, without the TCP length prefix */
	uint16_t id;
	bool is_response;
	bool tc;
	uint8_t opcode;
	uint8_t rcode;
	uint16_t qdcount, ancount, nscount, arcount;
	bool has_question;
	uint16_t qtype, qclass;
	char qname[NP_DNS_NAME_MAX + 1]; /* dotted, lower-case, no trailing dot; "" = root */
	unsigned ncnames;
	char cnames[NP_DNS_MAX_CNAMES][NP_DNS_NAME_MAX + 1]; /* chain from qname, in order */
	unsigned naddrs;
	bool addrs_truncated; /* more A/AAAA answers than NP_DNS_MAX_ADDRS */
	struct np_dns_addr addrs[NP_DNS_MAX_ADDRS];
};

/* Parse one DNS message (a UDP payload). Decodes the header, the first question and, in a
 * response, the answer section: A and AAAA records of class IN are collected (up to
 * NP_DNS_MAX_ADDRS, in order) and CNAMEs are followed from the qname whatever their order,
 * so each address says whether its owner belongs to the queried name. The authority and
 * additional sections are not read. Names must be LDH-with-underscore (a '*' label is
 * allowed); compression pointers must point strictly before every byte of the name seen so
 * far (so no loop is possible), at most NP_DNS_MAX_JUMPS of them. Returns NP_OK, NP_NONE
 * when there is no question, NP_MALFORMED on anything invalid or truncated (the header
 * fields are then still set when 12 bytes were present). */
int np_dns_parse(const uint8_t *buf, size_t len, struct np_dns_msg *ret);

/* The same for DNS over TCP: buf starts with the 2-byte length prefix. NP_NEED_MORE (with
 * ret->need) until the whole message is there; bytes after it are ignored. */
int np_dns_parse_tcp(const uint8_t *buf, size_t len, struct np_dns_msg *ret);
