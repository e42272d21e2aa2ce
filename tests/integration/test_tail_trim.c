/*
 * test_tail_trim.c - `logbridge tail --maxlen` never trims what a consumer
 * group has not read and acknowledged (DESIGN.md section 4.6), says so once
 * (warning + gauge logbridge_trim_blocked), trims once the group has caught
 * up, and trims regardless with --trim-ignore-groups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lbtest.h"
#include "fx_tail.h"
#include "tail_util.h"

static int tail_once(struct fx_tail *t, char *err, size_t cap, const char *extra)
{
    const char *args[] = {"tail",
                          "--redis",
                          t->r.url,
                          "--stream",
                          "s",
                          "--once",
                          "--batch",
                          "100",
                          "--maxlen",
                          "100",
                          "--metrics-file",
                          t->metrics,
                          extra ? extra : t->path,
                          extra ? t->path : NULL,
                          NULL};
    return lbt_run(args, NULL, 0, err, cap, NULL, 0);
}

static void group_create(struct fx_tail *t)
{
    redisReply *r = redisCommand(t->c, "XGROUP CREATE s g $ MKSTREAM");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
}

/* The group reads every entry and acknowledges it. */
static void group_catch_up(struct fx_tail *t)
{
    redisReply *r = redisCommand(t->c, "XREADGROUP GROUP g c COUNT 1000000 STREAMS s >");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    redisReply *entries = r->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *a = redisCommand(t->c, "XACK s g %s", entries->element[i]->element[0]->str);
        assert_non_null(a);
        assert_int_equal(a->integer, 1);
        freeReplyObject(a);
    }
    freeReplyObject(r);
}

static void tail_maxlen_keeps_unread_entries(void **state)
{
    struct fx_tail *t = *state;
    group_create(t);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 2000, 10), 0);
    char err[8192];
    assert_int_equal(tail_once(t, err, sizeof(err), NULL), 0);
    assert_true(lbt_xlen(t->c, "s") >= 2000);
    const char *w = strstr(err, "held back by a consumer group");
    assert_non_null(w);
    assert_null(strstr(w + 1, "held back by a consumer group")); /* once */
    assert_true(tu_file_has(t->metrics, "logbridge_trim_blocked{stream=\"s\"} 1"));

    /* the group reads and acknowledges all: now trimming goes ahead */
    group_catch_up(t);
    assert_int_equal(tu_append_lines(t->path, 0, 2000, 2050, 10), 0);
    assert_int_equal(tail_once(t, err, sizeof(err), NULL), 0);
    long long n = lbt_xlen(t->c, "s");
    printf("XLEN after the group caught up: %lld (--maxlen 100)\n", n);
    assert_true(n >= 100 && n <= 250);
    assert_true(tu_file_has(t->metrics, "logbridge_trim_blocked{stream=\"s\"} 0"));
    char why[512];
    struct lbt_entry *e;
    long ne = lbt_xrange_all(t->c, "s", &e);
    /* what is left is the newest lines, in order */
    assert_int_equal(strtol(lbt_field(&e[ne - 1], "data"), NULL, 10), 2049);
    lbt_entries_free(e, ne);
    (void)why;
}

static void tail_trim_ignore_groups_trims(void **state)
{
    struct fx_tail *t = *state;
    group_create(t);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 2000, 10), 0);
    char err[8192];
    assert_int_equal(tail_once(t, err, sizeof(err), "--trim-ignore-groups"), 0);
    long long n = lbt_xlen(t->c, "s");
    printf("XLEN with --trim-ignore-groups: %lld (--maxlen 100)\n", n);
    assert_true(n >= 100 && n <= 250);
    assert_null(strstr(err, "held back"));
}

static void tail_maxlen_without_groups_trims(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(tu_append_lines(t->path, 0, 0, 2000, 10), 0);
    char err[8192];
    assert_int_equal(tail_once(t, err, sizeof(err), NULL), 0);
    long long n = lbt_xlen(t->c, "s");
    assert_true(n >= 100 && n <= 250);
    long long line = 0;
    assert_true(tu_ckpt_off(t->c, "logbridge:ckpt:{s}", t->path, &line) > 0);
    assert_int_equal(line, 2000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_maxlen_keeps_unread_entries, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_trim_ignore_groups_trims, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(tail_maxlen_without_groups_trims, fx_tail_setup,
                                        fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
