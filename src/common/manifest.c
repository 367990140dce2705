/* manifest.c owns the parsing and every check of a bundle's manifest.json; what the
 * manager does with a valid manifest (policy, signature, staging) lives elsewhere. */
#include "manifest.h"
#include "reason.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST_FILE "manifest.json"
/* Deep enough for any personality we can imagine, shallow enough that no later walker
 * (ours or a consumer's) has to care about recursion. */
#define MANIFEST_MAX_DEPTH 16u
#define PUBLISHER_MAX 64u
#define VERSION_PART_MAX_DIGITS 9u
#define QUOTE_MAX 72u

static const char *const type_names[EXT_TYPE_COUNT] = {
	[EXT_TYPE_ENDPOINT_SECURITY] = "endpoint-security",
	[EXT_TYPE_NETWORK_FILTER] = "network-filter",
	[EXT_TYPE_APP_PROXY] = "app-proxy",
	[EXT_TYPE_DNS_PROXY] = "dns-proxy",
	[EXT_TYPE_PACKET_TUNNEL] = "packet-tunnel",
	[EXT_TYPE_DRIVER] = "driver",
};


const char *ext_type_name(enum ext_type t)
{
	if ((unsigned)t >= EXT_TYPE_COUNT)
		return "unknown";
	return type_names[t];
}

int ext_type_from_name(const char *s)
{
	if (!s)
		return -EINVAL;
	for (int i = 0; i < EXT_TYPE_COUNT; i++)
		if (strcmp(s, type_names[i]) == 0)
			return i;
	return -EINVAL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int identifier_valid(const char *s)
{
	size_t len, label = 0;
	unsigned labels = 1;

	if (!s)
		return 0;
	len = strlen(s);
	if (len == 0 || len > MANIFEST_MAX_IDENT)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			labels++;
		} else if (is_alnum(s[i]) || s[i] == '-') {
			label++;
		} else {
			return 0;
		}
	}
	return label > 0 && labels >= 2;
}

int publisher_valid(const char *s)
{
	size_t len = 0;

	if (!s)
		return 0;
	len = strlen(s);
	/* It names a key file: no leading '.' keeps out ".", ".." and hidden files. */
	if (len == 0 || len > PUBLISHER_MAX || s[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static int entitlement_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > MANIFEST_MAX_IDENT)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && !strchr("._:-", s[i]))
			return 0;
	return 1;
}

int version_parse(const char *s, struct version *ret)
{
	struct version v = { 0 };
	const char *p = s;

	if (!s)
		return -EINVAL;
	for (;;) {
		uint32_t val = 0;
		unsigned digits = 0;

		if (v.nparts == VERSION_MAX_PARTS)
			return -EINVAL;
		/* Digits only: this refuses empty parts, signs and spaces in one test. */
		while (*p >= '0' && *p <= '9') {
			if (++digits > VERSION_PART_MAX_DIGITS)
				return -EINVAL;
			val = val * 10 + (uint32_t)(*p - '0');
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		v.part[v.nparts++] = val;
		if (*p == '\0')
			break;
		if (*p != '.')
			return -EINVAL;
		p++;
	}
	*ret = v;
	return 0;
}

int version_cmp(const struct version *a, const struct version *b)
{
	unsigned n = a->nparts > b->nparts ? a->nparts : b->nparts;

	if (n > VERSION_MAX_PARTS)
		n = VERSION_MAX_PARTS;
	for (unsigned i = 0; i < n; i++) {
		uint32_t x = i < a->nparts ? a->part[i] : 0;
		uint32_t y = i < b->nparts ? b->part[i] : 0;

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* C0 and C1 controls (and DEL) would let a manifest rewrite an admin's terminal when its
 * name is shown for approval. jansson has already checked that s is UTF-8. */
static bool has_controls(const char *s, bool allow_newline)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (allow_newline && (*c == '\n' || *c == '\t'))
			continue;
		if (*c < 0x20 || *c == 0x7f)
			return true;
		if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)
			return true;
	}
	return false;
}

void manifest_done(struct manifest *m)
{
	if (!m)
		return;
	free(m->identifier);
	free(m->publisher);
	free(m->name);
	free(m->version_str);
	free(m->executable);
	if (m->args)
		for (size_t i = 0; i < m->nargs; i++)
			free(m->args[i]);
	free(m->args);
	if (m->entitlements)
		for (size_t i = 0; i < m->nentitlements; i++)
			free(m->entitlements[i]);
	free(m->entitlements);
	free(m->personalities);
	free(m->description);
	memset(m, 0, sizeof(*m));
}

