/*
 * service.c - the process's metrics writer, health table and HTTP server
 * (service.h).
 *
 * The writer is a thread because the jobs cannot be trusted to come back to
 * a loop top in time: a mirror waits inside a reconnect loop while Redis is
 * down, and that is exactly when the metrics must stay fresh and say so.
 */
#include "service.h"

#include "http.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LB_SERVICE_WRITE_SEC 5

struct lb_service {
    struct lb_metrics *m;
    struct lb_health *h;
    struct lb_http *http;
    const char *metrics_file;

    pthread_t writer;
    int writer_on;
    pthread_mutex_t lock; /* guards stopping, for the condition */
    pthread_cond_t cond;
    int stopping;
    int failing; /* the last write failed (warned once until it works again) */
};

static void lb_service_write(struct lb_service *s)
{
    struct lb_error err = {0};
    if (lb_metrics_write(s->m, &err) != 0) {
        if (!s->failing)
            lb_warn("%s; retrying every %d s", err.msg, LB_SERVICE_WRITE_SEC);
        s->failing = 1;
    } else if (s->failing) {
        lb_info("metrics file %s written again", s->metrics_file);
        s->failing = 0;
    }
}

static void *lb_service_writer(void *arg)
{
    struct lb_service *s = arg;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += LB_SERVICE_WRITE_SEC;
        while (!s->stopping && pthread_cond_timedwait(&s->cond, &s->lock, &ts) != ETIMEDOUT)
            ;
        if (s->stopping)
            break;
        pthread_mutex_unlock(&s->lock);
        lb_service_write(s);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct lb_service *lb_service_start(const struct lb_common *c, struct lb_error *err)
{
    struct lb_service *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->metrics_file = c->metrics_file;
    s->h = lb_health_create();
    if (c->metrics_file != NULL || c->http != NULL)
        s->m = lb_metrics_create_on(c->metrics_file);
    if (s->h == NULL || ((c->metrics_file != NULL || c->http != NULL) && s->m == NULL)) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        lb_service_stop(s);
        return NULL;
    }
    if (c->metrics_file != NULL) {
        int e = pthread_create(&s->writer, NULL, lb_service_writer, s);
        if (e != 0) {
            lb_error_set(err, LB_EIO, "cannot start the metrics writer: %s", strerror(e));
            lb_service_stop(s);
            return NULL;
        }
        s->writer_on = 1;
    }
    if (c->http != NULL && (s->http = lb_http_start(c->http, s->m, s->h, err)) == NULL) {
        lb_service_stop(s);
        return NULL;
    }
    return s;
}

int lb_service_open(const struct lb_common *c, const struct lb_cli *cli, struct lb_service **out)
{
    struct lb_error err = {0};
    *out = lb_service_start(c, &err);
    if (*out != NULL)
        return 0;
    if (err.code == LB_EUSAGE)
        return lb_cli_error(cli, "http", "%s", err.msg);
    lb_error_log("%s", err.msg);
    return LB_EXIT_RUNTIME;
}

struct lb_metrics *lb_service_metrics(const struct lb_service *s)
{
    return s->m;
}

struct lb_health *lb_service_health(const struct lb_service *s)
{
    return s->h;
}

void lb_service_stop(struct lb_service *s)
{
    if (s == NULL)
        return;
    lb_http_stop(s->http);
    if (s->writer_on) {
        pthread_mutex_lock(&s->lock);
        s->stopping = 1;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->writer, NULL);
        lb_service_write(s);
    }
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    lb_metrics_destroy(s->m);
    lb_health_destroy(s->h);
    free(s);
}
