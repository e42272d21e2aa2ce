/*
 * test_import_basic.c - `logbridge import` against a real redis-server (unix
 * socket, temp dir, stopped by PID): what each line becomes (every reason
 * code in the DLQ with src/off/line/reason/raw/raw_len, counts that add up),
 * .gz input and its resume, --id ts (parsed ms, out-of-order lines), the json
 * encoding, --json-field and --no-provenance.
 *
 * Reruns, partial lines and checkpoints not trusted are in
 * test_import_resume.c; templates, hash tags, --strict, --dry-run and options
 * in test_import_options.c. One redis-server serves the group; every test
 * starts from FLUSHALL and counts entries exactly.
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
    fx_import_write_fix(t);

    int rc = FX_IMPORT_RUN(t, "--stream", "s", "--max-line", "400", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, f->n, 0);
    fx_import_verify(t, "s", "logbridge:dlq:{s}", t->path, 0, f->n);
    char last[48];
    iu_last_id(t->c, "s", last);
    fx_import_check_ckpt(t, "logbridge:ckpt:{s}", t->path, f->n, t->path, last);
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
    fx_import_write_fix(t);

    int rc = FX_IMPORT_RUN(t, "--stream", "j", "--encoding", "json", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, f->n, 0);
    struct iu_expect x = {"j", "logbridge:dlq:{j}", t->path, 1, 1, NULL, 0, 0, f->n, 0, 0};
    fx_import_verify_x(t, &x);

    /* In the fields encoding the same bytes are fine: stored verbatim. */
    for (size_t i = 0; i < f->n; i++) {
        f->lines[i].kind = IU_VALID;
        f->lines[i].reason = NULL;
    }
    rc = FX_IMPORT_RUN(t, "--stream", "v", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "v", "logbridge:dlq:{v}", t->path, 0, f->n);
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
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "jl", "--format", "jsonl", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, f->n, 0);
    fx_import_verify(t, "jl", "logbridge:dlq:{jl}", t->path, 0, f->n);
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
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "tl", "--max-line", "1000", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, f->n, 0);
    fx_import_verify(t, "tl", "logbridge:dlq:{tl}", t->path, 0, f->n);
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
    fx_import_write_fix(t);
    for (int k = 0; k < 2; k++) {
        const char *stream = k ? "sh1" : "sh0";
        char dlq[64], ck[64];
        snprintf(dlq, sizeof(dlq), "logbridge:dlq:{%s}", stream);
        snprintf(ck, sizeof(ck), "logbridge:ckpt:{%s}", stream);
        int rc = FX_IMPORT_RUN(t, "--stream", stream, "--batch", k ? "7" : "1000", "--summary",
                               "json", t->path);
        fx_import_expect_rc(t, rc, 0);
        fx_import_check_summary(t, 0, t->f.n, 0);
        fx_import_verify(t, stream, dlq, t->path, 0, t->f.n);
        fx_import_check_ckpt(t, ck, t->path, t->f.n, t->path, NULL);
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
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "b", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "b", "logbridge:dlq:{b}", t->path, 0, f->n);
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
    int rc = FX_IMPORT_RUN(t, "--stream", "gz", "--max-line", "2048", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, t->f.n, 0);
    fx_import_verify(t, "gz", "logbridge:dlq:{gz}", t->path, 0, t->f.n);
    char last[48];
    iu_last_id(t->c, "gz", last);
    fx_import_check_ckpt(t, "logbridge:ckpt:{gz}", t->path, t->f.n, t->path, last);
    /* a rerun decompresses to the end and writes nothing */
    long long calls = iu_cmd_calls(t->c, "evalsha");
    rc = FX_IMPORT_RUN(t, "--stream", "gz", "--max-line", "2048", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    cJSON *sum = iu_summary(t->out);
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
    int rc = FX_IMPORT_RUN(t, "--stream", "gzr", "--strict", "--batch", "700", t->path);
    fx_import_expect_rc(t, rc, 1);
    size_t first_bad = 0;
    while (t->f.lines[first_bad].kind != IU_BAD)
        first_bad++;
    assert_true(first_bad <= bad_at);
    fx_import_check_ckpt(t, "logbridge:ckpt:{gzr}", t->path, first_bad, t->path, NULL);
    fx_import_verify(t, "gzr", "logbridge:dlq:{gzr}", t->path, 0, first_bad);
    /* the rerun decompresses up to the checkpoint and goes on from there */
    rc = FX_IMPORT_RUN(t, "--stream", "gzr", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, first_bad, t->f.n, 0);
    fx_import_verify(t, "gzr", "logbridge:dlq:{gzr}", t->path, 0, t->f.n);
    fx_import_check_ckpt(t, "logbridge:ckpt:{gzr}", t->path, t->f.n, t->path, NULL);
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
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "ts", "--id", "ts", t->path);
    fx_import_expect_rc(t, rc, 0);
    struct iu_expect x = {"ts", "logbridge:dlq:{ts}", t->path, 1, 0, NULL, 1, 0, f->n, 0, 0};
    fx_import_verify_x(t, &x);
    /* equal ms: the sequence counts up */
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "ts", &e);
    assert_int_equal(n, (long)f->n);
    assert_string_equal(e[11].id, "1750240806789-0");
    assert_string_equal(e[12].id, "1750240806789-1");
    assert_string_equal(e[13].id, "1750240806789-2");
    lbt_entries_free(e, n);
    assert_null(strstr(t->err, "older than"));
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
    fx_import_write_fix(t);
    static const char *const want[] = {"1750240800500-0", "1750240800500-1", "1750240800600-0",
                                       "1750240800600-1", "1750240800600-2", "1750240800700-0"};
    const char *batches[] = {"1000", "1"}; /* the top from this batch, or from an earlier one */
    const char *streams[] = {"oo", "oo1"};
    for (int k = 0; k < 2; k++) {
        int rc =
            FX_IMPORT_RUN(t, "--stream", streams[k], "--id", "ts", "--batch", batches[k], t->path);
        fx_import_expect_rc(t, rc, 0);
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
        if (iu_count_lines_with(t->err, "3 lines were older") != 1)
            fail_msg("--batch %s: no warning counting 3 reordered lines: %s", batches[k], t->err);
    }
    /* A later import of older history into the same stream: all at the top. */
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/older.log", t->dir);
    const char older[] = "web|2025-06-17T00:00:00Z|t|x\nweb|2025-06-17T00:00:01Z|t|y\n";
    assert_int_equal(lbt_write_file(p2, older, sizeof(older) - 1), 0);
    int rc = FX_IMPORT_RUN(t, "--stream", "oo", "--id", "ts", p2);
    fx_import_expect_rc(t, rc, 0);
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "oo", &e);
    assert_int_equal(n, 8);
    assert_string_equal(e[6].id, "1750240800700-1");
    assert_string_equal(e[7].id, "1750240800700-2");
    assert_string_equal(lbt_field(&e[7], "timestamp"), "2025-06-17T00:00:01Z");
    lbt_entries_free(e, n);
    assert_int_equal(iu_count_lines_with(t->err, "2 lines were older"), 1);
}

