/*
 * committer.c - batches of one source into Redis, exactly once (see
 * committer.h for the contract).
 *
 * State, and the only places it changes:
 *  - ck: what Redis holds for src, as last known. Changes when a batch lands
 *    (land), and in resync (the checkpoint read again).
 *  - fl[]: the batches sent whose replies are pending, oldest first. Grows
 *    in send, shrinks in land; emptied by forget (any error).
 *  - end_off/end_line and q_*: the open batch (lines queued, not sent).
 * The sink's fence always equals the end of the newest batch sent (or ck):
 * a batch applies only where the one before it left the checkpoint.
 *
 * A refused batch applies nothing (the script is all or nothing), and every
 * batch after it is refused by its fence, so after any refusal or lost
 * connection the checkpoint in Redis is either where we started, or the end
 * of one of the batches sent - unless someone else moved it (another process
 * on the same file) or a failover took it back. resync tells these apart.
 */
#include "committer.h"
#include "clock.h"

#include "log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LB_COMMIT_MAX_FLIGHTS 4
#define LB_COMMIT_DRY_BATCH 4096 /* lines per "batch" when nothing is sent */

struct lb_flight_rec {
    uint64_t off, line;
    uint64_t written, bad, blank, bytes;
    double t0;
};

struct lb_committer {
    struct lb_sink *k;
    struct lb_feed *feed;
    struct lb_redis *r;
    int flights;
    lb_commit_fn on_ckpt;
    void *ctx;
    int dry;

    struct lb_commit_source s;
    struct lb_ckpt ck;
    uint64_t end_off, end_line;
    uint64_t q_written, q_bad, q_blank, q_bytes;
    struct lb_flight_rec fl[LB_COMMIT_MAX_FLIGHTS];
    int nfl;
    int unknown; /* fl[] were sent and their outcome is unknown: resync first */
    char fp_cache[LB_FP_HEX];
    int fp_cached;
};

struct lb_committer *lb_committer_create(struct lb_sink *k, struct lb_feed *feed,
                                         struct lb_redis *r, int flights, lb_commit_fn on_ckpt,
                                         void *ctx)
{
    struct lb_committer *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->k = k;
    c->feed = feed;
    c->r = r;
    c->flights = flights < 1 ? 1 : flights > LB_COMMIT_MAX_FLIGHTS ? LB_COMMIT_MAX_FLIGHTS : flights;
    c->on_ckpt = on_ckpt;
    c->ctx = ctx;
    return c;
}

void lb_committer_destroy(struct lb_committer *c)
{
    free(c);
}

void lb_committer_dry_run(struct lb_committer *c)
{
    c->dry = 1;
}

/* The fingerprint only changes while off < 1 KiB: cached after that. */
static int lb_committer_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX])
{
    struct lb_committer *c = ctx;
    if (off >= LB_FP_LEN && c->fp_cached) {
        memcpy(hex, c->fp_cache, LB_FP_HEX);
        return 0;
    }
    int rc = c->s.fp(c->s.fp_ctx, off, hex);
    if (rc == 0 && off >= LB_FP_LEN) {
        memcpy(c->fp_cache, hex, LB_FP_HEX);
        c->fp_cached = 1;
    }
    return rc;
}

static int lb_committer_describes(const struct lb_committer *c, const struct lb_ckpt *ck)
{
    return ck->present && ck->dev == c->s.dev && ck->ino == c->s.ino;
}

void lb_committer_begin(struct lb_committer *c, const struct lb_commit_source *s)
{
    c->s = *s;
    c->ck = s->ck;
    c->end_off = s->off;
    c->end_line = s->line;
    c->q_written = c->q_bad = c->q_blank = c->q_bytes = 0;
    c->nfl = 0;
    c->unknown = 0;
    c->fp_cached = 0;
    if (lb_committer_describes(c, &s->ck) && s->ck.off == s->off && s->off >= LB_FP_LEN &&
        s->ck.fp[0] != '\0') {
        memcpy(c->fp_cache, s->ck.fp, LB_FP_HEX);
        c->fp_cached = 1;
    }
    lb_sink_begin(c->k, s->src, s->dev, s->ino, s->ck.present ? s->ck.id : "");
    if (!s->unfenced)
        lb_sink_fence(c->k, &c->ck);
    lb_feed_reset(c->feed);
}

size_t lb_committer_inflight(const struct lb_committer *c)
{
    return (size_t)c->nfl;
}

uint64_t lb_committer_end_off(const struct lb_committer *c)
{
    return c->end_off;
}

uint64_t lb_committer_end_line(const struct lb_committer *c)
{
    return c->end_line;
}

