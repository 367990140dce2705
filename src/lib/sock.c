/* sock.c: what libuext's engine clients (es.c, ne.c) share: reaching uextd's socket for
 * root processes and bounded waits on it. */
#include <errno.h>
#include <poll.h>

#include "common/ctlclient.h"
#include "common/paths.h"
#include "lib/internal.h"

int uext_lib_connect_engine(enum uext_lib_engine which)
{
	struct uext_paths p;
	if (uext_paths_init(&p, uext_paths_root_from_env(NULL)) < 0) return -ENAMETOOLONG;
	return ctl_connect_once(which == UEXT_LIB_ENGINE_NE ? p.ne : p.es);
}

int uext_lib_wait_readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	for (;;) {
		int n = poll(&p, 1, ms);
		if (n > 0) return 0;
		if (n == 0) return -ETIMEDOUT;
		if (errno != EINTR) return -errno;
	}
}
