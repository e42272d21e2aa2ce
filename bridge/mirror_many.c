/*
 * mirror_many.c - mirror over several streams or a template (DESIGN.md
 * section 8): one file in entry-ID order, exactly once (4.2) as for one
 * stream (mirror.c's header: the batch steps, "Another writer").
 *
 * State: each stream's last entry handled, recorded in the checkpoint as
 * "ids":{"STREAM":"ID",...} next to "id" (the largest of them). A start
 * resolves the streams (lb_streams_resolve), takes each one's ID from "ids"
 * (a stream not there appeared while mirror was down: from its start;
 * without a checkpoint, --from for every stream), and reconciles the file
 * as for one stream: the lines we may have written after the checkpoint
 * are the merged entries after the per-stream IDs (mirror_recognise.c,
 * stream_merge.c).
 *
 * A round:
 *   1. TIME: the watermark W. An XADD with `*` gets an ID >= the server's
 *      clock, so once TIME returned, every entry with an ID in an earlier
 *      millisecond is in its stream, in every stream;
 *   2. in the same round trip, XREAD COUNT 1 BLOCK over every stream known,
 *      after its last entry: Redis runs it after TIME, so when it does not
 *      block it sees every entry below W, and says which streams have an
 *      entry at or below W (the active ones); when it blocks, none had one,
 *      and what it brings is read by a round at once;
 *   3. new streams, after TIME: the members of logbridge:streams:{T} of
 *      each template (tail and import add a name in the batch that first
 *      writes to it, so every stream of ours holding an entry below W is
 *      known; the set is read again only when SCARD changed, and after
 *      every reconnect: a failover may take names back), and every
 *      LB_MANY_SCAN_SEC a SCAN for other matching streams; the streams
 *      found now were not in that XREAD: one XREAD COUNT 1 (no BLOCK) over
 *      them alone, after TIME too, says which of them are active (starting
 *      the round again instead would let a steady flow of new names hold
 *      every round back);
 *   4. only the active streams are read, from their last ID up to W (XRANGE
 *      pages, asked for ahead through one pipe: stream_merge.c), and the
 *      heads are merged (lb_merge_before: one src in `off` order, else the
 *      smaller ID). No entry is read twice and nothing past W is read at
 *      all;
 *   5. each lb_many_turn writes one batch (--batch entries) of the round;
 *      the batch is synced and checkpointed as for one stream (mirror.c),
 *      several batches of a backlog sharing one sync while they are young.
 * An entry older than one already written (an explicit old ID, a stream
 * found by a later SCAN) is written when seen and counted as `reordered`.
 * An entry whose explicit ID is ahead of the server's clock waits for it.
 * --once: one round, each stream up to its last ID at start.
 *
 * After a reconnect (lb_many_resume), as for one stream (mirror.c's header,
 * "After a failover"): each stream's last entry handled must still be there
 * with the same fields (its sum); if one is not, every stream goes back to
 * its ID in the checkpoint that survived, and the file is reconciled with it
 * (lines of lost entries await them: mirror_await.c).
 */
#include "mirror_int.h"

#include "clock.h"
#include "log.h"
#include "stream_info.h"
#include "stream_merge.h"
#include "stream_set.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LB_MANY_SCAN_SEC 3.0   /* other streams matching a template: looked for this often */
#define LB_MANY_BLOCK_MS "500" /* XREAD BLOCK when the last round found nothing */
#define LB_MANY_AHEAD_MS 200   /* most a round waits for the clock to reach an entry */
#define LB_MANY_AHEAD_WARN_MS 5000 /* an entry this far ahead of the clock is warned about */

/* The templates' sets are read whole at the next refresh. */
static void lb_many_sets_unread(struct lb_mirror *m)
{
    for (int i = 0; i < m->o->streams.n; i++)
        m->mm->set_n[i] = -1;
}

int lb_many_init(struct lb_mirror *m)
{
    m->mm = calloc(1, sizeof(*m->mm));
    if (m->mm == NULL)
        return -1;
    for (int i = 0; i < m->o->streams.n; i++)
        m->mm->templates |= lb_stream_is_template(m->o->streams.v[i]);
    m->mm->set_n = malloc((size_t)(m->o->streams.n + 1) * sizeof(*m->mm->set_n));
    if (m->mm->set_n == NULL) {
        free(m->mm);
        m->mm = NULL;
        return -1;
    }
    lb_many_sets_unread(m);
    return 0;
}

