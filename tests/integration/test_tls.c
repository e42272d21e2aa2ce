/*
 * test_tls.c - logbridge over TLS (DESIGN.md section 7, issue 11): rediss://
 * URLs, --tls-ca-file / --tls-ca-dir, mutual TLS, --tls-server-name,
 * --tls-insecure, the tls_* keys of a run config. Every job's data goes
 * through the TLS transport and is counted exactly: import (both batch
 * shapes), tail with a writer, mirror (once and following), export, parity,
 * status, run. A refused handshake or verification is exit 3 at once, not
 * retried, naming the address and the reason ("unknown CA", "name mismatch",
 * "expired", "client certificate required"), in every command. The combined
 * fault: tail over TLS with a writer running while the TLS redis-server is
 * killed -9 and restarted from its AOF: every line exactly once.
 *
 * Certificates are made once for the binary with the openssl CLI, and one
 * TLS redis-server serves the tests that do not kill it (fx_tls.h). What
 * logbridge wrote is read back through the server's unix socket.
 *
 * Seeds are printed; LB_TEST_SEED=N repeats a run, LB_TEST_SCALE=N makes the
 * fixtures larger, LB_TEST_FILTER=PATTERN (cmocka's * and ?) runs only the
 * tests whose names match.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include "fx_import.h"
#include "fx_mirror.h"
#include "fx_tls.h"
#include "import_util.h"
#include "lbtest.h"
#include "tail_util.h"

/* A run that must succeed: generous, but a hung transport fails the test. */
#define RUN_MS 120000
/* A refused handshake must end the run within this (no backoff, no retry
 * window: import below is given --retry-for 30, tail and mirror retry
 * forever). */
#define REFUSED_MS 5000

static void expect_ok(struct fxt *t, int rc, const char *what)
{
    if (rc != 0)
        fail_msg("%s exited %d (want 0)\nstderr: %s", what, rc, t->fx.err);
    if (strstr(t->fx.err, "tls-insecure") != NULL)
        fail_msg("%s warned about --tls-insecure without it: %s", what, t->fx.err);
}

static void gen(struct fxt *t, long lines, const char *what)
{
    t->fx.rng.s = iu_seed(what);
    struct iu_gen g = {lines, 10, 3, 5, 0, 0};
    iu_fix_gen(&t->fx.f, &g, &t->fx.rng);
    assert_int_equal(iu_fix_write(&t->fx.f, t->fx.path), 0);
}

/* `logbridge import --redis t->url --stream s --no-progress` + the options
 * (NULL-terminated) + t->fx.path, run with a deadline. */
static int import_tls(struct fxt *t, const char *stream, ...)
{
    struct iu_args a;
    iu_args_init(&a);
    iu_args_add(&a, "import", "--redis", t->url, "--stream", stream, "--no-progress", NULL);
    va_list ap;
    va_start(ap, stream);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL)
        iu_args_add(&a, s, NULL);
    va_end(ap);
    iu_args_add(&a, t->fx.path, NULL);
    return fxt_run(t, a.v, RUN_MS, NULL);
}

static void verify(struct fxt *t, const char *stream)
{
    char dlq[96];
    snprintf(dlq, sizeof(dlq), "logbridge:dlq:{%s}", stream);
    fx_import_verify_all(&t->fx, stream, dlq, t->fx.path);
}

/* ---- import, tail, mirror, export, parity, status over TLS ------------------------------ */

/* A mixed fixture (bad lines, blank lines, CRLF) through both batch shapes:
 * every line once, in order, in the stream or the DLQ. Batches of 1000 lines
 * are larger than a TLS record (16 KiB): partial writes must be finished. */
static void tls_import_writes_every_line_once(void **state)
{
    struct fxt *t = *state;
    gen(t, 20000L * iu_scale(), "tls_import_writes_every_line_once");
    int rc = import_tls(t, "tls1", "--tls-ca-file", t->g->certs.ca, "--batch", "1000", NULL);
    expect_ok(t, rc, "import over TLS");
    verify(t, "tls1");
    setenv("LOGBRIDGE_SINK_MODE", "script", 1);
    rc = import_tls(t, "tls2", "--tls-ca-file", t->g->certs.ca, "--batch", "1000", NULL);
    unsetenv("LOGBRIDGE_SINK_MODE");
    expect_ok(t, rc, "import over TLS, script path");
    verify(t, "tls2");
    /* a rerun reads the checkpoint over TLS and writes nothing */
    rc = import_tls(t, "tls1", "--tls-ca-file", t->g->certs.ca, NULL);
    expect_ok(t, rc, "import rerun over TLS");
    verify(t, "tls1");
}

