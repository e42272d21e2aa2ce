/*
 * test_cluster.c - logbridge against a real Redis Cluster (DESIGN.md
 * sections 3, 4, 7 and 9; issue 12): three masters and three replicas,
 * started once for the binary (fx_cluster), and the faults a cluster brings
 * while a writer appends and logbridge follows:
 *  - seed lists, and a stream whose slot is not on the first seed (MOVED);
 *  - the stream's slot resharded to another master and back, again and
 *    again, with kill -9 of logbridge at seeded random points in between;
 *  - a manual migration key by key with pauses, the DLQ absent and present:
 *    the tail must keep committing before the first key moves and after the
 *    last one did (no stall for the whole migration);
 *  - CLUSTER FAILOVER on the replica of the slot's master; kill -9 of the
 *    slot's master (its replica promoted); a replica cut off and stopped
 *    while batches are acknowledged, then the master killed (acknowledged
 *    writes lost: sent again, mirror writes each line once);
 *  - mirror through a reshard and a failover;
 *  - names whose derived keys would not share one slot: exit 2 on a
 *    cluster, fine on a single server;
 *  - logbridge_redis_redirects_total{kind};
 *  - one `logbridge run` with tail and mirror jobs on streams whose slots
 *    are on different masters, a writer per file; parity and status of each
 *    stream asked of a master that owns neither;
 *  - a template {ev}:%{type}: import, then export through the template is
 *    the file's valid lines byte for byte; status lists the streams.
 * Every count is exact: each line number once in the stream, each bad line
 * once in the DLQ, each mirror line once. The test side finds a key's owner
 * through the nodes' own CLUSTER NODES (fx_cluster), never by a cluster
 * client of its own.
 *
 * The seed is printed; LB_TEST_SEED=N repeats a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "fx_cluster.h"
#include "fx_mirror.h"
#include "lbt_prom.h"
#include "lbtest.h"
#include "tail_util.h"

#ifndef WAIT_MS
#define WAIT_MS 60000
#endif
#define BAD_EVERY 97

static struct fx_cluster cl;

/* One test's state. */
struct ct {
    char dir[256];
    char path[320];  /* the file tailed / imported */
    char log[320];   /* logbridge tail's output */
    char mlog[320];  /* mirror's output */
    char mfile[320]; /* the mirror file */
    char metrics[320];
    char url[256]; /* seed list: the masters, the slot's owner last */
    char stream[64], ck[96], dlq[96], mkey[96];
    int slot;
    pid_t tail, mirror, writer, mover;
    /* the writer: lines [from, to) at rate lines/s (0: at once), a bad line
     * after every bad_every-th valid one (0: none), once the file arm exists
     * when arm is set; nbad: the bad lines written so far ("bad 0", ...) */
    long from, to, nbad;
    int bad_every, rate;
    char arm[320];
    uint64_t seed;
    struct lbt_redis single; /* a plain server, for the single-server comparisons */
    struct ct *peer;         /* a second file and stream (run with two jobs): reaped here */
};

static int group_setup(void **state)
{
    (void)state;
    int64_t t0 = lbt_now_ms();
    if (fxcl_start(&cl) != 0) {
        fprintf(stderr, "cluster did not start: %s\n", fxcl_why);
        return -1;
    }
    printf("cluster: 3 masters + 3 replicas ready in %lld ms\n", (long long)(lbt_now_ms() - t0));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fxcl_stop(&cl);
    return 0;
}

static int ct_setup(void **state)
{
    struct ct *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    *state = t;
    if (lbt_mkdtemp(t->dir, sizeof(t->dir)) != 0)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/app.log", t->dir);
    snprintf(t->log, sizeof(t->log), "%s/tail.out", t->dir);
    snprintf(t->mlog, sizeof(t->mlog), "%s/mirror.out", t->dir);
    snprintf(t->mfile, sizeof(t->mfile), "%s/mirror.log", t->dir);
    snprintf(t->metrics, sizeof(t->metrics), "%s/metrics.prom", t->dir);
    return lbt_write_file(t->path, "", 0);
}

static void ct_reap(pid_t *p)
{
    if (*p > 0) {
        kill(*p, SIGKILL);
        lbt_wait(*p);
        *p = 0;
    }
}

static int ct_teardown(void **state)
{
    struct ct *t = *state;
    if (t == NULL)
        return 0;
    ct_reap(&t->mover);
    ct_reap(&t->writer);
    if (t->peer != NULL) {
        ct_reap(&t->peer->writer);
        free(t->peer);
    }
    ct_reap(&t->tail);
    ct_reap(&t->mirror);
    int bad = tu_log_sane(t->log) != 0 || tu_log_sane(t->mlog) != 0;
    if (t->single.pid > 0)
        lbt_redis_stop(&t->single, 1);
    lbt_rmdir(t->dir);
    free(t);
    *state = NULL;
    /* the next test needs six healthy nodes again */
    if (fxcl_restore(&cl) != 0) {
        fprintf(stderr, "the cluster did not recover: %s\n", fxcl_why);
        bad = 1;
    }
    return bad ? -1 : 0;
}

/* Stream {tag}:name, its derived keys and slot; the slot's keys deleted; the
 * seed URL with the slot's owner last. */
static void ct_stream(struct ct *t, const char *tag, const char *name)
{
    snprintf(t->stream, sizeof(t->stream), "{%s}:%s", tag, name);
    snprintf(t->ck, sizeof(t->ck), "logbridge:ckpt:{%s}", tag);
    snprintf(t->dlq, sizeof(t->dlq), "logbridge:dlq:{%s}", tag);
    snprintf(t->mkey, sizeof(t->mkey), "logbridge:mirror:{%s}", tag);
    t->slot = fxcl_keyslot(&cl, t->stream);
    assert_true(t->slot >= 0);
    if (fxcl_flush_slot(&cl, t->slot) != 0)
        fail_msg("flushing slot %d: %s", t->slot, fxcl_why);
    fxcl_seed_url(&cl, t->slot, t->url, sizeof(t->url));
}

/* A master other than m (the lowest index). */
static int other_master(int m)
{
    int ms[FXCL_NODES];
    int n = fxcl_masters(&cl, ms);
    for (int k = 0; k < n; k++)
        if (ms[k] != m)
            return ms[k];
    fail_msg("no master besides node %d", m);
    return -1;
}

/* ---- the writer ----------------------------------------------------------------- */

/* Lines [from, to) (tail_util's numbered lines, random padding) with "bad K"
 * after every bad_every-th (K counts on from t->nbad), written in pieces of
 * random sizes (so that lines are often split between two writes), paced at
 * rate lines/s. The count of bad lines goes to dir/bad.count for the parent
 * when this runs as a child. */
