/*
 * test_mirror_writer.c - mirror into a file that another writer (a legacy
 * app) also appends to, mirror's own file as an entry's src, and Redis
 * refusing writes (OOM under maxmemory), against a real redis-server:
 *
 * - mirror_keeps_another_writers_lines_across_kill9: a writer process appends
 *   its own lines to the mirror file the whole time while mirrors are killed
 *   with -9 at random moments (seeded; LB_TEST_SEED repeats a run) and entries
 *   keep arriving. At the end every stream entry is in the file exactly once,
 *   in stream order, and every line the writer wrote is there exactly once.
 * - mirror_recognises_its_lines_among_foreign_ones: the same, built by hand:
 *   own lines after the checkpoint with foreign lines between them, and a torn
 *   own line at the end.
 * - mirror_refuses_entries_whose_src_is_its_file (by name, symlink, realpath).
 * - mirror_waits_out_oom_refusals: maxmemory 1 + noeviction while it runs
 *   (and a kill -9 during the refusal), then raised: the exact file.
 * - mirror_directory_sync_failure_is_an_error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lbt_prom.h"
#include "fx_mirror.h"
#include "import_util.h"
#include "lbtest.h"

static int setup(void **state)
{
    return fx_mirror_setup_named(state, 0, "ev", "app.log");
}

/* ---- entries and lines ------------------------------------------------------------ */

/* XADD standard line i with src; every 5th in the json encoding. Returns 0,
 * or -1 when Redis refused it (the reply's error in why). */
static int xadd_std(struct fx_mirror *f, long i, const char *src, char *why, size_t cap)
{
    char line[512], parts[4][256];
    lbt_line(line, sizeof(line), i);
    mu_split_line(line, parts);
    redisReply *r;
    if (i % 5 == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", parts[0]);
        cJSON_AddStringToObject(o, "timestamp", parts[1]);
        cJSON_AddStringToObject(o, "type", parts[2]);
        cJSON_AddStringToObject(o, "data", parts[3]);
        cJSON_AddStringToObject(o, "src", src);
        char *js = cJSON_PrintUnformatted(o);
        r = redisCommand(f->c, "XADD %s * json_payload %s", f->stream, js);
        free(js);
        cJSON_Delete(o);
    } else {
        const char *argv[] = {"XADD", f->stream, "*",    "role",   parts[0], "timestamp", parts[1],
                              "type", parts[2],  "data", parts[3], "src",    src};
        r = redisCommandArgv(f->c, 13, argv, NULL);
    }
    assert_non_null(r);
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING) {
        mu_keep_id(f, r->str);
    } else {
        snprintf(why, cap, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

static void add_std(struct fx_mirror *f, long from, long n)
{
    char why[256];
    for (long i = from; i < from + n; i++)
        if (xadd_std(f, i, "/var/log/other.log", why, sizeof(why)) != 0)
            fail_msg("XADD refused: %s", why);
}

static pid_t spawn_mirror(struct fx_mirror *f, const char *log, ...)
{
    static const char *args[40];
    int n = 0;
    args[n++] = "mirror";
    args[n++] = "--redis";
    args[n++] = f->r.url;
    args[n++] = "--stream";
    args[n++] = f->stream;
    args[n++] = "--file";
    args[n++] = f->file;
    va_list ap;
    va_start(ap, log);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 38)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    pid_t p = lbt_spawn(args, log);
    assert_true(p > 0);
    f->pid = p;
    return p;
}

static int run_once(struct fx_mirror *f, char *err, size_t cap)
{
    const char *args[] = {"mirror", "--redis", f->r.url, "--stream", f->stream,
                          "--file", f->file,   "--once", NULL};
    return lbt_run(args, NULL, 0, err, cap, NULL, 0);
}

static char *ckpt_id(struct fx_mirror *f)
{
    redisReply *r = redisCommand(f->c, "HGET %s %s", f->key, f->file);
    char *id = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        cJSON *j = cJSON_Parse(r->str);
        const cJSON *v = cJSON_GetObjectItem(j, "id");
        if (cJSON_IsString(v))
            id = strdup(v->valuestring);
        cJSON_Delete(j);
    }
    freeReplyObject(r);
    return id;
}

struct ck_wait {
    struct fx_mirror *f;
    const char *want;
};

static int ckpt_is(void *ctx)
{
    struct ck_wait *w = ctx;
    char *id = ckpt_id(w->f);
    int ok = id != NULL && strcmp(id, w->want) == 0;
    free(id);
    return ok;
}

