/* es_client.c owns the ES benchmark's client (bench/es/run.sh): one uext ES client written
 * only against <uext/es.h>, which subscribes, answers and counts; it measures nothing of
 * the workload. Modes:
 *   observe     NOTIFY exec/fork/exit/open/close/create/unlink/write, counted;
 *   auth        AUTH_EXEC + AUTH_OPEN, answered ALLOW with cache=false;
 *   auth-cache  the same with cache=true;
 *   count [K]   as observe, and stops its clock at the K-th (default 1) NOTIFY_CREATE of a
 *               file named "uext-bench-end" (each generator's sentinel), printing "end".
 * Prints "ready" on stdout once subscribed. SIGUSR1 prints one JSON line with the figures
 * since the previous SIGUSR1 ("interval"), SIGTERM/SIGINT the totals ("final") and exits.
 * Figures: messages, AUTH answered, gaps (messages uextd dropped for this client: holes in
 * global_seq_num, which counts every message of a client; holes in seq_num, which counts
 * per event type as on macOS, are reported apart as a cross-check), answers that failed, and the delivery latency now - msg->mach_time at handler entry
 * (both CLOCK_MONOTONIC; for AUTH the first half of the round trip), as percentiles. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uext/es.h>

/* Latency histogram: 100 ns buckets up to 10 ms, then one overflow bucket (the maximum is
 * kept apart). Written by the handler thread only, read by the main thread. */
#define LAT_STEP_NS 100u
#define LAT_BUCKETS 100000u

enum mode { MODE_OBSERVE, MODE_AUTH, MODE_AUTH_CACHE, MODE_COUNT };

struct stats {
	uint64_t messages, auth, gaps, type_gaps, respond_errors, lat_n, lat_max_ns;
};

/* Event types with a seq_num of their own (Apple's and uext's private ones below this). */
#define SEQ_TYPES 1024u

struct bench_client {
	enum mode mode;
	uint64_t sentinels_wanted;
	/* handler thread only */
	uint64_t sentinels;
	bool have_global;
	uint64_t last_global;
	uint64_t last_seq[SEQ_TYPES]; /* seq_num + 1 of the last message of each type, 0: none */
	/* handler writes, main reads */
	_Atomic uint64_t messages, auth, gaps, type_gaps, respond_errors, lat_n, lat_max_ns;
	_Atomic uint64_t first_ns, end_ns, messages_at_end;
	_Atomic uint32_t hist[LAT_BUCKETS + 1];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static bool ends_with(es_string_token_t s, const char *suffix)
{
	size_t n = strlen(suffix);
	return s.data && s.length >= n && memcmp(s.data + s.length - n, suffix, n) == 0;
}

static bool is_sentinel(const es_message_t *msg)
{
	if (msg->event_type != ES_EVENT_TYPE_NOTIFY_CREATE)
		return false;
	const es_event_create_t *c = &msg->event.create;
	if (c->destination_type == ES_DESTINATION_TYPE_EXISTING_FILE)
		return ends_with(c->destination.existing_file->path, "/uext-bench-end");
	es_string_token_t f = c->destination.new_path.filename;
	return f.data && f.length == strlen("uext-bench-end") && !memcmp(f.data, "uext-bench-end", f.length);
}

static void handler(es_client_t *client, const es_message_t *msg, void *ctx)
{
	struct bench_client *bc = ctx;
	uint64_t t = now_ns();

	/* Answer first: the process is waiting, and the bookkeeping below can wait. */
	if (msg->action_type == ES_ACTION_TYPE_AUTH) {
		bool cache = bc->mode == MODE_AUTH_CACHE;
		es_respond_result_t r = msg->event_type == ES_EVENT_TYPE_AUTH_OPEN
						? es_respond_flags_result(client, msg, UINT32_MAX, cache)
						: es_respond_auth_result(client, msg, ES_AUTH_RESULT_ALLOW, cache);
		if (r != ES_RESPOND_RESULT_SUCCESS)
			add(&bc->respond_errors, 1);
		add(&bc->auth, 1);
	}
	if (bc->have_global && msg->global_seq_num > bc->last_global + 1)
		add(&bc->gaps, msg->global_seq_num - bc->last_global - 1);
	bc->have_global = true;
	bc->last_global = msg->global_seq_num;
	if ((uint32_t)msg->event_type < SEQ_TYPES) {
		uint64_t *last = &bc->last_seq[msg->event_type];
		if (*last && msg->seq_num > *last)
			add(&bc->type_gaps, msg->seq_num - *last);
		*last = msg->seq_num + 1;
	}

	uint64_t lat = t > msg->mach_time ? t - msg->mach_time : 0;
	uint64_t b = lat / LAT_STEP_NS;
	atomic_fetch_add_explicit(&bc->hist[b < LAT_BUCKETS ? b : LAT_BUCKETS], 1, memory_order_relaxed);
	if (lat > get(&bc->lat_max_ns))
		atomic_store_explicit(&bc->lat_max_ns, lat, memory_order_relaxed);
	add(&bc->lat_n, 1);

	uint64_t zero = 0;
	atomic_compare_exchange_strong(&bc->first_ns, &zero, t);
	add(&bc->messages, 1);
	if (bc->mode == MODE_COUNT && get(&bc->end_ns) == 0 && is_sentinel(msg) && ++bc->sentinels == bc->sentinels_wanted) {
		atomic_store(&bc->messages_at_end, get(&bc->messages));
		atomic_store(&bc->end_ns, t);
		static const char end[] = "end\n";
		if (write(STDOUT_FILENO, end, sizeof(end) - 1) < 0) {
			/* nobody is reading: the summary will say the same */
		}
	}
}

/* Percentile (nearest rank) of the histogram difference cur - prev, in microseconds; the
 * overflow bucket reports the maximum. */
static double hist_pct(const uint32_t *cur, const uint32_t *prev, uint64_t n, double p, uint64_t max_ns)
{
	if (!n)
		return 0;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)n + 0.999999), seen = 0;
	if (rank < 1)
		rank = 1;
	for (uint32_t i = 0; i <= LAT_BUCKETS; i++) {
		seen += cur[i] - prev[i];
		if (seen >= rank)
			return i == LAT_BUCKETS ? (double)max_ns / 1000.0 : (double)(i * LAT_STEP_NS + LAT_STEP_NS / 2) / 1000.0;
	}
	return (double)max_ns / 1000.0;
}

