/*
 * import.c - `logbridge import`: one-shot, resumable import of history files.
 *
 * Per file: find the checkpoint of its src in Redis; when it still describes
 * the file, skip to it (a finished file writes nothing); then read, classify
 * and batch lines, and commit each batch with its checkpoint atomically. A
 * lost connection leaves the batch's outcome unknown, so after reconnecting
 * the checkpoint decides: it moved to the batch's end (landed) or did not
 * move (send again). That is what makes a rerun after kill -9 exact.
 *
 * Signals: the process's signal thread (signals.h) sets lb_stop_flag, then
 * the stop eventfd; import looks at the flag at each batch boundary and in
 * its backoff, commits what it has read and exits 3 ("interrupted ... run the
 * import again to resume"). A read that waits for input (stdin on an idle
 * pipe) waits for the stop eventfd too (lb_source_stop_on) and returns
 * LB_ESTOP, so the stop is seen at once; and a pipe is read as soon as it has
 * something, so the lines of a producer that pauses are committed at once.
 *
 * Files. import.c: the command, reading and committing a file, the summary;
 * import_identify.c: which checkpoint describes a file. What crosses them is
 * declared in import_int.h.
 */
#include "jobs.h"
#include "clock.h"

#include "checkpoint.h"
#include "cli.h"
#include "committer.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
#include "opts.h"
#include "redis.h"
#include "signals.h"
#include "sink.h"
#include "source.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "import_int.h"

static int lb_import_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX])
{
    struct lb_import *im = ctx;
    return lb_source_fingerprint(im->s, off, hex);
}

static void lb_import_progress(struct lb_import *im, int final)
{
    if (!im->o->progress)
        return;
    double now = lb_clock_mono();
    if (!final && now - im->last_progress < 0.5)
        return;
    im->last_progress = now;
    long long pos = lb_source_raw_pos(im->s);
    long long size = lb_source_raw_size(im->s);
    double el = now - im->t0;
    double rate = el > 0 ? (double)im->lines_total / el : 0;
    char eta[32] = "";
    if (size > 0 && pos > 0 && el > 0.2) {
        double left = el * (double)(size - pos) / (double)pos;
        snprintf(eta, sizeof(eta), "  ETA %.0fs", left < 0 ? 0 : left);
    }
    if (size > 0)
        fprintf(stderr, "\r%s: %.1f/%.1f MiB  %" PRIu64 " lines  %.0f lines/s%s   ", im->st->path,
                (double)pos / 1048576.0, (double)size / 1048576.0, im->lines_total, rate, eta);
    else
        fprintf(stderr, "\r%s: %.1f MiB  %" PRIu64 " lines  %.0f lines/s   ", im->st->path,
                (double)pos / 1048576.0, im->lines_total, rate);
    if (final)
        fputc('\n', stderr);
}

/* The committer's report: a batch landed (or the checkpoint was read again). */
static void lb_import_on_ckpt(void *ctx, const struct lb_commit_event *ev)
{
    struct lb_import *im = ctx;
    im->st->imported += ev->written;
    im->st->bad += ev->bad;
    im->st->blank += ev->blank;
    im->lines_total += ev->written + ev->bad + ev->blank;
    im->reordered += ev->reordered;
    im->wait_short += ev->wait_short != 0;
    im->ck_off = ev->ck.present ? ev->ck.off : 0;
    if (ev->seconds > 0) {
        im->trouble_since = 0;
        im->attempt = 0;
    }
}

int lb_import_reopen(struct lb_import *im, const char *path, struct lb_error *err)
{
    lb_source_close(im->s);
    im->s = lb_source_open(path, im->o->c.max_line, err);
    if (im->s == NULL)
        return err->code;
    lb_source_stop_on(im->s, lb_signals_stop_fd());
    return 0;
}

