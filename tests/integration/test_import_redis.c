/*
 * test_import_redis.c - `logbridge import` when Redis misbehaves (DESIGN.md
 * 4.1, 4.5, 4.8 and section 5's exit codes): redis-server SIGKILLed mid-import
 * and restarted from its AOF (appendfsync always), Redis gone for longer than
 * --retry-for (exit 3, checkpoint intact, the rerun finishes exactly),
 * connections killed under it, writes refused mid-import (OOM, WRONGTYPE) -
 * the checkpoint must never pass a line that was not written - refused
 * passwords (exit 3 at once, naming address and user), the password from
 * LOGBRIDGE_REDIS_PASSWORD, and an unreachable server.
 *
 * Kill points are seeded and the seed printed (LB_TEST_SEED repeats a run).
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

static char out[1 << 16], err[1 << 16];

static void reconnect(struct fx_import *t)
{
    if (t->c)
        redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
}

/* Poll the checkpoint of src until its off passes target (1), the child ends
 * (0, code set), or 60 s pass (-1). */
static int wait_ckpt(struct fx_import *t, const char *key, const char *src, uint64_t target,
                     pid_t pid, int *code)
{
    int64_t end = lbt_now_ms() + 60000;
    for (;;) {
        if (pid > 0 && iu_try_wait(pid, code))
            return 0;
        struct lb_ckpt ck;
        if (iu_ckpt(t->c, key, src, &ck) == 1 && ck.off >= target)
            return 1;
        if (lbt_now_ms() > end)
            return -1;
        lbt_sleep_ms(1);
    }
}

static void check_prefix(struct fx_import *t, const char *stream, const char *dlq, const char *ckpt,
                         size_t *line)
{
    char why[1024];
    if (iu_check_prefix(t->c, &t->f, stream, dlq, ckpt, t->path, line, why, sizeof(why)) != 0) {
        fx_import_dump_log(t);
        fail_msg("%s", why);
    }
}

static void gen(struct fx_import *t, long lines, const char *what)
{
    t->rng.s = iu_seed(what);
    /* no too-long lines here: their raw bytes are test_import_basic's and
     * test_import_crash's business; these tests are about Redis failing */
    struct iu_gen g = {lines, 10, 3, 5, 0, 0};
    iu_fix_gen(&t->f, &g, &t->rng);
    assert_int_equal(iu_fix_write(&t->f, t->path), 0);
}

/* ---- redis-server dies ------------------------------------------------------------ */

/* SIGKILL redis-server at random points of an import that has --retry-for
 * long enough, restart it from its AOF each time: the import continues and
 * ends with every line exactly once. */
static void import_survives_redis_sigkill_with_aof(void **state)
{
    struct fx_import *t = *state;
    gen(t, 100000L * iu_scale(), "import_survives_redis_sigkill_with_aof");
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "rk", "--batch", "500", "--max-line",
                "4096", "--retry-for", "60", "--no-progress", t->path, NULL);
    pid_t pid = fx_import_spawn(t, a.v, t->log);
    assert_true(pid > 0);
    int kills = 3 * iu_scale(), done = 0, code = -1;
    for (int k = 0; k < kills && !done; k++) {
        uint64_t target = t->f.len / (uint64_t)(kills + 1) * (uint64_t)(k + 1) +
                          iu_below(&t->rng, t->f.len / (uint64_t)(kills + 1) / 2);
        int w = wait_ckpt(t, "logbridge:ckpt:{rk}", t->path, target, pid, &code);
        assert_true(w >= 0);
        if (w == 0) {
            done = 1;
            break;
        }
        lbt_sleep_ms((int)iu_below(&t->rng, 5));
        lbt_redis_kill(&t->r, SIGKILL);
        lbt_sleep_ms(50 + (int)iu_below(&t->rng, 400));
        assert_int_equal(lbt_redis_restart(&t->r), 0);
        reconnect(t);
        /* what the AOF brought back is consistent on its own */
        size_t line;
        check_prefix(t, "rk", "logbridge:dlq:{rk}", "logbridge:ckpt:{rk}", &line);
        printf("  redis kill %d: checkpoint at line %zu of %zu after the restart\n", k + 1, line,
               t->f.n);
    }
    if (!done)
        code = fx_import_wait_exit(pid, 120000);
    if (code != 0) {
        fx_import_dump_log(t);
        fail_msg("logbridge exited %d", code);
    }
    fx_import_verify_all(t, "rk", "logbridge:dlq:{rk}", t->path);
    char last[48];
    iu_last_id(t->c, "rk", last);
    char why[1024];
    if (iu_check_ckpt(t->c, "logbridge:ckpt:{rk}", t->path, &t->f, t->f.n, t->path, last, why,
                      sizeof(why)) != 0)
        fail_msg("%s", why);
    /* it said so, once per outage, not per attempt */
    size_t n;
    char *log = lbt_read_file(t->log, &n);
    assert_non_null(log);
    assert_true(iu_count_lines_with(log, "unix:") >= 1);
    free(log);
}