static void print_summary(struct bench_client *bc, const char *kind, struct stats *prev, uint32_t *prev_hist,
			  uint32_t *cur_hist)
{
	static const char *const names[] = { "observe", "auth", "auth-cache", "count" };
	struct stats cur = {
		.messages = get(&bc->messages),
		.auth = get(&bc->auth),
		.gaps = get(&bc->gaps),
		.type_gaps = get(&bc->type_gaps),
		.respond_errors = get(&bc->respond_errors),
		.lat_n = get(&bc->lat_n),
		.lat_max_ns = get(&bc->lat_max_ns),
	};
	for (uint32_t i = 0; i <= LAT_BUCKETS; i++)
		cur_hist[i] = atomic_load_explicit(&bc->hist[i], memory_order_relaxed);
	uint64_t n = 0;
	for (uint32_t i = 0; i <= LAT_BUCKETS; i++)
		n += cur_hist[i] - prev_hist[i];
	printf("{\"client\":\"%s\",\"kind\":\"%s\",\"messages\":%" PRIu64 ",\"auth\":%" PRIu64 ",\"gaps\":%" PRIu64
	       ",\"type_gaps\":%" PRIu64 ",\"respond_errors\":%" PRIu64 ",\"lat_n\":%" PRIu64 ",\"lat_p50_us\":%.2f,\"lat_p99_us\":%.2f,"
	       "\"lat_p999_us\":%.2f,\"lat_max_us\":%.2f",
	       names[bc->mode], kind, cur.messages - prev->messages, cur.auth - prev->auth, cur.gaps - prev->gaps,
	       cur.type_gaps - prev->type_gaps, cur.respond_errors - prev->respond_errors, n, hist_pct(cur_hist, prev_hist, n, 50, cur.lat_max_ns),
	       hist_pct(cur_hist, prev_hist, n, 99, cur.lat_max_ns), hist_pct(cur_hist, prev_hist, n, 99.9, cur.lat_max_ns),
	       (double)cur.lat_max_ns / 1000.0);
	uint64_t first = get(&bc->first_ns), end = get(&bc->end_ns), at_end = get(&bc->messages_at_end);
	if (bc->mode == MODE_COUNT) {
		double s = end > first ? (double)(end - first) / 1e9 : 0;
		printf(",\"end_seen\":%s,\"messages_at_end\":%" PRIu64 ",\"seconds\":%.6f,\"events_per_s\":%.0f",
		       end ? "true" : "false", at_end, s, s > 0 ? (double)at_end / s : 0.0);
	}
	printf("}\n");
	fflush(stdout);
	*prev = cur;
	memcpy(prev_hist, cur_hist, (LAT_BUCKETS + 1) * sizeof(*cur_hist));
}

