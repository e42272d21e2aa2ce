/*
 * test_committer.c - bridge/committer.c, the one way import and tail reach
 * Redis (committer.h): per-line classify/queue/count, pipelined flights, the
 * fence on (dev, ino, off, line), refusals (lasting and transient), and
 * lb_committer_resync after a lost connection or a refusal (which batches
 * landed, regression, moved by another, restart), the dirty() rules, dry run
 * and a source that cannot be read again (stdin).
 *
 * The "file" is held in memory (lbt_unit.h): the test hands each line to the
 * committer as a reader would, so every offset and count is known exactly.
 * One redis-server for the whole binary (group setup), flushed before each
 * test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "committer.h"
#include "feed.h"
#include "lbt_unit.h"
#include "sink.h"

static struct lbt_redis srv;
static redisContext *adm; /* the test's own connection: never killed */

#define SRC "/var/log/app.log"
#define DEV 7ULL
#define INO 9ULL

struct fx {
    struct lb_redis *r;
    struct lb_sink *k;
    struct lb_feed *f;
    struct lb_committer *cm;
    struct lb_sink_opts so;
    struct lbt_text t;
    struct lb_commit_event ev[64];
    int nev;
    struct lb_error err;
};

static void on_ckpt(void *ctx, const struct lb_commit_event *ev)
{
    struct fx *x = ctx;
    assert_true(x->nev < 64);
    x->ev[x->nev++] = *ev;
}

static struct fx *fx_new(const char *stream, size_t batch, int flights, int with_redis)
{
    struct fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    lbt_text_init(&x->t);
    x->so.stream = stream;
    x->so.provenance = 1;
    x->so.batch_max = batch;
    x->so.trim_ignore_groups = 0;
    x->k = lb_sink_create(&x->so, &x->err);
    assert_non_null(x->k);
    x->f = lb_feed_create(0, 0, 1 << 20, &x->err);
    assert_non_null(x->f);
    if (with_redis) {
        x->r = lbt_lb_redis(&srv);
        assert_non_null(x->r);
    }
    x->cm = lb_committer_create(x->k, x->f, x->r, flights, on_ckpt, x);
    assert_non_null(x->cm);
    return x;
}

static void fx_free(struct fx *x)
{
    lb_committer_destroy(x->cm);
    lb_feed_destroy(x->f);
    lb_sink_destroy(x->k);
    if (x->r != NULL)
        lb_redis_destroy(x->r);
    lbt_text_free(&x->t);
    free(x);
}

/* Begin the source at line `at` (0: the start), with the checkpoint that
 * Redis holds now. */
static void fx_begin_at(struct fx *x, size_t at, int rereadable)
{
    struct lb_commit_source s;
    memset(&s, 0, sizeof(s));
    s.src = SRC;
    s.dev = DEV;
    s.ino = INO;
    assert_int_equal(lbt_ckpt_get(adm, lb_sink_ckpt_key(x->k), SRC, &s.ck), 0);
    s.off = x->t.end[at];
    s.line = at;
    s.start_off = 0;
    s.start_line = 0;
    s.fp = lbt_text_fp;
    s.fp_ctx = &x->t;
    s.rereadable = rereadable;
    lb_committer_begin(x->cm, &s);
}

