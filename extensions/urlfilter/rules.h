/* rules.h — urlfilter's policy engine: it owns a loaded rule set (domain tables, URL
 * prefixes, address rules, per-application scopes, category lists) and answers "allow or
 * block this flow, and why". No I/O except reading category files at load time; no
 * logging; no allocation per decision. docs/urlfilter.md is the user-facing description.
 *
 * Configuration: a JSON object (or one JSON value per preference key, see uf_rules_load)
 * with these keys, all optional:
 *   "default"      "allow" (default) | "block"
 *   "block","allow" arrays of rule strings:
 *                    "example.com"     example.com and every subdomain (suffix match;
 *                                      "*.example.com" and ".example.com" mean the same)
 *                    "=example.com"    that name only
 *                    "http://host/p"   plain-HTTP URL prefix (host exact, path prefix,
 *                                      case-sensitive path; ":80" dropped); https:// is
 *                                      refused: TLS is matched by name, never opened
 *                    "10.0.0.1", "10.0.0.0/8", "2001:db8::/32"   remote address / CIDR
 *   "apps"         array of {"exe": "/usr/bin/curl" (exact), "cgroup": "/system.slice/x"
 *                    (path-component prefix), "uid": 1000, "block": [...], "allow": [...],
 *                    "default": "allow"|"block"}; every selector given must match; the
 *                    first matching entry applies
 *   "categories"   {"name": {"file": "/path/list.txt", "action": "block"|"allow",
 *                    "enabled": true}}; relative paths are taken from base_dir
 *   "log_allowed"  bool, default false (read by the extension)
 *   "block_quic"   bool, default true: UDP to port 443 is blocked ("quic")
 *   "cache_ttl_ms" 0..3600000, default 0 (off): kernel-cached allows (see cacheable below)
 *
 * Precedence (docs/urlfilter.md has examples):
 *   1. block_quic for UDP/443.
 *   2. The first matching app entry, then the global rules. Within one scope, tiers are
 *      tried in order and the first tier with a match decides:
 *        a. URL prefix (plain HTTP only): longest prefix wins;
 *        b. host name: the deepest matching name wins (a.b.example.com before
 *           example.com); at the same name an exact rule beats a suffix rule;
 *        c. remote address (and the host if it is an IP literal): longest prefix wins;
 *      a tie between allow and block at the same specificity goes to allow.
 *   3. The app's "default" if it has one (then global rules are not consulted), else
 *      the global "default".
 *   Category lists are suffix rules of the global scope with their own action, merged
 *   with "block"/"allow" under the same precedence.
 *
 * Category list file format (also in docs/urlfilter.md): UTF-8/ASCII text, one entry per
 * line; '#' starts a comment anywhere; blank lines ignored; a leading "*." or "." is
 * ignored; hosts-file lines "0.0.0.0 a.example b.example" (any IP address first) give
 * their names, and the usual hosts-file names (localhost, broadcasthost, ...) are
 * skipped; every name is a suffix rule. Lines longer than UF_LINE_MAX bytes and lines
 * that are not a valid name are counted as invalid and skipped (the first
 * UF_REPORT_LINES line numbers are kept); a file larger than UF_FILE_MAX is refused. */
#ifndef UEXT_URLFILTER_RULES_H
#define UEXT_URLFILTER_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UF_FILE_MAX (64u << 20)   /* bytes of one category file */
#define UF_LINE_MAX 1024u         /* bytes of one category file line */
#define UF_NAMES_MAX (8u << 20)   /* distinct names in one table (global or one app) */
#define UF_CATEGORIES_MAX 256u
#define UF_APPS_MAX 256u
#define UF_ADDR_RULES_MAX 4096u   /* address rules per scope (scanned linearly) */
#define UF_REPORT_LINES 5u        /* invalid line numbers kept per file */
#define UF_RULE_MAX 384u          /* bytes of a decision's rule text */
#define UF_TTL_MAX 3600000u

enum uf_action { UF_ALLOW = 1, UF_BLOCK = 2 };

struct uf_rules;
struct uf_seen;

/* A remote address in network order; family 0 = unknown. */
struct uf_addr {
	uint8_t family; /* 0, AF_INET, AF_INET6 */
	uint8_t addr[16];
};

/* One flow. Strings may be NULL or "" when unknown; all are borrowed. */
struct uf_query {
	const char *host;   /* TLS SNI, HTTP Host or DNS name */
	const char *url;    /* plain HTTP: "http://host[:port]/path" */
	const char *exe;
	const char *cgroup;
	uint32_t uid;       /* (uint32_t)-1 when unknown */
	struct uf_addr remote;
	uint16_t port;      /* remote port, host order */
	uint8_t protocol;   /* IPPROTO_TCP, IPPROTO_UDP, 0 = unknown */
	const struct uf_seen *seen; /* addresses seen with a blocked name; may be NULL */
};

