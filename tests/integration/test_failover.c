/*
 * test_failover.c - a failover that loses acknowledged writes (DESIGN.md
 * section 7, "Failover loses acknowledged writes"), on one redis-server
 * without AOF: `SAVE` at a point T, more batches acknowledged (tail sends
 * them, mirror writes their lines), then kill -9 and a restart in the same
 * dir, which loads dump.rdb: the state at T, a consistent prefix, exactly
 * what a promoted replica that lagged holds (lbt_redis_rollback).
 *
 * - mirror_skips_what_tail_resends_after_a_rollback: tail and mirror keep
 *   running through the rollback with a writer appending to tail's file;
 *   tail sends the lost lines again (new IDs); mirror writes none of them
 *   twice (counted as resent, exactly the lost ones it had written) and
 *   misses nothing.
 * - mirror_down_during_a_rollback_skips_what_tail_resends_later: mirror is
 *   stopped across the rollback (its checkpoint went back too) and started
 *   again before tail resends.
 * - mirror_exactly_once_across_a_rollback_and_kill9: the rollback at a
 *   seeded random point while the writer runs, then mirror killed with -9 at
 *   seeded random moments while tail resends.
 * - mirror_template_skips_what_tail_resends_after_a_rollback and
 *   mirror_template_exactly_once_across_a_rollback_and_kill9: the same two
 *   over a template (four type streams merged back into one file).
 * - mirror_keeps_another_writers_lines_across_rollbacks: another writer
 *   appends to mirror's file all the time, through two rollbacks (mirror
 *   running through one, stopped through the other).
 * - mirror_notices_a_lost_entry_whose_id_came_back_with_other_fields: the
 *   lost entries come back under their old IDs, but the ID mirror read last
 *   now names another entry.
 * - mirror_awaited_lines_survive_a_kill9: the lines awaiting their entries
 *   are in mirror's checkpoint ("await").
 * - tail_reports_and_counts_a_checkpoint_regression: at warn with the byte
 *   range, and in logbridge_checkpoint_regressions_total.
 * - tail_resends_every_route_after_a_rollback: two files, both idle after
 *   the rollback: the lost lines of both come back.
 * - import_rerun_after_a_rollback_sends_exactly_the_lost_lines, and
 *   import_counts_a_checkpoint_regression_while_it_runs (at warn with the
 *   byte range, counted in its --metrics-file).
 *
 * In every case the stream ends with every line exactly once, and mirror's
 * file equals tail's input byte for byte (its lines are the same bytes).
 * LB_TEST_SEED=N repeats a run; LB_TEST_FILTER=PATTERN runs some tests.
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

/* The warning of a checkpoint regression of src in a log (text format):
 * "the checkpoint in Redis went back ...; bytes B0-B1 are sent again src=SRC
 * off=TO was_off=FROM". 0, or -1 when there is none. */
static int regression_warning(const char *logpath, const char *src, unsigned long long *from,
                              unsigned long long *to, unsigned long long *b0,
                              unsigned long long *b1)
{
    size_t n = 0;
    char *log = lbt_read_file(logpath, &n);
    if (log == NULL)
        return -1;
    char tail[1200];
    snprintf(tail, sizeof(tail), " are sent again src=%s off=", src);
    int rc = -1;
    for (const char *w = log;
         rc != 0 && (w = strstr(w, " warn: the checkpoint in Redis went back")); w++) {
        const char *b = strstr(w, "bytes ");
        const char *e = strchr(w, '\n');
        const char *t = strstr(w, tail);
        if (b == NULL || t == NULL || (e != NULL && t > e))
            continue;
        if (sscanf(b, "bytes %llu-%llu", b0, b1) == 2 &&
            sscanf(t + strlen(tail), "%llu was_off=%llu", to, from) == 2)
            rc = 0;
    }
    free(log);
    return rc;
}
#include "tail_util.h"

#define STREAM "ev"
#define TAIL_CK "logbridge:ckpt:{ev}"
#define TEMPLATE "{ev}:%{type}" /* the same keys: its tag is ev too */
#define WAIT_MS 30000

/* ---- tail and mirror together ------------------------------------------------------ */

struct fo {
    struct fx_mirror m; /* first: fx_mirror_setup_sized */
    char input[400];    /* the legacy file tail follows */
    char tail_log[400], tail_metrics[400];
    char mirror_metrics[400];
    pid_t tail;
    pid_t input_writer; /* when m.writer is another writer of mirror's file */
    long total;         /* lines the writer appends */
    int per_ms;         /* pace: lines per ms */
    uint64_t seed;
    const char *stream; /* STREAM, or TEMPLATE (one stream per type) */
    int types;          /* with TEMPLATE: line i has type g(i % types) */
};

