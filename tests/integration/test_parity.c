/*
 * test_parity.c - `logbridge parity` against a real redis-server.
 *
 * Each test builds a stream from a file (with `logbridge import`, or crafted
 * here with explicit IDs when the edit cannot be made with XADD at the top),
 * injects discrepancies one by one and together, and asserts the exact
 * counts of the JSON report and the exit code. Expected counts come from the
 * edit made, never from parity's own code. Every case runs with and without
 * provenance and in both encodings where that makes a difference.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "lbtest.h"
#include "parity_xml.h"
#include "record.h"

static struct lbt_redis g_redis;
static int g_redis_ok;

struct fx {
    char dir[256];
    redisContext *c;
};

/* ---- fixtures ------------------------------------------------------------------------ */

static int group_setup(void **state)
{
    (void)state;
    g_redis_ok = lbt_redis_start(&g_redis, 0) == 0;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    lbt_redis_stop(&g_redis, 1);
    return 0;
}

static int setup(void **state)
{
    if (!g_redis_ok)
        return -1;
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    f->c = lbt_connect(&g_redis);
    if (f->c == NULL)
        return -1;
    redisReply *r = redisCommand(f->c, "FLUSHALL");
    freeReplyObject(r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f != NULL) {
        redisFree(f->c);
        lbt_rmdir(f->dir);
        free(f);
    }
    return 0;
}

static void path_in(const struct fx *f, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", f->dir, name);
}

/* n standard lines, numbered from first. */
static void write_lines(const char *path, long first, long n)
{
    size_t cap = (size_t)n * 128 + 1, len = 0;
    char *buf = malloc(cap);
    for (long i = first; i < first + n; i++)
        len += lbt_line(buf + len, cap - len, i);
    assert_int_equal(lbt_write_file(path, buf, len), 0);
    free(buf);
}

static void write_gz(const char *path, const char *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    assert_non_null(g);
    assert_int_equal(gzwrite(g, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

/* ---- running logbridge ------------------------------------------------------------------ */

struct args {
    const char *v[64];
    int n;
};

static void args_add(struct args *a, const char *s)
{
    assert_true(a->n < 62);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void args_addv(struct args *a, va_list ap)
{
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        args_add(a, s);
}

/* logbridge import --final of files (NULL-terminated, after options). */
static void import(const char *stream, const char *opt1, const char *opt2, ...)
{
    struct args a = {{0}, 0};
    args_add(&a, "import");
    args_add(&a, "--redis");
    args_add(&a, g_redis.url);
    args_add(&a, "--stream");
    args_add(&a, stream);
    args_add(&a, "--final");
    args_add(&a, "--no-progress");
    if (opt1 != NULL)
        args_add(&a, opt1);
    if (opt2 != NULL)
        args_add(&a, opt2);
    va_list ap;
    va_start(ap, opt2);
    args_addv(&a, ap);
    va_end(ap);
    char err[4096];
    int rc = lbt_run(a.v, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("import exited %d: %s", rc, err);
}

struct pres {
    int rc;
    cJSON *root;
    char out[1 << 16];
    char err[8192];
};

static long long pnum(const struct pres *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!cJSON_IsNumber(v))
        fail_msg("report has no number %s: %s", key, r->out);
    return (long long)v->valuedouble;
}

/* logbridge parity --report json ARGS... (NULL-terminated). */
static void parity(struct pres *r, ...)
{
    struct args a = {{0}, 0};
    args_add(&a, "parity");
    args_add(&a, "--redis");
    args_add(&a, g_redis.url);
    args_add(&a, "--report");
    args_add(&a, "json");
    va_list ap;
    va_start(ap, r);
    args_addv(&a, ap);
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

static void pres_free(struct pres *r)
{
    cJSON_Delete(r->root);
    r->root = NULL;
}

struct want {
    long long file_lines, stream_entries, matched, missing, extra, mismatched, ooo, trimmed, bad;
};

static void expect_report(const struct pres *r, struct want w)
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
        if (pnum(r, kv[i].k) != kv[i].v)
            fail_msg("%s = %lld, want %lld\n%s", kv[i].k, pnum(r, kv[i].k), kv[i].v, r->out);
    int equal = w.missing + w.extra + w.mismatched + w.ooo == 0;
    const cJSON *eq = cJSON_GetObjectItemCaseSensitive(r->root, "equal");
    assert_true(cJSON_IsBool(eq));
    assert_int_equal(cJSON_IsTrue(eq), equal);
    assert_int_equal(r->rc, equal ? 0 : 1);
    /* Examples: one per difference, up to the default 10; none when equal. */
    long long diffs = w.missing + w.extra + w.mismatched + w.ooo;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(r->root, "examples");
    assert_int_equal(cJSON_GetArraySize(ex), diffs < 10 ? diffs : 10);
    assert_int_equal(cJSON_GetArraySize(r->root), 11);
}

static const cJSON *example(const struct pres *r, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r->root, "examples"), i);
}

static const char *ex_str(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long ex_num(const cJSON *e, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, key);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : -1;
}

/* ---- stream helpers -------------------------------------------------------------------------- */

struct ids {
    char (*id)[48];
    long n;
};

static void ids_load(redisContext *c, const char *stream, struct ids *ids)
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

static void ids_free(struct ids *ids)
{
    free(ids->id);
}

static void cmd_ok(redisContext *c, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_ERROR)
        fail_msg("%s %s: %s", argv[0], argc > 1 ? argv[1] : "", r->str);
    freeReplyObject(r);
}

static void xdel(redisContext *c, const char *stream, const char *id)
{
    const char *v[3] = {"XDEL", stream, id};
    cmd_ok(c, 3, v);
}

/* One crafted entry from a legacy line (split at the first three '|'). */
struct craft {
    int prov;        /* add src and off */
    int json;        /* the json encoding */
    int no_ts;       /* leave the timestamp field out (mirror takes the ID's) */
    const char *src; /* src value */
};

static void xadd_line(redisContext *c, const char *stream, uint64_t ms, uint64_t seq,
                      const char *line, size_t n, uint64_t off, const struct craft *cr)
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

/* A file's lines: text (without '\n') and offset. */
struct flines {
    char *buf;
    size_t len;
    size_t n;
    size_t *off, *lenv;
};

static void flines_load(const char *path, struct flines *fl)
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

static void flines_free(struct flines *fl)
{
    free(fl->buf);
    free(fl->off);
    free(fl->lenv);
}

static void xadd_flines(redisContext *c, const char *stream, uint64_t ms, const struct flines *fl,
                        size_t i, const struct craft *cr)
{
    xadd_line(c, stream, ms, 0, fl->buf + fl->off[i], fl->lenv[i], fl->off[i], cr);
}

static void abs_of(const char *path, char *out, size_t cap)
{
    assert_int_equal(lb_abs_path(path, out, cap), 0);
}

/* The four ways a stream can hold lines. */
static const struct {
    const char *prov;
    const char *enc;
} g_modes[] = {
    {NULL, NULL},
    {"--no-provenance", NULL},
    {NULL, "--encoding=json"},
    {"--no-provenance", "--encoding=json"},
};

/* ---- equal -------------------------------------------------------------------------------------
 */

static void parity_equal_after_import(void **state)
{
    struct fx *f = *state;
    char p[300], s[32];
    path_in(f, "app.log", p, sizeof(p));
    write_lines(p, 0, 700);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "eq%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){700, 700, 700, 0, 0, 0, 0, 0, 0});
        /* --order any agrees */
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){700, 700, 700, 0, 0, 0, 0, 0, 0});
    }
    pres_free(&r);
}

