/*
 * test_parity_file.c - `logbridge parity`'s file side against a real
 * redis-server: bad, blank and CRLF lines, a partial last line, rotated .gz
 * chains (with and without src), and what mirror writes (missing timestamps
 * taken from the ID, CR/LF escapes, jsonl and the UTF-8 rule). Expected counts
 * come from the edit made, never from parity's own code.
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

/* ---- the file side: bad, blank, CRLF, partial, gz ---------------------------------------------
 */

static void parity_bad_blank_crlf_lines(void **state)
{
    struct fx_parity *f = *state;
    char p[300], s[32];
    pu_path_in(f, "mixed.log", p, sizeof(p));
    char buf[65536];
    size_t len = 0;
    int valid = 0, bad = 0;
    for (long i = 0; i < 200; i++) {
        size_t n = lbt_line(buf + len, sizeof(buf) - len, i);
        if (i % 7 == 0) { /* CRLF ending */
            buf[len + n - 1] = '\r';
            buf[len + n] = '\n';
            n++;
        }
        len += n;
        valid++;
        if (i % 20 == 5) {
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "not a line %ld\n", i);
            bad++;
        }
        if (i % 30 == 3)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\n\r\n");
        if (i % 50 == 9) { /* a CR inside DATA: stored raw, compared escaped */
            len += (size_t)snprintf(buf + len, sizeof(buf) - len,
                                    "web|2025-06-18T08:00:00Z|login|a\rb\\rc %ld\n", i);
            valid++;
        }
    }
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "bad|ts|x|y\n");
    bad++;
    assert_int_equal(lbt_write_file(p, buf, len), 0);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "bb%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){valid, valid, valid, 0, 0, 0, 0, 0, bad});
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){valid, valid, valid, 0, 0, 0, 0, 0, bad});
    }
    pu_pres_free(&r);
}

static void parity_partial_last_line_counts(void **state)
{
    struct fx_parity *f = *state;
    char p[300];
    pu_path_in(f, "partial.log", p, sizeof(p));
    pu_write_lines(p, 0, 100);
    const char *tail = "web|2025-06-18T09:00:00Z|login|no newline";
    assert_int_equal(lbt_append_file(p, tail, strlen(tail)), 0);
    struct pu_pres r = {0};
    pu_import("pl", NULL, NULL, p, NULL); /* --final: the last line is imported */
    pu_parity(&r, "--stream", "pl", p, NULL);
    pu_expect_report(&r, (struct pu_want){101, 101, 101, 0, 0, 0, 0, 0, 0});
    /* Without --final import holds the last line back: parity sees it missing. */
    struct pu_args a = {{0}, 0};
    const char *v[] = {"import",        "--redis", pu_redis.url, "--stream", "pl2",
                       "--no-progress", p,         NULL};
    for (int i = 0; v[i] != NULL; i++)
        pu_args_add(&a, v[i]);
    assert_int_equal(lbt_run(a.v, NULL, 0, NULL, 0, NULL, 0), 0);
    /* Its checkpoint stops before the held-back line: pending, not missing. */
    pu_parity(&r, "--stream", "pl2", p, NULL);
    pu_expect_report(&r, (struct pu_want){101, 100, 100, 0, 0, 0, 0, 0, 0});
    pu_expect_pending_accepted(&r, 1, 0);
    pu_parity(&r, "--stream", "pl2", "--no-pending", p, NULL);
    pu_expect_report(&r, (struct pu_want){101, 100, 100, 1, 0, 0, 0, 0, 0});
    pu_expect_pending_accepted(&r, 0, 0);
    assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 101);
    assert_string_equal(pu_ex_str(pu_example(&r, 0), "expected"), tail);
    pu_pres_free(&r);
}