static int setup(void **state)
{
    if (fx_mirror_setup_sized(state, sizeof(struct fo), 0, STREAM, "mirror.log") != 0)
        return -1;
    struct fo *t = *state;
    snprintf(t->input, sizeof(t->input), "%s/app.log", t->m.dir);
    snprintf(t->tail_log, sizeof(t->tail_log), "%s/tail.out", t->m.dir);
    snprintf(t->tail_metrics, sizeof(t->tail_metrics), "%s/tail.prom", t->m.dir);
    snprintf(t->mirror_metrics, sizeof(t->mirror_metrics), "%s/mirror.prom", t->m.dir);
    t->stream = STREAM;
    return 0;
}

static int teardown(void **state)
{
    struct fo *t = *state;
    tu_dump(t->m.log, 9000);
    if (t != NULL && t->tail > 0) {
        kill(t->tail, SIGKILL);
        lbt_wait(t->tail);
    }
    if (t != NULL && t->input_writer > 0) {
        kill(t->input_writer, SIGKILL);
        lbt_wait(t->input_writer);
    }
    int bad = t != NULL ? tu_log_sane(t->tail_log) | tu_log_sane(t->m.log) : 0;
    return fx_mirror_teardown(state) | bad;
}

/* Lines [0, total) of generation 0, whole lines per write(2), in runs of
 * random length, paced. */
