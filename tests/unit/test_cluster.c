/*
 * test_cluster.c - Redis Cluster's rules in bridge/cluster.c: the slot of a
 * key (values from a real redis-server 7.0's CLUSTER KEYSLOT), which stream
 * names and templates keep every derived key in one slot, and the node a
 * MOVED or ASK names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "checkpoint.h"
#include "cluster.h"

static void cluster_keyslot_matches_redis(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        unsigned slot;
    } v[] = {
        {"123456789", 12739},     {"foo", 12182},       {"foo{}{bar}", 8363},
        {"foo{{bar}}zap", 4015},  {"foo{bar}{zap}", 5061}, {"a{}b{c}", 7353},
        {"logbridge:ckpt:{a{}b{c}}", 14311}, {"{app}:events", 6805},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (lb_cluster_keyslot(v[i].key, strlen(v[i].key)) != v[i].slot)
            fail_msg("slot of '%s': %u, redis says %u", v[i].key,
                     lb_cluster_keyslot(v[i].key, strlen(v[i].key)), v[i].slot);
}

static void cluster_stream_slot_accepts_one_slot_names(void **state)
{
    (void)state;
    const char *ok[] = {"{app}:events", "app", "events", "{events}:%{type}",
                        "x{events}y:%{role}:%{type}", "plain.stream-name"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        unsigned slot = 99999;
        char why[400] = "";
        if (lb_cluster_stream_slot(ok[i], &slot, why, sizeof(why)) != 0)
            fail_msg("'%s' refused: %s", ok[i], why);
        char key[LB_KEY_MAX];
        lb_key_derive(ok[i], "ckpt", key, sizeof(key));
        assert_int_equal(slot, lb_cluster_keyslot(key, strlen(key)));
    }
    unsigned s;
    char why[400];
    assert_int_equal(lb_cluster_stream_slot("{app}:events", &s, why, sizeof(why)), 0);
    assert_int_equal(s, 6805);
}

static void cluster_stream_slot_refuses_spread_names(void **state)
{
    (void)state;
    const char *bad[] = {
        "events:%{type}",     /* no tag: every type its own slot */
        "ev:%{type}:{x}",     /* a value with braces could make another tag */
        "{}:%{type}",         /* an empty tag is no tag */
        "a{}b{c}",            /* the stream hashes whole, its keys by "a{" */
        "a}b",                /* "logbridge:ckpt:{a}b}" has the tag "a" */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned s;
        char why[400] = "";
        if (lb_cluster_stream_slot(bad[i], &s, why, sizeof(why)) == 0)
            fail_msg("'%s' accepted (slot %u)", bad[i], s);
        assert_non_null(strstr(why, bad[i]));
    }
}

static void cluster_redirect_names_the_node(void **state)
{
    (void)state;
    struct lb_redis_host h;
    assert_int_equal(lb_cluster_redirect("MOVED 3999 127.0.0.1:6381", "10.0.0.1", &h), 1);
    assert_string_equal(h.host, "127.0.0.1");
    assert_int_equal(h.port, 6381);
    assert_int_equal(lb_cluster_redirect("ASK 3999 redis-2.internal:7000", "x", &h), 2);
    assert_string_equal(h.host, "redis-2.internal");
    assert_int_equal(h.port, 7000);
    /* an empty endpoint: the node that answered */
    assert_int_equal(lb_cluster_redirect("MOVED 1 :7002", "10.0.0.1", &h), 1);
    assert_string_equal(h.host, "10.0.0.1");
    assert_int_equal(h.port, 7002);
    /* IPv6: the last colon is the port's */
    assert_int_equal(lb_cluster_redirect("MOVED 5 ::1:7003", "x", &h), 1);
    assert_string_equal(h.host, "::1");
    assert_int_equal(h.port, 7003);
    assert_int_equal(lb_cluster_redirect("MOVEDX 1 h:1", "x", &h), 0);
    assert_int_equal(lb_cluster_redirect("MOVED 1", "x", &h), 0);
    assert_int_equal(lb_cluster_redirect("MOVED 1 h:0", "x", &h), 0);
    assert_int_equal(lb_cluster_redirect("TRYAGAIN Multiple keys", "x", &h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_keyslot_matches_redis),
        cmocka_unit_test(cluster_stream_slot_accepts_one_slot_names),
        cmocka_unit_test(cluster_stream_slot_refuses_spread_names),
        cmocka_unit_test(cluster_redirect_names_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