static void wait_ckpt(struct fx_mirror *f, const char *want)
{
    struct ck_wait w = {f, want};
    if (!lbt_wait_for(ckpt_is, &w, FX_MIRROR_WAIT_MS)) {
        char *id = ckpt_id(f);
        fail_msg("the checkpoint did not reach id=%s in time (it is at %s)", want,
                 id ? id : "(none)");
    }
}

struct log_wait {
    const char *path;
    const char *needle;
    int times;
};

static int log_has(void *ctx)
{
    struct log_wait *w = ctx;
    return lbt_count_in_file(w->path, w->needle) >= w->times;
}

static void wait_log(const char *path, const char *needle, int times)
{
    struct log_wait w = {path, needle, times};
    if (!lbt_wait_for(log_has, &w, FX_MIRROR_WAIT_MS)) {
        size_t n;
        char *text = lbt_read_file(path, &n);
        fail_msg("'%s' did not appear %d times in %s in time; it says:\n%s", needle, times, path,
                 text ? text : "(nothing)");
    }
}

/* ---- tests ------------------------------------------------------------------------------ */

static void mirror_keeps_another_writers_lines_across_kill9(void **state)
{
    struct fx_mirror *f = *state;
    struct iu_rng seed = {iu_seed("mirror_keeps_another_writers_lines_across_kill9")};
    int rd;
    mu_legacy_start(f, &rd);
    static const char *const batches[] = {"1", "7", "100", "1000"};
    static const char *const fsyncs[] = {"batch", "always", "never"};
    long total = 0;
    int own_seen = 0, round = 0;
    const int min_rounds = 30 * iu_scale(), max_rounds = 200 * iu_scale();
    /* Go on until the kills landed between a write and its checkpoint often
     * enough (a next start found lines of its own past the checkpoint). */
    for (; round < min_rounds || (own_seen < 3 && round < max_rounds); round++) {
        char log[450];
        snprintf(log, sizeof(log), "%s/round-%d.out", f->dir, round);
        long before = (long)iu_below(&seed, 300);
        add_std(f, total, before);
        total += before;
        pid_t p = spawn_mirror(f, log, "--batch", batches[iu_below(&seed, 4)], "--fsync",
                               fsyncs[iu_below(&seed, 3)], "--log-level", "info", NULL);
        /* Every other round the kill comes once it follows: under ASan its
         * start-up alone can outlast the sleeps below, and a mirror killed
         * before it wrote anything leaves nothing to recognise. */
        if (iu_below(&seed, 2) == 0) {
            struct log_wait fw = {log, "following the stream", 1};
            (void)lbt_wait_for(log_has, &fw, FX_MIRROR_WAIT_MS);
        }
        lbt_sleep_ms((int)iu_below(&seed, 20));
        long during = (long)iu_below(&seed, 1500);
        add_std(f, total, during);
        total += during;
        lbt_sleep_ms((int)iu_below(&seed, 20));
        kill(p, SIGKILL);
        lbt_wait(p);
        f->pid = 0;
        own_seen += lbt_count_in_file(log, "are its own") > 0;
    }
    char err[16384];
    int rc = run_once(f, err, sizeof(err));
    if (rc != 0)
        fail_msg("the final mirror --once exited %d: %s", rc, err);
    own_seen += strstr(err, "are its own") != NULL;
    long wrote = mu_legacy_stop(f, rd);
    printf("%d rounds, %ld entries, %ld writer lines; %d starts found unrecorded lines of their "
           "own\n",
           round, total, wrote, own_seen);
    assert_true(wrote > 0);
    size_t wn = 0;
    char *want = mu_std_lines(0, total, &wn);
    /* A kill in the middle of a write(2) can leave the start of a line,
     * and the legacy writer appends after it while mirror is down: the line
     * is written again whole (the checker demands it), at most one such
     * start per kill. */
    long torn = mu_assert_own_and_legacy(f->file, want, wn, wrote);
    free(want);
    printf("%ld torn lines left by %d kills\n", torn, round);
    assert_true(torn <= round);
    assert_true(own_seen >= 3);
}

