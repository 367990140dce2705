/* rules.c owns a urlfilter rule set from its JSON text to its last decision: the domain
 * hash tables, URL prefixes, address rules, per-app scopes and category files. It reads
 * files only while loading, never logs, and never allocates while deciding.
 *
 * Domain table: open addressing, linear probing, load factor <= 1/2, 12-byte slots
 * {hash, pool offset, value}; names live in one pool as [len][bytes]. The hash of a name
 * is taken over its bytes from the last to the first, so one right-to-left pass over a
 * host yields the hash of every suffix at its label boundary: the suffix walk costs one
 * hash pass plus one probe per label. The seed is random per rule set (lists and SNI are
 * outside input; a fixed hash would let either build long probe chains). */
#include "rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_LEN 253u
#define LABELS_MAX 128u

/* domain table value: 4 flag bits, then the source of the suffix-block and suffix-allow
 * match (0 = the "block"/"allow" list, k = category k-1). */
#define F_EXB 0x1u
#define F_EXA 0x2u
#define F_SFB 0x4u
#define F_SFA 0x8u
#define SRC_BITS 14u
#define SRC_MASK ((1u << SRC_BITS) - 1u)
#define VAL_SBSRC(v) (((v) >> 4) & SRC_MASK)
#define VAL_SASRC(v) (((v) >> (4 + SRC_BITS)) & SRC_MASK)

enum tier { T_NONE, T_URL, T_NAME, T_ADDR, T_DEFAULT };

struct slot {
	uint32_t hash;
	uint32_t off; /* into pool; 0 = empty (pool[0] is a dummy) */
	uint32_t val;
};

struct names {
	struct slot *slots;
	uint32_t cap, n; /* cap: 0 or a power of two */
	char *pool;
	size_t pool_len, pool_cap;
};

struct url_rule {
	char *text; /* "http://host/path", normalized */
	const char *path; /* into text */
	size_t plen;
	uint8_t action;
	uint32_t next; /* index + 1 of the next rule of the same host, 0 = end */
};

struct cidr {
	uint8_t family, prefix, action;
	uint8_t addr[16];
	char text[INET6_ADDRSTRLEN + 8];
};

struct scope {
	struct names names;
	struct names urlhosts; /* val: index + 1 of the first url_rule of that host */
	struct url_rule *urls;
	size_t nurls, curls;
	struct cidr *cidrs;
	size_t ncidrs, ccidrs;
	int def;        /* 0 = none (apps: fall through to global) */
	bool url_block; /* any URL block rule */
	char *label;    /* "app:/usr/bin/curl"; NULL for the global scope */
};

struct app {
	char *exe;
	char *cgroup;
	size_t cgroup_len;
	int64_t uid; /* -1 = any */
	struct scope s;
};

struct category {
	char *name;
	char *path;
	uint8_t action;
	struct uf_file_report rep;
};

struct uf_rules {
	uint64_t seed;
	struct scope global;
	struct app *apps;
	size_t napps;
	struct category *cats;
	size_t ncats;
	bool log_allowed, block_quic;
	uint32_t cache_ttl_ms;
	bool cache_unsafe; /* an app selects by cgroup or uid */
	bool url_block;    /* any scope has a URL block rule */
	char *warnings;
	size_t warn_len;
};

struct seen_slot {
	uint8_t family; /* 0 = empty */
	uint8_t addr[16];
};

struct uf_seen {
	struct seen_slot *slots;
	size_t cap, n, max;
	bool saturated;
};

const char *const uf_pref_keys[] = { "default", "block", "allow", "apps", "categories", "log_allowed",
				     "block_quic", "cache_ttl_ms", NULL };

/* ---------------------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4))) reason(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static inline char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static inline uint64_t hash_start(uint64_t seed)
{
	return 0xcbf29ce484222325ull ^ seed;
}

static inline uint64_t hash_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * 0x100000001b3ull;
}

/* FNV-1a alone mixes its last bytes poorly into the low bits we index with. */
static inline uint32_t hash_fin(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* The name hash: bytes from last to first (see the file comment). */
static uint32_t hash_name(uint64_t seed, const char *s, size_t len)
{
	uint64_t h = hash_start(seed);
	while (len > 0) h = hash_byte(h, (unsigned char)s[--len]);
	return hash_fin(h);
}

/* ---------------------------------------------------------------------------------------
 * Name tables
 * ------------------------------------------------------------------------------------- */

static void names_done(struct names *t)
{
	free(t->slots);
	free(t->pool);
	memset(t, 0, sizeof *t);
}

static struct slot *names_find(const struct names *t, const char *s, size_t len, uint32_t h)
{
	if (t->n == 0) return NULL;
	uint32_t mask = t->cap - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		struct slot *e = &t->slots[i];
		if (e->off == 0) return NULL;
		if (e->hash == h && (unsigned char)t->pool[e->off] == len && memcmp(t->pool + e->off + 1, s, len) == 0)
			return e;
	}
}

