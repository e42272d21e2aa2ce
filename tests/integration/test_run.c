/*
 * test_run.c - `logbridge run --config`: several jobs in one process, the
 * signals (SIGTERM commits and exits 0, SIGHUP reopens the log and mirror
 * files), a failing job stopping the others, the metrics file and the JSON
 * log. Every count is exact; every wait polls with a deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbt_prom.h"
#include "lbtest.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char cfg[320], log[320], prom[320], out[320];
    pid_t pid;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_redis_start(&f->r, 0) != 0 || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    f->c = lbt_connect(&f->r);
    snprintf(f->cfg, sizeof(f->cfg), "%s/config.json", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/logbridge.log", f->dir);
    snprintf(f->prom, sizeof(f->prom), "%s/logbridge.prom", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/run.out", f->dir);
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

static void write_config(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void write_config(struct fx *f, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    assert_int_equal(lbt_write_file(f->cfg, text, (size_t)n), 0);
}

static void start_run(struct fx *f)
{
    const char *args[] = {"run", "--config", f->cfg, NULL};
    f->pid = lbt_spawn(args, f->out);
    assert_true(f->pid > 0);
}

/* SIGTERM (or another signal) and the exit code, within a deadline. */
static int stop_run(struct fx *f, int sig)
{
    kill(f->pid, sig);
    int64_t end = lbt_now_ms() + 20000;
    int st;
    for (;;) {
        pid_t p = waitpid(f->pid, &st, WNOHANG);
        if (p == f->pid)
            break;
        if (lbt_now_ms() > end) {
            kill(f->pid, SIGKILL);
            lbt_wait(f->pid);
            f->pid = 0;
            fail_msg("logbridge run did not exit within 20 s of signal %d", sig);
        }
        lbt_sleep_ms(5);
    }
    f->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void append_lines(const char *path, long from, long n)
{
    size_t cap = (size_t)n * 128 + 1;
    char *buf = malloc(cap);
    size_t o = 0;
    for (long i = from; i < from + n; i++)
        o += lbt_line(buf + o, cap - o, i);
    assert_int_equal(lbt_append_file(path, buf, o), 0);
    free(buf);
}

struct xlen_ctx {
    redisContext *c;
    const char *key;
    long long want;
};

static int xlen_is(void *p)
{
    struct xlen_ctx *x = p;
    return lbt_xlen(x->c, x->key) == x->want;
}

static void wait_xlen(struct fx *f, const char *key, long long want)
{
    struct xlen_ctx x = {f->c, key, want};
    if (!lbt_wait_for(xlen_is, &x, 20000)) {
        char *out = lbt_read_file(f->out, NULL);
        fail_msg("XLEN %s is %lld, expected %lld; logbridge said:\n%s", key, lbt_xlen(f->c, key),
                 want, out ? out : "");
    }
}

static long count_lines(const char *path)
{
    size_t n;
    char *t = lbt_read_file(path, &n);
    if (t == NULL)
        return -1;
    long c = 0;
    for (size_t i = 0; i < n; i++)
        c += t[i] == '\n';
    free(t);
    return c;
}

struct lines_ctx {
    const char *path;
    long want;
};

static int lines_are(void *p)
{
    struct lines_ctx *x = p;
    return count_lines(x->path) == x->want;
}

static void wait_lines(struct fx *f, const char *path, long want)
{
    struct lines_ctx x = {path, want};
    if (!lbt_wait_for(lines_are, &x, 20000)) {
        char *out = lbt_read_file(f->out, NULL);
        fail_msg("%s has %ld lines, expected %ld; logbridge said:\n%s", path, count_lines(path),
                 want, out ? out : "");
    }
}

static int file_exists(void *p)
{
    struct stat st;
    return stat((const char *)p, &st) == 0;
}

/* The entries of S whose src is src, checked to be lbt_line(first..) in
 * order with increasing offsets. Returns their count. */
static long check_src_entries(const struct lbt_entry *e, long n, const char *src, long first)
{
    long k = 0;
    long long last_off = -1;
    for (long i = 0; i < n; i++) {
        const char *s = lbt_field(&e[i], "src");
        if (s == NULL || strcmp(s, src) != 0)
            continue;
        char want[256], got[1024];
        lbt_line(want, sizeof(want), first + k);
        snprintf(got, sizeof(got), "%s|%s|%s|%s\n", lbt_field(&e[i], "role"),
                 lbt_field(&e[i], "timestamp"), lbt_field(&e[i], "type"), lbt_field(&e[i], "data"));
        if (strcmp(want, got) != 0)
            fail_msg("%s entry %ld is %s, expected %s", src, k, got, want);
        long long off = atoll(lbt_field(&e[i], "off"));
        if (off <= last_off)
            fail_msg("%s entry %ld: off %lld after %lld", src, k, off, last_off);
        last_off = off;
        k++;
    }
    return k;
}

/* Each line of the log file is one JSON object with time, level and msg. */
static void check_json_log(const char *path, const char *must_contain)
{
    size_t n;
    char *t = lbt_read_file(path, &n);
    assert_non_null(t);
    int found = 0, lines = 0;
    for (char *line = strtok(t, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        lines++;
        cJSON *j = cJSON_Parse(line);
        if (j == NULL || !cJSON_IsObject(j))
            fail_msg("log line %d is not a JSON object: %s", lines, line);
        const cJSON *time = cJSON_GetObjectItemCaseSensitive(j, "time");
        const cJSON *level = cJSON_GetObjectItemCaseSensitive(j, "level");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "msg");
        assert_true(cJSON_IsString(time) && cJSON_IsString(level) && cJSON_IsString(msg));
        assert_true(
            strcmp(level->valuestring, "error") == 0 || strcmp(level->valuestring, "warn") == 0 ||
            strcmp(level->valuestring, "info") == 0 || strcmp(level->valuestring, "debug") == 0);
        found |= strstr(msg->valuestring, must_contain) != NULL;
        cJSON_Delete(j);
    }
    if (!found)
        fail_msg("no log line has '%s'", must_contain);
    free(t);
}

static double prom_value(const struct lbt_prom *p, const char *name, const char *k1, const char *v1,
                         const char *k2, const char *v2)
{
    const struct lbt_prom_sample *s = lbt_prom_find(p, name, k1, v1, k2, v2, NULL);
    if (s == NULL)
        fail_msg("no metric %s{%s=%s,%s=%s}", name, k1, v1, k2 ? k2 : "", v2 ? v2 : "");
    return s->value;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void run_two_tails_one_mirror_end_to_end(void **state)
{
    struct fx *f = *state;
    char a[400], b[400], m[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    snprintf(b, sizeof(b), "%s/b.log", f->dir);
    snprintf(m, sizeof(m), "%s/legacy.log", f->dir);
    append_lines(a, 0, 300);
    assert_int_equal(lbt_append_file(a, "a bad line\n\n", 12), 0);
    append_lines(b, 10000, 200);
    assert_int_equal(lbt_append_file(b, "b|bad\nweb|never|t|d\n", 20), 0);
    write_config(f,
                 "{\"redis\": \"%s\", \"metrics_file\": \"%s\", \"log_file\": \"%s\",\n"
                 " \"log_format\": \"json\", \"log_level\": \"debug\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\", \"batch\": 64},\n"
                 "          {\"paths\": [\"%s\"], \"stream\": \"S\"}],\n"
                 " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s\"}]}\n",
                 f->r.url, f->prom, f->log, a, b, m);
    start_run(f);
    wait_xlen(f, "S", 500);
    /* both files keep growing while everything runs */
    append_lines(a, 300, 100);
    assert_int_equal(lbt_append_file(a, "late bad\n", 9), 0);
    append_lines(b, 10200, 50);
    wait_xlen(f, "S", 650);
    wait_xlen(f, "logbridge:dlq:{S}", 4);
    wait_lines(f, m, 650);
    assert_int_equal(stop_run(f, SIGTERM), 0);

    struct lbt_entry *e;
    long n = lbt_xrange_all(f->c, "S", &e);
    assert_int_equal(n, 650);
    assert_int_equal(check_src_entries(e, n, a, 0), 400);
    assert_int_equal(check_src_entries(e, n, b, 10000), 250);
    /* the mirror file is the stream, line for line, in stream order */
    size_t len;
    char *text = lbt_read_file(m, &len);
    assert_non_null(text);
    char *line = text;
    for (long i = 0; i < n; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        char want[1024];
        snprintf(want, sizeof(want), "%s|%s|%s|%s", lbt_field(&e[i], "role"),
                 lbt_field(&e[i], "timestamp"), lbt_field(&e[i], "type"), lbt_field(&e[i], "data"));
        if (strcmp(line, want) != 0)
            fail_msg("mirror line %ld is '%s', expected '%s'", i + 1, line, want);
        line = nl + 1;
    }
    assert_int_equal(*line, '\0');
    free(text);
    lbt_entries_free(e, n);

    /* the metrics file after exit: valid text, counters equal to the truth */
    char *ptext = lbt_read_file(f->prom, NULL);
    assert_non_null(ptext);
    struct lbt_prom p;
    if (lbt_prom_parse(ptext, &p) != 0)
        fail_msg("metrics file: %s\n%s", p.err, ptext);
    assert_true(prom_value(&p, "logbridge_lines_total", "src", a, "outcome", "written") == 400);
    assert_true(prom_value(&p, "logbridge_lines_total", "src", a, "outcome", "bad") == 2);
    assert_true(prom_value(&p, "logbridge_lines_total", "src", a, "outcome", "blank") == 1);
    assert_true(prom_value(&p, "logbridge_lines_total", "src", b, "outcome", "written") == 250);
    assert_true(prom_value(&p, "logbridge_lines_total", "src", b, "outcome", "bad") == 2);
    struct stat st;
    assert_int_equal(stat(a, &st), 0);
    assert_true(prom_value(&p, "logbridge_bytes_read_total", "src", a, NULL, NULL) ==
                (double)st.st_size);
    assert_true(prom_value(&p, "logbridge_mirror_entries_total", "file", m, "outcome", "written") ==
                650);
    assert_string_equal(lbt_prom_kind(&p, "logbridge_lines_total"), "counter");
    assert_string_equal(lbt_prom_kind(&p, "logbridge_batch_seconds"), "histogram");
    lbt_prom_free(&p);
    free(ptext);

    /* --log-format json: every line of the log parses */
    check_json_log(f->log, "run: 2 tail and 1 mirror jobs");
}

static void run_sigterm_commits_everything_appended_before(void **state)
{
    struct fx *f = *state;
    char a[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    write_config(f,
                 "{\"redis\": \"%s\", \"log_file\": \"%s\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\", \"batch\": 100}]}\n",
                 f->r.url, f->log, a);
    long total = 0;
    for (int round = 0; round < 5; round++) {
        append_lines(a, total, 50);
        total += 50;
        start_run(f);
        wait_xlen(f, "S", total);
        /* a burst, then the signal right after the last write (50 batches:
         * tail gives its drain at most 2 s, which 200 batches under ASan on
         * a loaded machine could outlast) */
        for (int k = 0; k < 5; k++) {
            append_lines(a, total, 1000);
            total += 1000;
        }
        assert_int_equal(stop_run(f, round % 2 ? SIGINT : SIGTERM), 0);
        long long got = lbt_xlen(f->c, "S");
        if (got != total) {
            char *log = lbt_read_file(f->log, NULL);
            fail_msg("round %d: %lld entries after the signal, %ld lines were appended before "
                     "it\n%s",
                     round, got, total, log ? log : "");
        }
    }
    struct lbt_entry *e;
    long n = lbt_xrange_all(f->c, "S", &e);
    assert_int_equal(check_src_entries(e, n, a, 0), total);
    lbt_entries_free(e, n);
    /* committed: another reader from the checkpoint finds nothing new */
    const char *args[] = {"tail", "--redis", f->r.url, "--stream", "S", "--once", a, NULL};
    char err[4096];
    assert_int_equal(lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0), 0);
    assert_int_equal(lbt_xlen(f->c, "S"), total);
}

static void run_sighup_reopens_log_and_mirror_files(void **state)
{
    struct fx *f = *state;
    char m[400], m1[400], log1[400];
    snprintf(m, sizeof(m), "%s/legacy.log", f->dir);
    snprintf(m1, sizeof(m1), "%s/legacy.log.1", f->dir);
    snprintf(log1, sizeof(log1), "%s.1", f->log);
    write_config(f,
                 "{\"redis\": \"%s\", \"log_file\": \"%s\",\n"
                 " \"mirror\": [{\"stream\": \"M\", \"file\": \"%s\"}]}\n",
                 f->r.url, f->log, m);
    for (int i = 0; i < 10; i++)
        freeReplyObject(redisCommand(
            f->c, "XADD M * role r timestamp 2025-06-18T10:00:00Z type t data d%d", i));
    start_run(f);
    wait_lines(f, m, 10);

    /* logrotate: rename both files, then SIGHUP */
    assert_int_equal(rename(m, m1), 0);
    assert_int_equal(rename(f->log, log1), 0);
    kill(f->pid, SIGHUP);
    if (!lbt_wait_for(file_exists, m, 10000))
        fail_msg("no new mirror file after SIGHUP");
    if (!lbt_wait_for(file_exists, f->log, 10000))
        fail_msg("no new log file after SIGHUP");
    for (int i = 10; i < 15; i++)
        freeReplyObject(redisCommand(
            f->c, "XADD M * role r timestamp 2025-06-18T10:00:00Z type t data d%d", i));
    wait_lines(f, m, 5);
    assert_int_equal(stop_run(f, SIGTERM), 0);

    /* every entry exactly once across the two generations, in order */
    assert_int_equal(count_lines(m1), 10);
    assert_int_equal(count_lines(m), 5);
    char *old = lbt_read_file(m1, NULL), *cur = lbt_read_file(m, NULL);
    for (int i = 0; i < 15; i++) {
        char want[128];
        snprintf(want, sizeof(want), "r|2025-06-18T10:00:00Z|t|d%d\n", i);
        if (strstr(i < 10 ? old : cur, want) == NULL)
            fail_msg("entry d%d is not in %s", i, i < 10 ? m1 : m);
    }
    free(old);
    free(cur);
    /* the log went on in the new file */
    char *log = lbt_read_file(f->log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "SIGHUP"));
    assert_non_null(strstr(log, "run: stopped (exit 0)"));
    free(log);
    log = lbt_read_file(log1, NULL);
    assert_non_null(strstr(log, "run: 0 tail and 1 mirror jobs"));
    free(log);
}

static void run_failing_job_stops_the_others_exit_3(void **state)
{
    struct fx *f = *state;
    char a[400], m[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    snprintf(m, sizeof(m), "%s/legacy.log", f->dir);
    append_lines(a, 0, 20);
    /* A failure only the running job can meet (a missing directory is
     * check-config's now): a checkpoint that cannot be trusted. */
    freeReplyObject(redisCommand(f->c, "HSET logbridge:mirror:{S} %s garbage", m));
    write_config(f,
                 "{\"redis\": \"%s\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\"}],\n"
                 " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s\"}]}\n",
                 f->r.url, a, m);
    start_run(f);
    /* no signal: the failing mirror alone must bring the process down */
    int64_t end = lbt_now_ms() + 20000;
    int st = 0;
    while (waitpid(f->pid, &st, WNOHANG) != f->pid) {
        if (lbt_now_ms() > end)
            fail_msg("run kept going after a job failed");
        lbt_sleep_ms(5);
    }
    f->pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 3);
    char *out = lbt_read_file(f->out, NULL);
    assert_non_null(out);
    if (strstr(out, "mirror[0] failed") == NULL)
        fail_msg("no 'mirror[0] failed' in:\n%s", out);
    free(out);
}

/* Redis out of memory (maxmemory, noeviction) while a tail and a mirror
 * run: both wait it out (DESIGN 4.5), the process does not exit, and once
 * memory is raised every line is in the stream once and in the mirror file
 * once. */
static void run_waits_out_oom_in_every_job(void **state)
{
    struct fx *f = *state;
    char a[400], m[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    snprintf(m, sizeof(m), "%s/legacy.log", f->dir);
    append_lines(a, 0, 200);
    write_config(f,
                 "{\"redis\": \"%s\", \"log_file\": \"%s\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\", \"batch\": 50}],\n"
                 " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s\"}]}\n",
                 f->r.url, f->log, a, m);
    start_run(f);
    wait_xlen(f, "S", 200);
    wait_lines(f, m, 200);
    redisReply *rep = redisCommand(f->c, "CONFIG SET maxmemory-policy noeviction");
    freeReplyObject(rep);
    rep = redisCommand(f->c, "CONFIG SET maxmemory 1");
    assert_non_null(rep);
    assert_int_not_equal(rep->type, REDIS_REPLY_ERROR);
    freeReplyObject(rep);
    append_lines(a, 200, 300);
    /* for a while: nothing goes in, and nobody gives up */
    int64_t until = lbt_now_ms() + 2500;
    while (lbt_now_ms() < until) {
        int st;
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            f->pid = 0;
            char *log = lbt_read_file(f->log, NULL);
            fail_msg("run exited while Redis was out of memory:\n%s", log ? log : "");
        }
        lbt_sleep_ms(20);
    }
    assert_int_equal(lbt_xlen(f->c, "S"), 200);
    rep = redisCommand(f->c, "CONFIG SET maxmemory 0");
    freeReplyObject(rep);
    wait_xlen(f, "S", 500);
    wait_lines(f, m, 500);
    assert_int_equal(stop_run(f, SIGTERM), 0);
    struct lbt_entry *e;
    long n = lbt_xrange_all(f->c, "S", &e);
    assert_int_equal(n, 500);
    assert_int_equal(check_src_entries(e, n, a, 0), 500);
    lbt_entries_free(e, n);
    assert_int_equal(count_lines(m), 500);
    char *log = lbt_read_file(f->log, NULL);
    assert_non_null(log);
    if (strstr(log, "OOM") == NULL)
        fail_msg("the refusal was not said:\n%s", log);
    free(log);
}

static void run_once_jobs_finish_and_exit_0(void **state)
{
    struct fx *f = *state;
    char a[400], m[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    snprintf(m, sizeof(m), "%s/legacy.log", f->dir);
    append_lines(a, 0, 123);
    for (int i = 0; i < 7; i++)
        freeReplyObject(redisCommand(
            f->c, "XADD M * role r timestamp 2025-06-18T10:00:00Z type t data d%d", i));
    /* log_level error: a run that goes well says nothing */
    write_config(f,
                 "{\"redis\": \"%s\", \"log_level\": \"error\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\", \"once\": true}],\n"
                 " \"mirror\": [{\"stream\": \"M\", \"file\": \"%s\", \"once\": true}]}\n",
                 f->r.url, a, m);
    const char *args[] = {"run", "--config", f->cfg, NULL};
    char out[4096], err[8192];
    assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_string_equal(out, "");
    assert_string_equal(err, "");
    assert_int_equal(lbt_xlen(f->c, "S"), 123);
    assert_int_equal(count_lines(m), 7);
}

static int prom_has_written(void *p)
{
    struct fx *f = p;
    char a[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    char *text = lbt_read_file(f->prom, NULL);
    if (text == NULL)
        return 0;
    struct lbt_prom pr;
    int ok = lbt_prom_parse(text, &pr) == 0;
    const struct lbt_prom_sample *s =
        ok ? lbt_prom_find(&pr, "logbridge_lines_total", "src", a, "outcome", "written", NULL)
           : NULL;
    ok = s != NULL && s->value == 42;
    lbt_prom_free(&pr);
    free(text);
    return ok;
}

static void run_writes_metrics_while_running(void **state)
{
    struct fx *f = *state;
    char a[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    append_lines(a, 0, 42);
    write_config(f,
                 "{\"redis\": \"%s\", \"metrics_file\": \"%s\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\"}]}\n",
                 f->r.url, f->prom, a);
    start_run(f);
    wait_xlen(f, "S", 42);
    /* rewritten every 5 s while the job runs, not only at exit */
    if (!lbt_wait_for(prom_has_written, f, 15000))
        fail_msg("the metrics file did not show the 42 lines within 15 s of running");
    assert_int_equal(stop_run(f, SIGTERM), 0);
}

static int log_says_unreachable(void *p)
{
    struct fx *f = p;
    char *log = lbt_read_file(f->log, NULL);
    int n = 0;
    for (const char *q = log; q != NULL && (q = strstr(q, "no-such.sock")) != NULL; q++)
        n++;
    free(log);
    return n >= 2; /* both jobs have tried */
}

static void run_stops_while_redis_is_down(void **state)
{
    struct fx *f = *state;
    char a[400], m[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    snprintf(m, sizeof(m), "%s/legacy.log", f->dir);
    append_lines(a, 0, 10);
    /* Redis down is backpressure: the jobs retry, and a stop still works */
    write_config(f,
                 "{\"redis\": \"unix://%s/no-such.sock\", \"log_file\": \"%s\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"S\"}],\n"
                 " \"mirror\": [{\"stream\": \"S\", \"file\": \"%s\"}]}\n",
                 f->dir, f->log, a, m);
    start_run(f);
    if (!lbt_wait_for(log_says_unreachable, f, 20000)) {
        char *log = lbt_read_file(f->log, NULL);
        fail_msg("the jobs did not report the unreachable Redis:\n%s", log ? log : "");
    }
    /* still running: not a failure */
    assert_int_equal(waitpid(f->pid, NULL, WNOHANG), 0);
    assert_int_equal(stop_run(f, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(run_two_tails_one_mirror_end_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(run_sigterm_commits_everything_appended_before, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(run_sighup_reopens_log_and_mirror_files, setup, teardown),
        cmocka_unit_test_setup_teardown(run_failing_job_stops_the_others_exit_3, setup, teardown),
        cmocka_unit_test_setup_teardown(run_waits_out_oom_in_every_job, setup, teardown),
        cmocka_unit_test_setup_teardown(run_once_jobs_finish_and_exit_0, setup, teardown),
        cmocka_unit_test_setup_teardown(run_writes_metrics_while_running, setup, teardown),
        cmocka_unit_test_setup_teardown(run_stops_while_redis_is_down, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