int main(int argc, char **argv)
{
	static const es_event_type_t notify[] = {
		ES_EVENT_TYPE_NOTIFY_EXEC,   ES_EVENT_TYPE_NOTIFY_FORK,	  ES_EVENT_TYPE_NOTIFY_EXIT,
		ES_EVENT_TYPE_NOTIFY_OPEN,   ES_EVENT_TYPE_NOTIFY_CLOSE,  ES_EVENT_TYPE_NOTIFY_CREATE,
		ES_EVENT_TYPE_NOTIFY_UNLINK, ES_EVENT_TYPE_NOTIFY_WRITE,
	};
	static const es_event_type_t auth[] = { ES_EVENT_TYPE_AUTH_EXEC, ES_EVENT_TYPE_AUTH_OPEN };
	static struct bench_client bc;
	static uint32_t prev_hist[LAT_BUCKETS + 1], cur_hist[LAT_BUCKETS + 1];

	bool colocate = argc > 1 && !strcmp(argv[1], "--colocate");
	if (colocate) {
		argc--;
		argv++;
	}
	bc.sentinels_wanted = 1;
	if (argc == 3 && !strcmp(argv[1], "count"))
		bc.sentinels_wanted = strtoull(argv[2], NULL, 10);
	else if (argc != 2)
		goto usage;
	if (bc.sentinels_wanted == 0)
		goto usage;
	if (!strcmp(argv[1], "observe"))
		bc.mode = MODE_OBSERVE;
	else if (!strcmp(argv[1], "auth"))
		bc.mode = MODE_AUTH;
	else if (!strcmp(argv[1], "auth-cache"))
		bc.mode = MODE_AUTH_CACHE;
	else if (!strcmp(argv[1], "count"))
		bc.mode = MODE_COUNT;
	else
		goto usage;

	/* Signals are taken with sigwait() here; block them before libuext starts the
	 * handler thread so that thread inherits the mask and never takes them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	es_client_t *client = NULL;
	es_new_client_result_t nr = es_new_client_f(&client, handler, &bc);
	if (nr != ES_NEW_CLIENT_RESULT_SUCCESS) {
		fprintf(stderr, "es_client: es_new_client_f failed: result %d\n", (int)nr);
		return 1;
	}
	if (colocate && uext_es_set_colocation(client, true) != ES_RETURN_SUCCESS) {
		fprintf(stderr, "es_client: uext_es_set_colocation failed\n");
		es_delete_client(client);
		return 1;
	}
	bool is_auth = bc.mode == MODE_AUTH || bc.mode == MODE_AUTH_CACHE;
	const es_event_type_t *ev = is_auth ? auth : notify;
	uint32_t nev = is_auth ? sizeof(auth) / sizeof(auth[0]) : sizeof(notify) / sizeof(notify[0]);
	if (es_subscribe(client, ev, nev) != ES_RETURN_SUCCESS) {
		fprintf(stderr, "es_client: es_subscribe (%s) failed\n", argv[1]);
		es_delete_client(client);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	struct stats prev = { 0 };
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGUSR1) {
			print_summary(&bc, "interval", &prev, prev_hist, cur_hist);
			continue;
		}
		break;
	}
	/* Totals: from zero, not from the last interval. */
	prev = (struct stats){ 0 };
	memset(prev_hist, 0, sizeof(prev_hist));
	es_delete_client(client);
	print_summary(&bc, "final", &prev, prev_hist, cur_hist);
	return 0;

usage:
	fprintf(stderr, "usage: es_client [--colocate] observe|auth|auth-cache|count [SENTINELS]\n");
	return 2;
}
