/*
 * test_parity.c - `logbridge parity` against a real redis-server: a stream
 * equal to its file, then discrepancies injected one by one and together
 * (XDEL, XADD, a changed entry, swapped entries, a trimmed head, trim + XDEL
 * + extra, a missing head without trim), several producers interleaved,
 * --src and the ID window.
 *
 * Each test builds a stream from a file (with `logbridge import`, or crafted
 * with explicit IDs when the edit cannot be made with XADD at the top) and
 * asserts the exact counts of the JSON report and the exit code. Expected
 * counts come from the edit made, never from parity's own code. Every case
 * runs with and without provenance and in both encodings where that makes a
 * difference. The file side is in test_parity_file.c, the reports and
 * errors in test_parity_report.c.
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

/* ---- equal -------------------------------------------------------------------------------------
 */

static void parity_equal_after_import(void **state)
{
    struct fx_parity *f = *state;
    char p[300], s[32];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_write_lines(p, 0, 700);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "eq%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){700, 700, 700, 0, 0, 0, 0, 0, 0});
        /* --order any agrees */
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){700, 700, 700, 0, 0, 0, 0, 0, 0});
    }
    pu_pres_free(&r);
}

/* ---- one discrepancy at a time -----------------------------------------------------------------
 */

static void parity_xdel_is_one_missing(void **state)
{
    struct fx_parity *f = *state;
    char p[300], s[32];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_write_lines(p, 0, 600);
    struct pu_flines fl;
    pu_flines_load(p, &fl);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "xd%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        struct pu_ids ids;
        pu_ids_load(f->c, s, &ids);
        assert_int_equal(ids.n, 600);
        pu_xdel(f->c, s, ids.id[250]);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){600, 599, 599, 1, 0, 0, 0, 0, 0});
        const cJSON *e = pu_example(&r, 0);
        assert_string_equal(pu_ex_str(e, "kind"), "missing_in_stream");
        assert_string_equal(pu_ex_str(e, "file"), p);
        assert_int_equal(pu_ex_num(e, "line"), 251);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "id")));
        assert_int_equal(strlen(pu_ex_str(e, "expected")), fl.lenv[250]);
        assert_memory_equal(pu_ex_str(e, "expected"), fl.buf + fl.off[250], fl.lenv[250]);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "actual")));
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){600, 599, 599, 1, 0, 0, 0, 0, 0});
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 251);
        pu_ids_free(&ids);
    }
    pu_flines_free(&fl);
    pu_pres_free(&r);
}

static void parity_xadd_is_extra(void **state)
{
    struct fx_parity *f = *state;
    char p[300], s[32], ap[PATH_MAX];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_abs_of(p, ap, sizeof(ap));
    pu_write_lines(p, 0, 500);
    struct pu_flines fl;
    pu_flines_load(p, &fl);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "xa%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        /* An entry nobody wrote to the file, and a second copy of line 10
         * (with line 10's provenance when the stream has provenance). */
        struct pu_craft cr = {pu_modes[m].prov == NULL, pu_modes[m].enc != NULL, 0, ap};
        const char *other = "web|2025-06-18T11:00:00Z|login|not in the file";
        struct pu_craft bare = {0, pu_modes[m].enc != NULL, 0, NULL};
        pu_xadd_line(f->c, s, UINT64_C(99999999999999), 0, other, strlen(other), 0, &bare);
        pu_xadd_flines(f->c, s, UINT64_C(99999999999999) + 1, &fl, 10, &cr);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){500, 502, 500, 0, 2, 0, 0, 0, 0});
        const cJSON *e = pu_example(&r, 0);
        assert_string_equal(pu_ex_str(e, "kind"), "extra_in_stream");
        assert_string_equal(pu_ex_str(e, "id"), "99999999999999-0");
        assert_string_equal(pu_ex_str(e, "actual"), other);
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(e, "file")));
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){500, 502, 500, 0, 2, 0, 0, 0, 0});
    }
    pu_flines_free(&fl);
    pu_pres_free(&r);
}

/* A crafted copy of the file's stream with one edit, explicit IDs 1000+i. */
enum edit { ED_NONE, ED_CHANGE, ED_SWAP, ED_DELETE, ED_EXTRA };

