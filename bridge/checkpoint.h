/*
 * checkpoint.h - the keys logbridge owns and the checkpoint value.
 *
 * Every derived key carries S's hash tag {T}, so that it lives in the slot of
 * the stream and can be written in the same atomic script (DESIGN.md section 3).
 * The checkpoint of a src is JSON {"dev","ino","fp","off","line","id"}: off is
 * the first byte not committed, line the lines committed (blank and bad
 * included), fp the fingerprint of the first min(off, 1 KiB) bytes.
 * The batch script may add "done": the src's finished generations, most
 * recent first (at most LB_CKPT_DONE_MAX), each {"dev","ino","fp","off","line"}:
 * when a src moves on to a new file, import must still know the old one.
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

#define LB_CKPT_DONE_MAX 8

/* A finished generation of a src: committed up to off (line lines). */
struct lb_ckpt_gen {
    unsigned long long dev, ino;
    char fp[LB_FP_HEX];
    uint64_t off, line;
};

struct lb_ckpt {
    int present;
    unsigned long long dev, ino;
    char fp[LB_FP_HEX];
    uint64_t off, line;
    char id[48];
    int ndone; /* done[0] is the most recent */
    struct lb_ckpt_gen done[LB_CKPT_DONE_MAX];
};

/* The non-negative integer after "key": in the JSON text s[0..n), read
 * exactly (cJSON keeps a double, which rounds past 2^53), overflow-checked:
 * a value past 2^64-1 is refused, never wrapped. The one reader of exact
 * numbers in logbridge's own JSON values (the checkpoints of import/tail and
 * of mirror). 0, or -1 when absent, malformed or too large. */
int lb_json_raw_u64(const char *s, size_t n, const char *key, unsigned long long *out);

/* Parse a checkpoint value. Numbers are read exactly from the text (a value
 * past 2^64-1, a sign, a fraction or an exponent is refused, never rounded
 * or wrapped). "done" is optional; entries past LB_CKPT_DONE_MAX are
 * ignored. Returns 0 or LB_ECKPT. */
int lb_ckpt_parse(const char *json, size_t n, struct lb_ckpt *ck, struct lb_error *err);

/* Format a checkpoint value into out (>= 256 bytes; >= 1536 with "done"). */
size_t lb_ckpt_format(const struct lb_ckpt *ck, char *out, size_t cap);

/* HGET the checkpoint of src. A missing field gives present = 0. Returns 0,
 * LB_EREDIS (connection), LB_EREPLY or LB_ECKPT (unreadable value). */
int lb_ckpt_load(struct lb_redis *r, const char *ckpt_key, const char *src, struct lb_ckpt *ck,
                 struct lb_error *err);

/* Does the checkpoint describe this source? 1 = trusted; 0 = not, with the
 * reason in why (identity, fingerprint, or an offset past the end). */
int lb_ckpt_trust(const struct lb_ckpt *ck, struct lb_source *s, char *why, size_t cap);

/*
 * Finding a file among every checkpoint of a tag (import): a file is known
 * by its identity, not by the name it has now. The match is, best first:
 *   1. the same file (dev, ino and the fingerprint of its first bytes) as
 *      the current generation of a src: that src goes on reading it;
 *   2. the same file as a finished generation in a src's "done" list;
 *   3. the same bytes under another inode (a copy, or a .gz of a generation):
 *      the fingerprint matches and the content holds at least off bytes.
 * For 2 and 3 the file is covered up to off. Among equals the larger off
 * wins. A checkpoint at off 0 covers nothing and is never a match.
 */
enum lb_ckpt_how { LB_CKPT_NONE = 0, LB_CKPT_SAME_FILE, LB_CKPT_DONE_FILE, LB_CKPT_SAME_BYTES };

struct lb_ckpt_match {
    enum lb_ckpt_how how;
    int done; /* the generation came from the src's "done" list */
    char src[4096];
    struct lb_ckpt ck;  /* the checkpoint of src, whole */
    uint64_t off, line; /* how far the matched generation is committed */
};

/* HSCAN ckpt_key and match the fresh source s (nothing read from it yet: the
 * fingerprints of .gz content are taken from its head) against every
 * checkpoint's current and finished generations; skip_src's current
 * generation is left out (the caller has already judged it). Unparsable
 * values are passed over. Returns 0 (m->how says whether there was a match),
 * LB_EREDIS or LB_EREPLY. */
int lb_ckpt_find(struct lb_redis *r, const char *ckpt_key, struct lb_source *s,
                 const char *skip_src, struct lb_ckpt_match *m, struct lb_error *err);

/* Write the first checkpoint of src (HSETNX: never over an existing one).
 * Returns 0, 1 when src already had one (nothing written), LB_EREDIS or
 * LB_EREPLY. */
int lb_ckpt_seed(struct lb_redis *r, const char *ckpt_key, const char *src,
                 const struct lb_ckpt *ck, struct lb_error *err);

/* The absolute path at which a file was named: cwd + "/" + path, with "."
 * and ".." segments folded (symlinks are kept: the name is the route). */
int lb_abs_path(const char *path, char *out, size_t cap);

#endif
