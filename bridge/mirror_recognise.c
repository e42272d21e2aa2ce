/*
 * mirror_recognise.c - reconcile the file with a checkpoint before anything
 * is written: at a mirror's start, and after a failover took the stream back
 * (mirror_await.c). When the file is longer than recorded, recognise which
 * of the bytes after the checkpoint are lines of ours (written before a kill
 * left them unrecorded, or whose entries a failover lost) among another
 * writer's. The rules are "Another writer" and "After a failover" in
 * mirror.c's header.
 */
#include "mirror_int.h"

#include "log.h"
#include "stream_info.h"
#include "stream_merge.h"
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
    const char *end; /* several streams: the last ID of a merge ("+", or the checkpoint's "w") */
    struct lb_xrange xr;
    const redisReply *page;
    size_t next;             /* the next entry of page */
    int started;             /* xr was begun */
    int have;                /* line/id hold the next expected line */
    char id[LB_SID_BUF];     /* its entry's ID */
    struct lb_buf line;      /* the line, exactly as lb_mirror_batch formats it */
    char before[LB_SID_BUF]; /* the last entry dealt with before it ("": none) */
    uint64_t resent;         /* entries whose line awaited them (m->aw): taken */
    /* Several streams (m->mm): the merged entries after each stream's last
     * ID (stream_merge.c), in the order a live mirror writes them; `which`
     * is the expected line's stream, `cur` the entry's being looked at, and
     * bids[i] the last entry of stream i dealt with (as `before`). */
    struct lb_merge mg;
    int which, cur;
    char (*bids)[LB_SID_BUF];
};

/* Stop reading: a page still on the wire is read and dropped (a reply left
 * there would be taken for the next command's). */
static void lb_expect_free(struct lb_expect *x)
{
    struct lb_error ign;
    if (x->started &&
        (x->m->mm == NULL ? lb_xrange_abort(&x->xr, &ign) : lb_merge_drain(&x->mg, &ign)) != 0 &&
        lb_redis_ctx(x->m->r) != NULL)
        lb_redis_drop(x->m->r);
    (void)ign;
    lb_xrange_free(&x->xr);
    lb_merge_free(&x->mg);
    free(x->bids);
    x->bids = NULL;
    free(x->line.p);
    x->line.p = NULL;
}

/* Start after the entry `after` (nothing when it is the largest ID). */
static int lb_expect_begin(struct lb_expect *x, const char *after, struct lb_error *err)
{
    const struct lb_many *mm = x->m->mm;
    if (mm != NULL) {
        /* each stream after its own last ID */
        int n = mm->n;
        const char **keys = calloc((size_t)n + 1, sizeof(*keys));
        char(*starts)[LB_SID_BUF] = calloc((size_t)n + 1, sizeof(*starts));
        const char **sp = calloc((size_t)n + 1, sizeof(*sp));
        x->bids = calloc((size_t)n + 1, sizeof(*x->bids));
        int rc = 0;
        if (keys == NULL || starts == NULL || sp == NULL || x->bids == NULL)
            rc = lb_error_set(err, LB_ENOMEM, "out of memory");
        for (int i = 0; rc == 0 && i < n; i++) {
            struct lb_sid st = mm->s[i].last;
            keys[i] = mm->s[i].key;
            snprintf(x->bids[i], LB_SID_BUF, "%s", mm->s[i].id);
            /* nothing after the largest ID: an empty range */
            if (lb_sid_next(&st) != 0)
                snprintf(starts[i], LB_SID_BUF, "+");
            else
                lb_sid_format(st, starts[i]);
            sp[i] = starts[i];
        }
        if (rc == 0)
            rc = lb_merge_begin_each(&x->mg, x->m->r, keys, n, sp, NULL, NULL, x->end,
                                     x->m->dec.ed.json_field, err);
        free(keys);
        free(starts);
        free(sp);
        x->started = rc == 0;
        return rc;
    }
    struct lb_sid start = {0, 0};
    char from[LB_SID_BUF];
    lb_sid_parse(after, strlen(after), &start);
    if (lb_sid_next(&start) != 0)
        return 0;
    x->started = 1;
    return lb_xrange_begin(&x->xr, x->m->r, x->m->o->streams.v[0], lb_sid_format(start, from), "+",
                           err);
}

/* The line of entry e in x->line, if it gives one (skipped, excluded and
 * self entries give none, as in lb_mirror_batch; nor does one whose line
 * awaited it in the region, which takes it, as lb_mirror_batch would). 1,
 * 0, LB_ENOMEM or LB_EIO. */
