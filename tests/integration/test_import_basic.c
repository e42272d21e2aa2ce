/*
 * test_import_basic.c - `logbridge import` against a real redis-server (unix
 * socket, temp dir, stopped by PID): what each line becomes (every reason
 * code in the DLQ with src/off/line/reason/raw/raw_len, counts that add up),
 * .gz input and its resume, --id ts (parsed ms, out-of-order lines), the json
 * encoding, --json-field, --no-provenance, stream templates and hash tags,
 * idempotent reruns, the partial last line (--final, stdin), checkpoints that
 * must not be trusted, --strict, --dry-run and bad options.
 *
 * One redis-server serves the group; every test starts from FLUSHALL and
 * counts entries exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fx_import.h"
#include "import_util.h"
#include "lbtest.h"

#define T0 INT64_C(1750240800000) /* 2025-06-18T10:00:00Z */

static char out[1 << 18], err[1 << 18];

/* Run `logbridge import --redis URL --no-progress <args...>`; stdout and
 * stderr land in out/err. */
static int run_in(struct fx_import *t, const char *in, size_t inlen, ...)
{
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--no-progress", NULL);
    va_list ap;
    va_start(ap, inlen);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        iu_args_add(&a, s, NULL);
    va_end(ap);
    return lbt_run(a.v, out, sizeof(out), err, sizeof(err), in, inlen);
}

#define RUN(t, ...) run_in((t), NULL, 0, __VA_ARGS__, (const char *)NULL)

static void expect_rc(int rc, int want)
{
    if (rc != want)
        fail_msg("logbridge exited %d, want %d\nstdout: %.2000s\nstderr: %.4000s", rc, want, out,
                 err);
}

static void verify(struct fx_import *t, const char *stream, const char *dlq, const char *src,
                   size_t from, size_t upto)
{
    char why[4096];
    struct iu_expect x = {stream, dlq, src, 1, 0, NULL, 0, from, upto, 0, 0};
    if (iu_verify(t->c, &t->f, &x, why, sizeof(why)) != 0)
        fail_msg("%s\nstderr: %.2000s", why, err);
}

static void verify_x(struct fx_import *t, const struct iu_expect *x)
{
    char why[4096];
    if (iu_verify(t->c, &t->f, x, why, sizeof(why)) != 0)
        fail_msg("%s\nstderr: %.2000s", why, err);
}

static void check_ckpt(struct fx_import *t, const char *key, const char *src, size_t upto,
                       const char *path, const char *last_id)
{
    char why[1024];
    if (iu_check_ckpt(t->c, key, src, &t->f, upto, path, last_id, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}

/* The summary's totals and files[0] against the fixture's lines [from, upto). */
static void check_summary(const struct fx_import *t, size_t from, size_t upto, int partial)
{
    cJSON *sum = iu_summary(out);
    if (sum == NULL)
        fail_msg("no JSON summary on stdout: %s", out);
    size_t v0, b0, k0, v1, b1, k1;
    iu_fix_counts(&t->f, from, &v0, &b0, &k0);
    iu_fix_counts(&t->f, upto, &v1, &b1, &k1);
    long long v = (long long)(v1 - v0), b = (long long)(b1 - b0), k = (long long)(k1 - k0);
    for (int file = -1; file <= 0; file++) {
        assert_int_equal((long long)iu_jnum(sum, file, "imported"), v);
        assert_int_equal((long long)iu_jnum(sum, file, "bad"), b);
        assert_int_equal((long long)iu_jnum(sum, file, "blank"), k);
        assert_int_equal((long long)iu_jnum(sum, file, "lines"), v + b + k);
        assert_int_equal((long long)iu_jnum(sum, file, "partial"), partial);
    }
    uint64_t from_off = from < t->f.n ? t->f.lines[from].off : t->f.len;
    uint64_t to_off = upto == 0 ? 0 : iu_fix_line_end(&t->f, upto - 1);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)from_off);
    assert_int_equal((long long)iu_jnum(sum, 0, "bytes"), (long long)(to_off - from_off));
    assert_true(iu_jnum(sum, -1, "seconds") >= 0);
    cJSON_Delete(sum);
}

static void write_fix(struct fx_import *t)
{
    assert_int_equal(iu_fix_write(&t->f, t->path), 0);
}

/* ---- what each line becomes ------------------------------------------------------ */

