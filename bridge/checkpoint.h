/*
 * checkpoint.h - the keys logbridge owns and the checkpoint value.
 *
 * Every derived key carries S's hash tag {T}, so that it lives in the slot of
 * the stream and can be written in the same atomic script (DESIGN.md section 3).
 * The checkpoint of a src is JSON {"dev","ino","fp","off","line","id"}: off is
 * the first byte not committed, line the lines committed (blank and bad
 * included), fp the fingerprint of the first min(off, 1 KiB) bytes.
 */
#ifndef LB_CHECKPOINT_H
#define LB_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "redis.h"
#include "source.h"

#define LB_KEY_MAX 1200

/* The hash tag T of a stream name or template (DESIGN.md section 3). */
void lb_key_tag(const char *stream, char *out, size_t cap);

/* "logbridge:<kind>:{T}" for kind "ckpt", "dlq" or "mirror". */
void lb_key_derive(const char *stream, const char *kind, char *out, size_t cap);

struct lb_ckpt {
    int present;
    unsigned long long dev, ino;
    char fp[LB_FP_HEX];
    uint64_t off, line;
    char id[48];
};

/* The non-negative integer after "key": in the JSON text s[0..n), read
 * exactly (cJSON keeps a double, which rounds past 2^53), overflow-checked:
 * a value past 2^64-1 is refused, never wrapped. The one reader of exact
 * numbers in logbridge's own JSON values (the checkpoints of import/tail and
 * of mirror). 0, or -1 when absent, malformed or too large. */
int lb_json_raw_u64(const char *s, size_t n, const char *key, unsigned long long *out);

/* Parse a checkpoint value. Returns 0 or LB_ECKPT. */
int lb_ckpt_parse(const char *json, size_t n, struct lb_ckpt *ck, struct lb_error *err);

/* Format a checkpoint value into out (>= 256 bytes). */
size_t lb_ckpt_format(const struct lb_ckpt *ck, char *out, size_t cap);

/* HGET the checkpoint of src. A missing field gives present = 0. Returns 0,
 * LB_EREDIS (connection), LB_EREPLY or LB_ECKPT (unreadable value). */
int lb_ckpt_load(struct lb_redis *r, const char *ckpt_key, const char *src, struct lb_ckpt *ck,
                 struct lb_error *err);

/* Does the checkpoint describe this source? 1 = trusted; 0 = not, with the
 * reason in why (identity, fingerprint, or an offset past the end). */
int lb_ckpt_trust(const struct lb_ckpt *ck, struct lb_source *s, char *why, size_t cap);

/* The absolute path at which a file was named: cwd + "/" + path, with "."
 * and ".." segments folded (symlinks are kept: the name is the route). */
int lb_abs_path(const char *path, char *out, size_t cap);

#endif
