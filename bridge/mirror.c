/*
 * mirror.c - `logbridge mirror`: follow a stream into a legacy file, exactly
 * once (stream reader -> entry -> format -> file; export.c is the one-shot
 * dump of a range).
 *
 * Entries become ROLE|TIMESTAMP|TYPE|DATA lines through the one decoder
 * (entry.c; lb_mirror_decode adds --exclude-src and the own-file rule). An
 * entry that cannot be a legacy line is skipped, counted, and named in a
 * rate-limited warning.
 *
 * Exactly once (DESIGN.md 4.2), as numbered steps of one batch:
 *   1. XREAD up to --batch entries after last_id;
 *   2. format them into the batch buffer and write(2) it (one call per
 *      LB_MIRROR_CHUNK bytes, so memory stays bounded by the largest entry);
 *   3. fdatasync per --fsync;
 *   4. HSET logbridge:mirror:{T} <abs path> {"id","size","dev","ino"}, where
 *      size is the file offset just past our last write (lseek after the
 *      O_APPEND write: exact even when another writer appends meanwhile).
 * A kill -9 between 2 and 4 leaves lines of ours past the recorded size; see
 * "Another writer" for how a start finds them. A file that is shorter than
 * recorded or is another inode was rotated away: a new generation, continued
 * after id. While the process lives, its memory is the truth: a checkpoint
 * lost with the connection is sent again - unless the stream lost what was
 * mirrored (below).
 *
 * Another writer (DESIGN: a legacy app may append to the mirror file too,
 * with --exclude-src for its own entries). mirror never truncates the file.
 * At start, when the file (same dev/ino) is longer than the recorded size S,
 * the bytes after S are a mix of the other writer's lines and ours, and ours
 * can only be L1, L2, ... : the lines of the entries after the recorded id,
 * formatted exactly as step 2 does (same decoder, same --exclude-src and
 * own-file rule), in stream order, none left out, each write(2) a run of
 * whole lines (a torn one only at the kill). The rule, one line at a time
 * from S (Li = the next line we may have written):
 *   - a line byte-identical to Li is ours: i++ (continue after its entry);
 *   - any other line is provably not ours (ours come in order, none skipped,
 *     so a line of ours here can only be Li): kept, skipped, counted;
 *   - an unterminated last line that is a prefix of Li is our write torn by
 *     the kill: it is completed by appending the rest of Li (appending is
 *     safe against a writer appending at the same time; a cut back is not).
 *     If the other writer appended after the torn part, or between the look
 *     and the append (seen from the offset our append landed at), the parts
 *     stay, a warning says so, and Li is written again whole;
 *   - an unterminated last line that is not a prefix of Li is not ours: kept.
 * The scan stops when no entry after the last match would give a line (the
 * rest cannot be ours). What this cannot tell apart, by construction: a line
 * of the other writer that is byte-identical to Li (same role, timestamp,
 * type and data) is taken for ours and Li is not written again. Assumptions:
 * the other writer appends whole lines per write(2) (line-buffered; else its
 * lines and ours interleave mid-line whatever mirror does), the options that
 * shape lines (--exclude-src, --json-field) are the same as when the lines
 * were written, and the stream still holds the entries after id (a trimmed
 * one's line is kept as another writer's: never doubled, never cut).
 *
 * After a failover (DESIGN.md 7: replication is asynchronous, so a promoted
 * replica may lack the last acknowledged batches; what survives is a
 * consistent prefix, entries and checkpoints together). Producers send the
 * lost lines again (tail sees its checkpoint went back), under new IDs that
 * may sort before or after the lost ones (another clock). Mirror has written
 * the lost entries' lines already; it must write none of them twice, skip
 * nothing, and keep another writer's lines. mirror_await.c and
 * mirror_recognise.c hold the mechanism:
 *   1. Noticing. After every reconnect, XRANGE last_id last_id: the entry we
 *      handled last must still be there, with the same fields (its sum; a
 *      new master may give its ID to another entry). If it is, everything
 *      before it is too (a prefix), and memory stays the truth.
 *   2. Going back. If not, the checkpoint in Redis is where the surviving
 *      prefix ends for us (the one this process started from when none
 *      survived). The file is reconciled with it as at a start (rule
 *      "Another writer"), up to E = the end of our last write: our lines of
 *      surviving entries are recognised, and so are lost lines whose entries
 *      already came back (counted as resent when their new ID is after
 *      last_id). Reading resumes after the last entry so dealt with.
 *   3. Awaiting. What follows our recognised lines, up to E, is lines whose
 *      entries were lost (with another writer's between them): a range of
 *      lines awaiting their entries. Every whole line of it is indexed by the
 *      hash of its bytes (offset, length, hash: the bytes stay in the file
 *      and are read back with pread for the comparison); at most
 *      LB_AWAIT_MAX_LINES lines and LB_AWAIT_RANGES ranges (a failover after
 *      a failover adds a range; the oldest makes room, said at warn).
 *   4. Taking. From then on, an entry whose line (formatted as in step 2 of
 *      a batch) is byte for byte a line of a range not taken yet is that line
 *      come back: taken, not written, counted as resent
 *      (logbridge_mirror_entries_total{outcome="resent"}). Anything else is
 *      written. The first line of each range not yet taken is recorded in
 *      the checkpoint ("await": [[from, to], ...]), so a kill -9 while
 *      awaiting loses nothing: a start indexes the ranges again and takes
 *      lines out of them during its recognition, as the loop does. A range
 *      is over when all its lines were taken; another writer's lines in it
 *      are never taken (unless identical), so such a range stays, harmless,
 *      until newer ones push it out.
 *   5. Stopped through the failover. A mirror that starts finds the
 *      checkpoint that survived; the file after it holds our lines of
 *      surviving entries (recognised), then lost lines of ours and another
 *      writer's, which nothing tells apart any more: what follows our
 *      recognised lines, to the end of the file, becomes a range too.
 * Lines are matched by their bytes, not by position: resent entries may
 * come in another order than they were written when several producers
 * resend (each in its own order), and the other writer's lines between ours
 * are passed over. What this cannot tell apart: a new entry whose line is
 * byte-identical to a line of a range not yet taken (ours awaiting its
 * entry, or another writer's) is taken for it and not written; after a
 * restart, lines of a range taken after its first line not taken are
 * awaited again (only such an identical line can take them then). Entries
 * whose src is excluded, or this file, give no line and take nothing.
 * Provenance is not compared: the file holds the line, not the entry's src
 * and off (and off alone could not identify a line: a rotated generation
 * keeps its route's src and starts again at 0). A file reopened (SIGHUP)
 * since the surviving checkpoint: the lost entries' lines are in the old
 * file; what comes back is written into the new one.
 *
 * Several streams, or a template (DESIGN.md section 8): mirror_many.c, with
 * the same batch steps, recognition and checkpoint (plus "ids", the last ID
 * per stream); one stream keeps the loop below and its checkpoint value.
 *
 * Redis refusing for now (lb_redis_is_transient: OOM under maxmemory,
 * LOADING, READONLY...) is backpressure like an outage (DESIGN.md 4.5): the
 * connection is kept, nothing more is read or written, the command is sent
 * again with capped backoff (<= 5 s), said once at warn and once at info when
 * it clears; mirror never exits for it.
 *
 * An entry whose src is the mirror file itself (by its absolute path, its
 * realpath, or a path that stat()s to its dev/ino) is not written back: a
 * tail of the file into the stream would read it again (a loop that a
 * standalone tail/mirror pair cannot see). One warning, then counted as
 * excluded.
 */
