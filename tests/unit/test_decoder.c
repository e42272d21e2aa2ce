/*
 * test_decoder.c - the entry decoder of mirror and export (lb_mirror_decode
 * in bridge/mirror.c, static there): an entry of either encoding (fields, or
 * a JSON object in --json-field) becomes ROLE|TIMESTAMP|TYPE|DATA with CR and
 * LF escaped as \r and \n; a missing or empty timestamp is taken from the
 * entry ID; an entry that cannot be a legacy line (no role or type, or one
 * that is empty or holds '|', CR or LF; a timestamp with '|') is skipped and
 * named with its reason. Driven through `export` in-process (it runs the
 * decoder over every entry and writes what it gives), against a real
 * redis-server. parity has its own decoder (lb_decode in parity.c): the last
 * test checks that it reads export's lines back as equal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "jobs.h"
#include "lbt_unit.h"

static struct lbt_redis srv;
static redisContext *adm;
static char dir[256];

/* XADD key id f1 v1 f2 v2 ... (NULL-terminated; values may hold any byte
 * but NUL). */
static void xadd(const char *key, const char *id, ...)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "XADD";
    argv[n++] = key;
    argv[n++] = id;
    va_list ap;
    va_start(ap, id);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 32)
        argv[n++] = s;
    va_end(ap);
    redisReply *rep = redisCommandArgv(adm, (int)n, argv, NULL);
    assert_non_null(rep);
    if (rep->type != REDIS_REPLY_STRING)
        fail_msg("XADD %s %s: %s", key, id, rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
}

/* Run export of stream into dir/out.log (log to dir/export.log); return its
 * exit code; *out and *log get the files' contents (malloc'ed). */
static int export(const char *stream, const char *json_field, char **out, char **log)
{
    char file[300], logf[300];
    snprintf(file, sizeof(file), "%s/out.log", dir);
    snprintf(logf, sizeof(logf), "%s/export.log", dir);
    unlink(logf);
    char *argv[16];
    int n = 0;
    argv[n++] = "export";
    argv[n++] = "--redis";
    argv[n++] = srv.url;
    argv[n++] = "--stream";
    argv[n++] = (char *)stream;
    argv[n++] = "--file";
    argv[n++] = file;
    argv[n++] = "--log-file";
    argv[n++] = logf;
    if (json_field != NULL) {
        argv[n++] = "--json-field";
        argv[n++] = (char *)json_field;
    }
    argv[n] = NULL;
    int rc = lb_cmd_export(n, argv);
    size_t len;
    *out = lbt_read_file(file, &len);
    *log = lbt_read_file(logf, &len);
    assert_non_null(*out);
    assert_non_null(*log);
    return rc;
}

static void log_has(const char *log, const char *id, const char *why)
{
    char want[256];
    snprintf(want, sizeof(want), "skipped entry id=%s: %s (it cannot be a legacy line)", id, why);
    if (strstr(log, want) == NULL)
        fail_msg("the log does not say '%s':\n%s", want, log);
}

static int group_setup(void **state)
{
    (void)state;
    if (lbt_redis_start(&srv, 0) != 0 || lbt_mkdtemp(dir, sizeof(dir)) != 0)
        return -1;
    adm = lbt_connect(&srv);
    return adm == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (adm != NULL)
        redisFree(adm);
    lbt_redis_stop(&srv, 1);
    lbt_rmdir(dir);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return lbt_cmd_ok(adm, "FLUSHALL");
}

/* The fields encoding: the line, the timestamp from the ID when missing or
 * empty, CR/LF escaped in every field, extra and repeated fields ignored
 * (the first occurrence wins). */
