/* eswire.h owns the wire format between uextd's es engine and libuext's es_* client:
 * fixed-layout records over two SOCK_SEQPACKET sockets. Both ends are on one machine and
 * built from one tree, so records are host-endian C structs (struct stat included); the
 * receiver still checks every size and offset, and a bad record closes the connection.
 *
 * Sockets of one client:
 *   events   uextd -> client: batches of messages (one datagram holds whole messages);
 *            client -> uextd: verdicts (struct esw_verdict), fire and forget.
 *   requests client -> uextd: one request, one reply (subscribe, mute, ...). uextd creates
 *            this socketpair and passes one end in its reply to ESW_HELLO, so a client's
 *            handler can make requests while the event socket is busy.
 *
 * A message (struct esw_msg) is followed by its tables, each at an offset from the
 * message start: processes, files, a string pool (NUL-terminated strings) and, for exec,
 * the argument offsets. Event members refer to them by index (processes, files) or by
 * pool offset (strings); ESW_NONE means absent. */
#pragma once

#include <stdint.h>
#include <sys/stat.h>

#include <uext/es_message.h>
#include <uext/es_types.h>

#define ESW_VERSION 1
#define ESW_NONE 0xffffffffu
#define ESW_MAX_DGRAM (128u * 1024u) /* one datagram, and one message at most */
#define ESW_MAX_REQ (64u * 1024u)
#define ESW_MAX_EVENTS 512u          /* event types in one request */
#define ESW_EV_WORDS 3               /* bitset words covering ES_EVENT_TYPE_LAST */

_Static_assert(ES_EVENT_TYPE_LAST <= 64 * ESW_EV_WORDS, "event bitset too small");

enum esw_op {
	ESW_HELLO = 1,        /* client -> uextd, first record on the event socket */
	ESW_VERDICT = 2,      /* client -> uextd on the event socket */
	ESW_SUBSCRIBE = 10,   /* requests: events[] */
	ESW_UNSUBSCRIBE,
	ESW_UNSUBSCRIBE_ALL,
	ESW_SUBSCRIPTIONS,    /* reply: events[] */
	ESW_CLEAR_CACHE,
	ESW_MUTE_PROCESS,     /* token, events[] (none = all) */
	ESW_UNMUTE_PROCESS,
	ESW_MUTED_PROCESSES,  /* reply: esw_muted_proc records */
	ESW_MUTE_PATH,        /* arg0 = es_mute_path_type_t, path, events[] (none = all) */
	ESW_UNMUTE_PATH,
	ESW_UNMUTE_ALL_PATHS,
	ESW_UNMUTE_ALL_TARGET_PATHS,
	ESW_MUTED_PATHS,      /* reply: esw_muted_path records */
	ESW_INVERT_MUTING,    /* arg0 = es_mute_inversion_type_t */
	ESW_MUTING_INVERTED,  /* reply result = es_mute_inverted_return_t */
	ESW_SET_MISS_MODE,    /* arg0 = es_deadline_miss_mode_t */
	ESW_SET_DEADLINE_MAX, /* arg0 = ms, events[] */
	ESW_GET_DEADLINE_MAX, /* events[0]; reply arg0 = ms */
	ESW_SYNC,             /* reply after every message queued before it was sent */
	ESW_SET_COLOCATE,     /* arg0 = 0 or 1 (uext_es_set_colocation) */
};

/* Client -> uextd: the first record on the event socket. */
struct esw_hello {
	uint32_t op; /* ESW_HELLO */
	uint32_t version;
	uint32_t flags; /* UEXT_ES_CLIENT_* */
	uint32_t pad;
};

/* uextd -> client: the answer to hello, with the request socket attached on success. */
struct esw_welcome {
	uint32_t op; /* ESW_HELLO */
	uint32_t result; /* es_new_client_result_t */
	uint32_t client_id;
	uint32_t engine_nice; /* the engine thread's nice + 64 (0: not said); co-located handlers take it */
	uint64_t supported[ESW_EV_WORDS]; /* event types uextd can deliver on this host */
	uint32_t deadline_ms[2];          /* default deadline of AUTH_EXEC, AUTH_OPEN */
	audit_token_t self;               /* the client process's own token */
	char reason[128];                 /* why not, for people */
};

/* Client -> uextd: the answer to an AUTH message. */
struct esw_verdict {
	uint32_t op; /* ESW_VERDICT */
	uint32_t flags; /* authorized flags (AUTH_OPEN) or 0 = deny / UINT32_MAX = allow */
	uint64_t id;
	uint32_t cache;
	uint32_t pad;
};