const struct lb_ckpt *lb_committer_ckpt(const struct lb_committer *c)
{
    return &c->ck;
}

int lb_committer_dirty(const struct lb_committer *c)
{
    if (c->q_written + c->q_bad + c->q_blank > 0)
        return 1;
    if (c->nfl > 0)
        return c->end_off != c->fl[c->nfl - 1].off || c->end_line != c->fl[c->nfl - 1].line;
    if (lb_committer_describes(c, &c->ck))
        return c->end_off != c->ck.off || c->end_line != c->ck.line;
    /* nothing committed for this file yet: worth a batch unless there is
     * nothing to say (no checkpoint, nothing read, no start to record) */
    return c->ck.present || c->s.record_start || c->end_off != 0 || c->end_line != 0;
}

/* The batch fl (or the open one, dry run) is in Redis with its checkpoint. */
static void lb_committer_land(struct lb_committer *c, const struct lb_flight_rec *f,
                              const struct lb_sink_result *res)
{
    struct lb_commit_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.ck.present = 1;
    ev.ck.dev = c->s.dev;
    ev.ck.ino = c->s.ino;
    ev.ck.off = f->off;
    ev.ck.line = f->line;
    if (lb_committer_fp(c, f->off, ev.ck.fp) != 0)
        ev.ck.fp[0] = '\0';
    const char *id = res != NULL && res->last_id[0] != '\0' ? res->last_id : c->ck.id;
    snprintf(ev.ck.id, sizeof(ev.ck.id), "%s", id);
    ev.written = f->written;
    ev.bad = f->bad;
    ev.blank = f->blank;
    ev.bytes = f->bytes;
    ev.reordered = res != NULL ? res->reordered : 0;
    ev.trim_blocked = res != NULL ? res->trim_blocked : -1;
    ev.wait_short = res != NULL ? res->wait_short : 0;
    ev.seconds = res != NULL ? lb_clock_mono() - f->t0 : 0;
    c->ck = ev.ck;
    if (c->on_ckpt != NULL)
        c->on_ckpt(c->ctx, &ev);
}

/* Forget what is queued. The batches in flight were refused (fl is
 * emptied), or their outcome is unknown (fl is kept for resync to match the
 * checkpoint against). A source that cannot be read again keeps its open
 * batch. */
static void lb_committer_forget(struct lb_committer *c, int unknown)
{
    if (unknown)
        c->unknown = 1;
    else
        c->nfl = 0;
    if (c->s.rereadable) {
        lb_sink_forget(c->k);
        lb_feed_reset(c->feed);
        c->q_written = c->q_bad = c->q_blank = c->q_bytes = 0;
    }
}

/* A batch was refused; those after it are refused by their fences: read
 * their replies too, then the caller decides (back off, or stop). */
static int lb_committer_refused(struct lb_committer *c, const struct lb_sink_result *res, int rc,
                                struct lb_error *err)
{
    while (lb_sink_inflight(c->k) > 0) {
        struct lb_sink_result r2;
        struct lb_error e2;
        if (lb_sink_recv(c->k, c->r, &r2, &e2) == LB_EREDIS)
            break;
    }
    lb_committer_forget(c, 0);
    if (res->refused == LB_SINK_TRANSIENT || res->refused == LB_SINK_FENCED)
        return err->code = LB_EREDIS;
    return rc;
}

/* Read the reply of the oldest batch (wait: or only if it has all arrived:
 * LB_SINK_AGAIN). */
static int lb_committer_recv(struct lb_committer *c, int wait, struct lb_error *err)
{
    struct lb_sink_result res;
    int rc = wait ? lb_sink_recv(c->k, c->r, &res, err) : lb_sink_recv_ready(c->k, c->r, &res, err);
    if (rc == LB_SINK_AGAIN)
        return rc;
    if (rc == 0) {
        struct lb_flight_rec f = c->fl[0];
        c->nfl--;
        memmove(c->fl, c->fl + 1, (size_t)c->nfl * sizeof(c->fl[0]));
        lb_committer_land(c, &f, &res);
        return 0;
    }
    if (rc == LB_EREDIS) {
        lb_committer_forget(c, 1);
        return rc;
    }
    return lb_committer_refused(c, &res, rc, err);
}

static void lb_committer_take_open(struct lb_committer *c, struct lb_flight_rec *f)
{
    f->off = c->end_off;
    f->line = c->end_line;
    f->written = c->q_written;
    f->bad = c->q_bad;
    f->blank = c->q_blank;
    f->bytes = c->q_bytes;
    f->t0 = lb_clock_mono();
    c->q_written = c->q_bad = c->q_blank = c->q_bytes = 0;
}