static int names_grow(struct names *t)
{
	uint32_t ncap = t->cap ? t->cap * 2 : 16;
	struct slot *ns = calloc(ncap, sizeof *ns);
	if (!ns) return -ENOMEM;
	for (uint32_t i = 0; i < t->cap; i++) {
		if (t->slots[i].off == 0) continue;
		uint32_t j = t->slots[i].hash & (ncap - 1);
		while (ns[j].off) j = (j + 1) & (ncap - 1);
		ns[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
	return 0;
}

/* Find or add s (normalized, len <= NAME_MAX_LEN); *ret_slot is valid until the next
 * insert. Returns 1 added, 0 found, -E2BIG over UF_NAMES_MAX, -ENOMEM. */
static int names_upsert(struct names *t, const char *s, size_t len, uint32_t h, struct slot **ret_slot)
{
	struct slot *e = names_find(t, s, len, h);
	if (e) {
		*ret_slot = e;
		return 0;
	}
	if (t->n >= UF_NAMES_MAX) return -E2BIG;
	if ((uint64_t)(t->n + 1) * 2 > t->cap) {
		int r = names_grow(t);
		if (r < 0) return r;
	}
	if (t->pool_len + len + 2 > t->pool_cap) {
		size_t ncap = t->pool_cap ? t->pool_cap * 2 : 4096;
		while (ncap < t->pool_len + len + 2) ncap *= 2;
		if (ncap > UINT32_MAX) return -E2BIG;
		char *np = realloc(t->pool, ncap);
		if (!np) return -ENOMEM;
		t->pool = np;
		t->pool_cap = ncap;
		if (t->pool_len == 0) t->pool[t->pool_len++] = 0; /* offset 0 means empty */
	}
	uint32_t off = (uint32_t)t->pool_len;
	t->pool[off] = (char)len;
	memcpy(t->pool + off + 1, s, len);
	t->pool_len += len + 1;
	uint32_t i = h & (t->cap - 1);
	while (t->slots[i].off) i = (i + 1) & (t->cap - 1);
	t->slots[i] = (struct slot){ .hash = h, .off = off, .val = 0 };
	t->n++;
	*ret_slot = &t->slots[i];
	return 1;
}

static size_t names_bytes(const struct names *t)
{
	return (size_t)t->cap * sizeof(struct slot) + t->pool_cap;
}

/* ---------------------------------------------------------------------------------------
 * Parsing names, addresses, URLs
 * ------------------------------------------------------------------------------------- */

/* A rule's domain name -> out (lower case, no "*."/"."" prefix, no trailing dot).
 * Letters, digits, '-', '_'; labels 1..63 bytes; 1..253 in all. */
static int name_norm(const char *in, size_t len, char out[NAME_MAX_LEN + 1], size_t *ret_len)
{
	if (len >= 2 && in[0] == '*' && in[1] == '.') in += 2, len -= 2;
	else if (len >= 1 && in[0] == '.') in++, len--;
	if (len > 0 && in[len - 1] == '.') len--;
	if (len == 0 || len > NAME_MAX_LEN) return -EINVAL;
	size_t lab = 0;
	for (size_t i = 0; i < len; i++) {
		char c = lower(in[i]);
		if (c == '.') {
			if (lab == 0) return -EINVAL;
			lab = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
			if (++lab > 63) return -EINVAL;
		} else {
			return -EINVAL;
		}
		out[i] = c;
	}
	if (lab == 0) return -EINVAL;
	out[len] = 0;
	*ret_len = len;
	return 0;
}

int uf_addr_parse(const char *s, struct uf_addr *ret)
{
	struct uf_addr a = { 0 };
	if (!s) return -EINVAL;
	if (inet_pton(AF_INET, s, a.addr) == 1) a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.addr) == 1) a.family = AF_INET6;
	else return -EINVAL;
	*ret = a;
	return 0;
}

/* ::ffff:a.b.c.d is IPv4 for matching. */
static void addr_unmap(struct uf_addr *a)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	if (a->family == AF_INET6 && memcmp(a->addr, mapped, 12) == 0) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
	}
}

/* "a", "a/n" -> c (host bits cleared). */
static int cidr_parse(const char *s, struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(s);
	if (len == 0 || len >= sizeof buf) return -EINVAL;
	memcpy(buf, s, len + 1);
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		char *end;
		*slash = 0;
		if (slash[1] < '0' || slash[1] > '9') return -EINVAL;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || *end) return -EINVAL;
	}
	struct uf_addr a;
	if (uf_addr_parse(buf, &a) < 0) return -EINVAL;
	addr_unmap(&a);
	unsigned bits = a.family == AF_INET ? 32 : 128;
	if (prefix < 0) prefix = bits;
	if (prefix > (long)bits) return -EINVAL;
	memset(c, 0, sizeof *c);
	c->family = a.family;
	c->prefix = (uint8_t)prefix;
	for (unsigned i = 0; i < bits / 8; i++) {
		unsigned keep = (unsigned)prefix > i * 8 ? (unsigned)prefix - i * 8 : 0;
		uint8_t mask = keep >= 8 ? 0xff : (uint8_t)(0xff << (8 - keep));
		c->addr[i] = a.addr[i] & mask;
	}
	char txt[INET6_ADDRSTRLEN];
	inet_ntop(c->family, c->addr, txt, sizeof txt);
	if ((unsigned)prefix == bits) snprintf(c->text, sizeof c->text, "%s", txt);
	else snprintf(c->text, sizeof c->text, "%s/%ld", txt, prefix);
	return 0;
}

static bool cidr_match(const struct cidr *c, const struct uf_addr *a)
{
	if (c->family != a->family) return false;
	unsigned full = c->prefix / 8u, rest = c->prefix % 8u;
	if (memcmp(c->addr, a->addr, full) != 0) return false;
	if (rest == 0) return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a->addr[full] & mask) == c->addr[full];
}

/* "http://Host[:80]/path" -> host (lower case, no ":80", no trailing dot) and path (into
 * url, "/" if empty). -EINVAL if not plain http or the host is unusable. */