#include "mirror.h"

#include "checkpoint.h"
#include "entry.h"
#include "log.h"
#include "metrics.h"
#include "clock.h"
#include "opts.h"
#include "mirror_int.h"
#include "record.h"
#include "redis.h"
#include "reply.h"
#include "signals.h"
#include "stream_id.h"
#include "stream_info.h"
#include "stream_reader.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LB_MIRROR_BLOCK_MS 1000      /* XREAD BLOCK: how soon a stop is noticed */
#define LB_MIRROR_SYNC_ENTRIES 10000 /* a backlog is synced at least this often */
#define LB_MIRROR_SYNC_SEC 0.1       /* ... and this often */

/* ---- mirror: options ----------------------------------------------------------- */

/* "0", "$", "ms" or "ms-seq". */
static int lb_mirror_set_from(void *base, const char *arg, char *why, size_t cap)
{
    (void)why, (void)cap;
    struct lb_sid id;
    if (lb_sid_arg(arg, LB_SID_FORM_ID | LB_SID_FORM_LAST, 0, &id) < 0)
        return -1;
    ((struct lb_mirror_opts *)base)->from = arg;
    return 0;
}

static int lb_mirror_set_exclude(void *base, const char *arg, char *why, size_t cap)
{
    struct lb_mirror_opts *o = base;
    if (*arg == '\0')
        return snprintf(why, cap, "expected a src name"), -1;
    if (o->nexclude == LB_MIRROR_EXCLUDE_MAX)
        return snprintf(why, cap, "can be given at most %d times", LB_MIRROR_EXCLUDE_MAX), -1;
    o->exclude[o->nexclude++] = arg;
    return 0;
}

#define LB_M struct lb_mirror_opts
static const struct lb_opt lb_mirror_opt_table[] = {
    LB_OPT_STREAMS("stream", LB_M, streams,
                   "the stream to follow; repeatable, or a template\n"
                   "('{ev}:%{type}'): merged into F in entry-ID order",
                   LB_OPTF_REQUIRED),
    LB_OPT_STR("file", LB_M, file, "a path", "F",
               "the legacy file (created if missing; never a symlink)", LB_OPTF_REQUIRED),
    LB_OPT_SET("from", lb_mirror_set_from, "0, $ or a stream ID (ms-seq)", "0|$|ID",
               "where to start when F has no checkpoint: the whole stream\n"
               "(0, default), only new entries ($), or after ID",
               LB_OPTF_NUMOK),
    LB_OPT_SET("exclude-src", lb_mirror_set_exclude, NULL, "NAME",
               "skip entries whose src is NAME (repeatable; loop prevention)", LB_OPTF_REPEAT),
    LB_OPT_CHOICE("fsync", LB_M, fsync, "batch|always|never", "batch|always|never",
                  "fdatasync per batch (default), per entry, or never", 0),
    LB_OPT_NUM("batch", LB_ARG_INT, LB_M, count, 1, 100000, "a number from 1 to 100000", "N",
               "entries per read and write (default 1000)", 0),
    LB_OPT_FLAG("once", LB_M, once, 1, "write what the stream holds now, then exit", 0),
    /* the common --json-field, kept apart so that it wins over run's top level */
    LB_OPT_STR("json-field", LB_M, json_field, "a field name", NULL, NULL, 0),
    LB_OPT_END,
};
#undef LB_M

