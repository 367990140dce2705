/* bundle.h owns what makes a bundle trustworthy: the digest of every file, the Ed25519
 * signature over it, publisher keys, and the staged private copy the manager runs from.
 *
 * Signature file: <bundle>/_uext/signature, a JSON object
 *   { "format": 1, "publisher": P, "key_id": hex(first 8 bytes of the public key),
 *     "files": { "relative/path": "sha256 hex", ... },   (every regular file except _uext/)
 *     "signature": base64(Ed25519 over the canonical text of the fields above) }
 * The canonical text is "uext-bundle-v1\npublisher P\nkey_id K\n" then one
 * "<sha256 hex> <path>\n" per file, paths sorted bytewise; names with control
 * characters are refused, so no line can be forged.
 * Verification recomputes every file's digest and reports the first file that was
 * changed, added or removed by name. */
#pragma once

#include <stddef.h>
#include <sodium.h>

#define BUNDLE_MAX_FILES 4096u
#define BUNDLE_MAX_DEPTH 16u
#define BUNDLE_MAX_BYTES (1024ull * 1024 * 1024) /* total size, for staging */
#define BUNDLE_SIG_DIR "_uext"
#define BUNDLE_SIG_FILE "_uext/signature"

struct pubkey {
	char publisher[65];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
};

/* Write <dir>/<publisher>.key (secret, mode 0600) and <dir>/<publisher>.pub (public).
 * Refuses to overwrite an existing key (-EEXIST). Key file format: one line,
 * "uext-ed25519-secret <publisher> <base64>" / "uext-ed25519-public <publisher> <base64>". */
int bundle_keygen(const char *dir, const char *publisher, char *err, size_t errlen);

/* Sign the bundle at path with the secret key file; the key's publisher must equal
 * publisher (the caller read it from the manifest). Writes _uext/signature atomically. */
int bundle_sign(const char *bundle_path, const char *keyfile, const char *publisher,
		char *err, size_t errlen);

/* Load every "<dir>/NAME.pub". ret is malloc'ed; *ret_n may be 0. Bad files are skipped
 * (their names go into err, the call still succeeds); so is a key whose NAME is not its
 * publisher or "<publisher>.<anything>" (several keys of one publisher, for a rotation).
 * A missing dir is no key at all. */
int bundle_load_pubkeys(const char *dir, struct pubkey **ret, size_t *ret_n, char *err, size_t errlen);

/* Verify the bundle at dirfd against the trusted keys: signature present, signer equal
 * to publisher (the caller read it from the manifest), every file digest matching. Returns 0, -ENOENT
 * (unsigned: no signature file), -EKEYREJECTED (unknown publisher key), -EBADMSG (bad
 * signature, signed by another publisher, a malformed or symlinked signature file, or a
 * file changed / added / missing: err names the file). */
int bundle_verify_at(int dirfd, const char *publisher, const struct pubkey *keys, size_t nkeys, char *err, size_t errlen);

/* Copy the bundle at src_dirfd into a new directory dst_path (must not exist: -EEXIST):
 * regular files and directories only (a symlink, device, fifo or socket is refused with
 * its name, -EINVAL), at most BUNDLE_MAX_FILES files and directories, BUNDLE_MAX_DEPTH
 * deep, BUNDLE_MAX_BYTES total. The copy is owned by the caller (root in uextd), files
 * 0644 (0755 when the source had any exec bit), dirs 0755, whatever the umask. It is
 * built beside dst_path and renamed into place: on error nothing is left at dst_path. */
int bundle_stage(int src_dirfd, const char *dst_path, char *err, size_t errlen);

/* Remove a directory tree (staged bundles), never following a symlink inside it.
 * Missing is success; "" and "/" are -EINVAL. */
int bundle_remove_tree(const char *path);
