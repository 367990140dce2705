/* manifest.h owns the parsed form of a bundle's manifest.json and every check on it.
 * The manifest is untrusted input: sizes are capped and each error names the field. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAX_BYTES (64u * 1024u)
#define MANIFEST_MAX_IDENT 255u
#define MANIFEST_MAX_STR 1024u
#define MANIFEST_MAX_ENTITLEMENTS 64u
#define MANIFEST_MAX_PERSONALITIES 64u
#define MANIFEST_MAX_ARGS 32u
#define VERSION_MAX_PARTS 8u

enum ext_type {
	EXT_TYPE_ENDPOINT_SECURITY,
	EXT_TYPE_NETWORK_FILTER,
	EXT_TYPE_APP_PROXY,
	EXT_TYPE_DNS_PROXY,
	EXT_TYPE_PACKET_TUNNEL,
	EXT_TYPE_DRIVER,
	EXT_TYPE_COUNT,
};

struct version {
	uint32_t part[VERSION_MAX_PARTS];
	unsigned nparts;
};

struct manifest {
	char *identifier;       /* reverse-DNS: at least two labels of [A-Za-z0-9-], '.'-separated */
	char *publisher;        /* [A-Za-z0-9._-]{1,64}; names the key file too */
	char *name;             /* display name; defaults to identifier */
	char *version_str;      /* as written */
	struct version version; /* dotted numbers, each 0..999999999, 1..8 parts */
	enum ext_type type;
	char *executable;       /* relative path inside the bundle, no '..', no leading '/' */
	char **args;            /* extra argv, NULL-terminated (may be empty) */
	size_t nargs;
	char **entitlements;    /* NULL-terminated */
	size_t nentitlements;
	char *personalities;    /* drivers: the JSON array as compact text; NULL otherwise */
	char *description;      /* optional, shown on approval */
};

/* Parse a manifest from memory. On error returns -EINVAL (or -ENOMEM, -E2BIG for
 * oversized input) and writes a one-line reason naming the field into err. */
int manifest_parse(const char *text, size_t len, struct manifest *ret, char *err, size_t errlen);
/* Read and parse <dirfd>/manifest.json (refusing symlinks and files over the cap). */
int manifest_load_at(int dirfd, struct manifest *ret, char *err, size_t errlen);
/* Free what a manifest holds; the struct is zeroed. Accepts a zeroed struct. */
void manifest_done(struct manifest *m);

const char *ext_type_name(enum ext_type t);     /* "endpoint-security", ... */
int ext_type_from_name(const char *s);          /* enum value or -EINVAL */
int identifier_valid(const char *s);            /* 1 or 0 */
int publisher_valid(const char *s);             /* 1 or 0 */

/* "1.2.10" -> {1,2,10}. Returns 0 or -EINVAL (empty part, non-digit, too many parts,
 * part too large, leading '+'/'-'/space). */
int version_parse(const char *s, struct version *ret);
/* Numeric, part by part; missing parts count as 0 ("1.2" == "1.2.0"). <0, 0, >0. */
int version_cmp(const struct version *a, const struct version *b);