const struct lb_optspec lb_mirror_optspec = {
    .usage = "Usage: logbridge mirror --stream S --file F [options]\n"
             "Follow stream S and append each entry to F as a ROLE|TIMESTAMP|TYPE|DATA line,\n"
             "exactly once across restarts (progress is kept in logbridge:mirror:{T}).\n"
             "Entries of either encoding are read without being told.\n",
    .opts = lb_mirror_opt_table,
    .footer = "SIGHUP reopens F (after logrotate); SIGTERM finishes the batch and exits 0.\n",
    .common_off = offsetof(struct lb_mirror_opts, c),
    .serve = 1,
};

int lb_mirror_opts_parse(struct lb_mirror_opts *o, int argc, char **argv, const struct lb_cli *cli)
{
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    o->from = "0";
    o->count = 1000;
    o->fsync = LB_FSYNC_BATCH;
    int rc = lb_opts_parse(&lb_mirror_optspec, o, argc, argv, cli, NULL);
    if (rc == 0 && o->json_field != NULL)
        o->c.json_field = o->json_field;
    return rc;
}

/* ---- mirror: state ------------------------------------------------------------- */

/* A command was accepted: a refusal, if there was one, is over. */
void lb_mirror_accepted(struct lb_mirror *m)
{
    if (m->down) {
        lb_job_report(m->env, m->l_job, LB_HEALTH_OK, NULL);
        m->down = 0;
    }
    if (!m->refused)
        return;
    lb_info_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
               "mirror: redis accepts again after %u retries; carrying on after id", m->refusals);
    m->refused = 0;
    m->refusals = 0;
}

/* Say what went wrong with Redis before waiting: a refusal (the connection is
 * still there) once, until it clears; a lost connection each time. */
static void lb_mirror_trouble(struct lb_mirror *m, const struct lb_error *err)
{
    lb_job_report(m->env, m->l_job, LB_HEALTH_DOWN, err->msg);
    m->down = 1;
    if (lb_redis_ctx(m->r) == NULL) {
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
                   "mirror: %s; reconnecting (resuming after id)", err->msg);
        return;
    }
    if (!m->refused)
        lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", m->last_id)),
                   "mirror: %s; backpressure: waiting with backoff (<= 5 s) until redis accepts "
                   "again (nothing is lost; resuming after id)",
                   err->msg);
    m->refused = 1;
}

void lb_mirror_set_last(struct lb_mirror *m, const char *id, size_t n)
{
    if (n >= LB_SID_BUF)
        n = LB_SID_BUF - 1;
    memcpy(m->last_id, id, n);
    m->last_id[n] = '\0';
    if (lb_sid_parse(m->last_id, n, &m->last) != 0)
        memset(&m->last, 0, sizeof(m->last));
}

/* ---- mirror: checkpoint ------------------------------------------------------------ */

/* "await": [[from, to], ...], ranges of lines awaiting their entries after
 * a failover, in file order (offsets are far below 2^53: a double holds
 * them exactly). Anything else there is ignored: the lines are then not
 * awaited, which is what a mirror without failovers does. */
static void lb_mirror_ckpt_await(const cJSON *aw, struct lb_mirror_ckpt *ck)
{
    const cJSON *r;
    uint64_t prev = 0;
    cJSON_ArrayForEach(r, aw)
    {
        const cJSON *f = cJSON_GetArrayItem(r, 0), *t = cJSON_GetArrayItem(r, 1);
        if (ck->nawait == LB_AWAIT_RANGES || cJSON_GetArraySize(r) != 2 || !cJSON_IsNumber(f) ||
            !cJSON_IsNumber(t) || f->valuedouble < (double)prev ||
            t->valuedouble <= f->valuedouble || t->valuedouble > 9007199254740992.0) {
            ck->nawait = 0;
            return;
        }
        ck->await[ck->nawait].from = (uint64_t)f->valuedouble;
        ck->await[ck->nawait].to = prev = (uint64_t)t->valuedouble;
        ck->nawait++;
    }
}