/* --tls-ca-dir (a hashed directory) and a database in the URL. */
static void tls_ca_dir_and_db_in_the_url(void **state)
{
    struct fxt *t = *state;
    gen(t, 2000, "tls_ca_dir_and_db_in_the_url");
    char url[96];
    snprintf(url, sizeof(url), "%s/3", t->url);
    const char *args[] = {
        "import",           "--redis",       url,        "--stream", "dbs", "--tls-ca-dir",
        t->g->certs.ca_dir, "--no-progress", t->fx.path, NULL};
    expect_ok(t, fxt_run(t, args, RUN_MS, NULL), "import --tls-ca-dir into db 3");
    assert_int_equal(iu_dbsize(t->fx.c), 0); /* nothing in db 0 */
    assert_int_equal(iu_cmd(t->fx.c, "SELECT", "3", NULL), 0);
    verify(t, "dbs");
}

/* What a spawned tail must reach: XLEN of stream >= xlen, or (when ckpt is
 * not NULL) its checkpoint of t->fx.path at off. */
struct reach {
    struct fxt *t;
    pid_t pid;
    const char *stream, *ckpt;
    long long xlen, off;
    int exited, code;
};

static int reached(void *ctx)
{
    struct reach *r = ctx;
    if (iu_try_wait(r->pid, &r->code)) {
        r->exited = 1;
        return 1;
    }
    if (r->ckpt != NULL)
        return tu_ckpt_off(r->t->fx.c, r->ckpt, r->t->fx.path, NULL) >= r->off;
    return lbt_xlen(r->t->fx.c, r->stream) >= r->xlen;
}

/* Wait for r (60 s); fail at once when the process ended first. */
static void wait_reach(struct reach *r, const char *what)
{
    int ok = lbt_wait_for(reached, r, 60000);
    if (ok && !r->exited)
        return;
    fx_import_dump_log(&r->t->fx);
    if (r->exited)
        fail_msg("%s: logbridge exited %d first", what, r->code);
    fail_msg("%s: not within 60 s (XLEN %s = %lld)", what, r->stream,
             lbt_xlen(r->t->fx.c, r->stream));
}

/* The writer is done: wait until the checkpoint of the tail on stream covers
 * the whole file, stop tail (exit 0), and check every line once, in order:
 * valid lines 0..n-1 in the stream, bad lines 0..bad-1 in the DLQ. */
static void finish_tail(struct fxt *t, pid_t tail, const char *stream, long n, long bad)
{
    char ck[96];
    snprintf(ck, sizeof(ck), "logbridge:ckpt:{%s}", stream);
    struct reach r = {t, tail, stream, ck, 0, lbt_file_size(t->fx.path), 0, 0};
    wait_reach(&r, "the checkpoint at the end of the file");
    kill(tail, SIGTERM);
    int rc = fx_import_wait_exit(tail, 30000);
    if (rc != 0) {
        fx_import_dump_log(&t->fx);
        fail_msg("tail exited %d after SIGTERM (want 0)", rc);
    }
    char why[512];
    if (tu_check_seq(t->fx.c, stream, t->fx.path, n, 1, why, sizeof(why)) != 0) {
        fx_import_dump_log(&t->fx);
        fail_msg("%s", why);
    }
    assert_int_equal(lbt_xlen(t->fx.c, stream), n);
    char dlq[96];
    snprintf(dlq, sizeof(dlq), "logbridge:dlq:{%s}", stream);
    if (tu_check_bad(t->fx.c, dlq, bad, why, sizeof(why)) != 0) {
        fx_import_dump_log(&t->fx);
        fail_msg("%s", why);
    }
}

static void tls_tail_with_a_writer_counts_every_line_once(void **state)
{
    struct fxt *t = *state;
    long n = 20000L * iu_scale();
    struct tu_writer w = {t->fx.path, n, n / 97, 8, iu_seed("tls_tail_with_a_writer")};
    assert_int_equal(lbt_write_file(t->fx.path, "", 0), 0);
    const char *args[] = {"tail",         "--redis",  t->url, "--tls-ca-file",
                          t->g->certs.ca, "--stream", "tt",   "--batch",
                          "200",          t->fx.path, NULL};
    pid_t tail = fx_import_spawn(&t->fx, args, t->fx.log);
    assert_true(tail > 0);
    pid_t wp = tu_fork(tu_writer_main, &w);
    assert_true(wp > 0);
    t->fx.kids[t->fx.nkids++ % FX_IMPORT_KIDS] = wp; /* killed by the teardown on a failure */
    assert_int_equal(lbt_wait(wp), 0);
    finish_tail(t, tail, "tt", w.valid, w.bad);
    assert_false(tu_file_has(t->fx.log, "tls-insecure"));
}

