/* reason.h: building the one-line reasons that parsers of untrusted input hand back. */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* printf into err (if given), then replace every control or non-ASCII byte with '?':
 * the reason ends up in logs and on an admin's terminal. */
void reason_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Quote untrusted text: printable ASCII kept, other bytes as \xHH, cut with "..." so one
 * hostile value cannot crowd out the rest of the message. Returns buf. */
const char *reason_quote(const char *s, char *buf, size_t n);
/* "an object", "a string", ...: the kind of a JSON value, for "must be X, not Y". */
const char *reason_json_kind(const json_t *v);