static int writer_main(void *ctx)
{
    struct ct *t = ctx;
    int fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return 1;
    uint64_t rng = t->seed ^ (uint64_t)t->from ^ 0x9e3779b97f4a7c15ULL;
    int64_t t0 = lbt_now_ms();
    char buf[1 << 16];
    size_t n = 0;
    int armed = t->arm[0] == '\0';
    for (long i = t->from; i < t->to; i++) {
        n += tu_line(buf + n, sizeof(buf) - n, 0, i, (int)(tu_rand(&rng) % 60));
        if (armed && t->bad_every > 0 && i % t->bad_every == t->bad_every - 1)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "bad %ld\n", t->nbad++);
        if (n > 2048 || i + 1 == t->to) {
            armed = armed || access(t->arm, F_OK) == 0;
            for (size_t o = 0; o < n;) {
                size_t k = 1 + (size_t)(tu_rand(&rng) % 700);
                if (k > n - o)
                    k = n - o;
                if (tu_write_all(fd, buf + o, k) != 0)
                    return 2;
                o += k;
            }
            n = 0;
            if (t->rate > 0) {
                int64_t due = t0 + (i + 1 - t->from) * 1000 / t->rate;
                int64_t now = lbt_now_ms();
                if (due > now)
                    lbt_sleep_ms((int)(due - now));
            }
        }
    }
    close(fd);
    char cp[400], num[32];
    snprintf(cp, sizeof(cp), "%s/bad.count", t->dir);
    snprintf(num, sizeof(num), "%ld", t->nbad);
    return lbt_write_file(cp, num, strlen(num)) == 0 ? 0 : 3;
}

static void ct_write_now(struct ct *t, long from, long to)
{
    t->from = from;
    t->to = to;
    t->rate = 0;
    assert_int_equal(writer_main(t), 0);
}

static void ct_writer_start(struct ct *t, long from, long to, int rate)
{
    t->from = from;
    t->to = to;
    t->rate = rate;
    t->writer = tu_fork(writer_main, t);
    assert_true(t->writer > 0);
}

/* The writer child ended (0): take its count of bad lines. */
static void ct_writer_reaped(struct ct *t, int code)
{
    assert_int_equal(code, 0);
    t->writer = 0;
    char cp[400];
    snprintf(cp, sizeof(cp), "%s/bad.count", t->dir);
    char *num = lbt_read_file(cp, NULL);
    assert_non_null(num);
    t->nbad = strtol(num, NULL, 10);
    free(num);
}

static void ct_writer_done(struct ct *t)
{
    ct_writer_reaped(t, lbt_wait(t->writer));
}

/* ---- logbridge ------------------------------------------------------------------ */

static pid_t ct_spawn_tail(struct ct *t, int metrics)
{
    const char *args[] = {"tail",     "--redis", t->url,
                          "--stream", t->stream, "--batch",
                          "200",      t->path,   metrics ? "--metrics-file" : NULL,
                          t->metrics, NULL};
    t->tail = lbt_spawn(args, t->log);
    assert_true(t->tail > 0);
    return t->tail;
}

static void ct_stop_tail(struct ct *t)
{
    kill(t->tail, SIGTERM);
    int rc = lbt_wait(t->tail);
    t->tail = 0;
    if (rc != 0) {
        tu_dump(t->log, 4000);
        fail_msg("tail exited %d after SIGTERM", rc);
    }
}

static void ct_spawn_mirror(struct ct *t)
{
    const char *args[] = {"mirror",  "--redis", t->url,   "--stream",
                          t->stream, "--file",  t->mfile, NULL};
    t->mirror = lbt_spawn(args, t->mlog);
    assert_true(t->mirror > 0);
}

static void ct_stop_mirror(struct ct *t)
{
    kill(t->mirror, SIGTERM);
    int rc = lbt_wait(t->mirror);
    t->mirror = 0;
    if (rc != 0) {
        tu_dump(t->mlog, 4000);
        fail_msg("mirror exited %d after SIGTERM", rc);
    }
}

/* The committed offset of the file, read wherever the checkpoint is (also in
 * the middle of a migration); -1 when absent or unreachable. */
static long long ct_off(struct ct *t)
{
    char *v = fxcl_hget_any(&cl, t->ck, t->path);
    long long off = -1;
    const char *p = v ? strstr(v, "\"off\":") : NULL;
    if (p != NULL)
        off = strtoll(p + 6, NULL, 10);
    free(v);
    return off;
}

static long long ct_size(struct ct *t)
{
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    return (long long)st.st_size;
}

struct ct_off_wait {
    struct ct *t;
    long long want;
};

static int ct_off_reached(void *ctx)
{
    struct ct_off_wait *w = ctx;
    return ct_off(w->t) >= w->want;
}

/* Wait until the checkpoint reaches want (fail after ms). */
static void ct_wait_off(struct ct *t, long long want, int ms)
{
    struct ct_off_wait w = {t, want};
    if (!lbt_wait_for(ct_off_reached, &w, ms)) {
        tu_dump(t->log, 4000);
        fail_msg("checkpoint of %s at %lld, waited for %lld", t->path, ct_off(t), want);
    }
}

/* Everything written so far is committed. */
static void ct_wait_all(struct ct *t)
{
    ct_wait_off(t, ct_size(t), WAIT_MS);
}

/* Every valid line in [0, valid) exactly once in the stream, in order; every
 * bad line exactly once in the DLQ, in order: asked of the slot's owner. */
static void ct_check_exact(struct ct *t, long valid)
{
    redisContext *c = fxcl_owner_conn(&cl, t->stream);
    if (c == NULL)
        fail_msg("no owner of %s: %s", t->stream, fxcl_why);
    char why[1024];
    if (tu_check_seq(c, t->stream, t->path, valid, 1, why, sizeof(why)) != 0) {
        tu_dump(t->log, 4000);
        redisFree(c);
        fail_msg("%s: %s", t->stream, why);
    }
    struct lbt_entry *e;
    long ne = lbt_xrange_all(c, t->dlq, &e);
    long want = t->nbad;
    if (ne != want) {
        tu_dump(t->log, 4000);
        lbt_entries_free(e, ne);
        redisFree(c);
        fail_msg("%s holds %ld entries, expected %ld", t->dlq, ne, want);
    }
    for (long i = 0; i < ne; i++) {
        const char *raw = lbt_field(&e[i], "raw");
        char w[32];
        snprintf(w, sizeof(w), "bad %ld", i);
        if (raw == NULL || strcmp(raw, w) != 0)
            fail_msg("DLQ entry %ld is '%s', expected '%s'", i, raw ? raw : "(none)", w);
    }
    lbt_entries_free(e, ne);
    redisFree(c);
}