static void import_every_pipe_reason_reaches_the_dlq(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
    char big[70001];
    memset(big, 'x', sizeof(big) - 1);
    memcpy(big, "web|1750240800|login|", 21);
    big[sizeof(big) - 1] = '\0';
    char role256[300], type256[300];
    memset(role256, 'r', 256);
    snprintf(role256 + 256, 44, "|1750240800|t|d");
    snprintf(type256, 20, "web|1750240800|");
    memset(type256 + 15, 't', 256);
    snprintf(type256 + 271, 20, "|d");

    iu_fix_valid(f, "web", "2025-06-18T10:00:00Z", T0, "login", "first");
    iu_fix_bad(f, "no separators at all", "fields");
    iu_fix_bad(f, "web|1750240800|login", "fields");
    iu_fix_bad(f, "    ", "fields");
    iu_fix_add(f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
    iu_fix_bad(f, "|1750240800|login|empty role", "role");
    iu_fix_bad(f, "w\teb|1750240800|login|tab in role", "role");
    iu_fix_bad(f, role256, "role");
    iu_fix_valid(f, "web", "2025-06-18T10:00:01Z", T0 + 1000, "click", "a|b||c|");
    iu_fix_bad(f, "web|1750240800||empty type", "type");
    iu_fix_bad(f, "web|1750240800|ty\x7fpe|DEL", "type");
    iu_fix_bad(f, type256, "type");
    iu_fix_add(f, "", 0, "\r\n", IU_BLANK, NULL, INT64_MIN);
    iu_fix_bad(f, "web|2025-06-18|login|date alone", "timestamp");
    iu_fix_bad(f, "web|yesterday|login|words", "timestamp");
    iu_fix_bad(f, "web|123456789012|login|12 digits", "timestamp");
    iu_fix_bad(f, "web||login|empty", "timestamp");
    iu_fix_add(f, "bad crlf line", 13, "\r\n", IU_BAD, "fields", INT64_MIN);
    char over[451];
    memset(over, 'o', 450);
    memcpy(over, "web|1750240800|login|", 21);
    over[450] = '\0';
    iu_fix_bad(f, over, "too_long"); /* 450 bytes: longer than --max-line 400 */
    iu_fix_bad(f, big, "too_long");
    iu_fix_valid(f, "web", "2025-06-18T10:00:02Z", T0 + 2000, "pay", "");
    iu_fix_valid(f, "web", "2025-06-18T10:00:03Z", T0 + 3000, "pay", "last");
    write_fix(t);

    int rc = RUN(t, "--stream", "s", "--max-line", "400", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, f->n, 0);
    verify(t, "s", "logbridge:dlq:{s}", t->path, 0, f->n);
    char last[48];
    iu_last_id(t->c, "s", last);
    check_ckpt(t, "logbridge:ckpt:{s}", t->path, f->n, t->path, last);
    /* nothing but the stream, its DLQ and its checkpoint */
    assert_int_equal(iu_dbsize(t->c), 3);
}

static void import_invalid_utf8_only_with_json_encoding(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
    iu_fix_valid(f, "web", "1750240800", T0, "login", "plain ascii");
#define B(s) s, sizeof(s) - 1
    iu_fix_add(f, B("web|1750240800|t|caf\xe9"), "\n", IU_BAD, "invalid_utf8", T0);
    iu_fix_valid(f, "web", "1750240800", T0, "t", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    iu_fix_add(f,
               B("we\xff"
                 "b|1750240800|t|role byte"),
               "\n", IU_BAD, "invalid_utf8", T0);
    iu_fix_add(f, B("web|1750240800|t|overlong \xc0\xaf"), "\n", IU_BAD, "invalid_utf8", T0);
    iu_fix_add(f, B("web|1750240800|t|surrogate \xed\xa0\x80"), "\n", IU_BAD, "invalid_utf8", T0);
    iu_fix_add(f, B("web|1750240800|t|cut \xe2\x82"), "\r\n", IU_BAD, "invalid_utf8", T0);
#undef B
    iu_fix_valid(f, "web", "1750240800", T0, "t", "end");
    write_fix(t);

    int rc = RUN(t, "--stream", "j", "--encoding", "json", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, f->n, 0);
    struct iu_expect x = {"j", "logbridge:dlq:{j}", t->path, 1, 1, NULL, 0, 0, f->n, 0, 0};
    verify_x(t, &x);

    /* In the fields encoding the same bytes are fine: stored verbatim. */
    for (size_t i = 0; i < f->n; i++) {
        f->lines[i].kind = IU_VALID;
        f->lines[i].reason = NULL;
    }
    rc = RUN(t, "--stream", "v", "--summary", "json", t->path);
    expect_rc(rc, 0);
    verify(t, "v", "logbridge:dlq:{v}", t->path, 0, f->n);
}

static void import_jsonl_reasons_and_fields(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
#define JL(s) s, sizeof(s) - 1
    iu_fix_add(f,
               JL("{\"role\":\"web\",\"timestamp\":\"2025-06-18T10:00:00Z\",\"type\":\"login\","
                  "\"data\":\"x|y\"}"),
               "\n", IU_VALID, NULL, T0);
    iu_fix_expect(f, "web", "2025-06-18T10:00:00Z", "login", "x|y");
    iu_fix_add(f,
               JL("{\"type\":\"t\",\"data\":{\"a\": [1, 2], \"b\": null},\"role\":\"api\","
                  "\"timestamp\":\"1750240801\",\"other\":1}"),
               "\n", IU_VALID, NULL, T0 + 1000);
    iu_fix_expect(f, "api", "1750240801", "t", "{\"a\":[1,2],\"b\":null}");
    iu_fix_add(f,
               JL("{\"role\":\"web\",\"timestamp\":\"1750240802000\",\"type\":\"n\",\"data\":42}"),
               "\r\n", IU_VALID, NULL, T0 + 2000);
    iu_fix_expect(f, "web", "1750240802000", "n", "42");
    iu_fix_add(f,
               JL("{\"role\":\"w\\u00e9b\",\"timestamp\":\"1750240803\",\"type\":\"t\","
                  "\"data\":\"two\\nlines \\\"q\\\" \\\\ \\t\"}"),
               "\n", IU_VALID, NULL, T0 + 3000);
    iu_fix_expect(f,
                  "w\xc3\xa9"
                  "b",
                  "1750240803", "t", "two\nlines \"q\" \\ \t");
    iu_fix_add(f, JL("not json at all"), "\n", IU_BAD, "json", INT64_MIN);
    iu_fix_add(f, JL("[1,2,3]"), "\n", IU_BAD, "json", INT64_MIN);
    iu_fix_add(f, JL("{\"role\":5,\"timestamp\":\"1750240800\",\"type\":\"t\",\"data\":\"d\"}"),
               "\n", IU_BAD, "json", INT64_MIN);
    iu_fix_add(f, JL("{\"role\":\"web\",\"timestamp\":\"1750240800\",\"type\":\"t\""), "\n", IU_BAD,
               "json", INT64_MIN);
    iu_fix_add(f, JL("{\"role\":\"web\",\"timestamp\":\"1750240800\",\"data\":\"no type\"}"), "\n",
               IU_BAD, "fields", INT64_MIN);
    iu_fix_add(f, JL("{\"role\":\"\",\"timestamp\":\"1750240800\",\"type\":\"t\",\"data\":\"\"}"),
               "\n", IU_BAD, "role", INT64_MIN);
    iu_fix_add(f,
               JL("{\"role\":\"web\",\"timestamp\":\"2025-06-18\",\"type\":\"t\",\"data\":\"\"}"),
               "\n", IU_BAD, "timestamp", INT64_MIN);
    iu_fix_add(f, JL("{\"role\":\"web\",\"timestamp\":\"1750240800\",\"type\":\"\",\"data\":\"\"}"),
               "\n", IU_BAD, "type", INT64_MIN);
    iu_fix_add(f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
    iu_fix_add(f,
               JL("{\"role\":\"last\",\"timestamp\":\"1750240804\",\"type\":\"t\",\"data\":null}"),
               "\n", IU_VALID, NULL, T0 + 4000);
    iu_fix_expect(f, "last", "1750240804", "t", "null");
#undef JL
    write_fix(t);
    int rc = RUN(t, "--stream", "jl", "--format", "jsonl", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, f->n, 0);
    verify(t, "jl", "logbridge:dlq:{jl}", t->path, 0, f->n);
}

/* --max-line small: every too-long line's raw is its first 64 KiB (or all of
 * it when shorter) and raw_len its exact length, wherever it falls in the
 * reads, and two of them in one read do not mix. */
static void import_too_long_raw_is_the_first_64k(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
    size_t lens[] = {1001, 5000, 65536, 65537, 70000, 300000, 1000, 2000000, 3000, 200000};
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (int j = 0; j < (int)(k * 37 % 200); j++)
            iu_fix_valid(f, "web", "1750240800", T0, "pad", "some padding between long lines");
        char *p = malloc(lens[k]);
        assert_non_null(p);
        for (size_t i = 0; i < lens[k]; i++)
            p[i] = (char)('A' + (i * 13 + k) % 26);
        iu_fix_add(f, p, lens[k], "\n", lens[k] > 1000 ? IU_BAD : IU_VALID,
                   lens[k] > 1000 ? "too_long" : NULL, INT64_MIN);
        if (lens[k] <= 1000)
            f->lines[f->n - 1].kind = IU_BAD, f->lines[f->n - 1].reason = "fields";
        free(p);
    }
    iu_fix_valid(f, "web", "1750240800", T0, "end", "end");
    write_fix(t);
    int rc = RUN(t, "--stream", "tl", "--max-line", "1000", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, f->n, 0);
    verify(t, "tl", "logbridge:dlq:{tl}", t->path, 0, f->n);
}

/* Hundreds of lines inside the first KiB (whose checkpoints each need their
 * own fingerprint), then ordinary ones. */
static void import_many_short_lines_in_the_first_kib(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 700; i++) {
        if (i % 3 == 0)
            iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
        else
            iu_fix_add(&t->f, "x", 1, "\n", IU_BAD, "fields", INT64_MIN);
    }
    for (int i = 0; i < 3000; i++)
        iu_fix_valid(&t->f, "w", "1750240800", T0, "t", i % 2 ? "" : "d");
    write_fix(t);
    for (int k = 0; k < 2; k++) {
        const char *stream = k ? "sh1" : "sh0";
        char dlq[64], ck[64];
        snprintf(dlq, sizeof(dlq), "logbridge:dlq:{%s}", stream);
        snprintf(ck, sizeof(ck), "logbridge:ckpt:{%s}", stream);
        int rc =
            RUN(t, "--stream", stream, "--batch", k ? "7" : "1000", "--summary", "json", t->path);
        expect_rc(rc, 0);
        check_summary(t, 0, t->f.n, 0);
        verify(t, stream, dlq, t->path, 0, t->f.n);
        check_ckpt(t, ck, t->path, t->f.n, t->path, NULL);
    }
}

static void import_binary_data_is_kept_verbatim(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
    const char l1[] = "web|1750240800|bin|nul\0byte \xff\xfe high \x1b[0m";
    iu_fix_add(f, l1, sizeof(l1) - 1, "\n", IU_VALID, NULL, T0);
    const char l2[] = "web|1750240800|bin|cr\rinside";
    iu_fix_add(f, l2, sizeof(l2) - 1, "\r\n", IU_VALID, NULL, T0);
    write_fix(t);
    int rc = RUN(t, "--stream", "b", t->path);
    expect_rc(rc, 0);
    verify(t, "b", "logbridge:dlq:{b}", t->path, 0, f->n);
}

/* ---- .gz ----------------------------------------------------------------------------- */

static void import_gz_offsets_are_decompressed_bytes(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {2024};
    struct iu_gen g = {20000, 10, 5, 10, 2048, 0};
    iu_fix_gen(&t->f, &g, &rng);
    snprintf(t->path, sizeof(t->path), "%s/app.log.2.gz", t->dir);
    assert_int_equal(iu_fix_write_gz(&t->f, t->path), 0);
    int rc = RUN(t, "--stream", "gz", "--max-line", "2048", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, t->f.n, 0);
    verify(t, "gz", "logbridge:dlq:{gz}", t->path, 0, t->f.n);
    char last[48];
    iu_last_id(t->c, "gz", last);
    check_ckpt(t, "logbridge:ckpt:{gz}", t->path, t->f.n, t->path, last);
    /* a rerun decompresses to the end and writes nothing */
    long long calls = iu_cmd_calls(t->c, "evalsha");
    rc = RUN(t, "--stream", "gz", "--max-line", "2048", "--summary", "json", t->path);
    expect_rc(rc, 0);
    cJSON *sum = iu_summary(out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)t->f.len);
    cJSON_Delete(sum);
    assert_int_equal(iu_cmd_calls(t->c, "evalsha"), calls);
}

