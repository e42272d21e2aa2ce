/*
 * test_mirror_format.c - what `logbridge mirror` writes for each entry,
 * against a real redis-server: both encodings, --json-field, a missing
 * timestamp taken from the ID, CR/LF escapes, bad entries skipped (and the
 * warnings rate-limited), --exclude-src, and the round trip through import
 * (both encodings, CRLF and blank lines).
 *
 * Expected lines are built here from DESIGN.md's rules (section 5 mirror),
 * never by calling logbridge's own formatting code.
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

#include <cjson/cJSON.h>

#include "fx_mirror.h"
#include "lbt_prom.h"
#include "lbtest.h"

/* ---- tests ------------------------------------------------------------------------ */

static void mirror_once_writes_fields_entries_in_order(void **state)
{
    struct fx_mirror *f = *state;
    mu_add_std(f->c, f->stream, 0, 2500, "/var/log/app.log", 0);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    size_t wn;
    char *want = mu_std_lines(0, 2500, &wn);
    mu_assert_file_equals(f->file, want, wn);
    char id[64];
    mu_last_id(f, id, sizeof(id));
    mu_assert_ckpt(f, id);
    /* a second run writes nothing */
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_reads_json_encoding(void **state)
{
    struct fx_mirror *f = *state;
    /* both encodings mixed in one stream, in order */
    mu_add_std(f->c, f->stream, 0, 300, "/a", 1);
    mu_add_std(f->c, f->stream, 300, 300, "/a", 0);
    mu_add_std(f->c, f->stream, 600, 300, "/a", 1);
    /* data that is not a string is written as compact JSON text */
    const char *n1[] = {"json_payload"};
    const char *v1[] = {"{\"role\":\"r\",\"timestamp\":\"2025-06-18T10:00:00Z\",\"type\":\"t\","
                        "\"data\":{\"a\": [1, 2]}}"};
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 1, n1, v1);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    size_t wn;
    char *want = mu_std_lines(0, 900, &wn);
    const char *extra = "r|2025-06-18T10:00:00Z|t|{\"a\":[1,2]}\n";
    want = realloc(want, wn + strlen(extra) + 1);
    memcpy(want + wn, extra, strlen(extra));
    wn += strlen(extra);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_json_field_option(void **state)
{
    struct fx_mirror *f = *state;
    const char *n1[] = {"payload"};
    const char *v1[] = {
        "{\"role\":\"r\",\"timestamp\":\"1750240800\",\"type\":\"t\",\"data\":\"d\"}"};
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 1, n1, v1);
    char err[4096];
    /* with the default field name the entry has neither role nor json_payload */
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    mu_assert_file_equals(f->file, "", 0);
    assert_non_null(strstr(err, "skipped entry"));
    char other[450];
    snprintf(other, sizeof(other), "%s/other.log", f->dir);
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", other,
                            "--json-field", "payload", "--once", NULL),
                     0);
    mu_assert_file_equals(other, "r|1750240800|t|d\n", 17);
}

