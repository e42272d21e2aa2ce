/*
 * import_identify.c - which checkpoint describes a file that import reads:
 * its own src's, another src's (the file is a generation or a copy that src
 * read), or none. Decided by identity (dev, inode, fingerprint), never by
 * name alone.
 */
#include "import_int.h"

#include "log.h"
#include "redis.h"
#include "signals.h"
#include "sink.h"
#include "source.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LB_IMPORT_FROM_START 102 /* (inside lb_import_identify) no checkpoint describes it */

/* A checkpoint lookup met a lost connection: say so and reconnect (within
 * --retry-for). Returns 0 to look again, or the reconnect's error. */
static int lb_import_reconnect(struct lb_import *im, struct lb_error *err)
{
    lb_warn("%s", err->msg);
    return lb_redis_connect_retry(im->r, im->o->retry_for, &lb_stop_flag, err);
}

/* The checkpoint of the file's own src (im->src): at->ck and at->held. One
 * that cannot be read is replaced (unfenced), the file read from the start. */
static int lb_import_own_ckpt(struct lb_import *im, struct lb_import_start *at,
                              struct lb_error *err)
{
    const char *key = lb_sink_ckpt_key(im->sink);
    int rc;
    while ((rc = lb_ckpt_load(im->r, key, im->src, &at->ck, err)) == LB_EREDIS &&
           (rc = lb_import_reconnect(im, err)) == 0)
        ;
    if (rc == LB_ECKPT) {
        memset(&at->ck, 0, sizeof(at->ck));
        at->own_unreadable = 1;
        at->unfenced = 1;
        snprintf(im->why, sizeof(im->why), "%s", err->msg);
    } else if (rc != 0) {
        return rc;
    }
    at->held = at->ck;
    return 0;
}

/* What the file is to the src that covers it, for messages. */
static const char *lb_import_what(const struct lb_ckpt_match *m)
{
    return m->how == LB_CKPT_DONE_FILE ? "a finished generation of"
                                       : "a copy of bytes committed by";
}

/* What looked like a match is not this file: read it from the start. */
static int lb_import_unmatched(struct lb_import *im, const char *path, struct lb_error *err)
{
    int rc = lb_import_reopen(im, path, err);
    if (rc != 0)
        return rc;
    im->st->covered_by[0] = '\0';
    im->st->covered_to = 0;
    return LB_IMPORT_FROM_START;
}

/* Import the bytes past what another src covers under the file's own src:
 * its first checkpoint is written (HSETNX) at the covered offset. */
static int lb_import_seed(struct lb_import *im, const char *path, const struct lb_ckpt *seed,
                          struct lb_import_start *at, struct lb_error *err)
{
    const struct lb_ckpt_match *m = &im->match;
    const char *key = lb_sink_ckpt_key(im->sink);
    lb_info("%s is %s src=%s up to off=%" PRIu64 "; importing the rest under src=%s", path,
            lb_import_what(m), m->src, m->off, im->src);
    int rc = lb_import_reopen(im, path, err);
    if (rc != 0)
        return rc;
    if (!im->o->dry_run) {
        while ((rc = lb_ckpt_seed(im->r, key, im->src, seed, err)) == LB_EREDIS &&
               (rc = lb_import_reconnect(im, err)) == 0)
            ;
        if (rc == 1)
            return lb_error_set(err, LB_ECKPT,
                                "the checkpoint of src=%s appeared while importing it: is "
                                "another logbridge writing it?",
                                im->src);
        if (rc != 0)
            return rc;
    }
    at->ck = *seed;
    at->held = *seed;
    at->unfenced = 0;
    return 0;
}

