/*
 * lbt_unit.h - support for unit tests of the modules that talk to Redis
 * (committer, sink): a "file" held in memory whose lines and fingerprints
 * the tests hand to the module directly (no source, no disk), a connected
 * struct lb_redis on a test server, and small Redis look-ups.
 */
#ifndef LBT_UNIT_H
#define LBT_UNIT_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

#include "checkpoint.h"
#include "lbtest.h"
#include "redis.h"
#include "source.h"

#define LBT_TEXT_MAX_LINES 8192

/* The bytes of a file, and where each of its lines ends (just past '\n'). */
struct lbt_text {
    char *p;
    size_t n, cap;
    size_t nlines;
    uint64_t end[LBT_TEXT_MAX_LINES + 1]; /* end[0] = 0; end[i] = end of line i (1-based) */
};

void lbt_text_init(struct lbt_text *t);
void lbt_text_free(struct lbt_text *t);
/* Append one line (s without '\n'; the '\n' is added). */
void lbt_text_add(struct lbt_text *t, const char *s);
/* Append lbt_line(i) for i in [from, from + count). */
void lbt_text_std(struct lbt_text *t, long from, long count);
/* Line i (1-based) as the reader would give it. */
struct lb_line lbt_text_line(const struct lbt_text *t, size_t i);
/* lb_sink_fp_fn over the text (ctx = struct lbt_text *): the fingerprint of
 * its first min(off, LB_FP_LEN) bytes; LB_EIO when it holds fewer. */
int lbt_text_fp(void *ctx, uint64_t off, char hex[LB_FP_HEX]);

/* A struct lb_redis connected to the test server (NULL on failure). */
struct lb_redis *lbt_lb_redis(const struct lbt_redis *srv);

/* HGET the checkpoint of src (present = 0 when absent). Returns 0 or -1. */
int lbt_ckpt_get(redisContext *c, const char *ckpt_key, const char *src, struct lb_ckpt *ck);
/* HSET the checkpoint of src to ck (formatted by lb_ckpt_format). */
int lbt_ckpt_put(redisContext *c, const char *ckpt_key, const char *src, const struct lb_ckpt *ck);
/* The raw checkpoint value (malloc'ed) or NULL. */
char *lbt_ckpt_raw(redisContext *c, const char *ckpt_key, const char *src);

/* A command whose reply must be a status, an integer or a string (0), else -1. */
int lbt_cmd_ok(redisContext *c, const char *fmt, ...);
/* DBSIZE (-1 on error). */
long long lbt_dbsize(redisContext *c);

#endif
