/* uext/extension.h — the run loop every uext extension is built on.
 *
 * An extension is a program that uextd starts inside its sandbox with a socket to the
 * manager on fd 3. It calls uext_extension_main() with its callbacks; the library
 * connects, calls start, tells the manager it is ready, serves its file descriptors and
 * timers, and calls stop when the manager asks (or on SIGTERM), then returns.
 *
 * Conventions: functions return 0 or a negative errno; out-parameters are written only
 * on success; the library never logs by itself (uext_log sends a line to the manager).
 * Thread safety: everything but uext_log, uext_prefs_get and uext_prefs_save must be
 * called on the thread running uext_extension_main; those three may be called from any
 * thread. */
#ifndef UEXT_EXTENSION_H
#define UEXT_EXTENSION_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct uext_extension uext_extension;

/* Log levels: syslog's numbers. */
enum { UEXT_LOG_ERR = 3, UEXT_LOG_WARNING = 4, UEXT_LOG_NOTICE = 5, UEXT_LOG_INFO = 6, UEXT_LOG_DEBUG = 7 };

struct uext_extension_callbacks {
	/* Called once the manager connection is up. Return < 0 to fail the start: the
	 * extension then exits with status 1 (the manager counts it as a crash). */
	int (*start)(uext_extension *ext, void *userdata);
	/* Called when the manager asks the extension to stop, or on SIGTERM/SIGINT. */
	void (*stop)(uext_extension *ext, void *userdata);
	/* Called when someone else (an admin with uextctl prefs set) changed key. */
	void (*prefs_changed)(uext_extension *ext, const char *key, void *userdata);
};

/* Run the extension until stopped. Returns the process exit status to use: 0 after a
 * requested stop, 1 when start failed or the manager went away. Outside uextd (no fd 3
 * socket, no UEXT_IPC_FD) it returns 2 after printing a one-line explanation. */
int uext_extension_main(int argc, char **argv, const struct uext_extension_callbacks *cb, void *userdata);

/* Ask the run loop to return status after the current callback. */
void uext_extension_quit(uext_extension *ext, int status);

/* The identifier, version and writable data directory given by the manager. */
const char *uext_extension_identifier(const uext_extension *ext);
const char *uext_extension_version(const uext_extension *ext);
const char *uext_extension_data_dir(const uext_extension *ext);

/* Watch fd for events (EPOLLIN, EPOLLOUT...). fd is borrowed. */
typedef void (*uext_fd_handler)(uext_extension *ext, int fd, uint32_t revents, void *userdata);
int uext_extension_add_fd(uext_extension *ext, int fd, uint32_t events, uext_fd_handler cb, void *userdata);
int uext_extension_remove_fd(uext_extension *ext, int fd);

/* A periodic (interval_ms > 0) or one-shot (interval_ms == 0, after first_ms) timer.
 * Returns a timer id > 0, or a negative errno. */
typedef void (*uext_timer_handler)(uext_extension *ext, int timer_id, void *userdata);
int uext_extension_add_timer(uext_extension *ext, uint64_t first_ms, uint64_t interval_ms, uext_timer_handler cb,
			     void *userdata);
int uext_extension_remove_timer(uext_extension *ext, int timer_id);

/* Send one log line to the manager (which adds the identifier and rate-limits). */
void uext_log(uext_extension *ext, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Preferences of this extension, stored by the manager. Values are JSON text.
 * uext_prefs_get: *ret_json is malloc'ed (free it); -ENOENT when the key is not set.
 * uext_prefs_save: with expected_gen == UEXT_PREFS_ANY the save always succeeds; with
 * a generation (0 = "must not exist yet") it fails with -ESTALE when the key changed
 * since, and nothing is written. The new generation goes to *ret_gen (may be NULL). */
#define UEXT_PREFS_ANY UINT64_MAX
int uext_prefs_get(uext_extension *ext, const char *key, char **ret_json, uint64_t *ret_gen);
int uext_prefs_save(uext_extension *ext, const char *key, const char *json, uint64_t expected_gen, uint64_t *ret_gen);

#ifdef __cplusplus
}
#endif
#endif