/* Hand lines [from, to] (1-based) to the committer; the first error, or 0. */
static int fx_feed(struct fx *x, size_t from, size_t to)
{
    for (size_t i = from; i <= to; i++) {
        struct lb_line l = lbt_text_line(&x->t, i);
        int rc = lb_committer_line(x->cm, &l, 0, NULL, &x->err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char *ckkey(const struct fx *x)
{
    return lb_sink_ckpt_key(x->k);
}

/* The stream holds exactly the lines listed (by their offsets), in order. */
static void stream_is(const struct fx *x, const char *key, const size_t *lines, size_t n)
{
    struct lbt_entry *e = NULL;
    long got = lbt_xrange_all(adm, key, &e);
    if (got != (long)n)
        fail_msg("%s holds %ld entries, want %zu", key, got, n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%" PRIu64, x->t.end[lines[i] - 1]);
        const char *off = lbt_field(&e[i], "off");
        if (off == NULL || strcmp(off, want) != 0)
            fail_msg("%s entry %zu: off=%s, want %s (line %zu)", key, i, off ? off : "(none)", want,
                     lines[i]);
        if (strcmp(lbt_field(&e[i], "src"), SRC) != 0)
            fail_msg("%s entry %zu: src=%s", key, i, lbt_field(&e[i], "src"));
    }
    lbt_entries_free(e, got);
}

/* Lines 1..n in order, once each. */
static void stream_has_lines(const struct fx *x, const char *key, size_t n)
{
    size_t want[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        want[i] = i + 1;
    stream_is(x, key, want, n);
}

/* The checkpoint in Redis stands at the end of line `line`. */
static void ckpt_at(const struct fx *x, size_t line)
{
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(adm, ckkey(x), SRC, &ck), 0);
    if (!ck.present)
        fail_msg("no checkpoint, want line %zu", line);
    assert_int_equal(ck.dev, DEV);
    assert_int_equal(ck.ino, INO);
    assert_int_equal(ck.off, x->t.end[line]);
    assert_int_equal(ck.line, line);
    char fp[LB_FP_HEX];
    assert_int_equal(lbt_text_fp((void *)&x->t, x->t.end[line], fp), 0);
    assert_string_equal(ck.fp, fp);
}

static void ckpt_absent(const struct fx *x)
{
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(adm, ckkey(x), SRC, &ck), 0);
    assert_false(ck.present);
}

/* A landing event: the batch of lines (from, to], counts as given. */
static void ev_is(const struct fx *x, int i, size_t from, size_t to, uint64_t written)
{
    if (i >= x->nev)
        fail_msg("event %d missing (%d events)", i, x->nev);
    const struct lb_commit_event *e = &x->ev[i];
    assert_true(e->ck.present);
    assert_int_equal(e->ck.dev, DEV);
    assert_int_equal(e->ck.ino, INO);
    assert_int_equal(e->ck.off, x->t.end[to]);
    assert_int_equal(e->ck.line, to);
    assert_int_equal(e->written, written);
    assert_int_equal(e->bytes, x->t.end[to] - x->t.end[from]);
}

static const char *last_id(const char *key)
{
    static char id[48];
    redisReply *rep = redisCommand(adm, "XREVRANGE %s + - COUNT 1", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 1);
    snprintf(id, sizeof(id), "%s", rep->element[0]->element[0]->str);
    freeReplyObject(rep);
    return id;
}

static long long exists(const char *key)
{
    redisReply *rep = redisCommand(adm, "EXISTS %s", key);
    long long n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

struct ck_wait {
    const struct fx *x;
    uint64_t line;
};

static int ckpt_reached(void *ctx)
{
    struct ck_wait *w = ctx;
    struct lb_ckpt ck;
    return lbt_ckpt_get(adm, ckkey(w->x), SRC, &ck) == 0 && ck.present && ck.line == w->line;
}

static int only_admin_connected(void *ctx)
{
    (void)ctx;
    redisReply *rep = redisCommand(adm, "INFO clients");
    int one = rep != NULL && rep->type == REDIS_REPLY_STRING &&
              strstr(rep->str, "connected_clients:1\r\n") != NULL;
    freeReplyObject(rep);
    return one;
}

/* ---- group setup ------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    if (lbt_redis_start(&srv, 0) != 0)
        return -1;
    adm = lbt_connect(&srv);
    return adm == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (adm != NULL)
        redisFree(adm);
    lbt_redis_stop(&srv, 1);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (lbt_cmd_ok(adm, "CONFIG SET maxmemory 0") != 0 || lbt_cmd_ok(adm, "CLIENT UNPAUSE") != 0)
        return -1;
    return lbt_cmd_ok(adm, "FLUSHALL");
}

/* ---- a batch lands -------------------------------------------------------------------- */

/* Good, blank and bad lines in one batch: one event with exact counts and
 * the checkpoint Redis holds; the entries and the DLQ entry are there. */
static void committer_batch_lands_with_counts_and_checkpoint(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 100, 2, 1);
    lbt_text_std(&x->t, 0, 3);
    lbt_text_add(&x->t, "");
    lbt_text_add(&x->t, "not a legacy line");
    lbt_text_std(&x->t, 3, 1);
    fx_begin_at(x, 0, 1);
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
    ev_is(x, 0, 0, 6, 4);
    assert_int_equal(x->ev[0].bad, 1);
    assert_int_equal(x->ev[0].blank, 1);
    assert_int_equal(x->ev[0].bytes, x->t.n);
    assert_int_equal(x->ev[0].reordered, 0);
    assert_int_equal(x->ev[0].trim_blocked, 0);
    assert_true(x->ev[0].seconds >= 0);
    char fp[LB_FP_HEX];
    lbt_text_fp(&x->t, x->t.n, fp);
    assert_string_equal(x->ev[0].ck.fp, fp);
    assert_string_equal(x->ev[0].ck.id, last_id("{c}:ev"));

    ckpt_at(x, 6);
    struct lb_ckpt ck;
    lbt_ckpt_get(adm, ckkey(x), SRC, &ck);
    assert_string_equal(ck.id, x->ev[0].ck.id);
    assert_int_equal(ck.ndone, 0);
    const struct lb_ckpt *mine = lb_committer_ckpt(x->cm);
    assert_int_equal(mine->off, x->t.n);
    assert_int_equal(mine->line, 6);
    size_t want[] = {1, 2, 3, 6};
    stream_is(x, "{c}:ev", want, 4);
    assert_int_equal(lbt_xlen(adm, lb_sink_dlq_key(x->k)), 1);
    assert_false(lb_committer_dirty(x->cm));
    fx_free(x);
}

/* flights = 2: a second batch is sent before the first one's reply is read;
 * the replies are matched to their batches in order. */
static void committer_flights_pipeline_replies_in_order(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 5);
    fx_begin_at(x, 0, 1);

    assert_int_equal(fx_feed(x, 1, 2), 0); /* batch 1 sent, its reply not read */
    assert_int_equal(lb_committer_inflight(x->cm), 1);
    assert_int_equal(x->nev, 0);
    assert_int_equal(fx_feed(x, 3, 4), 0); /* batch 2 sent, then batch 1's reply read */
    assert_int_equal(lb_committer_inflight(x->cm), 1);
    assert_int_equal(x->nev, 1);
    ev_is(x, 0, 0, 2, 2);
    assert_int_equal(fx_feed(x, 5, 5), 0);
    assert_int_equal(lb_committer_flush(x->cm, 2, &x->err), 0); /* batch 3 sent, none read */
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    assert_int_equal(x->nev, 1);

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 3);
    ev_is(x, 1, 2, 4, 2);
    ev_is(x, 2, 4, 5, 1);

    /* each event carries the ID of its own batch's last entry */
    struct lbt_entry *e = NULL;
    long n = lbt_xrange_all(adm, "{c}:ev", &e);
    assert_int_equal(n, 5);
    assert_string_equal(x->ev[0].ck.id, e[1].id);
    assert_string_equal(x->ev[1].ck.id, e[3].id);
    assert_string_equal(x->ev[2].ck.id, e[4].id);
    lbt_entries_free(e, n);
    stream_has_lines(x, "{c}:ev", 5);
    ckpt_at(x, 5);
    fx_free(x);
}

