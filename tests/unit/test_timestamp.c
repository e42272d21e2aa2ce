/*
 * test_timestamp.c - lb_ts_parse and lb_ts_format_ms (parsers/timestamp.c)
 * against DESIGN.md section 1: every accepted form with exact ms values, the
 * forms that must be refused, and the formatter at the calendar's edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "record.h"

/* Reports the input and the caller's line, which a bare assert in a helper
 * would not. */
static void timestamp_expect(const char *s, int want_rc, int64_t want_ms, const char *file,
                             int line)
{
    int64_t ms = INT64_C(0x5a5a5a5a);
    int rc = lb_ts_parse(s, strlen(s), &ms);
    if (rc != want_rc || (want_rc == 0 && ms != want_ms)) {
        print_error("%s:%d: lb_ts_parse(\"%s\") = %d, %lld; want %d, %lld\n", file, line, s, rc,
                    (long long)ms, want_rc, (long long)want_ms);
        fail();
    }
}

#define TIMESTAMP_OK(s, want) timestamp_expect((s), 0, (want), __FILE__, __LINE__)
#define TIMESTAMP_BAD(s) timestamp_expect((s), -1, 0, __FILE__, __LINE__)

static void timestamp_format_expect(int64_t ms, const char *want, const char *file, int line)
{
    char out[32];
    memset(out, 'x', sizeof(out));
    size_t n = lb_ts_format_ms(ms, out);
    if (n != strlen(want) || strcmp(out, want) != 0) {
        print_error("%s:%d: lb_ts_format_ms(%lld) = \"%.*s\" (%zu); want \"%s\"\n", file, line,
                    (long long)ms, (int)sizeof(out), out, n, want);
        fail();
    }
}

#define TIMESTAMP_FMT(ms, want) timestamp_format_expect((ms), (want), __FILE__, __LINE__)

/* ---- date-time -------------------------------------------------------- */

static void timestamp_parses_utc_z(void **state)
{
    (void)state;
    TIMESTAMP_OK("2025-06-18T10:00:00Z", INT64_C(1750240800000));
    TIMESTAMP_OK("1970-01-01T00:00:00Z", 0);
}

static void timestamp_parses_offset_with_colon(void **state)
{
    (void)state;
    TIMESTAMP_OK("2025-06-18T10:00:00.123+02:00", INT64_C(1750233600123));
    TIMESTAMP_OK("2025-06-18T10:00:00-05:30", INT64_C(1750260600000));
    TIMESTAMP_OK("2025-06-18T10:00:00+00:00", INT64_C(1750240800000));
    TIMESTAMP_OK("2025-06-18T10:00:00-00:00", INT64_C(1750240800000));
    TIMESTAMP_OK("2025-06-18T10:00:00+23:59", INT64_C(1750240800000) - INT64_C(86340000));
}

static void timestamp_parses_offset_without_colon(void **state)
{
    (void)state;
    TIMESTAMP_OK("2025-06-18T10:00:00.123+0200", INT64_C(1750233600123));
    TIMESTAMP_OK("2025-06-18T10:00:00-0530", INT64_C(1750260600000));
    TIMESTAMP_OK("2025-06-18T10:00:00+0000", INT64_C(1750240800000));
}

static void timestamp_parses_lowercase_t_and_z(void **state)
{
    (void)state;
    TIMESTAMP_OK("2025-06-18t10:00:00z", INT64_C(1750240800000));
    TIMESTAMP_OK("2025-06-18t10:00:00.5Z", INT64_C(1750240800500));
}

static void timestamp_parses_one_space_separator(void **state)
{
    (void)state;
    TIMESTAMP_OK("2025-06-18 10:00:00Z", INT64_C(1750240800000));
    TIMESTAMP_OK("2025-06-18 10:00:00.123+02:00", INT64_C(1750233600123));
    TIMESTAMP_BAD("2025-06-18  10:00:00Z");
    TIMESTAMP_BAD("2025-06-18\t10:00:00Z");
    TIMESTAMP_BAD("2025-06-18_10:00:00Z");
}

static void timestamp_no_offset_is_utc(void **state)
{
    (void)state;
    TIMESTAMP_OK("2025-06-18T10:00:00", INT64_C(1750240800000));
    TIMESTAMP_OK("2025-06-18 10:00:00.250", INT64_C(1750240800250));
}

