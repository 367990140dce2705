/* manager.c owns every installed extension: its persisted row, its process, its IPC
 * socket and stdio pipe, and the timers that restart or kill it. It decides state
 * transitions; registry.c stores them, sandbox.c makes the process. */
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <stdarg.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/ipc.h"
#include "common/manifest.h"
#include "common/policy.h"
#include "common/util.h"
#include "log.h"
#include "es/fan.h"
#include "sandbox.h"

#define ST_WAITING "activated_waiting_for_user"
#define ST_ENABLED "activated_enabled"
#define ST_DISABLED "activated_disabled"
#define ST_UNINSTALLING "terminated_waiting_to_uninstall"
#define ST_FAILED "failed"

#define CRASH_MAX 32
#define MAX_INSTALLS 8 /* staging jobs in flight */
#define OUT_LINE 1024
#define LOG_BURST 200 /* lines an extension may log at once; refilled at LOG_RATE/s */
#define LOG_RATE 100

enum after_exit {
	AFTER_RESTART,   /* unexpected exit: crash handling */
	AFTER_NOTHING,   /* deactivated, failed or shutting down */
	AFTER_UNINSTALL, /* finish the uninstall */
	AFTER_UPGRADE,   /* old version stopped: drop its copy, start the new one */
};

struct ext {
	struct manager *m;
	struct reg_ext reg;
	enum run_state run;
	enum after_exit after;
	pid_t pid;
	int sock, out;
	uint64_t spawn_us, ready_latency_us;
	unsigned restarts;
	uint64_t crash_ms[CRASH_MAX];
	unsigned ncrash;
	struct loop_timer *timer; /* restart (backoff) or kill (stop timeout) */
	char old_staged[256];     /* upgrade: copy to remove once the old process is gone */
	char outbuf[OUT_LINE];
	size_t outlen;
	double log_tokens;
	uint64_t log_refill_ms;
	unsigned log_dropped;
	struct ext *next;
};

struct manager {
	struct manager_config cfg;
	struct loop *loop;
	struct registry *reg;
	struct policy *policy;
	struct policy_stamp {
		dev_t dev;
		ino_t ino;
		off_t size;
		time_t sec;
		long nsec;
		bool present;
	} policy_stamp;
	char policy_error[256];
	char cgroup_group[64];
	bool developer;
	bool shutting_down;
	struct ext *exts; /* sorted by identifier */
	manager_change_cb change_cb;
	void *change_data;
	void (*shutdown_done)(struct manager *m, void *data);
	void *shutdown_data;
	struct loop_timer *shutdown_timer;
	bool shutdown_forced;
	int job_pipe[2];          /* install workers hand finished jobs back through it */
	unsigned installs_inflight;
	uint64_t started_ms;
	struct es_engine *es;     /* NULL when disabled or it could not start (es_error says) */
	char es_error[256];
	struct ne_engine *ne;     /* NULL when disabled or it could not start (ne_error says) */
	char ne_error[256];
	struct {
		uint64_t spawns, crashes, restarts, failed, protocol_errors, log_dropped, installs, refusals;
	} stats;
};

static void es_sync_supervised(struct manager *m);

static void ext_spawn(struct manager *m, struct ext *e);
static void ext_stop(struct manager *m, struct ext *e, enum after_exit after);
static void on_ext_sock(struct loop *l, int fd, uint32_t events, void *data);
static void on_ext_out(struct loop *l, int fd, uint32_t events, void *data);

static const char *run_state_name(enum run_state r)
{
	static const char *names[] = { "stopped", "starting", "running", "stopping", "backoff" };
	return names[r];
}

static void changed(struct manager *m, const char *ident)
{
	if (m->change_cb) m->change_cb(m, ident, m->change_data);
}

static struct ext *find_ext(struct manager *m, const char *ident)
{
	for (struct ext *e = m->exts; e; e = e->next)
		if (strcmp(e->reg.identifier, ident) == 0) return e;
	return NULL;
}

static struct ext *ext_alloc(struct manager *m, const struct reg_ext *r)
{
	struct ext *e = calloc(1, sizeof *e);
	if (!e) return NULL;
	e->m = m;
	e->reg = *r;
	e->sock = e->out = -1;
	e->log_tokens = LOG_BURST;
	return e;
}

static void ext_link(struct manager *m, struct ext *e)
{
	struct ext **pp = &m->exts;
	while (*pp && strcmp((*pp)->reg.identifier, e->reg.identifier) < 0) pp = &(*pp)->next;
	e->next = *pp;
	*pp = e;
}

