/*
 * fx_committer.c - see fx_committer.h.
 */
#include "fx_committer.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static struct lbt_redis fxc_srv;
redisContext *fxc_adm;

static void on_ckpt(void *ctx, const struct lb_commit_event *ev)
{
    struct fxc *x = ctx;
    assert_true(x->nev < FXC_MAX_EVENTS);
    x->ev[x->nev++] = *ev;
}

struct fxc *fxc_new(const char *stream, size_t batch, int flights, int with_redis)
{
    struct fxc *x = calloc(1, sizeof(*x));
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
        x->r = lbt_lb_redis(&fxc_srv);
        assert_non_null(x->r);
    }
    x->cm = lb_committer_create(x->k, x->f, x->r, flights, on_ckpt, x);
    assert_non_null(x->cm);
    return x;
}

void fxc_free(struct fxc *x)
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
void fxc_begin_at(struct fxc *x, size_t at, int rereadable)
{
    struct lb_commit_source s;
    memset(&s, 0, sizeof(s));
    s.src = FXC_SRC;
    s.dev = FXC_DEV;
    s.ino = FXC_INO;
    assert_int_equal(lbt_ckpt_get(fxc_adm, lb_sink_ckpt_key(x->k), FXC_SRC, &s.ck), 0);
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
int fxc_feed(struct fxc *x, size_t from, size_t to)
{
    for (size_t i = from; i <= to; i++) {
        struct lb_line l = lbt_text_line(&x->t, i);
        int rc = lb_committer_line(x->cm, &l, 0, NULL, &x->err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

const char *fxc_ckkey(const struct fxc *x)
{
    return lb_sink_ckpt_key(x->k);
}

/* The stream holds exactly the lines listed (by their offsets), in order. */
void fxc_stream_is(const struct fxc *x, const char *key, const size_t *lines, size_t n)
{
    struct lbt_entry *e = NULL;
    long got = lbt_xrange_all(fxc_adm, key, &e);
    if (got != (long)n)
        fail_msg("%s holds %ld entries, want %zu", key, got, n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "%" PRIu64, x->t.end[lines[i] - 1]);
        const char *off = lbt_field(&e[i], "off");
        if (off == NULL || strcmp(off, want) != 0)
            fail_msg("%s entry %zu: off=%s, want %s (line %zu)", key, i, off ? off : "(none)", want,
                     lines[i]);
        if (strcmp(lbt_field(&e[i], "src"), FXC_SRC) != 0)
            fail_msg("%s entry %zu: src=%s", key, i, lbt_field(&e[i], "src"));
    }
    lbt_entries_free(e, got);
}

/* Lines 1..n in order, once each. */
void fxc_stream_has_lines(const struct fxc *x, const char *key, size_t n)
{
    size_t want[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        want[i] = i + 1;
    fxc_stream_is(x, key, want, n);
}

/* The checkpoint in Redis stands at the end of line `line`. */
void fxc_ckpt_at(const struct fxc *x, size_t line)
{
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(fxc_adm, fxc_ckkey(x), FXC_SRC, &ck), 0);
    if (!ck.present)
        fail_msg("no checkpoint, want line %zu", line);
    assert_int_equal(ck.dev, FXC_DEV);
    assert_int_equal(ck.ino, FXC_INO);
    assert_int_equal(ck.off, x->t.end[line]);
    assert_int_equal(ck.line, line);
    char fp[LB_FP_HEX];
    assert_int_equal(lbt_text_fp((void *)&x->t, x->t.end[line], fp), 0);
    assert_string_equal(ck.fp, fp);
}

void fxc_ckpt_absent(const struct fxc *x)
{
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(fxc_adm, fxc_ckkey(x), FXC_SRC, &ck), 0);
    assert_false(ck.present);
}

/* A landing event: the batch of lines (from, to], counts as given. */
void fxc_ev_is(const struct fxc *x, int i, size_t from, size_t to, uint64_t written)
{
    if (i >= x->nev)
        fail_msg("event %d missing (%d events)", i, x->nev);
    const struct lb_commit_event *e = &x->ev[i];
    assert_true(e->ck.present);
    assert_int_equal(e->ck.dev, FXC_DEV);
    assert_int_equal(e->ck.ino, FXC_INO);
    assert_int_equal(e->ck.off, x->t.end[to]);
    assert_int_equal(e->ck.line, to);
    assert_int_equal(e->written, written);
    assert_int_equal(e->bytes, x->t.end[to] - x->t.end[from]);
}

const char *fxc_last_id(const char *key)
{
    static char id[48];
    redisReply *rep = redisCommand(fxc_adm, "XREVRANGE %s + - COUNT 1", key);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 1);
    snprintf(id, sizeof(id), "%s", rep->element[0]->element[0]->str);
    freeReplyObject(rep);
    return id;
}

long long fxc_exists(const char *key)
{
    redisReply *rep = redisCommand(fxc_adm, "EXISTS %s", key);
    long long n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

int fxc_ckpt_reached(void *ctx)
{
    struct fxc_ck_wait *w = ctx;
    struct lb_ckpt ck;
    return lbt_ckpt_get(fxc_adm, fxc_ckkey(w->x), FXC_SRC, &ck) == 0 && ck.present &&
           ck.line == w->line;
}

int fxc_only_admin_connected(void *ctx)
{
    (void)ctx;
    redisReply *rep = redisCommand(fxc_adm, "INFO clients");
    int one = rep != NULL && rep->type == REDIS_REPLY_STRING &&
              strstr(rep->str, "connected_clients:1\r\n") != NULL;
    freeReplyObject(rep);
    return one;
}

/* ---- group setup ------------------------------------------------------------------- */

int fxc_group_setup(void **state)
{
    (void)state;
    if (lbt_redis_start(&fxc_srv, 0) != 0)
        return -1;
    fxc_adm = lbt_connect(&fxc_srv);
    return fxc_adm == NULL ? -1 : 0;
}

int fxc_group_teardown(void **state)
{
    (void)state;
    if (fxc_adm != NULL)
        redisFree(fxc_adm);
    lbt_redis_stop(&fxc_srv, 1);
    return 0;
}

int fxc_setup(void **state)
{
    (void)state;
    if (lbt_cmd_ok(fxc_adm, "CONFIG SET maxmemory 0") != 0 ||
        lbt_cmd_ok(fxc_adm, "CLIENT UNPAUSE") != 0)
        return -1;
    return lbt_cmd_ok(fxc_adm, "FLUSHALL");
}
