/*
 * test_redis_url.c - lb_redis_url_parse (bridge/redis.c): every form of
 * DESIGN.md section 5 (redis://[user[:password]@]host[:port][/db] and
 * unix:///path[?db=N]), percent-decoding, IPv6 literals, the password from
 * LOGBRIDGE_REDIS_PASSWORD, the address used in messages, and the forms that
 * must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "redis.h"

static int env_setup(void **state)
{
    (void)state;
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    return 0;
}

static struct lb_redis_cfg parse_ok(const char *url)
{
    struct lb_redis_cfg cfg;
    struct lb_error err = {0};
    if (lb_redis_url_parse(url, &cfg, &err) != 0)
        fail_msg("'%s' refused: %s", url, err.msg);
    return cfg;
}

static void redis_url_tcp_forms(void **state)
{
    (void)state;
    struct lb_redis_cfg c = parse_ok("redis://127.0.0.1:6379/0");
    assert_int_equal(c.is_unix, 0);
    assert_string_equal(c.hosts[0].host, "127.0.0.1");
    assert_int_equal(c.hosts[0].port, 6379);
    assert_int_equal(c.db, 0);
    assert_string_equal(c.user, "");
    assert_string_equal(c.pass, "");
    assert_int_equal(c.pass_in_url, 0);
    assert_string_equal(c.addr, "127.0.0.1:6379");

    c = parse_ok("redis://cache.internal");
    assert_string_equal(c.hosts[0].host, "cache.internal");
    assert_int_equal(c.hosts[0].port, 6379);
    assert_int_equal(c.db, 0);
    assert_string_equal(c.addr, "cache.internal:6379");

    c = parse_ok("redis://cache:6380");
    assert_int_equal(c.hosts[0].port, 6380);
    assert_int_equal(c.db, 0);

    c = parse_ok("redis://cache/5");
    assert_int_equal(c.hosts[0].port, 6379);
    assert_int_equal(c.db, 5);

    c = parse_ok("redis://cache:1/15");
    assert_int_equal(c.hosts[0].port, 1);
    assert_int_equal(c.db, 15);

    c = parse_ok("redis://cache:65535/");
    assert_int_equal(c.hosts[0].port, 65535);
    assert_int_equal(c.db, 0);
}

static void redis_url_user_and_password(void **state)
{
    (void)state;
    struct lb_redis_cfg c = parse_ok("redis://bob:s3cret@db.example:7000/2");
    assert_string_equal(c.user, "bob");
    assert_string_equal(c.pass, "s3cret");
    assert_int_equal(c.pass_in_url, 1);
    assert_string_equal(c.hosts[0].host, "db.example");
    assert_int_equal(c.hosts[0].port, 7000);
    assert_int_equal(c.db, 2);
    /* the address in messages never carries the password */
    assert_string_equal(c.addr, "db.example:7000");
    assert_null(strstr(c.addr, "s3cret"));

    /* password only (the default user) */
    c = parse_ok("redis://:onlypass@h");
    assert_string_equal(c.user, "");
    assert_string_equal(c.pass, "onlypass");
    assert_int_equal(c.pass_in_url, 1);

    /* user only: the password comes from LOGBRIDGE_REDIS_PASSWORD */
    setenv("LOGBRIDGE_REDIS_PASSWORD", "pw", 1);
    c = parse_ok("redis://alice@h:6390");
    assert_string_equal(c.user, "alice");
    assert_string_equal(c.pass, "pw");
    assert_int_equal(c.pass_in_url, 0);
    assert_int_equal(c.hosts[0].port, 6390);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
}

/* DESIGN section 7: a URL that names a user for which no password is found
 * (URL or LOGBRIDGE_REDIS_PASSWORD) is a usage error, never a silent login as
 * default. */
static void redis_url_user_without_password_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"redis://someuser@host", "redis://someuser:@host:6380/1",
                         "unix:///tmp/r.sock?user=someuser",
                         "unix:///tmp/r.sock?db=2&user=someuser"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_redis_cfg c;
        struct lb_error err = {0};
        if (lb_redis_url_parse(bad[i], &c, &err) == 0)
            fail_msg("'%s' accepted without a password", bad[i]);
        assert_int_equal(err.code, LB_EUSAGE);
        assert_non_null(strstr(err.msg, "someuser"));
        assert_non_null(strstr(err.msg, "LOGBRIDGE_REDIS_PASSWORD"));
    }
    /* an empty variable is no password either */
    setenv("LOGBRIDGE_REDIS_PASSWORD", "", 1);
    struct lb_redis_cfg c;
    assert_int_equal(lb_redis_url_parse("redis://someuser@host", &c, NULL), LB_EUSAGE);
    /* a password too long for the buffer is refused, not dropped */
    char longpw[400];
    memset(longpw, 'p', sizeof(longpw) - 1);
    longpw[sizeof(longpw) - 1] = '\0';
    setenv("LOGBRIDGE_REDIS_PASSWORD", longpw, 1);
    assert_int_equal(lb_redis_url_parse("redis://host", &c, NULL), LB_EUSAGE);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
}

