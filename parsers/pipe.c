/*
 * pipe.c - the legacy line "ROLE|TIMESTAMP|TYPE|DATA" (DESIGN.md section 1)
 * and the names of the reason codes.
 *
 * This is the hot path of tail and import (millions of lines a second), so it
 * finds the separators with memchr, never copies and never allocates: the
 * record is four slices of the caller's line.
 *
 * Checks run in the order the fields appear in the line, and the first
 * failure is the reason: fields (fewer than three '|'), then role, then
 * timestamp, then type. DATA is never checked.
 */
#include "record.h"

#include <string.h>

const char *lb_reason_name(enum lb_reason r)
{
    switch (r) {
    case LB_PARSE_OK:
        return "ok";
    case LB_PARSE_BLANK:
        return "blank";
    case LB_REASON_FIELDS:
        return "fields";
    case LB_REASON_ROLE:
        return "role";
    case LB_REASON_TYPE:
        return "type";
    case LB_REASON_TIMESTAMP:
        return "timestamp";
    case LB_REASON_TOO_LONG:
        return "too_long";
    case LB_REASON_INVALID_UTF8:
        return "invalid_utf8";
    case LB_REASON_JSON:
        return "json";
    }
    return "unknown";
}

/* 1..LB_FIELD_MAX bytes, none of them 0x00-0x1F or 0x7F. The loop has no
 * early exit and no calls so that the compiler can vectorise it; ROLE and TYPE
 * are short, so scanning to the end costs nothing. */
static int pipe_field_ok(const char *s, size_t n)
{
    if (n == 0 || n > LB_FIELD_MAX)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= (unsigned)(p[i] < 0x20) | (unsigned)(p[i] == 0x7f);
    return !bad;
}

enum lb_reason lb_pipe_parse(const char *line, size_t n, struct lb_record *rec)
{
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n == 0)
        return LB_PARSE_BLANK;

    const char *end = line + n;
    const char *b1 = memchr(line, '|', n);
    if (b1 == NULL)
        return LB_REASON_FIELDS;
    const char *b2 = memchr(b1 + 1, '|', (size_t)(end - b1 - 1));
    if (b2 == NULL)
        return LB_REASON_FIELDS;
    const char *b3 = memchr(b2 + 1, '|', (size_t)(end - b2 - 1));
    if (b3 == NULL)
        return LB_REASON_FIELDS;

    const size_t role_n = (size_t)(b1 - line);
    const size_t ts_n = (size_t)(b2 - b1 - 1);
    const size_t type_n = (size_t)(b3 - b2 - 1);
    if (!pipe_field_ok(line, role_n))
        return LB_REASON_ROLE;
    int64_t ms;
    if (lb_ts_parse(b1 + 1, ts_n, &ms) != 0)
        return LB_REASON_TIMESTAMP;
    if (!pipe_field_ok(b2 + 1, type_n))
        return LB_REASON_TYPE;

    rec->role = (struct lb_slice){line, role_n};
    rec->ts = (struct lb_slice){b1 + 1, ts_n};
    rec->type = (struct lb_slice){b2 + 1, type_n};
    rec->data = (struct lb_slice){b3 + 1, (size_t)(end - b3 - 1)};
    rec->ts_ms = ms;
    return LB_PARSE_OK;
}
