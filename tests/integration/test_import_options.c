/*
 * test_import_options.c - `logbridge import`'s keys and options against a
 * real redis-server: stream templates (by type, by role with a hash tag, many
 * streams), hash-tagged streams deriving their keys, --strict, --dry-run, the
 * metrics file, bad options, progress on stderr, a missing file, files in the
 * order given and --name.
 *
 * One redis-server serves the group; every test starts from FLUSHALL and
 * counts entries exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fx_import.h"
#include "import_util.h"
#include "lbtest.h"

#define T0 INT64_C(1750240800000) /* 2025-06-18T10:00:00Z */

/* ---- templates and hash tags -------------------------------------------------------- */

/* Every stream of a template holds its own lines in file order. */
static void check_template(struct fx_import *t, const char *prefix, int by_role, const char *dlq,
                           const char *ckpt)
{
    struct iu_fix *f = &t->f;
    const char *names[] = {"web", "worker", "login", "pay"};
    size_t total = 0;
    for (int k = by_role ? 0 : 2; k < (by_role ? 2 : 4); k++) {
        char key[128];
        snprintf(key, sizeof(key), "%s%s", prefix, names[k]);
        struct lbt_entry *e;
        long n = lbt_xrange_all(t->c, key, &e);
        assert_true(n >= 0);
        size_t j = 0;
        for (size_t i = 0; i < f->n; i++) {
            const struct iu_line *l = &f->lines[i];
            if (l->kind != IU_VALID)
                continue;
            const char *p = f->buf + l->off;
            const char *bar = memchr(p, '|', l->len);
            const char *b2 = memchr(bar + 1, '|', l->len - (size_t)(bar + 1 - p));
            const char *b3 = memchr(b2 + 1, '|', l->len - (size_t)(b2 + 1 - p));
            const char *val = by_role ? p : b2 + 1;
            size_t vn = by_role ? (size_t)(bar - p) : (size_t)(b3 - b2 - 1);
            if (vn != strlen(names[k]) || memcmp(val, names[k], vn) != 0)
                continue;
            if ((long)j >= n)
                fail_msg("stream %s lacks line %zu", key, i + 1);
            char offs[32];
            snprintf(offs, sizeof(offs), "%" PRIu64, l->off);
            if (strcmp(lbt_field(&e[j], "off"), offs) != 0)
                fail_msg("stream %s entry %zu: off %s, want %s", key, j, lbt_field(&e[j], "off"),
                         offs);
            assert_string_equal(lbt_field(&e[j], "src"), t->path);
            j++;
        }
        if ((long)j != n)
            fail_msg("stream %s holds %ld entries, want %zu", key, n, j);
        total += j;
        lbt_entries_free(e, n);
    }
    size_t v, b;
    iu_fix_counts(f, f->n, &v, &b, NULL);
    assert_int_equal(total, v);
    /* the DLQ and the checkpoint live under the template's tag */
    if (lbt_xlen(t->c, dlq) != (long long)b)
        fail_msg("DLQ %s holds %lld entries, want %zu (keys: template tag rule)", dlq,
                 lbt_xlen(t->c, dlq), b);
    struct lb_ckpt ck;
    if (iu_ckpt(t->c, ckpt, t->path, &ck) != 1)
        fail_msg("no checkpoint in %s", ckpt);
    assert_int_equal(ck.off, t->f.len);
    assert_int_equal(ck.line, t->f.n);
}

static void add_routed_lines(struct iu_fix *f)
{
    static const char *const roles[] = {"web", "worker"};
    static const char *const types[] = {"login", "pay"};
    for (int i = 0; i < 3000; i++) {
        char data[64];
        snprintf(data, sizeof(data), "n=%d", i);
        iu_fix_valid(f, roles[(i / 3) % 2], "1750240800", T0, types[(i / 7) % 2], data);
        if (i % 500 == 250)
            iu_fix_bad(f, "routed nowhere", "fields");
    }
}

static void import_template_by_type_keys_under_the_template_text(void **state)
{
    struct fx_import *t = *state;
    add_routed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "events:%{type}", t->path);
    fx_import_expect_rc(t, rc, 0);
    check_template(t, "events:", 0, "logbridge:dlq:{events:%{type}}",
                   "logbridge:ckpt:{events:%{type}}");
    /* two streams, the DLQ, the checkpoint and the streams set (DESIGN.md
     * section 8) holding the two: nothing else */
    assert_int_equal(iu_dbsize(t->c), 5);
    redisReply *r = redisCommand(t->c, "SCARD logbridge:streams:{events:%%{type}}");
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
}

