/*
 * test_metrics.c - metrics.c: the file is valid Prometheus text, counters and
 * gauges hold exactly what was added or set (also from several threads), the
 * file is replaced atomically by rename, and label values are escaped; the
 * jobs' metrics tick (job.c) keeps the 5 s cadence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbt_prom.h"
#include "clock.h"
#include "job.h"
#include "lbtest.h"
#include "metrics.h"

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char dir[256];
    char path[320];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/logbridge.prom", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

/* Read and parse the metrics file; fails the test when it is not valid. */
static void parse_file(const char *path, struct lbt_prom *p)
{
    char *text = lbt_read_file(path, NULL);
    assert_non_null(text);
    int rc = lbt_prom_parse_strict(text, p);
    if (rc != 0)
        fail_msg("%s is not Prometheus text: %s\n%s", path, p->err, text);
    free(text);
}

static double value_of(const struct lbt_prom *p, const char *name, const char *k1, const char *v1,
                       const char *k2, const char *v2)
{
    const struct lbt_prom_sample *s = lbt_prom_find(p, name, k1, v1, k2, v2, NULL);
    if (s == NULL)
        fail_msg("no sample %s{%s=%s,%s=%s}", name, k1 ? k1 : "", v1 ? v1 : "", k2 ? k2 : "",
                 v2 ? v2 : "");
    return s->value;
}

static void metrics_file_parses_as_prometheus_text(void **state)
{
    struct fx *f = *state;
    struct lb_metrics *m = lb_metrics_create(f->path);
    assert_non_null(m);
    char l[512];
    lb_metrics_add(
        m, "logbridge_lines_total",
        lb_metrics_labels(l, sizeof(l), "src", "/var/log/a.log", "outcome", "written", NULL), 10);
    lb_metrics_add(m, "logbridge_bytes_read_total",
                   lb_metrics_labels(l, sizeof(l), "src", "/var/log/a.log", NULL), 580);
    lb_metrics_add(m, "logbridge_lines_total",
                   lb_metrics_labels(l, sizeof(l), "src", "/var/log/a.log", "outcome", "bad", NULL),
                   2);
    lb_metrics_set(m, "logbridge_lag_bytes",
                   lb_metrics_labels(l, sizeof(l), "src", "/var/log/a.log", NULL), 0);
    lb_metrics_set(m, "logbridge_trim_blocked",
                   lb_metrics_labels(l, sizeof(l), "stream", "app", NULL), 1);
    lb_metrics_add(m, "logbridge_redis_reconnects_total", NULL, 1);
    /* series of one name added apart must still come out grouped */
    lb_metrics_add(
        m, "logbridge_lines_total",
        lb_metrics_labels(l, sizeof(l), "src", "/var/log/b.log", "outcome", "blank", NULL), 1);
    lb_metrics_observe_batch(m, NULL, 0.0007);
    lb_metrics_observe_batch(m, NULL, 0.2);
    lb_metrics_observe_batch(m, NULL, 30);

    struct lb_error err = {0};
    assert_int_equal(lb_metrics_write(m, &err), 0);
    struct lbt_prom p;
    parse_file(f->path, &p);
    assert_string_equal(lbt_prom_kind(&p, "logbridge_lines_total"), "counter");
    assert_string_equal(lbt_prom_kind(&p, "logbridge_lag_bytes"), "gauge");
    assert_string_equal(lbt_prom_kind(&p, "logbridge_trim_blocked"), "gauge");
    assert_string_equal(lbt_prom_kind(&p, "logbridge_redis_reconnects_total"), "counter");
    assert_string_equal(lbt_prom_kind(&p, "logbridge_batch_seconds"), "histogram");
    assert_true(
        value_of(&p, "logbridge_lines_total", "src", "/var/log/a.log", "outcome", "written") == 10);
    assert_true(value_of(&p, "logbridge_lines_total", "src", "/var/log/a.log", "outcome", "bad") ==
                2);
    assert_true(
        value_of(&p, "logbridge_lines_total", "src", "/var/log/b.log", "outcome", "blank") == 1);
    assert_true(value_of(&p, "logbridge_bytes_read_total", "src", "/var/log/a.log", NULL, NULL) ==
                580);
    assert_true(value_of(&p, "logbridge_trim_blocked", "stream", "app", NULL, NULL) == 1);
    assert_true(value_of(&p, "logbridge_redis_reconnects_total", NULL, NULL, NULL, NULL) == 1);
    /* histogram: cumulative buckets, +Inf = count, sum */
    assert_true(value_of(&p, "logbridge_batch_seconds_bucket", "le", "0.001", NULL, NULL) == 1);
    assert_true(value_of(&p, "logbridge_batch_seconds_bucket", "le", "0.25", NULL, NULL) == 2);
    assert_true(value_of(&p, "logbridge_batch_seconds_bucket", "le", "2.5", NULL, NULL) == 2);
    assert_true(value_of(&p, "logbridge_batch_seconds_bucket", "le", "+Inf", NULL, NULL) == 3);
    assert_true(value_of(&p, "logbridge_batch_seconds_count", NULL, NULL, NULL, NULL) == 3);
    assert_true(
        fabs(value_of(&p, "logbridge_batch_seconds_sum", NULL, NULL, NULL, NULL) - 30.2007) < 1e-9);
    double prev = 0;
    for (size_t i = 0; i < p.n; i++) {
        if (strcmp(p.s[i].name, "logbridge_batch_seconds_bucket") != 0)
            continue;
        assert_true(p.s[i].value >= prev); /* cumulative */
        prev = p.s[i].value;
    }
    lbt_prom_free(&p);
    lb_metrics_destroy(m);
}

