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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define SIG_MAX_BYTES (4u << 20)
#define KEY_MAX_BYTES 4096u
#define REL_MAX 1024u

struct entry {
	char *path; /* relative, '/'-separated */
	char hex[crypto_hash_sha256_BYTES * 2 + 1];
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

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static bool name_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
	return true;
}

static int hash_fd(int fd, char hex[static crypto_hash_sha256_BYTES * 2 + 1], uint64_t *ret_bytes)
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
		if (total > BUNDLE_MAX_BYTES) return -EFBIG;
	}
	crypto_hash_sha256_final(&st, out);
	sodium_bin2hex(hex, crypto_hash_sha256_BYTES * 2 + 1, out, sizeof out);
	if (ret_bytes) *ret_bytes = total;
	return 0;
}

/* What a walk does with each entry. rel is the '/'-separated path from the top. */
struct walker {
	bool skip_sig_dir; /* leave out the top-level _uext/ (the signature itself) */
	int (*dir)(void *ctx, const char *rel, char *err, size_t errlen);
	/* fd: the file, opened O_RDONLY|O_NONBLOCK (borrowed); st: its fstat */
	int (*file)(void *ctx, int fd, const char *rel, const struct stat *st, char *err, size_t errlen);
	void *ctx;
	unsigned files;
};

/* Walk the tree at top (borrowed): regular files and directories only, at most
 * BUNDLE_MAX_FILES files, BUNDLE_MAX_DEPTH deep; anything else is refused by name. */
static int walk(int top, const char *prefix, unsigned depth, struct walker *w, char *err, size_t errlen)
{
	if (depth > BUNDLE_MAX_DEPTH) {
		say(err, errlen, "bundle: '%s' is nested deeper than %u directories", prefix, BUNDLE_MAX_DEPTH);
		return -ELOOP;
	}
	int fd = openat(top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return -errno;
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
			say(err, errlen, "bundle: a file name under '%s' has control characters", prefix[0] ? prefix : ".");
			r = -EINVAL;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			say(err, errlen, "bundle: '%s': %s", rel, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = -errno;
				say(err, errlen, "bundle: '%s': %s", rel, strerror(errno));
				break;
			}
			r = w->dir ? w->dir(w->ctx, rel, err, errlen) : 0;
			if (r == 0) r = walk(sub, rel, depth + 1, w, err, errlen);
			close(sub);
			if (r < 0) break;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			say(err, errlen, "bundle: '%s' is a %s; bundles hold only regular files and directories", rel,
			    S_ISLNK(st.st_mode) ? "symbolic link" : "special file");
			r = -EINVAL;
			break;
		}
		if (++w->files > BUNDLE_MAX_FILES) {
			say(err, errlen, "bundle: more than %u files", BUNDLE_MAX_FILES);
			r = -E2BIG;
			break;
		}
		/* O_NONBLOCK: a file swapped for a fifo after the stat must not hang us. */
		int ffd = openat(dirfd(d), nm, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat fst;
		if (ffd < 0)
			r = -errno;
		else if (fstat(ffd, &fst) < 0)
			r = -errno;
		else if (!S_ISREG(fst.st_mode))
			r = -EINVAL;
		if (r < 0) {
			say(err, errlen, "bundle: '%s': %s", rel, strerror(-r));
			if (ffd >= 0) close(ffd);
			break;
		}
		r = w->file(w->ctx, ffd, rel, &fst, err, errlen);
		close(ffd);
		if (r < 0) break;
	}
	if (r == 0 && errno) r = -errno;
	closedir(d);
	return r;
}

static int digest_file(void *ctx, int fd, const char *rel, const struct stat *st, char *err, size_t errlen)
{
	struct list *l = ctx;
	(void)st;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32;
		struct entry *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv) return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
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

