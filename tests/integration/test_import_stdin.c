/*
 * test_import_stdin.c - `logbridge import -` fed by a pipe that stays open,
 * against a real redis-server: a producer that writes a few lines and pauses
 * has them committed within about a second (not once 256 KiB have gathered or
 * the pipe closes), SIGTERM stops an import that waits on an idle pipe with
 * every line it read committed exactly once, and gzip on stdin (several
 * members, as `cat a.gz b.gz` gives) is read like a .gz file.
 *
 * One redis-server serves the group; every test starts from FLUSHALL and
 * counts entries exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "fx_import.h"
#include "import_util.h"
#include "lbtest.h"

#define STDIN_COMMIT_MS 2000 /* "within about a second", with room for a loaded machine */
#define STDIN_STOP_MS 3000   /* SIGTERM -> exit */

/* ---- helpers ----------------------------------------------------------------------------- */

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* `import --stream S -` with stdin from a pipe; *w is its write end. */
static pid_t spawn_stdin(struct fx_import *t, const char *stream, int *w)
{
    const char *args[] = {"import",   "--redis", t->r.url, "--no-progress",
                          "--stream", stream,    "-",      NULL};
    pid_t pid = fx_import_spawn_piped(t, args, t->log, w);
    assert_true(pid > 0);
    return pid;
}

struct entries_wait {
    redisContext *c;
    const char *stream, *dlq;
    long long stream_n, dlq_n;
};

static int entries_reached(void *ctx)
{
    struct entries_wait *e = ctx;
    return lbt_xlen(e->c, e->stream) >= e->stream_n && lbt_xlen(e->c, e->dlq) >= e->dlq_n;
}

/* Nothing written to the pipe is left unread (FIONREAD on a pipe counts the
 * bytes buffered in it, from either end). */
static int pipe_drained(void *ctx)
{
    int n = -1;
    return ioctl(*(int *)ctx, FIONREAD, &n) == 0 && n == 0;
}

/* logbridge has connected to Redis: its signal thread runs (it starts before
 * the connection), so a SIGTERM is its to handle from here on. */
static int client_connected(void *ctx)
{
    redisReply *r = redisCommand(ctx, "CLIENT LIST");
    int n = 0;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        for (const char *p = r->str; (p = strchr(p, '\n')) != NULL; p++)
            n++;
    freeReplyObject(r);
    return n >= 2; /* this test's connection and logbridge's */
}

static void kill_and_fail(struct fx_import *t, pid_t pid, int w, const char *why)
{
    kill(pid, SIGKILL);
    lbt_wait(pid);
    close(w);
    fx_import_dump_log(t);
    fail_msg("%s", why);
}

/* ---- a producer that pauses ---------------------------------------------------------------- */

/* A few lines, then the pipe stays open with nothing more: they are committed
 * within about a second, exactly once; closing the pipe ends the import. */
static void import_stdin_idle_pipe_commits_its_lines_within_a_second(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {21};
    struct iu_gen g = {40, 100, 100, 0, 0, 0}; /* 40 lines, some bad, some blank */
    iu_fix_gen(&t->f, &g, &rng);
    size_t valid, bad;
    iu_fix_counts(&t->f, t->f.n, &valid, &bad, NULL);
    int w;
    pid_t pid = spawn_stdin(t, "idle", &w);
    int64_t t0 = lbt_now_ms();
    write_all(w, t->f.buf, t->f.len);
    struct entries_wait e = {t->c, "idle", "logbridge:dlq:{idle}", (long long)valid,
                             (long long)bad};
    if (!lbt_wait_for(entries_reached, &e, STDIN_COMMIT_MS)) {
        char why[256];
        snprintf(why, sizeof(why),
                 "%zu lines written to an open pipe: after %d ms the stream holds %lld of %zu "
                 "and the DLQ %lld of %zu",
                 t->f.n, STDIN_COMMIT_MS, lbt_xlen(t->c, "idle"), valid,
                 lbt_xlen(t->c, "logbridge:dlq:{idle}"), bad);
        kill_and_fail(t, pid, w, why);
    }
    printf("  %zu lines committed %" PRId64 " ms after they were written\n", t->f.n,
           lbt_now_ms() - t0);
    close(w);
    int code = fx_import_wait_exit(pid, 10000);
    if (code != 0) {
        fx_import_dump_log(t);
        fail_msg("import exited %d after its stdin closed (want 0)", code);
    }
    /* exactly once, in order, with their offsets in stdin */
    fx_import_verify(t, "idle", "logbridge:dlq:{idle}", "stdin", 0, t->f.n);
}

