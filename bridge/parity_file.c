/*
 * parity_file.c - the file side of parity: a record's comparable text and
 * its hash, the lines of a group's FILEs one at a time, and the groups
 * (by src, or one over all FILEs).
 */
#include "parity_int.h"

#include "log.h"
#include "stream_set.h"

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

/* ---- comparable text and hash ---------------------------------------------------- */

static inline uint64_t lb_ph_mum(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t lb_ph_r8(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t lb_ph_r4(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* wyhash's structure (final version 4): 48-byte stripes in three lanes, then
 * 16-byte steps, the last 16 bytes read overlapping; short inputs read as
 * overlapping 4-byte words. Fast enough that hashing is not visible next to
 * parsing, and 64 bits keep a collision between two different lines at
 * ~2^-64 per comparison. */
uint64_t lb_parity_hash(const void *data, size_t n)
{
    static const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL,
                          k2 = 0x8ebc6af09c88c6e3ULL, k3 = 0x589965cc75374cc3ULL;
    const unsigned char *p = data;
    uint64_t seed = k0 ^ lb_ph_mum(k0 ^ 0x2d358dccaa6c78a5ULL, k1);
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 4) {
            a = (lb_ph_r4(p) << 32) | lb_ph_r4(p + ((n >> 3) << 2));
            b = (lb_ph_r4(p + n - 4) << 32) | lb_ph_r4(p + n - 4 - ((n >> 3) << 2));
        } else if (n > 0) {
            a = ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;
        if (i > 48) {
            uint64_t s1 = seed, s2 = seed;
            do {
                seed = lb_ph_mum(lb_ph_r8(p) ^ k1, lb_ph_r8(p + 8) ^ seed);
                s1 = lb_ph_mum(lb_ph_r8(p + 16) ^ k2, lb_ph_r8(p + 24) ^ s1);
                s2 = lb_ph_mum(lb_ph_r8(p + 32) ^ k3, lb_ph_r8(p + 40) ^ s2);
                p += 48;
                i -= 48;
            } while (i > 48);
            seed ^= s1 ^ s2;
        }
        while (i > 16) {
            seed = lb_ph_mum(lb_ph_r8(p) ^ k1, lb_ph_r8(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        a = lb_ph_r8(p + i - 16);
        b = lb_ph_r8(p + i - 8);
    }
    a ^= k1;
    b ^= seed;
    __uint128_t r = (__uint128_t)a * b;
    a = (uint64_t)r;
    b = (uint64_t)(r >> 64);
    return lb_ph_mum(a ^ k0 ^ (uint64_t)n, b ^ k1);
}

size_t lb_parity_text_cap(const struct lb_record *rec)
{
    return 2 * (rec->role.n + rec->ts.n + rec->type.n + rec->data.n) + 4;
}

static size_t lb_pt_field(const struct lb_slice *s, char *o)
{
    if (s->n == 0)
        return 0;
    /* memchr is vectorised; the escape loop is only needed for the rare value
     * that holds a CR or LF. */
    if (memchr(s->p, '\n', s->n) == NULL && memchr(s->p, '\r', s->n) == NULL) {
        memcpy(o, s->p, s->n);
        return s->n;
    }
    return lb_format_escape(s->p, s->n, o, NULL);
}

size_t lb_parity_text(const struct lb_record *rec, char *out)
{
    char *o = out;
    o += lb_pt_field(&rec->role, o);
    *o++ = '|';
    o += lb_pt_field(&rec->ts, o);
    *o++ = '|';
    o += lb_pt_field(&rec->type, o);
    *o++ = '|';
    o += lb_pt_field(&rec->data, o);
    return (size_t)(o - out);
}

int lb_parity_text_room(struct lb_parity *p, size_t need, struct lb_error *err)
{
    if (need <= p->textcap)
        return 0;
    size_t cap = p->textcap ? p->textcap : 4096;
    while (cap < need)
        cap *= 2;
    char *t = realloc(p->text, cap);
    if (t == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte line", need);
    p->text = t;
    p->textcap = cap;
    return 0;
}

/* ---- reading the files -------------------------------------------------------------------------
 */

int lb_parity_feed(struct lb_parity *p, struct lb_error *err)
{
    if (p->feed != NULL)
        return 0;
    p->feed = lb_feed_create(p->o->c.jsonl, p->utf8_rule, p->o->c.max_line + 1, err);
    return p->feed == NULL ? err->code : 0;
}

void lb_parity_reader_close(struct lb_reader *rd)
{
    lb_source_close(rd->s);
    rd->s = NULL;
}

/* The comparable hash of a valid line (rec is its record). */
static int lb_parity_line_hash(struct lb_parity *p, const struct lb_line *line,
                               const struct lb_record *rec, uint64_t *hash, struct lb_error *err)
{
    size_t n = line->n;
    if (n > 0 && line->p[n - 1] == '\r')
        n--;
    if (!p->o->c.jsonl && memchr(line->p, '\r', n) == NULL) {
        /* A pipe line without CR is its own comparable text (no LF inside). */
        *hash = lb_parity_hash(line->p, n);
        return 0;
    }
    int rc = lb_parity_text_room(p, lb_parity_text_cap(rec), err);
    if (rc != 0)
        return rc;
    *hash = lb_parity_hash(p->text, lb_parity_text(rec, p->text));
    return 0;
}

/*
 * The next valid line of the group's files: *it gets its content hash,
 * position and file index; *ts its time. Blank lines are skipped; bad lines
 * are counted and skipped; an unterminated last line is a line. 1, 0 at the
 * end of the last file, or < 0 (err set).
 */
int lb_parity_reader_next(struct lb_parity *p, struct lb_reader *rd, struct lb_align_item *it,
                          int64_t *ts, struct lb_error *err)
{
    struct lb_line line;
    for (;;) {
        if (rd->s == NULL) {
            if (rd->cur >= rd->nfiles)
                return 0;
            const char *path = p->pf[rd->files[rd->cur]].path;
            rd->s = lb_source_open(path, p->o->c.max_line, err);
            if (rd->s == NULL)
                return err->code; /* the message names the path */
            rd->line_no = 0;
        }
        if (!lb_source_next(rd->s, &line)) {
            long got = lb_source_fill(rd->s, err);
            if (got < 0)
                return (int)got; /* the message names the path */
            if (got > 0)
                continue;
            /* End of the file: parity always counts a last line without '\n'. */
            if (!lb_source_take_partial(rd->s, &line)) {
                lb_parity_reader_close(rd);
                rd->cur++;
                continue;
            }
        }
        rd->line_no++;
        int fi = rd->files[rd->cur];
        struct lb_record rec;
        enum lb_reason why = lb_feed_classify(p->feed, &line, &rec);
        lb_feed_reset(p->feed);
        if (why == LB_PARSE_BLANK)
            continue;
        if (why != LB_PARSE_OK) {
            if (!rd->quiet) {
                p->rep.c.bad++;
                p->fst[fi].c.bad++;
            }
            continue;
        }
        int rc = lb_parity_line_hash(p, &line, &rec, &it->hash, err);
        if (rc != 0)
            return rc;
        it->line = rd->line_no;
        it->off = line.off;
        it->file = (uint32_t)fi;
        it->stream = p->line_tmpl != NULL ? lb_parity_line_sidx(p, &rec) : UINT16_MAX;
        *ts = rec.ts_ms;
        return 1;
    }
}

int lb_parity_first_line(struct lb_parity *p, int fi, uint64_t *off, uint64_t *hash,
                         struct lb_error *err)
{
    struct lb_reader rd;
    memset(&rd, 0, sizeof(rd));
    rd.files = &fi;
    rd.nfiles = 1;
    rd.quiet = 1;
    struct lb_align_item it;
    int64_t ts;
    memset(&it, 0, sizeof(it));
    int rc = lb_parity_reader_next(p, &rd, &it, &ts, err);
    lb_parity_reader_close(&rd);
    if (rc == 1) {
        *off = it.off;
        *hash = it.hash;
    }
    return rc;
}

int lb_parity_line_at(struct lb_parity *p, int fi, uint64_t off, uint64_t *hash,
                      struct lb_error *err)
{
    struct lb_source *s = lb_source_open(p->pf[fi].path, p->o->c.max_line, err);
    if (s == NULL)
        return err->code;
    struct lb_line line;
    int rc = lb_source_skip_to(s, off, err);
    int got = 0;
    while (rc == 0 && !(got = lb_source_next(s, &line))) {
        long r = lb_source_fill(s, err);
        if (r < 0)
            rc = (int)r;
        else if (r == 0) {
            got = lb_source_take_partial(s, &line);
            break;
        }
    }
    if (rc == 0 && got && line.off == off) {
        struct lb_record rec;
        enum lb_reason why = lb_feed_classify(p->feed, &line, &rec);
        if (why == LB_PARSE_OK)
            rc = lb_parity_line_hash(p, &line, &rec, hash, err) == 0 ? 1 : err->code;
        lb_feed_reset(p->feed);
    }
    lb_source_close(s);
    return rc;
}

/* Keys per group kind (see the file comment). */
void lb_parity_group_keys(const struct lb_group *g, struct lb_align_item *it, int64_t ts)
{
    if (g->ordered) {
        it->key = it->off;
        it->ord = it->off > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)it->off;
    } else {
        it->key = it->hash;
        it->ord = ts;
    }
}

static int lb_group_pull(void *ctx, struct lb_align_item *out)
{
    struct lb_group *g = ctx;
    int64_t ts = LB_ORD_NONE;
    int r = lb_parity_reader_next(g->p, &g->rd, out, &ts, &g->p->ferr);
    if (r == 1)
        lb_parity_group_keys(g, out, ts);
    return r;
}

static void lb_group_emit(void *ctx, enum lb_align_kind kind, const struct lb_align_item *f,
                          const struct lb_align_item *s)
{
    struct lb_group *g = ctx;
    lb_parity_outcome(g->p, g->entries > 0, kind, f, s);
}

/* Groups: one per route (--order any), one per FILE (provenance: each
 * aligned by offset with the entries of its own generation), or one over
 * all FILEs in the order given (content). */
int lb_parity_groups(struct lb_parity *p, int by_src, int per_file, struct lb_error *err)
{
    int ng = per_file ? p->nfiles : by_src ? p->nroutes : 1;
    p->groups = calloc((size_t)ng, sizeof(*p->groups));
    if (p->groups == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    p->ngroups = ng;
    size_t wc = LB_WINDOW_TOTAL / (size_t)ng;
    wc = wc < LB_WINDOW_MIN ? LB_WINDOW_MIN : wc > LB_WINDOW_CONTENT ? LB_WINDOW_CONTENT : wc;
    for (int j = 0; j < ng; j++) {
        struct lb_group *g = &p->groups[j];
        g->p = p;
        g->files = calloc((size_t)p->nfiles, sizeof(int));
        if (g->files == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        if (per_file) {
            g->files[g->nfiles++] = j;
            g->src = p->pf[j].src;
            p->pf[j].group = j;
        } else if (by_src) {
            const struct lb_route *r = &p->routes[j];
            for (int k = 0; k < r->nfiles; k++)
                g->files[g->nfiles++] = r->files[k];
            g->src = r->src;
        } else {
            for (int i = 0; i < p->nfiles; i++)
                g->files[g->nfiles++] = i;
            g->src = p->pf[0].src;
        }
        g->src_len = strlen(g->src);
        g->rd.files = g->files;
        g->rd.nfiles = g->nfiles;
        g->ordered = per_file;
        size_t w = g->ordered ? LB_WINDOW_ORDERED : wc;
        g->a = lb_align_create(w, g->ordered, lb_group_pull, lb_group_emit, g);
        if (g->a == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    return 0;
}

void lb_parity_groups_free(struct lb_parity *p)
{
    for (int j = 0; j < p->ngroups; j++) {
        lb_align_destroy(p->groups[j].a);
        lb_parity_reader_close(&p->groups[j].rd);
        free(p->groups[j].files);
    }
    free(p->groups);
    p->groups = NULL;
    p->ngroups = 0;
}

uint16_t lb_parity_line_sidx(const struct lb_parity *p, const struct lb_record *rec)
{
    char name[1024];
    if (strlen(p->line_tmpl) + rec->type.n + rec->role.n > sizeof(name))
        return UINT16_MAX;
    size_t n = lb_stream_render(p->line_tmpl, rec, name);
    for (int i = 0; i < p->names.n; i++)
        if (strncmp(p->names.v[i], name, n) == 0 && p->names.v[i][n] == '\0')
            return (uint16_t)i;
    return UINT16_MAX;
}
