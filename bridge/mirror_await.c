/*
 * mirror_await.c - after a failover that lost acknowledged writes: the lines
 * of ours whose entries the stream no longer holds, awaiting those entries
 * sent again (the rule is "After a failover" in mirror.c's header), and the
 * check a reconnect makes that the stream still holds what was mirrored.
 *
 * The region's bytes stay in the file: what is kept in memory is one small
 * record per line (offset, length, hash), bounded by LB_AWAIT_MAX_LINES, and
 * a candidate is compared with the file's bytes (pread) before it is taken.
 */
#include "mirror_int.h"

#include <cjson/cJSON.h>

#include "log.h"
#include "parity.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the region ------------------------------------------------------------------------ */

void lb_await_free(struct lb_await *a)
{
    if (a == NULL)
        return;
    free(a->v);
    free(a->by_hash);
    free(a->taken);
    memset(a, 0, sizeof(*a));
}

static uint32_t lb_await_hash(const char *p, size_t n)
{
    return (uint32_t)lb_parity_hash(p, n);
}

static int lb_await_push(struct lb_await *a, uint64_t off, const char *p, size_t n)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 1024;
        struct lb_await_line *v = realloc(a->v, ncap * sizeof(*v));
        unsigned char *t = realloc(a->taken, ncap);
        if (v != NULL)
            a->v = v;
        if (t != NULL)
            a->taken = t;
        if (v == NULL || t == NULL)
            return -1;
        a->cap = ncap;
    }
    a->v[a->n].off = off;
    a->v[a->n].len = (uint32_t)n;
    a->v[a->n].hash = lb_await_hash(p, n);
    a->taken[a->n] = 0;
    a->n++;
    return 0;
}

/* Append the whole lines of [from, to) to a->v, at most `room`, read in
 * chunks; a line longer than the buffer grows it (lines are bounded by the
 * entries'). */
