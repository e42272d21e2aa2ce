/*
 * test_import_resume.c - `logbridge import` run again over what it read,
 * against a real redis-server: idempotent reruns, blank lines advancing the
 * checkpoint, the partial last line held back (and taken by --final and from
 * stdin), replaced or rewritten files (checkpoints that must not be trusted)
 * read from the start.
 *
 * One redis-server serves the group; every test starts from FLUSHALL and
 * counts entries exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fx_import.h"
#include "import_util.h"
#include "lbtest.h"

#define T0 INT64_C(1750240800000) /* 2025-06-18T10:00:00Z */

/* ---- reruns, partial lines, trust -------------------------------------------------- */

static void import_rerun_writes_nothing(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {5};
    struct iu_gen g = {5000, 10, 10, 10, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN); /* ends with blank lines */
    iu_fix_add(&t->f, "", 0, "\r\n", IU_BLANK, NULL, INT64_MIN);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "re", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, t->f.n, 0);
    cJSON *sum = iu_summary(t->out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 0);
    cJSON_Delete(sum);
    long long calls = iu_cmd_calls(t->c, "evalsha");
    long long xlen = lbt_xlen(t->c, "re"), dlen = lbt_xlen(t->c, "logbridge:dlq:{re}");
    struct lb_ckpt before, after;
    assert_int_equal(iu_ckpt(t->c, "logbridge:ckpt:{re}", t->path, &before), 1);

    rc = FX_IMPORT_RUN(t, "--stream", "re", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    sum = iu_summary(t->out);
    assert_non_null(sum);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    assert_int_equal((long long)iu_jnum(sum, -1, "lines"), 0);
    assert_int_equal((long long)iu_jnum(sum, -1, "imported"), 0);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)t->f.len);
    assert_int_equal((long long)iu_jnum(sum, 0, "bytes"), 0);
    cJSON_Delete(sum);
    assert_int_equal(iu_cmd_calls(t->c, "evalsha"), calls);
    assert_int_equal(lbt_xlen(t->c, "re"), xlen);
    assert_int_equal(lbt_xlen(t->c, "logbridge:dlq:{re}"), dlen);
    assert_int_equal(iu_ckpt(t->c, "logbridge:ckpt:{re}", t->path, &after), 1);
    assert_memory_equal(&before, &after, sizeof(before));
    fx_import_verify(t, "re", "logbridge:dlq:{re}", t->path, 0, t->f.n);
}

static void import_blank_lines_advance_the_checkpoint(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 50; i++)
        iu_fix_add(&t->f, "", 0, i % 2 ? "\n" : "\r\n", IU_BLANK, NULL, INT64_MIN);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "bl", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, t->f.n, 0);
    fx_import_check_ckpt(t, "logbridge:ckpt:{bl}", t->path, t->f.n, t->path, "");
    assert_int_equal(iu_dbsize(t->c), 1); /* only the checkpoint */
    rc = FX_IMPORT_RUN(t, "--stream", "bl", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    cJSON *sum = iu_summary(t->out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    cJSON_Delete(sum);
}

static void import_partial_last_line_is_held_back(void **state)
{
    struct fx_import *t = *state;
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_valid(&t->f, "web", "1750240801", T0 + 1000, "t", "two");
    fx_import_write_fix(t);
    const char part[] = "web|1750240802|t|three, still being written";
    assert_int_equal(lbt_append_file(t->path, part, sizeof(part) - 1), 0);
    int rc = FX_IMPORT_RUN(t, "--stream", "pl", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, 2, 1);
    if (iu_count_lines_with(t->err, "no newline") < 1)
        fail_msg("no warning about the partial line: %s", t->err);
    fx_import_check_ckpt(t, "logbridge:ckpt:{pl}", t->path, 2, t->path, NULL);
    fx_import_verify(t, "pl", "logbridge:dlq:{pl}", t->path, 0, 2);

    /* the writer finishes the line: it is imported once, whole */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_valid(&t->f, "web", "1750240801", T0 + 1000, "t", "two");
    iu_fix_valid(&t->f, "web", "1750240802", T0 + 2000, "t",
                 "three, still being written, and done");
    iu_fix_valid(&t->f, "web", "1750240803", T0 + 3000, "t", "four");
    const char rest[] = ", and done\nweb|1750240803|t|four\n";
    assert_int_equal(lbt_append_file(t->path, rest, sizeof(rest) - 1), 0);
    rc = FX_IMPORT_RUN(t, "--stream", "pl", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 2, 4, 0);
    fx_import_verify(t, "pl", "logbridge:dlq:{pl}", t->path, 0, 4);
    fx_import_check_ckpt(t, "logbridge:ckpt:{pl}", t->path, 4, t->path, NULL);
}

static void import_final_takes_the_partial_line(void **state)
{
    struct fx_import *t = *state;
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    const char lastl[] = "web|1750240801|t|last, no newline";
    iu_fix_add(&t->f, lastl, sizeof(lastl) - 1, "", IU_VALID, NULL, T0 + 1000);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "fi", "--final", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, 2, 0);
    fx_import_verify(t, "fi", "logbridge:dlq:{fi}", t->path, 0, 2);
    fx_import_check_ckpt(t, "logbridge:ckpt:{fi}", t->path, 2, t->path, NULL);
    rc = FX_IMPORT_RUN(t, "--stream", "fi", "--final", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    cJSON *sum = iu_summary(t->out);
    assert_int_equal(iu_jbool(sum, 0, "skipped_already_imported"), 1);
    cJSON_Delete(sum);
    assert_int_equal(lbt_xlen(t->c, "fi"), 2);

    /* a bad partial line goes to the DLQ like any other */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_add(&t->f, "broken tail", 11, "", IU_BAD, "fields", INT64_MIN);
    snprintf(t->path, sizeof(t->path), "%s/b.log", t->dir);
    fx_import_write_fix(t);
    rc = FX_IMPORT_RUN(t, "--stream", "fb", "--final", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "fb", "logbridge:dlq:{fb}", t->path, 0, 2);
}

static void import_stdin_takes_the_partial_line(void **state)
{
    struct fx_import *t = *state;
    iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "one");
    iu_fix_bad(&t->f, "bad one", "fields");
    iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
    const char lastl[] = "web|1750240801|t|no newline";
    iu_fix_add(&t->f, lastl, sizeof(lastl) - 1, "", IU_VALID, NULL, T0 + 1000);
    int rc = fx_import_run(t, t->f.buf, t->f.len, "--stream", "in", "--summary", "json", "-",
                           (const char *)NULL);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, t->f.n, 0);
    fx_import_verify(t, "in", "logbridge:dlq:{in}", "stdin", 0, t->f.n);
    /* --name names stdin too */
    rc = fx_import_run(t, t->f.buf, t->f.len, "--stream", "in2", "--name", "legacy-app", "-",
                       (const char *)NULL);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "in2", "logbridge:dlq:{in2}", "legacy-app", 0, t->f.n);
}

