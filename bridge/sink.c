/*
 * sink.c - builds one EVALSHA per batch and reads its single reply.
 *
 * The argument vector points into the caller's line buffer; the few strings
 * we make per line (numbers, template keys, JSON payloads) go into one arena
 * that is reset per batch, so the hot path does not allocate once warm.
 * Arena strings are recorded as offsets and resolved at commit, because the
 * arena may move while it grows.
 */
#include "sink.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_script.h" /* LB_SINK_SCRIPT, generated from sink_script.lua */

#define LB_SINK_HEADER 14    /* ARGV[1..14] */
#define LB_SINK_MAX_KEYS 256 /* distinct template streams in one batch */
#define LB_NO_ARENA ((size_t)-1)
#define LB_SINK_MAX_INFLIGHT 4

struct lb_sink {
    struct lb_sink_opts o;
    char ckpt_key[LB_KEY_MAX], dlq_key[LB_KEY_MAX];
    int is_template;
    char sha[41];

    /* the batch */
    const char *src;
    size_t srcn;
    unsigned long long dev, ino;
    char prev_id[48];
    size_t lines;

    /* entry arguments */
    const char **argv;
    size_t *lens;
    size_t *aoff; /* arena offset, or LB_NO_ARENA */
    size_t argc, argcap;

    char *arena;
    size_t alen, acap;

    size_t keys_aoff[LB_SINK_MAX_KEYS];
    size_t keys_len[LB_SINK_MAX_KEYS];
    size_t nkeys;

    /* the full vector at commit, and the strings it points to */
    const char **cargv;
    size_t *clens;
    size_t ccap;
    char fp_end[LB_FP_HEX], ckpre[128], nums[8][32], fence[128], flags[4];

    /* the fast path: valid lines as plain XADDs in RESP */
    int fast;
    char *resp;
    size_t rlen, rcap;
    size_t nat;
    char nat_first_off[24], nat_last_off[24];

    /* where the checkpoint must stand for the next batch to apply */
    int fenced;
    struct lb_ckpt fence_at;

    /* batches sent whose replies are still to be read, oldest first */
    uint64_t flight_off[LB_SINK_MAX_INFLIGHT], flight_line[LB_SINK_MAX_INFLIGHT];
    size_t flight_nat[LB_SINK_MAX_INFLIGHT];
    size_t inflight;
    /* replies of the oldest batch read so far (lb_sink_recv_ready reads
     * only what has arrived), and the first refusal among them */
    size_t rx_got;
    char rx_err[200];
};

static const char *const lb_keyidx_str[] = {"3"}; /* the only stream of a plain name */

struct lb_sink *lb_sink_create(const struct lb_sink_opts *opts, struct lb_error *err)
{
    struct lb_sink *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    k->o = *opts;
    if (k->o.batch_max == 0)
        k->o.batch_max = 1000;
    if (k->o.json_field == NULL)
        k->o.json_field = "json_payload";
    lb_key_derive(opts->stream, "ckpt", k->ckpt_key, sizeof(k->ckpt_key));
    lb_key_derive(opts->stream, "dlq", k->dlq_key, sizeof(k->dlq_key));
    k->is_template = strstr(opts->stream, "%{type}") != NULL || strstr(opts->stream, "%{role}");
    /* Plain XADDs with '*' into one stream cannot fail one by one (only all
     * together, when the key is not a stream), so they can run natively in a
     * MULTI with the script after them; --id ts and templates need the
     * script's per-entry checks, and so does --no-provenance: the script
     * verifies that every native XADD landed by the src/off of the batch's
     * first and last entries. LOGBRIDGE_SINK_MODE=script forces the
     * script path (tests cover both). */
    const char *mode = getenv("LOGBRIDGE_SINK_MODE");
    k->fast = !k->o.id_ts && !k->is_template && k->o.provenance &&
              !(mode != NULL && strcmp(mode, "script") == 0);
    return k;
}

void lb_sink_destroy(struct lb_sink *k)
{
    if (k == NULL)
        return;
    free(k->argv);
    free(k->lens);
    free(k->aoff);
    free(k->arena);
    free(k->cargv);
    free(k->clens);
    free(k->resp);
    free(k);
}

const char *lb_sink_ckpt_key(const struct lb_sink *k)
{
    return k->ckpt_key;
}

const char *lb_sink_dlq_key(const struct lb_sink *k)
{
    return k->dlq_key;
}

void lb_sink_reset(struct lb_sink *k)
{
    k->argc = 0;
    k->alen = 0;
    k->lines = 0;
    k->nkeys = 0;
    k->rlen = 0;
    k->nat = 0;
    k->nat_first_off[0] = k->nat_last_off[0] = '\0';
}