static void import_gz_resumes_from_its_checkpoint(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {77};
    struct iu_gen g = {8000, 0, 5, 10, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    iu_fix_bad(&t->f, "a bad line in the middle", "fields");
    size_t bad_at = t->f.n - 1;
    struct iu_gen g2 = {8000, 10, 5, 10, 0, T0 + 100000};
    iu_fix_gen(&t->f, &g2, &rng);
    snprintf(t->path, sizeof(t->path), "%s/app.log.1.gz", t->dir);
    assert_int_equal(iu_fix_write_gz(&t->f, t->path), 0);
    /* --strict stops at the first bad line: the checkpoint stands before it */
    int rc = RUN(t, "--stream", "gzr", "--strict", "--batch", "700", t->path);
    expect_rc(rc, 1);
    size_t first_bad = 0;
    while (t->f.lines[first_bad].kind != IU_BAD)
        first_bad++;
    assert_true(first_bad <= bad_at);
    check_ckpt(t, "logbridge:ckpt:{gzr}", t->path, first_bad, t->path, NULL);
    verify(t, "gzr", "logbridge:dlq:{gzr}", t->path, 0, first_bad);
    /* the rerun decompresses up to the checkpoint and goes on from there */
    rc = RUN(t, "--stream", "gzr", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, first_bad, t->f.n, 0);
    verify(t, "gzr", "logbridge:dlq:{gzr}", t->path, 0, t->f.n);
    check_ckpt(t, "logbridge:ckpt:{gzr}", t->path, t->f.n, t->path, NULL);
}

/* ---- --id ts ----------------------------------------------------------------------- */

static void import_id_ts_ids_are_the_parsed_ms(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
    static const struct {
        const char *ts;
        int64_t ms;
    } v[] = {
        {"2025-06-18T10:00:00Z", T0},
        {"2025-06-18T10:00:00.5Z", T0 + 500},
        {"2025-06-18t10:00:00.7z", T0 + 700},
        {"2025-06-18 10:00:01.123456789Z", T0 + 1123},
        {"2025-06-18T12:00:02+02:00", T0 + 2000},
        {"2025-06-18T05:30:02.250-0430", T0 + 2250},
        {"2025-06-18T10:00:03", T0 + 3000},
        {"1750240804", T0 + 4000},
        {"1750240804.9", T0 + 4900},
        {"1750240805123", T0 + 5123},
        {"1750240805456789", T0 + 5456},
        {"1750240806789123456", T0 + 6789},
        {"2025-06-18T10:00:06.789Z", T0 + 6789},
        {"2025-06-18T10:00:06.789999Z", T0 + 6789},
        {"2030-01-01T00:00:00Z", INT64_C(1893456000000)},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        iu_fix_valid(f, "web", v[i].ts, v[i].ms, "t", "d");
    write_fix(t);
    int rc = RUN(t, "--stream", "ts", "--id", "ts", t->path);
    expect_rc(rc, 0);
    struct iu_expect x = {"ts", "logbridge:dlq:{ts}", t->path, 1, 0, NULL, 1, 0, f->n, 0, 0};
    verify_x(t, &x);
    /* equal ms: the sequence counts up */
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "ts", &e);
    assert_int_equal(n, (long)f->n);
    assert_string_equal(e[11].id, "1750240806789-0");
    assert_string_equal(e[12].id, "1750240806789-1");
    assert_string_equal(e[13].id, "1750240806789-2");
    lbt_entries_free(e, n);
    assert_null(strstr(err, "older than"));
}

static void import_id_ts_out_of_order_lines_go_to_the_top(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix *f = &t->f;
    iu_fix_valid(f, "web", "2025-06-18T10:00:00.500Z", T0 + 500, "t", "a");
    iu_fix_valid(f, "web", "2025-06-18T10:00:00.300Z", T0 + 300, "t", "b older");
    iu_fix_valid(f, "web", "2025-06-18T10:00:00.600Z", T0 + 600, "t", "c");
    iu_fix_valid(f, "web", "2025-06-18T10:00:00.500Z", T0 + 500, "t", "d older");
    iu_fix_valid(f, "web", "86400", INT64_C(86400000), "t", "e 1970");
    iu_fix_valid(f, "web", "2025-06-18T10:00:00.700Z", T0 + 700, "t", "f");
    write_fix(t);
    static const char *const want[] = {"1750240800500-0", "1750240800500-1", "1750240800600-0",
                                       "1750240800600-1", "1750240800600-2", "1750240800700-0"};
    const char *batches[] = {"1000", "1"}; /* the top from this batch, or from an earlier one */
    const char *streams[] = {"oo", "oo1"};
    for (int k = 0; k < 2; k++) {
        int rc = RUN(t, "--stream", streams[k], "--id", "ts", "--batch", batches[k], t->path);
        expect_rc(rc, 0);
        struct lbt_entry *e;
        long n = lbt_xrange_all(t->c, streams[k], &e);
        assert_int_equal(n, 6);
        for (int i = 0; i < 6; i++) {
            if (strcmp(e[i].id, want[i]) != 0)
                fail_msg("--batch %s: entry %d has ID %s, want %s", batches[k], i, e[i].id,
                         want[i]);
            /* the timestamp field keeps the truth */
            const struct iu_line *l = &f->lines[i];
            const char *bar = memchr(f->buf + l->off, '|', l->len);
            const char *bar2 = memchr(bar + 1, '|', l->len);
            assert_int_equal(strlen(lbt_field(&e[i], "timestamp")), (size_t)(bar2 - bar - 1));
            assert_memory_equal(lbt_field(&e[i], "timestamp"), bar + 1, (size_t)(bar2 - bar - 1));
        }
        lbt_entries_free(e, n);
        /* counted, and said */
        if (iu_count_lines_with(err, "3 lines were older") != 1)
            fail_msg("--batch %s: no warning counting 3 reordered lines: %s", batches[k], err);
    }
    /* A later import of older history into the same stream: all at the top. */
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/older.log", t->dir);
    const char older[] = "web|2025-06-17T00:00:00Z|t|x\nweb|2025-06-17T00:00:01Z|t|y\n";
    assert_int_equal(lbt_write_file(p2, older, sizeof(older) - 1), 0);
    int rc = RUN(t, "--stream", "oo", "--id", "ts", p2);
    expect_rc(rc, 0);
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "oo", &e);
    assert_int_equal(n, 8);
    assert_string_equal(e[6].id, "1750240800700-1");
    assert_string_equal(e[7].id, "1750240800700-2");
    assert_string_equal(lbt_field(&e[7], "timestamp"), "2025-06-17T00:00:01Z");
    lbt_entries_free(e, n);
    assert_int_equal(iu_count_lines_with(err, "2 lines were older"), 1);
}

