/*
 * test_status.c - `logbridge status`: every number of the JSON report is
 * checked against what Redis and the file system hold (checkpoints written
 * by a real import, groups read by XREADGROUP, mirrors recorded by a real
 * mirror), plus the exit codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbtest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_redis_start(&f->r, 0) != 0 || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0)
        return -1;
    f->c = lbt_connect(&f->r);
    *state = f;
    return f->c ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->c)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

static char out[1 << 20], err[1 << 16];

/* `status --json` of stream s, parsed; the test fails on anything else. */
static cJSON *status_json(struct fx *f, const char *s)
{
    const char *args[] = {"status", "--redis", f->r.url, "--stream", s, "--json", NULL};
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("status exited %d: %s", rc, err);
    cJSON *j = cJSON_Parse(out);
    if (j == NULL)
        fail_msg("status --json printed no JSON: %s", out);
    return j;
}

/* The keys of object o, in order, joined by ','. */
static const char *keys_of(const cJSON *o)
{
    static char buf[512];
    size_t n = 0;
    buf[0] = '\0';
    for (const cJSON *x = o->child; x != NULL; x = x->next)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "", x->string);
    return buf;
}

static const cJSON *find_by(const cJSON *arr, const char *key, const char *value)
{
    for (const cJSON *x = arr->child; x != NULL; x = x->next) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(x, key);
        if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0)
            return x;
    }
    fail_msg("no element with %s=%s", key, value);
    return NULL;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("%s is not a number", key);
    return v->valuedouble;
}

static int is_null(const cJSON *o, const char *key)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        fail_msg("%s is not a string", key);
    return v->valuestring;
}

static void write_lines(const char *path, long from, long n)
{
    char line[512];
    for (long i = from; i < from + n; i++) {
        size_t len = lbt_line(line, sizeof(line), i);
        assert_int_equal(lbt_append_file(path, line, len), 0);
    }
}

static void import_file(struct fx *f, const char *stream, const char *path, const char *name)
{
    const char *args[12] = {"import", "--redis", f->r.url, "--stream", stream, "--no-progress"};
    int n = 6;
    if (name != NULL) {
        args[n++] = "--name";
        args[n++] = name;
    }
    args[n++] = path;
    args[n] = NULL;
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("import exited %d: %s", rc, err);
}

/* The checkpoint of src as Redis holds it. */
static cJSON *ckpt(struct fx *f, const char *stream, const char *src)
{
    redisReply *r = redisCommand(f->c, "HGET logbridge:ckpt:{%s} %s", stream, src);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    cJSON *j = cJSON_Parse(r->str);
    freeReplyObject(r);
    assert_non_null(j);
    return j;
}

