/* test_urlfilter_rules.c: urlfilter's policy engine (extensions/urlfilter/rules.c) on its
 * own: matching (suffix, exact, URL prefix, address/CIDR, apps, categories), precedence,
 * normalization, the category file format and its caps, configuration errors, the reload
 * swap, the cacheable flag, and the load/lookup figures for 100k names (printed). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "rules.h"

static char tmpdir[64];
static char err[512];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/uf-test.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tmpdir/name := text; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static struct uf_rules *load(const char *json)
{
	struct uf_rules *r = NULL;
	err[0] = 0;
	int rc = uf_rules_load_json(json, tmpdir, &r, err, sizeof err);
	if (rc < 0) fail_msg("load of %s failed: %d %s", json, rc, err);
	return r;
}

/* Expect the load to fail with rc and an error containing what. */
static void load_fails(const char *json, int rc, const char *what)
{
	struct uf_rules *r = NULL;
	err[0] = 0;
	int got = uf_rules_load_json(json, tmpdir, &r, err, sizeof err);
	if (got != rc || !strstr(err, what))
		fail_msg("%s: got %d '%s', wanted %d '...%s...'", json, got, err, rc, what);
	assert_null(r);
}

struct flow {
	const char *host, *url, *exe, *cgroup, *remote;
	uint32_t uid;
	uint16_t port;
	uint8_t proto;
	const struct uf_seen *seen;
};

static struct uf_decision decide_f(const struct uf_rules *r, struct flow f)
{
	struct uf_query q = { .host = f.host, .url = f.url, .exe = f.exe, .cgroup = f.cgroup, .uid = f.uid,
			      .port = f.port ? f.port : 443, .protocol = f.proto ? f.proto : IPPROTO_TCP, .seen = f.seen };
	if (f.remote) assert_int_equal(uf_addr_parse(f.remote, &q.remote), 0);
	struct uf_decision d;
	memset(&d, 0x5a, sizeof d);
	assert_int_equal(uf_decide(r, &q, &d), 0);
	assert_true(d.action == UF_ALLOW || d.action == UF_BLOCK);
	assert_non_null(memchr(d.rule, 0, sizeof d.rule));
	return d;
}

#define DECIDE(r, ...) decide_f((r), (struct flow){ __VA_ARGS__ })

/* host -> action and rule text */
static void expect(const struct uf_rules *r, struct flow f, int action, const char *rule)
{
	struct uf_decision d = decide_f(r, f);
	if (d.action != action || strcmp(d.rule, rule) != 0)
		fail_msg("host '%s' url '%s' exe '%s' cgroup '%s' remote '%s': got %s '%s', wanted %s '%s'",
			 f.host ? f.host : "", f.url ? f.url : "", f.exe ? f.exe : "", f.cgroup ? f.cgroup : "",
			 f.remote ? f.remote : "", d.action == UF_BLOCK ? "block" : "allow", d.rule,
			 action == UF_BLOCK ? "block" : "allow", rule);
}

#define EXPECT(r, action, rule, ...) expect((r), (struct flow){ __VA_ARGS__ }, (action), (rule))

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------------------- */

static void test_suffix_vs_exact(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"example.com\", \"=exact.test\"]}");
	EXPECT(r, UF_BLOCK, "block:example.com", .host = "example.com");
	EXPECT(r, UF_BLOCK, "block:example.com", .host = "a.b.example.com");
	EXPECT(r, UF_ALLOW, "default", .host = "notexample.com");
	EXPECT(r, UF_ALLOW, "default", .host = "example.com.evil.test");
	EXPECT(r, UF_ALLOW, "default", .host = "com");
	EXPECT(r, UF_BLOCK, "block:=exact.test", .host = "exact.test");
	EXPECT(r, UF_ALLOW, "default", .host = "www.exact.test");
	EXPECT(r, UF_ALLOW, "default", .host = "");
	EXPECT(r, UF_ALLOW, "default", .host = NULL);
	uf_rules_free(r);
}

static void test_precedence(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"example.com\", \"ads.example.org\", \"tie.test\", \"shop.test\"],"
				  " \"allow\": [\"www.example.com\", \"example.org\", \"tie.test\", \"=shop.test\"]}");
	/* the deepest name wins, whichever the action */
	EXPECT(r, UF_ALLOW, "allow:www.example.com", .host = "www.example.com");
	EXPECT(r, UF_ALLOW, "allow:www.example.com", .host = "x.www.example.com");
	EXPECT(r, UF_BLOCK, "block:example.com", .host = "mail.example.com");
	EXPECT(r, UF_BLOCK, "block:ads.example.org", .host = "x.ads.example.org");
	EXPECT(r, UF_ALLOW, "allow:example.org", .host = "www.example.org");
	/* same name and kind: allow */
	EXPECT(r, UF_ALLOW, "allow:tie.test", .host = "a.tie.test");
	/* same name: an exact rule beats a suffix rule */
	EXPECT(r, UF_ALLOW, "allow:=shop.test", .host = "shop.test");
	EXPECT(r, UF_BLOCK, "block:shop.test", .host = "cart.shop.test");
	uf_rules_free(r);

	/* global default block: only what is allowed passes */
	r = load("{\"default\": \"block\", \"allow\": [\"ok.test\"]}");
	EXPECT(r, UF_ALLOW, "allow:ok.test", .host = "api.ok.test");
	EXPECT(r, UF_BLOCK, "default", .host = "other.test");
	EXPECT(r, UF_BLOCK, "default", .host = "");
	uf_rules_free(r);
}

