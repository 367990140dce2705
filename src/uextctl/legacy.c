/* legacy.c owns reading /proc/modules and /sys/module/<name>/taint, the table that maps a
 * tainting module to what it hooks and the uext type that replaces it, and the report's
 * text and JSON forms. It reads only; it never loads, unloads or judges a module. */
#include "legacy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

/* Stop reading after this many bytes whatever the lines look like: a path given by the
 * user may be /dev/zero or a pipe that never ends. A full real list is far smaller. */
#define LEGACY_MAX_BYTES ((size_t)LEGACY_MAX_MODULES * (LEGACY_LINE_MAX + 1))
#define TAINT_FILE_MAX 64u

/* ------------------------------------------------------------------------------------ */
/* Taint letters, in the order the kernel prints them (bit order of taint_flags[]).     */

static const struct {
	char letter;
	unsigned flag;
	const char *word;
} taint_letters[] = {
	{ 'P', LEGACY_TAINT_PROPRIETARY, "proprietary" },
	{ 'F', LEGACY_TAINT_FORCED, "forced" },
	{ 'C', LEGACY_TAINT_STAGING, "staging" },
	{ 'O', LEGACY_TAINT_OUT_OF_TREE, "out-of-tree" },
	{ 'E', LEGACY_TAINT_UNSIGNED, "unsigned" },
	{ 'K', LEGACY_TAINT_LIVEPATCH, "livepatch" },
	{ 'X', LEGACY_TAINT_AUX, "auxiliary" },
	{ 'T', LEGACY_TAINT_RANDSTRUCT, "randstruct" },
	{ 'N', LEGACY_TAINT_TEST, "test" },
};
#define N_TAINT_LETTERS (sizeof(taint_letters) / sizeof(taint_letters[0]))

const char *legacy_taint_word(char letter)
{
	for (size_t i = 0; i < N_TAINT_LETTERS; i++)
		if (taint_letters[i].letter == letter)
			return taint_letters[i].word;
	return "unknown";
}

/* The set of letters seen for one module; 'A'..'Z' only. */
struct taint_set {
	unsigned char seen[26];
};

static void taint_set_add(struct taint_set *s, char c)
{
	if (c >= 'A' && c <= 'Z')
		s->seen[c - 'A'] = 1;
}

/* Letters in kernel order, then any others alphabetically; returns the flag mask. */
static unsigned taint_set_render(const struct taint_set *s, char *out, size_t outlen)
{
	struct taint_set left = *s;
	unsigned flags = 0;
	size_t n = 0;

	for (size_t i = 0; i < N_TAINT_LETTERS; i++) {
		int k = taint_letters[i].letter - 'A';

		if (!left.seen[k])
			continue;
		left.seen[k] = 0;
		flags |= taint_letters[i].flag;
		if (n + 1 < outlen)
			out[n++] = taint_letters[i].letter;
	}
	for (int k = 0; k < 26; k++) {
		if (!left.seen[k])
			continue;
		flags |= LEGACY_TAINT_OTHER;
		if (n + 1 < outlen)
			out[n++] = (char)('A' + k);
	}
	if (outlen)
		out[n] = '\0';
	return flags;
}

/* ------------------------------------------------------------------------------------ */
/* The rule table. First match wins, so specific rules come before generic ones:
 * vendor names, then network patterns, then the broad device words ("usb", "tty", ...).
 * Names are compared case-insensitively. A TOKEN rule matches one whole '_'- or
 * '-'-separated part of the name, so "av" matches "sophos_av" but not "cavium".
 * Only modules that taint the kernel are ever classified, which is what keeps the broad
 * device words from flagging in-tree drivers.
 *
 * To add a product: one line, with the narrowest pattern that names it and a reason a
 * reader of `uextctl legacy --json` can act on. */

enum match { M_EXACT, M_PREFIX, M_SUBSTR, M_TOKEN };

