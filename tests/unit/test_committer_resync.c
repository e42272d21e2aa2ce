/*
 * test_committer_resync.c - lb_committer_resync (bridge/committer.c,
 * committer.h) after a lost connection (which batches in flight landed) and
 * after the checkpoint changed under the committer (regressed, moved by
 * another, restart). The rest of the committer is in test_committer.c; the
 * fixture is fx_committer.h.
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

/* ---- a lost connection -------------------------------------------------------------- */

/* Both batches in flight were applied, then the connection went before
 * their replies were read: resync reports both as landed, with their own
 * counts, and says to go on after the second. */
static void committer_lost_connection_resync_reports_landed_flights(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 6);
    fxc_begin_at(x, 0, 1);
    assert_int_equal(fxc_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    assert_int_equal(x->nev, 0);
    struct fxc_ck_wait w = {x, 4};
    assert_true(lbt_wait_for(fxc_ckpt_reached, &w, 10000));
    lb_redis_drop(x->r); /* the replies are lost with the connection */

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);
    assert_int_equal(x->nev, 0);
    /* until resync, nothing is sent */
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    assert_int_equal(fxc_feed(x, 5, 5), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);

    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 0, 0, 2, 2);
    fxc_ev_is(x, 1, 2, 4, 2);
    assert_string_equal(x->ev[1].ck.id, fxc_last_id("{c}:ev"));
    assert_int_equal(rs.off, x->t.end[4]);
    assert_int_equal(rs.line, 4);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(lb_committer_end_off(x->cm), x->t.end[4]);

    assert_int_equal(fxc_feed(x, 5, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 3);
    fxc_ev_is(x, 2, 4, 6, 2);
    fxc_stream_has_lines(x, "{c}:ev", 6);
    fxc_ckpt_at(x, 6);
    fxc_free(x);
}

/* The first batch in flight was applied, the second never ran (the server
 * held it: CLIENT PAUSE WRITE) when the connection went: resync reports the
 * first as landed, forgets the second, and says to read again after the
 * first. */