void lb_sink_begin(struct lb_sink *k, const char *src, unsigned long long dev,
                   unsigned long long ino, const char *prev_id)
{
    lb_sink_reset(k);
    k->src = src;
    k->srcn = strlen(src);
    k->dev = dev;
    k->ino = ino;
    snprintf(k->prev_id, sizeof(k->prev_id), "%s", prev_id ? prev_id : "");
    k->fenced = 0;
}

void lb_sink_fence(struct lb_sink *k, const struct lb_ckpt *at)
{
    k->fenced = 1;
    k->fence_at = *at;
}

size_t lb_sink_pending(const struct lb_sink *k)
{
    return k->lines;
}

int lb_sink_full(const struct lb_sink *k)
{
    return k->lines >= k->o.batch_max || k->nkeys >= LB_SINK_MAX_KEYS;
}

/* ---- argument building -------------------------------------------------------- */

static int lb_sink_grow_argv(struct lb_sink *k, size_t more)
{
    if (k->argc + more <= k->argcap)
        return 0;
    size_t cap = k->argcap ? k->argcap * 2 : 4096;
    while (cap < k->argc + more)
        cap *= 2;
    const char **a = realloc(k->argv, cap * sizeof(*a));
    if (a == NULL)
        return LB_ENOMEM;
    k->argv = a;
    size_t *l = realloc(k->lens, cap * sizeof(*l));
    if (l == NULL)
        return LB_ENOMEM;
    k->lens = l;
    size_t *o = realloc(k->aoff, cap * sizeof(*o));
    if (o == NULL)
        return LB_ENOMEM;
    k->aoff = o;
    k->argcap = cap;
    return 0;
}

static char *lb_sink_arena(struct lb_sink *k, size_t n)
{
    if (k->alen + n > k->acap) {
        size_t cap = k->acap ? k->acap * 2 : 64 * 1024;
        while (cap < k->alen + n)
            cap *= 2;
        char *a = realloc(k->arena, cap);
        if (a == NULL)
            return NULL;
        k->arena = a;
        k->acap = cap;
    }
    return k->arena + k->alen;
}

static void lb_sink_push(struct lb_sink *k, const char *p, size_t n)
{
    k->argv[k->argc] = p;
    k->lens[k->argc] = n;
    k->aoff[k->argc] = LB_NO_ARENA;
    k->argc++;
}

/* Push the last n arena bytes as an argument. */
static void lb_sink_push_arena(struct lb_sink *k, size_t n)
{
    k->argv[k->argc] = NULL;
    k->lens[k->argc] = n;
    k->aoff[k->argc] = k->alen;
    k->argc++;
    k->alen += n;
}

static size_t lb_u64_str(uint64_t v, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static int lb_sink_push_u64(struct lb_sink *k, uint64_t v)
{
    char *p = lb_sink_arena(k, 24);
    if (p == NULL)
        return LB_ENOMEM;
    lb_sink_push_arena(k, lb_u64_str(v, p));
    return 0;
}

/* Render the stream key of a record and return its index in KEYS (from 3). */
static int lb_sink_key_index(struct lb_sink *k, const struct lb_record *rec)
{
    const char *t = k->o.stream;
    size_t tl = strlen(t);
    size_t need = tl + rec->type.n + rec->role.n + 1;
    /* Render into the arena's free space; keep it only if the key is new. */
    char *p = lb_sink_arena(k, need);
    if (p == NULL)
        return LB_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < tl;) {
        if (t[i] == '%' && strncmp(t + i, "%{type}", 7) == 0) {
            memcpy(p + o, rec->type.p, rec->type.n);
            o += rec->type.n;
            i += 7;
        } else if (t[i] == '%' && strncmp(t + i, "%{role}", 7) == 0) {
            memcpy(p + o, rec->role.p, rec->role.n);
            o += rec->role.n;
            i += 7;
        } else {
            p[o++] = t[i++];
        }
    }
    for (size_t j = 0; j < k->nkeys; j++)
        if (k->keys_len[j] == o && memcmp(k->arena + k->keys_aoff[j], p, o) == 0)
            return (int)j + 3;
    if (k->nkeys == LB_SINK_MAX_KEYS)
        return LB_EUSAGE; /* the caller missed lb_sink_full */
    k->keys_aoff[k->nkeys] = k->alen;
    k->keys_len[k->nkeys] = o;
    k->alen += o;
    k->nkeys++;
    return (int)k->nkeys + 2;
}

