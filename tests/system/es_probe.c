/* es_probe: an ES client for the system tests, written against include/uext/es.h only.
 * It subscribes to what its options say, answers AUTH messages by rule, and prints one
 * JSON object per message on stdout (flushed per line) so a test can assert on them.
 *
 *   es_probe [options] EVENT...       EVENT: auth_exec auth_open exec fork exit open close
 *                                     create unlink rename write setmode setowner setuid
 *                                     setgid seteuid setegid setreuid setregid signal
 *                                     mount unmount trace kextload
 *   --deny SUBSTR      deny AUTH messages whose target path contains SUBSTR (repeatable)
 *   --cache            answer with cache = true
 *   --silent           never answer AUTH messages (a stalled client)
 *   --slow-us N        sleep N µs in the handler (a slow client: forces drops)
 *   --delay-us N       sleep N µs before answering an AUTH message (a slow decision)
 *   --mute-path TYPE:PATH   es_mute_path (TYPE prefix|literal|target_prefix|target_literal)
 *   --invert KIND      es_invert_muting (process|path|target_path)
 *   --mute-self        es_mute_process(own token)
 *   --colocate         uext_es_set_colocation(true): the handler follows uextd's CPU
 *   --mute-proc-of EXE es_mute_process() the first process seen running EXE; prints
 *                      {"muted":PID}
 *   --quiet            print only the summary
 * Prints "ready" once subscribed; on SIGTERM/SIGINT it waits (es_sync_client) until
 * every message uextd queued before then has been handled, and prints a summary line
 * {"summary":{"messages":N,"seq_gaps":G,"global_gaps":H}} and exits 0. */
#include <errno.h>
#include <jansson.h>
#include <semaphore.h>
#include <time.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uext/es.h>

static const struct {
	const char *name;
	es_event_type_t t;
} names[] = {
	{ "auth_exec", ES_EVENT_TYPE_AUTH_EXEC },	{ "auth_open", ES_EVENT_TYPE_AUTH_OPEN },
	{ "exec", ES_EVENT_TYPE_NOTIFY_EXEC },		{ "fork", ES_EVENT_TYPE_NOTIFY_FORK },
	{ "exit", ES_EVENT_TYPE_NOTIFY_EXIT },		{ "open", ES_EVENT_TYPE_NOTIFY_OPEN },
	{ "close", ES_EVENT_TYPE_NOTIFY_CLOSE },	{ "create", ES_EVENT_TYPE_NOTIFY_CREATE },
	{ "unlink", ES_EVENT_TYPE_NOTIFY_UNLINK },	{ "rename", ES_EVENT_TYPE_NOTIFY_RENAME },
	{ "write", ES_EVENT_TYPE_NOTIFY_WRITE },	{ "setmode", ES_EVENT_TYPE_NOTIFY_SETMODE },
	{ "setowner", ES_EVENT_TYPE_NOTIFY_SETOWNER },	{ "setuid", ES_EVENT_TYPE_NOTIFY_SETUID },
	{ "setgid", ES_EVENT_TYPE_NOTIFY_SETGID },	{ "seteuid", ES_EVENT_TYPE_NOTIFY_SETEUID },
	{ "setegid", ES_EVENT_TYPE_NOTIFY_SETEGID },	{ "setreuid", ES_EVENT_TYPE_NOTIFY_SETREUID },
	{ "setregid", ES_EVENT_TYPE_NOTIFY_SETREGID },	{ "signal", ES_EVENT_TYPE_NOTIFY_SIGNAL },
	{ "mount", ES_EVENT_TYPE_NOTIFY_MOUNT },	{ "unmount", ES_EVENT_TYPE_NOTIFY_UNMOUNT },
	{ "trace", ES_EVENT_TYPE_NOTIFY_TRACE },	{ "kextload", ES_EVENT_TYPE_NOTIFY_KEXTLOAD },
};

static const char *deny[16];
static int ndeny;
static bool cache, silent, quiet;
static const char *mute_proc_of;
static atomic_bool muted_once;
static unsigned slow_us, delay_us;
static atomic_ulong messages, seq_gaps, global_gaps;
static uint64_t last_seq[ES_EVENT_TYPE_LAST];
static bool seen[ES_EVENT_TYPE_LAST];
static uint64_t last_global;
static bool seen_global;

static const char *type_name(es_event_type_t t)
{
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].t == t) return names[i].name;
	return "?";
}

static const es_file_t *target_file(const es_message_t *m)
{
	switch (m->event_type) {
	case ES_EVENT_TYPE_AUTH_EXEC:
	case ES_EVENT_TYPE_NOTIFY_EXEC: return m->event.exec.target->executable;
	case ES_EVENT_TYPE_AUTH_OPEN:
	case ES_EVENT_TYPE_NOTIFY_OPEN: return m->event.open.file;
	case ES_EVENT_TYPE_NOTIFY_CLOSE: return m->event.close.target;
	case ES_EVENT_TYPE_NOTIFY_CREATE: return m->event.create.destination.existing_file;
	case ES_EVENT_TYPE_NOTIFY_UNLINK: return m->event.unlink.target;
	case ES_EVENT_TYPE_NOTIFY_RENAME: return m->event.rename.source;
	case ES_EVENT_TYPE_NOTIFY_WRITE: return m->event.write.target;
	case ES_EVENT_TYPE_NOTIFY_SETMODE: return m->event.setmode.target;
	case ES_EVENT_TYPE_NOTIFY_SETOWNER: return m->event.setowner.target;
	default: return NULL;
	}
}

