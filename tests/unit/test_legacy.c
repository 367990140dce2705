/* test_legacy.c checks `uextctl legacy`: /proc/modules and /sys/module taint parsing,
 * the classification table, both output forms, and every cap on untrusted input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "uextctl/legacy.h"

#define PROC TEST_DATA_DIR "/legacy/proc_modules"
#define SYS TEST_DATA_DIR "/legacy/sys_module"

struct expect {
	const char *name;
	const char *taint;
	unsigned flags;
	const char *category;
	const char *type;
	const char *reason_prefix;
};

#define POE (LEGACY_TAINT_PROPRIETARY | LEGACY_TAINT_OUT_OF_TREE | LEGACY_TAINT_UNSIGNED)
#define OE (LEGACY_TAINT_OUT_OF_TREE | LEGACY_TAINT_UNSIGNED)

/* Everything the fixture must yield, in file order. */
static const struct expect fixture[] = {
	{ "talpa_vfshook", "OE", OE, "security", "endpoint-security", "Sophos Talpa" },
	{ "acme_hookcore", "OE", OE, "security", "endpoint-security", "used by 'falcon_lsm_serviceable': " },
	{ "falcon_lsm_serviceable", "OE", OE, "security", "endpoint-security", "CrowdStrike Falcon sensor" },
	{ "falcon_nf_netcontain", "OE", OE, "network", "network-filter", "CrowdStrike Falcon network" },
	{ "nvidia_uvm", "POE", POE, "device", "driver", "NVIDIA" },
	{ "nvidia_drm", "POE", POE, "device", "driver", "NVIDIA" },
	{ "nvidia_modeset", "POE", POE, "device", "driver", "NVIDIA" },
	{ "nvidia", "POE", POE, "device", "driver", "NVIDIA" },
	{ "wireguard", "O", LEGACY_TAINT_OUT_OF_TREE, "network", "packet-tunnel", "out-of-tree WireGuard" },
	{ "r8168", "OE", OE, "unknown", "unknown", "no rule matches" },
	{ "vmmon", "FOE", OE | LEGACY_TAINT_FORCED, "device", "driver", "VMware" },
	{ "most_usb", "C", LEGACY_TAINT_STAGING, "device", "driver", "a USB device driver" },
};
#define N_FIXTURE (sizeof(fixture) / sizeof(fixture[0]))

