/* test_ipc.c: the wire codec — round trips with fds, every malformed shape refused, and
 * an allocation-failure loop (malloc/realloc wrapped at link time) with no leak. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ipc.h"

/* Allocation failure injection: the n-th allocation from here on fails. */
static long fail_countdown = -1;
void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n)
{
	if (fail_countdown == 0) return NULL;
	if (fail_countdown > 0) fail_countdown--;
	return __real_malloc(n);
}
void *__wrap_realloc(void *p, size_t n)
{
	if (fail_countdown == 0) return NULL;
	if (fail_countdown > 0) fail_countdown--;
	return __real_realloc(p, n);
}

static void pair(int sv[2]) { assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0); }

static void test_roundtrip(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	struct ipc_msg m, r;
	assert_int_equal(ipc_msg_init(&m, CTL_PREFS_SET, 7), 0);
	assert_int_equal(ipc_put_str(&m, T_DOMAIN, "org.example.a"), 0);
	assert_int_equal(ipc_put_str(&m, T_KEY, "k"), 0);
	char big[5000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(ipc_put_str(&m, T_VALUE, big), 0); /* forces a realloc */
	assert_int_equal(ipc_put_u64(&m, T_GEN, 0x1122334455667788ull), 0);
	assert_int_equal(ipc_put_u32(&m, T_FLAGS, IPC_F_EXPECT_GEN), 0);
	assert_int_equal(ipc_put_str(&m, T_KEY, "again"), -EINVAL); /* a tag twice */
	assert_int_equal(ipc_send(sv[0], &m), 0);
	ipc_msg_done(&m);
	assert_int_equal(ipc_recv(sv[1], &r), 0);
	assert_int_equal(r.type, CTL_PREFS_SET);
	assert_int_equal(r.seq, 7);
	const char *s;
	uint64_t g;
	uint32_t f;
	assert_int_equal(ipc_get_str(&r, T_DOMAIN, &s), 0);
	assert_string_equal(s, "org.example.a");
	assert_int_equal(ipc_get_str(&r, T_VALUE, &s), 0);
	assert_string_equal(s, big);
	assert_int_equal(ipc_get_u64(&r, T_GEN, &g), 0);
	assert_true(g == 0x1122334455667788ull);
	assert_int_equal(ipc_get_u32(&r, T_FLAGS, &f), 0);
	assert_int_equal(f, IPC_F_EXPECT_GEN);
	assert_int_equal(ipc_get_u32(&r, T_GEN, &f), -EBADMSG); /* wrong kind */
	assert_int_equal(ipc_get_str(&r, T_IDENT, &s), -ENOENT);
	ipc_msg_done(&r);
	close(sv[0]);
	close(sv[1]);
}

static void test_fd_passing(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	struct ipc_msg m, r;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ipc_msg_init(&m, CTL_INSTALL, 1), 0);
	assert_int_equal(ipc_put_str(&m, T_PATH, "/x"), 0);
	assert_int_equal(ipc_take_fd(&m, fd), 0);
	assert_int_equal(ipc_send(sv[0], &m), 0);
	ipc_msg_done(&m);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* sent fds are closed */
	assert_int_equal(ipc_recv(sv[1], &r), 0);
	int got;
	assert_int_equal(ipc_msg_take_fd(&r, &got), 0);
	struct stat a, b;
	assert_int_equal(fstat(got, &a), 0);
	assert_int_equal(stat("/dev/null", &b), 0);
	assert_true(a.st_rdev == b.st_rdev);
	close(got);
	ipc_msg_done(&r);

	/* install without its fd, and status with an fd, are both refused */
	assert_int_equal(ipc_msg_init(&m, CTL_INSTALL, 2), 0);
	assert_int_equal(ipc_put_str(&m, T_PATH, "/x"), 0);
	assert_int_equal(ipc_send(sv[0], &m), 0);
	ipc_msg_done(&m);
	assert_int_equal(ipc_recv(sv[1], &r), -EBADMSG);
	assert_int_equal(ipc_msg_init(&m, CTL_STATUS, 3), 0);
	assert_int_equal(ipc_take_fd(&m, open("/dev/null", O_RDONLY | O_CLOEXEC)), 0);
	assert_int_equal(ipc_send(sv[0], &m), 0);
	ipc_msg_done(&m);
	assert_int_equal(ipc_recv(sv[1], &r), -EBADMSG);
	close(sv[0]);
	assert_int_equal(ipc_recv(sv[1], &r), -ECONNRESET);
	close(sv[1]);
}

/* Raw builders for hostile input. */
struct raw {
	uint8_t b[512];
	size_t n;
};
static void raw_hdr(struct raw *r, uint16_t type, uint16_t nf)
{
	memset(r, 0, sizeof *r);
	memcpy(r->b, &type, 2);
	memcpy(r->b + 2, &nf, 2);
	r->n = 16;
}
static void raw_field(struct raw *r, uint16_t tag, uint16_t kind, uint32_t len, const void *d, size_t dn)
{
	memcpy(r->b + r->n, &tag, 2);
	memcpy(r->b + r->n + 2, &kind, 2);
	memcpy(r->b + r->n + 4, &len, 4);
	memcpy(r->b + r->n + 8, d, dn);
	r->n += 8 + ((dn + 3) & ~3u);
}
static int raw_decode(struct raw *r)
{
	uint32_t len = (uint32_t)r->n;
	memcpy(r->b + 4, &len, 4);
	struct ipc_msg m;
	int e = ipc_msg_decode(r->b, r->n, &m);
	if (e == 0) ipc_msg_done(&m);
	return e;
}

