/* bundle.c owns the trust in a bundle: the walk and SHA-256 of every file, the Ed25519
 * signature over them, publisher key files, and the staged private copy. A bundle is
 * untrusted input: the walk refuses links and special files and counts what it reads. */
#include "bundle.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define SIG_MAX_BYTES (4u << 20)
#define KEY_MAX_BYTES 4096u
#define REL_MAX 1024u
#define HEX_LEN (crypto_hash_sha256_BYTES * 2)
#define KEY_ID_BYTES 8u /* key_id: hex of the first bytes of the public key */
#define KEY_ID_LEN (KEY_ID_BYTES * 2)
/* Removal holds one descriptor per level; staged trees are at most BUNDLE_MAX_DEPTH deep,
 * data directories an extension filled can be deeper. */
#define REMOVE_MAX_DEPTH 128u

/* The signature file's name inside BUNDLE_SIG_DIR. */
#define SIG_NAME "signature" /* the file name inside BUNDLE_SIG_DIR */

struct entry {
	char *path; /* relative, '/'-separated */
	char hex[HEX_LEN + 1];
};

struct list {
	struct entry *v;
	size_t n, cap;
	uint64_t bytes;
};

static void say(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void list_done(struct list *l)
{
	for (size_t i = 0; i < l->n; i++) free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* Room for one more entry; the caller fills v[n] and bumps n. */
static int list_grow(struct list *l)
{
	if (l->n < l->cap) return 0;
	size_t nc = l->cap ? l->cap * 2 : 32;
	struct entry *nv = realloc(l->v, nc * sizeof *nv);
	if (!nv) return -ENOMEM;
	l->v = nv;
	l->cap = nc;
	return 0;
}

/* strcmp compares as unsigned char: the order is bytewise, independent of the locale. */
static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* No control characters: a '\n' in a name would forge a line of the canonical text,
 * and names end up in messages on terminals. */
static bool name_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
	return true;
}

/* A path as the walk produces it: relative, no empty, "." or ".." component, not
 * inside the top-level signature directory. The signature file is untrusted input. */
static bool rel_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n >= REL_MAX || !name_ok(p)) return false;
	for (const char *c = p;;) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) return false;
		if (c == p && len == strlen(BUNDLE_SIG_DIR) && memcmp(c, BUNDLE_SIG_DIR, len) == 0) return false;
		if (!c[len]) return true;
		c += len + 1;
	}
}

/* Lower-case hex only: the canonical text must have one spelling per digest. */
static bool hex_ok(const char *h, size_t len)
{
	return strlen(h) == len && strspn(h, "0123456789abcdef") == len;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int hash_fd(int fd, char hex[static HEX_LEN + 1], uint64_t *ret_bytes)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], out[crypto_hash_sha256_BYTES];
	uint64_t total = 0;
	crypto_hash_sha256_init(&st);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return -errno;
		if (n == 0) break;
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		total += (uint64_t)n;
		/* the file may grow while we read it: stop at the cap, not at its end */
		if (total > BUNDLE_MAX_BYTES) return -EFBIG;
	}
	crypto_hash_sha256_final(&st, out);
	sodium_bin2hex(hex, HEX_LEN + 1, out, sizeof out);
	*ret_bytes = total;
	return 0;
}

/* What a walk does with each entry. rel is the '/'-separated path from the top. */
struct walker {
	bool skip_sig_dir; /* leave out the top-level _uext/ (the signature itself) */
	/* called before the walk enters the directory; st: its fstat */
	int (*dir)(void *ctx, const char *rel, const struct stat *st, char *err, size_t errlen);
	/* fd: the file, opened O_RDONLY|O_NONBLOCK (borrowed); st: its fstat */
	int (*file)(void *ctx, int fd, const char *rel, const struct stat *st, char *err, size_t errlen);
	void *ctx;
	unsigned entries; /* files and directories: empty directories cost inodes too */
};

/* Open name in the directory d as what fstatat said it is; O_NOFOLLOW and the second
 * fstat catch an entry swapped for a link, a fifo or a directory in between (O_NONBLOCK:
 * a fifo must not hang the walk). */