static bool too_deep(const json_t *v, unsigned depth)
{
	const char *key;
	json_t *child;
	size_t i;

	if (depth > MANIFEST_MAX_DEPTH)
		return true;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child)
			if (too_deep(child, depth + 1))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			if (too_deep(child, depth + 1))
				return true;
	}
	return false;
}

/* Look up a string field. *ret is NULL when an optional field is absent. */
static int get_str(const json_t *root, const char *key, bool required, size_t maxlen,
		   const json_t **ret, char *err, size_t errlen)
{
	const json_t *v = json_object_get(root, key);

	if (!v) {
		if (required) {
			reason_set(err, errlen, "manifest: \"%s\" is missing", key);
			return -EINVAL;
		}
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v)) {
		reason_set(err, errlen, "manifest: \"%s\": expected a string, got %s", key, reason_json_kind(v));
		return -EINVAL;
	}
	if (json_string_length(v) > maxlen) {
		reason_set(err, errlen, "manifest: \"%s\": %zu bytes is over the %zu-byte cap", key,
		       json_string_length(v), maxlen);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int dup_str(const json_t *v, char **ret)
{
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : -ENOMEM;
}

/* An optional array of strings as a NULL-terminated vector (empty when absent). */
static int get_strv(const json_t *root, const char *key, size_t max_items, size_t maxlen,
		    int (*valid)(const char *), const char *what,
		    char ***ret, size_t *ret_n, char *err, size_t errlen)
{
	const json_t *arr = json_object_get(root, key), *v;
	char **vec = NULL, qbuf[QUOTE_MAX];
	size_t n = 0, i;
	int r;

	if (arr && !json_is_array(arr)) {
		reason_set(err, errlen, "manifest: \"%s\": expected an array of strings, got %s", key,
		       reason_json_kind(arr));
		return -EINVAL;
	}
	if (arr && json_array_size(arr) > max_items) {
		reason_set(err, errlen, "manifest: \"%s\": %zu items is over the cap of %zu", key,
		       json_array_size(arr), max_items);
		return -EINVAL;
	}
	vec = calloc((arr ? json_array_size(arr) : 0) + 1, sizeof(*vec));
	if (!vec)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			reason_set(err, errlen, "manifest: \"%s\"[%zu]: expected a string, got %s", key, i,
			       reason_json_kind(v));
			r = -EINVAL;
			goto err;
		}
		if (json_string_length(v) > maxlen) {
			reason_set(err, errlen, "manifest: \"%s\"[%zu]: %zu bytes is over the %zu-byte cap",
			       key, i, json_string_length(v), maxlen);
			r = -EINVAL;
			goto err;
		}
		if (valid && !valid(json_string_value(v))) {
			reason_set(err, errlen, "manifest: \"%s\"[%zu]: %s is not %s", key, i,
			       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)), what);
			r = -EINVAL;
			goto err;
		}
		r = dup_str(v, &vec[n]);
		if (r < 0)
			goto err;
		n++;
	}
	*ret = vec;
	*ret_n = n;
	return 0;
err:
	for (i = 0; i < n; i++)
		free(vec[i]);
	free(vec);
	return r;
}

static int check_executable(const json_t *v, char *err, size_t errlen)
{
	const char *s = json_string_value(v), *p;
	char qbuf[QUOTE_MAX];

	if (*s == '\0') {
		reason_set(err, errlen, "manifest: \"executable\" is empty");
		return -EINVAL;
	}
	if (*s == '/') {
		reason_set(err, errlen, "manifest: \"executable\": %s is absolute; it must be relative "
		       "to the bundle", reason_quote(json_string_value(v), qbuf, sizeof(qbuf)));
		return -EINVAL;
	}
	for (p = s; *p; ) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			reason_set(err, errlen, "manifest: \"executable\": %s has a '..' component",
			       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)));
			return -EINVAL;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (has_controls(s, false)) {
		reason_set(err, errlen, "manifest: \"executable\": %s has control characters",
		       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)));
		return -EINVAL;
	}
	return 0;
}

