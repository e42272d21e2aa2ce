/*
 * import_util.c - see import_util.h: the fixtures (seeded random numbers,
 * lines with their expected fate, the generator, writing plain or gzip) and
 * the process and Redis helpers. Verifying a stream against a fixture is in
 * import_verify.c. Test support: failures are returned with a message for
 * the test to assert on; out of memory aborts.
 */
#include "import_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

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
