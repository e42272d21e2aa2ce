/*
 * test_script_flush.c - scripts are neither replicated nor persisted
 * (DESIGN.md section 7): a `SCRIPT FLUSH`, and a Redis restart from its AOF
 * (kill -9, so that a transaction may be torn), between tail's batches while
 * a writer appends. After each, and at the end, the stream and the DLQ hold
 * exactly the lines before the checkpoint: nothing without its checkpoint,
 * nothing twice. Both batch shapes: the fast path (native XADDs and EVAL in
 * one MULTI) and the script path (EVALSHA alone, LOGBRIDGE_SINK_MODE=script).
 *
 * The seed is printed; LB_TEST_SEED=N repeats a run, LB_TEST_SCALE=N writes
 * more lines.
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

#include "fx_tail.h"
#include "lbtest.h"
#include "tail_util.h"

#define CK "logbridge:ckpt:{s}"
#define DLQ "logbridge:dlq:{s}"
#define ROUNDS 8

struct t {
    struct fx_tail fx; /* first: fx_tail_setup_sized */
    struct tu_writer w;
};

static int setup(void **state)
{
    int rc = fx_tail_setup_sized(state, sizeof(struct t), 1);
    struct t *t = *state;
    if (t != NULL)
        t->w.path = t->fx.path;
    return rc;
}

/* The lines of the file before offset off: valid ones in *valid, bad ones in
 * *bad. */
static void count_before(const char *path, long long off, long *valid, long *bad)
{
    *valid = *bad = 0;
    if (off <= 0)
        return;
    size_t n = 0;
    char *s = lbt_read_file(path, &n);
    assert_non_null(s);
    assert_true((size_t)off <= n);
    for (size_t i = 0; i < (size_t)off;) {
        const char *nl = memchr(s + i, '\n', (size_t)off - i);
        assert_non_null(nl); /* a checkpoint ends at a line's end */
        if (strncmp(s + i, "bad ", 4) == 0)
            (*bad)++;
        else
            (*valid)++;
        i = (size_t)(nl - s) + 1;
    }
    free(s);
}

/* With writes paused (every transaction either done or not begun), the
 * stream and the DLQ hold exactly the lines before the checkpoint. */
static void check_consistent(struct t *t, const char *when, int round)
{
    redisContext *c = t->fx.c;
    redisReply *p = redisCommand(c, "CLIENT PAUSE 60000 WRITE");
    assert_non_null(p);
    assert_int_equal(p->type, REDIS_REPLY_STATUS);
    freeReplyObject(p);
    long long line = 0;
    long long off = tu_ckpt_off(c, CK, t->fx.path, &line);
    long valid, bad;
    count_before(t->fx.path, off, &valid, &bad);
    char why[600] = "";
    if (off > 0 && line != valid + bad)
        snprintf(why, sizeof(why), "the checkpoint says line %lld at off %lld, the file has %ld",
                 line, off, valid + bad);
    else if (tu_check_seq(c, "s", t->fx.path, valid, 1, why, sizeof(why)) == 0)
        tu_check_bad(c, DLQ, bad, why, sizeof(why));
    freeReplyObject(redisCommand(c, "CLIENT UNPAUSE"));
    if (why[0] != '\0') {
        tu_dump(t->fx.log, 3000);
        fail_msg("round %d, %s: checkpoint off=%lld (%ld valid, %ld bad lines before it): %s",
                 round, when, off, valid, bad, why);
    }
}

struct lines_ctx {
    struct t *t;
    long long want;
    int exited; /* tail's exit code, or -1 */
};

/* The checkpoint has passed line want, or tail has exited. */
static int ckpt_lines_at_least(void *p)
{
    struct lines_ctx *x = p;
    long long line = 0;
    if (tu_try_wait(x->t->fx.pid, &x->exited)) {
        x->t->fx.pid = 0;
        return 1;
    }
    return tu_ckpt_off(x->t->fx.c, CK, x->t->fx.path, &line) >= 0 && line >= x->want;
}

static void restart_redis(struct t *t)
{
    lbt_redis_kill(&t->fx.r, SIGKILL);
    redisFree(t->fx.c);
    t->fx.c = NULL;
    assert_int_equal(lbt_redis_restart(&t->fx.r), 0);
    t->fx.c = lbt_connect(&t->fx.r);
    assert_non_null(t->fx.c);
}

/* ROUNDS times, each when the checkpoint has passed the next share of the
 * lines: check, then SCRIPT FLUSH (even rounds) or a kill -9 and restart of
 * Redis from its AOF (odd rounds), and check again. */
static void flush_and_restart_between_batches(struct t *t, const char *name, int script)
{
    t->w.seed = tu_seed(name);
    t->w.valid = 30000L * tu_scale();
    t->w.bad = t->w.valid / 97;
    t->w.per_ms = 6;
    long total = t->w.valid + t->w.bad;
    assert_int_equal(lbt_write_file(t->fx.path, "", 0), 0);
    if (script)
        setenv("LOGBRIDGE_SINK_MODE", "script", 1);
    fx_tail_spawn(&t->fx, "--batch", "300", t->fx.path, NULL);
    unsetenv("LOGBRIDGE_SINK_MODE");
    t->fx.writer = tu_fork(tu_writer_main, &t->w);
    assert_true(t->fx.writer > 0);
    for (int k = 0; k < ROUNDS; k++) {
        struct lines_ctx x = {t, (long long)(k + 1) * total / (ROUNDS + 1), -1};
        int held = lbt_wait_for(ckpt_lines_at_least, &x, 60000);
        check_consistent(t, "before", k);
        if (!held || x.exited >= 0) {
            tu_dump(t->fx.log, 3000);
            fail_msg("round %d: the checkpoint did not reach line %lld: %s", k, x.want,
                     held ? "tail exited" : "timed out");
        }
        if (k % 2 == 0) {
            redisReply *r = redisCommand(t->fx.c, "SCRIPT FLUSH");
            assert_non_null(r);
            assert_int_equal(r->type, REDIS_REPLY_STATUS);
            freeReplyObject(r);
        } else {
            restart_redis(t);
            check_consistent(t, "after the restart", k);
        }
    }
    assert_int_equal(lbt_wait(t->fx.writer), 0);
    t->fx.writer = 0;
    struct stat st;
    assert_int_equal(stat(t->fx.path, &st), 0);
    if (!tu_wait_ckpt(t->fx.c, CK, t->fx.path, (long long)st.st_size, 60000)) {
        tu_dump(t->fx.log, 3000);
        fail_msg("the checkpoint did not reach the file's end (%lld)", (long long)st.st_size);
    }
    assert_int_equal(fx_tail_stop(&t->fx, SIGTERM), 0);
    printf("  %d rounds; torn AOFs repaired: %d\n", ROUNDS, t->fx.r.aof_repairs);
    check_consistent(t, "at the end", ROUNDS);
    fx_tail_check_seq(&t->fx, t->fx.path, t->w.valid, 1, 3000);
}

static void tail_script_flush_and_restart_fast_path(void **state)
{
    flush_and_restart_between_batches(*state, "tail_script_flush_and_restart_fast_path", 0);
}

static void tail_script_flush_and_restart_script_path(void **state)
{
    flush_and_restart_between_batches(*state, "tail_script_flush_and_restart_script_path", 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_script_flush_and_restart_fast_path, setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_script_flush_and_restart_script_path, setup,
                                        fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