static int parse_personalities(const json_t *root, struct manifest *m, char *err, size_t errlen)
{
	const json_t *arr = json_object_get(root, "personalities"), *v;
	size_t i;

	/* Only drivers match devices; other types may carry the key (a bundle shared
	 * between types, a future use) and it is ignored rather than refused. */
	if (m->type != EXT_TYPE_DRIVER)
		return 0;
	if (!arr) {
		reason_set(err, errlen, "manifest: \"personalities\" is missing (required for type "
		       "\"driver\")");
		return -EINVAL;
	}
	if (!json_is_array(arr)) {
		reason_set(err, errlen, "manifest: \"personalities\": expected an array of objects, "
		       "got %s", reason_json_kind(arr));
		return -EINVAL;
	}
	if (json_array_size(arr) == 0) {
		reason_set(err, errlen, "manifest: \"personalities\" is empty; a driver needs at "
		       "least one");
		return -EINVAL;
	}
	if (json_array_size(arr) > MANIFEST_MAX_PERSONALITIES) {
		reason_set(err, errlen, "manifest: \"personalities\": %zu items is over the cap of %u",
		       json_array_size(arr), MANIFEST_MAX_PERSONALITIES);
		return -EINVAL;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_object(v)) {
			reason_set(err, errlen, "manifest: \"personalities\"[%zu]: expected an object, "
			       "got %s", i, reason_json_kind(v));
			return -EINVAL;
		}
	}
	/* Kept as text: the dk engine owns the meaning of a personality, and text is what
	 * the registry stores. */
	m->personalities = json_dumps(arr, JSON_COMPACT);
	return m->personalities ? 0 : -ENOMEM;
}