/* A stop (SIGINT/SIGTERM) ends the import where it is committed. */
static int lb_import_interrupted(struct lb_import *im, struct lb_error *err)
{
    /* stdin cannot be read again: an unterminated line read so far is lost */
    uint64_t cut =
        im->s != NULL && lb_source_kind(im->s) == LB_SOURCE_STDIN ? lb_source_pending(im->s) : 0;
    if (cut > 0)
        im->st->partial = 1;
    return lb_error_set(err, LB_ESTOP,
                        "interrupted at src=%s off=%" PRIu64 "; run the import again to resume%s",
                        im->src, im->ck_off,
                        cut > 0 ? " (the unterminated line read from stdin is not imported)" : "");
}

/* After a lost connection, or a refusal that clears by itself (OOM, BUSY,
 * LOADING...), or a batch refused by its fence: wait (backoff, within
 * --retry-for in all), read the checkpoint again and go on from it. The file
 * is read again from there; stdin's kept batch is sent again. */
static int lb_import_recover(struct lb_import *im, struct lb_error *err)
{
    double now = lb_clock_mono();
    if (im->trouble_since == 0) {
        im->trouble_since = now;
        lb_warn("%s; src=%s off=%" PRIu64 "; retrying with backoff for up to %g s, then from the "
                "checkpoint in Redis",
                err->msg, im->src, im->ck_off, im->o->retry_for);
    }
    struct lb_commit_resync rs;
    uint64_t was = im->ck_off; /* (the resync reports the checkpoint it reads into ck_off) */
    for (;;) {
        double left = im->o->retry_for - (lb_clock_mono() - im->trouble_since);
        if (lb_stop_flag)
            return lb_import_interrupted(im, err);
        if (left <= 0) {
            char why[sizeof(err->msg)];
            snprintf(why, sizeof(why), "%s", err->msg);
            return lb_error_set(err, LB_ETIMEOUT,
                                "%s; gave up after --retry-for %g s at src=%s off=%" PRIu64
                                " (the checkpoint is intact: run the import again to resume)",
                                why, im->o->retry_for, im->src, im->ck_off);
        }
        if (im->attempt > 0 &&
            lb_redis_backoff_sleep(im->r, im->attempt - 1, &lb_stop_flag) == LB_ESTOP)
            continue;
        im->attempt++;
        int rc = 0;
        if (lb_redis_ctx(im->r) == NULL)
            rc = lb_redis_connect_retry(im->r, left, &lb_stop_flag, err);
        if (rc == LB_ETIMEOUT)
            return rc;
        if (rc == 0)
            rc = lb_committer_resync(im->cm, &rs, err);
        if (rc == LB_EREDIS || rc == LB_ESTOP)
            continue;
        if (rc != 0)
            return rc;
        break;
    }
    if (rs.regressed) {
        lb_commit_resync_warn(&rs, im->src, was);
        im->st->regressions++;
    } else if (rs.moved)
        lb_warn("src=%s: the checkpoint was moved to off=%" PRIu64
                " by someone else (another logbridge on this file?); going on from there",
                im->src, rs.off);
    im->ck_off = rs.off;
    if (lb_source_kind(im->s) == LB_SOURCE_STDIN)
        return LB_IMPORT_REWOUND;
    /* Read the file again from the checkpoint. */
    dev_t dev = lb_source_dev(im->s);
    ino_t ino = lb_source_ino(im->s);
    int rc = lb_import_reopen(im, im->path, err);
    if (rc != 0)
        return rc;
    if (lb_source_dev(im->s) != dev || lb_source_ino(im->s) != ino)
        return lb_error_set(err, LB_EIO, "%s was replaced while importing it", im->path);
    rc = lb_source_skip_to(im->s, rs.off, err);
    return rc != 0 ? rc : LB_IMPORT_REWOUND;
}

/* Settle the committer's work (keep: batches that may stay in flight). */
static int lb_import_commit(struct lb_import *im, int keep, struct lb_error *err)
{
    int rc = lb_committer_flush(im->cm, keep, err);
    if (rc == LB_EREDIS)
        return lb_import_recover(im, err);
    return rc;
}

