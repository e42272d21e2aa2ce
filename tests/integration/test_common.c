/*
 * test_common.c - what every command does with its common options before any
 * work: the Redis URL is checked wherever it came from (--redis,
 * LOGBRIDGE_REDIS, a run config), and a URL that cannot be used is a usage
 * error (exit 2) naming where it came from, with nothing written (issue 9
 * item 10; DESIGN.md section 7).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lbtest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    struct lbt_redis r;
    redisContext *c;
    char dir[256];
    char log[320], out[320], cfg[320];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || lbt_mkdtemp(f->dir, sizeof(f->dir)) != 0 || lbt_redis_start(&f->r, 0) != 0)
        return -1;
    f->c = lbt_connect(&f->r);
    if (f->c == NULL)
        return -1;
    snprintf(f->log, sizeof(f->log), "%s/app.log", f->dir);
    snprintf(f->out, sizeof(f->out), "%s/out.log", f->dir);
    snprintf(f->cfg, sizeof(f->cfg), "%s/app.json", f->dir);
    const char *lines = "a|2025-06-18T10:00:00Z|t|1\na|2025-06-18T10:00:01Z|t|2\n";
    if (lbt_write_file(f->log, lines, strlen(lines)) != 0)
        return -1;
    unsetenv("LOGBRIDGE_REDIS");
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unsetenv("LOGBRIDGE_REDIS");
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    if (f->c != NULL)
        redisFree(f->c);
    lbt_redis_stop(&f->r, 1);
    lbt_rmdir(f->dir);
    free(f);
    return 0;
}

static char out[65536], err[65536];

/* Every command, with the URL coming from the environment (no --redis).
 * Each must exit 2 with want on stderr, before touching Redis or files. */
static void every_command_refuses(struct fx *f, const char *want)
{
    const char *cfgtext = "{\"mirror\": [{\"stream\": \"S\", \"file\": \"/tmp/never.log\"}]}\n";
    assert_int_equal(lbt_write_file(f->cfg, cfgtext, strlen(cfgtext)), 0);
    const char *const cmds[][8] = {
        {"import", "--stream", "S", f->log, NULL},
        {"tail", "--stream", "S", "--once", f->log, NULL},
        {"mirror", "--stream", "S", "--file", f->out, "--once", NULL},
        {"export", "--stream", "S", NULL},
        {"parity", "--stream", "S", f->log, NULL},
        {"status", "--stream", "S", NULL},
        {"run", "--config", f->cfg, NULL},
        {"check-config", "--config", f->cfg, NULL},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int rc = lbt_run(cmds[i], out, sizeof(out), err, sizeof(err), NULL, 0);
        if (rc != 2)
            fail_msg("%s exited %d (want 2); stderr: %s", cmds[i][0], rc, err);
        if (strstr(err, want) == NULL)
            fail_msg("%s: stderr lacks '%s': %s", cmds[i][0], want, err);
    }
    assert_int_equal(lbt_xlen(f->c, "S"), 0);
    assert_null(lbt_read_file(f->out, NULL));
}

static void common_bad_redis_env_is_a_usage_error_in_every_command(void **state)
{
    struct fx *f = *state;
    setenv("LOGBRIDGE_REDIS", "redis://", 1);
    every_command_refuses(f, "LOGBRIDGE_REDIS: no host in URL");
    setenv("LOGBRIDGE_REDIS", "localhost:6379", 1);
    every_command_refuses(f, "LOGBRIDGE_REDIS: expected redis://");
}

/* A user and no password: never a silent login as default. The server takes
 * any client as default (no requirepass), so a silent login would write. */
