/*
 * entry.c - a stream entry of either encoding as a legacy record, and why
 * one cannot be a legacy line (see entry.h).
 */
#include "entry.h"

#include "cli.h"

#include <stdlib.h>
#include <string.h>

void lb_entry_decoder_init(struct lb_entry_decoder *d, const char *json_field)
{
    memset(d, 0, sizeof(*d));
    d->json_field = json_field;
    d->json_field_len = strlen(json_field);
}

void lb_entry_release(struct lb_entry_decoder *d)
{
    if (d == NULL)
        return;
    cJSON_Delete(d->json);
    d->json = NULL;
    free(d->own_ts);
    d->own_ts = NULL;
    free(d->own_data);
    d->own_data = NULL;
}

static int lb_entry_name_is(const redisReply *k, const char *lit, size_t n)
{
    return k->len == n && memcmp(k->str, lit, n) == 0;
}

/* Which fields were seen (the first occurrence of each wins). */
struct lb_entry_seen {
    int role, type, ts, data, json;
    struct lb_slice json_val, off;
};

/* One field of the fields encoding: 1 when it was taken. */
static int lb_entry_field(struct lb_entry *out, struct lb_entry_seen *s, const redisReply *k,
                          struct lb_slice v)
{
    struct lb_record *rec = &out->rec;
    if (!s->role && lb_entry_name_is(k, "role", 4))
        return rec->role = v, s->role = 1;
    if (!s->type && lb_entry_name_is(k, "type", 4))
        return rec->type = v, s->type = 1;
    if (!s->ts && lb_entry_name_is(k, "timestamp", 9))
        return rec->ts = v, s->ts = 1;
    if (!s->data && lb_entry_name_is(k, "data", 4))
        return rec->data = v, s->data = 1;
    if (!out->has_src && lb_entry_name_is(k, "src", 3))
        return out->src = v, out->has_src = 1;
    if (s->off.p == NULL && lb_entry_name_is(k, "off", 3))
        return s->off = v, 1;
    return 0;
}

/* A JSON member as text: a string as is, anything else (but null) as its
 * compact JSON, kept in *own until the next entry. 0 when absent or null. */
static int lb_entry_json_text(const cJSON *root, const char *key, struct lb_slice *out, char **own)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (it == NULL || cJSON_IsNull(it))
        return 0;
    if (cJSON_IsString(it)) {
        *out = (struct lb_slice){it->valuestring, strlen(it->valuestring)};
        return 1;
    }
    if ((*own = cJSON_PrintUnformatted(it)) == NULL)
        return 0;
    *out = (struct lb_slice){*own, strlen(*own)};
    return 1;
}

static int lb_entry_json_string(const cJSON *root, const char *key, struct lb_slice *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsString(it))
        return 0;
    *out = (struct lb_slice){it->valuestring, strlen(it->valuestring)};
    return 1;
}

/* The json encoding: the record is the object's members. 0, or -1 when the
 * field holds no JSON object (the fields' record stays as it was). */
static int lb_entry_json(struct lb_entry_decoder *d, struct lb_entry *out, struct lb_entry_seen *s)
{
    const char *end = NULL;
    d->json = cJSON_ParseWithLengthOpts(s->json_val.p, s->json_val.n, &end, 0);
    if (d->json == NULL || !cJSON_IsObject(d->json)) {
        cJSON_Delete(d->json);
        d->json = NULL;
        return -1;
    }
    memset(&out->rec, 0, sizeof(out->rec));
    out->json = 1;
    s->role = lb_entry_json_string(d->json, "role", &out->rec.role);
    s->type = lb_entry_json_string(d->json, "type", &out->rec.type);
    s->ts = lb_entry_json_text(d->json, "timestamp", &out->rec.ts, &d->own_ts);
    lb_entry_json_text(d->json, "data", &out->rec.data, &d->own_data);
    out->has_src = lb_entry_json_string(d->json, "src", &out->src);
    out->has_off = 0;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(d->json, "off");
    if (cJSON_IsNumber(it) && it->valuedouble >= 0 && it->valuedouble < 9.007e15 &&
        (double)(uint64_t)it->valuedouble == it->valuedouble) {
        out->off = (uint64_t)it->valuedouble;
        out->has_off = 1;
    } else if (cJSON_IsString(it)) {
        out->has_off = lb_u64_parse(it->valuestring, strlen(it->valuestring), &out->off) == 0;
    }
    return 0;
}

