/* reason.c: one-line, printable reasons for refusing untrusted input. */
#include "reason.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void reason_set(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *c = err; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
}

const char *reason_quote(const char *s, char *buf, size_t n)
{
	size_t o = 0;

	buf[o++] = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char tmp[8];
		size_t k;

		if (c == '"' || c == '\\')
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			k = (size_t)snprintf(tmp, sizeof(tmp), "%c", c);
		else
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", c);
		/* Always leave room for "..." and the terminator. */
		if (o + k + 4 > n) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		memcpy(buf + o, tmp, k);
		o += k;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

const char *reason_json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "an unknown value";
}