enum { LB_LINE_GO = 0, LB_LINE_STRICT = 1 };

static int lb_import_line(struct lb_import *im, const struct lb_line *line, struct lb_error *err)
{
    enum lb_reason why;
    int rc = lb_committer_line(im->cm, line, im->o->strict, &why, err);
    if (rc == LB_COMMIT_STRICT) {
        lb_error_log("strict: bad line src=%s line=%" PRIu64 " off=%" PRIu64 " reason=%s; "
                     "stopping, everything before it is committed",
                     im->src, lb_committer_end_line(im->cm) + 1, line->off, lb_reason_name(why));
        return LB_LINE_STRICT;
    }
    if (rc == LB_EREDIS)
        return lb_import_recover(im, err);
    return rc;
}

/* ---- one file ---------------------------------------------------------------- */

/* The src of a file: --name, "stdin", or its absolute path. Returns 0, or -1
 * when the path is too long. */
static int lb_import_src_of(const struct lb_import_opts *o, const char *path, char *src, size_t cap)
{
    if (o->name != NULL)
        snprintf(src, cap, "%s", o->name);
    else if (strcmp(path, "-") == 0)
        snprintf(src, cap, "stdin");
    else if (lb_abs_path(path, src, cap) != 0)
        return -1;
    return 0;
}

/* Skip to where the file resumes, and tell the committer what it reads. */
static int lb_import_begin(struct lb_import *im, const struct lb_import_start *at,
                           struct lb_error *err)
{
    uint64_t start_off = at->ck.off, start_line = at->ck.line;
    im->st->resumed_at = start_off;
    im->ck_off = at->held.present ? at->held.off : 0;
    if (start_off > 0) {
        int rc = lb_source_skip_to(im->s, start_off, err);
        if (rc != 0)
            return rc;
        lb_info("src=%s resuming at off=%" PRIu64 " line=%" PRIu64, im->src, start_off, start_line);
    }
    struct lb_commit_source cs = {
        .src = im->src,
        .dev = (unsigned long long)lb_source_dev(im->s),
        .ino = (unsigned long long)lb_source_ino(im->s),
        .ck = at->held,
        .unfenced = at->unfenced,
        .off = start_off,
        .line = start_line,
        .start_off = 0,
        .start_line = 0,
        .fp = lb_import_fp,
        .fp_ctx = im,
        .rereadable = lb_source_kind(im->s) != LB_SOURCE_STDIN,
    };
    lb_committer_begin(im->cm, &cs);
    return 0;
}

/* The lines in the buffer now: to the committer, and sent. Then a stop, if
 * one was requested, commits them and ends the import. */
static int lb_import_batch(struct lb_import *im, struct lb_error *err)
{
    struct lb_line line;
    int rc = 0;
    while (rc == 0 && lb_source_next(im->s, &line))
        rc = lb_import_line(im, &line, err);
    /* The lines are slices of the buffer that fill() reuses: send them
     * first (their reply may still be pending). Stdin cannot be read
     * again, so its batch must land before the buffer is reused. */
    if (rc == 0)
        rc = lb_import_commit(
            im, lb_source_kind(im->s) == LB_SOURCE_STDIN ? 0 : LB_IMPORT_FLIGHT - 1, err);
    if (rc == 0 && atomic_load(&lb_stop_flag)) {
        rc = lb_import_commit(im, 0, err);
        if (rc == 0)
            rc = lb_import_interrupted(im, err);
    }
    return rc;
}

/* End of input: an unterminated last line waits for its '\n', unless the
 * input is final (history, stdin); then everything is committed. */