static const char CAT_SECURITY[] = "security";
static const char CAT_NETWORK[] = "network";
static const char CAT_DEVICE[] = "device";
static const char CAT_FS[] = "filesystem";
static const char CAT_UNKNOWN[] = "unknown";

static const char T_ES[] = "endpoint-security";
static const char T_NF[] = "network-filter";
static const char T_TUN[] = "packet-tunnel";
static const char T_DRV[] = "driver";
static const char T_UNKNOWN[] = "unknown";

static const char WHY_UNKNOWN[] = "no rule matches the name or a holder; see what it hooks (modinfo) before replacing it";

struct legacy_rule {
	const char *pattern;
	enum match match;
	const char *category;
	const char *type;
	const char *why;
};

static const struct legacy_rule rules[] = {
	/* Endpoint security products: LSM, syscall-table or VFS hooks for exec/open/file
	 * events. uext's es engine gives the same events from fanotify and eBPF. */
	{ "falcon_nf", M_PREFIX, CAT_NETWORK, T_NF,
	  "CrowdStrike Falcon network containment: per-flow verdicts" },
	{ "falcon", M_PREFIX, CAT_SECURITY, T_ES,
	  "CrowdStrike Falcon sensor: LSM and process/file hooks" },
	{ "crowdstrike", M_SUBSTR, CAT_SECURITY, T_ES, "CrowdStrike sensor: process and file hooks" },
	{ "sentinel", M_SUBSTR, CAT_SECURITY, T_ES, "SentinelOne agent: process and file hooks" },
	{ "cbsensor", M_PREFIX, CAT_SECURITY, T_ES,
	  "Carbon Black EDR sensor: process, file and network events" },
	{ "cb", M_TOKEN, CAT_SECURITY, T_ES, "Carbon Black sensor: process and file events" },
	{ "sophos", M_SUBSTR, CAT_SECURITY, T_ES, "Sophos on-access scanning: file open/exec hooks" },
	{ "talpa", M_PREFIX, CAT_SECURITY, T_ES,
	  "Sophos Talpa on-access scanning: VFS and syscall hooks" },
	{ "eset", M_PREFIX, CAT_SECURITY, T_ES, "ESET real-time file system protection" },
	{ "mfe", M_PREFIX, CAT_SECURITY, T_ES,
	  "McAfee/Trellix (mfetp, mfehidk, ...): on-access scanning and syscall hooks" },
	{ "trellix", M_SUBSTR, CAT_SECURITY, T_ES, "Trellix endpoint security: file and process hooks" },
	{ "dsa_filter", M_PREFIX, CAT_NETWORK, T_NF,
	  "Trend Micro Deep Security firewall/IPS: packet verdicts" },
	{ "tmsyscall", M_PREFIX, CAT_SECURITY, T_ES,
	  "Trend Micro ServerProtect: syscall-table hooks for on-access scanning" },
	{ "tmhook", M_PREFIX, CAT_SECURITY, T_ES, "Trend Micro Deep Security: syscall hooks" },
	{ "bmhook", M_PREFIX, CAT_SECURITY, T_ES, "Trend Micro behaviour monitoring: process hooks" },
	{ "trend", M_SUBSTR, CAT_SECURITY, T_ES, "Trend Micro agent: file and process hooks" },
	{ "kaspersky", M_SUBSTR, CAT_SECURITY, T_ES, "Kaspersky on-access scanning" },
	{ "klif", M_PREFIX, CAT_SECURITY, T_ES, "Kaspersky interceptor: file system filter" },
	{ "kav4fs", M_PREFIX, CAT_SECURITY, T_ES, "Kaspersky Anti-Virus for file servers: on-access hooks" },
	{ "symev", M_PREFIX, CAT_SECURITY, T_ES, "Symantec/Broadcom SEP: event hooks for on-access scanning" },
	{ "symap", M_PREFIX, CAT_SECURITY, T_ES, "Symantec/Broadcom SEP: auto-protect file hooks" },
	{ "redirfs", M_PREFIX, CAT_SECURITY, T_ES,
	  "RedirFS: VFS call redirection used by on-access scanners" },
	{ "fanotify", M_SUBSTR, CAT_SECURITY, T_ES,
	  "file access notification/permission hooks (uext uses fanotify from user space)" },
	{ "lsm", M_TOKEN, CAT_SECURITY, T_ES, "a Linux Security Module: authorization hooks" },
	{ "av", M_TOKEN, CAT_SECURITY, T_ES, "an anti-virus module: on-access scanning" },
	{ "antivirus", M_SUBSTR, CAT_SECURITY, T_ES, "an anti-virus module: on-access scanning" },

	/* Networking: VPN clients become packet tunnels (the manager hands them a TUN fd);
	 * netfilter matches and targets become flow filters (NFQUEUE with conntrack marks). */
	{ "wireguard", M_PREFIX, CAT_NETWORK, T_TUN,
	  "out-of-tree WireGuard: a VPN tunnel (use the in-tree module or a packet tunnel)" },
	{ "ovpn", M_PREFIX, CAT_NETWORK, T_TUN, "OpenVPN data channel offload: a VPN tunnel" },
	{ "openvpn", M_SUBSTR, CAT_NETWORK, T_TUN, "OpenVPN: a VPN tunnel" },
	{ "anyconnect", M_SUBSTR, CAT_NETWORK, T_TUN, "Cisco AnyConnect/Secure Client VPN" },
	{ "vpnagent", M_SUBSTR, CAT_NETWORK, T_TUN, "Cisco AnyConnect/Secure Client VPN agent" },
	{ "zscaler", M_SUBSTR, CAT_NETWORK, T_TUN, "Zscaler Client Connector: tunnels traffic to the cloud" },
	{ "netskope", M_SUBSTR, CAT_NETWORK, T_TUN, "Netskope client: steers traffic to the cloud" },
	{ "pan_", M_PREFIX, CAT_NETWORK, T_TUN, "Palo Alto Networks GlobalProtect VPN" },
	{ "fortinet", M_SUBSTR, CAT_NETWORK, T_TUN, "Fortinet FortiClient VPN" },
	{ "forti", M_PREFIX, CAT_NETWORK, T_TUN, "Fortinet FortiClient VPN" },
	{ "ipsec", M_SUBSTR, CAT_NETWORK, T_TUN, "an IPsec VPN stack" },
	{ "nf_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree netfilter module: packet verdicts" },
	{ "nft_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree nftables expression: packet verdicts" },
	{ "xt_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree xtables match/target: packet verdicts" },
	{ "ipt_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree iptables match/target: packet verdicts" },
	{ "ip6t_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree ip6tables match/target: packet verdicts" },
	{ "ebt_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree ebtables match/target: frame verdicts" },
	{ "arpt_", M_PREFIX, CAT_NETWORK, T_NF, "an out-of-tree arptables match/target" },
	{ "ndpi", M_SUBSTR, CAT_NETWORK, T_NF, "nDPI deep packet inspection: flow classification" },

	/* Devices: the dk engine matches uevents/sysfs and passes a device handle (usbfs,
	 * hidraw/uinput, TUN/TAP, FUSE) to a driver process. GPU and hypervisor modules
	 * have no user-space replacement today; "driver" is the nearest uext type. */
	{ "nvidia", M_PREFIX, CAT_DEVICE, T_DRV, "NVIDIA GPU driver (proprietary)" },
	{ "vbox", M_PREFIX, CAT_DEVICE, T_DRV, "VirtualBox host/guest driver" },
	{ "vmw", M_PREFIX, CAT_DEVICE, T_DRV, "VMware driver" },
	{ "vmmon", M_PREFIX, CAT_DEVICE, T_DRV, "VMware Workstation monitor" },
	{ "vmnet", M_PREFIX, CAT_DEVICE, T_DRV, "VMware Workstation virtual network" },
	{ "usb", M_SUBSTR, CAT_DEVICE, T_DRV, "a USB device driver (usbfs from a driver extension)" },
	{ "hid", M_SUBSTR, CAT_DEVICE, T_DRV, "a HID device driver (hidraw/uinput from a driver extension)" },
	{ "drv", M_SUBSTR, CAT_DEVICE, T_DRV, "a device driver" },
	{ "serial", M_SUBSTR, CAT_DEVICE, T_DRV, "a serial device driver" },
	{ "tty", M_SUBSTR, CAT_DEVICE, T_DRV, "a tty device driver" },

	/* File systems: the nearest uext form is a FUSE file system in a driver extension. */
	{ "zfs", M_EXACT, CAT_FS, T_DRV, "OpenZFS: a kernel file system (FUSE from a driver extension)" },
	{ "spl", M_EXACT, CAT_FS, T_DRV, "OpenZFS Solaris Porting Layer: part of a kernel file system" },
};
#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static int token_match(const char *name, const char *tok)
{
	size_t tl = strlen(tok);
	const char *p = name;

	while (*p) {
		size_t n = strcspn(p, "_-");

		if (n == tl && strncasecmp(p, tok, tl) == 0)
			return 1;
		p += n;
		if (*p)
			p++;
	}
	return 0;
}