static void test_apps(void **state)
{
	(void)state;
	struct uf_rules *r = load(
		"{\"block\": [\"social.test\"],"
		" \"apps\": ["
		"  {\"exe\": \"/usr/bin/curl\", \"allow\": [\"social.test\"], \"block\": [\"=curl-only.test\"]},"
		"  {\"exe\": \"/usr/bin/wget\", \"default\": \"block\", \"allow\": [\"ok.test\"]},"
		"  {\"cgroup\": \"/system.slice/foo.service/\", \"block\": [\"x.test\", \"192.0.2.0/24\","
		"                \"http://plain.test/ads/\"]},"
		"  {\"uid\": 1001, \"block\": [\"uidblock.test\"]},"
		"  {\"exe\": \"/usr/bin/both\", \"uid\": 7, \"block\": [\"both.test\"]}"
		" ]}");
	/* per-app rules before global ones */
	EXPECT(r, UF_ALLOW, "app:/usr/bin/curl:allow:social.test", .host = "www.social.test", .exe = "/usr/bin/curl");
	EXPECT(r, UF_BLOCK, "block:social.test", .host = "www.social.test", .exe = "/usr/bin/firefox");
	EXPECT(r, UF_BLOCK, "app:/usr/bin/curl:block:=curl-only.test", .host = "curl-only.test", .exe = "/usr/bin/curl");
	EXPECT(r, UF_ALLOW, "default", .host = "curl-only.test", .exe = "/usr/bin/curlx");
	/* an app default is final: global rules are not consulted */
	EXPECT(r, UF_ALLOW, "app:/usr/bin/wget:allow:ok.test", .host = "ok.test", .exe = "/usr/bin/wget");
	EXPECT(r, UF_BLOCK, "app:/usr/bin/wget:default", .host = "other.test", .exe = "/usr/bin/wget");
	EXPECT(r, UF_BLOCK, "app:/usr/bin/wget:default", .host = "social.test", .exe = "/usr/bin/wget");
	/* cgroup: a prefix by whole path components */
	EXPECT(r, UF_BLOCK, "app:cgroup:/system.slice/foo.service:block:x.test", .host = "x.test",
	       .cgroup = "/system.slice/foo.service");
	EXPECT(r, UF_BLOCK, "app:cgroup:/system.slice/foo.service:block:x.test", .host = "a.x.test",
	       .cgroup = "/system.slice/foo.service/sub");
	EXPECT(r, UF_ALLOW, "default", .host = "x.test", .cgroup = "/system.slice/foo.service2");
	EXPECT(r, UF_ALLOW, "default", .host = "x.test", .cgroup = "/system.slice");
	EXPECT(r, UF_ALLOW, "default", .host = "x.test", .cgroup = "");
	EXPECT(r, UF_BLOCK, "app:cgroup:/system.slice/foo.service:block:192.0.2.0/24", .remote = "192.0.2.9",
	       .cgroup = "/system.slice/foo.service");
	EXPECT(r, UF_BLOCK, "app:cgroup:/system.slice/foo.service:block:http://plain.test/ads/", .host = "plain.test",
	       .url = "http://plain.test/ads/1.gif", .cgroup = "/system.slice/foo.service", .port = 80);
	/* uid */
	EXPECT(r, UF_BLOCK, "app:uid:1001:block:uidblock.test", .host = "uidblock.test", .uid = 1001);
	EXPECT(r, UF_ALLOW, "default", .host = "uidblock.test", .uid = 1000);
	/* every selector must match */
	EXPECT(r, UF_BLOCK, "app:/usr/bin/both:block:both.test", .host = "both.test", .exe = "/usr/bin/both", .uid = 7);
	EXPECT(r, UF_ALLOW, "default", .host = "both.test", .exe = "/usr/bin/both", .uid = 8);
	/* the first matching entry applies: curl in foo.service is curl */
	EXPECT(r, UF_ALLOW, "default", .host = "x.test", .exe = "/usr/bin/curl", .cgroup = "/system.slice/foo.service");
	uf_rules_free(r);
}

static void test_url_prefix(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"http://example.com/ads/\", \"http://Example.COM:80/x\", \"blocked.test\","
				  "            \"http://p.test/a/\", \"http://port.test:8080/\"],"
				  " \"allow\": [\"http://blocked.test/public/\", \"http://p.test/a/b/\"]}");
	EXPECT(r, UF_BLOCK, "block:http://example.com/ads/", .host = "example.com",
	       .url = "http://example.com/ads/banner.png", .port = 80);
	EXPECT(r, UF_ALLOW, "default", .host = "example.com", .url = "http://example.com/news", .port = 80);
	/* only plain HTTP flows carry a URL: the same host over TLS is not touched */
	EXPECT(r, UF_ALLOW, "default", .host = "example.com");
	EXPECT(r, UF_BLOCK, "block:http://example.com/x", .host = "example.com", .url = "HTTP://EXAMPLE.com.:80/x/y",
	       .port = 80);
	/* paths are case-sensitive, hosts exact */
	EXPECT(r, UF_ALLOW, "default", .host = "example.com", .url = "http://example.com/ADS/", .port = 80);
	EXPECT(r, UF_ALLOW, "default", .host = "sub.example.com", .url = "http://sub.example.com/ads/", .port = 80);
	/* a URL rule beats a name rule */
	EXPECT(r, UF_ALLOW, "allow:http://blocked.test/public/", .host = "blocked.test",
	       .url = "http://blocked.test/public/a", .port = 80);
	EXPECT(r, UF_BLOCK, "block:blocked.test", .host = "blocked.test", .url = "http://blocked.test/private", .port = 80);
	/* the longest prefix wins */
	EXPECT(r, UF_ALLOW, "allow:http://p.test/a/b/", .host = "p.test", .url = "http://p.test/a/b/c", .port = 80);
	EXPECT(r, UF_BLOCK, "block:http://p.test/a/", .host = "p.test", .url = "http://p.test/a/c", .port = 80);
	/* a port other than 80 is part of the host */
	EXPECT(r, UF_BLOCK, "block:http://port.test:8080/", .host = "port.test", .url = "http://port.test:8080/x",
	       .port = 8080);
	EXPECT(r, UF_ALLOW, "default", .host = "port.test", .url = "http://port.test/x", .port = 80);
	/* not a URL the engine understands: the name decides */
	EXPECT(r, UF_ALLOW, "default", .host = "example.com", .url = "gopher://example.com/ads/");
	uf_rules_free(r);

	load_fails("{\"block\": [\"https://example.com/ads/\"]}", -EINVAL, "https URLs cannot be matched");
	load_fails("{\"block\": [\"ftp://example.com/\"]}", -EINVAL, "only http:// URLs");
	load_fails("{\"block\": [\"http:///nohost\"]}", -EINVAL, "not a domain name");
}

