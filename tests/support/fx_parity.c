/*
 * fx_parity.c - the fixture and helpers of the `logbridge parity` tests
 * (fx_parity.h).
 */
#include "fx_parity.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "checkpoint.h"

struct lbt_redis pu_redis;
static int g_redis_ok;

/* ---- fixtures ------------------------------------------------------------------------ */

int fx_parity_group_setup(void **state)
{
    (void)state;
    g_redis_ok = lbt_redis_start(&pu_redis, 0) == 0;
    return 0;
}

int fx_parity_group_teardown(void **state)
{
    (void)state;
    lbt_redis_stop(&pu_redis, 1);
    return 0;
}

int fx_parity_setup(void **state)
{
    if (!g_redis_ok)
        return -1;
    struct fx_parity *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    f->c = lbt_connect(&pu_redis);
    if (f->c == NULL)
        return -1;
    redisReply *r = redisCommand(f->c, "FLUSHALL");
    freeReplyObject(r);
    *state = f;
    return 0;
}

int fx_parity_teardown(void **state)
{
    struct fx_parity *f = *state;
    if (f != NULL) {
        redisFree(f->c);
        lbt_rmdir(f->dir);
        free(f);
    }
    return 0;
}

void pu_path_in(const struct fx_parity *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
}

/* n standard lines, numbered from first. */
void pu_write_lines(const char *path, long first, long n)
{
    size_t cap = (size_t)n * 128 + 1, len = 0;
    char *buf = malloc(cap);
    for (long i = first; i < first + n; i++)
        len += lbt_line(buf + len, cap - len, i);
    assert_int_equal(lbt_write_file(path, buf, len), 0);
    free(buf);
}

