/* uext/es_types.h — the basic types of uext's Endpoint Security API: Apple's ESTypes.h
 * (enums, tokens, mute sets) plus audit_token_t and its libbsm accessors, which Linux lacks.
 *
 * Names, enum values and field order are Apple's (macOS 26 SDK; macOS 27 additions from the
 * uext design reference). Every place where uext behaves differently carries a "LINUX:" note;
 * docs/es-api.md lists them all on one page. Include <uext/es.h> rather than this file. */
#ifndef UEXT_ES_TYPES_H
#define UEXT_ES_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Clang understands Apple's nullability qualifiers; every other compiler gets them empty.
 * (This file itself uses none, as Apple's ESTypes.h; es_message.h and es.h annotate every
 * pointer, which keeps clang's -Wnullability-completeness quiet.) */
#if !defined(__clang__)
#ifndef _Nonnull
#define _Nonnull
#endif
#ifndef _Nullable
#define _Nullable
#endif
#ifndef _Null_unspecified
#define _Null_unspecified
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * audit_token_t
 *
 * LINUX: Linux has no audit tokens; uext defines Apple's 8 x 32-bit layout and fills the
 * slots Apple's libbsm reads, with the nearest Linux value:
 *
 *   val[0] auid        login uid (/proc/PID/loginuid); 4294967295 when unset (as Apple's
 *                      AU_DEFAUDITID)
 *   val[1] euid        effective uid  (initial user namespace)
 *   val[2] egid        effective gid
 *   val[3] ruid        real uid
 *   val[4] rgid        real gid
 *   val[5] pid         the process id (thread-group id), in the initial pid namespace
 *   val[6] asid        audit session id (/proc/PID/sessionid); 4294967295 when unset.
 *                      Not the POSIX session: that is es_process_t.session_id.
 *   val[7] pidversion  an execution serial, as xnu's p_idversion: uextd gives a new value to
 *                      every process it sees at fork and again at every exec, from one
 *                      system-wide counter. uextd keys its process table by the kernel's
 *                      (pid, start time, exec count), so a reused pid never gets an old
 *                      serial: (pid, pidversion) names one program execution, and a token
 *                      of a process that has exited matches nothing. Never 0 for a real
 *                      process. Serials restart when uextd restarts: keep tokens only for
 *                      the life of the es_client_t that delivered them.
 *
 * Treat the struct as opaque and use the accessors; compare tokens with memcmp.
 * ------------------------------------------------------------------------------------- */
typedef struct {
	uint32_t val[8];
} audit_token_t;

/* Slot numbers, for code that builds or prints tokens. */
enum {
	UEXT_AUDIT_TOKEN_AUID = 0,
	UEXT_AUDIT_TOKEN_EUID = 1,
	UEXT_AUDIT_TOKEN_EGID = 2,
	UEXT_AUDIT_TOKEN_RUID = 3,
	UEXT_AUDIT_TOKEN_RGID = 4,
	UEXT_AUDIT_TOKEN_PID = 5,
	UEXT_AUDIT_TOKEN_ASID = 6,
	UEXT_AUDIT_TOKEN_PIDVERSION = 7,
};

/* Apple's libbsm accessors (<bsm/libbsm.h>), same names and by-value argument.
 * LINUX: audit_token_to_au32 is not provided (its au_tid_t has no Linux meaning). */
static inline uid_t audit_token_to_auid(audit_token_t t)
{
	return (uid_t)t.val[UEXT_AUDIT_TOKEN_AUID];
}
static inline uid_t audit_token_to_euid(audit_token_t t)
{
	return (uid_t)t.val[UEXT_AUDIT_TOKEN_EUID];
}
static inline gid_t audit_token_to_egid(audit_token_t t)
{
	return (gid_t)t.val[UEXT_AUDIT_TOKEN_EGID];
}
static inline uid_t audit_token_to_ruid(audit_token_t t)
{
	return (uid_t)t.val[UEXT_AUDIT_TOKEN_RUID];
}
static inline gid_t audit_token_to_rgid(audit_token_t t)
{
	return (gid_t)t.val[UEXT_AUDIT_TOKEN_RGID];
}
static inline pid_t audit_token_to_pid(audit_token_t t)
{
	return (pid_t)t.val[UEXT_AUDIT_TOKEN_PID];
}
static inline pid_t audit_token_to_asid(audit_token_t t)
{
	return (pid_t)t.val[UEXT_AUDIT_TOKEN_ASID];
}
static inline int audit_token_to_pidversion(audit_token_t t)
{
	return (int)t.val[UEXT_AUDIT_TOKEN_PIDVERSION];
}

/* uext only: the inverse of the accessors (for uextd, tests and tools). */
static inline audit_token_t uext_audit_token_make(uid_t auid, uid_t euid, gid_t egid, uid_t ruid, gid_t rgid,
						  pid_t pid, uint32_t asid, uint32_t pidversion)
{
	audit_token_t t;
	t.val[UEXT_AUDIT_TOKEN_AUID] = (uint32_t)auid;
	t.val[UEXT_AUDIT_TOKEN_EUID] = (uint32_t)euid;
	t.val[UEXT_AUDIT_TOKEN_EGID] = (uint32_t)egid;
	t.val[UEXT_AUDIT_TOKEN_RUID] = (uint32_t)ruid;
	t.val[UEXT_AUDIT_TOKEN_RGID] = (uint32_t)rgid;
	t.val[UEXT_AUDIT_TOKEN_PID] = (uint32_t)pid;
	t.val[UEXT_AUDIT_TOKEN_ASID] = asid;
	t.val[UEXT_AUDIT_TOKEN_PIDVERSION] = pidversion;
	return t;
}

/* ---------------------------------------------------------------------------------------
 * Basic ES types
 * ------------------------------------------------------------------------------------- */

/* Opaque id of an AUTH message, echoed by the respond functions. */
typedef struct {
	uint8_t reserved[32];
} es_event_id_t;

typedef enum {
	ES_ACTION_TYPE_AUTH = 0,
	ES_ACTION_TYPE_NOTIFY = 1,
} es_action_type_t;

typedef enum {
	ES_SET = 0,
	ES_CLEAR = 1,
} es_set_or_clear_t;

typedef enum {
	ES_PROC_CHECK_TYPE_LISTPIDS = 0x1,
	ES_PROC_CHECK_TYPE_PIDINFO = 0x2,
	ES_PROC_CHECK_TYPE_PIDFDINFO = 0x3,
	ES_PROC_CHECK_TYPE_KERNMSGBUF = 0x4,
	ES_PROC_CHECK_TYPE_SETCONTROL = 0x5,
	ES_PROC_CHECK_TYPE_PIDFILEPORTINFO = 0x6,
	ES_PROC_CHECK_TYPE_TERMINATE = 0x7,
	ES_PROC_CHECK_TYPE_DIRTYCONTROL = 0x8,
	ES_PROC_CHECK_TYPE_PIDRUSAGE = 0x9,
	ES_PROC_CHECK_TYPE_UDATA_INFO = 0xe,
} es_proc_check_type_t;

typedef enum {
	ES_XPC_DOMAIN_TYPE_SYSTEM = 1,
	ES_XPC_DOMAIN_TYPE_USER = 2,
	ES_XPC_DOMAIN_TYPE_USER_LOGIN = 3,
	ES_XPC_DOMAIN_TYPE_SESSION = 4,
	ES_XPC_DOMAIN_TYPE_PID = 5,
	ES_XPC_DOMAIN_TYPE_MANAGER = 6,
	ES_XPC_DOMAIN_TYPE_PORT = 7,
	ES_XPC_DOMAIN_TYPE_GUI = 8,
} es_xpc_domain_type_t;

typedef enum {
	ES_AUTHENTICATION_TYPE_OD = 0,
	ES_AUTHENTICATION_TYPE_TOUCHID = 1,
	ES_AUTHENTICATION_TYPE_TOKEN = 2,
	ES_AUTHENTICATION_TYPE_AUTO_UNLOCK = 3,
	ES_AUTHENTICATION_TYPE_LAST = 4,
} es_authentication_type_t;

typedef enum {
	ES_SUDO_PLUGIN_TYPE_UNKNOWN = 0,
	ES_SUDO_PLUGIN_TYPE_FRONT_END = 1,
	ES_SUDO_PLUGIN_TYPE_POLICY = 2,
	ES_SUDO_PLUGIN_TYPE_IO = 3,
	ES_SUDO_PLUGIN_TYPE_AUDIT = 4,
	ES_SUDO_PLUGIN_TYPE_APPROVAL = 5,
} es_sudo_plugin_type_t;

/* ---------------------------------------------------------------------------------------
 * es_event_type_t — numeric value = position in Apple's enum, kept verbatim so that tables
 * indexed by event type and `for (t = 0; t < ES_EVENT_TYPE_LAST; t++)` loops port as they
 * are. AUTH_* and NOTIFY_* twins share one union member in es_message_t.event.
 *
 * LINUX: what uext delivers, by mark:
 *   [A]  AUTH: the kernel holds the operation until a verdict (fanotify permission events).
 *   [N]  NOTIFY: delivered after the fact (eBPF tracepoints, proc connector, fanotify).
 *   [n]  NOTIFY uext plans (the Linux mechanism is named) but does not produce yet:
 *        es_subscribe() refuses it today.
 *   [-]  never produced on Linux; the value stays so the numbers match Apple's.
 * A host whose kernel lacks a mechanism (no eBPF: no SIGNAL, TRACE, MOUNT, SETMODE...;
 * no watched filesystem: no file events) produces fewer, and `uextctl status` says which. es_subscribe() fails
 * for a type it cannot produce on this host (see es.h) rather than staying silent.
 * Values 148-156 are Apple's undocumented RESERVED_n events; 149-161 are positions inferred
 * from the macOS 26.4-27 SDK diffs.
 * ------------------------------------------------------------------------------------- */
typedef enum {
	/* macOS 10.15 */
	ES_EVENT_TYPE_AUTH_EXEC = 0,				/* [A] FAN_OPEN_EXEC_PERM */
	ES_EVENT_TYPE_AUTH_OPEN = 1,				/* [A] FAN_OPEN_PERM */
	ES_EVENT_TYPE_AUTH_KEXTLOAD = 2,			/* [-] */
	ES_EVENT_TYPE_AUTH_MMAP = 3,				/* [-] */
	ES_EVENT_TYPE_AUTH_MPROTECT = 4,			/* [-] */
	ES_EVENT_TYPE_AUTH_MOUNT = 5,				/* [-] */
	ES_EVENT_TYPE_AUTH_RENAME = 6,				/* [-] */
	ES_EVENT_TYPE_AUTH_SIGNAL = 7,				/* [-] */
	ES_EVENT_TYPE_AUTH_UNLINK = 8,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_EXEC = 9,				/* [N] */
	ES_EVENT_TYPE_NOTIFY_OPEN = 10,				/* [N] */
	ES_EVENT_TYPE_NOTIFY_FORK = 11,				/* [N] */
	ES_EVENT_TYPE_NOTIFY_CLOSE = 12,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_CREATE = 13,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_EXCHANGEDATA = 14,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_EXIT = 15,				/* [N] */
	ES_EVENT_TYPE_NOTIFY_GET_TASK = 16,			/* [n] pidfd_getfd, process_vm_writev */
	ES_EVENT_TYPE_NOTIFY_KEXTLOAD = 17,			/* [N] kernel module load */
	ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD = 18,			/* [n] kernel module unload */
	ES_EVENT_TYPE_NOTIFY_LINK = 19,				/* [n] */
	ES_EVENT_TYPE_NOTIFY_MMAP = 20,				/* [n] */
	ES_EVENT_TYPE_NOTIFY_MPROTECT = 21,			/* [n] */
	ES_EVENT_TYPE_NOTIFY_MOUNT = 22,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_UNMOUNT = 23,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN = 24,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_RENAME = 25,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SETATTRLIST = 26,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_SETEXTATTR = 27,			/* [n] */
	ES_EVENT_TYPE_NOTIFY_SETFLAGS = 28,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_SETMODE = 29,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SETOWNER = 30,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SIGNAL = 31,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_UNLINK = 32,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_WRITE = 33,			/* [N] */
	ES_EVENT_TYPE_AUTH_FILE_PROVIDER_MATERIALIZE = 34,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_MATERIALIZE = 35,	/* [-] */
	ES_EVENT_TYPE_AUTH_FILE_PROVIDER_UPDATE = 36,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_UPDATE = 37,		/* [-] */
	ES_EVENT_TYPE_AUTH_READLINK = 38,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_READLINK = 39,			/* [-] */
	ES_EVENT_TYPE_AUTH_TRUNCATE = 40,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_TRUNCATE = 41,			/* [n] truncate(2)/ftruncate(2) only */
	ES_EVENT_TYPE_AUTH_LINK = 42,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_LOOKUP = 43,			/* [-] */
	ES_EVENT_TYPE_AUTH_CREATE = 44,				/* [-] */
	ES_EVENT_TYPE_AUTH_SETATTRLIST = 45,			/* [-] */
	ES_EVENT_TYPE_AUTH_SETEXTATTR = 46,			/* [-] */
	ES_EVENT_TYPE_AUTH_SETFLAGS = 47,			/* [-] */
	ES_EVENT_TYPE_AUTH_SETMODE = 48,			/* [-] */
	ES_EVENT_TYPE_AUTH_SETOWNER = 49,			/* [-] */
	/* macOS 10.15.1 */
	ES_EVENT_TYPE_AUTH_CHDIR = 50,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_CHDIR = 51,			/* [n] */
	ES_EVENT_TYPE_AUTH_GETATTRLIST = 52,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_GETATTRLIST = 53,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_STAT = 54,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_ACCESS = 55,			/* [-] */
	ES_EVENT_TYPE_AUTH_CHROOT = 56,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_CHROOT = 57,			/* [n] */
	ES_EVENT_TYPE_AUTH_UTIMES = 58,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_UTIMES = 59,			/* [n] */
	ES_EVENT_TYPE_AUTH_CLONE = 60,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_CLONE = 61,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_FCNTL = 62,			/* [-] */
	ES_EVENT_TYPE_AUTH_GETEXTATTR = 63,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_GETEXTATTR = 64,			/* [-] */
	ES_EVENT_TYPE_AUTH_LISTEXTATTR = 65,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_LISTEXTATTR = 66,			/* [-] */
	ES_EVENT_TYPE_AUTH_READDIR = 67,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_READDIR = 68,			/* [n] */
	ES_EVENT_TYPE_AUTH_DELETEEXTATTR = 69,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR = 70,		/* [n] */
	ES_EVENT_TYPE_AUTH_FSGETPATH = 71,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_FSGETPATH = 72,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_DUP = 73,				/* [-] */
	ES_EVENT_TYPE_AUTH_SETTIME = 74,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_SETTIME = 75,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_UIPC_BIND = 76,			/* [n] */
	ES_EVENT_TYPE_AUTH_UIPC_BIND = 77,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT = 78,			/* [n] */
	ES_EVENT_TYPE_AUTH_UIPC_CONNECT = 79,			/* [-] */
	ES_EVENT_TYPE_AUTH_EXCHANGEDATA = 80,			/* [-] */
	ES_EVENT_TYPE_AUTH_SETACL = 81,				/* [-] */
	ES_EVENT_TYPE_NOTIFY_SETACL = 82,			/* [n] POSIX ACL xattrs */
	/* macOS 10.15.4 */
	ES_EVENT_TYPE_NOTIFY_PTY_GRANT = 83,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_PTY_CLOSE = 84,			/* [-] */
	ES_EVENT_TYPE_AUTH_PROC_CHECK = 85,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_PROC_CHECK = 86,			/* [-] */
	ES_EVENT_TYPE_AUTH_GET_TASK = 87,			/* [-] */
	/* macOS 11.0 */
	ES_EVENT_TYPE_AUTH_SEARCHFS = 88,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_SEARCHFS = 89,			/* [-] */
	ES_EVENT_TYPE_AUTH_FCNTL = 90,				/* [-] */
	ES_EVENT_TYPE_AUTH_IOKIT_OPEN = 91,			/* [-] */
	ES_EVENT_TYPE_AUTH_PROC_SUSPEND_RESUME = 92,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_PROC_SUSPEND_RESUME = 93,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_CS_INVALIDATED = 94,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_GET_TASK_NAME = 95,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_TRACE = 96,			/* [N] ptrace attach/seize/traceme */
	ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE = 97,		/* [n] ptrace register writes */
	ES_EVENT_TYPE_AUTH_REMOUNT = 98,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_REMOUNT = 99,			/* [N] */
	/* macOS 11.3 */
	ES_EVENT_TYPE_AUTH_GET_TASK_READ = 100,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_GET_TASK_READ = 101,		/* [n] process_vm_readv */
	ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT = 102,		/* [-] */
	/* macOS 12.0 */
	ES_EVENT_TYPE_NOTIFY_SETUID = 103,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SETGID = 104,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SETEUID = 105,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SETEGID = 106,			/* [N] */
	ES_EVENT_TYPE_NOTIFY_SETREUID = 107,			/* [N] also setresuid(2) */
	ES_EVENT_TYPE_NOTIFY_SETREGID = 108,			/* [N] also setresgid(2) */
	ES_EVENT_TYPE_AUTH_COPYFILE = 109,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_COPYFILE = 110,			/* [-] */
	/* macOS 13.0 (emitted by user-space programs on macOS) */
	ES_EVENT_TYPE_NOTIFY_AUTHENTICATION = 111,		/* [-] planned: audit netlink (PAM) */
	ES_EVENT_TYPE_NOTIFY_XP_MALWARE_DETECTED = 112,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_XP_MALWARE_REMEDIATED = 113,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGIN = 114,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGOUT = 115,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOCK = 116,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_LW_SESSION_UNLOCK = 117,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_SCREENSHARING_ATTACH = 118,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_SCREENSHARING_DETACH = 119,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGIN = 120,		/* [-] planned: audit netlink (PAM) */
	ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGOUT = 121,		/* [-] planned */
	ES_EVENT_TYPE_NOTIFY_LOGIN_LOGIN = 122,			/* [-] planned */
	ES_EVENT_TYPE_NOTIFY_LOGIN_LOGOUT = 123,		/* [-] planned */
	ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_ADD = 124,		/* [-] planned: systemd/cron/autostart watch */
	ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_REMOVE = 125,	/* [-] */
	/* macOS 14.0 */
	ES_EVENT_TYPE_NOTIFY_PROFILE_ADD = 126,			/* [-] */
	ES_EVENT_TYPE_NOTIFY_PROFILE_REMOVE = 127,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_SU = 128,				/* [-] planned: audit netlink (PAM) */
	ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_PETITION = 129,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_JUDGEMENT = 130,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_SUDO = 131,			/* [-] planned: audit netlink (PAM) */
	ES_EVENT_TYPE_NOTIFY_OD_GROUP_ADD = 132,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_GROUP_REMOVE = 133,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_GROUP_SET = 134,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_MODIFY_PASSWORD = 135,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_DISABLE_USER = 136,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_ENABLE_USER = 137,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_ADD = 138,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_REMOVE = 139,	/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_SET = 140,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_CREATE_USER = 141,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_CREATE_GROUP = 142,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_DELETE_USER = 143,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_OD_DELETE_GROUP = 144,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_XPC_CONNECT = 145,			/* [-] */
	/* macOS 15.0 */
	ES_EVENT_TYPE_NOTIFY_GATEKEEPER_USER_OVERRIDE = 146,	/* [-] */
	/* macOS 15.4 */
	ES_EVENT_TYPE_NOTIFY_TCC_MODIFY = 147,			/* [-] */
	/* macOS 26.3: clipboard (private entitlement on macOS) */
	ES_EVENT_TYPE_RESERVED_0 = 148,				/* [-] */
	ES_EVENT_TYPE_RESERVED_1 = 149,				/* [-] */
	ES_EVENT_TYPE_RESERVED_2 = 150,				/* [-] */
	/* macOS 26.4: socket bind, network connect AUTH (5) and NOTIFY (6) */
	ES_EVENT_TYPE_RESERVED_3 = 151,				/* [-] */
	ES_EVENT_TYPE_RESERVED_4 = 152,				/* [-] */
	ES_EVENT_TYPE_RESERVED_5 = 153,				/* [-] */
	ES_EVENT_TYPE_RESERVED_6 = 154,				/* [-] */
	/* macOS 26.5: tty termios ioctl AUTH (7) and NOTIFY (8) */
	ES_EVENT_TYPE_RESERVED_7 = 155,				/* [-] */
	ES_EVENT_TYPE_RESERVED_8 = 156,				/* [-] */
	/* macOS 27.0 */
	ES_EVENT_TYPE_AUTH_XPC_CONNECT = 157,			/* [-] */
	ES_EVENT_TYPE_AUTH_BOOTSTRAP_CHECK_IN = 158,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_BOOTSTRAP_CHECK_IN = 159,		/* [-] */
	ES_EVENT_TYPE_AUTH_BOOTSTRAP_LOOK_UP = 160,		/* [-] */
	ES_EVENT_TYPE_NOTIFY_BOOTSTRAP_LOOK_UP = 161,		/* [-] */
	/* Not an event: one past the last one. Moves with Apple's releases. */
	ES_EVENT_TYPE_LAST = 162,
} es_event_type_t;

/* uext only: events uext may add itself (none yet) will be numbered from here, far above
 * Apple's range, so ES_EVENT_TYPE_LAST keeps Apple's meaning. es_subscribe accepts them. */
#define UEXT_ES_EVENT_TYPE_PRIVATE_BASE 0x10000

typedef enum {
	ES_AUTH_RESULT_ALLOW = 0,
	ES_AUTH_RESULT_DENY = 1,
} es_auth_result_t;

typedef enum {
	ES_RESULT_TYPE_AUTH = 0,
	ES_RESULT_TYPE_FLAGS = 1,
} es_result_type_t;

typedef enum {
	ES_RETURN_SUCCESS = 0,
	ES_RETURN_ERROR = 1,
} es_return_t;

typedef enum {
	ES_RESPOND_RESULT_SUCCESS = 0,
	ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT = 1,
	ES_RESPOND_RESULT_ERR_INTERNAL = 2,
	ES_RESPOND_RESULT_NOT_FOUND = 3,
	ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE = 4,
	ES_RESPOND_RESULT_ERR_EVENT_TYPE = 5,
} es_respond_result_t;

/* LINUX: what each failure means for uext is documented at es_new_client_f() in es.h. */
typedef enum {
	ES_NEW_CLIENT_RESULT_SUCCESS = 0,
	ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT = 1,
	ES_NEW_CLIENT_RESULT_ERR_INTERNAL = 2,
	ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED = 3,
	ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED = 4,
	ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED = 5,
	ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS = 6,
} es_new_client_result_t;

typedef enum {
	ES_CLEAR_CACHE_RESULT_SUCCESS = 0,
	ES_CLEAR_CACHE_RESULT_ERR_INTERNAL = 1,
	ES_CLEAR_CACHE_RESULT_ERR_THROTTLE = 2,
} es_clear_cache_result_t;

/* LINUX: there is no code signing on Linux; see es_process_t for what uext puts here. */
typedef uint8_t es_cdhash_t[20];
typedef uint8_t es_sha256_t[32];

/* A byte buffer. */
typedef struct {
	size_t size;
	const uint8_t *data;
} es_token_t;

/* A string: length as strlen(). LINUX: a present string is always NUL-terminated at
 * data[length] (so data can be printed with %s); an absent one (Apple's null) has
 * length 0 and data NULL. */
typedef struct {
	size_t length;
	const char *data;
} es_string_token_t;

/* PREFIX/LITERAL match the instigating process's executable path; TARGET_* (macOS 13)
 * match the event's target path(s). LINUX: paths as uext reports them (see es_file_t). */
typedef enum {
	ES_MUTE_PATH_TYPE_PREFIX = 0,
	ES_MUTE_PATH_TYPE_LITERAL = 1,
	ES_MUTE_PATH_TYPE_TARGET_PREFIX = 2,
	ES_MUTE_PATH_TYPE_TARGET_LITERAL = 3,
} es_mute_path_type_t;

typedef struct {
	es_mute_path_type_t type;
	size_t event_count;
	const es_event_type_t *events;
	es_string_token_t path;
} es_muted_path_t;

typedef struct {
	size_t count;
	const es_muted_path_t *paths;
} es_muted_paths_t;

typedef struct {
	audit_token_t audit_token;
	size_t event_count;
	const es_event_type_t *events;
} es_muted_process_t;

typedef struct {
	size_t count;
	const es_muted_process_t *processes;
} es_muted_processes_t;

typedef enum {
	ES_ADDRESS_TYPE_NONE = 0,
	ES_ADDRESS_TYPE_IPV4 = 1,
	ES_ADDRESS_TYPE_IPV6 = 2,
	ES_ADDRESS_TYPE_NAMED_SOCKET = 3,
} es_address_type_t;

typedef enum {
	ES_MUTE_INVERSION_TYPE_PROCESS = 0,
	ES_MUTE_INVERSION_TYPE_PATH = 1,
	ES_MUTE_INVERSION_TYPE_TARGET_PATH = 2,
	ES_MUTE_INVERSION_TYPE_LAST = 3,
} es_mute_inversion_type_t;

typedef enum {
	ES_MUTE_INVERTED = 0,
	ES_MUTE_NOT_INVERTED = 1,
	ES_MUTE_INVERTED_ERROR = 2,
} es_mute_inverted_return_t;

/* macOS 27: what happens to an AUTH its client did not answer before msg->deadline.
 * LINUX: Apple's numeric values were not published; these are uext's. Use the names.
 * The semantics on uext are at es_set_deadline_miss_mode() in es.h. */
typedef enum {
	ES_DEADLINE_MISS_MODE_KILL = 0,
	ES_DEADLINE_MISS_MODE_FAIL_OPEN = 1,
	ES_DEADLINE_MISS_MODE_FAIL_CLOSED = 2,
} es_deadline_miss_mode_t;

typedef enum {
	ES_AUTHORIZATION_RULE_CLASS_USER = 0,
	ES_AUTHORIZATION_RULE_CLASS_RULE = 1,
	ES_AUTHORIZATION_RULE_CLASS_MECHANISM = 2,
	ES_AUTHORIZATION_RULE_CLASS_ALLOW = 3,
	ES_AUTHORIZATION_RULE_CLASS_DENY = 4,
	ES_AUTHORIZATION_RULE_CLASS_UNKNOWN = 5,
	ES_AUTHORIZATION_RULE_CLASS_INVALID = 6,
} es_authorization_rule_class_t;

typedef enum {
	ES_OD_MEMBER_TYPE_USER_NAME = 0,
	ES_OD_MEMBER_TYPE_USER_UUID = 1,
	ES_OD_MEMBER_TYPE_GROUP_UUID = 2,
} es_od_member_type_t;

typedef enum {
	ES_OD_ACCOUNT_TYPE_USER = 0,
	ES_OD_ACCOUNT_TYPE_COMPUTER = 1,
} es_od_account_type_t;

typedef enum {
	ES_OD_RECORD_TYPE_USER = 0,
	ES_OD_RECORD_TYPE_GROUP = 1,
} es_od_record_type_t;

typedef enum {
	ES_GATEKEEPER_USER_OVERRIDE_FILE_TYPE_PATH = 0,
	ES_GATEKEEPER_USER_OVERRIDE_FILE_TYPE_FILE = 1,
} es_gatekeeper_user_override_file_type_t;

typedef struct {
	es_cdhash_t cdhash;
	es_string_token_t signing_id;
	es_string_token_t team_id;
} es_signed_file_info_t;

typedef enum {
	ES_TCC_EVENT_TYPE_UNKNOWN = 0,
	ES_TCC_EVENT_TYPE_CREATE = 1,
	ES_TCC_EVENT_TYPE_MODIFY = 2,
	ES_TCC_EVENT_TYPE_DELETE = 3,
} es_tcc_event_type_t;

typedef enum {
	ES_TCC_AUTHORIZATION_RIGHT_DENIED = 0,
	ES_TCC_AUTHORIZATION_RIGHT_UNKNOWN = 1,
	ES_TCC_AUTHORIZATION_RIGHT_ALLOWED = 2,
	ES_TCC_AUTHORIZATION_RIGHT_LIMITED = 3,
	ES_TCC_AUTHORIZATION_RIGHT_ADD_MODIFY_ADDED = 4,
	ES_TCC_AUTHORIZATION_RIGHT_SESSION_PID = 5,
	ES_TCC_AUTHORIZATION_RIGHT_LEARN_MORE = 6,
} es_tcc_authorization_right_t;

typedef enum {
	ES_TCC_AUTHORIZATION_REASON_NONE = 0,
	ES_TCC_AUTHORIZATION_REASON_ERROR = 1,
	ES_TCC_AUTHORIZATION_REASON_USER_CONSENT = 2,
	ES_TCC_AUTHORIZATION_REASON_USER_SET = 3,
	ES_TCC_AUTHORIZATION_REASON_SYSTEM_SET = 4,
	ES_TCC_AUTHORIZATION_REASON_SERVICE_POLICY = 5,
	ES_TCC_AUTHORIZATION_REASON_MDM_POLICY = 6,
	ES_TCC_AUTHORIZATION_REASON_SERVICE_OVERRIDE_POLICY = 7,
	ES_TCC_AUTHORIZATION_REASON_MISSING_USAGE_STRING = 8,
	ES_TCC_AUTHORIZATION_REASON_PROMPT_TIMEOUT = 9,
	ES_TCC_AUTHORIZATION_REASON_PREFLIGHT_UNKNOWN = 10,
	ES_TCC_AUTHORIZATION_REASON_ENTITLED = 11,
	ES_TCC_AUTHORIZATION_REASON_APP_TYPE_POLICY = 12,
	ES_TCC_AUTHORIZATION_REASON_PROMPT_CANCEL = 13,
} es_tcc_authorization_reason_t;

typedef enum {
	ES_TCC_IDENTITY_TYPE_BUNDLE_ID = 0,
	ES_TCC_IDENTITY_TYPE_EXECUTABLE_PATH = 1,
	ES_TCC_IDENTITY_TYPE_POLICY_ID = 2,
	ES_TCC_IDENTITY_TYPE_FILE_PROVIDER_DOMAIN_ID = 3,
} es_tcc_identity_type_t;

/* LINUX: uext reports ES_CS_VALIDATION_CATEGORY_NONE for every process. */
typedef enum {
	ES_CS_VALIDATION_CATEGORY_INVALID = 0,
	ES_CS_VALIDATION_CATEGORY_PLATFORM = 1,
	ES_CS_VALIDATION_CATEGORY_TESTFLIGHT = 2,
	ES_CS_VALIDATION_CATEGORY_DEVELOPMENT = 3,
	ES_CS_VALIDATION_CATEGORY_APP_STORE = 4,
	ES_CS_VALIDATION_CATEGORY_ENTERPRISE = 5,
	ES_CS_VALIDATION_CATEGORY_DEVELOPER_ID = 6,
	ES_CS_VALIDATION_CATEGORY_LOCAL_SIGNING = 7,
	ES_CS_VALIDATION_CATEGORY_ROSETTA = 8,
	ES_CS_VALIDATION_CATEGORY_OOPJIT = 9,
	ES_CS_VALIDATION_CATEGORY_NONE = 10,
} es_cs_validation_category_t;

typedef enum {
	ES_AUTO_UNLOCK_MACHINE_UNLOCK = 1,
	ES_AUTO_UNLOCK_AUTH_PROMPT = 2,
} es_auto_unlock_type_t;

typedef enum {
	ES_BTM_ITEM_TYPE_USER_ITEM = 0,
	ES_BTM_ITEM_TYPE_APP = 1,
	ES_BTM_ITEM_TYPE_LOGIN_ITEM = 2,
	ES_BTM_ITEM_TYPE_AGENT = 3,
	ES_BTM_ITEM_TYPE_DAEMON = 4,
} es_btm_item_type_t;

typedef enum {
	ES_DESTINATION_TYPE_EXISTING_FILE = 0,
	ES_DESTINATION_TYPE_NEW_PATH = 1,
} es_destination_type_t;

typedef enum {
	ES_GET_TASK_TYPE_TASK_FOR_PID = 0,
	ES_GET_TASK_TYPE_EXPOSE_TASK = 1,
	ES_GET_TASK_TYPE_IDENTITY_TOKEN = 2,
} es_get_task_type_t;

typedef enum {
	ES_OPENSSH_LOGIN_EXCEED_MAXTRIES = 0,
	ES_OPENSSH_LOGIN_ROOT_DENIED = 1,
	ES_OPENSSH_AUTH_SUCCESS = 2,
	ES_OPENSSH_AUTH_FAIL_NONE = 3,
	ES_OPENSSH_AUTH_FAIL_PASSWD = 4,
	ES_OPENSSH_AUTH_FAIL_KBDINT = 5,
	ES_OPENSSH_AUTH_FAIL_PUBKEY = 6,
	ES_OPENSSH_AUTH_FAIL_HOSTBASED = 7,
	ES_OPENSSH_AUTH_FAIL_GSSAPI = 8,
	ES_OPENSSH_INVALID_USER = 9,
} es_openssh_login_result_type_t;

/* LINUX: EXTERNAL = a removable block device (sysfs "removable"), INTERNAL = other block
 * devices, NETWORK = nfs/cifs/smb3/9p/ceph/fuse.sshfs..., VIRTUAL = loop devices and
 * memory filesystems (tmpfs, ramfs), NULLFS = bind mounts and overlayfs, UNKNOWN = the rest. */
typedef enum {
	ES_MOUNT_DISPOSITION_EXTERNAL = 0,
	ES_MOUNT_DISPOSITION_INTERNAL = 1,
	ES_MOUNT_DISPOSITION_NETWORK = 2,
	ES_MOUNT_DISPOSITION_VIRTUAL = 3,
	ES_MOUNT_DISPOSITION_NULLFS = 4,
	ES_MOUNT_DISPOSITION_UNKNOWN = 5,
} es_mount_disposition_t;

typedef enum {
	ES_PROC_SUSPEND_RESUME_TYPE_SUSPEND = 0,
	ES_PROC_SUSPEND_RESUME_TYPE_RESUME = 1,
	ES_PROC_SUSPEND_RESUME_TYPE_SHUTDOWN_SOCKETS = 3,
} es_proc_suspend_resume_type_t;

typedef enum {
	ES_PROFILE_SOURCE_MANAGED = 0,
	ES_PROFILE_SOURCE_INSTALL = 1,
} es_profile_source_t;

typedef enum {
	ES_TOUCHID_MODE_VERIFICATION = 0,
	ES_TOUCHID_MODE_IDENTIFICATION = 1,
} es_touchid_mode_t;

/* ---------------------------------------------------------------------------------------
 * Constants Apple clients take from other Darwin headers
 * ------------------------------------------------------------------------------------- */

/* es_event_open_t.fflag uses the kernel's FREAD/FWRITE, not O_RDONLY/O_WRONLY/O_RDWR.
 * LINUX: same values as Darwin (and as Linux's FMODE_READ/FMODE_WRITE); the other bits of
 * fflag are Linux's O_* values (O_APPEND, O_TRUNC, O_CREAT... from <fcntl.h>). */
#ifndef FREAD
#define FREAD 0x00000001
#endif
#ifndef FWRITE
#define FWRITE 0x00000002
#endif

/* es_fd_t.fdtype values (libproc's PROX_FDTYPE_*). LINUX: uext lists only these three
 * kinds; other descriptors (eventfd, epoll, timerfd, pidfd...) are left out of es_exec_fd. */
#ifndef PROX_FDTYPE_VNODE
#define PROX_FDTYPE_VNODE 1
#endif
#ifndef PROX_FDTYPE_SOCKET
#define PROX_FDTYPE_SOCKET 2
#endif
#ifndef PROX_FDTYPE_PIPE
#define PROX_FDTYPE_PIPE 6
#endif

#ifdef __cplusplus
}
#endif
#endif /* UEXT_ES_TYPES_H */
