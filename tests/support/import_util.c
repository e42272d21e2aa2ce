/*
 * import_util.c - see import_util.h. Test support: failures are returned
 * with a message for the test to assert on; out of memory aborts.
 */
#include "import_util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "source.h"

static void *iu_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "import_util: out of memory\n");
        abort();
    }
    return q;
}

/* ---- random numbers ------------------------------------------------------------ */

uint64_t iu_rand(struct iu_rng *r)
{
    /* splitmix64: tiny, and good enough to pick kill points and line kinds */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t iu_below(struct iu_rng *r, uint64_t n)
{
    return n == 0 ? 0 : iu_rand(r) % n;
}

uint64_t iu_seed(const char *what)
{
    const char *env = getenv("LB_TEST_SEED");
    uint64_t seed;
    if (env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 0);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed =
            (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    }
    printf("%s: seed=%" PRIu64 " (LB_TEST_SEED=%" PRIu64 " repeats this run)\n", what, seed, seed);
    fflush(stdout);
    return seed;
}

int iu_scale(void)
{
    const char *env = getenv("LB_TEST_SCALE");
    int s = env != NULL ? atoi(env) : 1;
    return s < 1 ? 1 : s;
}

/* ---- fixtures ---------------------------------------------------------------------- */

void iu_fix_init(struct iu_fix *f)
{
    memset(f, 0, sizeof(*f));
}

void iu_fix_free(struct iu_fix *f)
{
    for (size_t i = 0; i < f->n; i++)
        for (int k = 0; k < 4; k++)
            free(f->lines[i].want[k]);
    free(f->buf);
    free(f->lines);
    memset(f, 0, sizeof(*f));
}

static void iu_fix_put(struct iu_fix *f, const void *p, size_t n)
{
    if (f->len + n + 1 > f->cap) {
        size_t cap = f->cap ? f->cap : 65536;
        while (cap < f->len + n + 1)
            cap *= 2;
        f->buf = iu_xrealloc(f->buf, cap);
        f->cap = cap;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    f->buf[f->len] = '\0';
}

void iu_fix_add(struct iu_fix *f, const void *p, size_t n, const char *ending, int kind,
                const char *reason, int64_t ts_ms)
{
    if (f->n == f->ncap) {
        f->ncap = f->ncap ? f->ncap * 2 : 1024;
        f->lines = iu_xrealloc(f->lines, f->ncap * sizeof(*f->lines));
    }
    struct iu_line *l = &f->lines[f->n++];
    l->off = f->len;
    l->len = n;
    l->end_len = strlen(ending);
    l->kind = kind;
    l->reason = reason;
    l->ts_ms = ts_ms;
    memset(l->want, 0, sizeof(l->want));
    iu_fix_put(f, p, n);
    iu_fix_put(f, ending, l->end_len);
}

void iu_fix_valid(struct iu_fix *f, const char *role, const char *ts, int64_t ts_ms,
                  const char *type, const char *data)
{
    size_t n = strlen(role) + strlen(ts) + strlen(type) + strlen(data) + 4;
    char *tmp = iu_xrealloc(NULL, n);
    snprintf(tmp, n, "%s|%s|%s|%s", role, ts, type, data);
    iu_fix_add(f, tmp, strlen(tmp), "\n", IU_VALID, NULL, ts_ms);
    free(tmp);
}

void iu_fix_expect(struct iu_fix *f, const char *role, const char *ts, const char *type,
                   const char *data)
{
    struct iu_line *l = &f->lines[f->n - 1];
    const char *v[4] = {role, ts, type, data};
    for (int k = 0; k < 4; k++) {
        free(l->want[k]);
        l->want[k] = strdup(v[k]);
        if (l->want[k] == NULL)
            abort();
    }
}

void iu_fix_bad(struct iu_fix *f, const char *text, const char *reason)
{
    iu_fix_add(f, text, strlen(text), "\n", IU_BAD, reason, INT64_MIN);
}

/* "2025-06-18T10:00:00.123Z" and variants, from ms; independent of the
 * parser under test (gmtime_r). */
static size_t iu_iso(int64_t ms, int form, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    struct tm tm;
    int n = 0;
    switch (form) {
    case 1: { /* +02:00 offset: the local time is two hours ahead */
        time_t l = s + 7200;
        gmtime_r(&l, &tm);
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+02:00", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        break;
    }
    case 2: /* epoch ms, 13 digits */
        n = snprintf(out, cap, "%" PRId64, ms);
        break;
    case 3: /* a space for the T, and a fraction of 6 digits (sub-ms truncated) */
        gmtime_r(&s, &tm);
        n = snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d.%03d789Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        break;
    case 4: /* -0530 offset without a colon */
    {
        time_t l = s - 19800;
        gmtime_r(&l, &tm);
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03d-0530", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        break;
    }
    default:
        gmtime_r(&s, &tm);
        n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
        break;
    }
    return n < 0 ? 0 : (size_t)n;
}

static const char *const iu_roles[] = {"web", "worker", "billing", "api-7", "batch_job"};
static const char *const iu_types[] = {"login", "click", "pay", "logout", "error", "caf\xc3\xa9"};

static size_t iu_gen_data(struct iu_rng *rng, char *out, size_t want)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                "=:,.-_/\"\\{}[]";
    for (size_t i = 0; i < want; i++) {
        uint64_t r = iu_below(rng, 1000);
        if (r < 15)
            out[i] = '|';
        else if (r < 17)
            out[i] = '\t';
        else if (r < 18)
            out[i] = '\x01';
        else
            out[i] = alpha[iu_below(rng, sizeof(alpha) - 1)];
    }
    return want;
}

static void iu_gen_bad(struct iu_fix *f, const struct iu_gen *g, struct iu_rng *rng, const char *ts,
                       char *tmp, size_t cap)
{
    int kinds = g->max_line > 0 ? 15 : 14;
    int k = (int)iu_below(rng, (uint64_t)kinds);
    const char *reason = "fields";
    size_t n = 0;
    switch (k) {
    case 0:
        n = (size_t)snprintf(tmp, cap, "no separators on this line at all");
        break;
    case 1:
        n = (size_t)snprintf(tmp, cap, "web|%s", ts);
        break;
    case 2:
        n = (size_t)snprintf(tmp, cap, "web|%s|login", ts);
        break;
    case 3:
        n = (size_t)snprintf(tmp, cap, "    ");
        break;
    case 4:
        reason = "role";
        n = (size_t)snprintf(tmp, cap, "|%s|login|empty role", ts);
        break;
    case 5:
        reason = "role";
        n = (size_t)snprintf(tmp, cap,
                             "we\x01"
                             "b|%s|login|control byte in role",
                             ts);
        break;
    case 6:
        reason = "role";
        memset(tmp, 'r', 256);
        n = 256 + (size_t)snprintf(tmp + 256, cap - 256, "|%s|login|role of 256 bytes", ts);
        break;
    case 7:
        reason = "type";
        n = (size_t)snprintf(tmp, cap, "web|%s||empty type", ts);
        break;
    case 8:
        reason = "type";
        n = (size_t)snprintf(tmp, cap, "web|%s|lo\x7fgin|DEL in type", ts);
        break;
    case 9:
        reason = "type";
        n = (size_t)snprintf(tmp, cap, "web|%s|", ts);
        memset(tmp + n, 't', 256);
        n += 256;
        n += (size_t)snprintf(tmp + n, cap - n, "|type of 256 bytes");
        break;
    case 10:
        reason = "timestamp";
        n = (size_t)snprintf(tmp, cap, "web|2025-06-18|login|a date alone");
        break;
    case 11:
        reason = "timestamp";
        n = (size_t)snprintf(tmp, cap, "web|yesterday|login|words");
        break;
    case 12:
        reason = "timestamp";
        n = (size_t)snprintf(tmp, cap, "web||login|empty timestamp");
        break;
    case 13:
        reason = "timestamp";
        n = (size_t)snprintf(tmp, cap, "web|123456789012|login|12 digits");
        break;
    default: {
        /* Longer than --max-line: mostly a little, sometimes past 64 KiB
         * and past a read chunk, so raw is cut and the line spans reads. */
        reason = "too_long";
        size_t len = g->max_line + 1 + (size_t)iu_below(rng, 3000);
        if (iu_below(rng, 8) == 0)
            len = 66000 + (size_t)iu_below(rng, 300000);
        char *big = iu_xrealloc(NULL, len + 1);
        int h = snprintf(big, len + 1, "web|%s|login|", ts);
        for (size_t i = (size_t)h; i < len; i++)
            big[i] = (char)('a' + (i * 7 + len) % 26);
        iu_fix_add(f, big, len, "\n", IU_BAD, reason, INT64_MIN);
        free(big);
        return;
    }
    }
    iu_fix_add(f, tmp, n, "\n", IU_BAD, reason, INT64_MIN);
}

void iu_fix_gen(struct iu_fix *f, const struct iu_gen *g, struct iu_rng *rng)
{
    int64_t t = g->t0_ms > 0 ? g->t0_ms : INT64_C(1750240800000);
    char ts[64], tmp[4096], data[256];
    for (long i = 0; i < g->lines; i++) {
        t += (int64_t)iu_below(rng, 4);
        int form = (int)iu_below(rng, 20);
        form = form < 16 ? 0 : form - 15; /* 80 % plain ISO with Z */
        iu_iso(t, form, ts, sizeof(ts));
        uint64_t r = iu_below(rng, 1000);
        if (r < (uint64_t)g->bad_permille) {
            iu_gen_bad(f, g, rng, ts, tmp, sizeof(tmp));
            continue;
        }
        if (r < (uint64_t)(g->bad_permille + g->blank_permille)) {
            iu_fix_add(f, "", 0, iu_below(rng, 2) ? "\r\n" : "\n", IU_BLANK, NULL, INT64_MIN);
            continue;
        }
        size_t dn = 60 + (size_t)iu_below(rng, 141);
        if (iu_below(rng, 50) == 0)
            dn = 0;
        iu_gen_data(rng, data, dn);
        int n = snprintf(tmp, sizeof(tmp), "%s|%s|%s|", iu_roles[iu_below(rng, 5)], ts,
                         iu_types[iu_below(rng, 6)]);
        memcpy(tmp + n, data, dn);
        const char *ending = iu_below(rng, 1000) < (uint64_t)g->crlf_permille ? "\r\n" : "\n";
        iu_fix_add(f, tmp, (size_t)n + dn, ending, IU_VALID, NULL, t);
    }
}

int iu_fix_write(const struct iu_fix *f, const char *path)
{
    return lbt_write_file(path, f->buf, f->len);
}

int iu_fix_write_gz(const struct iu_fix *f, const char *path)
{
    gzFile gz = gzopen(path, "wb6");
    if (gz == NULL)
        return -1;
    size_t o = 0;
    while (o < f->len) {
        unsigned chunk = f->len - o > (1u << 20) ? (1u << 20) : (unsigned)(f->len - o);
        if (gzwrite(gz, f->buf + o, chunk) != (int)chunk) {
            gzclose(gz);
            return -1;
        }
        o += chunk;
    }
    return gzclose(gz) == Z_OK ? 0 : -1;
}

void iu_fix_counts(const struct iu_fix *f, size_t upto, size_t *valid, size_t *bad, size_t *blank)
{
    size_t v = 0, b = 0, k = 0;
    for (size_t i = 0; i < upto && i < f->n; i++) {
        if (f->lines[i].kind == IU_VALID)
            v++;
        else if (f->lines[i].kind == IU_BAD)
            b++;
        else
            k++;
    }
    if (valid)
        *valid = v;
    if (bad)
        *bad = b;
    if (blank)
        *blank = k;
}

uint64_t iu_fix_line_end(const struct iu_fix *f, size_t i)
{
    return f->lines[i].off + f->lines[i].len + f->lines[i].end_len;
}

size_t iu_fix_line_at(const struct iu_fix *f, uint64_t off)
{
    size_t lo = 0, hi = f->n;
    if (f->n > 0 && off == iu_fix_line_end(f, f->n - 1))
        return f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->lines[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < f->n && f->lines[lo].off == off ? lo : (size_t)-1;
}

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

/* ---- processes and redis ------------------------------------------------------------ */

void iu_args_init(struct iu_args *a)
{
    memset(a, 0, sizeof(*a));
}

void iu_args_add(struct iu_args *a, ...)
{
    va_list ap;
    va_start(ap, a);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (a->n + 1 >= (int)(sizeof(a->v) / sizeof(a->v[0])))
            abort();
        a->v[a->n++] = s;
    }
    a->v[a->n] = NULL;
    va_end(ap);
}

int iu_try_wait(pid_t pid, int *code)
{
    int st;
    pid_t p = waitpid(pid, &st, WNOHANG);
    if (p != pid)
        return 0;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 1;
}

long long iu_cmd_calls(redisContext *c, const char *cmd)
{
    redisReply *r = redisCommand(c, "INFO commandstats");
    long long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        char key[64];
        snprintf(key, sizeof(key), "cmdstat_%s:calls=", cmd);
        const char *p = strstr(r->str, key);
        n = p ? strtoll(p + strlen(key), NULL, 10) : 0;
    }
    freeReplyObject(r);
    return n;
}

