/*
 * import_verify.c - the verifying half of import_util.h: compare a stream
 * and its DLQ with a fixture entry by entry (iu_verify), check a checkpoint
 * against the fixture (iu_check_ckpt) and the state after a crash
 * (iu_check_prefix). The fixtures themselves (built, generated, written) and
 * the process and Redis helpers are in import_util.c. Failures are returned
 * with a message for the test to assert on.
 */
#include "import_util.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "source.h"

/* ---- verifying ------------------------------------------------------------------ */

struct iu_tally {
    char *why;
    size_t cap, used;
    int shown;
    long bad;
};

static void iu_note(struct iu_tally *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void iu_note(struct iu_tally *t, const char *fmt, ...)
{
    t->bad++;
    if (t->shown >= 4 || t->used + 2 >= t->cap)
        return;
    t->shown++;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->why + t->used, t->cap - t->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        t->used += (size_t)n < t->cap - t->used ? (size_t)n : t->cap - t->used - 1;
    if (t->used + 2 < t->cap) {
        t->why[t->used++] = ';';
        t->why[t->used++] = ' ';
        t->why[t->used] = '\0';
    }
}

/* Show a value for a message: printable, cut at 60 bytes. */
static const char *iu_show(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap && i < 60; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
    }
    if (n > 60 && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* The four parts of a valid line (split at the first three '|'). */
static void iu_split(const struct iu_fix *f, const struct iu_line *l, const char *part[4],
                     size_t plen[4])
{
    if (l->want[0] != NULL) {
        for (int k = 0; k < 4; k++) {
            part[k] = l->want[k];
            plen[k] = strlen(l->want[k]);
        }
        return;
    }
    const char *p = f->buf + l->off, *end = p + l->len;
    for (int k = 0; k < 3; k++) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        if (bar == NULL)
            bar = end;
        part[k] = p;
        plen[k] = (size_t)(bar - p);
        p = bar < end ? bar + 1 : end;
    }
    part[3] = p;
    plen[3] = (size_t)(end - p);
}

static int iu_val_eq(const struct lbt_entry *e, size_t j, const char *p, size_t n)
{
    return e->vlens[j] == n && memcmp(e->values[j], p, n) == 0;
}

static void iu_check_fields(struct iu_tally *t, const struct iu_fix *f, const struct iu_line *l,
                            size_t lineno, const struct lbt_entry *e, const struct iu_expect *x)
{
    static const char *const names[] = {"role", "timestamp", "type", "data", "src", "off"};
    const char *part[6];
    size_t plen[6];
    char offs[32], s1[200], s2[200];
    iu_split(f, l, part, plen);
    part[4] = x->src;
    plen[4] = strlen(x->src);
    snprintf(offs, sizeof(offs), "%" PRIu64, l->off);
    part[5] = offs;
    plen[5] = strlen(offs);
    size_t want = x->provenance ? 6 : 4;
    if (e->nf != want) {
        iu_note(t, "entry %s (line %zu): %zu fields, want %zu", e->id, lineno, e->nf, want);
        return;
    }
    for (size_t j = 0; j < want; j++) {
        if (strcmp(e->names[j], names[j]) != 0) {
            iu_note(t, "entry %s (line %zu): field %zu is '%s', want '%s'", e->id, lineno, j,
                    e->names[j], names[j]);
            return;
        }
        if (!iu_val_eq(e, j, part[j], plen[j])) {
            iu_note(t, "entry %s (line %zu): %s = '%s', want '%s'", e->id, lineno, names[j],
                    iu_show(e->values[j], e->vlens[j], s1, sizeof(s1)),
                    iu_show(part[j], plen[j], s2, sizeof(s2)));
            return;
        }
    }
}

static int iu_json_str_eq(const cJSON *v, const char *p, size_t n)
{
    return cJSON_IsString(v) && strlen(v->valuestring) == n && memcmp(v->valuestring, p, n) == 0;
}

static void iu_check_json(struct iu_tally *t, const struct iu_fix *f, const struct iu_line *l,
                          size_t lineno, const struct lbt_entry *e, const struct iu_expect *x)
{
    static const char *const names[] = {"role", "timestamp", "type", "data", "src", "off"};
    const char *field = x->json_field ? x->json_field : "json_payload";
    const char *part[4];
    size_t plen[4];
    iu_split(f, l, part, plen);
    if (e->nf != 1 || strcmp(e->names[0], field) != 0) {
        iu_note(t, "entry %s (line %zu): want the single field %s", e->id, lineno, field);
        return;
    }
    const char *end = NULL;
    /* the value is NUL-terminated: the parse must end exactly there */
    cJSON *o = cJSON_ParseWithLengthOpts(e->values[0], e->vlens[0] + 1, &end, 1);
    if (o == NULL || !cJSON_IsObject(o)) {
        iu_note(t, "entry %s (line %zu): %s is not a JSON object", e->id, lineno, field);
        cJSON_Delete(o);
        return;
    }
    size_t want = x->provenance ? 6 : 4, k = 0;
    for (const cJSON *c = o->child; c != NULL; c = c->next, k++) {
        if (k >= want || strcmp(c->string, names[k]) != 0) {
            iu_note(t, "entry %s (line %zu): JSON key %zu is '%s', want '%s'", e->id, lineno, k,
                    c->string, k < want ? names[k] : "(none)");
            cJSON_Delete(o);
            return;
        }
        int ok;
        if (k < 4)
            ok = iu_json_str_eq(c, part[k], plen[k]);
        else if (k == 4)
            ok = iu_json_str_eq(c, x->src, strlen(x->src));
        else
            ok = cJSON_IsNumber(c) && (uint64_t)c->valuedouble == l->off;
        if (!ok) {
            iu_note(t, "entry %s (line %zu): JSON %s differs", e->id, lineno, names[k]);
            cJSON_Delete(o);
            return;
        }
    }
    if (k != want)
        iu_note(t, "entry %s (line %zu): %zu JSON keys, want %zu", e->id, lineno, k, want);
    cJSON_Delete(o);
}

static void iu_check_dlq(struct iu_tally *t, const struct iu_fix *f, const struct iu_line *l,
                         size_t lineno, const struct lbt_entry *e, const struct iu_expect *x)
{
    static const char *const names[] = {"src", "off", "line", "reason", "raw", "raw_len"};
    char offs[32], lines[32], lens[32], s1[200], s2[200];
    snprintf(offs, sizeof(offs), "%" PRIu64, l->off);
    snprintf(lines, sizeof(lines), "%zu", lineno);
    snprintf(lens, sizeof(lens), "%zu", l->len);
    size_t rawn = l->len < LB_SOURCE_RAW_MAX ? l->len : LB_SOURCE_RAW_MAX;
    const char *part[6] = {x->src, offs, lines, l->reason, f->buf + l->off, lens};
    size_t plen[6] = {strlen(x->src),    strlen(offs), strlen(lines),
                      strlen(l->reason), rawn,         strlen(lens)};
    if (e->nf != 6) {
        iu_note(t, "DLQ entry %s (line %zu): %zu fields, want 6", e->id, lineno, e->nf);
        return;
    }
    for (size_t j = 0; j < 6; j++) {
        if (strcmp(e->names[j], names[j]) != 0) {
            iu_note(t, "DLQ entry %s (line %zu): field %zu is '%s', want '%s'", e->id, lineno, j,
                    e->names[j], names[j]);
            return;
        }
        if (!iu_val_eq(e, j, part[j], plen[j])) {
            if (j == 4)
                iu_note(t,
                        "DLQ entry %s (line %zu, %s): raw is %zu bytes '%s', want %zu bytes "
                        "'%s'",
                        e->id, lineno, l->reason, e->vlens[j],
                        iu_show(e->values[j], e->vlens[j], s1, sizeof(s1)), plen[j],
                        iu_show(part[j], plen[j], s2, sizeof(s2)));
            else
                iu_note(t, "DLQ entry %s (line %zu): %s = '%s', want '%s'", e->id, lineno, names[j],
                        iu_show(e->values[j], e->vlens[j], s1, sizeof(s1)),
                        iu_show(part[j], plen[j], s2, sizeof(s2)));
            return;
        }
    }
}

static int64_t iu_id_ms(const char *id)
{
    return (int64_t)strtoll(id, NULL, 10);
}

int iu_verify(redisContext *c, const struct iu_fix *f, const struct iu_expect *x, char *why,
              size_t cap)
{
    struct iu_tally t = {why, cap, 0, 0, 0};
    why[0] = '\0';
    struct lbt_entry *se = NULL, *de = NULL;
    long ns = lbt_xrange_all(c, x->stream, &se);
    long nd = lbt_xrange_all(c, x->dlq, &de);
    if (ns < 0 || nd < 0) {
        snprintf(why, cap, "XRANGE failed");
        lbt_entries_free(se, ns);
        lbt_entries_free(de, nd);
        return -1;
    }
    size_t upto = x->upto < f->n ? x->upto : f->n;
    size_t wv = 0, wb = 0;
    for (size_t i = x->from; i < upto; i++) {
        wv += f->lines[i].kind == IU_VALID;
        wb += f->lines[i].kind == IU_BAD;
    }
    if ((size_t)ns != x->stream_skip + wv)
        iu_note(&t, "stream %s holds %ld entries, want %zu", x->stream, ns, x->stream_skip + wv);
    if ((size_t)nd != x->dlq_skip + wb)
        iu_note(&t, "DLQ %s holds %ld entries, want %zu", x->dlq, nd, x->dlq_skip + wb);
    size_t si = x->stream_skip, di = x->dlq_skip;
    int64_t top = INT64_MIN;
    if (x->id_ts && si > 0 && si <= (size_t)ns)
        top = iu_id_ms(se[si - 1].id);
    for (size_t i = x->from; i < upto; i++) {
        const struct iu_line *l = &f->lines[i];
        if (l->kind == IU_VALID) {
            if (si < (size_t)ns) {
                if (x->json)
                    iu_check_json(&t, f, l, i + 1, &se[si], x);
                else
                    iu_check_fields(&t, f, l, i + 1, &se[si], x);
                if (x->id_ts && l->ts_ms != INT64_MIN) {
                    int64_t want = l->ts_ms > top ? l->ts_ms : top;
                    if (iu_id_ms(se[si].id) != want)
                        iu_note(&t, "entry %s (line %zu): ID ms %" PRId64 ", want %" PRId64,
                                se[si].id, i + 1, iu_id_ms(se[si].id), want);
                    top = want;
                }
            }
            si++;
        } else if (l->kind == IU_BAD) {
            if (di < (size_t)nd)
                iu_check_dlq(&t, f, l, i + 1, &de[di], x);
            di++;
        }
    }
    lbt_entries_free(se, ns);
    lbt_entries_free(de, nd);
    if (t.bad > 0 && t.used + 40 < cap)
        snprintf(why + t.used, cap - t.used, "(%ld differences in all)", t.bad);
    return t.bad > 0 ? -1 : 0;
}

int iu_ckpt(redisContext *c, const char *key, const char *src, struct lb_ckpt *ck)
{
    memset(ck, 0, sizeof(*ck));
    redisReply *r = redisCommand(c, "HGET %s %s", key, src);
    if (r == NULL)
        return -1;
    int rc = -1;
    if (r->type == REDIS_REPLY_NIL)
        rc = 0;
    else if (r->type == REDIS_REPLY_STRING)
        rc = lb_ckpt_parse(r->str, r->len, ck, NULL) == 0 ? 1 : -1;
    freeReplyObject(r);
    return rc;
}

int iu_check_ckpt(redisContext *c, const char *key, const char *src, const struct iu_fix *f,
                  size_t upto, const char *path, const char *last_id, char *why, size_t cap)
{
    struct lb_ckpt ck;
    int rc = iu_ckpt(c, key, src, &ck);
    if (rc != 1) {
        snprintf(why, cap, "no readable checkpoint %s[%s] (%d)", key, src, rc);
        return -1;
    }
    uint64_t want_off = upto == 0 ? 0 : iu_fix_line_end(f, upto - 1);
    if (ck.off != want_off || ck.line != upto) {
        snprintf(why, cap,
                 "checkpoint off=%" PRIu64 " line=%" PRIu64 ", want off=%" PRIu64 " line=%zu",
                 ck.off, ck.line, want_off, upto);
        return -1;
    }
    char fp[LB_FP_HEX];
    lb_fp_hex(f->buf, want_off < LB_FP_LEN ? (size_t)want_off : LB_FP_LEN, fp);
    if (strcmp(fp, ck.fp) != 0) {
        snprintf(why, cap, "checkpoint fp=%s, want %s (FNV-1a of the first %d bytes)", ck.fp, fp,
                 (int)(want_off < LB_FP_LEN ? want_off : LB_FP_LEN));
        return -1;
    }
    if (path != NULL) {
        struct stat st;
        if (stat(path, &st) != 0 || ck.dev != (unsigned long long)st.st_dev ||
            ck.ino != (unsigned long long)st.st_ino) {
            snprintf(why, cap, "checkpoint dev=%llu ino=%llu, the file is dev=%llu ino=%llu",
                     ck.dev, ck.ino, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
            return -1;
        }
    }
    if (last_id != NULL && strcmp(last_id, ck.id) != 0) {
        snprintf(why, cap, "checkpoint id='%s', want '%s'", ck.id, last_id);
        return -1;
    }
    return 0;
}

int iu_last_id(redisContext *c, const char *key, char out[48])
{
    out[0] = '\0';
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", key);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    if (r->elements == 1)
        snprintf(out, 48, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    return 0;
}

/* The value of field name of entry e (an XRANGE element), or NULL. */
static const char *iu_entry_field(const redisReply *e, const char *name)
{
    const redisReply *fl = e->element[1];
    for (size_t j = 0; j + 1 < fl->elements; j += 2)
        if (strcmp(fl->element[j]->str, name) == 0)
            return fl->element[j + 1]->str;
    return NULL;
}

int iu_check_prefix(redisContext *c, const struct iu_fix *f, const char *stream, const char *dlq,
                    const char *ckpt_key, const char *src, size_t *line_out, char *why, size_t cap)
{
    /* One MULTI/EXEC, so that a logbridge still running cannot commit a
     * batch between reading the checkpoint and counting the entries. */
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "HGET %s %s", ckpt_key, src);
    redisAppendCommand(c, "XLEN %s", stream);
    redisAppendCommand(c, "XLEN %s", dlq);
    redisAppendCommand(c, "XREVRANGE %s + - COUNT 1", stream);
    redisAppendCommand(c, "XREVRANGE %s + - COUNT 1", dlq);
    redisAppendCommand(c, "EXEC");
    redisReply *x = NULL;
    for (int i = 0; i < 7; i++) {
        void *r = NULL;
        if (redisGetReply(c, &r) != REDIS_OK) {
            snprintf(why, cap, "redis: %s", c->errstr);
            freeReplyObject(x);
            return -1;
        }
        if (i < 6)
            freeReplyObject(r);
        else
            x = r;
    }
    if (x == NULL || x->type != REDIS_REPLY_ARRAY || x->elements != 5) {
        snprintf(why, cap, "MULTI/EXEC failed");
        freeReplyObject(x);
        return -1;
    }
    int rc = -1;
    struct lb_ckpt ck;
    memset(&ck, 0, sizeof(ck));
    const redisReply *h = x->element[0];
    if (h->type == REDIS_REPLY_STRING && lb_ckpt_parse(h->str, h->len, &ck, NULL) != 0) {
        snprintf(why, cap, "checkpoint unreadable: %s", h->str);
        goto out;
    }
    size_t L = 0;
    if (ck.present) {
        L = iu_fix_line_at(f, ck.off);
        if (L == (size_t)-1) {
            snprintf(why, cap, "checkpoint off=%" PRIu64 " is not at a line boundary", ck.off);
            goto out;
        }
        if (ck.line != L) {
            snprintf(why, cap, "checkpoint off=%" PRIu64 " is line %zu, but says line=%" PRIu64,
                     ck.off, L, ck.line);
            goto out;
        }
    }
    *line_out = L;
    size_t v, b;
    iu_fix_counts(f, L, &v, &b, NULL);
    long long xs = x->element[1]->integer, xd = x->element[2]->integer;
    if (xs != (long long)v || xd != (long long)b) {
        snprintf(why, cap,
                 "checkpoint at line %zu (off %" PRIu64 ") covers %zu valid and %zu bad lines, "
                 "but the stream holds %lld and the DLQ %lld",
                 L, ck.off, v, b, xs, xd);
        goto out;
    }
    /* The last entries are the last lines below the checkpoint. */
    long lv = -1, lb = -1;
    for (size_t i = L; i > 0 && (lv < 0 || lb < 0); i--) {
        if (lv < 0 && f->lines[i - 1].kind == IU_VALID)
            lv = (long)i - 1;
        if (lb < 0 && f->lines[i - 1].kind == IU_BAD)
            lb = (long)i - 1;
    }
    if (lv >= 0 && x->element[3]->elements == 1) {
        const char *off = iu_entry_field(x->element[3]->element[0], "off");
        unsigned long long o = off ? strtoull(off, NULL, 10) : ULLONG_MAX;
        if (o != f->lines[lv].off) {
            snprintf(why, cap, "the stream's last entry has off=%llu, want %" PRIu64, o,
                     f->lines[lv].off);
            goto out;
        }
    }
    if (lb >= 0 && x->element[4]->elements == 1) {
        const char *ln = iu_entry_field(x->element[4]->element[0], "line");
        long long n = ln ? strtoll(ln, NULL, 10) : -1;
        if (n != lb + 1) {
            snprintf(why, cap, "the DLQ's last entry has line=%lld, want %ld", n, lb + 1);
            goto out;
        }
    }
    rc = 0;
out:
    freeReplyObject(x);
    return rc;
}
