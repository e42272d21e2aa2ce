/*
 * test_import_crash.c - `logbridge import` exactly once across kill -9
 * (DESIGN.md section 4.1): a file of >= 200k lines with ~1 % bad lines of
 * every reason, blank lines and CRLF endings is imported while logbridge is
 * killed with SIGKILL at seeded random moments (>= 20 kills), then finished.
 * After every kill the checkpoint must stand at a line boundary that the
 * stream and the DLQ match exactly; at the end the stream holds every valid
 * line once, in order, with its fields and src/off, and the DLQ every bad
 * line once with src/off/line/reason/raw/raw_len.
 *
 * The seed is printed; LB_TEST_SEED=N repeats a run, LB_TEST_SCALE=N makes
 * the file and the number of kills N times larger.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fx_import.h"
#include "import_util.h"
#include "lbtest.h"

struct crash {
    struct fx_import fx; /* first: fx_import_setup_sized */
    char src[PATH_MAX];  /* the src logbridge records for the file given */
};

static int crash_setup(void **state)
{
    return fx_import_setup_sized(state, sizeof(struct crash), 0, NULL);
}

struct crash_run {
    const char *stream, *dlq, *ckpt;
    const char *file; /* the path given to logbridge */
    int kills;        /* kills wanted */
    int id_ts;
    const char *max_line;
};

static void crash_args(struct iu_args *a, const struct crash *t, const struct crash_run *cr,
                       const char *batch)
{
    iu_args_init(a);
    iu_args_add(a, "import", "--redis", t->fx.r.url, "--stream", cr->stream, "--batch", batch,
                "--max-line", cr->max_line, "--no-progress", "--summary", "json", NULL);
    if (cr->id_ts)
        iu_args_add(a, "--id", "ts", NULL);
    iu_args_add(a, cr->file, NULL);
}

/* Poll the checkpoint until it passes target or the child ends. Returns 1
 * when the child ended (code set). */
static int crash_wait_progress(struct crash *t, const struct crash_run *cr, pid_t pid,
                               uint64_t target, int *code)
{
    int64_t deadline = lbt_now_ms() + 120000;
    for (;;) {
        if (iu_try_wait(pid, code))
            return 1;
        struct lb_ckpt ck;
        if (iu_ckpt(t->fx.c, cr->ckpt, t->src, &ck) == 1 && ck.off >= target)
            return 0;
        if (lbt_now_ms() > deadline)
            return 0;
        lbt_sleep_ms(1);
    }
}

/* Kill logbridge at random moments until cr->kills kills landed mid-import;
 * a pass that finishes first is verified and started again from scratch. */