/* ---- encodings and provenance ----------------------------------------------------- */

static void add_mixed_lines(struct iu_fix *f)
{
    iu_fix_valid(f, "web", "2025-06-18T10:00:00Z", T0, "login", "quote \" backslash \\ slash /");
    iu_fix_valid(f, "w\"eb", "1750240801", T0 + 1000, "t\\y", "tab\there ctl\x01 del\x7f");
    iu_fix_bad(f, "not a line", "fields");
    iu_fix_valid(f, "web", "1750240802", T0 + 2000, "t", "{\"already\":\"json\"}");
    iu_fix_valid(f, "web", "1750240803", T0 + 3000, "t", "");
    iu_fix_valid(f, "web", "1750240804", T0 + 4000, "t", "utf8 \xc3\xa9\xe2\x82\xac|bar");
}

static void import_json_encoding_holds_the_object(void **state)
{
    struct fx_import *t = *state;
    add_mixed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "je", "--encoding", "json", t->path);
    expect_rc(rc, 0);
    struct iu_expect x = {"je", "logbridge:dlq:{je}", t->path, 1, 1, NULL, 0, 0, t->f.n, 0, 0};
    verify_x(t, &x);
    /* --json-field names the field */
    rc = RUN(t, "--stream", "jf", "--encoding", "json", "--json-field", "payload", t->path);
    expect_rc(rc, 0);
    struct iu_expect y = {"jf", "logbridge:dlq:{jf}", t->path, 1, 1, "payload", 0, 0, t->f.n, 0, 0};
    verify_x(t, &y);
    /* --no-provenance: the object has no src and no off */
    rc = RUN(t, "--stream", "jn", "--encoding", "json", "--no-provenance", t->path);
    expect_rc(rc, 0);
    struct iu_expect z = {"jn", "logbridge:dlq:{jn}", t->path, 0, 1, NULL, 0, 0, t->f.n, 0, 0};
    verify_x(t, &z);
}

static void import_json_field_is_ignored_by_the_fields_encoding(void **state)
{
    struct fx_import *t = *state;
    add_mixed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "ff", "--json-field", "payload", t->path);
    expect_rc(rc, 0);
    verify(t, "ff", "logbridge:dlq:{ff}", t->path, 0, t->f.n);
}

static void import_no_provenance_leaves_out_src_and_off(void **state)
{
    struct fx_import *t = *state;
    add_mixed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "np", "--no-provenance", t->path);
    expect_rc(rc, 0);
    struct iu_expect x = {"np", "logbridge:dlq:{np}", t->path, 0, 0, NULL, 0, 0, t->f.n, 0, 0};
    verify_x(t, &x);
    /* the DLQ keeps its provenance: it is how an operator finds the line */
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "logbridge:dlq:{np}", &e);
    assert_int_equal(n, 1);
    assert_string_equal(lbt_field(&e[0], "src"), t->path);
    lbt_entries_free(e, n);
}

/* ---- templates and hash tags -------------------------------------------------------- */

