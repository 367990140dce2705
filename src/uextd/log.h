/* log.h: uextd's own log, to stderr, one line per decision with the subject quoted. */
#pragma once

#include <syslog.h>

extern int log_max_level;
void ulog(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
