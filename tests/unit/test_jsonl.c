/*
 * test_jsonl.c - lb_jsonl_parse (parsers/jsonl.c): the `--format jsonl` line
 * of DESIGN.md section 1. JSON syntax, unescaping, data compaction, the
 * reason codes, and that nothing is written outside the scratch buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "record.h"

#define CANARY 0xA5

/* A parse with scratch of exactly n bytes (the contract's minimum), followed
 * by canary bytes that must survive it. */
struct parsed {
    enum lb_reason rc;
    struct lb_record rec;
    char scratch[4096 + 16];
};

static void parse_n(struct parsed *p, const char *line, size_t n)
{
    assert_true(n <= 4096);
    memset(p->scratch, CANARY, sizeof(p->scratch));
    memset(&p->rec, 0, sizeof(p->rec));
    p->rc = lb_jsonl_parse(line, n, &p->rec, p->scratch, n);
    for (size_t i = n; i < sizeof(p->scratch); i++)
        assert_int_equal((unsigned char)p->scratch[i], CANARY);
}

static enum lb_reason parse(struct parsed *p, const char *line)
{
    parse_n(p, line, strlen(line));
    return p->rc;
}

static void slice_is(struct lb_slice s, const char *want)
{
    assert_int_equal(s.n, strlen(want));
    if (s.n > 0)
        assert_memory_equal(s.p, want, s.n);
}

static int in_range(const char *p, const char *base, size_t n)
{
    return p >= base && p <= base + n;
}

#define REC(extra) "{\"role\":\"r\",\"timestamp\":\"1750240800\",\"type\":\"t\"" extra "}"

static void jsonl_parses_an_object(void **state)
{
    (void)state;
    struct parsed p;
    const char *line = "{\"role\":\"web-1\",\"timestamp\":\"2025-06-18T10:00:00.123+02:00\","
                       "\"type\":\"login\",\"data\":\"user=42 | ok\"}";
    assert_int_equal(parse(&p, line), LB_PARSE_OK);
    slice_is(p.rec.role, "web-1");
    slice_is(p.rec.ts, "2025-06-18T10:00:00.123+02:00");
    slice_is(p.rec.type, "login");
    slice_is(p.rec.data, "user=42 | ok");
    assert_int_equal(p.rec.ts_ms, INT64_C(1750233600123));
}

static void jsonl_plain_strings_point_into_the_line(void **state)
{
    (void)state;
    struct parsed p;
    const char *line = REC(",\"data\":\"plain\"");
    assert_int_equal(parse(&p, line), LB_PARSE_OK);
    const size_t n = strlen(line);
    assert_true(in_range(p.rec.role.p, line, n));
    assert_true(in_range(p.rec.ts.p, line, n));
    assert_true(in_range(p.rec.type.p, line, n));
    assert_true(in_range(p.rec.data.p, line, n));
}

static void jsonl_keys_in_any_order_and_extra_keys_ignored(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "{\"data\":\"d\",\"x\":[1,{\"y\":null}],\"type\":\"t\","
                               "\"timestamp\":\"0\",\"host\":\"h\",\"role\":\"r\",\"x\":2}"),
                     LB_PARSE_OK);
    slice_is(p.rec.role, "r");
    slice_is(p.rec.type, "t");
    slice_is(p.rec.data, "d");
    assert_int_equal(p.rec.ts_ms, 0);
}

static void jsonl_unescapes_strings(void **state)
{
    (void)state;
    struct parsed p;
    const char *line = REC(",\"data\":\"q\\\"b\\\\s\\/f\\b\\f\\n\\r\\t.\"");
    assert_int_equal(parse(&p, line), LB_PARSE_OK);
    slice_is(p.rec.data, "q\"b\\s/f\b\f\n\r\t.");
    assert_true(in_range(p.rec.data.p, p.scratch, strlen(line)));
}

