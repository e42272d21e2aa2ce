/*
 * sink_int.h - what crosses the files of the sink (internal to sink*.c; the
 * committer uses sink.h only):
 *  - sink.c: the sink's life, sending a batch and reading its replies;
 *  - sink_batch.c: the batch (the argument vector and its arena) and the
 *    arguments of the batch script (lb_sink_build);
 *  - sink_fast.c: the fast path, valid lines as plain XADDs in RESP that run
 *    in a MULTI before the script, and their undo.
 * The batch script itself (sink_script.lua) is compiled into sink.c only.
 */
#ifndef LB_SINK_INT_H
#define LB_SINK_INT_H

#include "sink.h"

#include <stddef.h>
#include <stdint.h>

#define LB_SINK_HEADER 14    /* ARGV[1..14] */
#define LB_SINK_MAX_KEYS 256 /* distinct template streams in one batch */
#define LB_NO_ARENA ((size_t)-1)
#define LB_SINK_MAX_INFLIGHT 4

struct lb_sink {
    struct lb_sink_opts o;
    char ckpt_key[LB_KEY_MAX], dlq_key[LB_KEY_MAX];
    char set_key[LB_KEY_MAX]; /* a template's logbridge:streams:{T} (DESIGN.md section 8) */
    int is_template;
    char sha[41];

    /* the batch */
    const char *src;
    size_t srcn;
    unsigned long long dev, ino;
    char prev_id[48];
    size_t lines;

    /* entry arguments */
    const char **argv;
    size_t *lens;
    size_t *aoff; /* arena offset, or LB_NO_ARENA */
    size_t argc, argcap;

    char *arena;
    size_t alen, acap;

    size_t keys_aoff[LB_SINK_MAX_KEYS];
    size_t keys_len[LB_SINK_MAX_KEYS];
    size_t nkeys;

    /* the full vector at commit, and the strings it points to */
    const char **cargv;
    size_t *clens;
    size_t ccap;
    char fp_end[LB_FP_HEX], ckpre[128], nums[8][32], fence[128], flags[5];

    /* the fast path: valid lines as plain XADDs in RESP */
    int fast;
    char *resp;
    size_t rlen, rcap;
    size_t nat;
    size_t nbad; /* lines of the batch for the DLQ */
    unsigned long keys_conn; /* the connection the owned keys were made on */
    char nat_last_off[24];

    /* where the checkpoint must stand for the next batch to apply */
    int fenced;
    struct lb_ckpt fence_at;

    /* batches sent whose replies are still to be read, oldest first */
    uint64_t flight_off[LB_SINK_MAX_INFLIGHT], flight_line[LB_SINK_MAX_INFLIGHT];
    size_t flight_nat[LB_SINK_MAX_INFLIGHT];
    size_t inflight;
    /* replies of the oldest batch read so far (lb_sink_recv_ready reads
     * only what has arrived), and the first refusal among them */
    size_t rx_got;
    char rx_err[200];
    /* --wait-replicas: each batch is followed by WAIT, whose reply comes
     * after the batch's; the batch's outcome waits here meanwhile */
    int rx_waiting;
    int rx_rc;
    struct lb_sink_result rx_res;
    struct lb_error rx_errsave;
};

/* The batch script (sink_script.lua), its length without the final NUL. */
extern const char lb_sink_script[];
extern const size_t lb_sink_script_len;

/* v in decimal at out (room: 20 bytes); returns the length. Inline: the
 * fast path calls it for every bulk string. */
static inline size_t lb_u64_str(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* ---- the batch and the script's arguments (sink_batch.c) ------------------------ */

char *lb_sink_arena(struct lb_sink *k, size_t n);
size_t lb_sink_json_len(const struct lb_sink *k, const struct lb_record *rec);
size_t lb_sink_json(const struct lb_sink *k, const struct lb_record *rec, uint64_t off, char *p);
int lb_sink_build(struct lb_sink *k, uint64_t end_off, uint64_t end_line, lb_sink_fp_fn fp,
                  void *fp_ctx, struct lb_error *err);

/* ---- the fast path (sink_fast.c) ------------------------------------------------ */

int lb_sink_add_fast(struct lb_sink *k, const struct lb_record *rec, uint64_t off);
void lb_sink_undo(struct lb_sink *k, struct lb_redis *r, redisReply *const *ids, size_t nat);

/* The fast path notes the stream's length before its XADDs, in the same
 * MULTI, in the checkpoint hash under the field "" (no src is empty; KEYS[1]
 * the checkpoint hash, KEYS[2] the stream); the batch script takes it and
 * removes it, in the same transaction, so no client ever sees it. Short: its
 * body travels with every batch. */
#define LB_SINK_COUNT_SCRIPT                                                                       \
    "return redis.call('HSET',KEYS[1],'',redis.call('XLEN',KEYS[2]))"

#endif
