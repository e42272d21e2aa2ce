/*
 * job.c - a job's environment, served by the signal thread (job.h).
 */
#include "job.h"

#include "signals.h"

#include <poll.h>

void lb_job_env_init(struct lb_job_env *env, struct lb_metrics *metrics)
{
    env->stop_fd = lb_signals_stop_fd();
    env->stop = &lb_stop_flag;
    env->hup = &lb_hup_flag;
    env->metrics = metrics;
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