static void parity_rotated_gz_chain(void **state)
{
    struct fx_parity *f = *state;
    char p2[300], p1[300], p0[300], tmp[300];
    pu_path_in(f, "app.log.2.gz", p2, sizeof(p2));
    pu_path_in(f, "app.log.1", p1, sizeof(p1));
    pu_path_in(f, "app.log", p0, sizeof(p0));
    pu_path_in(f, "gen2", tmp, sizeof(tmp));
    pu_write_lines(tmp, 0, 300);
    size_t n;
    char *g2 = lbt_read_file(tmp, &n);
    pu_write_gz(p2, g2, n);
    free(g2);
    pu_write_lines(p1, 300, 300);
    pu_write_lines(p0, 600, 250);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        char s[32];
        snprintf(s, sizeof(s), "gz%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p2, p1, p0, NULL);
        pu_parity(&r, "--stream", s, p2, p1, p0, NULL);
        pu_expect_report(&r, (struct pu_want){850, 850, 850, 0, 0, 0, 0, 0, 0});
        struct pu_ids ids;
        pu_ids_load(f->c, s, &ids);
        pu_xdel(f->c, s, ids.id[42]);  /* from the .gz generation */
        pu_xdel(f->c, s, ids.id[700]); /* from the live file */
        pu_parity(&r, "--stream", s, p2, p1, p0, NULL);
        pu_expect_report(&r, (struct pu_want){850, 848, 848, 2, 0, 0, 0, 0, 0});
        assert_string_equal(pu_ex_str(pu_example(&r, 0), "file"), p2);
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 43);
        assert_string_equal(pu_ex_str(pu_example(&r, 1), "file"), p0);
        assert_int_equal(pu_ex_num(pu_example(&r, 1), "line"), 101);
        pu_ids_free(&ids);
    }
    pu_pres_free(&r);
}

/* tail gives every generation the live path's name; offsets restart per file. */
static void parity_rotated_chain_with_src(void **state)
{
    struct fx_parity *f = *state;
    char p2[300], p1[300], p0[300], tmp[300];
    pu_path_in(f, "app.log.2.gz", p2, sizeof(p2));
    pu_path_in(f, "app.log.1", p1, sizeof(p1));
    pu_path_in(f, "app.log", p0, sizeof(p0));
    pu_path_in(f, "gen2", tmp, sizeof(tmp));
    /* Generations of equal-length lines: the same offsets occur in each. */
    pu_write_lines(tmp, 0, 200);
    pu_write_lines(p1, 200, 200);
    pu_write_lines(p0, 400, 200);
    size_t n;
    char *g2 = lbt_read_file(tmp, &n);
    pu_write_gz(p2, g2, n);
    free(g2);
    struct pu_flines fl[3];
    pu_flines_load(tmp, &fl[0]);
    pu_flines_load(p1, &fl[1]);
    pu_flines_load(p0, &fl[2]);
    const char *name = "/var/log/app.log";
    struct pu_pres r = {0};
    for (int m = 0; m < 4; m++) {
        struct pu_craft cr = {1, (m & 2) != 0, 0, name};
        char s[32], s2[32];
        snprintf(s, sizeof(s), "rc%d", m);
        snprintf(s2, sizeof(s2), "rcx%d", m);
        uint64_t ms = 1000;
        for (int g = 0; g < 3; g++)
            for (size_t i = 0; i < fl[g].n; i++) {
                pu_xadd_flines(f->c, s, ms, &fl[g], i, &cr);
                /* the second stream: line 50 of the middle generation changed,
                 * line 10 of the newest missing */
                if (g == 1 && i == 50) {
                    char line[600];
                    memcpy(line, fl[g].buf + fl[g].off[i], fl[g].lenv[i]);
                    line[fl[g].lenv[i]] = '~';
                    pu_xadd_line(f->c, s2, ms, 0, line, fl[g].lenv[i] + 1, fl[g].off[i], &cr);
                } else if (!(g == 2 && i == 10)) {
                    pu_xadd_flines(f->c, s2, ms, &fl[g], i, &cr);
                }
                ms++;
            }
        pu_parity(&r, "--stream", s, "--src", name, p2, p1, p0, NULL);
        pu_expect_report(&r, (struct pu_want){600, 600, 600, 0, 0, 0, 0, 0, 0});
        pu_parity(&r, "--stream", s2, "--src", name, p2, p1, p0, NULL);
        pu_expect_report(&r, (struct pu_want){600, 599, 598, 1, 0, 1, 0, 0, 0});
        assert_string_equal(pu_ex_str(pu_example(&r, 0), "file"), p1);
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 51);
        assert_string_equal(pu_ex_str(pu_example(&r, 1), "file"), p0);
        assert_int_equal(pu_ex_num(pu_example(&r, 1), "line"), 11);
        /* Another src filters everything out. */
        pu_parity(&r, "--stream", s, "--src", "/nope", p2, p1, p0, NULL);
        pu_expect_report(&r, (struct pu_want){600, 0, 0, 600, 0, 0, 0, 0, 0});
    }
    /* The same chain under the live file's own path, compared without --src:
     * parity cannot know the generations share it, and says how to fix that. */
    char ap0[PATH_MAX];
    pu_abs_of(p0, ap0, sizeof(ap0));
    struct pu_craft live = {1, 0, 0, ap0};
    uint64_t ms = 1000;
    for (int g = 0; g < 3; g++)
        for (size_t i = 0; i < fl[g].n; i++)
            pu_xadd_flines(f->c, "rclive", ms++, &fl[g], i, &live);
    pu_parity(&r, "--stream", "rclive", p2, p1, p0, NULL);
    assert_int_equal(r.rc, 1);
    if (strstr(r.err, "--src") == NULL)
        fail_msg("no hint about --src: %s", r.err);
    pu_parity(&r, "--stream", "rclive", "--src", ap0, p2, p1, p0, NULL);
    pu_expect_report(&r, (struct pu_want){600, 600, 600, 0, 0, 0, 0, 0, 0});
    for (int g = 0; g < 3; g++)
        pu_flines_free(&fl[g]);
    pu_pres_free(&r);
}

