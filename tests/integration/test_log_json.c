/*
 * test_log_json.c - --log-format json carries the context of a line as
 * fields (src, off, ino, stream, file, ...), not packed as key=value inside
 * msg (issue 14); every line parses (cJSON). In text, the same fields follow
 * the message as key=value, quoted when a value has a space.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fx_tail.h"
#include "lbtest.h"
#include "tail_util.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 20000

/* Every line of the log file as a JSON object; fails on one that is not.
 * Returns the array (cJSON_Delete it). */
static cJSON *log_lines(const char *path)
{
    char *text = lbt_read_file(path, NULL);
    assert_non_null(text);
    cJSON *all = cJSON_CreateArray();
    int ln = 0;
    for (char *p = text, *nl; *p != '\0'; p = nl + 1) {
        nl = strchr(p, '\n');
        if (nl == NULL)
            fail_msg("line %d does not end with a newline: %s", ln + 1, p);
        *nl = '\0';
        ln++;
        const char *end = NULL;
        cJSON *o = cJSON_ParseWithOpts(p, &end, 1);
        if (!cJSON_IsObject(o))
            fail_msg("line %d is not a JSON object: %s", ln, p);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "level");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "msg");
        if (!cJSON_IsString(t) || !cJSON_IsString(l) || !cJSON_IsString(m))
            fail_msg("line %d lacks time, level or msg: %s", ln, p);
        cJSON_AddItemToArray(all, o);
    }
    free(text);
    return all;
}

/* The first line whose msg contains needle, or NULL. */
static const cJSON *log_find(const cJSON *all, const char *needle)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, all)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "msg");
        if (strstr(m->valuestring, needle) != NULL)
            return o;
    }
    return NULL;
}

static const char *str_field(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v))
        fail_msg("field %s is missing or not a string in %s", k, cJSON_PrintUnformatted(o));
    return v->valuestring;
}

static double num_field(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("field %s is missing or not a number in %s", k, cJSON_PrintUnformatted(o));
    return v->valuedouble;
}

struct pos_ctx {
    pid_t pid;
    const char *path;
    long long want;
};

static int pos_reached(void *p)
{
    struct pos_ctx *c = p;
    return tu_fd_pos(c->pid, c->path) >= c->want;
}

/* The tail warning of lost bytes (a truncation with no rotated copy): src,
 * off and lost_bytes are fields; msg carries no "src=". */
static void log_json_tail_warning_has_the_fields(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 10), 0);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    long long committed = (long long)st.st_size;
    fx_tail_spawn(t, "--log-format", "json", t->path, NULL);
    fx_tail_wait_xlen(t, 100, WAIT_MS);
    assert_true(tu_wait_ckpt(t->c, "logbridge:ckpt:{s}", t->path, committed, WAIT_MS));
    char part[256];
    size_t pn = tu_line(part, sizeof(part), 0, 100, 10);
    assert_int_equal(lbt_append_file(t->path, part, pn - 1), 0);
    struct pos_ctx pc = {t->pid, t->path, committed + (long long)pn - 1};
    assert_true(lbt_wait_for(pos_reached, &pc, 10000));
    assert_int_equal(truncate(t->path, 0), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 200, 210, 10), 0);
    fx_tail_wait_xlen(t, 110, WAIT_MS);
    assert_int_equal(fx_tail_stop(t, SIGTERM), 0);

    cJSON *all = log_lines(t->log);
    const cJSON *w = log_find(all, "bytes are lost");
    if (w == NULL)
        fail_msg("no warning of lost bytes in the log");
    assert_string_equal(str_field(w, "level"), "warn");
    assert_string_equal(str_field(w, "src"), t->path);
    assert_true(num_field(w, "off") == (double)committed);
    assert_true(num_field(w, "lost_bytes") == (double)(pn - 1));
    assert_null(strstr(str_field(w, "msg"), "src="));
    assert_null(strstr(str_field(w, "msg"), t->path));
    const cJSON *f = log_find(all, "tail: following 1 file");
    assert_non_null(f);
    assert_string_equal(str_field(f, "stream"), "s");
    cJSON_Delete(all);
}

/* mirror's lines name their file and stream as fields, its position as id;
 * in text the same fields follow the message (a path with a space quoted). */
static void log_json_mirror_lines_have_file_and_stream(void **state)
{
    struct fx_tail *t = *state;
    char file[600], err[8192];
    snprintf(file, sizeof(file), "%s/legacy out.log", t->dir);
    redisReply *rep = redisCommand(t->c, "XADD s * role r timestamp 1718700000 type t data d");
    assert_non_null(rep);
    freeReplyObject(rep);
    const char *args[] = {"mirror", "--redis",      t->r.url, "--stream",   "s",    "--file",
                          file,     "--log-format", "json",   "--log-file", t->log, "--once",
                          NULL};
    assert_int_equal(lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0), 0);
    cJSON *all = log_lines(t->log);
    const cJSON *o = log_find(all, "mirror: following the stream");
    assert_non_null(o);
    assert_string_equal(str_field(o, "file"), file);
    assert_string_equal(str_field(o, "stream"), "s");
    o = log_find(all, "mirror: no checkpoint");
    assert_non_null(o);
    assert_string_equal(str_field(o, "id"), "0-0");
    assert_true(num_field(o, "size") == 0);
    o = log_find(all, "mirror: stopped");
    assert_non_null(o);
    assert_string_equal(str_field(o, "file"), file);
    assert_true(num_field(o, "size") > 0);
    cJSON_Delete(all);

    /* text: the fields after the message */
    const char *text_args[] = {"mirror", "--redis", t->r.url, "--stream", "s",
                               "--file", file,      "--once", NULL};
    assert_int_equal(lbt_run(text_args, NULL, 0, err, sizeof(err), NULL, 0), 0);
    char want[800];
    snprintf(want, sizeof(want), "mirror: resuming after id file=\"%s\" stream=s id=", file);
    if (strstr(err, want) == NULL)
        fail_msg("no '%s' in:\n%s", want, err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(log_json_tail_warning_has_the_fields, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(log_json_mirror_lines_have_file_and_stream, fx_tail_setup,
                                        fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
