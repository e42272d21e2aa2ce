/*
 * test_sink.c - bridge/sink.c and bridge/sink_script.lua, the batch: the
 * fast path (MULTI, plain XADDs, EVAL, EXEC) and the script path (EVALSHA)
 * write the same entries; DLQ entries; a template routing one batch to
 * several streams; all or nothing (a failed write undoes the batch); the
 * fence on (dev, ino, off, line) or absence; the "done" list of finished
 * generations in the checkpoint JSON; and the callee refusing what would
 * overflow its fixed arrays (template keys, batches in flight).
 *
 * One redis-server for the whole binary (group setup), flushed before each
 * test. Lines come from an in-memory "file" (lbt_unit.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "feed.h"
#include "lbt_unit.h"
#include "sink.h"
#include "sink_int.h"    /* LB_SINK_COUNT_SCRIPT */
#include "sink_script.h" /* the batch script, to drive it by hand */

static struct lbt_redis srv;
static redisContext *adm;
static struct lb_redis *lr;

#define SRC "/var/log/app.log"

struct sk {
    struct lb_sink_opts so;
    struct lb_sink *k;
    struct lb_feed *f;
    struct lbt_text *t;
    struct lb_error err;
    struct lb_sink_result res;
};

/* script: force the script path (LOGBRIDGE_SINK_MODE=script), as the sink
 * reads it when created. */
static void sk_open(struct sk *s, const char *stream, int json, int id_ts, int script,
                    struct lbt_text *t)
{
    memset(s, 0, sizeof(*s));
    s->so.stream = stream;
    s->so.provenance = 1;
    s->so.json_encoding = json;
    s->so.id_ts = id_ts;
    s->so.batch_max = 100000;
    if (script)
        setenv("LOGBRIDGE_SINK_MODE", "script", 1);
    s->k = lb_sink_create(&s->so, &s->err);
    unsetenv("LOGBRIDGE_SINK_MODE");
    assert_non_null(s->k);
    s->f = lb_feed_create(0, json, 1 << 20, &s->err);
    assert_non_null(s->f);
    s->t = t;
}

static void sk_close(struct sk *s)
{
    lb_feed_destroy(s->f);
    lb_sink_destroy(s->k);
}

/* Queue line i of the text as the committer would (classify, then queue). */
static enum lb_reason sk_line(struct sk *s, size_t i)
{
    struct lb_line l = lbt_text_line(s->t, i);
    struct lb_record rec;
    enum lb_reason why = lb_feed_classify(s->f, &l, &rec);
    assert_int_equal(lb_feed_queue(s->k, why, &rec, &l, i), 0);
    return why;
}

static int sk_commit(struct sk *s, size_t end_line)
{
    return lb_sink_commit(s->k, lr, s->t->end[end_line], end_line, lbt_text_fp, s->t, &s->res,
                          &s->err);
}

/* Calls of a command since CONFIG RESETSTAT. */
static long cmd_calls(const char *name)
{
    redisReply *rep = redisCommand(adm, "INFO commandstats");
    assert_non_null(rep);
    char pat[64];
    snprintf(pat, sizeof(pat), "cmdstat_%s:calls=", name);
    const char *p = strstr(rep->str, pat);
    long n = p != NULL ? strtol(p + strlen(pat), NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}

static long long exists(const char *key)
{
    redisReply *rep = redisCommand(adm, "EXISTS %s", key);
    long long n = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return n;
}

/* The entry's field names, in order, joined by ','. */
static void names_of(const struct lbt_entry *e, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < e->nf; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? "," : "", e->names[i]);
}

static void expect_entry(const struct lbt_entry *e, const char *names, ...)
{
    char got[256];
    names_of(e, got, sizeof(got));
    assert_string_equal(got, names);
    va_list ap;
    va_start(ap, names);
    for (size_t i = 0; i < e->nf; i++)
        assert_string_equal(e->values[i], va_arg(ap, const char *));
    va_end(ap);
}

static char *u64s(uint64_t v)
{
    static char buf[8][24];
    static int n;
    char *b = buf[n++ % 8];
    snprintf(b, 24, "%" PRIu64, v);
    return b;
}

static int group_setup(void **state)
{
    (void)state;
    if (lbt_redis_start(&srv, 0) != 0)
        return -1;
    adm = lbt_connect(&srv);
    lr = lbt_lb_redis(&srv);
    return adm == NULL || lr == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (lr != NULL)
        lb_redis_destroy(lr);
    if (adm != NULL)
        redisFree(adm);
    lbt_redis_stop(&srv, 1);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (lbt_cmd_ok(adm, "FLUSHALL") != 0)
        return -1;
    return lbt_cmd_ok(adm, "CONFIG RESETSTAT");
}