long long iu_dbsize(redisContext *c)
{
    redisReply *r = redisCommand(c, "DBSIZE");
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

int iu_wait_clients(redisContext *c, long n, int timeout_ms)
{
    int64_t end = lbt_now_ms() + timeout_ms;
    for (;;) {
        redisReply *r = redisCommand(c, "INFO clients");
        const char *p = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "connected_clients:")
                                                           : NULL;
        long have = p != NULL ? atol(p + 18) : -1;
        freeReplyObject(r);
        if (have >= 0 && have <= n)
            return 1;
        if (lbt_now_ms() >= end)
            return 0;
        lbt_sleep_ms(5);
    }
}

int iu_cmd(redisContext *c, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, c);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && argc < 32)
        argv[argc++] = s;
    va_end(ap);
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int rc = r != NULL && r->type != REDIS_REPLY_ERROR ? 0 : -1;
    freeReplyObject(r);
    return rc;
}

cJSON *iu_summary(const char *out)
{
    for (const char *p = out; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > 0 && p[0] == '{') {
            cJSON *o = cJSON_ParseWithLength(p, n);
            if (o != NULL)
                return o;
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

static const cJSON *iu_jobj(const cJSON *sum, int file)
{
    if (sum == NULL)
        return NULL;
    if (file < 0)
        return sum;
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(sum, "files");
    return cJSON_GetArrayItem(files, file);
}

double iu_jnum(const cJSON *sum, int file, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(iu_jobj(sum, file), key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int iu_jbool(const cJSON *sum, int file, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(iu_jobj(sum, file), key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

int iu_count_lines_with(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *hit = strstr(p, needle);
        if (hit != NULL && hit < p + len)
            n++;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}
