/*
 * test_mirror.c - `logbridge mirror` against a real redis-server: both
 * encodings, missing timestamps, escapes, bad entries, --exclude-src, live
 * mode, a Redis restart, logrotate + SIGHUP, unrecorded own lines, new
 * generations, --from, --once, bad options, the import round trip, metrics.
 *
 * Expected lines are built here from DESIGN.md's rules (section 5 mirror),
 * never by calling logbridge's own formatting code. The kill -9 rounds are in
 * test_mirror_crash.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pthread.h>
#include <sys/eventfd.h>

#include <cjson/cJSON.h>

#include "lbt_prom.h"
#include "lbtest.h"
#include "log.h"
#include "metrics.h"
#include "mirror.h"

#define WAIT_MS 20000

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char file[400];
    char log[400];
    const char *stream;
    char key[64];
    pid_t pid; /* a spawned mirror, killed by teardown if a test failed first */
};

static int setup_aof(void **state, int aof)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_redis_start(&f->r, aof) != 0 || lbt_mkdtemp(f->dir, sizeof(f->dir)))
        return -1;
    f->c = lbt_connect(&f->r);
    if (f->c == NULL)
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/app.log", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/mirror.out", f->dir);
    f->stream = "app:events";
    snprintf(f->key, sizeof(f->key), "logbridge:mirror:{app:events}");
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_aof(state, 0);
}

static int setup_with_aof(void **state)
{
    return setup_aof(state, 1);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f == NULL)
        return 0;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        lbt_wait(f->pid);
    }
    if (f->c != NULL)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

/* XADD with (name, value) pairs; values binary-safe with explicit lengths.
 * id NULL = "*". Returns the new ID in out (may be NULL). */
static void xadd(redisContext *c, const char *stream, const char *id, char *out, size_t cap,
                 int npairs, const char *const *names, const char *const *values)
{
    const char *argv[64];
    size_t lens[64];
    int n = 0;
    argv[n] = "XADD", lens[n++] = 4;
    argv[n] = stream, lens[n++] = strlen(stream);
    argv[n] = id ? id : "*", lens[n++] = strlen(id ? id : "*");
    for (int i = 0; i < npairs; i++) {
        argv[n] = names[i], lens[n++] = strlen(names[i]);
        argv[n] = values[i], lens[n++] = strlen(values[i]);
    }
    redisReply *r = redisCommandArgv(c, n, argv, lens);
    assert_non_null(r);
    if (r->type != REDIS_REPLY_STRING)
        fail_msg("XADD failed: %s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    if (out != NULL)
        snprintf(out, cap, "%s", r->str);
    freeReplyObject(r);
}

/* The fields encoding of line i of lbtest's standard lines, with src/off. */
static void split_line(const char *line, char parts[4][256])
{
    const char *p = line;
    for (int k = 0; k < 3; k++) {
        const char *bar = strchr(p, '|');
        snprintf(parts[k], 256, "%.*s", (int)(bar - p), p);
        p = bar + 1;
    }
    size_t n = strcspn(p, "\n");
    snprintf(parts[3], 256, "%.*s", (int)n, p);
}

/* Add entries [from, from+n) of the standard lines (pipelined) with src. */
static void add_std(redisContext *c, const char *stream, long from, long n, const char *src,
                    int json)
{
    for (long i = from; i < from + n; i++) {
        char line[512], parts[4][256], off[32];
        lbt_line(line, sizeof(line), i);
        split_line(line, parts);
        snprintf(off, sizeof(off), "%ld", i * 100);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "role", parts[0]);
            cJSON_AddStringToObject(o, "timestamp", parts[1]);
            cJSON_AddStringToObject(o, "type", parts[2]);
            cJSON_AddStringToObject(o, "data", parts[3]);
            cJSON_AddStringToObject(o, "src", src);
            cJSON_AddNumberToObject(o, "off", (double)(i * 100));
            char *js = cJSON_PrintUnformatted(o);
            redisAppendCommand(c, "XADD %s * json_payload %s", stream, js);
            free(js);
            cJSON_Delete(o);
        } else {
            const char *argv[] = {"XADD",      stream,   "*",    "role",   parts[0],
                                  "timestamp", parts[1], "type", parts[2], "data",
                                  parts[3],    "src",    src,    "off",    off};
            redisAppendCommandArgv(c, 15, argv, NULL);
        }
    }
    for (long i = 0; i < n; i++) {
        void *r = NULL;
        assert_int_equal(redisGetReply(c, &r), REDIS_OK);
        assert_int_equal(((redisReply *)r)->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

/* The expected bytes of standard lines [from, from+n). */
static char *std_lines(long from, long n, size_t *len)
{
    size_t cap = (size_t)n * 96 + 1, o = 0;
    char *s = malloc(cap);
    for (long i = from; i < from + n; i++)
        o += lbt_line(s + o, cap - o, i);
    s[o] = '\0';
    *len = o;
    return s;
}

static void assert_file_equals(const char *path, const char *want, size_t wn)
{
    size_t n = 0;
    char *got = lbt_read_file(path, &n);
    assert_non_null(got);
    if (n != wn || memcmp(got, want, n) != 0) {
        size_t i = 0;
        while (i < n && i < wn && got[i] == want[i])
            i++;
        fail_msg("%s: %zu bytes, expected %zu; first difference at byte %zu: got '%.60s' "
                 "want '%.60s'",
                 path, n, wn, i, i < n ? got + i : "", i < wn ? want + i : "");
    }
    free(got);
}

static int run_mirror(struct fx *f, char *err, size_t errcap, ...)
{
    const char *args[40];
    int n = 0;
    args[n++] = "mirror";
    args[n++] = "--redis";
    args[n++] = f->r.url;
    va_list ap;
    va_start(ap, errcap);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 38)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return lbt_run(args, NULL, 0, err, errcap, NULL, 0);
}

static pid_t spawn_mirror(struct fx *f, ...)
{
    static const char *args[40];
    int n = 0;
    args[n++] = "mirror";
    args[n++] = "--redis";
    args[n++] = f->r.url;
    va_list ap;
    va_start(ap, f);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 38)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    pid_t p = lbt_spawn(args, f->log);
    assert_true(p > 0);
    f->pid = p;
    return p;
}

