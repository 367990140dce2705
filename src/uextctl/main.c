/* main.c: uextctl, the command line of uext (the role of systemextensionsctl). It parses
 * arguments, talks to uextd over the control socket, and formats the answers. Bundle
 * signing, key generation and the legacy-module scan run locally. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/ctlclient.h"
#include "common/ipc.h"
#include "common/manifest.h"
#include "common/paths.h"
#include "legacy.h"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2, EXIT_NOTFOUND = 3 };

struct opts {
	const char *root;
	int timeout_ms;
	bool json, force, no_wait, yes, have_gen;
	uint64_t gen;
	const char *key, *dir, *proc_modules, *sys_module;
	char *args[8];
	int nargs;
};

static struct uext_paths paths;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: uextctl [--root DIR] [--timeout SECONDS] [--json] COMMAND [ARGS]\n\n"
		"Extensions:\n"
		"  status                      manager state, developer mode, sandbox features, counters\n"
		"  list [TYPE]                 installed extensions and their states\n"
		"  install BUNDLE [--force] [--no-wait]\n"
		"                              stage, verify and install (or upgrade) a bundle\n"
		"  approve ID                  approve an extension waiting for an admin\n"
		"  activate ID                 enable a deactivated or failed extension again\n"
		"  deactivate ID               stop and disable, keep installed\n"
		"  uninstall ID                stop and remove\n"
		"  reset --yes                 remove every extension and all their state\n"
		"  developer on|off            accept unsigned bundles (shown in status and list)\n"
		"  history [ID]                state transitions with times and reasons\n"
		"  wait ID [running|stopped|gone]\n"
		"                              wait (up to --timeout) until the extension is so\n"
		"Preferences:\n"
		"  prefs get DOMAIN [KEY]      read preferences (JSON values with generations)\n"
		"  prefs set DOMAIN KEY VALUE [--gen N]\n"
		"                              write; with --gen, refused if the key changed since N\n"
		"Bundles and keys (local):\n"
		"  keygen PUBLISHER [--dir DIR]    make an Ed25519 key pair\n"
		"  sign BUNDLE --key KEYFILE       sign every file of a bundle\n"
		"  verify BUNDLE                   verify against the trusted keys of the manager\n"
		"  legacy [--proc-modules FILE] [--sys-module DIR]\n"
		"                                  kernel modules that taint the kernel, and the uext\n"
		"                                  extension type that replaces each\n\n"
		"Environment: UEXT_ROOT sets --root. Exit status: 0 ok, 1 error, 2 usage, 3 not found.\n"
		"See uextctl(8).\n");
}

static int die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "uextctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'uextctl --help'.\n");
	va_end(ap);
	return EXIT_USAGE;
}

static int exit_for(int err)
{
	if (err == 0) return EXIT_OK;
	if (err == -ENOENT) return EXIT_NOTFOUND;
	return EXIT_ERR;
}

/* ---- talking to uextd ---- */

static int connect_manager(const struct opts *o)
{
	int fd = ctl_connect(paths.control, o->timeout_ms);
	if (fd < 0) {
		pid_t pid;
		if (fd == -ETIMEDOUT && uext_paths_manager(&paths, &pid) > 0)
			fprintf(stderr, "uextctl: uextd (pid %d) holds '%s' but did not answer on '%s' within %d ms\n",
				(int)pid, paths.lock, paths.control, o->timeout_ms); /* pid 0: another pid namespace */
		else if (fd == -ETIMEDOUT)
			fprintf(stderr, "uextctl: uextd is not running (no answer on '%s' within %d ms)\n", paths.control,
				o->timeout_ms);
		else
			fprintf(stderr, "uextctl: cannot connect to '%s': %s\n", paths.control, strerror(-fd));
	}
	return fd;
}

/* Send req, print the reply's error message on failure. Returns 0 / -errno (the
 * manager's answer) and the reply in rep, or a transport error (rep empty). */
static int call(const struct opts *o, struct ipc_msg *req, struct ipc_msg *rep, int extra_ms)
{
	memset(rep, 0, sizeof *rep);
	int fd = connect_manager(o);
	if (fd < 0) {
		ipc_msg_done(req);
		return fd;
	}
	int r = ctl_call(fd, req, rep, o->timeout_ms + extra_ms + 2000);
	ipc_msg_done(req);
	close(fd);
	if (r < 0) {
		pid_t pid;
		if (r == -ETIMEDOUT && uext_paths_manager(&paths, &pid) > 0 && pid > 0)
			fprintf(stderr, "uextctl: no answer from uextd (pid %d) within %d ms: is it stopped or stuck?\n", (int)pid,
				o->timeout_ms + extra_ms + 2000);
		else
			fprintf(stderr, "uextctl: no answer from uextd: %s\n", strerror(-r));
		return r;
	}
	int32_t err = -EBADMSG;
	ipc_get_i32(rep, T_ERR, &err);
	if (err < 0) {
		const char *m = NULL;
		ipc_get_str(rep, T_ERRMSG, &m);
		fprintf(stderr, "uextctl: %s\n", m && *m ? m : strerror(-err));
	}
	return err;
}

