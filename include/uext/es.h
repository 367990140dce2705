/* uext/es.h — uext's Endpoint Security client API: Apple's EndpointSecurity C API
 * (ESClient.h, ESMessage.h, ESTypes.h) with Apple's names, types and enum values, so that a
 * macOS ES client ports with few changes. This is the only header a client includes.
 *
 * Where uext behaves differently from macOS the declaration carries a "LINUX:" note;
 * docs/es-api.md lists every difference on one page. Unlike the rest of libuext (negative
 * errno returns), these functions keep Apple's result enums.
 *
 * Handlers: Apple's handler is a block. With clang -fblocks (__BLOCKS__ defined) this header
 * declares es_handler_block_t and es_new_client() exactly as Apple does, so Apple code
 * compiles unchanged; link such a client with -lBlocksRuntime (clang's blocks need it
 * anyway). Everywhere, es_new_client_f() takes a C function and a context pointer instead;
 * the block form is a thin inline wrapper over it, so libuext itself needs no blocks
 * runtime and builds with any C compiler.
 *
 * Threading (as macOS): the handler of one client runs strictly serially, in delivery order,
 * on a thread libuext owns for that client. Every es_* function except es_delete_client()
 * may be called from any thread, including from the handler. */
#ifndef UEXT_ES_H
#define UEXT_ES_H

#include <uext/es_message.h>
#include <uext/es_types.h>

