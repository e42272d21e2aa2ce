/*
 * test_reply.c - the shared reply path (reply.c, stream_reader.c) against a
 * real redis-server: the strings of an arena reply are left in the read
 * buffers they arrived in, so these tests try what could move or overwrite
 * them: strings larger than a buffer, a page kept while other commands use
 * the connection, several replies arriving in one read, two arenas on one
 * connection. Every byte of every value is compared.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbtest.h"

#include "redis.h"
#include "reply.h"
#include "stream_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    struct lbt_redis r;
    redisContext *c;
    struct lb_redis *lr;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_redis_start(&f->r, 0) != 0)
        return -1;
    f->c = lbt_connect(&f->r);
    struct lb_redis_cfg cfg;
    struct lb_error e = {0};
    if (f->c == NULL || lb_redis_url_parse(f->r.url, &cfg, &e) != 0 ||
        (f->lr = lb_redis_create(&cfg)) == NULL || lb_redis_connect(f->lr, &e) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lb_redis_destroy(f->lr);
    if (f->c)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    free(f);
    return 0;
}

/* Byte k of value i: every byte value occurs, CR, LF and NUL included. */
static unsigned char val_byte(long i, size_t k)
{
    return (unsigned char)(i * 131 + (long)k * 7 + (long)(k >> 8));
}

static char *val_make(long i, size_t n)
{
    char *v = malloc(n ? n : 1);
    assert_non_null(v);
    for (size_t k = 0; k < n; k++)
        v[k] = (char)val_byte(i, k);
    return v;
}