/* Write the JSON payload of a record at p (room: lb_sink_json_len). */
static size_t lb_sink_json_len(const struct lb_sink *k, const struct lb_record *rec)
{
    return 96 + lb_json_escaped_len(rec->role.p, rec->role.n) +
           lb_json_escaped_len(rec->ts.p, rec->ts.n) +
           lb_json_escaped_len(rec->type.p, rec->type.n) +
           lb_json_escaped_len(rec->data.p, rec->data.n) + lb_json_escaped_len(k->src, k->srcn);
}

static size_t lb_sink_json(const struct lb_sink *k, const struct lb_record *rec, uint64_t off,
                           char *p)
{
    /* {"role":…,"timestamp":…,"type":…,"data":…,"src":…,"off":N} */
    size_t o = 0;
#define LB_LIT(s) (memcpy(p + o, s, sizeof(s) - 1), o += sizeof(s) - 1)
    LB_LIT("{\"role\":\"");
    o += lb_json_escape(rec->role.p, rec->role.n, p + o);
    LB_LIT("\",\"timestamp\":\"");
    o += lb_json_escape(rec->ts.p, rec->ts.n, p + o);
    LB_LIT("\",\"type\":\"");
    o += lb_json_escape(rec->type.p, rec->type.n, p + o);
    LB_LIT("\",\"data\":\"");
    o += lb_json_escape(rec->data.p, rec->data.n, p + o);
    if (k->o.provenance) {
        LB_LIT("\",\"src\":\"");
        o += lb_json_escape(k->src, k->srcn, p + o);
        LB_LIT("\",\"off\":");
        o += lb_u64_str(off, p + o);
        LB_LIT("}");
    } else {
        LB_LIT("\"}");
    }
#undef LB_LIT
    return o;
}

/* ---- the fast path: plain XADDs in RESP, written straight into one buffer */

static char *lb_resp_room(struct lb_sink *k, size_t n)
{
    if (k->rlen + n > k->rcap) {
        size_t cap = k->rcap ? k->rcap * 2 : 256 * 1024;
        while (cap < k->rlen + n)
            cap *= 2;
        char *r = realloc(k->resp, cap);
        if (r == NULL)
            return NULL;
        k->resp = r;
        k->rcap = cap;
    }
    return k->resp + k->rlen;
}

