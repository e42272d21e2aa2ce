/*
 * test_committer.c - bridge/committer.c, the one way import and tail reach
 * Redis (committer.h): per-line classify/queue/count, pipelined flights, the
 * fence on (dev, ino, off, line), refusals (lasting and transient), the
 * dirty() rules, dry run, a source that cannot be read again (stdin), poll
 * and --strict. lb_committer_resync after a lost connection or a checkpoint
 * changed by someone else is in test_committer_resync.c.
 *
 * The "file" is held in memory (lbt_unit.h, fx_committer.h): the test hands
 * each line to the committer as a reader would, so every offset and count
 * is known exactly. One redis-server for the whole binary (group setup),
 * flushed before each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fx_committer.h"

/* ---- a batch lands -------------------------------------------------------------------- */

/* Good, blank and bad lines in one batch: one event with exact counts and
 * the checkpoint Redis holds; the entries and the DLQ entry are there. */
static void committer_batch_lands_with_counts_and_checkpoint(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 100, 2, 1);
    lbt_text_std(&x->t, 0, 3);
    lbt_text_add(&x->t, "");
    lbt_text_add(&x->t, "not a legacy line");
    lbt_text_std(&x->t, 3, 1);
    fxc_begin_at(x, 0, 1);
    assert_false(lb_committer_dirty(x->cm));

    enum lb_reason why[6];
    for (size_t i = 1; i <= 6; i++) {
        struct lb_line l = lbt_text_line(&x->t, i);
        assert_int_equal(lb_committer_line(x->cm, &l, 0, &why[i - 1], &x->err), 0);
    }
    assert_int_equal(why[0], LB_PARSE_OK);
    assert_int_equal(why[3], LB_PARSE_BLANK);
    assert_int_equal(why[4], LB_REASON_FIELDS);
    assert_int_equal(x->nev, 0);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_true(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_end_off(x->cm), x->t.n);
    assert_int_equal(lb_committer_end_line(x->cm), 6);

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 1);
    fxc_ev_is(x, 0, 0, 6, 4);
    assert_int_equal(x->ev[0].bad, 1);
    assert_int_equal(x->ev[0].blank, 1);
    assert_int_equal(x->ev[0].bytes, x->t.n);
    assert_int_equal(x->ev[0].reordered, 0);
    assert_int_equal(x->ev[0].trim_blocked, 0);
    assert_true(x->ev[0].seconds >= 0);
    char fp[LB_FP_HEX];
    lbt_text_fp(&x->t, x->t.n, fp);
    assert_string_equal(x->ev[0].ck.fp, fp);
    assert_string_equal(x->ev[0].ck.id, fxc_last_id("{c}:ev"));

    fxc_ckpt_at(x, 6);
    struct lb_ckpt ck;
    lbt_ckpt_get(fxc_adm, fxc_ckkey(x), FXC_SRC, &ck);
    assert_string_equal(ck.id, x->ev[0].ck.id);
    assert_int_equal(ck.ndone, 0);
    const struct lb_ckpt *mine = lb_committer_ckpt(x->cm);
    assert_int_equal(mine->off, x->t.n);
    assert_int_equal(mine->line, 6);
    size_t want[] = {1, 2, 3, 6};
    fxc_stream_is(x, "{c}:ev", want, 4);
    assert_int_equal(lbt_xlen(fxc_adm, lb_sink_dlq_key(x->k)), 1);
    assert_false(lb_committer_dirty(x->cm));
    fxc_free(x);
}

/* flights = 2: a second batch is sent before the first one's reply is read;
 * the replies are matched to their batches in order. */
static void committer_flights_pipeline_replies_in_order(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 5);
    fxc_begin_at(x, 0, 1);

    assert_int_equal(fxc_feed(x, 1, 2), 0); /* batch 1 sent, its reply not read */
    assert_int_equal(lb_committer_inflight(x->cm), 1);
    assert_int_equal(x->nev, 0);
    assert_int_equal(fxc_feed(x, 3, 4), 0); /* batch 2 sent, then batch 1's reply read */
    assert_int_equal(lb_committer_inflight(x->cm), 1);
    assert_int_equal(x->nev, 1);
    fxc_ev_is(x, 0, 0, 2, 2);
    assert_int_equal(fxc_feed(x, 5, 5), 0);
    assert_int_equal(lb_committer_flush(x->cm, 2, &x->err), 0); /* batch 3 sent, none read */
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    assert_int_equal(x->nev, 1);

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 3);
    fxc_ev_is(x, 1, 2, 4, 2);
    fxc_ev_is(x, 2, 4, 5, 1);

    /* each event carries the ID of its own batch's last entry */
    struct lbt_entry *e = NULL;
    long n = lbt_xrange_all(fxc_adm, "{c}:ev", &e);
    assert_int_equal(n, 5);
    assert_string_equal(x->ev[0].ck.id, e[1].id);
    assert_string_equal(x->ev[1].ck.id, e[3].id);
    assert_string_equal(x->ev[2].ck.id, e[4].id);
    lbt_entries_free(e, n);
    fxc_stream_has_lines(x, "{c}:ev", 5);
    fxc_ckpt_at(x, 5);
    fxc_free(x);
}

