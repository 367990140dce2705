/* control.h owns the control socket of uextd: who may connect and ask what (checked
 * with SO_PEERCRED), and requests that wait for an extension to reach a state. */
#pragma once

#include "loop.h"
#include "manager.h"

struct control;

/* Bind <run>/control.sock (replacing a stale one) and start accepting. */
int control_new(struct loop *l, struct manager *m, const char *sock_path, struct control **ret);
struct control *control_free(struct control *c);