/* ---- SIGTERM while the pipe is idle ------------------------------------------------------------
 */

/* A stopped import exits 3 ("interrupted"; DESIGN.md section 5: not done)
 * within moments, whether it read nothing or some lines; those are
 * committed, exactly once. An unterminated line read before the stop is not
 * a line: not imported, and said so (stdin cannot be read again). */
static void import_stdin_sigterm_on_an_idle_pipe_stops_promptly(void **state)
{
    struct fx_import *t = *state;
    for (int round = 0; round < 2; round++) {
        const char *stream = round == 0 ? "quiet" : "paused";
        char dlq[64];
        snprintf(dlq, sizeof(dlq), "logbridge:dlq:{%s}", stream);
        iu_fix_free(&t->f);
        iu_fix_init(&t->f);
        if (round == 1) {
            struct iu_rng rng = {22};
            struct iu_gen g = {25, 100, 0, 0, 0, 0};
            iu_fix_gen(&t->f, &g, &rng);
        }
        int w;
        pid_t pid = spawn_stdin(t, stream, &w);
        if (!lbt_wait_for(client_connected, t->c, 10000))
            kill_and_fail(t, pid, w, "logbridge did not connect to redis within 10 s");
        write_all(w, t->f.buf, t->f.len);
        if (round == 1)
            write_all(w, "web|1750240800|t|half a li", 26);
        /* logbridge has read every byte: what it does with them is its own */
        if (!lbt_wait_for(pipe_drained, &w, 10000))
            kill_and_fail(t, pid, w, "logbridge did not read its stdin within 10 s");
        int64_t t0 = lbt_now_ms();
        kill(pid, SIGTERM);
        int code = fx_import_wait_exit(pid, STDIN_STOP_MS);
        int64_t took = lbt_now_ms() - t0;
        close(w);
        if (code != 3) {
            fx_import_dump_log(t);
            fail_msg("round %d (%zu lines, then an idle pipe): after SIGTERM import %s %d "
                     "(want exit 3 within %d ms)",
                     round, t->f.n, code < 0 ? "was still running: killed," : "exited", code,
                     STDIN_STOP_MS);
        }
        printf("  %zu lines, SIGTERM: exit 3 after %" PRId64 " ms\n", t->f.n, took);
        size_t n;
        char *log = lbt_read_file(t->log, &n);
        assert_non_null(log);
        assert_true(iu_count_lines_with(log, "interrupted") >= round + 1);
        assert_int_equal(iu_count_lines_with(log, "unterminated line read from stdin"), round);
        free(log);
        /* every line that came before the stop, exactly once */
        fx_import_verify(t, stream, dlq, "stdin", 0, t->f.n);
    }
}

/* ---- gzip on stdin ------------------------------------------------------------------------------
 */

/* `cat a.gz b.gz | logbridge import -`: both members, as from a .gz file. */
static void import_stdin_reads_gzip_members(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {23};
    struct iu_gen g = {3000, 10, 10, 10, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    /* two members: the fixture cut at a line boundary */
    size_t cut = (size_t)iu_fix_line_end(&t->f, t->f.n / 2);
    struct iu_fix a = {.buf = t->f.buf, .len = cut};
    struct iu_fix b = {.buf = t->f.buf + cut, .len = t->f.len - cut};
    char pa[600], pb[600];
    snprintf(pa, sizeof(pa), "%s/a.gz", t->dir);
    snprintf(pb, sizeof(pb), "%s/b.gz", t->dir);
    assert_int_equal(iu_fix_write_gz(&a, pa), 0);
    assert_int_equal(iu_fix_write_gz(&b, pb), 0);
    size_t na, nb;
    char *za = lbt_read_file(pa, &na), *zb = lbt_read_file(pb, &nb);
    assert_non_null(za);
    assert_non_null(zb);
    char *z = malloc(na + nb);
    assert_non_null(z);
    memcpy(z, za, na);
    memcpy(z + na, zb, nb);
    int rc = fx_import_run(t, z, na + nb, "--stream", "gzin", "--summary", "json", "-",
                           (const char *)NULL);
    free(za);
    free(zb);
    free(z);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, t->f.n, 0);
    fx_import_verify(t, "gzin", "logbridge:dlq:{gzin}", "stdin", 0, t->f.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_import_setup_shared, fx_import_teardown)
        T(import_stdin_idle_pipe_commits_its_lines_within_a_second),
        T(import_stdin_sigterm_on_an_idle_pipe_stops_promptly),
        T(import_stdin_reads_gzip_members),
#undef T
    };
    return cmocka_run_group_tests(tests, fx_import_group_setup, fx_import_group_teardown);
}