/* lb_json_raw_u64 (checkpoint.c) reads the numbers exactly. */
static int lb_mirror_ckpt_parse(const char *s, size_t n, struct lb_mirror_ckpt *ck)
{
    memset(ck, 0, sizeof(*ck));
    cJSON *root = cJSON_ParseWithLength(s, n);
    int ok = 0;
    if (cJSON_IsObject(root)) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
        const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(root, "dev");
        const cJSON *ino = cJSON_GetObjectItemCaseSensitive(root, "ino");
        struct lb_sid sid;
        if (cJSON_IsString(id) && strlen(id->valuestring) < LB_SID_BUF &&
            lb_sid_parse(id->valuestring, strlen(id->valuestring), &sid) == 0 &&
            cJSON_IsNumber(size) && size->valuedouble >= 0 && cJSON_IsNumber(dev) &&
            dev->valuedouble >= 0 && cJSON_IsNumber(ino) && ino->valuedouble >= 0) {
            unsigned long long sz = 0;
            snprintf(ck->id, sizeof(ck->id), "%s", id->valuestring);
            ok = lb_json_raw_u64(s, n, "size", &sz) == 0 &&
                 lb_json_raw_u64(s, n, "dev", &ck->dev) == 0 &&
                 lb_json_raw_u64(s, n, "ino", &ck->ino) == 0;
            ck->size = sz;
            if (ok)
                lb_mirror_ckpt_await(cJSON_GetObjectItemCaseSensitive(root, "await"), ck);
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(root, "w");
            if (ok && cJSON_IsString(w) && strlen(w->valuestring) < sizeof(ck->w) &&
                strspn(w->valuestring, "0123456789") == strlen(w->valuestring))
                snprintf(ck->w, sizeof(ck->w), "%s", w->valuestring);
            if (ok && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "ids")))
                ck->ids = cJSON_DetachItemFromObjectCaseSensitive(root, "ids");
            ck->present = ok;
        }
    }
    cJSON_Delete(root);
    return ok ? 0 : -1;
}