static void decoder_fields_encoding_gives_the_legacy_line(void **state)
{
    (void)state;
    xadd("{d}:s", "1750240800000-0", "role", "web", "timestamp", "2025-06-18T10:00:00.000Z", "type",
         "login", "data", "a|b", "src", "/x.log", "off", "0", NULL);
    xadd("{d}:s", "1750240800123-0", "role", "web", "type", "t", "data", "no ts", NULL);
    xadd("{d}:s", "1750240800124-5", "role", "web", "timestamp", "", "type", "t", "data",
         "empty ts", NULL);
    xadd("{d}:s", "1750240801000-0", "role", "web", "timestamp", "T\r\n", "type", "t", "data",
         "line1\nline2\r\nend\\n", NULL);
    xadd("{d}:s", "1750240802000-0", "type", "t", "role", "r", "data", "", "role", "second",
         "timestamp", "x", "extra", "y", NULL);
    xadd("{d}:s", "1750240803000-0", "role", "r", "timestamp", "x", "type", "t", NULL);
    char *out, *log;
    assert_int_equal(export("{d}:s", NULL, &out, &log), 0);
    assert_string_equal(out, "web|2025-06-18T10:00:00.000Z|login|a|b\n"
                             "web|2025-06-18T10:00:00.123Z|t|no ts\n"
                             "web|2025-06-18T10:00:00.124Z|t|empty ts\n"
                             "web|T\\r\\n|t|line1\\nline2\\r\\nend\\n\n"
                             "r|x|t|\n"
                             "r|x|t|\n");
    assert_non_null(strstr(log, "6 entries written"));
    assert_non_null(strstr(log, ", 0 skipped"));
    free(out);
    free(log);
}

/* The json encoding, in the default field and in --json-field: role and type
 * must be strings; timestamp and data may be any JSON value (compact text);
 * missing timestamp from the ID; escapes resolved, then CR/LF escaped. */
static void decoder_json_encoding_gives_the_legacy_line(void **state)
{
    (void)state;
    xadd("{j}:s", "1750240800000-0", "json_payload",
         "{\"role\":\"web\",\"timestamp\":\"2025-06-18T10:00:00Z\",\"type\":\"pay\",\"data\":"
         "\"x|y\",\"src\":\"/a.log\",\"off\":7}",
         NULL);
    xadd("{j}:s", "1750240800001-0", "json_payload",
         "{\"role\":\"r\",\"type\":\"t\",\"data\":{\"k\":[1,2]},\"timestamp\":1750240800}", NULL);
    xadd("{j}:s", "1750240800002-0", "json_payload",
         "{\"role\":\"r\",\"type\":\"t\",\"data\":\"a\\r\\nb\\u00e9\"}", NULL);
    xadd("{j}:s", "1750240800003-0", "payload",
         "{\"role\":\"p\",\"type\":\"t\",\"timestamp\":\"T\",\"data\":\"custom field\"}", NULL);
    char *out, *log;
    assert_int_equal(export("{j}:s", NULL, &out, &log), 0);
    assert_string_equal(out, "web|2025-06-18T10:00:00Z|pay|x|y\n"
                             "r|1750240800|t|{\"k\":[1,2]}\n"
                             "r|2025-06-18T10:00:00.002Z|t|a\\r\\nb\xc3\xa9\n");
    log_has(log, "1750240800003-0", "no role");
    free(out);
    free(log);

    /* --json-field payload: now the last entry is the one with a line */
    assert_int_equal(export("{j}:s", "payload", &out, &log), 0);
    assert_string_equal(out, "p|T|t|custom field\n");
    log_has(log, "1750240800000-0", "no role");
    assert_non_null(strstr(log, "1 entries written"));
    assert_non_null(strstr(log, ", 3 skipped"));
    free(out);
    free(log);
}

/* mirror's verdict: what cannot be a legacy line is skipped, with its reason;
 * the entries around it are written. */
