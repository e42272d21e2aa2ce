/*
 * parity_align.c - the sequence aligner of parity (pure: no I/O, no Redis):
 * two ordered sequences of items in bounded memory, resynchronising after
 * gaps, telling matched / mismatched / out of order / missing / extra apart
 * (see parity.h). The indexed FIFO below is its windows and pools: they stay
 * together.
 */
#include "parity.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define LB_NONE UINT64_MAX /* no position: an empty chain, no next item */

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
        size_t j = lb_parity_mix64(q->ix[i].key) & (ncap - 1);
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
    size_t m = q->ixcap - 1, j = lb_parity_mix64(key) & m;
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
    size_t m = q->ixcap - 1, j = lb_parity_mix64(key) & m;
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
        size_t k = lb_parity_mix64(q->ix[j].key) & m;
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

/* The stream side is empty. Until the stream is done, wait for entries;
 * then each line left pairs with an entry set aside earlier, is set aside
 * itself (missing), or, with nothing left to pair with, is past the last
 * pair. */
static int lb_align_step_no_entry(struct lb_align *a, const struct lb_align_item *f)
{
    struct lb_align_item x, y;
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

/* The files are exhausted: the next entry pairs with a line set aside
 * earlier (out of order), or is extra. */
static int lb_align_step_no_line(struct lb_align *a)
{
    struct lb_align_item x, y;
    lb_fifo_pop(&a->s, &y);
    if (a->pf.live > 0 && lb_fifo_take(&a->pf, y.key, &x))
        lb_align_pair(a, &x, &y, 1);
    else
        a->emit(a->ctx, LB_ALIGN_EXTRA, NULL, &y);
    return 1;
}

/* The heads differ, but one of them claims an item set aside earlier: the
 * two were out of order. 1 when a pair was made, 0 otherwise. */
static int lb_align_step_claim(struct lb_align *a, const struct lb_align_item *f,
                               const struct lb_align_item *s)
{
    struct lb_align_item x, y;
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
    return 0;
}

/* Which head to set aside when the heads differ and neither claims an item
 * set aside earlier: 1 the entry, 0 the line, -1 neither (a line changed
 * in place). ds, df: how far ahead in the window the partner of the line
 * head and of the entry head is (LB_NONE: not in the window). */
static int lb_align_aside_entry(const struct lb_align_item *f, const struct lb_align_item *s,
                                uint64_t ds, uint64_t df)
{
    if (ds == LB_NONE && df == LB_NONE) {
        int64_t fo = f->ord, so = s->ord;
        if (fo != LB_ORD_NONE && so != LB_ORD_NONE && so > fo)
            return 0; /* the stream is ahead: a gap on its side */
        if (fo != LB_ORD_NONE && so != LB_ORD_NONE && so < fo)
            return 1; /* the stream is behind: an entry with no line */
        return -1;    /* same place, different content: a line changed in place */
    }
    if (df == LB_NONE)
        return 1;
    if (ds == LB_NONE)
        return 0;
    /* Both are ahead somewhere: set aside the one whose partner is farther,
     * which moves the fewest items (one moved entry is one out_of_order). */
    return ds <= df;
}

/* The heads differ and claim nothing set aside: look ahead in the window
 * for each head's partner and set one head aside (or pair them as a line
 * changed in place). Only with a full window, or at the end of the stream:
 * 0 until then. */
static int lb_align_step_ahead(struct lb_align *a)
{
    struct lb_align_item x, y;
    int rc;
    if (!a->sdone && a->s.live <= a->w)
        return 0;
    if ((rc = lb_align_need_f(a, a->w + 1)) < 0)
        return rc;
    const struct lb_align_item *f = lb_fifo_head(&a->f), *s = lb_fifo_head(&a->s);
    uint64_t ps_ = LB_NONE, pf_ = LB_NONE;
    if ((rc = lb_fifo_first(&a->s, f->key, &ps_)) < 0 ||
        (rc = lb_fifo_first(&a->f, s->key, &pf_)) < 0)
        return rc;
    uint64_t ds = ps_ == LB_NONE ? LB_NONE : ps_ - a->s.head;
    uint64_t df = pf_ == LB_NONE ? LB_NONE : pf_ - a->f.head;
    int aside = lb_align_aside_entry(f, s, ds, df);
    if (aside < 0) {
        lb_fifo_pop(&a->f, &x);
        lb_fifo_pop(&a->s, &y);
        lb_align_pair(a, &x, &y, 0);
        return 1;
    }
    if (aside) {
        lb_fifo_pop(&a->s, &y);
        return lb_align_pool(a, &a->ps, &y, LB_ALIGN_EXTRA) < 0 ? LB_ENOMEM : 1;
    }
    lb_fifo_pop(&a->f, &x);
    return lb_align_pool(a, &a->pf, &x, LB_ALIGN_MISSING) < 0 ? LB_ENOMEM : 1;
}

/* One decision. 1: progress (or finished), 0: more entries needed, < 0: error.
 * In order: sync the two sides once; one side empty; the heads equal (a
 * pair); a head that claims an item set aside; else look ahead. */
static int lb_align_step(struct lb_align *a)
{
    struct lb_align_item x, y;
    int rc;
    if (!a->synced)
        return lb_align_sync(a);
    if ((rc = lb_align_need_f(a, 1)) < 0)
        return rc;
    const struct lb_align_item *f = lb_fifo_head(&a->f), *s = lb_fifo_head(&a->s);
    if (s == NULL)
        return lb_align_step_no_entry(a, f);
    if (f == NULL)
        return lb_align_step_no_line(a);
    if (f->key == s->key) {
        lb_fifo_pop(&a->f, &x);
        lb_fifo_pop(&a->s, &y);
        lb_align_pair(a, &x, &y, 0);
        return 1;
    }
    if (lb_align_step_claim(a, f, s))
        return 1;
    return lb_align_step_ahead(a);
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