/* ---- what mirror writes: missing timestamps, CR/LF escapes -------------------------------------
 */

static void parity_mirror_escapes_and_id_timestamps(void **state)
{
    struct fx_parity *f = *state;
    char p[300];
    pu_path_in(f, "mirror.log", p, sizeof(p));
    /* Entries with real CR/LF in data and no timestamp field. */
    struct pu_pres r = {0};
    for (int json = 0; json < 2; json++) {
        const char *s = json ? "me1" : "me0";
        struct pu_craft cr = {0, json, 1, NULL};
        char file[4096];
        size_t len = 0;
        for (int i = 0; i < 20; i++) {
            char line[200], ts[40];
            int n = snprintf(line, sizeof(line), "web|x|pay|row %d\rcr\nlf end", i);
            pu_xadd_line(f->c, s, UINT64_C(1750240800000) + (uint64_t)i * 1001, 0, line, (size_t)n,
                         0, &cr);
            lb_ts_format_ms(INT64_C(1750240800000) + i * 1001, ts);
            len += (size_t)snprintf(file + len, sizeof(file) - len,
                                    "web|%s|pay|row %d\\rcr\\nlf end\n", ts, i);
        }
        assert_int_equal(lbt_write_file(p, file, len), 0);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){20, 20, 20, 0, 0, 0, 0, 0, 0});
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){20, 20, 20, 0, 0, 0, 0, 0, 0});
    }
    pu_pres_free(&r);
}

/* --format jsonl on both sides; and the json encoding's UTF-8 rule: a line
 * that is not UTF-8 went to the DLQ, so parity counts it bad, not missing. */
static void parity_jsonl_and_utf8_rule(void **state)
{
    struct fx_parity *f = *state;
    char pj[300], pu[300];
    pu_path_in(f, "j.jsonl", pj, sizeof(pj));
    pu_path_in(f, "u.log", pu, sizeof(pu));
    const char *jl =
        "{\"role\":\"web\",\"timestamp\":\"2025-06-18T10:00:00Z\",\"type\":\"login\","
        "\"data\":{\"a\": 1, \"b\":[1, 2]}}\n"
        "{\"role\":\"web\",\"timestamp\":\"2025-06-18T10:00:01Z\",\"type\":\"t\","
        "\"data\":\"x\\ny\\r\"}\n"
        "{\"role\":\"api\",\"timestamp\":\"1750240800123\",\"type\":\"t\",\"data\":null}\n"
        "not json\n\n";
    assert_int_equal(lbt_write_file(pj, jl, strlen(jl)), 0);
    const char *ul = "web|2025-06-18T10:00:00Z|login|ok\n"
                     "web|2025-06-18T10:00:01Z|login|bad \xff byte\n"
                     "web|2025-06-18T10:00:02Z|login|ok2\n";
    assert_int_equal(lbt_write_file(pu, ul, strlen(ul)), 0);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        char s[32], s2[32];
        snprintf(s, sizeof(s), "jl%zu", m);
        snprintf(s2, sizeof(s2), "ut%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, "--format=jsonl", pj, NULL);
        pu_parity(&r, "--stream", s, "--format", "jsonl", pj, NULL);
        pu_expect_report(&r, (struct pu_want){3, 3, 3, 0, 0, 0, 0, 0, 1});
        pu_parity(&r, "--stream", s, "--format", "jsonl", "--order", "any", pj, NULL);
        pu_expect_report(&r, (struct pu_want){3, 3, 3, 0, 0, 0, 0, 0, 1});
        pu_import(s2, pu_modes[m].prov, pu_modes[m].enc, pu, NULL);
        int json = pu_modes[m].enc != NULL;
        pu_parity(&r, "--stream", s2, pu, NULL);
        pu_expect_report(&r, (struct pu_want){3 - json, 3 - json, 3 - json, 0, 0, 0, 0, 0, json});
    }
    pu_pres_free(&r);
}

