/* test_ne_attr.c: the ne engine's process attribution (src/uextd/ne/attr.c + bpf/sock.bpf.c)
 * against the running kernel (needs root, eBPF and cgroup v2). The test moves into a
 * network namespace of its own (only lo, up), makes a child cgroup
 * <cgroup2 root>/uext-test-attr-<pid>, attaches the programs there (never to the root),
 * and forks children that join that cgroup, connect or send to listeners of this process
 * on 127.0.0.1 / ::1 and report what they see (port, SO_MARK, cookie, inode) through a
 * pipe; they keep their socket open until told to exit. Nothing leaves the namespace.
 * A watchdog (alarm) kills the children, removes the cgroup and fails the run.
 * Exit 77 when not root or without cgroup2 / network namespaces; without eBPF only the
 * sock_diag fallback runs, then 77. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "uextd/ne/attr.h"

#define WATCHDOG_S 60
#define MAX_KIDS 16
#define NOBODY 65534
#define MASK 0x07000000u
#define ALLOW 0x01000000u

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

enum job_kind { J_TCP, J_UDP_SENDTO, J_UDP_CONNECT, J_IDLE };

struct job {
	enum job_kind kind;
	int family;
	uint16_t port;     /* peer port (host order) */
	uint32_t uid;      /* setresuid to it first when non-zero */
	uint32_t pre_mark; /* SO_MARK set before connecting, when non-zero */
	const char *comm;
};

struct kid_res {
	int err; /* errno of the first failing step, 0 ok */
	int32_t pid;
	uint16_t lport;
	uint32_t mark;
	uint64_t cookie;
	uint64_t ino;
};

struct kid {
	pid_t pid;
	int go_fd; /* closing it lets the child exit */
	struct kid_res res;
};

static struct {
	struct ne_attr *a;
	char root[4096];
	char cg[4200];
	uint64_t cg_id;
	bool have_v6;
	int tcp4, tcp6, udp4, udp6, tcp4b; /* listeners of this process */
	uint16_t p_tcp4, p_tcp6, p_udp4, p_udp6, p_tcp4b;
	char exe[4096];
} g = { .tcp4 = -1, .tcp6 = -1, .udp4 = -1, .udp6 = -1, .tcp4b = -1 };

static volatile pid_t g_kids[MAX_KIDS];

static void kids_add(pid_t p)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (!g_kids[i]) {
			g_kids[i] = p;
			return;
		}
}

static void kids_del(pid_t p)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] == p)
			g_kids[i] = 0;
}

/* async-signal-safe: kill and reap the children, then the cgroup can go */
static void cleanup_cgroup(void)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (g_kids[i] > 0) {
			kill(g_kids[i], SIGKILL);
			waitpid(g_kids[i], NULL, 0);
			g_kids[i] = 0;
		}
	if (g.cg[0])
		rmdir(g.cg);
}

static void on_alarm(int sig)
{
	static const char m[] = "test_ne_attr: watchdog expired\n";

	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0) {
		/* nothing more to say */
	}
	cleanup_cgroup();
	_exit(1);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static socklen_t sa_of(int family, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	s6->sin6_addr = in6addr_loopback;
	return sizeof(*s6);
}

static uint16_t port_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int listener(int family, int type, uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sa_of(family, 0, &ss);
	int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
		close(fd);
		return -1;
	}
	*port = port_of(fd);
	return fd;
}

/* Accept and close what the children left in the listeners' queues: a full accept queue
 * would make the next connect() wait for SYN retransmits. */
static void drain_listeners(void)
{
	int tcp[] = { g.tcp4, g.tcp6, g.tcp4b }, udp[] = { g.udp4, g.udp6 };
	char buf[16];
	int c;

	for (size_t i = 0; i < sizeof(tcp) / sizeof(tcp[0]); i++)
		while (tcp[i] >= 0 && (c = accept4(tcp[i], NULL, NULL, SOCK_CLOEXEC)) >= 0)
			close(c);
	for (size_t i = 0; i < sizeof(udp) / sizeof(udp[0]); i++)
		while (udp[i] >= 0 && recv(udp[i], buf, sizeof(buf), 0) >= 0)
			;
}

/* --- children ----------------------------------------------------------------------- */