/* ---- refusals ----------------------------------------------------------------------- */

/* Batch 1 goes to a key that is a string (WRONGTYPE): LB_EREPLY. Batch 2,
 * already in flight behind it and writing to a good stream, is refused by
 * its fence: nothing written anywhere, the checkpoint absent as before.
 * Once the key is fixed, resync says "from the start" and all lands once. */
static void committer_refused_batch_fences_the_batch_behind_it(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:%{type}", 2, 2, 1);
    lbt_text_add(&x->t, "a|2025-06-18T10:00:00Z|bad|1");
    lbt_text_add(&x->t, "a|2025-06-18T10:00:01Z|bad|2");
    lbt_text_add(&x->t, "a|2025-06-18T10:00:02Z|good|3");
    lbt_text_add(&x->t, "a|2025-06-18T10:00:03Z|good|4");
    assert_int_equal(lbt_cmd_ok(fxc_adm, "SET {c}:bad x"), 0);
    fxc_begin_at(x, 0, 1);

    assert_int_equal(fxc_feed(x, 1, 2), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 1);
    int rc = fxc_feed(x, 3, 4);
    assert_int_equal(rc, LB_EREPLY);
    assert_non_null(strstr(x->err.msg, "WRONGTYPE"));
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 0);
    assert_false(lb_committer_ckpt(x->cm)->present);
    fxc_ckpt_absent(x);
    assert_int_equal(fxc_exists("{c}:good"), 0); /* batch 2 was fenced, not just lucky */
    assert_int_equal(fxc_exists(lb_sink_dlq_key(x->k)), 0);

    /* the operator fixes the key; the caller resyncs and reads again */
    assert_int_equal(lbt_cmd_ok(fxc_adm, "DEL {c}:bad"), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, 0);
    assert_int_equal(rs.line, 0);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(x->nev, 0);
    assert_int_equal(fxc_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 0, 0, 2, 2);
    fxc_ev_is(x, 1, 2, 4, 2);
    size_t bad[] = {1, 2}, good[] = {3, 4};
    fxc_stream_is(x, "{c}:bad", bad, 2);
    fxc_stream_is(x, "{c}:good", good, 2);
    fxc_ckpt_at(x, 4);
    fxc_free(x);
}

/* OOM under maxmemory + noeviction is a refusal that clears by itself:
 * LB_EREDIS, nothing of either batch in flight applied. After memory is
 * raised, resync says where to read again and the resend lands exactly. */
static void committer_transient_refusal_resync_resend_lands_exactly(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 6);
    fxc_begin_at(x, 0, 1);
    assert_int_equal(fxc_feed(x, 1, 2), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 1);

    assert_int_equal(lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory-policy noeviction"), 0);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory 1"), 0);
    assert_int_equal(fxc_feed(x, 3, 4), 0);
    int rc = fxc_feed(x, 5, 6);
    assert_int_equal(rc, LB_EREDIS);
    assert_non_null(strstr(x->err.msg, "OOM"));
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 1);
    /* while it lasts, nothing more can be sent: the outcome is settled, but
     * the committer wants a resync first */
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory 0"), 0);
    fxc_stream_has_lines(x, "{c}:ev", 2);
    fxc_ckpt_at(x, 2);

    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, x->t.end[2]);
    assert_int_equal(rs.line, 2);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(x->nev, 1);
    assert_int_equal(fxc_feed(x, 3, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 3);
    fxc_ev_is(x, 1, 2, 4, 2);
    fxc_ev_is(x, 2, 4, 6, 2);
    fxc_stream_has_lines(x, "{c}:ev", 6);
    fxc_ckpt_at(x, 6);
    fxc_free(x);
}

/* ---- dirty() --------------------------------------------------------------------------- */

/* No checkpoint and nothing read: nothing to say, nothing sent. */
static void committer_dirty_nothing_to_say(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 2);
    fxc_begin_at(x, 0, 1);
    assert_false(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 0);
    assert_int_equal(lbt_dbsize(fxc_adm), 0);

    /* a checkpoint of this file at the place reading starts: nothing either */
    assert_int_equal(fxc_feed(x, 1, 2), 0);
    assert_int_equal(x->nev, 1);
    assert_false(lb_committer_dirty(x->cm));
    fxc_begin_at(x, 2, 1);
    assert_false(lb_committer_dirty(x->cm));
    /* a blank line moves it: worth a batch with no entries */
    lbt_text_add(&x->t, "");
    assert_int_equal(fxc_feed(x, 3, 3), 0);
    assert_true(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    assert_int_equal(x->ev[1].blank, 1);
    assert_int_equal(x->ev[1].written, 0);
    fxc_ckpt_at(x, 3);
    fxc_stream_has_lines(x, "{c}:ev", 2);
    fxc_free(x);
}