/* The sum of stream s's last entry handled, while its page is there. */
static void lb_many_seal(struct lb_many_stream *s)
{
    if (s->raw != NULL)
        s->sum = lb_mirror_entry_sum(s->raw);
    s->raw = NULL;
}

static void lb_many_seal_all(struct lb_many *mm)
{
    for (int i = 0; i < mm->n; i++)
        lb_many_seal(&mm->s[i]);
}

/* Drop the round being merged. Pages asked for ahead may be on the wire:
 * the connection goes too, unless they can be read off it. */
static void lb_many_round_drop(struct lb_mirror *m)
{
    struct lb_many *mm = m->mm;
    if (!mm->merging)
        return;
    lb_many_seal_all(mm);
    struct lb_error ign = {0};
    if (mm->mg.pipe.n > 0 && lb_redis_ctx(m->r) != NULL && lb_merge_drain(&mm->mg, &ign) != 0 &&
        lb_redis_ctx(m->r) != NULL)
        lb_redis_drop(m->r);
    lb_merge_free(&mm->mg);
    mm->merging = 0;
    mm->w[0] = '\0';
}

void lb_many_reconnected(struct lb_mirror *m)
{
    lb_many_round_drop(m);
    /* A failover may have taken names back with their batches: a set of the
     * same size may hold others now. */
    lb_many_sets_unread(m);
}

void lb_many_free(struct lb_mirror *m)
{
    struct lb_many *mm = m->mm;
    if (mm == NULL)
        return;
    lb_merge_free(&mm->mg);
    for (int i = 0; i < mm->n; i++)
        free(mm->s[i].key);
    free(mm->s);
    free(mm->byname);
    free(mm->map);
    free(mm->set_n);
    lb_arena_free(&mm->arena);
    free(mm);
    m->mm = NULL;
}

static void lb_many_set_id(struct lb_many_stream *s, const char *id)
{
    snprintf(s->id, sizeof(s->id), "%s", id);
    if (lb_sid_parse(s->id, strlen(s->id), &s->last) != 0)
        s->last = (struct lb_sid){0, 0};
    s->sum = 0; /* not known: the entry was not read by us */
    s->raw = NULL;
    s->lag.pos_known = 0;
}