/* ---- one discrepancy at a time -----------------------------------------------------------------
 */

static void parity_xdel_is_one_missing(void **state)
{
    struct fx *f = *state;
    char p[300], s[32];
    path_in(f, "app.log", p, sizeof(p));
    write_lines(p, 0, 600);
    struct flines fl;
    flines_load(p, &fl);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "xd%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        struct ids ids;
        ids_load(f->c, s, &ids);
        assert_int_equal(ids.n, 600);
        xdel(f->c, s, ids.id[250]);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){600, 599, 599, 1, 0, 0, 0, 0, 0});
        const cJSON *e = example(&r, 0);
        assert_string_equal(ex_str(e, "kind"), "missing_in_stream");
        assert_string_equal(ex_str(e, "file"), p);
        assert_int_equal(ex_num(e, "line"), 251);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "id")));
        assert_int_equal(strlen(ex_str(e, "expected")), fl.lenv[250]);
        assert_memory_equal(ex_str(e, "expected"), fl.buf + fl.off[250], fl.lenv[250]);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "actual")));
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){600, 599, 599, 1, 0, 0, 0, 0, 0});
        assert_int_equal(ex_num(example(&r, 0), "line"), 251);
        ids_free(&ids);
    }
    flines_free(&fl);
    pres_free(&r);
}

static void parity_xadd_is_extra(void **state)
{
    struct fx *f = *state;
    char p[300], s[32], ap[PATH_MAX];
    path_in(f, "app.log", p, sizeof(p));
    abs_of(p, ap, sizeof(ap));
    write_lines(p, 0, 500);
    struct flines fl;
    flines_load(p, &fl);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "xa%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        /* An entry nobody wrote to the file, and a second copy of line 10
         * (with line 10's provenance when the stream has provenance). */
        struct craft cr = {g_modes[m].prov == NULL, g_modes[m].enc != NULL, 0, ap};
        const char *other = "web|2025-06-18T11:00:00Z|login|not in the file";
        struct craft bare = {0, g_modes[m].enc != NULL, 0, NULL};
        xadd_line(f->c, s, UINT64_C(99999999999999), 0, other, strlen(other), 0, &bare);
        xadd_flines(f->c, s, UINT64_C(99999999999999) + 1, &fl, 10, &cr);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){500, 502, 500, 0, 2, 0, 0, 0, 0});
        const cJSON *e = example(&r, 0);
        assert_string_equal(ex_str(e, "kind"), "extra_in_stream");
        assert_string_equal(ex_str(e, "id"), "99999999999999-0");
        assert_string_equal(ex_str(e, "actual"), other);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "file")));
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){500, 502, 500, 0, 2, 0, 0, 0, 0});
    }
    flines_free(&fl);
    pres_free(&r);
}

/* A crafted copy of the file's stream with one edit, explicit IDs 1000+i. */
enum edit { ED_NONE, ED_CHANGE, ED_SWAP, ED_DELETE, ED_EXTRA };

static void craft_stream(redisContext *c, const char *s, const struct flines *fl,
                         const struct craft *cr, enum edit ed, size_t at)
{
    uint64_t ms = 1000;
    for (size_t i = 0; i < fl->n; i++) {
        if (ed == ED_DELETE && i == at)
            continue;
        if (ed == ED_SWAP && i == at) {
            xadd_flines(c, s, ms++, fl, i + 1, cr);
            xadd_flines(c, s, ms++, fl, i, cr);
            i++;
            continue;
        }
        if (ed == ED_CHANGE && i == at) {
            /* Same role, timestamp, type, provenance; one byte more of data. */
            char line[600];
            size_t n = fl->lenv[i];
            memcpy(line, fl->buf + fl->off[i], n);
            line[n++] = '!';
            xadd_line(c, s, ms++, 0, line, n, fl->off[i], cr);
            continue;
        }
        xadd_flines(c, s, ms++, fl, i, cr);
        if (ed == ED_EXTRA && i == at) {
            const char *x = "worker|2025-06-18T08:00:00.500Z|click|an extra entry";
            struct craft bare = *cr;
            bare.prov = 0;
            xadd_line(c, s, ms++, 0, x, strlen(x), 0, &bare);
        }
    }
}