/* ---- the two paths ------------------------------------------------------------------ */

static void same_entries_case(int json)
{
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_std(&t, 0, 4);
    lbt_text_add(&t, "api|2025-06-18T10:00:00.5+02:00|pay|a|b|c");
    lbt_text_add(&t, "no pipes here");
    struct sk fast, script;
    sk_open(&fast, "{f}:s", json, 0, 0, &t);
    sk_open(&script, "{g}:s", json, 0, 1, &t);
    struct sk *both[2] = {&fast, &script};
    for (int p = 0; p < 2; p++) {
        lb_sink_begin(both[p]->k, SRC, 1, 2, "");
        for (size_t i = 1; i <= 6; i++)
            sk_line(both[p], i);
        assert_int_equal(lb_sink_pending(both[p]->k), 6);
        assert_int_equal(lbt_cmd_ok(adm, "CONFIG RESETSTAT"), 0);
        assert_int_equal(sk_commit(both[p], 6), 0);
        assert_int_equal(both[p]->res.written, 5);
        assert_int_equal(both[p]->res.bad, 1);
        assert_int_equal(both[p]->res.ck_off, t.n);
        assert_int_equal(both[p]->res.ck_line, 6);
        /* which path ran: one EXEC with the body (EVAL), or one EVALSHA */
        assert_int_equal(cmd_calls("exec"), p == 0 ? 1 : 0);
        /* the fast path: the length noted, then the batch script */
        assert_int_equal(cmd_calls("eval"), p == 0 ? 2 : 0);
        assert_int_equal(cmd_calls("evalsha"), p == 0 ? 0 : 1);
        assert_int_equal(lb_sink_pending(both[p]->k), 0);
    }
    struct lbt_entry *a = NULL, *b = NULL;
    long na = lbt_xrange_all(adm, "{f}:s", &a), nb = lbt_xrange_all(adm, "{g}:s", &b);
    assert_int_equal(na, 5);
    assert_int_equal(nb, 5);
    for (long i = 0; i < 5; i++) {
        struct lb_line l = lbt_text_line(&t, (size_t)i + 1);
        struct lb_record rec;
        assert_int_equal(lb_pipe_parse(l.p, l.n, &rec), LB_PARSE_OK);
        char role[64], ts[64], type[64], data[128];
        snprintf(role, sizeof(role), "%.*s", (int)rec.role.n, rec.role.p);
        snprintf(ts, sizeof(ts), "%.*s", (int)rec.ts.n, rec.ts.p);
        snprintf(type, sizeof(type), "%.*s", (int)rec.type.n, rec.type.p);
        snprintf(data, sizeof(data), "%.*s", (int)rec.data.n, rec.data.p);
        for (int p = 0; p < 2; p++) {
            const struct lbt_entry *e = p == 0 ? &a[i] : &b[i];
            if (!json) {
                expect_entry(e, "role,timestamp,type,data,src,off", role, ts, type, data, SRC,
                             u64s(l.off));
            } else {
                char want[512];
                snprintf(want, sizeof(want),
                         "{\"role\":\"%s\",\"timestamp\":\"%s\",\"type\":\"%s\",\"data\":\"%s\","
                         "\"src\":\"" SRC "\",\"off\":%" PRIu64 "}",
                         role, ts, type, data, l.off);
                expect_entry(e, "json_payload", want);
            }
        }
    }
    lbt_entries_free(a, na);
    lbt_entries_free(b, nb);
    /* the same DLQ entry and the same checkpoint (but the id) */
    assert_int_equal(lbt_xlen(adm, "logbridge:dlq:{f}"), 1);
    assert_int_equal(lbt_xlen(adm, "logbridge:dlq:{g}"), 1);
    struct lb_ckpt c1, c2;
    assert_int_equal(lbt_ckpt_get(adm, "logbridge:ckpt:{f}", SRC, &c1), 0);
    assert_int_equal(lbt_ckpt_get(adm, "logbridge:ckpt:{g}", SRC, &c2), 0);
    assert_true(c1.present && c2.present);
    assert_int_equal(c1.off, c2.off);
    assert_int_equal(c1.line, 6);
    assert_string_equal(c1.fp, c2.fp);
    sk_close(&fast);
    sk_close(&script);
    lbt_text_free(&t);
}