/* The exact bytes that are signed. */
static char *canonical(const char *publisher, const char *key_id, const struct list *l, size_t *ret_len)
{
	size_t cap = 64 + strlen(publisher) + strlen(key_id);
	for (size_t i = 0; i < l->n; i++) cap += strlen(l->v[i].path) + 67;
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

static void key_id_of(const unsigned char pk[crypto_sign_PUBLICKEYBYTES], char out[17])
{
	sodium_bin2hex(out, 17, pk, 8);
}

/* Parse "uext-ed25519-<kind> <publisher> <base64>\n" into publisher and raw key. */
static int parse_key(const char *text, const char *kind, char publisher[65], unsigned char *key, size_t keylen)
{
	char k[32], p[128], b64[256];
	if (sscanf(text, "%31s %127s %255s", k, p, b64) != 3) return -EINVAL;
	char want[32];
	snprintf(want, sizeof want, "uext-ed25519-%s", kind);
	if (strcmp(k, want) != 0 || !publisher_ok(p)) return -EINVAL;
	size_t got = 0;
	if (sodium_base642bin(key, keylen, b64, strlen(b64), NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != keylen)
		return -EINVAL;
	strcpy(publisher, p);
	return 0;
}

static int write_new(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) return -errno;
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			int e = -errno;
			close(fd);
			unlink(path);
			return e;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		int e = -errno;
		unlink(path);
		return e;
	}
	return 0;
}

int bundle_keygen(const char *dir, const char *publisher, char *err, size_t errlen)
{
	if (sodium_init() < 0) return -EIO;
	if (!publisher_ok(publisher)) {
		say(err, errlen, "publisher '%s' must be 1-64 of [A-Za-z0-9._-], not starting with '.'", publisher);
		return -EINVAL;
	}
	int r = mkdir_p(dir, 0755);
	if (r < 0) {
		say(err, errlen, "'%s': %s", dir, strerror(-r));
		return r;
	}
	char kp[4096], pp[4096];
	if (fmt_path(kp, sizeof kp, "%s/%s.key", dir, publisher) < 0 || fmt_path(pp, sizeof pp, "%s/%s.pub", dir, publisher) < 0)
		return -ENAMETOOLONG;
	if (access(kp, F_OK) == 0 || access(pp, F_OK) == 0) {
		say(err, errlen, "a key for '%s' already exists in '%s': not overwriting it", publisher, dir);
		return -EEXIST;
	}
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	crypto_sign_keypair(pk, sk);
	char b64[sodium_base64_ENCODED_LEN(crypto_sign_SECRETKEYBYTES, sodium_base64_VARIANT_ORIGINAL)];
	char line[512];
	sodium_bin2base64(b64, sizeof b64, sk, sizeof sk, sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof line, "uext-ed25519-secret %s %s\n", publisher, b64);
	r = write_new(kp, line, 0600);
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(b64, sizeof b64);
	sodium_memzero(line, sizeof line);
	if (r < 0) {
		say(err, errlen, "'%s': %s", kp, strerror(-r));
		return r;
	}
	sodium_bin2base64(b64, sizeof b64, pk, sizeof pk, sodium_base64_VARIANT_ORIGINAL);
	snprintf(line, sizeof line, "uext-ed25519-public %s %s\n", publisher, b64);
	r = write_new(pp, line, 0644);
	if (r < 0) {
		unlink(kp);
		say(err, errlen, "'%s': %s", pp, strerror(-r));
	}
	return r;
}