/* The checker itself must refuse what Prometheus refuses, or the test above
 * proves nothing. */
static void metrics_checker_refuses_bad_text(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x_total 1\n",                                              /* no # TYPE */
        "# TYPE x counter\nx{a=\"b} 1\n",                           /* unterminated label */
        "# TYPE x counter\nx{a=\"\\t\"} 1\n",                       /* bad escape */
        "# TYPE x counter\nx 1 2 3\n",                              /* trailing text */
        "# TYPE x counter\nx one\n",                                /* bad value */
        "# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"1\"} 2\n", /* not contiguous */
        "# TYPE x gauge\nx 1\n# TYPE x gauge\n",                    /* second TYPE */
        "# TYPE x gauge\nx 1\nx 2\n",                               /* duplicate series */
        "# TYPE x wobbly\nx 1\n",                                   /* unknown kind */
        "# TYPE h histogram\nh_bucket 1\n",                         /* bucket without le */
        "# TYPE x gauge\nx 1",                                      /* no final newline */
        "# TYPE 1x gauge\n1x 1\n",                                  /* bad name */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lbt_prom p;
        if (lbt_prom_parse(bad[i], &p) == 0)
            fail_msg("accepted bad text #%zu: %s", i, bad[i]);
        lbt_prom_free(&p);
    }
    struct lbt_prom p;
    assert_int_equal(lbt_prom_parse("# HELP x a gauge\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} -Inf "
                                    "1700000000000\n\n# TYPE y untyped\ny NaN\n",
                                    &p),
                     0);
    assert_non_null(lbt_prom_find(&p, "x", "a", "q\"\\\n", NULL));
    lbt_prom_free(&p);
}

struct adder {
    struct lb_metrics *m;
    int id;
};

#define ADD_THREADS 4
#define ADDS_PER_THREAD 20000

static void *add_loop(void *arg)
{
    struct adder *a = arg;
    char l[128], src[32];
    snprintf(src, sizeof(src), "/log/%d", a->id % 2);
    lb_metrics_labels(l, sizeof(l), "src", src, "outcome", "written", NULL);
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        lb_metrics_add(a->m, "logbridge_lines_total", l, 1);
        lb_metrics_add(a->m, "logbridge_bytes_read_total", "", 3);
        if (i % 1000 == 0)
            lb_metrics_observe_batch(a->m, NULL, 0.001);
    }
    return NULL;
}