static void timestamp_fraction_of_any_length_truncates_to_ms(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t frac;
    } cases[] = {
        {"2025-06-18T10:00:00.1Z", 100},
        {"2025-06-18T10:00:00.12Z", 120},
        {"2025-06-18T10:00:00.123Z", 123},
        {"2025-06-18T10:00:00.1239Z", 123},
        {"2025-06-18T10:00:00.12399Z", 123},
        {"2025-06-18T10:00:00.123999Z", 123},
        {"2025-06-18T10:00:00.9999999Z", 999},
        {"2025-06-18T10:00:00.99999999Z", 999},
        {"2025-06-18T10:00:00.999999999Z", 999},
        {"2025-06-18T10:00:00.0000000001Z", 0},
        {"2025-06-18T10:00:00.00100000000Z", 1},
        {"2025-06-18T10:00:00.056000000000Z", 56},
        {"2025-06-18T10:00:00.0560000000000000000000000000000Z", 56},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        TIMESTAMP_OK(cases[i].s, INT64_C(1750240800000) + cases[i].frac);
    TIMESTAMP_OK("2025-06-18T10:00:00.999999999999", INT64_C(1750240800999));
}

static void timestamp_fraction_needs_a_digit(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2025-06-18T10:00:00.Z");
    TIMESTAMP_BAD("2025-06-18T10:00:00.");
    TIMESTAMP_BAD("2025-06-18T10:00:00.+02:00");
    TIMESTAMP_BAD("2025-06-18T10:00:00,123Z");
    TIMESTAMP_BAD("2025-06-18T10:00:00.12a");
}

static void timestamp_date_alone_is_invalid(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2025-06-18");
    TIMESTAMP_BAD("2025-06-18T");
    TIMESTAMP_BAD("2025-06-18Z");
    TIMESTAMP_BAD("2025-06-18T10");
    TIMESTAMP_BAD("2025-06-18T10:00");
    TIMESTAMP_BAD("2025-06-18T10:00Z");
    TIMESTAMP_BAD("2025-06-18T10:00:0");
}

static void timestamp_rejects_bad_month_and_day(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2025-00-18T10:00:00Z");
    TIMESTAMP_BAD("2025-13-18T10:00:00Z");
    TIMESTAMP_BAD("2025-06-00T10:00:00Z");
    TIMESTAMP_BAD("2025-01-32T10:00:00Z");
    TIMESTAMP_BAD("2025-04-31T10:00:00Z");
    TIMESTAMP_BAD("2025-06-31T10:00:00Z");
    TIMESTAMP_BAD("2025-09-31T10:00:00Z");
    TIMESTAMP_BAD("2025-11-31T10:00:00Z");
    TIMESTAMP_OK("2025-12-31T00:00:00Z", INT64_C(1767139200000));
    TIMESTAMP_OK("2025-01-31T00:00:00Z", INT64_C(1738281600000));
}

static void timestamp_checks_february_29(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2023-02-29T00:00:00Z");
    TIMESTAMP_BAD("1900-02-29T00:00:00Z"); /* divisible by 100, not by 400 */
    TIMESTAMP_BAD("2100-02-29T00:00:00Z");
    TIMESTAMP_BAD("2024-02-30T00:00:00Z");
    TIMESTAMP_OK("2024-02-29T12:34:56.789Z", INT64_C(1709210096789));
    TIMESTAMP_OK("2000-02-29T00:00:00Z", INT64_C(951782400000)); /* divisible by 400 */
    TIMESTAMP_OK("2023-02-28T00:00:00Z", INT64_C(1677542400000));
}

static void timestamp_rejects_bad_time_of_day(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2025-06-18T24:00:00Z");
    TIMESTAMP_BAD("2025-06-18T10:60:00Z");
    TIMESTAMP_BAD("2025-06-18T10:00:61Z");
    TIMESTAMP_BAD("2025-06-18T10:00:99Z");
    TIMESTAMP_OK("2025-06-18T23:59:59Z", INT64_C(1750291199000));
}

static void timestamp_leap_second_counts_as_next_second(void **state)
{
    (void)state;
    TIMESTAMP_OK("2016-12-31T23:59:60Z", INT64_C(1483228800000));
    TIMESTAMP_OK("2016-12-31T23:59:60.500Z", INT64_C(1483228800500));
    TIMESTAMP_OK("2017-01-01T00:00:00Z", INT64_C(1483228800000));
}