static void crash_rounds(struct crash *t, const struct crash_run *cr)
{
    static const char *const batches[] = {"100", "1000", "1000", "5000", "250"};
    char why[2048];
    int kills = 0, rounds = 0, passes = 1;
    size_t at_line = 0;
    while (kills < cr->kills) {
        rounds++;
        assert_true(rounds < cr->kills * 6 + 20);
        const char *batch = batches[iu_below(&t->fx.rng, 5)];
        struct iu_args a;
        crash_args(&a, t, cr, batch);
        pid_t pid = fx_import_spawn(&t->fx, a.v, t->fx.log);
        assert_true(pid > 0);
        int code = -1, ended = 0;
        int mode = (int)iu_below(&t->fx.rng, 6);
        uint64_t cur = at_line < t->fx.f.n ? t->fx.f.lines[at_line].off : t->fx.f.len;
        if (mode == 0) {
            /* anywhere in the first moments: start-up, first HGET, first batch */
            lbt_sleep_ms((int)iu_below(&t->fx.rng, 40));
        } else {
            uint64_t left = t->fx.f.len - cur;
            uint64_t step = left / (uint64_t)(cr->kills - kills + 1);
            uint64_t target = cur + 1 + iu_below(&t->fx.rng, 2 * step + 1);
            ended = crash_wait_progress(t, cr, pid, target, &code);
            if (!ended) {
                /* land anywhere inside the next batch, not just after a commit */
                int d = (int)iu_below(&t->fx.rng, 5);
                if (d > 0)
                    lbt_sleep_ms(d);
            }
        }
        if (!ended) {
            kill(pid, SIGKILL);
            code = lbt_wait(pid);
        }
        /* what it had sent before it died may still be running in Redis */
        assert_int_equal(iu_wait_clients(t->fx.c, 1, 10000), 1);
        if (code != 0 && code != 128 + SIGKILL) {
            fx_import_dump_log(&t->fx);
            fail_msg("round %d: logbridge exited %d", rounds, code);
        }
        if (iu_check_prefix(t->fx.c, &t->fx.f, cr->stream, cr->dlq, cr->ckpt, t->src, &at_line, why,
                            sizeof(why)) != 0) {
            fx_import_dump_log(&t->fx);
            fail_msg("round %d (batch %s, %s): %s", rounds, batch,
                     code == 0 ? "finished" : "after kill -9", why);
        }
        if (code == 128 + SIGKILL) {
            kills++;
            printf("  kill %2d: batch %-4s checkpoint at line %zu of %zu\n", kills, batch, at_line,
                   t->fx.f.n);
        } else {
            /* It finished before the kill: check it, and start a new pass. */
            struct iu_expect x = {cr->stream, cr->dlq, t->src,    1, 0, NULL,
                                  cr->id_ts,  0,       t->fx.f.n, 0, 0};
            if (iu_verify(t->fx.c, &t->fx.f, &x, why, sizeof(why)) != 0)
                fail_msg("pass %d finished: %s", passes, why);
            assert_int_equal(iu_cmd(t->fx.c, "FLUSHALL", NULL), 0);
            at_line = 0;
            passes++;
            printf("  pass %d finished before the kill; starting pass %d\n", passes - 1, passes);
        }
        fflush(stdout);
    }
    /* Finish, then check everything. */
    uint64_t resumed = at_line < t->fx.f.n ? t->fx.f.lines[at_line].off : t->fx.f.len;
    struct iu_args a;
    crash_args(&a, t, cr, "1000");
    static char out[65536], err[65536];
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("final run exited %d: %s", rc, err);
    cJSON *sum = iu_summary(out);
    assert_non_null(sum);
    size_t v0, b0, k0, v1, b1, k1;
    iu_fix_counts(&t->fx.f, at_line, &v0, &b0, &k0);
    iu_fix_counts(&t->fx.f, t->fx.f.n, &v1, &b1, &k1);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)resumed);
    assert_int_equal((long long)iu_jnum(sum, -1, "imported"), (long long)(v1 - v0));
    assert_int_equal((long long)iu_jnum(sum, -1, "bad"), (long long)(b1 - b0));
    assert_int_equal((long long)iu_jnum(sum, -1, "blank"), (long long)(k1 - k0));
    assert_int_equal((long long)iu_jnum(sum, -1, "lines"),
                     (long long)((v1 + b1 + k1) - (v0 + b0 + k0)));
    cJSON_Delete(sum);

    struct iu_expect x = {cr->stream, cr->dlq, t->src, 1, 0, NULL, cr->id_ts, 0, t->fx.f.n, 0, 0};
    if (iu_verify(t->fx.c, &t->fx.f, &x, why, sizeof(why)) != 0)
        fail_msg("after %d kills: %s", kills, why);
    char last[48];
    assert_int_equal(iu_last_id(t->fx.c, cr->stream, last), 0);
    if (iu_check_ckpt(t->fx.c, cr->ckpt, t->src, &t->fx.f, t->fx.f.n, cr->file, last, why,
                      sizeof(why)) != 0)
        fail_msg("%s", why);
    printf("  %d kills in %d rounds, %d pass(es): %zu entries, %zu DLQ entries, all exact\n", kills,
           rounds, passes, v1, b1);
}

/* The main one: 200k lines (x LB_TEST_SCALE), 20 kills (x scale). */
static void import_exactly_once_across_kill9(void **state)
{
    struct crash *t = *state;
    t->fx.rng.s = iu_seed("import_exactly_once_across_kill9");
    struct iu_gen g = {200000L * iu_scale(), 10, 3, 5, 4096, 0};
    iu_fix_gen(&t->fx.f, &g, &t->fx.rng);
    snprintf(t->fx.path, sizeof(t->fx.path), "%s/history.log", t->fx.dir);
    assert_int_equal(iu_fix_write(&t->fx.f, t->fx.path), 0);
    snprintf(t->src, sizeof(t->src), "%s", t->fx.path);
    size_t v, b, k;
    iu_fix_counts(&t->fx.f, t->fx.f.n, &v, &b, &k);
    printf("  %zu lines (%zu valid, %zu bad, %zu blank), %zu bytes\n", t->fx.f.n, v, b, k,
           t->fx.f.len);
    assert_true(t->fx.f.n >= 200000);
    struct crash_run cr = {"history",  "logbridge:dlq:{history}", "logbridge:ckpt:{history}",
                           t->fx.path, 20 * iu_scale(),           0,
                           "4096"};
    crash_rounds(t, &cr);
}

/* The same through zlib: offsets are in decompressed bytes, and each resume
 * decompresses up to the checkpoint. */
static void import_gz_exactly_once_across_kill9(void **state)
{
    struct crash *t = *state;
    t->fx.rng.s = iu_seed("import_gz_exactly_once_across_kill9");
    /* no too-long lines: the main test has them; this one is about zlib */
    struct iu_gen g = {100000L * iu_scale(), 10, 3, 5, 0, 0};
    iu_fix_gen(&t->fx.f, &g, &t->fx.rng);
    snprintf(t->fx.path, sizeof(t->fx.path), "%s/history.log.1.gz", t->fx.dir);
    assert_int_equal(iu_fix_write_gz(&t->fx.f, t->fx.path), 0);
    snprintf(t->src, sizeof(t->src), "%s", t->fx.path);
    struct crash_run cr = {"{gz}:events", "logbridge:dlq:{gz}", "logbridge:ckpt:{gz}",
                           t->fx.path,    8 * iu_scale(),       0,
                           "4096"};
    crash_rounds(t, &cr);
}