/* Where key is in mm->byname: 1 (found) or 0 (*at: where it goes). */
static int lb_many_find(const struct lb_many *mm, const char *key, int *at)
{
    int lo = 0, hi = mm->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(mm->s[mm->byname[mid]].key, key);
        if (c == 0) {
            *at = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

/* Add stream key after `id` unless it is followed already. 0 or LB_ENOMEM. */
static int lb_many_add(struct lb_mirror *m, const char *key, const char *id,
                       struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int at;
    if (lb_many_find(mm, key, &at))
        return 0;
    if (mm->n == mm->cap) {
        int cap = mm->cap > 0 ? mm->cap * 2 : 16;
        struct lb_many_stream *v = realloc(mm->s, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        mm->s = v;
        int *b = realloc(mm->byname, (size_t)cap * sizeof(*b));
        if (b == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        mm->byname = b;
        int *p = realloc(mm->map, (size_t)cap * sizeof(*p));
        if (p == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        mm->map = p;
        mm->cap = cap;
    }
    struct lb_many_stream *s = &mm->s[mm->n];
    memset(s, 0, sizeof(*s));
    if ((s->key = strdup(key)) == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    lb_many_set_id(s, id);
    memcpy(s->base, s->id, sizeof(s->base));
    memmove(mm->byname + at + 1, mm->byname + at, (size_t)(mm->n - at) * sizeof(*mm->byname));
    mm->byname[at] = mm->n;
    mm->n++;
    return 0;
}

/* The streams the --stream values stand for now (scan: SCAN as well, else
 * only the templates' sets); a new one is followed from its start, appended
 * to mm->s (those found are mm->s[n before, n)). */
static int lb_many_refresh(struct lb_mirror *m, int scan, struct lb_error *err)
{
    struct lb_names names = {0};
    int rc = 0, known = m->mm->n;
    if (scan) {
        rc = lb_streams_resolve(m->r, &m->o->streams, &names, err);
        m->mm->scan_at = lb_clock_mono();
    } else {
        for (int i = 0; rc == 0 && i < m->o->streams.n; i++) {
            if (!lb_stream_is_template(m->o->streams.v[i]))
                continue;
            char key[LB_KEY_MAX];
            lb_key_derive(m->o->streams.v[i], "streams", key, sizeof(key));
            /* Names are only ever added to the set (tail and import, with
             * the batch): while its size is the same, so are its members,
             * and a round does not read a thousand names again (a failover
             * may take names back: lb_many_reconnected forgets the size). */
            const char *cargv[2] = {"SCARD", key};
            redisReply *rep = lb_redis_cmd(m->r, 2, cargv, NULL, err);
            if (rep == NULL)
                return err->code;
            long long card = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
            if (rep->type == REDIS_REPLY_ERROR)
                rc = lb_reply_error(m->r, "SCARD", key, rep->str, err);
            freeReplyObject(rep);
            if (rc != 0 || (card >= 0 && card == m->mm->set_n[i]))
                continue;
            const char *argv[2] = {"SMEMBERS", key};
            rep = lb_redis_cmd(m->r, 2, argv, NULL, err);
            if (rep == NULL)
                return err->code;
            if (rep->type == REDIS_REPLY_ERROR)
                rc = lb_reply_error(m->r, "SMEMBERS", key, rep->str, err);
            for (size_t k = 0; rc == 0 && rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++)
                if (rep->element[k]->type == REDIS_REPLY_STRING)
                    rc = lb_many_add(m, rep->element[k]->str, "0-0", err);
            if (rc == 0 && rep->type == REDIS_REPLY_ARRAY)
                m->mm->set_n[i] = (long long)rep->elements;
            freeReplyObject(rep);
        }
    }
    for (int i = 0; rc == 0 && i < names.n; i++)
        rc = lb_many_add(m, names.v[i], "0-0", err);
    lb_names_free(&names);
    if (rc == 0 && m->mm->n > known)
        lb_info_kv(LB_MIRROR_FIELDS0(m), "mirror: following %d streams", m->mm->n);
    return rc;
}

void lb_many_set_ids(struct lb_mirror *m, char (*ids)[LB_SID_BUF])
{
    struct lb_sid max = {0, 0};
    for (int i = 0; i < m->mm->n; i++) {
        lb_many_set_id(&m->mm->s[i], ids[i]);
        if (lb_sid_cmp(m->mm->s[i].last, max) > 0)
            max = m->mm->s[i].last;
    }
    if (lb_sid_cmp(max, m->last) > 0) {
        char id[LB_SID_BUF];
        lb_sid_format(max, id);
        lb_mirror_set_last(m, id, strlen(id));
    }
}

int lb_many_done(const struct lb_mirror *m)
{
    for (int i = 0; i < m->mm->n; i++)
        if (lb_sid_cmp(m->mm->s[i].last, m->mm->s[i].end) < 0)
            return 0;
    return 1;
}

/* Each stream's ID from the checkpoint's "ids", or --from without one. */
static int lb_many_ids(struct lb_mirror *m, const struct lb_mirror_ckpt *ck, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int rc = 0;
    /* Streams recorded but not found now stay followed while a --stream
     * still stands for them (a type stream deleted for a while); one no
     * --stream names any more is the operator's choice: not followed. */
    const cJSON *it;
    cJSON_ArrayForEach(it, ck->ids)
    {
        if (cJSON_IsString(it) && it->string != NULL &&
            lb_streams_match(&m->o->streams, it->string) &&
            (rc = lb_many_add(m, it->string, "0-0", err)) != 0)
            return rc;
    }
    for (int i = 0; i < mm->n; i++) {
        struct lb_many_stream *s = &mm->s[i];
        if (ck->present) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck->ids, s->key);
            struct lb_sid sid;
            const char *id = cJSON_IsString(v) && strlen(v->valuestring) < LB_SID_BUF &&
                                     lb_sid_parse(v->valuestring, strlen(v->valuestring), &sid) == 0
                                 ? v->valuestring
                                 : NULL;
            /* A checkpoint of a mirror of one stream (no "ids"; the key is
             * the first --stream's): its "id" is that stream's, when the
             * first --stream is a stream and not a template. */
            if (id == NULL && ck->ids == NULL && strcmp(s->key, m->o->streams.v[0]) == 0)
                id = ck->id;
            /* not recorded: it appeared while mirror was down (from its start) */
            lb_many_set_id(s, id != NULL ? id : "0-0");
            continue;
        }
        struct lb_sid sid;
        if (lb_sid_arg(m->o->from, LB_SID_FORM_ID | LB_SID_FORM_LAST, 0, &sid) ==
                LB_SID_FORM_LAST &&
            (rc = lb_stream_last_id(m->r, s->key, &sid, err)) != 0)
            return rc;
        char id[LB_SID_BUF];
        lb_many_set_id(s, lb_sid_format(sid, id));
    }
    return 0;
}

int lb_many_start(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_mirror_ckpt ck;
    int rc = lb_mirror_ckpt_load(m, &ck, err);
    if (rc != 0)
        return rc;
    /* a start redone after a lost connection begins from scratch */
    lb_many_round_drop(m);
    m->mm->once_over = 0;
    for (int i = 0; i < m->mm->n; i++)
        free(m->mm->s[i].key);
    m->mm->n = 0;
    lb_many_sets_unread(m);
    if ((rc = lb_many_refresh(m, 1, err)) == 0)
        rc = lb_many_ids(m, &ck, err);
    if (rc == 0 && m->fd < 0)
        rc = lb_mirror_open(m, err);
    if (rc != 0) {
        cJSON_Delete(ck.ids);
        return rc;
    }
    const char *id = ck.present ? ck.id : "0-0";
    memset(&m->last, 0, sizeof(m->last));
    lb_mirror_set_last(m, id, strlen(id));
    if (!ck.present) {
        char(*ids)[LB_SID_BUF] = calloc((size_t)m->mm->n + 1, LB_SID_BUF);
        if (ids == NULL) {
            cJSON_Delete(ck.ids);
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        }
        for (int i = 0; i < m->mm->n; i++)
            memcpy(ids[i], m->mm->s[i].id, LB_SID_BUF);
        lb_many_set_ids(m, ids);
        free(ids);
        m->lost_quiet = 1;
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("size", m->size)),
                   "mirror: no checkpoint; %d streams, each after --from %s", m->mm->n, m->o->from);
    } else if (ck.dev == m->dev && ck.ino == m->ino && m->size >= ck.size) {
        /* our lines written after the checkpoint, and another writer's */
        rc = lb_mirror_reconcile(m, &ck, m->size, NULL, err);
    } else {
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("size", m->size), LB_F_STR("id", ck.id)),
                   "mirror: a new generation (the checkpoint was for another file or a longer "
                   "one): continuing after each stream's last entry");
    }
    cJSON_Delete(ck.ids);
    if (rc != 0)
        return rc;
    snprintf(m->base_id, sizeof(m->base_id), "%s", m->last_id);
    m->base_size = m->size;
    for (int i = 0; i < m->mm->n; i++)
        memcpy(m->mm->s[i].base, m->mm->s[i].id, sizeof(m->mm->s[i].base));
    m->ck_seq++;
    if ((rc = lb_mirror_ckpt_save(m, err)) != 0)
        return rc;
    for (int i = 0; m->o->once && i < m->mm->n; i++)
        if ((rc = lb_stream_last_id(m->r, m->mm->s[i].key, &m->mm->s[i].end, err)) != 0)
            return rc;
    return 0;
}