static void ext_unlink_free(struct manager *m, struct ext *e)
{
	for (struct ext **pp = &m->exts; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	loop_timer_cancel(m->loop, e->timer);
	free(e);
}

static uid_t ext_uid(const struct manager *m, const struct ext *e) { return m->cfg.uid_base + (uid_t)e->reg.slot; }

/* Persist a new state with its reason; the transition row is written in the same
 * transaction. On a registry failure the in-memory state still moves (the process
 * must be handled either way) and the failure is logged. */
static void set_state(struct manager *m, struct ext *e, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void set_state(struct manager *m, struct ext *e, const char *state, const char *fmt, ...)
{
	char from[sizeof e->reg.state];
	strlcpy_(from, e->reg.state, sizeof from);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->reg.reason, sizeof e->reg.reason, fmt, ap);
	va_end(ap);
	strlcpy_(e->reg.state, state, sizeof e->reg.state);
	e->reg.updated_at = now_real_ms();
	int r = registry_ext_put(m->reg, &e->reg, from);
	if (r < 0) ulog(LOG_ERR, "'%s': cannot record state %s: %s", e->reg.identifier, state, strerror(-r));
	ulog(LOG_INFO, "'%s' %s -> %s (%s)", e->reg.identifier, from[0] ? from : "new", state, e->reg.reason);
	changed(m, e->reg.identifier);
}

static void note(struct manager *m, struct ext *e, const char *event, const char *reason)
{
	registry_note(m->reg, e->reg.identifier, e->reg.version, event, reason);
}

/* ---- process supervision ---- */

static void close_ipc(struct manager *m, struct ext *e)
{
	if (e->sock >= 0) {
		loop_remove_fd(m->loop, e->sock);
		close(e->sock);
		e->sock = -1;
	}
	if (e->out >= 0) {
		/* Drain what the process wrote last: its dying words are the useful ones. */
		on_ext_out(m->loop, e->out, EPOLLIN, e);
		if (e->out >= 0) {
			loop_remove_fd(m->loop, e->out);
			close(e->out);
			e->out = -1;
		}
	}
}

/* The ext outlives its timer: ext_unlink_free cancels it first. */
static void on_ext_timer(struct loop *l, struct loop_timer *t, void *data)
{
	struct ext *e = data;
	struct manager *m = e->m;
	(void)l;
	if (e->timer != t) return;
	e->timer = NULL;
	if (e->run == RUN_BACKOFF) {
		if (strcmp(e->reg.state, ST_ENABLED) == 0 && !m->shutting_down) {
			e->restarts++;
			m->stats.restarts++;
			note(m, e, "restarted", "restart after crash");
			ext_spawn(m, e);
		} else {
			e->run = RUN_STOPPED;
		}
	} else if (e->run == RUN_STOPPING && e->pid > 0) {
		ulog(LOG_WARNING, "'%s' did not stop within %llu ms: killing pid %d", e->reg.identifier,
		     (unsigned long long)m->cfg.stop_timeout_ms, (int)e->pid);
		kill(e->pid, SIGKILL);
		sandbox_cgroup_cleanup(m->cgroup_group, e->reg.identifier);
	}
}

static void ext_timer(struct manager *m, struct ext *e, uint64_t ms)
{
	loop_timer_cancel(m->loop, e->timer);
	e->timer = loop_timer_add(m->loop, ms, on_ext_timer, e);
	if (!e->timer) ulog(LOG_ERR, "'%s': out of memory for a timer", e->reg.identifier);
}

static int ext_paths(struct manager *m, struct ext *e, char *bundle, size_t blen, char *exe, size_t elen, char *data,
		     size_t dlen)
{
	if (fmt_path(bundle, blen, "%s/%s", m->cfg.paths.bundles, e->reg.staged) < 0 ||
	    fmt_path(exe, elen, "%s/%s", bundle, e->reg.executable) < 0 ||
	    fmt_path(data, dlen, "%s/%s", m->cfg.paths.data, e->reg.identifier) < 0)
		return -ENAMETOOLONG;
	return 0;
}

static void ext_spawn(struct manager *m, struct ext *e)
{
	char bundle[PATH_MAX], exe[PATH_MAX], data[PATH_MAX];
	int sv[2] = { -1, -1 }, pv[2] = { -1, -1 };
	const char *step = "paths";
	int r = ext_paths(m, e, bundle, sizeof bundle, exe, sizeof exe, data, sizeof data);
	if (r < 0) goto err;
	uid_t uid = ext_uid(m, e);
	step = "data directory";
	if (mkdir(data, 0700) < 0 && errno != EEXIST) goto err_errno;
	if (chown(data, uid, uid) < 0 || chmod(data, 0700) < 0) goto err_errno;
	step = "socketpair";
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) goto err_errno;
	step = "pipe";
	if (pipe2(pv, O_CLOEXEC) < 0) goto err_errno;
	fcntl(pv[0], F_SETFL, O_NONBLOCK);
	/* The child's end must block: an extension writing to stdout must not get EAGAIN. */
	int fl = fcntl(sv[1], F_GETFL);
	fcntl(sv[1], F_SETFL, fl & ~O_NONBLOCK);

	char env_ipc[] = "UEXT_IPC_FD=3", env_id[300], env_ver[100], env_data[PATH_MAX + 16], env_bundle[PATH_MAX + 16],
	     env_home[PATH_MAX + 8];
	snprintf(env_id, sizeof env_id, "UEXT_IDENTIFIER=%s", e->reg.identifier);
	snprintf(env_ver, sizeof env_ver, "UEXT_VERSION=%s", e->reg.version);
	snprintf(env_data, sizeof env_data, "UEXT_DATA_DIR=%s", data);
	snprintf(env_bundle, sizeof env_bundle, "UEXT_BUNDLE_DIR=%s", bundle);
	snprintf(env_home, sizeof env_home, "HOME=%s", data);
	char *envp[] = { env_ipc, env_id, env_ver, env_data, env_bundle, env_home, "PATH=/usr/local/bin:/usr/bin:/bin",
			 "LANG=C.UTF-8", NULL };
	char *argv[] = { e->reg.identifier, NULL };
	struct sandbox_config sc = {
		.ident = e->reg.identifier,
		.exe_path = exe,
		.argv = argv,
		.envp = envp,
		.uid = uid,
		.gid = uid,
		.ipc_fd = sv[1],
		.stdio_fd = pv[1],
		.data_dir = data,
		.bundle_dir = bundle,
		.cgroup_group = m->cgroup_group,
		.memory_max = m->cfg.memory_max,
		.pids_max = m->cfg.pids_max,
		.flags = m->cfg.no_seccomp ? SANDBOX_NO_SECCOMP : 0,
	};
	step = "spawn";
	pid_t pid;
	r = sandbox_spawn(&sc, &pid);
	close(sv[1]);
	close(pv[1]);
	sv[1] = pv[1] = -1;
	if (r < 0) goto err;
	e->pid = pid;
	es_sync_supervised(m);
	e->sock = sv[0];
	e->out = pv[0];
	e->outlen = 0;
	e->run = RUN_STARTING;
	e->after = AFTER_RESTART;
	e->spawn_us = now_mono_us();
	m->stats.spawns++;
	if (loop_add_fd(m->loop, e->sock, EPOLLIN, on_ext_sock, e) < 0 ||
	    loop_add_fd(m->loop, e->out, EPOLLIN, on_ext_out, e) < 0)
		ulog(LOG_ERR, "'%s': cannot watch its sockets", e->reg.identifier);
	ulog(LOG_INFO, "'%s' %s started: pid %d, uid %u", e->reg.identifier, e->reg.version, (int)pid, (unsigned)uid);
	changed(m, e->reg.identifier);
	return;
err_errno:
	r = -errno;
err:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0) close(sv[i]);
		if (pv[i] >= 0) close(pv[i]);
	}
	e->run = RUN_STOPPED;
	set_state(m, e, ST_FAILED, "cannot start: %s: %s", step, strerror(-r));
}

/* Pick the delay before the next restart: the first crash in the window restarts at
 * once (a one-off crash costs nothing), later ones back off exponentially. */
static uint64_t backoff_ms(unsigned ncrash)
{
	if (ncrash <= 1) return 0;
	uint64_t d = 200ull << (ncrash - 2 > 8 ? 8 : ncrash - 2);
	return d > 30000 ? 30000 : d;
}

static void describe_status(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, n, "ended (status 0x%x)", status);
}

static void finish_uninstall(struct manager *m, struct ext *e)
{
	char bundle[PATH_MAX], exe[PATH_MAX], data[PATH_MAX];
	if (ext_paths(m, e, bundle, sizeof bundle, exe, sizeof exe, data, sizeof data) == 0) {
		bundle_remove_tree(bundle);
		bundle_remove_tree(data);
	}
	sandbox_cgroup_cleanup(m->cgroup_group, e->reg.identifier);
	int r = registry_ext_delete(m->reg, e->reg.identifier, e->reg.version, "uninstalled");
	if (r < 0) ulog(LOG_ERR, "'%s': cannot delete registry row: %s", e->reg.identifier, strerror(-r));
	ulog(LOG_INFO, "'%s' %s uninstalled", e->reg.identifier, e->reg.version);
	char ident[256];
	strlcpy_(ident, e->reg.identifier, sizeof ident);
	ext_unlink_free(m, e);
	changed(m, ident);
}

static void maybe_shutdown_done(struct manager *m);

/* Tell the es engine which processes are ours (answered at once, never deadlocked on). */
static void es_sync_supervised(struct manager *m)
{
	if (!m->es) return;
	size_t n = 0;
	for (struct ext *e = m->exts; e; e = e->next) n += e->pid > 0;
	struct es_engine_proc *v = calloc(n ? n : 1, sizeof *v);
	if (!v) return;
	n = 0;
	for (struct ext *e = m->exts; e; e = e->next) {
		if (e->pid <= 0) continue;
		v[n].pid = e->pid;
		strlcpy_(v[n].ident, e->reg.identifier, sizeof v[n].ident);
		strlcpy_(v[n].team, e->reg.publisher, sizeof v[n].team);
		v[n].es_entitled = ext_type_from_name(e->reg.type) == (int)EXT_TYPE_ENDPOINT_SECURITY;
		n++;
	}
	es_engine_set_supervised(m->es, v, n);
	free(v);
}