static void jsonl_unescapes_unicode(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, REC(",\"data\":\"\\u00e9\\u20AC\\ud83d\\ude00\\u0041\"")),
                     LB_PARSE_OK);
    slice_is(p.rec.data, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                         "A");
    assert_int_equal(parse(&p, REC(",\"data\":\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"")),
                     LB_PARSE_OK);
    slice_is(p.rec.data, "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    assert_int_equal(parse(&p, REC(",\"data\":\"\\udbff\\udfff\"")), LB_PARSE_OK);
    slice_is(p.rec.data, "\xf4\x8f\xbf\xbf");
    /* \u0000 is a NUL byte in DATA */
    assert_int_equal(parse(&p, REC(",\"data\":\"a\\u0000b\"")), LB_PARSE_OK);
    assert_int_equal(p.rec.data.n, 3);
    assert_memory_equal(p.rec.data.p, "a\0b", 3);
    /* raw UTF-8 is copied as it is, next to escapes too */
    assert_int_equal(parse(&p, REC(",\"data\":\"\xc3\xa9\\n\xe2\x82\xac\"")), LB_PARSE_OK);
    slice_is(p.rec.data, "\xc3\xa9\n\xe2\x82\xac");
}

static void jsonl_lone_surrogates_are_json(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, REC(",\"data\":\"\\ud83d\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\ude00\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\ud83dx\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\ud83d\\u0041\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\ud83d\\ud83d\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\ud83d\\n\"")), LB_REASON_JSON);
    /* inside non-string data too: it is validated, not only copied */
    assert_int_equal(parse(&p, REC(",\"data\":[\"\\udc00\"]")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"x\":\"\\ud800\",\"data\":1")), LB_REASON_JSON);
}

static void jsonl_bad_escapes_are_json(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, REC(",\"data\":\"\\x41\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\u12\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\u12g4\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\\'\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"tab\there\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":\"\x01\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, "{\"data\":\"\\"), LB_REASON_JSON);
    assert_int_equal(parse(&p, "{\"data\":\"\\u00"), LB_REASON_JSON);
}

static void jsonl_nested_data_is_compacted(void **state)
{
    (void)state;
    struct parsed p;
    const char *line = REC(", \"data\" : { \"a\" : [ 1 , 2.5e-3 ,\t{ \"b\" : \"x y\" } ] ,"
                           " \"c\" : null , \"d\" : [ ] , \"e\" : { } } ");
    assert_int_equal(parse(&p, line), LB_PARSE_OK);
    slice_is(p.rec.data, "{\"a\":[1,2.5e-3,{\"b\":\"x y\"}],\"c\":null,\"d\":[],\"e\":{}}");
    assert_true(in_range(p.rec.data.p, p.scratch, strlen(line)));
}

static void jsonl_data_strings_inside_values_stay_escaped(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, REC(",\"data\":[\"a\\\"b\", \"\\u00e9\", \"\\n\"]")), LB_PARSE_OK);
    slice_is(p.rec.data, "[\"a\\\"b\",\"\\u00e9\",\"\\n\"]");
    assert_int_equal(parse(&p, REC(",\"data\":{\"k\\u0041\" :1}")), LB_PARSE_OK);
    slice_is(p.rec.data, "{\"k\\u0041\":1}");
}

static void jsonl_data_scalars_keep_their_text(void **state)
{
    (void)state;
    static const char *const vals[] = {"42",   "-1.5e3", "0",     "-0",   "1E+2",
                                       "1e-7", "true",   "false", "null", "0.000"};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), REC(",\"data\": %s "), vals[i]);
        struct parsed p;
        assert_int_equal(parse(&p, line), LB_PARSE_OK);
        slice_is(p.rec.data, vals[i]);
    }
}

static void jsonl_data_may_be_empty(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, REC(",\"data\":\"\"")), LB_PARSE_OK);
    assert_int_equal(p.rec.data.n, 0);
}

static void jsonl_missing_keys_are_fields(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "{}"), LB_REASON_FIELDS);
    assert_int_equal(parse(&p, REC("")), LB_REASON_FIELDS); /* no data */
    assert_int_equal(parse(&p, "{\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_FIELDS);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"type\":\"t\",\"data\":1}"), LB_REASON_FIELDS);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"0\",\"data\":1}"),
                     LB_REASON_FIELDS);
    /* key names are case-sensitive */
    assert_int_equal(parse(&p, "{\"Role\":\"r\",\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_FIELDS);
}

static void jsonl_wrong_types_are_json(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "{\"role\":1,\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_JSON);
    assert_int_equal(
        parse(&p, "{\"role\":\"r\",\"timestamp\":1750240800,\"type\":\"t\",\"data\":1}"),
        LB_REASON_JSON);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"0\",\"type\":null,\"data\":1}"),
                     LB_REASON_JSON);
    assert_int_equal(parse(&p, "{\"role\":[\"r\"],\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_JSON);
    assert_int_equal(parse(&p, "{\"role\":{},\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_JSON);
    /* wrong type beats a missing key */
    assert_int_equal(parse(&p, "{\"role\":true}"), LB_REASON_JSON);
}

static void jsonl_not_an_object_is_json(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "[]"), LB_REASON_JSON);
    assert_int_equal(parse(&p, "\"role\""), LB_REASON_JSON);
    assert_int_equal(parse(&p, "1"), LB_REASON_JSON);
    assert_int_equal(parse(&p, "null"), LB_REASON_JSON);
    assert_int_equal(parse(&p, "{"), LB_REASON_JSON);
    assert_int_equal(parse(&p, "}"), LB_REASON_JSON);
    assert_int_equal(parse(&p, "{\"role\":\"r\""), LB_REASON_JSON);
    assert_int_equal(parse(&p, "r|0|t|d"), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1") " x"), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1") REC(",\"data\":1")), LB_REASON_JSON);
    assert_int_equal(parse(&p, "\xef\xbb\xbf" REC(",\"data\":1")), LB_REASON_JSON); /* BOM */
}