static void parity_changed_entry_is_one_mismatched(void **state)
{
    struct fx *f = *state;
    char p[300], ap[PATH_MAX], s[32];
    path_in(f, "app.log", p, sizeof(p));
    abs_of(p, ap, sizeof(ap));
    write_lines(p, 0, 400);
    struct flines fl;
    flines_load(p, &fl);
    struct pres r = {0};
    for (int m = 0; m < 4; m++) {
        struct craft cr = {!(m & 1), (m & 2) != 0, 0, ap};
        snprintf(s, sizeof(s), "ch%d", m);
        craft_stream(f->c, s, &fl, &cr, ED_CHANGE, 123);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){400, 400, 399, 0, 0, 1, 0, 0, 0});
        const cJSON *e = example(&r, 0);
        assert_string_equal(ex_str(e, "kind"), "mismatched");
        assert_int_equal(ex_num(e, "line"), 124);
        assert_string_equal(ex_str(e, "id"), "1123-0");
        const char *exp = ex_str(e, "expected"), *act = ex_str(e, "actual");
        assert_int_equal(strlen(exp), fl.lenv[123]);
        assert_int_equal(strlen(act), fl.lenv[123] + 1);
        assert_memory_equal(act, exp, strlen(exp));
        /* As multisets a changed line is one missing and one extra. */
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){400, 400, 399, 1, 1, 0, 0, 0, 0});
    }
    flines_free(&fl);
    pres_free(&r);
}

static void parity_swapped_entries_are_one_out_of_order(void **state)
{
    struct fx *f = *state;
    char p[300], ap[PATH_MAX], s[32];
    path_in(f, "app.log", p, sizeof(p));
    abs_of(p, ap, sizeof(ap));
    write_lines(p, 0, 400);
    struct flines fl;
    flines_load(p, &fl);
    struct pres r = {0};
    for (int m = 0; m < 4; m++) {
        struct craft cr = {!(m & 1), (m & 2) != 0, 0, ap};
        snprintf(s, sizeof(s), "sw%d", m);
        craft_stream(f->c, s, &fl, &cr, ED_SWAP, 200);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){400, 400, 399, 0, 0, 0, 1, 0, 0});
        const cJSON *e = example(&r, 0);
        assert_string_equal(ex_str(e, "kind"), "out_of_order");
        assert_string_equal(ex_str(e, "expected"), ex_str(e, "actual"));
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){400, 400, 400, 0, 0, 0, 0, 0, 0});
    }
    flines_free(&fl);
    pres_free(&r);
}

static void parity_trimmed_head_is_not_missing(void **state)
{
    struct fx *f = *state;
    char p[300], s[32];
    path_in(f, "app.log", p, sizeof(p));
    write_lines(p, 0, 1000);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "tr%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        const char *v[4] = {"XTRIM", s, "MAXLEN", "400"};
        cmd_ok(f->c, 4, v);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){1000, 400, 400, 0, 0, 0, 0, 600, 0});
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){1000, 400, 400, 0, 0, 0, 0, 600, 0});
        /* and by MINID, further */
        struct ids ids;
        ids_load(f->c, s, &ids);
        const char *w[4] = {"XTRIM", s, "MINID", ids.id[100]};
        cmd_ok(f->c, 4, w);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){1000, 300, 300, 0, 0, 0, 0, 700, 0});
        ids_free(&ids);
    }
    pres_free(&r);
}

static void parity_trim_xdel_extra_together(void **state)
{
    struct fx *f = *state;
    char p[300], s[32];
    path_in(f, "app.log", p, sizeof(p));
    write_lines(p, 0, 1000);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "tx%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        struct ids ids;
        ids_load(f->c, s, &ids);
        const char *w[4] = {"XTRIM", s, "MINID", ids.id[300]};
        cmd_ok(f->c, 4, w);
        xdel(f->c, s, ids.id[700]);
        const char *x = "web|2025-06-18T11:00:00Z|login|extra";
        struct craft bare = {0, g_modes[m].enc != NULL, 0, NULL};
        xadd_line(f->c, s, UINT64_C(99999999999999), 0, x, strlen(x), 0, &bare);
        /* 300 trimmed + 1 deleted inside: the deletion inside the retained
         * range is not taken for trimming. */
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){1000, 700, 699, 1, 1, 0, 0, 300, 0});
        assert_int_equal(ex_num(example(&r, 0), "line"), 701);
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){1000, 700, 699, 1, 1, 0, 0, 300, 0});
        ids_free(&ids);
    }
    pres_free(&r);
}

/* A missing line at the very head of a stream that was never trimmed is missing. */
static void parity_missing_head_without_trim_is_missing(void **state)
{
    struct fx *f = *state;
    char p[300], ap[PATH_MAX];
    path_in(f, "app.log", p, sizeof(p));
    abs_of(p, ap, sizeof(ap));
    write_lines(p, 0, 300);
    struct flines fl;
    flines_load(p, &fl);
    struct pres r = {0};
    for (int m = 0; m < 2; m++) {
        struct craft cr = {!m, 0, 0, ap};
        const char *s = m ? "mh1" : "mh0";
        /* the stream starts at line 50: nothing was ever deleted */
        for (size_t i = 50; i < fl.n; i++)
            xadd_flines(f->c, s, 1000 + i, &fl, i, &cr);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){300, 250, 250, 50, 0, 0, 0, 0, 0});
        assert_int_equal(ex_num(example(&r, 0), "line"), 1);
    }
    flines_free(&fl);
    pres_free(&r);
}

/* ---- the file side: bad, blank, CRLF, partial, gz ---------------------------------------------
 */