/* Every stream of a template holds its own lines in file order. */
static void check_template(struct fx_import *t, const char *prefix, int by_role, const char *dlq,
                           const char *ckpt)
{
    struct iu_fix *f = &t->f;
    const char *names[] = {"web", "worker", "login", "pay"};
    size_t total = 0;
    for (int k = by_role ? 0 : 2; k < (by_role ? 2 : 4); k++) {
        char key[128];
        snprintf(key, sizeof(key), "%s%s", prefix, names[k]);
        struct lbt_entry *e;
        long n = lbt_xrange_all(t->c, key, &e);
        assert_true(n >= 0);
        size_t j = 0;
        for (size_t i = 0; i < f->n; i++) {
            const struct iu_line *l = &f->lines[i];
            if (l->kind != IU_VALID)
                continue;
            const char *p = f->buf + l->off;
            const char *bar = memchr(p, '|', l->len);
            const char *b2 = memchr(bar + 1, '|', l->len - (size_t)(bar + 1 - p));
            const char *b3 = memchr(b2 + 1, '|', l->len - (size_t)(b2 + 1 - p));
            const char *val = by_role ? p : b2 + 1;
            size_t vn = by_role ? (size_t)(bar - p) : (size_t)(b3 - b2 - 1);
            if (vn != strlen(names[k]) || memcmp(val, names[k], vn) != 0)
                continue;
            if ((long)j >= n)
                fail_msg("stream %s lacks line %zu", key, i + 1);
            char offs[32];
            snprintf(offs, sizeof(offs), "%" PRIu64, l->off);
            if (strcmp(lbt_field(&e[j], "off"), offs) != 0)
                fail_msg("stream %s entry %zu: off %s, want %s", key, j, lbt_field(&e[j], "off"),
                         offs);
            assert_string_equal(lbt_field(&e[j], "src"), t->path);
            j++;
        }
        if ((long)j != n)
            fail_msg("stream %s holds %ld entries, want %zu", key, n, j);
        total += j;
        lbt_entries_free(e, n);
    }
    size_t v, b;
    iu_fix_counts(f, f->n, &v, &b, NULL);
    assert_int_equal(total, v);
    /* the DLQ and the checkpoint live under the template's tag */
    if (lbt_xlen(t->c, dlq) != (long long)b)
        fail_msg("DLQ %s holds %lld entries, want %zu (keys: template tag rule)", dlq,
                 lbt_xlen(t->c, dlq), b);
    struct lb_ckpt ck;
    if (iu_ckpt(t->c, ckpt, t->path, &ck) != 1)
        fail_msg("no checkpoint in %s", ckpt);
    assert_int_equal(ck.off, t->f.len);
    assert_int_equal(ck.line, t->f.n);
}

static void add_routed_lines(struct iu_fix *f)
{
    static const char *const roles[] = {"web", "worker"};
    static const char *const types[] = {"login", "pay"};
    for (int i = 0; i < 3000; i++) {
        char data[64];
        snprintf(data, sizeof(data), "n=%d", i);
        iu_fix_valid(f, roles[(i / 3) % 2], "1750240800", T0, types[(i / 7) % 2], data);
        if (i % 500 == 250)
            iu_fix_bad(f, "routed nowhere", "fields");
    }
}

static void import_template_by_type_keys_under_the_template_text(void **state)
{
    struct fx_import *t = *state;
    add_routed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "events:%{type}", t->path);
    expect_rc(rc, 0);
    check_template(t, "events:", 0, "logbridge:dlq:{events:%{type}}",
                   "logbridge:ckpt:{events:%{type}}");
    /* two streams, the DLQ and the checkpoint: nothing else */
    assert_int_equal(iu_dbsize(t->c), 4);
}

static void import_template_with_tag_routes_by_role(void **state)
{
    struct fx_import *t = *state;
    add_routed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "{ev}:%{role}", "--batch", "333", t->path);
    expect_rc(rc, 0);
    check_template(t, "{ev}:", 1, "logbridge:dlq:{ev}", "logbridge:ckpt:{ev}");
    assert_int_equal(iu_dbsize(t->c), 4);
}

/* More distinct streams than one batch may name (256): all land, in order. */
static void import_template_with_many_streams(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 1800; i++) {
        char type[32], data[32];
        snprintf(type, sizeof(type), "type%03d", (i * 7) % 600);
        snprintf(data, sizeof(data), "i=%d", i);
        iu_fix_valid(&t->f, "web", "1750240800", T0, type, data);
    }
    write_fix(t);
    int rc = RUN(t, "--stream", "{m}:%{type}", "--batch", "5000", t->path);
    expect_rc(rc, 0);
    assert_int_equal(iu_dbsize(t->c), 601); /* 600 streams and the checkpoint */
    for (int k = 0; k < 600; k += 1) {
        char key[64];
        snprintf(key, sizeof(key), "{m}:type%03d", k);
        struct lbt_entry *e;
        long n = lbt_xrange_all(t->c, key, &e);
        if (n != 3)
            fail_msg("%s holds %ld entries, want 3", key, n);
        int prev = -1;
        for (long j = 0; j < n; j++) {
            int i = atoi(lbt_field(&e[j], "data") + 2);
            assert_int_equal((i * 7) % 600, k);
            assert_true(i > prev);
            prev = i;
        }
        lbt_entries_free(e, n);
    }
}

static void import_hash_tagged_stream_derives_its_keys(void **state)
{
    struct fx_import *t = *state;
    add_mixed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "{app}:messages", t->path);
    expect_rc(rc, 0);
    verify(t, "{app}:messages", "logbridge:dlq:{app}", t->path, 0, t->f.n);
    check_ckpt(t, "logbridge:ckpt:{app}", t->path, t->f.n, t->path, NULL);
    assert_int_equal(iu_dbsize(t->c), 3);
}

/* ---- reruns, partial lines, trust -------------------------------------------------- */

static void import_rerun_writes_nothing(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {5};
    struct iu_gen g = {5000, 10, 10, 10, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN); /* ends with blank lines */
    iu_fix_add(&t->f, "", 0, "\r\n", IU_BLANK, NULL, INT64_MIN);
    write_fix(t);
    int rc = RUN(t, "--stream", "re", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, t->f.n, 0);
    cJSON *sum = iu_summary(out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 0);
    cJSON_Delete(sum);
    long long calls = iu_cmd_calls(t->c, "evalsha");
    long long xlen = lbt_xlen(t->c, "re"), dlen = lbt_xlen(t->c, "logbridge:dlq:{re}");
    struct lb_ckpt before, after;
    assert_int_equal(iu_ckpt(t->c, "logbridge:ckpt:{re}", t->path, &before), 1);

    rc = RUN(t, "--stream", "re", "--summary", "json", t->path);
    expect_rc(rc, 0);
    sum = iu_summary(out);
    assert_non_null(sum);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    assert_int_equal((long long)iu_jnum(sum, -1, "lines"), 0);
    assert_int_equal((long long)iu_jnum(sum, -1, "imported"), 0);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)t->f.len);
    assert_int_equal((long long)iu_jnum(sum, 0, "bytes"), 0);
    cJSON_Delete(sum);
    assert_int_equal(iu_cmd_calls(t->c, "evalsha"), calls);
    assert_int_equal(lbt_xlen(t->c, "re"), xlen);
    assert_int_equal(lbt_xlen(t->c, "logbridge:dlq:{re}"), dlen);
    assert_int_equal(iu_ckpt(t->c, "logbridge:ckpt:{re}", t->path, &after), 1);
    assert_memory_equal(&before, &after, sizeof(before));
    verify(t, "re", "logbridge:dlq:{re}", t->path, 0, t->f.n);
}

static void import_blank_lines_advance_the_checkpoint(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 50; i++)
        iu_fix_add(&t->f, "", 0, i % 2 ? "\n" : "\r\n", IU_BLANK, NULL, INT64_MIN);
    write_fix(t);
    int rc = RUN(t, "--stream", "bl", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, t->f.n, 0);
    check_ckpt(t, "logbridge:ckpt:{bl}", t->path, t->f.n, t->path, "");
    assert_int_equal(iu_dbsize(t->c), 1); /* only the checkpoint */
    rc = RUN(t, "--stream", "bl", "--summary", "json", t->path);
    expect_rc(rc, 0);
    cJSON *sum = iu_summary(out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    cJSON_Delete(sum);
}

