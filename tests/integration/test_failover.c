/*
 * test_failover.c - a failover that loses acknowledged writes (DESIGN.md
 * section 7, "Failover loses acknowledged writes"), on one redis-server
 * without AOF: `SAVE` at a point T, more batches acknowledged (tail sends
 * them, mirror writes their lines), then kill -9 and a restart in the same
 * dir, which loads dump.rdb: the state at T, a consistent prefix, exactly
 * what a promoted replica that lagged holds (lbt_redis_rollback).
 *
 * - tail_reports_and_counts_a_checkpoint_regression: at warn with the byte
 *   range, and in logbridge_checkpoint_regressions_total.
 * - tail_resends_every_route_after_a_rollback: two files, both idle after
 *   the rollback: the lost lines of both come back.
 * - import_rerun_after_a_rollback_sends_exactly_the_lost_lines.
 *
 * In every case the stream ends with every line exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fx_import.h"
#include "fx_mirror.h"
#include "fx_tail.h"
#include "import_util.h"
#include "lbtest.h"
#include "tail_util.h"

#define WAIT_MS 30000

static long long size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ---- tail alone, and import ------------------------------------------------------------ */

#define CK "logbridge:ckpt:{s}"

static void rollback_tail(struct fx_tail *t)
{
    assert_int_equal(lbt_redis_rollback(&t->r), 0);
    redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
}

static void wait_ckpt(struct fx_tail *t, const char *path)
{
    long long size = size_of(path);
    if (!tu_wait_ckpt(t->c, CK, path, size, WAIT_MS)) {
        tu_dump(t->log, 3000);
        fail_msg("the checkpoint of %s at %lld, the file has %lld bytes", path,
                 tu_ckpt_off(t->c, CK, path, NULL), size);
    }
}

static void tail_reports_and_counts_a_checkpoint_regression(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 1000, 20), 0);
    fx_tail_spawn(t, "--metrics-file", t->metrics, t->path, NULL);
    wait_ckpt(t, t->path);
    long long saved = size_of(t->path);
    assert_int_equal(lbt_redis_save(&t->r), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 1000, 2500, 20), 0);
    wait_ckpt(t, t->path);
    long long acked = size_of(t->path);
    rollback_tail(t);
    assert_int_equal(tu_ckpt_off(t->c, CK, t->path, NULL), saved);
    assert_int_equal(lbt_xlen(t->c, "s"), 1000);
    fx_tail_wait_xlen(t, 2500, WAIT_MS);
    wait_ckpt(t, t->path);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    fx_tail_check_seq(t, t->path, 2500, 1, 3000);
    char want[1200];
    snprintf(want, sizeof(want),
             "logbridge warn: src=%s: the checkpoint in Redis went back from off=%lld to "
             "off=%lld (a failover that lost acknowledged writes?); bytes %lld-%lld are sent "
             "again",
             t->path, acked, saved, saved, acked);
    if (!tu_file_has(t->log, want)) {
        tu_dump(t->log, 3000);
        fail_msg("no warning '%s'", want);
    }
    assert_true(mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", t->path,
                          NULL) == 1);
}

/* Two files, both idle once the rollback has happened: the lines of both
 * that the rollback lost are sent again. */
static void tail_resends_every_route_after_a_rollback(void **state)
{
    struct fx_tail *t = *state;
    char b[600];
    snprintf(b, sizeof(b), "%s/b.log", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 500, 20), 0);
    assert_int_equal(tu_append_lines(b, 0, 0, 500, 20), 0);
    fx_tail_spawn(t, "--metrics-file", t->metrics, t->path, b, NULL);
    wait_ckpt(t, t->path);
    wait_ckpt(t, b);
    assert_int_equal(lbt_redis_save(&t->r), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 500, 1500, 20), 0);
    assert_int_equal(tu_append_lines(b, 0, 500, 1500, 20), 0);
    wait_ckpt(t, t->path);
    wait_ckpt(t, b);
    rollback_tail(t);
    assert_int_equal(lbt_xlen(t->c, "s"), 1000);
    fx_tail_wait_xlen(t, 3000, WAIT_MS);
    wait_ckpt(t, t->path);
    wait_ckpt(t, b);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 3000);
    fx_tail_check_seq(t, t->path, 1500, 1, 3000);
    fx_tail_check_seq(t, b, 1500, 1, 3000);
    assert_true(mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", t->path,
                          NULL) == 1);
    assert_true(mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", b, NULL) ==
                1);
}

static int setup_import(void **state)
{
    return fx_import_setup(state);
}

/* import of a file's first part, SAVE, import of the rest, rollback: the
 * next import sends exactly the lines the rollback lost (the rest), once. */
static void import_rerun_after_a_rollback_sends_exactly_the_lost_lines(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {11};
    struct iu_gen g = {3000, 10, 10, 10, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    size_t half = t->f.n / 2;
    uint64_t cut = iu_fix_line_end(&t->f, half - 1);
    assert_int_equal(lbt_write_file(t->path, t->f.buf, cut), 0);
    fx_import_expect_rc(t, FX_IMPORT_RUN(t, "--stream", "im", "--summary", "json", t->path), 0);
    assert_int_equal(lbt_redis_save(&t->r), 0);
    fx_import_write_fix(t);
    fx_import_expect_rc(t, FX_IMPORT_RUN(t, "--stream", "im", "--summary", "json", t->path), 0);
    fx_import_check_summary(t, half, t->f.n, 0);
    assert_int_equal(lbt_redis_rollback(&t->r), 0);
    redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
    fx_import_verify(t, "im", "logbridge:dlq:{im}", t->path, 0, half);
    fx_import_expect_rc(t, FX_IMPORT_RUN(t, "--stream", "im", "--summary", "json", t->path), 0);
    fx_import_check_summary(t, half, t->f.n, 0);
    fx_import_verify(t, "im", "logbridge:dlq:{im}", t->path, 0, t->f.n);
    fx_import_check_ckpt(t, "logbridge:ckpt:{im}", t->path, t->f.n, t->path, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_reports_and_counts_a_checkpoint_regression,
                                        fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_resends_every_route_after_a_rollback, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(import_rerun_after_a_rollback_sends_exactly_the_lost_lines,
                                        setup_import, fx_import_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