static void decoder_verdict_cannot_be_a_legacy_line(void **state)
{
    (void)state;
    static const struct {
        const char *id, *role, *type, *ts, *why;
    } c[] = {
        {"1-1", "a|b", "t", "x", "role contains '|', CR or LF"},
        {"1-2", "a\rb", "t", "x", "role contains '|', CR or LF"},
        {"1-3", "a\nb", "t", "x", "role contains '|', CR or LF"},
        {"1-4", "", "t", "x", "empty role"},
        {"1-5", "r", "t|u", "x", "type contains '|', CR or LF"},
        {"1-6", "r", "t\r", "x", "type contains '|', CR or LF"},
        {"1-7", "r", "\nt", "x", "type contains '|', CR or LF"},
        {"1-8", "r", "", "x", "empty type"},
        {"1-9", "r", "t", "x|y", "timestamp contains '|'"},
    };
    xadd("{v}:s", "1-0", "role", "ok", "timestamp", "x", "type", "t", "data", "first", NULL);
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        xadd("{v}:s", c[i].id, "role", c[i].role, "timestamp", c[i].ts, "type", c[i].type, "data",
             "d", NULL);
    xadd("{v}:s", "3-0", "role", "ok", "timestamp", "x", "type", "t", "data", "last", NULL);
    char *out, *log;
    assert_int_equal(export("{v}:s", NULL, &out, &log), 0);
    assert_string_equal(out, "ok|x|t|first\nok|x|t|last\n");
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        log_has(log, c[i].id, c[i].why);
    assert_non_null(strstr(log, "2 entries written"));
    assert_non_null(strstr(log, ", 9 skipped"));
    free(out);
    free(log);

    /* missing role or type, and the json encoding's verdicts (a stream of
     * its own: past 10 skipped entries the warnings are rate-limited) */
    xadd("{w}:s", "2-1", "timestamp", "x", "type", "t", "data", "d", NULL);
    xadd("{w}:s", "2-2", "role", "r", "timestamp", "x", "data", "d", NULL);
    xadd("{w}:s", "2-3", "json_payload", "[1,2]", NULL);
    xadd("{w}:s", "2-4", "json_payload", "{\"role\":\"a|b\",\"type\":\"t\"}", NULL);
    xadd("{w}:s", "2-5", "json_payload", "{\"role\":\"r\",\"type\":\"t\\n\"}", NULL);
    xadd("{w}:s", "2-6", "json_payload", "{\"role\":\"r\",\"type\":7}", NULL);
    xadd("{w}:s", "2-7", "json_payload", "{\"role\":\"r\",\"type\":\"t\",\"timestamp\":\"a|b\"}",
         NULL);
    xadd("{w}:s", "3-0", "role", "ok", "timestamp", "x", "type", "t", "data", "last", NULL);
    assert_int_equal(export("{w}:s", NULL, &out, &log), 0);
    assert_string_equal(out, "ok|x|t|last\n");
    log_has(log, "2-1", "no role");
    log_has(log, "2-2", "no type");
    log_has(log, "2-3", "no role field, and the json field is not a JSON object");
    log_has(log, "2-4", "role contains '|', CR or LF");
    log_has(log, "2-5", "type contains '|', CR or LF");
    log_has(log, "2-6", "no type");
    log_has(log, "2-7", "timestamp contains '|'");
    assert_non_null(strstr(log, "1 entries written"));
    assert_non_null(strstr(log, ", 7 skipped"));
    free(out);
    free(log);
}

/* parity's own decoder reads the same entries (both encodings, a timestamp
 * from the ID, CR/LF) as the lines export wrote for them: equal, exit 0.
 * (Timestamps here are valid legacy timestamps: an entry whose timestamp is
 * not one gets a line from mirror that parity's reader counts as a bad
 * line, by DESIGN section 1.) */
static void decoder_parity_agrees_with_export(void **state)
{
    (void)state;
    xadd("{p}:s", "1750240800000-0", "role", "web", "timestamp", "2025-06-18T10:00:00Z", "type",
         "t", "data", "a|b\r\nc", NULL);
    xadd("{p}:s", "1750240800001-0", "role", "web", "type", "t", "data", "no ts", NULL);
    xadd("{p}:s", "1750240800002-0", "json_payload",
         "{\"role\":\"r\",\"type\":\"t\",\"data\":{\"k\":\"v\\r\"},\"timestamp\":1750240800}",
         NULL);
    xadd("{p}:s", "1750240800003-0", "json_payload",
         "{\"role\":\"r\",\"type\":\"t\",\"data\":\"d\"}", NULL);
    char *out, *log;
    assert_int_equal(export("{p}:s", NULL, &out, &log), 0);
    free(out);
    free(log);
    char file[300], report[300];
    snprintf(file, sizeof(file), "%s/out.log", dir);
    snprintf(report, sizeof(report), "%s/parity.txt", dir);
    char *argv[] = {"parity", "--redis", srv.url, "--stream", "{p}:s", "--out", report, file, NULL};
    int rc = lb_cmd_parity(8, argv);
    if (rc != 0) {
        size_t n;
        char *r = lbt_read_file(report, &n);
        fail_msg("parity exit %d:\n%s", rc, r ? r : "(no report)");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(decoder_fields_encoding_gives_the_legacy_line, setup),
        cmocka_unit_test_setup(decoder_json_encoding_gives_the_legacy_line, setup),
        cmocka_unit_test_setup(decoder_verdict_cannot_be_a_legacy_line, setup),
        cmocka_unit_test_setup(decoder_parity_agrees_with_export, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
