/* uext/es_message.h — what an Endpoint Security client receives: es_message_t, the process
 * and file descriptions, and one struct per event (Apple's ESMessage.h).
 *
 * Field names and order are Apple's; every pointer inside a message points into the message
 * and lives as long as it. "LINUX:" notes say where uext fills a field differently from
 * macOS; docs/es-api.md collects them. Include <uext/es.h> rather than this file. */
#ifndef UEXT_ES_MESSAGE_H
#define UEXT_ES_MESSAGE_H

#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <uext/es_types.h>

#ifdef __cplusplus
extern "C" {
#endif
#if defined(__clang__)
/* Nullability qualifiers are a clang extension (as in Apple's headers). */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-extension"
#if __has_warning("-Wreserved-identifier")
#pragma clang diagnostic ignored "-Wreserved-identifier"
#endif
#endif

/* The message version uext fills: every field of this header is present (guard by
 * msg->version anyway, as on macOS, so code keeps working against older producers). */
#define UEXT_ES_MESSAGE_VERSION 10

/* A file.
 * LINUX: path is absolute in the host's mount namespace (uextd's view, as d_path() builds
 * it), not in the view of a process that runs in its own mount namespace (containers).
 * A file already unlinked keeps its last path and has stat.st_nlink == 0. Paths are cut at
 * PATH_MAX (4096, Apple: about 16K) with path_truncated set. stat is Linux's struct stat:
 * st_mtim/st_atim/st_ctim instead of st_*timespec, no st_flags, st_gen, st_birthtimespec.
 * For a kernel thread's "executable" path is empty and stat zeroed. */
typedef struct {
	es_string_token_t path;
	bool path_truncated;
	struct stat stat;
} es_file_t;

/* LINUX: thread_id is the Linux thread id (TID). Unlike Apple's, it is reused after the
 * thread exits. */
typedef struct {
	uint64_t thread_id;
} es_thread_t;

/* A process: the instigator of every message (msg->process) and the subject of some events
 * (exec target, fork child, signal target...).
 *
 * LINUX, field by field:
 *  audit_token             see audit_token_t in es_types.h (pidversion = uextd's serial).
 *  ppid                    current parent pid (after reparenting).
 *  original_ppid           parent pid at fork time.
 *  group_id, session_id    POSIX process group and session ids, as on macOS.
 *  codesigning_flags       always 0: no code signing on Linux.
 *  is_platform_binary      always false: no platform signature, so a port's "trust Apple
 *                          binaries" shortcut never triggers.
 *  is_es_client            true when the process holds an ES client connection to uextd.
 *  cdhash                  the first 20 bytes of the executable file's SHA-256 (Apple's
 *                          cdhash is a truncated SHA-256 too, of the code directory), or
 *                          all zero when uext could not hash it (uext_executable_hashed).
 *  signing_id, team_id     for a process uextd started from a verified uext bundle (an
 *                          extension): the bundle identifier and its publisher, the
 *                          names its Ed25519 signature vouches for. Absent (length 0,
 *                          data NULL) for every other process.
 *  executable              the file /proc/PID/exe names (see es_file_t).
 *  tty                     the session's controlling terminal, or NULL.
 *  start_time              wall-clock time of the fork that created the process.
 *  responsible_audit_token the process's own token: Linux has no "responsible process"
 *                          (Apple documents this same fallback).
 *  parent_audit_token      the parent's token.
 *  cs_validation_category  ES_CS_VALIDATION_CATEGORY_NONE.
 *  uext_executable_sha256  (uext only, after Apple's fields) the whole SHA-256 of the
 *                          executable file, cached by uextd per (device, inode, size,
 *                          mtime, ctime); valid when uext_executable_hashed. uextd skips
 *                          the hash (and leaves both zero) when reading the file would
 *                          wait on its own open-permission mark. */
typedef struct {
	audit_token_t audit_token;
	pid_t ppid;
	pid_t original_ppid;
	pid_t group_id;
	pid_t session_id;
	uint32_t codesigning_flags;
	bool is_platform_binary;
	bool is_es_client;
	es_cdhash_t cdhash;
	es_string_token_t signing_id;
	es_string_token_t team_id;
	es_file_t *_Nonnull executable;
	es_file_t *_Nullable tty;			/* message version >= 2 */
	struct timeval start_time;			/* message version >= 3 */
	audit_token_t responsible_audit_token;		/* message version >= 4 */
	audit_token_t parent_audit_token;		/* message version >= 4 */
	es_cs_validation_category_t cs_validation_category; /* message version >= 10 */
	es_sha256_t uext_executable_sha256;		/* uext only */
	bool uext_executable_hashed;			/* uext only */
} es_process_t;

/* LINUX: flavor is the NT_* regset of PTRACE_SETREGSET (NT_PRSTATUS for PTRACE_SETREGS),
 * state the bytes written (may be empty when uext could not capture them). */
typedef struct {
	int flavor;
	es_token_t state;
} es_thread_state_t;

/* One open file descriptor of an exec'ing process (es_exec_fd).
 * LINUX: pipe.pipe_id is the pipe's inode number, the same at both ends. */
typedef struct {
	int32_t fd;
	uint32_t fdtype;
	union {
		struct {
			uint64_t pipe_id;
		} pipe;
	};
} es_fd_t;

typedef struct {
	es_btm_item_type_t item_type;
	bool legacy;
	bool managed;
	uid_t uid;
	es_string_token_t item_url;
	es_string_token_t app_url;
} es_btm_launch_item_t;

typedef struct {
	es_string_token_t identifier;
	es_string_token_t uuid;
	es_profile_source_t install_source;
	es_string_token_t organization;
	es_string_token_t display_name;
	es_string_token_t scope;
} es_profile_t;

/* The file system of a mount event.
 * LINUX: Apple's field is a Darwin `struct statfs *`; Linux's struct statfs has other
 * fields, so uext gives this struct with Darwin's field names, filled from statfs(2) and
 * /proc/self/mountinfo. Code such as `msg->event.mount.statfs->f_mntonname` ports as is;
 * code that assigns the pointer to a `struct statfs *` does not. Differences: f_type is
 * Linux's magic number (e.g. 0xEF53 for ext4), f_flags holds Linux ST_* bits (ST_RDONLY,
 * ST_NOSUID, ST_NODEV, ST_NOEXEC...; see statvfs(3)), f_iosize = f_bsize, f_fssubtype
 * and f_flags_ext are 0, names are cut at the array sizes (NUL-terminated). */
typedef struct uext_es_statfs {
	uint32_t f_bsize;
	int32_t f_iosize;
	uint64_t f_blocks;
	uint64_t f_bfree;
	uint64_t f_bavail;
	uint64_t f_files;
	uint64_t f_ffree;
	struct {
		int32_t val[2];
	} f_fsid;
	uid_t f_owner;
	uint32_t f_type;
	uint32_t f_flags;
	uint32_t f_fssubtype;
	char f_fstypename[16];
	char f_mntonname[4096];
	char f_mntfromname[4096];
	uint32_t f_flags_ext;
	uint32_t f_reserved[7];
} es_statfs_t;

/* Darwin's struct attrlist, for the getattrlist/setattrlist/searchfs events that Linux
 * never produces. */
typedef struct uext_es_attrlist {
	uint16_t bitmapcount;
	uint16_t reserved;
	uint32_t commonattr;
	uint32_t volattr;
	uint32_t dirattr;
	uint32_t fileattr;
	uint32_t forkattr;
} uext_es_attrlist_t;

/* =======================================================================================
 * Events before macOS 13.0: stored inline in es_events_t.
 * ===================================================================================== */

/* Execute a new process. msg->process is the caller before the exec, target the same pid
 * after it (new pidversion). Cache key: (process executable, target executable).
 * LINUX: AUTH_EXEC comes from FAN_OPEN_EXEC_PERM when execve(2) opens the binary, so the
 * exec has not happened yet: target is the calling process with executable = the file being
 * executed (hashed through the event's descriptor) and pidversion 0 (the new pidversion is
 * given when the exec completes, in NOTIFY_EXEC). A denied AUTH_EXEC makes execve fail with
 * EPERM. A "#!" script and its interpreter each raise an AUTH_EXEC; script is NULL. argv is
 * captured at execve entry (only with uextd --es-exec-args: eBPF; capped, and empty when the
 * caller's pages could not be read then), NOTIFY_EXEC's from the new image; es_exec_arg_count() is 0 when they could not be.
 * The environment is the new image's first 2 KiB of variables (a variable that does not
 * fit whole is left out, with every one after it): NOTIFY_EXEC's from the new image,
 * AUTH_EXEC's as the caller passed it to execve (only with uextd --es-exec-args: eBPF; also
 * at most 64 variables; none when they could not be read). Descriptors are not captured yet (es_exec_fd_count() 0), nor
 * last_fd and image_cputype (0); dyld_exec_path is the path
 * given to execve (NOTIFY_EXEC). cwd is read when the event is handled. */
typedef struct {
	es_process_t *_Nonnull target;
	es_string_token_t dyld_exec_path; /* message version >= 7 */
	union {
		uint8_t reserved[64];
		struct {
			es_file_t *_Nullable script;	/* message version >= 2 */
			es_file_t *_Nonnull cwd;	/* message version >= 3 */
			int last_fd;			/* message version >= 4 */
			int32_t image_cputype;		/* message version >= 6; Apple: cpu_type_t */
			int32_t image_cpusubtype;	/* message version >= 6; Apple: cpu_subtype_t */
		};
	};
} es_event_exec_t;

/* Open a file. fflag holds FREAD/FWRITE (not O_RDONLY...) plus the other open flags.
 * Cache key: (process executable, file).
 * LINUX: AUTH_OPEN comes from FAN_OPEN_PERM, NOTIFY_OPEN from FAN_OPEN; fanotify does not
 * carry the opener's flags and uext does not join them from openat(2) yet, so AUTH_OPEN has
 * fflag = FREAD|FWRITE (the safe guess: a read-only grant then denies) and NOTIFY_OPEN
 * FREAD, both with uext_fflag_unknown true. Linux can only allow or deny the whole open:
 * es_respond_flags_result allows it when every bit of fflag is in authorized_flags (as
 * macOS decides), and a denied open fails with EPERM. The cache key is the file alone (see
 * es_respond_auth_result in es.h). Files on filesystems fanotify cannot mark (procfs, sysfs,
 * some FUSE and network filesystems), or that uextd does not watch, produce no AUTH_OPEN. */
typedef struct {
	int32_t fflag;
	es_file_t *_Nonnull file;
	union {
		uint8_t reserved[64];
		struct {
			bool uext_fflag_unknown; /* uext only */
		};
	};
} es_event_open_t;

/* Load a kernel extension. LINUX: a kernel module (init_module/finit_module); identifier
 * is the module name ("ext4"). KEXTUNLOAD: delete_module. */
typedef struct {
	es_string_token_t identifier;
	uint8_t reserved[64];
} es_event_kextload_t;

typedef struct {
	es_string_token_t identifier;
	uint8_t reserved[64];
} es_event_kextunload_t;

/* Unlink a file or directory.
 * LINUX: NOTIFY only, reported after the fact (FAN_DELETE): target->stat is the last state
 * uext saw and may be all zero when the file was never seen; parent_dir is exact. */
typedef struct {
	es_file_t *_Nonnull target;
	es_file_t *_Nonnull parent_dir;
	uint8_t reserved[64];
} es_event_unlink_t;

/* Map a file. LINUX: protection and flags are Linux's PROT_* and MAP_* values;
 * max_protection equals protection (Linux has no per-mapping maximum at mmap time).
 * Anonymous mappings produce no event. */
typedef struct {
	int32_t protection;
	int32_t max_protection;
	int32_t flags;
	uint64_t file_pos;
	es_file_t *_Nonnull source;
	uint8_t reserved[64];
} es_event_mmap_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_file_t *_Nonnull target_dir;
	es_string_token_t target_filename;
	uint8_t reserved[64];
} es_event_link_t;

