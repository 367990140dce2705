/* test_eslog_format.c: uext-eslogger's formatter (src/eslogger/format.c) on hand-built
 * messages: the JSON is parsed back and every field name and value checked, the event
 * name table round-trips, the drop accounting counts seq_num gaps, and the text line
 * carries the key values. libuext is not linked: the exec accessors the formatter calls
 * are the test doubles below, fed from a fixture table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include <uext/es.h>

#include "eslogger/format.h"

/* ---------------------------------------------------------------------------------------
 * Test doubles for libuext's exec accessors: args, env and fds of one exec event.
 * ------------------------------------------------------------------------------------- */
struct exec_fixture {
	const es_event_exec_t *event;
	const char **args;
	uint32_t nargs;
	const char **env;
	uint32_t nenv;
	const es_fd_t *fds;
	uint32_t nfds;
};

static struct exec_fixture fixtures[8];
static size_t nfixtures;

static const struct exec_fixture *fixture_of(const es_event_exec_t *event)
{
	for (size_t i = 0; i < nfixtures; i++)
		if (fixtures[i].event == event)
			return &fixtures[i];
	return NULL;
}

static es_string_token_t tok(const char *s)
{
	es_string_token_t t = { s ? strlen(s) : 0, s };
	return t;
}

uint32_t es_exec_arg_count(const es_event_exec_t *event)
{
	const struct exec_fixture *f = fixture_of(event);
	return f ? f->nargs : 0;
}

uint32_t es_exec_env_count(const es_event_exec_t *event)
{
	const struct exec_fixture *f = fixture_of(event);
	return f ? f->nenv : 0;
}

uint32_t es_exec_fd_count(const es_event_exec_t *event)
{
	const struct exec_fixture *f = fixture_of(event);
	return f ? f->nfds : 0;
}

es_string_token_t es_exec_arg(const es_event_exec_t *event, uint32_t index)
{
	const struct exec_fixture *f = fixture_of(event);
	assert_non_null(f);
	assert_true(index < f->nargs);
	return tok(f->args[index]);
}

es_string_token_t es_exec_env(const es_event_exec_t *event, uint32_t index)
{
	const struct exec_fixture *f = fixture_of(event);
	assert_non_null(f);
	assert_true(index < f->nenv);
	return tok(f->env[index]);
}

const es_fd_t *es_exec_fd(const es_event_exec_t *event, uint32_t index)
{
	const struct exec_fixture *f = fixture_of(event);
	assert_non_null(f);
	assert_true(index < f->nfds);
	return &f->fds[index];
}

/* ---------------------------------------------------------------------------------------
 * Message fixtures
 * ------------------------------------------------------------------------------------- */

/* 2026-11-28T08:00:00Z */
#define T0 1795852800

static es_file_t file_make(const char *path)
{
	es_file_t f;
	memset(&f, 0, sizeof(f));
	f.path = tok(path);
	f.stat.st_dev = 2049;
	f.stat.st_ino = 131;
	f.stat.st_mode = 0100755;
	f.stat.st_nlink = 1;
	f.stat.st_uid = 0;
	f.stat.st_gid = 0;
	f.stat.st_size = 39256;
	f.stat.st_blocks = 80;
	f.stat.st_blksize = 4096;
	f.stat.st_atim.tv_sec = T0 - 60;
	f.stat.st_mtim.tv_sec = T0 - 3600;
	f.stat.st_mtim.tv_nsec = 500000000;
	f.stat.st_ctim.tv_sec = T0 - 3600;
	return f;
}

static es_process_t proc_make(es_file_t *exe, pid_t pid, uint32_t pidversion, pid_t ppid)
{
	es_process_t p;
	memset(&p, 0, sizeof(p));
	p.audit_token = uext_audit_token_make(1000, 0, 0, 1000, 100, pid, 7, pidversion);
	p.ppid = ppid;
	p.original_ppid = ppid;
	p.group_id = pid;
	p.session_id = 42;
	p.executable = exe;
	p.tty = NULL;
	p.start_time.tv_sec = T0 - 5;
	p.start_time.tv_usec = 250;
	p.responsible_audit_token = p.audit_token;
	p.parent_audit_token = uext_audit_token_make(1000, 0, 0, 0, 0, ppid, 7, 3);
	p.cs_validation_category = ES_CS_VALIDATION_CATEGORY_NONE;
	for (size_t i = 0; i < sizeof(p.cdhash); i++)
		p.cdhash[i] = (uint8_t)(0xa0 + i);
	return p;
}

/* Everything a message points to, in one place. */
struct fix {
	es_file_t exe, exe2, f1, f2, cwd;
	es_process_t proc, target;
	es_thread_t thread;
	es_statfs_t statfs;
	es_message_t msg;
};