static void metrics_counters_match_what_was_added(void **state)
{
    struct fx *f = *state;
    struct lb_metrics *m = lb_metrics_create(f->path);
    assert_non_null(m);
    pthread_t th[ADD_THREADS];
    struct adder a[ADD_THREADS];
    for (int i = 0; i < ADD_THREADS; i++) {
        a[i].m = m;
        a[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, add_loop, &a[i]), 0);
    }
    /* the writer runs while the jobs count, as under `run` */
    struct lb_error err = {0};
    for (int i = 0; i < 20; i++)
        assert_int_equal(lb_metrics_write(m, &err), 0);
    for (int i = 0; i < ADD_THREADS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(lb_metrics_write(m, &err), 0);

    char l[128];
    lb_metrics_labels(l, sizeof(l), "src", "/log/0", "outcome", "written", NULL);
    assert_true(lb_metrics_get(m, "logbridge_lines_total", l) ==
                (double)ADDS_PER_THREAD * ADD_THREADS / 2);
    struct lbt_prom p;
    parse_file(f->path, &p);
    double per_src = (double)ADDS_PER_THREAD * ADD_THREADS / 2;
    assert_true(value_of(&p, "logbridge_lines_total", "src", "/log/0", "outcome", "written") ==
                per_src);
    assert_true(value_of(&p, "logbridge_lines_total", "src", "/log/1", "outcome", "written") ==
                per_src);
    assert_true(value_of(&p, "logbridge_bytes_read_total", NULL, NULL, NULL, NULL) ==
                3.0 * ADDS_PER_THREAD * ADD_THREADS);
    assert_true(value_of(&p, "logbridge_batch_seconds_count", NULL, NULL, NULL, NULL) ==
                (double)ADD_THREADS * (ADDS_PER_THREAD / 1000));
    /* set replaces, add accumulates */
    lb_metrics_set(m, "logbridge_lag_bytes", "", 7);
    lb_metrics_set(m, "logbridge_lag_bytes", "", 5);
    assert_true(lb_metrics_get(m, "logbridge_lag_bytes", "") == 5);
    /* large counters keep every digit (%.17g) */
    lb_metrics_add(m, "logbridge_lost_bytes_total", "", 9007199254740000.0);
    lb_metrics_add(m, "logbridge_lost_bytes_total", "", 991.0);
    assert_int_equal(lb_metrics_write(m, &err), 0);
    lbt_prom_free(&p);
    parse_file(f->path, &p);
    assert_true(value_of(&p, "logbridge_lost_bytes_total", NULL, NULL, NULL, NULL) ==
                9007199254740991.0);
    lbt_prom_free(&p);
    lb_metrics_destroy(m);
}

struct reader {
    const char *path;
    volatile int stop;
    long reads, bad;
    char err[600];
};

/* Reads the file as a scraper would, while it is rewritten. */
static void *read_loop(void *arg)
{
    struct reader *r = arg;
    while (!r->stop) {
        char *text = lbt_read_file(r->path, NULL);
        if (text == NULL)
            continue; /* not written yet */
        struct lbt_prom p;
        /* the last series written: a partial file lacks it */
        if (lbt_prom_parse_strict(text, &p) != 0 ||
            lbt_prom_find(&p, "logbridge_lines_total", "src", "/var/log/app-299.log", "outcome",
                          "written", NULL) == NULL) {
            if (r->bad++ == 0)
                snprintf(r->err, sizeof(r->err), "%s", p.err);
        }
        lbt_prom_free(&p);
        free(text);
        r->reads++;
    }
    return NULL;
}

