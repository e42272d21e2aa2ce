/*
 * test_mirror_crash.c - DESIGN.md 4.2, stream -> file exactly once across
 * kill -9 at any instant: a 200k-entry backlog (both encodings mixed) is
 * mirrored by processes killed at random moments (seeded; the seed is printed
 * and LB_TEST_SEED repeats a run), with random --batch and --fsync, at least
 * 20 rounds (x LB_TEST_SCALE). After every kill the file must be a byte
 * prefix of the expected lines and the checkpoint must describe a prefix of
 * it that ends at the line of the recorded id; at the end the file must equal
 * the expected lines byte for byte. A second test kills mirrors while entries
 * keep arriving.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fx_mirror.h"
#include "import_util.h"
#include "lbtest.h"

static int setup(void **state)
{
    return fx_mirror_setup_named(state, 0, "crash", "mirror.log");
}

/* ---- entries ------------------------------------------------------------------------- */

/* Add standard lines [from, from+n): every 7th in the json encoding, the rest
 * as fields; their IDs are kept in f->ids. Pipelined in chunks. */
static void add_entries(struct fx_mirror *f, long from, long n)
{
    const long chunk = 5000;
    for (long base = from; base < from + n; base += chunk) {
        long end = base + chunk < from + n ? base + chunk : from + n;
        for (long i = base; i < end; i++) {
            char parts[4][256], off[32];
            lbt_line_fields(i, parts);
            snprintf(off, sizeof(off), "%ld", i * 64);
            if (i % 7 == 0) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "role", parts[0]);
                cJSON_AddStringToObject(o, "timestamp", parts[1]);
                cJSON_AddStringToObject(o, "type", parts[2]);
                cJSON_AddStringToObject(o, "data", parts[3]);
                cJSON_AddStringToObject(o, "src", "/var/log/app.log");
                cJSON_AddNumberToObject(o, "off", (double)(i * 64));
                char *js = cJSON_PrintUnformatted(o);
                redisAppendCommand(f->c, "XADD %s * json_payload %s", f->stream, js);
                free(js);
                cJSON_Delete(o);
            } else {
                const char *argv[] = {
                    "XADD", f->stream, "*",    "role",   parts[0], "timestamp",        parts[1],
                    "type", parts[2],  "data", parts[3], "src",    "/var/log/app.log", "off",
                    off};
                redisAppendCommandArgv(f->c, 15, argv, NULL);
            }
        }
        for (long i = base; i < end; i++) {
            void *rv = NULL;
            assert_int_equal(redisGetReply(f->c, &rv), REDIS_OK);
            redisReply *r = rv;
            assert_int_equal(r->type, REDIS_REPLY_STRING);
            mu_keep_id(f, r->str);
            freeReplyObject(r);
        }
    }
}

/* After a kill: the file is a byte prefix of the expected lines (a partial
 * batch past the checkpoint is allowed: the next start cuts it back), and the
 * checkpoint, when present, covers whole lines ending at its id's line.
 * Returns the file size. */
static size_t check_after_kill(struct fx_mirror *f, const char *want, size_t wn, int round)
{
    size_t n = 0;
    char *got = lbt_read_file(f->file, &n);
    if (got == NULL)
        return 0; /* killed before it created the file */
    if (n > wn || memcmp(got, want, n) != 0) {
        size_t i = 0;
        while (i < n && i < wn && got[i] == want[i])
            i++;
        fail_msg("round %d: the file (%zu bytes) is not a prefix of the expected lines: first "
                 "difference at byte %zu: '%.50s'",
                 round, n, i, got + i);
    }
    redisReply *r = redisCommand(f->c, "HGET %s %s", f->key, f->file);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING) {
        cJSON *j = cJSON_Parse(r->str);
        assert_non_null(j);
        const char *id = cJSON_GetObjectItem(j, "id")->valuestring;
        size_t size = (size_t)cJSON_GetObjectItem(j, "size")->valuedouble;
        if (size > n)
            fail_msg("round %d: checkpoint size %zu > file size %zu", round, size, n);
        long lines = 0;
        for (size_t i = 0; i < size; i++)
            lines += got[i] == '\n';
        if (size > 0 && got[size - 1] != '\n')
            fail_msg("round %d: checkpoint size %zu is inside a line", round, size);
        const char *want_id = lines == 0 ? "0-0" : f->ids[lines - 1];
        if (strcmp(id, want_id) != 0)
            fail_msg("round %d: checkpoint id %s, but %ld lines are recorded (id %s)", round, id,
                     lines, want_id);
        cJSON_Delete(j);
    }
    freeReplyObject(r);
    free(got);
    return n;
}

static pid_t spawn(struct fx_mirror *f, const char *batch, const char *fsync, int once)
{
    const char *args[] = {"mirror",  "--redis",
                          f->r.url,  "--stream",
                          f->stream, "--file",
                          f->file,   "--batch",
                          batch,     "--fsync",
                          fsync,     "--log-level",
                          "warn",    once ? "--once" : NULL,
                          NULL};
    pid_t p = lbt_spawn(args, f->log);
    assert_true(p > 0);
    return p;
}

