/* test_es_header.c: the public ES header keeps Apple's numbers and shapes. Every event type
 * the design reference (docs: apple-endpoint-security.md §2) lists is checked against its
 * number at compile time and again at run time; the token structs, the field order of
 * es_process_t and es_message_t, the other result enums and the audit-token accessors are
 * checked too. Only <uext/es.h> is included from uext, and nothing is called from libuext:
 * the header must stand on its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <uext/es.h>

/* name (without ES_EVENT_TYPE_), value: transcribed from the reference, not from the header */
#define EVENT_TABLE \
	X(AUTH_EXEC, 0) \
	X(AUTH_OPEN, 1) \
	X(AUTH_KEXTLOAD, 2) \
	X(AUTH_MMAP, 3) \
	X(AUTH_MPROTECT, 4) \
	X(AUTH_MOUNT, 5) \
	X(AUTH_RENAME, 6) \
	X(AUTH_SIGNAL, 7) \
	X(AUTH_UNLINK, 8) \
	X(NOTIFY_EXEC, 9) \
	X(NOTIFY_OPEN, 10) \
	X(NOTIFY_FORK, 11) \
	X(NOTIFY_CLOSE, 12) \
	X(NOTIFY_CREATE, 13) \
	X(NOTIFY_EXCHANGEDATA, 14) \
	X(NOTIFY_EXIT, 15) \
	X(NOTIFY_GET_TASK, 16) \
	X(NOTIFY_KEXTLOAD, 17) \
	X(NOTIFY_KEXTUNLOAD, 18) \
	X(NOTIFY_LINK, 19) \
	X(NOTIFY_MMAP, 20) \
	X(NOTIFY_MPROTECT, 21) \
	X(NOTIFY_MOUNT, 22) \
	X(NOTIFY_UNMOUNT, 23) \
	X(NOTIFY_IOKIT_OPEN, 24) \
	X(NOTIFY_RENAME, 25) \
	X(NOTIFY_SETATTRLIST, 26) \
	X(NOTIFY_SETEXTATTR, 27) \
	X(NOTIFY_SETFLAGS, 28) \
	X(NOTIFY_SETMODE, 29) \
	X(NOTIFY_SETOWNER, 30) \
	X(NOTIFY_SIGNAL, 31) \
	X(NOTIFY_UNLINK, 32) \
	X(NOTIFY_WRITE, 33) \
	X(AUTH_FILE_PROVIDER_MATERIALIZE, 34) \
	X(NOTIFY_FILE_PROVIDER_MATERIALIZE, 35) \
	X(AUTH_FILE_PROVIDER_UPDATE, 36) \
	X(NOTIFY_FILE_PROVIDER_UPDATE, 37) \
	X(AUTH_READLINK, 38) \
	X(NOTIFY_READLINK, 39) \
	X(AUTH_TRUNCATE, 40) \
	X(NOTIFY_TRUNCATE, 41) \
	X(AUTH_LINK, 42) \
	X(NOTIFY_LOOKUP, 43) \
	X(AUTH_CREATE, 44) \
	X(AUTH_SETATTRLIST, 45) \
	X(AUTH_SETEXTATTR, 46) \
	X(AUTH_SETFLAGS, 47) \
	X(AUTH_SETMODE, 48) \
	X(AUTH_SETOWNER, 49) \
	X(AUTH_CHDIR, 50) \
	X(NOTIFY_CHDIR, 51) \
	X(AUTH_GETATTRLIST, 52) \
	X(NOTIFY_GETATTRLIST, 53) \
	X(NOTIFY_STAT, 54) \
	X(NOTIFY_ACCESS, 55) \
	X(AUTH_CHROOT, 56) \
	X(NOTIFY_CHROOT, 57) \
	X(AUTH_UTIMES, 58) \
	X(NOTIFY_UTIMES, 59) \
	X(AUTH_CLONE, 60) \
	X(NOTIFY_CLONE, 61) \
	X(NOTIFY_FCNTL, 62) \
	X(AUTH_GETEXTATTR, 63) \
	X(NOTIFY_GETEXTATTR, 64) \
	X(AUTH_LISTEXTATTR, 65) \
	X(NOTIFY_LISTEXTATTR, 66) \
	X(AUTH_READDIR, 67) \
	X(NOTIFY_READDIR, 68) \
	X(AUTH_DELETEEXTATTR, 69) \
	X(NOTIFY_DELETEEXTATTR, 70) \
	X(AUTH_FSGETPATH, 71) \
	X(NOTIFY_FSGETPATH, 72) \
	X(NOTIFY_DUP, 73) \
	X(AUTH_SETTIME, 74) \
	X(NOTIFY_SETTIME, 75) \
	X(NOTIFY_UIPC_BIND, 76) \
	X(AUTH_UIPC_BIND, 77) \
	X(NOTIFY_UIPC_CONNECT, 78) \
	X(AUTH_UIPC_CONNECT, 79) \
	X(AUTH_EXCHANGEDATA, 80) \
	X(AUTH_SETACL, 81) \
	X(NOTIFY_SETACL, 82) \
	X(NOTIFY_PTY_GRANT, 83) \
	X(NOTIFY_PTY_CLOSE, 84) \
	X(AUTH_PROC_CHECK, 85) \
	X(NOTIFY_PROC_CHECK, 86) \
	X(AUTH_GET_TASK, 87) \
	X(AUTH_SEARCHFS, 88) \
	X(NOTIFY_SEARCHFS, 89) \
	X(AUTH_FCNTL, 90) \
	X(AUTH_IOKIT_OPEN, 91) \
	X(AUTH_PROC_SUSPEND_RESUME, 92) \
	X(NOTIFY_PROC_SUSPEND_RESUME, 93) \
	X(NOTIFY_CS_INVALIDATED, 94) \
	X(NOTIFY_GET_TASK_NAME, 95) \
	X(NOTIFY_TRACE, 96) \
	X(NOTIFY_REMOTE_THREAD_CREATE, 97) \
	X(AUTH_REMOUNT, 98) \
	X(NOTIFY_REMOUNT, 99) \
	X(AUTH_GET_TASK_READ, 100) \
	X(NOTIFY_GET_TASK_READ, 101) \
	X(NOTIFY_GET_TASK_INSPECT, 102) \
	X(NOTIFY_SETUID, 103) \
	X(NOTIFY_SETGID, 104) \
	X(NOTIFY_SETEUID, 105) \
	X(NOTIFY_SETEGID, 106) \
	X(NOTIFY_SETREUID, 107) \
	X(NOTIFY_SETREGID, 108) \
	X(AUTH_COPYFILE, 109) \
	X(NOTIFY_COPYFILE, 110) \
	X(NOTIFY_AUTHENTICATION, 111) \
	X(NOTIFY_XP_MALWARE_DETECTED, 112) \
	X(NOTIFY_XP_MALWARE_REMEDIATED, 113) \
	X(NOTIFY_LW_SESSION_LOGIN, 114) \
	X(NOTIFY_LW_SESSION_LOGOUT, 115) \
	X(NOTIFY_LW_SESSION_LOCK, 116) \
	X(NOTIFY_LW_SESSION_UNLOCK, 117) \
	X(NOTIFY_SCREENSHARING_ATTACH, 118) \
	X(NOTIFY_SCREENSHARING_DETACH, 119) \
	X(NOTIFY_OPENSSH_LOGIN, 120) \
	X(NOTIFY_OPENSSH_LOGOUT, 121) \
	X(NOTIFY_LOGIN_LOGIN, 122) \
	X(NOTIFY_LOGIN_LOGOUT, 123) \
	X(NOTIFY_BTM_LAUNCH_ITEM_ADD, 124) \
	X(NOTIFY_BTM_LAUNCH_ITEM_REMOVE, 125) \
	X(NOTIFY_PROFILE_ADD, 126) \
	X(NOTIFY_PROFILE_REMOVE, 127) \
	X(NOTIFY_SU, 128) \
	X(NOTIFY_AUTHORIZATION_PETITION, 129) \
	X(NOTIFY_AUTHORIZATION_JUDGEMENT, 130) \
	X(NOTIFY_SUDO, 131) \
	X(NOTIFY_OD_GROUP_ADD, 132) \
	X(NOTIFY_OD_GROUP_REMOVE, 133) \
	X(NOTIFY_OD_GROUP_SET, 134) \
	X(NOTIFY_OD_MODIFY_PASSWORD, 135) \
	X(NOTIFY_OD_DISABLE_USER, 136) \
	X(NOTIFY_OD_ENABLE_USER, 137) \
	X(NOTIFY_OD_ATTRIBUTE_VALUE_ADD, 138) \
	X(NOTIFY_OD_ATTRIBUTE_VALUE_REMOVE, 139) \
	X(NOTIFY_OD_ATTRIBUTE_SET, 140) \
	X(NOTIFY_OD_CREATE_USER, 141) \
	X(NOTIFY_OD_CREATE_GROUP, 142) \
	X(NOTIFY_OD_DELETE_USER, 143) \
	X(NOTIFY_OD_DELETE_GROUP, 144) \
	X(NOTIFY_XPC_CONNECT, 145) \
	X(NOTIFY_GATEKEEPER_USER_OVERRIDE, 146) \
	X(NOTIFY_TCC_MODIFY, 147) \
	X(RESERVED_0, 148) \
	X(RESERVED_1, 149) \
	X(RESERVED_2, 150) \
	X(RESERVED_3, 151) \
	X(RESERVED_4, 152) \
	X(RESERVED_5, 153) \
	X(RESERVED_6, 154) \
	X(RESERVED_7, 155) \
	X(RESERVED_8, 156) \
	X(AUTH_XPC_CONNECT, 157) \
	X(AUTH_BOOTSTRAP_CHECK_IN, 158) \
	X(NOTIFY_BOOTSTRAP_CHECK_IN, 159) \
	X(AUTH_BOOTSTRAP_LOOK_UP, 160) \
	X(NOTIFY_BOOTSTRAP_LOOK_UP, 161) \
	/* end */