static void test_category_file(void **state)
{
	(void)state;
	char longline[UF_LINE_MAX + 200];
	memset(longline, 'a', sizeof longline - 1);
	longline[sizeof longline - 1] = 0;
	char text[8192];
	snprintf(text, sizeof text,
		 "# an ad list\n"                   /* 1 */
		 "127.0.0.1 localhost\n"            /* 2: hosts-file name, skipped */
		 "0.0.0.0 ads.example   # trailing comment\n" /* 3 */
		 "0.0.0.0 t1.example\tt2.example\n" /* 4: two names */
		 "*.wild.example\n"                 /* 5 */
		 "plain.example\r\n"                /* 6 */
		 "   \n"                            /* 7 */
		 "bad name!\n"                      /* 8: invalid */
		 "::1 ip6-localhost\n"              /* 9 */
		 "0.0.0.0\n"                        /* 10: invalid */
		 "two tokens\n"                     /* 11: invalid */
		 "UPPER.Example.\n"                 /* 12 */
		 "%s\n"                             /* 13: too long, invalid */
		 "0.0.0.0 ok.example bad..example\n" /* 14: one valid, one not: invalid, ok.example kept */
		 "last.example",                    /* 15: no newline */
		 longline);
	write_file("ads.txt", text);
	write_file("work.txt", "ads.example\n");
	struct uf_rules *r = load("{\"categories\": {\"ads\": {\"file\": \"ads.txt\", \"action\": \"block\"},"
				  "                 \"work\": {\"file\": \"work.txt\", \"action\": \"allow\"},"
				  "                 \"off\": {\"file\": \"/nonexistent\", \"action\": \"block\", \"enabled\": false}}}");
	const struct uf_file_report *rep = uf_rules_category_report(r, "ads");
	assert_non_null(rep);
	assert_null(uf_rules_category_report(r, "off"));
	assert_int_equal(rep->lines, 15);
	assert_int_equal(rep->names, 8);
	assert_int_equal(rep->invalid, 5);
	assert_int_equal(rep->first_invalid[0], 8);
	assert_int_equal(rep->first_invalid[1], 10);
	assert_int_equal(rep->first_invalid[2], 11);
	assert_int_equal(rep->first_invalid[3], 13);
	assert_int_equal(rep->first_invalid[4], 14);
	const char *w = uf_rules_warnings(r);
	assert_non_null(strstr(w, "category 'ads'"));
	assert_non_null(strstr(w, "5 invalid lines of 15"));
	assert_non_null(strstr(w, "lines 8, 10, 11, 13, 14"));
	printf("warnings: %s\n", w);

	/* work lists ads.example too: same name, same kind -> allow */
	EXPECT(r, UF_ALLOW, "category:work:ads.example", .host = "ads.example");
	EXPECT(r, UF_BLOCK, "category:ads:t2.example", .host = "cdn.t2.example");
	EXPECT(r, UF_BLOCK, "category:ads:wild.example", .host = "x.wild.example");
	EXPECT(r, UF_BLOCK, "category:ads:plain.example", .host = "plain.example");
	EXPECT(r, UF_BLOCK, "category:ads:upper.example", .host = "upper.example");
	EXPECT(r, UF_BLOCK, "category:ads:ok.example", .host = "ok.example");
	EXPECT(r, UF_BLOCK, "category:ads:last.example", .host = "last.example");
	EXPECT(r, UF_ALLOW, "default", .host = "localhost");
	EXPECT(r, UF_ALLOW, "default", .host = "ip6-localhost");
	struct uf_stats st;
	uf_rules_stats(r, &st);
	assert_int_equal(st.categories, 2);
	uf_rules_free(r);

	/* a list entry and a category entry of the same name and action: the list names it */
	r = load("{\"block\": [\"plain.example\"], \"categories\": {\"ads\": {\"file\": \"ads.txt\", \"action\": \"block\"}}}");
	EXPECT(r, UF_BLOCK, "block:plain.example", .host = "plain.example");
	uf_rules_free(r);

	/* a clean file warns about nothing */
	r = load("{\"categories\": {\"work\": {\"file\": \"work.txt\", \"action\": \"allow\"}}}");
	assert_string_equal(uf_rules_warnings(r), "");
	uf_rules_free(r);

	/* caps and I/O errors fail the load */
	load_fails("{\"categories\": {\"gone\": {\"file\": \"missing.txt\", \"action\": \"block\"}}}", -ENOENT,
		   "missing.txt");
	char big[256];
	snprintf(big, sizeof big, "%s/big.txt", tmpdir);
	int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)UF_FILE_MAX + 1), 0); /* sparse: costs nothing */
	close(fd);
	load_fails("{\"categories\": {\"big\": {\"file\": \"big.txt\", \"action\": \"block\"}}}", -EFBIG, "larger than 64 MiB");
	load_fails("{\"categories\": {\"dir\": {\"file\": \"/\", \"action\": \"block\"}}}", -EINVAL, "not a regular file");
	load_fails("{\"categories\": {\"ads\": {\"file\": \"ads.txt\"}}}", -EINVAL, "\"categories.ads.action\"");
	load_fails("{\"categories\": {\"ads\": {\"file\": \"ads.txt\", \"action\": \"block\", \"x\": 1}}}", -EINVAL,
		   "unknown key");
	load_fails("{\"categories\": {\"a b\": {\"file\": \"ads.txt\", \"action\": \"block\"}}}", -EINVAL,
		   "category name");
	load_fails("{\"categories\": {\"ads\": {\"action\": \"block\"}}}", -EINVAL, "needs \"file\"");
}