/* The process of e ended with status. Decide what follows from why it was running. */
static void ext_exited(struct manager *m, struct ext *e, int status)
{
	char how[128];
	describe_status(status, how, sizeof how);
	close_ipc(m, e);
	loop_timer_cancel(m->loop, e->timer);
	e->timer = NULL;
	pid_t pid = e->pid;
	e->pid = 0;
	e->run = RUN_STOPPED;
	es_sync_supervised(m);
	/* A process can leave children behind in its cgroup; they go with it. */
	sandbox_cgroup_cleanup(m->cgroup_group, e->reg.identifier);

	switch (e->after) {
	case AFTER_NOTHING:
		ulog(LOG_INFO, "'%s' pid %d stopped (%s)", e->reg.identifier, (int)pid, how);
		changed(m, e->reg.identifier);
		break;
	case AFTER_UNINSTALL:
		finish_uninstall(m, e);
		break;
	case AFTER_UPGRADE: {
		char old[PATH_MAX];
		if (e->old_staged[0] && fmt_path(old, sizeof old, "%s/%s", m->cfg.paths.bundles, e->old_staged) == 0)
			bundle_remove_tree(old);
		e->old_staged[0] = 0;
		ulog(LOG_INFO, "'%s' old version stopped (%s); starting %s", e->reg.identifier, how, e->reg.version);
		if (strcmp(e->reg.state, ST_ENABLED) == 0 && !m->shutting_down) ext_spawn(m, e);
		break;
	}
	case AFTER_RESTART: {
		m->stats.crashes++;
		uint64_t now = now_mono_ms();
		unsigned k = 0;
		for (unsigned i = 0; i < e->ncrash; i++)
			if (now - e->crash_ms[i] < m->cfg.crash_window_ms) e->crash_ms[k++] = e->crash_ms[i];
		if (k == CRASH_MAX) memmove(e->crash_ms, e->crash_ms + 1, --k * sizeof e->crash_ms[0]);
		e->crash_ms[k++] = now;
		e->ncrash = k;
		char reason[256];
		snprintf(reason, sizeof reason, "pid %d %s", (int)pid, how);
		note(m, e, "crashed", reason);
		if (e->ncrash >= m->cfg.crash_limit) {
			m->stats.failed++;
			set_state(m, e, ST_FAILED, "crashed %u times in %llu s; last: %s", e->ncrash,
				  (unsigned long long)(m->cfg.crash_window_ms / 1000), how);
			break;
		}
		uint64_t d = backoff_ms(e->ncrash);
		ulog(LOG_WARNING, "'%s' pid %d %s (crash %u of %u allowed in the window); restarting in %llu ms",
		     e->reg.identifier, (int)pid, how, e->ncrash, m->cfg.crash_limit - 1, (unsigned long long)d);
		e->run = RUN_BACKOFF;
		ext_timer(m, e, d);
		changed(m, e->reg.identifier);
		break;
	}
	}
	maybe_shutdown_done(m);
}

static void on_sigchld(struct loop *l, int signo, void *data)
{
	struct manager *m = data;
	(void)l;
	(void)signo;
	/* Only the extensions' processes: other threads wait for children of their own (the
	 * ne engine's iptables runs), and a waitpid(-1) here would take their status. */
	for (struct ext *e = m->exts, *next; e; e = next) {
		next = e->next;
		int status;
		if (e->pid > 0 && waitpid(e->pid, &status, WNOHANG) == e->pid) ext_exited(m, e, status);
	}
}

/* Ask the process to stop: EXT_STOP on its socket (its stop callback runs), SIGTERM,
 * and SIGKILL after the stop timeout. after says what follows its exit. */
static void ext_stop(struct manager *m, struct ext *e, enum after_exit after)
{
	e->after = after;
	if (e->run == RUN_BACKOFF || e->run == RUN_STOPPED) {
		loop_timer_cancel(m->loop, e->timer);
		e->timer = NULL;
		e->run = RUN_STOPPED;
		if (after == AFTER_UNINSTALL) {
			finish_uninstall(m, e);
			return;
		}
		if (after == AFTER_UPGRADE) {
			ext_exited(m, e, 0);
			return;
		}
		changed(m, e->reg.identifier);
		return;
	}
	if (e->run == RUN_STOPPING) return; /* already on its way; after is updated */
	struct ipc_msg msg;
	if (e->sock >= 0 && ipc_msg_init(&msg, EXT_STOP, 0) == 0) {
		ipc_send(e->sock, &msg); /* non-blocking socket: a full queue just skips it */
		ipc_msg_done(&msg);
	}
	if (e->pid > 0) kill(e->pid, SIGTERM);
	e->run = RUN_STOPPING;
	ext_timer(m, e, m->cfg.stop_timeout_ms);
	changed(m, e->reg.identifier);
}

/* ---- extension IPC ---- */

static void ext_protocol_error(struct manager *m, struct ext *e, const char *why)
{
	m->stats.protocol_errors++;
	ulog(LOG_WARNING, "'%s' pid %d: %s: closing it", e->reg.identifier, (int)e->pid, why);
	note(m, e, "protocol-error", why);
	if (e->sock >= 0) {
		loop_remove_fd(m->loop, e->sock);
		close(e->sock);
		e->sock = -1;
	}
	if (e->pid > 0) kill(e->pid, SIGKILL); /* its exit goes through the crash path */
}

static bool log_allowed(struct ext *e)
{
	uint64_t now = now_mono_ms();
	e->log_tokens += (double)(now - e->log_refill_ms) * LOG_RATE / 1000.0;
	if (e->log_tokens > LOG_BURST) e->log_tokens = LOG_BURST;
	e->log_refill_ms = now;
	if (e->log_tokens < 1) return false;
	e->log_tokens -= 1;
	return true;
}

static void ext_log_line(struct manager *m, struct ext *e, int level, const char *line)
{
	if (!log_allowed(e)) {
		e->log_dropped++;
		m->stats.log_dropped++;
		return;
	}
	if (e->log_dropped) {
		ulog(LOG_WARNING, "[%s] %u log lines dropped (rate limit)", e->reg.identifier, e->log_dropped);
		e->log_dropped = 0;
	}
	/* Quote nothing away: control characters from an extension are replaced. */
	char clean[OUT_LINE];
	size_t i;
	for (i = 0; line[i] && i < sizeof clean - 1; i++)
		clean[i] = ((unsigned char)line[i] < 0x20 && line[i] != '\t') ? '?' : line[i];
	clean[i] = 0;
	ulog(level, "[%s] %s", e->reg.identifier, clean);
}

static void handle_ext_msg(struct manager *m, struct ext *e, struct ipc_msg *req)
{
	struct ipc_msg rep = { 0 };
	switch (req->type) {
	case EXT_HELLO:
		if (e->run == RUN_STARTING) {
			e->run = RUN_RUNNING;
			e->ready_latency_us = now_mono_us() - e->spawn_us;
			ulog(LOG_INFO, "'%s' pid %d ready in %.1f ms", e->reg.identifier, (int)e->pid,
			     (double)e->ready_latency_us / 1000.0);
			changed(m, e->reg.identifier);
		}
		return;
	case EXT_LOG: {
		uint32_t level = LOG_INFO;
		const char *line = "";
		ipc_get_u32(req, T_LEVEL, &level);
		ipc_get_str(req, T_MSG, &line);
		ext_log_line(m, e, level > LOG_DEBUG ? LOG_DEBUG : (int)level, line);
		return;
	}
	case EXT_PREFS_GET: {
		const char *key = NULL;
		char *value = NULL, *all = NULL;
		uint64_t gen = 0;
		int r = ipc_get_str(req, T_KEY, &key) == 0 ? registry_prefs_get(m->reg, e->reg.identifier, key, &value, &gen)
							    : registry_prefs_dump(m->reg, e->reg.identifier, &all);
		if (ipc_reply_init(&rep, req, r, r < 0 ? strerror(-r) : NULL) == 0) {
			if (value) ipc_put_str(&rep, T_VALUE, value), ipc_put_u64(&rep, T_GEN, gen);
			if (all) ipc_put_str(&rep, T_JSON, all);
		}
		free(value);
		free(all);
		break;
	}
	case EXT_PREFS_SET: {
		const char *key = NULL, *value = NULL;
		uint64_t gen = 0, newgen = 0;
		uint32_t flags = 0;
		char msg[256] = "";
		ipc_get_str(req, T_KEY, &key);
		ipc_get_str(req, T_VALUE, &value);
		ipc_get_u64(req, T_GEN, &gen);
		ipc_get_u32(req, T_FLAGS, &flags);
		int r = manager_prefs_set(m, e->reg.identifier, key, value, flags & IPC_F_EXPECT_GEN, gen, &newgen, true,
					  msg, sizeof msg);
		if (ipc_reply_init(&rep, req, r, r < 0 ? msg : NULL) == 0 && r == 0) ipc_put_u64(&rep, T_GEN, newgen);
		break;
	}
	case EXT_ES_CONNECT:
	case EXT_NE_CONNECT: {
		/* An engine connection for an extension of that engine's type: the engine gets
		 * one end of a socketpair, the extension the other (its sandbox cannot reach
		 * the engine socket's path). */
		int sp[2] = { -1, -1 }, r = 0;
		const char *why = NULL;
		bool es = req->type == EXT_ES_CONNECT;
		if (ext_type_from_name(e->reg.type) != (int)(es ? EXT_TYPE_ENDPOINT_SECURITY : EXT_TYPE_NETWORK_FILTER)) {
			r = -EPERM;
			why = es ? "not an endpoint-security extension" : "not a network-filter extension";
		} else if (es ? !m->es : !m->ne) {
			r = -ENOTSUP;
			why = es ? (m->es_error[0] ? m->es_error : "the es engine is not running")
				 : (m->ne_error[0] ? m->ne_error : "the ne engine is not running");
		} else if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
			r = -errno;
		} else if ((r = es ? es_engine_adopt(m->es, sp[0], e->pid) : ne_engine_adopt(m->ne, sp[0], e->pid)) < 0) {
			close(sp[0]);
			close(sp[1]);
			sp[1] = -1;
		}
		if (ipc_reply_init(&rep, req, r, why) == 0 && r == 0) ipc_take_fd(&rep, sp[1]);
		else if (sp[1] >= 0) close(sp[1]);
		break;
	}
	default:
		ext_protocol_error(m, e, "unexpected message type");
		return;
	}
	if (rep.buf) {
		int r = ipc_send(e->sock, &rep);
		if (r < 0) ulog(LOG_WARNING, "'%s': reply lost: %s", e->reg.identifier, strerror(-r));
		ipc_msg_done(&rep);
	}
}