static void parity_bad_blank_crlf_lines(void **state)
{
    struct fx *f = *state;
    char p[300], s[32];
    path_in(f, "mixed.log", p, sizeof(p));
    char buf[65536];
    size_t len = 0;
    int valid = 0, bad = 0;
    for (long i = 0; i < 200; i++) {
        size_t n = lbt_line(buf + len, sizeof(buf) - len, i);
        if (i % 7 == 0) { /* CRLF ending */
            buf[len + n - 1] = '\r';
            buf[len + n] = '\n';
            n++;
        }
        len += n;
        valid++;
        if (i % 20 == 5) {
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "not a line %ld\n", i);
            bad++;
        }
        if (i % 30 == 3)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n\r\n");
        if (i % 50 == 9) { /* a CR inside DATA: stored raw, compared escaped */
            len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                    "web|2025-06-18T08:00:00Z|login|a\rb\\rc %ld\n", i);
            valid++;
        }
    }
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "bad|ts|x|y\n");
    bad++;
    assert_int_equal(lbt_write_file(p, buf, len), 0);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "bb%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){valid, valid, valid, 0, 0, 0, 0, 0, bad});
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){valid, valid, valid, 0, 0, 0, 0, 0, bad});
    }
    pres_free(&r);
}

static void parity_partial_last_line_counts(void **state)
{
    struct fx *f = *state;
    char p[300];
    path_in(f, "partial.log", p, sizeof(p));
    write_lines(p, 0, 100);
    const char *tail = "web|2025-06-18T09:00:00Z|login|no newline";
    assert_int_equal(lbt_append_file(p, tail, strlen(tail)), 0);
    struct pres r = {0};
    import("pl", NULL, NULL, p, NULL); /* --final: the last line is imported */
    parity(&r, "--stream", "pl", p, NULL);
    expect_report(&r, (struct want){101, 101, 101, 0, 0, 0, 0, 0, 0});
    /* Without --final import holds the last line back: parity sees it missing. */
    struct args a = {{0}, 0};
    const char *v[] = {"import", "--redis",       g_redis.url, "--stream",
                       "pl2",    "--no-progress", p,           NULL};
    for (int i = 0; v[i] != NULL; i++)
        args_add(&a, v[i]);
    assert_int_equal(lbt_run(a.v, NULL, 0, NULL, 0, NULL, 0), 0);
    parity(&r, "--stream", "pl2", p, NULL);
    expect_report(&r, (struct want){101, 100, 100, 1, 0, 0, 0, 0, 0});
    assert_int_equal(ex_num(example(&r, 0), "line"), 101);
    assert_string_equal(ex_str(example(&r, 0), "expected"), tail);
    pres_free(&r);
}

static void parity_rotated_gz_chain(void **state)
{
    struct fx *f = *state;
    char p2[300], p1[300], p0[300], tmp[300];
    path_in(f, "app.log.2.gz", p2, sizeof(p2));
    path_in(f, "app.log.1", p1, sizeof(p1));
    path_in(f, "app.log", p0, sizeof(p0));
    path_in(f, "gen2", tmp, sizeof(tmp));
    write_lines(tmp, 0, 300);
    size_t n;
    char *g2 = lbt_read_file(tmp, &n);
    write_gz(p2, g2, n);
    free(g2);
    write_lines(p1, 300, 300);
    write_lines(p0, 600, 250);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        char s[32];
        snprintf(s, sizeof(s), "gz%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p2, p1, p0, NULL);
        parity(&r, "--stream", s, p2, p1, p0, NULL);
        expect_report(&r, (struct want){850, 850, 850, 0, 0, 0, 0, 0, 0});
        struct ids ids;
        ids_load(f->c, s, &ids);
        xdel(f->c, s, ids.id[42]);  /* from the .gz generation */
        xdel(f->c, s, ids.id[700]); /* from the live file */
        parity(&r, "--stream", s, p2, p1, p0, NULL);
        expect_report(&r, (struct want){850, 848, 848, 2, 0, 0, 0, 0, 0});
        assert_string_equal(ex_str(example(&r, 0), "file"), p2);
        assert_int_equal(ex_num(example(&r, 0), "line"), 43);
        assert_string_equal(ex_str(example(&r, 1), "file"), p0);
        assert_int_equal(ex_num(example(&r, 1), "line"), 101);
        ids_free(&ids);
    }
    pres_free(&r);
}