#define X(name, n) _Static_assert(ES_EVENT_TYPE_##name == (n), "ES_EVENT_TYPE_" #name " must be " #n);
EVENT_TABLE
#undef X
_Static_assert(ES_EVENT_TYPE_LAST == 162, "ES_EVENT_TYPE_LAST follows NOTIFY_BOOTSTRAP_LOOK_UP (161)");
_Static_assert(sizeof(es_event_type_t) == 4, "an enum, as Apple's");
_Static_assert(UEXT_ES_EVENT_TYPE_PRIVATE_BASE > ES_EVENT_TYPE_LAST, "uext's own events stay above Apple's");

/* The other enums of the reference (§1). */
_Static_assert(ES_NEW_CLIENT_RESULT_SUCCESS == 0 && ES_NEW_CLIENT_RESULT_ERR_INVALID_ARGUMENT == 1 &&
		       ES_NEW_CLIENT_RESULT_ERR_INTERNAL == 2 && ES_NEW_CLIENT_RESULT_ERR_NOT_ENTITLED == 3 &&
		       ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED == 4 && ES_NEW_CLIENT_RESULT_ERR_NOT_PRIVILEGED == 5 &&
		       ES_NEW_CLIENT_RESULT_ERR_TOO_MANY_CLIENTS == 6,
	       "es_new_client_result_t");
