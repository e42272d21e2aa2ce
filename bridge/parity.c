/*
 * parity.c - `logbridge parity`: compare legacy files with a stream and say,
 * for people and for CI, whether a reader switched from one to the other
 * would see the same lines (DESIGN.md section 5).
 *
 * Both sides are streamed: the files through bridge/source.c, the stream in
 * XRANGE pages of 1000 read straight off the socket (a small RESP reader
 * instead of hiredis's reply objects: fourteen mallocs an entry were most of
 * the client's time), with page k+1 requested before page k is processed so
 * that Redis works while we do. Each line and each entry is reduced to its
 * comparable text (the legacy line after mirror's CR/LF escape) and a 64-bit
 * hash of it; nothing else of it is kept, so memory does not grow with the
 * sizes. The texts of the few examples are read again at the end.
 *
 * --order strict aligns two sequences per group (see "alignment" below):
 *  - when entries carry provenance (src/off, and src names one of the FILEs),
 *    a group is one src: entries are matched to lines by offset. A src given
 *    to several files (--src NAME over a rotated chain, whose offsets restart
 *    per generation) is aligned by (content, offset) as a sequence instead,
 *    because an offset alone is not unique there;
 *  - otherwise all FILEs, in the order given, form one sequence compared by
 *    content.
 * --order any counts the stream's texts in a hash table, then takes the
 * files' lines out of it: memory is O(distinct entries), 12 bytes each.
 *
 * Decisions where DESIGN.md is silent:
 *  - The counts partition both sides: file_lines = matched + mismatched +
 *    out_of_order + missing_in_stream + trimmed, and stream_entries =
 *    matched + mismatched + out_of_order + extra_in_stream. A line found out
 *    of position is out_of_order, not matched; moved and changed, mismatched.
 *  - trimmed: lines before their group's first entry, while Redis reports
 *    deletions to account for them (entries-added - length, one fewer when
 *    the largest deleted ID lies inside the retained range: an XDEL there);
 *    beyond that they are missing. Deleting the very first entries by XDEL
 *    cannot be told from trimming. Redis < 7 has no entries-added: nothing
 *    counts as trimmed there. Trimmed lines keep `equal` true and are no
 *    examples (neither are bad lines).
 *  - --from/--to cut the file side only where they cut the stream (--from
 *    after its first entry, --to before its last): lines before the first
 *    / after the last line that has an entry in the window are in no count.
 *    Without --to the range ends at the last entry XINFO saw, and lines
 *    after it (a lagging tail) are missing: on a live system, give a --to.
 *  - Provenance is used when the first entry compared carries src and off
 *    and its src is one of the FILEs' (absolute paths, or --src); then an
 *    entry from any other src is extra. --no-provenance forces content.
 *  - The json encoding cannot carry lines that are not UTF-8 (import sends
 *    them to the DLQ): with --encoding json, or when the stream's first entry
 *    is json, such lines are bad lines here too.
 *  - Examples are the first --max-examples differences in report order
 *    (lines by FILE and line number, then extra entries by ID), not in the
 *    order found. stdin is refused as a FILE: examples re-read the FILEs.
 *  - Several --stream, or a template (DESIGN.md section 8): the union of the
 *    streams it stands for, read through the merge (stream_merge.c; one
 *    stream keeps the read-ahead reader). XINFO per stream: the deletion
 *    budget is their sum, --from/--to cut when they cut any stream, and the
 *    range ends at the last entry of any. Through a template with deletions
 *    each line knows its stream (the template rendered with it), and a
 *    stream trimmed on its own explains its own lines only: trimmed while its
 *    budget lasts and the line lies before its first entry from that FILE
 *    (provenance; content alignment keeps the union's rule). An example
 *    names its stream: the entry's, or the line's by the template. The
 *    baseline knows entries by ID alone.
 */
#include "parity_int.h"

#include "clock.h"
#include "opts.h"

#include "checkpoint.h"
#include "entry.h"
#include "cli.h"
#include "error.h"
#include "feed.h"
#include "jobs.h"
#include "log.h"
#include "redis.h"
#include "source.h"
#include "stream_id.h"
#include "stream_info.h"
#include "stream_merge.h"
#include "stream_reader.h"
#include "stream_set.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- Redis: XINFO STREAM ----------------------------------------------------------------------
 */

/*
 * What the stream's head may explain. Redis 7 counts every entry ever added
 * (entries-added); what is missing from length was deleted, by trimming or
 * XDEL. Lines before their group's first entry may be trimmed ones, but never
 * more of them than were deleted; and when the largest deleted ID is inside
 * the retained range, at least one deletion was not at the head.
 */
static uint64_t lb_parity_deleted(const struct lb_stream_info *si)
{
    uint64_t n = 0;
    if (si->has_added && si->added > si->length) {
        n = si->added - si->length;
        if (si->has_first && lb_sid_cmp(si->max_deleted, si->first) >= 0)
            n--;
    }
    return n;
}

/* Over several streams (DESIGN.md section 8) each explains its own
 * deletions: the budget is their sum; --from/--to cut the union when they
 * cut any of them; the range ends at the last entry XINFO saw in any. */
