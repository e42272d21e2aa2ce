/*
 * test_mirror.c - `logbridge mirror` following a stream, against a real
 * redis-server: live mode, a Redis restart, --from ($, an ID), --once on an
 * empty stream, bad options, entries trimmed before they were read (at start
 * and while running), a refused password, metrics and lag, SIGTERM in a
 * backlog, and the API that `run` uses in-process.
 *
 * What each entry becomes is in test_mirror_format.c, the file and its
 * checkpoint in test_mirror_file.c, another writer and OOM in
 * test_mirror_writer.c, the kill -9 rounds in test_mirror_crash.c.
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

#include "fx_mirror.h"
#include "lbt_prom.h"
#include "lbtest.h"
#include "log.h"
#include "metrics.h"
#include "mirror.h"

/* ---- tests ------------------------------------------------------------------------ */

static void mirror_live_follows_new_entries(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, NULL);
    size_t wn;
    char *want = mu_std_lines(0, 100, &wn);
    mu_wait_size(f->file, wn);
    free(want);
    /* entries added later appear, in small and large bursts */
    for (int round = 0; round < 5; round++) {
        long from = 100 + round * 300;
        mu_add_std(f->c, f->stream, from, round % 2 ? 1 : 299, "/a", round % 2);
        mu_add_std(f->c, f->stream, from + (round % 2 ? 1 : 299), round % 2 ? 299 : 1, "/a", 0);
        want = mu_std_lines(0, from + 300, &wn);
        mu_wait_size(f->file, wn);
        mu_assert_file_equals(f->file, want, wn);
        free(want);
    }
    char id[64];
    mu_last_id(f, id, sizeof(id));
    struct mu_ck_wait w = {f, ""};
    snprintf(w.want, sizeof(w.want), "%s", id);
    assert_true(lbt_wait_for(mu_ckpt_is, &w, FX_MIRROR_WAIT_MS));
    int64_t t0 = lbt_now_ms();
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    /* BLOCK <= 1000 ms: a stop is noticed quickly */
    assert_true(lbt_now_ms() - t0 < 5000);
    mu_assert_ckpt(f, id);
}

static void mirror_survives_redis_restart(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    mu_add_std(f->c, f->stream, 0, 500, "/a", 0);
    pid_t p =
        mu_spawn(f, "--stream", f->stream, "--file", f->file, "--metrics-file", metrics, NULL);
    size_t wn;
    char *want = mu_std_lines(0, 500, &wn);
    mu_wait_size(f->file, wn);
    free(want);
    struct mu_ck_wait w = {f, ""};
    mu_last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(mu_ckpt_is, &w, FX_MIRROR_WAIT_MS));
    redisFree(f->c);
    f->c = NULL;
    lbt_redis_kill(&f->r, SIGKILL);
    lbt_sleep_ms(300); /* pacing: let the mirror notice and start its backoff */
    assert_int_equal(lbt_redis_restart(&f->r), 0);
    f->c = lbt_connect(&f->r);
    assert_non_null(f->c);
    mu_add_std(f->c, f->stream, 500, 500, "/a", 0);
    want = mu_std_lines(0, 1000, &wn);
    mu_wait_size(f->file, wn);
    mu_last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(mu_ckpt_is, &w, FX_MIRROR_WAIT_MS));
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    assert_true(mu_metric(metrics, "logbridge_redis_reconnects_total", NULL) >= 1);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == 1000);
    size_t ln;
    char *log = lbt_read_file(f->log, &ln);
    assert_non_null(log);
    assert_non_null(strstr(log, "reconnecting"));
    free(log);
}