static void timestamp_rejects_bad_offsets(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2025-06-18T10:00:00+24:00");
    TIMESTAMP_BAD("2025-06-18T10:00:00+02:60");
    TIMESTAMP_BAD("2025-06-18T10:00:00+2400");
    TIMESTAMP_BAD("2025-06-18T10:00:00+02");
    TIMESTAMP_BAD("2025-06-18T10:00:00+2:00");
    TIMESTAMP_BAD("2025-06-18T10:00:00+02:0");
    TIMESTAMP_BAD("2025-06-18T10:00:00+02:00:00");
    TIMESTAMP_BAD("2025-06-18T10:00:00+020");
    TIMESTAMP_BAD("2025-06-18T10:00:00+02-00");
    TIMESTAMP_BAD("2025-06-18T10:00:00+02:00Z");
    TIMESTAMP_BAD("2025-06-18T10:00:00ZZ");
    TIMESTAMP_BAD("2025-06-18T10:00:00UTC");
    TIMESTAMP_BAD("2025-06-18T10:00:00 Z");
    TIMESTAMP_BAD("2025-06-18T10:00:00+ab:00");
}

static void timestamp_rejects_surrounding_whitespace(void **state)
{
    (void)state;
    TIMESTAMP_BAD(" 2025-06-18T10:00:00Z");
    TIMESTAMP_BAD("2025-06-18T10:00:00Z ");
    TIMESTAMP_BAD("2025-06-18T10:00:00Z\n");
    TIMESTAMP_BAD(" 1750240800");
    TIMESTAMP_BAD("1750240800 ");
}

static void timestamp_rejects_malformed_dates(void **state)
{
    (void)state;
    TIMESTAMP_BAD("2025/06/18T10:00:00Z");
    TIMESTAMP_BAD("2025-06-18X10:00:00Z");
    TIMESTAMP_BAD("2025-0a-18T10:00:00Z");
    TIMESTAMP_BAD("+025-06-18T10:00:00Z");
    TIMESTAMP_BAD("-025-06-18T10:00:00Z");
    TIMESTAMP_BAD("25-06-18T10:00:00Z");
    TIMESTAMP_BAD("20250618T100000Z"); /* ISO basic form is not accepted */
    TIMESTAMP_BAD("2025-6-18T10:00:00Z");
    TIMESTAMP_BAD("2025-06-18T10.00.00Z");
    TIMESTAMP_BAD("2025-06-18T1:00:00Z");
}

static void timestamp_parses_pre_epoch_and_far_dates(void **state)
{
    (void)state;
    TIMESTAMP_OK("1969-12-31T23:59:59.999Z", -1);
    TIMESTAMP_OK("1969-12-31T23:59:59Z", -1000);
    TIMESTAMP_OK("0000-01-01T00:00:00Z", INT64_C(-62167219200000));
    TIMESTAMP_OK("0001-01-01T00:00:00Z", INT64_C(-62135596800000));
    TIMESTAMP_OK("0001-01-01T00:00:00+23:59", INT64_C(-62135683140000));
    TIMESTAMP_OK("9999-12-31T23:59:59.999Z", INT64_C(253402300799999));
    TIMESTAMP_OK("9999-12-31T23:59:59.999-23:59", INT64_C(253402387139999));
}

/* Every 7919 s (prime, so every time of day is hit) from 1900 to 2100, and
 * days far out, against the C library's own calendar. */
static void timestamp_agrees_with_gmtime(void **state)
{
    (void)state;
    for (int64_t t = INT64_C(-2208988800); t < INT64_C(4102444800); t += 7919 * 97) {
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        char buf[64];
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        TIMESTAMP_OK(buf, t * 1000);
        char out[32];
        lb_ts_format_ms(t * 1000 + 7, out);
        buf[19] = '\0';
        assert_memory_equal(out, buf, 19);
        assert_string_equal(out + 19, ".007Z");
    }
}

/* ---- epoch numbers ---------------------------------------------------- */

static void timestamp_epoch_seconds_up_to_11_digits(void **state)
{
    (void)state;
    TIMESTAMP_OK("0", 0);
    TIMESTAMP_OK("5", 5000);
    TIMESTAMP_OK("1750240800", INT64_C(1750240800000));   /* 10 digits */
    TIMESTAMP_OK("10000000000", INT64_C(10000000000000)); /* 11 digits */
    TIMESTAMP_OK("99999999999", INT64_C(99999999999000));
    TIMESTAMP_OK("0001750240800", INT64_C(1750240800)); /* leading zeros count: 13 = ms */
}

