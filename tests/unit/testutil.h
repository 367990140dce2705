/* testutil.h: small helpers shared by unit tests (header-only: each test is one program). */
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

/* Copy a file (e.g. /bin/true into a test's tmpfs) with mode. 0 or -1. */
static inline int copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[65536];
	int in, out, rc = 0;
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			rc = -1;
			break;
		}
	if (n < 0)
		rc = -1;
	close(in);
	if (close(out) < 0)
		rc = -1;
	return rc;
}