/* Wait for the spawned mirror (after a signal); returns its exit code. */
static int reap(struct fx *f, pid_t p)
{
    int rc = lbt_wait(p);
    f->pid = 0;
    return rc;
}

/* The checkpoint JSON of f->file (parsed; NULL when absent). */
static cJSON *ckpt(struct fx *f, const char *file)
{
    redisReply *r = redisCommand(f->c, "HGET %s %s", f->key, file ? file : f->file);
    cJSON *j = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        j = cJSON_Parse(r->str);
    freeReplyObject(r);
    return j;
}

static void assert_ckpt(struct fx *f, const char *want_id)
{
    cJSON *j = ckpt(f, NULL);
    assert_non_null(j);
    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    assert_string_equal(cJSON_GetObjectItem(j, "id")->valuestring, want_id);
    assert_true(cJSON_GetObjectItem(j, "size")->valuedouble == (double)st.st_size);
    assert_true(cJSON_GetObjectItem(j, "dev")->valuedouble == (double)st.st_dev);
    assert_true(cJSON_GetObjectItem(j, "ino")->valuedouble == (double)st.st_ino);
    cJSON_Delete(j);
}

/* The ID of the stream's last entry. */
static void last_id(struct fx *f, char *out, size_t cap)
{
    redisReply *r = redisCommand(f->c, "XREVRANGE %s + - COUNT 1", f->stream);
    assert_non_null(r);
    assert_true(r->elements == 1);
    snprintf(out, cap, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
}

struct file_wait {
    const char *path;
    size_t size;
};

static int file_has_size(void *ctx)
{
    struct file_wait *w = ctx;
    struct stat st;
    return stat(w->path, &st) == 0 && (size_t)st.st_size >= w->size;
}

static void wait_size(const char *path, size_t size)
{
    struct file_wait w = {path, size};
    if (!lbt_wait_for(file_has_size, &w, WAIT_MS)) {
        struct stat st;
        long long have = stat(path, &st) == 0 ? (long long)st.st_size : -1;
        fail_msg("%s did not reach %zu bytes in time (has %lld)", path, size, have);
    }
}

struct ck_wait {
    struct fx *f;
    char want[64];
};

static int ckpt_is(void *ctx)
{
    struct ck_wait *w = ctx;
    cJSON *j = ckpt(w->f, NULL);
    int ok = j != NULL && strcmp(cJSON_GetObjectItem(j, "id")->valuestring, w->want) == 0;
    cJSON_Delete(j);
    return ok;
}

static int ckpt_exists(void *ctx)
{
    struct fx *f = ctx;
    cJSON *j = ckpt(f, NULL);
    cJSON_Delete(j);
    return j != NULL;
}

static double metric(const char *path, const char *name, ...)
{
    size_t n;
    char *text = lbt_read_file(path, &n);
    assert_non_null(text);
    struct lbt_prom p;
    if (lbt_prom_parse(text, &p) != 0)
        fail_msg("metrics file %s: %s", path, p.err);
    va_list ap;
    va_start(ap, name);
    const char *k1 = va_arg(ap, const char *);
    const char *v1 = k1 ? va_arg(ap, const char *) : NULL;
    const char *k2 = k1 ? va_arg(ap, const char *) : NULL;
    const char *v2 = k2 ? va_arg(ap, const char *) : NULL;
    va_end(ap);
    const struct lbt_prom_sample *s = lbt_prom_find(&p, name, k1, v1, k2, v2, (const char *)NULL);
    if (s == NULL)
        fail_msg("metric %s not found in %s", name, path);
    double v = s->value;
    lbt_prom_free(&p);
    free(text);
    return v;
}

/* ---- tests ------------------------------------------------------------------------ */

static void mirror_once_writes_fields_entries_in_order(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 2500, "/var/log/app.log", 0);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    size_t wn;
    char *want = std_lines(0, 2500, &wn);
    assert_file_equals(f->file, want, wn);
    char id[64];
    last_id(f, id, sizeof(id));
    assert_ckpt(f, id);
    /* a second run writes nothing */
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_reads_json_encoding(void **state)
{
    struct fx *f = *state;
    /* both encodings mixed in one stream, in order */
    add_std(f->c, f->stream, 0, 300, "/a", 1);
    add_std(f->c, f->stream, 300, 300, "/a", 0);
    add_std(f->c, f->stream, 600, 300, "/a", 1);
    /* data that is not a string is written as compact JSON text */
    const char *n1[] = {"json_payload"};
    const char *v1[] = {"{\"role\":\"r\",\"timestamp\":\"2025-06-18T10:00:00Z\",\"type\":\"t\","
                        "\"data\":{\"a\": [1, 2]}}"};
    xadd(f->c, f->stream, NULL, NULL, 0, 1, n1, v1);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    size_t wn;
    char *want = std_lines(0, 900, &wn);
    const char *extra = "r|2025-06-18T10:00:00Z|t|{\"a\":[1,2]}\n";
    want = realloc(want, wn + strlen(extra) + 1);
    memcpy(want + wn, extra, strlen(extra));
    wn += strlen(extra);
    assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_json_field_option(void **state)
{
    struct fx *f = *state;
    const char *n1[] = {"payload"};
    const char *v1[] = {
        "{\"role\":\"r\",\"timestamp\":\"1750240800\",\"type\":\"t\",\"data\":\"d\"}"};
    xadd(f->c, f->stream, NULL, NULL, 0, 1, n1, v1);
    char err[4096];
    /* with the default field name the entry has neither role nor json_payload */
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_file_equals(f->file, "", 0);
    assert_non_null(strstr(err, "skipped entry"));
    char other[450];
    snprintf(other, sizeof(other), "%s/other.log", f->dir);
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", other,
                                "--json-field", "payload", "--once", NULL),
                     0);
    assert_file_equals(other, "r|1750240800|t|d\n", 17);
}