/* HGET the checkpoint. 0, LB_EREDIS, LB_EAUTH, LB_EREPLY or LB_ECKPT. */
int lb_mirror_ckpt_load(struct lb_mirror *m, struct lb_mirror_ckpt *ck, struct lb_error *err)
{
    const char *argv[3] = {"HGET", m->key, m->path};
    redisReply *rep = lb_redis_cmd(m->r, 3, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0;
    memset(ck, 0, sizeof(*ck));
    if (rep->type == REDIS_REPLY_STRING) {
        if (lb_mirror_ckpt_parse(rep->str, rep->len, ck) != 0)
            rc = lb_error_set(err, LB_ECKPT,
                              "checkpoint %s field %s is not {\"id\",\"size\",\"dev\",\"ino\"}: "
                              "fix or HDEL it",
                              m->key, m->path);
        if (rc == 0 && m->mm == NULL) {
            /* a checkpoint of a mirror of several streams: "id" is the
             * largest of theirs; this stream's own is in "ids" */
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(ck->ids, m->o->streams.v[0]);
            struct lb_sid sid;
            if (cJSON_IsString(v) && strlen(v->valuestring) < LB_SID_BUF &&
                lb_sid_parse(v->valuestring, strlen(v->valuestring), &sid) == 0)
                snprintf(ck->id, sizeof(ck->id), "%s", v->valuestring);
            cJSON_Delete(ck->ids);
            ck->ids = NULL;
        }
    } else if (rep->type == REDIS_REPLY_ERROR) {
        rc = lb_reply_error(m->r, "HGET", m->key, rep->str, err);
    }
    freeReplyObject(rep);
    return rc;
}

static int lb_mirror_hset_check(struct lb_mirror *m, redisReply *rep, struct lb_error *err)
{
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_reply_error(m->r, "HSET", m->key, rep->str, err);
    freeReplyObject(rep);
    return rc;
}

/* Send HSET key path {last_id, size, dev, ino} without waiting for it (its
 * reply is read by lb_mirror_ckpt_reply). 0 or LB_EREDIS. */
static int lb_mirror_ckpt_send(struct lb_mirror *m, struct lb_error *err)
{
    char val[640];
    int n =
        snprintf(val, sizeof(val), "{\"id\":\"%s\",\"size\":%" PRIu64 ",\"dev\":%llu,\"ino\":%llu",
                 m->last_id, m->size, m->dev, m->ino);
    struct lb_await_range r[LB_AWAIT_RANGES];
    size_t nr = lb_await_ranges(&m->aw, r);
    for (size_t i = 0; i < nr; i++)
        n += snprintf(val + n, sizeof(val) - (size_t)n, "%s[%" PRIu64 ",%" PRIu64 "]%s",
                      i == 0 ? ",\"await\":[" : ",", r[i].from, r[i].to, i + 1 == nr ? "]" : "");
    char *big = NULL;
    const char *v = val;
    if (m->mm != NULL) {
        /* several streams: the last ID handled per stream (DESIGN.md section 8) */
        cJSON *o = cJSON_CreateObject();
        int ok = o != NULL;
        for (int i = 0; ok && i < m->mm->n; i++)
            ok = cJSON_AddStringToObject(o, m->mm->s[i].key, m->mm->s[i].id) != NULL;
        char *ids = ok ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        size_t cap = (size_t)n + (ids != NULL ? strlen(ids) : 0) + 48;
        if (ids == NULL || (big = malloc(cap)) == NULL) {
            cJSON_free(ids);
            return lb_error_set(err, LB_ENOMEM, "out of memory for the checkpoint");
        }
        n = snprintf(big, cap, "%.*s,\"ids\":%s%s%s%s}", n, val, ids,
                     m->mm->w[0] != '\0' ? ",\"w\":\"" : "", m->mm->w,
                     m->mm->w[0] != '\0' ? "\"" : "");
        cJSON_free(ids);
        v = big;
    } else {
        n += snprintf(val + n, sizeof(val) - (size_t)n, "}");
    }
    const char *argv[4] = {"HSET", m->key, m->path, v};
    size_t lens[4] = {4, strlen(m->key), strlen(m->path), (size_t)n};
    int rc = lb_reply_send(m->r, 4, argv, lens, err);
    free(big);
    if (rc == 0) {
        m->hset_inflight = 1;
        m->hset_seq = m->ck_seq;
    }
    return rc;
}

static int lb_mirror_ckpt_reply(struct lb_mirror *m, struct lb_error *err)
{
    m->hset_inflight = 0;
    redisReply *rep = lb_redis_get_reply(m->r, err);
    if (rep == NULL)
        return err->code;
    int rc = lb_mirror_hset_check(m, rep, err);
    if (rc == 0) {
        m->ck_saved = m->hset_seq;
        m->counts.resent += m->recon_resent;
        m->recon_resent = 0;
        lb_mirror_accepted(m);
    }
    return rc;
}

/* Record the checkpoint and wait for Redis to confirm it. */
int lb_mirror_ckpt_save(struct lb_mirror *m, struct lb_error *err)
{
    int rc = lb_mirror_ckpt_send(m, err);
    return rc != 0 ? rc : lb_mirror_ckpt_reply(m, err);
}

/* ---- mirror: one batch ----------------------------------------------------------------- */

/* Every line that awaited its entry came back: said once, and the region
 * is gone (the next checkpoint no longer carries it). */
static void lb_mirror_await_over(struct lb_mirror *m)
{
    if (lb_await_on(&m->aw))
        return;
    lb_info("%s: every line that awaited its entry after a failover came back (up to offset "
            "%" PRIu64 ")",
            m->what, m->aw.r[m->aw.nr - 1].to);
    lb_await_free(&m->aw);
}

/* Format one entry into the batch buffer, or count why it gives no line
 * (mirror_int.h). */
int lb_mirror_put(struct lb_mirror *m, const redisReply *e, struct lb_error *err)
{
    struct lb_entry en;
    lb_entry_decode(&m->dec.ed, e, &en);
    return lb_mirror_put_entry(m, &en, err);
}

int lb_mirror_put_entry(struct lb_mirror *m, struct lb_entry *en, struct lb_error *err)
{
    struct lb_buf *b = &m->buf;
    int rc;
    struct lb_record rec;
    const char *why = NULL;
    enum lb_dec d = lb_mirror_classify(&m->dec, en, &rec, &why);
    if (d == LB_DEC_LINE) {
        size_t len = lb_line_bound(&rec);
        if (b->n > 0 && b->n + len > LB_MIRROR_CHUNK) {
            /* Bounded memory: write what we have; the checkpoint still
             * waits for the end of the batch. */
            if ((rc = lb_mirror_write(m, b->p, b->n, err)) != 0)
                return rc;
            b->n = 0;
        }
        if (lb_buf_reserve(b, len) != 0)
            return lb_error_set(err, LB_ENOMEM, "out of memory for a %zu-byte line", len);
        size_t esc = 0;
        size_t n = lb_format_line(&rec, b->p + b->n, b->cap - b->n, &esc);
        /* After a failover: its line may be in the file already. */
        if ((rc = lb_await_take(&m->aw, m->fd, b->p + b->n, n, err)) != 0) {
            if (rc < 0)
                return rc;
            m->counts.resent++;
            lb_mirror_await_over(m);
            return 0;
        }
        b->n += n;
        m->counts.written++;
        m->counts.escaped += esc > 0;
        if (m->o->fsync == LB_FSYNC_ALWAYS) {
            if ((rc = lb_mirror_write(m, b->p, b->n, err)) != 0 ||
                (rc = lb_mirror_sync(m, err)) != 0)
                return rc;
            b->n = 0;
        }
    } else if (d == LB_DEC_EXCLUDED) {
        m->counts.excluded++;
    } else if (d == LB_DEC_SELF) {
        m->counts.excluded++;
        if (m->self_total++ == 0)
            lb_warn_kv(LB_MIRROR_FIELDS(m, LB_F_STR("id", en->id_str)),
                       "mirror: an entry has src=%.*s, this very file: not written back (a "
                       "tail of this file into the stream would read it again, a feedback "
                       "loop); such entries are counted as excluded from now on",
                       (int)m->dec.src.n, m->dec.src.p);
    } else {
        m->counts.skipped++;
        m->skipped_total++;
        lb_warn_skipped(m->what, m->skipped_total, en->id_str, why);
    }
    return 0;
}

/* Write every entry of one XREAD reply and sync them as --fsync says. The
 * checkpoint is the caller's next step. */
static int lb_mirror_batch(struct lb_mirror *m, const redisReply *entries, struct lb_error *err)
{
    struct lb_buf *b = &m->buf;
    b->n = 0;
    int rc;
    const redisReply *last = NULL, *last_e = NULL;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements > 0 &&
            e->element[0]->type == REDIS_REPLY_STRING) {
            last = e->element[0];
            last_e = e;
        }
        if ((rc = lb_mirror_put(m, e, err)) != 0) {
            lb_dec_release(&m->dec);
            return rc;
        }
    }
    lb_dec_release(&m->dec);
    if ((rc = lb_mirror_write(m, b->p, b->n, err)) != 0)
        return rc;
    b->n = 0;
    lb_buf_shrink(b);
    if (last != NULL) {
        lb_mirror_set_last(m, last->str, last->len);
        m->last_sum = lb_mirror_entry_sum(last_e);
    }
    if (m->lag.pos_known)
        m->lag.pos += entries->elements;
    m->unsynced += entries->elements;
    return 0;
}