static void timestamp_epoch_seconds_with_fraction(void **state)
{
    (void)state;
    TIMESTAMP_OK("1750240800.5", INT64_C(1750240800500));
    TIMESTAMP_OK("1750240800.123", INT64_C(1750240800123));
    TIMESTAMP_OK("1750240800.123456789", INT64_C(1750240800123));
    TIMESTAMP_OK("1750240800.000999", INT64_C(1750240800000));
    TIMESTAMP_OK("0.001", 1);
    TIMESTAMP_OK("99999999999.999999999999", INT64_C(99999999999999));
}

static void timestamp_epoch_ms_us_ns(void **state)
{
    (void)state;
    TIMESTAMP_OK("1750240800123", INT64_C(1750240800123));       /* 13: ms */
    TIMESTAMP_OK("1750240800123456", INT64_C(1750240800123));    /* 16: us */
    TIMESTAMP_OK("1750240800123999", INT64_C(1750240800123));    /* truncated */
    TIMESTAMP_OK("1750240800123456789", INT64_C(1750240800123)); /* 19: ns */
    TIMESTAMP_OK("9999999999999999999", INT64_C(9999999999999)); /* > INT64_MAX ns */
    TIMESTAMP_OK("0000000000000", 0);
}

static void timestamp_epoch_rejects_other_digit_counts(void **state)
{
    (void)state;
    TIMESTAMP_BAD("175024080012");         /* 12 */
    TIMESTAMP_BAD("17502408001234");       /* 14 */
    TIMESTAMP_BAD("175024080012345");      /* 15 */
    TIMESTAMP_BAD("17502408001234567");    /* 17 */
    TIMESTAMP_BAD("175024080012345678");   /* 18 */
    TIMESTAMP_BAD("17502408001234567890"); /* 20 */
    TIMESTAMP_BAD("175024080012345678901234567890");
}

static void timestamp_epoch_fraction_only_for_seconds(void **state)
{
    (void)state;
    TIMESTAMP_BAD("175024080012.5");
    TIMESTAMP_BAD("1750240800123.5");
    TIMESTAMP_BAD("1750240800123456.5");
    TIMESTAMP_BAD("1750240800123456789.5");
}

static void timestamp_epoch_minus_only_for_seconds(void **state)
{
    (void)state;
    TIMESTAMP_OK("-1", -1000);
    TIMESTAMP_OK("-0", 0);
    TIMESTAMP_OK("-1.5", -1500);
    TIMESTAMP_OK("-1.0009", -1000); /* the text is truncated, so toward zero */
    TIMESTAMP_OK("-99999999999", INT64_C(-99999999999000));
    TIMESTAMP_BAD("-1750240800123");
    TIMESTAMP_BAD("-1750240800123456");
    TIMESTAMP_BAD("-1750240800123456789");
}

static void timestamp_epoch_rejects_malformed(void **state)
{
    (void)state;
    TIMESTAMP_BAD("");
    TIMESTAMP_BAD("-");
    TIMESTAMP_BAD("+1");
    TIMESTAMP_BAD("1.");
    TIMESTAMP_BAD(".5");
    TIMESTAMP_BAD("-.5");
    TIMESTAMP_BAD("1e9");
    TIMESTAMP_BAD("0x10");
    TIMESTAMP_BAD("1..2");
    TIMESTAMP_BAD("1.2.3");
    TIMESTAMP_BAD("--1");
    TIMESTAMP_BAD("1-");
    TIMESTAMP_BAD("12a");
    TIMESTAMP_BAD("1.5Z");
    int64_t ms;
    assert_int_equal(lb_ts_parse("1750240800", 0, &ms), -1);
    assert_int_equal(lb_ts_parse(NULL, 0, &ms), -1);
}

static void timestamp_parse_respects_length(void **state)
{
    (void)state;
    int64_t ms;
    const char *s = "2025-06-18T10:00:00Zjunk";
    assert_int_equal(lb_ts_parse(s, 20, &ms), 0);
    assert_int_equal(ms, INT64_C(1750240800000));
    assert_int_equal(lb_ts_parse("17502408009", 10, &ms), 0);
    assert_int_equal(ms, INT64_C(1750240800000));
    char nul[] = "1750240800\0";
    assert_int_equal(lb_ts_parse(nul, 11, &ms), -1);
}

/* ---- formatting ------------------------------------------------------- */

static void timestamp_format_basic(void **state)
{
    (void)state;
    TIMESTAMP_FMT(0, "1970-01-01T00:00:00.000Z");
    TIMESTAMP_FMT(INT64_C(1750233600123), "2025-06-18T08:00:00.123Z");
    TIMESTAMP_FMT(INT64_C(1709210096789), "2024-02-29T12:34:56.789Z");
    TIMESTAMP_FMT(INT64_C(1750240800005), "2025-06-18T10:00:00.005Z");
    TIMESTAMP_FMT(INT64_C(1750240800050), "2025-06-18T10:00:00.050Z");
}

