/*
 * test_metrics_live.c - the metrics tell the truth while logbridge runs
 * (DESIGN.md section 5, issue 14): logbridge_lag_bytes follows the file while
 * Redis is away, logbridge_redis_up{job} says 0 then 1, every family has
 * # HELP and # TYPE (checked by the strict parser), every counter exists at
 * 0 from the start, logbridge_batch_seconds carries a job label, and
 * logbridge_last_commit_timestamp_seconds{src} is the time of a commit.
 *
 * Each outage test: the writer is stopped and the checkpoint has caught up
 * with the file (size F0), Redis is stopped, a writer appends at a steady
 * rate for a few seconds, then stops (size F1). The metrics file must then
 * show lag exactly F1 - F0 with redis_up 0 (a lag frozen at the outage would
 * show 0: it cannot pass by accident); after Redis is back, redis_up 1, lag
 * 0, and every line exactly once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fx_tail.h"
#include "lbt_prom.h"
#include "lbtest.h"
#include "tail_util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CK "logbridge:ckpt:{s}"
#define PAD 120
#define RATE_LINES 20 /* per tick */
#define TICK_MS 50    /* 400 lines/s, ~60 KB/s */

/* ---- the metrics file --------------------------------------------------------- */

/* Parse the metrics file strictly (HELP and TYPE for every family); 0 or -1
 * (the file is missing or half-way). fail: a parse error fails the test. */
static int prom_load(const char *path, struct lbt_prom *p, int fail)
{
    char *text = lbt_read_file(path, NULL);
    if (text == NULL)
        return -1;
    int rc = lbt_prom_parse_strict(text, p);
    if (rc != 0 && fail)
        fail_msg("%s is not strict Prometheus text: %s\n%s", path, p->err, text);
    free(text);
    return rc;
}

/* The value of a series, or NAN when the file lacks it. */
static double prom_value(const char *path, const char *name, const char *k, const char *v)
{
    struct lbt_prom p;
    if (prom_load(path, &p, 1) != 0)
        return NAN;
    const struct lbt_prom_sample *s = lbt_prom_find(&p, name, k, v, NULL);
    double x = s != NULL ? s->value : NAN;
    lbt_prom_free(&p);
    return x;
}

struct want {
    const char *path;
    const char *src, *job;
    double lag; /* NAN: any */
    double up;  /* NAN: any */
    double seen_lag, seen_up;
};

static int metrics_show(void *ctx)
{
    struct want *w = ctx;
    w->seen_lag = prom_value(w->path, "logbridge_lag_bytes", "src", w->src);
    w->seen_up = prom_value(w->path, "logbridge_redis_up", "job", w->job);
    return (isnan(w->lag) || w->seen_lag == w->lag) && (isnan(w->up) || w->seen_up == w->up);
}

static void wait_metrics(struct fx_tail *t, const char *prom, const char *job, double lag,
                         double up, const char *when)
{
    struct want w = {prom, t->path, job, lag, up, NAN, NAN};
    if (!lbt_wait_for(metrics_show, &w, 20000)) {
        tu_dump(t->log, 3000);
        char *text = lbt_read_file(prom, NULL);
        fail_msg("%s: expected lag_bytes %g and redis_up{job=%s} %g; the metrics file shows %g "
                 "and %g:\n%s",
                 when, lag, job, up, w.seen_lag, w.seen_up, text ? text : "(none)");
    }
}

/* ---- a writer at a steady rate --------------------------------------------------- */

struct steady {
    const char *path;
    long from, to;
};

static int steady_writer(void *ctx)
{
    struct steady *s = ctx;
    for (long i = s->from; i < s->to; i += RATE_LINES) {
        long end = i + RATE_LINES < s->to ? i + RATE_LINES : s->to;
        if (tu_append_lines(s->path, 0, i, end, PAD) != 0)
            return 1;
        lbt_sleep_ms(TICK_MS);
    }
    return 0;
}

static void write_steadily(struct fx_tail *t, long from, long to)
{
    struct steady s = {t->path, from, to};
    t->writer = tu_fork(steady_writer, &s);
    assert_true(t->writer > 0);
    assert_int_equal(lbt_wait(t->writer), 0);
    t->writer = 0;
}

/* ---- the outage, for a tail job run standalone or by `run` ------------------------ */

static void outage(struct fx_tail *t, const char *prom, const char *job)
{
    /* before: lines committed, the checkpoint at the end of the file */
    write_steadily(t, 0, 200);
    long long f0 = lbt_file_size(t->path);
    if (!tu_wait_ckpt(t->c, CK, t->path, f0, 20000)) {
        tu_dump(t->log, 3000);
        fail_msg("the checkpoint did not reach %lld", f0);
    }
    wait_metrics(t, prom, job, 0, 1, "before the outage");

    /* Redis away; the file grows at a steady rate for 5 s */
    lbt_redis_kill(&t->r, SIGTERM);
    write_steadily(t, 200, 2200);
    long long f1 = lbt_file_size(t->path);
    assert_true(f1 - f0 > 200000);
    wait_metrics(t, prom, job, (double)(f1 - f0), 0, "while Redis is down");

    /* back: everything goes, lag back to 0 */
    assert_int_equal(lbt_redis_restart(&t->r), 0);
    redisFree(t->c);
    t->c = lbt_connect(&t->r);
    assert_non_null(t->c);
    fx_tail_wait_xlen(t, 2200, 30000);
    wait_metrics(t, prom, job, 0, 1, "after Redis came back");
    fx_tail_check_seq(t, t->path, 2200, 1, 3000);
}