static void jsonl_syntax_errors_are_json(void **state)
{
    (void)state;
    static const char *const bad[] = {
        REC(",\"data\":1,"),
        REC(",\"data\":[1,]"),
        REC(",\"data\":[1 2]"),
        REC(",\"data\":{\"a\"}"),
        REC(",\"data\":{\"a\":}"),
        REC(",\"data\":{\"a\" 1}"),
        REC(",\"data\":{1:2}"),
        REC(",\"data\":{\"a\":1,}"),
        REC(",\"data\":[}"),
        REC(",\"data\":{]"),
        REC(",\"data\":'x'"),
        REC(",\"data\":01"),
        REC(",\"data\":1."),
        REC(",\"data\":.5"),
        REC(",\"data\":+1"),
        REC(",\"data\":-"),
        REC(",\"data\":1e"),
        REC(",\"data\":1e+"),
        REC(",\"data\":NaN"),
        REC(",\"data\":Infinity"),
        REC(",\"data\":tru"),
        REC(",\"data\":nul"),
        REC(",\"data\":True"),
        REC(",\"data\":"),
        REC(",\"data\"1"),
        REC(",data:1"),
        REC(",\"data\":1,,\"x\":1"),
        "{,\"role\":\"r\"}",
        "{\"role\":\"r\" \"type\":\"t\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct parsed p;
        if (parse(&p, bad[i]) != LB_REASON_JSON) {
            print_error("not rejected as json: %s (%s)\n", bad[i], lb_reason_name(p.rc));
            fail();
        }
    }
}

static void jsonl_whitespace_cr_and_blank(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, " \t " REC(",\"data\":1") " \t "), LB_PARSE_OK);
    assert_int_equal(parse(&p, REC(",\"data\":1") "\r"), LB_PARSE_OK);
    slice_is(p.rec.data, "1");
    assert_int_equal(parse(&p, "{ \"role\" : \"r\" ,\n\"timestamp\"\r:\t\"0\" , \"type\":\"t\","
                               "\"data\":\"d\" }"),
                     LB_PARSE_OK);
    assert_int_equal(parse(&p, ""), LB_PARSE_BLANK);
    assert_int_equal(parse(&p, "\r"), LB_PARSE_BLANK);
    assert_int_equal(parse(&p, "   "), LB_REASON_FIELDS);
    assert_int_equal(parse(&p, " \t \r"), LB_REASON_FIELDS);
    assert_int_equal(parse(&p, "\r\r"), LB_REASON_FIELDS);
    assert_int_equal(lb_jsonl_parse(NULL, 0, &p.rec, NULL, 0), LB_PARSE_BLANK);
}

/* 64 containers in all, the outer object counted, is the limit. */
static void jsonl_nesting_depth_is_limited(void **state)
{
    (void)state;
    char line[512];
    struct parsed p;
    for (int depth = 62; depth <= 66; depth++) {
        int arrays = depth - 1;
        char *o = line;
        o += sprintf(o, "%s", "{\"role\":\"r\",\"timestamp\":\"0\",\"type\":\"t\",\"data\":");
        for (int i = 0; i < arrays; i++)
            *o++ = '[';
        for (int i = 0; i < arrays; i++)
            *o++ = ']';
        strcpy(o, "}");
        assert_int_equal(parse(&p, line), depth <= 64 ? LB_PARSE_OK : LB_REASON_JSON);
        if (depth <= 64)
            assert_int_equal(p.rec.data.n, 2 * (size_t)arrays);
    }
    /* the limit holds in ignored keys too, and with objects */
    char *o = line;
    o += sprintf(o, "%s", REC(",\"data\":1,\"x\":"));
    o--; /* drop REC's closing brace */
    for (int i = 0; i < 70; i++)
        o += sprintf(o, "{\"k\":");
    strcpy(o, "1");
    o += 1;
    for (int i = 0; i < 70; i++)
        *o++ = '}';
    strcpy(o, "}");
    assert_int_equal(parse(&p, line), LB_REASON_JSON);
}

