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

#define LB_BATCH "logbridge_batch_seconds"

/* Every family logbridge exports (DESIGN.md section 5): its type and help. */
static const struct lb_family {
    const char *name, *type, *help;
} lb_families[] = {
    {"logbridge_lines_total", "counter",
     "Lines read and committed, by src and outcome (written: in the stream; bad: in the "
     "dead-letter stream; blank: skipped)."},
    {"logbridge_bytes_read_total", "counter", "Bytes of committed lines, by src."},
    {"logbridge_lag_bytes", "gauge",
     "Bytes of the file not committed yet (its size minus the checkpoint), by src; it follows "
     "the file while Redis is away."},
    {"logbridge_lost_bytes_total", "counter",
     "Bytes that rotation made unrecoverable (e.g. a rotated file compressed before it was "
     "read), by src."},
    {"logbridge_checkpoint_regressions_total", "counter",
     "Times the checkpoint in Redis was found behind what had been committed (a failover that "
     "lost acknowledged writes); those lines are sent again. By src."},
    {"logbridge_last_commit_timestamp_seconds", "gauge",
     "Unix time of the last batch committed for src."},
    {"logbridge_mirror_entries_total", "counter",
     "Stream entries a mirror handled, by file and outcome (written; skipped: cannot be a "
     "legacy line; excluded: --exclude-src or the file's own; escaped: written with CR/LF "
     "escaped)."},
    {"logbridge_mirror_lag_entries", "gauge",
     "Entries in the stream after the mirror's position, by file."},
    {"logbridge_redis_up", "gauge",
     "1 while the job is connected to Redis and Redis takes its commands, else 0, by job."},
    {"logbridge_redis_reconnects_total", "counter", "Connections to Redis made again."},
    {"logbridge_redis_redirects_total", "counter",
     "Cluster redirections followed, by kind (moved, ask)."},
    {"logbridge_trim_blocked", "gauge",
     "1 while trimming to --maxlen is held back by a consumer group that has not read and "
     "acknowledged the oldest entries, by stream."},
    {"logbridge_wait_shortfalls_total", "counter",
     "Batches that fewer replicas than --wait-replicas acknowledged within --wait-timeout."},
    {LB_BATCH, "histogram",
     "Seconds from sending a batch to Redis confirming it (tail, import), or from reading "
     "entries to their checkpoint (mirror), by job."},
};

static const struct lb_family *lb_family_of(const char *name)
{
    for (size_t i = 0; i < sizeof(lb_families) / sizeof(lb_families[0]); i++)
        if (strcmp(lb_families[i].name, name) == 0)
            return &lb_families[i];
    return NULL;
}

struct lb_series {
    char *name, *labels;
    double v;
};

struct lb_hist {
    char *labels;
    unsigned long long b[LB_HIST_N + 1];
    double sum;
    unsigned long long count;
};

struct lb_metrics {
    pthread_mutex_t lock; /* `run` updates one registry from several job threads */
    int on;
    char *path;
    struct lb_series *s;
    size_t n, cap;
    struct lb_hist *h;
    size_t nh;
};

static struct lb_metrics *lb_metrics_new(const char *path, int on)
{
    struct lb_metrics *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    if (path != NULL && (m->path = strdup(path)) == NULL) {
        free(m);
        return NULL;
    }
    m->on = on;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

struct lb_metrics *lb_metrics_create(const char *path)
{
    return lb_metrics_new(path, path != NULL);
}

struct lb_metrics *lb_metrics_create_on(const char *path)
{
    return lb_metrics_new(path, 1);
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
    for (size_t i = 0; i < m->nh; i++)
        free(m->h[i].labels);
    free(m->h);
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
    if (m == NULL || !m->on)
        return;
    pthread_mutex_lock(&m->lock);
    struct lb_series *s = lb_metrics_find(m, name, labels ? labels : "", 1);
    if (s != NULL)
        s->v += v;
    pthread_mutex_unlock(&m->lock);
}

void lb_metrics_set(struct lb_metrics *m, const char *name, const char *labels, double v)
{
    if (m == NULL || !m->on)
        return;
    pthread_mutex_lock(&m->lock);
    struct lb_series *s = lb_metrics_find(m, name, labels ? labels : "", 1);
    if (s != NULL)
        s->v = v;
    pthread_mutex_unlock(&m->lock);
}

double lb_metrics_get(const struct lb_metrics *m, const char *name, const char *labels)
{
    if (m == NULL || !m->on)
        return 0;
    struct lb_metrics *mm = (struct lb_metrics *)m;
    pthread_mutex_lock(&mm->lock);
    struct lb_series *s = lb_metrics_find(mm, name, labels ? labels : "", 0);
    double v = s ? s->v : 0;
    pthread_mutex_unlock(&mm->lock);
    return v;
}

/* The histogram of labels; created (at 0) when missing. NULL: out of memory. */
static struct lb_hist *lb_metrics_hist(struct lb_metrics *m, const char *labels)
{
    for (size_t i = 0; i < m->nh; i++)
        if (strcmp(m->h[i].labels, labels) == 0)
            return &m->h[i];
    struct lb_hist *h = realloc(m->h, (m->nh + 1) * sizeof(*h));
    if (h == NULL)
        return NULL;
    m->h = h;
    struct lb_hist *x = &m->h[m->nh];
    memset(x, 0, sizeof(*x));
    if ((x->labels = strdup(labels)) == NULL)
        return NULL;
    m->nh++;
    return x;
}

void lb_metrics_batch_declare(struct lb_metrics *m, const char *labels)
{
    if (m == NULL || !m->on)
        return;
    pthread_mutex_lock(&m->lock);
    lb_metrics_hist(m, labels ? labels : "");
    pthread_mutex_unlock(&m->lock);
}

void lb_metrics_observe_batch(struct lb_metrics *m, const char *labels, double seconds)
{
    if (m == NULL || !m->on)
        return;
    int i = 0;
    while (i < LB_HIST_N && seconds > lb_hist_bounds[i])
        i++;
    pthread_mutex_lock(&m->lock);
    struct lb_hist *h = lb_metrics_hist(m, labels ? labels : "");
    if (h != NULL) {
        h->b[i]++;
        h->sum += seconds;
        h->count++;
    }
    pthread_mutex_unlock(&m->lock);
}

/* ---- rendering ------------------------------------------------------------------ */

static void lb_metrics_head(FILE *f, const char *name)
{
    const struct lb_family *fam = lb_family_of(name);
    if (fam != NULL) {
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, fam->help, name, fam->type);
    } else {
        /* not in the table: no # HELP, so the strict tests notice */
        size_t len = strlen(name);
        int counter = len > 6 && strcmp(name + len - 6, "_total") == 0;
        fprintf(f, "# TYPE %s %s\n", name, counter ? "counter" : "gauge");
    }
}

