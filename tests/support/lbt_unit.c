/*
 * lbt_unit.c - see lbt_unit.h.
 */
#include "lbt_unit.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lbt_text_init(struct lbt_text *t)
{
    memset(t, 0, sizeof(*t));
}

void lbt_text_free(struct lbt_text *t)
{
    free(t->p);
    t->p = NULL;
    t->n = t->cap = t->nlines = 0;
}

static void lbt_text_room(struct lbt_text *t, size_t more)
{
    if (t->n + more <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->n + more)
        cap *= 2;
    char *p = realloc(t->p, cap);
    if (p == NULL)
        abort();
    t->p = p;
    t->cap = cap;
}

void lbt_text_add(struct lbt_text *t, const char *s)
{
    size_t n = strlen(s);
    if (t->nlines == LBT_TEXT_MAX_LINES)
        abort();
    lbt_text_room(t, n + 1);
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n++] = '\n';
    t->end[++t->nlines] = t->n;
}

void lbt_text_std(struct lbt_text *t, long from, long count)
{
    char buf[256];
    for (long i = from; i < from + count; i++) {
        size_t n = lbt_line(buf, sizeof(buf), i);
        buf[n - 1] = '\0'; /* lbt_line ends with '\n' */
        lbt_text_add(t, buf);
    }
}

struct lb_line lbt_text_line(const struct lbt_text *t, size_t i)
{
    struct lb_line l;
    memset(&l, 0, sizeof(l));
    if (i < 1 || i > t->nlines)
        abort();
    l.off = t->end[i - 1];
    l.end = t->end[i];
    l.p = t->p + l.off;
    l.n = (size_t)(l.end - l.off - 1);
    l.full_len = l.n;
    return l;
}

int lbt_text_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX])
{
    const struct lbt_text *t = ctx;
    size_t n = off < LB_FP_LEN ? (size_t)off : LB_FP_LEN;
    if (n > t->n)
        return LB_EIO;
    lb_fp_hex(t->p, n, hex);
    return 0;
}

struct lb_redis *lbt_lb_redis(const struct lbt_redis *srv)
{
    struct lb_redis_cfg cfg;
    struct lb_error err;
    if (lb_redis_url_parse(srv->url, &cfg, &err) != 0)
        return NULL;
    struct lb_redis *r = lb_redis_create(&cfg);
    if (r == NULL)
        return NULL;
    if (lb_redis_connect(r, &err) != 0) {
        lb_redis_destroy(r);
        return NULL;
    }
    return r;
}

char *lbt_ckpt_raw(redisContext *c, const char *ckpt_key, const char *src)
{
    redisReply *rep = redisCommand(c, "HGET %s %s", ckpt_key, src);
    char *out = NULL;
    if (rep != NULL && rep->type == REDIS_REPLY_STRING)
        out = strdup(rep->str);
    freeReplyObject(rep);
    return out;
}

int lbt_ckpt_get(redisContext *c, const char *ckpt_key, const char *src, struct lb_ckpt *ck)
{
    memset(ck, 0, sizeof(*ck));
    redisReply *rep = redisCommand(c, "HGET %s %s", ckpt_key, src);
    int rc = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        struct lb_error err;
        rc = lb_ckpt_parse(rep->str, rep->len, ck, &err) == 0 ? 0 : -1;
    }
    freeReplyObject(rep);
    return rc;
}

int lbt_ckpt_put(redisContext *c, const char *ckpt_key, const char *src, const struct lb_ckpt *ck)
{
    char v[2048];
    lb_ckpt_format(ck, v, sizeof(v));
    return lbt_cmd_ok(c, "HSET %s %s %s", ckpt_key, src, v);
}

int lbt_cmd_ok(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(c, fmt, ap);
    va_end(ap);
    int ok = rep != NULL && (rep->type == REDIS_REPLY_STATUS || rep->type == REDIS_REPLY_INTEGER ||
                             rep->type == REDIS_REPLY_STRING);
    if (!ok)
        fprintf(stderr, "lbt_cmd_ok(%s): %s\n", fmt,
                rep == NULL                      ? c->errstr
                : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                 : "?");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

long long lbt_dbsize(redisContext *c)
{
    redisReply *rep = redisCommand(c, "DBSIZE");
    long long n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}
