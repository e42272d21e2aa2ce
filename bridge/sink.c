/*
 * sink.c - builds one EVALSHA per batch and reads its single reply.
 *
 * This file: the sink's life, the script loaded, a batch written to the
 * connection (lb_sink_send, lb_sink_commit) and its replies read and decoded
 * (lb_sink_recv). The batch is built in sink_batch.c, its fast path in
 * sink_fast.c (sink_int.h).
 *
 * The argument vector points into the caller's line buffer; the few strings
 * we make per line (numbers, template keys, JSON payloads) go into one arena
 * that is reset per batch, so the hot path does not allocate once warm.
 * Arena strings are recorded as offsets and resolved at commit, because the
 * arena may move while it grows.
 */
#include "sink.h"
#include "sink_int.h"
#include "reply.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink_script.h" /* LB_SINK_SCRIPT, generated from sink_script.lua */

const char lb_sink_script[] = LB_SINK_SCRIPT;
const size_t lb_sink_script_len = sizeof(LB_SINK_SCRIPT) - 1;

struct lb_sink *lb_sink_create(const struct lb_sink_opts *opts, struct lb_error *err)
{
    struct lb_sink *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    k->o = *opts;
    if (k->o.batch_max == 0)
        k->o.batch_max = 1000;
    if (k->o.json_field == NULL)
        k->o.json_field = "json_payload";
    lb_key_derive(opts->stream, "ckpt", k->ckpt_key, sizeof(k->ckpt_key));
    lb_key_derive(opts->stream, "dlq", k->dlq_key, sizeof(k->dlq_key));
    lb_key_derive(opts->stream, "streams", k->set_key, sizeof(k->set_key));
    k->is_template = strstr(opts->stream, "%{type}") != NULL || strstr(opts->stream, "%{role}");
    /* Plain XADDs with '*' into one stream cannot fail one by one (only all
     * together, when the key is not a stream), so they can run natively in a
     * MULTI with the script after them; --id ts and templates need the
     * script's per-entry checks, and so does --no-provenance: the script
     * verifies that every native XADD landed by the src/off of the batch's
     * first and last entries. LOGBRIDGE_SINK_MODE=script forces the
     * script path (tests cover both). */
    const char *mode = getenv("LOGBRIDGE_SINK_MODE");
    k->fast = !k->o.id_ts && !k->is_template && !(mode != NULL && strcmp(mode, "script") == 0);
    return k;
}

void lb_sink_destroy(struct lb_sink *k)
{
    if (k == NULL)
        return;
    free(k->argv);
    free(k->lens);
    free(k->aoff);
    free(k->arena);
    free(k->cargv);
    free(k->clens);
    free(k->resp);
    free(k);
}

const char *lb_sink_ckpt_key(const struct lb_sink *k)
{
    return k->ckpt_key;
}

const char *lb_sink_dlq_key(const struct lb_sink *k)
{
    return k->dlq_key;
}

void lb_sink_reset(struct lb_sink *k)
{
    k->argc = 0;
    k->alen = 0;
    k->lines = 0;
    k->nbad = 0;
    k->nkeys = 0;
    k->rlen = 0;
    k->nat = 0;
    k->nat_last_off[0] = '\0';
}

void lb_sink_begin(struct lb_sink *k, const char *src, unsigned long long dev,
                   unsigned long long ino, const char *prev_id)
{
    lb_sink_reset(k);
    k->src = src;
    k->srcn = strlen(src);
    k->dev = dev;
    k->ino = ino;
    snprintf(k->prev_id, sizeof(k->prev_id), "%s", prev_id ? prev_id : "");
    k->fenced = 0;
}

void lb_sink_fence(struct lb_sink *k, const struct lb_ckpt *at)
{
    k->fenced = 1;
    k->fence_at = *at;
}

size_t lb_sink_pending(const struct lb_sink *k)
{
    return k->lines;
}

int lb_sink_full(const struct lb_sink *k)
{
    return k->lines >= k->o.batch_max || k->nkeys >= LB_SINK_MAX_KEYS;
}

/* ---- commit -------------------------------------------------------------------- */