/* The checkpoint describes another generation (a rotation): a source with no
 * lines yet is still sent, so the checkpoint switches identity (and the old
 * generation goes to "done"). */
static void committer_dirty_identity_switch_without_lines_is_sent(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 1, 1);
    struct lb_ckpt old = {.present = 1, .dev = FXC_DEV, .ino = FXC_INO - 1, .off = 100, .line = 3};
    snprintf(old.fp, sizeof(old.fp), "00000000000000aa");
    snprintf(old.id, sizeof(old.id), "5-0");
    assert_int_equal(lbt_ckpt_put(fxc_adm, lb_sink_ckpt_key(x->k), FXC_SRC, &old), 0);
    fxc_begin_at(x, 0, 1);
    assert_true(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 1);
    fxc_ev_is(x, 0, 0, 0, 0);
    assert_int_equal(x->ev[0].bad + x->ev[0].blank, 0);
    assert_string_equal(x->ev[0].ck.id, "5-0");
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(fxc_adm, fxc_ckkey(x), FXC_SRC, &ck), 0);
    assert_int_equal(ck.ino, FXC_INO);
    assert_int_equal(ck.off, 0);
    assert_int_equal(ck.line, 0);
    assert_string_equal(ck.id, "5-0");
    assert_int_equal(ck.ndone, 1);
    assert_int_equal(ck.done[0].ino, FXC_INO - 1);
    assert_int_equal(ck.done[0].off, 100);
    assert_int_equal(ck.done[0].line, 3);
    assert_string_equal(ck.done[0].fp, "00000000000000aa");
    assert_false(lb_committer_dirty(x->cm));
    fxc_free(x);
}

/* ---- dry run, stdin --------------------------------------------------------------------- */

/* Dry run: batches "land" at once (every 4097 lines and at flush) with exact
 * counts; there is no Redis at all. */
static void committer_dry_run_lands_without_redis(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 100, 2, 0);
    lbt_text_std(&x->t, 0, 4999);
    lbt_text_add(&x->t, "bad");
    lb_committer_dry_run(x->cm);
    fxc_begin_at(x, 0, 1);
    assert_int_equal(fxc_feed(x, 1, 5000), 0);
    assert_int_equal(x->nev, 1);
    fxc_ev_is(x, 0, 0, 4097, 4097);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 1, 4097, 5000, 902);
    assert_int_equal(x->ev[1].bad, 1);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(lbt_dbsize(fxc_adm), 0);
    fxc_free(x);
}

/* A source that cannot be read again (stdin): a refused batch is kept; after
 * resync (which says to go on after it) the next flush sends it again, and
 * it lands once. */
static void committer_stdin_keeps_its_batch_and_resends_it(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 6);
    fxc_begin_at(x, 0, 0);
    assert_int_equal(fxc_feed(x, 1, 2), 0);
    assert_int_equal(x->nev, 1); /* one batch at a time: landed at once */
    fxc_ev_is(x, 0, 0, 2, 2);

    assert_int_equal(lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory-policy noeviction"), 0);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory 1"), 0);
    assert_int_equal(fxc_feed(x, 3, 4), LB_EREDIS);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory 0"), 0);
    assert_int_equal(x->nev, 1);
    fxc_stream_has_lines(x, "{c}:ev", 2);

    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, x->t.end[4]); /* read on after the kept batch */
    assert_int_equal(rs.line, 4);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(x->nev, 1);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 1, 2, 4, 2);

    assert_int_equal(fxc_feed(x, 5, 6), 0);
    assert_int_equal(x->nev, 3);
    fxc_ev_is(x, 2, 4, 6, 2);
    fxc_stream_has_lines(x, "{c}:ev", 6);
    fxc_ckpt_at(x, 6);
    fxc_free(x);
}

/* stdin, connection lost before the send: the kept batch did not land;
 * resync says so and it is sent again. */
static void committer_stdin_lost_connection_resends_kept_batch(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 4);
    fxc_begin_at(x, 0, 0);
    assert_int_equal(fxc_feed(x, 1, 2), 0);
    assert_int_equal(fxc_feed(x, 3, 3), 0);
    lb_redis_drop(x->r);
    assert_int_equal(fxc_feed(x, 4, 4), LB_EREDIS);
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, x->t.end[4]);
    assert_int_equal(rs.line, 4);
    assert_int_equal(x->nev, 1);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 1, 2, 4, 2);
    fxc_stream_has_lines(x, "{c}:ev", 4);
    fxc_ckpt_at(x, 4);
    fxc_free(x);
}