static json_t *reply_json(const struct ipc_msg *rep)
{
	const char *s;
	if (ipc_get_str(rep, T_JSON, &s) < 0) return NULL;
	return json_loads(s, JSON_DECODE_ANY, NULL);
}

static const char *human_state(const char *s, char *buf, size_t n)
{
	snprintf(buf, n, "%s", s);
	for (char *p = buf; *p; p++)
		if (*p == '_') *p = ' ';
	return buf;
}

/* The Endpoint Security part of `uextctl status`: which sources run, and why not. */
static void print_ne_status(json_t *ne)
{
	if (!ne) return;
	const char *why = json_string_value(json_object_get(ne, "why_not"));
	json_t *f = json_object_get(ne, "filter");
	printf("ne engine:   %s; with no filter answer new flows are %s\n",
	       json_is_true(json_object_get(ne, "active")) ? "filtering" : "not filtering",
	       strcmp(json_string_value(json_object_get(ne, "no_filter")) ?: "", "drop") == 0 ? "RESET (fail-closed)"
											 : "allowed (fail-open)");
	if (why && *why) printf("ne why not:  %s\n", why);
	if (json_object_get(ne, "backend"))
		printf("ne kernel:   %s (%s), queue %lld, mark mask 0x%llx; attribution %s%s%s\n",
		       json_string_value(json_object_get(ne, "backend")), json_string_value(json_object_get(ne, "iptables")),
		       (long long)json_integer_value(json_object_get(ne, "queue")),
		       (long long)json_integer_value(json_object_get(ne, "mark_mask")),
		       json_string_value(json_object_get(json_object_get(ne, "attribution"), "kernel")),
		       *(json_string_value(json_object_get(json_object_get(ne, "attribution"), "why_not")) ?: "") ? ": " : "",
		       json_string_value(json_object_get(json_object_get(ne, "attribution"), "why_not")) ?: "");
	if (json_is_object(f))
		printf("ne filter:   pid %lld, %lld rules, %lld flows asked, %lld verdicts, %lld deadline misses\n",
		       (long long)json_integer_value(json_object_get(f, "pid")), (long long)json_integer_value(json_object_get(f, "rules")),
		       (long long)json_integer_value(json_object_get(f, "flows_sent")),
		       (long long)json_integer_value(json_object_get(f, "verdicts")),
		       (long long)json_integer_value(json_object_get(f, "deadline_misses")));
	json_t *k = json_object_get(ne, "counters");
	if (json_is_object(k)) {
		printf("ne counters:");
		const char *key;
		json_t *v;
		json_object_foreach(k, key, v) printf(" %s=%lld", key, json_integer_value(v));
		printf("\n");
	}
}