static int lb_sink_load_script(struct lb_sink *k, struct lb_redis *r, struct lb_error *err)
{
    const char *argv[3] = {"SCRIPT", "LOAD", lb_sink_script};
    redisReply *rep = lb_redis_cmd(r, 3, argv, NULL, err);
    if (rep == NULL)
        return LB_EREDIS;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING && rep->len == 40)
        memcpy(k->sha, rep->str, 41);
    else if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_reply_error(r, "SCRIPT", "LOAD", rep->str, err);
    else
        rc = lb_error_set(err, LB_EREPLY, "redis at %s: SCRIPT LOAD: unexpected reply",
                          lb_redis_addr(r));
    freeReplyObject(rep);
    return rc;
}

/* The script path sends EVALSHA alone: a NOSCRIPT (a restarted or flushed
 * server) means nothing ran, and the script is loaded again. The fast path
 * always sends the body (EVAL) inside its MULTI: Redis would run the XADDs
 * before answering NOSCRIPT to an EVALSHA there, leaving entries without
 * their checkpoint (DESIGN.md section 7). Redis caches the compiled body by
 * its hash, so EVAL costs one hash of the body per batch. */
/* On a cluster, a multi-key command that names a key which does not exist
 * is refused (TRYAGAIN) for as long as its slot migrates: the keys logbridge
 * owns exist before its first batch (DESIGN.md section 7), the DLQ as an
 * empty stream, the checkpoint hash with the field "" (the fast path's
 * scratch field, which readers of the hash skip). Once per connection, with
 * nothing in flight (a plain command would take a flight's reply). */
