/*
 * tail_read.c - reading a route's current generation and committing it: the
 * binding of the committer to one route and generation at a time (what it
 * carried before is settled first), each line handed to it, the reports of
 * what Redis holds (lb_tail_on_ckpt), the connection followed in epoll, and
 * Redis going down and coming back (backoff, then the route rewound to the
 * checkpoint in Redis and read again from the file).
 */
#include "tail_int.h"

#include "checkpoint.h"
#include "committer.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "sink.h"
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LB_TAIL_TURN_FILLS 8 /* reads per file per turn: busy files take turns */

static double lb_backoff(const struct lb_tail *j, unsigned attempt)
{
    return (double)lb_redis_backoff_ms(j->r, attempt) / 1000.0;
}

/* ---- committing --------------------------------------------------------------------- */

static void lb_tail_trim_state(struct lb_tail *j, int blocked)
{
    if (j->o->maxlen <= 0)
        return;
    if (blocked && !j->trim_blocked)
        lb_warn_kv(LB_FIELDS(LB_F_STR("stream", j->o->stream)),
                   "trimming to --maxlen %lld is held back by a consumer group that has not read "
                   "(and acknowledged) the oldest entries; the stream stays longer meanwhile",
                   j->o->maxlen);
    else if (!blocked && j->trim_blocked)
        lb_info_kv(LB_FIELDS(LB_F_STR("stream", j->o->stream)),
                   "trimming to --maxlen %lld is no longer held back", j->o->maxlen);
    j->trim_blocked = blocked;
    lb_metrics_set(j->m, "logbridge_trim_blocked", j->l_stream, blocked);
}

/* The committer's report of what Redis now holds for the route it carries:
 * a batch landed, or the checkpoint was read again after trouble. */
void lb_tail_on_ckpt(void *ctx, const struct lb_commit_event *ev)
{
    struct lb_tail *j = ctx;
    struct lb_tfile *tf = j->cm_tf;
    struct lb_gen *g = j->cm_g;
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_written, (double)ev->written);
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_bad, (double)ev->bad);
    lb_metrics_add(j->m, "logbridge_lines_total", tf->l_blank, (double)ev->blank);
    lb_metrics_add(j->m, "logbridge_bytes_read_total", tf->l_src, (double)ev->bytes);
    if (ev->seconds > 0) {
        lb_metrics_observe_batch(j->m, j->l_job, ev->seconds);
        lb_metrics_set(j->m, "logbridge_last_commit_timestamp_seconds", tf->l_src, lb_clock_real());
        j->attempt = 0;
        j->troubled = 0;
    }
    if (ev->trim_blocked >= 0)
        lb_tail_trim_state(j, ev->trim_blocked);
    if (ev->wait_short) {
        /* DESIGN.md section 7: counted, never a reason to stop */
        if (j->wait_shorts++ == 0)
            lb_warn("tail: WAIT: fewer replicas than --wait-replicas acknowledged a batch of "
                    "%s within --wait-timeout (counted in logbridge_wait_shortfalls_total; "
                    "said once)",
                    tf->path);
        lb_metrics_add(j->m, "logbridge_wait_shortfalls_total", "", 1);
    }
    tf->ck_present = ev->ck.present;
    tf->ck_dev = ev->ck.dev;
    tf->ck_ino = ev->ck.ino;
    tf->ck_off = ev->ck.off;
    tf->ck_line = ev->ck.line;
    memcpy(tf->ck_fp, ev->ck.fp, LB_FP_HEX);
    if (ev->ck.present && ev->ck.id[0] != '\0')
        snprintf(tf->prev_id, sizeof(tf->prev_id), "%s", ev->ck.id);
    tf->ck_is_cur = ev->ck.present && ev->ck.dev == g->ck_dev && ev->ck.ino == g->ck_ino;
    if (tf->ck_is_cur)
        g->start_commit = 0;
    /* the lag shrinks when the batch lands, not when the next read ends */
    if (g == tf->cur)
        lb_tail_lag(j, tf);
}

void lb_tail_down(struct lb_tail *j, struct lb_tfile *tf)
{
    j->up = 0;
    j->next_try = lb_clock_mono() + lb_backoff(j, j->attempt);
    /* Whatever the connection still holds is of no use now (and a reply
     * arriving on it would keep epoll awake): close it, reconnect later. */
    lb_redis_drop(j->r);
    /* said once per episode (an OOM that lasts is retried quietly) */
    enum lb_log_level level = j->troubled ? LB_LOG_DEBUG : LB_LOG_WARN;
    j->troubled = 1;
    lb_job_report(j->env, j->l_job, LB_HEALTH_DOWN, j->err.msg);
    if (tf != NULL)
        lb_log_kv(level, LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("off", tf->ck_off)),
                  "%s; reading paused, retrying with backoff (<= 5 s) until redis takes batches "
                  "again",
                  j->err.msg);
    else
        lb_log(level, "%s; reading paused, retrying with backoff (<= 5 s) until redis is back",
               j->err.msg);
}