static json_t *proc_json(const es_process_t *p)
{
	char hex[65] = "";
	if (p->uext_executable_hashed)
		for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", p->uext_executable_sha256[i]);
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:i, s:b}", "pid", audit_token_to_pid(p->audit_token),
			 "pidversion", audit_token_to_pidversion(p->audit_token), "ppid", p->ppid, "original_ppid",
			 p->original_ppid, "ruid", audit_token_to_ruid(p->audit_token), "exe",
			 p->executable->path.data ? p->executable->path.data : "", "sha256", hex, "euid",
			 audit_token_to_euid(p->audit_token), "es_client", p->is_es_client);
}

static void handler(es_client_t *c, const es_message_t *m, void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&messages, 1);
	es_event_type_t t = m->event_type;
	if (t < ES_EVENT_TYPE_LAST) {
		if (seen[t] && m->seq_num != last_seq[t] + 1) atomic_fetch_add(&seq_gaps, m->seq_num - last_seq[t] - 1);
		seen[t] = true;
		last_seq[t] = m->seq_num;
	}
	if (seen_global && m->global_seq_num != last_global + 1)
		atomic_fetch_add(&global_gaps, m->global_seq_num - last_global - 1);
	seen_global = true;
	last_global = m->global_seq_num;
	if (mute_proc_of && !atomic_load(&muted_once) && m->process->executable->path.data &&
	    strcmp(m->process->executable->path.data, mute_proc_of) == 0) {
		atomic_store(&muted_once, true);
		if (es_mute_process(c, &m->process->audit_token) == ES_RETURN_SUCCESS)
			printf("{\"muted\":%d}\n", audit_token_to_pid(m->process->audit_token));
	}
	const es_file_t *f = target_file(m);
	const char *path = f && f->path.data ? f->path.data : "";
	bool allow = true;
	for (int i = 0; i < ndeny; i++)
		if (strstr(path, deny[i])) allow = false;
	if (!quiet) {
		json_t *o = json_pack("{s:s, s:b, s:s, s:I, s:I, s:o}", "type", type_name(t), "auth",
				      m->action_type == ES_ACTION_TYPE_AUTH, "path", path, "seq", (json_int_t)m->seq_num,
				      "gseq", (json_int_t)m->global_seq_num, "process", proc_json(m->process));
		if (t == ES_EVENT_TYPE_NOTIFY_EXEC || t == ES_EVENT_TYPE_AUTH_EXEC) {
			const es_event_exec_t *x = &m->event.exec;
			json_t *argv = json_array();
			for (uint32_t i = 0; i < es_exec_arg_count(x); i++)
				json_array_append_new(argv, json_string(es_exec_arg(x, i).data));
			json_object_set_new(o, "argv", argv);
			json_t *env = json_array();
			for (uint32_t i = 0; i < es_exec_env_count(x); i++)
				json_array_append_new(env, json_string(es_exec_env(x, i).data));
			json_object_set_new(o, "env", env);
			json_object_set_new(o, "target", proc_json(x->target));
			json_object_set_new(o, "cwd", json_string(x->cwd->path.data ? x->cwd->path.data : ""));
		}
		if (t == ES_EVENT_TYPE_NOTIFY_FORK) json_object_set_new(o, "child", proc_json(m->event.fork.child));
		if (t == ES_EVENT_TYPE_NOTIFY_EXIT) json_object_set_new(o, "stat", json_integer(m->event.exit.stat));
		if (t == ES_EVENT_TYPE_NOTIFY_SETMODE) json_object_set_new(o, "mode", json_integer(m->event.setmode.mode));
		if (t == ES_EVENT_TYPE_NOTIFY_SETUID) json_object_set_new(o, "uid", json_integer(m->event.setuid.uid));
		if (t == ES_EVENT_TYPE_NOTIFY_SETREUID) {
			json_object_set_new(o, "uid", json_integer(m->event.setreuid.ruid));
			json_object_set_new(o, "euid", json_integer(m->event.setreuid.euid));
		}
		if (t == ES_EVENT_TYPE_NOTIFY_SIGNAL) {
			json_object_set_new(o, "sig", json_integer(m->event.signal.sig));
			json_object_set_new(o, "target", proc_json(m->event.signal.target));
		}
		if (t == ES_EVENT_TYPE_NOTIFY_RENAME)
			json_object_set_new(o, "new_name",
					    json_string(m->event.rename.destination.new_path.filename.data
							    ? m->event.rename.destination.new_path.filename.data
							    : ""));
		if (m->action_type == ES_ACTION_TYPE_AUTH) json_object_set_new(o, "verdict", json_string(allow ? "allow" : "deny"));
		char *s = json_dumps(o, JSON_COMPACT);
		if (s) printf("%s\n", s);
		free(s);
		json_decref(o);
		fflush(stdout);
	}
	if (m->action_type == ES_ACTION_TYPE_AUTH && !silent) {
		if (delay_us) usleep(delay_us);
		if (t == ES_EVENT_TYPE_AUTH_OPEN)
			es_respond_flags_result(c, m, allow ? UINT32_MAX : 0, cache && allow);
		else
			es_respond_auth_result(c, m, allow ? ES_AUTH_RESULT_ALLOW : ES_AUTH_RESULT_DENY, cache && allow);
	}
	if (slow_us) usleep(slow_us);
}