static void on_ext_sock(struct loop *l, int fd, uint32_t events, void *data)
{
	struct ext *e = data;
	struct manager *m = e->m;
	(void)l;
	for (int i = 0; i < 64 && e->sock == fd; i++) {
		struct ipc_msg req;
		int r = ipc_recv(fd, &req);
		if (r == -EAGAIN) return;
		if (r == -ECONNRESET) {
			/* It closed its end: it is exiting; SIGCHLD does the rest. */
			loop_remove_fd(m->loop, e->sock);
			close(e->sock);
			e->sock = -1;
			return;
		}
		if (r < 0) {
			ext_protocol_error(m, e, r == -EBADMSG ? "malformed message" : strerror(-r));
			return;
		}
		handle_ext_msg(m, e, &req);
		ipc_msg_done(&req);
	}
	(void)events;
}

static void on_ext_out(struct loop *l, int fd, uint32_t events, void *data)
{
	struct ext *e = data;
	struct manager *m = e->m;
	(void)l;
	(void)events;
	for (int round = 0; round < 16; round++) {
		ssize_t n = read(fd, e->outbuf + e->outlen, sizeof e->outbuf - 1 - e->outlen);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				if (e->outlen) {
					e->outbuf[e->outlen] = 0;
					ext_log_line(m, e, LOG_INFO, e->outbuf);
					e->outlen = 0;
				}
				loop_remove_fd(m->loop, fd);
				close(fd);
				e->out = -1;
			}
			return;
		}
		e->outlen += (size_t)n;
		e->outbuf[e->outlen] = 0;
		char *start = e->outbuf, *nl;
		while ((nl = strchr(start, '\n'))) {
			*nl = 0;
			ext_log_line(m, e, LOG_INFO, start);
			start = nl + 1;
		}
		size_t rest = e->outlen - (size_t)(start - e->outbuf);
		if (rest == sizeof e->outbuf - 1) { /* a line longer than the buffer: cut it */
			ext_log_line(m, e, LOG_INFO, e->outbuf);
			rest = 0;
		}
		memmove(e->outbuf, start, rest);
		e->outlen = rest;
	}
}

/* ---- lifecycle ---- */

/* Load the policy file if it changed since the last load (or at start). A broken file
 * must not widen what is allowed: the previous policy stays, installs are refused until
 * it is fixed, and status says why. A policy that now pre-approves an extension waiting
 * for an admin completes its activation, as installing an MDM profile does on macOS. */
void manager_refresh_policy(struct manager *m)
{
	struct stat st;
	struct policy_stamp now = { 0 };
	if (stat(m->cfg.paths.policy, &st) == 0)
		now = (struct policy_stamp){ st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, true };
	if (m->policy && memcmp(&now, &m->policy_stamp, sizeof now) == 0) return;
	m->policy_stamp = now;
	char err[256] = "";
	struct policy *p = NULL;
	int r = policy_load(m->cfg.paths.policy, &p, err, sizeof err);
	if (r < 0) {
		snprintf(m->policy_error, sizeof m->policy_error, "%s", err[0] ? err : strerror(-r));
		ulog(LOG_ERR, "policy '%s': %s", m->cfg.paths.policy, m->policy_error);
		if (!m->policy) /* at start-up: nothing is pre-approved, nobody may approve */
			policy_parse("{\"allow_user_overrides\": false}", 31, &m->policy, err, sizeof err);
		return;
	}
	if (m->policy) ulog(LOG_NOTICE, "policy '%s' reloaded", m->cfg.paths.policy);
	m->policy_error[0] = 0;
	policy_free(m->policy);
	m->policy = p;
	for (struct ext *e = m->exts; e; e = e->next) {
		if (strcmp(e->reg.state, ST_WAITING) != 0) continue;
		char reason[256] = "";
		enum ext_type t = (enum ext_type)ext_type_from_name(e->reg.type);
		if (policy_decide(m->policy, e->reg.publisher, e->reg.identifier, t, reason, sizeof reason) != POLICY_ALLOW)
			continue;
		strlcpy_(e->reg.approved_by, "policy", sizeof e->reg.approved_by);
		set_state(m, e, ST_ENABLED, "approved by the new policy; %s", reason);
		ext_spawn(m, e);
	}
}

static const char *staged_name(const struct manifest *mf, char *buf, size_t n)
{
	unsigned char rnd[6];
	randombytes_buf(rnd, sizeof rnd);
	char hex[13];
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	snprintf(buf, n, "%s-%s-%s", mf->identifier, mf->version_str, hex);
	return buf;
}

/* Check that the executable is a regular, executable file inside the staged copy. */
static int check_executable(int dirfd, const char *rel, char *msg, size_t msglen)
{
	struct stat st;
	if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		snprintf(msg, msglen, "executable '%s': %s", rel, strerror(errno));
		return -ENOENT;
	}
	if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111)) {
		snprintf(msg, msglen, "executable '%s' is not an executable regular file", rel);
		return -EINVAL;
	}
	return 0;
}

/* An install in two halves: the worker thread stages and verifies (disk and CPU heavy,
 * never on the loop thread, which must keep answering), the loop thread decides
 * (policy, versions, registry, processes). The job carries everything between them. */
struct install_job {
	struct manager *m;
	int dirfd;          /* the caller's bundle, owned */
	char path[PATH_MAX];
	bool force, developer;
	char keys[PATH_MAX], bundles[PATH_MAX];
	manager_install_cb cb;
	void *data;
	/* results of the worker half */
	int r;
	char msg[1024];
	struct manifest mf;
	char name[300], staged[PATH_MAX];
	bool is_signed, staged_made;
};