/* --id ts: after a kill the IDs continue from the stream's top, never
 * below, and each ID's ms is the line's own time. */
static void import_id_ts_exactly_once_across_kill9(void **state)
{
    struct crash *t = *state;
    t->fx.rng.s = iu_seed("import_id_ts_exactly_once_across_kill9");
    struct iu_gen g = {60000L * iu_scale(), 10, 3, 5, 0, 0};
    iu_fix_gen(&t->fx.f, &g, &t->fx.rng);
    snprintf(t->fx.path, sizeof(t->fx.path), "%s/ts.log", t->fx.dir);
    assert_int_equal(iu_fix_write(&t->fx.f, t->fx.path), 0);
    snprintf(t->src, sizeof(t->src), "%s", t->fx.path);
    struct crash_run cr = {
        "ts", "logbridge:dlq:{ts}", "logbridge:ckpt:{ts}", t->fx.path, 6 * iu_scale(), 1, "4096"};
    crash_rounds(t, &cr);
}

/* The script path (templates and --id ts use it; forced here for a plain
 * stream) across kill -9 too. */
static void import_script_path_exactly_once_across_kill9(void **state)
{
    struct crash *t = *state;
    t->fx.rng.s = iu_seed("import_script_path_exactly_once_across_kill9");
    struct iu_gen g = {60000L * iu_scale(), 10, 3, 5, 0, 0};
    iu_fix_gen(&t->fx.f, &g, &t->fx.rng);
    snprintf(t->fx.path, sizeof(t->fx.path), "%s/script.log", t->fx.dir);
    assert_int_equal(iu_fix_write(&t->fx.f, t->fx.path), 0);
    snprintf(t->src, sizeof(t->src), "%s", t->fx.path);
    struct crash_run cr = {
        "sp", "logbridge:dlq:{sp}", "logbridge:ckpt:{sp}", t->fx.path, 6 * iu_scale(), 0, "4096"};
    setenv("LOGBRIDGE_SINK_MODE", "script", 1);
    crash_rounds(t, &cr);
    unsetenv("LOGBRIDGE_SINK_MODE");
}

/* SIGTERM (an operator's Ctrl-C): logbridge stops by itself at a batch
 * boundary, says so, and does not claim success; the rerun finishes. */
static void import_sigterm_stops_at_a_batch_boundary(void **state)
{
    struct crash *t = *state;
    t->fx.rng.s = iu_seed("import_sigterm_stops_at_a_batch_boundary");
    struct iu_gen g = {100000L * iu_scale(), 10, 3, 5, 0, 0};
    iu_fix_gen(&t->fx.f, &g, &t->fx.rng);
    snprintf(t->fx.path, sizeof(t->fx.path), "%s/term.log", t->fx.dir);
    assert_int_equal(iu_fix_write(&t->fx.f, t->fx.path), 0);
    snprintf(t->src, sizeof(t->src), "%s", t->fx.path);
    struct crash_run cr = {"tm",  "logbridge:dlq:{tm}", "logbridge:ckpt:{tm}", t->fx.path, 1, 0,
                           "4096"};
    int sigs[] = {SIGTERM, SIGINT};
    for (int k = 0; k < 2; k++) {
        struct iu_args a;
        crash_args(&a, t, &cr, "500");
        pid_t pid = fx_import_spawn(&t->fx, a.v, t->fx.log);
        int code = -1;
        uint64_t target = t->fx.f.len / 4 * (uint64_t)(k + 1);
        if (crash_wait_progress(t, &cr, pid, target, &code))
            fail_msg("logbridge ended (%d) before the signal", code);
        kill(pid, sigs[k]);
        code = lbt_wait(pid);
        if (code == 0 || code >= 128) {
            fx_import_dump_log(&t->fx);
            fail_msg("after signal %d logbridge exited %d: want a non-zero exit of its own "
                     "(the import is not finished)",
                     sigs[k], code);
        }
        size_t line;
        char why[1024];
        if (iu_check_prefix(t->fx.c, &t->fx.f, cr.stream, cr.dlq, cr.ckpt, t->src, &line, why,
                            sizeof(why)) != 0)
            fail_msg("%s", why);
        printf("  signal %d: stopped at line %zu of %zu, exit %d\n", sigs[k], line, t->fx.f.n,
               code);
    }
    size_t n;
    char *log = lbt_read_file(t->fx.log, &n);
    assert_non_null(log);
    assert_true(iu_count_lines_with(log, "interrupted") >= 2);
    free(log);
    struct iu_args a;
    crash_args(&a, t, &cr, "1000");
    static char out[65536], err[65536];
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("rerun exited %d: %s", rc, err);
    struct iu_expect x = {cr.stream, cr.dlq, t->src, 1, 0, NULL, 0, 0, t->fx.f.n, 0, 0};
    char why[2048];
    if (iu_verify(t->fx.c, &t->fx.f, &x, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(import_exactly_once_across_kill9, crash_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_gz_exactly_once_across_kill9, crash_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_id_ts_exactly_once_across_kill9, crash_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_script_path_exactly_once_across_kill9, crash_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_sigterm_stops_at_a_batch_boundary, crash_setup,
                                        fx_import_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
