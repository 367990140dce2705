/* urlfilter.c: the bundled URL filter, a network-filter extension. It owns the filter
 * connection, the current rule set (rules.c decides; this file only turns flows into
 * queries and decisions into verdicts and log lines) and the blocked/allowed counters.
 *   blocked pid=123 exe=/usr/bin/curl uid=0 host=blocked.test url= remote=10.0.0.2:443 rule=block:blocked.test
 * Preferences (docs/urlfilter.md): default, block, allow, apps, categories, log_allowed,
 * block_quic, cache_ttl_ms. Any change reloads everything into a new rule set which
 * replaces the old one only when it loaded completely. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <uext/extension.h>
#include <uext/ne.h>

#include "rules.h"

#define PEEK_BYTES 2048u
#define SUMMARY_MS 60000u
#define SEEN_CAPACITY 49152u
#define LOG_FIELD_MAX 256u

struct urlfilter {
	uext_extension *ext;
	uext_ne_filter *f;
	struct uf_rules *rules;
	struct uf_seen *seen;
	struct uext_ne_rule quic_rule;
	uint64_t blocked, allowed;
	uint64_t last_blocked, last_allowed; /* at the previous summary */
	int timer;
	bool fd_added;
	bool clear_cache; /* an address became tainted: drop the kernel's cached allows */
};

/* A field of the log line: bytes outside printable ASCII, spaces and '%' become %XX, so
 * a crafted SNI or URL cannot forge fields or lines. Cut at LOG_FIELD_MAX. */
