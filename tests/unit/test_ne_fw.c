/* test_ne_fw: the ne engine's iptables rules as text (ne_fw_render): marks inside the
 * mask only, the lazy-TCP lines, static rules in order with first-match-wins, the jumps
 * only when asked, IPv6 differences, and nothing outside uext's own chains. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/newire.h"
#include "uextd/ne/fw.h"

static char buf[65536];

static int render(const struct ne_fw_config *c, int family, const struct new_rule *r, size_t n, bool jumps)
{
	bool j[4] = { jumps, jumps, jumps, jumps };
	return ne_fw_render(c, family, r, n, j, buf, sizeof buf);
}

static bool has(const char *line)
{
	return strstr(buf, line) != NULL;
}

static void test_marks(void **state)
{
	(void)state;
	struct ne_fw_config c = { .queue = 7810, .mark_mask = 0x07000000 };
	assert_int_equal(ne_fw_mark(&c, NE_MARK_ALLOW), 0x01000000);
	assert_int_equal(ne_fw_mark(&c, NE_MARK_DNS), 0x06000000);
	assert_int_equal(ne_fw_mark_of(&c, 0x12345678 & ~0x07000000u), NE_MARK_NEW);
	assert_int_equal(ne_fw_mark_of(&c, 0xf2000000), NE_MARK_DROP);
	c.mark_mask = 0x70; /* another place: values shift with it */
	assert_int_equal(ne_fw_mark(&c, NE_MARK_PEEK_OUT), 0x30);
	assert_int_equal(ne_fw_mark_of(&c, 0x35), NE_MARK_PEEK_OUT);
}

static void test_default_rules(void **state)
{
	(void)state;
	struct ne_fw_config c = { .queue = 7810, .mark_mask = 0x07000000 };
	assert_true(render(&c, 4, NULL, 0, true) > 0);
	assert_true(has("-A UEXT_NE_OUT -o lo -j RETURN\n"));
	assert_true(has("-A UEXT_NE_OUT -m connmark ! --mark 0x0/0x7000000 -j CONNMARK --restore-mark --nfmask 0x7000000 --ctmask 0x7000000\n"));
	assert_true(has("-A UEXT_NE_OUT -p tcp -j NFQUEUE --queue-num 7810 --queue-bypass\n"));
	assert_true(has("-A UEXT_NE_IN -p udp -j NFQUEUE --queue-num 7810 --queue-bypass\n"));
	assert_true(has("-A UEXT_NE_OUT -p tcp -m mark ! --mark 0x0/0x7000000 -m length --length 0:52 -j RETURN\n"));
	assert_true(has("-A UEXT_NE_POST -m mark --mark 0x2000000/0x7000000 -p tcp -j REJECT --reject-with tcp-reset\n"));
	assert_true(has("-I OUTPUT 1 -j UEXT_NE_OUT\n"));
	assert_true(has("-I INPUT 1 -j UEXT_NE_POST\n"));
	assert_false(has("--syn")); /* not lazy */
	assert_false(has("FORWARD"));
	assert_false(has("--set-xmark 0x2000000/0x7000000")); /* fail-open: no drop when uextd is down */
	/* every line touches uext's chains only (or jumps into them) */
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		if (l[0] == '*' || strcmp(l, "COMMIT") == 0) continue;
		if (l[0] == ':') {
			assert_true(strncmp(l, ":UEXT_NE_", 9) == 0);
			continue;
		}
		bool own = strncmp(l, "-A UEXT_NE_", 11) == 0;
		bool jump = strncmp(l, "-I ", 3) == 0 && strstr(l, " 1 -j UEXT_NE_");
		assert_true(own || jump);
	}
}

static void test_modes(void **state)
{
	(void)state;
	struct ne_fw_config c = { .queue = 9, .mark_mask = 0x70, .fail_closed = true, .lazy_tcp = true, .forward = true,
				  .loopback = true };
	assert_true(render(&c, 6, NULL, 0, false) > 0);
	assert_true(has("-A UEXT_NE_OUT -p tcp --syn -m mark --mark 0x0/0x70 -j CONNMARK --set-xmark 0x30/0x70\n"));
	assert_true(has("-A UEXT_NE_IN -p tcp --syn -m mark --mark 0x0/0x70 -j CONNMARK --set-xmark 0x40/0x70\n"));
	assert_true(has("-A UEXT_NE_OUT -p udp -j MARK --set-xmark 0x20/0x70\n")); /* uextd down: reset */
	assert_true(has("--length 0:72 ")); /* IPv6 header */
	assert_true(has("icmp6-port-unreachable"));
	assert_true(has(":UEXT_NE_FWD - [0:0]"));
	assert_false(has(" lo -j RETURN")); /* loopback filtered too */
	assert_false(has("-I ")); /* jumps exist already */
}

static void test_static_rules(void **state)
{
	(void)state;
	struct ne_fw_config c = { .queue = 1, .mark_mask = 0x07000000 };
	struct new_rule r[4] = { 0 };
	r[0] = (struct new_rule){ .action = 2, .protocol = IPPROTO_TCP, .family = AF_INET, .addr = { 192, 0, 2, 0 },
				  .prefix = 24, .port_min = 25, .uid = -1 };
	r[1] = (struct new_rule){ .action = 1, .direction = 1, .uid = 1000 };
	r[2] = (struct new_rule){ .action = 3, .protocol = IPPROTO_UDP, .port_min = 53, .port_max = 53, .uid = -1 };
	r[3] = (struct new_rule){ .action = 2, .uid = -1 };
	strcpy(r[3].exe, "/usr/bin/x"); /* decided in uextd, not here */
	assert_true(render(&c, 4, r, 4, false) > 0);
	const char *a = strstr(buf, "-A UEXT_NE_SOUT -m mark --mark 0x0/0x7000000 -p tcp -d 192.0.2.0/24 --dport 25:25 -j MARK --set-xmark 0x2000000/0x7000000\n");
	const char *b = strstr(buf, "-A UEXT_NE_SOUT -m mark --mark 0x0/0x7000000 -m owner --uid-owner 1000 -j MARK --set-xmark 0x1000000/0x7000000\n");
	const char *d = strstr(buf, "-A UEXT_NE_SOUT -m mark --mark 0x0/0x7000000 -p udp --dport 53:53 -j RETURN\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(d);
	assert_true(a < b && b < d); /* the filter's order */
	assert_true(has("-A UEXT_NE_SIN -m mark --mark 0x0/0x7000000 -p udp --sport 53:53 -j RETURN\n"));
	assert_false(has("/usr/bin/x"));
	/* the IPv4 rule is not in the IPv6 set, the uid rule never inbound */
	assert_true(render(&c, 6, r, 4, false) > 0);
	assert_false(has("192.0.2.0"));
	assert_false(strstr(strstr(buf, ":UEXT_NE_SIN"), "-A UEXT_NE_SIN -m mark --mark 0x0/0x7000000 -m owner"));
}

static void test_too_small(void **state)
{
	(void)state;
	struct ne_fw_config c = { .queue = 1, .mark_mask = 0x07000000 };
	bool j[4] = { true, true, true, true };
	char small[100];
	assert_int_equal(ne_fw_render(&c, 4, NULL, 0, j, small, sizeof small), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_marks),        cmocka_unit_test(test_default_rules), cmocka_unit_test(test_modes),
		cmocka_unit_test(test_static_rules), cmocka_unit_test(test_too_small),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
