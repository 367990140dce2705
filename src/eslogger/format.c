/* format.c owns how uext-eslogger spells a message: the JSON object (Apple's eslogger field
 * names, uext-only fields prefixed uext_), the one-line text form, the event name table and
 * the seq_num drop accounting. It does no I/O and keeps no state. */
#include "eslogger/format.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------
 * Event names: index = es_event_type_t. name is Apple's eslogger name (the lower-case
 * suffix), notify says whether eslogger accepts it. Generated from es_types.h.
 * ------------------------------------------------------------------------------------- */
struct event_name {
	const char *name;
	bool notify;
};

#define E(type, str, is_notify) [type] = { str, is_notify }
static const struct event_name event_names[ES_EVENT_TYPE_LAST] = {
	E(ES_EVENT_TYPE_AUTH_EXEC, "exec", false),
	E(ES_EVENT_TYPE_AUTH_OPEN, "open", false),
	E(ES_EVENT_TYPE_AUTH_KEXTLOAD, "kextload", false),
	E(ES_EVENT_TYPE_AUTH_MMAP, "mmap", false),
	E(ES_EVENT_TYPE_AUTH_MPROTECT, "mprotect", false),
	E(ES_EVENT_TYPE_AUTH_MOUNT, "mount", false),
	E(ES_EVENT_TYPE_AUTH_RENAME, "rename", false),
	E(ES_EVENT_TYPE_AUTH_SIGNAL, "signal", false),
	E(ES_EVENT_TYPE_AUTH_UNLINK, "unlink", false),
	E(ES_EVENT_TYPE_NOTIFY_EXEC, "exec", true),
	E(ES_EVENT_TYPE_NOTIFY_OPEN, "open", true),
	E(ES_EVENT_TYPE_NOTIFY_FORK, "fork", true),
	E(ES_EVENT_TYPE_NOTIFY_CLOSE, "close", true),
	E(ES_EVENT_TYPE_NOTIFY_CREATE, "create", true),
	E(ES_EVENT_TYPE_NOTIFY_EXCHANGEDATA, "exchangedata", true),
	E(ES_EVENT_TYPE_NOTIFY_EXIT, "exit", true),
	E(ES_EVENT_TYPE_NOTIFY_GET_TASK, "get_task", true),
	E(ES_EVENT_TYPE_NOTIFY_KEXTLOAD, "kextload", true),
	E(ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD, "kextunload", true),
	E(ES_EVENT_TYPE_NOTIFY_LINK, "link", true),
	E(ES_EVENT_TYPE_NOTIFY_MMAP, "mmap", true),
	E(ES_EVENT_TYPE_NOTIFY_MPROTECT, "mprotect", true),
	E(ES_EVENT_TYPE_NOTIFY_MOUNT, "mount", true),
	E(ES_EVENT_TYPE_NOTIFY_UNMOUNT, "unmount", true),
	E(ES_EVENT_TYPE_NOTIFY_IOKIT_OPEN, "iokit_open", true),
	E(ES_EVENT_TYPE_NOTIFY_RENAME, "rename", true),
	E(ES_EVENT_TYPE_NOTIFY_SETATTRLIST, "setattrlist", true),
	E(ES_EVENT_TYPE_NOTIFY_SETEXTATTR, "setextattr", true),
	E(ES_EVENT_TYPE_NOTIFY_SETFLAGS, "setflags", true),
	E(ES_EVENT_TYPE_NOTIFY_SETMODE, "setmode", true),
	E(ES_EVENT_TYPE_NOTIFY_SETOWNER, "setowner", true),
	E(ES_EVENT_TYPE_NOTIFY_SIGNAL, "signal", true),
	E(ES_EVENT_TYPE_NOTIFY_UNLINK, "unlink", true),
	E(ES_EVENT_TYPE_NOTIFY_WRITE, "write", true),
	E(ES_EVENT_TYPE_AUTH_FILE_PROVIDER_MATERIALIZE, "file_provider_materialize", false),
	E(ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_MATERIALIZE, "file_provider_materialize", true),
	E(ES_EVENT_TYPE_AUTH_FILE_PROVIDER_UPDATE, "file_provider_update", false),
	E(ES_EVENT_TYPE_NOTIFY_FILE_PROVIDER_UPDATE, "file_provider_update", true),
	E(ES_EVENT_TYPE_AUTH_READLINK, "readlink", false),
	E(ES_EVENT_TYPE_NOTIFY_READLINK, "readlink", true),
	E(ES_EVENT_TYPE_AUTH_TRUNCATE, "truncate", false),
	E(ES_EVENT_TYPE_NOTIFY_TRUNCATE, "truncate", true),
	E(ES_EVENT_TYPE_AUTH_LINK, "link", false),
	E(ES_EVENT_TYPE_NOTIFY_LOOKUP, "lookup", true),
	E(ES_EVENT_TYPE_AUTH_CREATE, "create", false),
	E(ES_EVENT_TYPE_AUTH_SETATTRLIST, "setattrlist", false),
	E(ES_EVENT_TYPE_AUTH_SETEXTATTR, "setextattr", false),
	E(ES_EVENT_TYPE_AUTH_SETFLAGS, "setflags", false),
	E(ES_EVENT_TYPE_AUTH_SETMODE, "setmode", false),
	E(ES_EVENT_TYPE_AUTH_SETOWNER, "setowner", false),
	E(ES_EVENT_TYPE_AUTH_CHDIR, "chdir", false),
	E(ES_EVENT_TYPE_NOTIFY_CHDIR, "chdir", true),
	E(ES_EVENT_TYPE_AUTH_GETATTRLIST, "getattrlist", false),
	E(ES_EVENT_TYPE_NOTIFY_GETATTRLIST, "getattrlist", true),
	E(ES_EVENT_TYPE_NOTIFY_STAT, "stat", true),
	E(ES_EVENT_TYPE_NOTIFY_ACCESS, "access", true),
	E(ES_EVENT_TYPE_AUTH_CHROOT, "chroot", false),
	E(ES_EVENT_TYPE_NOTIFY_CHROOT, "chroot", true),
	E(ES_EVENT_TYPE_AUTH_UTIMES, "utimes", false),
	E(ES_EVENT_TYPE_NOTIFY_UTIMES, "utimes", true),
	E(ES_EVENT_TYPE_AUTH_CLONE, "clone", false),
	E(ES_EVENT_TYPE_NOTIFY_CLONE, "clone", true),
	E(ES_EVENT_TYPE_NOTIFY_FCNTL, "fcntl", true),
	E(ES_EVENT_TYPE_AUTH_GETEXTATTR, "getextattr", false),
	E(ES_EVENT_TYPE_NOTIFY_GETEXTATTR, "getextattr", true),
	E(ES_EVENT_TYPE_AUTH_LISTEXTATTR, "listextattr", false),
	E(ES_EVENT_TYPE_NOTIFY_LISTEXTATTR, "listextattr", true),
	E(ES_EVENT_TYPE_AUTH_READDIR, "readdir", false),
	E(ES_EVENT_TYPE_NOTIFY_READDIR, "readdir", true),
	E(ES_EVENT_TYPE_AUTH_DELETEEXTATTR, "deleteextattr", false),
	E(ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR, "deleteextattr", true),
	E(ES_EVENT_TYPE_AUTH_FSGETPATH, "fsgetpath", false),
	E(ES_EVENT_TYPE_NOTIFY_FSGETPATH, "fsgetpath", true),
	E(ES_EVENT_TYPE_NOTIFY_DUP, "dup", true),
	E(ES_EVENT_TYPE_AUTH_SETTIME, "settime", false),
	E(ES_EVENT_TYPE_NOTIFY_SETTIME, "settime", true),
	E(ES_EVENT_TYPE_NOTIFY_UIPC_BIND, "uipc_bind", true),
	E(ES_EVENT_TYPE_AUTH_UIPC_BIND, "uipc_bind", false),
	E(ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT, "uipc_connect", true),
	E(ES_EVENT_TYPE_AUTH_UIPC_CONNECT, "uipc_connect", false),
	E(ES_EVENT_TYPE_AUTH_EXCHANGEDATA, "exchangedata", false),
	E(ES_EVENT_TYPE_AUTH_SETACL, "setacl", false),
	E(ES_EVENT_TYPE_NOTIFY_SETACL, "setacl", true),
	E(ES_EVENT_TYPE_NOTIFY_PTY_GRANT, "pty_grant", true),
	E(ES_EVENT_TYPE_NOTIFY_PTY_CLOSE, "pty_close", true),
	E(ES_EVENT_TYPE_AUTH_PROC_CHECK, "proc_check", false),
	E(ES_EVENT_TYPE_NOTIFY_PROC_CHECK, "proc_check", true),
	E(ES_EVENT_TYPE_AUTH_GET_TASK, "get_task", false),
	E(ES_EVENT_TYPE_AUTH_SEARCHFS, "searchfs", false),
	E(ES_EVENT_TYPE_NOTIFY_SEARCHFS, "searchfs", true),
	E(ES_EVENT_TYPE_AUTH_FCNTL, "fcntl", false),
	E(ES_EVENT_TYPE_AUTH_IOKIT_OPEN, "iokit_open", false),
	E(ES_EVENT_TYPE_AUTH_PROC_SUSPEND_RESUME, "proc_suspend_resume", false),
	E(ES_EVENT_TYPE_NOTIFY_PROC_SUSPEND_RESUME, "proc_suspend_resume", true),
	E(ES_EVENT_TYPE_NOTIFY_CS_INVALIDATED, "cs_invalidated", true),
	E(ES_EVENT_TYPE_NOTIFY_GET_TASK_NAME, "get_task_name", true),
	E(ES_EVENT_TYPE_NOTIFY_TRACE, "trace", true),
	E(ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE, "remote_thread_create", true),
	E(ES_EVENT_TYPE_AUTH_REMOUNT, "remount", false),
	E(ES_EVENT_TYPE_NOTIFY_REMOUNT, "remount", true),
	E(ES_EVENT_TYPE_AUTH_GET_TASK_READ, "get_task_read", false),
	E(ES_EVENT_TYPE_NOTIFY_GET_TASK_READ, "get_task_read", true),
	E(ES_EVENT_TYPE_NOTIFY_GET_TASK_INSPECT, "get_task_inspect", true),
	E(ES_EVENT_TYPE_NOTIFY_SETUID, "setuid", true),
	E(ES_EVENT_TYPE_NOTIFY_SETGID, "setgid", true),
	E(ES_EVENT_TYPE_NOTIFY_SETEUID, "seteuid", true),
	E(ES_EVENT_TYPE_NOTIFY_SETEGID, "setegid", true),
	E(ES_EVENT_TYPE_NOTIFY_SETREUID, "setreuid", true),
	E(ES_EVENT_TYPE_NOTIFY_SETREGID, "setregid", true),
	E(ES_EVENT_TYPE_AUTH_COPYFILE, "copyfile", false),
	E(ES_EVENT_TYPE_NOTIFY_COPYFILE, "copyfile", true),
	E(ES_EVENT_TYPE_NOTIFY_AUTHENTICATION, "authentication", true),
	E(ES_EVENT_TYPE_NOTIFY_XP_MALWARE_DETECTED, "xp_malware_detected", true),
	E(ES_EVENT_TYPE_NOTIFY_XP_MALWARE_REMEDIATED, "xp_malware_remediated", true),
	E(ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGIN, "lw_session_login", true),
	E(ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOGOUT, "lw_session_logout", true),
	E(ES_EVENT_TYPE_NOTIFY_LW_SESSION_LOCK, "lw_session_lock", true),
	E(ES_EVENT_TYPE_NOTIFY_LW_SESSION_UNLOCK, "lw_session_unlock", true),
	E(ES_EVENT_TYPE_NOTIFY_SCREENSHARING_ATTACH, "screensharing_attach", true),
	E(ES_EVENT_TYPE_NOTIFY_SCREENSHARING_DETACH, "screensharing_detach", true),
	E(ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGIN, "openssh_login", true),
	E(ES_EVENT_TYPE_NOTIFY_OPENSSH_LOGOUT, "openssh_logout", true),
	E(ES_EVENT_TYPE_NOTIFY_LOGIN_LOGIN, "login_login", true),
	E(ES_EVENT_TYPE_NOTIFY_LOGIN_LOGOUT, "login_logout", true),
	E(ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_ADD, "btm_launch_item_add", true),
	E(ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_REMOVE, "btm_launch_item_remove", true),
	E(ES_EVENT_TYPE_NOTIFY_PROFILE_ADD, "profile_add", true),
	E(ES_EVENT_TYPE_NOTIFY_PROFILE_REMOVE, "profile_remove", true),
	E(ES_EVENT_TYPE_NOTIFY_SU, "su", true),
	E(ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_PETITION, "authorization_petition", true),
	E(ES_EVENT_TYPE_NOTIFY_AUTHORIZATION_JUDGEMENT, "authorization_judgement", true),
	E(ES_EVENT_TYPE_NOTIFY_SUDO, "sudo", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_GROUP_ADD, "od_group_add", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_GROUP_REMOVE, "od_group_remove", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_GROUP_SET, "od_group_set", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_MODIFY_PASSWORD, "od_modify_password", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_DISABLE_USER, "od_disable_user", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_ENABLE_USER, "od_enable_user", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_ADD, "od_attribute_value_add", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_VALUE_REMOVE, "od_attribute_value_remove", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_ATTRIBUTE_SET, "od_attribute_set", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_CREATE_USER, "od_create_user", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_CREATE_GROUP, "od_create_group", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_DELETE_USER, "od_delete_user", true),
	E(ES_EVENT_TYPE_NOTIFY_OD_DELETE_GROUP, "od_delete_group", true),
	E(ES_EVENT_TYPE_NOTIFY_XPC_CONNECT, "xpc_connect", true),
	E(ES_EVENT_TYPE_NOTIFY_GATEKEEPER_USER_OVERRIDE, "gatekeeper_user_override", true),
	E(ES_EVENT_TYPE_NOTIFY_TCC_MODIFY, "tcc_modify", true),
	E(ES_EVENT_TYPE_RESERVED_0, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_1, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_2, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_3, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_4, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_5, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_6, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_7, NULL, false),
	E(ES_EVENT_TYPE_RESERVED_8, NULL, false),
	E(ES_EVENT_TYPE_AUTH_XPC_CONNECT, "xpc_connect", false),
	E(ES_EVENT_TYPE_AUTH_BOOTSTRAP_CHECK_IN, "bootstrap_check_in", false),
	E(ES_EVENT_TYPE_NOTIFY_BOOTSTRAP_CHECK_IN, "bootstrap_check_in", true),
	E(ES_EVENT_TYPE_AUTH_BOOTSTRAP_LOOK_UP, "bootstrap_look_up", false),
	E(ES_EVENT_TYPE_NOTIFY_BOOTSTRAP_LOOK_UP, "bootstrap_look_up", true),
};
#undef E

