/* fuzz_manifest.c feeds one input to every parser of untrusted configuration text in
 * common/: the manifest, the admin policy and version strings. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/manifest.h"
#include "common/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void use_manifest(const struct manifest *m)
{
	/* Touch every string so ASan sees any missing terminator or stale pointer. */
	volatile size_t sum = strlen(m->identifier) + strlen(m->publisher) + strlen(m->name) +
			      strlen(m->version_str) + strlen(m->executable);

	for (size_t i = 0; i < m->nargs; i++)
		sum += strlen(m->args[i]);
	for (size_t i = 0; i < m->nentitlements; i++)
		sum += strlen(m->entitlements[i]);
	if (m->args[m->nargs] || m->entitlements[m->nentitlements])
		abort();
	if (m->personalities)
		sum += strlen(m->personalities);
	if ((m->type == EXT_TYPE_DRIVER) != (m->personalities != NULL))
		abort();
	if (m->description)
		sum += strlen(m->description);
	if (!identifier_valid(m->identifier) || !publisher_valid(m->publisher))
		abort();
	(void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct manifest m = { 0 };
	struct policy *p = NULL;
	char err[256], reason[256];

	if (manifest_parse((const char *)data, size, &m, err, sizeof(err)) == 0) {
		use_manifest(&m);
		manifest_done(&m);
	}

	if (policy_parse((const char *)data, size, &p, err, sizeof(err)) == 0) {
		static const char *const pubs[] = { "acme", "beta", "a", "" };
		static const char *const ids[] = { "com.acme.filter", "a.b", "" };

		for (size_t i = 0; i < sizeof(pubs) / sizeof(pubs[0]); i++)
			for (size_t j = 0; j < sizeof(ids) / sizeof(ids[0]); j++)
				for (int t = 0; t <= EXT_TYPE_COUNT; t++) {
					if (policy_decide(p, pubs[i], ids[j], (enum ext_type)t, reason,
							  sizeof(reason)) > POLICY_DENY)
						abort();
					(void)policy_removable(p, pubs[i], ids[j]);
				}
		(void)policy_allow_user_overrides(p);
		p = policy_free(p);
	}

	/* Short inputs are also tried as a version and as names, NUL-terminated. */
	if (size <= 128) {
		char s[129];
		struct version v, w;

		memcpy(s, data, size);
		s[size] = '\0';
		if (version_parse(s, &v) == 0) {
			if (v.nparts < 1 || v.nparts > VERSION_MAX_PARTS || version_cmp(&v, &v) != 0)
				abort();
			w = v;
			w.nparts = 1;
			(void)version_cmp(&v, &w);
		}
		(void)identifier_valid(s);
		(void)publisher_valid(s);
		(void)ext_type_from_name(s);
	}
	return 0;
}