static int rule_match(const struct legacy_rule *r, const char *name)
{
	switch (r->match) {
	case M_EXACT:
		return strcasecmp(name, r->pattern) == 0;
	case M_PREFIX:
		return strncasecmp(name, r->pattern, strlen(r->pattern)) == 0;
	case M_SUBSTR:
		return strcasestr(name, r->pattern) != NULL;
	case M_TOKEN:
		return token_match(name, r->pattern);
	}
	return 0;
}

static const struct legacy_rule *rule_find(const char *name)
{
	for (size_t i = 0; i < N_RULES; i++)
		if (rule_match(&rules[i], name))
			return &rules[i];
	return NULL;
}

int legacy_classify(const char *name, const char **ret_category, const char **ret_type, const char **ret_why)
{
	const struct legacy_rule *r = name ? rule_find(name) : NULL;

	if (ret_category)
		*ret_category = r ? r->category : CAT_UNKNOWN;
	if (ret_type)
		*ret_type = r ? r->type : T_UNKNOWN;
	if (ret_why)
		*ret_why = r ? r->why : WHY_UNKNOWN;
	return r != NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Parsing. */

/* Module names become a path component below sys_module_dir: only [A-Za-z0-9_-]. */
static int name_valid(const char *s, size_t n)
{
	if (n == 0 || n >= LEGACY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

static int all_digits(const char *s)
{
	if (!*s || strlen(s) > 20)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* "-" or "a,b," (the kernel ends each name with a comma; "[permanent]," too). */
static int used_by_valid(const char *s)
{
	if (strcmp(s, "-") == 0)
		return 1;
	while (*s) {
		size_t n = strcspn(s, ",");

		if (s[n] != ',')
			return 0;
		if (!(n == 11 && strncmp(s, "[permanent]", 11) == 0) && !name_valid(s, n))
			return 0;
		s += n + 1;
	}
	return 1;
}

/* "(" letters, then '+' (loading) or '-' (unloading) at most once, ")". */
static int taint_field_parse(const char *s, struct taint_set *ts)
{
	size_t n = strlen(s);

	if (n < 2 || s[0] != '(' || s[n - 1] != ')')
		return -EINVAL;
	for (size_t i = 1; i < n - 1; i++) {
		if (s[i] >= 'A' && s[i] <= 'Z')
			taint_set_add(ts, s[i]);
		else if ((s[i] == '+' || s[i] == '-') && i == n - 2)
			continue;
		else
			return -EINVAL;
	}
	return 0;
}

struct mod_line {
	const char *name;
	const char *used_by;
	struct taint_set taint;
};

/* Split line (modified in place) into fields and check each. -EINVAL when malformed. */
static int line_parse(char *line, struct mod_line *ret)
{
	char *f[8];
	size_t nf = 0;
	char *p = line;

	memset(ret, 0, sizeof(*ret));
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (nf == 8)
			return -EINVAL;
		f[nf++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (nf != 6 && nf != 7)
		return -EINVAL;
	if (!name_valid(f[0], strlen(f[0])) || !all_digits(f[1]))
		return -EINVAL;
	/* refcount: "%i", or "-" when the kernel lacks CONFIG_MODULE_UNLOAD */
	if (strcmp(f[2], "-") != 0 && !all_digits(f[2][0] == '-' ? f[2] + 1 : f[2]))
		return -EINVAL;
	if (!used_by_valid(f[3]))
		return -EINVAL;
	if (strcmp(f[4], "Live") != 0 && strcmp(f[4], "Loading") != 0 && strcmp(f[4], "Unloading") != 0)
		return -EINVAL;
	if (strncmp(f[5], "0x", 2) != 0 || !f[5][2] || strspn(f[5] + 2, "0123456789abcdefABCDEF") != strlen(f[5] + 2))
		return -EINVAL;
	if (nf == 7 && taint_field_parse(f[6], &ret->taint) < 0)
		return -EINVAL;
	ret->name = f[0];
	ret->used_by = f[3];
	return 0;
}

/* Add the letters of <dir>/<name>/taint. Any failure only means no extra letters. */
static void sys_taint_read(const char *dir, const char *name, struct taint_set *ts)
{
	char path[PATH_MAX];
	char buf[TAINT_FILE_MAX];
	ssize_t n;
	int fd, len;

	len = snprintf(path, sizeof(path), "%s/%s/taint", dir, name);
	if (len < 0 || (size_t)len >= sizeof(path))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return;
	for (ssize_t i = 0; i < n && buf[i] >= 'A' && buf[i] <= 'Z'; i++)
		taint_set_add(ts, buf[i]);
}

/* Classify by the name, else by the first holder (a module in used_by) that a rule
 * names: a helper used by a security product is part of that product. */
static void finding_classify(struct legacy_finding *f, const char *used_by)
{
	const struct legacy_rule *r = rule_find(f->name);
	const char *p = used_by;

	if (r) {
		f->category = r->category;
		f->suggested_type = r->type;
		snprintf(f->reason, sizeof(f->reason), "%s", r->why);
		return;
	}
	while (strcmp(used_by, "-") != 0 && *p) {
		char holder[LEGACY_NAME_MAX];
		size_t n = strcspn(p, ",");

		if (n < sizeof(holder) && p[0] != '[') {
			memcpy(holder, p, n);
			holder[n] = '\0';
			r = rule_find(holder);
			if (r) {
				f->category = r->category;
				f->suggested_type = r->type;
				snprintf(f->reason, sizeof(f->reason), "used by '%s': %s", holder, r->why);
				return;
			}
		}
		p += n;
		if (*p)
			p++;
	}
	f->category = CAT_UNKNOWN;
	f->suggested_type = T_UNKNOWN;
	snprintf(f->reason, sizeof(f->reason), "%s", WHY_UNKNOWN);
}

/* Read one line into buf (capacity LEGACY_LINE_MAX + 1), without its newline.
 * Returns 1 for a line, 0 at EOF, -E2BIG for an over-long line (consumed and dropped),
 * -EINVAL for a line with a NUL byte, -EFBIG when the byte cap is reached, -errno. */
static int line_read(FILE *f, char *buf, size_t *total)
{
	size_t n = 0;
	int c, bad = 0, any = 0;

	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (++*total > LEGACY_MAX_BYTES)
			return -EFBIG;
		if (c == '\n')
			break;
		if (c == '\0')
			bad = -EINVAL;
		if (n < LEGACY_LINE_MAX)
			buf[n++] = (char)c;
		else
			bad = -E2BIG;
	}
	if (ferror(f))
		return -EIO;
	if (!any)
		return 0;
	buf[n] = '\0';
	return bad ? bad : 1;
}

static int report_add(struct legacy_report *r, size_t *cap, struct legacy_finding **ret)
{
	if (r->nfindings == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct legacy_finding *nf = realloc(r->findings, ncap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		r->findings = nf;
		*cap = ncap;
	}
	*ret = &r->findings[r->nfindings++];
	memset(*ret, 0, sizeof(**ret));
	return 0;
}

int legacy_scan(const char *proc_modules_path, const char *sys_module_dir, struct legacy_report **ret)
{
	struct legacy_report *r;
	FILE *f = NULL;
	char *line = NULL;
	size_t cap = 0, total = 0;
	struct stat st;
	int fd, rc;

	if (!ret)
		return -EINVAL;
	if (!proc_modules_path)
		proc_modules_path = LEGACY_PROC_MODULES;
	if (!sys_module_dir)
		sys_module_dir = LEGACY_SYS_MODULE;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;

	fd = open(proc_modules_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		if (errno == ENOENT) {
			/* CONFIG_MODULES=n: nothing can be loaded, so nothing to replace. */
			*ret = r;
			return 0;
		}
		rc = -errno;
		goto err;
	}
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	else
		rc = 0;
	if (rc < 0) {
		close(fd);
		goto err;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		close(fd);
		goto err;
	}
	r->modules_supported = 1;

	line = malloc(LEGACY_LINE_MAX + 1);
	if (!line) {
		rc = -ENOMEM;
		goto err;
	}

	for (;;) {
		struct mod_line ml;
		struct legacy_finding *fi;
		unsigned flags;
		char taint[LEGACY_TAINT_MAX];

		rc = line_read(f, line, &total);
		if (rc == 0)
			break;
		if (rc == -EFBIG) {
			r->truncated = 1;
			break;
		}
		if (rc == -E2BIG || rc == -EINVAL) {
			r->nskipped++;
			continue;
		}
		if (rc < 0)
			goto err;
		if (r->nmodules == LEGACY_MAX_MODULES) {
			r->truncated = 1;
			break;
		}
		if (line_parse(line, &ml) < 0) {
			r->nskipped++;
			continue;
		}
		r->nmodules++;

		sys_taint_read(sys_module_dir, ml.name, &ml.taint);
		flags = taint_set_render(&ml.taint, taint, sizeof(taint));
		if (!(flags & LEGACY_TAINT_REPORT))
			continue;

		rc = report_add(r, &cap, &fi);
		if (rc < 0)
			goto err;
		snprintf(fi->name, sizeof(fi->name), "%s", ml.name);
		memcpy(fi->taint, taint, sizeof(fi->taint));
		fi->flags = flags;
		finding_classify(fi, ml.used_by);
	}

	free(line);
	fclose(f);
	*ret = r;
	return 0;

err:
	free(line);
	if (f)
		fclose(f);
	legacy_report_free(r);
	return rc;
}

struct legacy_report *legacy_report_free(struct legacy_report *r)
{
	if (!r)
		return NULL;
	free(r->findings);
	free(r);
	return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* Output. */

static void taint_words(const char *taint, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = '\0';
	for (const char *p = taint; *p; p++) {
		int w = snprintf(out + n, outlen - n, "%s%s", n ? "," : "", legacy_taint_word(*p));

		if (w < 0 || (size_t)w >= outlen - n)
			break;
		n += (size_t)w;
	}
}

#define WORDS_MAX (LEGACY_TAINT_MAX * 16)

static int print_json(const struct legacy_report *r, FILE *out)
{
	json_t *arr = json_array();
	int rc = -ENOMEM;

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; r && i < r->nfindings; i++) {
		const struct legacy_finding *fi = &r->findings[i];
		json_t *o = json_object();
		json_t *flags = json_array();

		if (!o || !flags || json_array_append_new(arr, o) < 0) {
			json_decref(o);
			json_decref(flags);
			goto err;
		}
		for (const char *p = fi->taint; *p; p++)
			if (json_array_append_new(flags, json_string(legacy_taint_word(*p))) < 0) {
				json_decref(flags);
				goto err;
			}
		if (json_object_set_new(o, "name", json_string(fi->name)) < 0 ||
		    json_object_set_new(o, "taint", json_string(fi->taint)) < 0 ||
		    json_object_set_new(o, "flags", flags) < 0 ||
		    json_object_set_new(o, "category", json_string(fi->category)) < 0 ||
		    json_object_set_new(o, "suggested_type", json_string(fi->suggested_type)) < 0 ||
		    json_object_set_new(o, "reason", json_string(fi->reason)) < 0)
			goto err;
	}
	rc = json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 ? -EIO : 0;
	if (rc == 0 && fputc('\n', out) == EOF)
		rc = -EIO;
err:
	json_decref(arr);
	return rc;
}

static int print_text(const struct legacy_report *r, FILE *out)
{
	int wname = (int)strlen("MODULE"), wtaint = (int)strlen("TAINT"), wcat = (int)strlen("CATEGORY");
	char words[WORDS_MAX];

	if (!r->modules_supported) {
		fprintf(out, "no loadable module support (no %s): 0 tainting kernel modules\n",
			LEGACY_PROC_MODULES);
		return 0;
	}
	for (size_t i = 0; i < r->nfindings; i++) {
		const struct legacy_finding *fi = &r->findings[i];
		int n;

		taint_words(fi->taint, words, sizeof(words));
		if ((n = (int)strlen(fi->name)) > wname)
			wname = n;
		if ((n = (int)strlen(words)) > wtaint)
			wtaint = n;
		if ((n = (int)strlen(fi->category)) > wcat)
			wcat = n;
	}
	if (r->nfindings) {
		fprintf(out, "%-*s  %-*s  %-*s  %s\n", wname, "MODULE", wtaint, "TAINT", wcat, "CATEGORY",
			"REPLACE WITH");
		for (size_t i = 0; i < r->nfindings; i++) {
			const struct legacy_finding *fi = &r->findings[i];

			taint_words(fi->taint, words, sizeof(words));
			fprintf(out, "%-*s  %-*s  %-*s  %s\n", wname, fi->name, wtaint, words, wcat,
				fi->category, fi->suggested_type);
		}
	}
	if (r->nskipped)
		fprintf(out, "note: %zu malformed or over-long line%s ignored\n", r->nskipped,
			r->nskipped == 1 ? "" : "s");
	if (r->truncated)
		fprintf(out, "note: stopped after %zu modules; the list may be incomplete\n", r->nmodules);
	if (r->nfindings) {
		size_t known = 0;

		for (size_t i = 0; i < r->nfindings; i++)
			known += strcmp(r->findings[i].suggested_type, T_UNKNOWN) != 0;
		fprintf(out, "%zu tainting kernel module%s of %zu loaded, %zu with a uext replacement "
			"(reasons: uextctl --json legacy)\n",
			r->nfindings, r->nfindings == 1 ? "" : "s", r->nmodules, known);
	} else
		fprintf(out, "0 tainting kernel modules of %zu loaded\n", r->nmodules);
	return 0;
}

int legacy_print(const struct legacy_report *r, FILE *out, int json)
{
	int rc;

	if (!r || !out)
		return -EINVAL;
	rc = json ? print_json(r, out) : print_text(r, out);
	if (rc < 0)
		return rc;
	if (fflush(out) == EOF || ferror(out))
		return -EIO;
	return 0;
}
