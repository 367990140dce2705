/* internal.h: what libuext's parts share and do not export. */
#pragma once

/* In an extension started by uextd: ask the manager for an es client connection and
 * return its fd. -ENOTCONN when this process is not a running extension, else the
 * manager's -errno (-EPERM: not an endpoint-security extension, -ENOTSUP: no es engine). */
int uext_ext_es_connect(int *ret_fd);
/* The same for a network filter connection (-EPERM: not a network-filter extension). */
int uext_ext_ne_connect(int *ret_fd);
