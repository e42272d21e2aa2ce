/*
 * test_export.c - `logbridge export` against a real redis-server: whole
 * stream to stdout, inclusive --from/--to ranges (full and ms-only IDs),
 * pages past 1000 entries, --file (created, truncated, never a symlink),
 * both encodings and bad entries, unreachable Redis (exit 3), bad options
 * (exit 2). Expected lines come from DESIGN.md's rules, not logbridge code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbtest.h"

#define OUTCAP (8 << 20)

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    const char *stream;
    char (*ids)[48];
    long n;
    char *out;
    char err[16384];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_redis_start(&f->r, 0) != 0 || lbt_mkdtemp(f->dir, sizeof(f->dir)))
        return -1;
    f->c = lbt_connect(&f->r);
    f->out = malloc(OUTCAP);
    if (f->c == NULL || f->out == NULL)
        return -1;
    f->stream = "{app}:events";
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f == NULL)
        return 0;
    if (f->c != NULL)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    lbt_rmdir(f->dir);
    free(f->ids);
    free(f->out);
    free(f);
    return 0;
}

/* Standard lines [0, n) as fields entries; every 4th in the json encoding.
 * id_ms > 0: explicit IDs id_ms+i/3 - i%3 (three entries per millisecond). */
static void add(struct fx *f, long n, long long id_ms)
{
    f->ids = realloc(f->ids, (size_t)(f->n + n) * sizeof(*f->ids));
    for (long i = f->n; i < f->n + n; i++) {
        char parts[4][256], id[64];
        lbt_line_fields(i, parts);
        if (id_ms > 0)
            snprintf(id, sizeof(id), "%lld-%ld", id_ms + i / 3, i % 3);
        else
            snprintf(id, sizeof(id), "*");
        if (i % 4 == 3) {
            char js[2048];
            snprintf(js, sizeof(js),
                     "{\"role\":\"%s\",\"timestamp\":\"%s\",\"type\":\"%s\",\"data\":\"%s\","
                     "\"src\":\"/x\",\"off\":%ld}",
                     parts[0], parts[1], parts[2], parts[3], i);
            const char *argv[] = {"XADD", f->stream, id, "json_payload", js};
            redisAppendCommandArgv(f->c, 5, argv, NULL);
        } else {
            const char *argv[] = {"XADD",   f->stream, id,       "role", parts[0], "timestamp",
                                  parts[1], "type",    parts[2], "data", parts[3]};
            redisAppendCommandArgv(f->c, 11, argv, NULL);
        }
    }
    for (long i = f->n; i < f->n + n; i++) {
        void *rv;
        assert_int_equal(redisGetReply(f->c, &rv), REDIS_OK);
        redisReply *r = rv;
        if (r->type != REDIS_REPLY_STRING)
            fail_msg("XADD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        snprintf(f->ids[i], sizeof(f->ids[i]), "%s", r->str);
        freeReplyObject(r);
    }
    f->n += n;
}

static char *lines(long from, long to_incl, size_t *len)
{
    long n = to_incl - from + 1;
    size_t cap = (size_t)(n > 0 ? n : 0) * 96 + 1, o = 0;
    char *s = malloc(cap);
    for (long i = from; i <= to_incl; i++)
        o += lbt_line(s + o, cap - o, i);
    s[o] = '\0';
    *len = o;
    return s;
}

static int export(struct fx *f, ...)
{
    const char *args[24];
    int n = 0;
    args[n++] = "export";
    args[n++] = "--redis";
    args[n++] = f->r.url;
    args[n++] = "--stream";
    args[n++] = f->stream;
    va_list ap;
    va_start(ap, f);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 22)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return lbt_run(args, f->out, OUTCAP, f->err, sizeof(f->err), NULL, 0);
}

static void assert_out(const char *got, const char *want, size_t wn)
{
    size_t n = strlen(got);
    if (n != wn || memcmp(got, want, n) != 0) {
        size_t i = 0;
        while (i < n && i < wn && got[i] == want[i])
            i++;
        fail_msg("%zu bytes, expected %zu; first difference at %zu: got '%.60s' want '%.60s'", n,
                 wn, i, got + i, want + i);
    }
}