static void install_prepare(struct install_job *j)
{
	char err[512] = "";
	struct pubkey *keys = NULL;
	size_t nkeys = 0;
	int sfd = -1, r;
	/* Verify the private copy, never the caller's bundle: it can change after the check. */
	r = manifest_load_at(j->dirfd, &j->mf, err, sizeof err);
	if (r < 0) {
		snprintf(j->msg, sizeof j->msg, "'%s': %s", j->path, err[0] ? err : strerror(-r));
		goto out;
	}
	staged_name(&j->mf, j->name, sizeof j->name);
	manifest_done(&j->mf);
	if ((r = fmt_path(j->staged, sizeof j->staged, "%s/%s", j->bundles, j->name)) < 0) {
		snprintf(j->msg, sizeof j->msg, "'%s': staging path too long", j->path);
		goto out;
	}
	r = bundle_stage(j->dirfd, j->staged, err, sizeof err);
	if (r < 0) {
		snprintf(j->msg, sizeof j->msg, "'%s': cannot stage: %s", j->path, err[0] ? err : strerror(-r));
		goto out;
	}
	j->staged_made = true;
	sfd = open(j->staged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0) {
		r = -errno;
		snprintf(j->msg, sizeof j->msg, "'%s': %s", j->staged, strerror(errno));
		goto out;
	}
	r = manifest_load_at(sfd, &j->mf, err, sizeof err);
	if (r < 0) {
		snprintf(j->msg, sizeof j->msg, "'%s': %s", j->path, err);
		goto out;
	}
	bundle_load_pubkeys(j->keys, &keys, &nkeys, err, sizeof err);
	err[0] = 0;
	r = bundle_verify_at(sfd, j->mf.publisher, keys, nkeys, err, sizeof err);
	j->is_signed = r == 0;
	if (r == -ENOENT && j->developer) {
		r = 0;
	} else if (r < 0) {
		snprintf(j->msg, sizeof j->msg, "'%s' (%s): %s%s", j->mf.identifier, j->path, err[0] ? err : strerror(-r),
			 r == -ENOENT ? " (developer mode allows unsigned bundles)" : "");
		goto out;
	}
	r = check_executable(sfd, j->mf.executable, j->msg, sizeof j->msg);
out:
	if (sfd >= 0) close(sfd);
	free(keys);
	j->r = r;
}

static void *install_worker(void *arg)
{
	struct install_job *j = arg;
	install_prepare(j);
	/* A pointer is far below PIPE_BUF: the write is atomic, and the pipe never fills
	 * (at most MAX_INSTALLS jobs are in flight). */
	ssize_t n;
	do
		n = write(j->m->job_pipe[1], &j, sizeof j);
	while (n < 0 && errno == EINTR);
	return NULL;
}

/* The loop half. Returns 0 or -errno with j->msg; removes the staged copy on failure. */
static int install_decide(struct manager *m, struct install_job *j)
{
	struct manifest mf = j->mf; /* read-only view; freed by the caller */
	const char *name = j->name;
	char *msg = j->msg;
	size_t msglen = sizeof j->msg;
	bool is_signed = j->is_signed, force = j->force;
	int r;
	if (!is_signed)
		ulog(LOG_WARNING, "DEVELOPER MODE: installing unsigned bundle '%s' (%s)", mf.identifier, j->path);
	manager_refresh_policy(m);
	if (m->policy_error[0]) {
		r = -EPERM;
		snprintf(msg, msglen, "policy file is invalid (%s): refusing installs until it is fixed", m->policy_error);
		goto out_rm;
	}
	char reason[256] = "";
	enum policy_decision d = policy_decide(m->policy, mf.publisher, mf.identifier, mf.type, reason, sizeof reason);
	if (d == POLICY_DENY) {
		r = -EPERM;
		m->stats.refusals++;
		snprintf(msg, msglen, "'%s' from '%s' refused by policy: %s", mf.identifier, mf.publisher, reason);
		ulog(LOG_WARNING, "%s", msg);
		goto out_rm;
	}

	struct ext *e = find_ext(m, mf.identifier);
	if (e) {
		struct version cur;
		if (strcmp(e->reg.publisher, mf.publisher) != 0) {
			r = -EPERM;
			snprintf(msg, msglen, "'%s' is installed from publisher '%s', not '%s'", mf.identifier,
				 e->reg.publisher, mf.publisher);
			goto out_rm;
		}
		if (strcmp(e->reg.state, ST_UNINSTALLING) == 0) {
			r = -EBUSY;
			snprintf(msg, msglen, "'%s' is being uninstalled; try again when it is gone", mf.identifier);
			goto out_rm;
		}
		version_parse(e->reg.version, &cur);
		int c = version_cmp(&mf.version, &cur);
		if (c == 0 && !force) {
			r = 0;
			snprintf(msg, msglen, "'%s' %s is already installed (%s)", mf.identifier, mf.version_str, e->reg.state);
			goto out_rm;
		}
		if (c < 0 && !force) {
			r = -EALREADY;
			snprintf(msg, msglen, "'%s' %s is older than the installed %s (use --force to downgrade)",
				 mf.identifier, mf.version_str, e->reg.version);
			goto out_rm;
		}
		/* Replace: the new copy is staged and verified; record it, then stop the old
		 * process; its exit starts the new one. */
		char old_version[64];
		strlcpy_(old_version, e->reg.version, sizeof old_version);
		strlcpy_(e->old_staged, e->reg.staged, sizeof e->old_staged);
		strlcpy_(e->reg.staged, name, sizeof e->reg.staged);
		strlcpy_(e->reg.version, mf.version_str, sizeof e->reg.version);
		strlcpy_(e->reg.executable, mf.executable, sizeof e->reg.executable);
		strlcpy_(e->reg.name, mf.name ? mf.name : mf.identifier, sizeof e->reg.name);
		strlcpy_(e->reg.type, ext_type_name(mf.type), sizeof e->reg.type);
		e->reg.is_signed = is_signed;
		e->ncrash = 0;
		const char *st = e->reg.state;
		if (strcmp(st, ST_WAITING) == 0 && d == POLICY_ALLOW) st = ST_ENABLED;
		if (strcmp(st, ST_FAILED) == 0) st = ST_ENABLED; /* a new version gets a new chance */
		char st_copy[48];
		strlcpy_(st_copy, st, sizeof st_copy);
		set_state(m, e, st_copy, "replaced version %s with %s", old_version, mf.version_str);
		snprintf(msg, msglen, "'%s' upgraded from %s to %s (%s)", mf.identifier, old_version, mf.version_str,
			 e->reg.state);
		if (e->run != RUN_STOPPED) {
			note(m, e, "terminating_for_upgrade", old_version);
			ext_stop(m, e, AFTER_UPGRADE);
		} else {
			char old[PATH_MAX];
			if (fmt_path(old, sizeof old, "%s/%s", m->cfg.paths.bundles, e->old_staged) == 0)
				bundle_remove_tree(old);
			e->old_staged[0] = 0;
			if (strcmp(e->reg.state, ST_ENABLED) == 0) ext_spawn(m, e);
		}
		m->stats.installs++;
		r = 0;
		goto out;
	}

	struct reg_ext row = { 0 };
	strlcpy_(row.identifier, mf.identifier, sizeof row.identifier);
	strlcpy_(row.publisher, mf.publisher, sizeof row.publisher);
	strlcpy_(row.version, mf.version_str, sizeof row.version);
	strlcpy_(row.type, ext_type_name(mf.type), sizeof row.type);
	strlcpy_(row.name, mf.name ? mf.name : mf.identifier, sizeof row.name);
	strlcpy_(row.staged, name, sizeof row.staged);
	strlcpy_(row.executable, mf.executable, sizeof row.executable);
	row.is_signed = is_signed;
	row.installed_at = row.updated_at = now_real_ms();
	if ((r = registry_free_slot(m->reg, &row.slot)) < 0) {
		snprintf(msg, msglen, "registry: %s", strerror(-r));
		goto out_rm;
	}
	e = ext_alloc(m, &row);
	if (!e) {
		r = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto out_rm;
	}
	ext_link(m, e);
	m->stats.installs++;
	if (d == POLICY_ALLOW) {
		strlcpy_(e->reg.approved_by, "policy", sizeof e->reg.approved_by);
		set_state(m, e, ST_ENABLED, "installed %s; %s", mf.version_str, reason);
		ext_spawn(m, e);
	} else {
		set_state(m, e, ST_WAITING, "installed %s; %s", mf.version_str, reason);
	}
	snprintf(msg, msglen, "'%s' %s installed: %s%s", mf.identifier, mf.version_str, e->reg.state,
		 is_signed ? "" : " (UNSIGNED, developer mode)");
	r = 0;
	goto out;

out_rm:
	bundle_remove_tree(j->staged);
out:
	return r;
}