static void sink_fast_and_script_paths_write_the_same_entries(void **state)
{
    (void)state;
    same_entries_case(0);
}

static void sink_fast_and_script_paths_write_the_same_json_entries(void **state)
{
    (void)state;
    same_entries_case(1);
}

/* ---- DLQ ----------------------------------------------------------------------------- */

/* A DLQ entry: src, off, line, reason, raw (the first bytes, without the
 * '\r' of a CRLF ending), raw_len (the line's real length), on both paths. */
static void dlq_case(int script)
{
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_std(&t, 0, 1);
    lbt_text_add(&t, "garbage");
    char big[301];
    memset(big, 'x', 300);
    big[300] = '\0';
    lbt_text_add(&t, big);
    lbt_text_add(&t, "crlf|bad\r");
    lbt_text_add(&t, "r|not a time|t|d");
    struct sk s;
    sk_open(&s, "{d}:s", 0, 0, script, &t);
    lb_sink_begin(s.k, SRC, 1, 2, "");
    assert_int_equal(sk_line(&s, 1), LB_PARSE_OK);
    assert_int_equal(sk_line(&s, 2), LB_REASON_FIELDS);
    /* line 3 as the reader gives a line longer than --max-line: its first
     * 100 bytes, flagged */
    struct lb_line l = lbt_text_line(&t, 3);
    l.n = 100;
    l.too_long = 1;
    struct lb_record rec;
    enum lb_reason why = lb_feed_classify(s.f, &l, &rec);
    assert_int_equal(why, LB_REASON_TOO_LONG);
    assert_int_equal(lb_feed_queue(s.k, why, &rec, &l, 3), 0);
    assert_int_equal(sk_line(&s, 4), LB_REASON_FIELDS);
    assert_int_equal(sk_line(&s, 5), LB_REASON_TIMESTAMP);
    assert_int_equal(sk_commit(&s, 5), 0);
    assert_int_equal(s.res.written, 1);
    assert_int_equal(s.res.bad, 4);

    struct lbt_entry *e = NULL;
    long n = lbt_xrange_all(adm, "logbridge:dlq:{d}", &e);
    assert_int_equal(n, 4);
    const char *names = "src,off,line,reason,raw,raw_len";
    expect_entry(&e[0], names, SRC, u64s(t.end[1]), "2", "fields", "garbage", "7");
    char first100[101];
    memcpy(first100, big, 100);
    first100[100] = '\0';
    expect_entry(&e[1], names, SRC, u64s(t.end[2]), "3", "too_long", first100, "300");
    expect_entry(&e[2], names, SRC, u64s(t.end[3]), "4", "fields", "crlf|bad", "8");
    expect_entry(&e[3], names, SRC, u64s(t.end[4]), "5", "timestamp", "r|not a time|t|d", "16");
    lbt_entries_free(e, n);
    sk_close(&s);
    lbt_text_free(&t);
}

static void sink_dlq_entries_carry_src_off_line_reason_raw_raw_len(void **state)
{
    (void)state;
    dlq_case(0);
    assert_int_equal(lbt_cmd_ok(adm, "FLUSHALL"), 0);
    dlq_case(1);
}

/* ---- templates ----------------------------------------------------------------------- */

static void sink_template_routes_one_batch_to_several_streams(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_add(&t, "web|2025-06-18T10:00:00Z|a|1");
    lbt_text_add(&t, "web|2025-06-18T10:00:01Z|b|2");
    lbt_text_add(&t, "db|2025-06-18T10:00:02Z|a|3");
    lbt_text_add(&t, "db|2025-06-18T10:00:03Z|c|4");
    struct sk s;
    sk_open(&s, "{t}:%{role}:%{type}", 0, 0, 0, &t);
    lb_sink_begin(s.k, SRC, 1, 2, "");
    for (size_t i = 1; i <= 4; i++)
        sk_line(&s, i);
    assert_int_equal(sk_commit(&s, 4), 0);
    assert_int_equal(s.res.written, 4);
    assert_int_equal(cmd_calls("evalsha"), 1); /* one batch, one round trip */
    assert_int_equal(cmd_calls("exec"), 0);
    const char *keys[] = {"{t}:web:a", "{t}:web:b", "{t}:db:a", "{t}:db:c"};
    for (size_t i = 0; i < 4; i++) {
        struct lbt_entry *e = NULL;
        long n = lbt_xrange_all(adm, keys[i], &e);
        assert_int_equal(n, 1);
        assert_string_equal(lbt_field(&e[0], "off"), u64s(t.end[i]));
        assert_string_equal(lbt_field(&e[0], "src"), SRC);
        lbt_entries_free(e, n);
    }
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(adm, lb_sink_ckpt_key(s.k), SRC, &ck), 0);
    assert_int_equal(ck.line, 4);
    assert_string_equal(ck.id, s.res.last_id);
    sk_close(&s);
    lbt_text_free(&t);
}

