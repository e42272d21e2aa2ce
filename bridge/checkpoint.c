/*
 * checkpoint.c - derived key names, the checkpoint value, and deciding
 * whether a checkpoint still describes a file.
 */
#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lb_key_tag(const char *stream, char *out, size_t cap)
{
    /* Redis Cluster's rule: the bytes between the first '{' and the first '}'
     * after it, when not empty; a template's %{type} / %{role} placeholders
     * are not tags. */
    const char *l = stream;
    while ((l = strchr(l, '{')) != NULL && l > stream && l[-1] == '%')
        l++;
    if (l != NULL) {
        const char *r = strchr(l + 1, '}');
        if (r != NULL && r > l + 1) {
            size_t n = (size_t)(r - l - 1);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, l + 1, n);
            out[n] = '\0';
            return;
        }
    }
    snprintf(out, cap, "%s", stream);
}

void lb_key_derive(const char *stream, const char *kind, char *out, size_t cap)
{
    char tag[LB_KEY_MAX];
    lb_key_tag(stream, tag, sizeof(tag));
    snprintf(out, cap, "logbridge:%s:{%s}", kind, tag);
}

int lb_json_raw_u64(const char *s, size_t n, const char *key, unsigned long long *out)
{
    char pat[64];
    int pn = snprintf(pat, sizeof(pat), "\"%s\"", key);
    if (pn < 0 || (size_t)pn >= sizeof(pat))
        return -1;
    const char *end = s + n;
    for (const char *p = s; p != NULL && p < end;) {
        p = memmem(p, (size_t)(end - p), pat, (size_t)pn);
        if (p == NULL)
            return -1;
        p += pn;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p >= end || *p != ':')
            continue; /* the text inside a value, not a key */
        p++;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        unsigned long long v = 0;
        const char *d = p;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            unsigned long long x = (unsigned long long)(*p - '0');
            if (v > (ULLONG_MAX - x) / 10)
                return -1; /* 20 digits past 2^64-1: refused, never wrapped */
            v = v * 10 + x;
        }
        /* a whole non-negative integer: no sign, fraction or exponent */
        if (p == d || (p < end && (*p == '.' || *p == 'e' || *p == 'E')))
            return -1;
        *out = v;
        return 0;
    }
    return -1;
}

int lb_ckpt_parse(const char *json, size_t n, struct lb_ckpt *ck, struct lb_error *err)
{
    memset(ck, 0, sizeof(*ck));
    cJSON *o = cJSON_ParseWithLength(json, n);
    if (o == NULL || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return lb_error_set(err, LB_ECKPT, "checkpoint is not a JSON object");
    }
    unsigned long long off = 0, line = 0;
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(o, "fp");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    /* cJSON checks the shape; the numbers are read from the text: dev and ino
     * can exceed 2^53 (XFS, btrfs), which cJSON's double would round. */
    int bad = lb_json_raw_u64(json, n, "dev", &ck->dev) ||
              lb_json_raw_u64(json, n, "ino", &ck->ino) || lb_json_raw_u64(json, n, "off", &off) ||
              lb_json_raw_u64(json, n, "line", &line) || !cJSON_IsString(fp) ||
              strlen(fp->valuestring) >= sizeof(ck->fp) ||
              (id != NULL && (!cJSON_IsString(id) || strlen(id->valuestring) >= sizeof(ck->id)));
    if (!bad) {
        strcpy(ck->fp, fp->valuestring);
        if (id != NULL)
            strcpy(ck->id, id->valuestring);
        ck->off = off;
        ck->line = line;
        ck->present = 1;
    }
    cJSON_Delete(o);
    return bad ? lb_error_set(err, LB_ECKPT, "checkpoint lacks dev/ino/fp/off/line") : 0;
}

size_t lb_ckpt_format(const struct lb_ckpt *ck, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "{\"dev\":%llu,\"ino\":%llu,\"fp\":\"%s\",\"off\":%" PRIu64
                     ",\"line\":%" PRIu64 ",\"id\":\"%s\"}",
                     ck->dev, ck->ino, ck->fp, ck->off, ck->line, ck->id);
    return n < 0 ? 0 : (size_t)n;
}

int lb_ckpt_load(struct lb_redis *r, const char *ckpt_key, const char *src, struct lb_ckpt *ck,
                 struct lb_error *err)
{
    memset(ck, 0, sizeof(*ck));
    const char *argv[3] = {"HGET", ckpt_key, src};
    redisReply *rep = lb_redis_cmd(r, 3, argv, NULL, err);
    if (rep == NULL)
        return LB_EREDIS;
    int rc = 0;
    if (rep->type == REDIS_REPLY_STRING)
        rc = lb_ckpt_parse(rep->str, rep->len, ck, err);
    else if (rep->type == REDIS_REPLY_ERROR)
        rc = lb_error_set(err, LB_EREPLY, "HGET %s: %s", ckpt_key, rep->str);
    freeReplyObject(rep);
    return rc;
}

int lb_ckpt_trust(const struct lb_ckpt *ck, struct lb_source *s, char *why, size_t cap)
{
    enum lb_source_kind kind = lb_source_kind(s);
    if (kind != LB_SOURCE_STDIN && (ck->dev != (unsigned long long)lb_source_dev(s) ||
                                    ck->ino != (unsigned long long)lb_source_ino(s))) {
        snprintf(why, cap, "checkpoint is for dev=%llu ino=%llu, the file is dev=%llu ino=%llu",
                 ck->dev, ck->ino, (unsigned long long)lb_source_dev(s),
                 (unsigned long long)lb_source_ino(s));
        return 0;
    }
    long long size = lb_source_size(s);
    if (size >= 0 && ck->off > (uint64_t)size) {
        snprintf(why, cap, "checkpoint offset %" PRIu64 " is past the end of the file (%lld bytes)",
                 ck->off, size);
        return 0;
    }
    char fp[LB_FP_HEX];
    if (lb_source_fingerprint(s, ck->off, fp) != 0) {
        snprintf(why, cap, "file is shorter than the checkpoint offset %" PRIu64, ck->off);
        return 0;
    }
    if (strcmp(fp, ck->fp) != 0) {
        snprintf(why, cap, "fingerprint of the first bytes differs (%s, checkpoint %s)", fp,
                 ck->fp);
        return 0;
    }
    return 1;
}

int lb_abs_path(const char *path, char *out, size_t cap)
{
    char tmp[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(tmp, sizeof(tmp), "%s", path);
    } else {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return -1;
        snprintf(tmp, sizeof(tmp), "%s/%s", cwd, path);
    }
    /* Fold "//", "/./" and "/../" without touching the file system. */
    size_t o = 0;
    const char *p = tmp;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0)
            break;
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o + 1 + n + 1 > cap)
                return -1;
            out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p += n;
    }
    if (o == 0) {
        if (cap < 2)
            return -1;
        out[o++] = '/';
    }
    out[o] = '\0';
    return 0;
}