int bundle_sign(const char *bundle_path, const char *keyfile, const char *publisher, char *err, size_t errlen)
{
	if (sodium_init() < 0) return -EIO;
	char *text = NULL, *canon = NULL, *json = NULL;
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	char kpub[65];
	struct list l = { 0 };
	json_t *o = NULL;
	int dfd = -1;
	int r = read_file_capped(keyfile, KEY_MAX_BYTES, &text, NULL);
	if (r < 0) {
		say(err, errlen, "key '%s': %s", keyfile, strerror(-r));
		goto out;
	}
	r = parse_key(text, "secret", kpub, sk, sizeof sk);
	sodium_memzero(text, strlen(text));
	if (r < 0) {
		say(err, errlen, "key '%s' is not a uext secret key (made by 'uextctl keygen')", keyfile);
		goto out;
	}
	if (strcmp(kpub, publisher) != 0) {
		say(err, errlen, "key '%s' belongs to publisher '%s', the manifest says '%s'", keyfile, kpub, publisher);
		r = -EINVAL;
		goto out;
	}
	dfd = open(bundle_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		r = -errno;
		say(err, errlen, "'%s': %s", bundle_path, strerror(errno));
		goto out;
	}
	if ((r = digest_bundle(dfd, &l, err, errlen)) < 0) goto out;
	char key_id[17];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	key_id_of(pk, key_id);
	size_t clen;
	if (!(canon = canonical(publisher, key_id, &l, &clen))) {
		r = -ENOMEM;
		goto out;
	}
	unsigned char sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon, clen, sk);
	char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
	json_t *files = json_object();
	o = json_pack("{s:i,s:s,s:s,s:o,s:s}", "format", 1, "publisher", publisher, "key_id", key_id, "files", files,
		      "signature", sig64);
	for (size_t i = 0; o && i < l.n; i++) json_object_set_new(files, l.v[i].path, json_string(l.v[i].hex));
	if (!o || !(json = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS))) {
		r = -ENOMEM;
		goto out;
	}
	if (mkdirat(dfd, BUNDLE_SIG_DIR, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		say(err, errlen, "'%s/%s': %s", bundle_path, BUNDLE_SIG_DIR, strerror(errno));
		goto out;
	}
	char sp[4096];
	if ((r = fmt_path(sp, sizeof sp, "%s/%s", bundle_path, BUNDLE_SIG_FILE)) < 0 ||
	    (r = write_file_atomic(sp, json, strlen(json), 0644)) < 0)
		say(err, errlen, "'%s/%s': %s", bundle_path, BUNDLE_SIG_FILE, strerror(-r));
out:
	sodium_memzero(sk, sizeof sk);
	if (dfd >= 0) close(dfd);
	list_done(&l);
	json_decref(o);
	free(json);
	free(canon);
	free(text);
	return r;
}

