/*
 * parity_outcome.c - what parity concludes: every line and entry in exactly
 * one count, the trimmed rule for lines before their group's first entry,
 * the first --max-examples differences in report order and their texts, and
 * the multiset of --order any.
 */
#include "parity_int.h"

#include "log.h"
#include "stream_set.h"
#include "stream_id.h"

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

/* ---- the multiset of --order any --------------------------------------------------------- */

struct lb_mset {
    uint64_t *keys; /* 0 = empty (a hash of 0 is stored as 1) */
    uint32_t *counts;
    size_t cap, n;
    uint64_t total;
};

struct lb_mset *lb_mset_create(void)
{
    return calloc(1, sizeof(struct lb_mset));
}

void lb_mset_destroy(struct lb_mset *m)
{
    if (m == NULL)
        return;
    free(m->keys);
    free(m->counts);
    free(m);
}

static int lb_mset_grow(struct lb_mset *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1u << 14;
    uint64_t *k = calloc(ncap, sizeof(*k));
    uint32_t *c = malloc(ncap * sizeof(*c));
    if (k == NULL || c == NULL) {
        free(k);
        free(c);
        return LB_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == 0)
            continue;
        size_t j = m->keys[i] & (ncap - 1);
        while (k[j] != 0)
            j = (j + 1) & (ncap - 1);
        k[j] = m->keys[i];
        c[j] = m->counts[i];
    }
    free(m->keys);
    free(m->counts);
    m->keys = k;
    m->counts = c;
    m->cap = ncap;
    return 0;
}

int lb_mset_add(struct lb_mset *m, uint64_t h)
{
    if (h == 0)
        h = 1;
    if ((m->n + 1) * 10 > m->cap * 7 && lb_mset_grow(m) != 0)
        return LB_ENOMEM;
    size_t mask = m->cap - 1, j = h & mask;
    while (m->keys[j] != 0 && m->keys[j] != h)
        j = (j + 1) & mask;
    if (m->keys[j] == 0) {
        m->keys[j] = h;
        m->counts[j] = 0;
        m->n++;
    }
    if (m->counts[j] == UINT32_MAX)
        return LB_ENOMEM; /* four billion copies of one line: refuse rather than miscount */
    m->counts[j]++;
    m->total++;
    return 0;
}

int lb_mset_take(struct lb_mset *m, uint64_t h)
{
    if (h == 0)
        h = 1;
    if (m->cap == 0)
        return 0;
    size_t mask = m->cap - 1, j = h & mask;
    while (m->keys[j] != 0) {
        if (m->keys[j] == h) {
            if (m->counts[j] == 0)
                return 0;
            m->counts[j]--;
            m->total--;
            return 1;
        }
        j = (j + 1) & mask;
    }
    return 0;
}

uint64_t lb_mset_total(const struct lb_mset *m)
{
    return m->total;
}

size_t lb_mset_bytes(const struct lb_mset *m)
{
    return m->cap * (sizeof(uint64_t) + sizeof(uint32_t));
}

/* ---- outcomes: counts and examples ------------------------------------------------------------
 */

void lb_parity_count(struct lb_parity *p, enum lb_outcome k, int file, uint64_t n)
{
    struct lb_parity_counts *g = &p->rep.c;
    struct lb_parity_counts *f = file >= 0 ? &p->fst[file].c : NULL;
#define LB_BUMP(field)                                                                             \
    do {                                                                                           \
        g->field += n;                                                                             \
        if (f != NULL)                                                                             \
            f->field += n;                                                                         \
    } while (0)
    switch (k) {
    case LB_OUT_MATCH:
        LB_BUMP(matched);
        LB_BUMP(file_lines);
        break;
    case LB_OUT_MISMATCH:
        LB_BUMP(mismatched);
        LB_BUMP(file_lines);
        break;
    case LB_OUT_OOO:
        LB_BUMP(ooo);
        LB_BUMP(file_lines);
        break;
    case LB_OUT_MISSING:
        LB_BUMP(missing);
        LB_BUMP(file_lines);
        break;
    case LB_OUT_EXTRA:
        g->extra += n; /* an entry with no line belongs to no file */
        break;
    case LB_OUT_TRIMMED:
        LB_BUMP(trimmed);
        LB_BUMP(file_lines);
        break;
    case LB_OUT_OUTSIDE:
        LB_BUMP(outside);
        break;
    case LB_OUT_PENDING:
        LB_BUMP(pending);
        LB_BUMP(file_lines);
        break;
    case LB_OUT_ACCEPTED:
        break; /* lb_parity_diff counts both sides */
    }
#undef LB_BUMP
}

