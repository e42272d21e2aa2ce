/*
 * job.c - a job's environment, served by the signal thread (job.h).
 */
#include "job.h"

#include "service.h"
#include "signals.h"

#include <poll.h>
#include <stddef.h>

void lb_job_env_init(struct lb_job_env *env, struct lb_metrics *metrics)
{
    env->stop_fd = lb_signals_stop_fd();
    env->stop = &lb_stop_flag;
    env->hup = &lb_hup_flag;
    env->metrics = metrics;
    env->job = NULL;
    env->health = NULL;
    env->health_idx = -1;
}

int lb_job_env_serve(struct lb_job_env *env, struct lb_service *svc, const char *job)
{
    lb_job_env_init(env, lb_service_metrics(svc));
    env->job = job;
    env->health = lb_service_health(svc);
    env->health_idx = lb_health_add(env->health, job);
    return env->health_idx < 0 ? LB_ENOMEM : 0;
}

const char *lb_job_labels(const struct lb_job_env *env, const char *dflt, char *out, size_t cap)
{
    return lb_metrics_labels(out, cap, "job", env->job != NULL ? env->job : dflt,
                             (const char *)NULL);
}

void lb_job_report(const struct lb_job_env *env, const char *labels, enum lb_health_state st,
                   const char *why)
{
    lb_metrics_set(env->metrics, "logbridge_redis_up", labels, st == LB_HEALTH_OK);
    lb_health_set(env->health, env->health_idx, st, why);
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