static void mirror_from_dollar_writes_only_new_entries(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, "--from", "$", NULL);
    /* $ is resolved and recorded at start: wait for that, then add */
    assert_true(lbt_wait_for(mu_ckpt_exists, f, FX_MIRROR_WAIT_MS));
    mu_add_std(f->c, f->stream, 100, 10, "/a", 0);
    size_t wn;
    char *want = mu_std_lines(100, 10, &wn);
    mu_wait_size(f->file, wn);
    struct mu_ck_wait w = {f, ""};
    mu_last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(mu_ckpt_is, &w, FX_MIRROR_WAIT_MS));
    kill(p, SIGKILL);
    mu_reap(f, p);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    /* entries added while it is down are not lost by a restart with --from $:
     * the checkpoint wins over --from */
    mu_add_std(f->c, f->stream, 110, 5, "/a", 0);
    char err[4096];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--from",
                            "$", "--once", NULL),
                     0);
    want = mu_std_lines(100, 15, &wn);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_from_dollar_on_missing_stream(void **state)
{
    struct fx_mirror *f = *state;
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, "--from", "$", NULL);
    assert_true(lbt_wait_for(mu_ckpt_exists, f, FX_MIRROR_WAIT_MS));
    mu_add_std(f->c, f->stream, 0, 3, "/a", 0);
    size_t wn;
    char *want = mu_std_lines(0, 3, &wn);
    mu_wait_size(f->file, wn);
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_from_id_starts_after_it(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 50, "/a", 0);
    char id[64];
    mu_last_id(f, id, sizeof(id));
    mu_add_std(f->c, f->stream, 50, 50, "/a", 0);
    char err[4096];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--from",
                            id, "--once", NULL),
                     0);
    size_t wn;
    char *want = mu_std_lines(50, 50, &wn);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_once_on_empty_stream_exits_0(void **state)
{
    struct fx_mirror *f = *state;
    char err[4096];
    int64_t t0 = lbt_now_ms();
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    assert_true(lbt_now_ms() - t0 < 5000);
    mu_assert_file_equals(f->file, "", 0);
    mu_assert_ckpt(f, "0-0");
}

static void mirror_bad_options_exit_2_naming_them(void **state)
{
    struct fx_mirror *f = *state;
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
        /* a template is followed (test_streams.c); an empty name is not a stream */
        {{"--stream", "", "--file", "x", NULL}, "--stream"},
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
    struct fx_mirror *f = *state;
    /* entries trimmed before a new mirror existed are not its loss */
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    redisReply *r = redisCommand(f->c, "XTRIM %s MAXLEN 80", f->stream);
    freeReplyObject(r);
    char err[8192];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    assert_null(strstr(err, "trimmed"));
    /* 100 more; trimming to 50 drops 50 that the mirror has not read */
    mu_add_std(f->c, f->stream, 100, 100, "/a", 0);
    r = redisCommand(f->c, "XTRIM %s MAXLEN 50", f->stream);
    freeReplyObject(r);
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    if (strstr(err, "before they were mirrored") == NULL)
        fail_msg("no warning about the lost entries: %s", err);
    size_t n1, n2;
    char *a = mu_std_lines(20, 80, &n1);
    char *b = mu_std_lines(150, 50, &n2);
    a = realloc(a, n1 + n2 + 1);
    memcpy(a + n1, b, n2);
    mu_assert_file_equals(f->file, a, n1 + n2);
    free(a);
    free(b);
    /* said once: a rerun with nothing new is quiet */
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
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
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    const long n = 20000;
    mu_add_std(f->c, f->stream, 0, n, "/a", 0);
    /* slow on purpose (a sync per entry), so that a trim overtakes it */
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, "--batch", "50", "--fsync",
                       "always", "--metrics-file", metrics, NULL);
    mu_wait_size(f->file, 2000);
    redisReply *r = redisCommand(f->c, "XTRIM %s MAXLEN 1000", f->stream);
    freeReplyObject(r);
    struct log_wait lw = {f->log, "entries were trimmed or deleted"};
    if (!lbt_wait_for(log_has, &lw, FX_MIRROR_WAIT_MS))
        fail_msg("no warning about entries trimmed while the mirror ran");
    struct mu_ck_wait w = {f, ""};
    mu_last_id(f, w.want, sizeof(w.want));
    assert_true(lbt_wait_for(mu_ckpt_is, &w, 60000));
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    /* the file: a prefix of the lines, then exactly the 1000 retained */
    size_t got_n, tail_n;
    char *got = lbt_read_file(f->file, &got_n);
    char *tail = mu_std_lines(n - 1000, 1000, &tail_n);
    assert_true(got_n > tail_n);
    assert_memory_equal(got + got_n - tail_n, tail, tail_n);
    long k = 0;
    for (size_t i = 0; i < got_n - tail_n; i++)
        k += got[i] == '\n';
    size_t head_n;
    char *head = mu_std_lines(0, k, &head_n);
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
    struct fx_mirror *f = *state;
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

static void mirror_metrics_file_has_the_series(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    mu_add_std(f->c, f->stream, 0, 2000, "/a", 0);
    char err[4096];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once",
                            "--batch", "300", "--metrics-file", metrics, NULL),
                     0);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == 2000);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "excluded") == 0);
    assert_true(mu_metric(metrics, "logbridge_mirror_lag_entries", "file", f->file, NULL) == 0);
    assert_true(mu_metric(metrics, "logbridge_redis_reconnects_total", NULL) == 0);
}

