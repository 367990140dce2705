/* internal.h: what libuext's parts share and do not export. */
#pragma once

/* In an extension started by uextd: ask the manager for an es client connection and
 * return its fd. -ENOTCONN when this process is not a running extension, else the
 * manager's -errno (-EPERM: not an endpoint-security extension, -ENOTSUP: no es engine). */
int uext_ext_es_connect(int *ret_fd);
/* The same for a network filter connection (-EPERM: not a network-filter extension). */
int uext_ext_ne_connect(int *ret_fd);

/* Connect to uextd's socket for root clients of an engine (<run>/es.sock or ne.sock, the
 * root from $UEXT_ROOT). The fd, or -errno of socket/connect (-ENOENT: no socket there). */
enum uext_lib_engine { UEXT_LIB_ENGINE_ES, UEXT_LIB_ENGINE_NE };
int uext_lib_connect_engine(enum uext_lib_engine which);
/* poll for POLLIN, EINTR retried: 0, -ETIMEDOUT, or -errno. ms < 0: no limit. */
int uext_lib_wait_readable(int fd, int ms);
