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
 * A round (lb_many_turn):
 *   1. new streams: the members of logbridge:streams:{T} of each template
 *      (tail and import add a name in the batch that first writes to it, so
 *      a stream of ours is known before any of its entries can be read), and
 *      every LB_MANY_SCAN_SEC a SCAN for other matching streams;
 *   2. TIME: the watermark W. An XADD with `*` gets an ID >= the server's
 *      clock, so once a read that started after TIME returned, every entry
 *      with an ID in an earlier millisecond has been seen, from every stream;
 *   3. one XREAD over all the streams, each from its last ID;
 *   4. merge the heads (lb_merge_before: one src in `off` order, else the
 *      smaller ID) and write the smallest while it is below W and no stream
 *      whose read came back full (more may be unread) has run out of entries
 *      in this round; the rest is read again in the next round;
 *   5. write, fdatasync, checkpoint (mirror.c).
 * An entry older than one already written (an explicit old ID, a stream
 * found by a later SCAN) is written when seen and counted as `reordered`.
 * --once: W is unbounded and each stream stops at its last ID at start.
 *
 * Not over several streams (yet): the check after a reconnect that the last
 * entry survived a failover (mirror_await.c; lines awaiting their entries
 * recorded in a checkpoint are still honoured), and the lag gauge.
 */
#include "mirror_int.h"

#include "clock.h"
#include "log.h"
#include "stream_info.h"
#include "stream_merge.h"
#include "stream_set.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LB_MANY_SCAN_SEC 3.0   /* other streams matching a template: looked for this often */
#define LB_MANY_BLOCK_MS "500" /* XREAD BLOCK when the last round found nothing */
#define LB_MANY_AHEAD_MS 200   /* most a round waits for the clock to reach an entry */

int lb_many_init(struct lb_mirror *m)
{
    m->mm = calloc(1, sizeof(*m->mm));
    if (m->mm == NULL)
        return -1;
    for (int i = 0; i < m->o->streams.n; i++)
        m->mm->templates |= lb_stream_is_template(m->o->streams.v[i]);
    return 0;
}

static void lb_many_round_end(struct lb_many *mm)
{
    for (int i = 0; i < mm->n; i++) {
        struct lb_many_stream *s = &mm->s[i];
        if (s->head_ok)
            lb_entry_release(&s->dec);
        s->ents = NULL;
        s->pos = 0;
        s->full = s->head_ok = 0;
    }
}

void lb_many_free(struct lb_mirror *m)
{
    struct lb_many *mm = m->mm;
    if (mm == NULL)
        return;
    lb_many_round_end(mm);
    for (int i = 0; i < mm->n; i++)
        free(mm->s[i].key);
    free(mm->s);
    free(mm);
    m->mm = NULL;
}

static void lb_many_set_id(struct lb_many_stream *s, const char *id)
{
    snprintf(s->id, sizeof(s->id), "%s", id);
    if (lb_sid_parse(s->id, strlen(s->id), &s->last) != 0)
        s->last = (struct lb_sid){0, 0};
}