static int open_entry(int d, const char *name, bool is_dir, struct stat *st)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (is_dir ? O_DIRECTORY : O_NONBLOCK);
	int fd = openat(d, name, flags);
	if (fd < 0) return -errno;
	if (fstat(fd, st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (is_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* Walk the tree at top (borrowed): regular files and directories only, at most
 * BUNDLE_MAX_FILES entries, BUNDLE_MAX_DEPTH deep; anything else is refused by name.
 * Stops at the first error, which err describes. */
static int walk(int top, const char *prefix, unsigned depth, struct walker *w, char *err, size_t errlen)
{
	if (depth > BUNDLE_MAX_DEPTH) {
		say(err, errlen, "bundle: '%s' is nested deeper than %u directories", prefix, BUNDLE_MAX_DEPTH);
		return -ELOOP;
	}
	/* a descriptor of our own: closedir() must not close the caller's */
	int fd = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		say(err, errlen, "bundle: '%s': %s", prefix[0] ? prefix : ".", strerror(errno));
		return e;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	int r = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0) continue;
		if (depth == 0 && w->skip_sig_dir && strcmp(nm, BUNDLE_SIG_DIR) == 0) continue;
		char rel[REL_MAX];
		if (snprintf(rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", nm) >= (int)sizeof rel) {
			say(err, errlen, "bundle: path '%.64s...' is too long", rel);
			r = -ENAMETOOLONG;
			break;
		}
		if (!name_ok(nm)) {
			say(err, errlen, "bundle: a file name in '%s' has control characters", prefix[0] ? prefix : ".");
			r = -EINVAL;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			say(err, errlen, "bundle: '%s': %s", rel, strerror(errno));
			break;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			say(err, errlen, "bundle: '%s' is a %s; bundles hold only regular files and directories", rel,
			    S_ISLNK(st.st_mode) ? "symbolic link" : "special file");
			r = -EINVAL;
			break;
		}
		if (++w->entries > BUNDLE_MAX_FILES) {
			say(err, errlen, "bundle: more than %u files and directories", BUNDLE_MAX_FILES);
			r = -E2BIG;
			break;
		}
		bool is_dir = S_ISDIR(st.st_mode);
		int efd = open_entry(dirfd(d), nm, is_dir, &st);
		if (efd < 0) {
			r = efd;
			say(err, errlen, "bundle: '%s': %s", rel,
			    r == -EINVAL || r == -ELOOP ? "changed type while being read" : strerror(-r));
			break;
		}
		if (is_dir) {
			r = w->dir ? w->dir(w->ctx, rel, &st, err, errlen) : 0;
			if (r == 0) r = walk(efd, rel, depth + 1, w, err, errlen);
		} else {
			r = w->file(w->ctx, efd, rel, &st, err, errlen);
		}
		close(efd);
		if (r < 0) break;
	}
	if (r == 0 && errno) {
		r = -errno;
		say(err, errlen, "bundle: '%s': %s", prefix[0] ? prefix : ".", strerror(errno));
	}
	closedir(d);
	return r;
}

static int digest_file(void *ctx, int fd, const char *rel, const struct stat *st, char *err, size_t errlen)
{
	struct list *l = ctx;
	(void)st;
	if (list_grow(l) < 0) return -ENOMEM;
	struct entry *e = &l->v[l->n];
	uint64_t bytes = 0;
	int r = hash_fd(fd, e->hex, &bytes);
	if (r < 0) {
		say(err, errlen, "bundle: '%s': %s", rel, strerror(-r));
		return r;
	}
	l->bytes += bytes;
	if (l->bytes > BUNDLE_MAX_BYTES) {
		say(err, errlen, "bundle: larger than %llu bytes", (unsigned long long)BUNDLE_MAX_BYTES);
		return -EFBIG;
	}
	if (!(e->path = strdup(rel))) return -ENOMEM;
	l->n++;
	return 0;
}

/* Every regular file outside _uext/ with its digest, sorted by path. */
static int digest_bundle(int dirfd, struct list *l, char *err, size_t errlen)
{
	memset(l, 0, sizeof *l);
	struct walker w = { .skip_sig_dir = true, .file = digest_file, .ctx = l };
	int r = walk(dirfd, "", 0, &w, err, errlen);
	if (r < 0) {
		list_done(l);
		return r;
	}
	qsort(l->v, l->n, sizeof *l->v, cmp_entry);
	return 0;
}

/* The exact bytes that are signed: a version line, the signer, then one
 * "<sha256 hex> <path>" line per file in bytewise path order. l must be sorted and its
 * paths free of control characters, so no line can be forged. */
static char *canonical(const char *publisher, const char *key_id, const struct list *l, size_t *ret_len)
{
	size_t cap = 64 + strlen(publisher) + strlen(key_id);
	for (size_t i = 0; i < l->n; i++) cap += strlen(l->v[i].path) + HEX_LEN + 3;
	char *s = malloc(cap);
	if (!s) return NULL;
	size_t n = (size_t)snprintf(s, cap, "uext-bundle-v1\npublisher %s\nkey_id %s\n", publisher, key_id);
	for (size_t i = 0; i < l->n; i++) n += (size_t)snprintf(s + n, cap - n, "%s %s\n", l->v[i].hex, l->v[i].path);
	*ret_len = n;
	return s;
}

static bool publisher_ok(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > 64 || p[0] == '.') return false;
	return strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static void key_id_of(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[KEY_ID_LEN + 1])
{
	sodium_bin2hex(out, KEY_ID_LEN + 1, pk, KEY_ID_BYTES);
}

/* Parse "uext-ed25519-<kind> <publisher> <base64>\n" into publisher and raw key. A
 * secret key must hold the public key of its own seed: a damaged file is refused here
 * rather than producing signatures nobody can verify. */
static int parse_key(const char *text, const char *kind, char publisher[65], unsigned char *key, size_t keylen)
{
	char k[32], p[128], b64[256], want[32];
	int r = -EINVAL;
	if (sscanf(text, "%31s %127s %255s", k, p, b64) != 3) goto err;
	snprintf(want, sizeof want, "uext-ed25519-%s", kind);
	if (strcmp(k, want) != 0 || !publisher_ok(p)) goto err;
	size_t got = 0;
	if (sodium_base642bin(key, keylen, b64, strlen(b64), NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != keylen)
		goto err;
	if (keylen == crypto_sign_SECRETKEYBYTES) {
		unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
		crypto_sign_seed_keypair(pk, sk, key); /* the seed is the first half */
		bool same = sodium_memcmp(sk, key, sizeof sk) == 0;
		sodium_memzero(sk, sizeof sk);
		if (!same) goto err;
	}
	strcpy(publisher, p);
	r = 0;
err:
	sodium_memzero(b64, sizeof b64);
	if (r < 0) sodium_memzero(key, keylen);
	return r;
}

/* Create path (never replace it) holding text with mode; on failure nothing is left. */
static int write_new(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) return -errno;
	int r = write_all(fd, text, strlen(text));
	/* fchmod: the umask must not widen nor narrow what the file promises */
	if (r == 0 && (fchmod(fd, mode) < 0 || fsync(fd) < 0)) r = -errno;
	if (close(fd) < 0 && r == 0) r = -errno;
	if (r < 0) unlink(path);
	return r;
}

int bundle_keygen(const char *dir, const char *publisher, char *err, size_t errlen)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	char b64[sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL)];
	char line[512], kp[4096], pp[4096];
	bool made_key = false;
	int r;

	if (sodium_init() < 0) return -EIO;
	if (!publisher_ok(publisher)) {
		say(err, errlen, "publisher '%s' must be 1-64 of [A-Za-z0-9._-], not starting with '.'", publisher);
		return -EINVAL;
	}
	if ((r = mkdir_p(dir, 0755)) < 0) {
		say(err, errlen, "'%s': %s", dir, strerror(-r));
		return r;
	}
	if (fmt_path(kp, sizeof kp, "%s/%s.key", dir, publisher) < 0 ||
	    fmt_path(pp, sizeof pp, "%s/%s.pub", dir, publisher) < 0) {
		say(err, errlen, "'%s': path too long", dir);
		return -ENAMETOOLONG;
	}
	/* Check both first: half a pair must not be written beside an existing other half.
	 * O_EXCL below still closes the race. */
	struct stat st;
	if (lstat(kp, &st) == 0 || lstat(pp, &st) == 0) {
		say(err, errlen, "a key for '%s' already exists in '%s': not overwriting it", publisher, dir);
		return -EEXIST;
	}
	crypto_sign_keypair(pk, sk);
	sodium_bin2base64(b64, sizeof b64, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof line, "uext-ed25519-secret %s %s\n", publisher, b64);
	r = write_new(kp, line, 0600);
	if (r < 0) {
		say(err, errlen, "'%s': %s", kp, r == -EEXIST ? "already exists, not overwriting it" : strerror(-r));
		goto err;
	}
	made_key = true;
	sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof line, "uext-ed25519-public %s %s\n", publisher, b64);
	r = write_new(pp, line, 0644);
	if (r < 0) {
		say(err, errlen, "'%s': %s", pp, r == -EEXIST ? "already exists, not overwriting it" : strerror(-r));
		goto err;
	}
