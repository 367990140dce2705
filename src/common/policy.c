/* policy.c owns the admin policy: parsing and checking policy.json, and every decision
 * taken from it (pre-approve, wait for an admin, deny; removability). */
#include "policy.h"
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

#define POLICY_MAX_BYTES (256u * 1024u)
#define QUOTE_MAX 72u

struct policy {
	json_t *root; /* validated; NULL for the default policy */
	bool allow_user_overrides;
};


static int type_valid(const char *s)
{
	return ext_type_from_name(s) >= 0;
}

/* An array of strings each accepted by valid. where names the key for the reason. */
static int check_strv(const json_t *arr, const char *where, int (*valid)(const char *),
		      const char *what, char *err, size_t errlen)
{
	char qbuf[QUOTE_MAX];
	const json_t *v;
	size_t i;

	if (!json_is_array(arr)) {
		reason_set(err, errlen, "policy: %s: expected an array of strings, got %s", where,
		       reason_json_kind(arr));
		return -EINVAL;
	}
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			reason_set(err, errlen, "policy: %s[%zu]: expected a string, got %s", where, i,
			       reason_json_kind(v));
			return -EINVAL;
		}
		if (!valid(json_string_value(v))) {
			reason_set(err, errlen, "policy: %s[%zu]: %s is not %s", where, i,
			       reason_quote(json_string_value(v), qbuf, sizeof(qbuf)), what);
			return -EINVAL;
		}
	}
	return 0;
}