static void test_addresses(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"10.9.9.9/8\", \"2001:db8::/32\", \"192.0.2.7\"],"
				  " \"allow\": [\"10.1.0.0/16\", \"good.test\", \"10.2.0.0/16\"],"
				  " \"apps\": [{\"exe\": \"/bin/x\", \"allow\": [\"10.2.3.4\"]}]}");
	EXPECT(r, UF_BLOCK, "block:10.0.0.0/8", .remote = "10.3.3.4"); /* host bits cleared */
	EXPECT(r, UF_ALLOW, "allow:10.1.0.0/16", .remote = "10.1.2.3"); /* the longest prefix */
	EXPECT(r, UF_BLOCK, "block:10.0.0.0/8", .remote = "::ffff:10.3.3.4"); /* mapped IPv4 */
	EXPECT(r, UF_BLOCK, "block:2001:db8::/32", .remote = "2001:db8::1");
	EXPECT(r, UF_ALLOW, "default", .remote = "2001:db9::1");
	EXPECT(r, UF_BLOCK, "block:192.0.2.7", .remote = "192.0.2.7");
	EXPECT(r, UF_ALLOW, "default", .remote = "192.0.2.8");
	/* a name rule is more specific than an address rule */
	EXPECT(r, UF_ALLOW, "allow:good.test", .host = "good.test", .remote = "10.3.3.4");
	EXPECT(r, UF_BLOCK, "block:10.0.0.0/8", .host = "other.test", .remote = "10.3.3.4");
	/* an IP literal as the host (HTTP to an address) */
	EXPECT(r, UF_BLOCK, "block:192.0.2.7", .host = "192.0.2.7");
	EXPECT(r, UF_BLOCK, "block:2001:db8::/32", .host = "[2001:db8::5]");
	EXPECT(r, UF_ALLOW, "app:/bin/x:allow:10.2.3.4", .remote = "10.2.3.4", .exe = "/bin/x");
	uf_rules_free(r);

	/* the same prefix allowed and blocked: allow */
	r = load("{\"block\": [\"198.51.100.0/24\"], \"allow\": [\"198.51.100.0/24\"]}");
	EXPECT(r, UF_ALLOW, "allow:198.51.100.0/24", .remote = "198.51.100.1");
	uf_rules_free(r);

	load_fails("{\"block\": [\"10.0.0.0/33\"]}", -EINVAL, "10.0.0.0/33");
	load_fails("{\"block\": [\"2001:db8::/129\"]}", -EINVAL, "not a domain name");
	load_fails("{\"block\": [\"10.0.0.0/\"]}", -EINVAL, "not a domain name");
}

static void test_normalization(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"Example.COM.\", \"*.Wild.Test\", \".dot.test\", \"under_score.test\"]}");
	EXPECT(r, UF_BLOCK, "block:example.com", .host = "WWW.EXAMPLE.com.");
	EXPECT(r, UF_BLOCK, "block:example.com", .host = "example.com");
	/* "*." is ignored: the name itself is covered too */
	EXPECT(r, UF_BLOCK, "block:wild.test", .host = "wild.test");
	EXPECT(r, UF_BLOCK, "block:wild.test", .host = "A.Wild.TEST");
	EXPECT(r, UF_BLOCK, "block:dot.test", .host = "x.dot.test");
	EXPECT(r, UF_BLOCK, "block:under_score.test", .host = "under_score.test");
	/* a host longer than a DNS name matches nothing */
	char longhost[400];
	memset(longhost, 'a', sizeof longhost);
	strcpy(longhost + sizeof longhost - 13, ".example.com");
	EXPECT(r, UF_ALLOW, "default", .host = longhost);
	/* empty labels and odd bytes do not crash or match */
	EXPECT(r, UF_ALLOW, "default", .host = "..");
	EXPECT(r, UF_ALLOW, "default", .host = ".");
	EXPECT(r, UF_ALLOW, "default", .host = "a..example.co");
	EXPECT(r, UF_BLOCK, "block:example.com", .host = "a..example.com");
	uf_rules_free(r);

	load_fails("{\"block\": [\"a..b\"]}", -EINVAL, "'a..b'");
	load_fails("{\"block\": [\"exa mple.com\"]}", -EINVAL, "not a domain name");
	load_fails("{\"block\": [\"b\u00fccher.example\"]}", -EINVAL, "not a domain name");
	load_fails("{\"block\": [\"\"]}", -EINVAL, "not a domain name");
	load_fails("{\"block\": [\"=\"]}", -EINVAL, "not a domain name");
	load_fails("{\"block\": [\"*.\"]}", -EINVAL, "not a domain name");
	char json[700], label[70], last[70];
	memset(label, 'l', 64);
	label[64] = 0;
	snprintf(json, sizeof json, "{\"block\": [\"%s.test\"]}", label);
	load_fails(json, -EINVAL, "not a domain name"); /* a 64-byte label */
	label[63] = 0;
	memset(last, 'z', 62); /* 3 * (63 + 1) + 62 = 254 bytes */
	last[62] = 0;
	snprintf(json, sizeof json, "{\"block\": [\"%s.%s.%s.%s\"]}", label, label, label, last);
	load_fails(json, -EINVAL, "not a domain name");
	last[61] = 0; /* 253 */
	snprintf(json, sizeof json, "{\"block\": [\"%s.%s.%s.%s\"]}", label, label, label, last);
	r = load(json); /* 253 bytes */
	uf_rules_free(r);
}

