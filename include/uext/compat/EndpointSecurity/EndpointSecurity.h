/* <EndpointSecurity/EndpointSecurity.h> for uext: lets a macOS ES client keep its include
 * line when built with -I<includedir>/uext/compat. Everything comes from <uext/es.h>;
 * docs/es-api.md lists the differences from macOS. */
#ifndef UEXT_COMPAT_ENDPOINTSECURITY_H
#define UEXT_COMPAT_ENDPOINTSECURITY_H

#include <uext/es.h>

#endif