/* End the open batch: fdatasync (--fsync batch), then the checkpoint is due. */
int lb_mirror_close_batch(struct lb_mirror *m, struct lb_error *err)
{
    if (m->unsynced == 0)
        return 0;
    int rc;
    if (m->o->fsync == LB_FSYNC_BATCH && (rc = lb_mirror_sync(m, err)) != 0)
        return rc;
    lb_metrics_observe_batch(m->metrics, m->l_job, lb_clock_mono() - m->batch_t0);
    m->unsynced = 0;
    m->ck_seq++;
    return 0;
}

/* ---- mirror: the loop -------------------------------------------------------------------- */

static void lb_mirror_metrics(struct lb_mirror *m)
{
    lb_counts_flush(m->metrics, m->path, &m->counts);
    lb_job_redis_metrics(m->metrics, m->r, &m->redis_seen);
}

/* Send XREAD for the entries after `after`; block only when caught up. */
static int lb_mirror_xread_send(struct lb_mirror *m, const char *after, int block,
                                struct lb_error *err)
{
    int rc = lb_xread_send(m->r, m->o->streams.v[0], after, m->o->count,
                           block ? LB_MIRROR_BLOCK_MS : -1, err);
    m->xread_inflight = rc == 0;
    return rc;
}

/* Reconnect (forever, until a stop), then redo the start if it never
 * finished, or send a checkpoint lost in flight again (our memory is the
 * truth; the same value if it had landed). Returns 0, LB_ESTOP, or a fatal
 * code. */
static int lb_mirror_recover(struct lb_mirror *m, int started, struct lb_error *err)
{
    static atomic_int never; /* never set: read-only for every thread */
    atomic_int *stop = m->env->stop != NULL ? m->env->stop : &never;
    m->xread_inflight = m->hset_inflight = 0; /* lost with the connection */
    if (m->mm != NULL)
        lb_many_reconnected(m);
    for (unsigned attempt = 0;; attempt++) {
        if (lb_job_stopping(m->env))
            return LB_ESTOP;
        /* A server that accepts and then drops us (restarting, loading), or
         * refuses for now (OOM), must not turn this loop into a busy one. */
        if (m->refused) {
            if (lb_redis_backoff_sleep(m->r, m->refusals++, stop) == LB_ESTOP)
                return LB_ESTOP;
        } else if (attempt > 0 && lb_redis_backoff_sleep(m->r, attempt - 1, stop) == LB_ESTOP) {
            return LB_ESTOP;
        }
        int rc = 0;
        /* A refusal keeps the connection (nothing is in flight then); a lost
         * one, or replies still owed on it, mean a new connection. */
        if (lb_redis_ctx(m->r) == NULL || m->xread_inflight || m->hset_inflight) {
            m->xread_inflight = m->hset_inflight = 0;
            rc = lb_redis_connect_retry(m->r, -1, stop, err);
        }
        if (rc == 0)
            rc = lb_mirror_close_batch(m, err);
        if (rc != 0)
            return rc;
        /* started: the stream may have lost what was mirrored (a failover) */
        if (m->mm != NULL)
            rc = started ? lb_many_resume(m, err) : lb_many_start(m, err);
        else
            rc = started ? lb_mirror_resume(m, err) : lb_mirror_start(m, err);
        if (rc != LB_EREDIS)
            return rc;
        lb_mirror_trouble(m, err);
    }
}

/*
 * The top of the loop, with nothing in flight: stop, SIGHUP, a pending
 * checkpoint, metrics. Returns 0 to go on, 1 to stop, or an error code.
 */
