/*
 * reply.c - sending now and reading big replies into an arena (see reply.h).
 */
#include "reply.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * hiredis builds a reply with one calloc per element and a malloc per string:
 * ~15 of each per entry, which was 40% of mirror's CPU. For the XREAD/XRANGE
 * replies (and only those) the reader's object functions are swapped for
 * these, which carve the same struct redisReply tree out of an arena that is
 * reset before each reply. Such a reply is never given to freeReplyObject.
 * The arena holds one reply at a time: bounded by --batch x entry size.
 */
struct lb_arena_blk {
    struct lb_arena_blk *next;
    size_t cap, used;
    max_align_t data[];
};

#define LB_ARENA_BLK (256 * 1024)
#define LB_ARENA_KEEP 16 /* blocks kept across resets (4 MiB) */

/* A new block for n bytes (a spare one if it is big enough). */
static struct lb_arena_blk *lb_arena_grow(struct lb_arena *a, size_t n)
{
    struct lb_arena_blk *b;
    if (a->spare != NULL && a->spare->cap >= n) {
        b = a->spare;
        a->spare = b->next;
    } else {
        size_t cap = n > LB_ARENA_BLK ? n : LB_ARENA_BLK;
        if ((b = malloc(sizeof(*b) + cap)) == NULL)
            return NULL;
        b->cap = cap;
    }
    b->used = 0;
    b->next = a->head;
    a->head = b;
    return b;
}

/* The hot path of every reply element: a bump of the current block. */
static inline void *lb_arena_alloc(struct lb_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct lb_arena_blk *b = a->head;
    if ((b == NULL || b->cap - b->used < n) && (b = lb_arena_grow(a, n)) == NULL)
        return NULL;
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

/* Forget every reply carved so far; keep a few blocks for the next one. */
static void lb_arena_reset(struct lb_arena *a)
{
    int kept = 0;
    for (struct lb_arena_blk *b = a->spare; b != NULL; b = b->next)
        kept++;
    while (a->head != NULL) {
        struct lb_arena_blk *b = a->head;
        a->head = b->next;
        if (kept < LB_ARENA_KEEP && b->cap == LB_ARENA_BLK) {
            b->next = a->spare;
            a->spare = b;
            kept++;
        } else {
            free(b);
        }
    }
}

void lb_arena_free(struct lb_arena *a)
{
    lb_arena_reset(a);
    while (a->spare != NULL) {
        struct lb_arena_blk *b = a->spare;
        a->spare = b->next;
        free(b);
    }
}

/* An element with `extra` bytes after it (a string's, in the same carve). */
static inline redisReply *lb_arena_obj(const redisReadTask *task, int type, size_t extra)
{
    redisReply *r = lb_arena_alloc(task->privdata, sizeof(*r) + extra);
    if (r == NULL)
        return NULL;
    *r = (redisReply){.type = type};
    if (task->parent != NULL) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *lb_arena_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = lb_arena_obj(task, task->type, len + 1);
    if (r == NULL)
        return NULL;
    char *buf = (char *)(r + 1);
    memcpy(buf, str, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *lb_arena_array(const redisReadTask *task, int elements)
{
    redisReply *r = lb_arena_obj(task, REDIS_REPLY_ARRAY, 0);
    if (r == NULL)
        return NULL;
    if (elements > 0) {
        size_t n = (size_t)elements * sizeof(redisReply *);
        if ((r->element = lb_arena_alloc(task->privdata, n)) == NULL)
            return NULL;
        memset(r->element, 0, n);
        r->elements = (size_t)elements;
    }
    return r;
}

static void *lb_arena_integer(const redisReadTask *task, long long value)
{
    redisReply *r = lb_arena_obj(task, REDIS_REPLY_INTEGER, 0);
    if (r != NULL)
        r->integer = value;
    return r;
}

static void *lb_arena_nil(const redisReadTask *task)
{
    return lb_arena_obj(task, REDIS_REPLY_NIL, 0);
}

static void lb_arena_noop_free(void *obj)
{
    (void)obj; /* the arena owns it */
}

static redisReplyObjectFunctions lb_arena_fns = {lb_arena_string, lb_arena_array, lb_arena_integer,
                                                 lb_arena_nil, lb_arena_noop_free};

int lb_reply_send(struct lb_redis *r, int argc, const char **argv, const size_t *lens,
                  struct lb_error *err)
{
    redisContext *c = lb_redis_ctx(r);
    if (c == NULL)
        return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(r));
    if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    int done = 0;
    while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r), c->errstr);
            lb_redis_drop(r);
            return LB_EREDIS;
        }
    }
    return 0;
}

/* The connection is dropped while the arena functions are still installed,
 * so that a half-built reply is "freed" by the no-op. */
redisReply *lb_reply_read(struct lb_redis *r, struct lb_arena *a, struct lb_error *err)
{
    redisContext *c = lb_redis_ctx(r);
    if (c == NULL) {
        lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(r));
        return NULL;
    }
    lb_arena_reset(a);
    redisReplyObjectFunctions *saved = c->reader->fn;
    void *saved_priv = c->reader->privdata;
    c->reader->fn = &lb_arena_fns;
    c->reader->privdata = a;
    void *rep = NULL;
    if (redisGetReply(c, &rep) != REDIS_OK || rep == NULL) {
        if (c->err == REDIS_ERR_OOM) /* the arena could not grow: not the connection */
            lb_error_set(err, LB_ENOMEM, "out of memory while reading a reply from redis at %s",
                         lb_redis_addr(r));
        else
            lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r),
                         c->errstr[0] ? c->errstr : "connection lost");
        lb_redis_drop(r);
        return NULL;
    }
    c->reader->fn = saved;
    c->reader->privdata = saved_priv;
    return rep;
}

int lb_reply_error(struct lb_redis *r, const char *cmd, const char *arg, const char *msg,
                   struct lb_error *err)
{
    if (lb_redis_is_transient(msg))
        return lb_error_set(err, LB_EREDIS, "redis at %s: %s %s refused for now: %s",
                            lb_redis_addr(r), cmd, arg, msg);
    return lb_error_set(err, lb_redis_is_auth_error(msg) ? LB_EAUTH : LB_EREPLY,
                        "redis at %s: %s %s: %s", lb_redis_addr(r), cmd, arg, msg);
}

const redisReply *lb_reply_map_get(const redisReply *map, const char *key)
{
    if (map == NULL || map->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        const redisReply *k = map->element[i];
        if ((k->type == REDIS_REPLY_STRING || k->type == REDIS_REPLY_STATUS) &&
            strcmp(k->str, key) == 0)
            return map->element[i + 1];
    }
    return NULL;
}