/* ---- after a reconnect ------------------------------------------------------------ */

/* A stream lost what was mirrored: every stream goes back to its ID in the
 * checkpoint in Redis (a failover took it back with the entries: a
 * consistent prefix), or, when none survived, in the one this process
 * started from; the file is reconciled with it up to the end of our last
 * write (mirror.c's header, "After a failover"). */
static int lb_many_fall_back(struct lb_mirror *m, const char *key, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    struct lb_mirror_ckpt ck;
    int rc = lb_mirror_ckpt_surviving(m, &ck, err);
    if (rc != 0)
        return rc;
    lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
               "mirror: the last entry handled of stream %s is no longer in it (a failover lost "
               "acknowledged writes?): every stream goes back to the checkpoint id=%s size=%" PRIu64
               "; lines written since that come back are not written again",
               key, ck.id, ck.size);
    struct lb_sid lost = m->last;
    for (int i = 0; i < mm->n; i++)
        mm->s[i].lag.pos_known = 0;
    m->ck_seq++;
    /* each stream from its ID in that checkpoint (one not in it: from its start) */
    rc = lb_many_ids(m, &ck, err);
    if (rc == 0) {
        memset(&m->last, 0, sizeof(m->last));
        lb_mirror_set_last(m, ck.id, strlen(ck.id));
    }
    if (rc == 0 && (ck.dev != m->dev || ck.ino != m->ino || ck.size > m->size)) {
        /* reopened (logrotate) since: the lost lines are in another file */
        lb_warn("%s: that checkpoint is of another file (dev=%llu ino=%llu size=%" PRIu64
                "): what the failover lost is written again, into this one",
                m->what, ck.dev, ck.ino, ck.size);
        lb_await_free(&m->aw);
    } else if (rc == 0) {
        rc = lb_mirror_reconcile(m, &ck, m->size, &lost, err);
    }
    cJSON_Delete(ck.ids);
    return rc;
}

