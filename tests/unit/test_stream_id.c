/*
 * test_stream_id.c - the one stream-ID vocabulary (bridge/stream_id.c) that
 * mirror, export, parity and status share: "ms-seq" and "ms" parse exactly
 * (no sign, no overflow, no trailing bytes), the command-line forms -, +, $
 * are accepted only where asked for, a bare ms ends at ms-<max>, comparison
 * is numeric, and next steps over the sequence into the next millisecond.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "stream_id.h"

static void stream_id_parses_ms_seq_and_ms(void **state)
{
    (void)state;
    struct lb_sid id = {7, 7};
    assert_int_equal(lb_sid_parse("1750233600123-5", 15, &id), 0);
    assert_true(id.ms == 1750233600123ULL && id.seq == 5);
    assert_int_equal(lb_sid_parse("42", 2, &id), 0);
    assert_true(id.ms == 42 && id.seq == 0);
    assert_int_equal(lb_sid_parse("18446744073709551615-18446744073709551615", 41, &id), 0);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    /* only the n bytes given count */
    assert_int_equal(lb_sid_parse("12-3xyz", 4, &id), 0);
    assert_true(id.ms == 12 && id.seq == 3);
}

static void stream_id_refuses_what_redis_would_not_give(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "-",
                                      "-1",
                                      "1-",
                                      "1--2",
                                      "1-2-3",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1-x",
                                      "a-1",
                                      "0x10",
                                      "1.5",
                                      "18446744073709551616",
                                      "1-18446744073709551616",
                                      "000000000000000000001"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_sid id = {9, 9};
        if (lb_sid_parse(bad[i], strlen(bad[i]), &id) != -1)
            fail_msg("lb_sid_parse(\"%s\") accepted", bad[i]);
        assert_true(id.ms == 9 && id.seq == 9); /* untouched */
    }
}

static void stream_id_arg_forms_only_where_accepted(void **state)
{
    (void)state;
    struct lb_sid id;
    assert_int_equal(lb_sid_arg("-", LB_SID_FORMS_RANGE, 0, &id), LB_SID_FORM_MIN);
    assert_true(id.ms == 0 && id.seq == 0);
    assert_int_equal(lb_sid_arg("+", LB_SID_FORMS_RANGE, 1, &id), LB_SID_FORM_MAX);
    assert_true(id.ms == UINT64_MAX && id.seq == UINT64_MAX);
    assert_int_equal(lb_sid_arg("$", LB_SID_FORMS_RANGE, 0, &id), -1);
    assert_int_equal(lb_sid_arg("$", LB_SID_FORM_ID | LB_SID_FORM_LAST, 0, &id), LB_SID_FORM_LAST);
    assert_int_equal(lb_sid_arg("-", LB_SID_FORM_ID | LB_SID_FORM_LAST, 0, &id), -1);
    assert_int_equal(lb_sid_arg("5-1", LB_SID_FORM_MIN, 0, &id), -1);
    /* a bare ms: ms-0 as a start, ms-<max> as an end (as XRANGE reads it) */
    assert_int_equal(lb_sid_arg("5", LB_SID_FORMS_RANGE, 0, &id), LB_SID_FORM_ID);
    assert_true(id.ms == 5 && id.seq == 0);
    assert_int_equal(lb_sid_arg("5", LB_SID_FORMS_RANGE, 1, &id), LB_SID_FORM_ID);
    assert_true(id.ms == 5 && id.seq == UINT64_MAX);
    assert_int_equal(lb_sid_arg("5-3", LB_SID_FORMS_RANGE, 1, &id), LB_SID_FORM_ID);
    assert_true(id.ms == 5 && id.seq == 3);
}

static void stream_id_compares_numerically(void **state)
{
    (void)state;
    struct lb_sid a = {9, 0}, b = {10, 0}, c = {10, 2}, d = {10, 10};
    assert_int_equal(lb_sid_cmp(a, b), -1); /* "9" > "10" as text, not as an ID */
    assert_int_equal(lb_sid_cmp(b, a), 1);
    assert_int_equal(lb_sid_cmp(c, d), -1);
    assert_int_equal(lb_sid_cmp(d, d), 0);
}

static void stream_id_formats_and_steps(void **state)
{
    (void)state;
    char buf[LB_SID_BUF];
    struct lb_sid id = {1750233600123ULL, 4};
    assert_string_equal(lb_sid_format(id, buf), "1750233600123-4");
    assert_int_equal(lb_sid_next(&id), 0);
    assert_string_equal(lb_sid_format(id, buf), "1750233600123-5");
    id.seq = UINT64_MAX;
    assert_int_equal(lb_sid_next(&id), 0);
    assert_string_equal(lb_sid_format(id, buf), "1750233600124-0");
    struct lb_sid top = {UINT64_MAX, UINT64_MAX};
    assert_int_equal(lb_sid_next(&top), -1);
    assert_string_equal(lb_sid_format(top, buf), "18446744073709551615-18446744073709551615");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_id_parses_ms_seq_and_ms),
        cmocka_unit_test(stream_id_refuses_what_redis_would_not_give),
        cmocka_unit_test(stream_id_arg_forms_only_where_accepted),
        cmocka_unit_test(stream_id_compares_numerically),
        cmocka_unit_test(stream_id_formats_and_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
