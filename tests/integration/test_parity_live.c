/*
 * test_parity_live.c - `logbridge parity` on a live system, against a real
 * redis-server and a real `logbridge tail`: lines written while parity runs
 * are pending, not missing; a chain rotated by the real logrotate (create
 * with compress/delaycompress, and copytruncate) any number of times compares
 * equal through the CI recipe (contrib/ci/parity-chain.sh); the JUnit report
 * validates against contrib/ci/junit.xsd with xmllint, and its test case
 * names stay the same as the files rotate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fx_tail.h"
#include "lbtest.h"
#include "parity_xml.h"
#include "tail_util.h"

#define STREAM "{app}:events"
#define CKPT "logbridge:ckpt:{app}"

struct prep {
    int rc;
    cJSON *root;
    char out[1 << 16];
    char err[16384];
};

static long long pnum(const struct prep *r, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!cJSON_IsNumber(v))
        fail_msg("no number %s in the report:\n%s\n%s", key, r->out, r->err);
    return (long long)v->valuedouble;
}

/* logbridge parity --redis URL --stream STREAM --report json ARGS... */
static void run_parity_v(struct fx_tail *t, struct prep *r, const char *const *args)
{
    const char *v[80];
    int n = 0;
    v[n++] = "parity";
    v[n++] = "--redis";
    v[n++] = t->r.url;
    v[n++] = "--stream";
    v[n++] = STREAM;
    v[n++] = "--report";
    v[n++] = "json";
    for (int i = 0; args[i] != NULL && n < 78; i++)
        v[n++] = args[i];
    v[n] = NULL;
    cJSON_Delete(r->root);
    r->root = NULL;
    r->rc = lbt_run(v, r->out, sizeof(r->out), r->err, sizeof(r->err), NULL, 0);
    if (r->rc != 0 && r->rc != 1)
        fail_msg("parity exited %d: %s", r->rc, r->err);
    r->root = cJSON_Parse(r->out);
    if (r->root == NULL)
        fail_msg("parity printed no JSON: %s / %s", r->out, r->err);
    if (strstr(r->err, "inconsistent") != NULL)
        fail_msg("%s", r->err);
}

static void run_parity(struct fx_tail *t, struct prep *r, ...)
{
    const char *v[80];
    int n = 0;
    va_list ap;
    va_start(ap, r);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 78)
        v[n++] = a;
    va_end(ap);
    v[n] = NULL;
    run_parity_v(t, r, v);
}

/* Green on a live file: nothing missing or extra, every line matched or pending. */
static void expect_live_equal(const struct prep *r)
{
    if (r->rc != 0 || pnum(r, "missing_in_stream") != 0 || pnum(r, "extra_in_stream") != 0 ||
        pnum(r, "mismatched") != 0 || pnum(r, "out_of_order") != 0 ||
        pnum(r, "matched") + pnum(r, "pending") != pnum(r, "file_lines"))
        fail_msg("parity is not green on a healthy system (exit %d):\n%s\n%s", r->rc, r->out,
                 r->err);
}

static pid_t start_tail(struct fx_tail *t, const char *rotate_wait)
{
    const char *v[] = {"tail",          "--redis",      t->r.url, "--stream", STREAM,
                       "--rotate-wait", rotate_wait,    t->path,  NULL};
    pid_t pid = lbt_spawn(v, t->log);
    assert_true(pid > 0);
    t->pid = pid;
    if (!tu_wait_log(t->log, "following", 10000)) {
        tu_dump(t->log, 2000);
        fail_msg("tail did not start");
    }
    /* "following" comes before tail records where it starts: from then on
     * (parity_pending_from_the_moment_tail_follows) the file is green. */
    if (!tu_wait_ckpt(t->c, CKPT, t->path, 0, 10000)) {
        tu_dump(t->log, 2000);
        fail_msg("tail recorded no start checkpoint");
    }
    return pid;
}

static void stop_tail(struct fx_tail *t)
{
    kill(t->pid, SIGTERM);
    assert_int_equal(lbt_wait(t->pid), 0);
    t->pid = 0;
}

/* ---- pending: lines written while parity runs ------------------------------------------------ */