_Static_assert(ES_RESPOND_RESULT_SUCCESS == 0 && ES_RESPOND_RESULT_ERR_INVALID_ARGUMENT == 1 &&
		       ES_RESPOND_RESULT_ERR_INTERNAL == 2 && ES_RESPOND_RESULT_NOT_FOUND == 3 &&
		       ES_RESPOND_RESULT_ERR_DUPLICATE_RESPONSE == 4 && ES_RESPOND_RESULT_ERR_EVENT_TYPE == 5,
	       "es_respond_result_t");
_Static_assert(ES_RETURN_SUCCESS == 0 && ES_RETURN_ERROR == 1, "es_return_t");
_Static_assert(ES_CLEAR_CACHE_RESULT_SUCCESS == 0 && ES_CLEAR_CACHE_RESULT_ERR_INTERNAL == 1 &&
		       ES_CLEAR_CACHE_RESULT_ERR_THROTTLE == 2,
	       "es_clear_cache_result_t");
_Static_assert(ES_AUTH_RESULT_ALLOW == 0 && ES_AUTH_RESULT_DENY == 1, "es_auth_result_t");
_Static_assert(ES_ACTION_TYPE_AUTH == 0 && ES_ACTION_TYPE_NOTIFY == 1, "es_action_type_t");
_Static_assert(ES_RESULT_TYPE_AUTH == 0 && ES_RESULT_TYPE_FLAGS == 1, "es_result_type_t");
_Static_assert(ES_MUTE_PATH_TYPE_PREFIX == 0 && ES_MUTE_PATH_TYPE_LITERAL == 1 &&
		       ES_MUTE_PATH_TYPE_TARGET_PREFIX == 2 && ES_MUTE_PATH_TYPE_TARGET_LITERAL == 3,
	       "es_mute_path_type_t");