static char *lb_resp_bulk(char *p, const char *s, size_t n)
{
    *p++ = '$';
    p += lb_u64_str(n, p);
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, s, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

#define LB_RESP_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)

static int lb_sink_add_fast(struct lb_sink *k, const struct lb_record *rec, uint64_t off)
{
    char offs[24];
    size_t offn = lb_u64_str(off, offs);
    size_t slen = strlen(k->o.stream);
    if (k->o.json_encoding) {
        size_t need = lb_sink_json_len(k, rec);
        char *j = lb_sink_arena(k, need);
        if (j == NULL)
            return LB_ENOMEM;
        size_t jn = lb_sink_json(k, rec, off, j);
        size_t fl = strlen(k->o.json_field);
        char *p = lb_resp_room(k, 64 + slen + fl + jn);
        if (p == NULL)
            return LB_ENOMEM;
        char *p0 = p;
        LB_RESP_LIT(p, "*5\r\n$4\r\nXADD\r\n");
        p = lb_resp_bulk(p, k->o.stream, slen);
        LB_RESP_LIT(p, "$1\r\n*\r\n");
        p = lb_resp_bulk(p, k->o.json_field, fl);
        p = lb_resp_bulk(p, j, jn);
        k->rlen += (size_t)(p - p0);
    } else {
        size_t need = 200 + slen + rec->role.n + rec->ts.n + rec->type.n + rec->data.n + k->srcn;
        char *p = lb_resp_room(k, need);
        if (p == NULL)
            return LB_ENOMEM;
        char *p0 = p;
        if (k->o.provenance)
            LB_RESP_LIT(p, "*15\r\n$4\r\nXADD\r\n");
        else
            LB_RESP_LIT(p, "*11\r\n$4\r\nXADD\r\n");
        p = lb_resp_bulk(p, k->o.stream, slen);
        LB_RESP_LIT(p, "$1\r\n*\r\n$4\r\nrole\r\n");
        p = lb_resp_bulk(p, rec->role.p, rec->role.n);
        LB_RESP_LIT(p, "$9\r\ntimestamp\r\n");
        p = lb_resp_bulk(p, rec->ts.p, rec->ts.n);
        LB_RESP_LIT(p, "$4\r\ntype\r\n");
        p = lb_resp_bulk(p, rec->type.p, rec->type.n);
        LB_RESP_LIT(p, "$4\r\ndata\r\n");
        p = lb_resp_bulk(p, rec->data.p, rec->data.n);
        if (k->o.provenance) {
            LB_RESP_LIT(p, "$3\r\nsrc\r\n");
            p = lb_resp_bulk(p, k->src, k->srcn);
            LB_RESP_LIT(p, "$3\r\noff\r\n");
            p = lb_resp_bulk(p, offs, offn);
        }
        k->rlen += (size_t)(p - p0);
    }
    if (k->nat == 0) {
        memcpy(k->nat_first_off, offs, offn);
        k->nat_first_off[offn] = '\0';
    }
    memcpy(k->nat_last_off, offs, offn);
    k->nat_last_off[offn] = '\0';
    k->nat++;
    k->lines++;
    return 0;
}

int lb_sink_add(struct lb_sink *k, const struct lb_record *rec, uint64_t off, uint64_t line)
{
    if (k->fast)
        return lb_sink_add_fast(k, rec, off);
    if (lb_sink_grow_argv(k, 9) != 0)
        return LB_ENOMEM;
    const char kind = k->o.json_encoding ? 'j' : 'v';
    int keyidx = 3;
    if (k->is_template && (keyidx = lb_sink_key_index(k, rec)) < 0)
        return keyidx;
    lb_sink_push(k, kind == 'v' ? "v" : "j", 1);
    if (lb_sink_push_u64(k, line) || lb_sink_push_u64(k, off))
        return LB_ENOMEM;
    if (keyidx == 3) {
        lb_sink_push(k, lb_keyidx_str[0], 1);
    } else if (lb_sink_push_u64(k, (uint64_t)keyidx)) {
        return LB_ENOMEM;
    }
    if (k->o.id_ts) {
        if (lb_sink_push_u64(k, rec->ts_ms < 0 ? 0 : (uint64_t)rec->ts_ms))
            return LB_ENOMEM;
    } else {
        lb_sink_push(k, "0", 1);
    }
    if (kind == 'v') {
        lb_sink_push(k, rec->role.p, rec->role.n);
        lb_sink_push(k, rec->ts.p, rec->ts.n);
        lb_sink_push(k, rec->type.p, rec->type.n);
        lb_sink_push(k, rec->data.p, rec->data.n);
    } else {
        char *p = lb_sink_arena(k, lb_sink_json_len(k, rec));
        if (p == NULL)
            return LB_ENOMEM;
        lb_sink_push_arena(k, lb_sink_json(k, rec, off, p));
    }
    k->lines++;
    return 0;
}

int lb_sink_add_bad(struct lb_sink *k, enum lb_reason reason, const char *raw, size_t n,
                    size_t raw_len, uint64_t off, uint64_t line)
{
    if (lb_sink_grow_argv(k, 6) != 0)
        return LB_ENOMEM;
    lb_sink_push(k, "b", 1);
    if (lb_sink_push_u64(k, line) || lb_sink_push_u64(k, off))
        return LB_ENOMEM;
    const char *name = lb_reason_name(reason);
    lb_sink_push(k, name, strlen(name));
    lb_sink_push(k, raw, n);
    if (lb_sink_push_u64(k, raw_len))
        return LB_ENOMEM;
    k->lines++;
    return 0;
}

/* ---- commit -------------------------------------------------------------------- */

static int lb_sink_load_script(struct lb_sink *k, struct lb_redis *r, struct lb_error *err)
{
    const char *argv[3] = {"SCRIPT", "LOAD", LB_SINK_SCRIPT};
    redisReply *rep = lb_redis_cmd(r, 3, argv, NULL, err);
    if (rep == NULL)
        return LB_EREDIS;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(k->sha, rep->str, 41);
    else
        rc = lb_error_set(err, lb_redis_is_transient(rep->str) ? LB_EREDIS : LB_EREPLY,
                          "redis at %s: SCRIPT LOAD: %s", lb_redis_addr(r),
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return rc;
}

/* The script path sends EVALSHA alone: a NOSCRIPT (a restarted or flushed
 * server) means nothing ran, and the script is loaded again. The fast path
 * always sends the body (EVAL) inside its MULTI: Redis would run the XADDs
 * before answering NOSCRIPT to an EVALSHA there, leaving entries without
 * their checkpoint (DESIGN.md section 7). Redis caches the compiled body by
 * its hash, so EVAL costs one hash of the body per batch. */
static int lb_sink_ensure_script(struct lb_sink *k, struct lb_redis *r, struct lb_error *err)
{
    if (k->fast || k->sha[0] != '\0')
        return 0;
    return lb_sink_load_script(k, r, err);
}

static int lb_sink_reply_u64(const redisReply *e, uint64_t *out)
{
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = (uint64_t)e->integer;
        return 0;
    }
    if (e->type == REDIS_REPLY_STRING) {
        char *end;
        *out = strtoull(e->str, &end, 10);
        return end == e->str ? -1 : 0;
    }
    return -1;
}

/* The fence as the script compares it: dev:ino:off:line, or '-' (absent). */
static void lb_sink_fence_text(const struct lb_sink *k, char *out, size_t cap)
{
    if (!k->fenced)
        out[0] = '\0';
    else if (!k->fence_at.present)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%llu:%llu:%" PRIu64 ":%" PRIu64, k->fence_at.dev, k->fence_at.ino,
                 k->fence_at.off, k->fence_at.line);
}