/* Client -> uextd on the request socket. events[nevents] and then path[pathlen + 1]
 * follow the fixed part. */
struct esw_req {
	uint32_t op;
	uint32_t seq;
	uint32_t arg0;
	uint32_t nevents;
	uint32_t pathlen; /* bytes, without the NUL that follows */
	uint32_t pad;
	audit_token_t token;
	uint32_t events[];
};

/* uextd -> client: the reply; payload of len bytes follows. */
struct esw_rep {
	uint32_t op;
	uint32_t seq;
	int32_t result; /* 0 = ES_RETURN_SUCCESS, else -errno; MUTING_INVERTED: the enum */
	uint32_t arg0;
	uint32_t len;
	uint32_t pad;
	uint8_t payload[];
};

/* Payload records of ESW_MUTED_PROCESSES and ESW_MUTED_PATHS. */
struct esw_muted_proc {
	audit_token_t token;
	uint64_t events[ESW_EV_WORDS];
};
struct esw_muted_path {
	uint32_t type;
	uint32_t pathlen; /* path[pathlen + 1] follows, then padding to 8 bytes */
	uint64_t events[ESW_EV_WORDS];
	char path[];
};

struct esw_proc {
	audit_token_t token;
	audit_token_t parent_token;
	int32_t ppid, original_ppid, group_id, session_id;
	uint32_t executable; /* file index */
	uint32_t tty;        /* file index or ESW_NONE */
	int64_t start_sec, start_usec;
	uint32_t signing_id, team_id; /* pool offsets or ESW_NONE */
	uint32_t is_es_client;
	uint32_t hashed;
	uint8_t sha256[32];
};

struct esw_file {
	uint32_t path;       /* pool offset */
	uint32_t path_len;
	uint32_t truncated;
	uint32_t pad;
	struct stat st;
};

/* One message. size covers the header and every table. */
struct esw_msg {
	uint32_t size;
	uint32_t event_type;
	uint32_t action_type;
	uint32_t nproc, nfile, pool_len, nargs, nenv;
	uint32_t proc_off, file_off, pool_off, args_off, blob_off, blob_len;
	uint64_t id; /* AUTH: the id to answer with */
	int64_t time_sec, time_nsec;
	uint64_t mach_time, deadline, seq_num, global_seq_num;
	uint64_t thread_id; /* 0 = none */
	uint32_t process;   /* proc index of msg->process */
	uint32_t cpu;       /* AUTH: 1 + the CPU uextd's engine is pinned to (a co-located
			     * client's handler thread keeps to it, uextd/es/colo.h); 0 = none */
	/* Event members, by event type (indices: p = process, f = file, s = pool offset):
	 *  EXEC      0 target p, 1 script f, 2 cwd f, 3 last_fd, 4 cputype, 5 dyld s, 6 dyld len
	 *  OPEN      0 fflag, 1 file f, 2 fflag unknown
	 *  FORK      0 child p;   EXIT 0 stat
	 *  CLOSE     0 modified, 1 target f;   WRITE/TRUNCATE 0 target f
	 *  CREATE    0 destination_type, 1 existing_file f
	 *  UNLINK    0 target f, 1 parent_dir f
	 *  RENAME    0 source f, 1 destination_type, 2 dir f, 3 filename s, 4 filename len
	 *  SETMODE   0 mode, 1 target f;   SETOWNER 0 uid, 1 gid, 2 target f
	 *  SET*ID    0 id (1 second id for SETREUID/SETREGID)
	 *  SIGNAL    0 sig, 1 target p, 2 instigator p;   TRACE 0 target p
	 *  MOUNT/UNMOUNT/REMOUNT  statfs in the blob; 0 remount_flags
	 *  KEXTLOAD  0 identifier s, 1 identifier len */
	uint64_t ev[8];
};

static inline void esw_bit_set(uint64_t *set, uint32_t t)
{
	set[t / 64] |= 1ull << (t % 64);
}
static inline void esw_bit_clear(uint64_t *set, uint32_t t)
{
	set[t / 64] &= ~(1ull << (t % 64));
}
static inline int esw_bit(const uint64_t *set, uint32_t t)
{
	return t < 64 * ESW_EV_WORDS && (set[t / 64] >> (t % 64)) & 1;
}