static const char *field(const char *s, char *buf, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	if (!s || !s[0]) return "-";
	for (; *s && o + 4 < n && o < LOG_FIELD_MAX; s++) {
		unsigned char c = (unsigned char)*s;
		if (c > ' ' && c < 0x7f && c != '%') {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '%';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	if (*s && o + 4 < n) buf[o++] = '~'; /* cut */
	buf[o] = 0;
	return buf;
}

static void remote_text(const struct uext_ne_endpoint *e, char *buf, size_t n)
{
	char a[64];
	if (!uext_ne_addr_str(e, a, sizeof a)) snprintf(a, sizeof a, "?");
	if (e->family == AF_INET6) snprintf(buf, n, "[%s]:%u", a, e->port);
	else snprintf(buf, n, "%s:%u", a, e->port);
}

static void query_from_flow(const struct urlfilter *u, const struct uext_ne_flow *flow, struct uf_query *q)
{
	memset(q, 0, sizeof *q);
	q->host = flow->hostname;
	q->url = flow->url;
	q->exe = flow->exe;
	q->cgroup = flow->cgroup;
	q->uid = flow->uid;
	q->remote.family = flow->remote.family;
	memcpy(q->remote.addr, flow->remote.addr, sizeof q->remote.addr);
	q->port = flow->remote.port;
	q->protocol = flow->protocol;
	q->seen = u->seen;
}

static void log_flow(struct urlfilter *u, const struct uext_ne_flow *flow, const struct uf_decision *d)
{
	char exe[LOG_FIELD_MAX + 8], host[LOG_FIELD_MAX + 8], url[LOG_FIELD_MAX + 8], rule[LOG_FIELD_MAX + 8];
	char remote[80];
	remote_text(&flow->remote, remote, sizeof remote);
	uext_log(u->ext, d->action == UF_BLOCK ? UEXT_LOG_NOTICE : UEXT_LOG_INFO,
		 "%s pid=%d exe=%s uid=%lld host=%s url=%s remote=%s rule=%s",
		 d->action == UF_BLOCK ? "blocked" : "allowed", (int)flow->pid, field(flow->exe, exe, sizeof exe),
		 flow->uid == (uint32_t)-1 ? -1LL : (long long)flow->uid, field(flow->hostname, host, sizeof host),
		 field(flow->url, url, sizeof url), remote, field(d->rule, rule, sizeof rule));
}

/* The verdict for what is known of flow now; no allocation. */
static struct uext_ne_verdict decide(struct urlfilter *u, const struct uext_ne_flow *flow)
{
	struct uf_query q;
	struct uf_decision d;
	struct uext_ne_verdict v = { .action = UEXT_NE_ALLOW };
	query_from_flow(u, flow, &q);
	if (uf_decide(u->rules, &q, &d) < 0) return v;
	if (d.taint && uf_seen_add(u->seen, &q.remote) == 1 && uf_rules_cache_ttl_ms(u->rules) > 0)
		u->clear_cache = true;
	if (d.action == UF_BLOCK) {
		u->blocked++;
		v.action = UEXT_NE_DROP;
		log_flow(u, flow, &d);
	} else {
		u->allowed++;
		if (d.cacheable) v.cache_ttl_ms = uf_rules_cache_ttl_ms(u->rules);
		if (uf_rules_log_allowed(u->rules)) log_flow(u, flow, &d);
	}
	return v;
}

static struct uext_ne_verdict on_new_flow(uext_ne_filter *f, const struct uext_ne_flow *flow, void *ctx)
{
	struct urlfilter *u = ctx;
	(void)f;
	/* connections made to this host are not a URL filter's business */
	if (flow->direction == UEXT_NE_INBOUND) return (struct uext_ne_verdict){ .action = UEXT_NE_ALLOW };
	/* No name yet and no byte seen (first_data_peek did not apply): look at the first
	 * outbound bytes, where the SNI or Host header is. UDP (DNS among it) is decided now. */
	if (flow->protocol == IPPROTO_TCP && !flow->hostname[0] && !flow->url[0] && flow->bytes_out == 0 &&
	    !(flow->flags & UEXT_NE_FLOW_MIDSTREAM))
		return (struct uext_ne_verdict){ .action = UEXT_NE_PEEK, .peek_outbound = PEEK_BYTES };
	return decide(u, flow);
}

/* Whatever the bytes: uextd has parsed what they tell into flow; decide with that (no
 * name: address rules, else the default). */
static struct uext_ne_verdict on_data(uext_ne_filter *f, const struct uext_ne_flow *flow, int dir,
				      const uint8_t *bytes, size_t len, int complete, void *ctx)
{
	(void)f, (void)dir, (void)bytes, (void)len, (void)complete;
	return decide(ctx, flow);
}

static void on_filter_fd(uext_extension *ext, int fd, uint32_t revents, void *data)
{
	struct urlfilter *u = data;
	(void)fd, (void)revents;
	int r = uext_ne_filter_dispatch(u->f);
	if (r < 0) {
		uext_log(ext, UEXT_LOG_ERR, "connection to the network filter engine lost: %s; exiting to be restarted",
			 strerror(-r));
		uext_extension_quit(ext, 1);
		return;
	}
	/* outside the handlers: the filter is not re-entered from its own callbacks */
	if (u->clear_cache) {
		u->clear_cache = false;
		r = uext_ne_filter_clear_cache(u->f);
		if (r < 0) uext_log(ext, UEXT_LOG_WARNING, "clearing the kernel allow cache failed: %s", strerror(-r));
	}
}

static void on_summary(uext_extension *ext, int timer_id, void *data)
{
	struct urlfilter *u = data;
	(void)timer_id;
	if (u->blocked == u->last_blocked && u->allowed == u->last_allowed) return;
	uext_log(ext, UEXT_LOG_NOTICE, "summary: %llu blocked, %llu allowed in the last %u s (%llu, %llu since start)",
		 (unsigned long long)(u->blocked - u->last_blocked), (unsigned long long)(u->allowed - u->last_allowed),
		 SUMMARY_MS / 1000, (unsigned long long)u->blocked, (unsigned long long)u->allowed);
	u->last_blocked = u->blocked;
	u->last_allowed = u->allowed;
}

static int pref_get(void *ctx, const char *key, char **ret_json)
{
	return uext_prefs_get(ctx, key, ret_json, NULL);
}

static void log_loaded(struct urlfilter *u, const char *why)
{
	struct uf_stats st;
	uf_rules_stats(u->rules, &st);
	uext_log(u->ext, UEXT_LOG_NOTICE,
		 "rules %s: %zu names, %zu URL prefixes, %zu address rules, %zu apps, %zu categories (%zu KiB)", why,
		 st.names, st.url_rules, st.addr_rules, st.apps, st.categories, st.bytes / 1024);
	const char *w = uf_rules_warnings(u->rules);
	if (w[0]) uext_log(u->ext, UEXT_LOG_WARNING, "%s", w);
}

/* Kernel-side rules: with block_quic, UDP/443 is dropped by uextd without asking us. */
static void settings_for(struct urlfilter *u, struct uext_ne_settings *s)
{
	memset(s, 0, sizeof *s);
	s->first_data_peek = PEEK_BYTES;
	if (uf_rules_block_quic(u->rules)) {
		u->quic_rule = (struct uext_ne_rule){ .action = UEXT_NE_RULE_DROP, .direction = UEXT_NE_OUTBOUND,
						     .protocol = IPPROTO_UDP, .port_min = 443, .port_max = 443,
						     .uid = -1 };
		s->rules = &u->quic_rule;
		s->nrules = 1;
	}
}

static int start(uext_extension *ext, void *data)
{
	struct urlfilter *u = data;
	char err[512];
	u->ext = ext;
	int r = uf_seen_new(SEEN_CAPACITY, &u->seen);
	if (r < 0) goto oom;
	r = uf_rules_load(pref_get, ext, uext_extension_data_dir(ext), &u->rules, err, sizeof err);
	if (r < 0) {
		/* Running with nothing lets a fixed preference take effect without a restart;
		 * a crash loop would filter nothing either. */
		uext_log(ext, UEXT_LOG_ERR, "rules not loaded: %s; allowing everything until the preferences are fixed",
			 err);
		r = uf_rules_load_json("{}", NULL, &u->rules, err, sizeof err);
		if (r < 0) goto oom;
	} else {
		log_loaded(u, "loaded");
	}
	const struct uext_ne_filter_callbacks cb = { .new_flow = on_new_flow, .data = on_data };
	struct uext_ne_settings settings;
	settings_for(u, &settings);
	r = uext_ne_filter_new(&u->f, &cb, &settings, u);
	if (r < 0) {
		uext_log(ext, UEXT_LOG_ERR, "cannot become the network filter: %s", strerror(-r));
		return r;
	}
	r = uext_extension_add_fd(ext, uext_ne_filter_fd(u->f), EPOLLIN, on_filter_fd, u);
	if (r < 0) {
		uext_log(ext, UEXT_LOG_ERR, "cannot watch the filter connection: %s", strerror(-r));
		return r;
	}
	u->fd_added = true;
	u->timer = uext_extension_add_timer(ext, SUMMARY_MS, SUMMARY_MS, on_summary, u);
	if (u->timer < 0) uext_log(ext, UEXT_LOG_WARNING, "no summary timer: %s", strerror(-u->timer));
	uext_log(ext, UEXT_LOG_NOTICE, "filtering new connections");
	return 0;
oom:
	uext_log(ext, UEXT_LOG_ERR, "out of memory at start");
	return -ENOMEM;
}

static void stop(uext_extension *ext, void *data)
{
	struct urlfilter *u = data;
	if (u->timer > 0) uext_extension_remove_timer(ext, u->timer);
	if (u->fd_added) uext_extension_remove_fd(ext, uext_ne_filter_fd(u->f));
	if (u->f) uext_ne_filter_free(u->f);
	u->f = NULL;
	uext_log(ext, UEXT_LOG_NOTICE, "stopped after %llu blocked and %llu allowed flows",
		 (unsigned long long)u->blocked, (unsigned long long)u->allowed);
	u->rules = uf_rules_free(u->rules);
	u->seen = uf_seen_free(u->seen);
}

static void prefs_changed(uext_extension *ext, const char *key, void *data)
{
	struct urlfilter *u = data;
	char err[512];
	bool quic_before = uf_rules_block_quic(u->rules);
	/* every key is reloaded: a rule set is consistent only as a whole */
	int r = uf_rules_reload(&u->rules, pref_get, ext, uext_extension_data_dir(ext), err, sizeof err);
	if (r < 0) {
		uext_log(ext, UEXT_LOG_WARNING, "reload after '%s' changed failed: %s; keeping the previous rules", key,
			 err);
		return;
	}
	char why[320];
	snprintf(why, sizeof why, "reloaded after '%s' changed", key);
	log_loaded(u, why);
	if (!u->f) return;
	/* allows cached under the old rules may be wrong under the new ones */
	r = uext_ne_filter_clear_cache(u->f);
	if (r < 0) uext_log(ext, UEXT_LOG_WARNING, "clearing the kernel allow cache failed: %s", strerror(-r));
	if (quic_before != uf_rules_block_quic(u->rules)) {
		struct uext_ne_settings s;
		settings_for(u, &s);
		r = uext_ne_filter_apply_settings(u->f, &s);
		if (r < 0) uext_log(ext, UEXT_LOG_WARNING, "applying block_quic failed: %s", strerror(-r));
	}
}

int main(int argc, char **argv)
{
	struct urlfilter u = { 0 };
	const struct uext_extension_callbacks cb = { .start = start, .stop = stop, .prefs_changed = prefs_changed };
	return uext_extension_main(argc, argv, &cb, &u);
}