static void install_finish(struct manager *m, struct install_job *j)
{
	int r = j->r;
	if (r == 0)
		r = install_decide(m, j);
	else if (j->staged_made)
		bundle_remove_tree(j->staged);
	m->installs_inflight--;
	j->cb(m, r, j->mf.identifier ? j->mf.identifier : "", j->msg, j->data);
	manifest_done(&j->mf);
	close(j->dirfd);
	free(j);
	maybe_shutdown_done(m);
}

static void on_job_done(struct loop *l, int fd, uint32_t events, void *data)
{
	struct manager *m = data;
	struct install_job *j;
	(void)l;
	(void)events;
	while (read(fd, &j, sizeof j) == (ssize_t)sizeof j) install_finish(m, j);
}

int manager_install_start(struct manager *m, int dirfd, const char *path, bool force, manager_install_cb cb, void *data)
{
	if (m->shutting_down || m->installs_inflight >= MAX_INSTALLS) {
		close(dirfd);
		return m->shutting_down ? -ESHUTDOWN : -EAGAIN;
	}
	struct install_job *j = calloc(1, sizeof *j);
	if (!j) {
		close(dirfd);
		return -ENOMEM;
	}
	j->m = m;
	j->dirfd = dirfd;
	strlcpy_(j->path, path, sizeof j->path);
	j->force = force;
	j->developer = m->developer;
	strlcpy_(j->keys, m->cfg.paths.keys, sizeof j->keys);
	strlcpy_(j->bundles, m->cfg.paths.bundles, sizeof j->bundles);
	j->cb = cb;
	j->data = data;
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int r = -pthread_create(&t, &attr, install_worker, j);
	pthread_attr_destroy(&attr);
	if (r < 0) {
		close(dirfd);
		free(j);
		return r;
	}
	m->installs_inflight++;
	return 0;
}

static int lookup(struct manager *m, const char *ident, struct ext **ret, char *msg, size_t msglen)
{
	*ret = find_ext(m, ident);
	if (!*ret) {
		snprintf(msg, msglen, "'%s' is not installed", ident);
		return -ENOENT;
	}
	return 0;
}

int manager_approve(struct manager *m, const char *ident, char *msg, size_t msglen)
{
	struct ext *e;
	int r = lookup(m, ident, &e, msg, msglen);
	if (r < 0) return r;
	if (strcmp(e->reg.state, ST_WAITING) != 0) {
		snprintf(msg, msglen, "'%s' is not waiting for approval (%s)", ident, e->reg.state);
		return strcmp(e->reg.state, ST_ENABLED) == 0 ? 0 : -EINVAL;
	}
	if (!policy_allow_user_overrides(m->policy)) {
		snprintf(msg, msglen, "policy does not allow admins to approve extensions it does not list");
		return -EPERM;
	}
	strlcpy_(e->reg.approved_by, "admin", sizeof e->reg.approved_by);
	set_state(m, e, ST_ENABLED, "approved by an admin");
	ext_spawn(m, e);
	snprintf(msg, msglen, "'%s' approved", ident);
	return 0;
}

int manager_activate(struct manager *m, const char *ident, char *msg, size_t msglen)
{
	struct ext *e;
	int r = lookup(m, ident, &e, msg, msglen);
	if (r < 0) return r;
	if (strcmp(e->reg.state, ST_ENABLED) == 0) {
		snprintf(msg, msglen, "'%s' is already enabled", ident);
		return 0;
	}
	if (strcmp(e->reg.state, ST_DISABLED) != 0 && strcmp(e->reg.state, ST_FAILED) != 0) {
		snprintf(msg, msglen, "'%s' cannot be activated from %s", ident, e->reg.state);
		return -EINVAL;
	}
	e->ncrash = 0;
	set_state(m, e, ST_ENABLED, "activated by an admin");
	if (e->run == RUN_STOPPED) ext_spawn(m, e);
	snprintf(msg, msglen, "'%s' activated", ident);
	return 0;
}

static int check_removable(struct manager *m, struct ext *e, char *msg, size_t msglen)
{
	if (strcmp(e->reg.approved_by, "policy") == 0 && !policy_removable(m->policy, e->reg.publisher, e->reg.identifier)) {
		snprintf(msg, msglen, "'%s' is required by policy and cannot be removed", e->reg.identifier);
		return -EPERM;
	}
	return 0;
}

int manager_deactivate(struct manager *m, const char *ident, char *msg, size_t msglen)
{
	struct ext *e;
	int r = lookup(m, ident, &e, msg, msglen);
	if (r < 0 || (r = check_removable(m, e, msg, msglen)) < 0) return r;
	if (strcmp(e->reg.state, ST_DISABLED) == 0) {
		snprintf(msg, msglen, "'%s' is already deactivated", ident);
		return 0;
	}
	if (strcmp(e->reg.state, ST_UNINSTALLING) == 0) {
		snprintf(msg, msglen, "'%s' is being uninstalled", ident);
		return -EBUSY;
	}
	set_state(m, e, ST_DISABLED, "deactivated by an admin");
	ext_stop(m, e, AFTER_NOTHING);
	snprintf(msg, msglen, "'%s' deactivated", ident);
	return 0;
}

int manager_uninstall(struct manager *m, const char *ident, char *msg, size_t msglen)
{
	struct ext *e;
	int r = lookup(m, ident, &e, msg, msglen);
	if (r < 0 || (r = check_removable(m, e, msg, msglen)) < 0) return r;
	snprintf(msg, msglen, "'%s' uninstalled", ident);
	if (strcmp(e->reg.state, ST_UNINSTALLING) == 0) return 0;
	/* Persist the intent first: a manager restart in between finishes the job. */
	set_state(m, e, ST_UNINSTALLING, "uninstall requested by an admin");
	ext_stop(m, e, AFTER_UNINSTALL);
	return 0;
}

int manager_reset(struct manager *m, char *msg, size_t msglen)
{
	unsigned n = 0;
	while (m->exts) {
		struct ext *e = m->exts;
		if (e->pid > 0) kill(e->pid, SIGKILL); /* reaped by on_sigchld; no ext is found for it */
		close_ipc(m, e);
		sandbox_cgroup_cleanup(m->cgroup_group, e->reg.identifier);
		char bundle[PATH_MAX], exe[PATH_MAX], data[PATH_MAX];
		if (ext_paths(m, e, bundle, sizeof bundle, exe, sizeof exe, data, sizeof data) == 0) {
			bundle_remove_tree(bundle);
			bundle_remove_tree(data);
		}
		if (e->old_staged[0] && fmt_path(bundle, sizeof bundle, "%s/%s", m->cfg.paths.bundles, e->old_staged) == 0)
			bundle_remove_tree(bundle);
		ext_unlink_free(m, e);
		n++;
	}
	int r = registry_reset(m->reg, "reset by an admin");
	if (r < 0) {
		snprintf(msg, msglen, "registry reset failed: %s", strerror(-r));
		return r;
	}
	ulog(LOG_NOTICE, "reset: %u extensions removed", n);
	snprintf(msg, msglen, "reset: %u extension%s removed", n, n == 1 ? "" : "s");
	changed(m, "*");
	return 0;
}