static void fix_init(struct fix *x, es_event_type_t type)
{
	memset(x, 0, sizeof(*x));
	x->exe = file_make("/usr/bin/bash");
	x->exe2 = file_make("/usr/bin/true");
	x->f1 = file_make("/etc/passwd");
	x->f2 = file_make("/tmp");
	x->cwd = file_make("/root");
	x->proc = proc_make(&x->exe, 1234, 11, 1);
	x->target = proc_make(&x->exe2, 1234, 12, 1);
	x->thread.thread_id = 1236;
	x->msg.version = UEXT_ES_MESSAGE_VERSION;
	x->msg.time.tv_sec = T0;
	x->msg.time.tv_nsec = 123456789;
	x->msg.mach_time = 987654321;
	x->msg.deadline = 0;
	x->msg.process = &x->proc;
	x->msg.seq_num = 5;
	x->msg.global_seq_num = 17;
	x->msg.action_type = ES_ACTION_TYPE_NOTIFY;
	x->msg.action.notify.result_type = ES_RESULT_TYPE_AUTH;
	x->msg.action.notify.result.auth = ES_AUTH_RESULT_ALLOW;
	x->msg.event_type = type;
	x->msg.thread = &x->thread;
}

/* Render, check it survives a dump and parse (what a reader of our output sees). */
static json_t *render(const es_message_t *msg)
{
	json_t *j = eslog_message_json(msg);
	assert_non_null(j);
	char *s = json_dumps(j, JSON_COMPACT);
	assert_non_null(s);
	assert_null(strchr(s, '\n')); /* one line */
	json_decref(j);
	json_error_t err;
	j = json_loads(s, 0, &err);
	free(s);
	assert_non_null(j);
	return j;
}

/* The value at a path of keys ("process", "audit_token", "pid", NULL). */
static json_t *at(json_t *j, ...)
{
	va_list ap;
	const char *k;

	va_start(ap, j);
	while ((k = va_arg(ap, const char *))) {
		assert_true(json_is_object(j));
		json_t *n = json_object_get(j, k);
		if (!n)
			fail_msg("no key '%s'", k);
		j = n;
	}
	va_end(ap);
	return j;
}

#define AT(j, ...) at(j, __VA_ARGS__, (const char *)NULL)
#define INT_AT(j, ...) int_of(AT(j, __VA_ARGS__))
#define STR_AT(j, ...) str_of(AT(j, __VA_ARGS__))

static long long int_of(json_t *j)
{
	assert_true(json_is_integer(j));
	return json_integer_value(j);
}

static const char *str_of(json_t *j)
{
	assert_true(json_is_string(j));
	return json_string_value(j);
}

static void assert_keys(json_t *o, const char *const *keys)
{
	size_t n = 0;
	assert_true(json_is_object(o));
	for (; keys[n]; n++)
		if (!json_object_get(o, keys[n]))
			fail_msg("missing key '%s'", keys[n]);
	if (json_object_size(o) != n) {
		const char *k;
		json_t *v;
		json_object_foreach(o, k, v) {
			size_t i;
			for (i = 0; keys[i] && strcmp(keys[i], k); i++)
				;
			if (!keys[i])
				fail_msg("unexpected key '%s'", k);
		}
	}
}

static void check_file(json_t *f, const char *path)
{
	static const char *const keys[] = { "path", "path_truncated", "stat", NULL };
	static const char *const stat_keys[] = { "st_dev", "st_ino", "st_mode", "st_nlink", "st_uid",
						 "st_gid", "st_rdev", "st_size", "st_blocks", "st_blksize",
						 "st_atimespec", "st_mtimespec", "st_ctimespec", NULL };
	assert_keys(f, keys);
	assert_string_equal(STR_AT(f, "path"), path);
	assert_true(json_is_false(AT(f, "path_truncated")));
	assert_keys(AT(f, "stat"), stat_keys);
	assert_int_equal(INT_AT(f, "stat", "st_mode"), 0100755);
	assert_int_equal(INT_AT(f, "stat", "st_ino"), 131);
	assert_int_equal(INT_AT(f, "stat", "st_dev"), 2049);
	assert_int_equal(INT_AT(f, "stat", "st_size"), 39256);
	assert_string_equal(STR_AT(f, "stat", "st_mtimespec"), "2026-11-28T07:00:00.500000Z");
	assert_string_equal(STR_AT(f, "stat", "st_atimespec"), "2026-11-28T07:59:00.000000Z");
}

static void check_token(json_t *t, long long pid, long long pidversion)
{
	static const char *const keys[] = { "asid", "pidversion", "ruid", "euid", "rgid", "auid", "egid", "pid", NULL };
	assert_keys(t, keys);
	assert_int_equal(INT_AT(t, "pid"), pid);
	assert_int_equal(INT_AT(t, "pidversion"), pidversion);
}

