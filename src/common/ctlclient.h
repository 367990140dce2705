/* ctlclient.h: the client side of uextd's control socket, for uextctl and test tools. */
#pragma once

#include "ipc.h"

/* One connect to the SEQPACKET socket at path (control, es or ne): an fd or -errno. */
int ctl_connect_once(const char *path);
/* Connect to the control socket at path. When uextd is not up yet (no socket, or
 * nobody listening), wait for it up to timeout_ms, watching the directory with
 * inotify rather than polling. Returns an fd or -errno (-ETIMEDOUT). */
int ctl_connect(const char *path, int timeout_ms);
/* Send req (its seq is set here) and wait for the reply with the same seq.
 * timeout_ms bounds the wait (-ETIMEDOUT). On success *ret holds the reply. */
int ctl_call(int fd, struct ipc_msg *req, struct ipc_msg *ret, int timeout_ms);
