/*
 * sink_batch.c - the batch of the script path and the script's arguments.
 *
 * The argument vector points into the caller's line buffer; the few strings
 * we make per line (numbers, template keys, JSON payloads) go into one arena
 * that is reset per batch, so the hot path does not allocate once warm.
 * Arena strings are recorded as offsets and resolved at commit, because the
 * arena may move while it grows. lb_sink_build lays out the EVAL(SHA)
 * vector: keys, the header ARGV[1..14] that sink_script.lua reads, then the
 * entries.
 */
#include "sink_int.h"
#include "stream_set.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const lb_keyidx_str[] = {"3"}; /* the only stream of a plain name */

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

char *lb_sink_arena(struct lb_sink *k, size_t n)
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
    size_t o = lb_stream_render(t, rec, p);
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
size_t lb_sink_json_len(const struct lb_sink *k, const struct lb_record *rec)
{
    return 96 + lb_json_escaped_len(rec->role.p, rec->role.n) +
           lb_json_escaped_len(rec->ts.p, rec->ts.n) +
           lb_json_escaped_len(rec->type.p, rec->type.n) +
           lb_json_escaped_len(rec->data.p, rec->data.n) + lb_json_escaped_len(k->src, k->srcn);
}

size_t lb_sink_json(const struct lb_sink *k, const struct lb_record *rec, uint64_t off, char *p)
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
    k->nbad++;
    const char *name = lb_reason_name(reason);
    lb_sink_push(k, name, strlen(name));
    lb_sink_push(k, raw, n);
    if (lb_sink_push_u64(k, raw_len))
        return LB_ENOMEM;
    k->lines++;
    return 0;
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

/* The script's flags: t (--id ts), p (provenance), g (trimming honours
 * consumer groups), s (the last key is the template's streams set). */
static void lb_sink_flags(struct lb_sink *k)
{
    size_t nf = 0;
    char flags[5];
    if (k->o.id_ts)
        flags[nf++] = 't';
    if (k->o.provenance)
        flags[nf++] = 'p';
    if (!k->o.trim_ignore_groups)
        flags[nf++] = 'g';
    if (k->is_template && k->nkeys > 0)
        flags[nf++] = 's';
    flags[nf] = '\0';
    memcpy(k->flags, flags, sizeof(flags));
}

/* Room for total arguments in the vector sent at commit. */
static int lb_sink_grow_cargv(struct lb_sink *k, size_t total)
{
    if (total <= k->ccap)
        return 0;
    const char **a = realloc(k->cargv, total * sizeof(*a));
    if (a == NULL)
        return LB_ENOMEM;
    k->cargv = a;
    size_t *l = realloc(k->clens, total * sizeof(*l));
    if (l == NULL)
        return LB_ENOMEM;
    k->clens = l;
    k->ccap = total;
    return 0;
}

/* Build the EVAL(SHA) vector of the queued batch in k->cargv/k->clens.
 * Returns the argument count, or a negative lb_err. */
int lb_sink_build(struct lb_sink *k, uint64_t end_off, uint64_t end_line, lb_sink_fp_fn fp,
                  void *fp_ctx, struct lb_error *err)
{
    if (fp(fp_ctx, end_off, k->fp_end) != 0)
        return lb_error_set(err, LB_EIO, "cannot fingerprint %s", k->src);
    snprintf(k->ckpre, sizeof(k->ckpre), "{\"dev\":%llu,\"ino\":%llu,\"fp\":\"", k->dev, k->ino);
    lb_sink_flags(k);
    /* a template batch also names its streams set, where the script records
     * the names it wrote to, in the same atomic step (DESIGN.md section 8) */
    size_t nkeys = 2 + (k->is_template ? k->nkeys + (k->nkeys > 0) : 1);
    if (lb_sink_grow_cargv(k, 3 + nkeys + LB_SINK_HEADER + k->argc) != 0)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    const char **v = k->cargv;
    size_t *vl = k->clens, c = 0;
#define LB_ARG(p, n) (v[c] = (p), vl[c] = (n), c++)
#define LB_STR(s) LB_ARG((s), strlen(s))
    if (k->fast) {
        LB_STR("EVAL");
        LB_ARG(lb_sink_script, lb_sink_script_len);
    } else {
        LB_STR("EVALSHA");
        LB_STR(k->sha);
    }
    snprintf(k->nums[0], sizeof(k->nums[0]), "%zu", nkeys);
    LB_STR(k->nums[0]);
    LB_STR(k->ckpt_key);
    /* A batch names only keys it needs: on a cluster, a multi-key command
     * naming a key that does not exist is refused (TRYAGAIN) for as long as
     * its slot migrates (DESIGN.md section 7). Without bad lines the DLQ's
     * place holds a target stream, which the batch names anyway. */
    if (k->nbad > 0 || (k->is_template && k->nkeys == 0))
        LB_STR(k->dlq_key);
    else if (k->is_template)
        LB_ARG(k->arena + k->keys_aoff[0], k->keys_len[0]);
    else
        LB_STR(k->o.stream);
    if (k->is_template) {
        for (size_t j = 0; j < k->nkeys; j++)
            LB_ARG(k->arena + k->keys_aoff[j], k->keys_len[j]);
        if (k->nkeys > 0)
            LB_STR(k->set_key);
    } else {
        LB_STR(k->o.stream);
    }
    LB_STR(k->src);
    LB_STR(k->ckpre);
    LB_STR(k->fp_end);
    LB_STR(""); /* ARGV[4]: reserved */
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
