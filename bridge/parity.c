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
 */
#include "parity.h"

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
#include "stream_reader.h"

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

/* Lookahead (items per side). By offsets, gaps of any length resolve by
 * order and the window only has to catch moved entries; by content it also
 * stands in for timestamps that are out of order. Kept small enough that a
 * group's rings and indexes stay in cache: at 32768 a stream with a
 * difference every 1000 lines took 60% longer. */
#define LB_WINDOW_ORDERED 2048
#define LB_WINDOW_CONTENT 8192
#define LB_WINDOW_TOTAL 65536 /* content windows of all groups together */
#define LB_WINDOW_MIN 1024
#define LB_NONE UINT64_MAX

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

static uint64_t lb_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- indexed FIFO: the windows and pools of the aligner ------------------------------ */

/*
 * A ring of items addressed by absolute positions, with a hash index from key
 * to the chain of live items holding it (first, last, and a next link in each
 * item). Items leave only at the head, or (pools) as the first of their
 * key's chain, which leaves a dead slot the head skips later. The index is
 * built lazily: while both sides agree nobody asks for it, so lockstep
 * alignment never touches it.
 */
#define LB_ITEM_DEAD 1u

struct lb_ixs {
    uint64_t key, first, last; /* first == LB_NONE: empty slot */
};

struct lb_fifo {
    struct lb_align_item *it;
    size_t cap; /* power of two */
    uint64_t head, tail, ixupto;
    size_t live;
    struct lb_ixs *ix;
    size_t ixcap, ixn;
};

static struct lb_align_item *lb_fifo_at(const struct lb_fifo *q, uint64_t pos)
{
    return &q->it[pos & (q->cap - 1)];
}

static void lb_fifo_free(struct lb_fifo *q)
{
    free(q->it);
    free(q->ix);
}

static int lb_fifo_grow(struct lb_fifo *q)
{
    size_t ncap = q->cap ? q->cap * 2 : 64;
    struct lb_align_item *n = malloc(ncap * sizeof(*n));
    if (n == NULL)
        return LB_ENOMEM;
    for (uint64_t p = q->head; p < q->tail; p++)
        n[p & (ncap - 1)] = q->it[p & (q->cap - 1)];
    free(q->it);
    q->it = n;
    q->cap = ncap;
    return 0;
}

static int lb_ix_grow(struct lb_fifo *q)
{
    size_t ncap = q->ixcap ? q->ixcap * 2 : 128;
    struct lb_ixs *n = malloc(ncap * sizeof(*n));
    if (n == NULL)
        return LB_ENOMEM;
    for (size_t i = 0; i < ncap; i++)
        n[i].first = LB_NONE;
    for (size_t i = 0; i < q->ixcap; i++) {
        if (q->ix[i].first == LB_NONE)
            continue;
        size_t j = lb_mix64(q->ix[i].key) & (ncap - 1);
        while (n[j].first != LB_NONE)
            j = (j + 1) & (ncap - 1);
        n[j] = q->ix[i];
    }
    free(q->ix);
    q->ix = n;
    q->ixcap = ncap;
    return 0;
}

static size_t lb_ix_find(const struct lb_fifo *q, uint64_t key)
{
    if (q->ixn == 0)
        return SIZE_MAX;
    size_t m = q->ixcap - 1, j = lb_mix64(key) & m;
    for (;;) {
        if (q->ix[j].first == LB_NONE)
            return SIZE_MAX;
        if (q->ix[j].key == key)
            return j;
        j = (j + 1) & m;
    }
}

static int lb_ix_add(struct lb_fifo *q, uint64_t key, uint64_t pos)
{
    if ((q->ixn + 1) * 2 > q->ixcap && lb_ix_grow(q) != 0)
        return LB_ENOMEM;
    size_t m = q->ixcap - 1, j = lb_mix64(key) & m;
    for (;;) {
        struct lb_ixs *s = &q->ix[j];
        if (s->first == LB_NONE) {
            s->key = key;
            s->first = s->last = pos;
            q->ixn++;
            return 0;
        }
        if (s->key == key) {
            lb_fifo_at(q, s->last)->next = pos;
            s->last = pos;
            return 0;
        }
        j = (j + 1) & m;
    }
}