static void kid_main(const struct job *j, int res_fd, int go_fd)
{
	struct kid_res r = { 0 };
	struct sockaddr_storage ss;
	socklen_t sl = sa_of(j->family, j->port, &ss);
	char path[4300], c;
	struct stat st;
	int fd = -1, cg;

	r.pid = getpid();
	snprintf(path, sizeof(path), "%s/cgroup.procs", g.cg);
	cg = open(path, O_WRONLY | O_CLOEXEC);
	if (cg < 0 || write(cg, "0\n", 2) != 2) {
		r.err = errno;
		goto out;
	}
	close(cg);
	if (j->comm)
		prctl(PR_SET_NAME, j->comm, 0, 0, 0);
	if (j->uid && setresuid(j->uid, j->uid, j->uid) < 0) {
		r.err = errno;
		goto out;
	}
	fd = socket(j->family, (j->kind == J_TCP || j->kind == J_IDLE ? SOCK_STREAM : SOCK_DGRAM) |
				       SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r.err = errno;
		goto out;
	}
	if (j->pre_mark && setsockopt(fd, SOL_SOCKET, SO_MARK, &j->pre_mark, sizeof(j->pre_mark))) {
		r.err = errno;
		goto out;
	}
	switch (j->kind) {
	case J_TCP:
		if (connect(fd, (struct sockaddr *)&ss, sl) < 0)
			r.err = errno;
		break;
	case J_UDP_CONNECT:
		if (connect(fd, (struct sockaddr *)&ss, sl) < 0 || send(fd, "q", 1, 0) != 1)
			r.err = errno;
		break;
	case J_UDP_SENDTO:
		if (sendto(fd, "q", 1, 0, (struct sockaddr *)&ss, sl) != 1)
			r.err = errno;
		break;
	case J_IDLE:
		break;
	}
	r.lport = port_of(fd);
	sl = sizeof(r.mark);
	if (getsockopt(fd, SOL_SOCKET, SO_MARK, &r.mark, &sl) < 0 && !r.err)
		r.err = errno;
	sl = sizeof(r.cookie);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &r.cookie, &sl) < 0 && !r.err)
		r.err = errno;
	if (fstat(fd, &st) == 0)
		r.ino = st.st_ino;
out:
	if (write(res_fd, &r, sizeof(r)) != sizeof(r))
		_exit(2);
	while (read(go_fd, &c, 1) > 0)
		;
	_exit(0);
}

/* Fork a child that runs j and reports; it holds its socket until kid_done(). */
static void kid_start(const struct job *j, struct kid *k)
{
	int res[2], go[2];
	ssize_t n;

	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		close(res[0]);
		close(go[1]);
		kid_main(j, res[1], go[0]);
	}
	kids_add(k->pid);
	close(res[1]);
	close(go[0]);
	k->go_fd = go[1];
	n = read(res[0], &k->res, sizeof(k->res));
	close(res[0]);
	assert_int_equal(n, sizeof(k->res));
	if (k->res.err)
		fail_msg("child step failed: %s", strerror(k->res.err));
	assert_int_equal(k->res.pid, k->pid);
}