static int lb_import_end(struct lb_import *im, struct lb_error *err)
{
    int rc = 0;
    if (lb_source_pending(im->s) > 0) {
        struct lb_line line;
        if (im->o->final || lb_source_kind(im->s) == LB_SOURCE_STDIN) {
            if (lb_source_take_partial(im->s, &line))
                rc = lb_import_line(im, &line, err);
        } else {
            im->st->partial = 1;
            lb_warn("src=%s: the last line (%" PRIu64 " bytes at off=%" PRIu64
                    ") has no newline yet; it is not imported (use --final for a file "
                    "that will not grow)",
                    im->src, lb_source_pending(im->s), lb_source_offset(im->s));
        }
    }
    if (rc == 0)
        rc = lb_import_commit(im, 0, err);
    if (rc == LB_IMPORT_REWOUND)
        im->st->partial = 0; /* read again: the end is seen again */
    return rc;
}

/* Read the file to its end, committing as it goes. Returns 0, or what
 * stopped it (LB_LINE_STRICT, LB_ESTOP, an error). */
static int lb_import_read(struct lb_import *im, struct lb_error *err)
{
    for (;;) {
        int rc = lb_import_batch(im, err);
        if (rc == LB_IMPORT_REWOUND)
            continue;
        if (rc != 0)
            return rc;
        long got = lb_source_fill(im->s, err);
        if (got == LB_ESTOP)
            continue; /* the flag is set before the stop eventfd: the batch sees it */
        if (got < 0)
            return (int)got;
        lb_import_progress(im, 0);
        if (got > 0)
            continue;
        rc = lb_import_end(im, err);
        if (rc != LB_IMPORT_REWOUND)
            return rc;
    }
}

static int lb_import_file(struct lb_import *im, const char *path, struct lb_file_stats *st,
                          struct lb_error *err)
{
    memset(st, 0, sizeof(*st));
    st->path = path;
    im->st = st;
    im->path = path;
    if (lb_import_src_of(im->o, path, im->src, sizeof(im->src)) != 0)
        return lb_error_set(err, LB_EIO, "%s: path too long", path);
    int rc = lb_import_reopen(im, path, err);
    if (rc != 0)
        return rc;
    struct lb_import_start at;
    rc = lb_import_identify(im, path, &at, err);
    if (rc == LB_IMPORT_COVERED) {
        st->skipped = 1;
        st->resumed_at = st->covered_to;
        rc = 0;
    } else if (rc == 0 && (rc = lb_import_begin(im, &at, err)) == 0) {
        rc = lb_import_read(im, err);
        lb_import_progress(im, 1);
        st->lines = st->imported + st->bad + st->blank;
        st->bytes = im->ck_off - st->resumed_at;
        st->skipped = at.ck.present && st->lines == 0 && !st->partial && rc == 0;
    }
    lb_source_close(im->s);
    im->s = NULL;
    return rc;
}

/* ---- options and summary --------------------------------------------------- */

#define LB_I struct lb_import_opts
static const struct lb_opt lb_import_opt_table[] = {
    LB_OPT_STR("stream", LB_I, stream, "a stream name", "S",
               "target stream, or a template such as 'events:%{type}'", LB_OPTF_REQUIRED),
    LB_OPT_CHOICE("id", LB_I, id_ts, "auto|ts", "auto|ts",
                  "let Redis assign IDs, or use each line's time (default auto)", 0),
    LB_OPT_NUM("batch", LB_ARG_INT, LB_I, batch, 1, 100000, "a number from 1 to 100000", "N",
               "lines per atomic batch (default 1000)", 0),
    LB_OPT_STR("name", LB_I, name, "a name", "NAME",
               "src name instead of the absolute path (one file only)", 0),
    LB_OPT_FLAG("strict", LB_I, strict, 1, "stop at the first bad line (exit 1)", 0),
    LB_OPT_FLAG("dry-run", LB_I, dry_run, 1, "parse and report; write nothing", 0),
    LB_OPT_FLAG("final", LB_I, final, 1,
                "the input will not grow: an unterminated last line is a line", 0),
    LB_OPT_NUM("retry-for", LB_ARG_DOUBLE, LB_I, retry_for, 0, 1000000000, "seconds (>= 0)",
               "SEC", "give up after SEC s without Redis (default 30), exit 3", 0),
    {.name = "progress", .kind = LB_ARG_FLAG, .off = offsetof(LB_I, progress), .ival = 1,
     .label = "--progress, --no-progress", .help = "progress on stderr (default: when a terminal)"},
    LB_OPT_FLAG("no-progress", LB_I, progress, 0, NULL, 0),
    LB_OPT_CHOICE("summary", LB_I, summary_json, "text|json", "text|json",
                  "summary on stdout (default text)", 0),
    LB_OPT_END,
};
#undef LB_I