/* The sum of the samples of a family in a metrics file, -1 when none. */
static double ct_metric_sum(const char *path, const char *name)
{
    char why[600];
    double v = lbt_prom_file_sum(path, name, why, sizeof(why));
    if (v < -1)
        fail_msg("%s", why);
    return v;
}

/* ---- mirror checks ----------------------------------------------------------- */

struct ct_mirror_wait {
    struct ct *t;
    char last[64];
};

/* The mirror's checkpoint names the stream's last entry. */
static int ct_mirror_caught_up(void *ctx)
{
    struct ct_mirror_wait *w = ctx;
    char *v = fxcl_hget_any(&cl, w->t->mkey, w->t->mfile);
    int ok = 0;
    if (v != NULL) {
        cJSON *j = cJSON_Parse(v);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        ok = cJSON_IsString(id) && strcmp(id->valuestring, w->last) == 0;
        cJSON_Delete(j);
        free(v);
    }
    return ok;
}

static void ct_wait_mirror(struct ct *t)
{
    struct ct_mirror_wait w = {t, ""};
    redisContext *c = fxcl_owner_conn(&cl, t->stream);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", t->stream);
    assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    snprintf(w.last, sizeof(w.last), "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    redisFree(c);
    if (!lbt_wait_for(ct_mirror_caught_up, &w, WAIT_MS)) {
        tu_dump(t->mlog, 4000);
        fail_msg("mirror did not reach %s", w.last);
    }
}

/* The mirror file holds every valid line of the source file exactly once,
 * in order: the source without its bad lines, byte for byte. */
static void ct_check_mirror(struct ct *t)
{
    size_t n;
    char *src = lbt_read_file(t->path, &n);
    assert_non_null(src);
    char *want = malloc(n + 1);
    size_t wn = 0;
    for (char *l = src; l < src + n;) {
        char *e = memchr(l, '\n', (size_t)(src + n - l));
        size_t len = e ? (size_t)(e - l) + 1 : (size_t)(src + n - l);
        if (strncmp(l, "bad ", 4) != 0) {
            memcpy(want + wn, l, len);
            wn += len;
        }
        l += len;
    }
    want[wn] = '\0';
    size_t gn = 0;
    char *got = lbt_read_file(t->mfile, &gn);
    if (got == NULL)
        got = strdup("");
    size_t d = 0;
    while (d < gn && d < wn && got[d] == want[d])
        d++;
    char msg[400] = "";
    if (gn != wn || d < wn) {
        /* the line where they part, both ways */
        size_t ls = d;
        while (ls > 0 && want[ls - 1] != '\n')
            ls--;
        snprintf(msg, sizeof(msg),
                 "%s: %zu bytes, expected %zu; from byte %zu: got '%.60s' want '%.60s'", t->mfile,
                 gn, wn, ls, ls < gn ? got + ls : "", ls < wn ? want + ls : "");
        tu_dump(t->mlog, 6000);
    }
    free(got);
    free(want);
    free(src);
    if (msg[0] != '\0')
        fail_msg("%s", msg);
}

/* ---- a. import and tail through a seed list ---------------------------------------- */

static void cluster_import_and_tail_through_a_seed_list(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_import_and_tail_through_a_seed_list");
    t->bad_every = BAD_EVERY;
    ct_stream(t, "app", "events");
    int owner = fxcl_owner(&cl, t->slot);
    assert_true(owner >= 0);
    /* the slot's master is a seed, but not the first: the first command
     * meets MOVED */
    int first = 0;
    char last[64];
    assert_int_equal(sscanf(t->url, "redis://127.0.0.1:%d,", &first), 1);
    assert_int_not_equal(first, cl.n[owner].port);
    snprintf(last, sizeof(last), ",127.0.0.1:%d", cl.n[owner].port);
    assert_string_equal(t->url + strlen(t->url) - strlen(last), last);
    ct_write_now(t, 0, 4000);
    const char *args[] = {"import",  "--redis", t->url,  "--stream", t->stream,
                          "--batch", "200",     t->path, NULL};
    char err[8192];
    int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("import exited %d: %s", rc, err);
    assert_int_equal(tu_text_sane(err), 0);
    ct_check_exact(t, 4000);
    /* tail takes over at the import's byte and follows what is appended */
    ct_spawn_tail(t, 0);
    ct_write_now(t, 4000, 8000);
    ct_wait_all(t);
    ct_stop_tail(t);
    ct_check_exact(t, 8000);
}

/* ---- g. the redirect metric ------------------------------------------------------- */

/* Each reshard of the slot under a running tail makes its next batch meet
 * MOVED: counted in logbridge_redis_redirects_total{kind="moved"}. (A job
 * that starts routes by CLUSTER SHARDS to the slot's master, so a seed that
 * does not hold the slot need not cause a MOVED: only a moved slot must.) */
static void cluster_redirect_metric_counts_moved(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_redirect_metric_counts_moved");
    ct_stream(t, FXCL_SLOT0_TAG, "metric");
    ct_spawn_tail(t, 1);
    ct_write_now(t, 0, 500);
    ct_wait_all(t);
    int home = fxcl_owner(&cl, t->slot);
    if (fxcl_reshard_slot(&cl, t->slot, other_master(home)) != 0)
        fail_msg("reshard: %s", fxcl_why);
    ct_write_now(t, 500, 1000);
    ct_wait_all(t);
    if (fxcl_reshard_slot(&cl, t->slot, home) != 0)
        fail_msg("reshard back: %s", fxcl_why);
    ct_write_now(t, 1000, 1500);
    ct_wait_all(t);
    ct_stop_tail(t);
    ct_check_exact(t, 1500);
    double moved = mu_metric(t->metrics, "logbridge_redis_redirects_total", "kind", "moved", NULL);
    double ask = mu_metric(t->metrics, "logbridge_redis_redirects_total", "kind", "ask", NULL);
    if (!(moved >= 2) || ask < 0)
        fail_msg("logbridge_redis_redirects_total: moved %g (expected >= 2 after two reshards), "
                 "ask %g",
                 moved, ask);
}

/* ---- f. names whose keys would cross slots ----------------------------------------- */

static void cluster_refuses_names_whose_keys_cross_slots(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_refuses_names_whose_keys_cross_slots");
    ct_write_now(t, 0, 200);
    assert_int_equal(lbt_redis_start(&t->single, 0), 0);
    char seeds[256], plain[64];
    fxcl_seed_url(&cl, -1, seeds, sizeof(seeds));
    fxcl_node_url(&cl, fxcl_owner(&cl, 0), plain, sizeof(plain));
    /* a template without a hash tag, and a name whose first tag is empty
     * (Redis hashes the whole name, while "{a{}" would tag the keys "a{") */
    const char *names[] = {"events:%{type}", "a{}b{c}"};
    char err[8192];
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        const char *urls[] = {seeds, plain};
        for (size_t u = 0; u < 2; u++) {
            const char *args[] = {"import", "--redis", urls[u], "--stream",
                                  names[k], t->path,   NULL};
            int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
            if (rc != 2 || strstr(err, names[k]) == NULL)
                fail_msg("import --stream '%s' on the cluster (%s) exited %d, expected 2 "
                         "naming it: %s",
                         names[k], urls[u], rc, err);
        }
        /* the same name works on a single server */
        const char *args[] = {"import", "--redis", t->single.url, "--stream",
                              names[k], t->path,   NULL};
        int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
        if (rc != 0)
            fail_msg("import --stream '%s' on a single server exited %d: %s", names[k], rc, err);
    }
    redisContext *s = lbt_connect(&t->single);
    assert_non_null(s);
    assert_int_equal(lbt_xlen(s, "events:g0"), 200);
    assert_int_equal(lbt_xlen(s, "a{}b{c}"), 200);
    redisFree(s);
    /* nothing was written on the cluster: no key of those names anywhere */
    for (int i = 0; i < FXCL_NODES; i++) {
        redisContext *c = fxcl_connect(&cl, i);
        assert_non_null(c);
        redisReply *r = redisCommand(c, "KEYS *b{c}*");
        assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 0);
        freeReplyObject(r);
        r = redisCommand(c, "KEYS events:*");
        assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY);
        assert_int_equal(r->elements, 0);
        freeReplyObject(r);
        redisFree(c);
    }
    /* a template with a hash tag is fine on the cluster: every stream it
     * makes is in the tag's slot */
    assert_int_equal(lbt_write_file(t->path, "", 0), 0);
    assert_int_equal(tu_append_lines(t->path, 0, 0, 300, 10), 0);
    assert_int_equal(tu_append_lines(t->path, 1, 0, 200, 10), 0);
    fxcl_flush_slot(&cl, fxcl_keyslot(&cl, "{ev}"));
    const char *args[] = {"import", "--redis", seeds, "--stream", "{ev}:%{type}", t->path, NULL};
    int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("import --stream '{ev}:%%{type}' on the cluster exited %d: %s", rc, err);
    redisContext *c = fxcl_owner_conn(&cl, "{ev}");
    assert_non_null(c);
    char why[1024];
    if (tu_check_seq(c, "{ev}:g0", t->path, 300, 1, why, sizeof(why)) != 0 ||
        tu_check_seq(c, "{ev}:g1", t->path, 200, 1, why, sizeof(why)) != 0)
        fail_msg("{ev}:%%{type}: %s", why);
    redisFree(c);
}