err:
	if (r < 0 && made_key) unlink(kp);
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(b64, sizeof b64);
	sodium_memzero(line, sizeof line);
	return r;
}

/* Write _uext/signature through descriptors: a _uext that is a symlink is refused, so
 * signing never writes outside the bundle. Temp file + rename: a crash leaves the old
 * signature or the new one, never half of one. */
static int write_sig(int dfd, const char *json, char *err, size_t errlen)
{
	unsigned char rnd[8];
	char tmp[64] = "", hex[2 * sizeof rnd + 1];
	int sdir = -1, fd = -1, r = 0;

	if (mkdirat(dfd, BUNDLE_SIG_DIR, 0755) < 0 && errno != EEXIST) goto fail;
	sdir = openat(dfd, BUNDLE_SIG_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sdir < 0) goto fail;
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(tmp, sizeof tmp, ".%s.tmp-%s", SIG_NAME, hex);
	fd = openat(sdir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) goto fail;
	if ((r = write_all(fd, json, strlen(json))) < 0) goto err;
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) goto fail;
	r = close(fd);
	fd = -1;
	if (r < 0 || renameat(sdir, tmp, sdir, SIG_NAME) < 0) goto fail;
	if (fsync(sdir) < 0) goto fail;
	close(sdir);
	return 0;