/* ---- all or nothing ------------------------------------------------------------------ */

/* Put a checkpoint for SRC that a batch must leave untouched; return it raw. */
static char *seed_ckpt(const struct sk *s)
{
    struct lb_ckpt ck = {.present = 1, .dev = 1, .ino = 2, .off = 0, .line = 0};
    snprintf(ck.fp, sizeof(ck.fp), "cbf29ce484222325");
    snprintf(ck.id, sizeof(ck.id), "1-1");
    assert_int_equal(lbt_ckpt_put(adm, lb_sink_ckpt_key(s->k), SRC, &ck), 0);
    return lbt_ckpt_raw(adm, lb_sink_ckpt_key(s->k), SRC);
}

static void ckpt_unchanged(const struct sk *s, const char *was)
{
    char *now = lbt_ckpt_raw(adm, lb_sink_ckpt_key(s->k), SRC);
    assert_non_null(now);
    assert_string_equal(now, was);
    free(now);
}

/* The script path: a write in the middle of the batch fails (the stream's
 * last possible ID is taken, so --id ts cannot write there): the entries the
 * batch wrote before it (a stream entry and a DLQ entry) are removed again,
 * and the checkpoint stays. */
static void sink_script_path_undoes_the_whole_batch_when_one_write_fails(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_add(&t, "web|2025-06-18T10:00:00Z|a|1");
    lbt_text_add(&t, "garbage");
    lbt_text_add(&t, "web|2025-06-18T10:00:01Z|b|2");
    lbt_text_add(&t, "web|2025-06-18T10:00:02Z|a|3");
    struct sk s;
    sk_open(&s, "{u}:%{type}", 0, 1, 0, &t);
    char *was = seed_ckpt(&s);
    assert_int_equal(lbt_cmd_ok(adm, "XADD {u}:b 18446744073709551615-18446744073709551615 k v"),
                     0);
    lb_sink_begin(s.k, SRC, 1, 2, "1-1");
    for (size_t i = 1; i <= 4; i++)
        sk_line(&s, i);
    assert_int_equal(sk_commit(&s, 4), LB_EREPLY);
    assert_int_equal(s.res.refused, LB_SINK_REFUSED);
    assert_non_null(strstr(s.err.msg, "(line 3, off "));
    assert_int_equal(lbt_xlen(adm, "{u}:a"), 0);
    assert_int_equal(lbt_xlen(adm, "{u}:b"), 1); /* only the entry put there by hand */
    assert_int_equal(exists(lb_sink_dlq_key(s.k)) ? lbt_xlen(adm, lb_sink_dlq_key(s.k)) : 0, 0);
    ckpt_unchanged(&s, was);
    free(was);
    sk_close(&s);
    lbt_text_free(&t);
}

/* One template stream is a string: the batch is refused whole before any
 * write (nothing in any stream, nor the DLQ), the checkpoint stays. */
static void sink_template_stream_of_wrong_type_refuses_the_whole_batch(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_add(&t, "web|2025-06-18T10:00:00Z|a|1");
    lbt_text_add(&t, "web|2025-06-18T10:00:01Z|b|2");
    lbt_text_add(&t, "garbage");
    lbt_text_add(&t, "web|2025-06-18T10:00:02Z|c|3");
    struct sk s;
    sk_open(&s, "{u}:%{type}", 0, 0, 0, &t);
    char *was = seed_ckpt(&s);
    assert_int_equal(lbt_cmd_ok(adm, "SET {u}:c x"), 0);
    lb_sink_begin(s.k, SRC, 1, 2, "1-1");
    for (size_t i = 1; i <= 4; i++)
        sk_line(&s, i);
    assert_int_equal(sk_commit(&s, 4), LB_EREPLY);
    assert_int_equal(s.res.refused, LB_SINK_REFUSED);
    assert_non_null(strstr(s.err.msg, "WRONGTYPE {u}:c"));
    assert_int_equal(exists("{u}:a") + exists("{u}:b") + exists(lb_sink_dlq_key(s.k)), 0);
    ckpt_unchanged(&s, was);
    /* kept for a caller that cannot read the lines again; lands once fixed */
    assert_int_equal(lbt_cmd_ok(adm, "DEL {u}:c"), 0);
    struct lb_ckpt at = {.present = 1, .dev = 1, .ino = 2};
    lb_sink_fence(s.k, &at);
    assert_int_equal(sk_commit(&s, 4), 0);
    assert_int_equal(s.res.written, 3);
    assert_int_equal(s.res.bad, 1);
    assert_int_equal(lbt_xlen(adm, "{u}:a") + lbt_xlen(adm, "{u}:b") + lbt_xlen(adm, "{u}:c"), 3);
    free(was);
    sk_close(&s);
    lbt_text_free(&t);
}