/* Redis gone for longer than --retry-for: exit 3 naming the address, the
 * checkpoint intact (consistent with the stream), and a rerun finishes
 * exactly. */
static void import_redis_down_past_retry_for_exits_3(void **state)
{
    struct fx_import *t = *state;
    gen(t, 60000, "import_redis_down_past_retry_for_exits_3");
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "rd", "--batch", "300", "--max-line",
                "4096", "--retry-for", "1", "--no-progress", t->path, NULL);
    pid_t pid = fx_import_spawn(t, a.v, t->log);
    int code = -1;
    uint64_t target = t->f.len / 4 + iu_below(&t->rng, t->f.len / 2);
    int w = wait_ckpt(t, "logbridge:ckpt:{rd}", t->path, target, pid, &code);
    assert_int_equal(w, 1);
    lbt_redis_kill(&t->r, SIGKILL);
    int64_t t0 = lbt_now_ms();
    code = fx_import_wait_exit(pid, 60000);
    int64_t took = lbt_now_ms() - t0;
    if (code != 3) {
        fx_import_dump_log(t);
        fail_msg("logbridge exited %d, want 3", code);
    }
    assert_true(took >= 900); /* it did retry for about --retry-for */
    size_t n;
    char *log = lbt_read_file(t->log, &n);
    assert_non_null(log);
    if (iu_count_lines_with(log, t->r.sock) < 1 || iu_count_lines_with(log, "error") < 1)
        fail_msg("the error should name the address %s: %s", t->r.sock, log);
    free(log);

    assert_int_equal(lbt_redis_restart(&t->r), 0);
    reconnect(t);
    size_t line;
    check_prefix(t, "rd", "logbridge:dlq:{rd}", "logbridge:ckpt:{rd}", &line);
    uint64_t off = t->f.lines[line].off;
    printf("  gave up with the checkpoint at line %zu (off %" PRIu64 ")\n", line, off);
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "rd", "--max-line", "4096",
                "--summary", "json", "--no-progress", t->path, NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("rerun exited %d: %s", rc, err);
    cJSON *sum = iu_summary(out);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)off);
    cJSON_Delete(sum);
    fx_import_verify_all(t, "rd", "logbridge:dlq:{rd}", t->path);
}

/* Connections killed under the import (CLIENT KILL): the batches in flight
 * either landed or not, and the import finds out from the checkpoint. */
static void import_rides_out_killed_connections(void **state)
{
    struct fx_import *t = *state;
    gen(t, 100000, "import_rides_out_killed_connections");
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "ck", "--batch", "200", "--max-line",
                "4096", "--retry-for", "30", "--no-progress", t->path, NULL);
    pid_t pid = fx_import_spawn(t, a.v, t->log);
    int code = -1, kills = 0, ended = 0;
    for (int k = 0; k < 15 * iu_scale(); k++) {
        uint64_t target = t->f.len / 16 * (uint64_t)(k + 1) + iu_below(&t->rng, t->f.len / 32);
        int w = wait_ckpt(t, "logbridge:ckpt:{ck}", t->path, target, pid, &code);
        assert_true(w >= 0);
        if (w == 0) {
            ended = 1;
            break;
        }
        if (iu_below(&t->rng, 2))
            lbt_sleep_ms((int)iu_below(&t->rng, 3));
        redisReply *rep = redisCommand(t->c, "CLIENT KILL TYPE normal SKIPME yes");
        assert_non_null(rep);
        kills += rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
        freeReplyObject(rep);
    }
    if (!ended)
        code = fx_import_wait_exit(pid, 120000);
    if (code != 0) {
        fx_import_dump_log(t);
        fail_msg("logbridge exited %d", code);
    }
    printf("  %d connections killed\n", kills);
    assert_true(kills >= 1);
    fx_import_verify_all(t, "ck", "logbridge:dlq:{ck}", t->path);
}

