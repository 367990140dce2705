/* util.c: clocks, files and strings helpers with explicit caps. */
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint64_t now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_mono_us(void) { return now_mono_ns() / 1000u; }

uint64_t now_mono_ms(void) { return now_mono_us() / 1000u; }

int64_t now_real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool stat_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf) return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/') continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST) return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST) return -errno;
	return 0;
}

int read_fd_capped(int fd, size_t cap, char **ret, size_t *ret_len)
{
	struct stat st;
	if (fstat(fd, &st) < 0) return -errno;
	if (!S_ISREG(st.st_mode)) return -EINVAL;
	if ((uint64_t)st.st_size > cap) return -E2BIG;
	char *buf = malloc(cap + 1);
	if (!buf) return -ENOMEM;
	size_t len = 0;
	for (;;) {
		/* One byte past the cap: the file may have grown since fstat. */
		ssize_t n = read(fd, buf + len, cap + 1 - len);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (n == 0) break;
		len += (size_t)n;
		if (len > cap) {
			free(buf);
			return -E2BIG;
		}
	}
	buf[len] = 0;
	*ret = buf;
	if (ret_len) *ret_len = len;
	return 0;
}

int read_file_capped(const char *path, size_t cap, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) return -errno;
	int r = read_fd_capped(fd, cap, ret, ret_len);
	close(fd);
	return r;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) return -errno;
	const char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) goto err;
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) goto err;
	if (close(fd) < 0) {
		fd = -1;
		goto err;
	}
	if (rename(tmp, path) < 0) {
		int e = -errno;
		unlink(tmp);
		return e;
	}
	return 0;
err:;
	int e = -errno;
	if (fd >= 0) close(fd);
	unlink(tmp);
	return e;
}

int fmt_path(char *dst, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(dst, n, fmt, ap);
	va_end(ap);
	if (r < 0) return -EINVAL;
	return (size_t)r >= n ? -ENAMETOOLONG : 0;
}

size_t strlcpy_(char *dst, const char *src, size_t n)
{
	size_t l = strlen(src);
	if (n) {
		size_t c = l < n - 1 ? l : n - 1;
		memcpy(dst, src, c);
		dst[c] = 0;
	}
	return l;
}

int sockaddr_from_text(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char a[INET6_ADDRSTRLEN];
	size_t n = strlen(text);
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		text++;
		n -= 2;
	}
	if (n >= sizeof a) return -EINVAL;
	memcpy(a, text, n);
	a[n] = 0;
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, a, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		*len = sizeof *v4;
	} else if (inet_pton(AF_INET6, a, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		*len = sizeof *v6;
	} else {
		return -EINVAL;
	}
	return 0;
}