static void print_es_status(json_t *es)
{
	if (!es) return;
	if (json_is_false(json_object_get(es, "running"))) {
		printf("es engine:   not running: %s\n", json_string_value(json_object_get(es, "why_not")));
		return;
	}
	json_t *src = json_object_get(es, "sources");
	json_t *fa = json_object_get(src, "fanotify"), *pr = json_object_get(src, "process");
	json_t *fsys = json_object_get(fa, "filesystems");
	printf("es engine:   AUTH deadline exec %lld ms, open %lld ms; a missed deadline %s; %zu client(s)\n",
	       (long long)json_integer_value(json_object_get(json_object_get(es, "deadline_ms"), "auth_exec")),
	       (long long)json_integer_value(json_object_get(json_object_get(es, "deadline_ms"), "auth_open")),
	       strcmp(json_string_value(json_object_get(es, "miss_default")) ?: "", "deny") == 0 ? "DENIES (fail-closed)"
												: "allows (fail-open)",
	       json_array_size(json_object_get(es, "clients")));
	printf("es sources:  file events (fanotify) %s", json_is_true(json_object_get(fa, "permission")) ||
							     json_is_true(json_object_get(fa, "notify"))
						     ? "active"
						     : "inactive");
	const char *why = json_string_value(json_object_get(fa, "why_not"));
	if (why && *why) printf(" (%s)", why);
	size_t i;
	json_t *v;
	json_array_foreach(fsys, i, v) printf("%s%s", i ? ", " : " on ", json_string_value(v));
	printf("; process events %s", json_is_true(json_object_get(pr, "active")) ? json_string_value(json_object_get(pr, "kind"))
										 : "inactive");
	why = json_string_value(json_object_get(pr, "why_not"));
	if (why && *why) printf(" (%s)", why);
	printf("\n");
	json_t *c;
	json_array_foreach(json_object_get(es, "clients"), i, c) {
		printf("es client:   pid %lld: %lld subscriptions, %lld delivered, %lld dropped, %lld deadline misses (%s)",
		       (long long)json_integer_value(json_object_get(c, "pid")),
		       (long long)json_integer_value(json_object_get(c, "subscriptions")),
		       (long long)json_integer_value(json_object_get(c, "delivered")),
		       (long long)json_integer_value(json_object_get(c, "dropped")),
		       (long long)json_integer_value(json_object_get(c, "deadline_misses")),
		       json_string_value(json_object_get(c, "miss_mode")));
		json_t *rt = json_object_get(c, "auth_response_us");
		if (json_integer_value(json_object_get(rt, "n")) > 0)
			printf(", %lld verdicts in p50 %lld / p99 %lld / max %lld µs",
			       (long long)json_integer_value(json_object_get(rt, "n")),
			       (long long)json_integer_value(json_object_get(rt, "p50")),
			       (long long)json_integer_value(json_object_get(rt, "p99")),
			       (long long)json_integer_value(json_object_get(rt, "max")));
		if (json_is_true(json_object_get(c, "colocate"))) printf(", shares the engine's CPU");
		printf("\n");
	}
	json_t *co = json_object_get(es, "colocate");
	if (co) {
		json_int_t cpu = json_integer_value(json_object_get(co, "cpu"));
		if (cpu >= 0)
			printf("es engine:   on CPU %lld with its co-located AUTH clients (a wake-up waits %.1f µs there; %lld moves)\n",
			       (long long)cpu, (double)json_integer_value(json_object_get(co, "wait_ns_per_run")) / 1000,
			       (long long)json_integer_value(json_object_get(co, "moves")));
		else
			printf("es engine:   not pinned to a CPU (%s)\n", json_string_value(json_object_get(co, "why_not")));
	}
	json_t *ni = json_object_get(es, "nice");
	if (ni) {
		const char *nwhy = json_string_value(json_object_get(ni, "why_not"));
		printf("es engine:   runs at nice %lld", (long long)json_integer_value(json_object_get(ni, "value")));
		if (nwhy && *nwhy) printf(" (wanted %lld: %s)", (long long)json_integer_value(json_object_get(ni, "wanted")), nwhy);
		printf("\n");
	}
	json_t *bp = json_object_get(es, "busy_poll");
	if (bp) {
		json_int_t max = json_integer_value(json_object_get(bp, "max_us"));
		if (max > 0)
			printf("es engine:   polls up to %lld µs for the next AUTH (now %lld µs): %lld of %lld events caught, "
			       "%lld ms polled, %lld times cut short by other threads\n",
			       (long long)max, (long long)json_integer_value(json_object_get(bp, "window_us")),
			       (long long)json_integer_value(json_object_get(bp, "caught")),
			       (long long)json_integer_value(json_object_get(bp, "events")),
			       (long long)json_integer_value(json_object_get(bp, "polled_ms")),
			       (long long)json_integer_value(json_object_get(bp, "contended")));
		else
			printf("es engine:   sleeps between AUTH events (%s)\n", json_string_value(json_object_get(bp, "why_not")));
	}
	json_t *k = json_object_get(es, "counters");
	printf("es counters: ");
	const char *name;
	json_object_foreach(k, name, v) printf(" %s=%lld", name, (long long)json_integer_value(v));
	printf("\n");
}