static void craft_stream(redisContext *c, const char *s, const struct pu_flines *fl,
                         const struct pu_craft *cr, enum edit ed, size_t at)
{
    uint64_t ms = 1000;
    for (size_t i = 0; i < fl->n; i++) {
        if (ed == ED_DELETE && i == at)
            continue;
        if (ed == ED_SWAP && i == at) {
            pu_xadd_flines(c, s, ms++, fl, i + 1, cr);
            pu_xadd_flines(c, s, ms++, fl, i, cr);
            i++;
            continue;
        }
        if (ed == ED_CHANGE && i == at) {
            /* Same role, timestamp, type, provenance; one byte more of data. */
            char line[600];
            size_t n = fl->lenv[i];
            memcpy(line, fl->buf + fl->off[i], n);
            line[n++] = '!';
            pu_xadd_line(c, s, ms++, 0, line, n, fl->off[i], cr);
            continue;
        }
        pu_xadd_flines(c, s, ms++, fl, i, cr);
        if (ed == ED_EXTRA && i == at) {
            const char *x = "worker|2025-06-18T08:00:00.500Z|click|an extra entry";
            struct pu_craft bare = *cr;
            bare.prov = 0;
            pu_xadd_line(c, s, ms++, 0, x, strlen(x), 0, &bare);
        }
    }
}

static void parity_changed_entry_is_one_mismatched(void **state)
{
    struct fx_parity *f = *state;
    char p[300], ap[PATH_MAX], s[32];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_abs_of(p, ap, sizeof(ap));
    pu_write_lines(p, 0, 400);
    struct pu_flines fl;
    pu_flines_load(p, &fl);
    struct pu_pres r = {0};
    for (int m = 0; m < 4; m++) {
        struct pu_craft cr = {!(m & 1), (m & 2) != 0, 0, ap};
        snprintf(s, sizeof(s), "ch%d", m);
        craft_stream(f->c, s, &fl, &cr, ED_CHANGE, 123);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){400, 400, 399, 0, 0, 1, 0, 0, 0});
        const cJSON *e = pu_example(&r, 0);
        assert_string_equal(pu_ex_str(e, "kind"), "mismatched");
        assert_int_equal(pu_ex_num(e, "line"), 124);
        assert_string_equal(pu_ex_str(e, "id"), "1123-0");
        const char *exp = pu_ex_str(e, "expected"), *act = pu_ex_str(e, "actual");
        assert_int_equal(strlen(exp), fl.lenv[123]);
        assert_int_equal(strlen(act), fl.lenv[123] + 1);
        assert_memory_equal(act, exp, strlen(exp));
        /* As multisets a changed line is one missing and one extra. */
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){400, 400, 399, 1, 1, 0, 0, 0, 0});
    }
    pu_flines_free(&fl);
    pu_pres_free(&r);
}

static void parity_swapped_entries_are_one_out_of_order(void **state)
{
    struct fx_parity *f = *state;
    char p[300], ap[PATH_MAX], s[32];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_abs_of(p, ap, sizeof(ap));
    pu_write_lines(p, 0, 400);
    struct pu_flines fl;
    pu_flines_load(p, &fl);
    struct pu_pres r = {0};
    for (int m = 0; m < 4; m++) {
        struct pu_craft cr = {!(m & 1), (m & 2) != 0, 0, ap};
        snprintf(s, sizeof(s), "sw%d", m);
        craft_stream(f->c, s, &fl, &cr, ED_SWAP, 200);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){400, 400, 399, 0, 0, 0, 1, 0, 0});
        const cJSON *e = pu_example(&r, 0);
        assert_string_equal(pu_ex_str(e, "kind"), "out_of_order");
        assert_string_equal(pu_ex_str(e, "expected"), pu_ex_str(e, "actual"));
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){400, 400, 400, 0, 0, 0, 0, 0, 0});
    }
    pu_flines_free(&fl);
    pu_pres_free(&r);
}

static void parity_trimmed_head_is_not_missing(void **state)
{
    struct fx_parity *f = *state;
    char p[300], s[32];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_write_lines(p, 0, 1000);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "tr%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        const char *v[4] = {"XTRIM", s, "MAXLEN", "400"};
        pu_cmd_ok(f->c, 4, v);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){1000, 400, 400, 0, 0, 0, 0, 600, 0});
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){1000, 400, 400, 0, 0, 0, 0, 600, 0});
        /* and by MINID, further */
        struct pu_ids ids;
        pu_ids_load(f->c, s, &ids);
        const char *w[4] = {"XTRIM", s, "MINID", ids.id[100]};
        pu_cmd_ok(f->c, 4, w);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){1000, 300, 300, 0, 0, 0, 0, 700, 0});
        pu_ids_free(&ids);
    }
    pu_pres_free(&r);
}