static void check_process(json_t *p, long long pid, long long pidversion, const char *exe)
{
	static const char *const keys[] = { "audit_token",
					    "ppid",
					    "original_ppid",
					    "group_id",
					    "session_id",
					    "codesigning_flags",
					    "is_platform_binary",
					    "is_es_client",
					    "cdhash",
					    "signing_id",
					    "team_id",
					    "executable",
					    "tty",
					    "start_time",
					    "responsible_audit_token",
					    "parent_audit_token",
					    "cs_validation_category",
					    "uext_executable_sha256",
					    NULL };
	assert_keys(p, keys);
	check_token(AT(p, "audit_token"), pid, pidversion);
	assert_int_equal(INT_AT(p, "audit_token", "auid"), 1000);
	assert_int_equal(INT_AT(p, "audit_token", "euid"), 0);
	assert_int_equal(INT_AT(p, "audit_token", "ruid"), 1000);
	assert_int_equal(INT_AT(p, "audit_token", "rgid"), 100);
	assert_int_equal(INT_AT(p, "audit_token", "asid"), 7);
	assert_int_equal(INT_AT(p, "ppid"), 1);
	assert_int_equal(INT_AT(p, "original_ppid"), 1);
	assert_int_equal(INT_AT(p, "group_id"), pid);
	assert_int_equal(INT_AT(p, "session_id"), 42);
	assert_int_equal(INT_AT(p, "codesigning_flags"), 0);
	assert_true(json_is_false(AT(p, "is_platform_binary")));
	assert_true(json_is_false(AT(p, "is_es_client")));
	assert_string_equal(STR_AT(p, "cdhash"), "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3");
	assert_true(json_is_null(AT(p, "signing_id")));
	assert_true(json_is_null(AT(p, "team_id")));
	assert_true(json_is_null(AT(p, "tty")));
	assert_true(json_is_null(AT(p, "uext_executable_sha256")));
	assert_string_equal(STR_AT(p, "start_time"), "2026-11-28T07:59:55.000250Z");
	check_token(AT(p, "responsible_audit_token"), pid, pidversion);
	check_token(AT(p, "parent_audit_token"), 1, 3);
	assert_int_equal(INT_AT(p, "cs_validation_category"), ES_CS_VALIDATION_CATEGORY_NONE);
	check_file(AT(p, "executable"), exe);
}

/* The top level every message has; returns the event's own object. */
static json_t *check_top(json_t *j, es_event_type_t type, const char *member)
{
	static const char *const keys[] = { "schema_version", "version", "time",	 "mach_time",
					    "deadline",	      "seq_num", "global_seq_num", "event_type",
					    "action_type",    "action",	 "thread",	   "process",
					    "event",	      NULL };
	assert_keys(j, keys);
	assert_int_equal(INT_AT(j, "schema_version"), 1);
	assert_int_equal(INT_AT(j, "version"), 10);
	assert_string_equal(STR_AT(j, "time"), "2026-11-28T08:00:00.123456Z");
	assert_int_equal(INT_AT(j, "mach_time"), 987654321);
	assert_int_equal(INT_AT(j, "deadline"), 0);
	assert_int_equal(INT_AT(j, "seq_num"), 5);
	assert_int_equal(INT_AT(j, "global_seq_num"), 17);
	assert_int_equal(INT_AT(j, "event_type"), type);
	assert_int_equal(INT_AT(j, "action_type"), ES_ACTION_TYPE_NOTIFY);
	assert_int_equal(INT_AT(j, "action", "result", "result_type"), 0);
	assert_int_equal(INT_AT(j, "action", "result", "result", "auth"), 0);
	assert_int_equal(json_object_size(AT(j, "action")), 1);
	assert_int_equal(INT_AT(j, "thread", "thread_id"), 1236);
	check_process(AT(j, "process"), 1234, 11, "/usr/bin/bash");
	json_t *ev = AT(j, "event");
	assert_int_equal(json_object_size(ev), 1);
	return AT(ev, member);
}

/* ---------------------------------------------------------------------------------------
 * JSON tests
 * ------------------------------------------------------------------------------------- */

static void test_exec_json(void **state)
{
	(void)state;
	struct fix x;
	static const char *args[] = { "true", "a" };
	static const char *env[] = { "PATH=/usr/bin", "LANG=C" };
	es_fd_t fds[2];

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXEC);
	memset(fds, 0, sizeof(fds));
	fds[0].fd = 0;
	fds[0].fdtype = PROX_FDTYPE_VNODE;
	fds[1].fd = 1;
	fds[1].fdtype = PROX_FDTYPE_PIPE;
	fds[1].pipe.pipe_id = 99;
	es_event_exec_t *e = &x.msg.event.exec;
	e->target = &x.target;
	e->dyld_exec_path = tok("/bin/true");
	e->script = NULL;
	e->cwd = &x.cwd;
	e->last_fd = 2;
	e->image_cputype = 62; /* EM_X86_64 */
	nfixtures = 0;
	fixtures[nfixtures++] = (struct exec_fixture){ e, args, 2, env, 2, fds, 2 };

	json_t *j = render(&x.msg);
	json_t *ex = check_top(j, ES_EVENT_TYPE_NOTIFY_EXEC, "exec");
	static const char *const keys[] = { "target",	     "dyld_exec_path",	 "script", "cwd",
					    "last_fd",	     "image_cputype",	 "image_cpusubtype",
					    "args",	     "env",		 "fds",	   NULL };
	assert_keys(ex, keys);
	check_process(AT(ex, "target"), 1234, 12, "/usr/bin/true");
	assert_string_equal(STR_AT(ex, "dyld_exec_path"), "/bin/true");
	assert_true(json_is_null(AT(ex, "script")));
	check_file(AT(ex, "cwd"), "/root");
	assert_int_equal(INT_AT(ex, "last_fd"), 2);
	assert_int_equal(INT_AT(ex, "image_cputype"), 62);
	assert_int_equal(INT_AT(ex, "image_cpusubtype"), 0);
	json_t *a = AT(ex, "args");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(str_of(json_array_get(a, 0)), "true");
	assert_string_equal(str_of(json_array_get(a, 1)), "a");
	json_t *en = AT(ex, "env");
	assert_int_equal(json_array_size(en), 2);
	assert_string_equal(str_of(json_array_get(en, 0)), "PATH=/usr/bin");
	assert_string_equal(str_of(json_array_get(en, 1)), "LANG=C");
	json_t *f = AT(ex, "fds");
	assert_int_equal(json_array_size(f), 2);
	assert_int_equal(INT_AT(json_array_get(f, 0), "fd"), 0);
	assert_int_equal(INT_AT(json_array_get(f, 0), "fdtype"), PROX_FDTYPE_VNODE);
	assert_null(json_object_get(json_array_get(f, 0), "pipe"));
	assert_int_equal(INT_AT(json_array_get(f, 1), "pipe", "pipe_id"), 99);
	json_decref(j);
	nfixtures = 0;
}