/* The fast path: the plain XADDs ran inside the MULTI before the script
 * found the DLQ key to be a string; the script removes them again. */
static void sink_fast_path_undoes_its_xadds_when_the_batch_fails(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_std(&t, 0, 3);
    lbt_text_add(&t, "garbage");
    struct sk s;
    sk_open(&s, "{v}:s", 0, 0, 0, &t);
    assert_int_equal(lbt_cmd_ok(adm, "XADD {v}:s 1-1 k v"), 0); /* an older entry: kept */
    char *was = seed_ckpt(&s);
    assert_int_equal(lbt_cmd_ok(adm, "SET %s x", lb_sink_dlq_key(s.k)), 0);
    lb_sink_begin(s.k, SRC, 1, 2, "1-1");
    for (size_t i = 1; i <= 4; i++)
        sk_line(&s, i);
    assert_int_equal(lbt_cmd_ok(adm, "CONFIG RESETSTAT"), 0);
    assert_int_equal(sk_commit(&s, 4), LB_EREPLY);
    assert_int_equal(cmd_calls("exec"), 1);
    assert_int_equal(cmd_calls("xadd"), 3); /* they did run */
    assert_non_null(strstr(s.err.msg, "WRONGTYPE"));
    struct lbt_entry *e = NULL;
    long n = lbt_xrange_all(adm, "{v}:s", &e);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].id, "1-1");
    lbt_entries_free(e, n);
    ckpt_unchanged(&s, was);
    free(was);
    sk_close(&s);
    lbt_text_free(&t);
}

/* ---- the fence ---------------------------------------------------------------------- */

/* The checkpoint stands at dev 1, ino 2, off/line of line 2. A batch fenced
 * anywhere else (each of off, line, dev, ino; or "absent") is refused whole
 * with LB_SINK_FENCED; fenced exactly there it lands. (The fast path's
 * XADDs ran in the MULTI and were removed by the script: the stream key may
 * be left behind empty, hence XLEN rather than EXISTS.) */
static void sink_fence_refuses_when_the_checkpoint_stands_elsewhere(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_std(&t, 0, 3);
    struct sk s;
    sk_open(&s, "{w}:s", 0, 0, 0, &t);
    struct lb_ckpt here = {.present = 1, .dev = 1, .ino = 2, .off = t.end[2], .line = 2};
    lbt_text_fp(&t, here.off, here.fp);
    snprintf(here.id, sizeof(here.id), "1-1");
    assert_int_equal(lbt_ckpt_put(adm, lb_sink_ckpt_key(s.k), SRC, &here), 0);
    char *was = lbt_ckpt_raw(adm, lb_sink_ckpt_key(s.k), SRC);
    for (int v = 0; v < 5; v++) {
        struct lb_ckpt at = here;
        if (v == 0)
            at.off++;
        else if (v == 1)
            at.line++;
        else if (v == 2)
            at.dev++;
        else if (v == 3)
            at.ino++;
        else
            at.present = 0;
        lb_sink_begin(s.k, SRC, 1, 2, "1-1");
        lb_sink_fence(s.k, &at);
        sk_line(&s, 3);
        assert_int_equal(sk_commit(&s, 3), LB_EREPLY);
        assert_int_equal(s.res.refused, LB_SINK_FENCED);
        assert_non_null(strstr(s.err.msg, "stands at 1:2:"));
        assert_int_equal(lbt_xlen(adm, "{w}:s"), 0);
        ckpt_unchanged(&s, was);
    }
    lb_sink_begin(s.k, SRC, 1, 2, "1-1");
    lb_sink_fence(s.k, &here);
    sk_line(&s, 3);
    assert_int_equal(sk_commit(&s, 3), 0);
    assert_int_equal(s.res.written, 1);
    assert_int_equal(lbt_xlen(adm, "{w}:s"), 1);

    /* must be absent, but is present (another process began this file) */
    assert_int_equal(lbt_cmd_ok(adm, "DEL {w}:s"), 0);
    struct lb_ckpt none = {.present = 0};
    lb_sink_begin(s.k, SRC, 1, 2, "");
    lb_sink_fence(s.k, &none);
    sk_line(&s, 1);
    assert_int_equal(sk_commit(&s, 1), LB_EREPLY);
    assert_int_equal(s.res.refused, LB_SINK_FENCED);
    assert_int_equal(lbt_xlen(adm, "{w}:s"), 0);
    /* and the other way round: present expected, none there */
    assert_int_equal(lbt_cmd_ok(adm, "HDEL %s %s", lb_sink_ckpt_key(s.k), SRC), 0);
    lb_sink_begin(s.k, SRC, 1, 2, "");
    lb_sink_fence(s.k, &here);
    sk_line(&s, 3);
    assert_int_equal(sk_commit(&s, 3), LB_EREPLY);
    assert_int_equal(s.res.refused, LB_SINK_FENCED);
    assert_non_null(strstr(s.err.msg, "stands at - "));
    assert_int_equal(lbt_xlen(adm, "{w}:s"), 0);
    /* a committed batch moves the fence to its own end: the next one applies */
    lb_sink_begin(s.k, SRC, 1, 2, "");
    lb_sink_fence(s.k, &none);
    sk_line(&s, 1);
    assert_int_equal(sk_commit(&s, 1), 0);
    sk_line(&s, 2);
    assert_int_equal(sk_commit(&s, 2), 0);
    assert_int_equal(lbt_xlen(adm, "{w}:s"), 2);
    free(was);
    sk_close(&s);
    lbt_text_free(&t);
}