static void mirror_missing_timestamp_from_id(void **state)
{
    struct fx_mirror *f = *state;
    const char *n[] = {"role", "type", "data"};
    const char *v[] = {"web", "login", "no ts"};
    mu_xadd(f->c, f->stream, "1750240800123-0", NULL, 0, 3, n, v);
    const char *nj[] = {"json_payload"};
    const char *vj[] = {"{\"role\":\"w\",\"type\":\"t\",\"data\":\"json no ts\"}"};
    mu_xadd(f->c, f->stream, "1750240800999-5", NULL, 0, 1, nj, vj);
    const char *ne[] = {"role", "timestamp", "type", "data"};
    const char *ve[] = {"web", "", "t", "empty ts"};
    mu_xadd(f->c, f->stream, "1750240801000-0", NULL, 0, 4, ne, ve);
    char err[4096];
    assert_int_equal(
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    const char *want = "web|2025-06-18T10:00:00.123Z|login|no ts\n"
                       "w|2025-06-18T10:00:00.999Z|t|json no ts\n"
                       "web|2025-06-18T10:00:01.000Z|t|empty ts\n";
    mu_assert_file_equals(f->file, want, strlen(want));
}

static void mirror_escapes_cr_lf_and_counts(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    const char *n[] = {"role", "timestamp", "type", "data"};
    const char *v1[] = {"web", "2025-06-18T10:00:00Z", "t", "line1\nline2\r\nend\\n|x"};
    const char *v2[] = {"web", "2025-06-18\n", "t", "plain"};
    const char *v3[] = {"web", "2025-06-18T10:00:00Z", "t", "plain"};
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v1);
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v2);
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v3);
    const char *nj[] = {"json_payload"};
    const char *vj[] = {
        "{\"role\":\"w\",\"timestamp\":\"x\",\"type\":\"t\",\"data\":\"a\\r\\nb\"}"};
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 1, nj, vj);
    char err[4096];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once",
                            "--metrics-file", metrics, NULL),
                     0);
    const char *want = "web|2025-06-18T10:00:00Z|t|line1\\nline2\\r\\nend\\n|x\n"
                       "web|2025-06-18\\n|t|plain\n"
                       "web|2025-06-18T10:00:00Z|t|plain\n"
                       "w|x|t|a\\r\\nb\n";
    mu_assert_file_equals(f->file, want, strlen(want));
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == 4);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "escaped") == 3);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "skipped") == 0);
}