/* Report order: lines by file and line number, then entries with no line by
 * ID. Whatever order differences are found in (groups run interleaved), the
 * examples kept are the first max_examples in this order. */
static int lb_ex_cmp(const struct lb_parity_example *a, const struct lb_parity_example *b)
{
    int xa = a->file < 0, xb = b->file < 0;
    if (xa != xb)
        return xa - xb;
    if (!xa) {
        if (a->file != b->file)
            return a->file < b->file ? -1 : 1;
        if (a->line != b->line)
            return a->line < b->line ? -1 : 1;
        return 0;
    }
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

static int lb_ex_qcmp(const void *a, const void *b)
{
    return lb_ex_cmp(a, b);
}

/* The examples are a max-heap while they are collected: the last in report
 * order is at the top, ready to make room for an earlier one. */
static void lb_ex_sift_up(struct lb_parity_example *h, size_t i)
{
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (lb_ex_cmp(&h[up], &h[i]) >= 0)
            break;
        struct lb_parity_example t = h[up];
        h[up] = h[i];
        h[i] = t;
        i = up;
    }
}

static void lb_ex_sift_down(struct lb_parity_example *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && lb_ex_cmp(&h[l], &h[m]) > 0)
            m = l;
        if (r < n && lb_ex_cmp(&h[r], &h[m]) > 0)
            m = r;
        if (m == i)
            return;
        struct lb_parity_example t = h[m];
        h[m] = h[i];
        h[i] = t;
        i = m;
    }
}

void lb_parity_example(struct lb_parity *p, enum lb_parity_kind kind, const struct lb_align_item *f,
                       const struct lb_align_item *s)
{
    size_t max = (size_t)p->o->max_examples;
    if (max == 0)
        return;
    struct lb_parity_example e;
    memset(&e, 0, sizeof(e));
    e.kind = kind;
    e.file = f != NULL ? (int)f->file : -1;
    e.line = f != NULL ? f->line : 0;
    e.off = f != NULL ? f->off : 0;
    e.sidx = -1;
    if (s != NULL) {
        e.sidx = s->stream;
        e.has_id = 1;
        e.ms = s->ms;
        e.seq = s->seq;
    }
    struct lb_parity_example *h = p->rep.examples;
    if (p->rep.nexamples == max) {
        if (lb_ex_cmp(&e, &h[0]) >= 0)
            return;
        h[0] = e;
        lb_ex_sift_down(h, max, 0);
        return;
    }
    if (p->rep.nexamples == p->excap) {
        size_t nc = p->excap ? p->excap * 2 : 16;
        nc = nc > max ? max : nc;
        struct lb_parity_example *x = realloc(h, nc * sizeof(*x));
        if (x == NULL)
            return; /* an example less; the counts stay exact */
        p->rep.examples = h = x;
        p->excap = nc;
    }
    h[p->rep.nexamples] = e;
    lb_ex_sift_up(h, p->rep.nexamples++);
}

void lb_parity_examples_sort(struct lb_parity *p)
{
    if (p->rep.nexamples > 1)
        qsort(p->rep.examples, p->rep.nexamples, sizeof(*p->rep.examples), lb_ex_qcmp);
}

/* Over several streams whose lines know their stream: 1 when that
 * stream's deletions account for line f (it lies before the stream's first
 * entry from its FILE), -1 when they do not, 0 when the line's stream is
 * unknown (the union's rule applies). */
static int lb_parity_stream_trimmed(struct lb_parity *p, const struct lb_align_item *f)
{
    if (p->sfirst == NULL || p->mode != LB_MODE_PROV || f->stream == UINT16_MAX)
        return 0;
    uint64_t first = p->sfirst[(size_t)f->stream * (size_t)p->nfiles + f->file];
    if (p->sbudget[f->stream] == 0 || (first != UINT64_MAX && f->off >= first))
        return -1;
    p->sbudget[f->stream]--;
    if (p->budget > 0)
        p->budget--;
    return 1;
}

/* HEAD: before the first entry of its group. Outside the window when --from
 * cut the stream's head (or --to left a group with no entry at all); else
 * trimmed while Redis reports deletions to account for it; else missing. */
static enum lb_outcome lb_parity_head(struct lb_parity *p, int group_has_entries,
                                      const struct lb_align_item *f)
{
    if (p->from_cuts || (!group_has_entries && p->to_cuts))
        return LB_OUT_OUTSIDE;
    int st = lb_parity_stream_trimmed(p, f);
    if (st != 0)
        return st > 0 ? LB_OUT_TRIMMED : LB_OUT_MISSING;
    if (p->budget > 0) {
        p->budget--;
        return LB_OUT_TRIMMED;
    }
    return LB_OUT_MISSING;
}