/* ---- writes refused ----------------------------------------------------------------- */

/* maxmemory reached mid-import: refused batches are retried for --retry-for,
 * then exit 3; the checkpoint matches what the
 * stream and DLQ hold; after memory is raised the rerun completes exactly. */
static void import_out_of_memory_keeps_the_checkpoint_exact(void **state)
{
    struct fx_import *t = *state;
    gen(t, 60000, "import_out_of_memory_keeps_the_checkpoint_exact");
    redisReply *rep = redisCommand(t->c, "INFO memory");
    assert_non_null(rep);
    const char *p = strstr(rep->str, "used_memory:");
    assert_non_null(p);
    long long used = atoll(p + 12);
    freeReplyObject(rep);
    char mm[32];
    snprintf(mm, sizeof(mm), "%lld", used + 3 * 1024 * 1024);
    assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "maxmemory", mm, NULL), 0);
    const char *modes[] = {"fast", "script"};
    for (int m = 0; m < 2; m++) {
        /* the script path, forced, must behave the same */
        if (m == 1)
            setenv("LOGBRIDGE_SINK_MODE", "script", 1);
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "om", "--batch", "250",
                    "--retry-for", "1", "--max-line", "4096", "--no-progress", t->path, NULL);
        int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        unsetenv("LOGBRIDGE_SINK_MODE");
        if (rc != 3)
            fail_msg("%s: exited %d, want 3 (out of memory): %s", modes[m], rc, err);
        size_t line;
        char why[1024];
        if (iu_check_prefix(t->c, &t->f, "om", "logbridge:dlq:{om}", "logbridge:ckpt:{om}", t->path,
                            &line, why, sizeof(why)) != 0)
            fail_msg("%s: %s", modes[m], why);
        printf("  %s: stopped at line %zu of %zu\n", modes[m], line, t->f.n);
        assert_true(line < t->f.n);
        /* some room, for the second mode to get a bit further */
        snprintf(mm, sizeof(mm), "%lld", used + 6 * 1024 * 1024);
        assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "maxmemory", mm, NULL), 0);
    }
    assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "maxmemory", "0", NULL), 0);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "om", "--max-line", "4096",
                "--no-progress", t->path, NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("rerun exited %d: %s", rc, err);
    fx_import_verify_all(t, "om", "logbridge:dlq:{om}", t->path);
}

/* The stream key holds a string: exit 3 naming the problem, nothing written. */
static void import_wrongtype_stream_exits_3_writing_nothing(void **state)
{
    struct fx_import *t = *state;
    gen(t, 3000, "import_wrongtype_stream_exits_3_writing_nothing");
    assert_int_equal(iu_cmd(t->c, "SET", "wt", "not a stream", NULL), 0);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "wt", "--max-line", "4096",
                "--no-progress", t->path, NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 3 || strstr(err, "WRONGTYPE") == NULL)
        fail_msg("exited %d, want 3 naming WRONGTYPE: %s", rc, err);
    assert_int_equal(iu_dbsize(t->c), 1); /* still only the string */
    assert_int_equal(iu_cmd(t->c, "DEL", "wt", NULL), 0);
    rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("rerun exited %d: %s", rc, err);
    fx_import_verify_all(t, "wt", "logbridge:dlq:{wt}", t->path);
}

/* A batch refused while the next one is already on its way: the next one
 * must not move the checkpoint past the refused lines (pipelined batches
 * must stay in order). Here the DLQ key is not a stream, so the batch with
 * the first bad line is refused, and the batches after it hold no bad line. */