int manager_set_developer(struct manager *m, bool on, char *msg, size_t msglen)
{
	int r = registry_setting_set(m->reg, "developer_mode", on);
	if (r < 0) {
		snprintf(msg, msglen, "registry: %s", strerror(-r));
		return r;
	}
	m->developer = on;
	ulog(on ? LOG_WARNING : LOG_NOTICE, "developer mode %s%s", on ? "ON" : "off",
	     on ? ": UNSIGNED BUNDLES ARE ACCEPTED" : "");
	snprintf(msg, msglen, "developer mode %s", on ? "on: unsigned bundles are accepted" : "off");
	return 0;
}

struct registry *manager_registry(struct manager *m) { return m->reg; }

int manager_prefs_set(struct manager *m, const char *domain, const char *key, const char *value, bool check_gen,
		      uint64_t gen, uint64_t *ret_gen, bool from_ext, char *msg, size_t msglen)
{
	if (!key || !*key || strlen(key) > PREFS_MAX_KEY) {
		snprintf(msg, msglen, "preference key must be 1 to %u bytes", PREFS_MAX_KEY);
		return -EINVAL;
	}
	if (!value || strlen(value) > PREFS_MAX_VALUE) {
		snprintf(msg, msglen, "preference value larger than %u bytes", PREFS_MAX_VALUE);
		return -E2BIG;
	}
	json_error_t jerr;
	json_t *j = json_loads(value, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		snprintf(msg, msglen, "preference value is not JSON: %s", jerr.text);
		return -EINVAL;
	}
	json_decref(j);
	int r = registry_prefs_set(m->reg, domain, key, value, check_gen, gen, ret_gen);
	if (r == -ESTALE) {
		snprintf(msg, msglen, "'%s' '%s' changed since generation %llu", domain, key, (unsigned long long)gen);
		return r;
	}
	if (r < 0) {
		snprintf(msg, msglen, "registry: %s", strerror(-r));
		return r;
	}
	/* Tell the owning extension, so settings apply without a restart. */
	struct ext *e = from_ext ? NULL : find_ext(m, domain);
	if (e && e->sock >= 0) {
		struct ipc_msg n;
		if (ipc_msg_init(&n, EXT_PREFS_CHANGED, 0) == 0) {
			if (ipc_put_str(&n, T_KEY, key) == 0) ipc_send(e->sock, &n);
			ipc_msg_done(&n);
		}
	}
	return 0;
}

/* ---- start, stop, observe ---- */

static void remove_orphan_copies(struct manager *m)
{
	/* Staged copies not referenced by any row are left-overs of an interrupted install. */
	DIR *d = opendir(m->cfg.paths.bundles);
	if (!d) return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') continue;
		bool used = false;
		for (struct ext *e = m->exts; e && !used; e = e->next)
			used = strcmp(e->reg.staged, de->d_name) == 0 || strcmp(e->old_staged, de->d_name) == 0;
		if (used) continue;
		char p[PATH_MAX];
		if (fmt_path(p, sizeof p, "%s/%s", m->cfg.paths.bundles, de->d_name) == 0) {
			ulog(LOG_NOTICE, "removing orphan staged copy '%s'", de->d_name);
			bundle_remove_tree(p);
		}
	}
	closedir(d);
}

int manager_new(struct loop *l, const struct manager_config *cfg, struct manager **ret)
{
	struct manager *m = calloc(1, sizeof *m);
	if (!m) return -ENOMEM;
	m->cfg = *cfg;
	m->loop = l;
	/* The workers use libsodium and jansson: initialise both here, on one thread. */
	if (sodium_init() < 0 || pipe2(m->job_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(m);
		return -EIO;
	}
	json_object_seed(0);
	m->started_ms = now_mono_ms();
	/* One cgroup group per root, so managers under different roots never collide. */
	if (!cfg->paths.root[0]) {
		strcpy(m->cgroup_group, "uext");
	} else {
		unsigned char h[8];
		crypto_generichash(h, sizeof h, (const unsigned char *)cfg->paths.root, strlen(cfg->paths.root), NULL, 0);
		char hex[17];
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		snprintf(m->cgroup_group, sizeof m->cgroup_group, "uext-%s", hex);
	}
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m) return NULL;
	while (m->exts) {
		close_ipc(m, m->exts);
		ext_unlink_free(m, m->exts);
	}
	loop_timer_cancel(m->loop, m->shutdown_timer);
	es_engine_stop(m->es);
	ne_engine_stop(m->ne);
	/* Only at exit: a worker still staging would write to a closed pipe, harmlessly. */
	close(m->job_pipe[0]);
	close(m->job_pipe[1]);
	registry_close(m->reg);
	policy_free(m->policy);
	free(m);
	return NULL;
}

void manager_set_change_cb(struct manager *m, manager_change_cb cb, void *data)
{
	m->change_cb = cb;
	m->change_data = data;
}