static void mirror_missing_timestamp_from_id(void **state)
{
    struct fx *f = *state;
    const char *n[] = {"role", "type", "data"};
    const char *v[] = {"web", "login", "no ts"};
    xadd(f->c, f->stream, "1750240800123-0", NULL, 0, 3, n, v);
    const char *nj[] = {"json_payload"};
    const char *vj[] = {"{\"role\":\"w\",\"type\":\"t\",\"data\":\"json no ts\"}"};
    xadd(f->c, f->stream, "1750240800999-5", NULL, 0, 1, nj, vj);
    const char *ne[] = {"role", "timestamp", "type", "data"};
    const char *ve[] = {"web", "", "t", "empty ts"};
    xadd(f->c, f->stream, "1750240801000-0", NULL, 0, 4, ne, ve);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    const char *want = "web|2025-06-18T10:00:00.123Z|login|no ts\n"
                       "w|2025-06-18T10:00:00.999Z|t|json no ts\n"
                       "web|2025-06-18T10:00:01.000Z|t|empty ts\n";
    assert_file_equals(f->file, want, strlen(want));
}

static void mirror_escapes_cr_lf_and_counts(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    const char *n[] = {"role", "timestamp", "type", "data"};
    const char *v1[] = {"web", "2025-06-18T10:00:00Z", "t", "line1\nline2\r\nend\\n|x"};
    const char *v2[] = {"web", "2025-06-18\n", "t", "plain"};
    const char *v3[] = {"web", "2025-06-18T10:00:00Z", "t", "plain"};
    xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v1);
    xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v2);
    xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v3);
    const char *nj[] = {"json_payload"};
    const char *vj[] = {
        "{\"role\":\"w\",\"timestamp\":\"x\",\"type\":\"t\",\"data\":\"a\\r\\nb\"}"};
    xadd(f->c, f->stream, NULL, NULL, 0, 1, nj, vj);
    char err[4096];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--once", "--metrics-file", metrics, NULL),
                     0);
    const char *want = "web|2025-06-18T10:00:00Z|t|line1\\nline2\\r\\nend\\n|x\n"
                       "web|2025-06-18\\n|t|plain\n"
                       "web|2025-06-18T10:00:00Z|t|plain\n"
                       "w|x|t|a\\r\\nb\n";
    assert_file_equals(f->file, want, strlen(want));
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == 4);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "escaped") == 3);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "skipped") == 0);
}