static int lb_sink_ensure_keys(struct lb_sink *k, struct lb_redis *r, struct lb_error *err)
{
    unsigned long conn = lb_redis_reconnects(r) + 1;
    if (k->keys_conn == conn || k->inflight > 0 || !lb_redis_is_cluster(r))
        return 0;
    static const char make[] =
        "if redis.call('EXISTS',KEYS[2])==0 then "
        "redis.call('XADD',KEYS[2],'MAXLEN','0','*','created','1') end "
        "if redis.call('EXISTS',KEYS[1])==0 then redis.call('HSET',KEYS[1],'','0') end";
    const char *argv[5] = {"EVAL", make, "2", k->ckpt_key, k->dlq_key};
    redisReply *rep = lb_redis_cmd(r, 5, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = rep->type == REDIS_REPLY_ERROR ? lb_reply_error(r, "EVAL", "(make keys)", rep->str, err)
                                            : 0;
    freeReplyObject(rep);
    if (rc == 0)
        k->keys_conn = conn;
    return rc;
}

static int lb_sink_ensure_script(struct lb_sink *k, struct lb_redis *r, struct lb_error *err)
{
    int rc = lb_sink_ensure_keys(k, r, err);
    if (rc != 0 || k->fast || k->sha[0] != '\0')
        return rc;
    return lb_sink_load_script(k, r, err);
}

static int lb_sink_reply_u64(const redisReply *e, uint64_t *out)
{
    if (e->type == REDIS_REPLY_INTEGER) {
        *out = (uint64_t)e->integer;
        return 0;
    }
    if (e->type == REDIS_REPLY_STRING) {
        char *end;
        *out = strtoull(e->str, &end, 10);
        return end == e->str ? -1 : 0;
    }
    return -1;
}

/* Append the built vector to the connection's output and write it all. */
static int lb_sink_write(struct lb_sink *k, struct lb_redis *r, int c, struct lb_error *err)
{
    redisContext *ctx = lb_redis_ctx(r);
    if (ctx == NULL)
        return lb_error_set(err, LB_EREDIS, "redis at %s: not connected", lb_redis_addr(r));
    int ok = REDIS_OK;
    if (!k->fast) {
        k->cargv[1] = k->sha; /* reloaded after a NOSCRIPT */
        k->clens[1] = strlen(k->sha);
    }
    if (k->fast) {
        /* MULTI, the stream's length noted, the plain XADDs, the script,
         * EXEC (the script checks that the length grew by exactly nat). */
        static const char multi[] = "*1\r\n$5\r\nMULTI\r\n", exec[] = "*1\r\n$4\r\nEXEC\r\n";
        ok = redisAppendFormattedCommand(ctx, multi, sizeof(multi) - 1);
        if (ok == REDIS_OK && k->nat > 0) {
            const char *pv[] = {"EVAL", LB_SINK_COUNT_SCRIPT, "2", k->ckpt_key, k->o.stream};
            ok = redisAppendCommandArgv(ctx, 5, pv, NULL);
        }
        if (ok == REDIS_OK && k->rlen > 0)
            ok = redisAppendFormattedCommand(ctx, k->resp, k->rlen);
        if (ok == REDIS_OK)
            ok = redisAppendCommandArgv(ctx, c, k->cargv, k->clens);
        if (ok == REDIS_OK)
            ok = redisAppendFormattedCommand(ctx, exec, sizeof(exec) - 1);
    } else {
        ok = redisAppendCommandArgv(ctx, c, k->cargv, k->clens);
    }
    int wait_ms, wait_n = lb_redis_wait_replicas(r, &wait_ms);
    if (ok == REDIS_OK && wait_n > 0)
        ok = redisAppendCommand(ctx, "WAIT %d %d", wait_n, wait_ms);
    if (ok != REDIS_OK) {
        lb_error_set(err, LB_EREDIS, "redis at %s: %s", lb_redis_addr(r), ctx->errstr);
        lb_redis_drop(r);
        return LB_EREDIS;
    }
    return lb_redis_flush(r, err);
}

/* A refusal: what kind, for the committer (fenced, clears by itself, or not). */
static int lb_sink_refused(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                           const char *why, struct lb_error *err)
{
    if (strncmp(why, "NOSCRIPT", 8) == 0) {
        k->sha[0] = '\0'; /* loaded again before the next batch; nothing ran */
        res->refused = LB_SINK_TRANSIENT;
    } else if (strncmp(why, "FENCE ", 6) == 0) {
        res->refused = LB_SINK_FENCED;
        why += 6;
    } else if (lb_redis_is_transient(why)) {
        res->refused = LB_SINK_TRANSIENT;
    } else {
        res->refused = LB_SINK_REFUSED;
    }
    int code = lb_redis_is_auth_error(why) ? LB_EAUTH : LB_EREPLY;
    return lb_error_set(err, code, "redis at %s refused a batch: %s", lb_redis_addr(r), why);
}

/* Decode the script's reply (or error) into res. */
static int lb_sink_decode(struct lb_sink *k, struct lb_redis *r, redisReply *rep, uint64_t end_off,
                          uint64_t end_line, struct lb_sink_result *res, struct lb_error *err)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return lb_sink_refused(k, r, res, rep->str, err);
    uint64_t w = 0, b = 0, ro = 0, tb = 0;
    redisReply **e = rep->element;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 8 || lb_sink_reply_u64(e[0], &w) ||
        lb_sink_reply_u64(e[1], &b) || lb_sink_reply_u64(e[3], &ro) ||
        lb_sink_reply_u64(e[5], &tb) || e[2]->type != REDIS_REPLY_STRING ||
        e[4]->type != REDIS_REPLY_STRING)
        return lb_error_set(err, LB_EREPLY, "unexpected reply from the batch script");
    if (e[4]->len > 0) /* a write failed: the script undid the batch */
        return lb_sink_refused(k, r, res, e[4]->str, err);
    res->written = (size_t)w;
    res->bad = (size_t)b;
    res->reordered = (size_t)ro;
    res->trim_blocked = (int)tb;
    snprintf(res->last_id, sizeof(res->last_id), "%s", e[2]->str);
    res->ck_off = end_off;
    res->ck_line = end_line;
    return 0;
}

/* The next reply: waiting for it, or only if it has arrived (0: not yet). */
static int lb_sink_next_reply(struct lb_redis *r, int wait, redisReply **rep,
                              struct lb_error *err)
{
    if (!wait)
        return lb_redis_try_reply(r, rep, err);
    *rep = lb_redis_get_reply(r, err);
    return *rep != NULL ? 1 : LB_EREDIS;
}

/* Read and check every reply of one batch: one for the script path; for the
 * fast path +OK, a +QUEUED per command, then EXEC's array: the noted length
 * (when there are XADDs), every XADD's ID, then the script's reply. A queued command refused (OOM, READONLY) makes
 * EXEC abort whole (nothing ran). Without wait, reads only what has arrived
 * and returns LB_SINK_AGAIN when the batch's replies are not all there
 * (k->rx_got keeps the place). */