/* ---- b. reshards both ways under kill -9 ------------------------------------------ */

/* The stream's slot (0) to another master and back, `moves` times, at
 * random pauses. Runs in a child. */
struct mover {
    struct ct *t;
    int moves;
};

static struct mover mover_arg;

static int mover_main(void *ctx)
{
    struct mover *m = ctx;
    uint64_t rng = m->t->seed ^ 0x5bd1e995ULL;
    int home = fxcl_owner(&cl, m->t->slot);
    int ms[FXCL_NODES];
    int nm = fxcl_masters(&cl, ms);
    if (home < 0 || nm < 2) {
        fprintf(stderr, "mover: %s\n", fxcl_why);
        return 1;
    }
    for (int k = 0; k < m->moves; k++) {
        int to;
        do
            to = ms[tu_rand(&rng) % (uint64_t)nm];
        while (to == home);
        int there = fxcl_reshard_slot(&cl, m->t->slot, to);
        lbt_sleep_ms(150 + (int)(tu_rand(&rng) % 500));
        if (there != 0 || fxcl_reshard_slot(&cl, m->t->slot, home) != 0) {
            fprintf(stderr, "mover: move %d: %s\n", k, fxcl_why);
            return 2;
        }
        lbt_sleep_ms(150 + (int)(tu_rand(&rng) % 500));
    }
    return 0;
}