/* An import of lbtest's standard lines over TLS, then mirror (once, and
 * following while more lines arrive: a blocking XREAD over TLS), export,
 * parity and status over TLS: each sees exactly those lines. */
static void tls_mirror_export_parity_status(void **state)
{
    struct fxt *t = *state;
    const char *ca = t->g->certs.ca;
    long n1 = 3000, n2 = 1000;
    size_t len1, len;
    char *part1 = mu_std_lines(0, n1, &len1);
    char *all = mu_std_lines(0, n1 + n2, &len);
    assert_int_equal(lbt_write_file(t->fx.path, part1, len1), 0);
    expect_ok(t, import_tls(t, "m", "--tls-ca-file", ca, NULL), "import over TLS");
    assert_int_equal(lbt_xlen(t->fx.c, "m"), n1);

    char once[600], follow[600];
    snprintf(once, sizeof(once), "%s/mirror-once.log", t->fx.dir);
    snprintf(follow, sizeof(follow), "%s/mirror-follow.log", t->fx.dir);
    const char *mo[] = {"mirror", "--redis", t->url, "--tls-ca-file", ca,  "--stream",
                        "m",      "--file",  once,   "--once",        NULL};
    expect_ok(t, fxt_run(t, mo, RUN_MS, NULL), "mirror --once over TLS");
    mu_assert_file_equals(once, part1, len1);

    /* following: the first part, then lines imported while it waits */
    const char *mf[] = {"mirror",   "--redis", t->url,   "--tls-ca-file", ca,
                        "--stream", "m",       "--file", follow,          NULL};
    pid_t mp = fx_import_spawn(&t->fx, mf, t->fx.log);
    assert_true(mp > 0);
    mu_wait_size(follow, len1);
    assert_int_equal(lbt_write_file(t->fx.path, all, len), 0);
    expect_ok(t, import_tls(t, "m", "--tls-ca-file", ca, NULL), "the second import over TLS");
    mu_wait_size(follow, len);
    kill(mp, SIGTERM);
    int rc = fx_import_wait_exit(mp, 30000);
    if (rc != 0) {
        fx_import_dump_log(&t->fx);
        fail_msg("mirror exited %d after SIGTERM (want 0)", rc);
    }
    mu_assert_file_equals(follow, all, len);

    /* export to stdout: every line, nothing else */
    const char *ex[] = {"export", "--redis", t->url, "--tls-ca-file", ca, "--stream", "m", NULL};
    expect_ok(t, fxt_run(t, ex, RUN_MS, NULL), "export over TLS");
    mu_assert_file_equals(t->run_out, all, len);

    /* parity: equal, every line matched */
    const char *pa[] = {"parity", "--redis",  t->url, "--tls-ca-file", ca,  "--stream",
                        "m",      "--report", "json", t->fx.path,      NULL};
    expect_ok(t, fxt_run(t, pa, RUN_MS, NULL), "parity over TLS");
    cJSON *j = cJSON_Parse(t->fx.out);
    if (j == NULL)
        fail_msg("parity printed no JSON: %s", t->fx.out);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "equal")));
    assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "matched")), n1 + n2);
    assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "stream_entries")), n1 + n2);
    cJSON_Delete(j);

    /* status: the stream's length, the source at the end of its file */
    const char *st[] = {"status", "--redis", t->url, "--tls-ca-file", ca, "--stream",
                        "m",      "--json",  NULL};
    expect_ok(t, fxt_run(t, st, RUN_MS, NULL), "status over TLS");
    j = cJSON_Parse(t->fx.out);
    if (j == NULL)
        fail_msg("status --json printed no JSON: %s", t->fx.out);
    assert_int_equal((long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "length")), n1 + n2);
    cJSON *src = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sources"), 0);
    assert_non_null(src);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(src, "src")), t->fx.path);
    assert_int_equal((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(src, "offset")),
                     (long long)len);
    assert_int_equal((long long)cJSON_GetNumberValue(cJSON_GetObjectItem(src, "lag_bytes")), 0);
    cJSON_Delete(j);
    free(part1);
    free(all);
}