/* tail gives every generation the live path's name; offsets restart per file. */
static void parity_rotated_chain_with_src(void **state)
{
    struct fx *f = *state;
    char p2[300], p1[300], p0[300], tmp[300];
    path_in(f, "app.log.2.gz", p2, sizeof(p2));
    path_in(f, "app.log.1", p1, sizeof(p1));
    path_in(f, "app.log", p0, sizeof(p0));
    path_in(f, "gen2", tmp, sizeof(tmp));
    /* Generations of equal-length lines: the same offsets occur in each. */
    write_lines(tmp, 0, 200);
    write_lines(p1, 200, 200);
    write_lines(p0, 400, 200);
    size_t n;
    char *g2 = lbt_read_file(tmp, &n);
    write_gz(p2, g2, n);
    free(g2);
    struct flines fl[3];
    flines_load(tmp, &fl[0]);
    flines_load(p1, &fl[1]);
    flines_load(p0, &fl[2]);
    const char *name = "/var/log/app.log";
    struct pres r = {0};
    for (int m = 0; m < 4; m++) {
        struct craft cr = {1, (m & 2) != 0, 0, name};
        char s[32], s2[32];
        snprintf(s, sizeof(s), "rc%d", m);
        snprintf(s2, sizeof(s2), "rcx%d", m);
        uint64_t ms = 1000;
        for (int g = 0; g < 3; g++)
            for (size_t i = 0; i < fl[g].n; i++) {
                xadd_flines(f->c, s, ms, &fl[g], i, &cr);
                /* the second stream: line 50 of the middle generation changed,
                 * line 10 of the newest missing */
                if (g == 1 && i == 50) {
                    char line[600];
                    memcpy(line, fl[g].buf + fl[g].off[i], fl[g].lenv[i]);
                    line[fl[g].lenv[i]] = '~';
                    xadd_line(f->c, s2, ms, 0, line, fl[g].lenv[i] + 1, fl[g].off[i], &cr);
                } else if (!(g == 2 && i == 10)) {
                    xadd_flines(f->c, s2, ms, &fl[g], i, &cr);
                }
                ms++;
            }
        parity(&r, "--stream", s, "--src", name, p2, p1, p0, NULL);
        expect_report(&r, (struct want){600, 600, 600, 0, 0, 0, 0, 0, 0});
        parity(&r, "--stream", s2, "--src", name, p2, p1, p0, NULL);
        expect_report(&r, (struct want){600, 599, 598, 1, 0, 1, 0, 0, 0});
        assert_string_equal(ex_str(example(&r, 0), "file"), p1);
        assert_int_equal(ex_num(example(&r, 0), "line"), 51);
        assert_string_equal(ex_str(example(&r, 1), "file"), p0);
        assert_int_equal(ex_num(example(&r, 1), "line"), 11);
        /* Another src filters everything out. */
        parity(&r, "--stream", s, "--src", "/nope", p2, p1, p0, NULL);
        expect_report(&r, (struct want){600, 0, 0, 600, 0, 0, 0, 0, 0});
    }
    /* The same chain under the live file's own path, compared without --src:
     * parity cannot know the generations share it, and says how to fix that. */
    char ap0[PATH_MAX];
    abs_of(p0, ap0, sizeof(ap0));
    struct craft live = {1, 0, 0, ap0};
    uint64_t ms = 1000;
    for (int g = 0; g < 3; g++)
        for (size_t i = 0; i < fl[g].n; i++)
            xadd_flines(f->c, "rclive", ms++, &fl[g], i, &live);
    parity(&r, "--stream", "rclive", p2, p1, p0, NULL);
    assert_int_equal(r.rc, 1);
    if (strstr(r.err, "--src") == NULL)
        fail_msg("no hint about --src: %s", r.err);
    parity(&r, "--stream", "rclive", "--src", ap0, p2, p1, p0, NULL);
    expect_report(&r, (struct want){600, 600, 600, 0, 0, 0, 0, 0, 0});
    for (int g = 0; g < 3; g++)
        flines_free(&fl[g]);
    pres_free(&r);
}

/* ---- several producers ---------------------------------------------------------------------- */

static void parity_order_any_interleaved_producers(void **state)
{
    struct fx *f = *state;
    char pa[300], pb[300], aa[PATH_MAX], ab[PATH_MAX];
    path_in(f, "a.log", pa, sizeof(pa));
    path_in(f, "b.log", pb, sizeof(pb));
    abs_of(pa, aa, sizeof(aa));
    abs_of(pb, ab, sizeof(ab));
    write_lines(pa, 0, 300);
    write_lines(pb, 5000, 200);
    struct flines fa, fb;
    flines_load(pa, &fa);
    flines_load(pb, &fb);
    struct pres r = {0};
    for (int m = 0; m < 4; m++) {
        int prov = !(m & 1);
        struct craft ca = {prov, (m & 2) != 0, 0, aa}, cb = {prov, (m & 2) != 0, 0, ab};
        char s[32], s2[32];
        snprintf(s, sizeof(s), "il%d", m);
        snprintf(s2, sizeof(s2), "ilx%d", m);
        uint64_t ms = 1000;
        for (size_t i = 0; i < 300; i++) {
            xadd_flines(f->c, s, ms, &fa, i, &ca);
            if (i != 77)
                xadd_flines(f->c, s2, ms, &fa, i, &ca);
            ms++;
            if (i < 200) { /* b's lines between a's */
                xadd_flines(f->c, s, ms, &fb, i, &cb);
                xadd_flines(f->c, s2, ms, &fb, i, &cb);
                ms++;
            }
        }
        const char *x = "web|2025-06-18T11:00:00Z|login|extra";
        struct craft bare = {0, (m & 2) != 0, 0, NULL};
        xadd_line(f->c, s2, ms++, 0, x, strlen(x), 0, &bare);

        parity(&r, "--stream", s, "--order", "any", pa, pb, NULL);
        expect_report(&r, (struct want){500, 500, 500, 0, 0, 0, 0, 0, 0});
        parity(&r, "--stream", s2, "--order", "any", pa, pb, NULL);
        expect_report(&r, (struct want){500, 500, 499, 1, 1, 0, 0, 0, 0});
        assert_string_equal(ex_str(example(&r, 0), "file"), pa);
        assert_int_equal(ex_num(example(&r, 0), "line"), 78);
        if (prov) {
            /* With provenance, order is per src: interleaving is no difference. */
            parity(&r, "--stream", s, pa, pb, NULL);
            expect_report(&r, (struct want){500, 500, 500, 0, 0, 0, 0, 0, 0});
            parity(&r, "--stream", s2, pa, pb, NULL);
            expect_report(&r, (struct want){500, 500, 499, 1, 1, 0, 0, 0, 0});
        } else {
            /* Without it, one sequence a.log then b.log: strict says different. */
            parity(&r, "--stream", s, pa, pb, NULL);
            assert_int_equal(r.rc, 1);
            assert_true(pnum(&r, "matched") < 500);
        }
    }
    flines_free(&fa);
    flines_free(&fb);
    pres_free(&r);
}

static void parity_src_filter(void **state)
{
    struct fx *f = *state;
    char pa[300], pb[300], aa[PATH_MAX];
    path_in(f, "a.log", pa, sizeof(pa));
    path_in(f, "b.log", pb, sizeof(pb));
    abs_of(pa, aa, sizeof(aa));
    write_lines(pa, 0, 300);
    write_lines(pb, 1000, 100);
    import("sf", NULL, NULL, pa, pb, NULL);
    struct pres r = {0};
    parity(&r, "--stream", "sf", "--src", aa, pa, NULL);
    expect_report(&r, (struct want){300, 300, 300, 0, 0, 0, 0, 0, 0});
    /* Without the filter b's entries have no line among the FILEs. */
    parity(&r, "--stream", "sf", pa, NULL);
    expect_report(&r, (struct want){300, 400, 300, 0, 100, 0, 0, 0, 0});
    parity(&r, "--stream", "sf", pa, pb, NULL);
    expect_report(&r, (struct want){400, 400, 400, 0, 0, 0, 0, 0, 0});
    pres_free(&r);
}