int manager_start(struct manager *m)
{
	char err[512] = "";
	const struct uext_paths *p = &m->cfg.paths;
	int r;
	if ((r = mkdir_p(p->conf, 0755)) < 0 || (r = mkdir_p(p->keys, 0755)) < 0 || (r = mkdir_p(p->bundles, 0755)) < 0 ||
	    (r = mkdir_p(p->data, 0711)) < 0 || (r = mkdir_p(p->run, 0755)) < 0) {
		ulog(LOG_ERR, "cannot create directories under '%s': %s", p->root[0] ? p->root : "/", strerror(-r));
		return r;
	}
	/* Extensions run as other uids: they must be able to reach their staged bundle. */
	chmod(p->state, 0755);
	chmod(p->bundles, 0755);
	chmod(p->data, 0711);
	if ((r = registry_open(p->db, &m->reg, err, sizeof err)) < 0) {
		ulog(LOG_ERR, "%s", err);
		return r;
	}
	int64_t dev = 0;
	registry_setting_get(m->reg, "developer_mode", 0, &dev);
	m->developer = dev != 0;
	if (loop_add_signal(m->loop, SIGCHLD, on_sigchld, m) < 0) return -errno;
	if ((r = loop_add_fd(m->loop, m->job_pipe[0], EPOLLIN, on_job_done, m)) < 0) return r;

	struct reg_ext *rows = NULL;
	size_t n = 0;
	if ((r = registry_ext_list(m->reg, &rows, &n)) < 0) {
		ulog(LOG_ERR, "registry: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct ext *e = ext_alloc(m, &rows[i]);
		if (!e) {
			free(rows);
			return -ENOMEM;
		}
		ext_link(m, e);
	}
	free(rows);
	remove_orphan_copies(m);
	if (m->developer) ulog(LOG_WARNING, "developer mode is ON: unsigned bundles are accepted");
	/* Processes of a previous manager died with it (PDEATHSIG); whatever they left in
	 * their cgroups goes first, then every enabled extension starts again. */
	for (struct ext *e = m->exts; e; e = e->next) sandbox_cgroup_cleanup(m->cgroup_group, e->reg.identifier);
	/* The es engine first: extensions that are ES clients connect as they start. */
	if (m->cfg.es_enabled) {
		struct es_engine_config ec = m->cfg.es;
		ec.sock_path = p->es;
		char why[256] = "";
		int er = es_engine_start(&ec, &m->es, why, sizeof why);
		if (er < 0) {
			snprintf(m->es_error, sizeof m->es_error, "es engine: %s", why);
			ulog(LOG_ERR, "%s", m->es_error);
		}
	}
	if (m->cfg.ne_enabled) {
		struct ne_engine_config nc = m->cfg.ne;
		nc.sock_path = p->ne;
		char why[256] = "";
		if (ne_engine_start(&nc, &m->ne, why, sizeof why) < 0) {
			snprintf(m->ne_error, sizeof m->ne_error, "ne engine: %s", why);
			ulog(LOG_ERR, "%s", m->ne_error);
		}
	}
	manager_refresh_policy(m); /* may enable (and start) extensions waiting for approval */
	for (struct ext *e = m->exts, *next; e; e = next) {
		next = e->next;
		if (strcmp(e->reg.state, ST_UNINSTALLING) == 0)
			finish_uninstall(m, e);
		else if (strcmp(e->reg.state, ST_ENABLED) == 0 && e->run == RUN_STOPPED)
			ext_spawn(m, e);
	}
	ulog(LOG_INFO, "manager ready: %zu extension%s, root '%s'", n, n == 1 ? "" : "s", p->root[0] ? p->root : "/");
	return 0;
}

static void maybe_shutdown_done(struct manager *m)
{
	if (!m->shutting_down || !m->shutdown_done) return;
	for (struct ext *e = m->exts; e; e = e->next)
		if (e->pid > 0) return;
	if (m->installs_inflight && !m->shutdown_forced) return;
	loop_timer_cancel(m->loop, m->shutdown_timer);
	m->shutdown_timer = NULL;
	void (*done)(struct manager *, void *) = m->shutdown_done;
	m->shutdown_done = NULL;
	done(m, m->shutdown_data);
}

static void on_shutdown_timeout(struct loop *l, struct loop_timer *t, void *data)
{
	struct manager *m = data;
	(void)l;
	(void)t;
	m->shutdown_timer = NULL;
	/* A staging job cannot be interrupted: exit anyway; the next start removes its copy. */
	m->shutdown_forced = true;
	for (struct ext *e = m->exts; e; e = e->next) {
		if (e->pid > 0) {
			kill(e->pid, SIGKILL);
			sandbox_cgroup_cleanup(m->cgroup_group, e->reg.identifier);
		}
	}
	maybe_shutdown_done(m);
}

void manager_shutdown(struct manager *m, void (*done)(struct manager *m, void *data), void *data)
{
	m->shutting_down = true;
	m->shutdown_done = done;
	m->shutdown_data = data;
	for (struct ext *e = m->exts; e; e = e->next)
		if (e->run != RUN_STOPPED) ext_stop(m, e, AFTER_NOTHING);
	m->shutdown_timer = loop_timer_add(m->loop, m->cfg.stop_timeout_ms + 1000, on_shutdown_timeout, m);
	maybe_shutdown_done(m);
}

static void fill_view(struct manager *m, struct ext *e, struct ext_view *v)
{
	v->reg = &e->reg;
	v->run = e->run;
	v->pid = e->pid;
	v->uid = ext_uid(m, e);
	v->restarts = e->restarts;
	v->crashes = e->ncrash;
	v->ready_latency_us = e->ready_latency_us;
}

int manager_view(struct manager *m, const char *ident, struct ext_view *ret)
{
	struct ext *e = find_ext(m, ident);
	if (!e) return -ENOENT;
	fill_view(m, e, ret);
	return 0;
}

char *manager_list_json(struct manager *m)
{
	json_t *a = json_array();
	for (struct ext *e = m->exts; a && e; e = e->next) {
		char staged[PATH_MAX];
		fmt_path(staged, sizeof staged, "%s/%s", m->cfg.paths.bundles, e->reg.staged);
		json_array_append_new(a, json_pack(
			"{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:b,s:b,s:s,s:i,s:i,s:f,s:s,s:I,s:I}",
			"identifier", e->reg.identifier, "publisher", e->reg.publisher, "version", e->reg.version,
			"type", e->reg.type, "name", e->reg.name, "state", e->reg.state, "reason", e->reg.reason,
			"run", run_state_name(e->run), "pid", (int)e->pid, "uid", (int)ext_uid(m, e),
			"signed", e->reg.is_signed, "developer", !e->reg.is_signed, "approved_by", e->reg.approved_by,
			"restarts", (int)e->restarts, "crashes", (int)e->ncrash,
			"ready_ms", (double)e->ready_latency_us / 1000.0, "staged_path", staged,
			"installed_at", (json_int_t)e->reg.installed_at, "updated_at", (json_int_t)e->reg.updated_at));
	}
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s;
}

char *manager_status_json(struct manager *m)
{
	struct sandbox_caps caps;
	sandbox_probe(&caps);
	struct fan_support fs;
	fan_probe(&fs);
	unsigned total = 0, running = 0, failed = 0, waiting = 0;
	for (struct ext *e = m->exts; e; e = e->next) {
		total++;
		running += e->run == RUN_RUNNING;
		failed += strcmp(e->reg.state, ST_FAILED) == 0;
		waiting += strcmp(e->reg.state, ST_WAITING) == 0;
	}
	json_t *o = json_pack(
		"{s:s,s:i,s:s,s:b,s:I,"
		"s:{s:s,s:b,s:s,s:b},"
		"s:{s:b,s:b,s:b,s:b,s:b,s:i,s:i,s:I,s:I},"
		"s:{s:i,s:i,s:i,s:i,s:i},"
		"s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
		"s:{s:{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:s}}}",
		"version", "0.1.0", "pid", (int)getpid(), "root", m->cfg.paths.root[0] ? m->cfg.paths.root : "/",
		"developer_mode", m->developer, "uptime_ms", (json_int_t)(now_mono_ms() - m->started_ms),
		"policy", "file", m->cfg.paths.policy, "valid", !m->policy_error[0], "error", m->policy_error,
		"allow_user_overrides", policy_allow_user_overrides(m->policy),
		"sandbox", "cgroup_v2", caps.cgroup_v2, "cgroup_v1", caps.cgroup_v1, "cgroup_kill", caps.cgroup_kill,
		"seccomp", caps.seccomp && !m->cfg.no_seccomp, "mount_namespace", caps.mountns,
		"crash_limit", (int)m->cfg.crash_limit, "crash_window_s", (int)(m->cfg.crash_window_ms / 1000),
		"memory_max", (json_int_t)m->cfg.memory_max, "pids_max", (json_int_t)m->cfg.pids_max,
		"extensions", "total", total, "running", running, "failed", failed, "waiting_for_user", waiting,
		"installs_in_progress", (int)m->installs_inflight,
		"counters", "spawns", (json_int_t)m->stats.spawns, "crashes", (json_int_t)m->stats.crashes,
		"restarts", (json_int_t)m->stats.restarts, "failed", (json_int_t)m->stats.failed,
		"protocol_errors", (json_int_t)m->stats.protocol_errors, "log_lines_dropped",
		(json_int_t)m->stats.log_dropped, "installs", (json_int_t)m->stats.installs, "policy_refusals",
		(json_int_t)m->stats.refusals, "loop_wakeups", (json_int_t)loop_wakeups(m->loop),
		/* What the Endpoint Security engine will be able to use on this kernel. */
		"kernel", "fanotify", "permission_events", fs.perm, "open_exec_perm", fs.open_exec_perm,
		"access_perm", fs.access_perm, "filesystem_marks", fs.mark_filesystem, "fid_names", fs.fid,
		"rename", fs.rename, "evictable_cache_marks", fs.evictable,
		"missing_because", fs.perm ? "" : strerror(fs.perm_errno));
	if (o && m->es) {
		json_object_set_new(o, "es", es_engine_status(m->es));
	} else if (o) {
		json_object_set_new(o, "es", json_pack("{s:b, s:s}", "running", 0, "why_not",
							m->es_error[0] ? m->es_error : "disabled (uextd --no-es)"));
	}
	if (o && m->ne) {
		json_object_set_new(o, "ne", ne_engine_status(m->ne));
	} else if (o) {
		json_object_set_new(o, "ne", json_pack("{s:b, s:s}", "active", 0, "why_not",
							m->ne_error[0] ? m->ne_error : "disabled (uextd --no-ne)"));
	}
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}