static void parity_pending_while_tail_appends(void **state)
{
    struct fx_tail *t = *state;
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    start_tail(t, "1");
    struct tu_writer w = {t->path, 20000, 30, 4, tu_seed("writer")};
    t->writer = tu_fork(tu_writer_main, &w);
    struct prep r = {0};
    long long pending_seen = 0;
    int runs = 0, code = 0, done = 0;
    /* Parity again and again while the writer appends (lines cut between
     * writes too) and tail commits: never red. */
    while (!done || runs < 5) {
        done = done || tu_try_wait(t->writer, &code);
        run_parity(t, &r, t->path, NULL);
        expect_live_equal(&r);
        pending_seen += pnum(&r, "pending");
        runs++;
        if (runs > 400)
            break;
    }
    if (!done) {
        assert_int_equal(lbt_wait(t->writer), 0);
    } else {
        assert_int_equal(code, 0);
    }
    t->writer = 0;
    printf("parity ran %d times while the writer appended; %lld lines seen pending\n", runs,
           pending_seen);
    assert_true(pending_seen > 0);
    /* Caught up: everything matched. */
    assert_true(tu_wait_xlen(t->c, STREAM, 20000, 30000));
    stop_tail(t);
    run_parity(t, &r, t->path, NULL);
    expect_live_equal(&r);
    assert_int_equal(pnum(&r, "matched"), 20000);
    assert_int_equal(pnum(&r, "pending"), 0);
    assert_int_equal(pnum(&r, "bad_lines"), 30);
    /* tail stopped, the file grows: pending by default, missing with --no-pending. */
    assert_int_equal(tu_append_lines(t->path, 0, 20000, 20123, 10), 0);
    run_parity(t, &r, t->path, NULL);
    expect_live_equal(&r);
    assert_int_equal(pnum(&r, "pending"), 123);
    run_parity(t, &r, "--no-pending", t->path, NULL);
    assert_int_equal(r.rc, 1);
    assert_int_equal(pnum(&r, "missing_in_stream"), 123);
    assert_int_equal(pnum(&r, "pending"), 0);
    cJSON_Delete(r.root);
}

/* tail records where it starts before it has a line to send, so a file it
 * follows is never red while its first batch is on its way: tail is stopped
 * (SIGSTOP) before it can send anything, lines arrive, parity says pending.
 * Both ways a file comes to be followed: at start (empty), and appearing at
 * the path later. Before the fix a file got a checkpoint with its first
 * batch only, and these lines were missing. */
static void parity_pending_from_the_moment_tail_follows(void **state)
{
    struct fx_tail *t = *state;
    char late[600];
    snprintf(late, sizeof(late), "%s/late.log", t->dir);
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    const char *v[] = {"tail", "--redis", t->r.url, "--stream", STREAM, t->path, late, NULL};
    t->pid = lbt_spawn(v, t->log);
    assert_true(t->pid > 0);
    if (!tu_wait_ckpt(t->c, CKPT, t->path, 0, 10000)) {
        tu_dump(t->log, 2000);
        fail_msg("tail follows %s and has recorded no checkpoint for it", t->path);
    }
    assert_int_equal(lbt_write_file(late, "", 0), 0);
    if (!tu_wait_ckpt(t->c, CKPT, late, 0, 10000)) {
        tu_dump(t->log, 2000);
        fail_msg("tail follows %s (it appeared) and has recorded no checkpoint for it", late);
    }
    assert_int_equal(tu_ckpt_off(t->c, CKPT, t->path, NULL), 0);
    assert_int_equal(kill(t->pid, SIGSTOP), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 40, 10), 0);
    assert_int_equal(tu_append_lines(late, 1, 0, 25, 10), 0);
    struct prep r = {0};
    run_parity(t, &r, t->path, late, NULL);
    expect_live_equal(&r);
    assert_int_equal(pnum(&r, "pending"), 65);
    assert_int_equal(pnum(&r, "matched"), 0);
    assert_int_equal(kill(t->pid, SIGCONT), 0);
    assert_true(tu_wait_xlen(t->c, STREAM, 65, 30000));
    assert_true(tu_wait_ckpt(t->c, CKPT, late, lbt_file_size(late), 30000));
    assert_true(tu_wait_ckpt(t->c, CKPT, t->path, lbt_file_size(t->path), 30000));
    run_parity(t, &r, t->path, late, NULL);
    expect_live_equal(&r);
    assert_int_equal(pnum(&r, "matched"), 65);
    assert_int_equal(pnum(&r, "pending"), 0);
    stop_tail(t);
    cJSON_Delete(r.root);
}

/* ---- the real logrotate -------------------------------------------------------------------- */

/* Run logrotate -f with a state file and a config in the test's dir. */
static void logrotate(struct fx_tail *t, const char *mode)
{
    char conf[600], state[600], text[2048], cmd[2048];
    snprintf(conf, sizeof(conf), "%s/logrotate.conf", t->dir);
    snprintf(state, sizeof(state), "%s/logrotate.state", t->dir);
    int n = snprintf(text, sizeof(text),
                     "%s {\n    rotate 20\n    missingok\n    %s\n}\n", t->path, mode);
    assert_int_equal(lbt_write_file(conf, text, (size_t)n), 0);
    chmod(conf, 0644);
    snprintf(cmd, sizeof(cmd), "logrotate -f -s '%s' '%s' 2>&1", state, conf);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("logrotate failed (%d): %s", rc, cmd);
}