/* ---- refusals ----------------------------------------------------------------------- */

/* Batch 1 goes to a key that is a string (WRONGTYPE): LB_EREPLY. Batch 2,
 * already in flight behind it and writing to a good stream, is refused by
 * its fence: nothing written anywhere, the checkpoint absent as before.
 * Once the key is fixed, resync says "from the start" and all lands once. */
static void committer_refused_batch_fences_the_batch_behind_it(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:%{type}", 2, 2, 1);
    lbt_text_add(&x->t, "a|2025-06-18T10:00:00Z|bad|1");
    lbt_text_add(&x->t, "a|2025-06-18T10:00:01Z|bad|2");
    lbt_text_add(&x->t, "a|2025-06-18T10:00:02Z|good|3");
    lbt_text_add(&x->t, "a|2025-06-18T10:00:03Z|good|4");
    assert_int_equal(lbt_cmd_ok(adm, "SET {c}:bad x"), 0);
    fx_begin_at(x, 0, 1);

    assert_int_equal(fx_feed(x, 1, 2), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 1);
    int rc = fx_feed(x, 3, 4);
    assert_int_equal(rc, LB_EREPLY);
    assert_non_null(strstr(x->err.msg, "WRONGTYPE"));
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 0);
    assert_false(lb_committer_ckpt(x->cm)->present);
    ckpt_absent(x);
    assert_int_equal(exists("{c}:good"), 0); /* batch 2 was fenced, not just lucky */
    assert_int_equal(exists(lb_sink_dlq_key(x->k)), 0);

    /* the operator fixes the key; the caller resyncs and reads again */
    assert_int_equal(lbt_cmd_ok(adm, "DEL {c}:bad"), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, 0);
    assert_int_equal(rs.line, 0);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(x->nev, 0);
    assert_int_equal(fx_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 0, 0, 2, 2);
    ev_is(x, 1, 2, 4, 2);
    size_t bad[] = {1, 2}, good[] = {3, 4};
    stream_is(x, "{c}:bad", bad, 2);
    stream_is(x, "{c}:good", good, 2);
    ckpt_at(x, 4);
    fx_free(x);
}