static void cluster_tail_exactly_once_across_reshards_and_kill9(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_tail_exactly_once_across_reshards_and_kill9");
    uint64_t rng = t->seed;
    t->bad_every = BAD_EVERY;
    ct_stream(t, FXCL_SLOT0_TAG, "b");
    assert_int_equal(t->slot, 0);
    const long valid = 20000;
    ct_writer_start(t, 0, valid, 2000);
    mover_arg.t = t;
    mover_arg.moves = 6;
    t->mover = tu_fork(mover_main, &mover_arg);
    assert_true(t->mover > 0);
    int rounds = 0, code, writer_done = 0, mover_done = 0;
    while (rounds < 10 || !writer_done || !mover_done) {
        ct_spawn_tail(t, 0);
        lbt_sleep_ms(50 + (int)(tu_rand(&rng) % 700));
        kill(t->tail, SIGKILL);
        assert_int_equal(lbt_wait(t->tail), 128 + SIGKILL);
        t->tail = 0;
        rounds++;
        if (!writer_done && tu_try_wait(t->writer, &code)) {
            writer_done = 1;
            ct_writer_reaped(t, code);
        }
        if (!mover_done && tu_try_wait(t->mover, &code)) {
            mover_done = 1;
            t->mover = 0;
            assert_int_equal(code, 0);
        }
    }
    printf("cluster reshards: %d kill rounds, %d slot moves\n", rounds, 2 * mover_arg.moves);
    const char *args[] = {"tail",    "--redis", t->url,  "--stream",
                          t->stream, "--once",  t->path, NULL};
    char err[8192];
    int rc = lbt_run(args, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("tail --once exited %d: %s", rc, err);
    ct_wait_all(t);
    ct_check_exact(t, valid);
}

/* ---- c. a manual migration with pauses ---------------------------------------- */

/* Progress of the checkpoint as sampled during the migration. */
struct ct_prog {
    struct ct *t;
    long long off;
    int64_t last_change, max_gap;
};

static void prog_sample(struct ct_prog *p)
{
    long long off = ct_off(p->t);
    int64_t now = lbt_now_ms();
    if (off > p->off) {
        if (now - p->last_change > p->max_gap)
            p->max_gap = now - p->last_change;
        p->off = off;
        p->last_change = now;
    }
}

/* Sample for ms (the pause between two keys of the migration). */
static void prog_for(struct ct_prog *p, int ms)
{
    int64_t end = lbt_now_ms() + ms;
    while (lbt_now_ms() < end) {
        prog_sample(p);
        lbt_sleep_ms(20);
    }
}

/* Sample until the checkpoint passes base; 1 when it did within ms. */
static int prog_passes(struct ct_prog *p, long long base, int ms)
{
    int64_t end = lbt_now_ms() + ms;
    for (;;) {
        prog_sample(p);
        if (p->off > base)
            return 1;
        if (lbt_now_ms() >= end)
            return 0;
        lbt_sleep_ms(20);
    }
}

/* arm: bad lines only from the start of the migration on (the DLQ is absent
 * when it starts, unless logbridge made it beforehand) */
static void migration_case(struct ct *t, const char *tag, int bad_every, int arm)
{
    t->bad_every = bad_every;
    if (arm)
        snprintf(t->arm, sizeof(t->arm), "%s/arm", t->dir);
    ct_stream(t, tag, "events");
    int from = fxcl_owner(&cl, t->slot);
    assert_true(from >= 0);
    int to = other_master(from);
    const long valid = 30000;
    unlink(t->metrics);
    ct_spawn_tail(t, 1);
    ct_writer_start(t, 0, valid, 3000);
    ct_wait_off(t, 1, WAIT_MS);
    if (bad_every > 0 && !arm) {
        /* the DLQ exists before the migration starts */
        redisContext *c = fxcl_owner_conn(&cl, t->dlq);
        assert_non_null(c);
        assert_true(tu_wait_xlen(c, t->dlq, 1, WAIT_MS));
        redisFree(c);
    }
    struct ct_prog p = {t, ct_off(t), 0, 0};
    if (fxcl_migrate_begin(&cl, t->slot, from, to) != 0)
        fail_msg("migration: %s", fxcl_why);
    if (arm)
        assert_int_equal(lbt_write_file(t->arm, "", 0), 0);
    int64_t begin = lbt_now_ms();
    p.last_change = begin;
    /* a batch already in flight may land after MIGRATING: look past it */
    prog_for(&p, 300);
    int before = prog_passes(&p, p.off, 4000);
    int64_t first_key = lbt_now_ms();
    char key[512];
    int r, keys = 0;
    while ((r = fxcl_migrate_key(&cl, t->slot, from, to, key, sizeof(key))) == 1) {
        keys++;
        prog_for(&p, 1000);
    }
    if (r < 0)
        fail_msg("migration: %s", fxcl_why);
    /* every key is on the target, the slot still MIGRATING: ASK */
    int64_t last_key = lbt_now_ms();
    int after = prog_passes(&p, p.off, 5000);
    if (fxcl_migrate_end(&cl, t->slot, from, to) != 0)
        fail_msg("migration end: %s", fxcl_why);
    int64_t end = lbt_now_ms();
    if (end - p.last_change > p.max_gap)
        p.max_gap = end - p.last_change;
    printf("%s: migration of %d keys in %lld ms (first key after %lld ms, split for %lld ms); "
           "longest stall %lld ms\n",
           tag, keys, (long long)(end - begin), (long long)(first_key - begin),
           (long long)(last_key - first_key), (long long)p.max_gap);
    if (!before || !after || p.max_gap >= end - begin) {
        tu_dump(t->log, 3000);
        fail_msg("the tail stalled during the migration: commits before the first key moved: %s, "
                 "after the last key moved: %s; longest stall %lld ms of %lld",
                 before ? "yes" : "NO", after ? "yes" : "NO", (long long)p.max_gap,
                 (long long)(end - begin));
    }
    ct_writer_done(t);
    ct_wait_all(t);
    ct_stop_tail(t);
    ct_check_exact(t, valid);
    assert_true(bad_every == 0 || t->nbad > 0);
    double ask = mu_metric(t->metrics, "logbridge_redis_redirects_total", "kind", "ask", NULL);
    if (!(ask > 0))
        fail_msg("logbridge_redis_redirects_total{kind=\"ask\"} = %g after a migration", ask);
    /* and back, in one go, so that the next test finds the slot home */
    if (fxcl_move_slot(&cl, t->slot, from, 0) != 0 || fxcl_wait_healthy(&cl, FXCL_WAIT_MS) != 0)
        fail_msg("moving the slot back: %s", fxcl_why);
}

static void cluster_manual_migration_without_dlq_keeps_committing(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_manual_migration_without_dlq_keeps_committing");
    migration_case(t, "mig0", 0, 0);
}

static void cluster_manual_migration_with_dlq_keeps_committing(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_manual_migration_with_dlq_keeps_committing");
    migration_case(t, "mig1", BAD_EVERY, 0);
}

/* The first bad lines come while the slot migrates: the batch that carries
 * them names the DLQ, which must exist by then (DESIGN.md section 7: the
 * keys logbridge owns are made before its first batch). */
static void cluster_manual_migration_first_bad_line_during_it_keeps_committing(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_manual_migration_first_bad_line_during_it_keeps_committing");
    migration_case(t, "mig2", BAD_EVERY, 1);
}

/* ---- e. mirror through a reshard and a failover ------------------------------- */

static void cluster_mirror_exactly_once_through_reshard_and_failover(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_mirror_exactly_once_through_reshard_and_failover");
    t->bad_every = BAD_EVERY;
    ct_stream(t, FXCL_SLOT0_TAG, "e");
    assert_int_equal(t->slot, 0);
    const long valid = 15000;
    ct_spawn_tail(t, 0);
    ct_spawn_mirror(t);
    ct_writer_start(t, 0, valid, 2500);
    ct_wait_off(t, 1, WAIT_MS);
    int home = fxcl_owner(&cl, t->slot);
    if (fxcl_reshard_slot(&cl, t->slot, other_master(home)) != 0)
        fail_msg("reshard: %s", fxcl_why);
    lbt_sleep_ms(500); /* pacing: let entries flow on the new master */
    if (fxcl_reshard_slot(&cl, t->slot, home) != 0)
        fail_msg("reshard back: %s", fxcl_why);
    int r = fxcl_replica_of(&cl, home);
    assert_true(r >= 0);
    if (fxcl_failover(&cl, r) != 0)
        fail_msg("failover: %s", fxcl_why);
    ct_writer_done(t);
    ct_wait_all(t);
    ct_wait_mirror(t);
    ct_stop_tail(t);
    ct_stop_mirror(t);
    ct_check_exact(t, valid);
    ct_check_mirror(t);
}

/* ---- d. failover and kill -9 of the slot's master ------------------------------ */

static void cluster_failover_of_the_slots_master_exactly_once(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_failover_of_the_slots_master_exactly_once");
    t->bad_every = BAD_EVERY;
    ct_stream(t, "fo", "events");
    const long valid = 15000;
    ct_spawn_tail(t, 0);
    ct_writer_start(t, 0, valid, 3000);
    ct_wait_off(t, 1, WAIT_MS);
    int m = fxcl_owner(&cl, t->slot);
    int r = fxcl_replica_of(&cl, m);
    assert_true(m >= 0 && r >= 0);
    if (fxcl_failover(&cl, r) != 0)
        fail_msg("failover: %s", fxcl_why);
    assert_int_equal(fxcl_owner(&cl, t->slot), r);
    ct_writer_done(t);
    ct_wait_all(t);
    ct_stop_tail(t);
    ct_check_exact(t, valid);
}

static void cluster_kill9_of_the_slots_master_exactly_once(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_kill9_of_the_slots_master_exactly_once");
    t->bad_every = BAD_EVERY;
    ct_stream(t, "kill", "events");
    const long valid = 20000;
    ct_spawn_tail(t, 0);
    ct_writer_start(t, 0, valid, 3000);
    ct_wait_off(t, 1, WAIT_MS);
    int m = fxcl_owner(&cl, t->slot);
    int r = fxcl_replica_of(&cl, m);
    assert_true(m >= 0 && r >= 0);
    int64_t t0 = lbt_now_ms();
    fxcl_kill(&cl, m);
    if (fxcl_wait_owner(&cl, t->slot, r, FXCL_WAIT_MS) != 0)
        fail_msg("replica %d not promoted: %s", r, fxcl_why);
    printf("kill -9 of master %d: replica %d promoted after %lld ms\n", m, r,
           (long long)(lbt_now_ms() - t0));
    /* the killed master comes back empty, as a replica of the new one */
    if (fxcl_revive(&cl, m) != 0)
        fail_msg("revive: %s", fxcl_why);
    assert_false(fxcl_is_master(&cl, m));
    ct_writer_done(t);
    ct_wait_all(t);
    ct_stop_tail(t);
    ct_check_exact(t, valid);
}

/* The line number of the last entry of the stream on node i. */
static long ct_last_seq(struct ct *t, int i)
{
    redisContext *c = fxcl_connect(&cl, i);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", t->stream);
    assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    redisReply *f = r->element[0]->element[1];
    long seq = -1;
    for (size_t k = 0; k + 1 < f->elements; k += 2)
        if (strcmp(f->element[k]->str, "data") == 0)
            seq = strtol(f->element[k + 1]->str, NULL, 10);
    freeReplyObject(r);
    redisFree(c);
    assert_true(seq >= 0);
    return seq;
}

/* The replica cut off (its link killed, then SIGSTOPped) while batches are
 * acknowledged by the master; the master killed; the replica resumed and
 * promoted without those batches, which the mirror has already written:
 * entries and checkpoints are lost together, the tail sends the lines again
 * (a counted regression), the mirror writes each line once. */
static void cluster_acknowledged_writes_lost_in_failover_exactly_once(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_acknowledged_writes_lost_in_failover_exactly_once");
    t->bad_every = BAD_EVERY;
    ct_stream(t, "lost", "events");
    const long valid = 15000;
    unlink(t->metrics);
    ct_spawn_tail(t, 1);
    ct_spawn_mirror(t);
    ct_writer_start(t, 0, valid, 2500);
    ct_wait_off(t, 1, WAIT_MS);
    int m = fxcl_owner(&cl, t->slot);
    int r = fxcl_replica_of(&cl, m);
    assert_true(m >= 0 && r >= 0);
    assert_int_equal(fxcl_pause_node(&cl, r), 0);
    redisContext *mc = fxcl_connect(&cl, m);
    assert_non_null(mc);
    redisReply *k = redisCommand(mc, "CLIENT KILL TYPE replica");
    assert_true(k != NULL && k->type == REDIS_REPLY_INTEGER && k->integer == 1);
    freeReplyObject(k);
    redisFree(mc);
    /* batches acknowledged that the replica will never see */
    long long cut = ct_off(t);
    ct_wait_off(t, cut + 1, 10000);
    /* and the mirror has written lines of those batches: the hard case */
    long seq = ct_last_seq(t, m);
    char needle[64];
    snprintf(needle, sizeof(needle), "|g0|%ld ", seq);
    if (!tu_wait_log(t->mfile, needle, 10000)) {
        tu_dump(t->mlog, 3000);
        fail_msg("the mirror did not write line %ld", seq);
    }
    long long at_kill = ct_off(t);
    fxcl_kill(&cl, m);
    assert_int_equal(fxcl_resume_node(&cl, r), 0);
    if (fxcl_wait_owner(&cl, t->slot, r, FXCL_WAIT_MS) != 0)
        fail_msg("replica %d not promoted: %s", r, fxcl_why);
    /* (the tail may already be sending the lost lines again) */
    printf("lost writes: checkpoint %lld at the cut, %lld at the kill, %lld on the new master\n",
           cut, at_kill, ct_off(t));
    if (fxcl_revive(&cl, m) != 0)
        fail_msg("revive: %s", fxcl_why);
    ct_writer_done(t);
    ct_wait_all(t);
    ct_wait_mirror(t);
    ct_stop_tail(t);
    ct_stop_mirror(t);
    ct_check_exact(t, valid);
    double reg = ct_metric_sum(t->metrics, "logbridge_checkpoint_regressions_total");
    if (!(reg > 0))
        fail_msg("logbridge_checkpoint_regressions_total = %g after losing the batches past %lld",
                 reg, cut);
    ct_check_mirror(t);
}

/* ---- h. run with jobs on different masters; parity, status, export ----------- */

/* A hash tag "<prefix>N" (the first N) whose slot master m owns. */
static void ct_tag_on(int m, const char *prefix, char *out, size_t cap)
{
    for (int k = 0; k < 1000; k++) {
        char key[64];
        snprintf(out, cap, "%s%d", prefix, k);
        snprintf(key, sizeof(key), "{%s}", out);
        int slot = fxcl_keyslot(&cl, key);
        if (slot >= 0 && fxcl_owner(&cl, slot) == m)
            return;
    }
    fail_msg("no tag %s<N> on master %d: %s", prefix, m, fxcl_why);
}

/* A master that owns neither slot a nor slot b (-1: none): a URL to it
 * makes every command of a job on those slots meet MOVED first. */
static int ct_master_besides(int a, int b)
{
    int ms[FXCL_NODES];
    int n = fxcl_masters(&cl, ms);
    for (int k = 0; k < n; k++)
        if (ms[k] != fxcl_owner(&cl, a) && ms[k] != fxcl_owner(&cl, b))
            return ms[k];
    return -1;
}

/* The ID of the last entry of stream (on its slot's owner). */
static void ct_last_id(const char *stream, char *out, size_t cap)
{
    redisContext *c = fxcl_owner_conn(&cl, stream);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", stream);
    assert_true(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1);
    snprintf(out, cap, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    redisFree(c);
}

/* logbridge args..., which must exit want_rc; its stdout as JSON. */
static cJSON *ct_json_of(const char *const *args, int want_rc)
{
    static char out[1 << 16];
    char err[8192];
    int rc = lbt_run(args, out, sizeof(out), err, sizeof(err), NULL, 0);
    if (rc != want_rc)
        fail_msg("logbridge %s exited %d, expected %d: %s\n%.2000s", args[0], rc, want_rc, err,
                 out);
    cJSON *j = cJSON_Parse(out);
    if (j == NULL)
        fail_msg("logbridge %s: not JSON: %.2000s", args[0], out);
    return j;
}

static double ct_jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v))
        fail_msg("JSON key %s is not a number", k);
    return v->valuedouble;
}