void lb_parity_diff(struct lb_parity *p, enum lb_parity_kind pk, enum lb_outcome out,
                    const struct lb_align_item *f, const struct lb_align_item *s)
{
    lb_parity_blw_add(p, pk, f, s);
    if (lb_parity_accepted(p, f, s)) {
        p->rep.c.accepted++;
        if (f != NULL) {
            struct lb_parity_counts *fc = &p->fst[f->file].c;
            p->rep.c.accepted_lines++;
            p->rep.c.file_lines++;
            fc->accepted++;
            fc->accepted_lines++;
            fc->file_lines++;
        }
        if (s != NULL)
            p->rep.c.accepted_entries++;
        return;
    }
    lb_parity_count(p, out, f != NULL ? (int)f->file : -1, 1);
    lb_parity_example(p, pk, f, s);
}

void lb_parity_outcome(struct lb_parity *p, int group_has_entries, enum lb_align_kind kind,
                       const struct lb_align_item *f, const struct lb_align_item *s)
{
    enum lb_outcome k;
    switch (kind) {
    case LB_ALIGN_MATCH:
        lb_parity_count(p, LB_OUT_MATCH, (int)f->file, 1);
        return;
    case LB_ALIGN_MISMATCH:
        lb_parity_diff(p, LB_PK_MISMATCHED, LB_OUT_MISMATCH, f, s);
        return;
    case LB_ALIGN_OOO:
        lb_parity_diff(p, LB_PK_OOO, LB_OUT_OOO, f, s);
        return;
    case LB_ALIGN_EXTRA:
        lb_parity_diff(p, LB_PK_EXTRA, LB_OUT_EXTRA, NULL, s);
        return;
    case LB_ALIGN_MISSING:
        k = LB_OUT_MISSING;
        break;
    case LB_ALIGN_HEAD:
        /* Pending first: a line not committed yet is no trimmed one. */
        k = lb_parity_line_pending(p, f) ? LB_OUT_PENDING : lb_parity_head(p, group_has_entries, f);
        break;
    case LB_ALIGN_TAIL:
        k = p->to_cuts ? LB_OUT_OUTSIDE : LB_OUT_MISSING;
        break;
    default:
        return;
    }
    if (k == LB_OUT_MISSING && lb_parity_line_pending(p, f))
        k = LB_OUT_PENDING;
    /* a line of a stream trimmed on its own lies among the other streams' */
    if (k == LB_OUT_MISSING && kind == LB_ALIGN_MISSING && lb_parity_stream_trimmed(p, f) > 0)
        k = LB_OUT_TRIMMED;
    if (k == LB_OUT_MISSING)
        lb_parity_diff(p, LB_PK_MISSING, LB_OUT_MISSING, f, NULL);
    else
        lb_parity_count(p, k, (int)f->file, 1);
}

/* ---- the examples' texts -------------------------------------------------------------------- */