fail:
	r = -errno;
err:
	if (sdir < 0 && (r == -ELOOP || r == -ENOTDIR))
		say(err, errlen, "'%s' is a symbolic link or not a directory; refused", BUNDLE_SIG_DIR);
	else
		say(err, errlen, "'%s': %s", BUNDLE_SIG_FILE, strerror(-r));
	if (fd >= 0) close(fd);
	if (sdir >= 0) {
		unlinkat(sdir, tmp, 0);
		close(sdir);
	}
	return r;
}

int bundle_sign(const char *bundle_path, const char *keyfile, const char *publisher, char *err, size_t errlen)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char kpub[65], key_id[KEY_ID_LEN + 1];
	char *text = NULL, *canon = NULL, *json = NULL;
	size_t tlen = 0, clen = 0;
	struct list l = { 0 };
	json_t *o = NULL, *files = NULL;
	int dfd = -1, r;

	if (sodium_init() < 0) return -EIO;
	if ((r = read_file_capped(keyfile, KEY_MAX_BYTES, &text, &tlen)) < 0) {
		say(err, errlen, "key '%s': %s", keyfile, r == -E2BIG ? "too large for a key file" : strerror(-r));
		goto err;
	}
	r = parse_key(text, "secret", kpub, sk, sizeof sk);
	sodium_memzero(text, tlen);
	if (r < 0) {
		say(err, errlen, "key '%s' is not a uext secret key (made by 'uextctl keygen')", keyfile);
		goto err;
	}
	if (strcmp(kpub, publisher) != 0) {
		say(err, errlen, "key '%s' belongs to publisher '%s', the manifest says '%s'", keyfile, kpub, publisher);
		r = -EINVAL;
		goto err;
	}
	dfd = open(bundle_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		say(err, errlen, "'%s': %s", bundle_path, strerror(errno));
		goto err;
	}
	if ((r = digest_bundle(dfd, &l, err, errlen)) < 0) goto err;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	key_id_of(pk, key_id);
	if (!(canon = canonical(publisher, key_id, &l, &clen))) {
		r = -ENOMEM;
		goto err;
	}
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon, clen, sk);
	sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);

	r = -ENOMEM;
	if (!(o = json_object()) || !(files = json_object())) goto err;
	for (size_t i = 0; i < l.n; i++) {
		/* jansson refuses keys that are not UTF-8: the signature file is JSON */
		if (json_object_set_new(files, l.v[i].path, json_string(l.v[i].hex)) < 0) {
			say(err, errlen, "bundle: file name '%s' is not valid UTF-8", l.v[i].path);
			r = -EINVAL;
			goto err;
		}
	}
	if (json_object_set_new(o, "format", json_integer(1)) < 0 ||
	    json_object_set_new(o, "publisher", json_string(publisher)) < 0 ||
	    json_object_set_new(o, "key_id", json_string(key_id)) < 0 ||
	    json_object_set_new(o, "signature", json_string(sig64)) < 0)
		goto err;
	r = json_object_set_new(o, "files", files);
	files = NULL; /* stolen, even on failure */
	if (r < 0 || !(json = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS))) {
		r = -ENOMEM;
		goto err;
	}
	r = write_sig(dfd, json, err, errlen);