static int writer_main(void *ctx)
{
    struct fo *t = ctx;
    int fd = open(t->input, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return 1;
    uint64_t rng = t->seed ^ 0x9e3779b97f4a7c15ULL;
    char buf[1 << 15];
    size_t n = 0;
    long run = 1 + (long)(tu_rand(&rng) % 20);
    for (long i = 0; i < t->total; i++) {
        n += tu_line(buf + n, sizeof(buf) - n, t->types > 0 ? (int)(i % t->types) : 0, i,
                     (int)(tu_rand(&rng) % 60));
        if (--run == 0 || i + 1 == t->total || n > sizeof(buf) - 512) {
            if (tu_write_all(fd, buf, n) != 0)
                return 2;
            n = 0;
            run = 1 + (long)(tu_rand(&rng) % 20);
        }
        if (i % t->per_ms == 0)
            lbt_sleep_ms(1);
    }
    close(fd);
    return 0;
}

static void start_tail(struct fo *t)
{
    const char *args[] = {"tail",          "--redis", t->m.r.url, "--stream",
                          t->stream,       "--batch", "200",      "--metrics-file",
                          t->tail_metrics, t->input,  NULL};
    t->tail = lbt_spawn(args, t->tail_log);
    assert_true(t->tail > 0);
}

static void start_mirror(struct fo *t)
{
    mu_spawn(&t->m, "--stream", t->stream, "--file", t->m.file, "--batch", "100", "--metrics-file",
             t->mirror_metrics, NULL);
}

static int stop(pid_t *pid, int sig)
{
    kill(*pid, sig);
    int rc = lbt_wait(*pid);
    *pid = 0;
    return rc;
}

struct lines_wait {
    const char *path;
    long n;
};

static int has_lines(void *p)
{
    struct lines_wait *w = p;
    return lbt_count_lines(w->path) >= w->n;
}

static void wait_input_lines(struct fo *t, long n)
{
    struct lines_wait w = {t->input, n};
    if (!lbt_wait_for(has_lines, &w, WAIT_MS))
        fail_msg("the writer did not reach %ld lines (%ld)", n, lbt_count_lines(t->input));
}

/* Wait until tail has committed all of its input and mirror has written
 * all of it (its file is as long as the input). */
static void wait_caught_up(struct fo *t)
{
    long long size = lbt_file_size(t->input);
    if (!tu_wait_ckpt(t->m.c, TAIL_CK, t->input, size, WAIT_MS)) {
        tu_dump(t->tail_log, 3000);
        fail_msg("tail's checkpoint at %lld, its input has %lld bytes",
                 tu_ckpt_off(t->m.c, TAIL_CK, t->input, NULL), size);
    }
    struct mu_file_wait w = {t->m.file, (size_t)size};
    if (!lbt_wait_for(mu_file_has_size, &w, WAIT_MS)) {
        tu_dump(t->m.log, 3000);
        fail_msg("mirror's file has %lld bytes, the input %lld", lbt_file_size(t->m.file), size);
    }
}

/* Pause the writer once the input holds n lines; wait for tail and mirror. */
static void pause_at(struct fo *t, long n)
{
    wait_input_lines(t, n);
    kill(t->m.writer, SIGSTOP);
    wait_caught_up(t);
}

static void rollback(struct fo *t)
{
    assert_int_equal(lbt_redis_rollback(&t->m.r), 0);
    redisFree(t->m.c);
    t->m.c = lbt_connect(&t->m.r);
    assert_non_null(t->m.c);
}

static void finish_writer(struct fo *t)
{
    kill(t->m.writer, SIGCONT);
    assert_int_equal(lbt_wait(t->m.writer), 0);
    t->m.writer = 0;
}

/* Entries in the stream, or in all the type streams of TEMPLATE. */
static long long entries(const struct fo *t)
{
    if (t->types == 0)
        return lbt_xlen(t->m.c, STREAM);
    long long n = 0;
    for (int g = 0; g < t->types; g++) {
        char key[32];
        snprintf(key, sizeof(key), "{ev}:g%d", g);
        n += lbt_xlen(t->m.c, key);
    }
    return n;
}

/* Every line of the input is in the stream exactly once, in order, and
 * mirror's file equals the input. Stops mirror (SIGTERM: its metrics). With
 * TEMPLATE: as many entries as lines over the type streams, and the file
 * (merged back from them) equals the input. */
static void check_end(struct fo *t)
{
    wait_caught_up(t);
    assert_int_equal(stop(&t->m.pid, SIGTERM), 0);
    char why[512];
    if (t->types == 0 &&
        tu_check_seq(t->m.c, STREAM, t->input, t->total, 1, why, sizeof(why)) != 0) {
        tu_dump(t->tail_log, 3000);
        fail_msg("%s", why);
    }
    assert_int_equal(entries(t), t->total);
    size_t n = 0;
    char *want = lbt_read_file(t->input, &n);
    assert_non_null(want);
    if (lbt_file_size(t->m.file) != (long long)n)
        tu_dump(t->m.log, 4000);
    mu_assert_file_equals(t->m.file, want, n);
    free(want);
    if (t->types > 0)
        return; /* the checkpoint's "ids": test_streams */
    char last[64];
    mu_last_id(&t->m, last, sizeof(last));
    mu_assert_ckpt(&t->m, last);
}

static double mirror_outcome(const struct fo *t, const char *outcome)
{
    return mu_metric(t->mirror_metrics, "logbridge_mirror_entries_total", "file", t->m.file,
                     "outcome", outcome, NULL);
}

static double tail_regressions(const struct fo *t)
{
    return mu_metric(t->tail_metrics, "logbridge_checkpoint_regressions_total", "src", t->input,
                     NULL);
}

/* Mirror and tail run through the rollback. Exact: the writer is paused
 * around the save and the kill, so that k entries survive of the m that
 * mirror wrote; tail sends m - k again, mirror skips exactly those. */
static void skips_what_tail_resends(struct fo *t, const char *name)
{
    t->seed = tu_seed(name);
    t->total = 6000;
    t->per_ms = 3;
    start_tail(t);
    start_mirror(t);
    t->m.writer = tu_fork(writer_main, t);
    pause_at(t, 1500);
    assert_int_equal(lbt_redis_save(&t->m.r), 0);
    long long k = entries(t);
    kill(t->m.writer, SIGCONT);
    pause_at(t, 3000);
    long long m = entries(t);
    rollback(t);
    finish_writer(t);
    check_end(t);
    assert_true(mirror_outcome(t, "resent") == (double)(m - k));
    assert_true(mirror_outcome(t, "written") == (double)t->total);
    assert_int_equal(stop(&t->tail, SIGTERM), 0);
    assert_true(tail_regressions(t) == 1);
}

static void mirror_skips_what_tail_resends_after_a_rollback(void **state)
{
    skips_what_tail_resends(*state, "mirror_skips_what_tail_resends_after_a_rollback");
}

/* Mirror stopped across the rollback and started again before tail sends
 * the lost lines again (tail is held with SIGSTOP meanwhile). */
static void mirror_down_during_a_rollback_skips_what_tail_resends_later(void **state)
{
    struct fo *t = *state;
    t->seed = tu_seed("mirror_down_during_a_rollback_skips_what_tail_resends_later");
    t->total = 6000;
    t->per_ms = 3;
    start_tail(t);
    start_mirror(t);
    t->m.writer = tu_fork(writer_main, t);
    pause_at(t, 1500);
    assert_int_equal(lbt_redis_save(&t->m.r), 0);
    long long k = lbt_xlen(t->m.c, STREAM);
    kill(t->m.writer, SIGCONT);
    pause_at(t, 3000);
    long long m = lbt_xlen(t->m.c, STREAM);
    assert_int_equal(stop(&t->m.pid, SIGTERM), 0);
    kill(t->tail, SIGSTOP);
    rollback(t);
    unlink(t->mirror_metrics);
    start_mirror(t);
    if (!lbt_wait_for(lbt_xread_client, t->m.c, WAIT_MS)) {
        tu_dump(t->m.log, 3000);
        fail_msg("mirror did not start reading");
    }
    kill(t->tail, SIGCONT);
    finish_writer(t);
    check_end(t);
    assert_true(mirror_outcome(t, "resent") == (double)(m - k));
    assert_true(mirror_outcome(t, "written") == (double)(t->total - m));
    assert_int_equal(stop(&t->tail, SIGTERM), 0);
    assert_true(tail_regressions(t) == 1);
}

/* The rollback at a random point while the writer runs. tail is held until
 * mirror has noticed the loss, then sends the lost lines again while mirror
 * is killed with -9 at random moments (the awaited lines must survive in its
 * checkpoint). */
static void once_across_a_rollback_and_kill9(struct fo *t, const char *name)
{
    t->seed = tu_seed(name);
    uint64_t rng = t->seed;
    t->total = 8000 * tu_scale();
    t->per_ms = 2;
    start_tail(t);
    start_mirror(t);
    t->m.writer = tu_fork(writer_main, t);
    wait_input_lines(t, 1000 + (long)(tu_rand(&rng) % 1000));
    assert_int_equal(lbt_redis_save(&t->m.r), 0);
    /* mirror writes what is lost: wait until it has gone well past the save */
    long long at_save = lbt_file_size(t->input);
    mu_wait_size(t->m.file, (size_t)at_save + 20000 + tu_rand(&rng) % 40000);
    kill(t->tail, SIGSTOP);
    rollback(t);
    if (!lbt_wait_for(lbt_xread_client, t->m.c, WAIT_MS))
        fail_msg("mirror did not read again after the rollback");
    kill(t->tail, SIGCONT);
    for (int round = 0; round < 3; round++) {
        lbt_sleep_ms((int)(tu_rand(&rng) % 300));
        assert_int_equal(stop(&t->m.pid, SIGKILL), 128 + SIGKILL);
        start_mirror(t);
    }
    finish_writer(t);
    check_end(t);
    assert_int_equal(stop(&t->tail, SIGTERM), 0);
    assert_true(tail_regressions(t) == 1);
}

static void mirror_exactly_once_across_a_rollback_and_kill9(void **state)
{
    once_across_a_rollback_and_kill9(*state, "mirror_exactly_once_across_a_rollback_and_kill9");
}

/* The same over a template (DESIGN.md section 8): tail routes the lines to
 * four type streams, mirror merges them back; the rollback takes entries of
 * every stream back, tail sends them again, and mirror, running through it,
 * writes none of them twice (it notices that a stream lost its last entry
 * handled, goes back to the surviving checkpoint's ID of each stream). */
static void mirror_template_skips_what_tail_resends_after_a_rollback(void **state)
{
    struct fo *t = *state;
    t->stream = TEMPLATE;
    t->types = 4;
    skips_what_tail_resends(t, "mirror_template_skips_what_tail_resends_after_a_rollback");
}

/* Over a template: the rollback at a random point while the writer runs,
 * then mirror killed with -9 at random moments while tail resends. */
static void mirror_template_exactly_once_across_a_rollback_and_kill9(void **state)
{
    struct fo *t = *state;
    t->stream = TEMPLATE;
    t->types = 4;
    once_across_a_rollback_and_kill9(t, "mirror_template_exactly_once_across_a_rollback_and_kill9");
}

static void hold_tail_and_roll_back(struct fo *t)
{
    kill(t->tail, SIGSTOP);
    rollback(t);
}

/* mirror and tail caught up with the input (the mirror's file is longer
 * than the input: another writer appends to it too). */
static void wait_mirror_at_last(struct fo *t)
{
    long long size = lbt_file_size(t->input);
    assert_true(tu_wait_ckpt(t->m.c, TAIL_CK, t->input, size, WAIT_MS));
    struct mu_ck_wait w = {&t->m, ""};
    mu_last_id(&t->m, w.want, sizeof(w.want));
    if (!lbt_wait_for(mu_ckpt_is, &w, WAIT_MS)) {
        tu_dump(t->m.log, 3000);
        fail_msg("mirror's checkpoint did not reach id=%s", w.want);
    }
}

/* Tail has committed lines written after the SAVE that left the input at
 * at_save bytes, and mirror has written them: a rollback to that SAVE then
 * takes back lines both had handled (under a slow run, the writer's pace
 * alone does not promise it). */
static void wait_past_save(struct fo *t, long long at_save)
{
    if (!tu_wait_ckpt(t->m.c, TAIL_CK, t->input, at_save + 4096, WAIT_MS)) {
        tu_dump(t->tail_log, 3000);
        fail_msg("tail did not commit past the save");
    }
    struct mu_ck_wait w = {&t->m, ""};
    mu_last_id(&t->m, w.want, sizeof(w.want));
    if (!lbt_wait_for(mu_ckpt_past, &w, WAIT_MS)) {
        tu_dump(t->m.log, 3000);
        fail_msg("mirror's checkpoint did not reach id=%s", w.want);
    }
}

/* Another writer appends its own lines to the mirror's file all the time:
 * two rollbacks, the first with mirror running (tail held until mirror went
 * back), the second with mirror killed before it and started again before
 * tail resends. Every line of the input and every line of the other writer
 * is in the file exactly once, each in order. */
static void mirror_keeps_another_writers_lines_across_rollbacks(void **state)
{
    struct fo *t = *state;
    t->seed = tu_seed("mirror_keeps_another_writers_lines_across_rollbacks");
    uint64_t rng = t->seed;
    t->total = 8000;
    t->per_ms = 2;
    int rd;
    mu_legacy_start(&t->m, &rd);
    start_tail(t);
    start_mirror(t);
    t->input_writer = tu_fork(writer_main, t);
    wait_input_lines(t, 1000 + (long)(tu_rand(&rng) % 500));
    assert_int_equal(lbt_redis_save(&t->m.r), 0);
    long long at_save = lbt_file_size(t->input);
    wait_input_lines(t, 2500 + (long)(tu_rand(&rng) % 500));
    wait_past_save(t, at_save);
    hold_tail_and_roll_back(t);
    if (!lbt_wait_for(lbt_xread_client, t->m.c, WAIT_MS))
        fail_msg("mirror did not read again after the rollback");
    kill(t->tail, SIGCONT);
    wait_input_lines(t, 4000 + (long)(tu_rand(&rng) % 500));
    assert_int_equal(lbt_redis_save(&t->m.r), 0);
    at_save = lbt_file_size(t->input);
    wait_input_lines(t, 5500 + (long)(tu_rand(&rng) % 500));
    wait_past_save(t, at_save);
    assert_int_equal(stop(&t->m.pid, SIGKILL), 128 + SIGKILL);
    hold_tail_and_roll_back(t);
    start_mirror(t);
    if (!lbt_wait_for(lbt_xread_client, t->m.c, WAIT_MS))
        fail_msg("mirror did not start reading");
    kill(t->tail, SIGCONT);
    assert_int_equal(lbt_wait(t->input_writer), 0);
    t->input_writer = 0;
    wait_mirror_at_last(t);
    long wrote = mu_legacy_stop(&t->m, rd);
    assert_int_equal(stop(&t->m.pid, SIGTERM), 0);
    char why[512];
    if (tu_check_seq(t->m.c, STREAM, t->input, t->total, 1, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    size_t n = 0;
    char *want = lbt_read_file(t->input, &n);
    assert_non_null(want);
    /* mirror is killed once: a write(2) it tore may have a legacy line after it */
    assert_true(mu_assert_own_and_legacy(t->m.file, want, n, wrote) <= 1);
    free(want);
    assert_true(mirror_outcome(t, "resent") > 0);
    assert_int_equal(stop(&t->tail, SIGTERM), 0);
    assert_true(tail_regressions(t) == 2);
}

/* ---- mirror alone, entries added by the test ------------------------------------------------ */

static void spawn_alone(struct fx_mirror *f, const char *metrics)
{
    mu_spawn(f, "--stream", STREAM, "--file", f->file, "--metrics-file", metrics, NULL);
}

/* Wait until the file holds exactly want (it only grows). */
static void wait_file(struct fx_mirror *f, const char *want, size_t wn)
{
    mu_wait_size(f->file, wn);
    mu_assert_file_equals(f->file, want, wn);
}

/* Standard lines [0, n), what mirror has written and recorded. */
static void add_and_wait(struct fx_mirror *f, long from, long n)
{
    mu_add_std(f->c, STREAM, from, n, "/a", 0);
    size_t wn = 0;
    char *want = mu_std_lines(0, from + n, &wn);
    wait_file(f, want, wn);
    free(want);
    struct mu_ck_wait w = {f, ""};
    mu_last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(mu_ckpt_is, &w, WAIT_MS));
}

/* Standard line i at an explicit ID, with the fields mu_add_std gives it. */
static void add_std_at(struct fx_mirror *f, long i, const char *id)
{
    char line[512], parts[4][256], off[32];
    lbt_line(line, sizeof(line), i);
    mu_split_line(line, parts);
    snprintf(off, sizeof(off), "%ld", i * 100);
    const char *names[] = {"role", "timestamp", "type", "data", "src", "off"};
    const char *values[] = {parts[0], parts[1], parts[2], parts[3], "/a", off};
    mu_xadd(f->c, STREAM, id, NULL, 0, 6, names, values);
}

static void roll_back_mirror(struct fx_mirror *f)
{
    assert_int_equal(lbt_redis_rollback(&f->r), 0);
    redisFree(f->c);
    f->c = lbt_connect(&f->r);
    assert_non_null(f->c);
}

/* After the rollback a producer gives the lost entries their old IDs again
 * (as `--id ts` would), except the last one, whose ID goes to another entry:
 * the ID mirror read last is there, but it is not the entry mirror read. */
static void mirror_notices_a_lost_entry_whose_id_came_back_with_other_fields(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[600];
    snprintf(metrics, sizeof(metrics), "%s/mirror.prom", f->dir);
    spawn_alone(f, metrics);
    add_and_wait(f, 0, 100);
    assert_int_equal(lbt_redis_save(&f->r), 0);
    add_and_wait(f, 100, 50);
    struct lbt_entry *e;
    long ne = lbt_xrange_all(f->c, STREAM, &e);
    assert_int_equal(ne, 150);
    kill(f->pid, SIGSTOP);
    roll_back_mirror(f);
    assert_int_equal(lbt_xlen(f->c, STREAM), 100);
    for (long i = 100; i < 149; i++)
        add_std_at(f, i, e[i].id);
    add_std_at(f, 500, e[149].id);
    lbt_entries_free(e, ne);
    kill(f->pid, SIGCONT);
    size_t wn = 0, ln;
    char *want = mu_std_lines(0, 150, &wn);
    char line[512];
    ln = lbt_line(line, sizeof(line), 500);
    want = realloc(want, wn + ln + 100 * 96);
    memcpy(want + wn, line, ln);
    wn += ln;
    wait_file(f, want, wn);
    /* line 149 sent again (a new ID), then new lines */
    mu_add_std(f->c, STREAM, 149, 1, "/a", 0);
    mu_add_std(f->c, STREAM, 150, 50, "/a", 0);
    char *more = mu_std_lines(150, 50, &ln);
    memcpy(want + wn, more, ln);
    wn += ln;
    free(more);
    wait_file(f, want, wn);
    free(want);
    assert_int_equal(stop(&f->pid, SIGTERM), 0);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "resent", NULL) == 1);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written", NULL) == 201);
}

