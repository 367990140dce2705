/* test_manifest.c checks manifest parsing (valid, hostile and oversized input), version
 * parsing and ordering, manifest_load_at's refusals, and policy parsing and decisions. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/manifest.h"
#include "common/policy.h"

#define ERRLEN 512

/* A valid manifest with one field replaced: FIELDS is everything but that field. */
#define M_IDENT "\"identifier\": \"com.acme.filter\""
#define M_PUB "\"publisher\": \"acme\""
#define M_VER "\"version\": \"1.2.3\""
#define M_TYPE "\"type\": \"network-filter\""
#define M_EXE "\"executable\": \"bin/filter\""

static int parse_str(const char *json, struct manifest *m, char *err)
{
	return manifest_parse(json, strlen(json), m, err, ERRLEN);
}

/* Every byte of a reason must be printable: it goes to logs and terminals. */
static void assert_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fail_msg("non-printable byte 0x%02x in reason", (unsigned char)*s);
}

struct bad_case {
	const char *json;
	const char *want; /* substring of the reason */
};

static void run_bad(const struct bad_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct manifest m = { 0 };
		char err[ERRLEN] = "";
		int r = parse_str(c[i].json, &m, err);

		if (r != -EINVAL)
			fail_msg("case %zu %s: got %d, want -EINVAL (err '%s')", i, c[i].json, r, err);
		if (!strstr(err, c[i].want))
			fail_msg("case %zu %s: reason '%s' lacks '%s'", i, c[i].json, err, c[i].want);
		if (strncmp(err, "manifest: ", 10) != 0)
			fail_msg("case %zu: reason '%s' lacks the 'manifest: ' prefix", i, err);
		assert_printable(err);
		assert_null(m.identifier); /* ret untouched on failure */
	}
}

static void test_valid_each_type(void **state)
{
	for (int t = 0; t < EXT_TYPE_COUNT; t++) {
		struct manifest m = { 0 };
		char json[1024], err[ERRLEN] = "";

		snprintf(json, sizeof(json),
			 "{\"identifier\": \"org.example.t%d\", \"publisher\": \"Example_Co-1.0\","
			 " \"version\": \"2.10\", \"type\": \"%s\", \"executable\": \"bin/ext\","
			 " \"entitlements\": [\"es.auth:exec\", \"ne.filter\"],"
			 " \"personalities\": [{\"match\": {\"subsystem\": \"usb\"},"
			 " \"probe_score\": 1000}]}",
			 t, ext_type_name((enum ext_type)t));
		assert_int_equal(parse_str(json, &m, err), 0);
		assert_string_equal(err, "");
		assert_int_equal(m.type, t);
		assert_int_equal(ext_type_from_name(ext_type_name(m.type)), t);
		assert_string_equal(m.publisher, "Example_Co-1.0");
		assert_string_equal(m.name, m.identifier); /* name defaults to identifier */
		assert_string_equal(m.version_str, "2.10");
		assert_int_equal(m.version.nparts, 2);
		assert_int_equal(m.version.part[1], 10);
		assert_string_equal(m.executable, "bin/ext");
		assert_int_equal(m.nargs, 0);
		assert_non_null(m.args);
		assert_null(m.args[0]);
		assert_int_equal(m.nentitlements, 2);
		assert_string_equal(m.entitlements[0], "es.auth:exec");
		assert_string_equal(m.entitlements[1], "ne.filter");
		assert_null(m.entitlements[2]);
		assert_null(m.description);
		if (t == EXT_TYPE_DRIVER)
			assert_string_equal(m.personalities,
					    "[{\"match\":{\"subsystem\":\"usb\"},\"probe_score\":1000}]");
		else
			assert_null(m.personalities); /* ignored for other types */
		manifest_done(&m);
		assert_null(m.identifier);
		manifest_done(&m); /* a zeroed struct is fine */
	}
}

