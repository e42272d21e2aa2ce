/*
 * stream_merge.h - the entries of several streams as one sequence in
 * entry-ID order (DESIGN.md section 8), for export, parity and status.
 *
 * One XRANGE reader per stream, all on one connection through a pipe
 * (stream_reader.c: each reader's next page is asked for ahead of its use,
 * so Redis builds it while the merge works; at most two pages of
 * LB_XRANGE_PAGE entries per stream in memory, in each reader's arenas), and
 * a k-way merge of their heads (a heap). Order:
 *  - two heads with the same src (provenance) go in `off` order, so lines of
 *    one file keep their file order even when their IDs do not (--id ts on a
 *    file whose clock stepped back);
 *  - otherwise the smaller entry ID first; equal IDs by stream name (a
 *    mirror finds streams at different times, and a restart must expect
 *    the order a live mirror wrote).
 * Each head is decoded once (entry.c, one decoder per stream); the caller
 * gets the decoded entry.
 */
#ifndef LB_STREAM_MERGE_H
#define LB_STREAM_MERGE_H

#include "entry.h"
#include "error.h"
#include "redis.h"
#include "stream_reader.h"

struct lb_merge_src {
    const char *key;
    struct lb_xrange xr;
    const redisReply *page; /* the current page; NULL before the first */
    size_t pos;             /* the head: page->element[pos] */
    int done;
    struct lb_entry_decoder dec;
    struct lb_entry head;
};

struct lb_merge {
    struct lb_merge_src *s;
    int n;
    struct lb_redis *r;
    struct lb_xpipe pipe;
    int asked; /* every reader's first page was asked for */
    /* The streams with a head, as a binary min-heap in merged order (so an
     * entry costs log n comparisons, not n); built once every stream has
     * its first page or is done. A stream done is out of it. */
    int *heap;
    int nheap;
    int built;
    int last; /* the source of the entry returned last (advanced at the next call), or -1 */
    const redisReply *raw; /* that entry as Redis sent it */
};

/* Set up readers of keys[0..n) over [start, end] (as XRANGE takes them) on
 * r; nothing is sent yet. The keys are borrowed. 0 or LB_ENOMEM. */
int lb_merge_begin(struct lb_merge *m, struct lb_redis *r, const char *const *keys, int n,
                   const char *start, const char *end, const char *json_field,
                   struct lb_error *err);

/* The same with a start and an end per stream (starts[i], ends[i] for
 * keys[i]; NULL: start or end for all): mirror resumes each stream after its
 * own last ID, and --once stops each at its own last ID. */
int lb_merge_begin_each(struct lb_merge *m, struct lb_redis *r, const char *const *keys, int n,
                        const char *const *starts, const char *start,
                        const char *const *ends, const char *end, const char *json_field,
                        struct lb_error *err);

/* Whether a goes before b in the merged order (above); mirror's live merge
 * orders its heads by the same rule. */
int lb_merge_before(const struct lb_entry *a, const struct lb_entry *b);

/* The next entry in merged order: 1 with *e (valid until the next call) and
 * *which (the index of its stream), 0 when every stream is exhausted, or an
 * error as lb_xrange_next (a lost connection: LB_EREDIS, and calling again
 * after a reconnect carries on where it was). */
int lb_merge_next(struct lb_merge *m, const struct lb_entry **e, int *which,
                  struct lb_error *err);

/* Is the entry returned last (m->raw) the last of its page? Then the next
 * lb_merge_next may reuse its memory; else it lives until its stream moves
 * on again. */
int lb_merge_raw_ends_page(const struct lb_merge *m);

/* Read every page asked for ahead off the wire (kept for the merge), so
 * that the caller can send other commands on the connection between two
 * lb_merge_next. 0 or an error code (LB_EREDIS: asked again later). */
int lb_merge_drain(struct lb_merge *m, struct lb_error *err);

/* Free everything (not the connection). Pages asked for ahead may still be
 * on the wire: lb_merge_drain first when the connection is used on, or drop
 * it. NULL-safe on a zeroed m. */
void lb_merge_free(struct lb_merge *m);

#endif