static void committer_lost_connection_resync_first_landed_second_not(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 4);
    fxc_begin_at(x, 0, 1);
    assert_int_equal(fxc_feed(x, 1, 2), 0);
    struct fxc_ck_wait w = {x, 2};
    assert_true(lbt_wait_for(fxc_ckpt_reached, &w, 10000));
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT PAUSE 30000 WRITE"), 0);
    assert_int_equal(fxc_feed(x, 3, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    lb_redis_drop(x->r);
    assert_true(lbt_wait_for(fxc_only_admin_connected, NULL, 10000));
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT UNPAUSE"), 0);
    fxc_ckpt_at(x, 2);

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);
    assert_int_equal(x->nev, 0);
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(x->nev, 1);
    fxc_ev_is(x, 0, 0, 2, 2);
    assert_int_equal(rs.off, x->t.end[2]);
    assert_int_equal(rs.line, 2);
    assert_false(rs.regressed || rs.moved || rs.restart);

    assert_int_equal(fxc_feed(x, 3, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_ev_is(x, 1, 2, 4, 2);
    fxc_stream_has_lines(x, "{c}:ev", 4);
    fxc_ckpt_at(x, 4);
    fxc_free(x);
}

/* The server kills the committer's connection (CLIENT KILL) between send and
 * recv, before either batch ran: LB_EREDIS, resync reports nothing landed
 * and says to read again from the start; the resend lands exactly. */
static void committer_client_kill_resync_reports_nothing_landed(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 4);
    fxc_begin_at(x, 0, 1);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT PAUSE 30000 WRITE"), 0);
    assert_int_equal(fxc_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT KILL TYPE normal SKIPME yes"), 0);
    assert_true(lbt_wait_for(fxc_only_admin_connected, NULL, 10000));
    assert_int_equal(lbt_cmd_ok(fxc_adm, "CLIENT UNPAUSE"), 0);

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);
    assert_int_equal(lb_committer_inflight(x->cm), 2); /* kept for resync to match */
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 0);
    assert_int_equal(rs.off, 0);
    assert_int_equal(rs.line, 0);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(lbt_dbsize(fxc_adm), 0);

    assert_int_equal(fxc_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    fxc_stream_has_lines(x, "{c}:ev", 4);
    fxc_ckpt_at(x, 4);
    fxc_free(x);
}

/* ---- the checkpoint changed under us ------------------------------------------------ */

/* Land lines 1-2 and 3-4; return a copy of the checkpoint after line 2. */
static struct lb_ckpt land_two_batches(struct fxc *x)
{
    fxc_begin_at(x, 0, 1);
    assert_int_equal(fxc_feed(x, 1, 2), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    struct lb_ckpt at2;
    assert_int_equal(lbt_ckpt_get(fxc_adm, fxc_ckkey(x), FXC_SRC, &at2), 0);
    assert_int_equal(fxc_feed(x, 3, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    return at2;
}

/* The checkpoint set back by hand (as a failover that lost acknowledged
 * writes would): the next batch is fenced (nothing written), and resync
 * says "regressed", lost from the end of line 2 (the range sent again is
 * lines 3-4), and to read again from there. */
static void committer_regressed_checkpoint_is_reported_with_its_range(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 6);
    struct lb_ckpt at2 = land_two_batches(x);
    assert_int_equal(lbt_ckpt_put(fxc_adm, fxc_ckkey(x), FXC_SRC, &at2), 0);

    assert_int_equal(fxc_feed(x, 5, 6), LB_EREDIS);
    assert_non_null(strstr(x->err.msg, "the checkpoint of " FXC_SRC " stands at"));
    fxc_stream_has_lines(x, "{c}:ev", 4);
    fxc_ckpt_at(x, 2);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_true(rs.regressed);
    assert_false(rs.moved || rs.restart);
    assert_int_equal(rs.lost_from, x->t.end[2]);
    assert_int_equal(rs.off, x->t.end[2]);
    assert_int_equal(rs.line, 2);
    /* the caller's copy follows: one event, with no lines in it */
    assert_int_equal(x->nev, 3);
    assert_int_equal(x->ev[2].ck.off, x->t.end[2]);
    assert_int_equal(x->ev[2].ck.line, 2);
    assert_int_equal(x->ev[2].written + x->ev[2].bytes, 0);
    assert_int_equal(lb_committer_ckpt(x->cm)->off, x->t.end[2]);

    assert_int_equal(fxc_feed(x, 3, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    size_t want[] = {1, 2, 3, 4, 3, 4, 5, 6};
    fxc_stream_is(x, "{c}:ev", want, 8);
    fxc_ckpt_at(x, 6);
    fxc_free(x);
}

/* Someone else moved the checkpoint forward to a later line boundary of the
 * same file (right dev, ino and fingerprint): the next batch is fenced, and
 * resync says "moved" and to go on from there. */
static void committer_moved_checkpoint_is_followed(void **state)
{
    (void)state;
    struct fxc *x = fxc_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 8);
    land_two_batches(x);
    struct lb_ckpt at6 = {
        .present = 1, .dev = FXC_DEV, .ino = FXC_INO, .off = x->t.end[6], .line = 6};
    lbt_text_fp(&x->t, at6.off, at6.fp);
    snprintf(at6.id, sizeof(at6.id), "%s", fxc_last_id("{c}:ev"));
    assert_int_equal(lbt_ckpt_put(fxc_adm, fxc_ckkey(x), FXC_SRC, &at6), 0);

    assert_int_equal(fxc_feed(x, 5, 6), LB_EREDIS);
    fxc_stream_has_lines(x, "{c}:ev", 4);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_true(rs.moved);
    assert_false(rs.regressed || rs.restart);
    assert_int_equal(rs.off, x->t.end[6]);
    assert_int_equal(rs.line, 6);
    assert_int_equal(x->nev, 3);
    assert_int_equal(x->ev[2].ck.line, 6);

    assert_int_equal(fxc_feed(x, 7, 8), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    size_t want[] = {1, 2, 3, 4, 7, 8};
    fxc_stream_is(x, "{c}:ev", want, 6);
    fxc_ckpt_at(x, 8);
    fxc_free(x);
}

/* The checkpoint no longer describes this file: resync says "restart" from
 * start_off. Three ways: deleted, another dev/ino, same dev/ino but a
 * fingerprint that is not this file's (at another line boundary: the fence
 * compares dev, ino, off and line, not the fingerprint). */
static void restart_case(int how)
{
    struct fxc *x = fxc_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 6);
    land_two_batches(x);
    struct lb_ckpt other = {
        .present = 1, .dev = FXC_DEV, .ino = FXC_INO, .off = x->t.end[4], .line = 4};
    snprintf(other.fp, sizeof(other.fp), "0123456789abcdef");
    snprintf(other.id, sizeof(other.id), "1-1");
    if (how == 0) {
        assert_int_equal(lbt_cmd_ok(fxc_adm, "HDEL %s %s", fxc_ckkey(x), FXC_SRC), 0);
    } else {
        if (how == 1) {
            other.ino = FXC_INO + 1;
            lbt_text_fp(&x->t, other.off, other.fp);
        } else {
            other.off = x->t.end[3];
            other.line = 3;
        }
        assert_int_equal(lbt_ckpt_put(fxc_adm, fxc_ckkey(x), FXC_SRC, &other), 0);
    }
    assert_int_equal(fxc_feed(x, 5, 6), LB_EREDIS);
    fxc_stream_has_lines(x, "{c}:ev", 4);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_true(rs.restart);
    assert_true(rs.regressed); /* we had a checkpoint of this file: it is gone */
    assert_false(rs.moved);
    assert_int_equal(rs.lost_from, 0);
    assert_int_equal(rs.off, 0);
    assert_int_equal(rs.line, 0);
    assert_int_equal(x->nev, 3);
    assert_int_equal(x->ev[2].ck.present, how != 0);

    /* read again from the start: the whole file, after the 4 lines already there */
    assert_int_equal(fxc_feed(x, 1, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    size_t want[] = {1, 2, 3, 4, 1, 2, 3, 4, 5, 6};
    fxc_stream_is(x, "{c}:ev", want, 10);
    fxc_ckpt_at(x, 6);
    fxc_free(x);
}

static void committer_restart_when_checkpoint_deleted(void **state)
{
    (void)state;
    restart_case(0);
}

static void committer_restart_when_checkpoint_is_another_file(void **state)
{
    (void)state;
    restart_case(1);
}

static void committer_restart_when_fingerprint_differs(void **state)
{
    (void)state;
    restart_case(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(committer_lost_connection_resync_reports_landed_flights, fxc_setup),
        cmocka_unit_test_setup(committer_lost_connection_resync_first_landed_second_not, fxc_setup),
        cmocka_unit_test_setup(committer_client_kill_resync_reports_nothing_landed, fxc_setup),
        cmocka_unit_test_setup(committer_regressed_checkpoint_is_reported_with_its_range,
                               fxc_setup),
        cmocka_unit_test_setup(committer_moved_checkpoint_is_followed, fxc_setup),
        cmocka_unit_test_setup(committer_restart_when_checkpoint_deleted, fxc_setup),
        cmocka_unit_test_setup(committer_restart_when_checkpoint_is_another_file, fxc_setup),
        cmocka_unit_test_setup(committer_restart_when_fingerprint_differs, fxc_setup),
    };
    return cmocka_run_group_tests(tests, fxc_group_setup, fxc_group_teardown);
}