static void import_template_with_tag_routes_by_role(void **state)
{
    struct fx_import *t = *state;
    add_routed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "{ev}:%{role}", "--batch", "333", t->path);
    fx_import_expect_rc(t, rc, 0);
    check_template(t, "{ev}:", 1, "logbridge:dlq:{ev}", "logbridge:ckpt:{ev}");
    assert_int_equal(iu_dbsize(t->c), 5); /* with logbridge:streams:{ev} */
}

/* More distinct streams than one batch may name (256): all land, in order. */
static void import_template_with_many_streams(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 1800; i++) {
        char type[32], data[32];
        snprintf(type, sizeof(type), "type%03d", (i * 7) % 600);
        snprintf(data, sizeof(data), "i=%d", i);
        iu_fix_valid(&t->f, "web", "1750240800", T0, type, data);
    }
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "{m}:%{type}", "--batch", "5000", t->path);
    fx_import_expect_rc(t, rc, 0);
    /* 600 streams, the checkpoint and the streams set naming all 600 */
    assert_int_equal(iu_dbsize(t->c), 602);
    redisReply *r = redisCommand(t->c, "SCARD logbridge:streams:{m}");
    assert_int_equal(r->integer, 600);
    freeReplyObject(r);
    for (int k = 0; k < 600; k += 1) {
        char key[64];
        snprintf(key, sizeof(key), "{m}:type%03d", k);
        struct lbt_entry *e;
        long n = lbt_xrange_all(t->c, key, &e);
        if (n != 3)
            fail_msg("%s holds %ld entries, want 3", key, n);
        int prev = -1;
        for (long j = 0; j < n; j++) {
            int i = atoi(lbt_field(&e[j], "data") + 2);
            assert_int_equal((i * 7) % 600, k);
            assert_true(i > prev);
            prev = i;
        }
        lbt_entries_free(e, n);
    }
}

static void import_hash_tagged_stream_derives_its_keys(void **state)
{
    struct fx_import *t = *state;
    fx_import_add_mixed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "{app}:messages", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "{app}:messages", "logbridge:dlq:{app}", t->path, 0, t->f.n);
    fx_import_check_ckpt(t, "logbridge:ckpt:{app}", t->path, t->f.n, t->path, NULL);
    assert_int_equal(iu_dbsize(t->c), 3);
}

/* ---- strict, dry run, options ------------------------------------------------------- */

static void import_strict_commits_before_the_bad_line(void **state)
{
    struct fx_import *t = *state;
    for (int i = 0; i < 2500; i++) {
        if (i % 400 == 7)
            iu_fix_add(&t->f, "", 0, "\n", IU_BLANK, NULL, INT64_MIN);
        iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "before");
    }
    size_t bad = t->f.n;
    iu_fix_bad(&t->f, "web|not-a-time|t|the bad one", "timestamp");
    for (int i = 0; i < 100; i++)
        iu_fix_valid(&t->f, "web", "1750240800", T0, "t", "after");
    iu_fix_bad(&t->f, "another bad one", "fields");
    fx_import_write_fix(t);
    for (int round = 0; round < 2; round++) {
        int rc = FX_IMPORT_RUN(t, "--stream", "st", "--strict", "--batch", "1000", t->path);
        fx_import_expect_rc(t, rc, 1);
        char want[64];
        snprintf(want, sizeof(want), "line=%zu", bad + 1);
        if (iu_count_lines_with(t->err, want) < 1 || iu_count_lines_with(t->err, "timestamp") < 1)
            fail_msg("the error should name line %zu and its reason: %s", bad + 1, t->err);
        fx_import_verify(t, "st", "logbridge:dlq:{st}", t->path, 0, bad);
        fx_import_check_ckpt(t, "logbridge:ckpt:{st}", t->path, bad, t->path, NULL);
    }
    int rc = FX_IMPORT_RUN(t, "--stream", "st", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, bad, t->f.n, 0);
    fx_import_verify(t, "st", "logbridge:dlq:{st}", t->path, 0, t->f.n);

    /* a bad first line: nothing at all */
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/first.log", t->dir);
    assert_int_equal(lbt_write_file(p2, "bad\nweb|1750240800|t|d\n", 24), 0);
    rc = FX_IMPORT_RUN(t, "--stream", "st2", "--strict", p2);
    fx_import_expect_rc(t, rc, 1);
    assert_int_equal(lbt_xlen(t->c, "st2"), 0);
    assert_int_equal(lbt_xlen(t->c, "logbridge:dlq:{st2}"), 0);
}