/* One sample line: name{labels,extra} value ("" labels and extra allowed). */
static void lb_metrics_sample(FILE *f, const char *name, const char *labels, const char *extra,
                              const char *value)
{
    int any = labels[0] != '\0' || extra[0] != '\0';
    fprintf(f, "%s%s%s%s%s%s %s\n", name, any ? "{" : "", labels,
            labels[0] != '\0' && extra[0] != '\0' ? "," : "", extra, any ? "}" : "", value);
}

static void lb_metrics_render_locked(struct lb_metrics *m, FILE *f)
{
    char v[64];
    /* series of one name are grouped, so that each family is one block */
    for (size_t i = 0; i < m->n; i++) {
        const char *name = m->s[i].name;
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = strcmp(m->s[k].name, name) == 0;
        if (seen)
            continue;
        lb_metrics_head(f, name);
        for (size_t j = i; j < m->n; j++) {
            if (strcmp(m->s[j].name, name) != 0)
                continue;
            snprintf(v, sizeof(v), "%.17g", m->s[j].v);
            lb_metrics_sample(f, name, m->s[j].labels, "", v);
        }
    }
    if (m->nh == 0)
        return;
    lb_metrics_head(f, LB_BATCH);
    for (size_t k = 0; k < m->nh; k++) {
        const struct lb_hist *h = &m->h[k];
        char le[32];
        unsigned long long cum = 0;
        for (int i = 0; i <= LB_HIST_N; i++) {
            cum += h->b[i];
            if (i < LB_HIST_N)
                snprintf(le, sizeof(le), "le=\"%g\"", lb_hist_bounds[i]);
            else
                snprintf(le, sizeof(le), "le=\"+Inf\"");
            snprintf(v, sizeof(v), "%llu", cum);
            lb_metrics_sample(f, LB_BATCH "_bucket", h->labels, le, v);
        }
        snprintf(v, sizeof(v), "%.9g", h->sum);
        lb_metrics_sample(f, LB_BATCH "_sum", h->labels, "", v);
        snprintf(v, sizeof(v), "%llu", h->count);
        lb_metrics_sample(f, LB_BATCH "_count", h->labels, "", v);
    }
}

char *lb_metrics_render(struct lb_metrics *m, size_t *len)
{
    if (m == NULL || !m->on)
        return NULL;
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (f == NULL)
        return NULL;
    pthread_mutex_lock(&m->lock);
    lb_metrics_render_locked(m, f);
    pthread_mutex_unlock(&m->lock);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    if (len != NULL)
        *len = n;
    return text;
}

int lb_metrics_write(struct lb_metrics *m, struct lb_error *err)
{
    if (m == NULL || !m->on || m->path == NULL)
        return 0;
    size_t n;
    char *text = lb_metrics_render(m, &n);
    if (text == NULL)
        return lb_error_set(err, LB_EIO, "metrics file %s: out of memory", m->path);
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", m->path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(text);
        return lb_error_set(err, LB_EIO, "metrics file %s: %s", tmp, strerror(e));
    }
    int e = 0;
    for (size_t o = 0; o < n && e == 0;) {
        ssize_t w = write(fd, text + o, n - o);
        if (w < 0) {
            if (errno != EINTR)
                e = errno;
            continue;
        }
        o += (size_t)w;
    }
    free(text);
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e == 0 && rename(tmp, m->path) != 0)
        e = errno;
    if (e != 0) {
        unlink(tmp);
        return lb_error_set(err, LB_EIO, "metrics file %s: %s", m->path, strerror(e));
    }
    return 0;
}