static void test_exec_no_args(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXEC);
	x.msg.event.exec.target = &x.target;
	x.msg.event.exec.cwd = &x.cwd;
	x.msg.event.exec.script = &x.f1; /* a "#!" script */
	nfixtures = 0;
	json_t *j = render(&x.msg);
	json_t *ex = AT(j, "event", "exec");
	assert_int_equal(json_array_size(AT(ex, "args")), 0);
	assert_int_equal(json_array_size(AT(ex, "env")), 0);
	assert_int_equal(json_array_size(AT(ex, "fds")), 0);
	assert_true(json_is_null(AT(ex, "dyld_exec_path"))); /* absent string */
	assert_string_equal(STR_AT(ex, "script", "path"), "/etc/passwd");
	json_decref(j);
}

static void test_open_json(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_OPEN);
	x.msg.event.open.fflag = FREAD | FWRITE;
	x.msg.event.open.file = &x.f1;
	json_t *j = render(&x.msg);
	json_t *o = check_top(j, ES_EVENT_TYPE_NOTIFY_OPEN, "open");
	static const char *const keys[] = { "fflag", "file", "uext_fflag_unknown", NULL };
	assert_keys(o, keys);
	assert_int_equal(INT_AT(o, "fflag"), 3);
	check_file(AT(o, "file"), "/etc/passwd");
	assert_true(json_is_false(AT(o, "uext_fflag_unknown")));
	json_decref(j);
}

static void test_fork_exit_json(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_FORK);
	x.target = proc_make(&x.exe2, 1300, 13, 1);
	x.msg.event.fork.child = &x.target;
	json_t *j = render(&x.msg);
	json_t *f = check_top(j, ES_EVENT_TYPE_NOTIFY_FORK, "fork");
	assert_int_equal(json_object_size(f), 1);
	check_process(AT(f, "child"), 1300, 13, "/usr/bin/true");
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXIT);
	x.msg.event.exit.stat = 256; /* exit(1), as wait(2) encodes it */
	j = render(&x.msg);
	json_t *e = check_top(j, ES_EVENT_TYPE_NOTIFY_EXIT, "exit");
	assert_int_equal(json_object_size(e), 1);
	assert_int_equal(INT_AT(e, "stat"), 256);
	json_decref(j);
}

static void test_rename_json(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_RENAME);
	x.msg.event.rename.source = &x.f1;
	x.msg.event.rename.destination_type = ES_DESTINATION_TYPE_NEW_PATH;
	x.msg.event.rename.destination.new_path.dir = &x.f2;
	x.msg.event.rename.destination.new_path.filename = tok("passwd.new");
	json_t *j = render(&x.msg);
	json_t *r = check_top(j, ES_EVENT_TYPE_NOTIFY_RENAME, "rename");
	static const char *const keys[] = { "source", "destination_type", "destination", NULL };
	assert_keys(r, keys);
	check_file(AT(r, "source"), "/etc/passwd");
	assert_int_equal(INT_AT(r, "destination_type"), ES_DESTINATION_TYPE_NEW_PATH);
	assert_int_equal(json_object_size(AT(r, "destination")), 1);
	check_file(AT(r, "destination", "new_path", "dir"), "/tmp");
	assert_string_equal(STR_AT(r, "destination", "new_path", "filename"), "passwd.new");
	assert_null(json_object_get(AT(r, "destination", "new_path"), "mode"));
	json_decref(j);

	/* macOS's other form */
	x.msg.event.rename.destination_type = ES_DESTINATION_TYPE_EXISTING_FILE;
	x.msg.event.rename.destination.existing_file = &x.f2;
	j = render(&x.msg);
	check_file(AT(j, "event", "rename", "destination", "existing_file"), "/tmp");
	json_decref(j);
}