/* Every entry written, and the checkpoint at the live file's end. */
static void wait_committed(struct fx_tail *t, long long lines)
{
    if (!tu_wait_xlen(t->c, STREAM, lines, 30000)) {
        tu_dump(t->log, 3000);
        fail_msg("the stream did not reach %lld entries (%lld)", lines, lbt_xlen(t->c, STREAM));
    }
}

/* The CI recipe: contrib/ci/parity-chain.sh LIVE [options] with the build's binary. */
static int ci_recipe(struct fx_tail *t, const char *extra, char *out, size_t outcap)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "LOGBRIDGE='%s' LOGBRIDGE_REDIS='%s' sh contrib/ci/parity-chain.sh '%s' --stream '%s' "
             "%s 2>&1",
             lbt_bin(), t->r.url, t->path, STREAM, extra);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outcap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The files of the chain on disk now: app.log.N[.gz] oldest first, then app.log. */
static int chain_files(struct fx_tail *t, char names[][600], int cap)
{
    int gens = 0;
    for (int k = 40; k >= 1; k--) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof(p), "%s.%d", t->path, k);
        if (stat(p, &st) != 0)
            snprintf(p, sizeof(p), "%s.%d.gz", t->path, k);
        if (stat(p, &st) == 0 && gens < cap - 1)
            snprintf(names[gens++], 600, "%s", p);
    }
    snprintf(names[gens++], 600, "%s", t->path);
    return gens;
}

static void rotate_while_tailing(struct fx_tail *t, const char *mode, int rotations)
{
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    start_tail(t, "1");
    struct prep r = {0};
    long next = 0;
    for (int rot = 0; rot <= rotations; rot++) {
        /* The app writes a batch, parity runs while tail may still be
         * committing it, then logrotate rotates. */
        long n = 150 + 37 * rot;
        assert_int_equal(tu_append_lines(t->path, rot, next, next + n, rot * 7 % 50), 0);
        next += n;
        char names[48][600];
        int nf = chain_files(t, names, 48);
        const char *v[60];
        int k = 0;
        v[k++] = "--src";
        v[k++] = t->path;
        for (int i = 0; i < nf; i++)
            v[k++] = names[i];
        v[k] = NULL;
        run_parity_v(t, &r, v);
        expect_live_equal(&r);
        wait_committed(t, next);
        if (rot < rotations)
            logrotate(t, mode);
    }
    /* Settled: the whole chain matched; the CI recipe agrees. */
    wait_committed(t, next);
    char out[1 << 15];
    int rc = ci_recipe(t, "--report json", out, sizeof(out));
    char *json = strchr(out, '{');
    cJSON *root = json != NULL ? cJSON_Parse(json) : NULL;
    if (rc != 0 || root == NULL)
        fail_msg("the CI recipe exited %d after %d %s rotations:\n%s", rc, rotations, mode, out);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "matched");
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(root, "extra_in_stream");
    if (!cJSON_IsNumber(m) || (long)m->valuedouble + (long)cJSON_GetObjectItem(root, "pending")
                                                         ->valuedouble != next ||
        !cJSON_IsNumber(x) || x->valuedouble != 0)
        fail_msg("the CI recipe did not match all %ld lines:\n%s", next, out);
    cJSON_Delete(root);
    /* Only the two newest files given: the older generations are not
     * compared (and said so), the rest is equal. */
    char one[600];
    snprintf(one, sizeof(one), "%s.1", t->path);
    run_parity(t, &r, "--src", t->path, one, t->path, NULL);
    expect_live_equal(&r);
    if (strstr(r.err, "older than the FILEs") == NULL)
        fail_msg("no word about the older generations: %s", r.err);
    stop_tail(t);
    cJSON_Delete(r.root);
}

static void parity_logrotate_create_compress(void **state)
{
    rotate_while_tailing(*state, "create\n    compress\n    delaycompress", 4);
}

static void parity_logrotate_copytruncate(void **state)
{
    rotate_while_tailing(*state, "copytruncate", 3);
}

/* ---- JUnit against the schema, names by route -------------------------------------------------- */