static int cmd_status(const struct opts *o)
{
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, CTL_STATUS, 0) < 0) return EXIT_ERR;
	int r = call(o, &req, &rep, 0);
	if (r < 0) {
		ipc_msg_done(&rep);
		return exit_for(r);
	}
	json_t *j = reply_json(&rep);
	ipc_msg_done(&rep);
	if (!j) return EXIT_ERR;
	if (o->json) {
		json_dumpf(j, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		json_t *pol = json_object_get(j, "policy"), *sb = json_object_get(j, "sandbox"),
		       *ex = json_object_get(j, "extensions"), *ct = json_object_get(j, "counters");
		if (json_is_true(json_object_get(j, "developer_mode")))
			printf("*** DEVELOPER MODE IS ON: unsigned extensions are accepted ***\n");
		printf("uextd %s, pid %lld, root %s, up %lld s\n", json_string_value(json_object_get(j, "version")),
		       json_integer_value(json_object_get(j, "pid")), json_string_value(json_object_get(j, "root")),
		       json_integer_value(json_object_get(j, "uptime_ms")) / 1000);
		printf("policy:      %s%s%s; admins may approve: %s\n", json_string_value(json_object_get(pol, "file")),
		       json_is_true(json_object_get(pol, "valid")) ? "" : " INVALID: ",
		       json_is_true(json_object_get(pol, "valid")) ? "" : json_string_value(json_object_get(pol, "error")),
		       json_is_true(json_object_get(pol, "allow_user_overrides")) ? "yes" : "no");
		printf("sandbox:     cgroup %s, seccomp %s, mount namespace %s; limits: memory %lld MiB, %lld pids\n",
		       json_is_true(json_object_get(sb, "cgroup_v2"))   ? "v2"
		       : json_is_true(json_object_get(sb, "cgroup_v1")) ? "v1 (hybrid)"
									: "none",
		       json_is_true(json_object_get(sb, "seccomp")) ? "on" : "OFF",
		       json_is_true(json_object_get(sb, "mount_namespace")) ? "on" : "off",
		       json_integer_value(json_object_get(sb, "memory_max")) >> 20,
		       json_integer_value(json_object_get(sb, "pids_max")));
		printf("restarts:    failed after %lld crashes in %lld s\n", json_integer_value(json_object_get(sb, "crash_limit")),
		       json_integer_value(json_object_get(sb, "crash_window_s")));
		printf("extensions:  %lld installed, %lld running, %lld waiting for approval, %lld failed\n",
		       json_integer_value(json_object_get(ex, "total")), json_integer_value(json_object_get(ex, "running")),
		       json_integer_value(json_object_get(ex, "waiting_for_user")), json_integer_value(json_object_get(ex, "failed")));
		json_t *fa = json_object_get(json_object_get(j, "kernel"), "fanotify");
		if (fa) {
			printf("fanotify:    permission events %s, exec %s, file names (FID) %s, filesystem marks %s, "
			       "evictable cache marks %s%s%s\n",
			       json_is_true(json_object_get(fa, "permission_events")) ? "yes" : "NO",
			       json_is_true(json_object_get(fa, "open_exec_perm")) ? "yes" : "no",
			       json_is_true(json_object_get(fa, "fid_names")) ? "yes" : "no",
			       json_is_true(json_object_get(fa, "filesystem_marks")) ? "yes" : "no",
			       json_is_true(json_object_get(fa, "evictable_cache_marks")) ? "yes" : "no",
			       *json_string_value(json_object_get(fa, "missing_because")) ? " — missing because: " : "",
			       json_string_value(json_object_get(fa, "missing_because")));
		}
		print_es_status(json_object_get(j, "es"));
		print_ne_status(json_object_get(j, "ne"));
		printf("counters:   ");
		const char *k;
		json_t *v;
		json_object_foreach(ct, k, v) printf(" %s=%lld", k, json_integer_value(v));
		printf("\n");
	}
	json_decref(j);
	return EXIT_OK;
}

static int cmd_list(const struct opts *o)
{
	const char *type = o->nargs > 0 ? o->args[0] : NULL;
	if (type && ext_type_from_name(type) < 0) return die_usage("unknown extension type '%s'", type);
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, CTL_LIST, 0) < 0) return EXIT_ERR;
	int r = call(o, &req, &rep, 0);
	if (r < 0) {
		ipc_msg_done(&rep);
		return exit_for(r);
	}
	json_t *all = reply_json(&rep);
	ipc_msg_done(&rep);
	if (!json_is_array(all)) return EXIT_ERR;
	json_t *a = json_array();
	size_t i;
	json_t *x;
	json_array_foreach(all, i, x) {
		if (!type || strcmp(json_string_value(json_object_get(x, "type")), type) == 0) json_array_append(a, x);
	}
	json_decref(all);
	if (o->json) {
		json_dumpf(a, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(a);
		return EXIT_OK;
	}
	/* The shape of systemextensionsctl list: grouped by category, '*' columns. */
	struct ipc_msg sreq, srep;
	bool dev = false;
	if (ipc_msg_init(&sreq, CTL_STATUS, 0) == 0 && call(o, &sreq, &srep, 0) == 0) {
		json_t *s = reply_json(&srep);
		dev = json_is_true(json_object_get(s, "developer_mode"));
		json_decref(s);
	}
	ipc_msg_done(&srep);
	if (dev) printf("*** DEVELOPER MODE IS ON: unsigned extensions are accepted ***\n");
	printf("%zu extension(s)\n", json_array_size(a));
	for (int t = 0; t < EXT_TYPE_COUNT; t++) {
		bool header = false;
		json_array_foreach(a, i, x) {
			if (strcmp(json_string_value(json_object_get(x, "type")), ext_type_name(t)) != 0) continue;
			if (!header) {
				printf("--- %s\nenabled\tactive\tpublisher\tidentifier (version)\tname\tpid\t[state]\n", ext_type_name(t));
				header = true;
			}
			const char *st = json_string_value(json_object_get(x, "state"));
			bool enabled = strcmp(st, "activated_enabled") == 0;
			bool active = strcmp(json_string_value(json_object_get(x, "run")), "running") == 0;
			char hs[64];
			printf("%s\t%s\t%s\t%s (%s)\t%s\t%lld\t[%s]%s\n", enabled ? "*" : "", active ? "*" : "",
			       json_string_value(json_object_get(x, "publisher")),
			       json_string_value(json_object_get(x, "identifier")),
			       json_string_value(json_object_get(x, "version")), json_string_value(json_object_get(x, "name")),
			       json_integer_value(json_object_get(x, "pid")), human_state(st, hs, sizeof hs),
			       json_is_true(json_object_get(x, "signed")) ? "" : " UNSIGNED");
			if (strcmp(st, "failed") == 0)
				printf("\t\treason: %s\n", json_string_value(json_object_get(x, "reason")));
		}
	}
	json_decref(a);
	return EXIT_OK;
}