static void import_refused_batch_is_not_skipped_by_the_next(void **state)
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
        iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "rb", "--batch", "100",
                    "--no-progress", t->path, NULL);
        int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        unsetenv("LOGBRIDGE_SINK_MODE");
        if (rc != 3)
            fail_msg("%s: exited %d, want 3: %s", modes[m], rc, err);
        struct lb_ckpt ck;
        int have = iu_ckpt(t->c, "logbridge:ckpt:{rb}", t->path, &ck);
        assert_true(have >= 0);
        if (have == 1 && ck.line > 150)
            fail_msg("%s: the checkpoint moved to line %" PRIu64 " (off %" PRIu64
                     ") past line 151, which was never written (stream holds %lld entries)",
                     modes[m], ck.line, ck.off, lbt_xlen(t->c, "rb"));
        size_t v;
        iu_fix_counts(&t->f, have == 1 ? ck.line : 0, &v, NULL, NULL);
        assert_int_equal(lbt_xlen(t->c, "rb"), (long long)v);
        /* fixed: the rerun writes every line exactly once */
        assert_int_equal(iu_cmd(t->c, "DEL", "logbridge:dlq:{rb}", NULL), 0);
        rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        if (rc != 0)
            fail_msg("%s: rerun exited %d: %s", modes[m], rc, err);
        fx_import_verify_all(t, "rb", "logbridge:dlq:{rb}", t->path);
    }
}

/* The same with a template: one routed stream is not a stream. */
static void import_refused_template_batch_is_not_skipped(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 3000; i++) {
        char d[32];
        snprintf(d, sizeof(d), "i=%d", i);
        iu_fix_valid(&t->f, "web", "1750240800", INT64_C(1750240800000), i == 150 ? "pay" : "login",
                     d);
    }
    assert_int_equal(iu_fix_write(&t->f, t->path), 0);
    assert_int_equal(iu_cmd(t->c, "SET", "{tp}:pay", "not a stream", NULL), 0);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "{tp}:%{type}", "--batch", "100",
                "--no-progress", t->path, NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 3)
        fail_msg("exited %d, want 3: %s", rc, err);
    struct lb_ckpt ck;
    int have = iu_ckpt(t->c, "logbridge:ckpt:{tp}", t->path, &ck);
    if (have == 1 && ck.line > 150)
        fail_msg("the checkpoint moved to line %" PRIu64 " past line 151, which was never "
                 "written ({tp}:login holds %lld entries)",
                 ck.line, lbt_xlen(t->c, "{tp}:login"));
    assert_int_equal(iu_cmd(t->c, "DEL", "{tp}:pay", NULL), 0);
    rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("rerun exited %d: %s", rc, err);
    assert_int_equal(lbt_xlen(t->c, "{tp}:login"), 2999);
    assert_int_equal(lbt_xlen(t->c, "{tp}:pay"), 1);
}

/* Two imports of the same file into the same stream at the same time (an
 * operator's slip, or a retry loop in a cron job): whatever they do to each
 * other, no line may land twice; after they end, one more run leaves every
 * line exactly once. */
static void import_concurrent_runs_never_duplicate(void **state)
{
    struct fx_import *t = *state;
    gen(t, 60000, "import_concurrent_runs_never_duplicate");
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "cc", "--batch", "200",
                "--no-progress", t->path, NULL);
    pid_t p1 = fx_import_spawn(t, a.v, t->log), p2 = fx_import_spawn(t, a.v, t->log);
    int c1 = fx_import_wait_exit(p1, 120000), c2 = fx_import_wait_exit(p2, 120000);
    printf("  exit codes %d and %d\n", c1, c2);
    assert_true(c1 == 0 || c1 == 3);
    assert_true(c2 == 0 || c2 == 3);
    size_t line;
    check_prefix(t, "cc", "logbridge:dlq:{cc}", "logbridge:ckpt:{cc}", &line);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("the run after exited %d: %s", rc, err);
    fx_import_verify_all(t, "cc", "logbridge:dlq:{cc}", t->path);
}

/* ---- passwords ------------------------------------------------------------------------ */

