/*
 * committer.h - the one way a file's lines reach Redis (DESIGN.md 4.1), for
 * import and tail alike.
 *
 * A committer carries one source at a time (one src, one generation of a
 * file): it classifies each line, queues it in the sink, counts what each
 * batch holds, and sends batches pipelined (up to `flights` in flight), so
 * that the next batch is read while Redis runs this one. Every batch is
 * fenced on the checkpoint it starts from, so a batch sent after a refused
 * one - or by another process on the same file - applies nothing.
 *
 * The checkpoint in Redis is the truth. Whenever the outcome is not known
 * (a lost connection) or a batch was refused, the committer forgets what it
 * sent, and lb_committer_resync reads the checkpoint again: which batches
 * landed, where to read the file again from, and whether the checkpoint went
 * backwards (a failover that lost acknowledged writes) or was moved by
 * someone else. The caller only reconnects and repositions its reader.
 *
 * Every change of what Redis holds is reported through one callback, so the
 * caller's own copy of the checkpoint (and its counters) cannot drift.
 */
#ifndef LB_COMMITTER_H
#define LB_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "error.h"
#include "feed.h"
#include "redis.h"
#include "sink.h"
#include "source.h"

/* What one checkpoint change brought. */
struct lb_commit_event {
    struct lb_ckpt ck;                    /* the checkpoint of src in Redis now */
    uint64_t written, bad, blank, bytes;  /* lines and bytes that landed with it */
    uint64_t reordered;                   /* --id ts lines written at the top's ms */
    int trim_blocked;                     /* -1: unknown (not a landing) */
    int wait_short;                       /* WAIT heard from fewer replicas than asked */
    double seconds;                       /* from send to reply (0: not a landing) */
};

typedef void (*lb_commit_fn)(void *ctx, const struct lb_commit_event *ev);

/* The source a committer carries. */
struct lb_commit_source {
    const char *src;              /* must outlive the committer's use of it */
    unsigned long long dev, ino;  /* the identity its checkpoint will carry */
    struct lb_ckpt ck;            /* the checkpoint in Redis, as last read */
    int unfenced;                 /* ck unreadable: the first batch replaces it unchecked */
    uint64_t off, line;           /* where reading starts (a line start) */
    uint64_t start_off, start_line; /* where this file's reading began: read again from
                                     * here when the checkpoint no longer describes it */
    lb_sink_fp_fn fp;             /* fingerprint of the first min(off, 1 KiB) bytes */
    void *fp_ctx;
    int rereadable;               /* 0: stdin: a batch is kept until it lands */
    int record_start;             /* a batch even before anything is read: where reading
                                   * starts is recorded (tail: the file is known as
                                   * followed, and parity counts its lines as pending) */
};

struct lb_committer;

/* The committer uses (does not own) sink, feed and r. flights: 1..4. */
struct lb_committer *lb_committer_create(struct lb_sink *k, struct lb_feed *feed,
                                         struct lb_redis *r, int flights, lb_commit_fn on_ckpt,
                                         void *ctx);
void lb_committer_destroy(struct lb_committer *c);

/* Carry s from now on. Batches in flight for the previous source must have
 * been settled (lb_committer_flush(c, 0)). A fingerprint at s->off that is
 * already known (s->ck describes this file, off >= 1 KiB) is taken from it. */
void lb_committer_begin(struct lb_committer *c, const struct lb_commit_source *s);

enum { LB_COMMIT_STRICT = 1 }; /* lb_committer_line: a bad line under --strict */

/* Classify and queue one line; when the batch is full it is sent (keeping
 * `flights - 1` in flight). With strict, a bad line is not queued: the
 * batches before it are settled and LB_COMMIT_STRICT is returned. With
 * dry_run set (lb_committer_dry_run) nothing is sent and batches "land" at
 * once. *why_out (may be NULL) gets the line's classification. Returns 0,
 * LB_COMMIT_STRICT, or an error of lb_committer_flush. */
int lb_committer_line(struct lb_committer *c, const struct lb_line *line, int strict,
                      enum lb_reason *why_out, struct lb_error *err);

/* Send the open batch when it would change the checkpoint, then read replies
 * until at most `keep` batches are in flight. Returns 0; LB_EREDIS when the
 * outcome is unknown or the batch was refused by something that clears by
 * itself (reconnect or back off, then lb_committer_resync); LB_EREPLY or
 * LB_EAUTH for a refusal that does not clear (nothing of it applied); LB_EIO
 * or LB_ENOMEM. After any error nothing is in flight. */
int lb_committer_flush(struct lb_committer *c, int keep, struct lb_error *err);

/* Read the replies that have already arrived (the connection is readable),
 * without waiting for the others. Same returns as lb_committer_flush. */
int lb_committer_poll(struct lb_committer *c, struct lb_error *err);

/* Where the source is to be read again from, after lb_committer_resync. */
struct lb_commit_resync {
    uint64_t off, line;
    int regressed;       /* the checkpoint went backwards (failover) */
    uint64_t lost_from;  /* regressed: the byte range sent again */
    int moved;           /* someone else moved it past what we sent */
    int restart;         /* it no longer describes this file: read from the start */
};

/* Say at warn what a resync found that the operator must know: the
 * checkpoint went back (a failover lost acknowledged batches: the byte range
 * sent again; was = where the caller last knew it). The one wording of it,
 * for tail and import. Nothing when it did not regress. */
void lb_commit_resync_warn(const struct lb_commit_resync *rs, const char *src, uint64_t was);

/* After LB_EREDIS (and a reconnect): read the checkpoint of src in Redis;
 * report the batches that landed; forget the rest. out says where to read
 * again (the caller repositions its reader there, or, for a source that is
 * not rereadable, the committer resends the kept batch on the next flush).
 * Returns 0, LB_EREDIS (try again later), or another error. */
int lb_committer_resync(struct lb_committer *c, struct lb_commit_resync *out,
                        struct lb_error *err);

/* Nothing is sent; batches count as landed at once (import --dry-run). */
void lb_committer_dry_run(struct lb_committer *c);

size_t lb_committer_inflight(const struct lb_committer *c);
/* Just past the last line queued / the checkpoint as last known. */
uint64_t lb_committer_end_off(const struct lb_committer *c);
uint64_t lb_committer_end_line(const struct lb_committer *c);
const struct lb_ckpt *lb_committer_ckpt(const struct lb_committer *c);
/* Would a flush send anything? */
int lb_committer_dirty(const struct lb_committer *c);

#endif