static sem_t synced;
static void on_synced(void *ctx)
{
	(void)ctx;
	sem_post(&synced);
}

static int fail(const char *what)
{
	fprintf(stderr, "es_probe: %s failed\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	es_event_type_t subs[64];
	uint32_t nsubs = 0;
	const char *mutes[16];
	int nmutes = 0;
	const char *inverts[4];
	int ninverts = 0;
	bool mute_self = false, colocate = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--deny") && i + 1 < argc && ndeny < 16) deny[ndeny++] = argv[++i];
		else if (!strcmp(a, "--cache")) cache = true;
		else if (!strcmp(a, "--silent")) silent = true;
		else if (!strcmp(a, "--quiet")) quiet = true;
		else if (!strcmp(a, "--mute-self")) mute_self = true;
		else if (!strcmp(a, "--colocate")) colocate = true;
		else if (!strcmp(a, "--slow-us") && i + 1 < argc) slow_us = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--delay-us") && i + 1 < argc) delay_us = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--mute-path") && i + 1 < argc && nmutes < 16) mutes[nmutes++] = argv[++i];
		else if (!strcmp(a, "--invert") && i + 1 < argc && ninverts < 4) inverts[ninverts++] = argv[++i];
		else if (!strcmp(a, "--mute-proc-of") && i + 1 < argc) mute_proc_of = argv[++i];
		else {
			size_t k = 0;
			while (k < sizeof names / sizeof *names && strcmp(names[k].name, a)) k++;
			if (k == sizeof names / sizeof *names || nsubs == 64) {
				fprintf(stderr, "es_probe: unknown argument '%s'\n", a);
				return 2;
			}
			subs[nsubs++] = names[k].t;
		}
	}
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	es_client_t *c;
	es_new_client_result_t r = es_new_client_f(&c, handler, NULL);
	if (r != ES_NEW_CLIENT_RESULT_SUCCESS) {
		fprintf(stderr, "es_probe: es_new_client: %d\n", (int)r);
		return 3;
	}
	for (int i = 0; i < nmutes; i++) {
		const char *colon = strchr(mutes[i], ':');
		if (!colon) return fail("--mute-path TYPE:PATH");
		size_t n = (size_t)(colon - mutes[i]);
		es_mute_path_type_t t = !strncmp(mutes[i], "prefix", n)		   ? ES_MUTE_PATH_TYPE_PREFIX
					: !strncmp(mutes[i], "literal", n)	   ? ES_MUTE_PATH_TYPE_LITERAL
					: !strncmp(mutes[i], "target_prefix", n) ? ES_MUTE_PATH_TYPE_TARGET_PREFIX
										   : ES_MUTE_PATH_TYPE_TARGET_LITERAL;
		if (es_mute_path(c, colon + 1, t) != ES_RETURN_SUCCESS) return fail("es_mute_path");
	}
	for (int i = 0; i < ninverts; i++) {
		es_mute_inversion_type_t t = !strcmp(inverts[i], "process") ? ES_MUTE_INVERSION_TYPE_PROCESS
					     : !strcmp(inverts[i], "path")  ? ES_MUTE_INVERSION_TYPE_PATH
									    : ES_MUTE_INVERSION_TYPE_TARGET_PATH;
		if (es_invert_muting(c, t) != ES_RETURN_SUCCESS) return fail("es_invert_muting");
	}
	if (colocate && uext_es_set_colocation(c, true) != ES_RETURN_SUCCESS) return fail("uext_es_set_colocation");
	if (mute_self) {
		audit_token_t self;
		if (uext_es_client_self_token(c, &self) != ES_RETURN_SUCCESS || es_mute_process(c, &self) != ES_RETURN_SUCCESS)
			return fail("es_mute_process(self)");
	}
	if (nsubs && es_subscribe(c, subs, nsubs) != ES_RETURN_SUCCESS) return fail("es_subscribe");
	printf("ready\n");
	fflush(stdout);
	int sig;
	sigwait(&ss, &sig);
	sem_init(&synced, 0, 0);
	if (es_sync_client_f(c, on_synced, NULL) == ES_RETURN_SUCCESS) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 30;
		while (sem_timedwait(&synced, &until) < 0 && errno == EINTR) {}
	}
	es_delete_client(c);
	printf("{\"summary\":{\"messages\":%lu,\"seq_gaps\":%lu,\"global_gaps\":%lu}}\n", atomic_load(&messages),
	       atomic_load(&seq_gaps), atomic_load(&global_gaps));
	return 0;
}