static void import_dry_run_writes_nothing(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {9};
    struct iu_gen g = {12000, 10, 10, 10, 1024, 0};
    iu_fix_gen(&t->f, &g, &rng);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "dr", "--dry-run", "--max-line", "1024", "--summary",
                           "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_check_summary(t, 0, t->f.n, 0);
    assert_int_equal(iu_dbsize(t->c), 0);
    assert_int_equal(iu_cmd_calls(t->c, "evalsha"), 0);
    /* the text summary says it was a dry run */
    rc = FX_IMPORT_RUN(t, "--stream", "dr", "--dry-run", "--max-line", "1024", t->path);
    fx_import_expect_rc(t, rc, 0);
    assert_non_null(strstr(t->out, "dry run"));
    assert_int_equal(iu_dbsize(t->c), 0);
}

/* --metrics-file: the counters say what the run did, in Prometheus text. */
static void import_metrics_file_counts_lines(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {11};
    struct iu_gen g = {3000, 10, 10, 10, 1024, 0};
    iu_fix_gen(&t->f, &g, &rng);
    fx_import_write_fix(t);
    char mpath[600];
    snprintf(mpath, sizeof(mpath), "%s/m.prom", t->dir);
    int rc =
        FX_IMPORT_RUN(t, "--stream", "mx", "--max-line", "1024", "--metrics-file", mpath, t->path);
    fx_import_expect_rc(t, rc, 0);
    size_t valid, bad, blank, n;
    iu_fix_counts(&t->f, t->f.n, &valid, &bad, &blank);
    char *m = lbt_read_file(mpath, &n);
    assert_non_null(m);
    char want[1200];
    const char *outcome[] = {"written", "bad", "blank"};
    size_t count[] = {valid, bad, blank};
    for (int k = 0; k < 3; k++) {
        snprintf(want, sizeof(want), "logbridge_lines_total{src=\"%s\",outcome=\"%s\"} %zu\n",
                 t->path, outcome[k], count[k]);
        if (strstr(m, want) == NULL)
            fail_msg("metrics file lacks '%s':\n%s", want, m);
    }
    snprintf(want, sizeof(want), "logbridge_bytes_read_total{src=\"%s\"} %zu\n", t->path, t->f.len);
    if (strstr(m, want) == NULL)
        fail_msg("metrics file lacks '%s':\n%s", want, m);
    assert_int_equal(lbt_xlen(t->c, "mx"), (long long)valid);
    free(m);
}