static void test_create_json(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_CREATE);
	x.msg.event.create.destination_type = ES_DESTINATION_TYPE_EXISTING_FILE;
	x.msg.event.create.destination.existing_file = &x.f1;
	json_t *j = render(&x.msg);
	json_t *c = check_top(j, ES_EVENT_TYPE_NOTIFY_CREATE, "create");
	static const char *const keys[] = { "destination_type", "destination", "acl", NULL };
	assert_keys(c, keys);
	assert_int_equal(INT_AT(c, "destination_type"), 0);
	check_file(AT(c, "destination", "existing_file"), "/etc/passwd");
	assert_true(json_is_null(AT(c, "acl")));
	json_decref(j);

	x.msg.event.create.destination_type = ES_DESTINATION_TYPE_NEW_PATH;
	x.msg.event.create.destination.new_path.dir = &x.f2;
	x.msg.event.create.destination.new_path.filename = tok("new");
	x.msg.event.create.destination.new_path.mode = 0644;
	j = render(&x.msg);
	json_t *np = AT(j, "event", "create", "destination", "new_path");
	static const char *const np_keys[] = { "dir", "filename", "mode", NULL };
	assert_keys(np, np_keys);
	check_file(AT(np, "dir"), "/tmp");
	assert_string_equal(STR_AT(np, "filename"), "new");
	assert_int_equal(INT_AT(np, "mode"), 0644);
	json_decref(j);
}

static void test_small_events_json(void **state)
{
	(void)state;
	struct fix x;
	json_t *j, *e;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SETUID);
	x.msg.event.setuid.uid = 1000;
	j = render(&x.msg);
	e = check_top(j, ES_EVENT_TYPE_NOTIFY_SETUID, "setuid");
	assert_int_equal(json_object_size(e), 1);
	assert_int_equal(INT_AT(e, "uid"), 1000);
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SETREGID);
	x.msg.event.setregid.rgid = 10;
	x.msg.event.setregid.egid = 20;
	j = render(&x.msg);
	e = check_top(j, ES_EVENT_TYPE_NOTIFY_SETREGID, "setregid");
	assert_int_equal(json_object_size(e), 2);
	assert_int_equal(INT_AT(e, "rgid"), 10);
	assert_int_equal(INT_AT(e, "egid"), 20);
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SETEUID);
	x.msg.event.seteuid.euid = 33;
	j = render(&x.msg);
	assert_int_equal(INT_AT(j, "event", "seteuid", "euid"), 33);
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_UNLINK);
	x.msg.event.unlink.target = &x.f1;
	x.msg.event.unlink.parent_dir = &x.f2;
	j = render(&x.msg);
	e = check_top(j, ES_EVENT_TYPE_NOTIFY_UNLINK, "unlink");
	check_file(AT(e, "target"), "/etc/passwd");
	check_file(AT(e, "parent_dir"), "/tmp");
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_CLOSE);
	x.msg.event.close.modified = true;
	x.msg.event.close.target = &x.f1;
	j = render(&x.msg);
	e = check_top(j, ES_EVENT_TYPE_NOTIFY_CLOSE, "close");
	static const char *const close_keys[] = { "modified", "target", "was_mapped_writable", NULL };
	assert_keys(e, close_keys);
	assert_true(json_is_true(AT(e, "modified")));
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SETOWNER);
	x.msg.event.setowner.uid = 5;
	x.msg.event.setowner.gid = (gid_t)-1;
	x.msg.event.setowner.target = &x.f1;
	j = render(&x.msg);
	e = check_top(j, ES_EVENT_TYPE_NOTIFY_SETOWNER, "setowner");
	assert_int_equal(INT_AT(e, "uid"), 5);
	assert_int_equal(INT_AT(e, "gid"), 4294967295LL);
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SETMODE);
	x.msg.event.setmode.mode = 0600;
	x.msg.event.setmode.target = &x.f1;
	j = render(&x.msg);
	assert_int_equal(INT_AT(j, "event", "setmode", "mode"), 0600);
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SIGNAL);
	x.msg.event.signal.sig = 15;
	x.msg.event.signal.target = &x.target;
	x.msg.event.signal.instigator = NULL;
	j = render(&x.msg);
	e = check_top(j, ES_EVENT_TYPE_NOTIFY_SIGNAL, "signal");
	static const char *const sig_keys[] = { "sig", "target", "instigator", NULL };
	assert_keys(e, sig_keys);
	assert_int_equal(INT_AT(e, "sig"), 15);
	check_process(AT(e, "target"), 1234, 12, "/usr/bin/true");
	assert_true(json_is_null(AT(e, "instigator")));
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_KEXTLOAD);
	x.msg.event.kextload.identifier = tok("ext4");
	j = render(&x.msg);
	assert_string_equal(STR_AT(j, "event", "kextload", "identifier"), "ext4");
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_TRACE);
	x.msg.event.trace.target = &x.target;
	j = render(&x.msg);
	check_process(AT(j, "event", "trace", "target"), 1234, 12, "/usr/bin/true");
	json_decref(j);
}