static void metrics_lag_follows_the_file_while_redis_is_down(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    fx_tail_spawn(t, "--metrics-file", t->metrics, t->path, NULL);
    outage(t, t->metrics, "tail");
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
}

static void write_text(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void write_text(const char *path, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(text));
    assert_int_equal(lbt_write_file(path, text, (size_t)n), 0);
}

static void spawn_run(struct fx_tail *t, const char *cfg)
{
    const char *args[] = {"run", "--config", cfg, NULL};
    t->pid = lbt_spawn(args, t->log);
    assert_true(t->pid > 0);
}

static void metrics_lag_follows_the_file_while_redis_is_down_in_run(void **state)
{
    struct fx_tail *t = *state;
    char cfg[600], legacy[600];
    snprintf(cfg, sizeof(cfg), "%s/config.json", t->dir);
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", t->dir);
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    write_text(cfg,
               "{\"redis\": \"%s\", \"metrics_file\": \"%s\",\n"
               " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"s\"}],\n"
               " \"mirror\": [{\"stream\": \"s\", \"file\": \"%s\"}]}\n",
               t->r.url, t->metrics, t->path, legacy);
    spawn_run(t, cfg);
    outage(t, t->metrics, "tail[0]");
    /* the mirror job went down and came back too (its own backoff: it may
     * be a try behind tail's) */
    wait_metrics(t, t->metrics, "mirror[0]", NAN, 1, "after the outage, the mirror job");
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
}

/* A standalone mirror waits for Redis inside its reconnect loop: the metrics
 * file must still be rewritten every 5 s meanwhile (not frozen with the last
 * values before the outage), saying redis_up 0. */
struct fresh {
    const char *path;
    struct timespec after;
};

static int rewritten(void *ctx)
{
    struct fresh *f = ctx;
    struct stat st;
    if (stat(f->path, &st) != 0)
        return 0;
    return st.st_mtim.tv_sec > f->after.tv_sec ||
           (st.st_mtim.tv_sec == f->after.tv_sec && st.st_mtim.tv_nsec > f->after.tv_nsec);
}

static int mirror_up_is(void *ctx, double want)
{
    const char *path = ctx;
    return prom_value(path, "logbridge_redis_up", "job", "mirror") == want;
}

static int mirror_up(void *ctx)
{
    return mirror_up_is(ctx, 1);
}

static int mirror_down(void *ctx)
{
    return mirror_up_is(ctx, 0);
}

static void metrics_mirror_file_stays_fresh_while_redis_is_down(void **state)
{
    struct fx_tail *t = *state;
    char legacy[600];
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", t->dir);
    const char *args[] = {"mirror", "--redis", t->r.url,         "--stream", "s",
                          "--file", legacy,    "--metrics-file", t->metrics, NULL};
    t->pid = lbt_spawn(args, t->log);
    assert_true(t->pid > 0);
    assert_true(lbt_wait_for(mirror_up, t->metrics, 20000));
    lbt_redis_kill(&t->r, SIGTERM);
    if (!lbt_wait_for(mirror_down, t->metrics, 20000)) {
        tu_dump(t->log, 2000);
        fail_msg("the metrics file never said redis_up{job=\"mirror\"} 0 while Redis was down");
    }
    /* and it is rewritten again while Redis stays away */
    struct stat st;
    assert_int_equal(stat(t->metrics, &st), 0);
    struct fresh fr = {t->metrics, st.st_mtim};
    if (!lbt_wait_for(rewritten, &fr, 15000))
        fail_msg("the metrics file was not rewritten within 15 s while Redis was down");
    assert_true(mirror_down(t->metrics));
    assert_int_equal(lbt_redis_restart(&t->r), 0);
    assert_true(lbt_wait_for(mirror_up, t->metrics, 30000));
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
}

/* ---- every family, from the start ---------------------------------------------------- */

struct series {
    const char *name;
    const char *k1, *v1, *k2, *v2;
};

