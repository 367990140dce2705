/* ipc_garbage.c: a hostile control client. It sends COUNT datagrams of seeded random
 * shapes (random bytes; valid headers with lying lengths; truncated real messages;
 * fds where none belong), each on a fresh connection, and reports how many connections
 * uextd closed on it. The system test then checks that uextd still answers. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/ctlclient.h"

static uint32_t rng = 12345;
static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ipc_garbage SOCKET COUNT\n");
		return 2;
	}
	int count = atoi(argv[2]), closed = 0;
	for (int i = 0; i < count; i++) {
		int fd = ctl_connect(argv[1], 5000);
		if (fd < 0) {
			fprintf(stderr, "ipc_garbage: connect: %s\n", strerror(-fd));
			return 1;
		}
		uint8_t buf[512];
		size_t n = 1 + next() % sizeof buf;
		for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)next();
		struct ipc_msg m;
		switch (i % 4) {
		case 1: { /* a plausible header with a random type and a lying length */
			uint16_t type = (uint16_t)(next() % 70), nf = (uint16_t)(next() % 40);
			uint32_t len = next() % 1024;
			memcpy(buf, &type, 2);
			memcpy(buf + 2, &nf, 2);
			memcpy(buf + 4, &len, 4);
			if (n < 16) n = 16;
			break;
		}
		case 2: /* a real install request, truncated */
			if (ipc_msg_init(&m, CTL_INSTALL, 1) == 0) {
				ipc_put_str(&m, T_PATH, "/nonexistent");
				size_t cut = 1 + next() % m.len;
				memcpy(buf, m.buf, cut);
				n = cut;
				ipc_msg_done(&m);
			}
			break;
		case 3: /* a valid status request carrying an fd it must not carry */
			if (ipc_msg_init(&m, CTL_STATUS, 1) == 0) {
				ipc_take_fd(&m, open("/dev/null", O_RDONLY | O_CLOEXEC));
				ipc_send(fd, &m);
				ipc_msg_done(&m);
				n = 0;
			}
			break;
		}
		if (n) send(fd, buf, n, MSG_NOSIGNAL);
		/* uextd must close us (EOF) without answering garbage. */
		char c;
		struct timeval tv = { 5, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		ssize_t r = recv(fd, &c, 1, 0);
		if (r == 0) closed++;
		close(fd);
	}
	printf("sent=%d closed=%d\n", count, closed);
	return 0;
}