/* ---- the ID window -----------------------------------------------------------------------------
 */

static void parity_from_to_window(void **state)
{
    struct fx *f = *state;
    char p[300];
    path_in(f, "app.log", p, sizeof(p));
    write_lines(p, 0, 1000);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        char s[32];
        snprintf(s, sizeof(s), "ft%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, p, NULL);
        struct ids ids;
        ids_load(f->c, s, &ids);
        parity(&r, "--stream", s, "--from", ids.id[100], "--to", ids.id[199], p, NULL);
        expect_report(&r, (struct want){100, 100, 100, 0, 0, 0, 0, 0, 0});
        if (m == 0 || m == 3) { /* the other forms, in two of the four modes */
            parity(&r, "--stream", s, "--order", "any", "--from", ids.id[100], "--to", ids.id[199],
                   p, NULL);
            expect_report(&r, (struct want){100, 100, 100, 0, 0, 0, 0, 0, 0});
            /* the window's bounds as - and + compare everything */
            parity(&r, "--stream", s, "--from", "-", "--to", "+", p, NULL);
            expect_report(&r, (struct want){1000, 1000, 1000, 0, 0, 0, 0, 0, 0});
        }
        xdel(f->c, s, ids.id[150]);
        parity(&r, "--stream", s, "--from", ids.id[100], "--to", ids.id[199], p, NULL);
        expect_report(&r, (struct want){100, 99, 99, 1, 0, 0, 0, 0, 0});
        assert_int_equal(ex_num(example(&r, 0), "line"), 151);
        ids_free(&ids);
    }
    pres_free(&r);
}

/* ---- what mirror writes: missing timestamps, CR/LF escapes -------------------------------------
 */

static void parity_mirror_escapes_and_id_timestamps(void **state)
{
    struct fx *f = *state;
    char p[300];
    path_in(f, "mirror.log", p, sizeof(p));
    /* Entries with real CR/LF in data and no timestamp field. */
    struct pres r = {0};
    for (int json = 0; json < 2; json++) {
        const char *s = json ? "me1" : "me0";
        struct craft cr = {0, json, 1, NULL};
        char file[4096];
        size_t len = 0;
        for (int i = 0; i < 20; i++) {
            char line[200], ts[40];
            int n = snprintf(line, sizeof(line), "web|x|pay|row %d\rcr\nlf end", i);
            xadd_line(f->c, s, UINT64_C(1750240800000) + (uint64_t)i * 1001, 0, line, (size_t)n, 0,
                      &cr);
            lb_ts_format_ms(INT64_C(1750240800000) + i * 1001, ts);
            len += (size_t)snprintf(file + len, sizeof(file) - len,
                                    "web|%s|pay|row %d\\rcr\\nlf end\n", ts, i);
        }
        assert_int_equal(lbt_write_file(p, file, len), 0);
        parity(&r, "--stream", s, p, NULL);
        expect_report(&r, (struct want){20, 20, 20, 0, 0, 0, 0, 0, 0});
        parity(&r, "--stream", s, "--order", "any", p, NULL);
        expect_report(&r, (struct want){20, 20, 20, 0, 0, 0, 0, 0, 0});
    }
    pres_free(&r);
}

/* --format jsonl on both sides; and the json encoding's UTF-8 rule: a line
 * that is not UTF-8 went to the DLQ, so parity counts it bad, not missing. */
static void parity_jsonl_and_utf8_rule(void **state)
{
    struct fx *f = *state;
    char pj[300], pu[300];
    path_in(f, "j.jsonl", pj, sizeof(pj));
    path_in(f, "u.log", pu, sizeof(pu));
    const char *jl =
        "{\"role\":\"web\",\"timestamp\":\"2025-06-18T10:00:00Z\",\"type\":\"login\","
        "\"data\":{\"a\": 1, \"b\":[1, 2]}}\n"
        "{\"role\":\"web\",\"timestamp\":\"2025-06-18T10:00:01Z\",\"type\":\"t\","
        "\"data\":\"x\\ny\\r\"}\n"
        "{\"role\":\"api\",\"timestamp\":\"1750240800123\",\"type\":\"t\",\"data\":null}\n"
        "not json\n\n";
    assert_int_equal(lbt_write_file(pj, jl, strlen(jl)), 0);
    const char *ul = "web|2025-06-18T10:00:00Z|login|ok\n"
                     "web|2025-06-18T10:00:01Z|login|bad \xff byte\n"
                     "web|2025-06-18T10:00:02Z|login|ok2\n";
    assert_int_equal(lbt_write_file(pu, ul, strlen(ul)), 0);
    struct pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        char s[32], s2[32];
        snprintf(s, sizeof(s), "jl%zu", m);
        snprintf(s2, sizeof(s2), "ut%zu", m);
        import(s, g_modes[m].prov, g_modes[m].enc, "--format=jsonl", pj, NULL);
        parity(&r, "--stream", s, "--format", "jsonl", pj, NULL);
        expect_report(&r, (struct want){3, 3, 3, 0, 0, 0, 0, 0, 1});
        parity(&r, "--stream", s, "--format", "jsonl", "--order", "any", pj, NULL);
        expect_report(&r, (struct want){3, 3, 3, 0, 0, 0, 0, 0, 1});
        import(s2, g_modes[m].prov, g_modes[m].enc, pu, NULL);
        int json = g_modes[m].enc != NULL;
        parity(&r, "--stream", s2, pu, NULL);
        expect_report(&r, (struct want){3 - json, 3 - json, 3 - json, 0, 0, 0, 0, 0, json});
    }
    pres_free(&r);
}

