/*
 * job.h - what a long-running job (tail, mirror) is given by whoever runs it:
 * the command itself (standalone), or `run` with several jobs, each in its
 * own thread with its own Redis connection.
 *
 * Either way the process has one signal thread (signals.h), and the job's
 * environment comes from it:
 *  - stop_fd: an eventfd that becomes readable when the job must commit what
 *    it has read and return 0. It is never read (every job and thread shares
 *    it), so an event loop must stop watching it once it has seen it;
 *  - stop: set just before stop_fd, for a loop that is not in epoll (mirror
 *    in XREAD BLOCK <= 1000 ms, a backoff sleep);
 *  - hup: the SIGHUP generation, never reset: a job keeps the last value it
 *    acted on and reopens its own output files (mirror files) when it
 *    differs (lb_signals_hup_changed). logbridge's own log is reopened by the
 *    signal thread, never by a job;
 *  - metrics: shared and thread-safe (lb_metrics_* lock internally); NULL
 *    when there is no --metrics-file.
 */
#ifndef LB_JOB_H
#define LB_JOB_H

#include <stdatomic.h>

#include "metrics.h"
#include "redis.h"

struct lb_job_env {
    int stop_fd;
    atomic_int *stop;
    atomic_uint *hup;
    struct lb_metrics *metrics;
};

/* The environment the signal thread serves (lb_signals_start must have
 * succeeded), with the given metrics registry (may be NULL). */
void lb_job_env_init(struct lb_job_env *env, struct lb_metrics *metrics);

/* What a job last reported of its connection's counters. */
struct lb_redis_seen {
    unsigned long reconnects, moved, ask;
};

/* Every connection series at 0 (counters exist from the start). */
void lb_job_redis_metrics_init(struct lb_metrics *m);

/* Add to logbridge_redis_reconnects_total and
 * logbridge_redis_redirects_total{kind} what r counted since *seen. */
void lb_job_redis_metrics(struct lb_metrics *m, const struct lb_redis *r,
                          struct lb_redis_seen *seen);

/* Has a stop been requested? Looks at the flag and the eventfd (without
 * reading it). */
int lb_job_stopping(const struct lb_job_env *env);

#endif