static const char *ct_jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsString(v))
        fail_msg("JSON key %s is not a string", k);
    return v->valuestring;
}

/* The one element of array k of o. */
static const cJSON *ct_jonly(const cJSON *o, const char *k)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 1)
        fail_msg("JSON key %s is not an array of one element", k);
    return cJSON_GetArrayItem(a, 0);
}

/* parity of t->path with t->stream, asked through url: EQUAL, every valid
 * line matched, every bad line counted. */
static void ct_check_parity(struct ct *t, const char *url, long valid)
{
    const char *args[] = {"parity",   "--redis", url,     "--stream", t->stream,
                          "--report", "json",    t->path, NULL};
    cJSON *j = ct_json_of(args, 0);
    const cJSON *eq = cJSON_GetObjectItemCaseSensitive(j, "equal");
    if (!cJSON_IsTrue(eq) || ct_jnum(j, "matched") != valid ||
        ct_jnum(j, "stream_entries") != valid || ct_jnum(j, "file_lines") != valid ||
        ct_jnum(j, "bad_lines") != t->nbad || ct_jnum(j, "missing_in_stream") != 0 ||
        ct_jnum(j, "extra_in_stream") != 0) {
        char *txt = cJSON_PrintUnformatted(j);
        fail_msg("parity of %s with %s through %s: %.1500s (expected equal, %ld matched, %ld bad)",
                 t->path, t->stream, url, txt, valid, t->nbad);
    }
    cJSON_Delete(j);
}

