/*
 * test_cli.c - the shared option machinery (bridge/cli.c): every command's
 * option loop starts getopt over the same way, so that parsing one argv after
 * another in one process (run parses one per job; tests call the parsers
 * again and again) never sees the state of the previous parse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "mirror.h"
#include "tail.h"

/* "-hx": -h is --help, and getopt stops inside the cluster with "x" left;
 * the next parse must not go on with that stale "x". */
static void cli_parse_starts_over_after_a_parse_that_stopped_early(void **state)
{
    (void)state;
    struct lb_cli cli = {"tail", NULL};
    char a0[] = "tail", a1[] = "-hx";
    char *help[] = {a0, a1, NULL};
    struct lb_tail_opts t;
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w"); /* the usage text */
    assert_int_equal(lb_tail_opts_parse(&t, 2, help, &cli), -1);
    fclose(stdout);
    stdout = saved;

    char b1[] = "--stream", b2[] = "S", b3[] = "a.log";
    char *good[] = {a0, b1, b2, b3, NULL};
    assert_int_equal(lb_tail_opts_parse(&t, 4, good, &cli), 0);
    assert_string_equal(t.stream, "S");
    assert_int_equal(t.npaths, 1);
    assert_string_equal(t.paths[0], "a.log");

    /* and another command's parser after it */
    struct lb_cli mcli = {"mirror", NULL};
    char m0[] = "mirror", m1[] = "--stream=S", m2[] = "--file=out.log";
    char *mirror[] = {m0, m1, m2, NULL};
    struct lb_mirror_opts m;
    assert_int_equal(lb_mirror_opts_parse(&m, 3, mirror, &mcli), 0);
    assert_string_equal(m.file, "out.log");
    /* and tail again, with permuted operands */
    char c1[] = "b.log", c2[] = "--stream=T";
    char *perm[] = {a0, c1, c2, NULL};
    assert_int_equal(lb_tail_opts_parse(&t, 3, perm, &cli), 0);
    assert_string_equal(t.stream, "T");
    assert_int_equal(t.npaths, 1);
    assert_string_equal(t.paths[0], "b.log");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cli_parse_starts_over_after_a_parse_that_stopped_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