err:
	sodium_memzero(sk, sizeof sk);
	if (dfd >= 0) close(dfd);
	list_done(&l);
	json_decref(files);
	json_decref(o);
	free(json);
	free(canon);
	free(text);
	return r;
}

/* Append to err: load_pubkeys reports every file it skipped, not only the last. */
static void say_more(char *err, size_t errlen, const char *what, const char *name)
{
	if (!err || !errlen) return;
	size_t used = strnlen(err, errlen);
	if (used + 1 >= errlen) return;
	snprintf(err + used, errlen - used, "%sbad key file '%s' (%s)", used ? "; " : "", name, what);
}

int bundle_load_pubkeys(const char *dir, struct pubkey **ret, size_t *ret_n, char *err, size_t errlen)
{
	struct pubkey *v = NULL;
	size_t n = 0;
	DIR *d = NULL;
	int r = 0;

	*ret = NULL;
	*ret_n = 0;
	if (err && errlen) err[0] = 0;
	if (!(d = opendir(dir))) {
		/* no key directory: nothing is trusted, which is not an error */
		if (errno == ENOENT) return 0;
		r = -errno;
		say(err, errlen, "'%s': %s", dir, strerror(errno));
		return r;
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		size_t nl = strlen(nm);
		if (nl < 5 || strcmp(nm + nl - 4, ".pub") != 0 || nm[0] == '.') continue;
		char p[4096], *text = NULL;
		struct pubkey k;
		if (fmt_path(p, sizeof p, "%s/%s", dir, nm) < 0) {
			say_more(err, errlen, "path too long", nm);
			continue;
		}
		int e = read_file_capped(p, KEY_MAX_BYTES, &text, NULL);
		if (e == 0) e = parse_key(text, "public", k.publisher, k.pk, sizeof k.pk);
		free(text);
		if (e < 0) {
			say_more(err, errlen, e == -EINVAL ? "not a uext public key" : strerror(-e), nm);
			continue;
		}
		/* The admin trusts what the file name says: a key copied under another
		 * publisher's name would trust a publisher nobody chose. "P.pub" or, to keep
		 * an old and a new key during a rotation, "P.<anything>.pub". */
		size_t pl = strlen(k.publisher);
		if (pl > nl - 4 || memcmp(nm, k.publisher, pl) != 0 || nm[pl] != '.') {
			say_more(err, errlen, "its name does not start with its publisher", nm);
			continue;
		}
		struct pubkey *nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv) {
			r = -ENOMEM;
			goto err;
		}
		v = nv;
		v[n++] = k;
	}
	if (errno) {
		r = -errno;
		say(err, errlen, "'%s': %s", dir, strerror(errno));
		goto err;
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
err:
	closedir(d);
	free(v);
	return r;
}

/* Open _uext/signature without following a link in either component: verification
 * must read the bundle's own signature, not one a link points at. */
