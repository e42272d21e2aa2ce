/*
 * test_tail_crash.c - `logbridge tail` exactly once when things die
 * (DESIGN.md sections 4.1 and 4.5):
 *  - logbridge is kill -9'ed at random moments (>= 20 rounds) and restarted
 *    while a writer appends at a high rate in writes of random sizes (so that
 *    lines are often cut between two writes), ~1 % of them bad lines;
 *  - redis-server is kill -9'ed for a while and restarted from its AOF while
 *    the writer goes on;
 *  - redis-server is absent when logbridge starts.
 * Afterwards every valid line is in the stream exactly once and in order,
 * every bad line in the DLQ exactly once and in order.
 *
 * The seed is printed; LB_TEST_SEED=N repeats a run, LB_TEST_SCALE=N makes
 * the runs longer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbtest.h"
#include "fx_tail.h"
#include "tail_util.h"

#define CK "logbridge:ckpt:{s}"
#define DLQ "logbridge:dlq:{s}"

struct t {
    struct fx_tail fx; /* first: fx_tail_setup_sized */
    struct tu_writer w;
};

static int setup_t(void **state, int aof)
{
    int rc = fx_tail_setup_sized(state, sizeof(struct t), aof);
    struct t *t = *state;
    if (t != NULL)
        t->w.path = t->fx.path;
    return rc;
}

static int setup(void **state)
{
    return setup_t(state, 0);
}

static int setup_with_aof(void **state)
{
    return setup_t(state, 1);
}

static pid_t spawn(struct t *t)
{
    const char *args[] = {"tail",    "--redis", t->fx.r.url, "--stream", "s",
                          "--batch", "300",     t->fx.path,  NULL};
    return lbt_spawn(args, t->fx.log);
}

