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
 *    when there is no --metrics-file;
 *  - metrics_file: where the job itself writes metrics (a standalone
 *    command's --metrics-file), or NULL when another thread writes them
 *    (run's main thread writes the file for all its jobs).
 *
 * The metrics file's cadence (DESIGN.md: every 5 s and at exit) is one
 * lb_job_tick, held by whoever writes the file: a standalone tail or mirror,
 * or run's main thread.
 */
#ifndef LB_JOB_H
#define LB_JOB_H

#include <stdatomic.h>

#include "cli.h"
#include "metrics.h"
#include "redis.h"

struct lb_job_env {
    int stop_fd;
    atomic_int *stop;
    atomic_uint *hup;
    struct lb_metrics *metrics;
    const char *metrics_file;
};

/* The environment the signal thread serves (lb_signals_start must have
 * succeeded), with the given metrics registry (may be NULL) and the file the
 * job writes it to (NULL: not the job's to write). */
void lb_job_env_init(struct lb_job_env *env, struct lb_metrics *metrics, const char *metrics_file);

/* A standalone command (tail, mirror), its options parsed: start its log
 * (lb_common_start), the signal thread and, with --metrics-file, a registry
 * the job writes itself; then job(arg, env). Logs what fails; closes the
 * log. Returns the job's exit code, or the failed step's. */
int lb_job_standalone(const struct lb_common *c, const struct lb_cli *cli,
                      int (*job)(void *arg, const struct lb_job_env *env), void *arg);

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

/* ---- the metrics tick ---------------------------------------------------------------------- */

#define LB_JOB_METRICS_SEC 5.0

/* A deadline on the monotonic clock (clock.h): an event loop arms its timer
 * or its poll timeout for lb_job_tick_due(); a loop that wakes anyway (mirror,
 * at least once a second) asks lb_job_tick_is_due(). */
struct lb_job_tick {
    struct lb_metrics *m; /* NULL: nothing to write, never due */
    const char *file;     /* for messages */
    double due;           /* lb_clock_mono() time of the next write */
    int failing;          /* warned that writes fail: not again every 5 s */
};

/* Start the cadence: the first write is due LB_JOB_METRICS_SEC from now.
 * m or file NULL: never due, lb_job_tick_write does nothing. */
void lb_job_tick_init(struct lb_job_tick *t, struct lb_metrics *m, const char *file);

/* The job's tick: its own when env->metrics_file is set, else never due. */
void lb_job_tick_init_env(struct lb_job_tick *t, const struct lb_job_env *env);

/* When the next write is due (INFINITY: never). */
double lb_job_tick_due(const struct lb_job_tick *t);

/* Is a write due at now (lb_clock_mono())? */
int lb_job_tick_is_due(const struct lb_job_tick *t, double now);

/* Write the file now (due or not: at exit too). A failure is logged once
 * when writes start failing, and once when they work again; the next write
 * is due LB_JOB_METRICS_SEC later either way. */
void lb_job_tick_write(struct lb_job_tick *t);

#endif
