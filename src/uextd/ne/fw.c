/* fw.c: the ne engine's iptables rules (see fw.h). The rules are rendered as
 * iptables-restore input and loaded with --noflush: declaring ":CHAIN - [0:0]" creates or
 * empties only that chain, and the whole input is one transaction, so a replacement is
 * never seen half-done and no other rule on the host is touched. */
#include "uextd/ne/fw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/newire.h"
#include "common/util.h"

extern char **environ;

#define RUN_TIMEOUT_MS 15000

static unsigned mask_shift(uint32_t mask)
{
	return mask ? (unsigned)__builtin_ctz(mask) : 0;
}

uint32_t ne_fw_mark(const struct ne_fw_config *cfg, enum ne_mark v)
{
	return ((uint32_t)v << mask_shift(cfg->mark_mask)) & cfg->mark_mask;
}

enum ne_mark ne_fw_mark_of(const struct ne_fw_config *cfg, uint32_t mark)
{
	return (enum ne_mark)((mark & cfg->mark_mask) >> mask_shift(cfg->mark_mask));
}

/* Run argv with input on stdin. The first line of its output (stdout and stderr) goes to
 * line (may be NULL); on failure, why says what went wrong. 0, or -EIO / -errno. */
static int run(char *const argv[], const char *input, size_t inlen, char *line, size_t linelen, char *why,
	       size_t whylen)
{
	int in[2], err[2];
	if (pipe2(in, O_CLOEXEC) < 0) return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return -errno;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, err[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err[1], 2);
	posix_spawnattr_t sa;
	posix_spawnattr_init(&sa);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(in[0]);
	close(err[1]);
	if (r != 0) {
		close(in[1]);
		close(err[0]);
		snprintf(why, whylen, "%s: %s", argv[0], strerror(r));
		return -r;
	}
	/* The input is small (a few KB): the pipe takes it whole. */
	size_t off = 0;
	while (off < inlen) {
		ssize_t n = write(in[1], input + off, inlen - off);
		if (n <= 0) break;
		off += (size_t)n;
	}
	close(in[1]);
	char out[1024];
	size_t olen = 0;
	uint64_t until = now_mono_ms() + RUN_TIMEOUT_MS;
	int status = 0;
	bool timed_out = false;
	for (;;) {
		struct pollfd p = { err[0], POLLIN, 0 };
		uint64_t now = now_mono_ms();
		if (now >= until) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		int pr = poll(&p, 1, (int)(until - now));
		if (pr < 0 && errno == EINTR) continue;
		if (pr <= 0) continue;
		char rest[512]; /* once out is full, the rest is read and dropped: only the start matters */
		ssize_t n = olen < sizeof out - 1 ? read(err[0], out + olen, sizeof out - 1 - olen) : read(err[0], rest, sizeof rest);
		if (n <= 0) break;
		if (olen < sizeof out - 1) olen += (size_t)n;
	}
	close(err[0]);
	out[olen] = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
	if (w != pid) { /* someone else reaped it: its status is unknown, so no success */
		snprintf(why, whylen, "%s: exit status lost", argv[0]);
		return -ECHILD;
	}
	if (timed_out) {
		snprintf(why, whylen, "%s timed out", argv[0]);
		return -ETIMEDOUT;
	}
	char *nl = strchr(out, '\n');
	if (nl) *nl = 0;
	if (line) snprintf(line, linelen, "%s", out);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
	snprintf(why, whylen, "%s failed: %s", argv[0], out[0] ? out : "no message");
	return -EIO;
}

const char *ne_fw_backend(void)
{
	static const char *cached;
	if (cached) return cached;
	char *argv[] = { "iptables", "-V", NULL };
	char line[128] = "", why[128];
	if (run(argv, "", 0, line, sizeof line, why, sizeof why) < 0) return cached = ""; /* not installed */
	/* "iptables v1.8.9 (nf_tables)" or "iptables v1.8.9 (legacy)" */
	return cached = strstr(line, "nf_tables") ? "iptables-nft" : "iptables-legacy";
}

struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	o->len += (size_t)n;
}

/* The static rules of one direction (action into the mark, first match wins: every rule
 * also requires the mark to be still 0). */