static void check_all(struct t *t)
{
    fx_tail_check_seq(&t->fx, t->fx.path, t->w.valid, 1, 4000);
    char why[512];
    if (tu_check_bad(t->fx.c, DLQ, t->w.bad, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}

struct done_ctx {
    struct t *t;
    long long size;
};

static int all_committed(void *p)
{
    struct done_ctx *d = p;
    return tu_ckpt_off(d->t->fx.c, CK, d->t->fx.path, NULL) == d->size;
}

static void wait_all(struct t *t)
{
    struct stat st;
    assert_int_equal(stat(t->fx.path, &st), 0);
    struct done_ctx d = {t, (long long)st.st_size};
    if (!lbt_wait_for(all_committed, &d, 60000)) {
        tu_dump(t->fx.log, 4000);
        fail_msg("checkpoint at %lld, file size %lld", tu_ckpt_off(t->fx.c, CK, t->fx.path, NULL),
                 d.size);
    }
}

static void tail_exactly_once_across_kill9(void **state)
{
    struct t *t = *state;
    int scale = tu_scale();
    t->w.seed = tu_seed("tail_exactly_once_across_kill9");
    uint64_t rng = t->w.seed;
    t->w.valid = 30000L * scale;
    t->w.bad = t->w.valid / 97;
    t->w.per_ms = 8;
    int rounds_min = 20 * scale;
    assert_int_equal(lbt_write_file(t->fx.path, "", 0), 0);
    t->fx.writer = tu_fork(tu_writer_main, &t->w);
    assert_true(t->fx.writer > 0);
    int rounds = 0, code = 0, writer_done = 0;
    while (rounds < rounds_min || !writer_done) {
        t->fx.pid = spawn(t);
        assert_true(t->fx.pid > 0);
        /* kill points from "still starting" to "well into a batch" */
        lbt_sleep_ms(5 + (int)(tu_rand(&rng) % 200));
        kill(t->fx.pid, SIGKILL);
        assert_int_equal(lbt_wait(t->fx.pid), 128 + SIGKILL);
        t->fx.pid = 0;
        rounds++;
        if (!writer_done && tu_try_wait(t->fx.writer, &code)) {
            writer_done = 1;
            t->fx.writer = 0;
            assert_int_equal(code, 0);
        }
    }
    printf("tail_exactly_once_across_kill9: %d kill rounds\n", rounds);
    /* the rest in one last run (the writer is done: --once reads it all) */
    const char *args[] = {"tail", "--redis", t->fx.r.url, "--stream",
                          "s",    "--once",  t->fx.path,  NULL};
    char err[4096];
    assert_int_equal(lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0), 0);
    wait_all(t);
    check_all(t);
}

static void tail_redis_restart_with_aof(void **state)
{
    struct t *t = *state;
    t->w.seed = tu_seed("tail_redis_restart_with_aof");
    t->w.valid = 20000L * tu_scale();
    t->w.bad = t->w.valid / 97;
    t->w.per_ms = 6;
    assert_int_equal(lbt_write_file(t->fx.path, "", 0), 0);
    t->fx.pid = spawn(t);
    t->fx.writer = tu_fork(tu_writer_main, &t->w);
    assert_true(tu_wait_xlen(t->fx.c, "s", 2000, 20000));
    /* a crash of the server in the middle of the flow; the writer goes on */
    lbt_redis_kill(&t->fx.r, SIGKILL);
    redisFree(t->fx.c);
    t->fx.c = NULL;
    lbt_sleep_ms(2500);
    assert_int_equal(lbt_redis_restart(&t->fx.r), 0);
    t->fx.c = lbt_connect(&t->fx.r);
    assert_non_null(t->fx.c);
    assert_int_equal(lbt_wait(t->fx.writer), 0);
    t->fx.writer = 0;
    wait_all(t);
    kill(t->fx.pid, SIGTERM);
    assert_int_equal(lbt_wait(t->fx.pid), 0);
    t->fx.pid = 0;
    check_all(t);
    /* one warning when it went away and one message when it came back, not
     * one per try */
    char *log = lbt_read_file(t->fx.log, NULL);
    assert_non_null(log);
    int paused = 0;
    for (const char *p = log; (p = strstr(p, "reading paused")) != NULL; p++)
        paused++;
    int back = 0;
    for (const char *p = log; (p = strstr(p, "reachable again")) != NULL; p++)
        back++;
    free(log);
    assert_int_equal(paused, 1);
    assert_int_equal(back, 1);
}

static void tail_waits_for_absent_redis(void **state)
{
    struct t *t = *state;
    t->w.seed = tu_seed("tail_waits_for_absent_redis");
    lbt_redis_kill(&t->fx.r, SIGKILL);
    redisFree(t->fx.c);
    t->fx.c = NULL;
    t->w.valid = 3000;
    t->w.bad = 10;
    t->w.per_ms = 10;
    assert_int_equal(tu_append_lines(t->fx.path, 0, 0, 0, 0), 0);
    t->fx.pid = spawn(t);
    t->fx.writer = tu_fork(tu_writer_main, &t->w);
    assert_int_equal(lbt_wait(t->fx.writer), 0);
    t->fx.writer = 0;
    /* it is running and waiting (kill 0 probes that it is alive); under
     * ASan its first try may come after the writer is done: Redis comes
     * back only once it has said it waits */
    assert_int_equal(kill(t->fx.pid, 0), 0);
    if (!tu_wait_log(t->fx.log, "reading paused", 20000)) {
        tu_dump(t->fx.log, 2000);
        fail_msg("tail did not say that it waits for Redis");
    }
    assert_int_equal(lbt_redis_restart(&t->fx.r), 0);
    t->fx.c = lbt_connect(&t->fx.r);
    assert_non_null(t->fx.c);
    wait_all(t);
    kill(t->fx.pid, SIGTERM);
    assert_int_equal(lbt_wait(t->fx.pid), 0);
    t->fx.pid = 0;
    check_all(t);
    assert_true(tu_file_has(t->fx.log, "reading paused"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_exactly_once_across_kill9, setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_redis_restart_with_aof, setup_with_aof,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_waits_for_absent_redis, setup, fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