/* --tls-auth-clients yes: with the client certificate every job works. */
static void tls_mutual_tls_with_a_client_certificate(void **state)
{
    struct fxt *t = *state;
    const struct fxt_certs *c = &t->g->certs;
    fxt_use(t, FXT_GOOD, "yes");
    gen(t, 3000, "tls_mutual_tls_with_a_client_certificate");
    int rc = import_tls(t, "mt", "--tls-ca-file", c->ca, "--tls-cert-file", c->client,
                        "--tls-key-file", c->client_key, NULL);
    expect_ok(t, rc, "import with a client certificate");
    verify(t, "mt");
    const char *ta[] = {"tail",        "--redis",
                        t->url,        "--tls-ca-file",
                        c->ca,         "--tls-cert-file",
                        c->client,     "--tls-key-file",
                        c->client_key, "--stream",
                        "mt2",         "--once",
                        t->fx.path,    NULL};
    expect_ok(t, fxt_run(t, ta, RUN_MS, NULL), "tail --once with a client certificate");
    verify(t, "mt2");
    const char *st[] = {"status",      "--redis",         t->url,    "--tls-ca-file",
                        c->ca,         "--tls-cert-file", c->client, "--tls-key-file",
                        c->client_key, "--stream",        "mt",      NULL};
    expect_ok(t, fxt_run(t, st, RUN_MS, NULL), "status with a client certificate");
}

/* --tls-server-name is the name verified (and sent as SNI): a certificate
 * for DNS:localhost alone is accepted for rediss://127.0.0.1 with
 * --tls-server-name localhost, and refused without it; and the option
 * replaces the URL's host (a name the good certificate lacks is refused). */
static void tls_server_name_is_the_name_verified(void **state)
{
    struct fxt *t = *state;
    const char *ca = t->g->certs.ca;
    gen(t, 1000, "tls_server_name_is_the_name_verified");
    fxt_use(t, FXT_LOCALHOST, "optional");
    int rc = import_tls(t, "sn", "--tls-ca-file", ca, "--tls-server-name", "localhost", NULL);
    expect_ok(t, rc, "import --tls-server-name localhost");
    verify(t, "sn");
    rc = import_tls(t, "sn2", "--tls-ca-file", ca, "--retry-for", "30", NULL);
    if (rc != 3 || strstr(t->fx.err, "name mismatch") == NULL)
        fail_msg("127.0.0.1 against a certificate for localhost only: exit %d (want 3, "
                 "\"name mismatch\"): %s",
                 rc, t->fx.err);
    fxt_use(t, FXT_GOOD, "optional");
    rc = import_tls(t, "sn3", "--tls-ca-file", ca, "--tls-server-name", "other.example",
                    "--retry-for", "30", NULL);
    if (rc != 3 || strstr(t->fx.err, "name mismatch") == NULL)
        fail_msg("--tls-server-name other.example: exit %d (want 3, \"name mismatch\"): %s", rc,
                 t->fx.err);
    assert_int_equal(lbt_xlen(t->fx.c, "sn2"), 0);
    assert_int_equal(lbt_xlen(t->fx.c, "sn3"), 0);
}

/* ---- refused handshakes: exit 3 at once, naming the address and the reason --------------- */

/* Every command with the TLS options opts (NULL-terminated, may be empty)
 * against the server as the test set it: exit 3 within REFUSED_MS, an error
 * naming t->addr and phrase on one line, no "retrying", nothing written. */
