/* <mach/mach_time.h> for uext: enough Mach time for ES clients that budget their AUTH
 * deadlines. On uext, es_message_t.mach_time and .deadline are CLOCK_MONOTONIC nanoseconds,
 * so mach_absolute_time() reads that clock and the timebase is 1/1: Apple's usual
 *     (msg->deadline - mach_absolute_time()) * tb.numer / tb.denom
 * gives nanoseconds unchanged. Only for builds with -I<includedir>/uext/compat. */
#ifndef UEXT_COMPAT_MACH_MACH_TIME_H
#define UEXT_COMPAT_MACH_MACH_TIME_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef KERN_SUCCESS
#define KERN_SUCCESS 0
#endif
typedef int kern_return_t;

typedef struct mach_timebase_info {
	uint32_t numer;
	uint32_t denom;
} mach_timebase_info_data_t, *mach_timebase_info_t;

static inline kern_return_t mach_timebase_info(mach_timebase_info_t info)
{
	info->numer = 1;
	info->denom = 1;
	return KERN_SUCCESS;
}

#ifndef CLOCK_MONOTONIC
/* Strict ISO C modes (-std=c11) hide the POSIX clocks; Linux's CLOCK_MONOTONIC is 1 and
 * clockid_t is an int. */
extern int clock_gettime(int clock_id, struct timespec *tp);
#define UEXT_COMPAT_CLOCK_MONOTONIC 1
#else
#define UEXT_COMPAT_CLOCK_MONOTONIC CLOCK_MONOTONIC
#endif

/* CLOCK_MONOTONIC in nanoseconds (stops during suspend, as mach_absolute_time). */
static inline uint64_t mach_absolute_time(void)
{
	struct timespec ts;
	clock_gettime(UEXT_COMPAT_CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef __cplusplus
}
#endif
#endif
