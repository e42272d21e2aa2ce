/*
 * reply.h - the one way the stream side sends a command and reads a big
 * reply over the connection of redis.c: send now (pipelined, the reply read
 * later), read a reply into an arena instead of hiredis's malloc per element,
 * and say what an error reply means (wait it out, a refused password, or a
 * real error).
 *
 * An arena reply is the same struct redisReply tree hiredis would build, but
 * carved out of blocks that are reused, its strings (NUL-terminated as
 * hiredis's) left where they were read: it lives until the next
 * lb_reply_read on the same arena (other reads on the connection do not
 * touch it) and is never given to freeReplyObject.
 */
#ifndef LB_REPLY_H
#define LB_REPLY_H

#include "error.h"
#include "redis.h"

struct lb_arena_blk;

struct lb_arena {
    struct lb_arena_blk *head; /* the block being filled; older ones follow */
    struct lb_arena_blk *spare;
    /* The reply's strings are not copied: they stay in the read buffers they
     * arrived in, which the arena owns once the reply is read (reply.c). */
    char *segs;          /* those buffers (sds), linked through their first bytes */
    char *seg_spare;     /* one kept for the next reply */
    const char *lo, *hi; /* the reader's buffer while a reply is read into the arena */
    /* Bytes a reply is expected to take on the wire (0: up to 256 KiB per
     * read, as a single reader of big pages wants). Reads and blocks are
     * sized to it, so that a thousand readers of small pages do not each
     * hold a megabyte; a bigger reply still fits (more reads, more blocks). */
    size_t want;
};

/* The expected size of a reply: `want` bytes on the wire. */
void lb_arena_expect(struct lb_arena *a, size_t want);

/* Free every block (the arena may be zeroed or used). */
void lb_arena_free(struct lb_arena *a);

/* Append a command and write it out now, without reading its reply, so that
 * Redis works on it while we work on the previous reply. 0, LB_ENOMEM, or
 * LB_EREDIS (the connection is dropped). */
int lb_reply_send(struct lb_redis *r, int argc, const char **argv, const size_t *lens,
                  struct lb_error *err);

/* Read the next reply into the arena (whose previous reply is forgotten).
 * NULL with err set: LB_EREDIS when the connection died (it is dropped),
 * LB_ENOMEM when the arena could not grow. */
redisReply *lb_reply_read(struct lb_redis *r, struct lb_arena *a, struct lb_error *err);

/* An error reply msg to `cmd arg`: a refusal that clears by itself (OOM under
 * maxmemory, LOADING, READONLY...: lb_redis_is_transient) is LB_EREDIS, to be
 * waited out like an outage with the connection kept (DESIGN.md 4.5); a
 * refused password is LB_EAUTH; anything else LB_EREPLY. Returns the code. */
int lb_reply_error(struct lb_redis *r, const char *cmd, const char *arg, const char *msg,
                   struct lb_error *err);

/* The value after `key` in a flat key/value array reply (RESP2 maps such as
 * XINFO's), or NULL. */
const redisReply *lb_reply_map_get(const redisReply *map, const char *key);

#endif