/* What a committer call's result means for the job: go on, wait for Redis,
 * or stop. */
static int lb_tail_result(struct lb_tail *j, struct lb_tfile *tf, int rc)
{
    if (rc == 0)
        return LB_T_OK;
    if (rc == LB_EREDIS) {
        lb_tail_down(j, tf);
        return LB_T_BLOCKED;
    }
    lb_error_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("off", tf->ck_off)), "%s", j->err.msg);
    j->fatal = 1;
    return LB_T_FATAL;
}

/* The committer carries tf's generation g from now on: what it carried
 * before is settled first (its batches in flight answered). */
static int lb_tail_bind(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    if (j->cm_tf == tf && j->cm_g == g)
        return LB_T_OK;
    if (j->cm_tf != NULL) {
        int rc = lb_tail_result(j, j->cm_tf, lb_committer_flush(j->cm, 0, &j->err));
        if (rc != LB_T_OK)
            return rc;
        j->cm_tf->end_off = lb_committer_end_off(j->cm);
        j->cm_tf->end_line = lb_committer_end_line(j->cm);
    }
    struct lb_commit_source cs = {
        .src = tf->src,
        .dev = g->ck_dev,
        .ino = g->ck_ino,
        .off = tf->end_off,
        .line = tf->end_line,
        .start_off = g->start_off,
        .start_line = g->start_line,
        .fp = lb_tail_fp,
        .fp_ctx = g,
        .rereadable = 1,
        .record_start = g->start_commit,
    };
    cs.ck.present = tf->ck_present;
    cs.ck.dev = tf->ck_dev;
    cs.ck.ino = tf->ck_ino;
    cs.ck.off = tf->ck_off;
    cs.ck.line = tf->ck_line;
    memcpy(cs.ck.fp, tf->ck_fp, LB_FP_HEX);
    snprintf(cs.ck.id, sizeof(cs.ck.id), "%s", tf->prev_id);
    lb_committer_begin(j->cm, &cs);
    j->cm_tf = tf;
    j->cm_g = g;
    return LB_T_OK;
}

/* Forget the binding (g starts again elsewhere, or goes away). */
void lb_tail_unbind(struct lb_tail *j, const struct lb_gen *g)
{
    if (j->cm_g == g) {
        j->cm_tf = NULL;
        j->cm_g = NULL;
    }
}

/* Send the open batch of tf (lines of g) when it changes the checkpoint (an
 * empty one may still move it, or switch it to g), then read replies until at
 * most `keep` batches are in flight: with keep 1 the next batch is read and
 * parsed while Redis runs this one. */
static int lb_tail_send(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g, int keep)
{
    int rc = lb_tail_bind(j, tf, g);
    if (rc != LB_T_OK)
        return rc;
    return lb_tail_result(j, tf, lb_committer_flush(j->cm, keep, &j->err));
}

/* Commit the open batch and wait until everything sent has landed. */
int lb_tail_commit(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    return lb_tail_send(j, tf, g, 0);
}

/* Wait for every batch in flight (before another command on the connection). */
int lb_tail_drain(struct lb_tail *j)
{
    if (j->cm_tf == NULL)
        return LB_T_OK;
    return lb_tail_result(j, j->cm_tf, lb_committer_flush(j->cm, 0, &j->err));
}

/* Follow the connection in epoll: replies are read when they come, and a
 * server that goes away while we are idle is noticed at once. */