static void print_result(const struct ipc_msg *rep)
{
	const char *m = NULL, *st = NULL;
	int32_t pid = 0;
	ipc_get_str(rep, T_ERRMSG, &m);
	ipc_get_str(rep, T_STATE, &st);
	ipc_get_i32(rep, T_PID, &pid);
	if (m && *m) printf("%s", m);
	if (st) {
		char hs[64];
		printf("%s[%s]", m && *m ? " " : "", human_state(st, hs, sizeof hs));
		if (pid > 0) printf(" pid %d", pid);
	}
	printf("\n");
}

static int simple(const struct opts *o, uint16_t type, const char *ident, uint32_t flags)
{
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, type, 0) < 0) return EXIT_ERR;
	if (ident && ipc_put_str(&req, T_IDENT, ident) < 0) {
		fprintf(stderr, "uextctl: identifier too long\n");
		ipc_msg_done(&req);
		return EXIT_USAGE;
	}
	if (!o->no_wait && type != CTL_RESET && type != CTL_DEVELOPER) flags |= IPC_F_WAIT;
	ipc_put_u32(&req, T_FLAGS, flags);
	if (type != CTL_RESET && type != CTL_DEVELOPER) ipc_put_u32(&req, T_TIMEOUT, (uint32_t)o->timeout_ms);
	int r = call(o, &req, &rep, o->timeout_ms);
	if (r == 0) print_result(&rep);
	ipc_msg_done(&rep);
	return exit_for(r);
}

static int cmd_install(const struct opts *o)
{
	if (o->nargs != 1) return die_usage("install needs one BUNDLE directory");
	char abs[PATH_MAX];
	if (!realpath(o->args[0], abs)) {
		fprintf(stderr, "uextctl: '%s': %s\n", o->args[0], strerror(errno));
		return errno == ENOENT ? EXIT_NOTFOUND : EXIT_ERR;
	}
	/* The manager reads the bundle through this fd: with the caller's rights to reach
	 * it, whatever mount namespace or permissions the path has for uextd. */
	int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "uextctl: '%s': %s\n", abs, strerror(errno));
		return EXIT_ERR;
	}
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, CTL_INSTALL, 0) < 0) {
		close(fd);
		return EXIT_ERR;
	}
	uint32_t flags = (o->force ? IPC_F_FORCE : 0) | (o->no_wait ? 0 : IPC_F_WAIT);
	if (ipc_put_str(&req, T_PATH, abs) < 0 || ipc_put_u32(&req, T_FLAGS, flags) < 0 ||
	    ipc_put_u32(&req, T_TIMEOUT, (uint32_t)o->timeout_ms) < 0 || ipc_take_fd(&req, fd) < 0) {
		ipc_msg_done(&req);
		return EXIT_ERR;
	}
	int r = call(o, &req, &rep, o->timeout_ms);
	if (r == 0) print_result(&rep);
	ipc_msg_done(&rep);
	return exit_for(r);
}

