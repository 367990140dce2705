/* test_bundle.c: keys, signing, verification (every way a bundle can be tampered
 * with is refused, naming the file), and staging (exact copy; failure leaves nothing). */
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

#include "common/bundle.h"

static char top[64], keys[128], b[128], err[512];

static void put(const char *rel, const char *text, mode_t mode)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", b, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	(void)state;
	strcpy(top, "/tmp/uext-bundle.XXXXXX");
	if (!mkdtemp(top)) return -1;
	snprintf(keys, sizeof keys, "%s/keys", top);
	snprintf(b, sizeof b, "%s/b", top);
	char p[256];
	mkdir(b, 0755);
	snprintf(p, sizeof p, "%s/bin", b);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/share/deep", b);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/share", b);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/share/deep", b);
	mkdir(p, 0755);
	put("manifest.json", "{\"publisher\":\"acme\"}", 0644);
	put("bin/tool", "#!/bin/sh\necho hi\n", 0755);
	put("share/deep/empty", "", 0644);
	err[0] = 0;
	return bundle_keygen(keys, "acme", err, sizeof err) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return bundle_remove_tree(top);
}

static int verify(void)
{
	struct pubkey *k = NULL;
	size_t n = 0;
	err[0] = 0;
	assert_int_equal(bundle_load_pubkeys(keys, &k, &n, err, sizeof err), 0);
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	err[0] = 0;
	int r = bundle_verify_at(fd, "acme", k, n, err, sizeof err);
	close(fd);
	free(k);
	return r;
}

static void sign(void)
{
	char kf[160];
	snprintf(kf, sizeof kf, "%s/acme.key", keys);
	err[0] = 0;
	assert_int_equal(bundle_sign(b, kf, "acme", err, sizeof err), 0);
}

static void test_keygen(void **state)
{
	(void)state;
	struct stat st;
	char kf[160];
	snprintf(kf, sizeof kf, "%s/acme.key", keys);
	assert_int_equal(stat(kf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(bundle_keygen(keys, "acme", err, sizeof err), -EEXIST); /* never overwrite */
	assert_int_equal(bundle_keygen(keys, ".hidden", err, sizeof err), -EINVAL);
	assert_int_equal(bundle_keygen(keys, "a/b", err, sizeof err), -EINVAL);
	/* the secret key of another publisher is refused by sign */
	assert_int_equal(bundle_keygen(keys, "other", err, sizeof err), 0);
	snprintf(kf, sizeof kf, "%s/other.key", keys);
	assert_int_equal(bundle_sign(b, kf, "acme", err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "other"));
	snprintf(kf, sizeof kf, "%s/acme.pub", keys); /* a public key is no secret key */
	assert_int_equal(bundle_sign(b, kf, "acme", err, sizeof err), -EINVAL);
}

static void test_sign_verify(void **state)
{
	(void)state;
	assert_int_equal(verify(), -ENOENT); /* unsigned */
	assert_non_null(strstr(err, "not signed"));
	sign();
	assert_int_equal(verify(), 0);
	/* the manifest's publisher must be the signer */
	struct pubkey *k = NULL;
	size_t n = 0;
	bundle_load_pubkeys(keys, &k, &n, err, sizeof err);
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	assert_int_equal(bundle_verify_at(fd, "other", k, n, err, sizeof err), -EBADMSG);
	/* no trusted key for acme */
	struct pubkey only_other = k[0];
	for (size_t i = 0; i < n; i++)
		if (strcmp(k[i].publisher, "other") == 0) only_other = k[i];
	if (strcmp(only_other.publisher, "other") == 0)
		assert_int_equal(bundle_verify_at(fd, "acme", &only_other, 1, err, sizeof err), -EKEYREJECTED);
	assert_int_equal(bundle_verify_at(fd, "acme", NULL, 0, err, sizeof err), -EKEYREJECTED);
	assert_non_null(strstr(err, "acme"));
	close(fd);
	free(k);
}

static void test_tamper(void **state)
{
	(void)state;
	char p[256];
	sign();
	put("bin/tool", "#!/bin/sh\necho owned\n", 0755);
	assert_int_equal(verify(), -EBADMSG);
	assert_non_null(strstr(err, "'bin/tool' was modified"));
	sign();
	put("share/extra", "x", 0644);
	assert_int_equal(verify(), -EBADMSG);
	assert_non_null(strstr(err, "'share/extra' was added"));
	sign();
	snprintf(p, sizeof p, "%s/share/deep/empty", b);
	unlink(p);
	assert_int_equal(verify(), -EBADMSG);
	assert_non_null(strstr(err, "'share/deep/empty' was removed"));
	sign();
	/* editing the file list in the signature breaks the signature itself */
	snprintf(p, sizeof p, "%s/_uext/signature", b);
	char *text = NULL;
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	size_t cap = 1 << 16;
	text = calloc(1, cap);
	size_t len = fread(text, 1, cap - 1, f);
	fclose(f);
	char *h = strstr(text, "\"bin/tool\": \"");
	assert_non_null(h);
	h += strlen("\"bin/tool\": \"");
	*h = *h == '0' ? '1' : '0';
	f = fopen(p, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	free(text);
	assert_int_equal(verify(), -EBADMSG);
	assert_non_null(strstr(err, "signature does not match"));
	/* garbage signature file */
	f = fopen(p, "w");
	fputs("{not json", f);
	fclose(f);
	assert_int_equal(verify(), -EBADMSG);
}

static void test_symlink_and_special(void **state)
{
	(void)state;
	char p[256], dst[160];
	snprintf(p, sizeof p, "%s/bin/link", b);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	char kf[160];
	snprintf(kf, sizeof kf, "%s/acme.key", keys);
	assert_int_equal(bundle_sign(b, kf, "acme", err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "bin/link"));
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	snprintf(dst, sizeof dst, "%s/staged", top);
	assert_int_equal(bundle_stage(fd, dst, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "bin/link"));
	assert_int_equal(access(dst, F_OK), -1); /* nothing left behind */
	unlink(p);
	snprintf(p, sizeof p, "%s/share/fifo", b);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(bundle_stage(fd, dst, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "share/fifo"));
	assert_int_equal(access(dst, F_OK), -1);
	close(fd);
}

static void test_stage(void **state)
{
	(void)state;
	char dst[160], p[256];
	sign();
	int fd = open(b, O_RDONLY | O_DIRECTORY);
	snprintf(dst, sizeof dst, "%s/staged", top);
	assert_int_equal(bundle_stage(fd, dst, err, sizeof err), 0);
	assert_int_equal(bundle_stage(fd, dst, err, sizeof err), -EEXIST);
	close(fd);
	/* the copy verifies on its own and keeps the exec bit */
	struct pubkey *k = NULL;
	size_t n = 0;
	bundle_load_pubkeys(keys, &k, &n, err, sizeof err);
	int sfd = open(dst, O_RDONLY | O_DIRECTORY);
	assert_int_equal(bundle_verify_at(sfd, "acme", k, n, err, sizeof err), 0);
	close(sfd);
	free(k);
	struct stat st;
	snprintf(p, sizeof p, "%s/bin/tool", dst);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	snprintf(p, sizeof p, "%s/share/deep/empty", dst);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(bundle_remove_tree(dst), 0);
	assert_int_equal(access(dst, F_OK), -1);
	assert_int_equal(bundle_remove_tree(dst), 0); /* missing is success */
	assert_int_equal(bundle_remove_tree("/"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_and_special, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