int lb_many_resume(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int rc, gone = 0, i;
    /* A failover keeps a prefix of each stream: the last entry handled of
     * each one tells whether its stream lost what was mirrored. */
    for (i = 0; i < mm->n; i++) {
        const struct lb_many_stream *s = &mm->s[i];
        if (s->last.ms == 0 && s->last.seq == 0)
            continue;
        if ((rc = lb_mirror_entry_gone(m, s->key, s->id, s->sum, &gone, err)) != 0)
            return rc;
        if (gone)
            break;
    }
    if (gone && (rc = lb_many_fall_back(m, mm->s[i].key, err)) != 0)
        return rc;
    return lb_ck_pending(m) ? lb_mirror_ckpt_save(m, err) : 0;
}

/* TIME's reply as a watermark: every entry with an ID in an earlier
 * millisecond; *us: the time itself. 0 or an error code. */
static int lb_many_watermark(struct lb_mirror *m, const redisReply *rep, struct lb_sid *w,
                             uint64_t *us, struct lb_error *err)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_reply_error(m->r, "TIME", "", rep->str, err);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        rep->element[1]->type != REDIS_REPLY_STRING)
        return lb_error_set(err, LB_EREPLY, "redis at %s: TIME: unexpected reply",
                            lb_redis_addr(m->r));
    unsigned long long sec = strtoull(rep->element[0]->str, NULL, 10);
    unsigned long long usec = strtoull(rep->element[1]->str, NULL, 10);
    *us = (uint64_t)sec * 1000000u + (uint64_t)usec;
    uint64_t ms = *us / 1000u;
    *w = (struct lb_sid){ms > 0 ? ms - 1 : 0, UINT64_MAX};
    return 0;
}

/* The reply of an XREAD over the streams [from, n), [[key, [[id, fields]]],
 * ...] or nil: each one's next_ok/next say what came. 0 or an error code. */
static int lb_many_nexts(struct lb_mirror *m, const redisReply *rep, int from,
                         struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_reply_error(m->r, "XREAD", m->o->streams.v[0], rep->str, err);
    for (int i = from; i < mm->n; i++)
        mm->s[i].next_ok = 0;
    for (size_t k = 0; rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++) {
        const redisReply *sr = rep->element[k];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
            sr->element[0]->type != REDIS_REPLY_STRING ||
            sr->element[1]->type != REDIS_REPLY_ARRAY || sr->element[1]->elements == 0)
            continue;
        const redisReply *e = sr->element[1]->element[0];
        struct lb_sid id;
        if (e->type != REDIS_REPLY_ARRAY || e->elements == 0 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            lb_sid_parse(e->element[0]->str, e->element[0]->len, &id) != 0)
            continue;
        int at;
        if (lb_many_find(mm, sr->element[0]->str, &at)) {
            mm->s[mm->byname[at]].next = id;
            mm->s[mm->byname[at]].next_ok = 1;
        }
    }
    return 0;
}

/* XREAD COUNT 1 [BLOCK block_ms] STREAMS over the streams [from, n), each
 * after its last entry: argv (free it; NULL when out of memory), *argc. */