/* ---- tests ---------------------------------------------------------------------------- */

static void export_whole_stream_to_stdout(void **state)
{
    struct fx *f = *state;
    add(f, 2500, 0); /* > 2 pages of 1000 */
    assert_int_equal(export(f, NULL), 0);
    size_t wn;
    char *want = lines(0, 2499, &wn);
    assert_out(f->out, want, wn);
    free(want);
    /* no checkpoint is kept */
    redisReply *r = redisCommand(f->c, "EXISTS logbridge:mirror:{app}");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
}

static void export_range_is_inclusive(void **state)
{
    struct fx *f = *state;
    add(f, 3000, 0);
    size_t wn;
    char *want;
    assert_int_equal(export(f, "--from", f->ids[10], "--to", f->ids[19], NULL), 0);
    want = lines(10, 19, &wn);
    assert_out(f->out, want, wn);
    free(want);
    /* one entry: from == to */
    assert_int_equal(export(f, "--from", f->ids[7], "--to", f->ids[7], NULL), 0);
    want = lines(7, 7, &wn);
    assert_out(f->out, want, wn);
    free(want);
    /* a range across page boundaries, open ends */
    assert_int_equal(export(f, "--from", f->ids[999], NULL), 0);
    want = lines(999, 2999, &wn);
    assert_out(f->out, want, wn);
    free(want);
    assert_int_equal(export(f, "--to", f->ids[2000], NULL), 0);
    want = lines(0, 2000, &wn);
    assert_out(f->out, want, wn);
    free(want);
    assert_int_equal(export(f, "--from", "-", "--to", "+", NULL), 0);
    want = lines(0, 2999, &wn);
    assert_out(f->out, want, wn);
    free(want);
    /* an empty range */
    assert_int_equal(export(f, "--from", f->ids[20], "--to", f->ids[10], NULL), 0);
    assert_string_equal(f->out, "");
}

static void export_range_by_milliseconds(void **state)
{
    struct fx *f = *state;
    add(f, 3003, 1750240800000LL); /* IDs ms-0, ms-1, ms-2 for each ms */
    size_t wn;
    char *want;
    /* --from MS includes MS-0; --to MS includes every sequence of MS */
    assert_int_equal(export(f, "--from", "1750240800005", "--to", "1750240800007", NULL), 0);
    want = lines(15, 23, &wn);
    assert_out(f->out, want, wn);
    free(want);
    assert_int_equal(export(f, "--from", "1750240800005-1", "--to", "1750240800007-1", NULL), 0);
    want = lines(16, 22, &wn);
    assert_out(f->out, want, wn);
    free(want);
    /* pages continue inside a millisecond: 1000 is not a multiple of 3 */
    assert_int_equal(export(f, "--from", "1750240800000", "--to", "1750240801000", NULL), 0);
    want = lines(0, 3002, &wn);
    assert_out(f->out, want, wn);
    free(want);
}

