/* <bsm/libbsm.h> for uext: the audit-token accessors a macOS ES client takes from libbsm.
 * Only for builds with -I<includedir>/uext/compat; do not use it beside a real OpenBSM.
 * What each slot of audit_token_t holds on Linux is documented in <uext/es_types.h>. */
#ifndef UEXT_COMPAT_BSM_LIBBSM_H
#define UEXT_COMPAT_BSM_LIBBSM_H

#include <uext/es_types.h>

/* OpenBSM's types, as libbsm's accessors use them. */
typedef uid_t au_id_t;
typedef pid_t au_asid_t;

#endif
