/* log.c writes uextd's log lines to stderr with a wall-clock time and a level. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

int log_max_level = LOG_INFO;

void ulog(int level, const char *fmt, ...)
{
	if (level > log_max_level) return;
	static const char *names[] = { "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug" };
	char line[2048], ts[32];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	localtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof ts, "%H:%M:%S", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s.%03ld uextd %s: %s\n", ts, now.tv_nsec / 1000000, names[level & 7], line);
}