static void mirror_skips_bad_entries_and_goes_on(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    char ids[16][64];
    int nb = 0;
    char longrole[300];
    memset(longrole, 'r', 256);
    longrole[256] = '\0';
    const char *n4[] = {"role", "timestamp", "type", "data"};
    add_std(f->c, f->stream, 0, 5, "/a", 0);
    {
        const char *n[] = {"timestamp", "type", "data"};
        const char *v[] = {"2025-06-18T10:00:00Z", "t", "no role"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 3, n, v);
    }
    {
        const char *n[] = {"role", "timestamp", "data"};
        const char *v[] = {"web", "2025-06-18T10:00:00Z", "no type"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 3, n, v);
    }
    {
        const char *v[] = {"we|b", "2025-06-18T10:00:00Z", "t", "bar in role"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {"web", "2025-06-18T10:00:00Z", "ty\npe", "LF in type"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {"we\rb", "2025-06-18T10:00:00Z", "t", "CR in role"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {longrole, "2025-06-18T10:00:00Z", "t", "long role"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {"", "2025-06-18T10:00:00Z", "t", "empty role"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *n[] = {"json_payload"};
        const char *v[] = {"[1,2,3]"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    {
        const char *n[] = {"json_payload"};
        const char *v[] = {"{\"role\":\"r\",\"timestamp\":\"x\",\"type\":\"t\",\"data\":"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    {
        const char *n[] = {"json_payload"};
        const char *v[] = {"{\"role\":7,\"timestamp\":\"x\",\"type\":\"t\",\"data\":\"d\"}"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    {
        const char *n[] = {"foo"};
        const char *v[] = {"bar"};
        xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    add_std(f->c, f->stream, 5, 5, "/a", 0);
    char err[16384];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--once", "--metrics-file", metrics, NULL),
                     0);
    size_t wn;
    char *want = std_lines(0, 10, &wn);
    assert_file_equals(f->file, want, wn);
    free(want);
    /* the first ten skipped entries are each named in a warning */
    for (int i = 0; i < nb && i < 10; i++)
        if (strstr(err, ids[i]) == NULL)
            fail_msg("no warning names skipped entry %s; stderr: %s", ids[i], err);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "skipped") == nb);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == 10);
    char id[64];
    last_id(f, id, sizeof(id));
    assert_ckpt(f, id);
}

static void mirror_skip_warnings_are_rate_limited(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2500; i++)
        redisAppendCommand(f->c, "XADD %s * role we|b type t data %d", f->stream, i);
    for (int i = 0; i < 2500; i++) {
        void *r;
        assert_int_equal(redisGetReply(f->c, &r), REDIS_OK);
        freeReplyObject(r);
    }
    add_std(f->c, f->stream, 0, 3, "/a", 0);
    char *err = malloc(1 << 20);
    assert_int_equal(
        run_mirror(f, err, 1 << 20, "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    int warnings = 0;
    for (const char *p = err; (p = strstr(p, "skipped entry")) != NULL; p++)
        warnings++;
    /* 10 one by one, then one per 1000: 1000 and 2000 */
    assert_int_equal(warnings, 12);
    free(err);
    size_t wn;
    char *want = std_lines(0, 3, &wn);
    assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_exclude_src_skips_those_sources(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    add_std(f->c, f->stream, 0, 10, "/var/log/legacy.log", 0);
    add_std(f->c, f->stream, 10, 10, "/var/log/other.log", 0);
    add_std(f->c, f->stream, 20, 10, "/var/log/legacy.log", 1);
    add_std(f->c, f->stream, 30, 10, "svc-b", 1);
    add_std(f->c, f->stream, 40, 10, "svc-c", 0);
    const char *n[] = {"role", "timestamp", "type", "data"};
    const char *v[] = {"web", "2025-06-18T10:00:00Z", "t", "no src"};
    xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v);
    char err[4096];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--exclude-src", "/var/log/legacy.log", "--exclude-src", "svc-c",
                                "--once", "--metrics-file", metrics, NULL),
                     0);
    size_t n1, n2;
    char *a = std_lines(10, 10, &n1);
    char *b = std_lines(30, 10, &n2);
    const char *tail = "web|2025-06-18T10:00:00Z|t|no src\n";
    size_t wn = n1 + n2 + strlen(tail);
    char *want = malloc(wn + 1);
    memcpy(want, a, n1);
    memcpy(want + n1, b, n2);
    memcpy(want + n1 + n2, tail, strlen(tail));
    assert_file_equals(f->file, want, wn);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "excluded") == 30);
    free(a);
    free(b);
    free(want);
}

static void mirror_live_follows_new_entries(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, NULL);
    size_t wn;
    char *want = std_lines(0, 100, &wn);
    wait_size(f->file, wn);
    free(want);
    /* entries added later appear, in small and large bursts */
    for (int round = 0; round < 5; round++) {
        long from = 100 + round * 300;
        add_std(f->c, f->stream, from, round % 2 ? 1 : 299, "/a", round % 2);
        add_std(f->c, f->stream, from + (round % 2 ? 1 : 299), round % 2 ? 299 : 1, "/a", 0);
        want = std_lines(0, from + 300, &wn);
        wait_size(f->file, wn);
        assert_file_equals(f->file, want, wn);
        free(want);
    }
    char id[64];
    last_id(f, id, sizeof(id));
    struct ck_wait w = {f, ""};
    snprintf(w.want, sizeof(w.want), "%s", id);
    assert_true(lbt_wait_for(ckpt_is, &w, WAIT_MS));
    int64_t t0 = lbt_now_ms();
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    /* BLOCK <= 1000 ms: a stop is noticed quickly */
    assert_true(lbt_now_ms() - t0 < 5000);
    assert_ckpt(f, id);
}

static void mirror_survives_redis_restart(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    add_std(f->c, f->stream, 0, 500, "/a", 0);
    pid_t p =
        spawn_mirror(f, "--stream", f->stream, "--file", f->file, "--metrics-file", metrics, NULL);
    size_t wn;
    char *want = std_lines(0, 500, &wn);
    wait_size(f->file, wn);
    free(want);
    struct ck_wait w = {f, ""};
    last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(ckpt_is, &w, WAIT_MS));
    redisFree(f->c);
    f->c = NULL;
    lbt_redis_kill(&f->r, SIGKILL);
    lbt_sleep_ms(300); /* pacing: let the mirror notice and start its backoff */
    assert_int_equal(lbt_redis_restart(&f->r), 0);
    f->c = lbt_connect(&f->r);
    assert_non_null(f->c);
    add_std(f->c, f->stream, 500, 500, "/a", 0);
    want = std_lines(0, 1000, &wn);
    wait_size(f->file, wn);
    last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(ckpt_is, &w, WAIT_MS));
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    assert_file_equals(f->file, want, wn);
    free(want);
    assert_true(metric(metrics, "logbridge_redis_reconnects_total", NULL) >= 1);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == 1000);
    size_t ln;
    char *log = lbt_read_file(f->log, &ln);
    assert_non_null(log);
    assert_non_null(strstr(log, "reconnecting"));
    free(log);
}

static void mirror_rotation_rename_and_sighup(void **state)
{
    struct fx *f = *state;
    char rotated[450];
    snprintf(rotated, sizeof(rotated), "%s.1", f->file);
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, NULL);
    size_t wn;
    char *want = std_lines(0, 100, &wn);
    wait_size(f->file, wn);
    free(want);
    /* logrotate: rename, then (later) postrotate sends SIGHUP. Entries that
     * arrive between the two still go to the renamed file. */
    assert_int_equal(rename(f->file, rotated), 0);
    add_std(f->c, f->stream, 100, 50, "/a", 0);
    want = std_lines(0, 150, &wn);
    wait_size(rotated, wn);
    free(want);
    struct ck_wait w = {f, ""};
    last_id(f, w.want, sizeof(w.want));
    /* the checkpoint field is the path name F, whatever file is behind it */
    assert_true(lbt_wait_for(ckpt_is, &w, WAIT_MS));
    kill(p, SIGHUP);
    struct file_wait fw = {f->file, 0};
    assert_true(lbt_wait_for(file_has_size, &fw, WAIT_MS));
    add_std(f->c, f->stream, 150, 100, "/a", 0);
    want = std_lines(150, 100, &wn);
    wait_size(f->file, wn);
    last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(ckpt_is, &w, WAIT_MS));
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    assert_file_equals(f->file, want, wn);
    free(want);
    want = std_lines(0, 150, &wn);
    assert_file_equals(rotated, want, wn);
    free(want);
    assert_ckpt(f, w.want); /* records the new file's dev/ino */
}

static void mirror_continues_after_its_unrecorded_lines(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    /* what a kill -9 between write and checkpoint leaves: its own lines past
     * the recorded size, the last one torn (another writer's lines are kept:
     * test_mirror_writer.c) */
    add_std(f->c, f->stream, 100, 100, "/a", 0);
    size_t n;
    char *own = std_lines(100, 20, &n);
    char torn[512];
    size_t tn = lbt_line(torn, sizeof(torn), 120);
    assert_int_equal(lbt_append_file(f->file, own, n), 0);
    assert_int_equal(lbt_append_file(f->file, torn, tn - 7), 0);
    free(own);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    size_t wn;
    char *want = std_lines(0, 200, &wn);
    assert_file_equals(f->file, want, wn);
    free(want);
    assert_non_null(strstr(err, "21 lines after the checkpoint"));
    assert_non_null(strstr(err, "completed the line of entry"));
    assert_null(strstr(err, "another writer"));
}

