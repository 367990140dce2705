/* connrate.c owns the client side of the network benchmark's connection workloads: it opens
 * TCP connections to one HTTP server, one GET with "Connection: close" on each, and times
 * them. Two modes:
 *   rate  N threads, each looping socket -> connect -> GET -> read to EOF -> close for D
 *         seconds; connections/s and request latency (connect start to EOF) p50/p99.
 *   lat   M sequential connections; connect() alone and the whole request, p50/p99.
 * Prints one line of key=value pairs on stdout (for bench/ne/run.sh) and the first error
 * of each kind on stderr. Every socket call is bounded by SO_SNDTIMEO/SO_RCVTIMEO.
 * libc and pthreads only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

enum { MAX_THREADS = 256, MAX_SAMPLES = 1 << 24, RESP_MAX = 64 << 10 };
enum { E_SOCKET, E_CONNECT, E_SEND, E_RECV, E_STATUS, E_KINDS };
static const char *const err_name[E_KINDS] = { "socket", "connect", "send", "recv", "status" };

struct samples {
	uint64_t *v; /* ns */
	size_t n, cap;
};

struct worker {
	pthread_t tid;
	struct samples req, conn;
	uint64_t errs[E_KINDS];
	uint64_t ok;
};

static struct sockaddr_storage peer;
static socklen_t peer_len;
static char request[512];
static size_t request_len;
static int timeout_ms = 5000;
static int64_t end_ns;
static pthread_barrier_t start_line;
static atomic_flag err_said[E_KINDS];

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Appends one sample; past MAX_SAMPLES (or without memory) the sample is dropped, which
 * only thins the percentiles, never the counts. */
static void samples_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		uint64_t *v;

		if (cap > MAX_SAMPLES || !(v = realloc(s->v, cap * sizeof(*v))))
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in µs of a sorted sample set; 0 when empty. */
static double pct_us(const struct samples *s, double q)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(q * (double)s->n + 0.999999);
	i = i ? i - 1 : 0;
	if (i >= s->n)
		i = s->n - 1;
	return (double)s->v[i] / 1000.0;
}

static void err_note(struct worker *w, int kind, int e)
{
	w->errs[kind]++;
	if (!atomic_flag_test_and_set(&err_said[kind]))
		fprintf(stderr, "connrate: first %s error: %s\n", err_name[kind], e ? strerror(e) : "not HTTP 200");
}

/* One connection: connect, GET, read to EOF. Records the connect and request times on
 * success; returns 0 or -1 (counted in w->errs). */
static int one_request(struct worker *w)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	char buf[RESP_MAX];
	size_t got = 0, off = 0;
	int64_t t0, t1;
	int fd, kind = -1, e = 0;

	t0 = now_ns();
	fd = socket(peer.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_note(w, E_SOCKET, errno);
		return -1;
	}
	/* SO_SNDTIMEO bounds connect() too */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&peer, peer_len) < 0) {
		kind = E_CONNECT, e = errno;
		goto out;
	}
	t1 = now_ns();
	while (off < request_len) {
		ssize_t n = send(fd, request + off, request_len - off, MSG_NOSIGNAL);

		if (n <= 0) {
			kind = E_SEND, e = n < 0 ? errno : EPIPE;
			goto out;
		}
		off += (size_t)n;
	}
	for (;;) {
		/* keep the status line at the start of buf; overwrite the rest */
		size_t at = got < 16 ? got : 16;
		ssize_t n = recv(fd, buf + at, sizeof(buf) - at, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			kind = E_RECV, e = errno;
			goto out;
		}
		if (n == 0)
			break;
		got = at + (size_t)n;
	}
	if (got < 12 || (memcmp(buf, "HTTP/1.1 200", 12) && memcmp(buf, "HTTP/1.0 200", 12))) {
		kind = E_STATUS;
		goto out;
	}
	samples_add(&w->conn, (uint64_t)(t1 - t0));
	samples_add(&w->req, (uint64_t)(now_ns() - t0));
	w->ok++;
out:
	close(fd);
	if (kind >= 0) {
		err_note(w, kind, e);
		return -1;
	}
	return 0;
}

