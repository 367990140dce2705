/* engine.h owns uextd's Endpoint Security engine: its own thread with its own epoll loop,
 * the kernel sources (fanotify groups, the process-event source), the process table, the
 * ES clients (root processes on <run>/es.sock, extensions through the manager), their
 * subscriptions and mutes, AUTH deadlines and default verdicts, and the kernel-side
 * cache. The manager talks to it only through these calls, each thread-safe.
 * Design note: docs/es-engine.md. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ES_ENGINE_MAX_WATCH 16
#define ES_ENGINE_MAX_CLIENTS 32

struct es_engine_config {
	const char *sock_path;               /* root clients connect here */
	const char *watch[ES_ENGINE_MAX_WATCH]; /* directories whose filesystems are marked */
	size_t nwatch;
	uint32_t deadline_ms[2];             /* AUTH_EXEC, AUTH_OPEN; 0 = defaults */
	bool fail_closed;                    /* the verdict of a missed deadline (KILL mode) */
	uint32_t max_misses;                 /* consecutive misses before a client is killed; 0 = 3 */
	int proc_kind;                       /* enum procsrc_kind: 0 = auto */
	bool auth_exec_args;                 /* argv in AUTH_EXEC: a syscall-entry probe that
					      * costs every syscall on the host ~150 ns */
	bool colocate;                       /* share a CPU with AUTH clients (es/colo.h) */
	uint32_t busy_poll_us;               /* most a poll after an AUTH answer (es/spin.h); 0 off */
	int nice;                            /* the engine thread's nice while AUTH is subscribed */
};

struct es_engine;

/* Start the engine thread. Returns 0, or -errno with why filled (the socket could not be
 * bound, ...). The kernel sources are opened when the first client subscribes. */
int es_engine_start(const struct es_engine_config *cfg, struct es_engine **ret, char *why, size_t whylen);
/* Stop the thread, answer every pending AUTH with ALLOW, close everything. NULL ok. */
void es_engine_stop(struct es_engine *e);

/* Processes uextd supervises: their AUTH events are answered ALLOW at once and never
 * delivered (an extension must not deadlock on its own file accesses), and they carry
 * their bundle identifier and publisher as signing_id / team_id. Replaces the whole set. */
struct es_engine_proc {
	pid_t pid;
	char ident[128];
	char team[64];
	bool es_entitled; /* an endpoint-security extension: may be a client */
};
void es_engine_set_supervised(struct es_engine *e, const struct es_engine_proc *procs, size_t n);

/* Hand over one end of a socketpair for an extension's client; the engine owns fd. */
int es_engine_adopt(struct es_engine *e, int fd, pid_t pid);

/* A snapshot for `uextctl status` (new reference). */
json_t *es_engine_status(struct es_engine *e);