int manifest_parse(const char *text, size_t len, struct manifest *ret, char *err, size_t errlen)
{
	struct manifest m = { 0 };
	const json_t *v;
	json_t *root = NULL;
	json_error_t jerr;
	const char *key;
	json_t *child;
	char qbuf[QUOTE_MAX];
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (len > MANIFEST_MAX_BYTES) {
		reason_set(err, errlen, "manifest: %zu bytes is over the %u-byte cap", len,
		       MANIFEST_MAX_BYTES);
		return -E2BIG;
	}
	if (!text)
		text = "";
	/* Duplicate keys are refused: two readers must never see two different manifests
	 * in the same bytes. Embedded NULs stay refused (no JSON_ALLOW_NUL). */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			reason_set(err, errlen, "manifest: out of memory");
			return -ENOMEM;
		}
		reason_set(err, errlen, "manifest: invalid JSON at line %d, column %d: %s", jerr.line,
		       jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		reason_set(err, errlen, "manifest: top level: expected an object, got %s", reason_json_kind(root));
		r = -EINVAL;
		goto err;
	}
	json_object_foreach(root, key, child) {
		if (too_deep(child, 1)) {
			reason_set(err, errlen, "manifest: %s: nested deeper than %u levels",
			       reason_quote(key, qbuf, sizeof(qbuf)), MANIFEST_MAX_DEPTH);
			r = -EINVAL;
			goto err;
		}
	}

	r = get_str(root, "identifier", true, MANIFEST_MAX_IDENT, &v, err, errlen);
	if (r < 0)
		goto err;
	if (!identifier_valid(json_string_value(v))) {
		reason_set(err, errlen, "manifest: \"identifier\": %s is not reverse-DNS (two or more "
		       "'.'-separated labels of A-Z a-z 0-9 -)",
		       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)));
		r = -EINVAL;
		goto err;
	}
	if ((r = dup_str(v, &m.identifier)) < 0)
		goto err;

	r = get_str(root, "publisher", true, PUBLISHER_MAX, &v, err, errlen);
	if (r < 0)
		goto err;
	if (!publisher_valid(json_string_value(v))) {
		reason_set(err, errlen, "manifest: \"publisher\": %s is not 1 to %u of A-Z a-z 0-9 . _ - "
		       "(no leading '.')", reason_quote(json_string_value(v), qbuf, sizeof(qbuf)),
		       PUBLISHER_MAX);
		r = -EINVAL;
		goto err;
	}
	if ((r = dup_str(v, &m.publisher)) < 0)
		goto err;

	r = get_str(root, "version", true, MANIFEST_MAX_STR, &v, err, errlen);
	if (r < 0)
		goto err;
	if (version_parse(json_string_value(v), &m.version) < 0) {
		reason_set(err, errlen, "manifest: \"version\": %s is not dotted numbers (1 to %u parts, "
		       "each 0..999999999)", reason_quote(json_string_value(v), qbuf, sizeof(qbuf)),
		       VERSION_MAX_PARTS);
		r = -EINVAL;
		goto err;
	}
	if ((r = dup_str(v, &m.version_str)) < 0)
		goto err;

	r = get_str(root, "type", true, MANIFEST_MAX_STR, &v, err, errlen);
	if (r < 0)
		goto err;
	r = ext_type_from_name(json_string_value(v));
	if (r < 0) {
		reason_set(err, errlen, "manifest: \"type\": %s is not one of endpoint-security, "
		       "network-filter, app-proxy, dns-proxy, packet-tunnel, driver",
		       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)));
		goto err;
	}
	m.type = (enum ext_type)r;

	r = get_str(root, "executable", true, MANIFEST_MAX_STR, &v, err, errlen);
	if (r < 0)
		goto err;
	if ((r = check_executable(v, err, errlen)) < 0)
		goto err;
	if ((r = dup_str(v, &m.executable)) < 0)
		goto err;

	r = get_str(root, "name", false, MANIFEST_MAX_STR, &v, err, errlen);
	if (r < 0)
		goto err;
	if (v && (json_string_length(v) == 0 || has_controls(json_string_value(v), false))) {
		reason_set(err, errlen, "manifest: \"name\": %s is empty or has control characters",
		       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)));
		r = -EINVAL;
		goto err;
	}
	m.name = strdup(v ? json_string_value(v) : m.identifier);
	if (!m.name) {
		r = -ENOMEM;
		goto err;
	}

	r = get_str(root, "description", false, MANIFEST_MAX_STR, &v, err, errlen);
	if (r < 0)
		goto err;
	if (v && has_controls(json_string_value(v), true)) {
		reason_set(err, errlen, "manifest: \"description\" has control characters");
		r = -EINVAL;
		goto err;
	}
	if (v && (r = dup_str(v, &m.description)) < 0)
		goto err;

	/* argv is the extension's own business: any string, only sizes are capped. */
	r = get_strv(root, "args", MANIFEST_MAX_ARGS, MANIFEST_MAX_STR, NULL, NULL, &m.args,
		     &m.nargs, err, errlen);
	if (r < 0)
		goto err;
	r = get_strv(root, "entitlements", MANIFEST_MAX_ENTITLEMENTS, MANIFEST_MAX_IDENT,
		     entitlement_valid, "an entitlement (A-Z a-z 0-9 . _ : -)", &m.entitlements,
		     &m.nentitlements, err, errlen);
	if (r < 0)
		goto err;

	r = parse_personalities(root, &m, err, errlen);
	if (r < 0)
		goto err;

	json_decref(root);
	*ret = m;
	return 0;
err:
	if (r == -ENOMEM)
		reason_set(err, errlen, "manifest: out of memory");
	json_decref(root);
	manifest_done(&m);
	return r;
}

int manifest_load_at(int dirfd, struct manifest *ret, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	if (err && errlen)
		err[0] = '\0';
	/* O_NOFOLLOW: a symlink could point outside the bundle. O_NONBLOCK: opening a FIFO
	 * must not hang the manager; fstat refuses it right after. */
	fd = openat(dirfd, MANIFEST_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\" is a symlink; refused");
		else
			reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\": %s", strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\": %s", strerror(-r));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\" is not a regular file");
		r = -EINVAL;
		goto err;
	}
	if ((uintmax_t)st.st_size > MANIFEST_MAX_BYTES) {
		reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\": %jd bytes is over the %u-byte "
		       "cap", (intmax_t)st.st_size, MANIFEST_MAX_BYTES);
		r = -E2BIG;
		goto err;
	}
	r = read_fd_capped(fd, MANIFEST_MAX_BYTES, &buf, &len);
	if (r < 0) {
		if (r == -E2BIG)
			reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\" grew over the %u-byte cap",
			       MANIFEST_MAX_BYTES);
		else
			reason_set(err, errlen, "manifest: \"" MANIFEST_FILE "\": %s", strerror(-r));
		goto err;
	}
	r = manifest_parse(buf, len, ret, err, errlen);
err:
	free(buf);
	close(fd);
	return r;
}