static void import_partial_last_line_is_held_back(void **state)
{
    struct fx_import *t = *state;
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_valid(&t->f, "web", "1750240801", T0 + 1000, "t", "two");
    write_fix(t);
    const char part[] = "web|1750240802|t|three, still being written";
    assert_int_equal(lbt_append_file(t->path, part, sizeof(part) - 1), 0);
    int rc = RUN(t, "--stream", "pl", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, 2, 1);
    if (iu_count_lines_with(err, "no newline") < 1)
        fail_msg("no warning about the partial line: %s", err);
    check_ckpt(t, "logbridge:ckpt:{pl}", t->path, 2, t->path, NULL);
    verify(t, "pl", "logbridge:dlq:{pl}", t->path, 0, 2);

    /* the writer finishes the line: it is imported once, whole */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_valid(&t->f, "web", "1750240801", T0 + 1000, "t", "two");
    iu_fix_valid(&t->f, "web", "1750240802", T0 + 2000, "t",
                 "three, still being written, and done");
    iu_fix_valid(&t->f, "web", "1750240803", T0 + 3000, "t", "four");
    const char rest[] = ", and done\nweb|1750240803|t|four\n";
    assert_int_equal(lbt_append_file(t->path, rest, sizeof(rest) - 1), 0);
    rc = RUN(t, "--stream", "pl", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 2, 4, 0);
    verify(t, "pl", "logbridge:dlq:{pl}", t->path, 0, 4);
    check_ckpt(t, "logbridge:ckpt:{pl}", t->path, 4, t->path, NULL);
}

static void import_final_takes_the_partial_line(void **state)
{
    struct fx_import *t = *state;
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    const char lastl[] = "web|1750240801|t|last, no newline";
    iu_fix_add(&t->f, lastl, sizeof(lastl) - 1, "", IU_VALID, NULL, T0 + 1000);
    write_fix(t);
    int rc = RUN(t, "--stream", "fi", "--final", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, 2, 0);
    verify(t, "fi", "logbridge:dlq:{fi}", t->path, 0, 2);
    check_ckpt(t, "logbridge:ckpt:{fi}", t->path, 2, t->path, NULL);
    rc = RUN(t, "--stream", "fi", "--final", "--summary", "json", t->path);
    expect_rc(rc, 0);
    cJSON *sum = iu_summary(out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    cJSON_Delete(sum);
    assert_int_equal(lbt_xlen(t->c, "fi"), 2);

    /* a bad partial line goes to the DLQ like any other */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_add(&t->f, "broken tail", 11, "", IU_BAD, "fields", INT64_MIN);
    snprintf(t->path, sizeof(t->path), "%s/b.log", t->dir);
    write_fix(t);
    rc = RUN(t, "--stream", "fb", "--final", t->path);
    expect_rc(rc, 0);
    verify(t, "fb", "logbridge:dlq:{fb}", t->path, 0, 2);
}

static void import_stdin_takes_the_partial_line(void **state)
{
    struct fx_import *t = *state;
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_bad(&t->f, "bad one", "fields");
    iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
    const char lastl[] = "web|1750240801|t|no newline";
    iu_fix_add(&t->f, lastl, sizeof(lastl) - 1, "", IU_VALID, NULL, T0 + 1000);
    int rc = run_in(t, t->f.buf, t->f.len, "--stream", "in", "--summary", "json", "-",
                    (const char *)NULL);
    expect_rc(rc, 0);
    check_summary(t, 0, t->f.n, 0);
    verify(t, "in", "logbridge:dlq:{in}", "stdin", 0, t->f.n);
    /* --name names stdin too */
    rc = run_in(t, t->f.buf, t->f.len, "--stream", "in2", "--name", "legacy-app", "-",
                (const char *)NULL);
    expect_rc(rc, 0);
    verify(t, "in2", "logbridge:dlq:{in2}", "legacy-app", 0, t->f.n);
}

static void import_replaced_file_is_read_from_the_start(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 40; i++)
        iu_fix_valid(&t->f, "old", "1750240800", T0, "t", "the old file's line");
    write_fix(t);
    int rc = RUN(t, "--stream", "rp", t->path);
    expect_rc(rc, 0);
    verify(t, "rp", "logbridge:dlq:{rp}", t->path, 0, t->f.n);

    /* a new file renamed over it: another inode, and here even a longer one
     * with the same first bytes */
    struct iu_fix old = t->f;
    iu_fix_init(&t->f);
    for (int i = 0; i < 40; i++)
        iu_fix_valid(&t->f, "old", "1750240800", T0, "t", "the old file's line");
    for (int i = 0; i < 30; i++)
        iu_fix_valid(&t->f, "new", "1750240900", T0 + 100000, "t", "the new file's line");
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/app.log.new", t->dir);
    assert_int_equal(iu_fix_write(&t->f, tmp), 0);
    assert_int_equal(rename(tmp, t->path), 0);
    rc = RUN(t, "--stream", "rp", "--summary", "json", t->path);
    expect_rc(rc, 0);
    if (iu_count_lines_with(err, "not trusted") < 1)
        fail_msg("no warning that the checkpoint is not trusted: %s", err);
    check_summary(t, 0, t->f.n, 0);
    struct iu_expect x = {"rp", "logbridge:dlq:{rp}", t->path, 1, 0, NULL, 0, 0, t->f.n, 40, 0};
    verify_x(t, &x);
    iu_fix_free(&old);
}

static void import_rewritten_file_is_read_from_the_start(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 30; i++)
        iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "first version");
    write_fix(t);
    int rc = RUN(t, "--stream", "rw", t->path);
    expect_rc(rc, 0);
    struct stat st1, st2;
    assert_int_equal(stat(t->path, &st1), 0);
    /* rewritten in place (same inode), longer, other first bytes */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    for (int i = 0; i < 60; i++)
        iu_fix_valid(&t->f, "api", "1750240900", T0 + 100000, "t", "second version");
    write_fix(t);
    assert_int_equal(stat(t->path, &st2), 0);
    assert_true(st1.st_ino == st2.st_ino);
    rc = RUN(t, "--stream", "rw", "--summary", "json", t->path);
    expect_rc(rc, 0);
    if (iu_count_lines_with(err, "not trusted") < 1)
        fail_msg("no warning that the checkpoint is not trusted: %s", err);
    check_summary(t, 0, t->f.n, 0);
    struct iu_expect x = {"rw", "logbridge:dlq:{rw}", t->path, 1, 0, NULL, 0, 0, t->f.n, 30, 0};
    verify_x(t, &x);

    /* truncated in place below the checkpoint: also from the start */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    for (int i = 0; i < 5; i++)
        iu_fix_valid(&t->f, "api", "1750240900", T0 + 100000, "t", "second version");
    write_fix(t);
    rc = RUN(t, "--stream", "rw", "--summary", "json", t->path);
    expect_rc(rc, 0);
    if (iu_count_lines_with(err, "not trusted") < 1)
        fail_msg("no warning that the checkpoint is not trusted: %s", err);
    assert_int_equal(lbt_xlen(t->c, "rw"), 95);
}

