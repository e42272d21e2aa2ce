/*
 * test_tail_refused.c - `logbridge tail` when Redis refuses batches (DESIGN.md
 * 4.1 and 4.5): a refused batch while the next one is in flight must not let
 * the next one move the checkpoint past the refused lines; a refusal that
 * clears by itself (OOM under maxmemory) is waited out, not a reason to exit;
 * two tails on one file never write a line twice. Every test counts the
 * stream and the DLQ exactly.
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
#include "tail_util.h"

static char out[1 << 16], err[1 << 16];

/* SIGTERM, then wait with a deadline: the exit code, or -1. */
static int stop_and_wait(pid_t pid, int timeout_ms)
{
    kill(pid, SIGTERM);
    return fx_import_wait_exit(pid, timeout_ms);
}

/* The recipe: the first batch goes to a key that is not a stream and
 * is refused; the second, already in flight, must not move the checkpoint
 * past it. Nothing may be committed; after the key is fixed a rerun writes
 * all four lines exactly once. */
static void tail_refused_batch_is_not_skipped_by_the_next(void **state)
{
    struct fx_import *t = *state;
    static const char text[] = "a|2025-06-18T10:00:00Z|bad|1\na|2025-06-18T10:00:01Z|bad|2\n"
                               "a|2025-06-18T10:00:02Z|good|3\na|2025-06-18T10:00:03Z|good|4\n";
    assert_int_equal(lbt_write_file(t->path, text, sizeof(text) - 1), 0);
    assert_int_equal(iu_cmd(t->c, "SET", "{ev}:bad", "x", NULL), 0);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "tail", "--redis", t->r.url, "--stream", "{ev}:%{type}", "--batch", "2",
                "--once", t->path, NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 3)
        fail_msg("exited %d, want 3 (WRONGTYPE): %s", rc, err);
    struct lb_ckpt ck;
    int have = iu_ckpt(t->c, "logbridge:ckpt:{ev}", t->path, &ck);
    assert_true(have >= 0);
    if (have == 1 && ck.line > 0)
        fail_msg("the checkpoint moved to line %" PRIu64 " off %" PRIu64
                 " past lines 1-2, which were never written",
                 ck.line, ck.off);
    assert_int_equal(lbt_xlen(t->c, "{ev}:good"), 0);
    assert_int_equal(iu_cmd(t->c, "DEL", "{ev}:bad", NULL), 0);
    rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("rerun exited %d: %s", rc, err);
    assert_int_equal(lbt_xlen(t->c, "{ev}:bad"), 2);
    assert_int_equal(lbt_xlen(t->c, "{ev}:good"), 2);
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "{ev}:bad", &e);
    assert_int_equal(n, 2);
    assert_string_equal(lbt_field(&e[0], "data"), "1");
    assert_string_equal(lbt_field(&e[1], "data"), "2");
    lbt_entries_free(e, n);
}

/* The same with many batches in flight over a long file, in both batch
 * shapes: the DLQ key is not a stream, so the batch holding the only bad line
 * is refused and every batch after it holds valid lines only. */
static void tail_refused_dlq_batch_is_not_skipped(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 3000; i++) {
        char d[32];
        snprintf(d, sizeof(d), "i=%d", i);
        if (i == 150)
            iu_fix_bad(&t->f, "the only bad line", "fields");
        iu_fix_valid(&t->f, "web", "1750240800", INT64_C(1750240800000), "login", d);
    }
    assert_int_equal(iu_fix_write(&t->f, t->path), 0);
    const char *modes[] = {"fast", "script"};
    for (int m = 0; m < 2; m++) {
        assert_int_equal(iu_cmd(t->c, "FLUSHALL", NULL), 0);
        assert_int_equal(iu_cmd(t->c, "SET", "logbridge:dlq:{rb}", "not a stream", NULL), 0);
        if (m == 1)
            setenv("LOGBRIDGE_SINK_MODE", "script", 1);
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, "tail", "--redis", t->r.url, "--stream", "rb", "--batch", "100", "--once",
                    t->path, NULL);
        int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        unsetenv("LOGBRIDGE_SINK_MODE");
        if (rc != 3)
            fail_msg("%s: exited %d, want 3: %s", modes[m], rc, err);
        size_t line;
        char why[1024];
        if (iu_check_prefix(t->c, &t->f, "rb", "logbridge:dlq:{rb}", "logbridge:ckpt:{rb}", t->path,
                            &line, why, sizeof(why)) != 0)
            fail_msg("%s: %s", modes[m], why);
        if (line > 150)
            fail_msg("%s: the checkpoint moved to line %zu, past line 151 which was never written",
                     modes[m], line);
        assert_int_equal(iu_cmd(t->c, "DEL", "logbridge:dlq:{rb}", NULL), 0);
        if (m == 1)
            setenv("LOGBRIDGE_SINK_MODE", "script", 1);
        rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        unsetenv("LOGBRIDGE_SINK_MODE");
        if (rc != 0)
            fail_msg("%s: rerun exited %d: %s", modes[m], rc, err);
        fx_import_verify_all(t, "rb", "logbridge:dlq:{rb}", t->path);
    }
}