int bundle_load_pubkeys(const char *dir, struct pubkey **ret, size_t *ret_n, char *err, size_t errlen)
{
	*ret = NULL;
	*ret_n = 0;
	if (err && errlen) err[0] = 0;
	DIR *d = opendir(dir);
	if (!d) return errno == ENOENT ? 0 : -errno;
	struct pubkey *v = NULL;
	size_t n = 0;
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 5 || strcmp(de->d_name + nl - 4, ".pub") != 0 || de->d_name[0] == '.') continue;
		char p[4096], *text = NULL;
		if (fmt_path(p, sizeof p, "%s/%s", dir, de->d_name) < 0) continue;
		struct pubkey k;
		if (read_file_capped(p, KEY_MAX_BYTES, &text, NULL) < 0 || parse_key(text, "public", k.publisher, k.pk, sizeof k.pk) < 0) {
			size_t used = err ? strlen(err) : 0;
			if (err && errlen > used + 4)
				snprintf(err + used, errlen - used, "%sbad key file '%s'", used ? "; " : "", de->d_name);
			free(text);
			continue;
		}
		free(text);
		struct pubkey *nv = realloc(v, (n + 1) * sizeof *v);
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		v[n++] = k;
	}
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int bundle_verify_at(int dirfd, const char *publisher, const struct pubkey *keys, size_t nkeys, char *err, size_t errlen)
{
	if (sodium_init() < 0) return -EIO;
	struct list rec = { 0 }, disk = { 0 };
	json_t *o = NULL;
	char *canon = NULL;
	int r;
	int sfd = openat(dirfd, BUNDLE_SIG_FILE, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (sfd < 0) {
		r = errno == ENOENT ? -ENOENT : -errno;
		say(err, errlen, r == -ENOENT ? "bundle is not signed (no %s)" : "%s: cannot open", BUNDLE_SIG_FILE);
		return r;
	}
	struct stat st;
	if (fstat(sfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)SIG_MAX_BYTES) {
		close(sfd);
		say(err, errlen, "%s is not a regular file of at most %u bytes", BUNDLE_SIG_FILE, SIG_MAX_BYTES);
		return -EBADMSG;
	}
	json_error_t je;
	o = json_loadfd(sfd, JSON_REJECT_DUPLICATES, &je);
	close(sfd);
	const char *pub = NULL, *kid = NULL, *sig64 = NULL;
	json_t *files = NULL;
	json_int_t format = 0;
	if (!o || json_unpack(o, "{s:I,s:s,s:s,s:o,s:s}", "format", &format, "publisher", &pub, "key_id", &kid, "files",
			      &files, "signature", &sig64) != 0 ||
	    format != 1 || !json_is_object(files)) {
		say(err, errlen, "%s is malformed%s%s", BUNDLE_SIG_FILE, o ? "" : ": ", o ? "" : je.text);
		r = -EBADMSG;
		goto out;
	}
	if (strcmp(pub, publisher) != 0) {
		say(err, errlen, "signed by '%s' but the manifest says publisher '%s'", pub, publisher);
		r = -EBADMSG;
		goto out;
	}
	const struct pubkey *key = NULL;
	for (size_t i = 0; i < nkeys && !key; i++) {
		char id[17];
		key_id_of(keys[i].pk, id);
		if (strcmp(keys[i].publisher, pub) == 0 && strcmp(id, kid) == 0) key = &keys[i];
	}
	if (!key) {
		say(err, errlen, "no trusted key for publisher '%s' (key id %.16s)", pub, kid);
		r = -EKEYREJECTED;
		goto out;
	}
	/* Rebuild the signed text from the recorded list. */
	size_t nf = json_object_size(files);
	if (nf > BUNDLE_MAX_FILES) {
		say(err, errlen, "%s lists more than %u files", BUNDLE_SIG_FILE, BUNDLE_MAX_FILES);
		r = -EBADMSG;
		goto out;
	}
	rec.v = calloc(nf ? nf : 1, sizeof *rec.v);
	if (!rec.v) {
		r = -ENOMEM;
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(files, k, v) {
		const char *h = json_string_value(v);
		if (!h || strlen(h) != crypto_hash_sha256_BYTES * 2 || strlen(k) >= REL_MAX || !name_ok(k)) {
			say(err, errlen, "%s has a malformed entry", BUNDLE_SIG_FILE);
			r = -EBADMSG;
			goto out;
		}
		if (!(rec.v[rec.n].path = strdup(k))) {
			r = -ENOMEM;
			goto out;
		}
		strcpy(rec.v[rec.n].hex, h);
		rec.n++;
	}
	qsort(rec.v, rec.n, sizeof *rec.v, cmp_entry);
	size_t clen;
	if (!(canon = canonical(pub, kid, &rec, &clen))) {
		r = -ENOMEM;
		goto out;
	}
	unsigned char sig[crypto_sign_BYTES];
	size_t got = 0;
	if (sodium_base642bin(sig, sizeof sig, sig64, strlen(sig64), NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != sizeof sig || crypto_sign_verify_detached(sig, (const unsigned char *)canon, clen, key->pk) != 0) {
		say(err, errlen, "signature does not match (%s was changed or not made by '%s')", BUNDLE_SIG_FILE, pub);
		r = -EBADMSG;
		goto out;
	}
	/* The signature covers the list; now the files must match the list, both ways. */
	if ((r = digest_bundle(dirfd, &disk, err, errlen)) < 0) goto out;
	size_t i = 0, j = 0;
	while (i < rec.n || j < disk.n) {
		int c = i == rec.n ? 1 : j == disk.n ? -1 : strcmp(rec.v[i].path, disk.v[j].path);
		if (c < 0) {
			say(err, errlen, "bundle: file '%s' was removed after signing", rec.v[i].path);
			r = -EBADMSG;
			goto out;
		}
		if (c > 0) {
			say(err, errlen, "bundle: file '%s' was added after signing", disk.v[j].path);
			r = -EBADMSG;
			goto out;
		}
		if (strcmp(rec.v[i].hex, disk.v[j].hex) != 0) {
			say(err, errlen, "bundle: file '%s' was modified after signing", rec.v[i].path);
			r = -EBADMSG;
			goto out;
		}
		i++, j++;
	}
	r = 0;
out:
	list_done(&rec);
	list_done(&disk);
	free(canon);
	json_decref(o);
	return r;
}

/* Staging writes below a directory it just created itself, so paths relative to it
 * cannot meet a symlink. */
struct copy {
	int dfd;
	uint64_t bytes;
};

static int copy_dir(void *ctx, const char *rel, char *err, size_t errlen)
{
	struct copy *c = ctx;
	if (mkdirat(c->dfd, rel, 0755) < 0) {
		say(err, errlen, "bundle: '%s': %s", rel, strerror(errno));
		return -errno;
	}
	return 0;
}

static int copy_file(void *ctx, int in, const char *rel, const struct stat *st, char *err, size_t errlen)
{
	struct copy *c = ctx;
	mode_t mode = (st->st_mode & 0111) ? 0755 : 0644;
	int out = openat(c->dfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (out < 0) {
		say(err, errlen, "bundle: '%s': %s", rel, strerror(errno));
		return -errno;
	}
	int r = 0;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 20, 0);
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
			char buf[65536];
			n = read(in, buf, sizeof buf);
			if (n > 0 && write(out, buf, (size_t)n) != n) n = -1;
		}
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) break;
		c->bytes += (uint64_t)n;
		if (c->bytes > BUNDLE_MAX_BYTES) {
			say(err, errlen, "bundle: larger than %llu bytes", (unsigned long long)BUNDLE_MAX_BYTES);
			close(out);
			return -EFBIG;
		}
	}
	if (r == 0 && fchmod(out, mode) < 0) r = -errno;
	if (close(out) < 0 && r == 0) r = -errno;
	if (r < 0) say(err, errlen, "bundle: '%s': %s", rel, strerror(-r));
	return r;
}