static void jsonl_duplicate_known_keys_are_json(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, REC(",\"data\":1,\"role\":\"r2\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1,\"data\":2")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1,\"timestamp\":\"0\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1,\"type\":\"t\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1,\"ty\\u0070e\":\"t\"")), LB_REASON_JSON);
    assert_int_equal(parse(&p, REC(",\"data\":1,\"x\":1,\"x\":2")), LB_PARSE_OK);
}

static void jsonl_escaped_key_names_match(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "{\"r\\u006fle\":\"r\",\"time\\u0073tamp\":\"0\","
                               "\"\\u0074ype\":\"t\",\"dat\\u0061\":\"d\"}"),
                     LB_PARSE_OK);
    slice_is(p.rec.role, "r");
    slice_is(p.rec.type, "t");
    /* a long escaped key is simply another key */
    assert_int_equal(
        parse(&p, REC(",\"data\":1,\"\\u0061aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1")),
        LB_PARSE_OK);
}

static void jsonl_checks_role_timestamp_type(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "{\"role\":\"\",\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_ROLE);
    assert_int_equal(parse(&p, "{\"role\":\"a\\u0001\",\"timestamp\":\"0\",\"type\":\"t\","
                               "\"data\":1}"),
                     LB_REASON_ROLE);
    assert_int_equal(parse(&p, "{\"role\":\"a\\n\",\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_ROLE);
    assert_int_equal(parse(&p, "{\"role\":\"a\\u007f\",\"timestamp\":\"0\",\"type\":\"t\","
                               "\"data\":1}"),
                     LB_REASON_ROLE);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"x\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_TIMESTAMP);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"\",\"type\":\"t\",\"data\":1}"),
                     LB_REASON_TIMESTAMP);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"0\",\"type\":\"\",\"data\":1}"),
                     LB_REASON_TYPE);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"0\",\"type\":\"\\t\",\"data\":1}"),
                     LB_REASON_TYPE);
    /* same order as pipe: role, then timestamp, then type */
    assert_int_equal(parse(&p, "{\"role\":\"\",\"timestamp\":\"x\",\"type\":\"\",\"data\":1}"),
                     LB_REASON_ROLE);
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"x\",\"type\":\"\",\"data\":1}"),
                     LB_REASON_TIMESTAMP);
    /* escaped timestamps are unescaped before parsing */
    assert_int_equal(parse(&p, "{\"role\":\"r\",\"timestamp\":\"\\u0031750240800\",\"type\":\"t\","
                               "\"data\":1}"),
                     LB_PARSE_OK);
    assert_int_equal(p.rec.ts_ms, INT64_C(1750240800000));
    /* a '|' in role is fine for jsonl; mirror checks lb_format_field_ok */
    assert_int_equal(parse(&p, "{\"role\":\"a|b\",\"timestamp\":\"0\",\"type\":\"t\",\"data\":1}"),
                     LB_PARSE_OK);
}

static void jsonl_role_is_at_most_255_bytes(void **state)
{
    (void)state;
    char line[1024];
    struct parsed p;
    for (size_t len = 254; len <= 257; len++) {
        char role[300];
        memset(role, 'r', len);
        role[len] = '\0';
        snprintf(line, sizeof(line),
                 "{\"role\":\"%s\",\"timestamp\":\"0\",\"type\":\"%s\",\"data\":1}", role, "t");
        assert_int_equal(parse(&p, line), len <= 255 ? LB_PARSE_OK : LB_REASON_ROLE);
        snprintf(line, sizeof(line),
                 "{\"role\":\"r\",\"timestamp\":\"0\",\"type\":\"%s\",\"data\":1}", role);
        assert_int_equal(parse(&p, line), len <= 255 ? LB_PARSE_OK : LB_REASON_TYPE);
    }
}