_Static_assert(ES_MUTE_INVERSION_TYPE_PROCESS == 0 && ES_MUTE_INVERSION_TYPE_PATH == 1 &&
		       ES_MUTE_INVERSION_TYPE_TARGET_PATH == 2 && ES_MUTE_INVERSION_TYPE_LAST == 3,
	       "es_mute_inversion_type_t");
_Static_assert(ES_MUTE_INVERTED == 0 && ES_MUTE_NOT_INVERTED == 1 && ES_MUTE_INVERTED_ERROR == 2,
	       "es_mute_inverted_return_t");
_Static_assert(ES_DESTINATION_TYPE_EXISTING_FILE == 0 && ES_DESTINATION_TYPE_NEW_PATH == 1, "es_destination_type_t");
_Static_assert(FREAD == 0x1 && FWRITE == 0x2, "AUTH_OPEN fflag bits, as Darwin's");

/* Token structs. */
_Static_assert(sizeof(audit_token_t) == 8 * sizeof(uint32_t), "audit_token_t is 8 x 32 bits");
_Static_assert(sizeof(((audit_token_t *)0)->val) / sizeof(((audit_token_t *)0)->val[0]) == 8, "8 slots");
_Static_assert(sizeof(es_event_id_t) == 32, "es_event_id_t");
_Static_assert(sizeof(es_cdhash_t) == 20 && sizeof(es_sha256_t) == 32, "hash sizes");
_Static_assert(offsetof(es_token_t, size) == 0 && offsetof(es_token_t, data) == sizeof(size_t) &&
		       sizeof(es_token_t) == sizeof(size_t) + sizeof(void *),
	       "es_token_t { size_t size; const uint8_t *data; }");
_Static_assert(offsetof(es_string_token_t, length) == 0 && offsetof(es_string_token_t, data) == sizeof(size_t) &&
		       sizeof(es_string_token_t) == sizeof(size_t) + sizeof(void *),
	       "es_string_token_t { size_t length; const char *data; }");
_Static_assert(sizeof(es_thread_t) == 8, "es_thread_t { uint64_t thread_id; }");
_Static_assert(sizeof(((es_result_t *)0)->result) == 32, "es_result_t's union is 32 bytes");

/* Field order, as Apple's (offsets differ from macOS where Linux types differ in size). */
#define ORDERED(T, a, b) _Static_assert(offsetof(T, a) < offsetof(T, b), #T ": " #a " before " #b)
_Static_assert(offsetof(es_process_t, audit_token) == 0, "es_process_t starts with audit_token");
_Static_assert(offsetof(es_process_t, ppid) == sizeof(audit_token_t), "then ppid");
ORDERED(es_process_t, ppid, original_ppid);
ORDERED(es_process_t, original_ppid, group_id);
ORDERED(es_process_t, group_id, session_id);
ORDERED(es_process_t, session_id, codesigning_flags);
ORDERED(es_process_t, codesigning_flags, is_platform_binary);
ORDERED(es_process_t, is_platform_binary, is_es_client);
ORDERED(es_process_t, is_es_client, cdhash);
ORDERED(es_process_t, cdhash, signing_id);
ORDERED(es_process_t, signing_id, team_id);
ORDERED(es_process_t, team_id, executable);
ORDERED(es_process_t, executable, tty);
ORDERED(es_process_t, tty, start_time);
ORDERED(es_process_t, start_time, responsible_audit_token);
ORDERED(es_process_t, responsible_audit_token, parent_audit_token);
ORDERED(es_process_t, parent_audit_token, cs_validation_category);

