/* main.c: uextd's options, start-up and shutdown; the work is in manager.c and control.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/paths.h"
#include "common/util.h"
#include "control.h"
#include "log.h"
#include "loop.h"
#include "manager.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: uextd [OPTIONS]\n"
		"The uext manager: installs, sandboxes and supervises extensions.\n\n"
		"  --root DIR            keep configuration, state and sockets under DIR (or $UEXT_ROOT)\n"
		"  --foreground          accepted for compatibility: uextd always runs in the foreground\n"
		"  --debug               log debug messages\n"
		"  --crash-limit N       crashes within the window that mark an extension failed (3)\n"
		"  --crash-window SECS   the crash window (600)\n"
		"  --uid-base UID        extension uids are UID + slot (2100000000)\n"
		"  --memory-max BYTES    memory limit of each extension (268435456)\n"
		"  --pids-max N          process/thread limit of each extension (256)\n"
		"  --stop-timeout MS     SIGTERM to SIGKILL delay (5000)\n"
		"  --no-seccomp          do not load the seccomp filter (developer aid)\n"
		"Endpoint Security engine:\n"
		"  --es-watch DIR        mark the filesystem holding DIR for file events and AUTH\n"
		"                        (repeatable; no file events without one)\n"
		"  --es-deadline MS      AUTH deadline for exec and open (5000)\n"
		"  --es-fail-closed      a missed deadline denies (default: allows)\n"
		"  --es-misses N         consecutive misses before a client is killed (3)\n"
		"  --es-exec-args        argv in AUTH_EXEC (an eBPF syscall-entry probe: ~150 ns\n"
		"                        on every syscall of the host while AUTH_EXEC is subscribed)\n"
		"  --es-no-colocate      do not keep the engine and AUTH clients on one CPU\n"
		"  --es-busy-poll US     after answering the last AUTH, poll for the next one for up\n"
		"                        to US µs instead of sleeping; the window adapts, 0 = off (50)\n"
		"  --es-nice N           the engine thread's nice while a client subscribes to AUTH:\n"
		"                        every AUTH waits for it (-10)\n"
		"  --no-es               do not run the engine\n"
		"Network filter engine (active while a network filter is connected):\n"
		"  --ne-fail-closed      no filter answer (crashed, late, uextd down): reset new\n"
		"                        flows (default: allow them)\n"
		"  --ne-deadline MS      a filter's answer to a new flow (1000)\n"
		"  --ne-queue N          NFQUEUE number (7810)\n"
		"  --ne-mark-mask HEX    conntrack/packet mark bits uext may use (0x07000000)\n"
		"  --ne-forward          also filter routed traffic\n"
		"  --ne-loopback         also filter traffic on lo\n"
		"  --ne-cgroup DIR       cgroup v2 directory whose sockets are attributed (the root)\n"
		"  --no-ne               do not run the engine\n"
		"  -h, --help            this text\n");
}

/* One manager per root. A second one would clean up the cgroups of the first's
 * extensions and take over its sockets before noticing, so it stops here, first.
 * The POSIX lock on <run>/uextd.lock dies with its process (a crashed manager never
 * blocks the next) and names its holder to F_GETLK (uextctl reads it). The fd stays
 * open, unnamed, for the life of the process; nothing else opens that file. */
static int lock_root(const struct uext_paths *p)
{
	const char *root = p->root[0] ? p->root : "/";
	int r = mkdir_p(p->run, 0755), fd = -1;
	if (r < 0 || (fd = open(p->lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
		fprintf(stderr, "uextd: '%s': %s\n", r < 0 ? p->run : p->lock, strerror(r < 0 ? -r : errno));
		return -1;
	}
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_SETLK, &fl) == 0) return 0;
	pid_t pid = 0;
	if (errno != EACCES && errno != EAGAIN)
		fprintf(stderr, "uextd: locking '%s': %s\n", p->lock, strerror(errno));
	else if (uext_paths_manager(p, &pid) > 0 && pid > 0)
		fprintf(stderr, "uextd: already running on root '%s' (pid %d holds '%s')\n", root, (int)pid, p->lock);
	else
		fprintf(stderr, "uextd: already running on root '%s' ('%s' is locked)\n", root, p->lock);
	close(fd);
	return -1;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) return -EINVAL;
	*ret = v;
	return 0;
}

static void on_term(struct loop *l, int signo, void *data);

struct ctx {
	struct loop *loop;
	struct manager *m;
	bool stopping;
};

