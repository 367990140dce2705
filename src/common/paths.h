/* paths.h owns where uext keeps things, all below one root so tests and demos can run
 * beside a real installation: <root>/etc/uext, <root>/var/lib/uext, <root>/run/uext. */
#pragma once

#include <limits.h>
#include <sys/types.h>

struct uext_paths {
	char root[PATH_MAX];    /* "" for the real system ("/") */
	char conf[PATH_MAX];    /* <root>/etc/uext */
	char keys[PATH_MAX];    /* <conf>/keys: trusted publisher public keys */
	char policy[PATH_MAX];  /* <conf>/policy.json */
	char state[PATH_MAX];   /* <root>/var/lib/uext */
	char db[PATH_MAX];      /* <state>/registry.db */
	char bundles[PATH_MAX]; /* <state>/bundles: staged copies */
	char data[PATH_MAX];    /* <state>/data: one writable directory per extension */
	char run[PATH_MAX];     /* <root>/run/uext */
	char control[PATH_MAX]; /* <run>/control.sock */
	char lock[PATH_MAX];    /* <run>/uextd.lock: held (POSIX lock) by the one uextd of this root */
	char es[PATH_MAX];      /* <run>/es.sock: Endpoint Security clients */
	char ne[PATH_MAX];      /* <run>/ne.sock: network filters */
};

/* root: NULL or "" or "/" for the system paths; otherwise an absolute or relative
 * directory (made absolute). Returns 0 or -ENAMETOOLONG / -errno from realpath. */
int uext_paths_init(struct uext_paths *p, const char *root);
/* Root from --root, else $UEXT_ROOT, else the system. */
const char *uext_paths_root_from_env(const char *opt);
/* Whether a uextd holds p->lock: 1 (its pid in *pid, 0 when it lives in another pid
 * namespace), 0 when none does, or -errno. Only reads: a starting uextd is never
 * disturbed. */
int uext_paths_manager(const struct uext_paths *p, pid_t *pid);