int lb_mirror_top(struct lb_mirror *m, struct lb_error *err)
{
    const struct lb_job_env *env = m->env;
    int rc;
    m->top_at = lb_clock_mono();
    if ((rc = lb_mirror_close_batch(m, err)) != 0)
        return rc;
    if (lb_job_stopping(env))
        return 1;
    /* logbridge's own log is the signal thread's to reopen; the file is ours */
    if (env->hup != NULL && lb_signals_hup_changed(env->hup, &m->hup_seen)) {
        if ((rc = lb_mirror_reopen(m, err)) != 0)
            return rc;
    }
    /* Several streams between two rounds too: the next round may first wait
     * for an entry (its XREAD BLOCK), and status and parity must see the
     * mirror where its file is meanwhile. */
    if (lb_ck_pending(m) && (rc = lb_mirror_ckpt_save(m, err)) != 0)
        return rc;
    if (m->o->once && (m->mm != NULL ? lb_many_done(m) : lb_sid_cmp(m->last, m->end) >= 0))
        return 1;
    lb_mirror_metrics(m);
    return lb_mirror_observe(m, 0, err);
}

/* Pipeline the next read while this batch is written? Only when the batch
 * was full (more is waiting: no BLOCK needed), and not when the top of the
 * loop is due (flags are looked at least every 200 ms). */
int lb_mirror_top_waits(const struct lb_mirror *m)
{
    if (lb_job_stopping(m->env))
        return 0;
    if (m->env->hup != NULL && atomic_load(m->env->hup) != m->hup_seen)
        return 0;
    return lb_clock_mono() - m->top_at < 0.2;
}

int lb_mirror_batch_young(const struct lb_mirror *m)
{
    return m->unsynced < LB_MIRROR_SYNC_ENTRIES &&
           lb_clock_mono() - m->batch_t0 < LB_MIRROR_SYNC_SEC;
}

static int lb_mirror_read_ahead(struct lb_mirror *m, size_t got, struct lb_sid next_after)
{
    if (got < (size_t)m->o->count)
        return 0;
    if (m->o->once && lb_sid_cmp(next_after, m->end) >= 0)
        return 0;
    return lb_mirror_top_waits(m);
}

/*
 * One turn: [top] XREAD -> reply; [read ahead] the next XREAD; write the
 * batch; send its HSET. On the wire: XREAD(k+1) goes out before HSET(k), so
 * their replies come back in that order. Returns 0, 1 (stop), or an error.
 */
static int lb_mirror_turn(struct lb_mirror *m, struct lb_error *err)
{
    int rc;
    if (!m->xread_inflight) {
        if (m->hset_inflight && (rc = lb_mirror_ckpt_reply(m, err)) != 0)
            return rc;
        if ((rc = lb_mirror_top(m, err)) != 0)
            return rc;
        if ((rc = lb_mirror_xread_send(m, m->last_id, !m->o->once, err)) != 0)
            return rc;
    }
    redisReply *rep = lb_reply_read(m->r, &m->arena, err);
    m->xread_inflight = 0;
    if (rep == NULL)
        return err->code;
    if (m->hset_inflight && (rc = lb_mirror_ckpt_reply(m, err)) != 0)
        return rc;
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_reply_error(m->r, "XREAD", m->o->streams.v[0], rep->str, err);
    lb_mirror_accepted(m);
    const redisReply *entries = lb_xread_entries(rep);
    if (entries == NULL) /* nil: nothing new within BLOCK (or, with --once, nothing at all) */
        return m->o->once ? 1 : 0;
    const redisReply *lastr = entries->element[entries->elements - 1];
    struct lb_sid next_after = m->last;
    char next_id[LB_SID_BUF];
    if (lastr->type == REDIS_REPLY_ARRAY && lastr->elements > 0 &&
        lastr->element[0]->type == REDIS_REPLY_STRING &&
        lb_sid_parse(lastr->element[0]->str, lastr->element[0]->len, &next_after) == 0 &&
        lb_mirror_read_ahead(m, entries->elements, next_after)) {
        lb_sid_format(next_after, next_id);
        if ((rc = lb_mirror_xread_send(m, next_id, 0, err)) != 0)
            return rc;
    }
    if (m->unsynced == 0)
        m->batch_t0 = lb_clock_mono();
    if ((rc = lb_mirror_batch(m, entries, err)) != 0)
        return rc;
    if (m->xread_inflight && lb_mirror_batch_young(m))
        return 0; /* more is on its way: keep the batch open */
    if ((rc = lb_mirror_close_batch(m, err)) != 0)
        return rc;
    return lb_mirror_ckpt_send(m, err);
}

/* On the way out: read what is in flight, so that the last checkpoint is
 * known to have landed (if it did not, the next start finds our lines). */
static void lb_mirror_drain(struct lb_mirror *m, struct lb_error *err)
{
    if (lb_redis_ctx(m->r) == NULL)
        return;
    if (m->xread_inflight && lb_reply_read(m->r, &m->arena, err) == NULL)
        return;
    m->xread_inflight = 0;
    if (lb_mirror_close_batch(m, err) != 0)
        return;
    if (m->hset_inflight && lb_mirror_ckpt_reply(m, err) != 0)
        return;
    if (lb_ck_pending(m) && lb_mirror_ckpt_save(m, err) != 0)
        return;
    lb_mirror_observe(m, 1, err);
}

