/*
 * stream_reader.c - paged XRANGE with read-ahead, and XREAD (see
 * stream_reader.h).
 */
#include "stream_reader.h"

#include <stdio.h>
#include <string.h>

#define LB_XRANGE_PAGE_STR "1000"

static int lb_xrange_send(struct lb_xrange *x, struct lb_error *err)
{
    const char *argv[6] = {"XRANGE", x->key, x->start, x->end, "COUNT", LB_XRANGE_PAGE_STR};
    int rc = lb_reply_send(x->r, 6, argv, NULL, err);
    x->inflight = rc == 0;
    return rc;
}

int lb_xrange_begin(struct lb_xrange *x, struct lb_redis *r, const char *key, const char *start,
                    const char *end, struct lb_error *err)
{
    memset(x, 0, sizeof(*x));
    x->r = r;
    x->key = key;
    x->more = 1;
    snprintf(x->start, sizeof(x->start), "%s", start);
    snprintf(x->end, sizeof(x->end), "%s", end);
    return lb_xrange_send(x, err);
}

int lb_xrange_begin_lazy(struct lb_xrange *x, struct lb_redis *r, const char *key,
                         const char *start, const char *end)
{
    memset(x, 0, sizeof(*x));
    x->r = r;
    x->key = key;
    x->more = 1;
    x->lazy = 1;
    snprintf(x->start, sizeof(x->start), "%s", start);
    snprintf(x->end, sizeof(x->end), "%s", end);
    return 0;
}

/* The ID after the last entry of a full page: where the next page starts.
 * 0, or -1 when nothing can follow (a short page, or the largest ID). */
static int lb_xrange_after(const redisReply *page, struct lb_sid *next)
{
    if (page->elements < LB_XRANGE_PAGE)
        return -1;
    const redisReply *last = page->element[page->elements - 1];
    if (last->type != REDIS_REPLY_ARRAY || last->elements < 1 ||
        last->element[0]->type != REDIS_REPLY_STRING ||
        lb_sid_parse(last->element[0]->str, last->element[0]->len, next) != 0)
        return -1;
    return lb_sid_next(next);
}

int lb_xrange_next(struct lb_xrange *x, const redisReply **page, struct lb_error *err)
{
    int rc;
    if (!x->more)
        return 0;
    if (!x->inflight && (rc = lb_xrange_send(x, err)) != 0)
        return rc;
    redisReply *rep = lb_reply_read(x->r, &x->arena, err);
    x->inflight = 0;
    if (rep == NULL && err->code == LB_ENOMEM) /* not Redis's fault: say so */
        return lb_error_set(err, LB_ENOMEM, "out of memory while reading a page of XRANGE %s",
                            x->key);
    if (rep == NULL)
        return err->code;
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_reply_error(x->r, "XRANGE", x->key, rep->str, err);
    if (rep->type != REDIS_REPLY_ARRAY)
        return lb_error_set(err, LB_EREPLY, "redis at %s: XRANGE %s: unexpected reply",
                            lb_redis_addr(x->r), x->key);
    struct lb_sid next;
    x->more = lb_xrange_after(rep, &next) == 0;
    if (x->more) {
        lb_sid_format(next, x->start);
        /* A failure shows up at the next call (the page is asked for again). */
        if (!x->lazy)
            lb_xrange_send(x, err);
    }
    *page = rep;
    return 1;
}

int lb_xrange_abort(struct lb_xrange *x, struct lb_error *err)
{
    x->more = 0;
    if (!x->inflight)
        return 0;
    x->inflight = 0;
    return lb_reply_read(x->r, &x->arena, err) != NULL ? 0 : err->code;
}

void lb_xrange_free(struct lb_xrange *x)
{
    if (x != NULL)
        lb_arena_free(&x->arena);
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
