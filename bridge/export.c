/*
 * export.c - `logbridge export`: a one-shot dump of an ID range of a stream
 * as legacy lines (no checkpoint): stream reader -> entry -> format -> file.
 * Entries are decoded as mirror decodes them (entry.c); one that cannot be a
 * legacy line is skipped, counted and named in a rate-limited warning.
 */
#include "checkpoint.h"
#include "cli.h"
#include "clock.h"
#include "opts.h"
#include "entry.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "mirror_int.h"
#include "redis.h"
#include "stream_reader.h"
#include "stream_merge.h"
#include "stream_set.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LB_EXPORT_CONNECT_SEC 5.0 /* export gives up on Redis after this */

struct lb_export_opts {
    struct lb_common c;
    const char *from, *to, *file;
    struct lb_streams streams; /* every --stream; v[0] names the job */
};

/* "-", "+", "ms" or "ms-seq" (as XRANGE takes them). */
static int lb_range_ok(const char *s)
{
    struct lb_sid id;
    return lb_sid_arg(s, LB_SID_FORMS_RANGE, 0, &id) > 0;
}

static int lb_export_set_from(void *base, const char *arg, char *why, size_t cap)
{
    (void)why, (void)cap;
    return lb_range_ok(arg) ? (((struct lb_export_opts *)base)->from = arg, 0) : -1;
}

static int lb_export_set_to(void *base, const char *arg, char *why, size_t cap)
{
    (void)why, (void)cap;
    return lb_range_ok(arg) ? (((struct lb_export_opts *)base)->to = arg, 0) : -1;
}

#define LB_EXPORT_ID "-, + or a stream ID (ms-seq)"
static const struct lb_opt lb_export_opt_table[] = {
    LB_OPT_STREAMS("stream", struct lb_export_opts, streams,
                   "a stream or template to write (repeatable: merged in ID order)",
                   LB_OPTF_REQUIRED),
    LB_OPT_SET("from", lb_export_set_from, LB_EXPORT_ID, "ID", "first ID (default -)", 0),
    LB_OPT_SET("to", lb_export_set_to, LB_EXPORT_ID, "ID", "last ID (default +)", 0),
    LB_OPT_STR("file", struct lb_export_opts, file, "a path", "F",
               "write to F (created or truncated) instead of stdout", 0),
    LB_OPT_END,
};

static const struct lb_optspec lb_export_optspec = {
    .usage = "Usage: logbridge export --stream S [--from ID] [--to ID] [--file F]\n"
             "Write the entries of S from ID to ID (inclusive, as XRANGE; - and + by default)\n"
             "as ROLE|TIMESTAMP|TYPE|DATA lines, to stdout or to F (created or truncated).\n"
             "No checkpoint is kept. Entries of either encoding are read without being told.\n",
    .opts = lb_export_opt_table,
    .common_off = offsetof(struct lb_export_opts, c),
};

static int lb_export_parse(struct lb_export_opts *o, int argc, char **argv)
{
    struct lb_cli cli = {"export", NULL};
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->from = "-";
    o->to = "+";
    return lb_opts_parse(&lb_export_optspec, o, argc, argv, &cli, NULL);
}

/* One export: where lines go and what was counted. */
struct lb_export {
    struct lb_entry_decoder dec;
    struct lb_buf b;
    struct lb_mirror_counts counts;
    uint64_t written, skipped;
    int fd;
    char label[PATH_MAX + 16]; /* the file's absolute path, or "stdout" */
    const char *what;          /* for warnings */
};

/* Format the entries of one XRANGE page and write them. 0 or an error. */
static int lb_export_page(struct lb_export *x, const redisReply *page, struct lb_error *err)
{
    int rc = 0;
    x->b.n = 0;
    for (size_t i = 0; i < page->elements && rc == 0; i++) {
        struct lb_entry en;
        lb_entry_decode(&x->dec, page->element[i], &en);
        if (lb_entry_verdict(&en) != NULL) {
            x->counts.skipped++;
            lb_warn_skipped(x->what, ++x->skipped, en.id_str, en.why);
            continue;
        }
        size_t len = lb_line_bound(&en.rec);
        if (lb_buf_reserve(&x->b, len) != 0) {
            rc = lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte line", len);
            break;
        }
        size_t esc = 0;
        x->b.n += lb_format_line(&en.rec, x->b.p + x->b.n, x->b.cap - x->b.n, &esc);
        x->counts.written++;
        x->counts.escaped += esc > 0;
        x->written++;
    }
    lb_entry_release(&x->dec);
    if (rc == 0 && lb_write_all(x->fd, x->b.p, x->b.n) != 0)
        rc = lb_error_set(err, LB_EIO, "write to %s: %s", x->label, strerror(errno));
    lb_buf_shrink(&x->b);
    return rc;
}

