/*
 * test_sentinel.c - logbridge over a Sentinel URL across failovers
 * (DESIGN.md section 7, guarantees 4.1, 4.2 and 4.5): a master, a replica and
 * three Sentinels (fx_sentinel, started once for the whole binary), tail and
 * mirror following `redis+sentinel://.../lbmaster` while a writer appends
 * (tu_writer_main: numbered lines in writes of random sizes, ~1 % bad lines):
 *  - kill -9 of the master mid-run: after the promotion, tail goes on, and
 *    the stream holds every line exactly once, the DLQ every bad line;
 *  - the same with mirror following the stream: its file holds every line
 *    exactly once;
 *  - acknowledged-write loss made certain (the replica SIGSTOP'ed and cut off
 *    while the master acknowledges batches, then the master killed and the
 *    replica promoted): still exactly once, the regression said at warn with
 *    its byte range and counted in logbridge_checkpoint_regressions_total;
 *    and the same for mirror (whose entries come back with new IDs);
 *  - that failover with logbridge itself kill -9'ed at a seeded random
 *    moment of it, and started again;
 *  - a master paused (SIGSTOP) past down-after: the replica is promoted, the
 *    old master, continued, acknowledges batches until the Sentinels demote
 *    it; tail gets READONLY there, follows the Sentinels, and sends the lost
 *    lines again.
 *
 * Every count is exact. The seed is printed; LB_TEST_SEED=N repeats a run,
 * LB_TEST_SCALE=N writes more lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "fx_mirror.h"
#include "fx_sentinel.h"
#include "lbtest.h"
#include "tail_util.h"

#define CK "logbridge:ckpt:{s}"
#define DLQ "logbridge:dlq:{s}"
#define MCK "logbridge:mirror:{s}"

struct t {
    struct fx_sentinel *s; /* the group's deployment */
    redisContext *c;       /* on the current master (fx_sentinel's unix socket) */
    char dir[256];
    char path[512];     /* the file tail follows */
    char log[512];      /* tail's output */
    char metrics[512];  /* tail's --metrics-file */
    char mfile[512];    /* mirror's file */
    char mlog[512];     /* mirror's output */
    char mmetrics[512]; /* mirror's --metrics-file */
    pid_t tail, mirror, writer;
    struct tu_writer w;
};

/* ---- fixture ---------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fx_sentinel *s = *state; /* the group state */
    char why[300];
    if (s == NULL || fx_sentinel_restore(s, why, sizeof(why)) != 0) {
        fprintf(stderr, "setup: %s\n", s ? why : "no deployment");
        return -1;
    }
    struct t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    t->s = s;
    if (lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0 ||
        (t->c = fx_sentinel_connect(s, s->master)) == NULL) {
        /* cmocka runs no teardown after a failed setup */
        lbt_rmdir(t->dir);
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s/app.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/tail.log", t->dir);
    snprintf(t->metrics, sizeof(t->metrics), "%s/tail.prom", t->dir);
    snprintf(t->mfile, sizeof(t->mfile), "%s/mirror.log", t->dir);
    snprintf(t->mlog, sizeof(t->mlog), "%s/mirror.out", t->dir);
    snprintf(t->mmetrics, sizeof(t->mmetrics), "%s/mirror.prom", t->dir);
    t->w.path = t->path;
    *state = t;
    return 0;
}

static void reap(pid_t *p)
{
    if (*p > 0) {
        kill(*p, SIGKILL);
        lbt_wait(*p);
    }
    *p = 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    if (t == NULL)
        return 0;
    reap(&t->writer);
    reap(&t->tail);
    reap(&t->mirror);
    int bad = tu_log_sane(t->log) | tu_log_sane(t->mlog);
    if (t->c != NULL)
        redisFree(t->c);
    lbt_rmdir(t->dir);
    /* the next setup continues a node left stopped and restarts a dead one */
    *state = t->s;
    free(t);
    return bad;
}

/* Point t->c at the master of now. */
static void on_master(struct t *t)
{
    if (t->c != NULL)
        redisFree(t->c);
    t->c = fx_sentinel_connect(t->s, t->s->master);
    assert_non_null(t->c);
}

static void dump_logs(struct t *t)
{
    tu_dump(t->log, 4000);
    tu_dump(t->mlog, 3000);
}

/* ---- logbridge ---------------------------------------------------------------------------- */