static int xmllint_ok(const char *xml_path, char *why, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "xmllint --noout --schema contrib/ci/junit.xsd '%s' 2>&1",
             xml_path);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return 0;
    size_t n = fread(why, 1, cap - 1, p);
    why[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void junit_names(struct fx_tail *t, const char *xml, char names[][700], int *n)
{
    size_t len;
    char *s = lbt_read_file(xml, &len);
    assert_non_null(s);
    char why[300];
    struct pxml_node *root = pxml_parse(s, len, why, sizeof(why));
    if (root == NULL)
        fail_msg("not well-formed: %s", why);
    (void)t;
    assert_non_null(pxml_attr(root, "timestamp"));
    assert_non_null(pxml_attr(root, "hostname"));
    *n = (int)pxml_count(root, "testcase");
    for (int i = 0; i < *n; i++) {
        const struct pxml_node *c = pxml_child(root, "testcase", (size_t)i);
        assert_non_null(pxml_attr(c, "time"));
        snprintf(names[i], 700, "%s", pxml_attr(c, "name"));
    }
    pxml_free(root);
    free(s);
}

static void parity_junit_schema_and_stable_names(void **state)
{
    struct fx_tail *t = *state;
    if (system("command -v xmllint >/dev/null 2>&1") != 0)
        fail_msg("xmllint is missing: make deps installs libxml2-utils");
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    start_tail(t, "1");
    /* hostile bytes in a line: markup, quotes, control bytes, invalid UTF-8 */
    const char *hostile = "web|2025-06-18T08:00:00Z|login|<x a=\"1\">&amp; ' \x01\x1b\x7f \xff\xfe "
                          "\xef\xbf\xbf ]]> \t end\n";
    assert_int_equal(lbt_append_file(t->path, hostile, strlen(hostile)), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 100, 5), 0);
    wait_committed(t, 101);
    logrotate(t, "create");
    assert_int_equal(tu_append_lines(t->path, 1, 100, 200, 5), 0);
    wait_committed(t, 201);
    stop_tail(t);
    /* A difference, so that the report has failures and examples. */
    struct lbt_entry *e;
    long ne = lbt_xrange_all(t->c, STREAM, &e);
    assert_int_equal(ne, 201);
    redisReply *rep = redisCommand(t->c, "XDEL %s %s", STREAM, e[50].id);
    freeReplyObject(rep);
    lbt_entries_free(e, ne);

    char xml[600], why[4096], one[600], two[600], names[8][700];
    int n;
    snprintf(xml, sizeof(xml), "%s/parity.xml", t->dir);
    snprintf(one, sizeof(one), "%s.1", t->path);
    const char *v[] = {"parity", "--redis", t->r.url, "--stream", STREAM, "--src", t->path,
                       "--report", "junit", "--out", xml, one, t->path, NULL};
    assert_int_equal(lbt_run(v, NULL, 0, why, sizeof(why), NULL, 0), 1);
    if (!xmllint_ok(xml, why, sizeof(why)))
        fail_msg("the JUnit report does not validate against contrib/ci/junit.xsd:\n%s", why);
    junit_names(t, xml, names, &n);
    assert_int_equal(n, 3);
    char want[700];
    snprintf(want, sizeof(want), "%s (generation -1)", t->path);
    assert_string_equal(names[0], want);
    assert_string_equal(names[1], t->path);
    assert_string_equal(names[2], "stream " STREAM);

    /* Rotated once more: the live file keeps its name, and so does the
     * generation before it, though the paths moved. */
    start_tail(t, "1");
    logrotate(t, "create");
    assert_int_equal(tu_append_lines(t->path, 2, 200, 250, 5), 0);
    wait_committed(t, 250);
    stop_tail(t);
    snprintf(two, sizeof(two), "%s.2", t->path);
    const char *v2[] = {"parity", "--redis", t->r.url, "--stream", STREAM, "--src", t->path,
                        "--report", "junit", "--out", xml, two, one, t->path, NULL};
    assert_int_equal(lbt_run(v2, NULL, 0, why, sizeof(why), NULL, 0), 1);
    if (!xmllint_ok(xml, why, sizeof(why)))
        fail_msg("the JUnit report does not validate against contrib/ci/junit.xsd:\n%s", why);
    junit_names(t, xml, names, &n);
    assert_int_equal(n, 4);
    snprintf(want, sizeof(want), "%s (generation -2)", t->path);
    assert_string_equal(names[0], want);
    snprintf(want, sizeof(want), "%s (generation -1)", t->path);
    assert_string_equal(names[1], want);
    assert_string_equal(names[2], t->path);

    /* Equal (no failure) validates too. */
    const char *v3[] = {"parity", "--redis", t->r.url, "--stream", STREAM, "--src", t->path,
                        "--report", "junit", "--out", xml, t->path, NULL};
    assert_int_equal(lbt_run(v3, NULL, 0, why, sizeof(why), NULL, 0), 0);
    if (!xmllint_ok(xml, why, sizeof(why)))
        fail_msg("the JUnit report does not validate against contrib/ci/junit.xsd:\n%s", why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(parity_pending_while_tail_appends, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(parity_pending_from_the_moment_tail_follows,
                                        fx_tail_setup, fx_tail_teardown),
        cmocka_unit_test_setup_teardown(parity_logrotate_create_compress, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(parity_logrotate_copytruncate, fx_tail_setup,
                                        fx_tail_teardown),
        cmocka_unit_test_setup_teardown(parity_junit_schema_and_stable_names, fx_tail_setup,
                                        fx_tail_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