static void test_valid_full(void **state)
{
	struct manifest m = { 0 };
	char err[ERRLEN];
	const char *json =
		"{\"identifier\": \"com.acme.es-logger\", \"publisher\": \"acme\","
		" \"name\": \"Acme \xc3\xa9 Logger\", \"description\": \"Logs.\\nTwo lines.\","
		" \"version\": \"0\", \"type\": \"endpoint-security\","
		" \"executable\": \"./libexec/logger\", \"args\": [\"--verbose\", \"\", \"a b\\tc\"],"
		" \"entitlements\": [], \"x-future\": {\"anything\": [1, 2.5, null, true]}}";

	assert_int_equal(parse_str(json, &m, err), 0);
	assert_string_equal(m.name, "Acme \xc3\xa9 Logger");
	assert_string_equal(m.description, "Logs.\nTwo lines.");
	assert_int_equal(m.version.nparts, 1);
	assert_int_equal(m.version.part[0], 0);
	assert_int_equal(m.nargs, 3);
	assert_string_equal(m.args[0], "--verbose");
	assert_string_equal(m.args[1], "");
	assert_string_equal(m.args[2], "a b\tc");
	assert_null(m.args[3]);
	assert_int_equal(m.nentitlements, 0);
	assert_null(m.entitlements[0]);
	manifest_done(&m);

	/* Unknown keys are allowed (forward compatibility), so are max-size fields. */
	char big[2048];
	char ident[MANIFEST_MAX_IDENT + 1];
	memset(ident, 'a', sizeof(ident) - 1);
	ident[1] = '.';
	ident[sizeof(ident) - 1] = '\0';
	snprintf(big, sizeof(big), "{\"identifier\": \"%s\", " M_PUB ", " M_VER ", " M_TYPE ", "
		 M_EXE "}", ident);
	assert_int_equal(parse_str(big, &m, err), 0);
	assert_int_equal(strlen(m.identifier), MANIFEST_MAX_IDENT);
	manifest_done(&m);
}

static void test_missing_and_wrong_types(void **state)
{
	static const struct bad_case c[] = {
		{ "[]", "top level" },
		{ "\"str\"", "invalid JSON" }, /* jansson wants an object or array */
		{ "{}", "\"identifier\" is missing" },
		{ "{" M_PUB ", " M_VER ", " M_TYPE ", " M_EXE "}", "\"identifier\" is missing" },
		{ "{" M_IDENT ", " M_VER ", " M_TYPE ", " M_EXE "}", "\"publisher\" is missing" },
		{ "{" M_IDENT ", " M_PUB ", " M_TYPE ", " M_EXE "}", "\"version\" is missing" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_EXE "}", "\"type\" is missing" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE "}", "\"executable\" is missing" },
		{ "{\"identifier\": 5, " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE "}",
		  "\"identifier\": expected a string, got an integer" },
		{ "{" M_IDENT ", \"publisher\": [\"acme\"], " M_VER ", " M_TYPE ", " M_EXE "}",
		  "\"publisher\": expected a string, got an array" },
		{ "{" M_IDENT ", " M_PUB ", \"version\": 1.2, " M_TYPE ", " M_EXE "}",
		  "\"version\": expected a string, got a number" },
		{ "{" M_IDENT ", " M_PUB ", \"version\": 1, " M_TYPE ", " M_EXE "}",
		  "\"version\": expected a string" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", \"type\": 3, " M_EXE "}",
		  "\"type\": expected a string" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", \"executable\": true}",
		  "\"executable\": expected a string, got a boolean" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": null}",
		  "\"name\": expected a string, got null" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": 7}",
		  "\"name\": expected a string" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"description\": {}}",
		  "\"description\": expected a string, got an object" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"args\": \"-v\"}",
		  "\"args\": expected an array of strings, got a string" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"args\": [\"-v\", {}]}",
		  "\"args\"[1]: expected a string, got an object" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"entitlements\": {}}",
		  "\"entitlements\": expected an array of strings" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"entitlements\": [1]}",
		  "\"entitlements\"[0]: expected a string, got an integer" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"entitlements\": [\"ok\", \"bad ent\"]}",
		  "\"entitlements\"[1]: \"bad ent\" is not an entitlement" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"entitlements\": [\"\"]}",
		  "\"entitlements\"[0]" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": \"\"}",
		  "\"name\"" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"name\": \"\\u001b[2Jowned\"}", "\"name\"" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"name\": \"a\\u009bb\"}", "\"name\"" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"description\": \"bell\\u0007\"}", "\"description\"" },
	};

	run_bad(c, sizeof(c) / sizeof(c[0]));
}