static void render_static(struct out *o, const struct ne_fw_config *c, int family, const struct new_rule *rules,
			  size_t n, bool inbound, const char *chain)
{
	for (size_t i = 0; i < n; i++) {
		const struct new_rule *r = &rules[i];
		if (r->exe[0]) continue; /* decided in uextd */
		if (r->direction && (r->direction == 2) != inbound) continue;
		if (r->family && r->family != (family == 4 ? AF_INET : AF_INET6)) continue;
		if (r->uid >= 0 && inbound) continue; /* the owner match exists on output only */
		put(o, "-A %s -m mark --mark 0x0/0x%x", chain, c->mark_mask);
		if (r->protocol) put(o, " -p %s", r->protocol == 6 ? "tcp" : "udp");
		if (r->family) {
			char a[INET6_ADDRSTRLEN];
			inet_ntop(r->family, r->addr, a, sizeof a);
			put(o, " %s %s/%u", inbound ? "-s" : "-d", a, r->prefix);
		}
		if (r->port_min || r->port_max) {
			if (!r->protocol) continue; /* ports need a protocol; refused when the rules came in */
			put(o, " %s %u:%u", inbound ? "--sport" : "--dport", r->port_min, r->port_max ? r->port_max : r->port_min);
		}
		if (r->uid >= 0) put(o, " -m owner --uid-owner %lld", (long long)r->uid);
		if (r->action == 3) put(o, " -j RETURN\n"); /* FILTER: ask the filter, stop here */
		else put(o, " -j MARK --set-xmark 0x%x/0x%x\n", ne_fw_mark(c, r->action == 1 ? NE_MARK_ALLOW : NE_MARK_DROP), c->mark_mask);
	}
}

/* The mangle chain of one hook: inbound = the INPUT side. */
static void render_hook(struct out *o, const struct ne_fw_config *c, int family, const char *chain, const char *schain,
			bool inbound, bool fwd)
{
	uint32_t m = c->mark_mask;
	const char *dev = inbound ? "-i" : "-o";
	/* allowed flows, nearly every packet: out at the first match, their packet mark
	 * untouched (the post chain then returns at its first match too) */
	put(o, "-A %s -m connmark --mark 0x%x/0x%x -j RETURN\n", chain, ne_fw_mark(c, NE_MARK_ALLOW), m);
	if (!c->loopback && !fwd) put(o, "-A %s %s lo -j RETURN\n", chain, dev);
	put(o, "-A %s -m connmark ! --mark 0x0/0x%x -j CONNMARK --restore-mark --nfmask 0x%x --ctmask 0x%x\n", chain, m, m, m);
	put(o, "-A %s -m mark --mark 0x0/0x%x -j %s\n", chain, m, schain);
	static const enum ne_mark pass_out[] = { NE_MARK_ALLOW, NE_MARK_DROP, NE_MARK_DNS, NE_MARK_PEEK_IN };
	static const enum ne_mark pass_in[] = { NE_MARK_ALLOW, NE_MARK_DROP, NE_MARK_PEEK_OUT };
	const enum ne_mark *pass = inbound ? pass_in : pass_out;
	size_t npass = inbound ? ARRAY_SIZE(pass_in) : ARRAY_SIZE(pass_out);
	for (size_t i = 0; i < npass; i++) put(o, "-A %s -m mark --mark 0x%x/0x%x -j RETURN\n", chain, ne_fw_mark(c, pass[i]), m);
	if (c->lazy_tcp) {
		put(o, "-A %s -p tcp --syn -m mark --mark 0x0/0x%x -j CONNMARK --set-xmark 0x%x/0x%x\n", chain, m,
		    ne_fw_mark(c, fwd || !inbound ? NE_MARK_PEEK_OUT : NE_MARK_PEEK_IN), m);
		put(o, "-A %s -p tcp --syn -j RETURN\n", chain);
	}
	/* pure ACKs of flows being peeked at carry nothing to read */
	put(o, "-A %s -p tcp -m mark ! --mark 0x0/0x%x -m length --length 0:%u -j RETURN\n", chain, m, family == 4 ? 52 : 72);
	for (int p = 0; p < 2; p++)
		put(o, "-A %s -p %s -j NFQUEUE --queue-num %u --queue-bypass\n", chain, p ? "udp" : "tcp", c->queue);
	/* reached only when nobody listens on the queue (uextd is down) */
	if (c->fail_closed)
		for (int p = 0; p < 2; p++)
			put(o, "-A %s -p %s -j MARK --set-xmark 0x%x/0x%x\n", chain, p ? "udp" : "tcp", ne_fw_mark(c, NE_MARK_DROP), m);
}

