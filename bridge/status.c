/*
 * status.c - `logbridge status --stream S [--json]`: checkpoints, lag,
 * consumer groups and mirrors of one stream, at a glance.
 *
 * Read-only: XINFO STREAM / XINFO GROUPS for the stream, HGETALL of
 * logbridge:ckpt:{T} (one field per src) and logbridge:mirror:{T} (one field
 * per mirror file). The report is built once as a JSON tree; --json prints
 * it (DESIGN.md section 5 fixes its keys), otherwise it is rendered as tables.
 *
 * What the numbers mean where DESIGN.md leaves it open:
 *  - sources[].size: the size of the file at the src path on this host when
 *    it is a regular file; null when it is not (another host, a --name that is
 *    not a path, stdin) and for gzip files, whose checkpoint counts
 *    decompressed bytes.
 *  - sources[].lag_bytes: size - offset when the file is the one the
 *    checkpoint describes (same dev/inode) and not shorter than the offset;
 *    the whole size when the path now holds another file (rotated: the new
 *    generation is unread; bytes left in the old one are not counted) or a
 *    truncated one. null when size is null.
 *  - groups[].lag: Redis 7's own lag (null when Redis cannot tell, e.g. after
 *    XDEL, or on Redis < 7).
 *  - mirrors[].behind: entries of the stream after the recorded id, counted
 *    exactly (XRANGE from the id in pages) up to LB_STATUS_BEHIND_CAP; a
 *    mirror further behind shows the cap (">=" in the table). Before the
 *    first entry or at the last one the count is exact at any size (XLEN / 0).
 *  - mirrors[].size: the size of the mirror file on this host (null if not).
 */
#include "jobs.h"

#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "opts.h"
#include "stream_set.h"
#include "redis.h"
#include "stream_id.h"
#include "stream_info.h"
#include "stream_reader.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LB_STATUS_BEHIND_CAP 100000

struct lb_status_opts {
    struct lb_common c;
    struct lb_streams streams; /* every --stream (DESIGN.md section 8); v[0] names the job */
    int json;
};

static const struct lb_opt lb_status_opt_table[] = {
    LB_OPT_STREAMS("stream", struct lb_status_opts, streams,
                   "the stream (or the template a tail writes with)", LB_OPTF_REQUIRED),
    LB_OPT_FLAG("json", struct lb_status_opts, json, 1,
                "one JSON object instead of tables:\n"
                "{\"stream\",\"length\",\"last_id\",\"groups\":[{\"name\",\"lag\",\n"
                "\"pending\"}],\"sources\":[{\"src\",\"offset\",\"line\",\"id\",\n"
                "\"size\",\"lag_bytes\"}],\"mirrors\":[{\"file\",\"id\",\"size\",\n"
                "\"behind\"}]}",
                0),
    LB_OPT_END,
};

static const struct lb_optspec lb_status_optspec = {
    .usage = "Usage: logbridge status --stream S [--json]\n"
             "Show stream S at a glance: its length and last ID, its consumer groups (lag,\n"
             "pending), the checkpoint of every source file (committed offset and line,\n"
             "last ID, current size and lag in bytes where the file is on this host) and\n"
             "every mirror file (recorded ID, size, entries behind).\n",
    .opts = lb_status_opt_table,
    .footer = "\nExit codes: 0 shown, 2 bad options, 3 Redis unreachable or a Redis error.\n",
    .common_off = offsetof(struct lb_status_opts, c),
};

static int lb_status_parse(struct lb_status_opts *o, int argc, char **argv)
{
    struct lb_cli cli = {"status", NULL};
    memset(o, 0, sizeof(*o));
    lb_common_defaults(&o->c);
    return lb_opts_parse(&lb_status_optspec, o, argc, argv, &cli, NULL);
}

/* ---- reading Redis ------------------------------------------------------------------- */

/* A count, or null when Redis did not say (< 0). */
static void lb_status_add_count(cJSON *o, const char *key, long long v)
{
    if (v >= 0)
        cJSON_AddNumberToObject(o, key, (double)v);
    else
        cJSON_AddNullToObject(o, key);
}

