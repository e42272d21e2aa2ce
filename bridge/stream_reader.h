/*
 * stream_reader.h - reading a stream's entries for mirror, export, parity
 * and status: paged XRANGE with a read-ahead of one request, and XREAD
 * (BLOCK) for a follower. Replies come through reply.c's arena (no malloc
 * per element, no private RESP parser): a page lives until the next call.
 *
 * Paging uses inclusive starts (the ID after the page's last, lb_sid_next),
 * which works on every Redis with streams; the exclusive "(id" of 6.2 is not
 * needed.
 */
#ifndef LB_STREAM_READER_H
#define LB_STREAM_READER_H

#include <stddef.h>

#include "error.h"
#include "redis.h"
#include "reply.h"
#include "stream_id.h"

#define LB_XRANGE_PAGE 1000 /* entries per XRANGE page */
#define LB_XRANGE_ENTRY_WIRE 512 /* bytes of a typical entry in an XRANGE reply (a guess: bigger ones fit, in more reads) */

struct lb_xpipe;

struct lb_xrange {
    struct lb_redis *r;
    const char *key;
    char start[LB_SID_BUF], end[LB_SID_BUF]; /* start: of the page asked for next */
    int inflight;                            /* the request for `start` is on the wire */
    int more;                                /* the range may hold more after the last page */
    int count;                               /* entries per page (LB_XRANGE_PAGE) */
    struct lb_arena arena;                   /* the page returned last */
    /* Several readers on one connection (lb_xrange_begin_piped): */
    struct lb_xpipe *pipe;
    struct lb_arena ahead;    /* the next page, read off the wire before its turn */
    const redisReply *ready;  /* that page (in `ahead`), or NULL */
};

/*
 * Several readers sharing one connection, each with its next page asked for
 * ahead of its use (stream_merge.c: k streams merged). Replies come back in
 * the order asked, so the pipe keeps that order: when a reader needs its
 * page, the replies before it are read into their own readers' `ahead`
 * arenas (each reader has at most one request in flight). Memory: two pages
 * per reader.
 */
struct lb_xpipe {
    struct lb_xrange **q; /* readers with a request in flight, in wire order (a ring) */
    int head, n, cap;
};

/* Room for cap readers. 0 or LB_ENOMEM. */
int lb_xpipe_init(struct lb_xpipe *p, int cap, struct lb_error *err);

/* Read every reply in flight into its reader (nothing of the pipe is left on
 * the wire: the connection can carry other commands). 0 or an error code
 * (a lost connection: LB_EREDIS; every request is then asked again). */
int lb_xpipe_drain(struct lb_xpipe *p, struct lb_redis *r, struct lb_error *err);

/* Free the ring (not the readers). NULL-safe. */
void lb_xpipe_free(struct lb_xpipe *p);

/* Ask for the first page of XRANGE key start end (as XRANGE takes them:
 * -, +, ms, ms-seq). x is set up even on error (lb_xrange_free it). 0,
 * LB_ENOMEM or LB_EREDIS. */
int lb_xrange_begin(struct lb_xrange *x, struct lb_redis *r, const char *key, const char *start,
                    const char *end, struct lb_error *err);

/* A reader of a pipe (above), with pages of `count` entries (the pipe's
 * readers share a memory budget): nothing is sent until lb_xrange_ask or
 * lb_xrange_next. Never fails (0). */
int lb_xrange_begin_piped(struct lb_xrange *x, struct lb_xpipe *p, struct lb_redis *r,
                          const char *key, const char *start, const char *end, int count);

/* A piped reader: ask for the next page now, unless it is asked for, read
 * ahead, or the range is over (so that k readers' first pages cost one round
 * trip). 0 or an error code. */
int lb_xrange_ask(struct lb_xrange *x, struct lb_error *err);

/*
 * Receive the next page and, when it was full, ask for the one after it
 * before returning (Redis builds page k+1 while the caller works on k).
 * 1 with *page (an array of entries, valid until the next call), 0 when the
 * range is exhausted, or an error: a lost connection is LB_EREDIS with the
 * connection dropped, and calling again after a reconnect asks for the same
 * page again (reads have no side effect); an error reply is lb_reply_error's
 * code with the connection kept.
 */
int lb_xrange_next(struct lb_xrange *x, const redisReply **page, struct lb_error *err);

/* Stop early: read and drop the reply in flight, so the connection stays
 * usable (a piped reader: lb_xpipe_drain, for all of them). 0 or an error
 * code. */
int lb_xrange_abort(struct lb_xrange *x, struct lb_error *err);

/* Free the arenas (not the connection). NULL-safe, and safe on a zeroed x. */
void lb_xrange_free(struct lb_xrange *x);

/* Send XREAD COUNT count [BLOCK block_ms] STREAMS key after, without waiting
 * for its reply (read it with lb_reply_read). block_ms < 0: no BLOCK. 0 or
 * as lb_reply_send. */
int lb_xread_send(struct lb_redis *r, const char *key, const char *after, long long count,
                  int block_ms, struct lb_error *err);

/* The entries of an XREAD reply for one stream ([[key, [entries]]]), or NULL
 * when it holds none (nil: nothing new within BLOCK). */
const redisReply *lb_xread_entries(const redisReply *rep);

#endif