/* The first "await" range of the checkpoint starts at off. */
struct await_wait {
    struct fx_mirror *f;
    long long from; /* -1: any range */
};

static int ckpt_awaits(void *p)
{
    struct await_wait *w = p;
    cJSON *j = mu_ckpt(w->f, NULL);
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "await"), 0);
    int ok = r != NULL && (w->from < 0 || cJSON_GetArrayItem(r, 0)->valuedouble == (double)w->from);
    cJSON_Delete(j);
    return ok;
}

/* Lines awaiting their entries are in the checkpoint: a kill -9 while some
 * are still awaited loses none of them. */
static void mirror_awaited_lines_survive_a_kill9(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[600];
    snprintf(metrics, sizeof(metrics), "%s/mirror.prom", f->dir);
    spawn_alone(f, metrics);
    add_and_wait(f, 0, 100);
    assert_int_equal(lbt_redis_save(&f->r), 0);
    add_and_wait(f, 100, 50);
    roll_back_mirror(f);
    size_t n100, n120, n150;
    free(mu_std_lines(0, 100, &n100));
    free(mu_std_lines(0, 120, &n120));
    free(mu_std_lines(0, 150, &n150));
    struct await_wait w = {f, (long long)n100};
    if (!lbt_wait_for(ckpt_awaits, &w, WAIT_MS)) {
        tu_dump(f->log, 3000);
        fail_msg("no \"await\" in the checkpoint after the rollback");
    }
    mu_add_std(f->c, STREAM, 100, 20, "/a", 0);
    w.from = (long long)n120;
    assert_true(lbt_wait_for(ckpt_awaits, &w, WAIT_MS));
    assert_int_equal(stop(&f->pid, SIGKILL), 128 + SIGKILL);
    cJSON *j = mu_ckpt(f, NULL);
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "await"), 0);
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItem(j, "await")) == 1);
    assert_true(cJSON_GetArrayItem(r, 1)->valuedouble == (double)n150);
    assert_true(cJSON_GetObjectItem(j, "size")->valuedouble == (double)n150);
    cJSON_Delete(j);
    unlink(metrics);
    spawn_alone(f, metrics);
    mu_add_std(f->c, STREAM, 120, 80, "/a", 0);
    size_t wn = 0;
    char *want = mu_std_lines(0, 200, &wn);
    wait_file(f, want, wn);
    free(want);
    char last[64];
    mu_last_id(f, last, sizeof(last));
    struct mu_ck_wait cw = {f, ""};
    snprintf(cw.want, sizeof(cw.want), "%s", last);
    assert_true(lbt_wait_for(mu_ckpt_is, &cw, WAIT_MS));
    assert_int_equal(stop(&f->pid, SIGTERM), 0);
    mu_assert_ckpt(f, last);
    j = mu_ckpt(f, NULL);
    assert_null(cJSON_GetObjectItem(j, "await"));
    cJSON_Delete(j);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "resent", NULL) == 30);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written", NULL) == 50);
}