static void expect_refused(struct fxt *t, const char *phrase, const char *const *opts)
{
    char mfile[600];
    snprintf(mfile, sizeof(mfile), "%s/mirror.log", t->fx.dir);
    if (lbt_file_size(t->fx.path) < 0)
        assert_int_equal(lbt_write_file(t->fx.path, "a|2025-06-18T10:00:00Z|t|1\n", 27), 0);
    const char *const cmds[][10] = {
        {"import", "--stream", "S", "--retry-for", "30", "--no-progress", t->fx.path, NULL},
        {"tail", "--stream", "S", t->fx.path, NULL}, /* follows: would retry forever */
        {"mirror", "--stream", "S", "--file", mfile, NULL},
        {"export", "--stream", "S", NULL},
        {"parity", "--stream", "S", t->fx.path, NULL},
        {"status", "--stream", "S", "--json", NULL},
    };
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
        struct iu_args a;
        iu_args_init(&a);
        iu_args_add(&a, cmds[k][0], "--redis", t->url, NULL);
        for (size_t i = 0; opts[i] != NULL; i++)
            iu_args_add(&a, opts[i], NULL);
        for (size_t i = 1; cmds[k][i] != NULL; i++)
            iu_args_add(&a, cmds[k][i], NULL);
        int64_t ms;
        int rc = fxt_run(t, a.v, 30000, &ms);
        if (rc != 3)
            fail_msg("%s (%s): exit %d after %lld ms, want 3 at once\nstderr: %s", cmds[k][0],
                     phrase, rc, (long long)ms, t->fx.err);
        if (ms >= REFUSED_MS)
            fail_msg("%s (%s): exit 3 only after %lld ms: retried?\nstderr: %s", cmds[k][0], phrase,
                     (long long)ms, t->fx.err);
        if (strstr(t->fx.err, "retrying") != NULL)
            fail_msg("%s (%s): a refused handshake was retried: %s", cmds[k][0], phrase, t->fx.err);
        /* one line says both where and why */
        int named = 0;
        for (const char *l = t->fx.err; l != NULL && *l != '\0';) {
            const char *nl = strchr(l, '\n');
            size_t ll = nl ? (size_t)(nl - l) : strlen(l);
            char line[2048];
            snprintf(line, sizeof(line), "%.*s", (int)(ll < sizeof(line) ? ll : sizeof(line) - 1),
                     l);
            if (strstr(line, phrase) != NULL && strstr(line, t->addr) != NULL)
                named = 1;
            l = nl ? nl + 1 : NULL;
        }
        if (!named)
            fail_msg("%s: no line names both \"%s\" and %s: %s", cmds[k][0], phrase, t->addr,
                     t->fx.err);
    }
    assert_int_equal(iu_dbsize(t->fx.c), 0);
}

static void tls_unknown_ca_exits_3_at_once(void **state)
{
    struct fxt *t = *state;
    const struct fxt_certs *c = &t->g->certs;
    /* the server's certificate is signed by a CA the client does not trust */
    fxt_use(t, FXT_WRONG_CA, "optional");
    const char *ca_file[] = {"--tls-ca-file", c->ca, NULL};
    expect_refused(t, "unknown CA", ca_file);
    const char *ca_dir[] = {"--tls-ca-dir", c->ca_dir, NULL};
    expect_refused(t, "unknown CA", ca_dir);
    /* the client trusts only another CA than the server's */
    fxt_use(t, FXT_GOOD, "optional");
    const char *other_file[] = {"--tls-ca-file", c->wrong_ca, NULL};
    expect_refused(t, "unknown CA", other_file);
    const char *other_dir[] = {"--tls-ca-dir", c->wrong_ca_dir, NULL};
    expect_refused(t, "unknown CA", other_dir);
    /* no CA given: the system store, which does not hold the test CA */
    const char *none[] = {NULL};
    expect_refused(t, "unknown CA", none);
}

static void tls_name_mismatch_exits_3_at_once(void **state)
{
    struct fxt *t = *state;
    fxt_use(t, FXT_WRONG_NAME, "optional");
    const char *opts[] = {"--tls-ca-file", t->g->certs.ca, NULL};
    expect_refused(t, "name mismatch", opts);
}

static void tls_expired_certificate_exits_3_at_once(void **state)
{
    struct fxt *t = *state;
    fxt_use(t, FXT_EXPIRED, "optional");
    const char *opts[] = {"--tls-ca-file", t->g->certs.ca, NULL};
    expect_refused(t, "expired", opts);
}

/* With TLS 1.3 the client learns of this only after its handshake is done
 * (the server's alert arrives with the first reply): still exit 3 at once. */
static void tls_missing_client_certificate_exits_3_at_once(void **state)
{
    struct fxt *t = *state;
    fxt_use(t, FXT_GOOD, "yes");
    const char *opts[] = {"--tls-ca-file", t->g->certs.ca, NULL};
    expect_refused(t, "client certificate required", opts);
}

/* --tls-insecure: no verification, so each of the refused certificates is
 * accepted, and every start says so. */