int lb_parity_dup(struct lb_parity *p, const struct lb_record *rec, char **out, size_t *outn,
                  struct lb_error *err)
{
    int rc = lb_parity_text_room(p, lb_parity_text_cap(rec), err);
    if (rc != 0)
        return rc;
    size_t n = lb_parity_text(rec, p->text);
    *out = malloc(n + 1);
    if (*out == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    memcpy(*out, p->text, n);
    (*out)[n] = '\0';
    *outn = n;
    return 0;
}

/* The stream a line belongs to, for its example (owned, or NULL when it
 * cannot be told): a --stream template rendered with it (one that names an
 * existing stream first), else the one stream compared. */
static char *lb_parity_line_stream(struct lb_parity *p, const struct lb_record *rec)
{
    const struct lb_streams *in = &p->o->streams;
    char *best = NULL;
    for (int i = 0; i < in->n; i++) {
        if (!lb_stream_is_template(in->v[i]))
            continue;
        char *s = malloc(strlen(in->v[i]) + rec->type.n + rec->role.n + 1);
        if (s == NULL)
            break;
        s[lb_stream_render(in->v[i], rec, s)] = '\0';
        for (int j = 0; j < p->names.n; j++)
            if (strcmp(p->names.v[j], s) == 0) {
                free(best);
                return s;
            }
        if (best == NULL)
            best = s;
        else
            free(s);
    }
    if (best == NULL && p->names.n == 1)
        best = strdup(p->names.v[0]);
    return best;
}

/* Read one file again up to its last example; lines are found by offset. */
static int lb_parity_fill_file(struct lb_parity *p, int fi, struct lb_error *err)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t want = 0;
    for (size_t k = 0; k < p->rep.nexamples; k++) {
        const struct lb_parity_example *e = &p->rep.examples[k];
        if (e->file != fi || e->line == 0)
            continue;
        lo = e->off < lo ? e->off : lo;
        hi = e->off > hi ? e->off : hi;
        want++;
    }
    if (want == 0)
        return 0;
    struct lb_error ign;
    struct lb_source *s = lb_source_open(p->pf[fi].path, p->o->c.max_line, &ign);
    if (s == NULL || lb_source_skip_to(s, lo, &ign) != 0) {
        lb_source_close(s);
        lb_warn("%s: cannot read it again for the examples' text: %s", p->pf[fi].path, ign.msg);
        return 0;
    }
    struct lb_line line;
    int rc = 0;
    for (;;) {
        int got = lb_source_next(s, &line);
        if (!got) {
            long r = lb_source_fill(s, &ign);
            if (r > 0)
                continue;
            if (r < 0 || !lb_source_take_partial(s, &line))
                break;
        }
        if (line.off > hi)
            break;
        for (size_t k = 0; k < p->rep.nexamples; k++) {
            struct lb_parity_example *e = &p->rep.examples[k];
            if (e->file != fi || e->line == 0 || e->off != line.off || e->expected != NULL)
                continue;
            struct lb_record rec;
            enum lb_reason why = lb_feed_classify(p->feed, &line, &rec);
            if (why == LB_PARSE_OK) {
                rc = lb_parity_dup(p, &rec, &e->expected, &e->expected_n, err);
                if (e->sidx < 0 && e->stream == NULL)
                    e->stream = lb_parity_line_stream(p, &rec);
            }
            lb_feed_reset(p->feed);
            if (rc != 0)
                break;
        }
        if (rc != 0 || line.off == hi)
            break;
    }
    lb_source_close(s);
    return rc;
}

/* The entry's text from an `XRANGE id id` reply; an entry deleted since keeps
 * actual NULL. */
static int lb_parity_fill_reply(struct lb_parity *p, const redisReply *rep,
                                struct lb_parity_example *e, struct lb_error *err)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
        rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[0]->elements != 2 ||
        rep->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return 0;
    struct lb_entry ent;
    lb_entry_decode(&p->dec, rep->element[0], &ent);
    return lb_parity_dup(p, &ent.rec, &e->actual, &e->actual_n, err);
}

/* Entries by ID, pipelined 256 at a time (--max-examples may be large). */
static int lb_parity_fill_entries(struct lb_parity *p, struct lb_error *err)
{
    size_t k = 0, nex = p->rep.nexamples;
    while (k < nex) {
        size_t sent[256], ns = 0;
        redisContext *c = lb_redis_ctx(p->r);
        if (c == NULL)
            return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(p->r));
        for (; k < nex && ns < 256; k++) {
            const struct lb_parity_example *e = &p->rep.examples[k];
            if (!e->has_id)
                continue;
            char id[48];
            snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, e->ms, e->seq);
            const char *argv[6] = {"XRANGE", p->names.v[e->sidx], id, id, "COUNT", "1"};
            if (redisAppendCommandArgv(c, 6, argv, NULL) != REDIS_OK)
                return lb_error_set(err, LB_ENOMEM, "out of memory");
            sent[ns++] = k;
        }
        for (size_t i = 0; i < ns; i++) {
            redisReply *rep = lb_redis_get_reply(p->r, err);
            if (rep == NULL)
                return err->code;
            int rc = lb_parity_fill_reply(p, rep, &p->rep.examples[sent[i]], err);
            freeReplyObject(rep);
            if (rc != 0)
                return rc; /* out of memory: the connection is dropped with the process */
        }
    }
    return 0;
}

int lb_parity_fill(struct lb_parity *p, struct lb_error *err)
{
    int rc = 0;
    for (size_t k = 0; k < p->rep.nexamples; k++) {
        struct lb_parity_example *e = &p->rep.examples[k];
        if (e->has_id && e->sidx >= 0 && e->sidx < p->names.n &&
            (e->stream = strdup(p->names.v[e->sidx])) == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    for (int fi = 0; fi < p->nfiles && rc == 0; fi++)
        rc = lb_parity_fill_file(p, fi, err);
    return rc != 0 ? rc : lb_parity_fill_entries(p, err);
}
