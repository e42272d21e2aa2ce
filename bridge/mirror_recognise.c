/*
 * mirror_recognise.c - a mirror's start: reconcile the file with its
 * checkpoint before anything is written, and, when the file is longer than
 * recorded, recognise which of the bytes after the checkpoint are lines of
 * ours (written before a kill left them unrecorded) among another writer's.
 * The rule is "Another writer" in mirror.c's header.
 */
#include "mirror_int.h"

#include "log.h"
#include "stream_info.h"
#include "stream_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- mirror: start ------------------------------------------------------------------- */

/* ---- mirror: its own lines after the checkpoint ---------------------------------------- */

/* The lines mirror would write for the entries after an ID, one at a time,
 * read in XRANGE pages (bounded memory). */
struct lb_expect {
    struct lb_mirror *m;
    struct lb_xrange xr;
    const redisReply *page;
    size_t next;         /* the next entry of page */
    int started;         /* xr was begun */
    int have;            /* line/id hold the next expected line */
    char id[LB_SID_BUF]; /* its entry's ID */
    struct lb_buf line;  /* the line, exactly as lb_mirror_batch formats it */
};

/* Stop reading: a page still on the wire is read and dropped (a reply left
 * there would be taken for the next command's). */
static void lb_expect_free(struct lb_expect *x)
{
    struct lb_error ign;
    if (x->started && lb_xrange_abort(&x->xr, &ign) != 0 && lb_redis_ctx(x->m->r) != NULL)
        lb_redis_drop(x->m->r);
    lb_xrange_free(&x->xr);
    free(x->line.p);
    x->line.p = NULL;
}

/* Start after the entry `after` (nothing when it is the largest ID). */
static int lb_expect_begin(struct lb_expect *x, const char *after, struct lb_error *err)
{
    struct lb_sid start = {0, 0};
    char from[LB_SID_BUF];
    lb_sid_parse(after, strlen(after), &start);
    if (lb_sid_next(&start) != 0)
        return 0;
    x->started = 1;
    return lb_xrange_begin(&x->xr, x->m->r, x->m->o->stream, lb_sid_format(start, from), "+", err);
}

/* The line of entry e in x->line, if it gives one (skipped, excluded and
 * self entries give none, as in lb_mirror_batch). 1, 0, or LB_ENOMEM. */
static int lb_expect_line(struct lb_expect *x, const redisReply *e, struct lb_error *err)
{
    struct lb_mirror *m = x->m;
    struct lb_record rec;
    const char *why = NULL;
    int rc = 0;
    if (lb_mirror_decode(&m->dec, e, &rec, &why) == LB_DEC_LINE) {
        size_t len = lb_line_bound(&rec);
        x->line.n = 0;
        if (lb_buf_reserve(&x->line, len) != 0) {
            rc = lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte line", len);
        } else {
            size_t esc = 0;
            x->line.n = lb_format_line(&rec, x->line.p, x->line.cap, &esc);
            snprintf(x->id, sizeof(x->id), "%s", e->element[0]->str);
            rc = 1;
        }
    }
    lb_dec_release(&m->dec);
    return rc;
}

/* Move to the next entry that gives a line. 0 (x->have says whether there
 * is one), LB_EREDIS, LB_EREPLY, LB_EAUTH or LB_ENOMEM. */
static int lb_expect_next(struct lb_expect *x, struct lb_error *err)
{
    x->have = 0;
    while (x->started) {
        if (x->page != NULL && x->next < x->page->elements) {
            int rc = lb_expect_line(x, x->page->element[x->next++], err);
            x->have = rc == 1;
            if (rc != 0)
                return rc < 0 ? rc : 0;
            continue;
        }
        x->next = 0;
        int rc = lb_xrange_next(&x->xr, &x->page, err);
        if (rc <= 0)
            return rc;
    }
    return 0;
}

/* Where the recognition stands, carried through its steps. */
struct lb_recog {
    struct lb_expect x;      /* the next line we would have written */
    uint64_t end;            /* what the file held when it was opened */
    uint64_t off;            /* how far the file has been read */
    uint64_t line_start;     /* where the file's current line starts */
    uint64_t own_end;        /* where our own lines end so far */
    uint64_t own;            /* lines of ours after the checkpoint */
    uint64_t own_bytes;      /* their bytes */
    char own_id[LB_SID_BUF]; /* the entry of the last of them */
    size_t at;               /* bytes of the current line that match x.line so far */
    int ok;                  /* ... and none that does not */
};

/* The current line was ours, whole: count it and expect the next one. */
static int lb_recog_own_line(struct lb_recog *g, struct lb_error *err)
{
    g->own++;
    g->own_bytes += g->x.line.n;
    g->own_end = g->off;
    snprintf(g->own_id, sizeof(g->own_id), "%s", g->x.id);
    return lb_expect_next(&g->x, err);
}