/* Compare stream IDs "ms-seq" (one that does not parse counts as 0-0). */
static int lb_status_idcmp(const char *a, const char *b)
{
    struct lb_sid x = {0, 0}, y = {0, 0};
    lb_sid_parse(a, strlen(a), &x);
    lb_sid_parse(b, strlen(b), &y);
    return lb_sid_cmp(x, y);
}

/* Run a command; returns the reply or NULL with err set (connection lost, or
 * an error reply: the message names the command). */
static redisReply *lb_status_cmd(struct lb_redis *r, int argc, const char **argv,
                                 struct lb_error *err, int allow_error)
{
    redisReply *rep = lb_redis_cmd(r, argc, argv, NULL, err);
    if (rep == NULL)
        return NULL;
    if (rep->type == REDIS_REPLY_ERROR && !allow_error) {
        lb_error_set(err, LB_EREPLY, "redis at %s: %s %s: %s", lb_redis_addr(r), argv[0],
                     argc > 1 ? argv[1] : "", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* Entries of S after id: exact up to LB_STATUS_BEHIND_CAP (see the top). */
static int lb_status_behind(struct lb_redis *r, const char *stream, const char *id,
                            long long length, const char *first_id, const char *last_id,
                            long long *out, struct lb_error *err)
{
    if (length == 0 || last_id == NULL || lb_status_idcmp(id, last_id) >= 0) {
        *out = 0;
        return 0;
    }
    if (id[0] == '\0' || (first_id != NULL && lb_status_idcmp(id, first_id) < 0)) {
        *out = length;
        return 0;
    }
    /* From the entry after id, in the pages every reader uses. */
    struct lb_sid start = {0, 0};
    char from[LB_SID_BUF];
    lb_sid_parse(id, strlen(id), &start);
    if (lb_sid_next(&start) != 0) {
        *out = 0;
        return 0;
    }
    struct lb_xrange xr;
    const redisReply *page;
    long long n = 0;
    int rc = lb_xrange_begin(&xr, r, stream, lb_sid_format(start, from), "+", err);
    while (rc == 0 && n < LB_STATUS_BEHIND_CAP && (rc = lb_xrange_next(&xr, &page, err)) == 1) {
        n += (long long)page->elements;
        rc = 0;
    }
    if (rc == 0)
        rc = lb_xrange_abort(&xr, err);
    lb_xrange_free(&xr);
    if (rc < 0)
        return rc;
    *out = n < LB_STATUS_BEHIND_CAP ? n : LB_STATUS_BEHIND_CAP;
    return 0;
}

/* Does the file start with the gzip magic? */
static int lb_status_is_gzip(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return 0;
    unsigned char m[2];
    int gz = read(fd, m, 2) == 2 && m[0] == 0x1f && m[1] == 0x8b;
    close(fd);
    return gz;
}

static void lb_status_source(cJSON *arr, const char *src, const char *val, size_t len)
{
    struct lb_ckpt ck;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "src", src);
    if (lb_ckpt_parse(val, len, &ck, NULL) != 0) {
        /* shown, not hidden: an unreadable checkpoint is worth seeing */
        cJSON_AddNullToObject(o, "offset");
        cJSON_AddNullToObject(o, "line");
        cJSON_AddNullToObject(o, "id");
        cJSON_AddNullToObject(o, "size");
        cJSON_AddNullToObject(o, "lag_bytes");
        cJSON_AddItemToArray(arr, o);
        return;
    }
    cJSON_AddNumberToObject(o, "offset", (double)ck.off);
    cJSON_AddNumberToObject(o, "line", (double)ck.line);
    cJSON_AddStringToObject(o, "id", ck.id);
    struct stat st;
    if (src[0] == '/' && stat(src, &st) == 0 && S_ISREG(st.st_mode) && !lb_status_is_gzip(src)) {
        uint64_t size = (uint64_t)st.st_size;
        int same =
            ck.dev == (unsigned long long)st.st_dev && ck.ino == (unsigned long long)st.st_ino;
        uint64_t lag = same && size >= ck.off ? size - ck.off : size;
        cJSON_AddNumberToObject(o, "size", (double)size);
        cJSON_AddNumberToObject(o, "lag_bytes", (double)lag);
    } else {
        cJSON_AddNullToObject(o, "size");
        cJSON_AddNullToObject(o, "lag_bytes");
    }
    cJSON_AddItemToArray(arr, o);
}

static int lb_status_cmp_pairs(const void *a, const void *b)
{
    const redisReply *const *x = a, *const *y = b;
    return strcmp((*x)->str, (*y)->str);
}

/* HGETALL key -> the field replies sorted by name (pointers into rep). */
static redisReply *lb_status_hgetall(struct lb_redis *r, const char *key,
                                     const redisReply ***fields, size_t *n, struct lb_error *err)
{
    const char *argv[2] = {"HGETALL", key};
    redisReply *rep = lb_status_cmd(r, 2, argv, err, 0);
    *fields = NULL;
    *n = 0;
    if (rep == NULL)
        return NULL;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0)
        return rep;
    /* sort field indexes by name for a stable report: pairs (field, value) */
    size_t np = rep->elements / 2;
    const redisReply **f = calloc(np, sizeof(*f));
    if (f == NULL) {
        freeReplyObject(rep);
        lb_error_set(err, LB_ENOMEM, "out of memory");
        return NULL;
    }
    size_t nf = 0;
    for (size_t i = 0; i < np; i++)
        if (rep->element[2 * i]->len > 0) /* "": the sink's scratch field, not a source */
            f[nf++] = rep->element[2 * i];
    qsort(f, nf, sizeof(*f), lb_status_cmp_pairs);
    *fields = f;
    *n = nf;
    return rep;
}

/* The value reply that follows field f in an HGETALL reply. */
static const redisReply *lb_status_value_of(const redisReply *rep, const redisReply *f)
{
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (rep->element[i] == f)
            return rep->element[i + 1];
    return NULL;
}

/* "groups": each consumer group's name, lag and pending count. */
static int lb_status_groups(struct lb_redis *r, const char *stream, cJSON *groups,
                            struct lb_error *err)
{
    struct lb_stream_group *g;
    size_t ng;
    int rc = lb_stream_groups_read(r, stream, &g, &ng, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < ng; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", g[i].name);
        lb_status_add_count(o, "lag", g[i].lag);
        lb_status_add_count(o, "pending", g[i].pending);
        cJSON_AddItemToArray(groups, o);
    }
    lb_stream_groups_free(g, ng);
    return 0;
}

/* "sources": one object per field of the checkpoint hash. */
static int lb_status_sources(struct lb_redis *r, const char *stream, cJSON *sources,
                             struct lb_error *err)
{
    char key[LB_KEY_MAX];
    const redisReply **fields;
    size_t n;
    lb_key_derive(stream, "ckpt", key, sizeof(key));
    redisReply *h = lb_status_hgetall(r, key, &fields, &n, err);
    if (h == NULL)
        return err->code;
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = lb_status_value_of(h, fields[i]);
        lb_status_source(sources, fields[i]->str, v ? v->str : "", v ? v->len : 0);
    }
    free(fields);
    freeReplyObject(h);
    return 0;
}