static void on_hup(struct loop *l, int signo, void *data)
{
	struct ctx *x = data;
	(void)l;
	(void)signo;
	manager_refresh_policy(x->m);
}

static void shutdown_done(struct manager *m, void *data)
{
	struct ctx *x = data;
	(void)m;
	loop_quit(x->loop, 0);
}

static void on_term(struct loop *l, int signo, void *data)
{
	struct ctx *x = data;
	(void)l;
	if (x->stopping) return;
	x->stopping = true;
	ulog(LOG_INFO, "%s: stopping extensions", strsignal(signo));
	manager_shutdown(x->m, shutdown_done, x);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },       { "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },            { "crash-limit", required_argument, NULL, 'c' },
		{ "crash-window", required_argument, NULL, 'w' }, { "uid-base", required_argument, NULL, 'u' },
		{ "memory-max", required_argument, NULL, 'M' }, { "pids-max", required_argument, NULL, 'P' },
		{ "stop-timeout", required_argument, NULL, 's' }, { "no-seccomp", no_argument, NULL, 'S' },
		{ "es-watch", required_argument, NULL, 'W' },   { "es-deadline", required_argument, NULL, 'D' },
		{ "es-fail-closed", no_argument, NULL, 'F' },   { "es-misses", required_argument, NULL, 'm' },
		{ "no-es", no_argument, NULL, 'N' },            { "es-exec-args", no_argument, NULL, 'A' },
		{ "ne-fail-closed", no_argument, NULL, 1001 },  { "ne-deadline", required_argument, NULL, 1002 },
		{ "ne-queue", required_argument, NULL, 1003 },  { "ne-mark-mask", required_argument, NULL, 1004 },
		{ "ne-forward", no_argument, NULL, 1005 },      { "ne-loopback", no_argument, NULL, 1006 },
		{ "ne-cgroup", required_argument, NULL, 1007 }, { "no-ne", no_argument, NULL, 1008 },
		{ "es-no-colocate", no_argument, NULL, 1009 }, { "es-busy-poll", required_argument, NULL, 1010 },
		{ "es-nice", required_argument, NULL, 1011 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *root = NULL;
	struct manager_config cfg = {
		.crash_limit = 3,
		.crash_window_ms = 600000,
		.uid_base = 2100000000u,
		.memory_max = 256ull << 20,
		.pids_max = 256,
		.stop_timeout_ms = 5000,
		.es_enabled = true,
		.es.colocate = true,
		.es.busy_poll_us = 50,
		.es.nice = -10,
		.ne_enabled = true,
	};
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': root = optarg; break;
		case 'f': break;
		case 'd': log_max_level = LOG_DEBUG; break;
		case 'S': cfg.no_seccomp = true; break;
		case 'h': usage(stdout); return 0;
		case 'N': cfg.es_enabled = false; break;
		case 1001: cfg.ne.fail_closed = true; break;
		case 1005: cfg.ne.forward = true; break;
		case 1006: cfg.ne.loopback = true; break;
		case 1007: cfg.ne.cgroup_dir = optarg; break;
		case 1008: cfg.ne_enabled = false; break;
		case 1009: cfg.es.colocate = false; break;
		case 1010:
			if (parse_u64(optarg, 0, 1000, &v) < 0) {
				fprintf(stderr, "uextd: invalid value '%s' for --es-busy-poll (range 0..1000 µs)\n", optarg);
				return 2;
			}
			cfg.es.busy_poll_us = (uint32_t)v;
			break;
		case 1011: {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || n < -20 || n > 19) {
				fprintf(stderr, "uextd: invalid value '%s' for --es-nice (range -20..19)\n", optarg);
				return 2;
			}
			cfg.es.nice = (int)n;
			break;
		}
		case 1002:
		case 1003:
			if (parse_u64(optarg, c == 1002 ? 10 : 0, c == 1002 ? 600000 : 65535, &v) < 0) {
				fprintf(stderr, "uextd: invalid value '%s' for --%s\n", optarg, c == 1002 ? "ne-deadline" : "ne-queue");
				return 2;
			}
			if (c == 1002) cfg.ne.deadline_ms = (uint32_t)v;
			else cfg.ne.queue = (uint16_t)v;
			break;
		case 1004: {
			char *end;
			errno = 0;
			unsigned long mv = strtoul(optarg, &end, 16);
			if (errno || end == optarg || *end || mv == 0 || mv > 0xffffffffUL) {
				fprintf(stderr, "uextd: invalid value '%s' for --ne-mark-mask (hex, e.g. 0x07000000)\n", optarg);
				return 2;
			}
			cfg.ne.mark_mask = (uint32_t)mv;
			break;
		}
		case 'A': cfg.es.auth_exec_args = true; break;
		case 'F': cfg.es.fail_closed = true; break;
		case 'W':
			if (cfg.es.nwatch == ES_ENGINE_MAX_WATCH) {
				fprintf(stderr, "uextd: at most %d --es-watch\n", ES_ENGINE_MAX_WATCH);
				return 2;
			}
			if (optarg[0] != '/') {
				fprintf(stderr, "uextd: --es-watch needs an absolute path, not '%s'\n", optarg);
				return 2;
			}
			cfg.es.watch[cfg.es.nwatch++] = optarg;
			break;
		case 'D':
		case 'm':
			if (parse_u64(optarg, 1, c == 'D' ? 600000 : 1000, &v) < 0) {
				fprintf(stderr, "uextd: invalid value '%s' for --%s\n", optarg,
					c == 'D' ? "es-deadline" : "es-misses");
				return 2;
			}
			if (c == 'D') cfg.es.deadline_ms[0] = cfg.es.deadline_ms[1] = (uint32_t)v;
			else cfg.es.max_misses = (uint32_t)v;
			break;
		case 'c':
		case 'w':
		case 'u':
		case 'M':
		case 'P':
		case 's': {
			static const struct { int opt; uint64_t min, max; } lim[] = {
				{ 'c', 1, 1000 }, { 'w', 1, 86400 * 7 }, { 'u', 65536, 4000000000ull },
				{ 'M', 1 << 20, 1ull << 40 }, { 'P', 8, 1 << 22 }, { 's', 10, 600000 },
			};
			unsigned i = 0;
			while (lim[i].opt != c) i++;
			if (parse_u64(optarg, lim[i].min, lim[i].max, &v) < 0) {
				fprintf(stderr, "uextd: invalid value '%s' for --%s (range %llu..%llu)\n", optarg,
					opts[c == 'c' ? 3 : c == 'w' ? 4 : c == 'u' ? 5 : c == 'M' ? 6 : c == 'P' ? 7 : 8].name,
					(unsigned long long)lim[i].min, (unsigned long long)lim[i].max);
				return 2;
			}
			if (c == 'c') cfg.crash_limit = (unsigned)v;
			if (c == 'w') cfg.crash_window_ms = v * 1000;
			if (c == 'u') cfg.uid_base = (uid_t)v;
			if (c == 'M') cfg.memory_max = v;
			if (c == 'P') cfg.pids_max = (uint32_t)v;
			if (c == 's') cfg.stop_timeout_ms = v;
			break;
		}
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uextd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "uextd: must run as root (it creates sandboxes and opens kernel interfaces)\n");
		return 1;
	}
	root = uext_paths_root_from_env(root);
	int r = uext_paths_init(&cfg.paths, root);
	if (r < 0) {
		fprintf(stderr, "uextd: root '%s': %s\n", root ? root : "/", strerror(-r));
		return 1;
	}
	if (lock_root(&cfg.paths) < 0) return 1;
	signal(SIGPIPE, SIG_IGN);
	/* Children inherit no signal mask surprises: sandbox.c resets the mask before exec. */
	struct loop *loop = NULL;
	struct manager *m = NULL;
	struct control *ctl = NULL;
	struct ctx x = { 0 };
	if ((r = loop_new(&loop)) < 0 || (r = manager_new(loop, &cfg, &m)) < 0) goto out;
	x.loop = loop;
	x.m = m;
	if ((r = loop_add_signal(loop, SIGTERM, on_term, &x)) < 0 || (r = loop_add_signal(loop, SIGINT, on_term, &x)) < 0 ||
	    (r = loop_add_signal(loop, SIGHUP, on_hup, &x)) < 0)
		goto out;
	if ((r = manager_start(m)) < 0) goto out;
	if ((r = control_new(loop, m, cfg.paths.control, &ctl)) < 0) {
		ulog(LOG_ERR, "control socket '%s': %s", cfg.paths.control, strerror(-r));
		goto out;
	}
	ulog(LOG_INFO, "listening on '%s'", cfg.paths.control);
	r = loop_run(loop);
out:
	if (r < 0) ulog(LOG_ERR, "exiting: %s", strerror(-r));
	control_free(ctl);
	manager_free(m);
	loop_free(loop);
	return r < 0 ? 1 : 0;
}