static void mirror_new_generation_continues_after_id(void **state)
{
    struct fx *f = *state;
    char rotated[450];
    snprintf(rotated, sizeof(rotated), "%s.1", f->file);
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    /* rotated while mirror was stopped (another inode at F) */
    assert_int_equal(rename(f->file, rotated), 0);
    const char *app = "app|2025-06-18T00:00:00Z|x|the app wrote this to the new file\n";
    assert_int_equal(lbt_write_file(f->file, app, strlen(app)), 0);
    add_std(f->c, f->stream, 100, 50, "/a", 0);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_non_null(strstr(err, "new generation"));
    size_t wn;
    char *lines = std_lines(100, 50, &wn);
    char *want = malloc(wn + strlen(app) + 1);
    memcpy(want, app, strlen(app));
    memcpy(want + strlen(app), lines, wn);
    assert_file_equals(f->file, want, wn + strlen(app));
    free(want);
    free(lines);
    lines = std_lines(0, 100, &wn);
    assert_file_equals(rotated, lines, wn);
    free(lines);

    /* copytruncate: the same inode, shorter than recorded */
    assert_int_equal(truncate(f->file, 0), 0);
    add_std(f->c, f->stream, 150, 20, "/a", 0);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_non_null(strstr(err, "new generation"));
    lines = std_lines(150, 20, &wn);
    assert_file_equals(f->file, lines, wn);
    free(lines);
    char id[64];
    last_id(f, id, sizeof(id));
    assert_ckpt(f, id);
}

static void mirror_keeps_existing_content_without_checkpoint(void **state)
{
    struct fx *f = *state;
    const char *app = "app|2025-06-18T00:00:00Z|x|already there\n";
    assert_int_equal(lbt_write_file(f->file, app, strlen(app)), 0);
    add_std(f->c, f->stream, 0, 10, "/a", 0);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    size_t wn;
    char *lines = std_lines(0, 10, &wn);
    char *want = malloc(wn + strlen(app));
    memcpy(want, app, strlen(app));
    memcpy(want + strlen(app), lines, wn);
    assert_file_equals(f->file, want, wn + strlen(app));
    free(want);
    free(lines);
}

static void mirror_from_dollar_writes_only_new_entries(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, "--from", "$", NULL);
    /* $ is resolved and recorded at start: wait for that, then add */
    assert_true(lbt_wait_for(ckpt_exists, f, WAIT_MS));
    add_std(f->c, f->stream, 100, 10, "/a", 0);
    size_t wn;
    char *want = std_lines(100, 10, &wn);
    wait_size(f->file, wn);
    struct ck_wait w = {f, ""};
    last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(ckpt_is, &w, WAIT_MS));
    kill(p, SIGKILL);
    reap(f, p);
    assert_file_equals(f->file, want, wn);
    free(want);
    /* entries added while it is down are not lost by a restart with --from $:
     * the checkpoint wins over --from */
    add_std(f->c, f->stream, 110, 5, "/a", 0);
    char err[4096];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--from", "$", "--once", NULL),
                     0);
    want = std_lines(100, 15, &wn);
    assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_from_dollar_on_missing_stream(void **state)
{
    struct fx *f = *state;
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, "--from", "$", NULL);
    assert_true(lbt_wait_for(ckpt_exists, f, WAIT_MS));
    add_std(f->c, f->stream, 0, 3, "/a", 0);
    size_t wn;
    char *want = std_lines(0, 3, &wn);
    wait_size(f->file, wn);
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_from_id_starts_after_it(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 50, "/a", 0);
    char id[64];
    last_id(f, id, sizeof(id));
    add_std(f->c, f->stream, 50, 50, "/a", 0);
    char err[4096];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--from", id, "--once", NULL),
                     0);
    size_t wn;
    char *want = std_lines(50, 50, &wn);
    assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_once_on_empty_stream_exits_0(void **state)
{
    struct fx *f = *state;
    char err[4096];
    int64_t t0 = lbt_now_ms();
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_true(lbt_now_ms() - t0 < 5000);
    assert_file_equals(f->file, "", 0);
    assert_ckpt(f, "0-0");
}

static void mirror_fsync_modes_write_the_same(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 300, "/a", 0);
    size_t wn;
    char *want = std_lines(0, 300, &wn);
    const char *modes[] = {"batch", "always", "never"};
    for (int i = 0; i < 3; i++) {
        char path[450], err[4096];
        snprintf(path, sizeof(path), "%s/%s.log", f->dir, modes[i]);
        assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", path,
                                    "--fsync", modes[i], "--batch", "7", "--once", NULL),
                         0);
        assert_file_equals(path, want, wn);
    }
    free(want);
}

static void mirror_refuses_a_symlink(void **state)
{
    struct fx *f = *state;
    char target[450];
    snprintf(target, sizeof(target), "%s/target.log", f->dir);
    assert_int_equal(lbt_write_file(target, "keep\n", 5), 0);
    assert_int_equal(symlink(target, f->file), 0);
    add_std(f->c, f->stream, 0, 3, "/a", 0);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        3);
    assert_non_null(strstr(err, "symbolic link"));
    assert_file_equals(target, "keep\n", 5);
}

static void mirror_bad_options_exit_2_naming_them(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *args[8];
        const char *want;
    } cases[] = {
        {{"--file", "x", NULL}, "--stream"},
        {{"--stream", "s", NULL}, "--file"},
        {{"--stream", "s", "--file", "x", "--fsync", "sometimes", NULL}, "--fsync"},
        {{"--stream", "s", "--file", "x", "--from", "yesterday", NULL}, "--from"},
        {{"--stream", "s", "--file", "x", "--from", "12-x", NULL}, "--from"},
        {{"--stream", "s", "--file", "x", "--batch", "0", NULL}, "--batch"},
        {{"--stream", "s", "--file", "x", "--exclude-src", "", NULL}, "--exclude-src"},
        {{"--stream", "s", "--file", "x", "--bogus", NULL}, "--bogus"},
        {{"--stream", "s", "--file", "x", "extra", NULL}, "extra"},
        {{"--stream", "s", "--file", "x", "--redis", "http://x", NULL}, "--redis"},
        {{"--stream", "events:%{type}", "--file", "x", NULL}, "--stream"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *args[12];
        int n = 0;
        args[n++] = "mirror";
        for (int k = 0; cases[i].args[k] != NULL; k++)
            args[n++] = cases[i].args[k];
        args[n] = NULL;
        char err[4096];
        int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
        if (rc != 2 || strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: exit %d, stderr '%s' (want 2 naming %s)", i, rc, err,
                     cases[i].want);
    }
    (void)f;
    char out[8192];
    const char *help[] = {"mirror", "--help", NULL};
    assert_int_equal(lbt_run(help, out, sizeof(out), NULL, 0, NULL, 0), 0);
    assert_non_null(strstr(out, "--exclude-src"));
}