/* status of t->stream, asked through url: its length and last ID, the file's
 * checkpoint at its end (every line, no lag), the mirror file (when mirror
 * is set) at the last ID with nothing behind. */
static void ct_check_status(struct ct *t, const char *url, long valid, int mirror)
{
    const char *args[] = {"status", "--redis", url, "--stream", t->stream, "--json", NULL};
    cJSON *j = ct_json_of(args, 0);
    char last[64];
    ct_last_id(t->stream, last, sizeof(last));
    char *txt = cJSON_PrintUnformatted(j);
    assert_non_null(txt);
    const cJSON *s = ct_jonly(j, "sources");
    if (strcmp(ct_jstr(j, "stream"), t->stream) != 0 || ct_jnum(j, "length") != valid ||
        strcmp(ct_jstr(j, "last_id"), last) != 0 || strcmp(ct_jstr(s, "src"), t->path) != 0 ||
        ct_jnum(s, "offset") != lbt_file_size(t->path) || ct_jnum(s, "line") != valid + t->nbad ||
        strcmp(ct_jstr(s, "id"), last) != 0 || ct_jnum(s, "size") != lbt_file_size(t->path) ||
        ct_jnum(s, "lag_bytes") != 0)
        fail_msg("status of %s through %s: %.1500s (expected %ld entries, last %s, %s at %lld "
                 "after %ld lines)",
                 t->stream, url, txt, valid, last, t->path, lbt_file_size(t->path), valid + t->nbad);
    if (mirror) {
        const cJSON *m = ct_jonly(j, "mirrors");
        if (strcmp(ct_jstr(m, "file"), t->mfile) != 0 || strcmp(ct_jstr(m, "id"), last) != 0 ||
            ct_jnum(m, "size") != lbt_file_size(t->mfile) || ct_jnum(m, "behind") != 0)
            fail_msg("status of %s through %s: mirror %s: %.1500s (expected at %s, 0 behind)",
                     t->stream, url, t->mfile, txt, last);
    }
    free(txt);
    cJSON_Delete(j);
}

/* One `logbridge run`: a tail job and a mirror job for each of two streams
 * whose slots are on different masters, a writer per file at the same
 * time; every line once in each stream and each mirror file. Then parity
 * and status of each stream, asked of the third master (MOVED for every
 * read). */
static void cluster_run_jobs_on_different_masters_exactly_once(void **state)
{
    struct ct *a = *state;
    a->seed = tu_seed("cluster_run_jobs_on_different_masters_exactly_once");
    a->bad_every = BAD_EVERY;
    struct ct *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    a->peer = b;
    b->seed = a->seed ^ 0xb5ad4eceda1ce2a9ULL;
    b->bad_every = BAD_EVERY;
    snprintf(b->dir, sizeof(b->dir), "%.250s/b", a->dir);
    assert_int_equal(mkdir(b->dir, 0755), 0);
    snprintf(b->path, sizeof(b->path), "%s/app.log", b->dir);
    snprintf(b->mfile, sizeof(b->mfile), "%s/mirror.log", b->dir);
    /* one process: its output holds both jobs of each kind */
    snprintf(b->log, sizeof(b->log), "%s", a->log);
    snprintf(b->mlog, sizeof(b->mlog), "%s", a->log);
    snprintf(a->mlog, sizeof(a->mlog), "%s", a->log);
    assert_int_equal(lbt_write_file(b->path, "", 0), 0);

    int ms[FXCL_NODES];
    assert_int_equal(fxcl_masters(&cl, ms), FXCL_MASTERS);
    char ta[16], tb[16];
    ct_tag_on(ms[0], "ra", ta, sizeof(ta));
    ct_tag_on(ms[1], "rb", tb, sizeof(tb));
    ct_stream(a, ta, "events");
    ct_stream(b, tb, "events");
    int oa = fxcl_owner(&cl, a->slot), ob = fxcl_owner(&cl, b->slot);
    assert_true(oa >= 0 && ob >= 0 && oa != ob);

    char cfg[400];
    snprintf(cfg, sizeof(cfg), "%s/config.json", a->dir);
    char json[4096];
    int n = snprintf(json, sizeof(json),
                     "{\"redis\": \"%s\",\n"
                     " \"tail\": [\n"
                     "  {\"paths\": [\"%s\"], \"stream\": \"%s\", \"batch\": 200},\n"
                     "  {\"paths\": [\"%s\"], \"stream\": \"%s\", \"batch\": 200}],\n"
                     " \"mirror\": [\n"
                     "  {\"stream\": \"%s\", \"file\": \"%s\"},\n"
                     "  {\"stream\": \"%s\", \"file\": \"%s\"}]}\n",
                     a->url, a->path, a->stream, b->path, b->stream, a->stream, a->mfile, b->stream,
                     b->mfile);
    assert_true(n > 0 && (size_t)n < sizeof(json));
    assert_int_equal(lbt_write_file(cfg, json, (size_t)n), 0);
    const char *args[] = {"run", "--config", cfg, NULL};
    a->tail = lbt_spawn(args, a->log);
    assert_true(a->tail > 0);

    const long valid = 10000;
    ct_writer_start(a, 0, valid, 4000);
    ct_writer_start(b, 0, valid, 4000);
    ct_writer_done(a);
    ct_writer_done(b);
    ct_wait_all(a);
    ct_wait_all(b);
    ct_wait_mirror(a);
    ct_wait_mirror(b);
    ct_stop_tail(a); /* SIGTERM: run exits 0 */
    ct_check_exact(a, valid);
    ct_check_exact(b, valid);
    ct_check_mirror(a);
    ct_check_mirror(b);
    assert_true(a->nbad > 0 && b->nbad > 0);

    int third = ct_master_besides(a->slot, b->slot);
    assert_true(third >= 0);
    char url[64];
    fxcl_node_url(&cl, third, url, sizeof(url));
    ct_check_parity(a, url, valid);
    ct_check_parity(b, url, valid);
    ct_check_status(a, url, valid, 1);
    ct_check_status(b, url, valid, 1);
}