static void test_idn(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"xn--bcher-kva.example\", \"=xn--p1ai\"]}");
	EXPECT(r, UF_BLOCK, "block:xn--bcher-kva.example", .host = "XN--BCHER-KVA.example");
	EXPECT(r, UF_BLOCK, "block:xn--bcher-kva.example", .host = "shop.xn--bcher-kva.example");
	EXPECT(r, UF_BLOCK, "block:=xn--p1ai", .host = "xn--p1ai");
	EXPECT(r, UF_ALLOW, "default", .host = "x.xn--p1ai");
	/* raw UTF-8 is a byte string like any other: no match, no crash */
	EXPECT(r, UF_ALLOW, "default", .host = "b\xc3\xbc" "cher.example");
	uf_rules_free(r);
}

static void test_quic(void **state)
{
	(void)state;
	struct uf_rules *r = load("{}");
	assert_true(uf_rules_block_quic(r));
	EXPECT(r, UF_BLOCK, "quic", .remote = "192.0.2.1", .port = 443, .proto = IPPROTO_UDP);
	EXPECT(r, UF_ALLOW, "default", .remote = "192.0.2.1", .port = 443, .proto = IPPROTO_TCP);
	EXPECT(r, UF_ALLOW, "default", .remote = "192.0.2.1", .port = 53, .proto = IPPROTO_UDP);
	uf_rules_free(r);
	r = load("{\"block_quic\": false, \"block\": [\"dns.test\"]}");
	assert_false(uf_rules_block_quic(r));
	EXPECT(r, UF_ALLOW, "default", .remote = "192.0.2.1", .port = 443, .proto = IPPROTO_UDP);
	/* a UDP flow named from DNS answers is matched by name */
	EXPECT(r, UF_BLOCK, "block:dns.test", .host = "dns.test", .remote = "192.0.2.1", .port = 443, .proto = IPPROTO_UDP);
	uf_rules_free(r);
}

static void test_config_errors(void **state)
{
	(void)state;
	load_fails("not json", -EINVAL, "not JSON");
	load_fails("[]", -EINVAL, "must be a JSON object");
	load_fails("{\"blok\": []}", -EINVAL, "unknown key \"blok\"");
	load_fails("{\"block\": \"x.test\"}", -EINVAL, "\"block\" must be an array");
	load_fails("{\"allow\": [1]}", -EINVAL, "\"allow\"[0] is not a string");
	load_fails("{\"default\": \"deny\"}", -EINVAL, "\"default\" must be");
	load_fails("{\"apps\": {}}", -EINVAL, "\"apps\" must be an array");
	load_fails("{\"apps\": [{}]}", -EINVAL, "needs \"exe\", \"cgroup\" or \"uid\"");
	load_fails("{\"apps\": [1]}", -EINVAL, "must be an object");
	load_fails("{\"apps\": [{\"exe\": \"curl\"}]}", -EINVAL, "absolute path");
	load_fails("{\"apps\": [{\"cgroup\": \"system.slice\"}]}", -EINVAL, "starting with '/'");
	load_fails("{\"apps\": [{\"uid\": -1}]}", -EINVAL, "user id");
	load_fails("{\"apps\": [{\"exe\": \"/x\", \"blocks\": []}]}", -EINVAL, "unknown key \"blocks\"");
	load_fails("{\"apps\": [{\"exe\": \"/x\", \"block\": [\"a b\"]}]}", -EINVAL, "\"apps[0].block\"[0]");
	load_fails("{\"apps\": [{\"exe\": \"/x\", \"default\": 1}]}", -EINVAL, "\"apps[0].default\"");
	load_fails("{\"cache_ttl_ms\": -1}", -EINVAL, "cache_ttl_ms");
	load_fails("{\"cache_ttl_ms\": 3600001}", -EINVAL, "cache_ttl_ms");
	load_fails("{\"cache_ttl_ms\": \"10\"}", -EINVAL, "cache_ttl_ms");
	load_fails("{\"log_allowed\": \"yes\"}", -EINVAL, "\"log_allowed\" must be true or false");
	load_fails("{\"block_quic\": 1}", -EINVAL, "\"block_quic\"");
	load_fails("{\"categories\": []}", -EINVAL, "\"categories\" must be an object");
	load_fails("{\"block\": [], \"block\": []}", -EINVAL, "not JSON");

	struct uf_rules *r = NULL;
	assert_int_equal(uf_rules_load_json(NULL, NULL, &r, NULL, 0), -EINVAL);
	assert_int_equal(uf_rules_load_json("{\"default\": 1}", NULL, &r, NULL, 0), -EINVAL); /* no err buffer */
	assert_null(r);
	struct uf_decision d;
	struct uf_query q = { 0 };
	assert_int_equal(uf_decide(NULL, &q, &d), -EINVAL);
}

/* A preference store for uf_rules_load: key -> JSON text; fail_with forces an error. */
struct fake_prefs {
	const char *keys[8];
	const char *values[8];
	int fail_with;
	int calls;
};

static int fake_get(void *ctx, const char *key, char **ret_json)
{
	struct fake_prefs *p = ctx;
	p->calls++;
	if (p->fail_with) return p->fail_with;
	for (size_t i = 0; i < 8 && p->keys[i]; i++)
		if (strcmp(p->keys[i], key) == 0) {
			*ret_json = strdup(p->values[i]);
			return *ret_json ? 0 : -ENOMEM;
		}
	return -ENOENT;
}

