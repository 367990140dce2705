/* hello.c: the example extension. It reports the sandbox it finds itself in (uid,
 * capabilities, no_new_privs, seccomp, read-only root), counts its starts in its
 * preferences, and logs a heartbeat when its "heartbeat_s" preference asks for one.
 * It exists to show and test the lifecycle; it is also the smallest template to copy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uext/extension.h>

struct hello {
	int heartbeat_timer;
	unsigned beats;
};

static void status_field(const char *name, char *out, size_t n)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	snprintf(out, n, "?");
	size_t l = strlen(name);
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, name, l) == 0 && line[l] == ':') {
			char *v = line + l + 1;
			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = 0;
			snprintf(out, n, "%s", v);
			break;
		}
	}
	if (f) fclose(f);
}

static void on_beat(uext_extension *ext, int id, void *data)
{
	struct hello *h = data;
	(void)id;
	uext_log(ext, UEXT_LOG_INFO, "heartbeat %u", ++h->beats);
}

static void apply_prefs(uext_extension *ext, struct hello *h)
{
	char *v = NULL;
	long secs = 0;
	if (uext_prefs_get(ext, "heartbeat_s", &v, NULL) == 0) secs = strtol(v, NULL, 10);
	free(v);
	if (h->heartbeat_timer > 0) uext_extension_remove_timer(ext, h->heartbeat_timer);
	h->heartbeat_timer = 0;
	if (secs > 0 && secs <= 86400)
		h->heartbeat_timer = uext_extension_add_timer(ext, 0, (uint64_t)secs * 1000, on_beat, h);
}

static int start(uext_extension *ext, void *data)
{
	struct hello *h = data;
	char uid[64], capeff[32], nnp[8], seccomp[8];
	status_field("Uid", uid, sizeof uid);
	uid[strcspn(uid, " \t")] = 0; /* real uid; effective and saved are the same */
	status_field("CapEff", capeff, sizeof capeff);
	status_field("NoNewPrivs", nnp, sizeof nnp);
	status_field("Seccomp", seccomp, sizeof seccomp);
	int fd = open("/etc/uext-hello-probe", O_WRONLY | O_CREAT, 0644);
	int rofs = fd < 0 ? errno : 0;
	if (fd >= 0) {
		close(fd);
		unlink("/etc/uext-hello-probe");
	}
	uext_log(ext, UEXT_LOG_NOTICE, "hello from %s %s: pid %d uid %s CapEff %s NoNewPrivs %s Seccomp %s; writing /etc: %s",
		 uext_extension_identifier(ext), uext_extension_version(ext), (int)getpid(), uid, capeff, nnp, seccomp,
		 rofs ? strerror(rofs) : "allowed?!");

	/* Count starts with a compare-and-swap save: it never loses a count even when an
	 * admin edits the same key at the same moment. */
	for (int tries = 0; tries < 8; tries++) {
		char *v = NULL, buf[32];
		uint64_t gen = 0;
		long n = 0;
		int r = uext_prefs_get(ext, "starts", &v, &gen);
		if (r == 0) n = strtol(v, NULL, 10);
		free(v);
		if (r < 0 && r != -ENOENT) break;
		snprintf(buf, sizeof buf, "%ld", n + 1);
		r = uext_prefs_save(ext, "starts", buf, r == -ENOENT ? 0 : gen, NULL);
		if (r != -ESTALE) break;
	}
	apply_prefs(ext, h);
	return 0;
}

static void stop(uext_extension *ext, void *data)
{
	struct hello *h = data;
	uext_log(ext, UEXT_LOG_NOTICE, "stopping after %u heartbeats", h->beats);
}

static void prefs_changed(uext_extension *ext, const char *key, void *data)
{
	uext_log(ext, UEXT_LOG_INFO, "preference '%s' changed", key);
	apply_prefs(ext, data);
}

int main(int argc, char **argv)
{
	struct hello h = { 0 };
	const struct uext_extension_callbacks cb = { .start = start, .stop = stop, .prefs_changed = prefs_changed };
	return uext_extension_main(argc, argv, &cb, &h);
}
