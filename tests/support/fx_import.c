/*
 * fx_import.c - the fixture of the `logbridge import` tests (fx_import.h).
 */
#include "fx_import.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <cmocka.h>

int fx_import_group_setup(void **state)
{
    struct lbt_redis *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -1;
    if (lbt_redis_start(r, 0) != 0) {
        free(r);
        return -1;
    }
    *state = r;
    return 0;
}

int fx_import_group_teardown(void **state)
{
    struct lbt_redis *r = *state;
    if (r != NULL)
        lbt_redis_stop(r, 1);
    free(r);
    return 0;
}

/* The temp dir, its paths and the client; r is set. */
static int fx_open(struct fx_import *t)
{
    iu_fix_init(&t->f);
    iu_fix_init(&t->f2);
    t->out = calloc(1, FX_IMPORT_OUTCAP);
    t->err = calloc(1, FX_IMPORT_OUTCAP);
    if (t->out == NULL || t->err == NULL)
        return -1;
    if ((t->c = lbt_connect(&t->r)) == NULL || lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/app.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/logbridge.log", t->dir);
    return 0;
}

int fx_import_setup_shared(void **state)
{
    return fx_import_setup_shared_sized(state, sizeof(struct fx_import));
}

int fx_import_setup_shared_sized(void **state, size_t size)
{
    struct fx_import *t = calloc(1, size);
    if (t == NULL)
        return -1;
    t->shared = *state;
    t->r = *t->shared;
    *state = t;
    if (fx_open(t) != 0 || iu_cmd(t->c, "FLUSHALL", NULL) != 0 ||
        iu_cmd(t->c, "CONFIG", "RESETSTAT", NULL) != 0)
        return -1;
    return 0;
}

int fx_import_setup_sized(void **state, size_t size, int aof, const char *extra)
{
    struct fx_import *t = calloc(1, size);
    if (t == NULL)
        return -1;
    *state = t;
    snprintf(t->r.extra, sizeof(t->r.extra), "%s", extra ? extra : "");
    if (lbt_redis_start(&t->r, aof) != 0)
        return -1;
    t->own_server = 1;
    return fx_open(t);
}

int fx_import_setup(void **state)
{
    return fx_import_setup_sized(state, sizeof(struct fx_import), 0, NULL);
}

int fx_import_setup_aof(void **state)
{
    return fx_import_setup_sized(state, sizeof(struct fx_import), 1, NULL);
}

int fx_import_teardown(void **state)
{
    struct fx_import *t = *state;
    if (t == NULL)
        return 0;
    if (t->c)
        redisFree(t->c);
    /* a failed assertion can leave a spawned logbridge running: only our
     * own children that have not been reaped yet are killed */
    for (int i = 0; i < t->nkids && i < FX_IMPORT_KIDS; i++)
        if (waitpid(t->kids[i], NULL, WNOHANG) == 0) {
            kill(t->kids[i], SIGKILL);
            waitpid(t->kids[i], NULL, 0);
        }
    if (t->own_server)
        lbt_redis_stop(&t->r, 1);
    if (t->dir[0] != '\0')
        lbt_rmdir(t->dir);
    iu_fix_free(&t->f);
    iu_fix_free(&t->f2);
    free(t->out);
    free(t->err);
    *state = t->shared; /* the group's server for the next test */
    free(t);
    return 0;
}

/* Remember a spawned logbridge for the teardown. */
static pid_t fx_import_kid(struct fx_import *t, pid_t pid)
{
    /* the last ones are the ones that may still run: keep those */
    if (pid > 0)
        t->kids[t->nkids++ % FX_IMPORT_KIDS] = pid;
    return pid;
}

pid_t fx_import_spawn(struct fx_import *t, const char *const *args, const char *log)
{
    return fx_import_kid(t, lbt_spawn(args, log));
}

pid_t fx_import_spawn_piped(struct fx_import *t, const char *const *args, const char *log,
                            int *stdin_w)
{
    return fx_import_kid(t, lbt_spawn_piped(args, log, stdin_w));
}

int fx_import_wait_exit(pid_t pid, int timeout_ms)
{
    int64_t end = lbt_now_ms() + timeout_ms;
    int code;
    while (!iu_try_wait(pid, &code)) {
        if (lbt_now_ms() > end) {
            kill(pid, SIGKILL);
            lbt_wait(pid);
            return -1;
        }
        lbt_sleep_ms(5);
    }
    return code;
}

void fx_import_dump_log(const struct fx_import *t)
{
    size_t n = 0;
    char *s = lbt_read_file(t->log, &n);
    if (s != NULL)
        fprintf(stderr, "--- end of logbridge's log:\n%s\n---\n", n > 3000 ? s + n - 3000 : s);
    free(s);
}

void fx_import_verify_all(struct fx_import *t, const char *stream, const char *dlq, const char *src)
{
    char why[4096];
    struct iu_expect x = {stream, dlq, src, 1, 0, NULL, 0, 0, t->f.n, 0, 0};
    if (iu_verify(t->c, &t->f, &x, why, sizeof(why)) != 0) {
        fx_import_dump_log(t);
        fail_msg("%s", why);
    }
}

int fx_import_run(struct fx_import *t, const char *in, size_t inlen, ...)
{
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--no-progress", NULL);
    va_list ap;
    va_start(ap, inlen);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        iu_args_add(&a, s, NULL);
    va_end(ap);
    return lbt_run(a.v, t->out, FX_IMPORT_OUTCAP, t->err, FX_IMPORT_OUTCAP, in, inlen);
}

void fx_import_expect_rc(const struct fx_import *t, int rc, int want)
{
    if (rc != want)
        fail_msg("logbridge exited %d, want %d\nstdout: %.2000s\nstderr: %.4000s", rc, want, t->out,
                 t->err);
}

void fx_import_write_fix(struct fx_import *t)
{
    assert_int_equal(iu_fix_write(&t->f, t->path), 0);
}

void fx_import_verify(struct fx_import *t, const char *stream, const char *dlq, const char *src,
                      size_t from, size_t upto)
{
    struct iu_expect x = {stream, dlq, src, 1, 0, NULL, 0, from, upto, 0, 0};
    fx_import_verify_x(t, &x);
}

void fx_import_verify_x(struct fx_import *t, const struct iu_expect *x)
{
    char why[4096];
    if (iu_verify(t->c, &t->f, x, why, sizeof(why)) != 0)
        fail_msg("%s\nstderr: %.2000s", why, t->err);
}

void fx_import_check_ckpt(struct fx_import *t, const char *key, const char *src, size_t upto,
                          const char *path, const char *last_id)
{
    char why[1024];
    if (iu_check_ckpt(t->c, key, src, &t->f, upto, path, last_id, why, sizeof(why)) != 0)
        fail_msg("%s", why);
}

void fx_import_check_summary(const struct fx_import *t, size_t from, size_t upto, int partial)
{
    cJSON *sum = iu_summary(t->out);
    if (sum == NULL)
        fail_msg("no JSON summary on stdout: %s", t->out);
    size_t v0, b0, k0, v1, b1, k1;
    iu_fix_counts(&t->f, from, &v0, &b0, &k0);
    iu_fix_counts(&t->f, upto, &v1, &b1, &k1);
    long long v = (long long)(v1 - v0), b = (long long)(b1 - b0), k = (long long)(k1 - k0);
    for (int file = -1; file <= 0; file++) {
        assert_int_equal((long long)iu_jnum(sum, file, "imported"), v);
        assert_int_equal((long long)iu_jnum(sum, file, "bad"), b);
        assert_int_equal((long long)iu_jnum(sum, file, "blank"), k);
        assert_int_equal((long long)iu_jnum(sum, file, "lines"), v + b + k);
        assert_int_equal((long long)iu_jnum(sum, file, "partial"), partial);
    }
    uint64_t from_off = from < t->f.n ? t->f.lines[from].off : t->f.len;
    uint64_t to_off = upto == 0 ? 0 : iu_fix_line_end(&t->f, upto - 1);
    assert_int_equal((long long)iu_jnum(sum, 0, "resumed_at"), (long long)from_off);
    assert_int_equal((long long)iu_jnum(sum, 0, "bytes"), (long long)(to_off - from_off));
    assert_true(iu_jnum(sum, -1, "seconds") >= 0);
    cJSON_Delete(sum);
}

void fx_import_add_mixed_lines(struct iu_fix *f)
{
    iu_fix_valid(f, "web", "2025-06-18T10:00:00Z", FX_IMPORT_T0, "login",
                 "quote \" backslash \\ slash /");
    iu_fix_valid(f, "w\"eb", "1750240801", FX_IMPORT_T0 + 1000, "t\\y",
                 "tab\there ctl\x01 del\x7f");
    iu_fix_bad(f, "not a line", "fields");
    iu_fix_valid(f, "web", "1750240802", FX_IMPORT_T0 + 2000, "t", "{\"already\":\"json\"}");
    iu_fix_valid(f, "web", "1750240803", FX_IMPORT_T0 + 3000, "t", "");
    iu_fix_valid(f, "web", "1750240804", FX_IMPORT_T0 + 4000, "t", "utf8 \xc3\xa9\xe2\x82\xac|bar");
}
