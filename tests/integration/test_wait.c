/*
 * test_wait.c - `--wait-replicas N --wait-timeout MS` (DESIGN.md section 7):
 * after each batch logbridge sends WAIT; a shortfall is counted in
 * logbridge_wait_shortfalls_total and warned, never a reason to stop or to
 * write a line twice. Against a real master and replica (TCP on loopback),
 * started once for the binary; the replica is SIGSTOPped to make WAIT fall
 * short. Every count is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lbt_prom.h"
#include "lbtest.h"

#define LINES 3000

static struct lbt_redis master, replica;
static redisContext *mc;
static char dir[256], path[300], prom[300], url[64];
static char out[1 << 16], err[1 << 16];

static int replica_in_sync(void *ctx)
{
    (void)ctx;
    redisReply *rep = redisCommand(mc, "WAIT 1 100");
    int ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer >= 1;
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    int mport = lbt_free_port();
    if (mport == 0)
        return -1;
    snprintf(master.extra, sizeof(master.extra), "--port %d --bind 127.0.0.1", mport);
    if (lbt_redis_start(&master, 0) != 0)
        return -1;
    snprintf(replica.extra, sizeof(replica.extra), "--replicaof 127.0.0.1 %d", mport);
    if (lbt_redis_start(&replica, 0) != 0)
        return -1;
    mc = lbt_connect(&master);
    if (mc == NULL || !lbt_wait_for(replica_in_sync, NULL, 20000))
        return -1;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", mport);
    if (lbt_mkdtemp(dir, sizeof(dir)) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(prom, sizeof(prom), "%s/m.prom", dir);
    char *buf = malloc((size_t)LINES * 200);
    size_t n = 0;
    for (long i = 0; i < LINES; i++)
        n += lbt_line(buf + n, 200, i);
    int rc = lbt_write_file(path, buf, n);
    free(buf);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    if (mc != NULL)
        redisFree(mc);
    lbt_redis_stop(&replica, 1);
    lbt_redis_stop(&master, 1);
    lbt_rmdir(dir);
    return 0;
}

/* The sum of the samples named name in the metrics file (-1: none). */
static double metric(const char *name)
{
    char why[600];
    double v = lbt_prom_file_sum(prom, name, why, sizeof(why));
    if (v < -1)
        fail_msg("%s", why);
    return v;
}

static double shortfalls(void)
{
    double v = metric("logbridge_wait_shortfalls_total");
    if (v < 0)
        fail_msg("logbridge_wait_shortfalls_total is missing from the metrics file");
    return v;
}

/* Every line exactly once, in order. */
static void check_stream(const char *stream)
{
    struct lbt_entry *e;
    long n = lbt_xrange_all(mc, stream, &e);
    assert_int_equal(n, LINES);
    for (long i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "data-%ld ", i);
        const char *d = lbt_field(&e[i], "data");
        if (d == NULL || strncmp(d, want, strlen(want)) != 0)
            fail_msg("entry %ld of %s is '%s', expected line %ld", i, stream, d ? d : "(none)", i);
    }
    lbt_entries_free(e, n);
}

static void run_ok(const char *cmd, const char *stream, const char *replicas, const char *ms)
{
    const char *args[] = {cmd,     "--redis",        url,      "--stream",       stream,
                          "--batch", "100",          "--wait-replicas", replicas,
                          "--wait-timeout", ms,      "--metrics-file", prom,
                          strcmp(cmd, "tail") == 0 ? "--once" : path,
                          strcmp(cmd, "tail") == 0 ? path : NULL, NULL};
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("%s exited %d: %s", cmd, rc, err);
}

static void wait_replicas_with_a_live_replica_counts_no_shortfall(void **state)
{
    (void)state;
    run_ok("import", "w:import", "1", "5000");
    check_stream("w:import");
    assert_true(shortfalls() == 0);
    run_ok("tail", "w:tail", "1", "5000");
    check_stream("w:tail");
    assert_true(shortfalls() == 0);
}

/* The replica stopped: every batch's WAIT falls short. The lines are all
 * written once, the job goes on, and each shortfall is counted. */
static void wait_replicas_shortfall_is_counted_and_not_fatal(void **state)
{
    (void)state;
    assert_int_equal(kill(replica.pid, SIGSTOP), 0);
    run_ok("import", "s:import", "1", "10");
    double imp = shortfalls();
    assert_non_null(strstr(err, "--wait-replicas"));
    run_ok("tail", "s:tail", "1", "10");
    double tl = shortfalls();
    double tail_batches = metric("logbridge_batch_seconds_count");
    assert_non_null(strstr(err, "WAIT"));
    assert_int_equal(kill(replica.pid, SIGCONT), 0);
    check_stream("s:import");
    check_stream("s:tail");
    /* every batch short: import's are LINES / 100, tail's as many as it sent */
    if (imp != LINES / 100 || tl != tail_batches || tl < LINES / 100)
        fail_msg("shortfalls: import %g (of %d batches), tail %g (of %g batches)", imp,
                 LINES / 100, tl, tail_batches);
    assert_true(lbt_wait_for(replica_in_sync, NULL, 20000));
}

/* Asking for more replicas than exist is a shortfall, not an error. */
static void wait_replicas_more_than_exist_is_a_shortfall(void **state)
{
    (void)state;
    run_ok("import", "m:import", "2", "5");
    check_stream("m:import");
    assert_true(shortfalls() == LINES / 100);
}

static void wait_options_are_checked(void **state)
{
    (void)state;
    const char *bad[][2] = {{"--wait-replicas", "-1"}, {"--wait-replicas", "x"},
                            {"--wait-timeout", "0"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *args[] = {"import", "--redis", url, "--stream", "x", bad[i][0], bad[i][1],
                              path, NULL};
        assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
        assert_non_null(strstr(err, bad[i][0]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wait_replicas_with_a_live_replica_counts_no_shortfall),
        cmocka_unit_test(wait_replicas_shortfall_is_counted_and_not_fatal),
        cmocka_unit_test(wait_replicas_more_than_exist_is_a_shortfall),
        cmocka_unit_test(wait_options_are_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
