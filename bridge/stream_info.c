/*
 * stream_info.c - XINFO STREAM, XINFO GROUPS and the last entry's ID, parsed
 * in one place (see stream_info.h).
 */
#include "stream_info.h"

#include "cli.h"
#include "reply.h"

#include <stdlib.h>
#include <string.h>

/* An ID in a string reply. 0 or -1. */
static int lb_info_id(const redisReply *v, struct lb_sid *out)
{
    if (v == NULL || v->type != REDIS_REPLY_STRING)
        return -1;
    return lb_sid_parse(v->str, v->len, out);
}

/* The ID of a first-entry/last-entry value ([id, [fields]] or nil). */
static int lb_info_entry_id(const redisReply *v, struct lb_sid *out)
{
    if (v == NULL || v->type != REDIS_REPLY_ARRAY || v->elements < 1)
        return -1;
    return lb_info_id(v->element[0], out);
}

/* An error reply: "no such key" is an empty answer, anything else an error. */
static int lb_info_error(struct lb_redis *r, const char *cmd, const char *stream,
                         const redisReply *rep, int *missing, struct lb_error *err)
{
    *missing = strstr(rep->str, "no such key") != NULL;
    return *missing ? 0 : lb_reply_error(r, cmd, stream, rep->str, err);
}

int lb_stream_info_read(struct lb_redis *r, const char *stream, struct lb_stream_info *si,
                        struct lb_error *err)
{
    memset(si, 0, sizeof(*si));
    const char *argv[3] = {"XINFO", "STREAM", stream};
    redisReply *rep = lb_redis_cmd(r, 3, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0, missing = 0;
    if (rep->type == REDIS_REPLY_ERROR) {
        rc = lb_info_error(r, "XINFO STREAM", stream, rep, &missing, err);
    } else if (rep->type != REDIS_REPLY_ARRAY) {
        rc = lb_error_set(err, LB_EREPLY, "redis at %s: XINFO STREAM %s: unexpected reply",
                          lb_redis_addr(r), stream);
    } else {
        const redisReply *v;
        si->exists = 1;
        if ((v = lb_reply_map_get(rep, "length")) != NULL && v->type == REDIS_REPLY_INTEGER)
            si->length = (uint64_t)v->integer;
        if ((v = lb_reply_map_get(rep, "entries-added")) != NULL &&
            v->type == REDIS_REPLY_INTEGER) {
            si->added = (uint64_t)v->integer;
            si->has_added = 1;
        }
        lb_info_id(lb_reply_map_get(rep, "last-generated-id"), &si->last_generated);
        lb_info_id(lb_reply_map_get(rep, "max-deleted-entry-id"), &si->max_deleted);
        si->has_first = lb_info_entry_id(lb_reply_map_get(rep, "first-entry"), &si->first) == 0;
        si->has_last = lb_info_entry_id(lb_reply_map_get(rep, "last-entry"), &si->last) == 0;
    }
    freeReplyObject(rep);
    return rc;
}

/* A count as Redis gives it (an integer, or a string holding one), else -1. */
static long long lb_info_count(const redisReply *v)
{
    long long n;
    if (v != NULL && v->type == REDIS_REPLY_INTEGER)
        return v->integer;
    if (v != NULL && v->type == REDIS_REPLY_STRING && lb_parse_ll(v->str, 0, INT64_MAX, &n) == 0)
        return n;
    return -1;
}

void lb_stream_groups_free(struct lb_stream_group *g, size_t n)
{
    for (size_t i = 0; g != NULL && i < n; i++)
        free(g[i].name);
    free(g);
}

int lb_stream_groups_read(struct lb_redis *r, const char *stream, struct lb_stream_group **out,
                          size_t *n, struct lb_error *err)
{
    *out = NULL;
    *n = 0;
    const char *argv[3] = {"XINFO", "GROUPS", stream};
    redisReply *rep = lb_redis_cmd(r, 3, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0, missing = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_info_error(r, "XINFO GROUPS", stream, rep, &missing, err);
    size_t ng = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 0;
    struct lb_stream_group *g = ng > 0 ? calloc(ng, sizeof(*g)) : NULL;
    if (ng > 0 && g == NULL)
        rc = lb_error_set(err, LB_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < ng; i++) {
        const redisReply *name = lb_reply_map_get(rep->element[i], "name");
        g[i].name = strdup(name != NULL && name->str != NULL ? name->str : "");
        g[i].lag = lb_info_count(lb_reply_map_get(rep->element[i], "lag"));
        g[i].pending = lb_info_count(lb_reply_map_get(rep->element[i], "pending"));
        if (g[i].name == NULL)
            rc = lb_error_set(err, LB_ENOMEM, "out of memory");
    }
    freeReplyObject(rep);
    if (rc != 0) {
        lb_stream_groups_free(g, ng);
        return rc;
    }
    *out = g;
    *n = ng;
    return 0;
}

int lb_stream_last_id(struct lb_redis *r, const char *stream, struct lb_sid *out,
                      struct lb_error *err)
{
    const char *argv[6] = {"XREVRANGE", stream, "+", "-", "COUNT", "1"};
    redisReply *rep = lb_redis_cmd(r, 6, argv, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0;
    out->ms = out->seq = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_reply_error(r, "XREVRANGE", stream, rep->str, err);
    else if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0)
        lb_info_entry_id(rep->element[0], out);
    freeReplyObject(rep);
    return rc;
}
