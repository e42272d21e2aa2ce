/*
 * clock.h - seconds as doubles: the monotonic clock for every interval,
 * deadline and backoff (it does not jump when the wall clock is set), and
 * the real clock for what is compared with timestamps from outside (a file's
 * mtime, a stream ID's milliseconds).
 */
#ifndef LB_CLOCK_H
#define LB_CLOCK_H

/* CLOCK_MONOTONIC in seconds: only differences mean anything. */
double lb_clock_mono(void);

/* CLOCK_REALTIME in seconds since the epoch. */
double lb_clock_real(void);

#endif
