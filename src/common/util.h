/* util.h: small helpers shared by the daemon, the library and the tools. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

uint64_t now_mono_ms(void);
uint64_t now_mono_ns(void);
uint64_t now_mono_us(void);
int64_t now_real_ms(void);

/* The same inode, unmodified between the two stats: device, inode, size, mtime, ctime. */
bool stat_same_file(const struct stat *a, const struct stat *b);

/* mkdir -p with mode for the directories it creates. */
int mkdir_p(const char *path, mode_t mode);
/* Read the whole regular file behind fd (borrowed), at most cap bytes, NUL-terminated
 * (*ret malloc'ed). -EINVAL when not a regular file, -E2BIG when larger than cap, also
 * when it grows past cap while being read. */
int read_fd_capped(int fd, size_t cap, char **ret, size_t *ret_len);
/* The same for a path; opened O_NONBLOCK so a fifo cannot hang the caller. */
int read_file_capped(const char *path, size_t cap, char **ret, size_t *ret_len);
/* Write a file atomically (temp file + fsync + rename) with mode. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* snprintf into a fixed buffer; -ENAMETOOLONG when it does not fit. */
int fmt_path(char *dst, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copy with truncation, always NUL-terminated. Returns strlen(src). */
size_t strlcpy_(char *dst, const char *src, size_t n);
/* An IPv4 or IPv6 address in text ("[v6]" as URLs write it too) and a port, as a socket
 * address and its length. -EINVAL if text is not an address. */
int sockaddr_from_text(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);