static pid_t spawn_tail(struct t *t)
{
    const char *args[] = {"tail",    "--redis", t->s->url,         "--stream", "s",
                          "--batch", "300",     "--metrics-file",  t->metrics, "--log-level",
                          "info",    t->path,   (const char *)NULL};
    pid_t p = lbt_spawn(args, t->log);
    assert_true(p > 0);
    return p;
}

static pid_t spawn_mirror(struct t *t)
{
    const char *args[] = {"mirror", "--redis",        t->s->url,   "--stream",
                          "s",      "--file",         t->mfile,    "--batch",
                          "200",    "--metrics-file", t->mmetrics, (const char *)NULL};
    pid_t p = lbt_spawn(args, t->mlog);
    assert_true(p > 0);
    return p;
}

/* SIGTERM (commit what was read, exit 0) and wait. */
static void stop_ok(struct t *t, pid_t *p, const char *what)
{
    kill(*p, SIGTERM);
    int rc = lbt_wait(*p);
    *p = 0;
    if (rc != 0) {
        dump_logs(t);
        fail_msg("%s exited %d after SIGTERM, want 0", what, rc);
    }
}

/* ---- waits: a condition, failing at once when logbridge died ------------------------------ */

struct until {
    struct t *t;
    int (*cond)(struct until *);
    long long n; /* what cond waits for */
    char died[128];
};

static int until_cond(void *ctx)
{
    struct until *u = ctx;
    pid_t *ps[] = {&u->t->tail, &u->t->mirror};
    const char *names[] = {"tail", "mirror"};
    for (int i = 0; i < 2; i++) {
        int code;
        if (*ps[i] > 0 && tu_try_wait(*ps[i], &code)) {
            snprintf(u->died, sizeof(u->died), "%s exited %d", names[i], code);
            *ps[i] = 0;
            return 1;
        }
    }
    return u->cond(u);
}

static void wait_until(struct t *t, int (*cond)(struct until *), long long n, int timeout_ms,
                       const char *what)
{
    struct until u = {t, cond, n, ""};
    int held = lbt_wait_for(until_cond, &u, timeout_ms);
    if (held && u.died[0] == '\0')
        return;
    dump_logs(t);
    fail_msg("waiting for %s (%lld): %s", what, n, u.died[0] ? u.died : "timed out");
}

static int xlen_at_least(struct until *u)
{
    return lbt_xlen(u->t->c, "s") >= u->n;
}

static int ckpt_at_least(struct until *u)
{
    return tu_ckpt_off(u->t->c, CK, u->t->path, NULL) >= u->n;
}

/* The mirror's checkpoint JSON (parsed; NULL when absent). */
static cJSON *mirror_ckpt(struct t *t)
{
    redisReply *r = redisCommand(t->c, "HGET %s %s", MCK, t->mfile);
    cJSON *j = NULL;
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        j = cJSON_Parse(r->str);
    freeReplyObject(r);
    return j;
}

static long long mirror_size(struct t *t)
{
    cJSON *j = mirror_ckpt(t);
    cJSON *sz = j ? cJSON_GetObjectItem(j, "size") : NULL;
    long long n = cJSON_IsNumber(sz) ? (long long)sz->valuedouble : -1;
    cJSON_Delete(j);
    return n;
}

static int mirror_at_least(struct until *u)
{
    return mirror_size(u->t) >= u->n;
}