static void test_mount_json(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_MOUNT);
	x.statfs.f_bsize = 4096;
	x.statfs.f_type = 0xEF53;
	x.statfs.f_fsid.val[0] = 1;
	x.statfs.f_fsid.val[1] = -2;
	strcpy(x.statfs.f_fstypename, "ext4");
	strcpy(x.statfs.f_mntonname, "/mnt");
	strcpy(x.statfs.f_mntfromname, "/dev/sdb1");
	x.msg.event.mount.statfs = &x.statfs;
	x.msg.event.mount.disposition = ES_MOUNT_DISPOSITION_EXTERNAL;
	json_t *j = render(&x.msg);
	json_t *m = check_top(j, ES_EVENT_TYPE_NOTIFY_MOUNT, "mount");
	assert_int_equal(INT_AT(m, "disposition"), 0);
	json_t *s = AT(m, "statfs");
	assert_int_equal(INT_AT(s, "f_bsize"), 4096);
	assert_int_equal(INT_AT(s, "f_type"), 0xEF53);
	assert_string_equal(STR_AT(s, "f_fstypename"), "ext4");
	assert_string_equal(STR_AT(s, "f_mntonname"), "/mnt");
	assert_string_equal(STR_AT(s, "f_mntfromname"), "/dev/sdb1");
	assert_int_equal(int_of(json_array_get(AT(s, "f_fsid"), 1)), -2);
	json_decref(j);

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_UNMOUNT);
	strcpy(x.statfs.f_mntonname, "/mnt");
	x.msg.event.unmount.statfs = &x.statfs;
	j = render(&x.msg);
	assert_string_equal(STR_AT(j, "event", "unmount", "statfs", "f_mntonname"), "/mnt");
	json_decref(j);
}

/* Linux paths are bytes; the JSON must still be valid UTF-8. */
static void test_invalid_utf8(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_WRITE);
	x.f1 = file_make("/tmp/a\xff" "b\xc3\xa9\xe2\x82");
	x.msg.event.write.target = &x.f1;
	json_t *j = render(&x.msg);
	assert_string_equal(STR_AT(j, "event", "write", "target", "path"),
			    "/tmp/a\xef\xbf\xbd" "b\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
}

/* Fields newer than msg->version are left out; a NULL thread is null. */
static void test_version_guards(void **state)
{
	(void)state;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXIT);
	x.msg.thread = NULL;
	json_t *j = render(&x.msg);
	assert_true(json_is_null(AT(j, "thread")));
	json_decref(j);

	x.msg.version = 1;
	j = render(&x.msg);
	assert_null(json_object_get(j, "seq_num"));
	assert_null(json_object_get(j, "global_seq_num"));
	assert_null(json_object_get(j, "thread"));
	json_t *p = AT(j, "process");
	assert_null(json_object_get(p, "tty"));
	assert_null(json_object_get(p, "start_time"));
	assert_null(json_object_get(p, "parent_audit_token"));
	assert_null(json_object_get(p, "cs_validation_category"));
	assert_int_equal(INT_AT(j, "version"), 1);
	json_decref(j);

	/* uext's hash when it has one */
	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXIT);
	x.proc.uext_executable_hashed = true;
	memset(x.proc.uext_executable_sha256, 0xab, sizeof(x.proc.uext_executable_sha256));
	j = render(&x.msg);
	const char *h = STR_AT(j, "process", "uext_executable_sha256");
	assert_int_equal(strlen(h), 64);
	assert_string_equal(h + 60, "ABAB");
	json_decref(j);
}

/* ---------------------------------------------------------------------------------------
 * Names
 * ------------------------------------------------------------------------------------- */