static void status_json_matches_checkpoints(void **state)
{
    struct fx *f = *state;
    char a[400], m1[400];
    snprintf(a, sizeof(a), "%s/a.log", f->dir);
    snprintf(m1, sizeof(m1), "%s/m1.log", f->dir);
    write_lines(a, 0, 50);
    assert_int_equal(lbt_append_file(a, "oops not a line\n\n", 17), 0); /* bad + blank */
    import_file(f, "S", a, NULL);
    char b[400];
    snprintf(b, sizeof(b), "%s/b.log", f->dir);
    write_lines(b, 100, 10);
    import_file(f, "S", b, "otherhost:/var/log/b.log");

    /* unread bytes: three complete lines and a partial one */
    long long before = lbt_file_size(a);
    write_lines(a, 50, 3);
    assert_int_equal(lbt_append_file(a, "web|2025", 8), 0);
    long long unread = lbt_file_size(a) - before;

    /* two groups: one has read 7 entries without acking them */
    freeReplyObject(redisCommand(f->c, "XGROUP CREATE S g1 0"));
    freeReplyObject(redisCommand(f->c, "XREADGROUP GROUP g1 c1 COUNT 7 STREAMS S >"));
    freeReplyObject(redisCommand(f->c, "XGROUP CREATE S g2 $"));

    /* one mirror by the real job, one recorded for a file on another host */
    const char *margs[] = {"mirror", "--redis", f->r.url, "--stream", "S",
                           "--file", m1,        "--once", NULL};
    int rc = lbt_run(margs, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("mirror --once exited %d: %s", rc, err);
    struct lbt_entry *e;
    long n = lbt_xrange_all(f->c, "S", &e);
    assert_int_equal(n, 60);
    char val[256];
    snprintf(val, sizeof(val), "{\"id\":\"%s\",\"size\":100,\"dev\":1,\"ino\":2}", e[9].id);
    freeReplyObject(redisCommand(f->c, "HSET logbridge:mirror:{S} /elsewhere/m2.log %s", val));

    cJSON *j = status_json(f, "S");
    assert_string_equal(keys_of(j), "stream,length,last_id,groups,sources,mirrors");
    assert_string_equal(str(j, "stream"), "S");
    assert_true(num(j, "length") == 60);
    assert_string_equal(str(j, "last_id"), e[59].id);

    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(j, "groups");
    assert_int_equal(cJSON_GetArraySize(groups), 2);
    const cJSON *g1 = find_by(groups, "name", "g1");
    assert_string_equal(keys_of(g1), "name,lag,pending");
    assert_true(num(g1, "pending") == 7);
    assert_true(num(g1, "lag") == 53);
    const cJSON *g2 = find_by(groups, "name", "g2");
    assert_true(num(g2, "pending") == 0);
    assert_true(num(g2, "lag") == 0);

    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(j, "sources");
    assert_int_equal(cJSON_GetArraySize(sources), 2);
    const cJSON *sa = find_by(sources, "src", a);
    assert_string_equal(keys_of(sa), "src,offset,line,id,size,lag_bytes");
    cJSON *ca = ckpt(f, "S", a);
    assert_true(num(sa, "offset") == num(ca, "off"));
    assert_true(num(sa, "line") == num(ca, "line"));
    assert_true(num(sa, "line") == 52); /* 50 valid + bad + blank */
    assert_string_equal(str(sa, "id"), str(ca, "id"));
    assert_string_equal(str(sa, "id"), e[49].id);
    assert_true(num(sa, "size") == lbt_file_size(a));
    assert_true(num(sa, "lag_bytes") == unread);
    cJSON_Delete(ca);
    const cJSON *sb = find_by(sources, "src", "otherhost:/var/log/b.log");
    cJSON *cb = ckpt(f, "S", "otherhost:/var/log/b.log");
    assert_true(num(sb, "offset") == num(cb, "off"));
    assert_true(num(sb, "line") == 10);
    assert_string_equal(str(sb, "id"), e[59].id);
    assert_true(is_null(sb, "size"));
    assert_true(is_null(sb, "lag_bytes"));
    cJSON_Delete(cb);

    const cJSON *mirrors = cJSON_GetObjectItemCaseSensitive(j, "mirrors");
    assert_int_equal(cJSON_GetArraySize(mirrors), 2);
    const cJSON *mm1 = find_by(mirrors, "file", m1);
    assert_string_equal(keys_of(mm1), "file,id,size,behind");
    assert_string_equal(str(mm1, "id"), e[59].id);
    assert_true(num(mm1, "size") == lbt_file_size(m1));
    assert_true(num(mm1, "behind") == 0);
    const cJSON *mm2 = find_by(mirrors, "file", "/elsewhere/m2.log");
    assert_string_equal(str(mm2, "id"), e[9].id);
    assert_true(is_null(mm2, "size"));
    assert_true(num(mm2, "behind") == 50);
    cJSON_Delete(j);

    /* the checkpoint moves, the report follows */
    import_file(f, "S", a, NULL);
    j = status_json(f, "S");
    sa = find_by(cJSON_GetObjectItemCaseSensitive(j, "sources"), "src", a);
    assert_true(num(sa, "lag_bytes") == 8); /* only the partial line is left */
    assert_true(num(j, "length") == 63);
    assert_true(
        num(find_by(cJSON_GetObjectItemCaseSensitive(j, "mirrors"), "file", m1), "behind") == 3);
    cJSON_Delete(j);
    lbt_entries_free(e, n);
}

static void status_lag_after_rotation_counts_the_new_file(void **state)
{
    struct fx *f = *state;
    char a[400], a1[400];
    snprintf(a, sizeof(a), "%s/app.log", f->dir);
    snprintf(a1, sizeof(a1), "%s/app.log.1", f->dir);
    write_lines(a, 0, 20);
    import_file(f, "R", a, NULL);
    cJSON *j = status_json(f, "R");
    const cJSON *s = find_by(cJSON_GetObjectItemCaseSensitive(j, "sources"), "src", a);
    assert_true(num(s, "lag_bytes") == 0);
    assert_true(num(s, "size") == num(s, "offset"));
    cJSON_Delete(j);
    /* logrotate: rename + create; nothing of the new file is read yet */
    assert_int_equal(rename(a, a1), 0);
    write_lines(a, 20, 2);
    j = status_json(f, "R");
    s = find_by(cJSON_GetObjectItemCaseSensitive(j, "sources"), "src", a);
    assert_true(num(s, "size") == lbt_file_size(a));
    assert_true(num(s, "lag_bytes") == lbt_file_size(a));
    cJSON_Delete(j);
    /* copytruncate: the same inode, shorter than the checkpoint */
    assert_int_equal(rename(a1, a), 0);
    assert_int_equal(truncate(a, 10), 0);
    j = status_json(f, "R");
    s = find_by(cJSON_GetObjectItemCaseSensitive(j, "sources"), "src", a);
    assert_true(num(s, "lag_bytes") == 10);
    cJSON_Delete(j);
}

static void status_gzip_source_has_null_size(void **state)
{
    struct fx *f = *state;
    char gz[400], cmd[1000];
    snprintf(gz, sizeof(gz), "%s/app.log.1.gz", f->dir);
    snprintf(cmd, sizeof(cmd), "cp fixtures/app.log.1.gz '%s'", gz);
    assert_int_equal(system(cmd), 0);
    import_file(f, "G", gz, NULL);
    cJSON *j = status_json(f, "G");
    const cJSON *s = find_by(cJSON_GetObjectItemCaseSensitive(j, "sources"), "src", gz);
    cJSON *c = ckpt(f, "G", gz);
    assert_true(num(s, "offset") == num(c, "off"));
    assert_true(num(s, "offset") > (double)lbt_file_size(gz)); /* decompressed bytes */
    assert_true(is_null(s, "size"));
    assert_true(is_null(s, "lag_bytes"));
    cJSON_Delete(c);
    cJSON_Delete(j);
}

static void status_of_a_missing_stream_is_empty(void **state)
{
    struct fx *f = *state;
    cJSON *j = status_json(f, "nothing:here");
    char *s = cJSON_PrintUnformatted(j);
    assert_string_equal(s, "{\"stream\":\"nothing:here\",\"length\":0,\"last_id\":null,"
                           "\"groups\":[],\"sources\":[],\"mirrors\":[]}");
    free(s);
    cJSON_Delete(j);
}

static void status_behind_counts_exactly_across_pages(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2500; i++)
        redisAppendCommand(f->c, "XADD P * role r timestamp 1750000000 type t data d%d", i);
    for (int i = 0; i < 2500; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(f->c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    struct lbt_entry *e;
    long n = lbt_xrange_all(f->c, "P", &e);
    assert_int_equal(n, 2500);
    struct {
        const char *file;
        const char *id;
        double behind;
    } cases[] = {
        {"/m/at-100.log", e[99].id, 2400},   {"/m/at-1000.log", e[999].id, 1500},
        {"/m/at-2001.log", e[2000].id, 499}, {"/m/last.log", e[2499].id, 0},
        {"/m/before.log", "0-1", 2500},      {"/m/empty.log", "", 2500},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char val[200];
        snprintf(val, sizeof(val), "{\"id\":\"%s\",\"size\":0,\"dev\":1,\"ino\":2}", cases[i].id);
        freeReplyObject(redisCommand(f->c, "HSET logbridge:mirror:{P} %s %s", cases[i].file, val));
    }
    cJSON *j = status_json(f, "P");
    const cJSON *mirrors = cJSON_GetObjectItemCaseSensitive(j, "mirrors");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const cJSON *m = find_by(mirrors, "file", cases[i].file);
        if (num(m, "behind") != cases[i].behind)
            fail_msg("%s: behind %.0f, expected %.0f", cases[i].file, num(m, "behind"),
                     cases[i].behind);
    }
    cJSON_Delete(j);
    /* trimmed past a mirror's id: everything left is behind it */
    freeReplyObject(redisCommand(f->c, "XTRIM P MAXLEN 1000"));
    j = status_json(f, "P");
    mirrors = cJSON_GetObjectItemCaseSensitive(j, "mirrors");
    assert_true(num(find_by(mirrors, "file", "/m/at-100.log"), "behind") == 1000);
    assert_true(num(find_by(mirrors, "file", "/m/at-2001.log"), "behind") == 499);
    assert_true(num(j, "length") == 1000);
    cJSON_Delete(j);
    lbt_entries_free(e, n);
}

static void status_table_is_readable(void **state)
{
    struct fx *f = *state;
    char a[400];
    snprintf(a, sizeof(a), "%s/t.log", f->dir);
    write_lines(a, 0, 5);
    import_file(f, "T", a, NULL);
    freeReplyObject(redisCommand(f->c, "XGROUP CREATE T readers 0"));
    const char *args[] = {"status", "--redis", f->r.url, "--stream", "T", NULL};
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "stream T: 5 entries"));
    assert_non_null(strstr(out, "readers"));
    assert_non_null(strstr(out, "LAG_BYTES"));
    assert_non_null(strstr(out, a));
    assert_non_null(strstr(out, "mirrors: none"));
}

