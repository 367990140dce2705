/* ipc.h owns the wire format between uextd, uextctl and extensions: framed, typed
 * messages over SOCK_SEQPACKET with passed file descriptors. Nothing here knows what a
 * message means; the schema table says which fields each type carries and how big they
 * are, and a message that does not match it exactly is refused.
 *
 * Wire layout (host byte order: both ends are on the same machine):
 *   header  { u16 type; u16 nfields; u32 len (whole message); u32 seq; u32 reserved }
 *   field*  { u16 tag; u16 kind; u32 len; u8 data[len]; pad to 4 bytes }
 * Strings carry their terminating NUL and may hold no other NUL. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IPC_MAX_MSG (256u * 1024u) /* one datagram; larger payloads are refused */
#define IPC_MAX_FIELDS 32u
#define IPC_MAX_FDS 4u
#define IPC_HDR_SIZE 16u

enum ipc_kind {
	IPC_U32 = 1,
	IPC_U64 = 2,
	IPC_I32 = 3,
	IPC_I64 = 4,
	IPC_STR = 5,
	IPC_BYTES = 6,
};

/* Message types. Requests from uextctl are CTL_*, manager<->extension are EXT_*.
 * Every reply is IPC_REPLY with the request's seq. Numbers are ABI: append only. */
enum ipc_type {
	IPC_REPLY = 1,
	CTL_STATUS = 10,
	CTL_LIST = 11,
	CTL_INSTALL = 12,
	CTL_APPROVE = 13,
	CTL_DEACTIVATE = 14,
	CTL_UNINSTALL = 15,
	CTL_RESET = 16,
	CTL_DEVELOPER = 17,
	CTL_PREFS_GET = 18,
	CTL_PREFS_SET = 19,
	CTL_HISTORY = 20,
	CTL_WAIT = 21,
	CTL_ACTIVATE = 22,
	EXT_HELLO = 40,   /* extension -> manager: ready after its start callback */
	EXT_LOG = 41,     /* extension -> manager: one log line */
	EXT_PREFS_GET = 42,
	EXT_PREFS_SET = 43,
	EXT_STOP = 44,    /* manager -> extension: stop callback, then exit */
	EXT_PREFS_CHANGED = 45, /* manager -> extension: T_KEY changed by someone else */
	EXT_ES_CONNECT = 46, /* extension -> manager: an es client connection (reply: the fd) */
	EXT_NE_CONNECT = 47, /* extension -> manager: a network filter connection (reply: the fd) */
	IPC_TYPE_MAX = 64,
};

/* Field tags. A tag means the same thing in every message type that carries it. */
enum ipc_tag {
	T_ERR = 1,        /* i32: 0 or -errno */
	T_ERRMSG = 2,     /* str: human-readable reason for T_ERR */
	T_JSON = 3,       /* str: a JSON document (list, status, history) */
	T_IDENT = 4,      /* str: extension identifier */
	T_PATH = 5,       /* str: a path, for messages only: the fd is what is used */
	T_FLAGS = 6,      /* u32: request flags (IPC_F_*) */
	T_KEY = 7,        /* str: preference key */
	T_VALUE = 8,      /* str: preference value (JSON text) */
	T_GEN = 9,        /* u64: preference generation */
	T_LEVEL = 10,     /* u32: log level (LOG_*) */
	T_MSG = 11,       /* str: log line */
	T_DOMAIN = 12,    /* str: preference domain (extension identifier) */
	T_TIMEOUT = 13,   /* u32: milliseconds */
	T_STATE = 14,     /* str: state name */
	T_PID = 15,       /* i32 */
	T_VERSION = 16,   /* str */
	T_TAG_MAX = 32,
};

#define IPC_F_FORCE (1u << 0)      /* install: allow a downgrade; reset: confirmed */
#define IPC_F_ON (1u << 1)         /* developer on */
#define IPC_F_WAIT (1u << 2)       /* wait for the extension to be running */
#define IPC_F_EXPECT_GEN (1u << 3) /* prefs set: T_GEN holds the generation read */

struct ipc_field {
	uint16_t tag;
	uint16_t kind;
	uint32_t len;
	const uint8_t *data; /* points into the message buffer */
};

/* One message, built or decoded. Owns buf and every fd in fds until sent or done. */
struct ipc_msg {
	uint16_t type;
	uint32_t seq;
	uint32_t nfields;
	struct ipc_field fields[IPC_MAX_FIELDS];
	int fds[IPC_MAX_FDS];
	uint32_t nfds;
	uint8_t *buf;
	size_t len, cap;
};

/* Start building a message of type with seq. Returns 0 or -ENOMEM. */
int ipc_msg_init(struct ipc_msg *m, uint16_t type, uint32_t seq);
/* Free the buffer and close any fd the message still owns. Accepts a zeroed struct. */
void ipc_msg_done(struct ipc_msg *m);

/* Append a field. -E2BIG past IPC_MAX_FIELDS or IPC_MAX_MSG, -ENOMEM, -EINVAL for a
 * string with an embedded NUL (put_strn) or a tag used twice. */
int ipc_put_u32(struct ipc_msg *m, uint16_t tag, uint32_t v);
int ipc_put_u64(struct ipc_msg *m, uint16_t tag, uint64_t v);
int ipc_put_i32(struct ipc_msg *m, uint16_t tag, int32_t v);
int ipc_put_str(struct ipc_msg *m, uint16_t tag, const char *s);
int ipc_put_bytes(struct ipc_msg *m, uint16_t tag, const void *p, size_t n);
/* Attach an fd; the message takes ownership (closes it on done, or after send). */
int ipc_take_fd(struct ipc_msg *m, int fd);

/* Field getters. -ENOENT when absent, -EBADMSG when present with the wrong kind.
 * Pointers returned point into the message and live as long as it does. */
int ipc_get_u32(const struct ipc_msg *m, uint16_t tag, uint32_t *ret);
int ipc_get_u64(const struct ipc_msg *m, uint16_t tag, uint64_t *ret);
int ipc_get_i32(const struct ipc_msg *m, uint16_t tag, int32_t *ret);
int ipc_get_str(const struct ipc_msg *m, uint16_t tag, const char **ret);
int ipc_get_bytes(const struct ipc_msg *m, uint16_t tag, const void **ret, size_t *ret_len);
/* Take an attached fd out of the message (the caller owns it). -ENOENT if none left. */
int ipc_msg_take_fd(struct ipc_msg *m, int *ret_fd);

/* Parse len bytes (copied) into m and check it against the schema of its type: known
 * type, every field known for that type with the exact kind and size, required fields
 * present, no tag twice, lengths inside the buffer. -EBADMSG on any mismatch. */
int ipc_msg_decode(const void *buf, size_t len, struct ipc_msg *ret);

/* Send m on a SOCK_SEQPACKET socket, with its fds. The fds are closed on success.
 * Blocking sockets only block for buffer space. Returns 0 or -errno. */
int ipc_send(int sock, struct ipc_msg *m);
/* Receive and decode one message. -ECONNRESET on orderly shutdown (EOF), -EAGAIN on a
 * non-blocking socket with nothing queued, -EBADMSG for truncated data, truncated
 * control data or a schema mismatch (the caller then closes the peer). */
int ipc_recv(int sock, struct ipc_msg *ret);

/* Convenience: build a reply with seq of req, error err and optional message. */
int ipc_reply_init(struct ipc_msg *m, const struct ipc_msg *req, int err, const char *errmsg);

const char *ipc_type_name(uint16_t type);