/* XADD key i-1 v <value i of n bytes> */
static void add(struct fx *f, const char *key, long i, size_t n)
{
    char id[32];
    snprintf(id, sizeof(id), "%ld-1", i + 1);
    char *v = val_make(i, n);
    const char *argv[5] = {"XADD", key, id, "v", v};
    size_t lens[5] = {4, strlen(key), strlen(id), 1, n};
    redisReply *rep = redisCommandArgv(f->c, 5, argv, lens);
    free(v);
    assert_non_null(rep);
    if (rep->type != REDIS_REPLY_STRING)
        fail_msg("XADD %s %s: %s", key, id, rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
}

/* Entry e is value i of n bytes, NUL-terminated as hiredis's strings are. */
static void check_entry(const redisReply *e, long i, size_t n)
{
    char id[32];
    snprintf(id, sizeof(id), "%ld-1", i + 1);
    assert_int_equal(e->type, REDIS_REPLY_ARRAY);
    assert_int_equal(e->elements, 2);
    assert_string_equal(e->element[0]->str, id);
    const redisReply *fv = e->element[1];
    assert_int_equal(fv->elements, 2);
    assert_string_equal(fv->element[0]->str, "v");
    const redisReply *v = fv->element[1];
    if (v->len != n)
        fail_msg("entry %ld: %zu bytes, expected %zu", i, v->len, n);
    for (size_t k = 0; k < n; k++)
        if ((unsigned char)v->str[k] != val_byte(i, k))
            fail_msg("entry %ld: byte %zu of %zu differs", i, k, n);
    assert_int_equal(v->str[n], '\0');
}

/* Strings from empty to several MiB (larger than a read buffer, so a reply
 * continues in new ones), around small ones, over pages of XRANGE. */
static void reply_strings_larger_than_a_buffer_are_read_whole(void **state)
{
    struct fx *f = *state;
    static const size_t sizes[] = {0,       1,  70000,  5, 600000, 3, 1500000, 2,
                                   3000000, 17, 262144, 0, 524288, 9, 1048576, 4};
    const long n = 2500; /* 3 pages; the big values fall into the first */
    for (long i = 0; i < n; i++)
        add(f, "S", i, i < 16 ? sizes[i] : (size_t)(i % 300));
    struct lb_xrange x;
    struct lb_error e = {0};
    const redisReply *page;
    long seen = 0;
    int rc = lb_xrange_begin(&x, f->lr, "S", "-", "+", &e);
    while (rc == 0 && (rc = lb_xrange_next(&x, &page, &e)) == 1) {
        rc = 0;
        for (size_t j = 0; j < page->elements; j++, seen++)
            check_entry(page->element[j], seen, seen < 16 ? sizes[seen] : (size_t)(seen % 300));
    }
    lb_xrange_free(&x);
    if (rc != 0)
        fail_msg("xrange: %s", e.msg);
    assert_int_equal(seen, n);
}

/* mirror reads its checkpoint's reply (hiredis's own objects, the same
 * connection) while it still writes the page: the page must not change. */
static void reply_page_survives_other_commands_on_the_connection(void **state)
{
    struct fx *f = *state;
    const long n = 2000;
    for (long i = 0; i < n; i++)
        add(f, "S", i, 100 + (size_t)(i % 500));
    struct lb_xrange x;
    struct lb_error e = {0};
    const redisReply *page;
    assert_int_equal(lb_xrange_begin(&x, f->lr, "S", "-", "+", &e), 0);
    assert_int_equal(lb_xrange_next(&x, &page, &e), 1);
    assert_int_equal(page->elements, 1000);
    /* the second page, in flight, read into another arena */
    assert_true(x.inflight);
    struct lb_arena other = {0};
    redisReply *next = lb_reply_read(f->lr, &other, &e);
    assert_non_null(next);
    x.inflight = 0;
    x.more = 0;
    assert_int_equal(next->elements, 1000);
    /* hiredis reads big replies through the same reader buffer */
    char *big = val_make(7, 300000);
    for (int k = 0; k < 3; k++) {
        const char *set[3] = {"SET", "K", big};
        size_t setl[3] = {3, 1, 300000};
        const char *get[2] = {"GET", "K"};
        redisReply *r1 = lb_redis_cmd(f->lr, 3, set, setl, &e);
        redisReply *r2 = lb_redis_cmd(f->lr, 2, get, NULL, &e);
        assert_non_null(r1);
        assert_non_null(r2);
        assert_int_equal(r2->len, 300000);
        assert_memory_equal(r2->str, big, 300000);
        freeReplyObject(r1);
        freeReplyObject(r2);
    }
    free(big);
    for (long i = 0; i < 1000; i++)
        check_entry(page->element[i], i, 100 + (size_t)(i % 500));
    for (long i = 0; i < 1000; i++)
        check_entry(next->element[i], 1000 + i, 100 + (size_t)((1000 + i) % 500));
    lb_arena_free(&other);
    lb_xrange_free(&x);
}

/* Ten replies sent at once arrive in few reads: each read leaves the next
 * replies' bytes in the buffer. Read them into two arenas in turn; each
 * reply is intact until its own arena reads again. */
static void reply_pipelined_replies_read_into_two_arenas(void **state)
{
    struct fx *f = *state;
    const long n = 500;
    for (long i = 0; i < n; i++)
        add(f, "S", i, 50 + (size_t)(i * 37 % 400));
    struct lb_arena a[2] = {{0}, {0}};
    struct lb_error e = {0};
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 10; k++) {
            char start[32], count[16];
            snprintf(start, sizeof(start), "%d-1", k * 50 + 1);
            snprintf(count, sizeof(count), "%d", 50);
            const char *argv[6] = {"XRANGE", "S", start, "+", "COUNT", count};
            assert_int_equal(lb_reply_send(f->lr, 6, argv, NULL, &e), 0);
        }
        const redisReply *prev = NULL;
        for (int k = 0; k < 10; k++) {
            redisReply *rep = lb_reply_read(f->lr, &a[k % 2], &e);
            if (rep == NULL)
                fail_msg("read %d: %s", k, e.msg);
            assert_int_equal(rep->elements, 50);
            for (size_t j = 0; j < rep->elements; j++) {
                long i = k * 50 + (long)j;
                check_entry(rep->element[j], i, 50 + (size_t)(i * 37 % 400));
            }
            if (prev != NULL) /* the other arena's reply, read before this one */
                for (size_t j = 0; j < prev->elements; j++) {
                    long i = (k - 1) * 50 + (long)j;
                    check_entry(prev->element[j], i, 50 + (size_t)(i * 37 % 400));
                }
            prev = rep;
        }
    }
    lb_arena_free(&a[0]);
    lb_arena_free(&a[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(reply_strings_larger_than_a_buffer_are_read_whole, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reply_page_survives_other_commands_on_the_connection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reply_pipelined_replies_read_into_two_arenas, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
