/* test_bundle.c: keys, signing, verification (every way a bundle can be tampered
 * with is refused, naming the file), and staging (exact copy; failure leaves nothing). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/bundle.h"

#define BLOB_LEN (1536u * 1024) /* past copy_file_range's 1 MiB chunk and the 64 KiB buffers */

static char top[64], keys[128], b[128], err[512];

/* "<base>/<rel>" in one of a few rotating buffers: enough for the arguments of one call. */
static const char *at(const char *base, const char *rel)
{
	static char buf[8][512];
	static unsigned i;
	char *p = buf[i++ % 8];
	snprintf(p, sizeof buf[0], "%s/%s", base, rel);
	return p;
}

static void put_bytes(const char *rel, const void *data, size_t len, mode_t mode)
{
	int fd = open(at(b, rel), O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void put(const char *rel, const char *text, mode_t mode) { put_bytes(rel, text, strlen(text), mode); }

static void mkd(const char *rel) { assert_int_equal(mkdir(at(b, rel), 0755), 0); }

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t cap = 1 << 16, len = 0;
	char *s = malloc(cap + 1);
	assert_non_null(s);
	for (size_t n; (n = fread(s + len, 1, cap - len, f)) > 0;) {
		len += n;
		if (len == cap) {
			s = realloc(s, (cap *= 2) + 1);
			assert_non_null(s);
		}
	}
	fclose(f);
	s[len] = 0;
	if (ret_len) *ret_len = len;
	return s;
}

/* Any "*.tmp-*" left in dir: staging must clean up after itself. */
static bool has_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	bool found = false;
	for (struct dirent *de; (de = readdir(d));)
		if (strstr(de->d_name, ".tmp-")) found = true;
	closedir(d);
	return found;
}

static int setup(void **state)
{
	(void)state;
	strcpy(top, "/tmp/uext-bundle.XXXXXX");
	if (!mkdtemp(top)) return -1;
	snprintf(keys, sizeof keys, "%s/keys", top);
	snprintf(b, sizeof b, "%s/b", top);
	if (mkdir(b, 0755) < 0) return -1;
	mkd("bin");
	mkd("share");
	mkd("share/deep");
	put("manifest.json", "{\"publisher\":\"acme\"}", 0644);
	put("bin/tool", "#!/bin/sh\necho hi\n", 0755);
	put("share/deep/empty", "", 0644);
	unsigned char *blob = malloc(BLOB_LEN);
	if (!blob) return -1;
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < BLOB_LEN; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		blob[i] = (unsigned char)x;
	}
	put_bytes("share/blob", blob, BLOB_LEN, 0644);
	free(blob);
	err[0] = 0;
	return bundle_keygen(keys, "acme", err, sizeof err) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return bundle_remove_tree(top);
}

