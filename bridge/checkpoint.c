/*
 * checkpoint.c - derived key names, the checkpoint value, and deciding
 * whether a checkpoint still describes a file.
 */
#include "checkpoint.h"
#include "reply.h"
#include "cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lb_key_tag(const char *stream, char *out, size_t cap)
{
    /* Redis Cluster's rule: the bytes between the first '{' and the first '}'
     * after it, when not empty; a template's %{type} / %{role} placeholders
     * are not tags. */
    const char *l = stream;
    while ((l = strchr(l, '{')) != NULL && l > stream && l[-1] == '%')
        l++;
    if (l != NULL) {
        const char *r = strchr(l + 1, '}');
        if (r != NULL && r > l + 1) {
            size_t n = (size_t)(r - l - 1);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, l + 1, n);
            out[n] = '\0';
            return;
        }
    }
    snprintf(out, cap, "%s", stream);
}

void lb_key_derive(const char *stream, const char *kind, char *out, size_t cap)
{
    char tag[LB_KEY_MAX];
    lb_key_tag(stream, tag, sizeof(tag));
    snprintf(out, cap, "logbridge:%s:{%s}", kind, tag);
}

/* ---- the checkpoint value ------------------------------------------------------ */

/* The numbers are read from the text, not from cJSON's double: dev and ino
 * can exceed 2^53 (XFS, btrfs), and a value past 2^64-1 must be refused, not
 * wrapped. One walk over the text (which cJSON has already found to be valid
 * JSON) places each number: a key of the top object, or a key of the i-th
 * object of the top object's "done" array. */
enum { LB_CK_DEV, LB_CK_INO, LB_CK_OFF, LB_CK_LINE, LB_CK_NNUM };

struct lb_ckpt_nums {
    unsigned long long v[1 + LB_CKPT_DONE_MAX][LB_CK_NNUM]; /* [0] top, [1 + i] done[i] */
    unsigned seen[1 + LB_CKPT_DONE_MAX];                   /* bit k: v[.][k] was read */
    int bad;                                               /* a known key held a bad number */
};

static int lb_ckpt_num_key(const char *k, size_t n)
{
    static const char *const names[LB_CK_NNUM] = {"dev", "ino", "off", "line"};
    for (int i = 0; i < LB_CK_NNUM; i++)
        if (strlen(names[i]) == n && memcmp(k, names[i], n) == 0)
            return i;
    return -1;
}

/* An unsigned decimal integer, exactly: no sign, fraction or exponent, and
 * no more than 2^64-1. */
static void lb_ckpt_walk(const char *json, size_t n, struct lb_ckpt_nums *nums)
{
    enum { MAXD = 8 };
    char type[MAXD + 1] = {0};        /* '{' or '[' at each depth (1-based) */
    const char *key[MAXD + 1] = {0};  /* the last key seen in the object at that depth */
    size_t keyn[MAXD + 1] = {0};
    int depth = 0, done_idx = -1;
    const char *p = json, *e = json + n;
    while (p < e) {
        char c = *p;
        if (c == '"') {
            const char *s0 = ++p;
            while (p < e && *p != '"')
                p += *p == '\\' ? 2 : 1;
            const char *s1 = p < e ? p : e;
            p = s1 + 1;
            const char *q = p;
            while (q < e && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
                q++;
            if (q < e && *q == ':' && depth >= 1 && depth <= MAXD) {
                key[depth] = s0;
                keyn[depth] = (size_t)(s1 - s0);
            }
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            if (depth <= MAXD)
                type[depth] = c;
            /* an object inside the top object's "done" array */
            if (depth == 3 && c == '{' && type[2] == '[' && keyn[1] == 4 &&
                memcmp(key[1], "done", 4) == 0)
                done_idx++;
            if (depth <= MAXD)
                key[depth] = NULL, keyn[depth] = 0;
            p++;
            continue;
        }
        if (c == '}' || c == ']') {
            depth--;
            p++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            const char *s0 = p;
            while (p < e && (*p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E' ||
                             (*p >= '0' && *p <= '9')))
                p++;
            int slot = -1;
            if (depth == 1)
                slot = 0;
            else if (depth == 3 && done_idx >= 0 && done_idx < LB_CKPT_DONE_MAX &&
                     type[2] == '[' && keyn[1] == 4 && memcmp(key[1], "done", 4) == 0)
                slot = 1 + done_idx;
            int k = slot >= 0 && key[depth] != NULL ? lb_ckpt_num_key(key[depth], keyn[depth]) : -1;
            uint64_t v;
            if (k >= 0 && lb_u64_parse(s0, (size_t)(p - s0), &v) != 0) {
                nums->bad = 1;
            } else if (k >= 0) {
                nums->v[slot][k] = v;
                nums->seen[slot] |= 1u << k;
            }
            continue;
        }
        p++;
    }
}

/* A fingerprint string of cJSON item v into out. */
static int lb_ckpt_fp(const cJSON *v, char out[LB_FP_HEX])
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= LB_FP_HEX)
        return -1;
    strcpy(out, v->valuestring);
    return 0;
}

