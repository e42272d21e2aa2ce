/*
 * tail_state.c - the rotation state of a route and every change of its
 * current generation: where each generation starts (the checkpoint loaded at
 * start, a new file at the path), a rotation seen (rename, delete,
 * copytruncate, rotations while stopped), a generation finished and the next
 * one made current. lb_tail_enter is the one place where a route's state
 * (lb_rot_next, tail_rotate.c) changes.
 */
#include "tail_int.h"

#include "checkpoint.h"
#include "committer.h"
#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "sink.h"
#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The offset just past the last '\n' before size (--from end starts at a
 * line boundary, so a line being written is read whole). */
static uint64_t lb_last_line_end(int fd, uint64_t size)
{
    char buf[4096];
    uint64_t pos = size;
    while (pos > 0) {
        size_t n = pos < sizeof(buf) ? (size_t)pos : sizeof(buf);
        pos -= n;
        if (lb_pread_full(fd, buf, n, pos) != (ssize_t)n)
            return 0;
        for (size_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n')
                return pos + i;
    }
    return 0;
}

/* The one place where a route's rotation state changes; lb_rot_next says to
 * what. A generation that starts draining is finished --rotate-wait after
 * its last change, which may be long past (then at once). */
static void lb_tail_enter(struct lb_tail *j, struct lb_tfile *tf, enum lb_rot_event ev, int at_path)
{
    enum lb_rot_state to = lb_rot_next(tf->state, ev, at_path);
    if (to == LB_ROT_DRAINING && (tf->state != LB_ROT_DRAINING || ev == LB_ROT_EV_CURRENT))
        tf->last_change = lb_gen_changed(tf->cur);
    if (to == LB_ROT_DRAINING && tf->state != LB_ROT_DRAINING)
        j->ndraining++;
    else if (to != LB_ROT_DRAINING && tf->state == LB_ROT_DRAINING)
        j->ndraining--;
    if (to != tf->state)
        lb_debug("src=%s: %s -> %s", tf->src, lb_rot_state_name(tf->state), lb_rot_state_name(to));
    tf->state = to;
}

/* Log j->err (for tf, when given) and stop the job. */
static int lb_tail_fatal(struct lb_tail *j, const struct lb_tfile *tf)
{
    lb_error_kv(LB_FIELDS(LB_F_STR("src", tf != NULL ? tf->src : NULL)), "%s", j->err.msg);
    j->fatal = 1;
    return LB_T_FATAL;
}

/* The time of a checkpoint's last entry (s), or -1: what was written to the
 * route's files after it was not committed. */
static double lb_tail_id_time(const char *id)
{
    char *end;
    unsigned long long ms = strtoull(id, &end, 10);
    return end != id && ms > 0 ? (double)ms / 1000.0 : -1;
}

/* ---- generation changes ------------------------------------------------------------- */

/* g becomes the generation tf reads. */
static void lb_tail_make_current(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    tf->cur = g;
    tf->end_off = g->start_off;
    tf->end_line = g->start_line;
    lb_tail_unbind(j, g); /* the committer takes it from its start */
    tf->ck_is_cur = tf->ck_present && tf->ck_dev == g->ck_dev && tf->ck_ino == g->ck_ino &&
                    tf->ck_off == g->start_off && tf->ck_line == g->start_line && !g->start_commit;
    lb_tail_dirty(j, tf);
}

/* Where a generation that appears at the path starts: its checkpoint when
 * the checkpoint describes it, else byte 0 (it is new: --from applies only
 * to files found at start). */
static void lb_tail_place_new(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    if (tf->ck_present && tf->ck_dev == g->dev && tf->ck_ino == g->ino) {
        struct lb_ckpt ck = {.present = 1,
                             .dev = tf->ck_dev,
                             .ino = tf->ck_ino,
                             .off = tf->ck_off,
                             .line = tf->ck_line};
        memcpy(ck.fp, tf->ck_fp, LB_FP_HEX);
        char why[256];
        if (lb_ckpt_trust(&ck, g->s, why, sizeof(why)) && lb_gen_seek(g, ck.off, &j->err) == 0) {
            g->start_off = ck.off;
            g->start_line = ck.line;
            return;
        }
        lb_gen_seek(g, 0, &j->err);
    }
    g->start_off = g->start_line = 0;
    g->start_commit = 1; /* recorded at once, as lb_tail_start_new says why */
}

/* A new file g is at the path while tf reads an older generation: it is
 * queued after what tf holds and the generations rotated away in between
 * (rotated more than once since we last looked: those born after the last
 * one we hold and not after g). */
static int lb_tail_rotated(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    g->start_off = g->start_line = 0;
    g->start_commit = 1;
    struct lb_gen *last = tf->cur;
    for (struct lb_gen *x = tf->queue; x != NULL; x = x->next)
        last = x;
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query_live(j, tf, g, &w, &q);
    q.after = last->gz ? -1 : lb_gen_key(last);
    int fatal;
    struct lb_gen *mid = lb_tail_chain(j, tf, &q, NULL, NULL, &fatal);
    if (fatal) {
        lb_gen_free(j, g);
        return LB_EIO;
    }
    lb_gen_append(&tf->queue, mid);
    lb_gen_append(&tf->queue, g);
    lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("dev", g->dev), LB_F_U64("ino", g->ino),
                         LB_F_U64("old_ino", tf->cur->ino)),
               "rotated: a new file is at the path; the old one is read to its end first");
    lb_tail_enter(j, tf, LB_ROT_EV_LEFT_PATH, 0);
    return 0;
}