static void redis_url_percent_decoding(void **state)
{
    (void)state;
    struct lb_redis_cfg c = parse_ok("redis://us%65r%2Bx:p%40ss%3Aw%2Fo%25rd%20@h/1");
    assert_string_equal(c.user, "user+x");
    assert_string_equal(c.pass, "p@ss:w/o%rd ");
    assert_string_equal(c.hosts[0].host, "h");
    assert_int_equal(c.db, 1);
    /* upper and lower case hex */
    c = parse_ok("redis://u:%4a%4A@h");
    assert_string_equal(c.pass, "JJ");
    /* an unencoded '@' in the password: the last '@' ends the user info */
    c = parse_ok("redis://u:p@ss@h:7");
    assert_string_equal(c.pass, "p@ss");
    assert_string_equal(c.hosts[0].host, "h");
    assert_int_equal(c.hosts[0].port, 7);
    /* an unencoded ':' in the password: the first ':' splits user and password */
    c = parse_ok("redis://u:a:b@h");
    assert_string_equal(c.user, "u");
    assert_string_equal(c.pass, "a:b");
}

static void redis_url_ipv6(void **state)
{
    (void)state;
    struct lb_redis_cfg c = parse_ok("redis://[::1]:6380");
    assert_string_equal(c.hosts[0].host, "::1");
    assert_int_equal(c.hosts[0].port, 6380);
    assert_string_equal(c.addr, "[::1]:6380");

    c = parse_ok("redis://[::1]");
    assert_string_equal(c.hosts[0].host, "::1");
    assert_int_equal(c.hosts[0].port, 6379);
    assert_string_equal(c.addr, "[::1]:6379");

    c = parse_ok("redis://u:p@[fe80::1:2]:7001/3");
    assert_string_equal(c.hosts[0].host, "fe80::1:2");
    assert_int_equal(c.hosts[0].port, 7001);
    assert_int_equal(c.db, 3);
    assert_string_equal(c.user, "u");
    assert_string_equal(c.pass, "p");
}

static void redis_url_unix_forms(void **state)
{
    (void)state;
    struct lb_redis_cfg c = parse_ok("unix:///run/redis/redis.sock");
    assert_int_equal(c.is_unix, 1);
    assert_string_equal(c.path, "/run/redis/redis.sock");
    assert_int_equal(c.db, 0);
    assert_string_equal(c.addr, "unix:/run/redis/redis.sock");

    c = parse_ok("unix:///tmp/r.sock?db=3");
    assert_int_equal(c.is_unix, 1);
    assert_string_equal(c.path, "/tmp/r.sock");
    assert_int_equal(c.db, 3);

    /* DESIGN section 7: db and user, in any order, each optional */
    setenv("LOGBRIDGE_REDIS_PASSWORD", "pw", 1);
    c = parse_ok("unix:///tmp/r.sock?user=bob&db=4");
    assert_string_equal(c.user, "bob");
    assert_int_equal(c.db, 4);
    assert_string_equal(c.pass, "pw");
    c = parse_ok("unix:///tmp/r.sock?db=5&user=al%40ice");
    assert_string_equal(c.user, "al@ice");
    assert_int_equal(c.db, 5);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
}

static void redis_url_password_from_env(void **state)
{
    (void)state;
    setenv("LOGBRIDGE_REDIS_PASSWORD", "from-env", 1);
    struct lb_redis_cfg c = parse_ok("redis://h");
    assert_string_equal(c.pass, "from-env");
    assert_int_equal(c.pass_in_url, 0); /* no warning: it is not on the command line */
    c = parse_ok("unix:///tmp/r.sock");
    assert_string_equal(c.pass, "from-env");
    c = parse_ok("redis://bob@h");
    assert_string_equal(c.user, "bob");
    assert_string_equal(c.pass, "from-env");
    /* a password in the URL wins */
    c = parse_ok("redis://:inurl@h");
    assert_string_equal(c.pass, "inurl");
    assert_int_equal(c.pass_in_url, 1);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    c = parse_ok("redis://h");
    assert_string_equal(c.pass, "");
}

