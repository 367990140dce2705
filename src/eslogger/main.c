/* main.c owns uext-eslogger's process: options, the ES client and its filters, stdout, the
 * signals and the exit summary. How a message is spelled lives in format.c.
 *
 * Threads: libuext calls on_message() serially on its own thread; that thread alone writes
 * stdout and the counters. The main thread waits on a signalfd, an eventfd the handler
 * writes when it is done (--count reached, stdout gone) and the --timeout, then deletes
 * the client, which waits for a running handler call: after es_delete_client() the
 * counters are the main thread's to read. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <uext/es.h>

#include "eslogger/format.h"

#define PROG "uext-eslogger"

/* How often the main thread checks that uextd still holds the connection: libuext has
 * no disconnect callback (neither has Apple's API), and a dead uextd must not leave
 * uext-eslogger waiting forever. */
#define LIVENESS_MS 2000

enum { EXIT_USAGE = 2 };

struct opts {
	bool text;
	bool list;
	const char *root;
	const char **prefixes;
	size_t nprefixes;
	long long pid; /* -1: every process */
	uint64_t count; /* 0: no limit */
	double timeout; /* 0: none */
	es_event_type_t events[ES_EVENT_TYPE_LAST];
	uint32_t nevents;
};

/* Shared with the handler thread; see the file comment for who touches what when. */
struct logger {
	const struct opts *o;
	struct eslog_stats stats;
	uint64_t printed;
	int done_fd;	/* eventfd: written once by the handler when it stops printing */
	bool done;	/* handler thread */
	int write_errno; /* handler thread: why stdout failed, 0 if it did not */
	char *line;	/* text buffer, grown on demand */
	size_t line_cap;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " [options] EVENT...\n"
		"       " PROG " --list-events\n\n"
		"Print Endpoint Security NOTIFY events as JSON Lines (Apple's eslogger format) or text.\n"
		"EVENT is an eslogger event name: exec, fork, exit, open, close, create, rename, ...\n\n"
		"Options:\n"
		"  --format json|text     output format (default json: one JSON object per line)\n"
		"  --path-prefix P        only events whose target path starts with P (repeatable;\n"
		"                         filtered in uextd by target-path muting, inverted)\n"
		"  --pid N                only events of process N (filtered here)\n"
		"  --count N              exit after printing N events\n"
		"  --timeout SECONDS      exit after SECONDS\n"
		"  --root DIR             talk to a uextd started with --root DIR (or $UEXT_ROOT)\n"
		"  --list-events          print the event names and exit\n"
		"  --help                 print this help and exit\n\n"
		"On exit a summary (events seen and dropped per type) goes to stderr.\n"
		"Exit status: 0 ok, 1 error, 2 usage. Needs root. See uext-eslogger(1).\n");
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '" PROG " --help'.\n");
	return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return false;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

/* 0 ok, or the exit status to leave with. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_FORMAT = 256, O_PREFIX, O_PID, O_COUNT, O_TIMEOUT, O_ROOT, O_LIST, O_HELP };
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, O_FORMAT },
		{ "path-prefix", required_argument, NULL, O_PREFIX },
		{ "pid", required_argument, NULL, O_PID },
		{ "count", required_argument, NULL, O_COUNT },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "root", required_argument, NULL, O_ROOT },
		{ "list-events", no_argument, NULL, O_LIST },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	uint64_t u;

	o->pid = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_FORMAT:
			if (strcmp(optarg, "json") == 0)
				o->text = false;
			else if (strcmp(optarg, "text") == 0)
				o->text = true;
			else
				return usage_error("--format: '%s' is neither json nor text", optarg);
			break;
		case O_PREFIX:
			if (optarg[0] != '/')
				return usage_error("--path-prefix: '%s' is not an absolute path", optarg);
			o->prefixes[o->nprefixes++] = optarg; /* sized argc: cannot overflow */
			break;
		case O_PID:
			if (!parse_u64(optarg, &u) || u == 0 || u > INT_MAX)
				return usage_error("--pid: '%s' is not a process id", optarg);
			o->pid = (long long)u;
			break;
		case O_COUNT:
			if (!parse_u64(optarg, &u) || u == 0)
				return usage_error("--count: '%s' is not a positive number", optarg);
			o->count = u;
			break;
		case O_TIMEOUT: {
			char *end;
			errno = 0;
			double d = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(d > 0) || d > 1e9)
				return usage_error("--timeout: '%s' is not a positive number of seconds", optarg);
			o->timeout = d;
			break;
		}
		case O_ROOT:
			o->root = optarg;
			break;
		case O_LIST:
			o->list = true;
			break;
		case 'h':
		case O_HELP:
			usage(stdout);
			exit(0);
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (o->list)
		return 0;
	if (optind >= argc)
		return usage_error("%s", "no EVENT given (see --list-events)");
	for (int i = optind; i < argc; i++) {
		es_event_type_t t;
		if (eslog_event_from_name(argv[i], &t) < 0)
			return usage_error("'%s' is not an eslogger event name (see --list-events)", argv[i]);
		bool dup = false;
		for (uint32_t j = 0; j < o->nevents; j++)
			dup |= o->events[j] == t;
		if (!dup)
			o->events[o->nevents++] = t;
	}
	return 0;
}