/* Match one chunk of the file, segment by segment (a segment ends at '\n'
 * or at the chunk's end), against the lines we would have written. A line
 * is ours only when all its segments matched. */
static int lb_recog_chunk(struct lb_recog *g, const char *p, const char *stop, struct lb_error *err)
{
    int rc = 0;
    while (p < stop && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        size_t seg = (size_t)((nl != NULL ? nl + 1 : stop) - p);
        if (g->ok && g->x.have && g->at + seg <= g->x.line.n &&
            memcmp(g->x.line.p + g->at, p, seg) == 0)
            g->at += seg;
        else
            g->ok = 0;
        p += seg;
        g->off += seg;
        if (nl == NULL)
            break;
        if (g->ok && g->x.have && g->at == g->x.line.n)
            rc = lb_recog_own_line(g, err);
        g->line_start = g->off;
        g->at = 0;
        g->ok = 1;
    }
    return rc;
}

/* Read the file after the checkpoint in chunks up to what it held when
 * opened. With no line left to expect, the rest cannot be ours: not read. */
static int lb_recog_scan(struct lb_mirror *m, struct lb_recog *g, struct lb_error *err)
{
    enum { LB_CHUNK = 64 * 1024 };
    char *chunk = malloc(LB_CHUNK);
    if (chunk == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    int rc = 0;
    while (rc == 0 && g->x.have && g->off < g->end) {
        size_t want = g->end - g->off < LB_CHUNK ? (size_t)(g->end - g->off) : LB_CHUNK;
        ssize_t got = pread(m->fd, chunk, want, (off_t)g->off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = lb_error_set(err, LB_EIO, "read %s: %s", m->path, strerror(errno));
            break;
        }
        if (got == 0) {
            rc = lb_error_set(err, LB_EIO, "%s was cut short by someone else while mirror started",
                              m->path);
            break;
        }
        rc = lb_recog_chunk(g, chunk, chunk + got, err);
    }
    free(chunk);
    return rc;
}

/* The file ends in `tail` bytes of an unterminated line that are a prefix
 * of the next line we would write (a write torn by the kill). It is
 * completed, not cut back: appending is safe against a writer that appends
 * meanwhile, a truncation is not. Its bytes count as ours whatever becomes
 * of them. */
static int lb_recog_torn(struct lb_mirror *m, struct lb_recog *g, uint64_t tail,
                         struct lb_error *err)
{
    struct stat st;
    if (fstat(m->fd, &st) != 0)
        return lb_error_set(err, LB_EIO, "fstat %s: %s", m->path, strerror(errno));
    if ((uint64_t)st.st_size != g->end) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", g->x.id), LB_F_U64("off", g->line_start)),
                   "mirror: the last %" PRIu64 " bytes are the start of the line of entry id, "
                   "torn by a kill, and another writer has appended after them: kept as they "
                   "are; the entry is written again whole",
                   tail);
    } else {
        int wrc = lb_mirror_write(m, g->x.line.p + g->at, g->x.line.n - g->at, err);
        if (wrc == 0)
            wrc = lb_mirror_sync(m, err);
        if (wrc != 0)
            return wrc;
        if (m->size == g->line_start + g->x.line.n) {
            lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", g->x.id)),
                       "mirror: completed the line of entry id, torn by a kill (%" PRIu64
                       " of %zu bytes were written)",
                       tail, g->x.line.n);
            g->own++;
            g->own_end = m->size;
            snprintf(g->own_id, sizeof(g->own_id), "%s", g->x.id);
        } else {
            /* Another writer appended between the look and the write. */
            lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", g->x.id), LB_F_U64("off", g->line_start)),
                       "mirror: the line of entry id, torn by a kill, could not be completed "
                       "(another writer appended first): its parts stay as they are; the entry "
                       "is written again whole");
            g->own_end = m->size;
        }
    }
    g->own_bytes += tail;
    return 0;
}

/* Say what was found after the checkpoint: lines of ours, another writer's
 * bytes (tail > 0: an unterminated line of theirs that ends the file). */
static void lb_recog_report(const struct lb_mirror *m, const struct lb_mirror_ckpt *ck,
                            const struct lb_recog *g, uint64_t tail)
{
    uint64_t foreign = g->end - ck->size - g->own_bytes; /* the caller saw end > ck->size */
    if (g->own > 0)
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", g->own_id), LB_F_STR("ckpt_id", ck->id),
                                    LB_F_U64("ckpt_size", ck->size)),
                   "mirror: %" PRIu64 " lines after the checkpoint are its own, written before a "
                   "stop that left them unrecorded: continuing after id",
                   g->own);
    if (foreign > 0)
        lb_info_kv(LB_MIRROR_FIELDS0(m),
                   "mirror: kept %" PRIu64 " bytes after the checkpoint that another writer "
                   "appended (not logbridge's lines; never cut)%s",
                   foreign,
                   tail > 0 ? "; the file ends in an unterminated line that is not logbridge's: "
                              "the next line written follows it on the same line"
                            : "");
}