/* DESIGN.md section 7: rediss://, seed lists and Sentinel URLs. */
static void redis_url_tls_seed_and_sentinel_forms(void **state)
{
    (void)state;
    struct lb_redis_cfg c = parse_ok("rediss://cache.example:6380/2");
    assert_int_equal(c.tls.on, 1);
    assert_int_equal(c.sentinel, 0);
    assert_string_equal(c.hosts[0].host, "cache.example");
    assert_int_equal(c.hosts[0].port, 6380);
    assert_int_equal(c.db, 2);
    assert_string_equal(c.addr, "cache.example:6380");
    c = parse_ok("redis://h1:7000,h2,[::1]:7002/3");
    assert_int_equal(c.tls.on, 0);
    assert_int_equal(c.nhosts, 3);
    assert_string_equal(c.hosts[1].host, "h2");
    assert_int_equal(c.hosts[1].port, 6379);
    assert_string_equal(c.hosts[2].host, "::1");
    assert_int_equal(c.hosts[2].port, 7002);
    assert_int_equal(c.db, 3);
    setenv("LOGBRIDGE_REDIS_PASSWORD", "datapw", 1);
    setenv("LOGBRIDGE_SENTINEL_PASSWORD", "sentpw", 1);
    c = parse_ok("redis+sentinel://app@s1:26380,s2/mymaster/4");
    assert_int_equal(c.sentinel, 1);
    assert_int_equal(c.tls.on, 0);
    assert_int_equal(c.nhosts, 2);
    assert_int_equal(c.hosts[0].port, 26380);
    assert_int_equal(c.hosts[1].port, 26379); /* a Sentinel's default port */
    assert_string_equal(c.master, "mymaster");
    assert_int_equal(c.db, 4);
    assert_string_equal(c.user, "app");
    assert_string_equal(c.pass, "datapw");
    assert_string_equal(c.sentinel_pass, "sentpw");
    assert_non_null(strstr(c.addr, "mymaster"));
    c = parse_ok("rediss+sentinel://s1/m%2Fx");
    assert_int_equal(c.sentinel, 1);
    assert_int_equal(c.tls.on, 1);
    assert_string_equal(c.master, "m/x");
    assert_int_equal(c.db, 0);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    unsetenv("LOGBRIDGE_SENTINEL_PASSWORD");
}

static void redis_url_refuses_bad_forms(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "localhost:6379",
        "http://h:6379",
        "rediss://",
        "redis://h,",
        "redis://h,,i",
        "redis+sentinel://s1:26379",          /* no master name */
        "redis+sentinel://i/%00",             /* a NUL is no master name (found by fuzz_redis_url) */
        "redis://u:p%00w@h",                  /* nor part of a password */
        "redis+sentinel://s1:26379/",         /* no master name */
        "redis+sentinel://s1:26379/m/x",      /* db not a number */
        "redis+sentinels://s1/m",
        "rediss+sentinel://s1/m/1/2",
        "redis://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", /* 17 hosts */
        "redis://",
        "redis://:6379",
        "redis://h:0",
        "redis://h:65536",
        "redis://h:12ab",
        "redis://h:-1",
        "redis://h/x",
        "redis://h/1/2",
        "redis://h/-1",
        "redis://[::1",
        "redis://[::1]6379",
        "redis://[]:6379",
        "redis://u:%zz@h",
        "redis://u:%4@h",
        "redis://%@h",
        "unix://",
        "unix://relative/path.sock",
        "unix:///tmp/r.sock?db=x",
        "unix:///tmp/r.sock?db=",
        "unix:///tmp/r.sock?foo=1",
        "unix:///tmp/r.sock?db=-1",
        "unix:///tmp/r.sock?db=1&db=2",
        "unix:///tmp/r.sock?user=",
        "unix:///tmp/r.sock?db=1&",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lb_redis_cfg c;
        struct lb_error err = {0};
        int rc = lb_redis_url_parse(bad[i], &c, &err);
        if (rc == 0)
            fail_msg("'%s' was accepted (host '%s' port %d db %d)", bad[i], c.hosts[0].host, c.hosts[0].port, c.db);
        assert_int_equal(rc, LB_EUSAGE);
        assert_true(err.msg[0] != '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(redis_url_tcp_forms, env_setup),
        cmocka_unit_test_setup(redis_url_user_and_password, env_setup),
        cmocka_unit_test_setup(redis_url_user_without_password_is_refused, env_setup),
        cmocka_unit_test_setup(redis_url_percent_decoding, env_setup),
        cmocka_unit_test_setup(redis_url_ipv6, env_setup),
        cmocka_unit_test_setup(redis_url_unix_forms, env_setup),
        cmocka_unit_test_setup(redis_url_password_from_env, env_setup),
        cmocka_unit_test_setup(redis_url_tls_seed_and_sentinel_forms, env_setup),
        cmocka_unit_test_setup(redis_url_refuses_bad_forms, env_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
