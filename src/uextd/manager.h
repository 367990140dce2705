/* manager.h owns the set of installed extensions: their lifecycle (install, approve,
 * upgrade, deactivate, uninstall, reset), their processes (spawn, readiness, stop,
 * restart with back-off, crash budget) and their IPC. Persistence is in registry.c,
 * sandboxing in sandbox.c, the control socket in control.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/paths.h"
#include "loop.h"
#include "registry.h"
#include "es/engine.h"
#include "ne/engine.h"

struct manager;
struct ext;

struct manager_config {
	struct uext_paths paths;
	unsigned crash_limit;        /* crashes within crash_window_ms that make it failed */
	uint64_t crash_window_ms;
	uid_t uid_base;
	uint64_t memory_max;
	uint32_t pids_max;
	uint64_t stop_timeout_ms;    /* SIGTERM to SIGKILL */
	bool no_seccomp;
	bool es_enabled;             /* run the Endpoint Security engine */
	struct es_engine_config es;  /* its configuration (sock_path is set by the manager) */
	bool ne_enabled;             /* run the network filter engine */
	struct ne_engine_config ne;  /* its configuration (sock_path is set by the manager) */
};

enum run_state { RUN_STOPPED, RUN_STARTING, RUN_RUNNING, RUN_STOPPING, RUN_BACKOFF };

/* What an outside observer (control.c) may read about one extension. */
struct ext_view {
	const struct reg_ext *reg;
	enum run_state run;
	pid_t pid;
	uid_t uid;
	unsigned restarts;
	unsigned crashes;
	uint64_t ready_latency_us; /* spawn to hello, last start */
};

typedef void (*manager_change_cb)(struct manager *m, const char *ident, void *data);

int manager_new(struct loop *l, const struct manager_config *cfg, struct manager **ret);
struct manager *manager_free(struct manager *m);
/* Load the registry, clean up what a previous manager left, start what should run. */
int manager_start(struct manager *m);
/* Stop every extension (bounded by stop_timeout_ms) then call done. */
void manager_shutdown(struct manager *m, void (*done)(struct manager *m, void *data), void *data);
/* Called after any state or process change of an extension. */
void manager_set_change_cb(struct manager *m, manager_change_cb cb, void *data);

/* Install (or upgrade) the bundle at dirfd (taken: closed by the manager). Staging and
 * verification run on a worker thread; cb runs later on the loop thread with 0 or
 * -errno, the identifier (may be "") and a one-line message. Returns 0 when started,
 * -EAGAIN when too many installs are in flight, -ESHUTDOWN while stopping (cb is then
 * not called). */
typedef void (*manager_install_cb)(struct manager *m, int err, const char *ident, const char *msg, void *data);
int manager_install_start(struct manager *m, int dirfd, const char *path, bool force, manager_install_cb cb,
			  void *data);

/* The other lifecycle requests return 0 or -errno and write a one-line message
 * (success or reason) into msg. */
int manager_approve(struct manager *m, const char *ident, char *msg, size_t msglen);
int manager_activate(struct manager *m, const char *ident, char *msg, size_t msglen);
int manager_deactivate(struct manager *m, const char *ident, char *msg, size_t msglen);
int manager_uninstall(struct manager *m, const char *ident, char *msg, size_t msglen);
int manager_reset(struct manager *m, char *msg, size_t msglen);
int manager_set_developer(struct manager *m, bool on, char *msg, size_t msglen);
/* Reload <conf>/policy.json if it changed (cheap: one stat). */
void manager_refresh_policy(struct manager *m);

/* Preferences, shared by the control socket and extensions. When the domain belongs to
 * a running extension and the change did not come from it (from_ext false), the
 * extension is told so it can apply the change. */
int manager_prefs_set(struct manager *m, const char *domain, const char *key, const char *value, bool check_gen,
		      uint64_t gen, uint64_t *ret_gen, bool from_ext, char *msg, size_t msglen);
struct registry *manager_registry(struct manager *m);

/* Observation. */
int manager_view(struct manager *m, const char *ident, struct ext_view *ret); /* -ENOENT */
/* Status and list as JSON text (malloc'ed). */
char *manager_status_json(struct manager *m);
char *manager_list_json(struct manager *m);