/* Mount a file system (mount(2), fsmount(2)/move_mount(2)). Cache key: (process
 * executable, mount point). LINUX: statfs is uext's es_statfs_t (see above). */
typedef struct {
	es_statfs_t *_Nonnull statfs;
	es_mount_disposition_t disposition; /* message version >= 8 */
	uint8_t reserved[60];
} es_event_mount_t;

/* LINUX: umount2(2). */
typedef struct {
	es_statfs_t *_Nonnull statfs;
	uint8_t reserved[64];
} es_event_unmount_t;

/* LINUX: mount(2) with MS_REMOUNT or mount_setattr(2); remount_flags holds the MS_* flags
 * passed (mount_setattr: its MOUNT_ATTR_* attr_set). */
typedef struct {
	es_statfs_t *_Nonnull statfs;
	uint64_t remount_flags;			    /* message version >= 8 */
	es_mount_disposition_t disposition; /* message version >= 8 */
	uint8_t reserved[52];
} es_event_remount_t;

/* LINUX: fork(2), vfork(2) and clone(2) without CLONE_THREAD. */
typedef struct {
	es_process_t *_Nonnull child;
	uint8_t reserved[64];
} es_event_fork_t;

/* LINUX: mprotect(2), pkey_mprotect(2); Linux PROT_* values. Apple: user_addr_t and
 * user_size_t, both 64-bit. */