/* What a mirror's distance to the stream is measured against. */
struct lb_status_ends {
    long long length;
    const char *first, *last; /* NULL: no first entry / no stream */
};

/* One mirror's object: its file, the ID it stands at, the file's size
 * (null when it is not a regular file at an absolute path) and how many
 * entries it is behind; id, size and behind are null when its value holds
 * no ID. */
static int lb_status_mirror(struct lb_redis *r, const char *stream, cJSON *o, const char *file,
                            const redisReply *v, const struct lb_status_ends *ends,
                            struct lb_error *err)
{
    cJSON_AddStringToObject(o, "file", file);
    cJSON *mv = v ? cJSON_ParseWithLength(v->str, v->len) : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(mv, "id");
    if (!cJSON_IsString(id)) {
        cJSON_AddNullToObject(o, "id");
        cJSON_AddNullToObject(o, "size");
        cJSON_AddNullToObject(o, "behind");
        cJSON_Delete(mv);
        return 0;
    }
    cJSON_AddStringToObject(o, "id", id->valuestring);
    struct stat st;
    if (file[0] == '/' && stat(file, &st) == 0 && S_ISREG(st.st_mode))
        cJSON_AddNumberToObject(o, "size", (double)st.st_size);
    else
        cJSON_AddNullToObject(o, "size");
    if (ends == NULL) { /* several streams: no one stream to measure against */
        cJSON_AddNullToObject(o, "behind");
        cJSON_Delete(mv);
        return 0;
    }
    long long behind = 0;
    int rc = lb_status_behind(r, stream, id->valuestring, ends->length, ends->first, ends->last,
                              &behind, err);
    cJSON_AddNumberToObject(o, "behind", (double)behind);
    cJSON_Delete(mv);
    return rc;
}