static void mirror_lag_counts_entries_behind(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    mu_add_std(f->c, f->stream, 0, 20000, "/a", 0);
    /* slow on purpose (a sync per entry), stopped while behind: its last
     * metrics say how many entries it had not written */
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, "--batch", "50", "--fsync",
                       "always", "--metrics-file", metrics, NULL);
    mu_wait_size(f->file, 1000);
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    size_t n;
    char *got = lbt_read_file(f->file, &n);
    long lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += got[i] == '\n';
    free(got);
    assert_true(lines > 0 && lines < 20000);
    assert_true(mu_metric(metrics, "logbridge_mirror_lag_entries", "file", f->file, NULL) ==
                (double)(20000 - lines));
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == (double)lines);
    /* resumed, it catches up: 0 */
    char err[4096];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once",
                            "--metrics-file", metrics, NULL),
                     0);
    assert_true(mu_metric(metrics, "logbridge_mirror_lag_entries", "file", f->file, NULL) == 0);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == (double)(20000 - lines));
}

static void mirror_sigterm_in_a_backlog_exits_0_consistent(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 30000, "/a", 0);
    pid_t p = mu_spawn(f, "--stream", f->stream, "--file", f->file, "--batch", "50", "--fsync",
                       "always", NULL);
    mu_wait_size(f->file, 1000);
    kill(p, SIGTERM);
    assert_int_equal(mu_reap(f, p), 0);
    /* what was written is whole lines, a prefix of the stream, and recorded */
    size_t n, wn;
    char *got = lbt_read_file(f->file, &n);
    char *want = mu_std_lines(0, 30000, &wn);
    assert_true(n > 0 && n <= wn);
    assert_memory_equal(got, want, n);
    assert_true(got[n - 1] == '\n');
    cJSON *j = mu_ckpt(f, NULL);
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
    struct fx_mirror *f = *state;
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
    assert_string_equal(o.streams.v[0], "s");
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
    struct fx_mirror *f = *state;
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
    mu_add_std(f->c, f->stream, 0, 100, "/a", 0);
    size_t wn;
    char *want = mu_std_lines(0, 100, &wn);
    mu_wait_size(f->file, wn);
    free(want);
    assert_int_equal(rename(f->file, rotated), 0);
    mu_add_std(f->c, f->stream, 100, 50, "/a", 0);
    want = mu_std_lines(0, 150, &wn);
    mu_wait_size(rotated, wn);
    free(want);
    atomic_fetch_add(&j->hup, 1u); /* what run does on SIGHUP: a counter every job compares */
    struct mu_file_wait fw = {f->file, 0};
    assert_true(lbt_wait_for(mu_file_has_size, &fw, FX_MIRROR_WAIT_MS));
    mu_add_std(f->c, f->stream, 150, 50, "/a", 0);
    want = mu_std_lines(150, 50, &wn);
    mu_wait_size(f->file, wn);
    uint64_t one = 1;
    assert_int_equal(write(j->env.stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(j->rc, 0);
    assert_int_equal(atomic_load(&j->hup), 1); /* under run the counter is not the job's to reset */
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    want = mu_std_lines(0, 150, &wn);
    mu_assert_file_equals(rotated, want, wn);
    free(want);
    char id[64];
    mu_last_id(f, id, sizeof(id));
    mu_assert_ckpt(f, id);
    /* the job counted into the registry; its owner (the service) writes it */
    assert_int_equal(lb_metrics_write(j->env.metrics, NULL), 0);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == 200);
    lb_metrics_destroy(j->env.metrics);
    close(j->env.stop_fd);
    free(j);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mirror_live_follows_new_entries, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_survives_redis_restart, fx_mirror_setup_aof,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_from_dollar_writes_only_new_entries, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_from_dollar_on_missing_stream, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_from_id_starts_after_it, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_once_on_empty_stream_exits_0, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_bad_options_exit_2_naming_them, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_warns_when_unread_entries_were_trimmed,
                                        fx_mirror_setup, fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_warns_when_trimmed_while_running, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_refused_password_exits_3_at_once, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_metrics_file_has_the_series, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_lag_counts_entries_behind, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_sigterm_in_a_backlog_exits_0_consistent,
                                        fx_mirror_setup, fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_opts_parse_names_config_keys, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_run_api_stop_fd_and_hup, fx_mirror_setup,
                                        fx_mirror_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