static int cmd_prefs(const struct opts *o)
{
	if (o->nargs < 2) return die_usage("prefs needs get|set and a DOMAIN");
	bool set = strcmp(o->args[0], "set") == 0;
	if (!set && strcmp(o->args[0], "get") != 0) return die_usage("prefs: unknown action '%s'", o->args[0]);
	if (set && o->nargs != 4) return die_usage("prefs set needs DOMAIN KEY VALUE");
	if (!set && o->nargs > 3) return die_usage("prefs get takes DOMAIN [KEY]");
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, set ? CTL_PREFS_SET : CTL_PREFS_GET, 0) < 0) return EXIT_ERR;
	int r = ipc_put_str(&req, T_DOMAIN, o->args[1]);
	if (set) {
		/* A value that is not JSON is taken as a string: 'prefs set d k hello' works. */
		json_t *v = json_loads(o->args[3], JSON_DECODE_ANY, NULL);
		char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		if (!v) {
			json_t *s = json_string(o->args[3]);
			text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
			json_decref(s);
		}
		json_decref(v);
		if (!text) {
			ipc_msg_done(&req);
			fprintf(stderr, "uextctl: value is neither JSON nor UTF-8 text\n");
			return EXIT_USAGE;
		}
		if (r == 0) r = ipc_put_str(&req, T_KEY, o->args[2]);
		if (r == 0) r = ipc_put_str(&req, T_VALUE, text);
		free(text);
		if (r == 0 && o->have_gen) r = ipc_put_u64(&req, T_GEN, o->gen) ?: ipc_put_u32(&req, T_FLAGS, IPC_F_EXPECT_GEN);
	} else if (r == 0 && o->nargs == 3) {
		r = ipc_put_str(&req, T_KEY, o->args[2]);
	}
	if (r < 0) {
		ipc_msg_done(&req);
		fprintf(stderr, "uextctl: %s\n", r == -E2BIG ? "value too large" : strerror(-r));
		return EXIT_USAGE;
	}
	r = call(o, &req, &rep, 0);
	if (r == 0) {
		uint64_t gen = 0;
		const char *v = NULL;
		ipc_get_u64(&rep, T_GEN, &gen);
		if (set) {
			if (o->json) printf("{\"generation\":%llu}\n", (unsigned long long)gen);
			else printf("saved '%s' in '%s' (generation %llu)\n", o->args[2], o->args[1], (unsigned long long)gen);
		} else if (ipc_get_str(&rep, T_VALUE, &v) == 0) {
			if (o->json) printf("{\"value\":%s,\"generation\":%llu}\n", v, (unsigned long long)gen);
			else printf("%s\n", v);
		} else if (ipc_get_str(&rep, T_JSON, &v) == 0) {
			json_t *j = json_loads(v, 0, NULL);
			if (j) json_dumpf(j, stdout, JSON_INDENT(2)), putchar('\n');
			json_decref(j);
		}
	}
	ipc_msg_done(&rep);
	if (r == -ESTALE) return 4;
	return exit_for(r);
}

static int cmd_history(const struct opts *o)
{
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, CTL_HISTORY, 0) < 0) return EXIT_ERR;
	if (o->nargs > 0) ipc_put_str(&req, T_IDENT, o->args[0]);
	int r = call(o, &req, &rep, 0);
	json_t *a = r == 0 ? reply_json(&rep) : NULL;
	ipc_msg_done(&rep);
	if (r < 0) return exit_for(r);
	if (o->json) {
		json_dumpf(a, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		size_t i;
		json_t *x;
		json_array_foreach(a, i, x) {
			time_t t = (time_t)(json_integer_value(json_object_get(x, "time")) / 1000);
			struct tm tm;
			char ts[32];
			localtime_r(&t, &tm);
			strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
			const char *from = json_string_value(json_object_get(x, "from"));
			printf("%s  %s %s  %s%s%s  (%s)\n", ts, json_string_value(json_object_get(x, "identifier")),
			       json_string_value(json_object_get(x, "version")), from && *from ? from : "",
			       from && *from ? " -> " : "", json_string_value(json_object_get(x, "to")),
			       json_string_value(json_object_get(x, "reason")));
		}
	}
	json_decref(a);
	return EXIT_OK;
}