int lb_mirror_run(const struct lb_mirror_opts *o, const struct lb_common *c,
                  const struct lb_job_env *env)
{
    struct lb_mirror m;
    memset(&m, 0, sizeof(m));
    m.fd = -1;
    m.o = o;
    m.env = env;
    m.metrics = env->metrics;
    m.want_metrics = env->metrics != NULL; /* NULL: no --metrics-file */
    lb_entry_decoder_init(&m.dec.ed, o->json_field != NULL ? o->json_field : c->json_field);
    m.dec.exclude = o->exclude;
    m.dec.nexclude = o->nexclude;
    m.dec.self_on = 1;
    m.hup_seen = env->hup != NULL ? atomic_load(env->hup) : 0;
    struct lb_error err = {0};
    int exit_code = LB_EXIT_OK;

    if (lb_abs_path(o->file, m.path, sizeof(m.path)) != 0) {
        lb_error_log("mirror: %s: path too long", o->file);
        return LB_EXIT_RUNTIME;
    }
    snprintf(m.what, sizeof(m.what), "mirror %s", m.path);
    /* Entries whose src is this file are never written back (a standalone
     * tail/mirror pair cannot see each other's loop): by either of its
     * names, or by identity (lb_dec_is_self). */
    char real[PATH_MAX];
    m.dec.self[0] = m.path;
    m.dec.self[1] = realpath(o->file, real) != NULL ? real : NULL;
    lb_key_derive(o->streams.v[0], "mirror", m.key, sizeof(m.key));
    lb_metrics_labels(m.lbl_file, sizeof(m.lbl_file), "file", m.path, (const char *)NULL);

    struct lb_redis_cfg cfg;
    if (lb_common_redis_cfg(c, &cfg, &err) != 0) {
        lb_error_kv(LB_MIRROR_FIELDS0(&m), "mirror: --redis: %s", err.msg);
        return LB_EXIT_USAGE;
    }
    m.r = lb_redis_create(&cfg);
    if (m.r == NULL) {
        lb_error_log("out of memory");
        return LB_EXIT_RUNTIME;
    }
    lb_redis_set_route(m.r, o->streams.v[0]);
    if ((o->streams.n > 1 || lb_stream_is_template(o->streams.v[0])) && lb_many_init(&m) != 0) {
        lb_error_log("out of memory");
        lb_redis_destroy(m.r);
        return LB_EXIT_RUNTIME;
    }
    lb_info_kv(LB_MIRROR_FIELDS0(&m), "mirror: following the stream at %s (checkpoint %s)",
               lb_redis_addr(m.r), m.key);
    /* Every series exists from the start, so that dashboards see zeros. */
    lb_mirror_metrics(&m);
    lb_job_redis_metrics_init(m.metrics);
    lb_job_labels(env, "mirror", m.l_job, sizeof(m.l_job));
    lb_metrics_batch_declare(m.metrics, m.l_job);
    lb_job_report(env, m.l_job, LB_HEALTH_STARTING, "connecting to redis");
    m.down = 1;

    int rc = lb_mirror_recover(&m, 0, &err);
    while (rc == 0) {
        rc = m.mm != NULL ? lb_many_turn(&m, &err) : lb_mirror_turn(&m, &err);
        if (rc == LB_EREDIS) {
            lb_mirror_trouble(&m, &err);
            rc = lb_mirror_recover(&m, 1, &err);
        }
    }
    if (rc == 1 || rc == LB_ESTOP)
        rc = 0;
    if (rc != 0) {
        lb_error_kv(LB_MIRROR_FIELDS0(&m), "mirror: %s", err.msg);
        exit_code = lb_exit_for(rc);
    } else {
        lb_mirror_drain(&m, &err);
        lb_info_kv(LB_MIRROR_FIELDS(&m, LB_F_STR("id", m.last_id), LB_F_U64("size", m.size)),
                   "mirror: stopped%s",
                   lb_ck_pending(&m) ? "; its checkpoint could not be recorded: the next start "
                                       "recognises the lines written since"
                                     : "");
    }
    lb_mirror_metrics(&m);
    lb_job_report(env, m.l_job, exit_code == LB_EXIT_OK ? LB_HEALTH_DONE : LB_HEALTH_FAILED,
                  exit_code == LB_EXIT_OK ? NULL : err.msg);
    lb_dec_release(&m.dec);
    lb_dec_self_forget(&m.dec);
    lb_await_free(&m.aw);
    lb_many_free(&m);
    free(m.buf.p);
    if (m.fd >= 0)
        close(m.fd);
    lb_redis_destroy(m.r);
    lb_arena_free(&m.arena);
    return exit_code;
}

static int lb_mirror_job(void *arg, const struct lb_job_env *env)
{
    const struct lb_mirror_opts *o = arg;
    return lb_mirror_run(o, &o->c, env);
}

int lb_cmd_mirror(int argc, char **argv)
{
    struct lb_cli cli = {"mirror", NULL};
    struct lb_mirror_opts o;
    int rc = lb_mirror_opts_parse(&o, argc, argv, &cli);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    return lb_job_standalone(&o.c, &cli, lb_mirror_job, &o);
}
