/* fan_floor.c: the mechanism floor of a user-space AUTH monitor. One thread, one fanotify
 * permission group with a filesystem mark on the given directory's filesystem
 * (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM), every event answered FAN_ALLOW at once by the
 * thread that read it: no second process, no decision, no cache. What any monitor built on
 * fanotify permission events pays at least, measured beside uext and fapolicyd.
 *
 *   usage: fan_floor DIR    (prints "ready" on stderr once marked and "events=N" on stdout
 *                            at SIGTERM/SIGINT, then exits 0)
 *
 * Safety: mark only a filesystem the bench mounted for itself (bench/es/run.sh marks its
 * scratch tmpfs). An answer is written for every event read, before the next read. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fan_floor DIR\n");
		return 2;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fan < 0) {
		fprintf(stderr, "fan_floor: fanotify_init: %s\n", strerror(errno));
		return 1;
	}
	if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM, AT_FDCWD,
			  argv[1]) < 0) {
		fprintf(stderr, "fan_floor: fanotify_mark %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(stderr, "ready\n");
	unsigned long long events = 0;
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	while (!stop) {
		struct pollfd p = { .fd = fan, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) continue; /* EINTR: stop was set */
		ssize_t n = read(fan, buf, sizeof buf);
		if (n <= 0) continue;
		struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
		for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			if (m->fd < 0) continue;
			struct fanotify_response r = { .fd = m->fd, .response = FAN_ALLOW };
			if (write(fan, &r, sizeof r) < 0 && errno != ENOENT)
				fprintf(stderr, "fan_floor: response: %s\n", strerror(errno));
			close(m->fd);
			events++;
		}
	}
	close(fan); /* anything still queued is allowed by the kernel */
	printf("events=%llu\n", events);
	return 0;
}