static void test_prefs_defaults(void **state)
{
	(void)state;
	struct fake_prefs p = { 0 };
	struct uf_rules *r = NULL;
	assert_int_equal(uf_rules_load(fake_get, &p, NULL, &r, err, sizeof err), 0);
	size_t nkeys = 0;
	while (uf_pref_keys[nkeys]) nkeys++;
	assert_int_equal(p.calls, nkeys);
	assert_false(uf_rules_log_allowed(r));
	assert_true(uf_rules_block_quic(r));
	assert_int_equal(uf_rules_cache_ttl_ms(r), 0);
	EXPECT(r, UF_ALLOW, "default", .host = "anything.test");
	uf_rules_free(r);

	struct fake_prefs q = { .keys = { "block", "log_allowed", "cache_ttl_ms", "default" },
				.values = { "[\"blocked.test\"]", "true", "0", "\"allow\"" } };
	assert_int_equal(uf_rules_load(fake_get, &q, NULL, &r, err, sizeof err), 0);
	assert_true(uf_rules_log_allowed(r));
	assert_int_equal(uf_rules_cache_ttl_ms(r), 0);
	EXPECT(r, UF_BLOCK, "block:blocked.test", .host = "blocked.test");
	uf_rules_free(r);

	struct fake_prefs bad = { .keys = { "block" }, .values = { "[\"blocked.test\"" } };
	r = NULL;
	assert_int_equal(uf_rules_load(fake_get, &bad, NULL, &r, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "preference 'block' is not JSON"));
	assert_null(r);
}

static void test_reload_swap(void **state)
{
	(void)state;
	struct fake_prefs p = { .keys = { "block" }, .values = { "[\"old.test\"]" } };
	struct uf_rules *cur = NULL;
	assert_int_equal(uf_rules_load(fake_get, &p, NULL, &cur, err, sizeof err), 0);
	EXPECT(cur, UF_BLOCK, "block:old.test", .host = "old.test");

	/* a good change replaces the set */
	p.values[0] = "[\"new.test\"]";
	struct uf_rules *before = cur;
	assert_int_equal(uf_rules_reload(&cur, fake_get, &p, NULL, err, sizeof err), 0);
	assert_ptr_not_equal(cur, before);
	EXPECT(cur, UF_ALLOW, "default", .host = "old.test");
	EXPECT(cur, UF_BLOCK, "block:new.test", .host = "new.test");

	/* a bad value keeps the set in force and says why */
	before = cur;
	p.values[0] = "[\"bad name\"]";
	assert_int_equal(uf_rules_reload(&cur, fake_get, &p, NULL, err, sizeof err), -EINVAL);
	assert_ptr_equal(cur, before);
	assert_non_null(strstr(err, "'bad name'"));
	EXPECT(cur, UF_BLOCK, "block:new.test", .host = "new.test");

	/* so does a missing category file, and a failing store */
	p.keys[1] = "categories";
	p.values[1] = "{\"x\": {\"file\": \"/nonexistent/list\", \"action\": \"block\"}}";
	p.values[0] = "[\"other.test\"]";
	assert_int_equal(uf_rules_reload(&cur, fake_get, &p, NULL, err, sizeof err), -ENOENT);
	assert_ptr_equal(cur, before);
	p.fail_with = -EIO;
	assert_int_equal(uf_rules_reload(&cur, fake_get, &p, NULL, err, sizeof err), -EIO);
	assert_non_null(strstr(err, "reading preference"));
	EXPECT(cur, UF_BLOCK, "block:new.test", .host = "new.test");
	assert_int_equal(uf_rules_reload(NULL, fake_get, &p, NULL, err, sizeof err), -EINVAL);
	uf_rules_free(cur);
}

