/*
 * test_job_signals.c - the one signal model (bridge/signals.c, job.c) seen
 * from outside: SIGTERM stops tail and run promptly while Redis is down
 * (a backoff of up to 5 s), exit 0. Every wait has a
 * deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lbtest.h"

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char log[320], file[320], cfg[320];
    pid_t pid;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_redis_start(&f->r, 0) != 0 || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    f->c = lbt_connect(&f->r);
    snprintf(f->log, sizeof(f->log), "%s/logbridge.log", f->dir);
    snprintf(f->file, sizeof(f->file), "%s/app.log", f->dir);
    snprintf(f->cfg, sizeof(f->cfg), "%s/config.json", f->dir);
    *state = f;
    return f->c ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        lbt_wait(f->pid);
    }
    if (f->c)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

/* Exit code of pid within ms, or -1 (still running: the caller's teardown
 * kills it). */
static int wait_exit(struct fx *f, int ms)
{
    int64_t end = lbt_now_ms() + ms;
    for (;;) {
        int st;
        pid_t p = waitpid(f->pid, &st, WNOHANG);
        if (p == f->pid) {
            f->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (lbt_now_ms() > end)
            return -1;
        lbt_sleep_ms(10);
    }
}

struct xlen_ctx {
    redisContext *c;
    long long want;
};

static int has_xlen(void *arg)
{
    struct xlen_ctx *x = arg;
    return lbt_xlen(x->c, "S") == x->want;
}

struct says_ctx {
    const char *path, *what;
};

static int log_says(void *arg)
{
    struct says_ctx *s = arg;
    char *text = lbt_read_file(s->path, NULL);
    int yes = text != NULL && strstr(text, s->what) != NULL;
    free(text);
    return yes;
}

static void fail_with_log(struct fx *f, const char *why)
{
    char *text = lbt_read_file(f->log, NULL);
    fail_msg("%s\n--- log ---\n%s", why, text ? text : "(none)");
}

/* tail while Redis is down (reading paused, a backoff of up to 5 s): SIGTERM
 * ends it within a second or two, exit 0. */
static void tail_sigterm_during_redis_outage_exits_0_promptly(void **state)
{
    struct fx *f = *state;
    const char lines[] = "r|2025-06-18T10:00:00Z|t|a\nr|2025-06-18T10:00:01Z|t|b\n";
    assert_int_equal(lbt_write_file(f->file, lines, sizeof(lines) - 1), 0);
    const char *args[] = {"tail", "--redis", f->r.url, "--stream", "S", f->file, NULL};
    f->pid = lbt_spawn(args, f->log);
    struct xlen_ctx x = {f->c, 2};
    if (!lbt_wait_for(has_xlen, &x, 10000))
        fail_with_log(f, "the 2 lines never landed");
    redisFree(f->c);
    f->c = NULL;
    lbt_redis_kill(&f->r, SIGKILL);
    assert_int_equal(lbt_append_file(f->file, lines, sizeof(lines) - 1), 0);
    struct says_ctx s = {f->log, "retrying"};
    if (!lbt_wait_for(log_says, &s, 15000))
        fail_with_log(f, "tail never noticed the outage");
    kill(f->pid, SIGTERM);
    int code = wait_exit(f, 3000);
    if (code != 0) {
        char why[64];
        snprintf(why, sizeof(why), "tail exited %d after SIGTERM (want 0 within 3 s)", code);
        fail_with_log(f, why);
    }
}

/* run (a tail and a mirror job) while Redis is down: SIGTERM ends every job
 * within a second or two, exit 0. */
static void run_sigterm_during_redis_outage_exits_0_promptly(void **state)
{
    struct fx *f = *state;
    const char lines[] = "r|2025-06-18T10:00:00Z|t|a\nr|2025-06-18T10:00:01Z|t|b\n";
    assert_int_equal(lbt_write_file(f->file, lines, sizeof(lines) - 1), 0);
    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "{\"redis\": \"%s\", \"log_file\": \"%s\",\n"
                     " \"tail\": [{\"stream\": \"S\", \"paths\": [\"%s\"]}],\n"
                     " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s/mirror.log\"}]}\n",
                     f->r.url, f->log, f->file, f->dir);
    assert_int_equal(lbt_write_file(f->cfg, text, (size_t)n), 0);
    const char *args[] = {"run", "--config", f->cfg, NULL};
    f->pid = lbt_spawn(args, NULL);
    struct xlen_ctx x = {f->c, 2};
    if (!lbt_wait_for(has_xlen, &x, 10000))
        fail_with_log(f, "the 2 lines never landed");
    redisFree(f->c);
    f->c = NULL;
    lbt_redis_kill(&f->r, SIGKILL);
    assert_int_equal(lbt_append_file(f->file, lines, sizeof(lines) - 1), 0);
    struct says_ctx s = {f->log, "retrying"};
    if (!lbt_wait_for(log_says, &s, 15000))
        fail_with_log(f, "run never noticed the outage");
    kill(f->pid, SIGTERM);
    int code = wait_exit(f, 3000);
    if (code != 0) {
        char why[64];
        snprintf(why, sizeof(why), "run exited %d after SIGTERM (want 0 within 3 s)", code);
        fail_with_log(f, why);
    }
    s.what = "run: stopped (exit 0)";
    assert_true(log_says(&s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_sigterm_during_redis_outage_exits_0_promptly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(run_sigterm_during_redis_outage_exits_0_promptly, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