/* A source read once (stdin): one batch at a time, kept until it lands. */
static int lb_committer_send_sync(struct lb_committer *c, struct lb_error *err)
{
    struct lb_sink_result res;
    struct lb_flight_rec f;
    f.t0 = lb_clock_mono();
    int rc = lb_sink_commit(c->k, c->r, c->end_off, c->end_line, lb_committer_fp, c, &res, err);
    if (rc == 0) {
        lb_committer_take_open(c, &f);
        lb_feed_reset(c->feed);
        lb_committer_land(c, &f, &res);
        return 0;
    }
    lb_sink_fence(c->k, &c->ck); /* sent again from where it started */
    if (rc == LB_EREDIS) {
        c->unknown = 1;
        return rc;
    }
    if (res.refused == LB_SINK_TRANSIENT || res.refused == LB_SINK_FENCED)
        return err->code = LB_EREDIS;
    return rc;
}

int lb_committer_flush(struct lb_committer *c, int keep, struct lb_error *err)
{
    int rc;
    if (c->unknown)
        return lb_error_set(err, LB_EREDIS, "src=%s: the outcome of a batch is unknown",
                            c->s.src);
    if (lb_committer_dirty(c)) {
        if (c->dry) {
            struct lb_flight_rec f;
            lb_committer_take_open(c, &f);
            lb_feed_reset(c->feed);
            lb_committer_land(c, &f, NULL);
            return 0;
        }
        if (!c->s.rereadable)
            return lb_committer_send_sync(c, err);
        if (c->nfl == c->flights && (rc = lb_committer_recv(c, 1, err)) != 0)
            return rc;
        rc = lb_sink_send(c->k, c->r, c->end_off, c->end_line, lb_committer_fp, c, err);
        lb_feed_reset(c->feed);
        if (rc != 0) {
            /* it may have been sent in part: what is in flight is unknown */
            lb_committer_forget(c, 1);
            return rc;
        }
        lb_committer_take_open(c, &c->fl[c->nfl++]);
    }
    while (c->nfl > keep)
        if ((rc = lb_committer_recv(c, 1, err)) != 0)
            return rc;
    return 0;
}