static void test_cacheable(void **state)
{
	(void)state;
	struct uf_seen *seen = NULL;
	assert_int_equal(uf_seen_new(1024, &seen), 0);
	struct uf_rules *r = load("{\"cache_ttl_ms\": 10000, \"block\": [\"example.com\", \"=ads.cdn.test\"], \"allow\": [\"www.example.com\"]}");
	assert_int_equal(uf_rules_cache_ttl_ms(r), 10000);
	struct uf_decision d = DECIDE(r, .host = "fine.test", .remote = "192.0.2.1", .seen = seen);
	assert_true(d.cacheable);
	assert_false(d.taint);
	/* allowed, but a parent name is blocked: the address may serve it */
	d = DECIDE(r, .host = "www.example.com", .remote = "192.0.2.2", .seen = seen);
	assert_int_equal(d.action, UF_ALLOW);
	assert_false(d.cacheable);
	assert_true(d.taint);
	/* an exact block of the full name taints; of another name does not */
	d = DECIDE(r, .host = "x.ads.cdn.test", .remote = "192.0.2.1", .seen = seen);
	assert_true(d.cacheable);
	/* blocked: tainted, never cacheable */
	d = DECIDE(r, .host = "example.com", .remote = "192.0.2.3", .seen = seen);
	assert_int_equal(d.action, UF_BLOCK);
	assert_false(d.cacheable);
	assert_true(d.taint);
	struct uf_addr a;
	assert_int_equal(uf_addr_parse("192.0.2.3", &a), 0);
	assert_int_equal(uf_seen_add(seen, &a), 1);
	assert_int_equal(uf_seen_add(seen, &a), 0);
	/* an address once seen with a blocked name is no longer cached, mapped or not */
	d = DECIDE(r, .host = "fine.test", .remote = "192.0.2.3", .seen = seen);
	assert_false(d.cacheable);
	d = DECIDE(r, .host = "fine.test", .remote = "::ffff:192.0.2.3", .seen = seen);
	assert_false(d.cacheable);
	d = DECIDE(r, .host = "fine.test", .remote = "192.0.2.4", .seen = seen);
	assert_true(d.cacheable);
	/* no address, no cache */
	d = DECIDE(r, .host = "fine.test", .seen = seen);
	assert_false(d.cacheable);
	/* no name: cacheable by address */
	d = DECIDE(r, .remote = "192.0.2.5", .seen = seen);
	assert_true(d.cacheable);
	assert_false(d.taint);
	uf_rules_free(r);

	r = load("{\"cache_ttl_ms\": 0}");
	assert_false(DECIDE(r, .host = "fine.test", .remote = "192.0.2.1").cacheable);
	uf_rules_free(r);

	/* default block: an allow by name depends on the name; by address it does not */
	r = load("{\"cache_ttl_ms\": 10000, \"default\": \"block\", \"allow\": [\"ok.test\", \"198.51.100.0/24\"]}");
	d = DECIDE(r, .host = "ok.test", .remote = "192.0.2.1");
	assert_int_equal(d.action, UF_ALLOW);
	assert_false(d.cacheable);
	d = DECIDE(r, .remote = "198.51.100.1");
	assert_int_equal(d.action, UF_ALLOW);
	assert_true(d.cacheable);
	uf_rules_free(r);
	r = load("{\"cache_ttl_ms\": 10000, \"apps\": [{\"exe\": \"/bin/only\", \"default\": \"block\", \"allow\": [\"ok.test\"]}]}");
	assert_false(DECIDE(r, .host = "ok.test", .remote = "192.0.2.1", .exe = "/bin/only").cacheable);
	assert_true(DECIDE(r, .host = "ok.test", .remote = "192.0.2.1", .exe = "/bin/other").cacheable);
	uf_rules_free(r);

	/* an app rule keyed by cgroup or uid: the kernel cache (keyed by exe) cannot tell */
	r = load("{\"cache_ttl_ms\": 10000, \"apps\": [{\"cgroup\": \"/user.slice\", \"block\": [\"x.test\"]}]}");
	assert_false(DECIDE(r, .host = "fine.test", .remote = "192.0.2.1").cacheable);
	uf_rules_free(r);

	/* a name blocked for one app only is not cached for anyone */
	r = load("{\"cache_ttl_ms\": 10000, \"apps\": [{\"exe\": \"/bin/kid\", \"block\": [\"games.test\"]}]}");
	d = DECIDE(r, .host = "games.test", .remote = "192.0.2.1", .exe = "/bin/grownup");
	assert_int_equal(d.action, UF_ALLOW);
	assert_false(d.cacheable);
	assert_true(d.taint);
	uf_rules_free(r);

	/* URL block rules: a plain-HTTP allow depends on the path */
	r = load("{\"cache_ttl_ms\": 10000, \"block\": [\"http://site.test/ads/\"]}");
	assert_false(DECIDE(r, .host = "site.test", .url = "http://site.test/", .remote = "192.0.2.1", .port = 80).cacheable);
	assert_true(DECIDE(r, .host = "site.test", .remote = "192.0.2.1").cacheable);
	d = DECIDE(r, .host = "site.test", .url = "http://site.test/ads/x", .remote = "192.0.2.1", .port = 80);
	assert_int_equal(d.action, UF_BLOCK);
	assert_true(d.taint);

	/* a full seen set saturates: from then on nothing is cacheable */
	struct uf_seen *tiny = NULL;
	assert_int_equal(uf_seen_new(2, &tiny), 0);
	const char *addrs[] = { "192.0.2.10", "192.0.2.11", "2001:db8::12" };
	for (int i = 0; i < 3; i++) {
		assert_int_equal(uf_addr_parse(addrs[i], &a), 0);
		assert_int_equal(uf_seen_add(tiny, &a), i < 2 ? 1 : -ENOSPC);
	}
	assert_true(uf_seen_saturated(tiny));
	assert_false(DECIDE(r, .host = "fine.test", .remote = "192.0.2.99", .seen = tiny).cacheable);
	struct uf_addr none = { 0 };
	assert_int_equal(uf_seen_add(seen, &none), 0);
	assert_false(uf_seen_has(seen, &none));
	uf_seen_free(tiny);
	uf_rules_free(r);
	uf_seen_free(seen);
	assert_int_equal(uf_seen_new(0, &seen), -EINVAL);
}

static void test_many_list_entries(void **state)
{
	(void)state;
	/* 20000 list entries with duplicates through JSON: table growth and merging */
	size_t cap = 20000 * 32 + 64, off = 0;
	char *json = malloc(cap);
	assert_non_null(json);
	off += (size_t)snprintf(json + off, cap - off, "{\"block\": [");
	for (int i = 0; i < 20000; i++)
		off += (size_t)snprintf(json + off, cap - off, "%s\"h%d.many.test\"", i ? "," : "", i % 10000);
	snprintf(json + off, cap - off, "]}");
	struct uf_rules *r = load(json);
	free(json);
	struct uf_stats st;
	uf_rules_stats(r, &st);
	assert_int_equal(st.names, 10000);
	for (int i = 0; i < 10000; i += 997) {
		char host[64], rule[64];
		snprintf(host, sizeof host, "x.h%d.many.test", i);
		snprintf(rule, sizeof rule, "block:h%d.many.test", i);
		EXPECT(r, UF_BLOCK, rule, .host = host);
	}
	EXPECT(r, UF_ALLOW, "default", .host = "h10000.many.test");
	uf_rules_free(r);
}

/* Hosts, URLs and addresses of random bytes: valid decisions, nothing read out of bounds
 * (the ASan build checks). */