/* "mirrors": one object per field of the mirror hash, until an error. */
static int lb_status_mirrors(struct lb_redis *r, const char *stream, cJSON *mirrors,
                             const struct lb_status_ends *ends, struct lb_error *err)
{
    char key[LB_KEY_MAX];
    const redisReply **fields;
    size_t n;
    int rc = 0;
    lb_key_derive(stream, "mirror", key, sizeof(key));
    redisReply *h = lb_status_hgetall(r, key, &fields, &n, err);
    if (h == NULL)
        return err->code;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(mirrors, o);
        rc = lb_status_mirror(r, stream, o, fields[i]->str, lb_status_value_of(h, fields[i]), ends,
                              err);
    }
    free(fields);
    freeReplyObject(h);
    return rc;
}

/* The status of one stream into root: its length and last ID, its groups,
 * the sources that write it and the mirrors that read it. */
static int lb_status_collect(struct lb_redis *r, const char *stream, cJSON *root,
                             struct lb_error *err)
{
    cJSON_AddStringToObject(root, "stream", stream);
    struct lb_stream_info si;
    int rc = lb_stream_info_read(r, stream, &si, err);
    if (rc != 0)
        return rc;
    char last_id[LB_SID_BUF] = "", first_id[LB_SID_BUF] = "";
    if (si.exists)
        lb_sid_format(si.last_generated, last_id);
    if (si.has_first)
        lb_sid_format(si.first, first_id);
    cJSON_AddNumberToObject(root, "length", (double)(long long)si.length);
    if (si.exists)
        cJSON_AddStringToObject(root, "last_id", last_id);
    else
        cJSON_AddNullToObject(root, "last_id");

    cJSON *groups = cJSON_AddArrayToObject(root, "groups");
    if (si.exists && (rc = lb_status_groups(r, stream, groups, err)) != 0)
        return rc;
    cJSON *sources = cJSON_AddArrayToObject(root, "sources");
    if ((rc = lb_status_sources(r, stream, sources, err)) != 0)
        return rc;
    cJSON *mirrors = cJSON_AddArrayToObject(root, "mirrors");
    struct lb_status_ends ends = {(long long)si.length, first_id[0] ? first_id : NULL,
                                  si.exists ? last_id : NULL};
    return lb_status_mirrors(r, stream, mirrors, &ends, err);
}

/* The status of several streams (several --stream, or a template: DESIGN.md
 * section 8): each stream's length, last ID and groups in "streams", their
 * total, and the sources and mirrors of each --stream's keys (a mirror's
 * "behind" is null: it is not measured against one stream). */
static int lb_status_collect_many(struct lb_redis *r, const struct lb_streams *in, cJSON *root,
                                  struct lb_error *err)
{
    struct lb_names names = {0};
    int rc = lb_streams_resolve(r, in, &names, err);
    if (rc != 0)
        return rc;
    cJSON_AddStringToObject(root, "stream", in->v[0]);
    cJSON *arr = cJSON_AddArrayToObject(root, "streams");
    unsigned long long total = 0;
    struct lb_sid top = {0, 0};
    int any = 0;
    for (int i = 0; i < names.n && rc == 0; i++) {
        struct lb_stream_info si;
        if ((rc = lb_stream_info_read(r, names.v[i], &si, err)) != 0)
            break;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "stream", names.v[i]);
        cJSON_AddNumberToObject(o, "length", (double)(long long)si.length);
        char id[LB_SID_BUF];
        if (si.exists) {
            cJSON_AddStringToObject(o, "last_id", lb_sid_format(si.last_generated, id));
            if (!any || lb_sid_cmp(si.last_generated, top) > 0)
                top = si.last_generated;
            any = 1;
        } else {
            cJSON_AddNullToObject(o, "last_id");
        }
        total += si.length;
        cJSON *groups = cJSON_AddArrayToObject(o, "groups");
        if (si.exists)
            rc = lb_status_groups(r, names.v[i], groups, err);
    }
    lb_names_free(&names);
    if (rc != 0)
        return rc;
    cJSON *t = cJSON_AddObjectToObject(root, "total");
    cJSON_AddNumberToObject(t, "streams", cJSON_GetArraySize(arr));
    cJSON_AddNumberToObject(t, "length", (double)total);
    cJSON_AddNumberToObject(root, "length", (double)total);
    char id[LB_SID_BUF];
    if (any)
        cJSON_AddStringToObject(root, "last_id", lb_sid_format(top, id));
    else
        cJSON_AddNullToObject(root, "last_id");
    cJSON *sources = cJSON_AddArrayToObject(root, "sources");
    cJSON *mirrors = cJSON_AddArrayToObject(root, "mirrors");
    for (int i = 0; i < in->n && rc == 0; i++) {
        char ki[LB_KEY_MAX], kj[LB_KEY_MAX];
        int seen = 0;
        lb_key_derive(in->v[i], "ckpt", ki, sizeof(ki));
        for (int j = 0; j < i && !seen; j++) /* one hash per hash tag */
            seen = strcmp(ki, (lb_key_derive(in->v[j], "ckpt", kj, sizeof(kj)), kj)) == 0;
        if (seen)
            continue;
        if ((rc = lb_status_sources(r, in->v[i], sources, err)) == 0)
            rc = lb_status_mirrors(r, in->v[i], mirrors, NULL, err);
    }
    return rc;
}

