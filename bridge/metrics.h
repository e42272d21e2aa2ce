/*
 * metrics.h - Prometheus text-format metrics written atomically to a file
 * (write a temp file, fsync, rename), every 5 s and at exit, for
 * node_exporter's textfile collector. DESIGN.md section 5 names the metrics.
 *
 * A series is a metric name plus a label string built by lb_metrics_labels.
 * Names ending in _total are counters; logbridge_batch_seconds is a
 * histogram; the rest are gauges.
 */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stddef.h>

#include "error.h"

struct lb_metrics;

/* path NULL: every call is a cheap no-op. Free with lb_metrics_destroy. */
struct lb_metrics *lb_metrics_create(const char *path);
void lb_metrics_destroy(struct lb_metrics *m);

/* Build a label string: lb_metrics_labels(buf, sizeof buf, "src", "/x",
 * "outcome", "written", NULL) -> src="/x",outcome="written" (values escaped). */
const char *lb_metrics_labels(char *out, size_t cap, ...);

void lb_metrics_add(struct lb_metrics *m, const char *name, const char *labels, double v);
void lb_metrics_set(struct lb_metrics *m, const char *name, const char *labels, double v);
double lb_metrics_get(const struct lb_metrics *m, const char *name, const char *labels);
/* logbridge_batch_seconds */
void lb_metrics_observe_batch(struct lb_metrics *m, double seconds);

/* Write now. Returns 0 or LB_EIO. When to write (every 5 s, at exit) is the
 * job's metrics tick (job.h). */
int lb_metrics_write(struct lb_metrics *m, struct lb_error *err);

#endif