static void finish(struct logger *l)
{
	uint64_t one = 1;
	l->done = true;
	if (write(l->done_fd, &one, sizeof(one)) < 0) {
		/* cannot fail for an eventfd far below its maximum; nothing else to do */
	}
}

/* One line on stdout. -errno when stdout failed. */
static int print_message(struct logger *l, const es_message_t *msg)
{
	if (l->o->text) {
		int n = eslog_message_text(msg, l->line, l->line_cap);
		if ((size_t)n >= l->line_cap) {
			size_t cap = (size_t)n + 1 + 256;
			char *p = realloc(l->line, cap);
			if (!p)
				return -ENOMEM;
			l->line = p;
			l->line_cap = cap;
			n = eslog_message_text(msg, l->line, l->line_cap);
		}
		fwrite(l->line, 1, (size_t)n, stdout);
	} else {
		json_t *j = eslog_message_json(msg);
		if (!j)
			return -ENOMEM;
		int r = json_dumpf(j, stdout, JSON_COMPACT);
		json_decref(j);
		if (r < 0 && !ferror(stdout))
			return -ENOMEM;
	}
	/* line buffered: this newline is the write(2) */
	if (putchar('\n') == EOF || ferror(stdout))
		return errno ? -errno : -EIO;
	return 0;
}

static void on_message(es_client_t *client, const es_message_t *msg, void *ctx)
{
	struct logger *l = ctx;
	(void)client;

	/* every message counts for drop accounting, printed or not */
	eslog_stats_note(&l->stats, msg);
	if (l->done)
		return;
	if (l->o->pid >= 0 && (!msg->process || audit_token_to_pid(msg->process->audit_token) != l->o->pid))
		return;
	errno = 0;
	int r = print_message(l, msg);
	if (r < 0) {
		l->write_errno = -r;
		finish(l);
		return;
	}
	if (++l->printed == l->o->count)
		finish(l);
}

static const char *new_client_error(es_new_client_result_t r)
{
	switch (r) {
	case ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT:
		return "ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT (invalid argument)";
	case ES_NEW_CLIENT_RESULT_ERR_INTERNAL:
		return "ES_NEW_CLIENT_RESULT_ERR_INTERNAL (uextd is not running, or its Endpoint Security "
		       "engine is not available: see 'uextctl status')";
	case ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED:
		return "ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED (not entitled: this extension is not of type "
		       "endpoint-security)";
	case ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED:
		return "ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED (not permitted: the admin policy refuses "
		       "Endpoint Security clients to this user)";
	case ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED:
		return "ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED (not privileged: run as root)";
	case ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS:
		return "ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS (too many clients: uextd's client limit "
		       "is reached)";
	default:
		return "unknown result";
	}
}

/* es_subscribe refused the list: name the types uext cannot produce here. */
static void report_subscribe_failure(es_client_t *client, const struct opts *o)
{
	size_t n = 0;
	es_event_type_t *kept = NULL;

	fprintf(stderr, PROG ": es_subscribe failed");
	if (es_subscriptions(client, &n, &kept) != ES_RETURN_SUCCESS) {
		fprintf(stderr, "\n");
		return;
	}
	const char *sep = ": uext cannot produce on this host: ";
	for (uint32_t i = 0; i < o->nevents; i++) {
		bool found = false;
		for (size_t j = 0; j < n; j++)
			found |= kept[j] == o->events[i];
		if (!found) {
			fprintf(stderr, "%s%s", sep, eslog_event_name(o->events[i]));
			sep = ", ";
		}
	}
	fprintf(stderr, " (see 'uextctl status' for what the kernel offers)\n");
	free(kept);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Set up the client's filters and subscriptions. 0, or -1 after saying why. */
static int client_setup(es_client_t *client, const struct opts *o)
{
	audit_token_t self;

	/* Apple's eslogger mutes itself: our own writes must not feed our output. */
	if (uext_es_client_self_token(client, &self) != ES_RETURN_SUCCESS ||
	    es_mute_process(client, &self) != ES_RETURN_SUCCESS)
		fprintf(stderr, PROG ": warning: es_mute_process failed: own events may be reported\n");

	for (size_t i = 0; i < o->nprefixes; i++)
		if (es_mute_path(client, o->prefixes[i], ES_MUTE_PATH_TYPE_TARGET_PREFIX) != ES_RETURN_SUCCESS) {
			fprintf(stderr, PROG ": es_mute_path('%s', ES_MUTE_PATH_TYPE_TARGET_PREFIX) failed\n",
				o->prefixes[i]);
			return -1;
		}
	if (o->nprefixes && es_invert_muting(client, ES_MUTE_INVERSION_TYPE_TARGET_PATH) != ES_RETURN_SUCCESS) {
		fprintf(stderr, PROG ": es_invert_muting(ES_MUTE_INVERSION_TYPE_TARGET_PATH) failed\n");
		return -1;
	}
	/* last: no message arrives before the filters are in place */
	if (es_subscribe(client, o->events, o->nevents) != ES_RETURN_SUCCESS) {
		report_subscribe_failure(client, o);
		return -1;
	}
	return 0;
}

/* Wait for a signal, the handler's "done", the timeout or a lost uextd. 0, or -1 after
 * saying why. */
static int wait_loop(es_client_t *client, const struct opts *o, int sig_fd, int done_fd)
{
	int64_t deadline = o->timeout > 0 ? now_ms() + (int64_t)(o->timeout * 1000.0) : -1;
	int64_t next_probe = now_ms() + LIVENESS_MS;

	for (;;) {
		struct pollfd p[2] = { { sig_fd, POLLIN, 0 }, { done_fd, POLLIN, 0 } };
		int64_t now = now_ms();
		int64_t wait = next_probe - now;
		if (deadline >= 0 && deadline - now < wait)
			wait = deadline - now;
		if (wait < 0)
			wait = 0;
		int n = poll(p, 2, (int)wait);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			return -1;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				return 0;
		}
		if (n > 0 && (p[1].revents & POLLIN))
			return 0;
		now = now_ms();
		if (deadline >= 0 && now >= deadline)
			return 0;
		if (now >= next_probe) {
			if (es_muting_inverted(client, ES_MUTE_INVERSION_TYPE_PROCESS) == ES_MUTE_INVERTED_ERROR) {
				fprintf(stderr, PROG ": lost the connection to uextd\n");
				return -1;
			}
			next_probe = now + LIVENESS_MS;
		}
	}
}