/* Does tf hold the inode (its current generation or a queued one)? */
static int lb_tail_holds(const struct lb_tfile *tf, unsigned long long dev, unsigned long long ino)
{
    if (tf->cur != NULL && tf->cur->dev == dev && tf->cur->ino == ino)
        return 1;
    for (struct lb_gen *q = tf->queue; q != NULL; q = q->next)
        if (q->dev == dev && q->ino == ino)
            return 1;
    return 0;
}

/* Look at the path again and reconcile what we hold with what is there. */
int lb_tail_reconcile(struct lb_tail *j, struct lb_tfile *tf)
{
    if (!tf->inited)
        return 0;
    struct stat st;
    int at = stat(tf->path, &st) == 0 && S_ISREG(st.st_mode);
    if (!at) {
        if (tf->cur != NULL)
            lb_tail_enter(j, tf, LB_ROT_EV_LEFT_PATH, 0);
        return 0;
    }
    if (tf->cur != NULL && lb_gen_same(tf->cur, &st) && !tf->cur->is_copy) {
        lb_tail_enter(j, tf, LB_ROT_EV_AT_PATH, 1); /* e.g. moved away and back */
        return 0;
    }
    for (struct lb_gen *q = tf->queue; q != NULL; q = q->next)
        if (lb_gen_same(q, &st))
            return 0;
    int fatal;
    struct lb_gen *g = lb_gen_open(j, tf, tf->path, &fatal);
    if (g == NULL)
        return fatal ? LB_EIO : 0;
    if (lb_tail_holds(tf, g->dev, g->ino)) { /* the name moved between stat and open */
        lb_gen_free(j, g);
        return 0;
    }
    if (lb_gen_watch(j, g) != 0) {
        lb_gen_free(j, g);
        return LB_EIO;
    }
    if (tf->cur != NULL)
        return lb_tail_rotated(j, tf, g);
    lb_tail_place_new(j, tf, g);
    lb_debug("src=%s: following dev=%llu ino=%llu from off=%" PRIu64, tf->src, g->dev, g->ino,
             g->start_off);
    lb_tail_make_current(j, tf, g);
    lb_tail_enter(j, tf, LB_ROT_EV_CURRENT, 1);
    return 0;
}

/* The next generation of tf (if any) becomes current. */
int lb_tail_next_gen(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_gen *next = tf->queue;
    if (next == NULL) {
        lb_tail_enter(j, tf, LB_ROT_EV_NONE, 0);
        return LB_T_OK;
    }
    tf->queue = next->next;
    next->next = NULL;
    lb_tail_make_current(j, tf, next);
    struct stat st;
    lb_tail_enter(j, tf, LB_ROT_EV_CURRENT,
                  !next->is_copy && stat(tf->path, &st) == 0 && lb_gen_same(next, &st));
    return LB_T_MORE;
}

/* The current generation is done (rotated away and quiet, a copy read to its
 * end, or deleted for good): take its unterminated last line, which nothing
 * will complete now, commit, and go on with the next generation. */
int lb_tail_finish(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_gen *g = tf->cur;
    struct lb_line line;
    int rc;
    if (lb_source_take_partial(g->s, &line) && (rc = lb_tail_line(j, tf, g, &line)) != LB_T_OK)
        return rc;
    if ((rc = lb_tail_commit(j, tf, g)) != LB_T_OK)
        return rc;
    lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("dev", g->dev), LB_F_U64("ino", g->ino),
                         LB_F_U64("off", tf->ck_off), LB_F_U64("line", tf->ck_line)),
               "finished %s generation", g->is_copy ? "the rotated copy of the" : "the rotated");
    lb_tail_retire(j, g); /* a copy too: never read again by a later search */
    tf->cur = NULL;
    lb_gen_free(j, g);
    return lb_tail_next_gen(j, tf);
}

