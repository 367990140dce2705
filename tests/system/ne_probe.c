/* ne_probe: a network filter for the system tests, written against <uext/ne.h> only.
 * Prints one JSON line per decision on stdout (flushed), "ready" on stderr once connected.
 *   --block NAME      drop flows whose host name is NAME or ends in .NAME (repeatable)
 *   --block-exe PATH  drop flows of that executable
 *   --peek N          settings.first_data_peek (0 = new_flow at the first packet)
 *   --want N          without a host name yet: PEEK N outbound bytes (default 2048)
 *   --cache-ttl MS    allow verdicts are cached in the kernel for MS
 *   --stall           stop itself (SIGSTOP) once connected: never answers, like a hung filter
 *   --pause-ms MS     PAUSE every flow, resume with the verdict MS later
 *   --block-in STR    peek 512 inbound bytes of outbound TCP flows; drop those containing STR
 *   --rule SPEC       a static rule: allow|drop,tcp|udp|any,ADDR/PREFIX|any,PORT|0[,exe=PATH]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uext/ne.h>

static const char *blocks[32];
static size_t nblocks;
static const char *block_exe, *block_in;
static uint32_t want = 2048, cache_ttl;
static int stall, pause_ms;
static volatile sig_atomic_t quit;

struct paused {
	uint64_t id;
	struct uext_ne_verdict v;
	struct timespec at;
};
static struct paused paused[256];
static size_t npaused;

static int blocked(const char *host)
{
	for (size_t i = 0; i < nblocks; i++) {
		size_t hl = strlen(host), bl = strlen(blocks[i]);
		if (hl == bl ? strcmp(host, blocks[i]) == 0
			     : hl > bl && host[hl - bl - 1] == '.' && strcmp(host + hl - bl, blocks[i]) == 0)
			return 1;
	}
	return 0;
}

static void report(const struct uext_ne_flow *f, const char *verdict, const char *event)
{
	char l[64], r[64];
	uext_ne_addr_str(&f->local, l, sizeof l);
	uext_ne_addr_str(&f->remote, r, sizeof r);
	json_t *o = json_pack("{s:I, s:s, s:s, s:i, s:s, s:i, s:i, s:i, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:s, s:I, s:i}",
			      "id", (json_int_t)f->id, "verdict", verdict, "event", event, "direction", f->direction,
			      "proto", f->protocol == IPPROTO_TCP ? "tcp" : "udp", "pid", f->pid, "uid", (int)f->uid,
			      "attribution", f->attribution, "host_source", f->host_source, "exe", f->exe, "comm", f->comm,
			      "host", f->hostname, "url", f->url, "local", l, "lport", f->local.port, "remote", r, "rport",
			      f->remote.port, "cgroup", f->cgroup, "bytes_out", (json_int_t)f->bytes_out, "flags", (int)f->flags);
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static struct uext_ne_verdict decide(uext_ne_filter *fl, const struct uext_ne_flow *f, const char *event, int data)
{
	(void)fl;
	struct uext_ne_verdict v = { .action = UEXT_NE_ALLOW, .cache_ttl_ms = cache_ttl };
	if ((f->hostname[0] && blocked(f->hostname)) || (block_exe && strcmp(f->exe, block_exe) == 0)) {
		v = (struct uext_ne_verdict){ .action = UEXT_NE_DROP };
	} else if ((!f->hostname[0] || f->host_source == UEXT_NE_HOST_DNS) && !data && f->protocol == IPPROTO_TCP && want &&
		   f->bytes_out == 0 &&
		   f->direction == UEXT_NE_OUTBOUND) {
		report(f, "peek", event);
		return (struct uext_ne_verdict){ .action = UEXT_NE_PEEK, .peek_outbound = want };
	}
	if (pause_ms && npaused < 256) {
		paused[npaused].id = f->id;
		paused[npaused].v = v;
		clock_gettime(CLOCK_MONOTONIC, &paused[npaused].at);
		npaused++;
		report(f, "pause", event);
		return (struct uext_ne_verdict){ .action = UEXT_NE_PAUSE };
	}
	report(f, v.action == UEXT_NE_DROP ? "drop" : "allow", event);
	return v;
}

static struct uext_ne_verdict on_new(uext_ne_filter *fl, const struct uext_ne_flow *f, void *ctx)
{
	(void)ctx;
	if (block_in && f->protocol == IPPROTO_TCP && f->direction == UEXT_NE_OUTBOUND) {
		report(f, "peek-in", "new");
		return (struct uext_ne_verdict){ .action = UEXT_NE_PEEK, .peek_inbound = 512 };
	}
	return decide(fl, f, "new", 0);
}

static struct uext_ne_verdict on_data(uext_ne_filter *fl, const struct uext_ne_flow *f, int dir, const uint8_t *b,
				      size_t len, int complete, void *ctx)
{
	(void)ctx, (void)complete;
	if (block_in && dir == UEXT_NE_INBOUND) {
		bool hit = memmem(b, len, block_in, strlen(block_in)) != NULL;
		report(f, hit ? "drop" : "allow", "data-in");
		return (struct uext_ne_verdict){ .action = hit ? UEXT_NE_DROP : UEXT_NE_ALLOW };
	}
	return decide(fl, f, "data", 1);
}

static int parse_rule(const char *spec, struct uext_ne_rule *r)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", spec);
	char *save, *act = strtok_r(buf, ",", &save), *proto = strtok_r(NULL, ",", &save),
		    *net = strtok_r(NULL, ",", &save), *port = strtok_r(NULL, ",", &save), *exe = strtok_r(NULL, ",", &save);
	if (!act || !proto || !net || !port) return -1;
	memset(r, 0, sizeof *r);
	r->uid = -1;
	r->action = strcmp(act, "allow") == 0 ? UEXT_NE_RULE_ALLOW : strcmp(act, "drop") == 0 ? UEXT_NE_RULE_DROP : UEXT_NE_RULE_FILTER;
	r->protocol = strcmp(proto, "tcp") == 0 ? IPPROTO_TCP : strcmp(proto, "udp") == 0 ? IPPROTO_UDP : 0;
	if (strcmp(net, "any") != 0) {
		char *slash = strchr(net, '/');
		if (!slash) return -1;
		*slash = 0;
		r->prefix = (uint8_t)atoi(slash + 1);
		r->family = strchr(net, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(r->family, net, r->addr) != 1) return -1;
	}
	r->port_min = r->port_max = (uint16_t)atoi(port);
	if (exe && strncmp(exe, "exe=", 4) == 0) r->exe = strdup(exe + 4);
	return 0;
}

static void on_term(int s)
{
	(void)s;
	quit = 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "block", 1, 0, 'b' },     { "block-exe", 1, 0, 'e' }, { "peek", 1, 0, 'p' },
					      { "want", 1, 0, 'w' },      { "cache-ttl", 1, 0, 'c' }, { "stall", 0, 0, 's' },
					      { "pause-ms", 1, 0, 'P' },  { "rule", 1, 0, 'r' },      { "block-in", 1, 0, 'i' },
					      { 0 } };
	struct uext_ne_settings set = { 0 };
	static struct uext_ne_rule rules[64];
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': if (nblocks < 32) blocks[nblocks++] = optarg; break;
		case 'e': block_exe = optarg; break;
		case 'i': block_in = optarg; break;
		case 'p': set.first_data_peek = (uint32_t)atoi(optarg); break;
		case 'w': want = (uint32_t)atoi(optarg); break;
		case 'c': cache_ttl = (uint32_t)atoi(optarg); break;
		case 's': stall = 1; break;
		case 'P': pause_ms = atoi(optarg); break;
		case 'r':
			if (set.nrules == 64 || parse_rule(optarg, &rules[set.nrules]) < 0) {
				fprintf(stderr, "ne_probe: bad rule '%s'\n", optarg);
				return 2;
			}
			set.nrules++;
			break;
		default: return 2;
		}
	}
	set.rules = rules;
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	struct uext_ne_filter_callbacks cb = { .new_flow = on_new, .data = on_data };
	uext_ne_filter *f;
	int r = uext_ne_filter_new(&f, &cb, &set, NULL);
	if (r < 0) {
		fprintf(stderr, "ne_probe: uext_ne_filter_new: %s\n", strerror(-r));
		return 1;
	}
	fprintf(stderr, "ready\n");
	if (stall) raise(SIGSTOP);
	while (!quit) {
		struct pollfd p = { uext_ne_filter_fd(f), POLLIN, 0 };
		int pr = poll(&p, 1, pause_ms ? 10 : 200);
		if (pr > 0 && (r = uext_ne_filter_dispatch(f)) < 0) {
			fprintf(stderr, "ne_probe: dispatch: %s\n", strerror(-r));
			return 1;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		for (size_t i = 0; i < npaused;) {
			long ms = (now.tv_sec - paused[i].at.tv_sec) * 1000 + (now.tv_nsec - paused[i].at.tv_nsec) / 1000000;
			if (ms >= pause_ms) {
				uext_ne_filter_resume(f, paused[i].id, paused[i].v);
				paused[i] = paused[--npaused];
			} else {
				i++;
			}
		}
	}
	uext_ne_filter_free(f);
	return 0;
}