static void metrics_every_family_has_help_and_counters_start_at_zero(void **state)
{
    struct fx_tail *t = *state;
    char cfg[600], legacy[600];
    snprintf(cfg, sizeof(cfg), "%s/config.json", t->dir);
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", t->dir);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 10, PAD), 0);
    write_text(cfg,
               "{\"redis\": \"%s\", \"metrics_file\": \"%s\",\n"
               " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"s\"}],\n"
               " \"mirror\": [{\"stream\": \"s\", \"file\": \"%s\"}]}\n",
               t->r.url, t->metrics, t->path, legacy);
    time_t t0 = time(NULL);
    spawn_run(t, cfg);
    fx_tail_wait_xlen(t, 10, 20000);
    wait_metrics(t, t->metrics, "tail[0]", 0, 1, "after the first lines");
    /* nothing was lost, regressed, reconnected or skipped: still there, at 0 */
    const struct series zero[] = {
        {"logbridge_lost_bytes_total", "src", t->path, NULL, NULL},
        {"logbridge_checkpoint_regressions_total", "src", t->path, NULL, NULL},
        {"logbridge_lines_total", "src", t->path, "outcome", "bad"},
        {"logbridge_lines_total", "src", t->path, "outcome", "blank"},
        {"logbridge_redis_reconnects_total", NULL, NULL, NULL, NULL},
        {"logbridge_wait_shortfalls_total", NULL, NULL, NULL, NULL},
        {"logbridge_mirror_entries_total", "file", legacy, "outcome", "skipped"},
        {"logbridge_mirror_entries_total", "file", legacy, "outcome", "excluded"},
        {"logbridge_mirror_entries_total", "file", legacy, "outcome", "escaped"},
    };
    struct lbt_prom p;
    assert_int_equal(prom_load(t->metrics, &p, 1), 0);
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        const struct lbt_prom_sample *s =
            lbt_prom_find(&p, zero[i].name, zero[i].k1, zero[i].v1, zero[i].k2, zero[i].v2, NULL);
        if (s == NULL || s->value != 0)
            fail_msg("%s{%s=%s,%s=%s}: %s", zero[i].name, zero[i].k1 ? zero[i].k1 : "",
                     zero[i].v1 ? zero[i].v1 : "", zero[i].k2 ? zero[i].k2 : "",
                     zero[i].v2 ? zero[i].v2 : "", s == NULL ? "missing" : "not 0");
        assert_string_equal(lbt_prom_kind(&p, zero[i].name), "counter");
    }
    const struct lbt_prom_sample *s =
        lbt_prom_find(&p, "logbridge_lines_total", "src", t->path, "outcome", "written", NULL);
    assert_non_null(s);
    assert_true(s->value == 10);
    /* the batch histogram per job */
    assert_string_equal(lbt_prom_kind(&p, "logbridge_batch_seconds"), "histogram");
    s = lbt_prom_find(&p, "logbridge_batch_seconds_count", "job", "tail[0]", NULL);
    assert_non_null(s);
    assert_true(s->value >= 1);
    assert_non_null(
        lbt_prom_find(&p, "logbridge_batch_seconds_bucket", "job", "tail[0]", "le", "+Inf", NULL));
    assert_non_null(lbt_prom_find(&p, "logbridge_batch_seconds_sum", "job", "mirror[0]", NULL));
    /* the last commit: a unix time from this run */
    s = lbt_prom_find(&p, "logbridge_last_commit_timestamp_seconds", "src", t->path, NULL);
    assert_non_null(s);
    assert_string_equal(lbt_prom_kind(&p, "logbridge_last_commit_timestamp_seconds"), "gauge");
    if (s->value < (double)t0 - 1 || s->value > (double)time(NULL) + 1)
        fail_msg("last_commit_timestamp_seconds %f is not between %lld and now", s->value,
                 (long long)t0);
    assert_string_equal(lbt_prom_kind(&p, "logbridge_redis_up"), "gauge");
    assert_non_null(lbt_prom_find(&p, "logbridge_redis_up", "job", "mirror[0]", NULL));
    lbt_prom_free(&p);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);
}

/* The strict parser must refuse a family without # HELP, or the tests above
 * prove nothing about it. */
static void metrics_strict_parser_wants_help(void **state)
{
    (void)state;
    struct lbt_prom p;
    assert_int_equal(lbt_prom_parse_strict("# TYPE a_total counter\na_total 1\n", &p), -1);
    lbt_prom_free(&p);
    assert_int_equal(
        lbt_prom_parse_strict("# HELP b_total x\n# TYPE a_total counter\na_total 1\n", &p), -1);
    lbt_prom_free(&p);
    assert_int_equal(
        lbt_prom_parse_strict("# HELP a_total What \\\\ it\\ncounts.\n# TYPE a_total counter\n"
                              "a_total 1\n",
                              &p),
        0);
    lbt_prom_free(&p);
    assert_int_equal(lbt_prom_parse_strict(
                         "# HELP a_total bad \\t escape\n# TYPE a_total counter\na_total 1\n", &p),
                     -1);
    lbt_prom_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metrics_strict_parser_wants_help),
        cmocka_unit_test_setup_teardown(metrics_lag_follows_the_file_while_redis_is_down,
                                        fx_tail_setup_aof, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(metrics_lag_follows_the_file_while_redis_is_down_in_run,
                                        fx_tail_setup_aof, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(metrics_mirror_file_stays_fresh_while_redis_is_down,
                                        fx_tail_setup_aof, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(metrics_every_family_has_help_and_counters_start_at_zero,
                                        fx_tail_setup, fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
