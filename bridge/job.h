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
 *    when nobody reads metrics (no --metrics-file, no --http). The job only
 *    updates it: the process's service (service.h) writes the file every 5 s
 *    from a thread of its own, and serves --http;
 *  - job, health, health_idx: the job's name ("tail", "mirror", or the
 *    config's "tail[0]"), the label of its per-job series, and its slot in
 *    the process's health table (service.h; health NULL: none). The job says
 *    how it stands with Redis through lb_job_report.
 */
#ifndef LB_JOB_H
#define LB_JOB_H

#include <stdatomic.h>
#include <stddef.h>

#include "cli.h"
#include "health.h"
#include "metrics.h"
#include "redis.h"

struct lb_service;

struct lb_job_env {
    int stop_fd;
    atomic_int *stop;
    atomic_uint *hup;
    struct lb_metrics *metrics;
    const char *job; /* NULL: the command's name */
    struct lb_health *health;
    int health_idx;
};

/* The environment the signal thread serves (lb_signals_start must have
 * succeeded), with the given metrics registry (may be NULL), no name and no
 * health slot. */
void lb_job_env_init(struct lb_job_env *env, struct lb_metrics *metrics);

/* The same, with the service's registry and a slot named job in its health
 * table (job is borrowed: it outlives the job). Returns 0 or LB_ENOMEM. */
int lb_job_env_serve(struct lb_job_env *env, struct lb_service *svc, const char *job);

/* A standalone command (tail, mirror), its options parsed: start its log
 * (lb_common_start), the signal thread and the service (metrics writer,
 * --http; a bad --http is exit 2 naming it); then job(arg, env) with a slot
 * named cli->cmd; then the service's last metrics write. Logs what fails;
 * closes the log. Returns the job's exit code, or the failed step's. */
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

/* The label string job="NAME" of the job's series (dflt: the name when
 * env->job is NULL). */
const char *lb_job_labels(const struct lb_job_env *env, const char *dflt, char *out, size_t cap);

/* Say how the job stands: st LB_HEALTH_OK (connected; committing or idle),
 * LB_HEALTH_DOWN (Redis unreachable or refusing, why says how), ... Sets
 * logbridge_redis_up{labels} (1 for OK, else 0) and the health slot. */
void lb_job_report(const struct lb_job_env *env, const char *labels, enum lb_health_state st,
                   const char *why);

/* Has a stop been requested? Looks at the flag and the eventfd (without
 * reading it). */
int lb_job_stopping(const struct lb_job_env *env);

#endif