int lb_json_raw_u64(const char *s, size_t n, const char *key, unsigned long long *out)
{
    char pat[64];
    int pn = snprintf(pat, sizeof(pat), "\"%s\"", key);
    if (pn < 0 || (size_t)pn >= sizeof(pat))
        return -1;
    const char *end = s + n;
    for (const char *p = s; p != NULL && p < end;) {
        p = memmem(p, (size_t)(end - p), pat, (size_t)pn);
        if (p == NULL)
            return -1;
        p += pn;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p >= end || *p != ':')
            continue; /* the text inside a value, not a key */
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        /* a whole non-negative integer: no sign, fraction or exponent */
        uint64_t v;
        if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
            return -1;
        if (lb_u64_parse(d, (size_t)(p - d), &v) != 0)
            return -1; /* past 2^64-1: refused, never wrapped */
        *out = v;
        return 0;
    }
    return -1;
}

int lb_ckpt_parse(const char *json, size_t n, struct lb_ckpt *ck, struct lb_error *err)
{
    memset(ck, 0, sizeof(*ck));
    cJSON *o = cJSON_ParseWithLength(json, n);
    if (o == NULL || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return lb_error_set(err, LB_ECKPT, "checkpoint is not a JSON object");
    }
    struct lb_ckpt_nums nums;
    memset(&nums, 0, sizeof(nums));
    lb_ckpt_walk(json, n, &nums);
    const unsigned all = (1u << LB_CK_NNUM) - 1;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *done = cJSON_GetObjectItemCaseSensitive(o, "done");
    const char *why = NULL;
    if (nums.bad)
        why = "checkpoint holds a number that is not an integer from 0 to 2^64-1";
    else if (nums.seen[0] != all ||
             lb_ckpt_fp(cJSON_GetObjectItemCaseSensitive(o, "fp"), ck->fp) != 0 ||
             (id != NULL && (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof(ck->id))))
        why = "checkpoint lacks dev/ino/fp/off/line";
    else if (done != NULL && !cJSON_IsArray(done))
        why = "checkpoint's done is not an array";
    if (why == NULL && done != NULL) {
        const cJSON *g;
        cJSON_ArrayForEach(g, done)
        {
            if (ck->ndone == LB_CKPT_DONE_MAX)
                break;
            int i = ck->ndone;
            struct lb_ckpt_gen *d = &ck->done[i];
            if (!cJSON_IsObject(g) || nums.seen[1 + i] != all ||
                lb_ckpt_fp(cJSON_GetObjectItemCaseSensitive(g, "fp"), d->fp) != 0) {
                why = "checkpoint has a done generation without dev/ino/fp/off/line";
                break;
            }
            d->dev = nums.v[1 + i][LB_CK_DEV];
            d->ino = nums.v[1 + i][LB_CK_INO];
            d->off = nums.v[1 + i][LB_CK_OFF];
            d->line = nums.v[1 + i][LB_CK_LINE];
            ck->ndone++;
        }
    }
    if (why == NULL) {
        ck->dev = nums.v[0][LB_CK_DEV];
        ck->ino = nums.v[0][LB_CK_INO];
        ck->off = nums.v[0][LB_CK_OFF];
        ck->line = nums.v[0][LB_CK_LINE];
        if (id != NULL)
            strcpy(ck->id, id->valuestring);
        ck->present = 1;
    }
    cJSON_Delete(o);
    if (why != NULL) {
        memset(ck, 0, sizeof(*ck));
        return lb_error_set(err, LB_ECKPT, "%s", why);
    }
    return 0;
}

