/*
 * metrics.h - a registry of Prometheus series and its text rendering (text
 * exposition format 0.0.4), for the --metrics-file (written atomically: a
 * temp file, fsync, rename) and for --http's /metrics (service.h). DESIGN.md
 * section 5 names the metrics.
 *
 * A series is a metric name plus a label string built by lb_metrics_labels.
 * Every family is rendered with the # HELP and # TYPE of the table in
 * metrics.c (a family missing there gets neither, and the strict tests
 * fail). logbridge_batch_seconds is a histogram per label set (job).
 *
 * The registry is thread-safe: `run` updates one registry from several job
 * threads while the metrics writer and the HTTP thread render it.
 */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stddef.h>

#include "error.h"

struct lb_metrics;

/* path NULL: every call is a cheap no-op (nobody reads the metrics). Free
 * with lb_metrics_destroy. */
struct lb_metrics *lb_metrics_create(const char *path);
/* A registry that keeps its series even without a file (path may be NULL):
 * --http serves them. */
struct lb_metrics *lb_metrics_create_on(const char *path);
void lb_metrics_destroy(struct lb_metrics *m);

/* Build a label string: lb_metrics_labels(buf, sizeof buf, "src", "/x",
 * "outcome", "written", NULL) -> src="/x",outcome="written" (values escaped). */
const char *lb_metrics_labels(char *out, size_t cap, ...);

void lb_metrics_add(struct lb_metrics *m, const char *name, const char *labels, double v);
void lb_metrics_set(struct lb_metrics *m, const char *name, const char *labels, double v);
double lb_metrics_get(const struct lb_metrics *m, const char *name, const char *labels);
/* logbridge_batch_seconds{labels} (labels: job="..."; NULL or "" for none).
 * Its series exist (at 0) from the first call, or lb_metrics_batch_declare. */
void lb_metrics_observe_batch(struct lb_metrics *m, const char *labels, double seconds);
void lb_metrics_batch_declare(struct lb_metrics *m, const char *labels);

/* The whole text (malloc'ed, NUL-terminated, *len its length), or NULL (out
 * of memory, or a registry that is off). The caller frees it. */
char *lb_metrics_render(struct lb_metrics *m, size_t *len);

/* Write the file now. Returns 0 (also without a file) or LB_EIO. When (every
 * 5 s, at exit) is the service's (service.h). */
int lb_metrics_write(struct lb_metrics *m, struct lb_error *err);

#endif
