/*
 * job.c - a job's environment, served by the signal thread (job.h), and what
 * every job reports: its connection's counters and how it stands with Redis.
 */
#include "job.h"

#include "log.h"
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

int lb_job_standalone(const struct lb_common *c, const struct lb_cli *cli,
                      int (*job)(void *arg, const struct lb_job_env *env), void *arg)
{
    int rc = lb_common_start(c, cli);
    if (rc != 0)
        return rc;
    struct lb_error err = {0};
    struct lb_service *svc = NULL;
    if (lb_signals_start(&err) != 0) {
        lb_error_log("%s", err.msg);
        rc = LB_EXIT_RUNTIME;
    } else if ((rc = lb_service_open(c, cli, &svc)) == 0) {
        /* without --metrics-file and --http there is no registry at all, so
         * that mirror skips the XINFO calls that only feed the lag gauge */
        struct lb_job_env env;
        if (lb_job_env_serve(&env, svc, cli->cmd) != 0) {
            lb_error_log("out of memory");
            rc = LB_EXIT_RUNTIME;
        } else {
            rc = job(arg, &env);
        }
    }
    lb_service_stop(svc);
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