static long long used_memory(redisContext *c)
{
    redisReply *rep = redisCommand(c, "INFO memory");
    assert_non_null(rep);
    const char *p = strstr(rep->str, "used_memory:");
    assert_non_null(p);
    long long used = atoll(p + 12);
    freeReplyObject(rep);
    return used;
}

struct xlen_at_least {
    struct fx_import *t;
    const char *key;
    long long n;
};

static int xlen_reached(void *ctx)
{
    struct xlen_at_least *w = ctx;
    return lbt_xlen(w->t->c, w->key) >= w->n;
}

/* Redis runs out of memory (maxmemory, noeviction) while tail follows a file
 * that keeps growing: that is backpressure like an outage, not a reason to
 * exit. Once memory is raised every line lands exactly once. */
static void tail_waits_out_oom(void **state)
{
    struct fx_import *t = *state;
    t->rng.s = iu_seed("tail_waits_out_oom");
    struct iu_gen g = {20000, 10, 3, 5, 0, 0};
    iu_fix_gen(&t->f, &g, &t->rng);
    /* the first 2,000 lines first, then the rest while Redis is full */
    uint64_t cut = iu_fix_line_end(&t->f, 1999);
    assert_int_equal(lbt_write_file(t->path, t->f.buf, cut), 0);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "tail", "--redis", t->r.url, "--stream", "om", "--batch", "250", t->path, NULL);
    pid_t pid = fx_import_spawn(t, a.v, t->log);
    assert_true(pid > 0);
    struct xlen_at_least w = {t, "om", 1};
    assert_int_equal(lbt_wait_for(xlen_reached, &w, 20000), 1);
    assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "maxmemory-policy", "noeviction", NULL), 0);
    char mm[32];
    snprintf(mm, sizeof(mm), "%lld", used_memory(t->c) + 256 * 1024);
    assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "maxmemory", mm, NULL), 0);
    assert_int_equal(lbt_append_file(t->path, t->f.buf + cut, t->f.len - cut), 0);
    /* let it hit the wall for a while: it must still be running */
    int64_t until = lbt_now_ms() + 3000;
    int code;
    while (lbt_now_ms() < until) {
        if (iu_try_wait(pid, &code)) {
            fx_import_dump_log(t);
            fail_msg("tail exited %d while Redis was out of memory", code);
        }
        lbt_sleep_ms(50);
    }
    assert_true(tu_file_has(t->log, "OOM"));
    assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "maxmemory", "0", NULL), 0);
    size_t valid;
    iu_fix_counts(&t->f, t->f.n, &valid, NULL, NULL);
    w.n = (long long)valid;
    if (lbt_wait_for(xlen_reached, &w, 30000) != 1) {
        fx_import_dump_log(t);
        fail_msg("after memory was raised the stream holds %lld of %zu entries",
                 lbt_xlen(t->c, "om"), valid);
    }
    code = stop_and_wait(pid, 10000);
    if (code != 0) {
        fx_import_dump_log(t);
        fail_msg("tail exited %d on SIGTERM", code);
    }
    fx_import_verify_all(t, "om", "logbridge:dlq:{om}", t->path);
}

/* Two tails on one file and stream (an operator's slip) while a writer
 * appends: whatever they do to each other, no line is written twice and none
 * is lost. */
static void tail_two_processes_never_duplicate(void **state)
{
    struct fx_import *t = *state;
    t->rng.s = iu_seed("tail_two_processes_never_duplicate");
    struct iu_gen g = {30000, 10, 3, 5, 0, 0};
    iu_fix_gen(&t->f, &g, &t->rng);
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "tail", "--redis", t->r.url, "--stream", "tw", "--batch", "50", t->path, NULL);
    pid_t p1 = fx_import_spawn(t, a.v, t->log), p2 = fx_import_spawn(t, a.v, t->log);
    assert_true(p1 > 0 && p2 > 0);
    /* append in chunks of about 300 lines */
    size_t done = 0;
    for (size_t i = 300; done < t->f.len; i += 300) {
        uint64_t end = i < t->f.n ? iu_fix_line_end(&t->f, i - 1) : t->f.len;
        assert_int_equal(lbt_append_file(t->path, t->f.buf + done, end - done), 0);
        done = end;
        lbt_sleep_ms(5);
    }
    size_t valid;
    iu_fix_counts(&t->f, t->f.n, &valid, NULL, NULL);
    struct xlen_at_least w = {t, "tw", (long long)valid};
    lbt_wait_for(xlen_reached, &w, 30000);
    int c1 = stop_and_wait(p1, 10000), c2 = stop_and_wait(p2, 10000);
    printf("  exit codes %d and %d\n", c1, c2);
    /* one more pass picks up whatever a refused process left */
    iu_args_init(&a);
    iu_args_add(&a, "tail", "--redis", t->r.url, "--stream", "tw", "--once", t->path, NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("the --once after exited %d: %s", rc, err);
    fx_import_verify_all(t, "tw", "logbridge:dlq:{tw}", t->path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_refused_batch_is_not_skipped_by_the_next,
                                        fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(tail_refused_dlq_batch_is_not_skipped, fx_import_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(tail_waits_out_oom, fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(tail_two_processes_never_duplicate, fx_import_setup,
                                        fx_import_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