static void timestamp_format_negative_ms(void **state)
{
    (void)state;
    TIMESTAMP_FMT(-1, "1969-12-31T23:59:59.999Z");
    TIMESTAMP_FMT(-1000, "1969-12-31T23:59:59.000Z");
    TIMESTAMP_FMT(-1001, "1969-12-31T23:59:58.999Z");
    TIMESTAMP_FMT(INT64_C(-86400000), "1969-12-31T00:00:00.000Z");
    TIMESTAMP_FMT(INT64_C(-86400001), "1969-12-30T23:59:59.999Z");
    TIMESTAMP_FMT(INT64_C(-62167219200000), "0000-01-01T00:00:00.000Z");
}

static void timestamp_format_year_bounds(void **state)
{
    (void)state;
    TIMESTAMP_FMT(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
    TIMESTAMP_FMT(INT64_C(253402300800000), "+10000-01-01T00:00:00.000Z");
    TIMESTAMP_FMT(INT64_C(-62167219200001), "-0001-12-31T23:59:59.999Z");
    TIMESTAMP_FMT(INT64_C(8640000000000000), "+275760-09-13T00:00:00.000Z");
    TIMESTAMP_FMT(INT64_C(-8640000000000000), "-271821-04-20T00:00:00.000Z");
    TIMESTAMP_FMT(INT64_MAX, "+292278994-08-17T07:12:55.807Z");
    TIMESTAMP_FMT(INT64_MIN, "-292275055-05-16T16:47:04.192Z");
}

static void timestamp_format_round_trips(void **state)
{
    (void)state;
    static const int64_t v[] = {0,
                                1,
                                -1,
                                999,
                                INT64_C(1750233600123),
                                INT64_C(951782400000),
                                INT64_C(-62167219200000),
                                INT64_C(253402300799999),
                                INT64_C(-2208988800001)};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[32];
        size_t n = lb_ts_format_ms(v[i], out);
        assert_int_equal(n, 24);
        int64_t ms;
        assert_int_equal(lb_ts_parse(out, n, &ms), 0);
        assert_int_equal(ms, v[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(timestamp_parses_utc_z),
        cmocka_unit_test(timestamp_parses_offset_with_colon),
        cmocka_unit_test(timestamp_parses_offset_without_colon),
        cmocka_unit_test(timestamp_parses_lowercase_t_and_z),
        cmocka_unit_test(timestamp_parses_one_space_separator),
        cmocka_unit_test(timestamp_no_offset_is_utc),
        cmocka_unit_test(timestamp_fraction_of_any_length_truncates_to_ms),
        cmocka_unit_test(timestamp_fraction_needs_a_digit),
        cmocka_unit_test(timestamp_date_alone_is_invalid),
        cmocka_unit_test(timestamp_rejects_bad_month_and_day),
        cmocka_unit_test(timestamp_checks_february_29),
        cmocka_unit_test(timestamp_rejects_bad_time_of_day),
        cmocka_unit_test(timestamp_leap_second_counts_as_next_second),
        cmocka_unit_test(timestamp_rejects_bad_offsets),
        cmocka_unit_test(timestamp_rejects_surrounding_whitespace),
        cmocka_unit_test(timestamp_rejects_malformed_dates),
        cmocka_unit_test(timestamp_parses_pre_epoch_and_far_dates),
        cmocka_unit_test(timestamp_agrees_with_gmtime),
        cmocka_unit_test(timestamp_epoch_seconds_up_to_11_digits),
        cmocka_unit_test(timestamp_epoch_seconds_with_fraction),
        cmocka_unit_test(timestamp_epoch_ms_us_ns),
        cmocka_unit_test(timestamp_epoch_rejects_other_digit_counts),
        cmocka_unit_test(timestamp_epoch_fraction_only_for_seconds),
        cmocka_unit_test(timestamp_epoch_minus_only_for_seconds),
        cmocka_unit_test(timestamp_epoch_rejects_malformed),
        cmocka_unit_test(timestamp_parse_respects_length),
        cmocka_unit_test(timestamp_format_basic),
        cmocka_unit_test(timestamp_format_negative_ms),
        cmocka_unit_test(timestamp_format_year_bounds),
        cmocka_unit_test(timestamp_format_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
