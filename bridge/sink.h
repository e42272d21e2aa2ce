/*
 * sink.h - the batched, atomic write of a file's lines to Redis.
 *
 * A batch is the lines of one src: its XADDs, its DLQ entries and its
 * checkpoint update travel in one round trip and are applied atomically, all
 * or nothing: the script checks every write; if one fails, it removes what
 * the batch wrote and leaves the checkpoint where it was, so the checkpoint
 * never moves past a line that was not written (DESIGN.md section 4.1).
 * The committer (committer.h) is the one user of this module.
 *
 * Arguments point into the caller's read buffer (no copy per line) until
 * lb_sink_commit returns.
 */
#ifndef LB_SINK_H
#define LB_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "error.h"
#include "record.h"
#include "redis.h"

struct lb_sink_opts {
    const char *stream;     /* a name, or a template with %{type} / %{role} */
    int id_ts;              /* --id ts */
    int provenance;         /* src and off fields */
    int json_encoding;      /* --encoding json */
    const char *json_field; /* --json-field */
    long long maxlen;       /* 0 = no trimming */
    int trim_ignore_groups;
    size_t batch_max; /* lines per batch */
};

/* Why a batch was refused (it then applied nothing). */
enum lb_sink_refusal {
    LB_SINK_LANDED = 0,
    LB_SINK_FENCED,    /* the checkpoint did not stand where the batch starts */
    LB_SINK_TRANSIENT, /* a refusal that clears by itself (OOM, BUSY, NOSCRIPT, ...) */
    LB_SINK_REFUSED    /* anything else (WRONGTYPE, NOPERM, ...): not retried */
};

struct lb_sink_result {
    size_t written;           /* stream entries */
    size_t bad;               /* DLQ entries */
    size_t reordered;         /* --id ts lines older than the stream's top */
    int trim_blocked;         /* a group held trimming back */
    int wait_short;           /* WAIT (--wait-replicas) heard from fewer replicas */
    int refused;              /* enum lb_sink_refusal, with LB_EREPLY / LB_EAUTH */
    uint64_t ck_off, ck_line; /* where the checkpoint now stands */
    char last_id[48];
};

/* Returns the fingerprint of the first min(off, 1 KiB) bytes of the file. */
typedef int (*lb_sink_fp_fn)(void *ctx, uint64_t off, char hex[LB_FP_HEX]);

struct lb_sink;

/* Copies nothing from opts but the pointers: strings must outlive the sink. */
struct lb_sink *lb_sink_create(const struct lb_sink_opts *opts, struct lb_error *err);
void lb_sink_destroy(struct lb_sink *k);

/* The keys derived from the stream (or template). */
const char *lb_sink_ckpt_key(const struct lb_sink *k);
const char *lb_sink_dlq_key(const struct lb_sink *k);

/* Start a batch for src, whose checkpoint identity is dev/ino and whose last
 * written entry id is prev_id ("" if none). */
void lb_sink_begin(struct lb_sink *k, const char *src, unsigned long long dev,
                   unsigned long long ino, const char *prev_id);

/* Queue a valid record (slices must stay valid until commit). */
int lb_sink_add(struct lb_sink *k, const struct lb_record *rec, uint64_t off, uint64_t line);

/* Queue a bad line for the DLQ: raw holds its first bytes, raw_len its length. */
int lb_sink_add_bad(struct lb_sink *k, enum lb_reason reason, const char *raw, size_t n,
                    size_t raw_len, uint64_t off, uint64_t line);

size_t lb_sink_pending(const struct lb_sink *k);
int lb_sink_full(const struct lb_sink *k);

/* Send the batch and move the checkpoint of src to (end_off, end_line), and
 * wait for the reply. With nothing queued it still writes the checkpoint
 * (blank lines advance it). Returns 0 (landed; the batch is cleared),
 * LB_EREDIS (connection lost: the outcome is unknown), LB_EAUTH or LB_EREPLY
 * (refused: res->refused says how; nothing applied). Unless it landed the
 * batch is kept, to be sent again (after lb_sink_fence) by a caller that
 * cannot read its lines again. */
int lb_sink_commit(struct lb_sink *k, struct lb_redis *r, uint64_t end_off, uint64_t end_line,
                   lb_sink_fp_fn fp, void *fp_ctx, struct lb_sink_result *res,
                   struct lb_error *err);

/* The next batch applies only if the checkpoint of src in Redis is exactly
 * `at` (dev, ino, off, line; or absent when !at->present) - else it is
 * refused whole (LB_SINK_FENCED) - so that when a batch is refused, one sent
 * after it in the same pipeline (or by another process on the same file)
 * cannot move the checkpoint past lines never written. Each batch built
 * moves the fence to its own end; lb_sink_begin and lb_sink_forget clear it.
 * After a lost connection, set it again to where the checkpoint stands. */
void lb_sink_fence(struct lb_sink *k, const struct lb_ckpt *at);

/* Drop what is queued (after a failure, before re-reading from a checkpoint). */
void lb_sink_reset(struct lb_sink *k);

/*
 * Pipelined use: send a batch without waiting for its reply, so that the
 * next batch is read and parsed while Redis runs this one. The batch's
 * arguments are copied into the connection's buffer, so the caller's lines
 * are free once lb_sink_send returns. Replies come back in order through
 * lb_sink_recv. After LB_EREDIS from either, the outcome of every batch in
 * flight is unknown: reconnect, lb_sink_forget, and re-read the file from
 * the checkpoint held in Redis (it is one of the batches' ends).
 */
int lb_sink_send(struct lb_sink *k, struct lb_redis *r, uint64_t end_off, uint64_t end_line,
                 lb_sink_fp_fn fp, void *fp_ctx, struct lb_error *err);
int lb_sink_recv(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                 struct lb_error *err);
/* As lb_sink_recv, but reads only replies that have arrived: LB_SINK_AGAIN
 * when the oldest batch's are not all there yet (nothing lost: call again). */
#define LB_SINK_AGAIN 1
int lb_sink_recv_ready(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                       struct lb_error *err);
size_t lb_sink_inflight(const struct lb_sink *k);
void lb_sink_forget(struct lb_sink *k);

#endif