/* The mirror's checkpoint names the stream's last entry. */
static int mirror_at_end(struct until *u)
{
    struct t *t = u->t;
    redisReply *r = redisCommand(t->c, "XREVRANGE s + - COUNT 1");
    char last[64] = "";
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        snprintf(last, sizeof(last), "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    cJSON *j = mirror_ckpt(t);
    cJSON *id = j ? cJSON_GetObjectItem(j, "id") : NULL;
    int ok = last[0] != '\0' && cJSON_IsString(id) && strcmp(id->valuestring, last) == 0;
    cJSON_Delete(j);
    return ok;
}

/* ---- the run ---------------------------------------------------------------------------- */

/* Start the writer: valid lines (x LB_TEST_SCALE), about 6 a millisecond, so
 * that it still writes while the failover happens. */
static void start_writer(struct t *t, const char *name, long valid)
{
    t->w.seed = tu_seed(name);
    t->w.valid = valid * tu_scale();
    t->w.bad = t->w.valid / 97;
    t->w.per_ms = 6;
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    t->writer = tu_fork(tu_writer_main, &t->w);
    assert_true(t->writer > 0);
}

static void assert_writer_running(struct t *t)
{
    int code;
    if (tu_try_wait(t->writer, &code)) {
        t->writer = 0;
        fail_msg("the writer finished (%d) before the master died: the failover would not be "
                 "mid-run",
                 code);
    }
}

/* The writer is done and tail has committed the whole file (on the master of
 * now). */
static void wait_all_committed(struct t *t)
{
    assert_int_equal(lbt_wait(t->writer), 0);
    t->writer = 0;
    wait_until(t, ckpt_at_least, lbt_file_size(t->path), FX_SENT_WAIT_MS, "the whole file committed");
}

/* Every valid line exactly once and in order in the stream, every bad line
 * exactly once in the DLQ. */
static void check_stream(struct t *t)
{
    char why[600];
    if (tu_check_seq(t->c, "s", t->path, t->w.valid, 1, why, sizeof(why)) != 0 ||
        tu_check_bad(t->c, DLQ, t->w.bad, why, sizeof(why)) != 0) {
        dump_logs(t);
        fail_msg("%s", why);
    }
}

/* The mirror's file holds every valid line of the followed file exactly once,
 * in order, byte for byte (the bad lines are in the DLQ, not the stream). */
static void check_mirror(struct t *t)
{
    size_t n = 0;
    char *src = lbt_read_file(t->path, &n);
    assert_non_null(src);
    char *want = malloc(n + 1);
    size_t wn = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(src + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (src + i)) + 1 : n - i;
        if (strncmp(src + i, "bad ", 4) != 0) {
            memcpy(want + wn, src + i, len);
            wn += len;
        }
        i += len;
    }
    mu_assert_file_equals(t->mfile, want, wn);
    free(want);
    free(src);
}

/* ---- acknowledged-write loss ---------------------------------------------------------------- */

/* Isolate the replica, then let the master acknowledge at least `lines`
 * more lines of tail's batches. Returns the replica. */
static int lose_on_master(struct t *t, long lines)
{
    int r = fx_sentinel_isolate_replica(t->s);
    assert_true(r >= 0);
    long long line0 = 0;
    long long off0 = tu_ckpt_off(t->c, CK, t->path, &line0);
    assert_true(off0 > 0);
    /* wait by bytes: a line is at most ~100 bytes, so this is >= `lines` */
    wait_until(t, ckpt_at_least, off0 + lines * 100, FX_SENT_WAIT_MS,
               "batches acknowledged by the master alone");
    return r;
}

/* kill -9 the master; continue the isolated replica r (when r >= 0) at once,
 * so that it is eligible; wait for its promotion. Returns the checkpoint
 * offset the replica holds (-1: none). */
static long long fail_over(struct t *t, int r)
{
    int old = fx_sentinel_kill_master(t->s);
    long long kept = -1;
    if (r >= 0) {
        assert_int_equal(fx_sentinel_resume_replica(t->s, r), 0);
        /* the replica serves reads while its master is gone: what it holds
         * is what the new master will hold */
        redisContext *rc = fx_sentinel_connect(t->s, r);
        assert_non_null(rc);
        kept = tu_ckpt_off(rc, CK, t->path, NULL);
        redisFree(rc);
    }
    int n = fx_sentinel_wait_promotion(t->s, old, FX_SENT_WAIT_MS);
    if (n < 0) {
        dump_logs(t);
        fail_msg("no replica was promoted");
    }
    on_master(t);
    return kept;
}

/* tail's log holds a warn line with the byte range from..N (N > from) that
 * it sends again; N in *to. */