static void mirror_warns_when_unread_entries_were_trimmed(void **state)
{
    struct fx *f = *state;
    /* entries trimmed before a new mirror existed are not its loss */
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    redisReply *r = redisCommand(f->c, "XTRIM %s MAXLEN 80", f->stream);
    freeReplyObject(r);
    char err[8192];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_null(strstr(err, "trimmed"));
    /* 100 more; trimming to 50 drops 50 that the mirror has not read */
    add_std(f->c, f->stream, 100, 100, "/a", 0);
    r = redisCommand(f->c, "XTRIM %s MAXLEN 50", f->stream);
    freeReplyObject(r);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    if (strstr(err, "before they were mirrored") == NULL)
        fail_msg("no warning about the lost entries: %s", err);
    size_t n1, n2;
    char *a = std_lines(20, 80, &n1);
    char *b = std_lines(150, 50, &n2);
    a = realloc(a, n1 + n2 + 1);
    memcpy(a + n1, b, n2);
    assert_file_equals(f->file, a, n1 + n2);
    free(a);
    free(b);
    /* said once: a rerun with nothing new is quiet */
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_null(strstr(err, "trimmed"));
}

struct log_wait {
    const char *path, *text;
};

static int log_has(void *ctx)
{
    struct log_wait *w = ctx;
    size_t n;
    char *t = lbt_read_file(w->path, &n);
    int ok = t != NULL && strstr(t, w->text) != NULL;
    free(t);
    return ok;
}

static void mirror_warns_when_trimmed_while_running(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    const long n = 20000;
    add_std(f->c, f->stream, 0, n, "/a", 0);
    /* slow on purpose (a sync per entry), so that a trim overtakes it */
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, "--batch", "50", "--fsync",
                           "always", "--metrics-file", metrics, NULL);
    wait_size(f->file, 2000);
    redisReply *r = redisCommand(f->c, "XTRIM %s MAXLEN 1000", f->stream);
    freeReplyObject(r);
    struct log_wait lw = {f->log, "entries were trimmed or deleted"};
    if (!lbt_wait_for(log_has, &lw, WAIT_MS))
        fail_msg("no warning about entries trimmed while the mirror ran");
    struct ck_wait w = {f, ""};
    last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(ckpt_is, &w, 60000));
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    /* the file: a prefix of the lines, then exactly the 1000 retained */
    size_t got_n, tail_n;
    char *got = lbt_read_file(f->file, &got_n);
    char *tail = std_lines(n - 1000, 1000, &tail_n);
    assert_true(got_n > tail_n);
    assert_memory_equal(got + got_n - tail_n, tail, tail_n);
    long k = 0;
    for (size_t i = 0; i < got_n - tail_n; i++)
        k += got[i] == '\n';
    size_t head_n;
    char *head = std_lines(0, k, &head_n);
    assert_int_equal(head_n, got_n - tail_n);
    assert_memory_equal(got, head, head_n);
    /* the warning gave the exact count of lost entries */
    char want[128];
    snprintf(want, sizeof(want), "%ld entries were trimmed or deleted", n - 1000 - k);
    size_t ln;
    char *log = lbt_read_file(f->log, &ln);
    if (strstr(log, want) == NULL)
        fail_msg("the warning does not say '%s': %s", want, log);
    free(log);
    free(got);
    free(tail);
    free(head);
}

static void mirror_refused_password_exits_3_at_once(void **state)
{
    struct fx *f = *state;
    char url[400], err[4096];
    snprintf(url, sizeof(url), "unix://%s", f->r.sock);
    /* lbtest starts servers without a password; set one now (this
     * connection stays authenticated) */
    redisReply *r = redisCommand(f->c, "CONFIG SET requirepass s3cret");
    assert_true(r != NULL && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    const char *args[] = {"mirror", "--redis", url, "--stream", f->stream, "--file", f->file, NULL};
    setenv("LOGBRIDGE_REDIS_PASSWORD", "wrong", 1);
    int64_t t0 = lbt_now_ms();
    int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    assert_int_equal(rc, 3);
    assert_true(lbt_now_ms() - t0 < 5000); /* not retried */
    assert_non_null(strstr(err, f->r.sock));
    assert_non_null(strstr(err, "default")); /* the user */
    /* the right password works */
    setenv("LOGBRIDGE_REDIS_PASSWORD", "s3cret", 1);
    const char *ok[] = {"mirror", "--redis", url,      "--stream", f->stream,
                        "--file", f->file,   "--once", NULL};
    rc = lbt_run(ok, NULL, 0, err, sizeof(err), NULL, 0);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    assert_int_equal(rc, 0);
}

static void mirror_damaged_checkpoint_exits_3(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 10, "/a", 0);
    redisReply *r = redisCommand(f->c, "HSET %s %s %s", f->key, f->file, "{\"id\":\"oops\"}");
    freeReplyObject(r);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        3);
    assert_non_null(strstr(err, "HDEL"));
    /* nothing was written on a guess */
    struct stat st;
    assert_true(stat(f->file, &st) != 0 || st.st_size == 0);
}

static void mirror_checkpoint_numbers_are_exact(void **state)
{
    struct fx *f = *state;
    /* a checkpoint for an inode number past 2^53 (XFS, btrfs can have them):
     * it differs from this file's by 1, which a double would not see */
    add_std(f->c, f->stream, 0, 10, "/a", 0);
    char err[4096];
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    struct stat st;
    assert_int_equal(stat(f->file, &st), 0);
    char id[64], val[256];
    last_id(f, id, sizeof(id));
    snprintf(val, sizeof(val), "{\"id\":\"%s\",\"size\":%lld,\"dev\":%llu,\"ino\":%llu}", id,
             (long long)st.st_size - 5, (unsigned long long)st.st_dev, 9007199254740993ULL);
    redisReply *r = redisCommand(f->c, "HSET %s %s %s", f->key, f->file, val);
    freeReplyObject(r);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_non_null(strstr(err, "ino=9007199254740993"));
    assert_non_null(strstr(err, "new generation"));
    size_t wn;
    char *want = std_lines(0, 10, &wn);
    assert_file_equals(f->file, want, wn); /* not cut back: another inode */
    free(want);
}

