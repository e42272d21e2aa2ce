/*
 * clock.c - the one place logbridge reads a clock in seconds (clock.h).
 */
#include "clock.h"

#include <time.h>

static double lb_clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double lb_clock_mono(void)
{
    return lb_clock_seconds(CLOCK_MONOTONIC);
}

double lb_clock_real(void)
{
    return lb_clock_seconds(CLOCK_REALTIME);
}