static int cmd_wait(const struct opts *o)
{
	const char *what = o->nargs > 1 ? o->args[1] : "running";
	if (o->nargs < 1 || o->nargs > 2 ||
	    (strcmp(what, "running") != 0 && strcmp(what, "stopped") != 0 && strcmp(what, "gone") != 0))
		return die_usage("wait needs ID and optionally running, stopped or gone");
	struct ipc_msg req, rep;
	if (ipc_msg_init(&req, CTL_WAIT, 0) < 0) return EXIT_ERR;
	if (ipc_put_str(&req, T_IDENT, o->args[0]) < 0 || ipc_put_str(&req, T_STATE, what) < 0 ||
	    ipc_put_u32(&req, T_TIMEOUT, (uint32_t)o->timeout_ms) < 0) {
		ipc_msg_done(&req);
		return EXIT_USAGE;
	}
	int r = call(o, &req, &rep, o->timeout_ms);
	if (r == 0) {
		const char *st = NULL;
		ipc_get_str(&rep, T_STATE, &st);
		/* Reached, or it ended in a state where it will not run by itself. */
		if (strcmp(what, "running") == 0 && st && strcmp(st, "activated_enabled") != 0) {
			char hs[64];
			fprintf(stderr, "uextctl: '%s' is %s: it will not run without an admin\n", o->args[0],
				human_state(st, hs, sizeof hs));
			r = -EAGAIN;
		} else {
			print_result(&rep);
		}
	}
	ipc_msg_done(&rep);
	return exit_for(r);
}

/* ---- local commands ---- */

static int load_manifest_of(const char *bundle, struct manifest *mf)
{
	char err[512] = "";
	int fd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "uextctl: '%s': %s\n", bundle, strerror(errno));
		return -errno;
	}
	int r = manifest_load_at(fd, mf, err, sizeof err);
	close(fd);
	if (r < 0) fprintf(stderr, "uextctl: '%s': %s\n", bundle, err[0] ? err : strerror(-r));
	return r;
}

static int cmd_keygen(const struct opts *o)
{
	if (o->nargs != 1) return die_usage("keygen needs a PUBLISHER name");
	char err[512] = "";
	const char *dir = o->dir ? o->dir : ".";
	int r = bundle_keygen(dir, o->args[0], err, sizeof err);
	if (r < 0) {
		fprintf(stderr, "uextctl: %s\n", err[0] ? err : strerror(-r));
		return EXIT_ERR;
	}
	printf("key pair for '%s': %s/%s.key (secret, keep it safe) and %s/%s.pub\n"
	       "trust it on a manager by copying the .pub file to %s/\n",
	       o->args[0], dir, o->args[0], dir, o->args[0], paths.keys);
	return EXIT_OK;
}

static int cmd_sign(const struct opts *o)
{
	if (o->nargs != 1 || !o->key) return die_usage("sign needs BUNDLE and --key KEYFILE");
	struct manifest mf = { 0 };
	if (load_manifest_of(o->args[0], &mf) < 0) return EXIT_ERR;
	char err[512] = "";
	int r = bundle_sign(o->args[0], o->key, mf.publisher, err, sizeof err);
	if (r < 0)
		fprintf(stderr, "uextctl: %s\n", err[0] ? err : strerror(-r));
	else
		printf("signed '%s' %s as '%s'\n", mf.identifier, mf.version_str, mf.publisher);
	manifest_done(&mf);
	return r < 0 ? EXIT_ERR : EXIT_OK;
}