static void mirror_skips_bad_entries_and_goes_on(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    char ids[16][64];
    int nb = 0;
    char longrole[300];
    memset(longrole, 'r', 256);
    longrole[256] = '\0';
    const char *n4[] = {"role", "timestamp", "type", "data"};
    mu_add_std(f->c, f->stream, 0, 5, "/a", 0);
    {
        const char *n[] = {"timestamp", "type", "data"};
        const char *v[] = {"2025-06-18T10:00:00Z", "t", "no role"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 3, n, v);
    }
    {
        const char *n[] = {"role", "timestamp", "data"};
        const char *v[] = {"web", "2025-06-18T10:00:00Z", "no type"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 3, n, v);
    }
    {
        const char *v[] = {"we|b", "2025-06-18T10:00:00Z", "t", "bar in role"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {"web", "2025-06-18T10:00:00Z", "ty\npe", "LF in type"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {"we\rb", "2025-06-18T10:00:00Z", "t", "CR in role"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {longrole, "2025-06-18T10:00:00Z", "t", "long role"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *v[] = {"", "2025-06-18T10:00:00Z", "t", "empty role"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 4, n4, v);
    }
    {
        const char *n[] = {"json_payload"};
        const char *v[] = {"[1,2,3]"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    {
        const char *n[] = {"json_payload"};
        const char *v[] = {"{\"role\":\"r\",\"timestamp\":\"x\",\"type\":\"t\",\"data\":"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    {
        const char *n[] = {"json_payload"};
        const char *v[] = {"{\"role\":7,\"timestamp\":\"x\",\"type\":\"t\",\"data\":\"d\"}"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    {
        const char *n[] = {"foo"};
        const char *v[] = {"bar"};
        mu_xadd(f->c, f->stream, NULL, ids[nb++], 64, 1, n, v);
    }
    mu_add_std(f->c, f->stream, 5, 5, "/a", 0);
    char err[16384];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once",
                            "--metrics-file", metrics, NULL),
                     0);
    size_t wn;
    char *want = mu_std_lines(0, 10, &wn);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
    /* the first ten skipped entries are each named in a warning */
    for (int i = 0; i < nb && i < 10; i++)
        if (strstr(err, ids[i]) == NULL)
            fail_msg("no warning names skipped entry %s; stderr: %s", ids[i], err);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "skipped") == nb);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "written") == 10);
    char id[64];
    mu_last_id(f, id, sizeof(id));
    mu_assert_ckpt(f, id);
}

static void mirror_skip_warnings_are_rate_limited(void **state)
{
    struct fx_mirror *f = *state;
    for (int i = 0; i < 2500; i++)
        redisAppendCommand(f->c, "XADD %s * role we|b type t data %d", f->stream, i);
    for (int i = 0; i < 2500; i++) {
        void *r;
        assert_int_equal(redisGetReply(f->c, &r), REDIS_OK);
        freeReplyObject(r);
    }
    mu_add_std(f->c, f->stream, 0, 3, "/a", 0);
    char *err = malloc(1 << 20);
    assert_int_equal(
        mu_run(f, err, 1 << 20, "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    int warnings = 0;
    for (const char *p = err; (p = strstr(p, "skipped entry")) != NULL; p++)
        warnings++;
    /* 10 one by one, then one per 1000: 1000 and 2000 */
    assert_int_equal(warnings, 12);
    free(err);
    size_t wn;
    char *want = mu_std_lines(0, 3, &wn);
    mu_assert_file_equals(f->file, want, wn);
    free(want);
}

static void mirror_exclude_src_skips_those_sources(void **state)
{
    struct fx_mirror *f = *state;
    char metrics[450];
    snprintf(metrics, sizeof(metrics), "%s/m.prom", f->dir);
    mu_add_std(f->c, f->stream, 0, 10, "/var/log/legacy.log", 0);
    mu_add_std(f->c, f->stream, 10, 10, "/var/log/other.log", 0);
    mu_add_std(f->c, f->stream, 20, 10, "/var/log/legacy.log", 1);
    mu_add_std(f->c, f->stream, 30, 10, "svc-b", 1);
    mu_add_std(f->c, f->stream, 40, 10, "svc-c", 0);
    const char *n[] = {"role", "timestamp", "type", "data"};
    const char *v[] = {"web", "2025-06-18T10:00:00Z", "t", "no src"};
    mu_xadd(f->c, f->stream, NULL, NULL, 0, 4, n, v);
    char err[4096];
    assert_int_equal(mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file,
                            "--exclude-src", "/var/log/legacy.log", "--exclude-src", "svc-c",
                            "--once", "--metrics-file", metrics, NULL),
                     0);
    size_t n1, n2;
    char *a = mu_std_lines(10, 10, &n1);
    char *b = mu_std_lines(30, 10, &n2);
    const char *tail = "web|2025-06-18T10:00:00Z|t|no src\n";
    size_t wn = n1 + n2 + strlen(tail);
    char *want = malloc(wn + 1);
    memcpy(want, a, n1);
    memcpy(want + n1, b, n2);
    memcpy(want + n1 + n2, tail, strlen(tail));
    mu_assert_file_equals(f->file, want, wn);
    assert_true(mu_metric(metrics, "logbridge_mirror_entries_total", "file", f->file, "outcome",
                          "excluded") == 30);
    free(a);
    free(b);
    free(want);
}

static void mirror_round_trip_with_import(void **state)
{
    struct fx_mirror *f = *state;
    /* a legacy file without CRLF or blank lines (import drops those) */
    char legacy[450];
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", f->dir);
    size_t n;
    char *body = mu_std_lines(0, 3000, &n);
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
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    mu_assert_file_equals(f->file, body, n);
    free(body);
}

static void mirror_round_trip_with_import_json(void **state)
{
    struct fx_mirror *f = *state;
    char legacy[450];
    snprintf(legacy, sizeof(legacy), "%s/legacy.log", f->dir);
    size_t n;
    char *body = mu_std_lines(0, 1000, &n);
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
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    mu_assert_file_equals(f->file, body, n);
    free(body);
}

static void mirror_round_trip_crlf_and_blank_lines(void **state)
{
    struct fx_mirror *f = *state;
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
        mu_run(f, err, sizeof(err), "--stream", f->stream, "--file", f->file, "--once", NULL), 0);
    mu_assert_file_equals(f->file, out, strlen(out));
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mirror_once_writes_fields_entries_in_order, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_reads_json_encoding, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_json_field_option, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_missing_timestamp_from_id, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_escapes_cr_lf_and_counts, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_skips_bad_entries_and_goes_on, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_skip_warnings_are_rate_limited, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_exclude_src_skips_those_sources, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_round_trip_with_import, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_round_trip_with_import_json, fx_mirror_setup,
                                        fx_mirror_teardown),
        cmocka_unit_test_setup_teardown(mirror_round_trip_crlf_and_blank_lines, fx_mirror_setup,
                                        fx_mirror_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