static void lb_parity_window(struct lb_parity *p, const struct lb_stream_info *sis, int n)
{
    const struct lb_parity_opts *o = p->o;
    struct lb_sid from = {0, 0}, to = {UINT64_MAX, UINT64_MAX};
    if (o->from != NULL)
        lb_sid_arg(o->from, LB_SID_FORMS_RANGE, 0, &from);
    if (o->to != NULL)
        lb_sid_arg(o->to, LB_SID_FORMS_RANGE, 1, &to);
    p->budget = 0;
    p->from_cuts = p->to_cuts = 0;
    memset(&p->si, 0, sizeof(p->si));
    p->si.has_added = 1;
    for (int i = 0; i < n; i++) {
        const struct lb_stream_info *si = &sis[i];
        if (!si->exists)
            continue;
        p->si.exists = 1;
        p->si.has_added &= si->has_added;
        p->budget += lb_parity_deleted(si);
        p->from_cuts |= o->from != NULL && si->has_first && lb_sid_cmp(from, si->first) > 0;
        p->to_cuts |= o->to != NULL && si->has_last && lb_sid_cmp(to, si->last) < 0;
        if (si->has_last && (!p->si.has_last || lb_sid_cmp(si->last, p->si.last) > 0)) {
            p->si.has_last = 1;
            p->si.last = si->last;
        }
    }
    snprintf(p->range_start, sizeof(p->range_start), "%s", o->from != NULL ? o->from : "-");
    /* Without --to (or with one past it), stop at the last entry XINFO saw,
     * so that what we read agrees with what it said about head and deletions. */
    if (o->to != NULL && (p->to_cuts || !p->si.has_last))
        snprintf(p->range_end, sizeof(p->range_end), "%s", o->to);
    else if (p->si.has_last)
        snprintf(p->range_end, sizeof(p->range_end), "%" PRIu64 "-%" PRIu64, p->si.last.ms,
                 p->si.last.seq);
    else
        snprintf(p->range_end, sizeof(p->range_end), "+");
}

/* Deletions per stream, when several streams through a template have any:
 * then each line's stream decides whether it may be trimmed. */