static void tls_insecure_connects_and_warns(void **state)
{
    struct fxt *t = *state;
    gen(t, 500, "tls_insecure_connects_and_warns");
    const enum fxt_cert certs[] = {FXT_WRONG_CA, FXT_WRONG_NAME, FXT_EXPIRED};
    for (int k = 0; k < 3; k++) {
        fxt_use(t, certs[k], "optional");
        char stream[16];
        snprintf(stream, sizeof(stream), "in%d", k);
        int rc = import_tls(t, stream, "--tls-insecure", NULL);
        if (rc != 0)
            fail_msg("import --tls-insecure against certificate %d: exit %d: %s", k, rc, t->fx.err);
        if (strstr(t->fx.err, "--tls-insecure") == NULL)
            fail_msg("import --tls-insecure did not warn: %s", t->fx.err);
        verify(t, stream);
    }
    /* the warning is not import's alone */
    const char *st[] = {"status", "--redis", t->url, "--tls-insecure", "--stream", "in0", NULL};
    assert_int_equal(fxt_run(t, st, RUN_MS, NULL), 0);
    if (strstr(t->fx.err, "--tls-insecure") == NULL)
        fail_msg("status --tls-insecure did not warn: %s", t->fx.err);
}

/* An ACL user over TLS (rediss://user@host:port, the password from
 * LOGBRIDGE_REDIS_PASSWORD): it works; a wrong password is exit 3 at once,
 * naming the address and the user, never the password. */
static void tls_acl_user_over_tls(void **state)
{
    struct fxt *t = *state;
    gen(t, 2000, "tls_acl_user_over_tls");
    assert_int_equal(iu_cmd(t->fx.c, "ACL", "SETUSER", "lbtls", "on", ">tlspass", "~*", "-@all",
                            "+@stream", "+@hash", "+@scripting", "+@transaction", "+@connection",
                            "+select", "+type", NULL),
                     0);
    char url[96];
    snprintf(url, sizeof(url), "rediss://lbtls@%s", t->addr);
    const char *args[] = {"import",       "--redis",       url,        "--tls-ca-file",
                          t->g->certs.ca, "--stream",      "acl",      "--retry-for",
                          "30",           "--no-progress", t->fx.path, NULL};
    setenv("LOGBRIDGE_REDIS_PASSWORD", "tlspass", 1);
    int rc = fxt_run(t, args, RUN_MS, NULL);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    expect_ok(t, rc, "import as an ACL user over TLS");
    verify(t, "acl");
    setenv("LOGBRIDGE_REDIS_PASSWORD", "notthepass", 1);
    int64_t ms;
    rc = fxt_run(t, args, 30000, &ms);
    unsetenv("LOGBRIDGE_REDIS_PASSWORD");
    if (rc != 3 || ms >= REFUSED_MS || strstr(t->fx.err, t->addr) == NULL ||
        strstr(t->fx.err, "lbtls") == NULL)
        fail_msg("a wrong password over TLS: exit %d after %lld ms (want 3 at once, naming %s "
                 "and user lbtls): %s",
                 rc, (long long)ms, t->addr, t->fx.err);
    assert_null(strstr(t->fx.err, "notthepass"));
    /* FLUSHALL keeps users: the next test on this server must not see it */
    assert_int_equal(iu_cmd(t->fx.c, "ACL", "DELUSER", "lbtls", NULL), 0);
}

/* ---- run config ------------------------------------------------------------------------- */

static void write_config(struct fxt *t, const char *path, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    assert_int_equal(lbt_write_file(path, text, strlen(text)), 0);
    (void)t;
}

static int stop_run(struct fxt *t, pid_t pid)
{
    kill(pid, SIGTERM);
    int rc = fx_import_wait_exit(pid, 30000);
    if (rc != 0) {
        fx_import_dump_log(&t->fx);
        fail_msg("run exited %d after SIGTERM (want 0)", rc);
    }
    return rc;
}

/* The tls_* keys of a run config: every one of them needed at once (a
 * certificate for DNS:localhost only, client certificates required): a tail
 * and a mirror job carry every line over TLS. A CA that does not sign the
 * server's certificate ends run with exit 3 at once; tls_insecure warns. */