/* ---- poll, strict ------------------------------------------------------------------------ */

struct poll_ctx {
    struct fxc *x;
    int rc;
};

static int poll_drained(void *ctx)
{
    struct poll_ctx *p = ctx;
    p->rc = lb_committer_poll(p->x->cm, &p->x->err);
    return p->rc != 0 || lb_committer_inflight(p->x->cm) == 0;
}

/* lb_committer_poll reads the replies that have arrived, never waits for
 * the others (committer.h): with the server holding the writes (CLIENT
 * PAUSE WRITE, as FAILOVER does) it must read nothing and return at once;
 * once they run, both batches land through poll alone.
 *
 * Before the fix, on the fast path MULTI's +OK and the +QUEUED replies
 * arrived at once, poll took that for "ready", and the sink then blocked for
 * EXEC's reply - here for the whole pause (tail calls poll from its epoll
 * loop: no reading, no stop). The sink now reads only what has arrived and
 * keeps its place in the batch's replies. */
static void committer_poll_reads_only_replies_that_arrived(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 4);
    fxc_begin_at(x, 0, 1);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT PAUSE 1500 WRITE"), 0);
    assert_int_equal(fxc_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    int64_t t0 = lbt_now_ms();
    assert_int_equal(lb_committer_poll(x->cm, &x->err), 0);
    int64_t waited = lbt_now_ms() - t0;
    if (lb_committer_inflight(x->cm) != 2) {
        size_t left = lb_committer_inflight(x->cm);
        fxc_free(x);
        fail_msg("lb_committer_poll blocked %lld ms for a paused EXEC (%zu in flight after it, "
                 "want 2)",
                 (long long)waited, left);
    }
    assert_int_equal(x->nev, 0);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT UNPAUSE"), 0);
    struct poll_ctx p = {x, 0};
    assert_true(lbt_wait_for(poll_drained, &p, 10000));
    assert_int_equal(p.rc, 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 0, 0, 2, 2);
    fxc_ev_is(x, 1, 2, 4, 2);
    fxc_stream_has_lines(x, "{c}:ev", 4);
    fxc_ckpt_at(x, 4);
    fxc_free(x);
}

/* --strict: a bad line is not queued; what came before it is committed and
 * LB_COMMIT_STRICT is returned; nothing reaches the DLQ. */
static void committer_strict_settles_what_came_before_a_bad_line(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 3);
    lbt_text_add(&x->t, "bad");
    fxc_begin_at(x, 0, 1);
    assert_int_equal(fxc_feed(x, 1, 3), 0);
    struct lb_line l = lbt_text_line(&x->t, 4);
    enum lb_reason why;
    assert_int_equal(lb_committer_line(x->cm, &l, LB_COMMIT_STRICT, &why, &x->err),
                     LB_COMMIT_STRICT);
    assert_int_equal(why, LB_REASON_FIELDS);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 1, 2, 3, 1);
    assert_int_equal(lb_committer_end_line(x->cm), 3);
    fxc_stream_has_lines(x, "{c}:ev", 3);
    fxc_ckpt_at(x, 3);
    assert_int_equal(fxc_exists(lb_sink_dlq_key(x->k)), 0);
    fxc_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(committer_batch_lands_with_counts_and_checkpoint, fxc_setup),
        cmocka_unit_test_setup(committer_flights_pipeline_replies_in_order, fxc_setup),
        cmocka_unit_test_setup(committer_refused_batch_fences_the_batch_behind_it, fxc_setup),
        cmocka_unit_test_setup(committer_transient_refusal_resync_resend_lands_exactly, fxc_setup),
        cmocka_unit_test_setup(committer_dirty_nothing_to_say, fxc_setup),
        cmocka_unit_test_setup(committer_dirty_identity_switch_without_lines_is_sent, fxc_setup),
        cmocka_unit_test_setup(committer_dry_run_lands_without_redis, fxc_setup),
        cmocka_unit_test_setup(committer_stdin_keeps_its_batch_and_resends_it, fxc_setup),
        cmocka_unit_test_setup(committer_stdin_lost_connection_resends_kept_batch, fxc_setup),
        cmocka_unit_test_setup(committer_poll_reads_only_replies_that_arrived, fxc_setup),
        cmocka_unit_test_setup(committer_strict_settles_what_came_before_a_bad_line, fxc_setup),
    };
    return cmocka_run_group_tests(tests, fxc_group_setup, fxc_group_teardown);
}