static int lb_sink_read_batch(struct lb_sink *k, struct lb_redis *r, int wait, size_t nat,
                              uint64_t end_off, uint64_t end_line, struct lb_sink_result *res,
                              struct lb_error *err)
{
    memset(res, 0, sizeof(*res));
    redisReply *rep;
    int rc;
    if (!k->fast) {
        if ((rc = lb_sink_next_reply(r, wait, &rep, err)) <= 0)
            return rc == 0 ? LB_SINK_AGAIN : rc;
        rc = lb_sink_decode(k, r, rep, end_off, end_line, res, err);
        freeReplyObject(rep);
        return rc;
    }
    size_t pre = nat > 0; /* the length noted before the XADDs */
    while (k->rx_got < pre + nat + 2) {
        if ((rc = lb_sink_next_reply(r, wait, &rep, err)) <= 0)
            return rc == 0 ? LB_SINK_AGAIN : rc;
        if (rep->type == REDIS_REPLY_ERROR && k->rx_err[0] == '\0')
            snprintf(k->rx_err, sizeof(k->rx_err), "%s", rep->str);
        else if (rep->type != REDIS_REPLY_STATUS && k->rx_err[0] == '\0')
            snprintf(k->rx_err, sizeof(k->rx_err), "unexpected reply to a queued command");
        freeReplyObject(rep);
        k->rx_got++;
    }
    if ((rc = lb_sink_next_reply(r, wait, &rep, err)) <= 0)
        return rc == 0 ? LB_SINK_AGAIN : rc;
    k->rx_got = 0;
    const char *first_err = k->rx_err;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* EXECABORT: nothing ran. Redis said why in the first refused command. */
        char why[512];
        snprintf(why, sizeof(why), "%s (%s)", first_err[0] ? first_err : rep->str, rep->str);
        rc = lb_sink_refused(k, r, res, why, err);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != pre + nat + 1) {
        rc = lb_error_set(err, LB_EREPLY, "unexpected EXEC reply from redis at %s",
                          lb_redis_addr(r));
    } else if (rep->element[pre + nat]->type == REDIS_REPLY_ERROR) {
        /* The script itself failed (e.g. an ACL that forbids a command it
         * calls): the XADDs before it ran but no checkpoint was written. Undo
         * them, or a retry would write them twice. Not atomic with the EXEC,
         * so this is a repair of last resort, and logged as such. */
        rc = lb_error_set(err, LB_EREPLY, "redis at %s: the batch script failed: %s",
                          lb_redis_addr(r), rep->element[pre + nat]->str);
        res->refused = LB_SINK_REFUSED;
        lb_sink_undo(k, r, rep->element + pre, nat);
    } else {
        rc = lb_sink_decode(k, r, rep->element[pre + nat], end_off, end_line, res, err);
        /* The script verified that every XADD landed; their replies must say
         * the same, or the checkpoint would cover lines never written. */
        for (size_t i = pre; rc == 0 && i < pre + nat; i++)
            if (rep->element[i]->type != REDIS_REPLY_STRING) {
                rc = lb_error_set(err, LB_EREPLY,
                                  "redis at %s: XADD %zu of a batch of src=%s answered %s, yet the "
                                  "batch was checkpointed",
                                  lb_redis_addr(r), i + 1 - pre, k->src,
                                  rep->element[i]->type == REDIS_REPLY_ERROR ? rep->element[i]->str
                                                                             : "no ID");
                res->refused = LB_SINK_REFUSED;
            }
    }
    k->rx_err[0] = '\0';
    freeReplyObject(rep);
    return rc;
}

/* The batch's replies, then WAIT's when --wait-replicas sent one (a
 * shortfall is reported, never a failure: DESIGN.md section 7). */
static int lb_sink_read(struct lb_sink *k, struct lb_redis *r, int wait, size_t nat,
                        uint64_t end_off, uint64_t end_line, struct lb_sink_result *res,
                        struct lb_error *err)
{
    int wait_ms, wait_n = lb_redis_wait_replicas(r, &wait_ms);
    if (!k->rx_waiting) {
        int rc = lb_sink_read_batch(k, r, wait, nat, end_off, end_line, res, err);
        if (wait_n == 0 || rc == LB_SINK_AGAIN || rc == LB_EREDIS || rc == LB_ENOMEM)
            return rc;
        k->rx_waiting = 1;
        k->rx_rc = rc;
        k->rx_res = *res;
        if (err != NULL)
            k->rx_errsave = *err;
    }
    redisReply *rep;
    int got = lb_sink_next_reply(r, wait, &rep, err);
    if (got <= 0) {
        if (got != 0)
            k->rx_waiting = 0;
        return got == 0 ? LB_SINK_AGAIN : got;
    }
    k->rx_waiting = 0;
    *res = k->rx_res;
    res->wait_short = rep->type != REDIS_REPLY_INTEGER || rep->integer < wait_n;
    freeReplyObject(rep);
    if (err != NULL)
        *err = k->rx_errsave;
    return k->rx_rc;
}