static void print_summary(const struct logger *l, const struct opts *o)
{
	if (o->text) {
		char buf[4096];
		eslog_stats_text(&l->stats, buf, sizeof(buf));
		fprintf(stderr, PROG ": %s\n", buf);
		return;
	}
	json_t *j = eslog_stats_json(&l->stats);
	if (!j)
		return;
	json_object_set_new(j, "printed", json_integer((json_int_t)l->printed));
	json_dumpf(j, stderr, JSON_COMPACT);
	fputc('\n', stderr);
	json_decref(j);
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct logger l = { 0 };
	es_client_t *client = NULL;
	sigset_t sigs;
	int sig_fd = -1, rc = 1;
	bool running = false; /* subscribed: a summary is due */

	l.done_fd = -1;

	o.prefixes = calloc((size_t)argc, sizeof(*o.prefixes));
	if (!o.prefixes) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	int r = parse_opts(argc, argv, &o);
	if (r) {
		free(o.prefixes);
		return r;
	}
	if (o.list) {
		for (unsigned t = 0; t < ES_EVENT_TYPE_LAST; t++)
			if (eslog_event_name((es_event_type_t)t))
				printf("%s\n", eslog_event_name((es_event_type_t)t));
		free(o.prefixes);
		return 0;
	}
	if (o.root && setenv("UEXT_ROOT", o.root, 1) < 0) {
		fprintf(stderr, PROG ": setenv: %s\n", strerror(errno));
		goto out;
	}

	/* Blocked before es_new_client starts libuext's thread, so that the signals reach only
	 * the signalfd. SIGPIPE is ignored: a closed stdout is an EPIPE the handler sees. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 ||
	    (sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, PROG ": signalfd: %s\n", strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	l.o = &o;
	eslog_stats_init(&l.stats);
	l.done_fd = eventfd(0, EFD_CLOEXEC);
	if (l.done_fd < 0) {
		fprintf(stderr, PROG ": eventfd: %s\n", strerror(errno));
		goto out;
	}
	/* readers of a pipe (tests, jq) see each line as it happens */
	setvbuf(stdout, NULL, _IOLBF, 0);

	es_new_client_result_t res = es_new_client_f(&client, on_message, &l);
	if (res != ES_NEW_CLIENT_RESULT_SUCCESS) {
		fprintf(stderr, PROG ": es_new_client: %s\n", new_client_error(res));
		client = NULL;
		goto out;
	}
	if (client_setup(client, &o) < 0)
		goto out;
	running = true;
	if (wait_loop(client, &o, sig_fd, l.done_fd) < 0)
		goto out;
	rc = 0;
out:
	if (client && es_delete_client(client) != ES_RETURN_SUCCESS)
		fprintf(stderr, PROG ": es_delete_client failed\n");
	if (running) {
		if (l.write_errno && l.write_errno != EPIPE) {
			fprintf(stderr, PROG ": writing stdout: %s\n", strerror(l.write_errno));
			rc = 1;
		}
		fflush(stdout);
		print_summary(&l, &o);
	}
	if (sig_fd >= 0)
		close(sig_fd);
	if (l.done_fd >= 0)
		close(l.done_fd);
	free(l.line);
	free(o.prefixes);
	return rc;
}