/* ---- strict, dry run, options ------------------------------------------------------- */

static void import_strict_commits_before_the_bad_line(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 2500; i++) {
        if (i % 400 == 7)
            iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
        iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "before");
    }
    size_t bad = t->f.n;
    iu_fix_bad(&t->f, "web|not-a-time|t|the bad one", "timestamp");
    for (int i = 0; i < 100; i++)
        iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "after");
    iu_fix_bad(&t->f, "another bad one", "fields");
    write_fix(t);
    for (int round = 0; round < 2; round++) {
        int rc = RUN(t, "--stream", "st", "--strict", "--batch", "1000", t->path);
        expect_rc(rc, 1);
        char want[64];
        snprintf(want, sizeof(want), "line=%zu", bad + 1);
        if (iu_count_lines_with(err, want) < 1 || iu_count_lines_with(err, "timestamp") < 1)
            fail_msg("the error should name line %zu and its reason: %s", bad + 1, err);
        verify(t, "st", "logbridge:dlq:{st}", t->path, 0, bad);
        check_ckpt(t, "logbridge:ckpt:{st}", t->path, bad, t->path, NULL);
    }
    int rc = RUN(t, "--stream", "st", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, bad, t->f.n, 0);
    verify(t, "st", "logbridge:dlq:{st}", t->path, 0, t->f.n);

    /* a bad first line: nothing at all */
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/first.log", t->dir);
    assert_int_equal(lbt_write_file(p2, "bad\nweb|1750240800|t|d\n", 24), 0);
    rc = RUN(t, "--stream", "st2", "--strict", p2);
    expect_rc(rc, 1);
    assert_int_equal(lbt_xlen(t->c, "st2"), 0);
    assert_int_equal(lbt_xlen(t->c, "logbridge:dlq:{st2}"), 0);
}

static void import_dry_run_writes_nothing(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {9};
    struct iu_gen g = {12000, 10, 10, 10, 1024, 0};
    iu_fix_gen(&t->f, &g, &rng);
    write_fix(t);
    int rc =
        RUN(t, "--stream", "dr", "--dry-run", "--max-line", "1024", "--summary", "json", t->path);
    expect_rc(rc, 0);
    check_summary(t, 0, t->f.n, 0);
    assert_int_equal(iu_dbsize(t->c), 0);
    assert_int_equal(iu_cmd_calls(t->c, "evalsha"), 0);
    /* the text summary says it was a dry run */
    rc = RUN(t, "--stream", "dr", "--dry-run", "--max-line", "1024", t->path);
    expect_rc(rc, 0);
    assert_non_null(strstr(out, "dry run"));
    assert_int_equal(iu_dbsize(t->c), 0);
}

/* --metrics-file: the counters say what the run did, in Prometheus text. */
static void import_metrics_file_counts_lines(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {11};
    struct iu_gen g = {3000, 10, 10, 10, 1024, 0};
    iu_fix_gen(&t->f, &g, &rng);
    write_fix(t);
    char mpath[600];
    snprintf(mpath, sizeof(mpath), "%s/m.prom", t->dir);
    int rc = RUN(t, "--stream", "mx", "--max-line", "1024", "--metrics-file", mpath, t->path);
    expect_rc(rc, 0);
    size_t valid, bad, blank, n;
    iu_fix_counts(&t->f, t->f.n, &valid, &bad, &blank);
    char *m = lbt_read_file(mpath, &n);
    assert_non_null(m);
    char want[1200];
    const char *outcome[] = {"written", "bad", "blank"};
    size_t count[] = {valid, bad, blank};
    for (int k = 0; k < 3; k++) {
        snprintf(want, sizeof(want), "logbridge_lines_total{src=\"%s\",outcome=\"%s\"} %zu\n",
                 t->path, outcome[k], count[k]);
        if (strstr(m, want) == NULL)
            fail_msg("metrics file lacks '%s':\n%s", want, m);
    }
    snprintf(want, sizeof(want), "logbridge_bytes_read_total{src=\"%s\"} %zu\n", t->path, t->f.len);
    if (strstr(m, want) == NULL)
        fail_msg("metrics file lacks '%s':\n%s", want, m);
    assert_int_equal(lbt_xlen(t->c, "mx"), (long long)valid);
    free(m);
}

static void import_bad_options_exit_2_naming_the_option(void **state)
{
    struct fx_import *t = *state;
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/b.log", t->dir);
    assert_int_equal(lbt_write_file(t->path, "web|1750240800|t|d\n", 19), 0);
    assert_int_equal(lbt_write_file(p2, "web|1750240800|t|d\n", 19), 0);
    struct {
        const char *args[8];
        const char *names;
    } cases[] = {
        {{"--stream", "s", "--batch", "0", t->path}, "--batch"},
        {{"--stream", "s", "--batch", "x", t->path}, "--batch"},
        {{"--stream", "s", "--batch", "-5", t->path}, "--batch"},
        {{"--stream", "s", "--id", "foo", t->path}, "--id"},
        {{"--stream", "s", "--summary", "x", t->path}, "--summary"},
        {{t->path}, "--stream"},
        {{"--stream", "", t->path}, "--stream"},
        {{"--stream", "s", "--name", "n", t->path, p2}, "--name"},
        {{"--stream", "s", "--bogus", t->path}, "--bogus"},
        {{"--stream", "s", "--retry-for", "-1", t->path}, "--retry-for"},
        {{"--stream", "s", "--max-line", "5", t->path}, "--max-line"},
        {{"--stream", "s", "--format", "xml", t->path}, "--format"},
        {{"--stream", "s", "--encoding", "yaml", t->path}, "--encoding"},
        {{"--stream", "s", "--redis", "http://localhost", t->path}, "--redis"},
        {{"--stream", "s", t->path, "--batch"}, "--batch"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, "import", "--redis", t->r.url, NULL);
        for (int k = 0; k < 8 && cases[i].args[k] != NULL; k++)
            iu_args_add(&a, cases[i].args[k], NULL);
        int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        if (rc != 2 || strstr(err, cases[i].names) == NULL)
            fail_msg("case %zu (%s): exit %d, stderr '%s'; want exit 2 naming %s", i,
                     cases[i].names, rc, err, cases[i].names);
        if (iu_count_lines_with(err, "") > 3)
            fail_msg("case %zu: a usage error should be short: '%s'", i, err);
    }
    /* no FILE at all */
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "s", NULL);
    assert_int_equal(lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_int_equal(iu_dbsize(t->c), 0);
}

