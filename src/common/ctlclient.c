/* ctlclient.c: connect to uextd (waiting for it to be ready, bounded) and do one call. */
#include "ctlclient.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int ctl_connect_once(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

int ctl_connect(const char *path, int timeout_ms)
{
	uint64_t deadline = now_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	char dir[PATH_MAX];
	strlcpy_(dir, path, sizeof dir);
	char *slash = strrchr(dir, '/');
	if (slash) *slash = 0;
	int in = -1;
	bool watching = false;
	for (;;) {
		int fd = ctl_connect_once(path);
		if (fd >= 0 || (fd != -ENOENT && fd != -ECONNREFUSED)) {
			if (in >= 0) close(in);
			return fd;
		}
		uint64_t now = now_mono_ms();
		if (now >= deadline) {
			if (in >= 0) close(in);
			return -ETIMEDOUT;
		}
		if (in < 0) in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (in >= 0 && !watching && inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) >= 0) {
			watching = true;
			continue; /* re-try once after arming, to close the race with creation */
		}
		/* The socket may exist before listen(): an inotify event is a hint, and a
		 * refused connect waits for the next one, capped at 50 ms per round. Until the
		 * directory exists there is nothing to watch (poll ignores fd -1): 50 ms rounds. */
		struct pollfd p = { watching ? in : -1, POLLIN, 0 };
		uint64_t left = deadline - now;
		if (poll(&p, 1, (int)(left < 50 ? left : 50)) > 0) {
			char buf[4096];
			while (read(in, buf, sizeof buf) > 0) {}
		}
	}
}

int ctl_call(int fd, struct ipc_msg *req, struct ipc_msg *ret, int timeout_ms)
{
	static uint32_t seq; /* unique per process, also across threads (tests use many) */
	req->seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
	int r = ipc_send(fd, req);
	if (r < 0) return r;
	uint64_t deadline = now_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = now_mono_ms();
		if (now >= deadline) return -ETIMEDOUT;
		struct pollfd p = { fd, POLLIN, 0 };
		int n = poll(&p, 1, (int)(deadline - now));
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return -errno;
		if (n == 0) return -ETIMEDOUT;
		r = ipc_recv(fd, ret);
		if (r < 0) return r == -ECONNRESET ? -ECONNRESET : r;
		if (ret->type == IPC_REPLY && ret->seq == req->seq) return 0;
		ipc_msg_done(ret);
	}
}