static void test_bad_values(void **state)
{
	static const struct bad_case c[] = {
#define ID(x) "{\"identifier\": " x ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE "}"
		{ ID("\"\""), "\"identifier\": \"\" is not reverse-DNS" },
		{ ID("\"com\""), "\"identifier\": \"com\" is not reverse-DNS" },
		{ ID("\"com..acme\""), "\"identifier\": \"com..acme\"" },
		{ ID("\".com.acme\""), "\"identifier\"" },
		{ ID("\"com.acme.\""), "\"identifier\"" },
		{ ID("\"com.ac me\""), "\"identifier\"" },
		{ ID("\"com.acme_x\""), "\"identifier\"" },
		{ ID("\"com/acme\""), "\"identifier\"" },
		{ ID("\"com.\\u00e9\""), "\"identifier\": \"com.\\xc3\\xa9\"" },
		{ ID("\"com.\\u001b[31m\""), "\"identifier\"" },
#define PUB(x) "{" M_IDENT ", \"publisher\": " x ", " M_VER ", " M_TYPE ", " M_EXE "}"
		{ PUB("\"\""), "\"publisher\"" },
		{ PUB("\".acme\""), "\"publisher\": \".acme\"" },
		{ PUB("\"..\""), "\"publisher\"" },
		{ PUB("\"ac/me\""), "\"publisher\"" },
		{ PUB("\"ac me\""), "\"publisher\"" },
		{ PUB("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""),
		  "\"publisher\"" }, /* 65 */
#define VER(x) "{" M_IDENT ", " M_PUB ", \"version\": " x ", " M_TYPE ", " M_EXE "}"
		{ VER("\"1..2\""), "manifest: \"version\": \"1..2\" is not dotted numbers" },
		{ VER("\"\""), "\"version\": \"\" is not dotted numbers" },
		{ VER("\"v1\""), "\"version\"" },
		{ VER("\"1.2-beta\""), "\"version\"" },
#define TYPE(x) "{" M_IDENT ", " M_PUB ", " M_VER ", \"type\": " x ", " M_EXE "}"
		{ TYPE("\"kext\""), "\"type\": \"kext\" is not one of" },
		{ TYPE("\"Driver\""), "\"type\"" },
		{ TYPE("\"\""), "\"type\"" },
#define EXE(x) "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", \"executable\": " x "}"
		{ EXE("\"\""), "\"executable\" is empty" },
		{ EXE("\"/bin/sh\""), "\"executable\": \"/bin/sh\" is absolute" },
		{ EXE("\"../x\""), "\"executable\": \"../x\" has a '..' component" },
		{ EXE("\"bin/../../x\""), "\"executable\"" },
		{ EXE("\"a/..\""), "\"executable\"" },
		{ EXE("\"..\""), "\"executable\"" },
		{ EXE("\"a//../b\""), "\"executable\"" },
		{ EXE("\"bin/x\\n\""), "\"executable\"" },
#define DRV(x) "{" M_IDENT ", " M_PUB ", " M_VER ", \"type\": \"driver\", " M_EXE x "}"
		{ DRV(""), "\"personalities\" is missing" },
		{ DRV(", \"personalities\": []"), "\"personalities\" is empty" },
		{ DRV(", \"personalities\": {}"), "\"personalities\": expected an array of objects" },
		{ DRV(", \"personalities\": [{}, \"usb\"]"),
		  "\"personalities\"[1]: expected an object, got a string" },
		{ DRV(", \"personalities\": null"), "\"personalities\"" },
	};

	run_bad(c, sizeof(c) / sizeof(c[0]));
}

/* A valid driver manifest whose list key holds n copies of item. */
static char *with_list(const char *key, const char *item, size_t n)
{
	size_t cap = 512 + n * (strlen(item) + 2);
	char *s = malloc(cap);
	size_t off;

	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{" M_IDENT ", " M_PUB ", " M_VER ", \"type\": \"driver\", "
			       M_EXE ", %s\"%s\": [",
			       strcmp(key, "personalities") ? "\"personalities\": [{}], " : "", key);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%s%s", i ? "," : "", item);
	snprintf(s + off, cap - off, "]}");
	return s;
}

static void test_caps(void **state)
{
	static const struct {
		const char *key, *item;
		size_t max;
	} lists[] = {
		{ "args", "\"-v\"", MANIFEST_MAX_ARGS },
		{ "entitlements", "\"ne.filter\"", MANIFEST_MAX_ENTITLEMENTS },
		{ "personalities", "{\"a\":1}", MANIFEST_MAX_PERSONALITIES },
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct manifest m = { 0 };
		char err[ERRLEN], want[64];
		char *s = with_list(lists[i].key, lists[i].item, lists[i].max);

		assert_int_equal(parse_str(s, &m, err), 0);
		manifest_done(&m);
		free(s);
		s = with_list(lists[i].key, lists[i].item, lists[i].max + 1);
		assert_int_equal(parse_str(s, &m, err), -EINVAL);
		snprintf(want, sizeof(want), "\"%s\": %zu items is over", lists[i].key,
			 lists[i].max + 1);
		if (!strstr(err, want))
			fail_msg("reason '%s' lacks '%s'", err, want);
		free(s);
	}

	/* One string over its cap, per field: the JSON is pre + value + post. */
	static const struct {
		const char *pre, *post, *want;
		size_t len;
	} strs[] = {
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", \"executable\": \"", "\"}",
		  "\"executable\": 1025 bytes is over", MANIFEST_MAX_STR + 1 },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": \"", "\"}",
		  "\"name\": 1025 bytes", MANIFEST_MAX_STR + 1 },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"description\": \"",
		  "\"}", "\"description\": 1025 bytes", MANIFEST_MAX_STR + 1 },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"args\": [\"", "\"]}",
		  "\"args\"[0]: 1025 bytes", MANIFEST_MAX_STR + 1 },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"entitlements\": [\"",
		  "\"]}", "\"entitlements\"[0]: 256 bytes", MANIFEST_MAX_IDENT + 1 },
		{ "{\"identifier\": \"a.", "\", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE "}",
		  "\"identifier\": 256 bytes", MANIFEST_MAX_IDENT - 1 },
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		struct manifest m = { 0 };
		size_t pre = strlen(strs[i].pre), post = strlen(strs[i].post);
		char err[ERRLEN], *json = malloc(pre + strs[i].len + post + 1);

		assert_non_null(json);
		memcpy(json, strs[i].pre, pre);
		memset(json + pre, 'x', strs[i].len);
		memcpy(json + pre + strs[i].len, strs[i].post, post + 1);
		assert_int_equal(parse_str(json, &m, err), -EINVAL);
		if (!strstr(err, strs[i].want))
			fail_msg("reason '%s' lacks '%s'", err, strs[i].want);
		free(json);
	}
}

