/* paths.c derives every uext path from one root directory. */
#include "paths.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JOIN(dst, ...) (snprintf(dst, sizeof dst, __VA_ARGS__) >= (int)sizeof dst)

int uext_paths_init(struct uext_paths *p, const char *root)
{
	memset(p, 0, sizeof *p);
	if (root && *root && strcmp(root, "/") != 0) {
		char *abs = realpath(root, NULL);
		if (!abs) return -errno;
		if (strlen(abs) >= sizeof p->root) {
			free(abs);
			return -ENAMETOOLONG;
		}
		strcpy(p->root, abs);
		free(abs);
		if (strcmp(p->root, "/") == 0) p->root[0] = 0;
	}
	if (JOIN(p->conf, "%s/etc/uext", p->root) || JOIN(p->keys, "%s/keys", p->conf) ||
	    JOIN(p->policy, "%s/policy.json", p->conf) || JOIN(p->state, "%s/var/lib/uext", p->root) ||
	    JOIN(p->db, "%s/registry.db", p->state) || JOIN(p->bundles, "%s/bundles", p->state) ||
	    JOIN(p->data, "%s/data", p->state) || JOIN(p->run, "%s/run/uext", p->root) ||
	    JOIN(p->control, "%s/control.sock", p->run) ||
	    JOIN(p->lock, "%s/uextd.lock", p->run) ||
	    JOIN(p->es, "%s/es.sock", p->run) || JOIN(p->ne, "%s/ne.sock", p->run))
		return -ENAMETOOLONG;
	return 0;
}

const char *uext_paths_root_from_env(const char *opt)
{
	if (opt) return opt;
	const char *e = getenv("UEXT_ROOT");
	return e && *e ? e : NULL;
}

int uext_paths_manager(const struct uext_paths *p, pid_t *pid)
{
	*pid = 0;
	int fd = open(p->lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) return errno == ENOENT ? 0 : -errno;
	struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int r = fcntl(fd, F_GETLK, &q) < 0 ? -errno : q.l_type != F_UNLCK;
	if (r > 0 && q.l_pid > 0) *pid = q.l_pid;
	close(fd);
	return r;
}
