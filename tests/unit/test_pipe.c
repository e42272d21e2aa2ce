/*
 * test_pipe.c - lb_pipe_parse and lb_reason_name (parsers/pipe.c) against
 * DESIGN.md section 1: the split, blank and bad lines, the field limits and
 * the order in which the checks pick a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "record.h"

static enum lb_reason parse_n(const char *line, size_t n, struct lb_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    return lb_pipe_parse(line, n, rec);
}

static enum lb_reason parse(const char *line, struct lb_record *rec)
{
    return parse_n(line, strlen(line), rec);
}

static void slice_is(struct lb_slice s, const char *want)
{
    assert_int_equal(s.n, strlen(want));
    assert_memory_equal(s.p, want, s.n);
}

static void pipe_parses_a_line(void **state)
{
    (void)state;
    struct lb_record r;
    const char *line = "web-1|2025-06-18T10:00:00.123+02:00|login|user=42 ok";
    assert_int_equal(parse(line, &r), LB_PARSE_OK);
    slice_is(r.role, "web-1");
    slice_is(r.ts, "2025-06-18T10:00:00.123+02:00");
    slice_is(r.type, "login");
    slice_is(r.data, "user=42 ok");
    assert_int_equal(r.ts_ms, INT64_C(1750233600123));
    /* slices point into the line: nothing was copied */
    assert_ptr_equal(r.role.p, line);
    assert_ptr_equal(r.ts.p, line + 6);
    assert_ptr_equal(r.type.p, line + 36);
    assert_ptr_equal(r.data.p, line + 42);
}

static void pipe_keeps_bars_in_data(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("a|1750240800|t|x|y||z|", &r), LB_PARSE_OK);
    slice_is(r.data, "x|y||z|");
    assert_int_equal(parse("a|1750240800|t||", &r), LB_PARSE_OK);
    slice_is(r.data, "|");
}

static void pipe_allows_empty_data(void **state)
{
    (void)state;
    struct lb_record r;
    const char *line = "a|1750240800|t|";
    assert_int_equal(parse(line, &r), LB_PARSE_OK);
    assert_int_equal(r.data.n, 0);
    assert_ptr_equal(r.data.p, line + strlen(line));
    assert_int_equal(parse("a|1750240800|t|\r", &r), LB_PARSE_OK);
    assert_int_equal(r.data.n, 0);
}

static void pipe_drops_one_trailing_cr(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("a|0|t|d\r", &r), LB_PARSE_OK);
    slice_is(r.data, "d");
    assert_int_equal(parse("a|0|t|d\r\r", &r), LB_PARSE_OK);
    slice_is(r.data, "d\r");
    assert_int_equal(parse("a|0|t|x\ry", &r), LB_PARSE_OK);
    slice_is(r.data, "x\ry");
    /* a CR that is not last belongs to its field */
    assert_int_equal(parse("a|0\r|t|d", &r), LB_REASON_TIMESTAMP);
}

static void pipe_blank_lines(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("", &r), LB_PARSE_BLANK);
    assert_int_equal(parse("\r", &r), LB_PARSE_BLANK);
    assert_int_equal(parse_n(NULL, 0, &r), LB_PARSE_BLANK);
    assert_int_equal(parse("\r\r", &r), LB_REASON_FIELDS);
}