static const char **lb_many_xread_argv(const struct lb_many *mm, int from, const char *block_ms,
                                       int *argc)
{
    const char **argv = calloc((size_t)(2 * (mm->n - from) + 6), sizeof(*argv));
    if (argv == NULL)
        return NULL;
    int n = 0;
    argv[n++] = "XREAD";
    argv[n++] = "COUNT";
    argv[n++] = "1";
    if (block_ms != NULL) {
        argv[n++] = "BLOCK";
        argv[n++] = block_ms;
    }
    argv[n++] = "STREAMS";
    for (int i = from; i < mm->n; i++)
        argv[n++] = mm->s[i].key;
    for (int i = from; i < mm->n; i++)
        argv[n++] = mm->s[i].id;
    *argc = n;
    return argv;
}

/* Steps 1-2 in one round trip: TIME (the watermark *w), then XREAD COUNT 1
 * BLOCK over every stream known, after its last entry (each stream's
 * next_ok/next). Redis runs them in order, so an XREAD that did not block
 * saw every entry below *w; one that blocked saw none below it when TIME
 * ran (what it brings came later). *now_us: the server's clock when the
 * replies came, at the earliest (TIME plus how long the two took, less a
 * margin). 0 or an error code. */
static int lb_many_look(struct lb_mirror *m, struct lb_sid *w, uint64_t *now_us,
                        struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    double t0 = lb_clock_mono();
    int argc;
    const char **argv = lb_many_xread_argv(mm, 0, LB_MANY_BLOCK_MS, &argc);
    if (argv == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    redisContext *c = lb_redis_ctx(m->r);
    const char *targv[1] = {"TIME"};
    int rc = 0;
    if (c == NULL)
        rc = lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(m->r));
    else if (redisAppendCommandArgv(c, 1, targv, NULL) != REDIS_OK ||
             (mm->n > 0 && redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK)) {
        lb_redis_drop(m->r); /* half a pipeline must not reach the server */
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
    } else {
        rc = lb_redis_flush(m->r, err);
    }
    free(argv);
    if (rc != 0)
        return rc;
    /* Both replies are read before either is judged: none stays on the wire. */
    const redisReply *rep = lb_reply_read(m->r, &mm->arena, err);
    if (rep == NULL)
        return err->code;
    struct lb_error terr = {0};
    uint64_t t_us = 0;
    int trc = lb_many_watermark(m, rep, w, &t_us, &terr);
    if (mm->n > 0) {
        if ((rep = lb_reply_read(m->r, &mm->arena, err)) == NULL)
            return err->code;
        if (trc == 0 && (rc = lb_many_nexts(m, rep, 0, err)) != 0)
            return rc;
    }
    if (trc != 0) {
        *err = terr;
        return trc;
    }
    lb_mirror_accepted(m);
    /* less the way here (taken as up to 1 ms): a clock taken as later than
     * it is would cost a round that finds the entry still ahead */
    double us = (lb_clock_mono() - t0) * 1e6 - 1000.0;
    *now_us = t_us + (us > 0 ? (uint64_t)us : 0);
    return 0;
}

/* Streams [from, n) found after lb_many_look's XREAD: one XREAD COUNT 1
 * without BLOCK over them alone (sent after TIME's reply, so it sees every
 * entry of theirs below W). 0 or an error code. */