typedef struct {
	int32_t protection;
	uint64_t address;
	uint64_t size;
	uint8_t reserved[64];
} es_event_mprotect_t;

/* Send a signal. Not reported for a process signalling itself.
 * LINUX: kill(2), tgkill(2), pidfd_send_signal(2)... seen at signal generation; instigator
 * is always NULL (no launchd-style delegation on Linux). */
typedef struct {
	int sig;
	es_process_t *_Nonnull target;
	es_process_t *_Nullable instigator; /* message version >= 9 */
	uint8_t reserved[56];
} es_event_signal_t;

/* Rename a file.
 * LINUX: NOTIFY only, reported after the rename (FAN_RENAME, or MOVED_FROM/MOVED_TO on
 * kernels before 5.17): source->path is the old path, source->stat the file now;
 * destination_type is always ES_DESTINATION_TYPE_NEW_PATH (a file that was replaced is
 * gone by then, so existing_file is never given). */
typedef struct {
	es_file_t *_Nonnull source;
	es_destination_type_t destination_type;
	union {
		es_file_t *_Nonnull existing_file;
		struct {
			es_file_t *_Nonnull dir;
			es_string_token_t filename;
		} new_path;
	} destination;
	uint8_t reserved[64];
} es_event_rename_t;

typedef struct {
	es_file_t *_Nonnull target;
	es_string_token_t extattr;
	uint8_t reserved[64];
} es_event_setextattr_t;