_Static_assert(offsetof(es_message_t, version) == 0, "es_message_t starts with version");
ORDERED(es_message_t, version, time);
ORDERED(es_message_t, time, mach_time);
ORDERED(es_message_t, mach_time, deadline);
ORDERED(es_message_t, deadline, process);
ORDERED(es_message_t, process, seq_num);
ORDERED(es_message_t, seq_num, action_type);
ORDERED(es_message_t, action_type, action);
ORDERED(es_message_t, action, event_type);
ORDERED(es_message_t, event_type, event);
ORDERED(es_message_t, event, thread);
ORDERED(es_message_t, thread, global_seq_num);
ORDERED(es_message_t, global_seq_num, opaque);

_Static_assert(offsetof(es_file_t, path) == 0, "es_file_t starts with path");
ORDERED(es_file_t, path, path_truncated);
ORDERED(es_file_t, path_truncated, stat);
_Static_assert(offsetof(es_event_exec_t, target) == 0, "exec: target first");
ORDERED(es_event_exec_t, target, dyld_exec_path);
ORDERED(es_event_exec_t, dyld_exec_path, script);
ORDERED(es_event_exec_t, script, cwd);
ORDERED(es_event_exec_t, cwd, last_fd);
ORDERED(es_event_exec_t, last_fd, image_cputype);
ORDERED(es_event_exec_t, image_cputype, image_cpusubtype);
_Static_assert(offsetof(es_event_exec_t, script) == offsetof(es_event_exec_t, reserved), "exec: v2+ fields overlay reserved");
_Static_assert(sizeof(((es_event_exec_t *)0)->reserved) == 64, "exec: reserved[64]");
ORDERED(es_event_open_t, fflag, file);
ORDERED(es_event_open_t, file, reserved);
ORDERED(es_event_close_t, modified, target);
ORDERED(es_event_rename_t, source, destination_type);
ORDERED(es_event_rename_t, destination_type, destination);
ORDERED(es_event_create_t, destination_type, destination);
ORDERED(es_event_create_t, destination, reserved2);
ORDERED(es_event_signal_t, sig, target);
ORDERED(es_event_signal_t, target, instigator);
ORDERED(es_event_unlink_t, target, parent_dir);
ORDERED(es_event_setmode_t, mode, target);
ORDERED(es_event_setowner_t, uid, gid);
ORDERED(es_event_setowner_t, gid, target);
ORDERED(es_event_setreuid_t, ruid, euid);
ORDERED(es_event_setregid_t, rgid, egid);
ORDERED(es_event_mount_t, statfs, disposition);
ORDERED(es_event_remount_t, remount_flags, disposition);
_Static_assert(sizeof(((es_events_t *)0)->su) == sizeof(void *), "13.0+ events are pointers in the union");
#undef ORDERED

struct named {
	const char *name;
	int value;
};

static const struct named events[] = {
#define X(name, n) {"ES_EVENT_TYPE_" #name, ES_EVENT_TYPE_##name},
	EVENT_TABLE
#undef X
};

static const int expected[] = {
#define X(name, n) n,
	EVENT_TABLE
#undef X
};

/* The table covers 0 .. LAST-1 once each, and every name has its number. */
static void test_event_types(void **state)
{
	(void)state;
	unsigned char seen[ES_EVENT_TYPE_LAST];
	memset(seen, 0, sizeof seen);
	assert_int_equal(sizeof events / sizeof events[0], ES_EVENT_TYPE_LAST);
	for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
		if (events[i].value != expected[i])
			fail_msg("%s is %d, Apple's is %d", events[i].name, events[i].value, expected[i]);
		assert_in_range(events[i].value, 0, ES_EVENT_TYPE_LAST - 1);
		assert_int_equal(seen[events[i].value], 0);
		seen[events[i].value] = 1;
	}
	assert_int_equal(ES_EVENT_TYPE_LAST, 162);
}

/* Apple's slot layout (libbsm's audit_token_to_au32 order) and a round trip of every slot,
 * with values that would show a swapped or truncated slot. */