/* OOM under maxmemory + noeviction is a refusal that clears by itself:
 * LB_EREDIS, nothing of either batch in flight applied. After memory is
 * raised, resync says where to read again and the resend lands exactly. */
static void committer_transient_refusal_resync_resend_lands_exactly(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 6);
    fx_begin_at(x, 0, 1);
    assert_int_equal(fx_feed(x, 1, 2), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 1);

    assert_int_equal(lbt_cmd_ok(adm, "CONFIG SET maxmemory-policy noeviction"), 0);
    assert_int_equal(lbt_cmd_ok(adm, "CONFIG SET maxmemory 1"), 0);
    assert_int_equal(fx_feed(x, 3, 4), 0);
    int rc = fx_feed(x, 5, 6);
    assert_int_equal(rc, LB_EREDIS);
    assert_non_null(strstr(x->err.msg, "OOM"));
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 1);
    /* while it lasts, nothing more can be sent: the outcome is settled, but
     * the committer wants a resync first */
    assert_int_equal(lbt_cmd_ok(adm, "CONFIG SET maxmemory 0"), 0);
    stream_has_lines(x, "{c}:ev", 2);
    ckpt_at(x, 2);

    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, x->t.end[2]);
    assert_int_equal(rs.line, 2);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(x->nev, 1);
    assert_int_equal(fx_feed(x, 3, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 3);
    ev_is(x, 1, 2, 4, 2);
    ev_is(x, 2, 4, 6, 2);
    stream_has_lines(x, "{c}:ev", 6);
    ckpt_at(x, 6);
    fx_free(x);
}

/* ---- a lost connection -------------------------------------------------------------- */

/* Both batches in flight were applied, then the connection went before
 * their replies were read: resync reports both as landed, with their own
 * counts, and says to go on after the second. */
static void committer_lost_connection_resync_reports_landed_flights(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 6);
    fx_begin_at(x, 0, 1);
    assert_int_equal(fx_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    assert_int_equal(x->nev, 0);
    struct ck_wait w = {x, 4};
    assert_true(lbt_wait_for(ckpt_reached, &w, 10000));
    lb_redis_drop(x->r); /* the replies are lost with the connection */

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);
    assert_int_equal(x->nev, 0);
    /* until resync, nothing is sent */
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    assert_int_equal(fx_feed(x, 5, 5), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);

    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 0, 0, 2, 2);
    ev_is(x, 1, 2, 4, 2);
    assert_string_equal(x->ev[1].ck.id, last_id("{c}:ev"));
    assert_int_equal(rs.off, x->t.end[4]);
    assert_int_equal(rs.line, 4);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(lb_committer_end_off(x->cm), x->t.end[4]);

    assert_int_equal(fx_feed(x, 5, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 3);
    ev_is(x, 2, 4, 6, 2);
    stream_has_lines(x, "{c}:ev", 6);
    ckpt_at(x, 6);
    fx_free(x);
}

/* The first batch in flight was applied, the second never ran (the server
 * held it: CLIENT PAUSE WRITE) when the connection went: resync reports the
 * first as landed, forgets the second, and says to read again after the
 * first. */