static void common_user_without_password_is_a_usage_error(void **state)
{
    struct fx *f = *state;
    char url[400];
    snprintf(url, sizeof(url), "%s?user=someuser", f->r.url);
    setenv("LOGBRIDGE_REDIS", url, 1);
    every_command_refuses(f, "user 'someuser' but no password");

    /* and on the command line */
    unsetenv("LOGBRIDGE_REDIS");
    const char *args[] = {"import", "--redis", url, "--stream", "S", f->log, NULL};
    assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_non_null(strstr(err, "--redis: the URL names user 'someuser' but no password"));
    const char *tcp[] = {"import", "--redis", "redis://someuser@127.0.0.1:1", "--stream", "S",
                         f->log,   NULL};
    assert_int_equal(lbt_run(tcp, out, sizeof(out), err, sizeof(err), NULL, 0), 2);
    assert_int_equal(lbt_xlen(f->c, "S"), 0);

    /* with the password in the environment, the user's login is attempted
     * (and refused: no such user), exit 3, nothing written */
    setenv("LOGBRIDGE_REDIS_PASSWORD", "pw", 1);
    const char *withpw[] = {"import",      "--redis", url,    "--stream", "S",
                            "--retry-for", "0",       f->log, NULL};
    int rc = lbt_run(withpw, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != 3)
        fail_msg("import exited %d (want 3): %s", rc, err);
    assert_non_null(strstr(err, "someuser"));
    assert_int_equal(lbt_xlen(f->c, "S"), 0);
}

static int log_says_retrying(void *ctx)
{
    char *text = lbt_read_file(ctx, NULL);
    int yes = text != NULL && strstr(text, "retrying") != NULL;
    free(text);
    return yes;
}

/* The warning about a password in ps is for the command line only. */
static void common_password_warning_only_for_the_command_line(void **state)
{
    struct fx *f = *state;
    char url[400];
    redisReply *rep = redisCommand(f->c, "CONFIG SET requirepass s3cret");
    assert_non_null(rep);
    freeReplyObject(rep);
    rep = redisCommand(f->c, "AUTH s3cret");
    freeReplyObject(rep);
    /* unix URLs carry no password: a TCP-less server cannot test redis://:pw@,
     * so the config and env forms use a URL the parser reads the same way */
    snprintf(url, sizeof(url), "%s", f->r.url);
    setenv("LOGBRIDGE_REDIS_PASSWORD", "s3cret", 1);
    const char *args[] = {"import", "--redis", url, "--stream", "S", f->log, NULL};
    assert_int_equal(lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0), 0);
    assert_null(strstr(err, "password is on the command line"));
    assert_int_equal(lbt_xlen(f->c, "S"), 2);

    /* a config file with a password in its URL: no ps warning. run starts,
     * finds nothing listening on port 1 and retries until stopped. */
    char runlog[400];
    snprintf(runlog, sizeof(runlog), "%s/run.out", f->dir);
    const char *cfgtext = "{\"redis\": \"redis://:pw@127.0.0.1:1\","
                          " \"mirror\": [{\"stream\": \"S\", \"file\": \"/tmp/x.log\"}]}\n";
    assert_int_equal(lbt_write_file(f->cfg, cfgtext, strlen(cfgtext)), 0);
    const char *runargs[] = {"run", "--config", f->cfg, NULL};
    pid_t pid = lbt_spawn(runargs, runlog);
    assert_true(pid > 0);
    assert_true(lbt_wait_for(log_says_retrying, runlog, 10000));
    kill(pid, SIGTERM);
    assert_int_equal(lbt_wait(pid), 0);
    char *text = lbt_read_file(runlog, NULL);
    assert_non_null(text);
    if (strstr(text, "command line") != NULL)
        fail_msg("run warned about the command line for a config file's URL:\n%s", text);
    free(text);
    /* on the command line it is warned about (the command then fails to
     * connect: nothing listens on port 1) */
    const char *cl[] = {"status", "--redis", "redis://:pw@127.0.0.1:1", "--stream", "S", NULL};
    lbt_run(cl, out, sizeof(out), err, sizeof(err), NULL, 0);
    assert_non_null(strstr(err, "password is on the command line"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(common_bad_redis_env_is_a_usage_error_in_every_command,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(common_user_without_password_is_a_usage_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(common_password_warning_only_for_the_command_line, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