static const struct lb_optspec lb_import_optspec = {
    .usage = "Usage: logbridge import --stream S [options] FILE...\n"
             "Import history files (oldest first; .gz read through zlib; - is stdin) into\n"
             "stream S, exactly once and resumably: a rerun continues from the checkpoint.\n",
    .opts = lb_import_opt_table,
    .common_off = offsetof(struct lb_import_opts, c),
    .operands = 1,
};

static int lb_import_parse(struct lb_import_opts *o, int argc, char **argv)
{
    struct lb_cli cli = {"import", NULL};
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->batch = 1000;
    o->retry_for = 30;
    o->progress = -1;
    int first;
    int rc = lb_opts_parse(&lb_import_optspec, o, argc, argv, &cli, &first);
    if (rc != 0)
        return rc;
    o->files = argv + first;
    o->nfiles = argc - first;
    if (o->nfiles == 0)
        return lb_cli_error(&cli, NULL, "expected at least one FILE (- for stdin)");
    if (o->name != NULL && o->nfiles > 1)
        return lb_cli_error(&cli, "name", "applies to a single file, and %d were given", o->nfiles);
    int stdin_count = 0;
    for (int i = 0; i < o->nfiles; i++)
        stdin_count += strcmp(o->files[i], "-") == 0;
    if (stdin_count > 1)
        return lb_cli_error(&cli, NULL, "stdin (-) can be given once");
    if (o->progress < 0)
        o->progress = isatty(2);
    return 0;
}

static void lb_import_summary(const struct lb_import_opts *o, const struct lb_file_stats *st, int n,
                              double seconds)
{
    uint64_t lines = 0, imported = 0, bad = 0, blank = 0, partial = 0;
    for (int i = 0; i < n; i++) {
        lines += st[i].lines;
        imported += st[i].imported;
        bad += st[i].bad;
        blank += st[i].blank;
        partial += st[i].partial;
    }
    if (o->summary_json) {
        cJSON *root = cJSON_CreateObject();
        cJSON *files = cJSON_AddArrayToObject(root, "files");
        for (int i = 0; i < n; i++) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "path", st[i].path);
            cJSON_AddNumberToObject(f, "lines", (double)st[i].lines);
            cJSON_AddNumberToObject(f, "imported", (double)st[i].imported);
            cJSON_AddNumberToObject(f, "bad", (double)st[i].bad);
            cJSON_AddNumberToObject(f, "blank", (double)st[i].blank);
            cJSON_AddNumberToObject(f, "partial", (double)st[i].partial);
            cJSON_AddNumberToObject(f, "bytes", (double)st[i].bytes);
            cJSON_AddNumberToObject(f, "resumed_at", (double)st[i].resumed_at);
            cJSON_AddBoolToObject(f, "skipped_already_imported", st[i].skipped);
            if (st[i].covered_by[0] != '\0') {
                cJSON_AddStringToObject(f, "covered_by", st[i].covered_by);
                cJSON_AddNumberToObject(f, "covered_to", (double)st[i].covered_to);
            }
            cJSON_AddItemToArray(files, f);
        }
        cJSON_AddNumberToObject(root, "lines", (double)lines);
        cJSON_AddNumberToObject(root, "imported", (double)imported);
        cJSON_AddNumberToObject(root, "bad", (double)bad);
        cJSON_AddNumberToObject(root, "blank", (double)blank);
        cJSON_AddNumberToObject(root, "partial", (double)partial);
        cJSON_AddNumberToObject(root, "seconds", seconds);
        char *s = cJSON_PrintUnformatted(root);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        cJSON_Delete(root);
        return;
    }
    for (int i = 0; i < n; i++) {
        printf("%s: %" PRIu64 " lines: %" PRIu64 " imported, %" PRIu64 " bad, %" PRIu64
               " blank, %" PRIu64 " partial; %" PRIu64 " bytes from offset %" PRIu64 "%s",
               st[i].path, st[i].lines, st[i].imported, st[i].bad, st[i].blank, st[i].partial,
               st[i].bytes, st[i].resumed_at, st[i].skipped ? " (already imported)" : "");
        if (st[i].covered_by[0] != '\0')
            printf(" (covered by src=%s up to offset %" PRIu64 ")", st[i].covered_by,
                   st[i].covered_to);
        putchar('\n');
    }
    printf("total: %" PRIu64 " lines: %" PRIu64 " imported, %" PRIu64 " bad, %" PRIu64
           " blank, %" PRIu64 " partial in %.2f s%s\n",
           lines, imported, bad, blank, partial, seconds, o->dry_run ? " (dry run)" : "");
}

