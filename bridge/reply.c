/*
 * reply.c - sending now and reading big replies into an arena (see reply.h).
 */
#include "reply.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/sds.h>

#if HIREDIS_MAJOR != 0 || HIREDIS_MINOR != 14
#error "reply.c keeps strings in hiredis 0.14's reader buffer (see the segments below): review it"
#endif

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
#define LB_ARENA_BLK_MIN (8 * 1024)
#define LB_ARENA_KEEP 16 /* blocks kept across resets (4 MiB of default blocks) */
#define LB_ARENA_TREE 3  /* bytes of reply tree per byte on the wire (XRANGE) */

/* The size of a block: the tree of one expected reply, or LB_ARENA_BLK. */
static size_t lb_arena_blk_size(const struct lb_arena *a)
{
    if (a->want == 0 || a->want >= LB_ARENA_BLK / LB_ARENA_TREE)
        return LB_ARENA_BLK;
    size_t n = a->want * LB_ARENA_TREE;
    return n < LB_ARENA_BLK_MIN ? LB_ARENA_BLK_MIN : n;
}

/* A new block for n bytes (a spare one if it is big enough). */
static struct lb_arena_blk *lb_arena_grow(struct lb_arena *a, size_t n)
{
    struct lb_arena_blk *b;
    if (a->spare != NULL && a->spare->cap >= n) {
        b = a->spare;
        a->spare = b->next;
    } else {
        size_t blk = lb_arena_blk_size(a);
        size_t cap = n > blk ? n : blk;
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

static void lb_seg_release(struct lb_arena *a);

/* Forget every reply carved so far; keep a few blocks for the next one. */
static void lb_arena_reset(struct lb_arena *a)
{
    lb_seg_release(a);
    int kept = 0;
    size_t blk = lb_arena_blk_size(a);
    for (struct lb_arena_blk *b = a->spare; b != NULL; b = b->next)
        kept++;
    while (a->head != NULL) {
        struct lb_arena_blk *b = a->head;
        a->head = b->next;
        if (kept < LB_ARENA_KEEP && b->cap == blk) {
            b->next = a->spare;
            a->spare = b;
            kept++;
        } else {
            free(b);
        }
    }
}

void lb_arena_expect(struct lb_arena *a, size_t want)
{
    a->want = want;
}

void lb_arena_free(struct lb_arena *a)
{
    lb_arena_reset(a);
    while (a->spare != NULL) {
        struct lb_arena_blk *b = a->spare;
        a->spare = b->next;
        free(b);
    }
    if (a->seg_spare != NULL)
        sdsfree(a->seg_spare);
    a->seg_spare = NULL;
}

/*
 * Segments: the reader's buffer, with the reply's strings left in it.
 *
 * Copying each string out of hiredis's buffer (a memcpy per field), feeding
 * it 16 KiB per read() and its compaction after every pass (a memmove of
 * what is left) were a quarter of parity's CPU. Instead the buffer is one of
 * ours while an arena reply is read: an sds whose lower half is a gap and
 * whose upper half is read into directly, 256 KiB at a time. A string
 * element points into it (the '\r' after it, already parsed, becomes its
 * NUL), and once the reply is complete the buffer goes to the arena, the
 * reader getting another one with the bytes that followed the reply.
 *
 * hiredis 0.14 compacts its buffer after every pass that consumed 1 KiB
 * (redisReaderGetReply: sdsrange(buf, pos, -1), pos = 0): the unparsed tail
 * is moved to the front and a NUL written after it. Parsing here starts at
 * the gap's end (lo), and the unparsed tail is kept shorter than lo bytes,
 * so that move and its NUL land in the gap, below every string, and leave
 * the source intact: the pass is undone by restoring pos and the length.
 * Bytes that do not fit continue in a new segment (the full one goes to the
 * arena: strings never move).
 */
#define LB_SEG_READ (256 * 1024)      /* bytes per read() at most */
#define LB_SEG_READ_MIN (4 * 1024)   /* ... and at least, whatever the arena expects */
#define LB_SEG_KEEP (4 * 1024 * 1024) /* a bigger spare is freed, not kept */

/* Bytes per read() into the arena's segments: its expected reply, within
 * [LB_SEG_READ_MIN, LB_SEG_READ]. A segment holds a gap and twice that (so
 * 1 MiB for the default), and one with less than an eighth of it left is
 * full. */
static size_t lb_seg_read_size(const struct lb_arena *a)
{
    if (a->want == 0 || a->want >= LB_SEG_READ)
        return LB_SEG_READ;
    return a->want < LB_SEG_READ_MIN ? LB_SEG_READ_MIN : a->want;
}

/* The arena's segments to its spare (one) or freed. */
static void lb_seg_release(struct lb_arena *a)
{
    while (a->segs != NULL) {
        char *s = a->segs;
        memcpy(&a->segs, s, sizeof(a->segs));
        if (a->seg_spare == NULL && sdsalloc(s) <= LB_SEG_KEEP)
            a->seg_spare = s;
        else
            sdsfree(s);
    }
}

/* The reader's buffer holds strings of the reply being read: the arena's
 * from now on. The gap's first bytes link it (nothing lives there). */
static void lb_seg_retire(struct lb_arena *a, char *s)
{
    memcpy(s, &a->segs, sizeof(a->segs));
    a->segs = s;
}

/* Make the reader's buffer a segment: its unparsed bytes at the gap's end,
 * with room for at least a read after them. It is reused when it is big
 * enough (rd->buf is kept only if keep). 0 or LB_ENOMEM (reader unchanged). */
static int lb_seg_enter(redisReader *rd, struct lb_arena *a, int keep)
{
    /* sdsMakeRoomFor doubles what is asked (below 1 MiB): 2 * need. */
    size_t left = rd->len - rd->pos, need = 2 * (left + lb_seg_read_size(a));
    char *s = rd->buf;
    if (keep || sdsalloc(s) < need) {
        s = NULL;
        if (a->seg_spare != NULL && sdsalloc(a->seg_spare) >= need) {
            s = a->seg_spare;
            a->seg_spare = NULL;
        } else {
            char *e = sdsempty();
            if (e == NULL || (s = sdsMakeRoomFor(e, need)) == NULL) {
                if (e != NULL)
                    sdsfree(e);
                return LB_ENOMEM;
            }
        }
    }
    size_t gap = sdsalloc(s) / 2;
    memmove(s + gap, rd->buf + rd->pos, left);
    s[gap + left] = '\0';
    sdssetlen(s, gap + left);
    if (s != rd->buf) {
        if (keep)
            lb_seg_retire(a, rd->buf);
        else
            sdsfree(rd->buf);
        rd->buf = s;
    }
    rd->pos = gap;
    rd->len = gap + left;
    rd->maxbuf = 0; /* hiredis would free it when drained: keep it */
    a->lo = s + gap;
    a->hi = s + sdsalloc(s);
    return 0;
}

/* How much may be read: what the buffer holds, and fewer unparsed bytes
 * than the gap below lo: the compaction writes them and a NUL after them. */
static size_t lb_seg_room(const redisReader *rd, const struct lb_arena *a)
{
    size_t gap = (size_t)(a->lo - rd->buf), left = rd->len - rd->pos;
    size_t room = sdsavail(rd->buf);
    return left + 1 >= gap ? 0 : room < gap - left - 1 ? room : gap - left - 1;
}

/* One pass of hiredis's parser, its compaction undone (see above). */
static int lb_seg_parse(redisReader *rd, void **rep)
{
    size_t before = rd->pos, len = rd->len;
    if (redisReaderGetReply(rd, rep) != REDIS_OK)
        return REDIS_ERR;
    if (rd->pos == 0 && before > 0) { /* compacted: the parsed end is where the tail began */
        size_t end = len - rd->len;
        sdssetlen(rd->buf, len);
        rd->buf[len] = '\0';
        rd->pos = end;
        rd->len = len;
    }
    return REDIS_OK;
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

/* A string that is not in the reader's segment, or the block is full. */
__attribute__((noinline)) static void *lb_arena_string_slow(const redisReadTask *task, char *str,
                                                            size_t len)
{
    const struct lb_arena *a = task->privdata;
    int in_seg = str >= a->lo && len < (size_t)(a->hi - str);
    redisReply *r = lb_arena_obj(task, task->type, in_seg ? 0 : len + 1);
    if (r == NULL)
        return NULL;
    if (in_seg) {
        r->str = str;
    } else {
        r->str = (char *)(r + 1);
        memcpy(r->str, str, len);
    }
    r->str[len] = '\0';
    r->len = len;
    return r;
}

_Static_assert(sizeof(redisReply) % 16 == 0, "a reply object keeps the arena's alignment");

/* The hot path of a reply (13 strings per stream entry): the string stays in
 * the segment, followed by its CRLF, already parsed, whose '\r' becomes its
 * NUL; only the object is carved. */
static void *lb_arena_string(const redisReadTask *task, char *str, size_t len)
{
    struct lb_arena *a = task->privdata;
    struct lb_arena_blk *b = a->head;
    if (str < a->lo || len >= (size_t)(a->hi - str) || b == NULL ||
        b->cap - b->used < sizeof(redisReply))
        return lb_arena_string_slow(task, str, len);
    redisReply *r = (redisReply *)((char *)b->data + b->used);
    b->used += sizeof(redisReply);
    *r = (redisReply){.type = task->type, .str = str, .len = len};
    str[len] = '\0';
    if (task->parent != NULL)
        ((redisReply *)task->parent->obj)->element[task->idx] = r;
    return r;
}

static void *lb_arena_array(const redisReadTask *task, int elements)
{
    redisReply *r = lb_arena_obj(task, REDIS_REPLY_ARRAY, 0);
    if (r == NULL)
        return NULL;
    if (elements > 0) {
        size_t n = (size_t)elements * sizeof(redisReply *);
        /* not cleared: hiredis sets every element before the reply is
         * complete, and an incomplete one is never looked at */
        if ((r->element = lb_arena_alloc(task->privdata, n)) == NULL)
            return NULL;
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
    return lb_redis_flush(r, err);
}

/* The connection is dropped while the arena functions are still installed,
 * so that a half-built reply is "freed" by the no-op. The reader's buffer is
 * always the reader's (redisFree frees it); the segments that hold the
 * reply's strings are the arena's. */
redisReply *lb_reply_read(struct lb_redis *r, struct lb_arena *a, struct lb_error *err)
{
    redisContext *c = lb_redis_ctx(r);
    if (c == NULL) {
        lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(r));
        return NULL;
    }
    lb_arena_reset(a);
    redisReader *rd = c->reader;
    if (c->err != 0 || rd->err != 0) {
        lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r),
                     c->errstr[0] ? c->errstr : rd->errstr);
        lb_redis_drop(r);
        return NULL;
    }
    if (lb_seg_enter(rd, a, 0) != 0)
        goto oom;
    redisReplyObjectFunctions *saved = rd->fn;
    void *saved_priv = rd->privdata;
    rd->fn = &lb_arena_fns;
    rd->privdata = a;
    void *rep = NULL;
    for (;;) {
        if (lb_seg_parse(rd, &rep) != REDIS_OK) {
            if (rd->err == REDIS_ERR_OOM) /* the arena could not grow: not the connection */
                goto oom;
            lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r), rd->errstr);
            lb_redis_drop(r);
            return NULL;
        }
        if (rep != NULL)
            break;
        size_t room = lb_seg_room(rd, a), most = lb_seg_read_size(a);
        if (room < most / 8) {
            if (lb_seg_enter(rd, a, 1) != 0)
                goto oom;
            room = lb_seg_room(rd, a);
        }
        if (room > most)
            room = most;
        long n = lb_redis_read_into(r, rd->buf + rd->len, room, err);
        if (n <= 0)
            return NULL; /* dropped, with the arena functions still installed */
        sdsIncrLen(rd->buf, (int)n);
        rd->len += (size_t)n;
    }
    /* The reply's strings stay where they are: the bytes after it move on. */
    if (lb_seg_enter(rd, a, 1) != 0)
        goto oom;
    rd->fn = saved;
    rd->privdata = saved_priv;
    lb_redis_count_reply(r);
    if (((redisReply *)rep)->type == REDIS_REPLY_ERROR)
        lb_redis_refused(r, ((redisReply *)rep)->str);
    return rep;
oom:
    lb_error_set(err, LB_ENOMEM, "out of memory while reading a reply from redis at %s",
                 lb_redis_addr(r));
    lb_redis_drop(r);
    return NULL;
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