const char *eslog_event_name(es_event_type_t type)
{
	if ((unsigned)type >= ES_EVENT_TYPE_LAST || !event_names[type].notify)
		return NULL;
	return event_names[type].name;
}

const char *eslog_event_member(es_event_type_t type)
{
	if ((unsigned)type >= ES_EVENT_TYPE_LAST)
		return NULL;
	return event_names[type].name;
}

int eslog_event_from_name(const char *name, es_event_type_t *ret_type)
{
	if (!name)
		return -EINVAL;
	for (unsigned t = 0; t < ES_EVENT_TYPE_LAST; t++)
		if (event_names[t].notify && strcmp(event_names[t].name, name) == 0) {
			*ret_type = (es_event_type_t)t;
			return 0;
		}
	return -ENOENT;
}

/* ---------------------------------------------------------------------------------------
 * JSON building blocks. put()/push() thread one failure through a chain of calls: once an
 * allocation fails the object is freed and every later put() on it only frees its value,
 * so a builder checks for NULL once, at the end.
 * ------------------------------------------------------------------------------------- */

static json_t *put(json_t *o, const char *key, json_t *v)
{
	if (!o) {
		json_decref(v);
		return NULL;
	}
	/* json_object_set_new takes v even when it fails */
	if (!v || json_object_set_new(o, key, v) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *push(json_t *a, json_t *v)
{
	if (!a) {
		json_decref(v);
		return NULL;
	}
	if (!v || json_array_append_new(a, v) < 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *jint(int64_t v)
{
	return json_integer((json_int_t)v);
}

/* jansson's integers are signed 64-bit: larger values (none expected) keep their sign
 * as a real rather than wrap. */
static json_t *juint(uint64_t v)
{
	if (v > (uint64_t)INT64_MAX)
		return json_real((double)v);
	return json_integer((json_int_t)v);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. Strict as
 * jansson: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of n bytes. Linux paths and arguments are bytes, JSON strings are UTF-8:
 * each byte that does not start a valid sequence becomes U+FFFD. */
static json_t *jstrn(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	char *buf = malloc(n * 3 + 1);
	if (!buf)
		return NULL;
	size_t o = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (l) {
			memcpy(buf + o, u + i, l);
			o += l;
			i += l;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

/* An es_string_token_t: null when absent (data NULL), as eslogger. */
static json_t *jtok(es_string_token_t t)
{
	if (!t.data)
		return json_null();
	return jstrn(t.data, t.length);
}

/* A NUL-terminated char array of at most cap bytes (es_statfs_t names). */
static json_t *jarr(const char *s, size_t cap)
{
	return jstrn(s, strnlen(s, cap));
}

/* RFC 3339 UTC with microseconds: "2026-11-28T08:00:00.123456Z". */
static void fmt_time(char out[40], int64_t sec, long nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;

	if (nsec < 0 || nsec >= 1000000000L)
		nsec = 0;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, 40, "%" PRId64 ".%06ldZ", sec, nsec / 1000);
		return;
	}
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		 tm.tm_hour, tm.tm_min, tm.tm_sec, nsec / 1000);
}

static json_t *jtime(struct timespec ts)
{
	char buf[40];

	fmt_time(buf, (int64_t)ts.tv_sec, ts.tv_nsec);
	return json_string(buf);
}

static json_t *jtimeval(struct timeval tv)
{
	char buf[40];

	fmt_time(buf, (int64_t)tv.tv_sec, (long)tv.tv_usec * 1000);
	return json_string(buf);
}

/* utimensat's special values are not times. */
static json_t *jutime(struct timespec ts)
{
	if (ts.tv_nsec == UTIME_NOW)
		return json_string("UTIME_NOW");
	if (ts.tv_nsec == UTIME_OMIT)
		return json_string("UTIME_OMIT");
	return jtime(ts);
}

static json_t *jhex(const uint8_t *p, size_t n)
{
	char buf[2 * 32 + 1];
	static const char digits[] = "0123456789ABCDEF";

	if (n > 32)
		n = 32;
	for (size_t i = 0; i < n; i++) {
		buf[2 * i] = digits[p[i] >> 4];
		buf[2 * i + 1] = digits[p[i] & 0xf];
	}
	buf[2 * n] = '\0';
	return json_string(buf);
}

/* Linux's struct stat under Darwin's names (st_*timespec). Darwin's st_flags, st_gen and
 * st_birthtimespec have no Linux value and are left out. */
static json_t *jstat(const struct stat *st)
{
	json_t *o = json_object();
	o = put(o, "st_dev", juint((uint64_t)st->st_dev));
	o = put(o, "st_ino", juint((uint64_t)st->st_ino));
	o = put(o, "st_mode", juint((uint64_t)st->st_mode));
	o = put(o, "st_nlink", juint((uint64_t)st->st_nlink));
	o = put(o, "st_uid", juint((uint64_t)st->st_uid));
	o = put(o, "st_gid", juint((uint64_t)st->st_gid));
	o = put(o, "st_rdev", juint((uint64_t)st->st_rdev));
	o = put(o, "st_size", jint((int64_t)st->st_size));
	o = put(o, "st_blocks", jint((int64_t)st->st_blocks));
	o = put(o, "st_blksize", jint((int64_t)st->st_blksize));
	o = put(o, "st_atimespec", jtime(st->st_atim));
	o = put(o, "st_mtimespec", jtime(st->st_mtim));
	o = put(o, "st_ctimespec", jtime(st->st_ctim));
	return o;
}

static json_t *jfile(const es_file_t *f)
{
	if (!f)
		return json_null();
	json_t *o = json_object();
	o = put(o, "path", jtok(f->path));
	o = put(o, "path_truncated", json_boolean(f->path_truncated));
	o = put(o, "stat", jstat(&f->stat));
	return o;
}

/* Apple's eslogger prints the token as an object of libbsm's names. */
static json_t *jaudit(const audit_token_t *t)
{
	json_t *o = json_object();
	o = put(o, "asid", juint(t->val[UEXT_AUDIT_TOKEN_ASID]));
	o = put(o, "pidversion", juint(t->val[UEXT_AUDIT_TOKEN_PIDVERSION]));
	o = put(o, "ruid", juint(t->val[UEXT_AUDIT_TOKEN_RUID]));
	o = put(o, "euid", juint(t->val[UEXT_AUDIT_TOKEN_EUID]));
	o = put(o, "rgid", juint(t->val[UEXT_AUDIT_TOKEN_RGID]));
	o = put(o, "auid", juint(t->val[UEXT_AUDIT_TOKEN_AUID]));
	o = put(o, "egid", juint(t->val[UEXT_AUDIT_TOKEN_EGID]));
	o = put(o, "pid", jint(audit_token_to_pid(*t)));
	return o;
}

static json_t *jprocess(const es_process_t *p, uint32_t version)
{
	if (!p)
		return json_null();
	json_t *o = json_object();
	o = put(o, "audit_token", jaudit(&p->audit_token));
	o = put(o, "ppid", jint(p->ppid));
	o = put(o, "original_ppid", jint(p->original_ppid));
	o = put(o, "group_id", jint(p->group_id));
	o = put(o, "session_id", jint(p->session_id));
	o = put(o, "codesigning_flags", juint(p->codesigning_flags));
	o = put(o, "is_platform_binary", json_boolean(p->is_platform_binary));
	o = put(o, "is_es_client", json_boolean(p->is_es_client));
	o = put(o, "cdhash", jhex(p->cdhash, sizeof(p->cdhash)));
	o = put(o, "signing_id", jtok(p->signing_id));
	o = put(o, "team_id", jtok(p->team_id));
	o = put(o, "executable", jfile(p->executable));
	if (version >= 2)
		o = put(o, "tty", jfile(p->tty));
	if (version >= 3)
		o = put(o, "start_time", jtimeval(p->start_time));
	if (version >= 4) {
		o = put(o, "responsible_audit_token", jaudit(&p->responsible_audit_token));
		o = put(o, "parent_audit_token", jaudit(&p->parent_audit_token));
	}
	if (version >= 10)
		o = put(o, "cs_validation_category", jint(p->cs_validation_category));
	o = put(o, "uext_executable_sha256",
		p->uext_executable_hashed ? jhex(p->uext_executable_sha256, sizeof(p->uext_executable_sha256))
					  : json_null());
	return o;
}

/* Darwin's struct statfs names (es_statfs_t); f_fsid as its two ints. */
static json_t *jstatfs(const es_statfs_t *s)
{
	if (!s)
		return json_null();
	json_t *o = json_object();
	o = put(o, "f_bsize", juint(s->f_bsize));
	o = put(o, "f_iosize", jint(s->f_iosize));
	o = put(o, "f_blocks", juint(s->f_blocks));
	o = put(o, "f_bfree", juint(s->f_bfree));
	o = put(o, "f_bavail", juint(s->f_bavail));
	o = put(o, "f_files", juint(s->f_files));
	o = put(o, "f_ffree", juint(s->f_ffree));
	json_t *fsid = push(push(json_array(), jint(s->f_fsid.val[0])), jint(s->f_fsid.val[1]));
	o = put(o, "f_fsid", fsid);
	o = put(o, "f_owner", juint(s->f_owner));
	o = put(o, "f_type", juint(s->f_type));
	o = put(o, "f_flags", juint(s->f_flags));
	o = put(o, "f_fssubtype", juint(s->f_fssubtype));
	o = put(o, "f_fstypename", jarr(s->f_fstypename, sizeof(s->f_fstypename)));
	o = put(o, "f_mntonname", jarr(s->f_mntonname, sizeof(s->f_mntonname)));
	o = put(o, "f_mntfromname", jarr(s->f_mntfromname, sizeof(s->f_mntfromname)));
	o = put(o, "f_flags_ext", juint(s->f_flags_ext));
	return o;
}

static json_t *jexec(const es_event_exec_t *e, uint32_t version)
{
	json_t *o = json_object();
	o = put(o, "target", jprocess(e->target, version));
	if (version >= 7)
		o = put(o, "dyld_exec_path", jtok(e->dyld_exec_path));
	if (version >= 2)
		o = put(o, "script", jfile(e->script));
	if (version >= 3)
		o = put(o, "cwd", jfile(e->cwd));
	if (version >= 4)
		o = put(o, "last_fd", jint(e->last_fd));
	if (version >= 6) {
		o = put(o, "image_cputype", jint(e->image_cputype));
		o = put(o, "image_cpusubtype", jint(e->image_cpusubtype));
	}

	json_t *args = json_array();
	uint32_t n = es_exec_arg_count(e);
	for (uint32_t i = 0; i < n; i++)
		args = push(args, jtok(es_exec_arg(e, i)));
	o = put(o, "args", args);

	json_t *env = json_array();
	n = es_exec_env_count(e);
	for (uint32_t i = 0; i < n; i++)
		env = push(env, jtok(es_exec_env(e, i)));
	o = put(o, "env", env);

	json_t *fds = json_array();
	n = es_exec_fd_count(e);
	for (uint32_t i = 0; i < n; i++) {
		const es_fd_t *fd = es_exec_fd(e, i);
		json_t *f = json_object();
		f = put(f, "fd", jint(fd->fd));
		f = put(f, "fdtype", juint(fd->fdtype));
		if (fd->fdtype == PROX_FDTYPE_PIPE)
			f = put(f, "pipe", put(json_object(), "pipe_id", juint(fd->pipe.pipe_id)));
		fds = push(fds, f);
	}
	o = put(o, "fds", fds);
	return o;
}

/* destination of create and rename: {"existing_file": file} or {"new_path": {...}}. */
static json_t *jnew_path(const es_file_t *dir, es_string_token_t filename, const mode_t *mode)
{
	json_t *np = json_object();
	np = put(np, "dir", jfile(dir));
	np = put(np, "filename", jtok(filename));
	if (mode)
		np = put(np, "mode", juint(*mode));
	return put(json_object(), "new_path", np);
}

static json_t *jcreate(const es_event_create_t *c, uint32_t version)
{
	json_t *o = json_object();
	json_t *d;

	o = put(o, "destination_type", jint(c->destination_type));
	if (c->destination_type == ES_DESTINATION_TYPE_EXISTING_FILE)
		d = put(json_object(), "existing_file", jfile(c->destination.existing_file));
	else
		d = jnew_path(c->destination.new_path.dir, c->destination.new_path.filename,
			      &c->destination.new_path.mode);
	o = put(o, "destination", d);
	if (version >= 2)
		o = put(o, "acl", json_null()); /* LINUX: never given */
	return o;
}

static json_t *jrename(const es_event_rename_t *r)
{
	json_t *o = json_object();
	json_t *d;

	o = put(o, "source", jfile(r->source));
	o = put(o, "destination_type", jint(r->destination_type));
	if (r->destination_type == ES_DESTINATION_TYPE_EXISTING_FILE)
		d = put(json_object(), "existing_file", jfile(r->destination.existing_file));
	else
		d = jnew_path(r->destination.new_path.dir, r->destination.new_path.filename, NULL);
	return put(o, "destination", d);
}

/* {key: file} — the many events whose only field is one file. */
static json_t *jone_file(const char *key, const es_file_t *f)
{
	return put(json_object(), key, jfile(f));
}

/* The event's own object (the value under its member name). */
static json_t *jevent(const es_message_t *m)
{
	const es_events_t *ev = &m->event;
	uint32_t v = m->version;
	json_t *o;

	switch (m->event_type) {
	case ES_EVENT_TYPE_AUTH_EXEC:
	case ES_EVENT_TYPE_NOTIFY_EXEC:
		return jexec(&ev->exec, v);
	case ES_EVENT_TYPE_AUTH_OPEN:
	case ES_EVENT_TYPE_NOTIFY_OPEN:
		o = put(json_object(), "fflag", jint(ev->open.fflag));
		o = put(o, "file", jfile(ev->open.file));
		return put(o, "uext_fflag_unknown", json_boolean(ev->open.uext_fflag_unknown));
	case ES_EVENT_TYPE_NOTIFY_FORK:
		return put(json_object(), "child", jprocess(ev->fork.child, v));
	case ES_EVENT_TYPE_NOTIFY_EXIT:
		return put(json_object(), "stat", jint(ev->exit.stat));
	case ES_EVENT_TYPE_NOTIFY_CLOSE:
		o = put(json_object(), "modified", json_boolean(ev->close.modified));
		o = put(o, "target", jfile(ev->close.target));
		if (v >= 6)
			o = put(o, "was_mapped_writable", json_boolean(ev->close.was_mapped_writable));
		return o;
	case ES_EVENT_TYPE_AUTH_CREATE:
	case ES_EVENT_TYPE_NOTIFY_CREATE:
		return jcreate(&ev->create, v);
	case ES_EVENT_TYPE_AUTH_RENAME:
	case ES_EVENT_TYPE_NOTIFY_RENAME:
		return jrename(&ev->rename);
	case ES_EVENT_TYPE_AUTH_UNLINK:
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		o = jone_file("target", ev->unlink.target);
		return put(o, "parent_dir", jfile(ev->unlink.parent_dir));
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		return jone_file("target", ev->write.target);
	case ES_EVENT_TYPE_AUTH_TRUNCATE:
	case ES_EVENT_TYPE_NOTIFY_TRUNCATE:
		return jone_file("target", ev->truncate.target);
	case ES_EVENT_TYPE_AUTH_CHDIR:
	case ES_EVENT_TYPE_NOTIFY_CHDIR:
		return jone_file("target", ev->chdir.target);
	case ES_EVENT_TYPE_AUTH_CHROOT:
	case ES_EVENT_TYPE_NOTIFY_CHROOT:
		return jone_file("target", ev->chroot.target);
	case ES_EVENT_TYPE_AUTH_READDIR:
	case ES_EVENT_TYPE_NOTIFY_READDIR:
		return jone_file("target", ev->readdir.target);
	case ES_EVENT_TYPE_AUTH_SETMODE:
	case ES_EVENT_TYPE_NOTIFY_SETMODE:
		o = put(json_object(), "mode", juint(ev->setmode.mode));
		return put(o, "target", jfile(ev->setmode.target));
	case ES_EVENT_TYPE_AUTH_SETOWNER:
	case ES_EVENT_TYPE_NOTIFY_SETOWNER:
		o = put(json_object(), "uid", juint(ev->setowner.uid));
		o = put(o, "gid", juint(ev->setowner.gid));
		return put(o, "target", jfile(ev->setowner.target));
	case ES_EVENT_TYPE_NOTIFY_SETUID:
		return put(json_object(), "uid", juint(ev->setuid.uid));
	case ES_EVENT_TYPE_NOTIFY_SETGID:
		return put(json_object(), "gid", juint(ev->setgid.gid));
	case ES_EVENT_TYPE_NOTIFY_SETEUID:
		return put(json_object(), "euid", juint(ev->seteuid.euid));
	case ES_EVENT_TYPE_NOTIFY_SETEGID:
		return put(json_object(), "egid", juint(ev->setegid.egid));
	case ES_EVENT_TYPE_NOTIFY_SETREUID:
		o = put(json_object(), "ruid", juint(ev->setreuid.ruid));
		return put(o, "euid", juint(ev->setreuid.euid));
	case ES_EVENT_TYPE_NOTIFY_SETREGID:
		o = put(json_object(), "rgid", juint(ev->setregid.rgid));
		return put(o, "egid", juint(ev->setregid.egid));
	case ES_EVENT_TYPE_AUTH_SIGNAL:
	case ES_EVENT_TYPE_NOTIFY_SIGNAL:
		o = put(json_object(), "sig", jint(ev->signal.sig));
		o = put(o, "target", jprocess(ev->signal.target, v));
		if (v >= 9)
			o = put(o, "instigator", jprocess(ev->signal.instigator, v));
		return o;
	case ES_EVENT_TYPE_AUTH_MOUNT:
	case ES_EVENT_TYPE_NOTIFY_MOUNT:
		o = put(json_object(), "statfs", jstatfs(ev->mount.statfs));
		if (v >= 8)
			o = put(o, "disposition", jint(ev->mount.disposition));
		return o;
	case ES_EVENT_TYPE_NOTIFY_UNMOUNT:
		return put(json_object(), "statfs", jstatfs(ev->unmount.statfs));
	case ES_EVENT_TYPE_AUTH_REMOUNT:
	case ES_EVENT_TYPE_NOTIFY_REMOUNT:
		o = put(json_object(), "statfs", jstatfs(ev->remount.statfs));
		if (v >= 8) {
			o = put(o, "remount_flags", juint(ev->remount.remount_flags));
			o = put(o, "disposition", jint(ev->remount.disposition));
		}
		return o;
	case ES_EVENT_TYPE_NOTIFY_TRACE:
		return put(json_object(), "target", jprocess(ev->trace.target, v));
	case ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE: {
		const es_thread_state_t *ts = ev->remote_thread_create.thread_state;
		/* Apple's eslogger leaves out thread_state.state (raw register bytes) too */
		json_t *state = ts ? put(json_object(), "flavor", jint(ts->flavor)) : json_null();
		o = put(json_object(), "target", jprocess(ev->remote_thread_create.target, v));
		return put(o, "thread_state", state);
	}
	case ES_EVENT_TYPE_AUTH_GET_TASK:
	case ES_EVENT_TYPE_NOTIFY_GET_TASK:
		o = put(json_object(), "target", jprocess(ev->get_task.target, v));
		if (v >= 5)
			o = put(o, "type", jint(ev->get_task.type));
		return o;
	case ES_EVENT_TYPE_AUTH_GET_TASK_READ:
	case ES_EVENT_TYPE_NOTIFY_GET_TASK_READ:
		o = put(json_object(), "target", jprocess(ev->get_task_read.target, v));
		if (v >= 5)
			o = put(o, "type", jint(ev->get_task_read.type));
		return o;
	case ES_EVENT_TYPE_AUTH_KEXTLOAD:
	case ES_EVENT_TYPE_NOTIFY_KEXTLOAD:
		return put(json_object(), "identifier", jtok(ev->kextload.identifier));
	case ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD:
		return put(json_object(), "identifier", jtok(ev->kextunload.identifier));
	case ES_EVENT_TYPE_AUTH_LINK:
	case ES_EVENT_TYPE_NOTIFY_LINK:
		o = jone_file("source", ev->link.source);
		o = put(o, "target_dir", jfile(ev->link.target_dir));
		return put(o, "target_filename", jtok(ev->link.target_filename));
	case ES_EVENT_TYPE_AUTH_MMAP:
	case ES_EVENT_TYPE_NOTIFY_MMAP:
		o = put(json_object(), "protection", jint(ev->mmap.protection));
		o = put(o, "max_protection", jint(ev->mmap.max_protection));
		o = put(o, "flags", jint(ev->mmap.flags));
		o = put(o, "file_pos", juint(ev->mmap.file_pos));
		return put(o, "source", jfile(ev->mmap.source));
	case ES_EVENT_TYPE_AUTH_MPROTECT:
	case ES_EVENT_TYPE_NOTIFY_MPROTECT:
		o = put(json_object(), "protection", jint(ev->mprotect.protection));
		o = put(o, "address", juint(ev->mprotect.address));
		return put(o, "size", juint(ev->mprotect.size));
	case ES_EVENT_TYPE_AUTH_UTIMES:
	case ES_EVENT_TYPE_NOTIFY_UTIMES:
		o = jone_file("target", ev->utimes.target);
		o = put(o, "atime", jutime(ev->utimes.atime));
		return put(o, "mtime", jutime(ev->utimes.mtime));
	case ES_EVENT_TYPE_AUTH_SETEXTATTR:
	case ES_EVENT_TYPE_NOTIFY_SETEXTATTR:
		o = jone_file("target", ev->setextattr.target);
		return put(o, "extattr", jtok(ev->setextattr.extattr));
	case ES_EVENT_TYPE_AUTH_DELETEEXTATTR:
	case ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR:
		o = jone_file("target", ev->deleteextattr.target);
		return put(o, "extattr", jtok(ev->deleteextattr.extattr));
	case ES_EVENT_TYPE_AUTH_SETACL:
	case ES_EVENT_TYPE_NOTIFY_SETACL:
		o = jone_file("target", ev->setacl.target);
		o = put(o, "set_or_clear", jint(ev->setacl.set_or_clear));
		return put(o, "acl", json_null()); /* LINUX: never given */
	case ES_EVENT_TYPE_AUTH_UIPC_BIND:
	case ES_EVENT_TYPE_NOTIFY_UIPC_BIND:
		o = jone_file("dir", ev->uipc_bind.dir);
		o = put(o, "filename", jtok(ev->uipc_bind.filename));
		return put(o, "mode", juint(ev->uipc_bind.mode));
	case ES_EVENT_TYPE_AUTH_UIPC_CONNECT:
	case ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT:
		o = jone_file("file", ev->uipc_connect.file);
		o = put(o, "domain", jint(ev->uipc_connect.domain));
		o = put(o, "type", jint(ev->uipc_connect.type));
		return put(o, "protocol", jint(ev->uipc_connect.protocol));
	default:
		/* an event uext never produces: its name with no details */
		return json_object();
	}
}

static json_t *jaction(const es_message_t *m)
{
	if (m->action_type != ES_ACTION_TYPE_NOTIFY)
		return json_null(); /* eslogger never sees AUTH messages */
	const es_result_t *r = &m->action.notify;
	json_t *res = r->result_type == ES_RESULT_TYPE_FLAGS ? put(json_object(), "flags", juint(r->result.flags))
							     : put(json_object(), "auth", jint(r->result.auth));
	json_t *o = put(json_object(), "result_type", jint(r->result_type));
	o = put(o, "result", res);
	return put(json_object(), "result", o);
}

json_t *eslog_message_json(const es_message_t *msg)
{
	uint32_t v = msg->version;
	const char *member = eslog_event_member(msg->event_type);
	json_t *o = json_object();

	o = put(o, "schema_version", jint(ESLOG_SCHEMA_VERSION));
	o = put(o, "version", juint(v));
	o = put(o, "time", jtime(msg->time));
	o = put(o, "mach_time", juint(msg->mach_time));
	o = put(o, "deadline", juint(msg->deadline));
	if (v >= 2)
		o = put(o, "seq_num", juint(msg->seq_num));
	if (v >= 4)
		o = put(o, "global_seq_num", juint(msg->global_seq_num));
	o = put(o, "event_type", jint(msg->event_type));
	o = put(o, "action_type", jint(msg->action_type));
	o = put(o, "action", jaction(msg));
	if (v >= 4)
		o = put(o, "thread", msg->thread ? put(json_object(), "thread_id", juint(msg->thread->thread_id))
						 : json_null());
	o = put(o, "process", jprocess(msg->process, v));
	o = put(o, "event", member ? put(json_object(), member, jevent(msg)) : json_object());
	return o;
}

/* ---------------------------------------------------------------------------------------
 * Text: an appender with snprintf's contract (counts what it could not store).
 * ------------------------------------------------------------------------------------- */
struct out {
	char *buf;
	size_t cap;
	size_t need; /* bytes the whole line needs, without the NUL */
};

static void out_raw(struct out *o, const char *s, size_t n)
{
	if (o->need < o->cap) {
		size_t room = o->cap - 1 - o->need;
		memcpy(o->buf + o->need, s, n < room ? n : room);
	}
	o->need += n;
}

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* every format used here fits tmp; a longer one is cut, never overrun */
	out_raw(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Bytes from a process or the file system, made safe for a terminal: control bytes (and
 * the quote, inside quotes) as \xNN; UTF-8 passes through. */
static void out_bytes(struct out *o, const char *s, size_t n, bool quoted)
{
	if (quoted)
		out_raw(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || (quoted && (c == '"' || c == '\\')))
			out_printf(o, "\\x%02x", c);
		else
			out_raw(o, (const char *)&c, 1);
	}
	if (quoted)
		out_raw(o, "\"", 1);
}

static void out_tok(struct out *o, es_string_token_t t)
{
	if (!t.data)
		out_raw(o, "(null)", 6);
	else
		out_bytes(o, t.data, t.length, false);
}

static void out_file(struct out *o, const es_file_t *f)
{
	if (!f)
		out_raw(o, "(null)", 6);
	else
		out_tok(o, f->path);
}

static void out_proc(struct out *o, const char *label, const es_process_t *p)
{
	if (!p) {
		out_printf(o, " %s=(null)", label);
		return;
	}
	out_printf(o, " %s=%d ", label, audit_token_to_pid(p->audit_token));
	out_file(o, p->executable);
}

static void out_statfs(struct out *o, const es_statfs_t *s)
{
	if (!s) {
		out_raw(o, " (null)", 7);
		return;
	}
	out_raw(o, " ", 1);
	out_bytes(o, s->f_mntfromname, strnlen(s->f_mntfromname, sizeof(s->f_mntfromname)), false);
	out_raw(o, " on ", 4);
	out_bytes(o, s->f_mntonname, strnlen(s->f_mntonname, sizeof(s->f_mntonname)), false);
	out_raw(o, " type ", 6);
	out_bytes(o, s->f_fstypename, strnlen(s->f_fstypename, sizeof(s->f_fstypename)), false);
}

static void out_path_arg(struct out *o, const es_file_t *f)
{
	out_raw(o, " ", 1);
	out_file(o, f);
}

/* The event's details, after "TIME NAME pid= ppid= uid=". */
static void out_event(struct out *o, const es_message_t *m)
{
	const es_events_t *ev = &m->event;

	switch (m->event_type) {
	case ES_EVENT_TYPE_AUTH_EXEC:
	case ES_EVENT_TYPE_NOTIFY_EXEC: {
		const es_event_exec_t *e = &ev->exec;
		out_path_arg(o, m->process ? m->process->executable : NULL);
		out_raw(o, " ->", 3);
		out_path_arg(o, e->target ? e->target->executable : NULL);
		out_raw(o, " [", 2);
		uint32_t n = es_exec_arg_count(e);
		for (uint32_t i = 0; i < n; i++) {
			es_string_token_t a = es_exec_arg(e, i);
			if (i)
				out_raw(o, ",", 1);
			out_bytes(o, a.data ? a.data : "", a.data ? a.length : 0, true);
		}
		out_raw(o, "]", 1);
		return;
	}
	case ES_EVENT_TYPE_AUTH_OPEN:
	case ES_EVENT_TYPE_NOTIFY_OPEN:
		out_path_arg(o, ev->open.file);
		out_printf(o, " fflag=0x%x", (unsigned)ev->open.fflag);
		break;
	case ES_EVENT_TYPE_NOTIFY_FORK:
		out_proc(o, "child", ev->fork.child);
		break;
	case ES_EVENT_TYPE_NOTIFY_EXIT:
		out_printf(o, " stat=%d", ev->exit.stat);
		break;
	case ES_EVENT_TYPE_NOTIFY_CLOSE:
		out_path_arg(o, ev->close.target);
		out_printf(o, " modified=%d", ev->close.modified);
		break;
	case ES_EVENT_TYPE_AUTH_CREATE:
	case ES_EVENT_TYPE_NOTIFY_CREATE:
		if (ev->create.destination_type == ES_DESTINATION_TYPE_EXISTING_FILE) {
			out_path_arg(o, ev->create.destination.existing_file);
		} else {
			out_path_arg(o, ev->create.destination.new_path.dir);
			out_raw(o, "/", 1);
			out_tok(o, ev->create.destination.new_path.filename);
			out_printf(o, " mode=0%o", (unsigned)ev->create.destination.new_path.mode);
		}
		break;
	case ES_EVENT_TYPE_AUTH_RENAME:
	case ES_EVENT_TYPE_NOTIFY_RENAME:
		out_path_arg(o, ev->rename.source);
		out_raw(o, " ->", 3);
		if (ev->rename.destination_type == ES_DESTINATION_TYPE_EXISTING_FILE) {
			out_path_arg(o, ev->rename.destination.existing_file);
		} else {
			out_path_arg(o, ev->rename.destination.new_path.dir);
			out_raw(o, "/", 1);
			out_tok(o, ev->rename.destination.new_path.filename);
		}
		break;
	case ES_EVENT_TYPE_AUTH_UNLINK:
	case ES_EVENT_TYPE_NOTIFY_UNLINK:
		out_path_arg(o, ev->unlink.target);
		break;
	case ES_EVENT_TYPE_NOTIFY_WRITE:
		out_path_arg(o, ev->write.target);
		break;
	case ES_EVENT_TYPE_AUTH_TRUNCATE:
	case ES_EVENT_TYPE_NOTIFY_TRUNCATE:
		out_path_arg(o, ev->truncate.target);
		break;
	case ES_EVENT_TYPE_AUTH_CHDIR:
	case ES_EVENT_TYPE_NOTIFY_CHDIR:
		out_path_arg(o, ev->chdir.target);
		break;
	case ES_EVENT_TYPE_AUTH_CHROOT:
	case ES_EVENT_TYPE_NOTIFY_CHROOT:
		out_path_arg(o, ev->chroot.target);
		break;
	case ES_EVENT_TYPE_AUTH_READDIR:
	case ES_EVENT_TYPE_NOTIFY_READDIR:
		out_path_arg(o, ev->readdir.target);
		break;
	case ES_EVENT_TYPE_AUTH_SETMODE:
	case ES_EVENT_TYPE_NOTIFY_SETMODE:
		out_path_arg(o, ev->setmode.target);
		out_printf(o, " mode=0%o", (unsigned)ev->setmode.mode);
		break;
	case ES_EVENT_TYPE_AUTH_SETOWNER:
	case ES_EVENT_TYPE_NOTIFY_SETOWNER:
		out_path_arg(o, ev->setowner.target);
		out_printf(o, " owner=%d:%d", (int)ev->setowner.uid, (int)ev->setowner.gid);
		break;
	case ES_EVENT_TYPE_NOTIFY_SETUID:
		out_printf(o, " -> uid=%u", (unsigned)ev->setuid.uid);
		break;
	case ES_EVENT_TYPE_NOTIFY_SETGID:
		out_printf(o, " -> gid=%u", (unsigned)ev->setgid.gid);
		break;
	case ES_EVENT_TYPE_NOTIFY_SETEUID:
		out_printf(o, " -> euid=%u", (unsigned)ev->seteuid.euid);
		break;
	case ES_EVENT_TYPE_NOTIFY_SETEGID:
		out_printf(o, " -> egid=%u", (unsigned)ev->setegid.egid);
		break;
	case ES_EVENT_TYPE_NOTIFY_SETREUID:
		out_printf(o, " -> ruid=%d euid=%d", (int)ev->setreuid.ruid, (int)ev->setreuid.euid);
		break;
	case ES_EVENT_TYPE_NOTIFY_SETREGID:
		out_printf(o, " -> rgid=%d egid=%d", (int)ev->setregid.rgid, (int)ev->setregid.egid);
		break;
	case ES_EVENT_TYPE_AUTH_SIGNAL:
	case ES_EVENT_TYPE_NOTIFY_SIGNAL:
		out_printf(o, " sig=%d", ev->signal.sig);
		out_proc(o, "target", ev->signal.target);
		break;
	case ES_EVENT_TYPE_AUTH_MOUNT:
	case ES_EVENT_TYPE_NOTIFY_MOUNT:
		out_statfs(o, ev->mount.statfs);
		break;
	case ES_EVENT_TYPE_NOTIFY_UNMOUNT:
		out_statfs(o, ev->unmount.statfs);
		break;
	case ES_EVENT_TYPE_AUTH_REMOUNT:
	case ES_EVENT_TYPE_NOTIFY_REMOUNT:
		out_statfs(o, ev->remount.statfs);
		out_printf(o, " flags=0x%" PRIx64, ev->remount.remount_flags);
		break;
	case ES_EVENT_TYPE_NOTIFY_TRACE:
		out_proc(o, "target", ev->trace.target);
		break;
	case ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE:
		out_proc(o, "target", ev->remote_thread_create.target);
		break;
	case ES_EVENT_TYPE_AUTH_GET_TASK:
	case ES_EVENT_TYPE_NOTIFY_GET_TASK:
		out_proc(o, "target", ev->get_task.target);
		break;
	case ES_EVENT_TYPE_AUTH_GET_TASK_READ:
	case ES_EVENT_TYPE_NOTIFY_GET_TASK_READ:
		out_proc(o, "target", ev->get_task_read.target);
		break;
	case ES_EVENT_TYPE_AUTH_KEXTLOAD:
	case ES_EVENT_TYPE_NOTIFY_KEXTLOAD:
		out_raw(o, " ", 1);
		out_tok(o, ev->kextload.identifier);
		break;
	case ES_EVENT_TYPE_NOTIFY_KEXTUNLOAD:
		out_raw(o, " ", 1);
		out_tok(o, ev->kextunload.identifier);
		break;
	case ES_EVENT_TYPE_AUTH_LINK:
	case ES_EVENT_TYPE_NOTIFY_LINK:
		out_path_arg(o, ev->link.source);
		out_raw(o, " ->", 3);
		out_path_arg(o, ev->link.target_dir);
		out_raw(o, "/", 1);
		out_tok(o, ev->link.target_filename);
		break;
	case ES_EVENT_TYPE_AUTH_MMAP:
	case ES_EVENT_TYPE_NOTIFY_MMAP:
		out_path_arg(o, ev->mmap.source);
		out_printf(o, " prot=0x%x flags=0x%x", (unsigned)ev->mmap.protection, (unsigned)ev->mmap.flags);
		break;
	case ES_EVENT_TYPE_AUTH_MPROTECT:
	case ES_EVENT_TYPE_NOTIFY_MPROTECT:
		out_printf(o, " addr=0x%" PRIx64 " size=%" PRIu64 " prot=0x%x", ev->mprotect.address,
			   ev->mprotect.size, (unsigned)ev->mprotect.protection);
		break;
	case ES_EVENT_TYPE_AUTH_UTIMES:
	case ES_EVENT_TYPE_NOTIFY_UTIMES:
		out_path_arg(o, ev->utimes.target);
		break;
	case ES_EVENT_TYPE_AUTH_SETEXTATTR:
	case ES_EVENT_TYPE_NOTIFY_SETEXTATTR:
		out_path_arg(o, ev->setextattr.target);
		out_raw(o, " ", 1);
		out_tok(o, ev->setextattr.extattr);
		break;
	case ES_EVENT_TYPE_AUTH_DELETEEXTATTR:
	case ES_EVENT_TYPE_NOTIFY_DELETEEXTATTR:
		out_path_arg(o, ev->deleteextattr.target);
		out_raw(o, " ", 1);
		out_tok(o, ev->deleteextattr.extattr);
		break;
	case ES_EVENT_TYPE_AUTH_SETACL:
	case ES_EVENT_TYPE_NOTIFY_SETACL:
		out_path_arg(o, ev->setacl.target);
		break;
	case ES_EVENT_TYPE_AUTH_UIPC_BIND:
	case ES_EVENT_TYPE_NOTIFY_UIPC_BIND:
		out_path_arg(o, ev->uipc_bind.dir);
		out_raw(o, "/", 1);
		out_tok(o, ev->uipc_bind.filename);
		break;
	case ES_EVENT_TYPE_AUTH_UIPC_CONNECT:
	case ES_EVENT_TYPE_NOTIFY_UIPC_CONNECT:
		out_path_arg(o, ev->uipc_connect.file);
		break;
	default:
		return;
	}
	/* who did it (for exec it is already the left of the arrow); a kernel thread, or a
	 * process uextd could not name, has an empty path */
	const es_file_t *exe = m->process ? m->process->executable : NULL;
	if (exe && exe->path.length) {
		out_raw(o, " (", 2);
		out_file(o, exe);
		out_raw(o, ")", 1);
	}
}

int eslog_message_text(const es_message_t *msg, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	struct tm tm;
	time_t t = msg->time.tv_sec;
	long ms = msg->time.tv_nsec >= 0 && msg->time.tv_nsec < 1000000000L ? msg->time.tv_nsec / 1000000 : 0;
	const char *name = eslog_event_member(msg->event_type);

	if (localtime_r(&t, &tm))
		out_printf(&o, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
	else
		out_printf(&o, "%lld.%03ld", (long long)t, ms);
	if (name)
		out_printf(&o, " %s", name);
	else
		out_printf(&o, " event_type=%d", (int)msg->event_type);
	if (msg->process) {
		const es_process_t *p = msg->process;
		out_printf(&o, " pid=%d ppid=%d uid=%u", audit_token_to_pid(p->audit_token), (int)p->ppid,
			   (unsigned)audit_token_to_euid(p->audit_token));
	}
	out_event(&o, msg);
	if (len)
		buf[o.need < len ? o.need : len - 1] = '\0';
	return o.need > INT32_MAX ? INT32_MAX : (int)o.need;
}

/* ---------------------------------------------------------------------------------------
 * Drop accounting
 * ------------------------------------------------------------------------------------- */

void eslog_stats_init(struct eslog_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
}

/* A number below the one expected (which uextd never sends) is not a drop: counted as
 * seen, the expectation stays. */
void eslog_stats_note(struct eslog_stats *stats, const es_message_t *msg)
{
	stats->total++;
	if (msg->version >= 4) {
		if (msg->global_seq_num >= stats->next_global) {
			stats->global_dropped += msg->global_seq_num - stats->next_global;
			stats->next_global = msg->global_seq_num + 1;
		}
	}
	if ((unsigned)msg->event_type >= ES_EVENT_TYPE_LAST) {
		stats->other++;
		return;
	}
	unsigned t = (unsigned)msg->event_type;
	stats->seen[t]++;
	if (msg->version >= 2 && msg->seq_num >= stats->next_seq[t]) {
		stats->dropped[t] += msg->seq_num - stats->next_seq[t];
		stats->next_seq[t] = msg->seq_num + 1;
	}
}

uint64_t eslog_stats_dropped(const struct eslog_stats *stats)
{
	uint64_t n = 0;
	for (unsigned t = 0; t < ES_EVENT_TYPE_LAST; t++)
		n += stats->dropped[t];
	return n;
}

/* The summary's key of type t: the eslogger name, AUTH ones as "auth_<name>". */
static const char *stats_key(unsigned t, char *buf, size_t len)
{
	const char *m = eslog_event_member((es_event_type_t)t);
	if (!m) {
		snprintf(buf, len, "event_type_%u", t);
		return buf;
	}
	if (event_names[t].notify)
		return m;
	snprintf(buf, len, "auth_%s", m);
	return buf;
}

json_t *eslog_stats_json(const struct eslog_stats *stats)
{
	json_t *events = json_object();
	char key[64];

	for (unsigned t = 0; t < ES_EVENT_TYPE_LAST; t++) {
		if (!stats->seen[t] && !stats->dropped[t])
			continue;
		json_t *e = put(json_object(), "seen", juint(stats->seen[t]));
		e = put(e, "dropped", juint(stats->dropped[t]));
		events = put(events, stats_key(t, key, sizeof(key)), e);
	}
	json_t *o = put(json_object(), "messages", juint(stats->total));
	o = put(o, "dropped", juint(eslog_stats_dropped(stats)));
	o = put(o, "global_dropped", juint(stats->global_dropped));
	return put(o, "events", events);
}

int eslog_stats_text(const struct eslog_stats *stats, char *buf, size_t len)
{
	struct out o = { buf, len, 0 };
	char key[64];
	bool first = true;

	out_printf(&o, "%" PRIu64 " messages", stats->total);
	for (unsigned t = 0; t < ES_EVENT_TYPE_LAST; t++) {
		if (!stats->seen[t] && !stats->dropped[t])
			continue;
		out_printf(&o, "%s%s %" PRIu64, first ? " (" : ", ", stats_key(t, key, sizeof(key)), stats->seen[t]);
		if (stats->dropped[t])
			out_printf(&o, " +%" PRIu64 " dropped", stats->dropped[t]);
		first = false;
	}
	if (!first)
		out_raw(&o, ")", 1);
	out_printf(&o, ", dropped %" PRIu64 " by seq_num, %" PRIu64 " by global_seq_num", eslog_stats_dropped(stats),
		   stats->global_dropped);
	if (len)
		buf[o.need < len ? o.need : len - 1] = '\0';
	return o.need > INT32_MAX ? INT32_MAX : (int)o.need;
}