/* Where the checkpoint of tf's current generation g stands (or, when it
 * describes another generation, where g started). */
static void lb_tail_cur_ckpt(const struct lb_tfile *tf, struct lb_gen *g, struct lb_ckpt *ck)
{
    memset(ck, 0, sizeof(*ck));
    ck->present = 1;
    ck->dev = g->ck_dev;
    ck->ino = g->ck_ino;
    if (tf->ck_is_cur) {
        ck->off = tf->ck_off;
        ck->line = tf->ck_line;
        memcpy(ck->fp, tf->ck_fp, LB_FP_HEX);
    } else {
        ck->off = g->start_off;
        ck->line = g->start_line;
        lb_tail_fp(g, ck->off, ck->fp);
    }
}

/* The rotated copy of truncated g that holds its bytes past ck (found by g's
 * first bytes), and the copies made since, oldest first. *ck_found: the
 * chain starts with that copy, read from ck. NULL with *fatal on out of
 * memory or watches. */
static struct lb_gen *lb_tail_copies(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g,
                                     const struct lb_ckpt *ck, int *ck_found, int *fatal)
{
    *ck_found = *fatal = 0;
    if (g->head_n == 0)
        return NULL;
    struct lb_rot_ident id = {.dev = g->dev, .ino = g->ino, .off = ck->off, .fp_len = g->head_n};
    lb_fp_hex(g->head, g->head_n, id.fp);
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query_live(j, tf, g, &w, &q);
    q.ck = &id;
    struct lb_gen *chain = lb_tail_chain(j, tf, &q, ck, ck_found, fatal);
    if (*fatal)
        return NULL;
    if (*ck_found && (chain == NULL || chain->is_copy == 0 || chain->start_off != ck->off))
        *ck_found = 0; /* it was not usable after all */
    return chain;
}

/* Say what a truncation of tf costs: nothing (its copy is read first, or
 * nothing was past the checkpoint), or past bytes (logged and counted). */
static void lb_tail_truncation_said(struct lb_tail *j, struct lb_tfile *tf,
                                    const struct lb_ckpt *ck, const struct lb_gen *chain,
                                    int ck_found, uint64_t past)
{
    if (ck_found) {
        lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("off", ck->off),
                             LB_F_STR("file", chain->where)),
                   "truncated; reading what followed the checkpoint from its rotated copy first");
    } else if (past > 0) {
        lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("off", ck->off),
                             LB_F_STR("dir", tf->dir->path), LB_F_U64("lost_bytes", past)),
                   "truncated below what was read, and no rotated copy holding its bytes past "
                   "the checkpoint was found: %" PRIu64
                   " bytes are lost; reading it again from the start",
                   past);
        lb_metrics_add(j->m, "logbridge_lost_bytes_total", tf->l_src, (double)past);
    } else {
        lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src)),
                   "truncated; reading it again from the start");
    }
}

/* The file was truncated under us (copytruncate, or `> file`). Everything
 * complete before the read that noticed it is committed; the bytes past the
 * checkpoint are looked for in the rotated copy. */
int lb_tail_truncated(struct lb_tail *j, struct lb_tfile *tf, uint64_t read_to)
{
    struct lb_gen *g = tf->cur;
    uint64_t seen = g->seen > read_to ? g->seen : read_to;
    struct lb_ckpt ck;
    lb_tail_cur_ckpt(tf, g, &ck);
    uint64_t past = seen > ck.off ? seen - ck.off : 0;
    /* The bytes past the checkpoint are in a copy of what the file held
     * (copytruncate), and copies made since (more than one rotation before
     * we noticed) follow it; g then starts again at byte 0. */
    int ck_found, fatal;
    double searched = lb_clock_real();
    struct lb_gen *chain = lb_tail_copies(j, tf, g, &ck, &ck_found, &fatal);
    if (fatal)
        return lb_tail_fatal(j, tf);
    if (lb_gen_seek(g, 0, &j->err) != 0) {
        lb_gens_free(j, chain);
        return lb_tail_fatal(j, tf);
    }
    unsigned char head[LB_FP_LEN];
    size_t head_n = g->head_n;
    memcpy(head, g->head, head_n);
    g->head_n = 0;
    g->fp_cached = 0;
    g->seen = 0;
    g->start_off = g->start_line = 0;
    g->start_commit = 1;
    g->verify_after = searched;
    tf->ck_is_cur = 0;
    if (ck_found) {
        /* its identity and first bytes are those of the truncated file */
        memcpy(chain->head, head, head_n);
        chain->head_n = head_n;
    }
    lb_tail_truncation_said(j, tf, &ck, chain, ck_found, past);
    /* chain, then g from byte 0, then what was queued */
    g->next = tf->queue;
    lb_gen_append(&chain, g);
    tf->queue = chain;
    tf->cur = NULL;
    return lb_tail_next_gen(j, tf);
}