/* A template with a hash tag on the cluster: import routes the lines of
 * three types into {ev}:g0..g2 (one slot); export through the template, asked
 * of a master that does not own it, merges them back into the file's valid
 * lines byte for byte; status lists the three and their total. */
static void cluster_template_import_then_export_byte_identical(void **state)
{
    struct ct *t = *state;
    t->seed = tu_seed("cluster_template_import_then_export_byte_identical");
    uint64_t rng = t->seed;
    ct_stream(t, "ev", "g0"); /* the slot of {ev}, flushed; the keys' names */
    snprintf(t->stream, sizeof(t->stream), "{ev}:%%{type}");
    const long valid = 6000;
    long per[3] = {0, 0, 0};
    size_t cap = (size_t)valid * 160, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (long i = 0; i < valid; i++) {
        /* runs of one type, so that a batch holds a few streams' lines */
        int g = (int)((i / (1 + (long)(tu_rand(&rng) % 4))) % 3);
        per[g]++;
        n += tu_line(buf + n, cap - n, g, i, (int)(tu_rand(&rng) % 60));
        if (i % BAD_EVERY == BAD_EVERY - 1)
            n += (size_t)snprintf(buf + n, cap - n, "bad %ld\n", t->nbad++);
    }
    assert_int_equal(lbt_write_file(t->path, buf, n), 0);
    free(buf);

    char err[8192];
    const char *imp[] = {"import",  "--redis", t->url,  "--stream", t->stream,
                         "--batch", "200",     t->path, NULL};
    int rc = lbt_run(imp, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("import --stream '%s' exited %d: %s", t->stream, rc, err);
    redisContext *c = fxcl_owner_conn(&cl, "{ev}");
    assert_non_null(c);
    for (int g = 0; g < 3; g++) {
        char s[32];
        snprintf(s, sizeof(s), "{ev}:g%d", g);
        if (lbt_xlen(c, s) != per[g])
            fail_msg("%s holds %lld entries, expected %ld", s, lbt_xlen(c, s), per[g]);
    }
    char why[512];
    if (tu_check_bad(c, t->dlq, t->nbad, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    redisFree(c);

    int other = other_master(fxcl_owner(&cl, t->slot));
    char url[64];
    fxcl_node_url(&cl, other, url, sizeof(url));
    snprintf(t->mfile, sizeof(t->mfile), "%s/export.log", t->dir);
    const char *exp[] = {"export", "--redis", url, "--stream", t->stream, "--file", t->mfile, NULL};
    rc = lbt_run(exp, NULL, 0, err, sizeof(err), NULL, 0);
    if (rc != 0)
        fail_msg("export --stream '%s' through %s exited %d: %s", t->stream, url, rc, err);
    ct_check_mirror(t); /* the file's valid lines, byte for byte */

    const char *st[] = {"status", "--redis", url, "--stream", t->stream, "--json", NULL};
    cJSON *j = ct_json_of(st, 0);
    char *txt = cJSON_PrintUnformatted(j);
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(j, "total");
    const cJSON *streams = cJSON_GetObjectItemCaseSensitive(j, "streams");
    int ok = cJSON_IsObject(tot) && ct_jnum(tot, "streams") == 3 &&
             ct_jnum(tot, "length") == valid && cJSON_GetArraySize(streams) == 3;
    for (int k = 0; ok && k < 3; k++) {
        const cJSON *e = cJSON_GetArrayItem(streams, k);
        const char *name = ct_jstr(e, "stream");
        ok = strncmp(name, "{ev}:g", 6) == 0 && name[6] >= '0' && name[6] <= '2' &&
             name[7] == '\0' && ct_jnum(e, "length") == per[name[6] - '0'];
    }
    if (ok) {
        const cJSON *s = ct_jonly(j, "sources");
        ok = strcmp(ct_jstr(s, "src"), t->path) == 0 &&
             ct_jnum(s, "offset") == lbt_file_size(t->path) &&
             ct_jnum(s, "line") == valid + t->nbad && ct_jnum(s, "lag_bytes") == 0;
    }
    if (!ok)
        fail_msg("status --stream '%s' through %s: %.2000s (expected 3 streams of %ld+%ld+%ld "
                 "entries, %s at its end)",
                 t->stream, url, txt, per[0], per[1], per[2], t->path);
    free(txt);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cluster_import_and_tail_through_a_seed_list, ct_setup,
                                        ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_redirect_metric_counts_moved, ct_setup,
                                        ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_refuses_names_whose_keys_cross_slots, ct_setup,
                                        ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_run_jobs_on_different_masters_exactly_once,
                                        ct_setup, ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_template_import_then_export_byte_identical,
                                        ct_setup, ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_tail_exactly_once_across_reshards_and_kill9,
                                        ct_setup, ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_manual_migration_without_dlq_keeps_committing,
                                        ct_setup, ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_manual_migration_with_dlq_keeps_committing,
                                        ct_setup, ct_teardown),
        cmocka_unit_test_setup_teardown(
            cluster_manual_migration_first_bad_line_during_it_keeps_committing, ct_setup,
            ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_mirror_exactly_once_through_reshard_and_failover,
                                        ct_setup, ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_failover_of_the_slots_master_exactly_once, ct_setup,
                                        ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_kill9_of_the_slots_master_exactly_once, ct_setup,
                                        ct_teardown),
        cmocka_unit_test_setup_teardown(cluster_acknowledged_writes_lost_in_failover_exactly_once,
                                        ct_setup, ct_teardown),
    };
    /* LB_TEST_FILTER=cluster_kill9* runs only the tests it matches */
    const char *filter = getenv("LB_TEST_FILTER");
    if (filter != NULL && *filter)
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