static void metrics_file_is_replaced_atomically(void **state)
{
    struct fx *f = *state;
    struct lb_metrics *m = lb_metrics_create(f->path);
    assert_non_null(m);
    char l[4096];
    /* enough series that a non-atomic write would be seen half done */
    for (int i = 0; i < 300; i++) {
        char src[64];
        snprintf(src, sizeof(src), "/var/log/app-%03d.log", i);
        lb_metrics_add(m, "logbridge_lines_total",
                       lb_metrics_labels(l, sizeof(l), "src", src, "outcome", "written", NULL), i);
    }
    struct lb_error err = {0};
    assert_int_equal(lb_metrics_write(m, &err), 0);
    struct stat st1, st2;
    assert_int_equal(stat(f->path, &st1), 0);
    /* An open reader keeps the first file (and its inode number) alive: it
     * must keep seeing the whole old content, and the number cannot be
     * reused by a later temp file. */
    FILE *old = fopen(f->path, "r");
    assert_non_null(old);

    struct reader r = {.path = f->path};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, read_loop, &r), 0);
    for (int i = 0; i < 300; i++) {
        lb_metrics_add(m, "logbridge_lines_total",
                       lb_metrics_labels(l, sizeof(l), "src", "/var/log/app-000.log", "outcome",
                                         "written", NULL),
                       1);
        assert_int_equal(lb_metrics_write(m, &err), 0);
    }
    r.stop = 1;
    pthread_join(th, NULL);
    if (r.bad != 0)
        fail_msg("%ld of %ld reads saw a partial file: %s", r.bad, r.reads, r.err);

    /* replaced by rename: a new inode, and no temp file left behind */
    assert_int_equal(stat(f->path, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino);
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            files++;
    closedir(d);
    assert_int_equal(files, 1);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, old);
    buf[n] = '\0';
    fclose(old);
    struct lbt_prom po;
    if (lbt_prom_parse(buf, &po) != 0)
        fail_msg("the replaced file changed under its reader: %s", po.err);
    assert_true(value_of(&po, "logbridge_lines_total", "src", "/var/log/app-000.log", "outcome",
                         "written") == 0);
    lbt_prom_free(&po);
    struct lbt_prom p;
    parse_file(f->path, &p);
    assert_true(value_of(&p, "logbridge_lines_total", "src", "/var/log/app-000.log", "outcome",
                         "written") == 300);
    lbt_prom_free(&p);
    lb_metrics_destroy(m);
}

static void metrics_labels_escape_quotes_backslashes_newlines(void **state)
{
    struct fx *f = *state;
    char l[512];
    lb_metrics_labels(l, sizeof(l), "src", "C:\\logs\\\"x\"\nnext", "outcome", "written", NULL);
    assert_string_equal(l, "src=\"C:\\\\logs\\\\\\\"x\\\"\\nnext\",outcome=\"written\"");
    struct lb_metrics *m = lb_metrics_create(f->path);
    assert_non_null(m);
    lb_metrics_add(m, "logbridge_lines_total", l, 4);
    lb_metrics_add(
        m, "logbridge_mirror_entries_total",
        lb_metrics_labels(l, sizeof(l), "file", "/a b/{c}=,d", "outcome", "written", NULL), 2);
    struct lb_error err = {0};
    assert_int_equal(lb_metrics_write(m, &err), 0);
    struct lbt_prom p;
    parse_file(f->path, &p);
    /* the checker unescapes: the original bytes come back */
    assert_true(value_of(&p, "logbridge_lines_total", "src", "C:\\logs\\\"x\"\nnext", "outcome",
                         "written") == 4);
    assert_true(value_of(&p, "logbridge_mirror_entries_total", "file", "/a b/{c}=,d", "outcome",
                         "written") == 2);
    lbt_prom_free(&p);
    lb_metrics_destroy(m);

    /* a label string that does not fit is cut, never unterminated */
    char small[24];
    lb_metrics_labels(small, sizeof(small), "src", "/a/very/long/path/name.log", NULL);
    assert_true(strlen(small) < sizeof(small));
}

static void metrics_without_path_is_a_noop(void **state)
{
    struct fx *f = *state;
    struct lb_metrics *m = lb_metrics_create(NULL);
    assert_non_null(m);
    lb_metrics_add(m, "logbridge_lines_total", "", 1);
    lb_metrics_observe_batch(m, NULL, 0.1);
    struct lb_error err = {0};
    assert_int_equal(lb_metrics_write(m, &err), 0);
    assert_null(lb_metrics_render(m, NULL));
    assert_true(lb_metrics_get(m, "logbridge_lines_total", "") == 0);
    lb_metrics_destroy(m);
    lb_metrics_destroy(NULL);
    struct stat st;
    assert_int_not_equal(stat(f->path, &st), 0);
}