static void *rate_thread(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_line);
	while (now_ns() < end_ns)
		one_request(w);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: connrate [options] rate|lat ADDR PORT\n"
		"  rate: THREADS threads loop connect+GET+read-to-EOF+close for SECONDS\n"
		"  lat:  COUNT sequential connections, connect() and whole request timed\n"
		"  ADDR is IPv4 or IPv6 (brackets allowed)\n"
		"options:\n"
		"  -t, --threads N     rate: threads (default 8)\n"
		"  -d, --duration S    rate: seconds (default 8)\n"
		"  -n, --count N       lat: connections (default 2000)\n"
		"  -H, --host NAME     Host header (default ADDR)\n"
		"  -P, --path PATH     request path (default /)\n"
		"  -w, --timeout MS    per socket call (default 5000)\n"
		"  -h, --help\n"
		"output: one line of key=value; errors=0 means every request got HTTP 200 and EOF\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "threads", required_argument, NULL, 't' }, { "duration", required_argument, NULL, 'd' },
		{ "count", required_argument, NULL, 'n' },   { "host", required_argument, NULL, 'H' },
		{ "path", required_argument, NULL, 'P' },    { "timeout", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },          { NULL, 0, NULL, 0 },
	};
	int threads = 8, count = 2000, c, port, i;
	double duration = 8;
	const char *host = NULL, *path = "/", *mode, *addr;
	char hbuf[INET6_ADDRSTRLEN + 4];
	struct worker *w;
	struct samples all_req = { 0 }, all_conn = { 0 };
	uint64_t ok = 0, errs[E_KINDS] = { 0 }, nerr = 0;
	int64_t t0, t1;

	while ((c = getopt_long(argc, argv, "t:d:n:H:P:w:h", opts, NULL)) != -1) {
		switch (c) {
		case 't': threads = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'n': count = atoi(optarg); break;
		case 'H': host = optarg; break;
		case 'P': path = optarg; break;
		case 'w': timeout_ms = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 3 || threads < 1 || threads > MAX_THREADS || duration <= 0 || count < 1 ||
	    timeout_ms < 1) {
		usage(stderr);
		return 2;
	}
	mode = argv[optind];
	addr = argv[optind + 1];
	port = atoi(argv[optind + 2]);
	if ((strcmp(mode, "rate") && strcmp(mode, "lat")) || port <= 0 || port > 65535) {
		usage(stderr);
		return 2;
	}
	if (sockaddr_from_text(addr, (uint16_t)port, &peer, &peer_len) < 0) {
		fprintf(stderr, "connrate: not an address: '%s'\n", addr);
		return 2;
	}
	/* the Host header names the address as a URL would */
	char abuf[INET6_ADDRSTRLEN];
	const void *ap = peer.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&peer)->sin_addr
						   : (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr;
	inet_ntop(peer.ss_family, ap, abuf, sizeof abuf);
	snprintf(hbuf, sizeof(hbuf), peer.ss_family == AF_INET ? "%s" : "[%s]", abuf);
	if (!host)
		host = hbuf;
	i = snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: uext-connrate\r\nConnection: close\r\n\r\n",
		     path, host);
	if (i < 0 || (size_t)i >= sizeof(request)) {
		fprintf(stderr, "connrate: host or path too long\n");
		return 2;
	}
	request_len = (size_t)i;

	if (!strcmp(mode, "lat"))
		threads = 1;
	w = calloc((size_t)threads, sizeof(*w));
	if (!w) {
		perror("connrate: calloc");
		return 1;
	}
	if (!strcmp(mode, "rate")) {
		pthread_barrier_init(&start_line, NULL, (unsigned)threads + 1);
		end_ns = 0;
		for (i = 0; i < threads; i++) {
			if (pthread_create(&w[i].tid, NULL, rate_thread, &w[i])) {
				fprintf(stderr, "connrate: pthread_create failed\n");
				return 1;
			}
		}
		t0 = now_ns();
		end_ns = t0 + (int64_t)(duration * 1e9);
		pthread_barrier_wait(&start_line);
		t0 = now_ns();
		for (i = 0; i < threads; i++)
			pthread_join(w[i].tid, NULL);
		t1 = now_ns();
	} else {
		t0 = now_ns();
		for (i = 0; i < count; i++)
			one_request(&w[0]);
		t1 = now_ns();
	}

	for (i = 0; i < threads; i++) {
		size_t k;

		ok += w[i].ok;
		for (k = 0; k < E_KINDS; k++)
			errs[k] += w[i].errs[k];
		for (k = 0; k < w[i].req.n; k++)
			samples_add(&all_req, w[i].req.v[k]);
		for (k = 0; k < w[i].conn.n; k++)
			samples_add(&all_conn, w[i].conn.v[k]);
	}
	for (i = 0; i < E_KINDS; i++)
		nerr += errs[i];
	qsort(all_req.v, all_req.n, sizeof(uint64_t), cmp_u64);
	qsort(all_conn.v, all_conn.n, sizeof(uint64_t), cmp_u64);
	if (!strcmp(mode, "rate"))
		printf("mode=rate threads=%d elapsed_s=%.3f conns=%llu conn_per_s=%.1f req_p50_us=%.1f req_p99_us=%.1f "
		       "connect_p50_us=%.1f connect_p99_us=%.1f errors=%llu",
		       threads, (double)(t1 - t0) / 1e9, (unsigned long long)ok, (double)ok * 1e9 / (double)(t1 - t0),
		       pct_us(&all_req, 0.50), pct_us(&all_req, 0.99), pct_us(&all_conn, 0.50), pct_us(&all_conn, 0.99),
		       (unsigned long long)nerr);
	else
		printf("mode=lat family=%s elapsed_s=%.3f conns=%llu connect_p50_us=%.1f connect_p99_us=%.1f "
		       "req_p50_us=%.1f req_p99_us=%.1f errors=%llu",
		       peer.ss_family == AF_INET ? "ipv4" : "ipv6", (double)(t1 - t0) / 1e9, (unsigned long long)ok,
		       pct_us(&all_conn, 0.50), pct_us(&all_conn, 0.99), pct_us(&all_req, 0.50), pct_us(&all_req, 0.99),
		       (unsigned long long)nerr);
	for (i = 0; i < E_KINDS; i++)
		if (errs[i])
			printf(" err_%s=%llu", err_name[i], (unsigned long long)errs[i]);
	printf("\n");
	for (i = 0; i < threads; i++) {
		free(w[i].req.v);
		free(w[i].conn.v);
	}
	free(w);
	free(all_req.v);
	free(all_conn.v);
	return nerr ? 1 : 0;
}