void pu_write_gz(const char *path, const char *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

/* ---- running logbridge ------------------------------------------------------------------ */

void pu_args_add(struct pu_args *a, const char *s)
{
    assert_true(a->n < 62);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void pu_args_addv(struct pu_args *a, va_list ap)
{
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        pu_args_add(a, s);
}

/* logbridge import --final of files (NULL-terminated, after options). */
void pu_import(const char *stream, const char *opt1, const char *opt2, ...)
{
    struct pu_args a = {{0}, 0};
    pu_args_add(&a, "import");
    pu_args_add(&a, "--redis");
    pu_args_add(&a, pu_redis.url);
    pu_args_add(&a, "--stream");
    pu_args_add(&a, stream);
    pu_args_add(&a, "--final");
    pu_args_add(&a, "--no-progress");
    if (opt1 != NULL)
        pu_args_add(&a, opt1);
    if (opt2 != NULL)
        pu_args_add(&a, opt2);
    va_list ap;
    va_start(ap, opt2);
    pu_args_addv(&a, ap);
    va_end(ap);
    char err[4096];
    int rc = lbt_run(a.v, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("import exited %d: %s", rc, err);
}

long long pu_pnum(const struct pu_pres *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!cJSON_IsNumber(v))
        fail_msg("report has no number %s: %s", key, r->out);
    return (long long)v->valuedouble;
}

/* logbridge parity --report json ARGS... (NULL-terminated). */
void pu_parity(struct pu_pres *r, ...)
{
    struct pu_args a = {{0}, 0};
    pu_args_add(&a, "parity");
    pu_args_add(&a, "--redis");
    pu_args_add(&a, pu_redis.url);
    pu_args_add(&a, "--report");
    pu_args_add(&a, "json");
    va_list ap;
    va_start(ap, r);
    pu_args_addv(&a, ap);
    va_end(ap);
    cJSON_Delete(r->root);
    r->root = NULL;
    r->rc = lbt_run(a.v, r->out, sizeof(r->out), r->err, sizeof(r->err), NULL, 0);
    if (r->rc != 0 && r->rc != 1)
        fail_msg("parity exited %d: %s", r->rc, r->err);
    r->root = cJSON_Parse(r->out);
    if (r->root == NULL)
        fail_msg("parity printed no JSON: %s / %s", r->out, r->err);
    /* No inconsistency may be reported on stderr. */
    if (strstr(r->err, "inconsistent") != NULL)
        fail_msg("%s", r->err);
}

void pu_pres_free(struct pu_pres *r)
{
    cJSON_Delete(r->root);
    r->root = NULL;
}

void pu_expect_report(const struct pu_pres *r, struct pu_want w)
{
    struct {
        const char *k;
        long long v;
    } kv[] = {
        {"file_lines", w.file_lines}, {"stream_entries", w.stream_entries},
        {"matched", w.matched},       {"missing_in_stream", w.missing},
        {"extra_in_stream", w.extra}, {"mismatched", w.mismatched},
        {"out_of_order", w.ooo},      {"trimmed", w.trimmed},
        {"bad_lines", w.bad},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (pu_pnum(r, kv[i].k) != kv[i].v)
            fail_msg("%s = %lld, want %lld\n%s", kv[i].k, pu_pnum(r, kv[i].k), kv[i].v, r->out);
    int equal = w.missing + w.extra + w.mismatched + w.ooo == 0;
    const cJSON *eq = cJSON_GetObjectItemCaseSensitive(r->root, "equal");
    assert_true(cJSON_IsBool(eq));
    assert_int_equal(cJSON_IsTrue(eq), equal);
    assert_int_equal(r->rc, equal ? 0 : 1);
    /* Examples: one per difference, up to the default 10; none when equal. */
    long long diffs = w.missing + w.extra + w.mismatched + w.ooo;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r->root, "examples");
    assert_int_equal(cJSON_GetArraySize(ex), diffs < 10 ? diffs : 10);
    assert_int_equal(cJSON_GetArraySize(r->root), 14);
}

void pu_expect_pending_accepted(const struct pu_pres *r, long long pending, long long accepted)
{
    if (pu_pnum(r, "pending") != pending || pu_pnum(r, "accepted") != accepted)
        fail_msg("pending = %lld, accepted = %lld, want %lld, %lld\n%s", pu_pnum(r, "pending"),
                 pu_pnum(r, "accepted"), pending, accepted, r->out);
}

const cJSON *pu_example(const struct pu_pres *r, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->root, "examples"), i);
}