/* --http without --metrics-file: the registry keeps its series and renders
 * them; writing has no file to write. */
static void metrics_on_without_path_renders(void **state)
{
    struct fx *f = *state;
    struct lb_metrics *m = lb_metrics_create_on(NULL);
    assert_non_null(m);
    lb_metrics_add(m, "logbridge_lines_total", "src=\"a\",outcome=\"written\"", 3);
    struct lb_error err = {0};
    assert_int_equal(lb_metrics_write(m, &err), 0);
    struct stat st;
    assert_int_not_equal(stat(f->path, &st), 0);
    size_t n = 0;
    char *text = lb_metrics_render(m, &n);
    assert_non_null(text);
    assert_int_equal(n, strlen(text));
    struct lbt_prom p;
    if (lbt_prom_parse_strict(text, &p) != 0)
        fail_msg("%s\n%s", p.err, text);
    const struct lbt_prom_sample *x =
        lbt_prom_find(&p, "logbridge_lines_total", "src", "a", "outcome", "written", NULL);
    assert_non_null(x);
    assert_true(x->value == 3);
    lbt_prom_free(&p);
    free(text);
    lb_metrics_destroy(m);
}

/* logbridge_batch_seconds: one histogram per job label, each complete,
 * declared ones at 0. */
static void metrics_batch_histogram_per_job(void **state)
{
    struct fx *f = *state;
    struct lb_metrics *m = lb_metrics_create(f->path);
    lb_metrics_batch_declare(m, "job=\"mirror[0]\"");
    lb_metrics_observe_batch(m, "job=\"tail[0]\"", 0.003);
    lb_metrics_observe_batch(m, "job=\"tail[0]\"", 0.3);
    lb_metrics_observe_batch(m, "job=\"tail[1]\"", 0.0001);
    assert_int_equal(lb_metrics_write(m, NULL), 0);
    struct lbt_prom p;
    char *text = lbt_read_file(f->path, NULL);
    assert_non_null(text);
    if (lbt_prom_parse_strict(text, &p) != 0)
        fail_msg("%s\n%s", p.err, text);
    assert_true(value_of(&p, "logbridge_batch_seconds_count", "job", "tail[0]", NULL, NULL) == 2);
    assert_true(value_of(&p, "logbridge_batch_seconds_bucket", "job", "tail[0]", "le", "0.005") ==
                1);
    assert_true(value_of(&p, "logbridge_batch_seconds_bucket", "job", "tail[0]", "le", "+Inf") ==
                2);
    assert_true(value_of(&p, "logbridge_batch_seconds_count", "job", "tail[1]", NULL, NULL) == 1);
    assert_true(value_of(&p, "logbridge_batch_seconds_count", "job", "mirror[0]", NULL, NULL) == 0);
    assert_true(value_of(&p, "logbridge_batch_seconds_sum", "job", "mirror[0]", NULL, NULL) == 0);
    lbt_prom_free(&p);
    free(text);
    lb_metrics_destroy(m);
}

static void metrics_write_error_is_reported(void **state)
{
    struct fx *f = *state;
    char path[400];
    snprintf(path, sizeof(path), "%s/no/such/dir/m.prom", f->dir);
    struct lb_metrics *m = lb_metrics_create(path);
    assert_non_null(m);
    lb_metrics_add(m, "logbridge_lines_total", "", 1);
    struct lb_error err = {0};
    assert_int_equal(lb_metrics_write(m, &err), LB_EIO);
    assert_non_null(strstr(err.msg, "no/such/dir"));
    lb_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(metrics_file_parses_as_prometheus_text, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_checker_refuses_bad_text, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_counters_match_what_was_added, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_file_is_replaced_atomically, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_labels_escape_quotes_backslashes_newlines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(metrics_without_path_is_a_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_on_without_path_renders, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_batch_histogram_per_job, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_write_error_is_reported, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