typedef struct {
	es_file_t *_Nonnull target;
	es_string_token_t extattr;
	uint8_t reserved[64];
} es_event_getextattr_t;

typedef struct {
	es_file_t *_Nonnull target;
	es_string_token_t extattr;
	uint8_t reserved[64];
} es_event_deleteextattr_t;

/* mode is the requested mode, target->stat the current one. Cache key: (process
 * executable, target). LINUX: chmod(2) family, seen at syscall entry. */
typedef struct {
	mode_t mode;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_setmode_t;

typedef struct {
	uint32_t flags;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_setflags_t;

/* LINUX: chown(2) family, seen at syscall entry; (uid_t)-1 / (gid_t)-1 = unchanged. */
typedef struct {
	uid_t uid;
	gid_t gid;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_setowner_t;

/* Close a file. LINUX: from FAN_CLOSE_WRITE/FAN_CLOSE_NOWRITE; modified is true when a
 * write to the file was seen while it was open (FAN_MODIFY); was_mapped_writable is always
 * false (not tracked). */
typedef struct {
	bool modified;
	es_file_t *_Nonnull target;
	union {
		uint8_t reserved[64];
		struct {
			bool was_mapped_writable; /* message version >= 6 */
		};
	};
} es_event_close_t;

/* Create a file, directory, fifo, socket node or symlink.
 * LINUX: NOTIFY only, after the fact (FAN_CREATE): destination_type is always
 * ES_DESTINATION_TYPE_EXISTING_FILE; acl is always NULL (Apple: acl_t, a Darwin ACL). */
typedef struct {
	es_destination_type_t destination_type;
	union {
		es_file_t *_Nonnull existing_file;
		struct {
			es_file_t *_Nonnull dir;
			es_string_token_t filename;
			mode_t mode;
		} new_path;
	} destination;
	uint8_t reserved2[16];
	union {
		uint8_t reserved[48];
		struct {
			void *_Nullable acl; /* message version >= 2; Apple: acl_t */
		};
	};
} es_event_create_t;

/* stat is the wait(2) status. LINUX: of the whole process (last thread's exit). */
typedef struct {
	int stat;
	uint8_t reserved[64];
} es_event_exit_t;

typedef struct {
	es_file_t *_Nonnull file1;
	es_file_t *_Nonnull file2;
	uint8_t reserved[64];
} es_event_exchangedata_t;

/* LINUX: from FAN_MODIFY, which the kernel merges: one event per burst of writes to a
 * file, not one per write(2). Writes through a shared mapping are not seen. */
typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_write_t;

/* LINUX: truncate(2) and ftruncate(2) only (as on macOS, not O_TRUNC). */
typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_truncate_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_chdir_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_stat_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_chroot_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_listextattr_t;

typedef struct {
	uint32_t user_client_type;
	es_string_token_t user_client_class;
	uint64_t parent_registry_id;   /* message version >= 10 */
	es_string_token_t parent_path; /* message version >= 10 */
	uint8_t reserved[40];
} es_event_iokit_open_t;

/* LINUX: GET_TASK = pidfd_getfd(2) or process_vm_writev(2) on another process, type
 * ES_GET_TASK_TYPE_TASK_FOR_PID; GET_TASK_READ = process_vm_readv(2) on another process. */
typedef struct {
	es_process_t *_Nonnull target;
	es_get_task_type_t type; /* message version >= 5 */
	uint8_t reserved[60];
} es_event_get_task_t;

typedef struct {
	es_process_t *_Nonnull target;
	es_get_task_type_t type; /* message version >= 5 */
	uint8_t reserved[60];
} es_event_get_task_read_t;

typedef struct {
	es_process_t *_Nonnull target;
	es_get_task_type_t type; /* message version >= 5 */
	uint8_t reserved[60];
} es_event_get_task_inspect_t;

typedef struct {
	es_process_t *_Nonnull target;
	es_get_task_type_t type; /* message version >= 5 */
	uint8_t reserved[60];
} es_event_get_task_name_t;

typedef struct {
	uext_es_attrlist_t attrlist;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_getattrlist_t;

typedef struct {
	uext_es_attrlist_t attrlist;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_setattrlist_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_string_token_t target_path;
	uint8_t reserved[64];
} es_event_file_provider_update_t;

typedef struct {
	es_process_t *_Nullable instigator;
	es_file_t *_Nonnull source;
	es_file_t *_Nonnull target;
	audit_token_t instigator_token; /* message version >= 8 */
	uint8_t reserved[32];
} es_event_file_provider_materialize_t;

typedef struct {
	es_file_t *_Nonnull source;
	uint8_t reserved[64];
} es_event_readlink_t;

typedef struct {
	es_file_t *_Nonnull source_dir;
	es_string_token_t relative_target;
	uint8_t reserved[64];
} es_event_lookup_t;

typedef struct {
	int32_t mode;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_access_t;

/* LINUX: utimensat(2), futimesat(2), utimes(2); UTIME_NOW/UTIME_OMIT appear as given. */
typedef struct {
	es_file_t *_Nonnull target;
	struct timespec atime;
	struct timespec mtime;
	uint8_t reserved[64];
} es_event_utimes_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_file_t *_Nonnull target_dir;
	es_string_token_t target_name;
	uint8_t reserved[64];
} es_event_clone_t;

typedef struct {
	es_file_t *_Nonnull source;
	es_file_t *_Nullable target_file;
	es_file_t *_Nonnull target_dir;
	es_string_token_t target_name;
	mode_t mode;
	int32_t flags;
	uint8_t reserved[56];
} es_event_copyfile_t;

typedef struct {
	es_file_t *_Nonnull target;
	int32_t cmd;
	uint8_t reserved[64];
} es_event_fcntl_t;

/* LINUX: getdents64(2) on a directory (the first call after each open or rewind). */
typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_readdir_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_fsgetpath_t;

typedef struct {
	uint8_t reserved[64];
} es_event_settime_t;

typedef struct {
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_dup_t;

/* LINUX: bind(2) of an AF_UNIX socket to a path (abstract names produce no event). */
typedef struct {
	es_file_t *_Nonnull dir;
	es_string_token_t filename;
	mode_t mode;
	uint8_t reserved[64];
} es_event_uipc_bind_t;

/* LINUX: connect(2) of an AF_UNIX socket to a path; Linux AF_/SOCK_ values. */
typedef struct {
	es_file_t *_Nonnull file;
	int domain;
	int type;
	int protocol;
	uint8_t reserved[64];
} es_event_uipc_connect_t;

/* LINUX: setxattr(2) family on system.posix_acl_access / system.posix_acl_default;
 * acl.set is always NULL (Apple: acl_t), set_or_clear is ES_CLEAR for removexattr(2). */
typedef struct {
	es_file_t *_Nonnull target;
	es_set_or_clear_t set_or_clear;
	union {
		void *_Nullable set; /* Apple: acl_t _Nonnull */
	} acl;
	uint8_t reserved[64];
} es_event_setacl_t;

typedef struct {
	dev_t dev;
	uint8_t reserved[64];
} es_event_pty_grant_t;

typedef struct {
	dev_t dev;
	uint8_t reserved[64];
} es_event_pty_close_t;

typedef struct {
	es_process_t *_Nullable target;
	es_proc_check_type_t type;
	int flavor;
	uint8_t reserved[64];
} es_event_proc_check_t;

typedef struct {
	uext_es_attrlist_t attrlist;
	es_file_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_searchfs_t;

typedef struct {
	es_process_t *_Nullable target;
	es_proc_suspend_resume_type_t type;
	uint8_t reserved[64];
} es_event_proc_suspend_resume_t;

typedef struct {
	uint8_t reserved[64];
} es_event_cs_invalidated_t;

/* LINUX: ptrace(2) PTRACE_ATTACH, PTRACE_SEIZE and PTRACE_TRACEME (then msg->process is
 * the tracee and msg->thread NULL, as macOS does for PT_TRACE_ME). */
typedef struct {
	es_process_t *_Nonnull target;
	uint8_t reserved[64];
} es_event_trace_t;

/* LINUX: a tracer setting the registers of a thread in another process (ptrace(2)
 * PTRACE_SETREGS/PTRACE_SETREGSET/PTRACE_POKEUSER), the Linux way to hijack or start a
 * thread there. thread_state: see es_thread_state_t. */
typedef struct {
	es_process_t *_Nonnull target;
	es_thread_state_t *_Nullable thread_state;
	uint8_t reserved[64];
} es_event_remote_thread_create_t;

/* The set*id family. LINUX: seen at syscall entry, so an attempt that then fails (EPERM)
 * is reported too; setresuid(2)/setresgid(2) come as SETREUID/SETREGID (the saved id is
 * not reported); setfsuid/setfsgid produce nothing. glibc applies set*id to every thread
 * of a process, so a multi-threaded process may produce one event per thread. */
typedef struct {
	uid_t uid;
	uint8_t reserved[64];
} es_event_setuid_t;

typedef struct {
	uid_t gid;
	uint8_t reserved[64];
} es_event_setgid_t;

typedef struct {
	uid_t euid;
	uint8_t reserved[64];
} es_event_seteuid_t;

typedef struct {
	uid_t egid;
	uint8_t reserved[64];
} es_event_setegid_t;

typedef struct {
	uid_t ruid;
	uid_t euid;
	uint8_t reserved[64];
} es_event_setreuid_t;

typedef struct {
	uid_t rgid;
	uid_t egid;
	uint8_t reserved[64];
} es_event_setregid_t;

/* =======================================================================================
 * Events from macOS 13.0 on: pointers in es_events_t, as on macOS.
 * LINUX: uext produces none of them yet, so their structs are declared but not defined:
 * code that only passes the pointers compiles, code that reads their fields fails to
 * compile, which is the signal that uext never delivers them. Each gets its fields when
 * uext starts producing it.
 * ===================================================================================== */
typedef struct es_event_authentication_s es_event_authentication_t;
typedef struct es_event_xp_malware_detected_s es_event_xp_malware_detected_t;
typedef struct es_event_xp_malware_remediated_s es_event_xp_malware_remediated_t;
typedef struct es_event_lw_session_login_s es_event_lw_session_login_t;
typedef struct es_event_lw_session_logout_s es_event_lw_session_logout_t;
typedef struct es_event_lw_session_lock_s es_event_lw_session_lock_t;
typedef struct es_event_lw_session_unlock_s es_event_lw_session_unlock_t;
typedef struct es_event_screensharing_attach_s es_event_screensharing_attach_t;
typedef struct es_event_screensharing_detach_s es_event_screensharing_detach_t;
typedef struct es_event_openssh_login_s es_event_openssh_login_t;
typedef struct es_event_openssh_logout_s es_event_openssh_logout_t;
typedef struct es_event_login_login_s es_event_login_login_t;
typedef struct es_event_login_logout_s es_event_login_logout_t;
typedef struct es_event_btm_launch_item_add_s es_event_btm_launch_item_add_t;
typedef struct es_event_btm_launch_item_remove_s es_event_btm_launch_item_remove_t;
typedef struct es_event_profile_add_s es_event_profile_add_t;
typedef struct es_event_profile_remove_s es_event_profile_remove_t;
typedef struct es_event_su_s es_event_su_t;
typedef struct es_event_authorization_petition_s es_event_authorization_petition_t;
typedef struct es_event_authorization_judgement_s es_event_authorization_judgement_t;
typedef struct es_event_sudo_s es_event_sudo_t;
typedef struct es_event_od_group_add_s es_event_od_group_add_t;
typedef struct es_event_od_group_remove_s es_event_od_group_remove_t;
typedef struct es_event_od_group_set_s es_event_od_group_set_t;
typedef struct es_event_od_modify_password_s es_event_od_modify_password_t;
typedef struct es_event_od_disable_user_s es_event_od_disable_user_t;
typedef struct es_event_od_enable_user_s es_event_od_enable_user_t;
typedef struct es_event_od_attribute_value_add_s es_event_od_attribute_value_add_t;
typedef struct es_event_od_attribute_value_remove_s es_event_od_attribute_value_remove_t;
typedef struct es_event_od_attribute_set_s es_event_od_attribute_set_t;
typedef struct es_event_od_create_user_s es_event_od_create_user_t;
typedef struct es_event_od_create_group_s es_event_od_create_group_t;
typedef struct es_event_od_delete_user_s es_event_od_delete_user_t;
typedef struct es_event_od_delete_group_s es_event_od_delete_group_t;
typedef struct es_event_xpc_connect_s es_event_xpc_connect_t;
typedef struct es_event_gatekeeper_user_override_s es_event_gatekeeper_user_override_t;
typedef struct es_event_tcc_modify_s es_event_tcc_modify_t;

/* Union of all events; msg->event_type says which member is valid. AUTH_x and NOTIFY_x
 * share member x. LINUX: the macOS 27 events (157-161) and Apple's RESERVED_n have no
 * member yet (Apple documents none). */
typedef union {
	es_event_access_t access;
	es_event_chdir_t chdir;
	es_event_chroot_t chroot;
	es_event_clone_t clone;
	es_event_close_t close;
	es_event_copyfile_t copyfile;
	es_event_create_t create;
	es_event_cs_invalidated_t cs_invalidated;
	es_event_deleteextattr_t deleteextattr;
	es_event_dup_t dup;
	es_event_exchangedata_t exchangedata;
	es_event_exec_t exec;
	es_event_exit_t exit;
	es_event_file_provider_materialize_t file_provider_materialize;
	es_event_file_provider_update_t file_provider_update;
	es_event_fcntl_t fcntl;
	es_event_fork_t fork;
	es_event_fsgetpath_t fsgetpath;
	es_event_get_task_t get_task;
	es_event_get_task_read_t get_task_read;
	es_event_get_task_inspect_t get_task_inspect;
	es_event_get_task_name_t get_task_name;
	es_event_getattrlist_t getattrlist;
	es_event_getextattr_t getextattr;
	es_event_iokit_open_t iokit_open;
	es_event_kextload_t kextload;
	es_event_kextunload_t kextunload;
	es_event_link_t link;
	es_event_listextattr_t listextattr;
	es_event_lookup_t lookup;
	es_event_mmap_t mmap;
	es_event_mount_t mount;
	es_event_mprotect_t mprotect;
	es_event_open_t open;
	es_event_proc_check_t proc_check;
	es_event_proc_suspend_resume_t proc_suspend_resume;
	es_event_pty_close_t pty_close;
	es_event_pty_grant_t pty_grant;
	es_event_readdir_t readdir;
	es_event_readlink_t readlink;
	es_event_remote_thread_create_t remote_thread_create;
	es_event_remount_t remount;
	es_event_rename_t rename;
	es_event_searchfs_t searchfs;
	es_event_setacl_t setacl;
	es_event_setattrlist_t setattrlist;
	es_event_setextattr_t setextattr;
	es_event_setflags_t setflags;
	es_event_setmode_t setmode;
	es_event_setowner_t setowner;
	es_event_settime_t settime;
	es_event_setuid_t setuid;
	es_event_setgid_t setgid;
	es_event_seteuid_t seteuid;
	es_event_setegid_t setegid;
	es_event_setreuid_t setreuid;
	es_event_setregid_t setregid;
	es_event_signal_t signal;
	es_event_stat_t stat;
	es_event_trace_t trace;
	es_event_truncate_t truncate;
	es_event_uipc_bind_t uipc_bind;
	es_event_uipc_connect_t uipc_connect;
	es_event_unlink_t unlink;
	es_event_unmount_t unmount;
	es_event_utimes_t utimes;
	es_event_write_t write;

	es_event_authentication_t *_Nonnull authentication;
	es_event_xp_malware_detected_t *_Nonnull xp_malware_detected;
	es_event_xp_malware_remediated_t *_Nonnull xp_malware_remediated;
	es_event_lw_session_login_t *_Nonnull lw_session_login;
	es_event_lw_session_logout_t *_Nonnull lw_session_logout;
	es_event_lw_session_lock_t *_Nonnull lw_session_lock;
	es_event_lw_session_unlock_t *_Nonnull lw_session_unlock;
	es_event_screensharing_attach_t *_Nonnull screensharing_attach;
	es_event_screensharing_detach_t *_Nonnull screensharing_detach;
	es_event_openssh_login_t *_Nonnull openssh_login;
	es_event_openssh_logout_t *_Nonnull openssh_logout;
	es_event_login_login_t *_Nonnull login_login;
	es_event_login_logout_t *_Nonnull login_logout;
	es_event_btm_launch_item_add_t *_Nonnull btm_launch_item_add;
	es_event_btm_launch_item_remove_t *_Nonnull btm_launch_item_remove;
	es_event_profile_add_t *_Nonnull profile_add;
	es_event_profile_remove_t *_Nonnull profile_remove;
	es_event_su_t *_Nonnull su;
	es_event_authorization_petition_t *_Nonnull authorization_petition;
	es_event_authorization_judgement_t *_Nonnull authorization_judgement;
	es_event_sudo_t *_Nonnull sudo;
	es_event_od_group_add_t *_Nonnull od_group_add;
	es_event_od_group_remove_t *_Nonnull od_group_remove;
	es_event_od_group_set_t *_Nonnull od_group_set;
	es_event_od_modify_password_t *_Nonnull od_modify_password;
	es_event_od_disable_user_t *_Nonnull od_disable_user;
	es_event_od_enable_user_t *_Nonnull od_enable_user;
	es_event_od_attribute_value_add_t *_Nonnull od_attribute_value_add;
	es_event_od_attribute_value_remove_t *_Nonnull od_attribute_value_remove;
	es_event_od_attribute_set_t *_Nonnull od_attribute_set;
	es_event_od_create_user_t *_Nonnull od_create_user;
	es_event_od_create_group_t *_Nonnull od_create_group;
	es_event_od_delete_user_t *_Nonnull od_delete_user;
	es_event_od_delete_group_t *_Nonnull od_delete_group;
	es_event_xpc_connect_t *_Nonnull xpc_connect;
	es_event_gatekeeper_user_override_t *_Nonnull gatekeeper_user_override;
	es_event_tcc_modify_t *_Nonnull tcc_modify;
} es_events_t;

/* The outcome of a NOTIFY's operation. LINUX: always {ES_RESULT_TYPE_AUTH, ALLOW}. */
typedef struct {
	es_result_type_t result_type;
	union {
		es_auth_result_t auth;
		uint32_t flags;
		uint8_t reserved[32];
	} result;
} es_result_t;

/* One message.
 *
 * LINUX:
 *  version        UEXT_ES_MESSAGE_VERSION (10).
 *  time           wall clock (CLOCK_REALTIME) when the event was generated.
 *  mach_time      CLOCK_MONOTONIC in nanoseconds when the event was generated (the same
 *                 clock as clock_gettime(CLOCK_MONOTONIC) and bpf_ktime_get_ns(); like
 *                 mach_absolute_time it stops during suspend). Timebase 1/1.
 *  deadline       AUTH: CLOCK_MONOTONIC ns by which the client must answer. The Linux
 *                 kernel would wait forever, so uextd enforces it: at the deadline it
 *                 answers for the client (see es_set_deadline_miss_mode in es.h), so no
 *                 process stays blocked on a stalled, stopped or crashed client. The clock
 *                 starts when uextd receives the kernel event, not at delivery. NOTIFY: 0.
 *  seq_num, global_seq_num  as macOS: a gap means uextd dropped messages for this client
 *                 (counted in `uextctl status`). A dropped AUTH gets the miss-mode answer.
 *  action         AUTH: opaque id; NOTIFY: see es_result_t.
 *  thread         the thread that acted (its TID), NULL as on macOS.
 *  NOTIFY events reported at syscall entry (set*id, signal, mount, chmod/chown, ptrace...)
 *  describe an attempt that may then fail; those from fanotify and process lifecycle
 *  tracepoints (exec, fork, exit, create, unlink, rename, write, close) describe what
 *  happened. */
typedef struct {
	uint32_t version;
	struct timespec time;
	uint64_t mach_time;
	uint64_t deadline;
	es_process_t *_Nonnull process;
	uint64_t seq_num; /* message version >= 2 */
	es_action_type_t action_type;
	union {
		es_event_id_t auth;
		es_result_t notify;
	} action;
	es_event_type_t event_type;
	es_events_t event;
	es_thread_t *_Nullable thread; /* message version >= 4 */
	uint64_t global_seq_num;       /* message version >= 4 */
	uint64_t opaque[];	       /* not for clients */
} es_message_t;

/* Keep a message beyond the handler's return (to answer it from another thread, say); each
 * retain needs one release. Thread-safe. A message is valid in the handler without it. */
void es_retain_message(const es_message_t *_Nonnull msg);
void es_release_message(const es_message_t *_Nonnull msg);

/* Deprecated by Apple in 11.0; thin aliases of retain/release. The returned pointer is the
 * same message: writing to it is undefined (on macOS it crashes). */
static inline es_message_t *_Nullable es_copy_message(const es_message_t *_Nonnull msg)
{
	es_retain_message(msg);
	return (es_message_t *)(uintptr_t)msg;
}
static inline void es_free_message(es_message_t *_Nonnull msg)
{
	es_release_message(msg);
}
/* Deprecated by Apple in 11.0. LINUX: returns sizeof(es_message_t), not the size of the
 * message's storage: never copy a message, retain it. */
static inline size_t es_message_size(const es_message_t *_Nonnull msg)
{
	(void)msg;
	return sizeof(es_message_t);
}

/* Arguments, environment and open descriptors of an exec event, stored after the message:
 * zero-copy, valid as long as the message. An index >= the count is undefined behaviour,
 * as on macOS. LINUX: see es_event_exec_t for what is captured. */
uint32_t es_exec_arg_count(const es_event_exec_t *_Nonnull event);
uint32_t es_exec_env_count(const es_event_exec_t *_Nonnull event);
uint32_t es_exec_fd_count(const es_event_exec_t *_Nonnull event);
es_string_token_t es_exec_arg(const es_event_exec_t *_Nonnull event, uint32_t index);
es_string_token_t es_exec_env(const es_event_exec_t *_Nonnull event, uint32_t index);
const es_fd_t *_Nonnull es_exec_fd(const es_event_exec_t *_Nonnull event, uint32_t index);

#if defined(__clang__)
#pragma clang diagnostic pop
#endif
#ifdef __cplusplus
}
#endif
#endif /* UEXT_ES_MESSAGE_H */