static void committer_lost_connection_resync_first_landed_second_not(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 4);
    fx_begin_at(x, 0, 1);
    assert_int_equal(fx_feed(x, 1, 2), 0);
    struct ck_wait w = {x, 2};
    assert_true(lbt_wait_for(ckpt_reached, &w, 10000));
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT PAUSE 30000 WRITE"), 0);
    assert_int_equal(fx_feed(x, 3, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    lb_redis_drop(x->r);
    assert_true(lbt_wait_for(only_admin_connected, NULL, 10000));
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT UNPAUSE"), 0);
    ckpt_at(x, 2);

    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), LB_EREDIS);
    assert_int_equal(x->nev, 0);
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(x->nev, 1);
    ev_is(x, 0, 0, 2, 2);
    assert_int_equal(rs.off, x->t.end[2]);
    assert_int_equal(rs.line, 2);
    assert_false(rs.regressed || rs.moved || rs.restart);

    assert_int_equal(fx_feed(x, 3, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 1, 2, 4, 2);
    stream_has_lines(x, "{c}:ev", 4);
    ckpt_at(x, 4);
    fx_free(x);
}

/* The server kills the committer's connection (CLIENT KILL) between send and
 * recv, before either batch ran: LB_EREDIS, resync reports nothing landed
 * and says to read again from the start; the resend lands exactly. */