static void parity_trim_xdel_extra_together(void **state)
{
    struct fx_parity *f = *state;
    char p[300], s[32];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_write_lines(p, 0, 1000);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        snprintf(s, sizeof(s), "tx%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        struct pu_ids ids;
        pu_ids_load(f->c, s, &ids);
        const char *w[4] = {"XTRIM", s, "MINID", ids.id[300]};
        pu_cmd_ok(f->c, 4, w);
        pu_xdel(f->c, s, ids.id[700]);
        const char *x = "web|2025-06-18T11:00:00Z|login|extra";
        struct pu_craft bare = {0, pu_modes[m].enc != NULL, 0, NULL};
        pu_xadd_line(f->c, s, UINT64_C(99999999999999), 0, x, strlen(x), 0, &bare);
        /* 300 trimmed + 1 deleted inside: the deletion inside the retained
         * range is not taken for trimming. */
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){1000, 700, 699, 1, 1, 0, 0, 300, 0});
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 701);
        pu_parity(&r, "--stream", s, "--order", "any", p, NULL);
        pu_expect_report(&r, (struct pu_want){1000, 700, 699, 1, 1, 0, 0, 300, 0});
        pu_ids_free(&ids);
    }
    pu_pres_free(&r);
}

/* A missing line at the very head of a stream that was never trimmed is missing. */
static void parity_missing_head_without_trim_is_missing(void **state)
{
    struct fx_parity *f = *state;
    char p[300], ap[PATH_MAX];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_abs_of(p, ap, sizeof(ap));
    pu_write_lines(p, 0, 300);
    struct pu_flines fl;
    pu_flines_load(p, &fl);
    struct pu_pres r = {0};
    for (int m = 0; m < 2; m++) {
        struct pu_craft cr = {!m, 0, 0, ap};
        const char *s = m ? "mh1" : "mh0";
        /* the stream starts at line 50: nothing was ever deleted */
        for (size_t i = 50; i < fl.n; i++)
            pu_xadd_flines(f->c, s, 1000 + i, &fl, i, &cr);
        pu_parity(&r, "--stream", s, p, NULL);
        pu_expect_report(&r, (struct pu_want){300, 250, 250, 50, 0, 0, 0, 0, 0});
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 1);
    }
    pu_flines_free(&fl);
    pu_pres_free(&r);
}

/* ---- several producers ---------------------------------------------------------------------- */

static void parity_order_any_interleaved_producers(void **state)
{
    struct fx_parity *f = *state;
    char pa[300], pb[300], aa[PATH_MAX], ab[PATH_MAX];
    pu_path_in(f, "a.log", pa, sizeof(pa));
    pu_path_in(f, "b.log", pb, sizeof(pb));
    pu_abs_of(pa, aa, sizeof(aa));
    pu_abs_of(pb, ab, sizeof(ab));
    pu_write_lines(pa, 0, 300);
    pu_write_lines(pb, 5000, 200);
    struct pu_flines fa, fb;
    pu_flines_load(pa, &fa);
    pu_flines_load(pb, &fb);
    struct pu_pres r = {0};
    for (int m = 0; m < 4; m++) {
        int prov = !(m & 1);
        struct pu_craft ca = {prov, (m & 2) != 0, 0, aa}, cb = {prov, (m & 2) != 0, 0, ab};
        char s[32], s2[32];
        snprintf(s, sizeof(s), "il%d", m);
        snprintf(s2, sizeof(s2), "ilx%d", m);
        uint64_t ms = 1000;
        for (size_t i = 0; i < 300; i++) {
            pu_xadd_flines(f->c, s, ms, &fa, i, &ca);
            if (i != 77)
                pu_xadd_flines(f->c, s2, ms, &fa, i, &ca);
            ms++;
            if (i < 200) { /* b's lines between a's */
                pu_xadd_flines(f->c, s, ms, &fb, i, &cb);
                pu_xadd_flines(f->c, s2, ms, &fb, i, &cb);
                ms++;
            }
        }
        const char *x = "web|2025-06-18T11:00:00Z|login|extra";
        struct pu_craft bare = {0, (m & 2) != 0, 0, NULL};
        pu_xadd_line(f->c, s2, ms++, 0, x, strlen(x), 0, &bare);

        pu_parity(&r, "--stream", s, "--order", "any", pa, pb, NULL);
        pu_expect_report(&r, (struct pu_want){500, 500, 500, 0, 0, 0, 0, 0, 0});
        pu_parity(&r, "--stream", s2, "--order", "any", pa, pb, NULL);
        pu_expect_report(&r, (struct pu_want){500, 500, 499, 1, 1, 0, 0, 0, 0});
        assert_string_equal(pu_ex_str(pu_example(&r, 0), "file"), pa);
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 78);
        if (prov) {
            /* With provenance, order is per src: interleaving is no difference. */
            pu_parity(&r, "--stream", s, pa, pb, NULL);
            pu_expect_report(&r, (struct pu_want){500, 500, 500, 0, 0, 0, 0, 0, 0});
            pu_parity(&r, "--stream", s2, pa, pb, NULL);
            pu_expect_report(&r, (struct pu_want){500, 500, 499, 1, 1, 0, 0, 0, 0});
        } else {
            /* Without it, one sequence a.log then b.log: strict says different. */
            pu_parity(&r, "--stream", s, pa, pb, NULL);
            assert_int_equal(r.rc, 1);
            assert_true(pu_pnum(&r, "matched") < 500);
        }
    }
    pu_flines_free(&fa);
    pu_flines_free(&fb);
    pu_pres_free(&r);
}