static int lb_parity_stream_budgets(struct lb_parity *p, const struct lb_stream_info *sis,
                                    struct lb_error *err)
{
    const char *tmpl = NULL;
    for (int i = 0; i < p->o->streams.n && tmpl == NULL; i++)
        if (lb_stream_is_template(p->o->streams.v[i]))
            tmpl = p->o->streams.v[i];
    if (p->names.n < 2 || tmpl == NULL || p->budget == 0)
        return 0;
    p->sbudget = calloc((size_t)p->names.n, sizeof(*p->sbudget));
    p->sfirst = malloc((size_t)p->names.n * (size_t)p->nfiles * sizeof(*p->sfirst));
    if (p->sbudget == NULL || p->sfirst == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    for (int i = 0; i < p->names.n; i++)
        p->sbudget[i] = lb_parity_deleted(&sis[i]);
    for (size_t k = 0; k < (size_t)p->names.n * (size_t)p->nfiles; k++)
        p->sfirst[k] = UINT64_MAX;
    p->line_tmpl = tmpl;
    return 0;
}

/* The streams --stream stands for, and XINFO STREAM of each. */
static int lb_parity_streams(struct lb_parity *p, struct lb_error *err)
{
    int rc = lb_streams_resolve(p->r, &p->o->streams, &p->names, err);
    if (rc != 0)
        return rc;
    if (p->names.n > UINT16_MAX)
        return lb_error_set(err, LB_EUSAGE, "--stream stands for %d streams: at most %d",
                            p->names.n, UINT16_MAX);
    struct lb_stream_info *sis = calloc((size_t)p->names.n + 1, sizeof(*sis));
    if (sis == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    for (int i = 0; i < p->names.n && rc == 0; i++)
        rc = lb_stream_info_read(p->r, p->names.v[i], &sis[i], err);
    if (rc == 0) {
        lb_parity_window(p, sis, p->names.n);
        rc = lb_parity_stream_budgets(p, sis, err);
        if (p->names.n > 1 || lb_stream_is_template(p->o->streams.v[0]))
            lb_info("parity: %d streams", p->names.n);
    }
    free(sis);
    return rc;
}

/* ---- reading the streams -----------------------------------------------------------------------
 */

/* The entries of every stream in range: one stream through the read-ahead
 * reader, several merged in entry-ID order (stream_merge.c). */
struct lb_pscan {
    int merged;
    struct lb_xrange pg;
    const redisReply *page;
    size_t i;
    struct lb_merge mg;
};

static int lb_pscan_begin(struct lb_parity *p, struct lb_pscan *sc, struct lb_error *err)
{
    memset(sc, 0, sizeof(*sc));
    sc->merged = p->names.n != 1;
    if (sc->merged)
        return lb_merge_begin(&sc->mg, p->r, (const char *const *)p->names.v, p->names.n,
                              p->range_start, p->range_end, p->o->c.json_field, err);
    return lb_xrange_begin(&sc->pg, p->r, p->names.v[0], p->range_start, p->range_end, err);
}

/* 1 with *e decoded (valid until the next call) and *which its stream, 0 at
 * the end, or an error. */
static int lb_pscan_next(struct lb_parity *p, struct lb_pscan *sc, struct lb_entry *e, int *which,
                         struct lb_error *err)
{
    if (sc->merged) {
        const struct lb_entry *en;
        int rc = lb_merge_next(&sc->mg, &en, which, err);
        if (rc == 1)
            *e = *en;
        return rc;
    }
    while (sc->page == NULL || sc->i >= sc->page->elements) {
        int rc = lb_xrange_next(&sc->pg, &sc->page, err);
        if (rc <= 0)
            return rc;
        sc->i = 0;
    }
    lb_entry_decode(&p->dec, sc->page->element[sc->i++], e);
    *which = 0;
    return 1;
}

/* Stop early with the connection usable. */
static int lb_pscan_abort(struct lb_pscan *sc, struct lb_error *err)
{
    return sc->merged ? lb_merge_drain(&sc->mg, err) : lb_xrange_abort(&sc->pg, err);
}

static void lb_pscan_free(struct lb_pscan *sc)
{
    lb_merge_free(&sc->mg);
    lb_xrange_free(&sc->pg);
}

/* ---- entries -------------------------------------------------------------------------------- */

static int lb_slice_is(const struct lb_slice *s, const char *lit, size_t n)
{
    return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* Check and filter by --src; 1 when the entry (of stream `which`) is in
 * the comparison. */
static int lb_parity_entry(struct lb_parity *p, const struct lb_entry *e, int which,
                           struct lb_error *err)
{
    if (e->malformed)
        return lb_error_set(err, LB_EREPLY, "redis at %s: XRANGE %s: %s", lb_redis_addr(p->r),
                            p->names.v[which], e->why);
    if (!p->utf8_known) {
        /* The stream's encoding is its first entry's: json cannot carry lines
         * that are not UTF-8, so those lines are bad on the file side too. */
        p->utf8_rule = p->o->c.json_encoding || e->json;
        p->utf8_known = 1;
    }
    if (p->o->src != NULL && !(e->has_src && lb_slice_is(&e->src, p->o->src, strlen(p->o->src))))
        return 0;
    return 1;
}

/* The entry as an item: content hash, ID, off (keys are the group's). */
static int lb_parity_item(struct lb_parity *p, const struct lb_entry *e, int which,
                          struct lb_align_item *it, struct lb_error *err)
{
    memset(it, 0, sizeof(*it));
    int rc = lb_parity_text_room(p, lb_parity_text_cap(&e->rec), err);
    if (rc != 0)
        return rc;
    it->hash = lb_parity_hash(p->text, lb_parity_text(&e->rec, p->text));
    it->ms = e->id.ms;
    it->seq = e->id.seq;
    it->off = e->off;
    it->stream = (uint16_t)which;
    return 0;
}

/* ---- --order strict ---------------------------------------------------------------------------
 */

static int lb_parity_mode_decide(struct lb_parity *p, const struct lb_entry *e,
                                 struct lb_error *err)
{
    int prov = 0;
    if (e != NULL && p->o->c.provenance && e->has_src && e->has_off)
        for (int i = 0; i < p->nfiles && !prov; i++)
            prov = lb_slice_is(&e->src, p->pf[i].src, strlen(p->pf[i].src));
    p->mode = prov ? LB_MODE_PROV : LB_MODE_CONTENT;
    p->rep.aligned_by = prov;
    if (!p->utf8_known) {
        p->utf8_rule = p->o->c.json_encoding;
        p->utf8_known = 1;
    }
    int rc = lb_parity_feed(p, err);
    if (rc != 0)
        return rc;
    return lb_parity_groups(p, 0, prov, err);
}

/* Where stream s starts in each FILE: the first entry routed to group g
 * (one FILE, by src/off); an entry of a generation older than the FILEs
 * (g NULL) comes before every line of the route's FILEs. */
static void lb_parity_stream_first(struct lb_parity *p, const struct lb_route *r, int s,
                                   const struct lb_group *g, uint64_t off)
{
    uint64_t *row = &p->sfirst[(size_t)s * (size_t)p->nfiles];
    if (g == NULL) {
        for (int k = 0; k < r->nfiles; k++)
            if (row[r->files[k]] == UINT64_MAX)
                row[r->files[k]] = 0;
    } else if (g->nfiles == 1 && row[g->files[0]] == UINT64_MAX) {
        row[g->files[0]] = off;
    }
}

/* 1 when the entry is compared, 0 when it belongs to a generation older
 * than the FILEs given (not compared), < 0 an error. */
static int lb_parity_route(struct lb_parity *p, const struct lb_entry *e, int which,
                           struct lb_error *err)
{
    struct lb_group *g = NULL;
    struct lb_align_item it;
    int rc = lb_parity_item(p, e, which, &it, err);
    if (rc != 0)
        return rc;
    if (p->mode == LB_MODE_PROV) {
        struct lb_route *r = e->has_src && e->has_off ? lb_parity_route_of(p, &e->src) : NULL;
        if (r == NULL) {
            /* Provenance names no FILE given (or is incomplete): no line can be its. */
            if (e->has_src && p->other_src++ == 0)
                snprintf(p->other_src_name, sizeof(p->other_src_name), "%.*s",
                         (int)(e->src.n < 120 ? e->src.n : 120), e->src.p);
        } else {
            int older;
            if ((rc = lb_parity_gen_route(p, r, &it, &g, &older, err)) != 0)
                return rc;
            if (p->sfirst != NULL)
                lb_parity_stream_first(p, r, which, older ? NULL : g, it.off);
            if (older)
                return 0;
        }
        if (g != NULL)
            lb_parity_group_keys(g, &it, LB_ORD_NONE);
    } else {
        g = &p->groups[0];
        int64_t ts = LB_ORD_NONE, ms;
        if (e->ts_from_id)
            ts = e->rec.ts_ms;
        else if (lb_ts_parse(e->rec.ts.p, e->rec.ts.n, &ms) == 0)
            ts = ms;
        lb_parity_group_keys(g, &it, ts);
    }
    if (g == NULL) {
        lb_parity_outcome(p, 0, LB_ALIGN_EXTRA, NULL, &it);
        return 1;
    }
    g->entries++;
    g->dirty = 1;
    if (lb_align_push(g->a, &it) != 0)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    return 1;
}

static int lb_parity_run_group(struct lb_parity *p, struct lb_group *g, int done,
                               struct lb_error *err)
{
    int rc = lb_align_run(g->a, done);
    if (rc == LB_ENOMEM)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    if (rc != 0) {
        *err = p->ferr;
        return rc;
    }
    return 0;
}

/* Align what the entries queued so far allow. */
static int lb_parity_run_dirty(struct lb_parity *p, struct lb_error *err)
{
    int rc = 0;
    for (int j = 0; rc == 0 && j < p->ngroups; j++) {
        if (!p->groups[j].dirty)
            continue;
        p->groups[j].dirty = 0;
        rc = lb_parity_run_group(p, &p->groups[j], 0, err);
    }
    return rc;
}

static int lb_parity_strict(struct lb_parity *p, struct lb_error *err)
{
    struct lb_pscan sc;
    struct lb_entry e;
    int rc = 0, which;
    if (p->si.exists) {
        size_t since = 0;
        rc = lb_pscan_begin(p, &sc, err);
        while (rc == 0 && (rc = lb_pscan_next(p, &sc, &e, &which, err)) == 1) {
            int in = lb_parity_entry(p, &e, which, err);
            if (in <= 0) {
                rc = in;
                continue;
            }
            if (p->mode == LB_MODE_UNSET && (rc = lb_parity_mode_decide(p, &e, err)) != 0)
                break;
            rc = lb_parity_route(p, &e, which, err);
            if (rc == 1)
                p->rep.c.stream_entries++;
            rc = rc < 0 ? rc : 0;
            /* as often as a page of one stream: the aligner's queues stay short */
            if (rc == 0 && ++since == LB_XRANGE_PAGE) {
                since = 0;
                rc = lb_parity_run_dirty(p, err);
            }
        }
        if (rc == 0)
            rc = lb_parity_run_dirty(p, err);
        lb_pscan_free(&sc);
        if (rc < 0)
            return rc;
    }
    if (p->mode == LB_MODE_UNSET && (rc = lb_parity_mode_decide(p, NULL, err)) != 0)
        return rc;
    for (int j = 0; j < p->ngroups; j++)
        if ((rc = lb_parity_run_group(p, &p->groups[j], 1, err)) != 0)
            return rc;
    return 0;
}

/* ---- --order any ------------------------------------------------------------------------------
 */

/* A run of unmatched lines after a matched one: missing if another match
 * follows, past the last match (TAIL) otherwise. Counted per file as it
 * goes (pending lines apart); the first few lines are kept for examples,
 * every line when a baseline is read or written (each is judged alone). */
struct lb_unmatched {
    uint64_t *miss, *pend; /* per file */
    struct lb_align_item *it;
    size_t n, cap, excap;
    int keep_all;
    uint64_t total;
};

static void lb_unmatched_flush(struct lb_parity *p, struct lb_unmatched *u, enum lb_align_kind kind)
{
    if (u->total == 0)
        return;
    int outside = kind == LB_ALIGN_TAIL && p->to_cuts;
    for (int i = 0; i < p->nfiles; i++) {
        if (outside) {
            lb_parity_count(p, LB_OUT_OUTSIDE, i, u->miss[i] + u->pend[i]);
        } else {
            lb_parity_count(p, LB_OUT_PENDING, i, u->pend[i]);
            if (!u->keep_all)
                lb_parity_count(p, LB_OUT_MISSING, i, u->miss[i]);
        }
        u->miss[i] = u->pend[i] = 0;
    }
    for (size_t i = 0; !outside && i < u->n; i++) {
        if (u->keep_all)
            lb_parity_diff(p, LB_PK_MISSING, LB_OUT_MISSING, &u->it[i], NULL);
        else
            lb_parity_example(p, LB_PK_MISSING, &u->it[i], NULL);
    }
    u->n = 0;
    u->total = 0;
}

static int lb_unmatched_add(struct lb_parity *p, struct lb_unmatched *u,
                            const struct lb_align_item *it)
{
    u->total++;
    if (lb_parity_line_pending(p, it)) {
        u->pend[it->file]++;
        return 0;
    }
    u->miss[it->file]++;
    if (!u->keep_all && u->n >= u->excap)
        return 0;
    if (u->n == u->cap) {
        size_t nc = u->cap ? u->cap * 2 : 64;
        struct lb_align_item *x = realloc(u->it, nc * sizeof(*x));
        if (x == NULL)
            return LB_ENOMEM;
        u->it = x;
        u->cap = nc;
    }
    u->it[u->n++] = *it;
    return 0;
}

/* 1. The stream into the multiset: the hash of every entry in range. */
static int lb_parity_any_fill(struct lb_parity *p, struct lb_mset *m, struct lb_error *err)
{
    struct lb_pscan sc;
    struct lb_entry e;
    struct lb_align_item it;
    int which;
    int rc = lb_pscan_begin(p, &sc, err);
    while (rc == 0 && (rc = lb_pscan_next(p, &sc, &e, &which, err)) == 1) {
        int in = lb_parity_entry(p, &e, which, err);
        if (in <= 0) {
            rc = in;
            continue;
        }
        p->rep.c.stream_entries++;
        if ((rc = lb_parity_item(p, &e, which, &it, err)) == 0 && lb_mset_add(m, it.hash) != 0)
            rc = lb_error_set(err, LB_ENOMEM, "out of memory for the --order any table");
    }
    lb_pscan_free(&sc);
    return rc;
}

/* One line of a group: a match takes its entry out of the multiset (and
 * settles the run of unmatched lines before it as missing); an unmatched
 * line before the group's first match is its head; after it, it joins the
 * run of unmatched lines (missing if a match follows, tail if none does). */
static int lb_parity_any_line(struct lb_parity *p, struct lb_group *g, struct lb_mset *m,
                              struct lb_unmatched *u, int has_entries,
                              const struct lb_align_item *it)
{
    if (lb_mset_take(m, it->hash)) {
        lb_unmatched_flush(p, u, LB_ALIGN_MISSING);
        g->seen_match = 1;
        lb_parity_count(p, LB_OUT_MATCH, (int)it->file, 1);
        return 0;
    }
    if (!g->seen_match) {
        lb_parity_outcome(p, has_entries, LB_ALIGN_HEAD, it, NULL);
        return 0;
    }
    return lb_unmatched_add(p, u, it);
}

/* 2. The lines out of the multiset, per group in order, to tell head and
 * tail apart. */
static int lb_parity_any_lines(struct lb_parity *p, struct lb_mset *m, struct lb_error *err)
{
    struct lb_unmatched u;
    struct lb_align_item it;
    int rc = 0;
    memset(&u, 0, sizeof(u));
    u.miss = calloc((size_t)p->nfiles, sizeof(uint64_t));
    u.pend = calloc((size_t)p->nfiles, sizeof(uint64_t));
    u.excap = (size_t)p->o->max_examples;
    u.keep_all = p->bl != NULL || p->blw != NULL;
    if (u.miss == NULL || u.pend == NULL) {
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
        goto done;
    }
    int has_entries = p->rep.c.stream_entries > 0;
    for (int j = 0; j < p->ngroups; j++) {
        struct lb_group *g = &p->groups[j];
        int64_t ts;
        while ((rc = lb_parity_reader_next(p, &g->rd, &it, &ts, err)) == 1)
            if (lb_parity_any_line(p, g, m, &u, has_entries, &it) != 0) {
                rc = lb_error_set(err, LB_ENOMEM, "out of memory");
                goto done;
            }
        if (rc < 0)
            goto done;
        lb_unmatched_flush(p, &u, LB_ALIGN_TAIL);
    }
done:
    free(u.miss);
    free(u.pend);
    free(u.it);
    return rc;
}

/* 3. Which entries were extra: read the stream again. Each one is judged
 * alone when a baseline is read or written; otherwise only for examples
 * (they come after every line in report order: only if there is room), and
 * the rest is counted at once. */
static int lb_parity_any_extra(struct lb_parity *p, struct lb_mset *m, struct lb_error *err)
{
    struct lb_pscan sc;
    struct lb_entry e;
    struct lb_align_item it;
    int all = p->bl != NULL || p->blw != NULL;
    int which, full = 0;
    int rc = lb_pscan_begin(p, &sc, err);
    while (rc == 0 && !full && (rc = lb_pscan_next(p, &sc, &e, &which, err)) == 1) {
        int in = lb_parity_entry(p, &e, which, err);
        if (in <= 0) {
            rc = in;
            continue;
        }
        if ((rc = lb_parity_item(p, &e, which, &it, err)) == 0 && lb_mset_take(m, it.hash))
            lb_parity_diff(p, LB_PK_EXTRA, LB_OUT_EXTRA, NULL, &it);
        full = lb_mset_total(m) == 0 || (!all && p->rep.nexamples >= (size_t)p->o->max_examples);
    }
    if (rc >= 0)
        rc = lb_pscan_abort(&sc, err);
    lb_pscan_free(&sc);
    return rc;
}

/* --order any: the stream's entries into a multiset of hashes (1), the
 * files' lines taken out of it group by group (2); what is left over is
 * extra (3). */
static int lb_parity_any(struct lb_parity *p, struct lb_error *err)
{
    struct lb_mset *m = lb_mset_create();
    int rc = 0;
    if (m == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    p->rep.aligned_by = 0;

    if (p->si.exists && (rc = lb_parity_any_fill(p, m, err)) < 0)
        goto done;
    if (!p->utf8_known) {
        p->utf8_rule = p->o->c.json_encoding;
        p->utf8_known = 1;
    }
    if ((rc = lb_parity_feed(p, err)) != 0 || (rc = lb_parity_groups(p, 1, 0, err)) != 0)
        goto done;
    if ((rc = lb_parity_any_lines(p, m, err)) < 0)
        goto done;
    if (lb_mset_total(m) > 0 &&
        (p->bl != NULL || p->blw != NULL || p->rep.nexamples < (size_t)p->o->max_examples))
        rc = lb_parity_any_extra(p, m, err);
    lb_parity_count(p, LB_OUT_EXTRA, -1, lb_mset_total(m));
done:
    lb_mset_destroy(m);
    return rc < 0 ? rc : 0;
}

/* ---- options ----------------------------------------------------------------------------------
 */

/* An ID as --from (is_end 0) or --to (1) take it. */
static int lb_parity_id_ok(const char *arg, int is_end)
{
    struct lb_sid x;
    return strlen(arg) < 44 && lb_sid_arg(arg, LB_SID_FORMS_RANGE, is_end, &x) >= 0;
}

static int lb_parity_set_from(void *base, const char *arg, char *why, size_t cap)
{
    (void)why, (void)cap;
    return lb_parity_id_ok(arg, 0) ? (((struct lb_parity_opts *)base)->from = arg, 0) : -1;
}

static int lb_parity_set_to(void *base, const char *arg, char *why, size_t cap)
{
    (void)why, (void)cap;
    return lb_parity_id_ok(arg, 1) ? (((struct lb_parity_opts *)base)->to = arg, 0) : -1;
}

#define LB_P struct lb_parity_opts
#define LB_PARITY_ID "a stream ID (ms-seq, ms, - or +)"
static const struct lb_opt lb_parity_opt_table[] = {
    LB_OPT_STREAMS("stream", LB_P, streams,
                   "the stream; repeated, or a template such as '{ev}:%{type}':\n"
                   "the union of the streams, merged in entry-ID order",
                   LB_OPTF_REQUIRED),
    LB_OPT_STR("src", LB_P, src, "a src name", "NAME",
               "only entries whose src is NAME; NAME is then the src of\n"
               "every FILE (a rotated chain written by tail)",
               0),
    {.name = "from",
     .kind = LB_ARG_SET,
     .set = lb_parity_set_from,
     .what = LB_PARITY_ID,
     .label = "--from ID, --to ID",
     .help = "only entries in this ID range (inclusive, as XRANGE);\n"
             "lines before / after the window's entries are not compared"},
    LB_OPT_SET("to", lb_parity_set_to, LB_PARITY_ID, "ID", NULL, 0),
    LB_OPT_CHOICE("order", LB_P, order_any, "strict|any", "strict|any",
                  "in order (default), or as multisets (interleaved producers)", 0),
    LB_OPT_CHOICE("report", LB_P, report, "text|json|junit", "text|json|junit",
                  "report format (default text)", 0),
    LB_OPT_STR("out", LB_P, out, "a path", "PATH",
               "write the report to PATH (atomically) instead of stdout", 0),
    LB_OPT_NUM("max-examples", LB_ARG_INT, LB_P, max_examples, 0, 100000,
               "a number from 0 to 100000", "N", "differences shown in full (default 10)", 0),
    LB_OPT_FLAG("no-pending", LB_P, no_pending, 1,
                "lines past the checkpoint of a file being tailed are missing,\n"
                "not pending",
                0),
    LB_OPT_STR("baseline", LB_P, baseline, "a path", "FILE",
               "accept the differences listed in FILE (counted as accepted)", 0),
    LB_OPT_STR("write-baseline", LB_P, write_baseline, "a path", "FILE",
               "write every difference of this run to FILE, as a baseline", 0),
    LB_OPT_END,
};
#undef LB_P

static const struct lb_optspec lb_parity_optspec = {
    .usage = "Usage: logbridge parity --stream S [options] FILE...\n"
             "Compare the lines of FILE... (oldest first; .gz read through zlib) with the\n"
             "entries of stream S. Exit 0 when equal, 1 when they differ.\n",
    .opts = lb_parity_opt_table,
    .footer = "\n"
              "Entries in either encoding are read without being told. Blank lines are\n"
              "ignored; bad lines are counted in bad_lines and not compared. Lines older than\n"
              "the stream's first entry count as trimmed (not missing) as far as Redis\n"
              "reports deleted entries; trimmed lines do not make the result different.\n"
              "Alignment uses src/off when the entries carry them (and --no-provenance is\n"
              "not given), else the content of the lines. A rotated chain written by tail\n"
              "has every generation under the live path's name: give its files with --src\n"
              "and the live path; each run of entries is matched to the FILE it was read\n"
              "from, generations older than the FILEs are not compared, and one missing\n"
              "from the chain is named. When the stream holds a checkpoint for a FILE, its\n"
              "lines past the committed offset (and the FILEs after it that no entry is\n"
              "from yet) are pending, not missing (--no-pending: missing). With --encoding\n"
              "json, or a json stream, lines that are not UTF-8 are bad lines (import sent\n"
              "them to the DLQ).\n",
    .common_off = offsetof(struct lb_parity_opts, c),
    .operands = 1,
};

static int lb_parity_parse(struct lb_parity_opts *o, int argc, char **argv)
{
    struct lb_cli cli = {"parity", NULL};
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->max_examples = 10;
    int first;
    int rc = lb_opts_parse(&lb_parity_optspec, o, argc, argv, &cli, &first);
    if (rc != 0)
        return rc;
    o->files = argv + first;
    o->nfiles = argc - first;
    if (o->nfiles == 0)
        return lb_cli_error(&cli, NULL, "expected at least one FILE");
    for (int i = 0; i < o->nfiles; i++)
        if (strcmp(o->files[i], "-") == 0)
            return lb_cli_error(&cli, NULL,
                                "stdin (-) cannot be compared: parity reads its FILEs twice "
                                "to show examples");
    return 0;
}

/* ---- the command ------------------------------------------------------------------------------
 */

/* Every FILE must be readable before anything is compared (exit 3 otherwise). */
static int lb_parity_files(struct lb_parity *p, struct lb_error *err)
{
    const struct lb_parity_opts *o = p->o;
    p->nfiles = o->nfiles;
    p->pf = calloc((size_t)o->nfiles, sizeof(*p->pf));
    p->fst = calloc((size_t)o->nfiles, sizeof(*p->fst));
    if (p->pf == NULL || p->fst == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    for (int i = 0; i < o->nfiles; i++) {
        const char *path = o->files[i];
        p->pf[i].path = path;
        p->fst[i].path = path;
        if (o->src != NULL)
            snprintf(p->pf[i].src, sizeof(p->pf[i].src), "%s", o->src);
        else if (lb_abs_path(path, p->pf[i].src, sizeof(p->pf[i].src)) != 0)
            return lb_error_set(err, LB_EIO, "%s: path too long", path);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return lb_error_set(err, LB_EIO, "%s: %s", path, strerror(errno));
        /* st is read only after fstat filled it, and errno is saved before
         * close() may change it */
        struct stat st;
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            return lb_error_set(err, LB_EIO, "%s: fstat: %s", path, strerror(e));
        }
        close(fd);
        if (S_ISDIR(st.st_mode))
            return lb_error_set(err, LB_EIO, "%s: is a directory", path);
    }
    return 0;
}

/* Every line and every entry is in exactly one count: a failure here is a bug. */
static void lb_parity_check(const struct lb_parity *p)
{
    const struct lb_parity_counts *c = &p->rep.c;
    if (c->file_lines != c->matched + c->mismatched + c->ooo + c->missing + c->trimmed +
                             c->pending + c->accepted_lines ||
        c->stream_entries != c->matched + c->mismatched + c->ooo + c->extra + c->accepted_entries)
        lb_error_log("parity: inconsistent counts (file_lines=%" PRIu64 " stream_entries=%" PRIu64
                     " matched=%" PRIu64 " mismatched=%" PRIu64 " out_of_order=%" PRIu64
                     " missing=%" PRIu64 " extra=%" PRIu64 " trimmed=%" PRIu64 "); please report",
                     c->file_lines, c->stream_entries, c->matched, c->mismatched, c->ooo,
                     c->missing, c->extra, c->trimmed);
}

/* Entries under one FILE's name from generations older than it, and other
 * FILEs with no entry under their own names: a rotated chain written by
 * tail, given without --src. */
static void lb_parity_chain_hint(const struct lb_parity *p)
{
    if (p->o->src != NULL || p->mode != LB_MODE_PROV)
        return;
    for (int j = 0; j < p->nroutes; j++) {
        const struct lb_route *r = &p->routes[j];
        if (r->older.entries == 0)
            continue;
        int bare = 0;
        for (int k = 0; k < p->nroutes; k++)
            bare += p->routes[k].entries == 0;
        if (bare > 0)
            lb_warn("parity: %d of the FILEs have no entry under their own names, while src=%s "
                    "has older generations: a rotated chain written by tail, where every "
                    "generation keeps the live path's name? Then give all generations, oldest "
                    "first, with --src %s",
                    bare, r->src, r->src);
    }
}

static void lb_parity_free(struct lb_parity *p)
{
    lb_parity_blw_close(p, 0, NULL);
    lb_baseline_destroy(p->bl);
    lb_parity_groups_free(p);
    lb_parity_routes_free(p);
    lb_feed_destroy(p->feed);
    lb_entry_release(&p->dec);
    lb_redis_destroy(p->r);
    lb_names_free(&p->names);
    free(p->sbudget);
    free(p->sfirst);
    for (size_t k = 0; k < p->rep.nexamples; k++) {
        free(p->rep.examples[k].expected);
        free(p->rep.examples[k].actual);
        free(p->rep.examples[k].stream);
    }
    free(p->rep.examples);
    free(p->text);
    free(p->pf);
    free(p->fst);
}

int lb_cmd_parity(int argc, char **argv)
{
    struct lb_parity_opts o;
    int rc = lb_parity_parse(&o, argc, argv);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_cli cli = {"parity", NULL};
    if ((rc = lb_common_start(&o.c, &cli)) != 0)
        return rc;
    double t0 = lb_clock_mono();

    struct lb_parity p;
    memset(&p, 0, sizeof(p));
    p.o = &o;
    lb_entry_decoder_init(&p.dec, o.c.json_field);
    /* the report names what was asked for: the --stream values */
    char label[1024];
    size_t ln = 0;
    label[0] = '\0';
    for (int i = 0; i < o.streams.n && ln < sizeof(label); i++)
        ln +=
            (size_t)snprintf(label + ln, sizeof(label) - ln, "%s%s", i ? ", " : "", o.streams.v[i]);
    p.rep.stream = label;
    p.rep.order_any = o.order_any;
    struct lb_error err = {0};
    int exit_code = LB_EXIT_RUNTIME;

    p.rep.started = (long long)time(NULL);
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    p.rep.hostname = host;
    p.rep.baseline = o.baseline;
    if ((rc = lb_parity_files(&p, &err)) != 0 || (rc = lb_parity_routes(&p, &err)) != 0)
        goto fail;
    p.rep.files = p.fst;
    p.rep.nfiles = p.nfiles;
    if (o.baseline != NULL && (rc = lb_baseline_load(o.baseline, &p.bl, &err)) != 0)
        goto fail;

    struct lb_redis_cfg cfg;
    if (lb_common_redis_cfg(&o.c, &cfg, &err) != 0) {
        exit_code = lb_cli_error(&cli, "redis", "%s", err.msg);
        goto out;
    }
    if ((p.r = lb_redis_create(&cfg)) == NULL) {
        lb_error_set(&err, LB_ENOMEM, "out of memory");
        goto fail;
    }
    lb_redis_set_route(p.r, o.streams.v[0]);
    /* One attempt: a CI step wants a clear failure now, not a retry loop.
     * The checkpoints are read before XINFO fixes the end of the range: a
     * batch and its checkpoint land together, so every line before a
     * checkpoint's offset has its entry inside the range, and a line after
     * it without one is pending, never missing. */
    if ((rc = lb_redis_connect(p.r, &err)) != 0 || (rc = lb_parity_checkpoints(&p, &err)) != 0 ||
        (rc = lb_parity_streams(&p, &err)) != 0 || (rc = lb_parity_blw_open(&p, &err)) != 0)
        goto fail;
    if (p.si.exists && !p.si.has_added)
        lb_warn("redis at %s does not report entries-added (Redis < 7): a trimmed stream's "
                "old lines count as missing, not trimmed",
                lb_redis_addr(p.r));

    rc = o.order_any ? lb_parity_any(&p, &err) : lb_parity_strict(&p, &err);
    if (rc != 0)
        goto fail;
    lb_parity_gen_report(&p);
    lb_parity_chain_hint(&p);
    if (p.other_src > 0)
        lb_warn("%" PRIu64 " entries come from a src that is none of the FILEs (e.g. src=%s): "
                "they count as extra_in_stream; --src NAME compares one src only",
                p.other_src, p.other_src_name);
    lb_parity_examples_sort(&p);
    if ((rc = lb_parity_fill(&p, &err)) != 0)
        goto fail;
    lb_parity_check(&p);
    p.rep.seconds = lb_clock_mono() - t0;
    p.rep.baseline_unused = lb_baseline_unused(p.bl);
    if (p.rep.baseline_unused > 0)
        lb_info("parity: %" PRIu64 " of the %" PRIu64 " items of the baseline %s matched no "
                "difference (fixed since, or out of the range compared)",
                p.rep.baseline_unused, lb_baseline_size(p.bl), o.baseline);
    if ((rc = lb_parity_blw_close(&p, 1, &err)) != 0 ||
        (rc = lb_parity_write_out(&o, &p.rep, &err)) != 0)
        goto fail;
    exit_code = lb_parity_equal(&p.rep.c) ? LB_EXIT_OK : LB_EXIT_DIFF;
    goto out;
fail:
    lb_error_log("%s", err.msg);
    exit_code = lb_exit_for(err.code);
out:
    lb_parity_free(&p);
    lb_log_close();
    return exit_code;
}