static int lb_expect_line(struct lb_expect *x, const redisReply *e, struct lb_error *err)
{
    struct lb_mirror *m = x->m;
    struct lb_record rec;
    const char *why = NULL;
    int rc = 0;
    const char *id =
        e->type == REDIS_REPLY_ARRAY && e->elements > 0 && e->element[0]->type == REDIS_REPLY_STRING
            ? e->element[0]->str
            : NULL;
    if (lb_mirror_decode(&m->dec, e, &rec, &why) == LB_DEC_LINE) {
        size_t len = lb_line_bound(&rec);
        x->line.n = 0;
        if (lb_buf_reserve(&x->line, len) != 0) {
            rc = lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte line", len);
        } else {
            size_t esc = 0;
            x->line.n = lb_format_line(&rec, x->line.p, x->line.cap, &esc);
            snprintf(x->id, sizeof(x->id), "%s", id != NULL ? id : "");
            rc = lb_await_take(&m->aw, m->fd, x->line.p, x->line.n, err);
            if (rc == 1)
                x->resent++;
            rc = rc < 0 ? rc : !rc;
        }
    }
    lb_dec_release(&m->dec);
    if (rc == 0 && id != NULL)
        snprintf(x->before, sizeof(x->before), "%s", id);
    if (rc == 0 && id != NULL && x->bids != NULL)
        snprintf(x->bids[x->cur], LB_SID_BUF, "%s", id);
    if (rc == 1)
        x->which = x->cur;
    return rc;
}

/* Move to the next entry that gives a line (the expected one, if any, was
 * dealt with). 0 (x->have says whether there is one), LB_EREDIS, LB_EREPLY,
 * LB_EAUTH, LB_ENOMEM or LB_EIO. */
static int lb_expect_next(struct lb_expect *x, struct lb_error *err)
{
    if (x->have)
        snprintf(x->before, sizeof(x->before), "%s", x->id);
    if (x->have && x->bids != NULL)
        snprintf(x->bids[x->which], LB_SID_BUF, "%s", x->id);
    x->have = 0;
    while (x->started && x->m->mm != NULL) {
        const struct lb_entry *en;
        int rc = lb_merge_next(&x->mg, &en, &x->cur, err);
        if (rc <= 0)
            return rc;
        rc = lb_expect_line(x, x->mg.raw, err);
        x->have = rc == 1;
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
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
    struct lb_expect x;  /* the next line we would have written */
    uint64_t end;        /* how far the file is ours to look at */
    uint64_t off;        /* how far the file has been read */
    uint64_t line_start; /* where the file's current line starts */
    uint64_t own_end;    /* where our own lines end so far */
    uint64_t own;        /* lines of ours after the checkpoint */
    uint64_t own_bytes;  /* their bytes */
    uint64_t foreign;    /* bytes of other lines before the last of ours */
    uint64_t pending;    /* ... and after it */
    int torn_own;        /* x's line, torn by a kill, was completed */
    /* After a failover (lost != NULL): entries after the last one handled
     * before it are entries sent again; the lines they match are counted
     * as resent, not as own. */
    const struct lb_sid *lost;
    uint64_t resent;
    size_t at; /* bytes of the current line that match x.line so far */
    int ok;    /* ... and none that does not */
};

/* The current line was ours, whole: count it and expect the next one. */
static int lb_recog_own_line(struct lb_recog *g, struct lb_error *err)
{
    struct lb_sid sid;
    if (g->lost != NULL && lb_sid_parse(g->x.id, strlen(g->x.id), &sid) == 0 &&
        lb_sid_cmp(sid, *g->lost) > 0)
        g->resent++;
    else
        g->own++;
    g->own_bytes += g->x.line.n;
    g->own_end = g->off;
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
        if (g->ok && g->x.have && g->at == g->x.line.n) {
            g->foreign += g->pending;
            g->pending = 0;
            rc = lb_recog_own_line(g, err);
        } else {
            g->pending += g->off - g->line_start;
        }
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
            g->torn_own = 1;
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

/* Say what was found after the checkpoint: lines of ours, entries sent
 * again, another writer's lines between ours (what follows ours is the
 * caller's to tell: lb_mirror_reconcile), and an unterminated line that is
 * not ours at the end (tail > 0). */
static void lb_recog_report(const struct lb_mirror *m, const struct lb_mirror_ckpt *ck,
                            const struct lb_recog *g, uint64_t tail, const char *own_id)
{
    if (g->own > 0)
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", own_id), LB_F_STR("ckpt_id", ck->id),
                                    LB_F_U64("ckpt_size", ck->size)),
                   "mirror: %" PRIu64 " lines after the checkpoint are its own, written before a "
                   "stop that left them unrecorded: continuing after id",
                   g->own);
    if (g->resent + g->x.resent > 0)
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", own_id), LB_F_STR("ckpt_id", ck->id)),
                   "mirror: %" PRIu64 " entries after the checkpoint were sent again after a "
                   "failover, and their lines are in the file already: not written again "
                   "(continuing after id)",
                   g->resent + g->x.resent);
    if (g->foreign > 0)
        lb_info_kv(LB_MIRROR_FIELDS0(m),
                   "mirror: kept %" PRIu64 " bytes after the checkpoint that another writer "
                   "appended (not logbridge's lines; never cut)",
                   g->foreign);
    if (tail > 0)
        lb_info_kv(LB_MIRROR_FIELDS0(m),
                   "mirror: the file ends in an unterminated line that is not logbridge's (%" PRIu64
                   " bytes): the next line written follows it on the same line",
                   tail);
}