/* ---- tail alone, and import ------------------------------------------------------------ */

#define CK "logbridge:ckpt:{s}"

/* tail is held (SIGSTOP) through it, so that what survived can be looked
 * at before tail sends anything again: the caller lets it go on (SIGCONT). */
static void rollback_tail(struct fx_tail *t)
{
    kill(t->pid, SIGSTOP);
    assert_int_equal(lbt_redis_rollback(&t->r), 0);
    redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
}

static void wait_ckpt(struct fx_tail *t, const char *path)
{
    long long size = lbt_file_size(path);
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
    long long saved = lbt_file_size(t->path);
    assert_int_equal(lbt_redis_save(&t->r), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 1000, 2500, 20), 0);
    wait_ckpt(t, t->path);
    long long acked = lbt_file_size(t->path);
    rollback_tail(t);
    assert_int_equal(tu_ckpt_off(t->c, CK, t->path, NULL), saved);
    assert_int_equal(lbt_xlen(t->c, "s"), 1000);
    kill(t->pid, SIGCONT);
    fx_tail_wait_xlen(t, 2500, WAIT_MS);
    wait_ckpt(t, t->path);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    fx_tail_check_seq(t, t->path, 2500, 1, 3000);
    /* From where tail last knew it to be: the end of the last batch whose
     * reply it read (the server's kill may take the last reply with it). */
    unsigned long long from, to, b0, b1;
    if (regression_warning(t->log, t->path, &from, &to, &b0, &b1) != 0) {
        tu_dump(t->log, 3000);
        fail_msg("no regression warning for src=%s in %s", t->path, t->log);
    }
    assert_true(from > (unsigned long long)saved && from <= (unsigned long long)acked);
    assert_int_equal(to, saved);
    assert_int_equal(b0, saved);
    assert_int_equal(b1, from);
    assert_true(
        mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", t->path, NULL) == 1);
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
    kill(t->pid, SIGCONT);
    fx_tail_wait_xlen(t, 3000, WAIT_MS);
    wait_ckpt(t, t->path);
    wait_ckpt(t, b);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
    assert_int_equal(lbt_xlen(t->c, "s"), 3000);
    fx_tail_check_seq(t, t->path, 1500, 1, 3000);
    fx_tail_check_seq(t, b, 1500, 1, 3000);
    assert_true(
        mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", t->path, NULL) == 1);
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

struct import_ck_wait {
    struct fx_import *t;
    pid_t pid;
    uint64_t past; /* the checkpoint is past this offset */
    int exited;
};

static int import_ckpt_past(void *p)
{
    struct import_ck_wait *w = p;
    struct lb_ckpt ck;
    int code;
    if (iu_try_wait(w->pid, &code)) {
        w->exited = 1;
        return 1;
    }
    return iu_ckpt(w->t->c, "logbridge:ckpt:{im}", w->t->path, &ck) == 1 && ck.off > w->past;
}

/* Hold the import (SIGSTOP) once its checkpoint is past off; where it is. */
static uint64_t import_hold_past(struct fx_import *t, pid_t pid, uint64_t off)
{
    struct import_ck_wait w = {t, pid, off, 0};
    assert_true(lbt_wait_for(import_ckpt_past, &w, WAIT_MS));
    if (w.exited)
        fail_msg("the import ended before its checkpoint was past %" PRIu64
                 " (too fast for this test)",
                 off);
    kill(pid, SIGSTOP);
    /* Batches sent before the stop may still land (two are in flight): the
     * checkpoint is taken once it stays the same for 50 ms, so that a SAVE
     * after this holds exactly it. */
    struct lb_ckpt ck;
    uint64_t prev = UINT64_MAX;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(iu_ckpt(t->c, "logbridge:ckpt:{im}", t->path, &ck), 1);
        if (ck.off == prev)
            break;
        prev = ck.off;
        lbt_sleep_ms(50);
    }
    return ck.off;
}

/* An import that runs through a rollback reads its checkpoint again when it
 * reconnects: the regression is said at warn with the byte range and
 * counted, and the lost lines are sent again: the stream ends exact. */
static void import_counts_a_checkpoint_regression_while_it_runs(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {12};
    struct iu_gen g = {100000, 10, 10, 10, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    fx_import_write_fix(t);
    char mpath[600];
    snprintf(mpath, sizeof(mpath), "%s/m.prom", t->dir);
    const char *args[] = {"import",         "--redis", t->r.url,  "--no-progress",
                          "--stream",       "im",      "--batch", "20",
                          "--metrics-file", mpath,     t->path,   NULL};
    pid_t pid = fx_import_spawn(t, args, t->log);
    uint64_t saved = import_hold_past(t, pid, 0);
    assert_int_equal(lbt_redis_save(&t->r), 0);
    kill(pid, SIGCONT);
    import_hold_past(t, pid, saved + 100000);
    assert_int_equal(lbt_redis_rollback(&t->r), 0);
    redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
    kill(pid, SIGCONT);
    int rc = fx_import_wait_exit(pid, 60000);
    if (rc != 0)
        fx_import_dump_log(t);
    assert_int_equal(rc, 0);
    fx_import_verify(t, "im", "logbridge:dlq:{im}", t->path, 0, t->f.n);
    unsigned long long from, to, b0, b1;
    if (regression_warning(t->log, t->path, &from, &to, &b0, &b1) != 0) {
        fx_import_dump_log(t);
        fail_msg("no regression warning for src=%s in %s", t->path, t->log);
    }
    /* from: where it last knew the checkpoint to be (its last replies may
     * have gone with the server) */
    assert_true(from > saved && to == saved && b0 == saved && b1 == from);
    assert_true(mu_metric(mpath, "logbridge_checkpoint_regressions_total", "src", t->path, NULL) ==
                1);
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
        cmocka_unit_test_setup_teardown(import_counts_a_checkpoint_regression_while_it_runs,
                                        setup_import, fx_import_teardown),
        cmocka_unit_test_setup_teardown(
            mirror_notices_a_lost_entry_whose_id_came_back_with_other_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_awaited_lines_survive_a_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_skips_what_tail_resends_after_a_rollback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_down_during_a_rollback_skips_what_tail_resends_later,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_exactly_once_across_a_rollback_and_kill9, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_template_skips_what_tail_resends_after_a_rollback,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_template_exactly_once_across_a_rollback_and_kill9,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_keeps_another_writers_lines_across_rollbacks, setup,
                                        teardown),
    };
    /* LB_TEST_FILTER=mirror_* runs only the tests it matches */
    const char *filter = getenv("LB_TEST_FILTER");
    if (filter != NULL && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