static int lb_await_read(struct lb_await *a, int fd, uint64_t from, uint64_t to, size_t room,
                         struct lb_error *err)
{
    size_t cap = 64 * 1024, have = 0, limit = a->n + room;
    char *buf = malloc(cap);
    if (buf == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    uint64_t at = from; /* the file offset of buf[0] */
    int rc = 0;
    while (rc == 0 && at + have < to && a->n < limit) {
        if (have == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                rc = lb_error_set(err, LB_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        uint64_t left = to - (at + have);
        size_t want = left < cap - have ? (size_t)left : cap - have;
        ssize_t got = pread(fd, buf + have, want, (off_t)(at + have));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = lb_error_set(err, LB_EIO, "reading back its lines: %s", strerror(errno));
            break;
        }
        if (got == 0)
            break; /* cut short by someone else: the lines so far */
        size_t scan = have, start = 0;
        have += (size_t)got;
        for (const char *nl; a->n < limit && (nl = memchr(buf + scan, '\n', have - scan));) {
            size_t end = (size_t)(nl - buf) + 1;
            if (end - start > UINT32_MAX ||
                lb_await_push(a, at + start, buf + start, end - start) != 0) {
                rc = lb_error_set(err, LB_ENOMEM, "out of memory");
                break;
            }
            start = scan = end;
        }
        memmove(buf, buf + start, have - start);
        at += start;
        have -= start;
    }
    if (rc == 0 && a->n == limit && at < to)
        a->cut = 1;
    free(buf);
    return rc;
}

static int lb_await_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* by_hash for the lines of v: hash in the high half, the line's index in
 * the low half, so the lines of one hash come in file order. */
static int lb_await_index(struct lb_await *a, struct lb_error *err)
{
    free(a->by_hash);
    a->by_hash = NULL;
    if (a->n == 0)
        return 0;
    uint64_t *keys = malloc(a->n * sizeof(*keys));
    a->by_hash = malloc(a->n * sizeof(*a->by_hash));
    int rc = 0;
    if (keys == NULL || a->by_hash == NULL) {
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < a->n; i++)
            keys[i] = (uint64_t)a->v[i].hash << 32 | (uint64_t)i;
        qsort(keys, a->n, sizeof(*keys), lb_await_cmp);
        for (size_t i = 0; i < a->n; i++)
            a->by_hash[i] = (uint32_t)keys[i];
    }
    free(keys);
    return rc;
}

/* Push out the oldest range (its lines not taken are counted as dropped). */
static void lb_await_drop_oldest(struct lb_await *a)
{
    size_t k = a->r[0].hi;
    for (size_t i = a->r[0].first; i < k; i++)
        if (!a->taken[i]) {
            a->left--;
            a->dropped++;
        }
    memmove(a->v, a->v + k, (a->n - k) * sizeof(*a->v));
    memmove(a->taken, a->taken + k, a->n - k);
    a->n -= k;
    memmove(a->r, a->r + 1, (a->nr - 1) * sizeof(*a->r));
    a->nr--;
    for (size_t i = 0; i < a->nr; i++) {
        a->r[i].lo -= k;
        a->r[i].hi -= k;
        a->r[i].first -= k;
    }
}

int lb_await_add(struct lb_await *a, int fd, uint64_t from, uint64_t to, struct lb_error *err)
{
    if (a->nr == LB_AWAIT_RANGES)
        lb_await_drop_oldest(a);
    size_t lo = a->n;
    int rc = lb_await_read(a, fd, from, to, LB_AWAIT_MAX_LINES, err);
    size_t got = a->n - lo;
    if (rc != 0 || got == 0) {
        a->n = lo;
        int irc = lb_await_index(a, err); /* (the oldest may have gone) */
        return rc != 0 ? rc : irc;
    }
    /* room for the new lines: the oldest go first (their lines move) */
    while (a->nr > 0 && a->n > LB_AWAIT_MAX_LINES) {
        lo -= a->r[0].hi;
        lb_await_drop_oldest(a);
    }
    struct lb_await_range *r = &a->r[a->nr++];
    r->lo = r->first = lo;
    r->hi = a->n;
    r->from = a->v[lo].off;
    r->to = a->v[a->n - 1].off + a->v[a->n - 1].len;
    a->left += got;
    return lb_await_index(a, err);
}

size_t lb_await_ranges(const struct lb_await *a, struct lb_await_range *out)
{
    size_t k = 0;
    for (size_t i = 0; i < a->nr; i++)
        if (a->r[i].first < a->r[i].hi)
            out[k++] = a->r[i];
    return k;
}

/* Do the file's bytes at off equal p[0..n)? 1, 0, or LB_EIO. */
static int lb_await_same(int fd, uint64_t off, const char *p, size_t n, struct lb_error *err)
{
    char chunk[4096];
    while (n > 0) {
        size_t want = n < sizeof(chunk) ? n : sizeof(chunk);
        ssize_t got = pread(fd, chunk, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return lb_error_set(err, LB_EIO, "reading back its lines: %s", strerror(errno));
        if (got == 0 || memcmp(chunk, p, (size_t)got) != 0)
            return 0;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 1;
}

/* The first position of by_hash whose line has hash h or a larger one. */
static size_t lb_await_lower(const struct lb_await *a, uint32_t h)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->v[a->by_hash[mid]].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* v[k] came back: its range's first line not taken moves on. */
static void lb_await_mark(struct lb_await *a, size_t k)
{
    a->taken[k] = 1;
    a->left--;
    for (size_t i = 0; i < a->nr; i++) {
        struct lb_await_range *r = &a->r[i];
        if (k < r->lo || k >= r->hi)
            continue;
        while (r->first < r->hi && a->taken[r->first])
            r->first++;
        r->from = r->first < r->hi ? a->v[r->first].off : r->to;
    }
}

int lb_await_take(struct lb_await *a, int fd, const char *line, size_t n, struct lb_error *err)
{
    if (!lb_await_on(a) || n > UINT32_MAX)
        return 0;
    uint32_t h = lb_await_hash(line, n);
    for (size_t i = lb_await_lower(a, h); i < a->n && a->v[a->by_hash[i]].hash == h; i++) {
        size_t k = a->by_hash[i];
        if (a->taken[k] || a->v[k].len != n)
            continue;
        int same = lb_await_same(fd, a->v[k].off, line, n, err);
        if (same < 0)
            return same;
        if (same) {
            lb_await_mark(a, k);
            return 1;
        }
    }
    return 0;
}

/* ---- after a reconnect ------------------------------------------------------------------ */

uint64_t lb_mirror_entry_sum(const redisReply *e)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2)
        return 1;
    const redisReply *id = e->element[0], *f = e->element[1];
    if (id->type == REDIS_REPLY_STRING)
        h = lb_parity_mix64(h ^ lb_parity_hash(id->str, id->len));
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i < f->elements; i++)
        if (f->element[i]->type == REDIS_REPLY_STRING)
            h = lb_parity_mix64(h + lb_parity_hash(f->element[i]->str, f->element[i]->len));
    return h | 1; /* never 0 (unknown) */
}