#ifdef __cplusplus
extern "C" {
#endif
#if defined(__clang__)
/* Nullability qualifiers are a clang extension, and _Block_copy is the runtime's name. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-extension"
#if __has_warning("-Wreserved-identifier")
#pragma clang diagnostic ignored "-Wreserved-identifier"
#endif
#endif

/* The opaque client handle. */
struct es_client_s;
typedef struct es_client_s es_client_t;

/* uext's handler: Apple's two arguments, then the context given to es_new_client_f(). */
typedef void (*es_handler_func_t)(es_client_t *_Nonnull client, const es_message_t *_Nonnull message,
				  void *_Nullable ctx);

/* ---------------------------------------------------------------------------------------
 * Creating and deleting clients
 * ------------------------------------------------------------------------------------- */

/* uext only: es_new_client_f() (below) with flags and a release function for ctx, called
 * once when the client is deleted (after the last handler call has returned). On failure
 * nothing is kept and ctx_release is not called. flags: 0, or UEXT_ES_CLIENT_DESCENDANTS for
 * es_new_descendants_client(). Every other constructor is an inline wrapper around this
 * one: it is the symbol to bind from other languages. */
#define UEXT_ES_CLIENT_DESCENDANTS 0x1u
es_new_client_result_t uext_es_client_new(es_client_t *_Nullable *_Nonnull client, uint32_t flags,
					  es_handler_func_t _Nonnull handler, void *_Nullable ctx,
					  void (*_Nullable ctx_release)(void *_Nullable ctx));

/* Connect a new client to uextd and start delivering messages to handler(client, msg, ctx).
 * *client is written only on success. ctx is borrowed: it must stay valid until
 * es_delete_client() has returned. As on macOS, a new client starts with no subscriptions
 * and clears the shared verdict cache.
 *
 * LINUX: who may be a client, and the failures:
 *  - an extension of type endpoint-security that uextd started, or a root process (e.g.
 *    uext-eslogger run by an admin); uextd identifies the caller with SO_PEERCRED;
 *  - ERR_NOT_PRIVILEGED: neither an extension nor root (Apple: not root);
 *  - ERR_NOT_ENTITLED: an extension of another type (Apple: entitlement missing);
 *  - ERR_NOT_PERMITTED: the admin policy refuses ES clients to this caller (Apple: no
 *    Full Disk Access approval);
 *  - ERR_INTERNAL: uextd is not reachable or its ES engine is not running;
 *  - ERR_TOO_MANY_CLIENTS: uextd's client limit is reached.
 * Default mute set: instead of Apple's list of muted paths, uextd answers ALLOW at once to
 * the AUTH events of its own process and of every extension process it supervises
 * (this client too, when it is one), without delivering them: an extension cannot deadlock
 * on its own file accesses. This cannot be unmuted, and es_muted_paths_events() starts empty. */
static inline es_new_client_result_t es_new_client_f(es_client_t *_Nullable *_Nonnull client,
						     es_handler_func_t _Nonnull handler, void *_Nullable ctx)
{
	return uext_es_client_new(client, 0, handler, ctx, NULL);
}

/* macOS 27: a client that sees only the caller's descendants.
 * LINUX: not available yet (planned on seccomp user notification): returns
 * ES_NEW_CLIENT_RESULT_ERR_INTERNAL. */
static inline es_new_client_result_t es_new_descendants_client_f(es_client_t *_Nullable *_Nonnull client,
								 es_handler_func_t _Nonnull handler,
								 void *_Nullable ctx)
{
	return uext_es_client_new(client, UEXT_ES_CLIENT_DESCENDANTS, handler, ctx, NULL);
}

/* Disconnect and free a client. Pending AUTH messages it has not answered get the miss-mode
 * answer at once (no process waits for a deadline of a client that is gone). Waits for a
 * running handler call to return. NULL is a no-op returning ES_RETURN_SUCCESS.
 * Not safe to call concurrently with any other es_* call on the same client (as macOS).
 * LINUX: returns ES_RETURN_ERROR, and deletes nothing, when called from the client's own
 * handler (it would wait for itself). */
es_return_t es_delete_client(es_client_t *_Nullable client);

#if defined(__BLOCKS__)
/* Apple's block handler and constructors. The block is copied (Block_copy) and released
 * when the client is deleted. */
typedef void (^es_handler_block_t)(es_client_t *_Nonnull, const es_message_t *_Nonnull);

/* From the blocks runtime (<Block.h>, libBlocksRuntime; libSystem on macOS). */
extern void *_Nullable _Block_copy(const void *_Nullable block);
extern void _Block_release(const void *_Nullable block);

static inline void uext_es_block_handler_call_(es_client_t *_Nonnull client, const es_message_t *_Nonnull message,
					       void *_Nullable ctx)
{
	((es_handler_block_t)ctx)(client, message);
}

static inline void uext_es_block_release_(void *_Nullable ctx)
{
	_Block_release(ctx);
}

static inline es_new_client_result_t uext_es_new_client_block_(es_client_t *_Nullable *_Nonnull client,
							       uint32_t flags, es_handler_block_t _Nonnull handler)
{
	void *copy = _Block_copy((const void *)handler);
	if (!copy)
		return ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT;
	es_new_client_result_t r =
		uext_es_client_new(client, flags, uext_es_block_handler_call_, copy, uext_es_block_release_);
	if (r != ES_NEW_CLIENT_RESULT_SUCCESS)
		_Block_release(copy);
	return r;
}

/* Apple's constructor. LINUX: as es_new_client_f(). */
static inline es_new_client_result_t es_new_client(es_client_t *_Nullable *_Nonnull client,
						   es_handler_block_t _Nonnull handler)
{
	return uext_es_new_client_block_(client, 0, handler);
}

/* macOS 27. LINUX: as es_new_descendants_client_f() (not available yet). */
static inline es_new_client_result_t es_new_descendants_client(es_client_t *_Nullable *_Nonnull client,
							       es_handler_block_t _Nonnull handler)
{
	return uext_es_new_client_block_(client, UEXT_ES_CLIENT_DESCENDANTS, handler);
}
#endif /* __BLOCKS__ */

/* ---------------------------------------------------------------------------------------
 * Subscriptions
 * ------------------------------------------------------------------------------------- */

/* Add event types to the client's subscriptions (previous ones stay). Values >=
 * ES_EVENT_TYPE_LAST are ignored (below UEXT_ES_EVENT_TYPE_PRIVATE_BASE), as on macOS;
 * event_count 0 is a no-op returning success.
 * LINUX: every type in the list that uext can produce on this host is subscribed; if the
 * list holds a type below ES_EVENT_TYPE_LAST that uext cannot produce here (marked [-] in
 * es_types.h, or its kernel mechanism is missing), the call returns ES_RETURN_ERROR rather
 * than leave the client believing it is watched. es_subscriptions() tells what was kept. */
es_return_t es_subscribe(es_client_t *_Nonnull client, const es_event_type_t *_Nonnull events, uint32_t event_count);

/* Remove event types; unsubscribing from a type not subscribed is a no-op. */
es_return_t es_unsubscribe(es_client_t *_Nonnull client, const es_event_type_t *_Nonnull events,
			   uint32_t event_count);
es_return_t es_unsubscribe_all(es_client_t *_Nonnull client);

/* The current subscriptions: *subscriptions is malloc'ed (the caller free()s it), NULL when
 * *count is 0. */
es_return_t es_subscriptions(es_client_t *_Nonnull client, size_t *_Nonnull count,
			     es_event_type_t *_Nullable *_Nonnull subscriptions);

/* ---------------------------------------------------------------------------------------
 * Answering AUTH messages
 * ------------------------------------------------------------------------------------- */

/* Answer an AUTH message other than AUTH_OPEN, exactly once (ERR_DUPLICATE_RESPONSE after).
 * With cache true the verdict is kept in the cache shared by all clients, under the event's
 * key (see es_message.h), until the file involved is modified; a cache hit produces no AUTH
 * but still the NOTIFY. cache is ignored for events that do not support caching.
 * LINUX: the AUTH events are AUTH_EXEC and AUTH_OPEN only (es_types.h). A denied operation
 * fails with EPERM. As on macOS, an exec asks AUTH_EXEC and not also AUTH_OPEN for the
 * executable (Linux's execve opens it and the kernel asks both): a client that allowed the
 * AUTH_EXEC is not asked that open, one subscribed to AUTH_OPEN and not asked the exec (not
 * subscribed to AUTH_EXEC, or it was cached) is. An answer after the deadline returns ES_RESPOND_RESULT_NOT_FOUND: uextd
 * has already answered. The cache is the kernel's: an allow with cache true from every
 * client that got the message becomes an ignore mark on the file, so its key is the file
 * alone (Apple: process executable + file): the file is then allowed for every process
 * until it is modified, es_clear_cache() is called, or a new client connects. */
es_respond_result_t es_respond_auth_result(es_client_t *_Nonnull client, const es_message_t *_Nonnull message,
					   es_auth_result_t result, bool cache);

/* Answer an AUTH_OPEN: authorized_flags masks the event's fflag; pass 0 to deny and
 * UINT32_MAX to allow whatever the flags.
 * LINUX: Linux can only allow or deny the whole open, so the open is allowed when
 * (fflag & ~authorized_flags) == 0 and denied otherwise (EPERM). With cache true, only an
 * answer that allows (authorized_flags covering every bit Linux may set, i.e. UINT32_MAX
 * in practice) is cached; others are applied to this open only. */
es_respond_result_t es_respond_flags_result(es_client_t *_Nonnull client, const es_message_t *_Nonnull message,
					    uint32_t authorized_flags, bool cache);

/* Clear the verdict cache of all clients (throttled: ERR_THROTTLE when called too often).
 * LINUX: also drops the kernel's copy (fanotify ignore marks). */
es_clear_cache_result_t es_clear_cache(es_client_t *_Nonnull client);

/* ---------------------------------------------------------------------------------------
 * Muting
 *
 * Semantics as on macOS (ESClient.h): process muting by audit token, checked before path
 * muting and target-path muting, the three OR-combined; inversion per dimension; unmuting
 * is idempotent set subtraction of (type, path, event) tuples; an event with several target
 * paths is muted only if all are muted (selected if any is, when inverted).
 * LINUX: paths are compared as uext reports them (es_file_t: host mount namespace, symlinks
 * resolved, as Apple's F_GETPATH paths). An event with no target path (fork, exit, set*id,
 * mount...) is not muted by target paths, except under inverted target-path muting, where it
 * is muted (no target selected it). Target paths: EXEC the executable, OPEN/CLOSE/
 * WRITE/TRUNCATE/SETMODE/SETOWNER/UTIMES/SETEXTATTR/DELETEEXTATTR/SETACL the file,
 * CREATE/UIPC_BIND the new path, UNLINK the file, RENAME/LINK both paths, MMAP the source,
 * CHDIR/CHROOT/READDIR the directory, UIPC_CONNECT the socket file, SIGNAL/TRACE/
 * GET_TASK/GET_TASK_READ/REMOTE_THREAD_CREATE the target process's executable.
 * ------------------------------------------------------------------------------------- */

/* Mute every event of a process (and, per event types, some). The token must name a
 * running process (ES_RETURN_ERROR otherwise, e.g. for a reused pid with another
 * pidversion); it is unmuted when it exits. */
es_return_t es_mute_process(es_client_t *_Nonnull client, const audit_token_t *_Nonnull audit_token);
es_return_t es_mute_process_events(es_client_t *_Nonnull client, const audit_token_t *_Nonnull audit_token,
				   const es_event_type_t *_Nonnull events, size_t event_count);
es_return_t es_unmute_process(es_client_t *_Nonnull client, const audit_token_t *_Nonnull audit_token);
es_return_t es_unmute_process_events(es_client_t *_Nonnull client, const audit_token_t *_Nonnull audit_token,
				     const es_event_type_t *_Nonnull events, size_t event_count);

/* The muted processes: *muted_processes is released with es_release_muted_processes(). */
es_return_t es_muted_processes_events(es_client_t *_Nonnull client,
				      es_muted_processes_t *_Nullable *_Nonnull muted_processes);
void es_release_muted_processes(es_muted_processes_t *_Nonnull muted_processes);

/* Deprecated by Apple in 12.0: the muted processes' tokens in one malloc'ed array (the
 * caller free()s it; NULL when *count is 0). */
es_return_t es_muted_processes(es_client_t *_Nonnull client, size_t *_Nonnull count,
			       audit_token_t *_Nullable *_Nonnull audit_tokens);

es_return_t es_mute_path(es_client_t *_Nonnull client, const char *_Nonnull path, es_mute_path_type_t type);
es_return_t es_mute_path_events(es_client_t *_Nonnull client, const char *_Nonnull path, es_mute_path_type_t type,
				const es_event_type_t *_Nonnull events, size_t event_count);
es_return_t es_unmute_path(es_client_t *_Nonnull client, const char *_Nonnull path, es_mute_path_type_t type);
es_return_t es_unmute_path_events(es_client_t *_Nonnull client, const char *_Nonnull path,
				  es_mute_path_type_t type, const es_event_type_t *_Nonnull events,
				  size_t event_count);

/* Deprecated by Apple in 12.0: aliases of es_mute_path(PREFIX / LITERAL). */
static inline es_return_t es_mute_path_prefix(es_client_t *_Nonnull client, const char *_Nonnull path_prefix)
{
	return es_mute_path(client, path_prefix, ES_MUTE_PATH_TYPE_PREFIX);
}
static inline es_return_t es_mute_path_literal(es_client_t *_Nonnull client, const char *_Nonnull path_literal)
{
	return es_mute_path(client, path_literal, ES_MUTE_PATH_TYPE_LITERAL);
}

/* es_unmute_all_paths: PREFIX/LITERAL (executable) paths only; es_unmute_all_target_paths:
 * TARGET_* paths only. */
es_return_t es_unmute_all_paths(es_client_t *_Nonnull client);
es_return_t es_unmute_all_target_paths(es_client_t *_Nonnull client);

/* The muted paths: *muted_paths is released with es_release_muted_paths(). */
es_return_t es_muted_paths_events(es_client_t *_Nonnull client, es_muted_paths_t *_Nullable *_Nonnull muted_paths);
void es_release_muted_paths(es_muted_paths_t *_Nonnull muted_paths);

es_return_t es_invert_muting(es_client_t *_Nonnull client, es_mute_inversion_type_t mute_type);
es_mute_inverted_return_t es_muting_inverted(es_client_t *_Nonnull client, es_mute_inversion_type_t mute_type);

/* ---------------------------------------------------------------------------------------
 * Deadlines (macOS 27)
 * ------------------------------------------------------------------------------------- */

/* What uextd does with an AUTH not answered by msg->deadline (or dropped because the
 * client's queue was full).
 * LINUX: the Linux kernel never times out a permission event, so uextd always answers at
 * the deadline; the modes only choose the answer and the penalty:
 *  KILL (default)  the answer is the policy default for the event type (fail-open or
 *                  fail-closed, as `uextctl status` shows); the miss is counted, and after
 *                  repeated misses uextd kills and restarts the client's extension (Apple
 *                  kills at the first miss);
 *  FAIL_OPEN       ALLOW, counted, never killed;
 *  FAIL_CLOSED     DENY, counted, never killed. */
es_return_t es_set_deadline_miss_mode(es_client_t *_Nonnull client, es_deadline_miss_mode_t mode);
es_return_t es_get_deadline_miss_mode(es_client_t *_Nonnull client, es_deadline_miss_mode_t *_Nonnull mode);

/* Lower (max) or, for descendants clients, raise (min) the deadline of AUTH event types, in
 * milliseconds. ES_RETURN_ERROR when milliseconds exceeds uextd's default for a type (max)
 * or for a client that is not a descendants client (min). */
es_return_t es_set_deadline_max_milliseconds(es_client_t *_Nonnull client, const es_event_type_t *_Nonnull events,
					     uint32_t event_count, uint32_t milliseconds);
es_return_t es_get_deadline_max_milliseconds(es_client_t *_Nonnull client, es_event_type_t event,
					     uint32_t *_Nonnull milliseconds);
es_return_t es_set_deadline_min_milliseconds(es_client_t *_Nonnull client, const es_event_type_t *_Nonnull events,
					     uint32_t event_count, uint32_t milliseconds);
es_return_t es_get_deadline_min_milliseconds(es_client_t *_Nonnull client, es_event_type_t event,
					     uint32_t *_Nonnull milliseconds);

/* ---------------------------------------------------------------------------------------
 * Sync points (macOS 27)
 * ------------------------------------------------------------------------------------- */

/* Call fn(ctx) once every message queued for client before this call has been handled.
 * After ES_RETURN_SUCCESS fn runs exactly once: also when the client is deleted first, and
 * at once for a NULL client. After ES_RETURN_ERROR (e.g. called from the client's own
 * handler, which is not allowed) fn is never called. */
es_return_t es_sync_client_f(es_client_t *_Nullable client, void (*_Nonnull fn)(void *_Nullable ctx),
			     void *_Nullable ctx);

#if defined(__BLOCKS__)
static inline void uext_es_sync_block_call_(void *_Nullable ctx)
{
	((void (^)(void))ctx)();
	_Block_release(ctx);
}

/* Apple's form. LINUX: as es_sync_client_f(). */
static inline es_return_t es_sync_client(es_client_t *_Nullable client, void (^_Nonnull block)(void))
{
	void *copy = _Block_copy((const void *)block);
	if (!copy)
		return ES_RETURN_ERROR;
	es_return_t r = es_sync_client_f(client, uext_es_sync_block_call_, copy);
	if (r != ES_RETURN_SUCCESS)
		_Block_release(copy);
	return r;
}
#endif /* __BLOCKS__ */

/* uext only: the audit token uextd gives this process, e.g. to mute oneself with
 * es_mute_process() as Apple's eslogger does (macOS clients use audit_token_self). */
es_return_t uext_es_client_self_token(es_client_t *_Nonnull client, audit_token_t *_Nonnull token);

/* uext only: AUTH latency. With on, the thread that runs this client's handler keeps to the
 * CPU uextd's engine runs on while AUTH events are subscribed (uextd moves both off a busy
 * CPU; `uextctl status` shows it). uextd's message then wakes the handler, and the verdict
 * wakes uextd, on a CPU that is about to sleep rather than on an idle one: an uncached
 * AUTH round trip takes ~20% less time and CPU on a 2-CPU VM (docs/es-engine.md). Threads
 * the handler creates inherit that one-CPU mask: create workers before turning this on,
 * or give them their own (pthread_attr_setaffinity_np). While pinned, the handler thread
 * also runs at the engine thread's priority when that is higher (nice -10 by default,
 * `uextd --es-nice`; best effort: it needs CAP_SYS_NICE), so other work on that CPU delays
 * neither; threads it creates inherit that too. Off by default; off again restores the
 * thread's own mask and priority with the next message. Any thread may call it. */
es_return_t uext_es_set_colocation(es_client_t *_Nonnull client, bool on);

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
#ifdef __cplusplus
}
#endif
#endif /* UEXT_ES_H */