/* ---- the table ------------------------------------------------------------------------ */

/* A cell: a number, a string, or "-" for null. */
static const char *lb_status_cell(const cJSON *o, const char *key, char *buf, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v))
        return v->valuestring[0] ? v->valuestring : "-";
    if (cJSON_IsNumber(v)) {
        snprintf(buf, cap, "%.0f", v->valuedouble);
        return buf;
    }
    return "-";
}

static int lb_status_width(const cJSON *arr, const char *key, int min)
{
    int w = min;
    char buf[64];
    for (const cJSON *o = arr->child; o != NULL; o = o->next) {
        int n = (int)strlen(lb_status_cell(o, key, buf, sizeof(buf)));
        if (n > w)
            w = n;
    }
    return w;
}

static void lb_status_table(const cJSON *root)
{
    char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64];
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(root, "groups");
    const cJSON *sources = cJSON_GetObjectItemCaseSensitive(root, "sources");
    const cJSON *mirrors = cJSON_GetObjectItemCaseSensitive(root, "mirrors");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(root, "last_id");
    const cJSON *many = cJSON_GetObjectItemCaseSensitive(root, "streams");
    if (many != NULL) {
        int w = lb_status_width(many, "stream", 6);
        printf("streams of %s:\n  %-*s %12s  %s\n",
               cJSON_GetObjectItemCaseSensitive(root, "stream")->valuestring, w, "STREAM", "LENGTH",
               "LAST_ID");
        for (const cJSON *s = many->child; s; s = s->next) {
            printf("  %-*s %12s  %s\n", w, lb_status_cell(s, "stream", b1, sizeof(b1)),
                   lb_status_cell(s, "length", b2, sizeof(b2)),
                   lb_status_cell(s, "last_id", b3, sizeof(b3)));
            const cJSON *gs = cJSON_GetObjectItemCaseSensitive(s, "groups");
            for (const cJSON *g = gs ? gs->child : NULL; g; g = g->next)
                printf("  %-*s   group %s: lag %s, pending %s\n", w, "",
                       lb_status_cell(g, "name", b1, sizeof(b1)),
                       lb_status_cell(g, "lag", b2, sizeof(b2)),
                       lb_status_cell(g, "pending", b3, sizeof(b3)));
        }
        printf("  %-*s %12s  %s\n", w, "total", lb_status_cell(root, "length", b1, sizeof(b1)),
               lb_status_cell(root, "last_id", b2, sizeof(b2)));
    } else {
        printf("stream %s: %s entries, last id %s\n",
               cJSON_GetObjectItemCaseSensitive(root, "stream")->valuestring,
               lb_status_cell(root, "length", b1, sizeof(b1)),
               cJSON_IsString(last) ? last->valuestring : "- (no such stream)");
    }

    if (groups != NULL)
        printf("\nconsumer groups:%s\n", groups->child ? "" : " none");
    if (groups != NULL && groups->child) {
        int w = lb_status_width(groups, "name", 4);
        printf("  %-*s %12s %12s\n", w, "NAME", "LAG", "PENDING");
        for (const cJSON *g = groups->child; g; g = g->next)
            printf("  %-*s %12s %12s\n", w, lb_status_cell(g, "name", b1, sizeof(b1)),
                   lb_status_cell(g, "lag", b2, sizeof(b2)),
                   lb_status_cell(g, "pending", b3, sizeof(b3)));
    }

    printf("\nsources (checkpoints):%s\n", sources->child ? "" : " none");
    if (sources->child) {
        int w = lb_status_width(sources, "src", 3);
        printf("  %-*s %12s %10s %12s %12s  %s\n", w, "SRC", "OFFSET", "LINE", "SIZE", "LAG_BYTES",
               "LAST_ID");
        for (const cJSON *s = sources->child; s; s = s->next)
            printf("  %-*s %12s %10s %12s %12s  %s\n", w, lb_status_cell(s, "src", b1, sizeof(b1)),
                   lb_status_cell(s, "offset", b2, sizeof(b2)),
                   lb_status_cell(s, "line", b3, sizeof(b3)),
                   lb_status_cell(s, "size", b4, sizeof(b4)),
                   lb_status_cell(s, "lag_bytes", b5, sizeof(b5)),
                   lb_status_cell(s, "id", b6, sizeof(b6)));
    }

    printf("\nmirrors:%s\n", mirrors->child ? "" : " none");
    if (mirrors->child) {
        int w = lb_status_width(mirrors, "file", 4);
        int wi = lb_status_width(mirrors, "id", 2);
        printf("  %-*s %-*s %12s %10s\n", w, "FILE", wi, "ID", "SIZE", "BEHIND");
        for (const cJSON *m = mirrors->child; m; m = m->next) {
            const cJSON *bh = cJSON_GetObjectItemCaseSensitive(m, "behind");
            char behind[72];
            if (cJSON_IsNumber(bh) && bh->valuedouble >= LB_STATUS_BEHIND_CAP)
                snprintf(behind, sizeof(behind), ">=%d", LB_STATUS_BEHIND_CAP);
            else
                snprintf(behind, sizeof(behind), "%s", lb_status_cell(m, "behind", b4, sizeof(b4)));
            printf("  %-*s %-*s %12s %10s\n", w, lb_status_cell(m, "file", b1, sizeof(b1)), wi,
                   lb_status_cell(m, "id", b2, sizeof(b2)),
                   lb_status_cell(m, "size", b3, sizeof(b3)), behind);
        }
    }
}