static void finish_and_compare(struct fx_mirror *f, const char *want, size_t wn)
{
    const char *args[] = {"mirror", "--redis", f->r.url, "--stream", f->stream,
                          "--file", f->file,   "--once", NULL};
    char err[8192];
    int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("final mirror --once exited %d: %s", rc, err);
    size_t n = 0;
    char *got = lbt_read_file(f->file, &n);
    assert_non_null(got);
    if (n != wn || memcmp(got, want, n) != 0) {
        size_t i = 0;
        while (i < n && i < wn && got[i] == want[i])
            i++;
        fail_msg("the file has %zu bytes, expected %zu; first difference at byte %zu: '%.50s'", n,
                 wn, i, i < n ? got + i : "");
    }
    free(got);
    redisReply *r = redisCommand(f->c, "HGET %s %s", f->key, f->file);
    assert_true(r != NULL && r->type == REDIS_REPLY_STRING);
    cJSON *j = cJSON_Parse(r->str);
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, f->ids[f->nids - 1]);
    assert_true(cJSON_GetObjectItem(j, "size")->valuedouble == (double)wn);
    cJSON_Delete(j);
    freeReplyObject(r);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void mirror_exactly_once_across_kill9_in_a_backlog(void **state)
{
    struct fx_mirror *f = *state;
    struct iu_rng seed = {iu_seed("mirror_exactly_once_across_kill9_in_a_backlog")};
    const long n = 200000L * iu_scale();
    const int rounds = 20 * iu_scale() + 4;
    add_entries(f, 0, n);
    size_t wn;
    char *want = mu_std_lines(0, n, &wn);
    static const char *const batches[] = {"1", "10", "100", "1000", "5000"};
    static const char *const fsyncs[] = {"batch", "never", "batch", "always"};
    /* Kill points are random points of progress (the file crossing a random
     * size, then a random 0-2 ms more), so that the kills spread over the
     * whole backlog whatever the speed of the machine (ASan, a loaded CI) and
     * of the options (--batch 1 --fsync always is 1000x slower than 5000). */
    size_t size = 0;
    int progressed = 0;
    for (int round = 0; round < rounds; round++) {
        const char *batch = batches[iu_below(&seed, 5)];
        const char *fsync = fsyncs[iu_below(&seed, 4)];
        int once = (int)iu_below(&seed, 2);
        size_t per = (wn - size) / (size_t)(rounds - round + 2) + 1;
        /* a sync or a round trip per entry or so is slow: small steps */
        int slow = strcmp(fsync, "always") == 0 || !strcmp(batch, "1") || !strcmp(batch, "10");
        if (slow && per > 16384)
            per = 16384;
        size_t target = size + 1 + (size_t)iu_below(&seed, 2 * per);
        int startup = iu_below(&seed, 6) == 0;
        pid_t p = spawn(f, batch, fsync, once);
        int64_t t0 = lbt_now_ms();
        if (startup) {
            /* during start-up: the checkpoint load, cut back, first HSET */
            lbt_sleep_ms((int)iu_below(&seed, 4));
        } else {
            struct stat st;
            while (lbt_now_ms() - t0 < 20000 &&
                   (stat(f->file, &st) != 0 || (size_t)st.st_size < target)) {
                struct timespec ts = {0, 200000};
                nanosleep(&ts, NULL);
            }
            lbt_sleep_ms((int)iu_below(&seed, 3));
        }
        kill(p, SIGKILL);
        lbt_wait(p);
        size_t now = check_after_kill(f, want, wn, round);
        printf("round %2d: --batch %-4s --fsync %-6s %s kill %s after %4d ms: file %zu bytes\n",
               round, batch, fsync, once ? "--once" : "live  ",
               startup ? "in start-up" : "at progress", (int)(lbt_now_ms() - t0), now);
        progressed += now > size;
        size = now;
    }
    /* the kills must have hit a mirror at work, not only before or after */
    assert_true(progressed >= 3);
    assert_true(size < wn);
    finish_and_compare(f, want, wn);
    free(want);
}

static void mirror_exactly_once_across_kill9_while_entries_arrive(void **state)
{
    struct fx_mirror *f = *state;
    struct iu_rng seed = {iu_seed("mirror_exactly_once_across_kill9_while_entries_arrive")};
    const int rounds = 20 * iu_scale();
    long total = 0;
    size_t wn = 0;
    char *want = NULL;
    for (int round = 0; round < rounds; round++) {
        long before = (long)iu_below(&seed, 500);
        add_entries(f, total, before);
        total += before;
        pid_t p = spawn(f, iu_below(&seed, 2) ? "1000" : "20", "batch", 0);
        lbt_sleep_ms((int)iu_below(&seed, 15));
        long during = (long)iu_below(&seed, 3000);
        add_entries(f, total, during);
        total += during;
        lbt_sleep_ms((int)iu_below(&seed, 15));
        kill(p, SIGKILL);
        lbt_wait(p);
        free(want);
        want = mu_std_lines(0, total, &wn);
        size_t now = check_after_kill(f, want, wn, round);
        printf("round %2d: %ld entries in the stream, file %zu of %zu bytes\n", round, total, now,
               wn);
    }
    finish_and_compare(f, want, wn);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mirror_exactly_once_across_kill9_in_a_backlog, setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_exactly_once_across_kill9_while_entries_arrive,
                                        setup, fx_mirror_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
