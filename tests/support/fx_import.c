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
    if ((t->c = lbt_connect(&t->r)) == NULL || lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/app.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/logbridge.log", t->dir);
    return 0;
}

int fx_import_setup_shared(void **state)
{
    struct fx_import *t = calloc(1, sizeof(*t));
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
    *state = t->shared; /* the group's server for the next test */
    free(t);
    return 0;
}

pid_t fx_import_spawn(struct fx_import *t, const char *const *args, const char *log)
{
    pid_t pid = lbt_spawn(args, log);
    /* the last ones are the ones that may still run: keep those */
    if (pid > 0)
        t->kids[t->nkids++ % FX_IMPORT_KIDS] = pid;
    return pid;
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