int lb_cmd_status(int argc, char **argv)
{
    struct lb_status_opts o;
    int rc = lb_status_parse(&o, argc, argv);
    if (rc != 0)
        return rc < 0 ? LB_EXIT_OK : rc;
    struct lb_cli cli = {"status", NULL};
    if ((rc = lb_common_start(&o.c, &cli)) != 0)
        return rc;

    struct lb_error err = {0};
    struct lb_redis_cfg cfg;
    lb_common_redis_cfg(&o.c, &cfg, NULL);
    struct lb_redis *r = lb_redis_create(&cfg);
    if (r != NULL)
        lb_redis_set_route(r, o.streams.v[0]);
    cJSON *root = cJSON_CreateObject();
    int exit_code = LB_EXIT_OK;
    if (r == NULL || root == NULL) {
        fprintf(stderr, "logbridge status: out of memory\n");
        exit_code = LB_EXIT_RUNTIME;
    } else if (lb_redis_connect(r, &err) != 0 ||
               ((o.streams.n > 1 || lb_stream_is_template(o.streams.v[0]))
                    ? lb_status_collect_many(r, &o.streams, root, &err)
                    : lb_status_collect(r, o.streams.v[0], root, &err)) != 0) {
        /* one line naming the address (the messages of redis.c start with it) */
        fprintf(stderr, "logbridge status: %s\n", err.msg);
        exit_code = lb_exit_for(err.code);
    } else if (o.json) {
        char *s = cJSON_PrintUnformatted(root);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
    } else {
        lb_status_table(root);
    }
    cJSON_Delete(root);
    lb_redis_destroy(r);
    lb_log_close();
    return exit_code;
}
