/* legacy.h owns `uextctl legacy`: finding loaded kernel modules that taint the kernel
 * (the Linux analogue of macOS's "legacy system extension" notice for kexts) and naming
 * the uext extension type that replaces each. Exit codes are the caller's business.
 *
 * Input is /proc/modules, one module a line:
 *   "name size refcount used_by state address [(taint letters[+|-])]"
 *   e.g. "nvidia 56807424 80 nvidia_uvm,nvidia_modeset, Live 0x0000000000000000 (POE)"
 * merged (letter union) with /sys/module/<name>/taint when that file exists. Both are
 * treated as untrusted text: lines over LEGACY_LINE_MAX bytes, malformed lines and names
 * that could escape <sys_module_dir> are skipped and counted, never fatal.
 *
 * Classification is by name, from a documented first-match table in legacy.c; a module
 * no rule names takes the category of the first named module in its used_by list (a
 * helper held by a security product belongs to that product). */
#pragma once

#include <stddef.h>
#include <stdio.h>

#define LEGACY_PROC_MODULES "/proc/modules"
#define LEGACY_SYS_MODULE "/sys/module"

#define LEGACY_LINE_MAX 4096u     /* longer lines (newline excluded) are skipped */
#define LEGACY_MAX_MODULES 10000u /* parsing stops there (report->truncated) */
#define LEGACY_NAME_MAX 64u       /* kernel MODULE_NAME_LEN is 56 with the NUL */
#define LEGACY_TAINT_MAX 32u      /* distinct taint letters kept, plus the NUL */
#define LEGACY_REASON_MAX 256u

/* Module taint letters (kernel Documentation/admin-guide/tainted-kernels.rst). */
enum {
	LEGACY_TAINT_PROPRIETARY = 1u << 0, /* P */
	LEGACY_TAINT_OUT_OF_TREE = 1u << 1, /* O */
	LEGACY_TAINT_UNSIGNED = 1u << 2,    /* E */
	LEGACY_TAINT_STAGING = 1u << 3,     /* C */
	LEGACY_TAINT_FORCED = 1u << 4,      /* F */
	LEGACY_TAINT_LIVEPATCH = 1u << 5,   /* K */
	LEGACY_TAINT_AUX = 1u << 6,         /* X */
	LEGACY_TAINT_RANDSTRUCT = 1u << 7,  /* T */
	LEGACY_TAINT_TEST = 1u << 8,        /* N */
	LEGACY_TAINT_OTHER = 1u << 9,       /* any other letter */
};
/* A module is reported when it carries any of these. */
#define LEGACY_TAINT_REPORT                                                                        \
	(LEGACY_TAINT_PROPRIETARY | LEGACY_TAINT_OUT_OF_TREE | LEGACY_TAINT_UNSIGNED |             \
	 LEGACY_TAINT_STAGING | LEGACY_TAINT_FORCED)

struct legacy_finding {
	char name[LEGACY_NAME_MAX];     /* as the kernel spells it */
	char taint[LEGACY_TAINT_MAX];   /* letters in kernel order, e.g. "POE" */
	unsigned flags;                 /* LEGACY_TAINT_* */
	const char *category;           /* static: "security", "network", "device",
					 * "filesystem" or "unknown" */
	const char *suggested_type;     /* static: a uext type name ("endpoint-security",
					 * "network-filter", "packet-tunnel", "driver", ...)
					 * or "unknown" */
	char reason[LEGACY_REASON_MAX]; /* why this category: the rule, or the holder */
};

struct legacy_report {
	int modules_supported;          /* 0: no /proc/modules (CONFIG_MODULES=n) */
	size_t nmodules;                /* well-formed module lines read */
	size_t nskipped;                /* malformed or over-long lines ignored */
	int truncated;                  /* stopped at LEGACY_MAX_MODULES (or the byte cap) */
	size_t nfindings;
	struct legacy_finding *findings; /* file order */
};

/* Read proc_modules_path (NULL: LEGACY_PROC_MODULES) and the taint files below
 * sys_module_dir (NULL: LEGACY_SYS_MODULE; a missing directory or file only means "no
 * extra letters"), and build a report of every module with a LEGACY_TAINT_REPORT flag.
 * A missing proc_modules_path is not an error: the report says modules_supported = 0
 * with no findings. *ret is written only on success and freed with legacy_report_free().
 * Returns 0, -EINVAL (ret NULL), -ENOMEM, -EISDIR, -EIO (read error) or -errno from open. */
int legacy_scan(const char *proc_modules_path, const char *sys_module_dir, struct legacy_report **ret);
/* Frees r (NULL accepted); returns NULL. */
struct legacy_report *legacy_report_free(struct legacy_report *r);

/* Print r to out: a table and a closing line with the count, or with json != 0 a JSON
 * array of {name, taint, flags: [words], category, suggested_type, reason} ("[]" when
 * nothing was found or modules are unsupported). Returns 0, -EINVAL, -ENOMEM or -EIO. */
int legacy_print(const struct legacy_report *r, FILE *out, int json);

/* Classify one module by name alone, from the static rule table in legacy.c. The
 * out-pointers (each may be NULL) get static strings; "unknown" when no rule matches.
 * Returns 1 when a rule matched, 0 when none did. */
int legacy_classify(const char *name, const char **ret_category, const char **ret_type, const char **ret_why);
/* "proprietary", "out-of-tree", "unsigned", "staging", "forced", "livepatch",
 * "auxiliary", "randstruct", "test"; "unknown" for any other letter. */
const char *legacy_taint_word(char letter);