static int url_split(const char *url, char host[NAME_MAX_LEN + 8], size_t *ret_hlen, const char **ret_path)
{
	if (strncasecmp(url, "http://", 7) != 0) return -EINVAL;
	const char *h = url + 7, *p = h;
	while (*p && *p != '/' && *p != '?' && *p != '#') p++;
	size_t hlen = (size_t)(p - h);
	if (hlen >= 3 && memcmp(p - 3, ":80", 3) == 0) hlen -= 3;
	if (hlen > 0 && h[hlen - 1] == '.') hlen--;
	if (hlen == 0 || hlen > NAME_MAX_LEN + 6) return -EINVAL;
	for (size_t i = 0; i < hlen; i++) {
		char c = lower(h[i]);
		if (c <= ' ' || c == 0x7f || c == '@') return -EINVAL;
		host[i] = c;
	}
	host[hlen] = 0;
	*ret_hlen = hlen;
	*ret_path = *p ? p : "/";
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Building scopes
 * ------------------------------------------------------------------------------------- */

static void scope_done(struct scope *s)
{
	names_done(&s->names);
	names_done(&s->urlhosts);
	for (size_t i = 0; i < s->nurls; i++) free(s->urls[i].text);
	free(s->urls);
	free(s->cidrs);
	free(s->label);
	memset(s, 0, sizeof *s);
}

/* Add a normalized name with flag (F_*) from source src (0 list, k category k-1). */
static int scope_add_name(struct uf_rules *r, struct scope *s, const char *n, size_t len, uint32_t flag, uint32_t src)
{
	struct slot *e;
	int rc = names_upsert(&s->names, n, len, hash_name(r->seed, n, len), &e);
	if (rc < 0) return rc;
	if (flag == F_SFB && !(e->val & F_SFB)) e->val |= (src & SRC_MASK) << 4;
	if (flag == F_SFA && !(e->val & F_SFA)) e->val |= (src & SRC_MASK) << (4 + SRC_BITS);
	e->val |= flag;
	return 0;
}

static int scope_add_url(struct uf_rules *r, struct scope *s, const char *text, uint8_t action)
{
	char host[NAME_MAX_LEN + 8];
	size_t hlen;
	const char *path;
	if (url_split(text, host, &hlen, &path) < 0) return -EINVAL;
	if (s->nurls >= UINT32_MAX - 1) return -E2BIG;
	if (s->nurls == s->curls) {
		size_t nc = s->curls ? s->curls * 2 : 8;
		struct url_rule *nu = realloc(s->urls, nc * sizeof *nu);
		if (!nu) return -ENOMEM;
		s->urls = nu;
		s->curls = nc;
	}
	struct url_rule *u = &s->urls[s->nurls];
	size_t plen = strlen(path);
	u->text = malloc(7 + hlen + plen + 1);
	if (!u->text) return -ENOMEM;
	memcpy(u->text, "http://", 7);
	memcpy(u->text + 7, host, hlen);
	memcpy(u->text + 7 + hlen, path, plen + 1);
	u->path = u->text + 7 + hlen;
	u->plen = plen;
	u->action = action;
	struct slot *e;
	int rc = names_upsert(&s->urlhosts, host, hlen, hash_name(r->seed, host, hlen), &e);
	if (rc < 0) {
		free(u->text);
		return rc;
	}
	u->next = e->val;
	e->val = (uint32_t)(s->nurls + 1);
	s->nurls++;
	if (action == UF_BLOCK) s->url_block = r->url_block = true;
	return 0;
}

static int scope_add_cidr(struct scope *s, const struct cidr *c)
{
	if (s->ncidrs >= UF_ADDR_RULES_MAX) return -E2BIG;
	if (s->ncidrs == s->ccidrs) {
		size_t nc = s->ccidrs ? s->ccidrs * 2 : 8;
		struct cidr *n = realloc(s->cidrs, nc * sizeof *n);
		if (!n) return -ENOMEM;
		s->cidrs = n;
		s->ccidrs = nc;
	}
	s->cidrs[s->ncidrs++] = *c;
	return 0;
}

/* One "block"/"allow" array of scope s. what names it in messages ("block",
 * "apps[2].allow"). */
static int scope_add_list(struct uf_rules *r, struct scope *s, json_t *arr, uint8_t action, const char *what,
			  char *err, size_t errlen)
{
	if (!json_is_array(arr)) {
		reason(err, errlen, "\"%s\" must be an array of strings", what);
		return -EINVAL;
	}
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			reason(err, errlen, "\"%s\"[%zu] is not a string", what, i);
			return -EINVAL;
		}
		const char *t = json_string_value(v);
		size_t len = json_string_length(v);
		int rc;
		struct cidr c;
		char n[NAME_MAX_LEN + 1];
		size_t nlen;
		if (strncasecmp(t, "https://", 8) == 0) {
			reason(err, errlen, "\"%s\"[%zu] '%.200s': https URLs cannot be matched (TLS is not opened); "
			       "use the host name", what, i, t);
			return -EINVAL;
		} else if (strncasecmp(t, "http://", 7) == 0) {
			rc = scope_add_url(r, s, t, action);
		} else if (strstr(t, "://")) {
			reason(err, errlen, "\"%s\"[%zu] '%.200s': only http:// URLs are supported", what, i, t);
			return -EINVAL;
		} else if (cidr_parse(t, &c) == 0) {
			c.action = action;
			rc = scope_add_cidr(s, &c);
		} else if (t[0] == '=') {
			rc = name_norm(t + 1, len - 1, n, &nlen);
			if (rc == 0) rc = scope_add_name(r, s, n, nlen, action == UF_BLOCK ? F_EXB : F_EXA, 0);
		} else {
			rc = name_norm(t, len, n, &nlen);
			if (rc == 0) rc = scope_add_name(r, s, n, nlen, action == UF_BLOCK ? F_SFB : F_SFA, 0);
		}
		if (rc == -EINVAL) {
			reason(err, errlen, "\"%s\"[%zu] '%.200s': not a domain name, address, CIDR or http:// URL", what,
			       i, t);
			return rc;
		}
		if (rc < 0) {
			reason(err, errlen, "\"%s\"[%zu] '%.200s': %s", what, i, t,
			       rc == -E2BIG ? "too many rules" : strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Category files
 * ------------------------------------------------------------------------------------- */

static bool hosts_builtin(const char *t)
{
	static const char *const skip[] = { "localhost", "localhost.localdomain", "local", "broadcasthost",
					    "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
					    "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0", NULL };
	for (size_t i = 0; skip[i]; i++)
		if (strcasecmp(t, skip[i]) == 0) return true;
	return false;
}

static void report_invalid(struct uf_file_report *rep)
{
	if (rep->invalid < UF_REPORT_LINES) rep->first_invalid[rep->invalid] = rep->lines;
	rep->invalid++;
}

/* One line (NUL-terminated, newline included or not). Returns 0 or a fatal -errno. */
static int category_line(struct uf_rules *r, uint32_t src, uint32_t flag, char *line, struct uf_file_report *rep)
{
	char *hash = strchr(line, '#');
	if (hash) *hash = 0;
	char *tok[2], *save = NULL;
	size_t ntok = 0;
	for (char *t = strtok_r(line, " \t\r\n\v\f", &save); t; t = strtok_r(NULL, " \t\r\n\v\f", &save)) {
		if (ntok < 2) tok[ntok] = t;
		ntok++;
		if (ntok == 2) break; /* the rest stays in save */
	}
	if (ntok == 0) return 0;
	struct uf_addr a;
	bool hosts = uf_addr_parse(tok[0], &a) == 0;
	if (!hosts && ntok > 1) {
		report_invalid(rep);
		return 0;
	}
	if (hosts && ntok == 1) {
		report_invalid(rep);
		return 0;
	}
	bool bad = false;
	for (char *t = hosts ? tok[1] : tok[0]; t; t = hosts ? strtok_r(NULL, " \t\r\n\v\f", &save) : NULL) {
		if (hosts && hosts_builtin(t)) continue;
		char n[NAME_MAX_LEN + 1];
		size_t nlen;
		if (name_norm(t, strlen(t), n, &nlen) < 0) {
			bad = true;
			continue;
		}
		int rc = scope_add_name(r, &r->global, n, nlen, flag, src);
		if (rc < 0) return rc;
		rep->names++;
		if (!hosts) break;
	}
	if (bad) report_invalid(rep);
	return 0;
}

static int category_load(struct uf_rules *r, size_t idx, char *err, size_t errlen)
{
	struct category *c = &r->cats[idx];
	uint32_t flag = c->action == UF_BLOCK ? F_SFB : F_SFA;
	uint32_t src = (uint32_t)idx + 1;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		reason(err, errlen, "category '%s': cannot open '%s': %s", c->name, c->path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		reason(err, errlen, "category '%s': '%s' is not a regular file", c->name, c->path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size > (off_t)UF_FILE_MAX) {
		reason(err, errlen, "category '%s': '%s' is larger than %u MiB", c->name, c->path, UF_FILE_MAX >> 20);
		close(fd);
		return -EFBIG;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int e = errno;
		close(fd);
		reason(err, errlen, "category '%s': %s", c->name, strerror(e));
		return -e;
	}
	char buf[UF_LINE_MAX + 2];
	size_t total = 0;
	int rc = 0;
	bool skipping = false; /* inside an over-long line */
	while (fgets(buf, sizeof buf, f)) {
		size_t len = strlen(buf);
		total += len;
		if (total > UF_FILE_MAX) { /* it grew while we read */
			reason(err, errlen, "category '%s': '%s' is larger than %u MiB", c->name, c->path,
			       UF_FILE_MAX >> 20);
			rc = -EFBIG;
			break;
		}
		bool eol = len > 0 && buf[len - 1] == '\n';
		if (skipping) {
			skipping = !eol;
			continue;
		}
		c->rep.lines++;
		if (!eol && len == sizeof buf - 1) {
			report_invalid(&c->rep);
			skipping = true;
			continue;
		}
		rc = category_line(r, src, flag, buf, &c->rep);
		if (rc < 0) {
			reason(err, errlen, "category '%s': '%s' line %zu: %s", c->name, c->path, c->rep.lines,
			       rc == -E2BIG ? "more names than the limit" : strerror(-rc));
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		reason(err, errlen, "category '%s': reading '%s' failed", c->name, c->path);
		rc = -EIO;
	}
	fclose(f);
	return rc;
}

static int warn_append(struct uf_rules *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int warn_append(struct uf_rules *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0) return -EINVAL;
	size_t len = strlen(line);
	char *w = realloc(r->warnings, r->warn_len + len + 3);
	if (!w) return -ENOMEM;
	r->warnings = w;
	if (r->warn_len) {
		memcpy(w + r->warn_len, "; ", 2);
		r->warn_len += 2;
	}
	memcpy(w + r->warn_len, line, len + 1);
	r->warn_len += len;
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------------------- */

static int action_parse(json_t *v, const char *what, int *ret, char *err, size_t errlen)
{
	const char *s = json_string_value(v);
	if (s && strcmp(s, "allow") == 0) *ret = UF_ALLOW;
	else if (s && strcmp(s, "block") == 0) *ret = UF_BLOCK;
	else {
		reason(err, errlen, "\"%s\" must be \"allow\" or \"block\"", what);
		return -EINVAL;
	}
	return 0;
}

static int app_parse(struct uf_rules *r, size_t idx, json_t *o, char *err, size_t errlen)
{
	struct app *a = &r->apps[idx];
	char what[64];
	a->uid = -1;
	if (!json_is_object(o)) {
		reason(err, errlen, "\"apps\"[%zu] must be an object", idx);
		return -EINVAL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		if (strcmp(k, "exe") == 0) {
			const char *s = json_string_value(v);
			if (!s || s[0] != '/') {
				reason(err, errlen, "\"apps\"[%zu].exe must be an absolute path", idx);
				return -EINVAL;
			}
			if (!(a->exe = strdup(s))) return -ENOMEM;
		} else if (strcmp(k, "cgroup") == 0) {
			const char *s = json_string_value(v);
			if (!s || s[0] != '/') {
				reason(err, errlen, "\"apps\"[%zu].cgroup must be a path starting with '/'", idx);
				return -EINVAL;
			}
			if (!(a->cgroup = strdup(s))) return -ENOMEM;
			a->cgroup_len = strlen(a->cgroup);
			while (a->cgroup_len > 1 && a->cgroup[a->cgroup_len - 1] == '/') a->cgroup[--a->cgroup_len] = 0;
		} else if (strcmp(k, "uid") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= UINT32_MAX) {
				reason(err, errlen, "\"apps\"[%zu].uid must be a user id", idx);
				return -EINVAL;
			}
			a->uid = json_integer_value(v);
		} else if (strcmp(k, "default") == 0) {
			snprintf(what, sizeof what, "apps[%zu].default", idx);
			int rc = action_parse(v, what, &a->s.def, err, errlen);
			if (rc < 0) return rc;
		} else if (strcmp(k, "block") != 0 && strcmp(k, "allow") != 0) {
			reason(err, errlen, "\"apps\"[%zu]: unknown key \"%.64s\"", idx, k);
			return -EINVAL;
		}
	}
	if (!a->exe && !a->cgroup && a->uid < 0) {
		reason(err, errlen, "\"apps\"[%zu] needs \"exe\", \"cgroup\" or \"uid\"", idx);
		return -EINVAL;
	}
	char label[UF_RULE_MAX / 2];
	if (a->exe) snprintf(label, sizeof label, "app:%s", a->exe);
	else if (a->cgroup) snprintf(label, sizeof label, "app:cgroup:%s", a->cgroup);
	else snprintf(label, sizeof label, "app:uid:%lld", (long long)a->uid);
	if (!(a->s.label = strdup(label))) return -ENOMEM;
	if (a->cgroup || a->uid >= 0) r->cache_unsafe = true;
	static const char *const lists[] = { "block", "allow" };
	for (int l = 0; l < 2; l++) {
		json_t *arr = json_object_get(o, lists[l]);
		if (!arr) continue;
		snprintf(what, sizeof what, "apps[%zu].%s", idx, lists[l]);
		int rc = scope_add_list(r, &a->s, arr, l == 0 ? UF_BLOCK : UF_ALLOW, what, err, errlen);
		if (rc < 0) return rc;
	}
	return 0;
}

static int categories_parse(struct uf_rules *r, json_t *o, const char *base_dir, char *err, size_t errlen)
{
	if (!json_is_object(o)) {
		reason(err, errlen, "\"categories\" must be an object of name: {\"file\", \"action\"}");
		return -EINVAL;
	}
	if (json_object_size(o) > UF_CATEGORIES_MAX) {
		reason(err, errlen, "\"categories\": more than %u", UF_CATEGORIES_MAX);
		return -E2BIG;
	}
	r->cats = calloc(json_object_size(o) ? json_object_size(o) : 1, sizeof *r->cats);
	if (!r->cats) return -ENOMEM;
	const char *name;
	json_t *c;
	json_object_foreach(o, name, c) {
		size_t nlen = strlen(name);
		bool ok = nlen > 0 && nlen <= 64;
		for (size_t i = 0; ok && i < nlen; i++)
			ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
			     (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_';
		if (!ok) {
			reason(err, errlen, "category name '%.64s': use 1-64 of A-Z a-z 0-9 - _", name);
			return -EINVAL;
		}
		if (!json_is_object(c)) {
			reason(err, errlen, "category '%s' must be an object {\"file\", \"action\"}", name);
			return -EINVAL;
		}
		const char *k;
		json_t *v;
		json_object_foreach(c, k, v) {
			if (strcmp(k, "file") && strcmp(k, "action") && strcmp(k, "enabled")) {
				reason(err, errlen, "category '%s': unknown key \"%.64s\"", name, k);
				return -EINVAL;
			}
		}
		json_t *en = json_object_get(c, "enabled");
		if (en && !json_is_boolean(en)) {
			reason(err, errlen, "category '%s': \"enabled\" must be true or false", name);
			return -EINVAL;
		}
		const char *file = json_string_value(json_object_get(c, "file"));
		if (!file || !file[0]) {
			reason(err, errlen, "category '%s' needs \"file\"", name);
			return -EINVAL;
		}
		int action;
		char what[96];
		snprintf(what, sizeof what, "categories.%s.action", name);
		int rc = action_parse(json_object_get(c, "action"), what, &action, err, errlen);
		if (rc < 0) return rc;
		if (en && json_is_false(en)) continue;
		struct category *cat = &r->cats[r->ncats];
		cat->action = (uint8_t)action;
		if (!(cat->name = strdup(name))) return -ENOMEM;
		r->ncats++;
		if (file[0] == '/' || !base_dir) rc = asprintf(&cat->path, "%s", file);
		else rc = asprintf(&cat->path, "%s/%s", base_dir, file);
		if (rc < 0) {
			cat->path = NULL;
			return -ENOMEM;
		}
		rc = category_load(r, r->ncats - 1, err, errlen);
		if (rc < 0) return rc;
		if (cat->rep.invalid) {
			char lines[96] = "";
			size_t off = 0;
			size_t shown = cat->rep.invalid < UF_REPORT_LINES ? cat->rep.invalid : UF_REPORT_LINES;
			for (size_t i = 0; i < shown && off < sizeof lines; i++)
				off += (size_t)snprintf(lines + off, sizeof lines - off, "%s%zu", i ? ", " : "",
							cat->rep.first_invalid[i]);
			rc = warn_append(r, "category '%s' ('%s'): %zu invalid line%s of %zu skipped (line%s %s%s)",
					 name, cat->path, cat->rep.invalid, cat->rep.invalid == 1 ? "" : "s",
					 cat->rep.lines, shown == 1 ? "" : "s", lines,
					 cat->rep.invalid > shown ? ", ..." : "");
			if (rc < 0) return rc;
		}
	}
	return 0;
}

static int config_parse(struct uf_rules *r, json_t *root, const char *base_dir, char *err, size_t errlen)
{
	if (!json_is_object(root)) {
		reason(err, errlen, "the configuration must be a JSON object");
		return -EINVAL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		bool known = false;
		for (size_t i = 0; uf_pref_keys[i]; i++) known |= strcmp(k, uf_pref_keys[i]) == 0;
		if (!known) {
			reason(err, errlen, "unknown key \"%.64s\"", k);
			return -EINVAL;
		}
	}
	int rc;
	if ((v = json_object_get(root, "default")) && (rc = action_parse(v, "default", &r->global.def, err, errlen)) < 0)
		return rc;
	static const char *const bools[] = { "log_allowed", "block_quic" };
	bool *bvals[] = { &r->log_allowed, &r->block_quic };
	for (int i = 0; i < 2; i++) {
		if (!(v = json_object_get(root, bools[i]))) continue;
		if (!json_is_boolean(v)) {
			reason(err, errlen, "\"%s\" must be true or false", bools[i]);
			return -EINVAL;
		}
		*bvals[i] = json_is_true(v);
	}
	if ((v = json_object_get(root, "cache_ttl_ms"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UF_TTL_MAX) {
			reason(err, errlen, "\"cache_ttl_ms\" must be an integer from 0 to %u", UF_TTL_MAX);
			return -EINVAL;
		}
		r->cache_ttl_ms = (uint32_t)json_integer_value(v);
	}
	if ((v = json_object_get(root, "block")) && (rc = scope_add_list(r, &r->global, v, UF_BLOCK, "block", err, errlen)) < 0)
		return rc;
	if ((v = json_object_get(root, "allow")) && (rc = scope_add_list(r, &r->global, v, UF_ALLOW, "allow", err, errlen)) < 0)
		return rc;
	if ((v = json_object_get(root, "apps"))) {
		if (!json_is_array(v)) {
			reason(err, errlen, "\"apps\" must be an array of objects");
			return -EINVAL;
		}
		if (json_array_size(v) > UF_APPS_MAX) {
			reason(err, errlen, "\"apps\": more than %u entries", UF_APPS_MAX);
			return -E2BIG;
		}
		r->apps = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof *r->apps);
		if (!r->apps) return -ENOMEM;
		size_t i;
		json_t *o;
		json_array_foreach(v, i, o) {
			r->napps++; /* counted first: uf_rules_free frees a half-built entry */
			if ((rc = app_parse(r, i, o, err, errlen)) < 0) return rc;
		}
	}
	if ((v = json_object_get(root, "categories")) && (rc = categories_parse(r, v, base_dir, err, errlen)) < 0)
		return rc;
	return 0;
}

static int rules_alloc(struct uf_rules **ret)
{
	struct uf_rules *r = calloc(1, sizeof *r);
	if (!r) return -ENOMEM;
	r->global.def = UF_ALLOW;
	r->block_quic = true;
	r->cache_ttl_ms = 0; /* opt-in: an address-level cache can let a blocked name by (docs/urlfilter.md) */
	if (getrandom(&r->seed, sizeof r->seed, GRND_NONBLOCK) != (ssize_t)sizeof r->seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r->seed = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)r;
	}
	*ret = r;
	return 0;
}

/* The pools grew by doubling; give back the slack once loading is over. */
static void names_trim(struct names *t)
{
	if (t->pool_len == 0 || t->pool_len == t->pool_cap) return;
	char *p = realloc(t->pool, t->pool_len);
	if (!p) return; /* keep the larger block */
	t->pool = p;
	t->pool_cap = t->pool_len;
}

static void rules_trim(struct uf_rules *r)
{
	names_trim(&r->global.names);
	names_trim(&r->global.urlhosts);
	for (size_t i = 0; i < r->napps; i++) {
		names_trim(&r->apps[i].s.names);
		names_trim(&r->apps[i].s.urlhosts);
	}
}

static int load_root(json_t *root, const char *base_dir, struct uf_rules **ret, char *err, size_t errlen)
{
	struct uf_rules *r;
	int rc = rules_alloc(&r);
	if (rc < 0) {
		reason(err, errlen, "out of memory");
		return rc;
	}
	rc = config_parse(r, root, base_dir, err, errlen);
	if (rc < 0) {
		if (rc == -ENOMEM) reason(err, errlen, "out of memory");
		uf_rules_free(r);
		return rc;
	}
	rules_trim(r);
	*ret = r;
	return 0;
}

int uf_rules_load_json(const char *json, const char *base_dir, struct uf_rules **ret, char *err, size_t errlen)
{
	json_error_t je;
	if (!json || !ret) return -EINVAL;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		reason(err, errlen, "not JSON: %s (line %d)", je.text, je.line);
		return -EINVAL;
	}
	int rc = load_root(root, base_dir, ret, err, errlen);
	json_decref(root);
	return rc;
}

int uf_rules_load(uf_pref_get_fn get, void *ctx, const char *base_dir, struct uf_rules **ret, char *err, size_t errlen)
{
	if (!get || !ret) return -EINVAL;
	json_t *root = json_object();
	if (!root) return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; uf_pref_keys[i] && rc == 0; i++) {
		char *text = NULL;
		rc = get(ctx, uf_pref_keys[i], &text);
		if (rc == -ENOENT) {
			rc = 0;
			continue;
		}
		if (rc < 0) {
			reason(err, errlen, "reading preference '%s': %s", uf_pref_keys[i], strerror(-rc));
			break;
		}
		json_error_t je;
		json_t *v = json_loads(text ? text : "", JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
		free(text);
		if (!v) {
			reason(err, errlen, "preference '%s' is not JSON: %s", uf_pref_keys[i], je.text);
			rc = -EINVAL;
		} else if (json_object_set_new(root, uf_pref_keys[i], v) < 0) {
			rc = -ENOMEM;
		}
	}
	if (rc == 0) rc = load_root(root, base_dir, ret, err, errlen);
	json_decref(root);
	return rc;
}

int uf_rules_reload(struct uf_rules **slot, uf_pref_get_fn get, void *ctx, const char *base_dir, char *err,
		    size_t errlen)
{
	struct uf_rules *n;
	if (!slot) return -EINVAL;
	int rc = uf_rules_load(get, ctx, base_dir, &n, err, errlen);
	if (rc < 0) return rc;
	struct uf_rules *old = *slot;
	*slot = n;
	uf_rules_free(old);
	return 0;
}

struct uf_rules *uf_rules_free(struct uf_rules *r)
{
	if (!r) return NULL;
	scope_done(&r->global);
	for (size_t i = 0; i < r->napps; i++) {
		free(r->apps[i].exe);
		free(r->apps[i].cgroup);
		scope_done(&r->apps[i].s);
	}
	free(r->apps);
	for (size_t i = 0; i < r->ncats; i++) {
		free(r->cats[i].name);
		free(r->cats[i].path);
	}
	free(r->cats);
	free(r->warnings);
	free(r);
	return NULL;
}

bool uf_rules_log_allowed(const struct uf_rules *r)
{
	return r && r->log_allowed;
}

bool uf_rules_block_quic(const struct uf_rules *r)
{
	return r && r->block_quic;
}

uint32_t uf_rules_cache_ttl_ms(const struct uf_rules *r)
{
	return r ? r->cache_ttl_ms : 0;
}

const char *uf_rules_warnings(const struct uf_rules *r)
{
	return r && r->warnings ? r->warnings : "";
}

const struct uf_file_report *uf_rules_category_report(const struct uf_rules *r, const char *name)
{
	for (size_t i = 0; r && name && i < r->ncats; i++)
		if (strcmp(r->cats[i].name, name) == 0) return &r->cats[i].rep;
	return NULL;
}

static void scope_stats(const struct scope *s, struct uf_stats *st)
{
	st->names += s->names.n;
	st->url_rules += s->nurls;
	st->addr_rules += s->ncidrs;
	st->bytes += names_bytes(&s->names) + names_bytes(&s->urlhosts) + s->curls * sizeof *s->urls +
		     s->ccidrs * sizeof *s->cidrs;
	for (size_t i = 0; i < s->nurls; i++) st->bytes += strlen(s->urls[i].text) + 1;
}

void uf_rules_stats(const struct uf_rules *r, struct uf_stats *ret)
{
	struct uf_stats st = { 0 };
	if (r) {
		scope_stats(&r->global, &st);
		for (size_t i = 0; i < r->napps; i++) scope_stats(&r->apps[i].s, &st);
		st.apps = r->napps;
		st.categories = r->ncats;
		st.bytes += sizeof *r + r->napps * sizeof *r->apps + r->ncats * sizeof *r->cats;
	}
	*ret = st;
}

/* ---------------------------------------------------------------------------------------
 * Deciding
 * ------------------------------------------------------------------------------------- */

/* The query host, normalized, with the hash of every suffix: suf[0] is the full name,
 * suf[nsuf-1] the TLD. */
struct hostkey {
	char s[NAME_MAX_LEN + 1];
	size_t len;
	size_t nsuf;
	uint16_t start[LABELS_MAX];
	uint32_t hash[LABELS_MAX];
};

/* false: no usable name (empty, too long, too many labels). */
static bool hostkey_make(uint64_t seed, const char *host, struct hostkey *k)
{
	size_t len = host ? strnlen(host, NAME_MAX_LEN + 2) : 0;
	if (len > 0 && host[len - 1] == '.') len--;
	if (len == 0 || len > NAME_MAX_LEN) return false;
	for (size_t i = 0; i < len; i++) k->s[i] = lower(host[i]);
	k->s[len] = 0;
	k->len = len;
	/* right to left; boundaries are found TLD first, stored full name first */
	uint16_t st[LABELS_MAX];
	uint32_t hs[LABELS_MAX];
	size_t n = 0;
	uint64_t h = hash_start(seed);
	for (size_t i = len; i-- > 0;) {
		h = hash_byte(h, (unsigned char)k->s[i]);
		if (i == 0 || k->s[i - 1] == '.') {
			if (n == LABELS_MAX) return false;
			st[n] = (uint16_t)i;
			hs[n] = hash_fin(h);
			n++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		k->start[i] = st[n - 1 - i];
		k->hash[i] = hs[n - 1 - i];
	}
	k->nsuf = n;
	return true;
}

struct urlkey {
	char host[NAME_MAX_LEN + 8];
	size_t hlen;
	uint32_t hash;
	const char *path;
};

struct ctx {
	const struct uf_rules *r;
	const struct uf_query *q;
	bool have_name, have_url, have_hostip;
	struct hostkey hk;
	struct urlkey uk;
	struct uf_addr remote, hostip;
};

static void __attribute__((format(printf, 3, 4))) decide_as(struct uf_decision *d, int action, const char *fmt, ...)
{
	va_list ap;
	d->action = action;
	va_start(ap, fmt);
	vsnprintf(d->rule, sizeof d->rule, fmt, ap);
	va_end(ap);
}

static const char *act_name(int a)
{
	return a == UF_BLOCK ? "block" : "allow";
}

/* "" for global, "app:/x:" for an app: the prefix of rule texts. */
static void scope_prefix(const struct scope *s, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s", s->label ? s->label : "", s->label ? ":" : "");
}

static int tier_url(const struct ctx *c, const struct scope *s, struct uf_decision *d)
{
	if (!c->have_url || s->nurls == 0) return 0;
	const struct slot *e = names_find(&s->urlhosts, c->uk.host, c->uk.hlen, c->uk.hash);
	if (!e) return 0;
	const struct url_rule *best = NULL;
	for (uint32_t i = e->val; i; i = s->urls[i - 1].next) {
		const struct url_rule *u = &s->urls[i - 1];
		if (strncmp(c->uk.path, u->path, u->plen) != 0) continue;
		if (!best || u->plen > best->plen || (u->plen == best->plen && u->action == UF_ALLOW)) best = u;
	}
	if (!best) return 0;
	char pre[UF_RULE_MAX / 2];
	scope_prefix(s, pre, sizeof pre);
	decide_as(d, best->action, "%s%s:%s", pre, act_name(best->action), best->text);
	return 1;
}

static int tier_name(const struct ctx *c, const struct scope *s, struct uf_decision *d)
{
	if (!c->have_name || s->names.n == 0) return 0;
	const struct hostkey *k = &c->hk;
	for (size_t i = 0; i < k->nsuf; i++) {
		const char *n = k->s + k->start[i];
		size_t len = k->len - k->start[i];
		const struct slot *e = names_find(&s->names, n, len, k->hash[i]);
		if (!e) continue;
		uint32_t v = e->val;
		int action = 0;
		bool exact = false;
		if (i == 0 && (v & (F_EXA | F_EXB))) {
			exact = true;
			action = (v & F_EXA) ? UF_ALLOW : UF_BLOCK;
		} else if (v & (F_SFA | F_SFB)) {
			action = (v & F_SFA) ? UF_ALLOW : UF_BLOCK;
		} else {
			continue; /* an exact rule of a deeper name */
		}
		uint32_t src = exact ? 0 : (action == UF_ALLOW ? VAL_SASRC(v) : VAL_SBSRC(v));
		if (src > 0 && src <= c->r->ncats) {
			decide_as(d, action, "category:%s:%s", c->r->cats[src - 1].name, n);
		} else {
			char pre[UF_RULE_MAX / 2];
			scope_prefix(s, pre, sizeof pre);
			decide_as(d, action, "%s%s:%s%s", pre, act_name(action), exact ? "=" : "", n);
		}
		return 1;
	}
	return 0;
}

static int tier_addr(const struct ctx *c, const struct scope *s, struct uf_decision *d)
{
	const struct cidr *best = NULL;
	for (size_t i = 0; i < s->ncidrs; i++) {
		const struct cidr *x = &s->cidrs[i];
		bool m = (c->remote.family && cidr_match(x, &c->remote)) || (c->have_hostip && cidr_match(x, &c->hostip));
		if (!m) continue;
		if (!best || x->prefix > best->prefix || (x->prefix == best->prefix && x->action == UF_ALLOW)) best = x;
	}
	if (!best) return 0;
	char pre[UF_RULE_MAX / 2];
	scope_prefix(s, pre, sizeof pre);
	decide_as(d, best->action, "%s%s:%s", pre, act_name(best->action), best->text);
	return 1;
}

static enum tier scope_decide(const struct ctx *c, const struct scope *s, struct uf_decision *d)
{
	if (tier_url(c, s, d)) return T_URL;
	if (tier_name(c, s, d)) return T_NAME;
	if (tier_addr(c, s, d)) return T_ADDR;
	return T_NONE;
}

static bool app_matches(const struct app *a, const struct uf_query *q)
{
	if (a->exe && (!q->exe || strcmp(a->exe, q->exe) != 0)) return false;
	if (a->uid >= 0 && (int64_t)q->uid != a->uid) return false;
	if (a->cgroup) {
		if (!q->cgroup || !q->cgroup[0]) return false;
		if (!(a->cgroup_len == 1 && a->cgroup[0] == '/')) {
			if (strncmp(q->cgroup, a->cgroup, a->cgroup_len) != 0) return false;
			char next = q->cgroup[a->cgroup_len];
			if (next != 0 && next != '/') return false;
		}
	}
	return true;
}

/* Does any block rule of any scope match the host at any depth? */
static bool name_blocked_anywhere(const struct ctx *c)
{
	const struct uf_rules *r = c->r;
	if (!c->have_name) return false;
	for (size_t a = 0; a <= r->napps; a++) {
		const struct names *t = a == 0 ? &r->global.names : &r->apps[a - 1].s.names;
		if (t->n == 0) continue;
		for (size_t i = 0; i < c->hk.nsuf; i++) {
			const char *n = c->hk.s + c->hk.start[i];
			const struct slot *e = names_find(t, n, c->hk.len - c->hk.start[i], c->hk.hash[i]);
			if (e && ((e->val & F_SFB) || (i == 0 && (e->val & F_EXB)))) return true;
		}
	}
	return false;
}

int uf_decide(const struct uf_rules *r, const struct uf_query *q, struct uf_decision *ret)
{
	if (!r || !q || !ret) return -EINVAL;
	struct uf_decision *d = ret;
	struct ctx c = { .r = r, .q = q, .remote = q->remote };
	d->cacheable = d->taint = false;
	addr_unmap(&c.remote);
	if (c.remote.family != AF_INET && c.remote.family != AF_INET6) c.remote.family = 0;

	if (q->protocol == 17 /* IPPROTO_UDP */ && q->port == 443 && r->block_quic) {
		decide_as(d, UF_BLOCK, "quic");
		return 0;
	}
	if (q->host && q->host[0]) {
		/* an IP literal as host goes to the address tier */
		if (q->host[0] == '[' || (q->host[0] >= '0' && q->host[0] <= '9') || strchr(q->host, ':')) {
			char buf[INET6_ADDRSTRLEN + 2];
			const char *src = q->host;
			size_t len = strnlen(src, sizeof buf);
			if (src[0] == '[') { /* "[v6]" */
				src++, len--;
				if (len > 0 && src[len - 1] == ']') len--;
			}
			if (len < sizeof buf) {
				memcpy(buf, src, len);
				buf[len] = 0;
				c.have_hostip = uf_addr_parse(buf, &c.hostip) == 0;
				if (c.have_hostip) addr_unmap(&c.hostip);
			}
		}
		if (!c.have_hostip) c.have_name = hostkey_make(r->seed, q->host, &c.hk);
	}
	if (q->url && q->url[0] && url_split(q->url, c.uk.host, &c.uk.hlen, &c.uk.path) == 0) {
		c.have_url = true;
		c.uk.hash = hash_name(r->seed, c.uk.host, c.uk.hlen);
	}

	const struct app *app = NULL;
	for (size_t i = 0; i < r->napps && !app; i++)
		if (app_matches(&r->apps[i], q)) app = &r->apps[i];

	enum tier t = T_NONE;
	int eff_default = r->global.def;
	if (app) {
		t = scope_decide(&c, &app->s, d);
		if (t == T_NONE && app->s.def) {
			decide_as(d, app->s.def, "%s:default", app->s.label);
			t = T_DEFAULT;
		}
		if (app->s.def) eff_default = app->s.def;
	}
	if (t == T_NONE) t = scope_decide(&c, &r->global, d);
	if (t == T_NONE) {
		decide_as(d, r->global.def, "default");
		t = T_DEFAULT;
	}

	bool named = c.have_name || c.have_url;
	/* only caching needs to know whether the name is blocked elsewhere */
	bool blocked_name = d->action == UF_ALLOW && r->cache_ttl_ms > 0 && name_blocked_anywhere(&c);
	d->taint = named && (d->action == UF_BLOCK || blocked_name);
	d->cacheable = d->action == UF_ALLOW && r->cache_ttl_ms > 0 && !r->cache_unsafe && c.remote.family != 0 &&
		       (eff_default == UF_ALLOW || t == T_ADDR) && !blocked_name && !(c.have_url && r->url_block) &&
		       !(q->seen && (uf_seen_saturated(q->seen) || uf_seen_has(q->seen, &c.remote)));
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Addresses seen with a blocked name
 * ------------------------------------------------------------------------------------- */

int uf_seen_new(size_t capacity, struct uf_seen **ret)
{
	if (!ret || capacity == 0 || capacity > (1u << 24)) return -EINVAL;
	struct uf_seen *s = calloc(1, sizeof *s);
	if (!s) return -ENOMEM;
	size_t cap = 16;
	while (cap < capacity * 2) cap *= 2;
	s->slots = calloc(cap, sizeof *s->slots);
	if (!s->slots) {
		free(s);
		return -ENOMEM;
	}
	s->cap = cap;
	s->max = capacity;
	*ret = s;
	return 0;
}

struct uf_seen *uf_seen_free(struct uf_seen *s)
{
	if (s) free(s->slots);
	free(s);
	return NULL;
}

static size_t seen_index(const struct uf_seen *s, const struct uf_addr *a)
{
	uint64_t h = hash_start(0);
	h = hash_byte(h, a->family);
	for (size_t i = 0; i < 16; i++) h = hash_byte(h, a->addr[i]);
	return hash_fin(h) & (s->cap - 1);
}

static bool seen_norm(const struct uf_addr *in, struct uf_addr *out)
{
	*out = *in;
	addr_unmap(out);
	if (out->family == AF_INET) memset(out->addr + 4, 0, 12);
	return out->family == AF_INET || out->family == AF_INET6;
}

bool uf_seen_has(const struct uf_seen *s, const struct uf_addr *in)
{
	struct uf_addr a;
	if (!s || !in || !seen_norm(in, &a)) return false;
	for (size_t i = seen_index(s, &a);; i = (i + 1) & (s->cap - 1)) {
		const struct seen_slot *e = &s->slots[i];
		if (!e->family) return false;
		if (e->family == a.family && memcmp(e->addr, a.addr, 16) == 0) return true;
	}
}

int uf_seen_add(struct uf_seen *s, const struct uf_addr *in)
{
	struct uf_addr a;
	if (!s || !in || !seen_norm(in, &a)) return 0;
	size_t i = seen_index(s, &a);
	for (;; i = (i + 1) & (s->cap - 1)) {
		const struct seen_slot *e = &s->slots[i];
		if (!e->family) break;
		if (e->family == a.family && memcmp(e->addr, a.addr, 16) == 0) return 0;
	}
	if (s->n >= s->max) {
		s->saturated = true;
		return -ENOSPC;
	}
	s->slots[i].family = a.family;
	memcpy(s->slots[i].addr, a.addr, 16);
	s->n++;
	return 1;
}

bool uf_seen_saturated(const struct uf_seen *s)
{
	return s && s->saturated;
}
