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