size_t lb_ckpt_format(const struct lb_ckpt *ck, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "{\"dev\":%llu,\"ino\":%llu,\"fp\":\"%s\",\"off\":%" PRIu64
                     ",\"line\":%" PRIu64 ",\"id\":\"%s\"}",
                     ck->dev, ck->ino, ck->fp, ck->off, ck->line, ck->id);
    if (n < 0 || (size_t)n >= cap)
        return n < 0 ? 0 : (size_t)n;
    if (ck->ndone > 0) {
        n--; /* reopen the object */
        for (int i = 0; i < ck->ndone && (size_t)n < cap; i++) {
            const struct lb_ckpt_gen *d = &ck->done[i];
            int k = snprintf(out + n, cap - (size_t)n,
                             "%s{\"dev\":%llu,\"ino\":%llu,\"fp\":\"%s\",\"off\":%" PRIu64
                             ",\"line\":%" PRIu64 "}",
                             i == 0 ? ",\"done\":[" : ",", d->dev, d->ino, d->fp, d->off, d->line);
            if (k < 0)
                return 0;
            n += k;
        }
        if ((size_t)n < cap)
            n += snprintf(out + n, cap - (size_t)n, "]}");
    }
    return (size_t)n;
}

int lb_ckpt_load(struct lb_redis *r, const char *ckpt_key, const char *src, struct lb_ckpt *ck,
                 struct lb_error *err)
{
    memset(ck, 0, sizeof(*ck));
    const char *argv[3] = {"HGET", ckpt_key, src};
    redisReply *rep = lb_redis_cmd(r, 3, argv, NULL, err);
    if (rep == NULL)
        return LB_EREDIS;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING)
        rc = lb_ckpt_parse(rep->str, rep->len, ck, err);
    else if (rep->type == REDIS_REPLY_ERROR)
        /* LOADING, BUSY, ...: like a lost connection, tried again later */
        rc = lb_reply_error(r, "HGET", ckpt_key, rep->str, err);
    freeReplyObject(rep);
    return rc;
}

int lb_ckpt_trust(const struct lb_ckpt *ck, struct lb_source *s, char *why, size_t cap)
{
    enum lb_source_kind kind = lb_source_kind(s);
    if (kind != LB_SOURCE_STDIN && (ck->dev != (unsigned long long)lb_source_dev(s) ||
                                    ck->ino != (unsigned long long)lb_source_ino(s))) {
        snprintf(why, cap, "checkpoint is for dev=%llu ino=%llu, the file is dev=%llu ino=%llu",
                 ck->dev, ck->ino, (unsigned long long)lb_source_dev(s),
                 (unsigned long long)lb_source_ino(s));
        return 0;
    }
    long long size = lb_source_size(s);
    if (size >= 0 && ck->off > (uint64_t)size) {
        snprintf(why, cap, "checkpoint offset %" PRIu64 " is past the end of the file (%lld bytes)",
                 ck->off, size);
        return 0;
    }
    char fp[LB_FP_HEX];
    if (lb_source_fingerprint(s, ck->off, fp) != 0) {
        snprintf(why, cap, "file is shorter than the checkpoint offset %" PRIu64, ck->off);
        return 0;
    }
    if (strcmp(fp, ck->fp) != 0) {
        snprintf(why, cap, "fingerprint of the first bytes differs (%s, checkpoint %s)", fp,
                 ck->fp);
        return 0;
    }
    return 1;
}

/* ---- finding a file among every checkpoint of a tag -------------------------- */

/* Fingerprints of the source's first bytes, by length: the fingerprint of 1
 * KiB is asked for again and again while scanning, so keep it. */
struct lb_ckpt_fps {
    struct lb_source *s;
    char full[LB_FP_HEX];
    int have_full;
};

static int lb_ckpt_fp_is(struct lb_ckpt_fps *f, uint64_t off, const char *want)
{
    char fp[LB_FP_HEX];
    if (off >= LB_FP_LEN && f->have_full)
        return strcmp(f->full, want) == 0;
    if (lb_source_fingerprint(f->s, off, fp) != 0)
        return 0;
    if (off >= LB_FP_LEN) {
        memcpy(f->full, fp, LB_FP_HEX);
        f->have_full = 1;
    }
    return strcmp(fp, want) == 0;
}

/* Judge one generation (dev, ino, fp, off, line) of src; keep it in m when
 * it is a better match than what m holds. */