static int port_of_fx;

static int fx_setup_tcp(void **state)
{
    port_of_fx = lbt_free_port();
    if (port_of_fx <= 0)
        return -1;
    char extra[64];
    snprintf(extra, sizeof(extra), "--port %d --bind 127.0.0.1", port_of_fx);
    return fx_import_setup_sized(state, sizeof(struct fx_import), 0, extra);
}

static int run_timed(const struct iu_args *a, int64_t *ms)
{
    int64_t t0 = lbt_now_ms();
    int rc = lbt_run(a->v, out, sizeof(out), err, sizeof(err), NULL, 0);
    *ms = lbt_now_ms() - t0;
    return rc;
}

/* The README's ACL user for logbridge, exactly as written there, over the
 * unix socket: import in both batch shapes and tail write every line once.
 * (The fast path's length note lives in the checkpoint hash: +@hash.) */
static void import_and_tail_under_the_readme_acl_user(void **state)
{
    struct fx_import *t = *state;
    gen(t, 5000, "import_and_tail_under_the_readme_acl_user");
    assert_int_equal(iu_cmd(t->c, "ACL", "SETUSER", "logbridge", "on", ">SECRET", "~*", "-@all",
                            "+@stream", "+@hash", "+@scripting", "+@transaction", "+@connection",
                            "+select", "+type", NULL),
                     0);
    char url[600];
    snprintf(url, sizeof(url), "%s?user=logbridge", t->r.url);
    setenv("LOGBRIDGE_REDIS_PASSWORD", "SECRET", 1);
    const char *modes[] = {"fast", "script"};
    const char *streams[] = {"acl1", "acl2"};
    for (int m = 0; m < 2; m++) {
        if (m == 1)
            setenv("LOGBRIDGE_SINK_MODE", "script", 1);
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, "import", "--redis", url, "--stream", streams[m], "--batch", "500",
                    "--no-progress", t->path, NULL);
        int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
        unsetenv("LOGBRIDGE_SINK_MODE");
        if (rc != 0)
            fail_msg("%s: import as the README's ACL user exited %d: %s", modes[m], rc, err);
        char dlq[64];
        snprintf(dlq, sizeof(dlq), "logbridge:dlq:{%s}", streams[m]);
        fx_import_verify_all(t, streams[m], dlq, t->path);
    }
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "tail", "--redis", url, "--stream", "acl3", "--batch", "500", "--once", t->path,
                NULL);
    int rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    if (rc != 0)
        fail_msg("tail as the README's ACL user exited %d: %s", rc, err);
    fx_import_verify_all(t, "acl3", "logbridge:dlq:{acl3}", t->path);
}

/* An ACL user over the unix socket (unix:///path?user=NAME, the password
 * from LOGBRIDGE_REDIS_PASSWORD) with a wrong password: exit 3 at once in
 * import (not retried for --retry-for) and in tail (which retries a lost
 * server forever), naming the socket and the user, never the password;
 * nothing written. The right password then works. */