static void test_names_round_trip(void **state)
{
	(void)state;
	unsigned named = 0;

	for (unsigned t = 0; t < ES_EVENT_TYPE_LAST; t++) {
		const char *name = eslog_event_name((es_event_type_t)t);
		if (!name)
			continue;
		named++;
		es_event_type_t back = ES_EVENT_TYPE_LAST;
		assert_int_equal(eslog_event_from_name(name, &back), 0);
		assert_int_equal(back, t);
		assert_string_equal(eslog_event_member((es_event_type_t)t), name);
	}
	/* every NOTIFY_* of es_types.h, none of the AUTH_* or RESERVED_* */
	assert_int_equal(named, 106);

	static const struct {
		const char *name;
		es_event_type_t type;
	} known[] = {
		{ "exec", ES_EVENT_TYPE_NOTIFY_EXEC },	       { "fork", ES_EVENT_TYPE_NOTIFY_FORK },
		{ "exit", ES_EVENT_TYPE_NOTIFY_EXIT },	       { "open", ES_EVENT_TYPE_NOTIFY_OPEN },
		{ "close", ES_EVENT_TYPE_NOTIFY_CLOSE },       { "create", ES_EVENT_TYPE_NOTIFY_CREATE },
		{ "unlink", ES_EVENT_TYPE_NOTIFY_UNLINK },     { "rename", ES_EVENT_TYPE_NOTIFY_RENAME },
		{ "write", ES_EVENT_TYPE_NOTIFY_WRITE },       { "setmode", ES_EVENT_TYPE_NOTIFY_SETMODE },
		{ "setowner", ES_EVENT_TYPE_NOTIFY_SETOWNER }, { "setuid", ES_EVENT_TYPE_NOTIFY_SETUID },
		{ "setgid", ES_EVENT_TYPE_NOTIFY_SETGID },     { "seteuid", ES_EVENT_TYPE_NOTIFY_SETEUID },
		{ "setegid", ES_EVENT_TYPE_NOTIFY_SETEGID },   { "setreuid", ES_EVENT_TYPE_NOTIFY_SETREUID },
		{ "setregid", ES_EVENT_TYPE_NOTIFY_SETREGID }, { "signal", ES_EVENT_TYPE_NOTIFY_SIGNAL },
		{ "mount", ES_EVENT_TYPE_NOTIFY_MOUNT },       { "unmount", ES_EVENT_TYPE_NOTIFY_UNMOUNT },
		{ "trace", ES_EVENT_TYPE_NOTIFY_TRACE },       { "kextload", ES_EVENT_TYPE_NOTIFY_KEXTLOAD },
		{ "get_task_read", ES_EVENT_TYPE_NOTIFY_GET_TASK_READ },
		{ "remote_thread_create", ES_EVENT_TYPE_NOTIFY_REMOTE_THREAD_CREATE },
		{ "btm_launch_item_add", ES_EVENT_TYPE_NOTIFY_BTM_LAUNCH_ITEM_ADD },
		{ "tcc_modify", ES_EVENT_TYPE_NOTIFY_TCC_MODIFY },
		{ "bootstrap_look_up", ES_EVENT_TYPE_NOTIFY_BOOTSTRAP_LOOK_UP },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		es_event_type_t t;
		assert_int_equal(eslog_event_from_name(known[i].name, &t), 0);
		assert_int_equal(t, known[i].type);
		assert_string_equal(eslog_event_name(known[i].type), known[i].name);
	}

	es_event_type_t t = ES_EVENT_TYPE_LAST;
	assert_int_equal(eslog_event_from_name("auth_exec", &t), -ENOENT);
	assert_int_equal(eslog_event_from_name("EXEC", &t), -ENOENT);
	assert_int_equal(eslog_event_from_name("reserved_0", &t), -ENOENT);
	assert_int_equal(eslog_event_from_name("", &t), -ENOENT);
	assert_int_equal(eslog_event_from_name(NULL, &t), -EINVAL);
	assert_int_equal(t, ES_EVENT_TYPE_LAST); /* untouched on failure */
	assert_null(eslog_event_name(ES_EVENT_TYPE_AUTH_EXEC));
	assert_string_equal(eslog_event_member(ES_EVENT_TYPE_AUTH_EXEC), "exec");
	assert_null(eslog_event_name(ES_EVENT_TYPE_RESERVED_0));
	assert_null(eslog_event_member(ES_EVENT_TYPE_RESERVED_0));
	assert_null(eslog_event_name(ES_EVENT_TYPE_LAST));
	assert_null(eslog_event_name((es_event_type_t)UEXT_ES_EVENT_TYPE_PRIVATE_BASE));
}

/* ---------------------------------------------------------------------------------------
 * Drop accounting
 * ------------------------------------------------------------------------------------- */

static void note(struct eslog_stats *s, struct fix *x, es_event_type_t type, uint64_t seq, uint64_t gseq)
{
	x->msg.event_type = type;
	x->msg.seq_num = seq;
	x->msg.global_seq_num = gseq;
	eslog_stats_note(s, &x->msg);
}

static void test_stats_gaps(void **state)
{
	(void)state;
	struct eslog_stats s;
	struct fix x;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXEC);
	eslog_stats_init(&s);
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_EXEC, 0, 0);
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_OPEN, 0, 1);
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_EXEC, 1, 2);
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_OPEN, 1, 3);
	assert_int_equal(eslog_stats_dropped(&s), 0);
	assert_int_equal(s.global_dropped, 0);

	/* exec 2 and 3 lost (global 4, 5), then open 2 lost (global 7) */
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_EXEC, 4, 6);
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_OPEN, 3, 8);
	assert_int_equal(s.dropped[ES_EVENT_TYPE_NOTIFY_EXEC], 2);
	assert_int_equal(s.dropped[ES_EVENT_TYPE_NOTIFY_OPEN], 1);
	assert_int_equal(eslog_stats_dropped(&s), 3);
	assert_int_equal(s.global_dropped, 3);
	assert_int_equal(s.seen[ES_EVENT_TYPE_NOTIFY_EXEC], 3);
	assert_int_equal(s.seen[ES_EVENT_TYPE_NOTIFY_OPEN], 3);
	assert_int_equal(s.total, 6);

	/* a gap in global_seq_num alone (lost in the kernel, or a muted marker) */
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_EXEC, 5, 10);
	assert_int_equal(s.dropped[ES_EVENT_TYPE_NOTIFY_EXEC], 2);
	assert_int_equal(s.global_dropped, 4);

	/* the first message of a type not at 0: those before it were lost */
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_FORK, 2, 11);
	assert_int_equal(s.dropped[ES_EVENT_TYPE_NOTIFY_FORK], 2);

	/* a number going back is not a drop and does not move the expectation */
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_FORK, 1, 12);
	assert_int_equal(s.dropped[ES_EVENT_TYPE_NOTIFY_FORK], 2);
	note(&s, &x, ES_EVENT_TYPE_NOTIFY_FORK, 3, 13);
	assert_int_equal(s.dropped[ES_EVENT_TYPE_NOTIFY_FORK], 2);
	assert_int_equal(s.global_dropped, 4);

	/* a type out of range is counted, not indexed */
	note(&s, &x, (es_event_type_t)UEXT_ES_EVENT_TYPE_PRIVATE_BASE, 0, 14);
	assert_int_equal(s.other, 1);
	assert_int_equal(s.total, 11);

	json_t *j = eslog_stats_json(&s);
	assert_non_null(j);
	assert_int_equal(INT_AT(j, "messages"), 11);
	assert_int_equal(INT_AT(j, "dropped"), 5);
	assert_int_equal(INT_AT(j, "global_dropped"), 4);
	assert_int_equal(INT_AT(j, "events", "exec", "seen"), 4);
	assert_int_equal(INT_AT(j, "events", "exec", "dropped"), 2);
	assert_int_equal(INT_AT(j, "events", "open", "dropped"), 1);
	assert_int_equal(INT_AT(j, "events", "fork", "seen"), 3);
	assert_int_equal(json_object_size(AT(j, "events")), 3);
	json_decref(j);

	char buf[512];
	int n = eslog_stats_text(&s, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_non_null(strstr(buf, "11 messages"));
	assert_non_null(strstr(buf, "exec 4 +2 dropped"));
	assert_non_null(strstr(buf, "dropped 5 by seq_num, 4 by global_seq_num"));
}