/* ---- "done" -------------------------------------------------------------------------- */

/* Each batch that switches the identity (dev, ino) puts the generation the
 * checkpoint described before at the head of "done": at most 8, most
 * recent first; a batch of the same identity leaves the list alone. */
static void sink_checkpoint_done_lists_eight_finished_generations(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    lbt_text_std(&t, 0, 10);
    struct sk s;
    sk_open(&s, "{x}:s", 0, 0, 0, &t);
    for (unsigned long long ino = 1; ino <= 11; ino++) {
        lb_sink_begin(s.k, SRC, 5, ino, "");
        assert_int_equal(lb_sink_commit(s.k, lr, ino * 10, ino, lbt_text_fp, &t, &s.res, &s.err),
                         0);
        struct lb_ckpt ck;
        assert_int_equal(lbt_ckpt_get(adm, lb_sink_ckpt_key(s.k), SRC, &ck), 0);
        assert_int_equal(ck.ino, ino);
        assert_int_equal(ck.ndone, ino - 1 < 8 ? (int)ino - 1 : 8);
    }
    /* same identity again: no new entry */
    lb_sink_begin(s.k, SRC, 5, 11, "");
    assert_int_equal(lb_sink_commit(s.k, lr, 120, 12, lbt_text_fp, &t, &s.res, &s.err), 0);
    struct lb_ckpt ck;
    assert_int_equal(lbt_ckpt_get(adm, lb_sink_ckpt_key(s.k), SRC, &ck), 0);
    assert_int_equal(ck.ino, 11);
    assert_int_equal(ck.off, 120);
    assert_int_equal(ck.ndone, 8);
    for (int i = 0; i < 8; i++) {
        unsigned long long ino = 10 - (unsigned long long)i;
        char fp[LB_FP_HEX];
        lbt_text_fp(&t, ino * 10, fp);
        assert_int_equal(ck.done[i].dev, 5);
        assert_int_equal(ck.done[i].ino, ino);
        assert_int_equal(ck.done[i].off, ino * 10);
        assert_int_equal(ck.done[i].line, ino);
        assert_string_equal(ck.done[i].fp, fp);
    }
    char *raw = lbt_ckpt_raw(adm, lb_sink_ckpt_key(s.k), SRC);
    char fp10[LB_FP_HEX], head[160];
    lbt_text_fp(&t, 100, fp10);
    snprintf(head, sizeof(head),
             ",\"done\":[{\"dev\":5,\"ino\":10,\"fp\":\"%s\",\"off\":100,\"line\":10}", fp10);
    assert_non_null(strstr(raw, head));
    free(raw);
    sk_close(&s);
    lbt_text_free(&t);
}

/* ---- the callee refuses what would overflow ----------------------------------------- */