static void mirror_round_trip_with_import(void **state)
{
    struct fx *f = *state;
    /* a legacy file without CRLF or blank lines (import drops those) */
    char legacy[450];
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", f->dir);
    size_t n;
    char *body = std_lines(0, 3000, &n);
    const char *odd = "web|2025-06-18T10:00:00Z|t|\n"
                      "web|1750240800|t|a|b|c||\n"
                      "web|2025-06-18 10:00:00.5+02:00|t|{\"json\":\"\\\"quoted\\\"\"}\n"
                      "w\xc3\xa9|2025-06-18T10:00:00Z|t|caf\xc3\xa9 \\n literal\n";
    body = realloc(body, n + strlen(odd) + 1);
    memcpy(body + n, odd, strlen(odd));
    n += strlen(odd);
    assert_int_equal(lbt_write_file(legacy, body, n), 0);
    const char *imp[] = {"import",  "--redis",       f->r.url, "--stream", f->stream,
                         "--final", "--no-progress", legacy,   NULL};
    char err[4096];
    assert_int_equal(lbt_run(imp, NULL, 0, err, sizeof(err), NULL, 0), 0);
    assert_int_equal(lbt_xlen(f->c, f->stream), 3004);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_file_equals(f->file, body, n);
    free(body);
}

static void mirror_round_trip_with_import_json(void **state)
{
    struct fx *f = *state;
    char legacy[450];
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", f->dir);
    size_t n;
    char *body = std_lines(0, 1000, &n);
    assert_int_equal(lbt_write_file(legacy, body, n), 0);
    const char *imp[] = {"import", "--redis", f->r.url,        "--stream", f->stream, "--encoding",
                         "json",   "--final", "--no-progress", legacy,     NULL};
    char err[4096];
    int rc = lbt_run(imp, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0) {
        free(body);
        fail_msg("import --encoding json failed (exit %d): %s", rc, err);
    }
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_file_equals(f->file, body, n);
    free(body);
}

static void mirror_round_trip_crlf_and_blank_lines(void **state)
{
    struct fx *f = *state;
    char legacy[450];
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", f->dir);
    const char *in = "web|2025-06-18T10:00:00Z|a|one\r\n"
                     "\n"
                     "web|2025-06-18T10:00:01Z|b|two\n"
                     "\r\n"
                     "web|2025-06-18T10:00:02Z|c|three\r\n";
    const char *out = "web|2025-06-18T10:00:00Z|a|one\n"
                      "web|2025-06-18T10:00:01Z|b|two\n"
                      "web|2025-06-18T10:00:02Z|c|three\n";
    assert_int_equal(lbt_write_file(legacy, in, strlen(in)), 0);
    const char *imp[] = {"import",  "--redis",       f->r.url, "--stream", f->stream,
                         "--final", "--no-progress", legacy,   NULL};
    char err[4096];
    assert_int_equal(lbt_run(imp, NULL, 0, err, sizeof(err), NULL, 0), 0);
    assert_int_equal(
        run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL),
        0);
    assert_file_equals(f->file, out, strlen(out));
}

static void mirror_metrics_file_has_the_series(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    add_std(f->c, f->stream, 0, 2000, "/a", 0);
    char err[4096];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--once", "--batch", "300", "--metrics-file", metrics, NULL),
                     0);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == 2000);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "excluded") == 0);
    assert_true(metric(metrics, "logbridge_mirror_lag_entries", "file", f->file, NULL) == 0);
    assert_true(metric(metrics, "logbridge_redis_reconnects_total", NULL) == 0);
}

static void mirror_lag_counts_entries_behind(void **state)
{
    struct fx *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    add_std(f->c, f->stream, 0, 20000, "/a", 0);
    /* slow on purpose (a sync per entry), stopped while behind: its last
     * metrics say how many entries it had not written */
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, "--batch", "50", "--fsync",
                           "always", "--metrics-file", metrics, NULL);
    wait_size(f->file, 1000);
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    size_t n;
    char *got = lbt_read_file(f->file, &n);
    long lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += got[i] == '\n';
    free(got);
    assert_true(lines > 0 && lines < 20000);
    assert_true(metric(metrics, "logbridge_mirror_lag_entries", "file", f->file, NULL) ==
                (double)(20000 - lines));
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == (double)lines);
    /* resumed, it catches up: 0 */
    char err[4096];
    assert_int_equal(run_mirror(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                                "--once", "--metrics-file", metrics, NULL),
                     0);
    assert_true(metric(metrics, "logbridge_mirror_lag_entries", "file", f->file, NULL) == 0);
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == (double)(20000 - lines));
}

static void mirror_sigterm_in_a_backlog_exits_0_consistent(void **state)
{
    struct fx *f = *state;
    add_std(f->c, f->stream, 0, 30000, "/a", 0);
    pid_t p = spawn_mirror(f, "--stream", f->stream, "--file", f->file, "--batch", "50", "--fsync",
                           "always", NULL);
    wait_size(f->file, 1000);
    kill(p, SIGTERM);
    assert_int_equal(reap(f, p), 0);
    /* what was written is whole lines, a prefix of the stream, and recorded */
    size_t n, wn;
    char *got = lbt_read_file(f->file, &n);
    char *want = std_lines(0, 30000, &wn);
    assert_true(n > 0 && n <= wn);
    assert_memory_equal(got, want, n);
    assert_true(got[n - 1] == '\n');
    cJSON *j = ckpt(f, NULL);
    assert_non_null(j);
    assert_true(cJSON_GetObjectItem(j, "size")->valuedouble == (double)n);
    cJSON_Delete(j);
    free(got);
    free(want);
}

/* ---- the API that `run` uses, in-process ------------------------------------------------ */