static void committer_client_kill_resync_reports_nothing_landed(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 4);
    fx_begin_at(x, 0, 1);
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT PAUSE 30000 WRITE"), 0);
    assert_int_equal(fx_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT KILL TYPE normal SKIPME yes"), 0);
    assert_true(lbt_wait_for(only_admin_connected, NULL, 10000));
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT UNPAUSE"), 0);

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
    assert_int_equal(lbt_dbsize(adm), 0);

    assert_int_equal(fx_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    stream_has_lines(x, "{c}:ev", 4);
    ckpt_at(x, 4);
    fx_free(x);
}

/* ---- the checkpoint changed under us ------------------------------------------------ */

/* Land lines 1-2 and 3-4; return a copy of the checkpoint after line 2. */
static struct lb_ckpt land_two_batches(struct fx *x)
{
    fx_begin_at(x, 0, 1);
    assert_int_equal(fx_feed(x, 1, 2), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    struct lb_ckpt at2;
    assert_int_equal(lbt_ckpt_get(adm, ckkey(x), SRC, &at2), 0);
    assert_int_equal(fx_feed(x, 3, 4), 0);
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
    struct fx *x = fx_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 6);
    struct lb_ckpt at2 = land_two_batches(x);
    assert_int_equal(lbt_ckpt_put(adm, ckkey(x), SRC, &at2), 0);

    assert_int_equal(fx_feed(x, 5, 6), LB_EREDIS);
    assert_non_null(strstr(x->err.msg, "the checkpoint of " SRC " stands at"));
    stream_has_lines(x, "{c}:ev", 4);
    ckpt_at(x, 2);
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

    assert_int_equal(fx_feed(x, 3, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    size_t want[] = {1, 2, 3, 4, 3, 4, 5, 6};
    stream_is(x, "{c}:ev", want, 8);
    ckpt_at(x, 6);
    fx_free(x);
}

/* Someone else moved the checkpoint forward to a later line boundary of the
 * same file (right dev, ino and fingerprint): the next batch is fenced, and
 * resync says "moved" and to go on from there. */
static void committer_moved_checkpoint_is_followed(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 8);
    land_two_batches(x);
    struct lb_ckpt at6 = {.present = 1, .dev = DEV, .ino = INO, .off = x->t.end[6], .line = 6};
    lbt_text_fp(&x->t, at6.off, at6.fp);
    snprintf(at6.id, sizeof(at6.id), "%s", last_id("{c}:ev"));
    assert_int_equal(lbt_ckpt_put(adm, ckkey(x), SRC, &at6), 0);

    assert_int_equal(fx_feed(x, 5, 6), LB_EREDIS);
    stream_has_lines(x, "{c}:ev", 4);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_true(rs.moved);
    assert_false(rs.regressed || rs.restart);
    assert_int_equal(rs.off, x->t.end[6]);
    assert_int_equal(rs.line, 6);
    assert_int_equal(x->nev, 3);
    assert_int_equal(x->ev[2].ck.line, 6);

    assert_int_equal(fx_feed(x, 7, 8), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    size_t want[] = {1, 2, 3, 4, 7, 8};
    stream_is(x, "{c}:ev", want, 6);
    ckpt_at(x, 8);
    fx_free(x);
}

/* The checkpoint no longer describes this file: resync says "restart" from
 * start_off. Three ways: deleted, another dev/ino, same dev/ino but a
 * fingerprint that is not this file's (at another line boundary: the fence
 * compares dev, ino, off and line, not the fingerprint). */
static void restart_case(int how)
{
    struct fx *x = fx_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 6);
    land_two_batches(x);
    struct lb_ckpt other = {.present = 1, .dev = DEV, .ino = INO, .off = x->t.end[4], .line = 4};
    snprintf(other.fp, sizeof(other.fp), "0123456789abcdef");
    snprintf(other.id, sizeof(other.id), "1-1");
    if (how == 0) {
        assert_int_equal(lbt_cmd_ok(adm, "HDEL %s %s", ckkey(x), SRC), 0);
    } else {
        if (how == 1) {
            other.ino = INO + 1;
            lbt_text_fp(&x->t, other.off, other.fp);
        } else {
            other.off = x->t.end[3];
            other.line = 3;
        }
        assert_int_equal(lbt_ckpt_put(adm, ckkey(x), SRC, &other), 0);
    }
    assert_int_equal(fx_feed(x, 5, 6), LB_EREDIS);
    stream_has_lines(x, "{c}:ev", 4);
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
    assert_int_equal(fx_feed(x, 1, 6), 0);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    size_t want[] = {1, 2, 3, 4, 1, 2, 3, 4, 5, 6};
    stream_is(x, "{c}:ev", want, 10);
    ckpt_at(x, 6);
    fx_free(x);
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

/* ---- dirty() --------------------------------------------------------------------------- */

/* No checkpoint and nothing read: nothing to say, nothing sent. */
static void committer_dirty_nothing_to_say(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 2);
    fx_begin_at(x, 0, 1);
    assert_false(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 0);
    assert_int_equal(lbt_dbsize(adm), 0);

    /* a checkpoint of this file at the place reading starts: nothing either */
    assert_int_equal(fx_feed(x, 1, 2), 0);
    assert_int_equal(x->nev, 1);
    assert_false(lb_committer_dirty(x->cm));
    fx_begin_at(x, 2, 1);
    assert_false(lb_committer_dirty(x->cm));
    /* a blank line moves it: worth a batch with no entries */
    lbt_text_add(&x->t, "");
    assert_int_equal(fx_feed(x, 3, 3), 0);
    assert_true(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    assert_int_equal(x->ev[1].blank, 1);
    assert_int_equal(x->ev[1].written, 0);
    ckpt_at(x, 3);
    stream_has_lines(x, "{c}:ev", 2);
    fx_free(x);
}

/* The checkpoint describes another generation (a rotation): a source with no
 * lines yet is still sent, so the checkpoint switches identity (and the old
 * generation goes to "done"). */
static void committer_dirty_identity_switch_without_lines_is_sent(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 1, 1);
    struct lb_ckpt old = {.present = 1, .dev = DEV, .ino = INO - 1, .off = 100, .line = 3};
    snprintf(old.fp, sizeof(old.fp), "00000000000000aa");
    snprintf(old.id, sizeof(old.id), "5-0");
    assert_int_equal(lbt_ckpt_put(adm, lb_sink_ckpt_key(x->k), SRC, &old), 0);
    fx_begin_at(x, 0, 1);
    assert_true(lb_committer_dirty(x->cm));
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 1);
    ev_is(x, 0, 0, 0, 0);
    assert_int_equal(x->ev[0].bad + x->ev[0].blank, 0);
    assert_string_equal(x->ev[0].ck.id, "5-0");
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(adm, ckkey(x), SRC, &ck), 0);
    assert_int_equal(ck.ino, INO);
    assert_int_equal(ck.off, 0);
    assert_int_equal(ck.line, 0);
    assert_string_equal(ck.id, "5-0");
    assert_int_equal(ck.ndone, 1);
    assert_int_equal(ck.done[0].ino, INO - 1);
    assert_int_equal(ck.done[0].off, 100);
    assert_int_equal(ck.done[0].line, 3);
    assert_string_equal(ck.done[0].fp, "00000000000000aa");
    assert_false(lb_committer_dirty(x->cm));
    fx_free(x);
}