static void test_huge_input(void **state)
{
	struct manifest m = { 0 };
	char err[ERRLEN];
	const char *head = "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"pad\": \"";
	size_t len = MANIFEST_MAX_BYTES;
	char *buf = malloc(len + 2);

	/* Exactly at the cap: accepted (the padding is an unknown key). */
	assert_non_null(buf);
	memset(buf, ' ', len + 1);
	memcpy(buf, head, strlen(head));
	memcpy(buf + len - 2, "\"}", 2);
	for (size_t i = strlen(head); i < len - 2; i++)
		buf[i] = 'p';
	assert_int_equal(manifest_parse(buf, len, &m, err, sizeof(err)), 0);
	manifest_done(&m);
	/* One byte more (trailing whitespace, valid JSON): refused before parsing. */
	assert_int_equal(manifest_parse(buf, len + 1, &m, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "over the 65536-byte cap"));
	assert_null(m.identifier);
	/* A length far past the buffer must not be read at all. */
	assert_int_equal(manifest_parse(buf, SIZE_MAX, &m, err, sizeof(err)), -E2BIG);
	free(buf);
}

static void test_deep_nesting(void **state)
{
	struct manifest m = { 0 };
	char err[ERRLEN];
	size_t n = 30000; /* far past jansson's own limit, inside the byte cap */
	char *buf = malloc(2 * n + 1);

	assert_non_null(buf);
	memset(buf, '[', n);
	memset(buf + n, ']', n);
	buf[2 * n] = '\0';
	assert_int_equal(manifest_parse(buf, 2 * n, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid JSON"));
	free(buf);

	/* Under jansson's limit but over ours: the reason names the top-level key. */
	for (int pass = 0; pass < 2; pass++) {
		const char *key = pass ? "personalities" : "x-future";
		char json[2048], *p;
		int depth = 40;

		p = json + snprintf(json, sizeof(json), "{" M_IDENT ", " M_PUB ", " M_VER
				    ", \"type\": \"driver\", " M_EXE ", %s\"%s\": ",
				    pass ? "" : "\"personalities\": [{}], ", key);
		for (int i = 0; i < depth; i++)
			*p++ = '[';
		for (int i = 0; i < depth; i++)
			*p++ = ']';
		strcpy(p, "}");
		assert_int_equal(parse_str(json, &m, err), -EINVAL);
		if (!strstr(err, key) || !strstr(err, "nested deeper"))
			fail_msg("reason '%s' does not name '%s'", err, key);
	}

	/* A realistic personality stays well inside the limit. */
	const char *ok = "{" M_IDENT ", " M_PUB ", " M_VER ", \"type\": \"driver\", " M_EXE
			 ", \"personalities\": [{\"match\": {\"props\": {\"a\": [[[1]]]}}}]}";
	assert_int_equal(parse_str(ok, &m, err), 0);
	manifest_done(&m);
}

static void test_syntax_and_encoding(void **state)
{
	static const char valid[] =
		"{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": \"N\"}";
	struct manifest m = { 0 };
	char err[ERRLEN];

	assert_int_equal(parse_str(valid, &m, err), 0);
	manifest_done(&m);

	/* Every truncation of a valid manifest is refused, without reading past len. */
	for (size_t len = 0; len < sizeof(valid) - 1; len++) {
		char *copy = malloc(len ? len : 1);

		assert_non_null(copy);
		memcpy(copy, valid, len);
		if (manifest_parse(copy, len, &m, err, sizeof(err)) != -EINVAL)
			fail_msg("prefix of %zu bytes accepted", len);
		assert_non_null(strstr(err, "invalid JSON"));
		free(copy);
	}
	assert_int_equal(manifest_parse(NULL, 0, &m, err, sizeof(err)), -EINVAL);

	static const struct bad_case c[] = {
		/* Duplicate keys: two readers could see two different identifiers. */
		{ "{" M_IDENT ", \"identifier\": \"com.evil.x\", " M_PUB ", " M_VER ", " M_TYPE ", "
		  M_EXE "}", "duplicate" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": \"\xff\"}",
		  "invalid JSON" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ", \"name\": \"\xc3\"}",
		  "invalid JSON" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"name\": \"\xed\xa0\x80\"}", "invalid JSON" }, /* UTF-8 surrogate */
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"name\": \"\xc0\xaf\"}", "invalid JSON" }, /* overlong '/' */
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"name\": \"\\u0000x\"}", "invalid JSON" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
		  ", \"name\": \"\\ud800\"}", "invalid JSON" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE "} {}", "invalid JSON" },
		{ "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE ",}", "invalid JSON" },
		{ "{'identifier': 'com.acme.x'}", "invalid JSON" },
	};
	run_bad(c, sizeof(c) / sizeof(c[0]));

	/* Raw NUL bytes, inside a string and after the object: len covers them. */
	static const char nul1[] = "{\"identifier\": \"com.acme\0.evil\", " M_PUB ", " M_VER
				   ", " M_TYPE ", " M_EXE "}";
	static const char nul2[] = "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE
				   "}\0garbage";
	assert_int_equal(manifest_parse(nul1, sizeof(nul1) - 1, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid JSON"));
	assert_int_equal(manifest_parse(nul2, sizeof(nul2) - 1, &m, err, sizeof(err)), -EINVAL);
	assert_int_equal(manifest_parse(valid, sizeof(valid), &m, err, sizeof(err)), -EINVAL);
	assert_printable(err);
}

static void test_err_buffer(void **state)
{
	struct manifest m = { 0 };
	char small[8];
	const char *bad = "{\"identifier\": \"x\"}";

	/* A short or absent buffer only truncates the reason. */
	assert_int_equal(manifest_parse(bad, strlen(bad), &m, small, sizeof(small)), -EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(manifest_parse(bad, strlen(bad), &m, NULL, 0), -EINVAL);
	assert_int_equal(manifest_parse(bad, strlen(bad), &m, small, 0), -EINVAL);

	/* A long hostile value is quoted short, escaped and printable. */
	char json[1200], err[ERRLEN];
	char val[200]; /* under the identifier cap, so the quote is what is cut */
	memset(val, 'a', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	val[3] = ' ';
	snprintf(json, sizeof(json), ID("\"%s\""), val);
	assert_int_equal(parse_str(json, &m, err), -EINVAL);
	assert_true(strlen(err) < 250);
	assert_non_null(strstr(err, "...")); /* truncated */
	assert_printable(err);
}

static void test_names(void **state)
{
	assert_int_equal(ext_type_from_name("endpoint-security"), EXT_TYPE_ENDPOINT_SECURITY);
	assert_int_equal(ext_type_from_name("network-filter"), EXT_TYPE_NETWORK_FILTER);
	assert_int_equal(ext_type_from_name("app-proxy"), EXT_TYPE_APP_PROXY);
	assert_int_equal(ext_type_from_name("dns-proxy"), EXT_TYPE_DNS_PROXY);
	assert_int_equal(ext_type_from_name("packet-tunnel"), EXT_TYPE_PACKET_TUNNEL);
	assert_int_equal(ext_type_from_name("driver"), EXT_TYPE_DRIVER);
	assert_int_equal(ext_type_from_name("drivers"), -EINVAL);
	assert_int_equal(ext_type_from_name(NULL), -EINVAL);
	assert_string_equal(ext_type_name(EXT_TYPE_COUNT), "unknown");

	assert_true(identifier_valid("a.b"));
	assert_true(identifier_valid("com.Acme-1.x9"));
	assert_false(identifier_valid("a"));
	assert_false(identifier_valid("a."));
	assert_false(identifier_valid(NULL));
	assert_true(publisher_valid("a"));
	assert_true(publisher_valid("Team_X-9.v2"));
	assert_false(publisher_valid("."));
	assert_false(publisher_valid("a b"));
	assert_false(publisher_valid("a/b"));
	assert_false(publisher_valid(NULL));
}

static struct version V(const char *s)
{
	struct version v;

	if (version_parse(s, &v) != 0)
		fail_msg("version '%s' refused", s);
	return v;
}

static void test_version(void **state)
{
	static const char *const bad[] = {
		"", "1.", ".1", "1..2", "a", "-1", "+1", " 1", "1 ", "1.2.3.4.5.6.7.8.9",
		"9999999999", "1000000000", "1.0x", "0x1", "1,2", "１",
	};
	struct version v = { .nparts = 77 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (version_parse(bad[i], &v) != -EINVAL)
			fail_msg("version '%s' accepted", bad[i]);
		assert_int_equal(v.nparts, 77); /* ret untouched */
	}
	assert_int_equal(version_parse(NULL, &v), -EINVAL);

	v = V("1.2.3.4.5.6.7.8");
	assert_int_equal(v.nparts, 8);
	assert_int_equal(v.part[7], 8);
	v = V("999999999.0");
	assert_int_equal(v.part[0], 999999999);
	v = V("007");
	assert_int_equal(v.part[0], 7);

	struct version a, b;
	a = V("1.2"), b = V("1.2.0");
	assert_int_equal(version_cmp(&a, &b), 0);
	assert_int_equal(version_cmp(&b, &a), 0);
	a = V("1.10"), b = V("1.9");
	assert_true(version_cmp(&a, &b) > 0);
	assert_true(version_cmp(&b, &a) < 0);
	a = V("2"), b = V("1.99.99");
	assert_true(version_cmp(&a, &b) > 0);
	a = V("1.0.0.0.0.0.0.1"), b = V("1");
	assert_true(version_cmp(&a, &b) > 0);
	a = V("0"), b = V("0.0.0");
	assert_int_equal(version_cmp(&a, &b), 0);
	a = V("999999999"), b = V("999999998.999999999");
	assert_true(version_cmp(&a, &b) > 0);
}

/* A fresh private directory; the path is written into dir. */
static int tmpdir(char *dir, size_t n)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, n, "%s/uext-test-manifest-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void write_at(int dirfd, const char *name, const char *text, size_t len)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void cleanup_dir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_load_at(void **state)
{
	static const char valid[] = "{" M_IDENT ", " M_PUB ", " M_VER ", " M_TYPE ", " M_EXE "}";
	struct manifest m = { 0 };
	char dir[512], err[ERRLEN];
	int dfd = tmpdir(dir, sizeof(dir));

	assert_true(dfd >= 0);
	assert_int_equal(manifest_load_at(dfd, &m, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "manifest.json"));

	write_at(dfd, "manifest.json", valid, strlen(valid));
	assert_int_equal(manifest_load_at(dfd, &m, err, sizeof(err)), 0);
	assert_string_equal(m.identifier, "com.acme.filter");
	manifest_done(&m);

	/* A symlink, even to a valid manifest inside the bundle, is refused. */
	assert_int_equal(renameat(dfd, "manifest.json", dfd, "real.json"), 0);
	assert_int_equal(symlinkat("real.json", dfd, "manifest.json"), 0);
	assert_int_equal(manifest_load_at(dfd, &m, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symlink"));
	assert_null(m.identifier);
	assert_int_equal(unlinkat(dfd, "manifest.json", 0), 0);

	/* A FIFO must be refused at once, not block the caller. */
	assert_int_equal(mkfifoat(dfd, "manifest.json", 0644), 0);
	assert_int_equal(manifest_load_at(dfd, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(unlinkat(dfd, "manifest.json", 0), 0);

	assert_int_equal(mkdirat(dfd, "manifest.json", 0755), 0);
	assert_true(manifest_load_at(dfd, &m, err, sizeof(err)) < 0);
	assert_int_equal(unlinkat(dfd, "manifest.json", AT_REMOVEDIR), 0);

	/* Over the cap on disk: -E2BIG without parsing. */
	char *big = malloc(MANIFEST_MAX_BYTES + 1);
	assert_non_null(big);
	memset(big, ' ', MANIFEST_MAX_BYTES + 1);
	write_at(dfd, "manifest.json", big, MANIFEST_MAX_BYTES + 1);
	assert_int_equal(manifest_load_at(dfd, &m, err, sizeof(err)), -E2BIG);
	free(big);

	/* Parse errors come through with the field named. */
	write_at(dfd, "manifest.json", "{\"identifier\": 1}", 17);
	assert_int_equal(manifest_load_at(dfd, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"identifier\""));

	close(dfd);
	cleanup_dir(dir);
}

/* policy */

static struct policy *pol(const char *json)
{
	struct policy *p = NULL;
	char err[ERRLEN];

	if (policy_parse(json, strlen(json), &p, err, sizeof(err)) != 0)
		fail_msg("policy %s refused: %s", json, err);
	return p;
}

static void expect(const struct policy *p, const char *pub, const char *id, enum ext_type t,
		   enum policy_decision want, const char *reason_has)
{
	char reason[ERRLEN] = "";
	enum policy_decision d = policy_decide(p, pub, id, t, reason, sizeof(reason));

	if (d != want)
		fail_msg("%s %s %s: decision %d, want %d (%s)", pub, id, ext_type_name(t), d, want,
			 reason);
	if (reason[0] == '\0')
		fail_msg("%s %s: empty reason", pub, id);
	if (reason_has && !strstr(reason, reason_has))
		fail_msg("reason '%s' lacks '%s'", reason, reason_has);
	assert_printable(reason);
}

static void test_policy_decide(void **state)
{
	struct policy *p;

	/* Empty object: same as the default. */
	p = pol("{}");
	expect(p, "acme", "com.acme.x", EXT_TYPE_DRIVER, POLICY_NEEDS_USER, "com.acme.x");
	assert_int_equal(policy_allow_user_overrides(p), 1);
	assert_int_equal(policy_removable(p, "acme", "com.acme.x"), 1);
	p = policy_free(p);
	assert_null(p);

	p = pol("{\"allowed_publishers\": [\"acme\"],"
		" \"allowed_extensions\": {\"beta\": [\"com.beta.filter\"]},"
		" \"allowed_types\": {\"acme\": [\"network-filter\", \"dns-proxy\"],"
		"                     \"gamma\": [\"driver\"], \"delta\": []},"
		" \"removable_extensions\": {\"acme\": [\"com.acme.filter\"]}}");
	/* Publisher listed. */
	expect(p, "acme", "com.acme.filter", EXT_TYPE_NETWORK_FILTER, POLICY_ALLOW, "acme");
	expect(p, "acme", "com.acme.dns", EXT_TYPE_DNS_PROXY, POLICY_ALLOW, NULL);
	/* Publisher listed but type restricted: the restriction wins. */
	expect(p, "acme", "com.acme.es", EXT_TYPE_ENDPOINT_SECURITY, POLICY_DENY,
	       "endpoint-security");
	/* Identifier listed for its publisher only. */
	expect(p, "beta", "com.beta.filter", EXT_TYPE_APP_PROXY, POLICY_ALLOW, "com.beta.filter");
	expect(p, "beta", "com.beta.other", EXT_TYPE_APP_PROXY, POLICY_NEEDS_USER, NULL);
	expect(p, "other", "com.beta.filter", EXT_TYPE_APP_PROXY, POLICY_NEEDS_USER, NULL);
	/* Type restriction without pre-approval. */
	expect(p, "gamma", "com.gamma.d", EXT_TYPE_DRIVER, POLICY_NEEDS_USER, NULL);
	expect(p, "gamma", "com.gamma.t", EXT_TYPE_PACKET_TUNNEL, POLICY_DENY, "packet-tunnel");
	expect(p, "delta", "com.delta.x", EXT_TYPE_DNS_PROXY, POLICY_DENY, "dns-proxy");
	/* Nothing about this publisher. */
	expect(p, "zeta", "com.zeta.x", EXT_TYPE_DRIVER, POLICY_NEEDS_USER, NULL);
	/* Bad requests are denied, not crashed on. */
	expect(p, NULL, "com.zeta.x", EXT_TYPE_DRIVER, POLICY_DENY, NULL);
	expect(p, "zeta", NULL, EXT_TYPE_DRIVER, POLICY_DENY, NULL);
	expect(p, "zeta", "com.zeta.x", EXT_TYPE_COUNT, POLICY_DENY, NULL);

	assert_int_equal(policy_removable(p, "acme", "com.acme.filter"), 1);
	assert_int_equal(policy_removable(p, "acme", "com.acme.dns"), 0);
	assert_int_equal(policy_removable(p, "beta", "com.beta.filter"), 1);
	policy_free(p);

	p = pol("{\"allow_user_overrides\": false, \"allowed_publishers\": [\"acme\"]}");
	assert_int_equal(policy_allow_user_overrides(p), 0);
	expect(p, "acme", "com.acme.x", EXT_TYPE_DRIVER, POLICY_ALLOW, NULL);
	expect(p, "beta", "com.beta.x", EXT_TYPE_DRIVER, POLICY_DENY, "allow_user_overrides");
	policy_free(p);

	p = pol("{\"allow_user_overrides\": true}");
	expect(p, "beta", "com.beta.x", EXT_TYPE_DRIVER, POLICY_NEEDS_USER, NULL);
	policy_free(p);

	/* NULL policy behaves as the default one; no reason buffer is fine. */
	expect(NULL, "acme", "com.acme.x", EXT_TYPE_DRIVER, POLICY_NEEDS_USER, NULL);
	assert_int_equal(policy_decide(NULL, "a", "a.b", EXT_TYPE_DRIVER, NULL, 0),
			 POLICY_NEEDS_USER);
	assert_null(policy_free(NULL));
}

static void test_policy_malformed(void **state)
{
	static const struct bad_case c[] = {
		{ "[]", "top level" },
		{ "", "invalid JSON" },
		{ "{\"allowed_publishers\": [\"acme\"]", "invalid JSON" },
		{ "{\"allowed_publishers\": [], \"allowed_publishers\": [\"x\"]}", "duplicate" },
		{ "{\"allow_user_overrides\": \"yes\"}", "\"allow_user_overrides\": expected true" },
		{ "{\"allow_user_overrides\": 0}", "\"allow_user_overrides\"" },
		{ "{\"allowed_publishers\": \"acme\"}", "\"allowed_publishers\": expected an array" },
		{ "{\"allowed_publishers\": [1]}", "\"allowed_publishers\"[0]: expected a string" },
		{ "{\"allowed_publishers\": [\"ok\", \".bad\"]}",
		  "\"allowed_publishers\"[1]: \".bad\" is not a publisher" },
		{ "{\"allowed_extensions\": [\"com.acme.x\"]}", "\"allowed_extensions\": expected an object" },
		{ "{\"allowed_extensions\": {\"acme\": \"com.acme.x\"}}",
		  "\"allowed_extensions\"[\"acme\"]: expected an array" },
		{ "{\"allowed_extensions\": {\"acme\": [\"nodots\"]}}",
		  "\"allowed_extensions\"[\"acme\"][0]: \"nodots\" is not a reverse-DNS" },
		{ "{\"allowed_extensions\": {\"ac me\": []}}", "\"allowed_extensions\": \"ac me\"" },
		{ "{\"allowed_types\": {\"acme\": [\"kext\"]}}",
		  "\"allowed_types\"[\"acme\"][0]: \"kext\" is not an extension type" },
		{ "{\"allowed_types\": {\"acme\": \"driver\"}}", "\"allowed_types\"[\"acme\"]" },
		{ "{\"allowed_types\": null}", "\"allowed_types\"" },
		{ "{\"removable_extensions\": {\"acme\": [3]}}",
		  "\"removable_extensions\"[\"acme\"][0]: expected a string" },
		/* A typo must not silently change what is allowed. */
		{ "{\"allowed_publisher\": [\"acme\"]}", "unknown key \"allowed_publisher\"" },
		{ "{\"AllowUserOverrides\": false}", "unknown key \"AllowUserOverrides\"" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct policy *p = NULL;
		char err[ERRLEN] = "";
		int r = policy_parse(c[i].json, strlen(c[i].json), &p, err, sizeof(err));

		if (r != -EINVAL)
			fail_msg("policy case %zu %s: got %d (%s)", i, c[i].json, r, err);
		if (!strstr(err, c[i].want))
			fail_msg("policy case %zu: reason '%s' lacks '%s'", i, err, c[i].want);
		assert_printable(err);
		assert_null(p);
	}

	struct policy *p = NULL;
	char err[ERRLEN];
	size_t len = 256 * 1024 + 1;
	char *big = malloc(len);
	assert_non_null(big);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	assert_int_equal(policy_parse(big, len, &p, err, sizeof(err)), -E2BIG);
	assert_int_equal(policy_parse(big + 1, len - 1, &p, err, sizeof(err)), -EINVAL);
	big[len - 2] = '}';
	assert_int_equal(policy_parse(big, len - 1, &p, err, sizeof(err)), 0);
	policy_free(p);
	free(big);
}

static void test_policy_load(void **state)
{
	struct policy *p = NULL;
	char dir[512], path[600], err[ERRLEN];
	int dfd = tmpdir(dir, sizeof(dir));

	assert_true(dfd >= 0);
	snprintf(path, sizeof(path), "%s/policy.json", dir);

	/* Missing file: the default policy. */
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), 0);
	expect(p, "acme", "com.acme.x", EXT_TYPE_NETWORK_FILTER, POLICY_NEEDS_USER, NULL);
	assert_int_equal(policy_allow_user_overrides(p), 1);
	assert_int_equal(policy_removable(p, "acme", "com.acme.x"), 1);
	p = policy_free(p);

	const char *good = "{\"allowed_publishers\": [\"acme\"], \"allow_user_overrides\": false}";
	write_at(dfd, "policy.json", good, strlen(good));
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), 0);
	expect(p, "acme", "com.acme.x", EXT_TYPE_NETWORK_FILTER, POLICY_ALLOW, NULL);
	expect(p, "beta", "com.beta.x", EXT_TYPE_NETWORK_FILTER, POLICY_DENY, NULL);
	p = policy_free(p);

	const char *typo = "{\"allowed_publishers\": [\"acme\"], \"allow_user_override\": false}";
	write_at(dfd, "policy.json", typo, strlen(typo));
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"allow_user_override\""));
	assert_null(p);

	const char *bad = "{\"allowed_types\": {\"acme\": [\"network_filter\"]}}";
	write_at(dfd, "policy.json", bad, strlen(bad));
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"allowed_types\""));
	assert_non_null(strstr(err, "network_filter"));

	assert_int_equal(unlinkat(dfd, "policy.json", 0), 0);
	assert_int_equal(mkdirat(dfd, "policy.json", 0755), 0);
	assert_true(policy_load(path, &p, err, sizeof(err)) < 0);
	assert_null(p);

	close(dfd);
	cleanup_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_each_type),
		cmocka_unit_test(test_valid_full),
		cmocka_unit_test(test_missing_and_wrong_types),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_huge_input),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_syntax_and_encoding),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_load_at),
		cmocka_unit_test(test_policy_decide),
		cmocka_unit_test(test_policy_malformed),
		cmocka_unit_test(test_policy_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