/* ---- reports and errors --------------------------------------------------------------------- */

static char *run_capture(int *rc, char *err, size_t errcap, ...)
{
    struct args a = {{0}, 0};
    va_list ap;
    va_start(ap, errcap);
    args_addv(&a, ap);
    va_end(ap);
    char *out = malloc(1 << 20);
    *rc = lbt_run(a.v, out, 1 << 20, err, errcap, NULL, 0);
    return out;
}

static void parity_junit_report_is_valid_xml(void **state)
{
    struct fx *f = *state;
    char p1[300], p2[300], ap1[PATH_MAX];
    path_in(f, "one&<two>.log", p1, sizeof(p1));
    path_in(f, "b.log", p2, sizeof(p2));
    abs_of(p1, ap1, sizeof(ap1));
    /* hostile bytes in data: markup, quotes, control bytes, invalid UTF-8 */
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < 30; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                "web|2025-06-18T08:00:%02dZ|login|<x a=\"%d\">&amp; ' \x01\x1b\x7f "
                                "\xff\xfe \xef\xbf\xbf ]]> \t end\n",
                                i, i);
    assert_int_equal(lbt_write_file(p1, buf, len), 0);
    write_lines(p2, 0, 50);
    import("ju", NULL, NULL, p1, p2, NULL);
    struct ids ids;
    ids_load(f->c, "ju", &ids);
    xdel(f->c, "ju", ids.id[3]);
    const char *x = "web|2025-06-18T11:00:00Z|login|extra <&>";
    struct craft bare = {0, 0, 0, NULL};
    xadd_line(f->c, "ju", UINT64_C(99999999999999), 0, x, strlen(x), 0, &bare);
    int rc;
    char err[4096];
    char *out = run_capture(&rc, err, sizeof(err), "parity", "--redis", g_redis.url, "--stream",
                            "ju", "--report", "junit", p1, p2, NULL);
    assert_int_equal(rc, 1);
    char why[300];
    struct pxml_node *root = pxml_parse(out, strlen(out), why, sizeof(why));
    if (root == NULL)
        fail_msg("not well-formed XML: %s\n%s", why, out);
    assert_string_equal(root->name, "testsuite");
    assert_string_equal(pxml_attr(root, "tests"), "3");
    assert_string_equal(pxml_attr(root, "failures"), "2");
    assert_int_equal(pxml_count(root, "testcase"), 3);
    const struct pxml_node *t0 = pxml_child(root, "testcase", 0);
    assert_string_equal(pxml_attr(t0, "name"), p1);
    assert_string_equal(pxml_attr(pxml_child(t0, "failure", 0), "message"),
                        "missing_in_stream=1 mismatched=0 out_of_order=0");
    const struct pxml_node *t1 = pxml_child(root, "testcase", 1);
    assert_string_equal(pxml_attr(t1, "name"), p2);
    assert_null(pxml_child(t1, "failure", 0));
    const struct pxml_node *t2 = pxml_child(root, "testcase", 2);
    assert_string_equal(pxml_attr(t2, "name"), "stream ju");
    assert_string_equal(pxml_attr(pxml_child(t2, "failure", 0), "message"), "extra_in_stream=1");
    pxml_free(root);
    free(out);

    /* Equal: no failure anywhere. */
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", g_redis.url, "--stream", "ju",
                      "--report", "junit", "--from", ids.id[4], "--to", ids.id[79], p1, p2, NULL);
    assert_int_equal(rc, 0);
    root = pxml_parse(out, strlen(out), why, sizeof(why));
    if (root == NULL)
        fail_msg("not well-formed XML: %s\n%s", why, out);
    assert_string_equal(pxml_attr(root, "failures"), "0");
    pxml_free(root);
    free(out);
    ids_free(&ids);
}

static void parity_text_report_and_out_file(void **state)
{
    struct fx *f = *state;
    char p[300], o[300];
    path_in(f, "app.log", p, sizeof(p));
    path_in(f, "report.json", o, sizeof(o));
    write_lines(p, 0, 50);
    import("tx", NULL, NULL, p, NULL);
    int rc;
    char err[4096];
    char *out = run_capture(&rc, err, sizeof(err), "parity", "--redis", g_redis.url, "--stream",
                            "tx", p, NULL);
    assert_int_equal(rc, 0);
    assert_true(strncmp(out, "EQUAL", 5) == 0);
    assert_null(strstr(out, "examples"));
    free(out);
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", g_redis.url, "--stream", "tx",
                      "--report", "json", "--out", o, p, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, ""); /* the report went to the file */
    free(out);
    size_t n;
    char *j = lbt_read_file(o, &n);
    assert_non_null(j);
    cJSON *root = cJSON_Parse(j);
    assert_non_null(root);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(root, "equal")));
    cJSON_Delete(root);
    free(j);
    /* nothing but the report and the log is left in the directory */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c tmp", f->dir);
    FILE *ls = popen(cmd, "r");
    char cnt[16] = "";
    assert_non_null(fgets(cnt, sizeof(cnt), ls));
    pclose(ls);
    assert_int_equal(atoi(cnt), 0);
}

static void parity_max_examples(void **state)
{
    struct fx *f = *state;
    char p[300];
    path_in(f, "app.log", p, sizeof(p));
    write_lines(p, 0, 300);
    import("mx", NULL, NULL, p, NULL);
    struct ids ids;
    ids_load(f->c, "mx", &ids);
    for (int i = 0; i < 30; i++)
        xdel(f->c, "mx", ids.id[5 + 9 * i]);
    struct pres r = {0};
    parity(&r, "--stream", "mx", p, NULL);
    expect_report(&r, (struct want){300, 270, 270, 30, 0, 0, 0, 0, 0});
    for (int i = 0; i < 10; i++)
        assert_int_equal(ex_num(example(&r, i), "line"), 6 + 9 * i);
    parity(&r, "--stream", "mx", "--max-examples", "3", p, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.root, "examples")), 3);
    parity(&r, "--stream", "mx", "--max-examples", "0", "--order", "any", p, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.root, "examples")), 0);
    assert_int_equal(pnum(&r, "missing_in_stream"), 30);
    assert_int_equal(r.rc, 1);
    ids_free(&ids);
    pres_free(&r);
}