/* --metrics-file: a one-shot job writes its counters once, at exit. */
static void lb_import_metrics(const struct lb_import_opts *o, struct lb_import *im,
                              const struct lb_file_stats *st, int n)
{
    struct lb_metrics *m = lb_metrics_create(o->c.metrics_file);
    if (m == NULL)
        return;
    for (int i = 0; i < n; i++) {
        char src[PATH_MAX], l[PATH_MAX + 64];
        if (lb_import_src_of(o, st[i].path, src, sizeof(src)) != 0)
            continue;
        static const char *const outcome[] = {"written", "bad", "blank"};
        const uint64_t count[] = {st[i].imported, st[i].bad, st[i].blank};
        for (int k = 0; k < 3; k++)
            lb_metrics_add(m, "logbridge_lines_total",
                           lb_metrics_labels(l, sizeof(l), "src", src, "outcome", outcome[k], NULL),
                           (double)count[k]);
        lb_metrics_add(m, "logbridge_bytes_read_total",
                       lb_metrics_labels(l, sizeof(l), "src", src, NULL), (double)st[i].bytes);
        lb_metrics_add(m, "logbridge_checkpoint_regressions_total",
                       lb_metrics_labels(l, sizeof(l), "src", src, NULL),
                       (double)st[i].regressions);
    }
    struct lb_redis_seen seen = {0, 0, 0};
    lb_job_redis_metrics_init(m);
    lb_job_redis_metrics(m, im->r, &seen);
    lb_metrics_set(m, "logbridge_wait_shortfalls_total", NULL, (double)im->wait_short);
    struct lb_error err;
    if (lb_metrics_write(m, &err) != 0)
        lb_warn("%s", err.msg);
    lb_metrics_destroy(m);
}

/* The import's parts: sink, feed, committer and the Redis connection (a dry
 * run goes on without it, and without checkpoints). Returns 0, or
 * LB_EXIT_RUNTIME or LB_EXIT_USAGE (logged). lb_import_close frees what was made. */
