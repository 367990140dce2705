/* policy.h owns the admin policy (<conf>/policy.json), the analogue of macOS's
 * com.apple.system-extension-policy payload, and the decisions taken from it.
 *
 * {
 *   "allow_user_overrides": true,                 admins may approve what is not listed
 *   "allowed_publishers": ["acme"],               every extension of these: pre-approved
 *   "allowed_extensions": {"acme": ["com.acme.filter"]},  these: pre-approved
 *   "allowed_types": {"acme": ["network-filter"]},       only these types of acme (any
 *                                                        decision); absent: all types
 *   "removable_extensions": {"acme": ["com.acme.filter"]}  when present for a publisher,
 *                  its policy-approved extensions not listed cannot be deactivated or
 *                  uninstalled (admin-approved ones always can)
 * }
 * A missing file means the default policy: nothing pre-approved, admins may approve. */
#pragma once

#include <stddef.h>

#include "manifest.h"

struct policy; /* opaque */

enum policy_decision {
	POLICY_ALLOW,        /* pre-approved: enable at once */
	POLICY_NEEDS_USER,   /* wait for `uextctl approve` */
	POLICY_DENY,         /* refused: reason says why */
};

/* Load from a file. A missing file gives the default policy (returns 0). A present but
 * malformed file is -EINVAL with the reason (naming the key) in err. */
int policy_load(const char *path, struct policy **ret, char *err, size_t errlen);
/* Parse from memory (capped at 256 KiB). */
int policy_parse(const char *text, size_t len, struct policy **ret, char *err, size_t errlen);
struct policy *policy_free(struct policy *p);

/* Decide for a manifest. reason gets a one-line explanation for every decision. */
enum policy_decision policy_decide(const struct policy *p, const char *publisher,
				   const char *identifier, enum ext_type type,
				   char *reason, size_t reasonlen);
/* 1 if an extension approved by policy (not by an admin) may be removed, else 0. */
int policy_removable(const struct policy *p, const char *publisher, const char *identifier);
int policy_allow_user_overrides(const struct policy *p);
