/*
 * test_stream_set.c - the --stream values of a job (stream_set.c): repeated
 * values, and a template's SCAN pattern with the glob's own characters
 * escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "stream_set.h"

static void stream_set_glob_of_template(void **state)
{
    (void)state;
    char g[256];
    assert_int_equal(lb_stream_glob("{ev}:%{type}", g, sizeof(g)), 0);
    assert_string_equal(g, "{ev}:*");
    assert_int_equal(lb_stream_glob("events:%{role}.%{type}", g, sizeof(g)), 0);
    assert_string_equal(g, "events:*.*");
    assert_int_equal(lb_stream_glob("%{role}%{type}", g, sizeof(g)), 0);
    assert_string_equal(g, "*"); /* one star is enough */
    /* the glob's own characters stand for themselves */
    assert_int_equal(lb_stream_glob("a*b?[c]\\:%{type}", g, sizeof(g)), 0);
    assert_string_equal(g, "a\\*b\\?\\[c\\]\\\\:*");
    assert_int_equal(lb_stream_glob("x*%{type}", g, sizeof(g)), 0);
    assert_string_equal(g, "x\\**"); /* an escaped star is not merged */
    assert_int_equal(lb_stream_glob("abcdef%{type}", g, 4), -1);
}

static void stream_set_add_refuses_repeats(void **state)
{
    (void)state;
    struct lb_streams s = {0};
    char why[128];
    assert_int_equal(lb_streams_add(&s, "a", why, sizeof(why)), 0);
    assert_int_equal(lb_streams_add(&s, "b", why, sizeof(why)), 0);
    assert_int_equal(lb_streams_add(&s, "a", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "'a' given twice"));
    assert_int_equal(lb_streams_add(&s, "", why, sizeof(why)), -1);
    assert_int_equal(s.n, 2);
    assert_true(lb_stream_is_template("{x}:%{type}"));
    assert_false(lb_stream_is_template("{x}:type"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_set_glob_of_template),
        cmocka_unit_test(stream_set_add_refuses_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