static void export_to_file_creates_and_truncates(void **state)
{
    struct fx *f = *state;
    add(f, 50, 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/out.log", f->dir);
    size_t wn;
    char *want = lines(0, 49, &wn);
    assert_int_equal(export(f, "--file", path, NULL), 0);
    assert_string_equal(f->out, "");
    size_t n;
    char *got = lbt_read_file(path, &n);
    assert_int_equal(n, wn);
    assert_memory_equal(got, want, n);
    free(got);
    /* again, over a longer file: the same bytes, not doubled */
    char *junk = malloc(wn * 2);
    memset(junk, 'x', wn * 2);
    assert_int_equal(lbt_write_file(path, junk, wn * 2), 0);
    free(junk);
    assert_int_equal(export(f, "--file", path, "--to", f->ids[9], NULL), 0);
    got = lbt_read_file(path, &n);
    free(want);
    want = lines(0, 9, &wn);
    assert_int_equal(n, wn);
    assert_memory_equal(got, want, n);
    free(got);
    free(want);
}

static void export_refuses_a_symlink(void **state)
{
    struct fx *f = *state;
    add(f, 5, 0);
    char target[400], link[400];
    snprintf(target, sizeof(target), "%s/target", f->dir);
    snprintf(link, sizeof(link), "%s/link", f->dir);
    assert_int_equal(lbt_write_file(target, "keep\n", 5), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_int_equal(export(f, "--file", link, NULL), 3);
    assert_non_null(strstr(f->err, "symbolic link"));
    size_t n;
    char *got = lbt_read_file(target, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(got, "keep\n", 5);
    free(got);
}

static void export_decodes_both_encodings_and_skips_bad(void **state)
{
    struct fx *f = *state;
    redisReply *r;
    r = redisCommand(f->c, "XADD %s 1-0 role web timestamp t1 type a data x\r\ny", f->stream);
    freeReplyObject(r);
    r = redisCommand(f->c, "XADD %s 2-0 role we|b timestamp t type a data bad", f->stream);
    freeReplyObject(r);
    r = redisCommand(f->c, "XADD %s 3-0 json_payload %s", f->stream,
                     "{\"role\":\"w\",\"type\":\"b\",\"data\":{\"k\":1}}");
    freeReplyObject(r);
    r = redisCommand(f->c, "XADD %s 4-0 role web type c", f->stream);
    freeReplyObject(r);
    r = redisCommand(f->c, "XADD %s 5-0 hello world", f->stream);
    freeReplyObject(r);
    assert_int_equal(export(f, NULL), 0);
    const char *want = "web|t1|a|x\\r\\ny\n"
                       "w|1970-01-01T00:00:00.003Z|b|{\"k\":1}\n"
                       "web|1970-01-01T00:00:00.004Z|c|\n";
    assert_out(f->out, want, strlen(want));
    assert_non_null(strstr(f->err, "2-0"));
    assert_non_null(strstr(f->err, "5-0"));
}

static void export_missing_stream_is_empty(void **state)
{
    struct fx *f = *state;
    assert_int_equal(export(f, NULL), 0);
    assert_string_equal(f->out, "");
}

static void export_unreachable_redis_exits_3(void **state)
{
    struct fx *f = *state;
    char url[400];
    snprintf(url, sizeof(url), "unix://%s/nothing.sock", f->dir);
    const char *args[] = {"export", "--redis", url, "--stream", "s", NULL};
    int64_t t0 = lbt_now_ms();
    assert_int_equal(lbt_run(args, f->out, OUTCAP, f->err, sizeof(f->err), NULL, 0), 3);
    assert_true(lbt_now_ms() - t0 < 20000);
    assert_non_null(strstr(f->err, "nothing.sock"));
}

static void export_bad_options_exit_2(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *args[6];
        const char *want;
    } cases[] = {
        {{NULL}, "--stream"},
        {{"--stream", "s", "--from", "abc", NULL}, "--from"},
        {{"--stream", "s", "--to", "1-2-3", NULL}, "--to"},
        {{"--stream", "s", "--file", "", NULL}, "--file"},
        {{"--stream", "s", "--once", NULL}, "--once"},
        {{"--stream", "s", "positional", NULL}, "positional"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[10];
        int n = 0;
        args[n++] = "export";
        for (int k = 0; cases[i].args[k] != NULL; k++)
            args[n++] = cases[i].args[k];
        args[n] = NULL;
        int rc = lbt_run(args, NULL, 0, f->err, sizeof(f->err), NULL, 0);
        if (rc != 2 || strstr(f->err, cases[i].want) == NULL)
            fail_msg("case %zu: exit %d, stderr '%s' (want 2 naming %s)", i, rc, f->err,
                     cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(export_whole_stream_to_stdout, setup, teardown),
        cmocka_unit_test_setup_teardown(export_range_is_inclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(export_range_by_milliseconds, setup, teardown),
        cmocka_unit_test_setup_teardown(export_to_file_creates_and_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(export_refuses_a_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(export_decodes_both_encodings_and_skips_bad, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(export_missing_stream_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(export_unreachable_redis_exits_3, setup, teardown),
        cmocka_unit_test_setup_teardown(export_bad_options_exit_2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
