/* format.h — uext-eslogger's rendering of ES messages (JSON Lines with Apple's eslogger
 * field names, or one readable line), the event name table, and the seq_num drop
 * accounting. No I/O, no es_client_t: unit tests feed it hand-built messages.
 *
 * The only libuext calls made are the exec accessors (es_exec_arg_count, es_exec_arg,
 * es_exec_env_count, es_exec_env, es_exec_fd_count, es_exec_fd). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <uext/es.h>

/* Top-level "schema_version" of every JSON line (Apple's eslogger prints 1). */
#define ESLOG_SCHEMA_VERSION 1

/* Apple's eslogger name of a NOTIFY event type ("exec", "open", "setuid"...): the
 * lower-case suffix of ES_EVENT_TYPE_NOTIFY_*. NULL for AUTH types, Apple's RESERVED_n and
 * values out of range. The string is static. */
const char *eslog_event_name(es_event_type_t type);

/* The es_events_t member (and JSON "event" key) of any AUTH or NOTIFY type: AUTH_x and
 * NOTIFY_x share member x. NULL for RESERVED_n and values out of range. */
const char *eslog_event_member(es_event_type_t type);

/* The NOTIFY type eslogger names `name`. 0 and *ret_type set, or -ENOENT (unknown name,
 * or an AUTH-only event such as "auth_exec": eslogger takes NOTIFY events only) or
 * -EINVAL (NULL). */
int eslog_event_from_name(const char *name, es_event_type_t *ret_type);

/* One message as eslogger prints it (see uext-eslogger(1) for the shape). Fields newer
 * than msg->version are left out. Strings that are not valid UTF-8 get U+FFFD for each
 * bad byte. Returns a new reference (the caller json_decref()s it), NULL when out of
 * memory. */
json_t *eslog_message_json(const es_message_t *msg);

/* One readable line, without the newline, e.g.
 *   08:00:00.123 exec pid=1234 ppid=1 uid=0 /usr/bin/bash -> /usr/bin/true ["true","a"]
 * Time is local (localtime_r), control bytes in paths and arguments appear as \xNN.
 * snprintf's contract: writes at most len bytes including the NUL (buf may be NULL when
 * len is 0) and returns the length the whole line needs; never negative. */
int eslog_message_text(const es_message_t *msg, char *buf, size_t len);

/* Seen and dropped messages per event type. seq_num counts per client and event type from
 * 0 and global_seq_num per client across types, both without holes unless messages were
 * lost for this client (es_message.h): uextd's queue overflowed, or (global_seq_num only)
 * the kernel's. So every number skipped is one message lost.
 * Note every message before any client-side filtering. Zero-initialize or use
 * eslog_stats_init(); no resources. */
struct eslog_stats {
	uint64_t total;			       /* messages noted */
	uint64_t global_dropped;	       /* numbers skipped in global_seq_num */
	uint64_t seen[ES_EVENT_TYPE_LAST];     /* per type */
	uint64_t dropped[ES_EVENT_TYPE_LAST];  /* numbers skipped in seq_num, per type */
	uint64_t next_seq[ES_EVENT_TYPE_LAST]; /* the seq_num expected next, per type */
	uint64_t next_global;		       /* the global_seq_num expected next */
	uint64_t other;			       /* messages of types >= ES_EVENT_TYPE_LAST */
};

void eslog_stats_init(struct eslog_stats *stats);
void eslog_stats_note(struct eslog_stats *stats, const es_message_t *msg);

/* Total numbers skipped over all types' seq_num. */
uint64_t eslog_stats_dropped(const struct eslog_stats *stats);

/* The summary as one JSON object:
 *   {"messages":N,"dropped":D,"global_dropped":G,"events":{"exec":{"seen":S,"dropped":D},...}}
 * with only the types seen or dropped listed. New reference, NULL when out of memory. */
json_t *eslog_stats_json(const struct eslog_stats *stats);

/* The summary as one readable line (snprintf's contract, as eslog_message_text). */
int eslog_stats_text(const struct eslog_stats *stats, char *buf, size_t len);