/* Add stream key after `id` unless it is followed already. 0 or LB_ENOMEM. */
static int lb_many_add(struct lb_mirror *m, const char *key, const char *id, int *added,
                       struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    for (int i = 0; i < mm->n; i++)
        if (strcmp(mm->s[i].key, key) == 0)
            return 0;
    if (mm->n == mm->cap) {
        int cap = mm->cap > 0 ? mm->cap * 2 : 16;
        struct lb_many_stream *v = realloc(mm->s, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        mm->s = v;
        mm->cap = cap;
    }
    struct lb_many_stream *s = &mm->s[mm->n];
    memset(s, 0, sizeof(*s));
    if ((s->key = strdup(key)) == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    lb_entry_decoder_init(&s->dec, m->dec.ed.json_field);
    lb_many_set_id(s, id);
    mm->n++;
    if (added != NULL)
        *added = 1;
    return 0;
}

/* The streams the --stream values stand for now (scan: SCAN as well, else
 * only the templates' sets); a new one is followed from its start. */
static int lb_many_refresh(struct lb_mirror *m, int scan, struct lb_error *err)
{
    struct lb_names names = {0};
    int rc = 0, added = 0;
    if (scan) {
        rc = lb_streams_resolve(m->r, &m->o->streams, &names, err);
        m->mm->scan_at = lb_clock_mono();
    } else {
        for (int i = 0; rc == 0 && i < m->o->streams.n; i++) {
            if (!lb_stream_is_template(m->o->streams.v[i]))
                continue;
            char key[LB_KEY_MAX];
            lb_key_derive(m->o->streams.v[i], "streams", key, sizeof(key));
            const char *argv[2] = {"SMEMBERS", key};
            redisReply *rep = lb_redis_cmd(m->r, 2, argv, NULL, err);
            if (rep == NULL)
                return err->code;
            if (rep->type == REDIS_REPLY_ERROR)
                rc = lb_reply_error(m->r, "SMEMBERS", key, rep->str, err);
            for (size_t k = 0; rc == 0 && rep->type == REDIS_REPLY_ARRAY && k < rep->elements;
                 k++)
                if (rep->element[k]->type == REDIS_REPLY_STRING)
                    rc = lb_many_add(m, rep->element[k]->str, "0-0", &added, err);
            freeReplyObject(rep);
        }
    }
    for (int i = 0; rc == 0 && i < names.n; i++)
        rc = lb_many_add(m, names.v[i], "0-0", &added, err);
    lb_names_free(&names);
    if (rc == 0 && added)
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
    /* streams recorded but not found now (deleted, or not matched any more) stay followed */
    const cJSON *it;
    cJSON_ArrayForEach(it, ck->ids)
    {
        if (cJSON_IsString(it) && it->string != NULL && (rc = lb_many_add(m, it->string, "0-0", NULL, err)) != 0)
            return rc;
    }
    for (int i = 0; i < mm->n; i++) {
        struct lb_many_stream *s = &mm->s[i];
        if (ck->present) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck->ids, s->key);
            struct lb_sid sid;
            /* not recorded: it appeared while mirror was down (from its start) */
            lb_many_set_id(s, cJSON_IsString(v) && strlen(v->valuestring) < LB_SID_BUF &&
                                      lb_sid_parse(v->valuestring, strlen(v->valuestring),
                                                   &sid) == 0
                                  ? v->valuestring
                                  : "0-0");
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
    lb_many_round_end(m->mm);
    for (int i = 0; i < m->mm->n; i++)
        free(m->mm->s[i].key);
    m->mm->n = 0;
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
        char (*ids)[LB_SID_BUF] = calloc((size_t)m->mm->n + 1, LB_SID_BUF);
        if (ids == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        for (int i = 0; i < m->mm->n; i++)
            memcpy(ids[i], m->mm->s[i].id, LB_SID_BUF);
        lb_many_set_ids(m, ids);
        free(ids);
        m->lost_quiet = 1;
        lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_U64("size", m->size)),
                   "mirror: no checkpoint; %d streams, each after --from %s", m->mm->n,
                   m->o->from);
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
    m->ck_seq++;
    if ((rc = lb_mirror_ckpt_save(m, err)) != 0)
        return rc;
    for (int i = 0; m->o->once && i < m->mm->n; i++)
        if ((rc = lb_stream_last_id(m->r, m->mm->s[i].key, &m->mm->s[i].end, err)) != 0)
            return rc;
    return 0;
}

/* The server's clock as a watermark: every entry with an ID in an earlier
 * millisecond. 0 or an error code. */
static int lb_many_watermark(struct lb_mirror *m, struct lb_sid *w, struct lb_error *err)
{
    const char *argv[1] = {"TIME"};
    redisReply *rep = lb_redis_cmd(m->r, 1, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        rc = lb_reply_error(m->r, "TIME", "", rep->str, err);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
               rep->element[0]->type != REDIS_REPLY_STRING ||
               rep->element[1]->type != REDIS_REPLY_STRING) {
        rc = lb_error_set(err, LB_EREPLY, "redis at %s: TIME: unexpected reply", lb_redis_addr(m->r));
    } else {
        unsigned long long sec = strtoull(rep->element[0]->str, NULL, 10);
        unsigned long long usec = strtoull(rep->element[1]->str, NULL, 10);
        uint64_t ms = (uint64_t)sec * 1000u + (uint64_t)usec / 1000u;
        *w = (struct lb_sid){ms > 0 ? ms - 1 : 0, UINT64_MAX};
    }
    freeReplyObject(rep);
    return rc;
}

/* XREAD COUNT --batch [BLOCK] STREAMS k1..kn id1..idn. The reply, or NULL
 * (err set). */
static redisReply *lb_many_xread(struct lb_mirror *m, int block, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int argc = 0;
    const char **argv = calloc((size_t)(2 * mm->n + 6), sizeof(*argv));
    if (argv == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    char cnt[24];
    snprintf(cnt, sizeof(cnt), "%lld", m->o->count);
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    if (block) {
        argv[argc++] = "BLOCK";
        argv[argc++] = LB_MANY_BLOCK_MS;
    }
    argv[argc++] = "STREAMS";
    for (int i = 0; i < mm->n; i++)
        argv[argc++] = mm->s[i].key;
    for (int i = 0; i < mm->n; i++)
        argv[argc++] = mm->s[i].id;
    redisReply *rep = lb_redis_cmd(m->r, argc, argv, NULL, err);
    free(argv);
    return rep;
}

/* Spread the reply's entries over the streams. */
static void lb_many_assign(struct lb_many *mm, const redisReply *rep, long long count)
{
    for (size_t k = 0; rep->type == REDIS_REPLY_ARRAY && k < rep->elements; k++) {
        const redisReply *sr = rep->element[k];
        if (sr->type != REDIS_REPLY_ARRAY || sr->elements != 2 ||
            sr->element[0]->type != REDIS_REPLY_STRING ||
            sr->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (int i = 0; i < mm->n; i++) {
            if (strlen(mm->s[i].key) == sr->element[0]->len &&
                memcmp(mm->s[i].key, sr->element[0]->str, sr->element[0]->len) == 0) {
                mm->s[i].ents = sr->element[1];
                mm->s[i].full = sr->element[1]->elements >= (size_t)count;
                break;
            }
        }
    }
}

/* Stream i's head, decoded (NULL: none in this round, or --once past its end). */
static const struct lb_entry *lb_many_head(struct lb_mirror *m, struct lb_many_stream *s)
{
    if (s->ents == NULL || s->pos >= s->ents->elements)
        return NULL;
    if (!s->head_ok) {
        lb_entry_decode(&s->dec, s->ents->element[s->pos], &s->head);
        s->head_ok = 1;
    }
    if (m->o->once && s->head.id_ok && lb_sid_cmp(s->head.id, s->end) > 0) {
        s->full = 0; /* nothing more for --once */
        return NULL;
    }
    return &s->head;
}

/* Write the merged entries that no stream can still precede (see the
 * header, step 4). Returns how many were handled, or an error code < 0;
 * *ahead: how many ms the next entry is past the watermark (0: none). */
static long lb_many_merge(struct lb_mirror *m, const struct lb_sid *w, uint64_t *ahead,
                          struct lb_error *err)
{
    *ahead = 0;
    struct lb_many *mm = m->mm;
    long done = 0;
    for (;;) {
        int best = -1, blocked = 0;
        for (int i = 0; i < mm->n; i++) {
            const struct lb_entry *h = lb_many_head(m, &mm->s[i]);
            if (h == NULL) {
                blocked |= mm->s[i].full;
                continue;
            }
            if (best < 0 || lb_merge_before(h, &mm->s[best].head))
                best = i;
        }
        if (blocked || best < 0)
            break;
        struct lb_many_stream *s = &mm->s[best];
        if (!s->head.id_ok)
            break;
        if (w != NULL && lb_sid_cmp(s->head.id, *w) > 0) {
            *ahead = s->head.id.ms - w->ms;
            break;
        }
        int rc = lb_mirror_put(m, s->ents->element[s->pos], err);
        if (rc != 0)
            return rc;
        if (lb_sid_cmp(s->head.id, m->last) < 0) {
            m->counts.reordered++;
        } else {
            lb_mirror_set_last(m, s->head.id_str, strlen(s->head.id_str));
        }
        lb_many_set_id(s, s->head.id_str);
        lb_entry_release(&s->dec);
        s->head_ok = 0;
        s->pos++;
        done++;
    }
    return done;
}

int lb_many_turn(struct lb_mirror *m, struct lb_error *err)
{
    struct lb_many *mm = m->mm;
    int rc = lb_mirror_top(m, err);
    if (rc != 0)
        return rc;
    struct lb_sid w;
    if (!m->o->once) {
        if (mm->templates &&
            (rc = lb_many_refresh(m, lb_clock_mono() - mm->scan_at >= LB_MANY_SCAN_SEC, err)) != 0)
            return rc;
        if ((rc = lb_many_watermark(m, &w, err)) != 0)
            return rc;
    }
    if (mm->n == 0) {
        if (m->o->once)
            return 1;
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        return 0;
    }
    redisReply *rep = lb_many_xread(m, mm->idle && !m->o->once, err);
    if (rep == NULL)
        return err->code;
    if (rep->type == REDIS_REPLY_ERROR) {
        rc = lb_reply_error(m->r, "XREAD", m->o->stream, rep->str, err);
        freeReplyObject(rep);
        return rc;
    }
    lb_mirror_accepted(m);
    lb_many_assign(mm, rep, m->o->count);
    m->batch_t0 = lb_clock_mono();
    m->buf.n = 0;
    uint64_t ahead;
    long done = lb_many_merge(m, m->o->once ? NULL : &w, &ahead, err);
    int full = 0;
    for (int i = 0; i < mm->n; i++)
        full |= mm->s[i].full;
    lb_many_round_end(mm);
    lb_dec_release(&m->dec);
    mm->idle = rep->type != REDIS_REPLY_ARRAY; /* nil: nothing new within BLOCK */
    freeReplyObject(rep);
    if (done < 0)
        return (int)done;
    if ((rc = lb_mirror_write(m, m->buf.p, m->buf.n, err)) != 0)
        return rc;
    m->buf.n = 0;
    lb_buf_shrink(&m->buf);
    m->unsynced += (uint64_t)done;
    if ((rc = lb_mirror_close_batch(m, err)) != 0)
        return rc;
    if (m->o->once && done == 0 && !full)
        return 1; /* nothing up to the ends is left (an entry deleted meanwhile) */
    if (done == 0 && ahead > 1) {
        /* Entries with IDs ahead of the server's clock (explicit IDs) wait
         * for it: not read again at once (a stop is seen at the next top). */
        long ms = ahead < LB_MANY_AHEAD_MS ? (long)ahead : LB_MANY_AHEAD_MS;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return lb_ck_pending(m) ? lb_mirror_ckpt_save(m, err) : 0;
}