/* Build the EVAL(SHA) vector of the queued batch in k->cargv/k->clens.
 * Returns the argument count, or a negative lb_err. */
static int lb_sink_build(struct lb_sink *k, uint64_t end_off, uint64_t end_line, lb_sink_fp_fn fp,
                         void *fp_ctx, struct lb_error *err)
{
    size_t nf = 0;
    char flags[4];

    if (fp(fp_ctx, end_off, k->fp_end) != 0)
        return lb_error_set(err, LB_EIO, "cannot fingerprint %s", k->src);
    snprintf(k->ckpre, sizeof(k->ckpre), "{\"dev\":%llu,\"ino\":%llu,\"fp\":\"", k->dev, k->ino);
    if (k->o.id_ts)
        flags[nf++] = 't';
    if (k->o.provenance)
        flags[nf++] = 'p';
    if (!k->o.trim_ignore_groups)
        flags[nf++] = 'g';
    flags[nf] = '\0';
    memcpy(k->flags, flags, sizeof(flags));

    size_t nkeys = 2 + (k->is_template ? k->nkeys : 1);
    size_t total = 3 + nkeys + LB_SINK_HEADER + k->argc;
    if (total > k->ccap) {
        const char **a = realloc(k->cargv, total * sizeof(*a));
        if (a == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        k->cargv = a;
        size_t *l = realloc(k->clens, total * sizeof(*l));
        if (l == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        k->clens = l;
        k->ccap = total;
    }
    const char **v = k->cargv;
    size_t *vl = k->clens, c = 0;
#define LB_ARG(p, n) (v[c] = (p), vl[c] = (n), c++)
#define LB_STR(s) LB_ARG((s), strlen(s))
    if (k->fast) {
        LB_STR("EVAL");
        LB_ARG(LB_SINK_SCRIPT, sizeof(LB_SINK_SCRIPT) - 1);
    } else {
        LB_STR("EVALSHA");
        LB_STR(k->sha);
    }
    snprintf(k->nums[0], sizeof(k->nums[0]), "%zu", nkeys);
    LB_STR(k->nums[0]);
    LB_STR(k->ckpt_key);
    LB_STR(k->dlq_key);
    if (k->is_template) {
        for (size_t j = 0; j < k->nkeys; j++)
            LB_ARG(k->arena + k->keys_aoff[j], k->keys_len[j]);
    } else {
        LB_STR(k->o.stream);
    }
    LB_STR(k->src);
    LB_STR(k->ckpre);
    LB_STR(k->fp_end);
    LB_STR(k->nat_first_off);
    snprintf(k->nums[1], sizeof(k->nums[1]), "%" PRIu64, end_off);
    LB_STR(k->nums[1]);
    snprintf(k->nums[2], sizeof(k->nums[2]), "%" PRIu64, end_line);
    LB_STR(k->nums[2]);
    LB_STR(k->prev_id);
    LB_STR(k->flags);
    LB_STR(k->o.json_field);
    snprintf(k->nums[3], sizeof(k->nums[3]), "%lld", k->o.maxlen);
    LB_STR(k->nums[3]);
    snprintf(k->nums[4], sizeof(k->nums[4]), "%zu", k->lines - k->nat);
    LB_STR(k->nums[4]);
    snprintf(k->nums[5], sizeof(k->nums[5]), "%zu", k->nat);
    LB_STR(k->nums[5]);
    LB_STR(k->nat_last_off);
    lb_sink_fence_text(k, k->fence, sizeof(k->fence));
    LB_STR(k->fence);
    /* the batch after this one applies only where this one ends (even
     * after a first batch that replaced an unreadable checkpoint unchecked) */
    {
        struct lb_ckpt at = {.present = 1, .dev = k->dev, .ino = k->ino};
        at.off = end_off;
        at.line = end_line;
        lb_sink_fence(k, &at);
    }
    for (size_t i = 0; i < k->argc; i++)
        LB_ARG(k->aoff[i] == LB_NO_ARENA ? k->argv[i] : k->arena + k->aoff[i], k->lens[i]);
#undef LB_ARG
#undef LB_STR
    return (int)c;
}

/* Append the built vector to the connection's output and write it all. */
static int lb_sink_write(struct lb_sink *k, struct lb_redis *r, int c, struct lb_error *err)
{
    redisContext *ctx = lb_redis_ctx(r);
    if (ctx == NULL)
        return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(r));
    int ok = REDIS_OK;
    if (!k->fast) {
        k->cargv[1] = k->sha; /* reloaded after a NOSCRIPT */
        k->clens[1] = strlen(k->sha);
    }
    if (k->fast) {
        /* MULTI, the plain XADDs, the script, EXEC. */
        static const char multi[] = "*1\r\n$5\r\nMULTI\r\n", exec[] = "*1\r\n$4\r\nEXEC\r\n";
        ok = redisAppendFormattedCommand(ctx, multi, sizeof(multi) - 1);
        if (ok == REDIS_OK && k->rlen > 0)
            ok = redisAppendFormattedCommand(ctx, k->resp, k->rlen);
        if (ok == REDIS_OK)
            ok = redisAppendCommandArgv(ctx, c, k->cargv, k->clens);
        if (ok == REDIS_OK)
            ok = redisAppendFormattedCommand(ctx, exec, sizeof(exec) - 1);
    } else {
        ok = redisAppendCommandArgv(ctx, c, k->cargv, k->clens);
    }
    if (ok != REDIS_OK) {
        lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r), ctx->errstr);
        lb_redis_drop(r);
        return LB_EREDIS;
    }
    int done = 0;
    do {
        if (redisBufferWrite(ctx, &done) != REDIS_OK) {
            lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r), ctx->errstr);
            lb_redis_drop(r);
            return LB_EREDIS;
        }
    } while (!done);
    return 0;
}

