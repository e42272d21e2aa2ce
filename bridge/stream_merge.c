/*
 * stream_merge.c - several streams merged in entry-ID order (see
 * stream_merge.h).
 */
#include "stream_merge.h"

#include <stdlib.h>
#include <string.h>

#define LB_MERGE_BUDGET 2000 /* entries per page, over all the streams */
#define LB_MERGE_PAGE_MIN 16 /* ... but at least this many each */

int lb_merge_begin(struct lb_merge *m, struct lb_redis *r, const char *const *keys, int n,
                   const char *start, const char *end, const char *json_field, struct lb_error *err)
{
    return lb_merge_begin_each(m, r, keys, n, NULL, start, NULL, end, json_field, err);
}

int lb_merge_begin_each(struct lb_merge *m, struct lb_redis *r, const char *const *keys, int n,
                        const char *const *starts, const char *start, const char *const *ends,
                        const char *end, const char *json_field, struct lb_error *err)
{
    memset(m, 0, sizeof(*m));
    m->last = -1;
    m->r = r;
    if (n <= 0)
        return 0;
    m->s = calloc((size_t)n, sizeof(*m->s));
    m->heap = calloc((size_t)n, sizeof(*m->heap));
    if (m->s == NULL || m->heap == NULL || lb_xpipe_init(&m->pipe, n, err) != 0) {
        free(m->s);
        free(m->heap);
        m->s = NULL;
        m->heap = NULL;
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    m->n = n;
    /* A budget of entries shared by the pages, so that the entries held do
     * not grow with the number of streams (but for the minimum); each
     * reader's two arenas are sized to its page (lb_xrange_begin_piped):
     * about 100 KiB per stream of 16-entry pages. */
    int count = LB_MERGE_BUDGET / n;
    count = count < LB_MERGE_PAGE_MIN ? LB_MERGE_PAGE_MIN : count;
    for (int i = 0; i < n; i++) {
        struct lb_merge_src *s = &m->s[i];
        s->key = keys[i];
        lb_entry_decoder_init(&s->dec, json_field);
        lb_xrange_begin_piped(&s->xr, &m->pipe, r, keys[i], starts != NULL ? starts[i] : start,
                              ends != NULL ? ends[i] : end, count);
    }
    return 0;
}

int lb_merge_drain(struct lb_merge *m, struct lb_error *err)
{
    return m->s != NULL ? lb_xpipe_drain(&m->pipe, m->r, err) : 0;
}

/* Read s's next page and make its first entry the head. 0 (a head, or
 * s->done), or an error (s->page stays NULL: the same page is asked for
 * again at the next call). */
static int lb_merge_fill(struct lb_merge_src *s, struct lb_error *err)
{
    while (!s->done && s->page == NULL) {
        const redisReply *page;
        int rc = lb_xrange_next(&s->xr, &page, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            s->done = 1;
            s->page = NULL;
            break;
        }
        if (page->elements == 0) {
            s->done = 1; /* an empty page ends the range */
            break;
        }
        s->page = page;
        s->pos = 0;
    }
    if (!s->done) {
        lb_entry_release(&s->dec);
        lb_entry_decode(&s->dec, s->page->element[s->pos], &s->head);
    }
    return 0;
}

int lb_merge_before(const struct lb_entry *a, const struct lb_entry *b)
{
    if (a->has_src && b->has_src && a->has_off && b->has_off && a->src.n == b->src.n &&
        memcmp(a->src.p, b->src.p, a->src.n) == 0)
        return a->off < b->off;
    struct lb_sid x = a->id_ok ? a->id : (struct lb_sid){0, 0};
    struct lb_sid y = b->id_ok ? b->id : (struct lb_sid){0, 0};
    return lb_sid_cmp(x, y) < 0;
}

/* Stream i's head goes before stream j's. Equal IDs (neither goes before
 * the other): by stream name, not by place in s, which depends on when each
 * stream was found. */
static int lb_merge_less(const struct lb_merge *m, int i, int j)
{
    const struct lb_merge_src *a = &m->s[i], *b = &m->s[j];
    if (lb_merge_before(&a->head, &b->head))
        return 1;
    return !lb_merge_before(&b->head, &a->head) && strcmp(a->key, b->key) < 0;
}

static void lb_merge_sift_down(struct lb_merge *m, int at)
{
    int *h = m->heap;
    for (;;) {
        int c = 2 * at + 1;
        if (c >= m->nheap)
            return;
        if (c + 1 < m->nheap && lb_merge_less(m, h[c + 1], h[c]))
            c++;
        if (!lb_merge_less(m, h[c], h[at]))
            return;
        int t = h[c];
        h[c] = h[at];
        h[at] = t;
        at = c;
    }
}

/* Every stream's first page (or its end), then the heap of those with a
 * head. An error leaves the streams filled so far as they are. */
static int lb_merge_build(struct lb_merge *m, struct lb_error *err)
{
    /* every stream's first page in one round trip */
    for (int i = 0; !m->asked && i < m->n; i++) {
        int rc = lb_xrange_ask(&m->s[i].xr, err);
        if (rc != 0)
            return rc;
    }
    m->asked = 1;
    for (int i = 0; i < m->n; i++) {
        int rc = m->s[i].page == NULL ? lb_merge_fill(&m->s[i], err) : 0;
        if (rc != 0)
            return rc;
    }
    m->nheap = 0;
    for (int i = 0; i < m->n; i++)
        if (!m->s[i].done)
            m->heap[m->nheap++] = i;
    for (int at = m->nheap / 2 - 1; at >= 0; at--)
        lb_merge_sift_down(m, at);
    m->built = 1;
    return 0;
}

int lb_merge_next(struct lb_merge *m, const struct lb_entry **e, int *which, struct lb_error *err)
{
    if (m->last >= 0) {
        /* the entry returned last (the heap's top) is used: its stream moves on */
        struct lb_merge_src *s = &m->s[m->last];
        m->last = -1;
        if (++s->pos < s->page->elements) {
            lb_entry_release(&s->dec);
            lb_entry_decode(&s->dec, s->page->element[s->pos], &s->head);
            lb_merge_sift_down(m, 0);
        } else {
            s->page = NULL; /* the next page is read below (again after an error) */
        }
    }
    if (!m->built) {
        int rc = lb_merge_build(m, err);
        if (rc != 0)
            return rc;
    } else if (m->nheap > 0 && m->s[m->heap[0]].page == NULL) {
        struct lb_merge_src *s = &m->s[m->heap[0]];
        int rc = lb_merge_fill(s, err);
        if (rc != 0)
            return rc;
        if (s->done)
            m->heap[0] = m->heap[--m->nheap];
        lb_merge_sift_down(m, 0);
    }
    if (m->nheap == 0)
        return 0;
    int best = m->heap[0];
    m->last = best;
    m->raw = m->s[best].page->element[m->s[best].pos];
    *e = &m->s[best].head;
    *which = best;
    return 1;
}

int lb_merge_raw_ends_page(const struct lb_merge *m)
{
    if (m->last < 0)
        return 0;
    const struct lb_merge_src *s = &m->s[m->last];
    return s->page == NULL || s->pos + 1 >= s->page->elements;
}

void lb_merge_free(struct lb_merge *m)
{
    if (m == NULL || m->s == NULL)
        return;
    for (int i = 0; i < m->n; i++) {
        lb_entry_release(&m->s[i].dec);
        lb_xrange_free(&m->s[i].xr);
    }
    free(m->s);
    free(m->heap);
    m->s = NULL;
    m->heap = NULL;
    m->n = 0;
    lb_xpipe_free(&m->pipe);
}