static void status_unreachable_redis_is_exit_3(void **state)
{
    struct fx *f = *state;
    char url[400];
    snprintf(url, sizeof(url), "unix://%s/no-such.sock", f->dir);
    const char *args[] = {"status", "--redis", url, "--stream", "S", "--json", NULL};
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(err, "no-such.sock"));
    /* one line */
    char *nl = strchr(err, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    assert_string_equal(out, "");
}

static void status_bad_options_are_exit_2(void **state)
{
    struct fx *f = *state;
    const char *a1[] = {"status", "--redis", f->r.url, NULL};
    assert_int_equal(lbt_run(a1, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "--stream"));
    const char *a2[] = {"status", "--redis", f->r.url, "--stream", "S", "--bogus", NULL};
    assert_int_equal(lbt_run(a2, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "--bogus"));
    const char *a3[] = {"status", "--redis", f->r.url, "--stream", "S", "extra", NULL};
    assert_int_equal(lbt_run(a3, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    const char *a4[] = {"status", "--redis", "http://x", "--stream", "S", NULL};
    assert_int_equal(lbt_run(a4, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "--redis"));
    const char *a5[] = {"status", "--help", NULL};
    assert_int_equal(lbt_run(a5, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_non_null(strstr(out, "--json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(status_json_matches_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(status_lag_after_rotation_counts_the_new_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(status_gzip_source_has_null_size, setup, teardown),
        cmocka_unit_test_setup_teardown(status_of_a_missing_stream_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(status_behind_counts_exactly_across_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(status_table_is_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(status_unreachable_redis_is_exit_3, setup, teardown),
        cmocka_unit_test_setup_teardown(status_bad_options_are_exit_2, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