static void import_replaced_file_is_read_from_the_start(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 40; i++)
        iu_fix_valid(&t->f, "old", "1750240800", T0, "t", "the old file's line");
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "rp", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "rp", "logbridge:dlq:{rp}", t->path, 0, t->f.n);

    /* a new file renamed over it: another inode, and here even a longer one
     * with the same first bytes */
    struct iu_fix old = t->f;
    iu_fix_init(&t->f);
    for (int i = 0; i < 40; i++)
        iu_fix_valid(&t->f, "old", "1750240800", T0, "t", "the old file's line");
    for (int i = 0; i < 30; i++)
        iu_fix_valid(&t->f, "new", "1750240900", T0 + 100000, "t", "the new file's line");
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s/app.log.new", t->dir);
    assert_int_equal(iu_fix_write(&t->f, tmp), 0);
    assert_int_equal(rename(tmp, t->path), 0);
    rc = FX_IMPORT_RUN(t, "--stream", "rp", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    if (iu_count_lines_with(t->err, "not trusted") < 1)
        fail_msg("no warning that the checkpoint is not trusted: %s", t->err);
    fx_import_check_summary(t, 0, t->f.n, 0);
    struct iu_expect x = {"rp", "logbridge:dlq:{rp}", t->path, 1, 0, NULL, 0, 0, t->f.n, 40, 0};
    fx_import_verify_x(t, &x);
    iu_fix_free(&old);
}

static void import_rewritten_file_is_read_from_the_start(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 30; i++)
        iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "first version");
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "rw", t->path);
    fx_import_expect_rc(t, rc, 0);
    struct stat st1, st2;
    assert_int_equal(stat(t->path, &st1), 0);
    /* rewritten in place (same inode), longer, other first bytes */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    for (int i = 0; i < 60; i++)
        iu_fix_valid(&t->f, "api", "1750240900", T0 + 100000, "t", "second version");
    fx_import_write_fix(t);
    assert_int_equal(stat(t->path, &st2), 0);
    assert_true(st1.st_ino == st2.st_ino);
    rc = FX_IMPORT_RUN(t, "--stream", "rw", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    if (iu_count_lines_with(t->err, "not trusted") < 1)
        fail_msg("no warning that the checkpoint is not trusted: %s", t->err);
    fx_import_check_summary(t, 0, t->f.n, 0);
    struct iu_expect x = {"rw", "logbridge:dlq:{rw}", t->path, 1, 0, NULL, 0, 0, t->f.n, 30, 0};
    fx_import_verify_x(t, &x);

    /* truncated in place below the checkpoint: also from the start */
    iu_fix_free(&t->f);
    iu_fix_init(&t->f);
    for (int i = 0; i < 5; i++)
        iu_fix_valid(&t->f, "api", "1750240900", T0 + 100000, "t", "second version");
    fx_import_write_fix(t);
    rc = FX_IMPORT_RUN(t, "--stream", "rw", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    if (iu_count_lines_with(t->err, "not trusted") < 1)
        fail_msg("no warning that the checkpoint is not trusted: %s", t->err);
    assert_int_equal(lbt_xlen(t->c, "rw"), 95);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_import_setup_shared, fx_import_teardown)
        T(import_rerun_writes_nothing),
        T(import_blank_lines_advance_the_checkpoint),
        T(import_partial_last_line_is_held_back),
        T(import_final_takes_the_partial_line),
        T(import_stdin_takes_the_partial_line),
        T(import_replaced_file_is_read_from_the_start),
        T(import_rewritten_file_is_read_from_the_start),
#undef T
    };
    return cmocka_run_group_tests(tests, fx_import_group_setup, fx_import_group_teardown);
}