struct uf_decision {
	int action;     /* enum uf_action */
	/* 1: the extension may ask the kernel to remember "this exe may reach this address
	 * and port" for cache_ttl_ms. Only for allows that cannot depend on a name another
	 * flow to the same address might carry: cache_ttl_ms > 0; no app selects by cgroup
	 * or uid while able to block (the kernel cache is keyed by exe only); the effective
	 * default is allow (or an address rule decided); the host name matches no block rule
	 * of any scope at any depth; no URL block rule exists when the flow has a URL; the
	 * address is known and not in q->seen (and q->seen is not saturated). */
	bool cacheable;
	/* 1: this flow carried a name or URL that is blocked somewhere: pass it to
	 * uf_seen_add so later allows to the same address are not cached. */
	bool taint;
	char rule[UF_RULE_MAX]; /* "block:example.com", "category:ads:tracker.example",
				 * "app:/usr/bin/curl:block:x.test", "default", "quic" ... */
};

/* Report on one category file. */
struct uf_file_report {
	size_t lines, names, invalid;
	size_t first_invalid[UF_REPORT_LINES]; /* line numbers, min(invalid, UF_REPORT_LINES) */
};

struct uf_stats {
	size_t names;       /* distinct names over every table */
	size_t url_rules, addr_rules, apps, categories;
	size_t bytes;       /* memory held by the tables */
};

/* Where uf_rules_load reads preference keys: *ret_json is malloc'ed JSON text, owned by
 * the caller; return -ENOENT when the key is not set, another -errno on failure. */
typedef int (*uf_pref_get_fn)(void *ctx, const char *key, char **ret_json);

/* The preference keys uf_rules_load reads, NULL-terminated. */
extern const char *const uf_pref_keys[];

/* Build a rule set from a JSON object text (the keys above). base_dir (may be NULL)
 * resolves relative category paths. On failure returns -errno (-EINVAL bad config,
 * -ENOENT/-EACCES a category file, -EFBIG file cap, -E2BIG name cap, -ENOMEM) and writes
 * a one-line reason to err (errlen may be 0). *ret is written only on success. */
int uf_rules_load_json(const char *json, const char *base_dir, struct uf_rules **ret, char *err, size_t errlen);
/* The same, reading each key of uf_pref_keys through get (absent keys: defaults). */
int uf_rules_load(uf_pref_get_fn get, void *ctx, const char *base_dir, struct uf_rules **ret, char *err,
		  size_t errlen);
/* Load a new set through get and, only on success, replace *slot and free the old one
 * (the caller's pointer is switched in one store). On failure *slot is untouched. */
int uf_rules_reload(struct uf_rules **slot, uf_pref_get_fn get, void *ctx, const char *base_dir, char *err,
		    size_t errlen);
struct uf_rules *uf_rules_free(struct uf_rules *r);

/* Decide for one flow. r and q are borrowed; no allocation. Returns 0, or -EINVAL when r,
 * q or ret is NULL. */
int uf_decide(const struct uf_rules *r, const struct uf_query *q, struct uf_decision *ret);

bool uf_rules_log_allowed(const struct uf_rules *r);
bool uf_rules_block_quic(const struct uf_rules *r);
uint32_t uf_rules_cache_ttl_ms(const struct uf_rules *r);
void uf_rules_stats(const struct uf_rules *r, struct uf_stats *ret);
/* Non-fatal findings of the load (invalid category lines), one line per file, "" if none. */
const char *uf_rules_warnings(const struct uf_rules *r);
/* The report of category name, or NULL. */
const struct uf_file_report *uf_rules_category_report(const struct uf_rules *r, const char *name);

/* The set of addresses seen with a blocked name: fixed capacity, allocated once. When it
 * is full it is "saturated" and nothing is cacheable any more (safe, not fast). */
int uf_seen_new(size_t capacity, struct uf_seen **ret);
struct uf_seen *uf_seen_free(struct uf_seen *s);
/* Returns 1 when a was added (new), 0 when already there or family 0, -ENOSPC when full
 * (the set is then saturated). */
int uf_seen_add(struct uf_seen *s, const struct uf_addr *a);
bool uf_seen_has(const struct uf_seen *s, const struct uf_addr *a);
bool uf_seen_saturated(const struct uf_seen *s);

/* "1.2.3.4" or "2001:db8::1" -> ret; -EINVAL if neither. */
int uf_addr_parse(const char *s, struct uf_addr *ret);

#endif
