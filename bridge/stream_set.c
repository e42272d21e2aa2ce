/*
 * stream_set.c - the streams of a job (see stream_set.h).
 */
#include "stream_set.h"

#include "checkpoint.h"
#include "record.h"
#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <fnmatch.h>
#include <string.h>

int lb_streams_add(struct lb_streams *s, const char *arg, char *why, size_t cap)
{
    if (*arg == '\0')
        return snprintf(why, cap, "expected a stream name"), -1;
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], arg) == 0)
            return snprintf(why, cap, "'%s' given twice", arg), -1;
    if (s->n == LB_STREAMS_MAX)
        return snprintf(why, cap, "can be given at most %d times", LB_STREAMS_MAX), -1;
    s->v[s->n++] = arg;
    return 0;
}

int lb_stream_is_template(const char *s)
{
    return strstr(s, "%{") != NULL;
}

/* ---- resolving ------------------------------------------------------------------- */

void lb_names_free(struct lb_names *s)
{
    for (int i = 0; s != NULL && i < s->n; i++)
        free(s->v[i]);
    if (s != NULL) {
        free(s->v);
        memset(s, 0, sizeof(*s));
    }
}

static int lb_names_has(const struct lb_names *s, int from, const char *name, size_t len)
{
    for (int i = from; i < s->n; i++)
        if (strlen(s->v[i]) == len && memcmp(s->v[i], name, len) == 0)
            return 1;
    return 0;
}

/* Append a copy of name unless present. 0 or LB_ENOMEM. */
static int lb_names_add(struct lb_names *s, const char *name, size_t len, struct lb_error *err)
{
    if (lb_names_has(s, 0, name, len))
        return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, (size_t)cap * sizeof(*v));
        if (v == NULL)
            return lb_error_set(err, LB_ENOMEM, "out of memory");
        s->v = v;
        s->cap = cap;
    }
    if ((s->v[s->n] = strndup(name, len)) == NULL)
        return lb_error_set(err, LB_ENOMEM, "out of memory");
    s->n++;
    return 0;
}

int lb_stream_glob(const char *tmpl, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = tmpl; *p; p++) {
        const char *close = p[0] == '%' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
        if (close != NULL) {
            if (o + 2 > cap)
                return -1;
            if (o == 0 || out[o - 1] != '*' || (o >= 2 && out[o - 2] == '\\'))
                out[o++] = '*';
            p = close;
            continue;
        }
        if (strchr("*?[]\\", *p) != NULL) {
            if (o + 3 > cap)
                return -1;
            out[o++] = '\\';
        } else if (o + 2 > cap) {
            return -1;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return 0;
}

static int lb_names_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the array elements of rep (strings) to s; logbridge's own keys (the
 * DLQ is a stream too) are never a template's data streams. */
static int lb_names_add_reply(struct lb_names *s, const redisReply *rep, struct lb_error *err)
{
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING || strncmp(e->str, "logbridge:", 10) == 0)
            continue;
        if (lb_names_add(s, e->str, e->len, err) != 0)
            return LB_ENOMEM;
    }
    return 0;
}

/* The members of the template's set and the SCAN matches, into s. */
static int lb_streams_template(struct lb_redis *r, const char *tmpl, struct lb_names *s,
                               struct lb_error *err)
{
    char key[LB_KEY_MAX], glob[LB_KEY_MAX * 2];
    lb_key_derive(tmpl, "streams", key, sizeof(key));
    if (lb_stream_glob(tmpl, glob, sizeof(glob)) != 0)
        return lb_error_set(err, LB_EUSAGE, "--stream %s: too long", tmpl);
    const char *sm[2] = {"SMEMBERS", key};
    redisReply *rep = lb_redis_cmd(r, 2, sm, NULL, err);
    if (rep == NULL)
        return err->code;
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_reply_error(r, "SMEMBERS", key, rep->str, err);
    else if (rep->type == REDIS_REPLY_ARRAY)
        rc = lb_names_add_reply(s, rep, err);
    freeReplyObject(rep);
    char cursor[32] = "0";
    do {
        const char *sc[8] = {"SCAN", cursor, "MATCH", glob, "COUNT", "1000", "TYPE", "stream"};
        if (rc != 0 || (rep = lb_redis_cmd(r, 8, sc, NULL, err)) == NULL)
            return rc != 0 ? rc : err->code;
        if (rep->type == REDIS_REPLY_ERROR) {
            rc = lb_reply_error(r, "SCAN", glob, rep->str, err);
        } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                   rep->element[0]->type != REDIS_REPLY_STRING ||
                   rep->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = lb_error_set(err, LB_EREPLY, "redis at %s: SCAN: unexpected reply",
                              lb_redis_addr(r));
        } else {
            snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
            rc = lb_names_add_reply(s, rep->element[1], err);
        }
        freeReplyObject(rep);
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

int lb_streams_resolve(struct lb_redis *r, const struct lb_streams *in, struct lb_names *out,
                       struct lb_error *err)
{
    memset(out, 0, sizeof(*out));
    int rc = 0;
    for (int i = 0; i < in->n && rc == 0; i++) {
        if (!lb_stream_is_template(in->v[i])) {
            rc = lb_names_add(out, in->v[i], strlen(in->v[i]), err);
            continue;
        }
        struct lb_names t = {0};
        rc = lb_streams_template(r, in->v[i], &t, err);
        if (rc == 0 && t.n > 1)
            qsort(t.v, (size_t)t.n, sizeof(*t.v), lb_names_cmp);
        for (int k = 0; k < t.n && rc == 0; k++)
            rc = lb_names_add(out, t.v[k], strlen(t.v[k]), err);
        lb_names_free(&t);
    }
    if (rc != 0)
        lb_names_free(out);
    return rc;
}

size_t lb_stream_render(const char *t, const struct lb_record *rec, char *p)
{
    size_t o = 0;
    for (size_t i = 0; t[i] != '\0';) {
        if (t[i] == '%' && strncmp(t + i, "%{type}", 7) == 0) {
            memcpy(p + o, rec->type.p, rec->type.n);
            o += rec->type.n;
            i += 7;
        } else if (t[i] == '%' && strncmp(t + i, "%{role}", 7) == 0) {
            memcpy(p + o, rec->role.p, rec->role.n);
            o += rec->role.n;
            i += 7;
        } else {
            p[o++] = t[i++];
        }
    }
    return o;
}

int lb_streams_match(const struct lb_streams *s, const char *name)
{
    for (int i = 0; i < s->n; i++) {
        char glob[1024];
        if (strcmp(s->v[i], name) == 0)
            return 1;
        /* Redis's glob escapes (\* \? \[ \]) are fnmatch's too */
        if (lb_stream_is_template(s->v[i]) && lb_stream_glob(s->v[i], glob, sizeof(glob)) == 0 &&
            fnmatch(glob, name, 0) == 0)
            return 1;
    }
    return 0;
}