static int lb_many_look_new(struct lb_mirror *m, int from, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int argc;
    const char **argv = lb_many_xread_argv(mm, from, NULL, &argc);
    if (argv == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    int rc = lb_reply_send(m->r, argc, argv, NULL, err);
    free(argv);
    if (rc != 0)
        return rc;
    const redisReply *rep = lb_reply_read(m->r, &mm->arena, err);
    if (rep == NULL)
        return err->code;
    return lb_many_nexts(m, rep, from, err);
}

/* Only entries after the watermark came: the first one can be merged once
 * the server's clock has left its millisecond (another stream may still get
 * an entry in it). Until then the round waits, without spinning: about a
 * millisecond for an entry the XREAD waited for, at most LB_MANY_AHEAD_MS
 * at a time for an explicit ID ahead of the clock (a stop is seen at the
 * next top). */
static void lb_many_ahead(struct lb_mirror *m, struct lb_sid w, uint64_t now_us)
{
    struct lb_many *mm = m->mm;
    int which = -1;
    for (int i = 0; i < mm->n; i++)
        if (mm->s[i].next_ok && (which < 0 || lb_sid_cmp(mm->s[i].next, mm->s[which].next) < 0))
            which = i;
    if (which < 0 || mm->s[which].next.ms <= w.ms)
        return;
    uint64_t until_us = (mm->s[which].next.ms + 1) * 1000u;
    if (until_us <= now_us)
        return;
    double ahead = (double)(until_us - now_us) / 1000.0;
    if (ahead > LB_MANY_AHEAD_WARN_MS && !mm->ahead_warned) {
        mm->ahead_warned = 1;
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", mm->s[which].id)),
                   "mirror: the next entry of stream %s has an ID %.0f ms ahead of the "
                   "server's clock (an explicit ID, e.g. --id ts of a timestamp in the "
                   "future): it and every later entry of that stream wait for the clock "
                   "(said once)",
                   mm->s[which].key, ahead);
    }
    uint64_t us = until_us - now_us;
    if (us > LB_MANY_AHEAD_MS * 1000u)
        us = LB_MANY_AHEAD_MS * 1000u;
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    nanosleep(&ts, NULL);
}

/* Begin a merge of the active streams after their last entries handled, up
 * to end (--once: every stream, each up to its own end). 0 or an error code. */
static int lb_many_merge_begin(struct lb_mirror *m, const char *end, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int n = 0, rc = 0;
    for (int i = 0; i < mm->n; i++)
        if (end == NULL || mm->s[i].active)
            mm->map[n++] = i;
    const char **keys = calloc((size_t)n, sizeof(*keys));
    const char **sp = calloc((size_t)n, sizeof(*sp));
    const char **ep = calloc((size_t)n, sizeof(*ep));
    char(*starts)[LB_SID_BUF] = calloc((size_t)n, sizeof(*starts));
    char(*ends)[LB_SID_BUF] = calloc((size_t)n, sizeof(*ends));
    if (keys == NULL || sp == NULL || ep == NULL || starts == NULL || ends == NULL)
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
    for (int j = 0; rc == 0 && j < n; j++) {
        int i = mm->map[j];
        struct lb_sid st = mm->s[i].last;
        keys[j] = mm->s[i].key;
        /* after the largest ID nothing can follow: an empty range */
        if (lb_sid_next(&st) != 0)
            snprintf(starts[j], LB_SID_BUF, "+");
        else
            lb_sid_format(st, starts[j]);
        sp[j] = starts[j];
        ep[j] = end != NULL ? end : lb_sid_format(mm->s[i].end, ends[j]);
    }
    if (rc == 0)
        rc = lb_merge_begin_each(&mm->mg, m->r, keys, n, sp, NULL, ep, NULL, m->dec.ed.json_field,
                                 err);
    free(keys);
    free(sp);
    free(ep);
    free(starts);
    free(ends);
    if (rc == 0) {
        mm->merging = 1;
    }
    return rc;
}

/* Start a live round (the header's steps 1-4). 0 (merging), 1 (nothing to
 * do now: the caller comes back), or an error code. */
static int lb_many_round(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int rc;
    struct lb_sid w;
    uint64_t now_us = 0;
    if ((rc = lb_many_look(m, &w, &now_us, err)) != 0)
        return rc;
    /* After TIME: a batch that wrote an entry below W had finished, and the
     * name of a new stream it wrote to is in the set with it. The XREAD did
     * not look at a stream found now: one more XREAD over those alone (not
     * the round again: new names found at every refresh would hold every
     * round back). */
    int known = mm->n;
    if (mm->templates &&
        (rc = lb_many_refresh(m, lb_clock_mono() - mm->scan_at >= LB_MANY_SCAN_SEC, err)) != 0)
        return rc;
    if (mm->n > known && (rc = lb_many_look_new(m, known, err)) != 0)
        return rc;
    if (mm->n == 0) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        return 1;
    }
    /* The active streams: those with an entry at or below W. A round over
     * a thousand mostly quiet streams asks a few of them for pages. */
    int n_active = 0;
    for (int i = 0; i < mm->n; i++) {
        struct lb_many_stream *st = &mm->s[i];
        st->active = st->next_ok && lb_sid_cmp(st->next, w) <= 0;
        n_active += st->active;
    }
    if (n_active == 0) {
        lb_many_ahead(m, w, now_us);
        return 1;
    }
    /* every ID of that millisecond; recorded before the round's first line */
    snprintf(mm->w, sizeof(mm->w), "%" PRIu64, w.ms);
    m->ck_seq++;
    if ((rc = lb_mirror_ckpt_save(m, err)) != 0)
        return rc;
    return lb_many_merge_begin(m, mm->w, err);
}

