/*
 * fx_mirror.c - the fixture and helpers of the `logbridge mirror` tests
 * (fx_mirror.h).
 */
#include "fx_mirror.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "lbt_prom.h"

int fx_mirror_setup_named(void **state, int aof, const char *stream, const char *file)
{
    return fx_mirror_setup_sized(state, sizeof(struct fx_mirror), aof, stream, file);
}

int fx_mirror_setup_sized(void **state, size_t size, int aof, const char *stream, const char *file)
{
    struct fx_mirror *f = calloc(1, size);
    if (f == NULL)
        return -1;
    *state = f;
    if (lbt_redis_start(&f->r, aof) != 0 || lbt_mkdtemp(f->dir, sizeof(f->dir)))
        return -1;
    f->c = lbt_connect(&f->r);
    if (f->c == NULL)
        return -1;
    snprintf(f->file, sizeof(f->file), "%s/%s", f->dir, file);
    snprintf(f->log, sizeof(f->log), "%s/mirror.out", f->dir);
    snprintf(f->stream, sizeof(f->stream), "%s", stream);
    snprintf(f->key, sizeof(f->key), "logbridge:mirror:{%s}", stream);
    return 0;
}

int fx_mirror_setup(void **state)
{
    return fx_mirror_setup_named(state, 0, "app:events", "app.log");
}

int fx_mirror_setup_aof(void **state)
{
    return fx_mirror_setup_named(state, 1, "app:events", "app.log");
}

int fx_mirror_teardown(void **state)
{
    struct fx_mirror *f = *state;
    if (f == NULL)
        return 0;
    if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        lbt_wait(f->pid);
    }
    if (f->writer > 0) {
        kill(f->writer, SIGKILL);
        waitpid(f->writer, NULL, 0);
    }
    if (f->c != NULL)
        redisFree(f->c);
    if (f->r.pid > 0)
        lbt_redis_stop(&f->r, 1);
    if (f->dir[0] != '\0')
        lbt_rmdir(f->dir);
    for (long i = 0; i < f->nids; i++)
        free(f->ids[i]);
    free(f->ids);
    free(f);
    *state = NULL;
    return 0;
}

void mu_keep_id(struct fx_mirror *f, const char *id)
{
    if (f->nids == f->capids) {
        f->capids = f->capids ? f->capids * 2 : 4096;
        f->ids = realloc(f->ids, (size_t)f->capids * sizeof(char *));
        assert_non_null(f->ids);
    }
    f->ids[f->nids++] = strdup(id);
}

/* XADD with (name, value) pairs; values binary-safe with explicit lengths.
 * id NULL = "*". Returns the new ID in out (may be NULL). */