static void mirror_recognises_its_lines_among_foreign_ones(void **state)
{
    struct fx_mirror *f = *state;
    char err[8192];
    add_std(f, 0, 100);
    assert_int_equal(run_once(f, err, sizeof(err)), 0);
    /* What a kill -9 between write and checkpoint can leave while an app
     * appends: own lines 100-129 in three writes, app lines between them
     * (one looks like ours up to its type), and line 130 torn. */
    const char *app1 = "worker|2025-06-18T08:00:00.100Z|click|data-100 k=v|x=700 (not ours)\n";
    const char *app2 = "app|2025-06-18T08:00:00.000Z|x|the app\n";
    char buf[512];
    size_t n;
    assert_int_equal(lbt_append_file(f->file, app1, strlen(app1)), 0);
    char *own = mu_std_lines(100, 20, &n);
    assert_int_equal(lbt_append_file(f->file, own, n), 0);
    free(own);
    assert_int_equal(lbt_append_file(f->file, app2, strlen(app2)), 0);
    own = mu_std_lines(120, 10, &n);
    assert_int_equal(lbt_append_file(f->file, own, n), 0);
    free(own);
    assert_int_equal(lbt_append_file(f->file, app2, strlen(app2)), 0);
    size_t ln = lbt_line(buf, sizeof(buf), 130);
    assert_int_equal(lbt_append_file(f->file, buf, ln / 2), 0);
    add_std(f, 100, 100);
    assert_int_equal(run_once(f, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "31 lines after the checkpoint"));
    assert_non_null(strstr(err, "completed the line of entry"));
    assert_non_null(strstr(err, "another writer appended"));

    /* expected: 0-99, app1, 100-119, app2, 120-129, app2, 130-199 */
    size_t cap = 200 * 96 + 1024, o = 0;
    char *want = malloc(cap);
    char *part = mu_std_lines(0, 100, &n);
    memcpy(want + o, part, n), o += n;
    free(part);
    memcpy(want + o, app1, strlen(app1)), o += strlen(app1);
    part = mu_std_lines(100, 20, &n);
    memcpy(want + o, part, n), o += n;
    free(part);
    memcpy(want + o, app2, strlen(app2)), o += strlen(app2);
    part = mu_std_lines(120, 10, &n);
    memcpy(want + o, part, n), o += n;
    free(part);
    memcpy(want + o, app2, strlen(app2)), o += strlen(app2);
    part = mu_std_lines(130, 70, &n);
    memcpy(want + o, part, n), o += n;
    free(part);
    mu_assert_file_equals(f->file, want, o);
    free(want);

    /* Again, with only foreign bytes after the checkpoint: all kept, a run
     * with nothing new writes nothing. */
    assert_int_equal(lbt_append_file(f->file, app2, strlen(app2)), 0);
    size_t before = 0;
    char *was = lbt_read_file(f->file, &before);
    assert_int_equal(run_once(f, err, sizeof(err)), 0);
    mu_assert_file_equals(f->file, was, before);
    free(was);
}

/* A kill -9 in the middle of a write(2) leaves the start of a line; when
 * another writer appends after it while mirror is down, the start cannot be
 * completed (nor cut: the other writer's line follows it): it stays, and
 * mirror writes that entry's line again whole (docs/REFERENCE.md, "Not
 * promised"). What mirror_keeps_another_writers_lines_across_kill9 accepts,
 * made on purpose, and its checker's count of torn lines with it. */
static void mirror_torn_line_with_another_writers_line_after_it(void **state)
{
    struct fx_mirror *f = *state;
    char err[8192], buf[512];
    size_t n;
    add_std(f, 0, 100);
    assert_int_equal(run_once(f, err, sizeof(err)), 0);
    char *own = mu_std_lines(100, 10, &n);
    assert_int_equal(lbt_append_file(f->file, own, n), 0);
    free(own);
    size_t ln = lbt_line(buf, sizeof(buf), 110);
    assert_int_equal(lbt_append_file(f->file, buf, ln / 3), 0);
    const char *legacy = MU_LEGACY_PREFIX "0\n" MU_LEGACY_PREFIX "1\n";
    assert_int_equal(lbt_append_file(f->file, legacy, strlen(legacy)), 0);
    add_std(f, 100, 100);
    assert_int_equal(run_once(f, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "10 lines after the checkpoint"));
    /* the torn start cannot be told from another writer's line that looks
     * like ours: kept with the legacy lines, which await their entries */
    assert_non_null(strstr(err, "2 lines (bytes"));
    char *want = mu_std_lines(0, 200, &n);
    assert_int_equal(mu_assert_own_and_legacy(f->file, want, n, 2), 1);
    free(want);
}