/*
 * The file is longer than the checkpoint says (same inode): recognise what
 * of [ck->size, end) is ours. See "Another writer" in the header for the
 * rule. On return *own_end is where our own lines end and *resent counts the
 * entries sent again whose lines were in the file, and m->last is the last
 * entry dealt with; nothing that is not ours has been changed. 0 or an error
 * code (nothing recorded yet: safe to redo, m->last unchanged).
 *
 * Steps: expect the lines we would write after the checkpoint's entry, read
 * the file against them (lb_recog_scan), complete a last line of ours that
 * a kill tore (lb_recog_torn), say what was found, and stand after our own.
 */
static int lb_mirror_recognise(struct lb_mirror *m, const struct lb_mirror_ckpt *ck, uint64_t end,
                               const struct lb_sid *lost, uint64_t *own_end, uint64_t *resent,
                               struct lb_error *err)
{
    struct lb_recog g;
    memset(&g, 0, sizeof(g));
    g.x.m = m;
    g.end = end;
    g.lost = lost;
    g.off = g.line_start = g.own_end = ck->size;
    g.ok = 1;
    g.x.end = ck->w[0] != '\0' ? ck->w : "+";
    int rc = lb_expect_begin(&g.x, ck->id, err);
    if (rc == 0)
        rc = lb_expect_next(&g.x, err);
    if (rc == 0)
        rc = lb_recog_scan(m, &g, err);
    /* bytes of an unterminated last line (the scan read to the end) */
    uint64_t tail = g.off < g.end ? 0 : g.end - g.line_start;
    if (rc == 0 && tail > 0 && g.ok && g.x.have && lost == NULL) {
        rc = lb_recog_torn(m, &g, tail, err);
        tail = 0;
    }
    if (rc != 0) {
        lb_expect_free(&g.x);
        return rc;
    }
    const char *own_id = g.torn_own ? g.x.id : g.x.before[0] != '\0' ? g.x.before : ck->id;
    lb_recog_report(m, ck, &g, tail, own_id);
    *own_end = g.own_end;
    *resent = g.resent + g.x.resent;
    if (m->mm != NULL) {
        /* several streams: each one's last entry dealt with; the largest
         * is the checkpoint's "id" */
        if (g.torn_own)
            snprintf(g.x.bids[g.x.which], LB_SID_BUF, "%s", g.x.id);
        lb_many_set_ids(m, g.x.bids);
    } else {
        lb_mirror_set_last(m, own_id, strlen(own_id));
    }
    lb_expect_free(&g.x);
    return 0;
}

/*
 * Reconcile the file with checkpoint ck (same inode), up to `end`: at start
 * the file's size, after a failover the end of our last write (lost: the
 * last entry handled before it). The ranges of lines the checkpoint says
 * await their entries are indexed again; our lines after the checkpoint are
 * recognised (entries whose lines await them take those lines); and what
 * follows our own lines up to `end` is one more range. After a failover
 * that range is ours: lines whose entries were lost (and another writer's
 * between them). At start it may be ours or another writer's: nothing tells
 * them apart once the checkpoint that said where our writes ended is lost
 * with the failover, and only a byte-identical line can take one of them.
 * On return m->last, m->aw and (at start) m->size say where we are. 0 or an
 * error code (nothing written: safe to redo).
 */
