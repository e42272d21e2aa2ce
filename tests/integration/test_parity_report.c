/*
 * test_parity_report.c - `logbridge parity`'s reports and errors against a
 * real redis-server: the JUnit report is valid XML, the text report and
 * --out, --max-examples, an empty and a missing stream, a large gap without
 * provenance, and the exit codes of errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "fx_parity.h"
#include "lbtest.h"
#include "parity_xml.h"
#include "record.h"

/* ---- reports and errors --------------------------------------------------------------------- */

static char *run_capture(int *rc, char *err, size_t errcap, ...)
{
    struct pu_args a = {{0}, 0};
    va_list ap;
    va_start(ap, errcap);
    pu_args_addv(&a, ap);
    va_end(ap);
    char *out = malloc(1 << 20);
    *rc = lbt_run(a.v, out, 1 << 20, err, errcap, NULL, 0);
    return out;
}

static void parity_junit_report_is_valid_xml(void **state)
{
    struct fx_parity *f = *state;
    char p1[300], p2[300], ap1[PATH_MAX];
    pu_path_in(f, "one&<two>.log", p1, sizeof(p1));
    pu_path_in(f, "b.log", p2, sizeof(p2));
    pu_abs_of(p1, ap1, sizeof(ap1));
    /* hostile bytes in data: markup, quotes, control bytes, invalid UTF-8 */
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < 30; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                "web|2025-06-18T08:00:%02dZ|login|<x a=\"%d\">&amp; ' \x01\x1b\x7f "
                                "\xff\xfe \xef\xbf\xbf ]]> \t end\n",
                                i, i);
    assert_int_equal(lbt_write_file(p1, buf, len), 0);
    pu_write_lines(p2, 0, 50);
    pu_import("ju", NULL, NULL, p1, p2, NULL);
    struct pu_ids ids;
    pu_ids_load(f->c, "ju", &ids);
    pu_xdel(f->c, "ju", ids.id[3]);
    const char *x = "web|2025-06-18T11:00:00Z|login|extra <&>";
    struct pu_craft bare = {0, 0, 0, NULL};
    pu_xadd_line(f->c, "ju", UINT64_C(99999999999999), 0, x, strlen(x), 0, &bare);
    int rc;
    char err[4096];
    char *out = run_capture(&rc, err, sizeof(err), "parity", "--redis", pu_redis.url, "--stream",
                            "ju", "--report", "junit", p1, p2, NULL);
    assert_int_equal(rc, 1);
    char why[300];
    struct pxml_node *root = pxml_parse(out, strlen(out), why, sizeof(why));
    if (root == NULL)
        fail_msg("not well-formed XML: %s\n%s", why, out);
    assert_string_equal(root->name, "testsuite");
    assert_string_equal(pxml_attr(root, "tests"), "3");
    assert_string_equal(pxml_attr(root, "failures"), "2");
    assert_int_equal(pxml_count(root, "testcase"), 3);
    const struct pxml_node *t0 = pxml_child(root, "testcase", 0);
    assert_string_equal(pxml_attr(t0, "name"), p1);
    assert_string_equal(pxml_attr(pxml_child(t0, "failure", 0), "message"),
                        "missing_in_stream=1 mismatched=0 out_of_order=0");
    const struct pxml_node *t1 = pxml_child(root, "testcase", 1);
    assert_string_equal(pxml_attr(t1, "name"), p2);
    assert_null(pxml_child(t1, "failure", 0));
    const struct pxml_node *t2 = pxml_child(root, "testcase", 2);
    assert_string_equal(pxml_attr(t2, "name"), "stream ju");
    assert_string_equal(pxml_attr(pxml_child(t2, "failure", 0), "message"), "extra_in_stream=1");
    pxml_free(root);
    free(out);

    /* Equal: no failure anywhere. */
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", pu_redis.url, "--stream", "ju",
                      "--report", "junit", "--from", ids.id[4], "--to", ids.id[79], p1, p2, NULL);
    assert_int_equal(rc, 0);
    root = pxml_parse(out, strlen(out), why, sizeof(why));
    if (root == NULL)
        fail_msg("not well-formed XML: %s\n%s", why, out);
    assert_string_equal(pxml_attr(root, "failures"), "0");
    pxml_free(root);
    free(out);
    pu_ids_free(&ids);
}