static int verify_with(const char *dir, const char *bundle, const char *publisher)
{
	struct pubkey *k = NULL;
	size_t n = 0;
	char kerr[256] = "";
	assert_int_equal(bundle_load_pubkeys(dir, &k, &n, kerr, sizeof kerr), 0);
	int fd = open(bundle, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	err[0] = 0;
	int r = bundle_verify_at(fd, publisher, k, n, err, sizeof err);
	close(fd);
	free(k);
	return r;
}

static int verify(void) { return verify_with(keys, b, "acme"); }

static int sign_with(const char *dir, const char *publisher)
{
	char kf[160];
	snprintf(kf, sizeof kf, "%s/%s.key", dir, publisher);
	err[0] = 0;
	return bundle_sign(b, kf, publisher, err, sizeof err);
}

static void sign(void) { assert_int_equal(sign_with(keys, "acme"), 0); }

static void expect(int got, int want, const char *needle)
{
	if (got != want) fail_msg("got %d, want %d (err: %s)", got, want, err);
	if (needle && !strstr(err, needle)) fail_msg("err lacks '%s': %s", needle, err);
}

static json_t *sig_load(void)
{
	json_error_t je;
	json_t *o = json_load_file(at(b, BUNDLE_SIG_FILE), 0, &je);
	assert_non_null(o);
	return o;
}

static void sig_save(json_t *o)
{
	assert_int_equal(json_dump_file(o, at(b, BUNDLE_SIG_FILE), JSON_INDENT(1)), 0);
	json_decref(o);
}

static void test_keygen(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(at(keys, "acme.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(keys, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	char *before = slurp(at(keys, "acme.key"), NULL);
	assert_non_null(strstr(before, "uext-ed25519-secret acme "));
	expect(bundle_keygen(keys, "acme", err, sizeof err), -EEXIST, "acme"); /* never overwrite */
	char *after = slurp(at(keys, "acme.key"), NULL);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* the umask does not change the promised modes */
	mode_t old = umask(077);
	char nested[160];
	snprintf(nested, sizeof nested, "%s/new/dir", top);
	expect(bundle_keygen(nested, "pub.lisher-1_x", err, sizeof err), 0, NULL);
	umask(old);
	assert_int_equal(stat(at(nested, "pub.lisher-1_x.pub"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	char *pub = slurp(at(nested, "pub.lisher-1_x.pub"), NULL);
	assert_non_null(strstr(pub, "uext-ed25519-public pub.lisher-1_x "));
	free(pub);

	/* half a pair is not written beside an existing other half */
	assert_int_equal(unlink(at(nested, "pub.lisher-1_x.key")), 0);
	expect(bundle_keygen(nested, "pub.lisher-1_x", err, sizeof err), -EEXIST, NULL);
	assert_int_equal(access(at(nested, "pub.lisher-1_x.key"), F_OK), -1);

	char longest[66];
	memset(longest, 'a', 64);
	longest[64] = 0;
	expect(bundle_keygen(keys, longest, err, sizeof err), 0, NULL);
	longest[64] = 'a', longest[65] = 0;
	const char *bad[] = { ".hidden", "a/b", "", "sp ace", "new\nline", "..", longest };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		expect(bundle_keygen(keys, bad[i], err, sizeof err), -EINVAL, "publisher");
}

static void test_sign_refuses_keys(void **state)
{
	(void)state;
	assert_int_equal(bundle_keygen(keys, "other", err, sizeof err), 0);
	/* the secret key of another publisher */
	expect(bundle_sign(b, at(keys, "other.key"), "acme", err, sizeof err), -EINVAL, "'other'");
	assert_non_null(strstr(err, "'acme'"));
	/* a public key is no secret key */
	expect(bundle_sign(b, at(keys, "acme.pub"), "acme", err, sizeof err), -EINVAL, "not a uext secret key");
	expect(bundle_sign(b, at(keys, "missing.key"), "acme", err, sizeof err), -ENOENT, "missing.key");
	/* a secret key whose public half is not its seed's */
	char *text = slurp(at(keys, "acme.key"), NULL);
	char *sp = strrchr(text, ' ');
	assert_non_null(sp);
	size_t n = strlen(text);
	assert_true(n > 10);
	text[n - 6] = text[n - 6] == 'A' ? 'B' : 'A'; /* inside the public half of the base64 */
	FILE *f = fopen(at(keys, "bad.key"), "w");
	fputs(text, f);
	fclose(f);
	free(text);
	expect(bundle_sign(b, at(keys, "bad.key"), "acme", err, sizeof err), -EINVAL, "bad.key");
	assert_int_equal(access(at(b, BUNDLE_SIG_FILE), F_OK), -1); /* nothing signed */
}

static void test_load_pubkeys(void **state)
{
	(void)state;
	assert_int_equal(bundle_keygen(keys, "other", err, sizeof err), 0);
	char *acme = slurp(at(keys, "acme.pub"), NULL);
	FILE *f = fopen(at(keys, "renamed.pub"), "w"); /* acme's key under another name */
	fputs(acme, f);
	fclose(f);
	f = fopen(at(keys, "acme.2024.pub"), "w"); /* a second acme key, named for rotation */
	fputs(acme, f);
	fclose(f);
	f = fopen(at(keys, "garbage.pub"), "w");
	fputs("uext-ed25519-public garbage AAAA\n", f);
	fclose(f);
	f = fopen(at(keys, ".hidden.pub"), "w");
	fputs(acme, f);
	fclose(f);
	f = fopen(at(keys, "README"), "w");
	fputs("not a key\n", f);
	fclose(f);

	struct pubkey *k = NULL;
	size_t n = 0;
	err[0] = 0;
	assert_int_equal(bundle_load_pubkeys(keys, &k, &n, err, sizeof err), 0);
	assert_int_equal(n, 3);
	bool saw_acme = false, saw_other = false;
	for (size_t i = 0; i < n; i++) {
		saw_acme |= strcmp(k[i].publisher, "acme") == 0;
		saw_other |= strcmp(k[i].publisher, "other") == 0;
	}
	assert_true(saw_acme && saw_other);
	assert_non_null(strstr(err, "'renamed.pub'"));
	assert_non_null(strstr(err, "'garbage.pub'"));
	assert_null(strstr(err, "hidden"));
	assert_null(strstr(err, "README"));
	free(k);
	free(acme);

	/* no directory: nothing trusted, no error */
	k = (struct pubkey *)&n;
	assert_int_equal(bundle_load_pubkeys(at(top, "nokeys"), &k, &n, err, sizeof err), 0);
	assert_null(k);
	assert_int_equal(n, 0);
}

static void test_sign_verify(void **state)
{
	(void)state;
	expect(verify(), -ENOENT, "not signed");
	sign();
	expect(verify(), 0, NULL);

	/* the signature file: the header's format, every file but _uext/, nothing else */
	json_t *o = sig_load();
	assert_int_equal(json_integer_value(json_object_get(o, "format")), 1);
	assert_string_equal(json_string_value(json_object_get(o, "publisher")), "acme");
	assert_int_equal(strlen(json_string_value(json_object_get(o, "key_id"))), 16);
	assert_non_null(json_string_value(json_object_get(o, "signature")));
	json_t *files = json_object_get(o, "files");
	assert_int_equal(json_object_size(files), 4);
	const char *want[] = { "bin/tool", "manifest.json", "share/blob", "share/deep/empty" };
	for (size_t i = 0; i < 4; i++) assert_non_null(json_object_get(files, want[i]));
	/* sha256 of the empty string */
	assert_string_equal(json_string_value(json_object_get(files, "share/deep/empty")),
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	json_decref(o);

	/* Ed25519 is deterministic and the text canonical: signing again changes nothing */
	char *first = slurp(at(b, BUNDLE_SIG_FILE), NULL);
	sign();
	char *second = slurp(at(b, BUNDLE_SIG_FILE), NULL);
	assert_string_equal(first, second);
	free(first);
	free(second);

	/* what sits in _uext/ besides the signature is not part of the bundle's files */
	put("_uext/notes", "x", 0644);
	expect(verify(), 0, NULL);
	/* and a staged copy of a signed bundle verifies on its own */
	expect(verify_with(keys, b, "acme"), 0, NULL);
}

static void test_publisher_mismatch(void **state)
{
	(void)state;
	assert_int_equal(bundle_keygen(keys, "other", err, sizeof err), 0);
	sign();
	/* the manifest's publisher must be the signer, even when its key is trusted */
	expect(verify_with(keys, b, "other"), -EBADMSG, "'acme'");
	assert_non_null(strstr(err, "'other'"));
}

static void test_untrusted_key(void **state)
{
	(void)state;
	char okeys[160], rotated[160];
	snprintf(okeys, sizeof okeys, "%s/okeys", top);
	snprintf(rotated, sizeof rotated, "%s/rotated", top);
	assert_int_equal(bundle_keygen(okeys, "other", err, sizeof err), 0);
	sign();
	/* only another publisher's key is trusted */
	expect(verify_with(okeys, b, "acme"), -EKEYREJECTED, "no trusted key for publisher 'acme'");
	/* nothing trusted at all */
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	expect(bundle_verify_at(fd, "acme", NULL, 0, err, sizeof err), -EKEYREJECTED, "'acme'");
	close(fd);
	/* acme's new key is not acme's old key */
	assert_int_equal(bundle_keygen(rotated, "acme", err, sizeof err), 0);
	expect(verify_with(rotated, b, "acme"), -EKEYREJECTED, "'acme'");
	/* both trusted during a rotation ("acme.<anything>.pub"): the old signature verifies */
	char *old = slurp(at(keys, "acme.pub"), NULL);
	FILE *f = fopen(at(rotated, "acme.old.pub"), "w");
	fputs(old, f);
	fclose(f);
	free(old);
	expect(verify_with(rotated, b, "acme"), 0, NULL);
}

static void test_tamper_modify(void **state)
{
	(void)state;
	sign();
	put("bin/tool", "#!/bin/sh\necho owned\n", 0755);
	expect(verify(), -EBADMSG, "bundle: file 'bin/tool' was modified after signing");
	sign();
	put("share/deep/empty", "now with content", 0644);
	expect(verify(), -EBADMSG, "file 'share/deep/empty' was modified after signing");
	sign();
	/* one bit in the middle of a large file */
	char *blob = slurp(at(b, "share/blob"), NULL);
	blob[BLOB_LEN / 2] ^= 1;
	put_bytes("share/blob", blob, BLOB_LEN, 0644);
	free(blob);
	expect(verify(), -EBADMSG, "file 'share/blob' was modified");
}

static void test_tamper_add_remove(void **state)
{
	(void)state;
	sign();
	put("share/extra", "x", 0644);
	expect(verify(), -EBADMSG, "file 'share/extra' was added after signing");
	sign();
	mkd("new");
	mkd("new/dir");
	put("new/dir/f", "", 0644);
	expect(verify(), -EBADMSG, "file 'new/dir/f' was added after signing");
	sign();
	assert_int_equal(unlink(at(b, "share/deep/empty")), 0);
	expect(verify(), -EBADMSG, "file 'share/deep/empty' was removed after signing");
	sign();
	assert_int_equal(unlink(at(b, "manifest.json")), 0);
	expect(verify(), -EBADMSG, "file 'manifest.json' was removed after signing");
}

static void sig_restore(const char *text)
{
	FILE *f = fopen(at(b, BUNDLE_SIG_FILE), "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_tamper_signature(void **state)
{
	(void)state;
	sign();
	char *good = slurp(at(b, BUNDLE_SIG_FILE), NULL);

	/* a digest in the recorded list changed: the signature breaks */
	json_t *o = sig_load();
	json_object_set_new(json_object_get(o, "files"), "bin/tool",
			    json_string("0000000000000000000000000000000000000000000000000000000000000000"));
	sig_save(o);
	expect(verify(), -EBADMSG, "signature does not match");

	/* a file dropped from the list */
	sig_restore(good);
	o = sig_load();
	json_object_del(json_object_get(o, "files"), "share/blob");
	sig_save(o);
	expect(verify(), -EBADMSG, "signature does not match");

	/* one character of the signature itself */
	sig_restore(good);
	o = sig_load();
	char sig[128];
	strcpy(sig, json_string_value(json_object_get(o, "signature")));
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	json_object_set_new(o, "signature", json_string(sig));
	sig_save(o);
	expect(verify(), -EBADMSG, "signature does not match");

	/* another key id: no key to check it with */
	sig_restore(good);
	o = sig_load();
	json_object_set_new(o, "key_id", json_string("0011223344556677"));
	sig_save(o);
	expect(verify(), -EKEYREJECTED, "'acme'");

	/* a path out of the bundle in the list */
	sig_restore(good);
	o = sig_load();
	json_object_set_new(json_object_get(o, "files"), "../etc/passwd",
			    json_string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	sig_save(o);
	expect(verify(), -EBADMSG, "malformed");

	/* a wrong format and missing fields */
	sig_restore(good);
	o = sig_load();
	json_object_set_new(o, "format", json_integer(2));
	sig_save(o);
	expect(verify(), -EBADMSG, "malformed");
	sig_restore(good);
	o = sig_load();
	json_object_del(o, "files");
	sig_save(o);
	expect(verify(), -EBADMSG, "malformed");

	/* not JSON; duplicate keys; too large */
	sig_restore("{not json");
	expect(verify(), -EBADMSG, "malformed");
	sig_restore("{\"format\":1,\"format\":1}");
	expect(verify(), -EBADMSG, "malformed");
	assert_int_equal(truncate(at(b, BUNDLE_SIG_FILE), (5 << 20)), 0);
	expect(verify(), -EBADMSG, "larger");

	/* the good signature back: verifies again */
	sig_restore(good);
	expect(verify(), 0, NULL);

	/* a signature reached through a link is refused, even a valid one */
	char outside[160];
	snprintf(outside, sizeof outside, "%s/outside", top);
	assert_int_equal(mkdir(outside, 0755), 0);
	assert_int_equal(rename(at(b, BUNDLE_SIG_FILE), at(outside, "signature")), 0);
	assert_int_equal(symlink(at(outside, "signature"), at(b, BUNDLE_SIG_FILE)), 0);
	expect(verify(), -EBADMSG, "symbolic link");
	assert_int_equal(unlink(at(b, BUNDLE_SIG_FILE)), 0);
	assert_int_equal(rmdir(at(b, BUNDLE_SIG_DIR)), 0);
	assert_int_equal(symlink(outside, at(b, BUNDLE_SIG_DIR)), 0);
	expect(verify(), -EBADMSG, "symbolic link");
	/* and signing does not write through such a link */
	int r = sign_with(keys, "acme"); /* ENOTDIR or ELOOP, as the kernel sees an O_NOFOLLOW directory */
	if (r != -ENOTDIR && r != -ELOOP) fail_msg("sign through a _uext link: %d (%s)", r, err);
	assert_non_null(strstr(err, BUNDLE_SIG_DIR));
	char *still = slurp(at(outside, "signature"), NULL);
	assert_string_equal(still, good);
	free(still);
	assert_int_equal(unlink(at(b, BUNDLE_SIG_DIR)), 0);

	/* no signature at all */
	expect(verify(), -ENOENT, "not signed");
	free(good);
}

static void test_symlink_refused(void **state)
{
	(void)state;
	char dst[160];
	snprintf(dst, sizeof dst, "%s/staged", top);
	sign();
	assert_int_equal(symlink("/etc/passwd", at(b, "bin/link")), 0);
	expect(verify(), -EBADMSG, "'bin/link' is a symbolic link");
	expect(sign_with(keys, "acme"), -EINVAL, "'bin/link' is a symbolic link");
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	expect(bundle_stage(fd, dst, err, sizeof err), -EINVAL, "'bin/link'");
	assert_int_equal(access(dst, F_OK), -1);
	assert_false(has_tmp(top));
	assert_int_equal(unlink(at(b, "bin/link")), 0);
	/* a link to a directory is no directory */
	assert_int_equal(symlink("/etc", at(b, "share/etc")), 0);
	expect(sign_with(keys, "acme"), -EINVAL, "'share/etc' is a symbolic link");
	expect(bundle_stage(fd, dst, err, sizeof err), -EINVAL, "'share/etc'");
	assert_int_equal(access(dst, F_OK), -1);
	close(fd);
}

static void test_bad_names_and_caps(void **state)
{
	(void)state;
	put("bin/bad\nname", "", 0644);
	expect(sign_with(keys, "acme"), -EINVAL, "control characters");
	assert_int_equal(unlink(at(b, "bin/bad\nname")), 0);

	/* BUNDLE_MAX_DEPTH directories deep is fine, one more is not */
	char rel[256] = "";
	for (unsigned i = 0; i < BUNDLE_MAX_DEPTH; i++) {
		strcat(rel, i ? "/d" : "d");
		mkd(rel);
	}
	char deepest[300];
	snprintf(deepest, sizeof deepest, "%s/f", rel);
	put(deepest, "deep", 0644);
	sign();
	expect(verify(), 0, NULL);
	strcat(rel, "/d");
	mkd(rel);
	expect(sign_with(keys, "acme"), -ELOOP, "deeper");
	expect(verify(), -EBADMSG, "deeper");
	assert_int_equal(bundle_remove_tree(at(b, "d")), 0);

	/* BUNDLE_MAX_FILES entries at most */
	mkd("many");
	char nm[64];
	for (unsigned i = 0; i < BUNDLE_MAX_FILES; i++) {
		snprintf(nm, sizeof nm, "many/%u", i);
		put(nm, "", 0644);
	}
	expect(sign_with(keys, "acme"), -E2BIG, "more than");
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	char dst[160];
	snprintf(dst, sizeof dst, "%s/staged", top);
	expect(bundle_stage(fd, dst, err, sizeof err), -E2BIG, "more than");
	close(fd);
	assert_int_equal(access(dst, F_OK), -1);
	assert_false(has_tmp(top));
}

/* Same entries, same types, same bytes, below a and c. */
static void assert_same_tree(const char *a, const char *c, unsigned *nfiles)
{
	DIR *d = opendir(a);
	assert_non_null(d);
	size_t na = 0, nc = 0;
	for (struct dirent *de; (de = readdir(d));) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
		na++;
		char pa[512], pc[512];
		snprintf(pa, sizeof pa, "%s/%s", a, de->d_name);
		snprintf(pc, sizeof pc, "%s/%s", c, de->d_name);
		struct stat sa, sc;
		assert_int_equal(lstat(pa, &sa), 0);
		if (lstat(pc, &sc) != 0) fail_msg("'%s' was not staged", pc);
		assert_int_equal(sa.st_mode & S_IFMT, sc.st_mode & S_IFMT);
		if (S_ISDIR(sa.st_mode)) {
			assert_int_equal(sc.st_mode & 07777, 0755);
			assert_same_tree(pa, pc, nfiles);
			continue;
		}
		assert_int_equal(sc.st_mode & 07777, (sa.st_mode & 0111) ? 0755 : 0644);
		size_t la, lc;
		char *da = slurp(pa, &la), *dc = slurp(pc, &lc);
		assert_int_equal(la, lc);
		assert_memory_equal(da, dc, la);
		free(da);
		free(dc);
		(*nfiles)++;
	}
	closedir(d);
	d = opendir(c);
	assert_non_null(d);
	for (struct dirent *de; (de = readdir(d));)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) nc++;
	closedir(d);
	assert_int_equal(na, nc);
}

static void test_stage(void **state)
{
	(void)state;
	char dst[160];
	snprintf(dst, sizeof dst, "%s/staged", top);
	/* source modes that staging normalizes */
	assert_int_equal(chmod(at(b, "manifest.json"), 0600), 0);
	assert_int_equal(chmod(at(b, "bin/tool"), 0700), 0);
	assert_int_equal(chmod(at(b, "share/deep"), 0700), 0);
	sign();
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	mode_t old = umask(077); /* the promised modes do not depend on the umask */
	expect(bundle_stage(fd, dst, err, sizeof err), 0, NULL);
	umask(old);
	struct stat st;
	assert_int_equal(stat(dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, geteuid());
	unsigned nfiles = 0;
	assert_same_tree(b, dst, &nfiles);
	assert_int_equal(nfiles, 5); /* four files and the signature */
	assert_int_equal(stat(at(dst, "share/deep/empty"), &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(stat(at(dst, "share/blob"), &st), 0);
	assert_int_equal(st.st_size, BLOB_LEN);
	assert_false(has_tmp(top));

	/* the copy verifies on its own */
	expect(verify_with(keys, dst, "acme"), 0, NULL);

	/* never over something that exists, not even a dangling link */
	expect(bundle_stage(fd, dst, err, sizeof err), -EEXIST, "already exists");
	char lnk[160];
	snprintf(lnk, sizeof lnk, "%s/dangling", top);
	assert_int_equal(symlink("/nonexistent/uext", lnk), 0);
	expect(bundle_stage(fd, lnk, err, sizeof err), -EEXIST, "already exists");
	char target[256];
	assert_int_equal(readlink(lnk, target, sizeof target), (ssize_t)strlen("/nonexistent/uext"));
	assert_false(has_tmp(top));
	close(fd);
}

static void test_stage_failure_leaves_nothing(void **state)
{
	(void)state;
	char dst[160];
	snprintf(dst, sizeof dst, "%s/staged", top);
	assert_int_equal(mkfifo(at(b, "share/deep/fifo"), 0644), 0);
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	expect(bundle_stage(fd, dst, err, sizeof err), -EINVAL, "'share/deep/fifo' is a special file");
	assert_int_equal(access(dst, F_OK), -1);
	assert_false(has_tmp(top));
	expect(sign_with(keys, "acme"), -EINVAL, "'share/deep/fifo'");
	assert_int_equal(unlink(at(b, "share/deep/fifo")), 0);

	/* a destination inside the source would copy itself */
	snprintf(dst, sizeof dst, "%s/inner", b);
	expect(bundle_stage(fd, dst, err, sizeof err), -EINVAL, "itself");
	assert_int_equal(access(dst, F_OK), -1);
	assert_false(has_tmp(b));

	/* a destination whose parent is missing */
	snprintf(dst, sizeof dst, "%s/no/such/dir", top);
	expect(bundle_stage(fd, dst, err, sizeof err), -ENOENT, NULL);
	close(fd);
}

static void test_remove_tree(void **state)
{
	(void)state;
	char outside[160], tree[160];
	snprintf(outside, sizeof outside, "%s/outside", top);
	snprintf(tree, sizeof tree, "%s/tree", top);
	assert_int_equal(mkdir(outside, 0755), 0);
	FILE *f = fopen(at(outside, "keep"), "w");
	fputs("keep", f);
	fclose(f);
	assert_int_equal(mkdir(tree, 0755), 0);
	assert_int_equal(mkdir(at(tree, "a"), 0755), 0);
	assert_int_equal(mkdir(at(tree, "a/b"), 0755), 0);
	f = fopen(at(tree, "a/b/f"), "w");
	fclose(f);
	assert_int_equal(symlink(outside, at(tree, "a/link")), 0);
	assert_int_equal(mkfifo(at(tree, "a/fifo"), 0644), 0);

	assert_int_equal(bundle_remove_tree(tree), 0);
	assert_int_equal(access(tree, F_OK), -1);
	assert_int_equal(access(at(outside, "keep"), F_OK), 0); /* links are not followed */
	assert_int_equal(bundle_remove_tree(tree), 0);		 /* missing is success */

	/* "link/" names the link, not what it points at */
	assert_int_equal(symlink(outside, at(top, "link")), 0);
	char slash[200];
	snprintf(slash, sizeof slash, "%s/link/", top);
	assert_int_equal(bundle_remove_tree(slash), 0);
	assert_int_equal(access(at(outside, "keep"), F_OK), 0);
	struct stat st;
	assert_int_equal(lstat(at(top, "link"), &st), -1);

	assert_int_equal(bundle_remove_tree("/"), -EINVAL);
	assert_int_equal(bundle_remove_tree("//"), -EINVAL);
	assert_int_equal(bundle_remove_tree(""), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_refuses_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_pubkeys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publisher_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_untrusted_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_modify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_add_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage_failure_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