/* ---- dry run, stdin --------------------------------------------------------------------- */

/* Dry run: batches "land" at once (every 4097 lines and at flush) with exact
 * counts; there is no Redis at all. */
static void committer_dry_run_lands_without_redis(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 100, 2, 0);
    lbt_text_std(&x->t, 0, 4999);
    lbt_text_add(&x->t, "bad");
    lb_committer_dry_run(x->cm);
    fx_begin_at(x, 0, 1);
    assert_int_equal(fx_feed(x, 1, 5000), 0);
    assert_int_equal(x->nev, 1);
    ev_is(x, 0, 0, 4097, 4097);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 1, 4097, 5000, 902);
    assert_int_equal(x->ev[1].bad, 1);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(lbt_dbsize(adm), 0);
    fx_free(x);
}

/* A source that cannot be read again (stdin): a refused batch is kept; after
 * resync (which says to go on after it) the next flush sends it again, and
 * it lands once. */
static void committer_stdin_keeps_its_batch_and_resends_it(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 6);
    fx_begin_at(x, 0, 0);
    assert_int_equal(fx_feed(x, 1, 2), 0);
    assert_int_equal(x->nev, 1); /* one batch at a time: landed at once */
    ev_is(x, 0, 0, 2, 2);

    assert_int_equal(lbt_cmd_ok(adm, "CONFIG SET maxmemory-policy noeviction"), 0);
    assert_int_equal(lbt_cmd_ok(adm, "CONFIG SET maxmemory 1"), 0);
    assert_int_equal(fx_feed(x, 3, 4), LB_EREDIS);
    assert_int_equal(lbt_cmd_ok(adm, "CONFIG SET maxmemory 0"), 0);
    assert_int_equal(x->nev, 1);
    stream_has_lines(x, "{c}:ev", 2);

    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, x->t.end[4]); /* read on after the kept batch */
    assert_int_equal(rs.line, 4);
    assert_false(rs.regressed || rs.moved || rs.restart);
    assert_int_equal(x->nev, 1);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 1, 2, 4, 2);

    assert_int_equal(fx_feed(x, 5, 6), 0);
    assert_int_equal(x->nev, 3);
    ev_is(x, 2, 4, 6, 2);
    stream_has_lines(x, "{c}:ev", 6);
    ckpt_at(x, 6);
    fx_free(x);
}

/* stdin, connection lost before the send: the kept batch did not land;
 * resync says so and it is sent again. */
static void committer_stdin_lost_connection_resends_kept_batch(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 1, 1);
    lbt_text_std(&x->t, 0, 4);
    fx_begin_at(x, 0, 0);
    assert_int_equal(fx_feed(x, 1, 2), 0);
    assert_int_equal(fx_feed(x, 3, 3), 0);
    lb_redis_drop(x->r);
    assert_int_equal(fx_feed(x, 4, 4), LB_EREDIS);
    assert_int_equal(lb_redis_connect(x->r, &x->err), 0);
    struct lb_commit_resync rs;
    assert_int_equal(lb_committer_resync(x->cm, &rs, &x->err), 0);
    assert_int_equal(rs.off, x->t.end[4]);
    assert_int_equal(rs.line, 4);
    assert_int_equal(x->nev, 1);
    assert_int_equal(lb_committer_flush(x->cm, 0, &x->err), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 1, 2, 4, 2);
    stream_has_lines(x, "{c}:ev", 4);
    ckpt_at(x, 4);
    fx_free(x);
}

/* ---- poll, strict ------------------------------------------------------------------------ */