/* The live file of a copytruncate route is to be read from byte 0 after the
 * copies found at g->verify_after. But it is not a new inode: while those
 * copies were read, the writer may have copied it away and emptied it again,
 * more than once, and what it holds now is newer than those copies. So,
 * before its first byte is read:
 *  1. its first bytes are taken (an empty file: nothing to do yet);
 *  2. copies of the route born since verify_after that nobody holds are
 *     looked for; found: they are read first (then this check again);
 *  3. else its first bytes are its head: any copytruncate from now on shows
 *     as a change of them (lb_gen_truncated), and is handled by
 *     lb_tail_truncated, which finds the copy by them.
 * Returns LB_T_GO (read it), LB_T_OK (empty: wait), LB_T_MORE or LB_T_FATAL. */
int lb_tail_fresh(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    unsigned char head[LB_FP_LEN];
    ssize_t h = lb_pread_full(lb_source_fd(g->s), head, sizeof(head), 0);
    if (h <= 0)
        return LB_T_OK;
    double searched = lb_clock_real();
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query_live(j, tf, g, &w, &q);
    /* file times tick coarsely: a little before, inclusive (what we hold
     * or finished is skipped) */
    q.after = g->verify_after - 0.05;
    int fatal;
    struct lb_gen *mid = lb_tail_chain(j, tf, &q, NULL, NULL, &fatal);
    if (fatal)
        return lb_tail_fatal(j, tf);
    if (mid == NULL) {
        memcpy(g->head, head, (size_t)h);
        g->head_n = (size_t)h;
        g->verify_after = 0;
        return LB_T_GO;
    }
    lb_info_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_STR("file", tf->path)),
               "copied away again while older copies were read: those copies come first");
    g->verify_after = searched;
    g->next = tf->queue;
    lb_gen_append(&mid, g);
    tf->queue = mid;
    tf->cur = NULL;
    lb_tail_unbind(j, g);
    return lb_tail_next_gen(j, tf);
}

/* ---- start of a route ------------------------------------------------------------------ */

/* Load tf's checkpoint into ck and tf (a damaged one counts as absent). */
static int lb_tail_init_ckpt(struct lb_tail *j, struct lb_tfile *tf, struct lb_ckpt *ck)
{
    int rc = lb_tail_ckpt_load(j, tf->src, ck);
    if (rc == LB_EREDIS) {
        lb_tail_down(j, NULL);
        return LB_T_BLOCKED;
    }
    if (rc == LB_ECKPT) {
        lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src)), "%s; treating it as absent", j->err.msg);
        memset(ck, 0, sizeof(*ck));
    } else if (rc != 0) {
        return lb_tail_fatal(j, tf);
    }
    tf->inited = 1;
    tf->ck_present = ck->present;
    tf->ck_dev = ck->dev;
    tf->ck_ino = ck->ino;
    tf->ck_off = ck->off;
    tf->ck_line = ck->line;
    memcpy(tf->ck_fp, ck->fp, LB_FP_HEX);
    snprintf(tf->prev_id, sizeof(tf->prev_id), "%s", ck->id);
    return LB_T_OK;
}

/* No checkpoint: the file at the path (if any) is read from its start, or,
 * with --from end and a file found at start, from its last line end. */
static int lb_tail_start_new(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g)
{
    if (g == NULL)
        return LB_T_OK; /* followed when it appears */
    uint64_t start = 0;
    if (j->o->from_end && tf->initial) {
        long long size = lb_source_size(g->s);
        start = lb_last_line_end(lb_source_fd(g->s), size > 0 ? (uint64_t)size : 0);
    }
    if (lb_gen_seek(g, start, &j->err) != 0) {
        lb_gen_free(j, g);
        return lb_tail_fatal(j, tf);
    }
    g->start_off = start;
    /* The start is recorded at once: with --from end, so that a restart
     * does not skip what was written meanwhile; from byte 0 too, so that
     * the file is known as followed (status lists it, and parity counts
     * its lines as pending, not missing) before its first batch lands. */
    g->start_commit = 1;
    lb_tail_make_current(j, tf, g);
    lb_tail_enter(j, tf, LB_ROT_EV_CURRENT, 1);
    return LB_T_OK;
}