static void kid_done(struct kid *k)
{
	int st;

	close(k->go_fd);
	assert_int_equal(waitpid(k->pid, &st, 0), k->pid);
	kids_del(k->pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	drain_listeners();
}

/* The flow of child k towards the loopback peer port, as its packets show it. */
static void tuple_of(const struct job *j, const struct kid *k, struct ne_tuple *t)
{
	memset(t, 0, sizeof(*t));
	t->family = (uint8_t)j->family;
	t->proto = j->kind == J_TCP || j->kind == J_IDLE ? IPPROTO_TCP : IPPROTO_UDP;
	t->lport = k->res.lport;
	t->rport = j->port;
	if (j->family == AF_INET) {
		uint32_t lo = htonl(INADDR_LOOPBACK);

		memcpy(t->laddr, &lo, 4);
		memcpy(t->raddr, &lo, 4);
	} else {
		memcpy(t->laddr, &in6addr_loopback, 16);
		memcpy(t->raddr, &in6addr_loopback, 16);
	}
}

/* Every field the eBPF record gives, against what the child is. */
static void check_task(const struct ne_owner *o, const struct kid *k, uint32_t uid,
		       const char *comm)
{
	assert_true(o->flags & NE_OWNER_F_TASK);
	assert_int_equal(o->pid, k->pid);
	assert_int_equal(o->tid, k->pid);
	assert_int_equal(o->uid, uid);
	assert_int_equal(o->gid, 0);
	assert_int_equal(o->cgroup_id, g.cg_id);
	assert_int_equal(o->sock_cookie, k->res.cookie);
	assert_string_equal(o->comm, comm);
	assert_true(o->netns_cookie != 0);
}

static void check_exe(struct ne_owner *o)
{
	struct ne_attr_stats s;
	struct stat st;

	ne_attr_stats(g.a, &s);
	if (s.exe_id) {
		assert_true(o->flags & NE_OWNER_F_EXE_ID);
		assert_int_equal(stat(g.exe, &st), 0);
		assert_int_equal(o->exe_ino, st.st_ino);
		assert_int_equal(o->exe_dev, st.st_dev);
	}
	assert_int_equal(ne_attr_exe(g.a, o), 0);
	assert_string_equal(o->exe, g.exe);
	/* the second time comes from the cache: same answer */
	o->exe[0] = '\0';
	assert_int_equal(ne_attr_exe(g.a, o), 0);
	assert_string_equal(o->exe, g.exe);
}

/* --- tests -------------------------------------------------------------------------- */

static void tcp_case(int family, uint16_t port, uint32_t uid, const char *comm)
{
	struct job j = { J_TCP, family, port, uid, 0, comm };
	struct ne_owner o;
	struct ne_tuple t;
	struct kid k;

	alarm(WATCHDOG_S);
	kid_start(&j, &k);
	tuple_of(&j, &k, &t);
	assert_int_equal(ne_attr_lookup(g.a, &t, &o), 0);
	assert_int_equal(o.source, NE_ATTR_BPF);
	check_task(&o, &k, uid, comm);
	check_exe(&o);
	kid_done(&k);
}

static void test_tcp4(void **state)
{
	(void)state;
	tcp_case(AF_INET, g.p_tcp4, 0, "ne-tcp4");
}

static void test_tcp4_nobody(void **state)
{
	(void)state;
	tcp_case(AF_INET, g.p_tcp4, NOBODY, "ne-tcp4-nobody");
}

static void test_tcp6(void **state)
{
	(void)state;
	if (!g.have_v6)
		skip();
	tcp_case(AF_INET6, g.p_tcp6, 0, "ne-tcp6");
}

static void udp_case(enum job_kind kind, int family, uint16_t port, const char *comm,
		     uint8_t want_source)
{
	struct job j = { kind, family, port, 0, 0, comm };
	struct ne_owner o;
	struct ne_tuple t;
	struct kid k;

	alarm(WATCHDOG_S);
	kid_start(&j, &k);
	assert_true(k.res.lport != 0);
	tuple_of(&j, &k, &t); /* laddr = the loopback address, as the datagram carries it */
	assert_int_equal(ne_attr_lookup(g.a, &t, &o), 0);
	assert_int_equal(o.source, want_source);
	check_task(&o, &k, 0, comm);
	if (want_source == NE_ATTR_SOCKDIAG) {
		assert_true(o.flags & NE_OWNER_F_INODE);
		assert_int_equal(o.sock_ino, k.res.ino);
	}
	check_exe(&o);
	kid_done(&k);
}

/* unconnected: recorded per datagram by sendmsg4/6 with the autobound port */
static void test_udp4_sendto(void **state)
{
	(void)state;
	udp_case(J_UDP_SENDTO, AF_INET, g.p_udp4, "ne-udp4", NE_ATTR_BPF);
}

static void test_udp6_sendto(void **state)
{
	(void)state;
	if (!g.have_v6)
		skip();
	udp_case(J_UDP_SENDTO, AF_INET6, g.p_udp6, "ne-udp6", NE_ATTR_BPF);
}

/* connected: the port did not exist at connect(); sock_diag -> cookie -> owner */
static void test_udp4_connected(void **state)
{
	(void)state;
	udp_case(J_UDP_CONNECT, AF_INET, g.p_udp4, "ne-udp4c", NE_ATTR_SOCKDIAG);
}

static void test_udp6_connected(void **state)
{
	(void)state;
	if (!g.have_v6)
		skip();
	udp_case(J_UDP_CONNECT, AF_INET6, g.p_udp6, "ne-udp6c", NE_ATTR_SOCKDIAG);
}

static void test_unconnected_enoent(void **state)
{
	struct job j = { J_IDLE, AF_INET, 4242, 0, 0, "ne-idle" };
	struct ne_owner o;
	struct ne_tuple t;
	struct kid k;

	(void)state;
	alarm(WATCHDOG_S);
	kid_start(&j, &k);
	tuple_of(&j, &k, &t);
	t.lport = 40000; /* made up: nobody has it */
	assert_int_equal(ne_attr_lookup(g.a, &t, &o), -ENOENT);
	t.proto = IPPROTO_UDP;
	assert_int_equal(ne_attr_lookup(g.a, &t, &o), -ENOENT);
	assert_int_equal(ne_attr_lookup(NULL, &t, &o), -ENOENT);
	kid_done(&k);
}

/* The owner (with exe ids) of one TCP connect to port, for the cache tests. */
static void owner_for_cache(uint16_t port, struct ne_owner *o, struct ne_tuple *t)
{
	struct job j = { J_TCP, AF_INET, port, 0, 0, "ne-vc" };
	struct kid k;

	kid_start(&j, &k);
	tuple_of(&j, &k, t);
	assert_int_equal(ne_attr_lookup(g.a, t, o), 0);
	kid_done(&k);
}

/* SO_MARK of a fresh connect to port by the same program */
static uint32_t mark_of_connect(uint16_t port, uint32_t pre_mark)
{
	struct job j = { J_TCP, AF_INET, port, 0, pre_mark, "ne-vc" };
	struct kid k;

	kid_start(&j, &k);
	kid_done(&k);
	return k.res.mark;
}

static void test_vcache_mark(void **state)
{
	struct ne_attr_stats s0, s1;
	struct ne_owner o;
	struct ne_tuple t;

	(void)state;
	alarm(WATCHDOG_S);
	assert_int_equal(ne_attr_cache_flush(g.a), 0);
	owner_for_cache(g.p_tcp4, &o, &t);
	assert_int_equal(mark_of_connect(g.p_tcp4, 0) & MASK, 0);
	ne_attr_stats(g.a, &s0);
	assert_int_equal(ne_attr_cache_allow(g.a, &o, &t, 10000), 0);
	assert_int_equal(mark_of_connect(g.p_tcp4, 0), ALLOW);
	/* the socket's other mark bits are kept, ours are overwritten */
	assert_int_equal(mark_of_connect(g.p_tcp4, 0x10 | 0x02000000), 0x10 | ALLOW);
	/* another port of the same host is not allowed */
	assert_int_equal(mark_of_connect(g.p_tcp4b, 0) & MASK, 0);
	ne_attr_stats(g.a, &s1);
	assert_int_equal(s1.cache_hits - s0.cache_hits, 2);
	assert_true(s1.cache_misses > s0.cache_misses);
	assert_int_equal(s1.cache_entries, 1);
	assert_int_equal(s1.mark_errors, 0);
	/* an owner from sock_diag alone has no program identity */
	o.flags = NE_OWNER_F_INODE;
	assert_int_equal(ne_attr_cache_allow(g.a, &o, &t, 1000), -EINVAL);
}

static void test_vcache_expiry(void **state)
{
	struct ne_owner o;
	struct ne_tuple t;
	uint64_t t0, waited;
	uint32_t m;

	(void)state;
	alarm(WATCHDOG_S);
	assert_int_equal(ne_attr_cache_flush(g.a), 0);
	owner_for_cache(g.p_tcp4, &o, &t);
	t0 = mono_ns();
	assert_int_equal(ne_attr_cache_allow(g.a, &o, &t, 100), 0);
	m = mark_of_connect(g.p_tcp4, 0);
	if (mono_ns() - t0 < 100000000u) /* unless this slow VM already took the 100 ms */
		assert_int_equal(m, ALLOW);
	/* connect again until unmarked: it must happen, and not before the ttl */
	do {
		m = mark_of_connect(g.p_tcp4, 0);
		waited = mono_ns() - t0;
		assert_true(waited < 5000000000u);
	} while (m & MASK);
	assert_true(waited >= 100000000u);
	print_message("verdict cache entry expired after %.0f ms of polling (ttl 100 ms)\n",
		      (double)waited / 1e6);
}

static void test_vcache_flush(void **state)
{
	struct ne_attr_stats s;
	struct ne_owner o;
	struct ne_tuple t;

	(void)state;
	alarm(WATCHDOG_S);
	owner_for_cache(g.p_tcp4, &o, &t);
	assert_int_equal(ne_attr_cache_allow(g.a, &o, &t, 60000), 0);
	t.rport = g.p_tcp4b;
	assert_int_equal(ne_attr_cache_allow(g.a, &o, &t, 60000), 0);
	ne_attr_stats(g.a, &s);
	assert_int_equal(s.cache_entries, 2);
	assert_int_equal(mark_of_connect(g.p_tcp4b, 0), ALLOW);
	assert_int_equal(ne_attr_cache_flush(g.a), 0);
	ne_attr_stats(g.a, &s);
	assert_int_equal(s.cache_entries, 0);
	assert_int_equal(mark_of_connect(g.p_tcp4, 0) & MASK, 0);
	assert_int_equal(mark_of_connect(g.p_tcp4b, 0) & MASK, 0);
}

/* a == NULL: no eBPF at all; an established TCP connection still gives uid + inode */
static void test_sockdiag_alone(void **state)
{
	struct job j = { J_TCP, AF_INET, 0, NOBODY, 0, "ne-diag" };
	struct ne_owner o;
	struct ne_tuple t;
	struct kid k;

	(void)state;
	alarm(WATCHDOG_S);
	j.port = g.p_tcp4;
	kid_start(&j, &k);
	tuple_of(&j, &k, &t);
	assert_int_equal(ne_attr_lookup(NULL, &t, &o), 0);
	assert_int_equal(o.source, NE_ATTR_SOCKDIAG);
	assert_int_equal(o.uid, NOBODY);
	assert_true(o.flags & NE_OWNER_F_INODE);
	assert_false(o.flags & NE_OWNER_F_TASK);
	assert_int_equal(o.sock_ino, k.res.ino);
	assert_int_equal(o.sock_cookie, k.res.cookie);
	assert_int_equal(o.pid, -1);
	assert_int_equal(ne_attr_exe(NULL, &o), -EINVAL);
	if (g.have_v6) {
		struct job j6 = { J_TCP, AF_INET6, 0, 0, 0, "ne-diag6" };
		struct kid k6;

		j6.port = g.p_tcp6;
		kid_start(&j6, &k6);
		tuple_of(&j6, &k6, &t);
		assert_int_equal(ne_attr_lookup(NULL, &t, &o), 0);
		assert_int_equal(o.uid, 0);
		assert_int_equal(o.sock_ino, k6.res.ino);
		kid_done(&k6);
	}
	kid_done(&k);
}

/* How much one lookup costs, by path; also the counters. */
static void test_lookup_cost(void **state)
{
	struct job j = { J_TCP, AF_INET, 0, 0, 0, "ne-cost" };
	struct job ju = { J_UDP_CONNECT, AF_INET, 0, 0, 0, "ne-costu" };
	struct ne_attr_stats s0, s1;
	struct ne_owner o;
	struct ne_tuple t, tu;
	struct kid k, ku;
	uint64_t t0, bpf_ns, diag_ns, null_ns;
	const int n = 20000, nd = 5000;

	(void)state;
	alarm(WATCHDOG_S);
	j.port = g.p_tcp4;
	ju.port = g.p_udp4;
	kid_start(&j, &k);
	kid_start(&ju, &ku);
	tuple_of(&j, &k, &t);
	tuple_of(&ju, &ku, &tu);
	ne_attr_stats(g.a, &s0);
	t0 = mono_ns();
	for (int i = 0; i < n; i++)
		assert_int_equal(ne_attr_lookup(g.a, &t, &o), 0);
	bpf_ns = (mono_ns() - t0) / n;
	t0 = mono_ns();
	for (int i = 0; i < nd; i++)
		assert_int_equal(ne_attr_lookup(g.a, &tu, &o), 0);
	diag_ns = (mono_ns() - t0) / nd;
	t0 = mono_ns();
	for (int i = 0; i < nd; i++)
		assert_int_equal(ne_attr_lookup(NULL, &t, &o), 0);
	null_ns = (mono_ns() - t0) / nd;
	ne_attr_stats(g.a, &s1);
	assert_int_equal(s1.lookups_hit - s0.lookups_hit, n);
	assert_int_equal(s1.lookups_miss - s0.lookups_miss, nd);
	assert_int_equal(s1.diag_hit - s0.diag_hit, nd);
	assert_true(s1.records >= 2);
	assert_int_equal(s1.no_owner, 0);
	print_message("ne_attr_lookup: eBPF flows hit %.2f us, connected UDP via sock_diag + "
		      "cookie %.2f us, sock_diag alone (a == NULL, socket per call) %.2f us\n",
		      (double)bpf_ns / 1000, (double)diag_ns / 1000, (double)null_ns / 1000);
	print_message("stats: records %llu, flows hit %llu miss %llu, diag hit %llu miss %llu, "
		      "cache hits %llu misses %llu, exe ids %s\n",
		      (unsigned long long)s1.records, (unsigned long long)s1.lookups_hit,
		      (unsigned long long)s1.lookups_miss, (unsigned long long)s1.diag_hit,
		      (unsigned long long)s1.diag_miss, (unsigned long long)s1.cache_hits,
		      (unsigned long long)s1.cache_misses, s1.exe_id ? "yes" : "no");
	kid_done(&ku);
	kid_done(&k);
}

/* --- setup -------------------------------------------------------------------------- */

static int lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = -1;

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		r = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return r;
}