/* Handle one merged entry: its line into the batch buffer, its stream's
 * last ID on. */
static int lb_many_put(struct lb_mirror *m, const struct lb_entry *en, int which,
                       struct lb_error *err)
{
    struct lb_many_stream *s = &m->mm->s[which];
    struct lb_entry e = *en; /* its verdict is cached in it */
    int rc = lb_mirror_put_entry(m, &e, err);
    if (rc != 0)
        return rc;
    if (!en->id_ok)
        return 0; /* not [id, fields]: nothing to move on from (cannot be, from XRANGE) */
    /* per entry: the parsed ID is copied, not parsed again */
    size_t n = strlen(en->id_str);
    if (n >= LB_SID_BUF)
        n = LB_SID_BUF - 1;
    memcpy(s->id, en->id_str, n);
    s->id[n] = '\0';
    s->last = en->id;
    if (s->lag.pos_known)
        s->lag.pos++;
    /* Its sum is what a reconnect looks for; taken once per page and turn,
     * not per entry (lb_many_seal), while the entry is still in the page. */
    s->raw = m->mm->mg.raw;
    s->sum = 0;
    if (lb_merge_raw_ends_page(&m->mm->mg))
        lb_many_seal(s);
    if (lb_sid_cmp(en->id, m->last) < 0) {
        m->counts.reordered++;
    } else {
        memcpy(m->last_id, s->id, n + 1);
        m->last = en->id;
    }
    return 0;
}

int lb_many_turn(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int rc;
    /* A backlog goes on merging past the top of the loop while its batch
     * is young (as one stream's read-ahead does): one sync for several. */
    if (!mm->merging || !lb_mirror_batch_young(m) || !lb_mirror_top_waits(m)) {
        /* pages asked for ahead off the wire: the top sends its own commands */
        if (mm->merging && (rc = lb_merge_drain(&mm->mg, err)) != 0)
            return rc;
        if ((rc = lb_mirror_top(m, err)) != 0)
            return rc;
    }
    if (!mm->merging) {
        if (m->o->once)
            rc = mm->once_over ? 1 : lb_many_merge_begin(m, NULL, err);
        else
            rc = lb_many_round(m, err);
        if (rc == 1 && lb_ck_pending(m) && (rc = lb_mirror_ckpt_save(m, err)) == 0)
            rc = 1; /* nothing to do now: what was written is recorded */
        if (rc != 0)
            return rc == 1 ? m->o->once : rc;
    }
    if (m->unsynced == 0)
        m->batch_t0 = lb_clock_mono();
    m->buf.n = 0;
    uint64_t done = 0;
    int got = 1;
    rc = 0;
    while (done < (uint64_t)m->o->count) {
        const struct lb_entry *en;
        int which;
        if ((got = lb_merge_next(&mm->mg, &en, &which, err)) <= 0)
            break;
        lb_mirror_accepted(m);
        if ((rc = lb_many_put(m, en, mm->map[which], err)) != 0)
            break;
        done++;
    }
    lb_many_seal_all(mm); /* the pages may go at the next turn */
    /* What was handled is written even when the round failed: each
     * stream's last ID has moved past it already. */
    int wrc = lb_mirror_write(m, m->buf.p, m->buf.n, err);
    m->buf.n = 0;
    lb_buf_shrink(&m->buf);
    m->unsynced += done;
    if (wrc != 0 || rc != 0 || got < 0) {
        lb_many_round_drop(m);
        return wrc != 0 ? wrc : rc != 0 ? rc : got;
    }
    if (got == 0) { /* the round is over */
        mm->w[0] = '\0';
        lb_merge_free(&mm->mg);
        mm->merging = 0;
        if (m->o->once) {
            mm->once_over = 1;
            return 1;
        }
    }
    return 0;
}