static void import_acl_user_over_a_unix_socket_wrong_password_exits_3(void **state)
{
    struct fx_import *t = *state;
    gen(t, 200, "import_acl_user_over_a_unix_socket_wrong_password_exits_3");
    assert_int_equal(iu_cmd(t->c, "ACL", "SETUSER", "sockuser", "on", ">sockpass", "~*", "-@all",
                            "+@stream", "+@hash", "+@scripting", "+@transaction", "+@connection",
                            "+select", "+type", NULL),
                     0);
    char url[600];
    snprintf(url, sizeof(url), "%s?user=sockuser", t->r.url);
    setenv("LOGBRIDGE_REDIS_PASSWORD", "n0t-the-pass", 1);
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", url, "--stream", "su", "--retry-for", "30",
                "--no-progress", t->path, NULL);
    int64_t ms;
    int rc = run_timed(&a, &ms);
    if (rc != 3 || ms >= 10000 || strstr(err, t->r.sock) == NULL ||
        strstr(err, "sockuser") == NULL || strstr(err, "n0t-the-pass") != NULL)
        fail_msg("import: exit %d after %lld ms, want 3 at once naming %s and user sockuser "
                 "(and not the password): %s",
                 rc, (long long)ms, t->r.sock, err);
    /* tail follows: a refused password must not be waited out like a lost server */
    iu_args_init(&a);
    iu_args_add(&a, "tail", "--redis", url, "--stream", "su", t->path, NULL);
    int64_t t0 = lbt_now_ms();
    pid_t pid = fx_import_spawn(t, a.v, t->log);
    assert_true(pid > 0);
    rc = fx_import_wait_exit(pid, 20000);
    ms = lbt_now_ms() - t0;
    char *log = lbt_read_file(t->log, NULL);
    assert_non_null(log);
    if (rc != 3 || ms >= 10000 || strstr(log, t->r.sock) == NULL ||
        strstr(log, "sockuser") == NULL || strstr(log, "n0t-the-pass") != NULL) {
        fx_import_dump_log(t);
        fail_msg("tail: exit %d after %lld ms, want 3 at once naming %s and user sockuser", rc,
                 (long long)ms, t->r.sock);
    }
    free(log);
    assert_int_equal(iu_dbsize(t->c), 0);
    setenv("LOGBRIDGE_REDIS_PASSWORD", "sockpass", 1);
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", url, "--stream", "su", "--no-progress", t->path, NULL);
    rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    if (rc != 0)
        fail_msg("the right password: exit %d: %s", rc, err);
    fx_import_verify_all(t, "su", "logbridge:dlq:{su}", t->path);
}

static void import_refused_password_exits_3_at_once(void **state)
{
    struct fx_import *t = *state;
    gen(t, 100, "import_refused_password_exits_3_at_once");
    /* requirepass set after start: the support's readiness PING has no password */
    assert_int_equal(iu_cmd(t->c, "CONFIG", "SET", "requirepass", "secret", NULL), 0);
    assert_int_equal(
        iu_cmd(t->c, "ACL", "SETUSER", "bob", "on", ">bobpass", "~*", "&*", "+@all", NULL), 0);
    char tcp[64], bob_bad[128], bob_ok[128];
    snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", port_of_fx);
    snprintf(bob_bad, sizeof(bob_bad), "redis://bob:wrong@%s", tcp);
    snprintf(bob_ok, sizeof(bob_ok), "redis://bob:bobpass@%s/0", tcp);
    struct iu_args a;
    int64_t ms;

    /* no password at all (NOAUTH) */
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "pw", "--retry-for", "30",
                "--no-progress", t->path, NULL);
    int rc = run_timed(&a, &ms);
    if (rc != 3 || strstr(err, t->r.sock) == NULL || strstr(err, "default") == NULL)
        fail_msg("no password: exit %d, want 3 naming %s and user default: %s", rc, t->r.sock, err);
    assert_true(ms < 10000); /* not retried for --retry-for 30 */

    /* a wrong password from the environment */
    setenv("LOGBRIDGE_REDIS_PASSWORD", "wrong", 1);
    rc = run_timed(&a, &ms);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    if (rc != 3 || strstr(err, t->r.sock) == NULL || strstr(err, "default") == NULL)
        fail_msg("wrong password: exit %d, want 3 naming %s and user default: %s", rc, t->r.sock,
                 err);
    assert_true(ms < 10000);
    assert_null(strstr(err, "wrong")); /* never the password itself */

    /* a user and a wrong password in the URL */
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", bob_bad, "--stream", "pw", "--retry-for", "30",
                "--no-progress", t->path, NULL);
    rc = run_timed(&a, &ms);
    if (rc != 3 || strstr(err, tcp) == NULL || strstr(err, "bob") == NULL)
        fail_msg("bob: exit %d, want 3 naming %s and user bob: %s", rc, tcp, err);
    assert_true(ms < 10000);
    assert_int_equal(iu_cmd(t->c, "AUTH", "secret", NULL), 0);
    assert_int_equal(iu_dbsize(t->c), 0);

    /* the right one from the environment works */
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "pw", "--max-line", "4096",
                "--no-progress", t->path, NULL);
    setenv("LOGBRIDGE_REDIS_PASSWORD", "secret", 1);
    rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    if (rc != 0)
        fail_msg("right password: exit %d: %s", rc, err);
    assert_null(strstr(err, "command line")); /* no warning: it was not in the URL */
    fx_import_verify_all(t, "pw", "logbridge:dlq:{pw}", t->path);

    /* and in the URL it works too, with a warning that ps shows it */
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", bob_ok, "--stream", "pw2", "--max-line", "4096",
                "--no-progress", t->path, NULL);
    rc = lbt_run(a.v, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("bob's right password: exit %d: %s", rc, err);
    if (strstr(err, "LOGBRIDGE_REDIS_PASSWORD") == NULL)
        fail_msg("no warning about the password on the command line: %s", err);
    assert_null(strstr(err, "bobpass"));
    fx_import_verify_all(t, "pw2", "logbridge:dlq:{pw2}", t->path);
}