/* Linear probing deletion by backward shift: no tombstones to clean up. */
static void lb_ix_del_slot(struct lb_fifo *q, size_t i)
{
    size_t m = q->ixcap - 1, j = i;
    for (;;) {
        j = (j + 1) & m;
        if (q->ix[j].first == LB_NONE)
            break;
        size_t k = lb_mix64(q->ix[j].key) & m;
        /* The entry at j may move to i unless its home k lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        q->ix[i] = q->ix[j];
        i = j;
    }
    q->ix[i].first = LB_NONE;
    q->ixn--;
}

static void lb_ix_unlink_first(struct lb_fifo *q, uint64_t key)
{
    size_t j = lb_ix_find(q, key);
    if (j == SIZE_MAX)
        return;
    uint64_t nx = lb_fifo_at(q, q->ix[j].first)->next;
    if (nx == LB_NONE)
        lb_ix_del_slot(q, j);
    else
        q->ix[j].first = nx;
}

static int lb_fifo_index(struct lb_fifo *q)
{
    uint64_t p = q->ixupto > q->head ? q->ixupto : q->head;
    for (; p < q->tail; p++) {
        struct lb_align_item *it = lb_fifo_at(q, p);
        if (it->flags & LB_ITEM_DEAD)
            continue;
        it->next = LB_NONE;
        if (lb_ix_add(q, it->key, p) != 0) {
            q->ixupto = p;
            return LB_ENOMEM;
        }
    }
    q->ixupto = q->tail;
    return 0;
}

static int lb_fifo_push(struct lb_fifo *q, const struct lb_align_item *it)
{
    if (q->tail - q->head == q->cap && lb_fifo_grow(q) != 0)
        return LB_ENOMEM;
    struct lb_align_item *d = lb_fifo_at(q, q->tail);
    *d = *it;
    d->flags = 0;
    d->next = LB_NONE;
    q->tail++;
    q->live++;
    return 0;
}

static void lb_fifo_skip_dead(struct lb_fifo *q)
{
    while (q->head < q->tail && (lb_fifo_at(q, q->head)->flags & LB_ITEM_DEAD))
        q->head++;
}

static struct lb_align_item *lb_fifo_head(struct lb_fifo *q)
{
    return q->head < q->tail ? lb_fifo_at(q, q->head) : NULL;
}

static void lb_fifo_pop(struct lb_fifo *q, struct lb_align_item *out)
{
    struct lb_align_item *h = lb_fifo_at(q, q->head);
    /* The head is the earliest live item, so it is the first of its chain. */
    if (q->head < q->ixupto)
        lb_ix_unlink_first(q, h->key);
    *out = *h;
    q->head++;
    q->live--;
    lb_fifo_skip_dead(q);
}

/* Position of the earliest live item with key, or LB_NONE. */
static int lb_fifo_first(struct lb_fifo *q, uint64_t key, uint64_t *pos)
{
    int rc = lb_fifo_index(q);
    if (rc != 0)
        return rc;
    size_t j = lb_ix_find(q, key);
    *pos = j == SIZE_MAX ? LB_NONE : q->ix[j].first;
    return 0;
}

/* Take the earliest live item with key out of a pool. 1 when there was one. */
static int lb_fifo_take(struct lb_fifo *q, uint64_t key, struct lb_align_item *out)
{
    size_t j = lb_ix_find(q, key);
    if (j == SIZE_MAX)
        return 0;
    uint64_t pos = q->ix[j].first;
    struct lb_align_item *it = lb_fifo_at(q, pos);
    *out = *it;
    lb_ix_unlink_first(q, key);
    it->flags |= LB_ITEM_DEAD;
    q->live--;
    lb_fifo_skip_dead(q);
    return 1;
}

/* ---- alignment ------------------------------------------------------------------------ */

/*
 * Two cursors, one per side. While the heads have the same key they pair up
 * (matched, or mismatched when the content differs: same offset, other
 * data). When they differ, the item whose partner lies farther ahead (or
 * nowhere within the window) is set aside in a pool, where a later item of
 * the other side may still claim it (out of order); unclaimed, it leaves the
 * pool as missing or extra. So one missing line costs one count, a swap of
 * two neighbours one out_of_order, and a changed line one mismatched.
 * When neither head is anywhere in the other side's window, the order values
 * decide which side is behind (a gap longer than the window); equal order
 * values mean a line changed in place.
 *
 * Before the first pair the file side is synchronised: lines are skipped (as
 * HEAD) until one whose key is among the first entries; that is how a stream
 * trimmed by MAXLEN, or cut by --from, lines up with a file whatever the gap.
 */
#define LB_ALIGN_SYNC 64

struct lb_align {
    size_t w;
    int ordered;
    lb_align_pull_fn pull;
    lb_align_emit_fn emit;
    void *ctx;
    struct lb_fifo f, s, pf, ps; /* file window, stream window, their pools */
    uint64_t fcount, scount;
    int fdone, sdone, synced, finished;
    int paired;
    uint64_t last_fn; /* position of the last file item that found its entry */
};

struct lb_align *lb_align_create(size_t window, int ordered, lb_align_pull_fn pull,
                                 lb_align_emit_fn emit, void *ctx)
{
    struct lb_align *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->w = window < 1 ? 1 : window;
    a->ordered = ordered;
    a->pull = pull;
    a->emit = emit;
    a->ctx = ctx;
    return a;
}

void lb_align_destroy(struct lb_align *a)
{
    if (a == NULL)
        return;
    lb_fifo_free(&a->f);
    lb_fifo_free(&a->s);
    lb_fifo_free(&a->pf);
    lb_fifo_free(&a->ps);
    free(a);
}

int lb_align_push(struct lb_align *a, const struct lb_align_item *s)
{
    struct lb_align_item it = *s;
    it.n = a->scount++;
    return lb_fifo_push(&a->s, &it);
}

size_t lb_align_pending(const struct lb_align *a)
{
    return a->s.live + a->ps.live;
}

static int lb_align_need_f(struct lb_align *a, size_t n)
{
    while (a->f.live < n && !a->fdone) {
        struct lb_align_item it;
        memset(&it, 0, sizeof(it));
        int r = a->pull(a->ctx, &it);
        if (r < 0)
            return r;
        if (r == 0) {
            a->fdone = 1;
            break;
        }
        it.n = a->fcount++;
        if (lb_fifo_push(&a->f, &it) != 0)
            return LB_ENOMEM;
    }
    return 0;
}

static void lb_align_pair(struct lb_align *a, const struct lb_align_item *f,
                          const struct lb_align_item *s, int moved)
{
    enum lb_align_kind k = f->hash != s->hash ? LB_ALIGN_MISMATCH
                           : moved            ? LB_ALIGN_OOO
                                              : LB_ALIGN_MATCH;
    if (!a->paired || f->n > a->last_fn)
        a->last_fn = f->n;
    a->paired = 1;
    a->emit(a->ctx, k, f, s);
}

/* Pools are bounded by live items and by span (a long-lived head with many
 * claimed items behind it must not grow the ring for ever). */
static int lb_align_pool(struct lb_align *a, struct lb_fifo *pool, const struct lb_align_item *it,
                         enum lb_align_kind retire)
{
    if (lb_fifo_push(pool, it) != 0 || lb_fifo_index(pool) != 0)
        return LB_ENOMEM;
    while (pool->live > a->w || pool->tail - pool->head > 4 * a->w) {
        struct lb_align_item x;
        lb_fifo_pop(pool, &x);
        if (retire == LB_ALIGN_MISSING)
            a->emit(a->ctx, retire, &x, NULL);
        else
            a->emit(a->ctx, retire, NULL, &x);
    }
    return 0;
}

static void lb_align_drain(struct lb_align *a)
{
    struct lb_align_item x;
    while (lb_fifo_head(&a->pf) != NULL) {
        lb_fifo_pop(&a->pf, &x);
        /* Set aside after the last pair: nothing later was found either. */
        int before = a->paired && x.n < a->last_fn;
        a->emit(a->ctx, before ? LB_ALIGN_MISSING : LB_ALIGN_TAIL, &x, NULL);
    }
    while (lb_fifo_head(&a->ps) != NULL) {
        lb_fifo_pop(&a->ps, &x);
        a->emit(a->ctx, LB_ALIGN_EXTRA, NULL, &x);
    }
    a->finished = 1;
}

static int lb_align_sync(struct lb_align *a)
{
    struct lb_align_item x;
    int rc = lb_align_need_f(a, 1);
    if (rc < 0)
        return rc;
    struct lb_align_item *s = lb_fifo_head(&a->s), *f = lb_fifo_head(&a->f);
    if (s == NULL) {
        if (!a->sdone)
            return 0;
        /* No entry at all: every line comes before the (absent) first one. */
        while (f != NULL) {
            lb_fifo_pop(&a->f, &x);
            a->emit(a->ctx, LB_ALIGN_HEAD, &x, NULL);
            if ((rc = lb_align_need_f(a, 1)) < 0)
                return rc;
            f = lb_fifo_head(&a->f);
        }
        a->synced = 1;
        return 1;
    }
    if (f == NULL || f->key == s->key) {
        a->synced = 1;
        return 1;
    }
    if (!a->sdone && a->s.live < LB_ALIGN_SYNC)
        return 0;
    for (;;) {
        uint64_t pos = LB_NONE;
        if ((rc = lb_fifo_first(&a->s, f->key, &pos)) < 0)
            return rc;
        if (pos != LB_NONE && pos - a->s.head < LB_ALIGN_SYNC)
            break;
        lb_fifo_pop(&a->f, &x);
        a->emit(a->ctx, LB_ALIGN_HEAD, &x, NULL);
        if ((rc = lb_align_need_f(a, 1)) < 0)
            return rc;
        if ((f = lb_fifo_head(&a->f)) == NULL)
            break;
    }
    a->synced = 1;
    return 1;
}

/* One decision. 1: progress (or finished), 0: more entries needed, < 0: error. */
static int lb_align_step(struct lb_align *a)
{
    struct lb_align_item x, y;
    int rc;
    if (!a->synced)
        return lb_align_sync(a);
    if ((rc = lb_align_need_f(a, 1)) < 0)
        return rc;
    struct lb_align_item *f = lb_fifo_head(&a->f), *s = lb_fifo_head(&a->s);
    if (s == NULL) {
        if (!a->sdone)
            return 0;
        if (f == NULL) {
            lb_align_drain(a);
            return 1;
        }
        lb_fifo_pop(&a->f, &x);
        if (a->ps.live > 0) {
            if (lb_fifo_take(&a->ps, x.key, &y)) {
                lb_align_pair(a, &x, &y, 1);
                return 1;
            }
            return lb_align_pool(a, &a->pf, &x, LB_ALIGN_MISSING);
        }
        /* Nothing is left to pair with: the rest of the files is after the last pair. */
        a->emit(a->ctx, LB_ALIGN_TAIL, &x, NULL);
        return 1;
    }
    if (f == NULL) {
        lb_fifo_pop(&a->s, &y);
        if (a->pf.live > 0 && lb_fifo_take(&a->pf, y.key, &x))
            lb_align_pair(a, &x, &y, 1);
        else
            a->emit(a->ctx, LB_ALIGN_EXTRA, NULL, &y);
        return 1;
    }
    if (f->key == s->key) {
        lb_fifo_pop(&a->f, &x);
        lb_fifo_pop(&a->s, &y);
        lb_align_pair(a, &x, &y, 0);
        return 1;
    }
    /* A head that claims an item set aside earlier: the two were out of order. */
    if (a->pf.live > 0 && lb_fifo_take(&a->pf, s->key, &x)) {
        lb_fifo_pop(&a->s, &y);
        lb_align_pair(a, &x, &y, 1);
        return 1;
    }
    if (a->ps.live > 0 && lb_fifo_take(&a->ps, f->key, &y)) {
        lb_fifo_pop(&a->f, &x);
        lb_align_pair(a, &x, &y, 1);
        return 1;
    }
    /* Look ahead: only with a full window, or at the end of the stream. */
    if (!a->sdone && a->s.live <= a->w)
        return 0;
    if ((rc = lb_align_need_f(a, a->w + 1)) < 0)
        return rc;
    f = lb_fifo_head(&a->f);
    s = lb_fifo_head(&a->s);
    uint64_t ps_ = LB_NONE, pf_ = LB_NONE;
    if ((rc = lb_fifo_first(&a->s, f->key, &ps_)) < 0 ||
        (rc = lb_fifo_first(&a->f, s->key, &pf_)) < 0)
        return rc;
    uint64_t ds = ps_ == LB_NONE ? LB_NONE : ps_ - a->s.head;
    uint64_t df = pf_ == LB_NONE ? LB_NONE : pf_ - a->f.head;
    int aside_s;
    if (ds == LB_NONE && df == LB_NONE) {
        int64_t fo = f->ord, so = s->ord;
        if (fo != LB_ORD_NONE && so != LB_ORD_NONE && so > fo) {
            aside_s = 0; /* the stream is ahead: a gap on its side */
        } else if (fo != LB_ORD_NONE && so != LB_ORD_NONE && so < fo) {
            aside_s = 1; /* the stream is behind: an entry with no line */
        } else {
            /* Same place, different content: a line changed in place. */
            lb_fifo_pop(&a->f, &x);
            lb_fifo_pop(&a->s, &y);
            lb_align_pair(a, &x, &y, 0);
            return 1;
        }
    } else if (df == LB_NONE) {
        aside_s = 1;
    } else if (ds == LB_NONE) {
        aside_s = 0;
    } else {
        /* Both are ahead somewhere: set aside the one whose partner is farther,
         * which moves the fewest items (one moved entry is one out_of_order). */
        aside_s = ds <= df;
    }
    if (aside_s) {
        lb_fifo_pop(&a->s, &y);
        return lb_align_pool(a, &a->ps, &y, LB_ALIGN_EXTRA) < 0 ? LB_ENOMEM : 1;
    }
    lb_fifo_pop(&a->f, &x);
    return lb_align_pool(a, &a->pf, &x, LB_ALIGN_MISSING) < 0 ? LB_ENOMEM : 1;
}

int lb_align_run(struct lb_align *a, int stream_done)
{
    if (stream_done)
        a->sdone = 1;
    while (!a->finished) {
        int r = lb_align_step(a);
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    return 0;
}

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

/* ---- the job's state ------------------------------------------------------------------------ */

enum lb_parity_mode { LB_MODE_UNSET = 0, LB_MODE_CONTENT, LB_MODE_PROV };

struct lb_parity_opts {
    struct lb_common c;
    const char *stream;
    const char *src;
    const char *from, *to;
    int order_any;
    enum { LB_REPORT_TEXT, LB_REPORT_JSON, LB_REPORT_JUNIT } report;
    const char *out;
    long long max_examples;
    char **files;
    int nfiles;
};

/* Lines of one group's files, in order, one at a time. */
struct lb_reader {
    const int *files;
    int nfiles, cur;
    struct lb_source *s;
    uint64_t line_no;
};

struct lb_parity;

struct lb_group {
    struct lb_parity *p;
    const char *src;
    size_t src_len;
    int *files;
    int nfiles;
    int ordered;   /* key = off: one file per src, offsets unique */
    int keyed_off; /* key = content ^ off: several files share the src */
    uint64_t entries;
    int dirty;
    struct lb_reader rd;
    struct lb_align *a;
    /* --order any: the state of the walk over the lines */
    int seen_match;
    /* an operator's likely mistake, told once at the end */
    uint64_t last_off, restarts;
};

struct lb_pfile {
    const char *path;
    char src[PATH_MAX];
};

struct lb_parity {
    const struct lb_parity_opts *o;
    struct lb_redis *r;
    struct lb_feed *feed;
    struct lb_entry_decoder dec;
    struct lb_error ferr; /* a file error met inside the aligner's pull */

    char *text;
    size_t textcap;

    struct lb_pfile *pf;
    int nfiles;
    struct lb_group *groups;
    int ngroups;
    struct lb_group *last_group;
    enum lb_parity_mode mode;
    int utf8_rule, utf8_known;

    struct lb_stream_info si; /* what XINFO STREAM said */
    uint64_t budget;          /* lines that may still count as trimmed */
    int from_cuts, to_cuts;
    char range_start[48], range_end[48];

    struct lb_parity_report rep;
    struct lb_parity_file *fst;
    uint64_t other_src; /* entries whose src names no FILE */
    char other_src_name[128];
    size_t excap;
};

static int lb_parity_text_room(struct lb_parity *p, size_t need, struct lb_error *err)
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

/* ---- outcomes: counts and examples ------------------------------------------------------------
 */

enum lb_outcome {
    LB_OUT_MATCH,
    LB_OUT_MISMATCH,
    LB_OUT_OOO,
    LB_OUT_MISSING,
    LB_OUT_EXTRA,
    LB_OUT_TRIMMED,
    LB_OUT_OUTSIDE
};

static void lb_parity_count(struct lb_parity *p, enum lb_outcome k, int file, uint64_t n)
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

static void lb_parity_example(struct lb_parity *p, enum lb_parity_kind kind,
                              const struct lb_align_item *f, const struct lb_align_item *s)
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
    if (s != NULL) {
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

static void lb_parity_examples_sort(struct lb_parity *p)
{
    if (p->rep.nexamples > 1)
        qsort(p->rep.examples, p->rep.nexamples, sizeof(*p->rep.examples), lb_ex_qcmp);
}

/* HEAD: before the first entry of its group. Outside the window when --from
 * cut the stream's head (or --to left a group with no entry at all); else
 * trimmed while Redis reports deletions to account for it; else missing. */
static enum lb_outcome lb_parity_head(struct lb_parity *p, int group_has_entries)
{
    if (p->from_cuts || (!group_has_entries && p->to_cuts))
        return LB_OUT_OUTSIDE;
    if (p->budget > 0) {
        p->budget--;
        return LB_OUT_TRIMMED;
    }
    return LB_OUT_MISSING;
}

static void lb_parity_outcome(struct lb_parity *p, int group_has_entries, enum lb_align_kind kind,
                              const struct lb_align_item *f, const struct lb_align_item *s)
{
    enum lb_outcome k;
    switch (kind) {
    case LB_ALIGN_MATCH:
        lb_parity_count(p, LB_OUT_MATCH, (int)f->file, 1);
        return;
    case LB_ALIGN_MISMATCH:
        lb_parity_count(p, LB_OUT_MISMATCH, (int)f->file, 1);
        lb_parity_example(p, LB_PK_MISMATCHED, f, s);
        return;
    case LB_ALIGN_OOO:
        lb_parity_count(p, LB_OUT_OOO, (int)f->file, 1);
        lb_parity_example(p, LB_PK_OOO, f, s);
        return;
    case LB_ALIGN_EXTRA:
        lb_parity_count(p, LB_OUT_EXTRA, -1, 1);
        lb_parity_example(p, LB_PK_EXTRA, NULL, s);
        return;
    case LB_ALIGN_MISSING:
        k = LB_OUT_MISSING;
        break;
    case LB_ALIGN_HEAD:
        k = lb_parity_head(p, group_has_entries);
        break;
    case LB_ALIGN_TAIL:
        k = p->to_cuts ? LB_OUT_OUTSIDE : LB_OUT_MISSING;
        break;
    default:
        return;
    }
    lb_parity_count(p, k, (int)f->file, 1);
    if (k == LB_OUT_MISSING)
        lb_parity_example(p, LB_PK_MISSING, f, NULL);
}

/* ---- reading the files -------------------------------------------------------------------------
 */

static int lb_parity_feed(struct lb_parity *p, struct lb_error *err)
{
    if (p->feed != NULL)
        return 0;
    p->feed = lb_feed_create(p->o->c.jsonl, p->utf8_rule, p->o->c.max_line + 1, err);
    return p->feed == NULL ? err->code : 0;
}

static void lb_reader_close(struct lb_reader *rd)
{
    lb_source_close(rd->s);
    rd->s = NULL;
}

/*
 * The next valid line of the group's files: *it gets its content hash,
 * position and file index; *ts its time. Blank lines are skipped; bad lines
 * are counted and skipped; an unterminated last line is a line. 1, 0 at the
 * end of the last file, or < 0 (err set).
 */
static int lb_reader_next(struct lb_parity *p, struct lb_reader *rd, struct lb_align_item *it,
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
                lb_reader_close(rd);
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
            p->rep.c.bad++;
            p->fst[fi].c.bad++;
            continue;
        }
        size_t n = line.n;
        if (n > 0 && line.p[n - 1] == '\r')
            n--;
        if (!p->o->c.jsonl && memchr(line.p, '\r', n) == NULL) {
            /* A pipe line without CR is its own comparable text (no LF inside). */
            it->hash = lb_parity_hash(line.p, n);
        } else {
            int rc = lb_parity_text_room(p, lb_parity_text_cap(&rec), err);
            if (rc != 0)
                return rc;
            it->hash = lb_parity_hash(p->text, lb_parity_text(&rec, p->text));
        }
        it->line = rd->line_no;
        it->off = line.off;
        it->file = (uint32_t)fi;
        *ts = rec.ts_ms;
        return 1;
    }
}

/* Keys per group kind (see the file comment). */
static void lb_group_keys(const struct lb_group *g, struct lb_align_item *it, int64_t ts)
{
    if (g->ordered) {
        it->key = it->off;
        it->ord = it->off > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)it->off;
    } else if (g->keyed_off) {
        it->key = it->hash ^ lb_mix64(it->off + 0x9e3779b97f4a7c15ULL);
        it->ord = ts;
    } else {
        it->key = it->hash;
        it->ord = ts;
    }
}

