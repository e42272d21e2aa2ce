/*
 * metrics.c - a small registry of series and its Prometheus text rendering.
 *
 * Series are few (a handful per src) and updated once per batch, so a linear
 * search is cheaper than it looks; nothing here is on the per-line path.
 */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LB_HIST_N 12
static const double lb_hist_bounds[LB_HIST_N] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};

struct lb_series {
    char *name, *labels;
    double v;
};

struct lb_metrics {
    pthread_mutex_t lock; /* `run` updates one registry from several job threads */
    char *path;
    struct lb_series *s;
    size_t n, cap;
    unsigned long long hist[LB_HIST_N + 1];
    double hist_sum;
    unsigned long long hist_count;
};

struct lb_metrics *lb_metrics_create(const char *path)
{
    struct lb_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    if (path != NULL && (m->path = strdup(path)) == NULL) {
        free(m);
        return NULL;
    }
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void lb_metrics_destroy(struct lb_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->s[i].name);
        free(m->s[i].labels);
    }
    free(m->s);
    free(m->path);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *lb_metrics_labels(char *out, size_t cap, ...)
{
    va_list ap;
    va_start(ap, cap);
    size_t o = 0;
    out[0] = '\0';
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL)
            break;
        const char *v = va_arg(ap, const char *);
        int w = snprintf(out + o, cap - o, "%s%s=\"", o ? "," : "", k);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
        for (; *v && o + 3 < cap; v++) {
            if (*v == '\\' || *v == '"') {
                out[o++] = '\\';
                out[o++] = *v;
            } else if (*v == '\n') {
                out[o++] = '\\';
                out[o++] = 'n';
            } else {
                out[o++] = *v;
            }
        }
        if (o + 1 < cap)
            out[o++] = '"';
        out[o] = '\0';
    }
    va_end(ap);
    return out;
}

static struct lb_series *lb_metrics_find(struct lb_metrics *m, const char *name, const char *labels,
                                         int create)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->s[i].name, name) == 0 && strcmp(m->s[i].labels, labels) == 0)
            return &m->s[i];
    if (!create)
        return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 32;
        struct lb_series *s = realloc(m->s, cap * sizeof(*s));
        if (s == NULL)
            return NULL;
        m->s = s;
        m->cap = cap;
    }
    struct lb_series *x = &m->s[m->n];
    x->name = strdup(name);
    x->labels = strdup(labels ? labels : "");
    x->v = 0;
    if (x->name == NULL || x->labels == NULL) {
        free(x->name);
        free(x->labels);
        return NULL;
    }
    m->n++;
    return x;
}

void lb_metrics_add(struct lb_metrics *m, const char *name, const char *labels, double v)
{
    if (m == NULL || m->path == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    struct lb_series *s = lb_metrics_find(m, name, labels ? labels : "", 1);
    if (s != NULL)
        s->v += v;
    pthread_mutex_unlock(&m->lock);
}

void lb_metrics_set(struct lb_metrics *m, const char *name, const char *labels, double v)
{
    if (m == NULL || m->path == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    struct lb_series *s = lb_metrics_find(m, name, labels ? labels : "", 1);
    if (s != NULL)
        s->v = v;
    pthread_mutex_unlock(&m->lock);
}

double lb_metrics_get(const struct lb_metrics *m, const char *name, const char *labels)
{
    if (m == NULL || m->path == NULL)
        return 0;
    struct lb_metrics *mm = (struct lb_metrics *)m;
    pthread_mutex_lock(&mm->lock);
    struct lb_series *s = lb_metrics_find(mm, name, labels ? labels : "", 0);
    double v = s ? s->v : 0;
    pthread_mutex_unlock(&mm->lock);
    return v;
}

void lb_metrics_observe_batch(struct lb_metrics *m, double seconds)
{
    if (m == NULL || m->path == NULL)
        return;
    int i = 0;
    while (i < LB_HIST_N && seconds > lb_hist_bounds[i])
        i++;
    pthread_mutex_lock(&m->lock);
    m->hist[i]++;
    m->hist_sum += seconds;
    m->hist_count++;
    pthread_mutex_unlock(&m->lock);
}

static int lb_metrics_typed(const char *name, const char *const *done, size_t ndone)
{
    for (size_t i = 0; i < ndone; i++)
        if (strcmp(done[i], name) == 0)
            return 1;
    return 0;
}

static int lb_metrics_write_locked(struct lb_metrics *m, struct lb_error *err);

int lb_metrics_write(struct lb_metrics *m, struct lb_error *err)
{
    if (m == NULL || m->path == NULL)
        return 0;
    pthread_mutex_lock(&m->lock);
    int rc = lb_metrics_write_locked(m, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int lb_metrics_write_locked(struct lb_metrics *m, struct lb_error *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", m->path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return lb_error_set(err, LB_EIO, "metrics file %s: %s", tmp, strerror(errno));
    const char **typed = calloc(m->n + 1, sizeof(char *));
    size_t nt = 0;
    /* Group series by name, so that each # TYPE line precedes its series. */
    for (size_t i = 0; i < m->n; i++) {
        const char *name = m->s[i].name;
        if (typed == NULL || lb_metrics_typed(name, typed, nt))
            continue;
        typed[nt++] = name;
        size_t len = strlen(name);
        int counter = len > 6 && strcmp(name + len - 6, "_total") == 0;
        fprintf(f, "# TYPE %s %s\n", name, counter ? "counter" : "gauge");
        for (size_t j = i; j < m->n; j++) {
            if (strcmp(m->s[j].name, name) != 0)
                continue;
            if (m->s[j].labels[0])
                fprintf(f, "%s{%s} %.17g\n", name, m->s[j].labels, m->s[j].v);
            else
                fprintf(f, "%s %.17g\n", name, m->s[j].v);
        }
    }
    free(typed);
    fprintf(f, "# TYPE logbridge_batch_seconds histogram\n");
    unsigned long long cum = 0;
    for (int i = 0; i < LB_HIST_N; i++) {
        cum += m->hist[i];
        fprintf(f, "logbridge_batch_seconds_bucket{le=\"%g\"} %llu\n", lb_hist_bounds[i], cum);
    }
    cum += m->hist[LB_HIST_N];
    fprintf(f, "logbridge_batch_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    fprintf(f, "logbridge_batch_seconds_sum %.9g\n", m->hist_sum);
    fprintf(f, "logbridge_batch_seconds_count %llu\n", m->hist_count);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, m->path) != 0) {
        int e = errno;
        unlink(tmp);
        return lb_error_set(err, LB_EIO, "metrics file %s: %s", m->path, strerror(e));
    }
    return 0;
}