/* Why ROLE or TYPE cannot be written (NULL when it can). */
static const char *lb_entry_field_why(const struct lb_slice *v, const char *empty,
                                      const char *longer, const char *bad)
{
    if (lb_format_field_ok(v->p, v->n))
        return NULL;
    return v->n == 0 ? empty : v->n > LB_FIELD_MAX ? longer : bad;
}

/* Mirror's verdict on a decoded record, in the order it is told. */
static const char *lb_entry_why(const struct lb_entry *out)
{
    const char *why;
    if (!out->has_role)
        return "no role";
    if (!out->has_type)
        return "no type";
    if ((why = lb_entry_field_why(&out->rec.role, "empty role", "role longer than 255 bytes",
                                  "role contains '|', CR or LF")) != NULL)
        return why;
    if ((why = lb_entry_field_why(&out->rec.type, "empty type", "type longer than 255 bytes",
                                  "type contains '|', CR or LF")) != NULL)
        return why;
    /* A '|' in TIMESTAMP would shift TYPE and DATA when the line is read. */
    if (!out->ts_from_id && memchr(out->rec.ts.p, '|', out->rec.ts.n) != NULL)
        return "timestamp contains '|'";
    if (out->ts_from_id && (!out->id_ok || out->id.ms > (uint64_t)INT64_MAX))
        return "no timestamp, and the ID's milliseconds are out of range";
    return NULL;
}

/* [id, [fields]]: the ID and the field array, or NULL with out->why set. */
static const redisReply *lb_entry_shape(const redisReply *e, struct lb_entry *out)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING) {
        out->why = "not a stream entry";
        return NULL;
    }
    out->id_str = e->element[0]->str;
    if (e->element[1]->type != REDIS_REPLY_ARRAY) {
        out->why = "entry without fields";
        return NULL;
    }
    return e->element[1];
}

void lb_entry_decode(struct lb_entry_decoder *d, const redisReply *e, struct lb_entry *out)
{
    if (d->json != NULL || d->own_ts != NULL || d->own_data != NULL)
        lb_entry_release(d);
    memset(out, 0, sizeof(*out));
    out->id_str = "?";
    const redisReply *f = lb_entry_shape(e, out);
    if (f == NULL) {
        out->malformed = out->why_first = 1;
        return;
    }
    out->id_ok = lb_sid_parse(e->element[0]->str, e->element[0]->len, &out->id) == 0;
    struct lb_entry_seen s;
    memset(&s, 0, sizeof(s));
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        struct lb_slice val = {v->str, v->len};
        if (!lb_entry_field(out, &s, k, val) && !s.json &&
            lb_entry_name_is(k, d->json_field, d->json_field_len)) {
            s.json_val = val;
            s.json = 1;
        }
    }
    if (s.off.p != NULL)
        out->has_off = lb_u64_parse(s.off.p, s.off.n, &out->off) == 0;
    if (!s.role && s.json && lb_entry_json(d, out, &s) != 0) {
        out->why = "no role field, and the json field is not a JSON object";
        out->why_first = 1;
    }
    if (!s.ts || out->rec.ts.n == 0) {
        int64_t ms = out->id.ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)out->id.ms;
        out->rec.ts.n = lb_ts_format_ms(ms, d->ts);
        out->rec.ts.p = d->ts;
        out->rec.ts_ms = ms;
        out->ts_from_id = 1;
    }
    out->has_role = s.role;
    out->has_type = s.type;
}

const char *lb_entry_verdict(struct lb_entry *e)
{
    if (e->why == NULL)
        e->why = lb_entry_why(e);
    return e->why;
}