static int lb_group_pull(void *ctx, struct lb_align_item *out)
{
    struct lb_group *g = ctx;
    int64_t ts = LB_ORD_NONE;
    int r = lb_reader_next(g->p, &g->rd, out, &ts, &g->p->ferr);
    if (r == 1)
        lb_group_keys(g, out, ts);
    return r;
}

static void lb_group_emit(void *ctx, enum lb_align_kind kind, const struct lb_align_item *f,
                          const struct lb_align_item *s)
{
    struct lb_group *g = ctx;
    lb_parity_outcome(g->p, g->entries > 0, kind, f, s);
}

/* Groups: by src (provenance, and --order any), or one over all files. */
static int lb_parity_groups(struct lb_parity *p, int by_src, int prov, struct lb_error *err)
{
    p->groups = calloc((size_t)p->nfiles, sizeof(*p->groups));
    if (p->groups == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    p->ngroups = 0;
    for (int i = 0; i < p->nfiles; i++) {
        struct lb_group *g = NULL;
        if (by_src) {
            for (int j = 0; j < p->ngroups; j++)
                if (strcmp(p->groups[j].src, p->pf[i].src) == 0)
                    g = &p->groups[j];
        } else if (p->ngroups > 0) {
            g = &p->groups[0];
        }
        if (g == NULL) {
            g = &p->groups[p->ngroups++];
            g->p = p;
            g->src = p->pf[i].src;
            g->src_len = strlen(g->src);
            g->files = calloc((size_t)p->nfiles, sizeof(int));
            if (g->files == NULL)
                return lb_error_set(err, LB_ENOMEM, "out of memory");
        }
        g->files[g->nfiles++] = i;
    }
    size_t wc = LB_WINDOW_TOTAL / (size_t)p->ngroups;
    wc = wc < LB_WINDOW_MIN ? LB_WINDOW_MIN : wc > LB_WINDOW_CONTENT ? LB_WINDOW_CONTENT : wc;
    for (int j = 0; j < p->ngroups; j++) {
        struct lb_group *g = &p->groups[j];
        g->rd.files = g->files;
        g->rd.nfiles = g->nfiles;
        g->ordered = prov && g->nfiles == 1;
        g->keyed_off = prov && g->nfiles > 1;
        size_t w = g->ordered ? LB_WINDOW_ORDERED : wc;
        g->a = lb_align_create(w, g->ordered, lb_group_pull, lb_group_emit, g);
        if (g->a == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    return 0;
}

static void lb_parity_groups_free(struct lb_parity *p)
{
    for (int j = 0; j < p->ngroups; j++) {
        lb_align_destroy(p->groups[j].a);
        lb_reader_close(&p->groups[j].rd);
        free(p->groups[j].files);
    }
    free(p->groups);
    p->groups = NULL;
    p->ngroups = 0;
}

static struct lb_group *lb_parity_group_of(struct lb_parity *p, const struct lb_slice *src)
{
    struct lb_group *g = p->last_group;
    if (g != NULL && g->src_len == src->n && memcmp(g->src, src->p, src->n) == 0)
        return g;
    for (int j = 0; j < p->ngroups; j++) {
        g = &p->groups[j];
        if (g->src_len == src->n && memcmp(g->src, src->p, src->n) == 0)
            return p->last_group = g;
    }
    return NULL;
}

/* ---- Redis: XINFO STREAM ----------------------------------------------------------------------
 */

/*
 * What the stream's head may explain. Redis 7 counts every entry ever added
 * (entries-added); what is missing from length was deleted, by trimming or
 * XDEL. Lines before their group's first entry may be trimmed ones, but never
 * more of them than were deleted; and when the largest deleted ID is inside
 * the retained range, at least one deletion was not at the head.
 */
static void lb_parity_window(struct lb_parity *p)
{
    const struct lb_parity_opts *o = p->o;
    struct lb_sid from = {0, 0}, to = {UINT64_MAX, UINT64_MAX};
    if (o->from != NULL)
        lb_sid_arg(o->from, LB_SID_FORMS_RANGE, 0, &from);
    if (o->to != NULL)
        lb_sid_arg(o->to, LB_SID_FORMS_RANGE, 1, &to);
    p->budget = 0;
    if (p->si.has_added && p->si.added > p->si.length) {
        p->budget = p->si.added - p->si.length;
        if (p->si.has_first && lb_sid_cmp(p->si.max_deleted, p->si.first) >= 0)
            p->budget--;
    }
    p->from_cuts = o->from != NULL && p->si.has_first && lb_sid_cmp(from, p->si.first) > 0;
    p->to_cuts = o->to != NULL && p->si.has_last && lb_sid_cmp(to, p->si.last) < 0;
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

/* ---- entries -------------------------------------------------------------------------------- */

static int lb_slice_is(const struct lb_slice *s, const char *lit, size_t n)
{
    return s->n == n && memcmp(s->p, lit, n) == 0;
}

/* Decode, filter by --src; 1 when the entry is in the comparison. */
static int lb_parity_entry(struct lb_parity *p, const redisReply *rep, struct lb_entry *e,
                           struct lb_error *err)
{
    lb_entry_decode(&p->dec, rep, e);
    if (e->malformed)
        return lb_error_set(err, LB_EREPLY, "redis at %s: XRANGE %s: %s", lb_redis_addr(p->r),
                            p->o->stream, e->why);
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

/* The entry as an item: content hash, ID, off; key and ord per group kind. */
static int lb_parity_item(struct lb_parity *p, const struct lb_entry *e, const struct lb_group *g,
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
    if (g == NULL)
        return 0;
    int64_t ts = LB_ORD_NONE;
    if (!g->ordered) {
        int64_t ms;
        if (e->ts_from_id)
            ts = e->rec.ts_ms;
        else if (lb_ts_parse(e->rec.ts.p, e->rec.ts.n, &ms) == 0)
            ts = ms;
    }
    lb_group_keys(g, it, ts);
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
    return lb_parity_groups(p, prov, prov, err);
}

static int lb_parity_route(struct lb_parity *p, const struct lb_entry *e, struct lb_error *err)
{
    struct lb_group *g;
    if (p->mode == LB_MODE_PROV) {
        g = e->has_src && e->has_off ? lb_parity_group_of(p, &e->src) : NULL;
    } else {
        g = &p->groups[0];
    }
    struct lb_align_item it;
    int rc = lb_parity_item(p, e, g, &it, err);
    if (rc != 0)
        return rc;
    if (g == NULL) {
        /* Provenance names no FILE given (or is incomplete): no line can be its. */
        if (e->has_src && p->other_src++ == 0)
            snprintf(p->other_src_name, sizeof(p->other_src_name), "%.*s",
                     (int)(e->src.n < 120 ? e->src.n : 120), e->src.p);
        lb_parity_outcome(p, 0, LB_ALIGN_EXTRA, NULL, &it);
        return 0;
    }
    /* Offsets that fall back to the start: several generations under one src. */
    if (g->ordered && g->entries > 0 && e->off < g->last_off / 2)
        g->restarts++;
    g->last_off = e->off;
    g->entries++;
    g->dirty = 1;
    if (lb_align_push(g->a, &it) != 0)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    return 0;
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

static int lb_parity_strict(struct lb_parity *p, struct lb_error *err)
{
    struct lb_xrange pg;
    const redisReply *page;
    struct lb_entry e;
    int rc = 0;
    if (p->si.exists) {
        rc = lb_xrange_begin(&pg, p->r, p->o->stream, p->range_start, p->range_end, err);
        while (rc == 0 && (rc = lb_xrange_next(&pg, &page, err)) == 1) {
            rc = 0;
            for (size_t i = 0; rc == 0 && i < page->elements; i++) {
                int in = lb_parity_entry(p, page->element[i], &e, err);
                if (in < 0) {
                    rc = in;
                    break;
                }
                if (in == 0)
                    continue;
                p->rep.c.stream_entries++;
                if (p->mode == LB_MODE_UNSET && (rc = lb_parity_mode_decide(p, &e, err)) != 0)
                    break;
                rc = lb_parity_route(p, &e, err);
            }
            for (int j = 0; rc == 0 && j < p->ngroups; j++) {
                if (!p->groups[j].dirty)
                    continue;
                p->groups[j].dirty = 0;
                rc = lb_parity_run_group(p, &p->groups[j], 0, err);
            }
        }
        lb_xrange_free(&pg);
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
 * goes; the first few positions are kept for examples. */
struct lb_pending {
    uint64_t *per_file;
    struct lb_align_item *ex;
    size_t nex, excap;
    uint64_t total;
};

static void lb_pending_flush(struct lb_parity *p, struct lb_pending *pd, enum lb_align_kind kind)
{
    if (pd->total == 0)
        return;
    enum lb_outcome k = kind == LB_ALIGN_TAIL && p->to_cuts ? LB_OUT_OUTSIDE : LB_OUT_MISSING;
    for (int i = 0; i < p->nfiles; i++) {
        if (pd->per_file[i] > 0)
            lb_parity_count(p, k, i, pd->per_file[i]);
        pd->per_file[i] = 0;
    }
    if (k == LB_OUT_MISSING)
        for (size_t i = 0; i < pd->nex; i++)
            lb_parity_example(p, LB_PK_MISSING, &pd->ex[i], NULL);
    pd->nex = 0;
    pd->total = 0;
}

static int lb_parity_any(struct lb_parity *p, struct lb_error *err)
{
    struct lb_mset *m = lb_mset_create();
    struct lb_xrange pg;
    const redisReply *page;
    struct lb_entry e;
    struct lb_align_item it;
    struct lb_pending pd = {0};
    int rc = 0;
    memset(&pg, 0, sizeof(pg));
    if (m == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    p->rep.aligned_by = 0;

    /* 1. The stream into the multiset. */
    if (p->si.exists) {
        rc = lb_xrange_begin(&pg, p->r, p->o->stream, p->range_start, p->range_end, err);
        while (rc == 0 && (rc = lb_xrange_next(&pg, &page, err)) == 1) {
            rc = 0;
            for (size_t i = 0; rc == 0 && i < page->elements; i++) {
                int in = lb_parity_entry(p, page->element[i], &e, err);
                if (in <= 0) {
                    rc = in;
                    continue;
                }
                p->rep.c.stream_entries++;
                if ((rc = lb_parity_item(p, &e, NULL, &it, err)) == 0 &&
                    lb_mset_add(m, it.hash) != 0)
                    rc = lb_error_set(err, LB_ENOMEM, "out of memory for the --order any table");
            }
        }
        lb_xrange_free(&pg);
        if (rc < 0)
            goto done;
    }
    if (!p->utf8_known) {
        p->utf8_rule = p->o->c.json_encoding;
        p->utf8_known = 1;
    }
    if ((rc = lb_parity_feed(p, err)) != 0 || (rc = lb_parity_groups(p, 1, 0, err)) != 0)
        goto done;

    /* 2. The lines out of it, per group in order, to tell head and tail apart. */
    pd.per_file = calloc((size_t)p->nfiles, sizeof(uint64_t));
    pd.excap = (size_t)p->o->max_examples;
    pd.ex = calloc(pd.excap ? pd.excap : 1, sizeof(*pd.ex));
    if (pd.per_file == NULL || pd.ex == NULL) {
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
        goto done;
    }
    int has_entries = p->rep.c.stream_entries > 0;
    for (int j = 0; j < p->ngroups; j++) {
        struct lb_group *g = &p->groups[j];
        int64_t ts;
        while ((rc = lb_reader_next(p, &g->rd, &it, &ts, err)) == 1) {
            if (lb_mset_take(m, it.hash)) {
                lb_pending_flush(p, &pd, LB_ALIGN_MISSING);
                g->seen_match = 1;
                lb_parity_count(p, LB_OUT_MATCH, (int)it.file, 1);
            } else if (!g->seen_match) {
                lb_parity_outcome(p, has_entries, LB_ALIGN_HEAD, &it, NULL);
            } else {
                pd.per_file[it.file]++;
                pd.total++;
                if (pd.nex < pd.excap)
                    pd.ex[pd.nex++] = it;
            }
        }
        if (rc < 0)
            goto done;
        lb_pending_flush(p, &pd, LB_ALIGN_TAIL);
    }
    uint64_t extra = lb_mset_total(m);
    lb_parity_count(p, LB_OUT_EXTRA, -1, extra);

    /* 3. Which entries were extra: read the stream again, only for examples
     * (they come after every line in report order: only if there is room). */
    if (extra > 0 && p->rep.nexamples < (size_t)p->o->max_examples) {
        rc = lb_xrange_begin(&pg, p->r, p->o->stream, p->range_start, p->range_end, err);
        int full = 0;
        while (rc == 0 && !full && (rc = lb_xrange_next(&pg, &page, err)) == 1) {
            rc = 0;
            for (size_t i = 0; rc == 0 && i < page->elements && !full; i++) {
                int in = lb_parity_entry(p, page->element[i], &e, err);
                if (in <= 0) {
                    rc = in;
                    continue;
                }
                if ((rc = lb_parity_item(p, &e, NULL, &it, err)) == 0 && lb_mset_take(m, it.hash))
                    lb_parity_example(p, LB_PK_EXTRA, NULL, &it);
                full = p->rep.nexamples >= (size_t)p->o->max_examples;
            }
        }
        if (rc >= 0)
            rc = lb_xrange_abort(&pg, err);
        lb_xrange_free(&pg);
    }
done:
    free(pd.per_file);
    free(pd.ex);
    lb_mset_destroy(m);
    return rc < 0 ? rc : 0;
}

/* ---- the examples' texts -------------------------------------------------------------------- */

static int lb_parity_dup(struct lb_parity *p, const struct lb_record *rec, char **out, size_t *outn,
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
            if (why == LB_PARSE_OK)
                rc = lb_parity_dup(p, &rec, &e->expected, &e->expected_n, err);
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
            const char *argv[6] = {"XRANGE", p->o->stream, id, id, "COUNT", "1"};
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

static int lb_parity_fill(struct lb_parity *p, struct lb_error *err)
{
    int rc = 0;
    for (int fi = 0; fi < p->nfiles && rc == 0; fi++)
        rc = lb_parity_fill_file(p, fi, err);
    return rc != 0 ? rc : lb_parity_fill_entries(p, err);
}

/* ---- options ----------------------------------------------------------------------------------
 */

enum {
    LB_PAR_STREAM = LB_OPT_FIRST_JOB,
    LB_PAR_SRC,
    LB_PAR_FROM,
    LB_PAR_TO,
    LB_PAR_ORDER,
    LB_PAR_REPORT,
    LB_PAR_OUT,
    LB_PAR_MAX_EXAMPLES
};

static const struct option lb_parity_longopts[] = {
    LB_COMMON_LONGOPTS,
    {"stream", required_argument, NULL, LB_PAR_STREAM},
    {"src", required_argument, NULL, LB_PAR_SRC},
    {"from", required_argument, NULL, LB_PAR_FROM},
    {"to", required_argument, NULL, LB_PAR_TO},
    {"order", required_argument, NULL, LB_PAR_ORDER},
    {"report", required_argument, NULL, LB_PAR_REPORT},
    {"out", required_argument, NULL, LB_PAR_OUT},
    {"max-examples", required_argument, NULL, LB_PAR_MAX_EXAMPLES},
    {NULL, 0, NULL, 0},
};

static const char lb_parity_usage[] =
    "Usage: logbridge parity --stream S [options] FILE...\n"
    "Compare the lines of FILE... (oldest first; .gz read through zlib) with the\n"
    "entries of stream S. Exit 0 when equal, 1 when they differ.\n"
    "\n"
    "  --stream S           the stream\n"
    "  --src NAME           only entries whose src is NAME; NAME is then the src of\n"
    "                       every FILE (a rotated chain written by tail)\n"
    "  --from ID, --to ID   only entries in this ID range (inclusive, as XRANGE);\n"
    "                       lines before / after the window's entries are not compared\n"
    "  --order strict|any   in order (default), or as multisets (interleaved producers)\n"
    "  --report text|json|junit  report format (default text)\n"
    "  --out PATH           write the report to PATH (atomically) instead of stdout\n"
    "  --max-examples N     differences shown in full (default 10)\n"
    "\n"
    "Entries in either encoding are read without being told. Blank lines are\n"
    "ignored; bad lines are counted in bad_lines and not compared. Lines older than\n"
    "the stream's first entry count as trimmed (not missing) as far as Redis\n"
    "reports deleted entries; trimmed lines do not make the result different.\n"
    "Alignment uses src/off when the entries carry them (and --no-provenance is\n"
    "not given), else the content of the lines. Lines after the stream's last entry\n"
    "are missing: on a stream still being written, give --to an ID older than its\n"
    "newest entry, and later lines are not compared. With --encoding json, or a\n"
    "json stream, lines that are not UTF-8 are bad lines (import sent them to the DLQ).\n"
    "\n" LB_COMMON_HELP;

static int lb_parity_parse(struct lb_parity_opts *o, int argc, char **argv)
{
    struct lb_cli cli = {"parity", NULL};
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->max_examples = 10;
    lb_getopt_begin();
    int id;
    struct lb_sid x;
    while ((id = lb_getopt(argc, argv, lb_parity_longopts, &cli)) != -1) {
        int h = lb_cli_common(&o->c, id, optarg, &cli, lb_parity_usage);
        if (h == LB_CLI_NEXT)
            continue;
        if (h != LB_CLI_MINE)
            return h == LB_CLI_DONE ? -1 : LB_EXIT_USAGE;
        switch (id) {
        case LB_PAR_STREAM:
            if (*optarg == '\0')
                return lb_cli_error(&cli, "stream", "expected a stream name");
            o->stream = optarg;
            break;
        case LB_PAR_SRC:
            if (*optarg == '\0')
                return lb_cli_error(&cli, "src", "expected a src name");
            o->src = optarg;
            break;
        case LB_PAR_FROM:
        case LB_PAR_TO:
            if (strlen(optarg) >= 44 ||
                lb_sid_arg(optarg, LB_SID_FORMS_RANGE, id == LB_PAR_TO, &x) < 0)
                return lb_cli_error(&cli, id == LB_PAR_FROM ? "from" : "to",
                                    "expected a stream ID (ms-seq, ms, - or +), got '%s'", optarg);
            if (id == LB_PAR_FROM)
                o->from = optarg;
            else
                o->to = optarg;
            break;
        case LB_PAR_ORDER:
            if (strcmp(optarg, "strict") == 0)
                o->order_any = 0;
            else if (strcmp(optarg, "any") == 0)
                o->order_any = 1;
            else
                return lb_cli_error(&cli, "order", "expected strict or any, got '%s'", optarg);
            break;
        case LB_PAR_REPORT:
            if (strcmp(optarg, "text") == 0)
                o->report = LB_REPORT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                o->report = LB_REPORT_JSON;
            else if (strcmp(optarg, "junit") == 0)
                o->report = LB_REPORT_JUNIT;
            else
                return lb_cli_error(&cli, "report", "expected text, json or junit, got '%s'",
                                    optarg);
            break;
        case LB_PAR_OUT:
            if (*optarg == '\0')
                return lb_cli_error(&cli, "out", "expected a path");
            o->out = optarg;
            break;
        case LB_PAR_MAX_EXAMPLES:
            if (lb_parse_ll(optarg, 0, 100000, &o->max_examples) != 0)
                return lb_cli_error(&cli, "max-examples",
                                    "expected a number from 0 to 100000, got '%s'", optarg);
            break;
        default:
            fprintf(stderr, "Try 'logbridge parity --help'.\n");
            return LB_EXIT_USAGE;
        }
    }
    if (o->stream == NULL)
        return lb_cli_error(&cli, "stream", "is required");
    if (strstr(o->stream, "%{type}") != NULL || strstr(o->stream, "%{role}") != NULL)
        return lb_cli_error(&cli, "stream",
                            "parity compares one stream: give a rendered name, not the template "
                            "'%s'",
                            o->stream);
    o->files = argv + optind;
    o->nfiles = argc - optind;
    if (o->nfiles == 0)
        return lb_cli_error(&cli, NULL, "expected at least one FILE");
    for (int i = 0; i < o->nfiles; i++)
        if (strcmp(o->files[i], "-") == 0)
            return lb_cli_error(&cli, NULL,
                                "stdin (-) cannot be compared: parity reads its FILEs twice "
                                "to show examples");
    return 0;
}

/* ---- the report ------------------------------------------------------------------------------ */

static int lb_parity_emit_report(const struct lb_parity_opts *o, const struct lb_parity_report *r,
                                 FILE *out)
{
    switch (o->report) {
    case LB_REPORT_JSON:
        return lb_parity_write_json(out, r);
    case LB_REPORT_JUNIT:
        return lb_parity_write_junit(out, r);
    default:
        return lb_parity_write_text(out, r);
    }
}

/* --out: a temp file in the same directory, fsync'ed, renamed over PATH. */
static int lb_parity_write_out(const struct lb_parity_opts *o, const struct lb_parity_report *r,
                               struct lb_error *err)
{
    if (o->out == NULL) {
        int rc = lb_parity_emit_report(o, r, stdout);
        if (fflush(stdout) != 0 || rc != 0)
            return lb_error_set(err, LB_EIO, "writing the report: %s", strerror(errno));
        return 0;
    }
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", o->out) >= (int)sizeof(tmp))
        return lb_error_set(err, LB_EIO, "%s: path too long", o->out);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return lb_error_set(err, LB_EIO, "%s: %s", tmp, strerror(errno));
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return lb_error_set(err, LB_EIO, "%s: %s", tmp, strerror(e));
    }
    int rc = lb_parity_emit_report(o, r, f);
    if (rc == 0 && fflush(f) != 0)
        rc = -1;
    if (rc == 0 && fsync(fileno(f)) != 0)
        rc = -1;
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0) {
        /* mkstemp made it 0600; a report is as readable as any file we create. */
        mode_t um = umask(0);
        umask(um);
        chmod(tmp, 0666 & ~um);
    }
    if (rc == 0 && rename(tmp, o->out) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        return lb_error_set(err, LB_EIO, "%s: %s", o->out, strerror(e));
    }
    return 0;
}

/* ---- the command ------------------------------------------------------------------------------
 */

static double lb_parity_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
    if (c->file_lines != c->matched + c->mismatched + c->ooo + c->missing + c->trimmed ||
        c->stream_entries != c->matched + c->mismatched + c->ooo + c->extra)
        lb_error_log("parity: inconsistent counts (file_lines=%" PRIu64 " stream_entries=%" PRIu64
                     " matched=%" PRIu64 " mismatched=%" PRIu64 " out_of_order=%" PRIu64
                     " missing=%" PRIu64 " extra=%" PRIu64 " trimmed=%" PRIu64 "); please report",
                     c->file_lines, c->stream_entries, c->matched, c->mismatched, c->ooo,
                     c->missing, c->extra, c->trimmed);
}

static void lb_parity_free(struct lb_parity *p)
{
    lb_parity_groups_free(p);
    lb_feed_destroy(p->feed);
    lb_entry_release(&p->dec);
    lb_redis_destroy(p->r);
    for (size_t k = 0; k < p->rep.nexamples; k++) {
        free(p->rep.examples[k].expected);
        free(p->rep.examples[k].actual);
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
    double t0 = lb_parity_now();

    struct lb_parity p;
    memset(&p, 0, sizeof(p));
    p.o = &o;
    lb_entry_decoder_init(&p.dec, o.c.json_field);
    p.rep.stream = o.stream;
    p.rep.order_any = o.order_any;
    struct lb_error err = {0};
    int exit_code = LB_EXIT_RUNTIME;

    if ((rc = lb_parity_files(&p, &err)) != 0)
        goto fail;
    p.rep.files = p.fst;
    p.rep.nfiles = p.nfiles;

    struct lb_redis_cfg cfg;
    if (lb_redis_url_parse(o.c.redis_url, &cfg, &err) != 0) {
        exit_code = lb_cli_error(&cli, "redis", "%s", err.msg);
        goto out;
    }
    if ((p.r = lb_redis_create(&cfg)) == NULL) {
        lb_error_set(&err, LB_ENOMEM, "out of memory");
        goto fail;
    }
    /* One attempt: a CI step wants a clear failure now, not a retry loop. */
    if ((rc = lb_redis_connect(p.r, &err)) != 0 ||
        (rc = lb_stream_info_read(p.r, o.stream, &p.si, &err)) != 0)
        goto fail;
    lb_parity_window(&p);
    if (p.si.exists && !p.si.has_added)
        lb_warn("redis at %s does not report entries-added (Redis < 7): a trimmed stream's "
                "old lines count as missing, not trimmed",
                lb_redis_addr(p.r));

    rc = o.order_any ? lb_parity_any(&p, &err) : lb_parity_strict(&p, &err);
    if (rc != 0)
        goto fail;
    for (int j = 0; j < p.ngroups; j++)
        if (p.groups[j].restarts > 0)
            lb_warn("entries of src=%s go back to the start of a file (%" PRIu64 "x): a rotated "
                    "chain written by tail, where every generation keeps the live path's name? "
                    "Then give all generations, oldest first, with --src %s",
                    p.groups[j].src, p.groups[j].restarts, p.groups[j].src);
    if (p.other_src > 0)
        lb_warn("%" PRIu64 " entries come from a src that is none of the FILEs (e.g. src=%s): "
                "they count as extra_in_stream; --src NAME compares one src only",
                p.other_src, p.other_src_name);
    lb_parity_examples_sort(&p);
    if ((rc = lb_parity_fill(&p, &err)) != 0)
        goto fail;
    lb_parity_check(&p);
    p.rep.seconds = lb_parity_now() - t0;
    if ((rc = lb_parity_write_out(&o, &p.rep, &err)) != 0)
        goto fail;
    exit_code = lb_parity_equal(&p.rep.c) ? LB_EXIT_OK : LB_EXIT_DIFF;
    goto out;
fail:
    lb_error_log("%s", err.msg);
    exit_code = LB_EXIT_RUNTIME;
out:
    lb_parity_free(&p);
    lb_log_close();
    return exit_code;
}