static void import_bad_options_exit_2_naming_the_option(void **state)
{
    struct fx_import *t = *state;
    char p2[600];
    snprintf(p2, sizeof(p2), "%s/b.log", t->dir);
    assert_int_equal(lbt_write_file(t->path, "web|1750240800|t|d\n", 19), 0);
    assert_int_equal(lbt_write_file(p2, "web|1750240800|t|d\n", 19), 0);
    struct {
        const char *args[8];
        const char *names;
    } cases[] = {
        {{"--stream", "s", "--batch", "0", t->path}, "--batch"},
        {{"--stream", "s", "--batch", "x", t->path}, "--batch"},
        {{"--stream", "s", "--batch", "-5", t->path}, "--batch"},
        {{"--stream", "s", "--id", "foo", t->path}, "--id"},
        {{"--stream", "s", "--summary", "x", t->path}, "--summary"},
        {{t->path}, "--stream"},
        {{"--stream", "", t->path}, "--stream"},
        {{"--stream", "s", "--name", "n", t->path, p2}, "--name"},
        {{"--stream", "s", "--bogus", t->path}, "--bogus"},
        {{"--stream", "s", "--retry-for", "-1", t->path}, "--retry-for"},
        {{"--stream", "s", "--max-line", "5", t->path}, "--max-line"},
        {{"--stream", "s", "--format", "xml", t->path}, "--format"},
        {{"--stream", "s", "--encoding", "yaml", t->path}, "--encoding"},
        {{"--stream", "s", "--redis", "http://localhost", t->path}, "--redis"},
        {{"--stream", "s", t->path, "--batch"}, "--batch"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, "import", "--redis", t->r.url, NULL);
        for (int k = 0; k < 8 && cases[i].args[k] != NULL; k++)
            iu_args_add(&a, cases[i].args[k], NULL);
        int rc = lbt_run(a.v, t->out, FX_IMPORT_OUTCAP, t->err, FX_IMPORT_OUTCAP, NULL, 0);
        if (rc != 2 || strstr(t->err, cases[i].names) == NULL)
            fail_msg("case %zu (%s): exit %d, stderr '%s'; want exit 2 naming %s", i,
                     cases[i].names, rc, t->err, cases[i].names);
        if (iu_count_lines_with(t->err, "") > 3)
            fail_msg("case %zu: a usage error should be short: '%s'", i, t->err);
    }
    /* no FILE at all */
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "s", NULL);
    assert_int_equal(lbt_run(a.v, t->out, FX_IMPORT_OUTCAP, t->err, FX_IMPORT_OUTCAP, NULL, 0), 2);
    assert_int_equal(iu_dbsize(t->c), 0);
}

/* --progress writes to stderr only: stdout stays the summary alone. */
static void import_progress_goes_to_stderr(void **state)
{
    struct fx_import *t = *state;
    struct iu_rng rng = {11};
    struct iu_gen g = {30000, 10, 5, 5, 0, 0};
    iu_fix_gen(&t->f, &g, &rng);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "pg", "--progress", "--summary", "json", t->path);
    fx_import_expect_rc(t, rc, 0);
    cJSON *sum = cJSON_Parse(t->out);
    if (sum == NULL)
        fail_msg("stdout is not one JSON object: %.300s", t->out);
    cJSON_Delete(sum);
    fx_import_check_summary(t, 0, t->f.n, 0);
    if (strstr(t->err, "lines/s") == NULL)
        fail_msg("no progress line on stderr: %.500s", t->err);
    fx_import_verify(t, "pg", "logbridge:dlq:{pg}", t->path, 0, t->f.n);
}

static void import_missing_file_exits_3_naming_it(void **state)
{
    struct fx_import *t = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/does-not-exist.log", t->dir);
    int rc = FX_IMPORT_RUN(t, "--stream", "mf", p);
    fx_import_expect_rc(t, rc, 3);
    assert_non_null(strstr(t->err, "does-not-exist.log"));
}