static void parity_text_report_and_out_file(void **state)
{
    struct fx_parity *f = *state;
    char p[300], o[300];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_path_in(f, "report.json", o, sizeof(o));
    pu_write_lines(p, 0, 50);
    pu_import("tx", NULL, NULL, p, NULL);
    int rc;
    char err[4096];
    char *out = run_capture(&rc, err, sizeof(err), "parity", "--redis", pu_redis.url, "--stream",
                            "tx", p, NULL);
    assert_int_equal(rc, 0);
    assert_true(strncmp(out, "EQUAL", 5) == 0);
    assert_null(strstr(out, "examples"));
    free(out);
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", pu_redis.url, "--stream", "tx",
                      "--report", "json", "--out", o, p, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(out, ""); /* the report went to the file */
    free(out);
    size_t n;
    char *j = lbt_read_file(o, &n);
    assert_non_null(j);
    cJSON *root = cJSON_Parse(j);
    assert_non_null(root);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(root, "equal")));
    cJSON_Delete(root);
    free(j);
    /* nothing but the report and the log is left in the directory */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c tmp", f->dir);
    FILE *ls = popen(cmd, "r");
    char cnt[16] = "";
    assert_non_null(fgets(cnt, sizeof(cnt), ls));
    pclose(ls);
    assert_int_equal(atoi(cnt), 0);
}

static void parity_max_examples(void **state)
{
    struct fx_parity *f = *state;
    char p[300];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_write_lines(p, 0, 300);
    pu_import("mx", NULL, NULL, p, NULL);
    struct pu_ids ids;
    pu_ids_load(f->c, "mx", &ids);
    for (int i = 0; i < 30; i++)
        pu_xdel(f->c, "mx", ids.id[5 + 9 * i]);
    struct pu_pres r = {0};
    pu_parity(&r, "--stream", "mx", p, NULL);
    pu_expect_report(&r, (struct pu_want){300, 270, 270, 30, 0, 0, 0, 0, 0});
    for (int i = 0; i < 10; i++)
        assert_int_equal(pu_ex_num(pu_example(&r, i), "line"), 6 + 9 * i);
    pu_parity(&r, "--stream", "mx", "--max-examples", "3", p, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.root, "examples")), 3);
    pu_parity(&r, "--stream", "mx", "--max-examples", "0", "--order", "any", p, NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.root, "examples")), 0);
    assert_int_equal(pu_pnum(&r, "missing_in_stream"), 30);
    assert_int_equal(r.rc, 1);
    pu_ids_free(&ids);
    pu_pres_free(&r);
}

static void parity_empty_and_missing_stream(void **state)
{
    struct fx_parity *f = *state;
    char p[300], e[300];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_path_in(f, "empty.log", e, sizeof(e));
    pu_write_lines(p, 0, 20);
    assert_int_equal(lbt_write_file(e, "\n\n", 2), 0);
    struct pu_pres r = {0};
    pu_parity(&r, "--stream", "nosuch", p, NULL);
    pu_expect_report(&r, (struct pu_want){20, 0, 0, 20, 0, 0, 0, 0, 0});
    pu_parity(&r, "--stream", "nosuch", e, NULL);
    pu_expect_report(&r, (struct pu_want){0, 0, 0, 0, 0, 0, 0, 0, 0});
    pu_parity(&r, "--stream", "nosuch", "--order", "any", p, NULL);
    pu_expect_report(&r, (struct pu_want){20, 0, 0, 20, 0, 0, 0, 0, 0});
    /* A stream trimmed to nothing: every line is trimmed. */
    pu_import("tz", NULL, NULL, p, NULL);
    const char *v[4] = {"XTRIM", "tz", "MAXLEN", "0"};
    pu_cmd_ok(f->c, 4, v);
    pu_parity(&r, "--stream", "tz", p, NULL);
    pu_expect_report(&r, (struct pu_want){20, 0, 0, 0, 0, 0, 0, 20, 0});
    pu_pres_free(&r);
}