static void jsonl_keeps_high_bytes(void **state)
{
    (void)state;
    struct parsed p;
    assert_int_equal(parse(&p, "{\"role\":\"\xff\",\"timestamp\":\"0\",\"type\":\"t\","
                               "\"data\":[\"\xc3\xa9\"]}"),
                     LB_PARSE_OK);
    slice_is(p.rec.role, "\xff");
    slice_is(p.rec.data, "[\"\xc3\xa9\"]");
}

/* Every piece written to scratch comes from a disjoint part of the line, so
 * n bytes always suffice even when all four values are escaped or compacted. */
static void jsonl_scratch_of_n_bytes_is_enough(void **state)
{
    (void)state;
    struct parsed p;
    const char *line = "{\"role\":\"\\u0072\",\"timestamp\":\"\\u0030\",\"type\":\"\\t\\u0074\","
                       "\"data\":[ \"\\\\\" , 1 ]}";
    assert_int_equal(parse(&p, line), LB_REASON_TYPE);
    line = "{\"role\":\"\\u0072\",\"timestamp\":\"\\u0030\",\"type\":\"\\u0074\","
           "\"data\":[ \"\\\\\" , 1 ]}";
    assert_int_equal(parse(&p, line), LB_PARSE_OK);
    slice_is(p.rec.role, "r");
    slice_is(p.rec.ts, "0");
    slice_is(p.rec.type, "t");
    slice_is(p.rec.data, "[\"\\\\\",1]");
}

static void jsonl_small_scratch_is_too_long_never_overrun(void **state)
{
    (void)state;
    struct lb_record r;
    char scratch[8];
    const char *line = REC(",\"data\":[1, 2, 3, 4, 5, 6]");
    memset(scratch, CANARY, sizeof(scratch));
    assert_int_equal(lb_jsonl_parse(line, strlen(line), &r, scratch, 4), LB_REASON_TOO_LONG);
    for (size_t i = 4; i < sizeof(scratch); i++)
        assert_int_equal((unsigned char)scratch[i], CANARY);
    line = REC(",\"data\":\"\\u0041\\u0042\\u0043\\u0044\\u0045\"");
    assert_int_equal(lb_jsonl_parse(line, strlen(line), &r, scratch, 4), LB_REASON_TOO_LONG);
    for (size_t i = 4; i < sizeof(scratch); i++)
        assert_int_equal((unsigned char)scratch[i], CANARY);
    /* without escapes or non-string data, no scratch is needed at all */
    line = REC(",\"data\":\"plain\"");
    assert_int_equal(lb_jsonl_parse(line, strlen(line), &r, NULL, 0), LB_PARSE_OK);
    slice_is(r.data, "plain");
    line = REC(",\"data\":{}");
    assert_int_equal(lb_jsonl_parse(line, strlen(line), &r, NULL, 0), LB_REASON_TOO_LONG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jsonl_parses_an_object),
        cmocka_unit_test(jsonl_plain_strings_point_into_the_line),
        cmocka_unit_test(jsonl_keys_in_any_order_and_extra_keys_ignored),
        cmocka_unit_test(jsonl_unescapes_strings),
        cmocka_unit_test(jsonl_unescapes_unicode),
        cmocka_unit_test(jsonl_lone_surrogates_are_json),
        cmocka_unit_test(jsonl_bad_escapes_are_json),
        cmocka_unit_test(jsonl_nested_data_is_compacted),
        cmocka_unit_test(jsonl_data_strings_inside_values_stay_escaped),
        cmocka_unit_test(jsonl_data_scalars_keep_their_text),
        cmocka_unit_test(jsonl_data_may_be_empty),
        cmocka_unit_test(jsonl_missing_keys_are_fields),
        cmocka_unit_test(jsonl_wrong_types_are_json),
        cmocka_unit_test(jsonl_not_an_object_is_json),
        cmocka_unit_test(jsonl_syntax_errors_are_json),
        cmocka_unit_test(jsonl_whitespace_cr_and_blank),
        cmocka_unit_test(jsonl_nesting_depth_is_limited),
        cmocka_unit_test(jsonl_duplicate_known_keys_are_json),
        cmocka_unit_test(jsonl_escaped_key_names_match),
        cmocka_unit_test(jsonl_checks_role_timestamp_type),
        cmocka_unit_test(jsonl_role_is_at_most_255_bytes),
        cmocka_unit_test(jsonl_keeps_high_bytes),
        cmocka_unit_test(jsonl_scratch_of_n_bytes_is_enough),
        cmocka_unit_test(jsonl_small_scratch_is_too_long_never_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