/* {publisher: [string, ...]} */
static int check_map(const json_t *obj, const char *key, int (*valid)(const char *),
		     const char *what, char *err, size_t errlen)
{
	char where[160], qbuf[QUOTE_MAX];
	const char *pub;
	json_t *arr;
	int r;

	if (!json_is_object(obj)) {
		reason_set(err, errlen, "policy: \"%s\": expected an object of publisher: [...], got %s",
		       key, reason_json_kind(obj));
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, pub, arr) {
		/* A key that cannot be a publisher is a typo that would match nothing. */
		if (!publisher_valid(pub)) {
			reason_set(err, errlen, "policy: \"%s\": %s is not a publisher name", key,
			       reason_quote(pub, qbuf, sizeof(qbuf)));
			return -EINVAL;
		}
		snprintf(where, sizeof(where), "\"%s\"[\"%s\"]", key, pub);
		r = check_strv(arr, where, valid, what, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int policy_check(const json_t *root, char *err, size_t errlen)
{
	char qbuf[QUOTE_MAX];
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(root)) {
		reason_set(err, errlen, "policy: top level: expected an object, got %s", reason_json_kind(root));
		return -EINVAL;
	}
	json_object_foreach((json_t *)root, key, v) {
		if (strcmp(key, "allow_user_overrides") == 0) {
			if (!json_is_boolean(v)) {
				reason_set(err, errlen, "policy: \"allow_user_overrides\": expected true "
				       "or false, got %s", reason_json_kind(v));
				return -EINVAL;
			}
			r = 0;
		} else if (strcmp(key, "allowed_publishers") == 0) {
			r = check_strv(v, "\"allowed_publishers\"", publisher_valid,
				       "a publisher name", err, errlen);
		} else if (strcmp(key, "allowed_extensions") == 0 ||
			   strcmp(key, "removable_extensions") == 0) {
			r = check_map(v, key, identifier_valid, "a reverse-DNS identifier", err,
				      errlen);
		} else if (strcmp(key, "allowed_types") == 0) {
			r = check_map(v, key, type_valid, "an extension type (endpoint-security, "
				      "network-filter, app-proxy, dns-proxy, packet-tunnel, driver)",
				      err, errlen);
		} else {
			/* A misspelt key in a security policy would silently allow or deny
			 * something else than the admin meant: refuse it. */
			reason_set(err, errlen, "policy: unknown key %s", reason_quote(key, qbuf, sizeof(qbuf)));
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int policy_parse(const char *text, size_t len, struct policy **ret, char *err, size_t errlen)
{
	struct policy *p = NULL;
	json_t *root = NULL;
	json_error_t jerr;
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (len > POLICY_MAX_BYTES) {
		reason_set(err, errlen, "policy: %zu bytes is over the %u-byte cap", len,
		       POLICY_MAX_BYTES);
		return -E2BIG;
	}
	if (!text)
		text = "";
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			r = -ENOMEM;
			goto err;
		}
		reason_set(err, errlen, "policy: invalid JSON at line %d, column %d: %s", jerr.line,
		       jerr.column, jerr.text);
		return -EINVAL;
	}
	r = policy_check(root, err, errlen);
	if (r < 0)
		goto err;
	p = calloc(1, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto err;
	}
	p->root = root;
	p->allow_user_overrides = !json_is_false(json_object_get(root, "allow_user_overrides"));
	*ret = p;
	return 0;
err:
	if (r == -ENOMEM)
		reason_set(err, errlen, "policy: out of memory");
	json_decref(root);
	return r;
}

int policy_load(const char *path, struct policy **ret, char *err, size_t errlen)
{
	struct policy *p;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	if (err && errlen)
		err[0] = '\0';
	/* Symlinks are allowed here: the file is the admin's, placed by config management.
	 * O_NONBLOCK keeps a FIFO from hanging the manager; fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT) {
		p = calloc(1, sizeof(*p));
		if (!p) {
			reason_set(err, errlen, "policy: out of memory");
			return -ENOMEM;
		}
		p->allow_user_overrides = true;
		*ret = p;
		return 0;
	}
	if (fd < 0) {
		r = -errno;
		reason_set(err, errlen, "policy: '%s': %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		reason_set(err, errlen, "policy: '%s': %s", path, strerror(-r));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		reason_set(err, errlen, "policy: '%s' is not a regular file", path);
		r = -EINVAL;
		goto err;
	}
	if ((uintmax_t)st.st_size > POLICY_MAX_BYTES) {
		reason_set(err, errlen, "policy: '%s': %jd bytes is over the %u-byte cap", path,
		       (intmax_t)st.st_size, POLICY_MAX_BYTES);
		r = -E2BIG;
		goto err;
	}
	r = read_fd_capped(fd, POLICY_MAX_BYTES, &buf, &len);
	if (r < 0) {
		if (r == -E2BIG)
			reason_set(err, errlen, "policy: '%s' grew over the %u-byte cap", path, POLICY_MAX_BYTES);
		else
			reason_set(err, errlen, "policy: '%s': %s", path, strerror(-r));
		goto err;
	}
	r = policy_parse(buf, len, ret, err, errlen);
err:
	free(buf);
	close(fd);
	return r;
}

struct policy *policy_free(struct policy *p)
{
	if (p) {
		json_decref(p->root);
		free(p);
	}
	return NULL;
}

static bool list_has(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

/* root[key][publisher], or NULL. */
static const json_t *per_publisher(const struct policy *p, const char *key, const char *publisher)
{
	if (!p || !p->root)
		return NULL;
	return json_object_get(json_object_get(p->root, key), publisher);
}

enum policy_decision policy_decide(const struct policy *p, const char *publisher,
				   const char *identifier, enum ext_type type,
				   char *reason, size_t reasonlen)
{
	const json_t *types;

	if (!publisher || !identifier || (unsigned)type >= EXT_TYPE_COUNT) {
		reason_set(reason, reasonlen, "policy: invalid request (no publisher, identifier or type)");
		return POLICY_DENY;
	}
	/* allowed_types restricts every decision, pre-approved or not, as macOS's
	 * AllowedSystemExtensionTypes does: an allowed publisher is no way around it. */
	types = per_publisher(p, "allowed_types", publisher);
	if (types && !list_has(types, ext_type_name(type))) {
		reason_set(reason, reasonlen, "policy: type \"%s\" is not in \"allowed_types\" for "
		       "publisher \"%.64s\"", ext_type_name(type), publisher);
		return POLICY_DENY;
	}
	if (p && p->root && list_has(json_object_get(p->root, "allowed_publishers"), publisher)) {
		reason_set(reason, reasonlen, "policy: publisher \"%.64s\" is in \"allowed_publishers\"",
		       publisher);
		return POLICY_ALLOW;
	}
	if (list_has(per_publisher(p, "allowed_extensions", publisher), identifier)) {
		reason_set(reason, reasonlen, "policy: \"%.255s\" is in \"allowed_extensions\" for "
		       "publisher \"%.64s\"", identifier, publisher);
		return POLICY_ALLOW;
	}
	if (policy_allow_user_overrides(p)) {
		reason_set(reason, reasonlen, "policy: \"%.255s\" is not pre-approved; waiting for an "
		       "admin's approval", identifier);
		return POLICY_NEEDS_USER;
	}
	reason_set(reason, reasonlen, "policy: \"%.255s\" is not pre-approved and "
	       "\"allow_user_overrides\" is false", identifier);
	return POLICY_DENY;
}

int policy_removable(const struct policy *p, const char *publisher, const char *identifier)
{
	const json_t *list;

	if (!publisher || !identifier)
		return 1;
	list = per_publisher(p, "removable_extensions", publisher);
	return !list || list_has(list, identifier);
}

int policy_allow_user_overrides(const struct policy *p)
{
	return !p || p->allow_user_overrides;
}