static void parity_large_gap_without_provenance(void **state)
{
    struct fx_parity *f = *state;
    char p[300];
    pu_path_in(f, "big.log", p, sizeof(p));
    pu_write_lines(p, 0, 8000);
    pu_import("lg", "--no-provenance", NULL, p, NULL);
    struct pu_ids ids;
    pu_ids_load(f->c, "lg", &ids);
    for (int i = 3000; i < 5500; i++)
        redisAppendCommand(f->c, "XDEL lg %s", ids.id[i]);
    for (int i = 3000; i < 5500; i++) {
        redisReply *x;
        assert_int_equal(redisGetReply(f->c, (void **)&x), REDIS_OK);
        freeReplyObject(x);
    }
    struct pu_pres r = {0};
    pu_parity(&r, "--stream", "lg", p, NULL);
    pu_expect_report(&r, (struct pu_want){8000, 5500, 5500, 2500, 0, 0, 0, 0, 0});
    assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 3001);
    pu_ids_free(&ids);
    pu_pres_free(&r);
}

static void parity_errors_exit_codes(void **state)
{
    struct fx_parity *f = *state;
    char p[300], d[300], url[400];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_path_in(f, "sub", d, sizeof(d));
    pu_write_lines(p, 0, 5);
    mkdir(d, 0755);
    int rc;
    char err[4096];
    /* Redis unreachable: exit 3, one line naming the address. */
    snprintf(url, sizeof(url), "unix://%s/none.sock", f->dir);
    char *out =
        run_capture(&rc, err, sizeof(err), "parity", "--redis", url, "--stream", "s", p, NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "none.sock"));
    assert_non_null(strchr(err, '\n'));
    assert_null(strchr(strchr(err, '\n') + 1, '\n'));
    assert_string_equal(out, "");
    free(out);
    /* Unreadable FILEs: exit 3. */
    char missing[300];
    pu_path_in(f, "nope.log", missing, sizeof(missing));
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", pu_redis.url, "--stream", "s",
                      missing, NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "nope.log"));
    free(out);
    out = run_capture(&rc, err, sizeof(err), "parity", "--redis", pu_redis.url, "--stream", "s", d,
                      NULL);
    assert_int_equal(rc, 3);
    free(out);
    /* Usage: exit 2, naming the option. */
    const char *const bad[][6] = {
        {"parity", p, NULL},
        {"parity", "--stream", "s", NULL},
        {"parity", "--stream", "s", "--order", "random", p},
        {"parity", "--stream", "s", "--report", "xml", p},
        {"parity", "--stream", "s", "--from", "12-ab", p},
        {"parity", "--stream", "s", "--max-examples", "-1", p},
        {"parity", "--stream", "s", "-", NULL},
        {"parity", "--stream", "s", "--bogus", p},
    };
    static const char *const names[] = {"--stream", "FILE",           "--order", "--report",
                                        "--from",   "--max-examples", "stdin",   "--bogus"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pu_args a = {{0}, 0};
        for (int k = 0; k < 6 && bad[i][k] != NULL; k++)
            pu_args_add(&a, bad[i][k]);
        rc = lbt_run(a.v, NULL, 0, err, sizeof(err), NULL, 0);
        assert_int_equal(rc, 2);
        if (strcmp(names[i], "FILE") != 0 && strstr(err, names[i]) == NULL)
            fail_msg("usage error for %s does not name it: %s", names[i], err);
    }
}

/* Known, explained differences accepted by a baseline; a new one still
 * fails; the baseline keeps working as the file rotates. */