/* A refusal: what kind, for the committer (fenced, clears by itself, or not). */
static int lb_sink_refused(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                           const char *why, struct lb_error *err)
{
    if (strncmp(why, "NOSCRIPT", 8) == 0) {
        k->sha[0] = '\0'; /* loaded again before the next batch; nothing ran */
        res->refused = LB_SINK_TRANSIENT;
    } else if (strncmp(why, "FENCE ", 6) == 0) {
        res->refused = LB_SINK_FENCED;
        why += 6;
    } else if (lb_redis_is_transient(why)) {
        res->refused = LB_SINK_TRANSIENT;
    } else {
        res->refused = LB_SINK_REFUSED;
    }
    int code = lb_redis_is_auth_error(why) ? LB_EAUTH : LB_EREPLY;
    return lb_error_set(err, code, "redis at %s refused a batch: %s", lb_redis_addr(r), why);
}

/* Decode the script's reply (or error) into res. */
static int lb_sink_decode(struct lb_sink *k, struct lb_redis *r, redisReply *rep, uint64_t end_off,
                          uint64_t end_line, struct lb_sink_result *res, struct lb_error *err)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_sink_refused(k, r, res, rep->str, err);
    uint64_t w = 0, b = 0, ro = 0, tb = 0;
    redisReply **e = rep->element;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 8 || lb_sink_reply_u64(e[0], &w) ||
        lb_sink_reply_u64(e[1], &b) || lb_sink_reply_u64(e[3], &ro) ||
        lb_sink_reply_u64(e[5], &tb) || e[2]->type != REDIS_REPLY_STRING ||
        e[4]->type != REDIS_REPLY_STRING)
        return lb_error_set(err, LB_EREPLY, "unexpected reply from the batch script");
    if (e[4]->len > 0) /* a write failed: the script undid the batch */
        return lb_sink_refused(k, r, res, e[4]->str, err);
    res->written = (size_t)w;
    res->bad = (size_t)b;
    res->reordered = (size_t)ro;
    res->trim_blocked = (int)tb;
    snprintf(res->last_id, sizeof(res->last_id), "%s", e[2]->str);
    res->ck_off = end_off;
    res->ck_line = end_line;
    return 0;
}

/* XDEL the entries that the fast path's XADDs created (their IDs are the
 * first nat elements of the EXEC reply). Best effort: logs what it could not
 * undo, because that many entries would then be written again on retry. */