int lb_sink_send(struct lb_sink *k, struct lb_redis *r, uint64_t end_off, uint64_t end_line,
                 lb_sink_fp_fn fp, void *fp_ctx, struct lb_error *err)
{
    if (k->inflight == LB_SINK_MAX_INFLIGHT) {
        lb_sink_reset(k);
        return lb_error_set(err, LB_EUSAGE, "too many batches in flight");
    }
    int rc = lb_sink_ensure_script(k, r, err);
    int c = rc == 0 ? lb_sink_build(k, end_off, end_line, fp, fp_ctx, err) : rc;
    rc = c < 0 ? c : lb_sink_write(k, r, c, err);
    if (rc == 0) {
        k->flight_off[k->inflight] = end_off;
        k->flight_line[k->inflight] = end_line;
        k->flight_nat[k->inflight] = k->nat;
        k->inflight++;
    }
    lb_sink_reset(k);
    return rc;
}

static int lb_sink_recv_mode(struct lb_sink *k, struct lb_redis *r, int wait,
                             struct lb_sink_result *res, struct lb_error *err)
{
    memset(res, 0, sizeof(*res));
    if (k->inflight == 0)
        return lb_error_set(err, LB_EUSAGE, "no batch in flight");
    int rc = lb_sink_read(k, r, wait, k->flight_nat[0], k->flight_off[0], k->flight_line[0], res,
                          err);
    if (rc == LB_SINK_AGAIN)
        return rc;
    if (rc == LB_EREDIS) {
        k->inflight = 0; /* the connection is gone, and with it every reply */
        k->rx_waiting = 0;
        k->rx_got = 0;
        k->rx_err[0] = '\0';
        return rc;
    }
    k->inflight--;
    memmove(k->flight_off, k->flight_off + 1, k->inflight * sizeof(k->flight_off[0]));
    memmove(k->flight_line, k->flight_line + 1, k->inflight * sizeof(k->flight_line[0]));
    memmove(k->flight_nat, k->flight_nat + 1, k->inflight * sizeof(k->flight_nat[0]));
    return rc;
}

int lb_sink_recv(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                 struct lb_error *err)
{
    return lb_sink_recv_mode(k, r, 1, res, err);
}

int lb_sink_recv_ready(struct lb_sink *k, struct lb_redis *r, struct lb_sink_result *res,
                       struct lb_error *err)
{
    return lb_sink_recv_mode(k, r, 0, res, err);
}

size_t lb_sink_inflight(const struct lb_sink *k)
{
    return k->inflight;
}

void lb_sink_forget(struct lb_sink *k)
{
    k->inflight = 0;
    k->rx_waiting = 0;
    k->rx_got = 0;
    k->rx_err[0] = '\0';
    k->fenced = 0;
    lb_sink_reset(k);
}

int lb_sink_commit(struct lb_sink *k, struct lb_redis *r, uint64_t end_off, uint64_t end_line,
                   lb_sink_fp_fn fp, void *fp_ctx, struct lb_sink_result *res, struct lb_error *err)
{
    memset(res, 0, sizeof(*res));
    if (k->inflight > 0)
        return lb_error_set(err, LB_EUSAGE, "batches in flight");
    int rc = lb_sink_ensure_script(k, r, err);
    int c = rc == 0 ? lb_sink_build(k, end_off, end_line, fp, fp_ctx, err) : rc;
    if (c < 0) {
        if (c != LB_EREDIS)
            lb_sink_reset(k);
        return c;
    }
    rc = lb_sink_write(k, r, c, err);
    if (rc == 0)
        rc = lb_sink_read(k, r, 1, k->nat, end_off, end_line, res, err);
    /* Kept unless it landed: a caller that cannot read its lines again (stdin)
     * sends the same batch once the checkpoint in Redis says it did not land. */
    if (rc == 0)
        lb_sink_reset(k);
    return rc;
}
