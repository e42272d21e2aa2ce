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

struct lb_xrange {
    struct lb_redis *r;
    const char *key;
    char start[LB_SID_BUF], end[LB_SID_BUF]; /* start: of the page asked for next */
    int inflight;                            /* the request for `start` is on the wire */
    int more;                                /* the range may hold more after the last page */
    int lazy; /* no read-ahead: several readers share one connection (stream_merge.c) */
    struct lb_arena arena;
};

/* Ask for the first page of XRANGE key start end (as XRANGE takes them:
 * -, +, ms, ms-seq). x is set up even on error (lb_xrange_free it). 0,
 * LB_ENOMEM or LB_EREDIS. */
int lb_xrange_begin(struct lb_xrange *x, struct lb_redis *r, const char *key, const char *start,
                    const char *end, struct lb_error *err);

/* The same without read-ahead: nothing is sent until lb_xrange_next, which
 * then sends and reads one page. Several such readers can share a connection
 * (replies arrive in the order asked; a reader's page stays in its own arena
 * while the others read theirs). Never fails (0). */
int lb_xrange_begin_lazy(struct lb_xrange *x, struct lb_redis *r, const char *key,
                         const char *start, const char *end);

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
 * usable. 0 or an error code. */
int lb_xrange_abort(struct lb_xrange *x, struct lb_error *err);

/* Free the arena (not the connection). NULL-safe, and safe on a zeroed x. */
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