static void tls_run_config_with_tls_keys(void **state)
{
    struct fxt *t = *state;
    const struct fxt_certs *c = &t->g->certs;
    long n = 2000;
    size_t len;
    char *lines = mu_std_lines(0, n, &len);
    assert_int_equal(lbt_write_file(t->fx.path, lines, len), 0);
    char cfg[600], out[600];
    snprintf(cfg, sizeof(cfg), "%s/run.json", t->fx.dir);
    snprintf(out, sizeof(out), "%s/mirror-run.log", t->fx.dir);

    fxt_use(t, FXT_LOCALHOST, "yes");
    write_config(t, cfg,
                 "{\"redis\": \"%s\", \"tls_ca_file\": \"%s\", \"tls_cert_file\": \"%s\",\n"
                 " \"tls_key_file\": \"%s\", \"tls_server_name\": \"localhost\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"rc\", \"batch\": 200}],\n"
                 " \"mirror\": [{\"stream\": \"rc\", \"file\": \"%s\"}]}\n",
                 t->url, c->ca, c->client, c->client_key, t->fx.path, out);
    const char *check[] = {"check-config", "--config", cfg, NULL};
    expect_ok(t, fxt_run(t, check, RUN_MS, NULL), "check-config with tls_* keys");
    const char *run[] = {"run", "--config", cfg, NULL};
    pid_t pid = fx_import_spawn(&t->fx, run, t->fx.log);
    assert_true(pid > 0);
    mu_wait_size(out, len);
    stop_run(t, pid);
    mu_assert_file_equals(out, lines, len);
    assert_int_equal(lbt_xlen(t->fx.c, "rc"), n);
    assert_false(tu_file_has(t->fx.log, "tls-insecure"));

    /* a CA directory that does not hold the server's CA: exit 3 at once */
    fxt_use(t, FXT_GOOD, "optional");
    write_config(t, cfg,
                 "{\"redis\": \"%s\", \"tls_ca_dir\": \"%s\",\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"rw\"}]}\n",
                 t->url, c->wrong_ca_dir, t->fx.path);
    int64_t ms;
    int rc = fxt_run(t, run, 30000, &ms);
    if (rc != 3 || ms >= REFUSED_MS || strstr(t->fx.err, "unknown CA") == NULL ||
        strstr(t->fx.err, t->addr) == NULL)
        fail_msg("run with the wrong tls_ca_dir: exit %d after %lld ms (want 3 at once, "
                 "\"unknown CA\", %s): %s",
                 rc, (long long)ms, t->addr, t->fx.err);
    assert_int_equal(lbt_xlen(t->fx.c, "rw"), 0);

    /* tls_insecure against the wrong CA's certificate: works, and warns */
    fxt_use(t, FXT_WRONG_CA, "optional");
    write_config(t, cfg,
                 "{\"redis\": \"%s\", \"tls_insecure\": true,\n"
                 " \"tail\": [{\"paths\": [\"%s\"], \"stream\": \"ri\"}]}\n",
                 t->url, t->fx.path);
    char log2[600];
    snprintf(log2, sizeof(log2), "%s/run-insecure.out", t->fx.dir);
    pid = fx_import_spawn(&t->fx, run, log2);
    assert_true(pid > 0);
    struct reach r = {t, pid, "ri", NULL, n, 0, 0, 0};
    if (!lbt_wait_for(reached, &r, 60000) || r.exited) {
        tu_dump(log2, 3000);
        fail_msg("run with tls_insecure: XLEN ri = %lld, want %ld", lbt_xlen(t->fx.c, "ri"), n);
    }
    kill(pid, SIGTERM);
    assert_int_equal(fx_import_wait_exit(pid, 30000), 0);
    assert_int_equal(lbt_xlen(t->fx.c, "ri"), n);
    if (!tu_file_has(log2, "tls-insecure") && !tu_file_has(log2, "tls_insecure")) {
        tu_dump(log2, 3000);
        fail_msg("run with tls_insecure did not warn");
    }
    assert_int_equal(tu_log_sane(log2), 0);
    free(lines);
}

/* ---- timeouts and faults ------------------------------------------------------------------ */

/* A server that takes the TCP connection and never answers the TLS
 * handshake: the connect timeout holds over TLS, and import gives up after
 * --retry-for with exit 3 naming the address (a hang fails the deadline). */