int ne_fw_render(const struct ne_fw_config *c, int family, const void *rulesv, size_t nrules, bool add_jumps[4], char *buf,
		 size_t len)
{
	const struct new_rule *rules = rulesv;
	struct out o = { buf, 0, len, false };
	uint32_t m = c->mark_mask;
	put(&o, "*mangle\n:UEXT_NE_OUT - [0:0]\n:UEXT_NE_IN - [0:0]\n:UEXT_NE_SOUT - [0:0]\n:UEXT_NE_SIN - [0:0]\n");
	if (c->forward) put(&o, ":UEXT_NE_FWD - [0:0]\n");
	render_hook(&o, c, family, "UEXT_NE_OUT", "UEXT_NE_SOUT", false, false);
	render_hook(&o, c, family, "UEXT_NE_IN", "UEXT_NE_SIN", true, false);
	if (c->forward) render_hook(&o, c, family, "UEXT_NE_FWD", "UEXT_NE_SOUT", false, true);
	render_static(&o, c, family, rules, nrules, false, "UEXT_NE_SOUT");
	render_static(&o, c, family, rules, nrules, true, "UEXT_NE_SIN");
	if (add_jumps[0]) put(&o, "-I OUTPUT 1 -j UEXT_NE_OUT\n");
	if (add_jumps[1]) put(&o, "-I INPUT 1 -j UEXT_NE_IN\n");
	if (c->forward && add_jumps[2]) put(&o, "-I FORWARD 1 -j UEXT_NE_FWD\n");
	/* After the queue (a packet the queue accepted goes on at the next hook): a state
	 * that is new for the flow - the engine's verdict, a static rule's, or the one the
	 * kernel-side verdict cache put on the socket - is saved into the conntrack mark;
	 * a dropped flow is reset. */
	put(&o, "COMMIT\n*filter\n:UEXT_NE_POST - [0:0]\n");
	put(&o, "-A UEXT_NE_POST -m mark --mark 0x0/0x%x -j RETURN\n", m);
	/* the packets of allowed flows, nearly all of them: one more match and out */
	put(&o, "-A UEXT_NE_POST -m connmark --mark 0x%x/0x%x -j RETURN\n", ne_fw_mark(c, NE_MARK_ALLOW), m);
	static const enum ne_mark unsettled[] = { NE_MARK_NEW, NE_MARK_PEEK_OUT, NE_MARK_PEEK_IN, NE_MARK_PEEK_BOTH };
	for (size_t i = 0; i < ARRAY_SIZE(unsettled); i++)
		put(&o, "-A UEXT_NE_POST -m connmark --mark 0x%x/0x%x -j CONNMARK --save-mark --nfmask 0x%x --ctmask 0x%x\n",
		    ne_fw_mark(c, unsettled[i]), m, m, m);
	put(&o, "-A UEXT_NE_POST -m mark --mark 0x%x/0x%x -p tcp -j REJECT --reject-with tcp-reset\n", ne_fw_mark(c, NE_MARK_DROP), m);
	put(&o, "-A UEXT_NE_POST -m mark --mark 0x%x/0x%x -j REJECT --reject-with %s\n", ne_fw_mark(c, NE_MARK_DROP), m,
	    family == 4 ? "icmp-port-unreachable" : "icmp6-port-unreachable");
	if (add_jumps[3]) put(&o, "-I OUTPUT 1 -j UEXT_NE_POST\n-I INPUT 1 -j UEXT_NE_POST\n%s",
			      c->forward ? "-I FORWARD 1 -j UEXT_NE_POST\n" : "");
	put(&o, "COMMIT\n");
	return o.full ? -ENOSPC : (int)o.len;
}

static const char *tool(int family, bool restore)
{
	return family == 4 ? (restore ? "iptables-restore" : "iptables") : (restore ? "ip6tables-restore" : "ip6tables");
}

static bool has_jump(int family, const char *table, const char *from, const char *to)
{
	char *argv[] = { (char *)tool(family, false), "-w", "5", "-t", (char *)table, "-C", (char *)from, "-j", (char *)to, NULL };
	char why[64];
	return run(argv, "", 0, NULL, 0, why, sizeof why) == 0;
}