static void lb_sink_undo(struct lb_sink *k, struct lb_redis *r, const redisReply *exec, size_t nat)
{
    size_t undone = 0;
    for (size_t i = 0; i < nat;) {
        const char *argv[1002];
        size_t lens[1002], c = 0;
        argv[c] = "XDEL";
        lens[c++] = 4;
        argv[c] = k->o.stream;
        lens[c++] = strlen(k->o.stream);
        for (; i < nat && c < 1002; i++) {
            const redisReply *e = exec->element[i];
            if (e->type == REDIS_REPLY_STRING) {
                argv[c] = e->str;
                lens[c++] = e->len;
            }
        }
        if (c == 2)
            continue;
        struct lb_error e2;
        redisReply *rep = lb_redis_cmd(r, (int)c, argv, lens, &e2);
        if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
            undone += (size_t)rep->integer;
        freeReplyObject(rep);
        if (rep == NULL)
            break;
    }
    if (undone < nat)
        lb_error_log("src=%s: %zu entries of a failed batch could not be removed from %s; they "
                     "will be written again",
                     k->src, nat - undone, k->o.stream);
}

/* The next reply: waiting for it, or only if it has arrived (0: not yet). */
static int lb_sink_next_reply(struct lb_redis *r, int wait, redisReply **rep,
                              struct lb_error *err)
{
    if (!wait)
        return lb_redis_try_reply(r, rep, err);
    *rep = lb_redis_get_reply(r, err);
    return *rep != NULL ? 1 : LB_EREDIS;
}

/* Read and check every reply of one batch: one for the script path; for the
 * fast path +OK, a +QUEUED per command, then EXEC's array: every XADD's ID,
 * then the script's reply. A queued command refused (OOM, READONLY) makes
 * EXEC abort whole (nothing ran). Without wait, reads only what has arrived
 * and returns LB_SINK_AGAIN when the batch's replies are not all there
 * (k->rx_got keeps the place). */
static int lb_sink_read(struct lb_sink *k, struct lb_redis *r, int wait, size_t nat,
                        uint64_t end_off, uint64_t end_line, struct lb_sink_result *res,
                        struct lb_error *err)
{
    memset(res, 0, sizeof(*res));
    redisReply *rep;
    int rc;
    if (!k->fast) {
        if ((rc = lb_sink_next_reply(r, wait, &rep, err)) <= 0)
            return rc == 0 ? LB_SINK_AGAIN : rc;
        rc = lb_sink_decode(k, r, rep, end_off, end_line, res, err);
        freeReplyObject(rep);
        return rc;
    }
    while (k->rx_got < nat + 2) {
        if ((rc = lb_sink_next_reply(r, wait, &rep, err)) <= 0)
            return rc == 0 ? LB_SINK_AGAIN : rc;
        if (rep->type == REDIS_REPLY_ERROR && k->rx_err[0] == '\0')
            snprintf(k->rx_err, sizeof(k->rx_err), "%s", rep->str);
        else if (rep->type != REDIS_REPLY_STATUS && k->rx_err[0] == '\0')
            snprintf(k->rx_err, sizeof(k->rx_err), "unexpected reply to a queued command");
        freeReplyObject(rep);
        k->rx_got++;
    }
    if ((rc = lb_sink_next_reply(r, wait, &rep, err)) <= 0)
        return rc == 0 ? LB_SINK_AGAIN : rc;
    k->rx_got = 0;
    const char *first_err = k->rx_err;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* EXECABORT: nothing ran. Redis said why in the first refused command. */
        char why[512];
        snprintf(why, sizeof(why), "%s (%s)", first_err[0] ? first_err : rep->str, rep->str);
        rc = lb_sink_refused(k, r, res, why, err);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != nat + 1) {
        rc = lb_error_set(err, LB_EREPLY, "unexpected EXEC reply from redis at %s",
                          lb_redis_addr(r));
    } else if (rep->element[nat]->type == REDIS_REPLY_ERROR) {
        /* The script itself failed (e.g. an ACL that forbids a command it
         * calls): the XADDs before it ran but no checkpoint was written. Undo
         * them, or a retry would write them twice. Not atomic with the EXEC,
         * so this is a repair of last resort, and logged as such. */
        rc = lb_error_set(err, LB_EREPLY, "redis at %s: the batch script failed: %s",
                          lb_redis_addr(r), rep->element[nat]->str);
        res->refused = LB_SINK_REFUSED;
        lb_sink_undo(k, r, rep, nat);
    } else {
        rc = lb_sink_decode(k, r, rep->element[nat], end_off, end_line, res, err);
        /* The script verified that every XADD landed; their replies must say
         * the same, or the checkpoint would cover lines never written. */
        for (size_t i = 0; rc == 0 && i < nat; i++)
            if (rep->element[i]->type != REDIS_REPLY_STRING) {
                rc = lb_error_set(err, LB_EREPLY,
                                  "redis at %s: XADD %zu of a batch of src=%s answered %s, yet the "
                                  "batch was checkpointed",
                                  lb_redis_addr(r), i + 1, k->src,
                                  rep->element[i]->type == REDIS_REPLY_ERROR ? rep->element[i]->str
                                                                             : "no ID");
                res->refused = LB_SINK_REFUSED;
            }
    }
    k->rx_err[0] = '\0';
    freeReplyObject(rep);
    return rc;
}