static void parity_src_filter(void **state)
{
    struct fx_parity *f = *state;
    char pa[300], pb[300], aa[PATH_MAX];
    pu_path_in(f, "a.log", pa, sizeof(pa));
    pu_path_in(f, "b.log", pb, sizeof(pb));
    pu_abs_of(pa, aa, sizeof(aa));
    pu_write_lines(pa, 0, 300);
    pu_write_lines(pb, 1000, 100);
    pu_import("sf", NULL, NULL, pa, pb, NULL);
    struct pu_pres r = {0};
    pu_parity(&r, "--stream", "sf", "--src", aa, pa, NULL);
    pu_expect_report(&r, (struct pu_want){300, 300, 300, 0, 0, 0, 0, 0, 0});
    /* Without the filter b's entries have no line among the FILEs. */
    pu_parity(&r, "--stream", "sf", pa, NULL);
    pu_expect_report(&r, (struct pu_want){300, 400, 300, 0, 100, 0, 0, 0, 0});
    pu_parity(&r, "--stream", "sf", pa, pb, NULL);
    pu_expect_report(&r, (struct pu_want){400, 400, 400, 0, 0, 0, 0, 0, 0});
    pu_pres_free(&r);
}

/* ---- the ID window -----------------------------------------------------------------------------
 */

static void parity_from_to_window(void **state)
{
    struct fx_parity *f = *state;
    char p[300];
    pu_path_in(f, "app.log", p, sizeof(p));
    pu_write_lines(p, 0, 1000);
    struct pu_pres r = {0};
    for (size_t m = 0; m < 4; m++) {
        char s[32];
        snprintf(s, sizeof(s), "ft%zu", m);
        pu_import(s, pu_modes[m].prov, pu_modes[m].enc, p, NULL);
        struct pu_ids ids;
        pu_ids_load(f->c, s, &ids);
        pu_parity(&r, "--stream", s, "--from", ids.id[100], "--to", ids.id[199], p, NULL);
        pu_expect_report(&r, (struct pu_want){100, 100, 100, 0, 0, 0, 0, 0, 0});
        if (m == 0 || m == 3) { /* the other forms, in two of the four modes */
            pu_parity(&r, "--stream", s, "--order", "any", "--from", ids.id[100], "--to",
                      ids.id[199], p, NULL);
            pu_expect_report(&r, (struct pu_want){100, 100, 100, 0, 0, 0, 0, 0, 0});
            /* the window's bounds as - and + compare everything */
            pu_parity(&r, "--stream", s, "--from", "-", "--to", "+", p, NULL);
            pu_expect_report(&r, (struct pu_want){1000, 1000, 1000, 0, 0, 0, 0, 0, 0});
        }
        pu_xdel(f->c, s, ids.id[150]);
        pu_parity(&r, "--stream", s, "--from", ids.id[100], "--to", ids.id[199], p, NULL);
        pu_expect_report(&r, (struct pu_want){100, 99, 99, 1, 0, 0, 0, 0, 0});
        assert_int_equal(pu_ex_num(pu_example(&r, 0), "line"), 151);
        pu_ids_free(&ids);
    }
    pu_pres_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parity_equal_after_import, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_xdel_is_one_missing, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_xadd_is_extra, fx_parity_setup, fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_changed_entry_is_one_mismatched, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_swapped_entries_are_one_out_of_order,
                                        fx_parity_setup, fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_trimmed_head_is_not_missing, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_trim_xdel_extra_together, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_missing_head_without_trim_is_missing,
                                        fx_parity_setup, fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_order_any_interleaved_producers, fx_parity_setup,
                                        fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_src_filter, fx_parity_setup, fx_parity_teardown),
        cmocka_unit_test_setup_teardown(parity_from_to_window, fx_parity_setup, fx_parity_teardown),
    };
    return cmocka_run_group_tests(tests, fx_parity_group_setup, fx_parity_group_teardown);
}