const char *pu_ex_str(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

long long pu_ex_num(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* ---- stream helpers -------------------------------------------------------------------------- */

void pu_ids_load(redisContext *c, const char *stream, struct pu_ids *ids)
{
    struct lbt_entry *e;
    long n = lbt_xrange_all(c, stream, &e);
    assert_true(n >= 0);
    ids->id = calloc((size_t)n + 1, sizeof(*ids->id));
    for (long i = 0; i < n; i++)
        snprintf(ids->id[i], sizeof(ids->id[i]), "%s", e[i].id);
    ids->n = n;
    lbt_entries_free(e, n);
}

void pu_ids_free(struct pu_ids *ids)
{
    free(ids->id);
}

void pu_cmd_ok(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s %s: %s", argv[0], argc > 1 ? argv[1] : "", r->str);
    freeReplyObject(r);
}

void pu_xdel(redisContext *c, const char *stream, const char *id)
{
    const char *v[3] = {"XDEL", stream, id};
    pu_cmd_ok(c, 3, v);
}

void pu_xadd_line(redisContext *c, const char *stream, uint64_t ms, uint64_t seq, const char *line,
                  size_t n, uint64_t off, const struct pu_craft *cr)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    const char *b1 = memchr(line, '|', n);
    assert_non_null(b1);
    const char *b2 = memchr(b1 + 1, '|', (size_t)(line + n - b1 - 1));
    assert_non_null(b2);
    const char *b3 = memchr(b2 + 1, '|', (size_t)(line + n - b2 - 1));
    assert_non_null(b3);
    char id[64], offs[32];
    snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, ms, seq);
    snprintf(offs, sizeof(offs), "%" PRIu64, off);
    const char *argv[20];
    size_t lens[20];
    int k = 0;
#define ARG(p, l) (argv[k] = (p), lens[k] = (l), k++)
    ARG("XADD", 4);
    ARG(stream, strlen(stream));
    ARG(id, strlen(id));
    if (cr->json) {
        cJSON *o = cJSON_CreateObject();
        char *role = strndup(line, (size_t)(b1 - line));
        char *ts = strndup(b1 + 1, (size_t)(b2 - b1 - 1));
        char *type = strndup(b2 + 1, (size_t)(b3 - b2 - 1));
        char *data = strndup(b3 + 1, (size_t)(line + n - b3 - 1));
        cJSON_AddStringToObject(o, "role", role);
        if (!cr->no_ts)
            cJSON_AddStringToObject(o, "timestamp", ts);
        cJSON_AddStringToObject(o, "type", type);
        cJSON_AddStringToObject(o, "data", data);
        if (cr->prov) {
            cJSON_AddStringToObject(o, "src", cr->src);
            cJSON_AddNumberToObject(o, "off", (double)off);
        }
        char *payload = cJSON_PrintUnformatted(o);
        ARG("json_payload", 12);
        ARG(payload, strlen(payload));
        redisReply *r = redisCommandArgv(c, k, argv, lens);
        assert_non_null(r);
        if (r->type == REDIS_REPLY_ERROR)
            fail_msg("XADD: %s", r->str);
        freeReplyObject(r);
        free(payload);
        cJSON_Delete(o);
        free(role);
        free(ts);
        free(type);
        free(data);
        return;
    }
    ARG("role", 4);
    ARG(line, (size_t)(b1 - line));
    if (!cr->no_ts) {
        ARG("timestamp", 9);
        ARG(b1 + 1, (size_t)(b2 - b1 - 1));
    }
    ARG("type", 4);
    ARG(b2 + 1, (size_t)(b3 - b2 - 1));
    ARG("data", 4);
    ARG(b3 + 1, (size_t)(line + n - b3 - 1));
    if (cr->prov) {
        ARG("src", 3);
        ARG(cr->src, strlen(cr->src));
        ARG("off", 3);
        ARG(offs, strlen(offs));
    }
#undef ARG
    redisReply *r = redisCommandArgv(c, k, argv, lens);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("XADD: %s", r->str);
    freeReplyObject(r);
}

void pu_flines_load(const char *path, struct pu_flines *fl)
{
    memset(fl, 0, sizeof(*fl));
    fl->buf = lbt_read_file(path, &fl->len);
    assert_non_null(fl->buf);
    fl->off = calloc(fl->len + 1, sizeof(size_t));
    fl->lenv = calloc(fl->len + 1, sizeof(size_t));
    size_t s = 0;
    for (size_t i = 0; i <= fl->len; i++) {
        if (i == fl->len && s == fl->len)
            break;
        if (i == fl->len || fl->buf[i] == '\n') {
            fl->off[fl->n] = s;
            fl->lenv[fl->n] = i - s;
            fl->n++;
            s = i + 1;
        }
    }
}

void pu_flines_free(struct pu_flines *fl)
{
    free(fl->buf);
    free(fl->off);
    free(fl->lenv);
}

void pu_xadd_flines(redisContext *c, const char *stream, uint64_t ms, const struct pu_flines *fl,
                    size_t i, const struct pu_craft *cr)
{
    pu_xadd_line(c, stream, ms, 0, fl->buf + fl->off[i], fl->lenv[i], fl->off[i], cr);
}

void pu_abs_of(const char *path, char *out, size_t cap)
{
    assert_int_equal(lb_abs_path(path, out, cap), 0);
}

const struct pu_mode pu_modes[PU_NMODES] = {
    {NULL, NULL},
    {"--no-provenance", NULL},
    {NULL, "--encoding=json"},
    {"--no-provenance", "--encoding=json"},
};
