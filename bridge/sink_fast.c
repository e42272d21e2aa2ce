/*
 * sink_fast.c - the fast path: valid lines of a plain stream as XADDs in
 * RESP, written straight into one buffer that is sent inside a MULTI ahead of
 * the batch script (which checks that every one landed, sink.c), and the
 * undo of those XADDs when the script itself failed after them.
 */
#include "sink_int.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fast path: plain XADDs in RESP, written straight into one buffer */

static char *lb_resp_room(struct lb_sink *k, size_t n)
{
    if (k->rlen + n > k->rcap) {
        size_t cap = k->rcap ? k->rcap * 2 : 256 * 1024;
        while (cap < k->rlen + n)
            cap *= 2;
        char *r = realloc(k->resp, cap);
        if (r == NULL)
            return NULL;
        k->resp = r;
        k->rcap = cap;
    }
    return k->resp + k->rlen;
}

static char *lb_resp_bulk(char *p, const char *s, size_t n)
{
    *p++ = '$';
    p += lb_u64_str(n, p);
    *p++ = '\r';
    *p++ = '\n';
    memcpy(p, s, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

#define LB_RESP_LIT(p, s) (memcpy((p), (s), sizeof(s) - 1), (p) += sizeof(s) - 1)

int lb_sink_add_fast(struct lb_sink *k, const struct lb_record *rec, uint64_t off)
{
    char offs[24];
    size_t offn = lb_u64_str(off, offs);
    size_t slen = strlen(k->o.stream);
    if (k->o.json_encoding) {
        size_t need = lb_sink_json_len(k, rec);
        char *j = lb_sink_arena(k, need);
        if (j == NULL)
            return LB_ENOMEM;
        size_t jn = lb_sink_json(k, rec, off, j);
        size_t fl = strlen(k->o.json_field);
        char *p = lb_resp_room(k, 64 + slen + fl + jn);
        if (p == NULL)
            return LB_ENOMEM;
        char *p0 = p;
        LB_RESP_LIT(p, "*5\r\n$4\r\nXADD\r\n");
        p = lb_resp_bulk(p, k->o.stream, slen);
        LB_RESP_LIT(p, "$1\r\n*\r\n");
        p = lb_resp_bulk(p, k->o.json_field, fl);
        p = lb_resp_bulk(p, j, jn);
        k->rlen += (size_t)(p - p0);
    } else {
        size_t need = 200 + slen + rec->role.n + rec->ts.n + rec->type.n + rec->data.n + k->srcn;
        char *p = lb_resp_room(k, need);
        if (p == NULL)
            return LB_ENOMEM;
        char *p0 = p;
        if (k->o.provenance)
            LB_RESP_LIT(p, "*15\r\n$4\r\nXADD\r\n");
        else
            LB_RESP_LIT(p, "*11\r\n$4\r\nXADD\r\n");
        p = lb_resp_bulk(p, k->o.stream, slen);
        LB_RESP_LIT(p, "$1\r\n*\r\n$4\r\nrole\r\n");
        p = lb_resp_bulk(p, rec->role.p, rec->role.n);
        LB_RESP_LIT(p, "$9\r\ntimestamp\r\n");
        p = lb_resp_bulk(p, rec->ts.p, rec->ts.n);
        LB_RESP_LIT(p, "$4\r\ntype\r\n");
        p = lb_resp_bulk(p, rec->type.p, rec->type.n);
        LB_RESP_LIT(p, "$4\r\ndata\r\n");
        p = lb_resp_bulk(p, rec->data.p, rec->data.n);
        if (k->o.provenance) {
            LB_RESP_LIT(p, "$3\r\nsrc\r\n");
            p = lb_resp_bulk(p, k->src, k->srcn);
            LB_RESP_LIT(p, "$3\r\noff\r\n");
            p = lb_resp_bulk(p, offs, offn);
        }
        k->rlen += (size_t)(p - p0);
    }
    memcpy(k->nat_last_off, offs, offn);
    k->nat_last_off[offn] = '\0';
    k->nat++;
    k->lines++;
    return 0;
}

/* XDEL the entries that the fast path's XADDs created (ids: their nat
 * replies inside EXEC's). Best effort: logs what it could not undo, because
 * that many entries would then be written again on retry. */
void lb_sink_undo(struct lb_sink *k, struct lb_redis *r, redisReply *const *ids, size_t nat)
{
    size_t undone = 0;
    for (size_t i = 0; i < nat;) {
        const char *argv[1002];
        size_t lens[1002], c = 0;
        argv[c] = "XDEL";
        lens[c++] = 4;
        argv[c] = k->o.stream;
        lens[c++] = strlen(k->o.stream);
        for (; i < nat && c < 1002; i++) {
            const redisReply *e = ids[i];
            if (e->type == REDIS_REPLY_STRING) {
                argv[c] = e->str;
                lens[c++] = e->len;
            }
        }
        if (c == 2)
            continue;
        struct lb_error e2;
        redisReply *rep = lb_redis_cmd(r, (int)c, argv, lens, &e2);
        if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
            undone += (size_t)rep->integer;
        freeReplyObject(rep);
        if (rep == NULL)
            break;
    }
    if (undone < nat)
        lb_error_log("src=%s: %zu entries of a failed batch could not be removed from %s; they "
                     "will be written again",
                     k->src, nat - undone, k->o.stream);
}