static char *tmp_write(const char *data, size_t len)
{
	char *path = strdup("/tmp/uext-test-legacy-XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void tmp_remove(char *path)
{
	unlink(path);
	free(path);
}

/* Scan a file holding exactly data; no sys dir. */
static struct legacy_report *scan_text(const char *data, size_t len)
{
	struct legacy_report *r = NULL;
	char *path = tmp_write(data, len);

	assert_int_equal(legacy_scan(path, "/nonexistent-uext-sys", &r), 0);
	assert_non_null(r);
	tmp_remove(path);
	return r;
}

/* noinline: inlined, gcc 12 -O2 takes the memstream's buffer for the local it was
 * returned through (-Wdangling-pointer, a false positive) */
__attribute__((noinline)) static char *print_to_string(const struct legacy_report *r, int json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(legacy_print(r, f, json), 0);
	fclose(f);
	return buf;
}

static void test_fixture_findings(void **state)
{
	struct legacy_report *r = NULL;

	assert_int_equal(legacy_scan(PROC, SYS, &r), 0);
	assert_non_null(r);
	assert_int_equal(r->modules_supported, 1);
	assert_int_equal(r->nmodules, 19);
	assert_int_equal(r->nskipped, 5);
	assert_int_equal(r->truncated, 0);
	assert_int_equal(r->nfindings, N_FIXTURE);
	for (size_t i = 0; i < N_FIXTURE; i++) {
		const struct legacy_finding *f = &r->findings[i];
		const struct expect *e = &fixture[i];

		assert_string_equal(f->name, e->name);
		assert_string_equal(f->taint, e->taint);
		assert_int_equal(f->flags, e->flags);
		assert_string_equal(f->category, e->category);
		assert_string_equal(f->suggested_type, e->type);
		if (strncmp(f->reason, e->reason_prefix, strlen(e->reason_prefix)) != 0)
			fail_msg("%s: reason '%s' does not start with '%s'", f->name, f->reason, e->reason_prefix);
	}
	assert_null(legacy_report_free(r));
}

/* Without the sys tree only /proc/modules counts: r8168 (tainted only in sys) drops. */
static void test_fixture_without_sys(void **state)
{
	struct legacy_report *r = NULL;

	assert_int_equal(legacy_scan(PROC, "/nonexistent-uext-sys", &r), 0);
	assert_int_equal(r->nfindings, N_FIXTURE - 1);
	for (size_t i = 0; i < r->nfindings; i++)
		assert_string_not_equal(r->findings[i].name, "r8168");
	legacy_report_free(r);
}

static void test_fixture_json(void **state)
{
	struct legacy_report *r = NULL;
	json_error_t jerr;
	json_t *arr;
	char *out;

	assert_int_equal(legacy_scan(PROC, SYS, &r), 0);
	out = print_to_string(r, 1);
	arr = json_loads(out, 0, &jerr);
	if (!arr)
		fail_msg("JSON does not parse: %s\n%s", jerr.text, out);
	assert_true(json_is_array(arr));
	assert_int_equal(json_array_size(arr), N_FIXTURE);
	for (size_t i = 0; i < N_FIXTURE; i++) {
		json_t *o = json_array_get(arr, i);
		json_t *flags = json_object_get(o, "flags");

		assert_true(json_is_object(o));
		assert_int_equal(json_object_size(o), 6);
		assert_string_equal(json_string_value(json_object_get(o, "name")), fixture[i].name);
		assert_string_equal(json_string_value(json_object_get(o, "taint")), fixture[i].taint);
		assert_string_equal(json_string_value(json_object_get(o, "category")), fixture[i].category);
		assert_string_equal(json_string_value(json_object_get(o, "suggested_type")), fixture[i].type);
		assert_string_equal(json_string_value(json_object_get(o, "reason")), r->findings[i].reason);
		assert_true(json_is_array(flags));
		assert_int_equal(json_array_size(flags), strlen(fixture[i].taint));
	}
	/* nvidia: the words, in kernel order */
	{
		json_t *flags = json_object_get(json_array_get(arr, 7), "flags");

		assert_string_equal(json_string_value(json_array_get(flags, 0)), "proprietary");
		assert_string_equal(json_string_value(json_array_get(flags, 1)), "out-of-tree");
		assert_string_equal(json_string_value(json_array_get(flags, 2)), "unsigned");
	}
	json_decref(arr);
	free(out);
	legacy_report_free(r);
}

static void test_fixture_text(void **state)
{
	struct legacy_report *r = NULL;
	char *out;

	assert_int_equal(legacy_scan(PROC, SYS, &r), 0);
	out = print_to_string(r, 0);
	assert_non_null(strstr(out, "MODULE"));
	assert_non_null(strstr(out, "REPLACE WITH"));
	assert_non_null(strstr(out, "falcon_lsm_serviceable"));
	assert_non_null(strstr(out, "proprietary,out-of-tree,unsigned"));
	assert_non_null(strstr(out, "forced,out-of-tree,unsigned"));
	assert_non_null(strstr(out, "endpoint-security\n"));
	assert_non_null(strstr(out, "packet-tunnel\n"));
	assert_non_null(strstr(out, "note: 5 malformed or over-long lines ignored\n"));
	assert_non_null(strstr(out, "\n12 tainting kernel modules of 19 loaded, 11 with a uext replacement "));
	assert_null(strstr(out, "livepatch_cve"));
	assert_null(strstr(out, "ext4"));
	assert_null(strstr(out, "overlong_mod"));
	/* the table's rows line up: every row has its type at the same column */
	{
		const char *hdr = strstr(out, "REPLACE WITH");
		const char *row = strstr(out, "\nnvidia ");
		size_t col = (size_t)(hdr - out);

		assert_non_null(hdr);
		assert_non_null(row);
		if (strncmp(row + 1 + col, "driver\n", 7) != 0)
			fail_msg("column of REPLACE WITH is %zu, nvidia row is '%.80s'", col, row + 1);
	}
	free(out);
	legacy_report_free(r);
}

/* CONFIG_MODULES=n: no /proc/modules is not an error. */
static void test_missing_file(void **state)
{
	struct legacy_report *r = NULL;
	char *out;

	assert_int_equal(legacy_scan("/nonexistent-uext/proc/modules", SYS, &r), 0);
	assert_non_null(r);
	assert_int_equal(r->modules_supported, 0);
	assert_int_equal(r->nfindings, 0);
	assert_int_equal(r->nmodules, 0);
	out = print_to_string(r, 0);
	assert_non_null(strstr(out, "no loadable module support"));
	assert_non_null(strstr(out, ": 0 tainting kernel modules\n"));
	free(out);
	out = print_to_string(r, 1);
	assert_string_equal(out, "[]\n");
	free(out);
	legacy_report_free(r);
}

/* What this very host says: a kernel without modules, or a readable list. */
static void test_this_host(void **state)
{
	struct legacy_report *r = NULL;

	assert_int_equal(legacy_scan(NULL, NULL, &r), 0);
	assert_int_equal(r->modules_supported, access(LEGACY_PROC_MODULES, F_OK) == 0);
	if (!r->modules_supported)
		assert_int_equal(r->nfindings, 0);
	legacy_report_free(r);
}

static void test_errors(void **state)
{
	struct legacy_report *r = (struct legacy_report *)(uintptr_t)1;

	assert_int_equal(legacy_scan(TEST_DATA_DIR "/legacy", SYS, &r), -EISDIR);
	assert_ptr_equal(r, (struct legacy_report *)(uintptr_t)1); /* untouched on error */
	assert_int_equal(legacy_scan(PROC, SYS, NULL), -EINVAL);
	assert_null(legacy_report_free(NULL));
	assert_int_equal(legacy_print(NULL, stdout, 0), -EINVAL);
}

static void test_malformed(void **state)
{
	static const char text[] =
		"\n"
		"   \n"
		"justaname\n"
		"a 1 0 - Live\n"                                     /* 5 fields */
		"a 1 0 - Live 0x0 (O) extra\n"                       /* 8 fields */
		"a/b 1 0 - Live 0x0 (O)\n"                           /* '/' in name */
		"a.b 1 0 - Live 0x0 (O)\n"                           /* '.' in name */
		"a 1x 0 - Live 0x0 (O)\n"                            /* size */
		"a 1 zero - Live 0x0 (O)\n"                          /* refcount */
		"a 1 0 b Live 0x0 (O)\n"                             /* holder without ',' */
		"a 1 0 b,,c, Live 0x0 (O)\n"                         /* empty holder */
		"a 1 0 - Dead 0x0 (O)\n"                             /* state */
		"a 1 0 - Live 0xZZ (O)\n"                            /* address */
		"a 1 0 - Live 1234 (O)\n"                            /* address */
		"a 1 0 - Live 0x0 O\n"                               /* no parentheses */
		"a 1 0 - Live 0x0 (o)\n"                             /* lower case */
		"a 1 0 - Live 0x0 (O+E)\n"                           /* '+' not last */
		"a 1 0 - Live 0x0 (OE\n"                             /* unclosed */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 0 - Live 0x0 (O)\n"
		"ok_mod 1 -1 - Unloading 0x0 (O-)\n"                 /* fine: refcount -1, unloading */
		"ok_nounload 1 - - Live 0xffffffffc0000000 (P)\n";   /* fine: !CONFIG_MODULE_UNLOAD */
	struct legacy_report *r = scan_text(text, sizeof(text) - 1);

	assert_int_equal(r->nmodules, 2);
	assert_int_equal(r->nskipped, 19);
	assert_int_equal(r->nfindings, 2);
	assert_string_equal(r->findings[0].name, "ok_mod");
	assert_string_equal(r->findings[0].taint, "O");
	assert_string_equal(r->findings[1].name, "ok_nounload");
	assert_int_equal(r->findings[1].flags, LEGACY_TAINT_PROPRIETARY);
	legacy_report_free(r);
}

/* A line of exactly LEGACY_LINE_MAX bytes is read; one byte more is skipped whole, and
 * the line after it is still parsed (no resynchronisation in the middle of a line). */
static void test_line_cap(void **state)
{
	static const char head[] = "capmod_a 1 1 ";
	static const char tail[] = ", Live 0x0 (O)";
	size_t fill = LEGACY_LINE_MAX - (sizeof(head) - 1) - (sizeof(tail) - 1);
	size_t cap = 2 * (LEGACY_LINE_MAX + 2) + 64;
	char *buf = malloc(cap), *p = buf;
	struct legacy_report *r;

	assert_non_null(buf);
	for (int extra = 0; extra < 2; extra++) {
		memcpy(p, head, sizeof(head) - 1);
		p[7] = extra ? 'b' : 'a';
		p += sizeof(head) - 1;
		/* holders "x,x,x,...": fill bytes, ending with 'x' before tail's ',' */
		for (size_t i = 0; i < fill + (size_t)extra; i++)
			*p++ = (i % 2) ? ',' : 'x';
		if (p[-1] == ',')
			p[-1] = 'y', p[-2] = 'y';
		memcpy(p, tail, sizeof(tail) - 1);
		p += sizeof(tail) - 1;
		*p++ = '\n';
	}
	memcpy(p, "after 1 0 - Live 0x0 (E)", 24);
	p += 24; /* no trailing newline at EOF: still a line */
	assert_int_equal(strchr(buf, '\n') - buf, LEGACY_LINE_MAX);

	r = scan_text(buf, (size_t)(p - buf));
	assert_int_equal(r->nskipped, 1);
	assert_int_equal(r->nmodules, 2);
	assert_int_equal(r->nfindings, 2);
	assert_string_equal(r->findings[0].name, "capmod_a");
	assert_string_equal(r->findings[1].name, "after");
	assert_string_equal(r->findings[1].taint, "E");
	legacy_report_free(r);
	free(buf);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "bad\0mod 1 0 - Live 0x0 (O)\ngood 1 0 - Live 0x0 (O)\n";
	struct legacy_report *r = scan_text(text, sizeof(text) - 1);

	assert_int_equal(r->nskipped, 1);
	assert_int_equal(r->nfindings, 1);
	assert_string_equal(r->findings[0].name, "good");
	legacy_report_free(r);
}

/* At most LEGACY_MAX_MODULES modules are read. */
static void test_module_cap(void **state)
{
	size_t n = LEGACY_MAX_MODULES + 5, len = 0;
	char *buf = malloc(n * 40);
	struct legacy_report *r;

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(buf + len, "m%zu 1 0 - Live 0x0 (O)\n", i);
	r = scan_text(buf, len);
	assert_int_equal(r->nmodules, LEGACY_MAX_MODULES);
	assert_int_equal(r->truncated, 1);
	assert_int_equal(r->nfindings, LEGACY_MAX_MODULES);
	assert_string_equal(r->findings[LEGACY_MAX_MODULES - 1].name, "m9999");
	free(buf);
	buf = print_to_string(r, 0);
	assert_non_null(strstr(buf, "note: stopped after 10000 modules"));
	free(buf);
	legacy_report_free(r);
}

/* Letters the kernel may add later are kept and shown, never dropped. */
static void test_taint_letters(void **state)
{
	static const char text[] = "m 1 0 - Live 0x0 (NTXKEOCFPZ)\nk 1 0 - Live 0x0 (KXTN)\n";
	struct legacy_report *r = scan_text(text, sizeof(text) - 1);
	char *out;

	assert_int_equal(r->nfindings, 1);
	assert_string_equal(r->findings[0].taint, "PFCOEKXTNZ");
	assert_true(r->findings[0].flags & LEGACY_TAINT_OTHER);
	out = print_to_string(r, 0);
	assert_non_null(strstr(out, "proprietary,forced,staging,out-of-tree,unsigned,livepatch,"
				    "auxiliary,randstruct,test,unknown "));
	free(out);
	assert_string_equal(legacy_taint_word('E'), "unsigned");
	assert_string_equal(legacy_taint_word('?'), "unknown");
	legacy_report_free(r);
}

static void test_classify(void **state)
{
	static const struct {
		const char *name, *category, *type;
	} cases[] = {
		{ "falcon_lsm_pinned_16206", "security", "endpoint-security" },
		{ "falcon_kal", "security", "endpoint-security" },
		{ "cbsensor", "security", "endpoint-security" },
		{ "cb_event_collector", "security", "endpoint-security" },
		{ "cb710", "unknown", "unknown" },          /* "cb" only as a whole token */
		{ "sophos_av", "security", "endpoint-security" },
		{ "talpa_core", "security", "endpoint-security" },
		{ "eset_rtp", "security", "endpoint-security" },
		{ "mfetp", "security", "endpoint-security" },
		{ "mfehidk", "security", "endpoint-security" }, /* not "hid": vendor first */
		{ "tmsyscall", "security", "endpoint-security" },
		{ "klif", "security", "endpoint-security" },
		{ "kav4fs_oas", "security", "endpoint-security" },
		{ "symev_rh_ES_8_x86_64", "security", "endpoint-security" },
		{ "SentinelOne", "security", "endpoint-security" },
		{ "acme_lsm", "security", "endpoint-security" },
		{ "acme-av", "security", "endpoint-security" },
		{ "fanotify_helper", "security", "endpoint-security" },
		{ "cavium_ptp", "unknown", "unknown" },     /* "av" only as a whole token */
		{ "ovpn_dco_v2", "network", "packet-tunnel" },
		{ "wireguard", "network", "packet-tunnel" },
		{ "anyconnect_kdf", "network", "packet-tunnel" },
		{ "zscaler_tun", "network", "packet-tunnel" },
		{ "pan_gp", "network", "packet-tunnel" },
		{ "xt_geoip", "network", "network-filter" },
		{ "nf_ndpi", "network", "network-filter" },
		{ "dsa_filter", "network", "network-filter" },
		{ "vboxdrv", "device", "driver" },
		{ "vboxnetflt", "device", "driver" },
		{ "vmw_vmci", "device", "driver" },
		{ "88x2bu_usb", "device", "driver" },
		{ "hid_acme", "device", "driver" },
		{ "acme_serial", "device", "driver" },
		{ "ttyacme", "device", "driver" },
		{ "zfs", "filesystem", "driver" },
		{ "zfs_extra", "unknown", "unknown" },
		{ "r8168", "unknown", "unknown" },
	};
	const char *cat, *type, *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int m = legacy_classify(cases[i].name, &cat, &type, &why);

		if (strcmp(cat, cases[i].category) || strcmp(type, cases[i].type))
			fail_msg("%s: got %s/%s, want %s/%s", cases[i].name, cat, type, cases[i].category,
				 cases[i].type);
		assert_int_equal(m, strcmp(cat, "unknown") != 0);
		assert_non_null(why);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(legacy_classify(NULL, NULL, NULL, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture_findings),
		cmocka_unit_test(test_fixture_without_sys),
		cmocka_unit_test(test_fixture_json),
		cmocka_unit_test(test_fixture_text),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_this_host),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_line_cap),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_module_cap),
		cmocka_unit_test(test_taint_letters),
		cmocka_unit_test(test_classify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