static void parity_baseline_accepts_known_differences(void **state)
{
    struct fx_parity *f = *state;
    char p[300], p1[300], bl[300], bl2[300];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_path_in(f, "app.log.1", p1, sizeof(p1));
    pu_path_in(f, "accepted.baseline", bl, sizeof(bl));
    pu_path_in(f, "bad.baseline", bl2, sizeof(bl2));
    pu_write_lines(p, 0, 300);
    const char *name = "/var/log/app/app.log";
    pu_import("bl", "--name", name, p, NULL);
    struct pu_ids ids;
    pu_ids_load(f->c, "bl", &ids);
    pu_xdel(f->c, "bl", ids.id[10]); /* a line the stream lacks */
    const char *x = "web|2025-06-18T11:00:00Z|login|written by hand";
    struct pu_craft cr = {1, 0, 0, name};
    pu_xadd_line(f->c, "bl", UINT64_C(99999999999999), 0, x, strlen(x), 999999, &cr);
    struct pu_pres r = {0};
    for (int any = 0; any < 2; any++) {
        const char *order = any ? "any" : "strict";
        unlink(bl);
        pu_parity(&r, "--stream", "bl", "--src", name, "--order", order, "--write-baseline", bl,
                  p, NULL);
        pu_expect_report(&r, (struct pu_want){300, 300, 299, 1, 1, 0, 0, 0, 0});
        size_t n;
        char *text = lbt_read_file(bl, &n);
        assert_non_null(text);
        assert_non_null(strstr(text, "entry 99999999999999-0"));
        assert_non_null(strstr(text, "line "));
        free(text);
        /* Accepted: green, counted apart. */
        pu_parity(&r, "--stream", "bl", "--src", name, "--order", order, "--baseline", bl, p,
                  NULL);
        pu_expect_report(&r, (struct pu_want){300, 300, 299, 0, 0, 0, 0, 0, 0});
        pu_expect_pending_accepted(&r, 0, 2);
        /* The file rotated (renamed): the same line is still accepted. */
        assert_int_equal(rename(p, p1), 0);
        pu_parity(&r, "--stream", "bl", "--src", name, "--order", order, "--baseline", bl, p1,
                  NULL);
        pu_expect_report(&r, (struct pu_want){300, 300, 299, 0, 0, 0, 0, 0, 0});
        pu_expect_pending_accepted(&r, 0, 2);
        assert_int_equal(rename(p1, p), 0);
    }
    /* A new difference is not hidden. */
    pu_xdel(f->c, "bl", ids.id[200]);
    pu_parity(&r, "--stream", "bl", "--src", name, "--baseline", bl, p, NULL);
    pu_expect_report(&r, (struct pu_want){300, 299, 298, 1, 0, 0, 0, 0, 0});
    pu_expect_pending_accepted(&r, 0, 2);
    assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 201);
    /* A changed line (same offset, other text) is not accepted by the item
     * of the line that was there. */
    pu_write_lines(p, 0, 300);
    char *text;
    size_t n;
    text = lbt_read_file(p, &n);
    char *l11 = strstr(text, "data-10 ");
    assert_non_null(l11);
    l11[5] = 'X';
    assert_int_equal(lbt_write_file(p, text, n), 0);
    free(text);
    pu_parity(&r, "--stream", "bl", "--src", name, "--baseline", bl, p, NULL);
    pu_expect_report(&r, (struct pu_want){300, 299, 298, 2, 0, 0, 0, 0, 0});
    pu_expect_pending_accepted(&r, 0, 1);
    assert_int_equal(pu_pnum(&r, "baseline_unused"), 1);
    /* A malformed baseline is a usage error naming the file and line. */
    const char *bad = "# comment\nentry 1-0\nline x y z\n";
    assert_int_equal(lbt_write_file(bl2, bad, strlen(bad)), 0);
    struct pu_args a = {{0}, 0};
    const char *v[] = {"parity", "--redis", pu_redis.url, "--stream", "bl", "--baseline", bl2,
                       p, NULL};
    for (int i = 0; v[i] != NULL; i++)
        pu_args_add(&a, v[i]);
    char err[2048];
    assert_int_equal(lbt_run(a.v, NULL, 0, err, sizeof(err), NULL, 0), 2);
    char want[400];
    snprintf(want, sizeof(want), "%s:3", bl2);
    if (strstr(err, want) == NULL)
        fail_msg("no file:line in: %s", err);
    pu_ids_free(&ids);
    pu_pres_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parity_junit_report_is_valid_xml, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_text_report_and_out_file, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_max_examples, fx_parity_setup, fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_baseline_accepts_known_differences,
                                        fx_parity_setup, fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_empty_and_missing_stream, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_large_gap_without_provenance, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_errors_exit_codes, fx_parity_setup,
                                        fx_parity_teardown),
    };
    return cmocka_run_group_tests(tests, fx_parity_group_setup, fx_parity_group_teardown);
}