/* ---------------------------------------------------------------------------------------
 * Text
 * ------------------------------------------------------------------------------------- */

static void test_text(void **state)
{
	(void)state;
	struct fix x;
	static const char *args[] = { "true", "a" };
	char buf[512];

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXEC);
	x.msg.event.exec.target = &x.target;
	x.msg.event.exec.cwd = &x.cwd;
	nfixtures = 0;
	fixtures[nfixtures++] = (struct exec_fixture){ &x.msg.event.exec, args, 2, NULL, 0, NULL, 0 };
	int n = eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "08:00:00.123 exec pid=1234 ppid=1 uid=0 /usr/bin/bash -> /usr/bin/true [\"true\",\"a\"]");

	/* snprintf's contract when the buffer is short */
	char small[10];
	memset(small, 'x', sizeof(small));
	assert_int_equal(eslog_message_text(&x.msg, small, sizeof(small)), n);
	assert_string_equal(small, "08:00:00.");
	assert_int_equal(eslog_message_text(&x.msg, NULL, 0), n);
	nfixtures = 0;

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_OPEN);
	x.msg.event.open.fflag = FREAD;
	x.msg.event.open.file = &x.f1;
	eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_string_equal(buf, "08:00:00.123 open pid=1234 ppid=1 uid=0 /etc/passwd fflag=0x1 (/usr/bin/bash)");

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_RENAME);
	x.msg.event.rename.source = &x.f1;
	x.msg.event.rename.destination_type = ES_DESTINATION_TYPE_NEW_PATH;
	x.msg.event.rename.destination.new_path.dir = &x.f2;
	x.msg.event.rename.destination.new_path.filename = tok("p");
	eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_non_null(strstr(buf, " rename pid=1234 "));
	assert_non_null(strstr(buf, "/etc/passwd -> /tmp/p"));

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_SETUID);
	x.msg.event.setuid.uid = 1000;
	eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_non_null(strstr(buf, "setuid pid=1234 ppid=1 uid=0 -> uid=1000"));

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_EXIT);
	x.msg.event.exit.stat = 9;
	eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_non_null(strstr(buf, "exit pid=1234 ppid=1 uid=0 stat=9"));

	fix_init(&x, ES_EVENT_TYPE_NOTIFY_FORK);
	x.target.audit_token = uext_audit_token_make(0, 0, 0, 0, 0, 1300, 0, 13);
	x.msg.event.fork.child = &x.target;
	eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_non_null(strstr(buf, "fork pid=1234 ppid=1 uid=0 child=1300 /usr/bin/true"));

	/* a terminal never gets raw control bytes */
	fix_init(&x, ES_EVENT_TYPE_NOTIFY_UNLINK);
	x.f1 = file_make("/tmp/\x1b[2Jx\n");
	x.msg.event.unlink.target = &x.f1;
	x.msg.event.unlink.parent_dir = &x.f2;
	eslog_message_text(&x.msg, buf, sizeof(buf));
	assert_non_null(strstr(buf, "/tmp/\\x1b[2Jx\\x0a"));
	assert_null(strchr(buf, '\x1b'));
	assert_null(strchr(buf, '\n'));
}

static int setup_tz(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec_json),      cmocka_unit_test(test_exec_no_args),
		cmocka_unit_test(test_open_json),      cmocka_unit_test(test_fork_exit_json),
		cmocka_unit_test(test_rename_json),    cmocka_unit_test(test_create_json),
		cmocka_unit_test(test_small_events_json), cmocka_unit_test(test_mount_json),
		cmocka_unit_test(test_invalid_utf8),   cmocka_unit_test(test_version_guards),
		cmocka_unit_test(test_names_round_trip), cmocka_unit_test(test_stats_gaps),
		cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, setup_tz, NULL);
}
