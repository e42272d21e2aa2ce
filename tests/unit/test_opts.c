/*
 * test_opts.c - the option tables (bridge/opts.c): one table per command
 * gives its parsing, its --help, its config keys and its usage errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "mirror.h"
#include "opts.h"
#include "tail.h"

/* Run a parser with stderr (or stdout) going to a buffer. */
static char captured[8192];

static FILE *capture_begin(int fd, int *saved)
{
    fflush(fd == 1 ? stdout : stderr);
    *saved = dup(fd);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), fd);
    return tmp;
}

static void capture_end(FILE *tmp, int fd, int saved)
{
    fflush(fd == 1 ? stdout : stderr);
    dup2(saved, fd);
    close(saved);
    rewind(tmp);
    size_t n = fread(captured, 1, sizeof(captured) - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
}

static int tail_parse(const char *prefix, int fd, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"tail";
    va_list ap;
    va_start(ap, fd);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    struct lb_cli cli = {"tail", prefix};
    struct lb_tail_opts o;
    int saved;
    FILE *tmp = capture_begin(fd, &saved);
    int rc = lb_tail_opts_parse(&o, argc, argv, &cli);
    capture_end(tmp, fd, saved);
    return rc;
}

static void opts_errors_name_the_option_as_written(void **state)
{
    (void)state;
    assert_int_equal(tail_parse(NULL, 2, "--batch", "x", "--stream", "s", "f", NULL),
                     LB_EXIT_USAGE);
    assert_string_equal(captured,
                        "logbridge tail: --batch: expected a number from 1 to 100000, got 'x'\n"
                        "Try 'logbridge tail --help'.\n");
    assert_int_equal(tail_parse("tail[0]", 2, "--rotate-wait=-1", "--stream", "s", "f", NULL),
                     LB_EXIT_USAGE);
    assert_string_equal(captured,
                        "logbridge tail: tail[0].rotate_wait: expected seconds from 0 to 86400, "
                        "got '-1'\n");
    assert_int_equal(tail_parse(NULL, 2, "--from", "middle", "--stream", "s", "f", NULL),
                     LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: --from: expected start or end, got 'middle'\n"
                                  "Try 'logbridge tail --help'.\n");
    assert_int_equal(tail_parse(NULL, 2, "--log-level", "loud", "--stream", "s", "f", NULL),
                     LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: --log-level: expected error, warn, info or "
                                  "debug, got 'loud'\n"
                                  "Try 'logbridge tail --help'.\n");
    assert_int_equal(tail_parse(NULL, 2, "f", NULL), LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: --stream: is required\n"
                                  "Try 'logbridge tail --help'.\n");
    assert_int_equal(tail_parse(NULL, 2, "--stream", "s", NULL), LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: expected at least one PATH or GLOB\n"
                                  "Try 'logbridge tail --help'.\n");
    /* unknown options: the hint, on the command line only */
    assert_int_equal(tail_parse(NULL, 2, "--stream", "s", "--bogus", "f", NULL), LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: unknown option '--bogus'\n"
                                  "Try 'logbridge tail --help'.\n");
    assert_int_equal(tail_parse("tail[0]", 2, "--stream", "s", "--bogus", "f", NULL),
                     LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: unknown option '--bogus'\n");
    /* a near miss gets a hint */
    assert_int_equal(tail_parse(NULL, 2, "--strem", "s", "f", NULL), LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: unknown option '--strem' (did you mean "
                                  "'--stream'?)\n"
                                  "Try 'logbridge tail --help'.\n");
    assert_int_equal(tail_parse(NULL, 2, "--stream", "s", "--rotate_wait=3", "f", NULL),
                     LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: unknown option '--rotate_wait=3' (did you "
                                  "mean '--rotate-wait'?)\n"
                                  "Try 'logbridge tail --help'.\n");
}

/* The first argument is argv[1]: an error there once named argv[0]. */
static void opts_unknown_first_option_is_named(void **state)
{
    (void)state;
    assert_int_equal(tail_parse(NULL, 2, "--bogus", "--stream", "s", "f", NULL), LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: unknown option '--bogus'\n"
                                  "Try 'logbridge tail --help'.\n");
}

/* "--once=1" gives a value to a flag: named, not printed as a stray byte. */
static void opts_value_given_to_a_flag_is_named(void **state)
{
    (void)state;
    assert_int_equal(tail_parse(NULL, 2, "--stream", "s", "--once=1", "f", NULL), LB_EXIT_USAGE);
    assert_string_equal(captured, "logbridge tail: --once: takes no value\n"
                                  "Try 'logbridge tail --help'.\n");
}

static void opts_help_lists_every_option_of_the_table(void **state)
{
    (void)state;
    assert_int_equal(tail_parse(NULL, 1, "--help", NULL), -1);
    for (const struct lb_opt *e = lb_common_opts; e->name != NULL; e++) {
        char want[64];
        snprintf(want, sizeof(want), "--%s", e->name);
        assert_non_null(strstr(captured, want));
    }
    assert_non_null(strstr(captured, "  --rotate-wait SEC    keep reading a rotated-away file"));
    assert_non_null(strstr(captured, "\n                       last change (default 5)\n"));
    assert_non_null(strstr(captured, "Common options:\n  --redis URL"));
}

static void opts_config_keys_are_the_long_options(void **state)
{
    (void)state;
    int common;
    const struct lb_opt *e = lb_opts_find(&lb_tail_optspec, "rotate_wait", &common);
    assert_non_null(e);
    assert_string_equal(e->name, "rotate-wait");
    assert_int_equal(common, 0);
    assert_null(lb_opts_find(&lb_tail_optspec, "rotate-wait", &common));
    e = lb_opts_find(&lb_mirror_optspec, "log_level", &common);
    assert_non_null(e);
    assert_int_equal(common, 1);
    assert_true(e->flags & LB_OPTF_PROCESS);
    /* mirror's own json-field replaces the common one */
    e = lb_opts_find(&lb_mirror_optspec, "json_field", &common);
    assert_int_equal(common, 0);
    char key[64];
    assert_string_equal(lb_opts_key(e, key, sizeof(key)), "json_field");
    /* a value judged by the table alone, as config.c judges a top-level one */
    struct lb_common c;
    lb_common_defaults(&c);
    char why[200];
    e = lb_opts_find(NULL, "max_line", &common);
    assert_int_equal(lb_opts_set(e, &c, "4096", why, sizeof(why)), 0);
    assert_int_equal(c.max_line, 4096);
    assert_int_equal(lb_opts_set(e, &c, "8", why, sizeof(why)), -1);
    assert_string_equal(why, "expected a number of bytes from 16 to 268435456, got '8'");
}

static void opts_number_scanner_refuses_what_is_not_exactly_a_number(void **state)
{
    (void)state;
    long long v;
    double d;
    assert_int_equal(lb_parse_ll("100000", 1, 100000, &v), 0);
    assert_int_equal(v, 100000);
    assert_int_equal(lb_parse_ll("100001", 1, 100000, &v), -1);
    assert_int_equal(lb_parse_ll("99999999999999999999", 0, INT64_MAX, &v), -1);
    assert_int_equal(lb_parse_ll("+1", 0, 10, &v), -1);
    assert_int_equal(lb_parse_ll(" 1", 0, 10, &v), -1);
    assert_int_equal(lb_parse_ll("1 ", 0, 10, &v), -1);
    assert_int_equal(lb_parse_ll("", 0, 10, &v), -1);
    assert_int_equal(lb_parse_double("2.5", 0, 10, &d), 0);
    assert_int_equal(lb_parse_double("inf", 0, 1e300, &d), -1);
    assert_int_equal(lb_parse_double("nan", 0, 10, &d), -1);
    assert_int_equal(lb_parse_double("1e999", 0, 1e300, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opts_errors_name_the_option_as_written),
        cmocka_unit_test(opts_unknown_first_option_is_named),
        cmocka_unit_test(opts_value_given_to_a_flag_is_named),
        cmocka_unit_test(opts_help_lists_every_option_of_the_table),
        cmocka_unit_test(opts_config_keys_are_the_long_options),
        cmocka_unit_test(opts_number_scanner_refuses_what_is_not_exactly_a_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
