/* execlog.c: the exec logger, a bundled Endpoint Security extension. It is an ES client
 * like any macOS one (es_new_client_f, es_subscribe, es_mute_process) that runs inside
 * uextd's sandbox, and logs one line per program started on the host:
 *   exec pid=1234 ppid=1 uid=0 /usr/bin/true argv=["true","a"] (cwd /root)
 * Preference "mute_prefixes": a JSON array of path prefixes of programs not to log (target
 * path muting: the program started, not the one that started it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uext/es.h>
#include <uext/extension.h>

struct execlog {
	uext_extension *ext;
	es_client_t *client;
	unsigned long seen;
};

/* "a b" -> ["a","b"], capped: a log line is no place for a 100 KB command line. */
static void argv_text(const es_event_exec_t *x, char *out, size_t n)
{
	json_t *a = json_array();
	uint32_t argc = es_exec_arg_count(x);
	for (uint32_t i = 0; i < argc && i < 32; i++) json_array_append_new(a, json_stringn(es_exec_arg(x, i).data, es_exec_arg(x, i).length));
	char *s = json_dumps(a, JSON_COMPACT);
	snprintf(out, n, "%s%s", s ? s : "[]", argc > 32 ? " ..." : "");
	free(s);
	json_decref(a);
}

static void on_message(es_client_t *c, const es_message_t *m, void *ctx)
{
	struct execlog *x = ctx;
	(void)c;
	if (m->event_type != ES_EVENT_TYPE_NOTIFY_EXEC) return;
	const es_process_t *t = m->event.exec.target;
	char argv[512];
	argv_text(&m->event.exec, argv, sizeof argv);
	x->seen++;
	uext_log(x->ext, UEXT_LOG_INFO, "exec pid=%d ppid=%d uid=%u %s argv=%s (cwd %s)", audit_token_to_pid(t->audit_token),
		 t->ppid, audit_token_to_ruid(t->audit_token), t->executable->path.data, argv,
		 m->event.exec.cwd->path.data);
}

static void apply_mutes(struct execlog *x)
{
	char *v = NULL;
	es_unmute_all_target_paths(x->client);
	if (uext_prefs_get(x->ext, "mute_prefixes", &v, NULL) < 0) return;
	json_t *a = json_loads(v, 0, NULL);
	size_t i;
	json_t *p;
	json_array_foreach(a, i, p)
		if (json_is_string(p)) es_mute_path(x->client, json_string_value(p), ES_MUTE_PATH_TYPE_TARGET_PREFIX);
	json_decref(a);
	free(v);
}

static int start(uext_extension *ext, void *data)
{
	struct execlog *x = data;
	x->ext = ext;
	es_new_client_result_t r = es_new_client_f(&x->client, on_message, x);
	if (r != ES_NEW_CLIENT_RESULT_SUCCESS) {
		uext_log(ext, UEXT_LOG_ERR, "es_new_client failed: %d", (int)r);
		return -1;
	}
	audit_token_t self;
	if (uext_es_client_self_token(x->client, &self) == ES_RETURN_SUCCESS) es_mute_process(x->client, &self);
	apply_mutes(x);
	es_event_type_t ev[] = { ES_EVENT_TYPE_NOTIFY_EXEC };
	if (es_subscribe(x->client, ev, 1) != ES_RETURN_SUCCESS) {
		uext_log(ext, UEXT_LOG_ERR, "es_subscribe(NOTIFY_EXEC) failed");
		return -1;
	}
	uext_log(ext, UEXT_LOG_NOTICE, "logging every exec on this host");
	return 0;
}

static void stop(uext_extension *ext, void *data)
{
	struct execlog *x = data;
	es_delete_client(x->client);
	uext_log(ext, UEXT_LOG_NOTICE, "stopped after %lu execs", x->seen);
}

static void prefs_changed(uext_extension *ext, const char *key, void *data)
{
	(void)ext;
	if (strcmp(key, "mute_prefixes") == 0) apply_mutes(data);
}

int main(int argc, char **argv)
{
	struct execlog x = { 0 };
	const struct uext_extension_callbacks cb = { .start = start, .stop = stop, .prefs_changed = prefs_changed };
	return uext_extension_main(argc, argv, &cb, &x);
}