static int cmd_verify(const struct opts *o)
{
	if (o->nargs != 1) return die_usage("verify needs a BUNDLE");
	struct manifest mf = { 0 };
	if (load_manifest_of(o->args[0], &mf) < 0) return EXIT_ERR;
	struct pubkey *keys = NULL;
	size_t n = 0;
	char err[512] = "";
	bundle_load_pubkeys(paths.keys, &keys, &n, err, sizeof err);
	err[0] = 0;
	int fd = open(o->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = fd < 0 ? -errno : bundle_verify_at(fd, mf.publisher, keys, n, err, sizeof err);
	if (fd >= 0) close(fd);
	if (r < 0)
		fprintf(stderr, "uextctl: '%s': %s\n", o->args[0], err[0] ? err : strerror(-r));
	else
		printf("'%s' %s: signature valid, signed by '%s', every file intact\n", mf.identifier, mf.version_str,
		       mf.publisher);
	free(keys);
	manifest_done(&mf);
	return r < 0 ? EXIT_ERR : EXIT_OK;
}

static int cmd_legacy(const struct opts *o)
{
	struct legacy_report *rep = NULL;
	int r = legacy_scan(o->proc_modules ? o->proc_modules : "/proc/modules",
			    o->sys_module ? o->sys_module : "/sys/module", &rep);
	if (r < 0) {
		fprintf(stderr, "uextctl: legacy: %s\n", strerror(-r));
		return EXIT_ERR;
	}
	r = legacy_print(rep, stdout, o->json);
	legacy_report_free(rep);
	return r < 0 ? EXIT_ERR : EXIT_OK;
}

/* ---- arguments ---- */

static int parse_args(int argc, char **argv, struct opts *o, const char **cmd)
{
	*cmd = NULL;
	bool opts_done = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
#define NEEDVAL()                                                                         \
	do {                                                                              \
		if (i + 1 >= argc) return die_usage("option '%s' needs a value", a);   \
		val = argv[++i];                                                          \
	} while (0)
		if (!opts_done && a[0] == '-' && a[1]) {
			if (strcmp(a, "--") == 0) opts_done = true;
			else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				usage(stdout);
				exit(0);
			} else if (strcmp(a, "--root") == 0) { NEEDVAL(); o->root = val; }
			else if (strcmp(a, "--timeout") == 0) {
				NEEDVAL();
				char *end;
				double s = strtod(val, &end);
				if (*end || s < 0 || s > 3600) return die_usage("invalid --timeout '%s' (seconds, 0..3600)", val);
				o->timeout_ms = (int)(s * 1000);
			} else if (strcmp(a, "--json") == 0) o->json = true;
			else if (strcmp(a, "--force") == 0) o->force = true;
			else if (strcmp(a, "--no-wait") == 0) o->no_wait = true;
			else if (strcmp(a, "--yes") == 0) o->yes = true;
			else if (strcmp(a, "--key") == 0) { NEEDVAL(); o->key = val; }
			else if (strcmp(a, "--dir") == 0) { NEEDVAL(); o->dir = val; }
			else if (strcmp(a, "--proc-modules") == 0) { NEEDVAL(); o->proc_modules = val; }
			else if (strcmp(a, "--sys-module") == 0) { NEEDVAL(); o->sys_module = val; }
			else if (strcmp(a, "--gen") == 0) {
				NEEDVAL();
				char *end;
				errno = 0;
				o->gen = strtoull(val, &end, 10);
				if (errno || *end || !*val || val[0] == '-') return die_usage("invalid --gen '%s'", val);
				o->have_gen = true;
			} else
				return die_usage("unknown option '%s'", a);
			continue;
		}
		if (!*cmd)
			*cmd = a;
		else if (o->nargs < 8)
			o->args[o->nargs++] = argv[i];
		else
			return die_usage("too many arguments at '%s'", a);
	}
	if (!*cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout_ms = 10000 };
	const char *cmd;
	int r = parse_args(argc, argv, &o, &cmd);
	if (r) return r;
	const char *root = uext_paths_root_from_env(o.root);
	if ((r = uext_paths_init(&paths, root)) < 0) {
		fprintf(stderr, "uextctl: root '%s': %s\n", root, strerror(-r));
		return EXIT_ERR;
	}
	static const struct {
		const char *name;
		int nargs; /* exact count, or -1: checked by the command */
		uint16_t type;
	} idcmds[] = {
		{ "approve", 1, CTL_APPROVE },
		{ "activate", 1, CTL_ACTIVATE },
		{ "deactivate", 1, CTL_DEACTIVATE },
		{ "uninstall", 1, CTL_UNINSTALL },
	};
	for (size_t i = 0; i < sizeof idcmds / sizeof idcmds[0]; i++) {
		if (strcmp(cmd, idcmds[i].name) != 0) continue;
		if (o.nargs != 1) return die_usage("%s needs one extension identifier", cmd);
		return simple(&o, idcmds[i].type, o.args[0], 0);
	}
	if (strcmp(cmd, "status") == 0) return cmd_status(&o);
	if (strcmp(cmd, "list") == 0) return cmd_list(&o);
	if (strcmp(cmd, "install") == 0) return cmd_install(&o);
	if (strcmp(cmd, "reset") == 0) {
		if (!o.yes) {
			fprintf(stderr, "uextctl: reset removes every extension and its state; run 'uextctl reset --yes'\n");
			return EXIT_USAGE;
		}
		return simple(&o, CTL_RESET, NULL, IPC_F_FORCE);
	}
	if (strcmp(cmd, "developer") == 0) {
		if (o.nargs != 1 || (strcmp(o.args[0], "on") != 0 && strcmp(o.args[0], "off") != 0))
			return die_usage("developer takes on or off");
		return simple(&o, CTL_DEVELOPER, NULL, strcmp(o.args[0], "on") == 0 ? IPC_F_ON : 0);
	}
	if (strcmp(cmd, "prefs") == 0) return cmd_prefs(&o);
	if (strcmp(cmd, "wait") == 0) return cmd_wait(&o);
	if (strcmp(cmd, "history") == 0) return cmd_history(&o);
	if (strcmp(cmd, "keygen") == 0) return cmd_keygen(&o);
	if (strcmp(cmd, "sign") == 0) return cmd_sign(&o);
	if (strcmp(cmd, "verify") == 0) return cmd_verify(&o);
	if (strcmp(cmd, "legacy") == 0) return cmd_legacy(&o);
	return die_usage("unknown command '%s'", cmd);
}