/* --progress writes to stderr only: stdout stays the summary alone. */
static void import_progress_goes_to_stderr(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {11};
    struct iu_gen g = {30000, 10, 5, 5, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    write_fix(t);
    int rc = RUN(t, "--stream", "pg", "--progress", "--summary", "json", t->path);
    expect_rc(rc, 0);
    cJSON *sum = cJSON_Parse(out);
    if (sum == NULL)
        fail_msg("stdout is not one JSON object: %.300s", out);
    cJSON_Delete(sum);
    check_summary(t, 0, t->f.n, 0);
    if (strstr(err, "lines/s") == NULL)
        fail_msg("no progress line on stderr: %.500s", err);
    verify(t, "pg", "logbridge:dlq:{pg}", t->path, 0, t->f.n);
}

static void import_missing_file_exits_3_naming_it(void **state)
{
    struct fx_import *t = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/does-not-exist.log", t->dir);
    int rc = RUN(t, "--stream", "mf", p);
    expect_rc(rc, 3);
    assert_non_null(strstr(err, "does-not-exist.log"));
}

static void import_files_in_the_order_given(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix fx3[3];
    char paths[3][600];
    struct iu_rng rng = {31};
    for (int k = 0; k < 3; k++) {
        iu_fix_init(&fx3[k]);
        struct iu_gen g = {1500 + 500 * k, 10, 5, 5, 0, T0 + k * 10000000};
        iu_fix_gen(&fx3[k], &g, &rng);
        snprintf(paths[k], sizeof(paths[k]), "%s/app.log.%d%s", t->dir, 2 - k, k == 0 ? ".gz" : "");
        if (k == 0)
            assert_int_equal(iu_fix_write_gz(&fx3[k], paths[k]), 0);
        else
            assert_int_equal(iu_fix_write(&fx3[k], paths[k]), 0);
    }
    int rc = RUN(t, "--stream", "mo", "--summary", "json", paths[0], paths[1], paths[2]);
    expect_rc(rc, 0);
    cJSON *sum = iu_summary(out);
    assert_non_null(sum);
    size_t sv = 0, sb = 0, lines = 0;
    for (int k = 0; k < 3; k++) {
        size_t v, b, bl;
        iu_fix_counts(&fx3[k], fx3[k].n, &v, &b, &bl);
        assert_int_equal((long long)iu_jnum(sum, k, "imported"), (long long)v);
        assert_int_equal((long long)iu_jnum(sum, k, "bad"), (long long)b);
        assert_int_equal((long long)iu_jnum(sum, k, "blank"), (long long)bl);
        const cJSON *fa = cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "files"), k);
        assert_string_equal(cJSON_GetObjectItem(fa, "path")->valuestring, paths[k]);
        char why[4096];
        if (iu_check_ckpt(t->c, "logbridge:ckpt:{mo}", paths[k], &fx3[k], fx3[k].n, paths[k], NULL,
                          why, sizeof(why)) != 0)
            fail_msg("%s: %s", paths[k], why);
        sv += v;
        sb += b;
        lines += v + b + bl;
    }
    assert_int_equal((long long)iu_jnum(sum, -1, "lines"), (long long)lines);
    cJSON_Delete(sum);
    /* the stream is the three files one after the other */
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "mo", &e);
    assert_int_equal(n, (long)sv);
    size_t j = 0;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < fx3[k].n; i++) {
            if (fx3[k].lines[i].kind != IU_VALID)
                continue;
            char offs[32];
            snprintf(offs, sizeof(offs), "%" PRIu64, fx3[k].lines[i].off);
            if (strcmp(lbt_field(&e[j], "src"), paths[k]) != 0 ||
                strcmp(lbt_field(&e[j], "off"), offs) != 0)
                fail_msg("entry %zu: src=%s off=%s, want %s %s", j, lbt_field(&e[j], "src"),
                         lbt_field(&e[j], "off"), paths[k], offs);
            j++;
        }
    lbt_entries_free(e, n);
    assert_int_equal(lbt_xlen(t->c, "logbridge:dlq:{mo}"), (long long)sb);
    for (int k = 0; k < 3; k++)
        iu_fix_free(&fx3[k]);
}

static void import_name_overrides_src(void **state)
{
    struct fx_import *t = *state;
    add_mixed_lines(&t->f);
    write_fix(t);
    int rc = RUN(t, "--stream", "nm", "--name", "billing-app", t->path);
    expect_rc(rc, 0);
    verify(t, "nm", "logbridge:dlq:{nm}", "billing-app", 0, t->f.n);
    check_ckpt(t, "logbridge:ckpt:{nm}", "billing-app", t->f.n, t->path, NULL);
    /* a relative path is recorded as the absolute path it was named at */
    struct iu_args a;
    iu_args_init(&a);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(t->dir), 0);
    /* "../lbtest.XXXXXX/./app.log": folded without touching the file system */
    char rel[600];
    const char *base = strrchr(t->dir, '/');
    snprintf(rel, sizeof(rel), "..%s/./app.log", base);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "rel", rel, NULL);
    char bin[PATH_MAX];
    snprintf(bin, sizeof(bin), "%s", lbt_bin());
    int rc2 = bin[0] == '/' ? lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0) : -2;
    assert_int_equal(chdir(cwd), 0);
    if (rc2 == -2) {
        print_message("skipped: LOGBRIDGE_BIN (%s) is relative, so it cannot be run from "
                      "another directory\n",
                      bin);
        skip();
    }
    expect_rc(rc2, 0);
    verify(t, "rel", "logbridge:dlq:{rel}", t->path, 0, t->f.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_import_setup_shared, fx_import_teardown)
        T(import_every_pipe_reason_reaches_the_dlq),
        T(import_invalid_utf8_only_with_json_encoding),
        T(import_jsonl_reasons_and_fields),
        T(import_too_long_raw_is_the_first_64k),
        T(import_many_short_lines_in_the_first_kib),
        T(import_binary_data_is_kept_verbatim),
        T(import_gz_offsets_are_decompressed_bytes),
        T(import_gz_resumes_from_its_checkpoint),
        T(import_id_ts_ids_are_the_parsed_ms),
        T(import_id_ts_out_of_order_lines_go_to_the_top),
        T(import_json_encoding_holds_the_object),
        T(import_json_field_is_ignored_by_the_fields_encoding),
        T(import_no_provenance_leaves_out_src_and_off),
        T(import_template_by_type_keys_under_the_template_text),
        T(import_template_with_tag_routes_by_role),
        T(import_template_with_many_streams),
        T(import_hash_tagged_stream_derives_its_keys),
        T(import_rerun_writes_nothing),
        T(import_blank_lines_advance_the_checkpoint),
        T(import_partial_last_line_is_held_back),
        T(import_final_takes_the_partial_line),
        T(import_stdin_takes_the_partial_line),
        T(import_replaced_file_is_read_from_the_start),
        T(import_rewritten_file_is_read_from_the_start),
        T(import_strict_commits_before_the_bad_line),
        T(import_dry_run_writes_nothing),
        T(import_metrics_file_counts_lines),
        T(import_bad_options_exit_2_naming_the_option),
        T(import_progress_goes_to_stderr),
        T(import_missing_file_exits_3_naming_it),
        T(import_files_in_the_order_given),
        T(import_name_overrides_src),
#undef T
    };
    return cmocka_run_group_tests(tests, fx_import_group_setup, fx_import_group_teardown);
}