int bundle_stage(int src_dirfd, const char *dst_path, char *err, size_t errlen)
{
	if (err && errlen) err[0] = 0;
	if (access(dst_path, F_OK) == 0) {
		say(err, errlen, "'%s' already exists", dst_path);
		return -EEXIST;
	}
	char tmp[4096];
	if (fmt_path(tmp, sizeof tmp, "%s.tmp-XXXXXX", dst_path) < 0) return -ENAMETOOLONG;
	if (!mkdtemp(tmp)) {
		int e = -errno;
		say(err, errlen, "'%s': %s", tmp, strerror(errno));
		return e;
	}
	chmod(tmp, 0755);
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		int e = -errno;
		rmdir(tmp);
		return e;
	}
	struct copy c = { .dfd = dfd };
	struct walker w = { .dir = copy_dir, .file = copy_file, .ctx = &c };
	int r = walk(src_dirfd, "", 0, &w, err, errlen);
	if (r == 0 && fsync(dfd) < 0) r = -errno;
	close(dfd);
	if (r == 0 && rename(tmp, dst_path) < 0) {
		r = -errno;
		say(err, errlen, "'%s': %s", dst_path, strerror(errno));
	}
	if (r < 0) bundle_remove_tree(tmp);
	return r;
}

static int remove_at(int parent, const char *name, unsigned depth)
{
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
	if (errno != EISDIR && errno != EPERM) return -errno;
	if (depth > 64) return -ELOOP;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
		int e = remove_at(dirfd(d), de->d_name, depth + 1);
		if (e < 0 && r == 0) r = e;
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0) r = -errno;
	return r;
}

int bundle_remove_tree(const char *path)
{
	if (!path || !*path || strcmp(path, "/") == 0) return -EINVAL;
	return remove_at(AT_FDCWD, path, 0);
}