static void test_random_input(void **state)
{
	(void)state;
	struct uf_rules *r = load("{\"block\": [\"a.b\", \"=b\", \"http://a.b/x\", \"10.0.0.0/8\"], \"allow\": [\"c.a.b\"],"
				  " \"apps\": [{\"cgroup\": \"/a\", \"block\": [\"b\"]}]}");
	unsigned seed = 12345;
	char host[300], url[300], cg[16];
	const char alphabet[] = "ab.c.:/[]0x\x80\xff-A";
	for (int n = 0; n < 20000; n++) {
		size_t hl = (size_t)(rand_r(&seed) % 270), ul = (size_t)(rand_r(&seed) % 290);
		for (size_t i = 0; i < hl; i++) host[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		host[hl] = 0;
		memcpy(url, "http://", 7);
		for (size_t i = 7; i < ul + 7 && i < sizeof url - 1; i++) url[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		url[ul + 7 < sizeof url ? ul + 7 : sizeof url - 1] = 0;
		for (size_t i = 0; i < sizeof cg - 1; i++) cg[i] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		cg[rand_r(&seed) % sizeof cg] = 0;
		struct uf_query q = { .host = host, .url = url, .cgroup = cg, .exe = "", .protocol = IPPROTO_TCP, .port = 80 };
		q.remote.family = (n & 1) ? AF_INET : AF_INET6;
		for (size_t i = 0; i < 16; i++) q.remote.addr[i] = (uint8_t)rand_r(&seed);
		struct uf_decision d;
		assert_int_equal(uf_decide(r, &q, &d), 0);
		assert_true(d.action == UF_ALLOW || d.action == UF_BLOCK);
	}
	uf_rules_free(r);
}

static void test_100k_load_and_lookup(void **state)
{
	(void)state;
	enum { N = 100000, LOOKUPS = 1000000, HOSTS = 4096 };
	char path[256];
	snprintf(path, sizeof path, "%s/100k.txt", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# 100k names, hosts-file and plain lines\n");
	for (int i = 0; i < N; i++) {
		if (i % 2) fprintf(f, "0.0.0.0 tracker%d.ads%d.example\n", i, i % 97);
		else fprintf(f, "cdn-%d.adnetwork%d.test\n", i, i % 211);
	}
	assert_int_equal(fclose(f), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);

	double t0 = now_ms();
	struct uf_rules *r = load("{\"categories\": {\"ads\": {\"file\": \"100k.txt\", \"action\": \"block\"}},"
				  " \"block\": [\"blocked.test\"], \"allow\": [\"ok.test\"]}");
	double load_ms = now_ms() - t0;
	struct uf_stats st;
	uf_rules_stats(r, &st);
	assert_int_equal(st.names, N + 2);
	assert_int_equal(uf_rules_category_report(r, "ads")->invalid, 0);

	/* lookups of names that match nothing (the figure that matters), and of hits */
	static char hosts[HOSTS][64];
	for (int i = 0; i < HOSTS; i++)
		snprintf(hosts[i], sizeof hosts[i], "www%d.static%d.somesite%d.example.net", i, i % 13, i % 101);
	struct uf_seen *seen = NULL;
	assert_int_equal(uf_seen_new(49152, &seen), 0);
	struct uf_query q = { .exe = "/usr/bin/curl", .cgroup = "/user.slice/user-1000.slice", .uid = 1000,
			      .port = 443, .protocol = IPPROTO_TCP, .seen = seen };
	assert_int_equal(uf_addr_parse("192.0.2.1", &q.remote), 0);
	struct uf_decision d;
	unsigned blocked = 0;
	t0 = now_ms();
	for (int i = 0; i < LOOKUPS; i++) {
		q.host = hosts[i % HOSTS];
		uf_decide(r, &q, &d);
		blocked += d.action == UF_BLOCK;
	}
	double miss_ns = (now_ms() - t0) * 1e6 / LOOKUPS;
	assert_int_equal(blocked, 0);

	static char hits[HOSTS][64];
	for (int i = 0; i < HOSTS; i++) {
		int k = (i * 24 + 1) % N | 1;
		snprintf(hits[i], sizeof hits[i], "img.tracker%d.ads%d.example", k, k % 97);
	}
	t0 = now_ms();
	for (int i = 0; i < LOOKUPS; i++) {
		q.host = hits[i % HOSTS];
		uf_decide(r, &q, &d);
		blocked += d.action == UF_BLOCK;
	}
	double hit_ns = (now_ms() - t0) * 1e6 / LOOKUPS;
	assert_int_equal(blocked, LOOKUPS);
	assert_true(strncmp(d.rule, "category:ads:tracker", 20) == 0);

	/* the same misses against an empty rule set: the floor */
	struct uf_rules *empty = load("{}");
	t0 = now_ms();
	for (int i = 0; i < LOOKUPS; i++) {
		q.host = hosts[i % HOSTS];
		uf_decide(empty, &q, &d);
	}
	double empty_ns = (now_ms() - t0) * 1e6 / LOOKUPS;

	printf("100k names (%lld KiB file): load %.1f ms, %zu KiB of tables; decide: miss %.0f ns, hit %.0f ns, "
	       "empty rule set %.0f ns\n",
	       (long long)sb.st_size / 1024, load_ms, st.bytes / 1024, miss_ns, hit_ns, empty_ns);
	/* generous bounds: sanitizer builds and busy CI machines */
	assert_true(load_ms < 1000.0);
	assert_true(miss_ns < 5000.0);
	assert_true(hit_ns < 5000.0);
	assert_true(st.bytes < 16u << 20);
	uf_rules_free(empty);
	uf_rules_free(r);
	uf_seen_free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suffix_vs_exact),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_apps),
		cmocka_unit_test(test_url_prefix),
		cmocka_unit_test(test_category_file),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_normalization),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_quic),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_prefs_defaults),
		cmocka_unit_test(test_reload_swap),
		cmocka_unit_test(test_cacheable),
		cmocka_unit_test(test_many_list_entries),
		cmocka_unit_test(test_random_input),
		cmocka_unit_test(test_100k_load_and_lookup),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
