/*
 * job.c - a job's environment, served by the signal thread (job.h).
 */
#include "job.h"

#include "clock.h"
#include "log.h"
#include "signals.h"

#include <math.h>
#include <poll.h>

void lb_job_env_init(struct lb_job_env *env, struct lb_metrics *metrics, const char *metrics_file)
{
    env->stop_fd = lb_signals_stop_fd();
    env->stop = &lb_stop_flag;
    env->hup = &lb_hup_flag;
    env->metrics = metrics;
    env->metrics_file = metrics_file;
}

int lb_job_standalone(const struct lb_common *c, const struct lb_cli *cli,
                      int (*job)(void *arg, const struct lb_job_env *env), void *arg)
{
    int rc = lb_common_start(c, cli);
    if (rc != 0)
        return rc;
    struct lb_error err = {0};
    struct lb_metrics *metrics = NULL;
    if (lb_signals_start(&err) != 0) {
        lb_error_log("%s", err.msg);
        rc = LB_EXIT_RUNTIME;
    } else if (c->metrics_file != NULL && (metrics = lb_metrics_create(c->metrics_file)) == NULL) {
        /* without --metrics-file there is no registry at all, so that mirror
         * skips the XINFO calls that only feed the lag gauge */
        lb_error_log("out of memory");
        rc = LB_EXIT_RUNTIME;
    } else {
        struct lb_job_env env;
        lb_job_env_init(&env, metrics, c->metrics_file);
        rc = job(arg, &env);
    }
    lb_metrics_destroy(metrics);
    lb_log_close();
    return rc;
}

int lb_job_stopping(const struct lb_job_env *env)
{
    if (env->stop != NULL && atomic_load(env->stop))
        return 1;
    if (env->stop_fd >= 0) {
        /* Only look: the eventfd is shared by every job of the process. */
        struct pollfd p = {env->stop_fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
            return 1;
    }
    return 0;
}

void lb_job_redis_metrics_init(struct lb_metrics *m)
{
    lb_metrics_add(m, "logbridge_redis_reconnects_total", "", 0);
    lb_metrics_add(m, "logbridge_redis_redirects_total", "kind=\"moved\"", 0);
    lb_metrics_add(m, "logbridge_redis_redirects_total", "kind=\"ask\"", 0);
}

static void lb_job_delta(struct lb_metrics *m, const char *name, const char *labels,
                         unsigned long now, unsigned long *seen)
{
    if (now > *seen)
        lb_metrics_add(m, name, labels, (double)(now - *seen));
    *seen = now;
}

void lb_job_redis_metrics(struct lb_metrics *m, const struct lb_redis *r,
                          struct lb_redis_seen *seen)
{
    lb_job_delta(m, "logbridge_redis_reconnects_total", "", lb_redis_reconnects(r),
                 &seen->reconnects);
    lb_job_delta(m, "logbridge_redis_redirects_total", "kind=\"moved\"",
                 lb_redis_redirects(r, 0), &seen->moved);
    lb_job_delta(m, "logbridge_redis_redirects_total", "kind=\"ask\"", lb_redis_redirects(r, 1),
                 &seen->ask);
}

/* ---- the metrics tick ---------------------------------------------------------------------- */

void lb_job_tick_init(struct lb_job_tick *t, struct lb_metrics *m, const char *file)
{
    t->m = file != NULL ? m : NULL;
    t->file = file;
    t->due = t->m != NULL ? lb_clock_mono() + LB_JOB_METRICS_SEC : INFINITY;
    t->failing = 0;
}

void lb_job_tick_init_env(struct lb_job_tick *t, const struct lb_job_env *env)
{
    lb_job_tick_init(t, env->metrics, env->metrics_file);
}

double lb_job_tick_due(const struct lb_job_tick *t)
{
    return t->due;
}

int lb_job_tick_is_due(const struct lb_job_tick *t, double now)
{
    return now >= t->due;
}

void lb_job_tick_write(struct lb_job_tick *t)
{
    if (t->m == NULL)
        return;
    struct lb_error err = {0};
    if (lb_metrics_write(t->m, &err) != 0) {
        if (!t->failing)
            lb_warn("%s; retrying every %g s", err.msg, LB_JOB_METRICS_SEC);
        t->failing = 1;
    } else if (t->failing) {
        lb_info("metrics file %s written again", t->file);
        t->failing = 0;
    }
    t->due = lb_clock_mono() + LB_JOB_METRICS_SEC;
}