/* ---- encodings and provenance ----------------------------------------------------- */

static void import_json_encoding_holds_the_object(void **state)
{
    struct fx_import *t = *state;
    fx_import_add_mixed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "je", "--encoding", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    struct iu_expect x = {"je", "logbridge:dlq:{je}", t->path, 1, 1, NULL, 0, 0, t->f.n, 0, 0};
    fx_import_verify_x(t, &x);
    /* --json-field names the field */
    rc = FX_IMPORT_RUN(t, "--stream", "jf", "--encoding", "json", "--json-field", "payload",
                       t->path);
    fx_import_expect_rc(t, rc, 0);
    struct iu_expect y = {"jf", "logbridge:dlq:{jf}", t->path, 1, 1, "payload", 0, 0, t->f.n, 0, 0};
    fx_import_verify_x(t, &y);
    /* --no-provenance: the object has no src and no off */
    rc = FX_IMPORT_RUN(t, "--stream", "jn", "--encoding", "json", "--no-provenance", t->path);
    fx_import_expect_rc(t, rc, 0);
    struct iu_expect z = {"jn", "logbridge:dlq:{jn}", t->path, 0, 1, NULL, 0, 0, t->f.n, 0, 0};
    fx_import_verify_x(t, &z);
}

static void import_json_field_is_ignored_by_the_fields_encoding(void **state)
{
    struct fx_import *t = *state;
    fx_import_add_mixed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "ff", "--json-field", "payload", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "ff", "logbridge:dlq:{ff}", t->path, 0, t->f.n);
}

static void import_no_provenance_leaves_out_src_and_off(void **state)
{
    struct fx_import *t = *state;
    fx_import_add_mixed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "np", "--no-provenance", t->path);
    fx_import_expect_rc(t, rc, 0);
    struct iu_expect x = {"np", "logbridge:dlq:{np}", t->path, 0, 0, NULL, 0, 0, t->f.n, 0, 0};
    fx_import_verify_x(t, &x);
    /* the DLQ keeps its provenance: it is how an operator finds the line */
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "logbridge:dlq:{np}", &e);
    assert_int_equal(n, 1);
    assert_string_equal(lbt_field(&e[0], "src"), t->path);
    lbt_entries_free(e, n);
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
#undef T
    };
    return cmocka_run_group_tests(tests, fx_import_group_setup, fx_import_group_teardown);
}