static void test_audit_token(void **state)
{
	(void)state;
	audit_token_t t = uext_audit_token_make((uid_t)4294967295u, 1001, 1002, 1003, 1004, 4194303, 100017,
						0xdeadbeefu);
	assert_int_equal(t.val[0], 4294967295u);
	assert_int_equal(t.val[1], 1001);
	assert_int_equal(t.val[2], 1002);
	assert_int_equal(t.val[3], 1003);
	assert_int_equal(t.val[4], 1004);
	assert_int_equal(t.val[5], 4194303);
	assert_int_equal(t.val[6], 100017);
	assert_int_equal(t.val[7], 0xdeadbeefu);

	assert_true(audit_token_to_auid(t) == (uid_t)-1);
	assert_int_equal(audit_token_to_euid(t), 1001);
	assert_int_equal(audit_token_to_egid(t), 1002);
	assert_int_equal(audit_token_to_ruid(t), 1003);
	assert_int_equal(audit_token_to_rgid(t), 1004);
	assert_int_equal(audit_token_to_pid(t), 4194303);
	assert_int_equal(audit_token_to_asid(t), 100017);
	assert_int_equal((uint32_t)audit_token_to_pidversion(t), 0xdeadbeefu);

	/* a token filled slot by slot reads back through the accessors */
	audit_token_t u;
	for (uint32_t i = 0; i < 8; i++)
		u.val[i] = 0x100u + i;
	assert_int_equal(audit_token_to_auid(u), 0x100);
	assert_int_equal(audit_token_to_euid(u), 0x101);
	assert_int_equal(audit_token_to_egid(u), 0x102);
	assert_int_equal(audit_token_to_ruid(u), 0x103);
	assert_int_equal(audit_token_to_rgid(u), 0x104);
	assert_int_equal(audit_token_to_pid(u), 0x105);
	assert_int_equal(audit_token_to_asid(u), 0x106);
	assert_int_equal(audit_token_to_pidversion(u), 0x107);

	/* (pid, pidversion) tells two executions of one pid apart; memcmp compares tokens */
	audit_token_t before = uext_audit_token_make(0, 0, 0, 0, 0, 42, 1, 7);
	audit_token_t after = uext_audit_token_make(0, 0, 0, 0, 0, 42, 1, 8);
	assert_int_equal(audit_token_to_pid(before), audit_token_to_pid(after));
	assert_int_not_equal(audit_token_to_pidversion(before), audit_token_to_pidversion(after));
	assert_int_not_equal(memcmp(&before, &after, sizeof before), 0);
}

/* A message can be built and read through Apple's field names, including the AUTH/NOTIFY
 * union sharing and the exec event's versioned fields. */
static void test_message_fields(void **state)
{
	(void)state;
	static char path[] = "/usr/bin/true";
	es_file_t exe;
	memset(&exe, 0, sizeof exe);
	exe.path.data = path;
	exe.path.length = strlen(path);

	es_process_t proc;
	memset(&proc, 0, sizeof proc);
	proc.audit_token = uext_audit_token_make(0, 0, 0, 0, 0, 100, 1, 5);
	proc.executable = &exe;

	es_message_t msg;
	memset(&msg, 0, sizeof msg);
	msg.version = UEXT_ES_MESSAGE_VERSION;
	msg.process = &proc;
	msg.action_type = ES_ACTION_TYPE_AUTH;
	msg.event_type = ES_EVENT_TYPE_AUTH_EXEC;
	msg.event.exec.target = &proc;
	msg.event.exec.cwd = &exe;
	msg.event.exec.last_fd = 2;

	assert_int_equal(msg.version, 10);
	assert_ptr_equal(msg.event.exec.target->executable, &exe);
	assert_string_equal(msg.process->executable->path.data, "/usr/bin/true");
	assert_int_equal(audit_token_to_pid(msg.event.exec.target->audit_token), 100);
	assert_null(msg.event.exec.script);
	assert_int_equal(msg.event.exec.last_fd, 2);

	msg.action_type = ES_ACTION_TYPE_NOTIFY;
	msg.event_type = ES_EVENT_TYPE_NOTIFY_OPEN;
	msg.action.notify.result_type = ES_RESULT_TYPE_FLAGS;
	msg.action.notify.result.flags = FREAD | FWRITE;
	msg.event.open.fflag = FREAD;
	msg.event.open.file = &exe;
	assert_int_equal(msg.action.notify.result.flags, 3);
	assert_false(msg.event.open.uext_fflag_unknown);

	es_statfs_t sfs;
	memset(&sfs, 0, sizeof sfs);
	strcpy(sfs.f_mntonname, "/mnt");
	msg.event.mount.statfs = &sfs;
	assert_string_equal(msg.event.mount.statfs->f_mntonname, "/mnt");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_types),
		cmocka_unit_test(test_audit_token),
		cmocka_unit_test(test_message_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