int lb_committer_poll(struct lb_committer *c, struct lb_error *err)
{
    while (c->nfl > 0 && !c->unknown) {
        int rc = lb_committer_recv(c, 0, err);
        if (rc == LB_SINK_AGAIN)
            return 0;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int lb_committer_line(struct lb_committer *c, const struct lb_line *line, int strict,
                      enum lb_reason *why_out, struct lb_error *err)
{
    uint64_t no = c->end_line + 1;
    struct lb_record rec;
    enum lb_reason why = lb_feed_classify(c->feed, line, &rec);
    if (why_out != NULL)
        *why_out = why;
    if (why >= LB_REASON_FIELDS && strict) {
        int rc = lb_committer_flush(c, 0, err);
        return rc != 0 ? rc : LB_COMMIT_STRICT;
    }
    if (!c->dry) {
        int rc = lb_feed_queue(c->k, why, &rec, line, no);
        if (rc != 0)
            return lb_error_set(err, rc, "src=%s: cannot queue line %" PRIu64 " (out of memory)",
                                c->s.src, no);
    }
    if (why == LB_PARSE_OK)
        c->q_written++;
    else if (why == LB_PARSE_BLANK)
        c->q_blank++;
    else
        c->q_bad++;
    c->q_bytes += line->end - line->off;
    c->end_off = line->end;
    c->end_line = no;
    if (c->dry ? c->q_written + c->q_bad > LB_COMMIT_DRY_BATCH : lb_sink_full(c->k))
        return lb_committer_flush(c, c->flights - 1, err);
    return 0;
}

/* ---- after a lost connection or a refusal ------------------------------------------- */

static int lb_ckpt_same(const struct lb_ckpt *a, const struct lb_ckpt *b)
{
    if (a->present != b->present)
        return 0;
    return !a->present ||
           (a->dev == b->dev && a->ino == b->ino && a->off == b->off && a->line == b->line);
}

/* Report the batches in flight that landed: the checkpoint q is where we
 * were (-1), the end of batch i (i), or neither (-2). */
static int lb_committer_landed_upto(struct lb_committer *c, const struct lb_ckpt *q)
{
    int match = lb_ckpt_same(q, &c->ck) ? -1 : -2;
    for (int i = 0; i < c->nfl; i++)
        if (lb_committer_describes(c, q) && q->off == c->fl[i].off && q->line == c->fl[i].line)
            match = i;
    for (int i = 0; i <= match; i++) {
        struct lb_sink_result res;
        memset(&res, 0, sizeof(res));
        snprintf(res.last_id, sizeof(res.last_id), "%s", i == match ? q->id : "");
        res.trim_blocked = -1;
        lb_committer_land(c, &c->fl[i], &res);
    }
    return match;
}

/* stdin: either the kept batch landed, or the checkpoint is where it started
 * and the batch is sent again; nothing else can be done without reading it
 * again. */
static int lb_committer_resync_kept(struct lb_committer *c, const struct lb_ckpt *q, int match,
                                    struct lb_commit_resync *out, struct lb_error *err)
{
    if (match < -1) {
        if (!(lb_committer_describes(c, q) && q->off == c->end_off && q->line == c->end_line))
            return lb_error_set(err, LB_ECKPT,
                                "the checkpoint of src=%s moved to off=%" PRIu64
                                " while a batch was in flight: is another logbridge writing it? "
                                "(stdin cannot be read again)",
                                c->s.src, q->off);
        struct lb_sink_result res; /* the kept batch landed */
        memset(&res, 0, sizeof(res));
        snprintf(res.last_id, sizeof(res.last_id), "%s", q->id);
        struct lb_flight_rec f;
        lb_committer_take_open(c, &f);
        lb_sink_reset(c->k);
        lb_feed_reset(c->feed);
        lb_committer_land(c, &f, &res);
    }
    c->nfl = 0;
    c->unknown = 0;
    lb_sink_fence(c->k, &c->ck);
    out->off = c->end_off;
    out->line = c->end_line;
    return 0;
}

/* The checkpoint q is none of ours: moved by someone else (it describes this
 * file, past where we were), gone back (a failover lost acknowledged
 * writes), or no longer about this file (read it again from its start). */
static void lb_committer_judge(struct lb_committer *c, const struct lb_ckpt *q,
                               struct lb_commit_resync *out)
{
    int ours = 0;
    if (lb_committer_describes(c, q)) {
        char hex[LB_FP_HEX];
        ours = lb_committer_fp(c, q->off, hex) == 0 && strcmp(hex, q->fp) == 0;
    }
    uint64_t was = lb_committer_describes(c, &c->ck) ? c->ck.off : c->s.start_off;
    if (ours) {
        out->off = q->off;
        out->line = q->line;
        out->regressed = q->off < was;
        out->lost_from = q->off;
        out->moved = !out->regressed;
    } else {
        out->off = c->s.start_off;
        out->line = c->s.start_line;
        out->restart = 1;
        out->regressed = lb_committer_describes(c, &c->ck);
        out->lost_from = c->s.start_off;
    }
    c->ck = *q;
    struct lb_commit_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.ck = *q;
    ev.trim_blocked = -1;
    if (c->on_ckpt != NULL)
        c->on_ckpt(c->ctx, &ev);
}

int lb_committer_resync(struct lb_committer *c, struct lb_commit_resync *out,
                        struct lb_error *err)
{
    memset(out, 0, sizeof(*out));
    struct lb_ckpt q;
    int rc = lb_ckpt_load(c->r, lb_sink_ckpt_key(c->k), c->s.src, &q, err);
    if (rc != 0)
        return rc;
    int match = lb_committer_landed_upto(c, &q);
    if (!c->s.rereadable)
        return lb_committer_resync_kept(c, &q, match, out, err);
    if (match < -1) {
        lb_committer_judge(c, &q, out);
    } else if (lb_committer_describes(c, &c->ck)) {
        out->off = c->ck.off; /* where we were, or the end of a batch that landed */
        out->line = c->ck.line;
    } else {
        out->off = c->s.start_off;
        out->line = c->s.start_line;
    }
    /* everything else is read again from there */
    c->nfl = 0;
    c->unknown = 0;
    lb_sink_forget(c->k);
    lb_feed_reset(c->feed);
    lb_sink_fence(c->k, &c->ck);
    c->q_written = c->q_bad = c->q_blank = c->q_bytes = 0;
    c->end_off = out->off;
    c->end_line = out->line;
    if (out->off < LB_FP_LEN)
        c->fp_cached = 0;
    return 0;
}

void lb_commit_resync_warn(const struct lb_commit_resync *rs, const char *src, uint64_t was)
{
    if (!rs->regressed)
        return;
    lb_warn_kv(LB_FIELDS(LB_F_STR("src", src), LB_F_U64("off", rs->off), LB_F_U64("was_off", was)),
               "the checkpoint in Redis went back (a failover that lost acknowledged "
               "writes?); bytes %" PRIu64 "-%" PRIu64 " are sent again",
               rs->lost_from, was);
}