/*
 * The file is longer than the checkpoint says (same inode): recognise what
 * of it is ours. See "Another writer" in the header for the rule. On return
 * m->size and m->last are where our own lines end; nothing that is not ours
 * has been changed. 0 or an error code (nothing recorded yet: safe to redo).
 *
 * Steps: expect the lines we would write after the checkpoint's entry, read
 * the file against them (lb_recog_scan), complete a last line of ours that
 * a kill tore (lb_recog_torn), say what was found, and stand after our own.
 */
static int lb_mirror_recognise(struct lb_mirror *m, const struct lb_mirror_ckpt *ck,
                               struct lb_error *err)
{
    struct lb_recog g;
    memset(&g, 0, sizeof(g));
    g.x.m = m;
    g.end = m->size;
    g.off = g.line_start = g.own_end = ck->size;
    snprintf(g.own_id, sizeof(g.own_id), "%s", ck->id);
    g.ok = 1;
    int rc = lb_expect_begin(&g.x, ck->id, err);
    if (rc == 0)
        rc = lb_expect_next(&g.x, err);
    if (rc == 0)
        rc = lb_recog_scan(m, &g, err);
    /* bytes of an unterminated last line (the scan read to the end) */
    uint64_t tail = g.off < g.end ? 0 : g.end - g.line_start;
    if (rc == 0 && tail > 0 && g.ok && g.x.have) {
        rc = lb_recog_torn(m, &g, tail, err);
        tail = 0;
    }
    if (rc != 0) {
        lb_expect_free(&g.x);
        return rc;
    }
    lb_recog_report(m, ck, &g, tail);
    m->size = g.own_end;
    lb_mirror_set_last(m, g.own_id, strlen(g.own_id));
    lb_expect_free(&g.x);
    return 0;
}

/*
 * Reconcile the file with its checkpoint and record where we are, before
 * anything is written. Safe to run again from the top after a lost
 * connection: the recognition finds the same lines of ours again (a torn one
 * it completed included), and nothing else is written here.
 */
int lb_mirror_start(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_mirror_ckpt ck;
    int rc = lb_mirror_ckpt_load(m, &ck, err);
    if (rc != 0)
        return rc;
    if (m->fd < 0 && (rc = lb_mirror_open(m, err)) != 0)
        return rc;
    if (ck.present) {
        lb_mirror_set_last(m, ck.id, strlen(ck.id));
        if (ck.dev == m->dev && ck.ino == m->ino && m->size > ck.size) {
            /* Our lines written after the checkpoint (a kill before it was
             * recorded) and another writer's: tell them apart. */
            if ((rc = lb_mirror_recognise(m, &ck, err)) != 0)
                return rc;
        } else if (ck.dev != m->dev || ck.ino != m->ino) {
            lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("dev", m->dev), LB_F_U64("ino", m->ino),
                                        LB_F_U64("size", m->size), LB_F_STR("id", ck.id)),
                       "mirror: a new generation (the checkpoint was for dev=%llu ino=%llu): "
                       "continuing after id",
                       ck.dev, ck.ino);
        } else if (m->size < ck.size) {
            lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("size", m->size), LB_F_STR("id", ck.id)),
                       "mirror: a new generation (shorter than the %" PRIu64
                       " bytes recorded: truncated by logrotate?): continuing after id",
                       ck.size);
        } else {
            lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", ck.id), LB_F_U64("size", m->size)),
                       "mirror: resuming after id");
        }
        if (ck.dev != m->dev || ck.ino != m->ino || ck.size != m->size ||
            strcmp(ck.id, m->last_id) != 0)
            m->ck_seq++;
    } else {
        char id[LB_SID_BUF];
        struct lb_sid sid;
        /* "$" is resolved now, so that nothing added between this start and
         * the first XREAD is missed; recorded below, so a restart keeps it. */
        if (lb_sid_arg(m->o->from, LB_SID_FORM_ID | LB_SID_FORM_LAST, 0, &sid) ==
                LB_SID_FORM_LAST &&
            (rc = lb_stream_last_id(m->r, m->o->stream, &sid, err)) != 0)
            return rc;
        lb_sid_format(sid, id);
        lb_mirror_set_last(m, id, strlen(id));
        m->lost_quiet = 1;
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", id), LB_F_U64("size", m->size)),
                   "mirror: no checkpoint; starting after id (--from %s)", m->o->from);
        m->ck_seq++;
    }
    if (lb_ck_pending(m) && (rc = lb_mirror_ckpt_save(m, err)) != 0)
        return rc;
    if (m->o->once) {
        if ((rc = lb_stream_last_id(m->r, m->o->stream, &m->end, err)) != 0)
            return rc;
    }
    m->pos_known = 0;
    return lb_mirror_observe(m, 1, err);
}