int lb_mirror_reconcile(struct lb_mirror *m, const struct lb_mirror_ckpt *ck, uint64_t end,
                        const struct lb_sid *lost, struct lb_error *err)
{
    int rc = 0;
    lb_await_free(&m->aw);
    for (size_t i = 0; rc == 0 && i < ck->nawait && ck->await[i].to <= ck->size; i++)
        rc = lb_await_add(&m->aw, m->fd, ck->await[i].from, ck->await[i].to, err);
    if (rc == 0 && m->aw.left > 0)
        lb_info("%s: %zu lines (in %zu ranges, from offset %" PRIu64 ") await their entries "
                "since a failover, as the checkpoint says",
                m->what, m->aw.left, m->aw.nr, m->aw.r[0].from);
    uint64_t own_end = ck->size, resent = 0;
    if (rc == 0 && end > ck->size)
        rc = lb_mirror_recognise(m, ck, end, lost, &own_end, &resent, err);
    else if (rc == 0)
        lb_mirror_set_last(m, ck->id, strlen(ck->id));
    size_t had = m->aw.nr;
    if (rc == 0 && own_end < end)
        rc = lb_await_add(&m->aw, m->fd, own_end, end, err);
    if (rc != 0) {
        lb_await_free(&m->aw);
        return rc;
    }
    if (m->aw.dropped > 0 || m->aw.cut)
        lb_warn("%s: more lines could await their entries than are kept (%u lines, %d ranges): "
                "%" PRIu64 " of an earlier failover's are not awaited any more%s; an entry of "
                "theirs that comes back is written again",
                m->what, LB_AWAIT_MAX_LINES, LB_AWAIT_RANGES, m->aw.dropped,
                m->aw.cut ? ", nor the last ones after this one's first" : "");
    if (m->aw.nr > had)
        lb_info("%s: %zu lines (bytes %" PRIu64 "-%" PRIu64 ") after its own %s", m->what,
                m->aw.r[m->aw.nr - 1].hi - m->aw.r[m->aw.nr - 1].lo, m->aw.r[m->aw.nr - 1].from,
                m->aw.r[m->aw.nr - 1].to,
                lost != NULL ? "are lines whose entries the failover lost: when they are sent "
                               "again, they are not written twice"
                             : "await their entries, in case a failover lost them while mirror "
                               "was stopped (another writer's lines are kept whatever happens)");
    if (lost == NULL)
        m->size = m->aw.nr > had && m->aw.r[m->aw.nr - 1].to > own_end ? m->aw.r[m->aw.nr - 1].to
                                                                       : own_end;
    if (!lb_await_on(&m->aw))
        lb_await_free(&m->aw);
    m->recon_resent = resent;
    m->last_sum = 0;
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
        if (ck.dev == m->dev && ck.ino == m->ino && m->size >= ck.size) {
            /* Our lines written after the checkpoint (a kill before it was
             * recorded) and another writer's, and lines awaiting their
             * entries: tell them apart. */
            if (m->size == ck.size && ck.nawait == 0)
                lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", ck.id), LB_F_U64("size", m->size)),
                           "mirror: resuming after id");
            if ((rc = lb_mirror_reconcile(m, &ck, m->size, NULL, err)) != 0)
                return rc;
        } else if (ck.dev != m->dev || ck.ino != m->ino) {
            lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("dev", m->dev), LB_F_U64("ino", m->ino),
                                        LB_F_U64("size", m->size), LB_F_STR("id", ck.id)),
                       "mirror: a new generation (the checkpoint was for dev=%llu ino=%llu): "
                       "continuing after id",
                       ck.dev, ck.ino);
            lb_mirror_set_last(m, ck.id, strlen(ck.id));
        } else {
            lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("size", m->size), LB_F_STR("id", ck.id)),
                       "mirror: a new generation (shorter than the %" PRIu64
                       " bytes recorded: truncated by logrotate?): continuing after id",
                       ck.size);
            lb_mirror_set_last(m, ck.id, strlen(ck.id));
        }
        struct lb_await_range r[LB_AWAIT_RANGES];
        size_t nr = lb_await_ranges(&m->aw, r);
        int same_await = nr == ck.nawait;
        for (size_t i = 0; same_await && i < nr; i++)
            same_await = r[i].from == ck.await[i].from && r[i].to == ck.await[i].to;
        if (ck.dev != m->dev || ck.ino != m->ino || ck.size != m->size ||
            strcmp(ck.id, m->last_id) != 0 || !same_await)
            m->ck_seq++;
    } else {
        char id[LB_SID_BUF];
        struct lb_sid sid;
        /* "$" is resolved now, so that nothing added between this start and
         * the first XREAD is missed; recorded below, so a restart keeps it. */
        if (lb_sid_arg(m->o->from, LB_SID_FORM_ID | LB_SID_FORM_LAST, 0, &sid) ==
                LB_SID_FORM_LAST &&
            (rc = lb_stream_last_id(m->r, m->o->streams.v[0], &sid, err)) != 0)
            return rc;
        lb_sid_format(sid, id);
        lb_mirror_set_last(m, id, strlen(id));
        m->lost_quiet = 1;
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", id), LB_F_U64("size", m->size)),
                   "mirror: no checkpoint; starting after id (--from %s)", m->o->from);
        m->ck_seq++;
    }
    /* the point a failover that takes every later checkpoint goes back to */
    snprintf(m->base_id, sizeof(m->base_id), "%s", m->last_id);
    m->base_size = m->size;
    if (lb_ck_pending(m) && (rc = lb_mirror_ckpt_save(m, err)) != 0)
        return rc;
    if (m->o->once) {
        if ((rc = lb_stream_last_id(m->r, m->o->streams.v[0], &m->end, err)) != 0)
            return rc;
    }
    m->lag.pos_known = 0;
    return lb_mirror_observe(m, 1, err);
}