int lb_sink_send(struct lb_sink *k, struct lb_redis *r, uint64_t end_off, uint64_t end_line,
                 lb_sink_fp_fn fp, void *fp_ctx, struct lb_error *err)
{
    if (k->inflight == LB_SINK_MAX_INFLIGHT) {
        lb_sink_reset(k);
        return lb_error_set(err, LB_EUSAGE, "too many batches in flight");
    }
    int rc = lb_sink_ensure_script(k, r, err);
    int c = rc == 0 ? lb_sink_build(k, end_off, end_line, fp, fp_ctx, err) : rc;
    rc = c < 0 ? c : lb_sink_write(k, r, c, err);
    if (rc == 0) {
        k->flight_off[k->inflight] = end_off;
        k->flight_line[k->inflight] = end_line;
        k->flight_nat[k->inflight] = k->nat;
        k->inflight++;
    }
    lb_sink_reset(k);
    return rc;
}

static int lb_sink_recv_mode(struct lb_sink *k, struct lb_redis *r, int wait,
                             struct lb_sink_result *res, struct lb_error *err)
{
    memset(res, 0, sizeof(*res));
    if (k->inflight == 0)
        return lb_error_set(err, LB_EUSAGE, "no batch in flight");
    int rc = lb_sink_read(k, r, wait, k->flight_nat[0], k->flight_off[0], k->flight_line[0], res,
                          err);
    if (rc == LB_SINK_AGAIN)
        return rc;
    if (rc == LB_EREDIS) {
        k->inflight = 0; /* the connection is gone, and with it every reply */
        k->rx_got = 0;
        k->rx_err[0] = '\0';
        return rc;
    }
    k->inflight--;
    memmove(k->flight_off, k->flight_off + 1, k->inflight * sizeof(k->flight_off[0]));
    memmove(k->flight_line, k->flight_line + 1, k->inflight * sizeof(k->flight_line[0]));
    memmove(k->flight_nat, k->flight_nat + 1, k->inflight * sizeof(k->flight_nat[0]));
    return rc;
}

int lb_sink_recv(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                 struct lb_error *err)
{
    return lb_sink_recv_mode(k, r, 1, res, err);
}

int lb_sink_recv_ready(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                       struct lb_error *err)
{
    return lb_sink_recv_mode(k, r, 0, res, err);
}

size_t lb_sink_inflight(const struct lb_sink *k)
{
    return k->inflight;
}

void lb_sink_forget(struct lb_sink *k)
{
    k->inflight = 0;
    k->rx_got = 0;
    k->rx_err[0] = '\0';
    k->fenced = 0;
    lb_sink_reset(k);
}

int lb_sink_commit(struct lb_sink *k, struct lb_redis *r, uint64_t end_off, uint64_t end_line,
                   lb_sink_fp_fn fp, void *fp_ctx, struct lb_sink_result *res, struct lb_error *err)
{
    memset(res, 0, sizeof(*res));
    if (k->inflight > 0)
        return lb_error_set(err, LB_EUSAGE, "batches in flight");
    int rc = lb_sink_ensure_script(k, r, err);
    int c = rc == 0 ? lb_sink_build(k, end_off, end_line, fp, fp_ctx, err) : rc;
    if (c < 0) {
        if (c != LB_EREDIS)
            lb_sink_reset(k);
        return c;
    }
    rc = lb_sink_write(k, r, c, err);
    if (rc == 0)
        rc = lb_sink_read(k, r, 1, k->nat, end_off, end_line, res, err);
    /* Kept unless it landed: a caller that cannot read its lines again (stdin)
     * sends the same batch once the checkpoint in Redis says it did not land. */
    if (rc == 0)
        lb_sink_reset(k);
    return rc;
}
