/* fan_floor.c: the mechanism floor of a user-space AUTH monitor. One thread, one fanotify
 * permission group with a filesystem mark on the given directory's filesystem
 * (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM), every event answered FAN_ALLOW at once by the
 * thread that read it: no second process, no decision, no cache. What any monitor built on
 * fanotify permission events pays at least, measured beside uext and fapolicyd.
 *
 * With --relay, the floor of a monitor whose decisions are made in another process (uext's
 * shape: the manager holds fanotify, the client decides): the reader sends each event's fd
 * number (8 bytes) to a child over a SOCK_SEQPACKET socketpair, waits in a blocking recv
 * for the child to send it back, and answers. Nothing else: no event data, no process
 * lookup, no deadline, no other client. --pin puts both processes on the CPU the reader
 * starts on, as uext co-locates a client with its engine. --spin makes both sides poll
 * the socket instead of sleeping in recv: the child burns a CPU for as long as it lives,
 * which no product may do, so this is the best a second process can do on the machine.
 *
 *   usage: fan_floor [--relay [--pin] [--spin]] DIR
 *          (prints "ready" on stderr once marked and "events=N" on stdout at SIGTERM/SIGINT,
 *           then exits 0)
 *
 * Safety: mark only a filesystem the bench mounted for itself (bench/es/run.sh marks its
 * scratch tmpfs). An answer is written for every event read, before the next read; the
 * child dies with the reader (PR_SET_PDEATHSIG), and a reader whose child is gone answers
 * itself. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static int spin_flags; /* MSG_DONTWAIT with --spin: both sides poll instead of sleeping */

static void on_signal(int sig) { stop = sig; }

static void usage(void)
{
	fprintf(stderr, "usage: fan_floor [--relay [--pin] [--spin]] DIR\n");
	exit(2);
}

/* The deciding process: every message comes back as it went. */
static _Noreturn void relay_child(int s)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int64_t fd;
	for (;;) {
		ssize_t n = recv(s, &fd, sizeof fd, spin_flags);
		if (n < 0 && errno == EAGAIN) continue;
		if (n == 0 || (n < 0 && errno != EINTR)) _exit(0);
		if (n == sizeof fd && send(s, &fd, sizeof fd, MSG_NOSIGNAL) < 0) _exit(0);
	}
}

/* The child's answer for fd (true: it came back), or false when the child is gone. */
static bool relay(int s, int fd)
{
	int64_t v = fd, back = -1;
	if (send(s, &v, sizeof v, MSG_NOSIGNAL) != sizeof v) return false;
	for (;;) {
		ssize_t n = recv(s, &back, sizeof back, spin_flags);
		if (n == sizeof back) return back == v;
		if (n < 0 && (errno == EAGAIN || errno == EINTR) && !stop) continue;
		return false;
	}
}

int main(int argc, char **argv)
{
	bool use_relay = false, pin = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--relay")) use_relay = true;
		else if (!strcmp(argv[i], "--pin")) pin = true;
		else if (!strcmp(argv[i], "--spin")) spin_flags = MSG_DONTWAIT;
		else usage();
	}
	if (i != argc - 1 || ((pin || spin_flags) && !use_relay)) usage();
	const char *dir = argv[i];
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int s = -1;
	if (use_relay) {
		if (pin) {
			cpu_set_t one;
			CPU_ZERO(&one);
			CPU_SET(sched_getcpu(), &one);
			if (sched_setaffinity(0, sizeof one, &one) < 0) {
				fprintf(stderr, "fan_floor: sched_setaffinity: %s\n", strerror(errno));
				return 1;
			}
		}
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
			fprintf(stderr, "fan_floor: socketpair: %s\n", strerror(errno));
			return 1;
		}
		pid_t child = fork(); /* before fanotify_init: the child holds no group */
		if (child < 0) {
			fprintf(stderr, "fan_floor: fork: %s\n", strerror(errno));
			return 1;
		}
		if (child == 0) {
			close(sv[0]);
			relay_child(sv[1]);
		}
		close(sv[1]);
		s = sv[0];
	}
	int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (fan < 0) {
		fprintf(stderr, "fan_floor: fanotify_init: %s\n", strerror(errno));
		return 1;
	}
	if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM, AT_FDCWD,
			  dir) < 0) {
		fprintf(stderr, "fan_floor: fanotify_mark %s: %s\n", dir, strerror(errno));
		return 1;
	}
	fprintf(stderr, "ready\n");
	unsigned long long events = 0, relayed = 0;
	char buf[4096] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));
	while (!stop) {
		struct pollfd p = { .fd = fan, .events = POLLIN };
		if (poll(&p, 1, -1) < 0) continue; /* EINTR: stop was set */
		ssize_t n = read(fan, buf, sizeof buf);
		if (n <= 0) continue;
		struct fanotify_event_metadata *m = (struct fanotify_event_metadata *)buf;
		for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			if (m->fd < 0) continue;
			if (s >= 0) {
				if (relay(s, m->fd)) relayed++;
				else if (!stop) {
					fprintf(stderr, "fan_floor: the relay child is gone, answering alone\n");
					close(s);
					s = -1;
				}
			}
			struct fanotify_response r = { .fd = m->fd, .response = FAN_ALLOW };
			if (write(fan, &r, sizeof r) < 0 && errno != ENOENT)
				fprintf(stderr, "fan_floor: response: %s\n", strerror(errno));
			close(m->fd);
			events++;
		}
	}
	close(fan); /* anything still queued is allowed by the kernel */
	printf("events=%llu", events);
	if (use_relay) printf(" relayed=%llu", relayed);
	printf("\n");
	return 0;
}