/* The file at the path is the checkpointed generation, with the content
 * checkpointed: it becomes current at the checkpoint (returns 1). Same
 * inode, other content (why says how): truncated (copytruncate), or the
 * inode was freed and given to a new file; either way the checkpointed
 * content is elsewhere now (a copy, a .gz) or gone: g is put back at byte 0
 * and 0 returned, as when the inode is another one. */
static int lb_tail_start_at_ckpt(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g,
                                 const struct lb_ckpt *ck, char *why, size_t cap)
{
    if (g == NULL || g->dev != ck->dev || g->ino != ck->ino)
        return 0;
    if (lb_ckpt_trust(ck, g->s, why, cap) && lb_gen_seek(g, ck->off, &j->err) == 0) {
        g->start_off = ck->off;
        g->start_line = ck->line;
        if (ck->off >= LB_FP_LEN) {
            memcpy(g->fp_cache, ck->fp, LB_FP_HEX);
            g->fp_cached = 1;
        }
        lb_tail_make_current(j, tf, g);
        lb_tail_enter(j, tf, LB_ROT_EV_CURRENT, 1);
        return 1;
    }
    lb_gen_seek(g, 0, &j->err);
    return 0;
}

/* The checkpointed generation is not (or no longer) at the path: rotated
 * while we were stopped, perhaps many times. Every generation since it is
 * found by identity and read in order, the file at the path (g, may be NULL)
 * last. */
static int lb_tail_start_found(struct lb_tail *j, struct lb_tfile *tf, struct lb_gen *g,
                               const struct lb_ckpt *ck, const char *why)
{
    struct lb_rot_ident id = {.dev = ck->dev, .ino = ck->ino, .off = ck->off};
    id.fp_len = ck->off < LB_FP_LEN ? (size_t)ck->off : LB_FP_LEN;
    memcpy(id.fp, ck->fp, LB_FP_HEX);
    struct lb_rot_query q;
    struct lb_tail_where w;
    lb_tail_query_live(j, tf, g, &w, &q);
    q.ck = &id;
    q.after = lb_tail_id_time(ck->id);
    int ck_found, fatal;
    double searched = lb_clock_real();
    struct lb_gen *chain = lb_tail_chain(j, tf, &q, ck, &ck_found, &fatal);
    if (fatal) {
        lb_gen_free(j, g);
        return lb_tail_fatal(j, tf);
    }
    if (ck_found && (chain == NULL || chain->start_off != ck->off || chain->start_commit))
        ck_found = 0;
    if (!ck_found && ck->off > 0)
        lb_warn_kv(LB_FIELDS(LB_F_STR("src", tf->src), LB_F_U64("dev", ck->dev),
                             LB_F_U64("ino", ck->ino), LB_F_U64("off", ck->off),
                             LB_F_STR("dir", tf->dir->path)),
                   "the checkpointed file%s%s is no longer in its directory (deleted, or "
                   "compressed into a form we cannot match?): anything it held past the "
                   "checkpoint is lost (byte count unknown)%s",
                   why[0] ? ": " : "", why,
                   chain != NULL ? "; the generations written since are read"
                   : g != NULL   ? "; reading the file now at the path from the start"
                                 : "");
    if (g != NULL) {
        g->start_off = g->start_line = 0;
        g->start_commit = 1;
        g->verify_after = searched;
        lb_gen_append(&chain, g);
    }
    tf->queue = chain;
    tf->cur = NULL;
    lb_tail_next_gen(j, tf);
    return LB_T_OK;
}

/* Load tf's checkpoint and decide where each generation starts. */
int lb_tail_init(struct lb_tail *j, struct lb_tfile *tf)
{
    struct lb_ckpt ck;
    int rc = lb_tail_init_ckpt(j, tf, &ck);
    if (rc != LB_T_OK)
        return rc;
    int fatal;
    struct lb_gen *g = lb_gen_open(j, tf, tf->path, &fatal);
    if (fatal)
        return lb_tail_fatal(j, NULL);
    if (g != NULL && lb_gen_watch(j, g) != 0) {
        lb_gen_free(j, g);
        return lb_tail_fatal(j, NULL);
    }
    if (!ck.present)
        return lb_tail_start_new(j, tf, g);
    char why[256] = "";
    if (lb_tail_start_at_ckpt(j, tf, g, &ck, why, sizeof(why)))
        return LB_T_OK;
    return lb_tail_start_found(j, tf, g, &ck, why);
}