bool ne_fw_present(void)
{
	return ne_fw_backend()[0] && has_jump(4, "mangle", "OUTPUT", "UEXT_NE_OUT");
}

int ne_fw_apply(const struct ne_fw_config *c, const void *rules, size_t nrules, char *why, size_t whylen)
{
	if (!ne_fw_backend()[0]) {
		snprintf(why, whylen, "iptables is not installed");
		return -ENOENT;
	}
	size_t cap = 64 * 1024 + nrules * 256;
	char *buf = malloc(cap);
	if (!buf) return -ENOMEM;
	int r = 0;
	for (int family = 4; family <= 6 && r == 0; family += 2) {
		bool jumps[4] = {
			!has_jump(family, "mangle", "OUTPUT", "UEXT_NE_OUT"),
			!has_jump(family, "mangle", "INPUT", "UEXT_NE_IN"),
			c->forward && !has_jump(family, "mangle", "FORWARD", "UEXT_NE_FWD"),
			!has_jump(family, "filter", "OUTPUT", "UEXT_NE_POST"),
		};
		int n = ne_fw_render(c, family, rules, nrules, jumps, buf, cap);
		if (n < 0) {
			snprintf(why, whylen, "too many rules");
			r = n;
			break;
		}
		char *argv[] = { (char *)tool(family, true), "-w", "5", "--noflush", NULL };
		r = run(argv, buf, (size_t)n, NULL, 0, why, whylen);
		/* a host without IPv6 still filters IPv4 */
		if (r < 0 && family == 6 && access("/proc/net/if_inet6", F_OK) != 0) r = 0;
	}
	free(buf);
	return r;
}

int ne_fw_remove(char *why, size_t whylen)
{
	if (!ne_fw_backend()[0]) return 0;
	static const struct { const char *table, *from, *to; } jumps[] = {
		{ "mangle", "OUTPUT", "UEXT_NE_OUT" },      { "mangle", "INPUT", "UEXT_NE_IN" },
		{ "mangle", "FORWARD", "UEXT_NE_FWD" },     { "filter", "OUTPUT", "UEXT_NE_POST" },
		{ "filter", "INPUT", "UEXT_NE_POST" },    { "filter", "FORWARD", "UEXT_NE_POST" },
	};
	int ret = 0;
	for (int family = 4; family <= 6; family += 2) {
		char buf[2048];
		struct out o = { buf, 0, sizeof buf, false };
		for (int t = 0; t < 2; t++) {
			const char *table = t ? "filter" : "mangle";
			put(&o, "*%s\n", table);
			for (size_t i = 0; i < ARRAY_SIZE(jumps); i++)
				if (strcmp(jumps[i].table, table) == 0 && has_jump(family, table, jumps[i].from, jumps[i].to))
					put(&o, "-D %s -j %s\n", jumps[i].from, jumps[i].to);
			put(&o, "COMMIT\n");
		}
		char *argv[] = { (char *)tool(family, true), "-w", "5", "--noflush", NULL };
		int r = run(argv, buf, o.len, NULL, 0, why, whylen);
		/* then the chains themselves, each on its own: one that is missing is no error */
		static const char *const chains[][2] = {
			{ "mangle", "UEXT_NE_OUT" },  { "mangle", "UEXT_NE_IN" },  { "mangle", "UEXT_NE_FWD" },
			{ "mangle", "UEXT_NE_SOUT" }, { "mangle", "UEXT_NE_SIN" }, { "filter", "UEXT_NE_POST" },
		};
		for (size_t i = 0; i < ARRAY_SIZE(chains); i++) {
			char *fl[] = { (char *)tool(family, false), "-w", "5", "-t", (char *)chains[i][0], "-F", (char *)chains[i][1], NULL };
			char *xl[] = { (char *)tool(family, false), "-w", "5", "-t", (char *)chains[i][0], "-X", (char *)chains[i][1], NULL };
			char w2[64];
			if (run(fl, "", 0, NULL, 0, w2, sizeof w2) == 0) run(xl, "", 0, NULL, 0, w2, sizeof w2);
		}
		if (r < 0 && ret == 0 && !(family == 6 && access("/proc/net/if_inet6", F_OK) != 0)) ret = r;
	}
	return ret;
}
