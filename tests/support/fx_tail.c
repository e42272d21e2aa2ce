/*
 * fx_tail.c - the fixture of the `logbridge tail` tests (see fx_tail.h).
 */
#include "fx_tail.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

int fx_tail_setup_sized(void **state, size_t size, int aof)
{
    struct fx_tail *t = calloc(1, size);
    if (t == NULL)
        return -1;
    *state = t;
    if (lbt_redis_start(&t->r, aof) != 0 || lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    t->c = lbt_connect(&t->r);
    if (t->c == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/app.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/logbridge.log", t->dir);
    snprintf(t->metrics, sizeof(t->metrics), "%s/metrics.prom", t->dir);
    return 0;
}

int fx_tail_setup(void **state)
{
    return fx_tail_setup_sized(state, sizeof(struct fx_tail), 0);
}

int fx_tail_setup_aof(void **state)
{
    return fx_tail_setup_sized(state, sizeof(struct fx_tail), 1);
}

int fx_tail_teardown(void **state)
{
    struct fx_tail *t = *state;
    if (t == NULL)
        return 0;
    if (t->writer > 0) {
        kill(t->writer, SIGKILL);
        lbt_wait(t->writer);
    }
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        lbt_wait(t->pid);
    }
    int bad = t->log[0] != '\0' ? tu_log_sane(t->log) : 0;
    if (t->c)
        redisFree(t->c);
    if (t->r.pid > 0)
        lbt_redis_stop(&t->r, 1);
    if (t->dir[0] != '\0')
        lbt_rmdir(t->dir);
    free(t);
    *state = NULL;
    return bad;
}

/* The arguments `tail --redis URL --stream s` and the rest of ap. */
static void tail_args(struct tu_args *a, const struct fx_tail *t, va_list ap)
{
    tu_args_init(a);
    tu_args_add(a, "tail", "--redis", t->r.url, "--stream", "s", NULL);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        tu_args_add(a, s, NULL);
}

int fx_tail_run(struct fx_tail *t, char *err, size_t errcap, ...)
{
    struct tu_args a;
    va_list ap;
    va_start(ap, errcap);
    tail_args(&a, t, ap);
    va_end(ap);
    int rc = lbt_run(a.v, NULL, 0, err, errcap, NULL, 0);
    if (err != NULL)
        assert_int_equal(tu_text_sane(err), 0);
    return rc;
}

void fx_tail_spawn(struct fx_tail *t, ...)
{
    struct tu_args a;
    va_list ap;
    va_start(ap, t);
    tail_args(&a, t, ap);
    va_end(ap);
    t->pid = lbt_spawn(a.v, t->log);
    assert_true(t->pid > 0);
}

int fx_tail_stop(struct fx_tail *t, int sig)
{
    kill(t->pid, sig);
    int rc = lbt_wait(t->pid);
    t->pid = 0;
    return rc;
}

void fx_tail_check_seq(struct fx_tail *t, const char *src, long n, int strict, size_t dump)
{
    char why[512];
    if (tu_check_seq(t->c, "s", src, n, strict, why, sizeof(why)) != 0) {
        tu_dump(t->log, dump);
        fail_msg("%s", why);
    }
}

void fx_tail_wait_xlen(struct fx_tail *t, long long n, int timeout_ms)
{
    if (!tu_wait_xlen(t->c, "s", n, timeout_ms)) {
        tu_dump(t->log, 3000);
        fail_msg("XLEN s = %lld, expected %lld", lbt_xlen(t->c, "s"), n);
    }
}