struct poll_ctx {
    struct fx *x;
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
    struct fx *x = fx_new("{c}:ev", 2, 3, 1);
    lbt_text_std(&x->t, 0, 4);
    fx_begin_at(x, 0, 1);
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT PAUSE 1500 WRITE"), 0);
    assert_int_equal(fx_feed(x, 1, 4), 0);
    assert_int_equal(lb_committer_inflight(x->cm), 2);
    int64_t t0 = lbt_now_ms();
    assert_int_equal(lb_committer_poll(x->cm, &x->err), 0);
    int64_t waited = lbt_now_ms() - t0;
    if (lb_committer_inflight(x->cm) != 2) {
        size_t left = lb_committer_inflight(x->cm);
        fx_free(x);
        fail_msg("lb_committer_poll blocked %lld ms for a paused EXEC (%zu in flight after it, "
                 "want 2)",
                 (long long)waited, left);
    }
    assert_int_equal(x->nev, 0);
    assert_int_equal(lbt_cmd_ok(adm, "CLIENT UNPAUSE"), 0);
    struct poll_ctx p = {x, 0};
    assert_true(lbt_wait_for(poll_drained, &p, 10000));
    assert_int_equal(p.rc, 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 0, 0, 2, 2);
    ev_is(x, 1, 2, 4, 2);
    stream_has_lines(x, "{c}:ev", 4);
    ckpt_at(x, 4);
    fx_free(x);
}

/* --strict: a bad line is not queued; what came before it is committed and
 * LB_COMMIT_STRICT is returned; nothing reaches the DLQ. */
static void committer_strict_settles_what_came_before_a_bad_line(void **state)
{
    (void)state;
    struct fx *x = fx_new("{c}:ev", 2, 2, 1);
    lbt_text_std(&x->t, 0, 3);
    lbt_text_add(&x->t, "bad");
    fx_begin_at(x, 0, 1);
    assert_int_equal(fx_feed(x, 1, 3), 0);
    struct lb_line l = lbt_text_line(&x->t, 4);
    enum lb_reason why;
    assert_int_equal(lb_committer_line(x->cm, &l, LB_COMMIT_STRICT, &why, &x->err),
                     LB_COMMIT_STRICT);
    assert_int_equal(why, LB_REASON_FIELDS);
    assert_int_equal(lb_committer_inflight(x->cm), 0);
    assert_int_equal(x->nev, 2);
    ev_is(x, 1, 2, 3, 1);
    assert_int_equal(lb_committer_end_line(x->cm), 3);
    stream_has_lines(x, "{c}:ev", 3);
    ckpt_at(x, 3);
    assert_int_equal(exists(lb_sink_dlq_key(x->k)), 0);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(committer_batch_lands_with_counts_and_checkpoint, setup),
        cmocka_unit_test_setup(committer_flights_pipeline_replies_in_order, setup),
        cmocka_unit_test_setup(committer_refused_batch_fences_the_batch_behind_it, setup),
        cmocka_unit_test_setup(committer_transient_refusal_resync_resend_lands_exactly, setup),
        cmocka_unit_test_setup(committer_lost_connection_resync_reports_landed_flights, setup),
        cmocka_unit_test_setup(committer_lost_connection_resync_first_landed_second_not, setup),
        cmocka_unit_test_setup(committer_client_kill_resync_reports_nothing_landed, setup),
        cmocka_unit_test_setup(committer_regressed_checkpoint_is_reported_with_its_range, setup),
        cmocka_unit_test_setup(committer_moved_checkpoint_is_followed, setup),
        cmocka_unit_test_setup(committer_restart_when_checkpoint_deleted, setup),
        cmocka_unit_test_setup(committer_restart_when_checkpoint_is_another_file, setup),
        cmocka_unit_test_setup(committer_restart_when_fingerprint_differs, setup),
        cmocka_unit_test_setup(committer_dirty_nothing_to_say, setup),
        cmocka_unit_test_setup(committer_dirty_identity_switch_without_lines_is_sent, setup),
        cmocka_unit_test_setup(committer_dry_run_lands_without_redis, setup),
        cmocka_unit_test_setup(committer_stdin_keeps_its_batch_and_resends_it, setup),
        cmocka_unit_test_setup(committer_stdin_lost_connection_resends_kept_batch, setup),
        cmocka_unit_test_setup(committer_poll_reads_only_replies_that_arrived, setup),
        cmocka_unit_test_setup(committer_strict_settles_what_came_before_a_bad_line, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