static void pipe_spaces_only_is_fields(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse(" ", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("     ", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("   \r", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("\t", &r), LB_REASON_FIELDS);
}

static void pipe_needs_three_bars(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("a", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("a|1750240800", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("a|1750240800|t", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("|", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("||", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("|||", &r), LB_REASON_ROLE);
}

static void pipe_checks_role(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("|0|t|d", &r), LB_REASON_ROLE);
    assert_int_equal(parse("a b|0|t|d", &r), LB_PARSE_OK); /* space is not a control byte */
    assert_int_equal(parse("\xc3\xa9t\xc3\xa9|0|t|d", &r), LB_PARSE_OK);
    assert_int_equal(parse("\xff|0|t|d", &r), LB_PARSE_OK); /* bytes, not UTF-8, here */
}

static void pipe_checks_type(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("a|0||d", &r), LB_REASON_TYPE);
    assert_int_equal(parse("a|0|t t|d", &r), LB_PARSE_OK);
}

/* Every control byte, in the middle of ROLE and of TYPE, NUL included. */
static void pipe_rejects_control_bytes_in_role_and_type(void **state)
{
    (void)state;
    struct lb_record r;
    for (int c = 0; c < 0x80; c++) {
        const int ctl = c < 0x20 || c == 0x7f;
        char line[] = "aXb|0|tXu|d";
        line[1] = (char)c;
        enum lb_reason want = ctl ? LB_REASON_ROLE : LB_PARSE_OK;
        if (c == '|')
            want = LB_REASON_TIMESTAMP; /* "a" | "b" is the timestamp */
        assert_int_equal(parse_n(line, sizeof(line) - 1, &r), want);

        char line2[] = "ab|0|tXu|d";
        line2[6] = (char)c;
        want = ctl ? LB_REASON_TYPE : LB_PARSE_OK;
        if (c == '|')
            want = LB_PARSE_OK; /* type "t", data "u|d" */
        assert_int_equal(parse_n(line2, sizeof(line2) - 1, &r), want);
    }
    /* control bytes in DATA are fine */
    const char data[] = "a|0|t|\x01\x00\x1f\x7f";
    assert_int_equal(parse_n(data, sizeof(data) - 1, &r), LB_PARSE_OK);
    assert_int_equal(r.data.n, 4);
}

static void pipe_role_and_type_are_at_most_255_bytes(void **state)
{
    (void)state;
    struct lb_record r;
    char line[600];
    memset(line, 'r', 255);
    strcpy(line + 255, "|0|t|d");
    assert_int_equal(parse(line, &r), LB_PARSE_OK);
    assert_int_equal(r.role.n, 255);
    memset(line, 'r', 256);
    strcpy(line + 256, "|0|t|d");
    assert_int_equal(parse(line, &r), LB_REASON_ROLE);

    strcpy(line, "a|0|");
    memset(line + 4, 'y', 255);
    strcpy(line + 4 + 255, "|d");
    assert_int_equal(parse(line, &r), LB_PARSE_OK);
    assert_int_equal(r.type.n, 255);
    memset(line + 4, 'y', 256);
    strcpy(line + 4 + 256, "|d");
    assert_int_equal(parse(line, &r), LB_REASON_TYPE);
}

static void pipe_checks_timestamp(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("a|nope|t|d", &r), LB_REASON_TIMESTAMP);
    assert_int_equal(parse("a||t|d", &r), LB_REASON_TIMESTAMP);
    assert_int_equal(parse("a| 1750240800|t|d", &r), LB_REASON_TIMESTAMP);
    assert_int_equal(parse("a|2025-06-18|t|d", &r), LB_REASON_TIMESTAMP);
    assert_int_equal(parse("a|175024080012|t|d", &r), LB_REASON_TIMESTAMP);
}

static void pipe_accepts_every_timestamp_form(void **state)
{
    (void)state;
    static const struct {
        const char *line;
        int64_t ms;
    } cases[] = {
        {"a|2025-06-18T10:00:00Z|t|d", INT64_C(1750240800000)},
        {"a|2025-06-18t10:00:00z|t|d", INT64_C(1750240800000)},
        {"a|2025-06-18 10:00:00|t|d", INT64_C(1750240800000)},
        {"a|2025-06-18T10:00:00.123456+02:00|t|d", INT64_C(1750233600123)},
        {"a|2025-06-18T10:00:00-0530|t|d", INT64_C(1750260600000)},
        {"a|1750240800|t|d", INT64_C(1750240800000)},
        {"a|1750240800.25|t|d", INT64_C(1750240800250)},
        {"a|1750240800123|t|d", INT64_C(1750240800123)},
        {"a|1750240800123456|t|d", INT64_C(1750240800123)},
        {"a|1750240800123456789|t|d", INT64_C(1750240800123)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lb_record r;
        assert_int_equal(parse(cases[i].line, &r), LB_PARSE_OK);
        assert_int_equal(r.ts_ms, cases[i].ms);
    }
}

static void pipe_timestamp_is_kept_verbatim(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("a|2025-06-18 10:00:00.5000+0200|t|d", &r), LB_PARSE_OK);
    slice_is(r.ts, "2025-06-18 10:00:00.5000+0200");
    assert_int_equal(r.ts_ms, INT64_C(1750233600500));
}

/* fields, then role, then timestamp, then type: the order they are in. */
static void pipe_check_order_is_role_timestamp_type(void **state)
{
    (void)state;
    struct lb_record r;
    assert_int_equal(parse("||", &r), LB_REASON_FIELDS);
    assert_int_equal(parse("|bad||d", &r), LB_REASON_ROLE);
    assert_int_equal(parse("a|bad||d", &r), LB_REASON_TIMESTAMP);
    assert_int_equal(parse("a|bad|t|d", &r), LB_REASON_TIMESTAMP);
    assert_int_equal(parse("a|0||d", &r), LB_REASON_TYPE);
    const char ctl[] = "a\x01|0|\x01|d";
    assert_int_equal(parse_n(ctl, sizeof(ctl) - 1, &r), LB_REASON_ROLE);
}

static void pipe_respects_length(void **state)
{
    (void)state;
    struct lb_record r;
    const char *line = "a|0|t|data|more";
    assert_int_equal(parse_n(line, 8, &r), LB_PARSE_OK);
    slice_is(r.data, "da");
    assert_int_equal(parse_n(line, 5, &r), LB_REASON_FIELDS);
}

static void pipe_reason_names(void **state)
{
    (void)state;
    assert_string_equal(lb_reason_name(LB_PARSE_OK), "ok");
    assert_string_equal(lb_reason_name(LB_PARSE_BLANK), "blank");
    assert_string_equal(lb_reason_name(LB_REASON_FIELDS), "fields");
    assert_string_equal(lb_reason_name(LB_REASON_ROLE), "role");
    assert_string_equal(lb_reason_name(LB_REASON_TYPE), "type");
    assert_string_equal(lb_reason_name(LB_REASON_TIMESTAMP), "timestamp");
    assert_string_equal(lb_reason_name(LB_REASON_TOO_LONG), "too_long");
    assert_string_equal(lb_reason_name(LB_REASON_INVALID_UTF8), "invalid_utf8");
    assert_string_equal(lb_reason_name(LB_REASON_JSON), "json");
    assert_string_equal(lb_reason_name((enum lb_reason)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pipe_parses_a_line),
        cmocka_unit_test(pipe_keeps_bars_in_data),
        cmocka_unit_test(pipe_allows_empty_data),
        cmocka_unit_test(pipe_drops_one_trailing_cr),
        cmocka_unit_test(pipe_blank_lines),
        cmocka_unit_test(pipe_spaces_only_is_fields),
        cmocka_unit_test(pipe_needs_three_bars),
        cmocka_unit_test(pipe_checks_role),
        cmocka_unit_test(pipe_checks_type),
        cmocka_unit_test(pipe_rejects_control_bytes_in_role_and_type),
        cmocka_unit_test(pipe_role_and_type_are_at_most_255_bytes),
        cmocka_unit_test(pipe_checks_timestamp),
        cmocka_unit_test(pipe_accepts_every_timestamp_form),
        cmocka_unit_test(pipe_timestamp_is_kept_verbatim),
        cmocka_unit_test(pipe_check_order_is_role_timestamp_type),
        cmocka_unit_test(pipe_respects_length),
        cmocka_unit_test(pipe_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