static void assert_regression_logged(struct t *t, long long from, long long *to)
{
    char *log = lbt_read_file(t->log, NULL);
    assert_non_null(log);
    char pat[48];
    snprintf(pat, sizeof(pat), " %lld-", from);
    int found = 0;
    for (char *line = log; line != NULL && *line != '\0' && !found;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        const char *p = strstr(line, pat);
        if (strstr(line, " warn: ") != NULL && p != NULL) {
            *to = strtoll(p + strlen(pat), NULL, 10);
            found = *to > from;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(log);
    if (!found) {
        dump_logs(t);
        fail_msg("tail's log has no warn line with the byte range %lld-N sent again", from);
    }
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* kill -9 of the master while tail follows a growing file over the Sentinel
 * URL: after the promotion tail goes on; every line exactly once. */
static void tail_sentinel_master_killed_mid_run(void **state)
{
    struct t *t = *state;
    start_writer(t, "tail_sentinel_master_killed_mid_run", 40000);
    t->tail = spawn_tail(t);
    wait_until(t, xlen_at_least, 3000, FX_SENT_WAIT_MS, "entries on the first master");
    assert_writer_running(t);
    fail_over(t, -1);
    wait_all_committed(t);
    stop_ok(t, &t->tail, "tail");
    check_stream(t);
}

/* mirror follows the stream that tail fills, both over the Sentinel URL;
 * kill -9 of the master mid-run: every line in the mirror's file exactly
 * once. */
static void mirror_sentinel_master_killed_mid_run(void **state)
{
    struct t *t = *state;
    start_writer(t, "mirror_sentinel_master_killed_mid_run", 40000);
    t->tail = spawn_tail(t);
    t->mirror = spawn_mirror(t);
    wait_until(t, mirror_at_least, 100000, FX_SENT_WAIT_MS, "mirrored bytes on the first master");
    assert_writer_running(t);
    fail_over(t, -1);
    wait_all_committed(t);
    wait_until(t, mirror_at_end, 0, FX_SENT_WAIT_MS, "the mirror at the stream's end");
    stop_ok(t, &t->tail, "tail");
    stop_ok(t, &t->mirror, "mirror");
    check_stream(t);
    check_mirror(t);
}

/* The failover loses batches the master acknowledged (the replica was
 * stopped and cut off meanwhile): tail finds its checkpoint gone back, says
 * so at warn with the byte range, counts it, and sends those lines again;
 * the stream still ends with every line exactly once. */
static void tail_sentinel_acknowledged_write_loss(void **state)
{
    struct t *t = *state;
    start_writer(t, "tail_sentinel_acknowledged_write_loss", 40000);
    t->tail = spawn_tail(t);
    wait_until(t, xlen_at_least, 2000, FX_SENT_WAIT_MS, "entries on the first master");
    int r = lose_on_master(t, 1500);
    long long acked = tu_ckpt_off(t->c, CK, t->path, NULL);
    assert_writer_running(t);
    long long kept = fail_over(t, r);
    printf("  the master acknowledged up to off=%lld; the promoted replica kept off=%lld\n", acked,
           kept);
    if (kept < 0 || kept >= acked)
        fail_msg("the promoted replica holds off=%lld, the master had acknowledged off=%lld: no "
                 "loss to test",
                 kept, acked);
    wait_all_committed(t);
    stop_ok(t, &t->tail, "tail");
    check_stream(t);
    long long to = 0;
    assert_regression_logged(t, kept, &to);
    /* tail's own last acknowledged offset: not necessarily `acked` (a reply
     * may have been lost with the connection), but past what survived */
    assert_true(to <= lbt_file_size(t->path));
    assert_true(mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", t->path,
                          NULL) == 1.0);
}

/* The same loss seen by mirror: it wrote lines whose entries the new master
 * lacks, and tail writes them again with new IDs: every line in the file
 * exactly once (the resent ones recognised and counted, not written). */
static void mirror_sentinel_acknowledged_write_loss(void **state)
{
    struct t *t = *state;
    start_writer(t, "mirror_sentinel_acknowledged_write_loss", 40000);
    t->tail = spawn_tail(t);
    t->mirror = spawn_mirror(t);
    wait_until(t, mirror_at_least, 50000, FX_SENT_WAIT_MS, "mirrored bytes on the first master");
    int r = lose_on_master(t, 1500);
    /* the mirror wrote lines that only the master has */
    long long have = mirror_size(t);
    wait_until(t, mirror_at_least, have + 1500 * 40, FX_SENT_WAIT_MS,
               "lines mirrored from the master alone");
    assert_writer_running(t);
    fail_over(t, r);
    wait_all_committed(t);
    wait_until(t, mirror_at_end, 0, FX_SENT_WAIT_MS, "the mirror at the stream's end");
    stop_ok(t, &t->tail, "tail");
    stop_ok(t, &t->mirror, "mirror");
    check_stream(t);
    check_mirror(t);
    assert_true(mu_metric(t->mmetrics, "logbridge_mirror_entries_total", "file", t->mfile,
                          "outcome", "resent", NULL) > 0);
}

/* The loss of acknowledged writes, and tail itself kill -9'ed at a seeded
 * random moment from the master's death to shortly after the promotion,
 * then started again: every line exactly once. */
static void tail_sentinel_failover_with_logbridge_killed(void **state)
{
    struct t *t = *state;
    start_writer(t, "tail_sentinel_failover_with_logbridge_killed", 40000);
    uint64_t rng = t->w.seed ^ 0x5851f42d4c957f2dULL;
    int kill_at = (int)(tu_rand(&rng) % 4000);
    printf("  logbridge is killed %d ms after the master\n", kill_at);
    t->tail = spawn_tail(t);
    wait_until(t, xlen_at_least, 2000, FX_SENT_WAIT_MS, "entries on the first master");
    int r = lose_on_master(t, 1000);
    assert_writer_running(t);
    int old = fx_sentinel_kill_master(t->s);
    int64_t dead_at = lbt_now_ms();
    assert_int_equal(fx_sentinel_resume_replica(t->s, r), 0);
    int64_t wait = dead_at + kill_at - lbt_now_ms();
    if (wait > 0)
        lbt_sleep_ms((int)wait);
    kill(t->tail, SIGKILL);
    assert_int_equal(lbt_wait(t->tail), 128 + SIGKILL);
    int now = fx_sentinel_ask(t->s, 0);
    printf("  killed %lld ms after the master; promoted already: %s\n",
           (long long)(lbt_now_ms() - dead_at), now >= 0 && now != old ? "yes" : "no");
    t->tail = spawn_tail(t);
    if (fx_sentinel_wait_promotion(t->s, old, FX_SENT_WAIT_MS) < 0) {
        dump_logs(t);
        fail_msg("no replica was promoted");
    }
    on_master(t);
    wait_all_committed(t);
    stop_ok(t, &t->tail, "tail");
    check_stream(t);
}

struct role_ctx {
    struct fx_sentinel *s;
    int node;
};

static int demoted(void *p)
{
    struct role_ctx *x = p;
    redisContext *c = fx_sentinel_connect(x->s, x->node);
    if (c == NULL)
        return 0;
    redisReply *r = redisCommand(c, "ROLE");
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "slave") == 0;
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* The master does not die but stops answering (SIGSTOP) long enough for the
 * Sentinels to promote the replica; continued, it is a master of its own
 * for a while and acknowledges tail's batches, which it loses when the
 * Sentinels make it a replica; tail, still connected to it, then gets
 * READONLY, goes back to the Sentinels, finds its checkpoint gone back and
 * sends those lines again: every line exactly once. */
static void tail_sentinel_paused_master_demoted(void **state)
{
    struct t *t = *state;
    start_writer(t, "tail_sentinel_paused_master_demoted", 60000);
    t->tail = spawn_tail(t);
    wait_until(t, xlen_at_least, 2000, FX_SENT_WAIT_MS, "entries on the first master");
    int old = t->s->master;
    fx_sentinel_signal(t->s, old, SIGSTOP);
    int n = fx_sentinel_wait_promotion(t->s, old, FX_SENT_WAIT_MS);
    fx_sentinel_signal(t->s, old, SIGCONT);
    if (n < 0) {
        dump_logs(t);
        fail_msg("no replica was promoted");
    }
    assert_writer_running(t);
    struct role_ctx x = {t->s, old};
    if (!lbt_wait_for(demoted, &x, FX_SENT_WAIT_MS)) {
        fx_sentinel_dump(t->s);
        fail_msg("the old master was not made a replica");
    }
    on_master(t);
    wait_all_committed(t);
    stop_ok(t, &t->tail, "tail");
    check_stream(t);
    double regressions =
        mu_metric(t->metrics, "logbridge_checkpoint_regressions_total", "src", t->path, NULL);
    printf("  checkpoint regressions: %g\n", regressions);
    assert_true(regressions >= 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tail_sentinel_master_killed_mid_run, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_sentinel_master_killed_mid_run, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_sentinel_acknowledged_write_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(mirror_sentinel_acknowledged_write_loss, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_sentinel_failover_with_logbridge_killed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(tail_sentinel_paused_master_demoted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, fx_sentinel_group_setup, fx_sentinel_group_teardown);
}