void mu_xadd(redisContext *c, const char *stream, const char *id, char *out, size_t cap, int npairs,
             const char *const *names, const char *const *values)
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
void mu_split_line(const char *line, char parts[4][256])
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
void mu_add_std(redisContext *c, const char *stream, long from, long n, const char *src, int json)
{
    for (long i = from; i < from + n; i++) {
        char line[512], parts[4][256], off[32];
        lbt_line(line, sizeof(line), i);
        mu_split_line(line, parts);
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
char *mu_std_lines(long from, long n, size_t *len)
{
    size_t cap = (size_t)n * 96 + 1, o = 0;
    char *s = malloc(cap);
    for (long i = from; i < from + n; i++)
        o += lbt_line(s + o, cap - o, i);
    s[o] = '\0';
    *len = o;
    return s;
}

void mu_assert_file_equals(const char *path, const char *want, size_t wn)
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

int mu_run(struct fx_mirror *f, char *err, size_t errcap, ...)
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

pid_t mu_spawn(struct fx_mirror *f, ...)
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
int mu_reap(struct fx_mirror *f, pid_t p)
{
    int rc = lbt_wait(p);
    f->pid = 0;
    return rc;
}

/* The checkpoint JSON of f->file (parsed; NULL when absent). */
cJSON *mu_ckpt(struct fx_mirror *f, const char *file)
{
    redisReply *r = redisCommand(f->c, "HGET %s %s", f->key, file ? file : f->file);
    cJSON *j = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        j = cJSON_Parse(r->str);
    freeReplyObject(r);
    return j;
}

void mu_assert_ckpt(struct fx_mirror *f, const char *want_id)
{
    cJSON *j = mu_ckpt(f, NULL);
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
void mu_last_id(struct fx_mirror *f, char *out, size_t cap)
{
    redisReply *r = redisCommand(f->c, "XREVRANGE %s + - COUNT 1", f->stream);
    assert_non_null(r);
    assert_true(r->elements == 1);
    snprintf(out, cap, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
}

int mu_file_has_size(void *ctx)
{
    struct mu_file_wait *w = ctx;
    struct stat st;
    return stat(w->path, &st) == 0 && (size_t)st.st_size >= w->size;
}

void mu_wait_size(const char *path, size_t size)
{
    struct mu_file_wait w = {path, size};
    if (!lbt_wait_for(mu_file_has_size, &w, FX_MIRROR_WAIT_MS)) {
        struct stat st;
        long long have = stat(path, &st) == 0 ? (long long)st.st_size : -1;
        fail_msg("%s did not reach %zu bytes in time (has %lld)", path, size, have);
    }
}

int mu_ckpt_is(void *ctx)
{
    struct mu_ck_wait *w = ctx;
    cJSON *j = mu_ckpt(w->f, NULL);
    int ok = j != NULL && strcmp(cJSON_GetObjectItem(j, "id")->valuestring, w->want) == 0;
    cJSON_Delete(j);
    return ok;
}

int mu_ckpt_past(void *ctx)
{
    struct mu_ck_wait *w = ctx;
    cJSON *j = mu_ckpt(w->f, NULL);
    const cJSON *id = j != NULL ? cJSON_GetObjectItem(j, "id") : NULL;
    unsigned long long ms = 0, seq = 0, wms = 0, wseq = 0;
    int ok = cJSON_IsString(id) && sscanf(id->valuestring, "%llu-%llu", &ms, &seq) == 2 &&
             sscanf(w->want, "%llu-%llu", &wms, &wseq) == 2 &&
             (ms > wms || (ms == wms && seq >= wseq));
    cJSON_Delete(j);
    return ok;
}

int mu_ckpt_exists(void *ctx)
{
    struct fx_mirror *f = ctx;
    cJSON *j = mu_ckpt(f, NULL);
    cJSON_Delete(j);
    return j != NULL;
}

double mu_metric(const char *path, const char *name, ...)
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

/* ---- the legacy writer --------------------------------------------------------------- */

static volatile sig_atomic_t mu_legacy_stopping;

static void mu_legacy_on_term(int sig)
{
    (void)sig;
    mu_legacy_stopping = 1;
}

/* The child: append lines until SIGTERM; then report the count on fd out. */
static void mu_legacy_main(const char *path, int out)
{
    signal(SIGTERM, mu_legacy_on_term);
    long n = 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        _exit(2);
    while (!mu_legacy_stopping) {
        char line[96];
        int len = snprintf(line, sizeof(line), MU_LEGACY_PREFIX "%ld\n", n);
        if (write(fd, line, (size_t)len) != len)
            _exit(3);
        n++;
        struct timespec ts = {0, 150000};
        nanosleep(&ts, NULL);
    }
    if (write(out, &n, sizeof(n)) != (ssize_t)sizeof(n))
        _exit(4);
    _exit(0);
}

void mu_legacy_start(struct fx_mirror *f, int *rd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        mu_legacy_main(f->file, p[1]);
    }
    close(p[1]);
    *rd = p[0];
    f->writer = pid;
}

long mu_legacy_stop(struct fx_mirror *f, int rd)
{
    kill(f->writer, SIGTERM);
    long n = -1;
    assert_int_equal(read(rd, &n, sizeof(n)), (ssize_t)sizeof(n));
    close(rd);
    int st = 0;
    waitpid(f->writer, &st, 0);
    f->writer = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return n;
}

/* p[0..len) (a line, '\n' included) is k bytes of want (our next line,
 * wl bytes), 0 < k < wl, then legacy line w-next: returns k, else 0. */
static size_t mu_torn_then_legacy(const char *p, size_t len, const char *want, size_t wl,
                                  long next)
{
    size_t plen = strlen(MU_LEGACY_PREFIX);
    for (size_t k = 1; k < wl && k < len && p[k - 1] == want[k - 1]; k++) {
        if (len - k <= plen || memcmp(p + k, MU_LEGACY_PREFIX, plen) != 0)
            continue;
        char *end = NULL;
        long w = strtol(p + k + plen, &end, 10);
        if (end == p + len - 1 && w == next)
            return k;
    }
    return 0;
}

long mu_assert_own_and_legacy(const char *path, const char *own, size_t on, long wrote)
{
    size_t n = 0;
    char *text = lbt_read_file(path, &n);
    assert_non_null(text);
    long next_w = 0, lineno = 0, torn = 0;
    size_t o = 0; /* how much of own was seen */
    size_t plen = strlen(MU_LEGACY_PREFIX);
    for (char *p = text; p < text + n; lineno++) {
        char *nl = memchr(p, '\n', (size_t)(text + n - p));
        if (nl == NULL)
            fail_msg("line %ld is not terminated: '%.80s'", lineno, p);
        size_t len = (size_t)(nl - p) + 1;
        if (len > plen && memcmp(p, MU_LEGACY_PREFIX, plen) == 0) {
            char *end = NULL;
            long w = strtol(p + plen, &end, 10);
            if (end != nl || w != next_w)
                fail_msg("line %ld: writer line '%.*s', expected w-%ld (a writer line lost, "
                         "doubled or garbled)",
                         lineno, (int)(len - 1), p, next_w);
            next_w++;
        } else {
            const char *want = own + o;
            const char *wnl = o < on ? memchr(want, '\n', on - o) : NULL;
            size_t wl = wnl != NULL ? (size_t)(wnl - want) + 1 : 0;
            if ((wl != len || memcmp(want, p, len) != 0) &&
                mu_torn_then_legacy(p, len, want, wl, next_w) > 0) {
                torn++; /* our line comes again whole; the legacy one was written */
                next_w++;
                p = nl + 1;
                continue;
            }
            if (wl != len || memcmp(want, p, len) != 0)
                fail_msg("line %ld (byte %zu of our lines): '%.*s', expected '%.*s'", lineno, o,
                         (int)(len - 1), p, wl > 0 ? (int)wl - 1 : 0, want);
            o += len;
        }
        p = nl + 1;
    }
    free(text);
    if (o != on || next_w != wrote)
        fail_msg("the file has %zu of %zu bytes of our lines and %ld of %ld writer lines", o, on,
                 next_w, wrote);
    return torn;
}