static void lb_ckpt_consider(struct lb_ckpt_fps *f, const char *src, size_t srclen,
                             const struct lb_ckpt *ck, const struct lb_ckpt_gen *g, int done,
                             struct lb_ckpt_match *m)
{
    if (g->off == 0 || srclen >= sizeof(m->src))
        return;
    long long size = lb_source_size(f->s); /* -1 for .gz: its skip to off will tell */
    if (size >= 0 && g->off > (uint64_t)size)
        return;
    int same = lb_source_kind(f->s) != LB_SOURCE_STDIN &&
               g->dev == (unsigned long long)lb_source_dev(f->s) &&
               g->ino == (unsigned long long)lb_source_ino(f->s);
    enum lb_ckpt_how how = same ? (done ? LB_CKPT_DONE_FILE : LB_CKPT_SAME_FILE) : LB_CKPT_SAME_BYTES;
    /* A copy of a generation its src is still reading is that content only
     * when it ends where the checkpoint stands: a longer file that merely
     * starts with the same bytes is another file. */
    if (how == LB_CKPT_SAME_BYTES && !done && size >= 0 && g->off != (uint64_t)size)
        return;
    /* better: a smaller how (the file itself before a copy), then a larger off */
    if (m->how != LB_CKPT_NONE && (how > m->how || (how == m->how && g->off <= m->off)))
        return;
    if (!lb_ckpt_fp_is(f, g->off, g->fp))
        return;
    m->how = how;
    m->done = done;
    memcpy(m->src, src, srclen);
    m->src[srclen] = '\0';
    m->ck = *ck;
    m->off = g->off;
    m->line = g->line;
}

int lb_ckpt_find(struct lb_redis *r, const char *ckpt_key, struct lb_source *s,
                 const char *skip_src, struct lb_ckpt_match *m, struct lb_error *err)
{
    memset(m, 0, sizeof(*m));
    struct lb_ckpt_fps f = {.s = s};
    char cursor[32] = "0";
    do {
        const char *argv[6] = {"HSCAN", ckpt_key, cursor, "COUNT", "500", NULL};
        redisReply *rep = lb_redis_cmd(r, 5, argv, NULL, err);
        if (rep == NULL)
            return LB_EREDIS;
        if (rep->type == REDIS_REPLY_ERROR) {
            int rc = lb_error_set(err, LB_EREPLY, "HSCAN %s: %s", ckpt_key, rep->str);
            freeReplyObject(rep);
            return rc;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING || rep->element[0]->len >= sizeof(cursor) ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(rep);
            return lb_error_set(err, LB_EREPLY, "HSCAN %s: unexpected reply", ckpt_key);
        }
        memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
        cursor[rep->element[0]->len] = '\0';
        const redisReply *kv = rep->element[1];
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            const redisReply *fr = kv->element[i], *vr = kv->element[i + 1];
            if (fr->type != REDIS_REPLY_STRING || vr->type != REDIS_REPLY_STRING)
                continue;
            struct lb_ckpt ck;
            if (lb_ckpt_parse(vr->str, vr->len, &ck, NULL) != 0)
                continue; /* its own src says so when it is read */
            int own = skip_src != NULL && strlen(skip_src) == fr->len &&
                      memcmp(skip_src, fr->str, fr->len) == 0;
            if (!own) {
                struct lb_ckpt_gen cur = {ck.dev, ck.ino, "", ck.off, ck.line};
                memcpy(cur.fp, ck.fp, LB_FP_HEX);
                lb_ckpt_consider(&f, fr->str, fr->len, &ck, &cur, 0, m);
            }
            for (int d = 0; d < ck.ndone; d++)
                lb_ckpt_consider(&f, fr->str, fr->len, &ck, &ck.done[d], 1, m);
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int lb_ckpt_seed(struct lb_redis *r, const char *ckpt_key, const char *src,
                 const struct lb_ckpt *ck, struct lb_error *err)
{
    char val[2048];
    lb_ckpt_format(ck, val, sizeof(val));
    const char *argv[4] = {"HSETNX", ckpt_key, src, val};
    redisReply *rep = lb_redis_cmd(r, 4, argv, NULL, err);
    if (rep == NULL)
        return LB_EREDIS;
    int rc;
    if (rep->type == REDIS_REPLY_INTEGER)
        rc = rep->integer == 1 ? 0 : 1;
    else
        rc = lb_error_set(err, LB_EREPLY, "HSETNX %s: %s", ckpt_key,
                          rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
    freeReplyObject(rep);
    return rc;
}

int lb_abs_path(const char *path, char *out, size_t cap)
{
    char tmp[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(tmp, sizeof(tmp), "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return -1;
        snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
    }
    /* Fold "//", "/./" and "/../" without touching the file system. */
    size_t o = 0;
    const char *p = tmp;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o + 1 + n + 1 > cap)
                return -1;
            out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    if (o == 0) {
        if (cap < 2)
            return -1;
        out[o++] = '/';
    }
    out[o] = '\0';
    return 0;
}