void lb_tail_watch_redis(struct lb_tail *j)
{
    int fd = lb_redis_fd(j->r);
    if (fd < 0)
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u32 = LB_EV_REDIS;
    if (epoll_ctl(j->ep, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
        epoll_ctl(j->ep, EPOLL_CTL_MOD, fd, &ev);
}

/* The connection is readable: replies of batches in flight (as many as have
 * come), or, with none in flight, the server closing it. */
void lb_tail_on_redis(struct lb_tail *j)
{
    if (!j->up || lb_redis_ctx(j->r) == NULL) {
        lb_redis_drop(j->r);
        return;
    }
    if (j->cm_tf == NULL || lb_committer_inflight(j->cm) == 0) {
        /* nothing awaited: the server closing it (TLS may send records) */
        if (lb_redis_check_idle(j->r, &j->err) == 0)
            return;
        lb_tail_down(j, NULL);
        return;
    }
    lb_tail_result(j, j->cm_tf, lb_committer_poll(j->cm, &j->err));
}

int lb_tail_line(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g,
                 const struct lb_line *line)
{
    int rc = lb_tail_bind(j, tf, g);
    if (rc != LB_T_OK)
        return rc;
    lb_gen_note(g, line);
    return lb_tail_result(j, tf, lb_committer_line(j->cm, line, 0, NULL, &j->err));
}

/* A checkpoint load; "redis is loading" (and the like) counts as a
 * connection problem (lb_ckpt_load says so). */
int lb_tail_ckpt_load(struct lb_tail *j, const char *src, struct lb_ckpt *ck)
{
    int rc = lb_ckpt_load(j->r, lb_sink_ckpt_key(j->sink), src, ck, &j->err);
    if (rc == LB_EREDIS)
        lb_redis_drop(j->r);
    return rc;
}

/* ---- reading -------------------------------------------------------------------------- */

/* A draining generation is finished when it has not changed for
 * --rotate-wait (late writers), counted from its last change: one that
 * nobody writes any more is finished as soon as it is read. */
static int lb_tail_finish_due(const struct lb_tail *j, struct lb_tfile *tf)
{
    double changed = lb_gen_changed(tf->cur);
    if (changed > tf->last_change)
        tf->last_change = changed;
    return tf->cur->gz || lb_clock_mono() >= tf->last_change + j->o->rotate_wait;
}

void lb_tail_lag(struct lb_tail *j, struct lb_tfile *tf)
{
    if (tf->cur == NULL)
        return;
    uint64_t base = tf->ck_is_cur ? tf->ck_off : 0;
    double lag = tf->cur->seen > base ? (double)(tf->cur->seen - base) : 0;
    lb_metrics_set(j->m, "logbridge_lag_bytes", tf->l_src, lag);
}

/* Read what tf's current generation has, in batches. LB_T_OK: at its end;
 * LB_T_MORE: more to do (its turn is over); LB_T_BLOCKED: Redis is down. */
int lb_tail_service(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_gen *g = tf->cur;
    if (g == NULL)
        return LB_T_OK;
    int rc;
    /* The committer follows one route at a time: what it carries for
     * another is settled first. */
    if (g->verify_after > 0 && (rc = lb_tail_fresh(j, tf, g)) != LB_T_GO)
        return rc;
    if ((rc = lb_tail_bind(j, tf, g)) != LB_T_OK)
        return rc;
    if (g->start_commit && (rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
        return rc;
    for (int fills = 0;; fills++) {
        struct lb_line line;
        while (lb_source_next(g->s, &line))
            if ((rc = lb_tail_line(j, tf, g, &line)) != LB_T_OK)
                return rc;
        if (fills == LB_TAIL_TURN_FILLS) {
            /* its turn is over (the next route's service settles what is in
             * flight, unless it is this one again) */
            rc = lb_tail_send(j, tf, g, 1);
            return rc != LB_T_OK ? rc : LB_T_MORE;
        }
        /* Send what the last read brought; read on while Redis runs it. */
        if ((rc = lb_tail_send(j, tf, g, 1)) != LB_T_OK)
            return rc;
        long got = lb_source_fill(g->s, &j->err);
        if (got < 0) {
            lb_error_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", g->where)),
                        "reading: %s; it is no longer followed", j->err.msg);
            if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
                return rc;
            tf->cur = NULL;
            lb_gen_free(j, g);
            return lb_tail_next_gen(j, tf);
        }
        uint64_t pos = (uint64_t)lb_source_raw_pos(g->s);
        if (got > 0) {
            /* (reading is no change: --rotate-wait counts from the file's) */
            if (lb_gen_truncated(g)) {
                if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
                    return rc;
                return lb_tail_truncated(j, tf, pos - (uint64_t)got);
            }
            continue;
        }
        /* At the end of what is there now. The last batch may still be in
         * flight: its reply is read when it comes (lb_tail_on_redis). */
        if (!g->is_copy && !g->gz) {
            long long size = lb_source_size(g->s);
            if (size >= 0 && (uint64_t)size < pos) {
                if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
                    return rc;
                return lb_tail_truncated(j, tf, pos);
            }
            if (size >= 0 && (uint64_t)size > g->seen)
                g->seen = (uint64_t)size;
        } else if (pos > g->seen) {
            g->seen = pos;
        }
        lb_tail_lag(j, tf);
        if (tf->state == LB_ROT_DRAINING && lb_tail_finish_due(j, tf))
            return lb_tail_finish(j, tf);
        lb_source_shrink(g->s);
        return LB_T_OK;
    }
}

/* ---- Redis state ------------------------------------------------------------------------- */

/* The checkpoint in Redis, read again, says which batches of the route the
 * committer carries landed and where that route is read again from (the
 * file is the buffer). It may have gone back (a failover lost acknowledged
 * writes): said at warn and counted, and those lines are sent again. */
static int lb_tail_recover_route(struct lb_tail *j)
{
    struct lb_tfile *tf = j->cm_tf;
    struct lb_gen *g = j->cm_g;
    uint64_t was = tf->ck_off;
    struct lb_commit_resync rs;
    int rc = lb_committer_resync(j->cm, &rs, &j->err);
    if (rc == LB_EREDIS)
        lb_redis_drop(j->r);
    if (rc != 0)
        return rc;
    if (rs.regressed) {
        lb_commit_resync_warn(&rs, tf->src, was);
        lb_metrics_add(j->m, "logbridge_checkpoint_regressions_total", tf->l_src, 1);
    } else if (rs.moved) {
        /* another process commits this src: the fences keep both exact;
         * said once, as they may take turns for as long as both run */
        lb_log_kv(j->moved_said++ ? LB_LOG_DEBUG : LB_LOG_WARN,
                  LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("off", rs.off)),
                  "the checkpoint was moved by someone else (another logbridge following this "
                  "file?); going on from there");
    }
    if (rs.restart)
        g->start_commit = 1;
    if (lb_gen_rewind(j, g, rs.off) != 0)
        return lb_error_set(&j->err, LB_EIO, "src=%s: cannot read %s again from off=%" PRIu64,
                            tf->src, g->where, rs.off);
    tf->end_off = rs.off;
    tf->end_line = rs.line;
    lb_tail_dirty(j, tf);
    return 0;
}

/* Does Redis still hold what tf last knew of its checkpoint? */
static int lb_tail_ckpt_same(const struct lb_tfile *tf, const struct lb_ckpt *q)
{
    return q->present == tf->ck_present &&
           (!q->present || (q->dev == tf->ck_dev && q->ino == tf->ck_ino && q->off == tf->ck_off &&
                            q->line == tf->ck_line));
}

/* After a reconnect: the route the committer carries is settled first; then
 * every other route's checkpoint is read again, since a failover takes back
 * the batches of all of them, and a route that stays idle afterwards would
 * never notice (nothing of it is sent that its fence would refuse): one
 * whose checkpoint changed is taken up by the committer and settled the same
 * way. */
static int lb_tail_recover(struct lb_tail *j)
{
    int rc = j->cm_tf != NULL ? lb_tail_recover_route(j) : 0;
    for (size_t i = 0; rc == 0 && i < j->nf; i++) {
        struct lb_tfile *tf = j->f[i];
        if (tf == j->cm_tf || tf->cur == NULL || !tf->inited)
            continue;
        struct lb_ckpt q;
        if ((rc = lb_tail_ckpt_load(j, tf->src, &q)) != 0)
            break;
        if (lb_tail_ckpt_same(tf, &q))
            continue;
        /* (nothing is in flight now: the binding only settles the open batch) */
        if ((rc = lb_tail_bind(j, tf, tf->cur)) != LB_T_OK)
            return rc == LB_T_BLOCKED ? LB_EREDIS : j->err.code;
        rc = lb_tail_recover_route(j);
    }
    return rc;
}

void lb_tail_reconnect(struct lb_tail *j)
{
    int rc = lb_redis_connect(j->r, &j->err);
    if (rc == 0)
        rc = lb_tail_recover(j);
    if (rc == 0) {
        j->up = 1;
        lb_job_report(j->env, j->l_job, LB_HEALTH_OK, NULL);
        lb_tail_watch_redis(j);
        lb_job_redis_metrics(j->m, j->r, &j->redis_seen);
        if (j->unreachable > 0)
            lb_info("redis at %s is reachable again after %u attempts; reading resumes",
                    lb_redis_addr(j->r), j->unreachable + 1);
        j->unreachable = 0;
        j->attempt++; /* until a batch lands: a refusal that lasts backs off further */
        return;
    }
    if (rc == LB_EREDIS) {
        j->unreachable++;
        j->attempt++;
        j->next_try = lb_clock_mono() + lb_backoff(j, j->attempt);
        return;
    }
    lb_error_log("%s", j->err.msg);
    j->fatal = 1;
}