static void close_listeners(void)
{
	int *fds[] = { &g.tcp4, &g.tcp6, &g.udp4, &g.udp6, &g.tcp4b };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

static int group_teardown(void **state)
{
	(void)state;
	ne_attr_close(g.a);
	g.a = NULL;
	close_listeners();
	cleanup_cgroup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp4),
		cmocka_unit_test(test_tcp4_nobody),
		cmocka_unit_test(test_tcp6),
		cmocka_unit_test(test_udp4_sendto),
		cmocka_unit_test(test_udp6_sendto),
		cmocka_unit_test(test_udp4_connected),
		cmocka_unit_test(test_udp6_connected),
		cmocka_unit_test(test_unconnected_enoent),
		cmocka_unit_test(test_vcache_mark),
		cmocka_unit_test(test_vcache_expiry),
		cmocka_unit_test(test_vcache_flush),
		cmocka_unit_test(test_sockdiag_alone),
		cmocka_unit_test(test_lookup_cost),
	};
	struct sigaction sa;
	struct stat st;
	char why[512];
	ssize_t n;
	int r;

	if (geteuid() != 0) {
		fprintf(stderr, "test_ne_attr: needs root (eBPF, cgroups, network namespaces); "
				"skipped\n");
		return 77;
	}
	if (ne_attr_cgroup2_root(g.root, sizeof(g.root)) < 0) {
		fprintf(stderr, "test_ne_attr: no cgroup v2 hierarchy mounted; skipped\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		fprintf(stderr, "test_ne_attr: cannot make a network namespace with lo up (%s); "
				"skipped\n", strerror(errno));
		return 77;
	}
	n = readlink("/proc/self/exe", g.exe, sizeof(g.exe) - 1);
	if (n <= 0)
		return 1;
	g.exe[n] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(g.cg, sizeof(g.cg), "%s/uext-test-attr-%d", g.root, (int)getpid());
	if (mkdir(g.cg, 0755) < 0 || stat(g.cg, &st) < 0) {
		fprintf(stderr, "test_ne_attr: cannot create cgroup '%s' (%s); skipped\n", g.cg,
			strerror(errno));
		g.cg[0] = '\0';
		return 77;
	}
	g.cg_id = st.st_ino;
	r = ne_attr_open(&g.a, g.cg, MASK, ALLOW, why, sizeof(why));
	if (r < 0)
		fprintf(stderr, "test_ne_attr: eBPF attribution unavailable (%s): %s; only the "
				"sock_diag fallback is tested\n", strerror(-r), why);
	g.tcp4 = listener(AF_INET, SOCK_STREAM, &g.p_tcp4);
	g.tcp4b = listener(AF_INET, SOCK_STREAM, &g.p_tcp4b);
	g.udp4 = listener(AF_INET, SOCK_DGRAM, &g.p_udp4);
	g.tcp6 = listener(AF_INET6, SOCK_STREAM, &g.p_tcp6);
	g.udp6 = listener(AF_INET6, SOCK_DGRAM, &g.p_udp6);
	g.have_v6 = g.tcp6 >= 0 && g.udp6 >= 0;
	if (g.tcp4 < 0 || g.tcp4b < 0 || g.udp4 < 0) {
		fprintf(stderr, "test_ne_attr: loopback listeners: %s\n", strerror(errno));
		group_teardown(NULL);
		return 1;
	}
	if (!g.have_v6)
		fprintf(stderr, "test_ne_attr: no ::1 in the namespace: IPv6 cases skipped\n");
	alarm(WATCHDOG_S);
	if (!g.a) {
		const struct CMUnitTest diag_only[] = {
			cmocka_unit_test(test_sockdiag_alone),
		};

		r = cmocka_run_group_tests(diag_only, NULL, group_teardown);
		alarm(0);
		group_teardown(NULL);
		if (!r)
			fprintf(stderr, "test_ne_attr: the eBPF cases were skipped (see above)\n");
		return r ? r : 77;
	}
	r = cmocka_run_group_tests(tests, NULL, group_teardown);
	alarm(0);
	group_teardown(NULL);
	return r;
}