int lb_mirror_entry_gone(struct lb_mirror *m, const char *key, const char *id, uint64_t sum,
                         int *gone, struct lb_error *err)
{
    const char *argv[4] = {"XRANGE", key, id, id};
    redisReply *rep = lb_redis_cmd(m->r, 4, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_reply_error(m->r, "XRANGE", key, rep->str, err);
    else
        *gone = !(rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                  (sum == 0 || lb_mirror_entry_sum(rep->element[0]) == sum));
    freeReplyObject(rep);
    return rc;
}

int lb_mirror_ckpt_surviving(struct lb_mirror *m, struct lb_mirror_ckpt *ck, struct lb_error *err)
{
    int rc = lb_mirror_ckpt_load(m, ck, err);
    if (rc != 0 || ck->present)
        return rc;
    memset(ck, 0, sizeof(*ck));
    ck->present = 1;
    snprintf(ck->id, sizeof(ck->id), "%s", m->base_id);
    ck->size = m->base_size;
    ck->dev = m->dev;
    ck->ino = m->ino;
    if (m->mm == NULL)
        return 0;
    /* several streams: each one's ID at that start */
    ck->ids = cJSON_CreateObject();
    for (int i = 0; ck->ids != NULL && i < m->mm->n; i++)
        if (cJSON_AddStringToObject(ck->ids, m->mm->s[i].key, m->mm->s[i].base) == NULL)
            break;
    if (ck->ids == NULL || cJSON_GetArraySize(ck->ids) != m->mm->n) {
        cJSON_Delete(ck->ids);
        ck->ids = NULL;
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    return 0;
}

/* The stream lost what was mirrored: go back to the checkpoint that
 * survived and reconcile the file with it, up to the end of our last
 * write. */
static int lb_mirror_fall_back(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_mirror_ckpt ck;
    int rc = lb_mirror_ckpt_surviving(m, &ck, err);
    if (rc != 0)
        return rc;
    lb_warn("%s: entry id=%s, the last one handled, is no longer in stream %s (a failover lost "
            "acknowledged writes?): going back to the checkpoint id=%s size=%" PRIu64
            "; lines of it written since that come back are not written again",
            m->what, m->last_id, m->o->streams.v[0], ck.id, ck.size);
    struct lb_sid lost = m->last;
    m->lag.pos_known = 0;
    m->ck_seq++;
    if (ck.dev != m->dev || ck.ino != m->ino || ck.size > m->size) {
        /* The file was reopened (logrotate) since that checkpoint: its lines
         * are in another file. Continued after it, as a new generation. */
        lb_warn("%s: that checkpoint is of another file (dev=%llu ino=%llu size=%" PRIu64
                "): what the failover lost is written again, into this one",
                m->what, ck.dev, ck.ino, ck.size);
        lb_await_free(&m->aw);
        lb_mirror_set_last(m, ck.id, strlen(ck.id));
        m->last_sum = 0;
        return 0;
    }
    return lb_mirror_reconcile(m, &ck, m->size, &lost, err);
}

int lb_mirror_resume(struct lb_mirror *m, struct lb_error *err)
{
    int rc, gone = 0;
    if ((m->last.ms != 0 || m->last.seq != 0) &&
        (rc = lb_mirror_entry_gone(m, m->o->streams.v[0], m->last_id, m->last_sum, &gone, err)) !=
            0)
        return rc;
    if (gone && (rc = lb_mirror_fall_back(m, err)) != 0)
        return rc;
    return lb_ck_pending(m) ? lb_mirror_ckpt_save(m, err) : 0;
}