/* The CI recipe after rotations (the issue's `--src app.log app.log.1
 * app.log` gave matched 0): each run of entries is the generation of the
 * FILE it was read from, whatever FILEs are given and in which order. */
static void parity_chain_generations_recognised(void **state)
{
    struct fx_parity *f = *state;
    char p[4][300], tmp[300];
    const char *names[4] = {"app.log.3", "app.log.2", "app.log.1", "app.log"};
    struct pu_flines fl[4];
    for (int g = 0; g < 4; g++) {
        pu_path_in(f, names[g], p[g], sizeof(p[g]));
        pu_write_lines(p[g], 1000 * g, 100 + 20 * g);
        pu_flines_load(p[g], &fl[g]);
    }
    pu_path_in(f, "unused", tmp, sizeof(tmp));
    const char *name = "/var/log/app/app.log";
    struct pu_craft cr = {1, 0, 0, name};
    uint64_t ms = 1000;
    for (int g = 0; g < 4; g++)
        for (size_t i = 0; i < fl[g].n; i++)
            pu_xadd_flines(f->c, "ch", ms++, &fl[g], i, &cr);
    long n0 = 100, n1 = 120, n2 = 140, n3 = 160; /* app.log.3 .. app.log */
    struct pu_pres r = {0};
    /* All four, oldest first: equal. */
    pu_parity(&r, "--stream", "ch", "--src", name, p[0], p[1], p[2], p[3], NULL);
    pu_expect_report(&r, (struct pu_want){n0 + n1 + n2 + n3, n0 + n1 + n2 + n3,
                                          n0 + n1 + n2 + n3, 0, 0, 0, 0, 0, 0});
    /* The recipe: the newest two; the older ones are not compared. */
    pu_parity(&r, "--stream", "ch", "--src", name, p[2], p[3], NULL);
    pu_expect_report(&r, (struct pu_want){n2 + n3, n2 + n3, n2 + n3, 0, 0, 0, 0, 0, 0});
    if (strstr(r.err, "older than the FILEs") == NULL)
        fail_msg("no word about the older generations: %s", r.err);
    /* In any order. */
    pu_parity(&r, "--stream", "ch", "--src", name, p[3], p[1], p[2], NULL);
    pu_expect_report(&r, (struct pu_want){n1 + n2 + n3, n1 + n2 + n3, n1 + n2 + n3, 0, 0, 0, 0,
                                          0, 0});
    /* A generation missing from the middle of the chain: its entries are
     * extra, and the message says where it lies. */
    pu_parity(&r, "--stream", "ch", "--src", name, p[0], p[2], p[3], NULL);
    pu_expect_report(&r, (struct pu_want){n0 + n2 + n3, n0 + n1 + n2 + n3, n0 + n2 + n3, 0, n1,
                                          0, 0, 0, 0});
    if (strstr(r.err, "missing from the chain") == NULL || strstr(r.err, p[0]) == NULL)
        fail_msg("the gap is not named: %s", r.err);
    /* A line lost inside a generation is one missing line of that FILE. */
    struct pu_ids ids;
    pu_ids_load(f->c, "ch", &ids);
    pu_xdel(f->c, "ch", ids.id[n0 + n1 + 7]);
    pu_parity(&r, "--stream", "ch", "--src", name, p[1], p[2], p[3], NULL);
    pu_expect_report(&r, (struct pu_want){n1 + n2 + n3, n1 + n2 + n3 - 1, n1 + n2 + n3 - 1, 1, 0,
                                          0, 0, 0, 0});
    assert_string_equal(pu_ex_str(pu_example(&r, 0), "file"), p[2]);
    assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 8);
    pu_ids_free(&ids);
    for (int g = 0; g < 4; g++)
        pu_flines_free(&fl[g]);
    pu_pres_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parity_bad_blank_crlf_lines, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_partial_last_line_counts, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_rotated_gz_chain, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_rotated_chain_with_src, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_chain_generations_recognised, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_mirror_escapes_and_id_timestamps, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_jsonl_and_utf8_rule, fx_parity_setup,
                                        fx_parity_teardown),
    };
    return cmocka_run_group_tests(tests, fx_parity_group_setup, fx_parity_group_teardown);
}