/* Before anything is read: a Redis client (from --redis or
 * LOGBRIDGE_REDIS), the output open (F created or truncated, never through
 * a symbolic link; else stdout), and the connection made. An exit code;
 * each failure is logged here. */
static int lb_export_setup(const struct lb_export_opts *o, struct lb_export *x,
                           const struct lb_metrics *metrics, struct lb_redis **r)
{
    struct lb_error err = {0};
    struct lb_redis_cfg cfg;
    if (lb_common_redis_cfg(&o->c, &cfg, &err) != 0) {
        /* only LOGBRIDGE_REDIS can get here: --redis was checked */
        lb_error_log("export: redis URL '%s' (LOGBRIDGE_REDIS): %s", o->c.redis_url, err.msg);
        return LB_EXIT_USAGE;
    }
    *r = lb_redis_create(&cfg);
    if (*r == NULL || metrics == NULL) {
        lb_error_log("out of memory");
        return LB_EXIT_RUNTIME;
    }
    lb_redis_set_route(*r, o->streams.v[0]);
    if (o->file != NULL) {
        if (lb_abs_path(o->file, x->label, sizeof(x->label)) != 0)
            snprintf(x->label, sizeof(x->label), "%s", o->file);
        x->what = x->label;
        x->fd = open(o->file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (x->fd < 0) {
            lb_error_log("export: %s: %s", x->label,
                         errno == ELOOP ? "a symbolic link; export never follows one"
                                        : strerror(errno));
            return LB_EXIT_RUNTIME;
        }
    }
    if (lb_redis_connect_retry(*r, LB_EXPORT_CONNECT_SEC, NULL, &err) != 0) {
        lb_error_log("export: %s", err.msg);
        return lb_exit_for(err.code);
    }
    return LB_EXIT_OK;
}

/* The range, page by page: the next page is asked for (pipelined) before
 * this one is formatted and written. Reads have no side effect, so after a
 * lost connection the same page is simply asked for again. An exit code. */
static int lb_export_range(struct lb_export *x, struct lb_redis *r, const struct lb_export_opts *o)
{
    struct lb_error err = {0};
    struct lb_xrange xr;
    memset(&xr, 0, sizeof(xr));
    const redisReply *page;
    int rc = lb_xrange_begin(&xr, r, o->streams.v[0], o->from, o->to, &err);
    for (;;) {
        if (rc == 0)
            rc = lb_xrange_next(&xr, &page, &err);
        if (rc < 0 && lb_redis_ctx(r) == NULL) {
            lb_warn("export: %s; reconnecting", err.msg);
            if ((rc = lb_redis_connect_retry(r, LB_EXPORT_CONNECT_SEC, NULL, &err)) != 0)
                break;
            continue;
        }
        if (rc <= 0)
            break; /* 0: the range is exhausted */
        rc = lb_export_page(x, page, &err);
    }
    lb_xrange_free(&xr);
    if (rc != 0) {
        lb_error_log("export: %s", err.msg);
        return LB_EXIT_RUNTIME;
    }
    return LB_EXIT_OK;
}

/* Several streams, or a template (DESIGN.md section 8): the streams they
 * stand for, merged in entry-ID order (stream_merge.c) into one output. A
 * lost connection is retried as in lb_export_range: the merge carries on
 * where it was. An exit code. */
static int lb_export_merged(struct lb_export *x, struct lb_redis *r, const struct lb_export_opts *o)
{
    struct lb_error err = {0};
    struct lb_names names = {0};
    struct lb_merge mg;
    memset(&mg, 0, sizeof(mg));
    int rc;
    while ((rc = lb_streams_resolve(r, &o->streams, &names, &err)) == LB_EREDIS &&
           lb_redis_ctx(r) == NULL) {
        lb_warn("export: %s; reconnecting", err.msg);
        if ((rc = lb_redis_connect_retry(r, LB_EXPORT_CONNECT_SEC, NULL, &err)) != 0)
            break;
    }
    if (rc == 0)
        rc = lb_merge_begin(&mg, r, (const char *const *)names.v, names.n, o->from, o->to,
                            o->c.json_field, &err);
    if (rc == 0)
        lb_info("export: %d streams", names.n);
    x->b.n = 0;
    while (rc == 0) {
        const struct lb_entry *en;
        int which;
        int got = lb_merge_next(&mg, &en, &which, &err);
        if (got < 0 && lb_redis_ctx(r) == NULL) {
            lb_warn("export: %s; reconnecting", err.msg);
            if ((rc = lb_redis_connect_retry(r, LB_EXPORT_CONNECT_SEC, NULL, &err)) != 0)
                break;
            continue;
        }
        if (got <= 0) {
            rc = got;
            break;
        }
        struct lb_entry e = *en;
        if (lb_entry_verdict(&e) != NULL) {
            x->counts.skipped++;
            lb_warn_skipped(x->what, ++x->skipped, e.id_str, e.why);
            continue;
        }
        size_t len = lb_line_bound(&e.rec);
        if (lb_buf_reserve(&x->b, len) != 0) {
            rc = lb_error_set(&err, LB_ENOMEM, "out of memory for a %zu-byte line", len);
            break;
        }
        size_t esc = 0;
        x->b.n += lb_format_line(&e.rec, x->b.p + x->b.n, x->b.cap - x->b.n, &esc);
        x->counts.written++;
        x->counts.escaped += esc > 0;
        x->written++;
        if (x->b.n >= LB_MIRROR_CHUNK) {
            if (lb_write_all(x->fd, x->b.p, x->b.n) != 0)
                rc = lb_error_set(&err, LB_EIO, "write to %s: %s", x->label, strerror(errno));
            x->b.n = 0;
            lb_buf_shrink(&x->b);
        }
    }
    if (rc == 0 && lb_write_all(x->fd, x->b.p, x->b.n) != 0)
        rc = lb_error_set(&err, LB_EIO, "write to %s: %s", x->label, strerror(errno));
    lb_merge_free(&mg);
    lb_names_free(&names);
    if (rc != 0) {
        lb_error_log("export: %s", err.msg);
        return LB_EXIT_RUNTIME;
    }
    return LB_EXIT_OK;
}

/* After the range: a file is on disk before success is said (fdatasync);
 * the counts go to the metrics whatever the outcome. The exit code. */
static int lb_export_finish(const struct lb_export_opts *o, struct lb_export *x,
                            struct lb_metrics *metrics, double t0, int exit_code)
{
    if (exit_code == LB_EXIT_OK && o->file != NULL && fdatasync(x->fd) != 0) {
        lb_error_log("export: fdatasync %s: %s", x->label, strerror(errno));
        exit_code = LB_EXIT_RUNTIME;
    }
    if (exit_code == LB_EXIT_OK)
        lb_info("export: %" PRIu64 " entries written to %s, %" PRIu64 " skipped, in %.2f s",
                x->written, x->label, x->skipped, lb_clock_mono() - t0);
    lb_counts_flush(metrics, x->label, &x->counts);
    lb_metrics_write(metrics, NULL);
    return exit_code;
}

int lb_cmd_export(int argc, char **argv)
{
    struct lb_export_opts o;
    int rc = lb_export_parse(&o, argc, argv);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_cli cli = {"export", NULL};
    if ((rc = lb_common_start(&o.c, &cli)) != 0)
        return rc;

    struct lb_redis *r = NULL;
    struct lb_export x;
    memset(&x, 0, sizeof(x));
    lb_entry_decoder_init(&x.dec, o.c.json_field);
    x.fd = 1;
    snprintf(x.label, sizeof(x.label), "stdout");
    x.what = "export";
    struct lb_metrics *metrics = lb_metrics_create(o.c.metrics_file);
    double t0 = lb_clock_mono();

    /* A failed setup has counted nothing: no metrics are written. */
    int exit_code = lb_export_setup(&o, &x, metrics, &r);
    if (exit_code == LB_EXIT_OK) {
        if (o.streams.n > 1 || lb_stream_is_template(o.streams.v[0]))
            exit_code = lb_export_merged(&x, r, &o);
        else
            exit_code = lb_export_range(&x, r, &o);
        exit_code = lb_export_finish(&o, &x, metrics, t0, exit_code);
    }
    if (x.fd > 1)
        close(x.fd);
    free(x.b.p);
    lb_entry_release(&x.dec);
    lb_redis_destroy(r);
    lb_metrics_destroy(metrics);
    lb_log_close();
    return exit_code;
}