static void mirror_refuses_entries_whose_src_is_its_file(void **state)
{
    struct fx_mirror *f = *state;
    char link[450], alias[450], via_alias[500], real[4096], metrics[450], err[8192];
    snprintf(link, sizeof(link), "%s/link.log", f->dir);
    snprintf(alias, sizeof(alias), "%s/alias", f->dir);
    snprintf(via_alias, sizeof(via_alias), "%s/alias/app.log", f->dir);
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    assert_int_equal(symlink("app.log", link), 0);
    assert_int_equal(symlink(".", alias), 0);
    assert_int_equal(lbt_write_file(f->file, "", 0), 0);
    assert_non_null(realpath(f->file, real));
    char why[256];
    long i = 0;
    for (; i < 10; i++)
        assert_int_equal(xadd_std(f, i, "/var/log/other.log", why, sizeof(why)), 0);
    /* its own file: by its name, its realpath, a symlink, a symlinked dir */
    const char *selfs[] = {f->file, real, link, via_alias};
    for (int k = 0; k < 4; k++, i++)
        assert_int_equal(xadd_std(f, i, selfs[k], why, sizeof(why)), 0);
    for (; i < 20; i++)
        assert_int_equal(xadd_std(f, i, "/var/log/other.log", why, sizeof(why)), 0);
    const char *args[] = {"mirror", "--redis", f->r.url,         "--stream", f->stream, "--file",
                          f->file,  "--once",  "--metrics-file", metrics,    NULL};
    assert_int_equal(lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0), 0);
    size_t n1, n2;
    char *a = mu_std_lines(0, 10, &n1), *b = mu_std_lines(14, 6, &n2);
    a = realloc(a, n1 + n2 + 1);
    memcpy(a + n1, b, n2);
    mu_assert_file_equals(f->file, a, n1 + n2);
    free(a);
    free(b);
    /* one warning, the rest counted */
    const char *w = strstr(err, "this very file");
    assert_non_null(w);
    assert_null(strstr(w + 1, "this very file"));
    size_t tn;
    char *text = lbt_read_file(metrics, &tn);
    assert_non_null(text);
    struct lbt_prom p;
    assert_int_equal(lbt_prom_parse(text, &p), 0);
    const struct lbt_prom_sample *s =
        lbt_prom_find(&p, "logbridge_mirror_entries_total", "file", f->file, "outcome", "excluded",
                      (const char *)NULL);
    assert_non_null(s);
    assert_true(s->value == 4);
    s = lbt_prom_find(&p, "logbridge_mirror_entries_total", "file", f->file, "outcome", "written",
                      (const char *)NULL);
    assert_non_null(s);
    assert_true(s->value == 16);
    lbt_prom_free(&p);
    free(text);
}

/* In one MULTI: add entries [from, from+n) and set maxmemory to 1 byte
 * (noeviction), so that every checkpoint HSET of the mirror for them is
 * refused with OOM, while its XREADs still work. */