static void parity_empty_and_missing_stream(void **state)
{
    struct fx *f = *state;
    char p[300], e[300];
    path_in(f, "app.log", p, sizeof(p));
    path_in(f, "empty.log", e, sizeof(e));
    write_lines(p, 0, 20);
    assert_int_equal(lbt_write_file(e, "\n\n", 2), 0);
    struct pres r = {0};
    parity(&r, "--stream", "nosuch", p, NULL);
    expect_report(&r, (struct want){20, 0, 0, 20, 0, 0, 0, 0, 0});
    parity(&r, "--stream", "nosuch", e, NULL);
    expect_report(&r, (struct want){0, 0, 0, 0, 0, 0, 0, 0, 0});
    parity(&r, "--stream", "nosuch", "--order", "any", p, NULL);
    expect_report(&r, (struct want){20, 0, 0, 20, 0, 0, 0, 0, 0});
    /* A stream trimmed to nothing: every line is trimmed. */
    import("tz", NULL, NULL, p, NULL);
    const char *v[4] = {"XTRIM", "tz", "MAXLEN", "0"};
    cmd_ok(f->c, 4, v);
    parity(&r, "--stream", "tz", p, NULL);
    expect_report(&r, (struct want){20, 0, 0, 0, 0, 0, 0, 20, 0});
    pres_free(&r);
}

static void parity_large_gap_without_provenance(void **state)
{
    struct fx *f = *state;
    char p[300];
    path_in(f, "big.log", p, sizeof(p));
    write_lines(p, 0, 8000);
    import("lg", "--no-provenance", NULL, p, NULL);
    struct ids ids;
    ids_load(f->c, "lg", &ids);
    for (int i = 3000; i < 5500; i++)
        redisAppendCommand(f->c, "XDEL lg %s", ids.id[i]);
    for (int i = 3000; i < 5500; i++) {
        redisReply *x;
        assert_int_equal(redisGetReply(f->c, (void **)&x), REDIS_OK);
        freeReplyObject(x);
    }
    struct pres r = {0};
    parity(&r, "--stream", "lg", p, NULL);
    expect_report(&r, (struct want){8000, 5500, 5500, 2500, 0, 0, 0, 0, 0});
    assert_int_equal(ex_num(example(&r, 0), "line"), 3001);
    ids_free(&ids);
    pres_free(&r);
}

static void parity_errors_exit_codes(void **state)
{
    struct fx *f = *state;
    char p[300], d[300], url[400];
    path_in(f, "app.log", p, sizeof(p));
    path_in(f, "sub", d, sizeof(d));
    write_lines(p, 0, 5);
    mkdir(d, 0755);
    int rc;
    char err[4096];
    /* Redis unreachable: exit 3, one line naming the address. */
    snprintf(url, sizeof(url), "unix://%s/none.sock", f->dir);
    char *out =
        run_capture(&rc, err, sizeof(err), "parity", "--redis", url, "--stream", "s", p, NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "none.sock"));
    assert_non_null(strchr(err, '\n'));
    assert_null(strchr(strchr(err, '\n') + 1, '\n'));
    assert_string_equal(out, "");
    free(out);
    /* Unreadable FILEs: exit 3. */
    char missing[300];
    path_in(f, "nope.log", missing, sizeof(missing));
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", g_redis.url, "--stream", "s",
                      missing, NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "nope.log"));
    free(out);
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", g_redis.url, "--stream", "s", d,
                      NULL);
    assert_int_equal(rc, 3);
    free(out);
    /* Usage: exit 2, naming the option. */
    const char *const bad[][6] = {
        {"parity", p, NULL},
        {"parity", "--stream", "s", NULL},
        {"parity", "--stream", "s", "--order", "random", p},
        {"parity", "--stream", "s", "--report", "xml", p},
        {"parity", "--stream", "s", "--from", "12-ab", p},
        {"parity", "--stream", "s", "--max-examples", "-1", p},
        {"parity", "--stream", "s", "-", NULL},
        {"parity", "--stream", "s", "--bogus", p},
    };
    static const char *const names[] = {"--stream", "FILE",           "--order", "--report",
                                        "--from",   "--max-examples", "stdin",   "--bogus"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct args a = {{0}, 0};
        for (int k = 0; k < 6 && bad[i][k] != NULL; k++)
            args_add(&a, bad[i][k]);
        rc = lbt_run(a.v, NULL, 0, err, sizeof(err), NULL, 0);
        assert_int_equal(rc, 2);
        if (strcmp(names[i], "FILE") != 0 && strstr(err, names[i]) == NULL)
            fail_msg("usage error for %s does not name it: %s", names[i], err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parity_equal_after_import, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_xdel_is_one_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_xadd_is_extra, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_changed_entry_is_one_mismatched, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_swapped_entries_are_one_out_of_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(parity_trimmed_head_is_not_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_trim_xdel_extra_together, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_missing_head_without_trim_is_missing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(parity_bad_blank_crlf_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_partial_last_line_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_rotated_gz_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_rotated_chain_with_src, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_order_any_interleaved_producers, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_src_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_from_to_window, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_mirror_escapes_and_id_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_jsonl_and_utf8_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_junit_report_is_valid_xml, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_text_report_and_out_file, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_max_examples, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_empty_and_missing_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_large_gap_without_provenance, setup, teardown),
        cmocka_unit_test_setup_teardown(parity_errors_exit_codes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