static void import_files_in_the_order_given(void **state)
{
    struct fx_import *t = *state;
    struct iu_fix fx3[3];
    char paths[3][600];
    struct iu_rng rng = {31};
    for (int k = 0; k < 3; k++) {
        iu_fix_init(&fx3[k]);
        struct iu_gen g = {1500 + 500 * k, 10, 5, 5, 0, T0 + k * 10000000};
        iu_fix_gen(&fx3[k], &g, &rng);
        snprintf(paths[k], sizeof(paths[k]), "%s/app.log.%d%s", t->dir, 2 - k, k == 0 ? ".gz" : "");
        if (k == 0)
            assert_int_equal(iu_fix_write_gz(&fx3[k], paths[k]), 0);
        else
            assert_int_equal(iu_fix_write(&fx3[k], paths[k]), 0);
    }
    int rc = FX_IMPORT_RUN(t, "--stream", "mo", "--summary", "json", paths[0], paths[1], paths[2]);
    fx_import_expect_rc(t, rc, 0);
    cJSON *sum = iu_summary(t->out);
    assert_non_null(sum);
    size_t sv = 0, sb = 0, lines = 0;
    for (int k = 0; k < 3; k++) {
        size_t v, b, bl;
        iu_fix_counts(&fx3[k], fx3[k].n, &v, &b, &bl);
        assert_int_equal((long long)iu_jnum(sum, k, "imported"), (long long)v);
        assert_int_equal((long long)iu_jnum(sum, k, "bad"), (long long)b);
        assert_int_equal((long long)iu_jnum(sum, k, "blank"), (long long)bl);
        const cJSON *fa = cJSON_GetArrayItem(cJSON_GetObjectItem(sum, "files"), k);
        assert_string_equal(cJSON_GetObjectItem(fa, "path")->valuestring, paths[k]);
        char why[4096];
        if (iu_check_ckpt(t->c, "logbridge:ckpt:{mo}", paths[k], &fx3[k], fx3[k].n, paths[k], NULL,
                          why, sizeof(why)) != 0)
            fail_msg("%s: %s", paths[k], why);
        sv += v;
        sb += b;
        lines += v + b + bl;
    }
    assert_int_equal((long long)iu_jnum(sum, -1, "lines"), (long long)lines);
    cJSON_Delete(sum);
    /* the stream is the three files one after the other */
    struct lbt_entry *e;
    long n = lbt_xrange_all(t->c, "mo", &e);
    assert_int_equal(n, (long)sv);
    size_t j = 0;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < fx3[k].n; i++) {
            if (fx3[k].lines[i].kind != IU_VALID)
                continue;
            char offs[32];
            snprintf(offs, sizeof(offs), "%" PRIu64, fx3[k].lines[i].off);
            if (strcmp(lbt_field(&e[j], "src"), paths[k]) != 0 ||
                strcmp(lbt_field(&e[j], "off"), offs) != 0)
                fail_msg("entry %zu: src=%s off=%s, want %s %s", j, lbt_field(&e[j], "src"),
                         lbt_field(&e[j], "off"), paths[k], offs);
            j++;
        }
    lbt_entries_free(e, n);
    assert_int_equal(lbt_xlen(t->c, "logbridge:dlq:{mo}"), (long long)sb);
    for (int k = 0; k < 3; k++)
        iu_fix_free(&fx3[k]);
}

static void import_name_overrides_src(void **state)
{
    struct fx_import *t = *state;
    fx_import_add_mixed_lines(&t->f);
    fx_import_write_fix(t);
    int rc = FX_IMPORT_RUN(t, "--stream", "nm", "--name", "billing-app", t->path);
    fx_import_expect_rc(t, rc, 0);
    fx_import_verify(t, "nm", "logbridge:dlq:{nm}", "billing-app", 0, t->f.n);
    fx_import_check_ckpt(t, "logbridge:ckpt:{nm}", "billing-app", t->f.n, t->path, NULL);
    /* a relative path is recorded as the absolute path it was named at */
    struct iu_args a;
    iu_args_init(&a);
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(t->dir), 0);
    /* "../lbtest.XXXXXX/./app.log": folded without touching the file system */
    char rel[600];
    const char *base = strrchr(t->dir, '/');
    snprintf(rel, sizeof(rel), "..%s/./app.log", base);
    iu_args_add(&a, "import", "--redis", t->r.url, "--stream", "rel", rel, NULL);
    char bin[PATH_MAX];
    snprintf(bin, sizeof(bin), "%s", lbt_bin());
    int rc2 = bin[0] == '/'
                  ? lbt_run(a.v, t->out, FX_IMPORT_OUTCAP, t->err, FX_IMPORT_OUTCAP, NULL, 0)
                  : -2;
    assert_int_equal(chdir(cwd), 0);
    if (rc2 == -2) {
        print_message("skipped: LOGBRIDGE_BIN (%s) is relative, so it cannot be run from "
                      "another directory\n",
                      bin);
        skip();
    }
    fx_import_expect_rc(t, rc2, 0);
    fx_import_verify(t, "rel", "logbridge:dlq:{rel}", t->path, 0, t->f.n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_import_setup_shared, fx_import_teardown)
        T(import_template_by_type_keys_under_the_template_text),
        T(import_template_with_tag_routes_by_role),
        T(import_template_with_many_streams),
        T(import_hash_tagged_stream_derives_its_keys),
        T(import_strict_commits_before_the_bad_line),
        T(import_dry_run_writes_nothing),
        T(import_metrics_file_counts_lines),
        T(import_bad_options_exit_2_naming_the_option),
        T(import_progress_goes_to_stderr),
        T(import_missing_file_exits_3_naming_it),
        T(import_files_in_the_order_given),
        T(import_name_overrides_src),
#undef T
    };
    return cmocka_run_group_tests(tests, fx_import_group_setup, fx_import_group_teardown);
}