static int open_sig(int dirfd, char *err, size_t errlen)
{
	int fd = -1, e;
	int sdir = openat(dirfd, BUNDLE_SIG_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sdir >= 0) {
		fd = openat(sdir, SIG_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		e = errno;
		close(sdir);
	} else {
		e = errno;
	}
	if (fd >= 0) return fd;
	if (e == ENOENT) {
		say(err, errlen, "bundle is not signed (no %s)", BUNDLE_SIG_FILE);
		return -ENOENT;
	}
	if (e == ELOOP || e == ENOTDIR) {
		say(err, errlen, "%s: a symbolic link or not a directory; refused", BUNDLE_SIG_FILE);
		return -EBADMSG;
	}
	say(err, errlen, "%s: %s", BUNDLE_SIG_FILE, strerror(e));
	return -e;
}

/* Read and parse the signature file, every field checked. *ret keeps the strings alive. */
static int load_sig(int dirfd, json_t **ret, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	json_t *o = NULL;
	int r, fd = open_sig(dirfd, err, errlen);
	if (fd < 0) return fd;
	r = read_fd_capped(fd, SIG_MAX_BYTES, &text, &len);
	close(fd);
	if (r < 0) {
		say(err, errlen, "%s: %s", BUNDLE_SIG_FILE,
		    r == -EINVAL  ? "not a regular file"
		    : r == -E2BIG ? "larger than 4 MiB"
				  : strerror(-r));
		return r == -EINVAL || r == -E2BIG ? -EBADMSG : r;
	}
	json_error_t je;
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!o) {
		say(err, errlen, "%s is malformed: %s (line %d)", BUNDLE_SIG_FILE, je.text, je.line);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

/* The recorded list, checked and sorted as the walk would sort it. */
static int recorded_list(json_t *files, struct list *l, char *err, size_t errlen)
{
	size_t nf = json_object_size(files);
	const char *k;
	json_t *v;
	if (nf > BUNDLE_MAX_FILES) {
		say(err, errlen, "%s lists more than %u files", BUNDLE_SIG_FILE, BUNDLE_MAX_FILES);
		return -EBADMSG;
	}
	if (!(l->v = calloc(nf ? nf : 1, sizeof *l->v))) return -ENOMEM;
	l->cap = nf;
	json_object_foreach(files, k, v) {
		const char *h = json_string_value(v);
		if (!h || !hex_ok(h, HEX_LEN) || !rel_ok(k)) {
			say(err, errlen, "%s has a malformed entry", BUNDLE_SIG_FILE);
			return -EBADMSG;
		}
		if (!(l->v[l->n].path = strdup(k))) return -ENOMEM;
		memcpy(l->v[l->n].hex, h, HEX_LEN + 1);
		l->n++;
	}
	qsort(l->v, l->n, sizeof *l->v, cmp_entry);
	return 0;
}

int bundle_verify_at(int dirfd, const char *publisher, const struct pubkey *keys, size_t nkeys, char *err, size_t errlen)
{
	struct list rec = { 0 }, disk = { 0 };
	json_t *o = NULL, *files = NULL;
	const char *pub = NULL, *kid = NULL, *sig64 = NULL;
	json_int_t format = 0;
	char *canon = NULL;
	size_t clen = 0;
	int r;

	if (sodium_init() < 0) return -EIO;
	if ((r = load_sig(dirfd, &o, err, errlen)) < 0) return r;
	if (json_unpack(o, "{s:I,s:s,s:s,s:o,s:s}", "format", &format, "publisher", &pub, "key_id", &kid, "files",
			&files, "signature", &sig64) != 0 ||
	    format != 1 || !json_is_object(files)) {
		say(err, errlen, "%s is malformed: it needs format 1, publisher, key_id, files and signature",
		    BUNDLE_SIG_FILE);
		r = -EBADMSG;
		goto err;
	}
	if (strcmp(pub, publisher) != 0) {
		say(err, errlen, "signed by '%.64s' but the manifest says publisher '%s'", name_ok(pub) ? pub : "?",
		    publisher);
		r = -EBADMSG;
		goto err;
	}
	bool known = false;
	for (size_t i = 0; i < nkeys; i++) {
		char id[KEY_ID_LEN + 1];
		key_id_of(keys[i].pk, id);
		if (strcmp(keys[i].publisher, pub) == 0 && strcmp(id, kid) == 0) known = true;
	}
	if (!known) {
		say(err, errlen, "no trusted key for publisher '%s' (key id %.16s)", publisher,
		    hex_ok(kid, strlen(kid)) ? kid : "?");
		r = -EKEYREJECTED;
		goto err;
	}
	/* The signature covers the recorded list: rebuild its text and check it first. */
	if ((r = recorded_list(files, &rec, err, errlen)) < 0) goto err;
	if (!(canon = canonical(pub, kid, &rec, &clen))) {
		r = -ENOMEM;
		goto err;
	}
	unsigned char sig[crypto_sign_BYTES];
	size_t got = 0;
	bool good = sodium_base642bin(sig, sizeof sig, sig64, strlen(sig64), NULL, &got, NULL,
				      sodium_base64_VARIANT_ORIGINAL) == 0 &&
		    got == sizeof sig;
	/* Every key with that publisher and id: a 64-bit id is a hint, not an identity. */
	bool ok = false;
	for (size_t i = 0; good && !ok && i < nkeys; i++) {
		char id[KEY_ID_LEN + 1];
		key_id_of(keys[i].pk, id);
		ok = strcmp(keys[i].publisher, pub) == 0 && strcmp(id, kid) == 0 &&
		     crypto_sign_verify_detached(sig, (const unsigned char *)canon, clen, keys[i].pk) == 0;
	}
	if (!ok) {
		say(err, errlen, "signature does not match (%s was changed or not made by '%s')", BUNDLE_SIG_FILE, pub);
		r = -EBADMSG;
		goto err;
	}
	/* Now the files must match the list, both ways. A link, a special file or a
	 * broken cap is a bundle that is not what was signed (err names it); I/O and
	 * memory errors stay what they are. */
	if ((r = digest_bundle(dirfd, &disk, err, errlen)) < 0) {
		if (r == -EINVAL || r == -E2BIG || r == -ELOOP || r == -EFBIG || r == -ENAMETOOLONG) r = -EBADMSG;
		goto err;
	}
	size_t i = 0, j = 0;
	while (i < rec.n || j < disk.n) {
		int c = i == rec.n ? 1 : j == disk.n ? -1 : strcmp(rec.v[i].path, disk.v[j].path);
		r = -EBADMSG;
		if (c < 0) {
			say(err, errlen, "bundle: file '%s' was removed after signing", rec.v[i].path);
			goto err;
		}
		if (c > 0) {
			say(err, errlen, "bundle: file '%s' was added after signing", disk.v[j].path);
			goto err;
		}
		if (strcmp(rec.v[i].hex, disk.v[j].hex) != 0) {
			say(err, errlen, "bundle: file '%s' was modified after signing", rec.v[i].path);
			goto err;
		}
		i++, j++;
	}
	r = 0;
err:
	list_done(&rec);
	list_done(&disk);
	free(canon);
	json_decref(o);
	return r;
}

/* Staging writes below a directory it just created itself (mode 0755, in a directory
 * only the caller writes), so paths relative to it cannot meet a symlink. */
struct copy {
	int dfd;
	dev_t dev; /* the temporary directory: a source that contains it would copy itself */
	ino_t ino;
	uint64_t bytes;
};

static int copy_dir(void *ctx, const char *rel, const struct stat *st, char *err, size_t errlen)
{
	struct copy *c = ctx;
	if (st->st_dev == c->dev && st->st_ino == c->ino) {
		say(err, errlen, "bundle: '%s' is the staging directory itself: cannot stage a bundle into itself", rel);
		return -EINVAL;
	}
	/* fchmodat: mkdirat's mode goes through the umask, the staged tree promises 0755 */
	if (mkdirat(c->dfd, rel, 0700) < 0 || fchmodat(c->dfd, rel, 0755, 0) < 0) {
		int e = -errno;
		say(err, errlen, "bundle: '%s': %s", rel, strerror(errno));
		return e;
	}
	return 0;
}

/* copy_file_range where the kernel can (one filesystem: a reflink or an in-kernel copy),
 * read/write where it cannot. A copy_file_range that returns 0 early (some filesystems
 * say 0 rather than an error) hands over to read(), which sees the real end. */
static int copy_data(int in, int out, uint64_t *bytes)
{
	bool plain = false;
	char buf[65536];
	for (;;) {
		ssize_t n;
		if (!plain) {
			n = copy_file_range(in, NULL, out, NULL, 1u << 20, 0);
			/* EPERM: container seccomp filters that predate the call answer so */
			if (n == 0 || (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
						 errno == EOPNOTSUPP || errno == EPERM))) {
				plain = true;
				continue;
			}
		} else {
			n = read(in, buf, sizeof buf);
			if (n > 0) {
				int r = write_all(out, buf, (size_t)n);
				if (r < 0) return r;
			}
		}
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return -errno;
		if (n == 0) return 0;
		*bytes += (uint64_t)n;
		/* a file growing while it is copied must not get past the cap */
		if (*bytes > BUNDLE_MAX_BYTES) return -EFBIG;
	}
}

static int copy_file(void *ctx, int in, const char *rel, const struct stat *st, char *err, size_t errlen)
{
	struct copy *c = ctx;
	/* any exec bit makes it executable for all; nothing else of the source mode survives */
	mode_t mode = (st->st_mode & 0111) ? 0755 : 0644;
	int out = -1, r = 0;
	if (c->bytes + (uint64_t)st->st_size > BUNDLE_MAX_BYTES) {
		r = -EFBIG;
		goto err;
	}
	out = openat(c->dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		goto err;
	}
	r = copy_data(in, out, &c->bytes);
	if (r == 0 && fchmod(out, mode) < 0) r = -errno;
	if (close(out) < 0 && r == 0) r = -errno;
	if (r == 0) return 0;
err:
	if (r == -EFBIG)
		say(err, errlen, "bundle: larger than %llu bytes (at '%s')", (unsigned long long)BUNDLE_MAX_BYTES, rel);
	else
		say(err, errlen, "bundle: '%s': %s", rel, strerror(-r));
	return r;
}

int bundle_stage(int src_dirfd, const char *dst_path, char *err, size_t errlen)
{
	char tmp[4096];
	struct stat st;
	int dfd = -1, r;
	bool made = false;

	if (err && errlen) err[0] = 0;
	/* lstat: a dangling symlink at dst_path exists too */
	if (lstat(dst_path, &st) == 0) {
		say(err, errlen, "'%s' already exists", dst_path);
		return -EEXIST;
	}
	if (errno != ENOENT) {
		r = -errno;
		say(err, errlen, "'%s': %s", dst_path, strerror(errno));
		return r;
	}
	if (fmt_path(tmp, sizeof tmp, "%s.tmp-XXXXXX", dst_path) < 0) {
		say(err, errlen, "'%s': path too long", dst_path);
		return -ENAMETOOLONG;
	}
	if (!mkdtemp(tmp)) {
		r = -errno;
		say(err, errlen, "'%s': %s", tmp, strerror(errno));
		return r;
	}
	made = true;
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || fchmod(dfd, 0755) < 0 || fstat(dfd, &st) < 0) {
		r = -errno;
		say(err, errlen, "'%s': %s", tmp, strerror(errno));
		goto err;
	}
	struct copy c = { .dfd = dfd, .dev = st.st_dev, .ino = st.st_ino };
	struct walker w = { .dir = copy_dir, .file = copy_file, .ctx = &c };
	if ((r = walk(src_dirfd, "", 0, &w, err, errlen)) < 0) goto err;
	close(dfd);
	dfd = -1;
	/* RENAME_NOREPLACE: whatever appeared at dst_path since the check stays untouched
	 * (plain rename() would replace an empty directory). */
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dst_path, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (r == -EINVAL || r == -ENOSYS) {
			/* a filesystem without RENAME_NOREPLACE: check again, as late as we can */
			if (lstat(dst_path, &st) == 0)
				r = -EEXIST;
			else
				r = rename(tmp, dst_path) < 0 ? -errno : 0;
		}
		if (r == -ENOTEMPTY) r = -EEXIST;
		if (r < 0) {
			say(err, errlen, "'%s': %s", dst_path, r == -EEXIST ? "already exists" : strerror(-r));
			goto err;
		}
	}
	return 0;
err:
	if (dfd >= 0) close(dfd);
	if (made) bundle_remove_tree(tmp);
	return r;
}

/* Remove name in parent; a directory is emptied first. Never follows a symlink: unlinkat
 * removes the link itself, and directories are opened O_NOFOLLOW. */
static int remove_at(int parent, const char *name, unsigned depth)
{
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
	if (errno != EISDIR && errno != EPERM) return -errno;
	if (depth > REMOVE_MAX_DEPTH) return -ELOOP;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	int r = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
		/* keep going past a failure: remove as much as possible, report the first */
		int e = remove_at(dirfd(d), de->d_name, depth + 1);
		if (e < 0 && r == 0) r = e;
	}
	if (errno && r == 0) r = -errno;
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0) r = -errno;
	return r;
}

int bundle_remove_tree(const char *path)
{
	char p[4096];
	if (!path || strlcpy_(p, path, sizeof p) >= sizeof p) return -EINVAL;
	/* "dir/" would make the kernel follow a symlink named dir: strip trailing slashes */
	size_t n = strlen(p);
	while (n > 0 && p[n - 1] == '/') p[--n] = 0;
	if (n == 0) return -EINVAL; /* "" or "/" */
	return remove_at(AT_FDCWD, p, 0);
}