static int lb_import_open(struct lb_import *im, const struct lb_import_opts *o)
{
    struct lb_error err = {0};
    struct lb_sink_opts so = {
        .stream = o->stream,
        .id_ts = o->id_ts,
        .provenance = o->c.provenance,
        .json_encoding = o->c.json_encoding,
        .json_field = o->c.json_field,
        .batch_max = (size_t)o->batch,
    };
    struct lb_redis_cfg cfg;
    lb_common_redis_cfg(&o->c, &cfg, NULL);
    im->o = o;
    im->sink = lb_sink_create(&so, &err);
    im->feed = lb_feed_create(o->c.jsonl, o->c.json_encoding, o->c.max_line + 1 + 256 * 1024, &err);
    im->r = lb_redis_create(&cfg);
    if (im->r != NULL) {
        lb_redis_set_route(im->r, o->stream);
        lb_redis_allow_ask(im->r);
    }
    im->cm =
        lb_committer_create(im->sink, im->feed, im->r, LB_IMPORT_FLIGHT, lb_import_on_ckpt, im);
    if (im->sink == NULL || im->feed == NULL || im->r == NULL || im->cm == NULL) {
        lb_error_log("out of memory");
        return LB_EXIT_RUNTIME;
    }
    if (!o->dry_run) {
        if (lb_redis_connect_retry(im->r, o->retry_for, &lb_stop_flag, &err) != 0) {
            lb_error_log("%s", err.msg);
            return lb_exit_for(err.code);
        }
        im->ckpts = 1;
        return 0;
    }
    if (lb_redis_connect(im->r, &err) == 0)
        im->ckpts = 1; /* a dry run reports what a real run would do */
    else
        lb_warn("dry run without checkpoints: %s", err.msg);
    lb_committer_dry_run(im->cm);
    return 0;
}

static void lb_import_close(struct lb_import *im)
{
    lb_committer_destroy(im->cm);
    lb_sink_destroy(im->sink);
    lb_feed_destroy(im->feed);
    lb_redis_destroy(im->r);
}

/* Every file in turn, until one fails. Returns the exit code; *done: how
 * many files were read (their stats are set). */
static int lb_import_files(struct lb_import *im, struct lb_file_stats *st, int *done)
{
    struct lb_error err = {0};
    for (int i = 0; i < im->o->nfiles; i++) {
        int rc = lb_import_file(im, im->o->files[i], &st[i], &err);
        *done = i + 1;
        if (rc == LB_LINE_STRICT)
            return LB_EXIT_DIFF;
        if (rc != 0) {
            lb_error_log("%s", err.msg);
            return LB_EXIT_RUNTIME;
        }
    }
    return LB_EXIT_OK;
}

/* After the files, done or not: warnings for reordered lines and WAIT
 * shortfalls, the summary on stdout, the metrics file. */
static void lb_import_report(struct lb_import *im, const struct lb_file_stats *st, int done)
{
    const struct lb_import_opts *o = im->o;
    if (im->reordered > 0)
        lb_warn("%" PRIu64 " lines were older than the stream's top entry and were written at "
                "its millisecond (--id ts); their timestamp fields keep the truth",
                im->reordered);
    if (im->wait_short > 0)
        lb_warn("%" PRIu64 " batches were acknowledged by fewer replicas than --wait-replicas "
                "within --wait-timeout (they are written; a failover now could lose them)",
                im->wait_short);
    lb_import_summary(o, st, done, lb_clock_mono() - im->t0);
    if (o->c.metrics_file != NULL && !o->dry_run)
        lb_import_metrics(o, im, st, done);
}

int lb_cmd_import(int argc, char **argv)
{
    struct lb_import_opts o;
    int rc = lb_import_parse(&o, argc, argv);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_cli cli = {"import", NULL};
    if ((rc = lb_common_start(&o.c, &cli)) != 0)
        return rc;
    struct lb_error serr = {0};
    if (lb_signals_start(&serr) != 0) {
        lb_error_log("%s", serr.msg);
        lb_log_close();
        return LB_EXIT_RUNTIME;
    }
    struct lb_import im;
    memset(&im, 0, sizeof(im));
    struct lb_file_stats *st = calloc((size_t)o.nfiles, sizeof(*st));
    int exit_code = LB_EXIT_RUNTIME;
    if (st == NULL)
        lb_error_log("out of memory");
    else
        exit_code = lb_import_open(&im, &o);
    if (exit_code == LB_EXIT_OK) {
        int done = 0;
        im.t0 = lb_clock_mono();
        exit_code = lb_import_files(&im, st, &done);
        lb_import_report(&im, st, done);
    }
    lb_import_close(&im);
    free(st);
    lb_log_close();
    return exit_code;
}