/* Call lb_mirror_opts_parse with stderr captured into err. */
static int parse_captured(struct lb_mirror_opts *o, const char *prefix, char *err, size_t cap,
                          const char *dir, ...)
{
    static char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"mirror";
    va_list ap;
    va_start(ap, dir);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    char path[450];
    snprintf(path, sizeof(path), "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    struct lb_cli cli = {"run", prefix};
    int rc = lb_mirror_opts_parse(o, argc, argv, &cli);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n;
    char *text = lbt_read_file(path, &n);
    snprintf(err, cap, "%s", text ? text : "");
    free(text);
    return rc;
}

static void mirror_opts_parse_names_config_keys(void **state)
{
    struct fx *f = *state;
    struct lb_mirror_opts o;
    char err[1024];
    static const struct {
        const char *k, *v, *want;
    } cases[] = {
        {"--fsync", "sometimes", "mirror[2].fsync: "},
        {"--exclude-src", "", "mirror[2].exclude_src: "},
        {"--from", "x", "mirror[2].from: "},
        {"--batch", "-1", "mirror[2].batch: "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = parse_captured(&o, "mirror[2]", err, sizeof(err), f->dir, "--stream", "s",
                                "--file", "f", cases[i].k, cases[i].v, NULL);
        if (rc != 2 || strstr(err, cases[i].want) == NULL)
            fail_msg("case %zu: rc %d, stderr '%s' (want 2 and '%s')", i, rc, err, cases[i].want);
    }
    assert_int_equal(parse_captured(&o, "mirror[0]", err, sizeof(err), f->dir, "--file", "f", NULL),
                     2);
    assert_non_null(strstr(err, "mirror[0].stream: "));
    /* a good entry: defaults and repeated options */
    assert_int_equal(parse_captured(&o, "mirror[0]", err, sizeof(err), f->dir, "--stream", "s",
                                    "--file", "f", "--exclude-src", "a", "--exclude-src", "b",
                                    "--json-field", "jf", NULL),
                     0);
    assert_string_equal(o.stream, "s");
    assert_string_equal(o.file, "f");
    assert_string_equal(o.from, "0");
    assert_int_equal(o.fsync, LB_FSYNC_BATCH);
    assert_int_equal(o.count, 1000);
    assert_int_equal(o.once, 0);
    assert_int_equal(o.nexclude, 2);
    assert_string_equal(o.exclude[1], "b");
    assert_string_equal(o.json_field, "jf");
}

struct job {
    struct lb_mirror_opts o;
    struct lb_job_env env;
    atomic_int stop;
    atomic_uint hup;
    int rc;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    j->rc = lb_mirror_run(&j->o, &j->o.c, &j->env);
    return NULL;
}

static void mirror_run_api_stop_fd_and_hup(void **state)
{
    struct fx *f = *state;
    char rotated[450], metrics[450], err[1024];
    snprintf(rotated, sizeof(rotated), "%s.1", f->file);
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    lb_log_open(LB_LOG_WARN, 0, NULL);
    struct job *j = calloc(1, sizeof(*j));
    assert_int_equal(parse_captured(&j->o, "mirror[0]", err, sizeof(err), f->dir, "--redis",
                                    f->r.url, "--stream", f->stream, "--file", f->file, NULL),
                     0);
    j->env.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    j->env.stop = &j->stop;
    j->env.hup = &j->hup;
    j->env.metrics = lb_metrics_create(metrics);
    assert_true(j->env.stop_fd >= 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, job_main, j), 0);
    add_std(f->c, f->stream, 0, 100, "/a", 0);
    size_t wn;
    char *want = std_lines(0, 100, &wn);
    wait_size(f->file, wn);
    free(want);
    assert_int_equal(rename(f->file, rotated), 0);
    add_std(f->c, f->stream, 100, 50, "/a", 0);
    want = std_lines(0, 150, &wn);
    wait_size(rotated, wn);
    free(want);
    atomic_fetch_add(&j->hup, 1u); /* what run does on SIGHUP: a counter every job compares */
    struct file_wait fw = {f->file, 0};
    assert_true(lbt_wait_for(file_has_size, &fw, WAIT_MS));
    add_std(f->c, f->stream, 150, 50, "/a", 0);
    want = std_lines(150, 50, &wn);
    wait_size(f->file, wn);
    uint64_t one = 1;
    assert_int_equal(write(j->env.stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j->rc, 0);
    assert_int_equal(atomic_load(&j->hup), 1); /* under run the counter is not the job's to reset */
    assert_file_equals(f->file, want, wn);
    free(want);
    want = std_lines(0, 150, &wn);
    assert_file_equals(rotated, want, wn);
    free(want);
    char id[64];
    last_id(f, id, sizeof(id));
    assert_ckpt(f, id);
    /* the job wrote the metrics at exit */
    assert_true(metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                       "written") == 200);
    lb_metrics_destroy(j->env.metrics);
    close(j->env.stop_fd);
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mirror_once_writes_fields_entries_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_reads_json_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_json_field_option, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_missing_timestamp_from_id, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_escapes_cr_lf_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_skips_bad_entries_and_goes_on, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_skip_warnings_are_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_exclude_src_skips_those_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_live_follows_new_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_survives_redis_restart, setup_with_aof, teardown),
        cmocka_unit_test_setup_teardown(mirror_rotation_rename_and_sighup, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_continues_after_its_unrecorded_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_new_generation_continues_after_id, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_keeps_existing_content_without_checkpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_from_dollar_writes_only_new_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_from_dollar_on_missing_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_from_id_starts_after_it, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_once_on_empty_stream_exits_0, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_fsync_modes_write_the_same, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_refuses_a_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_bad_options_exit_2_naming_them, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_warns_when_unread_entries_were_trimmed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_warns_when_trimmed_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_refused_password_exits_3_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_damaged_checkpoint_exits_3, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_checkpoint_numbers_are_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_round_trip_with_import, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_round_trip_with_import_json, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_round_trip_crlf_and_blank_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_metrics_file_has_the_series, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_lag_counts_entries_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_sigterm_in_a_backlog_exits_0_consistent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(mirror_opts_parse_names_config_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_run_api_stop_fd_and_hup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
