/*
 * import.c - `logbridge import`: one-shot, resumable import of history files.
 *
 * Per file: find the checkpoint of its src in Redis; when it still describes
 * the file, skip to it (a finished file writes nothing); then read, classify
 * and batch lines, and commit each batch with its checkpoint atomically. A
 * lost connection leaves the batch's outcome unknown, so after reconnecting
 * the checkpoint decides: it moved to the batch's end (landed) or did not
 * move (send again). That is what makes a rerun after kill -9 exact.
 */
#include "jobs.h"

#include "checkpoint.h"
#include "cli.h"
#include "feed.h"
#include "log.h"
#include "metrics.h"
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

struct lb_import_opts {
    struct lb_common c;
    const char *stream;
    int id_ts;
    long long batch;
    const char *name;
    int strict, dry_run, final;
    double retry_for;
    int progress; /* -1: when stderr is a terminal */
    int summary_json;
    char **files;
    int nfiles;
};

struct lb_file_stats {
    const char *path;
    uint64_t lines, imported, bad, blank, partial, bytes, resumed_at;
    int skipped;
};

#define LB_IMPORT_FLIGHT 2    /* batches in flight: Redis runs one while we parse the next */
#define LB_IMPORT_REWOUND 100 /* not an error: reading restarts at the checkpoint */

struct lb_import {
    const struct lb_import_opts *o;
    struct lb_redis *r;
    struct lb_sink *sink;
    struct lb_feed *feed;

    struct lb_source *s;
    char src[PATH_MAX];
    uint64_t ck_off, ck_line;           /* committed in Redis */
    uint64_t end_off, end_line;         /* just past the last line queued */
    uint64_t q_written, q_bad, q_blank; /* queued in the open batch */
    struct lb_file_stats *st;
    uint64_t reordered;
    char fp_cache[LB_FP_HEX];
    int fp_cached;

    double t0, last_progress;
    uint64_t lines_total;

    /* Pipelining: batches sent whose replies are pending, oldest first. */
    struct {
        uint64_t off, line, written, bad, blank;
    } fl[LB_IMPORT_FLIGHT];
    int nfl;
    uint64_t sent_off, sent_line; /* end of the last batch sent */
    const char *path;
};

static double lb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The fingerprint only changes while off < 1 KiB: cache it after that. */
static int lb_import_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX])
{
    struct lb_import *im = ctx;
    if (off >= LB_FP_LEN && im->fp_cached) {
        memcpy(hex, im->fp_cache, LB_FP_HEX);
        return 0;
    }
    int rc = lb_source_fingerprint(im->s, off, hex);
    if (rc == 0 && off >= LB_FP_LEN) {
        memcpy(im->fp_cache, hex, LB_FP_HEX);
        im->fp_cached = 1;
    }
    return rc;
}