/* ---- unreachable ------------------------------------------------------------------------ */

static void import_unreachable_redis_exits_3_naming_the_address(void **state)
{
    struct fx_import *t = *state;
    gen(t, 10, "import_unreachable_redis_exits_3_naming_the_address");
    char sock[600], sockurl[700], tcp[64], tcpurl[128];
    snprintf(sock, sizeof(sock), "%s/no-such-dir/redis.sock", t->dir);
    snprintf(sockurl, sizeof(sockurl), "unix://%s", sock);
    int port = lbt_free_port();
    snprintf(tcp, sizeof(tcp), "127.0.0.1:%d", port);
    snprintf(tcpurl, sizeof(tcpurl), "redis://%s", tcp);
    const char *urls[] = {sockurl, tcpurl}, *addrs[] = {sock, tcp};
    for (int k = 0; k < 2; k++) {
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, "import", "--redis", urls[k], "--stream", "un", "--retry-for", "1",
                    "--no-progress", t->path, NULL);
        int64_t ms;
        int rc = run_timed(&a, &ms);
        if (rc != 3)
            fail_msg("%s: exit %d, want 3: %s", urls[k], rc, err);
        assert_true(ms >= 900); /* after --retry-for, not at once */
        assert_true(ms < 20000);
        /* one error line, and it names the address */
        if (iu_count_lines_with(err, " error") != 1)
            fail_msg("%s: want exactly one error line: %s", urls[k], err);
        const char *e = strstr(err, " error");
        const char *nl = strchr(e, '\n');
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)(nl ? nl - e : (long)strlen(e)), e);
        if (strstr(line, addrs[k]) == NULL)
            fail_msg("the error line does not name %s: %s", addrs[k], line);
        /* and says why, once, legibly */
        const char *why = k == 0 ? "No such file or directory" : "Connection refused";
        if (strstr(line, why) == NULL || iu_count_lines_with(line, "unreachable") != 1 ||
            strstr(strstr(line, "unreachable") + 1, "unreachable") != NULL)
            fail_msg("the error line should give the reason (%s) once: %s", why, line);
    }
    /* --retry-for 0: one attempt */
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", sockurl, "--stream", "un", "--retry-for", "0",
                "--no-progress", t->path, NULL);
    int64_t ms;
    assert_int_equal(run_timed(&a, &ms), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(import_survives_redis_sigkill_with_aof, fx_import_setup_aof,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_redis_down_past_retry_for_exits_3,
                                        fx_import_setup_aof, fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_rides_out_killed_connections, fx_import_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_out_of_memory_keeps_the_checkpoint_exact,
                                        fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_wrongtype_stream_exits_3_writing_nothing,
                                        fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_refused_batch_is_not_skipped_by_the_next,
                                        fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_refused_template_batch_is_not_skipped,
                                        fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_concurrent_runs_never_duplicate, fx_import_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_and_tail_under_the_readme_acl_user, fx_import_setup,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_acl_user_over_a_unix_socket_wrong_password_exits_3,
                                        fx_import_setup, fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_refused_password_exits_3_at_once, fx_setup_tcp,
                                        fx_import_teardown),
        cmocka_unit_test_setup_teardown(import_unreachable_redis_exits_3_naming_the_address,
                                        fx_import_setup, fx_import_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