static void test_hostile(void **state)
{
	(void)state;
	struct raw r;
	uint32_t u = 1;
	uint64_t g = 1;
	raw_hdr(&r, CTL_APPROVE, 1);
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	assert_int_equal(raw_decode(&r), 0); /* the valid baseline */

	raw_hdr(&r, CTL_APPROVE, 1);
	raw_field(&r, T_IDENT, IPC_STR, 3, "abc", 3); /* no NUL */
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 1);
	raw_field(&r, T_IDENT, IPC_STR, 4, "a\0c", 4); /* embedded NUL */
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 1);
	raw_field(&r, T_IDENT, IPC_STR, 0, "", 0); /* empty string field */
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 0); /* required field missing */
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 2); /* same tag twice */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 2); /* a tag this type does not carry */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	raw_field(&r, T_GEN, IPC_U64, 8, &g, 8);
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 2); /* known tag, wrong kind */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	raw_field(&r, T_FLAGS, IPC_U64, 8, &g, 8);
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 2); /* right kind, wrong size */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	raw_field(&r, T_FLAGS, IPC_U32, 2, &u, 2);
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, 999, 0); /* unknown type */
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 1); /* field length past the end */
	raw_field(&r, T_IDENT, IPC_STR, 0xffffffffu, "abc", 4);
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 2); /* field count larger than present */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 1); /* trailing bytes */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	r.n += 4;
	assert_int_equal(raw_decode(&r), -EBADMSG);
	raw_hdr(&r, CTL_APPROVE, 1); /* header length disagrees with the datagram */
	raw_field(&r, T_IDENT, IPC_STR, 4, "abc", 4);
	uint32_t bad = 12;
	memcpy(r.b + 4, &bad, 4);
	struct ipc_msg m;
	assert_int_equal(ipc_msg_decode(r.b, r.n, &m), -EBADMSG);
	assert_int_equal(ipc_msg_decode(r.b, 3, &m), -EBADMSG); /* shorter than a header */

	/* A datagram over the cap is truncated by the kernel and refused. */
	int sv[2];
	pair(sv);
	int sz = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	size_t big = IPC_MAX_MSG + 64;
	uint8_t *p = calloc(1, big);
	assert_non_null(p);
	if (send(sv[0], p, big, 0) == (ssize_t)big) assert_int_equal(ipc_recv(sv[1], &m), -EBADMSG);
	free(p);
	close(sv[0]);
	close(sv[1]);
}

static void test_caps(void **state)
{
	(void)state;
	struct ipc_msg m;
	assert_int_equal(ipc_msg_init(&m, IPC_REPLY, 1), 0);
	char *huge = malloc(IPC_MAX_MSG + 1);
	assert_non_null(huge);
	memset(huge, 'a', IPC_MAX_MSG);
	huge[IPC_MAX_MSG] = 0;
	assert_int_equal(ipc_put_str(&m, T_JSON, huge), -E2BIG);
	free(huge);
	for (unsigned i = 0; i < IPC_MAX_FIELDS; i++) assert_int_equal(ipc_put_u32(&m, (uint16_t)(100 + i), i), 0);
	assert_int_equal(ipc_put_u32(&m, 200, 0), -E2BIG);
	ipc_msg_done(&m);
}

/* Every allocation in build, send, receive and decode fails in turn: each must give
 * -ENOMEM (never a crash or a leak) until the whole path succeeds. */
static void test_oom_loop(void **state)
{
	(void)state;
	int sv[2];
	pair(sv);
	char value[3000];
	memset(value, 'v', sizeof value - 1);
	value[sizeof value - 1] = 0;
	long n;
	for (n = 0; n < 1000; n++) {
		struct ipc_msg m = { 0 }, r = { 0 };
		int e;
		fail_countdown = n;
		if ((e = ipc_msg_init(&m, CTL_PREFS_SET, 1)) == 0 && (e = ipc_put_str(&m, T_DOMAIN, "d")) == 0 &&
		    (e = ipc_put_str(&m, T_KEY, "k")) == 0 && (e = ipc_put_str(&m, T_VALUE, value)) == 0) {
			fail_countdown = -1;
			assert_int_equal(ipc_send(sv[0], &m), 0);
			fail_countdown = n;
			e = ipc_recv(sv[1], &r);
		}
		fail_countdown = -1;
		ipc_msg_done(&m);
		if (e == 0) {
			const char *s;
			assert_int_equal(ipc_get_str(&r, T_VALUE, &s), 0);
			assert_string_equal(s, value);
			ipc_msg_done(&r);
			struct ipc_msg d;
			fail_countdown = 0;
			assert_int_equal(ipc_msg_decode("0123456789abcdef", 16, &d), -ENOMEM);
			fail_countdown = -1;
			break;
		}
		assert_int_equal(e, -ENOMEM);
	}
	assert_true(n > 1); /* the loop really injected failures */
	assert_true(n < 1000);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_fd_passing), cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_caps),      cmocka_unit_test(test_oom_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