/* 256 distinct template streams fill a batch (lb_sink_full); a 257th is
 * refused by lb_sink_add itself (LB_EUSAGE), a known one still goes; the
 * batch lands whole. A fifth batch in flight is refused too. */
static void sink_refuses_more_template_keys_or_flights_than_it_holds(void **state)
{
    (void)state;
    struct lbt_text t;
    lbt_text_init(&t);
    char line[64];
    for (int i = 0; i < 257; i++) {
        snprintf(line, sizeof(line), "r|2025-06-18T10:00:00Z|t%d|d", i);
        lbt_text_add(&t, line);
    }
    lbt_text_add(&t, "r|2025-06-18T10:00:00Z|t0|again");
    struct sk s;
    sk_open(&s, "{y}:%{type}", 0, 0, 0, &t);
    lb_sink_begin(s.k, SRC, 1, 2, "");
    for (size_t i = 1; i <= 256; i++) {
        assert_false(lb_sink_full(s.k));
        sk_line(&s, i);
    }
    assert_true(lb_sink_full(s.k));
    struct lb_line l = lbt_text_line(&t, 257);
    struct lb_record rec;
    assert_int_equal(lb_feed_classify(s.f, &l, &rec), LB_PARSE_OK);
    assert_int_equal(lb_sink_add(s.k, &rec, l.off, 257), LB_EUSAGE);
    assert_int_equal(lb_sink_pending(s.k), 256);
    l = lbt_text_line(&t, 258);
    assert_int_equal(lb_feed_classify(s.f, &l, &rec), LB_PARSE_OK);
    assert_int_equal(lb_sink_add(s.k, &rec, l.off, 258), 0);
    assert_int_equal(lb_sink_commit(s.k, lr, t.end[258], 258, lbt_text_fp, &t, &s.res, &s.err), 0);
    assert_int_equal(s.res.written, 257);
    assert_int_equal(lbt_xlen(adm, "{y}:t0"), 2);
    assert_int_equal(lbt_xlen(adm, "{y}:t255"), 1);
    assert_int_equal(exists("{y}:t256"), 0);

    /* at most 4 batches in flight: a fifth send is refused, nothing sent */
    struct lb_sink_opts so = {.stream = "{z}:s", .provenance = 1, .batch_max = 10};
    struct lb_sink *k = lb_sink_create(&so, &s.err);
    assert_non_null(k);
    lb_sink_begin(k, SRC, 1, 2, "");
    for (int i = 0; i < 4; i++)
        assert_int_equal(lb_sink_send(k, lr, 0, 0, lbt_text_fp, &t, &s.err), 0);
    assert_int_equal(lb_sink_inflight(k), 4);
    assert_int_equal(lb_sink_send(k, lr, 0, 0, lbt_text_fp, &t, &s.err), LB_EUSAGE);
    assert_int_equal(lb_sink_inflight(k), 4);
    for (int i = 0; i < 4; i++) {
        struct lb_sink_result res;
        int rc = lb_sink_recv(k, lr, &res, &s.err);
        if (rc != 0) /* each fenced on the end of the one before: all land */
            fail_msg("recv %d: %d %s", i, rc, s.err.msg);
        assert_int_equal(res.refused, LB_SINK_LANDED);
    }
    assert_int_equal(lb_sink_inflight(k), 0);
    lb_sink_destroy(k);
    sk_close(&s);
    lbt_text_free(&t);
}

/* ---- the fast path's verification, driven by hand --------------------------------- */

/* The fast path notes the stream's length, queues the batch's XADDs, then
 * the script checks that every one landed: the stream grew by exactly nat,
 * and its newest entry is the batch's last. Here the XADDs are given
 * explicit IDs, so that one can be left out or the batch can span
 * milliseconds, in the same MULTI as sink.c sends it.
 * Returns the script's error text ("" when it accepted), in why. */