static void lb_import_progress(struct lb_import *im, int final)
{
    if (!im->o->progress)
        return;
    double now = lb_now();
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

static void lb_import_landed(struct lb_import *im)
{
    im->st->imported += im->q_written;
    im->st->bad += im->q_bad;
    im->st->blank += im->q_blank;
    im->lines_total += im->q_written + im->q_bad + im->q_blank;
    im->q_written = im->q_bad = im->q_blank = 0;
    im->ck_off = im->end_off;
    im->ck_line = im->end_line;
    lb_feed_reset(im->feed);
}

static void lb_import_flight_landed(struct lb_import *im, int i)
{
    im->st->imported += im->fl[i].written;
    im->st->bad += im->fl[i].bad;
    im->st->blank += im->fl[i].blank;
    im->lines_total += im->fl[i].written + im->fl[i].bad + im->fl[i].blank;
    im->ck_off = im->fl[i].off;
    im->ck_line = im->fl[i].line;
}

/* After a lost connection with batches in flight: reconnect, ask Redis where
 * the checkpoint stands (it must be where we were, or the end of one of the
 * batches in flight), count what landed, and reopen the file there. */
static int lb_import_rewind(struct lb_import *im, struct lb_error *err)
{
    lb_warn("%s; src=%s off=%" PRIu64 "; resuming from the checkpoint in Redis", err->msg, im->src,
            im->ck_off);
    lb_sink_forget(im->sink);
    lb_feed_reset(im->feed);
    im->q_written = im->q_bad = im->q_blank = 0;
    struct lb_ckpt ck;
    int rc;
    do {
        rc = lb_redis_connect_retry(im->r, im->o->retry_for, &lb_stop_flag, err);
        if (rc != 0)
            return rc;
        rc = lb_ckpt_load(im->r, lb_sink_ckpt_key(im->sink), im->src, &ck, err);
    } while (rc == LB_EREDIS);
    if (rc != 0)
        return rc;
    uint64_t off = ck.present ? ck.off : 0, line = ck.present ? ck.line : 0;
    int landed = -1;
    if (!(off == im->ck_off && line == im->ck_line)) {
        for (int i = 0; i < im->nfl; i++)
            if (im->fl[i].off == off && im->fl[i].line == line)
                landed = i;
        if (landed < 0)
            return lb_error_set(err, LB_ECKPT,
                                "checkpoint of src=%s moved to off=%" PRIu64
                                " while batches were in flight: is another logbridge writing it?",
                                im->src, off);
    }
    for (int i = 0; i <= landed; i++)
        lb_import_flight_landed(im, i);
    im->nfl = 0;
    dev_t dev = lb_source_dev(im->s);
    ino_t ino = lb_source_ino(im->s);
    lb_source_close(im->s);
    im->s = lb_source_open(im->path, im->o->c.max_line, err);
    if (im->s == NULL)
        return err->code;
    if (lb_source_dev(im->s) != dev || lb_source_ino(im->s) != ino)
        return lb_error_set(err, LB_EIO, "%s was replaced while importing it", im->path);
    if ((rc = lb_source_skip_to(im->s, off, err)) != 0)
        return rc;
    lb_sink_fence(im->sink, off, line);
    im->end_off = im->sent_off = off;
    im->end_line = im->sent_line = line;
    return LB_IMPORT_REWOUND;
}

/* Send the open batch (if anything moved) and read replies until at most
 * `keep` batches are in flight. */
static int lb_import_flush(struct lb_import *im, int keep, struct lb_error *err)
{
    int rc;
    if (lb_sink_pending(im->sink) > 0 || im->end_off != im->sent_off ||
        im->end_line != im->sent_line) {
        rc = lb_sink_send(im->sink, im->r, im->end_off, im->end_line, lb_import_fp, im, err);
        lb_feed_reset(im->feed);
        if (rc == LB_EREDIS)
            return lb_import_rewind(im, err);
        if (rc != 0)
            return rc;
        im->fl[im->nfl].off = im->end_off;
        im->fl[im->nfl].line = im->end_line;
        im->fl[im->nfl].written = im->q_written;
        im->fl[im->nfl].bad = im->q_bad;
        im->fl[im->nfl].blank = im->q_blank;
        im->nfl++;
        im->q_written = im->q_bad = im->q_blank = 0;
        im->sent_off = im->end_off;
        im->sent_line = im->end_line;
    }
    while (im->nfl > keep) {
        struct lb_sink_result res;
        rc = lb_sink_recv(im->sink, im->r, &res, err);
        if (rc == LB_EREDIS)
            return lb_import_rewind(im, err);
        if (rc != 0)
            return rc;
        im->reordered += res.reordered;
        lb_import_flight_landed(im, 0);
        im->nfl--;
        memmove(im->fl, im->fl + 1, (size_t)im->nfl * sizeof(im->fl[0]));
    }
    return 0;
}

/* Commit the open batch and wait for it, riding out lost connections
 * (DESIGN.md 4.1, 4.5): the batch is kept and sent again when the checkpoint
 * says it did not land. Used for stdin, which cannot be read twice. */
static int lb_import_commit_sync(struct lb_import *im, struct lb_error *err)
{
    if (im->o->dry_run) {
        lb_sink_reset(im->sink);
        lb_import_landed(im);
        return 0;
    }
    if (lb_sink_pending(im->sink) == 0 && im->end_off == im->ck_off && im->end_line == im->ck_line)
        return 0;
    for (;;) {
        struct lb_sink_result res;
        int rc =
            lb_sink_commit(im->sink, im->r, im->end_off, im->end_line, lb_import_fp, im, &res, err);
        if (rc == 0) {
            im->reordered += res.reordered;
            lb_import_landed(im);
            return 0;
        }
        if (rc != LB_EREDIS) {
            lb_feed_reset(im->feed);
            return rc;
        }
        /* The batch may or may not have landed: reconnect and let the
         * checkpoint in Redis say which. */
        lb_warn("%s; src=%s off=%" PRIu64, err->msg, im->src, im->ck_off);
        rc = lb_redis_connect_retry(im->r, im->o->retry_for, &lb_stop_flag, err);
        if (rc != 0) {
            lb_sink_reset(im->sink);
            return rc;
        }
        struct lb_ckpt ck;
        rc = lb_ckpt_load(im->r, lb_sink_ckpt_key(im->sink), im->src, &ck, err);
        if (rc == LB_EREDIS)
            continue;
        if (rc != 0) {
            lb_sink_reset(im->sink);
            return rc;
        }
        if (ck.present && ck.off == im->end_off && ck.line == im->end_line) {
            lb_info("the batch ending at src=%s off=%" PRIu64 " had landed", im->src, ck.off);
            lb_sink_reset(im->sink);
            lb_import_landed(im);
            return 0;
        }
        int unmoved = ck.present ? (ck.off == im->ck_off && ck.line == im->ck_line)
                                 : (im->ck_off == 0 && im->ck_line == 0);
        if (!unmoved) {
            lb_sink_reset(im->sink);
            return lb_error_set(err, LB_ECKPT,
                                "checkpoint of src=%s moved to off=%" PRIu64
                                " while a batch was in flight: is another logbridge writing it?",
                                im->src, ck.off);
        }
        /* not landed: send the same batch again, from where it started */
        lb_sink_fence(im->sink, im->ck_off, im->ck_line);
    }
}

/* Hand the open batch over: pipelined for files (`keep` batches may stay in
 * flight), synchronously for stdin. */
static int lb_import_commit(struct lb_import *im, int keep, struct lb_error *err)
{
    if (im->o->dry_run || lb_source_kind(im->s) == LB_SOURCE_STDIN)
        return lb_import_commit_sync(im, err);
    return lb_import_flush(im, keep, err);
}

enum { LB_LINE_GO = 0, LB_LINE_STRICT = 1 };

static int lb_import_line(struct lb_import *im, const struct lb_line *line, struct lb_error *err)
{
    uint64_t no = im->end_line + 1;
    struct lb_record rec;
    enum lb_reason why = lb_feed_classify(im->feed, line, &rec);
    if (why >= LB_REASON_FIELDS && im->o->strict) {
        int rc = lb_import_commit(im, 0, err);
        if (rc != 0)
            return rc;
        lb_error_log("strict: bad line src=%s line=%" PRIu64 " off=%" PRIu64 " reason=%s; "
                     "stopping, everything before it is committed",
                     im->src, no, line->off, lb_reason_name(why));
        return LB_LINE_STRICT;
    }
    if (!im->o->dry_run) {
        int rc = lb_feed_queue(im->sink, why, &rec, line, no);
        if (rc != 0)
            return lb_error_set(err, rc, "out of memory");
    }
    if (why == LB_PARSE_OK)
        im->q_written++;
    else if (why == LB_PARSE_BLANK)
        im->q_blank++;
    else
        im->q_bad++;
    im->end_off = line->end;
    im->end_line = no;
    if (lb_sink_full(im->sink) || (im->o->dry_run && im->q_written + im->q_bad > 4096))
        return lb_import_commit(im, LB_IMPORT_FLIGHT - 1, err);
    return LB_LINE_GO;
}

static int lb_import_file(struct lb_import *im, const char *path, struct lb_file_stats *st,
                          struct lb_error *err)
{
    const struct lb_import_opts *o = im->o;
    memset(st, 0, sizeof(*st));
    st->path = path;
    im->st = st;
    im->fp_cached = 0;
    im->q_written = im->q_bad = im->q_blank = 0;

    if (o->name != NULL)
        snprintf(im->src, sizeof(im->src), "%s", o->name);
    else if (strcmp(path, "-") == 0)
        snprintf(im->src, sizeof(im->src), "stdin");
    else if (lb_abs_path(path, im->src, sizeof(im->src)) != 0)
        return lb_error_set(err, LB_EIO, "%s: path too long", path);

    im->s = lb_source_open(path, o->c.max_line, err);
    if (im->s == NULL)
        return err->code;

    struct lb_ckpt ck = {0};
    int fence = 1; /* the checkpoint in Redis is the one we start from */
    uint64_t stale_off = 0, stale_line = 0;
    if (!o->dry_run) {
        int rc;
        while ((rc = lb_ckpt_load(im->r, lb_sink_ckpt_key(im->sink), im->src, &ck, err)) ==
               LB_EREDIS) {
            lb_warn("%s", err->msg);
            if ((rc = lb_redis_connect_retry(im->r, o->retry_for, &lb_stop_flag, err)) != 0)
                return rc;
        }
        if (rc == LB_ECKPT) {
            lb_warn("src=%s: %s; reading the file from the start", im->src, err->msg);
            memset(&ck, 0, sizeof(ck));
            fence = 0;
        } else if (rc != 0) {
            return rc;
        }
    }
    char why[256];
    if (ck.present && !lb_ckpt_trust(&ck, im->s, why, sizeof(why))) {
        lb_warn("src=%s: checkpoint not trusted (%s); reading the file from the start", im->src,
                why);
        /* The first batch replaces that checkpoint: fence it where it stands. */
        stale_off = ck.off;
        stale_line = ck.line;
        memset(&ck, 0, sizeof(ck));
    }
    im->ck_off = im->end_off = ck.off;
    im->ck_line = im->end_line = ck.line;
    st->resumed_at = ck.off;
    if (ck.off > 0) {
        int rc = lb_source_skip_to(im->s, ck.off, err);
        if (rc != 0)
            return rc;
        lb_info("src=%s resuming at off=%" PRIu64 " line=%" PRIu64, im->src, ck.off, ck.line);
    }
    lb_sink_begin(im->sink, im->src, (unsigned long long)lb_source_dev(im->s),
                  (unsigned long long)lb_source_ino(im->s), ck.id);
    if (fence)
        lb_sink_fence(im->sink, ck.present ? ck.off : stale_off, ck.present ? ck.line : stale_line);

    im->path = path;
    im->nfl = 0;
    im->sent_off = ck.off;
    im->sent_line = ck.line;
    int rc = 0;
    for (;;) {
        struct lb_line line;
        while (rc == 0 && lb_source_next(im->s, &line))
            rc = lb_import_line(im, &line, err);
        /* The lines are slices of the buffer that fill() reuses: send them
         * first (their reply may still be pending). */
        if (rc == 0)
            rc = lb_import_commit(im, LB_IMPORT_FLIGHT - 1, err);
        if (rc == 0 && atomic_load(&lb_stop_flag)) {
            rc = lb_import_commit(im, 0, err);
            if (rc == 0)
                rc = lb_error_set(err, LB_ESTOP,
                                  "interrupted at src=%s off=%" PRIu64
                                  "; run the import again to resume",
                                  im->src, im->ck_off);
        }
        if (rc == LB_IMPORT_REWOUND) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        long got = lb_source_fill(im->s, err);
        if (got < 0) {
            rc = (int)got;
            break;
        }
        lb_import_progress(im, 0);
        if (got > 0)
            continue;
        /* End of input: an unterminated last line waits for its '\n', unless
         * the input is final (history, stdin). */
        if (lb_source_pending(im->s) > 0) {
            if (o->final || lb_source_kind(im->s) == LB_SOURCE_STDIN) {
                if (lb_source_take_partial(im->s, &line))
                    rc = lb_import_line(im, &line, err);
            } else {
                st->partial = 1;
                lb_warn("src=%s: the last line (%" PRIu64 " bytes at off=%" PRIu64
                        ") has no newline yet; it is not imported (use --final for a file "
                        "that will not grow)",
                        im->src, lb_source_pending(im->s), lb_source_offset(im->s));
            }
        }
        if (rc == 0)
            rc = lb_import_commit(im, 0, err);
        if (rc == LB_IMPORT_REWOUND) {
            rc = 0;
            continue;
        }
        break;
    }
    lb_import_progress(im, 1);
    st->lines = st->imported + st->bad + st->blank;
    st->bytes = im->ck_off - st->resumed_at;
    st->skipped = ck.present && st->lines == 0 && !st->partial && rc == 0;
    lb_source_close(im->s);
    im->s = NULL;
    return rc;
}

/* ---- options and summary --------------------------------------------------- */

enum {
    LB_IMP_STREAM = LB_OPT_FIRST_JOB,
    LB_IMP_ID,
    LB_IMP_BATCH,
    LB_IMP_NAME,
    LB_IMP_STRICT,
    LB_IMP_DRY_RUN,
    LB_IMP_FINAL,
    LB_IMP_RETRY_FOR,
    LB_IMP_PROGRESS,
    LB_IMP_NO_PROGRESS,
    LB_IMP_SUMMARY
};

static const struct option lb_import_longopts[] = {
    LB_COMMON_LONGOPTS,
    {"stream", required_argument, NULL, LB_IMP_STREAM},
    {"id", required_argument, NULL, LB_IMP_ID},
    {"batch", required_argument, NULL, LB_IMP_BATCH},
    {"name", required_argument, NULL, LB_IMP_NAME},
    {"strict", no_argument, NULL, LB_IMP_STRICT},
    {"dry-run", no_argument, NULL, LB_IMP_DRY_RUN},
    {"final", no_argument, NULL, LB_IMP_FINAL},
    {"retry-for", required_argument, NULL, LB_IMP_RETRY_FOR},
    {"progress", no_argument, NULL, LB_IMP_PROGRESS},
    {"no-progress", no_argument, NULL, LB_IMP_NO_PROGRESS},
    {"summary", required_argument, NULL, LB_IMP_SUMMARY},
    {NULL, 0, NULL, 0},
};

static const char lb_import_usage[] =
    "Usage: logbridge import --stream S [options] FILE...\n"
    "Import history files (oldest first; .gz read through zlib; - is stdin) into\n"
    "stream S, exactly once and resumably: a rerun continues from the checkpoint.\n"
    "\n"
    "  --stream S           target stream, or a template such as 'events:%{type}'\n"
    "  --id auto|ts         let Redis assign IDs, or use each line's time (default auto)\n"
    "  --batch N            lines per atomic batch (default 1000)\n"
    "  --name NAME          src name instead of the absolute path (one file only)\n"
    "  --strict             stop at the first bad line (exit 1)\n"
    "  --dry-run            parse and report; write nothing\n"
    "  --final              the input will not grow: an unterminated last line is a line\n"
    "  --retry-for SEC      give up after SEC s without Redis (default 30), exit 3\n"
    "  --progress, --no-progress  progress on stderr (default: when a terminal)\n"
    "  --summary text|json  summary on stdout (default text)\n"
    "\n" LB_COMMON_HELP;

static int lb_import_parse(struct lb_import_opts *o, int argc, char **argv)
{
    struct lb_cli cli = {"import", NULL};
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->batch = 1000;
    o->retry_for = 30;
    o->progress = -1;
    lb_getopt_begin();
    int id;
    long long v;
    while ((id = lb_getopt(argc, argv, lb_import_longopts, &cli)) != -1) {
        int h = lb_cli_common(&o->c, id, optarg, &cli, lb_import_usage);
        if (h == LB_CLI_NEXT)
            continue;
        if (h != LB_CLI_MINE)
            return h == LB_CLI_DONE ? -1 : LB_EXIT_USAGE;
        switch (id) {
        case LB_IMP_STREAM:
            if (*optarg == '\0')
                return lb_cli_error(&cli, "stream", "expected a stream name");
            o->stream = optarg;
            break;
        case LB_IMP_ID:
            if (strcmp(optarg, "auto") == 0)
                o->id_ts = 0;
            else if (strcmp(optarg, "ts") == 0)
                o->id_ts = 1;
            else
                return lb_cli_error(&cli, "id", "expected auto or ts, got '%s'", optarg);
            break;
        case LB_IMP_BATCH:
            if (lb_parse_ll(optarg, 1, 100000, &v) != 0)
                return lb_cli_error(&cli, "batch", "expected a number from 1 to 100000, got '%s'",
                                    optarg);
            o->batch = v;
            break;
        case LB_IMP_NAME:
            if (*optarg == '\0')
                return lb_cli_error(&cli, "name", "expected a name");
            o->name = optarg;
            break;
        case LB_IMP_STRICT:
            o->strict = 1;
            break;
        case LB_IMP_DRY_RUN:
            o->dry_run = 1;
            break;
        case LB_IMP_FINAL:
            o->final = 1;
            break;
        case LB_IMP_RETRY_FOR:
            if (lb_parse_double(optarg, 0, 1e9, &o->retry_for) != 0)
                return lb_cli_error(&cli, "retry-for", "expected seconds (>= 0), got '%s'", optarg);
            break;
        case LB_IMP_PROGRESS:
            o->progress = 1;
            break;
        case LB_IMP_NO_PROGRESS:
            o->progress = 0;
            break;
        case LB_IMP_SUMMARY:
            if (strcmp(optarg, "text") == 0)
                o->summary_json = 0;
            else if (strcmp(optarg, "json") == 0)
                o->summary_json = 1;
            else
                return lb_cli_error(&cli, "summary", "expected text or json, got '%s'", optarg);
            break;
        default:
            fprintf(stderr, "Try 'logbridge import --help'.\n");
            return LB_EXIT_USAGE;
        }
    }
    if (o->stream == NULL)
        return lb_cli_error(&cli, "stream", "is required");
    o->files = argv + optind;
    o->nfiles = argc - optind;
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

static void lb_import_summary(const struct lb_import_opts *o, struct lb_file_stats *st, int n,
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
               " blank, %" PRIu64 " partial; %" PRIu64 " bytes from offset %" PRIu64 "%s\n",
               st[i].path, st[i].lines, st[i].imported, st[i].bad, st[i].blank, st[i].partial,
               st[i].bytes, st[i].resumed_at, st[i].skipped ? " (already imported)" : "");
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
        if (o->name != NULL)
            snprintf(src, sizeof(src), "%s", o->name);
        else if (strcmp(st[i].path, "-") == 0)
            snprintf(src, sizeof(src), "stdin");
        else if (lb_abs_path(st[i].path, src, sizeof(src)) != 0)
            continue;
        static const char *const outcome[] = {"written", "bad", "blank"};
        const uint64_t count[] = {st[i].imported, st[i].bad, st[i].blank};
        for (int k = 0; k < 3; k++)
            lb_metrics_add(m, "logbridge_lines_total",
                           lb_metrics_labels(l, sizeof(l), "src", src, "outcome", outcome[k], NULL),
                           (double)count[k]);
        lb_metrics_add(m, "logbridge_bytes_read_total",
                       lb_metrics_labels(l, sizeof(l), "src", src, NULL), (double)st[i].bytes);
    }
    lb_metrics_set(m, "logbridge_redis_reconnects_total", NULL, (double)lb_redis_reconnects(im->r));
    struct lb_error err;
    if (lb_metrics_write(m, &err) != 0)
        lb_warn("%s", err.msg);
    lb_metrics_destroy(m);
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
    lb_signals_install();

    struct lb_error err = {0};
    struct lb_import im;
    memset(&im, 0, sizeof(im));
    im.o = &o;
    int exit_code = LB_EXIT_OK;
    struct lb_file_stats *st = calloc((size_t)o.nfiles, sizeof(*st));
    struct lb_sink_opts so = {
        .stream = o.stream,
        .id_ts = o.id_ts,
        .provenance = o.c.provenance,
        .json_encoding = o.c.json_encoding,
        .json_field = o.c.json_field,
        .batch_max = (size_t)o.batch,
    };
    struct lb_redis_cfg cfg;
    lb_redis_url_parse(o.c.redis_url, &cfg, NULL);
    im.sink = lb_sink_create(&so, &err);
    im.feed = lb_feed_create(o.c.jsonl, o.c.json_encoding, o.c.max_line + 1 + 256 * 1024, &err);
    im.r = lb_redis_create(&cfg);
    if (st == NULL || im.sink == NULL || im.feed == NULL || im.r == NULL) {
        lb_error_log("out of memory");
        exit_code = LB_EXIT_RUNTIME;
        goto done;
    }
    if (!o.dry_run) {
        rc = lb_redis_connect_retry(im.r, o.retry_for, &lb_stop_flag, &err);
        if (rc != 0) {
            lb_error_log("%s", err.msg);
            exit_code = LB_EXIT_RUNTIME;
            goto done;
        }
    }
    im.t0 = lb_now();
    int done_files = 0;
    for (int i = 0; i < o.nfiles; i++) {
        rc = lb_import_file(&im, o.files[i], &st[i], &err);
        done_files = i + 1;
        if (im.s != NULL) {
            lb_source_close(im.s);
            im.s = NULL;
        }
        if (rc == LB_LINE_STRICT) {
            exit_code = LB_EXIT_DIFF;
            break;
        }
        if (rc != 0) {
            lb_error_log("%s", err.msg);
            exit_code = LB_EXIT_RUNTIME;
            break;
        }
    }
    if (im.reordered > 0)
        lb_warn("%" PRIu64 " lines were older than the stream's top entry and were written at "
                "its millisecond (--id ts); their timestamp fields keep the truth",
                im.reordered);
    lb_import_summary(&o, st, done_files, lb_now() - im.t0);
    if (o.c.metrics_file != NULL && !o.dry_run)
        lb_import_metrics(&o, &im, st, done_files);
done:
    lb_sink_destroy(im.sink);
    lb_feed_destroy(im.feed);
    lb_redis_destroy(im.r);
    free(st);
    lb_log_close();
    return exit_code;
}
