/*
 * stream_reader.c - paged XRANGE with read-ahead, and XREAD (see
 * stream_reader.h).
 */
#include "stream_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a pipe: several readers on one connection ------------------------------- */

int lb_xpipe_init(struct lb_xpipe *p, int cap, struct lb_error *err)
{
    memset(p, 0, sizeof(*p));
    if (cap <= 0)
        return 0;
    if ((p->q = calloc((size_t)cap, sizeof(*p->q))) == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    p->cap = cap;
    return 0;
}

void lb_xpipe_free(struct lb_xpipe *p)
{
    if (p == NULL)
        return;
    free(p->q);
    memset(p, 0, sizeof(*p));
}

/* The connection is gone, and every request in flight with it: each is
 * asked for again at its reader's next call. */
static void lb_xpipe_lost(struct lb_xpipe *p)
{
    for (int i = 0; i < p->n; i++)
        p->q[(p->head + i) % p->cap]->inflight = 0;
    p->head = p->n = 0;
}

/* Read the reply at the front of the wire into its reader's `ahead`. */
static int lb_xpipe_receive(struct lb_xpipe *p, struct lb_redis *r, struct lb_error *err)
{
    struct lb_xrange *y = p->q[p->head];
    redisReply *rep = lb_reply_read(r, &y->ahead, err);
    if (rep == NULL) { /* every failure of a read drops the connection */
        lb_xpipe_lost(p);
        return err->code;
    }
    p->head = (p->head + 1) % p->cap;
    p->n--;
    y->inflight = 0;
    y->ready = rep;
    return 0;
}

int lb_xpipe_drain(struct lb_xpipe *p, struct lb_redis *r, struct lb_error *err)
{
    while (p->n > 0) {
        int rc = lb_xpipe_receive(p, r, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- one reader ---------------------------------------------------------------- */

static int lb_xrange_send(struct lb_xrange *x, struct lb_error *err)
{
    char cnt[16];
    snprintf(cnt, sizeof(cnt), "%d", x->count);
    const char *argv[6] = {"XRANGE", x->key, x->start, x->end, "COUNT", cnt};
    int rc = lb_reply_send(x->r, 6, argv, NULL, err);
    x->inflight = rc == 0;
    if (x->pipe != NULL) {
        struct lb_xpipe *p = x->pipe;
        if (rc != 0) { /* replies may still be owed on it: the connection goes */
            if (lb_redis_ctx(x->r) != NULL)
                lb_redis_drop(x->r);
            lb_xpipe_lost(p);
        }
        else
            p->q[(p->head + p->n++) % p->cap] = x; /* at most one each: n <= cap */
    }
    return rc;
}

int lb_xrange_begin(struct lb_xrange *x, struct lb_redis *r, const char *key, const char *start,
                    const char *end, struct lb_error *err)
{
    memset(x, 0, sizeof(*x));
    x->r = r;
    x->key = key;
    x->more = 1;
    x->count = LB_XRANGE_PAGE;
    snprintf(x->start, sizeof(x->start), "%s", start);
    snprintf(x->end, sizeof(x->end), "%s", end);
    return lb_xrange_send(x, err);
}

int lb_xrange_begin_piped(struct lb_xrange *x, struct lb_xpipe *p, struct lb_redis *r,
                          const char *key, const char *start, const char *end, int count)
{
    memset(x, 0, sizeof(*x));
    x->r = r;
    x->key = key;
    x->more = 1;
    x->count = count > 0 && count <= LB_XRANGE_PAGE ? count : LB_XRANGE_PAGE;
    x->pipe = p;
    /* Many readers of small pages: each reads and carves what a page of its
     * own takes, not the megabyte a single reader of big pages is given. */
    lb_arena_expect(&x->arena, (size_t)x->count * LB_XRANGE_ENTRY_WIRE);
    lb_arena_expect(&x->ahead, (size_t)x->count * LB_XRANGE_ENTRY_WIRE);
    snprintf(x->start, sizeof(x->start), "%s", start);
    snprintf(x->end, sizeof(x->end), "%s", end);
    return 0;
}

int lb_xrange_ask(struct lb_xrange *x, struct lb_error *err)
{
    if (x->inflight || x->ready != NULL || !x->more)
        return 0;
    return lb_xrange_send(x, err);
}

/* The ID after the last entry of a full page: where the next page starts.
 * 0, or -1 when nothing can follow (a short page, or the largest ID). */
static int lb_xrange_after(const redisReply *page, int count, struct lb_sid *next)
{
    if (page->elements < (size_t)count)
        return -1;
    const redisReply *last = page->element[page->elements - 1];
    if (last->type != REDIS_REPLY_ARRAY || last->elements < 1 ||
        last->element[0]->type != REDIS_REPLY_STRING ||
        lb_sid_parse(last->element[0]->str, last->element[0]->len, next) != 0)
        return -1;
    return lb_sid_next(next);
}

/* The reply to the request for x's next page: read now, or (piped) read
 * already into `ahead` - then the arenas swap, and the page returned last
 * (in `arena`) is forgotten. NULL with err set. */
static const redisReply *lb_xrange_receive(struct lb_xrange *x, struct lb_error *err)
{
    int rc = 0;
    const redisReply *rep;
    if (x->pipe == NULL) {
        if (!x->inflight && lb_xrange_send(x, err) != 0)
            return NULL;
        rep = lb_reply_read(x->r, &x->arena, err);
        x->inflight = 0;
    } else {
        if (x->ready == NULL && !x->inflight)
            rc = lb_xrange_send(x, err);
        while (rc == 0 && x->inflight)
            rc = lb_xpipe_receive(x->pipe, x->r, err);
        if (rc != 0)
            return NULL;
        struct lb_arena t = x->arena;
        x->arena = x->ahead;
        x->ahead = t;
        rep = x->ready;
        x->ready = NULL;
    }
    if (rep == NULL && err->code == LB_ENOMEM) /* not Redis's fault: say so */
        lb_error_set(err, LB_ENOMEM, "out of memory while reading a page of XRANGE %s", x->key);
    return rep;
}

int lb_xrange_next(struct lb_xrange *x, const redisReply **page, struct lb_error *err)
{
    if (!x->more && x->ready == NULL)
        return 0;
    const redisReply *rep = lb_xrange_receive(x, err);
    if (rep == NULL)
        return err->code;
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_reply_error(x->r, "XRANGE", x->key, rep->str, err);
    if (rep->type != REDIS_REPLY_ARRAY)
        return lb_error_set(err, LB_EREPLY, "redis at %s: XRANGE %s: unexpected reply",
                            lb_redis_addr(x->r), x->key);
    struct lb_sid next;
    x->more = lb_xrange_after(rep, x->count, &next) == 0;
    if (x->more) {
        lb_sid_format(next, x->start);
        /* A failure shows up at the next call (the page is asked for again). */
        lb_xrange_send(x, err);
    }
    *page = rep;
    return 1;
}

int lb_xrange_abort(struct lb_xrange *x, struct lb_error *err)
{
    x->more = 0;
    x->ready = NULL;
    if (!x->inflight)
        return 0;
    if (x->pipe != NULL)
        return lb_xpipe_drain(x->pipe, x->r, err);
    x->inflight = 0;
    return lb_reply_read(x->r, &x->arena, err) != NULL ? 0 : err->code;
}

void lb_xrange_free(struct lb_xrange *x)
{
    if (x == NULL)
        return;
    lb_arena_free(&x->arena);
    lb_arena_free(&x->ahead);
}

int lb_xread_send(struct lb_redis *r, const char *key, const char *after, long long count,
                  int block_ms, struct lb_error *err)
{
    char cnt[24], bms[24];
    snprintf(cnt, sizeof(cnt), "%lld", count);
    snprintf(bms, sizeof(bms), "%d", block_ms);
    const char *argv[9];
    int argc = 0;
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    if (block_ms >= 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = bms;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = key;
    argv[argc++] = after;
    return lb_reply_send(r, argc, argv, NULL, err);
}

const redisReply *lb_xread_entries(const redisReply *rep)
{
    const redisReply *s =
        rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 ? rep->element[0] : NULL;
    if (s == NULL || s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
        s->element[1]->type != REDIS_REPLY_ARRAY || s->element[1]->elements == 0)
        return NULL;
    return s->element[1];
}