static void run_script_batch(const char *const *ids, const long *offs, size_t n, size_t nat,
                             long first_off, long last_off, char *why, size_t cap)
{
    redisReply *r = redisCommand(adm, "MULTI");
    freeReplyObject(r);
    const char *pv[] = {"EVAL", LB_SINK_COUNT_SCRIPT, "2", "logbridge:ckpt:{vs}", "vs"};
    r = redisCommandArgv(adm, 5, pv, NULL);
    freeReplyObject(r);
    for (size_t i = 0; i < n; i++) {
        char off[24];
        snprintf(off, sizeof(off), "%ld", offs[i]);
        r = redisCommand(adm, "XADD vs %s role web timestamp t type x data d src /f off %s",
                         ids[i], off);
        freeReplyObject(r);
    }
    char sn[24], sf[24], sl[24];
    snprintf(sn, sizeof(sn), "%zu", nat);
    snprintf(sf, sizeof(sf), "%ld", first_off);
    snprintf(sl, sizeof(sl), "%ld", last_off);
    const char *argv[] = {"EVAL", LB_SINK_SCRIPT, "3", "logbridge:ckpt:{vs}", "logbridge:dlq:{vs}",
                          "vs", "/f", "{\"dev\":1,\"ino\":2,\"fp\":\"", "abc", sf, "999", "9", "",
                          "p", "json_payload", "0", "0", sn, sl, ""};
    r = redisCommandArgv(adm, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
    freeReplyObject(r);
    r = redisCommand(adm, "EXEC");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    const redisReply *res = r->element[r->elements - 1];
    assert_int_equal(res->type, REDIS_REPLY_ARRAY);
    snprintf(why, cap, "%s", res->element[4]->str);
    freeReplyObject(r);
}

/* A batch whose XADDs span several milliseconds is accepted and checkpointed;
 * one that lacks an XADD (in the same millisecond, or across one) is undone:
 * nothing of it stays, the checkpoint does not move. */
static void sink_fast_path_verifies_every_xadd_landed(void **state)
{
    (void)state;
    char why[256];
    /* (first and last offsets: the script checks the last, the count the rest) */
    static const char *const span[] = {"5-0", "5-1", "6-0", "9-0", "9-1", "9-2", "12-0"};
    static const long offs[] = {0, 10, 20, 30, 40, 50, 60};
    run_script_batch(span, offs, 7, 7, 0, 60, why, sizeof(why));
    assert_string_equal(why, "");
    assert_int_equal(lbt_xlen(adm, "vs"), 7);
    assert_int_equal(exists("logbridge:ckpt:{vs}"), 1);

    /* the same batch said to hold one more entry than landed */
    redisReply *r = redisCommand(adm, "FLUSHALL");
    freeReplyObject(r);
    static const char *const missing[] = {"5-0", "5-1", "6-0", "9-1", "9-2", "12-0"};
    static const long offs2[] = {0, 10, 20, 40, 50, 60}; /* the entry at 30 is not there */
    run_script_batch(missing, offs2, 6, 7, 0, 60, why, sizeof(why));
    if (strstr(why, "not at the top") == NULL)
        fail_msg("a batch missing an XADD was accepted: '%s'", why);
    assert_int_equal(lbt_xlen(adm, "vs"), 0);
    assert_int_equal(exists("logbridge:ckpt:{vs}"), 0);

    /* an older entry of the same src sits where the batch's first should */
    r = redisCommand(adm, "FLUSHALL");
    freeReplyObject(r);
    r = redisCommand(adm, "XADD vs 1-0 role web timestamp t type x data d src /f off 0");
    freeReplyObject(r);
    static const char *const late[] = {"5-1", "6-0"};
    static const long offs3[] = {10, 20};
    run_script_batch(late, offs3, 2, 3, 0, 20, why, sizeof(why));
    if (strstr(why, "not at the top") == NULL)
        fail_msg("a batch whose first entry is an older one was accepted: '%s'", why);
    assert_int_equal(lbt_xlen(adm, "vs"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(sink_fast_and_script_paths_write_the_same_entries, setup),
        cmocka_unit_test_setup(sink_fast_and_script_paths_write_the_same_json_entries, setup),
        cmocka_unit_test_setup(sink_dlq_entries_carry_src_off_line_reason_raw_raw_len, setup),
        cmocka_unit_test_setup(sink_template_routes_one_batch_to_several_streams, setup),
        cmocka_unit_test_setup(sink_script_path_undoes_the_whole_batch_when_one_write_fails, setup),
        cmocka_unit_test_setup(sink_template_stream_of_wrong_type_refuses_the_whole_batch, setup),
        cmocka_unit_test_setup(sink_fast_path_undoes_its_xadds_when_the_batch_fails, setup),
        cmocka_unit_test_setup(sink_fence_refuses_when_the_checkpoint_stands_elsewhere, setup),
        cmocka_unit_test_setup(sink_checkpoint_done_lists_eight_finished_generations, setup),
        cmocka_unit_test_setup(sink_refuses_more_template_keys_or_flights_than_it_holds, setup),
        cmocka_unit_test_setup(sink_fast_path_verifies_every_xadd_landed, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