/* A finished generation or a copy, covered up to m->off: is there more? */
static int lb_import_covered(struct lb_import *im, const char *path, struct lb_import_start *at,
                             struct lb_error *err)
{
    const struct lb_ckpt_match *m = &im->match;
    struct lb_ckpt seed = {.present = 1,
                           .dev = (unsigned long long)lb_source_dev(im->s),
                           .ino = (unsigned long long)lb_source_ino(im->s),
                           .off = m->off,
                           .line = m->line};
    /* a .gz whose content is shorter than the match: not that file */
    if (lb_source_fingerprint(im->s, m->off, seed.fp) != 0 ||
        lb_source_skip_to(im->s, m->off, err) != 0)
        return lb_import_unmatched(im, path, err);
    long got = lb_source_fill(im->s, err); /* (a .gz may hold the rest in its buffer) */
    if (got < 0)
        return (int)got;
    if (got == 0 && lb_source_pending(im->s) == 0) {
        lb_info("%s is %s src=%s, which covers all of it (off=%" PRIu64 "); nothing to import",
                path, lb_import_what(m), m->src, m->off);
        return LB_IMPORT_COVERED;
    }
    /* longer than what that src committed: another file that starts with the
     * same bytes, not a copy (lb_ckpt_find checks plain files) */
    if (m->how == LB_CKPT_SAME_BYTES && !m->done)
        return lb_import_unmatched(im, path, err);
    if (at->ck.present || at->own_unreadable) {
        lb_warn("%s is %s src=%s up to off=%" PRIu64 ", but the checkpoint of src=%s describes "
                "another file: the bytes after off=%" PRIu64 " are not imported (import them "
                "with --name)",
                path, lb_import_what(m), m->src, m->off, im->src, m->off);
        return LB_IMPORT_COVERED;
    }
    return lb_import_seed(im, path, &seed, at, err);
}

/* Every checkpoint of the tag (lb_ckpt_find): is the file known under
 * another src? Returns 0, LB_IMPORT_COVERED, LB_IMPORT_FROM_START or an
 * error. */
static int lb_import_match(struct lb_import *im, const char *path, struct lb_import_start *at,
                           struct lb_error *err)
{
    const char *key = lb_sink_ckpt_key(im->sink);
    struct lb_ckpt_match *m = &im->match;
    int rc;
    while ((rc = lb_ckpt_find(im->r, key, im->s, im->src, m, err)) == LB_EREDIS &&
           (rc = lb_import_reconnect(im, err)) == 0)
        ;
    if (rc != 0)
        return rc;
    if (m->how == LB_CKPT_NONE)
        return LB_IMPORT_FROM_START;
    snprintf(im->st->covered_by, sizeof(im->st->covered_by), "%s", m->src);
    im->st->covered_to = m->off;
    if (m->how != LB_CKPT_SAME_FILE)
        return lb_import_covered(im, path, at, err);
    lb_info("%s is the file that src=%s checkpoints (dev=%llu ino=%llu off=%" PRIu64
            "); going on under that src",
            path, m->src, m->ck.dev, m->ck.ino, m->off);
    snprintf(im->src, sizeof(im->src), "%s", m->src);
    at->ck = m->ck;
    at->held = m->ck;
    at->unfenced = 0;
    return 0;
}

/*
 * Where to start reading the file, decided by identity rather than by name
 * (a rotation renames files; tail may already have read a generation under
 * the live path's src; a .gz is a copy of bytes read before):
 *   1. the checkpoint of the file's own src, when it describes the file;
 *   2. else every checkpoint of the tag (lb_ckpt_find): the file may be the
 *      current generation of another src, which then goes on reading it
 *      (im->src becomes that src), or a finished generation or a copy,
 *      covered up to an offset. A covered file writes nothing; one with
 *      bytes past the covered offset is imported from there under its own
 *      src, whose first checkpoint is written (HSETNX) at that offset. The
 *      checkpoint of a src that describes another file is never replaced
 *      for a file recognised elsewhere;
 *   3. else from the start (a checkpoint of its own src that describes
 *      another file is replaced, as before: fenced where it stands).
 * Returns 0 (*at says where), LB_IMPORT_COVERED, or an error.
 */
int lb_import_identify(struct lb_import *im, const char *path, struct lb_import_start *at,
                       struct lb_error *err)
{
    memset(at, 0, sizeof(*at));
    if (!im->ckpts)
        return 0;
    int rc = lb_import_own_ckpt(im, at, err);
    if (rc != 0)
        return rc;
    if (at->ck.present && lb_ckpt_trust(&at->ck, im->s, im->why, sizeof(im->why)))
        return 0;
    if (lb_source_kind(im->s) != LB_SOURCE_STDIN) { /* stdin: no identity to match */
        rc = lb_import_match(im, path, at, err);
        if (rc != LB_IMPORT_FROM_START)
            return rc;
    }
    if (at->own_unreadable) {
        lb_warn("src=%s: %s; reading the file from the start", im->src, im->why);
    } else if (at->ck.present) {
        lb_warn("src=%s: checkpoint not trusted (%s); reading the file from the start", im->src,
                im->why);
        /* the first batch replaces that checkpoint (at->held): fenced on it */
    }
    memset(&at->ck, 0, sizeof(at->ck));
    return 0;
}