static void add_then_oom(struct fx_mirror *f, long from, long n)
{
    redisReply *r = redisCommand(f->c, "CONFIG SET maxmemory-policy noeviction");
    assert_true(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisAppendCommand(f->c, "MULTI");
    for (long i = from; i < from + n; i++) {
        char line[512], parts[4][256];
        lbt_line(line, sizeof(line), i);
        mu_split_line(line, parts);
        const char *argv[] = {
            "XADD", f->stream, "*",    "role",   parts[0], "timestamp",         parts[1],
            "type", parts[2],  "data", parts[3], "src",    "/var/log/other.log"};
        redisAppendCommandArgv(f->c, 13, argv, NULL);
    }
    redisAppendCommand(f->c, "CONFIG SET maxmemory 1");
    redisAppendCommand(f->c, "EXEC");
    for (long i = 0; i < n + 2; i++) { /* +OK, QUEUED... */
        void *v = NULL;
        assert_int_equal(redisGetReply(f->c, &v), REDIS_OK);
        assert_int_equal(((redisReply *)v)->type, REDIS_REPLY_STATUS);
        freeReplyObject(v);
    }
    void *v = NULL;
    assert_int_equal(redisGetReply(f->c, &v), REDIS_OK);
    r = v;
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, (size_t)n + 1);
    for (long i = 0; i < n; i++) {
        assert_int_equal(r->element[i]->type, REDIS_REPLY_STRING);
        if (f->nids == f->capids) {
            f->capids = f->capids ? f->capids * 2 : 4096;
            f->ids = realloc(f->ids, (size_t)f->capids * sizeof(char *));
        }
        f->ids[f->nids++] = strdup(r->element[i]->str);
    }
    assert_int_equal(r->element[n]->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

static void set_maxmemory(struct fx_mirror *f, const char *v)
{
    redisReply *r = redisCommand(f->c, "CONFIG SET maxmemory %s", v);
    assert_true(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

/* Is the spawned mirror still running? (Reaps it when it is not.) */
static int mirror_alive(struct fx_mirror *f)
{
    if (f->pid <= 0)
        return 0;
    if (waitpid(f->pid, NULL, WNOHANG) == 0)
        return 1;
    f->pid = 0;
    return 0;
}

static void mirror_waits_out_oom_refusals(void **state)
{
    struct fx_mirror *f = *state;
    add_std(f, 0, 500);
    spawn_mirror(f, f->log, "--batch", "50", NULL);
    wait_ckpt(f, f->ids[f->nids - 1]);

    /* 1. refused while it runs: it waits, says so once, carries on */
    long total = 500;
    add_then_oom(f, total, 300);
    total += 300;
    struct log_wait w = {f->log, "HSET logbridge:mirror:{ev} refused for now: OOM", 1};
    int64_t t0 = lbt_now_ms();
    while (!log_has(&w) && mirror_alive(f) && lbt_now_ms() - t0 < FX_MIRROR_WAIT_MS)
        lbt_sleep_ms(10);
    if (!mirror_alive(f)) {
        size_t ln;
        char *text = lbt_read_file(f->log, &ln);
        fail_msg("mirror exited on an OOM refusal; it said:\n%s", text ? text : "");
    }
    wait_log(f->log, "HSET logbridge:mirror:{ev} refused for now: OOM", 1);
    lbt_sleep_ms(300); /* a few refused retries (not a wait for a result) */
    assert_true(mirror_alive(f));
    assert_int_equal(lbt_count_in_file(f->log, "refused for now"), 1);
    set_maxmemory(f, "0");
    wait_ckpt(f, f->ids[f->nids - 1]);
    wait_log(f->log, "redis accepts again", 1);
    add_std(f, total, 100);
    total += 100;
    wait_ckpt(f, f->ids[f->nids - 1]);

    /* 2. killed while refused (lines written, not recorded), then raised */
    add_then_oom(f, total, 300);
    total += 300;
    wait_log(f->log, "refused for now", 2);
    assert_true(mirror_alive(f));
    /* the refused checkpoint is that of a batch already written */
    redisReply *r = redisCommand(f->c, "HGET %s %s", f->key, f->file);
    assert_true(r != NULL && r->type == REDIS_REPLY_STRING);
    cJSON *j = cJSON_Parse(r->str);
    double recorded = cJSON_GetObjectItem(j, "size")->valuedouble;
    cJSON_Delete(j);
    freeReplyObject(r);
    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    assert_true((double)st.st_size > recorded);
    kill(f->pid, SIGKILL);
    lbt_wait(f->pid);
    f->pid = 0;
    set_maxmemory(f, "0");
    char err[8192];
    assert_int_equal(run_once(f, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "are its own"));
    size_t wn;
    char *want = mu_std_lines(0, total, &wn);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    char *id = ckpt_id(f);
    assert_string_equal(id, f->ids[f->nids - 1]);
    free(id);
}

/* The directory sync of a new file that fails is an error, never taken for
 * done: here the directory is renamed away before the first batch, so that
 * it cannot be opened to sync the file's name. */
static void mirror_directory_sync_failure_is_an_error(void **state)
{
    struct fx_mirror *f = *state;
    char sub[300], moved[300];
    snprintf(sub, sizeof(sub), "%s/sub", f->dir);
    snprintf(moved, sizeof(moved), "%s/moved", f->dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(f->file, sizeof(f->file), "%s/app.log", sub);
    spawn_mirror(f, f->log, NULL);
    for (int64_t t0 = lbt_now_ms(); lbt_now_ms() - t0 < FX_MIRROR_WAIT_MS;) {
        char *id = ckpt_id(f);
        free(id);
        if (id != NULL)
            break;
        lbt_sleep_ms(10);
    }
    assert_int_equal(rename(sub, moved), 0);
    add_std(f, 0, 1);
    int64_t t0 = lbt_now_ms();
    while (mirror_alive(f) && lbt_now_ms() - t0 < FX_MIRROR_WAIT_MS)
        lbt_sleep_ms(10);
    if (mirror_alive(f))
        fail_msg("mirror went on although the new file's directory could not be synced");
    wait_log(f->log, "to sync the new file's name", 1);
    char *id = ckpt_id(f);
    assert_string_equal(id, "0-0"); /* the batch was not recorded */
    free(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mirror_recognises_its_lines_among_foreign_ones, setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_torn_line_with_another_writers_line_after_it, setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_refuses_entries_whose_src_is_its_file, setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_waits_out_oom_refusals, setup, fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_directory_sync_failure_is_an_error, setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_keeps_another_writers_lines_across_kill9, setup,
                                        fx_mirror_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