static void tls_silent_server_times_out(void **state)
{
    struct fxt *t = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    /* listen() without accept(): the kernel completes the TCP handshake and
     * keeps the ClientHello; nothing ever answers it */
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s, 64), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    char url[64], addr[40];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    snprintf(url, sizeof(url), "rediss://%s", addr);
    assert_int_equal(lbt_write_file(t->fx.path, "a|2025-06-18T10:00:00Z|t|1\n", 27), 0);
    const char *imp[] = {"import", "--redis",     url, "--tls-ca-file", t->g->certs.ca, "--stream",
                         "S",      "--retry-for", "1", "--no-progress", t->fx.path,     NULL};
    int64_t ms;
    int rc = fxt_run(t, imp, 40000, &ms);
    if (rc != 3 || strstr(t->fx.err, addr) == NULL)
        fail_msg("import against a silent TLS server: exit %d after %lld ms (want 3 naming %s): %s",
                 rc, (long long)ms, addr, t->fx.err);
    const char *st[] = {"status",       "--redis",  url, "--tls-ca-file",
                        t->g->certs.ca, "--stream", "S", NULL};
    rc = fxt_run(t, st, 40000, &ms);
    if (rc != 3 || strstr(t->fx.err, addr) == NULL)
        fail_msg("status against a silent TLS server: exit %d after %lld ms (want 3 naming %s): %s",
                 rc, (long long)ms, addr, t->fx.err);
    close(s);
}

/* The combined fault: tail over TLS with a writer running while the TLS
 * redis-server is killed -9 and restarted from its AOF, three times: every
 * line in the stream exactly once, in order. */
static void tls_tail_survives_redis_kill9_with_a_writer(void **state)
{
    struct fxt *t = *state;
    uint64_t seed = iu_seed("tls_tail_survives_redis_kill9_with_a_writer");
    uint64_t rng = seed;
    long n = 30000L * iu_scale();
    struct tu_writer w = {t->fx.path, n, n / 97, 6, seed};
    assert_int_equal(lbt_write_file(t->fx.path, "", 0), 0);
    const char *args[] = {"tail",         "--redis",  t->url, "--tls-ca-file",
                          t->g->certs.ca, "--stream", "kk",   "--batch",
                          "300",          t->fx.path, NULL};
    pid_t tail = fx_import_spawn(&t->fx, args, t->fx.log);
    assert_true(tail > 0);
    pid_t wp = tu_fork(tu_writer_main, &w);
    assert_true(wp > 0);
    t->fx.kids[t->fx.nkids++ % FX_IMPORT_KIDS] = wp; /* killed by the teardown on a failure */
    for (int k = 1; k <= 3; k++) {
        struct reach r = {t, tail, "kk", NULL, w.valid * k / 4, 0, 0, 0};
        wait_reach(&r, "a quarter more of the lines before the next kill");
        lbt_sleep_ms((int)(tu_rand(&rng) % 5));
        lbt_redis_kill(&t->fx.r, SIGKILL);
        redisFree(t->fx.c);
        t->fx.c = NULL;
        lbt_sleep_ms(200 + (int)(tu_rand(&rng) % 800));
        assert_int_equal(lbt_redis_restart(&t->fx.r), 0);
        t->fx.c = lbt_connect(&t->fx.r);
        assert_non_null(t->fx.c);
    }
    assert_int_equal(lbt_wait(wp), 0);
    finish_tail(t, tail, "kk", w.valid, w.bad);
    printf("tls_tail_survives_redis_kill9_with_a_writer: 3 kills, %d torn AOFs repaired\n",
           t->fx.r.aof_repairs);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fxt_setup_shared, fxt_teardown)
    const struct CMUnitTest tests[] = {
        T(tls_import_writes_every_line_once),
        T(tls_ca_dir_and_db_in_the_url),
        T(tls_tail_with_a_writer_counts_every_line_once),
        T(tls_mirror_export_parity_status),
        T(tls_mutual_tls_with_a_client_certificate),
        T(tls_server_name_is_the_name_verified),
        T(tls_unknown_ca_exits_3_at_once),
        T(tls_name_mismatch_exits_3_at_once),
        T(tls_expired_certificate_exits_3_at_once),
        T(tls_missing_client_certificate_exits_3_at_once),
        T(tls_insecure_connects_and_warns),
        T(tls_acl_user_over_tls),
        T(tls_run_config_with_tls_keys),
        T(tls_silent_server_times_out),
        cmocka_unit_test_setup_teardown(tls_tail_survives_redis_kill9_with_a_writer,
                                        fxt_setup_own_aof, fxt_teardown),
    };
#undef T
    /* LB_TEST_FILTER=tls_expired* runs the matching tests alone */
    if (getenv("LB_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("LB_TEST_FILTER"));
    return cmocka_run_group_tests(tests, fxt_group_setup, fxt_group_teardown);
}
